/**
 * @file media.c  Per-call media on a worker: RTP <-> agent WebSocket
 *
 * Design note. A call's media lives entirely on one worker thread:
 *
 *   caller --RTP--> rtp_read --> jitter buffer --> slot (20 ms) --> decode
 *        --> agent format --> `media` message --> WebSocket --> agent
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
 * timed against the next tick, and once per window the tick moves (by at
 * most PHASE_STEP_US) towards the margin after the latest of those
 * arrivals. The rate stays exactly one packet per packet time; only the
 * phase drifts, slowly, to where the agent's audio is. The margin adapts
 * like a jitter buffer's target: a frame that arrives just after a tick
 * that ran dry while the agent was talking missed it (and will stand in
 * the queue a packet time, see below), so the margin grows by
 * PHASE_MISS_US, up to PHASE_EXTRA_MAX above PHASE_TARGET_US, and shrinks
 * back by PHASE_DECAY_US per window while nothing misses (1 ms in 20 s).
 * A miss costs a packet time until the next pause, a margin only what it
 * is: so it starts PHASE_EXTRA_START above the least, grows fast and
 * shrinks slowly. And a tick that finds the queue dry right after agent
 * audio holds (tx_hold): it waits for the frame that is due until the
 * least margin before the next tick, and sends it the moment it arrives.
 * A late frame then costs that one packet its lateness as jitter, and
 * the margin PHASE_HELD_US, instead of a gap in the caller's audio and a
 * packet time more for every frame after it. The price: the silence
 * packet at the end of a talk spurt goes out that much late, once.
 * When the agent starts to talk (its first frame, or the first after
 * PHASE_PAUSE ticks with an empty queue) the tick jumps to the margin
 * after that frame at once: the caller hears silence packets
 * until then, so a jump costs nothing, and the slow steering would take
 * seconds and miss ticks on the way whenever the frames start near one.
 *
 * A real-time agent's frames can still bunch (a stall on either side):
 * then one frame more waits in the queue for the rest of the call, since
 * frames come in and go out at the same rate. So the queue depth is
 * watched at each tick: when over the last second it never fell below
 * one frame yet never rose above backlog_trim_ms (more than that is an
 * agent sending ahead of real time, whose audio is never touched), the
 * standing frames are trimmed, each only when it is silent.
 * Marks ride in the playout queue and are echoed when the audio before
 * them has been sent. Nothing here takes a lock or allocates per packet.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <ev.h>
#include "cb_re.h"
#include "alink.h"
#include "b64.h"
#include "dtmf.h"
#include "g711.h"
#include "jb.h"
#include "latch.h"
#include "rtcpx.h"
#include "gwmsg.h"
#include "log.h"
#include "media.h"
#include "opusc.h"
#include "playq.h"
#include "rtpkt.h"
#include "srtpx.h"
#include "twilio.h"
#include "worker.h"
#include "xcode.h"

enum {
	FRAME_MS       = 20,
	MAX_RTP        = 1500,          /**< largest datagram we take       */
	CONNECT_TRY_MS = 1000,          /**< an agent address's turn, when
					     more follow [ms]             */
	RX_BATCH       = 8,             /**< datagrams per wake-up          */
	PLAYQ_MAX      = 8000 * 2 * 600,/**< 10 min of 16-bit 8 kHz [bytes] */
	LATCH_NEED     = 3,             /**< packets to move to a new source */
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

enum mc_state {
	MC_CONNECTING = 0,    /**< WebSocket being opened          */
	MC_READY,             /**< start sent, waiting for ANSWERED */
	MC_LIVE,              /**< media both ways                 */
	MC_ENDING,            /**< asked the SIP thread to end     */
};

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

	/* agent stream */
	uint32_t ws_seq;              /**< last sequenceNumber sent       */
	uint32_t chunk;               /**< media chunks sent              */
	uint64_t t_stream_us;         /**< when start was sent            */
	uint64_t media_t0_ms;         /**< timestamp of chunk 1 [ms]      */

	/* codec <-> agent format */
	struct xcode *xc;
	struct jb *jb;
	ev_timer jb_tmr;              /**< next jitter buffer slot        */
	bool jb_pending;              /**< packets put since last drain   */
	uint64_t jb_armed;            /**< due time jb_tmr is set for [us] */

	/* RTP receive */
	ev_io rtp_io;
	ev_io rtcp_io;
	int rtp_fd, rtcp_fd;
	unsigned addr_next;           /**< agent address to try next      */
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
	ev_timer conn_tmr;            /**< an address's turn to connect   */

	/* RTP send */
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
	bool tx_held_noted;           /**< ... and phase_note counted it  */
	bool tx_had_audio;            /**< the last tick sent agent audio */
	unsigned tx_empty;            /**< ticks in a row with no audio   */
	size_t bl_min, bl_max;        /**< queue depth this window [bytes] */
	unsigned bl_n;                /**< ticks in this window           */
	size_t bl_trim;               /**< bytes we may still trim        */
	uint32_t tx_samples;          /**< RTP clock units per packet     */
	struct playq *pq;
	size_t outframe_size;         /**< agent bytes per packet time    */
};


static void media_start_destructor(void *arg)
{
	struct media_start *ms = arg;

	mem_deref(ms->agent_id);
	mem_deref(ms->agent_url);
	mem_deref(ms->agent_auth_token);
	json_decref(ms->custom);
	if (ms->rtp_fd >= 0)
		(void)close(ms->rtp_fd);
	if (ms->rtcp_fd >= 0)
		(void)close(ms->rtcp_fd);
}


