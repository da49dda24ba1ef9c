/**
 * @file agentsim.c  cb-agentsim: the agent simulator (WebSocket server)
 *
 * Design note.
 * One process, one thread, one libev loop that libwebsockets runs on as a
 * foreign loop (as the gateway's workers do), plus the stdin control
 * channel and the play-mode timers. Any number of calls at once; each
 * WebSocket is one call. It speaks what the gateway announces in `start`:
 *
 *   protocol twilio   JSON text frames, base64 µ-law/8000 (Twilio's only
 *                     format) or base64 little-endian l16 at 8-48 kHz
 *   protocol raw      binary frames of l16 at the agent rate, JSON control
 *
 * Modes:
 *   echo   every media frame that arrives is answered at once with one
 *          frame of the same length: the same bytes plus our send time
 *          when the frame carries a byte stamp (bstamp.h), else our own
 *          tape (speech with onset markers on the grid shifted by half a
 *          period, bonset.h), placed by our send time, so the generator
 *          can measure WebSocket-send -> RTP-receive either way.
 *   play   like a real agent: every --play-every ms it sends --play-ms of
 *          speech at once, in --chunk-ms pieces, then a mark; it measures
 *          how late the mark's echo comes back after the audio should
 *          have finished playing. With --clear-every N, every Nth reply
 *          is cut half way with a clear (barge-in), and the time to the
 *          mark's echo is measured.
 *
 * In both modes, arriving media is measured: RTP-send -> WebSocket-receive
 * delay (byte stamps or onset markers), frames missing between stamps,
 * `chunk` gaps and the jitter of arrival against `media.timestamp`.
 *
 * Media messages are scanned for their few fields rather than parsed into
 * a DOM, so the simulator stays cheaper per message than the gateway it
 * loads; the rare control messages (start, mark, stop) go through jansson.
 *
 * TLS: with --tls-cert and --tls-key the listener serves wss:// (lws's
 * own OpenSSL server context, made with DO_SSL_GLOBAL_INIT), so that the
 * gateway's TLS cost per agent connection is part of what is measured.
 * The handshakes and record encryption on our side cost the simulator
 * CPU too; cbbench.py's load CPU bound still tells when that limits a
 * step. Both files are checked for reading before lws gets them, so a
 * wrong path is reported as such; a file lws cannot use (not PEM, a key
 * that does not match the certificate) fails the context: exit code 1
 * either way, as for an audio file that cannot be loaded.
 *
 * Control: the same stdin/stdout protocol as cb-loadgen: "reset",
 * "commit", "drop", "stats" (one JSON line) and "quit".
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <ev.h>
#include <libwebsockets.h>
#include "cb_re.h"
#include "bhist.h"
#include "bonset.h"
#include "bstamp.h"
#include "g711.h"

enum {
	MAX_MSG     = 1 << 20,    /**< largest message we take [bytes]      */
	MAX_FRAME   = 48000 / 50 * 2 * 6, /**< 120 ms of l16/48k [bytes]    */
	CMD_MAX     = 256,
	RATES       = 4,
	MARK_LOST_US = 5000000,   /**< a mark echo later than this is lost  */
};

enum mode { MODE_ECHO, MODE_PLAY };

/** Options */
static struct {
	const char *addr;
	int port;
	enum mode mode;
	const char *audio;
	uint32_t period_ms;
	uint32_t play_every_ms, play_ms, chunk_ms;
	uint32_t clear_every;
	const char *tls_cert;     /**< PEM certificate (chain): serve wss  */
	const char *tls_key;      /**< PEM private key of tls_cert         */
	bool verbose;
} opt;

/** A queued outgoing frame */
struct txf {
	struct txf *next;
	size_t len;
	bool binary;
	uint8_t buf[];            /**< LWS_PRE, then len bytes */
};

/**
 * One WebSocket, one call. lws per-session data: the loop thread only.
 */
struct sess {
	struct le le;             /**< in as.sessions                      */
	struct lws *wsi;
	bool started;
	bool raw;                 /**< raw protocol: binary PCM frames     */
	bool l16;                 /**< else µ-law                          */
	uint32_t rate;            /**< agent sample rate [Hz]              */
	char sid[64];             /**< streamSid                           */
	int64_t call;             /**< X-Bench-Call, -1 if unknown         */

	/* input */
	uint8_t *rx;
	size_t rx_len;
	bool rx_bin;
	bool rx_skip;

	/* output */
	struct txf *txq, *txq_tail;

	/* measurement */
	bool chunk_init;
	uint32_t chunk;
	bool ts_init;
	uint64_t ts_ms;           /**< last media.timestamp [ms]           */
	uint64_t ts_arr;          /**< its arrival [us]                    */
	double jitter_us;
	bool stamp_init;
	uint32_t stamp_seq;
	uint16_t eseq;            /**< our echo frame number               */
	struct bonset_det det;
	int64_t up_min;

