/**
 * @file dtmf.c  RFC 4733 telephone-event (DTMF) receiver and generator
 *
 * Design note.
 *
 * Receiving. An event is identified by its RTP timestamp, the start of
 * the key press: every packet of one event carries the same timestamp,
 * and a second press of the same digit starts at a later one. The
 * receiver keeps only the latest event (start timestamp, code, duration,
 * open or ended) and compares each report's timestamp with it in serial
 * number arithmetic:
 * - newer: a new key press. It is reported at once, at the first packet
 *   that arrives, whether or not that packet is the start packet with the
 *   marker bit (it may have been lost) and even if it is already an end
 *   packet (all updates lost). This is the earliest moment the press can
 *   be known, so it is reported with the lowest latency; an event still
 *   open at that point is closed first, as ended without an end packet.
 * - equal: an update of the latest event. Its duration only grows, so
 *   reordered updates are harmless; the first end packet (E bit) closes
 *   the event and reports the duration; the retransmitted end packets,
 *   and anything arriving after the end, are repeats and ignored.
 * - older: a late packet of an earlier event, ignored -- unless it is
 *   older by more than DTMF_RX_RESET_S of media: no packet is that late,
 *   so the sender's timestamps went back (a restarted stream, a replayed
 *   recording) and it is a new key press.
 * Sequence numbers play no part, so their wrap cannot confuse it; packets
 * are taken in arrival order, not through the jitter buffer.
 *
 * An event whose end packets are all lost is closed, reporting the last
 * duration known and end_lost, by dtmf_rx_poll() once no report came for
 * DTMF_RX_TIMEOUT_MS (RFC 4733 senders update at least every 50 ms), by
 * the next event, by a change of SSRC, or by dtmf_rx_flush() at hang-up.
 * Its key press was reported already, so it still counts exactly once.
 *
 * Long events (RFC 4733 section 2.5.1.3): a report's duration field holds
 * at most 0xFFFF units, 1.37 s at 48 kHz. A longer event continues as a
 * new segment whose timestamp is the previous segment's plus its
 * duration, without the marker bit. A newer report is taken as the next
 * segment of the open event, not as a new press, when it has the same
 * code, no marker bit, the open segment had reached at least half the
 * maximum duration, and the new timestamp lies between the open
 * segment's duration and 0xFFFF after its start. Durations add up over
 * the segments.
 *
 * Several reports in one packet (RFC 4733 section 2.5.1.5): they are
 * taken in order, the first at the packet's timestamp and each further
 * one at the previous one's start plus its duration.
 *
 * Event codes: 0-15 are the DTMF digits. 16 (flash in RFC 2833, reserved
 * in RFC 4733) is counted and ignored without error: Twilio has no
 * message for it and senders do emit it. Any higher code is not DTMF
 * and is rejected with ENOTSUP (telephone-event offers 0-15 only).
 *
 * Transmitting. One packet per packet time replaces the audio packet of
 * that tick. An event's packets all carry its start timestamp (the tick
 * at which it began); the first has the marker bit; the duration grows
 * by one packet time per packet and ends at the exact requested
 * duration; then DTMF_TX_ENDS end packets repeat the final duration.
 * When the duration would pass 0xFFFF, the tick that crosses it reports
 * 0xFFFF for the segment, and the next tick begins a new segment at the
 * old start plus 0xFFFF, with no marker, reporting the time since that
 * point. After the ends, gap_ticks ticks give audio back before the next
 * queued digit starts.
 */
#include <errno.h>
#include <string.h>
#include "rtpkt.h"
#include "dtmf.h"

static const char digits[] = "0123456789*#ABCD";


/**
 * Event code of a DTMF digit
 *
 * @param digit  '0'-'9', '*', '#', 'A'-'D' (or 'a'-'d')
 *
 * @return code 0..15, or -1 if not a DTMF digit
 */
int dtmf_code(char digit)
{
	const char *p;

	if (digit >= 'a' && digit <= 'd')
		digit = (char)(digit - 'a' + 'A');

	if (!digit)
		return -1;

	p = strchr(digits, digit);

	return p ? (int)(p - digits) : -1;
}


