/**
 * @file test_jb.c  Jitter buffer: table-driven cases on an injectable clock
 *
 * Each case is a table of packet arrivals (time, seq, timestamp, SSRC,
 * flags) and the slots the buffer must produce, written as tokens:
 *
 *   F7      a frame: packet 7 from its start
 *   F7:80   packet 7 from sample 80 (a packet spanning slots)
 *   F1+F2   two packets in one slot (10 ms packets)
 *   L  L>6  a slot to conceal (>6: packet 6 follows, for FEC)
 *   S       silence
 *   l  s    a slot inserted to grow the delay (lost, silent)
 *   -F9     a slot skipped to shrink the delay, then packet 9
 *   X*3     three X
 *
 * The driver plays the media worker: at every arrival it puts the packet
 * and gets the slots that are due; between arrivals it jumps to
 * jb_next_due(). Every case also checks the timeline: result k is due at
 * due(0) + k * 20 ms and emitted no later than its due time + grace.
 */
#include <errno.h>
#include <stdbool.h>
#include <re_types.h>
#include <re_mem.h>
#include "jb.h"
#include "test.h"

#define MS 1000ull
#define A  0x1111u
#define B  0x2222u

enum {
	F_M    = 1,     /**< marker                                 */
	F_SID  = 2,     /**< DTX / silence descriptor               */
	F_NOTE = 4,     /**< not media: jb_note_seq() (DTMF)        */
	F_CN   = 8,     /**< comfort noise, payload type 13         */
};

struct ev {
	uint64_t t;     /**< arrival [us]                           */
	uint16_t seq;
	uint32_t ts;
	uint32_t ssrc;
	uint8_t  fl;
	uint32_t dur;   /**< [clock units], 0 to let it learn       */
};

/* packet k of the standard stream: sent every 20 ms, 160 samples */
#define P(t, seq, ts)        { (t) * MS, seq, ts, A, 0, 0 }
#define PF(t, seq, ts, fl)   { (t) * MS, seq, ts, A, fl, 0 }
#define PS(t, seq, ts, ssrc) { (t) * MS, seq, ts, ssrc, 0, 0 }
#define PD(t, seq, ts, dur)  { (t) * MS, seq, ts, A, 0, dur }

enum { MAXRES = 20000 };

/** What the driver saw */
struct run {
	struct jb *jb;
	char toks[262144];
	size_t tl;
	unsigned nres;
	uint64_t emit[MAXRES];
	uint64_t due[MAXRES];
	enum jb_kind kind[MAXRES];
	uint8_t sil_byte;       /**< first byte of a SILENCE payload     */
	uint64_t grace;
	/* optional hooks for the long runs */
	void (*on_out)(struct run *r, uint64_t now, const struct jb_out *o);
	void (*on_put)(struct run *r, uint64_t now, const struct ev *e);
	void *arg;
};


static void tok_add(struct run *r, const char *s)
{
	size_t n = strlen(s);

	TEST_ASSERT(r->tl + n + 2 < sizeof(r->toks));
	if (r->tl)
		r->toks[r->tl++] = ' ';
	memcpy(r->toks + r->tl, s, n + 1);
	r->tl += n;
}


static void record(struct run *r, uint64_t now, const struct jb_out *o)
{
	char tok[128];
	size_t n = 0;
	unsigned i;

	TEST_ASSERT(r->nres < MAXRES);
	TEST_ASSERT(o->nseg >= 1 && o->nseg <= JB_MAXSEG);

	r->emit[r->nres] = now;
	r->due[r->nres]  = o->due;
	r->kind[r->nres] = o->kind;
	++r->nres;

	if (o->inserted) {
		tok_add(r, o->kind == JB_LOST ? "l" : "s");
		goto out;
	}

	if (o->skipped)
		tok[n++] = '-';

	for (i = 0; i < o->nseg; i++) {
		const struct jb_seg *s = &o->seg[i];

		if (i)
			tok[n++] = '+';

		switch (s->kind) {

		case JB_FRAME:
			n += (size_t)snprintf(tok + n, sizeof(tok) - n, "F%u",
					      s->seq);
			if (s->off)
				n += (size_t)snprintf(tok + n, sizeof(tok) - n,
						      ":%u", s->off);
			break;

		case JB_LOST:
			tok[n++] = 'L';
			if (s->payload)
				n += (size_t)snprintf(tok + n, sizeof(tok) - n,
						      ">%u", s->seq);
			break;

		case JB_SILENCE:
			tok[n++] = 'S';
			if (s->payload && s->len)
				r->sil_byte = s->payload[0];
			break;

		default:
			TEST_FAIL("segment kind %d", s->kind);
		}
	}
	tok[n] = '\0';
	tok_add(r, tok);

 out:
	if (r->on_out)
		r->on_out(r, now, o);
}


static void put(struct run *r, uint64_t now, const struct ev *e)
{
	static const uint8_t cn[] = {40, 1, 2};
	uint8_t pl[160];
	struct jb_pkt p;

	if (r->on_put)
		r->on_put(r, now, e);

	if (e->fl & F_NOTE) {
		jb_note_seq(r->jb, e->ssrc, e->seq);
		return;
	}

	memset(&p, 0, sizeof(p));
	p.ssrc = e->ssrc;
	p.seq = e->seq;
	p.ts = e->ts;
	p.marker = (e->fl & F_M) != 0;
	p.sid = (e->fl & F_SID) != 0;
	p.dur = e->dur;

	if (e->fl & F_CN) {
		p.pt = 13;
		p.payload = cn;
		p.len = sizeof(cn);
	}
	else {
		memset(pl, (uint8_t)e->seq, sizeof(pl));
		p.pt = 0;
		p.payload = pl;
		p.len = sizeof(pl);
	}

	TEST_ERR(jb_put(r->jb, now, &p), 0);
}


/** Run the worker loop over the arrivals until `end` [us] */
static void drive(struct run *r, const struct ev *ev, size_t nev,
		  uint64_t end)
{
	struct jb_out out;
	uint64_t now = 0;
	size_t i = 0;
	unsigned guard;

	for (i = 1; i < nev; i++)
		TEST_ASSERT(ev[i].t >= ev[i - 1].t);
	i = 0;

	for (guard = 0; guard < 10000000; guard++) {
		uint64_t te = i < nev ? ev[i].t : UINT64_MAX;
		uint64_t nd = jb_next_due(r->jb);
		uint64_t t = te < nd ? te : nd;

		if (t > end)
			return;

		/* nothing is ever due in the past after a drain */
		TEST_ASSERT(t >= now);
		now = t;

		while (i < nev && ev[i].t <= now)
			put(r, now, &ev[i++]);

		while (jb_get(r->jb, now, &out) == 0)
			record(r, now, &out);
	}

	TEST_FAIL("driver did not finish");
}


/** The output timeline: one slot per 20 ms, each emitted in time */
static void check_timeline(const struct run *r, uint64_t ptime_us)
{
	unsigned k;

	for (k = 0; k < r->nres; k++) {
		if (r->due[k] != r->due[0] + k * ptime_us)
			TEST_FAIL("slot %u due %llu, expected %llu", k,
				  (unsigned long long)r->due[k],
				  (unsigned long long)(r->due[0] +
						       k * ptime_us));
		if (r->emit[k] < r->due[k] || r->emit[k] > r->due[k] + r->grace)
			TEST_FAIL("slot %u emitted at %llu, due %llu", k,
				  (unsigned long long)r->emit[k],
				  (unsigned long long)r->due[k]);
	}
}


