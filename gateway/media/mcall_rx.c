/**
 * @file mcall_rx.c  A call's media, receive: RTP in, jitter buffer, decode,
 * to the agent
 *
 * Design note.
 *
 *   caller --RTP--> rtp_read_cb --> SRTP --> latch --> jitter buffer
 *        --> slot (20 ms) --> decode (xcode) --> agent format
 *        --> mcall_agent_frame --> `media` message --> WebSocket --> agent
 *
 * One wake-up takes everything queued in the socket (recvmmsg, RX_BATCH
 * datagrams a call, while a batch comes back full, RX_ROUNDS at most)
 * into the jitter buffer before a slot with a gap is decided (between
 * batches only the slots whose media is here go out: jb_waiting), and the
 * media timers run below input (MCALL_TICK_PRI), so a stall of the loop
 * does not conceal media that was already here. SRTP is checked before
 * anything else: nothing unauthenticated moves the latch. The latch
 * decides where media comes from (and so where ours goes): the SDP's
 * address and port (rtp/latch.c; on a trunk with rtp_latching nat, the
 * source it learns). RTCP comes on its own socket or muxed on
 * the RTP one, and counts only from the latched source. Until the answer's
 * media parameters reach the worker, RTP stays in the socket.
 *
 * The jitter buffer gives one slot per 20 ms; jb_tmr fires when the next
 * one is due and is re-armed only when that time moves. Each slot becomes
 * exactly one frame to the agent (concealed or comfort noise when there
 * was no packet for it). Per packet: no allocation, no lock, no system
 * call but the one receive per wake-up.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <ev.h>
#include "cb_re.h"
#include "jb.h"
#include "log.h"
#include "mcall_int.h"
#include "media_start.h"
#include "opusc.h"
#include "rtpkt.h"
#include "worker.h"
#include "xcode.h"

enum {
	MAX_RTP        = 1500,          /**< largest datagram we take       */
	RX_BATCH       = 8,             /**< datagrams per system call      */
	RX_ROUNDS      = 16,            /**< system calls per wake-up, most  */
};


/* give every slot that is due to the agent */
static void jb_drain(struct mcall *mc, uint64_t now, bool ready_only)
{
	uint8_t frame[960 * 2];
	struct jb_out out;
	uint64_t due;

	for (int i = 0; i < 16; i++) {
		int n;

		if ((ready_only && jb_waiting(mc->jb)) ||
		    jb_get(mc->jb, now, &out))
			break;

		n = xcode_decode_slot(mc->xc, &out, frame, sizeof(frame));
		if (n > 0 && mc->mp.dir.recv)
			mcall_agent_frame(mc, frame, (size_t)n);
	}

	if (ready_only)
		return;

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

	jb_drain(mc, now, false);
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
	else if ((int)pkt->pt == mc->mp.rx_pt) {
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

	switch (latch_check(&mc->latch, src, pkt.ssrc, pkt.seq, pkt.ts,
			    now)) {

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

	if ((int)pkt.pt == mc->mp.rx_pt || (int)pkt.pt == mc->mp.rx_cn_pt) {
		++mc->st.rtp_rx;
		if (mc->state == MC_LIVE)
			rtp_audio(mc, &pkt, now);
	}
	else if ((int)pkt.pt == mc->mp.rx_telev_pt) {
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


/* one datagram and its source; negative when the socket is drained */
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


/* one recvmmsg: up to RX_BATCH datagrams into rtp_packet; returns how
   many (negative when the socket is drained) */
static int rtp_read_batch(struct mcall *mc)
{
	static __thread uint8_t bufs[RX_BATCH][MAX_RTP];
	struct mmsghdr msgs[RX_BATCH];
	struct iovec iov[RX_BATCH];
	struct sa src[RX_BATCH];
	int n;

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

	return n;
}


static void rtp_read_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct mcall *mc = io->data;

	(void)revents;

	/* before the answer's media parameters reach this worker, RTP stays
	   in the socket (the caller may start the moment it sees the 200,
	   before ANSWERED is here): mcall_rx_resume starts reading again */
	if (!mc->have_mp) {
		ev_io_stop(loop, io);
		return;
	}

	/* everything queued (usually one datagram: recvfrom in a loop would
	   cost a second call that says EAGAIN). A full batch means more may
	   wait, as after a worker that woke late: the slots whose media is
	   here go out (the buffer holds only so many packets), and the
	   reading goes on. So everything queued in the socket is in the
	   jitter buffer before a slot with a gap is decided, and a stall
	   does not conceal media that was already here */
	for (int r = 0; r < RX_ROUNDS && rtp_read_batch(mc) == RX_BATCH; r++) {
		if (mc->jb_pending)
			jb_drain(mc, worker_now_us(), true);
	}

	if (mc->jb_pending) {
		mc->jb_pending = false;
		jb_drain(mc, worker_now_us(), false);
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


/** Watch the call's RTP and RTCP sockets (mcall_start) */
void mcall_rx_init(struct mcall *mc)
{
	ev_io_init(&mc->rtp_io, rtp_read_cb, mc->rtp_fd, EV_READ);
	mc->rtp_io.data = mc;
	ev_io_start(mc->loop, &mc->rtp_io);
	ev_io_init(&mc->rtcp_io, rtcp_read_cb, mc->rtcp_fd, EV_READ);
	mc->rtcp_io.data = mc;
	ev_io_start(mc->loop, &mc->rtcp_io);
	ev_init(&mc->jb_tmr, jb_cb);
	ev_set_priority(&mc->jb_tmr, MCALL_TICK_PRI);
	mc->jb_tmr.data = mc;
}


/** Read RTP again: the media parameters are here (rtp_read_cb stopped) */
void mcall_rx_resume(struct mcall *mc)
{
	if (!ev_is_active(&mc->rtp_io))
		ev_io_start(mc->loop, &mc->rtp_io);
}
