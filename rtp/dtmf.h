/**
 * @file dtmf.h  RFC 4733 telephone-event (DTMF) receiver and generator
 *
 * Prefix dtmf_ (libre owns telev_*). Allocation-free: a receiver and a
 * generator are embedded in the call and set up with dtmf_rx_init() and
 * dtmf_tx_init().
 *
 * Receive: feed every telephone-event packet of the call, in arrival
 * order, as it arrives (not through the jitter buffer: it reorders
 * nothing that matters here and only adds delay). The handler hears of a
 * key press once, at the first packet of the event that arrives, and of
 * its end once, with the duration.
 *
 * Transmit: queue digits; call dtmf_tx_tick() once per packet time. While
 * it hands back a packet, send that packet (telephone-event payload type,
 * the worker's next sequence number) in place of the audio packet of that
 * tick.
 *
 * Locking: none. Both belong to one call and are used only by the call's
 * media worker thread.
 */
#ifndef CB_DTMF_H
#define CB_DTMF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rtpkt;

/** Size of one event report (RFC 4733 section 2.3) [bytes] */
#define DTMF_REPORT_SIZE   4
/** Highest DTMF event code ('D') */
#define DTMF_CODE_MAX      15
/** Event code 16: flash in RFC 2833, reserved in RFC 4733; ignored */
#define DTMF_CODE_FLASH    16
/** Largest duration one report can carry [clock units] */
#define DTMF_DURATION_MAX  0xffff
/** Default volume of generated events (-10 dBm0) */
#define DTMF_VOLUME        10
/** An event not updated for this long is over (end packets lost) [ms] */
#define DTMF_RX_TIMEOUT_MS 500
/** An event this much older than the latest [s] is a new one: the
 *  sender's timestamps went back */
#define DTMF_RX_RESET_S    5
/** Shortest and longest key press the generator plays [ms] */
#define DTMF_TX_MIN_MS     10
#define DTMF_TX_MAX_MS     10000
/** Default pause between queued events, after the end packets [ms] */
#define DTMF_TX_GAP_MS     40
/** Digits the generator queues (the one playing included) */
#define DTMF_TX_QUEUE      32
/** End packets sent per event (RFC 4733: the final report, three times) */
#define DTMF_TX_ENDS       3

int  dtmf_code(char digit);
char dtmf_digit(int code);
int  dtmf_report_encode(uint8_t *buf, size_t size, uint8_t code, bool end,
			uint8_t volume, uint16_t duration);


/*
 * Receiver
 */

/** What a receiver reports */
struct dtmf_event {
	char     digit;     /**< '0'-'9', '*', '#', 'A'-'D'                 */
	uint8_t  code;      /**< event code 0..15                           */
	bool     end;       /**< false: a key press began; true: it ended   */
	bool     end_lost;  /**< end: no end packet arrived; the event was
			     *   closed by a timeout, a newer event, an SSRC
			     *   change or dtmf_rx_flush()                  */
	uint32_t duration;  /**< end: duration [ms], segments included      */
	uint32_t ts;        /**< RTP timestamp of the event's start         */
	uint32_t ssrc;      /**< SSRC of the stream that carried it         */
};

/**
 * Called once when a key press begins and once when it ends
 *
 * @param ev   The event
 * @param arg  Handler argument
 */
typedef void (dtmf_rx_h)(const struct dtmf_event *ev, void *arg);

/** Receive statistics */
struct dtmf_rx_stats {
	uint64_t packets;     /**< packets fed, rejected ones included      */
	uint64_t presses;     /**< key presses reported                     */
	uint64_t ends_lost;   /**< presses closed without an end packet     */
	uint64_t repeats;     /**< reports ignored: duplicate, retransmitted
			       *   end, late or reordered                   */
	uint64_t bad;         /**< packets rejected as malformed            */
	uint64_t unsupported; /**< reports ignored or rejected: not DTMF    */
};

/**
 * RFC 4733 receiver of one call; locking: none, only the call's media
 * worker thread touches it
 */
struct dtmf_rx {
	uint32_t clock;        /**< telephone-event clock rate [Hz]         */
	uint64_t timeout_us;   /**< silence that ends an open event [us]    */
	dtmf_rx_h *h;          /**< handler                                 */
	void *arg;             /**< handler argument                        */

