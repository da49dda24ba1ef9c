/**
 * @file fuzz_rtcp.c  Fuzz target: RTCP from the network (rtp/rtcpx.c)
 *
 * Input: packets (struct fuzz_pkt); flags bit 0: an RTP packet of the
 * stream we receive (its statistics feed our reports), else an RTCP
 * compound packet from the peer; bit 1: we then send a report (bit 2:
 * with BYE), as the media worker's RTCP timer does. What the peer told
 * us (its sender report, its report on our stream, the round-trip time)
 * goes into what we send and into the call's statistics.
 * Properties: our report is written within its buffer, is itself a
 * valid compound that we decode again, and the statistics stay sane.
 */
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "rtcpx.h"
#include "rtpkt.h"
#include "fuzz.h"


static void report(struct rtcpx *rc, bool bye, uint64_t now_us,
		   uint64_t ntp)
{
	uint8_t buf[RTCPX_BUF_SIZE + 16];
	struct rtcpx *echo;
	size_t len = 0;

	memset(buf, 0xa5, sizeof(buf));
	if (rtcpx_encode(rc, buf, RTCPX_BUF_SIZE, &len, bye, now_us, ntp))
		return;
	FUZZ_ASSERT(len > 0 && len <= RTCPX_BUF_SIZE);
	for (size_t i = RTCPX_BUF_SIZE; i < sizeof(buf); i++)
		FUZZ_ASSERT(buf[i] == 0xa5);

	/* the peer's view: what we send must decode */
	echo = malloc(sizeof(*echo));
	if (!echo)
		return;
	FUZZ_ASSERT(rtcpx_init(echo, 0x0badcafe, "peer@fuzz", 8000,
			       8000) == 0);
	FUZZ_ASSERT(rtcpx_decode(echo, buf, len, now_us, ntp) == 0);
	free(echo);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct fuzz_pkt pk;
	struct rtcpx_stats st;
	struct rtcpx *rc;
	uint64_t now = 5000000;
	uint64_t ntp = rtcpx_ntp_from_unix_us(1700000000000000ull);

	rc = malloc(sizeof(*rc));
	if (!rc)
		return 0;
	FUZZ_ASSERT(rtcpx_init(rc, 0x12345678, "fuzz@callbridge", 8000,
			       8000) == 0);
	rtcpx_set_seed(rc, 1);

	while (fuzz_pkt_next(&in, &pk)) {
		now += pk.dt_us;
		ntp += ((uint64_t)pk.dt_us << 32) / 1000000;

		if (pk.flags & 1) {
			struct rtpkt k;

			if (!rtpkt_decode(&k, pk.p, pk.len))
				(void)rtcpx_rtp_recv(rc, &k, now);
			/* and we send, so that reports carry an SR */
			rtcpx_rtp_sent(rc, (uint32_t)(now / 125), 160, now);
		}
		else {
			(void)rtcpx_decode(rc, pk.p, pk.len, now, ntp);
		}

		if (pk.flags & 2)
			report(rc, pk.flags & 4, now, ntp);
		(void)rtcpx_next_interval_ms(rc, 8000);
	}

	rtcpx_stats(rc, &st);
	FUZZ_ASSERT(st.rx_jitter_ms >= 0);
	if (st.rtt_valid)
		FUZZ_ASSERT(st.rtt_ms >= 0);

	free(rc);
	return 0;
}
