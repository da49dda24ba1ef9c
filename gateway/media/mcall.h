/**
 * @file mcall.h  A call's media on a worker: RTP <-> agent WebSocket
 */
#ifndef CB_MCALL_H
#define CB_MCALL_H

#include <stdint.h>
#include "gwmsg.h"

struct media_start;
struct mcall;
struct worker;

int  mcall_start(struct worker *w, struct media_start *ms);
void mcall_answered(struct mcall *mc, const struct media_params *mp);
void mcall_update(struct mcall *mc, const struct media_params *mp);
void mcall_dtmf(struct mcall *mc, char digit, uint32_t duration);
void mcall_stop(struct mcall *mc, enum end_reason reason);
uint64_t mcall_id(const struct mcall *mc);
void mcall_stats(const struct mcall *mc, struct media_stats *st);

#endif
