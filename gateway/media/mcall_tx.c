/**
 * @file mcall_tx.c  A call's media, send: the 20 ms tick, the playout
 * queue, encode, RTP and RTCP out
 *
 * Design note.
 *
 *   agent --WebSocket--> `media` --> base64 --> playout queue
 *        --> tx tick (20 ms) --> encode --> RTP --> caller
 *
 * The tx tick runs on an absolute 20 ms schedule from the monotonic clock,
 * from the moment the call is answered until it ends, sending silence when
 * the agent has nothing queued, so the carrier always sees a steady stream.
 * Its phase follows the agent: an agent that sends in real time would
 * otherwise wait half a packet time on average, a whole one at worst, for
 * the next tick. So the arrival of each frame into an empty queue is
 * timed against the next tick (mcall_tx_phase_note), and once per window
 * the tick moves (by at most PHASE_STEP_US) towards the margin after the
 * latest of those arrivals. The rate stays exactly one packet per packet
 * time; only the phase drifts, slowly, to where the agent's audio is. The
 * margin adapts like a jitter buffer's target: a frame that arrives just
 * after a tick that ran dry while the agent was talking missed it (and
 * will stand in the queue a packet time, see below), so the margin grows
 * by PHASE_MISS_US, up to PHASE_EXTRA_MAX above PHASE_TARGET_US, and
 * shrinks back by PHASE_DECAY_US per window while nothing misses (1 ms in
 * 20 s). A miss costs a packet time until the next pause, a margin only
 * what it is: so it starts PHASE_EXTRA_START above the least, grows fast
 * and shrinks slowly. And a tick that finds the queue dry right after
 * agent audio holds (tx_hold): it waits for the frame that is due until
 * the least margin before the next tick, and sends it the moment it
 * arrives (mcall_tx_fed, inline in mcall_int.h). A late frame then
 * costs that one packet its lateness as jitter, and the margin
 * PHASE_HELD_US, instead of a gap in the caller's audio and a packet
 * time more for every frame after it.
 * The price: the silence packet at the end of a talk spurt goes out that
 * much late, once. When the agent starts to talk (its first frame, or the
 * first after PHASE_PAUSE ticks with an empty queue) the tick jumps to
 * the margin after that frame at once: the caller hears silence packets
 * until then, so a jump costs nothing, and the slow steering would take
 * seconds and miss ticks on the way whenever the frames start near one.
 *
 * A real-time agent's frames can still bunch (a stall on either side):
 * then one frame more waits in the queue for the rest of the call, since
 * frames come in and go out at the same rate. So the queue depth is
 * watched at each tick: when over the last second it never fell below
 * one frame yet never rose above backlog_trim_ms (more than that is an
 * agent sending ahead of real time, whose audio is never touched), the
 * standing frames are trimmed, each only when it is silent. A worker the
 * host held up more than 3 ticks skips the ticks it missed (the RTP
 * timestamp jumps): the frames that came in meanwhile would stand for
 * good, above backlog_trim_ms, so that many silent packet times may be
 * trimmed too (backlog_skipped).
 *
 * An agent's key press (RFC 4733) takes the place of the audio of its
 * packet times; the audio waits in the queue meanwhile. Marks ride in the
 * playout queue and are echoed (mcall_agent_mark) when the audio before
 * them has been sent. Nothing here takes a lock or allocates per packet.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <ev.h>
#include "cb_re.h"
#include "g711.h"
#include "mcall_int.h"
#include "media_start.h"
#include "playq.h"
#include "rtpkt.h"
#include "worker.h"
#include "xcode.h"

enum {
	PLAYQ_MAX      = 8000 * 2 * 600,/**< 10 min of 16-bit 8 kHz [bytes] */
	PHASE_TARGET_US = 2000,         /**< least margin: frame before tick */
	PHASE_EXTRA_START = 3000,       /**< margin above it at first        */
	PHASE_EXTRA_MAX = 8000,         /**< most margin added for misses    */
	PHASE_MISS_US   = 2000,         /**< margin added per missed tick    */
	PHASE_HELD_US   = 1000,         /**< ... per frame a tick held for   */
	PHASE_DECAY_US  = 10,           /**< margin taken back per window    */
	PHASE_STEP_US   = 500,          /**< most the tick moves per window  */
	PHASE_WINDOW    = 10,           /**< arrivals per adjustment         */
	PHASE_PAUSE     = 10,           /**< empty ticks: the agent paused   */
	TRIM_WINDOW     = 50,           /**< ticks per backlog window (1 s)  */
	TRIM_QUIET_RMS  = 330,          /**< silent: below -40 dBFS          */
};


