/**
 * @file callsdp.h  SDP offer/answer for one call (RFC 3264), on libre's SDP
 */
#ifndef CB_CALLSDP_H
#define CB_CALLSDP_H

#include <stdbool.h>
#include <stdint.h>
#include "cb_re.h"
#include "codec.h"
#include "gwmsg.h"

/** Payload types the gateway uses when it makes the offer */
enum {
	CALLSDP_PT_OPUS    = 111,
	CALLSDP_PT_TELEV8  = 101,  /**< telephone-event/8000  */
	CALLSDP_PT_TELEV48 = 102,  /**< telephone-event/48000 */
	CALLSDP_PT_CN      = 13,
};

struct callsdp;

/** Media encryption a call may or must use (the trunk's setting) */
enum callsdp_srtp {
	CALLSDP_SRTP_NONE = 0,    /**< RTP/AVP only                     */
	CALLSDP_SRTP_OPTIONAL,    /**< RTP/AVP, or RTP/SAVP if offered  */
	CALLSDP_SRTP_REQUIRED,    /**< RTP/SAVP only                    */
};

int  callsdp_alloc(struct callsdp **csp, const struct sa *laddr,
		   const enum codec_id *prefs, size_t prefc,
		   enum callsdp_srtp srtp, uint32_t audio_hz);
int  callsdp_offer_recv(struct callsdp *cs, struct mbuf *mb,
			struct media_params *res);
int  callsdp_answer_recv(struct callsdp *cs, struct mbuf *mb,
			 struct media_params *res);
int  callsdp_encode(struct callsdp *cs, struct mbuf **mbp, bool offer);
bool callsdp_codec_offered(const struct callsdp *cs, enum codec_id codec);

#endif
