/**
 * @file test_alink_hs.c  The agent link's opening handshake
 *
 * The link runs on a fake libwebsockets (fake_lws.h): no socket, the test
 * delivers lws's events and reads what the link wrote.
 * 1. From the URL to the upgrade request: where it connects, the request
 *    line (target "/" when the URL has no path), Host, and
 *    X-Twilio-Signature, base64(HMAC-SHA1(auth token,
 *    URL)). The expected signatures were computed apart from the code, with
 *    Python:
 *      python3 -c 'import hmac,hashlib,base64,sys;
 *        print(base64.b64encode(hmac.new(sys.argv[2].encode(),
 *        sys.argv[1].encode(), hashlib.sha1).digest()).decode())' URL TOKEN
 *    Bad URLs are refused; a refused connect cleans up; wss:// starts
 *    TLS itself (a ClientHello with the name in SNI, written raw through
 *    lws, whose own TLS stays off).
 * 2. Reading the response, whole or in pieces: 101 with the right
 *    Sec-WebSocket-Accept opens the link, anything else closes it with
 *    the reason; the head may be WSP_RESP_MAX bytes, not one more; frames
 *    that come in the same read as the response are delivered, or
 *    refused with close 1002 and EPROTO, as in any other read.
 */
#include <errno.h>
#include <stdlib.h>
#include "cb_re.h"
#include "wsproto.h"
#include "fake_lws.h"
#include "test.h"

static char ctx_dummy;
#define CTX ((struct lws_context *)(void *)&ctx_dummy)


/* from the URL to the upgrade request */
static const struct rcase {
	const char *url, *addr, *token;
	int err;              /* alink_connect()'s */
	const char *address;  /* what lws is asked to connect to */
	int port;
	const char *line;     /* request line */
	const char *host;     /* Host header */
	const char *sig;      /* X-Twilio-Signature, NULL: none */
} rcases[] = {
	{"ws://127.0.0.1:8080/media", NULL, "secret", 0,
	 "127.0.0.1", 8080, "GET /media HTTP/1.1", "127.0.0.1:8080",
	 "xEdG9MAWPX6XNHeFBSkEDQKykQg="},
	{"ws://127.0.0.1/x", NULL, "secret", 0,
	 "127.0.0.1", 80, "GET /x HTTP/1.1", "127.0.0.1",
	 "qvr4uhuLpFAXCIJi7gnwSuih260="},
	{"ws://[::1]:9000/a/b", NULL, "t", 0,
	 "::1", 9000, "GET /a/b HTTP/1.1", "[::1]:9000",
	 "bNqvyW8rNuu4YJZpage+vpJUHRM="},
	/* Host brackets an IPv6 address, with the port or without */
	{"ws://[::1]/x", NULL, "secret", 0,
	 "::1", 80, "GET /x HTTP/1.1", "[::1]",
	 "YFX04B+AYKDdXscTveDeHdxBgjY="},
	{"ws://127.0.0.1:8080/stream?call=CA1&x=%20y", NULL,
	 "12345678901234567890123456789012", 0,
	 "127.0.0.1", 8080, "GET /stream?call=CA1&x=%20y HTTP/1.1",
	 "127.0.0.1:8080", "xpLHalLua8dou4DREQiiv1Ejkkg="},
	/* a resolved address: the URL's name stays in Host */
	{"ws://agent.example.com:8080/x?call=1", "127.0.0.9", "secret",
	 0, "127.0.0.9", 8080, "GET /x?call=1 HTTP/1.1",
	 "agent.example.com:8080", "705hO56dC01jdi0z0MirzUT2RYg="},
	/* no path, or a query and no path (config/model.c allows
	   both): the target is "/", then the query */
	{"ws://127.0.0.1", NULL, "secret", 0,
	 "127.0.0.1", 80, "GET / HTTP/1.1", "127.0.0.1",
	 "xVRf76xn4yDLV6ZK5simmjjWc68="},
	{"ws://127.0.0.1/", NULL, "secret", 0,
	 "127.0.0.1", 80, "GET / HTTP/1.1", "127.0.0.1",
	 "13IR/6fjWsCNVHMDnF4vZ5EYXH4="},
	{"ws://127.0.0.1:8080?call=1", NULL, "secret", 0,
	 "127.0.0.1", 8080, "GET /?call=1 HTTP/1.1", "127.0.0.1:8080",
	 "LLTF9oWisUcek6rUZXUxMj+ovLY="},
	{"ws://127.0.0.1?x=1", NULL, "secret", 0,
	 "127.0.0.1", 80, "GET /?x=1 HTTP/1.1", "127.0.0.1",
	 "6YGOsfAzyCrnfFwZAJPwelaCFh4="},
	{"ws://[::1]:9000?x=1", NULL, "secret", 0,
	 "::1", 9000, "GET /?x=1 HTTP/1.1", "[::1]:9000",
	 "Hw1HQwQFkJA4PM6nECSgybFhoWw="},
	/* no token, no signature */
	{"ws://127.0.0.1:8080/media", NULL, NULL, 0,
	 "127.0.0.1", 8080, "GET /media HTTP/1.1", "127.0.0.1:8080",
	 NULL},
	{"ws://127.0.0.1:8080/media", NULL, "", 0,
	 "127.0.0.1", 8080, "GET /media HTTP/1.1", "127.0.0.1:8080",
	 NULL},
	/* refused */
	{"http://127.0.0.1/", NULL, NULL, EPROTONOSUPPORT,
	 NULL, 0, NULL, NULL, NULL},
	{"wss://127.0.0.1/", NULL, NULL, EINVAL,  /* no TLS context */
	 NULL, 0, NULL, NULL, NULL},
	{"127.0.0.1", NULL, NULL, EPROTONOSUPPORT, NULL, 0, NULL, NULL,
	 NULL},
};


