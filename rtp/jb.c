/**
 * @file jb.c  Adaptive jitter buffer with a continuous 20 ms output timeline
 *
 * Design note.
 *
 * Slots. The output is a timeline of slots of `ptime` (20 ms): slot k is
 * due at next_due, next_due + ptime, ... and every slot gives exactly one
 * result. next_due only ever moves forward by one ptime per result, so the
 * agent sees 50 results a second whatever the network does. A result is
 * emitted at its due time if its media is here (a packet that arrives
 * after its slot is due is emitted at once, by the jb_get() that follows
 * its jb_put()), and at the latest `grace` after it: then the missing part
 * is concealed (LOST) or played as silence.
 *
 * Playout coordinates. Media positions are 64-bit sample counts at the
 * clock rate, the "ext" coordinates. `play` is the position the next slot
 * starts at; each result consumes [play, play + ptime). Each source maps
 * its RTP timestamps into ext with one offset (ts_ref -> ext_ref), chosen
 * when its first packet arrives (the anchor) and again on a resync, so the
 * timeline stays continuous across SSRC changes and timestamp jumps, and
 * packets of the old mapping still buffered play out first.
 *
 * Anchor. The first packet of a mapping (an "epoch") is placed on the
 * first slot due no earlier than its arrival plus the target delay (less
 * half the grace), and after any media still buffered. The gap before it
 * is silence. Packets of an older mapping (the previous source, or before
 * a timestamp jump) may still fill the time before the epoch starts, never
 * after it.
 *
 * Packet length. Each packet covers [ts, ts + dur): dur as the caller
 * gives it, else learnt per source from two equal timestamp steps between
 * consecutive sequence numbers (20 ms until then). Packets shorter than a
 * slot (10 ms), or straddling slots (30 ms), need the packet that
 * completes a slot: the due times carry ptime - gcd(dur, ptime) more (10
 * ms for both; 0 for 20, 40, 60 ms). Where packets overlap, the later
 * start wins.
 *
 * Target delay. For each packet, transit = arrival - ext time. The
 * earliest-arrival schedule is the minimum transit over the last `window`
 * packets of the epoch; a packet's lateness is its transit minus that
 * minimum. The target delay is the `percentile` of the last `window`
 * latenesses, clamped to [min_wait, max_wait]. Clean input has lateness 0
 * and so no added wait. A packet late beyond any target (a jump
 * candidate) does not count.
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
 * Lost, late, silent. A packet whose first sample lies before `play` when
 * it arrives is late (its slot was emitted): it is dropped unless some of
 * its media is still ahead. A gap in the media is SILENCE, not LOST, when
 * it is certainly not loss: after a comfort-noise packet (cn_pt) or a
 * packet flagged sid (DTX), before the first packet of an epoch, or when
 * the packet after the gap is here and every sequence number between it
 * and the last played packet has arrived (the sender paused: silence
 * suppression, DTX, DTMF reported with jb_note_seq()). Otherwise the gap
 * is LOST, waiting `grace` for the packet, and turns to SILENCE once
 * `silence_after` of concealment has been emitted in a row (by then the
 * concealment has faded out). The LOST segment right before a buffered
 * packet carries that packet's payload for Opus in-band FEC.
 *
 * Resync. A new SSRC starts a new epoch at once (packets of the previous
 * source still in sequence are played with its old mapping; its late
 * stragglers are dropped). Within a source, a packet newer than all others
 * whose ext due time lies beyond max_wait + 100 ms + ptime from now is a
 * forward timestamp jump; two such packets in a row that lie wholly before
 * `play` by more than max_wait + grace (late beyond any target), or one
 * with the marker bit, are a backward jump: both start a new epoch. A
 * sequence jump beyond 3000 forward or 256 back is taken only when the
 * next packet follows it (RFC 3550 A.1 probation). The previous source
 * takes over again only after the current one has been quiet 200 ms, so
 * stragglers of a transfer cannot flip the stream back.
 *
 * Cost. Payloads are copied into an arena of `capacity` equal slots; the
 * store is a small sorted index array; the target is a quickselect over
 * `window` integers per packet. The slots start at SLOT_INIT bytes (a
 * 20 or 30 ms G.711 packet, any narrowband Opus one) and the first
 * larger packet grows them all, doubling, up to max_payload: a call
 * allocates at most a few times, and holds memory for the packets it
 * gets rather than for the largest it could (16 x 1500 bytes for Opus).
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <re_types.h>
#include <re_mem.h>
#include <re_fmt.h>
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

#define K(nm, d, lo, hi, u) \
	{ #nm, offsetof(struct jb_conf, nm), d, lo, hi, u }
/** The configuration keys: one table, defaults and bounds */
static const struct jb_conf_key conf_keys[] = {
	K(clock_rate,    8000,  8000, 192000, "Hz"),
	K(ptime,           20,    10,     60, "ms"),
	K(min_wait,         0,     0,   1000, "ms"),
	K(max_wait,        60,     0,   1000, "ms"),
	K(grace,            5,     0,     20, "ms"),
	K(silence_after,   60,     0,  10000, "ms"),
	K(window,         128,     8,   4096, "packets"),
	K(percentile,      95,    50,    100, "%"),
	K(capacity,        16,     2,   1024, "packets"),
	K(max_payload,    480,    16,   8192, "bytes"),
	K(cn_pt,           13,     0,    128, ""),
};
#undef K

