/**
 * @file loadgen.c  cb-loadgen: the load generator (a many-call SIP UAC)
 *
 * Design note.
 * One process, one thread, one event loop (libre's re_main, epoll). It
 * places calls with libre's SIP stack (sipsess as a UAC): the project's
 * own SIP stack, which handles the transactions, retransmissions, ACK,
 * BYE and CANCEL of thousands of dialogs from one loop without trouble.
 * What libre does not do well at this scale is pacing: its timers have
 * millisecond resolution and are kept in one sorted list. So the media
 * path does not use libre timers:
 *
 *  - A timerfd (CLOCK_MONOTONIC, absolute, microsecond resolution) drives
 *    a 20-slot wheel of 1 ms slots. A call starts its media on a whole
 *    millisecond, so its 20 ms send times always fall in the same slot;
 *    each wake-up sends the frames of one slot. Calls are thereby spread
 *    over the 20 ms period as their answers arrived.
 *  - Each call has its own RTP socket (one port per call, as a carrier's
 *    SBC has), read from the same epoll loop.
 *  - Audio comes from a precomputed "tape": the speech-like file (bench/
 *    speechgen.py), encoded once per codec and per 1 ms phase, with onset
 *    markers on the shared grid (bonset.h) or with byte stamps added at
 *    send time (bstamp.h, PCMU only). Nothing is encoded per packet.
 *    Opus has a second, narrowband tape for a gateway whose answer says
 *    maxplaybackrate=8000 (RFC 7587 6.1), as a caller's encoder honours.
 *
 * What comes back is measured per packet: RTP loss, duplicates and RFC
 * 3550 jitter of the gateway's stream, and the one-way delay from the
 * agent simulator's send time (byte stamps: the echoed stamp carries it;
 * onset markers: the agent's tape is on the grid shifted by half a
 * period).
 *
 * Control: commands on stdin, one per line; replies on stdout, one JSON
 * object per line (the driver bench/cbbench.py uses this):
 *
 *   target N       keep N call slots busy (placing at --cps)
 *   replace on|off place a new call when one fails or ends (default on)
 *   cps R          calls per second for new calls
 *   reset          start a new measurement (forget all figures)
 *   commit         keep the figures of the window since the last
 *                  reset/commit/drop, start a new window
 *   drop           forget that window's figures, start a new one
 *   stats          print the kept figures and the current window's as
 *                  one JSON line
 *   hangup         end every call (target 0) and forget failed slots
 *   quit           hang up and exit
 *
 * Standalone (any gateway): --calls N --hold S runs N calls for S seconds
 * and prints the same JSON at the end. Logging goes to stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <netinet/in.h>
#include <opus/opus.h>
#include <re.h>
#include "bhist.h"
#include "bonset.h"
#include "bstamp.h"
#include "g711.h"

enum {
	FRAME_US     = 20000,
	SLOTS        = 20,          /**< 1 ms slots in a 20 ms period      */
	MAX_PKT      = 1500,
	PT_PCMU      = 0,
	PT_PCMA      = 8,
	PT_OPUS      = 111,
	PT_TELEV     = 101,
	SKIP_LATE_US = 200000,      /**< later than this: skip the frame   */
	PLACE_MS     = 5,           /**< call placement tick [ms]          */
	MAX_CODES    = 700,
	RX_BATCH     = 8,
	OPUS_MAX     = 400,         /**< largest Opus packet we make       */
	CMD_MAX      = 256,
	QUIT_LINGER_MS = 2000,      /**< wait for BYE/CANCEL answers [ms]  */
};

enum codec { C_PCMU, C_PCMA, C_OPUS };
enum stamp { STAMP_AUTO, STAMP_BYTES, STAMP_ONSET };
enum cstate { CS_INVITING, CS_LIVE, CS_ENDING };

/** Options */
struct opts {
	struct sa local;            /**< SIP and RTP address               */
	uint16_t sip_port;          /**< 0: any                            */
	char target[128];           /**< gateway SIP host:port             */
	enum sip_transp tp;
	char number[32];            /**< first number, E.164               */
	uint32_t numbers;           /**< numbers in use from it            */
	enum codec codec;
	enum stamp stamp;
	const char *audio;
	uint32_t period_ms;         /**< onset grid period                 */
	double cps;
	uint32_t calls;             /**< initial target                    */
	uint32_t hold_s;            /**< standalone run length, 0: stdin   */
	uint32_t duration_s;        /**< call length, 0: until hung up     */
	uint32_t measure;           /**< calls that decode (Opus), 0: all  */
	uint32_t opus_bitrate, opus_complexity;
	bool rtcp_mux;
	bool phase_answer;          /**< start media right at the answer   */
	bool verbose;
};

/** One call. Loop thread only. */
struct call {
	struct le le;               /**< in lg.calls                       */
	struct le wle;              /**< in its wheel slot when live       */
	uint32_t idx;
	enum cstate state;
	struct sipsess *sess;
	struct tmr tmr_dur;
	int fd;
	struct sa laddr;            /**< our RTP address                   */
	struct sa raddr;            /**< gateway's RTP address             */
	uint64_t t_invite;

	/* send */
	uint64_t tstart;            /**< capture time of frame 0 [us]      */
	uint64_t next_due;          /**< send time of the next frame [us]  */
	uint32_t frame;
	unsigned phase;             /**< slot 0..19 [ms]                   */
	bool nb;                    /**< Opus: the answer asked for NB     */
	uint16_t seq;
	uint32_t ts, ssrc;

	/* receive */
	bool rx_init;
	uint32_t rx_ssrc;
	uint16_t rx_seq;            /**< highest sequence number seen      */
	uint32_t rx_ts;
	uint64_t rx_t;
	double jitter;              /**< RFC 3550 J [clock units]          */
	bool echo_init;
	uint32_t echo_seq;          /**< highest echoed frame number       */
	bool eseq_init;
	uint16_t eseq;              /**< highest agent echo number         */
	int64_t down_min;           /**< lowest down latency seen [us]     */
	struct bonset_det det;
	OpusDecoder *dec;
	bool measured;              /**< decodes (Opus) for markers        */
};

/* the statistics' counters and histograms, listed once */
#define STAT_COUNTERS(X)						\
	X(attempted) X(answered) X(failed) X(peer_bye) X(timeouts)	\
	X(sdp_bad) X(hung_up) X(retry_after) X(canceled)		\
	X(tx) X(tx_skipped) X(tx_err)					\
	X(rx) X(rx_rtcp) X(rx_lost) X(rx_dup) X(rx_bad) X(rx_foreign)	\
	X(stamped) X(echo_lost) X(echo_dup) X(crosstalk) X(corrupt)	\
	X(onsets) X(down_lost)
#define STAT_HISTS(X) X(setup) X(late) X(rt) X(down) X(down_var)

/**
 * Measurement statistics. The current window (lg.st) is either committed
 * into the accumulated ones (lg.acc) or dropped, as the driver decides
 * ("commit", "drop"); "stats" prints both together.
 */
struct stats {
	uint64_t t0;                /**< start of the window [us]          */
#define X(n) uint64_t n;
	STAT_COUNTERS(X)
#undef X
	uint32_t codes[MAX_CODES];  /**< failures by SIP status            */
	uint64_t first_answer, last_answer;
	/* setup: INVITE -> 200; late: send time - due time; rt: round trip;
	   down: agent send -> here; down_var: down less the call's floor,
	   all in [us] */
#define X(n) struct bhist n;
	STAT_HISTS(X)
#undef X
};

