/**
 * @file test_agent.c  cb-test-agent: a scriptable, recording WebSocket agent
 *
 * The test agent is the far end of callbridge's agent link in integration
 * tests. It is a WebSocket *server* (callbridge is the client) that speaks
 * the Twilio Media Streams protocol (docs/twilio-media-streams.md) and the
 * callbridge extensions (audio/l16 payloads, protocol "raw", agent DTMF).
 * It records everything it sees and does what the request path tells it.
 *
 * Usage:
 *   cb-test-agent [--addr 127.0.0.1] [--port 0] [--dir DIR] [--signal FILE]
 *                 [--tls CERT KEY] [--exit-after-conns N] [-v]
 *
 * The first line on stdout is always "PORT <n>" (the bound port, useful with
 * --port 0), flushed at once.
 *
 * Request path: one agent process serves many test scenarios at once; the
 * path of each upgrade request picks the behaviour of that connection.
 *
 *   /  or /record        record only
 *   /play                the whole signal in 100 ms media messages, then a
 *                        mark named "end"
 *   /echo                echo every media payload received
 *   /script/A,B,C        run the actions A, B, C in order (below)
 *   /reject/CODE         refuse the upgrade with HTTP status CODE (200-599)
 *   /hang                never answer the upgrade request (an agent that
 *                        cannot be reached); closed after 300 s or by the
 *                        client (not with --tls)
 *   /raw/...             prefix to any of the above: protocol "raw"
 *
 * Unknown paths and malformed scripts are refused with 400 and the reason.
 * The query string is recorded but does not change behaviour.
 *
 * Actions (run once "start" has been received; MS are [ms]):
 *   wait:MS               pause
 *   play:MS               the next MS of the signal as one media message
 *                         ("raw": 20 ms binary frames). MS may be "all": the
 *                         rest of the signal up to its end
 *   playchunks:MS:CHUNK   the next MS of the signal in CHUNK ms messages
 *   playrand:MS:SEED      the next MS in messages of random sizes (1 sample
 *                         to 200 ms, xorshift32 seeded with SEED)
 *   mark:NAME             {"event":"mark","streamSid":..,"mark":{"name":..}}
 *   marknull              a mark with no "mark" object (as the OpenAI demo)
 *   clear                 {"event":"clear","streamSid":..}
 *   dtmf:DIGIT:MS         {"event":"dtmf",..,"dtmf":{"digit":..,"duration":MS}}
 *   waitmark:NAME[:MS]    pause until the mark NAME has been echoed back, or
 *                         MS (default 30000) have passed (recorded as a note)
 *   echo                  from now on echo each media payload received
 *   garbage               frames callbridge must ignore or reject without
 *                         hanging up: non-JSON text, JSON of wrong types,
 *                         bad base64, an odd-sized binary frame
 *   close[:CODE]          close the WebSocket (default code 1000)
 *   drop                  fail: reset the TCP connection, no close frame
 *   stall:MS              stop reading from the socket for MS (the
 *                         client's sends back up), then read again
 *
 * NAME is 1-63 of [A-Za-z0-9_.-]; DIGIT is one of 0-9 * # A-D.
 *
 * The signal (--signal) is raw µ-law at 8 kHz. A connection keeps its own
 * position in it and wraps around at the end. For audio/l16 it is decoded
 * and upsampled to the connection's rate by linear interpolation. Without
 * --signal the signal is one second of µ-law silence.
 *
 * Format and protocol: "start".mediaFormat picks the encoding
 * ("audio/x-mulaw" or "audio/l16") and sampleRate. The connection speaks
 * "raw" when the path starts with /raw, when "connected" or "start" carries
 * "protocol":"raw" (top level or inside "start"), or once a binary frame has
 * been received. In "raw", audio goes in binary frames of 16-bit LE PCM.
 *
 * Recordings, in --dir, per connection c0001, c0002, ... (in accept order):
 *   cNNNN.jsonl    one JSON object per line, each with "t_us" (CLOCK_MONOTONIC
 *                  in [us], the same clock as Python's time.monotonic()) and
 *                  "ev":
 *                    upgrade   the request: method, target, path, query,
 *                              version, headers [[name, value], ...] as sent
 *                              (verbatim, in order; with --tls only what
 *                              libwebsockets exposes: headers_complete false),
 *                              peer, tls
 *                    reject    status: the upgrade was refused
 *                    open      the WebSocket is established
 *                    rx, tx    a frame received/sent: kind "text" with
 *                              "text" verbatim, or kind "binary" (or text
 *                              that is not UTF-8) with "len" and "b64"
 *                    note      "msg": something the agent found wrong or
 *                              noteworthy (bad JSON, bad base64, timeouts)
 *                    peer_close code, reason: the client's close frame
 *                    close     code: the agent closed the WebSocket
 *                    drop      the agent reset the connection (drop)
 *                    stall     ms: the agent stopped reading (stall)
 *                    closed    last line: the connection is gone
 *   cNNNN.in.raw   the inbound audio bytes in arrival order (µ-law, or
 *                  16-bit LE PCM for l16 and raw)
 *   cNNNN.out.raw  the audio bytes the agent sent, in order
 * Every line and audio chunk is written with one write(2), so a reader sees
 * everything as soon as it happened, even after SIGKILL.
 *
 * Design: one thread, one lws_context, no listening vhost. The agent owns the
 * listening socket so it can read the upgrade request verbatim before
 * libwebsockets parses it (libwebsockets 4.1 cannot enumerate unknown
 * headers): a new connection is adopted as a raw file descriptor, its
 * request head is read up to the blank line, then a dup of the socket is
 * handed to lws with those bytes as already-read data. With --tls the socket
 * is handed over at once and the headers come from lws. The per-connection
 * state (struct conn) is the wsi's opaque user data and is freed at
 * LWS_CALLBACK_WSI_DESTROY. Frames are sent one per writeable callback from
 * a FIFO; script waits use the wsi timer.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <libwebsockets.h>
#include <jansson.h>
#include <re_types.h>
#include <re_fmt.h>
#include <re_mem.h>
#include <re_list.h>
#include <re_mbuf.h>
#include <re_base64.h>

enum {
	MAX_MSG     = 8 << 20,   /**< largest message received [bytes]     */
	MAX_HEAD    = 16384,     /**< largest request head [bytes]         */
	MAX_ACTIONS = 512,       /**< actions per script                   */
	MAX_MS      = 600000,    /**< bound of any duration [ms]           */
	MAX_MARKS   = 100000,    /**< mark names remembered per connection */
	PREREAD_TMO = 10,        /**< request head timeout [s]             */
	HANG_TMO    = 300,       /**< how long /hang holds a request [s]   */
	MAX_TXQ     = 64 << 20,  /**< bytes queued to send, at most        */
	RAND_MAX_MS = 200,       /**< largest playrand message [ms]        */
};

enum act_type {
	ACT_WAIT, ACT_PLAY, ACT_PLAYCHUNKS, ACT_PLAYRAND, ACT_MARK,
	ACT_MARKNULL, ACT_CLEAR, ACT_DTMF, ACT_WAITMARK, ACT_ECHO,
	ACT_GARBAGE, ACT_CLOSE, ACT_DROP, ACT_STALL,
};

/** One script action */
struct action {
	enum act_type type;
	uint32_t ms;        /**< duration [ms]; ignored when all is set     */
	bool all;           /**< play the rest of the signal                 */
	uint32_t arg;       /**< chunk [ms], seed, timeout [ms], close code  */
	char name[64];      /**< mark name or DTMF digit                     */
};

/** The process: one thread, no locking */
struct agent {
	struct lws_context *ctx;
	struct lws_vhost *vh;
	struct lws *lwsi;          /**< listening socket, adopted raw       */
	const char *dir;           /**< recording directory                 */
	uint8_t *sig;              /**< signal, µ-law 8 kHz                 */
	size_t sig_len;            /**< signal length [samples]             */
	bool tls;
	bool verbose;
	unsigned seq;              /**< last connection number              */
	unsigned done;             /**< connections ended after an upgrade  */
	unsigned exit_after;       /**< 0 or exit after this many           */
	struct conn *pending;      /**< connection being handed to lws      */
	struct lws *pending_wsi;   /**< the wsi lws created for it          */
};

