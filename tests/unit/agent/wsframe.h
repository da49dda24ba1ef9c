/**
 * @file wsframe.h  Server WebSocket frames for the agent folder's tests
 *
 * A server's frames are unmasked (RFC 6455 5.1): first byte, the length
 * in 7, 7+16 or 7+64 bits, the payload.
 */

#ifndef CB_TEST_WSFRAME_H
#define CB_TEST_WSFRAME_H

#include <stdint.h>
#include <string.h>

/**
 * Write one unmasked frame
 *
 * @param buf      Where (room for len + 10 bytes)
 * @param b0       First byte (FIN, RSV, opcode)
 * @param payload  Payload, or NULL for len bytes of 'x'
 * @param len      Payload length [bytes]
 *
 * @return The frame's length [bytes]
 */
static inline size_t wsframe(uint8_t *buf, int b0, const void *payload,
			     size_t len)
{
	size_t k = 0;

	buf[k++] = (uint8_t)b0;
	if (len < 126) {
		buf[k++] = (uint8_t)len;
	}
	else if (len < 65536) {
		buf[k++] = 126;
		buf[k++] = (uint8_t)(len >> 8);
		buf[k++] = (uint8_t)len;
	}
	else {
		buf[k++] = 127;
		for (int i = 7; i >= 0; i--)
			buf[k++] = (uint8_t)((uint64_t)len >> (8 * i));
	}
	if (payload)
		memcpy(buf + k, payload, len);
	else
		memset(buf + k, 'x', len);

	return k + len;
}

#endif
