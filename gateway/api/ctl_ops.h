/**
 * @file ctl_ops.h  Control socket: the ops (internal to ctl.c)
 */
#ifndef CB_CTL_OPS_H
#define CB_CTL_OPS_H

#include <stdint.h>
#include "ctl.h"

/** What the ops work on */
struct ctlop_env {
	struct store *store;
	struct ctl_gw gw;       /**< the gateway's calls, figures */
	bool has_gw;            /**< false: no gateway (tests)    */
	uint64_t start_ms;      /**< CLOCK_MONOTONIC at start [ms] */
	const struct ctl *ctl;  /**< for ctl_stats()                */
};

void ctl_stats(const struct ctl *ctl, json_t *o);

char *ctlop_handle(const struct ctlop_env *env, const char *line,
		   size_t len, const char *who, size_t *lenp);
char *ctlop_error(const char *code, const char *msg, size_t *lenp);
uint64_t ctlop_now_ms(void);

#endif
