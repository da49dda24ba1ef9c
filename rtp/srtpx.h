/**
 * @file srtpx.h  SRTP with SDES key exchange (RFC 3711, RFC 4568)
 *
 * Prefix srtpx_ (libre and libsrtp2 own srtp_). One session per call,
 * owned by the call's media worker: no locks.
 */
#ifndef CB_SRTPX_H
#define CB_SRTPX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Crypto suites we speak (RFC 4568 section 6.2) */
enum srtpx_suite {
	SRTPX_NONE = 0,
	SRTPX_AES_CM_128_HMAC_SHA1_80,
	SRTPX_AES_CM_128_HMAC_SHA1_32,
};

enum {
	SRTPX_KEY_LEN  = 30,    /**< master key 16 + master salt 14 [bytes] */
	SRTPX_TRAILER  = 16,    /**< most bytes protect adds (tag + index)  */
	SRTPX_ATTR_MAX = 128,   /**< a=crypto value we print [bytes]        */
};

/** One a=crypto line */
struct srtpx_crypto {
	unsigned tag;                 /**< 1..999999999                  */
	enum srtpx_suite suite;
	uint8_t key[SRTPX_KEY_LEN];   /**< master key and salt           */
};

const char *srtpx_suite_name(enum srtpx_suite s);
int  srtpx_crypto_decode(struct srtpx_crypto *c, const char *val);
int  srtpx_crypto_encode(char *buf, size_t sz, const struct srtpx_crypto *c);
int  srtpx_key_random(uint8_t key[SRTPX_KEY_LEN]);

int  srtpx_init(void);
void srtpx_close(void);

struct srtpx;
int  srtpx_alloc(struct srtpx **sp, enum srtpx_suite suite,
		 const uint8_t tx_key[SRTPX_KEY_LEN],
		 const uint8_t rx_key[SRTPX_KEY_LEN]);
int  srtpx_protect(struct srtpx *s, uint8_t *pkt, size_t *len, size_t size,
		   bool rtcp);
int  srtpx_unprotect(struct srtpx *s, uint8_t *pkt, size_t *len, bool rtcp);

#endif
