/**
 * @file bonset.h  Energy-onset latency markers on a shared time grid
 *
 * Where audio bytes do not survive the gateway (A-law transcoded, Opus,
 * resampled agent audio), the harness measures one-way delay with markers
 * in the audio itself. Every process of the harness runs on one host and
 * reads the same CLOCK_MONOTONIC, so they agree on a grid of marker times
 *
 *     G_k = offset + k * period          (CLOCK_MONOTONIC [us])
 *
 * and the sender renders its audio ("the tape") as a function of capture
 * time: speech-like audio from a file, except for GUARD ms of silence
 * before each G_k and a BURST ms tone starting exactly at G_k (at full
 * phase, so its first sample is already loud). A frame covers the capture
 * times [a, a + 20 ms) and is sent at a + 20 ms.
 *
 * The receiver runs a detector over the audio as it arrives: the first
 * sample above the onset threshold after at least QUIET ms of samples
 * below the quiet threshold (and at most RISE ms after the quiet ended,
 * for codecs that smear the attack) is a candidate, confirmed when the
 * next CHECK ms hold the marker tone (Goertzel), so that speech starting
 * after a pause (call start, a gap in the stream) is never taken for a
 * marker. A chunk of n samples at rate r, received at time T, with the
 * onset at sample s, gives
 *
 *     t_on = T - (n - s) / r,    latency = t_on - G_k
 *
 * with G_k the grid point nearest to t_on (unambiguous while the latency
 * is below period / 2). For a gateway that forwards a frame the moment
 * its last sample is available this is exactly the network and
 * processing delay; audio re-chunking, playout queues and codec delays
 * show up as they would for a listener.
 *
 * Resolution: one sample (125 us at 8 kHz) for G.711. Opus spreads the
 * onset over its MDCT overlap; the harness pre-shifts the tape by the
 * encoder's lookahead so a decoded onset lands on the grid, and
 * test_benchlib measures the remaining error (see bench/README.md).
 *
 * Speech must not contain QUIET ms below the quiet threshold, or its
 * pauses would read as marker onsets: bonset_audio_check() says so.
 */
#ifndef CB_BONSET_H
#define CB_BONSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	BONSET_GUARD_MS = 100,     /**< silence before a marker [ms]        */
	BONSET_BURST_MS = 40,      /**< marker tone length [ms]             */
	BONSET_QUIET_MS = 60,      /**< quiet needed before an onset [ms]   */
	BONSET_RISE_MS  = 5,       /**< quiet to loud within this [ms]      */
	BONSET_CHECK_MS = 10,      /**< tone check after an onset [ms]      */
	BONSET_TONE_HZ  = 1000,    /**< marker tone [Hz]                    */
	BONSET_TONE_AMP = 16000,   /**< marker tone peak (-6 dBFS)          */
	BONSET_QUIET    = 300,     /**< quiet threshold (-41 dBFS)          */
	BONSET_LOUD     = 4000,    /**< onset threshold (-18 dBFS)          */
};

/** Share of a check window's energy the marker tone must hold */
#define BONSET_TONE_SHARE 0.6

/** The marker grid */
struct bgrid {
	uint64_t period_us;        /**< between markers [us], >= 200 ms    */
	uint64_t offset_us;        /**< phase of the grid [us]             */
};

/** Speech-like audio, looped; 16-bit mono */
struct baudio {
	int16_t *pcm;              /**< samples (owned, mem_deref)          */
	size_t n;                  /**< number of samples                   */
	uint32_t rate;             /**< [Hz]                               */
};

int  baudio_load(struct baudio **ap, const char *path, uint32_t rate);
int  baudio_resample(struct baudio **ap, const struct baudio *src,
		     uint32_t rate);
int  baudio_check(const struct baudio *a, size_t *atp);

void bonset_render(const struct bgrid *g, const struct baudio *speech,
		   uint64_t t_us, int16_t *pcm, size_t n);

/** Onset detector state for one stream */
struct bonset_det {
	uint32_t rate;             /**< [Hz]                               */
	uint32_t quiet_need;       /**< samples of quiet before an onset    */
	uint32_t quiet;            /**< current run of quiet samples        */
	uint32_t rise_max;         /**< samples allowed from quiet to loud   */
	uint32_t rise;             /**< samples since the quiet ended        */
	bool armed;                /**< quiet long enough: next loud counts  */
	bool pending;              /**< candidate onset being checked        */
	uint64_t t_on;             /**< its arrival [us]                     */
	uint32_t win;              /**< check window [samples]               */
	uint32_t got;              /**< samples of it seen                   */
	double coeff, s1, s2;      /**< Goertzel at the tone frequency       */
	double energy;             /**< of the window                        */
	uint64_t rejected;         /**< candidates that were not the tone    */
};

void bonset_det_init(struct bonset_det *d, uint32_t rate);
bool bonset_det_feed(struct bonset_det *d, const int16_t *pcm, size_t n,
		     uint64_t t_recv, uint64_t *t_onp);
int64_t bonset_latency(const struct bgrid *g, uint64_t t_on);
uint64_t bonset_now_us(void);

#endif
