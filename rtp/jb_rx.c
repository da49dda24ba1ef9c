/**
 * @file jb_rx.c  Jitter buffer: sequence accounting and source switching
 *
 * Design note. The buffer tracks two sources: the current one (rx[0])
 * and the previous one (rx[1]), whose packets still buffered play out
 * with their own mapping. For each, a bit map over the last SEQWIN
 * extended sequence numbers says which arrived (duplicates are refused)
 * and which of them were not media (telephone-event, jb_note_seq()), so
 * that a gap can be told from loss. Loss is counted per source as the
 * sequence numbers between the first and the highest that never arrived.
 * A sequence jump beyond MAX_DROPOUT forward or SEQWIN back is taken only
 * when the next packet follows it (RFC 3550 A.1 probation). The previous
 * source takes over again only after the current one has been quiet
 * BACK_MS, so stragglers of a transfer cannot flip the stream back. A
 * packet's duration, when the caller does not give it, is learnt per
 * source from two equal timestamp steps between consecutive sequence
 * numbers.
 */
#include <errno.h>
#include <string.h>
#include "jb_int.h"


static inline bool bit_get(const struct jb_rx *rx, int64_t eseq)
{
	uint64_t b = (uint64_t)eseq & (SEQWIN - 1);

	return (rx->map[b / 64] >> (b % 64)) & 1;
}


static inline void bit_set(struct jb_rx *rx, int64_t eseq)
{
	uint64_t b = (uint64_t)eseq & (SEQWIN - 1);

	rx->map[b / 64] |= (uint64_t)1 << (b % 64);
}


static inline bool in_window(const struct jb_rx *rx, int64_t eseq)
{
	return eseq <= rx->top && eseq > rx->top - SEQWIN;
}


uint64_t jb_rx_lost(const struct jb_rx *rx)
{
	if (!rx->valid || !rx->seq_ok)
		return 0;

	return (uint64_t)(rx->top - rx->base + 1) - rx->uniq;
}


static void rx_init(struct jb *jb, struct jb_rx *rx, uint32_t ssrc)
{
	memset(rx, 0, sizeof(*rx));
	rx->valid = true;
	rx->ssrc  = ssrc;
	rx->gen   = jb->gen_next++;
	rx->pdur  = jb->slot_ts;
}


/** Move top forward, clearing the bits that leave the window */
static void rx_advance(struct jb_rx *rx, int64_t top)
{
	int64_t s;

	if (top - rx->top >= SEQWIN) {
		memset(rx->map, 0, sizeof(rx->map));
		memset(rx->note, 0, sizeof(rx->note));
	}
	else {
		for (s = rx->top + 1; s <= top; s++) {
			uint64_t b = (uint64_t)s & (SEQWIN - 1);
			rx->map[b / 64] &= ~((uint64_t)1 << (b % 64));
			rx->note[b / 64] &= ~((uint64_t)1 << (b % 64));
		}
	}

	rx->top = top;
}


/**
 * Classify a sequence number and record it
 *
 * @return 0 if new, EALREADY for a duplicate, ESTALE if out of sequence
 */
int jb_rx_seq(struct jb *jb, struct jb_rx *rx, uint16_t seq,
	      int64_t *eseqp, bool *isnewp)
{
	int16_t d;
	int64_t eseq;

	if (!rx->seq_ok) {
		rx->seq_ok = true;
		rx->base = rx->top = seq;
		memset(rx->map, 0, sizeof(rx->map));
		memset(rx->note, 0, sizeof(rx->note));
		bit_set(rx, seq);
		rx->uniq = 1;
		*eseqp = seq;
		*isnewp = true;
		return 0;
	}

	d = (int16_t)(uint16_t)(seq - (uint16_t)rx->top);
	eseq = rx->top + d;

	if (d > MAX_DROPOUT || d <= -SEQWIN) {

		if (!rx->bad || seq != rx->bad_seq) {
			rx->bad = true;
			rx->bad_seq = (uint16_t)(seq + 1);
			return ESTALE;
		}

		/* confirmed restart: a fresh range beyond the old one */
		jb->lost_done += jb_rx_lost(rx);
		eseq = rx->top + SEQWIN +
			(uint16_t)(seq - (uint16_t)(rx->top + SEQWIN));
		memset(rx->map, 0, sizeof(rx->map));
		memset(rx->note, 0, sizeof(rx->note));
		rx->base = rx->top = eseq;
		rx->uniq = 0;
		rx->bad = false;
		bit_set(rx, eseq);
		rx->uniq = 1;
		*eseqp = eseq;
		*isnewp = true;
		return 0;
	}

	rx->bad = false;

	if (d > 0) {
		rx_advance(rx, eseq);
		*isnewp = true;
	}
	else {
		if (bit_get(rx, eseq))
			return EALREADY;
		*isnewp = false;
		if (eseq < rx->base)
			rx->base = eseq;
	}

	bit_set(rx, eseq);
	++rx->uniq;
	*eseqp = eseq;

	return 0;
}


