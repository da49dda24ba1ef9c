/**
 * @file codec_tradeoff.c  CPU against quality: Opus complexity, SpeexDSP
 *                         resampler quality
 *
 * Usage:
 *   codec_tradeoff [--seconds S] [--repeat N] [--opus-only|--resamp-only]
 *
 * Measures what the gateway's settings opus_complexity, opus_bitrate and
 * resample_quality buy, through the gateway's own wrappers (codec/opusc,
 * codec/resamp), on the speech-like signal of tests/tools/sigq (-20 dBFS,
 * S seconds, default 10):
 *
 * Opus, complexity 0..10 at 24 and 32 kbit/s, 20 ms frames, mono, VBR,
 * at 8 kHz (the encoder's rate for a default mulaw/8000 agent), 16 kHz
 * (a wideband agent) and 48 kHz (the RTP clock, the most work): CPU per 20 ms frame to encode and to decode [us], the bitrate
 * actually produced, and three objective proxies of quality after
 * decoding: segmental SNR [dB] (20 ms segments, clamped -10..35), the
 * correlation with the source, and the log-spectral distance [dB] (lower
 * is better).
 *
 * SpeexDSP quality 0..10 for 8 <-> 16, 8 <-> 24 and 16 <-> 48 kHz: CPU
 * per 20 ms block each way [us], the SNR of the round trip from the low
 * rate [dB], the worst alias that comes through going down (tones above
 * the low rate's Nyquist frequency) [dB], and the gain at 0.85 of the
 * low rate's Nyquist frequency (3.4 kHz for 8 kHz) going up [dB]. For
 * scale, the table ends with the SNR of G.711 mu-law alone on the same
 * 8 kHz signal: a resampler error well below it is lost in the codec's.
 *
 * CPU is thread CPU time (CLOCK_THREAD_CPUTIME_ID), the least of
 * --repeat runs (default 3), on this machine: compare rows, not
 * machines. This is a measurement, not a test: it fails (exit 1) only if
 * a codec plainly does not work (correlation below 0.5).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include "g711.h"
#include "opusc.h"
#include "resamp.h"
#include "sigq.h"

static double seconds = 10;
static unsigned repeat = 3;
static bool broken;


static double cpu_now(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);

	return ts.tv_sec + ts.tv_nsec / 1e9;
}


/*
 * Opus
 */

struct opus_row {
	double enc_us, dec_us, kbps, seg, corr, lsd;
};


static int opus_measure(uint32_t rate, uint32_t bitrate,
			uint32_t complexity, const int16_t *src,
			int16_t *out, size_t n, uint8_t *pkts, int *lens,
			struct opus_row *row)
{
	const size_t frame = rate / 50, frames = n / frame;
	const size_t max_pkt = 1500;
	double best_enc = 1e30, best_dec = 1e30;
	size_t bytes = 0, d;
	int err = 0;

	for (unsigned r = 0; r < repeat; r++) {
		struct opusc_enc_conf ec;
		struct opusc_enc *enc = NULL;
		struct opusc_dec *dec = NULL;
		double t;

		memset(&ec, 0, sizeof(ec));
		ec.rate = rate;
		ec.complexity = complexity;
		ec.bitrate = bitrate;

		err = opusc_enc_alloc(&enc, &ec);
		err |= opusc_dec_alloc(&dec, rate);
		if (err) {
			mem_deref(enc);
			mem_deref(dec);
			return err ? err : EINVAL;
		}

		bytes = 0;
		t = cpu_now();
		for (size_t f = 0; f < frames; f++) {
			lens[f] = opusc_encode(enc, src + f * frame,
					       (int)frame, pkts + f * max_pkt,
					       max_pkt);
			if (lens[f] < 0)
				err = EPROTO;
			else
				bytes += (size_t)lens[f];
		}
		t = cpu_now() - t;
		if (t < best_enc)
			best_enc = t;

		t = cpu_now();
		for (size_t f = 0; f < frames && !err; f++) {
			if (opusc_decode(dec, pkts + f * max_pkt,
					 (size_t)lens[f], out + f * frame,
					 (int)frame) != (int)frame)
				err = EPROTO;
		}
		t = cpu_now() - t;
		if (t < best_dec)
			best_dec = t;

		mem_deref(enc);
		mem_deref(dec);
		if (err)
			return err;
	}

	d = sigq_delay(src, out, frames * frame, frame);
	row->enc_us = best_enc / frames * 1e6;
	row->dec_us = best_dec / frames * 1e6;
	row->kbps = bytes * 8.0 / (frames * 20.0);
	row->seg = sigq_segsnr(src, out, frames * frame, d, frame);
	row->corr = sigq_corr(src, out, frames * frame, d);
	row->lsd = sigq_lsd(src, out, frames * frame, d, rate,
			    rate >= 16000 ? 7000 : 0.45 * rate);