/** Allocate an empty media_start (sockets -1, defaults set) */
int media_start_alloc(struct media_start **msp)
{
	struct media_start *ms;

	if (!msp)
		return EINVAL;

	ms = mem_zalloc(sizeof(*ms), media_start_destructor);
	if (!ms)
		return ENOMEM;

	ms->rtp_fd = ms->rtcp_fd = -1;
	ms->agent_srate = 8000;

	*msp = ms;

	return 0;
}


uint64_t mcall_id(const struct mcall *mc)
{
	return mc->id;
}


static void report(struct mcall *mc, int id, enum end_reason reason,
		   const char *detail)
{
	struct smsg *m = mem_zalloc(sizeof(*m), NULL);

	if (!m)
		return;

	m->id = mc->id;
	m->reason = reason;
	if (detail)
		str_ncpy(m->detail, detail, sizeof(m->detail));
	if (id == SMSG_CALL_GONE)
		mcall_stats(mc, &m->stats);

	if (worker_report(mc->w, id, m))
		mem_deref(m);
}


/* ask the SIP thread to end the call; it answers with CALL_STOP */
static void end_request(struct mcall *mc, enum end_reason reason,
			const char *detail)
{
	if (mc->state == MC_ENDING)
		return;

	mc->state = MC_ENDING;
	report(mc, SMSG_CALL_END_REQ, reason, detail);
}


/*
 * Agent side
 */

static int send_text(struct mcall *mc, const char *txt, int n,
		     bool droppable)
{
	if (n < 0)
		return -n;

	return alink_send(mc->link, txt, (size_t)n, false, droppable);
}


static void send_mark_echo(const char *name, bool cleared, void *arg)
{
	struct mcall *mc = arg;
	char *buf;
	int n;

	(void)cleared;

	if (!mc->link || mc->state == MC_ENDING)
		return;

	buf = (char *)alink_txbuf(mc->link, 2048 + (name ? strlen(name) *
						    6 : 0));
	if (!buf)
		return;

	n = twilio_fmt_mark(buf, 2048 + (name ? strlen(name) * 6 : 0),
			    ++mc->ws_seq, mc->ms->ids.stream_sid, name);
	if (send_text(mc, buf, n, false) == 0)
		++mc->st.marks;
}


/* one 20 ms frame in the agent's format, to the agent */
static void agent_send_frame(struct mcall *mc, const uint8_t *frame,
			     size_t len)
{
	uint64_t ts;
	size_t sz;
	char *buf;
	int n;

	if (!mc->link || mc->state != MC_LIVE)
		return;

	if (mc->chunk == 0) {
		mc->media_t0_ms = (worker_now_us() - mc->t_stream_us) / 1000;
	}
	ts = mc->media_t0_ms + (uint64_t)mc->chunk * FRAME_MS;

	if (mc->ms->proto == AGENT_PROTO_RAW) {
		if (alink_send(mc->link, frame, len, true, true) == 0) {
			++mc->chunk;
			++mc->st.ws_tx_media;
		}
		return;
	}

	sz = twilio_media_size(len) + 64;
	buf = (char *)alink_txbuf(mc->link, sz);
	if (!buf)
		return;

	n = twilio_fmt_media(buf, sz, mc->ws_seq + 1, mc->ms->ids.stream_sid,
			     mc->chunk + 1, ts, frame, len);
	if (n < 0)
		return;

	if (send_text(mc, buf, n, true) == 0) {
		++mc->ws_seq;
		++mc->chunk;
		++mc->st.ws_tx_media;
	}
}


/* one key press to the agent: exactly one `dtmf` message */
static void agent_dtmf(struct mcall *mc, char digit)
{
	char buf[256];
	int n;

	if (!mc->link || mc->state != MC_LIVE)
		return;

	n = twilio_fmt_dtmf(buf, sizeof(buf), ++mc->ws_seq,
			    mc->ms->ids.stream_sid, digit);
	if (send_text(mc, buf, n, false) == 0)
		++mc->st.dtmf_rx;
}


static void dtmf_press(const struct dtmf_event *ev, void *arg)
{
	struct mcall *mc = arg;

	if (!ev->end)
		agent_dtmf(mc, ev->digit);
}


static void tx_arm_at(struct mcall *mc, uint64_t now, uint64_t due);
static void tx_run(struct mcall *mc, uint64_t now);
static int link_connect(struct mcall *mc);
static int link_next(struct mcall *mc, const char *why);


/* a tick holding for a late frame (tx_hold) has what it waited for: send
   now */
static void tx_release(struct mcall *mc)
{
	if (!mc->tx_held || mc->state != MC_LIVE)
		return;

	ev_timer_stop(mc->loop, &mc->tx_tmr);
	tx_run(mc, worker_now_us());
}


