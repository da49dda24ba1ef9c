/**
 * @file test_twilio.c  Twilio wire format: formatting and parsing
 *
 * 1. `media` as formatted is what jansson reads back, field by field.
 * 2. The parser's allocation-free fast path agrees with the jansson
 *    reference (twilio_parse_dom) on a table of frames and on seeded
 *    mutations of them: same result, same event, same payload bytes.
 * 3. What the events other than media (which only the reference reads)
 *    yield, and which of their fields are refused, with the reason.
 */
#include <errno.h>
#include <stdlib.h>
#include "cb_re.h"
#include "twilio.h"
#include "test.h"

static const char *corpus[] = {
	"{\"event\":\"media\",\"streamSid\":\"MZ1\",\"media\":"
	"{\"payload\":\"AAEC\"}}",
	"{\"event\":\"media\",\"media\":{\"track\":\"outbound\",\"chunk\":\"1\","
	"\"timestamp\":\"5\",\"payload\":\"/+7d\"},\"streamSid\":\"MZ\"}",
	" { \"media\" : { \"payload\" : \"3q2+7w==\" , \"x\":[1,2.5e3,-0,"
	"{\"y\":null}] } , \"event\" : \"media\" } ",
	"{\"event\":\"media\",\"media\":{\"payload\":\"a\\/b=\"}}",
	"{\"event\":\"media\",\"media\":{\"payload\":\"\"}}",
	"{\"event\":\"media\",\"media\":{\"payload\":12}}",
	"{\"event\":\"media\",\"media\":[\"payload\"]}",
	"{\"event\":\"media\",\"media\":{}}",
	"{\"event\":\"media\",\"event\":\"media\",\"media\":{\"payload\":\"\"}}",
	"{\"event\":\"media\",\"media\":{\"payload\":\"AA\",\"payload\":\"BB\"}}",
	"{\"event\":\"m\\u0065dia\",\"media\":{\"payload\":\"AAAA\"}}",
	"{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\"},\"n\":\"\xc3\xa9\"}",
	"{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\"},\"n\":\"\xc3\"}",
	"{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\"}}x",
	"{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\"},}",
	"{\"event\":\"media\",\"media\":{\"payload\":\"AA\nAA\"}}",
	"{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\"},\"v\":01}",
	"{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\"},\"v\":tru}",
	"{\"event\":\"mark\",\"mark\":{\"name\":\"m1\"}}",
	"{\"event\":\"mark\"}",
	"{\"event\":\"clear\",\"streamSid\":\"MZ\"}",
	"{\"event\":\"dtmf\",\"dtmf\":{\"digit\":\"5\",\"duration\":200}}",
	"{\"event\":\"dtmf\",\"dtmf\":{\"digit\":\"55\"}}",
	"{\"event\":\"whatever\",\"media\":{\"payload\":\"AAAA\"}}",
	"{\"media\":{\"payload\":\"AAAA\"}}",
	"[\"event\",\"media\"]",
	"not json",
	"",
	/* found by fuzzing (tests/fuzz/corpus/twilio/crash-dup-key): what
	   jansson refuses and the fast path took */
	"{\"event\":\"media\",\"media\":{\"chunk\":\"1\",\"chunk\":\"2\","
	"\"payload\":\"AAAA\"}}",
	"{\"event\":\"media\",\"x\":{\"a\":1,\"a\":2},\"media\":"
	"{\"payload\":\"AAAA\"}}",
	"{\"event\":\"media\",\"n\":99999999999999999999,\"media\":"
	"{\"payload\":\"AAAA\"}}",
	"{\"event\":\"media\",\"n\":-9223372036854775809,\"media\":"
	"{\"payload\":\"AAAA\"}}",
	"{\"event\":\"media\",\"n\":1e400,\"media\":{\"payload\":\"AAAA\"}}",
	"{\"event\":\"media\",\"n\":\"\\ud800\",\"media\":"
	"{\"payload\":\"AAAA\"}}",
	"{\"event\":\"media\",\"n\":\"\\u0000\",\"media\":"
	"{\"payload\":\"AAAA\"}}",
	"{\"event\":\"media\",\"media\":{\"payload\":\"AAAA\",\"d\":"
	"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
	"]]]]]]]]]]]}}",
};


