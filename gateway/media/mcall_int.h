/**
 * @file mcall_int.h  A call's media, inside media/: struct mcall and what
 * its parts call in each other
 *
 *   mcall.c        life cycle, media parameters, SRTP and codec set-up,
 *                  statistics, reports to the SIP thread   (mcall_)
 *   mcall_rx.c     receive: RTP in, jitter buffer, decode   (mcall_rx_)
 *   mcall_tx.c     send: the tick, playout queue, encode,
 *                  RTP and RTCP out                          (mcall_tx_)
 *   mcall_agent.c  the agent side: link, messages both ways  (mcall_agent_)
 *
 * Only the files of media/ include this header. Everything here runs on
 * the call's worker thread.
 */
#ifndef CB_MCALL_INT_H
#define CB_MCALL_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <ev.h>
#include "cb_re.h"
#include "dtmf.h"
#include "gwmsg.h"
#include "latch.h"
#include "playq.h"
#include "rtcpx.h"
#include "srtpx.h"

struct alink;
struct jb;
struct media_start;
struct worker;
struct xcode;

enum {
	MCALL_FRAME_MS = 20,  /**< agent frame, jitter buffer slot [ms] */
};

enum mc_state {
	MC_CONNECTING = 0,    /**< WebSocket being opened          */
	MC_READY,             /**< start sent, waiting for ANSWERED */
	MC_LIVE,              /**< media both ways                 */
	MC_ENDING,            /**< asked the SIP thread to end     */
};

/*
 * The media timers (the jitter buffer's, the send tick, RTCP) run at this
 * libev priority, below all input (RTP, RTCP, the agent's WebSocket, the
 * worker's queue: 0). libev runs a loop iteration's pending watchers by
 * priority, and within one priority the timers first: so after a worker
 * woke late, the jitter buffer would conceal packets waiting in its socket
 * and the send tick run dry before the agent's frame is read.
 */
#define MCALL_TICK_PRI (-1)

/**
 * The media side of one call. Worker thread only; no locks.
 */
struct mcall {
	struct le he;                 /**< in the worker's call table     */
	uint64_t id;
	struct worker *w;
	struct ev_loop *loop;
	struct media_start *ms;       /**< parameters (owned)             */
	struct media_params mp;       /**< agreed media (from SIP)        */
	bool have_mp;
	enum mc_state state;
	struct alink *link;
	struct media_stats st;

	/* agent stream (mcall_agent.c) */
	uint32_t ws_seq;              /**< last sequenceNumber sent       */
	uint32_t chunk;               /**< media chunks sent              */
	uint64_t t_stream_us;         /**< when start was sent            */
	uint64_t media_t0_ms;         /**< timestamp of chunk 1 [ms]      */
	unsigned addr_next;           /**< agent address to try next      */
	ev_timer conn_tmr;            /**< an address's turn to connect   */

	/* codec <-> agent format */
	struct xcode *xc;
	struct jb *jb;
	ev_timer jb_tmr;              /**< next jitter buffer slot        */
	bool jb_pending;              /**< packets put since last drain   */
	uint64_t jb_armed;            /**< due time jb_tmr is set for [us] */

	/* RTP receive (mcall_rx.c) */
	ev_io rtp_io;
	ev_io rtcp_io;
	int rtp_fd, rtcp_fd;
	bool dual;                    /**< sockets are IPv6 (rtp_address
					   ::): IPv4 peers are v4-mapped */
	struct latch latch;           /**< where media comes from and goes */
	uint64_t last_rx_us;

	/* RFC 4733 telephone-event, when negotiated */
	bool dtmf_on;
	struct dtmf_rx dtmf_rx;       /**< key presses from the caller     */
	struct dtmf_tx dtmf_tx;       /**< key presses from the agent      */

	/* SRTP, when agreed in SDP */
	struct srtpx *srtp;
	int srtp_suite;
	uint8_t srtp_tx_key[SRTPX_KEY_LEN], srtp_rx_key[SRTPX_KEY_LEN];

	/* RTCP */
	struct rtcpx rtcp;
	bool rtcp_on;
	ev_timer rtcp_tmr;

	/* RTP send (mcall_tx.c) */
	ev_timer tx_tmr;
	uint64_t tx_next_us;          /**< next tick, absolute [us]       */
	uint32_t ssrc;
	uint16_t seq;
	uint32_t ts;
	bool tx_marker;
	uint32_t tx_ms;               /**< packet time we send [ms]       */
	int64_t ph_wmin;              /**< least wait for the tick [us]   */
	unsigned ph_n;                /**< arrivals timed in this window  */
	int64_t ph_extra;             /**< margin above the least [us]    */
	uint64_t ph_under_us;         /**< tick that ran dry mid-speech   */
	bool tx_held;                 /**< tick waiting for a late frame  */
	bool tx_held_noted;           /**< ... and the phase counted it   */
	bool tx_had_audio;            /**< the last tick sent agent audio */
	unsigned tx_empty;            /**< ticks in a row with no audio   */
	size_t bl_min, bl_max;        /**< queue depth this window [bytes] */
	unsigned bl_n;                /**< ticks in this window           */
	size_t bl_trim;               /**< bytes we may still trim        */
	size_t bl_skip;               /**< ... more, for ticks a stalled
					   worker skipped [bytes]          */
	uint32_t tx_samples;          /**< RTP clock units per packet     */
	struct playq *pq;
	size_t outframe_size;         /**< agent bytes per packet time    */
};

/* mcall.c */
void mcall_report(struct mcall *mc, int id, enum end_reason reason,
		  const char *detail);
void mcall_end_request(struct mcall *mc, enum end_reason reason,
		       const char *detail);

/* mcall_rx.c */
void mcall_rx_init(struct mcall *mc);
void mcall_rx_resume(struct mcall *mc);

/* mcall_tx.c */
int  mcall_tx_init(struct mcall *mc);
void mcall_tx_start(struct mcall *mc, uint64_t now);
void mcall_tx_phase_note(struct mcall *mc);
void mcall_tx_release(struct mcall *mc);
void mcall_tx_rtcp_send(struct mcall *mc, bool bye);


/**
 * Agent audio was queued: a tick holding for it (tx_hold, mcall_tx.c)
 * sends it now, once a whole packet time is there. Inline: it runs per
 * agent media message and is rarely more than a test of tx_held.
 *
 * @param mc  The call
 */
static inline void mcall_tx_fed(struct mcall *mc)
{
	if (mc->tx_held && mc->state == MC_LIVE &&
	    playq_len(mc->pq) >= mc->outframe_size) {
		++mc->st.agent_held;
		mcall_tx_release(mc);
	}
}

/* mcall_agent.c */
int  mcall_agent_connect(struct mcall *mc);
void mcall_agent_frame(struct mcall *mc, const uint8_t *frame, size_t len);
void mcall_agent_dtmf(struct mcall *mc, char digit);
void mcall_agent_mark(const char *name, bool cleared, void *arg);
void mcall_agent_stop(struct mcall *mc);

#endif
