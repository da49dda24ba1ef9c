/**
 * @file latch.c  Where a call's RTP may come from
 *
 * Design note.
 * - Threat: "RTP bleed". Anyone who can reach the media port can send RTP;
 *   a gateway that follows the source of whatever arrives (naive symmetric
 *   RTP) lets them hijack the call's audio both ways. Following a source
 *   that sends a run of good-looking packets is not enough either: while
 *   the caller is silent (before its first packet, or in a pause with DTX
 *   or silence suppression) nothing resets the run, and an attacker that
 *   interleaves with the caller afterwards keeps it from winning back.
 * - LATCH_STRICT (the default, as rtpengine's strict source and Asterisk's
 *   strictrtp): the source is the SDP's address and port, from the first
 *   packet on; everything else is dropped and counted, and never decides
 *   where media goes. A re-INVITE with another address makes that one the
 *   source; the same address again changes nothing.
 * - LATCH_NAT (a trunk's rtp_latching nat: callers behind NAT, whose SDP
 *   names a private address). Until media has flowed, the SDP's address
 *   is accepted, and another source is learned after a run of N packets
 *   from that one address with one SSRC and consecutive sequence numbers,
 *   spanning at least min_span_us (a burst of forged packets between two
 *   real ones cannot win). Once media has flowed, the source moves only
 *   with a re-INVITE, or to a packet that continues the current stream: its
 *   SSRC, a sequence number up to LATCH_SEQ_AHEAD ahead and a timestamp up
 *   to LATCH_TS_AHEAD ahead, once the current source has been quiet for
 *   LATCH_QUIET_US (a NAT rebinding mid-call: the old address stops). An
 *   attacker who cannot see the stream cannot guess its 32-bit SSRC; one
 *   who copies it cannot move a stream that is still flowing.
 * - Dropped packets never redirect media. The caller feeds only packets
 *   that decoded as RTP with a negotiated payload type (after SRTP's check,
 *   when the call has SRTP).
 */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "latch.h"

enum {
	LATCH_SEQ_AHEAD = 250,        /**< a move's sequence number ahead of
					   the last accepted, at most (5 s
					   of 20 ms packets)              */
	LATCH_TS_AHEAD  = 48000 * 10, /**< its timestamp ahead, at most
					   (10 s at Opus's 48 kHz clock)  */
};


static void cand_reset(struct latch *l)
{
	l->cand_count = 0;
}


/**
 * Initialise a latch (for embedding in a call struct)
 *
 * @param l     Latch to initialise
 * @param sdp   Remote media address from the SDP
 * @param mode  LATCH_STRICT or LATCH_NAT
 * @param n     (LATCH_NAT) packets a new source needs to be learned,
 *              1..LATCH_MAX_N; 0 for LATCH_DEFAULT_N
 *
 * @return 0 if success, EINVAL for a bad argument
 */
int latch_init(struct latch *l, const struct sa *sdp, enum latch_mode mode,
	       unsigned n)
{
	if (!l || !sdp || n > LATCH_MAX_N ||
	    (mode != LATCH_STRICT && mode != LATCH_NAT))
		return EINVAL;

	memset(l, 0, sizeof(*l));
	l->mode = mode;
	l->sdp  = *sdp;
	l->cur  = *sdp;
	l->n    = n ? n : LATCH_DEFAULT_N;

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
	l->flowed = false;   /* (NAT) the new address may be NATed too */
	cand_reset(l);

	return 0;
}


static enum latch_verdict take(struct latch *l, uint32_t ssrc,
				  uint16_t seq, uint32_t ts, uint64_t now,
				  enum latch_verdict v)
{
	l->flowed = true;
	l->last_us = now;
	l->ssrc = ssrc;
	l->seq = seq;
	l->ts = ts;
	cand_reset(l);
	++l->accepted;
	if (v == LATCH_SWITCH)
		++l->switches;

	return v;
}


/* (NAT, media has flowed) does this packet continue the current stream,
   from a source quiet long enough to have moved? */
static bool continues(const struct latch *l, uint32_t ssrc, uint16_t seq,
		      uint32_t ts, uint64_t now)
{
	uint16_t dseq = (uint16_t)(seq - l->seq);
	uint32_t dts = ts - l->ts;

	return ssrc == l->ssrc && dseq >= 1 && dseq <= LATCH_SEQ_AHEAD &&
		dts <= LATCH_TS_AHEAD && now >= l->last_us &&
		now - l->last_us >= LATCH_QUIET_US;
}


/* (NAT, before media has flowed) one more packet of a candidate's run;
   true when the run is complete */
static bool cand_run(struct latch *l, const struct sa *src, uint32_t ssrc,
		     uint16_t seq, uint64_t arrival_us)
{
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

	return l->cand_count >= l->n && arrival_us >= l->cand_first_us &&
		arrival_us - l->cand_first_us >= l->min_span_us;
}


/**
 * Decide what to do with a received RTP packet
 *
 * @param l           Latch
 * @param src         Source address of the datagram
 * @param ssrc        SSRC of the packet
 * @param seq         Sequence number of the packet
 * @param ts          RTP timestamp of the packet
 * @param arrival_us  Arrival time on the caller's monotonic clock [us]
 *
 * @return LATCH_ACCEPT, LATCH_SWITCH or LATCH_DROP
 */
enum latch_verdict latch_check(struct latch *l, const struct sa *src,
			       uint32_t ssrc, uint16_t seq, uint32_t ts,
			       uint64_t arrival_us)
{
	bool move;

	if (!l || !src)
		return LATCH_DROP;

	/* a source with port 0 (or no address) can never be answered:
	   foreign, whatever it sends */
	if (!sa_isset(src, SA_ALL)) {
		++l->dropped;
		return LATCH_DROP;
	}

	if (sa_cmp(&l->cur, src, SA_ALL))
		return take(l, ssrc, seq, ts, arrival_us, LATCH_ACCEPT);

	if (l->mode == LATCH_STRICT) {
		++l->dropped;
		return LATCH_DROP;
	}

	move = l->flowed ? continues(l, ssrc, seq, ts, arrival_us) :
		cand_run(l, src, ssrc, seq, arrival_us);
	if (move) {
		l->cur = *src;
		return take(l, ssrc, seq, ts, arrival_us, LATCH_SWITCH);
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
