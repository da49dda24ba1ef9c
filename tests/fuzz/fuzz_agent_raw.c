/**
 * @file fuzz_agent_raw.c  Fuzz target: everything an agent of the `raw`
 *                         protocol sends, from the connection's first
 *                         byte (gateway/agent: alink_hs, alink_rx,
 *                         wsproto, twilio; media/playq)
 *
 * The agent link runs on the fake libwebsockets of the unit tests
 * (tests/unit/agent/fake_lws.h): no socket, no loop. It connects, writes
 * its upgrade request, and then reads the input:
 *   byte 0  bit 0: a good 101 response comes first (made here with the
 *           right Sec-WebSocket-Accept), then the input is frames; else
 *           the input is the response itself, where "@ACCEPT@" stands
 *           for the right accept value;
 *           bits 1-3: the size of lws's reads (1 << n bytes, 0: one read);
 *           bit 4: lws says "writable" after every read
 *   rest    the bytes the agent sent
 * The owner plays the media worker of a raw-protocol call: text
 * messages are parsed as Twilio events (mark, clear, dtmf, media),
 * binary ones are 16-bit PCM into the playout queue (an odd length is
 * dropped whole), and the queue is read as the 20 ms tick would.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cb_re.h"
#include "alink.h"
#include "b64.h"
#include "playq.h"
#include "twilio.h"
#include "wsproto.h"
#include "fake_lws.h"
#include "fuzz.h"

enum {
	PCM_FRAME = 320,                /**< 20 ms of 8 kHz L16 [bytes]   */
	QUEUE_MAX = 64 * 1024,          /**< the fuzz call's queue [bytes] */
};

struct call {
	struct playq *pq;
	bool opened, closed;
	unsigned marks;
};


static void raw_open(void *arg)
{
	struct call *c = arg;

	c->opened = true;
}


static void raw_tick(struct call *c)
{
	uint8_t frame[PCM_FRAME];

	(void)playq_read(c->pq, frame, sizeof(frame));
}


static void raw_media(struct call *c, const char *b64, size_t len)
{
	uint8_t buf[8192];

	while (len) {
		size_t n = len > 8188 ? 8188 : len;
		size_t olen = sizeof(buf);

		if (b64_decode(buf, &olen, b64, n))
			return;
		(void)playq_write(c->pq, buf, olen);
		b64 += n;
		len -= n;
	}
}


static void raw_text(const char *txt, size_t len, void *arg)
{
	struct call *c = arg;
	struct twilio_in in;
	char err[128];

	FUZZ_ASSERT(c->opened && !c->closed);
	if (twilio_parse(&in, txt, len, err, sizeof(err)))
		return;

	switch (in.ev) {

	case TWILIO_EV_MEDIA:
		raw_media(c, in.payload, in.payload_len);
		break;

	case TWILIO_EV_MARK:
		(void)playq_mark(c->pq, in.mark);
		break;

	case TWILIO_EV_CLEAR:
		playq_clear(c->pq);
		break;

	default:
		break;
	}

	twilio_in_reset(&in);
	raw_tick(c);
}


static void raw_bin(const uint8_t *data, size_t len, void *arg)
{
	struct call *c = arg;

	FUZZ_ASSERT(c->opened && !c->closed);
	if (!(len & 1))
		(void)playq_write(c->pq, data, len);
	raw_tick(c);
}


static void raw_close(int err, const char *reason, void *arg)
{
	struct call *c = arg;

	FUZZ_ASSERT(!c->closed);
	FUZZ_ASSERT(err != 0);
	c->closed = true;
	(void)reason;
}


static void raw_mark(const char *name, bool cleared, void *arg)
{
	struct call *c = arg;

	(void)name;
	(void)cleared;
	++c->marks;
}


static const struct alink_handlers raw_handlers = {
	raw_open, raw_text, raw_bin, raw_close
};


