/**
 * @file test_mstats.c  A call's media statistics: every line of mstats.h's
 *                      tables reaches the view under its group and name,
 *                      with its value, and the logged ones the log line
 */
#include <string.h>
#include "cb_re.h"
#include "mstats.h"
#include "test.h"


/* a distinct value per field: its index in the tables, plus 1000 */
static void fill(struct media_stats *st)
{
	unsigned i = 1000;

	memset(st, 0, sizeof(*st));
#define X(name, type, from, log) st->name = i++;
	MSTATS_CALL(X)
#undef X
#define X(name, type, from, log) st->jb.name = i++;
	MSTATS_JB(X)
#undef X
#define X(name, type, from, log) st->decoder.name = i++;
	MSTATS_DECODER(X)
#undef X
#define X(name, type, from, log) st->remote.name = i++;
	MSTATS_REMOTE(X)
#undef X
}


static double num(const json_t *o, const char *group, const char *name)
{
	const json_t *g = group ? json_object_get(o, group) : o;
	const json_t *v = json_object_get(g, name);

	if (!json_is_number(v)) {
		TEST_FAIL("stats%s%s.%s: missing or not a number",
			   group ? "." : "", group ? group : "", name);
	}
	return json_number_value(v);
}


static void test_view(void)
{
	struct media_stats st;
	unsigned i = 1000;
	size_t n = 0, groups = 0;
	json_t *o, *v;
	const char *key;

	fill(&st);
	o = mstats_json(&st);
	TEST_ASSERT(o != NULL);

#define X(name, type, from, log)					\
	TEST_EQ((unsigned)num(o, NULL, #name), i++); ++n;
	MSTATS_CALL(X)
#undef X
#define X(name, type, from, log)					\
	TEST_EQ((unsigned)num(o, "jitter_buffer", #name), i++); ++n;
	MSTATS_JB(X)
#undef X
#define X(name, type, from, log)					\
	TEST_EQ((unsigned)num(o, "decoder", #name), i++); ++n;
	MSTATS_DECODER(X)
#undef X
#define X(name, type, from, log)					\
	TEST_EQ((unsigned)num(o, "remote", #name), i++); ++n;
	MSTATS_REMOTE(X)
#undef X

	/* nothing else in the view */
	json_object_foreach(o, key, v) {
		if (json_is_object(v)) {
			++groups;
			n -= json_object_size(v);
		}
		else {
			--n;
		}
	}
	TEST_EQ(groups, 3);
	TEST_EQ(n, 0);
	json_decref(o);
}


static void test_log(void)
{
	struct media_stats st;
	char line[4096];

	fill(&st);
	(void)re_snprintf(line, sizeof(line), "%H", mstats_log, &st);

	/* logged: the call's rtp_rx (1000), jb.lost, decoder.fec; counters
	   as integers, jitter with one decimal */
	TEST_ASSERT(strstr(line, " rtp_rx 1000 ") != NULL);
	TEST_ASSERT(strstr(line, " jb.lost ") != NULL);
	TEST_ASSERT(strstr(line, " decoder.fec ") != NULL);
	TEST_ASSERT(strstr(line, " jb.jitter_ms ") != NULL);
	TEST_ASSERT(strstr(line, ".0") != NULL);
	/* not logged: agent_bytes, jb.received, remote.rtt_ms */
	TEST_ASSERT(strstr(line, "agent_bytes") == NULL);
	TEST_ASSERT(strstr(line, "received") == NULL);
	TEST_ASSERT(strstr(line, "rtt_ms") == NULL);
}


int main(void)
{
	test_view();
	test_log();
	printf("test_mstats: ok\n");
	return 0;
}