/* a key press the agent wants the caller to hear */
static void agent_wants_dtmf(struct mcall *mc, char digit, uint32_t ms)
{
	struct smsg *m;

	if (!ms)
		ms = 200;

	++mc->st.dtmf_tx;

	if (mc->dtmf_on) {
		if (dtmf_tx_push(&mc->dtmf_tx, digit, ms))
			log_info("call %s: agent DTMF '%c' dropped (queue "
				 "full)", mc->ms->ids.call_sid, digit);
		else
			tx_release(mc);
		return;
	}

	/* no telephone-event in SDP: SIP INFO, on the SIP thread */
	m = mem_zalloc(sizeof(*m), NULL);
	if (!m)
		return;
	m->id = mc->id;
	m->digit = digit;
	m->duration = ms;
	if (worker_report(mc->w, SMSG_SEND_INFO, m))
		mem_deref(m);
}


static void link_open(void *arg)
{
	struct mcall *mc = arg;
	struct twilio_fmt fmt;
	char buf[128];
	char *start = NULL;
	int n, err;

	ev_timer_stop(mc->loop, &mc->conn_tmr);

	if (mc->ms->proto == AGENT_PROTO_TWILIO) {
		n = twilio_fmt_connected(buf, sizeof(buf));
		err = send_text(mc, buf, n, false);
		if (err)
			goto fail;
	}

	fmt.l16 = mc->ms->l16;
	fmt.srate = mc->ms->agent_srate;
	fmt.raw = mc->ms->proto == AGENT_PROTO_RAW;
	n = twilio_fmt_start(&start, ++mc->ws_seq, &mc->ms->ids, &fmt,
			     mc->ms->custom);
	if (n < 0) {
		err = -n;
		goto fail;
	}
	err = send_text(mc, start, n, false);
	free(start);
	if (err)
		goto fail;

	mc->t_stream_us = worker_now_us();
	mc->state = MC_READY;
	report(mc, SMSG_AGENT_READY, END_NONE, NULL);

	return;

 fail:
	log_warn("call %s: cannot start the stream: %m",
		 mc->ms->ids.call_sid, err);
	end_request(mc, END_AGENT_FAILED, "cannot start the stream");
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


/* agent audio arriving into an empty queue: how long it waits for the
   tick. The least wait of a window steers the tick's phase (tx_cb). */
static void phase_note(struct mcall *mc)
{
	uint64_t now;
	int64_t period, w;

	if (mc->state != MC_LIVE || playq_len(mc->pq) >= mc->outframe_size)
		return;

	now = worker_now_us();
	period = (int64_t)mc->tx_ms * 1000;

	/* the tick holds for this frame: it is late, and goes out now
	   (agent_media); the margin grows as for a miss */
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


static void agent_media(struct mcall *mc, const char *b64, size_t len)
{
	uint8_t buf[8192];
	size_t olen;

	++mc->st.ws_rx_media;
	phase_note(mc);

	/* 16-bit PCM must come in whole samples (see link_bin); the decoded
	   length is known from the text: 3 bytes per 4 chars, less padding */
	if (mc->ms->l16 && len % 4 == 0) {
		size_t pad = (len && b64[len - 1] == '=') +
			(len > 1 && b64[len - 2] == '=');
		size_t bytes = len / 4 * 3 - pad;

		if (bytes & 1) {
			log_info("call %s: agent audio of %zu bytes (odd, "
				 "16-bit PCM) dropped", mc->ms->ids.call_sid,
				 bytes);
			mc->st.agent_dropped += bytes;
			return;
		}
	}

	/* decode in bounded pieces: 4 base64 chars -> 3 bytes */
	while (len) {
		size_t n = len > 8188 ? 8188 : len;
		size_t q;

		olen = sizeof(buf);
		if (b64_decode(buf, &olen, b64, n)) {
			log_debug("call %s: bad base64 from agent",
				  mc->ms->ids.call_sid);
			return;
		}

		q = playq_write(mc->pq, buf, olen);
		mc->st.agent_bytes += olen;
		if (q < olen)
			mc->st.agent_dropped += olen - q;

		b64 += n;
		len -= n;
	}

	/* the tick held for this frame: send it now */
	if (mc->tx_held && mc->state == MC_LIVE &&
	    playq_len(mc->pq) >= mc->outframe_size) {
		++mc->st.agent_held;
		tx_release(mc);
	}
}


static void link_text(const char *txt, size_t len, void *arg)
{
	struct mcall *mc = arg;
	struct twilio_in in;
	char err[128];

	if (twilio_parse(&in, txt, len, err, sizeof(err))) {
		log_info("call %s: agent message ignored: %s",
			 mc->ms->ids.call_sid, err);
		return;
	}

	switch (in.ev) {

	case TWILIO_EV_MEDIA:
		agent_media(mc, in.payload, in.payload_len);
		break;

	case TWILIO_EV_MARK:
		(void)playq_mark(mc->pq, in.mark);
		break;

	case TWILIO_EV_CLEAR:
		playq_clear(mc->pq);
		break;

	case TWILIO_EV_DTMF:
		if (mc->state == MC_LIVE)
			agent_wants_dtmf(mc, in.digit, in.duration);
		break;

	default:
		break;
	}

	twilio_in_reset(&in);
}


static void link_bin(const uint8_t *data, size_t len, void *arg)
{
	struct mcall *mc = arg;

	if (mc->ms->proto != AGENT_PROTO_RAW) {
		log_debug("call %s: binary frame ignored (twilio protocol)",
			  mc->ms->ids.call_sid);
		return;
	}

	++mc->st.ws_rx_media;
	phase_note(mc);

	/* 16-bit PCM: an odd byte would shift every later sample by one
	   byte (loud noise to the end of the call), so the frame goes */
	if (len & 1) {
		log_info("call %s: agent audio frame of %zu bytes (odd, "
			 "16-bit PCM) dropped", mc->ms->ids.call_sid, len);
		mc->st.agent_dropped += len;
		return;
	}

	mc->st.agent_bytes += len;
	if (playq_write(mc->pq, data, len) < len)
		mc->st.agent_dropped += len;
}


static void link_close(int err, const char *reason, void *arg)
{
	struct mcall *mc = arg;

	mc->link = NULL;
	ev_timer_stop(mc->loop, &mc->conn_tmr);

	if (mc->state == MC_ENDING)
		return;

	/* the connection failed before the upgrade: the host's next
	   address, if it has one (an AAAA without a route, one dead
	   server of several) */
	if (mc->state == MC_CONNECTING && err == ECONNREFUSED &&
	    mc->addr_next < mc->ms->agent_addrs.n &&
	    !link_next(mc, reason ? reason : ""))
		return;

	if (mc->state == MC_CONNECTING && mc->ms->agent_addrs.n)
		log_info("call %s: agent %s at %j: %s",
			 mc->ms->ids.call_sid, mc->ms->agent_id,
			 &mc->ms->agent_addrs.a[mc->addr_next - 1],
			 reason ? reason : "");
	else
		log_info("call %s: agent link closed: %s",
			 mc->ms->ids.call_sid, reason ? reason : "");

	end_request(mc, (mc->state == MC_CONNECTING) ? END_AGENT_FAILED :
		    END_AGENT_CLOSED, reason);
	(void)err;
}


/*
 * RTP receive
 */

/* give every slot that is due to the agent */
static void jb_drain(struct mcall *mc, uint64_t now)
{
	uint8_t frame[960 * 2];
	struct jb_out out;
	uint64_t due;

	for (int i = 0; i < 16 && !jb_get(mc->jb, now, &out); i++) {
		int n = xcode_decode_slot(mc->xc, &out, frame, sizeof(frame));

		if (n > 0 && mc->mp.dir.recv)
			agent_send_frame(mc, frame, (size_t)n);
	}

	/* re-arm only when the due time moved: most packets leave it */
	due = jb_next_due(mc->jb);
	if (due == mc->jb_armed && ev_is_active(&mc->jb_tmr))
		return;

	ev_timer_stop(mc->loop, &mc->jb_tmr);
	mc->jb_armed = due;
	if (due != JB_NEVER) {
		ev_timer_set(&mc->jb_tmr, due > now ? (double)(due - now) / 1e6
			     : 0, 0);
		ev_timer_start(mc->loop, &mc->jb_tmr);
	}
}


static void jb_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct mcall *mc = t->data;
	uint64_t now = worker_now_us();

	(void)loop;
	(void)revents;

	if (mc->state != MC_LIVE)
		return;

	/* libev's clock is coarser than ours: never run a slot early */
	if (jb_next_due(mc->jb) > now + 200) {
		mc->jb_armed = jb_next_due(mc->jb);
		ev_timer_set(t, (double)(mc->jb_armed - now) / 1e6, 0);
		ev_timer_start(loop, t);
		return;
	}

	jb_drain(mc, now);
}


static void rtp_audio(struct mcall *mc, const struct rtpkt *pkt,
		      uint64_t now)
{
	struct jb_pkt jp;

	jp.ssrc = pkt->ssrc;
	jp.seq = pkt->seq;
	jp.ts = pkt->ts;
	jp.pt = pkt->pt;
	jp.marker = pkt->marker;
	/* an Opus packet of 2 bytes or less is DTX: a gap after it is
	   silence, not loss */
	jp.sid = mc->mp.codec == CODEC_OPUS && pkt->payload_len <= 2;
	jp.dur = 0;
	if (mc->mp.codec == CODEC_OPUS) {
		int n = opusc_packet_samples(pkt->payload, pkt->payload_len,
					     48000);
		jp.dur = n > 0 ? (uint32_t)n : 0;
	}
	else if ((int)pkt->pt == mc->mp.pt) {
		jp.dur = (uint32_t)pkt->payload_len;   /* G.711: 1 byte each */
	}
	jp.payload = pkt->payload;
	jp.len = pkt->payload_len;

	if (jb_put(mc->jb, now, &jp))
		++mc->st.rtp_bad;
	else
		mc->jb_pending = true;
}


static void rtcp_packet(struct mcall *mc, uint8_t *buf, size_t len,
			const struct sa *src)
{
	/* RTCP from anyone but the media source is not ours to believe */
	if (!mc->rtcp_on || !sa_cmp(src, latch_remote(&mc->latch), SA_ADDR))
		return;

	if (mc->srtp && srtpx_unprotect(mc->srtp, buf, &len, true)) {
		++mc->st.srtp_fail;
		return;
	}

	(void)rtcpx_decode(&mc->rtcp, buf, len, worker_now_us(),
			   rtcpx_ntp_now());
}


static void rtp_packet(struct mcall *mc, uint8_t *buf, size_t len,
		       const struct sa *src)
{
	uint64_t now = worker_now_us();
	struct rtpkt pkt;

	if (rtpkt_is_rtcp(buf, len)) {
		rtcp_packet(mc, buf, len, src);   /* rtcp-mux */
		return;
	}

	/* SRTP: nothing unauthenticated gets further, not even the latch */
	if (mc->srtp && srtpx_unprotect(mc->srtp, buf, &len, false)) {
		++mc->st.srtp_fail;
		return;
	}

	if (rtpkt_decode(&pkt, buf, len)) {
		++mc->st.rtp_bad;
		return;
	}

	switch (latch_check(&mc->latch, src, pkt.ssrc, pkt.seq, now)) {

	case LATCH_SWITCH:
		log_info("call %s: media source moved to %J",
			 mc->ms->ids.call_sid, src);
		break;

	case LATCH_ACCEPT:
		break;

	default:
		return;   /* counted by the latch */
	}

	mc->last_rx_us = now;
	if (mc->rtcp_on)
		(void)rtcpx_rtp_recv(&mc->rtcp, &pkt, now);

	if (pkt.pt == mc->mp.pt || (int)pkt.pt == mc->mp.cn_pt) {
		++mc->st.rtp_rx;
		if (mc->state == MC_LIVE)
			rtp_audio(mc, &pkt, now);
	}
	else if ((int)pkt.pt == mc->mp.telev_pt) {
		++mc->st.rtp_rx;
		if (mc->jb)
			jb_note_seq(mc->jb, pkt.ssrc, pkt.seq);
		if (mc->dtmf_on && mc->state == MC_LIVE)
			(void)dtmf_rx_put(&mc->dtmf_rx, &pkt, now);
	}
	else {
		++mc->st.rtp_bad;
	}
}


/* one datagram and its source; negative when the socket is drained */
/*
 * A dual-stack socket (rtp_address ::) sees an IPv4 peer as a v4-mapped
 * IPv6 address (::ffff:a.b.c.d). Addresses are kept as IPv4 inside, as
 * the SDP gives them, so that the latch and RTCP compare like with like:
 * unmapped on receive, mapped again on send.
 */
static void addr_unmap(struct sa *sa)
{
	uint32_t a;

	if (sa->u.sa.sa_family != AF_INET6 ||
	    !IN6_IS_ADDR_V4MAPPED(&sa->u.in6.sin6_addr))
		return;

	memcpy(&a, &sa->u.in6.sin6_addr.s6_addr[12], sizeof(a));
	sa_set_in(sa, ntohl(a), ntohs(sa->u.in6.sin6_port));
}


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


static ssize_t udp_recv(int fd, uint8_t *buf, size_t size, struct sa *src)
{
	ssize_t n;

	sa_init(src, AF_UNSPEC);
	src->len = sizeof(src->u);

	n = recvfrom(fd, buf, size, 0, &src->u.sa, &src->len);
	if (n >= 0)
		addr_unmap(src);

	return n;
}


static void rtp_read_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	static __thread uint8_t bufs[RX_BATCH][MAX_RTP];
	struct mmsghdr msgs[RX_BATCH];
	struct iovec iov[RX_BATCH];
	struct sa src[RX_BATCH];
	struct mcall *mc = io->data;
	int n;

	(void)revents;

	/* before the answer's media parameters reach this worker, RTP stays
	   in the socket (the caller may start the moment it sees the 200,
	   before ANSWERED is here): set_params starts reading again */
	if (!mc->have_mp) {
		ev_io_stop(loop, io);
		return;
	}

	/* everything queued in one system call (usually one datagram:
	   recvfrom in a loop would cost a second call that says EAGAIN) */
	for (int i = 0; i < RX_BATCH; i++) {
		sa_init(&src[i], AF_UNSPEC);
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = MAX_RTP;
		memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
		msgs[i].msg_hdr.msg_name = &src[i].u;
		msgs[i].msg_hdr.msg_namelen = sizeof(src[i].u);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}

	n = recvmmsg(mc->rtp_fd, msgs, RX_BATCH, MSG_DONTWAIT, NULL);

	for (int i = 0; i < n; i++) {
		src[i].len = msgs[i].msg_hdr.msg_namelen;
		addr_unmap(&src[i]);
		rtp_packet(mc, bufs[i], msgs[i].msg_len, &src[i]);
	}

	/* everything queued in the socket is in the jitter buffer before
	   any slot is decided, so a stall does not conceal media that was
	   already here */
	if (mc->jb_pending) {
		mc->jb_pending = false;
		jb_drain(mc, worker_now_us());
	}
}


