/**
 * @file test_dtmf.c  RFC 4733 telephone-event receiver and generator
 *
 * Receiver: SIPp's own pcaps (parsed here, RTP decoded by rtpkt), then a
 * table of synthetic packet schedules (lost start, lost ends, repeated
 * ends, reordering, the same digit twice, sequence and timestamp wrap,
 * SSRC change, long events in segments, several reports in a packet,
 * flash), each with the exact event log expected, then malformed input
 * and a seeded fuzz run that checks the handler's invariants.
 *
 * Generator: packets checked field by field (timestamp, marker, E bit,
 * duration, volume, three ends, gap, segments of long events), queueing
 * and its limits, and its output fed back through rtpkt into the
 * receiver, which must log the same digits and durations.
 *
 * The event log is a string: a press of 5 logs "5", its end "5/100"
 * (duration in ms), or "5/100!" when no end packet arrived.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <re.h>
#include "test.h"
#include "rtpkt.h"
#include "dtmf.h"
#include "pcapf.h"

#ifndef CB_SIPP_PCAPS
#define CB_SIPP_PCAPS "/usr/share/sip-tester"
#endif


/*
 * The event log and the handler's invariants
 */

struct log {
	char s[1024];
	bool open;         /* a press is reported and its end is not */
	char digit;        /* the open press's digit */
	uint32_t ts;       /* and its timestamp */
	unsigned presses, ends;
};

static void log_h(const struct dtmf_event *ev, void *arg)
{
	struct log *lg = arg;
	size_t n = strlen(lg->s);
	char item[32];

	TEST_ASSERT(ev->digit == dtmf_digit(ev->code));
	TEST_ASSERT(ev->digit != 0);

	if (!ev->end) {
		/* a press only after the previous one ended */
		TEST_ASSERT(!lg->open);
		TEST_EQ(ev->duration, 0);
		TEST_ASSERT(!ev->end_lost);
		lg->open = true;
		lg->digit = ev->digit;
		lg->ts = ev->ts;
		++lg->presses;
		snprintf(item, sizeof(item), "%c", ev->digit);
	}
	else {
		/* an end only of the open press */
		TEST_ASSERT(lg->open);
		TEST_EQ(ev->digit, lg->digit);
		TEST_EQ(ev->ts, lg->ts);
		lg->open = false;
		++lg->ends;
		snprintf(item, sizeof(item), "%c/%u%s", ev->digit,
			 ev->duration, ev->end_lost ? "!" : "");
	}

	TEST_ASSERT(n + strlen(item) + 2 < sizeof(lg->s));
	if (n)
		lg->s[n++] = ' ';
	strcpy(lg->s + n, item);
}


static void test_codes(void)
{
	static const char all[] = "0123456789*#ABCD";

	for (int c = 0; c <= DTMF_CODE_MAX; c++) {
		TEST_EQ(dtmf_digit(c), all[c]);
		TEST_EQ(dtmf_code(all[c]), c);
	}
	TEST_EQ(dtmf_code('a'), 12);
	TEST_EQ(dtmf_code('d'), 15);
	TEST_EQ(dtmf_code('E'), -1);
	TEST_EQ(dtmf_code('e'), -1);
	TEST_EQ(dtmf_code(' '), -1);
	TEST_EQ(dtmf_code('\0'), -1);
	TEST_EQ(dtmf_code('!'), -1);
	TEST_EQ(dtmf_digit(16), 0);
	TEST_EQ(dtmf_digit(-1), 0);
	TEST_EQ(dtmf_digit(255), 0);
}


/*
 * SIPp's pcaps
 */

struct pcase {
	const char *file;
	char digit;
};

static const struct pcase pcaps[] = {
	{"dtmf_2833_0.pcap", '0'}, {"dtmf_2833_1.pcap", '1'},
	{"dtmf_2833_2.pcap", '2'}, {"dtmf_2833_3.pcap", '3'},
	{"dtmf_2833_4.pcap", '4'}, {"dtmf_2833_5.pcap", '5'},
	{"dtmf_2833_6.pcap", '6'}, {"dtmf_2833_7.pcap", '7'},
	{"dtmf_2833_8.pcap", '8'}, {"dtmf_2833_9.pcap", '9'},
	{"dtmf_2833_pound.pcap", '#'}, {"dtmf_2833_star.pcap", '*'},
};

enum { SIPP_PT = 101 };


/* feed every telephone-event packet of a pcap; returns packets fed */
static unsigned feed_pcap(struct dtmf_rx *rx, const char *file)
{
	struct pcapf_reader *r = NULL;
	struct pcapf_udp u;
	char path[512];
	unsigned n = 0;
	int err;

	snprintf(path, sizeof(path), "%s/%s", CB_SIPP_PCAPS, file);
	err = pcapf_open(&r, path);
	if (err)
		TEST_FAIL("%s: %s (is sip-tester installed?)", path,
			  strerror(err));

	for (unsigned i = 0; i < 10000; i++) {
		struct rtpkt pkt;

		err = pcapf_next(r, &u);
		if (err == ENOENT)
			break;
		TEST_ERR(err, 0);
		if (rtpkt_decode(&pkt, u.payload, u.len) ||
		    pkt.pt != SIPP_PT)
			continue;
		TEST_ERR(dtmf_rx_put(rx, &pkt, u.t_us), 0);
		++n;
	}

	mem_deref(r);

	return n;
}


/* RTP timestamp of a pcap's first telephone-event packet */
static uint32_t pcap_first_ts(const char *file)
{
	struct pcapf_reader *r = NULL;
	struct pcapf_udp u;
	char path[512];
	uint32_t ts = 0;

	snprintf(path, sizeof(path), "%s/%s", CB_SIPP_PCAPS, file);
	TEST_ERR(pcapf_open(&r, path), 0);
	for (unsigned i = 0; i < 10000 && !pcapf_next(r, &u); i++) {
		struct rtpkt pkt;

		if (!rtpkt_decode(&pkt, u.payload, u.len) &&
		    pkt.pt == SIPP_PT) {
			ts = pkt.ts;
			break;
		}
	}
	mem_deref(r);

	return ts;
}


