/**
 * @file xcode.c  One call's audio conversion: carrier codec <-> agent format
 *
 * Design note.
 * Inbound, each jitter buffer slot becomes exactly one 20 ms agent frame.
 * Slots are built of segments (a 20 ms packet, two 10 ms packets, part of
 * a 40/60 ms packet, a gap); each segment is decoded at the decode rate
 * (8 kHz for G.711; for Opus the agent's rate when libopus can decode to
 * it, else 48 kHz), lost media is concealed (G.711: waveform repetition,
 * codec/plc; Opus: in-band FEC from the next packet when it is here, else
 * the decoder's PLC), silence is comfort noise or zeros. Then one SpeexDSP
 * converter takes the frame to the agent's rate if they differ, and the
 * frame is encoded in the agent's format.
 *
 * The common case, a PCMU or PCMA call to a µ-law 8 kHz agent, skips all
 * of that: a whole good packet is copied (PCMU) or table-transcoded (PCMA)
 * byte for byte. It is still decoded into the concealment history, which
 * costs a table look-up per sample, so a later loss can be concealed.
 *
 * Outbound, one packet time of agent audio becomes one RTP payload: the
 * reverse path, with the same µ-law fast path.
 */
#include <errno.h>
#include <string.h>
#include "cb_re.h"
#include "cng.h"
#include "g711.h"
#include "jb.h"
#include "opusc.h"
#include "plc.h"
#include "resamp.h"
#include "xcode.h"

enum {
	MAX_SLOT = 960,            /**< 20 ms at 48 kHz [samples]          */
	OPUS_MAX_MS = 120,         /**< longest Opus packet, RFC 6716 [ms] */
	MAX_TX   = 2880,           /**< 60 ms at 48 kHz [samples]          */
};

struct xcode {
	struct xcode_conf c;
	struct xcode_stats st;

	/* inbound */
	uint32_t dec_rate;         /**< rate of decoded audio [Hz]         */
	uint32_t slot_samples;     /**< 20 ms at dec_rate                  */
	struct opusc_dec *odec;
	struct resamp *rs_in;      /**< dec_rate -> agent, NULL if equal   */
	struct plc *plc;           /**< G.711 concealment                  */
	struct cng *cng;           /**< G.711 comfort noise (RFC 3389)     */
	bool last_lost;            /**< previous slot was concealed        */
	int16_t *cache;            /**< last decoded Opus packet (Opus only) */
	uint32_t cache_max;        /**< its room: OPUS_MAX_MS at dec_rate  */
	int cache_n;               /**< its samples at dec_rate, -1 none   */
	uint32_t silent_run;       /**< Opus: silence in a row [samples]   */
	uint16_t cache_seq;
	uint32_t cache_ts;

	/* outbound */
	uint32_t enc_rate;         /**< rate the encoder takes [Hz]        */
	struct opusc_enc *oenc;
	struct resamp *rs_out;     /**< agent -> enc_rate, NULL if equal   */
};


static void destructor(void *arg)
{
	struct xcode *x = arg;

	mem_deref(x->odec);
	mem_deref(x->oenc);
	mem_deref(x->rs_in);
	mem_deref(x->rs_out);
	mem_deref(x->plc);
	mem_deref(x->cng);
	mem_deref(x->cache);
}


/* G.711 both ways at 8 kHz: concealment and comfort noise inbound */
static int setup_g711(struct xcode *x)
{
	int err;

	x->dec_rate = 8000;
	x->enc_rate = 8000;

	err = plc_alloc(&x->plc, 8000);
	if (err)
		return err;

	return cng_alloc(&x->cng, 8000, rand_u32());
}


/* Opus: decode and encode at the agent's rate when libopus can, else at
   48 kHz; the encoder as the peer's fmtp asks */
