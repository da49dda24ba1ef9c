/**
 * @file fake_lws.c  A stand-in for libwebsockets under the agent link's tests
 *
 * See fake_lws.h. Only the calls the agent link makes are here; anything
 * else (lws_parse_uri) is libwebsockets' own.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "log.h"
#include "wsproto.h"
#include "fake_lws.h"
#include "test.h"

struct lws fake;
struct owner own;


/* the owner's handlers: record what arrives */

static void on_open(void *arg)
{
	(void)arg;
	++own.opened;
}


static void on_text(const char *txt, size_t len, void *arg)
{
	(void)arg;
	++own.texts;
	own.text_len = len;
	if (len >= sizeof(own.text))
		len = sizeof(own.text) - 1;
	memcpy(own.text, txt, len);
	own.text[len] = '\0';
}


static void on_bin(const uint8_t *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	(void)arg;
	++own.bins;
}


static void on_close(int err, const char *reason, void *arg)
{
	(void)arg;
	++own.closes;
	own.close_err = err;
	snprintf(own.close_why, sizeof(own.close_why), "%s",
		 reason ? reason : "");
}


const struct alink_handlers fake_handlers = {
	on_open, on_text, on_bin, on_close
};


/* libwebsockets, as far as the link uses it */

struct lws *lws_client_connect_via_info(const struct lws_client_connect_info
					*ci)
{
	lws_callback_function *cb = alink_protocols()[0].callback;

	snprintf(fake.address, sizeof(fake.address), "%s", ci->address);
	snprintf(fake.host, sizeof(fake.host), "%s", ci->host);
	fake.port = ci->port;
	fake.method = ci->method;
	fake.ssl_connection = ci->ssl_connection;
	fake.user = ci->opaque_user_data;
	if (ci->pwsi)
		*ci->pwsi = &fake;

	if (fake.refuse) {
		/* what lws 4.1 does when the connect fails at once: both
		   callbacks before lws_client_connect_via_info() returns */
		(void)cb(&fake, LWS_CALLBACK_CLIENT_CONNECTION_ERROR, NULL,
			 (void *)"refused", 7);
		(void)cb(&fake, LWS_CALLBACK_WSI_DESTROY, NULL, NULL, 0);
		if (ci->pwsi)
			*ci->pwsi = NULL;
		return NULL;
	}

	return &fake;
}


void *lws_get_opaque_user_data(const struct lws *wsi)
{
	return wsi->user;
}


void lws_set_opaque_user_data(struct lws *wsi, void *data)
{
	wsi->user = data;
}


void lws_set_timeout(struct lws *wsi, enum pending_timeout reason, int secs)
{
	wsi->timeout_reason = (int)reason;
	wsi->timeout_secs = secs;
}


int lws_callback_on_writable(struct lws *wsi)
{
	++wsi->writable;
	return 1;
}


int lws_partial_buffered(struct lws *wsi)
{
	return wsi->partial;
}


int lws_write(struct lws *wsi, unsigned char *buf, size_t len,
	      enum lws_write_protocol protocol)
{
	++wsi->writes;

	if (protocol != LWS_WRITE_RAW)
		TEST_FAIL("lws_write protocol %d, want LWS_WRITE_RAW",
			  (int)protocol);
	if (wsi->write_fail)
		return -1;
	if (wsi->out_len + len > sizeof(wsi->out))
		TEST_FAIL("fake lws: more than %zu bytes written",
			  sizeof(wsi->out));

	memcpy(wsi->out + wsi->out_len, buf, len);
	wsi->out_len += len;

	return (int)len;
}


lws_sockfd_type lws_get_socket_fd(struct lws *wsi)
{
	(void)wsi;
	return -1;
}


/* the test's side */

void fake_reset(void)
{
	memset(&fake, 0, sizeof(fake));
	memset(&own, 0, sizeof(own));
	fake.timeout_reason = -1;
	log_set_level(LOGL_ERROR);     /* the link's expected complaints */
}


/** Deliver an lws event to the link's callback; its return value */
int fake_cb(enum lws_callback_reasons reason, const void *in, size_t len)
{
	return alink_protocols()[0].callback(&fake, reason, NULL, (void *)in,
					     len);
}


