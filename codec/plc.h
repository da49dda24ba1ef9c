/**
 * @file plc.h  Packet loss concealment by waveform repetition (G.711)
 *
 * Works on 16-bit linear PCM at any rate from 8 to 48 kHz. Feed every good
 * decoded block through plc_good() and ask plc_conceal() for every missing
 * one, in stream order; blocks may have any length (a jitter-buffer slot
 * split into segments, a 10 ms packet, a whole 20 ms frame).
 *
 * On a loss the last pitch period (estimated by normalised
 * cross-correlation over recent history) is repeated, with a smooth join
 * to the last good sample and smoothed loops. After 10 ms of loss it
 * repeats two periods, after 20 ms three, so that long gaps do not buzz.
 * The level holds for 10 ms, then fades linearly to silence at 60 ms. The
 * first good block after a loss is cross-faded from the continued
 * concealment over 3 to 9 ms, growing with the length of the loss. Good
 * blocks that follow good blocks are left bit-exact.
 *
 * Locking: none. One instance per stream, used by one thread.
 */
#ifndef CB_PLC_H
#define CB_PLC_H

#include <stddef.h>
#include <stdint.h>

/** Loss concealed at full level [ms] */
#define PLC_HOLD_MS 10
/** Loss after which the concealment is silent [ms] */
#define PLC_FADE_MS 60

struct plc;

int  plc_alloc(struct plc **plcp, uint32_t srate);
int  plc_good(struct plc *plc, int16_t *pcm, size_t n);
int  plc_conceal(struct plc *plc, int16_t *out, size_t n);
void plc_reset(struct plc *plc);
uint32_t plc_pitch(const struct plc *plc);

#endif