/** The tape: frame payloads, per 1 ms phase variant */
struct tape {
	unsigned variants;          /**< 1 or SLOTS                        */
	unsigned frames;            /**< per variant                       */
	uint32_t *off;              /**< [variants * frames] into buf      */
	uint16_t *len;
	uint8_t *buf;
};

static struct {
	struct opts o;
	struct sip *sip;
	struct sipsess_sock *sock;
	struct list calls;
	uint32_t ninviting, nlive;
	uint32_t dead;              /**< failed slots kept (replace off)    */
	struct list waits;          /**< failed slots waiting to retry      */
	uint32_t target;
	bool replace;
	uint32_t next_idx;
	double budget;
	uint64_t last_place;
	struct tmr tmr_place;
	struct tmr tmr_stop;

	int tfd;                    /**< media timerfd                      */
	uint64_t next_ms;           /**< next slot to serve [ms]            */
	uint64_t armed_at;          /**< when the timerfd fires [us]        */
	struct list wheel[SLOTS];

	struct tape tape;
	struct tape tape_nb;        /**< Opus coded narrowband             */
	struct bgrid grid_up;       /**< our markers                        */
	struct bgrid grid_down;     /**< the agent's markers                */
	uint32_t clock;             /**< RTP clock [Hz]                     */
	uint32_t ts_step;           /**< per 20 ms                          */
	uint8_t pt;
	enum stamp stamp;
	int32_t codec_delay_us;

	struct stats st;            /**< the current window                 */
	struct stats acc;           /**< committed windows                  */
	uint64_t acc_us;            /**< their length [us]                  */
	char cmd[CMD_MAX];
	size_t cmd_len;
	bool quitting;
	int exit_code;
} lg;

struct waitslot {
	struct le le;
	uint64_t due;
};


static void call_end(struct call *c, bool count_hangup);


/*
 * Tape
 */

static void tape_reset(struct tape *t)
{
	t->off = mem_deref(t->off);
	t->len = mem_deref(t->len);
	t->buf = mem_deref(t->buf);
}


static int tape_alloc(struct tape *t, unsigned variants, unsigned frames,
		      size_t maxlen)
{
	size_t n = (size_t)variants * frames;

	t->variants = variants;
	t->frames = frames;
	t->off = mem_zalloc(n * sizeof(*t->off), NULL);
	t->len = mem_zalloc(n * sizeof(*t->len), NULL);
	t->buf = mem_zalloc(n * maxlen, NULL);

	return (t->off && t->len && t->buf) ? 0 : ENOMEM;
}


/* G.711: render and encode every frame of every phase */
static int tape_g711(struct tape *t, const struct baudio *sp8, bool onset)
{
	unsigned variants = onset ? SLOTS : 1;
	uint64_t loop_us;
	unsigned frames;
	int16_t pcm[160];
	int err;

	if (onset) {
		/* a whole number of marker periods */
		loop_us = (uint64_t)sp8->n * 1000000u / sp8->rate;
		loop_us -= loop_us % lg.grid_up.period_us;
		if (loop_us < lg.grid_up.period_us)
			loop_us = lg.grid_up.period_us;
	}
	else {
		loop_us = (uint64_t)(sp8->n / 160) * FRAME_US;
	}
	frames = (unsigned)(loop_us / FRAME_US);

	err = tape_alloc(t, variants, frames, 160);
	if (err)
		return err;

	for (unsigned v = 0; v < variants; v++) {
		for (unsigned f = 0; f < frames; f++) {
			size_t i = (size_t)v * frames + f;
			uint8_t *out = t->buf + i * 160;

			if (onset) {
				bonset_render(&lg.grid_up, sp8,
					      (uint64_t)f * FRAME_US + v * 1000u,
					      pcm, 160);
			}
			else {
				memcpy(pcm, sp8->pcm + (size_t)f * 160,
				       sizeof(pcm));
			}

			if (lg.o.codec == C_PCMA)
				g711_alaw_encode(out, pcm, 160);
			else
				g711_ulaw_encode(out, pcm, 160);

			t->off[i] = (uint32_t)(i * 160);
			t->len[i] = 160;
		}
	}

	return 0;
}


/* Opus: encode each phase's loop twice, keep the second (warm) pass.
   The tape is rendered ahead by the encoder's lookahead, so that the
   decoded markers land on the grid. */
static int tape_opus(struct tape *t, const struct baudio *sp48, bool nb)
{
	OpusEncoder *enc = NULL;
	uint64_t loop_us;
	unsigned frames;
	int16_t pcm[960];
	opus_int32 la = 0;
	uint32_t pos = 0;
	int err, oerr;

	loop_us = (uint64_t)sp48->n * 1000000u / sp48->rate;
	loop_us -= loop_us % lg.grid_up.period_us;
	if (loop_us < lg.grid_up.period_us)
		loop_us = lg.grid_up.period_us;
	frames = (unsigned)(loop_us / FRAME_US);

	err = tape_alloc(t, SLOTS, frames, OPUS_MAX);
	if (err)
		return err;

	for (unsigned v = 0; v < SLOTS; v++) {

		enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_VOIP,
					  &oerr);
		if (!enc)
			return ENOMEM;
		(void)opus_encoder_ctl(enc, OPUS_SET_BITRATE(
					       (opus_int32)lg.o.opus_bitrate));
		(void)opus_encoder_ctl(enc, OPUS_SET_COMPLEXITY(
					    (opus_int32)lg.o.opus_complexity));
		(void)opus_encoder_ctl(enc, OPUS_SET_SIGNAL(
					       OPUS_SIGNAL_VOICE));
		if (nb)
			(void)opus_encoder_ctl(enc, OPUS_SET_MAX_BANDWIDTH(
					       OPUS_BANDWIDTH_NARROWBAND));
		(void)opus_encoder_ctl(enc, OPUS_GET_LOOKAHEAD(&la));
		lg.codec_delay_us = (int32_t)((int64_t)la * 1000000 / 48000);

		for (unsigned pass = 0; pass < 2; pass++) {
			for (unsigned f = 0; f < frames; f++) {
				size_t i = (size_t)v * frames + f;
				uint8_t pkt[OPUS_MAX];
				int n;

				bonset_render(&lg.grid_up, sp48,
					      (uint64_t)f * FRAME_US +
					      v * 1000u +
					      (uint64_t)lg.codec_delay_us,
					      pcm, 960);
				n = opus_encode(enc, pcm, 960, pkt,
						sizeof(pkt));
				if (n <= 0) {
					opus_encoder_destroy(enc);
					return EPROTO;
				}
				if (pass == 0)
					continue;
				t->off[i] = pos;
				t->len[i] = (uint16_t)n;
				memcpy(t->buf + pos, pkt, (size_t)n);
				pos += (uint32_t)n;
			}
		}

		opus_encoder_destroy(enc);
	}

	return 0;
}


static int tape_init(void)
{
	struct baudio *sp = NULL;
	uint32_t rate = lg.o.codec == C_OPUS ? 48000 : 8000;
	size_t at;
	int err;

	err = baudio_load(&sp, lg.o.audio, rate);
	if (err) {
		re_fprintf(stderr, "cb-loadgen: %s: cannot load audio: %m "
			   "(want a WAV file, PCM 16-bit mono, >= 1 s)\n",
			   lg.o.audio, err);
		return err;
	}

	if (lg.stamp == STAMP_ONSET && baudio_check(sp, &at)) {
		re_fprintf(stderr, "cb-loadgen: %s: pause at %.3f s would "
			   "read as a latency marker; use audio from "
			   "bench/speechgen.py\n", lg.o.audio,
			   (double)at / sp->rate);
		err = EDOM;
		goto out;
	}

	if (lg.o.codec == C_OPUS) {
		err = tape_opus(&lg.tape, sp, false);
		if (!err)
			err = tape_opus(&lg.tape_nb, sp, true);
	}
	else
		err = tape_g711(&lg.tape, sp, lg.stamp == STAMP_ONSET);

 out:
	mem_deref(sp);
	return err;
}