static int setup_opus(struct xcode *x, const struct xcode_conf *conf)
{
	struct opusc_enc_conf ec;
	struct opusc_fmtp fmtp;
	int err;

	opusc_fmtp_parse(&fmtp, conf->fmtp);
	x->dec_rate = opusc_rate_valid(conf->agent_rate) ?
		conf->agent_rate : 48000;
	x->enc_rate = x->dec_rate;
	err = opusc_dec_alloc(&x->odec, x->dec_rate);
	if (err)
		return err;

	x->cache_max = x->dec_rate / 1000 * OPUS_MAX_MS;
	x->cache = mem_alloc(x->cache_max * sizeof(*x->cache), NULL);
	if (!x->cache)
		return ENOMEM;

	memset(&ec, 0, sizeof(ec));
	ec.rate = x->enc_rate;
	ec.complexity = conf->opus_complexity;
	ec.bitrate = conf->opus_bitrate;
	if (fmtp.maxaveragebitrate &&
	    fmtp.maxaveragebitrate < ec.bitrate)
		ec.bitrate = fmtp.maxaveragebitrate;
	ec.fec = fmtp.useinbandfec;
	ec.dtx = fmtp.usedtx;
	ec.cbr = fmtp.cbr;
	ec.max_bandwidth_hz = fmtp.maxplaybackrate;

	return opusc_enc_alloc(&x->oenc, &ec);
}


/* a converter each way where the codec's rate is not the agent's */
static int setup_resamplers(struct xcode *x, const struct xcode_conf *conf)
{
	int err;

	if (x->dec_rate != conf->agent_rate) {
		err = resamp_alloc(&x->rs_in, x->dec_rate, conf->agent_rate,
				   conf->resample_quality);
		if (err)
			return err;
	}

	if (conf->agent_rate != x->enc_rate) {
		err = resamp_alloc(&x->rs_out, conf->agent_rate, x->enc_rate,
				   conf->resample_quality);
		if (err)
			return err;
	}

	return 0;
}


/**
 * Set up the conversion for a call
 *
 * @param xp    Pointer to allocated state
 * @param conf  What the call and the agent speak
 *
 * @return 0 if success, otherwise errorcode
 */
int xcode_alloc(struct xcode **xp, const struct xcode_conf *conf)
{
	struct xcode *x;
	int err;

	if (!xp || !conf || !conf->agent_rate || !conf->tx_ms)
		return EINVAL;

	if (!conf->agent_l16 && conf->agent_rate != 8000)
		return EINVAL;   /* µ-law is 8 kHz only */

	x = mem_zalloc(sizeof(*x), destructor);
	if (!x)
		return ENOMEM;

	x->c = *conf;
	x->c.fmtp = NULL;
	x->cache_n = -1;

	switch (conf->codec) {

	case CODEC_PCMU:
	case CODEC_PCMA:
		err = setup_g711(x);
		break;

	case CODEC_OPUS:
		err = setup_opus(x, conf);
		break;

	default:
		err = ENOTSUP;
		break;
	}
	if (err)
		goto out;

	x->slot_samples = x->dec_rate / 50;

	err = setup_resamplers(x, conf);

 out:
	if (err)
		mem_deref(x);
	else
		*xp = x;

	return err;
}


/** Bytes of agent audio in ms milliseconds */
size_t xcode_agent_bytes(const struct xcode *x, uint32_t ms)
{
	size_t samples = (size_t)x->c.agent_rate * ms / 1000;

	return x->c.agent_l16 ? 2 * samples : samples;
}


/** The byte value of silence in the agent's format */
uint8_t xcode_agent_silence(const struct xcode *x)
{
	return x->c.agent_l16 ? 0x00 : 0xff;
}


static void g711_dec(const struct xcode *x, int16_t *pcm,
		     const uint8_t *src, size_t n)
{
	if (x->c.codec == CODEC_PCMU)
		g711_ulaw_decode(pcm, src, n);
	else
		g711_alaw_decode(pcm, src, n);
}


/* decode (or take from the cache) a whole Opus packet */
static int opus_packet(struct xcode *x, const struct jb_seg *seg)
{
	int n;

	if (x->cache_n >= 0 && x->cache_seq == seg->seq &&
	    x->cache_ts == seg->ts - seg->off)
		return x->cache_n;

	n = opusc_decode(x->odec, seg->payload, seg->len, x->cache,
			 (int)x->cache_max);
	if (n < 0) {
		++x->st.decode_errors;
		x->cache_n = -1;
		return n;
	}

	x->cache_n = n;
	x->cache_seq = seg->seq;
	x->cache_ts = seg->ts - seg->off;

	return n;
}


