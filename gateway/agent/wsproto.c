/**
 * @file wsproto.c  WebSocket protocol (RFC 6455), client side, no I/O
 *
 * Design note. libwebsockets 4.1's client parses what it receives one byte
 * at a time through a state machine, and reads /dev/urandom for every
 * frame's mask: at 50 messages per second per call that was most of the
 * gateway's user-space time (bench/README.md). The agent link therefore
 * keeps lws for what it does well (connect, the event loop, timeouts) on
 * a raw connection, does TLS itself (alink_tls.c), and speaks the
 * WebSocket protocol itself, here:
 * - the decoder takes whatever the socket gave and walks it frame by
 *   frame: a header is gathered in `hdr` (it may be split across reads),
 *   then the payload is copied in one memcpy per read;
 * - server frames are never masked (5.1), so nothing is unmasked;
 * - the encoder writes the header in front of a payload that already sits
 *   in the caller's buffer (alink_tx.c keeps LWS_PRE >= WSP_HDR_MAX bytes of
 *   headroom) and masks the payload in place, a word at a time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/sha.h>
#include "b64.h"
#include "wsproto.h"

static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";


/**
 * Initialise a decoder
 *
 * @param d    Decoder
 * @param max  Largest data message kept [bytes]
 */
void wsp_dec_init(struct wsp_dec *d, size_t max)
{
	memset(d, 0, sizeof(*d));
	d->max = max;
}


/** Free a decoder's buffer (it may be initialised again) */
void wsp_dec_reset(struct wsp_dec *d)
{
	free(d->msg);
	d->msg = NULL;
	d->msg_len = d->msg_sz = 0;
}


static int proto_err(struct wsp_dec *d, const char *why)
{
	d->error = why;
	return EPROTO;
}


/* the frame's opcode, in the light of the message being joined */
static int hdr_op(struct wsp_dec *d, uint64_t len)
{
	switch (d->op) {

	case WSP_CLOSE:
	case WSP_PING:
	case WSP_PONG:
		if (!d->fin)
			return proto_err(d, "fragmented control frame");
		if (len > 125)
			return proto_err(d, "control frame over 125 bytes");
		d->ctl_len = 0;
		return 0;

	case WSP_TEXT:
	case WSP_BIN:
		if (d->msg_op)
			return proto_err(d, "new message inside a fragmented "
					 "one");
		d->msg_op = d->op;
		d->msg_len = 0;
		d->skip = false;
		return 0;

	case WSP_CONT:
		if (!d->msg_op)
			return proto_err(d, "continuation without a message");
		return 0;

	default:
		return proto_err(d, "unknown opcode");
	}
}


/* header complete? then check it and set up the payload */
static int hdr_done(struct wsp_dec *d, bool *done)
{
	const uint8_t *h = d->hdr;
	size_t need = 2;
	uint64_t len;
	int err;

	*done = false;

	if (d->hlen < 2)
		return 0;

	len = h[1] & 0x7f;
	if (len == 126)
		need += 2;
	else if (len == 127)
		need += 8;
	if (d->hlen < need)
		return 0;

	if (h[1] & 0x80)
		return proto_err(d, "masked frame from the server");
	if (h[0] & 0x70)
		return proto_err(d, "reserved bits set");

	if (len == 126) {
		len = (uint64_t)h[2] << 8 | h[3];
	}
	else if (len == 127) {
		len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | h[2 + i];
		if (len >> 63)
			return proto_err(d, "frame length over 2^63");
	}

	d->op  = h[0] & 0x0f;
	d->fin = (h[0] & 0x80) != 0;

	err = hdr_op(d, len);
	if (err)
		return err;

	if (d->op <= WSP_BIN && !d->skip && d->msg_len + len > d->max) {
		d->skip = true;
		d->msg_len = 0;
		++d->oversized;
	}

	d->left = len;
	d->in_payload = true;
	*done = true;

	return 0;
}