/** Expand "X*3" into "X X X" */
static void expand(const char *in, char *out, size_t size)
{
	size_t n = 0;

	while (*in) {
		char tok[64];
		size_t tl = 0;
		unsigned rep = 1, i;

		while (*in == ' ')
			++in;
		if (!*in)
			break;
		while (*in && *in != ' ' && *in != '*' && tl < sizeof(tok) - 1)
			tok[tl++] = *in++;
		tok[tl] = '\0';
		if (*in == '*')
			rep = (unsigned)strtoul(in + 1, (char **)&in, 10);

		for (i = 0; i < rep; i++) {
			TEST_ASSERT(n + tl + 2 < size);
			if (n)
				out[n++] = ' ';
			memcpy(out + n, tok, tl);
			n += tl;
		}
	}
	out[n] = '\0';
}


/** Expected statistics; -1: not checked */
struct xst {
	int received, lost, late, duplicate, reordered, dropped;
	int concealed, silence, inserted, skipped, resyncs;
};

struct tcase {
	const char *name;
	const char *conf;        /**< "key=value ..." over the defaults */
	const struct ev *ev;
	size_t nev;
	uint64_t end_ms;
	const char *expect;
	struct xst st;
	int emit_idx;            /**< check result emit_idx's time ... */
	uint64_t emit_ms;        /**< ... is this [ms]; emit_idx < 0: no */
	int sil_byte;            /**< a SILENCE payload starts with it */
};


static void conf_apply(struct jb_conf *c, const char *s)
{
	char key[32];
	unsigned long v;

	jb_conf_default(c);
	while (s && *s) {
		size_t n = 0;

		while (*s == ' ')
			++s;
		if (!*s)
			break;
		while (*s && *s != '=' && n < sizeof(key) - 1)
			key[n++] = *s++;
		key[n] = '\0';
		TEST_ASSERT(*s == '=');
		v = strtoul(s + 1, (char **)&s, 10);
		TEST_ERR(jb_conf_set(c, key, (uint32_t)v), 0);
	}
	TEST_ERR(jb_conf_check(c, NULL), 0);
}


static void check_st(const char *name, const struct jb_stats *st,
		     const struct xst *x)
{
#define CHK(f) \
	if (x->f >= 0 && (long long)st->f != x->f) \
		TEST_FAIL("%s: " #f " %llu, expected %d", name, \
			  (unsigned long long)st->f, x->f)
	CHK(received); CHK(lost); CHK(late); CHK(duplicate); CHK(reordered);
	CHK(dropped); CHK(concealed); CHK(silence); CHK(inserted);
	CHK(skipped); CHK(resyncs);
#undef CHK
}


static const struct ev ev_clean[] = {
	P(20, 1, 160), P(40, 2, 320), P(60, 3, 480), P(80, 4, 640),
	P(100, 5, 800), P(120, 6, 960), P(140, 7, 1120), P(160, 8, 1280),
};

/* packet 3 is 25 ms late; with 40 ms of buffering it still plays */
static const struct ev ev_reorder[] = {
	P(20, 1, 160), P(40, 2, 320), P(80, 4, 640), P(85, 3, 480),
	P(100, 5, 800), P(120, 6, 960),
};

/* duplicates, one of them after the packet has played */
static const struct ev ev_dup[] = {
	P(20, 1, 160), P(40, 2, 320), P(41, 2, 320), P(60, 3, 480),
	P(61, 3, 480), P(62, 3, 480), P(63, 1, 160), P(80, 4, 640),
};

static const struct ev ev_wrap[] = {
	P(20, 65533, 0xfffffe00u), P(40, 65534, 0xfffffea0u),
	P(60, 65535, 0xffffff40u), P(80, 0, 0xffffffe0u),
	P(100, 1, 0x00000080u), P(120, 2, 0x00000120u),
};

static const struct ev ev_wrap_loss[] = {
	P(20, 65533, 0xfffffe00u), P(40, 65534, 0xfffffea0u),
	P(60, 65535, 0xffffff40u),
	P(100, 1, 0x00000080u), P(120, 2, 0x00000120u),
};

/* timestamp jumps forward by 1000 s at packet 6: no gap, no burst */
static const struct ev ev_tsfwd[] = {
	P(20, 1, 160), P(40, 2, 320), P(60, 3, 480), P(80, 4, 640),
	P(100, 5, 800), P(120, 6, 8000960), P(140, 7, 8001120),
	P(160, 8, 8001280),
};

/* timestamp jumps back by 100 s at packet 6 */
static const struct ev ev_tsback[] = {
	P(20, 1, 800160), P(40, 2, 800320), P(60, 3, 800480),
	P(80, 4, 800640), P(100, 5, 800800), P(120, 6, 960),
	P(140, 7, 1120), P(160, 8, 1280),
};

/* the same, with the marker bit on the first packet after the jump */
static const struct ev ev_tsback_m[] = {
	P(20, 1, 800160), P(40, 2, 800320), P(60, 3, 800480),
	P(80, 4, 800640), P(100, 5, 800800), PF(120, 6, 960, F_M),
	P(140, 7, 1120), P(160, 8, 1280),
};

/* a new SSRC (re-INVITE, transfer); a straggler of the old one later */
static const struct ev ev_ssrc[] = {
	P(20, 1, 160), P(40, 2, 320), P(60, 3, 480), P(80, 4, 640),
	P(100, 5, 800), PS(120, 1000, 777777, B), PS(125, 6, 960, A),
	PS(140, 1001, 777937, B), PS(160, 1002, 778097, B),
};

/* talk spurt, 500 ms of silence suppression, marker on the next spurt */
static const struct ev ev_vad[] = {
	P(20, 1, 160), P(40, 2, 320), P(60, 3, 480), P(80, 4, 640),
	P(100, 5, 800), PF(600, 6, 4800, F_M), P(620, 7, 4960),
	P(640, 8, 5120),
};

/* comfort noise (PT 13) at the start of the silence */
static const struct ev ev_cn[] = {
	P(20, 1, 160), P(40, 2, 320), P(60, 3, 480), P(80, 4, 640),
	P(100, 5, 800), PF(120, 6, 960, F_CN), PF(600, 7, 4800, F_M),
	P(620, 8, 4960),
};

/* DTX: the last packet before the pause is a silence descriptor */
static const struct ev ev_dtx[] = {
	P(20, 1, 160), P(40, 2, 320), P(60, 3, 480), P(80, 4, 640),
	PF(100, 5, 800, F_SID), P(600, 6, 4800), P(620, 7, 4960),
};

/* DTX without marker or SID, 40 ms buffered: the pause is known silence
   as soon as the next packet is here */
static const struct ev ev_dtx_buf[] = {
	P(20, 1, 160), P(40, 2, 320), P(60, 3, 480), P(80, 4, 640),
	P(100, 5, 800), P(600, 6, 4800), P(620, 7, 4960),
};

/* telephone-event packets 6..8 are not media */
static const struct ev ev_dtmf[] = {
	P(20, 1, 160), P(40, 2, 320), P(60, 3, 480), P(80, 4, 640),
	P(100, 5, 800), PF(120, 6, 960, F_NOTE), PF(140, 7, 960, F_NOTE),
	PF(160, 8, 960, F_NOTE), P(180, 9, 1440), P(200, 10, 1600),
};

