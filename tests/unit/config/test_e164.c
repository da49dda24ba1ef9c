/**
 * @file test_e164.c  E.164 validation and normalisation, table-driven
 */
#include <errno.h>
#include "cb_re.h"
#include "model.h"
#include "test.h"


static const struct {
	const char *in;
	const char *out;       /* NULL: invalid */
	const char *why;       /* part of the reason when invalid */
} cases[] = {
	/* good, already normal */
	{"+14155551234",        "+14155551234", NULL},
	{"+442071838750",       "+442071838750", NULL},
	{"+12345678",           "+12345678", NULL},        /* 8 digits */
	{"+123456789012345",    "+123456789012345", NULL}, /* 15 digits */
	/* good, with visual separators */
	{"+1 415 555 1234",     "+14155551234", NULL},
	{"+1 (415) 555-1234",   "+14155551234", NULL},
	{"+1.415.555.1234",     "+14155551234", NULL},
	{"  +44 20 7183 8750 ", "+442071838750", NULL},
	{"+49\t30-1234-5678",   "+493012345678", NULL},
	{"(+1) 415 5551234",    "+14155551234", NULL},
	/* bad */
	{"",                    NULL, "empty"},
	{"+",                   NULL, "fewer than 8"},
	{"+1234567",            NULL, "fewer than 8"},         /* 7 digits */
	{"+1234567890123456",   NULL, "more than 15"},         /* 16 digits */
	{"+0123456789",         NULL, "+0"},
	{"14155551234",         NULL, "must start with '+'"},
	{"004420718387",        NULL, "00 prefix"},
	{"00 44 20 7183 8750",  NULL, "00 prefix"},
	{"+1415555123a",        NULL, "only"},
	{"+1 415 555 1234 x12", NULL, "only"},
	{"++14155551234",       NULL, "'+' after"},
	{"+1415+5551234",       NULL, "'+' after"},
	{"1+4155551234",        NULL, "'+' after"},
	{"sip:+14155551234",    NULL, "only"},
	{"+1415555\n1234",      NULL, "only"},
	{"+１４１５５５５１２３４", NULL, "only"},  /* full-width digits */
	{"- . ( )",             NULL, "empty"},
};


static void test_table(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[E164_SIZE] = "";
		const char *why = NULL;
		int err;

		err = e164_parse(out, sizeof(out), cases[i].in, &why);
		if (cases[i].out) {
			if (err)
				TEST_FAIL("case %zu \"%s\": err %d (%s)", i,
					  cases[i].in, err, why);
			TEST_STREQ(out, cases[i].out);
			TEST_ASSERT(why == NULL);

			/* the public normaliser agrees */
			TEST_ERR(e164_normalize(out, sizeof(out),
						cases[i].in), 0);
			TEST_STREQ(out, cases[i].out);

			/* normal form is a fixed point */
			TEST_ERR(e164_normalize(out, sizeof(out), out), 0);
			TEST_STREQ(out, cases[i].out);
		}
		else {
			if (err != EINVAL)
				TEST_FAIL("case %zu \"%s\": accepted as %s", i,
					  cases[i].in, out);
			TEST_ASSERT(why != NULL);
			if (!strstr(why, cases[i].why))
				TEST_FAIL("case %zu: reason \"%s\" lacks "
					  "\"%s\"", i, why, cases[i].why);
			TEST_ERR(e164_normalize(out, sizeof(out),
						cases[i].in), EINVAL);
		}
	}
}


static void test_edges(void)
{
	char small[8];

	TEST_ERR(e164_normalize(NULL, 0, NULL), EINVAL);
	/* too small an output buffer is not "invalid" */
	TEST_ERR(e164_normalize(small, sizeof(small), "+14155551234"),
		 EOVERFLOW);
	/* validation only */
	TEST_ERR(e164_parse(NULL, 0, "+14155551234", NULL), 0);
}


int main(void)
{
	test_table();
	test_edges();
	printf("test_e164: ok\n");
	return 0;
}
