/**
 * @file jb_put.c  Jitter buffer: receive, placing packets on the timeline
 *
 * Design note.
 *
 * Anchor. The first packet of a mapping (an "epoch") is placed on the
 * first slot due no earlier than its arrival plus the target delay (less
 * half the grace), and after any media still buffered. The gap before it
 * is silence. Packets of an older mapping (the previous source, or before
 * a timestamp jump) may still fill the time before the epoch starts, never
 * after it.
 *
 * Late. A packet whose first sample lies before `play` when it arrives is
 * late (its slot was emitted): it is dropped unless some of its media is
 * still ahead. A comfort-noise packet that is late still sets the silence
 * state and its payload.
 *
 * Resync. A new SSRC starts a new epoch at once (packets of the previous
 * source still in sequence are played with its old mapping; its late
 * stragglers are dropped). Within a source, a packet newer than all others
 * whose ext due time lies beyond max_wait + 100 ms + ptime from now is a
 * forward timestamp jump; two such packets in a row that lie wholly before
 * `play` by more than max_wait + grace (late beyond any target), or one
 * with the marker bit, are a backward jump: both start a new epoch. A
 * talk spurt after silence whose slot the silence ran past also starts
 * one, rather than being dropped whole as late. Sequence probation and
 * the return of the previous source are jb_rx.c's.
 *
 * Nothing here allocates, except jb_store_grow() on the first packet
 * larger than the arena's slots.
 */
#include <errno.h>
#include <string.h>
#include "jb_int.h"


static int64_t ceil_div(int64_t a, int64_t b)
{
	return a <= 0 ? 0 : (a + b - 1) / b;
}


/** Where the first packet of a new epoch goes [ext] */
static int64_t epoch_place(struct jb *jb, uint64_t now)
{
	int64_t ideal, lead, j, tail;
	unsigned k;

	if (!jb->started) {
		jb->started  = true;
		jb->next_due = now + (uint64_t)(jb->target_us + pack_us(jb));
		jb->play     = 0;
		return 0;
	}

	ideal = (int64_t)now + jb->target_us + pack_us(jb);
	lead  = ideal - jb->grace_us / 2 - (int64_t)jb->next_due;
	j     = ceil_div(lead, jb->slot_us);

	tail = jb->play;
	for (k = 0; k < jb->n; k++) {
		const struct jb_ent *e = ENT(jb, k);
		tail = max64(tail, e->ext + e->dur);
	}
	j = max64(j, ceil_div(tail - jb->play, jb->slot_ts));

	++jb->st.resyncs;

	return jb->play + j * jb->slot_ts;
}


static void epoch_new(struct jb *jb, struct jb_rx *rx, uint32_t ts,
		      int64_t eseq, uint64_t now, bool same_source)
{
	if (same_source && rx->mapped) {
		rx->pmapped  = true;
		rx->pts_ref  = rx->ts_ref;
		rx->pext_ref = rx->ext_ref;
	}
	else {
		rx->pmapped = false;
	}

	rx->ext_ref   = epoch_place(jb, now);
	rx->ts_ref    = ts;
	jb->epoch_ext = rx->ext_ref;
	rx->mapped    = true;
	rx->epoch_seq = eseq;

	jb_est_reset(jb);
	jb->late_run   = 0;
	jb->need_epoch = false;
}


/** What jb_put() has found out about one packet so far */
struct put {
	struct jb_rx *rx;       /**< its source                             */
	int64_t  eseq;          /**< extended sequence number               */
	int64_t  ext;           /**< first sample [ext]                     */
	uint32_t dur;           /**< media [clock units], 0 for CN          */
	bool     cn;            /**< a comfort-noise packet                 */
	bool     cur;           /**< from the current source                */
	bool     switched;      /**< the current source changed with it     */
	bool     isnew;         /**< the newest seq of its source           */
	bool     stale;         /**< mapped by an older epoch               */
	bool     first;         /**< it starts a new epoch                  */
	bool     beyond;        /**< wholly late, by more than any target   */
};


