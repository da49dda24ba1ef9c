/**
 * @file alink.c  Agent link: WebSocket client (libwebsockets) to an agent
 *
 * Design note.
 * - One lws_context per media worker (lws is built with LWS_MAX_SMP=1), so
 *   every callback for a link runs on the worker that owns the call.
 * - lws carries the connection only: DNS is ours (resolver.c), lws does
 *   TCP, TLS, the event loop and timeouts on a "RAW" client connection,
 *   and the WebSocket protocol is ours (wsproto.c: handshake, framing,
 *   a decoder that takes whole reads). lws 4.1's own WebSocket client
 *   parsed every received byte through a state machine and read
 *   /dev/urandom for every frame's mask; see wsproto.c and
 *   bench/README.md for what that cost. Masks come from OpenSSL's DRBG,
 *   64 bytes (16 frames) at a time.
 * - Output: the owner formats a message straight into alink_txbuf() (which
 *   keeps LWS_PRE >= WSP_HDR_MAX bytes of headroom, where the frame header
 *   goes) and calls alink_send(). When nothing is queued and lws holds no
 *   partial write, the frame is written at once: no writable-callback
 *   round trip per message. Otherwise it is framed and copied to a queue
 *   drained from LWS_CALLBACK_RAW_WRITEABLE. Media messages are
 *   "droppable": past agent_send_queue_kib of queued output (an agent
 *   that stopped reading; alink_set_txq_max) they are dropped, counted,
 *   and logged once per episode; control messages never are.
 * - Input: fragments are joined into whole messages up to ALINK_MAX_RX
 *   (longer ones are skipped and logged); pings are answered; a protocol
 *   error closes with 1002.
 * - Lifetime: the link is freed on LWS_CALLBACK_WSI_DESTROY, the last
 *   callback lws makes for a connection. alink_close() only detaches the
 *   owner and starts the close handshake (flush, close frame 1000, wait
 *   for the agent's close frame), with a deadline after which lws kills
 *   the connection.
 * - TLS (wss://) is ours too: OpenSSL over memory BIOs (tls_start(),
 *   tls_rx(), raw_write()), with one client SSL_CTX for the process
 *   (alink_tls_alloc), so the trust store is loaded once. lws 4.1.6
 *   starts TLS on a raw client connection before its socket exists and
 *   fails; and its own WebSocket client's TLS took no client SSL_CTX
 *   without DO_SSL_GLOBAL_INIT (every wss:// connect failed in SSL_new),
 *   and with it leaked the trust store once per worker. The certificate
 *   must chain to the store and name the URL's host (DNS name or IP
 *   address, RFC 6125); a failure says which.
 */
#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <libwebsockets.h>
#include <openssl/hmac.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <stdio.h>
#include "cb_re.h"
#include "alink.h"
#include "log.h"
#include "b64.h"
#include "wsproto.h"

/* headroom before a payload: lws's, which must hold our frame header */
_Static_assert(LWS_PRE >= WSP_HDR_MAX, "LWS_PRE too small for a header");

struct txmsg {
	struct txmsg *next;
	uint8_t *frame;       /**< in buf, at least LWS_PRE in       */
	size_t len;           /**< framed length (header + payload)  */
	uint8_t buf[];        /**< headroom, then the frame          */
};

struct alink {
	struct lws *wsi;
	struct alink_handlers h;
	void *arg;            /**< owner; NULL once detached         */
	bool established;     /**< upgraded                          */
	bool closing;         /**< alink_close() was called          */
	bool close_sent;      /**< our close frame is out            */
	bool in_connect;      /**< inside lws_client_connect_via_info */
	bool destroyed;       /**< lws destroyed the wsi              */
	char *url;
	char *path;           /**< request target                    */
	char *host;           /**< Host header value                 */
	char key[WSP_KEY_LEN + 1];   /**< Sec-WebSocket-Key          */

	/* TLS (wss://), see tls_start() */
	struct alink_tls *tls;  /**< the process's client context     */
	char *tls_host;       /**< name the certificate must carry   */
	SSL *ssl;             /**< NULL for ws://                    */
	BIO *rbio, *wbio;     /**< owned by ssl                      */
	bool tls_up;          /**< handshake done                    */

