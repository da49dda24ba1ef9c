/**
 * @file test_opusc.c  Opus for RTP: fmtp, round trip, FEC, PLC, DTX
 *
 * - fmtp: a table of RFC 7587 parameter lists, defaults and junk.
 * - Round trip: a speech-like signal and a multi-tone signal encoded and
 *   decoded at 8, 12, 16, 24 and 48 kHz in 20 ms frames. Opus is a
 *   perceptual codec, so the decoded waveform is compared with the
 *   source after the codec's delay (found by cross-correlation, and
 *   checked against libopus's look-ahead) with a correlation and a
 *   segmental SNR floor. Each floor sits well below what Opus gives
 *   (the figures are printed) and far above what broken decoding gives:
 *   silence, noise, a wrong rate, a frame lost or repeated all score
 *   near zero correlation or a negative segmental SNR.
 * - In-band FEC: with FEC on and 10 % expected loss, a lost frame
 *   recovered from the next packet is closer to the source than the
 *   decoder's PLC makes it, over many lost frames.
 * - DTX: silence gives packets of at most 2 bytes once DTX settles, and
 *   not without DTX.
 * - Encoder settings that must take: CBR, maximum bandwidth, bad values.
 * - Corrupt packets: an error, never a crash, and the decoder goes on.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <opus/opus.h>
#include <re.h>
#include "test.h"
#include "opusc.h"
#include "sigq.h"

enum {
	MAX_RATE = 48000,
	SECONDS = 3,
	MAX_N = MAX_RATE * SECONDS,
	MAX_PKT = 1500,
};


/*
 * fmtp
 */

struct fcase {
	const char *fmtp;
	struct opusc_fmtp f;
};

/* maxplaybackrate, sprop-maxcapturerate, maxaveragebitrate, ptime,
   minptime, stereo, sprop-stereo, useinbandfec, usedtx, cbr */
#define DEF 48000, 48000, 0, 0, 0, false, false, false, false, false

static const struct fcase fcases[] = {
	{NULL, {DEF}},
	{"", {DEF}},
	{";;; ;", {DEF}},
	{"minptime=10;useinbandfec=1",            /* what browsers send */
	 {48000, 48000, 0, 0, 10, false, false, true, false, false}},
	{"maxplaybackrate=16000;sprop-maxcapturerate=16000;stereo=1;"
	 "sprop-stereo=1;useinbandfec=1;usedtx=1;cbr=1;maxaveragebitrate="
	 "20000;ptime=40;minptime=20",
	 {16000, 16000, 20000, 40, 20, true, true, true, true, true}},
	{"maxplaybackrate=8000; stereo=0; useinbandfec=0",
	 {8000, 48000, 0, 0, 0, false, false, false, false, false}},
	{"stereo=1", {48000, 48000, 0, 0, 0, true, false, false, false, false}},
	{"sprop-stereo=1",
	 {48000, 48000, 0, 0, 0, false, true, false, false, false}},
	{"MaxPlaybackRate=12000;USEINBANDFEC=1",  /* names are caseless */
	 {12000, 48000, 0, 0, 0, false, false, true, false, false}},
	{"maxplaybackrate=24000;maxplaybackrate=8000",  /* first counts */
	 {24000, 48000, 0, 0, 0, false, false, false, false, false}},
	{"\tusedtx=1\t;cbr=1",
	 {48000, 48000, 0, 0, 0, false, false, false, true, true}},

	/* out of range: clamped */
	{"maxplaybackrate=96000;sprop-maxcapturerate=4000",
	 {48000, 8000, 0, 0, 0, false, false, false, false, false}},
	{"maxaveragebitrate=1000;ptime=500;minptime=1",
	 {48000, 48000, 6000, 120, 3, false, false, false, false, false}},
	{"maxaveragebitrate=999999",
	 {48000, 48000, 510000, 0, 0, false, false, false, false, false}},

	/* junk: ignored, the default stays */
	{"maxplaybackrate=abc;stereo=yes;useinbandfec=true",
	 {DEF}},
	{"maxplaybackrate=;stereo=;usedtx",
	 {DEF}},
	{"maxplaybackrate=-16000;ptime=-20;maxaveragebitrate=+5",
	 {DEF}},
	{"maxplaybackrate=16000x;ptime=20.5;stereo=1.0",
	 {DEF}},
	{"maxplaybackrate=99999999999999999999;ptime=4294967316",
	 {DEF}},
	{"maxplaybackrate=0;stereo=2;cbr=01",
	 {48000, 48000, 0, 0, 0, false, false, false, false, true}},
	{"maxplaybackrate = 16000;stereo =1",
	 {DEF}},
	{"xmaxplaybackrate=8000;maxplaybackratex=8000;sprop-useinbandfec=1;"
	 "minstereo=1;dtx=1;maxptime=20",
	 {DEF}},
	{"stereo=1=1;useinbandfec==1",
	 {DEF}},
	{"=;=1;;=;maxplaybackrate",
	 {DEF}},
};


