/**
 * @file test_latch.c  Strict RTP sources and NAT learning, table-driven
 *
 * Each case is a mode and a packet schedule: source, SSRC, sequence
 * number (the timestamp is 160 per sequence number unless given), arrival
 * time and the verdict expected for each packet, then the expected
 * current remote and counters. Event kind SDP applies a re-INVITE.
 */
#include <errno.h>
#include <stdbool.h>
#include <re.h>
#include "test.h"
#include "latch.h"

/* addresses */
enum {
	REAL,       /* 127.0.0.1:4000, the SDP address             */
	NAT,        /* 127.0.0.2:5000, the same stream after NAT   */
	EVIL,       /* 127.0.0.3:6666, an attacker                 */
	EVIL2,      /* 127.0.0.4:6666, a second attacker           */
	PORT,       /* 127.0.0.1:4002, real IP, another port       */
	V6,         /* [::1]:4000                                  */
	ZERO,       /* 127.0.0.5:0, a source that cannot be answered */
	NADDR
};

static const char *addr_str[NADDR] = {
	"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.1", "::1",
	"127.0.0.5"
};
static const uint16_t addr_port[NADDR] = {4000, 5000, 6666, 6666, 4002, 4000,
					  0};

enum kind { PKT, SDP };

#define ACC LATCH_ACCEPT
#define SWI LATCH_SWITCH
#define DRP LATCH_DROP

struct ev {
	enum kind kind;
	int src;
	uint32_t ssrc;
	uint16_t seq;
	uint32_t t_ms;
	enum latch_verdict v;
	uint32_t ts;               /* 0: seq * 160 */
};

#define STRICT LATCH_STRICT

struct lcase {
	const char *name;
	enum latch_mode mode;
	unsigned n;                /* 0: default */
	uint32_t min_span_ms;
	struct ev ev[32];
	size_t nev;
	int remote;                /* expected current remote at the end */
	uint64_t accepted, dropped;
	uint32_t switches;
};

#define P(src, ssrc, seq, t, v) {PKT, src, ssrc, seq, t, v, 0}
#define PT(src, ssrc, seq, ts, t, v) {PKT, src, ssrc, seq, t, v, ts}
#define REINVITE(src) {SDP, src, 0, 0, 0, ACC, 0}

