/**
 * @file latch.c  Media source latching with RTP-bleed protection
 *
 * Design note.
 * - Threat: "RTP bleed". Anyone who can reach the media port can send RTP;
 *   a gateway that follows the source of whatever arrives (naive symmetric
 *   RTP) lets them hijack the call's audio in both directions. But
 *   carriers and NATs do move media legitimately: the SDP may name a
 *   private address, and a NAT binding can change mid-call.
 * - Rule: the current source (first the SDP address) is always accepted. A
 *   different source becomes a candidate, and takes over only after N
 *   packets in a row from that one address, with one SSRC and each
 *   sequence number one above the last, and no packet from the current
 *   source in between. A live stream therefore can never be displaced:
 *   the real source's next packet resets the candidate. A NAT rebinding
 *   (the old source stops, the same stream appears from a new address)
 *   takes over after exactly N packets, about N x 20 ms.
 * - An optional minimum span adds a time condition: the candidate's run
 *   must also cover min_span_us, so a burst of N forged packets sent
 *   between two real packets cannot win either.
 * - Candidate packets are never accepted as audio and never redirect media;
 *   only the packet that completes the run is (LATCH_SWITCH).
 * - A re-INVITE with a different SDP address makes that address current
 *   (the old source, even a latched one, is forgotten); the same address
 *   again changes nothing, so a re-INVITE for hold does not undo a NAT
 *   latch.
 * - The caller feeds only packets that decoded as RTP and carry a
 *   negotiated payload type; the latch looks at address, SSRC and sequence
 *   number only.
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "latch.h"


static void cand_reset(struct latch *l)
{
	l->cand_count = 0;
}


/**
 * Initialise a latch (for embedding in a call struct)
 *
 * @param l    Latch to initialise
 * @param sdp  Remote media address from the SDP
 * @param n    Packets a new source needs to take over, 1..LATCH_MAX_N;
 *             0 for LATCH_DEFAULT_N
 *
 * @return 0 if success, EINVAL for a bad argument
 */
int latch_init(struct latch *l, const struct sa *sdp, unsigned n)
{
	if (!l || !sdp || n > LATCH_MAX_N)
		return EINVAL;

	memset(l, 0, sizeof(*l));
	l->sdp = *sdp;
	l->cur = *sdp;
	l->n   = n ? n : LATCH_DEFAULT_N;

	return 0;
}


/**
 * Require a takeover run to span a minimum time
 *
 * @param l   Latch
 * @param us  Least time from the run's first to its last packet [us];
 *            0 (the default) for none
 */
void latch_set_min_span(struct latch *l, uint64_t us)
{
	if (!l)
		return;

	l->min_span_us = us;
}


/**
 * Apply the remote address of a new SDP (re-INVITE)
 *
 * @param l    Latch
 * @param sdp  Remote media address from the new SDP
 *
 * @return 0 if success, EINVAL for NULL arguments
 */
int latch_set_sdp(struct latch *l, const struct sa *sdp)
{
	if (!l || !sdp)
		return EINVAL;

	if (sa_cmp(&l->sdp, sdp, SA_ALL))
		return 0;

	l->sdp = *sdp;
	l->cur = *sdp;
	cand_reset(l);

	return 0;
}


/**
 * Decide what to do with a received RTP packet
 *
 * @param l           Latch
 * @param src         Source address of the datagram
 * @param ssrc        SSRC of the packet
 * @param seq         Sequence number of the packet
 * @param arrival_us  Arrival time on the caller's monotonic clock [us]
 *
 * @return LATCH_ACCEPT, LATCH_SWITCH or LATCH_DROP
 */
enum latch_verdict latch_check(struct latch *l, const struct sa *src,
			       uint32_t ssrc, uint16_t seq,
			       uint64_t arrival_us)
{
	if (!l || !src)
		return LATCH_DROP;

	/* a source with port 0 (or no address) can never be answered:
	   foreign, whatever it sends */
	if (!sa_isset(src, SA_ALL)) {
		++l->dropped;
		return LATCH_DROP;
	}

	if (sa_cmp(&l->cur, src, SA_ALL)) {
		cand_reset(l);
		++l->accepted;
		return LATCH_ACCEPT;
	}

	if (l->cand_count && sa_cmp(&l->cand, src, SA_ALL) &&
	    ssrc == l->cand_ssrc && seq == (uint16_t)(l->cand_seq + 1)) {
		++l->cand_count;
	}
	else {
		l->cand          = *src;
		l->cand_ssrc     = ssrc;
		l->cand_count    = 1;
		l->cand_first_us = arrival_us;
	}
	l->cand_seq = seq;

	if (l->cand_count >= l->n && arrival_us >= l->cand_first_us &&
	    arrival_us - l->cand_first_us >= l->min_span_us) {

		l->cur = *src;
		cand_reset(l);
		++l->switches;
		++l->accepted;
		return LATCH_SWITCH;
	}

	++l->dropped;
	return LATCH_DROP;
}


/**
 * Get the call's current remote media address (where to send media)
 *
 * @param l  Latch
 *
 * @return The current source, NULL if l is NULL
 */
const struct sa *latch_remote(const struct latch *l)
{
	return l ? &l->cur : NULL;
}


/**
 * Get the name of a verdict (for logs)
 *
 * @param v  Verdict
 *
 * @return Its name
 */
const char *latch_verdict_str(enum latch_verdict v)
{
	switch (v) {

	case LATCH_ACCEPT: return "accept";
	case LATCH_SWITCH: return "switch";
	case LATCH_DROP:   return "drop";
	default:           return "?";
	}
}
