/**
 * @file callmedia.c  What a call's media needs, from its route (SIP thread)
 *
 * An inbound call's route (number, trunk, agent) decides its media: the
 * codec preference and media encryption its SDP offers or accepts, and
 * the media_start its worker runs the call with (agent URL and format,
 * customParameters: call facts, agent parameters, then the caller's X-
 * headers; the RTP sockets).
 */
#include <errno.h>
#include "cb_re.h"
#include "callsdp.h"
#include "codec.h"
#include "gwconf.h"
#include "media_start.h"
#include "model.h"
#include "rtpport.h"
#include "sid.h"
#include "store.h"
#include "sipgw_int.h"

enum {
	MAX_XHEADERS = 32,
};


struct xhdr_arg {
	json_t *obj;
	unsigned n;
};


static bool xhdr_apply(const struct sip_hdr *hdr, const struct sip_msg *msg,
		       void *arg)
{
	struct xhdr_arg *xa = arg;
	char name[MODEL_HDR_NAME_MAX + 1], val[MODEL_HDR_VALUE_MAX + 1];

	(void)msg;

	if (hdr->id != SIP_HDR_NONE || hdr->name.l < 3 ||
	    (hdr->name.p[0] != 'X' && hdr->name.p[0] != 'x') ||
	    hdr->name.p[1] != '-')
		return false;

	if (xa->n >= MAX_XHEADERS || hdr->name.l > MODEL_HDR_NAME_MAX ||
	    hdr->val.l > MODEL_HDR_VALUE_MAX)
		return false;

	pl_strcpy(&hdr->name, name, sizeof(name));
	pl_strcpy(&hdr->val, val, sizeof(val));

	/* agent parameters and call facts win over carrier headers */
	if (!json_object_get(xa->obj, name)) {
		json_object_set_new(xa->obj, name, json_string(val));
		++xa->n;
	}

	return false;
}


/* customParameters: call facts, then agent parameters, then X- headers */
static json_t *custom_params(const struct sip_msg *msg,
			     const struct route *rt, const struct call *call)
{
	const struct agent *a = rt->inbound_agent;
	struct xhdr_arg xa;
	json_t *o = json_object();

	if (!o)
		return NULL;

	json_object_set_new(o, "from", json_string(call->from));
	json_object_set_new(o, "to", json_string(call->number));
	json_object_set_new(o, "friendly_name",
			    json_string(rt->number->friendly_name));
	json_object_set_new(o, "trunk_id", json_string(rt->trunk->id));

	for (uint32_t i = 0; i < a->paramc; i++) {
		if (!json_object_get(o, a->params[i].name))
			json_object_set_new(o, a->params[i].name,
					    json_string(a->params[i].value));
	}

	xa.obj = o;
	xa.n = 0;
	for (struct le *le = list_head(&msg->hdrl); le; le = le->next)
		(void)xhdr_apply(le->data, msg, &xa);

	return o;
}


/* the trunk's media encryption (both directions) */
static enum callsdp_srtp srtp_policy(const struct trunk *t)
{
	switch (t->media_encryption) {
	case TRUNK_MEDIA_ENC_SRTP_OPTIONAL: return CALLSDP_SRTP_OPTIONAL;
	case TRUNK_MEDIA_ENC_SRTP_REQUIRED: return CALLSDP_SRTP_REQUIRED;
	default:                            return CALLSDP_SRTP_NONE;
	}
}


static void codec_prefs(const struct route *rt, enum codec_id *prefs,
			size_t *prefc)
{
	const enum model_codec *mc = rt->number->codecs;
	uint32_t n = rt->number->codecc;

	if (!n) {
		mc = rt->trunk->codecs;
		n = rt->trunk->codecc;
	}

	*prefc = 0;
	for (uint32_t i = 0; i < n && i < CODEC_COUNT; i++) {
		switch (mc[i]) {
		case MODEL_CODEC_PCMU: prefs[(*prefc)++] = CODEC_PCMU; break;
		case MODEL_CODEC_PCMA: prefs[(*prefc)++] = CODEC_PCMA; break;
		case MODEL_CODEC_OPUS: prefs[(*prefc)++] = CODEC_OPUS; break;
		default: break;
		}
	}
}


/* the agent's audio rate [Hz] (µ-law agents: 8000 when not given) */
static uint32_t agent_rate(const struct agent *a)
{
	return a->audio.sample_rate ? a->audio.sample_rate : 8000;
}


/**
 * Allocate a call's SDP state with the route's codecs and encryption
 *
 * @param csp    Pointer to allocated SDP state
 * @param rt     The call's route
 * @param laddr  Local RTP address and port, as the SDP gives it
 *
 * @return 0 if success, otherwise errorcode
 */
int callmedia_sdp_alloc(struct callsdp **csp, const struct route *rt,
			const struct sa *laddr)
{
	enum codec_id prefs[CODEC_COUNT];
	size_t prefc;

	codec_prefs(rt, prefs, &prefc);

	return callsdp_alloc(csp, laddr, prefs, prefc, srtp_policy(rt->trunk),
			     agent_rate(rt->inbound_agent));
}


/**
 * Build the media_start a worker runs the call with
 *
 * @param msp    Pointer to allocated media_start
 * @param call   The call
 * @param rt     Its route
 * @param msg    The INVITE (X- headers)
 * @param socks  Its RTP sockets: the media_start owns them on success
 *
 * @return 0 if success, otherwise errorcode (the sockets stay the caller's)
 */
int callmedia_start_alloc(struct media_start **msp, struct call *call,
			  const struct route *rt, const struct sip_msg *msg,
			  const struct rtp_socks *socks)
{
	const struct agent *a = rt->inbound_agent;
	struct sipgw *gw = call->gw;
	struct media_start *ms;
	int err;

	err = media_start_alloc(&ms);
	if (err)
		return err;

	ms->id = call->id;
	str_ncpy(ms->ids.account_sid, gw->conf->account_sid,
		 sizeof(ms->ids.account_sid));
	str_ncpy(ms->ids.call_sid, call->call_sid, sizeof(ms->ids.call_sid));
	sid_random(ms->ids.stream_sid, "MZ");

	err  = str_dup(&ms->agent_id, a->id);
	err |= str_dup(&ms->agent_url, a->url);
	if (a->auth_token)
		err |= str_dup(&ms->agent_auth_token, a->auth_token);
	if (err) {
		err = ENOMEM;
		goto out;
	}

	ms->proto = a->protocol == AGENT_PROTOCOL_RAW ? AGENT_PROTO_RAW :
		AGENT_PROTO_TWILIO;
	ms->l16 = a->audio.encoding == AGENT_ENCODING_L16;
	ms->rtp_nat = rt->trunk->rtp_latching == TRUNK_RTP_LATCHING_NAT;
	ms->agent_srate = agent_rate(a);

	ms->custom = custom_params(msg, rt, call);
	if (!ms->custom) {
		err = ENOMEM;
		goto out;
	}

	ms->rtp_fd  = socks->rtp_fd;
	ms->rtcp_fd = socks->rtcp_fd;
	ms->laddr   = socks->laddr;
	ms->conf    = gw->conf->media;

 out:
	if (err) {
		ms->rtp_fd = ms->rtcp_fd = -1;  /* the caller still owns them */
		mem_deref(ms);
	}
	else {
		*msp = ms;
	}

	return err;
}
