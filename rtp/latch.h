/**
 * @file latch.h  Media source latching with RTP-bleed protection
 *
 * Decides, packet by packet, whether RTP from a source address is the
 * call's audio, and where the call's media is sent. The remote address
 * starts as the one in the SDP. Media from it is accepted. Another source
 * takes over only after LATCH_DEFAULT_N (or the configured N) valid packets
 * in a row from it, with one SSRC and consecutive sequence numbers, with no
 * packet from the current source in between; until then its packets are
 * dropped and never change where media goes.
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

/** Packets a new source must send in a row before it takes over */
#define LATCH_DEFAULT_N 3
/** Largest N accepted */
#define LATCH_MAX_N     64

/** What to do with a packet */
enum latch_verdict {
	LATCH_ACCEPT = 0,   /**< from the current source: play it           */
	LATCH_SWITCH,       /**< this packet completed a takeover: the
			     *   source is now current; play it and send
			     *   media to it from now on                    */
	LATCH_DROP,         /**< from another source: drop it               */
};

/** Latching state of one call's media; locking: none, only the call's
 *  media worker thread touches it */
struct latch {
	struct sa sdp;           /**< address from the latest SDP            */
	struct sa cur;           /**< current source and media destination   */
	unsigned  n;             /**< packets needed to take over            */
	uint64_t  min_span_us;   /**< least time a takeover run spans [us]   */

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

int  latch_init(struct latch *l, const struct sa *sdp, unsigned n);
void latch_set_min_span(struct latch *l, uint64_t us);
int  latch_set_sdp(struct latch *l, const struct sa *sdp);
enum latch_verdict latch_check(struct latch *l, const struct sa *src,
			       uint32_t ssrc, uint16_t seq,
			       uint64_t arrival_us);
const struct sa *latch_remote(const struct latch *l);
const char *latch_verdict_str(enum latch_verdict v);

#endif
