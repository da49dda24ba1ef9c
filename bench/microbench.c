/**
 * @file microbench.c  cb-microbench: the cost of each media stage per frame
 *
 * Design note. Every stage that a call's media passes through 50 times a
 * second per direction is timed on one 20 ms frame, with the settings the
 * gateway uses, through the project's own code where it exists (codec/,
 * rtp/jb, gateway/twilio) and through the libraries directly otherwise:
 *
 *   G.711 encode/decode/transcode, base64 both ways, the Twilio `media`
 *   formatting and the parsing of an agent's `media`, the jitter buffer
 *   (put + get of an in-order stream), Opus encode and decode, SpeexDSP
 *   resampling, and a WebSocket text message sent over loopback TCP
 *   (libwebsockets client -> server thread), with a raw write() of the
 *   same bytes as the kernel's floor.
 *
 * Each stage runs in batches until a batch takes >= 0.2 s, then BATCHES
 * more; the report gives the fastest and the median batch in ns per frame
 * (the fastest is the most repeatable on a shared machine; the median
 * shows the noise). For instruction counts, run one stage under callgrind:
 *
 *   valgrind --tool=callgrind cb-microbench --only opus_enc_8k --iters 1000
 *
 * and divide Ir by the iterations (cb-microbench prints them).
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <opus/opus.h>
#include <speex/speex_resampler.h>
#include <libwebsockets.h>
#include "cb_re.h"
#include "g711.h"
#include "jb.h"
#include "opusc.h"
#include "resamp.h"
#include "twilio.h"
#include "b64.h"              /* the gateway's own base64 */
#include "wsproto.h"          /* the agent link's WebSocket framing */

enum {
	BATCHES  = 7,
	MIN_NS   = 200000000,   /**< a calibrated batch lasts this [ns]  */
	WS_MSGS  = 20000,       /**< WebSocket messages per batch         */
};

struct stage {
	const char *name;
	const char *what;
	int  (*setup)(void);
	void (*run)(uint64_t iters);
	void (*teardown)(void);
	bool per_msg;           /**< timed inside (WebSocket)             */
};

static volatile uint64_t sink;
static uint64_t fails;       /**< operations that returned an error */
static int16_t pcm8[160], pcm16[320], pcm48[960], out48[960 * 2];
static uint8_t ulaw[160], alaw[160], ubuf[256];
static char b64[256];
static size_t b64_len;
static char agent_msg[512];
static size_t agent_msg_len;
static char json_buf[1024];
static struct opusc_enc *enc8, *enc48;
static struct opusc_dec *dec8, *dec48;
static uint8_t opus_pkt8[400], opus_pkt48[400];
static int opus_len8, opus_len48;
static struct resamp *rs;
static struct jb *jb;
static uint16_t jb_seq;
static uint32_t jb_ts;
static uint64_t jb_now;


static uint64_t ns_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);

	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}


/* speech-ish test frames: a few partials and a little noise */
static void fill_audio(void)
{
	uint32_t x = 12345;

	for (int i = 0; i < 960; i++) {
		double t = (double)i / 48000;
		double v = 6000 * __builtin_sin(2 * 3.14159265 * 220 * t) +
			3000 * __builtin_sin(2 * 3.14159265 * 740 * t) +
			1500 * __builtin_sin(2 * 3.14159265 * 2300 * t);
		x ^= x << 13; x ^= x >> 17; x ^= x << 5;
		pcm48[i] = (int16_t)(v + (double)(x % 1000) - 500);
	}
	for (int i = 0; i < 320; i++)
		pcm16[i] = pcm48[i * 3];
	for (int i = 0; i < 160; i++)
		pcm8[i] = pcm48[i * 6];
	g711_ulaw_encode(ulaw, pcm8, 160);
	g711_alaw_encode(alaw, pcm8, 160);
}


/*
 * Stages
 */

static void run_ulaw_enc(uint64_t n)
{
	while (n--) {
		g711_ulaw_encode(ubuf, pcm8, 160);
		sink += ubuf[n % 160];
	}
}

