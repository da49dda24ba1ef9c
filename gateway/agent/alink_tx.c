/**
 * @file alink_tx.c  Agent link: output, the send queue and its drops
 *
 * Design note. The owner formats a message straight into alink_txbuf()
 * (which keeps LWS_PRE >= WSP_HDR_MAX bytes of headroom, where the frame
 * header goes) and calls alink_send(). When nothing is queued and lws
 * holds no partial write, the frame is masked in place and written at
 * once: no copy, no allocation, no writable-callback round trip per
 * message. Otherwise a framed copy (one malloc) is queued, in order, and
 * the queue drains one message per LWS_CALLBACK_RAW_WRITEABLE.
 *
 * Media messages are "droppable": one that would take the queue past
 * its limit (agent_send_queue_kib, alink_set_txq_max) is dropped and
 * counted, and the episode is logged once, at its start and when the
 * queue is down to half; control messages are never dropped. The
 * kernel's send buffer is fixed (ALINK_SNDBUF, alink.c) so that a
 * backlog builds up here, where it can be dropped. Masks come from
 * OpenSSL's DRBG, 64 bytes (16 frames) at a time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <openssl/rand.h>
#include "log.h"
#include "alink_int.h"

/* headroom before a payload: lws's, which must hold our frame header */
_Static_assert(LWS_PRE >= WSP_HDR_MAX, "LWS_PRE too small for a header");


/* write bytes to the agent, through TLS when there is TLS */
int alink_tx_write(struct alink *l, uint8_t *frame, size_t len)
{
	int n;

	if (!l->ssl) {
		n = lws_write(l->wsi, frame, len, LWS_WRITE_RAW);
		return (n < 0) ? EPIPE : 0;
	}

	n = SSL_write(l->ssl, frame, (int)len);
	if (n != (int)len)
		return EPIPE;

	return alink_tls_flush(l);
}


/* the next masking key; the DRBG is asked once per 16 frames */
static const uint8_t *next_mask(struct alink *l)
{
	const uint8_t *m;

	if (l->mask_pos + 4 > sizeof(l->masks)) {
		/* should the DRBG ever fail, the previous keys are reused */
		(void)RAND_bytes(l->masks, sizeof(l->masks));
		l->mask_pos = 0;
	}

	m = l->masks + l->mask_pos;
	l->mask_pos += 4;

	return m;
}


/*
 * Frame a payload that sits at p (with LWS_PRE bytes of headroom before
 * it) in place: header in front, payload masked. Returns the frame start.
 */
static uint8_t *frame_in_place(struct alink *l, uint8_t *p, size_t len,
			       enum wsp_op op, size_t *flen)
{
	uint8_t hdr[WSP_HDR_MAX];
	const uint8_t *mask = next_mask(l);
	size_t hl = wsp_frame_hdr(hdr, op, len, mask);

	wsp_mask(p, len, mask);
	memcpy(p - hl, hdr, hl);
	*flen = hl + len;

	return p - hl;
}


/* queue a framed copy of a payload (a control frame or a message that
   cannot go out now) */
static int txq_add(struct alink *l, const void *data, size_t len,
		   enum wsp_op op)
{
	struct txmsg *m;
	size_t flen;

	m = malloc(sizeof(*m) + LWS_PRE + WSP_HDR_MAX + len);
	if (!m)
		return ENOMEM;

	/* the header goes in front, so the frame starts at LWS_PRE or
	   later: lws_write()'s headroom */
	memcpy(m->buf + LWS_PRE + WSP_HDR_MAX, data, len);
	m->frame = frame_in_place(l, m->buf + LWS_PRE + WSP_HDR_MAX, len, op,
				  &flen);

	m->next = NULL;
	m->len = flen;

	if (l->txq_tail)
		l->txq_tail->next = m;
	else
		l->txq_head = m;
	l->txq_tail = m;
	l->txq_bytes += flen;

	lws_callback_on_writable(l->wsi);

	return 0;
}


/* a control frame: at once when the way is clear, else queued (never
   dropped) */
int alink_tx_ctl(struct alink *l, enum wsp_op op, const uint8_t *data,
		 size_t len)
{
	uint8_t buf[LWS_PRE + WSP_HDR_MAX + 125];
	uint8_t *frame;
	size_t flen;

	if (len > 125 || !l->wsi)
		return EINVAL;

	if (l->txq_head || lws_partial_buffered(l->wsi))
		return txq_add(l, data, len, op);

	memcpy(buf + LWS_PRE + WSP_HDR_MAX, data, len);
	frame = frame_in_place(l, buf + LWS_PRE + WSP_HDR_MAX, len, op,
			       &flen);

	return alink_tx_write(l, frame, flen);
}


