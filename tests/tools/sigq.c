/**
 * @file sigq.c  Test signals and objective quality measures
 *
 * The speech-like signal is not speech, but it has what codecs and
 * resamplers care about in speech: a pitch of 100-200 Hz that glides,
 * harmonics up to 7 kHz (or 0.45 of the rate) shaped by three formants
 * that move, a spectral tilt, syllables of 120-300 ms with 20 ms ramps,
 * and pauses. Everything comes from the seed, so runs are repeatable.
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "sigq.h"


static uint32_t xorshift(uint32_t *s)
{
	uint32_t x = *s ? *s : 0x9e3779b9;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;

	return x;
}


static double uni(uint32_t *s)
{
	return (double)xorshift(s) / 4294967296.0;
}


static double formant(double f, double fc, double bw)
{
	double d = (f - fc) / bw;

	return 1.0 / (1.0 + d * d);
}


static void scale_to(double *y, int16_t *x, size_t n, double level_db)
{
	double e = 0, g;

	for (size_t i = 0; i < n; i++)
		e += y[i] * y[i];

	g = (e > 0) ? 32767.0 * pow(10, level_db / 20) / sqrt(e / n) : 0;

	for (size_t i = 0; i < n; i++) {
		double v = y[i] * g;

		if (v > 32767)
			v = 32767;
		if (v < -32768)
			v = -32768;
		x[i] = (int16_t)lrint(v);
	}
}


/**
 * Fill x with a speech-like signal
 *
 * @param x         Output
 * @param n         Samples
 * @param rate      Sample rate [Hz]
 * @param level_db  RMS over the whole signal, pauses included [dBFS]
 * @param seed      Seed; the same seed gives the same signal
 */
void sigq_speech(int16_t *x, size_t n, uint32_t rate, double level_db,
		 uint32_t seed)
{
	double *y = calloc(n ? n : 1, sizeof(*y));
	double f0base, phase = 0, top;
	size_t seg_end = 0, ramp = rate / 50;
	size_t seg_start = 0;
	bool voiced = true;
	uint32_t s = seed * 2654435761u + 1;

	if (!y) {
		memset(x, 0, n * sizeof(*x));
		return;
	}

	f0base = 100 + 80 * uni(&s);
	top = 0.45 * rate;
	if (top > 7000)
		top = 7000;

	for (size_t i = 0; i < n; i++) {
		double t = (double)i / rate, f0, env, v = 0;
		double f1, f2, f3;

		if (i >= seg_end) {
			/* next syllable (70 %) or pause */
			seg_start = i;
			voiced = uni(&s) < 0.7;
			seg_end = i + (size_t)((voiced ? 0.12 + 0.18 * uni(&s)
						: 0.05 + 0.15 * uni(&s))
					       * rate);
		}

		if (!voiced)
			continue;

		env = 1.0;
		if (i - seg_start < ramp)
			env = 0.5 - 0.5 * cos(M_PI * (i - seg_start) / ramp);
		if (seg_end - i < ramp)
			env *= 0.5 - 0.5 * cos(M_PI * (seg_end - i) / ramp);

		f0 = f0base * (1 + 0.15 * sin(2 * M_PI * 0.7 * t) +
			       0.05 * sin(2 * M_PI * 3.1 * t));
		phase += 2 * M_PI * f0 / rate;
		if (phase > 2 * M_PI * 1000)
			phase -= 2 * M_PI * 1000;

		f1 = 650 + 150 * sin(2 * M_PI * 1.3 * t);
		f2 = 1600 + 400 * sin(2 * M_PI * 0.9 * t + 1);
		f3 = 2750 + 250 * sin(2 * M_PI * 0.5 * t + 2);

		for (int k = 1; k * f0 < top; k++) {
			double f = k * f0;
			double a = formant(f, f1, 120) +
				0.6 * formant(f, f2, 160) +
				0.3 * formant(f, f3, 220) + 0.01;

			v += a / sqrt(k) * sin(k * phase);
		}

		y[i] = env * v;
	}

	scale_to(y, x, n, level_db);
	free(y);
}


/**
 * Fill x with a sum of equal sines
 *
 * @param x         Output
 * @param n         Samples
 * @param rate      Sample rate [Hz]
 * @param hz        Frequencies [Hz]
 * @param ntones    How many
 * @param level_db  RMS [dBFS]
 */
void sigq_tones(int16_t *x, size_t n, uint32_t rate, const double *hz,
		size_t ntones, double level_db)
{
	double *y = calloc(n ? n : 1, sizeof(*y));

	if (!y) {
		memset(x, 0, n * sizeof(*x));
		return;
	}

	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < ntones; k++)
			y[i] += sin(2 * M_PI * hz[k] * (double)i / rate +
				    0.7 * (double)k);

	scale_to(y, x, n, level_db);
	free(y);
}


/**
 * The delay of y behind ref that maximises their correlation
 *
 * @param ref        Reference, n samples
 * @param y          Signal, n samples
 * @param n          Length [samples]
 * @param max_delay  Largest delay tried [samples], less than n
 *
 * @return delay [samples]
 */
size_t sigq_delay(const int16_t *ref, const int16_t *y, size_t n,
		  size_t max_delay)
{
	double best = -1e300;
	size_t bd = 0;

	if (max_delay >= n)
		return 0;

	for (size_t d = 0; d <= max_delay; d++) {
		double c = 0;

		for (size_t i = 0; i + max_delay < n; i++)
			c += (double)ref[i] * y[i + d];
		if (c > best) {
			best = c;
			bd = d;
		}
	}

	return bd;
}


