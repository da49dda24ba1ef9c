/**
 * @file bonset.c  Energy-onset latency markers on a shared time grid
 *
 * See bonset.h for the method. The audio files are WAV (RIFF, PCM 16-bit
 * mono, any rate); they are resampled once at load time with SpeexDSP at
 * its best quality, since this is not on any per-packet path.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <speex/speex_resampler.h>
#include <re.h>
#include "bonset.h"

enum {
	MAX_FILE_BYTES = 64 * 1024 * 1024,   /**< largest audio file  */
	MIN_SECONDS    = 1,                  /**< shortest audio file */
};


/** CLOCK_MONOTONIC [us], the clock every harness process shares */
uint64_t bonset_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);

	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}


static void audio_destructor(void *arg)
{
	struct baudio *a = arg;

	mem_deref(a->pcm);
}


static int audio_alloc(struct baudio **ap, size_t n, uint32_t rate)
{
	struct baudio *a;

	a = mem_zalloc(sizeof(*a), audio_destructor);
	if (!a)
		return ENOMEM;

	a->pcm = mem_zalloc(n * sizeof(int16_t), NULL);
	if (!a->pcm) {
		mem_deref(a);
		return ENOMEM;
	}

	a->n = n;
	a->rate = rate;
	*ap = a;

	return 0;
}


static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		(uint32_t)p[3] << 24;
}


static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}


/* the PCM samples of a RIFF/WAVE file held in memory */
static int wav_parse(const uint8_t *buf, size_t len, const uint8_t **datap,
		     size_t *nbytesp, uint32_t *ratep)
{
	size_t pos = 12;
	bool fmt_ok = false;
	uint32_t rate = 0;

	if (len < 12 || memcmp(buf, "RIFF", 4) || memcmp(buf + 8, "WAVE", 4))
		return EBADMSG;

	while (pos + 8 <= len) {
		const uint8_t *ck = buf + pos;
		uint32_t cklen = le32(ck + 4);

		if (cklen > len - pos - 8)
			return EBADMSG;

		if (!memcmp(ck, "fmt ", 4)) {
			if (cklen < 16)
				return EBADMSG;
			/* PCM, mono, 16 bit */
			if (le16(ck + 8) != 1 || le16(ck + 10) != 1 ||
			    le16(ck + 22) != 16)
				return ENOTSUP;
			rate = le32(ck + 12);
			if (rate < 8000 || rate > 48000)
				return ENOTSUP;
			fmt_ok = true;
		}
		else if (!memcmp(ck, "data", 4)) {
			if (!fmt_ok)
				return EBADMSG;
			*datap = ck + 8;
			*nbytesp = cklen & ~(uint32_t)1;
			*ratep = rate;
			return 0;
		}

		pos += 8 + cklen + (cklen & 1);
	}

	return EBADMSG;
}


/**
 * Convert audio to another sample rate
 *
 * @param ap    New audio
 * @param src   Source audio
 * @param rate  Wanted rate [Hz], 8000..48000
 *
 * @return 0 if success, otherwise errorcode
 */
int baudio_resample(struct baudio **ap, const struct baudio *src,
		    uint32_t rate)
{
	SpeexResamplerState *rs;
	struct baudio *a;
	spx_uint32_t in_n, out_n;
	size_t n;
	int err;

	if (!ap || !src || rate < 8000 || rate > 48000)
		return EINVAL;

	n = (size_t)((uint64_t)src->n * rate / src->rate);
	err = audio_alloc(&a, n, rate);
	if (err)
		return err;

	if (rate == src->rate) {
		memcpy(a->pcm, src->pcm, n * sizeof(int16_t));
		*ap = a;
		return 0;
	}

	rs = speex_resampler_init(1, src->rate, rate,
				  SPEEX_RESAMPLER_QUALITY_MAX, &err);
	if (!rs) {
		mem_deref(a);
		return ENOMEM;
	}

	in_n = (spx_uint32_t)src->n;
	out_n = (spx_uint32_t)n;
	(void)speex_resampler_skip_zeros(rs);
	(void)speex_resampler_process_int(rs, 0, src->pcm, &in_n, a->pcm,
					  &out_n);
	speex_resampler_destroy(rs);

	/* the filter's delay leaves the tail short: repeat the start */
	for (size_t i = out_n; i < n; i++)
		a->pcm[i] = a->pcm[i - out_n];

	*ap = a;

	return 0;
}


/**
 * Load a WAV file (PCM, 16-bit, mono) as audio at a given rate
 *
 * @param ap    Loaded audio
 * @param path  File name
 * @param rate  Wanted rate [Hz]; the file is resampled if it differs
 *
 * @return 0 if success, otherwise errorcode (ENOTSUP: not 16-bit mono
 *         PCM, EBADMSG: not a WAV file, EINVAL: shorter than 1 s)
 */
