/**
 * @file b64.c  Base64 (RFC 4648) for audio payloads, table driven
 *
 * Every `media` message carries its audio in base64, 50 times a second per
 * call in each direction, so this is on the per-packet path: one table
 * look-up per character, no branches per character beyond the loop.
 * Decoding is strict about the alphabet and padding (unused bits before
 * the padding are ignored, as most decoders do): an agent's payload that
 * is not base64 is refused, never half-decoded.
 */
#include <errno.h>
#include "b64.h"

static const char enc[65] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* value + 1: 1..64 for the alphabet, 65 for '=', 0 for anything else
   (so that d(c) = dec[c] - 1 is 0..63, 64 for '=', huge if invalid) */
static const uint8_t dec[256] = {
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0, 63,  0,  0,  0, 64,
	53, 54, 55, 56, 57, 58, 59, 60, 61, 62,  0,  0,  0, 65,  0,  0,
	 0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14, 15,
	16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26,  0,  0,  0,  0,  0,
	 0, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41,
	42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52,  0,  0,  0,  0,  0,
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
};

#define D(c) ((uint32_t)dec[(uint8_t)(c)] - 1u)


/**
 * Encode
 *
 * @param out  Output, at least B64_ENC_LEN(n) bytes (no NUL written)
 * @param in   Input bytes
 * @param n    Number of input bytes
 *
 * @return characters written
 */
size_t b64_encode(char *restrict out, const uint8_t *restrict in, size_t n)
{
	char *o = out;
	size_t i = 0;

	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
			in[i + 2];

		o[0] = enc[v >> 18];
		o[1] = enc[(v >> 12) & 63];
		o[2] = enc[(v >> 6) & 63];
		o[3] = enc[v & 63];
		o += 4;
	}

	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;

		o[0] = enc[v >> 18];
		o[1] = enc[(v >> 12) & 63];
		o[2] = '=';
		o[3] = '=';
		o += 4;
	}
	else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

		o[0] = enc[v >> 18];
		o[1] = enc[(v >> 12) & 63];
		o[2] = enc[(v >> 6) & 63];
		o[3] = '=';
		o += 4;
	}

	return (size_t)(o - out);
}


/**
 * Decode
 *
 * @param out     Output, at least 3 * (n / 4) bytes
 * @param outlen  In: size of out; out: bytes written
 * @param in      Base64 text (length a multiple of 4, '=' padding only at
 *                the end)
 * @param n       Its length
 *
 * @return 0 if success, EBADMSG for text that is not base64, ENOSPC if
 *         out is too small
 */
int b64_decode(uint8_t *restrict out, size_t *outlen, const char *restrict in,
	       size_t n)
{
	const uint8_t *s = (const uint8_t *)in;
	size_t i, o = 0, full;

	if (n % 4)
		return EBADMSG;
	if (!n) {
		*outlen = 0;
		return 0;
	}
	if (*outlen < 3 * (n / 4) - (in[n - 1] == '=') - (in[n - 2] == '='))
		return ENOSPC;

	/* all quads but the last have no padding */
	full = n - 4;
	for (i = 0; i < full; i += 4) {
		uint32_t a = D(s[i]), b = D(s[i + 1]);
		uint32_t c = D(s[i + 2]), d = D(s[i + 3]);

		if ((a | b | c | d) > 63)
			return EBADMSG;

		uint32_t v = a << 18 | b << 12 | c << 6 | d;
		out[o]     = (uint8_t)(v >> 16);
		out[o + 1] = (uint8_t)(v >> 8);
		out[o + 2] = (uint8_t)v;
		o += 3;
	}

	{
		uint32_t a = D(s[i]), b = D(s[i + 1]);
		uint32_t c = D(s[i + 2]), d = D(s[i + 3]);

		if (a > 63 || b > 63)
			return EBADMSG;

		if (c == 64) {              /* "xx==" */
			if (d != 64)
				return EBADMSG;
			out[o++] = (uint8_t)(a << 2 | b >> 4);
		}
		else if (d == 64) {         /* "xxx=" */
			if (c > 63)
				return EBADMSG;
			out[o++] = (uint8_t)(a << 2 | b >> 4);
			out[o++] = (uint8_t)(b << 4 | c >> 2);
		}
		else {
			if (c > 63 || d > 63)
				return EBADMSG;
			out[o++] = (uint8_t)(a << 2 | b >> 4);
			out[o++] = (uint8_t)(b << 4 | c >> 2);
			out[o++] = (uint8_t)(c << 6 | d);
		}
	}

	*outlen = o;

	return 0;
}
