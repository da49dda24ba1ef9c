/**
 * @file jb_play.c  Jitter buffer: playout, one result per 20 ms slot
 *
 * Design note.
 *
 * Planning. plan_slot() works out what the slot at `play` would hold
 * without changing anything: segments of buffered packets (a 10 ms
 * stream gives two per slot, a 30 or 60 ms packet spans slots; where
 * packets overlap, the later start wins) and the gaps between them.
 * jb_get() then decides whether to emit it now, wait `grace` for a
 * missing packet, insert a slot or skip one, and commit() applies it.
 *
 * Adaptation and drift. The ideal due time of position `play` is its ext
 * time + minimum transit + target; err = next_due - ideal. Slots slip by
 * whole slots only, preferably where it costs nothing:
 *  - err < -grace/2 at a slot that starts with silence: insert one more
 *    silence slot (play stays where it is);
 *  - err < -grace/2 at a slot with media missing at its deadline:
 *    insert a concealed slot instead of skipping the media (stretch), so
 *    late-running packets still play;
 *  - err > ptime - grace/2 at a slot that is all gap: skip that gap (a
 *    silent or a missing slot costs nothing to skip);
 *  - err > 1.5 ptime in speech: drop one slot of media.
 * Sender clock drift moves the minimum transit, hence err, and is absorbed
 * by these slips: mostly in silence and at talk-spurt starts (the gap
 * before a marker packet is silence), in continuous speech by a concealed
 * or dropped slot every ptime of accumulated drift.
 *
 * Lost or silent. A gap in the media is SILENCE, not LOST, when it is
 * certainly not loss: after a comfort-noise packet (cn_pt) or a packet
 * flagged sid (DTX), before the first packet of an epoch, or when the
 * packet after the gap is here and every sequence number between it and
 * the last played packet has arrived (the sender paused: silence
 * suppression, DTX, DTMF reported with jb_note_seq()). Otherwise the gap
 * is LOST, waiting `grace` for the packet, and turns to SILENCE once
 * `silence_after` of concealment has been emitted in a row (by then the
 * concealment has faded out). The LOST segment right before a buffered
 * packet carries that packet's payload for Opus in-band FEC.
 *
 * Nothing here allocates; a result points into the store until the next
 * call.
 */
#include <errno.h>
#include <string.h>
#include "jb_int.h"


/** What one slot would hold, without changing anything */
struct plan {
	struct jb_seg seg[JB_MAXSEG];
	uint16_t segent[JB_MAXSEG];   /**< FRAME: entry index              */
	unsigned nseg;
	unsigned ncons;               /**< head entries the slot consumes  */
	bool wait;                    /**< a gap may still be filled       */
	bool sil;                     /**< silence state after the slot    */
	bool frame, lost;
	const struct jb_ent *cn;      /**< CN applied in the slot          */
	const struct jb_ent *last;    /**< last entry played or applied    */
};


static uint32_t raw_ts(const struct jb *jb, int64_t pos)
{
	const struct jb_rx *rx = &jb->rx[0];

	return rx->ts_ref + (uint32_t)(pos - rx->ext_ref);
}


/** Pass the head entries that are over at position c */
static unsigned plan_pass(const struct jb *jb, unsigned i, int64_t c,
			  struct plan *pl)
{
	while (i < jb->n) {
		const struct jb_ent *e = ENT(jb, i);

		if (e->ext > c)
			break;

		if (e->flags & EF_CN) {
			pl->sil  = true;
			pl->cn   = e;
			pl->last = e;
			++i;
			continue;
		}

		if (e->ext + e->dur <= c ||
		    (i + 1 < jb->n && ENT(jb, i + 1)->ext <= c)) {
			++i;            /* over, or overridden by a later one */
			continue;
		}

		break;
	}

	return i;
}