int baudio_load(struct baudio **ap, const char *path, uint32_t rate)
{
	struct baudio *raw = NULL;
	const uint8_t *data;
	uint8_t *buf = NULL;
	size_t len = 0, nbytes;
	uint32_t frate;
	FILE *f;
	long sz;
	int err;

	if (!ap || !path)
		return EINVAL;

	f = fopen(path, "rb");
	if (!f)
		return errno;

	if (fseek(f, 0, SEEK_END) || (sz = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET)) {
		err = errno ? errno : EIO;
		goto out;
	}
	if (sz > MAX_FILE_BYTES) {
		err = EFBIG;
		goto out;
	}

	buf = mem_alloc((size_t)sz + 1, NULL);
	if (!buf) {
		err = ENOMEM;
		goto out;
	}
	len = fread(buf, 1, (size_t)sz, f);
	if (len != (size_t)sz) {
		err = EIO;
		goto out;
	}

	err = wav_parse(buf, len, &data, &nbytes, &frate);
	if (err)
		goto out;

	if (nbytes / 2 < (size_t)frate * MIN_SECONDS) {
		err = EINVAL;
		goto out;
	}

	err = audio_alloc(&raw, nbytes / 2, frate);
	if (err)
		goto out;
	for (size_t i = 0; i < raw->n; i++)
		raw->pcm[i] = (int16_t)le16(data + 2 * i);

	if (frate == rate) {
		*ap = raw;
		raw = NULL;
	}
	else {
		err = baudio_resample(ap, raw, rate);
	}

 out:
	mem_deref(raw);
	mem_deref(buf);
	fclose(f);

	return err;
}


/**
 * Check that audio can carry onset markers: no pause of BONSET_QUIET_MS / 2
 * or more below the quiet threshold (counting the loop's wrap-around)
 *
 * @param a    Audio
 * @param atp  Where the first offending pause starts [samples], if any
 *
 * @return 0 if fit, EDOM if the audio has such a pause
 */
int baudio_check(const struct baudio *a, size_t *atp)
{
	size_t limit, run = 0;

	if (!a || !a->n)
		return EINVAL;

	limit = (size_t)a->rate * BONSET_QUIET_MS / 2000;

	for (size_t i = 0; i < a->n + limit; i++) {
		int v = a->pcm[i % a->n];

		if (v <= BONSET_QUIET && v >= -BONSET_QUIET) {
			if (++run >= limit) {
				if (atp)
					*atp = (i + 1 - run) % a->n;
				return EDOM;
			}
		}
		else {
			run = 0;
		}
	}

	return 0;
}


/* position of t within the grid period [us], 0 at a marker onset */
static uint64_t grid_pos(const struct bgrid *g, uint64_t t)
{
	if (t >= g->offset_us)
		return (t - g->offset_us) % g->period_us;

	return (g->period_us - (g->offset_us - t) % g->period_us) %
		g->period_us;
}


/**
 * Render the tape: the audio for capture times [t_us, t_us + n / rate)
 *
 * @param g       Marker grid
 * @param speech  Speech-like audio (its rate is the output rate)
 * @param t_us    Capture time of the first sample, CLOCK_MONOTONIC [us]
 * @param pcm     Output samples
 * @param n       Number of samples
 */
void bonset_render(const struct bgrid *g, const struct baudio *speech,
		   uint64_t t_us, int16_t *pcm, size_t n)
{
	const uint64_t burst = BONSET_BURST_MS * 1000u;
	const uint64_t guard = BONSET_GUARD_MS * 1000u;
	uint32_t rate = speech->rate;
	uint64_t d0, span, idx0;

	if (!n)
		return;

	d0 = grid_pos(g, t_us);
	span = (uint64_t)(n - 1) * 1000000u / rate;
	idx0 = (uint64_t)((unsigned __int128)t_us * rate / 1000000u) %
		speech->n;

	/* the usual case: speech only */
	if (d0 >= burst && d0 + span < g->period_us - guard) {
		size_t first = speech->n - (size_t)idx0;

		if (first >= n) {
			memcpy(pcm, speech->pcm + idx0, n * sizeof(int16_t));
		}
		else {
			memcpy(pcm, speech->pcm + idx0,
			       first * sizeof(int16_t));
			for (size_t i = first; i < n; i++)
				pcm[i] = speech->pcm[(i - first) % speech->n];
		}
		return;
	}

	for (size_t m = 0; m < n; m++) {
		uint64_t dt = (uint64_t)m * 1000000u / rate;
		uint64_t d = (d0 + dt) % g->period_us;

		if (d < burst) {
			pcm[m] = (int16_t)lrint(BONSET_TONE_AMP *
					cos(2.0 * M_PI * BONSET_TONE_HZ *
					    (double)d / 1e6));
		}
		else if (d >= g->period_us - guard) {
			pcm[m] = 0;
		}
		else {
			pcm[m] = speech->pcm[(idx0 + m) % speech->n];
		}
	}
}