#define ENT(jb, i) (&(jb)->ent[(jb)->ord[(i)]])
#define CONF_U32(c, k) (*(uint32_t *)(void *)((char *)(c) + (k)->off))


static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }


/** ext samples -> [us] */
static inline int64_t to_us(const struct jb *jb, int64_t samples)
{
	return samples * 1000000 / (int64_t)jb->conf.clock_rate;
}


static int64_t ceil_div(int64_t a, int64_t b)
{
	return a <= 0 ? 0 : (a + b - 1) / b;
}


/**
 * Fill a configuration with the defaults
 *
 * @param conf Configuration to fill
 */
void jb_conf_default(struct jb_conf *conf)
{
	size_t i;

	if (!conf)
		return;

	memset(conf, 0, sizeof(*conf));
	for (i = 0; i < ARRAY_SIZE(conf_keys); i++)
		CONF_U32(conf, &conf_keys[i]) = conf_keys[i].def;
}


/**
 * The configuration keys, with defaults and bounds
 *
 * @param np Returns the number of keys
 *
 * @return The key table
 */
const struct jb_conf_key *jb_conf_keys(size_t *np)
{
	if (np)
		*np = ARRAY_SIZE(conf_keys);

	return conf_keys;
}


/**
 * Check a configuration
 *
 * @param conf Configuration
 * @param keyp Returns the name of the first offending key, if any
 *
 * @return 0 if valid, EINVAL if not
 */
int jb_conf_check(const struct jb_conf *conf, const char **keyp)
{
	const char *key = NULL;
	size_t i;

	if (!conf)
		return EINVAL;

	for (i = 0; i < ARRAY_SIZE(conf_keys) && !key; i++) {
		const struct jb_conf_key *k = &conf_keys[i];
		uint32_t v = *(const uint32_t *)(const void *)
			((const char *)conf + k->off);

		if (v < k->min || v > k->max)
			key = k->name;
	}

	if (!key && conf->min_wait > conf->max_wait)
		key = "min_wait";
	else if (!key && (uint64_t)conf->clock_rate * conf->ptime % 1000)
		key = "ptime";
	else if (!key && conf->grace >= conf->ptime)
		key = "grace";

	if (keyp)
		*keyp = key;

	return key ? EINVAL : 0;
}


