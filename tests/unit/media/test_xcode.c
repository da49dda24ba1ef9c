/**
 * @file test_xcode.c  A call's audio conversion: slots to agent frames,
 * agent audio to RTP payloads
 *
 * Decode: a table of calls (codec, agent format and rate) and scripts of
 * jitter buffer slots, one character per 20 ms slot:
 *
 *   F  the packet of this slot          L  lost, nothing after it yet
 *   N  lost, the next packet is here    X  a payload that will not decode
 *     (Opus in-band FEC)
 *
 * The caller's audio is two tones (or speech, for FEC), encoded once per
 * case. Each case expects the conversion's counters (xcode_stats) and
 * checks the agent audio: byte for byte where the conversion is exact
 * (G.711 to a µ-law agent, or to 16-bit PCM at 8 kHz), else by its
 * correlation with the source at the agent's rate; lost slots must not
 * be silent; and a frame recovered by FEC must be closer to what the
 * packet held than the decoder's own concealment gets.
 *
 * Encode: agent audio at each agent rate and format into each codec; the
 * payloads are checked byte for byte where the conversion is exact, else
 * decoded again and compared with the source.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "cb_re.h"
#include "codec.h"
#include "g711.h"
#include "jb.h"
#include "opusc.h"
#include "sigq.h"
#include "test.h"
#include "xcode.h"

enum {
	SLOTS     = 50,                /**< at most, per script (1 s)    */
	MAX_RATE  = 48000,
	MAX_FRAME = MAX_RATE / 50,     /**< 20 ms at 48 kHz [samples]    */
	MAX_N     = MAX_FRAME * (SLOTS + 1),
	MAX_PKT   = 1500,
	LEVEL_DB  = -12,               /**< source level [dBFS]          */
};

static const double hz[] = {440.0, 1000.0};

/** How the source sounds */
enum src { SRC_TONES = 0, SRC_SPEECH };

struct dcase {
	const char *name;
	enum codec_id codec;
	bool l16;                    /**< agent: 16-bit PCM, else µ-law  */
	uint32_t rate;               /**< agent rate [Hz]                */
	enum src src;
	const char *script;
	struct xcode_stats want;     /**< passthrough, decoded, concealed,
					fec, decode_errors            */
	bool exact;                  /**< F slots not after a loss: byte
					for byte the payload's audio  */
	double min_corr;             /**< with the source; 0: not checked */
};

#define F10 "FFFFFFFFFF"

static const struct dcase dcases[] = {
	{"PCMU to a µ-law agent: copied", CODEC_PCMU, false, 8000,
	 SRC_TONES, F10, {10, 0, 0, 0, 0}, true, 0.99},
	{"PCMA to a µ-law agent: A-law to µ-law", CODEC_PCMA, false, 8000,
	 SRC_TONES, F10, {10, 0, 0, 0, 0}, true, 0.99},
	{"PCMU to 16-bit PCM at 8 kHz: decoded", CODEC_PCMU, true, 8000,
	 SRC_TONES, F10, {0, 10, 0, 0, 0}, true, 0.99},
	{"PCMA to 16-bit PCM at 16 kHz: decoded, resampled", CODEC_PCMA,
	 true, 16000, SRC_TONES, F10 F10, {0, 20, 0, 0, 0}, false, 0.95},
	{"PCMU lost slot: concealed, then decoded, then copied", CODEC_PCMU,
	 false, 8000, SRC_TONES, "FFFFFLFFFF", {8, 1, 1, 0, 0}, true, 0.8},
	{"PCMA lost slots to 16-bit PCM: concealed", CODEC_PCMA, true, 8000,
	 SRC_TONES, "FFFFLLFFFF", {0, 8, 2, 0, 0}, true, 0.8},
	{"Opus slots decoded at 16 kHz", CODEC_OPUS, true, 16000,
	 SRC_TONES, F10 F10, {0, 20, 0, 0, 0}, false, 0.9},
	{"Opus slots decoded at 48 kHz", CODEC_OPUS, true, 48000,
	 SRC_TONES, F10 F10, {0, 20, 0, 0, 0}, false, 0.9},
	{"Opus to a µ-law agent", CODEC_OPUS, false, 8000,
	 SRC_TONES, F10 F10, {0, 20, 0, 0, 0}, false, 0.9},
	{"Opus lost frame recovered by FEC", CODEC_OPUS, true, 16000,
	 SRC_SPEECH, F10 F10 F10 "NFFFFFFFFF", {0, 39, 1, 1, 0}, false, 0},
	{"Opus lost frame, no next packet: PLC", CODEC_OPUS, true, 16000,
	 SRC_SPEECH, F10 F10 F10 "LFFFFFFFFF", {0, 39, 1, 0, 0}, false, 0},
	{"Opus undecodable payload: counted, concealed", CODEC_OPUS, true,
	 16000, SRC_TONES, F10 "XFFFFFFFFF", {0, 19, 1, 0, 1}, false, 0.8},
};


