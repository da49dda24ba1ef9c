/**
 * @file sigcmp.c  Make a known signal; tell whether received audio is it
 *
 * The end-to-end media tests send a known signal through callbridge one
 * way or the other and need to know whether what came out is that signal,
 * at the right rate, at the right level, whole. Python has no fast
 * arithmetic here (no numpy), so this does the sums.
 *
 * Usage:
 *   sigcmp gen OUT.raw --rate HZ --seconds S [--level DBFS] [--seed N]
 *              [--ulaw]
 *   sigcmp cmp REF.raw REF_HZ TEST.raw TEST_HZ [--at HZ] [--ulaw-ref]
 *              [--ulaw-test] [--max-delay MS] [--skip MS] [--len MS]
 *              [--band HZ] [--block MS] [--drift MS] [--good DB]
 *
 * gen writes the speech-like signal of sigq.c (seeded: the same seed gives
 * the same file), as little-endian 16-bit PCM, or as G.711 µ-law with
 * --ulaw (8000 Hz only; never the byte 0x7F, -0, which does not survive a
 * decode/encode round trip).
 *
 * cmp reads two signals (16-bit LE PCM, or µ-law with --ulaw-*), takes
 * both to one rate (--at, default the lower of the two) with the SpeexDSP
 * resampler at quality 10 (its delay taken out), finds the delay of TEST
 * behind REF (negative: ahead) within +-max-delay by FFT cross-correlation,
 * and measures TEST against REF from --skip ms into REF over --len ms
 * (default: as far as both go). On stdout, one JSON object:
 *   rate, delay_ms, delay_samples, n (samples compared), snr_db,
 *   segsnr_db (20 ms segments, -10..35 dB, segments over -50 dBFS),
 *   corr (normalised, -1..1), lsd_db (log-spectral distance up to
 *   --band Hz, default rate/2), gain_db (TEST over REF level),
 *   ref_rms_db, test_rms_db (over the compared span), worst (the five
 *   20 ms segments over -50 dBFS with the lowest SNR: [ms into REF,
 *   dB], for failure messages), and "blocks", below.
 *
 * A path with an adaptive jitter buffer may shift the timeline while a
 * call goes on (a concealed frame inserted to grow the buffer, one
 * dropped to shrink it), so one delay cannot line up the whole signal.
 * "blocks" therefore also lines up each --block ms (default 100) of REF
 * on its own, within +-drift ms (default 100) of the global delay, and
 * sums up the blocks over -45 dBFS: count, SNR median and 10th
 * percentile, the fraction with an SNR over --good dB (default 20),
 * their overall correlation at their own delays, the delays found
 * ([ms, blocks] pairs) and how often the delay changed from one block
 * to the next.
 *
 * A wrong sample rate anywhere on the path shows as a pitch shift: no
 * delay lines the signals up and corr stays near 0. A wrong codec or law
 * shows as noise: SNR near or below 0 dB.
 *
 * Exit status: 0 done, 1 failed (I/O, empty or too short input), 2 bad
 * usage.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <speex/speex_resampler.h>
#include "sigq.h"

enum {
	MAX_FILE = 256 * 1024 * 1024,   /**< largest input [bytes]   */
	MAX_SECONDS = 600,
	MAX_DELAYS = 64,                /**< block delays listed     */
};

struct sig {
	int16_t *x;
	size_t n;
	uint32_t rate;
};


static void usage(void)
{
	fprintf(stderr,
		"usage: sigcmp gen OUT.raw --rate HZ --seconds S "
		"[--level DBFS] [--seed N] [--ulaw]\n"
		"       sigcmp cmp REF.raw REF_HZ TEST.raw TEST_HZ [--at HZ]"
		" [--ulaw-ref] [--ulaw-test]\n"
		"                  [--max-delay MS] [--skip MS] [--len MS] "
		"[--band HZ]\n"
		"                  [--block MS] [--drift MS] [--good DB]\n");
}


