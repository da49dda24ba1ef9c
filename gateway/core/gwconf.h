/**
 * @file gwconf.h  The gateway's run-time configuration
 *
 * Built once by main.c from the settings file (config/settings.h) and read
 * only afterwards, by every thread.
 */
#ifndef CB_GWCONF_H
#define CB_GWCONF_H

#include <stdint.h>
#include "cb_re.h"
#include "sid.h"

enum { GWCONF_MAX_LISTEN = 8 };

/** Media settings copied from the gateway settings at call start */
struct media_conf {
	uint32_t rtp_timeout_ms;      /**< hang up without RTP, 0 = never */
	uint32_t jb_min_ms;           /**< jitter buffer minimum wait     */
	uint32_t jb_max_ms;           /**< jitter buffer maximum wait     */
	uint32_t opus_complexity;     /**< 0..10                          */
	uint32_t opus_complexity_nb;  /**< 0..10, for 8 kHz agent audio   */
	uint32_t opus_bitrate;        /**< [bit/s]                        */
	uint32_t resample_quality;    /**< speexdsp 0..10                 */
	uint32_t backlog_trim_ms;     /**< trim standing backlogs, 0: off */
	uint32_t agent_txq_kib;       /**< output queued for an agent that
					   does not read, then media is
					   dropped [KiB]                   */
};

struct gwconf {
	struct {
		enum sip_transp tp;
		struct sa addr;
	} listen[GWCONF_MAX_LISTEN];    /**< SIP listeners              */
	unsigned listenc;
	struct sa sip_advertise;        /**< Contact address; unset = derive */
	struct sa rtp_addr;             /**< RTP bind address           */
	struct sa rtp_advertise;        /**< SDP address; unset = derive */
	uint16_t rtp_port_min, rtp_port_max;
	uint32_t workers;               /**< media worker threads       */
	uint32_t max_calls;             /**< concurrent calls           */
	struct {
		uint32_t invite_rate;   /**< per source [1/s]           */
		uint32_t invite_burst;  /**< ... at once above the rate */
		uint32_t pending;       /**< calls not yet ACKed, per
					     source                     */
		bool drop;              /**< over: no answer (else 503) */
		uint32_t ack_timeout_ms;/**< answered, no ACK: end [ms] */
	} flood;                        /**< flood limits (sip/sipflood.c) */
	uint32_t agent_timeout_ms;      /**< agent must be ready [ms]   */
	uint32_t max_duration_s;        /**< longest call [s]           */
	char account_sid[SID_LEN + 1];
	struct media_conf media;        /**< copied into every call     */
};

struct settings;

void gwconf_from_settings(struct gwconf *c, const struct settings *s);

#endif