/** One TCP connection: pre-read, HTTP upgrade, then WebSocket */
struct conn {
	struct agent *ag;
	struct lws *wsi;           /**< the HTTP/WebSocket wsi, once bound  */
	struct lws *raw_wsi;       /**< the pre-read wsi, until hand-over   */
	char name[16];             /**< "c0001"                             */
	char peer[80];             /**< "ip:port"                           */
	struct mbuf *head;         /**< request head read before hand-over  */
	int fd_log, fd_in, fd_out; /**< recordings, or -1                   */
	bool upgraded;             /**< counted for --exit-after-conns      */
	bool hanging;              /**< /hang: discarding input until EOF   */

	/* protocol */
	bool raw;                  /**< protocol "raw"                      */
	bool started;              /**< "start" received                    */
	bool echo;                 /**< echo media                          */
	bool closing;              /**< close queued: send nothing more     */
	bool l16;                  /**< audio/l16, else µ-law               */
	unsigned rate;             /**< sample rate [Hz]                    */
	char sid[80];              /**< streamSid from "start"              */

	/* script */
	struct action *acts;
	unsigned actc, acti;
	bool waiting;              /**< a waitmark is pending               */
	bool stalled;              /**< not reading (stall)                 */
	char waitmark[64];
	json_t *marks;             /**< set of mark names echoed to us      */
	uint64_t sig_pos;          /**< position in the signal [samples at rate] */

	/* receive */
	struct mbuf *rx;
	bool rx_bin;
	bool rx_drop;              /**< message too large: dropping         */

	/* send */
	struct list txq;
	size_t txq_bytes;          /**< payload bytes in txq                */
	bool txq_full;             /**< dropped frames: noted once          */
};

enum tx_kind { TX_TEXT, TX_BINARY, TX_CLOSE, TX_DROP };

/** One frame waiting to be sent */
struct txf {
	struct le le;
	struct conn *c;            /**< for the byte count                  */
	enum tx_kind kind;
	uint16_t code;             /**< close code                          */
	size_t len;                /**< frame payload length                */
	uint8_t *audio;            /**< audio bytes carried, for .out.raw   */
	size_t alen;
	uint8_t *data;             /**< payload, LWS_PRE after the start    */
};

static volatile sig_atomic_t g_stop;
static struct lws_context *g_ctx;


static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}


static int16_t ulaw_decode(uint8_t u)
{
	int mag;

	u = (uint8_t)~u;
	mag = (((u & 0x0f) << 3) + 0x84) << ((u >> 4) & 0x07);
	return (int16_t)((u & 0x80) ? 0x84 - mag : mag - 0x84);
}


static uint32_t xorshift32(uint32_t *s)
{
	uint32_t x = *s ? *s : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}


/*
 * Strict base64 (RFC 4648, padded): anything else is an error, so that a
 * malformed payload from callbridge is noticed, not silently decoded.
 */
static int b64_val(char ch)
{
	if (ch >= 'A' && ch <= 'Z') return ch - 'A';
	if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9') return ch - '0' + 52;
	if (ch == '+') return 62;
	if (ch == '/') return 63;
	return -1;
}


static int b64_decode_strict(const char *in, size_t len, struct mbuf *out)
{
	size_t i;
	int err;

	if (len % 4)
		return EBADMSG;

	for (i = 0; i < len; i += 4) {
		int v[4], n, pad = 0;
		uint8_t b[3];

		for (n = 0; n < 4; n++) {
			if (in[i + n] == '=' && i + 4 == len && n >= 2) {
				v[n] = 0;
				++pad;
				continue;
			}
			if (pad)
				return EBADMSG;
			v[n] = b64_val(in[i + n]);
			if (v[n] < 0)
				return EBADMSG;
		}

		b[0] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		b[1] = (uint8_t)(v[1] << 4 | v[2] >> 2);
		b[2] = (uint8_t)(v[2] << 6 | v[3]);
		err = mbuf_write_mem(out, b, 3 - pad);
		if (err)
			return err;
	}

	return 0;
}


/* ---- recording ---------------------------------------------------- */


static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t w = write(fd, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return errno ? errno : EIO;
		b += w;
		n -= (size_t)w;
	}

	return 0;
}


/** Write one recording line; takes ownership of o */
static void rec_line(struct conn *c, const char *ev, json_t *o)
{
	json_t *line;
	char *s;

	if (!o)
		return;

	if (c->fd_log < 0) {
		json_decref(o);
		return;
	}

	line = json_pack("{s:I,s:s}", "t_us", (json_int_t)now_us(), "ev", ev);
	if (!line) {
		json_decref(o);
		return;
	}
	json_object_update(line, o);
	json_decref(o);

	s = json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(line);
	if (!s)
		return;

	{
		size_t n = strlen(s);

		s[n] = '\n';  /* json_dumps leaves room: replace the NUL */
		if (write_all(c->fd_log, s, n + 1))
			fprintf(stderr, "%s: recording: %m\n", c->name);
	}
	free(s);
}


static void rec_note(struct conn *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	if (c->ag->verbose)
		fprintf(stderr, "%s: note: %s\n", c->name, msg);

	rec_line(c, "note", json_pack("{s:s}", "msg", msg));
}


static json_t *b64_json(const uint8_t *p, size_t len)
{
	size_t olen = 4 * ((len + 2) / 3) + 1;
	char *s = malloc(olen);
	json_t *j = NULL;

	if (!s)
		return NULL;
	if (!base64_encode(p, len, s, &olen))
		j = json_stringn(s, olen);
	free(s);
	return j;
}


static void rec_frame(struct conn *c, const char *ev, bool bin,
		      const uint8_t *p, size_t len)
{
	json_t *txt = NULL;

	if (!bin)
		txt = json_stringn((const char *)p, len);  /* NULL if not UTF-8 */

	if (txt) {
		rec_line(c, ev, json_pack("{s:s,s:o}", "kind", "text",
					  "text", txt));
		return;
	}

	if (bin)
		rec_line(c, ev, json_pack("{s:s,s:I,s:o*}", "kind", "binary",
					  "len", (json_int_t)len,
					  "b64", b64_json(p, len)));
	else
		rec_line(c, ev, json_pack("{s:s,s:I,s:o*,s:b}", "kind", "text",
					  "len", (json_int_t)len,
					  "b64", b64_json(p, len),
					  "utf8", 0));
}


static void rec_audio(int fd, const uint8_t *p, size_t len)
{
	if (fd >= 0 && len)
		(void)write_all(fd, p, len);
}


static int rec_open(struct conn *c, const char *ext)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s%s", c->ag->dir, c->name, ext);
	return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_APPEND,
		    0644);
}


/* ---- sending ------------------------------------------------------ */


static void txf_destructor(void *arg)
{
	struct txf *f = arg;

	list_unlink(&f->le);
	f->c->txq_bytes -= f->len;
}


static int conn_queue(struct conn *c, enum tx_kind kind, const void *p,
		      size_t len, const uint8_t *audio, size_t alen)
{
	struct txf *f;

	if (c->closing || !c->wsi)
		return ENOTCONN;

	if (c->txq_bytes + len > MAX_TXQ) {
		if (!c->txq_full)
			rec_note(c, "client does not read: more than %d bytes "
				 "queued, dropping frames", MAX_TXQ);
		c->txq_full = true;
		return ENOBUFS;
	}

	f = mem_zalloc(sizeof(*f) + LWS_PRE + len + alen, txf_destructor);
	if (!f)
		return ENOMEM;

	f->c = c;
	f->kind = kind;
	f->len = len;
	c->txq_bytes += len;
	f->data = (uint8_t *)(f + 1);
	if (len)
		memcpy(f->data + LWS_PRE, p, len);
	f->audio = f->data + LWS_PRE + len;
	f->alen = alen;
	if (alen)
		memcpy(f->audio, audio, alen);

	list_append(&c->txq, &f->le, f);
	lws_callback_on_writable(c->wsi);

	return 0;
}