static void rtcp_read_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct mcall *mc = io->data;
	uint8_t buf[MAX_RTP];

	(void)loop;
	(void)revents;

	for (int i = 0; i < RX_BATCH; i++) {
		struct sa src;
		ssize_t n = udp_recv(mc->rtcp_fd, buf, sizeof(buf), &src);

		if (n < 0)
			break;

		rtcp_packet(mc, buf, (size_t)n, &src);
	}
}


static void rtcp_send(struct mcall *mc, bool bye)
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

	rtcp_send(mc, false);

	/* session bandwidth of one G.711 or Opus call, both ways [bit/s] */
	ms = rtcpx_next_interval_ms(&mc->rtcp, 2 * 80000);
	ev_timer_set(t, ms / 1000.0, 0);
	ev_timer_start(loop, t);
}


/*
 * RTP send: the 20 ms tick
 */

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
	if (mc->bl_trim >= mc->outframe_size && depth > mc->outframe_size &&
	    playq_peek(mc->pq, head, mc->outframe_size) == mc->outframe_size &&
	    agent_quiet(mc, head, mc->outframe_size)) {
		(void)playq_read(mc->pq, head, mc->outframe_size);
		mc->bl_trim -= mc->outframe_size;
		++mc->st.agent_trimmed;
	}
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
	int plen;

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
	   arriving soon after missed this tick (phase_note) */
	mc->ph_under_us = n < mc->outframe_size && mc->tx_had_audio ?
		worker_now_us() : 0;
	mc->tx_had_audio = n == mc->outframe_size;
	mc->tx_empty = n ? 0 : mc->tx_empty + 1;

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
	(void)rtpkt_encode(pkt, sizeof(pkt), marker, pt, mc->seq, ts, mc->ssrc);
	mc->tx_marker = false;
	++mc->seq;
	mc->ts += mc->tx_samples;

	if (!mc->mp.dir.send || !sa_isset(latch_remote(&mc->latch), SA_ALL))
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
	    now > mc->last_rx_us + (uint64_t)mc->ms->conf.rtp_timeout_ms * 1000) {
		end_request(mc, END_RTP_TIMEOUT, "no RTP from the caller");
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


/*
 * Life cycle
 */

static void mcall_destructor(void *arg)
{
	struct mcall *mc = arg;

	if (mc->loop) {
		ev_io_stop(mc->loop, &mc->rtp_io);
		ev_io_stop(mc->loop, &mc->rtcp_io);
		ev_timer_stop(mc->loop, &mc->tx_tmr);
		ev_timer_stop(mc->loop, &mc->rtcp_tmr);
		ev_timer_stop(mc->loop, &mc->jb_tmr);
		ev_timer_stop(mc->loop, &mc->conn_tmr);
	}
	mem_deref(mc->jb);
	mem_deref(mc->xc);
	mem_deref(mc->srtp);
	worker_call_remove(mc->w, &mc->he);
	alink_close(mc->link, "call ended");
	mem_deref(mc->pq);
	mem_deref(mc->ms);   /* closes the sockets */
}


/**
 * Start a call's media on the worker (worker thread, WMSG_CALL_START)
 *
 * @param w   Worker
 * @param ms  Parameters; ownership passes to the call
 *
 * @return 0 if success; on failure the SIP thread has been told
 */
/* an agent address had its turn without a TCP connection: the next */
static void conn_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct mcall *mc = t->data;
	const struct resolver_addrs *ra = &mc->ms->agent_addrs;
	char why[40];

	(void)loop;
	(void)revents;

	if (mc->state != MC_CONNECTING || !mc->link ||
	    alink_connected(mc->link) || mc->addr_next >= ra->n)
		return;

	alink_close(mc->link, "connect: next address");
	mc->link = NULL;
	(void)re_snprintf(why, sizeof(why), "no connection within %u ms",
			  (unsigned)CONNECT_TRY_MS);
	if (link_next(mc, why))
		end_request(mc, END_AGENT_FAILED, "cannot connect to agent");
}