/** Start a detector for a stream at a sample rate [Hz] */
void bonset_det_init(struct bonset_det *d, uint32_t rate)
{
	if (!d)
		return;

	memset(d, 0, sizeof(*d));
	d->rate = rate;
	d->quiet_need = rate * BONSET_QUIET_MS / 1000;
	d->rise_max = rate * BONSET_RISE_MS / 1000;
	d->win = rate * BONSET_CHECK_MS / 1000;
	d->coeff = 2.0 * cos(2.0 * M_PI * BONSET_TONE_HZ / rate);
}


/* is what followed the onset the marker tone? (Goertzel at the tone
   frequency against the total energy of the window) */
static bool tone_ok(const struct bonset_det *d)
{
	double p = d->s1 * d->s1 + d->s2 * d->s2 - d->coeff * d->s1 * d->s2;
	double amp = 2.0 * sqrt(p > 0 ? p : 0) / d->win;
	double tone_energy = amp * amp / 2.0 * d->win;

	return amp >= BONSET_LOUD && d->energy > 0 &&
		tone_energy >= BONSET_TONE_SHARE * d->energy;
}


/**
 * Run the detector over the next samples of its stream
 *
 * Armed by BONSET_QUIET_MS of quiet, it takes the first loud sample that
 * follows within BONSET_RISE_MS of the quiet ending as a candidate (a
 * lossy codec smears a sharp onset into a short rise), and confirms it
 * once the next BONSET_CHECK_MS hold the marker tone: speech that starts
 * after a pause is not a marker.
 *
 * @param d       Detector
 * @param pcm     Next samples of the stream
 * @param n       Number of samples
 * @param t_recv  When they arrived, CLOCK_MONOTONIC [us]
 * @param t_onp   Confirmed marker: when its first sample arrived, taken
 *                as t_recv less the samples after it in its chunk [us]
 *
 * @return true if a marker was confirmed in these samples
 */
bool bonset_det_feed(struct bonset_det *d, const int16_t *pcm, size_t n,
		     uint64_t t_recv, uint64_t *t_onp)
{
	bool found = false;

	if (!d || !pcm || !d->rate)
		return false;

	for (size_t i = 0; i < n; i++) {
		int v = pcm[i];
		int a = v < 0 ? -v : v;

		if (d->pending) {
			double s0 = (double)v + d->coeff * d->s1 - d->s2;

			d->s2 = d->s1;
			d->s1 = s0;
			d->energy += (double)v * v;
			if (++d->got < d->win)
				continue;

			d->pending = false;
			if (tone_ok(d) && !found && t_onp) {
				*t_onp = d->t_on;
				found = true;
			}
			else if (!tone_ok(d)) {
				++d->rejected;
			}
			continue;
		}

		if (a >= BONSET_LOUD && d->armed) {
			d->armed = false;
			d->quiet = 0;
			d->pending = true;
			d->t_on = t_recv - (uint64_t)(n - i) * 1000000u /
				d->rate;
			d->s1 = d->s2 = d->energy = 0;
			d->got = 0;
			--i;   /* the onset sample opens the window */
			continue;
		}

		if (a <= BONSET_QUIET) {
			if (d->quiet < d->quiet_need)
				++d->quiet;
			if (d->quiet >= d->quiet_need) {
				d->armed = true;
				d->rise = 0;
			}
		}
		else {
			d->quiet = 0;
			if (d->armed && ++d->rise > d->rise_max)
				d->armed = false;
		}
	}

	return found;
}


/**
 * One-way latency of a confirmed marker
 *
 * @param g     Marker grid
 * @param t_on  When the marker's first sample arrived (bonset_det_feed)
 *
 * @return t_on less the nearest grid point [us], in (-period/2, period/2]
 */
int64_t bonset_latency(const struct bgrid *g, uint64_t t_on)
{
	int64_t t = (int64_t)t_on, k, gk;

	k = t - (int64_t)g->offset_us + (int64_t)g->period_us / 2 - 1;
	k = k >= 0 ? k / (int64_t)g->period_us :
		-((-k + (int64_t)g->period_us - 1) / (int64_t)g->period_us);
	gk = (int64_t)g->offset_us + k * (int64_t)g->period_us;

	return t - gk;
}
