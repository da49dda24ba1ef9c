/**
 * @file codec.h  Audio codecs the gateway speaks to carriers
 */
#ifndef CB_CODEC_H
#define CB_CODEC_H

#include <stdint.h>

enum codec_id {
	CODEC_NONE = -1,
	CODEC_PCMU = 0,       /**< G.711 µ-law, 8 kHz, static PT 0 */
	CODEC_PCMA,           /**< G.711 A-law, 8 kHz, static PT 8 */
	CODEC_OPUS,           /**< Opus, RTP clock 48 kHz          */
	CODEC_COUNT
};

/** Default preference when neither number nor trunk sets one */
#define CODEC_DEFAULT_PREFS { CODEC_PCMU, CODEC_PCMA, CODEC_OPUS }

const char   *codec_name(enum codec_id id);
uint32_t      codec_clock_rate(enum codec_id id);

#endif