static int msg_grow(struct wsp_dec *d, size_t need)
{
	size_t sz = d->msg_sz ? d->msg_sz : 1024;
	uint8_t *p;

	if (need <= d->msg_sz)
		return 0;

	while (sz < need)
		sz *= 2;

	p = realloc(d->msg, sz);
	if (!p)
		return ENOMEM;

	d->msg = p;
	d->msg_sz = sz;

	return 0;
}


/* the frame's payload is complete: hand over what is due */
static int frame_done(struct wsp_dec *d, wsp_msg_h *h, void *arg)
{
	enum wsp_op op;

	d->in_payload = false;
	d->hlen = 0;

	if (d->op >= WSP_CLOSE) {
		d->ctl[d->ctl_len] = '\0';
		return h ? h(d->op, d->ctl, d->ctl_len, arg) : 0;
	}

	if (!d->fin)
		return 0;

	op = d->msg_op;
	d->msg_op = 0;

	if (d->skip) {
		d->skip = false;
		return 0;
	}

	if (msg_grow(d, d->msg_len + 1))
		return ENOMEM;
	d->msg[d->msg_len] = '\0';

	return h ? h(op, d->msg, d->msg_len, arg) : 0;
}


/**
 * Decode what the server sent
 *
 * @param d    Decoder
 * @param p    Bytes as read (any split)
 * @param n    Number of bytes
 * @param h    Handler for whole messages and control frames
 * @param arg  Handler argument
 *
 * @return 0 if all was taken, EPROTO (see d->error) on a protocol error,
 *         ENOMEM, or what the handler returned to stop
 */
int wsp_feed(struct wsp_dec *d, const uint8_t *p, size_t n,
	     wsp_msg_h *h, void *arg)
{
	int err;

	while (n || (d->in_payload && !d->left)) {

		if (!d->in_payload) {
			bool done;

			d->hdr[d->hlen++] = *p++;
			--n;
			err = hdr_done(d, &done);
			if (err)
				return err;
			if (!done && d->hlen == sizeof(d->hdr))
				return proto_err(d, "bad frame header");
			continue;
		}

		if (d->left) {
			size_t take = n < d->left ? n : (size_t)d->left;

			if (d->op >= WSP_CLOSE) {
				memcpy(d->ctl + d->ctl_len, p, take);
				d->ctl_len += take;
			}
			else if (!d->skip) {
				if (msg_grow(d, d->msg_len + take + 1))
					return ENOMEM;
				memcpy(d->msg + d->msg_len, p, take);
				d->msg_len += take;
			}

			p += take;
			n -= take;
			d->left -= take;
			if (d->left)
				break;
		}

		err = frame_done(d, h, arg);
		if (err)
			return err;
	}

	return 0;
}


/**
 * Write a client frame header (FIN set, masked)
 *
 * @param hdr   At least WSP_HDR_MAX bytes
 * @param op    Opcode
 * @param len   Payload length [bytes]
 * @param mask  Masking key
 *
 * @return header length [bytes]
 */
size_t wsp_frame_hdr(uint8_t *hdr, enum wsp_op op, size_t len,
		     const uint8_t mask[4])
{
	size_t k = 2;

	hdr[0] = 0x80 | (uint8_t)op;

	if (len < 126) {
		hdr[1] = 0x80 | (uint8_t)len;
	}
	else if (len < 65536) {
		hdr[1] = 0x80 | 126;
		hdr[2] = (uint8_t)(len >> 8);
		hdr[3] = (uint8_t)len;
		k = 4;
	}
	else {
		uint64_t l = len;

		hdr[1] = 0x80 | 127;
		for (int i = 7; i >= 0; i--) {
			hdr[2 + i] = (uint8_t)l;
			l >>= 8;
		}
		k = 10;
	}

	memcpy(hdr + k, mask, 4);

	return k + 4;
}


/**
 * Mask (or unmask) a payload in place
 *
 * @param p     Payload
 * @param n     Length [bytes]
 * @param mask  Masking key; byte i is XORed with mask[i % 4]
 */
