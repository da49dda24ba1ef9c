/**
 * @file rtcpx.c  RTCP for one call: reports out, reports in, statistics
 *
 * Design note.
 * - Own codec on byte buffers rather than libre's mbuf-based rtcp_encode/
 *   rtcp_decode: the compound we send is small and fixed in shape, and a
 *   hand-written validator lets malformed input be refused as a whole.
 * - Outgoing compound (RFC 3550 6.1): SR if we sent RTP since our last
 *   report, else RR; one report block about the remote source if we heard
 *   from it since the last report; SDES with our CNAME; BYE on request.
 *   The sizes are computed before anything is written or counted, so a
 *   short buffer fails cleanly (EOVERFLOW) without consuming a report
 *   interval.
 * - Incoming compound: one validating walk over the whole datagram (RFC
 *   3550 A.2: version 2, first packet SR or RR, lengths adding up to the
 *   datagram, padding only in the last packet, per-type structure), then,
 *   only if all of it is valid, a second walk that records what concerns
 *   us. So a malformed datagram returns EBADMSG and changes nothing.
 *   APP, RTPFB, PSFB, XR and unknown types in 192..223 are skipped by
 *   their length.
 * - What is recorded: the peer's SR (for LSR/DLSR in our next report), the
 *   report block about our SSRC (peer-side loss and jitter of our stream),
 *   and the round-trip time A - LSR - DLSR (RFC 3550 6.4.1) with A from the
 *   injected NTP clock. Reports claiming to come from our own SSRC are
 *   ignored.
 * - The report interval is RFC 3550 6.3.1 without timer reconsideration
 *   (a call has two members, so the 5 s minimum rules): the deterministic
 *   interval times a factor uniform in [0.5, 1.5) from a xorshift32 state
 *   the caller can seed. Without reconsideration the e - 3/2 compensation
 *   does not apply.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include "rtpkt.h"
#include "rtcpx.h"

enum {
	HDR_SIZE    = 4,
	SR_INFO     = 20,    /* NTP (8), RTP ts, packets, octets */
	RBLOCK_SIZE = 24,
	UDP_IP_SIZE = 28,    /* lower-layer overhead for avg_size (IPv4) */
	SDES_CNAME  = 1,
};

/* seconds from 1900-01-01 (NTP era 0) to 1970-01-01 */
#define NTP_UNIX_OFFSET 2208988800ull


static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}


static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		(uint32_t)p[2] << 8 | p[3];
}


static inline void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}


static inline void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}


/* common header; len is the packet's total length [bytes], multiple of 4 */
static void wr_hdr(uint8_t *p, unsigned count, enum rtcpx_type pt,
		   size_t len)
{
	p[0] = (uint8_t)(0x80 | (count & 0x1f));
	p[1] = (uint8_t)pt;
	wr16(p + 2, (uint16_t)(len / 4 - 1));
}


static uint32_t xorshift32(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;

	return *s = x;
}


/**
 * Initialise an RTCP session (for embedding in a call struct)
 *
 * @param rc             Session to initialise
 * @param ssrc           Our SSRC
 * @param cname          Our CNAME, 1..RTCPX_CNAME_MAX bytes
 * @param rx_clock_rate  RTP clock of the stream we receive [Hz]
 * @param tx_clock_rate  RTP clock of the stream we send [Hz]
 *
 * @return 0 if success, EINVAL for a bad argument
 */
int rtcpx_init(struct rtcpx *rc, uint32_t ssrc, const char *cname,
	       uint32_t rx_clock_rate, uint32_t tx_clock_rate)
{
	size_t n;

	if (!rc || !cname || !rx_clock_rate || !tx_clock_rate)
		return EINVAL;

	n = strlen(cname);
	if (n == 0 || n > RTCPX_CNAME_MAX)
		return EINVAL;

	memset(rc, 0, sizeof(*rc));
	rc->ssrc = ssrc;
	memcpy(rc->cname, cname, n + 1);
	rtpstat_rx_init(&rc->rx, rx_clock_rate);
	rtpstat_tx_init(&rc->tx, tx_clock_rate);
	rtcpx_set_seed(rc, ssrc);

	return 0;
}