	/* play mode */
	ev_timer tmr;
	bool tmr_on;
	uint32_t reply;           /**< replies sent                        */
	uint64_t mark_due;        /**< when the reply should have played   */
	uint64_t clear_at;        /**< when we cleared it, 0 if not        */
	bool mark_pending;
	bool clear_pending;       /**< clear this reply half way           */
	uint64_t play_pos_us;     /**< tape position of the next reply     */
};

/* the statistics' counters and histograms, listed once */
#define STAT_COUNTERS(X)						\
	X(conns) X(closed) X(starts) X(stops) X(bad) X(unknown)		\
	X(media_rx) X(media_tx) X(bytes_rx) X(bytes_tx) X(queued)	\
	X(ws_gap) X(stamped) X(stamp_lost) X(stamp_dup) X(crosstalk)	\
	X(corrupt) X(onsets) X(marks_sent) X(marks_echoed)		\
	X(marks_lost) X(unexpected_marks) X(clears)
#define STAT_HISTS(X) X(up) X(up_var) X(mark_lag) X(clear_lag)

/**
 * Measurement statistics: the current window (st) is committed into acc
 * or dropped, as the driver decides; "stats" prints both together.
 * up: RTP send -> WebSocket receive; up_var: up less the call's floor;
 * mark_lag: mark echo - when the reply should have finished playing;
 * clear_lag: clear -> mark echo; all in [us].
 */
struct stats {
	uint64_t t0;              /**< start of the window [us]           */
#define X(n) uint64_t n;
	STAT_COUNTERS(X)
#undef X
#define X(n) struct bhist n;
	STAT_HISTS(X)
#undef X
};

static struct stats st;           /**< the current window             */
static struct stats acc;          /**< committed windows              */
static uint64_t acc_us;           /**< their length [us]              */

/** Since start (not reset): the formats calls asked for */
static struct {
	uint64_t mulaw, l16, raw;
} fmts;

static struct {
	struct ev_loop *loop;
	struct lws_context *lws;
	ev_io stdin_io;
	ev_signal sigint, sigterm;
	struct baudio *speech[RATES];     /**< 8, 16, 24, 48 kHz     */
	struct baudio *src;
	struct bgrid grid_up, grid_down;
	struct list sessions;             /**< open WebSockets       */
	char cmd[CMD_MAX];
	size_t cmd_len;
} as;


static uint64_t now_us(void)
{
	return bonset_now_us();
}


static const struct baudio *speech_at(uint32_t rate)
{
	static const uint32_t rates[RATES] = {8000, 16000, 24000, 48000};

	for (int i = 0; i < RATES; i++) {
		if (rates[i] != rate)
			continue;
		if (!as.speech[i] &&
		    baudio_resample(&as.speech[i], as.src, rate))
			return NULL;
		return as.speech[i];
	}

	return NULL;
}


/*
 * Output
 */

static void txq_flush(struct sess *s)
{
	while (s->txq) {
		struct txf *f = s->txq;
		s->txq = f->next;
		free(f);
	}
	s->txq_tail = NULL;
}


/* buf has LWS_PRE bytes of headroom before it */
static int ws_send(struct sess *s, uint8_t *buf, size_t len, bool binary)
{
	enum lws_write_protocol wp = binary ? LWS_WRITE_BINARY :
		LWS_WRITE_TEXT;
	struct txf *f;

	if (!s->txq && !lws_send_pipe_choked(s->wsi)) {
		if (lws_write(s->wsi, buf, len, wp) < (int)len)
			return EPIPE;
		st.bytes_tx += len;
		return 0;
	}

	f = malloc(sizeof(*f) + LWS_PRE + len);
	if (!f)
		return ENOMEM;
	f->next = NULL;
	f->len = len;
	f->binary = binary;
	memcpy(f->buf + LWS_PRE, buf, len);
	if (s->txq_tail)
		s->txq_tail->next = f;
	else
		s->txq = f;
	s->txq_tail = f;
	++st.queued;

	lws_callback_on_writable(s->wsi);

	return 0;
}


static int writable(struct sess *s)
{
	struct txf *f = s->txq;

	if (!f)
		return 0;

	if (lws_write(s->wsi, f->buf + LWS_PRE, f->len, f->binary ?
		      LWS_WRITE_BINARY : LWS_WRITE_TEXT) < (int)f->len)
		return -1;

	st.bytes_tx += f->len;
	s->txq = f->next;
	if (!s->txq)
		s->txq_tail = NULL;
	free(f);

	if (s->txq)
		lws_callback_on_writable(s->wsi);

	return 0;
}