/* packet 5 lost, 6 buffered: the concealed slot carries 6 for FEC */
static const struct ev ev_fec[] = {
	P(20, 1, 160), P(40, 2, 320), P(60, 3, 480), P(80, 4, 640),
	P(120, 6, 960), P(140, 7, 1120), P(160, 8, 1280),
};

/* 10 ms packets: two per slot */
static const struct ev ev_10ms[] = {
	PD(10, 1, 80, 80), PD(20, 2, 160, 80), PD(30, 3, 240, 80),
	PD(40, 4, 320, 80), PD(50, 5, 400, 80), PD(60, 6, 480, 80),
};

/* 30 ms packets: they straddle slots */
static const struct ev ev_30ms[] = {
	PD(30, 1, 240, 240), PD(60, 2, 480, 240), PD(90, 3, 720, 240),
	PD(120, 4, 960, 240), PD(150, 5, 1200, 240),
};

/* 60 ms packets: one packet, three slots */
static const struct ev ev_60ms[] = {
	PD(60, 1, 480, 480), PD(120, 2, 960, 480), PD(180, 3, 1440, 480),
};

/* 30 ms packets, duration not given: learnt from the timestamps */
static const struct ev ev_30learn[] = {
	P(30, 1, 240), P(60, 2, 480), P(90, 3, 720), P(120, 4, 960),
	P(150, 5, 1200), P(180, 6, 1440), P(210, 7, 1680),
};

/* a sequence jump of 10000 is taken when the next packet confirms it */
static const struct ev ev_seqjump[] = {
	P(20, 1, 160), P(40, 2, 320), P(60, 3, 480), P(80, 10004, 640),
	P(100, 10005, 800), P(120, 10006, 960),
};

/* packet 3 is 3 ms late: within the grace, played when it arrives */
static const struct ev ev_grace[] = {
	P(20, 1, 160), P(40, 2, 320), P(63, 3, 480), P(80, 4, 640),
	P(100, 5, 800),
};

/* the comfort-noise packet itself comes late: silence from then on */
static const struct ev ev_cn_late[] = {
	P(20, 1, 160), P(40, 2, 320), P(60, 3, 480), P(80, 4, 640),
	P(100, 5, 800), PF(130, 6, 960, F_CN), PF(300, 7, 2400, F_M),
};

/* a new source right after the old one, 40 ms buffered: the gap before
   its first packet is silence, not loss */
static const struct ev ev_ssrc_gap[] = {
	P(20, 1, 160), P(40, 2, 320), P(60, 3, 480), P(80, 4, 640),
	P(100, 5, 800), PS(130, 1000, 555, B), PS(150, 1001, 715, B),
	PS(170, 1002, 875, B),
};

/* the first packet was held up 35 ms: once the others show it, the
   excess delay goes (a frame is dropped) */
static const struct ev ev_first_late[] = {
	P(55, 1, 160), P(57, 2, 320), P(60, 3, 480), P(80, 4, 640),
	P(100, 5, 800), P(120, 6, 960),
};

/* one packet in 25 held up 60 ms: outliers do not raise the target */
static const struct ev ev_spikes[] = {
	P(20, 1, 160), P(40, 2, 320), P(60, 3, 480), P(80, 4, 640),
	P(100, 5, 800), P(120, 6, 960), P(140, 7, 1120), P(160, 8, 1280),
	P(180, 9, 1440), P(200, 10, 1600), P(220, 11, 1760),
	P(240, 12, 1920), P(260, 13, 2080), P(280, 14, 2240),
	P(300, 15, 2400), P(320, 16, 2560), P(340, 17, 2720),
	P(360, 18, 2880), P(380, 19, 3040), P(400, 20, 3200),
	P(420, 21, 3360), P(440, 22, 3520), P(460, 23, 3680),
	P(480, 24, 3840), P(520, 26, 4160), P(540, 27, 4320),
	P(560, 25, 4000), P(560, 28, 4480), P(580, 29, 4640),
	P(600, 30, 4800),
};

/* 30 ms packets without duration, 60 ms buffered: the duration is
   learnt while the first ones wait, and applies to them */
static const struct ev ev_30buf[] = {
	P(30, 1, 240), P(60, 2, 480), P(90, 3, 720), P(120, 4, 960),
	P(150, 5, 1200),
};

/* packet 2 claims 40 ms, packet 3 starts after 20: the later one wins */
static const struct ev ev_overlap[] = {
	PD(20, 1, 160, 160), PD(40, 2, 320, 320), PD(60, 3, 480, 160),
	PD(80, 4, 640, 160),
};

/* two packets with one timestamp, arriving in reverse: the later
   sequence number wins */
static const struct ev ev_same_ts[] = {
	P(20, 1, 160), P(40, 2, 320), P(60, 4, 480), P(61, 3, 480),
	P(80, 5, 640),
};

/* reordered packets claiming far-future timestamps hold no place */
static const struct ev ev_far[] = {
	P(20, 10, 160), P(40, 11, 320), P(41, 3, 900000), P(42, 4, 910000),
	P(43, 5, 920000), P(60, 12, 480), P(80, 13, 640),
};

/* a transfer back: the first source returns after the second stopped */
static const struct ev ev_ssrc_back[] = {
	P(20, 1, 160), P(40, 2, 320), P(60, 3, 480),
	PS(80, 1000, 9000, B), PS(100, 1001, 9160, B),
	PS(120, 1002, 9320, B), P(400, 4, 123456), P(420, 5, 123616),
};

#define EV(a) a, ARRAY_SIZE(a)
#define NOT -1
#define ST(rcv, lost, late, dup, reo, drop, conc, sil, ins, skip, rsy) \
	{ rcv, lost, late, dup, reo, drop, conc, sil, ins, skip, rsy }