static void run_ulaw_dec(uint64_t n)
{
	while (n--) {
		g711_ulaw_decode(out48, ulaw, 160);
		sink += (uint64_t)out48[n % 160];
	}
}

static void run_alaw_enc(uint64_t n)
{
	while (n--) {
		g711_alaw_encode(ubuf, pcm8, 160);
		sink += ubuf[n % 160];
	}
}

static void run_a2u(uint64_t n)
{
	while (n--) {
		g711_alaw_to_ulaw(ubuf, alaw, 160);
		sink += ubuf[n % 160];
	}
}

static void run_u2a(uint64_t n)
{
	while (n--) {
		g711_ulaw_to_alaw(ubuf, ulaw, 160);
		sink += ubuf[n % 160];
	}
}

static void run_b64_enc(uint64_t n)
{
	while (n--) {
		size_t olen = sizeof(b64);
		fails += base64_encode(ulaw, 160, b64, &olen) != 0;
		sink += olen;
	}
}

static int setup_b64(void)
{
	b64_len = sizeof(b64);
	return base64_encode(ulaw, 160, b64, &b64_len);
}

static void run_b64_dec(uint64_t n)
{
	while (n--) {
		size_t olen = sizeof(ubuf);
		fails += base64_decode(b64, b64_len, ubuf, &olen) != 0;
		sink += olen;
	}
}

static void run_tw_fmt(uint64_t n)
{
	static const char sid[] = "MZ0123456789abcdef0123456789abcdef";

	while (n--) {
		int len = twilio_fmt_media(json_buf, sizeof(json_buf),
					   (uint32_t)n + 2, sid,
					   (uint32_t)n + 1, n * 20, ulaw, 160);
		fails += len < 0;
		sink += (uint64_t)len;
	}
}

static int setup_tw_parse(void)
{
	int err = setup_b64();

	if (err)
		return err;

	agent_msg_len = (size_t)snprintf(agent_msg, sizeof(agent_msg),
		"{\"event\":\"media\",\"streamSid\":"
		"\"MZ0123456789abcdef0123456789abcdef\","
		"\"media\":{\"payload\":\"%.*s\"}}", (int)b64_len, b64);

	return 0;
}

/* the agent link's framing of one outgoing media message: header in
   front, payload masked in place (gateway/wsproto) */
static void run_ws_frame(uint64_t n)
{
	static uint8_t buf[WSP_HDR_MAX + 1024];
	static const uint8_t mask[4] = {0x5a, 0xc3, 0x19, 0x7e};

	memcpy(buf + WSP_HDR_MAX, agent_msg, agent_msg_len);
	while (n--) {
		size_t hl = wsp_frame_hdr(buf, WSP_TEXT, agent_msg_len, mask);

		wsp_mask(buf + WSP_HDR_MAX, agent_msg_len, mask);
		sink += hl + buf[WSP_HDR_MAX];
	}
}

static int ws_in(enum wsp_op op, const uint8_t *data, size_t len,
		 void *arg)
{
	(void)op;
	(void)arg;
	sink += len + data[0];

	return 0;
}

/* one incoming server frame (an agent's media message) through the
   agent link's decoder, as one read */
static void run_ws_parse(uint64_t n)
{
	static uint8_t frame[1100];
	struct wsp_dec d;
	size_t k = 0;

	frame[k++] = 0x81;
	frame[k++] = 126;
	frame[k++] = (uint8_t)(agent_msg_len >> 8);
	frame[k++] = (uint8_t)agent_msg_len;
	memcpy(frame + k, agent_msg, agent_msg_len);
	k += agent_msg_len;

	wsp_dec_init(&d, 1 << 20);
	while (n--) {
		if (wsp_feed(&d, frame, k, ws_in, NULL))
			++fails;
	}
	wsp_dec_reset(&d);
}

static void run_tw_parse(uint64_t n)
{
	while (n--) {
		struct twilio_in in;
		char err[64];

		if (!twilio_parse(&in, agent_msg, agent_msg_len, err,
				  sizeof(err))) {
			sink += in.payload_len;
			twilio_in_reset(&in);
		}
		else {
			++fails;
		}
	}
}

