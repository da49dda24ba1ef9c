/**
 * @file test_srtpx.c  SDES a=crypto lines and SRTP/SRTCP protection
 *
 * Decoding is table-driven: good lines (both suites, lifetimes, odd
 * whitespace), lines we must refuse as unsupported (ENOTSUP: other suites,
 * MKI, session parameters, key methods other than inline) and malformed
 * ones (EBADMSG: base64, key length, tag). Protection runs between two
 * srtpx sessions with swapped keys (what the gateway and the carrier do),
 * and is also checked against a plain libsrtp2 session holding only the
 * sender's key, so that a session which mixed up its own and the peer's
 * key cannot pass by being wrong on both ends. Tampering, replays, short
 * packets and small buffers must give errors, never overruns: buffers are
 * heap blocks of the exact size, so ASan (-DCB_SANITIZE=ON) sees any
 * access past them.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <srtp2/srtp.h>
#include <re.h>
#include "test.h"
#include "srtpx.h"

#define ANY_ERR (-1)          /* any non-zero error will do */

/* RFC 4568's example key, and a second one */
#define KEY_RFC "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"
#define KEY_SEQ "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xd"

static const uint8_t key_rfc[SRTPX_KEY_LEN] = {
	0x59, 0x53, 0x5f, 0x5f, 0x5f, 0x73, 0x65, 0x6d, 0x63, 0x74,
	0x6c, 0x20, 0x28, 0x29, 0x20, 0x7b, 0x09, 0x32, 0x32, 0x30,
	0x3b, 0x7d, 0x0a, 0x7d, 0x0a, 0x75, 0x6e, 0x6c, 0x65, 0x73,
};

static uint8_t key_seq[SRTPX_KEY_LEN];      /* 0x40, 0x41, ... */

#define S80 SRTPX_AES_CM_128_HMAC_SHA1_80
#define S32 SRTPX_AES_CM_128_HMAC_SHA1_32

#define L80 "AES_CM_128_HMAC_SHA1_80"
#define L32 "AES_CM_128_HMAC_SHA1_32"


/* -- a=crypto decoding ---------------------------------------------------- */