/* a packet that libopus refuses: code 1 (two frames of equal size)
   with an odd number of bytes after the TOC */
static const uint8_t opus_bad[] = {0x01, 0x10, 0x20, 0x30};


static void source(int16_t *x, size_t n, uint32_t rate, enum src src)
{
	if (src == SRC_SPEECH)
		sigq_speech(x, n, rate, LEVEL_DB, 7);
	else
		sigq_tones(x, n, rate, hz, 2, LEVEL_DB);
}


static void conf_make(struct xcode_conf *c, enum codec_id codec, bool l16,
		      uint32_t rate)
{
	memset(c, 0, sizeof(*c));
	c->codec = codec;
	c->clock_rate = codec == CODEC_OPUS ? 48000 : 8000;
	c->tx_ms = 20;
	c->agent_l16 = l16;
	c->agent_rate = rate;
	c->opus_complexity = 5;
	c->opus_bitrate = 32000;
	c->resample_quality = 3;
}


/* agent audio (µ-law or 16-bit LE) to linear samples */
static size_t agent_pcm(int16_t *pcm, const uint8_t *a, size_t len,
			bool l16)
{
	if (!l16) {
		g711_ulaw_decode(pcm, a, len);
		return len;
	}

	for (size_t i = 0; i < len / 2; i++)
		pcm[i] = (int16_t)(a[2 * i] | (a[2 * i + 1] << 8));

	return len / 2;
}


/*
 * Decode
 */

/** The caller's stream: one packet per slot, whatever the script loses */
struct stream {
	uint8_t pkt[SLOTS + 1][MAX_PKT];
	size_t len[SLOTS + 1];
};


static void stream_make(struct stream *s, const struct dcase *dc)
{
	static int16_t x[MAX_N];
	const uint32_t rate = dc->codec == CODEC_OPUS ? dc->rate : 8000;
	const size_t fn = rate / 50;
	struct opusc_enc_conf ec = {rate, 5, 32000, true, false, false, 0};
	struct opusc_enc *enc = NULL;

	source(x, fn * (SLOTS + 1), rate, dc->src);
	if (dc->codec == CODEC_OPUS)
		TEST_ERR(opusc_enc_alloc(&enc, &ec), 0);

	for (size_t i = 0; i <= SLOTS; i++) {
		const int16_t *f = x + i * fn;

		if (dc->codec == CODEC_PCMU) {
			g711_ulaw_encode(s->pkt[i], f, fn);
			s->len[i] = fn;
		}
		else if (dc->codec == CODEC_PCMA) {
			g711_alaw_encode(s->pkt[i], f, fn);
			s->len[i] = fn;
		}
		else {
			int n = opusc_encode(enc, f, (int)fn, s->pkt[i],
					     MAX_PKT);
			TEST_ASSERT(n > 2);
			s->len[i] = (size_t)n;
		}
	}

	mem_deref(enc);
}


static void slot_make(struct jb_out *o, char c, const struct stream *s,
		      size_t i, uint32_t units)
{
	struct jb_seg *seg = &o->seg[0];

	memset(o, 0, sizeof(*o));
	o->nseg = 1;
	seg->n = seg->pdur = units;
	seg->ts = (uint32_t)i * units;
	seg->seq = (uint16_t)i;

	switch (c) {

	case 'F':
		seg->kind = JB_FRAME;
		seg->payload = s->pkt[i];
		seg->len = s->len[i];
		break;

	case 'X':
		seg->kind = JB_FRAME;
		seg->payload = opus_bad;
		seg->len = sizeof(opus_bad);
		break;

	case 'N':
		seg->kind = JB_LOST;
		seg->seq = (uint16_t)(i + 1);
		seg->payload = s->pkt[i + 1];
		seg->len = s->len[i + 1];
		break;

	default:
		seg->kind = JB_LOST;
		break;
	}

	o->kind = seg->kind;
}


/* run script over the stream: the agent's audio, linear, into y (a whole
   slot each), and the counters */