	/* output */
	struct txmsg *txq_head, *txq_tail;
	size_t txq_bytes;
	size_t txq_max;       /**< media dropped past this [bytes]    */
	uint64_t dropped;     /**< droppable messages dropped         */
	uint64_t drop_mark;   /**< `dropped` when the episode began   */
	bool tcp_up;          /**< the TCP connection is established  */
	bool dropping;        /**< in an episode of drops             */
	uint8_t *scratch;     /**< LWS_PRE + scratch_sz               */
	size_t scratch_sz;
	uint8_t masks[64];    /**< masking keys from the DRBG         */
	size_t mask_pos;

	/* input */
	uint8_t *resp;        /**< handshake response so far          */
	size_t resp_len;
	struct wsp_dec dec;
	uint64_t oversized_logged;

	char signature[64];   /**< X-Twilio-Signature, "" if none     */
};


static void txq_flush(struct alink *l)
{
	struct txmsg *m = l->txq_head;

	while (m) {
		struct txmsg *next = m->next;
		free(m);
		m = next;
	}

	l->txq_head = l->txq_tail = NULL;
	l->txq_bytes = 0;
}


static void destructor(void *arg)
{
	struct alink *l = arg;

	txq_flush(l);
	free(l->scratch);
	free(l->resp);
	wsp_dec_reset(&l->dec);
	mem_deref(l->url);
	mem_deref(l->path);
	mem_deref(l->host);
	mem_deref(l->tls_host);
	if (l->ssl)
		SSL_free(l->ssl);
	mem_deref(l->tls);
}


/**
 * Compute an X-Twilio-Signature compatible value for a URL
 *
 * base64(HMAC-SHA1(auth_token, url)), as Twilio signs stream URLs.
 *
 * @return 0 if success, otherwise errorcode
 */
int alink_signature(char *out, size_t outsz, const char *url,
		    const char *auth_token)
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	size_t olen = outsz - 1;
	int err;

	if (!out || !url || !auth_token || outsz < 32)
		return EINVAL;

	if (!HMAC(EVP_sha1(), auth_token, (int)strlen(auth_token),
		  (const uint8_t *)url, strlen(url), mac, &maclen))
		return EPROTO;

	err = base64_encode(mac, maclen, out, &olen);
	if (err)
		return err;

	out[olen] = '\0';

	return 0;
}


/** The TLS client context of every agent link */
struct alink_tls {
	SSL_CTX *ctx;
};


static void tls_destructor(void *arg)
{
	struct alink_tls *t = arg;

	SSL_CTX_free(t->ctx);
}


/**
 * Make the TLS client context for wss:// agents
 *
 * Peers are verified (SSL_VERIFY_PEER) against ca_file, or the system's
 * trust store when ca_file is NULL; TLS 1.2 or newer. The context outlives
 * every lws_context that uses it (see alink_tls_ctx()).
 *
 * @param tp       Pointer to allocated context
 * @param ca_file  PEM bundle agents must chain to, or NULL
 *
 * @return 0 if success, otherwise errorcode
 */
int alink_tls_alloc(struct alink_tls **tp, const char *ca_file)
{
	struct alink_tls *t;
	int err = 0;

	if (!tp)
		return EINVAL;

	t = mem_zalloc(sizeof(*t), tls_destructor);
	if (!t)
		return ENOMEM;

	t->ctx = SSL_CTX_new(TLS_client_method());
	if (!t->ctx) {
		err = ENOMEM;
		goto out;
	}

	if (!SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION)) {
		err = EPROTO;
		goto out;
	}

	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);

	if (ca_file ? !SSL_CTX_load_verify_locations(t->ctx, ca_file, NULL)
		    : !SSL_CTX_set_default_verify_paths(t->ctx)) {
		char ebuf[256];

		ERR_error_string_n(ERR_get_error(), ebuf, sizeof(ebuf));
		log_error("agent TLS: cannot load %s: %s",
			  ca_file ? ca_file : "the system's CA certificates",
			  ebuf);
		ERR_clear_error();
		err = ca_file ? ENOENT : EPROTO;
		goto out;
	}

 out:
	if (err)
		mem_deref(t);
	else
		*tp = t;

	return err;
}