static const struct {
	const char *val;
	int err;
	unsigned tag;
	int suite;
	const uint8_t *key;
} dec_cases[] = {
	/* good */
	{"1 " L80 " inline:" KEY_RFC, 0, 1, S80, key_rfc},
	{"2 " L32 " inline:" KEY_RFC, 0, 2, S32, key_rfc},
	{"7 " L80 " inline:" KEY_SEQ "|2^20", 0, 7, S80, key_seq},
	{"3 " L32 " inline:" KEY_SEQ "|2^31", 0, 3, S32, key_seq},
	{"4 " L80 " inline:" KEY_SEQ "|1048576", 0, 4, S80, key_seq},
	{"999999999 " L80 " inline:" KEY_RFC, 0, 999999999, S80, key_rfc},
	{"1  " L80 "   inline:" KEY_RFC, 0, 1, S80, key_rfc},
	{"1\t" L32 "\tinline:" KEY_RFC, 0, 1, S32, key_rfc},
	{"1 " L80 " inline:" KEY_RFC "  ", 0, 1, S80, key_rfc},
	{"1 " L80 " inline:" KEY_RFC "|2^20\t", 0, 1, S80, key_rfc},

	/* not ours: another suite, MKI, session parameters, key method */
	{"1 AES_CM_256_HMAC_SHA1_80 inline:"
	 "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVzWVNfX19zZW1jdGw=",
	 ENOTSUP, 0, 0, NULL},
	{"1 AES_192_CM_HMAC_SHA1_80 inline:" KEY_RFC, ENOTSUP, 0, 0, NULL},
	{"1 F8_128_HMAC_SHA1_80 inline:" KEY_RFC, ENOTSUP, 0, 0, NULL},
	{"1 AEAD_AES_128_GCM inline:" KEY_RFC, ENOTSUP, 0, 0, NULL},
	{"1 AES_CM_128_HMAC_SHA1_80X inline:" KEY_RFC, ENOTSUP, 0, 0, NULL},
	{"1 aes_cm_128_hmac_sha1_80 inline:" KEY_RFC, ENOTSUP, 0, 0, NULL},
	{"1 " L80 " inline:" KEY_RFC "|2^20|1:4", ENOTSUP, 0, 0, NULL},
	{"1 " L80 " inline:" KEY_RFC "|1:4", ENOTSUP, 0, 0, NULL},
	{"1 " L80 " inline:" KEY_RFC "|2^20|1:4;inline:" KEY_SEQ
	 "|2^20|2:4", ENOTSUP, 0, 0, NULL},
	{"1 " L80 " inline:" KEY_RFC " KDR=1", ENOTSUP, 0, 0, NULL},
	{"1 " L80 " inline:" KEY_RFC "|2^20 KDR=1", ENOTSUP, 0, 0, NULL},
	{"1 " L80 " inline:" KEY_RFC " UNENCRYPTED_SRTP", ENOTSUP, 0, 0,
	 NULL},
	{"1 " L80 " inline:" KEY_RFC " UNENCRYPTED_SRTCP", ENOTSUP, 0, 0,
	 NULL},
	{"1 " L80 " inline:" KEY_RFC " UNAUTHENTICATED_SRTP", ENOTSUP, 0, 0,
	 NULL},
	{"1 " L80 " inline:" KEY_RFC " FEC_ORDER=FEC_SRTP", ENOTSUP, 0, 0,
	 NULL},
	{"1 " L80 " inline:" KEY_RFC " WSH=128", ENOTSUP, 0, 0, NULL},
	{"1 " L80 " uri:https://keys.example/k", ENOTSUP, 0, 0, NULL},
	{"1 " L80 " mikey:AQAFgM0XflAB", ENOTSUP, 0, 0, NULL},

	/* malformed */
	{"1 " L80 " inline:!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", EBADMSG,
	 0, 0, NULL},
	{"1 " L80 " inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubG@@", EBADMSG,
	 0, 0, NULL},
	{"1 " L80 " inline:WVNfX19zZW1jd=wgKCkgewkyMjA7fQp9CnVubGVz", EBADMSG,
	 0, 0, NULL},
	{"1 " L80 " inline:" KEY_RFC "A", EBADMSG, 0, 0, NULL},
	{"1 " L80 " inline:" KEY_RFC "AB", EBADMSG, 0, 0, NULL},
	{"1 " L80 " inline:" KEY_RFC "ABC", EBADMSG, 0, 0, NULL},
	{"1 " L80 " inline:" KEY_RFC "AAAA", EBADMSG, 0, 0, NULL},
	{"1 " L80 " inline:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", EBADMSG,
	 0, 0, NULL},           /* 29 bytes */
	{"1 " L80 " inline:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
	 EBADMSG, 0, 0, NULL},  /* 31 bytes */
	{"1 " L80 " inline:AAAA", EBADMSG, 0, 0, NULL},
	{"1 " L80 " inline:", EBADMSG, 0, 0, NULL},
	{"1 " L80 " inline:|2^20", EBADMSG, 0, 0, NULL},
	{L80 " inline:" KEY_RFC, EBADMSG, 0, 0, NULL},
	{"x " L80 " inline:" KEY_RFC, EBADMSG, 0, 0, NULL},
	{"-1 " L80 " inline:" KEY_RFC, EBADMSG, 0, 0, NULL},
	{"junk 1 " L80 " inline:" KEY_RFC, EBADMSG, 0, 0, NULL},
	{"a=crypto:1 " L80 " inline:" KEY_RFC, EBADMSG, 0, 0, NULL},
	{"1234567890 " L80 " inline:" KEY_RFC, EBADMSG, 0, 0, NULL},
	{" inline:" KEY_RFC, EBADMSG, 0, 0, NULL},

	/* nothing usable: any error, no crash */
	{"", ANY_ERR, 0, 0, NULL},
	{"1", ANY_ERR, 0, 0, NULL},
	{"1 " L80, ANY_ERR, 0, 0, NULL},
	{"1 " L80 " ", ANY_ERR, 0, 0, NULL},
	{"\t\t\t", ANY_ERR, 0, 0, NULL},
	{"inline:inline:inline:", ANY_ERR, 0, 0, NULL},
};