static bool num(const char *s, double lo, double hi, double *v)
{
	char *end;

	if (!s || !*s)
		return false;

	errno = 0;
	*v = strtod(s, &end);

	return !errno && !*end && *v >= lo && *v <= hi;
}


static bool rate_ok(double r)
{
	return r >= 4000 && r <= 192000 && r == floor(r);
}


/* G.711 µ-law, bit-exact with codec/g711.c (G.711 Table 2, x4) */
static int16_t ulaw_dec(uint8_t b)
{
	int seg, mant, v;

	b = (uint8_t)~b;
	seg = (b >> 4) & 7;
	mant = b & 0x0f;
	v = ((2 * mant + 33) << seg) - 33;

	return (int16_t)(4 * ((b & 0x80) ? -v : v));
}


static uint8_t ulaw_enc(int16_t s)
{
	int x = s >> 2, sign = 0, seg = 0;
	uint8_t b;

	if (x < 0) {
		x = -x - 1;
		sign = 0x80;
	}
	x += 33;
	if (x > 8191)
		x = 8191;
	for (int t = x >> 6; t; t >>= 1)
		++seg;
	b = (uint8_t)(sign | (seg << 4) | ((x >> (seg + 1)) & 0x0f));
	b = (uint8_t)~b;

	return b == 0x7f ? 0xff : b;   /* -0 is not stable: use +0 */
}


static int read_sig(const char *path, bool ulaw, uint32_t rate,
		    struct sig *s)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long sz;
	int err = 0;

	memset(s, 0, sizeof(*s));
	if (!f)
		return errno;

	if (fseek(f, 0, SEEK_END) || (sz = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET)) {
		err = errno ? errno : EIO;
		goto out;
	}
	if (sz > MAX_FILE) {
		err = EFBIG;
		goto out;
	}

	buf = malloc((size_t)sz + 1);
	s->n = ulaw ? (size_t)sz : (size_t)sz / 2;
	s->x = calloc(s->n + 1, sizeof(*s->x));
	if (!buf || !s->x) {
		err = ENOMEM;
		goto out;
	}
	if (fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
		err = EIO;
		goto out;
	}

	for (size_t i = 0; i < s->n; i++)
		s->x[i] = ulaw ? ulaw_dec(buf[i]) :
			(int16_t)(buf[2 * i] | (buf[2 * i + 1] << 8));
	s->rate = rate;

 out:
	free(buf);
	fclose(f);
	if (err) {
		free(s->x);
		s->x = NULL;
	}

	return err;
}


/* convert s to rate in place (quality 10, delay compensated) */
static int resample(struct sig *s, uint32_t rate)
{
	SpeexResamplerState *st;
	spx_uint32_t ilen, olen;
	size_t lat, cap, tail, got = 0;
	int16_t *y, *zeros = NULL;
	int serr = 0;

	if (s->rate == rate)
		return 0;

	st = speex_resampler_init(1, s->rate, rate, 10, &serr);
	if (!st)
		return EINVAL;

	lat = (size_t)speex_resampler_get_output_latency(st);
	tail = (size_t)speex_resampler_get_input_latency(st) + 1;
	cap = (size_t)((uint64_t)(s->n + tail) * rate / s->rate) + 64 + lat;
	y = calloc(cap, sizeof(*y));
	zeros = calloc(tail, sizeof(*zeros));
	if (!y || !zeros) {
		speex_resampler_destroy(st);
		free(y);
		free(zeros);
		return ENOMEM;
	}

	ilen = (spx_uint32_t)s->n;
	olen = (spx_uint32_t)cap;
	serr = speex_resampler_process_int(st, 0, s->x, &ilen, y, &olen);
	got = olen;
	if (!serr) {
		/* flush the filter's tail with zeros */
		ilen = (spx_uint32_t)tail;
		olen = (spx_uint32_t)(cap - got);
		serr = speex_resampler_process_int(st, 0, zeros, &ilen,
						   y + got, &olen);
		got += olen;
	}
	speex_resampler_destroy(st);
	free(zeros);
	if (serr) {
		free(y);
		return EINVAL;
	}

	/* drop the filter delay so that time 0 stays time 0 */
	if (lat > got)
		lat = got;
	memmove(y, y + lat, (got - lat) * sizeof(*y));
	got -= lat;
	if (got > (size_t)((uint64_t)s->n * rate / s->rate))
		got = (size_t)((uint64_t)s->n * rate / s->rate);

	free(s->x);
	s->x = y;
	s->n = got;
	s->rate = rate;

	return 0;
}