/** The OpenSSL client context of the agent links */
struct ssl_ctx_st *alink_tls_ctx(const struct alink_tls *t)
{
	return t ? t->ctx : NULL;
}


static void notify_close(struct alink *l, int err, const char *reason)
{
	void (*closeh)(int, const char *, void *) = l->h.closeh;
	void *arg = l->arg;

	l->arg = NULL;
	memset(&l->h, 0, sizeof(l->h));

	if (closeh && arg)
		closeh(err, reason, arg);
}


/*
 * TLS for wss://, ours: OpenSSL over memory BIOs on the raw connection.
 * lws 4.1.6 cannot do TLS on a raw client connection (it starts TLS
 * before the socket exists and fails), so what lws reads is fed to rbio
 * and what OpenSSL writes to wbio is sent with lws_write().
 */

/* send what OpenSSL has written (records, alerts) */
static int tls_flush(struct alink *l)
{
	uint8_t buf[LWS_PRE + 16384 + 512];
	int n;

	while ((n = BIO_read(l->wbio, buf + LWS_PRE,
			     (int)(sizeof(buf) - LWS_PRE))) > 0) {
		if (!l->wsi ||
		    lws_write(l->wsi, buf + LWS_PRE, (size_t)n,
			      LWS_WRITE_RAW) < 0)
			return EPIPE;
	}

	return 0;
}


static const char *tls_why(struct alink *l, char *buf, size_t sz)
{
	long v = SSL_get_verify_result(l->ssl);
	unsigned long e = ERR_get_error();

	if (v != X509_V_OK)
		snprintf(buf, sz, "TLS: %s", X509_verify_cert_error_string(v));
	else if (e)
		snprintf(buf, sz, "TLS: %s", ERR_reason_error_string(e) ?
			 ERR_reason_error_string(e) : "handshake failed");
	else
		snprintf(buf, sz, "TLS: handshake failed");
	ERR_clear_error();

	return buf;
}


static int tls_start(struct alink *l)
{
	const char *host = l->tls_host;
	unsigned char ip[16];
	bool is_ip;
	int r;

	l->ssl = SSL_new(alink_tls_ctx(l->tls));
	if (!l->ssl)
		return ENOMEM;

	l->rbio = BIO_new(BIO_s_mem());
	l->wbio = BIO_new(BIO_s_mem());
	if (!l->rbio || !l->wbio) {
		BIO_free(l->rbio);
		BIO_free(l->wbio);
		l->rbio = l->wbio = NULL;
		return ENOMEM;
	}
	SSL_set_bio(l->ssl, l->rbio, l->wbio);   /* the SSL owns them now */

	is_ip = inet_pton(AF_INET, host, ip) == 1 ||
		inet_pton(AF_INET6, host, ip) == 1;

	/* the certificate must name the URL's host (RFC 6125) */
	if (is_ip)
		r = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(l->ssl),
						  host);
	else
		r = SSL_set1_host(l->ssl, host) &&
			SSL_set_tlsext_host_name(l->ssl, host);
	if (r != 1)
		return EINVAL;

	SSL_set_connect_state(l->ssl);
	r = SSL_do_handshake(l->ssl);
	if (r != 1 && SSL_get_error(l->ssl, r) != SSL_ERROR_WANT_READ)
		return EPROTO;

	return tls_flush(l);
}


/* the connection's bytes go up to the WebSocket layer */
static int ws_rx(struct alink *l, const uint8_t *in, size_t len);
static int ws_connected(struct alink *l);