/** Queue a JSON text frame; takes ownership of o */
static int conn_send_json(struct conn *c, json_t *o, const uint8_t *audio,
			  size_t alen)
{
	char *s;
	int err;

	if (!o)
		return ENOMEM;

	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		return ENOMEM;

	err = conn_queue(c, TX_TEXT, s, strlen(s), audio, alen);
	free(s);
	return err;
}


static int conn_send_text(struct conn *c, const char *s)
{
	return conn_queue(c, TX_TEXT, s, strlen(s), NULL, 0);
}


/** Queue audio in the connection's protocol and format */
static int conn_send_audio(struct conn *c, const uint8_t *p, size_t len)
{
	json_t *payload;

	if (c->raw)
		return conn_queue(c, TX_BINARY, p, len, p, len);

	payload = b64_json(p, len);
	if (!payload)
		return ENOMEM;

	return conn_send_json(c, json_pack("{s:s,s:s,s:{s:o}}",
					   "event", "media",
					   "streamSid", c->sid,
					   "media", "payload", payload),
			      p, len);
}


static int conn_send_close(struct conn *c, uint16_t code)
{
	int err = conn_queue(c, TX_CLOSE, NULL, 0, NULL, 0);
	struct txf *f;

	if (err)
		return err;

	f = list_tail(&c->txq)->data;
	f->code = code;
	c->closing = true;

	return 0;
}


/** Send the head of the queue; returns -1 to close the connection */
static int conn_writeable(struct conn *c)
{
	struct le *le = list_head(&c->txq);
	struct txf *f;
	int n;

	if (!le)
		return 0;

	f = le->data;

	if (f->kind == TX_DROP) {
		struct linger lg = {1, 0};
		int fd = lws_get_socket_fd(c->wsi);

		/* an RST and no close frame, as when an agent process dies */
		rec_line(c, "drop", json_object());
		if (fd >= 0)
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		mem_deref(f);
		return -1;
	}

	if (f->kind == TX_CLOSE) {
		rec_line(c, "close", json_pack("{s:i}", "code", f->code));
		lws_close_reason(c->wsi, (enum lws_close_status)f->code,
				 NULL, 0);
		mem_deref(f);
		return -1;
	}

	n = lws_write(c->wsi, f->data + LWS_PRE, f->len,
		      f->kind == TX_BINARY ? LWS_WRITE_BINARY :
					     LWS_WRITE_TEXT);
	if (n < (int)f->len) {
		fprintf(stderr, "%s: write failed\n", c->name);
		mem_deref(f);
		return -1;
	}

	rec_frame(c, "tx", f->kind == TX_BINARY, f->data + LWS_PRE, f->len);
	rec_audio(c->fd_out, f->audio, f->alen);
	mem_deref(f);

	if (list_head(&c->txq))
		lws_callback_on_writable(c->wsi);

	return 0;
}


/* ---- the signal --------------------------------------------------- */


/** Number of samples at the connection's rate in ms [ms] */
static uint64_t ms_samples(const struct conn *c, uint64_t ms)
{
	return ms * c->rate / 1000;
}


/** Samples left until the end of the signal */
static uint64_t sig_remaining(const struct conn *c)
{
	uint64_t total = (uint64_t)c->ag->sig_len * c->rate / 8000;

	if (!total)
		return 0;
	return total - c->sig_pos % total;
}


/** Render n samples of the signal at the connection's format into mb */
static int sig_render(struct conn *c, uint64_t n, struct mbuf *mb)
{
	const struct agent *ag = c->ag;
	uint64_t total = (uint64_t)ag->sig_len * c->rate / 8000;
	int err = 0;

	if (!total)
		return EINVAL;

	if (!(c->l16 || c->raw)) {
		while (n && !err) {
			size_t pos = (size_t)(c->sig_pos % ag->sig_len);
			size_t k = min((uint64_t)(ag->sig_len - pos), n);

			err = mbuf_write_mem(mb, ag->sig + pos, k);
			c->sig_pos += k;
			n -= k;
		}
		return err;
	}

	while (n-- && !err) {
		uint64_t k = c->sig_pos % total;
		uint64_t num = k * 8000;
		size_t i = (size_t)(num / c->rate);
		uint64_t frac = num % c->rate;
		int32_t a = ulaw_decode(ag->sig[i]);
		int32_t b = ulaw_decode(ag->sig[(i + 1) % ag->sig_len]);
		int32_t v = a + (int32_t)(((int64_t)(b - a) * (int64_t)frac) /
					  (int64_t)c->rate);
		uint8_t le[2] = {(uint8_t)(v & 0xff),
				 (uint8_t)((uint16_t)v >> 8)};

		err = mbuf_write_mem(mb, le, 2);
		c->sig_pos++;
	}

	return err;
}


/**
 * Play the next n samples in messages of chunk samples (0: one message;
 * UINT64_MAX: random sizes drawn from seed)
 */
static int conn_play(struct conn *c, uint64_t n, uint64_t chunk,
		     uint32_t seed)
{
	struct mbuf *mb = mbuf_alloc(4096);
	uint32_t rs = seed;
	int err = 0;

	if (!mb)
		return ENOMEM;

	if (!chunk && c->raw)
		chunk = c->rate / 50;   /* "raw": 20 ms per frame */

	while (n && !err) {
		uint64_t k = n;

		if (chunk == UINT64_MAX)
			k = 1 + xorshift32(&rs) %
				ms_samples(c, RAND_MAX_MS);
		else if (chunk)
			k = chunk;
		k = min(k, n);

		mbuf_rewind(mb);
		err = sig_render(c, k, mb);
		if (!err)
			err = conn_send_audio(c, mb->buf, mb->end);
		n -= k;
	}

	mem_deref(mb);
	return err;
}


/* ---- script ------------------------------------------------------- */


static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 63)
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		      "0123456789_.-") == n;
}


static int parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *v)
{
	char *end;
	unsigned long x;

	if (!s || !*s || *s == '-' || *s == '+')
		return EINVAL;
	errno = 0;
	x = strtoul(s, &end, 10);
	if (errno || *end || x < lo || x > hi)
		return EINVAL;
	*v = (uint32_t)x;
	return 0;
}


static int parse_ms(const char *s, struct action *a, bool all_ok)
{
	if (all_ok && s && !strcmp(s, "all")) {
		a->all = true;
		return 0;
	}
	return parse_u32(s, 0, MAX_MS, &a->ms);
}