/**
 * Seed the report-interval randomisation (for reproducible tests)
 *
 * @param rc    RTCP session
 * @param seed  Any value
 */
void rtcpx_set_seed(struct rtcpx *rc, uint32_t seed)
{
	if (!rc)
		return;

	rc->rng = seed ^ 0x9e3779b9u;
	if (!rc->rng)
		rc->rng = 0x9e3779b9u;
}


/**
 * Account one received RTP packet (after latching)
 *
 * @param rc          RTCP session
 * @param pkt         The decoded packet
 * @param arrival_us  Arrival time on the caller's monotonic clock [us]
 *
 * @return As rtpstat_rx_update(): 0 if counted, EAGAIN if it should not be
 *         played, EINVAL for NULL arguments
 */
int rtcpx_rtp_recv(struct rtcpx *rc, const struct rtpkt *pkt,
		   uint64_t arrival_us)
{
	if (!rc || !pkt)
		return EINVAL;

	return rtpstat_rx_update(&rc->rx, pkt->ssrc, pkt->seq, pkt->ts,
				 pkt->payload_len, arrival_us);
}


/**
 * Account one sent RTP packet
 *
 * @param rc      RTCP session
 * @param ts      Its RTP timestamp [clock units]
 * @param octets  Its payload length [bytes]
 * @param now_us  Send time on the caller's monotonic clock [us]
 */
void rtcpx_rtp_sent(struct rtcpx *rc, uint32_t ts, size_t octets,
		    uint64_t now_us)
{
	if (!rc)
		return;

	rtpstat_tx_update(&rc->tx, ts, octets, now_us);
}


static uint8_t *wr_rblock(uint8_t *p, const struct rtcpx_rblock *rb)
{
	wr32(p, rb->ssrc);
	wr32(p + 4, (uint32_t)rb->fraction_lost << 24 |
	     ((uint32_t)rb->cum_lost & 0xffffff));
	wr32(p + 8, rb->ext_max_seq);
	wr32(p + 12, rb->jitter);
	wr32(p + 16, rb->lsr);
	wr32(p + 20, rb->dlsr);

	return p + RBLOCK_SIZE;
}


/** Shape and sizes of our next compound, known before anything is
 *  written */
struct compound {
	bool   sr;               /**< SR (we sent RTP since the last report) */
	bool   heard;            /**< a report block about the peer          */
	bool   bye;              /**< BYE at the end                         */
	size_t cname_len;        /**< [bytes]                                */
	size_t first_len;        /**< SR or RR [bytes]                       */
	size_t sdes_len;         /**< SDES with CNAME, padded [bytes]        */
	size_t len;              /**< the whole compound [bytes]             */
};


static void compound_shape(const struct rtcpx *rc, bool bye,
			   struct compound *c)
{
	c->sr    = rc->tx.packets > rc->rpt_sent;
	c->heard = rc->rx.valid && rc->rx.packets > rc->rpt_received;
	c->bye   = bye;

	c->cname_len = strlen(rc->cname);
	c->first_len = HDR_SIZE + 4 + (c->sr ? SR_INFO : 0) +
		(c->heard ? RBLOCK_SIZE : 0);
	/* header, SSRC, CNAME item, END, padded to 32 bits */
	c->sdes_len  = HDR_SIZE + 4 +
		((2 + c->cname_len + 1 + 3) & ~(size_t)3);
	c->len = c->first_len + c->sdes_len + (bye ? HDR_SIZE + 4 : 0);
}


/* our report block about the peer, with LSR/DLSR from its last SR */
static uint8_t *wr_report(struct rtcpx *rc, uint8_t *p, uint64_t now_us)
{
	struct rtpstat_report rep;
	struct rtcpx_rblock rb;

	if (!rtpstat_rx_report(&rc->rx, &rep))
		return p;

	rb.ssrc          = rep.ssrc;
	rb.fraction_lost = rep.fraction_lost;
	rb.cum_lost      = rep.cum_lost;
	rb.ext_max_seq   = rep.ext_max_seq;
	rb.jitter        = rep.jitter;
	rb.lsr           = 0;
	rb.dlsr          = 0;

	if (rc->have_sr && rc->sr_ssrc == rep.ssrc &&
	    now_us >= rc->sr_recv_us) {
		const uint64_t d = (now_us - rc->sr_recv_us) * 65536 / 1000000;

		rb.lsr  = (uint32_t)(rc->sr_ntp >> 16);
		rb.dlsr = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
	}

	return wr_rblock(p, &rb);
}


