/**
 * @file fuzz_jb.c  Fuzz target: the jitter buffer fed arbitrary packets
 *                  (rtp/jb*.c), as the media worker feeds it
 *
 * Input: byte 0 the call: bit 0 Opus (payload type 111, 48 kHz, the
 * packet's duration from its TOC, DTX below 3 bytes), else PCMU (0,
 * 8 kHz, a byte a sample); bits 1-2 ptime 10, 20, 40 or 60 ms; bits 3-4
 * the capacity 4, 8, 16 or 64 packets; byte 1 max_wait (x 2 ms, 0: the
 * default). Then packets (struct fuzz_pkt), whole RTP datagrams at their
 * arrival time; flags bit 0: a telephone-event packet (jb_note_seq),
 * bit 1: the clock changes (jb_clock_set, a re-INVITE to the other
 * codec). Between arrivals the worker takes every slot that is due.
 * Properties: each slot has 1..JB_MAXSEG segments that cover exactly one
 * ptime, in order; a FRAME segment lies inside its packet's payload; the
 * buffer never holds more than its capacity; the next due time never
 * goes back.
 */
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "jb.h"
#include "opusc.h"
#include "rtpkt.h"
#include "fuzz.h"

struct feed {
	struct jb *jb;
	struct jb_conf conf;
	bool opus;
	uint64_t last_due;
};


static void check_out(const struct feed *f, const struct jb_out *o)
{
	uint32_t units = f->conf.clock_rate / 1000 * f->conf.ptime;
	uint32_t sum = 0;

	FUZZ_ASSERT(o->kind == JB_FRAME || o->kind == JB_LOST ||
		    o->kind == JB_SILENCE);
	FUZZ_ASSERT(o->nseg >= 1 && o->nseg <= JB_MAXSEG);

	for (unsigned i = 0; i < o->nseg; i++) {
		const struct jb_seg *s = &o->seg[i];

		FUZZ_ASSERT(s->kind == JB_FRAME || s->kind == JB_LOST ||
			    s->kind == JB_SILENCE);
		FUZZ_ASSERT(s->n > 0);
		if (s->kind == JB_FRAME) {
			FUZZ_ASSERT(s->off + s->n <= s->pdur || !s->pdur);
			FUZZ_ASSERT(s->len <= f->conf.max_payload);
			FUZZ_ASSERT(s->payload || !s->len);
		}
		sum += s->n;
	}
	FUZZ_ASSERT(sum == units);
}


/* take every slot that is due at now (as mcall_rx's jb_drain) */
static void drain(struct feed *f, uint64_t now)
{
	struct jb_out out;
	struct jb_stats st;

	for (int i = 0; i < 64; i++) {
		uint64_t due = jb_next_due(f->jb);

		if (due == JB_NEVER || due > now)
			break;
		FUZZ_ASSERT(due >= f->last_due);
		f->last_due = due;
		if (jb_get(f->jb, now, &out))
			break;
		check_out(f, &out);
	}

	jb_stats(f->jb, &st);
	FUZZ_ASSERT(st.depth_pkts <= f->conf.capacity);
}


static void put(struct feed *f, const struct rtpkt *k, uint64_t now)
{
	struct jb_pkt jp;

	memset(&jp, 0, sizeof(jp));
	jp.ssrc = k->ssrc;
	jp.seq = k->seq;
	jp.ts = k->ts;
	jp.pt = k->pt;
	jp.marker = k->marker;
	jp.sid = f->opus && k->payload_len <= 2;
	if (f->opus) {
		int n = opusc_packet_samples(k->payload, k->payload_len,
					     48000);
		jp.dur = n > 0 ? (uint32_t)n : 0;
	}
	else if (k->pt == 0) {
		jp.dur = (uint32_t)k->payload_len;
	}
	jp.payload = k->payload;
	jp.len = k->payload_len;

	(void)jb_put(f->jb, now, &jp);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t ptimes[] = {10, 20, 40, 60};
	static const uint32_t caps[] = {4, 8, 16, 64};
	struct fuzz_in in = {data, size};
	struct fuzz_pkt pk;
	struct feed f;
	uint64_t now = 1000000;
	uint8_t c0 = fuzz_u8(&in), c1 = fuzz_u8(&in);

	memset(&f, 0, sizeof(f));
	f.opus = c0 & 1;
	jb_conf_default(&f.conf);
	f.conf.clock_rate = f.opus ? 48000 : 8000;
	f.conf.ptime = ptimes[(c0 >> 1) & 3];
	f.conf.capacity = caps[(c0 >> 3) & 3];
	if (f.opus)
		f.conf.max_payload = 1275;
	if (c1)
		f.conf.max_wait = c1 * 2u;
	if (f.conf.min_wait > f.conf.max_wait)
		f.conf.min_wait = f.conf.max_wait;
	if (jb_conf_check(&f.conf, NULL) || jb_alloc(&f.jb, &f.conf))
		return 0;

	while (fuzz_pkt_next(&in, &pk)) {
		struct rtpkt k;

		now += pk.dt_us;
		drain(&f, now);

		if (pk.flags & 2) {
			f.opus = !f.opus;
			f.conf.clock_rate = f.opus ? 48000 : 8000;
			if (jb_clock_set(f.jb, f.conf.clock_rate))
				break;
		}

		if (rtpkt_is_rtcp(pk.p, pk.len) ||
		    rtpkt_decode(&k, pk.p, pk.len))
			continue;

		if (pk.flags & 1)
			jb_note_seq(f.jb, k.ssrc, k.seq);
		else
			put(&f, &k, now);
	}

	/* the call goes on a while with no more packets */
	for (int i = 0; i < 20; i++) {
		now += 20000;
		drain(&f, now);
	}

	mem_deref(f.jb);
	return 0;
}
