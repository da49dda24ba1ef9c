/**
 * @file gwmsg.h  Messages between the SIP thread and the media workers
 *
 * Calls are named by a 64-bit id, never by pointer: each side keeps its own
 * table (struct call on the SIP thread, struct mcall on the worker), so a
 * late message about a call that is already gone is simply ignored.
 *
 * Life of a call, as seen by the messages:
 *
 *     SIP thread                         media worker
 *     CALL_START(media_start) ------->   open WebSocket to the agent
 *                             <-------   AGENT_READY (connected+start sent)
 *     200 OK, CALL_ANSWERED   ------->   start RTP pacing, audio both ways
 *     CALL_UPDATE (re-INVITE) ------->   new remote address / direction
 *                             <-------   CALL_END_REQ (agent hung up, RTP
 *                                        timeout, agent failure)
 *     CALL_STOP               ------->   stop, close WebSocket, free
 *                             <-------   CALL_GONE (final statistics)
 *
 * The SIP thread sends CALL_STOP exactly once per CALL_START, and the
 * worker answers it with exactly one CALL_GONE; the SIP thread frees its
 * side of the call only then. Every call therefore ends exactly once.
 */
#ifndef CB_GWMSG_H
#define CB_GWMSG_H

#include <stdint.h>
#include <stdbool.h>
#include "cb_re.h"
#include "callstate.h"
#include "mstats.h"

/** SIP thread -> worker */
enum wmsg_id {
	WMSG_CALL_START = 1,  /**< data: struct media_start *        */
	WMSG_CALL_ANSWERED,   /**< data: struct wmsg *               */
	WMSG_CALL_UPDATE,     /**< data: struct wmsg * (with remote) */
	WMSG_CALL_STOP,       /**< data: struct wmsg *               */
	WMSG_CALL_DTMF,       /**< data: struct wmsg * (SIP INFO digit) */
	WMSG_SHUTDOWN,        /**< data: NULL                        */
};

/** worker -> SIP thread */
enum smsg_id {
	SMSG_AGENT_READY = 1, /**< data: struct smsg *               */
	SMSG_CALL_END_REQ,    /**< data: struct smsg * (reason)      */
	SMSG_CALL_GONE,       /**< data: struct smsg * (stats)       */
	SMSG_SEND_INFO,       /**< data: struct smsg * (DTMF digit)  */
};

/** Media direction agreed in SDP, from the gateway's point of view */
struct media_dir {
	bool send;            /**< we may send RTP       */
	bool recv;            /**< we accept RTP         */
};

/**
 * What SDP offer/answer agreed for a call's audio.
 *
 * Payload types come in two sets (RFC 3264 5.1, 6.1): each side receives
 * with the numbers of its own SDP. In the answers we make they are the
 * offer's, the same both ways; the answer to an offer of ours may number
 * a format otherwise, and we then send with its numbers and receive with
 * ours.
 */
struct media_params {
	int codec;            /**< enum codec_id                  */
	int pt;               /**< its payload type, as we send it
				   (the peer's SDP)               */
	uint32_t srate;       /**< its RTP clock rate [Hz]        */
	uint8_t ch;           /**< channels in rtpmap             */
	char fmtp[256];       /**< the peer's fmtp for the codec  */
	int telev_pt;         /**< telephone-event PT as we send it,
				   -1 if none                     */
	int cn_pt;            /**< comfort noise PT as we would send
				   it, -1 if none                 */
	int rx_pt;            /**< the codec's PT in the RTP we take
				   (our SDP)                      */
	int rx_telev_pt;      /**< telephone-event PT we take, -1 */
	int rx_cn_pt;         /**< comfort noise PT we take, -1   */
	uint32_t ptime;       /**< peer's a=ptime [ms], 0 if none */
	struct sa raddr;      /**< where to send RTP              */
	struct sa raddr_rtcp; /**< where to send RTCP             */
	bool rtcp_mux;        /**< RTCP shares the RTP port       */
	struct media_dir dir; /**< what we may do                 */
	int srtp_suite;       /**< enum srtpx_suite, 0: plain RTP */
	uint8_t srtp_tx_key[30]; /**< ours: what we encrypt with   */
	uint8_t srtp_rx_key[30]; /**< the peer's                   */
};

/** SIP thread -> worker, for everything but CALL_START */
struct wmsg {
	uint64_t id;          /**< call id                          */
	enum end_reason reason;         /**< STOP                   */
	struct media_params media;      /**< ANSWERED, UPDATE       */
	char digit;           /**< DTMF: digit from SIP INFO        */
	uint32_t duration;    /**< DTMF: duration [ms]              */
};

/** worker -> SIP thread */
struct smsg {
	uint64_t id;              /**< call id                       */
	enum end_reason reason;   /**< END_REQ                       */
	char detail[128];         /**< human readable detail          */
	struct media_stats stats; /**< GONE                          */
	char digit;               /**< SEND_INFO                     */
	uint32_t duration;        /**< SEND_INFO [ms]                */
};

#endif
