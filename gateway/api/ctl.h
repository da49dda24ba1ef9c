/**
 * @file ctl.h  The control socket: a Unix socket speaking newline-delimited
 *              JSON, served by its own thread ("cb-ctl")
 *
 * Protocol and error codes: docs/control-protocol.md.
 *
 * The thread answers agents.*, trunks.* and numbers.* from the store
 * (config/store.h), status, and calls.* from the call registry
 * (core/callreg.h). It never blocks the SIP thread or a media worker: the
 * store's disk writes happen here, and the registry's lock is held only
 * to copy a view.
 */
#ifndef CB_CTL_H
#define CB_CTL_H

#include "cb_re.h"

struct ctl;
struct store;
struct callreg;

/** What the control socket shows of the running gateway */
struct ctl_gw {
	struct callreg *reg;      /**< calls in progress and ended      */
	uint32_t max_calls;       /**< admission limit                  */
	uint32_t workers;         /**< media worker threads             */
	const char *account_sid;  /**< accountSid agents are given      */
};

/** Limits of the control socket */
enum {
	CTL_LINE_MAX    = 64 * 1024,        /**< request line [bytes]       */
	CTL_CLIENTS_MAX = 1000,             /**< clients at once            */
	CTL_OUT_SOFT    = 256 * 1024,       /**< unsent output at which the
					         client's requests wait [bytes] */
	CTL_OUT_HARD    = 64 * 1024 * 1024, /**< unsent output at which the
					         client is dropped [bytes]  */
};

int ctl_alloc(struct ctl **ctlp, const char *path, struct store *store,
	      const struct ctl_gw *gw);

#endif
