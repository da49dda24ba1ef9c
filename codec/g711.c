/**
 * @file g711.c  ITU-T G.711 µ-law and A-law, bit-exact
 *
 * Design note.
 * - Decoding is a lookup in a 256-entry table per law. The tables hold the
 *   decoder output values of G.711 Tables 1 and 2 scaled to 16 bits
 *   (A-law x8, µ-law x4); tests/unit/codec/test_g711.c recomputes every
 *   entry from the Recommendation's formulas.
 * - Encoding is the segment algorithm of the Recommendation (as in the ITU-T
 *   G.191 reference): take the magnitude (one's complement for negative
 *   input), find the segment from the position of the highest set bit,
 *   take four mantissa bits below it. The segment search is one
 *   count-leading-zeros instruction, so no 16K table is needed; whether a
 *   table is faster is for bench/ to show.
 * - Transcoding uses Tables 3 and 4 of G.711 (11/88) expanded to 256 bytes.
 *   Table 3 maps each µ-law output value to the A-law output value whose
 *   decision interval holds it at equal signal level (µ-law overloads at
 *   8159 units and +3.17 dBm0, A-law at 4096 units and +3.14 dBm0). Table 4
 *   inverts it: the larger µ value where two map to one A value, and the
 *   neighbour differing in bit 8 for the eight A values that Table 3 never
 *   produces. The test derives both tables from these rules and checks the
 *   Recommendation's notes on double conversion.
 */
#include "g711.h"

/* G.711 Table 2, µ-law decoder output values x4, indexed by the byte */
static const int16_t ulaw_dec[256] = {
	-32124, -31100, -30076, -29052, -28028, -27004, -25980, -24956,
	-23932, -22908, -21884, -20860, -19836, -18812, -17788, -16764,
	-15996, -15484, -14972, -14460, -13948, -13436, -12924, -12412,
	-11900, -11388, -10876, -10364,  -9852,  -9340,  -8828,  -8316,
	 -7932,  -7676,  -7420,  -7164,  -6908,  -6652,  -6396,  -6140,
	 -5884,  -5628,  -5372,  -5116,  -4860,  -4604,  -4348,  -4092,
	 -3900,  -3772,  -3644,  -3516,  -3388,  -3260,  -3132,  -3004,
	 -2876,  -2748,  -2620,  -2492,  -2364,  -2236,  -2108,  -1980,
	 -1884,  -1820,  -1756,  -1692,  -1628,  -1564,  -1500,  -1436,
	 -1372,  -1308,  -1244,  -1180,  -1116,  -1052,   -988,   -924,
	  -876,   -844,   -812,   -780,   -748,   -716,   -684,   -652,
	  -620,   -588,   -556,   -524,   -492,   -460,   -428,   -396,
	  -372,   -356,   -340,   -324,   -308,   -292,   -276,   -260,
	  -244,   -228,   -212,   -196,   -180,   -164,   -148,   -132,
	  -120,   -112,   -104,    -96,    -88,    -80,    -72,    -64,
	   -56,    -48,    -40,    -32,    -24,    -16,     -8,      0,
	 32124,  31100,  30076,  29052,  28028,  27004,  25980,  24956,
	 23932,  22908,  21884,  20860,  19836,  18812,  17788,  16764,
	 15996,  15484,  14972,  14460,  13948,  13436,  12924,  12412,
	 11900,  11388,  10876,  10364,   9852,   9340,   8828,   8316,
	  7932,   7676,   7420,   7164,   6908,   6652,   6396,   6140,
	  5884,   5628,   5372,   5116,   4860,   4604,   4348,   4092,
	  3900,   3772,   3644,   3516,   3388,   3260,   3132,   3004,
	  2876,   2748,   2620,   2492,   2364,   2236,   2108,   1980,
	  1884,   1820,   1756,   1692,   1628,   1564,   1500,   1436,
	  1372,   1308,   1244,   1180,   1116,   1052,    988,    924,
	   876,    844,    812,    780,    748,    716,    684,    652,
	   620,    588,    556,    524,    492,    460,    428,    396,
	   372,    356,    340,    324,    308,    292,    276,    260,
	   244,    228,    212,    196,    180,    164,    148,    132,
	   120,    112,    104,     96,     88,     80,     72,     64,
	    56,     48,     40,     32,     24,     16,      8,      0,
};

