/**
 * @file xcode.h  One call's audio conversion: carrier codec <-> agent format
 *
 *   in:  jitter buffer slot (20 ms) -> decode / conceal / comfort noise
 *        -> resample -> agent format (µ-law 8 kHz or 16-bit LE PCM)
 *   out: agent audio (one packet time) -> resample -> encode -> payload
 */
#ifndef CB_XCODE_H
#define CB_XCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "codec.h"

struct jb_out;
struct xcode;

struct xcode_conf {
	enum codec_id codec;       /**< the call's codec                  */
	uint32_t clock_rate;       /**< its RTP clock [Hz]                */
	const char *fmtp;          /**< the peer's fmtp (Opus), or NULL   */
	uint32_t tx_ms;            /**< packet time we send [ms]          */
	bool agent_l16;            /**< agent speaks 16-bit LE PCM        */
	uint32_t agent_rate;       /**< agent sample rate [Hz]            */
	uint32_t opus_complexity;  /**< 0..10                             */
	uint32_t opus_bitrate;     /**< [bit/s]                           */
	uint32_t resample_quality; /**< SpeexDSP 0..10                    */
};

/** Counters of what the conversion did */
struct xcode_stats {
	uint64_t passthrough;      /**< slots copied without decoding     */
	uint64_t decoded;          /**< slots decoded                     */
	uint64_t concealed;        /**< slots with concealment (PLC)      */
	uint64_t fec;              /**< lost frames recovered by Opus FEC */
	uint64_t decode_errors;    /**< corrupt payloads                  */
};

int    xcode_alloc(struct xcode **xp, const struct xcode_conf *conf);
size_t xcode_agent_bytes(const struct xcode *x, uint32_t ms);
uint8_t xcode_agent_silence(const struct xcode *x);
int    xcode_decode_slot(struct xcode *x, const struct jb_out *slot,
			 uint8_t *out, size_t size);
int    xcode_encode(struct xcode *x, const uint8_t *agent, size_t len,
		    uint8_t *payload, size_t size);
void   xcode_stats(const struct xcode *x, struct xcode_stats *st);

#endif
