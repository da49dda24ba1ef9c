/**
 * @file test_wsproto.c  The agent link's WebSocket protocol (RFC 6455)
 *
 * Table-driven: each decoder case is a byte string of server frames and
 * the messages and control frames it must yield, fed whole, at every
 * single split point, and one byte at a time (a read may end anywhere).
 * Protocol errors must be refused with the reason. The encoder's headers
 * are checked at each length boundary and its masking against a byte-wise
 * XOR; the handshake against RFC 6455's own example and bad responses.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include "wsproto.h"
#include "wsframe.h"
#include "test.h"

enum { MAXEV = 8, BIG = 70000 };

struct ev {
	int op;
	size_t len;
	char head[24];   /**< first bytes of the payload */
};

struct rec {
	struct ev ev[MAXEV];
	size_t n;
	int stop_at;     /**< return 7 from this event (1-based), 0: never */
};

static int on_msg(enum wsp_op op, const uint8_t *data, size_t len,
		  void *arg)
{
	struct rec *r = arg;
	struct ev *e;

	if (r->n >= MAXEV)
		TEST_FAIL("too many events");

	e = &r->ev[r->n++];
	e->op = op;
	e->len = len;
	memset(e->head, 0, sizeof(e->head));
	memcpy(e->head, data, len < sizeof(e->head) - 1 ? len
	       : sizeof(e->head) - 1);
	if (op == WSP_TEXT && data[len] != '\0')
		TEST_FAIL("text not NUL-terminated");

	return (r->stop_at && (int)r->n == r->stop_at) ? 7 : 0;
}

struct dcase {
	const char *name;
	size_t max;
	uint8_t *in;
	size_t len;
	struct ev want[MAXEV];
	size_t nwant;
	uint64_t oversized;
};

static void check(const struct dcase *c, const struct rec *r,
		  const struct wsp_dec *d, const char *how)
{
	if (r->n != c->nwant)
		TEST_FAIL("%s (%s): %zu events, want %zu", c->name, how, r->n,
			  c->nwant);
	for (size_t i = 0; i < r->n; i++) {
		if (r->ev[i].op != c->want[i].op ||
		    r->ev[i].len != c->want[i].len ||
		    strcmp(r->ev[i].head, c->want[i].head))
			TEST_FAIL("%s (%s): event %zu is op %d len %zu \"%s\", "
				  "want op %d len %zu \"%s\"", c->name, how, i,
				  r->ev[i].op, r->ev[i].len, r->ev[i].head,
				  c->want[i].op, c->want[i].len,
				  c->want[i].head);
	}
	if (d->oversized != c->oversized)
		TEST_FAIL("%s (%s): oversized %llu, want %llu", c->name, how,
			  (unsigned long long)d->oversized,
			  (unsigned long long)c->oversized);
}

/* feed in pieces: cut == 0 whole, cut == SIZE_MAX byte by byte, else at
   that offset */
static void run(const struct dcase *c, size_t cut)
{
	struct wsp_dec d;
	struct rec r;
	char how[48];

	memset(&r, 0, sizeof(r));
	wsp_dec_init(&d, c->max);

	if (cut == SIZE_MAX) {
		for (size_t i = 0; i < c->len; i++)
			TEST_ERR(wsp_feed(&d, c->in + i, 1, on_msg, &r), 0);
		snprintf(how, sizeof(how), "byte by byte");
	}
	else {
		TEST_ERR(wsp_feed(&d, c->in, cut, on_msg, &r), 0);
		TEST_ERR(wsp_feed(&d, c->in + cut, c->len - cut, on_msg, &r),
			 0);
		snprintf(how, sizeof(how), "cut at %zu", cut);
	}

	check(c, &r, &d, how);
	wsp_dec_reset(&d);
}

