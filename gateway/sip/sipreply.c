/**
 * @file sipreply.c  The SIP replies callbridge sends (SIP thread)
 *
 * Every reply of ours goes through here, so that its status code, reason
 * phrase and the headers that go with it come from the one table in
 * sipreply.h. A reply is sent in a server transaction (libre retransmits
 * a final answer to an INVITE over UDP until the ACK, and answers a
 * retransmitted request again) or stateless (the request filter's 400,
 * 483, 416 and 505, 100 Trying, answers to INFO), as each caller says.
 */
#include <stdarg.h>
#include "cb_re.h"
#include "log.h"
#include "sipreply.h"

enum {
	RETRY_AFTER_S = 5,        /**< how long a 503 asks to wait [s] */
};

/** The methods we serve (Allow) */
static const char allow[] = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO";

static const struct {
	uint16_t scode;
	const char *reason;
	bool allow, accept, retry;
} replies[SIPREPLY_COUNT] = {
#define X(id, code, reason, allow, accept, retry) \
	[SIPREPLY_##id] = {code, reason, allow, accept, retry},
	SIPREPLY_TABLE(X)
#undef X
};


/** The status code of a reply */
uint16_t sipreply_scode(enum sipreply r)
{
	return r < SIPREPLY_COUNT ? replies[r].scode : 500;
}


/** The reason phrase of a reply */
const char *sipreply_reason(enum sipreply r)
{
	return r < SIPREPLY_COUNT ? replies[r].reason :
		"Server Internal Error";
}


/**
 * Print the headers the table gives a reply (each ending in CRLF), for
 * %H
 *
 * @param pf  Print backend
 * @param r   The reply
 *
 * @return 0 if success, otherwise errorcode
 */
int sipreply_hdrs(struct re_printf *pf, const enum sipreply *r)
{
	int err = 0;

	if (!r || *r >= SIPREPLY_COUNT)
		return 0;

	if (replies[*r].allow)
		err |= re_hprintf(pf, "Allow: %s\r\n", allow);
	if (replies[*r].accept)
		err |= re_hprintf(pf, "Accept: application/sdp\r\n");
	if (replies[*r].retry)
		err |= re_hprintf(pf, "Retry-After: %u\r\n", RETRY_AFTER_S);

	return err;
}


static int vsend(struct sip *sip, const struct sip_msg *msg,
		 enum sipreply r, const char *fmt, va_list *ap)
{
	return sip_treplyf(NULL, NULL, sip, msg, false, sipreply_scode(r),
			   sipreply_reason(r), "%v%HContent-Length: 0\r\n\r\n",
			   fmt, ap, sipreply_hdrs, &r);
}


/**
 * Reply to a request in a server transaction
 *
 * @param sip  SIP stack
 * @param msg  The request
 * @param r    The reply
 *
 * @return 0 if success, otherwise errorcode
 */
int sipreply_send(struct sip *sip, const struct sip_msg *msg,
		  enum sipreply r)
{
	return sipreply_sendf(sip, msg, r, "");
}


/**
 * Reply to a request in a server transaction, with headers of the moment
 * (each ending in CRLF) before the table's
 *
 * @param sip  SIP stack
 * @param msg  The request
 * @param r    The reply
 * @param fmt  Formatted headers
 *
 * @return 0 if success, otherwise errorcode
 */
int sipreply_sendf(struct sip *sip, const struct sip_msg *msg,
		   enum sipreply r, const char *fmt, ...)
{
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = vsend(sip, msg, r, fmt, &ap);
	va_end(ap);

	return err;
}


/**
 * Reply to a request with no server transaction (nothing retransmitted,
 * nothing absorbed)
 *
 * @param sip  SIP stack
 * @param msg  The request
 * @param r    The reply
 *
 * @return 0 if success, otherwise errorcode
 */
int sipreply_stateless(struct sip *sip, const struct sip_msg *msg,
		       enum sipreply r)
{
	return sip_replyf(sip, msg, sipreply_scode(r), sipreply_reason(r),
			  "%HContent-Length: 0\r\n\r\n", sipreply_hdrs, &r);
}


/**
 * Refuse an INVITE before its call exists, logged with why: a 503 at
 * notice level (the gateway turns calls away), anything else at info
 *
 * @param sip  SIP stack
 * @param msg  The request
 * @param r    The reply
 * @param why  What made us refuse, for the log
 */
void sipreply_refuse(struct sip *sip, const struct sip_msg *msg,
		     enum sipreply r, const char *why)
{
	if (r == SIPREPLY_SERVICE_UNAVAILABLE)
		log_notice("%r from %J refused with 503: %s", &msg->met,
			   &msg->src, why);
	else
		log_info("%r %r from %J refused: %u %s (%s)", &msg->met,
			 &msg->ruri, &msg->src, sipreply_scode(r),
			 sipreply_reason(r), why);

	(void)sipreply_send(sip, msg, r);
}


/**
 * A session's final answer other than 2xx (an INVITE we had taken)
 *
 * @param sess  SIP session
 * @param r     The reply (300 or above)
 *
 * @return 0 if success, otherwise errorcode
 */
int sipreply_reject(struct sipsess *sess, enum sipreply r)
{
	return sipsess_reject(sess, sipreply_scode(r), sipreply_reason(r),
			      "%HContent-Length: 0\r\n\r\n", sipreply_hdrs,
			      &r);
}


/**
 * Answer a session 200 OK with our SDP
 *
 * @param sess  SIP session
 * @param desc  SDP offer or answer
 *
 * @return 0 if success, otherwise errorcode
 */
int sipreply_answer(struct sipsess *sess, struct mbuf *desc)
{
	const enum sipreply r = SIPREPLY_OK;

	return sipsess_answer(sess, sipreply_scode(r), sipreply_reason(r),
			      desc, NULL);
}
