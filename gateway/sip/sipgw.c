/**
 * @file sipgw.c  SIP signalling: the gateway's SIP thread ("cb-sip")
 *
 * Design note. Everything here runs on the main thread, on libre's loop.
 * A call is admitted or refused in the INVITE handler with no waiting:
 *
 *   unknown number 404, source outside the trunk's allowed_sources 403,
 *   no inbound agent 480, no common codec 488, over max_calls or out of
 *   RTP ports 503 (with Retry-After), bad SDP 400, body not SDP 415.
 *
 * An admitted call gets 100 Trying and 180 Ringing at once; its RTP socket
 * pair and a media_start are handed to the least loaded media worker,
 * which opens the agent's WebSocket. Only when the worker reports the agent
 * ready (connected and start sent) do we answer 200 OK with SDP; if that
 * takes longer than agent_connect_timeout_ms we answer 503.
 *
 * A call ends exactly once (call_end()): BYE or CANCEL from the caller,
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
#include "gwmsg.h"
#include "log.h"
#include "media.h"
#include "model.h"
#include "msgq.h"
#include "resolver.h"
#include "rtpport.h"
#include "sid.h"
#include "sipgw.h"
#include "sipgw_int.h"
#include "store.h"
#include "worker.h"

enum {
	HASH_SIZE = 1024,
	RETRY_AFTER_S = 5,
};

static void call_destructor(void *arg)
{
	struct call *call = arg;

	tmr_cancel(&call->tmr_agent);
	tmr_cancel(&call->tmr_maxdur);
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


static void check_shutdown_done(struct sipgw *gw)
{
	if (gw->shutting_down && gw->ncalls == 0 && gw->doneh) {
		sipgw_done_h *h = gw->doneh;

		gw->doneh = NULL;
		tmr_cancel(&gw->tmr_shutdown);
		h(gw->done_arg);
	}
}


static void call_free(struct call *call, const struct media_stats *final)
{
	struct sipgw *gw = call->gw;

	callreg_remove(gw->reg, call->id,
		       callstate_final(call->reason, call->t_answer != 0),
		       call->reason, final);
	--gw->ncalls;
	mem_deref(call);
	check_shutdown_done(gw);
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


/*
 * End a call, exactly once. scode is the final answer for a call that was
 * not answered yet (ignored otherwise).
 */
static void call_end(struct call *call, enum end_reason reason,
		     uint16_t scode, const char *why)
{
	if (call->ended)
		return;

	call->ended = true;
	call->reason = reason;
	tmr_cancel(&call->tmr_agent);
	tmr_cancel(&call->tmr_maxdur);

	log_info("call %s: ending (%s%s%s)", call->call_sid,
		 callstate_reason_name(reason), why ? ": " : "", why ? why : "");

	if (call->sess && call->state == CALL_RINGING &&
	    reason != END_CALLER_CANCEL && reason != END_CALLER_BYE) {
		if (scode == 503)
			(void)sipsess_reject(call->sess, scode,
					     "Service Unavailable",
					     "Retry-After: %u\r\n"
					     "Content-Length: 0\r\n\r\n",
					     RETRY_AFTER_S);
		else
			(void)sipsess_reject(call->sess, scode ? scode : 500,
					     scode == 480 ?
					     "Temporarily Unavailable" :
					     "Server Internal Error", NULL);
	}

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

	call_end(call, END_AGENT_TIMEOUT, 503, "agent not ready in time");
}


static void maxdur_timeout(void *arg)
{
	struct call *call = arg;

	call_end(call, END_MAX_DURATION, 0, NULL);
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

	log_debug("call %s: established", call->call_sid);
}


