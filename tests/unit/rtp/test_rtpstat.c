/**
 * @file test_rtpstat.c  RFC 3550 A.1 sequence tracking, A.3 loss, A.8 jitter
 *
 * Table-driven: each scenario is a packet list with the verdict expected
 * for every packet and the counters expected at the end. Arrival times are
 * synthetic (injected), so jitter results are exact.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include "test.h"
#include "rtpstat.h"

#define A 0x11111111u
#define B 0x22222222u

struct pkt {
	uint32_t ssrc;
	uint16_t seq;
	int err;                 /* expected rtpstat_rx_update() result */
};

struct scenario {
	const char *name;
	struct pkt pkts[24];
	size_t n;
	/* expected at the end */
	uint32_t ssrc;
	uint32_t ext_max;
	int64_t expected, lost;        /* current source */
	int64_t tot_expected, tot_lost; /* call totals */
	uint64_t packets, discarded;
	uint32_t ssrc_changes;
};

#define OK 0
#define HOLD EAGAIN

static const struct scenario scenarios[] = {
	{"probation, then in order",
	 {{A, 10, HOLD}, {A, 11, OK}, {A, 12, OK}, {A, 13, OK}}, 4,
	 A, 13, 3, 0, 3, 0, 3, 1, 0},

	{"probation restarts on a gap",
	 {{A, 10, HOLD}, {A, 12, HOLD}, {A, 13, OK}, {A, 14, OK}}, 4,
	 A, 14, 2, 0, 2, 0, 2, 2, 0},

	{"wrap at 65535",
	 {{A, 65532, HOLD}, {A, 65533, OK}, {A, 65534, OK}, {A, 65535, OK},
	  {A, 0, OK}, {A, 1, OK}, {A, 2, OK}}, 7,
	 A, 65536 + 2, 6, 0, 6, 0, 6, 1, 0},

	{"loss of two",
	 {{A, 100, HOLD}, {A, 101, OK}, {A, 102, OK}, {A, 105, OK},
	  {A, 106, OK}}, 5,
	 A, 106, 6, 2, 6, 2, 4, 1, 0},

	{"reordering is not loss",
	 {{A, 9, HOLD}, {A, 10, OK}, {A, 11, OK}, {A, 13, OK}, {A, 12, OK},
	  {A, 14, OK}}, 6,
	 A, 14, 5, 0, 5, 0, 5, 1, 0},

	{"reordering across the wrap",
	 {{A, 65533, HOLD}, {A, 65534, OK}, {A, 65535, OK}, {A, 1, OK},
	  {A, 0, OK}, {A, 2, OK}}, 6,
	 A, 65536 + 2, 5, 0, 5, 0, 5, 1, 0},

	{"duplicates make loss negative",
	 {{A, 9, HOLD}, {A, 10, OK}, {A, 11, OK}, {A, 11, OK}, {A, 12, OK},
	  {A, 12, OK}}, 6,
	 A, 12, 3, -2, 3, -2, 5, 1, 0},

	{"a very late packet is held, not counted",
	 {{A, 999, HOLD}, {A, 1000, OK}, {A, 1001, OK}, {A, 850, HOLD},
	  {A, 1002, OK}}, 5,
	 A, 1002, 3, 0, 3, 0, 3, 2, 0},

	{"a lone jump is held, the stream goes on",
	 {{A, 99, HOLD}, {A, 100, OK}, {A, 101, OK}, {A, 30000, HOLD},
	  {A, 102, OK}}, 5,
	 A, 102, 3, 0, 3, 0, 3, 2, 0},

	{"a jump confirmed by the next packet resyncs",
	 {{A, 99, HOLD}, {A, 100, OK}, {A, 101, OK}, {A, 102, OK},
	  {A, 104, OK}, {A, 30000, HOLD}, {A, 30001, OK}, {A, 30002, OK}}, 8,
	 A, 30002, 2, 0, 5 + 2, 1, 6, 2, 0},

	{"SSRC change after probation",
	 {{A, 5, HOLD}, {A, 6, OK}, {A, 7, OK}, {A, 9, OK},
	  {B, 500, HOLD}, {B, 501, OK}, {B, 502, OK}, {B, 503, OK}}, 8,
	 B, 503, 3, 0, 4 + 3, 1, 6, 2, 1},

	{"an interleaved foreign SSRC never takes over",
	 {{A, 1, HOLD}, {A, 2, OK}, {B, 50, HOLD}, {A, 3, OK},
	  {B, 51, HOLD}, {A, 4, OK}, {B, 52, HOLD}, {A, 5, OK},
	  {B, 53, HOLD}, {A, 6, OK}}, 10,
	 A, 6, 5, 0, 5, 0, 5, 5, 0},

	{"a foreign SSRC out of sequence never takes over",
	 {{A, 1, HOLD}, {A, 2, OK}, {B, 50, HOLD}, {B, 52, HOLD},
	  {B, 54, HOLD}, {B, 40, HOLD}}, 6,
	 A, 2, 1, 0, 1, 0, 1, 5, 0},

	{"the old SSRC back after a change is a new source",
	 {{A, 1, HOLD}, {A, 2, OK}, {B, 7, HOLD}, {B, 8, OK}, {A, 3, HOLD},
	  {A, 4, OK}, {A, 5, OK}}, 7,
	 A, 5, 2, 0, 1 + 1 + 2, 0, 4, 3, 2},
};