static void run_gw_b64_enc(uint64_t n)
{
	while (n--) {
		size_t olen = b64_encode(b64, ulaw, 160);
		fails += olen != 216;
		sink += olen;
	}
}

static void run_gw_b64_dec(uint64_t n)
{
	while (n--) {
		size_t olen = sizeof(ubuf);
		fails += b64_decode(ubuf, &olen, b64, b64_len) != 0;
		sink += olen;
	}
}

/* the gateway's receive side of one agent message: parse + base64 */
static void run_tw_parse_b64(uint64_t n)
{
	while (n--) {
		struct twilio_in in;
		char err[64];

		if (!twilio_parse(&in, agent_msg, agent_msg_len, err,
				  sizeof(err))) {
			size_t olen = sizeof(ubuf);
			fails += b64_decode(ubuf, &olen, in.payload,
					    in.payload_len) != 0;
			sink += olen;
			twilio_in_reset(&in);
		}
		else {
			++fails;
		}
	}
}

static int setup_jb(void)
{
	struct jb_conf conf;

	jb_conf_default(&conf);
	jb_seq = 1000;
	jb_ts = 160000;
	jb_now = 1000000;

	return jb_alloc(&jb, &conf);
}

static void run_jb(uint64_t n)
{
	while (n--) {
		struct jb_pkt p;
		struct jb_out o;

		memset(&p, 0, sizeof(p));
		p.ssrc = 0x1234;
		p.seq = jb_seq++;
		p.ts = jb_ts;
		p.pt = 0;
		p.payload = ulaw;
		p.len = 160;
		p.dur = 160;
		jb_ts += 160;
		jb_now += 20000;

		fails += jb_put(jb, jb_now, &p) != 0;
		while (!jb_get(jb, jb_now, &o))
			sink += o.nseg;
	}
}

static void teardown_jb(void)
{
	jb = mem_deref(jb);
}

static int setup_opus(void)
{
	struct opusc_enc_conf c;
	int err;

	memset(&c, 0, sizeof(c));
	c.rate = 8000;
	c.complexity = 5;          /* the gateway's defaults */
	c.bitrate = 32000;
	c.fec = true;
	err = opusc_enc_alloc(&enc8, &c);
	c.rate = 48000;
	err |= opusc_enc_alloc(&enc48, &c);
	err |= opusc_dec_alloc(&dec8, 8000);
	err |= opusc_dec_alloc(&dec48, 48000);
	if (err)
		return err;

	opus_len8 = opusc_encode(enc8, pcm8, 160, opus_pkt8,
				 sizeof(opus_pkt8));
	opus_len48 = opusc_encode(enc48, pcm48, 960, opus_pkt48,
				  sizeof(opus_pkt48));

	return (opus_len8 > 0 && opus_len48 > 0) ? 0 : EPROTO;
}

static void teardown_opus(void)
{
	enc8 = mem_deref(enc8);
	enc48 = mem_deref(enc48);
	dec8 = mem_deref(dec8);
	dec48 = mem_deref(dec48);
}

static void run_opus_enc8(uint64_t n)
{
	while (n--) {
		int r = opusc_encode(enc8, pcm8, 160, opus_pkt8,
				     sizeof(opus_pkt8));
		fails += r <= 0;
		sink += (uint64_t)r;
	}
}

static void run_opus_enc48(uint64_t n)
{
	while (n--) {
		int r = opusc_encode(enc48, pcm48, 960, opus_pkt48,
				     sizeof(opus_pkt48));
		fails += r <= 0;
		sink += (uint64_t)r;
	}
}

/* decode one packet n times; each must give `want` samples */
static void opus_dec_loop(struct opusc_dec *d, const uint8_t *pkt, int len,
			  int want, uint64_t n)
{
	while (n--) {
		int r = opusc_decode(d, pkt, (size_t)len, out48, 960);
		fails += r != want;
		sink += (uint64_t)r;
	}
}

static void run_opus_dec8(uint64_t n)
{
	opus_dec_loop(dec8, opus_pkt48, opus_len48, 160, n);
}

/* a narrowband packet (coded from 8 kHz), as a caller sends once the
   answer says maxplaybackrate=8000 */