/* to dst from fd; an IPv4 dst v4-mapped on a dual-stack socket (see
   addr_unmap in mcall_rx.c) */
static ssize_t sock_sendto(const struct mcall *mc, int fd, const void *buf,
			size_t len, const struct sa *dst)
{
	struct sockaddr_in6 m;

	if (!mc->dual || dst->u.sa.sa_family != AF_INET)
		return sendto(fd, buf, len, 0, &dst->u.sa, dst->len);

	memset(&m, 0, sizeof(m));
	m.sin6_family = AF_INET6;
	m.sin6_port = dst->u.in.sin_port;
	m.sin6_addr.s6_addr[10] = 0xff;
	m.sin6_addr.s6_addr[11] = 0xff;
	memcpy(&m.sin6_addr.s6_addr[12], &dst->u.in.sin_addr, 4);

	return sendto(fd, buf, len, 0, (struct sockaddr *)&m, sizeof(m));
}


/* the send timer, to fire at due [us, absolute] */
static void tx_arm_at(struct mcall *mc, uint64_t now, uint64_t due)
{
	double delay = 0;

	if (due > now)
		delay = (double)(due - now) / 1e6;

	ev_timer_set(&mc->tx_tmr, delay, 0);
	ev_timer_start(mc->loop, &mc->tx_tmr);
}


/* is this packet time of agent audio silent (below TRIM_QUIET_RMS)? */
static bool agent_quiet(const struct mcall *mc, const uint8_t *a, size_t n)
{
	uint64_t e = 0;
	size_t ns;

	if (mc->ms->l16) {
		ns = n / 2;
		for (size_t i = 0; i < ns; i++) {
			int32_t v = (int16_t)(a[2 * i] | (a[2 * i + 1] << 8));
			e += (uint64_t)((int64_t)v * v);
		}
	}
	else {
		ns = n;
		for (size_t i = 0; i < ns; i++) {
			int32_t v = g711_ulaw2lin(a[i]);
			e += (uint64_t)((int64_t)v * v);
		}
	}

	return ns && e / ns < (uint64_t)TRIM_QUIET_RMS * TRIM_QUIET_RMS;
}


/*
 * Standing backlog of a real-time agent: track the queue depth over a
 * window of ticks; when it never fell below one packet time and never
 * rose above backlog_trim_ms, allow that much to be trimmed, silent
 * packet times only, from the head of the queue.
 */
static void backlog_trim(struct mcall *mc)
{
	size_t depth, standing;
	uint8_t head[2880 * 2];

	if (!mc->ms->conf.backlog_trim_ms)
		return;

	depth = playq_len(mc->pq);
	/* what stays queued once this tick has taken its packet time */
	standing = depth > mc->outframe_size ? depth - mc->outframe_size : 0;

	if (!mc->bl_n || standing < mc->bl_min)
		mc->bl_min = standing;
	if (!mc->bl_n || depth > mc->bl_max)
		mc->bl_max = depth;

	if (++mc->bl_n >= TRIM_WINDOW) {
		size_t limit = xcode_agent_bytes(mc->xc,
						 mc->ms->conf.backlog_trim_ms);

		mc->bl_trim = (mc->bl_min >= mc->outframe_size &&
			       mc->bl_max <= limit) ?
			mc->bl_min - mc->bl_min % mc->outframe_size : 0;
		mc->bl_n = 0;
	}

	/* drop silent packet times at the head, at most one per tick */
	if (mc->bl_trim + mc->bl_skip >= mc->outframe_size &&
	    depth > mc->outframe_size &&
	    playq_peek(mc->pq, head, mc->outframe_size) == mc->outframe_size &&
	    agent_quiet(mc, head, mc->outframe_size)) {
		(void)playq_read(mc->pq, head, mc->outframe_size);
		/* both are whole packet times: one of them has one */
		if (mc->bl_skip >= mc->outframe_size)
			mc->bl_skip -= mc->outframe_size;
		else
			mc->bl_trim -= mc->outframe_size;
		++mc->st.agent_trimmed;
	}
}


/*
 * The worker was held up and tx_run skips `missed` ticks: a real-time
 * agent's frames that came in meanwhile would stand in the queue for the
 * rest of the call, more than backlog_trim_ms, which the window above
 * leaves alone (an agent ahead of real time). So when the queue holds no
 * more than those frames and a standing backlog the trim allows, as many
 * silent packet times may go, whatever the window says; until the queue
 * runs dry. An agent ahead of real time (a deeper queue) is not touched.
 */