/* refuse what cannot be stored; grow the arena for a larger payload */
static int put_check(struct jb *jb, const struct jb_pkt *pkt)
{
	if ((pkt->len && !pkt->payload) || pkt->pt > 127 ||
	    pkt->dur > jb->max_dur) {
		++jb->st.invalid;
		return EINVAL;
	}

	if (pkt->len > jb->conf.max_payload) {
		++jb->st.invalid;
		return EMSGSIZE;
	}

	if (pkt->len > jb->slot)
		return jb_store_grow(jb, pkt->len);

	return 0;
}


/* its source, sequence number and duration; false for a duplicate or a
 * packet out of sequence (counted) */
static bool put_seq(struct jb *jb, const struct jb_pkt *pkt, uint64_t now,
		    struct put *p)
{
	struct jb_rx *rx;
	int64_t prev_top;
	bool had_seq;
	int err;

	p->cn = (pkt->pt == jb->conf.cn_pt);

	rx = jb_rx_select(jb, pkt->ssrc, pkt->seq, now, &p->switched);
	p->rx    = rx;
	p->cur   = (rx == &jb->rx[0]);
	prev_top = rx->top;
	had_seq  = rx->seq_ok;

	err = jb_rx_seq(jb, rx, pkt->seq, &p->eseq, &p->isnew);
	if (err == EALREADY) {
		++jb->st.duplicate;
		return false;
	}
	else if (err) {
		++jb->st.dropped;
		return false;
	}

	if (!p->isnew)
		++jb->st.reordered;

	if (pkt->dur && !p->cn)
		rx->pdur = pkt->dur;
	else if (p->isnew && had_seq && p->eseq == prev_top + 1 &&
		 !pkt->marker && !p->cn && !rx->top_cn)
		jb_rx_learn_dur(jb, rx, pkt->ts);

	p->dur = p->cn ? 0 : (pkt->dur ? pkt->dur : rx->pdur);

	/* mapped by an older epoch: previous source, or before a jump */
	p->stale = !p->cur || (rx->pmapped && p->eseq < rx->epoch_seq);

	if (p->cur)
		rx->last_arr = now;

	return true;
}


/* the newest packet of the current mapping: does it start an epoch? */
static void put_jump(struct jb *jb, const struct jb_pkt *pkt, struct put *p,
		     bool too_early)
{
	const int64_t end = p->ext + max64(p->dur, 1);

	if (too_early) {
		p->first = true;                /* forward jump */
	}
	else if ((jb->sil || jb->last_silent) && end <= jb->play) {
		/* a talk spurt after silence (DTMF, silence suppression)
		   whose slot the silence ran past: re-anchor on it instead
		   of dropping the whole spurt as late */
		p->first = true;
	}
	else if (end <= jb->play &&
		 to_us(jb, jb->play - p->ext) > jb->maxw_us + jb->grace_us) {
		/* wholly late, by more than any target: a backward jump if
		   it goes on */
		p->beyond = true;
		if (pkt->marker || ++jb->late_run >= LATE_RUN)
			p->first = true;
	}
	else {
		jb->late_run = 0;
	}
}


/* its position in playout coordinates, or that it starts an epoch; false
 * for an old packet that claims a place far ahead (counted) */
static bool put_place(struct jb *jb, const struct jb_pkt *pkt, uint64_t now,
		      struct put *p)
{
	int64_t ahead;
	bool too_early, newest;

	if (p->cur && (p->switched || jb->need_epoch || !p->rx->mapped)) {
		p->first = true;
		return true;
	}

	p->ext = jb_rx_map(p->rx, pkt->ts, p->eseq);

	/* how far ahead of now it would be due */
	ahead = (int64_t)jb->next_due - (int64_t)now +
		to_us(jb, p->ext - jb->play);
	too_early = ahead > jb->maxw_us + jb->slot_us +
		(int64_t)JUMP_MS * 1000;
	newest = p->cur && p->isnew && !p->stale;

	if (too_early && !newest) {
		/* an old or reordered packet that claims to be due far
		   ahead: it would only hold a place */
		++jb->st.dropped;
		return false;
	}