static void test_fmtp(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(fcases); i++) {
		const struct opusc_fmtp *w = &fcases[i].f;
		struct opusc_fmtp f;

		memset(&f, 0xa5, sizeof(f));
		opusc_fmtp_parse(&f, fcases[i].fmtp);

		if (f.maxplaybackrate != w->maxplaybackrate ||
		    f.sprop_maxcapturerate != w->sprop_maxcapturerate ||
		    f.maxaveragebitrate != w->maxaveragebitrate ||
		    f.ptime != w->ptime || f.minptime != w->minptime ||
		    f.stereo != w->stereo ||
		    f.sprop_stereo != w->sprop_stereo ||
		    f.useinbandfec != w->useinbandfec ||
		    f.usedtx != w->usedtx || f.cbr != w->cbr)
			TEST_FAIL("fmtp \"%s\": got %u %u %u %u %u %d%d%d%d%d",
				  fcases[i].fmtp ? fcases[i].fmtp : "(null)",
				  f.maxplaybackrate, f.sprop_maxcapturerate,
				  f.maxaveragebitrate, f.ptime, f.minptime,
				  f.stereo, f.sprop_stereo, f.useinbandfec,
				  f.usedtx, f.cbr);
	}

	opusc_fmtp_parse(NULL, "stereo=1");   /* no crash */
}


/*
 * Round trip
 */

struct codec {
	struct opusc_enc *enc;
	struct opusc_dec *dec;
	uint32_t rate;
	size_t frame;
};

static void codec_open(struct codec *c, uint32_t rate, uint32_t bitrate,
		       uint32_t complexity, bool fec, bool dtx)
{
	struct opusc_enc_conf ec;

	memset(c, 0, sizeof(*c));
	memset(&ec, 0, sizeof(ec));
	ec.rate = rate;
	ec.complexity = complexity;
	ec.bitrate = bitrate;
	ec.fec = fec;
	ec.dtx = dtx;

	c->rate = rate;
	c->frame = rate / 50;
	TEST_ERR(opusc_enc_alloc(&c->enc, &ec), 0);
	TEST_ERR(opusc_dec_alloc(&c->dec, rate), 0);
}


static void codec_close(struct codec *c)
{
	c->enc = mem_deref(c->enc);
	c->dec = mem_deref(c->dec);
}


/* encode and decode n samples frame by frame; returns bytes sent */
static size_t round_trip(struct codec *c, const int16_t *in, int16_t *out,
			 size_t n)
{
	uint8_t pkt[MAX_PKT];
	size_t bytes = 0;

	TEST_EQ(n % c->frame, 0);

	for (size_t i = 0; i < n; i += c->frame) {
		int len = opusc_encode(c->enc, in + i, (int)c->frame, pkt,
				       sizeof(pkt));

		TEST_ASSERT(len > 0);
		TEST_EQ(opusc_packet_samples(pkt, (size_t)len, c->rate),
			c->frame);
		TEST_EQ(opusc_decode(c->dec, pkt, (size_t)len, out + i,
				     (int)c->frame), c->frame);
		bytes += (size_t)len;
	}

	return bytes;
}