/** Parse one action "verb:arg:arg" */
static int action_parse(char *tok, struct action *a, char *err, size_t esz)
{
	char *f[3] = {NULL, NULL, NULL};
	char *save = NULL, *p;
	int n = 0;

	memset(a, 0, sizeof(*a));

	for (p = strtok_r(tok, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
		if (n == 3)
			goto bad;
		f[n++] = p;
	}
	if (!n)
		goto bad;

#define ARGS(lo, hi) if (n - 1 < (lo) || n - 1 > (hi)) goto bad

	if (!strcmp(f[0], "wait")) {
		ARGS(1, 1);
		a->type = ACT_WAIT;
		if (parse_ms(f[1], a, false))
			goto bad;
	}
	else if (!strcmp(f[0], "play")) {
		ARGS(1, 1);
		a->type = ACT_PLAY;
		if (parse_ms(f[1], a, true))
			goto bad;
	}
	else if (!strcmp(f[0], "playchunks")) {
		ARGS(2, 2);
		a->type = ACT_PLAYCHUNKS;
		if (parse_ms(f[1], a, true) ||
		    parse_u32(f[2], 1, MAX_MS, &a->arg))
			goto bad;
	}
	else if (!strcmp(f[0], "playrand")) {
		ARGS(2, 2);
		a->type = ACT_PLAYRAND;
		if (parse_ms(f[1], a, true) ||
		    parse_u32(f[2], 0, UINT32_MAX, &a->arg))
			goto bad;
	}
	else if (!strcmp(f[0], "mark")) {
		ARGS(1, 1);
		a->type = ACT_MARK;
		if (!name_ok(f[1]))
			goto bad;
		str_ncpy(a->name, f[1], sizeof(a->name));
	}
	else if (!strcmp(f[0], "marknull")) {
		ARGS(0, 0);
		a->type = ACT_MARKNULL;
	}
	else if (!strcmp(f[0], "clear")) {
		ARGS(0, 0);
		a->type = ACT_CLEAR;
	}
	else if (!strcmp(f[0], "dtmf")) {
		ARGS(2, 2);
		a->type = ACT_DTMF;
		if (strlen(f[1]) != 1 || !strchr("0123456789*#ABCD", f[1][0]) ||
		    parse_ms(f[2], a, false) || !a->ms)
			goto bad;
		a->name[0] = f[1][0];
	}
	else if (!strcmp(f[0], "waitmark")) {
		ARGS(1, 2);
		a->type = ACT_WAITMARK;
		a->arg = 30000;
		if (!name_ok(f[1]) ||
		    (n == 3 && parse_u32(f[2], 1, MAX_MS, &a->arg)))
			goto bad;
		str_ncpy(a->name, f[1], sizeof(a->name));
	}
	else if (!strcmp(f[0], "echo")) {
		ARGS(0, 0);
		a->type = ACT_ECHO;
	}
	else if (!strcmp(f[0], "garbage")) {
		ARGS(0, 0);
		a->type = ACT_GARBAGE;
	}
	else if (!strcmp(f[0], "drop")) {
		ARGS(0, 0);
		a->type = ACT_DROP;
	}
	else if (!strcmp(f[0], "stall")) {
		ARGS(1, 1);
		a->type = ACT_STALL;
		if (parse_ms(f[1], a, false))
			goto bad;
	}
	else if (!strcmp(f[0], "close")) {
		ARGS(0, 1);
		a->type = ACT_CLOSE;
		a->arg = 1000;
		if (n == 2 && (parse_u32(f[1], 1000, 4999, &a->arg) ||
			       (a->arg >= 1004 && a->arg <= 1006) ||
			       a->arg == 1015))
			goto bad;
	}
	else {
		goto bad;
	}
#undef ARGS

	return 0;

 bad:
	snprintf(err, esz, "bad action \"%s%s%s%s%s\"", f[0] ? f[0] : "",
		 f[1] ? ":" : "", f[1] ? f[1] : "", f[2] ? ":" : "",
		 f[2] ? f[2] : "");
	return EINVAL;
}


/**
 * Parse the request path into the connection's script.
 *
 * @param c      Connection
 * @param path   Request path (without query)
 * @param reject Set to the HTTP status to refuse with, or 0
 * @param err    Error text on failure
 * @param esz    Size of err
 *
 * @return 0 if success, otherwise errorcode
 */
static int script_parse(struct conn *c, const char *path, unsigned *reject,
			char *err, size_t esz)
{
	char buf[8192], *save = NULL, *tok, *p;
	size_t n;
	int e = 0;

	*reject = 0;
	if (strlen(path) >= sizeof(buf)) {
		snprintf(err, esz, "path too long");
		return EINVAL;
	}
	str_ncpy(buf, path, sizeof(buf));

	p = buf;
	if (!strcmp(p, "/raw") || !strncmp(p, "/raw/", 5)) {
		c->raw = true;
		p += 4;
	}
	n = strlen(p);
	if (n > 1 && p[n - 1] == '/')
		p[n - 1] = '\0';

	if (!*p || !strcmp(p, "/") || !strcmp(p, "/record"))
		return 0;

	if (!strcmp(p, "/play")) {
		c->acts = mem_zalloc(2 * sizeof(*c->acts), NULL);
		if (!c->acts)
			return ENOMEM;
		c->acts[0].type = ACT_PLAYCHUNKS;
		c->acts[0].all = true;
		c->acts[0].arg = 100;
		c->acts[1].type = ACT_MARK;
		str_ncpy(c->acts[1].name, "end", sizeof(c->acts[1].name));
		c->actc = 2;
		return 0;
	}

	if (!strcmp(p, "/echo")) {
		c->acts = mem_zalloc(sizeof(*c->acts), NULL);
		if (!c->acts)
			return ENOMEM;
		c->acts[0].type = ACT_ECHO;
		c->actc = 1;
		return 0;
	}

	if (!strncmp(p, "/reject/", 8)) {
		uint32_t code;

		if (parse_u32(p + 8, 200, 599, &code)) {
			snprintf(err, esz, "bad status in \"%s\"", path);
			return EINVAL;
		}
		*reject = code;
		return 0;
	}

	if (strncmp(p, "/script/", 8)) {
		snprintf(err, esz, "unknown path \"%s\"", path);
		return EINVAL;
	}

	c->acts = mem_zalloc(MAX_ACTIONS * sizeof(*c->acts), NULL);
	if (!c->acts)
		return ENOMEM;

	for (tok = strtok_r(p + 8, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (c->actc == MAX_ACTIONS) {
			snprintf(err, esz, "more than %d actions",
				 MAX_ACTIONS);
			return EINVAL;
		}
		e = action_parse(tok, &c->acts[c->actc], err, esz);
		if (e)
			return e;
		c->actc++;
	}

	return 0;
}


static void conn_garbage(struct conn *c)
{
	static const uint8_t odd[3] = {1, 2, 3};
	char buf[512];

	conn_send_text(c, "this is not JSON {");
	conn_send_text(c, "{\"event\":\"media\",\"streamSid\":12,"
		       "\"media\":{\"payload\":345}}");
	conn_send_text(c, "{\"event\":[\"mark\"],\"mark\":\"nope\"}");
	snprintf(buf, sizeof(buf), "{\"event\":\"media\",\"streamSid\":"
		 "\"%s\",\"media\":{\"payload\":\"!!not base64!!\"}}", c->sid);
	conn_send_text(c, buf);
	snprintf(buf, sizeof(buf), "{\"event\":\"mark\",\"streamSid\":"
		 "\"%s\",\"mark\":{\"name\":42}}", c->sid);
	conn_send_text(c, buf);
	snprintf(buf, sizeof(buf), "{\"event\":\"dtmf\",\"streamSid\":"
		 "\"%s\",\"dtmf\":{\"digit\":\"X\",\"duration\":\"long\"}}",
		 c->sid);
	conn_send_text(c, buf);
	conn_send_text(c, "{}");
	conn_send_text(c, "[]");
	conn_send_text(c, "null");
	conn_queue(c, TX_BINARY, odd, sizeof(odd), NULL, 0);
}


/** Run the script from the current action until it waits or ends */
static void conn_run(struct conn *c)
{
	while (c->acti < c->actc && !c->closing && !c->waiting) {
		const struct action *a = &c->acts[c->acti++];
		uint64_t n = a->all ? sig_remaining(c) : ms_samples(c, a->ms);
		int err = 0;

		switch (a->type) {

		case ACT_WAIT:
			lws_set_timer_usecs(c->wsi, (lws_usec_t)a->ms * 1000);
			return;

		case ACT_PLAY:
			err = conn_play(c, n, 0, 0);
			break;

		case ACT_PLAYCHUNKS:
			err = conn_play(c, n, max(ms_samples(c, a->arg), 1u),
					0);
			break;

		case ACT_PLAYRAND:
			err = conn_play(c, n, UINT64_MAX, a->arg);
			break;

		case ACT_MARK:
			err = conn_send_json(c, json_pack(
				"{s:s,s:s,s:{s:s}}", "event", "mark",
				"streamSid", c->sid, "mark", "name", a->name),
				NULL, 0);
			break;

		case ACT_MARKNULL:
			err = conn_send_json(c, json_pack("{s:s,s:s}",
				"event", "mark", "streamSid", c->sid),
				NULL, 0);
			break;

		case ACT_CLEAR:
			err = conn_send_json(c, json_pack("{s:s,s:s}",
				"event", "clear", "streamSid", c->sid),
				NULL, 0);
			break;

		case ACT_DTMF: {
			char d[2] = {a->name[0], '\0'};

			err = conn_send_json(c, json_pack(
				"{s:s,s:s,s:{s:s,s:i}}", "event", "dtmf",
				"streamSid", c->sid, "dtmf", "digit", d,
				"duration", (int)a->ms), NULL, 0);
			break;
		}

		case ACT_WAITMARK:
			if (json_object_get(c->marks, a->name))
				break;
			c->waiting = true;
			str_ncpy(c->waitmark, a->name, sizeof(c->waitmark));
			lws_set_timer_usecs(c->wsi, (lws_usec_t)a->arg * 1000);
			return;

		case ACT_ECHO:
			c->echo = true;
			break;

		case ACT_GARBAGE:
			conn_garbage(c);
			break;

		case ACT_CLOSE:
			err = conn_send_close(c, (uint16_t)a->arg);
			break;

		case ACT_DROP:
			err = conn_queue(c, TX_DROP, NULL, 0, NULL, 0);
			if (!err)
				c->closing = true;
			break;

		case ACT_STALL:
			rec_line(c, "stall", json_pack("{s:i}", "ms",
							 (int)a->ms));
			lws_rx_flow_control(c->wsi, 0);
			c->stalled = true;
			lws_set_timer_usecs(c->wsi, (lws_usec_t)a->ms * 1000);
			return;
		}

		if (err)
			rec_note(c, "action %u failed: %s", c->acti,
				 strerror(err));
	}
}


/* ---- receiving ---------------------------------------------------- */


static bool is_raw_marker(json_t *o)
{
	const char *p = json_string_value(json_object_get(o, "protocol"));

	return p && !strcasecmp(p, "raw");
}


static void conn_start(struct conn *c, json_t *o)
{
	json_t *st = json_object_get(o, "start");
	json_t *mf = json_object_get(st, "mediaFormat");
	const char *sid, *enc;
	json_t *rate;

	if (c->started) {
		rec_note(c, "second start ignored");
		return;
	}
	c->started = true;

	sid = json_string_value(json_object_get(o, "streamSid"));
	if (!sid)
		sid = json_string_value(json_object_get(st, "streamSid"));
	if (sid)
		str_ncpy(c->sid, sid, sizeof(c->sid));
	else
		rec_note(c, "start without streamSid");

	if (is_raw_marker(o) || is_raw_marker(st))
		c->raw = true;

	enc = json_string_value(json_object_get(mf, "encoding"));
	if (enc && !strcasecmp(enc, "audio/l16"))
		c->l16 = true;
	else if (enc && strcasecmp(enc, "audio/x-mulaw"))
		rec_note(c, "unknown encoding \"%s\", using mulaw", enc);

	rate = json_object_get(mf, "sampleRate");
	if (json_is_string(rate))
		c->rate = (unsigned)atoi(json_string_value(rate));
	else if (json_is_integer(rate))
		c->rate = (unsigned)json_integer_value(rate);

	if (c->rate < 8000 || c->rate > 48000) {
		if (rate)
			rec_note(c, "bad sampleRate, using 8000");
		c->rate = 8000;
	}
	if (!c->l16 && !c->raw && c->rate != 8000) {
		rec_note(c, "mulaw at %u Hz: playing 8000 Hz", c->rate);
		c->rate = 8000;
	}

	if (c->ag->verbose)
		fprintf(stderr, "%s: start %s %s/%u%s\n", c->name, c->sid,
			c->l16 || c->raw ? "l16" : "mulaw", c->rate,
			c->raw ? " raw" : "");

	conn_run(c);
}


static void conn_media(struct conn *c, json_t *o)
{
	json_t *pl = json_object_get(json_object_get(o, "media"), "payload");
	struct mbuf *mb;
	int err;

	if (!json_is_string(pl)) {
		rec_note(c, "media without a string payload");
		return;
	}
	if (!c->started)
		rec_note(c, "media before start");

	mb = mbuf_alloc(json_string_length(pl) * 3 / 4 + 4);
	if (!mb)
		return;

	err = b64_decode_strict(json_string_value(pl),
				json_string_length(pl), mb);
	if (err) {
		rec_note(c, "media payload is not valid base64");
		goto out;
	}
	if ((c->l16 || c->raw) && mb->end % 2)
		rec_note(c, "l16 payload of odd length %zu", mb->end);

	rec_audio(c->fd_in, mb->buf, mb->end);

	if (c->echo && mb->end)
		conn_send_audio(c, mb->buf, mb->end);

 out:
	mem_deref(mb);
}


static void conn_mark(struct conn *c, json_t *o)
{
	const char *name = json_string_value(
		json_object_get(json_object_get(o, "mark"), "name"));

	if (!name) {
		rec_note(c, "mark echo without a name");
		return;
	}

	if (json_object_size(c->marks) < MAX_MARKS)
		json_object_set_new(c->marks, name, json_true());

	if (c->waiting && !strcmp(name, c->waitmark)) {
		c->waiting = false;
		lws_set_timer_usecs(c->wsi, LWS_SET_TIMER_USEC_CANCEL);
		conn_run(c);
	}
}


static void conn_text(struct conn *c, const uint8_t *p, size_t len)
{
	json_error_t jerr;
	const char *ev;
	json_t *o;

	o = json_loadb((const char *)p, len, 0, &jerr);
	if (!o) {
		rec_note(c, "text frame is not JSON: %s", jerr.text);
		return;
	}

	ev = json_string_value(json_object_get(o, "event"));
	if (!ev) {
		rec_note(c, "text frame without an event");
		goto out;
	}

	if (!strcmp(ev, "connected")) {
		if (is_raw_marker(o))
			c->raw = true;
	}
	else if (!strcmp(ev, "start")) {
		conn_start(c, o);
	}
	else if (!strcmp(ev, "media")) {
		conn_media(c, o);
	}
	else if (!strcmp(ev, "mark")) {
		conn_mark(c, o);
	}
	else if (!strcmp(ev, "stop")) {
		if (c->ag->verbose)
			fprintf(stderr, "%s: stop\n", c->name);
	}
	/* dtmf and unknown events: recorded, nothing to do */

 out:
	json_decref(o);
}


static void conn_binary(struct conn *c, const uint8_t *p, size_t len)
{
	if (!c->raw) {
		rec_note(c, "binary frame: switching to protocol raw");
		c->raw = true;
	}
	if (len % 2)
		rec_note(c, "binary frame of odd length %zu", len);

	rec_audio(c->fd_in, p, len);

	if (c->echo && len)
		conn_queue(c, TX_BINARY, p, len, p, len);
}


static int conn_receive(struct conn *c, const void *in, size_t len)
{
	struct lws *wsi = c->wsi;

	if (lws_is_first_fragment(wsi)) {
		mbuf_rewind(c->rx);
		c->rx_bin = lws_frame_is_binary(wsi);
		c->rx_drop = false;
	}

	if (!c->rx_drop) {
		if (c->rx->end + len > MAX_MSG) {
			rec_note(c, "message larger than %d bytes dropped",
				 MAX_MSG);
			c->rx_drop = true;
			mbuf_rewind(c->rx);
		}
		else if (mbuf_write_mem(c->rx, in, len)) {
			return -1;
		}
	}

	if (!lws_is_final_fragment(wsi) || c->rx_drop)
		return 0;

	rec_frame(c, "rx", c->rx_bin, c->rx->buf, c->rx->end);

	if (c->rx_bin)
		conn_binary(c, c->rx->buf, c->rx->end);
	else
		conn_text(c, c->rx->buf, c->rx->end);

	mbuf_rewind(c->rx);
	return 0;
}


/* ---- connection lifecycle ----------------------------------------- */


static void conn_destructor(void *arg)
{
	struct conn *c = arg;

	if (c->fd_log >= 0) {
		rec_line(c, "closed", json_object());
		close(c->fd_log);
	}
	if (c->fd_in >= 0)
		close(c->fd_in);
	if (c->fd_out >= 0)
		close(c->fd_out);

	list_flush(&c->txq);
	mem_deref(c->head);
	mem_deref(c->rx);
	mem_deref(c->acts);
	json_decref(c->marks);
}


static int conn_alloc(struct conn **cp, struct agent *ag,
		      const struct sockaddr_storage *sa)
{
	char host[INET6_ADDRSTRLEN] = "?", port[8] = "?";
	struct conn *c;
	int err = 0;

	c = mem_zalloc(sizeof(*c), conn_destructor);
	if (!c)
		return ENOMEM;

	c->ag = ag;
	c->fd_log = c->fd_in = c->fd_out = -1;
	c->rate = 8000;
	list_init(&c->txq);
	snprintf(c->name, sizeof(c->name), "c%04u", ++ag->seq);

	getnameinfo((const struct sockaddr *)sa, sizeof(*sa), host,
		    sizeof(host), port, sizeof(port),
		    NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(c->peer, sizeof(c->peer), "%s:%s", host, port);

	c->head = mbuf_alloc(1024);
	c->rx = mbuf_alloc(4096);
	c->marks = json_object();
	if (!c->head || !c->rx || !c->marks) {
		err = ENOMEM;
		goto out;
	}

 out:
	if (err)
		mem_deref(c);
	else
		*cp = c;

	return err;
}


/** The connection of a wsi, binding a freshly handed-over one */
static struct conn *conn_of(struct agent *ag, struct lws *wsi)
{
	struct conn *c = lws_get_opaque_user_data(wsi);

	if (c || !ag->pending || ag->pending_wsi != wsi)
		return c;

	c = ag->pending;
	ag->pending = NULL;
	ag->pending_wsi = NULL;

	c->wsi = wsi;
	lws_set_opaque_user_data(wsi, c);
	if (c->raw_wsi) {
		lws_set_opaque_user_data(c->raw_wsi, NULL);
		c->raw_wsi = NULL;
	}

	return c;
}


/** Parse the verbatim request head into the upgrade record */
static json_t *head_parse(const char *p, size_t len)
{
	const char *end = p + len, *eol;
	json_t *o = json_object(), *hdrs = json_array();
	bool first = true;

	if (!o || !hdrs)
		goto fail;

	json_object_set_new(o, "headers_complete", json_true());

	for (; p < end; p = eol + 2) {
		const char *colon, *v, *ve;

		eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (!eol || eol == p)
			break;

		if (first) {
			const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
			const char *sp2 = sp1 ? memchr(sp1 + 1, ' ',
					     (size_t)(eol - sp1 - 1)) : NULL;
			const char *q;

			first = false;
			if (!sp2)
				goto fail;
			json_object_set_new(o, "method", json_stringn(p,
					    (size_t)(sp1 - p)));
			json_object_set_new(o, "target", json_stringn(sp1 + 1,
					    (size_t)(sp2 - sp1 - 1)));
			json_object_set_new(o, "version", json_stringn(sp2 + 1,
					    (size_t)(eol - sp2 - 1)));
			q = memchr(sp1 + 1, '?', (size_t)(sp2 - sp1 - 1));
			json_object_set_new(o, "path", json_stringn(sp1 + 1,
					    (size_t)((q ? q : sp2) - sp1 - 1)));
			json_object_set_new(o, "query", q ? json_stringn(q + 1,
					    (size_t)(sp2 - q - 1)) :
					    json_string(""));
			continue;
		}

		colon = memchr(p, ':', (size_t)(eol - p));
		if (!colon)
			goto fail;
		v = colon + 1;
		ve = eol;
		while (v < ve && (*v == ' ' || *v == '\t'))
			++v;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			--ve;
		json_array_append_new(hdrs, json_pack("[s%,s%]",
			p, (size_t)(colon - p), v, (size_t)(ve - v)));
	}

	if (first || json_object_size(o) < 6)
		goto fail;

	json_object_set_new(o, "headers", hdrs);
	return o;

 fail:
	json_decref(hdrs);
	json_decref(o);
	return NULL;
}


/** The upgrade record from what libwebsockets parsed (TLS, fallback) */
static json_t *head_from_lws(struct lws *wsi)
{
	static const char *const custom[] = {
		"x-twilio-signature:", "x-forwarded-for:", "x-request-id:",
	};
	json_t *o = json_object(), *hdrs = json_array();
	char buf[8192], name[64];
	int t, n, i;

	if (!o || !hdrs) {
		json_decref(o);
		json_decref(hdrs);
		return NULL;
	}

	json_object_set_new(o, "headers_complete", json_false());
	json_object_set_new(o, "method", json_string("GET"));
	if (lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_GET_URI) < 0)
		buf[0] = '\0';
	json_object_set_new(o, "path", json_string(buf));

	buf[0] = '\0';
	for (i = 0, n = 0; i < 64; i++) {
		char frag[1024];
		size_t bl = strlen(buf);

		if (lws_hdr_copy_fragment(wsi, frag, sizeof(frag),
					  WSI_TOKEN_HTTP_URI_ARGS, i) <= 0)
			break;
		snprintf(buf + bl, sizeof(buf) - bl, "%s%s", n++ ? "&" : "",
			 frag);
	}
	json_object_set_new(o, "query", json_string(buf));

	for (t = 0; t < WSI_TOKEN_COUNT; t++) {
		const char *tn = (const char *)lws_token_to_string(
			(enum lws_token_indexes)t);
		size_t tl;

		if (!tn || t == WSI_TOKEN_GET_URI ||
		    t == WSI_TOKEN_HTTP_URI_ARGS)
			continue;
		tl = strlen(tn);
		if (!tl || tn[tl - 1] != ':' || tn[0] == ':')
			continue;
		if (lws_hdr_total_length(wsi, (enum lws_token_indexes)t) <= 0)
			continue;
		if (lws_hdr_copy(wsi, buf, sizeof(buf),
				 (enum lws_token_indexes)t) < 0)
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)tl - 1, tn);
		json_array_append_new(hdrs, json_pack("[s,s]", name, buf));
	}

	for (i = 0; i < (int)ARRAY_SIZE(custom); i++) {
		int cl = (int)strlen(custom[i]);

		if (lws_hdr_custom_length(wsi, custom[i], cl) < 0 ||
		    lws_hdr_custom_copy(wsi, buf, sizeof(buf), custom[i],
					cl) < 0)
			continue;
		snprintf(name, sizeof(name), "%.*s", cl - 1, custom[i]);
		json_array_append_new(hdrs, json_pack("[s,s]", name, buf));
	}

	json_object_set_new(o, "headers", hdrs);
	return o;
}


