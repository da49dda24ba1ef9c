/**
 * @file sipreq.c  What every SIP request passes before the dialogs see it
 *
 * sip_listen()'s first handler: framing and CSeq, Max-Forwards, the URI
 * scheme, Require; OPTIONS is answered here and methods not served are
 * refused. INVITE, ACK, BYE, INFO and CANCEL go on to libre's sipsess.
 */
#include <errno.h>
#include <stdbool.h>
#include "cb_re.h"
#include "sipgw_int.h"
#include "sipreply.h"


/** Whether a request has a body (has), and 0 if it is SDP or none */
int sipreq_sdp_body(const struct sip_msg *msg, bool *has)
{
	*has = mbuf_get_left(msg->mb) > 0;

	if (!*has)
		return 0;

	if (msg_ctype_cmp(&msg->ctyp, "application", "sdp"))
		return 0;

	return EPROTONOSUPPORT;
}


/* framing and CSeq (RFC 3261 18.3, 8.1.1.5; RFC 4475 clerr, ncl,
   mismatch01): a CSeq method that is not the request's, a Content-Length
   that is no number or (UDP) longer than the datagram */
static bool malformed(const struct sip_msg *msg)
{
	struct pl n;

	if (!pl_strcmp(&msg->met, "ACK"))
		return false;

	if (pl_cmp(&msg->cseq.met, &msg->met))
		return true;

	if (!pl_isset(&msg->clen))
		return false;

	return re_regex(msg->clen.p, msg->clen.l, "[0-9]+", &n) ||
		n.l != msg->clen.l ||
		(msg->tp == SIP_TRANSP_UDP &&
		 pl_u32(&msg->clen) > mbuf_get_left(msg->mb));
}


/* Max-Forwards: 0 on anything but OPTIONS (RFC 3261 16.3) */
static bool hops_exhausted(const struct sip_msg *msg)
{
	return pl_isset(&msg->maxfwd) && pl_u32(&msg->maxfwd) == 0 &&
		pl_strcmp(&msg->met, "OPTIONS") && pl_strcmp(&msg->met, "ACK");
}


static bool scheme_unsupported(const struct sip_msg *msg)
{
	return pl_strcasecmp(&msg->uri.scheme, "sip") &&
		pl_strcasecmp(&msg->uri.scheme, "sips") &&
		pl_strcasecmp(&msg->uri.scheme, "tel") &&
		pl_strcmp(&msg->met, "ACK");
}


/* extensions required of us (RFC 3261 8.2.2.3): we know none */
static const struct sip_hdr *required(const struct sip_msg *msg)
{
	if (!pl_strcmp(&msg->met, "ACK") || !pl_strcmp(&msg->met, "CANCEL"))
		return NULL;

	return sip_msg_hdr(msg, SIP_HDR_REQUIRE);
}


static bool not_served(const struct sip_msg *msg)
{
	return !pl_strcmp(&msg->met, "REGISTER") ||
		!pl_strcmp(&msg->met, "SUBSCRIBE") ||
		!pl_strcmp(&msg->met, "PUBLISH") ||
		!pl_strcmp(&msg->met, "MESSAGE");
}


/**
 * The first listener: checks every request passes. Answers OPTIONS and
 * refuses what is malformed or not served; true if it answered.
 */
bool sipreq_filter(const struct sip_msg *msg, void *arg)
{
	struct sipgw *gw = arg;
	const struct sip_hdr *req;

	if (malformed(msg))
		(void)sipreply_stateless(gw->sip, msg, SIPREPLY_BAD_REQUEST);
	else if (hops_exhausted(msg))
		(void)sipreply_stateless(gw->sip, msg, SIPREPLY_TOO_MANY_HOPS);
	else if (scheme_unsupported(msg))
		(void)sipreply_stateless(gw->sip, msg, SIPREPLY_URI_SCHEME);
	else if ((req = required(msg)) != NULL)
		(void)sipreply_sendf(gw->sip, msg, SIPREPLY_BAD_EXTENSION,
				     "Unsupported: %r\r\n", &req->val);
	else if (!pl_strcmp(&msg->met, "OPTIONS"))
		(void)sipreply_send(gw->sip, msg, SIPREPLY_OPTIONS_OK);
	else if (not_served(msg))
		(void)sipreply_send(gw->sip, msg, SIPREPLY_METHOD_NOT_ALLOWED);
	else
		return false;   /* INVITE, ACK, BYE, INFO, CANCEL: sipsess */

	return true;
}
