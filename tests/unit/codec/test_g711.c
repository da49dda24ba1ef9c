/**
 * @file test_g711.c  G.711 µ-law/A-law against the Recommendation
 *
 * The reference model here is written from G.711 (11/88) Tables 1-4 and
 * deliberately differs in method from codec/g711.c: decoding by the
 * output-value formulas, encoding by a search over decision values,
 * transcoding tables rebuilt from the rules stated in g711.c's design note.
 * Every assertion covers all 256 codes or all 65536 linear inputs.
 */
#include <math.h>
#include <stdbool.h>
#include "test.h"
#include "g711.h"


/* µ-law output value number n (0..127) as a 16-bit magnitude (Table 2) */
static int ref_umag(int n)
{
	const int seg = n >> 4, step = 8 << seg;

	return (128 << seg) + step * (n & 15) + step / 2 - 132;
}


/* A-law output value number n (0..127, 0-based) as a 16-bit magnitude */
static int ref_amag(int n)
{
	const int seg = n >> 4, mant = n & 15;

	if (seg == 0)
		return 16 * mant + 8;

	return (256 + 16 * mant + 8) << (seg - 1);
}


/* lower decision value of A-law number n, 16-bit scale */
static int ref_alo(int n)
{
	const int seg = n >> 4, mant = n & 15;

	return seg == 0 ? 16 * mant : (256 + 16 * mant) << (seg - 1);
}


/* lower decision value of µ-law number n, 16-bit scale */
static int ref_ulo(int n)
{
	const int seg = n >> 4, mant = n & 15;
	const int lo = ((16 + mant) << (seg + 3)) - 132;

	return lo < 0 ? 0 : lo;
}


/* byte <-> (sign, number) per the character signals of Tables 1 and 2 */
static int ucode_num(uint8_t u) { return (u ^ 0xff) & 0x7f; }
static int ucode_neg(uint8_t u) { return !(u & 0x80); }
static uint8_t num_ucode(int n, int neg) { return (uint8_t)~(n | (neg ? 0x80 : 0)); }
static int acode_num(uint8_t a) { return (a ^ 0x55) & 0x7f; }
static int acode_neg(uint8_t a) { return !(a & 0x80); }
static uint8_t num_acode(int n, int neg) { return (uint8_t)((n | (neg ? 0 : 0x80)) ^ 0x55); }


static int ref_ulaw_dec(uint8_t u)
{
	const int m = ref_umag(ucode_num(u));
	return ucode_neg(u) ? -m : m;
}


static int ref_alaw_dec(uint8_t a)
{
	const int m = ref_amag(acode_num(a));
	return acode_neg(a) ? -m : m;
}


/* encoders by decision-value search; negative side in one's complement */
static uint8_t ref_ulaw_enc(int x)
{
	const int neg = x < 0;
	const int mag = neg ? -x - 1 : x;
	int n;

	for (n = 127; n > 0; n--) {
		if (mag >= ref_ulo(n))
			break;
	}

	return num_ucode(n, neg);
}


static uint8_t ref_alaw_enc(int x)
{
	const int neg = x < 0;
	const int mag = neg ? -x - 1 : x;
	int n;

	for (n = 127; n > 0; n--) {
		if (mag >= ref_alo(n))
			break;
	}

	return num_acode(n, neg);
}


static void test_known_values(void)
{
	static const struct { uint8_t code; int16_t lin; } ulaw[] = {
		{0x00, -32124}, {0x80, 32124}, {0xff, 0}, {0x7f, 0},
		{0xfe, 8}, {0x7e, -8}, {0xef, 132}, {0xf0, 120},
		{0xdf, 396}, {0x9f, 8316}, {0x8f, 16764}, {0x1f, -8316},
	};
	static const struct { uint8_t code; int16_t lin; } alaw[] = {
		{0xd5, 8}, {0x55, -8}, {0xaa, 32256}, {0x2a, -32256},
		{0xd4, 24}, {0xc5, 264}, {0xf5, 528}, {0x80, 5504},
	};

	for (size_t i = 0; i < sizeof(ulaw) / sizeof(ulaw[0]); i++)
		TEST_EQ(g711_ulaw2lin(ulaw[i].code), ulaw[i].lin);

	for (size_t i = 0; i < sizeof(alaw) / sizeof(alaw[0]); i++)
		TEST_EQ(g711_alaw2lin(alaw[i].code), alaw[i].lin);

	/* encoder extremes and zero */
	TEST_EQ(g711_lin2ulaw(0), 0xff);
	TEST_EQ(g711_lin2ulaw(-1), 0x7f);
	TEST_EQ(g711_lin2ulaw(32767), 0x80);
	TEST_EQ(g711_lin2ulaw(-32768), 0x00);
	TEST_EQ(g711_lin2ulaw(32124), 0x80);
	TEST_EQ(g711_lin2alaw(0), 0xd5);
	TEST_EQ(g711_lin2alaw(-1), 0x55);
	TEST_EQ(g711_lin2alaw(32767), 0xaa);
	TEST_EQ(g711_lin2alaw(-32768), 0x2a);
	TEST_EQ(G711_ULAW_SILENCE, g711_lin2ulaw(0));
	TEST_EQ(G711_ALAW_SILENCE, g711_lin2alaw(0));
}


