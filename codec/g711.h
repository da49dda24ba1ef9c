/**
 * @file g711.h  ITU-T G.711 µ-law and A-law (PCMU/PCMA), bit-exact
 *
 * Linear samples are 16-bit two's complement. The laws use the top 14 bits
 * (µ-law) and 13 bits (A-law) of them, as the ITU-T G.191 reference
 * implementation does: negative inputs are taken in one's complement, so
 * -1 encodes like the smallest negative step, never like +0.
 *
 * µ-law has two codes for zero: 0xFF (+0) and 0x7F (-0). Both decode to 0,
 * and 0 encodes to 0xFF, so 0x7F is the one code that does not survive
 * decode -> encode (it comes back as 0xFF). A-law has no zero code: the
 * smallest magnitudes decode to +8 (0xD5) and -8 (0x55).
 *
 * The A<->µ transcoders implement Tables 3 and 4 of G.711 (11/88): a byte
 * goes straight to the other law through a 256-entry table, never through
 * 16-bit linear. They are transparent for double conversion except where
 * the Recommendation says otherwise (µ-A-µ raises µ output value numbers
 * 0, 2, ..., 14 by one; A-µ-A flips bit 8 of A numbers 26, 28, 30, 32, 45,
 * 47, 63 and 80).
 *
 * One name per conversion: g711_<from>2<to>() converts one sample
 * between a law and linear; g711_<law>_decode()/_encode() convert a
 * buffer, g711_<from>_to_<to>() transcodes a buffer (one byte with n = 1).
 * The caller picks the law; there is no law-dispatching wrapper.
 *
 * All functions are pure: callable from any thread. Bulk functions accept
 * dst == src where the element sizes match (transcoding in place).
 */
#ifndef CB_G711_H
#define CB_G711_H

#include <stddef.h>
#include <stdint.h>

/** Samples in one 20 ms G.711 frame at 8 kHz */
#define G711_FRAME_SAMPLES 160

/** Byte a silent µ-law stream carries (+0) */
#define G711_ULAW_SILENCE 0xff
/** Byte a silent A-law stream carries (+8, the smallest positive value) */
#define G711_ALAW_SILENCE 0xd5

uint8_t g711_lin2ulaw(int16_t x);
int16_t g711_ulaw2lin(uint8_t u);
uint8_t g711_lin2alaw(int16_t x);
int16_t g711_alaw2lin(uint8_t a);

void g711_ulaw_decode(int16_t *dst, const uint8_t *src, size_t n);
void g711_ulaw_encode(uint8_t *dst, const int16_t *src, size_t n);
void g711_alaw_decode(int16_t *dst, const uint8_t *src, size_t n);
void g711_alaw_encode(uint8_t *dst, const int16_t *src, size_t n);
void g711_alaw_to_ulaw(uint8_t *dst, const uint8_t *src, size_t n);
void g711_ulaw_to_alaw(uint8_t *dst, const uint8_t *src, size_t n);

#endif
