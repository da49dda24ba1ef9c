/**
 * @file echo_agent.c  Example voice agent: plays the caller back to itself
 *
 * This is the agent to copy when you write your own. It is a WebSocket
 * server (callbridge connects to it, as Twilio would) that speaks the Twilio
 * Media Streams protocol, see docs/twilio-media-streams.md:
 *
 *   callbridge -> agent   connected, start, media (base64 audio every 20 ms),
 *                         dtmf, mark (the echo of our marks), stop
 *   agent -> callbridge   media (base64 audio of any length), mark, clear
 *
 * What it does: it collects the caller's audio and, every reply period
 * (--delay-ms, default 1000), sends what it heard back as a few media
 * messages followed by a mark named "reply-<n>". It sends as fast as it
 * likes: callbridge buffers the audio and plays it out in real time, and
 * echoes the mark once the reply has been played, which this agent logs.
 * It logs key presses too.
 *
 * Audio formats: whatever "start".mediaFormat announces (audio/x-mulaw at
 * 8000 Hz as Twilio sends, or callbridge's audio/l16 at 8000-48000 Hz). As
 * the agent sends back exactly the bytes it received, it needs no codec.
 * Protocol "raw" (a callbridge extension) works too: there audio travels as
 * binary frames of 16-bit little-endian PCM, 20 ms each, and only control
 * messages are JSON; the agent switches to it when it sees a binary frame
 * or "protocol": "raw" in "connected" or "start".
 *
 * Structure: one thread, one libwebsockets context, event driven: any number
 * of calls at once. Per call state lives in lws's per-session data (struct
 * call). Incoming messages may arrive in pieces and are reassembled first.
 * Outgoing frames wait in a FIFO and go out one per "writeable" callback,
 * as libwebsockets requires. The reply period is a per-connection lws timer.
 *
 * Usage: echo-agent [--addr 127.0.0.1] [--port 8089] [--delay-ms 1000] [-v]
 * Stop it with Ctrl-C (SIGINT) or SIGTERM.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libwebsockets.h>
#include <jansson.h>

enum {
	MAX_MESSAGE   = 4 << 20,  /**< largest message we accept [bytes]   */
	MAX_HEARD_SEC = 60,       /**< audio kept between replies [s]      */
	REPLY_CHUNK_MS = 200,     /**< audio per media message [ms]        */
	RAW_FRAME_MS  = 20,       /**< audio per binary frame, "raw" [ms]  */
	MAX_QUEUED    = 16 << 20, /**< bytes waiting to be sent, at most   */
};

/** Settings from the command line */
struct echo_opts {
	const char *addr;      /**< address to listen on                  */
	int port;              /**< TCP port, 0 for any                   */
	unsigned delay_ms;     /**< reply period [ms]                     */
	bool verbose;
};

/** A frame waiting to be sent */
struct frame {
	struct frame *next;
	bool binary;
	size_t len;
	unsigned char buf[];   /**< LWS_PRE bytes of room, then the payload */
};

/** One call (one WebSocket connection); lws allocates and zeroes it */
struct call {
	struct lws *wsi;
	unsigned id;            /**< for the log                          */
	char stream_sid[64];    /**< from "start"                         */
	bool started;
	bool raw;               /**< protocol "raw"                       */
	unsigned rate;          /**< sample rate [Hz]                     */
	unsigned sample_bytes;  /**< 1 (µ-law) or 2 (16-bit PCM)          */

	uint8_t *heard;         /**< caller audio since the last reply    */
	size_t heard_len, heard_cap;
	bool heard_full_logged;
	unsigned replies;       /**< replies sent, names the marks        */

	uint8_t *rx;            /**< message being reassembled            */
	size_t rx_len, rx_cap;
	bool rx_binary;

	struct frame *txq, *txq_tail;
	size_t txq_bytes;       /**< bytes waiting in txq                 */
};

static struct echo_opts opts = { "127.0.0.1", 8089, 1000, false };
static volatile sig_atomic_t interrupted;
static struct lws_context *context;
static unsigned call_count;


static void call_log(const struct call *call, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "echo-agent: call %u: ", call->id);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}


/** Append bytes to a growable buffer, up to limit [bytes] */
static int buf_append(uint8_t **buf, size_t *len, size_t *cap,
		      const void *p, size_t n, size_t limit)
{
	if (*len + n > limit)
		return EOVERFLOW;

	if (*len + n > *cap) {
		size_t ncap = *cap ? *cap : 4096;
		uint8_t *nb;

		while (ncap < *len + n)
			ncap *= 2;
		nb = realloc(*buf, ncap);
		if (!nb)
			return ENOMEM;
		*buf = nb;
		*cap = ncap;
	}

	memcpy(*buf + *len, p, n);
	*len += n;
	return 0;
}