/* the agent address tried last failed (why): on to the next one;
   0 if a connection is under way */
static int link_next(struct mcall *mc, const char *why)
{
	const struct resolver_addrs *ra = &mc->ms->agent_addrs;

	log_info("call %s: agent %s at %j: %s; trying the next address, %j",
		 mc->ms->ids.call_sid, mc->ms->agent_id,
		 &ra->a[mc->addr_next - 1], why, &ra->a[mc->addr_next]);

	return link_connect(mc);
}


static const struct alink_handlers link_handlers = {
	link_open, link_text, link_bin, link_close
};


/*
 * Connect the agent link: to the URL's host when it is an IP literal,
 * else to the next of the addresses the SIP thread resolved, going on
 * down the list while a connection cannot even be started. Returns 0
 * when one is under way.
 */
static int link_connect(struct mcall *mc)
{
	const struct media_start *ms = mc->ms;
	const unsigned n = ms->agent_addrs.n ? ms->agent_addrs.n : 1;
	int err = ENOENT;

	while (mc->addr_next < n) {
		char addr[64] = "";

		if (ms->agent_addrs.n)
			(void)re_snprintf(addr, sizeof(addr), "%j",
					  &ms->agent_addrs.a[mc->addr_next]);
		++mc->addr_next;

		err = alink_connect(&mc->link, worker_lws(mc->w),
				    ms->agent_url, addr[0] ? addr : NULL,
				    ms->agent_auth_token, worker_tls(mc->w),
				    &link_handlers, mc);
		if (!err) {
			alink_set_txq_max(mc->link, (size_t)
					  ms->conf.agent_txq_kib * 1024);
			/* an address that does not even answer the TCP
			   handshake (SYNs dropped) gets a turn, not the
			   whole connect timeout, when another follows */
			if (mc->addr_next < ms->agent_addrs.n) {
				ev_timer_set(&mc->conn_tmr,
					     CONNECT_TRY_MS / 1000.0, 0);
				ev_timer_start(mc->loop, &mc->conn_tmr);
			}
			return 0;
		}

		log_info("call %s: cannot connect to agent %s%s%s: %m",
			 ms->ids.call_sid, ms->agent_id, addr[0] ? " at " : "",
			 addr, err);
	}

	return err;
}


