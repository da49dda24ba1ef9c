/**
 * @file sigq.h  Test signals and objective quality measures
 *
 * For tests and test tools. A deterministic speech-like signal (voiced
 * harmonics of a gliding pitch through three moving formants, with a
 * syllable envelope and pauses), and the measures used to decide
 * whether decoded audio is the source: delay search by cross-correlation,
 * SNR, segmental SNR, normalised correlation and log-spectral distance
 * at a given delay.
 */
#ifndef CB_SIGQ_H
#define CB_SIGQ_H

#include <stddef.h>
#include <stdint.h>

void   sigq_speech(int16_t *x, size_t n, uint32_t rate, double level_db,
		   uint32_t seed);
void   sigq_tones(int16_t *x, size_t n, uint32_t rate, const double *hz,
		  size_t ntones, double level_db);
size_t sigq_delay(const int16_t *ref, const int16_t *y, size_t n,
		  size_t max_delay);
double sigq_snr(const int16_t *ref, const int16_t *y, size_t n,
		size_t delay);
double sigq_segsnr(const int16_t *ref, const int16_t *y, size_t n,
		   size_t delay, size_t seg);
double sigq_corr(const int16_t *ref, const int16_t *y, size_t n,
		 size_t delay);
double sigq_lsd(const int16_t *ref, const int16_t *y, size_t n,
		size_t delay, uint32_t rate, double max_hz);
double sigq_rms_db(const int16_t *x, size_t n);

#endif
