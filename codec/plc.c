/**
 * @file plc.c  Packet loss concealment by waveform repetition (G.711)
 *
 * Design note.
 *
 * History. The last `hlen` output samples (good and concealed) are kept:
 * three longest pitch periods plus a quarter, enough to build a template
 * of three periods with a smoothed loop, and more than the 20 ms
 * correlation window plus the longest period.
 *
 * Pitch. At the start of a loss, the period T in [2.5 ms, 15 ms] is the
 * lag that maximises the normalised cross-correlation between the last
 * 20 ms and the 20 ms T earlier. The search runs on a grid of 1/8 ms (one
 * sample at 8 kHz), then refines around the best lag at full resolution,
 * so 48 kHz costs about what 8 kHz does.
 *
 * Template. The history is frozen (src) and the template is its last
 * p * T samples (p = 1, 2, 3 periods). Its last L = T/4 samples are
 * cross-faded into the L samples that precede the template in src, so
 * reading past its end back to its start follows the signal's own
 * continuity: the loops are joined by overlap-add. Growing from p to p+1
 * periods happens at 10 and 20 ms of loss, at a read position outside
 * the faded tail, where the two templates hold the same samples: the
 * switch needs no fade of its own.
 *
 * Join. The template starts one period back, so the first concealed
 * sample follows src[N - T - 1], not src[N - 1]. The difference d =
 * src[N-1] - src[N-T-1] is added to the first L concealed samples,
 * linearly decaying to 0: the output continues from the last good sample
 * with the template's own slope.
 *
 * Level. Full level for PLC_HOLD_MS, then a linear fade to 0 at
 * PLC_FADE_MS; after that the output is silence.
 *
 * Recovery. The first good samples after a loss are cross-faded from the
 * continued concealment (same template, same fade) over 3 ms plus 1 ms per
 * 10 ms of loss, at most 9 ms, even across several short good blocks.
 * Good blocks outside a cross-fade are not touched: bit-exact.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>
#include <re_types.h>
#include <re_mem.h>
#include "plc.h"

enum plc_mode {
	PLC_GOOD = 0,       /**< passing good audio through               */
	PLC_LOST,           /**< concealing                               */
	PLC_XFADE,          /**< fading from concealment into good audio  */
};

/** Concealment state of one stream. One thread; no locks. */
struct plc {
	uint32_t srate;     /**< sample rate [Hz]                         */
	uint32_t tmin;      /**< shortest pitch period [samples]          */
	uint32_t tmax;      /**< longest pitch period [samples]           */
	uint32_t wlen;      /**< correlation window [samples]             */
	uint32_t hlen;      /**< history length [samples]                 */
	uint32_t hold;      /**< full-level concealment [samples]         */
	uint32_t fade;      /**< silent after this [samples]              */
	int16_t *hist;      /**< last hlen output samples                 */
	int16_t *src;       /**< history frozen when the loss began       */
	float   *tpl;       /**< template, up to 3 periods                */

	enum plc_mode mode;
	uint64_t t;         /**< samples concealed in this loss           */
	uint32_t T;         /**< pitch period [samples]                   */
	uint32_t ola;       /**< loop and join fade, T/4 [samples]        */
	unsigned periods;   /**< template length [periods], 1..3          */
	uint32_t tlen;      /**< template length [samples]                */
	uint32_t pos;       /**< read position in the template            */
	float    delta;     /**< join correction                          */
	uint32_t xf_len;    /**< recovery cross-fade [samples]            */
	uint32_t xf_pos;    /**< samples of it done                       */
};


static void destructor(void *arg)
{
	struct plc *p = arg;

	mem_deref(p->hist);
	mem_deref(p->src);
	mem_deref(p->tpl);
}


/**
 * Allocate a concealment state
 *
 * @param plcp  Returns the state
 * @param srate Sample rate [Hz], 8000 to 48000
 *
 * @return 0 if success, EINVAL for a bad rate, ENOMEM
 */
