/**
 * @file resamp.c  Sample-rate conversion of mono 16-bit audio (SpeexDSP)
 *
 * One converter per direction per call: it keeps filter history, so a
 * stream must go through the same converter frame after frame.
 */
#include <errno.h>
#include <limits.h>
#include <speex/speex_resampler.h>
#include <re.h>
#include "resamp.h"

struct resamp {
	SpeexResamplerState *st;
	uint32_t in_rate, out_rate;
};


static void destructor(void *arg)
{
	struct resamp *r = arg;

	if (r->st)
		speex_resampler_destroy(r->st);
}


/**
 * Allocate a converter
 *
 * @param rp        Pointer to allocated converter
 * @param in_rate   Input rate, RESAMP_RATE_MIN..RESAMP_RATE_MAX [Hz]
 * @param out_rate  Output rate, RESAMP_RATE_MIN..RESAMP_RATE_MAX [Hz]
 * @param quality   SpeexDSP quality 0 (fastest) .. 10 (best)
 *
 * @return 0 if success, otherwise errorcode
 */
int resamp_alloc(struct resamp **rp, uint32_t in_rate, uint32_t out_rate,
		 uint32_t quality)
{
	struct resamp *r;
	int serr = 0;

	if (!rp || in_rate < RESAMP_RATE_MIN || in_rate > RESAMP_RATE_MAX ||
	    out_rate < RESAMP_RATE_MIN || out_rate > RESAMP_RATE_MAX ||
	    quality > 10)
		return EINVAL;

	r = mem_zalloc(sizeof(*r), destructor);
	if (!r)
		return ENOMEM;

	r->in_rate = in_rate;
	r->out_rate = out_rate;
	r->st = speex_resampler_init(1, in_rate, out_rate, (int)quality,
				     &serr);
	if (!r->st || serr != RESAMPLER_ERR_SUCCESS) {
		mem_deref(r);
		return serr == RESAMPLER_ERR_ALLOC_FAILED || !serr ? ENOMEM
			: EINVAL;
	}

	/* no skip_zeros(): a constant delay (a few samples of filter
	   history) keeps every 20 ms block exactly 20 ms long */

	*rp = r;

	return 0;
}


/**
 * Convert a block
 *
 * @param r        Converter
 * @param in       Input samples
 * @param in_n     Number of input samples
 * @param out      Output buffer
 * @param out_max  Its size, at least in_n * out_rate / in_rate rounded
 *                 up [samples]
 *
 * @return samples written (exactly in_n * out_rate / in_rate when that is
 *         whole, as for 20 ms blocks at 8/16/24/48 kHz), or a negative
 *         errno: -ENOSPC if out_max is too small (nothing is consumed),
 *         -EINVAL for a bad argument
 */
int resamp_process(struct resamp *r, const int16_t *in, uint32_t in_n,
		   int16_t *out, uint32_t out_max)
{
	spx_uint32_t ilen = in_n, olen = out_max;
	uint64_t need;
	int err;

	if (!r || !in || !out)
		return -EINVAL;

	/* SpeexDSP stops when the output is full and leaves the rest of
	   the input unread; the stream would lose it without a word */
	need = ((uint64_t)in_n * r->out_rate + r->in_rate - 1) / r->in_rate;
	if (need > out_max || need > INT_MAX)
		return -ENOSPC;

	err = speex_resampler_process_int(r->st, 0, in, &ilen, out, &olen);
	if (err != RESAMPLER_ERR_SUCCESS || ilen != in_n)
		return -EINVAL;

	return (int)olen;
}


/** Forget the history (after a discontinuity such as a clear) */
void resamp_reset(struct resamp *r)
{
	if (r)
		(void)speex_resampler_reset_mem(r->st);
}


uint32_t resamp_out_rate(const struct resamp *r)
{
	return r ? r->out_rate : 0;
}


uint32_t resamp_in_rate(const struct resamp *r)
{
	return r ? r->in_rate : 0;
}
