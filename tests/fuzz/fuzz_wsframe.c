/**
 * @file fuzz_wsframe.c  Fuzz target: what an agent's server sends after
 *                       the upgrade, through the WebSocket frame decoder
 *                       (gateway/agent/wsproto.c, wsp_feed)
 *
 * Input: byte 0 the largest message kept (byte 0 * 16 bytes; 0: the
 * link's ALINK_MAX_RX), byte 1 the read size (0: all at once), then the
 * bytes as they came off the connection. The input is decoded twice, in
 * one read and in reads of the given size: both must hand over the same
 * messages and control frames, in order, and stop with the same answer.
 * Messages are never over the limit, control frames never over 125
 * bytes, and every payload is followed by a NUL.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cb_re.h"
#include "alink.h"
#include "wsproto.h"
#include "fuzz.h"

/** What one decoding handed over: a running digest, and counts */
struct seen {
	size_t max;
	uint64_t digest;
	unsigned msgs, ctls;
	unsigned stop_after;     /**< the handler stops at this message */
};


static uint64_t mix(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;

	return h;
}


static int on_msg(enum wsp_op op, const uint8_t *data, size_t len,
		  void *arg)
{
	struct seen *s = arg;
	uint8_t o = (uint8_t)op;
	uint64_t l = len;

	FUZZ_ASSERT(data != NULL);
	FUZZ_ASSERT(data[len] == '\0');
	switch (op) {

	case WSP_TEXT:
	case WSP_BIN:
		FUZZ_ASSERT(len <= s->max);
		++s->msgs;
		break;

	case WSP_CLOSE:
	case WSP_PING:
	case WSP_PONG:
		FUZZ_ASSERT(len <= 125);
		++s->ctls;
		break;

	default:
		FUZZ_ASSERT(!"an opcode the decoder must not hand over");
	}

	s->digest = mix(s->digest, &o, 1);
	s->digest = mix(s->digest, (const uint8_t *)&l, sizeof(l));
	s->digest = mix(s->digest, data, len);

	/* alink_rx stops reading at the agent's close */
	return (op == WSP_CLOSE ||
		s->msgs + s->ctls == s->stop_after) ? ECONNRESET : 0;
}


static int decode(struct seen *s, const uint8_t *p, size_t n, size_t cut,
		  uint64_t *oversized)
{
	struct wsp_dec d;
	int err = 0;

	wsp_dec_init(&d, s->max);

	for (size_t off = 0; off < n && !err; ) {
		size_t take = cut && n - off > cut ? cut : n - off;

		err = wsp_feed(&d, p + off, take, on_msg, s);
		off += take;
	}
	if (err == EPROTO)
		FUZZ_ASSERT(d.error != NULL);

	*oversized = d.oversized;
	wsp_dec_reset(&d);

	return err;
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen a, b;
	uint64_t ova, ovb;
	int ea, eb;

	if (size < 3)
		return 0;

	memset(&a, 0, sizeof(a));
	a.max = data[0] ? (size_t)data[0] * 16 : ALINK_MAX_RX;
	a.stop_after = data[2];
	b = a;

	ea = decode(&a, data + 3, size - 3, 0, &ova);
	eb = decode(&b, data + 3, size - 3, data[1], &ovb);

	FUZZ_ASSERT(ea == eb);
	FUZZ_ASSERT(a.digest == b.digest);
	FUZZ_ASSERT(a.msgs == b.msgs && a.ctls == b.ctls);
	FUZZ_ASSERT(ova == ovb);

	return 0;
}
