/**
 * @file test_resamp.c  Sample-rate conversion (SpeexDSP) keeps the signal
 *
 * A 1 kHz sine at -6 dBFS goes through resamp in 20 ms blocks, the way
 * the media pipeline feeds it: 8 kHz up to 16, 24 and 48 kHz and back,
 * and 16 <-> 48, 24 <-> 48 kHz, at every SpeexDSP quality 0..10. For each
 * conversion and for the round trip:
 * - every block gives exactly 20 ms of output;
 * - the block-by-block output equals the output of one call over the
 *   whole signal, sample for sample (the stream is continuous across
 *   blocks: no gap, no repeat, no reset);
 * - the frequency, from interpolated zero crossings over 0.8 s, is
 *   1000 Hz within 0.05 Hz;
 * - the level is within 0.3 dB of the input's;
 * - the SNR is above the floor of the quality level (snr_floor below).
 *
 * SNR here is signal to everything else: the output's steady part is
 * fitted by least squares with a 1 kHz sine plus DC, and whatever the fit
 * leaves (images the filter let through, rounding to 16 bits) is the
 * noise. Rounding alone limits a -6 dBFS sine to about 92 dB per
 * conversion; the round trip scores higher than one way because going
 * back down filters the images of going up. What the quality level
 * changes is SpeexDSP's windowed-sinc filter: 8 taps with a Kaiser-6
 * window at 0, 48 taps and Kaiser-8 at 3, 256 taps and Kaiser-12 at 10,
 * with a transition band that narrows as the quality grows. So one-way
 * SNR rises from 61 dB at quality 0 to 89 dB at 3 and the rounding limit
 * from 5 up. The floors below sit 6 dB under the worst conversion
 * measured at each level (the figures this test prints), so a broken
 * filter, a wrong ratio, a lost or repeated block, or a quality that is
 * not applied all fail, while the figures may move a little with
 * libspeexdsp's build.
 *
 * A 1 kHz tone sits far from the filter's edges, so it barely separates
 * the levels above 3. test_band_edges() measures what they buy at the
 * edges, each also with a floor per level: rejection of tones above the
 * output's Nyquist frequency (aliases when an agent's 16/24/48 kHz
 * audio goes down to 8 kHz) and the gain at 3.4 kHz, the top of the
 * telephone band, going up from 8 kHz. Quality 0 lets a 4.5 kHz tone
 * into an 8 kHz call at -25 dB (13 kHz into 24 kHz at -21 dB) and takes
 * 5.6 dB off 3.4 kHz; quality 3 rejects every alias by 83 dB or more
 * and loses 0.3 dB at 3.4 kHz.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <re.h>
#include "test.h"
#include "resamp.h"

enum {
	SECONDS = 1,
	MAX_RATE = 48000,
	MAX_N = MAX_RATE * SECONDS,
};

static const double AMP = 16384.0;   /* -6 dBFS */
static const double FREQ = 1000.0;


/*
 * Measurements
 */

static void sine(int16_t *x, size_t n, uint32_t rate)
{
	for (size_t i = 0; i < n; i++)
		x[i] = (int16_t)lrint(AMP * sin(2 * M_PI * FREQ * (double)i /
						 rate));
}


/* solve the 3x3 system a x = b (Gauss with partial pivoting) */
static void solve3(double a[3][3], double b[3], double x[3])
{
	for (int c = 0; c < 3; c++) {
		int p = c;

		for (int r = c + 1; r < 3; r++)
			if (fabs(a[r][c]) > fabs(a[p][c]))
				p = r;
		for (int k = 0; k < 3; k++) {
			double t = a[c][k];
			a[c][k] = a[p][k];
			a[p][k] = t;
		}
		{
			double t = b[c];
			b[c] = b[p];
			b[p] = t;
		}
		for (int r = c + 1; r < 3; r++) {
			double f = a[r][c] / a[c][c];

			for (int k = c; k < 3; k++)
				a[r][k] -= f * a[c][k];
			b[r] -= f * b[c];
		}
	}
	for (int c = 2; c >= 0; c--) {
		double s = b[c];

		for (int k = c + 1; k < 3; k++)
			s -= a[c][k] * x[k];
		x[c] = s / a[c][c];
	}
}


/**
 * Fit y = s sin + c cos + d at FREQ; SNR [dB] of the fit against the
 * rest, and the fitted amplitude
 */