/* SR or RR: header, our SSRC, sender info if SR, report block if heard */
static uint8_t *wr_first(struct rtcpx *rc, uint8_t *p,
			 const struct compound *c, uint64_t now_us,
			 uint64_t ntp)
{
	wr_hdr(p, c->heard ? 1 : 0, c->sr ? RTCPX_SR : RTCPX_RR,
	       c->first_len);
	wr32(p + 4, rc->ssrc);
	p += 8;

	if (c->sr) {
		wr32(p, (uint32_t)(ntp >> 32));
		wr32(p + 4, (uint32_t)ntp);
		wr32(p + 8, rtpstat_tx_ts_at(&rc->tx, now_us));
		wr32(p + 12, (uint32_t)rc->tx.packets);
		wr32(p + 16, (uint32_t)rc->tx.octets);
		p += SR_INFO;
	}

	return c->heard ? wr_report(rc, p, now_us) : p;
}


/* SDES with one chunk (CNAME), then BYE if asked for */
static uint8_t *wr_sdes_bye(const struct rtcpx *rc, uint8_t *p,
			    const struct compound *c)
{
	wr_hdr(p, 1, RTCPX_SDES, c->sdes_len);
	wr32(p + 4, rc->ssrc);
	p[8] = SDES_CNAME;
	p[9] = (uint8_t)c->cname_len;
	memcpy(p + 10, rc->cname, c->cname_len);
	memset(p + 10 + c->cname_len, 0, c->sdes_len - 10 - c->cname_len);
	p += c->sdes_len;

	if (c->bye) {
		wr_hdr(p, 1, RTCPX_BYE, HDR_SIZE + 4);
		wr32(p + 4, rc->ssrc);
		p += HDR_SIZE + 4;
	}

	return p;
}


/**
 * Build our compound RTCP packet for this report interval
 *
 * @param rc      RTCP session; starts a new report interval on success
 * @param buf     Output buffer (RTCPX_BUF_SIZE is always enough)
 * @param size    Size of buf [bytes]
 * @param lenp    Length written [bytes] (output)
 * @param bye     Append a BYE for our SSRC (end of call)
 * @param now_us  Time on the caller's monotonic clock [us]
 * @param ntp     Wall-clock time as a 64-bit NTP timestamp
 *
 * @return 0 if success, EINVAL for NULL arguments, EOVERFLOW if buf is too
 *         small (nothing is changed then)
 */
int rtcpx_encode(struct rtcpx *rc, uint8_t *buf, size_t size, size_t *lenp,
		 bool bye, uint64_t now_us, uint64_t ntp)
{
	struct compound c;
	uint8_t *p;

	if (!rc || !buf || !lenp)
		return EINVAL;

	compound_shape(rc, bye, &c);
	if (size < c.len)
		return EOVERFLOW;

	p = wr_first(rc, buf, &c, now_us, ntp);
	(void)wr_sdes_bye(rc, p, &c);

	rc->rpt_sent     = rc->tx.packets;
	rc->rpt_received = rc->rx.packets;
	++rc->n_sent;

	if (rc->avg_size)
		rc->avg_size = (rc->avg_size * 15 + (uint32_t)c.len +
				UDP_IP_SIZE) / 16;
	else
		rc->avg_size = (uint32_t)c.len + UDP_IP_SIZE;

	*lenp = c.len;

	return 0;
}


/* Everything below validates when apply is false and records when it is
 * true; the record pass runs only over a datagram that validated whole. */

static void rd_rblock(struct rtcpx_rblock *rb, const uint8_t *p)
{
	uint32_t lost = rd32(p + 4) & 0xffffff;

	if (lost & 0x800000)
		lost |= 0xff000000;

	rb->ssrc          = rd32(p);
	rb->fraction_lost = p[4];
	rb->cum_lost      = (int32_t)lost;
	rb->ext_max_seq   = rd32(p + 8);
	rb->jitter        = rd32(p + 12);
	rb->lsr           = rd32(p + 16);
	rb->dlsr          = rd32(p + 20);
}


