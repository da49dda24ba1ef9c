/**
 * @file test_cliout.c  callbridgectl's output, table-driven: the tables of
 *                      numbers, agents, trunks and calls (columns sized
 *                      and padded by code points, so UTF-8 text lines up;
 *                      "-" for an empty cell), the status view, put and
 *                      delete lines, indented JSON
 *
 * The expected tables were written out by hand (one code point, one
 * column): a printer that counted bytes would pad "Müller" one column
 * short and widen a column for "Zürich – Süd" by four.
 */
#include <stdio.h>
#include <string.h>
#include "cli_int.h"
#include "test.h"
#include "clirun.h"

enum { V_NUMBERS, V_AGENTS, V_TRUNKS, V_CALLS, V_STATUS, V_PRETTY, V_PUT,
       V_DELETED };

static const struct out_case {
	int view;
	const char *in;      /* the reply (or its list) as JSON */
	const char *out;     /* stdout */
} cases[] = {
	{V_NUMBERS,
	 "[{\"number\":\"+14155551234\",\"friendly_name\":\"M\xc3\xbcller "
	 "GmbH\",\"inbound_agent_id\":\"echo\",\"trunk_id\":\"local\","
	 "\"status\":\"active\"},"
	 "{\"number\":\"+442071838750\",\"friendly_name\":\"Z\xc3\xbcrich "
	 "\xe2\x80\x93 S\xc3\xbc" "d\",\"inbound_agent_id\":\"\","
	 "\"outbound_agent_id\":\"sales\",\"trunk_id\":\"c1\","
	 "\"status\":\"unreachable\"}]",
	 "Number         Friendly Name  Inbound agent  Outbound agent  Trunk  "
	 "Status\n"
	 "+14155551234   M\xc3\xbcller GmbH    echo           -               "
	 "local  active\n"
	 "+442071838750  Z\xc3\xbcrich \xe2\x80\x93 S\xc3\xbc" "d   -        "
	 "      sales           c1     unreachable\n"},
	{V_NUMBERS, "[]",
	 "Number  Friendly Name  Inbound agent  Outbound agent  Trunk  "
	 "Status\n"},
	{V_AGENTS,
	 "[{\"id\":\"echo\",\"name\":\"\xc3\x89" "cho\","
	 "\"url\":\"ws://127.0.0.1:9/\",\"protocol\":\"twilio\","
	 "\"audio\":{\"encoding\":\"mulaw\",\"sample_rate\":8000},"
	 "\"auth_token_set\":true},"
	 "{\"id\":\"x\",\"url\":\"wss://\xc3\xa4.example/\","
	 "\"protocol\":\"raw\",\"auth_token_set\":false}]",
	 "ID    Name  URL                Protocol  Audio       Token\n"
	 "echo  \xc3\x89" "cho  ws://127.0.0.1:9/  twilio    mulaw/8000  set\n"
	 "x     -     wss://\xc3\xa4.example/   raw       ?/0         -\n"},
	{V_TRUNKS,
	 "[{\"id\":\"local\",\"name\":\"Local\",\"kind\":\"byoc\","
	 "\"media_encryption\":\"none\","
	 "\"inbound\":{\"allowed_sources\":[]},\"outbound\":{}},"
	 "{\"id\":\"c1\",\"name\":\"\xc3\x87\xc3\xa0\",\"kind\":\"twilio\","
	 "\"media_encryption\":\"srtp_required\","
	 "\"inbound\":{\"allowed_sources\":[\"192.0.2.0/24\","
	 "\"198.51.100.7\"]},\"outbound\":{\"address\":\"sip.example\","
	 "\"transport\":\"tls\",\"port\":5061}}]",
	 "ID     Name   Kind    Allowed sources            Outbound            "
	 "  Media\n"
	 "local  Local  byoc    any                        -                   "
	 "  none\n"
	 "c1     \xc3\x87\xc3\xa0     twilio  192.0.2.0/24,198.51.100.7  "
	 "tls:sip.example:5061  srtp_required\n"},
	{V_CALLS,
	 "[{\"call_sid\":\"CA1\",\"number\":\"+14155551234\","
	 "\"from\":\"+15550001\",\"agent_id\":\"echo\",\"codec\":\"PCMU\","
	 "\"state\":\"answered\",\"duration_s\":12,\"stats\":"
	 "{\"jitter_buffer\":{\"lost\":3,\"concealed\":2}}},"
	 "{\"call_sid\":\"CA2\",\"state\":\"completed\","
	 "\"end_reason\":\"caller-bye\",\"duration_s\":3600}]",
	 "Call SID  Number        From       Agent  Codec  State       Seconds"
	 "  Lost  Concealed\n"
	 "CA1       +14155551234  +15550001  echo   PCMU   answered    12     "
	 "  3     2\n"
	 "CA2       -             -          -      -      caller-bye  3600   "
	 "  0     0\n"},
	{V_STATUS,
	 "{\"ok\":true,\"id\":7,\"version\":\"1.2.3\",\"uptime_s\":93784,"
	 "\"counts\":{\"numbers\":1,\"agents\":2},"
	 "\"calls\":{\"active\":1,\"list\":[1,2],\"nested\":{\"id\":\"x\"}},"
	 "\"flag\":true,\"s\":\"x y\"}",
	 "callbridge 1.2.3, up 1d 02:03:04\n"
	 "counts.numbers           1\n"
	 "counts.agents            2\n"
	 "calls.active             1\n"
	 "calls.list               [1,2]\n"
	 "calls.nested.id          x\n"
	 "flag                     true\n"
	 "s                        x y\n"},
	{V_PRETTY, "{\"a\":1,\"b\":[\"\xc3\xa4\"]}",
	 "{\n  \"a\": 1,\n  \"b\": [\n    \"\xc3\xa4\"\n  ]\n}\n"},
	{V_PUT, "{\"ok\":true,\"created\":true,\"agent\":{\"id\":\"a1\"}}",
	 "agent a1 created\n"},
	{V_PUT, "{\"ok\":true,\"created\":false,\"agent\":{\"id\":\"a1\"}}",
	 "agent a1 replaced\n"},
	{V_DELETED, "{\"ok\":true,\"deleted\":\"t1\"}",
	 "trunk t1 deleted\n"},
};