	return 0;
}


static int opus_table(void)
{
	static const uint32_t rates[] = {8000, 16000, 48000};
	static const uint32_t bitrates[] = {24000, 32000};
	int err = 0;

	printf("Opus: 20 ms frames, mono, VBR, speech-like input, %.0f s\n",
	       seconds);
	printf("| rate  | kbit/s set | cx | enc us/frame | dec us/frame | "
	       "kbit/s out | segSNR dB | corr  | LSD dB |\n");
	printf("|-------|------------|----|--------------|--------------|"
	       "------------|-----------|-------|--------|\n");

	for (size_t ri = 0; ri < ARRAY_SIZE(rates); ri++) {
		const uint32_t rate = rates[ri];
		const size_t n = (size_t)(seconds * 50) * (rate / 50);
		int16_t *src = calloc(n, sizeof(*src));
		int16_t *out = calloc(n, sizeof(*out));
		uint8_t *pkts = calloc(n / (rate / 50), 1500);
		int *lens = calloc(n / (rate / 50), sizeof(*lens));

		if (!src || !out || !pkts || !lens) {
			err = ENOMEM;
			goto next;
		}

		sigq_speech(src, n, rate, -20, 1);

		for (size_t bi = 0; bi < ARRAY_SIZE(bitrates); bi++) {
			for (uint32_t cx = 0; cx <= 10; cx++) {
				struct opus_row row;

				err = opus_measure(rate, bitrates[bi], cx, src,
						   out, n, pkts, lens, &row);
				if (err)
					goto next;

				printf("| %5u | %10u | %2u | %12.1f | %12.1f "
				       "| %10.1f | %9.1f | %.3f | %6.2f |\n",
				       rate, bitrates[bi] / 1000, cx,
				       row.enc_us, row.dec_us, row.kbps,
				       row.seg, row.corr, row.lsd);
				if (row.corr < 0.5)
					broken = true;
			}
		}

	next:
		free(src);
		free(out);
		free(pkts);
		free(lens);
		if (err)
			break;
	}

	printf("\n");

	return err;
}


/*
 * SpeexDSP
 */

static double tone_level(uint32_t q, uint32_t from, uint32_t to, double f)
{
	const size_t n = from, blk = from / 50;
	int16_t *in = calloc(n, sizeof(*in));
	int16_t *out = calloc(to, sizeof(*out));
	struct resamp *r = NULL;
	double lvl = 0;
	size_t o = 0;

	if (!in || !out || resamp_alloc(&r, from, to, q))
		goto out;

	sigq_tones(in, n, from, &f, 1, -6);
	for (size_t i = 0; i + blk <= n; i += blk) {
		int k = resamp_process(r, in + i, (uint32_t)blk, out + o,
				       to / 50);
		if (k < 0)
			goto out;
		o += (size_t)k;
	}

	/* the middle 3/5, clear of start-up; -120 dB for all zeros */
	lvl = sigq_rms_db(out + o / 5, o * 3 / 5) - sigq_rms_db(in, n);
	if (lvl < -120)
		lvl = -120;

 out:
	mem_deref(r);
	free(in);
	free(out);

	return lvl;
}


/* CPU per 20 ms block [us] converting src (n samples at from) */
static double resamp_cpu(uint32_t q, uint32_t from, uint32_t to,
			 const int16_t *src, size_t n, int16_t *out,
			 size_t *outn)
{
	const size_t bin = from / 50, bout = to / 50;
	double best = 1e30;

	for (unsigned r = 0; r < repeat; r++) {
		struct resamp *rs = NULL;
		size_t o = 0;
		double t;

		if (resamp_alloc(&rs, from, to, q))
			return -1;

		t = cpu_now();
		for (size_t i = 0; i + bin <= n; i += bin) {
			int k = resamp_process(rs, src + i, (uint32_t)bin,
					       out + o, (uint32_t)bout);
			if (k < 0) {
				mem_deref(rs);
				return -1;
			}
			o += (size_t)k;
		}
		t = cpu_now() - t;
		if (t < best)
			best = t;
		*outn = o;
		mem_deref(rs);
	}

	return best / (double)(n / bin) * 1e6;
}