static void check_request(const struct rcase *c)
{
	struct alink *l = NULL;
	const char *req, *s;
	char want[256];

	fake_reset();
	TEST_ERR(alink_connect(&l, CTX, c->url, c->addr, c->token, NULL,
			       &fake_handlers, &own), c->err);
	if (c->err) {
		TEST_ASSERT(l == NULL);
		TEST_EQ(own.closes, 0);
		return;
	}

	TEST_STREQ(fake.address, c->address);
	TEST_EQ(fake.port, c->port);
	TEST_STREQ(fake.method, "RAW");
	TEST_EQ(fake.out_len, 0);   /* nothing before the connect */
	TEST_ASSERT(!alink_connected(l));

	TEST_EQ(fake_cb(LWS_CALLBACK_RAW_CONNECTED, NULL, 0), 0);
	TEST_ASSERT(alink_connected(l));
	req = fake_request();
	if (!req)
		TEST_FAIL("%s: no request written", c->url);

	snprintf(want, sizeof(want), "%s\r\nHost: %s\r\n", c->line,
		 c->host);
	if (strncmp(req, want, strlen(want)))
		TEST_FAIL("%s: request\n%s\nwant it to begin\n%s", c->url,
			  req, want);

	s = strstr(req, "\r\nX-Twilio-Signature: ");
	if (c->sig) {
		snprintf(want, sizeof(want), "\r\nX-Twilio-Signature: %s\r\n",
			 c->sig);
		if (!s || strncmp(s, want, strlen(want)))
			TEST_FAIL("%s: signature: %s\nwant %s", c->url,
				  s ? s : "none", want);
	}
	else if (s) {
		TEST_FAIL("%s: a signature without a token", c->url);
	}

	/* lws lets go: the link frees itself, the owner hears */
	TEST_EQ(fake_cb(LWS_CALLBACK_WSI_DESTROY, NULL, 0), 0);
	TEST_EQ(own.closes, 1);
	TEST_EQ(own.close_err, ECONNRESET);
}


static void test_request(void)
{
	for (size_t i = 0; i < sizeof(rcases) / sizeof(rcases[0]); i++)
		check_request(&rcases[i]);

	/* the connect fails inside lws_client_connect_via_info(): the error,
	   no handler, nothing left behind (the sanitizer build checks) */
	{
		struct alink *l = NULL;

		fake_reset();
		fake.refuse = true;
		TEST_ERR(alink_connect(&l, CTX, "ws://127.0.0.1:1/", NULL,
				       "secret", NULL, &fake_handlers, &own),
			 ECONNREFUSED);
		TEST_ASSERT(l == NULL);
		TEST_EQ(own.closes, 0);
	}
}


/* does what the link wrote hold s? */
static bool written(const char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0; i + n <= fake.out_len; i++) {
		if (!memcmp(fake.out + i, s, n))
			return true;
	}

	return false;
}