static void backlog_skipped(struct mcall *mc, uint64_t missed)
{
	size_t limit;

	if (!mc->ms->conf.backlog_trim_ms || missed > TRIM_WINDOW)
		return;

	limit = xcode_agent_bytes(mc->xc, mc->ms->conf.backlog_trim_ms);
	if (playq_len(mc->pq) > (missed + 1) * mc->outframe_size + limit +
	    mc->bl_skip)
		return;

	mc->bl_skip += missed * mc->outframe_size;
}


static void tx_frame(struct mcall *mc)
{
	uint8_t pkt[RTPKT_HDR_SIZE + 1500 + SRTPX_TRAILER];
	uint8_t agent[2880 * 2];
	const struct sa *dst;
	struct dtmf_pkt dp;
	uint8_t pt = (uint8_t)mc->mp.pt;
	bool marker = mc->tx_marker;
	uint32_t ts = mc->ts;
	size_t n, len;
	int plen, err;

	/* an agent's key press replaces the audio of this packet time; the
	   agent's audio waits in the queue meanwhile */
	if (mc->dtmf_on && !dtmf_tx_tick(&mc->dtmf_tx, mc->ts, &dp)) {
		memcpy(pkt + RTPKT_HDR_SIZE, dp.payload, DTMF_REPORT_SIZE);
		plen = DTMF_REPORT_SIZE;
		pt = (uint8_t)mc->mp.telev_pt;
		marker = dp.marker;
		ts = dp.ts;
		goto send;
	}

	backlog_trim(mc);

	n = playq_read(mc->pq, agent, mc->outframe_size);
	if (n < mc->outframe_size)
		memset(agent + n, xcode_agent_silence(mc->xc),
		       mc->outframe_size - n);

	/* ran dry right after agent audio (and held in vain): a frame
	   arriving soon after missed this tick
	   (mcall_tx_phase_note) */
	mc->ph_under_us = n < mc->outframe_size && mc->tx_had_audio ?
		worker_now_us() : 0;
	mc->tx_had_audio = n == mc->outframe_size;
	mc->tx_empty = n ? 0 : mc->tx_empty + 1;
	if (n < mc->outframe_size)
		mc->bl_skip = 0;

	plen = xcode_encode(mc->xc, agent, mc->outframe_size,
			    pkt + RTPKT_HDR_SIZE, 1500);
	if (plen < 0)
		return;

	/* Opus DTX (the peer asked for it with usedtx=1): a frame of 2
	   bytes or less says "nothing new"; leave it out (RFC 7587 3.1.3)
	   and mark the next packet sent as the start of a talk spurt */
	if (mc->mp.codec == CODEC_OPUS && plen <= 2) {
		mc->ts += mc->tx_samples;
		mc->tx_marker = true;
		return;
	}


 send:
	/* a header that cannot be written (a payload type over 127) is
	   never sent: its bytes would be whatever the stack held */
	err = rtpkt_encode(pkt, sizeof(pkt), marker, pt, mc->seq, ts,
			   mc->ssrc);
	mc->tx_marker = false;
	++mc->seq;
	mc->ts += mc->tx_samples;

	if (err || !mc->mp.dir.send ||
	    !sa_isset(latch_remote(&mc->latch), SA_ALL))
		return;

	len = RTPKT_HDR_SIZE + (size_t)plen;
	if (mc->srtp && srtpx_protect(mc->srtp, pkt, &len, sizeof(pkt), false))
		return;

	dst = latch_remote(&mc->latch);
	if (sock_sendto(mc, mc->rtp_fd, pkt, len, dst) > 0) {
		++mc->st.rtp_tx;
		if (mc->rtcp_on)
			rtcpx_rtp_sent(&mc->rtcp, mc->ts - mc->tx_samples,
				       (size_t)plen, worker_now_us());
	}
}


/* the latest a tick that holds waits to: the least margin before the
   next tick [us, absolute] */
static uint64_t tx_hold_until(const struct mcall *mc)
{
	return mc->tx_next_us + (uint64_t)mc->tx_ms * 1000 - PHASE_TARGET_US;
}


/*
 * Should the tick that is due wait for a late frame? Only right after a
 * tick that sent agent audio (mid-speech: a frame is due), with less than
 * a packet time queued, no key press to send instead, and not past
 * tx_hold_until().
 */