static void test_decoder(void)
{
	static uint8_t b[8][BIG + 64];
	struct dcase cases[8];
	size_t k, nc = 0;

	memset(cases, 0, sizeof(cases));

	/* 1: a text message */
	k = wsframe(b[0], 0x81, "hello", 5);
	cases[nc++] = (struct dcase){"text", 1 << 20, b[0], k,
		{{WSP_TEXT, 5, "hello"}}, 1, 0};

	/* 2: 16- and 64-bit lengths */
	k = wsframe(b[1], 0x82, NULL, 300);
	k += wsframe(b[1] + k, 0x82, NULL, BIG);
	cases[nc++] = (struct dcase){"lengths", 1 << 20, b[1], k,
		{{WSP_BIN, 300, "xxxxxxxxxxxxxxxxxxxxxxx"},
		 {WSP_BIN, BIG, "xxxxxxxxxxxxxxxxxxxxxxx"}}, 2, 0};

	/* 3: fragments with a ping between them, then empty frames */
	k = wsframe(b[2], 0x01, "Hel", 3);
	k += wsframe(b[2] + k, 0x89, "p", 1);
	k += wsframe(b[2] + k, 0x00, "lo ", 3);
	k += wsframe(b[2] + k, 0x80, "world", 5);
	k += wsframe(b[2] + k, 0x81, "", 0);
	k += wsframe(b[2] + k, 0x89, "", 0);
	k += wsframe(b[2] + k, 0x8a, "q", 1);
	cases[nc++] = (struct dcase){"fragments", 1 << 20, b[2], k,
		{{WSP_PING, 1, "p"}, {WSP_TEXT, 11, "Hello world"},
		 {WSP_TEXT, 0, ""}, {WSP_PING, 0, ""}, {WSP_PONG, 1, "q"}},
		5, 0};

	/* 4: close with a status and a reason */
	k = wsframe(b[3], 0x88, "\x03\xe8" "bye", 5);
	cases[nc++] = (struct dcase){"close", 1 << 20, b[3], k,
		{{WSP_CLOSE, 5, "\x03\xe8" "bye"}}, 1, 0};

	/* 5: over max, whole and in fragments: skipped, the next kept */
	k = wsframe(b[4], 0x82, NULL, 150);
	k += wsframe(b[4] + k, 0x01, NULL, 60);
	k += wsframe(b[4] + k, 0x89, "in", 2);
	k += wsframe(b[4] + k, 0x80, NULL, 60);
	k += wsframe(b[4] + k, 0x81, "ok", 2);
	cases[nc++] = (struct dcase){"oversized", 100, b[4], k,
		{{WSP_PING, 2, "in"}, {WSP_TEXT, 2, "ok"}}, 2, 2};

	for (size_t i = 0; i < nc; i++) {
		const struct dcase *c = &cases[i];
		/* every cut point for small inputs, a sample for the big */
		size_t step = c->len > 2000 ? 997 : 1;

		run(c, 0);
		for (size_t cut = 1; cut < c->len; cut += step)
			run(c, cut);
		run(c, SIZE_MAX);
	}
}

static void test_errors(void)
{
	static const struct {
		const char *name;
		uint8_t in[16];
		size_t len;
		const char *why;
	} t[] = {
		{"masked", {0x81, 0x81, 1, 2, 3, 4, 'a'}, 7,
		 "masked frame from the server"},
		{"rsv1", {0xc1, 0x00}, 2, "reserved bits set"},
		{"opcode 3", {0x83, 0x00}, 2, "unknown opcode"},
		{"fragmented ping", {0x09, 0x00}, 2,
		 "fragmented control frame"},
		{"long ping", {0x89, 126, 0, 126}, 4,
		 "control frame over 125 bytes"},
		{"stray continuation", {0x80, 0x00}, 2,
		 "continuation without a message"},
		{"text in fragments", {0x01, 0x00, 0x81, 0x00}, 4,
		 "new message inside a fragmented one"},
		{"length top bit", {0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1}, 10,
		 "frame length over 2^63"},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct wsp_dec d;
		struct rec r;

		memset(&r, 0, sizeof(r));
		wsp_dec_init(&d, 1000);
		if (wsp_feed(&d, t[i].in, t[i].len, on_msg, &r) != EPROTO)
			TEST_FAIL("%s: accepted", t[i].name);
		TEST_STREQ(d.error, t[i].why);
		TEST_EQ(r.n, 0);
		wsp_dec_reset(&d);
	}

	/* the handler stops the decoder: its value comes back, the rest
	   of the read is left */
	{
		uint8_t in[32];
		struct wsp_dec d;
		struct rec r;
		size_t k = wsframe(in, 0x81, "a", 1);

		k += wsframe(in + k, 0x81, "b", 1);
		memset(&r, 0, sizeof(r));
		r.stop_at = 1;
		wsp_dec_init(&d, 1000);
		TEST_EQ(wsp_feed(&d, in, k, on_msg, &r), 7);
		TEST_EQ(r.n, 1);
		wsp_dec_reset(&d);
	}
}

static void test_encoder(void)
{
	static const struct { size_t len, hl; uint8_t b1; } t[] = {
		{0, 6, 0x80}, {125, 6, 0x80 | 125}, {126, 8, 0x80 | 126},
		{65535, 8, 0x80 | 126}, {65536, 14, 0x80 | 127},
	};
	static const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
	uint8_t hdr[WSP_HDR_MAX];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t hl = wsp_frame_hdr(hdr, WSP_BIN, t[i].len, mask);
		uint64_t len = 0;

		TEST_EQ(hl, t[i].hl);
		TEST_EQ(hdr[0], 0x82);
		TEST_EQ(hdr[1], t[i].b1);
		if (hl == 8)
			len = (uint64_t)hdr[2] << 8 | hdr[3];
		else if (hl == 14)
			for (int j = 0; j < 8; j++)
				len = len << 8 | hdr[2 + j];
		else
			len = hdr[1] & 0x7f;
		TEST_EQ(len, t[i].len);
		TEST_ASSERT(!memcmp(hdr + hl - 4, mask, 4));
	}

	/* masking: every length 0..40 against a byte-wise XOR, and back */
	for (size_t n = 0; n <= 40; n++) {
		uint8_t p[40], q[40];

		for (size_t j = 0; j < n; j++)
			p[j] = q[j] = (uint8_t)(j * 37 + 11);
		wsp_mask(p, n, mask);
		for (size_t j = 0; j < n; j++)
			TEST_EQ(p[j], q[j] ^ mask[j % 4]);
		wsp_mask(p, n, mask);
		TEST_ASSERT(!memcmp(p, q, n));
	}
}

