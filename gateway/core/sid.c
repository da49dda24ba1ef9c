/**
 * @file sid.c  Identifiers in Twilio's format: two letters and 32 hex
 *              characters ("CA…" calls, "MZ…" streams, "AC…" accounts)
 */
#include <string.h>
#include <openssl/rand.h>
#include "cb_re.h"
#include "sid.h"


static void sid_put(char *sid, const char *prefix, const uint8_t d[16])
{
	static const char hex[] = "0123456789abcdef";

	sid[0] = prefix[0];
	sid[1] = prefix[1];
	for (size_t i = 0; i < 16; i++) {
		sid[2 + 2 * i]     = hex[d[i] >> 4];
		sid[2 + 2 * i + 1] = hex[d[i] & 0xf];
	}
	sid[SID_LEN] = '\0';
}


/**
 * Make a random identifier: prefix + 32 hex characters
 *
 * @param sid     Output, at least SID_LEN + 1 bytes
 * @param prefix  Two letters, e.g. "CA", "MZ"
 */
void sid_random(char *sid, const char *prefix)
{
	uint8_t rnd[16];

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		rand_bytes(rnd, sizeof(rnd));

	sid_put(sid, prefix, rnd);
}


/**
 * Make a stable identifier from a name (its MD5): the same name gives the
 * same SID on every start
 *
 * @param sid     Output, at least SID_LEN + 1 bytes
 * @param prefix  Two letters, e.g. "AC"
 * @param name    Any text, e.g. the host name
 */
void sid_from_name(char *sid, const char *prefix, const char *name)
{
	uint8_t d[16];

	md5((const uint8_t *)name, strlen(name), d);
	sid_put(sid, prefix, d);
}
