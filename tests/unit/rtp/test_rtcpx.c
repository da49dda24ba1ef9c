/**
 * @file test_rtcpx.c  RTCP compound build/parse, RTT, interval, statistics
 *
 * Two sessions exchange RTP and RTCP over a simulated path with injected
 * clocks (monotonic [us] and NTP derived from it), so report blocks,
 * LSR/DLSR and the round-trip time have exact expected values. Malformed
 * input is table-driven; every valid compound is also cut at every length
 * and corrupted at every byte, with the session compared before and after.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <re.h>
#include "test.h"
#include "rtpkt.h"
#include "rtcpx.h"

#define US   0x0a0a0a0au
#define PEER 0x0b0b0b0bu
#define S_US   0x0a, 0x0a, 0x0a, 0x0a
#define S_PEER 0x0b, 0x0b, 0x0b, 0x0b
#define S_X    0x0c, 0x0c, 0x0c, 0x0c

/* wall clock = a fixed Unix time + the monotonic clock */
#define WALL0_US 1700000000000000ull

static uint64_t ntp_at(uint64_t mono_us)
{
	return rtcpx_ntp_from_unix_us(WALL0_US + mono_us);
}


/* one RTP packet from one session to the other */
static void rtp_xfer(struct rtcpx *from, struct rtcpx *to, uint16_t seq,
		     uint32_t ts, uint64_t send_us, uint64_t delay_us,
		     bool lost)
{
	uint8_t buf[RTPKT_HDR_SIZE + 160];
	struct rtpkt pkt;

	memset(buf, 0xff, sizeof(buf));
	TEST_ERR(rtpkt_encode(buf, sizeof(buf), false, 0, seq, ts,
			      from->ssrc), 0);
	rtcpx_rtp_sent(from, ts, 160, send_us);

	if (lost)
		return;

	TEST_ERR(rtpkt_decode(&pkt, buf, sizeof(buf)), 0);
	(void)rtcpx_rtp_recv(to, &pkt, send_us + delay_us);
}


static bool drop_a2b(unsigned k)
{
	return k == 10 || k == 20 || k == 30 || k == 40 || k == 45;
}


/* a -> b loses 5 of 50, b -> a loses none; 30 ms each way, no jitter;
 * a reports at 1000 ms, b at 1200 ms */