static void test_sipp_pcaps(void)
{
	size_t order[ARRAY_SIZE(pcaps)];
	uint32_t first[ARRAY_SIZE(pcaps)];
	struct dtmf_rx all;
	struct log lg_all;
	char expect[1024] = "";

	for (size_t i = 0; i < ARRAY_SIZE(pcaps); i++) {
		struct dtmf_rx rx;
		struct log lg;
		char want[32];
		unsigned n;

		memset(&lg, 0, sizeof(lg));
		TEST_ERR(dtmf_rx_init(&rx, 8000, log_h, &lg), 0);

		n = feed_pcap(&rx, pcaps[i].file);
		TEST_ASSERT(n >= 4);

		/* each pcap: one event of 2240 units at 8 kHz, the end
		   sent three times */
		snprintf(want, sizeof(want), "%c %c/280", pcaps[i].digit,
			 pcaps[i].digit);
		if (strcmp(lg.s, want))
			TEST_FAIL("%s: got \"%s\", want \"%s\"",
				  pcaps[i].file, lg.s, want);
		TEST_EQ(rx.stats.presses, 1);
		TEST_EQ(rx.stats.ends_lost, 0);
		TEST_EQ(rx.stats.repeats, 2);
		TEST_EQ(rx.stats.bad, 0);

		/* nothing more on flush or after any time */
		dtmf_rx_poll(&rx, UINT64_MAX / 2);
		dtmf_rx_flush(&rx);
		TEST_STREQ(lg.s, want);

		order[i] = i;
		first[i] = pcap_first_ts(pcaps[i].file);
	}

	/* all files, in RTP timestamp order, into one receiver: they come
	   from one capture (one SSRC), so this is a caller keying twelve
	   digits */
	for (size_t i = 1; i < ARRAY_SIZE(pcaps); i++) {
		for (size_t j = i; j > 0 && first[order[j - 1]] >
			     first[order[j]]; j--) {
			size_t t = order[j];

			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	}

	memset(&lg_all, 0, sizeof(lg_all));
	TEST_ERR(dtmf_rx_init(&all, 8000, log_h, &lg_all), 0);
	for (size_t i = 0; i < ARRAY_SIZE(pcaps); i++) {
		char d = pcaps[order[i]].digit;
		char want[32];

		(void)feed_pcap(&all, pcaps[order[i]].file);
		snprintf(want, sizeof(want), "%s%c %c/280", i ? " " : "",
			 d, d);
		strcat(expect, want);
	}

	TEST_STREQ(lg_all.s, expect);
	TEST_EQ(all.stats.presses, ARRAY_SIZE(pcaps));
	TEST_EQ(all.stats.ends_lost, 0);
}


/*
 * Synthetic schedules
 */

enum kind { PKT, POLL, FLUSH };

struct sp {
	enum kind kind;
	uint32_t ssrc;
	uint32_t ts;
	bool m;
	uint8_t code;
	bool e;
	uint16_t dur;
	uint32_t t_ms;     /* arrival, or poll time */
	uint16_t seq;
};

struct scase {
	const char *name;
	uint32_t clock;
	struct sp p[48];
	size_t n;
	const char *log;
	uint64_t repeats;
	uint64_t ends_lost;
};

/* P(ts, marker, code, end, duration, arrival ms, seq) */
#define P(ts, m, c, e, d, t, s) {PKT, 1, ts, m, c, e, d, t, s}
#define PS(ssrc, ts, m, c, e, d, t, s) {PKT, ssrc, ts, m, c, e, d, t, s}
#define POLLAT(t) {POLL, 0, 0, 0, 0, 0, 0, t, 0}
#define FLUSHNOW  {FLUSH, 0, 0, 0, 0, 0, 0, 0, 0}

/* a clean 100 ms '5' at 8 kHz, ts 1000, seq from s, arrival from t */
#define CLEAN5(t, s)							\
	P(1000, 1, 5, 0, 160, t, s), P(1000, 0, 5, 0, 320, t + 20, s + 1), \
	P(1000, 0, 5, 0, 480, t + 40, s + 2),				\
	P(1000, 0, 5, 0, 640, t + 60, s + 3),				\
	P(1000, 0, 5, 0, 800, t + 80, s + 4),				\
	P(1000, 0, 5, 1, 800, t + 100, s + 5),				\
	P(1000, 0, 5, 1, 800, t + 120, s + 6),				\
	P(1000, 0, 5, 1, 800, t + 140, s + 7)

static const struct scase scases[] = {
	{"clean event", 8000, {CLEAN5(0, 10)}, 8, "5 5/100", 2, 0},

	{"start packet (marker) lost", 8000,
	 {P(1000, 0, 5, 0, 320, 20, 11), P(1000, 0, 5, 0, 480, 40, 12),
	  P(1000, 0, 5, 1, 800, 100, 15), P(1000, 0, 5, 1, 800, 120, 16),
	  P(1000, 0, 5, 1, 800, 140, 17)}, 5,
	 "5 5/100", 2, 0},

	{"all end packets lost: closed by the timeout, once", 8000,
	 {P(1000, 1, 5, 0, 160, 0, 10), P(1000, 0, 5, 0, 320, 20, 11),
	  P(1000, 0, 5, 0, 480, 40, 12), POLLAT(100), POLLAT(539),
	  POLLAT(540), POLLAT(2000), FLUSHNOW}, 8,
	 "5 5/60!", 0, 1},

	{"end packets lost, closed by the next event", 8000,
	 {P(1000, 1, 5, 0, 160, 0, 10), P(1000, 0, 5, 0, 320, 20, 11),
	  P(2600, 1, 6, 0, 160, 200, 12), P(2600, 0, 6, 1, 800, 280, 13),
	  P(2600, 0, 6, 1, 800, 300, 14)}, 5,
	 "5 5/40! 6 6/100", 1, 1},

	{"end lost, closed at hang-up (flush)", 8000,
	 {P(1000, 1, 5, 0, 160, 0, 10), FLUSHNOW, FLUSHNOW,
	  P(1000, 0, 5, 0, 320, 20, 11)}, 4,
	 "5 5/20!", 1, 1},

	{"only an end packet arrives", 8000,
	 {P(1000, 0, 9, 1, 800, 100, 15)}, 1, "9 9/100", 0, 0},

	{"ends retransmitted with one sequence number (as SIPp)", 8000,
	 {P(1000, 1, 5, 0, 0, 0, 10), P(1000, 0, 5, 0, 160, 20, 11),
	  P(1000, 0, 5, 1, 320, 40, 12), P(1000, 0, 5, 1, 320, 40, 12),
	  P(1000, 0, 5, 1, 320, 40, 12), P(1000, 0, 5, 1, 320, 60, 12)}, 6,
	 "5 5/40", 3, 0},

	{"duplicated start and updates", 8000,
	 {P(1000, 1, 5, 0, 160, 0, 10), P(1000, 1, 5, 0, 160, 1, 10),
	  P(1000, 0, 5, 0, 320, 20, 11), P(1000, 0, 5, 0, 320, 21, 11),
	  P(1000, 0, 5, 1, 400, 40, 12)}, 5,
	 "5 5/50", 0, 0},

	{"reordered: updates after the end are ignored", 8000,
	 {P(1000, 0, 5, 0, 320, 20, 11), P(1000, 0, 5, 1, 800, 25, 15),
	  P(1000, 1, 5, 0, 160, 30, 10), P(1000, 0, 5, 0, 640, 35, 14),
	  P(1000, 0, 5, 1, 800, 40, 16)}, 5,
	 "5 5/100", 3, 0},

	{"reordered updates grow the duration to the largest", 8000,
	 {P(1000, 1, 5, 0, 160, 0, 10), P(1000, 0, 5, 0, 640, 20, 13),
	  P(1000, 0, 5, 0, 320, 21, 11), P(1000, 0, 5, 0, 480, 22, 12),
	  FLUSHNOW}, 5,
	 "5 5/80!", 0, 1},

	{"the same digit twice is two presses", 8000,
	 {CLEAN5(0, 10),
	  P(3000, 1, 5, 0, 160, 300, 18), P(3000, 0, 5, 0, 320, 320, 19),
	  P(3000, 0, 5, 1, 400, 340, 20), P(3000, 0, 5, 1, 400, 360, 21),
	  P(3000, 0, 5, 1, 400, 380, 22)}, 13,
	 "5 5/100 5 5/50", 4, 0},

	{"the same digit twice, second start lost", 8000,
	 {CLEAN5(0, 10),
	  P(3000, 0, 5, 0, 320, 320, 19), P(3000, 0, 5, 1, 400, 340, 20)}, 10,
	 "5 5/100 5 5/50", 2, 0},

	{"timestamps going back by more than 5 s: a new press", 8000,
	 {P(100000, 1, 1, 0, 160, 0, 10), P(100000, 0, 1, 1, 320, 20, 11),
	  P(50000, 1, 2, 0, 160, 500, 12), P(50000, 0, 2, 1, 320, 520, 13),
	  P(49000, 0, 3, 1, 320, 530, 14)}, 5,
	 "1 1/40 2 2/40", 1, 0},

	{"a late packet of the previous event is ignored", 8000,
	 {P(1000, 1, 5, 0, 160, 0, 10), P(1000, 0, 5, 1, 320, 20, 11),
	  P(2000, 1, 7, 0, 160, 100, 14), P(1000, 0, 5, 1, 320, 101, 12),
	  P(1000, 1, 5, 0, 160, 102, 9), P(2000, 0, 7, 1, 320, 120, 15)}, 6,
	 "5 5/40 7 7/40", 2, 0},

	{"sequence numbers wrap", 8000,
	 {P(1000, 1, 1, 0, 160, 0, 65534), P(1000, 0, 1, 0, 320, 20, 65535),
	  P(1000, 0, 1, 1, 400, 40, 0), P(1000, 0, 1, 1, 400, 60, 1),
	  P(1400, 1, 2, 0, 160, 100, 2), P(1400, 0, 2, 1, 320, 120, 3)}, 6,
	 "1 1/50 2 2/40", 1, 0},

	{"timestamps wrap between events and inside a segment", 8000,
	 {P(0xffffff00, 1, 3, 0, 160, 0, 1),
	  P(0xffffff00, 0, 3, 1, 320, 20, 2),
	  P(0x00000100, 1, 4, 0, 160, 100, 3),
	  P(0xffffff00, 0, 3, 1, 320, 101, 2),
	  P(0x00000100, 0, 4, 1, 800, 140, 4)}, 5,
	 "3 3/40 4 4/100", 1, 0},

	{"a new SSRC with older timestamps starts afresh", 8000,
	 {PS(1, 90000, 1, 5, 0, 160, 0, 10),
	  PS(1, 90000, 0, 5, 0, 320, 20, 11),
	  PS(2, 500, 1, 7, 0, 160, 40, 700),
	  PS(2, 500, 0, 7, 1, 800, 120, 704),
	  PS(1, 90000, 0, 5, 1, 480, 130, 12)}, 5,
	 "5 5/40! 7 7/100 5 5/60", 0, 1},

	{"a different code at the same timestamp is a new press", 8000,
	 {P(1000, 1, 1, 0, 160, 0, 1), P(1000, 0, 1, 1, 320, 20, 2),
	  P(1000, 1, 2, 0, 160, 100, 3), P(1000, 0, 2, 1, 320, 120, 4)}, 4,
	 "1 1/40 2 2/40", 0, 0},

	{"flash (16) is ignored, DTMF around it still counts", 8000,
	 {P(1000, 1, 16, 0, 160, 0, 1), P(1000, 0, 16, 1, 800, 20, 2),
	  P(2000, 1, 3, 0, 160, 100, 3), P(2000, 0, 3, 1, 320, 120, 4),
	  P(3000, 0, 16, 1, 800, 200, 5)}, 5,
	 "3 3/40", 0, 0},

	{"48 kHz clock", 48000,
	 {P(96000, 1, 11, 0, 960, 0, 1), P(96000, 0, 11, 0, 1920, 20, 2),
	  P(96000, 0, 11, 1, 4800, 80, 5), P(96000, 0, 11, 1, 4800, 100, 6)},
	 4, "# #/100", 1, 0},

	{"long event in two segments (48 kHz, 2 s)", 48000,
	 {P(1000, 1, 10, 0, 960, 0, 1),
	  P(1000, 0, 10, 0, 40000, 830, 42),
	  P(1000, 0, 10, 0, 65280, 1360, 68),
	  P(1000, 0, 10, 0, 65535, 1380, 69),
	  P(1000 + 65535, 0, 10, 0, 1665, 1400, 70),
	  P(1000 + 65535, 0, 10, 0, 20000, 1780, 89),
	  P(1000, 0, 10, 0, 65535, 1781, 69),
	  P(1000 + 65535, 0, 10, 1, 30465, 2020, 101),
	  P(1000 + 65535, 0, 10, 1, 30465, 2040, 102)}, 9,
	 "* */2000", 2, 0},

	{"long event, last update of the first segment lost", 48000,
	 {P(1000, 1, 10, 0, 960, 0, 1),
	  P(1000, 0, 10, 0, 65280, 1360, 68),
	  P(1000 + 65535, 0, 10, 0, 1665, 1400, 70),
	  P(1000 + 65535, 0, 10, 1, 30465, 2020, 101)}, 4,
	 "* */2000", 0, 0},

	{"no segment from a short event: same digit again", 48000,
	 {P(1000, 1, 10, 0, 960, 0, 1), P(1000, 0, 10, 0, 4800, 80, 5),
	  P(1000 + 9600, 0, 10, 0, 960, 200, 12),
	  P(1000 + 9600, 0, 10, 1, 4800, 280, 16)}, 4,
	 "* */100! * */100", 0, 1},

	{"a marked packet is never a segment", 48000,
	 {P(1000, 1, 10, 0, 960, 0, 1),
	  P(1000, 0, 10, 0, 65535, 1380, 69),
	  P(1000 + 65535, 1, 10, 0, 960, 1400, 70),
	  P(1000 + 65535, 0, 10, 1, 4800, 1480, 75)}, 4,
	 "* */1365! * */100", 0, 1},

	{"an update resets the timeout", 8000,
	 {P(1000, 1, 8, 0, 160, 0, 1), POLLAT(400),
	  P(1000, 0, 8, 0, 320, 450, 2), POLLAT(900),
	  POLLAT(950), P(1000, 0, 8, 1, 400, 951, 3)}, 6,
	 "8 8/40!", 1, 1},
};


static void run_scase(const struct scase *c)
{
	struct dtmf_rx rx;
	struct log lg;

	memset(&lg, 0, sizeof(lg));
	TEST_ERR(dtmf_rx_init(&rx, c->clock, log_h, &lg), 0);

	for (size_t i = 0; i < c->n; i++) {
		const struct sp *p = &c->p[i];
		uint64_t t = (uint64_t)p->t_ms * 1000 + 1000000;
		uint8_t buf[RTPKT_HDR_SIZE + DTMF_REPORT_SIZE];
		struct rtpkt pkt;

		switch (p->kind) {

		case PKT:
			TEST_ERR(rtpkt_encode(buf, sizeof(buf), p->m,
					      SIPP_PT, p->seq, p->ts,
					      p->ssrc), 0);
			TEST_ERR(dtmf_report_encode(buf + RTPKT_HDR_SIZE,
						    DTMF_REPORT_SIZE,
						    p->code, p->e, 10,
						    p->dur), 0);
			TEST_ERR(rtpkt_decode(&pkt, buf, sizeof(buf)), 0);
			TEST_ERR(dtmf_rx_put(&rx, &pkt, t), 0);
			break;

		case POLL:
			dtmf_rx_poll(&rx, t);
			break;

		case FLUSH:
			dtmf_rx_flush(&rx);
			break;
		}
	}

	if (strcmp(lg.s, c->log))
		TEST_FAIL("%s: got \"%s\", want \"%s\"", c->name, lg.s,
			  c->log);
	if (rx.stats.repeats != c->repeats ||
	    rx.stats.ends_lost != c->ends_lost)
		TEST_FAIL("%s: repeats %llu (want %llu), ends lost %llu "
			  "(want %llu)", c->name,
			  (unsigned long long)rx.stats.repeats,
			  (unsigned long long)c->repeats,
			  (unsigned long long)rx.stats.ends_lost,
			  (unsigned long long)c->ends_lost);
	TEST_EQ(rx.stats.presses, lg.presses);
	TEST_EQ(rx.stats.bad, 0);
}


static void test_schedules(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(scases); i++)
		run_scase(&scases[i]);
}