static int send_text(struct sess *s, const char *fmt, ...)
{
	uint8_t buf[LWS_PRE + 512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf((char *)buf + LWS_PRE, sizeof(buf) - LWS_PRE, fmt, ap);
	va_end(ap);

	if (n < 0 || (size_t)n >= sizeof(buf) - LWS_PRE)
		return EMSGSIZE;

	return ws_send(s, buf + LWS_PRE, (size_t)n, false);
}


/* one piece of agent audio (bytes in the session's format) to the gateway */
static int send_audio(struct sess *s, const uint8_t *audio, size_t len)
{
	static uint8_t buf[LWS_PRE + 64 + MAX_FRAME * 2 + 128];
	uint8_t *p = buf + LWS_PRE;
	size_t olen;
	int n, err;

	if (len > MAX_FRAME)
		return EMSGSIZE;

	if (s->raw) {
		memcpy(p, audio, len);
		err = ws_send(s, p, len, true);
	}
	else {
		n = snprintf((char *)p, 128, "{\"event\":\"media\","
			     "\"streamSid\":\"%s\",\"media\":{\"payload\":\"",
			     s->sid);
		olen = sizeof(buf) - LWS_PRE - (size_t)n - 8;
		err = base64_encode(audio, len, (char *)p + n, &olen);
		if (err)
			return err;
		memcpy(p + n + olen, "\"}}", 3);
		err = ws_send(s, p, (size_t)n + olen + 3, false);
	}

	if (!err)
		++st.media_tx;

	return err;
}


/* our tape for capture times [t_us, t_us + samples / rate), encoded */
static int tape_frame(struct sess *s, const struct bgrid *g, uint64_t t_us,
		      uint8_t *out, size_t samples)
{
	const struct baudio *sp = speech_at(s->rate);
	int16_t pcm[MAX_FRAME / 2];

	if (!sp || samples > MAX_FRAME / 2)
		return EINVAL;

	bonset_render(g, sp, t_us, pcm, samples);

	if (s->l16) {
		for (size_t i = 0; i < samples; i++) {
			out[2 * i]     = (uint8_t)(pcm[i] & 0xff);
			out[2 * i + 1] = (uint8_t)((uint16_t)pcm[i] >> 8);
		}
	}
	else {
		g711_ulaw_encode(out, pcm, samples);
	}

	return 0;
}


/*
 * Input: media
 */

/* The string value of "key" in a flat scan of a JSON text, or NULL */
static const char *jscan(const char *txt, size_t len, const char *key,
			 size_t *vlen)
{
	size_t kl = strlen(key);
	const char *p = txt, *end = txt + len;

	while ((p = memmem(p, (size_t)(end - p), key, kl))) {
		const char *v = p + kl;

		p += kl;
		while (v < end && (*v == ' ' || *v == '\t'))
			++v;
		if (v >= end || *v != ':')
			continue;
		++v;
		while (v < end && (*v == ' ' || *v == '\t'))
			++v;
		if (v >= end || *v != '"')
			continue;
		++v;
		p = memchr(v, '"', (size_t)(end - v));
		if (!p)
			return NULL;
		*vlen = (size_t)(p - v);
		return v;
	}

	return NULL;
}


static uint64_t jscan_u64(const char *txt, size_t len, const char *key,
			  bool *ok)
{
	char tmp[24];
	size_t vl;
	const char *v = jscan(txt, len, key, &vl);

	*ok = v && vl && vl < sizeof(tmp);
	if (!*ok)
		return 0;

	memcpy(tmp, v, vl);
	tmp[vl] = '\0';

	return strtoull(tmp, NULL, 10);
}


static void measure_up(struct sess *s, int64_t lat)
{
	bhist_add(&st.up, lat);
	if (s->up_min == INT64_MAX || lat < s->up_min)
		s->up_min = lat;
	bhist_add(&st.up_var, lat - s->up_min);
}


/* one frame of audio from the gateway: measure, and in echo mode answer */
static void on_audio(struct sess *s, uint8_t *audio, size_t len)
{
	uint64_t now = now_us();
	uint8_t ulaw[BSTAMP_LEN];
	int16_t pcm[MAX_FRAME / 2];
	const uint8_t *stampsrc = audio;
	size_t samples = s->l16 ? len / 2 : len;
	struct bstamp bs;
	bool stamped = false;
	uint64_t t_on;
	int err;

	++st.media_rx;

	if (len > MAX_FRAME || !samples)
		return;

	/* byte stamp: µ-law bytes, or l16/8000 taken back to µ-law */
	if (s->l16 && s->rate == 8000 && samples >= BSTAMP_LEN) {
		for (size_t i = 0; i < BSTAMP_LEN; i++)
			ulaw[i] = g711_lin2ulaw((int16_t)(audio[2 * i] |
						 audio[2 * i + 1] << 8));
		stampsrc = ulaw;
		err = bstamp_read(&bs, stampsrc, BSTAMP_LEN);
	}
	else if (!s->l16) {
		err = bstamp_read(&bs, audio, len);
	}
	else {
		err = ENOENT;
	}

	if (err == EBADMSG)
		++st.corrupt;

	if (!err) {
		stamped = true;
		++st.stamped;
		if (s->call >= 0 && bs.call != ((uint32_t)s->call & 0xffffff))
			++st.crosstalk;
		if (s->stamp_init) {
			int32_t d = (int32_t)(bs.seq - s->stamp_seq);
			if (d <= 0)
				++st.stamp_dup;
			else {
				st.stamp_lost += (uint64_t)(d - 1);
				s->stamp_seq = bs.seq;
			}
		}
		else {
			s->stamp_init = true;
			s->stamp_seq = bs.seq;
		}
		measure_up(s, bstamp_diff((uint32_t)now, bs.t0));
	}
	else {
		if (s->l16) {
			for (size_t i = 0; i < samples; i++)
				pcm[i] = (int16_t)(audio[2 * i] |
						   audio[2 * i + 1] << 8);
		}
		else {
			g711_ulaw_decode(pcm, audio, samples);
		}

		if (bonset_det_feed(&s->det, pcm, samples, now, &t_on)) {
			++st.onsets;
			measure_up(s, bonset_latency(&as.grid_up, t_on));
		}
	}

	if (opt.mode != MODE_ECHO)
		return;

	now = now_us();

	if (stamped) {
		if (s->l16) {
			/* ulaw holds the stamp taken from the l16 samples */
			(void)bstamp_write_echo(ulaw, BSTAMP_LEN,
						(uint32_t)now, s->eseq++);
			for (size_t i = 0; i < BSTAMP_LEN; i++) {
				int16_t v = g711_ulaw2lin(ulaw[i]);
				audio[2 * i] = (uint8_t)(v & 0xff);
				audio[2 * i + 1] = (uint8_t)((uint16_t)v >> 8);
			}
		}
		else {
			(void)bstamp_write_echo(audio, len, (uint32_t)now,
						s->eseq++);
		}
		(void)send_audio(s, audio, len);
	}
	else {
		uint8_t out[MAX_FRAME];
		uint64_t dur = (uint64_t)samples * 1000000u / s->rate;

		if (!tape_frame(s, &as.grid_down, now - dur, out, samples))
			(void)send_audio(s, out, len);
	}
}


static void on_media_json(struct sess *s, const char *txt, size_t len)
{
	uint8_t audio[MAX_FRAME];
	const char *b64;
	size_t b64len, alen = sizeof(audio);
	uint64_t now = now_us();
	uint64_t v;
	bool ok;

	b64 = jscan(txt, len, "\"payload\"", &b64len);
	if (!b64 || base64_decode(b64, b64len, audio, &alen)) {
		++st.bad;
		return;
	}
	st.bytes_rx += len;

	v = jscan_u64(txt, len, "\"chunk\"", &ok);
	if (ok) {
		if (s->chunk_init && v != (uint64_t)s->chunk + 1)
			++st.ws_gap;
		s->chunk_init = true;
		s->chunk = (uint32_t)v;
	}

	v = jscan_u64(txt, len, "\"timestamp\"", &ok);
	if (ok) {
		if (s->ts_init) {
			double d = (double)(int64_t)(now - s->ts_arr) -
				(double)((int64_t)v - (int64_t)s->ts_ms) * 1000;
			if (d < 0)
				d = -d;
			s->jitter_us += (d - s->jitter_us) / 16.0;
		}
		s->ts_init = true;
		s->ts_ms = v;
		s->ts_arr = now;
	}

	on_audio(s, audio, alen);
}


/*
 * Input: control
 */

static void play_tmr_cb(struct ev_loop *loop, ev_timer *t, int revents);

static void on_start(struct sess *s, json_t *j)
{
	json_t *start = json_object_get(j, "start");
	json_t *fmt, *cp, *v;
	const char *enc = NULL, *sid;

	if (s->started)
		return;

	sid = json_string_value(json_object_get(start, "streamSid"));
	if (!sid)
		sid = json_string_value(json_object_get(j, "streamSid"));
	if (sid)
		str_ncpy(s->sid, sid, sizeof(s->sid));

	fmt = json_object_get(start, "mediaFormat");
	enc = json_string_value(json_object_get(fmt, "encoding"));
	v = json_object_get(fmt, "sampleRate");
	if (json_is_integer(v))
		s->rate = (uint32_t)json_integer_value(v);
	else if (json_is_string(v))
		s->rate = (uint32_t)atoi(json_string_value(v));
	if (s->rate != 8000 && s->rate != 16000 && s->rate != 24000 &&
	    s->rate != 48000)
		s->rate = 8000;

	s->l16 = enc && strstr(enc, "l16");
	v = json_object_get(start, "protocol");
	if (!v)
		v = json_object_get(j, "protocol");
	if (json_is_string(v) && !strcmp(json_string_value(v), "raw"))
		s->raw = true;
	if (s->raw)
		s->l16 = true;

	cp = json_object_get(start, "customParameters");
	v = json_object_get(cp, "X-Bench-Call");
	if (!v)
		v = json_object_get(cp, "x-bench-call");
	if (json_is_string(v))
		s->call = atoll(json_string_value(v));

	s->started = true;
	++st.starts;
	if (s->raw)
		++fmts.raw;
	else if (s->l16)
		++fmts.l16;
	else
		++fmts.mulaw;
	bonset_det_init(&s->det, s->rate);

	if (opt.mode == MODE_PLAY) {
		/* spread the calls' replies over the period */
		ev_timer_init(&s->tmr, play_tmr_cb,
			      (double)(rand_u32() % opt.play_every_ms) / 1000,
			      0);
		s->tmr.data = s;
		ev_timer_start(as.loop, &s->tmr);
		s->tmr_on = true;
	}
}


static void on_mark(struct sess *s, json_t *j)
{
	const char *name = json_string_value(json_object_get(
				json_object_get(j, "mark"), "name"));
	uint64_t now = now_us();
	char want[32];

	snprintf(want, sizeof(want), "bench-%u", s->reply);
	if (!s->mark_pending || !name || strcmp(name, want)) {
		++st.unexpected_marks;
		return;
	}

	s->mark_pending = false;
	++st.marks_echoed;

	if (s->clear_at)
		bhist_add(&st.clear_lag, (int64_t)(now - s->clear_at));
	else
		bhist_add(&st.mark_lag, (int64_t)now - (int64_t)s->mark_due);
}


static void on_text(struct sess *s, const char *txt, size_t len)
{
	const char *ev;
	size_t evlen;
	json_t *j;
	json_error_t jerr;

	ev = jscan(txt, len, "\"event\"", &evlen);
	if (!ev) {
		++st.bad;
		return;
	}

	if (evlen == 5 && !memcmp(ev, "media", 5)) {
		on_media_json(s, txt, len);
		return;
	}

	j = json_loadb(txt, len, 0, &jerr);
	if (!j) {
		++st.bad;
		return;
	}

	if (evlen == 5 && !memcmp(ev, "start", 5))
		on_start(s, j);
	else if (evlen == 4 && !memcmp(ev, "mark", 4))
		on_mark(s, j);
	else if (evlen == 4 && !memcmp(ev, "stop", 4))
		++st.stops;
	else if (!(evlen == 9 && !memcmp(ev, "connected", 9)) &&
		 !(evlen == 4 && !memcmp(ev, "dtmf", 4)))
		++st.unknown;

	json_decref(j);
}


/*
 * Play mode: a reply, a mark, a pause
 */

static void play_reply(struct sess *s)
{
	uint32_t bps = s->l16 ? 2 : 1;
	size_t chunk = (size_t)s->rate * opt.chunk_ms / 1000;
	size_t total = (size_t)s->rate * opt.play_ms / 1000;
	static const struct bgrid none = { 3600000000ull, 1800000000ull };
	uint8_t out[MAX_FRAME];
	uint64_t now = now_us();

	if (chunk * bps > MAX_FRAME)
		chunk = MAX_FRAME / bps;

	++s->reply;
	for (size_t done = 0; done < total; done += chunk) {
		size_t n = total - done < chunk ? total - done : chunk;

		/* plain speech: markers mean nothing ahead of real time */
		if (tape_frame(s, &none, s->play_pos_us, out, n))
			return;
		s->play_pos_us += (uint64_t)n * 1000000u / s->rate;
		if (send_audio(s, out, n * bps))
			return;
	}

	if (send_text(s, "{\"event\":\"mark\",\"streamSid\":\"%s\","
		      "\"mark\":{\"name\":\"bench-%u\"}}", s->sid, s->reply))
		return;

	++st.marks_sent;
	s->mark_pending = true;
	s->mark_due = now + (uint64_t)opt.play_ms * 1000u;
	s->clear_at = 0;
}


static void play_tmr_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct sess *s = t->data;
	uint64_t now = now_us();

	(void)revents;

	/* barge-in half way through this reply */
	if (s->clear_pending) {
		s->clear_pending = false;
		if (!send_text(s, "{\"event\":\"clear\",\"streamSid\":"
			       "\"%s\"}", s->sid)) {
			++st.clears;
			s->clear_at = now;
		}
		ev_timer_set(t, (double)(opt.play_every_ms -
					 opt.play_ms / 2) / 1000, 0);
		ev_timer_start(loop, t);
		return;
	}

	/* the previous reply's mark has not come back yet: wait for it */
	if (s->mark_pending && now < s->mark_due + MARK_LOST_US) {
		ev_timer_set(t, 0.1, 0);
		ev_timer_start(loop, t);
		return;
	}
	if (s->mark_pending) {
		++st.marks_lost;
		s->mark_pending = false;
	}

	play_reply(s);

	if (opt.clear_every && s->reply % opt.clear_every == 0) {
		s->clear_pending = true;
		ev_timer_set(t, (double)opt.play_ms / 2000, 0);
	}
	else {
		ev_timer_set(t, (double)opt.play_every_ms / 1000, 0);
	}
	ev_timer_start(loop, t);
}