/**
 * Set one configuration key by name, within its bounds
 *
 * @param conf Configuration
 * @param name Key name, as in struct jb_conf
 * @param val  New value
 *
 * @return 0 if set, ENOENT for an unknown key, ERANGE if out of bounds
 */
int jb_conf_set(struct jb_conf *conf, const char *name, uint32_t val)
{
	size_t i;

	if (!conf || !name)
		return EINVAL;

	for (i = 0; i < ARRAY_SIZE(conf_keys); i++) {
		const struct jb_conf_key *k = &conf_keys[i];

		if (strcmp(k->name, name))
			continue;

		if (val < k->min || val > k->max)
			return ERANGE;

		CONF_U32(conf, k) = val;
		return 0;
	}

	return ENOENT;
}


static void derive(struct jb *jb)
{
	const struct jb_conf *c = &jb->conf;

	jb->slot_ts   = c->clock_rate * c->ptime / 1000;
	jb->slot_us   = (int64_t)c->ptime * 1000;
	jb->grace_us  = (int64_t)c->grace * 1000;
	jb->minw_us   = (int64_t)c->min_wait * 1000;
	jb->maxw_us   = (int64_t)c->max_wait * 1000;
	jb->sil_slots = (c->silence_after + c->ptime - 1) / c->ptime;
	jb->max_dur   = c->clock_rate / 1000 * MAX_DUR_MS;
}


static void destructor(void *arg)
{
	struct jb *jb = arg;

	mem_deref(jb->ent);
	mem_deref(jb->arena);
	mem_deref(jb->ord);
	mem_deref(jb->freel);
	mem_deref(jb->pend);
	mem_deref(jb->tr);
	mem_deref(jb->late);
	mem_deref(jb->scratch);
}


/**
 * Allocate a jitter buffer. All its memory is allocated here.
 *
 * @param jbp  Returns the jitter buffer
 * @param conf Configuration, NULL for the defaults
 *
 * @return 0 if success, EINVAL for a bad configuration, ENOMEM
 */
int jb_alloc(struct jb **jbp, const struct jb_conf *conf)
{
	struct jb *jb;
	unsigned i, cap, win;
	int err;

	if (!jbp)
		return EINVAL;

	jb = mem_zalloc(sizeof(*jb), destructor);
	if (!jb)
		return ENOMEM;

	if (conf)
		jb->conf = *conf;
	else
		jb_conf_default(&jb->conf);

	err = jb_conf_check(&jb->conf, NULL);
	if (err)
		goto out;

	derive(jb);
	cap = jb->conf.capacity;
	win = jb->conf.window;

	jb->ent     = mem_zalloc(cap * sizeof(*jb->ent), NULL);
	jb->slot    = jb->conf.max_payload < SLOT_INIT ?
		jb->conf.max_payload : SLOT_INIT;
	jb->arena   = mem_alloc((size_t)cap * jb->slot, NULL);
	jb->ord     = mem_zalloc(cap * sizeof(*jb->ord), NULL);
	jb->freel   = mem_zalloc(cap * sizeof(*jb->freel), NULL);
	jb->pend    = mem_zalloc(cap * sizeof(*jb->pend), NULL);
	jb->tr      = mem_zalloc(win * sizeof(*jb->tr), NULL);
	jb->late    = mem_zalloc(win * sizeof(*jb->late), NULL);
	jb->scratch = mem_zalloc(win * sizeof(*jb->scratch), NULL);
	if (!jb->ent || !jb->arena || !jb->ord || !jb->freel || !jb->pend ||
	    !jb->tr || !jb->late || !jb->scratch) {
		err = ENOMEM;
		goto out;
	}

	for (i = 0; i < cap; i++) {
		jb->ent[i].payload = jb->arena + (size_t)i * jb->slot;
		jb->freel[i] = (uint16_t)(cap - 1 - i);
	}
	jb->nfree = cap;
	jb->target_us = jb->minw_us;
	jb->gen_next = 1;

 out:
	if (err)
		mem_deref(jb);
	else
		*jbp = jb;

	return err;
}


