/**
 * @file test_benchlib.c  The harness's own measuring parts
 *
 * The load harness is only as good as its clocks and markers, so these
 * tests pin them down: histogram percentiles, byte stamps (and that they
 * survive what a µ-law gateway may do to bytes), and the onset markers:
 * exact to the sample through G.711, within a stated bound through Opus
 * (the bound the README quotes), never triggered by the speech itself.
 *
 * Usage: test_benchlib SPEECH.wav   (bench/speechgen.py output)
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <unistd.h>
#include <opus/opus.h>
#include <re.h>
#include "test.h"
#include "bhist.h"
#include "bonset.h"
#include "bstamp.h"
#include "g711.h"

static const char *speech_path;


static void test_hist(void)
{
	static const struct {
		int64_t lo, hi, step;   /* values lo, lo+step, ... < hi */
		double pct;
		int64_t want;           /* percentile [us] */
	} t[] = {
		/* 1 us buckets below 1 ms: exact */
		{   1,   1001,    1,  50.0,   500 },
		{   1,   1001,    1,  99.0,   990 },
		{   1,   1001,    1,  99.9,   999 },
		/* 10 us buckets: the top of the bucket */
		{ 1000, 11000,  10,  50.0,  5999 },
		{ 1000, 11000,  10,  99.0, 10899 },
		/* 100 us buckets */
		{ 10000, 110000, 100, 50.0, 59999 },
		/* one value: every percentile is that value */
		{ 1500,  1501,    1,  50.0,  1500 },
		{ 1500,  1501,    1,  99.9,  1500 },
	};
	struct bhist *h = mem_zalloc(2 * sizeof(*h), NULL);
	char buf[256];

	TEST_ASSERT(h != NULL);

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		bhist_reset(h);
		for (int64_t v = t[i].lo; v < t[i].hi; v += t[i].step)
			bhist_add(h, v);
		if (bhist_pct(h, t[i].pct) != t[i].want)
			TEST_FAIL("case %zu: p%.1f = %lld, want %lld", i,
				  t[i].pct, (long long)bhist_pct(h, t[i].pct),
				  (long long)t[i].want);
	}

	/* empty, negative, overflow, merge */
	bhist_reset(h);
	TEST_EQ(bhist_pct(h, 50), -1);
	TEST_ASSERT(bhist_json(buf, sizeof(buf), h) > 0);
	TEST_STREQ(buf, "{\"n\":0}");

	bhist_add(h, -5);
	bhist_add(h, 20000000);   /* 20 s: overflow bucket */
	TEST_EQ(h->neg, 1);
	TEST_EQ(h->min, -5);
	TEST_EQ(bhist_pct(h, 100), 20000000);
	TEST_EQ(bhist_pct(h, 50), 0);      /* negatives count as 0 */

	bhist_reset(&h[1]);
	for (int i = 0; i < 98; i++)
		bhist_add(&h[1], 100);
	bhist_merge(&h[1], h);
	TEST_EQ(h[1].n, 100);
	TEST_EQ(bhist_pct(&h[1], 50), 100);
	TEST_EQ(bhist_pct(&h[1], 99), 100);
	TEST_EQ(bhist_pct(&h[1], 100), 20000000);
	TEST_ASSERT(bhist_json(buf, sizeof(buf), &h[1]) > 0);
	TEST_ASSERT(strstr(buf, "\"p50\":100,") != NULL);
	TEST_EQ(bhist_json(buf, 10, &h[1]), -1);   /* does not fit */

	mem_deref(h);
}


