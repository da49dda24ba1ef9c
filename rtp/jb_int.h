/**
 * @file jb_int.h  Jitter buffer internals, shared by rtp/jb*.c only
 *
 * The jitter buffer is one object split by job over several files:
 *
 *   jb.c        configuration, allocation, clock change, statistics
 *   jb_rx.c     per-source sequence accounting and source switching
 *   jb_store.c  the packet store: sorted index, payload arena, CN payload
 *   jb_est.c    the delay estimator (minimum transit, lateness percentile)
 *   jb_put.c    receive: placing a packet on the playout timeline
 *   jb_play.c   playout: what each 20 ms slot holds, delay slips
 *
 * Functions shared between the files carry the prefix of the file that
 * defines them (jb_rx_, jb_store_, jb_est_). Per-packet helpers small
 * enough to matter are static inline here. Nothing here is for other
 * modules: they use jb.h.
 *
 * Locking: none. A jitter buffer is used by one thread only.
 */
#ifndef CB_JB_INT_H
#define CB_JB_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "jb.h"

enum {
	SEQWIN      = 256,          /**< duplicate window [packets]         */
	MAX_DROPOUT = 3000,         /**< largest forward seq step [packets] */
	CN_MAX      = 64,           /**< CN payload kept [bytes]            */
	SLOT_INIT   = 256,          /**< arena slot to start with [bytes]   */
	MAX_DUR_MS  = 120,          /**< longest packet [ms]                */
	JUMP_MS     = 100,          /**< margin before a forward jump [ms]  */
	LATE_RUN    = 2,            /**< late packets that mean a jump      */
	BACK_MS     = 200,          /**< idle time before the previous
				         source may take over again [ms]    */
};

enum ent_flag {
	EF_MARKER = 1 << 0,
	EF_SID    = 1 << 1,
	EF_CN     = 1 << 2,
	EF_EPOCH  = 1 << 3,         /**< first packet of an epoch           */
	EF_DURSET = 1 << 4,         /**< duration given by the caller       */
	EF_PLAYED = 1 << 5,         /**< some of its media has been emitted */
};


/** A buffered packet */
struct jb_ent {
	int64_t  ext;               /**< first sample [ext]                 */
	int64_t  eseq;              /**< extended sequence number           */
	uint64_t arrival;           /**< [us]                               */
	uint32_t dur;               /**< [clock units], 0 for CN            */
	uint32_t ts;                /**< RTP timestamp                      */
	uint32_t gen;               /**< source generation                  */
	uint16_t seq;
	uint16_t len;               /**< [bytes]                            */
	uint8_t  pt;
	uint8_t  flags;             /**< enum ent_flag                      */
	uint8_t *payload;           /**< into the arena                     */
};

/** Sequence accounting and timestamp mapping of one source */
struct jb_rx {
	bool     valid;
	bool     seq_ok;            /**< base/top hold a first packet       */
	uint32_t ssrc;
	uint32_t gen;               /**< unique per source instance         */
	int64_t  base;              /**< lowest extended seq received       */
	int64_t  top;               /**< highest extended seq received      */
	uint64_t uniq;              /**< distinct seqs in [base, top]       */
	uint64_t map[SEQWIN / 64];  /**< received bits, (top-SEQWIN, top]   */
	uint64_t note[SEQWIN / 64]; /**< of those, not media (jb_note_seq)  */
	bool     bad;               /**< a sequence jump is on probation    */
	uint16_t bad_seq;           /**< seq that confirms it               */
	uint32_t top_ts;            /**< RTP timestamp of top               */
	bool     top_cn;            /**< top was comfort noise              */
	uint32_t pdur;              /**< packet duration [clock units]      */
	uint32_t pdur_cand;         /**< candidate, seen once               */
	uint64_t last_arr;          /**< arrival of its last packet [us]    */

	bool     mapped;            /**< ts_ref/ext_ref valid               */
	uint32_t ts_ref;            /**< RTP timestamp ...                  */
	int64_t  ext_ref;           /**< ... and its ext position           */
	int64_t  epoch_seq;         /**< first extended seq of the epoch    */
	bool     pmapped;           /**< mapping before the last jump       */
	uint32_t pts_ref;
	int64_t  pext_ref;
};

/**
 * The jitter buffer. Owned and used by one thread (the call's media
 * worker); no locks.
 */
struct jb {
	struct jb_conf conf;
	uint32_t slot_ts;           /**< ptime [clock units]                */
	int64_t  slot_us;           /**< ptime [us]                         */
	int64_t  grace_us;
	int64_t  minw_us, maxw_us;  /**< target bounds [us]                 */
	uint32_t sil_slots;         /**< silence_after [slots]              */
	uint32_t max_dur;           /**< longest packet [clock units]       */

	/* packet store: entries, sorted index, free and pending stacks */
	struct jb_ent *ent;
	uint8_t  *arena;            /**< capacity slots of `slot` bytes     */
	uint32_t  slot;             /**< arena slot size [bytes]            */
	uint16_t *ord;              /**< buffered entries in ext order      */
	uint16_t *freel;
	uint16_t *pend;             /**< consumed by the last result        */
	unsigned  n, nfree, npend;

