/**
 * @file alink_int.h  Agent link internals: for the alink*.c files only
 *
 * The agent link is one module in five files, one job each:
 *   alink.c      life cycle: connect, close, the lws protocol callback
 *   alink_tls.c  wss://: the client context, a link's TLS session
 *   alink_hs.c   the opening handshake: request, response
 *   alink_tx.c   output: framing, writing, the send queue and its drops
 *   alink_rx.c   input: frames to whole messages for the owner
 * Nothing outside gateway/agent/ includes this header.
 */
#ifndef CB_ALINK_INT_H
#define CB_ALINK_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/types.h>
#include "alink.h"
#include "wsproto.h"

struct lws;

/** A framed message waiting for the agent to read (alink_tx.c) */
struct txmsg {
	struct txmsg *next;
	uint8_t *frame;       /**< in buf, at least LWS_PRE in       */
	size_t len;           /**< framed length (header + payload)  */
	uint8_t buf[];        /**< headroom, then the frame          */
};

/** One agent link */
struct alink {
	struct lws *wsi;
	struct alink_handlers h;
	void *arg;            /**< owner; NULL once detached         */
	bool established;     /**< upgraded                          */
	bool closing;         /**< alink_close() was called          */
	bool close_sent;      /**< our close frame is out            */
	bool in_connect;      /**< inside lws_client_connect_via_info */
	bool destroyed;       /**< lws destroyed the wsi              */
	char *url;
	char *path;           /**< request target                    */
	char *host;           /**< Host header value                 */
	char key[WSP_KEY_LEN + 1];   /**< Sec-WebSocket-Key          */

	/* TLS (wss://), see alink_tls.c */
	struct alink_tls *tls;  /**< the process's client context     */
	char *tls_host;       /**< name the certificate must carry   */
	SSL *ssl;             /**< NULL for ws://                    */
	BIO *rbio, *wbio;     /**< owned by ssl                      */
	bool tls_up;          /**< handshake done                    */

	/* output */
	struct txmsg *txq_head, *txq_tail;
	size_t txq_bytes;
	size_t txq_max;       /**< media dropped past this [bytes]    */
	uint64_t dropped;     /**< droppable messages dropped         */
	uint64_t drop_mark;   /**< `dropped` when the episode began   */
	bool tcp_up;          /**< the TCP connection is established  */
	bool dropping;        /**< in an episode of drops             */
	uint8_t *scratch;     /**< LWS_PRE + scratch_sz               */
	size_t scratch_sz;
	uint8_t masks[64];    /**< masking keys from the DRBG         */
	size_t mask_pos;

	/* input */
	uint8_t *resp;        /**< handshake response so far          */
	size_t resp_len;
	struct wsp_dec dec;
	uint64_t oversized_logged;

	char signature[64];   /**< X-Twilio-Signature, "" if none     */
};

/* alink.c */
void alink_notify_close(struct alink *l, int err, const char *reason);

/* alink_tls.c */
int  alink_tls_start(struct alink *l);
int  alink_tls_rx(struct alink *l, const uint8_t *in, size_t len);
int  alink_tls_flush(struct alink *l);

/* alink_hs.c */
int  alink_hs_sign(struct alink *l, const char *auth_token);
int  alink_hs_request(struct alink *l);
int  alink_hs_rx(struct alink *l, const uint8_t *in, size_t len,
		 size_t *usedp);

/* alink_tx.c */
int  alink_tx_write(struct alink *l, uint8_t *frame, size_t len);
int  alink_tx_ctl(struct alink *l, enum wsp_op op, const uint8_t *data,
		  size_t len);
int  alink_tx_close(struct alink *l, uint16_t code, const char *reason);
int  alink_tx_writeable(struct alink *l);
void alink_tx_flush(struct alink *l);

/* alink_rx.c */
int  alink_rx(struct alink *l, const uint8_t *in, size_t len);

#endif
