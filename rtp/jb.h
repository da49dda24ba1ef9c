/**
 * @file jb.h  Adaptive jitter buffer with a continuous 20 ms output timeline
 *
 * One jitter buffer per call, owned by the call's media worker thread.
 * The buffer is codec agnostic: it stores RTP payloads and decides, for
 * every output slot of `ptime` (20 ms), what plays in that slot. The caller
 * decodes frames, conceals lost media (codec/plc, Opus FEC/PLC) and plays
 * comfort noise (codec/cng) or silence.
 *
 * Driving it (times are the caller's monotonic clock in [us]):
 *
 *     on each RTP media packet:  jb_put(jb, now, &pkt);
 *                                while (!jb_get(jb, now, &out)) play(&out);
 *     on the timer:              while (!jb_get(jb, now, &out)) play(&out);
 *     re-arm the timer at:       jb_next_due(jb)    (JB_NEVER before start)
 *
 * When more packets are known to be waiting (a socket read in batches),
 * take only the slots that are ready, !jb_waiting(jb), until they are in.
 *
 * Every result covers exactly one slot. A slot is a list of segments that
 * together cover the slot's media: normally one whole 20 ms packet, but a
 * 10 ms stream gives two packets per slot and a 30 ms or 60 ms stream gives
 * a packet that spans slots (segment offset and length say which part).
 *
 * Telephone-event (DTMF) packets are not put into the buffer; report their
 * sequence numbers with jb_note_seq() so that they do not count as lost.
 * Comfort noise packets (payload type conf.cn_pt, 13 by default) are put.
 *
 * Locking: none. A jitter buffer is used by one thread only.
 * See docs/jitter-buffer.md for the model, the parameters and statistics.
 */
#ifndef CB_JB_H
#define CB_JB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** jb_next_due() before the stream has started */
#define JB_NEVER   UINT64_MAX
/** conf.cn_pt value that disables comfort-noise detection */
#define JB_PT_NONE 128
/** Most segments in one slot */
#define JB_MAXSEG  8

/**
 * Configuration. Start from jb_conf_default(); every key has bounds,
 * checked by jb_conf_check() and jb_alloc().
 */
struct jb_conf {
	uint32_t clock_rate;    /**< RTP clock rate [Hz], default 8000      */
	uint32_t ptime;         /**< output slot length [ms], default 20    */
	uint32_t min_wait;      /**< lowest target delay [ms], default 0    */
	uint32_t max_wait;      /**< highest target delay [ms], default 60  */
	uint32_t grace;         /**< extra wait for a missing packet past its
				     slot's due time [ms], default 5       */
	uint32_t silence_after; /**< concealment turns to silence after this
				     much unexplained gap [ms], default 60 */
	uint32_t window;        /**< packets in the jitter window, default 128 */
	uint32_t percentile;    /**< target delay = this percentile of recent
				     lateness [%], default 95               */
	uint32_t capacity;      /**< packets buffered at most, default 16   */
	uint32_t max_payload;   /**< largest payload [bytes], default 480   */
	uint32_t cn_pt;         /**< comfort-noise payload type, default 13,
				     JB_PT_NONE for none                    */
};

/** One configuration key: name, place, default and bounds */
struct jb_conf_key {
	const char *name;       /**< key name, as in struct jb_conf         */
	size_t off;             /**< offset of the uint32_t field           */
	uint32_t def;           /**< default value                          */
	uint32_t min;           /**< lowest allowed value                   */
	uint32_t max;           /**< highest allowed value                  */
	const char *unit;       /**< unit, for messages ("ms", "Hz", ...)   */
};

/** A received RTP media packet, already parsed by the caller */
struct jb_pkt {
	uint32_t ssrc;          /**< synchronisation source                 */
	uint16_t seq;           /**< sequence number                        */
	uint32_t ts;            /**< RTP timestamp [clock units]            */
	uint8_t  pt;            /**< payload type                           */
	bool     marker;        /**< M bit: first packet of a talk spurt    */
	bool     sid;           /**< a silence descriptor or DTX frame (for
				     example an Opus packet of 2 bytes or
				     less): a gap after it is silence       */
	uint32_t dur;           /**< media duration [clock units], 0 if not
				     known (then learnt from timestamps)    */
	const uint8_t *payload; /**< payload, copied by jb_put()            */
	size_t   len;           /**< payload length [bytes]                 */
};

/** What a segment of a slot holds */
enum jb_kind {
	JB_NONE = 0,            /**< no result                              */
	JB_FRAME,               /**< media to decode                        */
	JB_LOST,                /**< missing media: conceal it              */
	JB_SILENCE,             /**< silence: play comfort noise or silence */
};

