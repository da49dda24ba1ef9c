/**
 * @file rtpport.c  RTP/RTCP port pairs from the configured range
 *
 * The kernel is the registry: we walk the range from a cursor and bind;
 * a pair in use (by a live call or anyone else) fails with EADDRINUSE and
 * we move on. Nothing to release but the sockets themselves, so no port
 * can leak. Used on the SIP thread only.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include "cb_re.h"
#include "rtpport.h"

struct rtpport {
	struct sa addr;
	uint16_t min, max;    /**< even min, pairs up to max */
	uint16_t next;        /**< cursor                    */
};


/**
 * Set up a port allocator
 *
 * @param rpp       Pointer to allocated allocator
 * @param addr      Address to bind (port ignored)
 * @param port_min  First port of the range
 * @param port_max  Last port of the range
 *
 * @return 0 if success, otherwise errorcode
 */
int rtpport_alloc(struct rtpport **rpp, const struct sa *addr,
		  uint16_t port_min, uint16_t port_max)
{
	struct rtpport *rp;

	if (!rpp || !addr || port_min >= port_max)
		return EINVAL;

	rp = mem_zalloc(sizeof(*rp), NULL);
	if (!rp)
		return ENOMEM;

	rp->addr = *addr;
	rp->min  = (uint16_t)((port_min + 1) & ~1u);
	rp->max  = port_max;
	rp->next = rp->min;

	if (rp->min + 1 > rp->max) {
		mem_deref(rp);
		return EINVAL;
	}

	*rpp = rp;

	return 0;
}


static int udp_bind(const struct sa *addr, uint16_t port, int *fdp)
{
	struct sa a = *addr;
	int fd, err = 0;

	sa_set_port(&a, port);

	fd = socket(sa_af(&a), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;

	if (bind(fd, &a.u.sa, a.len) < 0) {
		err = errno;
		(void)close(fd);
		return err;
	}

	*fdp = fd;

	return 0;
}


/**
 * Open the next free RTP/RTCP socket pair
 *
 * @param rp     Allocator
 * @param socks  Bound sockets (close with rtpport_close())
 *
 * @return 0 if success, EADDRINUSE if the whole range is taken
 */
int rtpport_open(struct rtpport *rp, struct rtp_socks *socks)
{
	uint32_t pairs, i;
	int err = EADDRINUSE;

	if (!rp || !socks)
		return EINVAL;

	socks->rtp_fd = socks->rtcp_fd = -1;
	pairs = (uint32_t)(rp->max - rp->min + 1) / 2;

	for (i = 0; i < pairs; i++) {
		uint16_t port = rp->next;

		rp->next += 2;
		if (rp->next + 1 > rp->max || rp->next < rp->min)
			rp->next = rp->min;

		err = udp_bind(&rp->addr, port, &socks->rtp_fd);
		if (err == EADDRINUSE)
			continue;
		if (err)
			return err;

		err = udp_bind(&rp->addr, (uint16_t)(port + 1),
			       &socks->rtcp_fd);
		if (err) {
			(void)close(socks->rtp_fd);
			socks->rtp_fd = -1;
			if (err == EADDRINUSE)
				continue;
			return err;
		}

		socks->laddr = rp->addr;
		sa_set_port(&socks->laddr, port);
		return 0;
	}

	return err;
}


/** Close a pair rtpport_open() opened (safe on an already closed pair) */
void rtpport_close(struct rtp_socks *socks)
{
	if (!socks)
		return;

	if (socks->rtp_fd >= 0)
		(void)close(socks->rtp_fd);
	if (socks->rtcp_fd >= 0)
		(void)close(socks->rtcp_fd);

	socks->rtp_fd = socks->rtcp_fd = -1;
}