	/* receive side */
	struct jb_rx rx[2];         /**< current and previous source        */
	uint32_t gen_next;
	unsigned late_run;          /**< seq-new packets wholly late in a row */
	bool     need_epoch;        /**< next packet starts an epoch        */
	int64_t  epoch_ext;         /**< where the current epoch starts     */
	uint64_t lost_done;         /**< lost of retired sources            */

	/* delay estimate */
	int64_t  *tr;               /**< transit ring [us], this epoch      */
	unsigned  tr_n, tr_pos;
	int64_t   tr_min;
	int32_t  *late;             /**< lateness ring [us]                 */
	int32_t  *scratch;
	unsigned  late_n, late_pos;
	bool      pct_valid;        /**< pct_v is the k-th of the window    */
	int32_t   pct_v;            /**< last percentile value [us]         */
	unsigned  pct_below;        /**< window values < pct_v              */
	unsigned  pct_eq;           /**< window values == pct_v             */
	int64_t   target_us;
	bool      have_last;        /**< RFC 3550 jitter                    */
	int64_t   last_transit;
	int64_t   jit16;            /**< jitter [us] * 16                   */

	/* playout */
	bool     started;
	uint64_t next_due;          /**< due time of the next slot [us]     */
	int64_t  play;              /**< ext position of the next slot      */
	bool     sil;               /**< in silence (CN, DTX)               */
	bool     last_silent;       /**< the last result was SILENCE        */
	uint8_t  cn[2][CN_MAX];     /**< last CN payload, double buffered   */
	size_t   cn_len;
	unsigned cn_cur;
	bool     last_valid;        /**< last played or applied packet      */
	uint32_t last_gen;
	int64_t  last_eseq;
	uint32_t conceal_run;       /**< LOST slots in a row                */

	struct jb_stats st;
	uint64_t wait_sum, wait_cnt;
};


#define ENT(jb, i) (&(jb)->ent[(jb)->ord[(i)]])


static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }


/** ext samples -> [us] */
static inline int64_t to_us(const struct jb *jb, int64_t samples)
{
	return samples * 1000000 / (int64_t)jb->conf.clock_rate;
}


static inline uint32_t gcd32(uint32_t a, uint32_t b)
{
	while (b) {
		uint32_t t = a % b;
		a = b;
		b = t;
	}

	return a;
}


/**
 * Extra wait for the packet that completes a slot, when packets are
 * shorter than a slot or straddle slot boundaries: ptime - gcd(packet
 * duration, ptime); 0 for 20, 40 or 60 ms packets, 10 ms for 10 or 30 ms
 * packets [us]
 */
static inline int64_t pack_us(const struct jb *jb)
{
	uint32_t d = jb->rx[0].pdur ? jb->rx[0].pdur : jb->slot_ts;

	return to_us(jb, jb->slot_ts - gcd32(d, jb->slot_ts));
}


/** RTP timestamp -> ext, by the mapping the packet belongs to */
static inline int64_t jb_rx_map(const struct jb_rx *rx, uint32_t ts,
				int64_t eseq)
{
	if (rx->pmapped && eseq < rx->epoch_seq)
		return rx->pext_ref + (int32_t)(ts - rx->pts_ref);

	return rx->ext_ref + (int32_t)(ts - rx->ts_ref);
}


/* jb_rx.c */
uint64_t jb_rx_lost(const struct jb_rx *rx);
int  jb_rx_seq(struct jb *jb, struct jb_rx *rx, uint16_t seq,
	       int64_t *eseqp, bool *isnewp);
struct jb_rx *jb_rx_switch(struct jb *jb, uint32_t ssrc, uint16_t seq,
			   uint64_t now, bool *switchedp);
void jb_rx_learn_dur(struct jb *jb, struct jb_rx *rx, uint32_t ts);
bool jb_rx_noted(const struct jb *jb, uint32_t gen, int64_t s);
bool jb_rx_continuous(const struct jb *jb, uint32_t gen, int64_t a,
		      int64_t b);

/* jb_store.c */
void jb_store_insert(struct jb *jb, uint16_t idx);
void jb_store_consume(struct jb *jb, unsigned n);
void jb_store_depth(struct jb *jb);
int  jb_store_grow(struct jb *jb, uint32_t len);
void jb_store_cn(struct jb *jb, const uint8_t *p, size_t len);

/* jb_est.c */
void jb_est_reset(struct jb *jb);
void jb_est_feed(struct jb *jb, int64_t transit);


/** The source a packet belongs to; switches source if it is a new one */
static inline struct jb_rx *jb_rx_select(struct jb *jb, uint32_t ssrc,
					 uint16_t seq, uint64_t now,
					 bool *switchedp)
{
	if (jb->rx[0].valid && jb->rx[0].ssrc == ssrc) {
		*switchedp = false;
		return &jb->rx[0];
	}

	return jb_rx_switch(jb, ssrc, seq, now, switchedp);
}


/** Free the entries the last result consumed (jb_store.c's stacks) */
static inline void jb_store_release(struct jb *jb)
{
	while (jb->npend)
		jb->freel[jb->nfree++] = jb->pend[--jb->npend];
}

#endif