static void apply_rblocks(struct rtcpx *rc, const uint8_t *p, unsigned n,
			  uint64_t now_us, uint64_t ntp)
{
	for (unsigned i = 0; i < n; i++, p += RBLOCK_SIZE) {
		struct rtcpx_rblock rb;

		rd_rblock(&rb, p);
		if (rb.ssrc != rc->ssrc)
			continue;

		rc->rb         = rb;
		rc->have_rb    = true;
		rc->rb_recv_us = now_us;

		if (rb.lsr) {
			/* A - LSR - DLSR in 1/65536 s; negative means the
			 * peer's DLSR is off: no sample */
			const uint32_t a = (uint32_t)(ntp >> 16);
			const uint32_t rtt = a - rb.lsr - rb.dlsr;

			if ((int32_t)rtt >= 0) {
				rc->rtt_us = (uint32_t)((uint64_t)rtt *
							1000000 / 65536);
				rc->have_rtt = true;
			}
		}
	}
}


/* the source we receive, or any before we have one; callers have already
 * set aside our own SSRC */
static bool from_peer(const struct rtcpx *rc, uint32_t ssrc)
{
	return !rc->rx.valid || ssrc == rc->rx.ssrc;
}


static int do_sr(struct rtcpx *rc, const uint8_t *p, size_t end,
		 unsigned count, bool apply, uint64_t now_us, uint64_t ntp)
{
	uint32_t ssrc;

	if (end < HDR_SIZE + 4 + SR_INFO + (size_t)count * RBLOCK_SIZE)
		return EBADMSG;

	if (!apply)
		return 0;

	ssrc = rd32(p + 4);
	if (ssrc == rc->ssrc)
		return 0;

	if (from_peer(rc, ssrc)) {
		rc->have_sr    = true;
		rc->sr_ssrc    = ssrc;
		rc->sr_ntp     = (uint64_t)rd32(p + 8) << 32 | rd32(p + 12);
		rc->sr_rtp_ts  = rd32(p + 16);
		rc->sr_packets = rd32(p + 20);
		rc->sr_octets  = rd32(p + 24);
		rc->sr_recv_us = now_us;
	}

	apply_rblocks(rc, p + HDR_SIZE + 4 + SR_INFO, count, now_us, ntp);

	return 0;
}


static int do_rr(struct rtcpx *rc, const uint8_t *p, size_t end,
		 unsigned count, bool apply, uint64_t now_us, uint64_t ntp)
{
	if (end < HDR_SIZE + 4 + (size_t)count * RBLOCK_SIZE)
		return EBADMSG;

	if (!apply || rd32(p + 4) == rc->ssrc)
		return 0;

	apply_rblocks(rc, p + HDR_SIZE + 4, count, now_us, ntp);

	return 0;
}


static int do_sdes(const uint8_t *p, size_t end, unsigned count)
{
	size_t o = HDR_SIZE;

	for (unsigned i = 0; i < count; i++) {

		if (end - o < 4)
			return EBADMSG;
		o += 4;                             /* SSRC/CSRC */

		for (;;) {
			if (o >= end)
				return EBADMSG;     /* no END item */

			if (p[o] == 0) {            /* END */
				++o;
				break;
			}

			if (end - o < 2 || end - o - 2 < p[o + 1])
				return EBADMSG;

			o += 2 + (size_t)p[o + 1];
		}

		o = (o + 3) & ~(size_t)3;           /* chunk padding */
		if (o > end)
			return EBADMSG;
	}

	/* anything after the chunks may only be null octets */
	for (; o < end; o++) {
		if (p[o])
			return EBADMSG;
	}

	return 0;
}


static int do_bye(struct rtcpx *rc, const uint8_t *p, size_t end,
		  unsigned count, bool apply)
{
	size_t o = HDR_SIZE + (size_t)count * 4;

	if (end < o)
		return EBADMSG;

	/* optional reason: length octet and text */
	if (end > o && end - o - 1 < p[o])
		return EBADMSG;

	if (!apply)
		return 0;

	for (unsigned i = 0; i < count; i++) {
		const uint32_t ssrc = rd32(p + HDR_SIZE + 4 * i);

		if (ssrc == rc->ssrc)
			continue;

		if (from_peer(rc, ssrc) ||
		    (rc->have_sr && ssrc == rc->sr_ssrc))
			rc->bye = true;
	}

	return 0;
}


