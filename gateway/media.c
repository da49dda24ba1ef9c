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
#include "g711.h"
#include "latch.h"
#include "rtcpx.h"
#include "gwmsg.h"
#include "log.h"
#include "media.h"
#include "playq.h"
#include "rtpkt.h"
#include "twilio.h"
#include "worker.h"

enum {
	FRAME_MS       = 20,
	MAX_RTP        = 1500,          /**< largest datagram we take       */
	RX_BATCH       = 32,            /**< datagrams per wake-up          */
	PLAYQ_MAX      = 8000 * 2 * 600,/**< 10 min of 16-bit 8 kHz [bytes] */
	LATCH_NEED     = 3,             /**< packets to move to a new source */
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
	uint8_t inframe[960 * 2];     /**< agent frame being assembled    */
	size_t inframe_len;
	size_t inframe_size;          /**< bytes per 20 ms in agent format */

	/* RTP receive */
	ev_io rtp_io;
	ev_io rtcp_io;
	int rtp_fd, rtcp_fd;
	struct latch latch;           /**< where media comes from and goes */
	uint64_t last_rx_us;

	/* RTCP */
	struct rtcpx rtcp;
	bool rtcp_on;
	ev_timer rtcp_tmr;

	/* RTP send */
	ev_timer tx_tmr;
	uint64_t tx_next_us;          /**< next tick, absolute [us]       */
	uint32_t ssrc;
	uint16_t seq;
	uint32_t ts;
	bool tx_marker;
	struct playq *pq;
	size_t outframe_size;         /**< agent bytes per 20 ms          */
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


/* decoded audio in the agent's format, any length: cut into 20 ms */
static void agent_audio(struct mcall *mc, const uint8_t *data, size_t len)
{
	while (len) {
		size_t n = mc->inframe_size - mc->inframe_len;

		if (n > len)
			n = len;

		memcpy(mc->inframe + mc->inframe_len, data, n);
		mc->inframe_len += n;
		data += n;
		len -= n;

		if (mc->inframe_len == mc->inframe_size) {
			agent_send_frame(mc, mc->inframe, mc->inframe_len);
			mc->inframe_len = 0;
		}
	}
}


static void link_open(void *arg)
{
	struct mcall *mc = arg;
	struct twilio_fmt fmt;
	char buf[128];
	char *start = NULL;
	int n, err;

	n = twilio_fmt_connected(buf, sizeof(buf));
	err = send_text(mc, buf, n, false);
	if (err)
		goto fail;

	fmt.l16 = mc->ms->l16;
	fmt.srate = mc->ms->agent_srate;
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


static void agent_media(struct mcall *mc, const char *b64, size_t len)
{
	uint8_t buf[8192];
	size_t olen;

	++mc->st.ws_rx_media;

	/* decode in bounded pieces: 4 base64 chars -> 3 bytes */
	while (len) {
		size_t n = len > 8188 ? 8188 : len;
		size_t q;

		olen = sizeof(buf);
		if (base64_decode(b64, n, buf, &olen)) {
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
		++mc->st.dtmf_tx;
		/* RFC 4733 playout comes with the DTMF work */
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
	mc->st.agent_bytes += len;
	if (playq_write(mc->pq, data, len) < len)
		mc->st.agent_dropped += len;
}


static void link_close(int err, const char *reason, void *arg)
{
	struct mcall *mc = arg;

	mc->link = NULL;

	if (mc->state == MC_ENDING)
		return;

	log_info("call %s: agent link closed: %s", mc->ms->ids.call_sid,
		 reason ? reason : "");

	end_request(mc, (mc->state == MC_CONNECTING) ? END_AGENT_FAILED :
		    END_AGENT_CLOSED, reason);
	(void)err;
}


/*
 * RTP receive
 */

static void rtp_audio(struct mcall *mc, const struct rtpkt *pkt)
{
	uint8_t buf[MAX_RTP];

	if (mc->ms->l16 || mc->ms->agent_srate != 8000)
		return;   /* wideband agents come with the resampler work */

	switch (mc->mp.codec) {

	case CODEC_PCMU:
		agent_audio(mc, pkt->payload, pkt->payload_len);
		break;

	case CODEC_PCMA:
		g711_alaw_to_ulaw(buf, pkt->payload, pkt->payload_len);
		agent_audio(mc, buf, pkt->payload_len);
		break;

	default:
		break;
	}
}


static void rtcp_packet(struct mcall *mc, const uint8_t *buf, size_t len,
			const struct sa *src)
{
	/* RTCP from anyone but the media source is not ours to believe */
	if (!mc->rtcp_on || !sa_cmp(src, latch_remote(&mc->latch), SA_ADDR))
		return;

	(void)rtcpx_decode(&mc->rtcp, buf, len, worker_now_us(),
			   rtcpx_ntp_now());
}


static void rtp_packet(struct mcall *mc, const uint8_t *buf, size_t len,
		       const struct sa *src)
{
	uint64_t now = worker_now_us();
	struct rtpkt pkt;

	if (rtpkt_is_rtcp(buf, len)) {
		rtcp_packet(mc, buf, len, src);   /* rtcp-mux */
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

	if (pkt.pt == mc->mp.pt) {
		++mc->st.rtp_rx;
		if (mc->state == MC_LIVE && mc->mp.dir.recv)
			rtp_audio(mc, &pkt);
	}
	else if ((int)pkt.pt == mc->mp.telev_pt ||
		 (int)pkt.pt == mc->mp.cn_pt) {
		++mc->st.rtp_rx;
	}
	else {
		++mc->st.rtp_bad;
	}
}


static void rtp_read_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct mcall *mc = io->data;
	uint8_t buf[MAX_RTP];

	(void)loop;
	(void)revents;

	for (int i = 0; i < RX_BATCH; i++) {
		struct sa src;
		ssize_t n;

		sa_init(&src, AF_UNSPEC);
		src.len = sizeof(src.u);
		n = recvfrom(mc->rtp_fd, buf, sizeof(buf), 0, &src.u.sa,
			     &src.len);
		if (n < 0)
			break;

		if (!mc->have_mp)
			continue;

		rtp_packet(mc, buf, (size_t)n, &src);
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
		ssize_t n;

		sa_init(&src, AF_UNSPEC);
		src.len = sizeof(src.u);
		n = recvfrom(mc->rtcp_fd, buf, sizeof(buf), 0, &src.u.sa,
			     &src.len);
		if (n < 0)
			break;

		rtcp_packet(mc, buf, (size_t)n, &src);
	}
}


static void rtcp_send(struct mcall *mc, bool bye)
{
	uint8_t buf[RTCPX_BUF_SIZE];
	const struct sa *dst;
	struct sa rtcp_dst;
	size_t len = 0;

	if (!mc->rtcp_on || (!mc->mp.dir.send && !mc->mp.dir.recv))
		return;

	if (rtcpx_encode(&mc->rtcp, buf, sizeof(buf), &len, bye,
			 worker_now_us(), rtcpx_ntp_now()))
		return;

	/* RTCP follows the latched media source: same host, RTCP port */
	if (mc->mp.rtcp_mux) {
		dst = latch_remote(&mc->latch);
		(void)sendto(mc->rtp_fd, buf, len, 0, &dst->u.sa, dst->len);
	}
	else {
		rtcp_dst = *latch_remote(&mc->latch);
		sa_set_port(&rtcp_dst, sa_port(&mc->mp.raddr_rtcp));
		if (sa_cmp(latch_remote(&mc->latch), &mc->mp.raddr, SA_ALL))
			rtcp_dst = mc->mp.raddr_rtcp;
		(void)sendto(mc->rtcp_fd, buf, len, 0, &rtcp_dst.u.sa,
			     rtcp_dst.len);
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

static void tx_arm(struct mcall *mc, uint64_t now)
{
	double delay = 0;

	if (mc->tx_next_us > now)
		delay = (double)(mc->tx_next_us - now) / 1e6;

	ev_timer_set(&mc->tx_tmr, delay, 0);
	ev_timer_start(mc->loop, &mc->tx_tmr);
}


static void tx_frame(struct mcall *mc)
{
	uint8_t pkt[RTPKT_HDR_SIZE + 960];
	uint8_t *payload = pkt + RTPKT_HDR_SIZE;
	uint8_t agent[960];
	const struct sa *dst;
	size_t n, plen = 160;

	n = playq_read(mc->pq, agent, mc->outframe_size);
	if (n < mc->outframe_size)
		memset(agent + n, 0xff, mc->outframe_size - n);  /* µ-law 0 */

	switch (mc->mp.codec) {

	case CODEC_PCMU:
		memcpy(payload, agent, 160);
		break;

	case CODEC_PCMA:
		g711_ulaw_to_alaw(payload, agent, 160);
		break;

	default:
		return;
	}

	(void)rtpkt_encode(pkt, sizeof(pkt), mc->tx_marker, (uint8_t)mc->mp.pt,
			   mc->seq, mc->ts, mc->ssrc);
	mc->tx_marker = false;
	++mc->seq;
	mc->ts += 160;

	if (!mc->mp.dir.send || !sa_isset(latch_remote(&mc->latch), SA_ALL))
		return;

	dst = latch_remote(&mc->latch);
	if (sendto(mc->rtp_fd, pkt, RTPKT_HDR_SIZE + plen, 0, &dst->u.sa,
		   dst->len) > 0) {
		++mc->st.rtp_tx;
		if (mc->rtcp_on)
			rtcpx_rtp_sent(&mc->rtcp, mc->ts - 160, plen,
				       worker_now_us());
	}
}


static void tx_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct mcall *mc = t->data;
	uint64_t now = worker_now_us();
	unsigned frames = 0;

	(void)loop;
	(void)revents;

	if (mc->state != MC_LIVE)
		return;

	/* fired early (libev's clock is coarser than ours): wait on */
	if (now + 500 < mc->tx_next_us) {
		tx_arm(mc, now);
		return;
	}

	/* a stalled loop: skip what is lost rather than burst it out */
	if (now > mc->tx_next_us + 3 * FRAME_MS * 1000) {
		uint64_t missed = (now - mc->tx_next_us) / (FRAME_MS * 1000);

		mc->ts += (uint32_t)(missed * 160);
		mc->tx_next_us += missed * FRAME_MS * 1000;
	}

	while (mc->tx_next_us <= now + 500 && frames++ < 3) {
		tx_frame(mc);
		mc->tx_next_us += FRAME_MS * 1000;
	}

	if (mc->ms->conf.rtp_timeout_ms && mc->mp.dir.recv &&
	    now > mc->last_rx_us + (uint64_t)mc->ms->conf.rtp_timeout_ms * 1000) {
		end_request(mc, END_RTP_TIMEOUT, "no RTP from the caller");
		return;
	}

	tx_arm(mc, now);
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
	}
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
int mcall_start(struct worker *w, struct media_start *ms)
{
	static const struct alink_handlers h = {
		link_open, link_text, link_bin, link_close
	};
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
	mc->ssrc = rand_u32();
	mc->seq = rand_u16();
	mc->ts = rand_u32();
	mc->tx_marker = true;
	mc->inframe_size = 160;
	mc->outframe_size = 160;

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

	err = alink_connect(&mc->link, worker_lws(w), ms->agent_url,
			    ms->agent_auth_token, ms->conf.agent_tls_insecure,
			    &h, mc);
	if (err) {
		log_info("call %s: cannot connect to agent %s: %m",
			 ms->ids.call_sid, ms->agent_id, err);
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
	}
	else {
		/* a new SDP address is where media comes from now */
		(void)latch_set_sdp(&mc->latch, &mp->raddr);
	}
}


/** The call is answered: media flows both ways (WMSG_CALL_ANSWERED) */
void mcall_answered(struct mcall *mc, const struct media_params *mp)
{
	uint64_t now = worker_now_us();

	if (mc->state != MC_READY)
		return;

	set_params(mc, mp);
	mc->state = MC_LIVE;
	mc->last_rx_us = now;
	mc->tx_next_us = now;
	tx_arm(mc, now);

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
	char buf[256];
	int n;

	(void)duration;

	if (!mc->link || mc->state != MC_LIVE)
		return;

	n = twilio_fmt_dtmf(buf, sizeof(buf), ++mc->ws_seq,
			    mc->ms->ids.stream_sid, digit);
	if (send_text(mc, buf, n, false) == 0)
		++mc->st.dtmf_rx;
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

	mc->state = MC_ENDING;
	report(mc, SMSG_CALL_GONE, reason, NULL);
	mem_deref(mc);
}


/** Current statistics of the call */
void mcall_stats(const struct mcall *mc, struct media_stats *st)
{
	struct rtcpx_stats rs;

	*st = mc->st;
	st->agent_dropped += alink_dropped(mc->link);
	st->rtp_foreign = mc->latch.dropped;

	if (mc->rtcp_on) {
		rtcpx_stats(&mc->rtcp, &rs);
		st->jitter_ms = rs.rx_jitter_ms;
		if (rs.remote_valid) {
			st->remote_fraction_lost =
				rs.remote_fraction_lost / 256.0;
			st->remote_jitter_ms = rs.remote_jitter_ms;
		}
		if (rs.rtt_valid)
			st->rtt_ms = rs.rtt_ms;
	}
}