static void test_stamp(void)
{
	uint8_t f[160], g[160];
	struct bstamp s;

	memset(f, 0xff, sizeof(f));
	TEST_ERR(bstamp_read(&s, f, sizeof(f)), ENOENT);
	TEST_ERR(bstamp_write(f, BSTAMP_LEN - 1, 1, 2, 3), EINVAL);
	TEST_ERR(bstamp_write_echo(f, sizeof(f), 9, 1), ENOENT);

	TEST_ERR(bstamp_write(f, sizeof(f), 0x123456, 0xdeadbeef,
			      0xfffffff0), 0);
	TEST_ERR(bstamp_read(&s, f, sizeof(f)), 0);
	TEST_EQ(s.call, 0x123456);
	TEST_EQ(s.seq, 0xdeadbeef);
	TEST_EQ(s.t0, 0xfffffff0);
	TEST_ASSERT(!s.has_t2);
	for (size_t i = BSTAMP_LEN; i < sizeof(f); i++)
		TEST_EQ(f[i], 0xff);

	/* the echo time, and the wrap of the 32-bit clock */
	TEST_ERR(bstamp_write_echo(f, sizeof(f), 0x10, 0xbeef), 0);
	TEST_ERR(bstamp_read(&s, f, sizeof(f)), 0);
	TEST_ASSERT(s.has_t2);
	TEST_EQ(s.t2, 0x10);
	TEST_EQ(s.eseq, 0xbeef);
	TEST_EQ(bstamp_diff(s.t2, s.t0), 0x20);
	TEST_EQ(bstamp_diff(s.t0, s.t2), -0x20);

	/* no stamp byte is µ-law -0 or silence; all survive µ -> lin -> µ
	   (what an l16 agent path does to them) */
	for (size_t i = 0; i < BSTAMP_LEN; i++) {
		TEST_ASSERT(f[i] != 0x7f && f[i] != 0xff);
		g[i] = g711_lin2ulaw(g711_ulaw2lin(f[i]));
	}
	memcpy(g + BSTAMP_LEN, f + BSTAMP_LEN, sizeof(f) - BSTAMP_LEN);
	TEST_ERR(bstamp_read(&s, g, sizeof(g)), 0);
	TEST_EQ(s.seq, 0xdeadbeef);
	TEST_EQ(s.t2, 0x10);

	/* any single corrupted bit in the header is caught */
	for (size_t i = 4; i < 28; i++) {
		for (int b = 0; b < 4; b++) {
			memcpy(g, f, sizeof(f));
			g[i] ^= (uint8_t)(1u << b);
			TEST_ERR(bstamp_read(&s, g, sizeof(g)), EBADMSG);
		}
	}
	/* a corrupted echo part only loses the echo time */
	memcpy(g, f, sizeof(f));
	g[30] ^= 1;
	TEST_ERR(bstamp_read(&s, g, sizeof(g)), 0);
	TEST_ASSERT(!s.has_t2);

	/* too short to hold a stamp */
	TEST_ERR(bstamp_read(&s, f, BSTAMP_LEN - 1), ENOENT);
}


/* a 1 s loop of speech-like noise without pauses, for tests that do not
   need the file */
static struct baudio *noise(uint32_t rate)
{
	struct baudio *a;
	uint32_t x = 1;
	char path[] = "/tmp/test_benchlib_XXXXXX";
	uint8_t hdr[44] = "RIFF____WAVEfmt ";
	FILE *f;
	int fd;

	fd = mkstemp(path);
	TEST_ASSERT(fd >= 0);
	f = fdopen(fd, "wb");
	TEST_ASSERT(f != NULL);

	/* fmt chunk: PCM, mono, rate, 16 bit */
	hdr[16] = 16; hdr[17] = hdr[18] = hdr[19] = 0;
	hdr[20] = 1; hdr[21] = 0; hdr[22] = 1; hdr[23] = 0;
	for (int i = 0; i < 4; i++) {
		hdr[24 + i] = (uint8_t)(rate >> (8 * i));
		hdr[28 + i] = (uint8_t)((rate * 2) >> (8 * i));
		hdr[40 + i] = (uint8_t)((rate * 2) >> (8 * i));
	}
	hdr[32] = 2; hdr[33] = 0; hdr[34] = 16; hdr[35] = 0;
	memcpy(hdr + 36, "data", 4);
	fwrite(hdr, 1, sizeof(hdr), f);
	for (uint32_t i = 0; i < rate; i++) {
		int16_t v;
		x ^= x << 13; x ^= x >> 17; x ^= x << 5;
		v = (int16_t)((int32_t)(x % 8001) - 4000);
		if (v > -600 && v < 600)
			v = (int16_t)(v < 0 ? v - 600 : v + 600);
		fputc(v & 0xff, f);
		fputc((v >> 8) & 0xff, f);
	}
	fclose(f);

	TEST_ERR(baudio_load(&a, path, rate), 0);
	unlink(path);

	return a;
}


static void test_audio_files(void)
{
	struct baudio *a = NULL;
	char path[] = "/tmp/test_benchlib_XXXXXX";
	size_t at;
	int fd;

	/* not there, not a WAV file */
	TEST_ERR(baudio_load(&a, "/nonexistent/x.wav", 8000), ENOENT);
	fd = mkstemp(path);
	TEST_ASSERT(fd >= 0);
	TEST_ASSERT(write(fd, "RIFF\x04\0\0\0WAVEjunkjunkjunk", 24) == 24);
	close(fd);
	TEST_ERR(baudio_load(&a, path, 8000), EBADMSG);
	unlink(path);
	TEST_ASSERT(a == NULL);

	/* the harness's speech: fit for markers at every rate */
	TEST_ERR(baudio_load(&a, speech_path, 8000), 0);
	TEST_EQ(a->rate, 8000);
	TEST_ASSERT(a->n >= 8000);
	TEST_ERR(baudio_check(a, &at), 0);

	/* a 40 ms pause is caught, and where it is */
	for (size_t i = 4000; i < 4320; i++)
		a->pcm[i] = 0;
	TEST_ERR(baudio_check(a, &at), EDOM);
	TEST_EQ(at, 4000);
	mem_deref(a);

	for (uint32_t r = 16000; r <= 48000; r *= 3) {
		TEST_ERR(baudio_load(&a, speech_path, r), 0);
		TEST_EQ(a->rate, r);
		TEST_ERR(baudio_check(a, &at), 0);
		mem_deref(a);
	}
}


