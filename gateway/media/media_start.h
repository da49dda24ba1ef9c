/**
 * @file media_start.h  The hand-over of a call's media: SIP thread -> worker
 */
#ifndef CB_MEDIA_START_H
#define CB_MEDIA_START_H

#include <stdint.h>
#include <stdbool.h>
#include "cb_re.h"
#include "gwconf.h"
#include "resolver.h"
#include "twilio.h"

/** Agent wire protocol */
enum agent_proto {
	AGENT_PROTO_TWILIO = 0,  /**< Twilio Media Streams (JSON, base64) */
	AGENT_PROTO_RAW,         /**< binary PCM frames + JSON control    */
};

/**
 * Everything a worker needs to run a call's media. Built by the SIP thread
 * and handed over whole with WMSG_CALL_START; from then on it belongs to
 * the worker (no field is shared with the SIP thread).
 */
struct media_start {
	uint64_t id;                  /**< call id                        */
	struct twilio_ids ids;        /**< account/call/stream SIDs       */

	/* agent */
	char *agent_id;
	char *agent_url;
	struct resolver_addrs agent_addrs; /**< resolved host, tried in
					   order; n = 0: a literal     */
	char *agent_auth_token;       /**< NULL if none                   */
	enum agent_proto proto;
	bool l16;                     /**< agent audio is 16-bit PCM      */
	uint32_t agent_srate;         /**< agent sample rate [Hz]         */
	json_t *custom;               /**< customParameters (owned)       */

	/* RTP; the codec and the peer's address come with CALL_ANSWERED */
	int rtp_fd, rtcp_fd;          /**< bound, non-blocking (owned)    */
	struct sa laddr;              /**< local RTP address              */
	bool rtp_nat;                 /**< learn a NATed caller's source
					   (the trunk's rtp_latching nat);
					   false: the SDP's address only  */

	struct media_conf conf;
};

int  media_start_alloc(struct media_start **msp);

#endif