/* in-place radix-2 FFT (inverse: conjugate in and out, scale) */
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
		double wr0 = cos(a), wi0 = sin(a);

		for (size_t i = 0; i < n; i += len) {
			double wr = 1, wi = 0;

			for (size_t k = 0; k < len / 2; k++) {
				double *ur = &re[i + k], *ui = &im[i + k];
				double *vr = &re[i + k + len / 2];
				double *vi = &im[i + k + len / 2];
				double tr = *vr * wr - *vi * wi;
				double ti = *vr * wi + *vi * wr;
				double t;

				*vr = *ur - tr;
				*vi = *ui - ti;
				*ur += tr;
				*ui += ti;

				t = wr * wr0 - wi * wi0;
				wi = wr * wi0 + wi * wr0;
				wr = t;
			}
		}
	}
}


/*
 * The delay d (|d| <= maxd) maximising sum ref[i] * test[i + d]: the
 * circular cross-correlation of zero-padded signals via one FFT each.
 */
static int best_delay(const struct sig *ref, const struct sig *test,
		      long maxd, long *dp)
{
	size_t n = 1, need = ref->n + test->n + 1;
	double *ar, *ai, *br, *bi, best = -HUGE_VAL;
	long bd = 0;

	while (n < need)
		n <<= 1;

	ar = calloc(4 * n, sizeof(double));
	if (!ar)
		return ENOMEM;
	ai = ar + n;
	br = ar + 2 * n;
	bi = ar + 3 * n;

	for (size_t i = 0; i < ref->n; i++)
		ar[i] = ref->x[i];
	for (size_t i = 0; i < test->n; i++)
		br[i] = test->x[i];

	fft(ar, ai, n);
	fft(br, bi, n);

	/* conj(A) * B, then the inverse transform as a forward one of the
	   conjugate */
	for (size_t k = 0; k < n; k++) {
		double re = ar[k] * br[k] + ai[k] * bi[k];
		double im = ar[k] * bi[k] - ai[k] * br[k];

		ar[k] = re;
		ai[k] = -im;
	}
	fft(ar, ai, n);

	for (long d = -maxd; d <= maxd; d++) {
		size_t k = d >= 0 ? (size_t)d : n - (size_t)(-d);
		double c;

		if (d >= (long)test->n || -d >= (long)ref->n)
			continue;
		c = ar[k];
		if (c > best) {
			best = c;
			bd = d;
		}
	}

	free(ar);
	*dp = bd;

	return 0;
}


/* the k worst 20 ms segments by SNR, as a JSON array */
static void print_worst(const int16_t *r, const int16_t *t, size_t n,
			size_t i0, double at)
{
	enum { K = 5 };
	const double floor_e = pow(10, -50.0 / 10) * 32767.0 * 32767.0;
	size_t seg = (size_t)(at / 50), wi[K];
	double ws[K];
	unsigned cnt = 0;

	for (size_t k = 0; k + seg <= n; k += seg) {
		double s = 0, e = 0, snr;
		unsigned j;

		for (size_t i = k; i < k + seg; i++) {
			double d = (double)r[i] - t[i];

			s += (double)r[i] * r[i];
			e += d * d;
		}
		if (s / seg < floor_e)
			continue;
		snr = e > 0 ? 10 * log10(s / e) : 200;

		/* insertion into the sorted list of the worst */
		for (j = cnt; j > 0 && ws[j - 1] > snr; j--) {
			if (j < K) {
				ws[j] = ws[j - 1];
				wi[j] = wi[j - 1];
			}
		}
		if (j < K) {
			ws[j] = snr;
			wi[j] = k;
			if (cnt < K)
				++cnt;
		}
	}

	printf("[");
	for (unsigned j = 0; j < cnt; j++)
		printf("%s[%.0f, %.1f]", j ? ", " : "",
		       (double)(i0 + wi[j]) * 1000.0 / at, ws[j]);
	printf("]");
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}