static double fit_snr(const int16_t *y, size_t n, uint32_t rate,
		      double *amp)
{
	double a[3][3] = {{0}}, b[3] = {0}, x[3] = {0};
	double sig = 0, res = 0;
	const double w = 2 * M_PI * FREQ / rate;

	for (size_t i = 0; i < n; i++) {
		double v[3] = {sin(w * i), cos(w * i), 1.0};

		for (int r = 0; r < 3; r++) {
			for (int c = 0; c < 3; c++)
				a[r][c] += v[r] * v[c];
			b[r] += v[r] * y[i];
		}
	}
	solve3(a, b, x);

	for (size_t i = 0; i < n; i++) {
		double f = x[0] * sin(w * i) + x[1] * cos(w * i);
		double e = y[i] - f - x[2];

		sig += f * f;
		res += e * e;
	}

	*amp = hypot(x[0], x[1]);

	return res > 0 ? 10 * log10(sig / res) : 200.0;
}


/** Frequency [Hz] from rising zero crossings, linearly interpolated */
static double zc_freq(const int16_t *y, size_t n, uint32_t rate)
{
	double first = -1, last = -1;
	unsigned count = 0;

	for (size_t i = 1; i < n; i++) {
		if (y[i - 1] < 0 && y[i] >= 0) {
			double t = (double)(i - 1) +
				(double)-y[i - 1] / (double)(y[i] - y[i - 1]);

			if (first < 0)
				first = t;
			last = t;
			++count;
		}
	}

	if (count < 2)
		return 0;

	return (count - 1) * (double)rate / (last - first);
}


/*
 * Conversion, block by block and in one go
 */

/* 20 ms blocks; every block must give exactly 20 ms */
static size_t convert_blocks(struct resamp *r, const int16_t *in, size_t n,
			     int16_t *out, size_t max)
{
	const uint32_t bin = resamp_in_rate(r) / 50;
	const uint32_t bout = resamp_out_rate(r) / 50;
	size_t o = 0;

	TEST_EQ(n % bin, 0);

	for (size_t i = 0; i < n; i += bin) {
		int k;

		TEST_ASSERT(o + bout <= max);
		k = resamp_process(r, in + i, bin, out + o, bout);
		if (k != (int)bout)
			TEST_FAIL("%u -> %u Hz, block %zu: %d samples, want %u",
				  resamp_in_rate(r), resamp_out_rate(r),
				  i / bin, k, bout);
		o += (size_t)k;
	}

	return o;
}


static size_t convert_once(uint32_t from, uint32_t to, uint32_t q,
			   const int16_t *in, size_t n, int16_t *out,
			   size_t max)
{
	struct resamp *r = NULL;
	int k;

	TEST_ERR(resamp_alloc(&r, from, to, q), 0);
	k = resamp_process(r, in, (uint32_t)n, out, (uint32_t)max);
	TEST_ASSERT(k >= 0);
	mem_deref(r);

	return (size_t)k;
}


struct meas {
	double snr;     /* [dB] */
	double freq;    /* [Hz] */
	double gain;    /* [dB] */
};


static void measure(const int16_t *y, size_t n, uint32_t rate,
		    struct meas *m)
{
	/* skip 150 ms of start-up (filter delay: 16 ms at most at
	   quality 10 per conversion) and keep 0.8 s */
	size_t skip = rate * 150 / 1000, len = rate * 800 / 1000;
	double amp;

	TEST_ASSERT(n >= skip + len);
	m->snr = fit_snr(y + skip, len, rate, &amp);
	m->gain = 20 * log10(amp / AMP);
	m->freq = zc_freq(y + skip, len, rate);
}


/* floors per quality, each 6 dB below the worst figure measured (see
   the file comment); 120 dB stands for "all zeros" */
static const double snr_floor[11] = {
	/* 0 */ 54, /* 1 */ 71, /* 2 */ 70, /* 3 */ 82, /* 4 */ 83,
	/* 5 */ 86, /* 6 */ 86, /* 7 */ 86, /* 8 */ 86, /* 9 */ 86,
	/* 10 */ 86,
};

/* band edges: the least alias rejection [dB] and passband gain at
   3.4 kHz [dB] (measured: q0 21 dB and -5.6 dB, q1 56 and -4.2, q2 71
   and -1.0, q3 83 and -0.28, q4 86 and -0.0, q5..10 all zero and
   -0.0) */
static const double alias_floor[11] = {
	14, 49, 65, 77, 79, 90, 90, 90, 90, 90, 90,
};
static const double edge_floor[11] = {
	-7.0, -5.5, -1.5, -0.5, -0.2, -0.2, -0.2, -0.2, -0.2, -0.2, -0.2,
};