/* ---- sequence accounting ------------------------------------------ */

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


static uint64_t rx_lost(const struct jb_rx *rx)
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
static int rx_seq(struct jb *jb, struct jb_rx *rx, uint16_t seq,
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
		jb->lost_done += rx_lost(rx);
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
static bool seq_noted(const struct jb *jb, uint32_t gen, int64_t s)
{
	const struct jb_rx *rx = rx_by_gen(jb, gen);
	uint64_t b = (uint64_t)s & (SEQWIN - 1);

	return rx && in_window(rx, s) && ((rx->note[b / 64] >> (b % 64)) & 1);
}


/** Every seq strictly between a and b (same source) has arrived */
static bool seq_continuous(const struct jb *jb, uint32_t gen, int64_t a,
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


/* ---- store ---------------------------------------------------------- */

static void pend_release(struct jb *jb)
{
	while (jb->npend)
		jb->freel[jb->nfree++] = jb->pend[--jb->npend];
}


/** Insert in (ext, sequence) order; ties of different sources by arrival */
static void store_insert(struct jb *jb, uint16_t idx)
{
	const struct jb_ent *n = &jb->ent[idx];
	unsigned k = jb->n;

	while (k > 0) {
		const struct jb_ent *p = ENT(jb, k - 1);

		if (p->ext < n->ext || (p->ext == n->ext &&
		    (p->gen != n->gen || p->eseq < n->eseq)))
			break;
		--k;
	}

	memmove(&jb->ord[k + 1], &jb->ord[k], (jb->n - k) * sizeof(*jb->ord));
	jb->ord[k] = idx;
	++jb->n;
}


/** Remove the first n entries; they stay readable until the next call */
static void store_consume(struct jb *jb, unsigned n)
{
	unsigned k;

	for (k = 0; k < n; k++) {
		struct jb_ent *e = ENT(jb, k);

		if (!(e->flags & (EF_CN | EF_PLAYED)))
			++jb->st.dropped;

		jb->pend[jb->npend++] = jb->ord[k];
	}

	memmove(&jb->ord[0], &jb->ord[n], (jb->n - n) * sizeof(*jb->ord));
	jb->n -= n;
}


static void depth_update(struct jb *jb)
{
	int64_t end = jb->play;
	uint32_t pkts = 0, ms;
	unsigned k;

	for (k = 0; k < jb->n; k++) {
		const struct jb_ent *e = ENT(jb, k);

		if (e->flags & EF_CN)
			continue;
		++pkts;
		end = max64(end, e->ext + e->dur);
	}

	ms = (uint32_t)(to_us(jb, end - jb->play) / 1000);

	jb->st.depth_pkts = pkts;
	jb->st.depth_ms   = ms;
	if (pkts > jb->st.depth_max_pkts)
		jb->st.depth_max_pkts = pkts;
	if (ms > jb->st.depth_max_ms)
		jb->st.depth_max_ms = ms;
}


/* ---- delay estimate ------------------------------------------------- */

/** k-th smallest of a[0..n) (0-based); reorders a */
static int32_t select_kth(int32_t *a, int n, int k)
{
	int lo = 0, hi = n - 1;

	while (lo < hi) {
		int32_t p = a[lo + (hi - lo) / 2];
		int i = lo, j = hi;

		while (i <= j) {
			while (a[i] < p)
				++i;
			while (a[j] > p)
				--j;
			if (i <= j) {
				int32_t t = a[i];
				a[i] = a[j];
				a[j] = t;
				++i;
				--j;
			}
		}

		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			break;
	}

	return a[k];
}


static void est_reset(struct jb *jb)
{
	jb->tr_n = 0;
	jb->tr_pos = 0;
	jb->have_last = false;
}


static void est_feed(struct jb *jb, int64_t transit)
{
	const unsigned win = jb->conf.window;
	int64_t old = 0, lateness;
	bool evict = false;
	unsigned k;
	int32_t v;

	/* minimum transit over the window */
	if (jb->tr_n == win) {
		old = jb->tr[jb->tr_pos];
		evict = true;
	}
	else {
		++jb->tr_n;
	}
	jb->tr[jb->tr_pos] = transit;
	jb->tr_pos = (jb->tr_pos + 1) % win;

	if (jb->tr_n == 1 || transit <= jb->tr_min) {
		jb->tr_min = transit;
	}
	else if (evict && old == jb->tr_min) {
		jb->tr_min = transit;
		for (k = 0; k < jb->tr_n; k++)
			jb->tr_min = min64(jb->tr_min, jb->tr[k]);
	}

	/* lateness and its percentile. Stored latenesses never change, so
	   the k-th value is kept with the counts of window values below and
	   equal to it, updated per packet in O(1); only when the k-th
	   position leaves that run of equal values is it selected again */
	lateness = min64(transit - jb->tr_min, INT32_MAX);
	if (jb->late_n == win) {
		int32_t y = jb->late[jb->late_pos];

		if (jb->pct_valid) {
			if (y < jb->pct_v)
				--jb->pct_below;
			else if (y == jb->pct_v)
				--jb->pct_eq;
		}
	}
	else {
		++jb->late_n;
	}
	jb->late[jb->late_pos] = (int32_t)lateness;
	jb->late_pos = (jb->late_pos + 1) % win;
	if (jb->pct_valid) {
		if ((int32_t)lateness < jb->pct_v)
			++jb->pct_below;
		else if ((int32_t)lateness == jb->pct_v)
			++jb->pct_eq;
	}

	k = (unsigned)(((uint64_t)jb->conf.percentile * jb->late_n + 99) / 100);
	k = k ? k - 1 : 0;

	if (jb->pct_valid && jb->pct_below <= k &&
	    k < jb->pct_below + jb->pct_eq) {
		v = jb->pct_v;
	}
	else {
		memcpy(jb->scratch, jb->late,
		       jb->late_n * sizeof(*jb->scratch));
		v = select_kth(jb->scratch, (int)jb->late_n, (int)k);

		jb->pct_v = v;
		jb->pct_below = jb->pct_eq = 0;
		for (unsigned i = 0; i < jb->late_n; i++) {
			if (jb->late[i] < v)
				++jb->pct_below;
			else if (jb->late[i] == v)
				++jb->pct_eq;
		}
		jb->pct_valid = true;
	}

	jb->target_us = min64(max64(v, jb->minw_us), jb->maxw_us);

	/* RFC 3550 interarrival jitter, A.8, in [us] */
	if (jb->have_last) {
		int64_t d = transit - jb->last_transit;

		if (d < 0)
			d = -d;
		d = min64(d, INT32_MAX);
		jb->jit16 += d - ((jb->jit16 + 8) >> 4);
	}
	jb->last_transit = transit;
	jb->have_last = true;
}


/* ---- receive -------------------------------------------------------- */

static int64_t map_ext(const struct jb_rx *rx, uint32_t ts, int64_t eseq)
{
	if (rx->pmapped && eseq < rx->epoch_seq)
		return rx->pext_ref + (int32_t)(ts - rx->pts_ref);

	return rx->ext_ref + (int32_t)(ts - rx->ts_ref);
}


static uint32_t gcd32(uint32_t a, uint32_t b)
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
static int64_t pack_us(const struct jb *jb)
{
	uint32_t d = jb->rx[0].pdur ? jb->rx[0].pdur : jb->slot_ts;

	return to_us(jb, jb->slot_ts - gcd32(d, jb->slot_ts));
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

	est_reset(jb);
	jb->late_run   = 0;
	jb->need_epoch = false;
}


/** The source a packet belongs to; switches source if it is a new one */
static struct jb_rx *rx_select(struct jb *jb, uint32_t ssrc, uint16_t seq,
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

	jb->lost_done += rx_lost(rx1);
	*rx1 = *rx0;
	rx_init(jb, rx0, ssrc);
	*switchedp = true;

	return rx0;
}


/** Learn the packet duration from consecutive timestamps */
static void learn_dur(struct jb *jb, struct jb_rx *rx, uint32_t ts)
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


static void cn_keep(struct jb *jb, const uint8_t *p, size_t len)
{
	unsigned nxt = jb->cn_cur ^ 1;

	len = len < CN_MAX ? len : CN_MAX;
	if (len)
		memcpy(jb->cn[nxt], p, len);
	jb->cn_len = len;
	jb->cn_cur = nxt;
}


/*
 * Make every arena slot hold len bytes (len <= max_payload): double the
 * slot size until it does, capped at max_payload, and move the buffered
 * payloads. Pointers from the last jb_get() die here, as the API allows.
 */
static int arena_grow(struct jb *jb, uint32_t len)
{
	const uint32_t cap = jb->conf.capacity;
	uint32_t slot = jb->slot, i;
	uint8_t *arena;

	while (slot < len)
		slot *= 2;
	if (slot > jb->conf.max_payload)
		slot = jb->conf.max_payload;

	arena = mem_alloc((size_t)cap * slot, NULL);
	if (!arena)
		return ENOMEM;

	for (i = 0; i < cap; i++) {
		struct jb_ent *e = &jb->ent[i];

		if (e->len)
			memcpy(arena + (size_t)i * slot, e->payload, e->len);
		e->payload = arena + (size_t)i * slot;
	}

	mem_deref(jb->arena);
	jb->arena = arena;
	jb->slot = slot;
	++jb->st.arena_grows;

	return 0;
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
	struct jb_rx *rx;
	struct jb_ent *e;
	bool switched, isnew, cn, cur, had_seq, stale;
	bool first = false, beyond = false;
	int64_t eseq, ext = 0, prev_top;
	uint32_t dur;
	uint16_t idx;
	int err;

	if (!jb || !pkt)
		return EINVAL;

	if ((pkt->len && !pkt->payload) || pkt->pt > 127 ||
	    pkt->dur > jb->max_dur) {
		++jb->st.invalid;
		return EINVAL;
	}

	if (pkt->len > jb->conf.max_payload) {
		++jb->st.invalid;
		return EMSGSIZE;
	}

	if (pkt->len > jb->slot) {
		err = arena_grow(jb, pkt->len);
		if (err)
			return err;
	}

	pend_release(jb);
	++jb->st.received;

	cn = (pkt->pt == jb->conf.cn_pt);

	rx = rx_select(jb, pkt->ssrc, pkt->seq, now_us, &switched);
	cur = (rx == &jb->rx[0]);
	prev_top = rx->top;
	had_seq = rx->seq_ok;

	err = rx_seq(jb, rx, pkt->seq, &eseq, &isnew);
	if (err == EALREADY) {
		++jb->st.duplicate;
		return 0;
	}
	else if (err) {
		++jb->st.dropped;
		return 0;
	}

	if (!isnew)
		++jb->st.reordered;

	if (pkt->dur && !cn)
		rx->pdur = pkt->dur;
	else if (isnew && had_seq && eseq == prev_top + 1 && !pkt->marker &&
		 !cn && !rx->top_cn)
		learn_dur(jb, rx, pkt->ts);

	dur = cn ? 0 : (pkt->dur ? pkt->dur : rx->pdur);

	/* mapped by an older epoch: previous source, or before a jump */
	stale = !cur || (rx->pmapped && eseq < rx->epoch_seq);

	if (cur)
		rx->last_arr = now_us;

	/* the packet's position in playout coordinates */
	if (cur && (switched || jb->need_epoch || !rx->mapped)) {
		first = true;
	}
	else {
		int64_t ahead;
		bool too_early;

		ext = map_ext(rx, pkt->ts, eseq);

		/* how far ahead of now it would be due */
		ahead = (int64_t)jb->next_due - (int64_t)now_us +
			to_us(jb, ext - jb->play);
		too_early = ahead > jb->maxw_us + jb->slot_us +
			(int64_t)JUMP_MS * 1000;

		if (too_early && !(cur && isnew && !stale)) {
			/* an old or reordered packet that claims to be due
			   far ahead: it would only hold a place */
			++jb->st.dropped;
			return 0;
		}

		if (cur && isnew && !stale) {
			if (too_early) {
				first = true;           /* forward jump */
			}
			else if ((jb->sil || jb->last_silent) &&
				 ext + max64(dur, 1) <= jb->play) {
				/* a talk spurt after silence (DTMF, silence
				   suppression) whose slot the silence ran
				   past: re-anchor on it instead of dropping
				   the whole spurt as late */
				first = true;
			}
			else if (ext + max64(dur, 1) <= jb->play &&
				 to_us(jb, jb->play - ext) >
				 jb->maxw_us + jb->grace_us) {
				/* wholly late, by more than any target:
				   a backward jump if it goes on */
				beyond = true;
				if (pkt->marker || ++jb->late_run >= LATE_RUN)
					first = true;
			}
			else {
				jb->late_run = 0;
			}
		}
	}

	if (first) {
		epoch_new(jb, rx, pkt->ts, eseq, now_us, !switched);
		ext = rx->ext_ref;
		beyond = false;
	}

	if (isnew) {
		rx->top_ts = pkt->ts;
		rx->top_cn = cn;
		if (!(rx->pmapped && eseq < rx->epoch_seq)) {
			rx->ts_ref  = pkt->ts;
			rx->ext_ref = ext;
		}
	}

	/* timing of the current mapping feeds the delay estimate */
	if (!stale && !beyond)
		est_feed(jb, (int64_t)now_us - to_us(jb, ext));

	/* an older epoch's packet must not run into the current one */
	if (stale && ext + max64(dur, 1) > jb->epoch_ext) {
		++jb->st.dropped;
		return 0;
	}

	if (ext < jb->play) {
		++jb->st.late;

		if (cn) {
			jb->sil = true;
			cn_keep(jb, pkt->payload, pkt->len);
			return 0;
		}
		if (ext + dur <= jb->play)
			return 0;
	}

	if (!jb->nfree) {
		++jb->st.dropped;
		return 0;
	}

	idx = jb->freel[--jb->nfree];
	e = &jb->ent[idx];
	e->ext     = ext;
	e->eseq    = eseq;
	e->arrival = now_us;
	e->dur     = dur;
	e->ts      = pkt->ts;
	e->gen     = rx->gen;
	e->seq     = pkt->seq;
	e->len     = (uint16_t)pkt->len;
	e->pt      = pkt->pt;
	e->flags   = (pkt->marker ? EF_MARKER : 0) |
		     (pkt->sid ? EF_SID : 0) |
		     (cn ? EF_CN : 0) |
		     (first ? EF_EPOCH : 0) |
		     (pkt->dur ? EF_DURSET : 0);
	if (pkt->len)
		memcpy(e->payload, pkt->payload, pkt->len);

	store_insert(jb, idx);
	depth_update(jb);

	return 0;
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

	if (!rx_seq(jb, rx, seq, &eseq, &isnew)) {
		uint64_t b = (uint64_t)eseq & (SEQWIN - 1);
		rx->note[b / 64] |= (uint64_t)1 << (b % 64);
	}
}


/* ---- playout -------------------------------------------------------- */

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
			seq_continuous(jb, lgen, lseq, nx->eseq);
	else
		cont = seq_noted(jb, lgen, lseq + 1);

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
		cn_keep(jb, pl->cn->payload, pl->cn->len);
	if (pl->last) {
		jb->last_valid = true;
		jb->last_gen   = pl->last->gen;
		jb->last_eseq  = pl->last->eseq;
	}
	jb->sil = pl->sil;

	store_consume(jb, pl->ncons);

	out_kind(jb, out, pl->frame, pl->lost);

	jb->play     += (int64_t)skip + jb->slot_ts;
	jb->next_due += (uint64_t)jb->slot_us;

	depth_update(jb);
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

	pend_release(jb);

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


/* Drop everything buffered; the next packet starts a new epoch. The
 * output timeline and the statistics continue. */
static void flush(struct jb *jb)
{
	pend_release(jb);
	store_consume(jb, jb->n);
	pend_release(jb);

	jb->need_epoch = true;
	jb->sil = true;
	jb->last_valid = false;
	depth_update(jb);
}


/**
 * Change the RTP clock rate (a codec change mid-call). Flushes the
 * buffer; the output timeline continues.
 *
 * @param jb         Jitter buffer
 * @param clock_rate New clock rate [Hz]
 *
 * @return 0 if success, EINVAL if the rate is out of bounds
 */
int jb_clock_set(struct jb *jb, uint32_t clock_rate)
{
	struct jb_conf c;
	unsigned i;

	if (!jb)
		return EINVAL;

	c = jb->conf;
	c.clock_rate = clock_rate;
	if (jb_conf_check(&c, NULL))
		return EINVAL;

	flush(jb);

	jb->play = jb->play * clock_rate / jb->conf.clock_rate;
	jb->conf = c;
	derive(jb);

	for (i = 0; i < 2; i++) {
		jb->rx[i].pdur = jb->slot_ts;
		jb->rx[i].pdur_cand = 0;
		jb->rx[i].mapped = false;
		jb->rx[i].pmapped = false;
	}
	est_reset(jb);

	return 0;
}


/**
 * Get the statistics
 *
 * @param jb Jitter buffer
 * @param st Returns the statistics
 */
void jb_stats(const struct jb *jb, struct jb_stats *st)
{
	if (!jb || !st)
		return;

	*st = jb->st;
	st->lost = jb->lost_done + rx_lost(&jb->rx[0]) + rx_lost(&jb->rx[1]);
	st->target_us = (uint32_t)jb->target_us;
	st->target_ms = (uint32_t)((jb->target_us + 500) / 1000);
	st->jitter_us = (uint32_t)(jb->jit16 >> 4);
	st->jitter = (uint32_t)((uint64_t)st->jitter_us *
				jb->conf.clock_rate / 1000000);
	st->wait_avg_us = jb->wait_cnt ?
		(uint32_t)(jb->wait_sum / jb->wait_cnt) : 0;
	st->ssrc = jb->rx[0].ssrc;
}


/**
 * Print the statistics on one line, for logs
 *
 * @param pf Print handler
 * @param jb Jitter buffer
 *
 * @return 0 if success, otherwise errorcode
 */
int jb_debug(struct re_printf *pf, const struct jb *jb)
{
	struct jb_stats st;

	if (!jb)
		return 0;

	jb_stats(jb, &st);

	return re_hprintf(pf, "jb: received=%llu lost=%llu late=%llu "
			  "duplicate=%llu reordered=%llu dropped=%llu "
			  "concealed=%llu silence=%llu inserted=%llu "
			  "skipped=%llu resyncs=%llu depth=%ums/%u "
			  "max=%ums/%u target=%ums jitter=%uus wait=%uus",
			  st.received, st.lost, st.late, st.duplicate,
			  st.reordered, st.dropped, st.concealed, st.silence,
			  st.inserted, st.skipped, st.resyncs, st.depth_ms,
			  st.depth_pkts, st.depth_max_ms, st.depth_max_pkts,
			  st.target_ms, st.jitter_us, st.wait_avg_us);
}