static void decode(const struct dcase *dc, const char *script,
		   const struct stream *s, int16_t *y, struct xcode_stats *st)
{
	static uint8_t out[MAX_FRAME * 2];
	const uint32_t units = dc->codec == CODEC_OPUS ? 960 : 160;
	struct xcode_conf c;
	struct xcode *x;
	struct jb_out o;
	size_t want;

	conf_make(&c, dc->codec, dc->l16, dc->rate);
	TEST_ERR(xcode_alloc(&x, &c), 0);
	want = xcode_agent_bytes(x, 20);

	for (size_t i = 0; script[i]; i++) {
		int n;

		slot_make(&o, script[i], s, i, units);
		n = xcode_decode_slot(x, &o, out, sizeof(out));
		if (n != (int)want)
			TEST_FAIL("%s: slot %zu: %d bytes, expected %zu",
				  dc->name, i, n, want);
		(void)agent_pcm(y + i * (dc->rate / 50), out, want, dc->l16);
	}

	xcode_stats(x, st);
	mem_deref(x);
}


/* F slots after good ones are exactly the packet's audio */
static void check_exact(const struct dcase *dc, const struct stream *s,
			const int16_t *y)
{
	int16_t ref[160];

	for (size_t i = 0; dc->script[i]; i++) {
		if (dc->script[i] != 'F' || (i && dc->script[i - 1] != 'F'))
			continue;

		for (size_t k = 0; k < 160; k++) {
			uint8_t v = s->pkt[i][k];

			/* a µ-law agent gets PCMU's bytes, PCMA's each as
			   its µ-law byte */
			if (!dc->l16 && dc->codec == CODEC_PCMA)
				g711_alaw_to_ulaw(&v, &v, 1);
			ref[k] = dc->l16 && dc->codec == CODEC_PCMA ?
				g711_alaw2lin(v) : g711_ulaw2lin(v);
		}

		if (memcmp(ref, y + i * 160, sizeof(ref)))
			TEST_FAIL("%s: slot %zu is not the packet's audio",
				  dc->name, i);
	}
}


/* the source at the agent's rate: is y that? */
static void check_corr(const struct dcase *dc, const int16_t *y, size_t n)
{
	static int16_t ref[MAX_N];
	size_t d;
	double c;

	source(ref, n, dc->rate, dc->src);
	d = sigq_delay(ref, y, n, dc->rate / 100);
	c = sigq_corr(ref, y, n - dc->rate / 100, d);
	printf("%-52s correlation %.3f\n", dc->name, c);
	if (c < dc->min_corr)
		TEST_FAIL("%s: correlation with the source %.3f (delay %zu),"
			  " expected %.2f or more", dc->name, c, d,
			  dc->min_corr);
}


/* lost and undecodable slots are concealed: never silent */
static void check_loud(const struct dcase *dc, const int16_t *y)
{
	const size_t fn = dc->rate / 50;

	for (size_t i = 0; dc->script[i]; i++) {
		double db;

		if (dc->script[i] == 'F')
			continue;

		db = sigq_rms_db(y + i * fn, fn);
		printf("%-52s slot %zu concealed at %.1f dBFS\n", dc->name,
		       i, db);
		if (db < LEVEL_DB - 15)
			TEST_FAIL("%s: slot %zu concealed at %.1f dBFS",
				  dc->name, i, db);
	}
}


/* squared difference of slot i of a and b, over the slot */
static double slot_err(const int16_t *a, const int16_t *b, size_t i,
		       size_t fn)
{
	double e = 0;

	for (size_t k = i * fn; k < (i + 1) * fn; k++)
		e += ((double)a[k] - b[k]) * ((double)a[k] - b[k]);

	return e;
}


/* the slot recovered by FEC, against the same slot with the packet
   (clean) and with the decoder's concealment (no next packet) */
static void check_fec(const struct dcase *dc, const struct stream *s,
		      const int16_t *y)
{
	static int16_t clean[MAX_N], plc[MAX_N];
	static char script[SLOTS + 1];
	const size_t fn = dc->rate / 50;
	size_t i = strchr(dc->script, 'N') - dc->script;
	struct xcode_stats st;
	double e_fec, e_plc;

	str_ncpy(script, dc->script, sizeof(script));
	script[i] = 'F';
	decode(dc, script, s, clean, &st);
	script[i] = 'L';
	decode(dc, script, s, plc, &st);

	e_fec = slot_err(y, clean, i, fn);
	e_plc = slot_err(plc, clean, i, fn);
	printf("%-52s FEC off by %.3g, PLC by %.3g\n", dc->name, e_fec,
	       e_plc);
	if (!(e_fec * 2 < e_plc))
		TEST_FAIL("%s: FEC frame off by %.3g, concealment by %.3g",
			  dc->name, e_fec, e_plc);
}