static void check(const char *what, uint32_t from, uint32_t to,
		  uint32_t q, const struct meas *m)
{
	if (m->snr < snr_floor[q] || fabs(m->freq - FREQ) > 0.05 ||
	    fabs(m->gain) > 0.3)
		TEST_FAIL("%s %u -> %u Hz quality %u: SNR %.1f dB (floor "
			  "%.0f), %.3f Hz, gain %+.2f dB", what, from, to, q,
			  m->snr, snr_floor[q], m->freq, m->gain);
}


struct pair {
	uint32_t lo, hi;
};

static const struct pair pairs[] = {
	{8000, 16000}, {8000, 24000}, {8000, 48000},
	{16000, 48000}, {24000, 48000},
};


static void test_sine(void)
{
	static int16_t src[MAX_N], up[MAX_N], back[MAX_N], once[MAX_N];
	double worst[11][2];

	printf("%-14s %-4s %28s %28s\n", "conversion", "q",
	       "there: SNR dB, Hz, gain dB", "and back: SNR dB, Hz, gain dB");

	for (uint32_t q = 0; q <= 10; q++) {
		worst[q][0] = worst[q][1] = 1e9;

		for (size_t p = 0; p < ARRAY_SIZE(pairs); p++) {
			const uint32_t lo = pairs[p].lo, hi = pairs[p].hi;
			const size_t nlo = lo * SECONDS, nhi = hi * SECONDS;
			struct resamp *r1 = NULL, *r2 = NULL;
			struct meas m1, m2;
			size_t n1, n2;

			sine(src, nlo, lo);

			TEST_ERR(resamp_alloc(&r1, lo, hi, q), 0);
			TEST_ERR(resamp_alloc(&r2, hi, lo, q), 0);
			TEST_EQ(resamp_in_rate(r1), lo);
			TEST_EQ(resamp_out_rate(r1), hi);

			n1 = convert_blocks(r1, src, nlo, up, MAX_N);
			TEST_EQ(n1, nhi);
			n2 = convert_blocks(r2, up, n1, back, MAX_N);
			TEST_EQ(n2, nlo);

			/* continuity: blocks == one call, exactly */
			TEST_EQ(convert_once(lo, hi, q, src, nlo, once,
					     MAX_N), nhi);
			if (memcmp(once, up, nhi * sizeof(*up)))
				TEST_FAIL("%u -> %u q%u: blocks differ from "
					  "one call", lo, hi, q);
			TEST_EQ(convert_once(hi, lo, q, up, nhi, once,
					     MAX_N), nlo);
			if (memcmp(once, back, nlo * sizeof(*back)))
				TEST_FAIL("%u -> %u q%u: blocks differ from "
					  "one call", hi, lo, q);

			measure(up, n1, hi, &m1);
			measure(back, n2, lo, &m2);

			printf("%5u->%-5u   %2u   %8.1f %10.3f %+7.2f  "
			       "%8.1f %10.3f %+7.2f\n", lo, hi, q,
			       m1.snr, m1.freq, m1.gain,
			       m2.snr, m2.freq, m2.gain);

			check("there", lo, hi, q, &m1);
			check("and back", hi, lo, q, &m2);

			if (m1.snr < worst[q][0])
				worst[q][0] = m1.snr;
			if (m2.snr < worst[q][1])
				worst[q][1] = m2.snr;

			mem_deref(r1);
			mem_deref(r2);
		}
	}

	printf("worst SNR per quality [dB] (one way / round trip):\n");
	for (uint32_t q = 0; q <= 10; q++)
		printf("  q%-2u %6.1f %6.1f (floor %.0f)\n", q, worst[q][0],
		       worst[q][1], snr_floor[q]);
}


/* level [dB re the input's] of a tone of f Hz after from -> to */
static double tone_level(uint32_t q, uint32_t from, uint32_t to, double f)
{
	static int16_t in[MAX_N], out[MAX_N];
	struct resamp *r = NULL;
	size_t n, skip = to / 5, len = to * 3 / 5;
	double s = 0;

	for (size_t i = 0; i < from; i++)
		in[i] = (int16_t)lrint(AMP * sin(2 * M_PI * f * (double)i /
						 from));

	TEST_ERR(resamp_alloc(&r, from, to, q), 0);
	n = convert_blocks(r, in, from, out, MAX_N);
	TEST_EQ(n, to);
	mem_deref(r);

	for (size_t i = skip; i < skip + len; i++)
		s += (double)out[i] * out[i];
	if (s == 0)
		return -120.0;

	return 10 * log10(s / len / (AMP * AMP / 2));
}


