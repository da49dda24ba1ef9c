/**
 * @file test_plc.c  Waveform-repetition loss concealment
 *
 * The signals are sines and a harmonic "voiced" tone at 8, 16 and 48 kHz.
 * Thresholds, and why:
 *  - first concealed frame: its level within 1 dB of the signal's (the
 *    fade takes the second 10 ms from 1.0 to 0.8: -0.5 dB at most) and
 *    its frequency within 1 % (an integer lag that spans several periods
 *    is off by a fraction of a sample over the whole span); the first
 *    10 ms stay close to the true continuation (SNR above 10 dB);
 *  - long gap: each frame quieter than the one before, silent from 60 ms;
 *  - recovery cross-fade: no step between samples larger than 1.5 times
 *    the largest step of the sine itself (A * 2 pi f / fs). A fade over
 *    N >= 24 samples from the concealment into a good signal as far from
 *    it as possible (the sine inverted) adds at most 2A / (N + 1) to a
 *    step, under 0.1 A, while switching at once would step by up to 2A.
 *    The test checks that the switch without a fade would fail;
 *  - good audio with no loss before it comes out bit-exact.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <re_types.h>
#include <re_mem.h>
#include "plc.h"
#include "test.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

enum { MAXN = 48000 };

static const uint32_t rates[] = {8000, 16000, 48000};


static int16_t sine(double a, double f, double fs, uint64_t i, double ph)
{
	return (int16_t)lrint(a * sin(2 * M_PI * f * (double)i / fs + ph));
}


static double rms(const int16_t *x, size_t n)
{
	double e = 0;
	size_t i;

	for (i = 0; i < n; i++)
		e += (double)x[i] * x[i];

	return sqrt(e / (double)n);
}


/** Frequency of the strongest component in [lo, hi], 0.5 Hz steps */
static double peak_freq(const int16_t *x, size_t n, double fs, double lo,
			double hi)
{
	double f, best = 0, bf = lo;

	for (f = lo; f <= hi; f += 0.5) {
		double re = 0, im = 0, p;
		size_t i;

		for (i = 0; i < n; i++) {
			re += x[i] * cos(2 * M_PI * f * (double)i / fs);
			im += x[i] * sin(2 * M_PI * f * (double)i / fs);
		}
		p = re * re + im * im;
		if (p > best) {
			best = p;
			bf = f;
		}
	}

	return bf;
}


static void feed_sine(struct plc *p, uint32_t fs, double a, double f,
		      uint64_t *t, unsigned frames)
{
	static int16_t buf[MAXN];
	const size_t n = fs / 50;
	unsigned k;
	size_t i;

	for (k = 0; k < frames; k++) {
		for (i = 0; i < n; i++)
			buf[i] = sine(a, f, fs, (*t)++, 0);
		TEST_ERR(plc_good(p, buf, n), 0);
	}
}


static void test_bitexact(void)
{
	static int16_t in[MAXN], out[MAXN];
	unsigned r, k;
	uint32_t x = 1;

	for (r = 0; r < ARRAY_SIZE(rates); r++) {
		const size_t n = rates[r] / 50;
		struct plc *p;

		TEST_ERR(plc_alloc(&p, rates[r]), 0);
		for (k = 0; k < 100; k++) {
			size_t i;

			for (i = 0; i < n; i++) {
				x = x * 1664525u + 1013904223u;
				in[i] = (int16_t)(sine(8000, 300, rates[r],
						       k * n + i, 0) +
						  (int16_t)(x >> 20) - 2048);
			}
			memcpy(out, in, n * sizeof(*in));
			TEST_ERR(plc_good(p, out, n), 0);
			TEST_ASSERT(!memcmp(out, in, n * sizeof(*in)));
		}
		mem_deref(p);
	}
}