/**
 * DTMF digit of an event code
 *
 * @param code  Event code
 *
 * @return '0'-'9', '*', '#', 'A'-'D', or 0 if the code is not 0..15
 */
char dtmf_digit(int code)
{
	return (code >= 0 && code <= DTMF_CODE_MAX) ? digits[code] : 0;
}


/**
 * Write one event report (RFC 4733 section 2.3)
 *
 * @param buf       Buffer
 * @param size      Its size, at least DTMF_REPORT_SIZE [bytes]
 * @param code      Event code
 * @param end       E bit
 * @param volume    Volume 0..63 [-dBm0]
 * @param duration  Duration [clock units]
 *
 * @return 0 if success, EINVAL for a bad argument
 */
int dtmf_report_encode(uint8_t *buf, size_t size, uint8_t code, bool end,
		       uint8_t volume, uint16_t duration)
{
	if (!buf || size < DTMF_REPORT_SIZE || volume > 63)
		return EINVAL;

	buf[0] = code;
	buf[1] = (uint8_t)((end ? 0x80 : 0x00) | volume);
	buf[2] = (uint8_t)(duration >> 8);
	buf[3] = (uint8_t)(duration & 0xff);

	return 0;
}


/*
 * Receiver
 */

static uint32_t units_to_ms(const struct dtmf_rx *rx, uint64_t units)
{
	return (uint32_t)((units * 1000 + rx->clock / 2) / rx->clock);
}


static void rx_report(struct dtmf_rx *rx, bool end, bool lost)
{
	struct dtmf_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.digit    = dtmf_digit(rx->code);
	ev.code     = rx->code;
	ev.end      = end;
	ev.end_lost = end && lost;
	ev.ts       = rx->ts0;
	ev.ssrc     = rx->ssrc;
	if (end)
		ev.duration = units_to_ms(rx, (uint64_t)rx->base + rx->dur);

	if (rx->h)
		rx->h(&ev, rx->arg);
}


/* close the open event, if any, without its end packet */
static void rx_close_lost(struct dtmf_rx *rx)
{
	if (!rx->have || !rx->open)
		return;

	rx->open = false;
	++rx->stats.ends_lost;
	rx_report(rx, true, true);
}


/* the report continues the open event as its next segment */
static bool rx_is_segment(const struct dtmf_rx *rx, uint8_t code,
			  bool marker, uint32_t d)
{
	return rx->open && code == rx->code && !marker &&
		rx->dur >= DTMF_DURATION_MAX / 2 &&
		d >= rx->dur && d <= DTMF_DURATION_MAX;
}


static void rx_report_one(struct dtmf_rx *rx, uint8_t code, bool end,
			  uint16_t dur, uint32_t ts, bool marker,
			  uint64_t now_us)
{
	int32_t d;

	if (!rx->have) {
		d = 1;   /* the first event: newer than nothing */
	}
	else {
		d = (int32_t)(ts - rx->ts);
	}

	if (d < 0 && (uint64_t)-(int64_t)d >
	    (uint64_t)DTMF_RX_RESET_S * rx->clock) {
		/* the timestamps went back: a new stream, a new press;
		   an event still open ends without its end packet */
		rx_close_lost(rx);
		d = 1;
	}

	if (d < 0) {
		++rx->stats.repeats;   /* late: an earlier event or segment */
		return;
	}

	if (d == 0 && code == rx->code) {

		if (!rx->open) {
			++rx->stats.repeats;
			return;
		}

		if (dur > rx->dur)
			rx->dur = dur;
		rx->last_us = now_us;

		if (end) {
			rx->open = false;
			rx_report(rx, true, false);
		}
		return;
	}

	if (d > 0 && rx->have && rx_is_segment(rx, code, marker, (uint32_t)d)) {

		rx->base += (uint32_t)d;
		rx->ts    = ts;
		rx->dur   = dur;
		rx->last_us = now_us;

		if (end) {
			rx->open = false;
			rx_report(rx, true, false);
		}
		return;
	}

	/* a new key press (d > 0, or a different code at the same
	   timestamp from a sender that does not advance it) */
	rx_close_lost(rx);

	rx->have    = true;
	rx->open    = true;
	rx->code    = code;
	rx->ts0     = ts;
	rx->ts      = ts;
	rx->base    = 0;
	rx->dur     = dur;
	rx->last_us = now_us;

	++rx->stats.presses;
	rx_report(rx, false, false);

	if (end) {
		rx->open = false;
		rx_report(rx, true, false);
	}
}