/*
 * Statistics
 */

static uint64_t now_us(void)
{
	return bonset_now_us();
}


static void stats_merge(struct stats *d, const struct stats *s)
{
#define X(n) d->n += s->n;
	STAT_COUNTERS(X)
#undef X
#define X(n) bhist_merge(&d->n, &s->n);
	STAT_HISTS(X)
#undef X
	for (int i = 0; i < MAX_CODES; i++)
		d->codes[i] += s->codes[i];
	if (s->first_answer && (!d->first_answer ||
				s->first_answer < d->first_answer))
		d->first_answer = s->first_answer;
	if (s->last_answer > d->last_answer)
		d->last_answer = s->last_answer;
}


/* a new window: "drop" the current one */
static void stats_window(void)
{
	memset(&lg.st, 0, sizeof(lg.st));
	lg.st.t0 = now_us();
}


/* keep the current window's figures ("commit") */
static void stats_commit(void)
{
	lg.acc_us += now_us() - lg.st.t0;
	stats_merge(&lg.acc, &lg.st);
	stats_window();
}


/* forget everything ("reset") */
static void stats_reset(void)
{
	memset(&lg.acc, 0, sizeof(lg.acc));
	lg.acc_us = 0;
	stats_window();
}


static int print_hist(struct re_printf *pf, const struct bhist *h)
{
	char buf[256];

	if (bhist_json(buf, sizeof(buf), h) < 0)
		return re_hprintf(pf, "{\"n\":0}");

	return re_hprintf(pf, "%s", buf);
}


static int print_codes(struct re_printf *pf, void *arg)
{
	const struct stats *s = arg;
	bool first = true;
	int err = 0;

	err |= re_hprintf(pf, "{");
	for (int i = 0; i < MAX_CODES; i++) {
		if (!s->codes[i])
			continue;
		err |= re_hprintf(pf, "%s\"%d\":%u", first ? "" : ",", i,
				  s->codes[i]);
		first = false;
	}
	err |= re_hprintf(pf, "}");

	return err;
}


static int print_stats(struct re_printf *pf, void *arg)
{
	const struct stats *s = arg;
	uint64_t now = now_us();
	double jmax = 0, jsum = 0;
	uint32_t jn = 0;
	int err = 0;

	for (struct le *le = lg.calls.head; le; le = le->next) {
		const struct call *c = le->data;
		double j;

		if (!c->rx_init)
			continue;
		j = c->jitter * 1e6 / lg.clock;
		jsum += j;
		jmax = j > jmax ? j : jmax;
		++jn;
	}

	err |= re_hprintf(pf, "{\"kind\":\"loadgen\",\"t_us\":%llu,"
			  "\"interval_s\":%.3f,\"codec\":\"%s\","
			  "\"stamp\":\"%s\",\"codec_delay_us\":%d,",
			  (unsigned long long)now,
			  (double)(lg.acc_us + now - lg.st.t0) / 1e6,
			  lg.o.codec == C_PCMU ? "pcmu" :
			  lg.o.codec == C_PCMA ? "pcma" : "opus",
			  lg.stamp == STAMP_BYTES ? "bytes" : "onset",
			  lg.codec_delay_us);
	err |= re_hprintf(pf, "\"calls\":{\"target\":%u,\"inviting\":%u,"
			  "\"live\":%u,\"waiting\":%u,\"dead\":%u,"
			  "\"attempted\":%llu,\"answered\":%llu,"
			  "\"failed\":%llu,\"codes\":%H,\"retry_after\":%llu,"
			  "\"peer_bye\":%llu,\"timeouts\":%llu,"
			  "\"sdp_bad\":%llu,\"hung_up\":%llu,"
			  "\"canceled\":%llu,\"first_answer_us\":%llu,"
			  "\"last_answer_us\":%llu},",
			  lg.target, lg.ninviting, lg.nlive,
			  list_count(&lg.waits), lg.dead,
			  (unsigned long long)s->attempted,
			  (unsigned long long)s->answered,
			  (unsigned long long)s->failed, print_codes, s,
			  (unsigned long long)s->retry_after,
			  (unsigned long long)s->peer_bye,
			  (unsigned long long)s->timeouts,
			  (unsigned long long)s->sdp_bad,
			  (unsigned long long)s->hung_up,
			  (unsigned long long)s->canceled,
			  (unsigned long long)s->first_answer,
			  (unsigned long long)s->last_answer);
	err |= re_hprintf(pf, "\"setup\":");
	err |= print_hist(pf, &s->setup);
	err |= re_hprintf(pf, ",\"tx\":{\"pkts\":%llu,\"skipped\":%llu,"
			  "\"errors\":%llu,\"late\":",
			  (unsigned long long)s->tx,
			  (unsigned long long)s->tx_skipped,
			  (unsigned long long)s->tx_err);
	err |= print_hist(pf, &s->late);
	err |= re_hprintf(pf, "},\"rx\":{\"pkts\":%llu,\"rtcp\":%llu,"
			  "\"lost\":%llu,\"dup\":%llu,\"bad\":%llu,"
			  "\"foreign\":%llu,\"jitter_us_mean\":%.1f,"
			  "\"jitter_us_max\":%.1f},",
			  (unsigned long long)s->rx,
			  (unsigned long long)s->rx_rtcp,
			  (unsigned long long)s->rx_lost,
			  (unsigned long long)s->rx_dup,
			  (unsigned long long)s->rx_bad,
			  (unsigned long long)s->rx_foreign,
			  jn ? jsum / jn : 0.0, jmax);
	err |= re_hprintf(pf, "\"media\":{\"stamped\":%llu,"
			  "\"down_lost\":%llu,"
			  "\"echo_lost\":%llu,\"echo_dup\":%llu,"
			  "\"crosstalk\":%llu,\"corrupt\":%llu,"
			  "\"onsets\":%llu,\"rt\":",
			  (unsigned long long)s->stamped,
			  (unsigned long long)s->down_lost,
			  (unsigned long long)s->echo_lost,
			  (unsigned long long)s->echo_dup,
			  (unsigned long long)s->crosstalk,
			  (unsigned long long)s->corrupt,
			  (unsigned long long)s->onsets);
	err |= print_hist(pf, &s->rt);
	err |= re_hprintf(pf, ",\"down\":");
	err |= print_hist(pf, &s->down);
	err |= re_hprintf(pf, ",\"down_var\":");
	err |= print_hist(pf, &s->down_var);
	err |= re_hprintf(pf, "}}");

	return err;
}


static void stats_print(FILE *f)
{
	static struct stats all;   /* large: not on the stack */

	all = lg.acc;
	stats_merge(&all, &lg.st);
	re_fprintf(f, "%H\n", print_stats, &all);
	fflush(f);
}


/*
 * RTP send: the wheel
 */

static void rtp_hdr(uint8_t *p, bool marker, uint8_t pt, uint16_t seq,
		    uint32_t ts, uint32_t ssrc)
{
	p[0] = 0x80;
	p[1] = (uint8_t)((marker ? 0x80 : 0) | (pt & 0x7f));
	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	p[4] = (uint8_t)(ts >> 24);
	p[5] = (uint8_t)(ts >> 16);
	p[6] = (uint8_t)(ts >> 8);
	p[7] = (uint8_t)ts;
	p[8] = (uint8_t)(ssrc >> 24);
	p[9] = (uint8_t)(ssrc >> 16);
	p[10] = (uint8_t)(ssrc >> 8);
	p[11] = (uint8_t)ssrc;
}


