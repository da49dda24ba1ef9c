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
#include "media.h"
#include "twilio.h"

enum { GWCONF_MAX_LISTEN = 8 };

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
	uint32_t agent_timeout_ms;      /**< agent must be ready [ms]   */
	uint32_t max_duration_s;        /**< longest call [s]           */
	char account_sid[TWILIO_SID_LEN + 1];
	struct media_conf media;        /**< copied into every call     */
};

#endif
