/**
 * @file rtpkt.c  RTP packet header codec on plain byte buffers (RFC 3550)
 *
 * Every length is checked before the bytes it covers are read, in the order
 * they appear on the wire: fixed header, CSRC list, extension header,
 * extension data, then padding (counted back from the end). A packet whose
 * lengths do not add up is EBADMSG, never a short read.
 */
#include <errno.h>
#include "rtpkt.h"


static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}


static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		(uint32_t)p[2] << 8 | p[3];
}


/**
 * Decode an RTP packet without copying or allocating
 *
 * @param pkt  Decoded packet (output); pointers refer into buf
 * @param buf  Datagram
 * @param len  Datagram length [bytes]
 *
 * @return 0 if success, EINVAL for NULL arguments, EBADMSG if the datagram
 *         is not a well-formed RTP version 2 packet (too short, wrong
 *         version, CSRC list or extension overrunning the datagram, zero
 *         padding count or padding longer than the payload)
 */
int rtpkt_decode(struct rtpkt *pkt, const uint8_t *buf, size_t len)
{
	size_t hdr_len, end;
	bool pad;

	if (!pkt || !buf)
		return EINVAL;

	if (len < RTPKT_HDR_SIZE)
		return EBADMSG;

	if ((buf[0] >> 6) != 2)
		return EBADMSG;

	pad         = (buf[0] >> 5) & 1;
	pkt->ext    = (buf[0] >> 4) & 1;
	pkt->cc     = buf[0] & 0x0f;
	pkt->marker = (buf[1] >> 7) & 1;
	pkt->pt     = buf[1] & 0x7f;
	pkt->seq    = rd16(buf + 2);
	pkt->ts     = rd32(buf + 4);
	pkt->ssrc   = rd32(buf + 8);

	hdr_len = RTPKT_HDR_SIZE + 4 * (size_t)pkt->cc;
	if (hdr_len > len)
		return EBADMSG;
	pkt->csrc = pkt->cc ? buf + RTPKT_HDR_SIZE : NULL;

	pkt->ext_profile = 0;
	pkt->ext_data    = NULL;
	pkt->ext_len     = 0;
	if (pkt->ext) {
		if (hdr_len + 4 > len)
			return EBADMSG;

		pkt->ext_profile = rd16(buf + hdr_len);
		pkt->ext_len     = 4 * (size_t)rd16(buf + hdr_len + 2);
		hdr_len += 4;

		if (pkt->ext_len > len - hdr_len)
			return EBADMSG;

		pkt->ext_data = buf + hdr_len;
		hdr_len += pkt->ext_len;
	}

	end = len;
	pkt->pad_len = 0;
	if (pad) {
		/* the count includes itself, so 0 is invalid */
		const uint8_t n = buf[len - 1];

		if (n == 0 || n > len - hdr_len)
			return EBADMSG;

		pkt->pad_len = n;
		end -= n;
	}

	pkt->hdr_len     = hdr_len;
	pkt->payload     = buf + hdr_len;
	pkt->payload_len = end - hdr_len;

	return 0;
}


/**
 * Encode a 12-byte RTP header (no CSRC, no extension, no padding)
 *
 * @param buf     Output buffer; the payload follows at buf + RTPKT_HDR_SIZE
 * @param size    Size of buf [bytes]
 * @param marker  M bit
 * @param pt      Payload type, 0..127
 * @param seq     Sequence number
 * @param ts      RTP timestamp [clock units]
 * @param ssrc    Synchronisation source
 *
 * @return 0 if success, EINVAL for a NULL buffer or pt > 127, EOVERFLOW if
 *         size < RTPKT_HDR_SIZE
 */
int rtpkt_encode(uint8_t *buf, size_t size, bool marker, uint8_t pt,
		 uint16_t seq, uint32_t ts, uint32_t ssrc)
{
	if (!buf || pt > 127)
		return EINVAL;

	if (size < RTPKT_HDR_SIZE)
		return EOVERFLOW;

	buf[0]  = 0x80;
	buf[1]  = (uint8_t)((marker ? 0x80 : 0) | pt);
	buf[2]  = (uint8_t)(seq >> 8);
	buf[3]  = (uint8_t)seq;
	buf[4]  = (uint8_t)(ts >> 24);
	buf[5]  = (uint8_t)(ts >> 16);
	buf[6]  = (uint8_t)(ts >> 8);
	buf[7]  = (uint8_t)ts;
	buf[8]  = (uint8_t)(ssrc >> 24);
	buf[9]  = (uint8_t)(ssrc >> 16);
	buf[10] = (uint8_t)(ssrc >> 8);
	buf[11] = (uint8_t)ssrc;

	return 0;
}


/**
 * Tell RTCP from RTP on a multiplexed port (RFC 5761 section 4)
 *
 * RTCP packet types 192..223 (FIR, NACK, SR, RR, SDES, BYE, APP, RTPFB,
 * PSFB, XR, ...) occupy the second byte that RTP uses for marker and
 * payload type 64..95, which RTP must not use when multiplexing.
 *
 * @param buf  Datagram
 * @param len  Datagram length [bytes]
 *
 * @return true if the datagram is version 2 and its second byte is in
 *         192..223; false otherwise (including datagrams under 2 bytes)
 */
bool rtpkt_is_rtcp(const uint8_t *buf, size_t len)
{
	if (!buf || len < 2)
		return false;

	return (buf[0] >> 6) == 2 && buf[1] >= 192 && buf[1] <= 223;
}


/**
 * Get one CSRC of a decoded packet
 *
 * @param pkt  Decoded packet
 * @param i    Index, below pkt->cc
 *
 * @return The CSRC, or 0 if i is out of range
 */
uint32_t rtpkt_csrc(const struct rtpkt *pkt, unsigned i)
{
	if (!pkt || i >= pkt->cc || !pkt->csrc)
		return 0;

	return rd32(pkt->csrc + 4 * i);
}