static void send_frame(struct call *c, uint64_t now)
{
	const struct tape *t = c->nb ? &lg.tape_nb : &lg.tape;
	uint8_t pkt[12 + OPUS_MAX];
	uint64_t cap_ms = c->tstart / 1000 + (uint64_t)c->frame * 20;
	unsigned v = t->variants > 1 ? c->phase : 0;
	unsigned f = (unsigned)((cap_ms / 20) % t->frames);
	size_t i = (size_t)v * t->frames + f;
	size_t len = t->len[i];
	ssize_t n;

	rtp_hdr(pkt, c->frame == 0, lg.pt, c->seq, c->ts, c->ssrc);
	memcpy(pkt + 12, t->buf + t->off[i], len);

	if (lg.stamp == STAMP_BYTES)
		(void)bstamp_write(pkt + 12, len, c->idx, c->frame,
				   (uint32_t)now);

	n = sendto(c->fd, pkt, 12 + len, 0, &c->raddr.u.sa, c->raddr.len);
	if (n < 0)
		++lg.st.tx_err;
	else
		++lg.st.tx;

	bhist_add(&lg.st.late, (int64_t)(now - c->next_due));
}


static void wheel_arm(uint64_t at_us)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = (time_t)(at_us / 1000000u);
	its.it_value.tv_nsec = (long)(at_us % 1000000u) * 1000;
	if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
		its.it_value.tv_nsec = 1;

	(void)timerfd_settime(lg.tfd, TFD_TIMER_ABSTIME, &its, NULL);
	lg.armed_at = at_us;
}


/* serve the slots that are due, then sleep until the next busy one */
static void wheel_handler(int flags, void *arg)
{
	uint64_t exp, now = now_us();
	unsigned served = 0;

	(void)flags;
	(void)arg;

	if (read(lg.tfd, &exp, sizeof(exp)) < 0) {
		/* spurious: re-armed below */
	}

	/* a long stall: do not replay it slot by slot */
	if (lg.next_ms * 1000 + SKIP_LATE_US < now)
		lg.next_ms = now / 1000 - SKIP_LATE_US / 1000;

	while (lg.next_ms * 1000 <= now && served++ < 1000) {
		struct list *slot = &lg.wheel[lg.next_ms % SLOTS];

		for (struct le *le = slot->head; le; le = le->next) {
			struct call *c = le->data;

			if (c->next_due > now)
				continue;

			/* far behind: skip whole frames rather than burst */
			while (c->next_due + SKIP_LATE_US < now) {
				++lg.st.tx_skipped;
				++c->frame;
				++c->seq;
				c->ts += lg.ts_step;
				c->next_due += FRAME_US;
			}

			send_frame(c, now);
			++c->frame;
			++c->seq;
			c->ts += lg.ts_step;
			c->next_due += FRAME_US;
		}

		++lg.next_ms;
		now = now_us();
	}

	/* sleep until the next slot with calls */
	for (unsigned k = 0; k < SLOTS; k++) {
		if (lg.wheel[(lg.next_ms + k) % SLOTS].head) {
			wheel_arm((lg.next_ms + k) * 1000);
			return;
		}
	}

	/* no live call: wake in 20 ms to keep next_ms current */
	lg.next_ms = now / 1000 + 1;
	wheel_arm((now / 1000 + 20) * 1000);
}


/*
 * RTP receive
 */

static void rx_rtp_stats(struct call *c, uint16_t seq, uint32_t ts,
			 uint32_t ssrc, uint64_t now)
{
	if (!c->rx_init || ssrc != c->rx_ssrc) {
		c->rx_init = true;
		c->rx_ssrc = ssrc;
		c->rx_seq = seq;
		c->rx_ts = ts;
		c->rx_t = now;
		c->jitter = 0;
		return;
	}

	int16_t d = (int16_t)(seq - c->rx_seq);

	if (d <= 0) {
		++lg.st.rx_dup;   /* duplicate or reordered */
		return;
	}
	if (d > 1)
		lg.st.rx_lost += (uint64_t)(d - 1);

	/* RFC 3550 A.8: D = (Rj - Ri) - (Sj - Si), in clock units */
	double arr = (double)(now - c->rx_t) * lg.clock / 1e6;
	double dd = arr - (double)(int32_t)(ts - c->rx_ts);

	if (dd < 0)
		dd = -dd;
	c->jitter += (dd - c->jitter) / 16.0;

	c->rx_seq = seq;
	c->rx_ts = ts;
	c->rx_t = now;
}


static void rx_down(struct call *c, int64_t lat)
{
	bhist_add(&lg.st.down, lat);

	if (c->down_min == INT64_MAX || lat < c->down_min)
		c->down_min = lat;
	bhist_add(&lg.st.down_var, lat - c->down_min);
}


static void rx_media(struct call *c, const uint8_t *p, size_t len,
		     uint64_t now)
{
	struct bstamp s;
	int16_t pcm[960];
	uint64_t t_on;
	int n = 0;

	/* byte stamps: PCMU straight from a µ-law agent */
	if (lg.o.codec == C_PCMU) {
		int err = bstamp_read(&s, p, len);

		if (err == EBADMSG) {
			++lg.st.corrupt;
		}
		else if (!err) {
			++lg.st.stamped;
			if (s.call != (c->idx & 0xffffff)) {
				++lg.st.crosstalk;
				return;
			}
			if (c->echo_init) {
				int32_t d = (int32_t)(s.seq - c->echo_seq);
				if (d <= 0)
					++lg.st.echo_dup;
				else {
					lg.st.echo_lost += (uint64_t)(d - 1);
					c->echo_seq = s.seq;
				}
			}
			else {
				c->echo_init = true;
				c->echo_seq = s.seq;
			}
			bhist_add(&lg.st.rt, bstamp_diff((uint32_t)now, s.t0));
			if (s.has_t2) {
				/* the agent's own numbering: gaps are lost on
				   the way down only */
				if (c->eseq_init) {
					int16_t e = (int16_t)(s.eseq -
							      c->eseq);
					if (e > 1)
						lg.st.down_lost +=
							(uint64_t)(e - 1);
					if (e > 0)
						c->eseq = s.eseq;
				}
				else {
					c->eseq_init = true;
					c->eseq = s.eseq;
				}
				rx_down(c, bstamp_diff((uint32_t)now, s.t2));
			}
			return;
		}
	}

	/* onset markers */
	switch (lg.o.codec) {

	case C_PCMU:
		if (len > 960)
			return;
		g711_ulaw_decode(pcm, p, len);
		n = (int)len;
		break;

	case C_PCMA:
		if (len > 960)
			return;
		g711_alaw_decode(pcm, p, len);
		n = (int)len;
		break;

	case C_OPUS:
		if (!c->measured)
			return;
		n = opus_decode(c->dec, p, (opus_int32)len, pcm, 960, 0);
		if (n < 0) {
			++lg.st.corrupt;
			return;
		}
		break;
	}

	if (bonset_det_feed(&c->det, pcm, (size_t)n, now, &t_on)) {
		++lg.st.onsets;
		rx_down(c, bonset_latency(&lg.grid_down, t_on));
	}
}


