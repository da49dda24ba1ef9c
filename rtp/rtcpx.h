/**
 * @file rtcpx.h  RTCP for one call: reports out, reports in, statistics
 *
 * An rtcpx session holds both directions of one call's RTP statistics,
 * builds our compound RTCP (SR or RR, SDES CNAME, optional BYE) into a
 * caller buffer, parses the peer's compound RTCP, and computes the report
 * interval and the round-trip time. Works on plain byte buffers; nothing
 * is allocated: the call embeds the session and sets it up with
 * rtcpx_init().
 *
 * Clocks are injected: every call that needs the time takes the caller's
 * monotonic clock in [us] and, where the wire needs wall-clock time, a
 * 64-bit NTP timestamp (rtcpx_ntp_now() gives the real one).
 *
 * Locking: none. A session belongs to one call and is used only by that
 * call's media worker thread. Other threads get rtcpx_stats() copies.
 */
#ifndef CB_RTCPX_H
#define CB_RTCPX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "rtpstat.h"

struct rtpkt;

/** Longest CNAME an SDES item can carry [bytes] */
#define RTCPX_CNAME_MAX 255
/** Buffer size that holds any compound packet rtcpx_encode() builds */
#define RTCPX_BUF_SIZE  384
/** RFC 3550 minimum report interval [ms] */
#define RTCPX_MIN_INTERVAL_MS 5000

/** RTCP packet types (RFC 3550, 4585, 3611) */
enum rtcpx_type {
	RTCPX_SR    = 200,
	RTCPX_RR    = 201,
	RTCPX_SDES  = 202,
	RTCPX_BYE   = 203,
	RTCPX_APP   = 204,
	RTCPX_RTPFB = 205,
	RTCPX_PSFB  = 206,
	RTCPX_XR    = 207,
};

/** A report block as carried on the wire */
struct rtcpx_rblock {
	uint32_t ssrc;           /**< source reported on                     */
	uint8_t  fraction_lost;  /**< since the previous report [1/256]      */
	int32_t  cum_lost;       /**< cumulative lost, 24 bits signed        */
	uint32_t ext_max_seq;    /**< extended highest sequence number       */
	uint32_t jitter;         /**< interarrival jitter [clock units]      */
	uint32_t lsr;            /**< middle 32 bits of the last SR's NTP    */
	uint32_t dlsr;           /**< delay since that SR [1/65536 s]        */
};

/** RTCP state of one call; locking: none, only the call's media worker
 *  thread touches it (other threads read rtcpx_stats() copies) */
struct rtcpx {
	uint32_t ssrc;                       /**< our SSRC                   */
	char     cname[RTCPX_CNAME_MAX + 1]; /**< our CNAME                  */
	struct rtpstat_rx rx;                /**< the stream we receive      */
	struct rtpstat_tx tx;                /**< the stream we send         */

	/* the peer's last sender report */
	bool     have_sr;        /**< sr_* are set                           */
	uint32_t sr_ssrc;        /**< its sender                             */
	uint64_t sr_ntp;         /**< its NTP timestamp                      */
	uint32_t sr_rtp_ts;      /**< its RTP timestamp                      */
	uint32_t sr_packets;     /**< its sender's packet count              */
	uint32_t sr_octets;      /**< its sender's octet count               */
	uint64_t sr_recv_us;     /**< when it arrived [us]                   */

	/* the peer's last report block about our stream */
	bool     have_rb;        /**< rb is set                              */
	struct rtcpx_rblock rb;  /**< the block                              */
	uint64_t rb_recv_us;     /**< when it arrived [us]                   */
	bool     have_rtt;       /**< rtt_us is set                          */
	uint32_t rtt_us;         /**< round-trip time [us]                   */

	bool     bye;            /**< the peer's source sent BYE             */

	/* our reports */
	uint64_t rpt_sent;       /**< tx.packets at our last report          */
	uint64_t rpt_received;   /**< rx.packets at our last report          */
	uint32_t avg_size;       /**< average compound size, IP/UDP [bytes]  */
	uint32_t rng;            /**< interval randomisation state           */
	uint32_t n_sent;         /**< compound packets sent                  */
	uint32_t n_recv;         /**< compound packets accepted              */
	uint32_t n_bad;          /**< compound packets rejected              */
};

/** Inputs of the RFC 3550 section 6.3.1 report interval */
struct rtcpx_ivl {
	unsigned members;        /**< session members, us included           */
	unsigned senders;        /**< members that sent RTP recently         */
	bool     we_sent;        /**< we are one of the senders              */
	bool     initial;        /**< we have not sent a report yet          */
	uint32_t rtcp_bw;        /**< RTCP bandwidth [bytes/s]               */
	uint32_t avg_size;       /**< average compound size [bytes]          */
};

/** A call's RTP/RTCP figures, one direction each way */
struct rtcpx_stats {
	uint64_t rx_packets;     /**< RTP packets received and counted       */
	uint64_t rx_octets;      /**< their payload [bytes]                  */
	uint64_t rx_discarded;   /**< probation, resync packets              */
	int64_t  rx_expected;    /**< packets expected                       */
	int64_t  rx_lost;        /**< packets lost (negative: duplicates)    */
	uint8_t  rx_fraction_lost; /**< in our last report interval [1/256]  */
	double   rx_jitter_ms;   /**< interarrival jitter [ms]               */
	uint32_t rx_ssrc_changes;/**< times the remote SSRC changed          */
	uint64_t tx_packets;     /**< RTP packets sent                       */
	uint64_t tx_octets;      /**< their payload [bytes]                  */
	bool     remote_valid;   /**< the peer has reported on our stream    */
	uint8_t  remote_fraction_lost; /**< its latest fraction [1/256]      */
	int32_t  remote_lost;    /**< its cumulative loss of our packets     */
	double   remote_jitter_ms; /**< its jitter of our stream [ms]        */
	bool     rtt_valid;      /**< rtt_ms is set                          */
	double   rtt_ms;         /**< round-trip time [ms]                   */
	uint32_t rtcp_sent;      /**< compound RTCP packets sent             */
	uint32_t rtcp_recv;      /**< compound RTCP packets accepted         */
	uint32_t rtcp_bad;       /**< compound RTCP packets rejected         */
	bool     bye;            /**< the peer sent BYE                      */
};

int  rtcpx_init(struct rtcpx *rc, uint32_t ssrc, const char *cname,
		uint32_t rx_clock_rate, uint32_t tx_clock_rate);
void rtcpx_set_seed(struct rtcpx *rc, uint32_t seed);

int  rtcpx_rtp_recv(struct rtcpx *rc, const struct rtpkt *pkt,
		    uint64_t arrival_us);
void rtcpx_rtp_sent(struct rtcpx *rc, uint32_t ts, size_t octets,
		    uint64_t now_us);

int  rtcpx_encode(struct rtcpx *rc, uint8_t *buf, size_t size, size_t *lenp,
		  bool bye, uint64_t now_us, uint64_t ntp);
int  rtcpx_decode(struct rtcpx *rc, const uint8_t *buf, size_t len,
		  uint64_t now_us, uint64_t ntp);

uint32_t rtcpx_interval_ms(const struct rtcpx_ivl *ivl, uint32_t *rng);
uint32_t rtcpx_next_interval_ms(struct rtcpx *rc, uint32_t session_bw);

void rtcpx_stats(const struct rtcpx *rc, struct rtcpx_stats *st);

uint64_t rtcpx_ntp_now(void);
uint64_t rtcpx_ntp_from_unix_us(uint64_t unix_us);

#endif
