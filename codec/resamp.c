/**
 * @file resamp.c  Sample-rate conversion of mono 16-bit audio (SpeexDSP)
 *
 * One converter per direction per call: it keeps filter history, so a
 * stream must go through the same converter frame after frame.
 */
#include <errno.h>
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
 * @param in_rate   Input rate [Hz]
 * @param out_rate  Output rate [Hz]
 * @param quality   SpeexDSP quality 0 (fastest) .. 10 (best)
 *
 * @return 0 if success, otherwise errorcode
 */
int resamp_alloc(struct resamp **rp, uint32_t in_rate, uint32_t out_rate,
		 uint32_t quality)
{
	struct resamp *r;
	int serr = 0;

	if (!rp || !in_rate || !out_rate || quality > 10)
		return EINVAL;

	r = mem_zalloc(sizeof(*r), destructor);
	if (!r)
		return ENOMEM;

	r->in_rate = in_rate;
	r->out_rate = out_rate;
	r->st = speex_resampler_init(1, in_rate, out_rate, (int)quality,
				     &serr);
	if (!r->st) {
		mem_deref(r);
		return ENOMEM;
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
 * @param out_max  Its size [samples]
 *
 * @return samples written, or a negative errno
 */
int resamp_process(struct resamp *r, const int16_t *in, uint32_t in_n,
		   int16_t *out, uint32_t out_max)
{
	spx_uint32_t ilen = in_n, olen = out_max;
	int err;

	if (!r || !in || !out)
		return -EINVAL;

	err = speex_resampler_process_int(r->st, 0, in, &ilen, out, &olen);
	if (err != RESAMPLER_ERR_SUCCESS)
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