static const struct tcase cases[] = {
	{"clean in order: no added wait", NULL, EV(ev_clean), 160,
	 "F1 F2 F3 F4 F5 F6 F7 F8",
	 ST(8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), 7, 160, NOT},

	{"reordered within the wait", "min_wait=40", EV(ev_reorder), 160,
	 "F1 F2 F3 F4 F5 F6",
	 ST(6, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0), 2, 100, NOT},

	{"reordered too late", NULL, EV(ev_reorder), 120,
	 "F1 F2 L F4 F5 F6",
	 ST(6, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0), 2, 65, NOT},

	{"duplicates", NULL, EV(ev_dup), 80,
	 "F1 F2 F3 F4",
	 ST(8, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0), NOT, 0, NOT},

	{"sequence and timestamp wrap", NULL, EV(ev_wrap), 120,
	 "F65533 F65534 F65535 F0 F1 F2",
	 ST(6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), NOT, 0, NOT},

	{"loss across the wrap", NULL, EV(ev_wrap_loss), 120,
	 "F65533 F65534 F65535 L F1 F2",
	 ST(5, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0), NOT, 0, NOT},

	{"timestamp jump forward", NULL, EV(ev_tsfwd), 160,
	 "F1 F2 F3 F4 F5 F6 F7 F8",
	 ST(8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), 5, 120, NOT},

	{"timestamp jump backward", NULL, EV(ev_tsback), 160,
	 "F1 F2 F3 F4 F5 L F7 F8",
	 ST(8, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1), 6, 140, NOT},

	{"timestamp jump backward, marker", NULL, EV(ev_tsback_m), 160,
	 "F1 F2 F3 F4 F5 F6 F7 F8",
	 ST(8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), 5, 120, NOT},

	{"SSRC change", NULL, EV(ev_ssrc), 160,
	 "F1 F2 F3 F4 F5 F1000 F1001 F1002",
	 ST(9, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1), 5, 120, NOT},

	{"SSRC change, old tail buffered", "min_wait=40", EV(ev_ssrc), 200,
	 "F1 F2 F3 F4 F5 F1000 F1001 F1002",
	 ST(9, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1), 5, 160, NOT},

	{"silence suppression, marker", NULL, EV(ev_vad), 640,
	 "F1 F2 F3 F4 F5 L*3 S*21 F6 F7 F8",
	 ST(8, 0, 0, 0, 0, 0, 3, 21, 0, 0, 0), 29, 600, NOT},

	{"comfort noise PT 13", NULL, EV(ev_cn), 620,
	 "F1 F2 F3 F4 F5 S*24 F7 F8",
	 ST(8, 0, 0, 0, 0, 0, 0, 24, 0, 0, 0), 29, 600, 40},

	{"DTX, silence descriptor", NULL, EV(ev_dtx), 620,
	 "F1 F2 F3 F4 F5 S*24 F6 F7",
	 ST(7, 0, 0, 0, 0, 0, 0, 24, 0, 0, 0), NOT, 0, NOT},

	{"DTX, next packet buffered", "min_wait=40", EV(ev_dtx_buf), 660,
	 "F1 F2 F3 F4 F5 L*3 S*21 F6 F7",
	 /* the last silent slot is known silence: emitted at its due
	    time, not after the grace */
	 ST(7, 0, 0, 0, 0, 0, 3, 21, 0, 0, 0), 28, 620, NOT},

	{"DTMF in the sequence space", NULL, EV(ev_dtmf), 200,
	 "F1 F2 F3 F4 F5 S S S F9 F10",
	 ST(7, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0), 7, 160, NOT},

	{"loss with the next packet buffered: FEC", "min_wait=40",
	 EV(ev_fec), 200,
	 "F1 F2 F3 F4 L>6 F6 F7 F8",
	 ST(7, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0), NOT, 0, NOT},

	{"10 ms packets", NULL, EV(ev_10ms), 60,
	 "F1+F2 F3+F4 F5+F6",
	 ST(6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), 0, 20, NOT},

	{"30 ms packets", NULL, EV(ev_30ms), 150,
	 "F1 F1:160+F2 F2:80 F3 F3:160+F4 F4:80",
	 ST(5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), 1, 60, NOT},

	{"60 ms packets", NULL, EV(ev_60ms), 180,
	 "F1 F1:160 F1:320 F2 F2:160 F2:320 F3",
	 ST(3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), 3, 120, NOT},

	{"30 ms packets, duration learnt", NULL, EV(ev_30learn), 230,
	 "F1 L F2:80+L F3 l F3:160+F4 F4:80 F5 F5:160+F6 F6:80 F7",
	 ST(7, 0, 1, 0, 0, 0, 3, 0, 1, 0, 0), NOT, 0, NOT},

	{"a packet late within the grace", NULL, EV(ev_grace), 100,
	 "F1 F2 F3 F4 F5",
	 ST(5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), 2, 63, NOT},

	/* its lateness (10 ms) also raises the target: one more silent
	   slot is inserted, so packet 7 plays at 320 ms */
	{"comfort noise packet late", NULL, EV(ev_cn_late), 320,
	 "F1 F2 F3 F4 F5 L s S*8 F7",
	 ST(7, 0, 1, 0, 0, 0, 1, 9, 1, 0, 0), 15, 320, NOT},

	{"new source after a short gap", "min_wait=40", EV(ev_ssrc_gap), 220,
	 "F1 F2 F3 F4 F5 S F1000 F1001 F1002",
	 ST(8, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1), 6, 180, NOT},

	/* at 75 ms packet 3 shows the delay is 35 ms too long: packet 2
	   is dropped, and the rest plays 15 ms after it arrives */
	{"first packet held up", NULL, EV(ev_first_late), 135,
	 "F1 -F3 F4 F5 F6",
	 ST(6, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0), 2, 95, NOT},

	/* the target stays 0: at the end of the stream the slots are
	   concealed, not stretched */
	{"rare spikes", NULL, EV(ev_spikes), 650,
	 "F1 F2 F3 F4 F5 F6 F7 F8 F9 F10 F11 F12 F13 F14 F15 F16 F17 F18 "
	 "F19 F20 F21 F22 F23 F24 L F26 F27 F28 F29 F30 L L",
	 ST(30, 0, 1, 0, 1, 0, 3, 0, 0, 0, 0), NOT, 0, NOT},

	{"30 ms packets, learnt while buffered", "min_wait=60",
	 EV(ev_30buf), 210,
	 "F1 F1:160+F2 F2:80 F3 F3:160+F4 F4:80 F5",
	 ST(5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), NOT, 0, NOT},

	{"overlapping packets", NULL, EV(ev_overlap), 80,
	 "F1 F2 F3 F4",
	 ST(4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), NOT, 0, NOT},

	{"same timestamp twice", "min_wait=20", EV(ev_same_ts), 100,
	 "F1 F2 F4 F5",
	 ST(5, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0), NOT, 0, NOT},

	{"reordered packets far ahead", "capacity=2", EV(ev_far), 80,
	 "F10 F11 F12 F13",
	 ST(7, 4, 0, 0, 3, 3, 0, 0, 0, 0, 0), NOT, 0, NOT},

	{"the first source comes back", NULL, EV(ev_ssrc_back), 420,
	 "F1 F2 F3 F1000 F1001 F1002 L*3 S*10 F4 F5",
	 ST(8, 0, 0, 0, 0, 0, 3, 10, 0, 0, 2), 19, 400, NOT},

	{"sequence jump, probation", NULL, EV(ev_seqjump), 120,
	 "F1 F2 F3 L F10005 F10006",
	 ST(6, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0), NOT, 0, NOT},
};


static void run_case(const struct tcase *tc)
{
	static struct run r;
	struct jb_conf conf;
	struct jb_stats st;
	char want[65536];

	memset(&r, 0, sizeof(r));
	conf_apply(&conf, tc->conf);
	TEST_ERR(jb_alloc(&r.jb, &conf), 0);
	r.grace = conf.grace * MS;

	drive(&r, tc->ev, tc->nev, tc->end_ms * MS);

	expand(tc->expect, want, sizeof(want));
	if (strcmp(r.toks, want))
		TEST_FAIL("%s:\n  got    %s\n  wanted %s", tc->name, r.toks,
			  want);

	check_timeline(&r, conf.ptime * MS);

	jb_stats(r.jb, &st);
	check_st(tc->name, &st, &tc->st);
	TEST_EQ(st.slots, r.nres);

	if (tc->emit_idx >= 0) {
		TEST_ASSERT((unsigned)tc->emit_idx < r.nres);
		if (r.emit[tc->emit_idx] != tc->emit_ms * MS)
			TEST_FAIL("%s: result %d emitted at %llu us, "
				  "expected %llu ms", tc->name, tc->emit_idx,
				  (unsigned long long)r.emit[tc->emit_idx],
				  (unsigned long long)tc->emit_ms);
	}
	if (tc->sil_byte >= 0)
		TEST_EQ(r.sil_byte, tc->sil_byte);

	mem_deref(r.jb);
}