static bool tx_hold(const struct mcall *mc, uint64_t now)
{
	return mc->tx_had_audio &&
		playq_len(mc->pq) < mc->outframe_size &&
		!(mc->dtmf_on && dtmf_tx_busy(&mc->dtmf_tx)) &&
		now < tx_hold_until(mc);
}


/* a frame came after the tick it was due at: count it, and widen the
   margin by us (at most to PHASE_EXTRA_MAX) */
static void phase_late(struct mcall *mc, int64_t us)
{
	mc->ph_extra += us;
	if (mc->ph_extra > PHASE_EXTRA_MAX)
		mc->ph_extra = PHASE_EXTRA_MAX;
	++mc->st.agent_late;
}


/* once per window, move the tick towards the margin (PHASE_TARGET_US +
   ph_extra) after the latest arrival of the window (at most
   PHASE_STEP_US), and take back a little of the margin */
static void phase_steer(struct mcall *mc)
{
	int64_t d;

	if (mc->ph_n < PHASE_WINDOW)
		return;

	d = mc->ph_wmin - (PHASE_TARGET_US + mc->ph_extra);
	if (d > PHASE_STEP_US)
		d = PHASE_STEP_US;
	if (d < -PHASE_STEP_US)
		d = -PHASE_STEP_US;

	mc->tx_next_us = (uint64_t)((int64_t)mc->tx_next_us - d);
	mc->ph_n = 0;
	mc->ph_extra = mc->ph_extra > PHASE_DECAY_US ?
		mc->ph_extra - PHASE_DECAY_US : 0;
}


/* send what is due at now, then arm the timer for the next tick (or for
   the end of a hold) */
static void tx_run(struct mcall *mc, uint64_t now)
{
	unsigned frames = 0;

	mc->tx_held = mc->tx_held_noted = false;

	/* a stalled loop: skip what is lost rather than burst it out */
	if (now > mc->tx_next_us + 3 * (uint64_t)mc->tx_ms * 1000) {
		uint64_t missed = (now - mc->tx_next_us) /
			((uint64_t)mc->tx_ms * 1000);

		mc->ts += (uint32_t)(missed * mc->tx_samples);
		mc->tx_next_us += missed * mc->tx_ms * 1000;
		backlog_skipped(mc, missed);
	}

	while (mc->tx_next_us <= now + 500 && frames++ < 3) {
		if (tx_hold(mc, now)) {
			mc->tx_held = true;
			tx_arm_at(mc, now, tx_hold_until(mc));
			return;
		}
		tx_frame(mc);
		mc->tx_next_us += (uint64_t)mc->tx_ms * 1000;
	}

	phase_steer(mc);

	if (mc->ms->conf.rtp_timeout_ms && mc->mp.dir.recv &&
	    now > mc->last_rx_us +
	    (uint64_t)mc->ms->conf.rtp_timeout_ms * 1000) {
		mcall_end_request(mc, END_RTP_TIMEOUT,
				  "no RTP from the caller");
		return;
	}

	tx_arm_at(mc, now, mc->tx_next_us);
}


static void tx_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct mcall *mc = t->data;
	uint64_t now = worker_now_us();

	(void)loop;
	(void)revents;

	if (mc->state != MC_LIVE)
		return;

	if (mc->dtmf_on)
		dtmf_rx_poll(&mc->dtmf_rx, now);

	/* fired early (libev's clock is coarser than ours): wait on */
	if (!mc->tx_held && now + 500 < mc->tx_next_us) {
		tx_arm_at(mc, now, mc->tx_next_us);
		return;
	}

	tx_run(mc, now);
}


/** A tick holding for a late frame (tx_hold) has what it waited for: send
    now */
void mcall_tx_release(struct mcall *mc)
{
	if (!mc->tx_held || mc->state != MC_LIVE)
		return;

	ev_timer_stop(mc->loop, &mc->tx_tmr);
	tx_run(mc, worker_now_us());
}


/**
 * Agent audio is about to be queued (per agent media message): when it
 * comes into an empty queue, time it against the tick. The least wait of
 * a window steers the tick's phase (phase_steer).
 *
 * @param mc  The call
 */
