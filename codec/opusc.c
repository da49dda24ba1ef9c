/**
 * @file opusc.c  Opus for RTP (RFC 7587): fmtp, encoder, decoder
 *
 * Mono both ways: agents speak mono, and an Opus decoder plays mono or
 * stereo packets alike, so we send mono even to a peer that asked for
 * stereo=1 (RFC 7587 section 3.4 allows it) and decode to mono.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <opus/opus.h>
#include <re.h>
#include "opusc.h"

struct opusc_dec {
	OpusDecoder *dec;
	uint32_t rate;
};

struct opusc_enc {
	OpusEncoder *enc;
	uint32_t rate;
};


/*
 * The value of parameter name in an fmtp list, if it is a plain decimal
 * number (digits only, at most 9 of them, up to ';', a space or the end);
 * false if the parameter is absent or its value is anything else. The
 * first occurrence counts.
 */
static bool param_u32(const char *fmtp, const char *name, uint32_t *val)
{
	size_t nl = strlen(name);
	const char *p = fmtp;

	while (p && *p) {
		while (*p == ' ' || *p == ';' || *p == '\t')
			++p;
		if (!strncasecmp(p, name, nl) && p[nl] == '=') {
			const char *v = p + nl + 1;
			uint32_t x = 0;
			size_t i;

			for (i = 0; v[i] >= '0' && v[i] <= '9'; i++) {
				if (i == 9)
					return false;
				x = x * 10 + (uint32_t)(v[i] - '0');
			}
			if (!i || (v[i] && v[i] != ';' && v[i] != ' ' &&
				   v[i] != '\t'))
				return false;

			*val = x;
			return true;
		}
		p = strchr(p, ';');
	}

	return false;
}


/* a rate parameter: RFC 7587 rates are 8000..48000 Hz, clamped there */
static uint32_t param_rate(const char *fmtp, const char *name)
{
	uint32_t v;

	if (!param_u32(fmtp, name, &v) || !v)
		return 48000;

	return v < 8000 ? 8000 : v > 48000 ? 48000 : v;
}


/* a flag parameter: "1" is true, "0" or anything else the default false */
static bool param_flag(const char *fmtp, const char *name)
{
	uint32_t v;

	return param_u32(fmtp, name, &v) && v == 1;
}


/* an optional number in lo..hi, clamped; 0 if absent or malformed */
static uint32_t param_range(const char *fmtp, const char *name,
			    uint32_t lo, uint32_t hi)
{
	uint32_t v;

	if (!param_u32(fmtp, name, &v) || !v)
		return 0;

	return v < lo ? lo : v > hi ? hi : v;
}


/**
 * Parse an Opus fmtp parameter list ("maxplaybackrate=16000;stereo=1")
 *
 * Unknown parameters are ignored; absent or malformed ones take RFC
 * 7587's defaults (rates 48000, flags 0, others 0 = not given). Values
 * out of range are clamped: rates to 8000..48000 [Hz], maxaveragebitrate
 * to 6000..510000 [bit/s], ptime and minptime to 3..120 [ms].
 */
void opusc_fmtp_parse(struct opusc_fmtp *f, const char *fmtp)
{
	if (!f)
		return;

	memset(f, 0, sizeof(*f));

	f->maxplaybackrate = 48000;
	f->sprop_maxcapturerate = 48000;

	if (!fmtp)
		return;

	f->maxplaybackrate = param_rate(fmtp, "maxplaybackrate");
	f->sprop_maxcapturerate = param_rate(fmtp, "sprop-maxcapturerate");
	f->maxaveragebitrate = param_range(fmtp, "maxaveragebitrate",
					   6000, 510000);
	f->ptime        = param_range(fmtp, "ptime", 3, 120);
	f->minptime     = param_range(fmtp, "minptime", 3, 120);
	f->stereo       = param_flag(fmtp, "stereo");
	f->sprop_stereo = param_flag(fmtp, "sprop-stereo");
	f->useinbandfec = param_flag(fmtp, "useinbandfec");
	f->usedtx       = param_flag(fmtp, "usedtx");
	f->cbr          = param_flag(fmtp, "cbr");
}


/** True for the rates libopus encodes from and decodes to directly */
bool opusc_rate_valid(uint32_t rate)
{
	return rate == 8000 || rate == 12000 || rate == 16000 ||
		rate == 24000 || rate == 48000;
}


/** Samples per channel in a packet at a rate; negative errno if bad */
int opusc_packet_samples(const uint8_t *pkt, size_t len, uint32_t rate)
{
	int n;

	if (!pkt || !len || !opusc_rate_valid(rate))
		return -EINVAL;

	n = opus_packet_get_nb_samples(pkt, (opus_int32)len,
				       (opus_int32)rate);

	return n < 0 ? -EBADMSG : n;
}


static void dec_destructor(void *arg)
{
	struct opusc_dec *d = arg;

	if (d->dec)
		opus_decoder_destroy(d->dec);
}


/**
 * Allocate a mono decoder
 *
 * @param dp    Pointer to allocated decoder
 * @param rate  Output rate: 8000, 12000, 16000, 24000 or 48000 [Hz]
 */
int opusc_dec_alloc(struct opusc_dec **dp, uint32_t rate)
{
	struct opusc_dec *d;
	int oerr;

	if (!dp || !opusc_rate_valid(rate))
		return EINVAL;

	d = mem_zalloc(sizeof(*d), dec_destructor);
	if (!d)
		return ENOMEM;

	d->rate = rate;
	d->dec = opus_decoder_create((opus_int32)rate, 1, &oerr);
	if (!d->dec) {
		mem_deref(d);
		return ENOMEM;
	}

	*dp = d;

	return 0;
}