/* libopus's look-ahead at a rate [samples]: the decoded signal's delay */
static size_t lookahead(uint32_t rate)
{
	OpusEncoder *e;
	opus_int32 la = 0;
	int err;

	e = opus_encoder_create((opus_int32)rate, 1, OPUS_APPLICATION_VOIP,
				&err);
	TEST_ASSERT(e != NULL);
	TEST_EQ(opus_encoder_ctl(e, OPUS_GET_LOOKAHEAD(&la)), OPUS_OK);
	opus_encoder_destroy(e);

	return (size_t)la;
}


struct rcase {
	uint32_t rate;
	uint32_t bitrate;
	double min_corr_speech, min_seg_speech;
	double min_corr_tones, min_seg_tones;
};

/* floors; the measured figures are printed (see the file comment). At
   complexity 5, libopus 1.3.1 gave a correlation of 0.975..0.982 and a
   segmental SNR of 13.2..14.6 dB on speech, 0.879..0.931 and
   7.0..8.9 dB on the six tones */
static const struct rcase rcases[] = {
	{8000,  16000, 0.90, 8.0, 0.80, 4.0},
	{12000, 20000, 0.90, 8.0, 0.80, 4.0},
	{16000, 24000, 0.90, 8.0, 0.80, 4.0},
	{24000, 32000, 0.90, 8.0, 0.75, 4.0},
	{48000, 32000, 0.90, 8.0, 0.75, 4.0},
};


static void test_round_trip(void)
{
	static int16_t src[MAX_N], out[MAX_N];
	static const double tones[] = {220, 440, 770, 1250, 2100, 3100};

	printf("%-6s %-7s %-7s %6s %6s %8s %8s %8s\n", "rate", "bitrate",
	       "signal", "delay", "(la)", "corr", "segSNR", "kbit/s");

	for (size_t i = 0; i < ARRAY_SIZE(rcases); i++) {
		const struct rcase *rc = &rcases[i];
		const size_t n = rc->rate * SECONDS;

		for (int kind = 0; kind < 2; kind++) {
			struct codec c;
			size_t bytes, d, tol, la = lookahead(rc->rate);
			double corr, seg;

			if (kind == 0)
				sigq_speech(src, n, rc->rate, -20, 7);
			else
				sigq_tones(src, n, rc->rate, tones,
					   ARRAY_SIZE(tones), -20);

			codec_open(&c, rc->rate, rc->bitrate, 5, false,
				   false);
			bytes = round_trip(&c, src, out, n);
			codec_close(&c);

			d = sigq_delay(src, out, n, rc->rate / 50);
			corr = sigq_corr(src, out, n, d);
			seg = sigq_segsnr(src, out, n, d, rc->rate / 50);

			printf("%-6u %-7u %-7s %6zu %6zu %8.3f %8.1f %8.1f\n",
			       rc->rate, rc->bitrate,
			       kind ? "tones" : "speech", d, la, corr, seg,
			       bytes * 8.0 / SECONDS / 1000);

			/* the delay is the encoder's look-ahead, give or
			   take a sample at 8 kHz */
			tol = 2 + rc->rate / 8000;
			TEST_ASSERT(d + tol >= la && d <= la + tol);

			if (corr < (kind ? rc->min_corr_tones :
				    rc->min_corr_speech) ||
			    seg < (kind ? rc->min_seg_tones :
				   rc->min_seg_speech))
				TEST_FAIL("%u Hz %s: corr %.3f, segSNR %.1f dB",
					  rc->rate, kind ? "tones" : "speech",
					  corr, seg);
		}
	}
}


/*
 * FEC against PLC
 */