static const struct lcase cases[] = {
	/* LATCH_STRICT, the default: the SDP's address and port only */
	{"strict: the SDP source is accepted", STRICT, 0, 0,
	 {P(REAL, 1, 10, 0, ACC), P(REAL, 1, 11, 20, ACC)}, 2,
	 REAL, 2, 0, 0},

	{"strict: an attacker before the caller's first packet", STRICT,
	 0, 0,
	 {P(EVIL, 9, 1, 0, DRP), P(EVIL, 9, 2, 20, DRP),
	  P(EVIL, 9, 3, 40, DRP), P(EVIL, 9, 4, 60, DRP),
	  P(EVIL, 9, 5, 80, DRP), P(REAL, 1, 10, 100, ACC)}, 6,
	 REAL, 1, 5, 0},

	{"strict: a run while the caller is silent, then interleaved",
	 STRICT, 0, 0,
	 {P(REAL, 1, 10, 0, ACC), P(EVIL, 9, 1, 100, DRP),
	  P(EVIL, 9, 2, 120, DRP), P(EVIL, 9, 3, 140, DRP),
	  P(EVIL, 9, 4, 160, DRP), P(EVIL, 1, 11, 180, DRP),
	  P(REAL, 1, 11, 2000, ACC), P(EVIL, 1, 12, 2001, DRP),
	  P(REAL, 1, 12, 2020, ACC)}, 9,
	 REAL, 3, 6, 0},

	{"strict: a NATed source is never learned", STRICT, 0, 0,
	 {P(NAT, 7, 1, 0, DRP), P(NAT, 7, 2, 20, DRP),
	  P(NAT, 7, 3, 40, DRP), P(NAT, 7, 4, 60, DRP)}, 4,
	 REAL, 0, 4, 0},

	{"strict: same IP, other port is another source", STRICT, 0, 0,
	 {P(PORT, 1, 10, 0, DRP), P(REAL, 1, 11, 20, ACC)}, 2,
	 REAL, 1, 1, 0},

	{"strict: a re-INVITE names the new source", STRICT, 0, 0,
	 {P(REAL, 1, 10, 0, ACC), REINVITE(NAT), P(REAL, 1, 11, 20, DRP),
	  P(NAT, 1, 12, 40, ACC)}, 4,
	 NAT, 2, 1, 0},

	/* LATCH_NAT once media has flowed: re-INVITE or the stream only */
	{"nat: another stream never takes over while the caller is silent",
	 LATCH_NAT, 0, 40,
	 {P(REAL, 1, 10, 0, ACC), P(EVIL, 9, 1, 100, DRP),
	  P(EVIL, 9, 2, 120, DRP), P(EVIL, 9, 3, 140, DRP),
	  P(EVIL, 9, 4, 160, DRP), P(EVIL, 9, 5, 180, DRP),
	  P(REAL, 1, 11, 2000, ACC), P(EVIL, 9, 6, 2001, DRP),
	  P(REAL, 1, 12, 2020, ACC)}, 9,
	 REAL, 3, 6, 0},

	{"nat: a move must continue the sequence, not leap", LATCH_NAT, 0, 0,
	 {P(REAL, 1, 10, 0, ACC), PT(NAT, 1, 500, 1760, 100, DRP),
	  P(NAT, 1, 11, 120, SWI)}, 3,
	 NAT, 2, 1, 1},

	{"nat: a move must continue the timestamps", LATCH_NAT, 0, 0,
	 {P(REAL, 1, 10, 0, ACC), PT(NAT, 1, 11, 1600 + 480001, 100, DRP),
	  PT(NAT, 1, 11, 1500, 120, DRP), PT(NAT, 1, 11, 1760, 140, SWI)},
	 4, NAT, 2, 2, 1},

	{"nat: a re-INVITE to a new address learns again", LATCH_NAT, 0, 0,
	 {P(REAL, 1, 10, 0, ACC), REINVITE(V6), P(EVIL, 9, 1, 20, DRP),
	  P(EVIL, 9, 2, 40, DRP), P(EVIL, 9, 3, 60, SWI)}, 5,
	 EVIL, 2, 2, 1},

	{"the SDP source is accepted", LATCH_NAT, 0, 0,
	 {P(REAL, 1, 10, 0, ACC), P(REAL, 1, 11, 20, ACC),
	  P(REAL, 1, 12, 40, ACC)}, 3,
	 REAL, 3, 0, 0},

	{"spoofed packets interleaved with the real source never switch", LATCH_NAT,
	 0, 0,
	 {P(REAL, 1, 10, 0, ACC), P(EVIL, 9, 100, 5, DRP),
	  P(REAL, 1, 11, 20, ACC), P(EVIL, 9, 101, 25, DRP),
	  P(EVIL, 9, 102, 30, DRP), P(REAL, 1, 12, 40, ACC),
	  P(EVIL, 9, 103, 45, DRP), P(EVIL, 9, 104, 50, DRP),
	  P(REAL, 1, 13, 60, ACC), P(EVIL, 9, 105, 65, DRP),
	  P(EVIL, 9, 106, 70, DRP), P(REAL, 1, 14, 80, ACC)}, 12,
	 REAL, 5, 7, 0},

	{"a spoofer copying SSRC and sequence still never switches", LATCH_NAT, 0, 0,
	 {P(REAL, 1, 10, 0, ACC), P(EVIL, 1, 11, 1, DRP),
	  P(EVIL, 1, 12, 2, DRP), P(REAL, 1, 11, 20, ACC),
	  P(EVIL, 1, 13, 21, DRP), P(EVIL, 1, 14, 22, DRP),
	  P(REAL, 1, 12, 40, ACC)}, 7,
	 REAL, 3, 4, 0},

	{"NAT rebinding: the stream moves once the source was quiet 60 ms", LATCH_NAT, 0, 0,
	 {P(REAL, 1, 10, 0, ACC), P(REAL, 1, 11, 20, ACC),
	  P(NAT, 1, 12, 40, DRP), P(NAT, 1, 13, 60, DRP),
	  P(NAT, 1, 14, 80, SWI), P(NAT, 1, 15, 100, ACC),
	  P(REAL, 1, 16, 120, DRP), P(NAT, 1, 17, 140, ACC)}, 8,
	 NAT, 5, 3, 1},

	{"first media from a non-SDP address latches after N", LATCH_NAT, 0, 0,
	 {P(NAT, 7, 1, 0, DRP), P(NAT, 7, 2, 20, DRP),
	  P(NAT, 7, 3, 40, SWI), P(NAT, 7, 4, 60, ACC)}, 4,
	 NAT, 2, 2, 1},

	{"a sequence gap in the candidate restarts the count", LATCH_NAT, 0, 0,
	 {P(NAT, 7, 10, 0, DRP), P(NAT, 7, 11, 20, DRP),
	  P(NAT, 7, 13, 40, DRP), P(NAT, 7, 14, 60, DRP),
	  P(NAT, 7, 15, 80, SWI)}, 5,
	 NAT, 1, 4, 1},

	{"a repeated sequence number restarts the count", LATCH_NAT, 0, 0,
	 {P(NAT, 7, 10, 0, DRP), P(NAT, 7, 11, 20, DRP),
	  P(NAT, 7, 11, 25, DRP), P(NAT, 7, 12, 40, DRP),
	  P(NAT, 7, 13, 60, SWI)}, 5,
	 NAT, 1, 4, 1},

	{"an SSRC change in the candidate restarts the count", LATCH_NAT, 0, 0,
	 {P(NAT, 7, 10, 0, DRP), P(NAT, 7, 11, 20, DRP),
	  P(NAT, 8, 12, 40, DRP), P(NAT, 8, 13, 60, DRP),
	  P(NAT, 8, 14, 80, SWI)}, 5,
	 NAT, 1, 4, 1},

	{"a third source in between restarts the count", LATCH_NAT, 0, 0,
	 {P(NAT, 7, 10, 0, DRP), P(NAT, 7, 11, 20, DRP),
	  P(EVIL, 9, 1, 30, DRP), P(NAT, 7, 12, 40, DRP),
	  P(NAT, 7, 13, 60, DRP), P(NAT, 7, 14, 80, SWI)}, 6,
	 NAT, 1, 5, 1},

	{"a source with port 0 never takes over", LATCH_NAT, 0, 0,
	 {P(ZERO, 7, 1, 0, DRP), P(ZERO, 7, 2, 20, DRP),
	  P(ZERO, 7, 3, 40, DRP), P(ZERO, 7, 4, 60, DRP),
	  P(ZERO, 7, 5, 80, DRP), P(REAL, 1, 10, 100, ACC)}, 6,
	 REAL, 1, 5, 0},

	{"two attackers alternating never switch", LATCH_NAT, 0, 0,
	 {P(EVIL, 9, 1, 0, DRP), P(EVIL2, 9, 2, 1, DRP),
	  P(EVIL, 9, 3, 2, DRP), P(EVIL2, 9, 4, 3, DRP),
	  P(EVIL, 9, 5, 4, DRP), P(EVIL2, 9, 6, 5, DRP)}, 6,
	 REAL, 0, 6, 0},

	{"same IP, other port is another source", LATCH_NAT, 0, 0,
	 {P(REAL, 1, 10, 0, ACC), P(PORT, 1, 11, 20, DRP),
	  P(REAL, 1, 12, 40, ACC)}, 3,
	 REAL, 2, 1, 0},

	{"candidate sequence wraps at 65535", LATCH_NAT, 0, 0,
	 {P(NAT, 7, 65534, 0, DRP), P(NAT, 7, 65535, 20, DRP),
	  P(NAT, 7, 0, 40, SWI)}, 3,
	 NAT, 1, 2, 1},

	{"N = 5", LATCH_NAT, 5, 0,
	 {P(NAT, 7, 1, 0, DRP), P(NAT, 7, 2, 20, DRP),
	  P(NAT, 7, 3, 40, DRP), P(NAT, 7, 4, 60, DRP),
	  P(NAT, 7, 5, 80, SWI)}, 5,
	 NAT, 1, 4, 1},

	{"N = 1 learns the first source at once, then only the stream",
	 LATCH_NAT, 1, 0,
	 {P(NAT, 7, 1, 0, SWI), P(NAT, 7, 2, 20, ACC),
	  P(REAL, 1, 3, 40, DRP), P(REAL, 1, 4, 200, DRP)}, 4,
	 NAT, 2, 2, 1},

	{"re-INVITE to a new address: it is current at once", LATCH_NAT, 0, 0,
	 {P(REAL, 1, 10, 0, ACC), REINVITE(NAT),
	  P(NAT, 1, 11, 20, ACC), P(REAL, 1, 12, 40, DRP),
	  P(NAT, 1, 13, 60, ACC)}, 5,
	 NAT, 3, 1, 0},

	{"re-INVITE resets a candidate run", LATCH_NAT, 0, 0,
	 {P(EVIL, 9, 1, 0, DRP), P(EVIL, 9, 2, 20, DRP), REINVITE(V6),
	  P(EVIL, 9, 3, 40, DRP), P(V6, 1, 1, 50, ACC)}, 5,
	 V6, 1, 3, 0},

	{"re-INVITE with the same address keeps a NAT latch", LATCH_NAT, 0, 0,
	 {P(NAT, 1, 1, 0, DRP), P(NAT, 1, 2, 20, DRP),
	  P(NAT, 1, 3, 40, SWI), REINVITE(REAL),
	  P(NAT, 1, 4, 60, ACC), P(REAL, 1, 5, 80, DRP)}, 6,
	 NAT, 2, 3, 1},

	{"min span: a fast forged burst does not switch", LATCH_NAT, 3, 40,
	 {P(REAL, 1, 10, 0, ACC), P(EVIL, 9, 1, 1, DRP),
	  P(EVIL, 9, 2, 2, DRP), P(EVIL, 9, 3, 3, DRP),
	  P(EVIL, 9, 4, 4, DRP), P(REAL, 1, 11, 20, ACC)}, 6,
	 REAL, 2, 4, 0},

	{"min span: a real rebinding switches once the span is covered", LATCH_NAT,
	 3, 40,
	 {P(NAT, 1, 1, 0, DRP), P(NAT, 1, 2, 20, DRP),
	  P(NAT, 1, 3, 39, DRP), P(NAT, 1, 4, 40, SWI)}, 4,
	 NAT, 1, 3, 1},

	{"IPv6 source", LATCH_NAT, 0, 0,
	 {P(V6, 3, 1, 0, DRP), P(V6, 3, 2, 20, DRP), P(V6, 3, 3, 40, SWI),
	  P(V6, 3, 4, 60, ACC)}, 4,
	 V6, 2, 2, 1},
};