static int tls_rx(struct alink *l, const uint8_t *in, size_t len)
{
	uint8_t buf[16384];
	int n, err = 0;

	if (BIO_write(l->rbio, in, (int)len) != (int)len)
		return ENOMEM;

	if (!l->tls_up) {
		n = SSL_do_handshake(l->ssl);
		if (n != 1) {
			if (SSL_get_error(l->ssl, n) == SSL_ERROR_WANT_READ)
				return tls_flush(l);
			(void)tls_flush(l);         /* the alert */
			{
				char why[160];

				tls_why(l, why, sizeof(why));
				log_info("agent link %s: %s", l->url, why);
				notify_close(l, ECONNREFUSED, why);
			}
			return EPROTO;
		}
		l->tls_up = true;
		err = ws_connected(l);
		if (err)
			return err;
	}

	for (;;) {
		n = SSL_read(l->ssl, buf, sizeof(buf));
		if (n <= 0)
			break;
		err = ws_rx(l, buf, (size_t)n);
		if (err)
			return err;
	}

	switch (SSL_get_error(l->ssl, n)) {

	case SSL_ERROR_WANT_READ:
		break;

	case SSL_ERROR_ZERO_RETURN:         /* close_notify */
		return ECONNRESET;

	default: {
		char why[160];

		tls_why(l, why, sizeof(why));
		notify_close(l, EPROTO, why);
		return EPROTO;
	}
	}

	/* a TLS 1.3 KeyUpdate answer, for one */
	return tls_flush(l);
}


/* write bytes to the agent, through TLS when there is TLS */
static int raw_write(struct alink *l, uint8_t *frame, size_t len)
{
	int n;

	if (!l->ssl) {
		n = lws_write(l->wsi, frame, len, LWS_WRITE_RAW);
		return (n < 0) ? EPIPE : 0;
	}

	n = SSL_write(l->ssl, frame, (int)len);
	if (n != (int)len)
		return EPIPE;

	return tls_flush(l);
}


/* the next masking key; the DRBG is asked once per 16 frames */
static const uint8_t *next_mask(struct alink *l)
{
	const uint8_t *m;

	if (l->mask_pos + 4 > sizeof(l->masks)) {
		/* should the DRBG ever fail, the previous keys are reused */
		(void)RAND_bytes(l->masks, sizeof(l->masks));
		l->mask_pos = 0;
	}

	m = l->masks + l->mask_pos;
	l->mask_pos += 4;

	return m;
}


/*
 * Frame a payload that sits at p (with LWS_PRE bytes of headroom before
 * it) in place: header in front, payload masked. Returns the frame start.
 */
static uint8_t *frame_in_place(struct alink *l, uint8_t *p, size_t len,
			       enum wsp_op op, size_t *flen)
{
	uint8_t hdr[WSP_HDR_MAX];
	const uint8_t *mask = next_mask(l);
	size_t hl = wsp_frame_hdr(hdr, op, len, mask);

	wsp_mask(p, len, mask);
	memcpy(p - hl, hdr, hl);
	*flen = hl + len;

	return p - hl;
}


/* queue a framed copy of a payload (a control frame or a message that
   cannot go out now) */
static int txq_add(struct alink *l, const void *data, size_t len,
		   enum wsp_op op)
{
	struct txmsg *m;
	size_t flen;

	m = malloc(sizeof(*m) + LWS_PRE + WSP_HDR_MAX + len);
	if (!m)
		return ENOMEM;

	/* the header goes in front, so the frame starts at LWS_PRE or
	   later: lws_write()'s headroom */
	memcpy(m->buf + LWS_PRE + WSP_HDR_MAX, data, len);
	m->frame = frame_in_place(l, m->buf + LWS_PRE + WSP_HDR_MAX, len, op,
				  &flen);

	m->next = NULL;
	m->len = flen;

	if (l->txq_tail)
		l->txq_tail->next = m;
	else
		l->txq_head = m;
	l->txq_tail = m;
	l->txq_bytes += flen;

	lws_callback_on_writable(l->wsi);

	return 0;
}


/* a control frame: at once when the way is clear, else queued (never
   dropped) */
static int send_ctl(struct alink *l, enum wsp_op op, const uint8_t *data,
		    size_t len)
{
	uint8_t buf[LWS_PRE + WSP_HDR_MAX + 125];
	uint8_t *frame;
	size_t flen;

	if (len > 125 || !l->wsi)
		return EINVAL;

	if (l->txq_head || lws_partial_buffered(l->wsi))
		return txq_add(l, data, len, op);

	memcpy(buf + LWS_PRE + WSP_HDR_MAX, data, len);
	frame = frame_in_place(l, buf + LWS_PRE + WSP_HDR_MAX, len, op,
			       &flen);

	return raw_write(l, frame, flen);
}