/*
 * Each block of ref[i0 ..) lined up on its own within +-w samples of the
 * global delay d; see the file comment ("blocks").
 */
static void print_blocks(const struct sig *ref, const struct sig *test,
			 size_t i0, size_t n, long d, size_t blk, long w,
			 double good_db, double at)
{
	const double floor_e = pow(10, -45.0 / 10) * 32767.0 * 32767.0;
	size_t nb = blk ? n / blk : 0, cnt = 0, good = 0, shifts = 0;
	double *snr = calloc(nb ? nb : 1, sizeof(*snr));
	long dl[MAX_DELAYS];
	size_t dn[MAX_DELAYS], nd = 0;
	double sc = 0, sa = 0, sb = 0;
	long last = LONG_MIN;

	if (!snr) {
		printf("null");
		return;
	}

	for (size_t b = 0; b < nb; b++) {
		const int16_t *r = ref->x + i0 + b * blk;
		double e = 0, best = -HUGE_VAL, bs = 0, be = 0, bc = 0, bt = 0;
		long bd = d;

		for (size_t i = 0; i < blk; i++)
			e += (double)r[i] * r[i];
		if (e / blk < floor_e)
			continue;

		for (long dd = d - w; dd <= d + w; dd++) {
			long j0 = (long)(i0 + b * blk) + dd;
			double c = 0, tt = 0;

			if (j0 < 0 || (size_t)j0 + blk > test->n)
				continue;
			for (size_t i = 0; i < blk; i++) {
				c += (double)r[i] * test->x[j0 + (long)i];
				tt += (double)test->x[j0 + (long)i] *
					test->x[j0 + (long)i];
			}
			c = tt > 0 ? c / sqrt(tt) : 0;
			if (c > best) {
				best = c;
				bd = dd;
			}
		}

		{
			const int16_t *t = test->x + (long)(i0 + b * blk) + bd;

			if ((long)(i0 + b * blk) + bd < 0 ||
			    (size_t)((long)(i0 + b * blk) + bd) + blk > test->n)
				continue;
			for (size_t i = 0; i < blk; i++) {
				double x = r[i] - (double)t[i];

				be += x * x;
				bc += (double)r[i] * t[i];
				bt += (double)t[i] * t[i];
				bs += (double)r[i] * r[i];
			}
		}

		snr[cnt] = be > 0 ? 10 * log10(bs / be) : 200;
		if (snr[cnt] > good_db)
			++good;
		++cnt;
		sc += bc;
		sa += bs;
		sb += bt;

		if (last != LONG_MIN && bd != last)
			++shifts;
		last = bd;
		{
			size_t k;

			for (k = 0; k < nd && dl[k] != bd; k++)
				;
			if (k < nd) {
				++dn[k];
			}
			else if (nd < MAX_DELAYS) {
				dl[nd] = bd;
				dn[nd++] = 1;
			}
		}
	}

	qsort(snr, cnt, sizeof(*snr), dcmp);

	printf("{\"count\": %zu, \"snr_median\": %.2f, \"snr_p10\": %.2f, "
	       "\"good\": %.3f, \"corr\": %.4f, \"shifts\": %zu, "
	       "\"delays\": [", cnt, cnt ? snr[cnt / 2] : 0.0,
	       cnt ? snr[cnt / 10] : 0.0, cnt ? (double)good / cnt : 0.0,
	       sa > 0 && sb > 0 ? sc / sqrt(sa * sb) : 0.0, shifts);
	for (size_t k = 0; k < nd; k++)
		printf("%s[%.2f, %zu]", k ? ", " : "", dl[k] * 1000.0 / at,
		       dn[k]);
	printf("]}");

	free(snr);
}