/*
 * libwebsockets
 */

static void sess_close(struct sess *s)
{
	if (s->tmr_on) {
		ev_timer_stop(as.loop, &s->tmr);
		s->tmr_on = false;
	}

	list_unlink(&s->le);
	txq_flush(s);
	free(s->rx);
	s->rx = NULL;
}


static int on_receive(struct sess *s, const uint8_t *in, size_t len,
		      bool first, bool final, bool binary)
{
	if (first) {
		s->rx_len = 0;
		s->rx_bin = binary;
		s->rx_skip = false;
	}

	/* the usual case: a whole message in one piece */
	if (first && final) {
		if (binary) {
			if (s->raw || s->l16) {
				uint8_t frame[MAX_FRAME];
				if (len > sizeof(frame)) {
					++st.bad;
					return 0;
				}
				memcpy(frame, in, len);
				st.bytes_rx += len;
				on_audio(s, frame, len);
			}
			else {
				++st.bad;
			}
		}
		else {
			on_text(s, (const char *)in, len);
		}
		return 0;
	}

	if (s->rx_skip)
		return 0;

	if (s->rx_len + len > MAX_MSG) {
		s->rx_skip = true;
		++st.bad;
		return 0;
	}

	if (!s->rx) {
		s->rx = malloc(MAX_MSG);
		if (!s->rx)
			return -1;
	}

	memcpy(s->rx + s->rx_len, in, len);
	s->rx_len += len;

	if (final)
		return on_receive(s, s->rx, s->rx_len, true, true, s->rx_bin);

	return 0;
}