static int send_close(struct alink *l, uint16_t code, const char *reason)
{
	uint8_t b[2 + 64];
	size_t n = reason ? strlen(reason) : 0;

	if (l->close_sent)
		return 0;
	l->close_sent = true;

	if (n > sizeof(b) - 2)
		n = sizeof(b) - 2;
	b[0] = (uint8_t)(code >> 8);
	b[1] = (uint8_t)code;
	if (n)
		memcpy(b + 2, reason, n);

	return send_ctl(l, WSP_CLOSE, b, 2 + n);
}


/* a message or control frame from the agent; non-zero: stop reading */
static int on_msg(enum wsp_op op, const uint8_t *data, size_t len,
		  void *arg)
{
	struct alink *l = arg;

	switch (op) {

	case WSP_TEXT:
		if (!l->closing && l->h.texth && l->arg)
			l->h.texth((const char *)data, len, l->arg);
		break;

	case WSP_BIN:
		if (!l->closing && l->h.binh && l->arg)
			l->h.binh(data, len, l->arg);
		break;

	case WSP_PING:
		if (!l->close_sent && send_ctl(l, WSP_PONG, data, len))
			return EPIPE;
		break;

	case WSP_CLOSE: {
		uint16_t code = len >= 2 ? (uint16_t)(data[0] << 8 | data[1])
			: 0;

		log_debug("agent link %s: agent closed (%u)", l->url, code);
		/* echo the status (5.5.1); an empty close gets 1000 */
		(void)send_close(l, code ? code : WSP_NORMAL, NULL);
		return ECONNRESET;
	}

	default:
		break;
	}

	return 0;
}


/* the handshake response, as it arrives */
static int handshake_rx(struct alink *l, const uint8_t *in, size_t len)
{
	const char *why = NULL;
	ssize_t end;
	int status = 0, err;
	size_t take;

	take = WSP_RESP_MAX - l->resp_len;
	if (take > len)
		take = len;

	/* just what came (a response is some 150 bytes), up to the limit */
	{
		uint8_t *p = realloc(l->resp, l->resp_len + take);

		if (!p)
			return ENOMEM;
		l->resp = p;
	}
	memcpy(l->resp + l->resp_len, in, take);
	l->resp_len += take;

	end = wsp_response_end(l->resp, l->resp_len);
	if (end < 0) {
		if (l->resp_len < WSP_RESP_MAX)
			return 0;                 /* more to come */
		notify_close(l, ECONNREFUSED, "upgrade response too long");
		return EPROTO;
	}

	err = wsp_response((const char *)l->resp, (size_t)end, l->key,
			   &status, &why);
	if (err) {
		char reason[96];

		if (status && status != 101)
			snprintf(reason, sizeof(reason),
				 "upgrade refused: HTTP %d", status);
		else
			snprintf(reason, sizeof(reason), "bad upgrade: %s",
				 why);
		log_debug("agent link %s: %s", l->url, reason);
		notify_close(l, ECONNREFUSED, reason);
		return EPROTO;
	}

	l->established = true;
	if (l->h.openh && l->arg)
		l->h.openh(l->arg);

	/* frames that came in the same read as the response */
	{
		size_t rest = (size_t)end - (l->resp_len - take);
		const uint8_t *p = in + rest;
		size_t n = len - rest;

		free(l->resp);
		l->resp = NULL;
		l->resp_len = 0;

		if (n)
			return wsp_feed(&l->dec, p, n, on_msg, l);
	}

	return 0;
}


static int frames_rx(struct alink *l, const uint8_t *in, size_t len)
{
	int err = wsp_feed(&l->dec, in, len, on_msg, l);

	if (l->dec.oversized > l->oversized_logged) {
		l->oversized_logged = l->dec.oversized;
		log_warn("agent link %s: message over %u bytes dropped",
			 l->url, ALINK_MAX_RX);
	}

	if (err == EPROTO) {
		log_info("agent link %s: protocol error: %s", l->url,
			 l->dec.error);
		(void)send_close(l, WSP_PROTOCOL, "protocol error");
		notify_close(l, EPROTO, l->dec.error);
	}
	else if (err == ENOMEM) {
		notify_close(l, ENOMEM, "out of memory");
	}

	return err;
}


