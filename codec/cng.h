/**
 * @file cng.h  Comfort noise generation from RFC 3389 payloads
 *
 * A comfort-noise (CN) payload starts with the noise level, 0 to 127 in
 * -dBov; optional reflection coefficients follow, which this generator
 * ignores: it makes white noise at the requested level. 0 dBov is the
 * G.711 overload point: a square wave of +/-8031 in 14-bit µ-law linear,
 * +/-32124 in 16-bit (RFC 3389, 3.1). Noise is produced by a seeded
 * xorshift generator, so the output is reproducible. A level change
 * ramps over 20 ms.
 *
 * Locking: none. One instance per stream, used by one thread.
 */
#ifndef CB_CNG_H
#define CB_CNG_H

#include <stddef.h>
#include <stdint.h>

/** RMS of 0 dBov in 16-bit linear PCM */
#define CNG_REF_RMS 32124.0
/** Level byte of silence [-dBov] */
#define CNG_LEVEL_SILENT 127

struct cng;

int  cng_alloc(struct cng **cngp, uint32_t srate, uint32_t seed);
int  cng_decode(struct cng *cng, const uint8_t *payload, size_t len);
int  cng_level_set(struct cng *cng, uint8_t level);
uint8_t cng_level(const struct cng *cng);
int  cng_generate(struct cng *cng, int16_t *out, size_t n);
uint8_t cng_level_of(const int16_t *pcm, size_t n);

#endif
