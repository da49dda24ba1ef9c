/**
 * @file test_jb_spurt.c  A talk spurt after a sender pause is played
 *
 * Regression: after a pause whose sequence numbers were all accounted for
 * (a DTMF event noted with jb_note_seq(), or silence suppression), the
 * silent slots ran on at their due times without a grace wait, so the
 * first packet of the next spurt, arriving a moment after its due time,
 * was late, and so was every packet after it: the rest of the call was
 * silent. Table: where the pause falls, how long it is, how late the
 * spurt's packets arrive relative to their slots.
 */
#include <string.h>
#include <re_types.h>
#include <re_mem.h>
#include "jb.h"
#include "test.h"

struct tcase {
	const char *name;
	unsigned pause_at;      /**< first packet index noted, not put */
	unsigned pause_len;     /**< packets noted                     */
	unsigned lag_us;        /**< arrival after the slot's due time */
};

static const struct tcase cases[] = {
	{"dtmf 160 ms, on time",    100, 8,  0},
	{"dtmf 160 ms, 300 us late",100, 8,  300},
	{"dtmf 60 ms, 2 ms late",   50,  3,  2000},
	{"pause 1 s, 1 ms late",    40,  50, 1000},
};


static void run(const struct tcase *tc)
{
	struct jb_conf c;
	struct jb *jb;
	struct jb_stats st;
	struct jb_out o;
	uint8_t pl[160];
	const uint64_t t0 = 1000000;
	const unsigned total = 300;
	unsigned frames_after = 0;

	memset(pl, 0xff, sizeof(pl));
	jb_conf_default(&c);
	TEST_ERR(jb_alloc(&jb, &c), 0);

	for (unsigned i = 0; i < total; i++) {
		uint64_t now = t0 + (uint64_t)i * 20000;
		struct jb_pkt p;

		if (i > tc->pause_at)
			now += tc->lag_us;

		/* the worker's timer runs every slot that is due */
		for (int k = 0; k < 8 && jb_next_due(jb) != JB_NEVER &&
			     jb_next_due(jb) <= now; k++) {
			uint64_t d = jb_next_due(jb);
			if (jb_get(jb, d, &o))
				break;
			if (o.kind == JB_FRAME &&
			    o.seg[0].ts >= (tc->pause_at + tc->pause_len) * 160)
				++frames_after;
		}

		if (i >= tc->pause_at && i < tc->pause_at + tc->pause_len) {
			jb_note_seq(jb, 7, (uint16_t)(1000 + i));
			continue;
		}

		memset(&p, 0, sizeof(p));
		p.ssrc = 7;
		p.seq = (uint16_t)(1000 + i);
		p.ts = i * 160;
		p.marker = (i == 0);
		p.dur = 160;
		p.payload = pl;
		p.len = sizeof(pl);
		TEST_ERR(jb_put(jb, now, &p), 0);

		while (!jb_get(jb, now, &o)) {
			if (o.kind == JB_FRAME &&
			    o.seg[0].ts >= (tc->pause_at + tc->pause_len) * 160)
				++frames_after;
		}
	}

	jb_stats(jb, &st);
	if (st.late != 0 || st.lost != 0)
		TEST_FAIL("%s: late %llu lost %llu", tc->name,
			  (unsigned long long)st.late,
			  (unsigned long long)st.lost);

	/* every spurt packet but the last one or two (still buffered)
	   played as a frame */
	if (frames_after + 2 < total - tc->pause_at - tc->pause_len)
		TEST_FAIL("%s: only %u of %u spurt packets played", tc->name,
			  frames_after, total - tc->pause_at - tc->pause_len);

	mem_deref(jb);
}


int main(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run(&cases[i]);

	return 0;
}