/* the connection is up (and TLS, if any): ask for the upgrade */
static int ws_connected(struct alink *l)
{
	char req[LWS_PRE + 4096];
	size_t n;
	int err;

	err = wsp_request(req + LWS_PRE, sizeof(req) - LWS_PRE, &n, l->path,
			  l->host, l->key,
			  l->signature[0] ? "X-Twilio-Signature" : NULL,
			  l->signature);
	if (err)
		return err;

	return raw_write(l, (uint8_t *)req + LWS_PRE, n);
}


static int ws_rx(struct alink *l, const uint8_t *in, size_t len)
{
	return l->established ? frames_rx(l, in, len)
		: handshake_rx(l, in, len);
}


/*
 * A fixed kernel send buffer for the link (ALINK_SNDBUF). Left to
 * autotuning, Linux grows it to tcp_wmem's maximum (4 MiB) for an agent
 * that stops reading: minutes of stale audio held in the kernel, out of
 * reach of agent_send_queue_kib and its drops.
 */
static void sndbuf_limit(struct alink *l, struct lws *wsi)
{
	int fd = (int)lws_get_socket_fd(wsi);
	int sz = ALINK_SNDBUF;

	if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)))
		log_debug("agent link %s: SO_SNDBUF: %m", l->url, errno);
}


static int callback(struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len)
{
	struct alink *l = lws_get_opaque_user_data(wsi);
	int err;

	(void)user;

	switch (reason) {

	case LWS_CALLBACK_RAW_CONNECTED:
		if (!l)
			return -1;
		sndbuf_limit(l, wsi);
		l->tcp_up = true;
		err = l->tls ? tls_start(l) : ws_connected(l);
		if (err) {
			notify_close(l, err, l->tls ? "TLS start failed" :
				     "cannot send the upgrade");
			return -1;
		}
		break;

	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (!l)
			break;
		log_debug("agent link %s: connection error: %s", l->url,
			  in ? (const char *)in : "unknown");
		if (!l->in_connect)
			notify_close(l, ECONNREFUSED,
				     in ? (const char *)in : "connect failed");
		break;

	case LWS_CALLBACK_RAW_RX:
		if (!l || !len)
			break;
		err = l->ssl ? tls_rx(l, in, len) : ws_rx(l, in, len);
		if (err)
			return -1;
		break;

	case LWS_CALLBACK_RAW_WRITEABLE: {
		struct txmsg *m;

		if (!l)
			return -1;

		m = l->txq_head;
		if (m) {
			l->txq_head = m->next;
			if (!l->txq_head)
				l->txq_tail = NULL;
			l->txq_bytes -= m->len;
			if (l->dropping && l->txq_bytes <= l->txq_max / 2) {
				log_info("agent link %s: the agent reads again; "
					 "%llu media messages were dropped",
					 l->url, (unsigned long long)
					 (l->dropped - l->drop_mark));
				l->dropping = false;
			}

			err = raw_write(l, m->frame, m->len);
			free(m);
			if (err) {
				notify_close(l, err, "write failed");
				return -1;
			}
		}

		if (l->txq_head) {
			lws_callback_on_writable(wsi);
			break;
		}

		if (l->closing && l->established && !l->close_sent &&
		    send_close(l, WSP_NORMAL, "bye"))
			return -1;
		break;
	}

	case LWS_CALLBACK_RAW_CLOSE:
		if (l)
			notify_close(l, ECONNRESET, l->established ?
				     "agent closed the WebSocket" :
				     "connection closed before the upgrade");
		break;

	case LWS_CALLBACK_WSI_DESTROY:
		if (!l)
			break;
		lws_set_opaque_user_data(wsi, NULL);
		l->wsi = NULL;
		l->destroyed = true;
		if (l->in_connect)
			break;      /* alink_connect() cleans up */
		notify_close(l, ECONNRESET, "connection gone");
		mem_deref(l);
		break;

	default:
		break;
	}

	return 0;
}