/* ---- sending ------------------------------------------------------ */


static int call_queue(struct call *call, bool binary, const void *p,
		      size_t len)
{
	struct frame *f;

	if (call->txq_bytes + len > MAX_QUEUED)
		return ENOBUFS;   /* callbridge is not reading: drop */

	f = malloc(sizeof(*f) + LWS_PRE + len);
	if (!f)
		return ENOMEM;

	f->next = NULL;
	f->binary = binary;
	f->len = len;
	memcpy(f->buf + LWS_PRE, p, len);

	if (call->txq_tail)
		call->txq_tail->next = f;
	else
		call->txq = f;
	call->txq_tail = f;
	call->txq_bytes += len;

	lws_callback_on_writable(call->wsi);
	return 0;
}


/** Queue a JSON message; takes the reference to msg */
static int call_send_json(struct call *call, json_t *msg)
{
	char *text;
	int err;

	if (!msg)
		return ENOMEM;

	text = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	if (!text)
		return ENOMEM;

	err = call_queue(call, false, text, strlen(text));
	free(text);
	return err;
}


/** Queue one piece of audio: a media message, or a binary frame in raw */
static int call_send_audio(struct call *call, const uint8_t *p, size_t len)
{
	size_t b64_size = 4 * ((len + 2) / 3) + 4;  /* lws wants room */
	char *b64;
	int err;

	if (call->raw)
		return call_queue(call, true, p, len);

	b64 = malloc(b64_size);
	if (!b64)
		return ENOMEM;

	if (lws_b64_encode_string((const char *)p, (int)len, b64,
				  (int)b64_size) < 0) {
		free(b64);
		return EINVAL;
	}

	err = call_send_json(call, json_pack("{s:s,s:s,s:{s:s}}",
					     "event", "media",
					     "streamSid", call->stream_sid,
					     "media", "payload", b64));
	free(b64);
	return err;
}


/** Send back what we heard, then a mark; runs every reply period */
static void call_reply(struct call *call)
{
	size_t bytes_per_ms = call->rate / 1000 * call->sample_bytes;
	size_t chunk = (call->raw ? RAW_FRAME_MS : REPLY_CHUNK_MS) *
		       bytes_per_ms;
	char name[32];
	size_t off;
	int err = 0;

	if (!call->heard_len || !chunk)
		return;

	for (off = 0; off < call->heard_len && !err; off += chunk) {
		size_t n = call->heard_len - off;

		err = call_send_audio(call, call->heard + off,
				      n < chunk ? n : chunk);
	}

	snprintf(name, sizeof(name), "reply-%u", ++call->replies);
	if (!err)
		err = call_send_json(call, json_pack("{s:s,s:s,s:{s:s}}",
						     "event", "mark",
						     "streamSid",
						     call->stream_sid,
						     "mark", "name", name));
	if (err)
		call_log(call, "cannot send reply: %s", strerror(err));
	else if (opts.verbose)
		call_log(call, "sent %s: %zu ms of audio", name,
			 call->heard_len / bytes_per_ms);

	call->heard_len = 0;
	call->heard_full_logged = false;
}


/* ---- receiving ---------------------------------------------------- */


static void call_heard(struct call *call, const uint8_t *p, size_t len)
{
	size_t limit = (size_t)MAX_HEARD_SEC * call->rate *
		       call->sample_bytes;

	if (buf_append(&call->heard, &call->heard_len, &call->heard_cap,
		       p, len, limit) && !call->heard_full_logged) {
		call_log(call, "audio buffer full, dropping audio");
		call->heard_full_logged = true;
	}
}


static bool says_raw(json_t *obj)
{
	const char *proto = json_string_value(json_object_get(obj,
							      "protocol"));

	return proto && !strcasecmp(proto, "raw");
}


