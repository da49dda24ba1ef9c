/**
 * @file ctl.h  The control socket: a Unix socket speaking newline-delimited
 *              JSON, served by its own thread ("cb-ctl")
 *
 * Protocol and error codes: docs/control-protocol.md.
 *
 * The thread answers agents.*, trunks.* and numbers.* from the store
 * (config/store.h) and status itself. For status it fills version, uptime
 * and counts, then calls the gateway's handler so that it can add what it
 * knows (calls in progress). Ops named calls.* go to the handler whole.
 */
#ifndef CB_CTL_H
#define CB_CTL_H

#include "cb_re.h"

struct ctl;
struct store;

/**
 * Handler for ops the gateway answers itself; runs on the cb-ctl thread
 *
 * @param op     "status" or any "calls.*" op
 * @param req    The whole request object
 * @param reply  Reply object to add members to (id and ok are set by ctl)
 * @param arg    Handler argument
 *
 * @return 0 for success, or ENOENT (not_found), EINVAL (bad_request),
 *         ENOSYS (unknown_op), other errno (internal). On error the reply
 *         members are dropped; a string member "message" that the handler
 *         set becomes the error message.
 */
typedef int (ctl_op_h)(const char *op, const json_t *req, json_t *reply,
		       void *arg);

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
	      ctl_op_h *oph, void *arg);

#endif