/** Record the upgrade request; takes ownership of req */
static void rec_upgrade(struct conn *c, json_t *req)
{
	json_object_set_new(req, "conn", json_string(c->name));
	json_object_set_new(req, "peer", json_string(c->peer));
	json_object_set_new(req, "tls", json_boolean(c->ag->tls));
	rec_line(c, "upgrade", req);
}


/**
 * The upgrade request: record it, read the script, accept or refuse.
 * Returns what LWS_CALLBACK_HTTP_CONFIRM_UPGRADE expects.
 */
static int conn_upgrade(struct conn *c)
{
	char err[256] = "";
	unsigned reject = 0;
	const char *path;
	json_t *req = NULL;
	int e;

	if (c->upgraded)  /* a second upgrade on a kept-alive connection */
		return -1;

	c->upgraded = true;
	c->fd_log = rec_open(c, ".jsonl");
	if (c->fd_log < 0) {
		fprintf(stderr, "%s: cannot create recording in %s: %m\n",
			c->name, c->ag->dir);
		return -1;
	}

	if (c->head->end)
		req = head_parse((const char *)c->head->buf, c->head->end);
	if (!req)
		req = head_from_lws(c->wsi);
	if (!req)
		return -1;

	path = json_string_value(json_object_get(req, "path"));
	e = script_parse(c, path ? path : "", &reject, err, sizeof(err));
	rec_upgrade(c, req);

	if (e) {
		rec_note(c, "%s", err);
		reject = 400;
	}

	if (!reject)
		return 0;

	if (c->ag->verbose || e)
		fprintf(stderr, "%s: refusing upgrade with %u%s%s\n", c->name,
			reject, e ? ": " : "", err);

	rec_line(c, "reject", json_pack("{s:i}", "status", (int)reject));
	if (lws_return_http_status(c->wsi, reject, e ? err : "rejected"))
		return -1;

	return 1;
}