static void call_on_start(struct call *call, json_t *msg)
{
	json_t *start = json_object_get(msg, "start");
	json_t *format = json_object_get(start, "mediaFormat");
	json_t *params = json_object_get(start, "customParameters");
	const char *sid = json_string_value(json_object_get(msg, "streamSid"));
	const char *encoding = json_string_value(json_object_get(format,
								 "encoding"));
	json_t *rate = json_object_get(format, "sampleRate");
	char *params_text;

	if (!sid)
		sid = json_string_value(json_object_get(start, "streamSid"));
	snprintf(call->stream_sid, sizeof(call->stream_sid), "%s",
		 sid ? sid : "");

	if (says_raw(msg) || says_raw(start))
		call->raw = true;

	call->rate = 8000;
	if (json_is_integer(rate))
		call->rate = (unsigned)json_integer_value(rate);
	else if (json_is_string(rate))
		call->rate = (unsigned)atoi(json_string_value(rate));
	if (call->rate < 8000 || call->rate > 48000 || call->rate % 1000) {
		call_log(call, "unsupported sample rate, assuming 8000");
		call->rate = 8000;
	}

	call->sample_bytes = 1;
	if (call->raw || (encoding && !strcasecmp(encoding, "audio/l16")))
		call->sample_bytes = 2;

	params_text = json_dumps(params ? params : json_null(),
				 JSON_COMPACT);
	call_log(call, "start: stream %s, %s at %u Hz%s, parameters %s",
		 call->stream_sid, call->sample_bytes == 2 ? "l16" : "mulaw",
		 call->rate, call->raw ? ", protocol raw" : "",
		 params_text ? params_text : "?");
	free(params_text);

	call->started = true;
	lws_set_timer_usecs(call->wsi, (lws_usec_t)opts.delay_ms * 1000);
}


static void call_on_media(struct call *call, json_t *msg)
{
	const char *payload = json_string_value(json_object_get(
		json_object_get(msg, "media"), "payload"));
	size_t len, size;
	uint8_t *audio;
	int n;

	if (!payload)
		return;

	len = strlen(payload);
	size = len / 4 * 3 + 8;  /* lws's decoder wants a little room */
	audio = malloc(size);
	if (!audio)
		return;

	n = lws_b64_decode_string_len(payload, (int)len, (char *)audio,
				      (int)size);
	if (n > 0)
		call_heard(call, audio, (size_t)n);
	free(audio);
}


static void call_on_text(struct call *call, const char *text, size_t len)
{
	json_error_t error;
	const char *event;
	json_t *msg;

	msg = json_loadb(text, len, 0, &error);
	event = json_string_value(json_object_get(msg, "event"));
	if (!event) {
		call_log(call, "ignoring a message that is not an event: %s",
			 msg ? "no \"event\"" : error.text);
		goto out;
	}

	if (!strcmp(event, "connected")) {
		if (says_raw(msg))
			call->raw = true;
	}
	else if (!strcmp(event, "start")) {
		call_on_start(call, msg);
	}
	else if (!strcmp(event, "media")) {
		call_on_media(call, msg);
	}
	else if (!strcmp(event, "mark")) {
		const char *name = json_string_value(json_object_get(
			json_object_get(msg, "mark"), "name"));

		call_log(call, "mark %s: played", name ? name : "(unnamed)");
	}
	else if (!strcmp(event, "dtmf")) {
		const char *digit = json_string_value(json_object_get(
			json_object_get(msg, "dtmf"), "digit"));

		call_log(call, "caller pressed %s", digit ? digit : "?");
	}
	else if (!strcmp(event, "stop")) {
		call_log(call, "stop: the caller hung up");
	}
	/* ignore anything else: the protocol may grow */

 out:
	json_decref(msg);
}


static int call_on_receive(struct call *call, const void *in, size_t len)
{
	struct lws *wsi = call->wsi;
	int err;

	if (lws_is_first_fragment(wsi)) {
		call->rx_len = 0;
		call->rx_binary = lws_frame_is_binary(wsi);
	}

	err = buf_append(&call->rx, &call->rx_len, &call->rx_cap, in, len,
			 MAX_MESSAGE);
	if (err) {
		call_log(call, "message too large, closing");
		lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
				 NULL, 0);
		return -1;
	}

	if (!lws_is_final_fragment(wsi))
		return 0;

	if (call->rx_binary) {
		call->raw = true;           /* binary audio: protocol "raw" */
		call->sample_bytes = 2;
		call_heard(call, call->rx, call->rx_len);
	}
	else {
		call_on_text(call, (const char *)call->rx, call->rx_len);
	}

	call->rx_len = 0;
	return 0;
}


