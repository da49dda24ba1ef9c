/**
 * @file gwstats.h  The gateway's own counters: one table
 *
 * Process-wide counters of events outside any one call (a call's media
 * statistics are mstats.h's), and the sources that are over their flood
 * limits now. Any thread adds; the control thread reads (status). A new
 * counter is one line in the table.
 */
#ifndef CB_GWSTATS_H
#define CB_GWSTATS_H

#include <stdint.h>
#include "cb_re.h"

/*   id                   what it counts                                 */
#define GWSTATS_TABLE(X)                                                  \
	X(SIP_FLOOD_REFUSED)  /* INVITEs refused (or dropped) over their
				 source's flood limits                   */ \
	X(SIP_FLOOD_EPISODES) /* times a source went over its limits     */ \
	X(SIP_ACK_TIMEOUTS)   /* answered calls ended for want of an ACK */

enum gwstat {
#define X(id) GWSTAT_##id,
	GWSTATS_TABLE(X)
#undef X
	GWSTAT_COUNT
};

enum { GWSTATS_FLOODING_MAX = 16 };   /**< sources shown at once */

void     gwstats_add(enum gwstat s, uint64_t n);
uint64_t gwstats_get(enum gwstat s);
void     gwstats_flooding(const struct sa *src, uint64_t refused,
			  uint64_t since_ms, bool over);
json_t  *gwstats_json(void);

#endif