/* ---- clean input: every packet is emitted at its arrival ------------ */

static void test_no_wait(void)
{
	static struct run r;
	static struct ev ev[500];
	struct jb_stats st;
	unsigned k;

	memset(&r, 0, sizeof(r));
	TEST_ERR(jb_alloc(&r.jb, NULL), 0);
	r.grace = 5 * MS;

	for (k = 0; k < ARRAY_SIZE(ev); k++) {
		ev[k].t = 1000 * MS + k * 20 * MS;
		ev[k].seq = (uint16_t)(40000 + k);
		ev[k].ts = 123456 + k * 160;
		ev[k].ssrc = A;
	}
	drive(&r, ev, ARRAY_SIZE(ev), ev[ARRAY_SIZE(ev) - 1].t);

	TEST_EQ(r.nres, ARRAY_SIZE(ev));
	for (k = 0; k < r.nres; k++) {
		TEST_EQ(r.emit[k], ev[k].t);
		TEST_EQ(r.kind[k], JB_FRAME);
	}

	jb_stats(r.jb, &st);
	TEST_EQ(st.target_us, 0);
	TEST_EQ(st.wait_max_us, 0);
	TEST_EQ(st.jitter_us, 0);
	TEST_EQ(st.depth_max_pkts, 1);

	mem_deref(r.jb);
}


/* ---- seeded generator for the long runs ----------------------------- */

static uint32_t rnd_state;

static uint32_t rnd(void)
{
	/* xorshift32 */
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}


/** uniform in [0, n) */
static uint32_t rnd_n(uint32_t n)
{
	return (uint32_t)(((uint64_t)rnd() * n) >> 32);
}


static int ev_cmp(const void *a, const void *b)
{
	const struct ev *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return 0;
}


/* ---- target delay follows the jitter, within bounds ----------------- */

/**
 * n packets from `first`, jittered by up to `jit` [ms] (uniform), and
 * sorted by arrival (stable on ties through the index)
 */
static size_t gen_jitter(struct ev *ev, unsigned first, unsigned n,
			 uint32_t jit_ms)
{
	unsigned k;

	for (k = 0; k < n; k++) {
		unsigned s = first + k;

		ev[k].seq = (uint16_t)s;
		ev[k].ts = s * 160;
		ev[k].ssrc = A;
		ev[k].fl = 0;
		ev[k].dur = 0;
		ev[k].t = (uint64_t)(s + 1) * 20 * MS +
			(jit_ms ? rnd_n(jit_ms * 1000) : 0);
	}
	qsort(ev, n, sizeof(*ev), ev_cmp);

	return n;
}


static void test_adapt(void)
{
	static struct run r;
	static struct ev ev[3000];
	struct jb_conf conf;
	struct jb_stats st;
	uint64_t t_end;
	unsigned k;
	size_t n;

	/* 10 s of 40 ms jitter, then 20 s clean */
	rnd_state = 0x2545f491;
	memset(&r, 0, sizeof(r));
	TEST_ERR(jb_alloc(&r.jb, NULL), 0);
	r.grace = 5 * MS;

	n = gen_jitter(ev, 0, 500, 40);
	drive(&r, ev, n, ev[n - 1].t);
	jb_stats(r.jb, &st);
	if (st.target_ms < 30 || st.target_ms > 40)
		TEST_FAIL("target %u ms after 40 ms of jitter", st.target_ms);

	/* RFC 3550 jitter: the mean |difference| of two independent
	   uniform 0..40 ms delays is 40/3 = 13.3 ms */
	if (st.jitter_us < 10000 || st.jitter_us > 17000)
		TEST_FAIL("RFC 3550 jitter %u us", st.jitter_us);
	TEST_EQ(st.jitter, st.jitter_us * 8 / 1000);

	n = gen_jitter(ev, 500, 1000, 0);
	t_end = ev[n - 1].t;
	drive(&r, ev, n, t_end);
	jb_stats(r.jb, &st);
	TEST_EQ(st.target_us, 0);
	TEST_EQ(st.depth_pkts <= 2, 1);

	/* the delay itself came down too: the last second waits < 1 slot */
	for (k = r.nres - 50; k < r.nres; k++)
		TEST_EQ(r.kind[k], JB_FRAME);
	TEST_ASSERT(st.skipped >= 1);
	check_timeline(&r, 20 * MS);
	mem_deref(r.jb);

	/* bounds: 80 ms of jitter with max_wait=30 -> 30 */
	memset(&r, 0, sizeof(r));
	conf_apply(&conf, "max_wait=30");
	TEST_ERR(jb_alloc(&r.jb, &conf), 0);
	r.grace = 5 * MS;
	n = gen_jitter(ev, 0, 500, 80);
	drive(&r, ev, n, ev[n - 1].t);
	jb_stats(r.jb, &st);
	TEST_EQ(st.target_us, 30000);
	check_timeline(&r, 20 * MS);
	mem_deref(r.jb);

	/* clean with min_wait=20 -> 20, and packets wait 20 ms */
	memset(&r, 0, sizeof(r));
	conf_apply(&conf, "min_wait=20");
	TEST_ERR(jb_alloc(&r.jb, &conf), 0);
	r.grace = 5 * MS;
	n = gen_jitter(ev, 0, 200, 0);
	drive(&r, ev, n, ev[n - 1].t + 20 * MS);
	jb_stats(r.jb, &st);
	TEST_EQ(st.target_us, 20000);
	TEST_EQ(st.wait_avg_us, 20000);
	TEST_EQ(st.wait_max_us, 20000);
	TEST_EQ(r.nres, 200);
	mem_deref(r.jb);
}


/* ---- sender clock drift, both ways ---------------------------------- */

/**
 * A sender whose 20 ms are `period_us` of ours. With `spurts`, talk
 * spurts of 1 s (marker on the first packet, a CN packet at the end)
 * alternate with 400 ms of silence.
 */
static size_t gen_drift(struct ev *ev, unsigned n, uint64_t period_us,
			bool spurts)
{
	unsigned k, m = 0;

	for (k = 0; k < n; k++) {
		unsigned ph = k % 70;   /* 50 talk, 20 silent */

		if (spurts && ph > 50)
			continue;

		ev[m].seq  = (uint16_t)(m + 1);
		ev[m].ts   = k * 160;
		ev[m].ssrc = A;
		ev[m].t    = 100 * MS + k * period_us;
		ev[m].dur  = 0;
		ev[m].fl   = 0;
		if (spurts && ph == 0)
			ev[m].fl = F_M;
		if (spurts && ph == 50)
			ev[m].fl = F_CN;
		++m;
	}

	return m;
}


