/**
 * @file sipreq.c  What every SIP request passes before the dialogs see it
 *
 * sip_listen()'s first handler, in the order of RFC 3261 8.2 with the
 * syntax first (a broken request gets 400, never a routing answer):
 *
 *   SIP version 505; framing, CSeq, the headers a request must have once,
 *   addresses and numbers out of range 400 (RFC 4475 3.1.2, 3.3.1, 3.3.8,
 *   3.3.9); Max-Forwards 483; URI scheme 416; Require 420; an INVITE's
 *   body not SDP 415, its Accept without SDP 406 (RFC 4475 3.3.6,
 *   3.3.15); OPTIONS answered here; methods not served 405.
 *
 * INVITE, ACK, BYE, INFO and CANCEL that pass go on to libre's sipsess,
 * where a new INVITE is routed (sipinvite.c). An ACK is never answered:
 * one without the headers of its dialog is dropped. Requests libre's
 * decoder refuses never get here (docs/sip-torture.md).
 */
#include <errno.h>
#include <stdbool.h>
#include "cb_re.h"
#include "sipgw_int.h"
#include "sipreply.h"

enum {
	CSEQ_MAX    = 0x7fffffff,  /**< RFC 3261 8.1.1.5: below 2**31 */
	MAXFWD_MAX  = 255,         /**< RFC 3261 20.22 (RFC 4475 scalar02) */
	DIGITS_MAX  = 10,          /**< longest number we read           */
};


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


/* a number of at most max, in digits only */
static bool number_ok(const struct pl *pl, uint32_t max)
{
	struct pl n;

	if (re_regex(pl->p, pl->l, "[0-9]+", &n) || n.l != pl->l ||
	    n.l > DIGITS_MAX)
		return false;

	return pl_u64(&n) <= max;
}


/* the CSeq number as written (libre's cseq.num wraps at 2**32) */
static bool cseq_ok(const struct sip_msg *msg)
{
	const struct sip_hdr *hdr = sip_msg_hdr(msg, SIP_HDR_CSEQ);
	struct pl n;

	return hdr && !re_regex(hdr->val.p, hdr->val.l, "[^ \t\r\n]+", &n) &&
		number_ok(&n, CSEQ_MAX);
}


/* framing and numbers (RFC 3261 18.3, 8.1.1.5; RFC 4475 clerr, ncl,
   mismatch01, scalar02): a CSeq method that is not the request's, a CSeq
   or Max-Forwards out of range, a Content-Length that is no number or
   (UDP) longer than the datagram */
static bool bad_numbers(const struct sip_msg *msg)
{
	if (pl_cmp(&msg->cseq.met, &msg->met))
		return true;

	if (!cseq_ok(msg))
		return true;

	if (pl_isset(&msg->maxfwd) && !number_ok(&msg->maxfwd, MAXFWD_MAX))
		return true;

	if (!pl_isset(&msg->clen))
		return false;

	return !number_ok(&msg->clen, UINT32_MAX) ||
		(msg->tp == SIP_TRANSP_UDP &&
		 pl_u32(&msg->clen) > mbuf_get_left(msg->mb));
}


/* the headers a request must have (RFC 3261 8.1.1; RFC 4475 insuf): To,
   From, Call-ID, CSeq (Via: sipreq_filter). Not Max-Forwards: RFC 2543
   requests (RFC 4475 3.4.1) lack it */
static bool headers_missing(const struct sip_msg *msg)
{
	static const enum sip_hdrid need[] = {
		SIP_HDR_TO, SIP_HDR_FROM, SIP_HDR_CALL_ID, SIP_HDR_CSEQ,
	};

	for (size_t i = 0; i < ARRAY_SIZE(need); i++) {
		if (!sip_msg_hdr(msg, need[i]))
			return true;
	}

	return false;
}


/* headers a request may have once (RFC 3261 20; RFC 4475 multi01,
   mcl01) */
static bool headers_repeated(const struct sip_msg *msg)
{
	static const enum sip_hdrid once[] = {
		SIP_HDR_TO, SIP_HDR_FROM, SIP_HDR_CALL_ID, SIP_HDR_CSEQ,
		SIP_HDR_MAX_FORWARDS, SIP_HDR_CONTENT_LENGTH,
		SIP_HDR_CONTENT_TYPE,
	};

	for (size_t i = 0; i < ARRAY_SIZE(once); i++) {
		if (sip_msg_hdr_count(msg, once[i]) > 1)
			return true;
	}

	return false;
}


/* an address header libre let through (RFC 3261 20.10, 25.1; RFC 4475
   quotbal, regbadct): quotes that do not pair, or a URI with headers
   ('?') outside <> */
static bool bad_addr(const struct sip_hdr *hdr, const struct sip_msg *msg,
		     void *arg)
{
	bool quoted = false, bracket = false, query = false;
	(void)msg;
	(void)arg;

	for (size_t i = 0; i < hdr->val.l; i++) {
		const char c = hdr->val.p[i];

		if (quoted && c == '\\')
			++i;
		else if (c == '"')
			quoted = !quoted;
		else if (!quoted && c == '<')
			bracket = true;
		else if (!quoted && c == '?')
			query = true;
	}

	return quoted || (query && !bracket);
}