static void test_fec(void)
{
	enum { RATE = 16000, FRAME = RATE / 50, FRAMES = 150 };
	static int16_t src[RATE * SECONDS], ref[RATE * SECONDS];
	static uint8_t pkts[FRAMES][MAX_PKT];
	static int lens[FRAMES];
	size_t n = (size_t)FRAMES * FRAME, la = lookahead(RATE);
	double e_fec = 0, e_plc = 0, s = 0;
	unsigned lost = 0;
	struct codec c;

	sigq_speech(src, n, RATE, -20, 3);
	codec_open(&c, RATE, 24000, 5, true, false);
	for (size_t f = 0; f < FRAMES; f++) {
		lens[f] = opusc_encode(c.enc, src + f * FRAME, FRAME, pkts[f],
				       MAX_PKT);
		TEST_ASSERT(lens[f] > 0);
		TEST_EQ(opusc_decode(c.dec, pkts[f], (size_t)lens[f],
				     ref + f * FRAME, FRAME), FRAME);
	}
	codec_close(&c);

	/* lose frame k (every 7th, not the first few), recover it two
	   ways, compare the recovered frame with the source */
	for (size_t k = 10; k + 1 < FRAMES; k += 7) {
		struct opusc_dec *d1 = NULL, *d2 = NULL;
		int16_t a[FRAME], b[FRAME], tmp[FRAME];

		TEST_ERR(opusc_dec_alloc(&d1, RATE), 0);
		TEST_ERR(opusc_dec_alloc(&d2, RATE), 0);
		for (size_t f = 0; f < k; f++) {
			TEST_EQ(opusc_decode(d1, pkts[f], (size_t)lens[f],
					     tmp, FRAME), FRAME);
			TEST_EQ(opusc_decode(d2, pkts[f], (size_t)lens[f],
					     tmp, FRAME), FRAME);
		}

		TEST_EQ(opusc_decode_fec(d1, pkts[k + 1],
					 (size_t)lens[k + 1], a, FRAME),
			FRAME);
		TEST_EQ(opusc_conceal(d2, b, FRAME), FRAME);

		/* the decoded frame k lies la samples later in the source
		   than its position: compare with the source there */
		for (size_t i = 0; i < FRAME; i++) {
			size_t j = k * FRAME + i;
			double r = j >= la ? src[j - la] : 0;

			e_fec += (a[i] - r) * (a[i] - r);
			e_plc += (b[i] - r) * (b[i] - r);
			s += r * r;
		}
		++lost;

		mem_deref(d1);
		mem_deref(d2);
	}

	printf("FEC: %u lost frames, SNR of the recovered frames: FEC "
	       "%.1f dB, PLC %.1f dB\n", lost, 10 * log10(s / e_fec),
	       10 * log10(s / e_plc));

	/* FEC clearly better than PLC: at least 3 dB less error */
	TEST_ASSERT(10 * log10(e_plc / e_fec) > 3.0);
	TEST_ASSERT(10 * log10(s / e_fec) > 3.0);
}


/* without FEC in the next packet, opusc_decode_fec conceals */
static void test_fec_absent(void)
{
	enum { RATE = 16000, FRAME = RATE / 50 };
	int16_t pcm[FRAME * 20], out[FRAME];
	uint8_t pkt[MAX_PKT];
	struct codec c;
	int len = 0;

	sigq_speech(pcm, FRAME * 20, RATE, -20, 5);
	codec_open(&c, RATE, 24000, 5, false, false);
	for (int f = 0; f < 20; f++) {
		len = opusc_encode(c.enc, pcm + f * FRAME, FRAME, pkt,
				   sizeof(pkt));
		TEST_ASSERT(len > 0);
		if (f < 18)
			TEST_EQ(opusc_decode(c.dec, pkt, (size_t)len, out,
					     FRAME), FRAME);
	}
	TEST_EQ(opusc_decode_fec(c.dec, pkt, (size_t)len, out, FRAME), FRAME);
	TEST_EQ(opusc_decode(c.dec, pkt, (size_t)len, out, FRAME), FRAME);
	codec_close(&c);
}


/*
 * DTX
 */