static void info_handler(struct sip *sip, const struct sip_msg *msg,
			 void *arg)
{
	struct call *call = arg;
	struct pl sig = PL_INIT, dur = PL_INIT;
	struct wmsg *m;

	if (!msg_ctype_cmp(&msg->ctyp, "application", "dtmf-relay")) {
		(void)sip_reply(sip, msg, 415, "Unsupported Media Type");
		return;
	}

	if (re_regex((char *)mbuf_buf(msg->mb), mbuf_get_left(msg->mb),
		     "Signal[ \t]*=[ \t]*[0-9*#A-Da-d]1", NULL, NULL, &sig) ||
	    sig.l != 1) {
		(void)sip_reply(sip, msg, 400, "Bad dtmf-relay body");
		return;
	}
	(void)re_regex((char *)mbuf_buf(msg->mb), mbuf_get_left(msg->mb),
		       "Duration[ \t]*=[ \t]*[0-9]+", NULL, NULL, &dur);

	(void)sip_reply(sip, msg, 200, "OK");

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

	/* libre has terminated the session; call_end() releases our
	   reference, which frees it (it answered BYE/CANCEL itself) */
	if (err == ECONNRESET)
		reason = call->state == CALL_RINGING ? END_CALLER_CANCEL :
			END_CALLER_BYE;
	else
		reason = END_SIP_ERROR;

	call_end(call, reason, 0, err == ECONNRESET ? NULL : strerror(err));
}


/* Called number: Request-URI user, else To user; sip:, sips: or tel: */
static int called_number(const struct sip_msg *msg, char *out, size_t sz)
{
	const struct uri *uri = &msg->uri;
	struct pl user = PL_INIT;
	char raw[72], unesc[64];
	struct mbuf *mb;
	const char *p;
	int err;

	if (!pl_strcasecmp(&uri->scheme, "tel"))
		user = uri->host;
	else if (pl_isset(&uri->user))
		user = uri->user;
	else if (!pl_strcasecmp(&msg->to.uri.scheme, "tel"))
		user = msg->to.uri.host;
	else
		user = msg->to.uri.user;

	if (!pl_isset(&user) || user.l >= sizeof(raw))
		return EINVAL;

	/* user parameters such as ;isub= or ;phone-context= */
	p = pl_strchr(&user, ';');
	if (p)
		user.l = (size_t)(p - user.p);

	mb = mbuf_alloc(64);
	if (!mb)
		return ENOMEM;
	err = mbuf_printf(mb, "%H", uri_user_unescape, &user);
	if (!err && mb->end < sizeof(unesc)) {
		memcpy(unesc, mb->buf, mb->end);
		unesc[mb->end] = '\0';
	}
	else {
		err = err ? err : EINVAL;
	}
	mem_deref(mb);
	if (err)
		return err;

	/* carriers sometimes leave out the '+' of a full E.164 number */
	if (unesc[0] != '+')
		snprintf(raw, sizeof(raw), "+%s", unesc);
	else
		str_ncpy(raw, unesc, sizeof(raw));

	return e164_normalize(out, sz, raw);
}


static void caller_id(const struct sip_msg *msg, char *out, size_t sz)
{
	char user[128];

	if (pl_isset(&msg->from.uri.user))
		pl_strcpy(&msg->from.uri.user, user, sizeof(user));
	else if (pl_isset(&msg->from.uri.host))
		pl_strcpy(&msg->from.uri.host, user, sizeof(user));
	else
		user[0] = '\0';

	if (e164_normalize(out, sz, user))
		str_ncpy(out, user, sz);
}


static struct worker *pick_worker(struct sipgw *gw)
{
	struct worker *best = NULL;
	uint32_t load = UINT32_MAX;

	for (unsigned i = 0; i < gw->nworkers; i++) {
		uint32_t l = worker_load(gw->workers[i]);
		if (l < load) {
			load = l;
			best = gw->workers[i];
		}
	}

	return best;
}


/*
 * What goes in our Contact: the user part alone (libre adds the address
 * the request came in on), or, with sip_advertise set (a gateway behind
 * NAT), the whole URI with the public address and the port and transport
 * the request came in on, so that the carrier's ACK, re-INVITE and BYE
 * go to an address it can reach.
 */