/* the input, with "@ACCEPT@" made the accept value for the request */
static uint8_t *with_accept(const uint8_t *data, size_t size,
			    const char *req, size_t *lenp)
{
	static const char tok[] = "@ACCEPT@";
	const uint8_t *at = memmem(data, size, tok, sizeof(tok) - 1);
	char acc[WSP_ACCEPT_LEN + 1] = "";
	const char *k = strstr(req, "\r\nSec-WebSocket-Key: ");
	char key[WSP_KEY_LEN + 1];
	uint8_t *buf;
	size_t pre, post;

	buf = malloc(size + WSP_ACCEPT_LEN + 1);
	if (!buf)
		return NULL;

	if (!at || !k) {
		memcpy(buf, data, size);
		*lenp = size;
		return buf;
	}

	memcpy(key, k + 21, WSP_KEY_LEN);
	key[WSP_KEY_LEN] = '\0';
	FUZZ_ASSERT(wsp_accept(acc, sizeof(acc), key) == 0);

	pre = (size_t)(at - data);
	post = size - pre - (sizeof(tok) - 1);
	memcpy(buf, data, pre);
	memcpy(buf + pre, acc, WSP_ACCEPT_LEN);
	memcpy(buf + pre + WSP_ACCEPT_LEN, at + sizeof(tok) - 1, post);
	*lenp = pre + WSP_ACCEPT_LEN + post;

	return buf;
}


/* lws's reads of the agent's bytes; the callback's last answer */
static int deliver(const uint8_t *p, size_t n, size_t cut, bool writable)
{
	int ret = 0;

	for (size_t off = 0; off < n && !ret; ) {
		size_t take = cut && n - off > cut ? cut : n - off;
		unsigned w = fake.writable;

		ret = fake_cb(LWS_CALLBACK_RAW_RX, p + off, take);
		off += take;
		if (!ret && writable && fake.writable != w)
			ret = fake_cb(LWS_CALLBACK_RAW_WRITEABLE, NULL, 0);
	}

	return ret;
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char ctx_dummy;
	struct alink *l = NULL;
	struct call c;
	const char *req;
	uint8_t *buf = NULL;
	size_t len, cut;
	uint8_t mode;
	int ret;

	if (size < 1)
		return 0;
	mode = data[0];
	++data;
	--size;
	cut = (mode >> 1) & 7 ? (size_t)1 << ((mode >> 1) & 7) : 0;

	memset(&c, 0, sizeof(c));
	fake_reset();
	if (playq_alloc(&c.pq, QUEUE_MAX, raw_mark, &c))
		return 0;
	if (alink_connect(&l, (struct lws_context *)(void *)&ctx_dummy,
			  "ws://127.0.0.1:8080/m", NULL, NULL, NULL,
			  &raw_handlers, &c))
		goto out;
	if (fake_cb(LWS_CALLBACK_RAW_CONNECTED, NULL, 0))
		goto destroy;

	req = fake_request();
	FUZZ_ASSERT(req != NULL);

	if (mode & 1) {
		char resp[256];

		len = fake_response(resp, sizeof(resp), req);
		ret = fake_cb(LWS_CALLBACK_RAW_RX, resp, len);
		FUZZ_ASSERT(ret == 0 && c.opened);
		buf = malloc(size ? size : 1);
		if (!buf)
			goto destroy;
		memcpy(buf, data, size);
		len = size;
	}
	else {
		buf = with_accept(data, size, req, &len);
		if (!buf)
			goto destroy;
	}

	/* on -1, lws closes the connection: RAW_CLOSE, then WSI_DESTROY;
	   either way the owner hears of it exactly once */
	if (deliver(buf, len, cut, mode & 0x10)) {
		(void)fake_cb(LWS_CALLBACK_RAW_CLOSE, NULL, 0);
		FUZZ_ASSERT(c.closed);
	}

 destroy:
	if (!c.closed)
		alink_close(l, "fuzz input done");
	(void)fake_cb(LWS_CALLBACK_WSI_DESTROY, NULL, 0);
 out:
	free(buf);
	mem_deref(c.pq);
	return 0;
}