static void run_decode(const struct dcase *dc)
{
	static struct stream s;
	static int16_t y[MAX_N];
	const size_t slots = strlen(dc->script);
	struct xcode_stats st;

	TEST_ASSERT(slots <= SLOTS);
	stream_make(&s, dc);
	decode(dc, dc->script, &s, y, &st);

#define CHECK(f)							\
	if (st.f != dc->want.f)						\
		TEST_FAIL("%s: " #f " %llu, expected %llu", dc->name,	\
			  (unsigned long long)st.f,			\
			  (unsigned long long)dc->want.f)
	CHECK(passthrough);
	CHECK(decoded);
	CHECK(concealed);
	CHECK(fec);
	CHECK(decode_errors);
#undef CHECK

	if (dc->exact)
		check_exact(dc, &s, y);
	if (dc->min_corr > 0)
		check_corr(dc, y, slots * (dc->rate / 50));
	check_loud(dc, y);
	if (strchr(dc->script, 'N'))
		check_fec(dc, &s, y);
}


/*
 * Encode
 */

struct ecase {
	const char *name;
	enum codec_id codec;
	bool l16;
	uint32_t rate;               /**< agent rate [Hz]                */
	bool exact;                  /**< payload = G.711 of each sample */
	double min_corr;             /**< decoded payload vs source      */
};

static const struct ecase ecases[] = {
	{"µ-law 8 kHz to PCMU: copied",     CODEC_PCMU, false, 8000, true, 0},
	{"µ-law 8 kHz to PCMA: µ-law to A-law", CODEC_PCMA, false, 8000,
	 true, 0},
	{"16-bit 8 kHz to PCMU",            CODEC_PCMU, true,  8000, true, 0},
	{"16-bit 8 kHz to PCMA",            CODEC_PCMA, true,  8000, true, 0},
	{"16-bit 16 kHz to PCMU",           CODEC_PCMU, true, 16000, false,
	 0.95},
	{"16-bit 24 kHz to PCMA",           CODEC_PCMA, true, 24000, false,
	 0.95},
	{"16-bit 48 kHz to PCMU",           CODEC_PCMU, true, 48000, false,
	 0.95},
	{"µ-law 8 kHz to Opus",             CODEC_OPUS, false, 8000, false,
	 0.9},
	{"16-bit 8 kHz to Opus",            CODEC_OPUS, true,  8000, false,
	 0.9},
	{"16-bit 16 kHz to Opus",           CODEC_OPUS, true, 16000, false,
	 0.9},
	{"16-bit 24 kHz to Opus",           CODEC_OPUS, true, 24000, false,
	 0.9},
	{"16-bit 48 kHz to Opus",           CODEC_OPUS, true, 48000, false,
	 0.9},
};


/* the agent's audio for slot i, in its format */
static size_t agent_frame(uint8_t *a, const struct ecase *ec,
			  const int16_t *x, size_t i)
{
	const size_t fn = ec->rate / 50;
	const int16_t *f = x + i * fn;

	if (!ec->l16) {
		g711_ulaw_encode(a, f, fn);
		return fn;
	}

	for (size_t k = 0; k < fn; k++) {
		a[2 * k] = (uint8_t)(f[k] & 0xff);
		a[2 * k + 1] = (uint8_t)((uint16_t)f[k] >> 8);
	}

	return 2 * fn;
}


/* the payload as the codec's rate's audio (8 kHz, Opus: 48 kHz) */
static size_t payload_pcm(int16_t *pcm, const struct ecase *ec,
			  struct opusc_dec *dec, const uint8_t *p, size_t len)
{
	int n;

	if (ec->codec == CODEC_PCMU) {
		g711_ulaw_decode(pcm, p, len);
		return len;
	}
	if (ec->codec == CODEC_PCMA) {
		g711_alaw_decode(pcm, p, len);
		return len;
	}

	n = opusc_decode(dec, p, len, pcm, MAX_FRAME);
	TEST_ASSERT(n == MAX_FRAME);

	return (size_t)n;
}


/* exact: each payload byte is the G.711 of the agent's sample */
static void check_payload_exact(const struct ecase *ec, const uint8_t *a,
				const uint8_t *p, size_t i)
{
	for (size_t k = 0; k < 160; k++) {
		int16_t v = ec->l16 ? (int16_t)(a[2 * k] | (a[2 * k + 1] << 8))
			: g711_ulaw2lin(a[k]);
		uint8_t want = ec->codec == CODEC_PCMU ? g711_lin2ulaw(v) :
			g711_lin2alaw(v);

		if (!ec->l16)   /* bytes only, no trip through linear */
			g711_ulaw_to_alaw(&want, &a[k], 1);
		if (!ec->l16 && ec->codec == CODEC_PCMU)
			want = a[k];
		if (p[k] != want)
			TEST_FAIL("%s: slot %zu byte %zu: 0x%02x, expected "
				  "0x%02x", ec->name, i, k, p[k], want);
	}
}


