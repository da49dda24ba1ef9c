/**
 * @file rtpstat.h  Per-packet RTP statistics (RFC 3550 A.1, A.3, A.8)
 *
 * One rtpstat_rx per call tracks the stream we receive; one rtpstat_tx
 * tracks the stream we send. Updates are allocation-free and O(1); they
 * run once per RTP packet on the call's media worker. Times come from the
 * caller (its monotonic clock in [us]), which keeps the code testable.
 *
 * Locking: none. Both structs belong to the call and are touched only by
 * the call's media worker thread.
 */
#ifndef CB_RTPSTAT_H
#define CB_RTPSTAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Sequential packets a new source needs before it counts (RFC 3550 A.1) */
#define RTPSTAT_MIN_SEQUENTIAL 2
/** Largest forward sequence jump still taken as loss [packets] */
#define RTPSTAT_MAX_DROPOUT    3000
/** Largest backward sequence step still taken as reordering [packets] */
#define RTPSTAT_MAX_MISORDER   100

/** Statistics of the stream received on one call; locking: none, only
 *  the call's media worker thread touches it */
struct rtpstat_rx {
	uint32_t clock_rate;     /**< RTP clock rate [Hz]                    */

	/* the current source (RFC 3550 A.1) */
	bool     valid;          /**< a source has passed probation          */
	uint32_t ssrc;           /**< current source, if valid               */
	uint16_t max_seq;        /**< highest sequence number seen           */
	uint32_t cycles;         /**< sequence wraps, shifted left by 16     */
	uint32_t base_seq;       /**< first sequence number counted          */
	uint32_t bad_seq;        /**< sequence that confirms a resync        */
	uint32_t received;       /**< packets counted for this source        */
	uint32_t expected_prior; /**< expected at the last report (A.3)      */
	uint32_t received_prior; /**< received at the last report (A.3)      */
	uint8_t  fraction_lost;  /**< of the last report interval [1/256]    */

	/* a source on probation: any SSRC other than the current one */
	uint32_t cand_ssrc;      /**< candidate source                       */
	uint16_t cand_seq;       /**< its last sequence number               */
	uint32_t cand_count;     /**< its packets in sequence, 0 if none     */

	/* interarrival jitter (RFC 3550 A.8) */
	bool     have_transit;   /**< transit holds a previous packet's      */
	uint32_t transit;        /**< last relative transit [clock units]    */
	uint32_t last_ts;        /**< timestamp of the last packet counted   */
	uint32_t jitter_q4;      /**< jitter [clock units] scaled by 16      */

	/* call totals, over every source seen */
	uint64_t packets;        /**< packets counted                        */
	uint64_t octets;         /**< payload octets counted                 */
	uint64_t discarded;      /**< probation and resync packets           */
	int64_t  expected_prev;  /**< expected, of sources before this one   */
	int64_t  lost_prev;      /**< lost, of sources before this one       */
	uint32_t ssrc_changes;   /**< times the source changed               */
	uint64_t last_us;        /**< arrival of the last packet counted [us] */
};

/** Statistics of the stream sent on one call; locking: as rtpstat_rx */
struct rtpstat_tx {
	uint32_t clock_rate;     /**< RTP clock rate [Hz]                    */
	uint64_t packets;        /**< packets sent                           */
	uint64_t octets;         /**< payload octets sent                    */
	uint32_t last_ts;        /**< RTP timestamp of the last packet       */
	uint64_t last_us;        /**< when it was sent [us]                  */
};

/** What a report block says about a received stream */
struct rtpstat_report {
	uint32_t ssrc;           /**< source reported on                     */
	uint8_t  fraction_lost;  /**< since the previous report [1/256]      */
	int32_t  cum_lost;       /**< cumulative, clamped to 24 bits signed  */
	uint32_t ext_max_seq;    /**< extended highest sequence number       */
	uint32_t jitter;         /**< interarrival jitter [clock units]      */
};

void rtpstat_rx_init(struct rtpstat_rx *rx, uint32_t clock_rate);
int  rtpstat_rx_update(struct rtpstat_rx *rx, uint32_t ssrc, uint16_t seq,
		       uint32_t ts, size_t octets, uint64_t arrival_us);
uint32_t rtpstat_rx_ext_max(const struct rtpstat_rx *rx);
int64_t  rtpstat_rx_expected(const struct rtpstat_rx *rx);
int64_t  rtpstat_rx_lost(const struct rtpstat_rx *rx);
uint32_t rtpstat_rx_jitter(const struct rtpstat_rx *rx);
bool rtpstat_rx_report(struct rtpstat_rx *rx, struct rtpstat_report *rep);

void rtpstat_tx_init(struct rtpstat_tx *tx, uint32_t clock_rate);
void rtpstat_tx_update(struct rtpstat_tx *tx, uint32_t ts, size_t octets,
		       uint64_t now_us);
uint32_t rtpstat_tx_ts_at(const struct rtpstat_tx *tx, uint64_t now_us);

uint32_t rtpstat_us2clock(uint64_t us, uint32_t clock_rate);

#endif