int alink_tx_close(struct alink *l, uint16_t code, const char *reason)
{
	uint8_t b[2 + 64];
	size_t n = reason ? strlen(reason) : 0;

	if (l->close_sent)
		return 0;
	l->close_sent = true;

	if (n > sizeof(b) - 2)
		n = sizeof(b) - 2;
	b[0] = (uint8_t)(code >> 8);
	b[1] = (uint8_t)code;
	if (n)
		memcpy(b + 2, reason, n);

	return alink_tx_ctl(l, WSP_CLOSE, b, 2 + n);
}


/* take the first queued message; an episode of drops ends when the
   queue is down to half its limit */
static struct txmsg *txq_pop(struct alink *l)
{
	struct txmsg *m = l->txq_head;

	if (!m)
		return NULL;

	l->txq_head = m->next;
	if (!l->txq_head)
		l->txq_tail = NULL;
	l->txq_bytes -= m->len;

	if (l->dropping && l->txq_bytes <= l->txq_max / 2) {
		log_info("agent link %s: the agent reads again; "
			 "%llu media messages were dropped",
			 l->url, (unsigned long long)
			 (l->dropped - l->drop_mark));
		l->dropping = false;
	}

	return m;
}


/**
 * The connection is writable (LWS_CALLBACK_RAW_WRITEABLE): one queued
 * message goes out; once the queue is empty after alink_close(), the
 * close frame
 *
 * @return 0, or an errorcode: lws is to drop the connection
 */
int alink_tx_writeable(struct alink *l)
{
	struct txmsg *m = txq_pop(l);
	int err;

	if (m) {
		err = alink_tx_write(l, m->frame, m->len);
		free(m);
		if (err) {
			alink_notify_close(l, err, "write failed");
			return err;
		}
	}

	if (l->txq_head) {
		lws_callback_on_writable(l->wsi);
		return 0;
	}

	if (l->closing && l->established && !l->close_sent)
		return alink_tx_close(l, WSP_NORMAL, "bye");

	return 0;
}


/* free the queue */
void alink_tx_flush(struct alink *l)
{
	struct txmsg *m = l->txq_head;

	while (m) {
		struct txmsg *next = m->next;
		free(m);
		m = next;
	}

	l->txq_head = l->txq_tail = NULL;
	l->txq_bytes = 0;
}


/**
 * Scratch buffer for formatting one message in place
 *
 * @return pointer to len bytes (with LWS_PRE headroom before it), or NULL
 */
uint8_t *alink_txbuf(struct alink *l, size_t len)
{
	if (!l)
		return NULL;

	if (len > l->scratch_sz) {
		uint8_t *p = realloc(l->scratch, LWS_PRE + len);
		if (!p)
			return NULL;
		l->scratch = p;
		l->scratch_sz = len;
	}

	return l->scratch + LWS_PRE;
}


/**
 * Send a message to the agent
 *
 * @param l          Link
 * @param data       Message; if it is the alink_txbuf() buffer it is
 *                   written in place, else copied
 * @param len        Length [bytes]
 * @param binary     Binary frame, else text
 * @param droppable  May be dropped while the agent is not reading (media)
 *
 * @return 0 if sent or queued, ENOTCONN if not open, EPIPE on error
 */
int alink_send(struct alink *l, const void *data, size_t len, bool binary,
	       bool droppable)
{
	if (!l || !data)
		return EINVAL;

	if (!l->wsi || !l->established || l->closing)
		return ENOTCONN;

	if (!l->txq_head && !lws_partial_buffered(l->wsi)) {
		uint8_t *p = (uint8_t *)data, *frame;
		size_t flen;

		if (data != l->scratch + LWS_PRE) {
			p = alink_txbuf(l, len);
			if (!p)
				return ENOMEM;
			memcpy(p, data, len);
		}
		frame = frame_in_place(l, p, len, binary ? WSP_BIN : WSP_TEXT,
				       &flen);
		return alink_tx_write(l, frame, flen);
	}

	if (droppable && l->txq_bytes + len > l->txq_max) {
		if (!l->dropping) {
			log_warn("agent link %s: the agent is not reading: "
				 "%zu bytes queued, media dropped until it "
				 "does", l->url, l->txq_bytes);
			l->dropping = true;
			l->drop_mark = l->dropped;
		}
		++l->dropped;
		return 0;
	}

	return txq_add(l, data, len, binary ? WSP_BIN : WSP_TEXT);
}


/**
 * Set how much output may wait for an agent that does not read before
 * media messages are dropped (control messages never are)
 *
 * @param l      Agent link
 * @param bytes  Queued output [bytes], at least 1
 */
void alink_set_txq_max(struct alink *l, size_t bytes)
{
	if (l && bytes)
		l->txq_max = bytes;
}


/** Media messages dropped because the agent was not reading */
uint64_t alink_dropped(const struct alink *l)
{
	return l ? l->dropped : 0;
}