static void plan_gap(const struct jb *jb, struct plan *pl, struct jb_seg *s,
		     int64_t c, int64_t ge, const struct jb_ent *nx)
{
	bool last_ok = jb->last_valid || pl->last;
	uint32_t lgen = pl->last ? pl->last->gen : jb->last_gen;
	int64_t lseq = pl->last ? pl->last->eseq : jb->last_eseq;
	bool cont;

	s->n  = (uint32_t)(ge - c);
	s->ts = raw_ts(jb, c);

	/* nothing lost since the last packet: the next one is here and
	   every seq in between arrived, or the next seq arrived but is not
	   media (telephone-event, reported with jb_note_seq()) */
	if (!last_ok)
		cont = false;
	else if (nx)
		cont = nx->gen == lgen &&
			jb_rx_continuous(jb, lgen, lseq, nx->eseq);
	else
		cont = jb_rx_noted(jb, lgen, lseq + 1);

	if (nx && (nx->flags & EF_EPOCH)) {
		s->kind = JB_SILENCE;
		return;
	}

	if (pl->sil) {
		s->kind = JB_SILENCE;
		if (pl->cn) {
			s->payload = pl->cn->payload;
			s->len = pl->cn->len;
			s->pt = pl->cn->pt;
		}
		else if (jb->cn_len) {
			s->payload = jb->cn[jb->cn_cur];
			s->len = jb->cn_len;
			s->pt = (uint8_t)jb->conf.cn_pt;
		}
		if (!cont)
			pl->wait = true;
		return;
	}

	if (cont) {
		s->kind = JB_SILENCE;   /* the sender paused: nothing lost */
		return;
	}

	pl->wait = true;

	if (nx && nx->ext == ge && !(nx->flags & EF_CN)) {
		s->kind    = JB_LOST;   /* right before a packet: FEC */
		s->payload = nx->payload;
		s->len     = nx->len;
		s->seq     = nx->seq;
		s->pt      = nx->pt;
		pl->lost   = true;
		return;
	}

	if (jb->conceal_run >= jb->sil_slots) {
		s->kind = JB_SILENCE;
		return;
	}

	s->kind  = JB_LOST;
	pl->lost = true;
}


static void plan_slot(const struct jb *jb, int64_t pos, struct plan *pl)
{
	const int64_t end = pos + jb->slot_ts;
	int64_t c = pos;
	unsigned i = 0;

	memset(pl, 0, sizeof(*pl));
	pl->sil = jb->sil;

	while (c < end) {
		struct jb_seg *s = &pl->seg[pl->nseg];
		const struct jb_ent *e;

		i = plan_pass(jb, i, c, pl);
		e = i < jb->n ? ENT(jb, i) : NULL;

		if (pl->nseg == JB_MAXSEG - 1) {
			/* out of segments: conceal the rest */
			s->kind = JB_LOST;
			s->n    = (uint32_t)(end - c);
			s->ts   = raw_ts(jb, c);
			pl->lost = true;
			++pl->nseg;
			break;
		}

		if (e && e->ext <= c) {
			int64_t se = min64(e->ext + e->dur, end);

			if (i + 1 < jb->n)
				se = min64(se, ENT(jb, i + 1)->ext);

			s->kind    = JB_FRAME;
			s->n       = (uint32_t)(se - c);
			s->off     = (uint32_t)(c - e->ext);
			s->pdur    = e->dur;
			s->ts      = e->ts + s->off;
			s->seq     = e->seq;
			s->pt      = e->pt;
			s->marker  = s->off == 0 && (e->flags & EF_MARKER);
			s->payload = e->payload;
			s->len     = e->len;
			pl->segent[pl->nseg] = jb->ord[i];
			pl->sil    = (e->flags & EF_SID) != 0;
			pl->cn     = NULL;
			pl->last   = e;
			pl->frame  = true;
			++pl->nseg;
			c = se;
			continue;
		}

		plan_gap(jb, pl, s, c, e ? min64(e->ext, end) : end, e);
		++pl->nseg;
		c += s->n;
	}

	pl->ncons = plan_pass(jb, i, end, pl);
}


static void out_kind(struct jb *jb, struct jb_out *out, bool frame,
		     bool lost)
{
	out->kind = lost ? JB_LOST : frame ? JB_FRAME : JB_SILENCE;

	++jb->st.slots;
	switch (out->kind) {

	case JB_FRAME:   ++jb->st.frames;    break;
	case JB_LOST:    ++jb->st.concealed; break;
	default:         ++jb->st.silence;   break;
	}
	jb->last_silent = (out->kind == JB_SILENCE);

	if (frame)
		jb->conceal_run = 0;
	else if (lost)
		++jb->conceal_run;
}


/** Emit a slot that consumes no media, to grow the delay */
static void emit_filler(struct jb *jb, struct jb_out *out, enum jb_kind k)
{
	struct jb_seg *s = &out->seg[0];

	memset(s, 0, sizeof(*s));
	s->kind = k;
	s->n    = jb->slot_ts;
	s->ts   = raw_ts(jb, jb->play);
	if (k == JB_SILENCE && jb->sil && jb->cn_len) {
		s->payload = jb->cn[jb->cn_cur];
		s->len     = jb->cn_len;
		s->pt      = (uint8_t)jb->conf.cn_pt;
	}

	out->nseg     = 1;
	out->inserted = true;
	out->due      = jb->next_due;

	++jb->st.inserted;
	out_kind(jb, out, false, k == JB_LOST);

	jb->next_due += (uint64_t)jb->slot_us;
}