static const struct jb_rx *rx_by_gen(const struct jb *jb, uint32_t gen)
{
	if (jb->rx[0].valid && jb->rx[0].gen == gen)
		return &jb->rx[0];
	if (jb->rx[1].valid && jb->rx[1].gen == gen)
		return &jb->rx[1];

	return NULL;
}


/** Seq s arrived, as a packet that is not media */
bool jb_rx_noted(const struct jb *jb, uint32_t gen, int64_t s)
{
	const struct jb_rx *rx = rx_by_gen(jb, gen);
	uint64_t b = (uint64_t)s & (SEQWIN - 1);

	return rx && in_window(rx, s) && ((rx->note[b / 64] >> (b % 64)) & 1);
}


/** Every seq strictly between a and b (same source) has arrived */
bool jb_rx_continuous(const struct jb *jb, uint32_t gen, int64_t a,
		      int64_t b)
{
	const struct jb_rx *rx = rx_by_gen(jb, gen);
	int64_t s;

	if (!rx || b <= a)
		return false;
	if (b - a - 1 >= SEQWIN)
		return false;

	for (s = a + 1; s < b; s++) {
		if (!in_window(rx, s) || !bit_get(rx, s))
			return false;
	}

	return true;
}


/**
 * The source of a packet that is not the current source's (jb_rx_select()
 * has taken that case): the previous source, or a new current one
 */
struct jb_rx *jb_rx_switch(struct jb *jb, uint32_t ssrc, uint16_t seq,
			   uint64_t now, bool *switchedp)
{
	struct jb_rx *rx0 = &jb->rx[0], *rx1 = &jb->rx[1], tmp;

	*switchedp = false;

	if (!rx0->valid) {
		rx_init(jb, rx0, ssrc);
		*switchedp = true;
		return rx0;
	}

	if (rx0->ssrc == ssrc)
		return rx0;

	if (rx1->valid && rx1->ssrc == ssrc) {
		int16_t d = (int16_t)(uint16_t)(seq - (uint16_t)rx1->top);

		/* a straggler, unless the current source has gone quiet */
		if (d <= 0 || now < rx0->last_arr + BACK_MS * 1000)
			return rx1;

		/* the previous source is back */
		tmp = *rx0;
		*rx0 = *rx1;
		*rx1 = tmp;
		*switchedp = true;
		return rx0;
	}

	jb->lost_done += jb_rx_lost(rx1);
	*rx1 = *rx0;
	rx_init(jb, rx0, ssrc);
	*switchedp = true;

	return rx0;
}


/** Learn the packet duration from consecutive timestamps */
void jb_rx_learn_dur(struct jb *jb, struct jb_rx *rx, uint32_t ts)
{
	int32_t d = (int32_t)(ts - rx->top_ts);
	unsigned k;

	if (d <= 0 || (uint32_t)d > jb->max_dur)
		return;

	if ((uint32_t)d != rx->pdur_cand) {
		rx->pdur_cand = (uint32_t)d;
		return;
	}

	if (rx->pdur == (uint32_t)d)
		return;

	rx->pdur = (uint32_t)d;

	for (k = 0; k < jb->n; k++) {
		struct jb_ent *e = ENT(jb, k);

		if (e->gen == rx->gen && !(e->flags & (EF_DURSET | EF_CN)))
			e->dur = rx->pdur;
	}
}


/**
 * Report the sequence number of a packet of the stream that is not given
 * to the jitter buffer (a telephone-event packet), so that it does not
 * count as lost and a gap around it is silence, not loss
 *
 * @param jb   Jitter buffer
 * @param ssrc Its source
 * @param seq  Its sequence number
 */
void jb_note_seq(struct jb *jb, uint32_t ssrc, uint16_t seq)
{
	struct jb_rx *rx = NULL;
	int64_t eseq;
	bool isnew;

	if (!jb)
		return;

	if (jb->rx[0].valid && jb->rx[0].ssrc == ssrc)
		rx = &jb->rx[0];
	else if (jb->rx[1].valid && jb->rx[1].ssrc == ssrc)
		rx = &jb->rx[1];

	if (!rx || !rx->seq_ok)
		return;

	if (!jb_rx_seq(jb, rx, seq, &eseq, &isnew)) {
		uint64_t b = (uint64_t)eseq & (SEQWIN - 1);
		rx->note[b / 64] |= (uint64_t)1 << (b % 64);
	}
}