/* several reports in one packet (RFC 4733 section 2.5.1.5) */
static void test_multi_report(void)
{
	struct dtmf_rx rx;
	struct log lg;
	uint8_t pl[12];

	memset(&lg, 0, sizeof(lg));
	TEST_ERR(dtmf_rx_init(&rx, 8000, log_h, &lg), 0);

	/* '1' ended (400 units), then '2' starting at 1000 + 400 */
	TEST_ERR(dtmf_report_encode(pl, 4, 1, true, 10, 400), 0);
	TEST_ERR(dtmf_report_encode(pl + 4, 4, 2, false, 10, 160), 0);
	TEST_ERR(dtmf_rx_recv(&rx, 1, 1000, true, pl, 8, 0), 0);
	TEST_STREQ(lg.s, "1 1/50 2");

	/* the same packet again changes nothing */
	TEST_ERR(dtmf_rx_recv(&rx, 1, 1000, true, pl, 8, 1000), 0);
	TEST_STREQ(lg.s, "1 1/50 2");

	/* '2' continues in its own packets at its own start */
	TEST_ERR(dtmf_report_encode(pl, 4, 2, true, 10, 800), 0);
	TEST_ERR(dtmf_rx_recv(&rx, 1, 1400, false, pl, 4, 2000), 0);
	TEST_STREQ(lg.s, "1 1/50 2 2/100");

	/* three reports: '3' and '4' ended, '5' starts */
	TEST_ERR(dtmf_report_encode(pl, 4, 3, true, 10, 320), 0);
	TEST_ERR(dtmf_report_encode(pl + 4, 4, 4, true, 10, 480), 0);
	TEST_ERR(dtmf_report_encode(pl + 8, 4, 5, false, 10, 0), 0);
	TEST_ERR(dtmf_rx_recv(&rx, 1, 5000, false, pl, 12, 3000), 0);
	TEST_STREQ(lg.s, "1 1/50 2 2/100 3 3/40 4 4/60 5");
	TEST_ERR(dtmf_report_encode(pl, 4, 5, true, 10, 160), 0);
	TEST_ERR(dtmf_rx_recv(&rx, 1, 5800, false, pl, 4, 4000), 0);
	TEST_STREQ(lg.s, "1 1/50 2 2/100 3 3/40 4 4/60 5 5/20");
}