/** Hand a connection to lws: as read so far (plain), or at once (TLS) */
static int agent_handover(struct agent *ag, struct conn *c, int fd)
{
	struct lws *wsi;

	ag->pending = c;
	ag->pending_wsi = NULL;

	if (c->head->end)
		wsi = lws_adopt_socket_vhost_readbuf(ag->vh, fd,
				(const char *)c->head->buf, c->head->end);
	else
		wsi = lws_adopt_socket_vhost(ag->vh, fd);

	if (wsi)
		conn_of(ag, wsi);

	/* not bound: lws refused (and closed fd) or already closed it */
	if (ag->pending == c) {
		ag->pending = NULL;
		ag->pending_wsi = NULL;
		return ECONNABORTED;
	}

	return 0;
}


/** /hang: record the request, never answer it; true if hanging */
static bool conn_hang(struct conn *c)
{
	json_t *req = head_parse((const char *)c->head->buf, c->head->end);
	const char *path = json_string_value(json_object_get(req, "path"));

	if (!path || (strcmp(path, "/hang") && strncmp(path, "/hang/", 6))) {
		json_decref(req);
		return false;
	}

	c->hanging = true;
	c->upgraded = true;
	c->fd_log = rec_open(c, ".jsonl");
	rec_upgrade(c, req);
	rec_note(c, "hanging: the upgrade will not be answered");
	lws_set_timeout(c->raw_wsi, PENDING_TIMEOUT_USER_OK, HANG_TMO);

	return true;
}


