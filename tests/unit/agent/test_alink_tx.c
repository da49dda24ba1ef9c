/**
 * @file test_alink_tx.c  The agent link's output: send queue and drops
 *
 * The link runs on a fake libwebsockets (fake_lws.h). A script of steps
 * (send media, send a control message, lws holds a partial write or not,
 * a writable callback, close) is played on one link with a queue limit
 * of TXQ_MAX; after each step the frames on the wire (one letter per
 * frame: its first payload byte, '#' for a close frame), the number of
 * media messages dropped and whether a writable callback was asked for
 * must be as written. What the script pins down:
 * - with nothing queued and no partial write, a message is written at
 *   once; else it is queued behind, in order, and lws is asked to call
 *   back when writable; each callback writes one message;
 * - media ("droppable") is dropped while queued bytes + its length would
 *   pass the limit (reaching it exactly is fine); control messages are
 *   never dropped; once the queue drains, media is queued again;
 * - alink_close() flushes the queue, then sends close 1000 "bye", with a
 *   deadline; nothing is accepted after it and the owner hears nothing.
 * Then a write that fails closes the link with EPIPE.
 */
#include <errno.h>
#include <stdlib.h>
#include "wsproto.h"
#include "fake_lws.h"
#include "test.h"

enum {
	PAYLOAD = 300,        /**< a frame is PAYLOAD + 8 bytes on the wire */
	FRAME   = PAYLOAD + 8,
	TXQ_MAX = 2 * FRAME + PAYLOAD, /**< a third message fits exactly */
};

enum act { MEDIA, CTL, PARTIAL, CLEAR, WRITABLE, CLOSE };

static const struct step {
	const char *what;
	enum act act;
	char id;              /**< payload byte */
	int err;              /**< alink_send()'s */
	const char *wire;     /**< frames written so far */
	uint64_t dropped;     /**< alink_dropped() */
	bool asked;           /**< asked for a writable callback */
} script[] = {
	{"A: the way is clear, written at once", MEDIA, 'A', 0, "A", 0, 0},
	{"lws holds a partial write", PARTIAL, 0, 0, "A", 0, 0},
	{"B waits behind it", MEDIA, 'B', 0, "A", 0, 1},
	{"C queued", MEDIA, 'C', 0, "A", 0, 1},
	{"D queued: reaches the limit exactly", MEDIA, 'D', 0, "A", 0, 1},
	{"E dropped: past the limit", MEDIA, 'E', 0, "A", 1, 0},
	{"F, a control message, queued past the limit", CTL, 'F', 0, "A",
	 1, 1},
	{"G dropped", MEDIA, 'G', 0, "A", 2, 0},
	{"the partial write is out", CLEAR, 0, 0, "A", 2, 0},
	{"H dropped: the queue is still full", MEDIA, 'H', 0, "A", 3, 0},
	{"writable: B, more to come", WRITABLE, 0, 0, "AB", 3, 1},
	{"writable: C", WRITABLE, 0, 0, "ABC", 3, 1},
	{"I queued behind D and F, not written ahead", MEDIA, 'I', 0, "ABC",
	 3, 1},
	{"writable: D", WRITABLE, 0, 0, "ABCD", 3, 1},
	{"writable: F", WRITABLE, 0, 0, "ABCDF", 3, 1},
	{"writable: I, the last", WRITABLE, 0, 0, "ABCDFI", 3, 0},
	{"writable, nothing queued", WRITABLE, 0, 0, "ABCDFI", 3, 0},
	{"J: the way is clear again", MEDIA, 'J', 0, "ABCDFIJ", 3, 0},
	{"K, control, at once too", CTL, 'K', 0, "ABCDFIJK", 3, 0},
	{"lws holds a partial write", PARTIAL, 0, 0, "ABCDFIJK", 3, 0},
	{"L queued", MEDIA, 'L', 0, "ABCDFIJK", 3, 1},
	{"close: the queue first", CLOSE, 0, 0, "ABCDFIJK", 3, 1},
	{"M after the close: refused", MEDIA, 'M', ENOTCONN, "ABCDFIJK", 3,
	 0},
	{"the partial write is out", CLEAR, 0, 0, "ABCDFIJK", 3, 0},
	{"writable: L, then close", WRITABLE, 0, 0, "ABCDFIJKL#", 3, 0},
};

static char wire[64];
static size_t wire_len;
static int close_code = -1;
static char close_reason[64];


