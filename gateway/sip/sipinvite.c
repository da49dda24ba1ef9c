/**
 * @file sipinvite.c  A new INVITE: admitted or refused (SIP thread)
 *
 * Design note. A call is admitted or refused in the INVITE handler with no
 * waiting (the store is in memory):
 *
 *   a source over its flood limits 503 or nothing (sipflood.c),
 *   unknown number 404, source outside the trunk's allowed_sources 403,
 *   no inbound agent 480, no common codec 488, over max_calls or out of
 *   RTP ports 503 (with Retry-After), SDP that does not read 400.
 *
 * Before any of these, sipreq.c has refused what is broken whatever the
 * number: syntax 400, a body not SDP 415, an Accept without SDP 406.
 *
 * An admitted call gets 100 Trying and 180 Ringing at once, and its life
 * goes on in sipcall.c.
 */
#include <errno.h>
#include <string.h>
#include "cb_re.h"
#include "callsdp.h"
#include "codec.h"
#include "gwconf.h"
#include "log.h"
#include "model.h"
#include "rtpport.h"
#include "store.h"
#include "worker.h"
#include "sipgw_int.h"
#include "sipreply.h"


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


/*
 * What goes in our Contact: the user part alone (libre adds the address
 * the request came in on), or, with sip_advertise set (a gateway behind
 * NAT), the whole URI with the public address and the port and transport
 * the request came in on, so that the carrier's ACK, re-INVITE and BYE
 * go to an address it can reach.
 */
