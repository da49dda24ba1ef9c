/**
 * @file sipcall.c  An inbound call's life on the SIP side (SIP thread)
 *
 * Design note. An admitted call (sipinvite.c) has had 100 Trying and 180
 * Ringing; its RTP socket pair and a media_start go to the least loaded
 * media worker, which opens the agent's WebSocket. Only when the worker
 * reports the agent ready (connected and start sent) do we answer 200 OK
 * with SDP; if that takes longer than agent_connect_timeout_ms we answer
 * 503.
 *
 * A call ends exactly once (sipcall_end()): BYE or CANCEL from the caller,
 * the agent hanging up or failing, RTP timeout, max duration, shutdown.
 * Ending sends one CALL_STOP to the worker; the call is freed when the
 * worker answers CALL_GONE, so no RTP port, socket or WebSocket outlives
 * its call. libre's sipsess deals with the RFC 5407 CANCEL/200 race: a
 * CANCEL that arrives after our 200 gets its own 200 and changes nothing,
 * and the caller's later BYE ends the call.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include "cb_re.h"
#include "callreg.h"
#include "callsdp.h"
#include "codec.h"
#include "gwconf.h"
#include "gwstats.h"
#include "log.h"
#include "media_start.h"
#include "mstats.h"
#include "resolver.h"
#include "sid.h"
#include "worker.h"
#include "sipgw_int.h"
#include "sipreply.h"


/* no longer waiting for its ACK: out of its source's count */
static void unpend(struct call *call)
{
	if (!call->pending)
		return;

	call->pending = false;
	sipflood_pending(call->gw->flood, &call->src, -1);
}


static void call_destructor(void *arg)
{
	struct call *call = arg;

	unpend(call);
	tmr_cancel(&call->tmr_agent);
	tmr_cancel(&call->tmr_maxdur);
	tmr_cancel(&call->tmr_ack);
	hash_unlink(&call->he);
	mem_deref(call->sess);
	mem_deref(call->sdp);
	mem_deref(call->pending_ms);
}


static bool id_cmp(struct le *le, void *arg)
{
	const struct call *call = le->data;

	return call->id == *(uint64_t *)arg;
}


static struct call *call_find(struct sipgw *gw, uint64_t id)
{
	return list_ledata(hash_lookup(gw->calls, (uint32_t)id, id_cmp, &id));
}


static void call_free(struct call *call, const struct media_stats *final)
{
	struct sipgw *gw = call->gw;

	callreg_remove(gw->reg, call->id,
		       callstate_final(call->reason, call->t_answer != 0),
		       call->reason, final);
	--gw->ncalls;
	mem_deref(call);
	sipgw_shutdown_check(gw);
}


static int push_wmsg(struct call *call, int id, enum end_reason reason)
{
	struct wmsg *m;
	int err;

	if (!call->w)
		return ENOENT;   /* workers stopped (shutdown) */

	m = mem_zalloc(sizeof(*m), NULL);
	if (!m)
		return ENOMEM;

	m->id = call->id;
	m->reason = reason;
	m->media = call->mp;

	err = worker_push(call->w, id, m);
	if (err)
		mem_deref(m);

	return err;
}


/**
 * End a call, exactly once
 *
 * @param call    The call
 * @param reason  Why it ends
 * @param answer  The final answer to a call not answered yet (ignored
 *                once answered, or when the caller ended it)
 * @param why     Detail for the log (NULL if none)
 */
void sipcall_end(struct call *call, enum end_reason reason,
		 enum sipreply answer, const char *why)
{
	if (call->ended)
		return;

	call->ended = true;
	call->reason = reason;
	unpend(call);
	tmr_cancel(&call->tmr_agent);
	tmr_cancel(&call->tmr_maxdur);
	tmr_cancel(&call->tmr_ack);

	log_info("call %s: ending (%s%s%s)", call->call_sid,
		 callstate_reason_name(reason), why ? ": " : "",
		 why ? why : "");