/* G.711 Table 1, A-law decoder output values x8, indexed by the byte */
static const int16_t alaw_dec[256] = {
	 -5504,  -5248,  -6016,  -5760,  -4480,  -4224,  -4992,  -4736,
	 -7552,  -7296,  -8064,  -7808,  -6528,  -6272,  -7040,  -6784,
	 -2752,  -2624,  -3008,  -2880,  -2240,  -2112,  -2496,  -2368,
	 -3776,  -3648,  -4032,  -3904,  -3264,  -3136,  -3520,  -3392,
	-22016, -20992, -24064, -23040, -17920, -16896, -19968, -18944,
	-30208, -29184, -32256, -31232, -26112, -25088, -28160, -27136,
	-11008, -10496, -12032, -11520,  -8960,  -8448,  -9984,  -9472,
	-15104, -14592, -16128, -15616, -13056, -12544, -14080, -13568,
	  -344,   -328,   -376,   -360,   -280,   -264,   -312,   -296,
	  -472,   -456,   -504,   -488,   -408,   -392,   -440,   -424,
	   -88,    -72,   -120,   -104,    -24,     -8,    -56,    -40,
	  -216,   -200,   -248,   -232,   -152,   -136,   -184,   -168,
	 -1376,  -1312,  -1504,  -1440,  -1120,  -1056,  -1248,  -1184,
	 -1888,  -1824,  -2016,  -1952,  -1632,  -1568,  -1760,  -1696,
	  -688,   -656,   -752,   -720,   -560,   -528,   -624,   -592,
	  -944,   -912,  -1008,   -976,   -816,   -784,   -880,   -848,
	  5504,   5248,   6016,   5760,   4480,   4224,   4992,   4736,
	  7552,   7296,   8064,   7808,   6528,   6272,   7040,   6784,
	  2752,   2624,   3008,   2880,   2240,   2112,   2496,   2368,
	  3776,   3648,   4032,   3904,   3264,   3136,   3520,   3392,
	 22016,  20992,  24064,  23040,  17920,  16896,  19968,  18944,
	 30208,  29184,  32256,  31232,  26112,  25088,  28160,  27136,
	 11008,  10496,  12032,  11520,   8960,   8448,   9984,   9472,
	 15104,  14592,  16128,  15616,  13056,  12544,  14080,  13568,
	   344,    328,    376,    360,    280,    264,    312,    296,
	   472,    456,    504,    488,    408,    392,    440,    424,
	    88,     72,    120,    104,     24,      8,     56,     40,
	   216,    200,    248,    232,    152,    136,    184,    168,
	  1376,   1312,   1504,   1440,   1120,   1056,   1248,   1184,
	  1888,   1824,   2016,   1952,   1632,   1568,   1760,   1696,
	   688,    656,    752,    720,    560,    528,    624,    592,
	   944,    912,   1008,    976,    816,    784,    880,    848,
};

/* G.711 Table 3, µ-law byte -> A-law byte */
static const uint8_t ulaw_to_alaw[256] = {
	0x2a, 0x2b, 0x28, 0x29, 0x2e, 0x2f, 0x2c, 0x2d,
	0x22, 0x23, 0x20, 0x21, 0x26, 0x27, 0x24, 0x25,
	0x3a, 0x3b, 0x38, 0x39, 0x3e, 0x3f, 0x3c, 0x3d,
	0x32, 0x33, 0x30, 0x31, 0x36, 0x37, 0x34, 0x35,
	0x0a, 0x0b, 0x08, 0x09, 0x0e, 0x0f, 0x0c, 0x0d,
	0x02, 0x03, 0x00, 0x01, 0x06, 0x07, 0x04, 0x05,
	0x1b, 0x18, 0x19, 0x1e, 0x1f, 0x1c, 0x1d, 0x12,
	0x13, 0x10, 0x11, 0x16, 0x17, 0x14, 0x15, 0x6a,
	0x68, 0x69, 0x6e, 0x6f, 0x6c, 0x6d, 0x62, 0x63,
	0x60, 0x61, 0x66, 0x67, 0x64, 0x65, 0x7a, 0x78,
	0x7e, 0x7f, 0x7c, 0x7d, 0x72, 0x73, 0x70, 0x71,
	0x76, 0x77, 0x74, 0x75, 0x4b, 0x49, 0x4f, 0x4d,
	0x42, 0x43, 0x40, 0x41, 0x46, 0x47, 0x44, 0x45,
	0x5a, 0x5b, 0x58, 0x59, 0x5e, 0x5f, 0x5c, 0x5d,
	0x52, 0x52, 0x53, 0x53, 0x50, 0x50, 0x51, 0x51,
	0x56, 0x56, 0x57, 0x57, 0x54, 0x54, 0x55, 0x55,
	0xaa, 0xab, 0xa8, 0xa9, 0xae, 0xaf, 0xac, 0xad,
	0xa2, 0xa3, 0xa0, 0xa1, 0xa6, 0xa7, 0xa4, 0xa5,
	0xba, 0xbb, 0xb8, 0xb9, 0xbe, 0xbf, 0xbc, 0xbd,
	0xb2, 0xb3, 0xb0, 0xb1, 0xb6, 0xb7, 0xb4, 0xb5,
	0x8a, 0x8b, 0x88, 0x89, 0x8e, 0x8f, 0x8c, 0x8d,
	0x82, 0x83, 0x80, 0x81, 0x86, 0x87, 0x84, 0x85,
	0x9b, 0x98, 0x99, 0x9e, 0x9f, 0x9c, 0x9d, 0x92,
	0x93, 0x90, 0x91, 0x96, 0x97, 0x94, 0x95, 0xea,
	0xe8, 0xe9, 0xee, 0xef, 0xec, 0xed, 0xe2, 0xe3,
	0xe0, 0xe1, 0xe6, 0xe7, 0xe4, 0xe5, 0xfa, 0xf8,
	0xfe, 0xff, 0xfc, 0xfd, 0xf2, 0xf3, 0xf0, 0xf1,
	0xf6, 0xf7, 0xf4, 0xf5, 0xcb, 0xc9, 0xcf, 0xcd,
	0xc2, 0xc3, 0xc0, 0xc1, 0xc6, 0xc7, 0xc4, 0xc5,
	0xda, 0xdb, 0xd8, 0xd9, 0xde, 0xdf, 0xdc, 0xdd,
	0xd2, 0xd2, 0xd3, 0xd3, 0xd0, 0xd0, 0xd1, 0xd1,
	0xd6, 0xd6, 0xd7, 0xd7, 0xd4, 0xd4, 0xd5, 0xd5,
};

