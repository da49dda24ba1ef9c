/**
 * @file gwconf.c  The gateway's run-time configuration, from the settings
 */
#include <string.h>
#include <unistd.h>
#include "cb_re.h"
#include "gwconf.h"
#include "settings.h"
#include "sid.h"


/* an account SID stable across restarts: from the host name */
static void account_sid_default(char *sid)
{
	char host[256] = "callbridge";

	(void)gethostname(host, sizeof(host) - 1);
	sid_from_name(sid, "AC", host);
}


/**
 * Build the gateway's run-time configuration from the settings file
 *
 * @param c  Configuration to fill
 * @param s  Settings, as loaded and validated
 */
void gwconf_from_settings(struct gwconf *c, const struct settings *s)
{
	memset(c, 0, sizeof(*c));

	for (uint32_t i = 0; i < s->sip_listenc && i < GWCONF_MAX_LISTEN; i++) {
		c->listen[i].tp   = s->sip_listen[i].transp;
		c->listen[i].addr = s->sip_listen[i].addr;
		c->listenc++;
	}

	c->sip_advertise = s->sip_advertise;
	c->rtp_addr = s->rtp_address;
	c->rtp_advertise = s->rtp_advertise;
	c->rtp_port_min = (uint16_t)s->rtp_port_min;
	c->rtp_port_max = (uint16_t)s->rtp_port_max;
	c->workers = s->workers;
	c->max_calls = s->max_calls;
	c->flood.invite_rate = s->sip_invite_rate;
	c->flood.invite_burst = s->sip_invite_burst;
	c->flood.pending = s->sip_pending_per_source;
	c->flood.drop = s->sip_flood_action == SETTINGS_FLOOD_DROP;
	c->flood.ack_timeout_ms = s->sip_ack_timeout_ms;
	c->agent_timeout_ms = s->agent_connect_timeout_ms;
	c->max_duration_s = s->max_call_duration_s;
	if (s->account_sid[0])
		str_ncpy(c->account_sid, s->account_sid,
			 sizeof(c->account_sid));
	else
		account_sid_default(c->account_sid);

	c->media.rtp_timeout_ms = s->rtp_timeout_s * 1000;
	c->media.jb_min_ms = s->jb_min_ms;
	c->media.jb_max_ms = s->jb_max_ms;
	c->media.opus_complexity = s->opus_complexity;
	c->media.opus_complexity_nb = s->opus_complexity_nb;
	c->media.opus_bitrate = s->opus_bitrate;
	c->media.resample_quality = s->resample_quality;
	c->media.backlog_trim_ms = s->agent_backlog_trim_ms;
	c->media.agent_txq_kib = s->agent_send_queue_kib;
}
