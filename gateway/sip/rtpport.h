/**
 * @file rtpport.h  RTP/RTCP port pairs from the configured range
 */
#ifndef CB_RTPPORT_H
#define CB_RTPPORT_H

#include <stdint.h>
#include "cb_re.h"

struct rtpport;

/** A bound pair of UDP sockets: RTP on an even port, RTCP on port + 1 */
struct rtp_socks {
	int rtp_fd;
	int rtcp_fd;
	struct sa laddr;      /**< RTP address and port */
};

int  rtpport_alloc(struct rtpport **rpp, const struct sa *addr,
		   uint16_t port_min, uint16_t port_max);
int  rtpport_open(struct rtpport *rp, struct rtp_socks *socks);
void rtpport_close(struct rtp_socks *socks);

#endif
