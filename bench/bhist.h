/**
 * @file bhist.h  Latency histograms for the load harness
 *
 * A fixed log-linear histogram of values in [us]: 1 us buckets up to 1 ms,
 * 10 us up to 10 ms, 100 us up to 100 ms, 1 ms up to 1 s and 10 ms up to
 * 10 s, then one overflow bucket. The relative error of a percentile is
 * at most one bucket (<= 10 %, <= 1 us below 1 ms). Adding a value is a
 * few compares and an increment: cheap enough for every packet.
 *
 * Locking: none. A histogram belongs to one thread.
 */
#ifndef CB_BHIST_H
#define CB_BHIST_H

#include <stddef.h>
#include <stdint.h>

/** Buckets: 1000 + 4 * 900 + overflow */
#define BHIST_NB 4601

/** A histogram of durations in [us] */
struct bhist {
	uint64_t n;          /**< values added                          */
	uint64_t neg;        /**< negative values (counted in bucket 0)  */
	int64_t  min;        /**< smallest value [us]                   */
	int64_t  max;        /**< largest value [us]                    */
	double   sum;        /**< sum of the values [us]                */
	uint32_t b[BHIST_NB];
};

void     bhist_reset(struct bhist *h);
void     bhist_add(struct bhist *h, int64_t us);
void     bhist_merge(struct bhist *dst, const struct bhist *src);
int64_t  bhist_pct(const struct bhist *h, double pct);
int      bhist_json(char *buf, size_t sz, const struct bhist *h);

#endif