int mcall_start(struct worker *w, struct media_start *ms)
{
	struct mcall *mc;
	int err;

	mc = mem_zalloc(sizeof(*mc), mcall_destructor);
	if (!mc) {
		mem_deref(ms);
		return ENOMEM;
	}

	mc->id = ms->id;
	mc->w = w;
	mc->ms = ms;
	mc->loop = worker_loop(w);
	mc->rtp_fd = ms->rtp_fd;
	mc->rtcp_fd = ms->rtcp_fd;
	{
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);

		mc->dual = !getsockname(mc->rtp_fd, (struct sockaddr *)&ss,
					&sl) && ss.ss_family == AF_INET6;
	}
	mc->ssrc = rand_u32();
	mc->seq = rand_u16();
	mc->ts = rand_u32();
	mc->tx_marker = true;
	if (ms->proto == AGENT_PROTO_RAW)
		ms->l16 = true;   /* raw frames are 16-bit PCM */

	worker_call_add(w, &mc->he, mc->id, mc);

	err = playq_alloc(&mc->pq, PLAYQ_MAX, send_mark_echo, mc);
	if (err)
		goto out;

	ev_io_init(&mc->rtp_io, rtp_read_cb, mc->rtp_fd, EV_READ);
	mc->rtp_io.data = mc;
	ev_io_start(mc->loop, &mc->rtp_io);
	ev_io_init(&mc->rtcp_io, rtcp_read_cb, mc->rtcp_fd, EV_READ);
	mc->rtcp_io.data = mc;
	ev_io_start(mc->loop, &mc->rtcp_io);
	ev_init(&mc->tx_tmr, tx_cb);
	mc->tx_tmr.data = mc;
	ev_init(&mc->rtcp_tmr, rtcp_cb);
	mc->rtcp_tmr.data = mc;
	ev_init(&mc->jb_tmr, jb_cb);
	mc->jb_tmr.data = mc;
	ev_init(&mc->conn_tmr, conn_cb);
	mc->conn_tmr.data = mc;

	if (link_connect(mc)) {
		end_request(mc, END_AGENT_FAILED, "cannot connect to agent");
		err = 0;   /* the call lives until CALL_STOP */
	}

 out:
	if (err) {
		end_request(mc, END_AGENT_FAILED, "out of memory");
		/* keep the (idle) call until CALL_STOP */
		err = 0;
	}

	return err;
}