void wsp_mask(uint8_t *p, size_t n, const uint8_t mask[4])
{
	uint64_t m8;
	uint32_t m4;
	size_t i = 0;

	memcpy(&m4, mask, 4);
	m8 = (uint64_t)m4 << 32 | m4;

	for (; i + 8 <= n; i += 8) {
		uint64_t v;

		memcpy(&v, p + i, 8);
		v ^= m8;
		memcpy(p + i, &v, 8);
	}

	for (; i < n; i++)
		p[i] ^= mask[i & 3];
}


/**
 * The Sec-WebSocket-Accept value a server must answer to a key
 *
 * @param out    Buffer of at least WSP_ACCEPT_LEN + 1 bytes
 * @param outsz  Its size
 * @param key    Sec-WebSocket-Key as sent
 *
 * @return 0 if success, otherwise errorcode
 */
int wsp_accept(char *out, size_t outsz, const char *key)
{
	uint8_t md[SHA_DIGEST_LENGTH];
	char buf[128];
	int n;

	if (!out || !key || outsz < WSP_ACCEPT_LEN + 1)
		return EINVAL;

	n = snprintf(buf, sizeof(buf), "%s%s", key, guid);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return EINVAL;

	SHA1((const uint8_t *)buf, (size_t)n, md);
	out[b64_encode(out, md, sizeof(md))] = '\0';

	return 0;
}


/**
 * Write the opening handshake request (4.1)
 *
 * @param buf     Buffer
 * @param sz      Its size
 * @param lenp    Length written [bytes]
 * @param path    Request target ("/..." with query)
 * @param host    Host header value (host[:port])
 * @param key     Sec-WebSocket-Key
 * @param xname   Extra header name, or NULL
 * @param xvalue  Its value
 *
 * @return 0 if success, ENOSPC if it does not fit, EINVAL
 */
int wsp_request(char *buf, size_t sz, size_t *lenp, const char *path,
		const char *host, const char *key, const char *xname,
		const char *xvalue)
{
	int n;

	if (!buf || !lenp || !path || !host || !key ||
	    strpbrk(path, "\r\n ") || strpbrk(host, "\r\n") ||
	    (xname && (!xvalue || strpbrk(xvalue, "\r\n"))))
		return EINVAL;

	n = snprintf(buf, sz,
		     "GET %s HTTP/1.1\r\n"
		     "Host: %s\r\n"
		     "Upgrade: websocket\r\n"
		     "Connection: Upgrade\r\n"
		     "Sec-WebSocket-Key: %s\r\n"
		     "Sec-WebSocket-Version: 13\r\n"
		     "User-Agent: callbridge\r\n"
		     "%s%s%s%s"
		     "\r\n",
		     path, host, key,
		     xname ? xname : "", xname ? ": " : "",
		     xname ? xvalue : "", xname ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sz)
		return ENOSPC;

	*lenp = (size_t)n;

	return 0;
}


/**
 * Where the handshake response ends
 *
 * @return length of the response head including the blank line, or -1
 *         if it is not complete yet
 */
ssize_t wsp_response_end(const uint8_t *buf, size_t len)
{
	for (size_t i = 3; i < len; i++) {
		if (buf[i] == '\n' && buf[i - 1] == '\r' &&
		    buf[i - 2] == '\n' && buf[i - 3] == '\r')
			return (ssize_t)(i + 1);
	}

	return -1;
}


/* does a comma-separated header value hold `tok` (case-insensitive)? */
static bool has_token(const char *v, size_t n, const char *tok)
{
	size_t tl = strlen(tok);
	size_t i = 0;

	while (i < n) {
		size_t s, e;

		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			++i;
		s = i;
		while (i < n && v[i] != ',')
			++i;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			--e;
		if (e - s == tl && !strncasecmp(v + s, tok, tl))
			return true;
	}

	return false;
}