static int callback(struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len)
{
	struct sess *s = user;

	switch (reason) {

	case LWS_CALLBACK_ESTABLISHED:
		memset(s, 0, sizeof(*s));
		s->wsi = wsi;
		s->call = -1;
		s->rate = 8000;
		s->up_min = INT64_MAX;
		bonset_det_init(&s->det, 8000);
		++st.conns;
		list_append(&as.sessions, &s->le, s);
		break;

	case LWS_CALLBACK_RECEIVE:
		if (on_receive(s, in, len, lws_is_first_fragment(wsi),
			       lws_is_final_fragment(wsi),
			       lws_frame_is_binary(wsi)))
			return -1;
		break;

	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (writable(s))
			return -1;
		break;

	case LWS_CALLBACK_CLOSED:
		sess_close(s);
		++st.closed;
		break;

	default:
		break;
	}

	return 0;
}


static const struct lws_protocols protocols[] = {
	{ "bench-agent", callback, sizeof(struct sess), 65536, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};


/*
 * Control
 */

static void stats_merge(struct stats *d, const struct stats *s)
{
#define X(n) d->n += s->n;
	STAT_COUNTERS(X)
#undef X
#define X(n) bhist_merge(&d->n, &s->n);
	STAT_HISTS(X)
#undef X
}


static void stats_window(void)
{
	memset(&st, 0, sizeof(st));
	st.t0 = now_us();
}


static void stats_commit(void)
{
	acc_us += now_us() - st.t0;
	stats_merge(&acc, &st);
	stats_window();
}


static void stats_reset(void)
{
	memset(&acc, 0, sizeof(acc));
	acc_us = 0;
	stats_window();
}


static void stats_print(FILE *f)
{
	static struct stats all;   /* large: not on the stack */
	uint64_t now = now_us();
	double jsum = 0, jmax = 0;
	uint32_t jn = 0;
	char buf[256];

	all = acc;
	stats_merge(&all, &st);

	/* arrival jitter against media.timestamp, of the open calls */
	for (struct le *le = as.sessions.head; le; le = le->next) {
		const struct sess *s = le->data;
		if (!s->ts_init)
			continue;
		jsum += s->jitter_us;
		jmax = s->jitter_us > jmax ? s->jitter_us : jmax;
		++jn;
	}

	fprintf(f, "{\"kind\":\"agentsim\",\"t_us\":%llu,"
		"\"interval_s\":%.3f,\"mode\":\"%s\",\"open\":%u,"
		"\"formats\":{\"mulaw\":%llu,\"l16\":%llu,\"raw\":%llu},"
		"\"ws_jitter_us_mean\":%.1f,\"ws_jitter_us_max\":%.1f",
		(unsigned long long)now,
		(double)(acc_us + now - st.t0) / 1e6,
		opt.mode == MODE_ECHO ? "echo" : "play",
		list_count(&as.sessions),
		(unsigned long long)fmts.mulaw,
		(unsigned long long)fmts.l16,
		(unsigned long long)fmts.raw,
		jn ? jsum / jn : 0.0, jmax);
#define X(n) fprintf(f, ",\"" #n "\":%llu", (unsigned long long)all.n);
	STAT_COUNTERS(X)
#undef X
#define X(n)								\
	if (bhist_json(buf, sizeof(buf), &all.n) < 0)			\
		snprintf(buf, sizeof(buf), "{\"n\":0}");		\
	fprintf(f, ",\"" #n "\":%s", buf);
	STAT_HISTS(X)
#undef X
	fprintf(f, "}\n");
	fflush(f);
}


static void quit(void)
{
	ev_break(as.loop, EVBREAK_ALL);
}


static void command(const char *line)
{
	char word[32] = "";

	if (sscanf(line, "%31s", word) < 1)
		return;

	if (!strcmp(word, "stats")) {
		stats_print(stdout);
		return;
	}

	if (!strcmp(word, "reset"))
		stats_reset();
	else if (!strcmp(word, "commit"))
		stats_commit();
	else if (!strcmp(word, "drop"))
		stats_window();
	else if (!strcmp(word, "quit"))
		quit();
	else {
		printf("{\"error\":\"unknown command\"}\n");
		fflush(stdout);
		return;
	}

	printf("{\"ok\":true}\n");
	fflush(stdout);
}


static void stdin_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	char buf[512];
	ssize_t n;

	(void)revents;

	n = read(STDIN_FILENO, buf, sizeof(buf));
	if (n <= 0) {
		struct stat sb;

		/* a driver's pipe closed: it is gone, so are we; a terminal
		   or /dev/null: run until a signal */
		ev_io_stop(loop, io);
		if (!fstat(STDIN_FILENO, &sb) && S_ISFIFO(sb.st_mode))
			quit();
		return;
	}

	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			as.cmd[as.cmd_len] = '\0';
			command(as.cmd);
			as.cmd_len = 0;
		}
		else if (as.cmd_len < sizeof(as.cmd) - 1) {
			as.cmd[as.cmd_len++] = buf[i];
		}
	}
}