/**
 * The next client frame the link wrote: FIN and mask bits checked, the
 * payload unmasked into payload (size bytes at most)
 *
 * @return false if nothing more was written
 */
bool fake_frame(int *op, uint8_t *payload, size_t size, size_t *len)
{
	const uint8_t *p = fake.out + fake.out_pos;
	size_t avail = fake.out_len - fake.out_pos, hl = 2;
	uint64_t n;

	if (!avail)
		return false;
	if (avail < 6)
		TEST_FAIL("a partial frame header (%zu bytes)", avail);
	if (!(p[0] & 0x80) || !(p[1] & 0x80))
		TEST_FAIL("frame without FIN or mask: %02x %02x", p[0], p[1]);

	n = p[1] & 0x7f;
	if (n == 126) {
		n = (uint64_t)p[2] << 8 | p[3];
		hl = 4;
	}
	else if (n == 127) {
		n = 0;
		for (int i = 0; i < 8; i++)
			n = n << 8 | p[2 + i];
		hl = 10;
	}
	if (avail < hl + 4 + n)
		TEST_FAIL("a partial frame: %zu of %zu bytes", avail,
			  (size_t)(hl + 4 + n));
	if (n > size)
		TEST_FAIL("frame of %zu bytes, room for %zu", (size_t)n, size);

	*op = p[0] & 0x0f;
	*len = (size_t)n;
	memcpy(payload, p + hl + 4, (size_t)n);
	wsp_mask(payload, (size_t)n, p + hl);
	fake.out_pos += hl + 4 + (size_t)n;

	return true;
}


/** The upgrade request the link wrote (NUL-terminated copy), or NULL */
const char *fake_request(void)
{
	static char req[4096];
	const char *end;
	size_t n;

	req[0] = '\0';
	n = fake.out_len - fake.out_pos;
	if (n >= sizeof(req))
		n = sizeof(req) - 1;
	memcpy(req, fake.out + fake.out_pos, n);
	req[n] = '\0';

	end = strstr(req, "\r\n\r\n");
	if (!end)
		return NULL;

	fake.out_pos += (size_t)(end + 4 - req);
	req[end + 4 - req] = '\0';

	return req;
}


/** A good 101 response to a request; its length */
size_t fake_response(char *buf, size_t sz, const char *request)
{
	const char *k = strstr(request, "\r\nSec-WebSocket-Key: ");
	char key[WSP_KEY_LEN + 1], acc[WSP_ACCEPT_LEN + 1];
	int n;

	if (!k)
		TEST_FAIL("no Sec-WebSocket-Key in: %s", request);
	k += 21;
	memcpy(key, k, WSP_KEY_LEN);
	key[WSP_KEY_LEN] = '\0';
	TEST_ERR(wsp_accept(acc, sizeof(acc), key), 0);

	n = snprintf(buf, sz, "HTTP/1.1 101 Switching Protocols\r\n"
		     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		     "Sec-WebSocket-Accept: %s\r\n\r\n", acc);
	if (n < 0 || (size_t)n >= sz)
		TEST_FAIL("response buffer too small");

	return (size_t)n;
}


/** A link to url, connected and upgraded */
struct alink *fake_open(const char *url, const char *token)
{
	static char ctx_dummy;
	struct alink *l = NULL;
	const char *req;
	char resp[256];
	size_t n;

	fake_reset();
	TEST_ERR(alink_connect(&l, (struct lws_context *)(void *)&ctx_dummy,
			       url, NULL, token, NULL, &fake_handlers, &own),
		 0);
	TEST_EQ(fake_cb(LWS_CALLBACK_RAW_CONNECTED, NULL, 0), 0);
	req = fake_request();
	TEST_ASSERT(req != NULL);
	n = fake_response(resp, sizeof(resp), req);
	TEST_EQ(fake_cb(LWS_CALLBACK_RAW_RX, resp, n), 0);
	TEST_EQ(own.opened, 1);
	TEST_ASSERT(alink_connected(l));

	return l;
}
