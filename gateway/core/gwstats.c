/**
 * @file gwstats.c  The gateway's own counters
 *
 * Locking: the counters are atomics (relaxed: they are statistics); the
 * list of flooding sources is guarded by `lock`, taken by the SIP thread
 * when a source goes over its limits, once a second while it stays over
 * and when it comes back, and by the control thread for a view.
 */
#include <ctype.h>
#include <pthread.h>
#include <string.h>
#include "cb_re.h"
#include "gwstats.h"

static uint64_t counters[GWSTAT_COUNT];

static struct {
	pthread_mutex_t lock;
	struct {
		struct sa src;          /**< port 0                       */
		uint64_t refused;       /**< in this episode              */
		uint64_t since_ms;      /**< [ms] tmr_jiffies: it began   */
	} e[GWSTATS_FLOODING_MAX];  /**< guarded by lock              */
	unsigned n;                 /**< guarded by lock              */
} flooding = {.lock = PTHREAD_MUTEX_INITIALIZER};


/** Add n to a counter (any thread) */
void gwstats_add(enum gwstat s, uint64_t n)
{
	if ((unsigned)s < GWSTAT_COUNT)
		__atomic_add_fetch(&counters[s], n, __ATOMIC_RELAXED);
}


/** A counter's value */
uint64_t gwstats_get(enum gwstat s)
{
	return (unsigned)s < GWSTAT_COUNT ?
		__atomic_load_n(&counters[s], __ATOMIC_RELAXED) : 0;
}


/**
 * A source is over its flood limits (over: true, with its refusals so
 * far), or back under them (over: false). The view holds the first
 * GWSTATS_FLOODING_MAX sources over their limits.
 *
 * @param src       The source (its address; the port is ignored)
 * @param refused   INVITEs refused in this episode
 * @param since_ms  When the episode began [ms, tmr_jiffies]
 * @param over      Still over its limits
 */
void gwstats_flooding(const struct sa *src, uint64_t refused,
		      uint64_t since_ms, bool over)
{
	unsigned i;

	pthread_mutex_lock(&flooding.lock);
	for (i = 0; i < flooding.n; i++) {
		if (sa_cmp(&flooding.e[i].src, src, SA_ADDR))
			break;
	}

	if (!over) {
		if (i < flooding.n)
			flooding.e[i] = flooding.e[--flooding.n];
	}
	else if (i < flooding.n || flooding.n < GWSTATS_FLOODING_MAX) {
		if (i == flooding.n)
			++flooding.n;
		flooding.e[i].src = *src;
		sa_set_port(&flooding.e[i].src, 0);
		flooding.e[i].refused = refused;
		flooding.e[i].since_ms = since_ms;
	}
	pthread_mutex_unlock(&flooding.lock);
}


static const char *lower(char *buf)
{
	for (char *p = buf; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return buf;
}


/**
 * The counters, and the sources over their flood limits now, as a JSON
 * object: {"sip_flood_refused": N, ..., "flooding": [{"source":
 * "192.0.2.7", "refused": N, "for_s": S}, ...]}
 */
json_t *gwstats_json(void)
{
	static const char *const names[] = {
#define X(id) #id,
		GWSTATS_TABLE(X)
#undef X
	};
	json_t *o = json_object(), *arr = json_array();
	uint64_t now = tmr_jiffies();
	char name[64];

	if (!o || !arr)
		goto fail_arr;

	for (unsigned i = 0; i < GWSTAT_COUNT; i++) {
		str_ncpy(name, names[i], sizeof(name));
		if (json_object_set_new(o, lower(name), json_integer(
				(json_int_t)gwstats_get((enum gwstat)i))))
			goto fail_arr;
	}

	pthread_mutex_lock(&flooding.lock);
	for (unsigned i = 0; i < flooding.n; i++) {
		char addr[64];

		(void)sa_ntop(&flooding.e[i].src, addr, sizeof(addr));
		(void)json_array_append_new(arr, json_pack("{s:s, s:I, s:I}",
			"source", addr,
			"refused", (json_int_t)flooding.e[i].refused,
			"for_s", (json_int_t)((now - flooding.e[i].since_ms) /
					      1000)));
	}
	pthread_mutex_unlock(&flooding.lock);

	if (json_object_set_new(o, "flooding", arr))
		goto fail;

	return o;

 fail_arr:
	json_decref(arr);
 fail:
	json_decref(o);
	return NULL;
}