	if (newest)
		put_jump(jb, pkt, p, too_early);

	return true;
}


/* start the epoch it begins, advance its source's mapping, and feed the
 * delay estimate */
static void put_map(struct jb *jb, const struct jb_pkt *pkt, uint64_t now,
		    struct put *p)
{
	struct jb_rx *rx = p->rx;

	if (p->first) {
		epoch_new(jb, rx, pkt->ts, p->eseq, now, !p->switched);
		p->ext    = rx->ext_ref;
		p->beyond = false;
	}

	if (p->isnew) {
		rx->top_ts = pkt->ts;
		rx->top_cn = p->cn;
		if (!(rx->pmapped && p->eseq < rx->epoch_seq)) {
			rx->ts_ref  = pkt->ts;
			rx->ext_ref = p->ext;
		}
	}

	/* timing of the current mapping feeds the delay estimate */
	if (!p->stale && !p->beyond)
		jb_est_feed(jb, (int64_t)now - to_us(jb, p->ext));
}


/* whether it is kept: not if an older epoch's packet would run into the
 * current one, if it is wholly late, or if the store is full (counted) */
static bool put_keep(struct jb *jb, const struct jb_pkt *pkt,
		     const struct put *p)
{
	if (p->stale && p->ext + max64(p->dur, 1) > jb->epoch_ext) {
		++jb->st.dropped;
		return false;
	}

	if (p->ext < jb->play) {
		++jb->st.late;

		if (p->cn) {
			jb->sil = true;
			jb_store_cn(jb, pkt->payload, pkt->len);
			return false;
		}
		if (p->ext + p->dur <= jb->play)
			return false;
	}

	if (!jb->nfree) {
		++jb->st.dropped;
		return false;
	}

	return true;
}


/* copy it into a free entry and insert that in order */
static void put_store(struct jb *jb, const struct jb_pkt *pkt, uint64_t now,
		      const struct put *p)
{
	const uint16_t idx = jb->freel[--jb->nfree];
	struct jb_ent *e = &jb->ent[idx];

	e->ext     = p->ext;
	e->eseq    = p->eseq;
	e->arrival = now;
	e->dur     = p->dur;
	e->ts      = pkt->ts;
	e->gen     = p->rx->gen;
	e->seq     = pkt->seq;
	e->len     = (uint16_t)pkt->len;
	e->pt      = pkt->pt;
	e->flags   = (pkt->marker ? EF_MARKER : 0) |
		     (pkt->sid ? EF_SID : 0) |
		     (p->cn ? EF_CN : 0) |
		     (p->first ? EF_EPOCH : 0) |
		     (pkt->dur ? EF_DURSET : 0);
	if (pkt->len)
		memcpy(e->payload, pkt->payload, pkt->len);

	jb_store_insert(jb, idx);
	jb_store_depth(jb);
}


/**
 * Put a received media packet into the jitter buffer. The payload is
 * copied. Duplicates, late and out-of-sequence packets are counted and
 * dropped (return 0).
 *
 * @param jb     Jitter buffer
 * @param now_us Arrival time, caller's monotonic clock [us]
 * @param pkt    The packet
 *
 * @return 0 if taken or counted, EINVAL for a bad packet, EMSGSIZE if the
 *         payload exceeds conf.max_payload, ENOMEM if the arena could
 *         not grow to hold it
 */
int jb_put(struct jb *jb, uint64_t now_us, const struct jb_pkt *pkt)
{
	struct put p = { .rx = NULL };
	int err;

	if (!jb || !pkt)
		return EINVAL;

	err = put_check(jb, pkt);
	if (err)
		return err;

	jb_store_release(jb);
	++jb->st.received;

	if (!put_seq(jb, pkt, now_us, &p) || !put_place(jb, pkt, now_us, &p))
		return 0;

	put_map(jb, pkt, now_us, &p);

	if (put_keep(jb, pkt, &p))
		put_store(jb, pkt, now_us, &p);

	return 0;
}