static void test_sine(void)
{
	static int16_t buf[MAXN], ref[MAXN];
	unsigned r;

	for (r = 0; r < ARRAY_SIZE(rates); r++) {
		const uint32_t fs = rates[r];
		const size_t n = fs / 50, h = fs / 100;
		const double a = 10000, f = 440;
		double lvl, pf, err = 0, sig = 0;
		struct plc *p;
		uint64_t t = 0;
		size_t i;

		TEST_ERR(plc_alloc(&p, fs), 0);
		feed_sine(p, fs, a, f, &t, 10);

		TEST_ERR(plc_conceal(p, buf, n), 0);
		for (i = 0; i < n; i++)
			ref[i] = sine(a, f, fs, t + i, 0);

		lvl = 20 * log10(rms(buf, n) / rms(ref, n));
		if (fabs(lvl) > 1.0)
			TEST_FAIL("%u Hz: concealed level %.2f dB", fs, lvl);

		pf = peak_freq(buf, n, fs, 300, 600);
		if (fabs(pf - f) > f / 100)
			TEST_FAIL("%u Hz: concealed frequency %.1f Hz", fs, pf);

		for (i = 0; i < h; i++) {
			sig += (double)ref[i] * ref[i];
			err += ((double)buf[i] - ref[i]) *
				((double)buf[i] - ref[i]);
		}
		if (10 * log10(sig / err) < 10.0)
			TEST_FAIL("%u Hz: first 10 ms SNR %.1f dB", fs,
				  10 * log10(sig / err));

		printf("plc %u Hz: T=%u level %.2f dB, %.1f Hz, SNR %.1f dB\n",
		       fs, plc_pitch(p), lvl, pf, 10 * log10(sig / err));
		mem_deref(p);
	}
}


static void test_voiced(void)
{
	static int16_t buf[MAXN];
	const double f0 = 150;
	unsigned r;

	/* 8 harmonics of 150 Hz, falling 3 dB per harmonic: the period
	   found is a multiple of fs/150 to within a sample, at every rate */
	for (r = 0; r < ARRAY_SIZE(rates); r++) {
		const uint32_t fs = rates[r];
		const size_t n = fs / 50;
		const double per = fs / f0;
		struct plc *p;
		uint64_t t = 0;
		unsigned k, T;
		size_t i;

		TEST_ERR(plc_alloc(&p, fs), 0);
		for (k = 0; k < 10; k++) {
			for (i = 0; i < n; i++, t++) {
				double v = 0;
				unsigned hm;

				for (hm = 1; hm <= 8; hm++)
					v += 4000 * pow(0.7, hm - 1) *
						sin(2 * M_PI * f0 * hm *
						    (double)t / fs + hm);
				buf[i] = (int16_t)lrint(v);
			}
			TEST_ERR(plc_good(p, buf, n), 0);
		}
		TEST_ERR(plc_conceal(p, buf, n), 0);

		T = plc_pitch(p);
		TEST_ASSERT(T >= fs / 400 && T <= fs * 15 / 1000);
		if (fabs(T - per * lrint(T / per)) > 1.0)
			TEST_FAIL("%u Hz: pitch %u for a period of %.2f", fs,
				  T, per);
		mem_deref(p);
	}
}


/**
 * The signal fades out fast just before the loss (halving every period):
 * the concealment must join the last sample and loop without steps
 * larger than 1.5 times the largest step of its last two periods
 */
static void test_joins(void)
{
	static int16_t in[MAXN], buf[MAXN];
	unsigned r;

	for (r = 0; r < ARRAY_SIZE(rates); r++) {
		const uint32_t fs = rates[r];
		const size_t n = fs / 50, T = fs / 200;     /* 200 Hz */
		const size_t len = 5 * n;
		double nat = 0, mx;
		struct plc *p;
		size_t i;

		/* 100 ms: steady, then halving per period for 2 periods,
		   ending on a peak */
		for (i = 0; i < len; i++) {
			double a = 10000, ph;
			size_t left = len - i;

			if (left <= 2 * T)
				a *= pow(0.5, (double)(2 * T - left + 1) /
					 (double)T);
			ph = 2 * M_PI * (double)(i + 1) / (double)T +
				M_PI / 2;
			in[i] = (int16_t)lrint(a * sin(ph));
		}
		for (i = len - 2 * T + 1; i < len; i++)
			nat = fmax(nat, fabs((double)in[i] - in[i - 1]));

		TEST_ERR(plc_alloc(&p, fs), 0);
		TEST_ERR(plc_good(p, in, len), 0);
		TEST_ERR(plc_conceal(p, buf, n), 0);

		mx = fabs((double)buf[0] - in[len - 1]);
		for (i = 1; i < n / 2; i++)
			mx = fmax(mx, fabs((double)buf[i] - buf[i - 1]));
		if (mx > 1.5 * nat)
			TEST_FAIL("%u Hz: step %.0f, signal's %.0f", fs, mx,
				  nat);
		mem_deref(p);
	}
}


/**
 * Long losses repeat more than one period, so they do not buzz: after
 * 25 ms of loss the output no longer repeats with the pitch period
 */