/* raw connection: lws reads into its per-thread buffer (4 KiB) and hands
   us each read; wsproto joins frames and fragments (ALINK_MAX_RX) */
static const struct lws_protocols protocols[] = {
	{"cb-agent", callback, 0, 4096, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0}
};


/** Protocols of a worker's lws_context: agent links only */
const struct lws_protocols *alink_protocols(void)
{
	return protocols;
}


/**
 * Open a WebSocket to an agent
 *
 * @param lp            Pointer to the link (owned by lws once connected)
 * @param ctx           The worker's lws context
 * @param url           ws:// or wss:// URL
 * @param addr          Address to connect to instead of resolving the
 *                      URL's host (which still goes in Host and TLS SNI
 *                      and is what the certificate must match), or NULL
 * @param auth_token    Agent's auth token (adds X-Twilio-Signature), or NULL
 * @param tls           TLS client context, for wss:// URLs
 * @param h             Handlers
 * @param arg           Handler argument (the owner)
 *
 * @return 0 if the connection is under way, otherwise errorcode
 */
int alink_connect(struct alink **lp, struct lws_context *ctx,
		  const char *url, const char *addr, const char *auth_token,
		  struct alink_tls *tls,
		  const struct alink_handlers *h, void *arg)
{
	struct lws_client_connect_info ci;
	const char *prot, *ads, *path;
	char *tmp = NULL;
	struct alink *l;
	int port, err = 0;

	if (!lp || !ctx || !url || !h)
		return EINVAL;

	l = mem_zalloc(sizeof(*l), destructor);
	if (!l)
		return ENOMEM;

	l->h   = *h;
	l->arg = arg;
	l->txq_max = ALINK_MAX_TXQ;

	err = str_dup(&l->url, url);
	if (err)
		goto out;

	if (auth_token && *auth_token) {
		err = alink_signature(l->signature, sizeof(l->signature),
				      url, auth_token);
		if (err)
			goto out;
	}

	err = str_dup(&tmp, url);
	if (err)
		goto out;

	if (lws_parse_uri(tmp, &prot, &ads, &port, &path)) {
		err = EINVAL;
		goto out;
	}

	err = re_sdprintf(&l->path, "/%s", path);
	if (err)
		goto out;

	if ((!strcmp(prot, "ws") && port == 80) ||
	    (!strcmp(prot, "wss") && port == 443))
		err = str_dup(&l->host, ads);
	else if (strchr(ads, ':'))
		err = re_sdprintf(&l->host, "[%s]:%d", ads, port);
	else
		err = re_sdprintf(&l->host, "%s:%d", ads, port);
	if (err)
		goto out;

	{
		uint8_t nonce[16];

		if (RAND_bytes(nonce, sizeof(nonce)) != 1 ||
		    RAND_bytes(l->masks, sizeof(l->masks)) != 1) {
			err = EAGAIN;
			goto out;
		}
		l->key[b64_encode(l->key, nonce, sizeof(nonce))] = '\0';
	}
	wsp_dec_init(&l->dec, ALINK_MAX_RX);

	memset(&ci, 0, sizeof(ci));
	ci.context = ctx;
	ci.address = addr ? addr : ads;
	ci.port    = port;
	ci.path    = l->path;
	ci.host    = l->host;
	ci.method  = "RAW";      /* lws: TCP and TLS only; WebSocket: ours */
	ci.protocol = protocols[0].name;
	ci.local_protocol_name = protocols[0].name;
	ci.opaque_user_data = l;
	ci.pwsi    = &l->wsi;
	if (!strcmp(prot, "wss")) {
		if (!tls) {
			err = EINVAL;
			goto out;
		}
		l->tls = mem_ref(tls);
		err = str_dup(&l->tls_host, ads);
		if (err)
			goto out;
	}
	else if (strcmp(prot, "ws")) {
		err = EPROTONOSUPPORT;
		goto out;
	}

	l->in_connect = true;
	(void)lws_client_connect_via_info(&ci);
	l->in_connect = false;

	if (!l->wsi || l->destroyed) {
		err = ECONNREFUSED;
		goto out;
	}

 out:
	mem_deref(tmp);

	if (err) {
		if (l->wsi) {
			lws_set_opaque_user_data(l->wsi, NULL);
			lws_set_timeout(l->wsi, PENDING_TIMEOUT_USER_OK,
					LWS_TO_KILL_ASYNC);
		}
		mem_deref(l);
	}
	else {
		*lp = l;
	}

	return err;
}


