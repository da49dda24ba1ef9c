/**
 * @file callreg.h  Registry of calls in progress, for the control socket
 *
 * The SIP thread adds and removes entries and sets their state; workers
 * publish each call's media statistics about once a second; the control
 * thread reads. One mutex, never taken per packet. Ended calls stay in a
 * short history (CALLREG_HISTORY) with their final statistics, so an
 * operator (or a test) can read how a call went after it hung up.
 */
#ifndef CB_CALLREG_H
#define CB_CALLREG_H

#include <stdint.h>
#include "cb_re.h"
#include "gwmsg.h"

struct callreg;

enum { CALLREG_HISTORY = 200 };   /**< ended calls kept for views */

/** Facts about a call that do not change after set-up */
struct callreg_info {
	uint64_t id;
	char call_sid[40];
	char number[24];          /**< the called E.164 number   */
	char from[128];           /**< caller (From user or URI) */
	char agent_id[72];
	char trunk_id[72];
	char codec[8];
	unsigned worker;
	enum call_state state;     /**< to begin with         */
};

int  callreg_alloc(struct callreg **regp);
int  callreg_add(struct callreg *reg, const struct callreg_info *info);
void callreg_state(struct callreg *reg, uint64_t id, enum call_state state);
void callreg_publish(struct callreg *reg, uint64_t id,
		     const struct media_stats *st);
void callreg_remove(struct callreg *reg, uint64_t id, enum call_state state,
		    enum end_reason reason, const struct media_stats *final);
uint32_t callreg_count(struct callreg *reg);
int  callreg_totals(struct callreg *reg, json_t *obj);
int  callreg_list(struct callreg *reg, json_t *arr);
int  callreg_recent(struct callreg *reg, json_t *arr);
int  callreg_get(struct callreg *reg, const char *call_sid, json_t *obj);

#endif
