/**
 * @file callstate.h  A call's states and the reasons it ends: one table each
 *
 * The states are Twilio's call states (the Calls API and status callbacks
 * speak them), with the names the control socket shows. An inbound call
 * goes RINGING -> ANSWERED -> ENDING -> one final state; an outbound call
 * starts QUEUED -> INITIATED. The control socket names every final state
 * "ended" and gives the reason beside it (end_reason).
 */
#ifndef CB_CALLSTATE_H
#define CB_CALLSTATE_H

#include <stdbool.h>

/*   id                 control name  Twilio's name              */
#define CALLSTATE_TABLE(X)                                         \
	X(CALL_QUEUED,      "queued")     /* queued      */        \
	X(CALL_INITIATED,   "initiated")  /* initiated   */        \
	X(CALL_RINGING,     "ringing")    /* ringing     */        \
	X(CALL_ANSWERED,    "answered")   /* in-progress */        \
	X(CALL_ENDING,      "ending")     /* in-progress */        \
	X(CALL_COMPLETED,   "ended")      /* completed   */        \
	X(CALL_BUSY,        "ended")      /* busy        */        \
	X(CALL_NO_ANSWER,   "ended")      /* no-answer   */        \
	X(CALL_FAILED,      "ended")      /* failed      */        \
	X(CALL_CANCELED,    "ended")      /* canceled    */

/** A call's state; the order is the order of a call's life */
enum call_state {
#define X(id, name) id,
	CALLSTATE_TABLE(X)
#undef X
	CALL_STATE_COUNT
};

/*   id                  name              why                          */
#define END_REASON_TABLE(X)                                               \
	X(END_NONE,          "none")          /* not ended                */ \
	X(END_CALLER_BYE,    "caller-bye")    /* the caller sent BYE      */ \
	X(END_CALLER_CANCEL, "caller-cancel") /* the caller cancelled     */ \
	X(END_AGENT_CLOSED,  "agent-closed")  /* the agent closed the
						 WebSocket                */ \
	X(END_AGENT_FAILED,  "agent-failed")  /* connect, handshake or
						 protocol error           */ \
	X(END_AGENT_TIMEOUT, "agent-timeout") /* agent not ready in time  */ \
	X(END_RTP_TIMEOUT,   "rtp-timeout")   /* no RTP from the caller   */ \
	X(END_MAX_DURATION,  "max-duration")  /* configured limit reached */ \
	X(END_SHUTDOWN,      "shutdown")      /* the gateway is stopping  */ \
	X(END_SIP_ERROR,     "sip-error")     /* signalling failed        */ \
	X(END_NO_ACK,        "no-ack")        /* answered, never ACKed    */

/** Why a call ends; in the log line, the control socket's views */
enum end_reason {
#define X(id, name) id,
	END_REASON_TABLE(X)
#undef X
	END_REASON_COUNT
};

const char *callstate_name(enum call_state s);
const char *callstate_reason_name(enum end_reason r);
enum call_state callstate_final(enum end_reason r, bool answered);

#endif