/* responses to RFC 6455's example key, and what wsp_response() says */
static const struct {
	const char *resp;
	int err, status;
	const char *why;
} resp_cases[] = {
	{"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	 "Connection: Upgrade\r\n"
	 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
	 0, 101, NULL},
	/* names any case, token lists, blanks around values */
	{"HTTP/1.1 101 OK\r\nUPGRADE:  WebSocket \r\n"
	 "connection: keep-alive, upgrade\r\n"
	 "sec-websocket-accept:s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
	 0, 101, NULL},
	{"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
	 EPROTO, 403, "the agent refused the upgrade"},
	{"HTTP/1.1 101 x\r\nConnection: Upgrade\r\n"
	 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
	 EPROTO, 101, "no Upgrade: websocket"},
	{"HTTP/1.1 101 x\r\nUpgrade: websocket\r\n"
	 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
	 EPROTO, 101, "no Connection: Upgrade"},
	{"HTTP/1.1 101 x\r\nUpgrade: websocket\r\n"
	 "Connection: Upgrade\r\n\r\n",
	 EPROTO, 101, "no Sec-WebSocket-Accept"},
	{"HTTP/1.1 101 x\r\nUpgrade: websocket\r\n"
	 "Connection: Upgrade\r\n"
	 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo+\r\n\r\n",
	 EPROTO, 101, "wrong Sec-WebSocket-Accept"},
	{"HTTP/1.1 101 x\r\nUpgrade: websocket\r\n"
	 "Connection: Upgrade\r\n"
	 "Sec-WebSocket-Extensions: permessage-deflate\r\n"
	 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
	 EPROTO, 101, "an extension we did not offer"},
	{"SSH-2.0-OpenSSH_9.2\r\n\r\n", EPROTO, 0,
	 "no HTTP/1.1 status line"},
	{"HTTP/1.1 101 x\r\nno colon here\r\n\r\n", EPROTO, 101,
	 "malformed header line"},
};


static void test_handshake(void)
{
	static const char key[] = "dGhlIHNhbXBsZSBub25jZQ==";
	char acc[WSP_ACCEPT_LEN + 1], req[512];
	size_t n;

	/* RFC 6455 1.3 */
	TEST_ERR(wsp_accept(acc, sizeof(acc), key), 0);
	TEST_STREQ(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");

	for (size_t i = 0; i < sizeof(resp_cases) / sizeof(resp_cases[0]);
	     i++) {
		const char *r = resp_cases[i].resp, *why = NULL;
		ssize_t end = wsp_response_end((const uint8_t *)r, strlen(r));
		int status = -1;

		TEST_EQ(end, (ssize_t)strlen(r));
		TEST_EQ(wsp_response(r, (size_t)end, key, &status, &why),
			resp_cases[i].err);
		TEST_EQ(status, resp_cases[i].status);
		if (resp_cases[i].why)
			TEST_STREQ(why, resp_cases[i].why);
		else
			TEST_ASSERT(why == NULL);
	}

	/* incomplete: no end yet */
	TEST_EQ(wsp_response_end((const uint8_t *)"HTTP/1.1 101 x\r\n\r", 17),
		-1);

	TEST_ERR(wsp_request(req, sizeof(req), &n, "/a?b=c", "h:1", key,
			     "X-Twilio-Signature", "sig="), 0);
	TEST_EQ(n, strlen(req));
	TEST_ASSERT(!strncmp(req, "GET /a?b=c HTTP/1.1\r\nHost: h:1\r\n", 32));
	TEST_ASSERT(strstr(req, "\r\nUpgrade: websocket\r\n"));
	TEST_ASSERT(strstr(req, "\r\nConnection: Upgrade\r\n"));
	TEST_ASSERT(strstr(req, "\r\nSec-WebSocket-Version: 13\r\n"));
	TEST_ASSERT(strstr(req, "\r\nSec-WebSocket-Key: "
			   "dGhlIHNhbXBsZSBub25jZQ==\r\n"));
	TEST_ASSERT(strstr(req, "\r\nX-Twilio-Signature: sig=\r\n\r\n"));
	/* no header injection, no overflow */
	TEST_ERR(wsp_request(req, sizeof(req), &n, "/a", "h", key, "X-A",
			     "v\r\nEvil: 1"), EINVAL);
	TEST_ERR(wsp_request(req, sizeof(req), &n, "/a b", "h", key, NULL,
			     NULL), EINVAL);
	TEST_ERR(wsp_request(req, 40, &n, "/a", "h", key, NULL, NULL),
		 ENOSPC);
}


int main(void)
{
	test_decoder();
	test_errors();
	test_encoder();
	test_handshake();

	printf("wsproto: ok\n");

	return 0;
}