	bool     have_ssrc;    /**< a packet has been seen                  */
	uint32_t ssrc;         /**< the stream's SSRC                       */

	/* the latest event */
	bool     have;         /**< an event has been seen                  */
	bool     open;         /**< it has not ended yet                    */
	uint8_t  code;         /**< its event code                          */
	uint32_t ts0;          /**< timestamp of its first segment          */
	uint32_t ts;           /**< timestamp of its current segment        */
	uint32_t base;         /**< duration of its earlier segments [units]*/
	uint32_t dur;          /**< duration of its current segment [units] */
	uint64_t last_us;      /**< arrival of its latest report [us]       */

	struct dtmf_rx_stats stats; /**< counters                           */
};

int  dtmf_rx_init(struct dtmf_rx *rx, uint32_t clock, dtmf_rx_h *h,
		  void *arg);
void dtmf_rx_set_timeout(struct dtmf_rx *rx, uint32_t ms);
int  dtmf_rx_put(struct dtmf_rx *rx, const struct rtpkt *pkt,
		 uint64_t now_us);
int  dtmf_rx_recv(struct dtmf_rx *rx, uint32_t ssrc, uint32_t ts,
		  bool marker, const uint8_t *payload, size_t len,
		  uint64_t now_us);
void dtmf_rx_poll(struct dtmf_rx *rx, uint64_t now_us);
void dtmf_rx_flush(struct dtmf_rx *rx);


/*
 * Generator
 */

/** One packet to send in place of a tick's audio */
struct dtmf_pkt {
	uint8_t  payload[DTMF_REPORT_SIZE]; /**< the event report           */
	bool     marker;    /**< RTP marker bit (first packet of an event)  */
	uint32_t ts;        /**< RTP timestamp (the segment's start)        */
	uint8_t  code;      /**< event code, as in payload                  */
	bool     end;       /**< E bit, as in payload                       */
	uint16_t duration;  /**< duration field, as in payload [units]      */
};

/** A queued key press */
struct dtmf_tx_digit {
	uint8_t  code;      /**< event code                                 */
	uint32_t units;     /**< duration [clock units]                     */
};

/**
 * RFC 4733 generator of one call; locking: none, only the call's media
 * worker thread touches it
 */
struct dtmf_tx {
	uint32_t clock;        /**< telephone-event clock rate [Hz]         */
	uint32_t ptime;        /**< packet time [ms]                        */
	uint32_t step;         /**< clock units per packet time             */
	uint8_t  volume;       /**< volume field, 0..63 [-dBm0]             */
	uint32_t gap_ticks;    /**< ticks of pause between events           */

	struct dtmf_tx_digit q[DTMF_TX_QUEUE]; /**< ring of key presses     */
	unsigned q_head;       /**< index of the oldest                     */
	unsigned q_len;        /**< key presses queued, playing one included*/

	enum {
		DTMF_TX_IDLE = 0, /**< nothing playing                      */
		DTMF_TX_PLAY,     /**< sending updates (E=0)                */
		DTMF_TX_END,      /**< sending the end packets (E=1)        */
		DTMF_TX_GAP,      /**< pausing before the next event        */
	} state;               /**< phase of the head of the queue          */
	uint32_t ts0;          /**< start timestamp of the event            */
	uint32_t seg;          /**< start of the current segment [units]    */
	uint32_t elapsed;      /**< duration reported so far [units]        */
	unsigned count;        /**< ends sent, or gap ticks spent           */
	bool     first;        /**< next packet is the event's first        */

	uint64_t events;       /**< events completed                        */
	uint64_t packets;      /**< packets handed out                      */
};

int  dtmf_tx_init(struct dtmf_tx *tx, uint32_t clock, uint32_t ptime);
int  dtmf_tx_set_volume(struct dtmf_tx *tx, uint8_t volume);
void dtmf_tx_set_gap(struct dtmf_tx *tx, uint32_t ms);
int  dtmf_tx_push(struct dtmf_tx *tx, char digit, uint32_t duration_ms);
bool dtmf_tx_busy(const struct dtmf_tx *tx);
unsigned dtmf_tx_queued(const struct dtmf_tx *tx);
void dtmf_tx_clear(struct dtmf_tx *tx);
int  dtmf_tx_tick(struct dtmf_tx *tx, uint32_t ts, struct dtmf_pkt *pkt);

#endif
