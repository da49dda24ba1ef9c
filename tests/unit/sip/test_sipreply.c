/**
 * @file test_sipreply.c  The reply table: codes, phrases and headers
 *
 * Every reply callbridge makes, as the wire must carry it (the carriers'
 * tests and integ_call_refuse, integ_sip_torture, integ_call_auth check
 * the same on the wire): status code, reason phrase, and the headers the
 * table adds, in order.
 */
#include "cb_re.h"
#include "sipreply.h"
#include "test.h"

#define ALLOW  "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO\r\n"
#define ACCEPT "Accept: application/sdp\r\n"
#define RETRY  "Retry-After: 5\r\n"

struct tcase {
	enum sipreply r;
	uint16_t scode;
	const char *reason;
	const char *hdrs;
};

static const struct tcase cases[] = {
	{SIPREPLY_TRYING,              100, "Trying",                  ""},
	{SIPREPLY_RINGING,             180, "Ringing",                 ALLOW},
	{SIPREPLY_OK,                  200, "OK",                      ""},
	{SIPREPLY_OPTIONS_OK,          200, "OK",             ALLOW ACCEPT},
	{SIPREPLY_BAD_REQUEST,         400, "Bad Request",             ""},
	{SIPREPLY_BAD_DTMF_BODY,       400, "Bad dtmf-relay body",     ""},
	{SIPREPLY_UNAUTHORIZED,        401, "Unauthorized",            ""},
	{SIPREPLY_FORBIDDEN,           403, "Forbidden",               ""},
	{SIPREPLY_NOT_FOUND,           404, "Not Found",               ""},
	{SIPREPLY_METHOD_NOT_ALLOWED,  405, "Method Not Allowed",      ALLOW},
	{SIPREPLY_SDP_NOT_ACCEPTED,    406, "Not Acceptable",          ACCEPT},
	{SIPREPLY_BODY_NOT_SDP,        415, "Unsupported Media Type",  ACCEPT},
	{SIPREPLY_INFO_NOT_DTMF,       415, "Unsupported Media Type",  ""},
	{SIPREPLY_URI_SCHEME,          416, "Unsupported URI Scheme",  ""},
	{SIPREPLY_BAD_EXTENSION,       420, "Bad Extension",           ""},
	{SIPREPLY_TEMP_UNAVAILABLE,    480, "Temporarily Unavailable", ""},
	{SIPREPLY_TOO_MANY_HOPS,       483, "Too Many Hops",           ""},
	{SIPREPLY_NOT_ACCEPTABLE,      488, "Not Acceptable Here",     ""},
	{SIPREPLY_SERVER_ERROR,        500, "Server Internal Error",   ""},
	{SIPREPLY_SERVICE_UNAVAILABLE, 503, "Service Unavailable",     RETRY},
	{SIPREPLY_VERSION_NOT_SUPPORTED, 505, "Version Not Supported", ""},
};


int main(void)
{
	const size_t n = sizeof(cases) / sizeof(cases[0]);
	const enum sipreply bad = SIPREPLY_COUNT;
	char buf[256];

	/* every reply of the table is checked here */
	TEST_EQ(n, SIPREPLY_COUNT);

	for (size_t i = 0; i < n; i++) {
		const struct tcase *tc = &cases[i];

		TEST_EQ(tc->r, i);
		TEST_EQ(sipreply_scode(tc->r), tc->scode);
		TEST_STREQ(sipreply_reason(tc->r), tc->reason);
		TEST_ASSERT(re_snprintf(buf, sizeof(buf), "%H", sipreply_hdrs,
					&tc->r) >= 0);
		TEST_STREQ(buf, tc->hdrs);
	}

	/* outside the table: a plain 500, no headers */
	TEST_EQ(sipreply_scode(bad), 500);
	TEST_STREQ(sipreply_reason(bad), "Server Internal Error");
	TEST_ASSERT(re_snprintf(buf, sizeof(buf), "%H", sipreply_hdrs,
				&bad) >= 0);
	TEST_STREQ(buf, "");

	printf("test_sipreply: %zu replies ok\n", n);

	return 0;
}
