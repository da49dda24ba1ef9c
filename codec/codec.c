/**
 * @file codec.c  Audio codec names and clock rates
 */
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


/** RTP clock rate of a codec [Hz] */
uint32_t codec_clock_rate(enum codec_id id)
{
	if (id < 0 || id >= CODEC_COUNT)
		return 0;

	return codecs[id].clock_rate;
}