/*
 * What the quality buys: the filter's transition band. Taking an agent's
 * 16, 24 or 48 kHz audio down to 8 kHz must reject what lies above
 * 4 kHz (it would fold back into the call as aliases), and taking the
 * caller's 8 kHz audio up must keep the telephone band up to 3.4 kHz.
 */
static void test_band_edges(void)
{
	static const struct {
		uint32_t from, to;
		double f;
	} alias[] = {
		{48000, 8000, 4500}, {48000, 8000, 5000}, {48000, 8000, 6000},
		{48000, 8000, 10000}, {16000, 8000, 4600}, {16000, 8000, 6000},
		{24000, 8000, 4600}, {24000, 16000, 9000},
		{48000, 16000, 9000}, {48000, 24000, 13000},
	};

	printf("%-4s %12s %14s\n", "q", "alias dB", "3.4 kHz dB");

	for (uint32_t q = 0; q <= 10; q++) {
		double worst = 0, edge;

		for (size_t i = 0; i < ARRAY_SIZE(alias); i++) {
			double l = tone_level(q, alias[i].from, alias[i].to,
					      alias[i].f);

			if (l > worst || i == 0)
				worst = l;
			if (-l < alias_floor[q])
				TEST_FAIL("q%u %u -> %u Hz: %.0f Hz comes "
					  "through at %.1f dB (floor -%.0f)",
					  q, alias[i].from, alias[i].to,
					  alias[i].f, l, alias_floor[q]);
		}

		edge = tone_level(q, 8000, 48000, 3400);
		printf("q%-3u %12.1f %14.2f\n", q, -worst, edge);
		if (edge < edge_floor[q] || edge > 0.3)
			TEST_FAIL("q%u: 3.4 kHz at %.2f dB (floor %.1f)", q,
				  edge, edge_floor[q]);
	}
}


/* resamp_reset() forgets the history: the next stream is as new */
static void test_reset(void)
{
	static int16_t src[8000], a[48000], b[48000];
	struct resamp *r = NULL;

	sine(src, 8000, 8000);
	TEST_ERR(resamp_alloc(&r, 8000, 48000, 3), 0);

	(void)convert_blocks(r, src, 8000, a, 48000);
	resamp_reset(r);
	(void)convert_blocks(r, src, 8000, b, 48000);
	TEST_ASSERT(!memcmp(a, b, sizeof(a)));

	/* without the reset the filter history shows */
	(void)convert_blocks(r, src + 80, 8000 - 160, b, 48000);
	resamp_reset(r);
	(void)convert_blocks(r, src + 80, 8000 - 160, a, 48000);
	TEST_ASSERT(memcmp(a, b, 960 * sizeof(*a)));

	mem_deref(r);
}


static void test_bad(void)
{
	struct resamp *r = NULL;
	int16_t in[160] = {0}, out[960];

	TEST_ERR(resamp_alloc(&r, 0, 8000, 3), EINVAL);
	TEST_ERR(resamp_alloc(&r, 8000, 0, 3), EINVAL);
	TEST_ERR(resamp_alloc(&r, 8000, 16000, 11), EINVAL);
	TEST_ERR(resamp_alloc(NULL, 8000, 16000, 3), EINVAL);
	TEST_ERR(resamp_alloc(&r, 8000, 7, 3), EINVAL);
	TEST_ERR(resamp_alloc(&r, 8000, 4000000, 3), EINVAL);
	TEST_ASSERT(r == NULL);

	TEST_ERR(resamp_alloc(&r, 8000, 48000, 3), 0);
	TEST_EQ(resamp_process(NULL, in, 160, out, 960), -EINVAL);
	TEST_EQ(resamp_process(r, NULL, 160, out, 960), -EINVAL);
	TEST_EQ(resamp_process(r, in, 160, NULL, 960), -EINVAL);

	/* too small an output buffer is refused, not a silent cut */
	TEST_EQ(resamp_process(r, in, 160, out, 959), -ENOSPC);
	TEST_EQ(resamp_process(r, in, 160, out, 960), 960);
	TEST_EQ(resamp_process(r, in, 0, out, 960), 0);

	TEST_EQ(resamp_in_rate(NULL), 0);
	TEST_EQ(resamp_out_rate(NULL), 0);
	resamp_reset(NULL);

	mem_deref(r);
}


int main(void)
{
	test_bad();
	test_reset();
	test_sine();
	test_band_edges();

	printf("test_resamp: ok\n");

	return 0;
}