static void test_decode_all(void)
{
	for (int c = 0; c < 256; c++) {
		TEST_EQ(g711_ulaw2lin((uint8_t)c), ref_ulaw_dec((uint8_t)c));
		TEST_EQ(g711_alaw2lin((uint8_t)c), ref_alaw_dec((uint8_t)c));
	}

	/* monotonic in the output value number, both signs */
	for (int n = 1; n < 128; n++) {
		TEST_ASSERT(g711_ulaw2lin(num_ucode(n, 0)) >
			    g711_ulaw2lin(num_ucode(n - 1, 0)));
		TEST_ASSERT(g711_ulaw2lin(num_ucode(n, 1)) <
			    g711_ulaw2lin(num_ucode(n - 1, 1)));
		TEST_ASSERT(g711_alaw2lin(num_acode(n, 0)) >
			    g711_alaw2lin(num_acode(n - 1, 0)));
		TEST_ASSERT(g711_alaw2lin(num_acode(n, 1)) <
			    g711_alaw2lin(num_acode(n - 1, 1)));
	}
}


static void test_roundtrip(void)
{
	for (int c = 0; c < 256; c++) {
		const uint8_t u = (uint8_t)c;

		/* µ-law negative zero decodes to 0, which encodes as +0 */
		if (u == 0x7f)
			TEST_EQ(g711_lin2ulaw(g711_ulaw2lin(u)), 0xff);
		else
			TEST_EQ(g711_lin2ulaw(g711_ulaw2lin(u)), u);

		TEST_EQ(g711_lin2alaw(g711_alaw2lin(u)), u);
	}
}


static void test_encode_all(void)
{
	for (int x = -32768; x <= 32767; x++) {
		const int16_t s = (int16_t)x;
		const uint8_t u = g711_lin2ulaw(s), a = g711_lin2alaw(s);

		TEST_EQ(u, ref_ulaw_enc(x));
		TEST_EQ(a, ref_alaw_enc(x));

		/* quantisation error within half a step (+1 for the one's
		 * complement of negatives), except where the laws clip */
		if (x >= -32124 && x <= 32124) {
			const int n = ucode_num(u);
			const int half = (8 << (n >> 4)) / 2;
			TEST_ASSERT(abs(g711_ulaw2lin(u) - x) <= half + 1);
		}
		if (x >= -32256 && x <= 32256) {
			const int n = acode_num(a);
			const int half = (n < 32 ? 16 : 16 << ((n >> 4) - 1)) / 2;
			TEST_ASSERT(abs(g711_alaw2lin(a) - x) <= half + 1);
		}
	}
}


/* Table 3 and 4 rebuilt from their rules (see g711.c) */
static void ref_tables(int u2a[128], int a2u[128])
{
	const double k = 2.0 * 4096.0 / 8159.0 * pow(10.0, 0.03 / 20.0);

	for (int n = 0; n < 128; n++) {
		const double level = ref_umag(n) * k;
		int r;

		for (r = 127; r > 0; r--) {
			if (level >= ref_alo(r))
				break;
		}
		u2a[n] = r;
	}

	for (int r = 0; r < 128; r++) {
		a2u[r] = -1;
		for (int n = 0; n < 128; n++) {
			if (u2a[n] == r)
				a2u[r] = n;      /* the larger preimage */
		}
		if (a2u[r] >= 0)
			continue;
		for (int n = 0; n < 128; n++) {
			if (u2a[n] == (r ^ 1))
				a2u[r] = n;
		}
		TEST_ASSERT(a2u[r] >= 0);
	}
}


/* one byte through the bulk transcoders */
static uint8_t one_u2a(uint8_t u)
{
	uint8_t a;

	g711_ulaw_to_alaw(&a, &u, 1);
	return a;
}