/* G.711 Table 4, A-law byte -> µ-law byte */
static const uint8_t alaw_to_ulaw[256] = {
	0x2a, 0x2b, 0x28, 0x29, 0x2e, 0x2f, 0x2c, 0x2d,
	0x22, 0x23, 0x20, 0x21, 0x26, 0x27, 0x24, 0x25,
	0x39, 0x3a, 0x37, 0x38, 0x3d, 0x3e, 0x3b, 0x3c,
	0x31, 0x32, 0x30, 0x30, 0x35, 0x36, 0x33, 0x34,
	0x0a, 0x0b, 0x08, 0x09, 0x0e, 0x0f, 0x0c, 0x0d,
	0x02, 0x03, 0x00, 0x01, 0x06, 0x07, 0x04, 0x05,
	0x1a, 0x1b, 0x18, 0x19, 0x1e, 0x1f, 0x1c, 0x1d,
	0x12, 0x13, 0x10, 0x11, 0x16, 0x17, 0x14, 0x15,
	0x62, 0x63, 0x60, 0x61, 0x66, 0x67, 0x64, 0x65,
	0x5d, 0x5d, 0x5c, 0x5c, 0x5f, 0x5f, 0x5e, 0x5e,
	0x74, 0x76, 0x70, 0x72, 0x7c, 0x7e, 0x78, 0x7a,
	0x6a, 0x6b, 0x68, 0x69, 0x6e, 0x6f, 0x6c, 0x6d,
	0x48, 0x49, 0x46, 0x47, 0x4c, 0x4d, 0x4a, 0x4b,
	0x40, 0x41, 0x3f, 0x3f, 0x44, 0x45, 0x42, 0x43,
	0x56, 0x57, 0x54, 0x55, 0x5a, 0x5b, 0x58, 0x59,
	0x4f, 0x4f, 0x4e, 0x4e, 0x52, 0x53, 0x50, 0x51,
	0xaa, 0xab, 0xa8, 0xa9, 0xae, 0xaf, 0xac, 0xad,
	0xa2, 0xa3, 0xa0, 0xa1, 0xa6, 0xa7, 0xa4, 0xa5,
	0xb9, 0xba, 0xb7, 0xb8, 0xbd, 0xbe, 0xbb, 0xbc,
	0xb1, 0xb2, 0xb0, 0xb0, 0xb5, 0xb6, 0xb3, 0xb4,
	0x8a, 0x8b, 0x88, 0x89, 0x8e, 0x8f, 0x8c, 0x8d,
	0x82, 0x83, 0x80, 0x81, 0x86, 0x87, 0x84, 0x85,
	0x9a, 0x9b, 0x98, 0x99, 0x9e, 0x9f, 0x9c, 0x9d,
	0x92, 0x93, 0x90, 0x91, 0x96, 0x97, 0x94, 0x95,
	0xe2, 0xe3, 0xe0, 0xe1, 0xe6, 0xe7, 0xe4, 0xe5,
	0xdd, 0xdd, 0xdc, 0xdc, 0xdf, 0xdf, 0xde, 0xde,
	0xf4, 0xf6, 0xf0, 0xf2, 0xfc, 0xfe, 0xf8, 0xfa,
	0xea, 0xeb, 0xe8, 0xe9, 0xee, 0xef, 0xec, 0xed,
	0xc8, 0xc9, 0xc6, 0xc7, 0xcc, 0xcd, 0xca, 0xcb,
	0xc0, 0xc1, 0xbf, 0xbf, 0xc4, 0xc5, 0xc2, 0xc3,
	0xd6, 0xd7, 0xd4, 0xd5, 0xda, 0xdb, 0xd8, 0xd9,
	0xcf, 0xcf, 0xce, 0xce, 0xd2, 0xd3, 0xd0, 0xd1,
};