static void test_scenarios(void)
{
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		const struct scenario *sc = &scenarios[i];
		struct rtpstat_rx rx;

		rtpstat_rx_init(&rx, 8000);

		for (size_t k = 0; k < sc->n; k++) {
			const struct pkt *p = &sc->pkts[k];
			int err = rtpstat_rx_update(&rx, p->ssrc, p->seq,
						    160u * p->seq, 160,
						    20000u * k);
			if (err != p->err)
				TEST_FAIL("'%s' packet %zu (seq %u): err %d, "
					  "expected %d", sc->name, k, p->seq,
					  err, p->err);
		}

		if (!rx.valid || rx.ssrc != sc->ssrc ||
		    rtpstat_rx_ext_max(&rx) != sc->ext_max ||
		    rtpstat_rx_expected(&rx) != sc->expected ||
		    rtpstat_rx_lost(&rx) != sc->lost ||
		    rx.expected_prev + rtpstat_rx_expected(&rx) !=
		    sc->tot_expected ||
		    rx.lost_prev + rtpstat_rx_lost(&rx) != sc->tot_lost ||
		    rx.packets != sc->packets ||
		    rx.discarded != sc->discarded ||
		    rx.ssrc_changes != sc->ssrc_changes) {
			TEST_FAIL("'%s': ssrc %08x ext_max %u expected %lld "
				  "lost %lld tot_expected %lld tot_lost %lld "
				  "packets %llu discarded %llu changes %u",
				  sc->name, rx.ssrc, rtpstat_rx_ext_max(&rx),
				  (long long)rtpstat_rx_expected(&rx),
				  (long long)rtpstat_rx_lost(&rx),
				  (long long)(rx.expected_prev +
					      rtpstat_rx_expected(&rx)),
				  (long long)(rx.lost_prev +
					      rtpstat_rx_lost(&rx)),
				  (unsigned long long)rx.packets,
				  (unsigned long long)rx.discarded,
				  rx.ssrc_changes);
		}
		TEST_EQ(rx.octets, 160 * sc->packets);
	}
}


/* a long run across many wraps keeps counting */
static void test_many_wraps(void)
{
	struct rtpstat_rx rx;
	uint16_t seq = 65000;

	rtpstat_rx_init(&rx, 8000);
	TEST_ERR(rtpstat_rx_update(&rx, A, seq++, 0, 0, 0), EAGAIN);

	for (unsigned i = 0; i < 3 * 65536; i++) {
		/* drop every 1000th packet */
		if (i % 1000 == 999) {
			++seq;
			continue;
		}
		TEST_ERR(rtpstat_rx_update(&rx, A, seq++, 0, 0, 0), 0);
	}

	/* 65001 .. 65001 + 196607: three wraps, 196 holes */
	TEST_EQ(rx.cycles, 3u << 16);
	TEST_EQ(rtpstat_rx_expected(&rx), 3 * 65536);
	TEST_EQ(rtpstat_rx_lost(&rx), 196);
}


