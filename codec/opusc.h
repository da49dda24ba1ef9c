/**
 * @file opusc.h  Opus for RTP (RFC 7587): fmtp, encoder, decoder
 *
 * Prefix opusc_ (libopus owns opus_). The RTP clock is always 48 kHz; the
 * encoder takes and the decoder gives 8, 12, 16, 24 or 48 kHz directly,
 * so no resampler is needed when the agent runs at one of those rates.
 */
#ifndef CB_OPUSC_H
#define CB_OPUSC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** The parameters of an a=fmtp line for opus (RFC 7587 section 6.1) */
struct opusc_fmtp {
	uint32_t maxplaybackrate;      /**< peer decodes up to [Hz]     */
	uint32_t sprop_maxcapturerate; /**< peer captures up to [Hz]    */
	uint32_t maxaveragebitrate;    /**< peer wants at most [bit/s], 0 */
	uint32_t ptime;                /**< peer's packet time [ms], 0  */
	uint32_t minptime;             /**< [ms], 0 if absent           */
	bool stereo;                   /**< peer prefers to get stereo  */
	bool sprop_stereo;             /**< peer may send stereo        */
	bool useinbandfec;             /**< peer wants FEC from us      */
	bool usedtx;                   /**< peer wants DTX from us      */
	bool cbr;                      /**< peer wants constant bitrate */
};

void opusc_fmtp_parse(struct opusc_fmtp *f, const char *fmtp);
bool opusc_rate_valid(uint32_t rate);
int  opusc_packet_samples(const uint8_t *pkt, size_t len, uint32_t rate);

struct opusc_dec;
int  opusc_dec_alloc(struct opusc_dec **dp, uint32_t rate);
int  opusc_decode(struct opusc_dec *d, const uint8_t *pkt, size_t len,
		  int16_t *pcm, int max_samples);
int  opusc_decode_fec(struct opusc_dec *d, const uint8_t *next,
		      size_t len, int16_t *pcm, int samples);
int  opusc_conceal(struct opusc_dec *d, int16_t *pcm, int samples);

/** Encoder bitrates accepted (RFC 7587 maxaveragebitrate range) [bit/s] */
#define OPUSC_BITRATE_MIN 6000
#define OPUSC_BITRATE_MAX 510000

/** Encoder settings */
struct opusc_enc_conf {
	uint32_t rate;        /**< input sample rate [Hz]         */
	uint32_t complexity;  /**< 0..10                          */
	uint32_t bitrate;     /**< [bit/s], 0 for libopus's choice */
	bool fec;             /**< in-band FEC                    */
	bool dtx;             /**< discontinuous transmission     */
	bool cbr;             /**< constant bitrate               */
	uint32_t max_bandwidth_hz; /**< peer's maxplaybackrate, 0 = any */
};

struct opusc_enc;
int  opusc_enc_alloc(struct opusc_enc **ep, const struct opusc_enc_conf *c);
int  opusc_encode(struct opusc_enc *e, const int16_t *pcm, int samples,
		  uint8_t *out, size_t size);

#endif