static int resamp_table(void)
{
	static const struct {
		uint32_t lo, hi;
	} pairs[] = {{8000, 16000}, {8000, 24000}, {16000, 48000}};
	int err = 0;

	printf("SpeexDSP resampler: 20 ms blocks, speech-like input, "
	       "%.0f s\n", seconds);
	printf("| conversion    | q  | up us/block | down us/block | "
	       "round trip SNR dB | worst alias dB | edge gain dB |\n");
	printf("|---------------|----|-------------|---------------|"
	       "-------------------|----------------|--------------|\n");

	for (size_t p = 0; p < ARRAY_SIZE(pairs); p++) {
		const uint32_t lo = pairs[p].lo, hi = pairs[p].hi;
		const size_t nlo = (size_t)(seconds * lo);
		const size_t nhi = (size_t)(seconds * hi);
		int16_t *src = calloc(nlo, sizeof(*src));
		int16_t *up = calloc(nhi + 64, sizeof(*up));
		int16_t *back = calloc(nlo + 64, sizeof(*back));

		if (!src || !up || !back) {
			err = ENOMEM;
			goto next;
		}

		sigq_speech(src, nlo, lo, -20, 2);

		for (uint32_t q = 0; q <= 10; q++) {
			static const double over[] = {1.1, 1.25, 1.5, 2.5};
			double up_us, down_us, snr, worst = -200, edge;
			size_t n1 = 0, n2 = 0, d;

			up_us = resamp_cpu(q, lo, hi, src, nlo, up, &n1);
			down_us = resamp_cpu(q, hi, lo, up, n1, back, &n2);
			if (up_us < 0 || down_us < 0) {
				err = EINVAL;
				goto next;
			}

			d = sigq_delay(src, back, n2, lo / 20);
			snr = sigq_snr(src, back, n2, d);
			if (sigq_corr(src, back, n2, d) < 0.5)
				broken = true;

			/* tones between the low Nyquist and the high one */
			for (size_t k = 0; k < ARRAY_SIZE(over); k++) {
				double f = lo / 2.0 * over[k], l;

				if (f >= hi / 2.0 * 0.95)
					continue;
				l = tone_level(q, hi, lo, f);
				if (l > worst)
					worst = l;
			}
			edge = tone_level(q, lo, hi, lo / 2.0 * 0.85);

			printf("| %5u<->%-5u | %2u | %11.2f | %13.2f | "
			       "%17.1f | %14.1f | %12.2f |\n", lo, hi, q,
			       up_us, down_us, snr, worst, edge);
		}

	next:
		free(src);
		free(up);
		free(back);
		if (err)
			break;
	}

	if (!err) {
		/* the reference: G.711 mu-law on the 8 kHz signal */
		const size_t n = (size_t)(seconds * 8000);
		int16_t *src = calloc(n, sizeof(*src));
		int16_t *dec = calloc(n, sizeof(*dec));
		uint8_t *law = calloc(n, 1);

		if (src && dec && law) {
			sigq_speech(src, n, 8000, -20, 2);
			g711_ulaw_encode(law, src, n);
			g711_ulaw_decode(dec, law, n);
			printf("\nFor scale: G.711 mu-law alone on the 8 kHz "
			       "signal: SNR %.1f dB, segmental SNR %.1f dB\n",
			       sigq_snr(src, dec, n, 0),
			       sigq_segsnr(src, dec, n, 0, 160));
		}
		else {
			err = ENOMEM;
		}
		free(src);
		free(dec);
		free(law);
	}

	printf("\n");

	return err;
}


int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"seconds", 1, NULL, 's'}, {"repeat", 1, NULL, 'r'},
		{"opus-only", 0, NULL, 'o'}, {"resamp-only", 0, NULL, 'x'},
		{"help", 0, NULL, 'h'}, {NULL, 0, NULL, 0},
	};
	bool do_opus = true, do_resamp = true;
	int c, err = 0;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		char *end;

		switch (c) {

		case 's':
			seconds = strtod(optarg, &end);
			if (*end || !(seconds >= 0.2 && seconds <= 600)) {
				fprintf(stderr, "codec_tradeoff: --seconds "
					"0.2..600\n");
				return 2;
			}
			break;

		case 'r':
			repeat = (unsigned)strtoul(optarg, &end, 10);
			if (*end || repeat < 1 || repeat > 100) {
				fprintf(stderr, "codec_tradeoff: --repeat "
					"1..100\n");
				return 2;
			}
			break;

		case 'o': do_resamp = false; break;
		case 'x': do_opus = false;   break;

		default:
			fprintf(stderr, "usage: codec_tradeoff [--seconds S] "
				"[--repeat N] [--opus-only|--resamp-only]\n");
			return c == 'h' ? 0 : 2;
		}
	}

	if (do_opus)
		err = opus_table();
	if (!err && do_resamp)
		err = resamp_table();

	if (err) {
		fprintf(stderr, "codec_tradeoff: %s\n", strerror(err));
		return 1;
	}
	if (broken) {
		fprintf(stderr, "codec_tradeoff: a codec does not work "
			"(correlation < 0.5)\n");
		return 1;
	}

	return 0;
}
