/**
 * @file rtpstat.c  Per-packet RTP statistics (RFC 3550 A.1, A.3, A.8)
 *
 * Design note.
 * - Sequence tracking follows RFC 3550 A.1: a new source must show
 *   RTPSTAT_MIN_SEQUENTIAL packets in sequence before it counts (probation);
 *   a call has one current source, so probation runs in a side slot and a
 *   packet of the current source restarts it: a stray or interleaved SSRC
 *   never displaces a live stream, while a real SSRC change (the old one
 *   stops) takes over after the probation run;
 *   afterwards a forward step below RTPSTAT_MAX_DROPOUT is loss, a backward
 *   step within RTPSTAT_MAX_MISORDER is reordering or duplication (counted,
 *   as the RFC does, so cumulative loss can go negative), and any other
 *   jump is held as a possible restart: it counts only once the packet
 *   after it follows in sequence, which re-bases the source.
 * - A new SSRC (or a restart) retires the old source: its expected and
 *   lost packets move into the call totals, and the new one starts its
 *   probation and jitter afresh.
 * - Jitter is the A.8 estimator in integer form, 16 times scaled. Arrival
 *   times arrive in [us] from the caller's monotonic clock and are turned
 *   into RTP clock units; the arithmetic is done in 64 bits and clamped,
 *   so a timestamp jump cannot overflow it. A packet that repeats the
 *   previous timestamp gives no sample: RFC 4733 telephone-events carry
 *   the event's start time in every packet of the event, so their transit
 *   grows by 20 ms a packet without any network jitter.
 */
#include <errno.h>
#include <string.h>
#include "rtpstat.h"

enum { SEQ_MOD = 1 << 16 };


/**
 * Convert a time to RTP clock units, modulo 2^32
 *
 * @param us          Time [us]
 * @param clock_rate  RTP clock rate [Hz]
 *
 * @return Time in clock units (wrapping)
 */
uint32_t rtpstat_us2clock(uint64_t us, uint32_t clock_rate)
{
	return (uint32_t)((us / 1000000) * clock_rate +
			  (us % 1000000) * clock_rate / 1000000);
}


/**
 * Initialise receive statistics
 *
 * @param rx          Statistics to initialise
 * @param clock_rate  RTP clock rate of the received payload [Hz]
 */
void rtpstat_rx_init(struct rtpstat_rx *rx, uint32_t clock_rate)
{
	if (!rx)
		return;

	memset(rx, 0, sizeof(*rx));
	rx->clock_rate = clock_rate;
}


static void seq_init(struct rtpstat_rx *rx, uint16_t seq)
{
	rx->base_seq       = seq;
	rx->max_seq        = seq;
	rx->bad_seq        = SEQ_MOD + 1;   /* matches no sequence number */
	rx->cycles         = 0;
	rx->received       = 0;
	rx->received_prior = 0;
	rx->expected_prior = 0;
}


/* move the current source's figures into the call totals */
static void src_retire(struct rtpstat_rx *rx)
{
	if (rx->valid) {
		rx->expected_prev += rtpstat_rx_expected(rx);
		rx->lost_prev     += rtpstat_rx_lost(rx);
	}

	rx->valid        = false;
	rx->have_transit = false;
	rx->jitter_q4    = 0;
}


static void jitter_update(struct rtpstat_rx *rx, uint32_t ts,
			  uint64_t arrival_us)
{
	const uint32_t transit = rtpstat_us2clock(arrival_us, rx->clock_rate)
		- ts;

	/* packets repeating a timestamp (RFC 4733 events, their
	 * retransmissions) were not sampled at their send time */
	if (rx->have_transit && ts == rx->last_ts)
		return;

	rx->last_ts = ts;

	if (rx->have_transit) {
		const int32_t d = (int32_t)(transit - rx->transit);
		const int64_t ad = d < 0 ? -(int64_t)d : d;
		int64_t j = (int64_t)rx->jitter_q4 + ad -
			(((int64_t)rx->jitter_q4 + 8) >> 4);

		rx->jitter_q4 = j > UINT32_MAX ? UINT32_MAX :
			j < 0 ? 0 : (uint32_t)j;
	}

	rx->transit      = transit;
	rx->have_transit = true;
}