static void test_decode(void)
{
	unsigned bad = 0;

	/* every case runs; each failing one is printed */
	for (size_t i = 0; i < sizeof(dec_cases) / sizeof(dec_cases[0]);
	     i++) {
		struct srtpx_crypto c;
		size_t n = strlen(dec_cases[i].val);
		char *val = malloc(n + 1);   /* exact size: ASan sees reads */
		int err;

		TEST_ASSERT(val);
		memcpy(val, dec_cases[i].val, n + 1);
		memset(&c, 0xa5, sizeof(c));
		err = srtpx_crypto_decode(&c, val);

		if (dec_cases[i].err == ANY_ERR ? !err :
		    err != dec_cases[i].err) {
			fprintf(stderr, "decode case %zu \"%s\": err %d (%s),"
				" expected %d\n", i, val, err, strerror(err),
				dec_cases[i].err);
			++bad;
		}
		else if (!err && (c.tag != dec_cases[i].tag ||
				  (int)c.suite != dec_cases[i].suite ||
				  memcmp(c.key, dec_cases[i].key,
					 SRTPX_KEY_LEN))) {
			fprintf(stderr, "decode case %zu \"%s\": tag %u suite"
				" %d or key wrong\n", i, val, c.tag, c.suite);
			++bad;
		}
		free(val);
	}
	TEST_EQ(bad, 0);

	TEST_ERR(srtpx_crypto_decode(NULL, "1 " L80 " inline:" KEY_RFC),
		 EINVAL);
	{
		struct srtpx_crypto c;
		TEST_ERR(srtpx_crypto_decode(&c, NULL), EINVAL);
	}
}


/* -- a=crypto encoding ---------------------------------------------------- */

static void test_encode(void)
{
	struct srtpx_crypto c, d;
	char buf[SRTPX_ATTR_MAX];
	static const struct {
		unsigned tag;
		int suite;
	} rt[] = {
		{1, S80}, {1, S32}, {7, S80}, {999999999, S32},
		{123456789, S80}, {0, S80},
	};

	/* known output */
	memset(&c, 0, sizeof(c));
	c.tag = 7;
	c.suite = S32;
	memcpy(c.key, key_rfc, SRTPX_KEY_LEN);
	TEST_ERR(srtpx_crypto_encode(buf, sizeof(buf), &c), 0);
	TEST_STREQ(buf, "7 " L32 " inline:" KEY_RFC);

	c.tag = 1;
	c.suite = S80;
	memcpy(c.key, key_seq, SRTPX_KEY_LEN);
	TEST_ERR(srtpx_crypto_encode(buf, sizeof(buf), &c), 0);
	TEST_STREQ(buf, "1 " L80 " inline:" KEY_SEQ);

	/* round trips, random keys */
	for (size_t i = 0; i < sizeof(rt) / sizeof(rt[0]); i++) {
		memset(&c, 0, sizeof(c));
		c.tag = rt[i].tag;
		c.suite = rt[i].suite;
		TEST_ERR(srtpx_key_random(c.key), 0);
		TEST_ERR(srtpx_crypto_encode(buf, sizeof(buf), &c), 0);
		TEST_ERR(srtpx_crypto_decode(&d, buf), 0);
		TEST_EQ(d.tag, c.tag);
		TEST_EQ(d.suite, c.suite);
		TEST_ASSERT(!memcmp(d.key, c.key, SRTPX_KEY_LEN));
	}

	/* two random keys differ */
	TEST_ERR(srtpx_key_random(c.key), 0);
	TEST_ERR(srtpx_key_random(d.key), 0);
	TEST_ASSERT(memcmp(c.key, d.key, SRTPX_KEY_LEN));

	/* bad arguments */
	c.tag = 1;
	c.suite = SRTPX_NONE;
	TEST_ERR(srtpx_crypto_encode(buf, sizeof(buf), &c), EINVAL);
	c.suite = S80;
	TEST_ERR(srtpx_crypto_encode(NULL, sizeof(buf), &c), EINVAL);
	TEST_ERR(srtpx_crypto_encode(buf, sizeof(buf), NULL), EINVAL);

	/* too small a buffer: an error, and nothing written past it */
	for (size_t sz = 1; sz < 40; sz += 7) {
		char *small = malloc(sz);
		TEST_ASSERT(small);
		TEST_ASSERT(srtpx_crypto_encode(small, sz, &c) != 0);
		free(small);
	}
}