static void run_opus_dec8_nb(uint64_t n)
{
	opus_dec_loop(dec8, opus_pkt8, opus_len8, 160, n);
}

static void run_opus_dec48(uint64_t n)
{
	opus_dec_loop(dec48, opus_pkt48, opus_len48, 960, n);
}

/* resampling at the gateway's default quality (3) and at 0 and 10 */
static uint32_t rs_in, rs_out, rs_q;

static int setup_rs(void)
{
	return resamp_alloc(&rs, rs_in, rs_out, rs_q);
}

static void teardown_rs(void)
{
	rs = mem_deref(rs);
}

static void run_rs(uint64_t n)
{
	const int16_t *in = rs_in == 8000 ? pcm8 : rs_in == 16000 ? pcm16 :
		pcm48;
	uint32_t in_n = rs_in / 50;

	while (n--) {
		int r = resamp_process(rs, in, in_n, out48,
				       sizeof(out48) / 2);
		fails += r < 0;
		sink += (uint64_t)r;
	}
}

#define RS_SETUP(name, i, o, q)						\
	static int name(void)						\
	{								\
		rs_in = i; rs_out = o; rs_q = q;			\
		return setup_rs();					\
	}
RS_SETUP(setup_rs_8_16_q3, 8000, 16000, 3)
RS_SETUP(setup_rs_16_8_q3, 16000, 8000, 3)
RS_SETUP(setup_rs_8_48_q3, 8000, 48000, 3)
RS_SETUP(setup_rs_48_8_q3, 48000, 8000, 3)
RS_SETUP(setup_rs_8_16_q0, 8000, 16000, 0)
RS_SETUP(setup_rs_8_16_q10, 8000, 16000, 10)


/*
 * WebSocket over loopback: a client in this thread sends text messages
 * of the size of a Twilio `media` message to a server thread. The cost
 * is this thread's CPU time per message (CLOCK_THREAD_CPUTIME_ID): the
 * frame masking, lws's bookkeeping and the send syscall, including the
 * kernel's loopback delivery that runs in the sender's context.
 */
static struct {
	struct lws_context *srv, *cli;
	struct lws *wsi;
	pthread_t tid;
	volatile bool srv_run;
	volatile bool established;
	volatile uint64_t rx;
	int port;
	char msg[LWS_PRE + 512];
	size_t msg_len;
	int raw_fd[2];
} ws;

static int srv_cb(struct lws *wsi, enum lws_callback_reasons reason,
		  void *user, void *in, size_t len)
{
	(void)wsi; (void)user; (void)in; (void)len;

	if (reason == LWS_CALLBACK_RECEIVE && lws_is_final_fragment(wsi))
		++ws.rx;

	return 0;
}

static int cli_cb(struct lws *wsi, enum lws_callback_reasons reason,
		  void *user, void *in, size_t len)
{
	(void)user; (void)in; (void)len;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		ws.established = true;
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
	case LWS_CALLBACK_CLIENT_CLOSED:
		ws.wsi = NULL;
		break;
	default:
		break;
	}
	(void)wsi;

	return 0;
}

