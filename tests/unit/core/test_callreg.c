/**
 * @file test_callreg.c  The registry of calls, the call state and end
 *                       reason tables, and call ids
 */
#include <string.h>
#include <pthread.h>
#include "cb_re.h"
#include "callreg.h"
#include "callstate.h"
#include "sid.h"
#include "test.h"


static void info(struct callreg_info *ci, uint64_t id, const char *sid)
{
	memset(ci, 0, sizeof(*ci));
	ci->id = id;
	str_ncpy(ci->call_sid, sid, sizeof(ci->call_sid));
	str_ncpy(ci->number, "+14155551234", sizeof(ci->number));
	str_ncpy(ci->from, "+14155550100", sizeof(ci->from));
	str_ncpy(ci->agent_id, "support", sizeof(ci->agent_id));
	str_ncpy(ci->trunk_id, "carrier", sizeof(ci->trunk_id));
	str_ncpy(ci->codec, "PCMU", sizeof(ci->codec));
	ci->worker = 1;
	ci->state = CALL_RINGING;
}


static const char *state_of(struct callreg *reg, const char *sid)
{
	static char buf[32];
	json_t *o = json_object();

	TEST_ERR(callreg_get(reg, sid, o), 0);
	str_ncpy(buf, json_string_value(json_object_get(json_object_get(o,
		 "call"), "state")), sizeof(buf));
	json_decref(o);

	return buf;
}


static void test_life(void)
{
	struct callreg *reg = NULL;
	struct callreg_info ci;
	struct media_stats ms;
	json_t *arr, *o, *c;

	TEST_ERR(callreg_alloc(&reg), 0);
	info(&ci, 7, "CA7");
	TEST_ERR(callreg_add(reg, &ci), 0);
	TEST_EQ(callreg_count(reg), 1);
	TEST_STREQ(state_of(reg, "CA7"), "ringing");
	callreg_state(reg, 7, CALL_ANSWERED);
	TEST_STREQ(state_of(reg, "CA7"), "answered");

	memset(&ms, 0, sizeof(ms));
	ms.rtp_rx = 11;
	callreg_publish(reg, 7, &ms);
	callreg_publish(reg, 99, &ms);          /* unknown: ignored */

	arr = json_array();
	TEST_ERR(callreg_list(reg, arr), 0);
	TEST_EQ(json_array_size(arr), 1);
	c = json_array_get(arr, 0);
	TEST_STREQ(json_string_value(json_object_get(c, "call_sid")), "CA7");
	TEST_STREQ(json_string_value(json_object_get(c, "agent_id")),
		   "support");
	TEST_EQ(json_integer_value(json_object_get(json_object_get(c,
		"stats"), "rtp_rx")), 11);
	TEST_ASSERT(json_object_get(c, "end_reason") == NULL);
	json_decref(arr);

	/* ended: out of the list, into recent, with its final figures */
	ms.rtp_rx = 12;
	callreg_remove(reg, 7, CALL_COMPLETED, END_AGENT_CLOSED, &ms);
	TEST_EQ(callreg_count(reg), 0);
	arr = json_array();
	TEST_ERR(callreg_list(reg, arr), 0);
	TEST_EQ(json_array_size(arr), 0);
	TEST_ERR(callreg_recent(reg, arr), 0);
	TEST_EQ(json_array_size(arr), 1);
	c = json_array_get(arr, 0);
	TEST_STREQ(json_string_value(json_object_get(c, "state")), "ended");
	TEST_STREQ(json_string_value(json_object_get(c, "end_reason")),
		   "agent-closed");
	TEST_EQ(json_integer_value(json_object_get(json_object_get(c,
		"stats"), "rtp_rx")), 12);
	json_decref(arr);

	o = json_object();
	TEST_ERR(callreg_get(reg, "CA8", o), ENOENT);
	json_decref(o);

	/* without final figures the last published ones stay */
	info(&ci, 8, "CA8");
	TEST_ERR(callreg_add(reg, &ci), 0);
	callreg_publish(reg, 8, &ms);
	callreg_remove(reg, 8, CALL_FAILED, END_AGENT_FAILED, NULL);
	o = json_object();
	TEST_ERR(callreg_get(reg, "CA8", o), 0);
	TEST_EQ(json_integer_value(json_object_get(json_object_get(
		json_object_get(o, "call"), "stats"), "rtp_rx")), 12);
	json_decref(o);

	/* totals: every call started is active or ended for a reason */
	info(&ci, 9, "CA9");
	TEST_ERR(callreg_add(reg, &ci), 0);
	o = json_object();
	TEST_ERR(callreg_totals(reg, o), 0);
	TEST_EQ(json_integer_value(json_object_get(o, "started")), 3);
	c = json_object_get(o, "ended");
	TEST_EQ(json_integer_value(json_object_get(c, "agent-closed")), 1);
	TEST_EQ(json_integer_value(json_object_get(c, "agent-failed")), 1);
	TEST_EQ(json_integer_value(json_object_get(c, "caller-bye")), 0);
	TEST_EQ(json_integer_value(json_object_get(c, "no-ack")), 0);
	TEST_ASSERT(json_object_get(c, "none") == NULL);
	TEST_EQ(json_object_size(c), END_REASON_COUNT - 1);
	json_decref(o);
	TEST_ERR(callreg_totals(reg, NULL), EINVAL);

	mem_deref(reg);
}