static void test_names(void)
{
	TEST_STREQ(srtpx_suite_name(SRTPX_AES_CM_128_HMAC_SHA1_80), L80);
	TEST_STREQ(srtpx_suite_name(SRTPX_AES_CM_128_HMAC_SHA1_32), L32);
	TEST_STREQ(srtpx_suite_name(SRTPX_NONE), "none");
	TEST_STREQ(srtpx_suite_name((enum srtpx_suite)3), "?");
	TEST_STREQ(srtpx_suite_name((enum srtpx_suite)-1), "?");
}


/* -- protection ------------------------------------------------------------ */

#define KA key_rfc
#define KB key_seq

enum { PAYLOAD = 160, RTP_LEN = 12 + PAYLOAD, RTCP_LEN = 28 + 12 };

struct pair {
	struct srtpx *a;    /* the gateway: sends with KA, receives KB */
	struct srtpx *b;    /* the carrier: sends with KB, receives KA */
};


static void pair_alloc(struct pair *p, int suite)
{
	TEST_ERR(srtpx_alloc(&p->a, (enum srtpx_suite)suite, KA, KB), 0);
	TEST_ERR(srtpx_alloc(&p->b, (enum srtpx_suite)suite, KB, KA), 0);
}


static void pair_free(struct pair *p)
{
	p->a = mem_deref(p->a);
	p->b = mem_deref(p->b);
}


/* RTP packet: header and a payload that depends on seq */
static size_t rtp_make(uint8_t *buf, uint32_t ssrc, uint16_t seq,
		       uint32_t ts)
{
	buf[0] = 0x80;
	buf[1] = 0;
	buf[2] = (uint8_t)(seq >> 8);
	buf[3] = (uint8_t)seq;
	buf[4] = (uint8_t)(ts >> 24);
	buf[5] = (uint8_t)(ts >> 16);
	buf[6] = (uint8_t)(ts >> 8);
	buf[7] = (uint8_t)ts;
	buf[8] = (uint8_t)(ssrc >> 24);
	buf[9] = (uint8_t)(ssrc >> 16);
	buf[10] = (uint8_t)(ssrc >> 8);
	buf[11] = (uint8_t)ssrc;
	for (size_t i = 0; i < PAYLOAD; i++)
		buf[12 + i] = (uint8_t)(seq * 7 + i);
	return RTP_LEN;
}


/* RTCP compound: an empty SR and an SDES with one CNAME */
static size_t rtcp_make(uint8_t *buf, uint32_t ssrc, uint32_t n)
{
	static const uint8_t sr[28] = {
		0x80, 200, 0, 6, 0, 0, 0, 0,
		0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5,
	};
	static const uint8_t sdes[12] = {
		0x81, 202, 0, 2, 0, 0, 0, 0, 1, 1, 'x', 0,
	};

	memcpy(buf, sr, sizeof(sr));
	memcpy(buf + 28, sdes, sizeof(sdes));
	for (int k = 0; k < 2; k++) {
		uint8_t *s = buf + (k ? 32 : 4);
		s[0] = (uint8_t)(ssrc >> 24);
		s[1] = (uint8_t)(ssrc >> 16);
		s[2] = (uint8_t)(ssrc >> 8);
		s[3] = (uint8_t)ssrc;
	}
	buf[20] = (uint8_t)(n >> 24);
	buf[21] = (uint8_t)(n >> 16);
	buf[22] = (uint8_t)(n >> 8);
	buf[23] = (uint8_t)n;
	return RTCP_LEN;
}


static size_t make(uint8_t *buf, bool rtcp, uint32_t ssrc, uint16_t seq)
{
	return rtcp ? rtcp_make(buf, ssrc, seq) :
		rtp_make(buf, ssrc, seq, 160u * seq);
}


/* tag bytes protect adds: RTP 10 (_80) or 4 (_32); SRTCP index 4 + tag 10
 * for both suites (RFC 4568 6.2.2) */
static size_t added(int suite, bool rtcp)
{
	if (rtcp)
		return 4 + 10;
	return suite == S32 ? 4 : 10;
}