static struct sa addr[NADDR];


static void test_cases(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct lcase *lc = &cases[i];
		struct latch l;

		TEST_ERR(latch_init(&l, &addr[REAL], lc->mode, lc->n), 0);
		latch_set_min_span(&l, lc->min_span_ms * 1000ull);

		for (size_t k = 0; k < lc->nev; k++) {
			const struct ev *e = &lc->ev[k];
			enum latch_verdict v;

			if (e->kind == SDP) {
				TEST_ERR(latch_set_sdp(&l, &addr[e->src]), 0);
				continue;
			}

			v = latch_check(&l, &addr[e->src], e->ssrc, e->seq,
					e->ts ? e->ts : e->seq * 160u,
					1000000ull + e->t_ms * 1000ull);
			if (v != e->v)
				TEST_FAIL("'%s' event %zu: %s, expected %s",
					  lc->name, k, latch_verdict_str(v),
					  latch_verdict_str(e->v));

			/* media never goes anywhere a dropped packet came
			 * from, unless it already went there */
			if (v == LATCH_DROP)
				TEST_ASSERT(!sa_cmp(latch_remote(&l),
						    &addr[e->src], SA_ALL));
			else
				TEST_ASSERT(sa_cmp(latch_remote(&l),
						   &addr[e->src], SA_ALL));
		}

		if (!sa_cmp(latch_remote(&l), &addr[lc->remote], SA_ALL)) {
			char got[64], want[64];

			re_snprintf(got, sizeof(got), "%J", latch_remote(&l));
			re_snprintf(want, sizeof(want), "%J",
				    &addr[lc->remote]);
			TEST_FAIL("'%s': remote %s, expected %s", lc->name,
				  got, want);
		}

		if (l.accepted != lc->accepted || l.dropped != lc->dropped ||
		    l.switches != lc->switches)
			TEST_FAIL("'%s': accepted %llu dropped %llu switches "
				  "%u", lc->name,
				  (unsigned long long)l.accepted,
				  (unsigned long long)l.dropped, l.switches);
	}
}


