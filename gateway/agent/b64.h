/**
 * @file b64.h  Base64 (RFC 4648) for audio payloads (and handshake keys)
 */
#ifndef CB_B64_H
#define CB_B64_H

#include <stddef.h>
#include <stdint.h>

/** Encoded length of n bytes (with padding, no NUL) */
#define B64_ENC_LEN(n) (4 * (((n) + 2) / 3))

size_t b64_encode(char *restrict out, const uint8_t *restrict in, size_t n);
int    b64_decode(uint8_t *restrict out, size_t *outlen,
		  const char *restrict in, size_t n);

#endif
