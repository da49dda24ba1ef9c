/**
 * @file bhist.c  Latency histograms for the load harness
 */
#include <stdio.h>
#include <string.h>
#include "bhist.h"

/* decade d (0..4) covers [lo, hi) with 900 buckets of width w, except the
   first, which covers [0, 1000) in 1 us steps */
static const struct {
	int64_t lo, w;
	uint32_t base;
} dec[] = {
	{      1000,     10, 1000 },
	{     10000,    100, 1900 },
	{    100000,   1000, 2800 },
	{   1000000,  10000, 3700 },
};

static uint32_t bucket(int64_t us)
{
	if (us < 1000)
		return us < 0 ? 0 : (uint32_t)us;

	for (size_t i = 0; i < sizeof(dec) / sizeof(dec[0]); i++) {
		if (us < dec[i].lo * 10)
			return dec[i].base + (uint32_t)((us - dec[i].lo) /
							dec[i].w);
	}

	return BHIST_NB - 1;
}


/* the upper edge of a bucket [us] (the value a percentile reports) */
static int64_t bucket_top(uint32_t b)
{
	if (b < 1000)
		return b;

	for (size_t i = 0; i < sizeof(dec) / sizeof(dec[0]); i++) {
		if (b < dec[i].base + 900)
			return dec[i].lo + (int64_t)(b - dec[i].base + 1) *
				dec[i].w - 1;
	}

	return INT64_MAX;
}


/** Empty a histogram */
void bhist_reset(struct bhist *h)
{
	if (!h)
		return;

	memset(h, 0, sizeof(*h));
}


/**
 * Add one value
 *
 * @param h   Histogram
 * @param us  Value [us]; negative values count in the lowest bucket
 */
void bhist_add(struct bhist *h, int64_t us)
{
	if (!h)
		return;

	if (!h->n || us < h->min)
		h->min = us;
	if (!h->n || us > h->max)
		h->max = us;
	if (us < 0)
		++h->neg;

	++h->n;
	h->sum += (double)us;
	++h->b[bucket(us)];
}


/** Add every value of src to dst */
void bhist_merge(struct bhist *dst, const struct bhist *src)
{
	if (!dst || !src || !src->n)
		return;

	if (!dst->n || src->min < dst->min)
		dst->min = src->min;
	if (!dst->n || src->max > dst->max)
		dst->max = src->max;

	dst->n   += src->n;
	dst->neg += src->neg;
	dst->sum += src->sum;
	for (size_t i = 0; i < BHIST_NB; i++)
		dst->b[i] += src->b[i];
}


/**
 * A percentile
 *
 * @param h    Histogram
 * @param pct  Percentile, 0..100
 *
 * @return The upper edge of the bucket holding that percentile [us],
 *         clamped to the largest value seen; -1 if the histogram is empty
 */
int64_t bhist_pct(const struct bhist *h, double pct)
{
	uint64_t rank, acc = 0;

	if (!h || !h->n)
		return -1;

	if (pct <= 0)
		return h->min;
	if (pct >= 100)
		return h->max;

	/* the smallest value with at least pct % of values at or below it */
	rank = (uint64_t)((double)h->n * pct / 100.0 + 0.999999);
	if (rank < 1)
		rank = 1;

	for (uint32_t i = 0; i < BHIST_NB; i++) {
		acc += h->b[i];
		if (acc >= rank) {
			int64_t v = bucket_top(i);
			if (v > h->max)
				v = h->max;
			if (v < h->min)
				v = h->min;
			return v;
		}
	}

	return h->max;
}


/**
 * Print a histogram's summary as a JSON object
 *
 * {"n":..,"min":..,"p50":..,"p90":..,"p99":..,"p999":..,"max":..,"mean":..}
 * with values in [us]. An empty histogram prints {"n":0}.
 *
 * @return Characters written (as snprintf), or -1 if it did not fit
 */
int bhist_json(char *buf, size_t sz, const struct bhist *h)
{
	int n;

	if (!buf || !h)
		return -1;

	if (!h->n)
		n = snprintf(buf, sz, "{\"n\":0}");
	else
		n = snprintf(buf, sz,
			     "{\"n\":%llu,\"neg\":%llu,\"min\":%lld,"
			     "\"p50\":%lld,\"p90\":%lld,\"p99\":%lld,"
			     "\"p999\":%lld,\"max\":%lld,\"mean\":%.1f}",
			     (unsigned long long)h->n,
			     (unsigned long long)h->neg, (long long)h->min,
			     (long long)bhist_pct(h, 50),
			     (long long)bhist_pct(h, 90),
			     (long long)bhist_pct(h, 99),
			     (long long)bhist_pct(h, 99.9),
			     (long long)h->max, h->sum / (double)h->n);

	return (n < 0 || (size_t)n >= sz) ? -1 : n;
}