int plc_alloc(struct plc **plcp, uint32_t srate)
{
	struct plc *p;
	int err = 0;

	if (!plcp || srate < 8000 || srate > 48000)
		return EINVAL;

	p = mem_zalloc(sizeof(*p), destructor);
	if (!p)
		return ENOMEM;

	p->srate = srate;
	p->tmin  = srate / 400;                 /* 2.5 ms, 400 Hz */
	p->tmax  = srate * 15 / 1000;           /* 15 ms, 67 Hz   */
	p->wlen  = srate / 50;                  /* 20 ms          */
	p->hlen  = 3 * p->tmax + p->tmax / 4 + 1;
	p->hold  = srate * PLC_HOLD_MS / 1000;
	p->fade  = srate * PLC_FADE_MS / 1000;

	p->hist = mem_zalloc(p->hlen * sizeof(*p->hist), NULL);
	p->src  = mem_zalloc(p->hlen * sizeof(*p->src), NULL);
	p->tpl  = mem_zalloc(3 * p->tmax * sizeof(*p->tpl), NULL);
	if (!p->hist || !p->src || !p->tpl) {
		err = ENOMEM;
		goto out;
	}

 out:
	if (err)
		mem_deref(p);
	else
		*plcp = p;

	return err;
}


/**
 * Forget the history and any loss in progress (a new stream)
 *
 * @param plc Concealment state
 */
void plc_reset(struct plc *plc)
{
	if (!plc)
		return;

	memset(plc->hist, 0, plc->hlen * sizeof(*plc->hist));
	plc->mode = PLC_GOOD;
	plc->t = 0;
}


/**
 * The pitch period of the current or last loss
 *
 * @param plc Concealment state
 *
 * @return Period [samples], 0 if there was no loss yet
 */
uint32_t plc_pitch(const struct plc *plc)
{
	return plc ? plc->T : 0;
}


static void hist_push(struct plc *p, const int16_t *x, size_t n)
{
	if (!n)
		return;

	if (n >= p->hlen) {
		memcpy(p->hist, x + n - p->hlen, p->hlen * sizeof(*x));
		return;
	}

	memmove(p->hist, p->hist + n, (p->hlen - n) * sizeof(*x));
	memcpy(p->hist + p->hlen - n, x, n * sizeof(*x));
}


/** Correlation of the last window with the window T earlier */
static double ncc(const struct plc *p, uint32_t T, uint32_t step)
{
	const int16_t *a = p->src + p->hlen - p->wlen;
	const int16_t *b = a - T;
	int64_t num = 0, eb = 0;
	uint32_t i;

	for (i = 0; i < p->wlen; i += step) {
		num += (int32_t)a[i] * b[i];
		eb  += (int32_t)b[i] * b[i];
	}

	if (num <= 0 || eb == 0)
		return 0.0;

	return (double)num / sqrt((double)eb);
}


static uint32_t pitch_find(const struct plc *p)
{
	const uint32_t step = p->srate / 8000 ? p->srate / 8000 : 1;
	uint32_t T, lo, hi, best_t = p->tmax;
	double s, best = 0.0;

	for (T = p->tmin; T <= p->tmax; T += step) {
		s = ncc(p, T, step);
		if (s > best) {
			best = s;
			best_t = T;
		}
	}

	if (step == 1 || best == 0.0)
		return best_t;

	lo = best_t > p->tmin + step ? best_t - step + 1 : p->tmin;
	hi = best_t + step - 1 < p->tmax ? best_t + step - 1 : p->tmax;
	best = 0.0;
	for (T = lo; T <= hi; T++) {
		s = ncc(p, T, 1);
		if (s > best) {
			best = s;
			best_t = T;
		}
	}

	return best_t;
}