static void test_drift(void)
{
	/* 0.5 % in continuous speech (30 s); 0.1 % with silences (2 min),
	   so that a talk spurt does not drift beyond the grace */
	static const struct {
		uint64_t period_us;
		bool spurts;
		unsigned n;
	} dt[] = {
		{20100, false, 1500},   /* sender 0.5 % slow */
		{19900, false, 1500},   /* sender 0.5 % fast */
		{20020, true,  6000},   /* sender 0.1 % slow */
		{19980, true,  6000},   /* sender 0.1 % fast */
	};
	static struct run r;
	static struct ev ev[6000];
	struct jb_stats st;
	unsigned i, k, nslip;
	size_t n;

	for (i = 0; i < ARRAY_SIZE(dt); i++) {
		uint64_t end;

		memset(&r, 0, sizeof(r));
		TEST_ERR(jb_alloc(&r.jb, NULL), 0);
		r.grace = 5 * MS;

		n = gen_drift(ev, dt[i].n, dt[i].period_us, dt[i].spurts);
		end = ev[n - 1].t;
		drive(&r, ev, n, end);
		check_timeline(&r, 20 * MS);

		jb_stats(r.jb, &st);
		if (getenv("JB_DEBUG"))
			printf("drift %llu %d: %s\n",
			       (unsigned long long)dt[i].period_us,
			       dt[i].spurts, r.toks);

		/* 30 s at 0.5 %, 2 min at 0.1 %: 150 ms, 120 ms, that is
		   7.5 and 6 slots */
		nslip = (unsigned)(dt[i].period_us > 20000 ? st.inserted :
				   st.skipped);
		if (nslip < 5 || nslip > 9)
			TEST_FAIL("drift %llu%s: %u slips",
				  (unsigned long long)dt[i].period_us,
				  dt[i].spurts ? " spurts" : "", nslip);
		TEST_EQ(dt[i].period_us > 20000 ? st.skipped : st.inserted, 0);
		TEST_EQ(st.lost, 0);
		TEST_EQ(st.late, 0);
		TEST_EQ(st.resyncs, 0);

		/* one result per 20 ms of our clock, whatever the sender */
		TEST_ASSERT(r.nres >= (end - r.due[0]) / (20 * MS));
		TEST_ASSERT(r.nres <= (end - r.due[0]) / (20 * MS) + 1);

		if (dt[i].spurts) {
			/* slips go into the silences: nothing concealed,
			   no speech dropped */
			TEST_EQ(st.concealed, 0);
			TEST_EQ(st.dropped, 0);
		}
		else if (dt[i].period_us > 20000) {
			/* a slow sender: a concealed slot per slip */
			TEST_EQ(st.concealed, st.inserted);
		}
		else {
			/* a fast sender: a dropped frame per slip */
			TEST_EQ(st.dropped, st.skipped);
		}

		/* every packet either played or was dropped by a slip */
		for (k = 0; k < r.nres; k++)
			TEST_ASSERT(r.kind[k] != JB_NONE);

		mem_deref(r.jb);
	}
}


/* ---- long seeded impairment ----------------------------------------- */

enum { IMP_N = 6000 };

/** What the impairer did, and what the buffer played */
struct imp {
	uint8_t copies[IMP_N];        /**< deliveries per seq             */
	uint8_t played[IMP_N];        /**< FRAME starts per seq           */
	bool    heard[IMP_N];         /**< some of its media was played   */
	bool    late[IMP_N];          /**< first copy came after its slot */
	unsigned nlate;
	int64_t played_upto;          /**< end of media emitted [ts]      */
	bool    seen[IMP_N];
	bool    started;
};


static void imp_out(struct run *r, uint64_t now, const struct jb_out *o)
{
	struct imp *im = r->arg;
	unsigned i;

	(void)now;
	if (o->inserted)
		return;

	for (i = 0; i < o->nseg; i++) {
		const struct jb_seg *s = &o->seg[i];

		if (s->kind == JB_FRAME) {
			TEST_ASSERT(s->seq < IMP_N);
			if (s->off == 0)
				++im->played[s->seq];
			im->heard[s->seq] = true;
		}
		im->played_upto = (int64_t)s->ts + s->n;
	}
}


static void imp_put(struct run *r, uint64_t now, const struct ev *e)
{
	struct imp *im = r->arg;

	(void)now;
	if (im->seen[e->seq])
		return;
	im->seen[e->seq] = true;

	/* playout starts at the first packet */
	if (!im->started) {
		im->started = true;
		im->played_upto = e->ts;
	}

	/* late: its first sample is before the media already emitted */
	if ((int64_t)e->ts < im->played_upto) {
		im->late[e->seq] = true;
		++im->nlate;
	}
}


/**
 * IMP_N packets of `pkt_ms` at `clock` Hz through a seeded impairer:
 * 5 % loss, 10 % reordered (held back 25 ms, behind the next packet),
 * 2 % duplicated, 40 ms of uniform jitter
 */
static void test_impairment(uint32_t clock, uint32_t pkt_ms, uint32_t seed)
{
	static struct run r;
	static struct ev ev[IMP_N * 2];
	static struct imp im;
	const uint32_t step = clock / 1000 * pkt_ms;
	struct jb_conf conf;
	struct jb_stats st;
	unsigned k, first = IMP_N, top = 0, uniq = 0, reord = 0, maxs = 0;
	unsigned n = 0, lost = 0, inplay = 0;
	bool have = false;
	uint64_t end;

	rnd_state = seed;
	memset(&r, 0, sizeof(r));
	memset(&im, 0, sizeof(im));

	for (k = 0; k < IMP_N; k++) {
		uint64_t sent = 100 * MS + (uint64_t)k * pkt_ms * MS;
		unsigned c, copies;

		if (rnd_n(100) < 5)
			continue;
		copies = rnd_n(100) < 2 ? 2 : 1;
		for (c = 0; c < copies; c++) {
			uint64_t d = rnd_n(40000);

			if (c == 0 && rnd_n(100) < 10)
				d += 25000;
			ev[n].t = sent + d;
			ev[n].seq = (uint16_t)k;
			ev[n].ts = k * step;
			ev[n].ssrc = A;
			ev[n].fl = 0;
			ev[n].dur = step;
			++n;
			++im.copies[k];
		}
	}
	qsort(ev, n, sizeof(ev[0]), ev_cmp);

	/* what the impairer did, seen from the receiver */
	for (k = 0; k < n; k++) {
		unsigned s = ev[k].seq;

		if (im.seen[s])
			continue;
		im.seen[s] = true;
		++uniq;
		if (have && s < maxs)
			++reord;
		if (!have || s > maxs)
			maxs = s;
		have = true;
		if (s < first)
			first = s;
		if (s > top)
			top = s;
	}
	for (k = first; k <= top; k++)
		if (!im.copies[k])
			++lost;
	memset(im.seen, 0, sizeof(im.seen));

	jb_conf_default(&conf);
	conf.clock_rate = clock;
	TEST_ERR(jb_alloc(&r.jb, &conf), 0);
	r.grace = 5 * MS;
	r.arg = &im;
	r.on_out = imp_out;
	r.on_put = imp_put;

	end = ev[n - 1].t + 200 * MS;
	drive(&r, ev, n, end);
	check_timeline(&r, 20 * MS);

	jb_stats(r.jb, &st);
	printf("impairment %u Hz %u ms: %u delivered, %u unique, lost %u, "
	       "dup %u, reordered %u, late %u\n", clock, pkt_ms, n, uniq,
	       lost, n - uniq, reord, im.nlate);
	printf("jb: target %u ms, jitter %u us, wait avg %u us max %u us, "
	       "depth max %u ms / %u pkts, concealed %llu, inserted %llu, "
	       "skipped %llu, dropped %llu\n", st.target_ms, st.jitter_us,
	       st.wait_avg_us, st.wait_max_us, st.depth_max_ms,
	       st.depth_max_pkts, (unsigned long long)st.concealed,
	       (unsigned long long)st.inserted,
	       (unsigned long long)st.skipped,
	       (unsigned long long)st.dropped);

	/* the counters are what the impairer did */
	TEST_EQ(st.received, n);
	TEST_EQ(st.duplicate, n - uniq);
	TEST_EQ(st.lost, lost);
	TEST_EQ(st.reordered, reord);
	TEST_EQ(st.late, im.nlate);
	TEST_EQ(st.resyncs, 0);

	/* exactly one result per slot, none skipped, to the end (the last
	   one may still be within its grace) */
	TEST_ASSERT(r.nres >= (end - r.grace - r.due[0]) / (20 * MS) + 1);
	TEST_ASSERT(r.nres <= (end - r.due[0]) / (20 * MS) + 1);
	TEST_EQ(st.slots, r.nres);
	TEST_EQ(st.frames + st.concealed + st.silence, st.slots);

	/* every packet delivered in time played, from its start at most
	   once (a slip may skip its start); the others are the late ones
	   and the ones dropped whole to shrink the delay */
	for (k = first; k <= top; k++) {
		TEST_ASSERT(im.played[k] <= 1);
		if (im.copies[k] && !im.late[k])
			inplay += im.heard[k];
		if (im.late[k])
			TEST_EQ(im.played[k], 0);
	}
	TEST_EQ(inplay + st.dropped, uniq - im.nlate);

	/* the target stays within its bounds and near the jitter */
	TEST_ASSERT(st.target_ms >= 35 && st.target_ms <= 60);

	mem_deref(r.jb);
}