/*
 * Malformed input
 */

struct bcase {
	const char *name;
	uint8_t pl[12];
	size_t len;
	int err;
};

static const struct bcase bcases[] = {
	{"empty", {0}, 0, EBADMSG},
	{"1 byte", {5}, 1, EBADMSG},
	{"3 bytes", {5, 10, 0}, 3, EBADMSG},
	{"5 bytes", {5, 10, 0, 160, 0}, 5, EBADMSG},
	{"7 bytes", {5, 10, 0, 160, 6, 10, 0}, 7, EBADMSG},
	{"code 17", {17, 10, 0, 160}, 4, ENOTSUP},
	{"code 32 (modem)", {32, 10, 0, 160}, 4, ENOTSUP},
	{"code 255", {255, 0x8a, 0xff, 0xff}, 4, ENOTSUP},
	{"a DTMF report, then code 40", {5, 10, 0, 160, 40, 10, 0, 160},
	 8, ENOTSUP},
};


static void test_malformed(void)
{
	struct dtmf_rx rx;
	struct log lg;
	uint8_t ok[4];

	memset(&lg, 0, sizeof(lg));
	TEST_ERR(dtmf_rx_init(&rx, 8000, log_h, &lg), 0);

	for (size_t i = 0; i < ARRAY_SIZE(bcases); i++) {
		const struct bcase *b = &bcases[i];
		uint8_t *heap = mem_alloc(b->len ? b->len : 1, NULL);

		/* an exact-length heap copy: ASan sees any overread */
		memcpy(heap, b->pl, b->len);
		if (dtmf_rx_recv(&rx, 1, 1000 + (uint32_t)i * 1000, true,
				 heap, b->len, i) != b->err)
			TEST_FAIL("%s: want err %d", b->name, b->err);
		mem_deref(heap);
	}
	TEST_STREQ(lg.s, "");
	TEST_EQ(rx.stats.bad, 5);
	TEST_EQ(rx.stats.unsupported, 4);
	TEST_EQ(rx.stats.packets, ARRAY_SIZE(bcases));

	/* a good packet is still taken afterwards */
	TEST_ERR(dtmf_report_encode(ok, 4, 0, true, 10, 160), 0);
	TEST_ERR(dtmf_rx_recv(&rx, 1, 99000, false, ok, 4, 0), 0);
	TEST_STREQ(lg.s, "0 0/20");

	/* bad arguments */
	TEST_ERR(dtmf_rx_recv(NULL, 1, 0, false, ok, 4, 0), EINVAL);
	TEST_ERR(dtmf_rx_recv(&rx, 1, 0, false, NULL, 4, 0), EINVAL);
	TEST_ERR(dtmf_rx_recv(&rx, 1, 0, false, NULL, 0, 0), EBADMSG);
	TEST_ERR(dtmf_rx_put(&rx, NULL, 0), EINVAL);
	TEST_ERR(dtmf_rx_init(&rx, 0, log_h, &lg), EINVAL);
	TEST_ERR(dtmf_rx_init(&rx, 7999, log_h, &lg), EINVAL);
	TEST_ERR(dtmf_rx_init(NULL, 8000, log_h, &lg), EINVAL);
	dtmf_rx_poll(NULL, 0);
	dtmf_rx_flush(NULL);
	dtmf_rx_set_timeout(NULL, 0);
	TEST_ERR(dtmf_report_encode(ok, 3, 0, false, 10, 0), EINVAL);
	TEST_ERR(dtmf_report_encode(ok, 4, 0, false, 64, 0), EINVAL);
	TEST_ERR(dtmf_report_encode(NULL, 4, 0, false, 10, 0), EINVAL);

	/* a handler is optional */
	TEST_ERR(dtmf_rx_init(&rx, 8000, NULL, NULL), 0);
	TEST_ERR(dtmf_rx_recv(&rx, 1, 1000, true, ok, 4, 0), 0);
	TEST_EQ(rx.stats.presses, 1);
}