static void test_roundtrip(void)
{
	struct rtcpx a, b;
	struct rtcpx_stats st;
	uint8_t buf[RTCPX_BUF_SIZE];
	size_t len;

	TEST_ERR(rtcpx_init(&a, US, "a@callbridge", 8000, 8000), 0);
	TEST_ERR(rtcpx_init(&b, PEER, "b@carrier", 8000, 8000), 0);

	for (unsigned k = 0; k < 50; k++) {
		const uint64_t t = 20000ull * k;
		rtp_xfer(&a, &b, (uint16_t)(100 + k), 1000 + 160 * k, t,
			 30000, drop_a2b(k));
		rtp_xfer(&b, &a, (uint16_t)(65500 + k), 7 + 160 * k, t + 5000,
			 30000, false);
	}

	/* a: SR with a block about b */
	TEST_ERR(rtcpx_encode(&a, buf, sizeof(buf), &len, false, 1000000,
			      ntp_at(1000000)), 0);
	TEST_EQ(buf[0], 0x81);
	TEST_EQ(buf[1], RTCPX_SR);
	TEST_EQ((buf[2] << 8 | buf[3]), 12);      /* 52 bytes */
	TEST_EQ(len, 52 + 4 + 4 + 16);            /* SDES: 2+12+1 -> 16 */
	TEST_EQ(buf[52 + 1], RTCPX_SDES);
	TEST_ASSERT(!memcmp(buf + 52 + 10, "a@callbridge", 12));

	TEST_ERR(rtcpx_decode(&b, buf, len, 1030000, ntp_at(1030000)), 0);
	TEST_ASSERT(b.have_sr);
	TEST_EQ(b.sr_ssrc, US);
	TEST_EQ(b.sr_ntp, ntp_at(1000000));
	/* the last packet left at 980 ms with ts 1000 + 160 * 49; 20 ms on */
	TEST_EQ(b.sr_rtp_ts, 1000 + 160 * 49 + 160);
	TEST_EQ(b.sr_packets, 50);
	TEST_EQ(b.sr_octets, 50 * 160);
	TEST_ASSERT(b.have_rb);
	TEST_EQ(b.rb.ssrc, PEER);
	TEST_EQ(b.rb.fraction_lost, 0);
	TEST_EQ(b.rb.cum_lost, 0);
	TEST_EQ(b.rb.ext_max_seq, 65536 + (uint16_t)(65500 + 49));
	TEST_EQ(b.rb.jitter, 0);
	TEST_EQ(b.rb.lsr, 0);
	TEST_ASSERT(!b.have_rtt);                 /* no LSR: no sample */

	/* b: SR with a block about a: LSR/DLSR of a's SR */
	TEST_ERR(rtcpx_encode(&b, buf, sizeof(buf), &len, false, 1200000,
			      ntp_at(1200000)), 0);
	TEST_EQ(buf[1], RTCPX_SR);

	TEST_ERR(rtcpx_decode(&a, buf, len, 1230000, ntp_at(1230000)), 0);
	TEST_ASSERT(a.have_rb);
	TEST_EQ(a.rb.ssrc, US);
	/* b counted a's seq 101..149 (100 was probation): 49 expected,
	 * 5 lost */
	TEST_EQ(a.rb.cum_lost, 5);
	TEST_EQ(a.rb.fraction_lost, 5 * 256 / 49);
	TEST_EQ(a.rb.ext_max_seq, 149);
	TEST_EQ(a.rb.lsr, (uint32_t)(ntp_at(1000000) >> 16));
	TEST_EQ(a.rb.dlsr, 170000ull * 65536 / 1000000);
	TEST_ASSERT(a.have_rtt);
	/* 230 ms since a's SR, 170 ms held at b: 60 ms */
	TEST_ASSERT(fabs(a.rtt_us / 1000.0 - 60.0) < 0.05);

	rtcpx_stats(&a, &st);
	TEST_EQ(st.rx_packets, 49);
	TEST_EQ(st.rx_expected, 49);
	TEST_EQ(st.rx_lost, 0);
	TEST_EQ(st.tx_packets, 50);
	TEST_EQ(st.tx_octets, 50 * 160);
	TEST_ASSERT(st.remote_valid);
	TEST_EQ(st.remote_fraction_lost, 5 * 256 / 49);
	TEST_EQ(st.remote_lost, 5);
	TEST_ASSERT(st.remote_jitter_ms == 0);
	TEST_ASSERT(st.rtt_valid);
	TEST_ASSERT(fabs(st.rtt_ms - 60.0) < 0.05);
	TEST_EQ(st.rtcp_sent, 1);
	TEST_EQ(st.rtcp_recv, 1);
	TEST_EQ(st.rtcp_bad, 0);
	TEST_ASSERT(!st.bye);

	rtcpx_stats(&b, &st);
	TEST_EQ(st.rx_packets, 44);
	TEST_EQ(st.rx_expected, 49);
	TEST_EQ(st.rx_lost, 5);
	TEST_EQ(st.rx_fraction_lost, 5 * 256 / 49);
	TEST_EQ(st.rx_discarded, 1);
	TEST_ASSERT(!st.rtt_valid);

	/* end of call: a's BYE reaches b */
	TEST_ERR(rtcpx_encode(&a, buf, sizeof(buf), &len, true, 1400000,
			      ntp_at(1400000)), 0);
	/* nothing sent or heard since the last report: RR, no block */
	TEST_EQ(buf[0], 0x80);
	TEST_EQ(buf[1], RTCPX_RR);
	TEST_EQ(len, 8 + 24 + 8);
	TEST_EQ(buf[len - 8], 0x81);
	TEST_EQ(buf[len - 7], RTCPX_BYE);
	TEST_ERR(rtcpx_decode(&b, buf, len, 1430000, ntp_at(1430000)), 0);
	rtcpx_stats(&b, &st);
	TEST_ASSERT(st.bye);
}


/* jitter reaches the stats in [ms] */
static void test_stats_jitter(void)
{
	struct rtcpx a, b;
	struct rtcpx_stats st;

	TEST_ERR(rtcpx_init(&a, US, "a", 8000, 8000), 0);
	TEST_ERR(rtcpx_init(&b, PEER, "b", 8000, 8000), 0);

	for (unsigned k = 0; k < 500; k++)
		rtp_xfer(&b, &a, (uint16_t)k, 160 * k, 20000ull * k,
			 (k & 1) ? 10000 : 0, false);

	rtcpx_stats(&a, &st);
	TEST_ASSERT(fabs(st.rx_jitter_ms - 10.0) <= 0.125); /* 1 unit */
}