/**
 * Account one received RTP packet
 *
 * Call it for packets that decoded as RTP and belong to the call (after
 * latching). Packets it refuses are counted in rx->discarded.
 *
 * @param rx          Receive statistics
 * @param ssrc        SSRC of the packet
 * @param seq         Sequence number
 * @param ts          RTP timestamp [clock units]
 * @param octets      Payload length [bytes]
 * @param arrival_us  Arrival time on the caller's monotonic clock [us]
 *
 * @return 0 if the packet was counted; EAGAIN if its SSRC is on probation
 *         or it jumped out of sequence (held as a possible restart), so
 *         it should not be played; EINVAL if rx is NULL
 */
int rtpstat_rx_update(struct rtpstat_rx *rx, uint32_t ssrc, uint16_t seq,
		      uint32_t ts, size_t octets, uint64_t arrival_us)
{
	uint16_t udelta;

	if (!rx)
		return EINVAL;

	if (!rx->valid || ssrc != rx->ssrc) {

		/* probation: a run of packets in sequence from one SSRC,
		 * with no packet of the current source in between */
		if (rx->cand_count && ssrc == rx->cand_ssrc &&
		    seq == (uint16_t)(rx->cand_seq + 1)) {
			++rx->cand_count;
		}
		else {
			rx->cand_ssrc  = ssrc;
			rx->cand_count = 1;
		}
		rx->cand_seq = seq;

		if (rx->cand_count < RTPSTAT_MIN_SEQUENTIAL) {
			++rx->discarded;
			return EAGAIN;
		}

		if (rx->valid)
			++rx->ssrc_changes;

		src_retire(rx);
		seq_init(rx, seq);
		rx->ssrc       = ssrc;
		rx->valid      = true;
		rx->cand_count = 0;
		goto count;
	}

	rx->cand_count = 0;
	udelta = (uint16_t)(seq - rx->max_seq);

	if (udelta < RTPSTAT_MAX_DROPOUT) {

		/* in order, with or without a gap */
		if (seq < rx->max_seq)
			rx->cycles += SEQ_MOD;
		rx->max_seq = seq;
	}
	else if (udelta <= SEQ_MOD - RTPSTAT_MAX_MISORDER) {

		if (seq != rx->bad_seq) {
			/* a large jump: wait for the next one to confirm */
			rx->bad_seq = (seq + 1) & (SEQ_MOD - 1);
			++rx->discarded;
			return EAGAIN;
		}

		/* two in sequence after a jump: the sender restarted */
		src_retire(rx);
		seq_init(rx, seq);
		rx->valid = true;
	}
	/* else a duplicate or a reordered packet: counted */

 count:
	++rx->received;
	++rx->packets;
	rx->octets  += octets;
	rx->last_us  = arrival_us;
	jitter_update(rx, ts, arrival_us);

	return 0;
}


/**
 * Get the extended highest sequence number received
 *
 * @param rx  Receive statistics
 *
 * @return Cycles and highest sequence number of the current source
 */
uint32_t rtpstat_rx_ext_max(const struct rtpstat_rx *rx)
{
	return rx ? rx->cycles + rx->max_seq : 0;
}


/**
 * Get the packets expected from the current source (RFC 3550 A.3)
 *
 * @param rx  Receive statistics
 *
 * @return Expected packets, 0 before the source is valid
 */
int64_t rtpstat_rx_expected(const struct rtpstat_rx *rx)
{
	if (!rx || !rx->valid)
		return 0;

	return (int64_t)rtpstat_rx_ext_max(rx) - rx->base_seq + 1;
}