/**
 * Initialise a receiver (for embedding in a call struct)
 *
 * @param rx     Receiver
 * @param clock  telephone-event clock rate, 8000..96000 [Hz]
 * @param h      Handler for key presses and their ends
 * @param arg    Handler argument
 *
 * @return 0 if success, EINVAL for a bad argument
 */
int dtmf_rx_init(struct dtmf_rx *rx, uint32_t clock, dtmf_rx_h *h,
		 void *arg)
{
	if (!rx || clock < 8000 || clock > 96000)
		return EINVAL;

	memset(rx, 0, sizeof(*rx));
	rx->clock = clock;
	rx->timeout_us = (uint64_t)DTMF_RX_TIMEOUT_MS * 1000;
	rx->h = h;
	rx->arg = arg;

	return 0;
}


/**
 * Set the silence after which an open event counts as ended
 *
 * @param rx  Receiver
 * @param ms  Timeout [ms], 0 for DTMF_RX_TIMEOUT_MS
 */
void dtmf_rx_set_timeout(struct dtmf_rx *rx, uint32_t ms)
{
	if (!rx)
		return;

	rx->timeout_us = (uint64_t)(ms ? ms : DTMF_RX_TIMEOUT_MS) * 1000;
}


/**
 * Take a telephone-event payload
 *
 * @param rx       Receiver
 * @param ssrc     SSRC of the packet
 * @param ts       RTP timestamp [clock units]
 * @param marker   RTP marker bit
 * @param payload  Payload: one or more 4-byte event reports
 * @param len      Payload length [bytes]
 * @param now_us   Arrival time [us], any monotonic clock
 *
 * @return 0 if taken (reported, or ignored as a repeat or as flash),
 *         EBADMSG if malformed (shorter than a report, or not a whole
 *         number of reports), ENOTSUP for an event code above 16,
 *         EINVAL for a bad argument; nothing is reported on error
 */
int dtmf_rx_recv(struct dtmf_rx *rx, uint32_t ssrc, uint32_t ts,
		 bool marker, const uint8_t *payload, size_t len,
		 uint64_t now_us)
{
	uint32_t start = ts;

	if (!rx || (!payload && len))
		return EINVAL;

	++rx->stats.packets;

	if (len < DTMF_REPORT_SIZE || len % DTMF_REPORT_SIZE) {
		++rx->stats.bad;
		return EBADMSG;
	}

	/* check every report before acting on any */
	for (size_t i = 0; i < len; i += DTMF_REPORT_SIZE) {
		if (payload[i] > DTMF_CODE_FLASH) {
			++rx->stats.unsupported;
			return ENOTSUP;
		}
	}

	if (rx->have_ssrc && ssrc != rx->ssrc) {
		/* a new stream (re-INVITE, transfer): its timestamps do not
		   compare with the old ones */
		rx_close_lost(rx);
		rx->have = false;
	}
	rx->have_ssrc = true;
	rx->ssrc = ssrc;

	for (size_t i = 0; i < len; i += DTMF_REPORT_SIZE) {
		const uint8_t *r = payload + i;
		uint16_t dur = (uint16_t)((r[2] << 8) | r[3]);
		bool end = (r[1] & 0x80) != 0;

		if (r[0] == DTMF_CODE_FLASH)
			++rx->stats.unsupported;
		else
			rx_report_one(rx, r[0], end, dur, start,
				      marker && i == 0, now_us);

		start += dur;
	}

	return 0;
}


/**
 * Take a decoded telephone-event RTP packet
 *
 * @param rx      Receiver
 * @param pkt     The packet, decoded by rtpkt_decode()
 * @param now_us  Arrival time [us], any monotonic clock
 *
 * @return as dtmf_rx_recv()
 */