static void run_encode(const struct ecase *ec)
{
	static int16_t x[MAX_N], y[MAX_N], ref[MAX_N];
	static uint8_t a[MAX_FRAME * 2], p[MAX_PKT];
	const uint32_t crate = ec->codec == CODEC_OPUS ? 48000 : 8000;
	const size_t slots = 25;
	struct opusc_dec *dec = NULL;
	struct xcode_conf c;
	struct xcode *xc;
	size_t ny = 0, d;
	double corr;

	conf_make(&c, ec->codec, ec->l16, ec->rate);
	TEST_ERR(xcode_alloc(&xc, &c), 0);
	if (ec->codec == CODEC_OPUS)
		TEST_ERR(opusc_dec_alloc(&dec, crate), 0);

	source(x, (ec->rate / 50) * slots, ec->rate, SRC_TONES);

	for (size_t i = 0; i < slots; i++) {
		size_t alen = agent_frame(a, ec, x, i);
		int n = xcode_encode(xc, a, alen, p, sizeof(p));

		if (ec->codec != CODEC_OPUS && n != 160)
			TEST_FAIL("%s: payload of %d bytes", ec->name, n);
		if (ec->codec == CODEC_OPUS && (n < 3 || n > 1275))
			TEST_FAIL("%s: Opus payload of %d bytes", ec->name, n);
		if (ec->exact)
			check_payload_exact(ec, a, p, i);

		ny += payload_pcm(y + ny, ec, dec, p, (size_t)n);
	}

	if (ec->min_corr > 0) {
		source(ref, ny, crate, SRC_TONES);
		d = sigq_delay(ref, y, ny, crate / 100);
		corr = sigq_corr(ref, y, ny - crate / 100, d);
		printf("%-52s correlation %.3f\n", ec->name, corr);
		if (corr < ec->min_corr)
			TEST_FAIL("%s: correlation with the source %.3f, "
				  "expected %.2f or more", ec->name, corr,
				  ec->min_corr);
	}

	mem_deref(dec);
	mem_deref(xc);
}


/*
 * Set-up
 */

struct acase {
	enum codec_id codec;
	bool l16;
	uint32_t rate;
	uint32_t tx_ms;
	int err;
	size_t bytes_20ms;           /**< xcode_agent_bytes(x, 20)       */
	uint8_t silence;             /**< xcode_agent_silence()          */
};

static const struct acase acases[] = {
	{CODEC_PCMU, false, 8000, 20, 0, 160, 0xff},
	{CODEC_PCMA, true, 8000, 20, 0, 320, 0x00},
	{CODEC_OPUS, true, 48000, 20, 0, 1920, 0x00},
	{CODEC_PCMU, false, 16000, 20, EINVAL, 0, 0},  /* µ-law at 8 kHz */
	{CODEC_PCMU, true, 8000, 0, EINVAL, 0, 0},     /* no packet time */
	{CODEC_PCMU, true, 0, 20, EINVAL, 0, 0},       /* no agent rate  */
	{CODEC_NONE, true, 8000, 20, ENOTSUP, 0, 0},
};


static void run_alloc(const struct acase *ac)
{
	struct xcode_conf c;
	struct xcode *x = NULL;

	conf_make(&c, ac->codec, ac->l16, ac->rate);
	c.tx_ms = ac->tx_ms;
	TEST_ERR(xcode_alloc(&x, &c), ac->err);
	if (ac->err) {
		TEST_ASSERT(x == NULL);
		return;
	}

	TEST_EQ(xcode_agent_bytes(x, 20), ac->bytes_20ms);
	TEST_EQ(xcode_agent_silence(x), ac->silence);
	mem_deref(x);
}


int main(void)
{
	for (size_t i = 0; i < sizeof(acases) / sizeof(acases[0]); i++)
		run_alloc(&acases[i]);

	for (size_t i = 0; i < sizeof(dcases) / sizeof(dcases[0]); i++)
		run_decode(&dcases[i]);

	for (size_t i = 0; i < sizeof(ecases) / sizeof(ecases[0]); i++)
		run_encode(&ecases[i]);

	return 0;
}