/**
 * Decode a packet
 *
 * @return samples decoded, or a negative errno (EBADMSG: corrupt packet)
 */
int opusc_decode(struct opusc_dec *d, const uint8_t *pkt, size_t len,
		 int16_t *pcm, int max_samples)
{
	int n;

	if (!d || !pkt || !len || !pcm)
		return -EINVAL;

	n = opus_decode(d->dec, pkt, (opus_int32)len, pcm, max_samples, 0);

	return n < 0 ? -EBADMSG : n;
}


/**
 * Recover a lost frame from the in-band FEC of the packet that follows it
 *
 * @param d        Decoder
 * @param next     The packet after the gap
 * @param len      Its length
 * @param pcm      Output
 * @param samples  Length of the lost frame [samples]
 *
 * @return samples recovered (concealed if the packet had no FEC)
 */
int opusc_decode_fec(struct opusc_dec *d, const uint8_t *next, size_t len,
		     int16_t *pcm, int samples)
{
	int n;

	if (!d || !next || !len || !pcm)
		return -EINVAL;

	n = opus_decode(d->dec, next, (opus_int32)len, pcm, samples, 1);

	return n < 0 ? -EBADMSG : n;
}


/** Conceal a lost frame with the decoder's own PLC */
int opusc_conceal(struct opusc_dec *d, int16_t *pcm, int samples)
{
	int n;

	if (!d || !pcm)
		return -EINVAL;

	n = opus_decode(d->dec, NULL, 0, pcm, samples, 0);

	return n < 0 ? -EBADMSG : n;
}


static void enc_destructor(void *arg)
{
	struct opusc_enc *e = arg;

	if (e->enc)
		opus_encoder_destroy(e->enc);
}


static int bandwidth_for(uint32_t hz)
{
	if (hz <= 8000)
		return OPUS_BANDWIDTH_NARROWBAND;
	if (hz <= 12000)
		return OPUS_BANDWIDTH_MEDIUMBAND;
	if (hz <= 16000)
		return OPUS_BANDWIDTH_WIDEBAND;
	if (hz <= 24000)
		return OPUS_BANDWIDTH_SUPERWIDEBAND;
	return OPUS_BANDWIDTH_FULLBAND;
}


/**
 * Allocate a mono VoIP encoder
 *
 * @param ep  Pointer to allocated encoder
 * @param c   Settings: bitrate 0 lets libopus choose, otherwise
 *            OPUSC_BITRATE_MIN..OPUSC_BITRATE_MAX [bit/s]
 *
 * @return 0 if success, EINVAL for a bad setting, ENOMEM
 */
int opusc_enc_alloc(struct opusc_enc **ep, const struct opusc_enc_conf *c)
{
	struct opusc_enc *e;
	int oerr;

	if (!ep || !c || !opusc_rate_valid(c->rate) || c->complexity > 10 ||
	    (c->bitrate && (c->bitrate < OPUSC_BITRATE_MIN ||
			    c->bitrate > OPUSC_BITRATE_MAX)))
		return EINVAL;

	e = mem_zalloc(sizeof(*e), enc_destructor);
	if (!e)
		return ENOMEM;

	e->rate = c->rate;
	e->enc = opus_encoder_create((opus_int32)c->rate, 1,
				     OPUS_APPLICATION_VOIP, &oerr);
	if (!e->enc) {
		mem_deref(e);
		return ENOMEM;
	}

	/* every setting must take: a silently ignored one would leave the
	   encoder on libopus's defaults */
	oerr = opus_encoder_ctl(e->enc, OPUS_SET_COMPLEXITY(
					(opus_int32)c->complexity));
	oerr |= opus_encoder_ctl(e->enc, OPUS_SET_BITRATE(
			c->bitrate ? (opus_int32)c->bitrate : OPUS_AUTO));
	oerr |= opus_encoder_ctl(e->enc, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
	oerr |= opus_encoder_ctl(e->enc, OPUS_SET_INBAND_FEC(c->fec ? 1 : 0));
	if (c->fec)
		oerr |= opus_encoder_ctl(e->enc,
					 OPUS_SET_PACKET_LOSS_PERC(10));
	oerr |= opus_encoder_ctl(e->enc, OPUS_SET_DTX(c->dtx ? 1 : 0));
	oerr |= opus_encoder_ctl(e->enc, OPUS_SET_VBR(c->cbr ? 0 : 1));
	if (c->max_bandwidth_hz)
		oerr |= opus_encoder_ctl(e->enc, OPUS_SET_MAX_BANDWIDTH(
					 bandwidth_for(c->max_bandwidth_hz)));
	if (oerr != OPUS_OK) {
		mem_deref(e);
		return EINVAL;
	}

	*ep = e;

	return 0;
}


/**
 * Encode one frame (2.5, 5, 10, 20, 40 or 60 ms of input)
 *
 * @return packet length [bytes] (1..2 in DTX silence), or a negative errno
 */
int opusc_encode(struct opusc_enc *e, const int16_t *pcm, int samples,
		 uint8_t *out, size_t size)
{
	opus_int32 n;

	if (!e || !pcm || !out)
		return -EINVAL;

	n = opus_encode(e->enc, pcm, samples, out, (opus_int32)size);

	return n < 0 ? -EINVAL : (int)n;
}
