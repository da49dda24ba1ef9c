/**
 * @file mcall_agent.c  A call's media, the agent side: the link to the
 * agent and the messages both ways
 *
 * Design note. The agent link (agent/alink) is a WebSocket client in the
 * worker's own lws_context, so its callbacks run on the call's thread
 * like everything else of the call. The SIP thread resolved the agent's
 * host; its addresses are tried in turn: the next one when a connection
 * is refused, or when one has not even answered the TCP handshake within
 * CONNECT_TRY_MS while more follow.
 *
 * Out to the agent: `connected` and `start` when the link opens (then the
 * SIP thread hears AGENT_READY and answers the call), one `media` message
 * per 20 ms jitter buffer slot (mcall_rx.c), a `dtmf` per key press, a
 * `mark` echo when the audio queued before a mark has been sent, `stop` at
 * the end. The raw protocol sends binary frames of 16-bit PCM instead of
 * `media`. Media messages are droppable: when the link's send queue is
 * full, they go, control messages stay.
 *
 * In from the agent: `media` (base64) or binary frames go into the
 * playout queue that the send tick (mcall_tx.c) reads; `mark` and `clear`
 * act on that queue; `dtmf` becomes RFC 4733 events, or SIP INFO when no
 * telephone-event was agreed. Audio in an odd number of bytes of 16-bit
 * PCM is dropped whole: it would shift every later sample by a byte.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <ev.h>
#include "cb_re.h"
#include "alink.h"
#include "b64.h"
#include "log.h"
#include "mcall_int.h"
#include "media_start.h"
#include "playq.h"
#include "twilio.h"
#include "worker.h"

enum {
	CONNECT_TRY_MS = 1000,          /**< an agent address's turn, when
					     more follow [ms]             */
};


static int link_connect(struct mcall *mc);
static int link_next(struct mcall *mc, const char *why);


static int send_text(struct mcall *mc, const char *txt, int n,
		     bool droppable)
{
	if (n < 0)
		return -n;

	return alink_send(mc->link, txt, (size_t)n, false, droppable);
}


/**
 * Playout queue mark handler: the audio before a mark has been sent (or
 * cleared); echo the mark to the agent
 *
 * @param name     Mark name, or NULL
 * @param cleared  Released by a clear
 * @param arg      The call
 */
void mcall_agent_mark(const char *name, bool cleared, void *arg)
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


/**
 * One 20 ms frame in the agent's format, to the agent (per jitter
 * buffer slot)
 *
 * @param mc     The call
 * @param frame  Agent audio
 * @param len    Its length [bytes]
 */
void mcall_agent_frame(struct mcall *mc, const uint8_t *frame, size_t len)
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
	ts = mc->media_t0_ms + (uint64_t)mc->chunk * MCALL_FRAME_MS;

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


/** One key press to the agent: exactly one `dtmf` message */
void mcall_agent_dtmf(struct mcall *mc, char digit)
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
			mcall_tx_release(mc);
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
	mcall_report(mc, SMSG_AGENT_READY, END_NONE, NULL);

	return;

 fail:
	log_warn("call %s: cannot start the stream: %m",
		 mc->ms->ids.call_sid, err);
	mcall_end_request(mc, END_AGENT_FAILED, "cannot start the stream");
}


static void agent_media(struct mcall *mc, const char *b64, size_t len)
{
	uint8_t buf[8192];
	size_t olen;

	++mc->st.ws_rx_media;
	mcall_tx_phase_note(mc);

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
	mcall_tx_fed(mc);
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
	size_t q;

	if (mc->ms->proto != AGENT_PROTO_RAW) {
		log_debug("call %s: binary frame ignored (twilio protocol)",
			  mc->ms->ids.call_sid);
		return;
	}

	++mc->st.ws_rx_media;
	mcall_tx_phase_note(mc);

	/* 16-bit PCM: an odd byte would shift every later sample by one
	   byte (loud noise to the end of the call), so the frame goes */
	if (len & 1) {
		log_info("call %s: agent audio frame of %zu bytes (odd, "
			 "16-bit PCM) dropped", mc->ms->ids.call_sid, len);
		mc->st.agent_dropped += len;
		return;
	}

	q = playq_write(mc->pq, data, len);
	mc->st.agent_bytes += len;
	if (q < len)
		mc->st.agent_dropped += len - q;

	/* the tick held for this frame: send it now */
	mcall_tx_fed(mc);
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

	mcall_end_request(mc, (mc->state == MC_CONNECTING) ?
			  END_AGENT_FAILED : END_AGENT_CLOSED, reason);
	(void)err;
}


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
		mcall_end_request(mc, END_AGENT_FAILED,
				  "cannot connect to agent");
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


/**
 * Start connecting the call's agent link (mcall_start)
 *
 * @param mc  The call
 *
 * @return 0 if a connection is under way, otherwise errorcode
 */
int mcall_agent_connect(struct mcall *mc)
{
	ev_init(&mc->conn_tmr, conn_cb);
	mc->conn_tmr.data = mc;

	return link_connect(mc);
}


/** Tell the agent the stream ends: `stop` (mcall_stop) */
void mcall_agent_stop(struct mcall *mc)
{
	char buf[256];
	int n;

	if (!mc->link || mc->state == MC_CONNECTING)
		return;

	n = twilio_fmt_stop(buf, sizeof(buf), ++mc->ws_seq, &mc->ms->ids);
	(void)send_text(mc, buf, n, false);
}