static int call_on_writeable(struct call *call)
{
	struct frame *f = call->txq;
	int n;

	if (!f)
		return 0;

	call->txq = f->next;
	if (!call->txq)
		call->txq_tail = NULL;
	call->txq_bytes -= f->len;

	n = lws_write(call->wsi, f->buf + LWS_PRE, f->len,
		      f->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
	free(f);
	if (n < 0)
		return -1;

	if (call->txq)
		lws_callback_on_writable(call->wsi);
	return 0;
}


static void call_free(struct call *call)
{
	while (call->txq) {
		struct frame *f = call->txq;

		call->txq = f->next;
		free(f);
	}
	call->txq_tail = NULL;
	free(call->heard);
	free(call->rx);
	call->heard = call->rx = NULL;
}


static int callback_echo(struct lws *wsi, enum lws_callback_reasons reason,
			 void *user, void *in, size_t len)
{
	struct call *call = user;

	switch (reason) {

	case LWS_CALLBACK_ESTABLISHED:
		call->wsi = wsi;
		call->id = ++call_count;
		call->rate = 8000;
		call->sample_bytes = 1;
		call_log(call, "connected");
		break;

	case LWS_CALLBACK_RECEIVE:
		return call_on_receive(call, in, len);

	case LWS_CALLBACK_SERVER_WRITEABLE:
		return call_on_writeable(call);

	case LWS_CALLBACK_TIMER:
		call_reply(call);
		lws_set_timer_usecs(wsi, (lws_usec_t)opts.delay_ms * 1000);
		break;

	case LWS_CALLBACK_CLOSED:
		call_log(call, "closed after %u replies", call->replies);
		call_free(call);
		break;

	default:
		break;
	}

	return 0;
}


static const struct lws_protocols protocols[] = {
	{ "echo-agent", callback_echo, sizeof(struct call), 65536, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};


static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
	if (context)
		lws_cancel_service(context);  /* wake the event loop */
}


static void usage(void)
{
	fprintf(stderr, "usage: echo-agent [--addr 127.0.0.1] [--port 8089] "
		"[--delay-ms 1000] [-v]\n");
}


int main(int argc, char *argv[])
{
	static const struct option long_opts[] = {
		{"addr",     required_argument, NULL, 'a'},
		{"port",     required_argument, NULL, 'p'},
		{"delay-ms", required_argument, NULL, 'd'},
		{"verbose",  no_argument,       NULL, 'v'},
		{"help",     no_argument,       NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	struct lws_context_creation_info info;
	struct sigaction sa;
	struct lws_vhost *vhost;
	char *end;
	long v;
	int c;

	while ((c = getopt_long(argc, argv, "vh", long_opts, NULL)) != -1) {
		switch (c) {

		case 'a':
			opts.addr = optarg;
			break;

		case 'p':
			v = strtol(optarg, &end, 10);
			if (*end || v < 0 || v > 65535)
				goto bad;
			opts.port = (int)v;
			break;

		case 'd':
			v = strtol(optarg, &end, 10);
			if (*end || v < 20 || v > 600000)
				goto bad;
			opts.delay_ms = (unsigned)v;
			break;

		case 'v':
			opts.verbose = true;
			break;

		default:
			goto bad;
		}
	}
	if (optind != argc)
		goto bad;

	lws_set_log_level(opts.verbose ? LLL_ERR | LLL_WARN | LLL_NOTICE :
			  LLL_ERR | LLL_WARN, NULL);

	memset(&info, 0, sizeof(info));
	info.port = opts.port;
	info.iface = opts.addr;
	info.protocols = protocols;
	info.timeout_secs = 30;

	context = lws_create_context(&info);
	if (!context) {
		fprintf(stderr, "echo-agent: cannot listen on %s port %d\n",
			opts.addr, opts.port);
		return 1;
	}

	/* before the "listening" line: whoever waits for it may stop us
	   at once, and must find the handlers in place */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	vhost = lws_get_vhost_by_name(context, "default");
	printf("echo-agent: listening on ws://%s%s%s:%d/ (reply every %u ms)\n",
	       strchr(opts.addr, ':') ? "[" : "", opts.addr,
	       strchr(opts.addr, ':') ? "]" : "",
	       vhost ? lws_get_vhost_listen_port(vhost) : opts.port,
	       opts.delay_ms);
	fflush(stdout);

	while (!interrupted)
		if (lws_service(context, 0) < 0)
			break;

	lws_context_destroy(context);  /* closes the calls: frees them */
	context = NULL;
	fprintf(stderr, "echo-agent: stopped\n");
	return 0;

 bad:
	usage();
	return 2;
}