/* exact bytes of a minimal RR, SR/RR choice, BYE */
static void test_encode_shape(void)
{
	static const uint8_t rr_x[] = {
		0x80, 201, 0, 1, S_US,
		0x81, 202, 0, 2, S_US, 1, 1, 'x', 0,
	};
	static const uint8_t bye[] = {0x81, 203, 0, 1, S_US};
	struct rtcpx rc, rcl, *rcp;
	uint8_t buf[RTCPX_BUF_SIZE];
	char cname[RTCPX_CNAME_MAX + 1];
	size_t len;

	TEST_ERR(rtcpx_init(&rc, US, "x", 8000, 8000), 0);

	TEST_ERR(rtcpx_encode(&rc, buf, sizeof(buf), &len, false, 0,
			      ntp_at(0)), 0);
	TEST_EQ(len, sizeof(rr_x));
	TEST_ASSERT(!memcmp(buf, rr_x, sizeof(rr_x)));

	TEST_ERR(rtcpx_encode(&rc, buf, sizeof(buf), &len, true, 0,
			      ntp_at(0)), 0);
	TEST_EQ(len, sizeof(rr_x) + sizeof(bye));
	TEST_ASSERT(!memcmp(buf + sizeof(rr_x), bye, sizeof(bye)));

	/* SR only in an interval in which we sent */
	rtcpx_rtp_sent(&rc, 0, 160, 0);
	TEST_ERR(rtcpx_encode(&rc, buf, sizeof(buf), &len, false, 10000,
			      ntp_at(10000)), 0);
	TEST_EQ(buf[1], RTCPX_SR);
	TEST_ERR(rtcpx_encode(&rc, buf, sizeof(buf), &len, false, 20000,
			      ntp_at(20000)), 0);
	TEST_EQ(buf[1], RTCPX_RR);

	/* the longest CNAME fits RTCPX_BUF_SIZE, with SR, block and BYE */
	memset(cname, 'c', RTCPX_CNAME_MAX);
	cname[RTCPX_CNAME_MAX] = '\0';
	TEST_ERR(rtcpx_init(&rcl, US, cname, 8000, 8000), 0);
	rcp = &rcl;
	rtcpx_rtp_sent(rcp, 0, 160, 0);
	{
		struct rtcpx peer;
		TEST_ERR(rtcpx_init(&peer, PEER, "p", 8000, 8000), 0);
		for (unsigned k = 0; k < 3; k++)
			rtp_xfer(&peer, rcp, (uint16_t)k, 160 * k,
				 20000ull * k, 0, false);
	}
	TEST_ERR(rtcpx_encode(rcp, buf, sizeof(buf), &len, true, 0,
			      ntp_at(0)), 0);
	TEST_EQ(len, 52 + 8 + 260 + 8);
	TEST_EQ(buf[52 + 9], RTCPX_CNAME_MAX);
	TEST_ERR(rtcpx_decode(rcp, buf, len, 0, ntp_at(0)), 0); /* own: ok */

	/* EOVERFLOW changes nothing */
	{
		struct rtcpx before;
		rtcpx_rtp_sent(&rc, 160, 160, 40000);
		memcpy(&before, &rc, sizeof(rc));
		TEST_ERR(rtcpx_encode(&rc, buf, 20, &len, false, 50000,
				      ntp_at(50000)), EOVERFLOW);
		TEST_ASSERT(!memcmp(&before, &rc, sizeof(rc)));
	}

	TEST_ERR(rtcpx_encode(NULL, buf, sizeof(buf), &len, false, 0, 0),
		 EINVAL);
	TEST_ERR(rtcpx_encode(&rc, NULL, sizeof(buf), &len, false, 0, 0),
		 EINVAL);
	TEST_ERR(rtcpx_encode(&rc, buf, sizeof(buf), NULL, false, 0, 0),
		 EINVAL);
}


/* valid compounds from the peer; offsets of each packet boundary */
struct valid {
	const char *name;
	uint8_t data[160];
	size_t len;
	size_t bounds[8];      /* end offsets of the packets */
	size_t nbounds;
};

#define RB_US(frac, lost, ext, jit, lsr, dlsr)				\
	S_US, frac, 0, 0, lost, 0, 0, 0, ext, 0, 0, 0, jit,		\
	lsr, lsr, lsr, lsr, 0, 0, dlsr, 0
#define RB_X S_X, 9, 0, 0, 9, 0, 0, 0, 9, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0