static void test_dtx(void)
{
	enum { RATE = 48000, FRAME = RATE / 50, FRAMES = 100 };
	static int16_t pcm[FRAME * FRAMES];

	memset(pcm, 0, sizeof(pcm));

	for (int dtx = 0; dtx < 2; dtx++) {
		unsigned tiny = 0, tiny_late = 0, big_late = 0;
		uint8_t pkt[MAX_PKT];
		int16_t out[FRAME];
		struct codec c;

		codec_open(&c, RATE, 32000, 5, false, dtx);
		for (int f = 0; f < FRAMES; f++) {
			int len = opusc_encode(c.enc, pcm + f * FRAME, FRAME,
					       pkt, sizeof(pkt));

			TEST_ASSERT(len > 0);
			if (len <= 2) {
				++tiny;
				if (f >= 20)
					++tiny_late;
			}
			else if (f >= 20) {
				++big_late;
			}
			/* whatever it is, it decodes */
			TEST_EQ(opusc_decode(c.dec, pkt, (size_t)len, out,
					     FRAME), FRAME);
		}
		codec_close(&c);

		printf("DTX %s: %u of %d silent frames in packets of <= 2 "
		       "bytes\n", dtx ? "on" : "off", tiny, FRAMES);

		if (dtx) {
			/* after it settles (< 400 ms), DTX sends only tiny
			   packets, apart from its periodic refresh */
			TEST_ASSERT(tiny_late >= (FRAMES - 20) * 9 / 10);
		}
		else {
			TEST_EQ(tiny, 0);
			TEST_EQ(big_late, FRAMES - 20);
		}
	}
}


/*
 * Encoder settings
 */

static void test_enc_settings(void)
{
	enum { RATE = 48000, FRAME = RATE / 50, FRAMES = 50 };
	static int16_t pcm[FRAME * FRAMES];
	struct opusc_enc_conf ec;
	struct opusc_enc *e = NULL;
	uint8_t pkt[MAX_PKT];

	sigq_speech(pcm, FRAME * FRAMES, RATE, -20, 11);

	/* CBR: every packet the same size */
	memset(&ec, 0, sizeof(ec));
	ec.rate = RATE;
	ec.complexity = 5;
	ec.bitrate = 24000;
	ec.cbr = true;
	TEST_ERR(opusc_enc_alloc(&e, &ec), 0);
	for (int f = 0; f < FRAMES; f++)
		TEST_EQ(opusc_encode(e, pcm + f * FRAME, FRAME, pkt,
				     sizeof(pkt)), 24000 / 8 / 50);
	e = mem_deref(e);

	/* the peer's maxplaybackrate caps the coded bandwidth */
	static const struct {
		uint32_t hz;
		int max_bw;
	} bw[] = {
		{8000, OPUS_BANDWIDTH_NARROWBAND},
		{12000, OPUS_BANDWIDTH_MEDIUMBAND},
		{16000, OPUS_BANDWIDTH_WIDEBAND},
		{24000, OPUS_BANDWIDTH_SUPERWIDEBAND},
		{48000, OPUS_BANDWIDTH_FULLBAND},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bw); i++) {
		int widest = 0;

		memset(&ec, 0, sizeof(ec));
		ec.rate = RATE;
		ec.complexity = 5;
		ec.bitrate = 64000;
		ec.max_bandwidth_hz = bw[i].hz;
		TEST_ERR(opusc_enc_alloc(&e, &ec), 0);
		for (int f = 0; f < FRAMES; f++) {
			int len = opusc_encode(e, pcm + f * FRAME, FRAME,
					       pkt, sizeof(pkt));
			int b;

			TEST_ASSERT(len > 0);
			b = opus_packet_get_bandwidth(pkt);
			TEST_ASSERT(b <= bw[i].max_bw);
			if (b > widest)
				widest = b;
		}
		/* and speech at 64 kbit/s reaches it */
		if (bw[i].max_bw <= OPUS_BANDWIDTH_WIDEBAND)
			TEST_EQ(widest, bw[i].max_bw);
		e = mem_deref(e);
	}

	/* bad settings */
	memset(&ec, 0, sizeof(ec));
	ec.rate = 44100;
	TEST_ERR(opusc_enc_alloc(&e, &ec), EINVAL);
	ec.rate = 16000;
	ec.complexity = 11;
	TEST_ERR(opusc_enc_alloc(&e, &ec), EINVAL);
	ec.complexity = 5;
	ec.bitrate = 5999;
	TEST_ERR(opusc_enc_alloc(&e, &ec), EINVAL);
	ec.bitrate = 510001;
	TEST_ERR(opusc_enc_alloc(&e, &ec), EINVAL);
	ec.bitrate = 0;                   /* libopus chooses */
	TEST_ERR(opusc_enc_alloc(&e, &ec), 0);
	e = mem_deref(e);
	TEST_ERR(opusc_enc_alloc(NULL, &ec), EINVAL);
	TEST_ERR(opusc_enc_alloc(&e, NULL), EINVAL);

	/* a frame size Opus does not have */
	ec.bitrate = 24000;
	TEST_ERR(opusc_enc_alloc(&e, &ec), 0);
	TEST_ASSERT(opusc_encode(e, pcm, 100, pkt, sizeof(pkt)) < 0);
	TEST_ASSERT(opusc_encode(NULL, pcm, 320, pkt, sizeof(pkt)) < 0);
	TEST_ASSERT(opusc_encode(e, pcm, 320, pkt, sizeof(pkt)) > 0);
	e = mem_deref(e);
}


