/**
 * @file test_rtpkt.c  RTP header decode/encode: good, malformed, truncated
 *
 * Every datagram is decoded from a heap copy of exactly its length, so
 * ASan reports any read past the end.
 */
#include <errno.h>
#include <stdbool.h>
#include "test.h"
#include "rtpkt.h"


struct tcase {
	const char *name;
	uint8_t data[64];
	size_t len;
	int err;               /* expected result         */
	/* expected on success */
	bool marker;
	uint8_t pt;
	uint16_t seq;
	uint32_t ts, ssrc;
	uint8_t cc;
	size_t hdr_len, payload_len;
	uint8_t pad_len;
};


/* V=2 fixed header: flags byte, M|PT byte, seq 0x1234, ts 0xdeadbeef,
 * ssrc 0x01020304 */
#define HDR(b0, b1) b0, b1, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4

static const struct tcase cases[] = {
	{"minimal, 4-byte payload", {HDR(0x80, 0x00), 0xff, 0xff, 0xff, 0xff},
	 16, 0, false, 0, 0x1234, 0xdeadbeef, 0x01020304, 0, 12, 4, 0},
	{"header only (empty payload)", {HDR(0x80, 0x08)},
	 12, 0, false, 8, 0x1234, 0xdeadbeef, 0x01020304, 0, 12, 0, 0},
	{"marker, PT 101", {HDR(0x80, 0xe5), 1, 2, 3, 4},
	 16, 0, true, 101, 0x1234, 0xdeadbeef, 0x01020304, 0, 12, 4, 0},
	{"PT 127 without marker", {HDR(0x80, 0x7f), 9},
	 13, 0, false, 127, 0x1234, 0xdeadbeef, 0x01020304, 0, 12, 1, 0},
	{"two CSRCs", {HDR(0x82, 0x00), 0, 0, 0, 5, 0, 0, 0, 6, 0xaa},
	 21, 0, false, 0, 0x1234, 0xdeadbeef, 0x01020304, 2, 20, 1, 0},
	{"extension, 1 word", {HDR(0x90, 0x00), 0xbe, 0xde, 0, 1,
			       1, 2, 3, 4, 0x55, 0x66},
	 22, 0, false, 0, 0x1234, 0xdeadbeef, 0x01020304, 0, 20, 2, 0},
	{"extension, 0 words", {HDR(0x90, 0x00), 0x10, 0x00, 0, 0, 0x55},
	 17, 0, false, 0, 0x1234, 0xdeadbeef, 0x01020304, 0, 16, 1, 0},
	{"CSRC + extension + padding", {HDR(0xb1, 0x00), 0, 0, 0, 7,
		0xbe, 0xde, 0, 1, 9, 9, 9, 9, 0x42, 0x43, 0, 0, 3},
	 29, 0, false, 0, 0x1234, 0xdeadbeef, 0x01020304, 1, 24, 2, 3},
	{"padding 1 (count only)", {HDR(0xa0, 0x00), 0x11, 0x22, 1},
	 15, 0, false, 0, 0x1234, 0xdeadbeef, 0x01020304, 0, 12, 2, 1},
	{"padding covers all payload", {HDR(0xa0, 0x00), 0, 0, 0, 4},
	 16, 0, false, 0, 0x1234, 0xdeadbeef, 0x01020304, 0, 12, 0, 4},

	{"empty", {0}, 0, EBADMSG, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{"one byte", {0x80}, 1, EBADMSG, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{"11 bytes", {HDR(0x80, 0x00)}, 11, EBADMSG,
	 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{"version 0", {HDR(0x00, 0x00), 1}, 13, EBADMSG,
	 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{"version 1", {HDR(0x40, 0x00), 1}, 13, EBADMSG,
	 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{"version 3", {HDR(0xc0, 0x00), 1}, 13, EBADMSG,
	 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{"CSRC list overruns", {HDR(0x83, 0x00), 0, 0, 0, 1, 0, 0, 0, 2},
	 20, EBADMSG, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{"15 CSRCs, short", {HDR(0x8f, 0x00)}, 12 + 56, EBADMSG,
	 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{"extension header cut", {HDR(0x90, 0x00), 0xbe, 0xde, 0},
	 15, EBADMSG, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{"extension length overruns", {HDR(0x90, 0x00), 0xbe, 0xde, 0, 2,
				       1, 2, 3, 4, 5, 6, 7},
	 23, EBADMSG, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{"extension length huge", {HDR(0x90, 0x00), 0xbe, 0xde, 0xff, 0xff,
				   1, 2, 3, 4},
	 20, EBADMSG, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{"padding count 0", {HDR(0xa0, 0x00), 1, 2, 0},
	 15, EBADMSG, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{"padding longer than payload", {HDR(0xa0, 0x00), 1, 2, 4},
	 15, EBADMSG, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{"padding bit, header only", {HDR(0xa0, 0x00)},
	 12, EBADMSG, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{"padding eats extension", {HDR(0xb0, 0x00), 0, 0, 0, 1,
				    1, 2, 3, 6},
	 20, EBADMSG, 0, 0, 0, 0, 0, 0, 0, 0, 0},
};


/* decode from an exact-size heap copy */
static int decode_copy(struct rtpkt *pkt, const uint8_t *data, size_t len,
		       uint8_t **copy)
{
	*copy = malloc(len ? len : 1);
	TEST_ASSERT(*copy);
	if (len)
		memcpy(*copy, data, len);

	return rtpkt_decode(pkt, *copy, len);
}


/* invariants of any successful decode */
static void check_consistent(const struct rtpkt *pkt, const uint8_t *buf,
			     size_t len)
{
	TEST_ASSERT(pkt->hdr_len >= RTPKT_HDR_SIZE);
	TEST_EQ(pkt->hdr_len + pkt->payload_len + pkt->pad_len, len);
	TEST_ASSERT(pkt->payload == buf + pkt->hdr_len);
	TEST_ASSERT(pkt->pt < 128);
	TEST_ASSERT(pkt->cc < 16);
	if (pkt->ext)
		TEST_ASSERT(pkt->ext_data + pkt->ext_len <= pkt->payload);
}


static void test_table(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct tcase *tc = &cases[i];
		struct rtpkt pkt;
		uint8_t *buf;
		int err;

		err = decode_copy(&pkt, tc->data, tc->len, &buf);
		if (err != tc->err)
			TEST_FAIL("case '%s': err %d, expected %d", tc->name,
				  err, tc->err);

		if (!err) {
			check_consistent(&pkt, buf, tc->len);
			TEST_EQ(pkt.marker, tc->marker);
			TEST_EQ(pkt.pt, tc->pt);
			TEST_EQ(pkt.seq, tc->seq);
			TEST_EQ(pkt.ts, tc->ts);
			TEST_EQ(pkt.ssrc, tc->ssrc);
			TEST_EQ(pkt.cc, tc->cc);
			TEST_EQ(pkt.hdr_len, tc->hdr_len);
			TEST_EQ(pkt.payload_len, tc->payload_len);
			TEST_EQ(pkt.pad_len, tc->pad_len);
		}
		free(buf);
	}
}


static void test_fields(void)
{
	const struct tcase *tc = &cases[7];   /* CSRC + ext + padding */
	struct rtpkt pkt;
	uint8_t *buf;

	TEST_ERR(decode_copy(&pkt, tc->data, tc->len, &buf), 0);
	TEST_EQ(rtpkt_csrc(&pkt, 0), 7);
	TEST_EQ(rtpkt_csrc(&pkt, 1), 0);
	TEST_ASSERT(pkt.ext);
	TEST_EQ(pkt.ext_profile, 0xbede);
	TEST_EQ(pkt.ext_len, 4);
	TEST_EQ(pkt.ext_data[0], 9);
	TEST_EQ(pkt.payload[0], 0x42);
	TEST_EQ(pkt.payload[1], 0x43);
	free(buf);
}


/* Every valid case cut at every shorter length: the header part must be
 * rejected; past it the decode must stay inside the cut buffer. */
static void test_truncation(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct tcase *tc = &cases[i];

		if (tc->err)
			continue;

		for (size_t l = 0; l < tc->len; l++) {
			struct rtpkt pkt;
			uint8_t *buf;
			int err = decode_copy(&pkt, tc->data, l, &buf);

			if (l < tc->hdr_len) {
				if (err != EBADMSG)
					TEST_FAIL("case '%s' cut at %zu: "
						  "err %d", tc->name, l, err);
			}
			else if (!err) {
				check_consistent(&pkt, buf, l);
				TEST_EQ(pkt.hdr_len, tc->hdr_len);
			}
			else {
				TEST_ERR(err, EBADMSG);
				TEST_ASSERT(tc->pad_len > 0);
			}

			/* without padding a cut payload is still valid */
			if (l >= tc->hdr_len && !tc->pad_len)
				TEST_ERR(err, 0);
			free(buf);
		}
	}
}


/* random mutations of valid packets: never out of bounds, and any
 * success is self-consistent */
static void test_mutation(void)
{
	uint32_t r = 2463534242u;
	unsigned ok = 0, bad = 0;

	for (unsigned iter = 0; iter < 200000; iter++) {
		const struct tcase *tc = &cases[iter % 10];
		uint8_t data[64];
		struct rtpkt pkt;
		uint8_t *buf;
		size_t len = tc->len;
		int err;

		memcpy(data, tc->data, sizeof(data));
		for (int k = 0; k < 3; k++) {
			r ^= r << 13; r ^= r >> 17; r ^= r << 5;
			data[r % len] ^= (uint8_t)(r >> 8);
		}
		r ^= r << 13; r ^= r >> 17; r ^= r << 5;
		if (r & 1)
			len = (r >> 1) % (len + 1);

		err = decode_copy(&pkt, data, len, &buf);
		if (err) {
			TEST_ERR(err, EBADMSG);
			++bad;
		}
		else {
			check_consistent(&pkt, buf, len);
			++ok;
		}
		free(buf);
	}

	/* the mix must exercise both outcomes */
	TEST_ASSERT(ok > 1000);
	TEST_ASSERT(bad > 1000);
}


static void test_encode(void)
{
	uint8_t buf[RTPKT_HDR_SIZE + 4] = {0};
	struct rtpkt pkt;
	static const uint8_t expect[RTPKT_HDR_SIZE] = {
		0x80, 0x88, 0xff, 0xfe, 0x80, 0x00, 0x00, 0x01,
		0xca, 0xfe, 0xba, 0xbe
	};

	TEST_ERR(rtpkt_encode(buf, sizeof(buf), true, 8, 0xfffe, 0x80000001,
			      0xcafebabe), 0);
	TEST_ASSERT(!memcmp(buf, expect, sizeof(expect)));

	TEST_ERR(rtpkt_decode(&pkt, buf, sizeof(buf)), 0);
	TEST_ASSERT(pkt.marker);
	TEST_EQ(pkt.pt, 8);
	TEST_EQ(pkt.seq, 0xfffe);
	TEST_EQ(pkt.ts, 0x80000001);
	TEST_EQ(pkt.ssrc, 0xcafebabe);
	TEST_EQ(pkt.payload_len, 4);
	TEST_ASSERT(!rtpkt_is_rtcp(buf, sizeof(buf)));

	TEST_ERR(rtpkt_encode(buf, sizeof(buf), false, 0, 1, 2, 3), 0);
	TEST_EQ(buf[1], 0);

	TEST_ERR(rtpkt_encode(buf, RTPKT_HDR_SIZE - 1, false, 0, 0, 0, 0),
		 EOVERFLOW);
	TEST_ERR(rtpkt_encode(buf, sizeof(buf), false, 128, 0, 0, 0), EINVAL);
	TEST_ERR(rtpkt_encode(NULL, 12, false, 0, 0, 0, 0), EINVAL);
	TEST_ERR(rtpkt_decode(NULL, buf, sizeof(buf)), EINVAL);
	TEST_ERR(rtpkt_decode(&pkt, NULL, 0), EINVAL);
}


static void test_is_rtcp(void)
{
	static const struct { uint8_t b0, b1; size_t len; bool rtcp; } t[] = {
		{0x80, 200, 8, true},    /* SR                       */
		{0x81, 201, 8, true},    /* RR with one block        */
		{0x80, 192, 8, true},    /* lowest (FIR, RFC 2032)   */
		{0x80, 223, 8, true},    /* highest reserved for mux */
		{0x80, 191, 8, false},   /* marker + PT 63           */
		{0x80, 224, 8, false},   /* marker + PT 96           */
		{0x80, 0x00, 8, false},  /* PCMU                     */
		{0x80, 0x80, 8, false},  /* PCMU with marker         */
		{0x80, 72, 8, false},    /* PT 72 without marker     */
		{0x40, 200, 8, false},   /* version 1                */
		{0x80, 200, 1, false},   /* too short                */
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint8_t buf[8] = {t[i].b0, t[i].b1};
		if (rtpkt_is_rtcp(buf, t[i].len) != t[i].rtcp)
			TEST_FAIL("is_rtcp case %zu", i);
	}
	TEST_ASSERT(!rtpkt_is_rtcp(NULL, 8));
}


int main(void)
{
	test_table();
	test_fields();
	test_truncation();
	test_mutation();
	test_encode();
	test_is_rtcp();

	printf("test_rtpkt: ok\n");
	return 0;
}
