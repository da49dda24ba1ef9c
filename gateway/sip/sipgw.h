/**
 * @file sipgw.h  SIP signalling: the gateway's SIP thread
 */
#ifndef CB_SIPGW_H
#define CB_SIPGW_H

#include <stdint.h>
#include "cb_re.h"

struct sipgw;
struct store;
struct worker;
struct callreg;
struct gwconf;

typedef void (sipgw_done_h)(void *arg);

int  sipgw_alloc(struct sipgw **gwp, const struct gwconf *conf,
		 struct store *store, struct worker **workers,
		 unsigned nworkers, struct callreg *reg);
struct msgq *sipgw_msgq(const struct sipgw *gw);
int  sipgw_set_workers(struct sipgw *gw, struct worker **workers,
		       unsigned nworkers);
void sipgw_shutdown(struct sipgw *gw, uint32_t grace_ms,
		    sipgw_done_h *doneh, void *arg);
uint32_t sipgw_calls(const struct sipgw *gw);
void sipgw_detach_workers(struct sipgw *gw);
void sipgw_handle_last_reports(struct sipgw *gw);

#endif