/* wss://: TLS is the link's own, over the raw connection lws made */
static void test_tls_start(void)
{
	struct alink_tls *tls = NULL;
	struct alink *l = NULL;

	TEST_ERR(alink_tls_alloc(&tls, NULL), 0);

	fake_reset();
	TEST_ERR(alink_connect(&l, CTX, "wss://agent.example.com/stream",
			       "127.0.0.1", "secret", tls, &fake_handlers,
			       &own), 0);
	TEST_STREQ(fake.address, "127.0.0.1");
	TEST_EQ(fake.port, 443);
	TEST_STREQ(fake.host, "agent.example.com");
	TEST_EQ(fake.ssl_connection, 0);       /* not lws's TLS */

	TEST_EQ(fake_cb(LWS_CALLBACK_RAW_CONNECTED, NULL, 0), 0);

	/* a ClientHello: handshake record, then SNI with the URL's host */
	TEST_ASSERT(fake.out_len > 100);
	TEST_EQ(fake.out[0], 0x16);
	TEST_EQ(fake.out[1], 0x03);
	TEST_ASSERT(written("agent.example.com"));
	TEST_ASSERT(!written("GET "));

	/* the server answers garbage: TLS fails, the owner hears why */
	TEST_EQ(fake_cb(LWS_CALLBACK_RAW_RX, "HTTP/1.1 400 Bad\r\n\r\n", 20),
		-1);
	TEST_EQ(own.closes, 1);
	TEST_EQ(own.close_err, ECONNREFUSED);
	TEST_ASSERT(!strncmp(own.close_why, "TLS: ", 5));

	TEST_EQ(fake_cb(LWS_CALLBACK_WSI_DESTROY, NULL, 0), 0);
	TEST_EQ(own.closes, 1);
	mem_deref(tls);
}


/* after a protocol error: the link's close frame, 1002 */
static void close_1002(const char *name, size_t cut)
{
	uint8_t p[128];
	size_t len;
	int op;

	if (!fake_frame(&op, p, sizeof(p), &len) || op != WSP_CLOSE ||
	    len < 2 || (p[0] << 8 | p[1]) != WSP_PROTOCOL)
		TEST_FAIL("%s, reads of %zu: no close 1002", name, cut);
}


/* a response head of exactly n bytes: good, padded with X-Pad */
static size_t padded(char *buf, size_t n, const char *req)
{
	size_t k = fake_response(buf, n + 1, req);
	const size_t hdr = 9;          /* "X-Pad: " and its CRLF */

	if (n < k + hdr)
		TEST_FAIL("padded: %zu is too short", n);

	/* before the blank line: "X-Pad: xxx\r\n" */
	k -= 2;
	memcpy(buf + k, "X-Pad: ", 7);
	memset(buf + k + 7, 'x', n - k - hdr - 2);
	memcpy(buf + n - 4, "\r\n\r\n", 4);

	return n;
}


/* reading the response */
enum extra { HEAD = 1, TEXT = 2, BAD = 3 };

static const struct pcase {
	const char *name;
	const char *resp;     /* "%s": the right accept value; NULL: a good
				 head of `pad` bytes */
	size_t pad;
	enum extra extra;     /* HEAD: response only, TEXT: a text frame
				 "hi" in the same read, BAD: a masked
				 frame (a protocol error) */
	int err;              /* 0: opened, else closeh's err */
	const char *why;      /* closeh's reason */
} pcases[] = {
	{"101", "HTTP/1.1 101 Switching Protocols\r\n"
	 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	 "Sec-WebSocket-Accept: %s\r\n\r\n", 0, HEAD, 0, NULL},
	{"101 and a frame", "HTTP/1.1 101 Switching Protocols\r\n"
	 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	 "Sec-WebSocket-Accept: %s\r\n\r\n", 0, TEXT, 0, NULL},
	{"101 and a bad frame", "HTTP/1.1 101 Switching Protocols\r\n"
	 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	 "Sec-WebSocket-Accept: %s\r\n\r\n", 0, BAD, EPROTO,
	 "masked frame from the server"},
	{"403", "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
	 0, HEAD, ECONNREFUSED, "upgrade refused: HTTP 403"},
	{"500", "HTTP/1.1 500 Oops\r\n\r\n", 0, HEAD, ECONNREFUSED,
	 "upgrade refused: HTTP 500"},
	{"no accept", "HTTP/1.1 101 x\r\nUpgrade: websocket\r\n"
	 "Connection: Upgrade\r\n\r\n", 0, HEAD, ECONNREFUSED,
	 "bad upgrade: no Sec-WebSocket-Accept"},
	{"wrong accept", "HTTP/1.1 101 x\r\nUpgrade: websocket\r\n"
	 "Connection: Upgrade\r\n"
	 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
	 0, HEAD, ECONNREFUSED, "bad upgrade: wrong Sec-WebSocket-Accept"},
	{"not HTTP", "SSH-2.0-OpenSSH_9.2\r\n\r\n", 0, HEAD,
	 ECONNREFUSED, "bad upgrade: no HTTP/1.1 status line"},
	{"head of WSP_RESP_MAX", NULL, WSP_RESP_MAX, HEAD, 0, NULL},
	{"head over WSP_RESP_MAX", NULL, WSP_RESP_MAX + 1, HEAD,
	 ECONNREFUSED, "upgrade response too long"},
};