int dtmf_rx_put(struct dtmf_rx *rx, const struct rtpkt *pkt,
		uint64_t now_us)
{
	if (!rx || !pkt)
		return EINVAL;

	return dtmf_rx_recv(rx, pkt->ssrc, pkt->ts, pkt->marker,
			    pkt->payload, pkt->payload_len, now_us);
}


/**
 * Close an open event that has had no report for the timeout
 *
 * Call it from time to time, e.g. every packet time.
 *
 * @param rx      Receiver
 * @param now_us  Current time [us], the clock of dtmf_rx_recv()
 */
void dtmf_rx_poll(struct dtmf_rx *rx, uint64_t now_us)
{
	if (!rx || !rx->have || !rx->open)
		return;

	if (now_us >= rx->last_us && now_us - rx->last_us >= rx->timeout_us)
		rx_close_lost(rx);
}


/** Close an open event now (end of the call or of the stream) */
void dtmf_rx_flush(struct dtmf_rx *rx)
{
	if (rx)
		rx_close_lost(rx);
}


/*
 * Generator
 */

/**
 * Initialise a generator (for embedding in a call struct)
 *
 * @param tx     Generator
 * @param clock  telephone-event clock rate, 8000..96000 [Hz]
 * @param ptime  Packet time, 5..120 [ms]; clock * ptime must be a whole
 *               number of milliseconds' worth of units
 *
 * @return 0 if success, EINVAL for a bad argument
 */
int dtmf_tx_init(struct dtmf_tx *tx, uint32_t clock, uint32_t ptime)
{
	if (!tx || clock < 8000 || clock > 96000 || ptime < 5 || ptime > 120
	    || (clock * ptime) % 1000)
		return EINVAL;

	memset(tx, 0, sizeof(*tx));
	tx->clock  = clock;
	tx->ptime  = ptime;
	tx->step   = clock * ptime / 1000;
	tx->volume = DTMF_VOLUME;
	dtmf_tx_set_gap(tx, DTMF_TX_GAP_MS);

	return 0;
}


/**
 * Set the volume field of generated reports
 *
 * @param tx      Generator
 * @param volume  0..63 [-dBm0]
 *
 * @return 0 if success, EINVAL for a bad argument
 */
int dtmf_tx_set_volume(struct dtmf_tx *tx, uint8_t volume)
{
	if (!tx || volume > 63)
		return EINVAL;

	tx->volume = volume;

	return 0;
}


/**
 * Set the pause between events
 *
 * @param tx  Generator
 * @param ms  Pause after the end packets, rounded up to packet times [ms]
 */
void dtmf_tx_set_gap(struct dtmf_tx *tx, uint32_t ms)
{
	if (!tx || !tx->ptime)
		return;

	tx->gap_ticks = (ms + tx->ptime - 1) / tx->ptime;
}


/**
 * Queue a key press
 *
 * @param tx           Generator
 * @param digit        '0'-'9', '*', '#', 'A'-'D'
 * @param duration_ms  DTMF_TX_MIN_MS..DTMF_TX_MAX_MS [ms]
 *
 * @return 0 if queued, EINVAL for a bad digit or duration, EOVERFLOW if
 *         DTMF_TX_QUEUE presses are queued already
 */
int dtmf_tx_push(struct dtmf_tx *tx, char digit, uint32_t duration_ms)
{
	struct dtmf_tx_digit *q;
	int code = dtmf_code(digit);

	if (!tx || !tx->step || code < 0 || duration_ms < DTMF_TX_MIN_MS ||
	    duration_ms > DTMF_TX_MAX_MS)
		return EINVAL;

	if (tx->q_len >= DTMF_TX_QUEUE)
		return EOVERFLOW;

	q = &tx->q[(tx->q_head + tx->q_len) % DTMF_TX_QUEUE];
	q->code  = (uint8_t)code;
	q->units = (uint32_t)((uint64_t)duration_ms * tx->clock / 1000);
	++tx->q_len;

	return 0;
}


/** True while an event plays, its gap runs or presses are queued */
bool dtmf_tx_busy(const struct dtmf_tx *tx)
{
	return tx && (tx->state != DTMF_TX_IDLE || tx->q_len);
}


