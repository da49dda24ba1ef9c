/**
 * @file resamp.h  Sample-rate conversion of mono 16-bit audio (SpeexDSP)
 */
#ifndef CB_RESAMP_H
#define CB_RESAMP_H

#include <stdint.h>

/** Rates accepted [Hz]: SpeexDSP's filter grows with the ratio */
#define RESAMP_RATE_MIN 4000
#define RESAMP_RATE_MAX 192000

struct resamp;

int  resamp_alloc(struct resamp **rp, uint32_t in_rate, uint32_t out_rate,
		  uint32_t quality);
int  resamp_process(struct resamp *r, const int16_t *in, uint32_t in_n,
		    int16_t *out, uint32_t out_max);
void resamp_reset(struct resamp *r);
uint32_t resamp_out_rate(const struct resamp *r);
uint32_t resamp_in_rate(const struct resamp *r);

#endif