/* a plain libsrtp2 receiver that knows only `key` */
static srtp_t ref_rx(int suite, const uint8_t *key)
{
	srtp_policy_t pol;
	srtp_t s = NULL;

	memset(&pol, 0, sizeof(pol));
	if (suite == S32)
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&pol.rtp);
	else
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtp);
	srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtcp);
	pol.ssrc.type = ssrc_any_inbound;
	pol.key = (unsigned char *)key;
	pol.window_size = 1024;
	TEST_EQ(srtp_create(&s, &pol), srtp_err_status_ok);
	return s;
}


/* each direction, RTP and RTCP: lengths, contents, and the sender's
 * output decrypts with the sender's key alone */
static void test_roundtrip(void)
{
	static const int suites[] = {S80, S32};

	for (size_t si = 0; si < 2; si++) {
		const int suite = suites[si];
		struct pair p;
		srtp_t ref_a = ref_rx(suite, KA);  /* hears a: KA */
		srtp_t ref_b = ref_rx(suite, KB);

		pair_alloc(&p, suite);

		for (int dir = 0; dir < 2; dir++) {
			struct srtpx *tx = dir ? p.b : p.a;
			struct srtpx *rx = dir ? p.a : p.b;
			srtp_t ref = dir ? ref_b : ref_a;

			for (int rtcp = 0; rtcp < 2; rtcp++) {
			for (uint16_t seq = 1; seq <= 5; seq++) {
				uint8_t plain[RTP_LEN], pkt[RTP_LEN + 16];
				uint8_t copy[RTP_LEN + 16];
				size_t n = make(plain, rtcp, 0x11110000u + dir,
						seq);
				size_t len = n;
				int rl;

				memcpy(pkt, plain, n);
				TEST_ERR(srtpx_protect(tx, pkt, &len,
						       sizeof(pkt), rtcp), 0);
				TEST_EQ(len, n + added(suite, rtcp));
				/* encrypted: the payload changed, the
				   header (RTP 12, RTCP 8 bytes) did not */
				TEST_ASSERT(!memcmp(pkt, plain,
						    rtcp ? 8 : 12));
				TEST_ASSERT(memcmp(pkt + (rtcp ? 8 : 12),
						   plain + (rtcp ? 8 : 12),
						   n - (rtcp ? 8 : 12)));

				memcpy(copy, pkt, len);
				rl = (int)len;
				TEST_EQ(rtcp ? srtp_unprotect_rtcp(ref, copy,
								   &rl) :
					srtp_unprotect(ref, copy, &rl),
					srtp_err_status_ok);
				TEST_EQ(rl, n);
				TEST_ASSERT(!memcmp(copy, plain, n));

				TEST_ERR(srtpx_unprotect(rx, pkt, &len, rtcp),
					 0);
				TEST_EQ(len, n);
				TEST_ASSERT(!memcmp(pkt, plain, n));
			}
			}
		}

		/* a session cannot read what it sent itself (own key is
		   not the receive key) */
		{
			uint8_t pkt[RTP_LEN + 16];
			size_t len = make(pkt, false, 0x22220000u, 9);
			TEST_ERR(srtpx_protect(p.a, pkt, &len, sizeof(pkt),
					       false), 0);
			TEST_ERR(srtpx_unprotect(p.a, pkt, &len, false),
				 EAUTH);
		}

		pair_free(&p);
		srtp_dealloc(ref_a);
		srtp_dealloc(ref_b);
	}
}


/* every byte flipped, one at a time: EAUTH; the session still takes the
 * genuine packet afterwards (a forged one does not move the replay
 * window) */