	if (call->sess && call->state == CALL_RINGING &&
	    reason != END_CALLER_CANCEL && reason != END_CALLER_BYE)
		(void)sipreply_reject(call->sess, answer);

	/* hands the session to libre: it sends BYE if one is due, and
	   finishes any transaction in progress on its own */
	call->sess = mem_deref(call->sess);
	call->state = CALL_ENDING;
	callreg_state(call->gw->reg, call->id, CALL_ENDING);

	if (call->media_started) {
		if (push_wmsg(call, WMSG_CALL_STOP, reason)) {
			if (call->w)
				log_error("call %s: cannot reach its worker",
					  call->call_sid);
			call_free(call, NULL);
		}
	}
	else {
		call_free(call, NULL);
	}
}


static void agent_timeout(void *arg)
{
	struct call *call = arg;

	sipcall_end(call, END_AGENT_TIMEOUT, SIPREPLY_SERVICE_UNAVAILABLE,
		    "agent not ready in time");
}


/*
 * Answered, and no ACK within sip_ack_timeout_ms (RFC 3261 allows 32 s):
 * the call ends, which frees its slot and its agent now. libre goes on
 * retransmitting the 200 OK, and sends the BYE when it gives up (64 x
 * T1 after the answer).
 */
static void ack_timeout(void *arg)
{
	struct call *call = arg;

	gwstats_add(GWSTAT_SIP_ACK_TIMEOUTS, 1);
	sipcall_end(call, END_NO_ACK, SIPREPLY_SERVER_ERROR,
		    "no ACK to the 200 OK");
}


static void maxdur_timeout(void *arg)
{
	struct call *call = arg;

	sipcall_end(call, END_MAX_DURATION, SIPREPLY_SERVER_ERROR, NULL);
}


/* re-INVITE with or without an offer */
static int offer_handler(struct mbuf **descp, const struct sip_msg *msg,
			 void *arg)
{
	struct call *call = arg;
	struct media_params mp;
	bool has;
	int err;

	if (sipreq_sdp_body(msg, &has))
		return EPROTONOSUPPORT;

	if (!has)
		return callsdp_encode(call->sdp, descp, true);

	err = callsdp_offer_recv(call->sdp, msg->mb, &mp);
	if (err) {
		log_info("call %s: re-INVITE refused: %s", call->call_sid,
			 err == ENOTSUP ? "codec not offered" : "bad SDP");
		return err;
	}

	err = callsdp_encode(call->sdp, descp, false);
	if (err)
		return err;

	log_info("call %s: re-INVITE: %J %s%s", call->call_sid, &mp.raddr,
		 mp.dir.send ? "send" : "", mp.dir.recv ? "recv" : "");

	call->mp = mp;
	if (call->state >= CALL_ANSWERED)
		(void)push_wmsg(call, WMSG_CALL_UPDATE, END_NONE);

	return 0;
}


/* the answer to an offer we made, in an ACK */
static int answer_handler(const struct sip_msg *msg, void *arg)
{
	struct call *call = arg;
	struct media_params mp;
	bool has;
	int err;

	if (sipreq_sdp_body(msg, &has) || !has) {
		log_warn("call %s: ACK without an SDP answer",
			 call->call_sid);
		return EPROTO;
	}

	err = callsdp_answer_recv(call->sdp, msg->mb, &mp);
	if (err) {
		log_warn("call %s: unusable SDP answer", call->call_sid);
		return err;
	}

	call->mp = mp;

	if (call->offer_in_200 && call->state == CALL_ANSWERED) {
		call->offer_in_200 = false;
		return push_wmsg(call, WMSG_CALL_ANSWERED, END_NONE);
	}

	return push_wmsg(call, WMSG_CALL_UPDATE, END_NONE);
}


static void estab_handler(const struct sip_msg *msg, void *arg)
{
	struct call *call = arg;

	(void)msg;

	tmr_cancel(&call->tmr_ack);
	unpend(call);
	log_debug("call %s: established", call->call_sid);
}


