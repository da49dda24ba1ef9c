/**
 * @file fuzz_twilio.c  Fuzz target: a text frame from an agent, parsed as
 *                      Twilio Media Streams (gateway/agent/twilio.c)
 *
 * Input: the frame's text. twilio_parse() (the allocation-free scanner
 * for `media`, jansson for the rest) must agree with twilio_parse_dom()
 * (jansson only) on everything it reports, and a media payload is
 * decoded as the media worker does it (base64 in bounded pieces).
 */
#include <stdlib.h>
#include <string.h>
#include "cb_re.h"
#include "b64.h"
#include "twilio.h"
#include "fuzz.h"


static bool str_same(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && (!alen || !memcmp(a, b, alen));
}


/* agent_media(): 4 base64 characters give 3 bytes, at most 8188 a go */
static void payload_decode(const char *b64, size_t len)
{
	uint8_t buf[8192];

	while (len) {
		size_t n = len > 8188 ? 8188 : len;
		size_t olen = sizeof(buf);

		if (b64_decode(buf, &olen, b64, n))
			return;
		FUZZ_ASSERT(olen <= n / 4 * 3 + 3);
		b64 += n;
		len -= n;
	}
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct twilio_in in, ref;
	char err[128], rerr[128];
	int e, re;

	e = twilio_parse(&in, text, size, err, sizeof(err));
	re = twilio_parse_dom(&ref, text, size, rerr, sizeof(rerr));

	FUZZ_ASSERT(e == re);
	if (!e) {
		FUZZ_ASSERT(in.ev == ref.ev);
		if (in.ev == TWILIO_EV_MEDIA) {
			FUZZ_ASSERT(str_same(in.payload, in.payload_len,
					     ref.payload, ref.payload_len));
			payload_decode(in.payload, in.payload_len);
		}
		FUZZ_ASSERT(!in.mark == !ref.mark);
		if (in.mark)
			FUZZ_ASSERT(!strcmp(in.mark, ref.mark));
		FUZZ_ASSERT(in.digit == ref.digit);
		FUZZ_ASSERT(in.duration == ref.duration);
		if (in.ev == TWILIO_EV_DTMF)
			FUZZ_ASSERT(in.digit && strchr("0123456789*#ABCDabcd",
						       in.digit));
	}

	twilio_in_reset(&in);
	twilio_in_reset(&ref);
	return 0;
}