static void rtp_handler(int flags, void *arg)
{
	struct call *c = arg;
	uint8_t buf[MAX_PKT];

	(void)flags;

	for (int i = 0; i < RX_BATCH; i++) {
		struct sa src;
		size_t hl;
		ssize_t n;
		uint64_t now;

		sa_init(&src, AF_INET);
		src.len = sizeof(src.u);
		n = recvfrom(c->fd, buf, sizeof(buf), 0, &src.u.sa, &src.len);
		if (n < 0)
			break;

		now = now_us();

		if (c->state != CS_LIVE)
			continue;

		if (!sa_cmp(&src, &c->raddr, SA_ALL)) {
			++lg.st.rx_foreign;
			continue;
		}

		if (n < 12 || (buf[0] >> 6) != 2) {
			++lg.st.rx_bad;
			continue;
		}

		/* rtcp-mux */
		if (buf[1] >= 192 && buf[1] <= 223) {
			++lg.st.rx_rtcp;
			continue;
		}

		hl = 12 + 4u * (buf[0] & 0x0f);
		if (buf[0] & 0x10) {
			if ((size_t)n < hl + 4) {
				++lg.st.rx_bad;
				continue;
			}
			hl += 4 + 4u * ((size_t)buf[hl + 2] << 8 | buf[hl + 3]);
		}
		if ((size_t)n < hl) {
			++lg.st.rx_bad;
			continue;
		}
		if (buf[0] & 0x20) {
			size_t pad = buf[n - 1];
			if (!pad || pad > (size_t)n - hl) {
				++lg.st.rx_bad;
				continue;
			}
			n -= (ssize_t)pad;
		}

		++lg.st.rx;

		rx_rtp_stats(c, (uint16_t)(buf[2] << 8 | buf[3]),
			     (uint32_t)buf[4] << 24 | (uint32_t)buf[5] << 16 |
			     (uint32_t)buf[6] << 8 | buf[7],
			     (uint32_t)buf[8] << 24 | (uint32_t)buf[9] << 16 |
			     (uint32_t)buf[10] << 8 | buf[11], now);

		if ((buf[1] & 0x7f) == lg.pt)
			rx_media(c, buf + hl, (size_t)n - hl, now);
	}
}


/*
 * SIP
 */

static int sdp_offer(struct mbuf **mbp, const struct call *c)
{
	struct mbuf *mb = mbuf_alloc(512);
	const char *rtpmap;
	int err;

	if (!mb)
		return ENOMEM;

	switch (lg.o.codec) {
	case C_PCMA: rtpmap = "PCMA/8000"; break;
	case C_OPUS: rtpmap = "opus/48000/2"; break;
	default:     rtpmap = "PCMU/8000"; break;
	}

	err = mbuf_printf(mb,
			  "v=0\r\n"
			  "o=cb-loadgen %u 1 IN IP%d %j\r\n"
			  "s=cb-loadgen\r\n"
			  "c=IN IP%d %j\r\n"
			  "t=0 0\r\n"
			  "m=audio %u RTP/AVP %u %u\r\n"
			  "a=rtpmap:%u %s\r\n"
			  "%s"
			  "a=rtpmap:%u telephone-event/%u\r\n"
			  "a=fmtp:%u 0-15\r\n"
			  "a=ptime:20\r\n"
			  "%s"
			  "a=sendrecv\r\n",
			  c->idx, sa_af(&c->laddr) == AF_INET6 ? 6 : 4,
			  &c->laddr, sa_af(&c->laddr) == AF_INET6 ? 6 : 4,
			  &c->laddr, sa_port(&c->laddr), lg.pt, PT_TELEV,
			  lg.pt, rtpmap,
			  lg.o.codec == C_OPUS ?
			  "a=fmtp:111 useinbandfec=1\r\n" : "",
			  PT_TELEV, lg.clock, PT_TELEV,
			  lg.o.rtcp_mux ? "a=rtcp-mux\r\n" : "");
	if (err) {
		mem_deref(mb);
		return err;
	}

	mb->pos = 0;
	*mbp = mb;

	return 0;
}


/* the gateway's RTP address and our payload type from its answer */
static int sdp_answer(struct call *c, const struct sip_msg *msg)
{
	struct pl addr, port, fmts, ver;
	const char *p;
	char buf[4096];
	size_t len;

	if (!msg || !msg->mb || !mbuf_get_left(msg->mb))
		return EBADMSG;

	len = mbuf_get_left(msg->mb);
	if (len >= sizeof(buf))
		return EMSGSIZE;
	memcpy(buf, mbuf_buf(msg->mb), len);
	buf[len] = '\0';

	p = strstr(buf, "\nc=IN IP");
	if (!p || re_regex(p, strlen(p), "c=IN IP[46]1 [^ \r\n]+", &ver,
			   &addr))
		return EBADMSG;

	p = strstr(buf, "\nm=audio ");
	if (!p || re_regex(p, strlen(p), "m=audio [0-9]+ RTP/[A-Z]+ [0-9]+",
			   &port, NULL, &fmts))
		return EBADMSG;

	/* a media-level c= line wins */
	{
		const char *mc = strstr(p, "\nc=IN IP");
		if (mc && re_regex(mc, strlen(mc), "c=IN IP[46]1 [^ \r\n]+",
				   &ver, &addr))
			return EBADMSG;
	}

	if (sa_set(&c->raddr, &addr, pl_u32(&port)) || !pl_u32(&port))
		return EBADMSG;

	if (pl_u32(&fmts) != lg.pt)
		return EPROTO;

	/* Opus: the band the gateway wants (RFC 7587 6.1) */
	if (lg.o.codec == C_OPUS) {
		struct pl rate;
		const char *f = strstr(p, "\na=fmtp:111 ");
		const char *eol = f ? strchr(f + 1, '\n') : NULL;

		c->nb = f && !re_regex(f, eol ? (size_t)(eol - f) : strlen(f),
				       "maxplaybackrate=[0-9]+", &rate) &&
			pl_u32(&rate) <= 8000;
	}

	return 0;
}


static void slot_freed(int retry_after_s)
{
	struct waitslot *w;

	if (!lg.replace) {
		++lg.dead;
		return;
	}

	w = mem_zalloc(sizeof(*w), NULL);
	if (!w)
		return;

	w->due = now_us() + (uint64_t)(retry_after_s > 0 ?
				       (retry_after_s > 10 ? 10 :
					retry_after_s) * 1000000u : 1000000u);
	list_append(&lg.waits, &w->le, w);
}


static void close_handler(int err, const struct sip_msg *msg, void *arg)
{
	struct call *c = arg;
	int retry = 0;

	if (c->state == CS_LIVE) {
		++lg.st.peer_bye;
		call_end(c, false);
		slot_freed(0);
		return;
	}

	++lg.st.failed;
	if (msg && msg->scode < MAX_CODES)
		++lg.st.codes[msg->scode];
	if (err == ETIMEDOUT)
		++lg.st.timeouts;

	if (msg && msg->scode == 503) {
		const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_RETRY_AFTER);
		if (h) {
			++lg.st.retry_after;
			retry = (int)pl_u32(&h->val);
		}
	}

	if (lg.o.verbose)
		re_fprintf(stderr, "call %u failed: %m %u %r\n", c->idx, err,
			   msg ? msg->scode : 0, msg ? &msg->reason : NULL);

	call_end(c, false);
	slot_freed(retry);
}


static int answer_handler(const struct sip_msg *msg, void *arg)
{
	struct call *c = arg;
	int err = sdp_answer(c, msg);

	if (err)
		++lg.st.sdp_bad;

	return err;
}


static int offer_handler(struct mbuf **descp, const struct sip_msg *msg,
			 void *arg)
{
	struct call *c = arg;

	(void)msg;

	/* a re-INVITE: same media */
	return sdp_offer(descp, c);
}