static void info_handler(struct sip *sip, const struct sip_msg *msg,
			 void *arg)
{
	struct call *call = arg;
	struct pl sig = PL_INIT, dur = PL_INIT;
	struct wmsg *m;

	if (!msg_ctype_cmp(&msg->ctyp, "application", "dtmf-relay")) {
		(void)sipreply_stateless(sip, msg, SIPREPLY_INFO_NOT_DTMF);
		return;
	}

	if (re_regex((char *)mbuf_buf(msg->mb), mbuf_get_left(msg->mb),
		     "Signal[ \t]*=[ \t]*[0-9*#A-Da-d]1", NULL, NULL, &sig) ||
	    sig.l != 1) {
		(void)sipreply_stateless(sip, msg, SIPREPLY_BAD_DTMF_BODY);
		return;
	}
	(void)re_regex((char *)mbuf_buf(msg->mb), mbuf_get_left(msg->mb),
		       "Duration[ \t]*=[ \t]*[0-9]+", NULL, NULL, &dur);

	(void)sipreply_stateless(sip, msg, SIPREPLY_OK);

	if (call->ended || !call->media_started)
		return;

	m = mem_zalloc(sizeof(*m), NULL);
	if (!m)
		return;

	m->id = call->id;
	m->digit = (char)toupper(sig.p[0]);
	m->duration = pl_isset(&dur) ? pl_u32(&dur) : 0;
	if (worker_push(call->w, WMSG_CALL_DTMF, m))
		mem_deref(m);
}


static void close_handler(int err, const struct sip_msg *msg, void *arg)
{
	struct call *call = arg;
	enum end_reason reason;

	(void)msg;

	/* libre has terminated the session; sipcall_end() releases our
	   reference, which frees it (it answered BYE/CANCEL itself) */
	if (err == ECONNRESET)
		reason = call->state == CALL_RINGING ? END_CALLER_CANCEL :
			END_CALLER_BYE;
	else
		reason = END_SIP_ERROR;

	sipcall_end(call, reason, SIPREPLY_SERVER_ERROR,
		    err == ECONNRESET ? NULL : strerror(err));
}


/**
 * Allocate a call in state RINGING, with a fresh id and CallSid
 *
 * @param callp  Pointer to allocated call
 * @param gw     The gateway
 *
 * @return 0 if success, otherwise errorcode
 */
int sipcall_alloc(struct call **callp, struct sipgw *gw)
{
	struct call *call;

	call = mem_zalloc(sizeof(*call), call_destructor);
	if (!call)
		return ENOMEM;

	call->gw = gw;
	call->state = CALL_RINGING;
	call->id = ++gw->next_id;
	call->t_invite = tmr_jiffies();
	sid_random(call->call_sid, "CA");

	*callp = call;

	return 0;
}


/**
 * Take the INVITE: 180 Ringing, and the session's handlers
 *
 * @param call   The call
 * @param msg    Its INVITE
 * @param cuser  Our Contact (user part or whole URI)
 *
 * @return 0 if success, otherwise errorcode
 */
int sipcall_accept(struct call *call, const struct sip_msg *msg,
		   const char *cuser)
{
	const enum sipreply r = SIPREPLY_RINGING;

	return sipsess_accept(&call->sess, call->gw->sock, msg,
			      sipreply_scode(r), sipreply_reason(r), cuser,
			      "application/sdp", NULL, NULL, NULL, false,
			      offer_handler, answer_handler, estab_handler,
			      info_handler, NULL, close_handler, call,
			      "%H", sipreply_hdrs, &r);
}


/**
 * Enter a call among the gateway's: on a worker, in its table and count,
 * in the call registry
 *
 * @param call      The call
 * @param trunk_id  Its trunk
 * @param has_sdp   The INVITE carried an offer (the codec is known)
 */
