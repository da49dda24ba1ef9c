/**
 * @file resolver.h  Host name lookups off the SIP and media threads
 */
#ifndef CB_RESOLVER_H
#define CB_RESOLVER_H

#include <stdint.h>

struct resolver;
struct sa;

/**
 * Lookup result, called on the thread that created the resolver
 *
 * @param err   0, or an errno (ENOENT: no such host)
 * @param addr  First address found (port 0), NULL on error
 * @param id    The id given to resolver_query()
 * @param arg   Handler argument
 */
typedef void (resolver_h)(int err, const struct sa *addr, uint64_t id,
			  void *arg);

int  resolver_alloc(struct resolver **rp, resolver_h *h, void *arg);
int  resolver_query(struct resolver *r, const char *host, uint64_t id);
bool resolver_is_literal(const char *host);

#endif
