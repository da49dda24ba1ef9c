/**
 * @file test_alink_rx.c  The agent link's input, after the upgrade
 *
 * The link runs on a fake libwebsockets (fake_lws.h). Each case is a
 * byte string of server frames, delivered whole, in reads of a few
 * bytes, and of 4 KiB (as lws reads); what the owner gets (text, binary,
 * a close with its reason), what the link answers on the wire (pong with
 * the ping's payload, close with a status) and the callback's answer to
 * lws (-1: close the connection) must be as written:
 * - messages are handed over whole, fragments joined, pings in between
 *   answered;
 * - a close from the agent is echoed with its status (1000 if it had
 *   none) and ends reading: what follows it is not delivered;
 * - a message over ALINK_MAX_RX is skipped, the next one delivered;
 * - a protocol error is answered with close 1002 and the owner hears
 *   EPROTO with the decoder's reason.
 */
#include <errno.h>
#include <stdlib.h>
#include "wsproto.h"
#include "fake_lws.h"
#include "wsframe.h"
#include "test.h"

enum { BIG = ALINK_MAX_RX + 1 };

struct rcase {
	const char *name;
	uint8_t *in;
	size_t len;
	int ret;              /**< the callback's answer to the last read */
	unsigned texts, bins;
	const char *text;     /**< the last text message                 */
	const char *wire;     /**< link's answers: "P<payload>" per pong,
				   "C<code>" per close                    */
	int close_err;        /**< 0: the owner heard no close           */
	const char *why;
};


/* the link's answers since the upgrade, as in rcase.wire */
static void answers(char *out, size_t sz)
{
	uint8_t p[200];
	size_t len, k = 0;
	int op;

	out[0] = '\0';
	while (fake_frame(&op, p, sizeof(p), &len)) {
		int n;

		if (op == WSP_PONG)
			n = snprintf(out + k, sz - k, "P%.*s", (int)len, p);
		else if (op == WSP_CLOSE && len >= 2)
			n = snprintf(out + k, sz - k, "C%d", p[0] << 8 | p[1]);
		else
			n = snprintf(out + k, sz - k, "?%d", op);
		k += (size_t)n;
		if (k >= sz)
			TEST_FAIL("answers: too long");
	}
}


static void run(const struct rcase *c, size_t cut)
{
	char wire[128];
	int ret = 0;

	(void)fake_open("ws://127.0.0.1:8080/m", NULL);

	for (size_t off = 0; off < c->len && !ret; ) {
		size_t take = cut && c->len - off > cut ? cut : c->len - off;

		/* after -1, lws reads no more */
		ret = fake_cb(LWS_CALLBACK_RAW_RX, c->in + off, take);
		off += take;
	}

	answers(wire, sizeof(wire));
	if (ret != c->ret || own.texts != c->texts || own.bins != c->bins ||
	    strcmp(wire, c->wire) || own.close_err != c->close_err ||
	    own.closes != (c->close_err != 0))
		TEST_FAIL("%s, reads of %zu: ret %d, texts %u, bins %u, wire "
			  "\"%s\", closes %u err %d (%s); want %d, %u, %u, "
			  "\"%s\", err %d", c->name, cut, ret, own.texts,
			  own.bins, wire, own.closes, own.close_err,
			  own.close_why, c->ret, c->texts, c->bins, c->wire,
			  c->close_err);
	if (c->text)
		TEST_STREQ(own.text, c->text);
	if (c->why)
		TEST_STREQ(own.close_why, c->why);

	TEST_EQ(fake_cb(LWS_CALLBACK_WSI_DESTROY, NULL, 0), 0);
}


int main(void)
{
	static uint8_t b[8][256];
	uint8_t *big = malloc(BIG + 64);
	struct rcase cases[8];
	size_t k, nc = 0;

	TEST_ASSERT(big != NULL);

	k = wsframe(b[0], 0x81, "hello", 5);
	k += wsframe(b[0] + k, 0x82, "\x01\x02", 2);
	cases[nc++] = (struct rcase){"text and binary", b[0], k, 0, 1, 1,
		"hello", "", 0, NULL};

	k = wsframe(b[1], 0x01, "Hel", 3);
	k += wsframe(b[1] + k, 0x89, "p1", 2);
	k += wsframe(b[1] + k, 0x00, "lo ", 3);
	k += wsframe(b[1] + k, 0x80, "world", 5);
	k += wsframe(b[1] + k, 0x8a, "unasked", 7);
	cases[nc++] = (struct rcase){"fragments, a ping between", b[1], k,
		0, 1, 0, "Hello world", "Pp1", 0, NULL};

	k = wsframe(b[2], 0x88, "\x03\xe9" "going", 7);
	k += wsframe(b[2] + k, 0x81, "late", 4);
	cases[nc++] = (struct rcase){"close 1001, echoed", b[2], k, -1, 0, 0,
		NULL, "C1001", 0, NULL};

	k = wsframe(b[3], 0x88, "", 0);
	cases[nc++] = (struct rcase){"empty close, 1000", b[3], k, -1, 0, 0,
		NULL, "C1000", 0, NULL};

	k = wsframe(b[4], 0x81, "ok", 2);
	b[4][k++] = 0x81;              /* masked: servers never mask */
	b[4][k++] = 0x81;
	memcpy(b[4] + k, "\1\2\3\4a", 5);
	k += 5;
	cases[nc++] = (struct rcase){"protocol error", b[4], k, -1, 1, 0,
		"ok", "C1002", EPROTO, "masked frame from the server"};

	k = wsframe(big, 0x82, NULL, ALINK_MAX_RX + 1);
	k += wsframe(big + k, 0x81, "next", 4);
	cases[nc++] = (struct rcase){"over ALINK_MAX_RX", big, k, 0, 1, 0,
		"next", "", 0, NULL};

	for (size_t i = 0; i < nc; i++) {
		run(&cases[i], 0);
		run(&cases[i], 4096);
		if (cases[i].len < 4096) {
			run(&cases[i], 1);
			run(&cases[i], 3);
		}
	}

	free(big);
	printf("alink input: ok\n");

	return 0;
}