/* the history keeps the last CALLREG_HISTORY, oldest first */
static void test_history_bound(void)
{
	struct callreg *reg = NULL;
	struct callreg_info ci;
	json_t *arr;
	char sid[16];

	TEST_ERR(callreg_alloc(&reg), 0);
	for (unsigned i = 1; i <= CALLREG_HISTORY + 5; i++) {
		snprintf(sid, sizeof(sid), "CA%u", i);
		info(&ci, i, sid);
		TEST_ERR(callreg_add(reg, &ci), 0);
		callreg_remove(reg, i, CALL_COMPLETED, END_CALLER_BYE, NULL);
	}
	arr = json_array();
	TEST_ERR(callreg_recent(reg, arr), 0);
	TEST_EQ(json_array_size(arr), CALLREG_HISTORY);
	TEST_STREQ(json_string_value(json_object_get(json_array_get(arr, 0),
		   "call_sid")), "CA6");
	TEST_STREQ(json_string_value(json_object_get(json_array_get(arr,
		   CALLREG_HISTORY - 1), "call_sid")), "CA205");
	json_decref(arr);
	mem_deref(reg);
}


/* workers publish while the control thread lists: no tearing, no loss */
struct pub {
	struct callreg *reg;
	unsigned n;
};


static void *publisher(void *arg)
{
	struct pub *p = arg;
	struct media_stats ms;

	memset(&ms, 0, sizeof(ms));
	for (unsigned i = 1; i <= p->n; i++) {
		ms.rtp_rx = i;
		ms.rtp_tx = i;
		callreg_publish(p->reg, 1, &ms);
	}

	return NULL;
}


static void test_concurrent(void)
{
	struct pub p = {NULL, 20000};
	struct callreg_info ci;
	pthread_t tid;

	TEST_ERR(callreg_alloc(&p.reg), 0);
	info(&ci, 1, "CA1");
	TEST_ERR(callreg_add(p.reg, &ci), 0);
	TEST_EQ(pthread_create(&tid, NULL, publisher, &p), 0);
	for (int k = 0; k < 200; k++) {
		json_t *arr = json_array();
		const json_t *st;

		TEST_ERR(callreg_list(p.reg, arr), 0);
		st = json_object_get(json_array_get(arr, 0), "stats");
		/* one snapshot: both counters from the same publish */
		TEST_EQ(json_integer_value(json_object_get(st, "rtp_rx")),
			json_integer_value(json_object_get(st, "rtp_tx")));
		json_decref(arr);
	}
	pthread_join(tid, NULL);
	mem_deref(p.reg);
}


