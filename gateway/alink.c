/**
 * @file alink.c  Agent link: WebSocket client (libwebsockets) to an agent
 *
 * Design note.
 * - One lws_context per media worker (lws is built with LWS_MAX_SMP=1), so
 *   every callback for a link runs on the worker that owns the call.
 * - Output: the owner formats a message straight into alink_txbuf() (which
 *   keeps LWS_PRE bytes of headroom) and calls alink_send(). When nothing is
 *   queued and lws holds no partial write, the message is written at once:
 *   no writable-callback round trip per message. Otherwise it is copied to
 *   a queue drained from LWS_CALLBACK_CLIENT_WRITEABLE. Media messages are
 *   "droppable": past ALINK_MAX_TXQ queued bytes (an agent that stopped
 *   reading) they are dropped and counted; control messages never are.
 * - Input: fragments are joined into whole messages up to ALINK_MAX_RX.
 * - Lifetime: the link is freed on LWS_CALLBACK_WSI_DESTROY, the last
 *   callback lws makes for a connection. alink_close() only detaches the
 *   owner and starts the close handshake (flush, close frame 1000), with a
 *   deadline after which lws kills the connection.
 * - TLS (wss://): one client SSL_CTX for the process (alink_tls_alloc),
 *   given to every worker's lws_context as provided_client_ssl_ctx, so the
 *   trust store is loaded once, and freed by us. lws 4.1 takes a client
 *   SSL_CTX only with DO_SSL_GLOBAL_INIT (without it every wss:// connect
 *   fails in SSL_new); the one it would make itself is found again at
 *   context destruction through a process-global ex_data index that the
 *   next worker's context overwrites, so with two workers the whole trust
 *   store leaked. lws still sets the peer's host name on each connection
 *   (X509_VERIFY_PARAM_set1_host) and verifies it and the chain.
 */
#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <libwebsockets.h>
#include <openssl/hmac.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include "cb_re.h"
#include "alink.h"
#include "log.h"

struct txmsg {
	struct txmsg *next;
	size_t len;
	bool binary;
	uint8_t buf[];        /**< LWS_PRE headroom, then len bytes */
};

struct alink {
	struct lws *wsi;
	struct alink_handlers h;
	void *arg;            /**< owner; NULL once detached         */
	bool established;
	bool closing;
	bool in_connect;      /**< inside lws_client_connect_via_info */
	bool destroyed;       /**< lws destroyed the wsi              */
	char *url;

	/* output */
	struct txmsg *txq_head, *txq_tail;
	size_t txq_bytes;
	uint64_t dropped;     /**< droppable messages dropped         */
	uint8_t *scratch;     /**< LWS_PRE + scratch_sz               */
	size_t scratch_sz;