static void progress_handler(const struct sip_msg *msg, void *arg)
{
	(void)msg;
	(void)arg;
}


static void dur_handler(void *arg)
{
	struct call *c = arg;

	call_end(c, true);
	slot_freed(0);
}


static void estab_handler(const struct sip_msg *msg, void *arg)
{
	struct call *c = arg;
	uint64_t now = now_us();

	(void)msg;

	--lg.ninviting;
	++lg.nlive;
	c->state = CS_LIVE;

	++lg.st.answered;
	bhist_add(&lg.st.setup, (int64_t)(now - c->t_invite));
	if (!lg.st.first_answer)
		lg.st.first_answer = now;
	lg.st.last_answer = now;

	/* media starts on a whole millisecond: capture of frame 0 begins
	   then, and it is sent 20 ms later. A carrier's 20 ms phase has
	   nothing to do with the gateway's, so by default it is random. */
	c->tstart = (now / 1000 + 1 + (lg.o.phase_answer ? 0 :
				       rand_u32() % SLOTS)) * 1000;
	c->next_due = c->tstart + FRAME_US;
	c->phase = (unsigned)((c->tstart / 1000) % SLOTS);
	c->down_min = INT64_MAX;
	list_append(&lg.wheel[c->phase], &c->wle, c);

	if (lg.o.duration_s) {
		/* spread the ends of calls placed together over 10 % */
		uint64_t ms = lg.o.duration_s * 1000ull;
		ms += rand_u32() % (ms / 10 + 1);
		tmr_start(&c->tmr_dur, ms, dur_handler, c);
	}

	/* the wheel may sleep longer than this call's first slot */
	if (c->next_due < lg.armed_at)
		wheel_arm(c->next_due);
}


static void call_destructor(void *arg)
{
	struct call *c = arg;

	tmr_cancel(&c->tmr_dur);
	list_unlink(&c->le);
	list_unlink(&c->wle);
	mem_deref(c->sess);
	if (c->fd >= 0) {
		fd_close(c->fd);
		(void)close(c->fd);
	}
	if (c->dec)
		opus_decoder_destroy(c->dec);
}


/* end a call: BYE if answered, CANCEL if not (libre does either) */
static void call_end(struct call *c, bool count_hangup)
{
	if (c->state == CS_LIVE)
		--lg.nlive;
	else if (c->state == CS_INVITING) {
		--lg.ninviting;
		if (count_hangup)
			++lg.st.canceled;
	}

	if (count_hangup && c->state == CS_LIVE)
		++lg.st.hung_up;

	c->state = CS_ENDING;
	mem_deref(c);
}


static int rtp_socket(struct call *c)
{
	int fd, err;

	fd = socket(sa_af(&lg.o.local), SOCK_DGRAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;

	c->laddr = lg.o.local;
	sa_set_port(&c->laddr, 0);
	if (bind(fd, &c->laddr.u.sa, c->laddr.len) < 0) {
		err = errno;
		(void)close(fd);
		return err;
	}

	c->laddr.len = sizeof(c->laddr.u);
	if (getsockname(fd, &c->laddr.u.sa, &c->laddr.len) < 0) {
		err = errno;
		(void)close(fd);
		return err;
	}

	c->fd = fd;

	return fd_listen(fd, FD_READ, rtp_handler, c);
}


static int number_of(char *buf, size_t sz, uint32_t idx)
{
	const char *d = lg.o.number + (lg.o.number[0] == '+');
	unsigned long long base = strtoull(d, NULL, 10);

	return re_snprintf(buf, sz, "%s%llu", lg.o.number[0] == '+' ? "+" :
			   "", base + (lg.o.numbers ? idx % lg.o.numbers : 0))
		< 0 ? EINVAL : 0;
}


static int call_place(void)
{
	char to[256], from[128], num[40];
	struct mbuf *sdp = NULL;
	struct call *c;
	int err;

	c = mem_zalloc(sizeof(*c), call_destructor);
	if (!c)
		return ENOMEM;

	c->fd = -1;
	c->idx = lg.next_idx++;
	c->state = CS_INVITING;
	c->ssrc = rand_u32();
	c->seq = rand_u16();
	c->ts = rand_u32();
	c->down_min = INT64_MAX;
	tmr_init(&c->tmr_dur);
	list_append(&lg.calls, &c->le, c);
	++lg.ninviting;

	bonset_det_init(&c->det, lg.o.codec == C_OPUS ? 8000 : 8000);
	if (lg.o.codec == C_OPUS &&
	    (!lg.o.measure || c->idx < lg.o.measure)) {
		int oerr;
		c->dec = opus_decoder_create(8000, 1, &oerr);
		if (!c->dec) {
			err = ENOMEM;
			goto out;
		}
		c->measured = true;
	}

	err = rtp_socket(c);
	if (err)
		goto out;

	err = sdp_offer(&sdp, c);
	if (err)
		goto out;

	err = number_of(num, sizeof(num), c->idx);
	if (err)
		goto out;
	re_snprintf(to, sizeof(to), "sip:%s@%s%s", num, lg.o.target,
		    lg.o.tp == SIP_TRANSP_TCP ? ";transport=tcp" : "");
	re_snprintf(from, sizeof(from), "sip:loadgen%u@%j", c->idx,
		    &lg.o.local);

	c->t_invite = now_us();
	++lg.st.attempted;

	err = sipsess_connect(&c->sess, lg.sock, to, NULL, from, "loadgen",
			      NULL, 0, "application/sdp", sdp, NULL, NULL,
			      false, offer_handler, answer_handler,
			      progress_handler, estab_handler, NULL, NULL,
			      close_handler, c,
			      "X-Bench-Call: %u\r\n", c->idx);

 out:
	mem_deref(sdp);
	if (err) {
		++lg.st.failed;
		re_fprintf(stderr, "cb-loadgen: cannot place call %u: %m\n",
			   c->idx, err);
		call_end(c, false);
		slot_freed(0);
	}

	return err;
}


static uint32_t busy(void)
{
	return lg.ninviting + lg.nlive + list_count(&lg.waits) + lg.dead;
}


/* end the newest calls until busy() <= target */
static void shed(void)
{
	struct le *le;

	while (busy() > lg.target && lg.waits.head) {
		struct waitslot *w = lg.waits.head->data;
		list_unlink(&w->le);
		mem_deref(w);
	}

	while (busy() > lg.target && lg.dead)
		--lg.dead;

	le = lg.calls.tail;
	while (busy() > lg.target && le) {
		struct call *c = le->data;
		le = le->prev;
		if (c->state != CS_ENDING)
			call_end(c, true);
	}
}


static void place_handler(void *arg)
{
	uint64_t now = now_us();
	unsigned n = 0;

	(void)arg;

	tmr_start(&lg.tmr_place, PLACE_MS, place_handler, NULL);

	/* retry slots that waited long enough */
	for (struct le *le = lg.waits.head; le; ) {
		struct waitslot *w = le->data;
		le = le->next;
		if (w->due <= now) {
			list_unlink(&w->le);
			mem_deref(w);
		}
	}

	if (busy() > lg.target) {
		shed();
		return;
	}

	lg.budget += lg.o.cps * (double)(now - lg.last_place) / 1e6;
	lg.last_place = now;
	if (lg.budget > lg.o.cps / 10 + 1)
		lg.budget = lg.o.cps / 10 + 1;   /* burst at most 100 ms */

	while (busy() < lg.target && lg.budget >= 1 && n++ < 1000) {
		lg.budget -= 1;
		if (call_place())
			break;
	}
}


static void conn_handler(const struct sip_msg *msg, void *arg)
{
	(void)arg;

	(void)sip_treply(NULL, lg.sip, msg, 603, "Decline");
}


static void sip_exit_handler(void *arg)
{
	(void)arg;
	re_cancel();
}


/*
 * Control
 */

static void hangup_all(void)
{
	lg.target = 0;
	lg.dead = 0;
	list_flush(&lg.waits);
	shed();
}


static void force_quit(void *arg)
{
	(void)arg;

	sip_close(lg.sip, true);
	re_cancel();
}


static void quit(void)
{
	if (lg.quitting)
		return;

	lg.quitting = true;
	hangup_all();
	tmr_cancel(&lg.tmr_place);

	/* let the BYEs and CANCELs finish, then stop; a peer that does not
	   answer gets QUIT_LINGER_MS */
	sip_close(lg.sip, false);
	tmr_start(&lg.tmr_stop, QUIT_LINGER_MS, force_quit, NULL);
}


static void command(const char *line)
{
	char word[32] = "", arg[64] = "";

	if (sscanf(line, "%31s %63s", word, arg) < 1)
		return;

	if (!strcmp(word, "target")) {
		char *end;
		unsigned long v = strtoul(arg, &end, 10);
		if (*end || !*arg || v > 1000000) {
			re_printf("{\"error\":\"target wants 0..1000000\"}\n");
		}
		else {
			lg.target = (uint32_t)v;
			lg.last_place = now_us();
			re_printf("{\"ok\":true}\n");
		}
	}
	else if (!strcmp(word, "replace")) {
		lg.replace = !strcmp(arg, "on");
		re_printf("{\"ok\":true}\n");
	}
	else if (!strcmp(word, "cps")) {
		double v = atof(arg);
		if (v <= 0 || v > 100000) {
			re_printf("{\"error\":\"cps wants (0, 100000]\"}\n");
		}
		else {
			lg.o.cps = v;
			re_printf("{\"ok\":true}\n");
		}
	}
	else if (!strcmp(word, "reset")) {
		stats_reset();
		re_printf("{\"ok\":true}\n");
	}
	else if (!strcmp(word, "commit")) {
		stats_commit();
		re_printf("{\"ok\":true}\n");
	}
	else if (!strcmp(word, "drop")) {
		stats_window();
		re_printf("{\"ok\":true}\n");
	}
	else if (!strcmp(word, "stats")) {
		stats_print(stdout);
		return;
	}
	else if (!strcmp(word, "hangup")) {
		hangup_all();
		re_printf("{\"ok\":true}\n");
	}
	else if (!strcmp(word, "quit")) {
		re_printf("{\"ok\":true}\n");
		fflush(stdout);
		quit();
		return;
	}
	else {
		re_printf("{\"error\":\"unknown command\"}\n");
	}

	fflush(stdout);
}


static void stdin_handler(int flags, void *arg)
{
	char buf[512];
	ssize_t n;

	(void)flags;
	(void)arg;

	n = read(STDIN_FILENO, buf, sizeof(buf));
	if (n <= 0) {
		/* the driver went away */
		fd_close(STDIN_FILENO);
		if (!lg.o.hold_s)
			quit();
		return;
	}

	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			lg.cmd[lg.cmd_len] = '\0';
			command(lg.cmd);
			lg.cmd_len = 0;
		}
		else if (lg.cmd_len < sizeof(lg.cmd) - 1) {
			lg.cmd[lg.cmd_len++] = buf[i];
		}
	}
}