static int walk(struct rtcpx *rc, const uint8_t *buf, size_t len,
		bool apply, uint64_t now_us, uint64_t ntp)
{
	size_t off = 0;
	int err = 0;

	if (len == 0)
		return EBADMSG;

	while (off < len && !err) {
		const uint8_t *p = buf + off;
		size_t plen, end;
		unsigned count, pt;

		if (len - off < HDR_SIZE)
			return EBADMSG;

		if ((p[0] >> 6) != 2)
			return EBADMSG;

		count = p[0] & 0x1f;
		pt    = p[1];
		plen  = 4 * ((size_t)rd16(p + 2) + 1);

		if (plen > len - off)
			return EBADMSG;

		if (pt < 192 || pt > 223)
			return EBADMSG;

		if (off == 0 && pt != RTCPX_SR && pt != RTCPX_RR)
			return EBADMSG;

		end = plen;
		if (p[0] & 0x20) {
			/* padding: last packet only, count includes itself */
			const uint8_t n = p[plen - 1];

			if (off + plen != len || n == 0 || n > plen - HDR_SIZE)
				return EBADMSG;

			end -= n;
		}

		switch (pt) {

		case RTCPX_SR:
			err = do_sr(rc, p, end, count, apply, now_us, ntp);
			break;

		case RTCPX_RR:
			err = do_rr(rc, p, end, count, apply, now_us, ntp);
			break;

		case RTCPX_SDES:
			err = apply ? 0 : do_sdes(p, end, count);
			break;

		case RTCPX_BYE:
			err = do_bye(rc, p, end, count, apply);
			break;

		default:
			/* APP, RTPFB, PSFB, XR, ...: skipped by length */
			break;
		}

		off += plen;
	}

	return err;
}


/**
 * Parse a compound RTCP packet from the peer and record what concerns us
 *
 * @param rc      RTCP session
 * @param buf     Datagram
 * @param len     Datagram length [bytes]
 * @param now_us  Arrival time on the caller's monotonic clock [us]
 * @param ntp     Arrival time as a 64-bit NTP timestamp (for the RTT)
 *
 * @return 0 if success, EINVAL for NULL arguments, EBADMSG if the datagram
 *         is not a valid compound RTCP packet (then nothing is recorded)
 */
int rtcpx_decode(struct rtcpx *rc, const uint8_t *buf, size_t len,
		 uint64_t now_us, uint64_t ntp)
{
	int err;

	if (!rc || !buf)
		return EINVAL;

	err = walk(rc, buf, len, false, now_us, ntp);
	if (err) {
		++rc->n_bad;
		return err;
	}

	(void)walk(rc, buf, len, true, now_us, ntp);
	++rc->n_recv;

	return 0;
}


/**
 * Compute an RTCP report interval (RFC 3550 6.3.1, no reconsideration)
 *
 * @param ivl  Inputs
 * @param rng  xorshift32 state for the [0.5, 1.5) factor; NULL for the
 *             deterministic interval
 *
 * @return Interval [ms]; 0 if ivl is NULL
 */
uint32_t rtcpx_interval_ms(const struct rtcpx_ivl *ivl, uint32_t *rng)
{
	uint64_t n, bw, t, tmin;

	if (!ivl)
		return 0;

	tmin = ivl->initial ? RTCPX_MIN_INTERVAL_MS / 2 :
		RTCPX_MIN_INTERVAL_MS;
	n  = ivl->members ? ivl->members : 1;
	bw = ivl->rtcp_bw;

	/* few senders: they share a quarter of the bandwidth */
	if (ivl->senders > 0 && (uint64_t)ivl->senders * 4 <= n) {
		if (ivl->we_sent) {
			bw /= 4;
			n   = ivl->senders;
		}
		else {
			bw  = bw * 3 / 4;
			n  -= ivl->senders;
		}
	}

	t = bw ? (uint64_t)ivl->avg_size * n * 1000 / bw : tmin;
	if (t < tmin)
		t = tmin;

	if (rng) {
		if (!*rng)
			*rng = 0x9e3779b9u;
		t = t / 2 + ((t * xorshift32(rng)) >> 32);
	}

	return t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}