	/* input */
	uint8_t *rx;
	size_t rx_len, rx_sz;
	bool rx_binary;
	bool rx_skip;         /**< oversized message being discarded  */

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
	free(l->rx);
	mem_deref(l->url);
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


/** The OpenSSL context, for lws_context_creation_info.provided_client_ssl_ctx */
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


static int write_msg(struct alink *l, uint8_t *payload, size_t len,
		     bool binary)
{
	int n = lws_write(l->wsi, payload, len,
			  binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);

	return (n < 0) ? EPIPE : 0;
}


static int rx_append(struct alink *l, const uint8_t *data, size_t len)
{
	if (l->rx_len + len > ALINK_MAX_RX)
		return EMSGSIZE;

	if (l->rx_len + len + 1 > l->rx_sz) {
		size_t sz = l->rx_sz ? l->rx_sz : 4096;
		uint8_t *p;

		while (sz < l->rx_len + len + 1)
			sz *= 2;
		p = realloc(l->rx, sz);
		if (!p)
			return ENOMEM;
		l->rx = p;
		l->rx_sz = sz;
	}

	memcpy(l->rx + l->rx_len, data, len);
	l->rx_len += len;
	l->rx[l->rx_len] = '\0';

	return 0;
}


static int callback(struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len)
{
	struct alink *l = lws_get_opaque_user_data(wsi);
	int err;

	(void)user;

	switch (reason) {

	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
		unsigned char **p = (unsigned char **)in;
		unsigned char *end = (*p) + len;

		if (!l || !l->signature[0])
			break;

		if (lws_add_http_header_by_name(wsi,
				(const unsigned char *)"X-Twilio-Signature:",
				(const unsigned char *)l->signature,
				(int)strlen(l->signature), p, end))
			return -1;
		break;
	}

	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (!l)
			return -1;
		l->established = true;
		if (l->closing) {
			lws_callback_on_writable(wsi);
			break;
		}
		if (l->h.openh && l->arg)
			l->h.openh(l->arg);
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

	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (!l || l->closing)
			break;

		if (lws_is_first_fragment(wsi)) {
			l->rx_len = 0;
			l->rx_skip = false;
			l->rx_binary = lws_frame_is_binary(wsi);
		}

		if (!l->rx_skip) {
			err = rx_append(l, in, len);
			if (err == EMSGSIZE) {
				log_warn("agent link %s: message over %u "
					 "bytes dropped", l->url,
					 ALINK_MAX_RX);
				l->rx_skip = true;
				l->rx_len = 0;
			}
			else if (err) {
				notify_close(l, err, "out of memory");
				return -1;
			}
		}

		if (!lws_is_final_fragment(wsi) ||
		    lws_remaining_packet_payload(wsi))
			break;

		if (l->rx_skip) {
			l->rx_skip = false;
			break;
		}

		if (l->rx_binary) {
			if (l->h.binh && l->arg)
				l->h.binh(l->rx, l->rx_len, l->arg);
		}
		else if (l->h.texth && l->arg) {
			l->h.texth((const char *)l->rx, l->rx_len, l->arg);
		}
		l->rx_len = 0;
		break;

	case LWS_CALLBACK_CLIENT_WRITEABLE: {
		struct txmsg *m;

		if (!l)
			return -1;

		m = l->txq_head;
		if (m) {
			l->txq_head = m->next;
			if (!l->txq_head)
				l->txq_tail = NULL;
			l->txq_bytes -= m->len;

			err = write_msg(l, m->buf + LWS_PRE, m->len,
					m->binary);
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

		if (l->closing) {
			lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL,
					 (unsigned char *)"bye", 3);
			return -1;
		}
		break;
	}

	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (l)
			log_debug("agent link %s: agent closed (%u)", l->url,
				  len >= 2 ? (unsigned)(((uint8_t *)in)[0] << 8 |
						       ((uint8_t *)in)[1]) : 0);
		break;

	case LWS_CALLBACK_CLIENT_CLOSED:
		if (l)
			notify_close(l, ECONNRESET, "agent closed the "
				     "WebSocket");
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


/* a 4 KiB receive buffer per connection: messages arrive in fragments
   of at most that and are joined here (ALINK_MAX_RX), so a bigger buffer
   would only cost memory per call */
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
 * @param tls_insecure  Accept self-signed certificates (tests only)
 * @param h             Handlers
 * @param arg           Handler argument (the owner)
 *
 * @return 0 if the connection is under way, otherwise errorcode
 */
int alink_connect(struct alink **lp, struct lws_context *ctx,
		  const char *url, const char *addr, const char *auth_token,
		  bool tls_insecure,
		  const struct alink_handlers *h, void *arg)
{
	struct lws_client_connect_info ci;
	const char *prot, *ads, *path;
	char *tmp = NULL, *fullpath = NULL, *host = NULL;
	struct alink *l;
	int port, err = 0;

	if (!lp || !ctx || !url || !h)
		return EINVAL;

	l = mem_zalloc(sizeof(*l), destructor);
	if (!l)
		return ENOMEM;

	l->h   = *h;
	l->arg = arg;

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

	err = re_sdprintf(&fullpath, "/%s", path);
	if (err)
		goto out;

	if ((!strcmp(prot, "ws") && port == 80) ||
	    (!strcmp(prot, "wss") && port == 443))
		err = str_dup(&host, ads);
	else if (strchr(ads, ':'))
		err = re_sdprintf(&host, "[%s]:%d", ads, port);
	else
		err = re_sdprintf(&host, "%s:%d", ads, port);
	if (err)
		goto out;

	memset(&ci, 0, sizeof(ci));
	ci.context = ctx;
	ci.address = addr ? addr : ads;
	ci.port    = port;
	ci.path    = fullpath;
	ci.host    = host;
	ci.origin  = host;
	ci.local_protocol_name = protocols[0].name;
	ci.opaque_user_data = l;
	ci.pwsi    = &l->wsi;
	if (!strcmp(prot, "wss")) {
		ci.ssl_connection = LCCSCF_USE_SSL;
		if (tls_insecure)
			ci.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED |
				LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK;
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
	mem_deref(fullpath);
	mem_deref(host);

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
	struct txmsg *m;

	if (!l || !data)
		return EINVAL;

	if (!l->wsi || !l->established || l->closing)
		return ENOTCONN;

	if (!l->txq_head && !lws_partial_buffered(l->wsi)) {
		uint8_t *p = (uint8_t *)data;

		if (data != l->scratch + LWS_PRE) {
			p = alink_txbuf(l, len);
			if (!p)
				return ENOMEM;
			memcpy(p, data, len);
		}
		return write_msg(l, p, len, binary);
	}

	if (droppable && l->txq_bytes + len > ALINK_MAX_TXQ) {
		++l->dropped;
		return 0;
	}

	m = malloc(sizeof(*m) + LWS_PRE + len);
	if (!m)
		return ENOMEM;

	m->next = NULL;
	m->len = len;
	m->binary = binary;
	memcpy(m->buf + LWS_PRE, data, len);

	if (l->txq_tail)
		l->txq_tail->next = m;
	else
		l->txq_head = m;
	l->txq_tail = m;
	l->txq_bytes += len;

	lws_callback_on_writable(l->wsi);

	return 0;
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


/** Media messages dropped because the agent was not reading */
uint64_t alink_dropped(const struct alink *l)
{
	return l ? l->dropped : 0;
}