/** A part of a slot */
struct jb_seg {
	enum jb_kind kind;      /**< FRAME, LOST or SILENCE                 */
	uint32_t n;             /**< length of this part [clock units]      */
	uint32_t off;           /**< FRAME: where this part starts in the
				     packet's media [clock units]           */
	uint32_t pdur;          /**< FRAME: the whole packet's media
				     duration [clock units]                 */
	uint32_t ts;            /**< RTP timestamp of the first sample      */
	uint16_t seq;           /**< FRAME: the packet's sequence number;
				     LOST with payload: the next packet's   */
	uint8_t  pt;            /**< payload type of payload, if any        */
	bool     marker;        /**< FRAME: the packet's M bit              */
	/**
	 * FRAME: the packet's payload. LOST: the payload of the packet that
	 * follows the gap directly, if it is already here (Opus in-band FEC),
	 * else NULL. SILENCE: the last comfort-noise payload (RFC 3389), or
	 * NULL. Valid until the next call on this jitter buffer.
	 */
	const uint8_t *payload;
	size_t   len;           /**< payload length [bytes]                 */
};

/** One output slot */
struct jb_out {
	enum jb_kind kind;      /**< LOST if any segment is lost, else FRAME
				     if any is a frame, else SILENCE; NONE
				     when there is no result                */
	uint64_t due;           /**< when the slot was due [us]             */
	uint32_t ssrc;          /**< current source                         */
	bool     inserted;      /**< slot added to grow the delay: it
				     consumes no media                      */
	uint32_t skipped;       /**< media dropped just before this slot to
				     shrink the delay [clock units]         */
	unsigned nseg;          /**< segments, 1..JB_MAXSEG                 */
	struct jb_seg seg[JB_MAXSEG]; /**< in media order, covering ptime  */
};

/**
 * Statistics of one call. Packet counters count RTP packets given to
 * jb_put(); slot counters count results of jb_get().
 */
struct jb_stats {
	uint64_t received;      /**< packets accepted by jb_put(), with
				     duplicates, late and dropped ones      */
	uint64_t lost;          /**< sequence numbers between the first and
				     the highest of each source that never
				     arrived (neither late nor as DTMF)     */
	uint64_t late;          /**< first copies that arrived after the
				     slot holding their first sample had
				     been emitted; discarded unless part of
				     their media is still ahead             */
	uint64_t duplicate;     /**< extra copies of a sequence number
				     already received (within 256 packets)  */
	uint64_t reordered;     /**< first copies with a sequence number
				     below the highest already received     */
	uint64_t dropped;       /**< first copies discarded otherwise: full
				     buffer, skipped to shrink the delay,
				     overlapped, stale or out of sequence   */
	uint64_t invalid;       /**< packets refused with an error          */
	uint64_t arena_grows;   /**< times a larger packet grew the slots   */
	uint64_t slots;         /**< results produced                       */
	uint64_t frames;        /**< slots of kind FRAME                    */
	uint64_t concealed;     /**< slots of kind LOST (with a gap to
				     conceal), inserted ones included       */
	uint64_t silence;       /**< slots of kind SILENCE                  */
	uint64_t inserted;      /**< slots inserted to grow the delay       */
	uint64_t skipped;       /**< slots of media or gap skipped to
				     shrink the delay                       */
	uint64_t resyncs;       /**< timeline re-anchored: new source,
				     timestamp jump                         */
	uint32_t depth_ms;      /**< media buffered ahead of the playout
				     point, now [ms]                        */
	uint32_t depth_max_ms;  /**< highest depth_ms seen [ms]             */
	uint32_t depth_pkts;    /**< packets buffered, now                  */
	uint32_t depth_max_pkts;/**< highest depth_pkts seen                */
	uint32_t target_ms;     /**< target delay, now [ms]                 */
	uint32_t target_us;     /**< target delay, now [us]                 */
	uint32_t jitter_us;     /**< RFC 3550 interarrival jitter [us]      */
	uint32_t jitter;        /**< the same [clock units], for RTCP       */
	uint32_t wait_avg_us;   /**< mean wait of played packets, arrival
				     to slot emission [us]                  */
	uint32_t wait_max_us;   /**< longest such wait [us]                 */
	uint32_t ssrc;          /**< current source                         */
};

struct jb;
struct re_printf;

void jb_conf_default(struct jb_conf *conf);
int  jb_conf_check(const struct jb_conf *conf, const char **keyp);
int  jb_conf_set(struct jb_conf *conf, const char *name, uint32_t val);
const struct jb_conf_key *jb_conf_keys(size_t *np);

int  jb_alloc(struct jb **jbp, const struct jb_conf *conf);
int  jb_put(struct jb *jb, uint64_t now_us, const struct jb_pkt *pkt);
int  jb_get(struct jb *jb, uint64_t now_us, struct jb_out *out);
uint64_t jb_next_due(const struct jb *jb);
bool jb_waiting(const struct jb *jb);
void jb_note_seq(struct jb *jb, uint32_t ssrc, uint16_t seq);
int  jb_clock_set(struct jb *jb, uint32_t clock_rate);
void jb_stats(const struct jb *jb, struct jb_stats *st);
int  jb_debug(struct re_printf *pf, const struct jb *jb);

#endif