static const struct lws_protocols srv_protos[] = {
	{ "mb", srv_cb, 0, 4096, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};
static const struct lws_protocols cli_protos[] = {
	{ "mb", cli_cb, 0, 4096, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void *srv_main(void *arg)
{
	(void)arg;

	while (ws.srv_run)
		lws_service(ws.srv, 0);

	return NULL;
}

static int setup_ws(void)
{
	struct lws_context_creation_info info;
	struct lws_client_connect_info ci;
	uint64_t deadline;

	lws_set_log_level(LLL_ERR, NULL);

	memset(&info, 0, sizeof(info));
	info.port = 0;
	info.iface = "127.0.0.1";
	info.protocols = srv_protos;
	ws.srv = lws_create_context(&info);
	if (!ws.srv)
		return ENOMEM;
	ws.port = lws_get_vhost_listen_port(lws_get_vhost_by_name(ws.srv,
								 "default"));

	ws.srv_run = true;
	if (pthread_create(&ws.tid, NULL, srv_main, NULL))
		return EAGAIN;

	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = cli_protos;
	ws.cli = lws_create_context(&info);
	if (!ws.cli)
		return ENOMEM;

	memset(&ci, 0, sizeof(ci));
	ci.context = ws.cli;
	ci.address = "127.0.0.1";
	ci.port = ws.port;
	ci.path = "/";
	ci.host = "127.0.0.1";
	ci.origin = "127.0.0.1";
	ci.protocol = "mb";
	ws.wsi = lws_client_connect_via_info(&ci);
	if (!ws.wsi)
		return ECONNREFUSED;

	deadline = ns_now() + 5000000000ull;
	while (!ws.established && ws.wsi && ns_now() < deadline)
		lws_service(ws.cli, 10);
	if (!ws.established)
		return ETIMEDOUT;

	/* a `media` message as the gateway sends it */
	ws.msg_len = (size_t)twilio_fmt_media(ws.msg + LWS_PRE,
			sizeof(ws.msg) - LWS_PRE, 2,
			"MZ0123456789abcdef0123456789abcdef", 1, 0, ulaw, 160);

	return 0;
}

static void teardown_ws(void)
{
	if (ws.cli)
		lws_context_destroy(ws.cli);
	ws.srv_run = false;
	if (ws.srv) {
		lws_cancel_service(ws.srv);
		pthread_join(ws.tid, NULL);
		lws_context_destroy(ws.srv);
	}
	memset(&ws, 0, sizeof(ws));
}

static uint64_t thread_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);

	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* returns this thread's CPU [ns] for n messages */
static uint64_t ws_send_n(uint64_t n)
{
	uint64_t t0 = thread_ns(), sent = 0, guard = 0;

	while (sent < n && ws.wsi && guard++ < n * 100) {
		if (lws_send_pipe_choked(ws.wsi)) {
			lws_service(ws.cli, 1);
			continue;
		}
		if (lws_write(ws.wsi, (unsigned char *)ws.msg + LWS_PRE,
			      ws.msg_len, LWS_WRITE_TEXT) < (int)ws.msg_len)
			break;
		++sent;
	}

	return thread_ns() - t0;
}

static int setup_raw(void)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int l, one = 1;

	l = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(l, 1) || getsockname(l, (struct sockaddr *)&sa, &sl))
		return errno;
	ws.raw_fd[0] = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(ws.raw_fd[0], (struct sockaddr *)&sa, sizeof(sa)))
		return errno;
	ws.raw_fd[1] = accept(l, NULL, NULL);
	close(l);
	(void)setsockopt(ws.raw_fd[0], IPPROTO_TCP, TCP_NODELAY, &one,
			 sizeof(one));
	ws.msg_len = (size_t)twilio_fmt_media(ws.msg + LWS_PRE,
			sizeof(ws.msg) - LWS_PRE, 2,
			"MZ0123456789abcdef0123456789abcdef", 1, 0, ulaw, 160)
		+ 8;   /* a masked client frame header */

	return ws.raw_fd[1] < 0 ? errno : 0;
}

static void teardown_raw(void)
{
	close(ws.raw_fd[0]);
	close(ws.raw_fd[1]);
}

/* write() of the same bytes, the reader drained in between batches */
static uint64_t raw_send_n(uint64_t n)
{
	static char rbuf[1 << 16];
	uint64_t t0 = thread_ns(), cost = 0;

	for (uint64_t i = 0; i < n; i++) {
		if (write(ws.raw_fd[0], ws.msg + LWS_PRE, ws.msg_len) < 0)
			break;
		if ((i & 63) == 63) {
			cost += thread_ns() - t0;
			while (recv(ws.raw_fd[1], rbuf, sizeof(rbuf),
				    MSG_DONTWAIT) > 0)
				;
			t0 = thread_ns();
		}
	}

	return cost + thread_ns() - t0;
}


