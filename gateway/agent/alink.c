/**
 * @file alink.c  Agent link: life cycle, connect, close, the lws callback
 *
 * Design note. An agent link is the WebSocket client to one agent, one per
 * call, living on the call's media worker (gateway/agent/README.md; the
 * files of its jobs are listed in alink_int.h).
 * - libwebsockets carries the connection only: a "RAW" client connection
 *   in the worker's lws_context (one per worker: lws is built with
 *   LWS_MAX_SMP=1, and runs on the worker's libev loop), so every
 *   callback for a link runs on the worker that owns the call. lws does
 *   the TCP connect, the loop, timeouts and the rest of a partial write.
 * - DNS is not lws's: the SIP thread resolves the URL's host beforehand
 *   (core/resolver.c, thread cb-dns) and alink_connect() gets an address;
 *   only an IP literal in the URL goes to lws as it is.
 * - TLS is not lws's either (alink_tls.c: OpenSSL over memory BIOs), and
 *   neither is the WebSocket protocol (wsproto.c, used by alink_hs.c,
 *   alink_tx.c, alink_rx.c). lws 4.1's own WebSocket client parsed every
 *   received byte through a state machine and read /dev/urandom for
 *   every frame's mask; see wsproto.c and bench/README.md for the cost.
 * - callback() hands each lws event to the file of its job: connected ->
 *   TLS start or the upgrade request; bytes -> TLS, then handshake or
 *   frames; writable -> the send queue.
 * - Lifetime: the link is freed on LWS_CALLBACK_WSI_DESTROY, the last
 *   callback lws makes for a connection. alink_close() only detaches the
 *   owner and starts the close handshake (flush the queue, close frame
 *   1000, wait for the agent's close frame), with a deadline of 3 s after
 *   which lws kills the connection; before the upgrade it has lws drop
 *   the connection at once. The owner hears of the end once
 *   (alink_notify_close), and nothing after alink_close().
 */
#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <openssl/rand.h>
#include <sys/socket.h>
#include "cb_re.h"
#include "log.h"
#include "b64.h"
#include "alink_int.h"


