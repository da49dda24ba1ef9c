/**
 * @file latch.h  Where a call's RTP may come from: strict by default,
 *                learning a NATed caller's address on request
 *
 * Decides, packet by packet, whether RTP from a source address is the
 * call's audio, and where the call's media is sent (latch.c has the rules
 * and the threat they answer).
 *
 *   LATCH_STRICT  only the SDP's address and port, from the first packet
 *                 on; a re-INVITE names another.
 *   LATCH_NAT     a caller behind NAT (the SDP names a private address):
 *                 the first source that sends a run of one SSRC with
 *                 consecutive sequence numbers is learned; once media has
 *                 flowed it moves only with a re-INVITE, or to a packet
 *                 that continues the current stream (its SSRC, the next
 *                 sequence numbers and timestamps) once the current
 *                 source has been quiet for LATCH_QUIET_US.
 *
 * Locking: none. A latch belongs to one call and is used only by that
 * call's media worker thread.
 */
#ifndef CB_LATCH_H
#define CB_LATCH_H

#include <stdbool.h>
#include <stdint.h>

/*
 * struct latch holds libre's struct sa by value, so libre's types must be
 * in scope: include <re.h> (or a wrapper of it) before this header, as
 * with baresip's headers. This header does not include any part of libre
 * itself: <re.h> brings re_json.h, whose JSON_* enumerators clash with
 * <jansson.h>, and libre 1.1.0's re_sa.h has no include guard, so taking
 * it alone would make a later <re.h> define struct sa twice.
 */
#ifndef RE_H__
#error "latch.h needs libre's struct sa: include <re.h> first"
#endif

/** Packets a new source must send in a row before it is learned */
#define LATCH_DEFAULT_N 3
/** Largest N accepted */
#define LATCH_MAX_N     64
/** (LATCH_NAT) how long the source must be quiet before the stream may
    move to another address [us] */
#define LATCH_QUIET_US  60000

/** Which sources a call's media may come from */
enum latch_mode {
	LATCH_STRICT = 0,   /**< the SDP's address and port only          */
	LATCH_NAT,          /**< learn the source, then follow the stream */
};

/** What to do with a packet */
enum latch_verdict {
	LATCH_ACCEPT = 0,   /**< from the current source: play it           */
	LATCH_SWITCH,       /**< (LATCH_NAT) this packet's source is now
			     *   current: play it and send media to it
			     *   from now on                                */
	LATCH_DROP,         /**< from another source: drop it               */
};

/** Latching state of one call's media; locking: none, only the call's
 *  media worker thread touches it */
struct latch {
	enum latch_mode mode;
	struct sa sdp;           /**< address from the latest SDP            */
	struct sa cur;           /**< current source and media destination   */
	unsigned  n;             /**< (NAT) packets to learn a source        */
	uint64_t  min_span_us;   /**< (NAT) least time that run spans [us]   */

	/* the stream accepted last (NAT: what a move must continue) */
	bool      flowed;        /**< a packet was accepted since the SDP    */
	uint64_t  last_us;       /**< its arrival [us]                       */
	uint32_t  ssrc;
	uint16_t  seq;
	uint32_t  ts;

	/* the candidate source */
	struct sa cand;          /**< its address                            */
	uint32_t  cand_ssrc;     /**< its SSRC                               */
	uint16_t  cand_seq;      /**< its last sequence number               */
	unsigned  cand_count;    /**< its packets in a row, 0 if none        */
	uint64_t  cand_first_us; /**< arrival of its first packet [us]       */

	/* counters */
	uint64_t  accepted;      /**< packets accepted, switches included    */
	uint64_t  dropped;       /**< packets dropped as foreign             */
	uint32_t  switches;      /**< takeovers                              */
};

int  latch_init(struct latch *l, const struct sa *sdp,
		enum latch_mode mode, unsigned n);
void latch_set_min_span(struct latch *l, uint64_t us);
int  latch_set_sdp(struct latch *l, const struct sa *sdp);
enum latch_verdict latch_check(struct latch *l, const struct sa *src,
			       uint32_t ssrc, uint16_t seq, uint32_t ts,
			       uint64_t arrival_us);
const struct sa *latch_remote(const struct latch *l);
const char *latch_verdict_str(enum latch_verdict v);

#endif