static void test_tamper(void)
{
	static const int suites[] = {S80, S32};

	for (size_t si = 0; si < 2; si++) {
		struct pair p;

		pair_alloc(&p, suites[si]);

		for (int rtcp = 0; rtcp < 2; rtcp++) {
			uint8_t plain[RTP_LEN], pkt[RTP_LEN + 16];
			uint8_t bad[RTP_LEN + 16];
			size_t n = make(plain, rtcp, 0x33330000u, 40);
			size_t len = n;

			memcpy(pkt, plain, n);
			TEST_ERR(srtpx_protect(p.b, pkt, &len, sizeof(pkt),
					       rtcp), 0);

			for (size_t i = 0; i < len; i++) {
				for (int bit = 0; bit < 8; bit += 7) {
					size_t bl = len;
					int err;

					memcpy(bad, pkt, len);
					bad[i] ^= (uint8_t)(1u << bit);
					err = srtpx_unprotect(p.a, bad, &bl,
							      rtcp);
					/* the version bits make it no RTP
					   at all, and SRTCP's E flag says
					   "not encrypted" (which the
					   policy refuses): malformed is
					   fine too */
					if ((i == 0 && bit == 7) ||
					    (rtcp && i == n && bit == 7)) {
						TEST_ASSERT(err != 0);
						continue;
					}
					if (err != EAUTH)
						TEST_FAIL("%s suite %d byte %zu "
							  "bit %d: err %d",
							  rtcp ? "RTCP" : "RTP",
							  suites[si], i, bit,
							  err);
				}
			}

			/* cut short by one to all of the tag */
			for (size_t cut = 1; cut <= added(suites[si], rtcp);
			     cut++) {
				size_t bl = len - cut;
				memcpy(bad, pkt, len);
				TEST_ASSERT(srtpx_unprotect(p.a, bad, &bl,
							    rtcp) != 0);
			}

			TEST_ERR(srtpx_unprotect(p.a, pkt, &len, rtcp), 0);
			TEST_EQ(len, n);
			TEST_ASSERT(!memcmp(pkt, plain, n));
		}
		pair_free(&p);
	}
}


static void protect_n(struct srtpx *s, bool rtcp, uint32_t ssrc,
		      uint16_t seq0, unsigned count,
		      uint8_t (*out)[RTP_LEN + 16], size_t *lens)
{
	for (unsigned k = 0; k < count; k++) {
		lens[k] = make(out[k], rtcp, ssrc, (uint16_t)(seq0 + k));
		TEST_ERR(srtpx_protect(s, out[k], &lens[k], RTP_LEN + 16,
				       rtcp), 0);
	}
}


static int unprotect_copy(struct srtpx *s, const uint8_t *pkt, size_t len,
			  bool rtcp)
{
	uint8_t buf[RTP_LEN + 16];

	memcpy(buf, pkt, len);
	return srtpx_unprotect(s, buf, &len, rtcp);
}


enum { NPKT = 1100 };
static uint8_t pkts[NPKT][RTP_LEN + 16];
static size_t plens[NPKT];

/* replays: the same packet twice, old ones past the window (RTP: 1024
 * packets, for carriers that reorder); reordering inside it is fine */
static void test_replay(void)
{
	static const int suites[] = {S80, S32};

	for (size_t si = 0; si < 2; si++) {
		for (int rtcp = 0; rtcp < 2; rtcp++) {
			struct pair p;

			pair_alloc(&p, suites[si]);
			protect_n(p.b, rtcp, 0x44440000u, 1000, NPKT, pkts,
				  plens);

			TEST_ERR(unprotect_copy(p.a, pkts[0], plens[0], rtcp),
				 0);
			TEST_ERR(unprotect_copy(p.a, pkts[0], plens[0], rtcp),
				 EAUTH);
			/* out of order inside the window */
			TEST_ERR(unprotect_copy(p.a, pkts[5], plens[5], rtcp),
				 0);
			TEST_ERR(unprotect_copy(p.a, pkts[3], plens[3], rtcp),
				 0);
			TEST_ERR(unprotect_copy(p.a, pkts[4], plens[4], rtcp),
				 0);
			TEST_ERR(unprotect_copy(p.a, pkts[3], plens[3], rtcp),
				 EAUTH);
			TEST_ERR(unprotect_copy(p.a, pkts[5], plens[5], rtcp),
				 EAUTH);
			/* far ahead, then one too old for the window, then
			   one still inside it */
			TEST_ERR(unprotect_copy(p.a, pkts[NPKT - 1],
						plens[NPKT - 1], rtcp), 0);
			TEST_ERR(unprotect_copy(p.a, pkts[10], plens[10],
						rtcp), EAUTH);
			TEST_ERR(unprotect_copy(p.a, pkts[NPKT - 20],
						plens[NPKT - 20], rtcp), 0);
			/* the RTP window is 1024 packets: 1000 back is in
			   it; SRTCP's is libsrtp2's fixed 128 */
			{
				const size_t back = rtcp ? 101 : 1001;
				TEST_ERR(unprotect_copy(p.a, pkts[NPKT - back],
							plens[NPKT - back],
							rtcp), 0);
			}
			TEST_ERR(unprotect_copy(p.a, pkts[NPKT - 20],
						plens[NPKT - 20], rtcp), EAUTH);
			pair_free(&p);
		}
	}
}