/** Read the request head of a new plain connection */
static int conn_preread(struct conn *c)
{
	uint8_t buf[4096];
	const uint8_t *p = c->head->buf;
	int fd = lws_get_socket_fd(c->raw_wsi);
	ssize_t n;
	int dupfd;

	n = read(fd, buf, sizeof(buf));
	if (n < 0)
		return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
	if (n == 0)
		return -1;

	if (c->hanging)
		return 0;

	if (c->head->end + (size_t)n > MAX_HEAD) {
		fprintf(stderr, "%s: request head too large\n", c->name);
		return -1;
	}
	if (mbuf_write_mem(c->head, buf, (size_t)n))
		return -1;

	p = c->head->buf;
	if (!memmem(p, c->head->end, "\r\n\r\n", 4))
		return 0;

	if (conn_hang(c))
		return 0;

	dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dupfd < 0)
		return -1;

	/* either way, the pre-read wsi is done: lws owns dupfd now */
	(void)agent_handover(c->ag, c, dupfd);

	return -1;
}


static void agent_accept(struct agent *ag)
{
	int i;

	for (i = 0; i < 64; i++) {
		struct sockaddr_storage sa;
		socklen_t sl = sizeof(sa);
		lws_adopt_desc_t ad;
		struct conn *c;
		int fd;

		fd = accept4(lws_get_socket_fd(ag->lwsi),
			     (struct sockaddr *)&sa, &sl,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;

		if (conn_alloc(&c, ag, &sa)) {
			close(fd);
			continue;
		}

		if (ag->tls) {
			if (agent_handover(ag, c, fd))
				mem_deref(c);
			continue;
		}

		memset(&ad, 0, sizeof(ad));
		ad.vh = ag->vh;
		ad.type = LWS_ADOPT_RAW_FILE_DESC;
		ad.fd.filefd = fd;
		ad.vh_prot_name = "cb-raw";
		ad.opaque = c;
		c->raw_wsi = lws_adopt_descriptor_vhost_via_info(&ad);
		if (!c->raw_wsi) {
			close(fd);
			mem_deref(c);
			continue;
		}
		lws_set_timeout(c->raw_wsi, PENDING_TIMEOUT_USER_OK,
				PREREAD_TMO);
	}
}


static void agent_conn_done(struct agent *ag, struct conn *c)
{
	if (c->upgraded && ag->exit_after && ++ag->done >= ag->exit_after) {
		g_stop = 1;
		lws_cancel_service(ag->ctx);
	}
}


static int callback_agent(struct lws *wsi, enum lws_callback_reasons reason,
			  void *user, void *in, size_t len)
{
	struct agent *ag = lws_context_user(lws_get_context(wsi));
	struct conn *c;

	(void)user;

	switch (reason) {

	case LWS_CALLBACK_WSI_CREATE:
		if (ag->pending && !ag->pending_wsi)
			ag->pending_wsi = wsi;
		return 0;

	case LWS_CALLBACK_WSI_DESTROY:
		if (ag->pending_wsi == wsi)
			ag->pending_wsi = NULL;
		c = lws_get_opaque_user_data(wsi);
		if (!c)
			return 0;
		lws_set_opaque_user_data(wsi, NULL);
		if (c->raw_wsi == wsi) {
			c->raw_wsi = NULL;
			if (c->hanging)
				agent_conn_done(ag, c);
		}
		if (c->wsi == wsi) {
			c->wsi = NULL;
			agent_conn_done(ag, c);
		}
		mem_deref(c);
		return 0;

	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		c = conn_of(ag, wsi);
		if (!c)
			return -1;
		if (strcasecmp((const char *)in, "websocket"))
			return -1;
		return conn_upgrade(c);

	case LWS_CALLBACK_HTTP:
		/* a plain HTTP request: a readiness probe */
		if (lws_return_http_status(wsi, HTTP_STATUS_OK,
					   "cb-test-agent"))
			return -1;
		return lws_http_transaction_completed(wsi) ? -1 : 0;

	case LWS_CALLBACK_ESTABLISHED:
		c = conn_of(ag, wsi);
		if (!c || c->fd_log < 0)
			return -1;
		c->fd_in = rec_open(c, ".in.raw");
		c->fd_out = rec_open(c, ".out.raw");
		if (c->fd_in < 0 || c->fd_out < 0)
			return -1;
		rec_line(c, "open", json_object());
		if (ag->verbose)
			fprintf(stderr, "%s: open from %s\n", c->name,
				c->peer);
		return 0;

	case LWS_CALLBACK_RECEIVE:
		c = conn_of(ag, wsi);
		if (!c)
			return -1;
		return conn_receive(c, in, len);

	case LWS_CALLBACK_SERVER_WRITEABLE:
		c = conn_of(ag, wsi);
		if (!c)
			return -1;
		return conn_writeable(c);

	case LWS_CALLBACK_TIMER:
		c = conn_of(ag, wsi);
		if (!c)
			return 0;
		if (c->waiting) {
			rec_note(c, "waitmark %s timed out", c->waitmark);
			c->waiting = false;
		}
		if (c->stalled) {
			c->stalled = false;
			lws_rx_flow_control(wsi, 1);
		}
		conn_run(c);
		return 0;

	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: {
		const uint8_t *p = in;
		int code = len >= 2 ? (p[0] << 8 | p[1]) : 0;

		c = conn_of(ag, wsi);
		if (c)
			rec_line(c, "peer_close", json_pack("{s:i,s:s%}",
				 "code", code, "reason",
				 len > 2 ? (const char *)p + 2 : "",
				 len > 2 ? len - 2 : (size_t)0));
		return 0;
	}

	default:
		return 0;
	}
}


static int callback_raw(struct lws *wsi, enum lws_callback_reasons reason,
			void *user, void *in, size_t len)
{
	struct agent *ag = lws_context_user(lws_get_context(wsi));
	struct conn *c;

	(void)user;
	(void)in;
	(void)len;

	if (reason != LWS_CALLBACK_RAW_RX_FILE)
		return 0;

	if (wsi == ag->lwsi) {
		agent_accept(ag);
		return 0;
	}

	c = lws_get_opaque_user_data(wsi);
	if (!c)
		return -1;

	return conn_preread(c);
}


static const struct lws_protocols protocols[] = {
	{ "cb-agent", callback_agent, 0, 65536, 0, NULL, 0 },
	{ "cb-raw",   callback_raw,   0, 0,     0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};


static int listen_socket(const char *addr, unsigned port, int *fdp,
			 unsigned *portp)
{
	struct addrinfo hints, *ai = NULL;
	struct sockaddr_storage sa;
	socklen_t sl = sizeof(sa);
	char ps[8];
	int fd = -1, on = 1, err = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(ps, sizeof(ps), "%u", port);

	if (getaddrinfo(addr, ps, &hints, &ai)) {
		fprintf(stderr, "bad address \"%s\"\n", addr);
		return EINVAL;
	}

	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0) {
		err = errno;
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 256) ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl)) {
		err = errno;
		goto out;
	}

	*portp = ntohs(sa.ss_family == AF_INET6 ?
		       ((struct sockaddr_in6 *)&sa)->sin6_port :
		       ((struct sockaddr_in *)&sa)->sin_port);
	*fdp = fd;

 out:
	if (err) {
		fprintf(stderr, "cannot listen on %s port %u: %s\n", addr,
			port, strerror(err));
		if (fd >= 0)
			close(fd);
	}
	freeaddrinfo(ai);
	return err;
}


