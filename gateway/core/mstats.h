/**
 * @file mstats.h  A call's media statistics: one table, one line each
 *
 * The table makes the struct the worker fills (struct media_stats), the
 * copy from the jitter buffer's own statistics, the members of "stats" in
 * the control socket's call views (docs/control-protocol.md) and the
 * figures in the end-of-call log line. A new statistic is one line here.
 *
 * Columns:
 *   name   the field, and its key in the view
 *   type   U64 (a counter), U32 (a level) or DBL
 *   from   JB: copied from struct jb_stats's member of the same name;
 *          XC: from struct xcode_stats's; OWN: set by the call itself
 *   log    LOG: in the end-of-call log line; NOLOG: only in views
 */
#ifndef CB_MSTATS_H
#define CB_MSTATS_H

#include <stdint.h>
#include "cb_re.h"

/** "stats": the call's own counters */
#define MSTATS_CALL(X)                                                    \
	X(rtp_rx,        U64, OWN, LOG)   /* RTP packets accepted        */ \
	X(rtp_tx,        U64, OWN, LOG)   /* RTP packets sent            */ \
	X(rtp_foreign,   U64, OWN, LOG)   /* dropped: wrong source       */ \
	X(rtp_bad,       U64, OWN, LOG)   /* dropped: malformed or PT    */ \
	X(srtp_fail,     U64, OWN, NOLOG) /* SRTP/SRTCP auth or replay   */ \
	X(ws_tx_media,   U64, OWN, LOG)   /* media messages to the agent */ \
	X(ws_tx_dropped, U64, OWN, LOG)   /* ... dropped: it was not
					     reading                     */ \
	X(ws_rx_media,   U64, OWN, LOG)   /* media messages from it      */ \
	X(agent_bytes,   U64, OWN, NOLOG) /* agent audio received [bytes] */ \
	X(agent_dropped, U64, OWN, LOG)   /* agent audio dropped: overflow,
					     odd 16-bit frames [bytes]   */ \
	X(agent_trimmed, U64, OWN, LOG)   /* silent agent frames trimmed */ \
	X(agent_late,    U64, OWN, LOG)   /* agent frames after their tick */ \
	X(agent_held,    U64, OWN, LOG)   /* ... of which the tick waited
					     for                         */ \
	X(marks,         U64, OWN, NOLOG) /* marks echoed                */ \
	X(dtmf_rx,       U64, OWN, NOLOG) /* key presses from the caller */ \
	X(dtmf_tx,       U64, OWN, NOLOG) /* key presses from the agent  */

/** "stats.jitter_buffer": rtp/jb.h's statistics (received, not RTP
    packets: every packet the buffer was given) */
#define MSTATS_JB(X)                                                      \
	X(received,      U64, JB,  NOLOG)                                   \
	X(lost,          U64, JB,  LOG)                                     \
	X(late,          U64, JB,  LOG)                                     \
	X(duplicate,     U64, JB,  LOG)                                     \
	X(reordered,     U64, JB,  LOG)                                     \
	X(dropped,       U64, JB,  NOLOG)                                   \
	X(concealed,     U64, JB,  LOG)                                     \
	X(silence,       U64, JB,  NOLOG)                                   \
	X(inserted,      U64, JB,  NOLOG)                                   \
	X(skipped,       U64, JB,  NOLOG)                                   \
	X(depth_ms,      U32, JB,  NOLOG)                                   \
	X(depth_max_ms,  U32, JB,  NOLOG)                                   \
	X(target_ms,     U32, JB,  NOLOG)                                   \
	X(wait_avg_us,   U32, JB,  NOLOG)                                   \
	X(wait_max_us,   U32, JB,  NOLOG)                                   \
	X(jitter_ms,     DBL, OWN, LOG)   /* RFC 3550 interarrival [ms]  */

/** "stats.decoder": the caller's audio through the decoder (media/xcode.h);
    a slot is one packet time to the agent */
#define MSTATS_DECODER(X)                                                   \
	X(passthrough,   U64, XC,  NOLOG) /* slots copied, not decoded   */ \
	X(decoded,       U64, XC,  NOLOG) /* slots decoded whole         */ \
	X(concealed,     U64, XC,  LOG)   /* slots with a loss concealed
					     (PLC, or FEC for Opus)      */ \
	X(fec,           U64, XC,  LOG)   /* lost Opus frames recovered by
					     in-band FEC                 */ \
	X(decode_errors, U64, XC,  LOG)   /* payloads the decoder refused */

/** "stats.remote": the caller's view, from its RTCP reports */
#define MSTATS_REMOTE(X)                                                  \
	X(fraction_lost, DBL, OWN, NOLOG) /* 0..1                        */ \
	X(jitter_ms,     DBL, OWN, NOLOG) /* [ms]                        */ \
	X(rtt_ms,        DBL, OWN, NOLOG) /* round trip [ms]             */

#define MSTATS_CTYPE_U64 uint64_t
#define MSTATS_CTYPE_U32 uint32_t
#define MSTATS_CTYPE_DBL double
#define MSTATS_FIELD(name, type, from, log) MSTATS_CTYPE_##type name;

/** Media statistics of one call, reported in CALL_GONE and views */
struct media_stats {
	MSTATS_CALL(MSTATS_FIELD)
	struct {
		MSTATS_JB(MSTATS_FIELD)
	} jb;
	struct {
		MSTATS_DECODER(MSTATS_FIELD)
	} decoder;
	struct {
		MSTATS_REMOTE(MSTATS_FIELD)
	} remote;
};

json_t *mstats_json(const struct media_stats *st);
int     mstats_log(struct re_printf *pf, const struct media_stats *st);

#endif
