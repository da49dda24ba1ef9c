/**
 * @file fuzz_ctl.c  Fuzz target: requests on the control socket
 *                   (gateway/api/ctl_ops.c, on a real store and call
 *                   registry)
 *
 * Input: request lines, as a client writes them (newline-delimited JSON;
 * a CR before the newline and blank lines are taken as ctl.c takes
 * them). Each input starts from an empty store in a scratch directory
 * and a registry with one call in progress (CA1) and one ended (CA2), so
 * a line may put an agent that a later line routes a number to, and
 * what one input did is gone before the next.
 * Properties: every request gets one reply line, JSON, with "ok" a
 * boolean, and "error" with a code when it is false.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cb_re.h"
#include "callreg.h"
#include "ctl_ops.h"
#include "log.h"
#include "store.h"
#include "fuzz.h"

enum { LINES_MAX = 64 };

static char dir[256];
static char state[300];


int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;

	log_set_level(LOGL_ERROR);
	if (fuzz_tmpdir(dir, sizeof(dir), "ctl"))
		abort();
	snprintf(state, sizeof(state), "%s/state.json", dir);

	return 0;
}


static struct callreg *reg_make(void)
{
	struct callreg *reg = NULL;
	struct callreg_info ci;
	struct media_stats ms;

	if (callreg_alloc(&reg))
		return NULL;

	memset(&ci, 0, sizeof(ci));
	ci.id = 1;
	str_ncpy(ci.call_sid, "CA1", sizeof(ci.call_sid));
	str_ncpy(ci.number, "+14155551234", sizeof(ci.number));
	str_ncpy(ci.codec, "PCMU", sizeof(ci.codec));
	ci.state = CALL_RINGING;
	(void)callreg_add(reg, &ci);
	callreg_state(reg, 1, CALL_ANSWERED);

	ci.id = 2;
	str_ncpy(ci.call_sid, "CA2", sizeof(ci.call_sid));
	(void)callreg_add(reg, &ci);
	memset(&ms, 0, sizeof(ms));
	ms.rtp_rx = 42;
	callreg_remove(reg, 2, CALL_COMPLETED, END_CALLER_BYE, &ms);

	return reg;
}


static void check_reply(const char *reply, size_t len)
{
	json_error_t jerr;
	json_t *j, *ok;

	FUZZ_ASSERT(reply != NULL);
	FUZZ_ASSERT(len > 0 && reply[len - 1] == '\n');
	FUZZ_ASSERT(memchr(reply, '\n', len) == reply + len - 1);

	j = json_loadb(reply, len - 1, 0, &jerr);
	FUZZ_ASSERT(j != NULL);
	ok = json_object_get(j, "ok");
	FUZZ_ASSERT(json_is_boolean(ok));
	if (json_is_false(ok))
		FUZZ_ASSERT(json_is_string(json_object_get(
				json_object_get(j, "error"), "code")));
	json_decref(j);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct ctlop_env env;
	struct store *st = NULL;
	char err[256];

	(void)unlink(state);
	if (store_open(&st, state, NULL, err, sizeof(err)))
		abort();

	memset(&env, 0, sizeof(env));
	env.store = st;
	env.has_gw = true;
	env.gw.reg = reg_make();
	env.gw.max_calls = 500;
	env.gw.workers = 2;
	env.gw.account_sid = "AC00000000000000000000000000000000";
	env.start_ms = ctlop_now_ms();
	if (!env.gw.reg)
		goto out;

	for (int n = 0; n < LINES_MAX && p < end; n++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *next = nl ? nl + 1 : end;
		size_t len = 0;
		char *reply;

		if (le > p && le[-1] == '\r')
			--le;
		if (le == p) {
			p = next;
			continue;
		}

		reply = ctlop_handle(&env, p, (size_t)(le - p), "fuzz", &len);
		check_reply(reply, len);
		free(reply);
		p = next;
	}

 out:
	mem_deref(env.gw.reg);
	mem_deref(st);
	return 0;
}