static const struct valid valids[] = {
	{"RR, SDES",
	 {0x81, 201, 0, 7, S_PEER, RB_US(64, 3, 200, 40, 0, 0),
	  0x81, 202, 0, 3, S_PEER, 1, 4, 'p', 'e', 'e', 'r', 0, 0}, 48,
	 {32, 48}, 2},

	{"SR with two blocks, SDES",
	 {0x82, 200, 0, 18, S_PEER, 0xe0, 0, 0, 1, 0x80, 0, 0, 0,
	  0, 0, 0, 99, 0, 0, 0, 7, 0, 0, 4, 0,
	  RB_X, RB_US(32, 1, 50, 8, 0, 0),
	  0x81, 202, 0, 2, S_PEER, 1, 1, 'p', 0}, 76 + 12,
	 {76, 88}, 2},

	{"RR, SDES, APP, XR, RTPFB, PSFB, BYE with reason, padded",
	 {0x80, 201, 0, 1, S_PEER,
	  0x81, 202, 0, 3, S_PEER, 1, 4, 'p', 'e', 'e', 'r', 0, 0,
	  0x80, 204, 0, 2, S_PEER, 'n', 'a', 'm', 'e',
	  0x80, 207, 0, 1, S_PEER,
	  0x81, 205, 0, 3, S_PEER, S_US, 0, 5, 0, 0,
	  0x81, 206, 0, 2, S_PEER, S_US,
	  0xa1, 203, 0, 4, S_PEER, 3, 'b', 'y', 'e', 0, 0, 0, 0, 0, 0, 0, 8},
	 8 + 16 + 12 + 8 + 16 + 12 + 20,
	 {8, 24, 36, 44, 60, 72, 92}, 7},

	{"SDES: two chunks, three items, END on a word boundary",
	 {0x80, 201, 0, 1, S_PEER,
	  0x82, 202, 0, 9, S_PEER, 1, 2, 'p', 'p', 2, 4, 'n', 'a', 'm',
	  'e', 7, 0, 0, 0, 0, 0, S_X, 1, 6, 'x', 'x', 'x', 'x', 'x', 'x',
	  0, 0, 0, 0}, 8 + 40,
	 {8, 48}, 2},

	{"RR with no blocks, empty SDES, BYE without SSRC",
	 {0x80, 201, 0, 1, S_PEER, 0x80, 202, 0, 0, 0x80, 203, 0, 0}, 16,
	 {8, 12, 16}, 3},
};


static void fresh(struct rtcpx *rc)
{
	TEST_ERR(rtcpx_init(rc, US, "us", 8000, 8000), 0);
}


static void test_decode_valid(void)
{
	struct rtcpx rc;

	/* RR block about us is recorded */
	fresh(&rc);
	TEST_ERR(rtcpx_decode(&rc, valids[0].data, valids[0].len, 5, 0), 0);
	TEST_ASSERT(rc.have_rb);
	TEST_EQ(rc.rb.fraction_lost, 64);
	TEST_EQ(rc.rb.cum_lost, 3);
	TEST_EQ(rc.rb.ext_max_seq, 200);
	TEST_EQ(rc.rb.jitter, 40);
	TEST_EQ(rc.rb_recv_us, 5);
	TEST_ASSERT(!rc.have_sr);
	TEST_EQ(rc.n_recv, 1);

	/* SR: sender info recorded, the block about someone else skipped */
	fresh(&rc);
	TEST_ERR(rtcpx_decode(&rc, valids[1].data, valids[1].len, 7, 0), 0);
	TEST_ASSERT(rc.have_sr);
	TEST_EQ(rc.sr_ssrc, PEER);
	TEST_EQ(rc.sr_ntp, 0xe000000180000000ull);
	TEST_EQ(rc.sr_rtp_ts, 99);
	TEST_EQ(rc.sr_packets, 7);
	TEST_EQ(rc.sr_octets, 1024);
	TEST_EQ(rc.sr_recv_us, 7);
	TEST_EQ(rc.rb.ssrc, US);
	TEST_EQ(rc.rb.fraction_lost, 32);
	TEST_EQ(rc.rb.cum_lost, 1);

	/* unknown types skipped, BYE with reason and padding */
	fresh(&rc);
	TEST_ERR(rtcpx_decode(&rc, valids[2].data, valids[2].len, 0, 0), 0);
	TEST_ASSERT(rc.bye);          /* no valid source yet: SR-less BYE */
	{
		/* ... but only for the peer we receive */
		struct rtcpx r2;
		fresh(&r2);
		rtpstat_rx_update(&r2.rx, 0x0d0d0d0d, 1, 0, 0, 0);
		rtpstat_rx_update(&r2.rx, 0x0d0d0d0d, 2, 0, 0, 0);
		TEST_ERR(rtcpx_decode(&r2, valids[2].data, valids[2].len, 0,
				      0), 0);
		TEST_ASSERT(!r2.bye);
	}

	fresh(&rc);
	TEST_ERR(rtcpx_decode(&rc, valids[3].data, valids[3].len, 0, 0), 0);
	fresh(&rc);
	TEST_ERR(rtcpx_decode(&rc, valids[4].data, valids[4].len, 0, 0), 0);

	/* negative cumulative loss (duplicates) decodes as negative */
	{
		const uint8_t rr[] = {0x81, 201, 0, 7, S_PEER, S_US, 0,
				      0xff, 0xff, 0xfe, 0, 0, 0, 1, 0, 0, 0,
				      0, 0, 0, 0, 0, 0, 0, 0, 0};
		TEST_EQ(sizeof(rr), 32);
		fresh(&rc);
		TEST_ERR(rtcpx_decode(&rc, rr, sizeof(rr), 0, 0), 0);
		TEST_EQ(rc.rb.cum_lost, -2);
	}
}