/* A.3: fraction lost per report interval, cumulative loss */
static void test_report(void)
{
	struct rtpstat_rx rx;
	struct rtpstat_report rep;
	uint16_t seq = 1;

	rtpstat_rx_init(&rx, 8000);
	TEST_ASSERT(!rtpstat_rx_report(&rx, &rep));     /* no source yet */

	rtpstat_rx_update(&rx, A, seq++, 0, 0, 0);      /* probation */

	/* interval 1: seq 2..101, every 4th lost; 101 is lost, so the
	 * highest is 100: 99 expected, 24 lost */
	for (unsigned i = 0; i < 100; i++, seq++) {
		if (i % 4 == 3)
			continue;
		TEST_ERR(rtpstat_rx_update(&rx, A, seq, 0, 0, 0), 0);
	}
	TEST_ASSERT(rtpstat_rx_report(&rx, &rep));
	TEST_EQ(rep.ssrc, A);
	TEST_EQ(rep.fraction_lost, 24 * 256 / 99);
	TEST_EQ(rep.cum_lost, 24);
	TEST_EQ(rep.ext_max_seq, 100);

	/* interval 2: 102..111 arrive; 101 now counts as lost here: 1 of 11 */
	for (unsigned i = 0; i < 10; i++)
		TEST_ERR(rtpstat_rx_update(&rx, A, seq++, 0, 0, 0), 0);
	TEST_ASSERT(rtpstat_rx_report(&rx, &rep));
	TEST_EQ(rep.fraction_lost, 256 / 11);
	TEST_EQ(rep.cum_lost, 25);
	TEST_EQ(rx.fraction_lost, 256 / 11);

	/* interval 3: duplicates only: fraction 0 (never negative) */
	TEST_ERR(rtpstat_rx_update(&rx, A, (uint16_t)(seq - 1), 0, 0, 0), 0);
	TEST_ERR(rtpstat_rx_update(&rx, A, (uint16_t)(seq - 1), 0, 0, 0), 0);
	TEST_ASSERT(rtpstat_rx_report(&rx, &rep));
	TEST_EQ(rep.fraction_lost, 0);
	TEST_EQ(rep.cum_lost, 23);

	/* interval 4: half lost */
	for (unsigned i = 0; i < 20; i++, seq++) {
		if (i & 1)
			TEST_ERR(rtpstat_rx_update(&rx, A, seq, 0, 0, 0), 0);
	}
	TEST_ASSERT(rtpstat_rx_report(&rx, &rep));
	TEST_EQ(rep.fraction_lost, 128);
}


/* cumulative loss is clamped to the 24-bit signed field */
static void test_report_clamp(void)
{
	struct rtpstat_rx rx;
	struct rtpstat_report rep;
	uint16_t seq = 0;

	rtpstat_rx_init(&rx, 8000);
	rtpstat_rx_update(&rx, A, seq++, 0, 0, 0);
	rtpstat_rx_update(&rx, A, seq++, 0, 0, 0);

	/* over 0x800000 lost: 2998 lost per packet (a step of 2999 is still
	 * below RTPSTAT_MAX_DROPOUT) */
	for (unsigned i = 0; i < 0x800000 / 2998 + 2; i++) {
		seq += 2998;
		TEST_ERR(rtpstat_rx_update(&rx, A, seq++, 0, 0, 0), 0);
	}
	TEST_ASSERT(rtpstat_rx_lost(&rx) > 0x7fffff);
	TEST_ASSERT(rtpstat_rx_report(&rx, &rep));
	TEST_EQ(rep.cum_lost, 0x7fffff);
	TEST_ASSERT(rep.fraction_lost > 250);
}


/* A.8: J += (|D| - J) / 16, on synthetic schedules */
static void test_jitter(void)
{
	static const struct {
		const char *name;
		uint32_t rate;
		uint32_t delay_us[2];   /* alternating network delay */
		double steady_units;    /* |D| in clock units */
	} t[] = {
		{"constant delay", 8000, {30000, 30000}, 0},
		{"alternating 0/10 ms, 8 kHz", 8000, {0, 10000}, 80},
		{"alternating 5/25 ms, 8 kHz", 8000, {5000, 25000}, 160},
		{"alternating 0/10 ms, 48 kHz", 48000, {0, 10000}, 480},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const uint32_t step = t[i].rate / 50;   /* 20 ms */
		struct rtpstat_rx rx;
		double model = 0;

		rtpstat_rx_init(&rx, t[i].rate);

		for (unsigned k = 0; k < 400; k++) {
			const uint64_t send_us = 1000000 + 20000ull * k;
			const uint64_t arr = send_us + t[i].delay_us[k & 1];
			int err = rtpstat_rx_update(&rx, A, (uint16_t)k,
						    5000 + step * k, 160, arr);

			TEST_ERR(err, k == 0 ? EAGAIN : 0);

			/* reference model, floating point; the first counted
			 * packet only sets the transit */
			if (k >= 2)
				model += (t[i].steady_units - model) / 16;

			/* integer form: rounding plus the floor of J/16 */
			if (fabs(rtpstat_rx_jitter(&rx) - model) > 2.0)
				TEST_FAIL("'%s' packet %u: jitter %u, model "
					  "%.2f", t[i].name, k,
					  rtpstat_rx_jitter(&rx), model);
		}

		/* exact first steps of the integer estimator */
		if (t[i].steady_units == 80) {
			struct rtpstat_rx r2;
			rtpstat_rx_init(&r2, 8000);
			rtpstat_rx_update(&r2, A, 0, 0, 0, 0);
			rtpstat_rx_update(&r2, A, 1, 160, 0, 20000);
			TEST_EQ(r2.jitter_q4, 0);
			rtpstat_rx_update(&r2, A, 2, 320, 0, 50000);
			TEST_EQ(r2.jitter_q4, 80);      /* J = 5 */
			TEST_EQ(rtpstat_rx_jitter(&r2), 5);
			rtpstat_rx_update(&r2, A, 3, 480, 0, 60000);
			TEST_EQ(r2.jitter_q4, 80 + 80 - 5);
		}

		TEST_ASSERT(fabs(rtpstat_rx_jitter(&rx) - t[i].steady_units)
			    <= 1.0);
	}
}


