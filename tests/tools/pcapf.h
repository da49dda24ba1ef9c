/**
 * @file pcapf.h  Classic pcap files of UDP packets, read and written
 *
 * For tests and test tools only. Reads what tcpdump and SIPp's pcaps hold
 * (classic libpcap, either byte order, micro- or nanosecond timestamps,
 * Ethernet or Linux cooked capture, IPv4 or IPv6, UDP; anything else is
 * skipped). Writes what SIPp 3.6.1's play_pcap_audio accepts (see
 * prepare_pcap.c there): microsecond timestamps, Ethernet, IPv4 or IPv6,
 * UDP with a valid checksum, captured length equal to wire length, and
 * UDP payloads of at most PCAPF_SIPP_MAX - 8 bytes.
 */
#ifndef CB_PCAPF_H
#define CB_PCAPF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <re.h>

/** Largest UDP datagram SIPp replays, header included (PCAP_MAXPACKET) */
#define PCAPF_SIPP_MAX 1500

/** One UDP packet of a pcap; payload points into the reader's buffer */
struct pcapf_udp {
	uint64_t t_us;           /**< capture time [us since the epoch]  */
	struct sa src;           /**< source address and port            */
	struct sa dst;           /**< destination address and port       */
	const uint8_t *payload;  /**< UDP payload                        */
	size_t len;              /**< its length [bytes]                 */
};

struct pcapf_reader;
int pcapf_open(struct pcapf_reader **rp, const char *path);
int pcapf_next(struct pcapf_reader *r, struct pcapf_udp *u);

struct pcapf_writer;
int pcapf_create(struct pcapf_writer **wp, const char *path);
int pcapf_write_udp(struct pcapf_writer *w, uint64_t t_us,
		    const struct sa *src, const struct sa *dst,
		    const uint8_t *payload, size_t len);
int pcapf_close(struct pcapf_writer *w);

#endif
