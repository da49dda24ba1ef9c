/**
 * @file alink.h  Agent link: the WebSocket client to one agent, one per call
 *
 * Lives on the call's media worker and its lws_context. The owner (the
 * call's media) gets whole messages, never fragments. alink_close() detaches
 * the owner at once; the link then finishes its close handshake on its own
 * and frees itself when libwebsockets destroys the connection. One TLS
 * client context (alink_tls_alloc) serves every link of the process.
 */
#ifndef CB_ALINK_H
#define CB_ALINK_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

struct alink;
struct alink_tls;
struct lws_context;
struct lws_protocols;

struct alink_handlers {
	void (*openh)(void *arg);                                 /**< up   */
	void (*texth)(const char *txt, size_t len, void *arg);    /**< text */
	void (*binh)(const uint8_t *data, size_t len, void *arg); /**< binary */
	void (*closeh)(int err, const char *reason, void *arg);   /**< gone */
};

/** Limits of one link */
enum {
	/** largest message accepted [bytes] */
	ALINK_MAX_RX   = 4 * 1024 * 1024,
	/** default queued output before media is dropped [bytes] */
	ALINK_MAX_TXQ  = 1024 * 1024,
	/** kernel send buffer (SO_SNDBUF; Linux doubles it): 640 KB/s at
	    200 ms RTT [bytes] */
	ALINK_SNDBUF   = 64 * 1024,
};

int  alink_connect(struct alink **lp, struct lws_context *ctx,
		   const char *url, const char *addr, const char *auth_token,
		   struct alink_tls *tls,
		   const struct alink_handlers *h, void *arg);
int  alink_send(struct alink *l, const void *data, size_t len, bool binary,
		bool droppable);
uint8_t *alink_txbuf(struct alink *l, size_t len);
void alink_close(struct alink *l, const char *why);
uint64_t alink_dropped(const struct alink *l);
void alink_set_txq_max(struct alink *l, size_t bytes);
bool alink_connected(const struct alink *l);

int  alink_tls_alloc(struct alink_tls **tp, const char *ca_file);

/** Protocol table for a worker's lws_context: the agent link, then the end */
const struct lws_protocols *alink_protocols(void);

#endif