/* one Opus segment into pcm (n samples at dec_rate); true if it was
   lost or would not decode (concealed, or recovered by FEC) */
static bool opus_seg(struct xcode *x, const struct jb_seg *seg,
		     int16_t *pcm, uint32_t n)
{
	bool lost = true;
	uint32_t off;
	int got;

	switch (seg->kind) {

	case JB_FRAME:
		x->silent_run = 0;
		got = opus_packet(x, seg);
		off = (uint32_t)((uint64_t)seg->off * x->dec_rate /
				 x->c.clock_rate);
		if (got < 0 || off + n > (uint32_t)got)
			goto conceal;
		memcpy(pcm, x->cache + off, n * sizeof(int16_t));
		return false;

	case JB_LOST:
		x->silent_run = 0;
		if (seg->payload && seg->len) {
			int next = opusc_packet_samples(seg->payload,
							seg->len,
							x->dec_rate);
			/* FEC holds the frame right before the next packet:
			   conceal what lies before it, recover the rest */
			if (next > 0 && (uint32_t)next <= n) {
				uint32_t head = n - (uint32_t)next;

				if (head)
					(void)opusc_conceal(x->odec, pcm,
							    (int)head);
				if (opusc_decode_fec(x->odec, seg->payload,
						     seg->len, pcm + head,
						     next) == next) {
					++x->st.fec;
					return true;
				}
			}
		}
		goto conceal;

	default:
		/* silence (DTX or a pause): the decoder's PLC makes the
		   comfort noise that fades out; past that, plain zeros cost
		   nothing */
		lost = false;
		if (x->silent_run > x->dec_rate * 60 / 1000) {
			memset(pcm, 0, n * sizeof(int16_t));
			x->silent_run += n;
			return false;
		}
		x->silent_run += n;
		break;
	}

 conceal:
	got = opusc_conceal(x->odec, pcm, (int)n);
	if (got != (int)n)
		memset(pcm, 0, n * sizeof(int16_t));

	return lost;
}


static int agent_encode(struct xcode *x, const int16_t *pcm, uint32_t n,
			uint8_t *out, size_t size)
{
	int16_t rs[MAX_SLOT];
	int m;

	if (x->rs_in) {
		m = resamp_process(x->rs_in, pcm, n, rs, MAX_SLOT);
		if (m < 0)
			return m;
		pcm = rs;
		n = (uint32_t)m;
	}

	if (x->c.agent_l16) {
		if (size < 2 * (size_t)n)
			return -ENOSPC;
		for (uint32_t i = 0; i < n; i++) {
			out[2 * i]     = (uint8_t)(pcm[i] & 0xff);
			out[2 * i + 1] = (uint8_t)((uint16_t)pcm[i] >> 8);
		}
		return (int)(2 * n);
	}

	if (size < n)
		return -ENOSPC;
	g711_ulaw_encode(out, pcm, n);

	return (int)n;
}


/**
 * Turn one jitter buffer slot into one 20 ms agent frame
 *
 * @param x     Conversion state
 * @param slot  The slot
 * @param out   Agent frame
 * @param size  Size of out [bytes]
 *
 * @return bytes written (xcode_agent_bytes(x, 20)), or a negative errno
 */