static uint8_t one_a2u(uint8_t a)
{
	uint8_t u;

	g711_alaw_to_ulaw(&u, &a, 1);
	return u;
}


static void test_transcode(void)
{
	static const int a_changed[] = {26, 28, 30, 32, 45, 47, 63, 80};
	int u2a[128], a2u[128];
	uint8_t buf[256], out[256];

	ref_tables(u2a, a2u);

	for (int c = 0; c < 256; c++) {
		const uint8_t b = (uint8_t)c;
		const uint8_t ua = one_u2a(b), au = one_a2u(b);
		int un, an;

		/* sign is kept (µ-law -0 becomes A-law -8) */
		TEST_EQ(acode_neg(ua), ucode_neg(b));
		TEST_EQ(ucode_neg(au), acode_neg(b));
		TEST_EQ(acode_num(ua), u2a[ucode_num(b)]);
		TEST_EQ(ucode_num(au), a2u[acode_num(b)]);

		/* agreement with decode -> encode through linear: same
		 * output value number or its neighbour (the laws' scales
		 * differ by 0.75 %, Table 3 rounds across boundaries) */
		TEST_ASSERT(abs(acode_num(ua) -
				acode_num(g711_lin2alaw(g711_ulaw2lin(b)))) <= 1);
		TEST_ASSERT(abs(ucode_num(au) -
				ucode_num(g711_lin2ulaw(g711_alaw2lin(b)))) <= 1);

		/* G.711 Table 3 note 2: µ-A-µ raises µ numbers 0..14
		 * (even) by one, changing only bit 8; all else transparent */
		un = ucode_num(b);
		if (un <= 14 && !(un & 1))
			TEST_EQ(one_a2u(ua), b ^ 0x01);
		else
			TEST_EQ(one_a2u(ua), b);

		/* Table 4 note 2: A-µ-A changes bit 8 of A numbers 26, 28,
		 * 30, 32, 45, 47, 63, 80 (1-based); all else transparent */
		an = acode_num(b) + 1;
		bool changed = false;
		for (size_t i = 0; i < sizeof(a_changed) / sizeof(int); i++)
			changed |= (an == a_changed[i]);
		if (changed)
			TEST_EQ(one_u2a(au), b ^ 0x01);
		else
			TEST_EQ(one_u2a(au), b);
	}

	/* bulk and in place */
	for (int c = 0; c < 256; c++)
		buf[c] = (uint8_t)c;
	g711_ulaw_to_alaw(out, buf, 256);
	for (int c = 0; c < 256; c++)
		TEST_EQ(out[c], one_u2a((uint8_t)c));
	g711_alaw_to_ulaw(buf, buf, 256);
	for (int c = 0; c < 256; c++)
		TEST_EQ(buf[c], one_a2u((uint8_t)c));
}


static void test_bulk(void)
{
	int16_t pcm[G711_FRAME_SAMPLES], dec[G711_FRAME_SAMPLES];
	uint8_t enc[G711_FRAME_SAMPLES];
	uint32_t r = 0x12345678;

	for (int i = 0; i < G711_FRAME_SAMPLES; i++) {
		r = r * 1103515245u + 12345u;
		pcm[i] = (int16_t)(r >> 16);
	}

	g711_ulaw_encode(enc, pcm, G711_FRAME_SAMPLES);
	for (int i = 0; i < G711_FRAME_SAMPLES; i++)
		TEST_EQ(enc[i], g711_lin2ulaw(pcm[i]));
	g711_ulaw_decode(dec, enc, G711_FRAME_SAMPLES);
	for (int i = 0; i < G711_FRAME_SAMPLES; i++)
		TEST_EQ(dec[i], g711_ulaw2lin(enc[i]));

	g711_alaw_encode(enc, pcm, G711_FRAME_SAMPLES);
	for (int i = 0; i < G711_FRAME_SAMPLES; i++)
		TEST_EQ(enc[i], g711_lin2alaw(pcm[i]));
	g711_alaw_decode(dec, enc, G711_FRAME_SAMPLES);
	for (int i = 0; i < G711_FRAME_SAMPLES; i++)
		TEST_EQ(dec[i], g711_alaw2lin(enc[i]));
}


int main(void)
{
	test_known_values();
	test_decode_all();
	test_roundtrip();
	test_encode_all();
	test_transcode();
	test_bulk();

	printf("test_g711: ok\n");
	return 0;
}