void sipcall_register(struct call *call, const char *trunk_id, bool has_sdp)
{
	struct sipgw *gw = call->gw;
	struct callreg_info ri;

	call->w = sipgw_pick_worker(gw);
	hash_append(gw->calls, (uint32_t)call->id, &call->he, call);
	++gw->ncalls;

	memset(&ri, 0, sizeof(ri));
	ri.id = call->id;
	str_ncpy(ri.call_sid, call->call_sid, sizeof(ri.call_sid));
	str_ncpy(ri.number, call->number, sizeof(ri.number));
	str_ncpy(ri.from, call->from, sizeof(ri.from));
	str_ncpy(ri.agent_id, call->agent_id, sizeof(ri.agent_id));
	str_ncpy(ri.trunk_id, trunk_id, sizeof(ri.trunk_id));
	str_ncpy(ri.codec, has_sdp ? codec_name(call->mp.codec) : "-",
		 sizeof(ri.codec));
	ri.worker = worker_index(call->w);
	ri.state = CALL_RINGING;
	(void)callreg_add(gw->reg, &ri);
}


/* the host of a ws:// or wss:// URL, without brackets or port */
static int url_host(const char *url, char *host, size_t sz)
{
	const char *p = strstr(url, "://");
	size_t n;

	if (!p)
		return EINVAL;
	p += 3;

	if (*p == '[') {
		const char *e = strchr(++p, ']');
		if (!e)
			return EINVAL;
		n = (size_t)(e - p);
	}
	else {
		n = strcspn(p, ":/?#");
	}

	if (!n || n >= sz)
		return EINVAL;

	memcpy(host, p, n);
	host[n] = '\0';

	return 0;
}


/* give the call's media to its worker (CALL_START); on failure the call
   is ended, and freed */
static int media_handover(struct call *call, struct media_start *ms)
{
	int err = worker_push(call->w, WMSG_CALL_START, ms);

	if (err) {
		mem_deref(ms);   /* closes the sockets */
		sipcall_end(call, END_SIP_ERROR, SIPREPLY_SERVICE_UNAVAILABLE,
			    "worker unreachable");
		return err;
	}

	call->media_started = true;

	return 0;
}


/**
 * Start the call's media: CALL_START to its worker, once the agent's host
 * name (if it is one) has been looked up. The agent timeout starts now.
 *
 * @param call       The call (registered)
 * @param ms         Its media_start (taken in any case)
 * @param agent_url  The agent's URL
 *
 * @return 0 if success; otherwise the call has been ended and freed
 */
int sipcall_media_start(struct call *call, struct media_start *ms,
			const char *agent_url)
{
	struct sipgw *gw = call->gw;
	char host[256];
	int err;

	/* the agent timeout covers the host name lookup too */
	tmr_start(&call->tmr_agent, gw->conf->agent_timeout_ms,
		  agent_timeout, call);

	if (url_host(agent_url, host, sizeof(host)) ||
	    resolver_is_literal(host))
		return media_handover(call, ms);   /* on error: freed */

	call->pending_ms = ms;
	err = resolver_query(gw->resolver, host, call->id);
	if (err)
		sipcall_end(call, END_AGENT_FAILED,
			    SIPREPLY_SERVICE_UNAVAILABLE,
			    "cannot look up the agent's host");

	return err;
}


/** The agent's host name was looked up (the resolver's handler) */
void sipcall_agent_resolved(int err, const struct resolver_addrs *addrs,
			    uint64_t id, void *arg)
{
	struct sipgw *gw = arg;
	struct call *call = call_find(gw, id);
	struct media_start *ms;

	if (!call || call->ended || !call->pending_ms)
		return;

	ms = call->pending_ms;
	call->pending_ms = NULL;

	if (err) {
		mem_deref(ms);
		sipcall_end(call, END_AGENT_FAILED,
			    SIPREPLY_SERVICE_UNAVAILABLE,
			    "the agent's host name does not resolve");
		return;
	}

	ms->agent_addrs = *addrs;
	(void)media_handover(call, ms);
}