/* random packets: never a crash, and the handler's invariants hold */
static void test_fuzz(void)
{
	struct dtmf_rx rx;
	struct log lg;
	uint32_t x = 0x2545f491;
	uint8_t pl[12];

	memset(&lg, 0, sizeof(lg));
	TEST_ERR(dtmf_rx_init(&rx, 8000, log_h, &lg), 0);

	for (unsigned i = 0; i < 200000; i++) {
		size_t len;
		uint32_t ts;

		x ^= x << 13; x ^= x >> 17; x ^= x << 5;
		len = (x >> 4) % 13;
		for (size_t k = 0; k < len; k++) {
			x ^= x << 13; x ^= x >> 17; x ^= x << 5;
			pl[k] = (uint8_t)x;
		}
		if (len >= 4 && (x & 1))
			pl[0] &= 0x0f;     /* mostly DTMF codes */
		x ^= x << 13; x ^= x >> 17; x ^= x << 5;
		ts = (x & 0x100) ? 1000 + (x & 0x3) * 800 : x;
		(void)dtmf_rx_recv(&rx, (x >> 30) ? 1 : 2, ts, x & 2,
				   pl, len, (uint64_t)i * 5000);
		if ((i % 97) == 0)
			dtmf_rx_poll(&rx, (uint64_t)i * 5000);
		lg.s[0] = '\0';    /* invariants only */
	}

	dtmf_rx_flush(&rx);
	TEST_ASSERT(!lg.open);
	TEST_EQ(lg.presses, lg.ends);
	TEST_EQ(rx.stats.presses, lg.presses);
	TEST_ASSERT(lg.presses > 100);
}


