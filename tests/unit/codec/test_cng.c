/**
 * @file test_cng.c  RFC 3389 comfort noise: level, payloads, determinism
 *
 * The level of one second of noise must be within 2 dB of the level
 * requested, at 8, 16 and 48 kHz, measured against 0 dBov = RMS 32124
 * (the G.711 overload square wave) independently of cng_level_of().
 */
#include <errno.h>
#include <math.h>
#include <re_types.h>
#include <re_mem.h>
#include "cng.h"
#include "test.h"

static const uint32_t rates[] = {8000, 16000, 48000};


static double level_db(const int16_t *x, size_t n)
{
	double e = 0;
	size_t i;

	for (i = 0; i < n; i++)
		e += (double)x[i] * x[i];

	return -10 * log10(e / (double)n / (32124.0 * 32124.0));
}


static void test_levels(void)
{
	static int16_t buf[48000];
	unsigned r, lvl;

	for (r = 0; r < ARRAY_SIZE(rates); r++) {
		for (lvl = 6; lvl <= 84; lvl += 6) {
			const uint8_t pl[] = {(uint8_t)lvl};
			struct cng *c;
			double got, mean = 0;
			size_t i;

			TEST_ERR(cng_alloc(&c, rates[r], 1234 + lvl), 0);
			TEST_ERR(cng_decode(c, pl, sizeof(pl)), 0);
			TEST_EQ(cng_level(c), lvl);
			TEST_ERR(cng_generate(c, buf, rates[r]), 0);

			got = level_db(buf, rates[r]);
			if (fabs(got - lvl) > 2.0)
				TEST_FAIL("%u Hz: level %u gave %.2f dBov",
					  rates[r], lvl, got);

			/* no DC */
			for (i = 0; i < rates[r]; i++)
				mean += buf[i];
			mean /= rates[r];
			TEST_ASSERT(fabs(mean) < 0.05 * 32124.0 *
				    pow(10, -lvl / 20.0) + 0.5);

			/* and cng_level_of() reads it back */
			TEST_ASSERT(abs((int)cng_level_of(buf, rates[r]) -
					(int)lvl) <= 1);
			mem_deref(c);
		}
	}
}


static void test_ramp_and_silence(void)
{
	static int16_t buf[8000];
	const uint8_t loud[] = {30}, quiet[] = {60};
	struct cng *c;
	size_t i;

	/* silent until a level arrives */
	TEST_ERR(cng_alloc(&c, 8000, 99), 0);
	TEST_EQ(cng_level(c), CNG_LEVEL_SILENT);
	TEST_ERR(cng_generate(c, buf, 160), 0);
	for (i = 0; i < 160; i++)
		TEST_EQ(buf[i], 0);

	/* the first level at once, a change over 20 ms */
	TEST_ERR(cng_decode(c, loud, 1), 0);
	TEST_ERR(cng_generate(c, buf, 1600), 0);
	TEST_ASSERT(fabs(level_db(buf, 160) - 30) < 2.0);
	TEST_ERR(cng_decode(c, quiet, 1), 0);
	TEST_ERR(cng_generate(c, buf, 8000), 0);
	TEST_ASSERT(level_db(buf, 40) < 40);          /* still ramping  */
	TEST_ASSERT(fabs(level_db(buf + 160, 7840) - 60) < 2.0);

	/* level 127 is silence */
	TEST_ERR(cng_level_set(c, 127), 0);
	TEST_ERR(cng_generate(c, buf, 8000), 0);
	for (i = 160; i < 8000; i++)
		TEST_EQ(buf[i], 0);
	TEST_EQ(cng_level_of(buf + 160, 7840), CNG_LEVEL_SILENT);

	mem_deref(c);
}


static void test_payloads(void)
{
	const uint8_t spectral[] = {45, 120, 130, 127, 140, 100};
	const uint8_t reserved[] = {0x80 | 20};
	int16_t a[320], b[320];
	struct cng *c, *d;

	TEST_ERR(cng_alloc(NULL, 8000, 1), EINVAL);
	TEST_ERR(cng_alloc(&c, 4000, 1), EINVAL);
	TEST_ERR(cng_alloc(&c, 8000, 1), 0);
	TEST_ERR(cng_alloc(&d, 8000, 1), 0);

	/* spectral coefficients are accepted and ignored */
	TEST_ERR(cng_decode(c, spectral, sizeof(spectral)), 0);
	TEST_EQ(cng_level(c), 45);

	/* bad payloads change nothing */
	TEST_ERR(cng_decode(c, spectral, 0), EINVAL);
	TEST_ERR(cng_decode(c, NULL, 1), EINVAL);
	TEST_ERR(cng_decode(c, reserved, 1), EBADMSG);
	TEST_EQ(cng_level(c), 45);
	TEST_ERR(cng_level_set(c, 128), EINVAL);
	TEST_ERR(cng_generate(c, NULL, 10), EINVAL);
	TEST_ERR(cng_generate(NULL, a, 10), EINVAL);
	TEST_EQ(cng_level_of(NULL, 10), CNG_LEVEL_SILENT);

	/* the same seed gives the same noise, another seed other noise */
	TEST_ERR(cng_level_set(d, 45), 0);
	TEST_ERR(cng_generate(c, a, 320), 0);
	TEST_ERR(cng_generate(d, b, 320), 0);
	TEST_ASSERT(!memcmp(a, b, sizeof(a)));
	mem_deref(d);
	TEST_ERR(cng_alloc(&d, 8000, 2), 0);
	TEST_ERR(cng_level_set(d, 45), 0);
	TEST_ERR(cng_generate(d, b, 320), 0);
	TEST_ASSERT(memcmp(a, b, sizeof(a)) != 0);

	mem_deref(c);
	mem_deref(d);
}


int main(void)
{
	test_levels();
	test_ramp_and_silence();
	test_payloads();

	printf("test_cng: passed\n");

	return 0;
}