/* a long spoofing run against a live stream: never a switch */
/* long spoofing runs against a live stream: never a switch, in either
   mode; in NAT mode even a copier of the stream's SSRC, sequence numbers
   and timestamps, sending its packet just before each real one */
static void test_flood(void)
{
	for (int mode = LATCH_STRICT; mode <= LATCH_NAT; mode++) {
		struct latch l;
		uint16_t seq = 0, eseq = 1000;

		TEST_ERR(latch_init(&l, &addr[REAL], (enum latch_mode)mode,
				    0), 0);

		for (unsigned k = 0; k < 10000; k++) {
			const uint64_t t = 20000ull * k;

			/* N-1 perfect packets of its own stream */
			for (unsigned j = 0; j + 1 < LATCH_DEFAULT_N; j++)
			{
				TEST_EQ(latch_check(&l, &addr[EVIL], 9,
						    eseq, eseq * 160u,
						    t + 1 + j), LATCH_DROP);
				++eseq;
			}
			/* the next packet of the caller's */
			TEST_EQ(latch_check(&l, &addr[EVIL], 1, seq,
					    seq * 160u, t + 5), LATCH_DROP);
			TEST_EQ(latch_check(&l, &addr[REAL], 1, seq,
					    seq * 160u, t + 10),
				LATCH_ACCEPT);
			++seq;
		}

		TEST_EQ(l.switches, 0);
		TEST_EQ(l.dropped, 10000 * LATCH_DEFAULT_N);
		TEST_ASSERT(sa_cmp(latch_remote(&l), &addr[REAL], SA_ALL));
	}
}