static int cmd_gen(int argc, char **argv)
{
	static const struct option lo[] = {
		{"rate", 1, NULL, 'r'}, {"seconds", 1, NULL, 's'},
		{"level", 1, NULL, 'l'}, {"seed", 1, NULL, 'S'},
		{"ulaw", 0, NULL, 'u'}, {NULL, 0, NULL, 0},
	};
	double rate = 0, secs = 0, level = -20, seed = 1;
	bool ulaw = false;
	int16_t *x = NULL;
	uint8_t *b = NULL;
	FILE *f = NULL;
	size_t n;
	int c, err = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {

		case 'r':
			if (!num(optarg, 4000, 192000, &rate) ||
			    !rate_ok(rate))
				goto usage;
			break;
		case 's':
			if (!num(optarg, 0.01, MAX_SECONDS, &secs))
				goto usage;
			break;
		case 'l':
			if (!num(optarg, -90, 0, &level))
				goto usage;
			break;
		case 'S':
			if (!num(optarg, 0, 4294967295.0, &seed) ||
			    seed != floor(seed))
				goto usage;
			break;
		case 'u':
			ulaw = true;
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 1 || !rate || !secs || (ulaw && rate != 8000))
		goto usage;

	n = (size_t)lround(rate * secs);
	x = calloc(n, sizeof(*x));
	b = calloc(n, 2);
	if (!x || !b) {
		err = ENOMEM;
		goto out;
	}

	sigq_speech(x, n, (uint32_t)rate, level, (uint32_t)seed);

	for (size_t i = 0; i < n; i++) {
		if (ulaw) {
			b[i] = ulaw_enc(x[i]);
		}
		else {
			b[2 * i] = (uint8_t)(x[i] & 0xff);
			b[2 * i + 1] = (uint8_t)((uint16_t)x[i] >> 8);
		}
	}

	f = fopen(argv[optind], "wb");
	if (!f || fwrite(b, ulaw ? 1 : 2, n, f) != n)
		err = errno ? errno : EIO;
	if (f && fclose(f) && !err)
		err = EIO;
	if (err)
		fprintf(stderr, "sigcmp: %s: %s\n", argv[optind],
			strerror(err));

 out:
	free(x);
	free(b);
	return err ? 1 : 0;

 usage:
	usage();
	return 2;
}