static void stop_handler(void *arg)
{
	(void)arg;

	stats_print(stdout);
	quit();
}


static void signal_handler(int sig)
{
	(void)sig;
	quit();
}


/*
 * Start-up
 */

static void usage(void)
{
	fprintf(stderr,
"usage: cb-loadgen --target HOST:PORT --number E164 --audio FILE.wav\n"
"                  [options]\n"
"\n"
"  -t, --target HOST:PORT   the gateway's SIP address (UDP)\n"
"      --tcp                SIP over TCP\n"
"  -l, --local ADDR         our SIP and RTP address (127.0.0.1)\n"
"      --sip-port N         our SIP port (0: any)\n"
"  -n, --number E164        number to call (+14155550100)\n"
"      --numbers N          call N numbers from it, round robin (1)\n"
"  -a, --audio FILE         speech-like WAV, 16-bit mono (speechgen.py)\n"
"  -c, --codec C            pcmu, pcma or opus (pcmu)\n"
"      --stamp M            bytes (PCMU only), onset or auto (auto)\n"
"      --period-ms N        onset marker period [ms] (500)\n"
"      --cps R              new calls per second (50)\n"
"      --calls N            initial number of calls (0)\n"
"      --hold S             run S seconds, print stats, exit (0: until\n"
"                           'quit' on stdin)\n"
"      --duration S         hang each call up after S (+0-10 %%) s\n"
"      --measure N          Opus: only the first N calls decode (0: all)\n"
"      --opus-bitrate B     (32000)   --opus-complexity C (5)\n"
"      --no-rtcp-mux        do not offer rtcp-mux\n"
"      --phase P            media start: random 0-19 ms after the answer\n"
"                           (default) or right at the answer\n"
"  -v, --verbose\n");
}


