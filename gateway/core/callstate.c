/**
 * @file callstate.c  Names of a call's states and end reasons
 */
#include "callstate.h"


/** The state's name, as the control socket shows it */
const char *callstate_name(enum call_state s)
{
	static const char *const names[] = {
#define X(id, name) [id] = name,
		CALLSTATE_TABLE(X)
#undef X
	};

	return (unsigned)s < CALL_STATE_COUNT ? names[s] : "?";
}


/** The end reason's name, as the log and the control socket show it */
const char *callstate_reason_name(enum end_reason r)
{
	static const char *const names[] = {
#define X(id, name) [id] = name,
		END_REASON_TABLE(X)
#undef X
	};

	return (unsigned)r < END_REASON_COUNT ? names[r] : "?";
}


/**
 * The final state of a call that ended
 *
 * @param r         Why it ended
 * @param answered  True if it was answered
 *
 * @return CALL_COMPLETED, CALL_CANCELED or CALL_FAILED
 */
enum call_state callstate_final(enum end_reason r, bool answered)
{
	if (answered)
		return CALL_COMPLETED;

	return r == END_CALLER_CANCEL ? CALL_CANCELED : CALL_FAILED;
}
