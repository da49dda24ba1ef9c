/**
 * @file media_start.c  The hand-over of a call's media: SIP thread -> worker
 *
 * The SIP thread fills one in and pushes it with WMSG_CALL_START; the
 * worker's call (mcall.c) owns it from then on, and freeing it closes the
 * call's RTP and RTCP sockets.
 */
#include <errno.h>
#include <unistd.h>
#include "cb_re.h"
#include "media_start.h"


static void media_start_destructor(void *arg)
{
	struct media_start *ms = arg;

	mem_deref(ms->agent_id);
	mem_deref(ms->agent_url);
	mem_deref(ms->agent_auth_token);
	json_decref(ms->custom);
	if (ms->rtp_fd >= 0)
		(void)close(ms->rtp_fd);
	if (ms->rtcp_fd >= 0)
		(void)close(ms->rtcp_fd);
}


/** Allocate an empty media_start (sockets -1, defaults set) */
int media_start_alloc(struct media_start **msp)
{
	struct media_start *ms;

	if (!msp)
		return EINVAL;

	ms = mem_zalloc(sizeof(*ms), media_start_destructor);
	if (!ms)
		return ENOMEM;

	ms->rtp_fd = ms->rtcp_fd = -1;
	ms->agent_srate = 8000;

	*msp = ms;

	return 0;
}
