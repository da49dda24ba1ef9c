/**
 * @file srtpx.c  SRTP with SDES key exchange (RFC 3711, RFC 4568)
 *
 * Design note. Keys travel in SDP (a=crypto, SDES): the peer's line gives
 * the key it encrypts with, which we decrypt with; ours gives the key we
 * encrypt with. A session holds one inbound policy (any SSRC, the peer's
 * key) and one outbound policy (any SSRC, our key), for RTP and RTCP
 * alike. For AES_CM_128_HMAC_SHA1_32 the RTP tag is 32 bits and the RTCP
 * tag stays 80 (RFC 4568 6.2.2). Packets that fail authentication or
 * replay checks are refused before anything else looks at them.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <srtp2/srtp.h>
#include <openssl/rand.h>
#include <re.h>
#include "srtpx.h"

struct srtpx {
	srtp_t rx;                /**< unprotects, the peer's key */
	srtp_t tx;                /**< protects, our key          */
	enum srtpx_suite suite;
};

static const char *names[] = {
	[SRTPX_NONE] = "none",
	[SRTPX_AES_CM_128_HMAC_SHA1_80] = "AES_CM_128_HMAC_SHA1_80",
	[SRTPX_AES_CM_128_HMAC_SHA1_32] = "AES_CM_128_HMAC_SHA1_32",
};


const char *srtpx_suite_name(enum srtpx_suite s)
{
	return (s >= 0 && s < (int)(sizeof(names) / sizeof(names[0]))) ?
		names[s] : "?";
}


/**
 * Parse an a=crypto value: "1 AES_CM_128_HMAC_SHA1_80 inline:KEY[|life]
 * [|MKI:len] [session params]"
 *
 * @return 0 if success, ENOTSUP for a suite, key method, MKI or session
 *         parameter we do not speak (try the next line), EBADMSG if
 *         malformed
 */
int srtpx_crypto_decode(struct srtpx_crypto *c, const char *val)
{
	struct pl tag, suite, key, rest;
	uint8_t raw[64];
	size_t rawlen = sizeof(raw);
	const char *bar;
	int err;

	if (!c || !val)
		return EINVAL;

	memset(c, 0, sizeof(*c));

	if (re_regex(val, strlen(val), "[0-9]+[ \t]+[^ \t]+[ \t]+inline:[^ \t|]+"
		     "[^]*", &tag, NULL, &suite, NULL, &key, &rest))
		return strstr(val, "inline:") ? EBADMSG : ENOTSUP;

	/* the tag starts the value (re_regex() would find one further on) */
	if (tag.p != val || tag.l > 9)
		return EBADMSG;
	c->tag = pl_u32(&tag);

	if (!pl_strcmp(&suite, names[SRTPX_AES_CM_128_HMAC_SHA1_80]))
		c->suite = SRTPX_AES_CM_128_HMAC_SHA1_80;
	else if (!pl_strcmp(&suite, names[SRTPX_AES_CM_128_HMAC_SHA1_32]))
		c->suite = SRTPX_AES_CM_128_HMAC_SHA1_32;
	else
		return ENOTSUP;

	/* |lifetime is fine; |MKI:len is not supported */
	bar = pl_strchr(&rest, '|');
	if (bar) {
		struct pl tail = {bar + 1, (size_t)(rest.p + rest.l - bar - 1)};
		if (pl_strchr(&tail, ':'))
			return ENOTSUP;
	}

	/* session parameters (UNENCRYPTED_SRTP, KDR=...) change the
	   protection: refuse them rather than ignore them */
	for (size_t i = 0; i < rest.l; i++) {
		if (rest.p[i] == ' ' || rest.p[i] == '\t') {
			for (; i < rest.l && isspace((unsigned char)rest.p[i]);
			     i++)
				;
			if (i < rest.l)
				return ENOTSUP;
		}
	}

	/* 30 bytes are 40 base64 characters without padding; libre's
	   decoder reads any other character as 0 and drops a ragged tail */
	if (key.l != 40)
		return EBADMSG;
	for (size_t i = 0; i < key.l; i++) {
		if (!isalnum((unsigned char)key.p[i]) && key.p[i] != '+' &&
		    key.p[i] != '/')
			return EBADMSG;
	}

	err = base64_decode(key.p, key.l, raw, &rawlen);
	if (err || rawlen != SRTPX_KEY_LEN)
		return EBADMSG;

	memcpy(c->key, raw, SRTPX_KEY_LEN);

	return 0;
}


/**
 * Print an a=crypto value
 *
 * @return 0 if success, otherwise errorcode
 */