/* (re)create the SRTP session when the keys agreed in SDP change */
static void srtp_setup(struct mcall *mc, const struct media_params *mp)
{
	if (mp->srtp_suite == mc->srtp_suite &&
	    !memcmp(mp->srtp_tx_key, mc->srtp_tx_key, SRTPX_KEY_LEN) &&
	    !memcmp(mp->srtp_rx_key, mc->srtp_rx_key, SRTPX_KEY_LEN))
		return;

	mc->srtp = mem_deref(mc->srtp);
	mc->srtp_suite = mp->srtp_suite;
	memcpy(mc->srtp_tx_key, mp->srtp_tx_key, SRTPX_KEY_LEN);
	memcpy(mc->srtp_rx_key, mp->srtp_rx_key, SRTPX_KEY_LEN);

	if (mp->srtp_suite == SRTPX_NONE)
		return;

	if (srtpx_alloc(&mc->srtp, (enum srtpx_suite)mp->srtp_suite,
			mp->srtp_tx_key, mp->srtp_rx_key)) {
		log_warn("call %s: SRTP set-up failed", mc->ms->ids.call_sid);
		end_request(mc, END_SIP_ERROR, "SRTP set-up failed");
	}
}


static void set_params(struct mcall *mc, const struct media_params *mp)
{
	bool first = !mc->have_mp;

	mc->mp = *mp;
	mc->have_mp = true;

	if (first) {
		(void)latch_init(&mc->latch, &mp->raddr, LATCH_DEFAULT_N);
		/* a takeover run must also last 40 ms: a burst of forged
		   packets squeezed between two real ones cannot win */
		latch_set_min_span(&mc->latch, 40000);
		(void)rtcpx_init(&mc->rtcp, mc->ssrc, mc->ms->ids.call_sid,
				 mp->srate, mp->srate);
		mc->rtcp_on = true;
		if (!ev_is_active(&mc->rtp_io))
			ev_io_start(mc->loop, &mc->rtp_io);
	}
	else {
		/* a new SDP address is where media comes from now */
		(void)latch_set_sdp(&mc->latch, &mp->raddr);
	}

	srtp_setup(mc, mp);
}


static uint32_t tx_ptime(const struct media_params *mp)
{
	uint32_t p = mp->ptime;

	if (mp->codec == CODEC_OPUS) {
		struct opusc_fmtp f;

		opusc_fmtp_parse(&f, mp->fmtp);
		if (f.ptime)
			p = f.ptime;
		return (p == 10 || p == 40 || p == 60) ? p : FRAME_MS;
	}

	/* G.711: whole 10 ms steps up to 60 ms */
	return (p >= 10 && p <= 60 && p % 10 == 0) ? p : FRAME_MS;
}