/*
 * Send the tape through a codec chain in 20 ms frames, as the generator
 * does (frame k covers [t0 + 20k, t0 + 20k + 20) ms and "arrives" at its
 * end plus `delay`), detect onsets, and return the latencies found.
 */
enum chain { CH_PCM, CH_ULAW, CH_ALAW, CH_OPUS };

static size_t run_chain(enum chain ch, const struct bgrid *g,
			const struct baudio *sp, uint64_t t0, unsigned frames,
			int64_t delay_us, int64_t *lat, size_t maxlat)
{
	const uint32_t rate = sp->rate;
	const size_t n = rate / 50;
	OpusEncoder *enc = NULL;
	OpusDecoder *dec = NULL;
	struct bonset_det det;
	opus_int32 la = 0;
	size_t found = 0;
	int oerr;

	bonset_det_init(&det, 8000);

	if (ch == CH_OPUS) {
		enc = opus_encoder_create((opus_int32)rate, 1,
					  OPUS_APPLICATION_VOIP, &oerr);
		dec = opus_decoder_create(8000, 1, &oerr);
		TEST_ASSERT(enc && dec);
		(void)opus_encoder_ctl(enc, OPUS_SET_BITRATE(32000));
		(void)opus_encoder_ctl(enc, OPUS_SET_COMPLEXITY(5));
		(void)opus_encoder_ctl(enc, OPUS_GET_LOOKAHEAD(&la));
	}

	for (unsigned k = 0; k < frames; k++) {
		int16_t pcm[960], out[960];
		uint8_t buf[512];
		uint64_t t = t0 + (uint64_t)k * 20000, t_on;
		size_t m = 160;

		/* the generator renders ahead by the encoder's lookahead */
		bonset_render(g, sp, t + (uint64_t)la * 1000000 / rate, pcm,
			      n);

		switch (ch) {
		case CH_PCM:
			memcpy(out, pcm, 160 * sizeof(int16_t));
			break;
		case CH_ULAW:
			g711_ulaw_encode(buf, pcm, 160);
			g711_ulaw_decode(out, buf, 160);
			break;
		case CH_ALAW:
			g711_alaw_encode(buf, pcm, 160);
			g711_alaw_decode(out, buf, 160);
			break;
		case CH_OPUS: {
			int len = opus_encode(enc, pcm, (int)n, buf,
					      sizeof(buf));
			TEST_ASSERT(len > 0);
			TEST_EQ(opus_decode(dec, buf, len, out, 960, 0), 160);
			break;
		}
		}

		if (bonset_det_feed(&det, out, m, t + 20000 + delay_us,
				    &t_on) && found < maxlat)
			lat[found++] = bonset_latency(g, t_on);
	}

	if (enc)
		opus_encoder_destroy(enc);
	if (dec)
		opus_decoder_destroy(dec);

	return found;
}


static void test_onset(void)
{
	/* an arbitrary grid phase and a start that is not on the grid */
	const struct bgrid g = { 500000, 123000 };
	const uint64_t t0 = 7777000000ull + 13000;
	static const struct {
		enum chain ch;
		int64_t delay_us;
		int64_t tol_us;        /* |measured - delay| at most */
		const char *name;
	} t[] = {
		{ CH_PCM,      0,    0, "linear, no delay"           },
		{ CH_PCM,    375,    0, "linear, 375 us"             },
		{ CH_ULAW,  1000,    0, "mu-law, 1 ms"               },
		{ CH_ALAW,  8250,    0, "A-law, 8.25 ms"             },
		{ CH_PCM, 200000,    0, "linear, 200 ms"             },
		/* Opus: the bound bench/README.md quotes */
		{ CH_OPUS,  5000, 1000, "Opus 32 kbit/s, 5 ms"       },
	};
	struct baudio *sp8, *sp48;
	int64_t lat[64];

	TEST_ERR(baudio_load(&sp8, speech_path, 8000), 0);
	TEST_ERR(baudio_load(&sp48, speech_path, 48000), 0);

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const struct baudio *sp = t[i].ch == CH_OPUS ? sp48 : sp8;
		int64_t worst = 0;
		size_t n;

		/* 10 s: 20 markers */
		n = run_chain(t[i].ch, &g, sp, t0, 500, t[i].delay_us, lat,
			      64);
		if (n != 20)
			TEST_FAIL("%s: %zu markers found, want 20", t[i].name,
				  n);
		for (size_t k = 0; k < n; k++) {
			int64_t e = lat[k] - t[i].delay_us;
			if (llabs(e) > llabs(worst))
				worst = e;
		}
		printf("onset %-28s worst error %+lld us\n", t[i].name,
		       (long long)worst);
		if (llabs(worst) > t[i].tol_us)
			TEST_FAIL("%s: error %lld us > %lld us", t[i].name,
				  (long long)worst, (long long)t[i].tol_us);
	}

	/* a delay past half a period is read as early: documented limit */
	TEST_EQ(run_chain(CH_PCM, &g, sp8, t0, 100, 300000, lat, 64), 4);
	TEST_EQ(lat[0], -200000);

	/* pure speech never reads as a marker: a grid far away */
	{
		const struct bgrid none = { 3600000000ull, 1800000000ull };
		TEST_EQ(run_chain(CH_ULAW, &none, sp8, t0, 1000, 0, lat, 64),
			0);
		TEST_EQ(run_chain(CH_OPUS, &none, sp48, t0, 500, 0, lat, 64),
			0);
	}

	mem_deref(sp8);
	mem_deref(sp48);
}


