/**
 * @file alink_rx.c  Agent link: input, frames to whole messages
 *
 * The connection's bytes (decrypted, for wss://) are the handshake
 * response first (alink_hs.c), then frames, which wsproto's decoder
 * joins into whole messages up to ALINK_MAX_RX; a longer one is skipped
 * and logged. Text and binary messages go to the owner (none after
 * alink_close()); pings are answered; the agent's close is echoed and
 * ends reading; a protocol error closes with 1002.
 */
#include <errno.h>
#include <string.h>
#include "log.h"
#include "alink_int.h"


/* a message or control frame from the agent; non-zero: stop reading */
static int on_msg(enum wsp_op op, const uint8_t *data, size_t len,
		  void *arg)
{
	struct alink *l = arg;

	switch (op) {

	case WSP_TEXT:
		if (!l->closing && l->h.texth && l->arg)
			l->h.texth((const char *)data, len, l->arg);
		break;

	case WSP_BIN:
		if (!l->closing && l->h.binh && l->arg)
			l->h.binh(data, len, l->arg);
		break;

	case WSP_PING:
		if (!l->close_sent && alink_tx_ctl(l, WSP_PONG, data, len))
			return EPIPE;
		break;

	case WSP_CLOSE: {
		uint16_t code = len >= 2 ? (uint16_t)(data[0] << 8 | data[1])
			: 0;

		log_debug("agent link %s: agent closed (%u)", l->url, code);
		/* echo the status (5.5.1); an empty close gets 1000 */
		(void)alink_tx_close(l, code ? code : WSP_NORMAL, NULL);
		return ECONNRESET;
	}

	default:
		break;
	}

	return 0;
}


static int frames_rx(struct alink *l, const uint8_t *in, size_t len)
{
	int err = wsp_feed(&l->dec, in, len, on_msg, l);

	if (l->dec.oversized > l->oversized_logged) {
		l->oversized_logged = l->dec.oversized;
		log_warn("agent link %s: message over %u bytes dropped",
			 l->url, ALINK_MAX_RX);
	}

	if (err == EPROTO) {
		log_info("agent link %s: protocol error: %s", l->url,
			 l->dec.error);
		(void)alink_tx_close(l, WSP_PROTOCOL, "protocol error");
		alink_notify_close(l, EPROTO, l->dec.error);
	}
	else if (err == ENOMEM) {
		alink_notify_close(l, ENOMEM, "out of memory");
	}

	return err;
}


/* the connection's bytes (decrypted, for wss://) */
int alink_rx(struct alink *l, const uint8_t *in, size_t len)
{
	size_t used = 0;
	int err;

	if (l->established)
		return frames_rx(l, in, len);

	err = alink_hs_rx(l, in, len, &used);
	if (err || !l->established || used == len)
		return err;

	/* frames that came in the same read as the response */
	return frames_rx(l, in + used, len - used);
}
