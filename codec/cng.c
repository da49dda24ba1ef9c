/**
 * @file cng.c  Comfort noise generation from RFC 3389 payloads
 *
 * Design note. Uniform white noise on [-a, a] has an RMS of a / sqrt(3),
 * so level L [-dBov] gives a = sqrt(3) * CNG_REF_RMS * 10^(-L/20). Levels
 * louder than about 5 dBov would clip; comfort noise is far below that
 * (30 to 70 dBov in practice). The amplitude moves linearly over 20 ms to
 * a new level so that a new CN packet never clicks; the first level is
 * taken at once.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <re_types.h>
#include <re_mem.h>
#include "cng.h"

/** Noise generator of one stream. One thread; no locks. */
struct cng {
	uint32_t srate;     /**< sample rate [Hz]                       */
	uint32_t rnd;       /**< xorshift32 state, never 0              */
	uint8_t  level;     /**< current level [-dBov]                  */
	bool     have;      /**< a level was set                        */
	float    amp;       /**< current amplitude                      */
	float    target;    /**< amplitude being ramped to              */
	float    step;      /**< change per sample during a ramp        */
	uint32_t ramp;      /**< samples left in the ramp               */
};


/**
 * Allocate a comfort-noise generator, silent until a level is set
 *
 * @param cngp  Returns the generator
 * @param srate Sample rate [Hz], 8000 to 48000
 * @param seed  Seed of the noise; the same seed gives the same noise
 *
 * @return 0 if success, EINVAL for a bad rate, ENOMEM
 */
int cng_alloc(struct cng **cngp, uint32_t srate, uint32_t seed)
{
	struct cng *c;

	if (!cngp || srate < 8000 || srate > 48000)
		return EINVAL;

	c = mem_zalloc(sizeof(*c), NULL);
	if (!c)
		return ENOMEM;

	c->srate = srate;
	c->rnd   = seed ? seed : 0x6d2b79f5u;
	c->level = CNG_LEVEL_SILENT;

	*cngp = c;

	return 0;
}


static float level_amp(uint8_t level)
{
	if (level >= CNG_LEVEL_SILENT)
		return 0.0f;

	return (float)(sqrt(3.0) * CNG_REF_RMS * pow(10.0, -level / 20.0));
}


/**
 * Set the noise level
 *
 * @param cng   Generator
 * @param level Level [-dBov], 0 (loudest) to 127 (silence)
 *
 * @return 0 if success, EINVAL if out of range
 */
int cng_level_set(struct cng *cng, uint8_t level)
{
	if (!cng || level > 127)
		return EINVAL;

	cng->level  = level;
	cng->target = level_amp(level);

	if (!cng->have) {
		cng->amp  = cng->target;
		cng->ramp = 0;
		cng->have = true;
		return 0;
	}

	cng->ramp = cng->srate / 50;
	cng->step = (cng->target - cng->amp) / (float)cng->ramp;

	return 0;
}


/**
 * Take the level of an RFC 3389 comfort-noise payload. Spectral
 * coefficients after the level byte are accepted and ignored.
 *
 * @param cng     Generator
 * @param payload CN payload
 * @param len     Its length [bytes], at least 1
 *
 * @return 0 if success, EINVAL if empty, EBADMSG if the reserved bit of
 *         the level byte is set (the level is then left unchanged)
 */
int cng_decode(struct cng *cng, const uint8_t *payload, size_t len)
{
	if (!cng || !payload || !len)
		return EINVAL;

	if (payload[0] & 0x80)
		return EBADMSG;

	return cng_level_set(cng, payload[0]);
}


/**
 * The current level
 *
 * @param cng Generator
 *
 * @return Level [-dBov]
 */
uint8_t cng_level(const struct cng *cng)
{
	return cng ? cng->level : CNG_LEVEL_SILENT;
}


/**
 * Generate comfort noise at the current level
 *
 * @param cng Generator
 * @param out Returns n samples
 * @param n   Number of samples
 *
 * @return 0 if success, EINVAL for bad arguments
 */
int cng_generate(struct cng *cng, int16_t *out, size_t n)
{
	size_t i;

	if (!cng || (n && !out))
		return EINVAL;

	for (i = 0; i < n; i++) {
		uint32_t x = cng->rnd;
		float v;
		long r;

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		cng->rnd = x;

		if (cng->ramp) {
			cng->amp += cng->step;
			if (--cng->ramp == 0)
				cng->amp = cng->target;
		}

		v = (float)(int32_t)x * (cng->amp * (1.0f / 2147483648.0f));
		r = lrintf(v);
		out[i] = (int16_t)(r > INT16_MAX ? INT16_MAX :
				   r < INT16_MIN ? INT16_MIN : r);
	}

	return 0;
}


/**
 * Measure the level of some audio, as an RFC 3389 level byte (to send CN,
 * or to play CN at the level of the last background)
 *
 * @param pcm Samples
 * @param n   Number of samples
 *
 * @return Level [-dBov], 127 for silence or no samples
 */
uint8_t cng_level_of(const int16_t *pcm, size_t n)
{
	double e = 0.0, db;
	size_t i;

	if (!pcm || !n)
		return CNG_LEVEL_SILENT;

	for (i = 0; i < n; i++)
		e += (double)pcm[i] * pcm[i];

	if (e <= 0.0)
		return CNG_LEVEL_SILENT;

	db = -10.0 * log10(e / (double)n / (CNG_REF_RMS * CNG_REF_RMS));
	if (db < 0.0)
		db = 0.0;
	if (db > 127.0)
		db = 127.0;

	return (uint8_t)lrint(db);
}
