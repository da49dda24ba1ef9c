/**
 * @file alink_hs.c  Agent link: the opening handshake (RFC 6455 4.1)
 *
 * The request (wsp_request) carries X-Twilio-Signature when the agent has
 * an auth token: base64(HMAC-SHA1(token, URL)), as Twilio signs a stream
 * URL, so an agent written for Twilio can check it. The response is
 * gathered across reads, up to WSP_RESP_MAX bytes, and checked by
 * wsp_response(); the bytes after it in the same read are frames
 * (alink_rx.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libwebsockets.h>
#include <openssl/hmac.h>
#include <openssl/evp.h>
#include "cb_re.h"
#include "log.h"
#include "alink_int.h"


/* base64(HMAC-SHA1(auth_token, url)), as Twilio signs stream URLs */
static int signature(char *out, size_t outsz, const char *url,
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


/**
 * Sign the link's URL with the agent's auth token, for the request's
 * X-Twilio-Signature header
 *
 * @param l           Link (its url is set)
 * @param auth_token  Agent's auth token; NULL or "": no signature
 *
 * @return 0 if success, otherwise errorcode
 */
int alink_hs_sign(struct alink *l, const char *auth_token)
{
	if (!auth_token || !*auth_token)
		return 0;

	return signature(l->signature, sizeof(l->signature), l->url,
			 auth_token);
}


/* the connection is up (and TLS, if any): ask for the upgrade */
int alink_hs_request(struct alink *l)
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

	return alink_tx_write(l, (uint8_t *)req + LWS_PRE, n);
}


/*
 * The handshake response, as it arrives. 0 with the link established:
 * the first *usedp bytes of `in` were the response's, the rest are
 * frames; 0 otherwise: all taken, more to come; else an error, and the
 * owner has been told.
 */
int alink_hs_rx(struct alink *l, const uint8_t *in, size_t len,
		size_t *usedp)
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
		alink_notify_close(l, ECONNREFUSED,
				   "upgrade response too long");
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
		alink_notify_close(l, ECONNREFUSED, reason);
		return EPROTO;
	}

	l->established = true;
	if (l->h.openh && l->arg)
		l->h.openh(l->arg);

	/* what follows the response in this read are frames */
	*usedp = (size_t)end - (l->resp_len - take);

	free(l->resp);
	l->resp = NULL;
	l->resp_len = 0;

	return 0;
}
