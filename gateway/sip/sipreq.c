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


/**
 * The first listener: checks every request passes. Answers OPTIONS and
 * refuses what is malformed or not served; true if it answered.
 */
bool sipreq_filter(const struct sip_msg *msg, void *arg)
{
	struct sipgw *gw = arg;

	/* framing and CSeq (RFC 3261 18.3, 8.1.1.5; RFC 4475 clerr, ncl,
	   mismatch01) */
	if (pl_strcmp(&msg->met, "ACK")) {
		bool bad = pl_cmp(&msg->cseq.met, &msg->met) != 0;
		struct pl n;

		if (pl_isset(&msg->clen)) {
			if (re_regex(msg->clen.p, msg->clen.l, "[0-9]+", &n) ||
			    n.l != msg->clen.l ||
			    (msg->tp == SIP_TRANSP_UDP &&
			     pl_u32(&msg->clen) > mbuf_get_left(msg->mb)))
				bad = true;
		}
		if (bad) {
			(void)sip_reply(gw->sip, msg, 400, "Bad Request");
			return true;
		}
	}

	/* Max-Forwards: 0 on anything but OPTIONS (RFC 3261 16.3) */
	if (pl_isset(&msg->maxfwd) && pl_u32(&msg->maxfwd) == 0 &&
	    pl_strcmp(&msg->met, "OPTIONS") && pl_strcmp(&msg->met, "ACK")) {
		(void)sip_reply(gw->sip, msg, 483, "Too Many Hops");
		return true;
	}

	if (pl_strcasecmp(&msg->uri.scheme, "sip") &&
	    pl_strcasecmp(&msg->uri.scheme, "sips") &&
	    pl_strcasecmp(&msg->uri.scheme, "tel") &&
	    pl_strcmp(&msg->met, "ACK")) {
		(void)sip_reply(gw->sip, msg, 416, "Unsupported URI Scheme");
		return true;
	}

	/* unknown extensions required of us (RFC 3261 8.2.2.3) */
	if (pl_strcmp(&msg->met, "ACK") && pl_strcmp(&msg->met, "CANCEL")) {
		const struct sip_hdr *req = sip_msg_hdr(msg, SIP_HDR_REQUIRE);
		if (req) {
			(void)sip_treplyf(NULL, NULL, gw->sip, msg, false, 420,
					  "Bad Extension",
					  "Unsupported: %r\r\n"
					  "Content-Length: 0\r\n\r\n",
					  &req->val);
			return true;
		}
	}

	if (!pl_strcmp(&msg->met, "OPTIONS")) {
		(void)sip_treplyf(NULL, NULL, gw->sip, msg, false, 200, "OK",
				  "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, "
				  "INFO\r\n"
				  "Accept: application/sdp\r\n"
				  "Content-Length: 0\r\n\r\n");
		return true;
	}

	if (!pl_strcmp(&msg->met, "REGISTER") ||
	    !pl_strcmp(&msg->met, "SUBSCRIBE") ||
	    !pl_strcmp(&msg->met, "PUBLISH") ||
	    !pl_strcmp(&msg->met, "MESSAGE")) {
		(void)sip_treplyf(NULL, NULL, gw->sip, msg, false, 405,
				  "Method Not Allowed",
				  "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, "
				  "INFO\r\n"
				  "Content-Length: 0\r\n\r\n");
		return true;
	}

	return false;   /* INVITE, ACK, BYE, INFO, CANCEL: sipsess & co */
}