/* reports that claim our own SSRC (a loop or a reflector) are ignored */
static void test_decode_own_ssrc(void)
{
	const uint8_t rr[] = {0x81, 201, 0, 7, S_US, RB_US(9, 9, 9, 9, 0, 0)};
	const uint8_t sr[] = {0x80, 200, 0, 6, S_US, 1, 2, 3, 4, 5, 6, 7, 8,
			      0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1};
	struct rtcpx rc;

	TEST_EQ(sizeof(rr), 32);
	TEST_EQ(sizeof(sr), 28);
	fresh(&rc);
	TEST_ERR(rtcpx_decode(&rc, rr, sizeof(rr), 0, 0), 0);
	TEST_ASSERT(!rc.have_rb);
	TEST_ERR(rtcpx_decode(&rc, sr, sizeof(sr), 0, 0), 0);
	TEST_ASSERT(!rc.have_sr);
}


/* a negative A - LSR - DLSR gives no RTT sample */
static void test_rtt_guard(void)
{
	/* LSR 0x00010000 (1 s), DLSR 0x00020000 (2 s), A = 2 s */
	const uint8_t rr[] = {0x81, 201, 0, 7, S_PEER, S_US, 0, 0, 0, 0,
			      0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0};
	struct rtcpx rc;

	TEST_EQ(sizeof(rr), 32);
	fresh(&rc);
	TEST_ERR(rtcpx_decode(&rc, rr, sizeof(rr), 0, 2ull << 32), 0);
	TEST_ASSERT(rc.have_rb);
	TEST_ASSERT(!rc.have_rtt);

	/* A = 3.5 s: 0.5 s */
	TEST_ERR(rtcpx_decode(&rc, rr, sizeof(rr), 0,
			      (3ull << 32) | 0x80000000u), 0);
	TEST_ASSERT(rc.have_rtt);
	TEST_EQ(rc.rtt_us, 500000);
}


struct bad {
	const char *name;
	uint8_t data[64];
	size_t len;
};