static void commit(struct jb *jb, const struct plan *pl, uint32_t skip,
		   struct jb_out *out, uint64_t now)
{
	unsigned k;

	out->due      = jb->next_due;
	out->skipped  = skip;
	out->inserted = false;
	out->nseg     = pl->nseg;
	memcpy(out->seg, pl->seg, pl->nseg * sizeof(out->seg[0]));

	/* played entries: wait statistics, then mark them */
	for (k = 0; k < pl->nseg; k++) {
		struct jb_ent *e;
		uint64_t w;

		if (pl->seg[k].kind != JB_FRAME)
			continue;

		e = &jb->ent[pl->segent[k]];
		if (!(e->flags & EF_PLAYED)) {
			w = now > e->arrival ? now - e->arrival : 0;
			jb->wait_sum += w;
			++jb->wait_cnt;
			if (w > jb->st.wait_max_us)
				jb->st.wait_max_us = (uint32_t)min64(w,
								    UINT32_MAX);
		}
		e->flags |= EF_PLAYED;
	}

	if (pl->cn)
		jb_store_cn(jb, pl->cn->payload, pl->cn->len);
	if (pl->last) {
		jb->last_valid = true;
		jb->last_gen   = pl->last->gen;
		jb->last_eseq  = pl->last->eseq;
	}
	jb->sil = pl->sil;

	jb_store_consume(jb, pl->ncons);

	out_kind(jb, out, pl->frame, pl->lost);

	jb->play     += (int64_t)skip + jb->slot_ts;
	jb->next_due += (uint64_t)jb->slot_us;

	jb_store_depth(jb);
}


/**
 * Get the result of the next output slot, if it is due
 *
 * @param jb     Jitter buffer
 * @param now_us Current time, caller's monotonic clock [us]
 * @param out    Returns the slot; its pointers are valid until the next
 *               call on this jitter buffer
 *
 * @return 0 if a slot was produced, EAGAIN if the next slot is not due
 *         yet, ENOENT if the stream has not started
 */
int jb_get(struct jb *jb, uint64_t now_us, struct jb_out *out)
{
	struct plan pl;
	uint32_t skip = 0;

	if (!jb || !out)
		return EINVAL;

	out->kind = JB_NONE;
	out->nseg = 0;
	out->inserted = false;
	out->skipped = 0;
	out->due = 0;
	out->ssrc = jb->rx[0].ssrc;

	jb_store_release(jb);

	if (!jb->started)
		return ENOENT;

	if (now_us < jb->next_due)
		return EAGAIN;

	plan_slot(jb, jb->play, &pl);

	if (pl.wait && now_us < jb->next_due + (uint64_t)jb->grace_us)
		return EAGAIN;

	if (jb->tr_n) {
		const int64_t err = (int64_t)jb->next_due -
			(to_us(jb, jb->play) + jb->tr_min + jb->target_us +
			 pack_us(jb));
		const enum jb_kind k0 = pl.seg[0].kind;
		const bool whole = pl.seg[0].n == jb->slot_ts;

		if (err < -jb->grace_us / 2 && (pl.lost || k0 == JB_SILENCE)) {
			emit_filler(jb, out, pl.lost ? JB_LOST : JB_SILENCE);
			return 0;
		}

		if ((k0 != JB_FRAME && whole &&
		     err > jb->slot_us - jb->grace_us / 2) ||
		    (k0 == JB_FRAME && err > jb->slot_us + jb->slot_us / 2)) {
			skip = jb->slot_ts;
			++jb->st.skipped;
			plan_slot(jb, jb->play + skip, &pl);
		}
	}

	commit(jb, &pl, skip, out, now_us);

	return 0;
}


/**
 * When the next jb_get() will produce a slot without new packets
 *
 * @param jb Jitter buffer
 *
 * @return Absolute time [us], JB_NEVER before the stream has started
 */
uint64_t jb_next_due(const struct jb *jb)
{
	struct plan pl;

	if (!jb || !jb->started)
		return JB_NEVER;

	plan_slot(jb, jb->play, &pl);

	return pl.wait ? jb->next_due + (uint64_t)jb->grace_us : jb->next_due;
}


/**
 * Whether the next slot has a gap that a packet may still fill: jb_get()
 * waits for it (until jb_next_due()) and then conceals it. A caller that
 * knows more packets are waiting to be put (a socket not read to the end)
 * gets only the slots that do not wait, and decides the others once they
 * are in.
 *
 * @param jb Jitter buffer
 *
 * @return true if the next slot waits for media, false if it is ready
 *         when due (or the stream has not started)
 */
bool jb_waiting(const struct jb *jb)
{
	struct plan pl;

	if (!jb || !jb->started)
		return false;

	plan_slot(jb, jb->play, &pl);

	return pl.wait;
}