static void contact_user(const struct sipgw *gw, const struct sip_msg *msg,
			 char *buf, size_t sz)
{
	struct sa a;

	if (!sa_isset(&gw->conf->sip_advertise, SA_ADDR)) {
		str_ncpy(buf, "callbridge", sz);
		return;
	}

	sa_cpy(&a, &gw->conf->sip_advertise);
	sa_set_port(&a, sa_port(&msg->dst));
	(void)re_snprintf(buf, sz, "sip:callbridge@%J%s", &a,
			  sip_transp_param(msg->tp));
}


static void sdp_laddr(const struct sipgw *gw, const struct sip_msg *msg,
		      const struct rtp_socks *socks, struct sa *laddr)
{
	*laddr = socks->laddr;

	if (sa_isset(&gw->conf->rtp_advertise, SA_ADDR))
		sa_cpy(laddr, &gw->conf->rtp_advertise);
	else if (sa_is_any(&socks->laddr))
		sa_cpy(laddr, &msg->dst);

	sa_set_port(laddr, sa_port(&socks->laddr));
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
		call_end(call, END_SIP_ERROR, 503, "worker unreachable");
		return err;
	}

	call->media_started = true;

	return 0;
}


/* the agent's host name was looked up (resolver, SIP thread) */
static void agent_resolved(int err, const struct resolver_addrs *addrs,
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
		call_end(call, END_AGENT_FAILED, 503,
			 "the agent's host name does not resolve");
		return;
	}

	ms->agent_addrs = *addrs;
	(void)media_handover(call, ms);
}


static void reply_503(struct sipgw *gw, const struct sip_msg *msg,
		      const char *why)
{
	log_notice("INVITE from %J refused with 503: %s", &msg->src, why);
	(void)sip_treplyf(NULL, NULL, gw->sip, msg, false, 503,
			  "Service Unavailable",
			  "Retry-After: %u\r\nContent-Length: 0\r\n\r\n",
			  RETRY_AFTER_S);
}


static void refuse(struct sipgw *gw, const struct sip_msg *msg,
		   uint16_t scode, const char *reason, const char *why)
{
	log_info("INVITE %r from %J refused: %u %s (%s)", &msg->ruri,
		 &msg->src, scode, reason, why);
	(void)sip_treply(NULL, gw->sip, msg, scode, reason);
}