static void test_args(void)
{
	struct latch l;

	TEST_ERR(latch_init(NULL, &addr[REAL], LATCH_NAT, 0), EINVAL);
	TEST_ERR(latch_init(&l, NULL, LATCH_NAT, 0), EINVAL);
	TEST_ERR(latch_init(&l, &addr[REAL], LATCH_NAT, LATCH_MAX_N + 1),
		 EINVAL);
	TEST_ERR(latch_init(&l, &addr[REAL], (enum latch_mode)7, 0), EINVAL);
	TEST_ERR(latch_init(&l, &addr[REAL], LATCH_NAT, LATCH_MAX_N), 0);
	TEST_EQ(l.n, LATCH_MAX_N);
	TEST_ERR(latch_init(&l, &addr[REAL], LATCH_NAT, 0), 0);
	TEST_EQ(l.n, LATCH_DEFAULT_N);
	TEST_ERR(latch_set_sdp(&l, NULL), EINVAL);
	TEST_EQ(latch_check(&l, NULL, 0, 0, 0, 0), LATCH_DROP);
	TEST_EQ(latch_check(NULL, &addr[REAL], 0, 0, 0, 0), LATCH_DROP);
	TEST_ASSERT(latch_remote(NULL) == NULL);

	TEST_ERR(latch_init(&l, &addr[NAT], LATCH_NAT, 4), 0);
	TEST_EQ(l.n, 4);
	TEST_ASSERT(sa_cmp(latch_remote(&l), &addr[NAT], SA_ALL));
}


int main(void)
{
	for (int i = 0; i < NADDR; i++)
		TEST_ERR(sa_set_str(&addr[i], addr_str[i], addr_port[i]), 0);

	test_cases();
	test_flood();
	test_args();

	printf("test_latch: ok\n");
	return 0;
}
