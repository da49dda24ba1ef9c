/**
 * @file twilio.c  Twilio Media Streams wire format
 *
 * Outgoing `media` is formatted by hand into the caller's buffer (no JSON
 * DOM on the per-frame path); the rare messages (start, mark echoes with
 * arbitrary names) go through jansson so that escaping is always right.
 *
 * Incoming: agents send `media` 50 times a second (or more), and building
 * a jansson DOM for each was the largest cost in the gateway's profile. So
 * a scanner validates the frame as JSON without allocating and picks out
 * event and media.payload; it answers only when the frame is plain ASCII
 * JSON whose event is "media" with an unescaped payload string. Anything
 * else (other events, \u escapes, non-ASCII, a duplicate key in any
 * object, an object of over SCAN_KEYS keys, reals and long integers,
 * errors) goes to jansson, which decides exactly as before. Unknown events and fields are
 * ignored; wrong types are an error for that message only.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "cb_re.h"
#include "b64.h"
#include "twilio.h"


static int fmt_ret(int n, size_t sz)
{
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= sz)
		return -ENOSPC;
	return n;
}


/**
 * Format the `connected` message
 *
 * @return length written, or a negative errorcode
 */
int twilio_fmt_connected(char *buf, size_t sz)
{
	return fmt_ret(snprintf(buf, sz, "{\"event\":\"connected\","
				"\"protocol\":\"Call\",\"version\":\"1.0.0\"}"),
		       sz);
}


/**
 * Format the `start` message
 *
 * @param bufp    Allocated (malloc) text, caller frees
 * @param seq     sequenceNumber
 * @param ids     Stream identifiers
 * @param fmt     Audio format sent to the agent
 * @param custom  customParameters object (string values)
 *
 * @return length of the text, or a negative errorcode
 */
int twilio_fmt_start(char **bufp, uint32_t seq, const struct twilio_ids *ids,
		     const struct twilio_fmt *fmt, const json_t *custom)
{
	json_t *root, *start, *mf;
	char seqs[16];
	char *txt;
	int n;

	snprintf(seqs, sizeof(seqs), "%u", seq);

	mf = json_pack("{s:s, s:I, s:i}",
		       "encoding", fmt->l16 ? "audio/l16" : "audio/x-mulaw",
		       "sampleRate", (json_int_t)fmt->srate,
		       "channels", 1);
	start = json_pack("{s:s, s:s, s:s, s:[s], s:O, s:o}",
			  "accountSid", ids->account_sid,
			  "streamSid", ids->stream_sid,
			  "callSid", ids->call_sid,
			  "tracks", "inbound",
			  "customParameters", custom ? custom : json_object(),
			  "mediaFormat", mf);
	if (!start)
		return -ENOMEM;

	root = json_pack("{s:s, s:s, s:o, s:s}",
			 "event", "start",
			 "sequenceNumber", seqs,
			 "start", start,
			 "streamSid", ids->stream_sid);
	if (!root)
		return -ENOMEM;

	/* the raw protocol says so up front: audio follows in binary frames */
	if (fmt->raw)
		json_object_set_new(root, "protocol", json_string("raw"));

	txt = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (!txt)
		return -ENOMEM;

	n = (int)strlen(txt);
	*bufp = txt;

	return n;
}


/** Buffer size that twilio_fmt_media() needs for audio_len bytes */
size_t twilio_media_size(size_t audio_len)
{
	return 256 + SID_LEN + 4 * ((audio_len + 2) / 3);
}


static char *put_u64(char *p, uint64_t v)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);

	while (n)
		*p++ = tmp[--n];

	return p;
}