int srtpx_crypto_encode(char *buf, size_t sz, const struct srtpx_crypto *c)
{
	char b64[48];
	size_t n = sizeof(b64) - 1;
	int err;

	if (!buf || !c || c->suite == SRTPX_NONE)
		return EINVAL;

	err = base64_encode(c->key, SRTPX_KEY_LEN, b64, &n);
	if (err)
		return err;
	b64[n] = '\0';

	if (re_snprintf(buf, sz, "%u %s inline:%s", c->tag,
			names[c->suite], b64) < 0)
		return ENOSPC;

	return 0;
}


/** Fresh random master key and salt */
int srtpx_key_random(uint8_t key[SRTPX_KEY_LEN])
{
	return RAND_bytes(key, SRTPX_KEY_LEN) == 1 ? 0 : EIO;
}


/** Initialise libsrtp2; once per process, before any thread uses it */
int srtpx_init(void)
{
	return srtp_init() == srtp_err_status_ok ? 0 : EIO;
}


void srtpx_close(void)
{
	(void)srtp_shutdown();
}


static void destructor(void *arg)
{
	struct srtpx *s = arg;

	if (s->rx)
		(void)srtp_dealloc(s->rx);
	if (s->tx)
		(void)srtp_dealloc(s->tx);
}


static void policy_set(srtp_policy_t *p, enum srtpx_suite suite,
		       const uint8_t *key, srtp_ssrc_type_t type)
{
	memset(p, 0, sizeof(*p));

	if (suite == SRTPX_AES_CM_128_HMAC_SHA1_32)
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&p->rtp);
	else
		srtp_crypto_policy_set_rtp_default(&p->rtp);
	srtp_crypto_policy_set_rtcp_default(&p->rtcp);

	p->ssrc.type = type;
	p->key = (unsigned char *)key;
	p->window_size = 1024;
	p->allow_repeat_tx = 0;
}


/**
 * Set up a call's SRTP session
 *
 * @param sp      Pointer to allocated session
 * @param suite   Negotiated suite
 * @param tx_key  Our master key and salt (what we encrypt with)
 * @param rx_key  The peer's master key and salt
 *
 * @return 0 if success, otherwise errorcode
 */
int srtpx_alloc(struct srtpx **sp, enum srtpx_suite suite,
		const uint8_t tx_key[SRTPX_KEY_LEN],
		const uint8_t rx_key[SRTPX_KEY_LEN])
{
	srtp_policy_t pol;
	struct srtpx *s;

	if (!sp || suite == SRTPX_NONE || !tx_key || !rx_key)
		return EINVAL;

	s = mem_zalloc(sizeof(*s), destructor);
	if (!s)
		return ENOMEM;

	s->suite = suite;

	policy_set(&pol, suite, rx_key, ssrc_any_inbound);
	if (srtp_create(&s->rx, &pol) != srtp_err_status_ok) {
		s->rx = NULL;
		mem_deref(s);
		return EINVAL;
	}

	policy_set(&pol, suite, tx_key, ssrc_any_outbound);
	if (srtp_create(&s->tx, &pol) != srtp_err_status_ok) {
		s->tx = NULL;
		mem_deref(s);
		return EINVAL;
	}

	*sp = s;

	return 0;
}


/**
 * Encrypt and authenticate a packet in place
 *
 * @param s     Session
 * @param pkt   RTP or RTCP packet
 * @param len   In: its length; out: the protected length
 * @param size  Size of the buffer: len + SRTPX_TRAILER at least
 * @param rtcp  RTCP (SRTCP) rather than RTP
 *
 * @return 0 if success, otherwise errorcode
 */
int srtpx_protect(struct srtpx *s, uint8_t *pkt, size_t *len, size_t size,
		  bool rtcp)
{
	int n;
	srtp_err_status_t st;

	if (!s || !pkt || !len || *len + SRTPX_TRAILER > size ||
	    *len > INT32_MAX - SRTPX_TRAILER)
		return EINVAL;

	n = (int)*len;
	st = rtcp ? srtp_protect_rtcp(s->tx, pkt, &n) :
		srtp_protect(s->tx, pkt, &n);
	if (st != srtp_err_status_ok)
		return EPROTO;

	*len = (size_t)n;

	return 0;
}


/**
 * Authenticate and decrypt a packet in place
 *
 * @return 0 if success, EAUTH if it fails authentication or is a replay,
 *         EBADMSG if malformed
 */
int srtpx_unprotect(struct srtpx *s, uint8_t *pkt, size_t *len, bool rtcp)
{
	srtp_err_status_t st;
	int n;

	if (!s || !pkt || !len || *len > INT32_MAX)
		return EINVAL;

	n = (int)*len;
	st = rtcp ? srtp_unprotect_rtcp(s->rx, pkt, &n) :
		srtp_unprotect(s->rx, pkt, &n);

	switch (st) {
	case srtp_err_status_ok:
		*len = (size_t)n;
		return 0;
	case srtp_err_status_auth_fail:
	case srtp_err_status_replay_fail:
	case srtp_err_status_replay_old:
		return EAUTH;
	default:
		return EBADMSG;
	}
}