int xcode_decode_slot(struct xcode *x, const struct jb_out *slot,
		      uint8_t *out, size_t size)
{
	const struct jb_seg *s0 = &slot->seg[0];
	int16_t pcm[MAX_SLOT];
	uint32_t pos = 0;
	bool lost = false;

	if (!x || !slot || !out || !slot->nseg)
		return -EINVAL;

	/* G.711 fast path: one whole good packet, µ-law agent */
	if (x->c.codec != CODEC_OPUS && !x->c.agent_l16 && slot->nseg == 1 &&
	    s0->kind == JB_FRAME && s0->n == 160 && s0->off + 160 <= s0->len &&
	    !x->last_lost && size >= 160) {

		const uint8_t *src = s0->payload + s0->off;

		if (x->c.codec == CODEC_PCMU)
			memcpy(out, src, 160);
		else
			g711_alaw_to_ulaw(out, src, 160);

		g711_dec(x, pcm, src, 160);
		(void)plc_good(x->plc, pcm, 160);
		++x->st.passthrough;

		return 160;
	}

	for (unsigned i = 0; i < slot->nseg && pos < x->slot_samples; i++) {
		const struct jb_seg *seg = &slot->seg[i];
		uint32_t n = (uint32_t)((uint64_t)seg->n * x->dec_rate /
					x->c.clock_rate);

		if (n > x->slot_samples - pos)
			n = x->slot_samples - pos;

		if (x->c.codec == CODEC_OPUS) {
			if (opus_seg(x, seg, pcm + pos, n))
				lost = true;
		}
		else if (seg->kind == JB_FRAME && seg->payload &&
			 seg->off + n <= seg->len) {
			/* a good frame after a loss is cross-faded by plc */
			g711_dec(x, pcm + pos, seg->payload + seg->off, n);
			(void)plc_good(x->plc, pcm + pos, n);
		}
		else if (seg->kind == JB_FRAME || seg->kind == JB_LOST) {
			lost = true;
			(void)plc_conceal(x->plc, pcm + pos, n);
		}
		else {
			/* silence: comfort noise at the level the peer sent
			   (RFC 3389), or nothing when it sent none */
			if (seg->payload && seg->len &&
			    !cng_decode(x->cng, seg->payload, seg->len))
				(void)cng_generate(x->cng, pcm + pos, n);
			else
				memset(pcm + pos, 0, n * sizeof(int16_t));
			(void)plc_good(x->plc, pcm + pos, n);
		}

		pos += n;
	}

	if (pos < x->slot_samples)
		memset(pcm + pos, 0, (x->slot_samples - pos) * sizeof(int16_t));

	x->last_lost = lost;
	if (lost)
		++x->st.concealed;
	else
		++x->st.decoded;

	return agent_encode(x, pcm, x->slot_samples, out, size);
}


/**
 * Turn one packet time of agent audio into one RTP payload
 *
 * @param x        Conversion state
 * @param agent    Agent audio, xcode_agent_bytes(x, tx_ms) bytes
 * @param len      Its length
 * @param payload  RTP payload
 * @param size     Size of payload [bytes]
 *
 * @return payload length, or a negative errno
 */
int xcode_encode(struct xcode *x, const uint8_t *agent, size_t len,
		 uint8_t *payload, size_t size)
{
	int16_t pcm[MAX_TX], rs[MAX_TX];
	const int16_t *in = pcm;
	uint32_t n;
	int m;

	if (!x || !agent || !payload)
		return -EINVAL;

	/* µ-law agent to G.711: bytes only */
	if (!x->c.agent_l16 && x->c.codec != CODEC_OPUS) {
		if (size < len)
			return -ENOSPC;
		if (x->c.codec == CODEC_PCMU)
			memcpy(payload, agent, len);
		else
			g711_ulaw_to_alaw(payload, agent, len);
		return (int)len;
	}

	if (x->c.agent_l16) {
		n = (uint32_t)(len / 2);
		if (n > MAX_TX)
			return -ENOSPC;
		for (uint32_t i = 0; i < n; i++)
			pcm[i] = (int16_t)(agent[2 * i] |
					   (agent[2 * i + 1] << 8));
	}
	else {
		n = (uint32_t)len;
		if (n > MAX_TX)
			return -ENOSPC;
		g711_ulaw_decode(pcm, agent, n);
	}

	if (x->rs_out) {
		m = resamp_process(x->rs_out, pcm, n, rs, MAX_TX);
		if (m < 0)
			return m;
		in = rs;
		n = (uint32_t)m;
	}

	switch (x->c.codec) {

	case CODEC_PCMU:
		if (size < n)
			return -ENOSPC;
		g711_ulaw_encode(payload, in, n);
		return (int)n;

	case CODEC_PCMA:
		if (size < n)
			return -ENOSPC;
		g711_alaw_encode(payload, in, n);
		return (int)n;

	case CODEC_OPUS:
		return opusc_encode(x->oenc, in, (int)n, payload, size);

	default:
		return -ENOTSUP;
	}
}


void xcode_stats(const struct xcode *x, struct xcode_stats *st)
{
	if (x && st)
		*st = x->st;
}