static char *put_str(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

#define PUT_LIT(p, lit) put_str((p), (lit), sizeof(lit) - 1)


/**
 * Format a `media` message
 *
 * @param buf         Output buffer, twilio_media_size() bytes
 * @param sz          Size of buf
 * @param seq         sequenceNumber
 * @param stream_sid  streamSid
 * @param chunk       media.chunk, counts media messages from 1
 * @param ts          media.timestamp [ms] since the stream started
 * @param audio       Raw audio (µ-law bytes or 16-bit LE PCM)
 * @param len         Length of audio [bytes]
 *
 * @return length written, or a negative errorcode
 */
int twilio_fmt_media(char *buf, size_t sz, uint32_t seq,
		     const char *stream_sid, uint32_t chunk, uint64_t ts,
		     const uint8_t *audio, size_t len)
{
	size_t sidlen = strlen(stream_sid);
	char *p = buf;

	if (sidlen > SID_LEN || sz < twilio_media_size(len))
		return -ENOSPC;

	p = PUT_LIT(p, "{\"event\":\"media\",\"sequenceNumber\":\"");
	p = put_u64(p, seq);
	p = PUT_LIT(p, "\",\"media\":{\"track\":\"inbound\",\"chunk\":\"");
	p = put_u64(p, chunk);
	p = PUT_LIT(p, "\",\"timestamp\":\"");
	p = put_u64(p, ts);
	p = PUT_LIT(p, "\",\"payload\":\"");
	p += b64_encode(p, audio, len);
	p = PUT_LIT(p, "\"},\"streamSid\":\"");
	p = put_str(p, stream_sid, sidlen);
	p = PUT_LIT(p, "\"}");
	*p = '\0';

	return (int)(p - buf);
}


static int fmt_json(char *buf, size_t sz, json_t *root)
{
	size_t n;

	if (!root)
		return -ENOMEM;

	n = json_dumpb(root, buf, sz, JSON_COMPACT);
	json_decref(root);
	if (n == 0)
		return -EINVAL;
	if (n >= sz)
		return -ENOSPC;

	buf[n] = '\0';
	return (int)n;
}


/**
 * Format a `mark` message (the echo of an agent's mark)
 *
 * @param name  Mark name; NULL (a mark sent without one) echoes as ""
 */
int twilio_fmt_mark(char *buf, size_t sz, uint32_t seq,
		    const char *stream_sid, const char *name)
{
	char seqs[16];

	snprintf(seqs, sizeof(seqs), "%u", seq);

	return fmt_json(buf, sz, json_pack("{s:s, s:s, s:s, s:{s:s}}",
					   "event", "mark",
					   "sequenceNumber", seqs,
					   "streamSid", stream_sid,
					   "mark", "name", name ? name : ""));
}


/** Format a `dtmf` message: one per key press */
int twilio_fmt_dtmf(char *buf, size_t sz, uint32_t seq,
		    const char *stream_sid, char digit)
{
	return fmt_ret(snprintf(buf, sz, "{\"event\":\"dtmf\","
				"\"streamSid\":\"%s\","
				"\"sequenceNumber\":\"%u\","
				"\"dtmf\":{\"track\":\"inbound_track\","
				"\"digit\":\"%c\"}}",
				stream_sid, seq, digit), sz);
}


/** Format the `stop` message */
int twilio_fmt_stop(char *buf, size_t sz, uint32_t seq,
		    const struct twilio_ids *ids)
{
	return fmt_ret(snprintf(buf, sz, "{\"event\":\"stop\","
				"\"sequenceNumber\":\"%u\","
				"\"streamSid\":\"%s\","
				"\"stop\":{\"accountSid\":\"%s\","
				"\"callSid\":\"%s\"}}",
				seq, ids->stream_sid, ids->account_sid,
				ids->call_sid), sz);
}


/** Release what twilio_parse() holds */
void twilio_in_reset(struct twilio_in *in)
{
	if (!in)
		return;

	json_decref(in->json);
	memset(in, 0, sizeof(*in));
}


/*
 * The media fast path: a validating JSON scanner that allocates nothing.
 * It returns FAST_OK only for frames it fully understood; FAST_NO sends
 * the frame to jansson.
 */
enum {
	FAST_OK = 0, FAST_NO = 1,
	SCAN_DEPTH = 32,        /**< nesting the scanner follows          */
	SCAN_KEYS = 16,         /**< keys of one object it checks for
				     duplicates (more: jansson decides)   */
	SCAN_INT_DIGITS = 18,   /**< an integer surely within json_int_t  */
};

struct scan {
	const char *p, *end;
};


static void scan_ws(struct scan *sc)
{
	while (sc->p < sc->end && (*sc->p == ' ' || *sc->p == '\t' ||
				   *sc->p == '\n' || *sc->p == '\r'))
		++sc->p;
}


/* characters that end a plain run inside a string: '"', '\\', controls,
   and bytes >= 0x80 (UTF-8 goes to jansson, which validates it) */
static const uint8_t str_stop[256] = {
	[0x00 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, [0x80 ... 0xff] = 1,
};


/* a string; *plain is false if it has escapes. 0 or FAST_NO */
static int scan_string(struct scan *sc, const char **str, size_t *len,
		       bool *plain)
{
	const unsigned char *p, *end = (const unsigned char *)sc->end;
	const char *start;

	*plain = true;
	if (sc->p >= sc->end || *sc->p != '"')
		return FAST_NO;

	start = ++sc->p;
	p = (const unsigned char *)sc->p;

	for (;;) {
		while (p < end && !str_stop[*p])
			++p;

		if (p >= end || *p < 0x20 || *p >= 0x80)
			return FAST_NO;   /* unterminated, invalid, or UTF-8 */

		if (*p == '"') {
			*str = start;
			*len = (size_t)((const char *)p - start);
			sc->p = (const char *)p + 1;
			return 0;
		}

		/* a backslash escape; \\u goes to jansson, which refuses
		   lone surrogates and NUL */
		*plain = false;
		if (++p >= end || *p == 'u' || !*p ||
		    !strchr("\"\\/bfnrt", *p))
			return FAST_NO;
		++p;
	}
}


/*
 * An integer that jansson surely reads: up to SCAN_INT_DIGITS digits.
 * Longer ones may overflow json_int_t, and reals (a fraction or an
 * exponent) may overflow a double, both of which jansson refuses: those
 * go to jansson (agents' media messages have no numbers at all).
 */
static int scan_number(struct scan *sc)
{
	const char *s0;

	if (sc->p < sc->end && *sc->p == '-')
		++sc->p;
	if (sc->p < sc->end && *sc->p == '0') {
		++sc->p;
	}
	else {
		s0 = sc->p;
		while (sc->p < sc->end && *sc->p >= '0' && *sc->p <= '9')
			++sc->p;
		if (sc->p == s0 || sc->p - s0 > SCAN_INT_DIGITS)
			return FAST_NO;
	}

	if (sc->p < sc->end && (*sc->p == '.' || *sc->p == 'e' ||
				*sc->p == 'E'))
		return FAST_NO;

	return 0;
}


static int scan_lit(struct scan *sc, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(sc->end - sc->p) < n || memcmp(sc->p, lit, n))
		return FAST_NO;
	sc->p += n;

	return 0;
}


static int scan_value(struct scan *sc, int depth);


/* an object; for each key calls back with the value position */
typedef int (scan_key_h)(struct scan *sc, const char *key, size_t klen,
			 int depth, void *arg);

struct scan_key {
	const char *key;
	size_t len;
};


/* a key seen before in this object (jansson refuses duplicates) */
static bool key_dup(const struct scan_key *seen, size_t n, const char *key,
		    size_t klen)
{
	for (size_t i = 0; i < n; i++) {
		if (seen[i].len == klen && !memcmp(seen[i].key, key, klen))
			return true;
	}

	return false;
}


static int scan_object(struct scan *sc, int depth, scan_key_h *kh,
		       void *arg)
{
	struct scan_key seen[SCAN_KEYS];
	size_t nkeys = 0;

	if (depth > SCAN_DEPTH || sc->p >= sc->end || *sc->p != '{')
		return FAST_NO;
	++sc->p;
	scan_ws(sc);
	if (sc->p < sc->end && *sc->p == '}') {
		++sc->p;
		return 0;
	}

	for (;;) {
		const char *key;
		size_t klen;
		bool plain;
		int err;

		if (scan_string(sc, &key, &klen, &plain) || !plain ||
		    nkeys == SCAN_KEYS || key_dup(seen, nkeys, key, klen))
			return FAST_NO;
		seen[nkeys].key = key;
		seen[nkeys++].len = klen;
		scan_ws(sc);
		if (sc->p >= sc->end || *sc->p != ':')
			return FAST_NO;
		++sc->p;
		scan_ws(sc);

		err = kh ? kh(sc, key, klen, depth, arg) :
			scan_value(sc, depth + 1);
		if (err)
			return err;

		scan_ws(sc);
		if (sc->p >= sc->end)
			return FAST_NO;
		if (*sc->p == '}') {
			++sc->p;
			return 0;
		}
		if (*sc->p != ',')
			return FAST_NO;
		++sc->p;
		scan_ws(sc);
	}
}


static int scan_array(struct scan *sc, int depth)
{
	if (depth > SCAN_DEPTH)
		return FAST_NO;
	++sc->p;
	scan_ws(sc);
	if (sc->p < sc->end && *sc->p == ']') {
		++sc->p;
		return 0;
	}

	for (;;) {
		if (scan_value(sc, depth + 1))
			return FAST_NO;
		scan_ws(sc);
		if (sc->p >= sc->end)
			return FAST_NO;
		if (*sc->p == ']') {
			++sc->p;
			return 0;
		}
		if (*sc->p != ',')
			return FAST_NO;
		++sc->p;
		scan_ws(sc);
	}
}


static int scan_value(struct scan *sc, int depth)
{
	const char *str;
	size_t len;
	bool plain;

	if (sc->p >= sc->end)
		return FAST_NO;

	switch (*sc->p) {
	case '"': return scan_string(sc, &str, &len, &plain);
	case '{': return scan_object(sc, depth, NULL, NULL);
	case '[': return scan_array(sc, depth);
	case 't': return scan_lit(sc, "true");
	case 'f': return scan_lit(sc, "false");
	case 'n': return scan_lit(sc, "null");
	default:  return scan_number(sc);
	}
}


struct media_scan {
	const char *event, *payload;
	size_t event_len, payload_len;
	unsigned n_event, n_media, n_payload;
};


static int media_key(struct scan *sc, const char *key, size_t klen,
		     int depth, void *arg)
{
	struct media_scan *ms = arg;
	bool plain;

	if (klen == 7 && !memcmp(key, "payload", 7)) {
		if (++ms->n_payload > 1 ||
		    scan_string(sc, &ms->payload, &ms->payload_len, &plain) ||
		    !plain)
			return FAST_NO;
		return 0;
	}

	return scan_value(sc, depth + 1);
}


static int top_key(struct scan *sc, const char *key, size_t klen,
		   int depth, void *arg)
{
	struct media_scan *ms = arg;
	bool plain;

	if (klen == 5 && !memcmp(key, "event", 5)) {
		if (++ms->n_event > 1 ||
		    scan_string(sc, &ms->event, &ms->event_len, &plain) ||
		    !plain)
			return FAST_NO;
		return 0;
	}

	if (klen == 5 && !memcmp(key, "media", 5)) {
		if (++ms->n_media > 1)
			return FAST_NO;
		return scan_object(sc, depth + 1, media_key, ms);
	}

	return scan_value(sc, depth + 1);
}


static int parse_fast(struct twilio_in *in, const char *text, size_t len)
{
	struct media_scan ms;
	struct scan sc;

	memset(&ms, 0, sizeof(ms));
	sc.p = text;
	sc.end = text + len;

	scan_ws(&sc);
	if (scan_object(&sc, 0, top_key, &ms))
		return FAST_NO;
	scan_ws(&sc);
	if (sc.p != sc.end)
		return FAST_NO;

	if (ms.n_event != 1 || ms.event_len != 5 ||
	    memcmp(ms.event, "media", 5) || ms.n_payload != 1)
		return FAST_NO;

	memset(in, 0, sizeof(*in));
	in->ev = TWILIO_EV_MEDIA;
	in->payload = ms.payload;
	in->payload_len = ms.payload_len;

	return FAST_OK;
}


/**
 * Parse one text frame from an agent
 *
 * @param in     Parsed message (call twilio_in_reset() when done)
 * @param text   Frame text, not necessarily NUL-terminated
 * @param len    Length of text [bytes]
 * @param err    Error description on failure
 * @param errsz  Size of err
 *
 * @return 0 if success (ev may be TWILIO_EV_UNKNOWN), EBADMSG if the frame
 *         is not JSON or a known event has fields of the wrong type.
 *         The payload of a media event may point into text.
 */
int twilio_parse(struct twilio_in *in, const char *text, size_t len,
		 char *err, size_t errsz)
{
	if (parse_fast(in, text, len) == FAST_OK)
		return 0;

	return twilio_parse_dom(in, text, len, err, errsz);
}


/* a key the dtmf extension may press: 0-9 * # A-D (either case) */
static bool twilio_digit_valid(char c)
{
	return c && strchr("0123456789*#ABCDabcd", c);
}


/* media: media.payload, a string */
static int dom_media(struct twilio_in *in, char *err, size_t errsz)
{
	json_t *obj = json_object_get(in->json, "media");
	json_t *v = json_object_get(obj, "payload");

	if (!json_is_object(obj) || !json_is_string(v)) {
		snprintf(err, errsz, "media without media.payload");
		return EBADMSG;
	}

	in->ev = TWILIO_EV_MEDIA;
	in->payload = json_string_value(v);
	in->payload_len = json_string_length(v);

	return 0;
}


/* mark: mark.name, a string, null or absent; mark itself may be absent */
static int dom_mark(struct twilio_in *in, char *err, size_t errsz)
{
	json_t *obj = json_object_get(in->json, "mark");
	json_t *v;

	in->ev = TWILIO_EV_MARK;
	if (!obj || json_is_null(obj))
		return 0;     /* the OpenAI demo sends marks like this */

	if (!json_is_object(obj)) {
		snprintf(err, errsz, "mark is not an object");
		return EBADMSG;
	}

	v = json_object_get(obj, "name");
	if (v && !json_is_string(v) && !json_is_null(v)) {
		snprintf(err, errsz, "mark.name is not a string");
		return EBADMSG;
	}
	in->mark = json_string_value(v);

	return 0;
}


/* dtmf (callbridge's): dtmf.digit, dtmf.duration 40..5000 ms if given */
static int dom_dtmf(struct twilio_in *in, char *err, size_t errsz)
{
	json_t *obj = json_object_get(in->json, "dtmf");
	json_t *v = json_object_get(obj, "digit");
	json_int_t d;

	if (!json_is_object(obj) || !json_is_string(v) ||
	    json_string_length(v) != 1 ||
	    !twilio_digit_valid(json_string_value(v)[0])) {
		snprintf(err, errsz, "dtmf.digit must be one of 0-9 * # A-D");
		return EBADMSG;
	}
	in->ev = TWILIO_EV_DTMF;
	in->digit = json_string_value(v)[0];

	v = json_object_get(obj, "duration");
	if (!v)
		return 0;
	if (!json_is_integer(v)) {
		snprintf(err, errsz, "dtmf.duration is not an integer");
		return EBADMSG;
	}

	d = json_integer_value(v);
	if (d < 40 || d > 5000) {
		snprintf(err, errsz, "dtmf.duration %lld out of 40..5000 ms",
			 (long long)d);
		return EBADMSG;
	}
	in->duration = (uint32_t)d;

	return 0;
}


/**
 * Parse one text frame with jansson only (the reference the fast path
 * must agree with; twilio_parse() uses it for everything but media)
 */
int twilio_parse_dom(struct twilio_in *in, const char *text, size_t len,
		     char *err, size_t errsz)
{
	json_error_t jerr;
	const char *evs;
	json_t *ev;
	int e = 0;

	memset(in, 0, sizeof(*in));

	in->json = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!in->json) {
		snprintf(err, errsz, "not JSON: %s", jerr.text);
		return EBADMSG;
	}

	if (!json_is_object(in->json)) {
		snprintf(err, errsz, "not a JSON object");
		goto bad;
	}

	ev = json_object_get(in->json, "event");
	if (!json_is_string(ev)) {
		snprintf(err, errsz, "no \"event\" string");
		goto bad;
	}
	evs = json_string_value(ev);

	if (!strcmp(evs, "media"))
		e = dom_media(in, err, errsz);
	else if (!strcmp(evs, "mark"))
		e = dom_mark(in, err, errsz);
	else if (!strcmp(evs, "clear"))
		in->ev = TWILIO_EV_CLEAR;
	else if (!strcmp(evs, "dtmf"))
		e = dom_dtmf(in, err, errsz);
	else
		in->ev = TWILIO_EV_UNKNOWN;

	if (!e)
		return 0;

 bad:
	json_decref(in->json);
	in->json = NULL;
	in->ev = TWILIO_EV_UNKNOWN;
	return EBADMSG;
}
