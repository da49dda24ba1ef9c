/**
 * @file fuzz_rtp.c  Fuzz target: RTP packets from the network (rtp/:
 *                   rtpkt_decode, the strict or NAT latch, the receive
 *                   statistics)
 *
 * Input: byte 0 the latch (bit 0 NAT, else strict; bits 1-3 the packets
 * that teach it a source, 1..8), then packets (struct fuzz_pkt): flags
 * bit 0 the packet comes from the other address (not the SDP's), bit 1
 * a re-INVITE moves the SDP's address to that other one first.
 * Properties: a decoded packet's header, payload and padding add up to
 * the datagram, inside it; a strict latch never accepts another address
 * than the SDP's, and never switches; the statistics stay sane.
 */
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "latch.h"
#include "rtcpx.h"
#include "rtpkt.h"
#include "fuzz.h"


static void check_pkt(const struct rtpkt *k, const uint8_t *buf,
		      size_t len)
{
	FUZZ_ASSERT(k->pt <= 127 && k->cc <= 15);
	FUZZ_ASSERT(k->hdr_len >= RTPKT_HDR_SIZE + 4u * k->cc);
	FUZZ_ASSERT(k->hdr_len + k->payload_len + k->pad_len == len);
	FUZZ_ASSERT(k->payload == buf + k->hdr_len);
	if (k->cc)
		FUZZ_ASSERT(k->csrc == buf + RTPKT_HDR_SIZE);
	if (k->ext) {
		FUZZ_ASSERT(k->ext_data >= buf && k->ext_data + k->ext_len <=
			    buf + k->hdr_len);
	}
	for (unsigned i = 0; i < k->cc; i++)
		(void)rtpkt_csrc(k, i);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct fuzz_pkt pk;
	struct sa sdp, other, src;
	struct latch l;
	struct rtcpx *rc;
	struct rtcpx_stats st;
	uint64_t now = 1000000;
	uint8_t conf = fuzz_u8(&in);
	enum latch_mode mode = (conf & 1) ? LATCH_NAT : LATCH_STRICT;

	rc = malloc(sizeof(*rc));
	if (!rc)
		return 0;

	(void)sa_set_str(&sdp, "192.0.2.1", 40000);
	(void)sa_set_str(&other, "198.51.100.7", 41000);
	FUZZ_ASSERT(latch_init(&l, &sdp, mode, 1 + ((conf >> 1) & 7)) == 0);
	FUZZ_ASSERT(rtcpx_init(rc, 0x12345678, "fuzz@callbridge", 8000,
			       8000) == 0);

	while (fuzz_pkt_next(&in, &pk)) {
		struct rtpkt k;
		enum latch_verdict v;

		now += pk.dt_us;
		src = (pk.flags & 1) ? other : sdp;
		if (pk.flags & 2)
			FUZZ_ASSERT(latch_set_sdp(&l, &other) == 0);

		if (rtpkt_is_rtcp(pk.p, pk.len) ||
		    rtpkt_decode(&k, pk.p, pk.len))
			continue;
		check_pkt(&k, pk.p, pk.len);

		v = latch_check(&l, &src, k.ssrc, k.seq, k.ts, now);
		FUZZ_ASSERT(v == LATCH_ACCEPT || v == LATCH_SWITCH ||
			    v == LATCH_DROP);
		if (mode == LATCH_STRICT) {
			FUZZ_ASSERT(v != LATCH_SWITCH);
			if (v == LATCH_ACCEPT)
				FUZZ_ASSERT(sa_cmp(&src, &l.sdp, SA_ALL));
		}
		if (v == LATCH_DROP)
			continue;

		FUZZ_ASSERT(sa_cmp(&src, latch_remote(&l), SA_ALL));
		(void)rtcpx_rtp_recv(rc, &k, now);
	}

	rtcpx_stats(rc, &st);
	FUZZ_ASSERT(st.rx_jitter_ms >= 0);
	FUZZ_ASSERT(st.rx_packets <= l.accepted);

	free(rc);
	return 0;
}
