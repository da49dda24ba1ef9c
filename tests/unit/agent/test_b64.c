/**
 * @file test_b64.c  Base64 for audio payloads
 *
 * RFC 4648 section 10 vectors; round trips of every length 0..400 with
 * seeded random bytes, checked against libre's independent encoder;
 * refusal of text that is not base64.
 */
#include <stdlib.h>
#include "cb_re.h"
#include "b64.h"
#include "test.h"

static const struct { const char *raw, *b64; } vectors[] = {
	{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
	{"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
};

static const char *bad[] = {
	"Zg=", "Zg", "Z===", "Zm9v!", "Zm 9v", "=Zm9", "Zm=v", "Zg==Zg==",
	"Zm9\n", "\xff\xff\xff\xff",
	/* one bad character at each position of a full and a final quad */
	"!m9vZm9v", "Z!9vZm9v", "Zm!vZm9v", "Zm9!Zm9v",
	"Zm9v!m9v", "Zm9vZ!9v", "Zm9vZm!v", "Zm9vZm9!", "Zm9vZm9=Zm9v",
};


int main(void)
{
	uint8_t raw[400], out[400];
	char enc[600], ref[600];

	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		size_t n = strlen(vectors[i].raw), olen = sizeof(out);

		TEST_EQ(b64_encode(enc, (const uint8_t *)vectors[i].raw, n),
			strlen(vectors[i].b64));
		TEST_ASSERT(!memcmp(enc, vectors[i].b64,
				    strlen(vectors[i].b64)));
		TEST_ERR(b64_decode(out, &olen, vectors[i].b64,
				    strlen(vectors[i].b64)), 0);
		TEST_EQ(olen, n);
		TEST_ASSERT(!memcmp(out, vectors[i].raw, n));
	}

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t olen = sizeof(out);

		if (b64_decode(out, &olen, bad[i], strlen(bad[i])) != EBADMSG)
			TEST_FAIL("accepted \"%s\"", bad[i]);
	}

	srand(4648);
	for (size_t n = 0; n <= sizeof(raw); n++) {
		size_t elen, rlen = sizeof(ref), olen = sizeof(out);

		for (size_t k = 0; k < n; k++)
			raw[k] = (uint8_t)rand();

		elen = b64_encode(enc, raw, n);
		TEST_EQ(elen, B64_ENC_LEN(n));
		TEST_ERR(base64_encode(raw, n, ref, &rlen), 0);
		TEST_EQ(rlen, elen);
		TEST_ASSERT(!memcmp(enc, ref, elen));

		TEST_ERR(b64_decode(out, &olen, enc, elen), 0);
		TEST_EQ(olen, n);
		TEST_ASSERT(!memcmp(out, raw, n));

		/* a buffer one byte short is refused, not overrun */
		if (n) {
			olen = n - 1;
			TEST_ERR(b64_decode(out, &olen, enc, elen), ENOSPC);
		}
	}

	return 0;
}