/** Key presses not yet completed, the one playing included */
unsigned dtmf_tx_queued(const struct dtmf_tx *tx)
{
	return tx ? tx->q_len : 0;
}


/**
 * Drop the queued key presses that have not begun
 *
 * One that is playing completes, end packets included: a receiver must
 * never see an event without an end.
 */
void dtmf_tx_clear(struct dtmf_tx *tx)
{
	if (!tx)
		return;

	if (tx->state == DTMF_TX_PLAY || tx->state == DTMF_TX_END)
		tx->q_len = tx->q_len ? 1 : 0;
	else
		tx->q_len = 0;
}


static void tx_fill(struct dtmf_tx *tx, struct dtmf_pkt *pkt, bool end,
		    uint32_t duration)
{
	const struct dtmf_tx_digit *q = &tx->q[tx->q_head];

	memset(pkt, 0, sizeof(*pkt));
	pkt->code     = q->code;
	pkt->end      = end;
	pkt->duration = (uint16_t)duration;
	pkt->ts       = tx->ts0 + tx->seg;
	pkt->marker   = tx->first;
	tx->first     = false;
	(void)dtmf_report_encode(pkt->payload, sizeof(pkt->payload), q->code,
				 end, tx->volume, pkt->duration);
	++tx->packets;
}


/**
 * Advance one packet time
 *
 * Call it once per packet time, at the tick where an audio packet would
 * be sent. If it hands back a packet, send that one (payload type
 * telephone-event, marker and timestamp from pkt, the stream's next
 * sequence number) and not the tick's audio.
 *
 * @param tx   Generator
 * @param ts   RTP timestamp the tick's audio packet would carry; an event
 *             that starts at this tick takes it as its timestamp
 * @param pkt  The packet to send, filled in on success
 *
 * @return 0 if pkt is to be sent, ENOENT if the tick is audio's,
 *         EINVAL for a bad argument
 */
int dtmf_tx_tick(struct dtmf_tx *tx, uint32_t ts, struct dtmf_pkt *pkt)
{
	const struct dtmf_tx_digit *q;
	uint32_t next, dur;

	if (!tx || !pkt || !tx->step)
		return EINVAL;

	switch (tx->state) {

	case DTMF_TX_GAP:
		if (++tx->count < tx->gap_ticks)
			return ENOENT;
		tx->state = DTMF_TX_IDLE;
		return ENOENT;

	case DTMF_TX_IDLE:
		if (!tx->q_len)
			return ENOENT;
		tx->state   = DTMF_TX_PLAY;
		tx->ts0     = ts;
		tx->seg     = 0;
		tx->elapsed = 0;
		tx->count   = 0;
		tx->first   = true;
		/* fall through */

	case DTMF_TX_PLAY:
		q = &tx->q[tx->q_head];

		if (tx->elapsed >= q->units) {
			/* the update that reached the duration went
			   out last tick: the ends follow */
			tx->state = DTMF_TX_END;
			break;
		}

		next = tx->elapsed + tx->step;
		if (next > q->units)
			next = q->units;
		tx->elapsed = next;
		dur = next - tx->seg;

		if (dur < DTMF_DURATION_MAX) {
			tx_fill(tx, pkt, false, dur);
			return 0;
		}

		/* the segment is full: report it so, and begin the next one
		   0xFFFF after its start, unless the event ends exactly
		   here */
		tx_fill(tx, pkt, false, DTMF_DURATION_MAX);
		if (dur > DTMF_DURATION_MAX || next < q->units)
			tx->seg += DTMF_DURATION_MAX;
		return 0;

	default:
		break;
	}

	/* DTMF_TX_END */
	q = &tx->q[tx->q_head];
	tx_fill(tx, pkt, true, q->units - tx->seg);

	if (++tx->count >= DTMF_TX_ENDS) {
		tx->q_head = (tx->q_head + 1) % DTMF_TX_QUEUE;
		--tx->q_len;
		++tx->events;
		tx->count = 0;
		tx->state = tx->gap_ticks ? DTMF_TX_GAP : DTMF_TX_IDLE;
	}

	return 0;
}
