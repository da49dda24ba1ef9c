/**
 * @file alink_tls.c  Agent link: TLS for wss://
 *
 * Design note. TLS is the link's own, not lws's: OpenSSL over memory BIOs
 * on lws's raw connection. What lws reads is written to the session's
 * rbio (alink_tls_rx), and what OpenSSL writes to its wbio (records,
 * alerts) is sent with lws_write() (alink_tls_flush); output goes
 * through SSL_write() in alink_tx_write(). lws 4.1.6 starts TLS on a raw
 * client connection before its socket exists and fails; and its own
 * WebSocket client's TLS took no client SSL_CTX without
 * DO_SSL_GLOBAL_INIT (every wss:// connect failed in SSL_new), and with
 * it leaked the trust store once per worker.
 *
 * One client SSL_CTX serves the process (alink_tls_alloc, at start-up),
 * so the trust store is loaded once; each link holds a reference and has
 * its own SSL. The certificate must chain to the store and name the
 * URL's host (DNS name or IP address, RFC 6125; also when the link
 * connects to an address resolved beforehand); a failure says which.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include "cb_re.h"
#include "log.h"
#include "alink_int.h"


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
 * every link that uses it (each holds a reference).
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


/* send what OpenSSL has written (records, alerts) */
int alink_tls_flush(struct alink *l)
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


/* why the handshake or a read failed, for the log and the owner */
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


/* the TCP connection is up: a session, its BIOs, the name to check,
   and the ClientHello */
int alink_tls_start(struct alink *l)
{
	const char *host = l->tls_host;
	unsigned char ip[16];
	bool is_ip;
	int r;

	l->ssl = SSL_new(l->tls->ctx);
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

	return alink_tls_flush(l);
}


/* bytes from lws: the TLS handshake, then records whose plaintext goes
   to alink_rx() (the upgrade request goes out once TLS is up) */
int alink_tls_rx(struct alink *l, const uint8_t *in, size_t len)
{
	uint8_t buf[16384];
	int n, err = 0;

	if (BIO_write(l->rbio, in, (int)len) != (int)len)
		return ENOMEM;

	if (!l->tls_up) {
		n = SSL_do_handshake(l->ssl);
		if (n != 1) {
			if (SSL_get_error(l->ssl, n) == SSL_ERROR_WANT_READ)
				return alink_tls_flush(l);
			(void)alink_tls_flush(l);         /* the alert */
			{
				char why[160];

				tls_why(l, why, sizeof(why));
				log_info("agent link %s: %s", l->url, why);
				alink_notify_close(l, ECONNREFUSED, why);
			}
			return EPROTO;
		}
		l->tls_up = true;
		err = alink_hs_request(l);
		if (err)
			return err;
	}

	for (;;) {
		n = SSL_read(l->ssl, buf, sizeof(buf));
		if (n <= 0)
			break;
		err = alink_rx(l, buf, (size_t)n);
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
		alink_notify_close(l, EPROTO, why);
		return EPROTO;
	}
	}

	/* a TLS 1.3 KeyUpdate answer, for one */
	return alink_tls_flush(l);
}