static inline uint8_t ulaw_enc(int16_t x)
{
	const unsigned mask = x < 0 ? 0x7f : 0xff;
	unsigned v = (unsigned)(x < 0 ? ~x : x) >> 2;   /* 14-bit magnitude */
	unsigned seg;

	v += 33;                                        /* bias */
	if (v > 0x1fff)
		v = 0x1fff;

	/* v >= 33, so the highest set bit is bit 5..12: segment 0..7 */
	seg = (unsigned)(31 - __builtin_clz(v)) - 5;

	return (uint8_t)(((seg << 4) | ((v >> (seg + 1)) & 0xf)) ^ mask);
}

static inline uint8_t alaw_enc(int16_t x)
{
	const unsigned mask = x < 0 ? 0x55 : 0xd5;
	const unsigned v = (unsigned)(x < 0 ? ~x : x) >> 4; /* 0..2047 */
	unsigned seg;

	if (v < 16)
		return (uint8_t)(v ^ mask);

	/* highest set bit is bit 4..10: segment 1..7 */
	seg = (unsigned)(31 - __builtin_clz(v)) - 3;

	return (uint8_t)(((seg << 4) | ((v >> (seg - 1)) & 0xf)) ^ mask);
}


/**
 * Encode one linear sample to µ-law
 *
 * @param x  Linear sample (16-bit two's complement)
 *
 * @return µ-law byte
 */
uint8_t g711_lin2ulaw(int16_t x)
{
	return ulaw_enc(x);
}


/**
 * Decode one µ-law byte to linear
 *
 * @param u  µ-law byte
 *
 * @return Linear sample in [-32124, 32124]; 0x7F and 0xFF both give 0
 */
int16_t g711_ulaw2lin(uint8_t u)
{
	return ulaw_dec[u];
}


/**
 * Encode one linear sample to A-law
 *
 * @param x  Linear sample (16-bit two's complement)
 *
 * @return A-law byte (even bits inverted, as transmitted)
 */
uint8_t g711_lin2alaw(int16_t x)
{
	return alaw_enc(x);
}


/**
 * Decode one A-law byte to linear
 *
 * @param a  A-law byte
 *
 * @return Linear sample in [-32256, 32256], never 0
 */
int16_t g711_alaw2lin(uint8_t a)
{
	return alaw_dec[a];
}


/**
 * Decode a buffer of µ-law bytes
 *
 * @param dst  Linear output, n samples
 * @param src  µ-law input, n bytes
 * @param n    Number of samples
 */
void g711_ulaw_decode(int16_t *dst, const uint8_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = ulaw_dec[src[i]];
}


/**
 * Encode a buffer of linear samples to µ-law
 *
 * @param dst  µ-law output, n bytes
 * @param src  Linear input, n samples
 * @param n    Number of samples
 */
void g711_ulaw_encode(uint8_t *dst, const int16_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = ulaw_enc(src[i]);
}


/**
 * Decode a buffer of A-law bytes
 *
 * @param dst  Linear output, n samples
 * @param src  A-law input, n bytes
 * @param n    Number of samples
 */
void g711_alaw_decode(int16_t *dst, const uint8_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = alaw_dec[src[i]];
}


/**
 * Encode a buffer of linear samples to A-law
 *
 * @param dst  A-law output, n bytes
 * @param src  Linear input, n samples
 * @param n    Number of samples
 */
void g711_alaw_encode(uint8_t *dst, const int16_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = alaw_enc(src[i]);
}


/**
 * Transcode a buffer from A-law to µ-law (G.711 Table 4); dst may be src
 *
 * @param dst  µ-law output, n bytes
 * @param src  A-law input, n bytes
 * @param n    Number of bytes
 */
void g711_alaw_to_ulaw(uint8_t *dst, const uint8_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = alaw_to_ulaw[src[i]];
}


/**
 * Transcode a buffer from µ-law to A-law (G.711 Table 3); dst may be src
 *
 * @param dst  A-law output, n bytes
 * @param src  µ-law input, n bytes
 * @param n    Number of bytes
 */
void g711_ulaw_to_alaw(uint8_t *dst, const uint8_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = ulaw_to_alaw[src[i]];
}
