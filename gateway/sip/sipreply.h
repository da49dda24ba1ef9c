/**
 * @file sipreply.h  The SIP replies callbridge sends (sip/ only)
 *
 * One table: every reply callbridge itself makes, with its status code,
 * reason phrase and the headers that go with it (Allow, Accept,
 * Retry-After: each written in one place, sipreply.c). Headers that carry
 * a value of the moment (WWW-Authenticate's nonce, Unsupported's copy of
 * Require) come from the caller. Replies libre makes on its own are not
 * here: 481 to a request for no dialog, 487 to a cancelled INVITE, 501,
 * 200 to BYE and CANCEL, and a refused re-INVITE's 488 (its phrase is
 * libre's strerror() of our handler's error).
 */
#ifndef CB_SIPREPLY_H
#define CB_SIPREPLY_H

#include <stdint.h>
#include "cb_re.h"

/*
 * X(id, code, reason, allow, accept, retry): the reply SIPREPLY_<id>
 * carries the Allow header (the methods we serve), Accept:
 * application/sdp, Retry-After (RETRY_AFTER_S) if the flag is 1.
 *
 *  id                   code  reason                  Allow Accept Retry
 */
#define SIPREPLY_TABLE(X)                                                 \
	X(TRYING,              100, "Trying",                  0, 0, 0)  \
	X(RINGING,             180, "Ringing",                 1, 0, 0)  \
	X(OK,                  200, "OK",                      0, 0, 0)  \
	X(OPTIONS_OK,          200, "OK",                      1, 1, 0)  \
	X(BAD_REQUEST,         400, "Bad Request",             0, 0, 0)  \
	X(BAD_DTMF_BODY,       400, "Bad dtmf-relay body",     0, 0, 0)  \
	X(UNAUTHORIZED,        401, "Unauthorized",            0, 0, 0)  \
	X(FORBIDDEN,           403, "Forbidden",               0, 0, 0)  \
	X(NOT_FOUND,           404, "Not Found",               0, 0, 0)  \
	X(METHOD_NOT_ALLOWED,  405, "Method Not Allowed",      1, 0, 0)  \
	X(SDP_NOT_ACCEPTED,    406, "Not Acceptable",          0, 1, 0)  \
	X(BODY_NOT_SDP,        415, "Unsupported Media Type",  0, 1, 0)  \
	X(INFO_NOT_DTMF,       415, "Unsupported Media Type",  0, 0, 0)  \
	X(URI_SCHEME,          416, "Unsupported URI Scheme",  0, 0, 0)  \
	X(BAD_EXTENSION,       420, "Bad Extension",           0, 0, 0)  \
	X(TEMP_UNAVAILABLE,    480, "Temporarily Unavailable", 0, 0, 0)  \
	X(TOO_MANY_HOPS,       483, "Too Many Hops",           0, 0, 0)  \
	X(NOT_ACCEPTABLE,      488, "Not Acceptable Here",     0, 0, 0)  \
	X(SERVER_ERROR,        500, "Server Internal Error",   0, 0, 0)  \
	X(SERVICE_UNAVAILABLE, 503, "Service Unavailable",     0, 0, 1)  \
	X(VERSION_NOT_SUPPORTED, 505, "Version Not Supported", 0, 0, 0)

/* OPTIONS_OK answers OPTIONS, OK anything else; SDP_NOT_ACCEPTED refuses
   an INVITE whose Accept leaves out SDP (the 406 says what we can send),
   BODY_NOT_SDP an INVITE whose body is not SDP, INFO_NOT_DTMF an INFO whose body is not
   dtmf-relay; SERVICE_UNAVAILABLE is every 503 (shutting down, a limit
   reached, the agent not ready in time, ...) */

enum sipreply {
#define X(id, code, reason, allow, accept, retry) SIPREPLY_##id,
	SIPREPLY_TABLE(X)
#undef X
	SIPREPLY_COUNT
};

struct sipsess;

uint16_t    sipreply_scode(enum sipreply r);
const char *sipreply_reason(enum sipreply r);
int  sipreply_hdrs(struct re_printf *pf, const enum sipreply *r);
int  sipreply_send(struct sip *sip, const struct sip_msg *msg,
		   enum sipreply r);
int  sipreply_sendf(struct sip *sip, const struct sip_msg *msg,
		    enum sipreply r, const char *fmt, ...);
int  sipreply_stateless(struct sip *sip, const struct sip_msg *msg,
			enum sipreply r);
void sipreply_refuse(struct sip *sip, const struct sip_msg *msg,
		     enum sipreply r, const char *why);
int  sipreply_reject(struct sipsess *sess, enum sipreply r);
int  sipreply_answer(struct sipsess *sess, struct mbuf *desc);

#endif