/**
 * Scratch buffer for formatting one message in place
 *
 * @return pointer to len bytes (with LWS_PRE headroom before it), or NULL
 */
uint8_t *alink_txbuf(struct alink *l, size_t len)
{
	if (!l)
		return NULL;

	if (len > l->scratch_sz) {
		uint8_t *p = realloc(l->scratch, LWS_PRE + len);
		if (!p)
			return NULL;
		l->scratch = p;
		l->scratch_sz = len;
	}

	return l->scratch + LWS_PRE;
}


/**
 * Send a message to the agent
 *
 * @param l          Link
 * @param data       Message; if it is the alink_txbuf() buffer it is
 *                   written in place, else copied
 * @param len        Length [bytes]
 * @param binary     Binary frame, else text
 * @param droppable  May be dropped while the agent is not reading (media)
 *
 * @return 0 if sent or queued, ENOTCONN if not open, EPIPE on error
 */
int alink_send(struct alink *l, const void *data, size_t len, bool binary,
	       bool droppable)
{
	if (!l || !data)
		return EINVAL;

	if (!l->wsi || !l->established || l->closing)
		return ENOTCONN;

	if (!l->txq_head && !lws_partial_buffered(l->wsi)) {
		uint8_t *p = (uint8_t *)data, *frame;
		size_t flen;

		if (data != l->scratch + LWS_PRE) {
			p = alink_txbuf(l, len);
			if (!p)
				return ENOMEM;
			memcpy(p, data, len);
		}
		frame = frame_in_place(l, p, len, binary ? WSP_BIN : WSP_TEXT,
				       &flen);
		return raw_write(l, frame, flen);
	}

	if (droppable && l->txq_bytes + len > l->txq_max) {
		if (!l->dropping) {
			log_warn("agent link %s: the agent is not reading: "
				 "%zu bytes queued, media dropped until it "
				 "does", l->url, l->txq_bytes);
			l->dropping = true;
			l->drop_mark = l->dropped;
		}
		++l->dropped;
		return 0;
	}

	return txq_add(l, data, len, binary ? WSP_BIN : WSP_TEXT);
}


/**
 * Detach the owner and close the link gracefully
 *
 * Queued messages are flushed first, then a close frame is sent; lws kills
 * the connection if that takes more than a few seconds. No handler runs
 * after this call. The link frees itself.
 *
 * @param l    Link (may be NULL)
 * @param why  For the log
 */
void alink_close(struct alink *l, const char *why)
{
	if (!l)
		return;

	l->arg = NULL;
	memset(&l->h, 0, sizeof(l->h));

	if (l->closing)
		return;

	l->closing = true;
	log_debug("agent link %s: closing (%s)", l->url, why ? why : "");

	if (!l->wsi) {
		mem_deref(l);
		return;
	}

	if (l->established) {
		lws_set_timeout(l->wsi, PENDING_TIMEOUT_CLOSE_SEND, 3);
		lws_callback_on_writable(l->wsi);
	}
	else {
		/* not upgraded yet: nothing to flush, close the TCP now
		   (WSI_DESTROY frees l: do not touch it after this) */
		lws_set_timeout(l->wsi, PENDING_TIMEOUT_USER_OK,
				LWS_TO_KILL_SYNC);
	}
}


/**
 * Set how much output may wait for an agent that does not read before
 * media messages are dropped (control messages never are)
 *
 * @param l      Agent link
 * @param bytes  Queued output [bytes], at least 1
 */
void alink_set_txq_max(struct alink *l, size_t bytes)
{
	if (l && bytes)
		l->txq_max = bytes;
}


/** True once the link's TCP connection is established */
bool alink_connected(const struct alink *l)
{
	return l && l->tcp_up;
}


/** Media messages dropped because the agent was not reading */
uint64_t alink_dropped(const struct alink *l)
{
	return l ? l->dropped : 0;
}