static void conn_handler(const struct sip_msg *msg, void *arg)
{
	static const char allow[] = "Allow: INVITE, ACK, CANCEL, BYE, "
		"OPTIONS, INFO\r\n";
	struct sipgw *gw = arg;
	struct route *rt = NULL;
	struct call *call = NULL;
	struct media_start *ms = NULL;
	struct rtp_socks socks = {.rtp_fd = -1, .rtcp_fd = -1};
	struct callreg_info ri;
	struct sa laddr;
	struct mbuf *desc = NULL;
	char number[E164_SIZE];
	char host[256];
	char cuser[128];
	bool has_sdp;
	int err;

	if (gw->shutting_down) {
		reply_503(gw, msg, "shutting down");
		return;
	}

	if (called_number(msg, number, sizeof(number))) {
		refuse(gw, msg, 404, "Not Found", "no E.164 number in URI");
		return;
	}

	err = store_route(gw->store, number, &rt);
	if (err == ENOENT) {
		refuse(gw, msg, 404, "Not Found", "unknown number");
		return;
	}
	else if (err) {
		reply_503(gw, msg, "store lookup failed");
		return;
	}

	if (!trunk_allows_source(rt->trunk, &msg->src)) {
		refuse(gw, msg, 403, "Forbidden",
		       "source outside the trunk's allowed_sources");
		goto out;
	}

	if (!sipauth_check(gw, msg, rt->trunk))
		goto out;

	if (!rt->inbound_agent) {
		refuse(gw, msg, 480, "Temporarily Unavailable",
		       "number has no inbound agent");
		goto out;
	}

	if (gw->ncalls >= gw->conf->max_calls) {
		reply_503(gw, msg, "call limit reached");
		goto out;
	}

	if (sipreq_sdp_body(msg, &has_sdp)) {
		(void)sip_treplyf(NULL, NULL, gw->sip, msg, false, 415,
				  "Unsupported Media Type",
				  "Accept: application/sdp\r\n"
				  "Content-Length: 0\r\n\r\n");
		goto out;
	}

	err = rtpport_open(gw->ports, &socks);
	if (err) {
		reply_503(gw, msg, "no free RTP port");
		goto out;
	}

	call = mem_zalloc(sizeof(*call), call_destructor);
	if (!call) {
		reply_503(gw, msg, "out of memory");
		goto out;
	}

	call->gw = gw;
	call->state = CALL_RINGING;
	call->id = ++gw->next_id;
	call->t_invite = tmr_jiffies();
	sid_random(call->call_sid, "CA");
	str_ncpy(call->number, number, sizeof(call->number));
	str_ncpy(call->agent_id, rt->inbound_agent->id,
		 sizeof(call->agent_id));
	caller_id(msg, call->from, sizeof(call->from));

	sdp_laddr(gw, msg, &socks, &laddr);
	err = callmedia_sdp_alloc(&call->sdp, rt, &laddr);
	if (err) {
		reply_503(gw, msg, "SDP set-up failed");
		goto out;
	}

	if (has_sdp) {
		err = callsdp_offer_recv(call->sdp, msg->mb, &call->mp);
		if (err == ENOTSUP) {
			refuse(gw, msg, 488, "Not Acceptable Here",
			       "no supported codec, transport or key "
			       "offered");
			goto out;
		}
		else if (err) {
			refuse(gw, msg, 400, "Bad Request", "SDP unreadable");
			goto out;
		}
	}
	else {
		call->offer_in_200 = true;
	}

	/* admitted */
	(void)sip_reply(gw->sip, msg, 100, "Trying");

	contact_user(gw, msg, cuser, sizeof(cuser));
	err = sipsess_accept(&call->sess, gw->sock, msg, 180, "Ringing",
			     cuser, "application/sdp", NULL,
			     NULL, NULL, false,
			     offer_handler, answer_handler, estab_handler,
			     info_handler, NULL, close_handler, call,
			     "%s", allow);
	if (err) {
		log_warn("INVITE from %J: accept failed: %m", &msg->src, err);
		goto out;
	}

	err = callmedia_start_alloc(&ms, call, rt, msg, &socks);
	if (err)
		goto fail;

	call->w = pick_worker(gw);
	hash_append(gw->calls, (uint32_t)call->id, &call->he, call);
	++gw->ncalls;

	memset(&ri, 0, sizeof(ri));
	ri.id = call->id;
	str_ncpy(ri.call_sid, call->call_sid, sizeof(ri.call_sid));
	str_ncpy(ri.number, call->number, sizeof(ri.number));
	str_ncpy(ri.from, call->from, sizeof(ri.from));
	str_ncpy(ri.agent_id, call->agent_id, sizeof(ri.agent_id));
	str_ncpy(ri.trunk_id, rt->trunk->id, sizeof(ri.trunk_id));
	str_ncpy(ri.codec, has_sdp ? codec_name(call->mp.codec) : "-",
		 sizeof(ri.codec));
	ri.worker = worker_index(call->w);
	ri.state = CALL_RINGING;
	(void)callreg_add(gw->reg, &ri);

	socks.rtp_fd = socks.rtcp_fd = -1;   /* ms owns them now */

	/* the agent timeout covers the host name lookup too */
	tmr_start(&call->tmr_agent, gw->conf->agent_timeout_ms,
		  agent_timeout, call);

	if (url_host(rt->inbound_agent->url, host, sizeof(host)) ||
	    resolver_is_literal(host)) {
		if (media_handover(call, ms)) {
			call = NULL;   /* ended and freed */
			goto out;
		}
	}
	else {
		call->pending_ms = ms;
		err = resolver_query(gw->resolver, host, call->id);
		if (err) {
			call_end(call, END_AGENT_FAILED, 503,
				 "cannot look up the agent's host");
			call = NULL;
			goto out;
		}
	}

	log_info("call %s: %s -> %s (%s), agent %s, codec %s, worker %u",
		 call->call_sid, call->from, call->number,
		 rt->number->friendly_name, call->agent_id,
		 has_sdp ? codec_name(call->mp.codec) : "(offer in 200)",
		 worker_index(call->w));

	call = NULL;   /* owned by the hash */
	goto out;

 fail:
	/* accepted with 180 but could not hand over: answer 503 */
	if (call->sess)
		(void)sipsess_reject(call->sess, 503, "Service Unavailable",
				     "Retry-After: %u\r\n"
				     "Content-Length: 0\r\n\r\n", RETRY_AFTER_S);

 out:
	rtp_socks_close(&socks);
	mem_deref(desc);
	mem_deref(call);
	mem_deref(rt);
}