/*
 * Generator
 */

struct tpkt {
	uint32_t ts;
	bool m, e;
	uint8_t code;
	uint16_t dur;
};

/* run ticks from ts0, step units apart; record packets (ENOENT -> "a") */
static size_t run_ticks(struct dtmf_tx *tx, uint32_t ts0, unsigned ticks,
			struct tpkt *out, size_t max, char *pattern)
{
	size_t n = 0;

	for (unsigned i = 0; i < ticks; i++) {
		struct dtmf_pkt pkt;
		int err = dtmf_tx_tick(tx, ts0 + i * tx->step, &pkt);

		if (err == ENOENT) {
			pattern[i] = 'a';
			continue;
		}
		TEST_ERR(err, 0);
		pattern[i] = pkt.end ? 'E' : 'u';

		/* the payload says what the fields say */
		TEST_EQ(pkt.payload[0], pkt.code);
		TEST_EQ(pkt.payload[1], (pkt.end ? 0x80 : 0) | tx->volume);
		TEST_EQ((pkt.payload[2] << 8) | pkt.payload[3], pkt.duration);

		TEST_ASSERT(n < max);
		out[n].ts = pkt.ts;
		out[n].m = pkt.marker;
		out[n].e = pkt.end;
		out[n].code = pkt.code;
		out[n].dur = pkt.duration;
		++n;
	}
	pattern[ticks] = '\0';

	return n;
}


static void test_tx_fields(void)
{
	static const uint16_t durs[] = {160, 320, 480, 640, 720,
					720, 720, 720};
	struct dtmf_tx tx;
	struct tpkt p[64];
	char pat[128];
	size_t n;

	/* '7' for 90 ms at 8 kHz, 20 ms: 5 updates, the last one cut to
	   the duration, 3 ends, 2 ticks of gap */
	TEST_ERR(dtmf_tx_init(&tx, 8000, 20), 0);
	TEST_ASSERT(!dtmf_tx_busy(&tx));
	TEST_ERR(dtmf_tx_push(&tx, '7', 90), 0);
	TEST_ASSERT(dtmf_tx_busy(&tx));
	TEST_EQ(dtmf_tx_queued(&tx), 1);

	n = run_ticks(&tx, 4000, 12, p, 64, pat);
	TEST_STREQ(pat, "uuuuuEEEaaaa");
	TEST_EQ(n, 8);
	for (size_t i = 0; i < n; i++) {
		TEST_EQ(p[i].ts, 4000);          /* the start, always */
		TEST_EQ(p[i].m, i == 0);         /* marker on the first */
		TEST_EQ(p[i].e, i >= 5);         /* three ends */
		TEST_EQ(p[i].code, 7);
		TEST_EQ(p[i].dur, durs[i]);
	}
	TEST_ASSERT(!dtmf_tx_busy(&tx));
	TEST_EQ(tx.events, 1);
	TEST_EQ(tx.packets, 8);

	/* 48 kHz, 100 ms, volume 20, no gap */
	TEST_ERR(dtmf_tx_init(&tx, 48000, 20), 0);
	TEST_ERR(dtmf_tx_set_volume(&tx, 20), 0);
	dtmf_tx_set_gap(&tx, 0);
	TEST_ERR(dtmf_tx_push(&tx, 'd', 100), 0);
	TEST_ERR(dtmf_tx_push(&tx, '#', 40), 0);
	n = run_ticks(&tx, 0xfffff000, 16, p, 64, pat);
	TEST_STREQ(pat, "uuuuuEEEuuEEEaaa");
	for (size_t i = 0; i < 8; i++) {
		TEST_EQ(p[i].ts, 0xfffff000);
		TEST_EQ(p[i].code, 15);
		TEST_EQ(p[i].dur, i < 5 ? 960 * (i + 1) : 4800);
	}
	/* the second event starts at its own tick, the timestamp wrapped */
	for (size_t i = 8; i < n; i++) {
		TEST_EQ(p[i].ts, (uint32_t)(0xfffff000 + 8 * 960));
		TEST_EQ(p[i].m, i == 8);
		TEST_EQ(p[i].code, 11);
		TEST_EQ(p[i].dur, i == 8 ? 960 : 1920);
	}

	/* a press shorter than a packet time: one update, three ends */
	TEST_ERR(dtmf_tx_init(&tx, 8000, 20), 0);
	TEST_ERR(dtmf_tx_push(&tx, '0', 10), 0);
	n = run_ticks(&tx, 0, 6, p, 64, pat);
	TEST_STREQ(pat, "uEEEaa");
	TEST_EQ(p[0].dur, 80);
	TEST_EQ(p[0].m, true);
	TEST_EQ(p[3].dur, 80);
}


