/**
 * @file twilio.h  Twilio Media Streams wire format (and its raw variant)
 *
 * Formatting of the messages the gateway sends to an agent, and parsing of
 * the messages an agent sends back. Field names, nesting and types follow
 * Twilio exactly (counters are JSON strings); see
 * docs/twilio-media-streams.md. twilio_fmt_media() writes into the
 * caller's buffer and allocates nothing, because `media` goes out 50 times
 * a second per call; so do connected, dtmf and stop. start (allocated
 * text) and mark (names to escape) go through jansson.
 */
#ifndef CB_TWILIO_H
#define CB_TWILIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "cb_re.h"
#include "sid.h"


/** The identifiers of one stream */
struct twilio_ids {
	char account_sid[SID_LEN + 1];
	char call_sid[SID_LEN + 1];
	char stream_sid[SID_LEN + 1];
};

/** Audio format advertised in start.mediaFormat */
struct twilio_fmt {
	bool l16;             /**< audio/l16, else audio/x-mulaw */
	uint32_t srate;       /**< sample rate [Hz]              */
	bool raw;             /**< raw protocol: "protocol":"raw" in start */
};


int twilio_fmt_connected(char *buf, size_t sz);
int twilio_fmt_start(char **bufp, uint32_t seq, const struct twilio_ids *ids,
		     const struct twilio_fmt *fmt, const json_t *custom);
int twilio_fmt_media(char *buf, size_t sz, uint32_t seq,
		     const char *stream_sid, uint32_t chunk, uint64_t ts,
		     const uint8_t *audio, size_t len);
int twilio_fmt_mark(char *buf, size_t sz, uint32_t seq,
		    const char *stream_sid, const char *name);
int twilio_fmt_dtmf(char *buf, size_t sz, uint32_t seq,
		    const char *stream_sid, char digit);
int twilio_fmt_stop(char *buf, size_t sz, uint32_t seq,
		    const struct twilio_ids *ids);

size_t twilio_media_size(size_t audio_len);

/** Events an agent may send */
enum twilio_event {
	TWILIO_EV_UNKNOWN = 0, /**< valid JSON, event we ignore    */
	TWILIO_EV_MEDIA,
	TWILIO_EV_MARK,
	TWILIO_EV_CLEAR,
	TWILIO_EV_DTMF,        /**< callbridge extension           */
};

/** One parsed agent message; pointers are valid while `json` lives */
struct twilio_in {
	enum twilio_event ev;
	const char *payload;  /**< MEDIA: base64 text              */
	size_t payload_len;   /**< MEDIA: length of payload [bytes] */
	const char *mark;     /**< MARK: name, NULL if absent      */
	char digit;           /**< DTMF: 0-9 * # A-D               */
	uint32_t duration;    /**< DTMF: duration [ms], 0 = default */
	json_t *json;         /**< owner of the strings above      */
};

int  twilio_parse(struct twilio_in *in, const char *text, size_t len,
		  char *err, size_t errsz);
/* jansson only: twilio_parse()'s path for all but plain media; exported
   for test_twilio, which checks the fast path against it */
int  twilio_parse_dom(struct twilio_in *in, const char *text, size_t len,
		      char *err, size_t errsz);
void twilio_in_reset(struct twilio_in *in);

#endif