/* "HTTP/1.1 ddd ...": the status code, 0 if there is no status line */
static int status_line(const char *p, size_t len)
{
	if (len < 12 || strncmp(p, "HTTP/1.1 ", 9) ||
	    p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' ||
	    p[11] < '0' || p[11] > '9')
		return 0;

	return (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
}


/* what the response's header fields said */
struct resp_hdrs {
	const char *want;     /**< the Sec-WebSocket-Accept due       */
	bool upgrade;         /**< Upgrade: websocket                 */
	bool connection;      /**< Connection: upgrade                */
	bool accept;          /**< Sec-WebSocket-Accept: want         */
};


/* one header field, name [n, colon) and value [v, ve): what is wrong
   with it, or NULL */
static const char *resp_field(struct resp_hdrs *rh, const char *n,
			      const char *colon, const char *v,
			      const char *ve)
{
	const size_t nl = (size_t)(colon - n), vl = (size_t)(ve - v);

#define IS(name) (nl == sizeof(name) - 1 &&			\
		  !strncasecmp(n, name, sizeof(name) - 1))
	if (IS("Upgrade")) {
		rh->upgrade = has_token(v, vl, "websocket");
	}
	else if (IS("Connection")) {
		rh->connection = has_token(v, vl, "upgrade");
	}
	else if (IS("Sec-WebSocket-Accept")) {
		rh->accept = vl == WSP_ACCEPT_LEN &&
			!memcmp(v, rh->want, WSP_ACCEPT_LEN);
		if (!rh->accept)
			return "wrong Sec-WebSocket-Accept";
	}
	else if (IS("Sec-WebSocket-Extensions")) {
		return "an extension we did not offer";
	}
#undef IS

	return NULL;
}


/* the header lines after the status line, to the blank line: what is
   wrong with them, or NULL */
static const char *resp_fields(struct resp_hdrs *rh, const char *p,
			       const char *end)
{
	p = memchr(p, '\n', (size_t)(end - p));
	while (p && ++p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *colon, *v, *ve, *why;

		if (!eol)
			break;
		ve = eol;
		if (ve > p && ve[-1] == '\r')
			--ve;
		if (ve == p)
			break;                  /* blank line: the end */

		colon = memchr(p, ':', (size_t)(ve - p));
		if (!colon)
			return "malformed header line";
		v = colon + 1;
		while (v < ve && (*v == ' ' || *v == '\t'))
			++v;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			--ve;

		why = resp_field(rh, p, colon, v, ve);
		if (why)
			return why;
		p = eol;
	}

	if (!rh->upgrade)
		return "no Upgrade: websocket";
	if (!rh->connection)
		return "no Connection: Upgrade";
	if (!rh->accept)
		return "no Sec-WebSocket-Accept";

	return NULL;
}


/**
 * Check the server's handshake response (4.1, client requirements)
 *
 * @param resp     Response head (wsp_response_end() bytes)
 * @param len      Its length
 * @param key      Sec-WebSocket-Key that was sent
 * @param statusp  HTTP status code, 0 if there is no status line
 * @param whyp     What is wrong, when not 0 is returned
 *
 * @return 0 if the connection is upgraded, otherwise EPROTO
 */
int wsp_response(const char *resp, size_t len, const char *key,
		 int *statusp, const char **whyp)
{
	char want[WSP_ACCEPT_LEN + 1];
	struct resp_hdrs rh;
	const char *why;
	int status = 0;

	memset(&rh, 0, sizeof(rh));
	rh.want = want;

	if (wsp_accept(want, sizeof(want), key))
		why = "bad key";
	else if (!(status = status_line(resp, len)))
		why = "no HTTP/1.1 status line";
	else if (status != 101)
		why = "the agent refused the upgrade";
	else
		why = resp_fields(&rh, resp, resp + len);

	if (statusp)
		*statusp = status;
	if (whyp)
		*whyp = why;

	return why ? EPROTO : 0;
}