static void agree(const char *txt, size_t len)
{
	struct twilio_in a, b;
	char ea[128], eb[128];
	int ra, rb;

	ra = twilio_parse(&a, txt, len, ea, sizeof(ea));
	rb = twilio_parse_dom(&b, txt, len, eb, sizeof(eb));

	if (ra != rb || a.ev != b.ev)
		TEST_FAIL("fast %d/%d, reference %d/%d for: %.*s", ra, a.ev,
			  rb, b.ev, (int)len, txt);

	if (!ra && a.ev == TWILIO_EV_MEDIA &&
	    (a.payload_len != b.payload_len ||
	     memcmp(a.payload, b.payload, a.payload_len)))
		TEST_FAIL("payloads differ for: %.*s", (int)len, txt);

	twilio_in_reset(&a);
	twilio_in_reset(&b);
}


static void check_format(void)
{
	struct twilio_in in;
	char buf[1024], err[64];
	uint8_t audio[160];
	json_t *j, *m;
	int n;

	for (size_t i = 0; i < sizeof(audio); i++)
		audio[i] = (uint8_t)(i * 7);

	n = twilio_fmt_media(buf, sizeof(buf), 4294967295u,
			     "MZ0123456789abcdef0123456789abcdef", 7,
			     18446744073709551615ull, audio, sizeof(audio));
	TEST_ASSERT(n > 0 && (size_t)n == strlen(buf));

	j = json_loads(buf, JSON_REJECT_DUPLICATES, NULL);
	TEST_ASSERT(j);
	m = json_object_get(j, "media");
	TEST_STREQ(json_string_value(json_object_get(j, "event")), "media");
	TEST_STREQ(json_string_value(json_object_get(j, "sequenceNumber")),
		   "4294967295");
	TEST_STREQ(json_string_value(json_object_get(j, "streamSid")),
		   "MZ0123456789abcdef0123456789abcdef");
	TEST_STREQ(json_string_value(json_object_get(m, "track")),
		   "inbound");
	TEST_STREQ(json_string_value(json_object_get(m, "chunk")), "7");
	TEST_STREQ(json_string_value(json_object_get(m, "timestamp")),
		   "18446744073709551615");
	json_decref(j);

	/* the parser reads the payload back bytewise */
	TEST_ERR(twilio_parse(&in, buf, (size_t)n, err, sizeof(err)), 0);
	TEST_EQ(in.ev, TWILIO_EV_MEDIA);
	{
		uint8_t out[200];
		size_t olen = sizeof(out), rlen = 400;
		char ref[400];

		TEST_ERR(base64_decode(in.payload, in.payload_len, out, &olen),
			 0);
		TEST_EQ(olen, sizeof(audio));
		TEST_ASSERT(!memcmp(out, audio, olen));
		TEST_ERR(base64_encode(audio, sizeof(audio), ref, &rlen), 0);
		TEST_EQ(rlen, in.payload_len);
	}
	twilio_in_reset(&in);

	/* too small a buffer is refused */
	TEST_ASSERT(twilio_fmt_media(buf, 100, 1, "MZ", 1, 0, audio, 160) < 0);
}