static void test_periods_grow(void)
{
	static int16_t buf[MAXN];
	struct plc *p;
	uint32_t x = 12345, T;
	double diff = 0, tot = 0;
	size_t i;

	static int16_t pat[47];

	/* a random pattern of 47 samples, repeated with fresh noise on
	   every repetition: a period of 47, no two periods alike */
	TEST_ERR(plc_alloc(&p, 8000), 0);
	for (i = 0; i < 47; i++) {
		x = x * 1664525u + 1013904223u;
		pat[i] = (int16_t)(((int32_t)(x >> 16) - 32768) / 4);
	}
	for (i = 0; i < 800; i++) {
		x = x * 1664525u + 1013904223u;
		buf[i] = (int16_t)(pat[i % 47] +
				   ((int32_t)(x >> 16) - 32768) / 11);
	}
	TEST_ERR(plc_good(p, buf, 800), 0);
	TEST_ERR(plc_conceal(p, buf, 480), 0);
	T = plc_pitch(p);
	TEST_EQ(T % 47, 0);

	/* first 10 ms: one period repeated, at full level (after the join
	   and the loop fade) */
	for (i = T + T / 4 + 1; i < 80; i++)
		TEST_EQ(buf[i], buf[i - T]);

	/* 30 to 50 ms: not a one-period loop any more */
	for (i = 240; i < 400; i++) {
		double g = (double)(400 - (i - 80)) / (double)(400 - (i - T - 80));

		diff += fabs(buf[i] - buf[i - T] * g);
		tot  += fabs((double)buf[i]);
	}
	TEST_ASSERT(tot > 0);
	if (diff / tot < 0.2)
		TEST_FAIL("still a one-period loop: %.2f", diff / tot);

	mem_deref(p);
}


/** A second loss soon after the first continues the signal as well */
static void test_second_loss(void)
{
	static int16_t buf[MAXN];
	const double a = 10000, f = 440;
	struct plc *p;
	uint64_t t = 0;
	double sig = 0, err = 0;
	size_t i;

	TEST_ERR(plc_alloc(&p, 8000), 0);
	feed_sine(p, 8000, a, f, &t, 10);
	TEST_ERR(plc_conceal(p, buf, 160), 0);
	t += 160;
	for (i = 0; i < 80; i++)
		buf[i] = sine(a, f, 8000, t++, 0);
	TEST_ERR(plc_good(p, buf, 80), 0);
	TEST_ERR(plc_conceal(p, buf, 160), 0);

	for (i = 0; i < 80; i++) {
		double ref = sine(a, f, 8000, t + i, 0);

		sig += ref * ref;
		err += (buf[i] - ref) * (buf[i] - ref);
	}
	if (10 * log10(sig / err) < 10.0)
		TEST_FAIL("second loss: SNR %.1f dB", 10 * log10(sig / err));

	mem_deref(p);
}


static void test_decay(void)
{
	static int16_t buf[MAXN];
	unsigned r, k;

	for (r = 0; r < ARRAY_SIZE(rates); r++) {
		const uint32_t fs = rates[r];
		const size_t n = fs / 50;
		double prev = 1e9;
		struct plc *p;
		uint64_t t = 0;

		TEST_ERR(plc_alloc(&p, fs), 0);
		feed_sine(p, fs, 12000, 250, &t, 10);

		/* 200 ms lost, in 20 ms frames */
		for (k = 0; k < 10; k++) {
			size_t i;
			double e;

			TEST_ERR(plc_conceal(p, buf, n), 0);
			e = rms(buf, n);
			if (k < 3) {
				TEST_ASSERT(e > 0);
				TEST_ASSERT(e < prev);
			}
			else {
				for (i = 0; i < n; i++)
					TEST_EQ(buf[i], 0);
			}
			prev = e;
		}
		mem_deref(p);
	}
}


/**
 * One frame lost, then the signal comes back with phase `ph` relative to
 * the true continuation, in blocks of `blk` samples
 */
