/**
 * @file codec.c  Audio codec names and clock rates
 */
#include <strings.h>
#include "codec.h"

static const struct {
	const char *name;
	uint32_t clock_rate;
} codecs[CODEC_COUNT] = {
	[CODEC_PCMU] = {"PCMU", 8000},
	[CODEC_PCMA] = {"PCMA", 8000},
	[CODEC_OPUS] = {"opus", 48000},
};


/** SDP encoding name of a codec ("PCMU", "PCMA", "opus") */
const char *codec_name(enum codec_id id)
{
	if (id < 0 || id >= CODEC_COUNT)
		return "none";

	return codecs[id].name;
}


/** Codec by SDP encoding name, case-insensitive; CODEC_NONE if unknown */
enum codec_id codec_from_name(const char *name)
{
	for (int i = 0; name && i < CODEC_COUNT; i++) {
		if (!strcasecmp(name, codecs[i].name))
			return (enum codec_id)i;
	}

	return CODEC_NONE;
}


/** RTP clock rate of a codec [Hz] */
uint32_t codec_clock_rate(enum codec_id id)
{
	if (id < 0 || id >= CODEC_COUNT)
		return 0;

	return codecs[id].clock_rate;
}