/* the rest of the syntax libre lets through; a Request-URI with headers
   (RFC 3261 19.1.5; RFC 4475 escruri) */
static bool malformed(const struct sip_msg *msg)
{
	return bad_numbers(msg) || headers_repeated(msg) ||
		pl_isset(&msg->uri.headers) ||
		sip_msg_hdr_apply(msg, true, SIP_HDR_TO, bad_addr, NULL) ||
		sip_msg_hdr_apply(msg, true, SIP_HDR_FROM, bad_addr, NULL) ||
		sip_msg_hdr_apply(msg, true, SIP_HDR_CONTACT, bad_addr, NULL);
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


/* an INVITE's body: SDP or none (RFC 3261 8.2.3; RFC 4475 invut) */
static bool body_unsupported(const struct sip_msg *msg)
{
	bool has;

	return !pl_strcmp(&msg->met, "INVITE") && sipreq_sdp_body(msg, &has);
}


/* an Accept element: *seen if it reads as type/subtype, true if it takes
   application/sdp */
static bool takes_sdp(const struct sip_hdr *hdr, const struct sip_msg *msg,
		      void *arg)
{
	bool *seen = arg;
	struct pl type, sub;
	(void)msg;

	if (re_regex(hdr->val.p, hdr->val.l, "[^ \t/;]+[ \t]*/[ \t]*[^ \t;]+",
		     &type, NULL, NULL, &sub))
		return false;

	*seen = true;

	return (!pl_strcmp(&type, "*") ||
		!pl_strcasecmp(&type, "application")) &&
		(!pl_strcmp(&sub, "*") || !pl_strcasecmp(&sub, "sdp"));
}


/* an INVITE whose Accept leaves out SDP, the only body our answer can
   have (RFC 3261 21.4.7; RFC 4475 sdp01). An Accept that is empty or
   does not read counts as none: SDP, RFC 3261 20.1's default */
static bool sdp_unacceptable(const struct sip_msg *msg)
{
	bool seen = false;

	if (pl_strcmp(&msg->met, "INVITE"))
		return false;

	if (sip_msg_hdr_apply(msg, true, SIP_HDR_ACCEPT, takes_sdp, &seen))
		return false;

	return seen;
}


/**
 * The answer a request (not ACK) gets from the filter, in RFC 3261 8.2's
 * order with the syntax first
 *
 * @param msg  The request
 *
 * @return The reply, SIPREPLY_COUNT if the request goes on
 */
enum sipreply sipreq_verdict(const struct sip_msg *msg)
{
	/* libre 1.1.0 takes only "SIP/2.0" for a request: a guard */
	if (pl_strcasecmp(&msg->ver, "SIP/2.0"))
		return SIPREPLY_VERSION_NOT_SUPPORTED;
	if (headers_missing(msg) || malformed(msg))
		return SIPREPLY_BAD_REQUEST;
	if (hops_exhausted(msg))
		return SIPREPLY_TOO_MANY_HOPS;
	if (scheme_unsupported(msg))
		return SIPREPLY_URI_SCHEME;
	if (required(msg))
		return SIPREPLY_BAD_EXTENSION;
	if (body_unsupported(msg))
		return SIPREPLY_BODY_NOT_SDP;
	if (sdp_unacceptable(msg))
		return SIPREPLY_SDP_NOT_ACCEPTED;
	if (!pl_strcmp(&msg->met, "OPTIONS"))
		return SIPREPLY_OPTIONS_OK;
	if (not_served(msg))
		return SIPREPLY_METHOD_NOT_ALLOWED;

	return SIPREPLY_COUNT;
}


/**
 * The first listener: checks every request passes. Answers OPTIONS and
 * refuses what is malformed or not served; true if it answered (or
 * dropped the request).
 *
 * Syntax errors are answered stateless (a request without a Call-ID has
 * no transaction worth keeping); the rest in a server transaction.
 */
bool sipreq_filter(const struct sip_msg *msg, void *arg)
{
	struct sipgw *gw = arg;
	enum sipreply r;

	/* no Via: nowhere to answer; an ACK is never answered */
	if (!sip_msg_hdr(msg, SIP_HDR_VIA))
		return true;
	if (!pl_strcmp(&msg->met, "ACK"))
		return headers_missing(msg);

	r = sipreq_verdict(msg);
	switch (r) {

	case SIPREPLY_COUNT:
		return false;   /* INVITE, BYE, INFO, CANCEL: sipsess */

	case SIPREPLY_VERSION_NOT_SUPPORTED:
	case SIPREPLY_BAD_REQUEST:
	case SIPREPLY_TOO_MANY_HOPS:
	case SIPREPLY_URI_SCHEME:
		(void)sipreply_stateless(gw->sip, msg, r);
		break;

	case SIPREPLY_BAD_EXTENSION:
		(void)sipreply_sendf(gw->sip, msg, r, "Unsupported: %r\r\n",
				     &required(msg)->val);
		break;

	default:
		(void)sipreply_send(gw->sip, msg, r);
		break;
	}

	return true;
}