static int parse_opts(int argc, char **argv)
{
	static const struct option lopts[] = {
		{"target",          required_argument, NULL, 't'},
		{"tcp",             no_argument,       NULL, 'T'},
		{"local",           required_argument, NULL, 'l'},
		{"sip-port",        required_argument, NULL, 'P'},
		{"number",          required_argument, NULL, 'n'},
		{"numbers",         required_argument, NULL, 'N'},
		{"audio",           required_argument, NULL, 'a'},
		{"codec",           required_argument, NULL, 'c'},
		{"stamp",           required_argument, NULL, 's'},
		{"period-ms",       required_argument, NULL, 'p'},
		{"cps",             required_argument, NULL, 'r'},
		{"calls",           required_argument, NULL, 'C'},
		{"hold",            required_argument, NULL, 'H'},
		{"duration",        required_argument, NULL, 'd'},
		{"measure",         required_argument, NULL, 'm'},
		{"opus-bitrate",    required_argument, NULL, 'b'},
		{"opus-complexity", required_argument, NULL, 'x'},
		{"no-rtcp-mux",     no_argument,       NULL, 'R'},
		{"phase",           required_argument, NULL, 'F'},
		{"verbose",         no_argument,       NULL, 'v'},
		{"help",            no_argument,       NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	struct opts *o = &lg.o;
	int ch;

	(void)sa_set_str(&o->local, "127.0.0.1", 0);
	str_ncpy(o->number, "+14155550100", sizeof(o->number));
	o->numbers = 1;
	o->tp = SIP_TRANSP_UDP;
	o->period_ms = 500;
	o->cps = 50;
	o->opus_bitrate = 32000;
	o->opus_complexity = 5;
	o->rtcp_mux = true;

	while ((ch = getopt_long(argc, argv, "t:l:n:a:c:vh", lopts, NULL))
	       != -1) {
		switch (ch) {

		case 't': str_ncpy(o->target, optarg, sizeof(o->target));
			break;
		case 'T': o->tp = SIP_TRANSP_TCP; break;
		case 'l':
			if (sa_set_str(&o->local, optarg, 0)) {
				fprintf(stderr, "cb-loadgen: bad --local %s\n",
					optarg);
				return EINVAL;
			}
			break;
		case 'P': o->sip_port = (uint16_t)atoi(optarg); break;
		case 'n': str_ncpy(o->number, optarg, sizeof(o->number));
			break;
		case 'N': o->numbers = (uint32_t)atoi(optarg); break;
		case 'a': o->audio = optarg; break;
		case 'c':
			if (!strcmp(optarg, "pcmu"))      o->codec = C_PCMU;
			else if (!strcmp(optarg, "pcma")) o->codec = C_PCMA;
			else if (!strcmp(optarg, "opus")) o->codec = C_OPUS;
			else {
				fprintf(stderr, "cb-loadgen: codec is pcmu, "
					"pcma or opus\n");
				return EINVAL;
			}
			break;
		case 's':
			if (!strcmp(optarg, "bytes"))      o->stamp = STAMP_BYTES;
			else if (!strcmp(optarg, "onset")) o->stamp = STAMP_ONSET;
			else if (!strcmp(optarg, "auto"))  o->stamp = STAMP_AUTO;
			else {
				fprintf(stderr, "cb-loadgen: stamp is bytes, "
					"onset or auto\n");
				return EINVAL;
			}
			break;
		case 'p': o->period_ms = (uint32_t)atoi(optarg); break;
		case 'r': o->cps = atof(optarg); break;
		case 'C': o->calls = (uint32_t)atoi(optarg); break;
		case 'H': o->hold_s = (uint32_t)atoi(optarg); break;
		case 'd': o->duration_s = (uint32_t)atoi(optarg); break;
		case 'm': o->measure = (uint32_t)atoi(optarg); break;
		case 'b': o->opus_bitrate = (uint32_t)atoi(optarg); break;
		case 'x': o->opus_complexity = (uint32_t)atoi(optarg); break;
		case 'R': o->rtcp_mux = false; break;
		case 'F':
			if (!strcmp(optarg, "answer"))
				o->phase_answer = true;
			else if (!strcmp(optarg, "random"))
				o->phase_answer = false;
			else {
				fprintf(stderr, "cb-loadgen: phase is answer "
					"or random\n");
				return EINVAL;
			}
			break;
		case 'v': o->verbose = true; break;
		default:
			usage();
			return EINVAL;
		}
	}

	if (!o->target[0] || !o->audio) {
		usage();
		return EINVAL;
	}
	if (o->period_ms < 200 || o->period_ms > 10000 ||
	    o->period_ms % 20) {
		fprintf(stderr, "cb-loadgen: --period-ms must be a multiple "
			"of 20 in 200..10000\n");
		return EINVAL;
	}
	if (o->cps <= 0 || o->cps > 100000) {
		fprintf(stderr, "cb-loadgen: --cps must be in (0, 100000]\n");
		return EINVAL;
	}
	if (o->numbers < 1 || o->numbers > 1000000) {
		fprintf(stderr, "cb-loadgen: --numbers must be 1..1000000\n");
		return EINVAL;
	}
	if (o->number[0] != '+' && (o->number[0] < '0' || o->number[0] > '9')) {
		fprintf(stderr, "cb-loadgen: --number must be digits, "
			"optionally with a leading +\n");
		return EINVAL;
	}
	if (o->stamp == STAMP_BYTES && o->codec != C_PCMU) {
		fprintf(stderr, "cb-loadgen: byte stamps need PCMU; use "
			"--stamp onset for %s\n",
			o->codec == C_PCMA ? "pcma" : "opus");
		return EINVAL;
	}
	if (o->opus_bitrate < 6000 || o->opus_bitrate > 510000 ||
	    o->opus_complexity > 10) {
		fprintf(stderr, "cb-loadgen: Opus bitrate 6000..510000, "
			"complexity 0..10\n");
		return EINVAL;
	}

	return 0;
}


static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;

	rl.rlim_cur = rl.rlim_max;
	(void)setrlimit(RLIMIT_NOFILE, &rl);
}


int main(int argc, char **argv)
{
	struct sa laddr;
	struct rlimit rl;
	int err;

	memset(&lg, 0, sizeof(lg));
	lg.tfd = -1;
	lg.replace = true;

	err = parse_opts(argc, argv);
	if (err)
		return 2;

	lg.stamp = lg.o.stamp;
	if (lg.stamp == STAMP_AUTO)
		lg.stamp = lg.o.codec == C_PCMU ? STAMP_BYTES : STAMP_ONSET;
	lg.clock = lg.o.codec == C_OPUS ? 48000 : 8000;
	lg.ts_step = lg.clock / 50;
	lg.pt = lg.o.codec == C_PCMA ? PT_PCMA :
		lg.o.codec == C_OPUS ? PT_OPUS : PT_PCMU;
	lg.grid_up.period_us = lg.o.period_ms * 1000ull;
	lg.grid_up.offset_us = 0;
	lg.grid_down.period_us = lg.o.period_ms * 1000ull;
	lg.grid_down.offset_us = lg.o.period_ms * 500ull;

	raise_fd_limit();
	signal(SIGPIPE, SIG_IGN);

	err = libre_init();
	if (err)
		return 1;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur > 1024)
		(void)fd_setsize(rl.rlim_cur > 1048576 ? 1048576 :
				 (int)rl.rlim_cur);

	err = tape_init();
	if (err)
		goto out;

	laddr = lg.o.local;
	sa_set_port(&laddr, lg.o.sip_port);

	err = sip_alloc(&lg.sip, NULL, 4096, 4096, 4096, "cb-loadgen",
			sip_exit_handler, NULL);
	if (err)
		goto out;
	err = sip_transp_add(lg.sip, lg.o.tp, &laddr);
	if (err) {
		re_fprintf(stderr, "cb-loadgen: SIP on %J: %m\n", &laddr, err);
		goto out;
	}
	err = sipsess_listen(&lg.sock, lg.sip, 4096, conn_handler, NULL);
	if (err)
		goto out;

	lg.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (lg.tfd < 0) {
		err = errno;
		goto out;
	}
	err = fd_listen(lg.tfd, FD_READ, wheel_handler, NULL);
	if (err)
		goto out;
	lg.next_ms = now_us() / 1000 + 1;
	wheel_arm((lg.next_ms + 20) * 1000);

	if (!lg.o.hold_s) {
		err = fd_listen(STDIN_FILENO, FD_READ, stdin_handler, NULL);
		if (err)
			goto out;
	}
	else {
		tmr_start(&lg.tmr_stop, lg.o.hold_s * 1000ull, stop_handler,
			  NULL);
	}

	stats_reset();
	lg.target = lg.o.calls;
	lg.last_place = now_us();
	tmr_start(&lg.tmr_place, PLACE_MS, place_handler, NULL);

	re_fprintf(stderr, "cb-loadgen: SIP %J -> %s, %s, %s stamps, "
		   "tape %u x %u frames\n", &laddr, lg.o.target,
		   lg.o.codec == C_PCMU ? "PCMU" : lg.o.codec == C_PCMA ?
		   "PCMA" : "Opus", lg.stamp == STAMP_BYTES ? "byte" :
		   "onset", lg.tape.variants, lg.tape.frames);

	err = re_main(signal_handler);

 out:
	if (err)
		lg.exit_code = 1;

	/* everything left: the calls (if re_main failed early) */
	while (lg.calls.head)
		call_end(lg.calls.head->data, false);
	list_flush(&lg.waits);
	tmr_cancel(&lg.tmr_place);
	tmr_cancel(&lg.tmr_stop);
	if (lg.tfd >= 0) {
		fd_close(lg.tfd);
		(void)close(lg.tfd);
	}
	fd_close(STDIN_FILENO);
	lg.sock = mem_deref(lg.sock);
	lg.sip = mem_deref(lg.sip);
	tape_reset(&lg.tape);
	tape_reset(&lg.tape_nb);

	libre_close();
	tmr_debug();
	mem_debug();

	return lg.exit_code;
}