/** SNR [dB] of y (delayed by delay) against ref over n - delay samples */
double sigq_snr(const int16_t *ref, const int16_t *y, size_t n,
		size_t delay)
{
	double s = 0, e = 0;

	for (size_t i = 0; i + delay < n; i++) {
		double d = (double)ref[i] - y[i + delay];

		s += (double)ref[i] * ref[i];
		e += d * d;
	}

	if (e == 0)
		return 200.0;
	if (s == 0)
		return -200.0;

	return 10 * log10(s / e);
}


/**
 * Segmental SNR [dB]: the mean over segments of seg samples of each
 * one's SNR, clamped to -10..35 dB, over the segments whose reference is
 * louder than -50 dBFS
 */
double sigq_segsnr(const int16_t *ref, const int16_t *y, size_t n,
		   size_t delay, size_t seg)
{
	const double floor_e = pow(10, -50.0 / 10) * 32767.0 * 32767.0;
	double sum = 0;
	unsigned count = 0;

	if (!seg)
		return 0;

	for (size_t k = 0; k + seg + delay <= n; k += seg) {
		double s = 0, e = 0, snr;

		for (size_t i = k; i < k + seg; i++) {
			double d = (double)ref[i] - y[i + delay];

			s += (double)ref[i] * ref[i];
			e += d * d;
		}

		if (s / seg < floor_e)
			continue;

		snr = (e > 0) ? 10 * log10(s / e) : 35;
		if (snr > 35)
			snr = 35;
		if (snr < -10)
			snr = -10;
		sum += snr;
		++count;
	}

	return count ? sum / count : 0;
}


/** Normalised correlation (-1..1) of y (delayed) with ref */
double sigq_corr(const int16_t *ref, const int16_t *y, size_t n,
		 size_t delay)
{
	double c = 0, a = 0, b = 0;

	for (size_t i = 0; i + delay < n; i++) {
		c += (double)ref[i] * y[i + delay];
		a += (double)ref[i] * ref[i];
		b += (double)y[i + delay] * y[i + delay];
	}

	return (a > 0 && b > 0) ? c / sqrt(a * b) : 0;
}


/* in-place radix-2 FFT, n a power of two */
static void fft(double *re, double *im, size_t n)
{
	for (size_t i = 1, j = 0; i < n; i++) {
		size_t bit = n >> 1;

		for (; j & bit; bit >>= 1)
			j ^= bit;
		j ^= bit;
		if (i < j) {
			double t = re[i];
			re[i] = re[j];
			re[j] = t;
			t = im[i];
			im[i] = im[j];
			im[j] = t;
		}
	}

	for (size_t len = 2; len <= n; len <<= 1) {
		double a = -2 * M_PI / (double)len;

		for (size_t i = 0; i < n; i += len) {
			for (size_t k = 0; k < len / 2; k++) {
				double wr = cos(a * k), wi = sin(a * k);
				double *ur = &re[i + k], *ui = &im[i + k];
				double *vr = &re[i + k + len / 2];
				double *vi = &im[i + k + len / 2];
				double tr = *vr * wr - *vi * wi;
				double ti = *vr * wi + *vi * wr;

				*vr = *ur - tr;
				*vi = *ui - ti;
				*ur += tr;
				*ui += ti;
			}
		}
	}
}


/**
 * Log-spectral distance [dB]: per 20 ms frame (Hann window), the RMS
 * difference of the two power spectra in dB over 100 Hz..max_hz, averaged
 * over the frames whose reference is louder than -50 dBFS. 0 for equal
 * signals; a codec that keeps the spectral envelope scores a few dB;
 * noise or silence for speech scores 10 dB and more.
 */
double sigq_lsd(const int16_t *ref, const int16_t *y, size_t n,
		size_t delay, uint32_t rate, double max_hz)
{
	const double floor_e = pow(10, -50.0 / 10) * 32767.0 * 32767.0;
	size_t frame = rate / 50, nfft = 1;
	double *buf, sum = 0;
	unsigned count = 0;

	while (nfft < frame)
		nfft <<= 1;

	buf = calloc(4 * nfft, sizeof(*buf));
	if (!buf)
		return 0;

	for (size_t k = 0; k + frame + delay <= n; k += frame) {
		double *ar = buf, *ai = buf + nfft;
		double *br = buf + 2 * nfft, *bi = buf + 3 * nfft;
		size_t lo = (size_t)(100.0 * nfft / rate);
		size_t hi = (size_t)(max_hz * nfft / rate);
		double e = 0, d = 0;

		memset(buf, 0, 4 * nfft * sizeof(*buf));
		for (size_t i = 0; i < frame; i++) {
			double w = 0.5 - 0.5 * cos(2 * M_PI * i / frame);

			ar[i] = w * ref[k + i];
			br[i] = w * y[k + i + delay];
			e += (double)ref[k + i] * ref[k + i];
		}
		if (e / frame < floor_e)
			continue;

		fft(ar, ai, nfft);
		fft(br, bi, nfft);

		if (hi > nfft / 2)
			hi = nfft / 2;
		for (size_t b = lo; b < hi; b++) {
			double pa = ar[b] * ar[b] + ai[b] * ai[b] + 1.0;
			double pb = br[b] * br[b] + bi[b] * bi[b] + 1.0;
			double x = 10 * log10(pa / pb);

			d += x * x;
		}
		if (hi > lo) {
			sum += sqrt(d / (double)(hi - lo));
			++count;
		}
	}

	free(buf);

	return count ? sum / count : 0;
}


/** RMS level [dBFS], -200 for digital silence */
double sigq_rms_db(const int16_t *x, size_t n)
{
	double e = 0;

	for (size_t i = 0; i < n; i++)
		e += (double)x[i] * x[i];

	if (!n || e == 0)
		return -200.0;

	return 10 * log10(e / n / (32767.0 * 32767.0));
}
