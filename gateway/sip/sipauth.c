/**
 * @file sipauth.c  Is an INVITE from its trunk? Sources, digest (SIP thread)
 *
 * Design note. A trunk's allowed_sources (address ranges) are checked
 * first; then, for trunks with inbound credentials, digest authentication
 * (RFC 3261 22, RFC 2617). Nonces are stateless: "<time>.<HMAC(key,
 * time)>", valid NONCE_TTL_S seconds; the key is random per process, so
 * nothing is stored per challenge and a restart invalidates every nonce.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include "cb_re.h"
#include "log.h"
#include "model.h"
#include "sipgw_int.h"
#include "sipreply.h"

enum {
	NONCE_TTL_S = 300,        /**< digest nonce lifetime [s]        */
};

static const char auth_realm[] = "callbridge";


/** Draw the key that signs this process's nonces */
void sipauth_init(struct sipgw *gw)
{
	if (RAND_bytes(gw->nonce_key, sizeof(gw->nonce_key)) != 1)
		rand_bytes(gw->nonce_key, sizeof(gw->nonce_key));
}


static void nonce_make(const struct sipgw *gw, time_t t, char *out,
		       size_t sz)
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	char ts[24];

	snprintf(ts, sizeof(ts), "%llx", (unsigned long long)t);
	(void)HMAC(EVP_sha256(), gw->nonce_key, sizeof(gw->nonce_key),
		   (const uint8_t *)ts, strlen(ts), mac, &len);
	(void)re_snprintf(out, sz, "%s.%w", ts, mac, (size_t)16);
}


/* 0 fresh and ours, ETIMEDOUT ours but old, EAUTH not ours */
static int nonce_check(const struct sipgw *gw, const struct pl *nonce)
{
	char expect[96];
	struct pl ts;
	time_t t, now = time(NULL);

	if (re_regex(nonce->p, nonce->l, "[0-9a-f]+.", &ts))
		return EAUTH;

	t = (time_t)pl_x64(&ts);
	nonce_make(gw, t, expect, sizeof(expect));
	if (pl_strcmp(nonce, expect))
		return EAUTH;

	return (t > now || now - t > NONCE_TTL_S) ? ETIMEDOUT : 0;
}


static void challenge(struct sipgw *gw, const struct sip_msg *msg,
		      bool stale)
{
	char nonce[96];

	nonce_make(gw, time(NULL), nonce, sizeof(nonce));
	(void)sipreply_sendf(gw->sip, msg, SIPREPLY_UNAUTHORIZED,
			     "WWW-Authenticate: Digest realm=\"%s\", "
			     "nonce=\"%s\", algorithm=MD5, qop=\"auth\"%s\r\n",
			     auth_realm, nonce, stale ? ", stale=true" : "");
}


static bool digest_uri_has_user(const struct pl *uri)
{
	struct uri u;

	return uri_decode(&u, uri) || pl_isset(&u.user);
}


/*
 * The digest, for trunks with inbound credentials (any INVITE passes on a
 * trunk without). True if the INVITE may go on. Otherwise it has been
 * answered: 401 with a challenge (no credentials, or right ones on a nonce
 * past its lifetime: stale=true), 403 (wrong ones, a nonce not ours, a
 * digest uri that is not this request's). Nonce counts are not tracked, so
 * a captured header of this very request stays valid for the nonce's
 * lifetime (NONCE_TTL_S).
 */
static bool digest_ok(struct sipgw *gw, const struct sip_msg *msg,
		      const struct trunk *t)
{
	struct httpauth_digest_resp resp;
	const struct sip_hdr *hdr;
	uint8_t ha1[16];
	int err, nerr;

	if (!t->inbound.auth_username)
		return true;

	hdr = sip_msg_hdr(msg, SIP_HDR_AUTHORIZATION);
	if (!hdr || httpauth_digest_response_decode(&resp, &hdr->val)) {
		challenge(gw, msg, false);
		return false;
	}

	if (pl_strcmp(&resp.realm, auth_realm) ||
	    pl_strcmp(&resp.username, t->inbound.auth_username)) {
		log_notice("INVITE from %J: wrong digest user or realm",
			   &msg->src);
		(void)sipreply_send(gw->sip, msg, SIPREPLY_FORBIDDEN);
		return false;
	}

	/* the response must be for this request: a header captured from
	   another call cannot be replayed against another number. A digest
	   uri without a user part (sip:host:port, as SIPp and some UAs sign)
	   is taken as is. */
	if (pl_cmp(&resp.uri, &msg->ruri) && digest_uri_has_user(&resp.uri)) {
		log_notice("INVITE from %J: digest uri is not the Request-URI",
			   &msg->src);
		(void)sipreply_send(gw->sip, msg, SIPREPLY_FORBIDDEN);
		return false;
	}

	nerr = nonce_check(gw, &resp.nonce);

	err = (nerr == EAUTH) ? EAUTH : 0;
	if (!err)
		err = md5_printf(ha1, "%r:%s:%s", &resp.username, auth_realm,
				 t->inbound.auth_password ?
				 t->inbound.auth_password : "");
	if (!err)
		err = httpauth_digest_response_auth(&resp, &msg->met, ha1);
	if (err) {
		log_notice("INVITE from %J: digest authentication failed",
			   &msg->src);
		(void)sipreply_send(gw->sip, msg, SIPREPLY_FORBIDDEN);
		return false;
	}

	/* right credentials on an old nonce: ask again (RFC 2617 stale) */
	if (nerr == ETIMEDOUT) {
		challenge(gw, msg, true);
		return false;
	}

	return true;
}


/**
 * Whether an INVITE for a trunk's number may go on: its source is one the
 * trunk allows (else 403), and with inbound credentials the digest
 * proves them (else 401 or 403). Otherwise it has been answered.
 *
 * @param gw   The gateway
 * @param msg  The INVITE
 * @param t    The trunk of the called number
 *
 * @return true if the INVITE may go on
 */
bool sipauth_admit(struct sipgw *gw, const struct sip_msg *msg,
		   const struct trunk *t)
{
	if (!trunk_allows_source(t, &msg->src)) {
		sipreply_refuse(gw->sip, msg, SIPREPLY_FORBIDDEN,
				"source outside the trunk's allowed_sources");
		return false;
	}

	return digest_ok(gw, msg, t);
}