static void destructor(void *arg)
{
	struct alink *l = arg;

	alink_tx_flush(l);
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


/* tell the owner the link is gone, once; it is detached from then on */
void alink_notify_close(struct alink *l, int err, const char *reason)
{
	void (*closeh)(int, const char *, void *) = l->h.closeh;
	void *arg = l->arg;

	l->arg = NULL;
	memset(&l->h, 0, sizeof(l->h));

	if (closeh && arg)
		closeh(err, reason, arg);
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


/* LWS_CALLBACK_RAW_CONNECTED: TLS first, or the upgrade request */
static int on_connected(struct alink *l, struct lws *wsi)
{
	int err;

	sndbuf_limit(l, wsi);
	l->tcp_up = true;

	err = l->tls ? alink_tls_start(l) : alink_hs_request(l);
	if (err)
		alink_notify_close(l, err, l->tls ? "TLS start failed" :
				   "cannot send the upgrade");

	return err;
}


/* LWS_CALLBACK_CLIENT_CONNECTION_ERROR: the connect failed */
static void on_connect_error(struct alink *l, const char *in)
{
	log_debug("agent link %s: connection error: %s", l->url,
		  in ? in : "unknown");

	if (!l->in_connect)
		alink_notify_close(l, ECONNREFUSED, in ? in : "connect failed");
}


/* LWS_CALLBACK_WSI_DESTROY: lws's last callback for the connection */
static void on_destroy(struct alink *l, struct lws *wsi)
{
	lws_set_opaque_user_data(wsi, NULL);
	l->wsi = NULL;
	l->destroyed = true;

	if (l->in_connect)
		return;      /* alink_connect() cleans up */

	alink_notify_close(l, ECONNRESET, "connection gone");
	mem_deref(l);
}


static int callback(struct lws *wsi, enum lws_callback_reasons reason,
		    void *user, void *in, size_t len)
{
	struct alink *l = lws_get_opaque_user_data(wsi);
	int err;

	(void)user;

	switch (reason) {

	case LWS_CALLBACK_RAW_CONNECTED:
		if (!l || on_connected(l, wsi))
			return -1;
		break;

	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (l)
			on_connect_error(l, in);
		break;

	case LWS_CALLBACK_RAW_RX:
		if (!l || !len)
			break;
		err = l->ssl ? alink_tls_rx(l, in, len) : alink_rx(l, in, len);
		if (err)
			return -1;
		break;

	case LWS_CALLBACK_RAW_WRITEABLE:
		if (!l || alink_tx_writeable(l))
			return -1;
		break;

	case LWS_CALLBACK_RAW_CLOSE:
		if (l)
			alink_notify_close(l, ECONNRESET, l->established ?
				"agent closed the WebSocket" :
				"connection closed before the upgrade");
		break;

	case LWS_CALLBACK_WSI_DESTROY:
		if (l)
			on_destroy(l, wsi);
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


/* the parts of an agent URL a connection needs */
struct target {
	char *buf;            /**< copy of the URL, cut by lws_parse_uri */
	const char *scheme;   /**< "ws", "wss", or what else it says   */
	const char *host;     /**< the URL's host, no brackets          */
	int port;
};


/*
 * Cut the URL up; the request target and the Host value go in the link.
 * Its authority ends at the first '/' or '?' (config/model.c allows a
 * query without a path), and lws_parse_uri() is given only what comes
 * before: it would take "h?x=1" for a host, and its path is "/" for
 * "ws://h" and "ws://h/" alike. The target is the rest, "/" if empty.
 */
static int target_parse(struct target *t, struct alink *l, const char *url)
{
	const char *auth = strstr(url, "://"), *rest, *path;
	bool v6;
	int err;

	rest = auth ? auth + 3 + strcspn(auth + 3, "/?") : url + strlen(url);

	err = str_dup(&t->buf, url);
	if (err)
		return err;
	t->buf[rest - url] = '\0';

	if (lws_parse_uri(t->buf, &t->scheme, &t->host, &t->port, &path))
		return EINVAL;

	err = re_sdprintf(&l->path, "%s%s", *rest == '/' ? "" : "/", rest);
	if (err)
		return err;

	/* Host: an IPv6 address in brackets, the port unless the default */
	v6 = strchr(t->host, ':') != NULL;
	if ((!strcmp(t->scheme, "ws") && t->port == 80) ||
	    (!strcmp(t->scheme, "wss") && t->port == 443))
		return re_sdprintf(&l->host, v6 ? "[%s]" : "%s", t->host);
	else
		return re_sdprintf(&l->host, v6 ? "[%s]:%d" : "%s:%d",
				   t->host, t->port);
}


/* Sec-WebSocket-Key and the first masking keys, from the DRBG */
static int keys_init(struct alink *l)
{
	uint8_t nonce[16];

	if (RAND_bytes(nonce, sizeof(nonce)) != 1 ||
	    RAND_bytes(l->masks, sizeof(l->masks)) != 1)
		return EAGAIN;

	l->key[b64_encode(l->key, nonce, sizeof(nonce))] = '\0';

	return 0;
}


/* wss:// takes the TLS context and the name the certificate must carry */
static int scheme_init(struct alink *l, const struct target *t,
		       struct alink_tls *tls)
{
	if (!strcmp(t->scheme, "wss")) {
		if (!tls)
			return EINVAL;
		l->tls = mem_ref(tls);
		return str_dup(&l->tls_host, t->host);
	}

	return strcmp(t->scheme, "ws") ? EPROTONOSUPPORT : 0;
}


/* ask lws for the raw connection; ECONNREFUSED if it failed at once */
static int raw_connect(struct alink *l, struct lws_context *ctx,
		       const struct target *t, const char *addr)
{
	struct lws_client_connect_info ci;

	memset(&ci, 0, sizeof(ci));
	ci.context = ctx;
	ci.address = addr ? addr : t->host;
	ci.port    = t->port;
	ci.path    = l->path;
	ci.host    = l->host;
	ci.method  = "RAW";      /* lws: TCP only; TLS, WebSocket: ours */
	ci.protocol = protocols[0].name;
	ci.local_protocol_name = protocols[0].name;
	ci.opaque_user_data = l;
	ci.pwsi    = &l->wsi;

	l->in_connect = true;
	(void)lws_client_connect_via_info(&ci);
	l->in_connect = false;

	return (!l->wsi || l->destroyed) ? ECONNREFUSED : 0;
}


/**
 * Open a WebSocket to an agent
 *
 * @param lp            Pointer to the link (owned by lws once connected)
 * @param ctx           The worker's lws context
 * @param url           ws:// or wss:// URL
 * @param addr          Address to connect to, resolved beforehand from
 *                      the URL's host (which still goes in Host and TLS
 *                      SNI and is what the certificate must match), or
 *                      NULL when the host is an IP literal (lws would
 *                      resolve a name with a blocking getaddrinfo())
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
	struct target t;
	struct alink *l;
	int err;

	if (!lp || !ctx || !url || !h)
		return EINVAL;

	l = mem_zalloc(sizeof(*l), destructor);
	if (!l)
		return ENOMEM;

	l->h   = *h;
	l->arg = arg;
	l->txq_max = ALINK_MAX_TXQ;
	wsp_dec_init(&l->dec, ALINK_MAX_RX);
	memset(&t, 0, sizeof(t));

	err = str_dup(&l->url, url);
	if (err)
		goto out;

	err = alink_hs_sign(l, auth_token);
	if (err)
		goto out;

	err = target_parse(&t, l, url);
	if (err)
		goto out;

	err = keys_init(l);
	if (err)
		goto out;

	err = scheme_init(l, &t, tls);
	if (err)
		goto out;

	err = raw_connect(l, ctx, &t, addr);

 out:
	mem_deref(t.buf);

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


/** True once the link's TCP connection is established */
bool alink_connected(const struct alink *l)
{
	return l && l->tcp_up;
}
