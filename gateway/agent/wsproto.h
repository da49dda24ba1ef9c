/**
 * @file wsproto.h  WebSocket protocol (RFC 6455), client side, no I/O
 *
 * The opening handshake (request, response check), the frame header and
 * masking of what a client sends, and an incremental decoder of what a
 * server sends. The agent link (alink_hs.c, alink_tx.c, alink_rx.c) runs
 * it over a libwebsockets raw connection; tests run it over byte strings.
 */
#ifndef CB_WSPROTO_H
#define CB_WSPROTO_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>

/** Opcodes (RFC 6455 5.2) */
enum wsp_op {
	WSP_CONT  = 0x0,
	WSP_TEXT  = 0x1,
	WSP_BIN   = 0x2,
	WSP_CLOSE = 0x8,
	WSP_PING  = 0x9,
	WSP_PONG  = 0xa,
};

/** Close status codes we send (RFC 6455 7.4.1) */
enum wsp_status {
	WSP_NORMAL     = 1000,
	WSP_PROTOCOL   = 1002,
};

enum {
	WSP_HDR_MAX   = 14,   /**< largest client frame header [bytes]  */
	WSP_KEY_LEN   = 24,   /**< Sec-WebSocket-Key, base64 of 16 bytes */
	WSP_ACCEPT_LEN = 28,  /**< Sec-WebSocket-Accept, base64 of SHA-1 */
	WSP_RESP_MAX  = 8192, /**< largest handshake response [bytes]   */
};

/**
 * A message or control frame, as the decoder hands it over
 *
 * @param op    WSP_TEXT or WSP_BIN (whole message), WSP_CLOSE, WSP_PING,
 *              WSP_PONG
 * @param data  Payload (NUL-terminated for text; valid during the call)
 * @param len   Payload length [bytes]
 * @param arg   Handler argument
 *
 * @return 0 to go on, non-zero to stop decoding (returned by wsp_feed)
 */
typedef int (wsp_msg_h)(enum wsp_op op, const uint8_t *data, size_t len,
			void *arg);

/**
 * Decoder of server frames
 *
 * Data messages are joined from their fragments up to `max` bytes; a
 * longer one is skipped whole and counted in `oversized`. Control frames
 * may come between fragments. Protocol errors (a masked frame, RSV bits,
 * a bad opcode, a fragmented or long control frame, a continuation out
 * of place, a 64-bit length with the top bit set) make wsp_feed() return
 * EPROTO with `error` saying which.
 */
struct wsp_dec {
	uint8_t hdr[WSP_HDR_MAX];
	size_t hlen;          /**< header bytes held                  */
	uint64_t left;        /**< payload bytes of this frame to come */
	uint8_t op;           /**< this frame's opcode                 */
	bool fin;             /**< this frame ends its message         */
	bool in_payload;      /**< header done, payload to come        */
	uint8_t msg_op;       /**< message being joined, 0 if none     */
	bool skip;            /**< message over max: discarded         */
	uint8_t ctl[126];     /**< control frame payload (+NUL)        */
	size_t ctl_len;
	uint8_t *msg;         /**< message buffer (malloc)             */
	size_t msg_len, msg_sz;
	size_t max;           /**< largest message [bytes]             */
	uint64_t oversized;   /**< messages skipped for size           */
	const char *error;    /**< after EPROTO: what was wrong        */
};

void wsp_dec_init(struct wsp_dec *d, size_t max);
void wsp_dec_reset(struct wsp_dec *d);
int  wsp_feed(struct wsp_dec *d, const uint8_t *p, size_t n,
	      wsp_msg_h *h, void *arg);

size_t wsp_frame_hdr(uint8_t *hdr, enum wsp_op op, size_t len,
		     const uint8_t mask[4]);
void   wsp_mask(uint8_t *p, size_t n, const uint8_t mask[4]);

/* wsp_response()'s check value; exported for the tests (RFC 6455's
   example, and the server side of test_alink_*) */
int  wsp_accept(char *out, size_t outsz, const char *key);
int  wsp_request(char *buf, size_t sz, size_t *lenp, const char *path,
		 const char *host, const char *key, const char *xname,
		 const char *xvalue);
int  wsp_response(const char *resp, size_t len, const char *key,
		  int *statusp, const char **whyp);
ssize_t wsp_response_end(const uint8_t *buf, size_t len);

#endif
