/**
 * @file fuzz_dtmf.c  Fuzz target: RFC 4733 telephone-events from the
 *                    network, and key presses an agent asks for
 *                    (rtp/dtmf.c)
 *
 * Input: byte 0 the clock (bit 0: 48 kHz, else 8 kHz) and the receive
 * timeout (bits 1-7, x 10 ms; 0: the default); then packets (struct
 * fuzz_pkt), whole RTP packets of the telephone-event payload type as
 * the media worker hands them over (dtmf_rx_put); flags bit 0: poll the
 * timeout first; bit 1: the agent asks for a key press (the packet's
 * first byte the digit, the next two the duration [ms]), and the
 * generator is ticked over the time that passed.
 * Properties: each key press is reported begun, then ended, once each,
 * never two open at a time, with a digit that is a DTMF key; every
 * packet the generator makes carries one report of the key it plays.
 */
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "dtmf.h"
#include "rtpkt.h"
#include "fuzz.h"

struct press {
	bool open;
	unsigned begun, ended;
};


static void on_event(const struct dtmf_event *ev, void *arg)
{
	struct press *p = arg;

	FUZZ_ASSERT(ev->code <= DTMF_CODE_MAX);
	FUZZ_ASSERT(ev->digit == dtmf_digit(ev->code));
	if (!ev->end) {
		FUZZ_ASSERT(!p->open);
		p->open = true;
		++p->begun;
	}
	else {
		FUZZ_ASSERT(p->open);
		p->open = false;
		++p->ended;
	}
}


static void agent_key(struct dtmf_tx *tx, const struct fuzz_pkt *pk,
		      uint32_t *ts)
{
	char digit = pk->len > 0 ? (char)pk->p[0] : '5';
	uint32_t ms = pk->len > 2 ? (uint32_t)(pk->p[1] << 8 | pk->p[2]) :
		200;
	struct dtmf_pkt out;
	unsigned ticks = pk->dt_us / 20000 + 1;

	(void)dtmf_tx_push(tx, digit, ms);

	for (unsigned i = 0; i < ticks; i++) {
		*ts += tx->step;
		if (dtmf_tx_tick(tx, *ts, &out))
			continue;
		FUZZ_ASSERT(out.code <= DTMF_CODE_MAX);
		FUZZ_ASSERT(out.payload[0] == out.code);
		FUZZ_ASSERT(!!(out.payload[1] & 0x80) == out.end);
		FUZZ_ASSERT((out.payload[2] << 8 | out.payload[3]) ==
			    out.duration);
	}
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct fuzz_pkt pk;
	struct press press;
	struct dtmf_rx rx;
	struct dtmf_tx tx;
	uint64_t now = 1000000;
	uint32_t tx_ts = 0;
	uint8_t conf = fuzz_u8(&in);
	uint32_t clock = (conf & 1) ? 48000 : 8000;

	memset(&press, 0, sizeof(press));
	FUZZ_ASSERT(dtmf_rx_init(&rx, clock, on_event, &press) == 0);
	if (conf >> 1)
		dtmf_rx_set_timeout(&rx, (conf >> 1) * 10u);
	FUZZ_ASSERT(dtmf_tx_init(&tx, clock, 20) == 0);

	while (fuzz_pkt_next(&in, &pk)) {
		struct rtpkt k;

		now += pk.dt_us;
		if (pk.flags & 1)
			dtmf_rx_poll(&rx, now);
		if (pk.flags & 2) {
			agent_key(&tx, &pk, &tx_ts);
			continue;
		}
		if (!rtpkt_decode(&k, pk.p, pk.len))
			(void)dtmf_rx_put(&rx, &k, now);
	}

	dtmf_rx_flush(&rx);
	FUZZ_ASSERT(!press.open && press.begun == press.ended);
	FUZZ_ASSERT(rx.stats.presses >= press.begun);

	return 0;
}