static int load_signal(struct agent *ag, const char *path)
{
	struct stat st;
	int fd, err = 0;
	ssize_t n;

	if (!path) {
		ag->sig_len = 8000;
		ag->sig = mem_alloc(ag->sig_len, NULL);
		if (!ag->sig)
			return ENOMEM;
		memset(ag->sig, 0xff, ag->sig_len);  /* µ-law silence */
		return 0;
	}

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		err = errno;
		goto out;
	}
	if (st.st_size < 2 || st.st_size > (256 << 20)) {
		fprintf(stderr, "signal %s: size must be 2 bytes..256 MB\n",
			path);
		err = EINVAL;
		goto out;
	}

	ag->sig_len = (size_t)st.st_size;
	ag->sig = mem_alloc(ag->sig_len, NULL);
	if (!ag->sig) {
		err = ENOMEM;
		goto out;
	}
	n = read(fd, ag->sig, ag->sig_len);
	if (n != (ssize_t)ag->sig_len)
		err = n < 0 ? errno : EIO;

 out:
	if (err && err != EINVAL)
		fprintf(stderr, "signal %s: %s\n", path, strerror(err));
	if (fd >= 0)
		close(fd);
	return err;
}


static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
	if (g_ctx)
		lws_cancel_service(g_ctx);
}


static void agent_lws_log(int level, const char *line)
{
	/* lws 4.1 reports every read-buffer adoption at error level */
	if (strstr(line, "adopt_socket_readbuf") ||
	    strstr(line, "calling service") || strstr(line, "deferring"))
		return;
	fprintf(stderr, "lws: %s", line);
	(void)level;
}


static void usage(void)
{
	fprintf(stderr,
		"usage: cb-test-agent [--addr 127.0.0.1] [--port 0] "
		"[--dir DIR]\n"
		"                     [--signal FILE] [--tls CERT KEY] "
		"[--exit-after-conns N] [-v]\n"
		"  the request path picks each connection's script; see the "
		"top of tests/agent/test_agent.c\n");
}


int main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{"addr",             required_argument, NULL, 'a'},
		{"port",             required_argument, NULL, 'p'},
		{"dir",              required_argument, NULL, 'd'},
		{"signal",           required_argument, NULL, 's'},
		{"tls",              required_argument, NULL, 't'},
		{"exit-after-conns", required_argument, NULL, 'x'},
		{"verbose",          no_argument,       NULL, 'v'},
		{"help",             no_argument,       NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	struct lws_context_creation_info info;
	const char *addr = "127.0.0.1", *sigfile = NULL;
	const char *cert = NULL, *key = NULL;
	struct agent ag;
	struct sigaction sa;
	uint32_t port = 0, n;
	unsigned bound = 0;
	lws_sock_file_fd_type lfd;
	int fd = -1, opt, err = 0;

	memset(&ag, 0, sizeof(ag));
	ag.dir = ".";

	while ((opt = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (opt) {

		case 'a':
			addr = optarg;
			break;

		case 'p':
			if (parse_u32(optarg, 0, 65535, &port))
				goto bad;
			break;

		case 'd':
			ag.dir = optarg;
			break;

		case 's':
			sigfile = optarg;
			break;

		case 't':
			if (optind >= argc)
				goto bad;
			cert = optarg;
			key = argv[optind++];
			ag.tls = true;
			break;

		case 'x':
			if (parse_u32(optarg, 1, 1000000, &n))
				goto bad;
			ag.exit_after = n;
			break;

		case 'v':
			ag.verbose = true;
			break;

		default:
			goto bad;
		}
	}
	if (optind != argc)
		goto bad;

	if (mkdir(ag.dir, 0755) && errno != EEXIST) {
		fprintf(stderr, "cannot create %s: %m\n", ag.dir);
		return 1;
	}

	err = load_signal(&ag, sigfile);
	if (err)
		return 1;

	err = listen_socket(addr, port, &fd, &bound);
	if (err)
		goto out;

	lws_set_log_level(ag.verbose ? (LLL_ERR | LLL_WARN | LLL_NOTICE) :
			  (LLL_ERR | LLL_WARN), agent_lws_log);

	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.protocols = protocols;
	info.user = &ag;
	info.max_http_header_data = MAX_HEAD;
	info.timeout_secs = 30;
	if (ag.tls) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = cert;
		info.ssl_private_key_filepath = key;
	}

	ag.ctx = lws_create_context(&info);
	if (!ag.ctx) {
		fprintf(stderr, "cannot create the lws context%s\n",
			ag.tls ? " (check --tls CERT KEY)" : "");
		err = EINVAL;
		goto out;
	}
	g_ctx = ag.ctx;
	ag.vh = lws_get_vhost_by_name(ag.ctx, "default");
	if (!ag.vh) {
		err = ENOENT;
		goto out;
	}

	lfd.filefd = fd;
	ag.lwsi = lws_adopt_descriptor_vhost(ag.vh, LWS_ADOPT_RAW_FILE_DESC,
					     lfd, "cb-raw", NULL);
	if (!ag.lwsi) {
		fd = -1;  /* lws closed it */
		fprintf(stderr, "cannot adopt the listening socket\n");
		err = EINVAL;
		goto out;
	}
	fd = -1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	printf("PORT %u\n", bound);
	fflush(stdout);
	if (ag.verbose)
		fprintf(stderr, "cb-test-agent: %s://%s:%u/ recording to %s\n",
			ag.tls ? "wss" : "ws", addr, bound, ag.dir);

	while (!g_stop)
		if (lws_service(ag.ctx, 0) < 0)
			break;

 out:
	if (ag.ctx)
		lws_context_destroy(ag.ctx);
	g_ctx = NULL;
	if (fd >= 0)
		close(fd);
	mem_deref(ag.sig);

	return err ? 1 : 0;

 bad:
	usage();
	return 2;
}