/* read the frames written since the last call onto `wire` */
static void read_wire(void)
{
	uint8_t p[PAYLOAD + 16];
	size_t len;
	int op;

	while (fake_frame(&op, p, sizeof(p), &len)) {
		if (wire_len + 1 >= sizeof(wire))
			TEST_FAIL("too many frames");

		if (op == WSP_CLOSE) {
			TEST_ASSERT(len >= 2 && len - 2 < sizeof(close_reason));
			close_code = p[0] << 8 | p[1];
			memcpy(close_reason, p + 2, len - 2);
			close_reason[len - 2] = '\0';
			wire[wire_len++] = '#';
			continue;
		}

		/* the payload as sent: PAYLOAD times its letter */
		TEST_EQ(len, PAYLOAD);
		for (size_t i = 0; i < len; i++)
			TEST_EQ(p[i], p[0]);
		TEST_EQ(op, (p[0] == 'F' || p[0] == 'K') ? WSP_TEXT : WSP_BIN);
		wire[wire_len++] = (char)p[0];
	}
	wire[wire_len] = '\0';
}


static int act(struct alink *l, const struct step *s)
{
	switch (s->act) {

	case MEDIA: {
		/* as the call's media does: formatted in the link's buffer */
		uint8_t *p = alink_txbuf(l, PAYLOAD);

		TEST_ASSERT(p != NULL);
		memset(p, s->id, PAYLOAD);
		return alink_send(l, p, PAYLOAD, true, true);
	}

	case CTL: {
		char txt[PAYLOAD];

		memset(txt, s->id, sizeof(txt));
		return alink_send(l, txt, sizeof(txt), false, false);
	}

	case PARTIAL:
		fake.partial = 1;
		return 0;

	case CLEAR:
		fake.partial = 0;
		return 0;

	case WRITABLE:
		return fake_cb(LWS_CALLBACK_RAW_WRITEABLE, NULL, 0);

	case CLOSE:
		alink_close(l, "test");
		return 0;
	}

	return EINVAL;
}


static void test_script(void)
{
	struct alink *l = fake_open("ws://127.0.0.1:8080/m", NULL);

	alink_set_txq_max(l, TXQ_MAX);
	wire_len = 0;

	for (size_t i = 0; i < sizeof(script) / sizeof(script[0]); i++) {
		const struct step *s = &script[i];
		unsigned asks = fake.writable;
		int err = act(l, s);

		read_wire();
		if (err != s->err || strcmp(wire, s->wire) ||
		    alink_dropped(l) != s->dropped ||
		    (fake.writable != asks) != s->asked)
			TEST_FAIL("step %zu, %s: err %d, wire \"%s\", dropped "
				  "%llu, asked %d; want %d, \"%s\", %llu, %d",
				  i + 1, s->what, err, wire,
				  (unsigned long long)alink_dropped(l),
				  fake.writable != asks, s->err, s->wire,
				  (unsigned long long)s->dropped, s->asked);
	}

	TEST_EQ(close_code, WSP_NORMAL);
	TEST_STREQ(close_reason, "bye");
	TEST_EQ(fake.timeout_reason, PENDING_TIMEOUT_CLOSE_SEND);
	TEST_EQ(fake.timeout_secs, 3);

	/* the agent's close frame ends it; lws destroys the connection */
	TEST_EQ(fake_cb(LWS_CALLBACK_RAW_RX, "\x88\x02\x03\xe8", 4), -1);
	TEST_EQ(fake_cb(LWS_CALLBACK_RAW_CLOSE, NULL, 0), 0);
	TEST_EQ(fake_cb(LWS_CALLBACK_WSI_DESTROY, NULL, 0), 0);
	TEST_EQ(own.closes, 0);           /* detached by alink_close() */
	read_wire();
	TEST_STREQ(wire, "ABCDFIJKL#");   /* nothing more */
}


static void test_write_fails(void)
{
	struct alink *l = fake_open("ws://127.0.0.1:8080/m", NULL);

	/* at once: the caller hears */
	fake.write_fail = true;
	TEST_ERR(alink_send(l, "a", 1, false, true), EPIPE);
	TEST_EQ(own.closes, 0);

	/* from the queue: the owner hears, lws is told to close */
	fake.write_fail = false;
	fake.partial = 1;
	TEST_ERR(alink_send(l, "b", 1, false, true), 0);
	fake.write_fail = true;
	TEST_EQ(fake_cb(LWS_CALLBACK_RAW_WRITEABLE, NULL, 0), -1);
	TEST_EQ(own.closes, 1);
	TEST_EQ(own.close_err, EPIPE);
	TEST_STREQ(own.close_why, "write failed");
	TEST_EQ(fake_cb(LWS_CALLBACK_WSI_DESTROY, NULL, 0), 0);
	TEST_EQ(own.closes, 1);
}


int main(void)
{
	test_script();
	test_write_fails();

	printf("alink output: ok\n");

	return 0;
}