static const struct bad bads[] = {
	{"empty", {0}, 0},
	{"3 bytes", {0x80, 201, 0}, 3},
	{"version 1", {0x40, 201, 0, 1, S_PEER}, 8},
	{"version 3", {0xc0, 201, 0, 1, S_PEER}, 8},
	{"first is SDES", {0x80, 202, 0, 0}, 4},
	{"first is BYE", {0x81, 203, 0, 1, S_PEER}, 8},
	{"first is APP", {0x80, 204, 0, 2, S_PEER, 'n', 'a', 'm', 'e'}, 12},
	{"length overruns", {0x80, 201, 0, 2, S_PEER}, 8},
	{"length huge", {0x80, 201, 0xff, 0xff, S_PEER}, 8},
	{"2 trailing bytes", {0x80, 201, 0, 1, S_PEER, 0x80, 202}, 10},
	{"second version 0", {0x80, 201, 0, 1, S_PEER, 0x00, 202, 0, 0}, 12},
	{"second PT 100", {0x80, 201, 0, 1, S_PEER, 0x80, 100, 0, 0}, 12},
	{"second PT 191", {0x80, 201, 0, 1, S_PEER, 0x80, 191, 0, 0}, 12},
	{"padding not last", {0xa0, 201, 0, 1, S_PEER, 0x80, 202, 0, 0}, 12},
	{"padding on the first of two", {0xa0, 201, 0, 2, S_PEER, 0, 0, 0, 4,
					 0x80, 202, 0, 0}, 16},
	{"second PT 224", {0x80, 201, 0, 1, S_PEER, 0x80, 224, 0, 0}, 12},
	{"second PT 255", {0x80, 201, 0, 1, S_PEER, 0x80, 255, 0, 0}, 12},
	{"padding count 0", {0xa0, 201, 0, 2, S_PEER, 0, 0, 0, 0}, 12},
	{"padding too long", {0xa0, 201, 0, 2, S_PEER, 0, 0, 0, 9}, 12},
	{"padding eats header", {0xa0, 201, 0, 1, S_PEER}, 8},
	{"SR too short for sender info", {0x80, 200, 0, 1, S_PEER}, 8},
	{"SR RC 1, no block", {0x81, 200, 0, 6, S_PEER, 0, 0, 0, 0, 0, 0, 0,
			       0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 28},
	{"RR RC 2, one block", {0x82, 201, 0, 7, S_PEER,
				RB_US(0, 0, 0, 0, 0, 0)}, 32},
	{"RR RC 1, padding eats the block", {0xa1, 201, 0, 7, S_PEER,
		S_US, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 4}, 32},
	{"SDES item overruns", {0x80, 201, 0, 1, S_PEER,
			       0x81, 202, 0, 2, S_PEER, 1, 9, 'p', 'e'}, 20},
	{"SDES chunk without END", {0x80, 201, 0, 1, S_PEER,
				   0x81, 202, 0, 2, S_PEER, 1, 2, 'p', 'e'},
	 20},
	{"SDES item type at the end", {0x80, 201, 0, 1, S_PEER,
				      0x81, 202, 0, 2, S_PEER, 1, 1, 'p', 5},
	 20},
	{"SDES SC 2, one chunk", {0x80, 201, 0, 1, S_PEER,
				 0x82, 202, 0, 2, S_PEER, 1, 1, 'p', 0}, 20},
	{"SDES SC 1, no chunk", {0x80, 201, 0, 1, S_PEER, 0x81, 202, 0, 0},
	 12},
	{"SDES junk after chunks", {0x80, 201, 0, 1, S_PEER,
				   0x81, 202, 0, 3, S_PEER, 1, 1, 'p', 0,
				   0, 0, 0, 7}, 24},
	{"BYE SC 2, one SSRC", {0x80, 201, 0, 1, S_PEER,
			       0x82, 203, 0, 1, S_PEER}, 16},
	{"BYE reason overruns", {0x80, 201, 0, 1, S_PEER,
				0x81, 203, 0, 2, S_PEER, 9, 'b', 'y', 'e'},
	 20},
};


/* decode must fail with EBADMSG and change nothing but the bad counter */
static void expect_bad(struct rtcpx *rc, const uint8_t *data, size_t len,
		       const char *what, size_t at)
{
	struct rtcpx before;
	uint8_t *copy = malloc(len ? len : 1);
	int err;

	TEST_ASSERT(copy);
	if (len)
		memcpy(copy, data, len);
	memcpy(&before, rc, sizeof(before));

	err = rtcpx_decode(rc, copy, len, 123456, ntp_at(123456));
	if (err != EBADMSG)
		TEST_FAIL("'%s' (%zu): err %d, expected EBADMSG", what, at,
			  err);

	TEST_EQ(rc->n_bad, before.n_bad + 1);
	rc->n_bad = before.n_bad;
	if (memcmp(&before, rc, sizeof(before)))
		TEST_FAIL("'%s' (%zu): state changed", what, at);
	free(copy);
}


/* a session with state everywhere, so changes would show */
static void busy(struct rtcpx *rc)
{
	const uint8_t sr[] = {0x81, 200, 0, 12, S_PEER, 0xe0, 0, 0, 1, 0, 0,
			      0, 0, 0, 0, 0, 9, 0, 0, 0, 7, 0, 0, 4, 0,
			      RB_US(1, 1, 1, 1, 0, 0)};

	TEST_EQ(sizeof(sr), 52);
	fresh(rc);
	for (unsigned k = 0; k < 5; k++) {
		rtpstat_rx_update(&rc->rx, PEER, (uint16_t)k, 160 * k, 160,
				  20000ull * k);
		rtcpx_rtp_sent(rc, 160 * k, 160, 20000ull * k);
	}
	TEST_ERR(rtcpx_decode(rc, sr, sizeof(sr), 100000, ntp_at(100000)),
		 0);
}


static void test_decode_bad(void)
{
	struct rtcpx rc;

	busy(&rc);
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++)
		expect_bad(&rc, bads[i].data, bads[i].len, bads[i].name, 0);

	TEST_ERR(rtcpx_decode(NULL, bads[0].data, 1, 0, 0), EINVAL);
	TEST_ERR(rtcpx_decode(&rc, NULL, 1, 0, 0), EINVAL);
}