static int codec_setup(struct mcall *mc)
{
	struct xcode_conf xc;
	struct jb_conf jc;
	int err;

	jb_conf_default(&jc);
	jc.clock_rate = mc->mp.srate;
	jc.min_wait = mc->ms->conf.jb_min_ms;
	jc.max_wait = mc->ms->conf.jb_max_ms;
	jc.cn_pt = mc->mp.cn_pt >= 0 ? (uint32_t)mc->mp.cn_pt : JB_PT_NONE;
	if (mc->mp.codec == CODEC_OPUS)
		jc.max_payload = 1500;
	err = jb_alloc(&mc->jb, &jc);
	if (err)
		return err;

	mc->tx_ms = tx_ptime(&mc->mp);
	mc->tx_samples = mc->mp.srate / 1000 * mc->tx_ms;

	memset(&xc, 0, sizeof(xc));
	xc.codec = (enum codec_id)mc->mp.codec;
	xc.clock_rate = mc->mp.srate;
	xc.fmtp = mc->mp.fmtp;
	xc.tx_ms = mc->tx_ms;
	xc.agent_l16 = mc->ms->l16;
	xc.agent_rate = mc->ms->agent_srate;
	xc.opus_complexity = mc->ms->agent_srate == 8000 ?
		mc->ms->conf.opus_complexity_nb : mc->ms->conf.opus_complexity;
	xc.opus_bitrate = mc->ms->conf.opus_bitrate;
	xc.resample_quality = mc->ms->conf.resample_quality;
	err = xcode_alloc(&mc->xc, &xc);
	if (err)
		return err;

	mc->outframe_size = xcode_agent_bytes(mc->xc, mc->tx_ms);

	if (mc->mp.telev_pt >= 0) {
		err  = dtmf_rx_init(&mc->dtmf_rx, mc->mp.srate, dtmf_press, mc);
		err |= dtmf_tx_init(&mc->dtmf_tx, mc->mp.srate, mc->tx_ms);
		if (err)
			return EINVAL;
		mc->dtmf_on = true;
	}

	return 0;
}


/** The call is answered: media flows both ways (WMSG_CALL_ANSWERED) */
void mcall_answered(struct mcall *mc, const struct media_params *mp)
{
	uint64_t now = worker_now_us();
	int err;

	if (mc->state != MC_READY)
		return;

	set_params(mc, mp);

	err = codec_setup(mc);
	if (err) {
		log_warn("call %s: cannot set up %s to the agent's format: %m",
			 mc->ms->ids.call_sid, codec_name(mp->codec), err);
		end_request(mc, END_AGENT_FAILED, "codec set-up failed");
		return;
	}

	mc->state = MC_LIVE;
	mc->last_rx_us = now;
	mc->tx_next_us = now;
	mc->ph_extra = PHASE_EXTRA_START;
	mc->tx_empty = PHASE_PAUSE;
	tx_arm_at(mc, now, mc->tx_next_us);

	/* first report soon after media starts, then RFC 3550 intervals */
	ev_timer_set(&mc->rtcp_tmr, 1.0, 0);
	ev_timer_start(mc->loop, &mc->rtcp_tmr);
}


/** A re-INVITE changed the media (WMSG_CALL_UPDATE) */
void mcall_update(struct mcall *mc, const struct media_params *mp)
{
	set_params(mc, mp);
	mc->last_rx_us = worker_now_us();
}


/** A key press from SIP INFO (WMSG_CALL_DTMF) */
void mcall_dtmf(struct mcall *mc, char digit, uint32_t duration)
{
	(void)duration;

	agent_dtmf(mc, digit);
}


/**
 * End the call's media (WMSG_CALL_STOP): send `stop`, close the WebSocket,
 * close the sockets, report CALL_GONE, free everything
 */
void mcall_stop(struct mcall *mc, enum end_reason reason)
{
	char buf[256];
	int n;

	(void)reason;

	if (mc->link && mc->state != MC_CONNECTING) {
		n = twilio_fmt_stop(buf, sizeof(buf), ++mc->ws_seq,
				    &mc->ms->ids);
		(void)send_text(mc, buf, n, false);
	}

	if (mc->state == MC_LIVE)
		rtcp_send(mc, true);

	if (mc->jb)
		log_info("call %s: %H", mc->ms->ids.call_sid, jb_debug,
			 mc->jb);

	mc->state = MC_ENDING;
	report(mc, SMSG_CALL_GONE, reason, NULL);
	mem_deref(mc);
}


/** Current statistics of the call */
void mcall_stats(const struct mcall *mc, struct media_stats *st)
{
	struct rtcpx_stats rs;

	*st = mc->st;
	st->ws_tx_dropped = alink_dropped(mc->link);
	st->rtp_foreign = mc->latch.dropped;

	if (mc->jb) {
		struct jb_stats js;

		jb_stats(mc->jb, &js);
#define FROM_JB(name)  st->jb.name = js.name;
#define FROM_OWN(name)
#define X(name, type, from, log) FROM_##from(name)
		MSTATS_JB(X)
#undef X
#undef FROM_OWN
#undef FROM_JB
		st->jb.jitter_ms = js.jitter_us / 1000.0;
	}

	if (mc->xc) {
		struct xcode_stats xs;

		xcode_stats(mc->xc, &xs);
#define X(name, type, from, log) st->decoder.name = xs.name;
		MSTATS_DECODER(X)
#undef X
	}

	if (mc->rtcp_on) {
		rtcpx_stats(&mc->rtcp, &rs);
		if (!mc->jb)
			st->jb.jitter_ms = rs.rx_jitter_ms;
		if (rs.remote_valid) {
			st->remote.fraction_lost =
				rs.remote_fraction_lost / 256.0;
			st->remote.jitter_ms = rs.remote_jitter_ms;
		}
		if (rs.rtt_valid)
			st->remote.rtt_ms = rs.rtt_ms;
	}
}