static const struct out_case *cur;


static void print_child(void *arg)
{
	json_t *j = json_loads(cur->in, 0, NULL);

	(void)arg;
	TEST_ASSERT(j != NULL);
	switch (cur->view) {

	case V_NUMBERS: cliout_numbers(j); break;
	case V_AGENTS:  cliout_agents(j); break;
	case V_TRUNKS:  cliout_trunks(j); break;
	case V_CALLS:   cliout_calls(j); break;
	case V_STATUS:  cliout_status(j); break;
	case V_PRETTY:  cliout_pretty(j); break;
	case V_PUT:     cliout_put(j, "agent", "id"); break;
	default:        cliout_deleted(j, "trunk"); break;
	}
	json_decref(j);
}


static void test_table(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct clirun r;

		cur = &cases[i];
		clirun(&r, print_child, NULL, NULL, NULL, NULL);
		if (r.code || strcmp(r.out, cur->out) || *r.err)
			TEST_FAIL("case %zu: exit %d\nstdout:\n%s\nexpected:\n"
				  "%s\nstderr:\n%s", i, r.code, r.out,
				  cur->out, r.err);
		clirun_free(&r);
	}
}


/* A trunk's allowed sources are cut at 252 characters and "..."; the
   Outbound column is as wide as its heading */
static void trunks_long_child(void *arg)
{
	json_t *arr = json_array(), *t, *src = json_array();

	(void)arg;
	for (int i = 0; i < 30; i++)
		json_array_append_new(src, json_sprintf("203.0.113.%d/32", i));
	t = json_pack("{s:s,s:s,s:{s:o},s:{}}", "id", "c1", "kind", "byoc",
		      "inbound", "allowed_sources", src, "outbound");
	json_array_append_new(arr, t);
	cliout_trunks(arr);
	json_decref(arr);
}


static void test_trunks_long(void)
{
	char want[300] = "";
	size_t o = 0;
	struct clirun r;
	const char *row;

	for (int i = 0; i < 30 && o < 252; i++)
		o += (size_t)snprintf(want + o, sizeof(want) - o,
				      "%s203.0.113.%d/32", i ? "," : "", i);
	snprintf(want + 252, sizeof(want) - 252, "...  %-8s  -\n", "-");

	clirun(&r, trunks_long_child, NULL, NULL, NULL, NULL);
	TEST_EQ(r.code, 0);
	row = strstr(r.out, "\nc1 ");
	TEST_ASSERT(row != NULL);
	row = strstr(row, "203.0.113.0/32,");
	TEST_ASSERT(row != NULL);
	TEST_STREQ(row, want);
	clirun_free(&r);
}


int main(void)
{
	test_table();
	test_trunks_long();

	printf("test_cliout: ok\n");
	return 0;
}