static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;

	quit();
}


static void usage(void)
{
	fprintf(stderr,
"usage: cb-agentsim --audio FILE.wav [options]\n"
"\n"
"  -a, --addr ADDR       listen address (127.0.0.1)\n"
"  -p, --port N          listen port (8090)\n"
"  -m, --mode M          echo or play (echo)\n"
"      --audio FILE      speech-like WAV, 16-bit mono (speechgen.py)\n"
"      --period-ms N     onset marker period [ms], as cb-loadgen (500)\n"
"      --play-every MS   play: a reply every MS (4000)\n"
"      --play-ms MS      play: reply length (2000)\n"
"      --chunk-ms MS     play: audio per media message (100)\n"
"      --clear-every N   play: clear every Nth reply half way (0: never)\n"
"      --tls-cert FILE   serve wss://: PEM certificate (needs --tls-key)\n"
"      --tls-key FILE    PEM private key of --tls-cert\n"
"  -v, --verbose         libwebsockets warnings\n");
}


static int parse_opts(int argc, char **argv)
{
	static const struct option lopts[] = {
		{"addr",        required_argument, NULL, 'a'},
		{"port",        required_argument, NULL, 'p'},
		{"mode",        required_argument, NULL, 'm'},
		{"audio",       required_argument, NULL, 'A'},
		{"period-ms",   required_argument, NULL, 'P'},
		{"play-every",  required_argument, NULL, 'e'},
		{"play-ms",     required_argument, NULL, 'l'},
		{"chunk-ms",    required_argument, NULL, 'c'},
		{"clear-every", required_argument, NULL, 'C'},
		{"tls-cert",    required_argument, NULL, 'T'},
		{"tls-key",     required_argument, NULL, 'K'},
		{"verbose",     no_argument,       NULL, 'v'},
		{"help",        no_argument,       NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	int ch;

	opt.addr = "127.0.0.1";
	opt.port = 8090;
	opt.period_ms = 500;
	opt.play_every_ms = 4000;
	opt.play_ms = 2000;
	opt.chunk_ms = 100;

	while ((ch = getopt_long(argc, argv, "a:p:m:vh", lopts, NULL)) != -1) {
		switch (ch) {
		case 'a': opt.addr = optarg; break;
		case 'p': opt.port = atoi(optarg); break;
		case 'm':
			if (!strcmp(optarg, "echo"))
				opt.mode = MODE_ECHO;
			else if (!strcmp(optarg, "play"))
				opt.mode = MODE_PLAY;
			else {
				fprintf(stderr, "cb-agentsim: mode is echo or "
					"play\n");
				return EINVAL;
			}
			break;
		case 'A': opt.audio = optarg; break;
		case 'P': opt.period_ms = (uint32_t)atoi(optarg); break;
		case 'e': opt.play_every_ms = (uint32_t)atoi(optarg); break;
		case 'l': opt.play_ms = (uint32_t)atoi(optarg); break;
		case 'c': opt.chunk_ms = (uint32_t)atoi(optarg); break;
		case 'C': opt.clear_every = (uint32_t)atoi(optarg); break;
		case 'T': opt.tls_cert = optarg; break;
		case 'K': opt.tls_key = optarg; break;
		case 'v': opt.verbose = true; break;
		default:
			usage();
			return EINVAL;
		}
	}

	if (!opt.audio) {
		usage();
		return EINVAL;
	}
	if (opt.port < 1 || opt.port > 65535) {
		fprintf(stderr, "cb-agentsim: --port must be 1..65535\n");
		return EINVAL;
	}
	if (opt.period_ms < 200 || opt.period_ms > 10000 ||
	    opt.period_ms % 20) {
		fprintf(stderr, "cb-agentsim: --period-ms must be a multiple "
			"of 20 in 200..10000\n");
		return EINVAL;
	}
	if (opt.chunk_ms < 10 || opt.chunk_ms > 120 || opt.play_ms < 20 ||
	    opt.play_ms > 600000 || opt.play_every_ms < opt.play_ms ||
	    opt.play_every_ms > 3600000) {
		fprintf(stderr, "cb-agentsim: --chunk-ms 10..120, --play-ms "
			"20..600000, --play-every >= --play-ms\n");
		return EINVAL;
	}
	if (!opt.tls_cert != !opt.tls_key) {
		fprintf(stderr, "cb-agentsim: --tls-cert and --tls-key go "
			"together\n");
		return EINVAL;
	}

	return 0;
}


/**
 * Check that a TLS file can be read, so that a wrong path is reported as
 * such (lws would only say that the vhost failed)
 *
 * @param name  Its option, for the message ("tls-cert" or "tls-key")
 * @param path  File
 *
 * @return 0 if success, otherwise errorcode
 */
static int tls_file_check(const char *name, const char *path)
{
	FILE *f;
	int err = 0;

	f = fopen(path, "r");
	if (!f) {
		err = errno;
		fprintf(stderr, "cb-agentsim: --%s %s: cannot read: %s\n",
			name, path, strerror(err));
		return err;
	}
	if (fgetc(f) == EOF) {
		fprintf(stderr, "cb-agentsim: --%s %s: empty file\n",
			name, path);
		err = EINVAL;
	}
	fclose(f);

	return err;
}


int main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	struct rlimit rl;
	void *foreign[1];
	size_t at;
	int err, ret = 1;

	if (parse_opts(argc, argv))
		return 2;

	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);

	as.grid_up.period_us = opt.period_ms * 1000ull;
	as.grid_up.offset_us = 0;
	as.grid_down.period_us = opt.period_ms * 1000ull;
	as.grid_down.offset_us = opt.period_ms * 500ull;

	err = baudio_load(&as.src, opt.audio, 48000);
	if (err) {
		fprintf(stderr, "cb-agentsim: %s: cannot load audio: %s "
			"(want a WAV file, PCM 16-bit mono, >= 1 s)\n",
			opt.audio, strerror(err));
		goto out;
	}
	if (baudio_check(as.src, &at)) {
		fprintf(stderr, "cb-agentsim: %s: pause at %.3f s would "
			"read as a latency marker; use audio from "
			"bench/speechgen.py\n", opt.audio,
			(double)at / as.src->rate);
		goto out;
	}
	if (!speech_at(8000))
		goto out;
	if (opt.tls_cert && (tls_file_check("tls-cert", opt.tls_cert) ||
			     tls_file_check("tls-key", opt.tls_key)))
		goto out;

	lws_set_log_level(opt.verbose ? LLL_ERR | LLL_WARN : LLL_ERR, NULL);

	as.loop = ev_default_loop(EVFLAG_AUTO);
	if (!as.loop)
		goto out;

	foreign[0] = as.loop;
	memset(&info, 0, sizeof(info));
	info.port = opt.port;
	info.iface = opt.addr;
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_LIBEV;
	info.foreign_loops = foreign;
	info.timeout_secs = 30;
	if (opt.tls_cert) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = opt.tls_cert;
		info.ssl_private_key_filepath = opt.tls_key;
	}

	as.lws = lws_create_context(&info);
	if (!as.lws) {
		if (opt.tls_cert)
			fprintf(stderr, "cb-agentsim: cannot listen on %s:%d "
				"with TLS: is %s a PEM certificate and %s "
				"its PEM private key? (or the port is "
				"taken)\n", opt.addr, opt.port,
				opt.tls_cert, opt.tls_key);
		else
			fprintf(stderr, "cb-agentsim: cannot listen on "
				"%s:%d\n", opt.addr, opt.port);
		goto out;
	}

	ev_io_init(&as.stdin_io, stdin_cb, STDIN_FILENO, EV_READ);
	ev_io_start(as.loop, &as.stdin_io);
	ev_signal_init(&as.sigint, signal_cb, SIGINT);
	ev_signal_start(as.loop, &as.sigint);
	ev_signal_init(&as.sigterm, signal_cb, SIGTERM);
	ev_signal_start(as.loop, &as.sigterm);

	stats_reset();
	fprintf(stderr, "cb-agentsim: listening on %s://%s:%d/, %s mode\n",
		opt.tls_cert ? "wss" : "ws", opt.addr, opt.port,
		opt.mode == MODE_ECHO ? "echo" : "play");

	ev_run(as.loop, 0);
	ret = 0;

 out:
	if (as.lws) {
		lws_context_destroy(as.lws);
		ev_run(as.loop, EVRUN_NOWAIT);
	}
	if (as.loop) {
		ev_io_stop(as.loop, &as.stdin_io);
		ev_signal_stop(as.loop, &as.sigint);
		ev_signal_stop(as.loop, &as.sigterm);
		ev_loop_destroy(as.loop);
	}
	for (int i = 0; i < RATES; i++)
		mem_deref(as.speech[i]);
	mem_deref(as.src);

	return ret;
}
