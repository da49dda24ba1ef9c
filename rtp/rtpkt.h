/**
 * @file rtpkt.h  RTP packet header codec on plain byte buffers (RFC 3550)
 *
 * Allocation-free: decoding fills a caller-owned struct whose payload
 * pointer points into the caller's buffer. Pure functions, usable from any
 * thread.
 *
 * With rtcp-mux (RFC 5761) RTCP arrives on the RTP port; test each datagram
 * with rtpkt_is_rtcp() first. rtpkt_decode() does not look at the payload
 * type, so it would happily read an RTCP packet as RTP.
 */
#ifndef CB_RTPKT_H
#define CB_RTPKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Size of the fixed RTP header [bytes] */
#define RTPKT_HDR_SIZE 12

/** A decoded RTP packet; the pointers refer into the decoded buffer */
struct rtpkt {
	bool     marker;         /**< M bit                                 */
	uint8_t  pt;             /**< payload type, 0..127                  */
	uint16_t seq;            /**< sequence number                       */
	uint32_t ts;             /**< RTP timestamp [clock units]           */
	uint32_t ssrc;           /**< synchronisation source                */
	uint8_t  cc;             /**< number of CSRCs, 0..15                */
	const uint8_t *csrc;     /**< cc CSRCs, 4 bytes each, network order */
	bool     ext;            /**< header extension present              */
	uint16_t ext_profile;    /**< extension: profile-defined 16 bits    */
	const uint8_t *ext_data; /**< extension data                        */
	size_t   ext_len;        /**< extension data length [bytes]         */
	size_t   hdr_len;        /**< header incl. CSRCs, extension [bytes] */
	uint8_t  pad_len;        /**< padding stripped [bytes], 0 if none   */
	const uint8_t *payload;  /**< payload, padding removed              */
	size_t   payload_len;    /**< payload length [bytes], may be 0      */
};

int  rtpkt_decode(struct rtpkt *pkt, const uint8_t *buf, size_t len);
int  rtpkt_encode(uint8_t *buf, size_t size, bool marker, uint8_t pt,
		  uint16_t seq, uint32_t ts, uint32_t ssrc);
bool rtpkt_is_rtcp(const uint8_t *buf, size_t len);
uint32_t rtpkt_csrc(const struct rtpkt *pkt, unsigned i);

#endif