/* every valid compound: cut at every length, then each byte corrupted */
static void test_cut_and_corrupt(void)
{
	uint8_t ours[RTCPX_BUF_SIZE];
	struct valid own;
	struct rtcpx rc, peer;
	size_t len;

	/* add one of our own encodings (SR + block + SDES + BYE) */
	TEST_ERR(rtcpx_init(&peer, PEER, "peer@example.org", 8000, 8000), 0);
	busy(&rc);
	for (unsigned k = 0; k < 5; k++) {
		rtp_xfer(&rc, &peer, (uint16_t)k, 160 * k, 20000ull * k, 0,
			 false);
	}
	rtcpx_rtp_sent(&peer, 0, 160, 0);
	TEST_ERR(rtcpx_encode(&peer, ours, sizeof(ours), &len, true, 200000,
			      ntp_at(200000)), 0);
	TEST_ASSERT(len <= sizeof(own.data));
	memset(&own, 0, sizeof(own));
	own.name = "own encoding";
	memcpy(own.data, ours, len);
	own.len = len;
	own.bounds[0] = 52;
	own.bounds[1] = len - 8;
	own.bounds[2] = len;
	own.nbounds = 3;

	for (size_t i = 0; i <= sizeof(valids) / sizeof(valids[0]); i++) {
		const struct valid *v = i < sizeof(valids) / sizeof(valids[0])
			? &valids[i] : &own;

		TEST_EQ(v->bounds[v->nbounds - 1], v->len);

		for (size_t l = 0; l < v->len; l++) {
			bool boundary = false;

			for (size_t b = 0; b < v->nbounds; b++)
				boundary |= (v->bounds[b] == l);

			/* a cut on a packet boundary is a shorter valid
			 * compound, unless the padding moved */
			if (boundary) {
				busy(&rc);
				TEST_ERR(rtcpx_decode(&rc, v->data, l, 0, 0),
					 0);
				continue;
			}

			busy(&rc);
			expect_bad(&rc, v->data, l, v->name, l);
		}

		/* corrupt each byte in several ways: no crash, and a
		 * rejection leaves the session untouched */
		for (size_t pos = 0; pos < v->len; pos++) {
			static const uint8_t x[] = {0x01, 0x20, 0x80, 0xff};

			for (size_t j = 0; j < sizeof(x); j++) {
				uint8_t *d = malloc(v->len);
				struct rtcpx before;
				int err;

				TEST_ASSERT(d);
				memcpy(d, v->data, v->len);
				d[pos] ^= x[j];

				busy(&rc);
				memcpy(&before, &rc, sizeof(rc));
				err = rtcpx_decode(&rc, d, v->len, 0, 0);
				if (err) {
					TEST_ERR(err, EBADMSG);
					rc.n_bad = before.n_bad;
					TEST_ASSERT(!memcmp(&before, &rc,
							    sizeof(rc)));
				}
				free(d);
			}
		}
	}
}


/* random multi-byte mutations and lengths */
static void test_fuzz(void)
{
	uint32_t r = 88172645u;
	unsigned ok = 0, bad = 0;
	struct rtcpx rc;

	busy(&rc);

	for (unsigned iter = 0; iter < 100000; iter++) {
		const struct valid *v =
			&valids[iter % (sizeof(valids) / sizeof(valids[0]))];
		uint8_t *d = malloc(v->len);
		size_t len = v->len;
		int err;

		TEST_ASSERT(d);
		memcpy(d, v->data, v->len);
		for (int k = 0; k < 2; k++) {
			r ^= r << 13; r ^= r >> 17; r ^= r << 5;
			d[r % v->len] = (uint8_t)(r >> 8);
		}
		r ^= r << 13; r ^= r >> 17; r ^= r << 5;
		if (r & 1)
			len = (r >> 1) % (v->len + 1);

		err = rtcpx_decode(&rc, d, len, 0, 0);
		if (err) {
			TEST_ERR(err, EBADMSG);
			++bad;
		}
		else {
			++ok;
		}
		free(d);
	}

	TEST_ASSERT(ok > 1000);
	TEST_ASSERT(bad > 1000);
	TEST_EQ(rc.n_bad, bad);
}