static void our_contact(const struct sipgw *gw, const struct sip_msg *msg,
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


/* What admission found out about an INVITE */
struct admit {
	char number[E164_SIZE];   /**< the called number          */
	struct route *rt;         /**< its route (owned)          */
	bool has_sdp;             /**< the INVITE carries an offer */
	struct rtp_socks socks;   /**< the call's RTP pair (owned
				       until the media_start has it) */
};


/* the called number and its route: 404 if none, 503 if we cannot say */
static bool admit_number(struct sipgw *gw, const struct sip_msg *msg,
			 struct admit *ad)
{
	int err;

	if (gw->shutting_down) {
		sipreply_refuse(gw->sip, msg, SIPREPLY_SERVICE_UNAVAILABLE,
				"shutting down");
		return false;
	}

	if (called_number(msg, ad->number, sizeof(ad->number))) {
		sipreply_refuse(gw->sip, msg, SIPREPLY_NOT_FOUND,
				"no E.164 number in URI");
		return false;
	}

	err = store_route(gw->store, ad->number, &ad->rt);
	if (err == ENOENT) {
		sipreply_refuse(gw->sip, msg, SIPREPLY_NOT_FOUND,
				"unknown number");
		return false;
	}
	else if (err) {
		sipreply_refuse(gw->sip, msg, SIPREPLY_SERVICE_UNAVAILABLE,
				"store lookup failed");
		return false;
	}

	return true;
}


/*
 * True if the INVITE may become a call; otherwise it has been answered.
 * The order of the checks is the order of the answers a caller can get.
 */
static bool admit(struct sipgw *gw, const struct sip_msg *msg,
		  struct admit *ad)
{
	if (!sipflood_admit(gw->flood, gw->sip, msg))
		return false;

	if (!admit_number(gw, msg, ad))
		return false;

	if (!sipauth_admit(gw, msg, ad->rt->trunk))
		return false;

	if (!ad->rt->inbound_agent) {
		sipreply_refuse(gw->sip, msg, SIPREPLY_TEMP_UNAVAILABLE,
				"number has no inbound agent");
		return false;
	}

	if (gw->ncalls >= gw->conf->max_calls) {
		sipreply_refuse(gw->sip, msg, SIPREPLY_SERVICE_UNAVAILABLE,
				"call limit reached");
		return false;
	}

	/* a body other than SDP had its 415 in sipreq_filter() */
	(void)sipreq_sdp_body(msg, &ad->has_sdp);

	if (rtpport_open(gw->ports, &ad->socks)) {
		sipreply_refuse(gw->sip, msg, SIPREPLY_SERVICE_UNAVAILABLE,
				"no free RTP port");
		return false;
	}

	return true;
}


/* the call, with its SDP state and the caller's offer if any; NULL if
   the INVITE has been refused */
static struct call *call_create(struct sipgw *gw, const struct sip_msg *msg,
				const struct admit *ad)
{
	struct call *call;
	struct sa laddr;
	int err;

	if (sipcall_alloc(&call, gw)) {
		sipreply_refuse(gw->sip, msg, SIPREPLY_SERVICE_UNAVAILABLE,
				"out of memory");
		return NULL;
	}

	call->src = msg->src;
	call->pending = true;
	sipflood_pending(gw->flood, &call->src, +1);
	str_ncpy(call->number, ad->number, sizeof(call->number));
	str_ncpy(call->agent_id, ad->rt->inbound_agent->id,
		 sizeof(call->agent_id));
	caller_id(msg, call->from, sizeof(call->from));

	sdp_laddr(gw, msg, &ad->socks, &laddr);
	if (callmedia_sdp_alloc(&call->sdp, ad->rt, &laddr)) {
		sipreply_refuse(gw->sip, msg, SIPREPLY_SERVICE_UNAVAILABLE,
				"SDP set-up failed");
		return mem_deref(call);
	}

	if (!ad->has_sdp) {
		call->offer_in_200 = true;
		return call;
	}

	err = callsdp_offer_recv(call->sdp, msg->mb, &call->mp);
	if (err == ENOTSUP) {
		sipreply_refuse(gw->sip, msg, SIPREPLY_NOT_ACCEPTABLE,
				"no supported codec, transport or key "
				"offered");
		return mem_deref(call);
	}
	else if (err) {
		sipreply_refuse(gw->sip, msg, SIPREPLY_BAD_REQUEST,
				"SDP unreadable");
		return mem_deref(call);
	}

	return call;
}


/* admitted: 100 Trying, then 180 Ringing from the call's session */
static int call_take(struct sipgw *gw, const struct sip_msg *msg,
		     struct call *call)
{
	char cuser[128];
	int err;

	(void)sipreply_stateless(gw->sip, msg, SIPREPLY_TRYING);

	our_contact(gw, msg, cuser, sizeof(cuser));
	err = sipcall_accept(call, msg, cuser);
	if (err)
		log_warn("INVITE from %J: accept failed: %m", &msg->src, err);

	return err;
}


/* hand the call's media to a worker; the call goes to the gateway's
   table (or is ended and freed) in any case but an error before */
static int call_launch(const struct sip_msg *msg, struct call *call,
		       struct admit *ad)
{
	const struct route *rt = ad->rt;
	struct media_start *ms;
	int err;

	err = callmedia_start_alloc(&ms, call, rt, msg, &ad->socks);
	if (err) {
		/* accepted with 180 but could not hand over: answer 503 */
		if (call->sess)
			(void)sipreply_reject(call->sess,
					      SIPREPLY_SERVICE_UNAVAILABLE);
		return err;
	}

	ad->socks.rtp_fd = ad->socks.rtcp_fd = -1;   /* ms owns them now */

	sipcall_register(call, rt->trunk->id, ad->has_sdp);
	if (sipcall_media_start(call, ms, rt->inbound_agent->url))
		return 0;   /* ended and freed */

	log_info("call %s: %s -> %s (%s), agent %s, codec %s, worker %u",
		 call->call_sid, call->from, call->number,
		 rt->number->friendly_name, call->agent_id,
		 ad->has_sdp ? codec_name(call->mp.codec) : "(offer in 200)",
		 worker_index(call->w));

	return 0;
}


/** sipsess_listen()'s handler: a new INVITE, admitted or refused */
void sipinvite_handler(const struct sip_msg *msg, void *arg)
{
	struct sipgw *gw = arg;
	struct admit ad = {.socks = {.rtp_fd = -1, .rtcp_fd = -1}};
	struct call *call = NULL;

	if (!admit(gw, msg, &ad))
		goto out;

	call = call_create(gw, msg, &ad);
	if (!call || call_take(gw, msg, call))
		goto out;

	if (!call_launch(msg, call, &ad))
		call = NULL;   /* the gateway's now, or ended and freed */

 out:
	rtpport_close(&ad.socks);
	mem_deref(call);
	mem_deref(ad.rt);
}