/* AGENT_READY: the agent has `connected` and `start`; answer the call */
static void agent_ready(struct call *call)
{
	struct mbuf *desc = NULL;
	int err;

	if (call->ended || call->state != CALL_RINGING)
		return;

	tmr_cancel(&call->tmr_agent);

	err = callsdp_encode(call->sdp, &desc, call->offer_in_200);
	if (err) {
		call_end(call, END_SIP_ERROR, 500, "SDP encode failed");
		return;
	}

	err = sipsess_answer(call->sess, 200, "OK", desc, NULL);
	mem_deref(desc);
	if (err) {
		call_end(call, END_SIP_ERROR, 500, "answer failed");
		return;
	}

	call->state = CALL_ANSWERED;
	call->t_answer = tmr_jiffies();
	callreg_state(call->gw->reg, call->id, CALL_ANSWERED);

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


static void send_info_resp(int err, const struct sip_msg *msg, void *arg)
{
	(void)arg;

	if (err || (msg && msg->scode >= 300))
		log_info("DTMF INFO failed: %m %u", err, msg ? msg->scode : 0);
}


static void send_info(struct call *call, char digit, uint32_t duration)
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
			   send_info_resp, call);
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


static void worker_msg(int id, void *data, void *arg)
{
	struct sipgw *gw = arg;
	struct smsg *m = data;
	struct call *call = call_find(gw, m->id);

	if (!call)
		goto out;

	switch (id) {

	case SMSG_AGENT_READY:
		agent_ready(call);
		break;

	case SMSG_CALL_END_REQ:
		call_end(call, m->reason,
			 m->reason == END_AGENT_FAILED ? 503 : 480,
			 m->detail[0] ? m->detail : NULL);
		break;

	case SMSG_SEND_INFO:
		send_info(call, m->digit, m->duration);
		break;

	case SMSG_CALL_GONE:
		if (!call->ended) {
			/* the worker dropped it on its own (shutdown) */
			call->media_started = false;
			call_end(call, END_SHUTDOWN, 503, NULL);
			/* call_end freed it */
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


static void mq_handler(int flags, void *arg)
{
	struct sipgw *gw = arg;

	(void)flags;

	msgq_drain(gw->mq);
}


static void sip_exit_handler(void *arg)
{
	(void)arg;
}


static void destructor(void *arg)
{
	struct sipgw *gw = arg;

	tmr_cancel(&gw->tmr_shutdown);
	gw->resolver = mem_deref(gw->resolver);
	if (gw->mq)
		fd_close(msgq_fd(gw->mq));
	hash_flush(gw->calls);
	mem_deref(gw->calls);
	mem_deref(gw->lsnr);
	mem_deref(gw->sock);
	if (gw->sip)
		sip_close(gw->sip, true);
	mem_deref(gw->sip);
	mem_deref(gw->dnsc);
	mem_deref(gw->ports);
	mem_deref(gw->mq);
}


static int dns_init(struct sipgw *gw)
{
	struct sa nsv[8];
	uint32_t nsn = 8;
	int err;

	err = dns_srv_get(NULL, 0, nsv, &nsn);
	if (err || !nsn) {
		/* no resolver configured: numeric hosts only */
		nsn = 0;
	}

	return dnsc_alloc(&gw->dnsc, NULL, nsv, nsn);
}


/*
 * A wildcard sip_listen entry (0.0.0.0, [::]) becomes one listener per
 * interface address present at start-up: libre's transports want a real
 * address (it goes in Via and Contact, and the SDP's c= when rtp_address
 * is a wildcard too), and a socket bound to the wildcard would give the
 * carrier 0.0.0.0 to send its ACK and BYE to. IPv6 link-local addresses
 * are left out (they need a scope the SIP URI cannot carry).
 */
struct if_listen {
	struct sip *sip;
	enum sip_transp tp;
	int af;
	uint16_t port;
	unsigned n;
	int err;
};


static bool if_listen_add(const char *ifname, const struct sa *sa,
			  void *arg)
{
	struct if_listen *il = arg;
	struct sa a = *sa;

	if (sa_af(sa) != il->af || sa_is_linklocal(sa))
		return false;

	sa_set_port(&a, il->port);
	il->err = sip_transp_add(il->sip, il->tp, &a);
	if (il->err == EADDRINUSE && il->n) {
		il->err = 0;            /* the same address on two interfaces */
		return false;
	}
	if (il->err) {
		log_error("SIP: cannot listen on %s %J (%s): %m",
			  sip_transp_name(il->tp), &a, ifname, il->err);
		return true;
	}

	log_info("SIP listening on %s %J (%s)", sip_transp_name(il->tp), &a,
		 ifname);
	++il->n;

	return false;
}


static int listen_one(struct sipgw *gw, enum sip_transp tp,
		      const struct sa *addr)
{
	struct if_listen il = {gw->sip, tp, sa_af(addr), sa_port(addr), 0, 0};
	int err;

	if (!sa_is_any(addr)) {
		err = sip_transp_add(gw->sip, tp, addr);
		if (err)
			log_error("SIP: cannot listen on %s %J: %m",
				  sip_transp_name(tp), addr, err);
		else
			log_info("SIP listening on %s %J", sip_transp_name(tp),
				 addr);
		return err;
	}

	err = net_if_apply(if_listen_add, &il);
	if (!err)
		err = il.err;
	if (!err && !il.n) {
		log_error("SIP: %s %J: no interface has an %s address",
			  sip_transp_name(tp), addr,
			  il.af == AF_INET ? "IPv4" : "IPv6");
		err = EADDRNOTAVAIL;
	}

	return err;
}


/**
 * Start SIP signalling on the calling thread's libre loop
 *
 * @param gwp       Pointer to allocated gateway
 * @param conf      Configuration (outlives the gateway)
 * @param store     Numbers, agents and trunks
 * @param workers   Media workers (may be set later: sipgw_set_workers)
 * @param nworkers  Number of workers
 * @param reg       Registry of calls in progress
 *
 * @return 0 if success, otherwise errorcode
 */
int sipgw_alloc(struct sipgw **gwp, const struct gwconf *conf,
		struct store *store, struct worker **workers,
		unsigned nworkers, struct callreg *reg)
{
	struct sipgw *gw;
	char ua[64];
	int err;

	if (!gwp || !conf || !store || !reg)
		return EINVAL;

	gw = mem_zalloc(sizeof(*gw), destructor);
	if (!gw)
		return ENOMEM;

	gw->conf = conf;
	gw->store = store;
	gw->reg = reg;
	gw->workers = workers;
	gw->nworkers = nworkers;

	sipauth_init(gw);

	err = hash_alloc(&gw->calls, HASH_SIZE);
	if (err)
		goto out;

	err = msgq_alloc(&gw->mq, worker_msg, gw);
	if (err)
		goto out;

	err = fd_listen(msgq_fd(gw->mq), FD_READ, mq_handler, gw);
	if (err)
		goto out;

	err = rtpport_alloc(&gw->ports, &conf->rtp_addr, conf->rtp_port_min,
			    conf->rtp_port_max);
	if (err) {
		log_error("RTP port range %u-%u unusable", conf->rtp_port_min,
			  conf->rtp_port_max);
		goto out;
	}

	err = dns_init(gw);
	if (err)
		goto out;

	err = resolver_alloc(&gw->resolver, agent_resolved, gw);
	if (err)
		goto out;

	snprintf(ua, sizeof(ua), "callbridge/%s", CB_VERSION);
	err = sip_alloc(&gw->sip, gw->dnsc, HASH_SIZE, HASH_SIZE, HASH_SIZE,
			ua, sip_exit_handler, gw);
	if (err)
		goto out;

	for (unsigned i = 0; i < conf->listenc; i++) {
		err = listen_one(gw, conf->listen[i].tp,
				 &conf->listen[i].addr);
		if (err)
			goto out;
	}

	/* first listener: checks that apply to every request */
	err = sip_listen(&gw->lsnr, gw->sip, true, sipreq_filter, gw);
	if (err)
		goto out;

	err = sipsess_listen(&gw->sock, gw->sip, HASH_SIZE, conn_handler, gw);

 out:
	if (err)
		mem_deref(gw);
	else
		*gwp = gw;

	return err;
}


/** The SIP thread's inbox, for workers' reports */
struct msgq *sipgw_msgq(const struct sipgw *gw)
{
	return gw ? gw->mq : NULL;
}


/** Set the media workers calls are placed on */
int sipgw_set_workers(struct sipgw *gw, struct worker **workers,
		      unsigned nworkers)
{
	if (!gw || !workers || !nworkers)
		return EINVAL;

	gw->workers = workers;
	gw->nworkers = nworkers;

	return 0;
}


static bool detach_apply(struct le *le, void *arg)
{
	struct call *call = le->data;

	(void)arg;
	call->w = NULL;

	return false;
}


/**
 * Forget the media workers before they stop (shutdown): from now on a
 * call that ends cannot reach a worker and is freed at once
 */
void sipgw_detach_workers(struct sipgw *gw)
{
	if (!gw)
		return;

	gw->workers = NULL;
	gw->nworkers = 0;
	(void)hash_apply(gw->calls, detach_apply, NULL);
}


/** Handle the workers' last reports (after they stopped) */
void sipgw_drain(struct sipgw *gw)
{
	if (gw)
		msgq_drain(gw->mq);
}


/** Calls in progress (SIP thread) */
uint32_t sipgw_calls(const struct sipgw *gw)
{
	return gw ? gw->ncalls : 0;
}


static void shutdown_timeout(void *arg)
{
	struct sipgw *gw = arg;
	sipgw_done_h *h = gw->doneh;

	log_warn("shutdown: %u calls still ending, giving up waiting",
		 gw->ncalls);
	gw->doneh = NULL;
	if (h)
		h(gw->done_arg);
}


static bool end_apply(struct le *le, void *arg)
{
	struct call *call = le->data;

	(void)arg;
	call_end(call, END_SHUTDOWN, 503, NULL);

	return false;
}


/**
 * Stop taking calls, end every call, and report when all are gone
 *
 * @param gw        Gateway
 * @param grace_ms  Longest wait for calls to end [ms]
 * @param doneh     Called once, when every call is gone or at the deadline
 * @param arg       Handler argument
 */
void sipgw_shutdown(struct sipgw *gw, uint32_t grace_ms,
		    sipgw_done_h *doneh, void *arg)
{
	if (!gw)
		return;

	gw->shutting_down = true;
	gw->doneh = doneh;
	gw->done_arg = arg;

	tmr_start(&gw->tmr_shutdown, grace_ms, shutdown_timeout, gw);

	/* call_end() may free the call: iterate over a safe copy */
	(void)hash_apply(gw->calls, end_apply, NULL);

	check_shutdown_done(gw);
}
