/**
 * @file test_playq.c  Playout queue: audio order, marks, clear, capacity
 *
 * Table of scripts: w N (queue N bytes of a running counter), r N (read N,
 * check the bytes continue the counter, zero-padded past the end), m NAME
 * (mark), c (clear), and expectations on the marks reported so far.
 */
#include "cb_re.h"
#include "playq.h"
#include "test.h"

struct step {
	char op;          /**< w, r, m, c, or '=' (expect marks)      */
	size_t n;         /**< bytes for w/r; for r: bytes expected    */
	const char *arg;  /**< m: name; =: "name/c name ..." so far    */
};

struct tcase {
	const char *name;
	size_t max;
	struct step steps[16];
};

static const struct tcase cases[] = {
	{"mark on empty echoes at once", 1000, {
		{'m', 0, "a"}, {'=', 0, "a"}, {0, 0, NULL}}},
	{"mark after audio waits for it", 1000, {
		{'w', 320, NULL}, {'m', 0, "a"}, {'=', 0, ""},
		{'r', 160, NULL}, {'=', 0, ""},
		{'r', 160, NULL}, {'=', 0, "a"}, {0, 0, NULL}}},
	{"marks in order, each after its audio", 100000, {
		{'w', 160, NULL}, {'m', 0, "a"}, {'w', 160, NULL},
		{'m', 0, "b"}, {'m', 0, "c"},
		{'r', 100, NULL}, {'=', 0, ""}, {'r', 100, NULL},
		{'=', 0, "a"}, {'r', 120, NULL}, {'=', 0, "a b c"},
		{0, 0, NULL}}},
	{"null name", 1000, {
		{'w', 10, NULL}, {'m', 0, NULL}, {'r', 10, NULL},
		{'=', 0, "-"}, {0, 0, NULL}}},
	{"clear drops audio and releases marks as cleared", 100000, {
		{'w', 5000, NULL}, {'m', 0, "a"}, {'w', 9000, NULL},
		{'m', 0, "b"}, {'r', 160, NULL}, {'c', 0, NULL},
		{'=', 0, "a/c b/c"}, {'r', 0, NULL}, {'w', 160, NULL},
		{'r', 160, NULL}, {0, 0, NULL}}},
	{"reads across many blocks keep order", 1000000, {
		{'w', 20000, NULL}, {'r', 4095, NULL}, {'r', 4097, NULL},
		{'w', 5, NULL}, {'r', 11813, NULL}, {'r', 0, NULL},
		{0, 0, NULL}}},
	{"capacity: the rest is dropped", 1000, {
		{'w', 1500, NULL}, {'r', 1000, NULL}, {'r', 0, NULL},
		{0, 0, NULL}}},
};

static char got[256];
static size_t dropped_expect;


static void markh(const char *name, bool cleared, void *arg)
{
	(void)arg;

	if (got[0])
		strcat(got, " ");
	strcat(got, name ? name : "-");
	if (cleared)
		strcat(got, "/c");
}


static void run(const struct tcase *tc)
{
	static uint8_t wbuf[32768], rbuf[32768];
	struct playq *q;
	uint8_t wctr = 0, rctr = 0;
	size_t queued = 0, total_written = 0;

	got[0] = '\0';
	dropped_expect = 0;
	TEST_ERR(playq_alloc(&q, tc->max, markh, NULL), 0);

	for (const struct step *s = tc->steps; s->op; s++) {
		size_t n;

		switch (s->op) {

		case 'w':
			for (size_t i = 0; i < s->n; i++)
				wbuf[i] = wctr++;
			n = playq_write(q, wbuf, s->n);
			if (queued + s->n > tc->max) {
				TEST_EQ(n, tc->max - queued);
				/* the counter moved on: resync it */
				wctr = (uint8_t)(wctr - (s->n - n));
				dropped_expect += s->n - n;
			}
			else {
				TEST_EQ(n, s->n);
			}
			queued += n;
			total_written += n;
			TEST_EQ(playq_len(q), queued);
			break;

		case 'r':
			memset(rbuf, 0xaa, sizeof(rbuf));
			n = playq_read(q, rbuf, s->n ? s->n : 100);
			if (n != s->n)
				TEST_FAIL("%s: read %zu, expected %zu",
					  tc->name, n, s->n);
			for (size_t i = 0; i < n; i++) {
				if (rbuf[i] != rctr++)
					TEST_FAIL("%s: byte %zu is %u", tc->name,
						  i, rbuf[i]);
			}
			queued -= n;
			break;

		case 'm':
			TEST_ERR(playq_mark(q, s->arg), 0);
			break;

		case 'c':
			playq_clear(q);
			rctr = wctr;
			queued = 0;
			TEST_EQ(playq_len(q), 0);
			break;

		case '=':
			if (strcmp(got, s->arg))
				TEST_FAIL("%s: marks \"%s\", expected \"%s\"",
					  tc->name, got, s->arg);
			break;
		}
	}

	TEST_EQ(playq_dropped(q), dropped_expect);
	(void)total_written;
	mem_deref(q);
}


int main(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run(&cases[i]);

	return 0;
}