static void test_interval(void)
{
	static const struct {
		struct rtcpx_ivl ivl;
		uint32_t expect_ms;
	} t[] = {
		/* members, senders, we_sent, initial, bw [B/s], avg [B] */
		{{2, 2, true, false, 400, 100}, 5000},   /* the minimum */
		{{2, 2, true, true, 400, 100}, 2500},    /* initial: half */
		{{2, 2, true, false, 40, 200}, 10000},   /* bandwidth-bound */
		{{2, 1, false, false, 40, 200}, 10000},  /* 1 of 2: no split */
		{{10, 2, true, false, 40, 100}, 20000},  /* senders' quarter */
		{{10, 2, false, false, 40, 100}, 26666}, /* receivers' 3/4 */
		{{0, 0, false, false, 10, 100}, 10000},  /* members 0 -> 1 */
		{{2, 2, true, false, 0, 100}, 5000},     /* no bandwidth */
	};
	uint32_t s1, s2;
	uint64_t sum = 0;
	uint32_t lo = UINT32_MAX, hi = 0;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (rtcpx_interval_ms(&t[i].ivl, NULL) != t[i].expect_ms)
			TEST_FAIL("interval case %zu: %u, expected %u", i,
				  rtcpx_interval_ms(&t[i].ivl, NULL),
				  t[i].expect_ms);
	}

	/* randomised: [0.5, 1.5) x 5000 ms, mean 5000, deterministic */
	s1 = 42;
	s2 = 42;
	for (unsigned k = 0; k < 2000; k++) {
		const uint32_t v = rtcpx_interval_ms(&t[0].ivl, &s1);

		TEST_EQ(v, rtcpx_interval_ms(&t[0].ivl, &s2));
		TEST_ASSERT(v >= 2500 && v < 7500);
		sum += v;
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	TEST_ASSERT(fabs(sum / 2000.0 - 5000) < 150);
	TEST_ASSERT(lo < 2700 && hi > 7300);

	s1 = 42;
	s2 = 43;
	{
		unsigned same = 0;
		for (unsigned k = 0; k < 100; k++)
			same += rtcpx_interval_ms(&t[0].ivl, &s1) ==
				rtcpx_interval_ms(&t[0].ivl, &s2);
		TEST_ASSERT(same < 10);
	}

	/* a zero state still randomises */
	s1 = 0;
	TEST_ASSERT(rtcpx_interval_ms(&t[0].ivl, &s1) >= 2500);
	TEST_ASSERT(s1 != 0);
	TEST_EQ(rtcpx_interval_ms(NULL, NULL), 0);
}


static void test_next_interval(void)
{
	struct rtcpx a, b;
	uint8_t buf[RTCPX_BUF_SIZE];
	size_t len;
	uint32_t v1, v2;

	TEST_ERR(rtcpx_init(&a, US, "a", 8000, 8000), 0);
	TEST_ERR(rtcpx_init(&b, US, "a", 8000, 8000), 0);
	rtcpx_set_seed(&a, 7);
	rtcpx_set_seed(&b, 7);

	/* before the first report: 2.5 s minimum */
	v1 = rtcpx_next_interval_ms(&a, 64000);
	TEST_ASSERT(v1 >= 1250 && v1 < 3750);
	TEST_EQ(v1, rtcpx_next_interval_ms(&b, 64000));

	TEST_ERR(rtcpx_encode(&a, buf, sizeof(buf), &len, false, 0, 0), 0);
	for (unsigned k = 0; k < 50; k++) {
		v2 = rtcpx_next_interval_ms(&a, 64000);
		TEST_ASSERT(v2 >= 2500 && v2 < 7500);
	}
	TEST_EQ(rtcpx_next_interval_ms(NULL, 64000), RTCPX_MIN_INTERVAL_MS);
}


static void test_init(void)
{
	struct rtcpx rc;
	char longname[RTCPX_CNAME_MAX + 2];

	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';

	TEST_ERR(rtcpx_init(NULL, US, "x", 8000, 8000), EINVAL);
	TEST_ERR(rtcpx_init(&rc, US, NULL, 8000, 8000), EINVAL);
	TEST_ERR(rtcpx_init(&rc, US, "", 8000, 8000), EINVAL);
	TEST_ERR(rtcpx_init(&rc, US, longname, 8000, 8000), EINVAL);
	TEST_ERR(rtcpx_init(&rc, US, "x", 0, 8000), EINVAL);
	TEST_ERR(rtcpx_init(&rc, US, "x", 8000, 0), EINVAL);
	TEST_ERR(rtcpx_init(&rc, US, "x", 48000, 8000), 0);
	TEST_EQ(rc.rx.clock_rate, 48000);
	TEST_EQ(rc.tx.clock_rate, 8000);
	TEST_STREQ(rc.cname, "x");

	TEST_EQ(rtcpx_rtp_recv(NULL, NULL, 0), EINVAL);
}


static void test_ntp(void)
{
	const uint64_t now = rtcpx_ntp_now();

	TEST_EQ(rtcpx_ntp_from_unix_us(0), 2208988800ull << 32);
	TEST_EQ(rtcpx_ntp_from_unix_us(500000),
		(2208988800ull << 32) | 0x80000000u);
	TEST_EQ(rtcpx_ntp_from_unix_us(1000000 + 250000),
		(2208988801ull << 32) | 0x40000000u);
	/* the real clock is after 2020 (NTP seconds 3786825600) */
	TEST_ASSERT((now >> 32) > 3786825600ull);
}


int main(void)
{
	test_roundtrip();
	test_stats_jitter();
	test_encode_shape();
	test_decode_valid();
	test_decode_own_ssrc();
	test_rtt_guard();
	test_decode_bad();
	test_cut_and_corrupt();
	test_fuzz();
	test_interval();
	test_next_interval();
	test_init();
	test_ntp();

	printf("test_rtcpx: ok\n");
	return 0;
}
