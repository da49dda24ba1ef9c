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
 * Packet length. Each packet covers [ts, ts + dur): dur as the caller
 * gives it, else learnt per source (20 ms until then). Packets shorter
 * than a slot (10 ms), or straddling slots (30 ms), need the packet that
 * completes a slot: the due times carry ptime - gcd(dur, ptime) more (10
 * ms for both; 0 for 20, 40, 60 ms).
 *
 * Where the parts are (see jb_int.h): sequence accounting and source
 * switching in jb_rx.c, the packet store in jb_store.c, the target delay
 * in jb_est.c, placing packets (anchor, late, resync) in jb_put.c, and
 * the slot decisions (adaptation, drift, lost or silent) in jb_play.c.
 * This file holds the configuration, allocation, clock change and
 * statistics.
 *
 * Cost. All memory is allocated by jb_alloc(), except when the first
 * packet larger than the arena's slots grows them (jb_store.c). Per
 * packet: a copy of the payload, an insertion into a small sorted index,
 * O(1) estimator work in the common case. Per slot: a plan over the few
 * buffered packets.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <re_types.h>
#include <re_mem.h>
#include <re_fmt.h>
#include "jb_int.h"

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

#define CONF_U32(c, k) (*(uint32_t *)(void *)((char *)(c) + (k)->off))


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


/* Drop everything buffered; the next packet starts a new epoch. The
 * output timeline and the statistics continue. */
static void flush(struct jb *jb)
{
	jb_store_release(jb);
	jb_store_consume(jb, jb->n);
	jb_store_release(jb);

	jb->need_epoch = true;
	jb->sil = true;
	jb->last_valid = false;
	jb_store_depth(jb);
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
	jb_est_reset(jb);

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
	st->lost = jb->lost_done + jb_rx_lost(&jb->rx[0]) +
		jb_rx_lost(&jb->rx[1]);
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