/* ---- caller clock stall: catch up, then continue -------------------- */

static void test_stall(void)
{
	struct jb_out out;
	struct jb_pkt p;
	struct jb *jb;
	uint8_t pl[160] = {0};
	unsigned k, got = 0;
	uint64_t due0 = 0;

	TEST_ERR(jb_alloc(&jb, NULL), 0);
	memset(&p, 0, sizeof(p));
	p.ssrc = A;
	p.payload = pl;
	p.len = sizeof(pl);

	/* the worker runs at each arrival, except that it stalls from
	   100 ms to 300 ms; then it reads the packets queued meanwhile
	   and catches up: the slots of the stall come in one burst */
	for (k = 0; k < 30; k++) {
		uint64_t arr = 20 * MS * (k + 1);
		uint64_t now = arr;

		p.seq = (uint16_t)k;
		p.ts = k * 160;
		TEST_ERR(jb_put(jb, now > 100 * MS && now < 300 * MS ?
				300 * MS : now, &p), 0);
		if (now > 100 * MS && now < 300 * MS)
			continue;       /* stalled: queued */

		while (!jb_get(jb, now, &out)) {
			if (!got)
				due0 = out.due;
			TEST_EQ(out.due, due0 + got * 20 * MS);
			TEST_EQ(out.kind, JB_FRAME);
			TEST_EQ(out.seg[0].seq, got);
			++got;
		}
		TEST_EQ(got, k + 1);
	}

	mem_deref(jb);
}


/* ---- a missing packet: wait for it until due + grace --------------- */

static void test_grace(void)
{
	struct jb_out out;
	struct jb_pkt p;
	struct jb *jb;
	uint8_t pl[160] = {0};

	TEST_ERR(jb_alloc(&jb, NULL), 0);
	TEST_ASSERT(!jb_waiting(jb));            /* not started */
	memset(&p, 0, sizeof(p));
	p.ssrc = A;
	p.payload = pl;
	p.len = sizeof(pl);

	p.seq = 1;
	p.ts = 160;
	TEST_ERR(jb_put(jb, 20 * MS, &p), 0);
	TEST_ASSERT(!jb_waiting(jb));
	TEST_ERR(jb_get(jb, 20 * MS, &out), 0);
	TEST_EQ(out.kind, JB_FRAME);

	/* packet 2 is due at 40 ms and missing: nothing until 45 ms */
	TEST_EQ(jb_next_due(jb), 45 * MS);
	TEST_ASSERT(jb_waiting(jb));
	TEST_ERR(jb_get(jb, 40 * MS, &out), EAGAIN);
	TEST_ERR(jb_get(jb, 44 * MS, &out), EAGAIN);
	TEST_EQ(out.kind, JB_NONE);

	/* it comes at 44 ms: played at once */
	p.seq = 2;
	p.ts = 320;
	TEST_ERR(jb_put(jb, 44 * MS, &p), 0);
	TEST_EQ(jb_next_due(jb), 40 * MS);
	TEST_ASSERT(!jb_waiting(jb));
	TEST_ERR(jb_get(jb, 44 * MS, &out), 0);
	TEST_EQ(out.kind, JB_FRAME);
	TEST_EQ(out.seg[0].seq, 2);

	/* packet 3 never comes: concealed at 65 ms */
	TEST_EQ(jb_next_due(jb), 65 * MS);
	TEST_ERR(jb_get(jb, 64 * MS, &out), EAGAIN);
	TEST_ERR(jb_get(jb, 65 * MS, &out), 0);
	TEST_EQ(out.kind, JB_LOST);
	TEST_EQ(out.due, 60 * MS);

	mem_deref(jb);
}


/* ---- bad input ------------------------------------------------------ */

static void test_bad_input(void)
{
	static uint8_t big[9000];
	struct jb_conf c;
	struct jb_stats st;
	struct jb_out out;
	struct jb_pkt p;
	struct jb *jb = NULL;
	const char *key;
	size_t nk;
	const struct jb_conf_key *keys = jb_conf_keys(&nk);
	unsigned i;

	/* each key out of its bounds is refused by name */
	TEST_ASSERT(nk >= 10);
	for (i = 0; i < nk; i++) {
		jb_conf_default(&c);
		TEST_ERR(jb_conf_check(&c, &key), 0);
		TEST_ASSERT(key == NULL);
		TEST_ERR(jb_conf_set(&c, keys[i].name, keys[i].max), 0);
		if (keys[i].max < UINT32_MAX) {
			TEST_ERR(jb_conf_set(&c, keys[i].name,
					     keys[i].max + 1), ERANGE);
			*(uint32_t *)(void *)((char *)&c + keys[i].off) =
				keys[i].max + 1;
			TEST_ERR(jb_conf_check(&c, &key), EINVAL);
			TEST_STREQ(key, keys[i].name);
			TEST_ERR(jb_alloc(&jb, &c), EINVAL);
			TEST_ASSERT(jb == NULL);
		}
	}
	TEST_ERR(jb_conf_set(&c, "no_such_key", 1), ENOENT);

	jb_conf_default(&c);
	c.min_wait = 80;
	TEST_ERR(jb_conf_check(&c, &key), EINVAL);
	TEST_STREQ(key, "min_wait");
	jb_conf_default(&c);
	c.clock_rate = 8001;
	TEST_ERR(jb_conf_check(&c, &key), EINVAL);
	TEST_STREQ(key, "ptime");
	jb_conf_default(&c);
	c.grace = 20;
	TEST_ERR(jb_conf_check(&c, &key), EINVAL);
	TEST_STREQ(key, "grace");
	TEST_ERR(jb_alloc(NULL, NULL), EINVAL);

	TEST_ERR(jb_alloc(&jb, NULL), 0);
	TEST_EQ(jb_next_due(jb), JB_NEVER);
	TEST_ERR(jb_get(jb, 0, &out), ENOENT);
	TEST_EQ(out.kind, JB_NONE);

	memset(&p, 0, sizeof(p));
	p.len = 10;
	TEST_ERR(jb_put(jb, 0, &p), EINVAL);            /* no payload   */
	p.payload = big;
	p.len = sizeof(big);
	TEST_ERR(jb_put(jb, 0, &p), EMSGSIZE);          /* too big      */
	p.len = 160;
	p.pt = 200;
	TEST_ERR(jb_put(jb, 0, &p), EINVAL);            /* bad PT       */
	p.pt = 0;
	p.dur = 8000;
	TEST_ERR(jb_put(jb, 0, &p), EINVAL);            /* 1 s packet   */
	TEST_ERR(jb_put(NULL, 0, &p), EINVAL);
	TEST_ERR(jb_put(jb, 0, NULL), EINVAL);
	TEST_ERR(jb_get(jb, 0, NULL), EINVAL);

	jb_stats(jb, &st);
	TEST_EQ(st.invalid, 4);
	TEST_EQ(st.received, 0);
	TEST_EQ(jb_next_due(jb), JB_NEVER);

	/* garbage: random headers never crash, the timeline stays whole */
	rnd_state = 7;
	{
		uint64_t now = 0, due0 = 0;
		unsigned got = 0;

		for (i = 0; i < 20000; i++) {
			p.ssrc = rnd_n(3);
			p.seq = (uint16_t)rnd();
			p.ts = rnd();
			p.pt = (uint8_t)rnd_n(128);
			p.marker = rnd_n(2);
			p.sid = rnd_n(8) == 0;
			p.dur = rnd_n(4) ? 0 : rnd_n(960);
			p.len = rnd_n(481);
			now += rnd_n(30000);
			TEST_ERR(jb_put(jb, now, &p), 0);
			while (!jb_get(jb, now, &out)) {
				if (!got)
					due0 = out.due;
				TEST_EQ(out.due, due0 + got * 20 * MS);
				TEST_ASSERT(out.nseg >= 1 &&
					    out.nseg <= JB_MAXSEG);
				++got;
			}
			TEST_ASSERT(jb_next_due(jb) > now);
		}
		jb_stats(jb, &st);
		TEST_EQ(st.received, 20000);
		TEST_ASSERT(st.depth_pkts <= c.capacity);
	}

	mem_deref(jb);
}


