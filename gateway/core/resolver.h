/**
 * @file resolver.h  Host name lookups off the SIP and media threads
 */
#ifndef CB_RESOLVER_H
#define CB_RESOLVER_H

#include <stdint.h>
#include "cb_re.h"

struct resolver;

enum { RESOLVER_MAX_ADDRS = 4 };

/** The addresses a name has, in getaddrinfo()'s order (RFC 6724) */
struct resolver_addrs {
	struct sa a[RESOLVER_MAX_ADDRS];  /**< port 0                   */
	unsigned n;                       /**< 1..RESOLVER_MAX_ADDRS    */
};

/**
 * Lookup result, called on the thread that created the resolver
 *
 * @param err    0, or an errno (ENOENT: no such host)
 * @param addrs  Addresses found (up to RESOLVER_MAX_ADDRS, no two
 *               alike), NULL on error
 * @param id     The id given to resolver_query()
 * @param arg    Handler argument
 */
typedef void (resolver_h)(int err, const struct resolver_addrs *addrs,
			  uint64_t id, void *arg);

int  resolver_alloc(struct resolver **rp, resolver_h *h, void *arg);
int  resolver_query(struct resolver *r, const char *host, uint64_t id);
bool resolver_is_literal(const char *host);

#endif
