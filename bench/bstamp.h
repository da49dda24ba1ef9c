/**
 * @file bstamp.h  Send timestamps carried in µ-law audio bytes
 *
 * For PCMU calls to a µ-law (or l16) agent a gateway forwards the audio
 * bytes unchanged, so the harness writes a small record into the first
 * bytes of every 20 ms frame: a magic, the call index, the frame number
 * and the send time; the agent simulator adds its own send time when it
 * echoes the frame. Each record byte is written as two bytes 0xC0 | nibble:
 * no such byte is µ-law's negative zero (0x7F, which does not survive a
 * decode/encode round trip) or silence (0xFF), so the record also survives
 * a µ-law -> 16-bit linear -> µ-law conversion (an l16 agent).
 *
 * Layout (record bytes, each written as 2 wire bytes):
 *
 *   0..1   magic 0xCB 0x5A
 *   2..4   call index (24 bit)
 *   5..8   frame number (32 bit)
 *   9..12  send time, low 32 bits of CLOCK_MONOTONIC [us]
 *   13     check: xor of bytes 0..12
 *   14..17 echo send time, low 32 bits [us] (agent simulator)
 *   18..19 echo frame number of the call (agent simulator, 16 bit)
 *   20     check: xor of bytes 14..19, 0xE5 when set
 *
 * Times are the low 32 bits of CLOCK_MONOTONIC in [us]; differences are
 * taken modulo 2^32 (valid below 71 minutes). Every process of the harness
 * runs on the same host, so they share that clock.
 */
#ifndef CB_BSTAMP_H
#define CB_BSTAMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Wire bytes a full stamp occupies at the start of a frame */
#define BSTAMP_LEN 42

/** A decoded stamp */
struct bstamp {
	uint32_t call;     /**< call index (24 bit)                    */
	uint32_t seq;      /**< frame number                           */
	uint32_t t0;       /**< generator send time [us], low 32 bits   */
	uint32_t t2;       /**< echo send time [us], low 32 bits        */
	uint16_t eseq;     /**< echo frame number (agent simulator)     */
	bool has_t2;       /**< t2 and eseq were written                */
};

int  bstamp_write(uint8_t *ulaw, size_t len, uint32_t call, uint32_t seq,
		  uint32_t t0);
int  bstamp_write_echo(uint8_t *ulaw, size_t len, uint32_t t2,
		       uint16_t eseq);
int  bstamp_read(struct bstamp *st, const uint8_t *ulaw, size_t len);
int64_t bstamp_diff(uint32_t later, uint32_t earlier);

#endif