/* what the other end would get wrong: another key, another suite,
 * plain RTP */
static void test_mismatch(void)
{
	static const uint8_t kc[SRTPX_KEY_LEN] = {1, 2, 3};
	struct srtpx *a80, *a32, *c;
	uint8_t pkt[RTP_LEN + 16];
	size_t len;

	TEST_ERR(srtpx_alloc(&a80, S80, KA, KB), 0);
	TEST_ERR(srtpx_alloc(&a32, S32, KA, KB), 0);
	TEST_ERR(srtpx_alloc(&c, S80, kc, kc), 0);

	for (int rtcp = 0; rtcp < 2; rtcp++) {
		/* c sends with a key a does not expect */
		len = make(pkt, rtcp, 0x55550000u, 1);
		TEST_ERR(srtpx_protect(c, pkt, &len, sizeof(pkt), rtcp), 0);
		TEST_ERR(srtpx_unprotect(a80, pkt, &len, rtcp), EAUTH);

		/* plain packets with room for a "tag" */
		len = make(pkt, rtcp, 0x55550000u, 2) + 14;
		TEST_ERR(srtpx_unprotect(a80, pkt, &len, rtcp), EAUTH);
	}

	/* _32 sender, _80 receiver, same key, and the other way round */
	{
		struct srtpx *b32, *b80;
		TEST_ERR(srtpx_alloc(&b32, S32, KB, KA), 0);
		TEST_ERR(srtpx_alloc(&b80, S80, KB, KA), 0);
		len = make(pkt, false, 0x55550001u, 3);
		TEST_ERR(srtpx_protect(b32, pkt, &len, sizeof(pkt), false),
			 0);
		TEST_ERR(srtpx_unprotect(a80, pkt, &len, false), EAUTH);
		len = make(pkt, false, 0x55550001u, 4);
		TEST_ERR(srtpx_protect(b80, pkt, &len, sizeof(pkt), false),
			 0);
		TEST_ERR(srtpx_unprotect(a32, pkt, &len, false), EAUTH);
		mem_deref(b32);
		mem_deref(b80);
	}

	mem_deref(a80);
	mem_deref(a32);
	mem_deref(c);
}


/* SSRC changes (any SSRC is taken) and sequence numbers wrapping (the
 * rollover counter follows) */
static void test_ssrc_wrap(void)
{
	struct pair p;
	static const struct {
		uint32_t ssrc;
		uint16_t seq;
	} seqs[] = {
		{0x1000, 65533}, {0x1000, 65534}, {0x2000, 7}, {0x1000, 65535},
		{0x1000, 0}, {0x2000, 8}, {0x1000, 1}, {0x1000, 2},
		{0x3000, 65535}, {0x3000, 0},
	};

	pair_alloc(&p, S80);
	for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		uint8_t plain[RTP_LEN], pkt[RTP_LEN + 16];
		size_t n = rtp_make(plain, seqs[i].ssrc, seqs[i].seq,
				    seqs[i].seq * 160u);
		size_t len = n;

		memcpy(pkt, plain, n);
		TEST_ERR(srtpx_protect(p.a, pkt, &len, sizeof(pkt), false),
			 0);
		TEST_ERR(srtpx_unprotect(p.b, pkt, &len, false), 0);
		TEST_EQ(len, n);
		TEST_ASSERT(!memcmp(pkt, plain, n));
	}
	pair_free(&p);
}


/* short packets, small buffers, silly lengths: errors, never accesses
 * past the (exact-size, heap) buffer */
