/**
 * @file fake_lws.h  A stand-in for libwebsockets under the agent link's tests
 *
 * The agent link (gateway/agent/alink*.c) reaches libwebsockets through a
 * few calls: connect, write, "is a partial write pending", "call me when
 * writable", timeouts and the opaque user pointer. fake_lws.c defines
 * those calls itself; a symbol the test program defines wins over
 * libwebsockets.so's when the program is linked, so the link's own code
 * runs unchanged, with no socket and no event loop. A test plays lws's
 * part: it calls the protocol's callback (fake_cb) with the events lws
 * would deliver, decides what lws_partial_buffered() answers, and reads
 * back every byte the link wrote (fake_frame, fake.out).
 */
#ifndef CB_FAKE_LWS_H
#define CB_FAKE_LWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libwebsockets.h>
#include "alink.h"

/** The one connection there is */
struct lws {
	void *user;               /**< opaque user data: the link        */
	bool refuse;              /**< connect fails, as lws reports it   */
	int partial;              /**< lws_partial_buffered()'s answer    */
	bool write_fail;          /**< lws_write() fails                  */
	unsigned writable;        /**< lws_callback_on_writable() calls   */
	unsigned writes;          /**< lws_write() calls                  */
	int timeout_reason;       /**< last lws_set_timeout(), -1: none   */
	int timeout_secs;
	/* the last lws_client_connect_via_info() */
	char address[64];
	char host[128];
	int port;
	const char *method;
	int ssl_connection;       /**< lws's TLS flags (must stay 0)      */
	/* everything written, and how far fake_frame() has read */
	uint8_t out[256 * 1024];
	size_t out_len, out_pos;
};

extern struct lws fake;

/** What the owner of the link saw */
struct owner {
	unsigned opened;
	unsigned texts, bins, closes;
	char text[512];           /**< the last text message (+NUL)      */
	size_t text_len;
	int close_err;
	char close_why[160];
};

extern struct owner own;
extern const struct alink_handlers fake_handlers;

void fake_reset(void);
int  fake_cb(enum lws_callback_reasons reason, const void *in, size_t len);
bool fake_frame(int *op, uint8_t *payload, size_t size, size_t *len);
const char *fake_request(void);
size_t fake_response(char *buf, size_t sz, const char *request);
struct alink *fake_open(const char *url, const char *token);

#endif