static void test_tables(void)
{
	static const struct {
		enum call_state s;
		const char *name;
	} states[] = {
		{CALL_QUEUED, "queued"}, {CALL_INITIATED, "initiated"},
		{CALL_RINGING, "ringing"}, {CALL_ANSWERED, "answered"},
		{CALL_ENDING, "ending"}, {CALL_COMPLETED, "ended"},
		{CALL_BUSY, "ended"}, {CALL_NO_ANSWER, "ended"},
		{CALL_FAILED, "ended"}, {CALL_CANCELED, "ended"},
	};
	static const struct {
		enum end_reason r;
		const char *name;
		enum call_state unanswered;
	} reasons[] = {
		{END_NONE, "none", CALL_FAILED},
		{END_CALLER_BYE, "caller-bye", CALL_FAILED},
		{END_CALLER_CANCEL, "caller-cancel", CALL_CANCELED},
		{END_AGENT_CLOSED, "agent-closed", CALL_FAILED},
		{END_AGENT_FAILED, "agent-failed", CALL_FAILED},
		{END_AGENT_TIMEOUT, "agent-timeout", CALL_FAILED},
		{END_RTP_TIMEOUT, "rtp-timeout", CALL_FAILED},
		{END_MAX_DURATION, "max-duration", CALL_FAILED},
		{END_SHUTDOWN, "shutdown", CALL_FAILED},
		{END_SIP_ERROR, "sip-error", CALL_FAILED},
		{END_NO_ACK, "no-ack", CALL_FAILED},
	};

	TEST_EQ(ARRAY_SIZE(states), CALL_STATE_COUNT);
	for (size_t i = 0; i < ARRAY_SIZE(states); i++)
		TEST_STREQ(callstate_name(states[i].s), states[i].name);
	TEST_STREQ(callstate_name(CALL_STATE_COUNT), "?");

	TEST_EQ(ARRAY_SIZE(reasons), END_REASON_COUNT);
	for (size_t i = 0; i < ARRAY_SIZE(reasons); i++) {
		TEST_STREQ(callstate_reason_name(reasons[i].r),
			   reasons[i].name);
		TEST_EQ(callstate_final(reasons[i].r, false),
			reasons[i].unanswered);
		TEST_EQ(callstate_final(reasons[i].r, true), CALL_COMPLETED);
	}
	TEST_STREQ(callstate_reason_name(END_REASON_COUNT), "?");
}


static bool sid_ok(const char *sid, const char *prefix)
{
	if (strlen(sid) != SID_LEN || strncmp(sid, prefix, 2))
		return false;
	for (size_t i = 2; i < SID_LEN; i++) {
		if (!strchr("0123456789abcdef", sid[i]))
			return false;
	}
	return true;
}


static void test_sid(void)
{
	char a[SID_LEN + 1], b[SID_LEN + 1];

	sid_random(a, "CA");
	sid_random(b, "CA");
	TEST_ASSERT(sid_ok(a, "CA"));
	TEST_ASSERT(strcmp(a, b) != 0);

	/* from a name: stable, and its MD5 (MD5 of "host1"; a change
	   would change every account SID) */
	sid_from_name(a, "AC", "host1");
	sid_from_name(b, "AC", "host1");
	TEST_STREQ(a, b);
	TEST_STREQ(a, "AC" "815ad1c058df1b7ba9c0998e2aa8a7b4");
	sid_from_name(b, "AC", "host2");
	TEST_ASSERT(strcmp(a, b) != 0);
}


int main(void)
{
	test_life();
	test_history_bound();
	test_concurrent();
	test_tables();
	test_sid();
	printf("test_callreg: ok\n");
	return 0;
}