/* a timestamp jump cannot overflow the estimator; a new SSRC restarts it */
static void test_jitter_robust(void)
{
	struct rtpstat_rx rx;

	rtpstat_rx_init(&rx, 8000);
	rtpstat_rx_update(&rx, A, 0, 0, 0, 0);
	rtpstat_rx_update(&rx, A, 1, 160, 0, 20000);
	for (unsigned k = 2; k < 200; k++) {
		/* timestamps leap by 2^31 every packet */
		rtpstat_rx_update(&rx, A, (uint16_t)k, k * 0x80000000u, 0,
				  20000ull * k);
	}
	/* saturates instead of wrapping round to a small value */
	TEST_EQ(rx.jitter_q4, UINT32_MAX);

	/* new source: jitter starts over at 0 */
	rtpstat_rx_update(&rx, B, 10, 0, 0, 5000000);
	rtpstat_rx_update(&rx, B, 11, 160, 0, 5020000);
	TEST_EQ(rx.ssrc, B);
	TEST_EQ(rtpstat_rx_jitter(&rx), 0);
}


/* a DTMF event in the stream (RFC 4733: one timestamp for all its packets,
 * the end packet sent three times) is not jitter */
static void test_jitter_telephone_event(void)
{
	struct rtpstat_rx rx;
	uint16_t seq = 0;
	unsigned k;

	rtpstat_rx_init(&rx, 8000);

	for (k = 0; k < 100; k++) {
		uint32_t ts = 160 * k;
		unsigned copies = 1;

		/* packets 40..49 are an event that started at packet 40 */
		if (k >= 40 && k < 50)
			ts = 160 * 40;
		if (k == 49)
			copies = 3;

		for (unsigned c = 0; c < copies; c++) {
			(void)rtpstat_rx_update(&rx, A, seq, ts, 4,
						20000ull * k + 30000);
		}
		++seq;
	}

	TEST_EQ(rx.packets, 99 + 2);
	TEST_EQ(rtpstat_rx_jitter(&rx), 0);
}


static void test_tx(void)
{
	struct rtpstat_tx tx;

	rtpstat_tx_init(&tx, 8000);
	TEST_EQ(rtpstat_tx_ts_at(&tx, 0), 0);

	for (unsigned k = 0; k < 50; k++)
		rtpstat_tx_update(&tx, 1000 + 160 * k, 160, 20000ull * k);

	TEST_EQ(tx.packets, 50);
	TEST_EQ(tx.octets, 50 * 160);
	TEST_EQ(tx.last_ts, 1000 + 160 * 49);

	/* 5 ms after the last packet: 40 clock units later */
	TEST_EQ(rtpstat_tx_ts_at(&tx, 20000ull * 49 + 5000), 1000 + 160 * 49 + 40);
	/* a time before the last packet gives the last timestamp */
	TEST_EQ(rtpstat_tx_ts_at(&tx, 0), 1000 + 160 * 49);

	/* clock conversion: exact and wrapping */
	TEST_EQ(rtpstat_us2clock(1000000, 8000), 8000);
	TEST_EQ(rtpstat_us2clock(125, 8000), 1);
	TEST_EQ(rtpstat_us2clock(124, 8000), 0);
	TEST_EQ(rtpstat_us2clock(1000000ull * 1000000, 48000),
		(uint32_t)(48000ull * 1000000));
}


static void test_args(void)
{
	TEST_ERR(rtpstat_rx_update(NULL, A, 0, 0, 0, 0), EINVAL);
	TEST_EQ(rtpstat_rx_expected(NULL), 0);
	TEST_EQ(rtpstat_rx_jitter(NULL), 0);
	rtpstat_rx_init(NULL, 8000);
	rtpstat_tx_init(NULL, 8000);
	rtpstat_tx_update(NULL, 0, 0, 0);
}


int main(void)
{
	test_scenarios();
	test_many_wraps();
	test_report();
	test_report_clamp();
	test_jitter();
	test_jitter_robust();
	test_jitter_telephone_event();
	test_tx();
	test_args();

	printf("test_rtpstat: ok\n");
	return 0;
}
