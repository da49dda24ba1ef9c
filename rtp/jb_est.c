/**
 * @file jb_est.c  Jitter buffer: the delay estimator
 *
 * Design note. For each packet, transit = arrival - ext time. The
 * earliest-arrival schedule is the minimum transit over the last `window`
 * packets of the epoch; a packet's lateness is its transit minus that
 * minimum. The target delay is the `percentile` of the last `window`
 * latenesses, clamped to [min_wait, max_wait]. Clean input has lateness 0
 * and so no added wait. A packet late beyond any target (a jump
 * candidate) does not count; jb_put.c decides that. The RFC 3550
 * interarrival jitter (A.8) is kept alongside, for statistics and RTCP.
 *
 * Cost: O(1) per packet in the common case. The percentile is a
 * quickselect over `window` integers only when the k-th position leaves
 * the run of values equal to the last one selected.
 */
#include <string.h>
#include "jb_int.h"


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


void jb_est_reset(struct jb *jb)
{
	jb->tr_n = 0;
	jb->tr_pos = 0;
	jb->have_last = false;
}


/* the minimum transit over the window, with this packet's */
static void est_min(struct jb *jb, int64_t transit)
{
	const unsigned win = jb->conf.window;
	int64_t old = 0;
	bool evict = false;
	unsigned k;

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
}


/*
 * Lateness and its percentile. Stored latenesses never change, so the
 * k-th value is kept with the counts of window values below and equal to
 * it, updated per packet in O(1) here; only when the k-th position leaves
 * that run of equal values is it selected again (est_pct()).
 */
static void est_late_push(struct jb *jb, int32_t lateness)
{
	const unsigned win = jb->conf.window;

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
	jb->late[jb->late_pos] = lateness;
	jb->late_pos = (jb->late_pos + 1) % win;
	if (jb->pct_valid) {
		if (lateness < jb->pct_v)
			++jb->pct_below;
		else if (lateness == jb->pct_v)
			++jb->pct_eq;
	}
}


/* the `percentile` of the window's latenesses [us] */
static int32_t est_pct(struct jb *jb)
{
	unsigned k;
	int32_t v;

	k = (unsigned)(((uint64_t)jb->conf.percentile * jb->late_n + 99) / 100);
	k = k ? k - 1 : 0;

	if (jb->pct_valid && jb->pct_below <= k &&
	    k < jb->pct_below + jb->pct_eq)
		return jb->pct_v;

	memcpy(jb->scratch, jb->late, jb->late_n * sizeof(*jb->scratch));
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

	return v;
}


/* RFC 3550 interarrival jitter, A.8, in [us] */
static void est_jitter(struct jb *jb, int64_t transit)
{
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


/**
 * Take one packet's transit (arrival - ext time [us]) and update the
 * target delay and the jitter
 */
void jb_est_feed(struct jb *jb, int64_t transit)
{
	int32_t v;

	est_min(jb, transit);
	est_late_push(jb, (int32_t)min64(transit - jb->tr_min, INT32_MAX));
	v = est_pct(jb);

	jb->target_us = min64(max64(v, jb->minw_us), jb->maxw_us);

	est_jitter(jb, transit);
}
