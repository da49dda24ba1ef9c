/**
 * @file mcall.c  A call's media on a worker: life cycle, media parameters,
 * SRTP and codec set-up, statistics
 *
 * Design note. A call's media lives entirely on one worker thread, in one
 * struct mcall (mcall_int.h), in four parts:
 *
 *   mcall.c        what the SIP thread asks (WMSG_CALL_*) and what it is
 *                  told (SMSG_*): the call's life cycle
 *   mcall_rx.c     caller -> agent: RTP in, jitter buffer, decode
 *   mcall_tx.c     agent -> caller: playout queue, the 20 ms tick, RTP out
 *   mcall_agent.c  the agent link and its messages both ways
 *
 * Life cycle:
 *
 *   CONNECTING  mcall_start: sockets watched, the agent link opening
 *   READY       the link is open, `start` sent, AGENT_READY reported: the
 *               SIP thread answers the caller
 *   LIVE        mcall_answered: codec, jitter buffer and tick set up,
 *               media both ways; mcall_update for each re-INVITE
 *   ENDING      the call asked the SIP thread to end it (END_REQ) or is
 *               being stopped; mcall_stop (CALL_STOP) sends `stop`, an
 *               RTCP BYE, reports CALL_GONE with the final statistics and
 *               frees everything, closing the sockets
 *
 * A call that fails before LIVE stays, idle, until CALL_STOP: the SIP
 * thread owns the decision to end a call. Nothing here runs per packet.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <ev.h>
#include "cb_re.h"
#include "alink.h"
#include "codec.h"
#include "jb.h"
#include "log.h"
#include "mcall.h"
#include "mcall_int.h"
#include "media_start.h"
#include "opusc.h"
#include "playq.h"
#include "worker.h"
#include "xcode.h"


/**
 * Tell the SIP thread (SMSG_*): the call's id, why and what; its final
 * statistics with SMSG_CALL_GONE
 */
void mcall_report(struct mcall *mc, int id, enum end_reason reason,
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


/** Ask the SIP thread to end the call (once); it answers with CALL_STOP */
void mcall_end_request(struct mcall *mc, enum end_reason reason,
		       const char *detail)
{
	if (mc->state == MC_ENDING)
		return;

	mc->state = MC_ENDING;
	mcall_report(mc, SMSG_CALL_END_REQ, reason, detail);
}


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


/* a socket bound to :: takes IPv4 peers too, v4-mapped */
static bool sock_dual(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	return !getsockname(fd, (struct sockaddr *)&ss, &sl) &&
		ss.ss_family == AF_INET6;
}


/**
 * Start a call's media on the worker (worker thread, WMSG_CALL_START):
 * watch its sockets and connect to the agent
 *
 * @param w   Worker
 * @param ms  Parameters; ownership passes to the call
 *
 * @return 0 if success; on failure the SIP thread has been told
 */
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
	mc->dual = sock_dual(mc->rtp_fd);
	mc->ssrc = rand_u32();
	mc->seq = rand_u16();
	mc->ts = rand_u32();
	mc->tx_marker = true;
	if (ms->proto == AGENT_PROTO_RAW)
		ms->l16 = true;   /* raw frames are 16-bit PCM */

	worker_call_add(w, &mc->he, mc->id, mc);

	err = mcall_tx_init(mc);
	if (err)
		goto out;

	mcall_rx_init(mc);

	if (mcall_agent_connect(mc)) {
		mcall_end_request(mc, END_AGENT_FAILED,
				  "cannot connect to agent");
		err = 0;   /* the call lives until CALL_STOP */
	}

 out:
	if (err) {
		mcall_end_request(mc, END_AGENT_FAILED, "out of memory");
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
		mcall_end_request(mc, END_SIP_ERROR, "SRTP set-up failed");
	}
}


static void set_params(struct mcall *mc, const struct media_params *mp)
{
	bool first = !mc->have_mp;

	mc->mp = *mp;
	mc->have_mp = true;

	if (first) {
		(void)latch_init(&mc->latch, &mp->raddr, mc->ms->rtp_nat ?
				 LATCH_NAT : LATCH_STRICT, LATCH_DEFAULT_N);
		/* (NAT) a learning run must also last 40 ms: a burst of
		   forged packets squeezed between two real ones cannot win */
		latch_set_min_span(&mc->latch, 40000);
		(void)rtcpx_init(&mc->rtcp, mc->ssrc, mc->ms->ids.call_sid,
				 mp->srate, mp->srate);
		mc->rtcp_on = true;
		mcall_rx_resume(mc);
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
		return (p == 10 || p == 40 || p == 60) ? p : MCALL_FRAME_MS;
	}

	/* G.711: whole 10 ms steps up to 60 ms */
	return (p >= 10 && p <= 60 && p % 10 == 0) ? p : MCALL_FRAME_MS;
}


/* a key press from the caller (RFC 4733): to the agent */
static void dtmf_press(const struct dtmf_event *ev, void *arg)
{
	struct mcall *mc = arg;

	if (!ev->end)
		mcall_agent_dtmf(mc, ev->digit);
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
	jc.cn_pt = mc->mp.rx_cn_pt >= 0 ? (uint32_t)mc->mp.rx_cn_pt :
		JB_PT_NONE;
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
		mcall_end_request(mc, END_AGENT_FAILED, "codec set-up failed");
		return;
	}

	mc->state = MC_LIVE;
	mc->last_rx_us = now;
	mcall_tx_start(mc, now);
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

	mcall_agent_dtmf(mc, digit);
}


/**
 * End the call's media (WMSG_CALL_STOP): send `stop`, close the WebSocket,
 * close the sockets, report CALL_GONE, free everything
 */
void mcall_stop(struct mcall *mc, enum end_reason reason)
{
	(void)reason;

	mcall_agent_stop(mc);

	if (mc->state == MC_LIVE)
		mcall_tx_rtcp_send(mc, true);

	if (mc->jb)
		log_info("call %s: %H", mc->ms->ids.call_sid, jb_debug,
			 mc->jb);

	mc->state = MC_ENDING;
	mcall_report(mc, SMSG_CALL_GONE, reason, NULL);
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


uint64_t mcall_id(const struct mcall *mc)
{
	return mc->id;
}