void mcall_tx_phase_note(struct mcall *mc)
{
	uint64_t now;
	int64_t period, w;

	if (mc->state != MC_LIVE || playq_len(mc->pq) >= mc->outframe_size)
		return;

	now = worker_now_us();
	period = (int64_t)mc->tx_ms * 1000;

	/* the tick holds for this frame: it is late, and goes out now
	   (mcall_tx_fed); the margin grows as for a miss */
	if (mc->tx_held) {
		if (mc->tx_held_noted)
			return;
		mc->tx_held_noted = true;
		phase_late(mc, PHASE_HELD_US);
		return;
	}

	/* within half a packet time after a tick that ran dry mid-speech
	   (and held in vain): this frame was due at that tick */
	if (mc->ph_under_us && now < mc->ph_under_us + (uint64_t)period / 2)
		phase_late(mc, PHASE_MISS_US);
	mc->ph_under_us = 0;

	/* the agent starts to talk: the next tick comes the margin after
	   this frame (tx_cb's timer is moved with it) */
	if (mc->tx_empty >= PHASE_PAUSE) {
		mc->tx_empty = 0;
		mc->ph_n = 0;
		mc->tx_next_us = now + PHASE_TARGET_US + (uint64_t)mc->ph_extra;
		ev_timer_stop(mc->loop, &mc->tx_tmr);
		tx_arm_at(mc, now, mc->tx_next_us);
		return;
	}

	w = (int64_t)mc->tx_next_us - (int64_t)now;
	w %= period;
	if (w < 0)
		w += period;

	if (!mc->ph_n || w < mc->ph_wmin)
		mc->ph_wmin = w;
	++mc->ph_n;
}


/** Send an RTCP report now, with a BYE if bye */
void mcall_tx_rtcp_send(struct mcall *mc, bool bye)
{
	uint8_t buf[RTCPX_BUF_SIZE + SRTPX_TRAILER];
	const struct sa *dst;
	struct sa rtcp_dst;
	size_t len = 0;

	if (!mc->rtcp_on || (!mc->mp.dir.send && !mc->mp.dir.recv))
		return;

	if (rtcpx_encode(&mc->rtcp, buf, RTCPX_BUF_SIZE, &len, bye,
			 worker_now_us(), rtcpx_ntp_now()))
		return;

	if (mc->srtp && srtpx_protect(mc->srtp, buf, &len, sizeof(buf), true))
		return;

	/* RTCP follows the latched media source: same host, RTCP port */
	if (mc->mp.rtcp_mux) {
		dst = latch_remote(&mc->latch);
		(void)sock_sendto(mc, mc->rtp_fd, buf, len, dst);
	}
	else {
		rtcp_dst = *latch_remote(&mc->latch);
		sa_set_port(&rtcp_dst, sa_port(&mc->mp.raddr_rtcp));
		if (sa_cmp(latch_remote(&mc->latch), &mc->mp.raddr, SA_ALL))
			rtcp_dst = mc->mp.raddr_rtcp;
		(void)sock_sendto(mc, mc->rtcp_fd, buf, len, &rtcp_dst);
	}
}


static void rtcp_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct mcall *mc = t->data;
	uint32_t ms;

	(void)revents;

	mcall_tx_rtcp_send(mc, false);

	/* session bandwidth of one G.711 or Opus call, both ways [bit/s] */
	ms = rtcpx_next_interval_ms(&mc->rtcp, 2 * 80000);
	ev_timer_set(t, ms / 1000.0, 0);
	ev_timer_start(loop, t);
}


/**
 * Set up the call's send side (mcall_start): the playout queue, whose
 * marks are echoed to the agent, and the timers
 *
 * @param mc  The call
 *
 * @return 0 if success, otherwise errorcode
 */
int mcall_tx_init(struct mcall *mc)
{
	int err;

	err = playq_alloc(&mc->pq, PLAYQ_MAX, mcall_agent_mark, mc);
	if (err)
		return err;

	ev_init(&mc->tx_tmr, tx_cb);
	ev_set_priority(&mc->tx_tmr, MCALL_TICK_PRI);
	mc->tx_tmr.data = mc;
	ev_init(&mc->rtcp_tmr, rtcp_cb);
	ev_set_priority(&mc->rtcp_tmr, MCALL_TICK_PRI);
	mc->rtcp_tmr.data = mc;

	return 0;
}


/**
 * The call is answered: start the tick now, and RTCP reports
 *
 * @param mc   The call
 * @param now  Now [us]
 */
void mcall_tx_start(struct mcall *mc, uint64_t now)
{
	mc->tx_next_us = now;
	mc->ph_extra = PHASE_EXTRA_START;
	mc->tx_empty = PHASE_PAUSE;
	tx_arm_at(mc, now, mc->tx_next_us);

	/* first report soon after media starts, then RFC 3550 intervals */
	ev_timer_set(&mc->rtcp_tmr, 1.0, 0);
	ev_timer_start(mc->loop, &mc->rtcp_tmr);
}