static void test_render(void)
{
	const struct bgrid g = { 1000000, 0 };
	struct baudio *sp = noise(8000);
	int16_t pcm[8000];
	struct bonset_det det;

	/* second 5 of the grid: guard [0.9, 1.0) s of silence, tone from 1 s
	   at full phase, speech again after 40 ms */
	bonset_render(&g, sp, 5000000000ull + 500000, pcm, 8000);
	for (int i = 0; i < 3200; i++)          /* 0.5 .. 0.9 s: speech */
		TEST_ASSERT(pcm[i] != 0);
	for (int i = 3200; i < 4000; i++)       /* 0.9 .. 1.0 s: guard */
		TEST_EQ(pcm[i], 0);
	TEST_EQ(pcm[4000], BONSET_TONE_AMP);    /* onset at full phase */
	TEST_EQ(pcm[4002], 0);                  /* cos(pi/2) */
	TEST_EQ(pcm[4004], -BONSET_TONE_AMP);
	TEST_ASSERT(pcm[4320] != 0);            /* speech after 40 ms */

	/* the fast (speech only) path equals the slow path */
	{
		int16_t a[160], b[160];
		bonset_render(&g, sp, 5000000000ull + 300000, a, 160);
		memcpy(b, sp->pcm + 2400, sizeof(b));
		TEST_ASSERT(!memcmp(a, b, sizeof(a)));
	}

	/* detection: exact sample, not before the quiet is long enough, and
	   only once the tone is confirmed (10 ms later: the next chunk) */
	{
		uint64_t t_on = 0;

		bonset_det_init(&det, 8000);
		TEST_ASSERT(!bonset_det_feed(&det, pcm, 3200, 1000000,
					     &t_on));
		/* onset at 800 of 804: arrives 4 samples before the chunk's
		   end; confirmed in the next chunk */
		TEST_ASSERT(!bonset_det_feed(&det, pcm + 3200, 804, 2000000,
					     &t_on));
		TEST_ASSERT(bonset_det_feed(&det, pcm + 4004, 160, 2020000,
					    &t_on));
		TEST_EQ(t_on, 2000000 - 4 * 125);
		TEST_EQ(det.rejected, 0);

		bonset_det_init(&det, 8000);
		TEST_ASSERT(!bonset_det_feed(&det, pcm + 3600, 600, 1000000,
					     &t_on));                /* 50 ms */
	}

	/* speech after a pause is no marker: silence, then the noise */
	{
		int16_t seq[1600];
		uint64_t t_on;

		for (int i = 0; i < 800; i++)
			seq[i] = 0;
		for (int i = 0; i < 800; i++)      /* loud: a candidate */
			seq[800 + i] = (int16_t)(sp->pcm[i] * 4);
		bonset_det_init(&det, 8000);
		TEST_ASSERT(!bonset_det_feed(&det, seq, 1600, 1000000, &t_on));
		TEST_EQ(det.rejected, 1);
	}

	/* latency: the nearest grid point, either side */
	TEST_EQ(bonset_latency(&g, 7000000 + 1234), 1234);
	TEST_EQ(bonset_latency(&g, 7000000 - 1234), -1234);
	TEST_EQ(bonset_latency(&g, 7500000), 500000);
	TEST_EQ(bonset_latency(&g, 7500001), -499999);

	mem_deref(sp);
}


int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: test_benchlib SPEECH.wav\n");
		return 2;
	}
	speech_path = argv[1];

	test_hist();
	test_stamp();
	test_audio_files();
	test_render();
	test_onset();

	printf("test_benchlib: ok\n");

	return 0;
}
