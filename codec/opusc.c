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


static uint32_t param_u32(const char *fmtp, const char *name)
{
	size_t nl = strlen(name);
	const char *p = fmtp;

	while (p && *p) {
		while (*p == ' ' || *p == ';')
			++p;
		if (!strncasecmp(p, name, nl) && p[nl] == '=')
			return (uint32_t)strtoul(p + nl + 1, NULL, 10);
		p = strchr(p, ';');
	}

	return 0;
}


/**
 * Parse an Opus fmtp parameter list ("maxplaybackrate=16000;stereo=1")
 *
 * Unknown parameters are ignored; absent ones take RFC 7587's defaults.
 */
void opusc_fmtp_parse(struct opusc_fmtp *f, const char *fmtp)
{
	memset(f, 0, sizeof(*f));

	f->maxplaybackrate = 48000;
	f->sprop_maxcapturerate = 48000;

	if (!fmtp)
		return;

	if (param_u32(fmtp, "maxplaybackrate"))
		f->maxplaybackrate = param_u32(fmtp, "maxplaybackrate");
	if (param_u32(fmtp, "sprop-maxcapturerate"))
		f->sprop_maxcapturerate =
			param_u32(fmtp, "sprop-maxcapturerate");
	f->maxaveragebitrate = param_u32(fmtp, "maxaveragebitrate");
	f->ptime        = param_u32(fmtp, "ptime");
	f->minptime     = param_u32(fmtp, "minptime");
	f->stereo       = param_u32(fmtp, "stereo") == 1;
	f->sprop_stereo = param_u32(fmtp, "sprop-stereo") == 1;
	f->useinbandfec = param_u32(fmtp, "useinbandfec") == 1;
	f->usedtx       = param_u32(fmtp, "usedtx") == 1;
	f->cbr          = param_u32(fmtp, "cbr") == 1;
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
 * @param c   Settings
 */
int opusc_enc_alloc(struct opusc_enc **ep, const struct opusc_enc_conf *c)
{
	struct opusc_enc *e;
	int oerr;

	if (!ep || !c || !opusc_rate_valid(c->rate) || c->complexity > 10)
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

	(void)opus_encoder_ctl(e->enc, OPUS_SET_COMPLEXITY(
					       (opus_int32)c->complexity));
	(void)opus_encoder_ctl(e->enc, OPUS_SET_BITRATE(
					       (opus_int32)c->bitrate));
	(void)opus_encoder_ctl(e->enc, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
	(void)opus_encoder_ctl(e->enc, OPUS_SET_INBAND_FEC(c->fec ? 1 : 0));
	if (c->fec)
		(void)opus_encoder_ctl(e->enc, OPUS_SET_PACKET_LOSS_PERC(10));
	(void)opus_encoder_ctl(e->enc, OPUS_SET_DTX(c->dtx ? 1 : 0));
	(void)opus_encoder_ctl(e->enc, OPUS_SET_VBR(c->cbr ? 0 : 1));
	if (c->max_bandwidth_hz)
		(void)opus_encoder_ctl(e->enc, OPUS_SET_MAX_BANDWIDTH(
					       bandwidth_for(c->max_bandwidth_hz)));

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