/** Template of the last `periods` periods, its loop faded */
static void tpl_build(struct plc *p, unsigned periods)
{
	const uint32_t len = periods * p->T;
	const int16_t *x = p->src + p->hlen - len;
	uint32_t i, j;

	for (i = 0; i < len; i++)
		p->tpl[i] = x[i];

	for (j = 0; j < p->ola; j++) {
		const float w = (float)(j + 1) / (float)(p->ola + 1);
		const uint32_t k = len - p->ola + j;

		p->tpl[k] = (1.0f - w) * x[k] + w * x[(int32_t)j - (int32_t)p->ola];
	}

	p->periods = periods;
	p->tlen = len;
}


static void loss_start(struct plc *p)
{
	const int16_t *x;

	memcpy(p->src, p->hist, p->hlen * sizeof(*p->src));
	x = p->src + p->hlen;

	p->T     = pitch_find(p);
	p->ola   = p->T / 4 ? p->T / 4 : 1;
	tpl_build(p, 1);
	p->pos   = 0;
	p->delta = (float)x[-1] - (float)x[-1 - (int32_t)p->T];
	p->t     = 0;
	p->mode  = PLC_LOST;
}


static inline int16_t sat16(float v)
{
	long r = lrintf(v);

	if (r > INT16_MAX)
		return INT16_MAX;
	if (r < INT16_MIN)
		return INT16_MIN;

	return (int16_t)r;
}


/** The next concealed sample, faded */
static float gen(struct plc *p)
{
	float v, g;

	if (p->t >= p->fade) {
		++p->t;
		return 0.0f;
	}

	v = p->tpl[p->pos];
	if (p->t < p->ola)
		v += p->delta * (float)(p->ola - p->t) / (float)(p->ola + 1);

	if (++p->pos >= p->tlen)
		p->pos = 0;

	/* more periods as the loss goes on, where the templates agree */
	if (p->periods < 3 && p->t >= (uint64_t)p->hold * p->periods &&
	    p->pos < p->tlen - p->ola) {
		tpl_build(p, p->periods + 1);
		p->pos += p->T;
	}

	if (p->t < p->hold)
		g = 1.0f;
	else
		g = 1.0f - (float)(p->t - p->hold) /
			(float)(p->fade - p->hold);

	++p->t;

	return v * g;
}


/**
 * Conceal missing audio
 *
 * @param plc Concealment state
 * @param out Returns n samples of concealment
 * @param n   Samples wanted, any number
 *
 * @return 0 if success, EINVAL for bad arguments
 */
int plc_conceal(struct plc *plc, int16_t *out, size_t n)
{
	size_t i;

	if (!plc || (n && !out))
		return EINVAL;

	if (plc->mode != PLC_LOST)
		loss_start(plc);

	for (i = 0; i < n; i++)
		out[i] = sat16(gen(plc));

	hist_push(plc, out, n);

	return 0;
}


/**
 * Feed good decoded audio. After a loss its start is cross-faded from the
 * concealment (modified in place); otherwise it is left unchanged.
 *
 * @param plc Concealment state
 * @param pcm n good samples, modified only after a loss
 * @param n   Number of samples
 *
 * @return 0 if success, EINVAL for bad arguments
 */
int plc_good(struct plc *plc, int16_t *pcm, size_t n)
{
	size_t j = 0;

	if (!plc || (n && !pcm))
		return EINVAL;

	if (plc->mode == PLC_LOST) {
		uint64_t ms = plc->t * 1000 / plc->srate;

		if (ms > PLC_FADE_MS)
			ms = PLC_FADE_MS;
		plc->xf_len = (uint32_t)(plc->srate * (3 + ms / 10) / 1000);
		plc->xf_pos = 0;
		plc->mode = PLC_XFADE;
	}

	if (plc->mode == PLC_XFADE) {
		for (; j < n && plc->xf_pos < plc->xf_len; j++) {
			const float w = (float)(plc->xf_pos + 1) /
				(float)(plc->xf_len + 1);
			const float c = gen(plc);

			pcm[j] = sat16((1.0f - w) * c + w * (float)pcm[j]);
			++plc->xf_pos;
		}

		if (plc->xf_pos >= plc->xf_len)
			plc->mode = PLC_GOOD;
	}

	hist_push(plc, pcm, n);

	return 0;
}