/**
 * Compute the interval until this session's next report
 *
 * @param rc          RTCP session (its randomisation state advances)
 * @param session_bw  Session bandwidth [bit/s], RTCP gets 5 % of it
 *
 * @return Interval [ms], randomised
 */
uint32_t rtcpx_next_interval_ms(struct rtcpx *rc, uint32_t session_bw)
{
	struct rtcpx_ivl ivl;
	bool peer_sent;

	if (!rc)
		return RTCPX_MIN_INTERVAL_MS;

	peer_sent = rc->rx.packets > rc->rpt_received;

	ivl.we_sent  = rc->tx.packets > rc->rpt_sent;
	ivl.members  = 1 + (rc->rx.valid || rc->have_sr ? 1 : 0);
	ivl.senders  = (ivl.we_sent ? 1 : 0) + (peer_sent ? 1 : 0);
	ivl.initial  = rc->n_sent == 0;
	ivl.rtcp_bw  = session_bw / 8 / 20;
	ivl.avg_size = rc->avg_size ? rc->avg_size : 128;

	return rtcpx_interval_ms(&ivl, &rc->rng);
}


/**
 * Take a snapshot of the call's RTP/RTCP figures
 *
 * @param rc  RTCP session
 * @param st  Snapshot (output)
 */
void rtcpx_stats(const struct rtcpx *rc, struct rtcpx_stats *st)
{
	if (!st)
		return;

	memset(st, 0, sizeof(*st));
	if (!rc)
		return;

	st->rx_packets       = rc->rx.packets;
	st->rx_octets        = rc->rx.octets;
	st->rx_discarded     = rc->rx.discarded;
	st->rx_expected      = rc->rx.expected_prev +
		rtpstat_rx_expected(&rc->rx);
	st->rx_lost          = rc->rx.lost_prev + rtpstat_rx_lost(&rc->rx);
	st->rx_fraction_lost = rc->rx.fraction_lost;
	st->rx_jitter_ms     = rtpstat_rx_jitter(&rc->rx) * 1000.0 /
		rc->rx.clock_rate;
	st->rx_ssrc_changes  = rc->rx.ssrc_changes;
	st->tx_packets       = rc->tx.packets;
	st->tx_octets        = rc->tx.octets;

	st->remote_valid = rc->have_rb;
	if (rc->have_rb) {
		st->remote_fraction_lost = rc->rb.fraction_lost;
		st->remote_lost          = rc->rb.cum_lost;
		st->remote_jitter_ms     = rc->rb.jitter * 1000.0 /
			rc->tx.clock_rate;
	}

	st->rtt_valid = rc->have_rtt;
	if (rc->have_rtt)
		st->rtt_ms = rc->rtt_us / 1000.0;

	st->rtcp_sent = rc->n_sent;
	st->rtcp_recv = rc->n_recv;
	st->rtcp_bad  = rc->n_bad;
	st->bye       = rc->bye;
}


/**
 * Convert Unix time to a 64-bit NTP timestamp
 *
 * @param unix_us  Microseconds since 1970-01-01 UTC
 *
 * @return NTP timestamp: seconds since 1900 in the high 32 bits, fraction
 *         in the low 32 bits
 */
uint64_t rtcpx_ntp_from_unix_us(uint64_t unix_us)
{
	const uint64_t sec  = unix_us / 1000000 + NTP_UNIX_OFFSET;
	const uint64_t frac = ((unix_us % 1000000) << 32) / 1000000;

	return sec << 32 | frac;
}


/**
 * Read the wall clock as a 64-bit NTP timestamp
 *
 * @return NTP timestamp of now (CLOCK_REALTIME)
 */
uint64_t rtcpx_ntp_now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts))
		return 0;

	return rtcpx_ntp_from_unix_us((uint64_t)ts.tv_sec * 1000000 +
				      (uint64_t)ts.tv_nsec / 1000);
}