static double join_step(uint32_t fs, double ph, size_t blk, double *naive)
{
	static int16_t c[MAXN], g[MAXN];
	const double a = 10000, f = 440;
	const size_t n = fs / 50;
	struct plc *p;
	uint64_t t = 0;
	double mx = 0;
	size_t i, done;

	TEST_ERR(plc_alloc(&p, fs), 0);
	feed_sine(p, fs, a, f, &t, 10);
	TEST_ERR(plc_conceal(p, c, n), 0);
	t += n;

	for (i = 0; i < n; i++)
		g[i] = sine(a, f, fs, t + i, ph);
	*naive = fabs((double)g[0] - c[n - 1]);

	for (done = 0; done < n; done += blk)
		TEST_ERR(plc_good(p, g + done, blk < n - done ? blk :
				  n - done), 0);

	mx = fabs((double)g[0] - c[n - 1]);
	for (i = 1; i < n; i++)
		mx = fmax(mx, fabs((double)g[i] - g[i - 1]));

	mem_deref(p);

	return mx;
}


static void test_xfade(void)
{
	static const double phases[] = {0, M_PI / 2, M_PI, 2.5, 4.0};
	static const size_t blocks[] = {1000000, 7, 1};
	unsigned r, k, b;

	for (r = 0; r < ARRAY_SIZE(rates); r++) {
		const uint32_t fs = rates[r];
		const double nat = 10000 * 2 * M_PI * 440 / fs;
		bool naive_fails = false;

		for (k = 0; k < ARRAY_SIZE(phases); k++) {
			for (b = 0; b < ARRAY_SIZE(blocks); b++) {
				double naive, st;

				st = join_step(fs, phases[k], blocks[b],
					       &naive);
				if (st > 1.5 * nat)
					TEST_FAIL("%u Hz phase %.2f block %zu: "
						  "step %.0f > %.0f", fs,
						  phases[k], blocks[b], st,
						  1.5 * nat);
				if (naive > 1.5 * nat)
					naive_fails = true;
			}
		}

		/* without the fade, some of these joins would fail */
		TEST_ASSERT(naive_fails);
	}
}


static void test_after_xfade_exact(void)
{
	static int16_t buf[400], in[400];
	struct plc *p;
	uint64_t t = 0;
	size_t i;

	TEST_ERR(plc_alloc(&p, 8000), 0);
	feed_sine(p, 8000, 9000, 300, &t, 5);
	TEST_ERR(plc_conceal(p, buf, 160), 0);

	/* the first good frame is faded (changed) ... */
	for (i = 0; i < 160; i++)
		in[i] = buf[i] = sine(9000, 300, 8000, t + 160 + i, 1.0);
	TEST_ERR(plc_good(p, buf, 160), 0);
	TEST_ASSERT(memcmp(buf, in, 40 * sizeof(*buf)) != 0);
	TEST_ASSERT(!memcmp(buf + 100, in + 100, 60 * sizeof(*buf)));

	/* ... the next one is not */
	for (i = 0; i < 160; i++)
		in[i] = buf[i] = sine(9000, 300, 8000, t + 320 + i, 1.0);
	TEST_ERR(plc_good(p, buf, 160), 0);
	TEST_ASSERT(!memcmp(buf, in, 160 * sizeof(*buf)));

	mem_deref(p);
}


static void test_silence_and_args(void)
{
	static int16_t buf[960];
	struct plc *p;
	size_t i;

	TEST_ERR(plc_alloc(NULL, 8000), EINVAL);
	TEST_ERR(plc_alloc(&p, 7999), EINVAL);
	TEST_ERR(plc_alloc(&p, 48001), EINVAL);

	/* nothing heard yet: the concealment is silence */
	TEST_ERR(plc_alloc(&p, 16000), 0);
	TEST_ERR(plc_conceal(p, buf, 320), 0);
	for (i = 0; i < 320; i++)
		TEST_EQ(buf[i], 0);
	TEST_ERR(plc_conceal(p, NULL, 0), 0);
	TEST_ERR(plc_conceal(p, NULL, 10), EINVAL);
	TEST_ERR(plc_good(p, NULL, 10), EINVAL);
	TEST_ERR(plc_good(NULL, buf, 10), EINVAL);
	TEST_ERR(plc_conceal(NULL, buf, 10), EINVAL);

	/* any block length, including more than the history */
	TEST_ERR(plc_good(p, buf, 960), 0);
	TEST_ERR(plc_conceal(p, buf, 960), 0);
	plc_reset(p);
	mem_deref(p);
}


int main(void)
{
	test_bitexact();
	test_sine();
	test_voiced();
	test_joins();
	test_periods_grow();
	test_second_loss();
	test_decay();
	test_xfade();
	test_after_xfade_exact();
	test_silence_and_args();

	printf("test_plc: passed\n");

	return 0;
}