/* a link with its request written; the response it must get, in buf */
static struct alink *response_for(const struct pcase *c, char *buf,
				  size_t sz, size_t *np)
{
	char acc[WSP_ACCEPT_LEN + 1], key[WSP_KEY_LEN + 1];
	struct alink *l = NULL;
	const char *req, *k;
	size_t n;

	fake_reset();
	TEST_ERR(alink_connect(&l, CTX, "ws://127.0.0.1:8080/m", NULL, NULL,
			       NULL, &fake_handlers, &own), 0);
	TEST_EQ(fake_cb(LWS_CALLBACK_RAW_CONNECTED, NULL, 0), 0);
	req = fake_request();
	TEST_ASSERT(req != NULL);
	k = strstr(req, "Sec-WebSocket-Key: ") + 19;
	memcpy(key, k, WSP_KEY_LEN);
	key[WSP_KEY_LEN] = '\0';
	TEST_ERR(wsp_accept(acc, sizeof(acc), key), 0);

	if (c->resp)
		n = (size_t)snprintf(buf, sz, c->resp, acc);
	else
		n = padded(buf, c->pad, req);

	if (c->extra == TEXT) {
		memcpy(buf + n, "\x81\x02hi", 4);
		n += 4;
	}
	else if (c->extra == BAD) {
		memcpy(buf + n, "\x81\x81\1\2\3\4a", 7);
		n += 7;
	}

	*np = n;
	return l;
}


/* the response in reads of `cut` bytes (0: whole) */
static void check_response(const struct pcase *c, size_t cut)
{
	static char resp[WSP_RESP_MAX + 64];
	size_t n;
	struct alink *l = response_for(c, resp, sizeof(resp), &n);
	int ret = 0;

	/* not sent before the upgrade */
	TEST_ERR(alink_send(l, "x", 1, false, false), ENOTCONN);

	for (size_t off = 0; off < n && !ret; ) {
		size_t take = cut && n - off > cut ? cut : n - off;

		if (own.closes)
			TEST_FAIL("%s, reads of %zu: closed at %zu", c->name,
				  cut, off);
		ret = fake_cb(LWS_CALLBACK_RAW_RX, resp + off, take);
		off += take;
		if (ret && off < n && c->extra != BAD)
			TEST_FAIL("%s, reads of %zu: failed at %zu of %zu",
				  c->name, cut, off, n);
	}

	if (c->err) {
		TEST_EQ(ret, -1);
		TEST_EQ(own.opened, c->extra == BAD);
		TEST_EQ(own.closes, 1);
		TEST_EQ(own.close_err, c->err);
		if (strcmp(own.close_why, c->why))
			TEST_FAIL("%s, reads of %zu: \"%s\", want \"%s\"",
				  c->name, cut, own.close_why, c->why);
		if (c->extra == BAD)
			close_1002(c->name, cut);
		/* lws closes: no second word to the owner */
		TEST_EQ(fake_cb(LWS_CALLBACK_RAW_CLOSE, NULL, 0), 0);
	}
	else {
		if (ret || own.opened != 1 || own.closes)
			TEST_FAIL("%s, reads of %zu: ret %d, opened %u, "
				  "closed %u (%s)", c->name, cut, ret,
				  own.opened, own.closes, own.close_why);
		TEST_EQ(own.texts, c->extra == TEXT);
		if (c->extra == TEXT)
			TEST_STREQ(own.text, "hi");
		TEST_ERR(alink_send(l, "x", 1, false, false), 0);
	}

	TEST_EQ(fake_cb(LWS_CALLBACK_WSI_DESTROY, NULL, 0), 0);
	TEST_EQ(own.closes, 1);
}


static void test_response(void)
{
	static const size_t cuts[] = {0, 1, 5, 1000};

	for (size_t i = 0; i < sizeof(pcases) / sizeof(pcases[0]); i++)
	for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
		/* 8 KiB heads byte by byte: reads of 5 are enough */
		if (cuts[c] == 1 && pcases[i].pad)
			continue;
		check_response(&pcases[i], cuts[c]);
	}
}


int main(void)
{
	test_request();
	test_tls_start();
	test_response();

	printf("alink handshake: ok\n");

	return 0;
}
