/**
 * @file settings.h  The daemon's settings file (callbridge --config FILE)
 *
 * A file written by people, never by the gateway: one `key value` per
 * line, '#' starts a comment line, blank lines are ignored. Every key has
 * a default and bounds in one table (settings.c); docs/configuration.md
 * lists them. Relative paths are resolved against the directory of the
 * settings file.
 */
#ifndef CB_SETTINGS_H
#define CB_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cb_re.h"
#include "loglevel.h"

enum {
	SETTINGS_LISTEN_MAX = 8,      /**< sip_listen entries           */
	SETTINGS_PATH_MAX   = 4096,   /**< path buffers incl. NUL [bytes] */
};

/** Default control socket, also the CLI's default */
#define SETTINGS_DEFAULT_CONTROL_SOCKET "/run/callbridge/callbridge.sock"
/** Default state file */
#define SETTINGS_DEFAULT_STATE_FILE "/var/lib/callbridge/state.json"

/** What an INVITE over a source's flood limits gets */
enum settings_flood_action {
	SETTINGS_FLOOD_REPLY = 0,     /**< 503 with Retry-After            */
	SETTINGS_FLOOD_DROP,          /**< nothing                         */
};

/** One SIP listening socket */
struct settings_listen {
	enum sip_transp transp;       /**< SIP_TRANSP_UDP or SIP_TRANSP_TCP */
	struct sa addr;               /**< address and port               */
};

struct settings {
	char path[SETTINGS_PATH_MAX]; /**< the file read; "" for defaults */

	struct settings_listen sip_listen[SETTINGS_LISTEN_MAX];
	uint32_t sip_listenc;         /**< 1..SETTINGS_LISTEN_MAX           */
	struct sa sip_advertise;      /**< Contact address; AF_UNSPEC if unset */

	struct sa rtp_address;        /**< RTP bind address, port 0         */
	struct sa rtp_advertise;      /**< SDP address; AF_UNSPEC if unset  */
	uint32_t rtp_port_min;        /**< first RTP port                   */
	uint32_t rtp_port_max;        /**< last RTP port                    */

	char control_socket[SETTINGS_PATH_MAX];
	char state_file[SETTINGS_PATH_MAX];
	char state_seed[SETTINGS_PATH_MAX];  /**< "" for none               */

	enum log_level log_level;     /**< loglevel.h                       */

	uint32_t workers;             /**< media threads; 0 = cores         */
	uint32_t media_priority;      /**< nice steps above normal, 0..20   */
	uint32_t max_calls;           /**< calls at once                    */
	uint32_t sip_invite_rate;     /**< INVITEs per source [1/s]         */
	uint32_t sip_invite_burst;    /**< ... at once above the rate       */
	uint32_t sip_pending_per_source; /**< calls not yet ACKed per source */
	uint32_t sip_flood_action;    /**< SETTINGS_FLOOD_REPLY or _DROP    */
	uint32_t sip_ack_timeout_ms;  /**< answered, no ACK: end [ms]       */
	uint32_t agent_connect_timeout_ms;  /**< WebSocket connect [ms]     */
	uint32_t max_call_duration_s; /**< hang up after [s]                */
	uint32_t rtp_timeout_s;       /**< no RTP for this long [s]; 0 off  */
	uint32_t jb_min_ms;           /**< jitter buffer min wait [ms]      */
	uint32_t jb_max_ms;           /**< jitter buffer max wait [ms]      */
	uint32_t opus_complexity;     /**< 0..10                            */
	uint32_t opus_complexity_nb;  /**< 0..10, for 8 kHz agent audio     */
	uint32_t opus_bitrate;        /**< [bit/s]                          */
	uint32_t resample_quality;    /**< speexdsp quality 0..10           */
	uint32_t agent_backlog_trim_ms; /**< trim standing backlogs [ms]    */
	uint32_t agent_send_queue_kib;  /**< output waiting for an agent that
					     does not read, then media is
					     dropped [KiB]                  */
	char agent_tls_ca[SETTINGS_PATH_MAX]; /**< CA bundle; "" = system   */
	char account_sid[35];         /**< "" = derived from the host name  */
};

int  settings_load(struct settings **sp, const char *path, char *err,
		   size_t errsz);
uint32_t settings_key_count(void);
const char *settings_key_name(uint32_t i, const char **defp,
			      const char **helpp);

#endif