/*
 * Decoder: bad input
 */

static void test_dec_bad(void)
{
	enum { RATE = 16000, FRAME = RATE / 50 };
	struct opusc_dec *d = NULL;
	static int16_t pcm[FRAME * 6], in[FRAME];
	uint8_t pkt[MAX_PKT], good[MAX_PKT];
	uint32_t x = 12345;
	struct codec c;
	int glen;

	TEST_ERR(opusc_dec_alloc(&d, 44100), EINVAL);
	TEST_ERR(opusc_dec_alloc(&d, 0), EINVAL);
	TEST_ERR(opusc_dec_alloc(NULL, 16000), EINVAL);
	TEST_ERR(opusc_dec_alloc(&d, RATE), 0);

	TEST_EQ(opusc_decode(d, NULL, 10, pcm, FRAME), -EINVAL);
	TEST_EQ(opusc_decode(d, pkt, 0, pcm, FRAME), -EINVAL);
	TEST_EQ(opusc_decode(NULL, pkt, 10, pcm, FRAME), -EINVAL);
	TEST_EQ(opusc_decode_fec(d, NULL, 10, pcm, FRAME), -EINVAL);
	TEST_EQ(opusc_conceal(NULL, pcm, FRAME), -EINVAL);
	TEST_EQ(opusc_packet_samples(NULL, 3, RATE), -EINVAL);
	TEST_EQ(opusc_packet_samples(pkt, 3, 44100), -EINVAL);

	/* code 3 packet claiming 63 frames of 60 ms: too long */
	pkt[0] = 0xfb;
	pkt[1] = 0x3f;
	TEST_EQ(opusc_packet_samples(pkt, 2, RATE), -EBADMSG);
	TEST_EQ(opusc_decode(d, pkt, 2, pcm, FRAME * 6), -EBADMSG);

	/* a 20 ms packet into a 10 ms buffer */
	sigq_speech(in, FRAME, RATE, -20, 1);
	codec_open(&c, RATE, 24000, 5, false, false);
	glen = opusc_encode(c.enc, in, FRAME, good, sizeof(good));
	TEST_ASSERT(glen > 0);
	codec_close(&c);
	TEST_EQ(opusc_decode(d, good, (size_t)glen, pcm, FRAME / 2),
		-EBADMSG);

	/* random bytes: an error or audio, never a crash, and a good
	   packet still decodes afterwards */
	for (int i = 0; i < 20000; i++) {
		size_t len;
		uint8_t *heap;

		x ^= x << 13; x ^= x >> 17; x ^= x << 5;
		len = 1 + x % 300;
		heap = mem_alloc(len, NULL);
		for (size_t k = 0; k < len; k++) {
			x ^= x << 13; x ^= x >> 17; x ^= x << 5;
			heap[k] = (uint8_t)x;
		}
		(void)opusc_decode(d, heap, len, pcm, FRAME * 6);
		(void)opusc_decode_fec(d, heap, len, pcm, FRAME);
		(void)opusc_packet_samples(heap, len, RATE);
		mem_deref(heap);
	}
	TEST_EQ(opusc_decode(d, good, (size_t)glen, pcm, FRAME), FRAME);

	mem_deref(d);
}


int main(void)
{
	test_fmtp();
	test_round_trip();
	test_fec();
	test_fec_absent();
	test_dtx();
	test_enc_settings();
	test_dec_bad();

	printf("test_opusc: ok\n");

	return 0;
}