/**
 * Get the packets lost from the current source (RFC 3550 A.3)
 *
 * @param rx  Receive statistics
 *
 * @return Lost packets; negative when duplicates outnumber losses
 */
int64_t rtpstat_rx_lost(const struct rtpstat_rx *rx)
{
	if (!rx || !rx->valid)
		return 0;

	return rtpstat_rx_expected(rx) - rx->received;
}


/**
 * Get the interarrival jitter (RFC 3550 A.8)
 *
 * @param rx  Receive statistics
 *
 * @return Jitter [clock units]
 */
uint32_t rtpstat_rx_jitter(const struct rtpstat_rx *rx)
{
	return rx ? rx->jitter_q4 >> 4 : 0;
}


/**
 * Fill a report block and start a new report interval (RFC 3550 A.3)
 *
 * @param rx   Receive statistics; its interval counters advance
 * @param rep  Report (output)
 *
 * @return true if rep was filled; false if there is no valid source
 */
bool rtpstat_rx_report(struct rtpstat_rx *rx, struct rtpstat_report *rep)
{
	uint32_t expected, exp_int, rcv_int;
	int64_t lost, lost_int;

	if (!rx || !rep || !rx->valid)
		return false;

	expected = (uint32_t)rtpstat_rx_expected(rx);
	lost     = rtpstat_rx_lost(rx);

	exp_int = expected - rx->expected_prior;
	rcv_int = rx->received - rx->received_prior;
	rx->expected_prior = expected;
	rx->received_prior = rx->received;

	lost_int = (int64_t)exp_int - rcv_int;
	if (exp_int == 0 || lost_int <= 0)
		rx->fraction_lost = 0;
	else if (lost_int >= exp_int)
		rx->fraction_lost = 255;
	else
		rx->fraction_lost = (uint8_t)((lost_int << 8) / exp_int);

	if (lost > 0x7fffff)
		lost = 0x7fffff;
	else if (lost < -0x800000)
		lost = -0x800000;

	rep->ssrc          = rx->ssrc;
	rep->fraction_lost = rx->fraction_lost;
	rep->cum_lost      = (int32_t)lost;
	rep->ext_max_seq   = rtpstat_rx_ext_max(rx);
	rep->jitter        = rtpstat_rx_jitter(rx);

	return true;
}


/**
 * Initialise send statistics
 *
 * @param tx          Statistics to initialise
 * @param clock_rate  RTP clock rate of the sent payload [Hz]
 */
void rtpstat_tx_init(struct rtpstat_tx *tx, uint32_t clock_rate)
{
	if (!tx)
		return;

	memset(tx, 0, sizeof(*tx));
	tx->clock_rate = clock_rate;
}


/**
 * Account one sent RTP packet
 *
 * @param tx      Send statistics
 * @param ts      RTP timestamp of the packet [clock units]
 * @param octets  Payload length [bytes]
 * @param now_us  Send time on the caller's monotonic clock [us]
 */
void rtpstat_tx_update(struct rtpstat_tx *tx, uint32_t ts, size_t octets,
		       uint64_t now_us)
{
	if (!tx)
		return;

	++tx->packets;
	tx->octets  += octets;
	tx->last_ts  = ts;
	tx->last_us  = now_us;
}


/**
 * Get the RTP timestamp that corresponds to a time (for a sender report)
 *
 * @param tx      Send statistics
 * @param now_us  Time on the caller's monotonic clock [us]
 *
 * @return The last timestamp sent, advanced by the time since [clock units]
 */
uint32_t rtpstat_tx_ts_at(const struct rtpstat_tx *tx, uint64_t now_us)
{
	if (!tx)
		return 0;

	if (now_us <= tx->last_us)
		return tx->last_ts;

	return tx->last_ts + rtpstat_us2clock(now_us - tx->last_us,
					      tx->clock_rate);
}