static void check_events(void)
{
	static const struct {
		const char *txt;
		int err;
		enum twilio_event ev;
		const char *mark;     /* MARK: the name, NULL if none */
		char digit;
		uint32_t duration;
		const char *why;      /* the error's text */
	} t[] = {
		{"{\"event\":\"mark\",\"mark\":{\"name\":\"m1\"}}", 0,
		 TWILIO_EV_MARK, "m1", 0, 0, NULL},
		{"{\"event\":\"mark\",\"mark\":{\"name\":null}}", 0,
		 TWILIO_EV_MARK, NULL, 0, 0, NULL},
		{"{\"event\":\"mark\"}", 0, TWILIO_EV_MARK, NULL, 0, 0,
		 NULL},
		{"{\"event\":\"mark\",\"mark\":null}", 0, TWILIO_EV_MARK,
		 NULL, 0, 0, NULL},
		{"{\"event\":\"mark\",\"mark\":\"m1\"}", EBADMSG,
		 TWILIO_EV_UNKNOWN, NULL, 0, 0, "mark is not an object"},
		{"{\"event\":\"mark\",\"mark\":{\"name\":7}}", EBADMSG,
		 TWILIO_EV_UNKNOWN, NULL, 0, 0, "mark.name is not a string"},
		{"{\"event\":\"clear\",\"streamSid\":\"MZ\"}", 0,
		 TWILIO_EV_CLEAR, NULL, 0, 0, NULL},
		{"{\"event\":\"dtmf\",\"dtmf\":{\"digit\":\"#\"}}", 0,
		 TWILIO_EV_DTMF, NULL, '#', 0, NULL},
		{"{\"event\":\"dtmf\",\"dtmf\":{\"digit\":\"b\","
		 "\"duration\":40}}", 0, TWILIO_EV_DTMF, NULL, 'b', 40, NULL},
		{"{\"event\":\"dtmf\",\"dtmf\":{\"digit\":\"5\","
		 "\"duration\":5000}}", 0, TWILIO_EV_DTMF, NULL, '5', 5000,
		 NULL},
		{"{\"event\":\"dtmf\",\"dtmf\":{\"digit\":\"5\","
		 "\"duration\":39}}", EBADMSG, TWILIO_EV_UNKNOWN, NULL, 0, 0,
		 "dtmf.duration 39 out of 40..5000 ms"},
		{"{\"event\":\"dtmf\",\"dtmf\":{\"digit\":\"5\","
		 "\"duration\":\"200\"}}", EBADMSG, TWILIO_EV_UNKNOWN, NULL,
		 0, 0, "dtmf.duration is not an integer"},
		{"{\"event\":\"dtmf\",\"dtmf\":{\"digit\":\"E\"}}",
		 EBADMSG, TWILIO_EV_UNKNOWN, NULL, 0, 0,
		 "dtmf.digit must be one of 0-9 * # A-D"},
		{"{\"event\":\"dtmf\"}", EBADMSG, TWILIO_EV_UNKNOWN, NULL, 0,
		 0, "dtmf.digit must be one of 0-9 * # A-D"},
		{"{\"event\":\"media\",\"media\":{}}", EBADMSG,
		 TWILIO_EV_UNKNOWN, NULL, 0, 0, "media without media.payload"},
		{"{\"event\":\"start\"}", 0, TWILIO_EV_UNKNOWN, NULL, 0, 0,
		 NULL},
		{"{\"event\":7}", EBADMSG, TWILIO_EV_UNKNOWN, NULL, 0, 0,
		 "no \"event\" string"},
		{"[1]", EBADMSG, TWILIO_EV_UNKNOWN, NULL, 0, 0,
		 "not a JSON object"},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct twilio_in in;
		char err[96] = "";

		if (twilio_parse(&in, t[i].txt, strlen(t[i].txt), err,
				 sizeof(err)) != t[i].err || in.ev != t[i].ev)
			TEST_FAIL("%s: ev %d (%s), want %d", t[i].txt, in.ev,
				  err, t[i].ev);
		if (t[i].err) {
			TEST_STREQ(err, t[i].why);
			TEST_ASSERT(in.json == NULL);
		}
		if (t[i].mark)
			TEST_STREQ(in.mark, t[i].mark);
		else
			TEST_ASSERT(in.mark == NULL);
		if (t[i].ev == TWILIO_EV_DTMF) {
			TEST_EQ(in.digit, t[i].digit);
			TEST_EQ(in.duration, t[i].duration);
		}
		twilio_in_reset(&in);
	}
}


int main(void)
{
	char buf[1024];

	check_format();
	check_events();

	for (size_t i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++)
		agree(corpus[i], strlen(corpus[i]));

	/* seeded mutations: truncate, flip, insert, delete */
	srand(20261121);
	for (int round = 0; round < 40000; round++) {
		const char *src = corpus[(size_t)rand() %
					 (sizeof(corpus) / sizeof(corpus[0]))];
		size_t len = strlen(src);
		int op = rand() % 4;
		size_t pos = len ? (size_t)rand() % len : 0;
		static const char pool[] = "{}[]\":,\\ \t\nue0aA=/+-.\x80\xc3";

		memcpy(buf, src, len);
		switch (op) {
		case 0:
			len = pos;
			break;
		case 1:
			if (len)
				buf[pos] = pool[(size_t)rand() %
						(sizeof(pool) - 1)];
			break;
		case 2:
			memmove(buf + pos + 1, buf + pos, len - pos);
			buf[pos] = pool[(size_t)rand() % (sizeof(pool) - 1)];
			++len;
			break;
		default:
			if (len) {
				memmove(buf + pos, buf + pos + 1, len - pos - 1);
				--len;
			}
			break;
		}

		/* exact-size heap copy: ASan sees any read past the end */
		{
			char *h = malloc(len ? len : 1);
			memcpy(h, buf, len);
			agree(h, len);
			free(h);
		}
	}

	return 0;
}