static const struct stage stages[] = {
	{ "ulaw_enc", "G.711 µ-law encode, 160 samples", NULL,
	  run_ulaw_enc, NULL, false },
	{ "ulaw_dec", "G.711 µ-law decode, 160 samples", NULL,
	  run_ulaw_dec, NULL, false },
	{ "alaw_enc", "G.711 A-law encode, 160 samples", NULL,
	  run_alaw_enc, NULL, false },
	{ "alaw_to_ulaw", "A-law -> µ-law transcode, 160 bytes", NULL,
	  run_a2u, NULL, false },
	{ "ulaw_to_alaw", "µ-law -> A-law transcode, 160 bytes", NULL,
	  run_u2a, NULL, false },
	{ "base64_enc", "base64 encode, 160 bytes (libre)", NULL,
	  run_b64_enc, NULL, false },
	{ "base64_dec", "base64 decode, 216 chars (libre)", setup_b64,
	  run_b64_dec, NULL, false },
	{ "gw_b64_enc", "base64 encode, 160 bytes (gateway/b64)", NULL,
	  run_gw_b64_enc, NULL, false },
	{ "gw_b64_dec", "base64 decode, 216 chars (gateway/b64)", setup_b64,
	  run_gw_b64_dec, NULL, false },
	{ "twilio_fmt_media", "Twilio media message, 160 bytes: format "
	  "(twilio_fmt_media)", NULL, run_tw_fmt, NULL, false },
	{ "twilio_parse", "agent media message: parse (twilio_parse)",
	  setup_tw_parse, run_tw_parse, NULL, false },
	{ "twilio_parse_b64", "agent media message: parse + base64 decode",
	  setup_tw_parse, run_tw_parse_b64, NULL, false },
	{ "ws_frame", "agent media message: WebSocket frame + mask "
	  "(gateway/wsproto)", setup_tw_parse, run_ws_frame, NULL, false },
	{ "ws_parse", "agent media message: WebSocket decode, one read "
	  "(gateway/wsproto)", setup_tw_parse, run_ws_parse, NULL, false },
	{ "jb_put_get", "jitter buffer put + get, in order (rtp/jb)",
	  setup_jb, run_jb, teardown_jb, false },
	{ "opus_enc_8k", "Opus encode 20 ms from 8 kHz, cx 5, 32 kbit/s",
	  setup_opus, run_opus_enc8, teardown_opus, false },
	{ "opus_enc_48k", "Opus encode 20 ms from 48 kHz, cx 5, 32 kbit/s",
	  setup_opus, run_opus_enc48, teardown_opus, false },
	{ "opus_dec_8k", "Opus decode 20 ms to 8 kHz", setup_opus,
	  run_opus_dec8, teardown_opus, false },
	{ "opus_dec_nb_8k", "Opus decode 20 ms, narrowband, to 8 kHz", setup_opus,
	  run_opus_dec8_nb, teardown_opus, false },
	{ "opus_dec_48k", "Opus decode 20 ms to 48 kHz", setup_opus,
	  run_opus_dec48, teardown_opus, false },
	{ "rs_8_16_q3", "resample 8 -> 16 kHz, 20 ms, quality 3",
	  setup_rs_8_16_q3, run_rs, teardown_rs, false },
	{ "rs_16_8_q3", "resample 16 -> 8 kHz, 20 ms, quality 3",
	  setup_rs_16_8_q3, run_rs, teardown_rs, false },
	{ "rs_8_48_q3", "resample 8 -> 48 kHz, 20 ms, quality 3",
	  setup_rs_8_48_q3, run_rs, teardown_rs, false },
	{ "rs_48_8_q3", "resample 48 -> 8 kHz, 20 ms, quality 3",
	  setup_rs_48_8_q3, run_rs, teardown_rs, false },
	{ "rs_8_16_q0", "resample 8 -> 16 kHz, 20 ms, quality 0",
	  setup_rs_8_16_q0, run_rs, teardown_rs, false },
	{ "rs_8_16_q10", "resample 8 -> 16 kHz, 20 ms, quality 10",
	  setup_rs_8_16_q10, run_rs, teardown_rs, false },
	{ "ws_send", "WebSocket text message (media) over loopback, lws "
	  "(the agent link no longer uses lws's framing)",
	  setup_ws, NULL, teardown_ws, true },
	{ "tcp_write", "write() of the same bytes over loopback TCP",
	  setup_raw, NULL, teardown_raw, true },
};


static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}