static void test_bounds(void)
{
	static const int suites[] = {S80, S32};
	uint8_t plain[RTP_LEN];

	for (size_t si = 0; si < 2; si++) {
		struct pair p;

		pair_alloc(&p, suites[si]);

		for (int rtcp = 0; rtcp < 2; rtcp++) {
			const size_t n = make(plain, rtcp, 0x66660000u, 1);

			/* unprotect: every length up to header + tag */
			for (size_t l = 0; l <= (rtcp ? 8 : 12) +
				     added(suites[si], rtcp) + 2; l++) {
				uint8_t *b = malloc(l ? l : 1);
				size_t bl = l;
				TEST_ASSERT(b);
				memcpy(b, plain, l < n ? l : n);
				TEST_ASSERT(srtpx_unprotect(p.a, b, &bl,
							    rtcp) != 0);
				free(b);
			}

			/* protect into a buffer one byte short of what it
			   asks for: EINVAL, buffer untouched */
			{
				size_t sz = n + SRTPX_TRAILER - 1, len = n;
				uint8_t *b = malloc(sz);
				TEST_ASSERT(b);
				memcpy(b, plain, n);
				TEST_ERR(srtpx_protect(p.b, b, &len, sz, rtcp),
					 EINVAL);
				TEST_EQ(len, n);
				TEST_ASSERT(!memcmp(b, plain, n));
				free(b);
			}
			/* exactly what it asks for: fits */
			{
				size_t sz = n + SRTPX_TRAILER, len = n;
				uint8_t *b = malloc(sz);
				TEST_ASSERT(b);
				memcpy(b, plain, n);
				TEST_ERR(srtpx_protect(p.b, b, &len, sz, rtcp),
					 0);
				TEST_EQ(len, n + added(suites[si], rtcp));
				TEST_ERR(srtpx_unprotect(p.a, b, &len, rtcp),
					 0);
				TEST_ASSERT(!memcmp(b, plain, n));
				free(b);
			}
			/* lengths that would overflow an int or size_t */
			{
				uint8_t b[64];
				size_t len = (size_t)INT32_MAX;
				TEST_ERR(srtpx_protect(p.b, b, &len, SIZE_MAX,
						       rtcp), EINVAL);
				len = SIZE_MAX - 5;
				TEST_ERR(srtpx_protect(p.b, b, &len, sizeof(b),
						       rtcp), EINVAL);
				len = (size_t)INT32_MAX + 1;
				TEST_ERR(srtpx_unprotect(p.a, b, &len, rtcp),
					 EINVAL);
			}
			/* too short to be RTP or RTCP: an error */
			for (size_t l = 0; l < (rtcp ? 8u : 12u); l++) {
				size_t sz = l + SRTPX_TRAILER, len = l;
				uint8_t *b = malloc(sz);
				TEST_ASSERT(b);
				memcpy(b, plain, l);
				TEST_ASSERT(srtpx_protect(p.b, b, &len, sz,
							  rtcp) != 0);
				free(b);
			}
		}

		/* NULL arguments */
		{
			uint8_t b[RTP_LEN + 16];
			size_t len = RTP_LEN;
			TEST_ERR(srtpx_protect(NULL, b, &len, sizeof(b),
					       false), EINVAL);
			TEST_ERR(srtpx_protect(p.a, NULL, &len, sizeof(b),
					       false), EINVAL);
			TEST_ERR(srtpx_protect(p.a, b, NULL, sizeof(b),
					       false), EINVAL);
			TEST_ERR(srtpx_unprotect(NULL, b, &len, false),
				 EINVAL);
			TEST_ERR(srtpx_unprotect(p.a, NULL, &len, false),
				 EINVAL);
			TEST_ERR(srtpx_unprotect(p.a, b, NULL, false), EINVAL);
		}

		pair_free(&p);
	}

	/* allocation arguments */
	{
		struct srtpx *s = NULL;
		TEST_ERR(srtpx_alloc(NULL, S80, KA, KB), EINVAL);
		TEST_ERR(srtpx_alloc(&s, SRTPX_NONE, KA, KB), EINVAL);
		TEST_ERR(srtpx_alloc(&s, S80, NULL, KB), EINVAL);
		TEST_ERR(srtpx_alloc(&s, S80, KA, NULL), EINVAL);
		TEST_ASSERT(s == NULL);
	}
}


int main(void)
{
	for (size_t i = 0; i < SRTPX_KEY_LEN; i++)
		key_seq[i] = (uint8_t)(0x40 + i);

	TEST_ERR(srtpx_init(), 0);

	test_decode();
	test_encode();
	test_names();
	test_roundtrip();
	test_tamper();
	test_replay();
	test_mismatch();
	test_ssrc_wrap();
	test_bounds();

	srtpx_close();

	return 0;
}