/* AGENT_READY: the agent has `connected` and `start`; answer the call */
static void answer_call(struct call *call)
{
	struct mbuf *desc = NULL;
	int err;

	if (call->ended || call->state != CALL_RINGING)
		return;

	tmr_cancel(&call->tmr_agent);

	err = callsdp_encode(call->sdp, &desc, call->offer_in_200);
	if (err) {
		sipcall_end(call, END_SIP_ERROR, SIPREPLY_SERVER_ERROR,
			    "SDP encode failed");
		return;
	}

	err = sipreply_answer(call->sess, desc);
	mem_deref(desc);
	if (err) {
		sipcall_end(call, END_SIP_ERROR, SIPREPLY_SERVER_ERROR,
			    "answer failed");
		return;
	}

	call->state = CALL_ANSWERED;
	call->t_answer = tmr_jiffies();
	callreg_state(call->gw->reg, call->id, CALL_ANSWERED);
	tmr_start(&call->tmr_ack, call->gw->conf->flood.ack_timeout_ms,
		  ack_timeout, call);

	if (call->gw->conf->max_duration_s)
		tmr_start(&call->tmr_maxdur,
			  (uint64_t)call->gw->conf->max_duration_s * 1000,
			  maxdur_timeout, call);

	log_info("call %s: answered after %llu ms", call->call_sid,
		 (unsigned long long)(call->t_answer - call->t_invite));

	/* without an offer from the caller, media waits for the ACK */
	if (!call->offer_in_200)
		(void)push_wmsg(call, WMSG_CALL_ANSWERED, END_NONE);
}


static void dtmf_info_resp(int err, const struct sip_msg *msg, void *arg)
{
	(void)arg;

	if (err || (msg && msg->scode >= 300))
		log_info("DTMF INFO failed: %m %u", err, msg ? msg->scode : 0);
}


static void send_dtmf_info(struct call *call, char digit, uint32_t duration)
{
	struct mbuf *mb;

	if (!call->sess || call->state < CALL_ANSWERED)
		return;

	mb = mbuf_alloc(64);
	if (!mb)
		return;

	(void)mbuf_printf(mb, "Signal=%c\r\nDuration=%u\r\n", digit,
			  duration ? duration : 250);
	mb->pos = 0;
	(void)sipsess_info(call->sess, "application/dtmf-relay", mb,
			   dtmf_info_resp, call);
	mem_deref(mb);
}


static void log_gone(const struct call *call, const struct media_stats *st)
{
	uint64_t dur = call->t_answer ? tmr_jiffies() - call->t_answer : 0;

	log_info("call %s: ended (%s) after %llu.%03llu s;%H",
		 call->call_sid, callstate_reason_name(call->reason),
		 (unsigned long long)(dur / 1000),
		 (unsigned long long)(dur % 1000), mstats_log, st);
}


/** A worker's report about a call (the inbox's handler; SIP thread) */
void sipcall_worker_msg(int id, void *data, void *arg)
{
	struct sipgw *gw = arg;
	struct smsg *m = data;
	struct call *call = call_find(gw, m->id);

	if (!call)
		goto out;

	switch (id) {

	case SMSG_AGENT_READY:
		answer_call(call);
		break;

	case SMSG_CALL_END_REQ:
		sipcall_end(call, m->reason,
			    m->reason == END_AGENT_FAILED ?
			    SIPREPLY_SERVICE_UNAVAILABLE :
			    SIPREPLY_TEMP_UNAVAILABLE,
			    m->detail[0] ? m->detail : NULL);
		break;

	case SMSG_SEND_INFO:
		send_dtmf_info(call, m->digit, m->duration);
		break;

	case SMSG_CALL_GONE:
		if (!call->ended) {
			/* the worker dropped it on its own (shutdown) */
			call->media_started = false;
			sipcall_end(call, END_SHUTDOWN,
				    SIPREPLY_SERVICE_UNAVAILABLE, NULL);
			/* sipcall_end() freed it */
			goto out;
		}
		log_gone(call, &m->stats);
		call_free(call, &m->stats);
		break;

	default:
		break;
	}

 out:
	mem_deref(m);
}