static uint64_t timed(const struct stage *s, uint64_t iters)
{
	uint64_t t0;

	if (s->per_msg)
		return s->setup == setup_ws ? ws_send_n(iters) :
			raw_send_n(iters);

	t0 = ns_now();
	s->run(iters);
	return ns_now() - t0;
}


static int bench(const struct stage *s, uint64_t fixed_iters, bool json,
		 bool first)
{
	uint64_t iters = s->per_msg ? WS_MSGS : 1000, res[BATCHES];
	double best, med;
	int err = 0;

	if (s->setup) {
		err = s->setup();
		if (err) {
			fprintf(stderr, "cb-microbench: %s: set-up failed: %s\n",
				s->name, strerror(err));
			goto out;
		}
	}

	fails = 0;

	if (fixed_iters) {
		uint64_t t = timed(s, fixed_iters);
		printf("%-18s %10.1f ns/frame  (%llu iterations, one run)\n",
		       s->name, (double)t / (double)fixed_iters,
		       (unsigned long long)fixed_iters);
		goto out;
	}

	/* calibrate: a batch of at least MIN_NS */
	while (!s->per_msg) {
		uint64_t t = timed(s, iters);
		if (t >= MIN_NS || iters > (1ull << 34))
			break;
		iters = t ? iters * 2 * MIN_NS / t + 1 : iters * 10;
	}

	for (int b = 0; b < BATCHES; b++)
		res[b] = timed(s, iters);
	qsort(res, BATCHES, sizeof(res[0]), cmp_u64);
	best = (double)res[0] / (double)iters;
	med = (double)res[BATCHES / 2] / (double)iters;

	if (fails) {
		fprintf(stderr, "cb-microbench: %s: %llu operations failed\n",
			s->name, (unsigned long long)fails);
		err = EPROTO;
		goto out;
	}

	if (json)
		printf("%s\n  \"%s\": {\"ns_min\": %.1f, \"ns_median\": %.1f, "
		       "\"iters\": %llu, \"what\": \"%s\"}", first ? "" : ",",
		       s->name, best, med, (unsigned long long)iters, s->what);
	else
		printf("%-18s %10.1f %10.1f  %s\n", s->name, best, med,
		       s->what);

 out:
	if (s->teardown)
		s->teardown();
	fflush(stdout);

	return err;
}


int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{"only",  required_argument, NULL, 'o'},
		{"iters", required_argument, NULL, 'i'},
		{"json",  no_argument,       NULL, 'j'},
		{"list",  no_argument,       NULL, 'l'},
		{"help",  no_argument,       NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	const char *only = NULL;
	uint64_t iters = 0;
	bool json = false, first = true, any = false;
	int ch, err = 0;

	while ((ch = getopt_long(argc, argv, "o:i:jlh", lopts, NULL)) != -1) {
		switch (ch) {
		case 'o': only = optarg; break;
		case 'i': iters = strtoull(optarg, NULL, 10); break;
		case 'j': json = true; break;
		case 'l':
			for (size_t i = 0; i < sizeof(stages) /
				     sizeof(stages[0]); i++)
				printf("%-18s %s\n", stages[i].name,
				       stages[i].what);
			return 0;
		default:
			fprintf(stderr, "usage: cb-microbench [--only NAME] "
				"[--iters N] [--json] [--list]\n");
			return 2;
		}
	}

	if (libre_init())
		return 1;
	fill_audio();

	if (json)
		printf("{");
	else
		printf("%-18s %10s %10s  %s\n%s\n", "stage", "ns min",
		       "ns median", "per 20 ms frame (message)",
		       "-----------------------------------------------"
		       "-------------------------------------");

	for (size_t i = 0; i < sizeof(stages) / sizeof(stages[0]); i++) {
		if (only && strcmp(only, stages[i].name))
			continue;
		any = true;
		err |= bench(&stages[i], iters, json, first);
		first = false;
	}

	if (json)
		printf("\n}\n");

	libre_close();

	if (!any) {
		fprintf(stderr, "cb-microbench: no stage %s (see --list)\n",
			only ? only : "");
		return 2;
	}

	return err ? 1 : 0;
}