static void test_tx_queue(void)
{
	struct dtmf_tx tx;
	struct tpkt p[256];
	char pat[256];
	size_t n;

	TEST_ERR(dtmf_tx_init(&tx, 8000, 20), 0);
	TEST_ERR(dtmf_tx_push(&tx, '1', 60), 0);
	TEST_ERR(dtmf_tx_push(&tx, '2', 40), 0);
	TEST_ERR(dtmf_tx_push(&tx, '3', 20), 0);
	TEST_EQ(dtmf_tx_queued(&tx), 3);

	/* default gap: 40 ms = 2 ticks of audio between events */
	n = run_ticks(&tx, 0, 22, p, 256, pat);
	TEST_STREQ(pat, "uuuEEEaauuEEEaauEEEaaa");
	TEST_EQ(n, 15);
	TEST_EQ(p[0].ts, 0);
	TEST_EQ(p[6].ts, 8 * 160);
	TEST_EQ(p[6].m, true);
	TEST_EQ(p[11].ts, 15 * 160);
	TEST_EQ(p[11].code, 3);
	TEST_EQ(tx.events, 3);

	/* the queue holds DTMF_TX_QUEUE presses */
	TEST_ERR(dtmf_tx_init(&tx, 8000, 20), 0);
	for (int i = 0; i < DTMF_TX_QUEUE; i++)
		TEST_ERR(dtmf_tx_push(&tx, '9', 40), 0);
	TEST_ERR(dtmf_tx_push(&tx, '9', 40), EOVERFLOW);
	TEST_EQ(dtmf_tx_queued(&tx), DTMF_TX_QUEUE);

	/* clear: the playing press completes with its ends, the rest go */
	TEST_ERR(dtmf_tx_init(&tx, 8000, 20), 0);
	TEST_ERR(dtmf_tx_push(&tx, '1', 100), 0);
	TEST_ERR(dtmf_tx_push(&tx, '2', 100), 0);
	TEST_ERR(dtmf_tx_push(&tx, '3', 100), 0);
	n = run_ticks(&tx, 0, 2, p, 256, pat);
	dtmf_tx_clear(&tx);
	TEST_EQ(dtmf_tx_queued(&tx), 1);
	n = run_ticks(&tx, 320, 12, p, 256, pat);
	TEST_STREQ(pat, "uuuEEEaaaaaa");
	for (size_t i = 0; i < n; i++)
		TEST_EQ(p[i].code, 1);
	TEST_ASSERT(!dtmf_tx_busy(&tx));

	/* clear while idle or in the gap drops everything */
	TEST_ERR(dtmf_tx_push(&tx, '4', 100), 0);
	dtmf_tx_clear(&tx);
	TEST_ASSERT(!dtmf_tx_busy(&tx));
	n = run_ticks(&tx, 0, 4, p, 256, pat);
	TEST_STREQ(pat, "aaaa");

	/* bad input */
	TEST_ERR(dtmf_tx_push(&tx, 'x', 100), EINVAL);
	TEST_ERR(dtmf_tx_push(&tx, '\0', 100), EINVAL);
	TEST_ERR(dtmf_tx_push(&tx, '5', 0), EINVAL);
	TEST_ERR(dtmf_tx_push(&tx, '5', DTMF_TX_MIN_MS - 1), EINVAL);
	TEST_ERR(dtmf_tx_push(&tx, '5', DTMF_TX_MAX_MS + 1), EINVAL);
	TEST_ERR(dtmf_tx_push(NULL, '5', 100), EINVAL);
	TEST_ERR(dtmf_tx_set_volume(&tx, 64), EINVAL);
	TEST_ERR(dtmf_tx_tick(&tx, 0, NULL), EINVAL);
	TEST_ERR(dtmf_tx_init(&tx, 0, 20), EINVAL);
	TEST_ERR(dtmf_tx_init(&tx, 8000, 0), EINVAL);
	TEST_ERR(dtmf_tx_init(&tx, 8000, 121), EINVAL);
	TEST_ERR(dtmf_tx_init(&tx, 44100, 15), EINVAL); /* 661.5 units */
	TEST_ERR(dtmf_tx_init(NULL, 8000, 20), EINVAL);
	TEST_EQ(dtmf_tx_queued(NULL), 0);
	TEST_ASSERT(!dtmf_tx_busy(NULL));

	/* an uninitialised (zeroed) generator refuses to tick */
	memset(&tx, 0, sizeof(tx));
	TEST_ERR(dtmf_tx_push(&tx, '5', 100), EINVAL);
	TEST_ERR(dtmf_tx_tick(&tx, 0, (struct dtmf_pkt *)p), EINVAL);
}


/* long events: segments of at most 0xFFFF units */
struct lcase {
	uint32_t clock;
	uint32_t ms;
	unsigned segments;
};

static const struct lcase lcases[] = {
	{48000, 1365, 1},     /* 65520 units: fits */
	{48000, 1366, 2},     /* 65568 units: one more segment */
	{48000, 2000, 2},
	{48000, 5000, 4},
	{48000, DTMF_TX_MAX_MS, 8},
	{8000, 8000, 1},      /* 64000 units */
	{8000, 10000, 2},     /* 80000 units */
};