/* ---- flush and clock change keep the timeline ----------------------- */

static void test_flush_clock(void)
{
	struct jb_out out;
	struct jb_pkt p;
	struct jb *jb;
	uint8_t pl[960] = {0};
	uint64_t now, due0 = 0;
	unsigned k, got = 0;

	TEST_ERR(jb_alloc(&jb, NULL), 0);
	memset(&p, 0, sizeof(p));
	p.ssrc = A;
	p.payload = pl;
	p.len = 160;

	for (k = 0; k < 10; k++) {
		now = 20 * MS * (k + 1);
		p.seq = (uint16_t)k;
		p.ts = k * 160;
		TEST_ERR(jb_put(jb, now, &p), 0);
		while (!jb_get(jb, now, &out)) {
			if (!got)
				due0 = out.due;
			TEST_EQ(out.due, due0 + got * 20 * MS);
			++got;
		}
	}

	/* re-INVITE to Opus: 48 kHz, same SSRC, new timestamps */
	TEST_ERR(jb_clock_set(jb, 7), EINVAL);
	TEST_ERR(jb_clock_set(jb, 48000), 0);
	p.len = 120;
	for (k = 10; k < 20; k++) {
		now = 20 * MS * (k + 1);
		p.seq = (uint16_t)k;
		p.ts = 5000000 + k * 960;
		p.pt = 111;
		TEST_ERR(jb_put(jb, now, &p), 0);
		while (!jb_get(jb, now, &out)) {
			TEST_EQ(out.due, due0 + got * 20 * MS);
			TEST_EQ(out.kind, JB_FRAME);
			TEST_EQ(out.seg[0].n, 960);
			TEST_EQ(out.seg[0].seq, k);
			++got;
		}
	}
	TEST_EQ(got, 20);

	mem_deref(jb);
}


/* ---- payloads larger than the arena's first slots -------------------- */

static uint8_t pat(unsigned k, unsigned j)
{
	return (uint8_t)(k * 37 + j * 11 + 1);
}

static void test_arena_grow(void)
{
	/* sizes: the slots start at 256 bytes; 300 grows them to 512, and
	   1500 to max_payload (1500), each while earlier packets are still
	   buffered, whose payloads must come out intact */
	static const uint16_t len[12] = {
		100, 160, 256, 300, 20, 512, 1500, 1, 0, 700, 1499, 90
	};
	static uint8_t pl[12][1500];
	struct jb_conf c;
	struct jb_stats st;
	struct jb_out out;
	struct jb_pkt p;
	struct jb *jb;
	unsigned k, j, got = 0;

	jb_conf_default(&c);
	c.max_payload = 1500;
	TEST_ERR(jb_alloc(&jb, &c), 0);
	memset(&p, 0, sizeof(p));
	p.ssrc = A;

	for (k = 0; k < 12; k++) {
		for (j = 0; j < len[k]; j++)
			pl[k][j] = pat(k, j);
		p.seq = (uint16_t)k;
		p.ts = k * 160;
		p.payload = pl[k];
		p.len = len[k];
		/* on time, but the worker stalls: nothing is taken out
		   until all twelve are in */
		TEST_ERR(jb_put(jb, 20 * MS * (k + 1), &p), 0);
		if (k == 2 || k == 3 || k == 6) {
			jb_stats(jb, &st);
			TEST_EQ(st.arena_grows, k == 2 ? 0 : k == 3 ? 1 : 2);
		}
	}
	jb_stats(jb, &st);
	TEST_EQ(st.arena_grows, 2);   /* 700 and 1499 fit: no more */

	/* the source's own copies are gone: only the arena's remain */
	memset(pl, 0, sizeof(pl));
	for (k = 0; k < 12; k++)
		for (j = 0; j < len[k]; j++)
			pl[k][j] = 0xee;

	/* then the worker catches up, and goes on a slot every 20 ms */
	for (k = 12; k <= 50; k++) {
		while (!jb_get(jb, 20 * MS * k, &out)) {
			const struct jb_seg *sg = &out.seg[0];

			if (out.kind != JB_FRAME)
				continue;
			TEST_EQ(out.nseg, 1);
			TEST_EQ(sg->seq, got);
			TEST_EQ(sg->len, len[got]);
			for (j = 0; j < sg->len; j++)
				TEST_EQ(sg->payload[j], pat(got, j));
			++got;
		}
	}
	TEST_EQ(got, 12);

	p.len = 1501;       /* beyond max_payload: refused, no growth */
	p.payload = pl[0];
	TEST_ERR(jb_put(jb, 1100 * MS, &p), EMSGSIZE);
	jb_stats(jb, &st);
	TEST_EQ(st.arena_grows, 2);

	mem_deref(jb);
}


int main(void)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++)
		run_case(&cases[i]);

	test_no_wait();
	test_adapt();
	test_drift();
	test_impairment(8000, 20, 0x9e3779b9);
	test_impairment(48000, 20, 0x1234567);
	test_impairment(8000, 10, 0x7654321);
	test_impairment(8000, 30, 0xabcdef1);
	test_impairment(48000, 60, 0x5eed);
	test_stall();
	test_grace();
	test_bad_input();
	test_flush_clock();
	test_arena_grow();

	printf("test_jb: %zu table cases and 9 scenarios passed\n",
	       ARRAY_SIZE(cases));

	return 0;
}