static int cmd_cmp(int argc, char **argv)
{
	static const struct option lo[] = {
		{"at", 1, NULL, 'a'}, {"ulaw-ref", 0, NULL, 'U'},
		{"ulaw-test", 0, NULL, 'u'}, {"max-delay", 1, NULL, 'd'},
		{"skip", 1, NULL, 's'}, {"len", 1, NULL, 'l'},
		{"band", 1, NULL, 'b'}, {"block", 1, NULL, 'B'},
		{"drift", 1, NULL, 'D'}, {"good", 1, NULL, 'g'},
		{NULL, 0, NULL, 0},
	};
	double at = 0, maxd_ms = 3000, skip_ms = 0, len_ms = 0, band = 0;
	double blk_ms = 100, drift_ms = 100, good_db = 20;
	double rref, rtest;
	bool uref = false, utest = false;
	struct sig ref, test;
	size_t i0, j0, n;
	long maxd, d;
	int c, err;

	memset(&ref, 0, sizeof(ref));
	memset(&test, 0, sizeof(test));

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {

		case 'a':
			if (!num(optarg, 4000, 192000, &at) || !rate_ok(at))
				goto usage;
			break;
		case 'U': uref = true;  break;
		case 'u': utest = true; break;
		case 'd':
			if (!num(optarg, 0, 60000, &maxd_ms))
				goto usage;
			break;
		case 's':
			if (!num(optarg, 0, 1e7, &skip_ms))
				goto usage;
			break;
		case 'l':
			if (!num(optarg, 1, 1e7, &len_ms))
				goto usage;
			break;
		case 'b':
			if (!num(optarg, 100, 96000, &band))
				goto usage;
			break;
		case 'B':
			if (!num(optarg, 5, 10000, &blk_ms))
				goto usage;
			break;
		case 'D':
			if (!num(optarg, 0, 1000, &drift_ms))
				goto usage;
			break;
		case 'g':
			if (!num(optarg, -100, 200, &good_db))
				goto usage;
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 4 || !num(argv[optind + 1], 4000, 192000, &rref)
	    || !num(argv[optind + 3], 4000, 192000, &rtest) ||
	    !rate_ok(rref) || !rate_ok(rtest))
		goto usage;

	err = read_sig(argv[optind], uref, (uint32_t)rref, &ref);
	if (err) {
		fprintf(stderr, "sigcmp: %s: %s\n", argv[optind],
			strerror(err));
		return 1;
	}
	err = read_sig(argv[optind + 2], utest, (uint32_t)rtest, &test);
	if (err) {
		fprintf(stderr, "sigcmp: %s: %s\n", argv[optind + 2],
			strerror(err));
		free(ref.x);
		return 1;
	}

	if (!at)
		at = rref < rtest ? rref : rtest;

	err = resample(&ref, (uint32_t)at);
	if (!err)
		err = resample(&test, (uint32_t)at);
	if (err) {
		fprintf(stderr, "sigcmp: cannot resample: %s\n",
			strerror(err));
		goto fail;
	}

	if (ref.n < at / 50 || test.n < at / 50) {
		fprintf(stderr, "sigcmp: a signal is shorter than 20 ms "
			"(ref %zu, test %zu samples)\n", ref.n, test.n);
		goto fail;
	}

	maxd = lround(maxd_ms * at / 1000);
	err = best_delay(&ref, &test, maxd, &d);
	if (err) {
		fprintf(stderr, "sigcmp: %s\n", strerror(err));
		goto fail;
	}

	/* the compared span: ref[i0..i0+n) against test[j0..j0+n) */
	i0 = (size_t)lround(skip_ms * at / 1000);
	if (d < 0 && i0 < (size_t)(-d))
		i0 = (size_t)(-d);
	j0 = (size_t)((long)i0 + d);
	if (i0 >= ref.n || j0 >= test.n) {
		fprintf(stderr, "sigcmp: nothing overlaps (delay %ld "
			"samples)\n", d);
		goto fail;
	}
	n = ref.n - i0 < test.n - j0 ? ref.n - i0 : test.n - j0;
	if (len_ms && (size_t)lround(len_ms * at / 1000) < n)
		n = (size_t)lround(len_ms * at / 1000);

	{
		const int16_t *r = ref.x + i0, *t = test.x + j0;
		double rr = sigq_rms_db(r, n), tr = sigq_rms_db(t, n);

		printf("{\"rate\": %.0f, \"delay_ms\": %.3f, "
		       "\"delay_samples\": %ld, \"n\": %zu, "
		       "\"snr_db\": %.2f, \"segsnr_db\": %.2f, "
		       "\"corr\": %.4f, \"lsd_db\": %.2f, "
		       "\"gain_db\": %.2f, \"ref_rms_db\": %.2f, "
		       "\"test_rms_db\": %.2f, \"worst\": ",
		       at, d * 1000.0 / at, d, n, sigq_snr(r, t, n, 0),
		       sigq_segsnr(r, t, n, 0, (size_t)(at / 50)),
		       sigq_corr(r, t, n, 0),
		       sigq_lsd(r, t, n, 0, (uint32_t)at,
				band ? band : at / 2),
		       tr - rr, rr, tr);
		print_worst(r, t, n, i0, at);
		printf(", \"blocks\": ");
		print_blocks(&ref, &test, i0, n, d,
			     (size_t)lround(blk_ms * at / 1000),
			     lround(drift_ms * at / 1000), good_db, at);
		printf("}\n");
	}

	free(ref.x);
	free(test.x);
	return 0;

 fail:
	free(ref.x);
	free(test.x);
	return 1;

 usage:
	usage();
	return 2;
}


int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "gen"))
		return cmd_gen(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "cmp"))
		return cmd_cmp(argc - 1, argv + 1);

	usage();

	return 2;
}