static void test_tx_long(void)
{
	for (size_t c = 0; c < ARRAY_SIZE(lcases); c++) {
		const struct lcase *lc = &lcases[c];
		static struct tpkt p[1024];
		static char pat[1024];
		struct dtmf_tx tx;
		uint32_t step, units, seg_ts, prev = 0;
		unsigned segs = 1, ticks;
		size_t n;

		TEST_ERR(dtmf_tx_init(&tx, lc->clock, 20), 0);
		dtmf_tx_set_gap(&tx, 0);
		step = tx.step;
		units = lc->ms * (lc->clock / 1000);
		ticks = (units + step - 1) / step + DTMF_TX_ENDS;
		TEST_ERR(dtmf_tx_push(&tx, '5', lc->ms), 0);
		n = run_ticks(&tx, 777, ticks + 1, p, 1024, pat);
		TEST_EQ(n, ticks);

		seg_ts = 777;
		for (size_t i = 0; i < n; i++) {
			uint32_t elapsed = (uint32_t)(i + 1) * step;

			TEST_EQ(p[i].m, i == 0);
			if (p[i].ts != seg_ts) {
				/* a new segment: 0xFFFF after the last one,
				   which was reported full */
				TEST_EQ(p[i].ts, seg_ts + DTMF_DURATION_MAX);
				TEST_EQ(prev, DTMF_DURATION_MAX);
				seg_ts = p[i].ts;
				++segs;
			}
			if (!p[i].e && elapsed - (seg_ts - 777) <= 0xffff &&
			    elapsed < units)
				TEST_EQ(p[i].dur, elapsed - (seg_ts - 777));
			TEST_ASSERT(p[i].dur > 0);
			prev = p[i].dur;
		}
		/* the ends carry what is left in the last segment */
		TEST_EQ(p[n - 1].e, true);
		TEST_EQ(p[n - 1].dur, units - (seg_ts - 777));
		TEST_EQ(p[n - 3].dur, p[n - 1].dur);
		TEST_EQ(p[n - 4].e, false);
		if (segs != lc->segments)
			TEST_FAIL("%u Hz %u ms: %u segments, want %u",
				  lc->clock, lc->ms, segs, lc->segments);
	}
}


/* generator -> RTP -> rtpkt -> receiver: same digits, same durations */
static void test_loopback(void)
{
	static const struct {
		uint32_t clock;
		const char *digits;
		uint32_t ms[8];
	} lcases2[] = {
		{8000,  "0123", {100, 160, 40, 250}},
		{8000,  "*#AD", {60, 10, 5000, 10000}},
		{48000, "5555", {100, 100, 2000, 70}},
		{48000, "9B", {DTMF_TX_MAX_MS, 1366}},
	};

	for (size_t c = 0; c < ARRAY_SIZE(lcases2); c++) {
		struct dtmf_tx tx;
		struct dtmf_rx rx;
		struct log lg;
		char want[256] = "";
		uint16_t seq = 65530;
		uint32_t ts = 0xffff0000;
		size_t nd = strlen(lcases2[c].digits);

		memset(&lg, 0, sizeof(lg));
		TEST_ERR(dtmf_tx_init(&tx, lcases2[c].clock, 20), 0);
		TEST_ERR(dtmf_rx_init(&rx, lcases2[c].clock, log_h, &lg), 0);

		for (size_t i = 0; i < nd; i++) {
			char item[32];

			TEST_ERR(dtmf_tx_push(&tx, lcases2[c].digits[i],
					      lcases2[c].ms[i]), 0);
			snprintf(item, sizeof(item), "%s%c %c/%u",
				 i ? " " : "", lcases2[c].digits[i],
				 lcases2[c].digits[i], lcases2[c].ms[i]);
			strcat(want, item);
		}

		for (unsigned t = 0; t < 20000 && dtmf_tx_busy(&tx); t++) {
			uint8_t buf[RTPKT_HDR_SIZE + DTMF_REPORT_SIZE];
			struct dtmf_pkt pkt;
			struct rtpkt rp;

			if (!dtmf_tx_tick(&tx, ts, &pkt)) {
				TEST_ERR(rtpkt_encode(buf, sizeof(buf),
						      pkt.marker, 101, seq++,
						      pkt.ts, 0xabc), 0);
				memcpy(buf + RTPKT_HDR_SIZE, pkt.payload,
				       DTMF_REPORT_SIZE);
				TEST_ERR(rtpkt_decode(&rp, buf, sizeof(buf)),
					 0);
				TEST_ERR(dtmf_rx_put(&rx, &rp,
						     (uint64_t)t * 20000), 0);
			}
			else {
				++seq;   /* an audio packet */
			}
			dtmf_rx_poll(&rx, (uint64_t)t * 20000);
			ts += tx.step;
		}
		TEST_ASSERT(!dtmf_tx_busy(&tx));

		if (strcmp(lg.s, want))
			TEST_FAIL("loopback %zu: got \"%s\", want \"%s\"", c,
				  lg.s, want);
		TEST_EQ(rx.stats.ends_lost, 0);
		TEST_EQ(rx.stats.presses, nd);
		/* every event's two extra ends are repeats */
		TEST_EQ(rx.stats.repeats, 2 * nd);
	}
}


int main(void)
{
	test_codes();
	test_sipp_pcaps();
	test_schedules();
	test_multi_report();
	test_malformed();
	test_fuzz();
	test_tx_fields();
	test_tx_queue();
	test_tx_long();
	test_loopback();

	printf("test_dtmf: %zu pcaps, %zu schedules, %zu long cases: ok\n",
	       ARRAY_SIZE(pcaps), ARRAY_SIZE(scases),
	       ARRAY_SIZE(lcases));

	return 0;
}
