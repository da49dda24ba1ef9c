/**
 * @file resolver.c  Host name lookups off the SIP and media threads
 *
 * Design note. Agent URLs name hosts (wss://agent.example.com/media).
 * libwebsockets 4.1 would resolve them with a blocking getaddrinfo() on
 * the media worker, stalling every call on that worker for as long as DNS
 * takes. So the SIP thread resolves an agent's host before it hands the
 * call over, and the worker connects to its addresses, the next when one
 * refuses or stays silent for its turn (media/mcall_agent.c link_connect; up to
 * RESOLVER_MAX_ADDRS, in getaddrinfo()'s order; the URL's host still
 * goes in Host, SNI and the certificate check).
 *
 * One thread, "cb-dns", runs getaddrinfo() (which honours /etc/hosts and
 * nsswitch) for a queue of names; results come back to the SIP thread
 * through a message queue. The SIP thread keeps a cache (60 s for
 * answers, 5 s for failures) and joins concurrent lookups of one name, so
 * a burst of calls to one agent costs one lookup.
 *
 * Locking: `lock` guards the request queue between the two threads. The
 * cache and the waiting lists belong to the SIP thread.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include "cb_re.h"
#include "log.h"
#include "msgq.h"
#include "resolver.h"

enum {
	TTL_OK_MS   = 60000,
	TTL_FAIL_MS = 5000,
	MAX_HOST    = 253,
};

/** A name: cached answer, or a lookup in flight with its waiters */
struct name {
	struct le le;
	char host[MAX_HOST + 1];
	int err;
	struct resolver_addrs addrs;
	uint64_t expires;         /**< [ms] tmr_jiffies; 0 while pending */
	bool pending;
	uint64_t *waiters;        /**< call ids waiting for the answer   */
	size_t nwaiters, szwaiters;
};

struct req {
	struct req *next;
	struct name *name;        /**< only read by the SIP thread       */
	char host[MAX_HOST + 1];
	int err;
	struct resolver_addrs addrs;
	bool cached;              /**< answered from the cache           */
};

struct resolver {
	pthread_t tid;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct req *head, *tail;  /**< guarded by lock                   */
	bool stop;                /**< guarded by lock                   */
	struct msgq *done;        /**< results to the SIP thread         */
	struct list names;        /**< SIP thread                        */
	resolver_h *h;
	void *arg;
};


static int lookup(const char *host, struct resolver_addrs *addrs)
{
	struct addrinfo hints, *res = NULL, *ai;
	int e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;

	e = getaddrinfo(host, NULL, &hints, &res);
	if (e || !res) {
		if (res)
			freeaddrinfo(res);
		return e == EAI_NONAME || e == EAI_NODATA ? ENOENT : EAGAIN;
	}

	/* in getaddrinfo's order, each address once (it lists one per
	   socket type and protocol unless told, and /etc/hosts may repeat) */
	addrs->n = 0;
	for (ai = res; ai && addrs->n < RESOLVER_MAX_ADDRS; ai = ai->ai_next) {
		struct sa sa;
		bool seen = false;

		sa_init(&sa, AF_UNSPEC);
		if (sa_set_sa(&sa, ai->ai_addr))
			continue;
		for (unsigned i = 0; i < addrs->n; i++)
			seen |= sa_cmp(&addrs->a[i], &sa, SA_ADDR);
		if (!seen)
			addrs->a[addrs->n++] = sa;
	}
	freeaddrinfo(res);

	return addrs->n ? 0 : ENOENT;
}


static void *resolver_main(void *arg)
{
	struct resolver *r = arg;

	log_thread_name("cb-dns");

	for (;;) {
		struct req *q;

		pthread_mutex_lock(&r->lock);
		while (!r->head && !r->stop)
			pthread_cond_wait(&r->cond, &r->lock);
		if (r->stop) {
			pthread_mutex_unlock(&r->lock);
			break;
		}
		q = r->head;
		r->head = q->next;
		if (!r->head)
			r->tail = NULL;
		pthread_mutex_unlock(&r->lock);

		q->err = lookup(q->host, &q->addrs);
		if (msgq_push(r->done, 0, q))
			mem_deref(q);
	}

	return NULL;
}


static void name_destructor(void *arg)
{
	struct name *n = arg;

	list_unlink(&n->le);
	mem_deref(n->waiters);
}


static void req_destructor(void *arg)
{
	struct req *q = arg;

	mem_deref(q->name);
}


static void answer(struct resolver *r, struct name *n)
{
	/* handlers may query again: work on a copy of the waiters */
	uint64_t *w = n->waiters;
	size_t nw = n->nwaiters;

	n->waiters = NULL;
	n->nwaiters = n->szwaiters = 0;

	for (size_t i = 0; i < nw; i++)
		r->h(n->err, n->err ? NULL : &n->addrs, w[i], r->arg);

	mem_deref(w);
}


static void done_handler(int id, void *data, void *arg)
{
	struct resolver *r = arg;
	struct req *q = data;
	struct name *n = q->name;

	(void)id;

	n->pending = false;
	if (!q->cached) {
		n->err = q->err;
		n->addrs = q->addrs;
		n->expires = tmr_jiffies() +
			(q->err ? TTL_FAIL_MS : TTL_OK_MS);
	}

	if (q->err && !q->cached)
		log_info("resolver: %s: %s", n->host, q->err == ENOENT ?
			 "no such host" : "lookup failed");

	/* none while the resolver is being freed: its owner is going too */
	if (r->h)
		answer(r, n);
	mem_deref(q);
}


static void fd_handler(int flags, void *arg)
{
	struct resolver *r = arg;

	(void)flags;
	msgq_drain(r->done);
}


static void destructor(void *arg)
{
	struct resolver *r = arg;
	struct req *q;

	/* no answer is delivered from here on, finished or not */
	r->h = NULL;

	if (r->tid) {
		pthread_mutex_lock(&r->lock);
		r->stop = true;
		pthread_cond_signal(&r->cond);
		pthread_mutex_unlock(&r->lock);
		pthread_join(r->tid, NULL);
	}

	for (q = r->head; q; ) {
		struct req *next = q->next;
		mem_deref(q);
		q = next;
	}

	if (r->done) {
		fd_close(msgq_fd(r->done));
		msgq_drain(r->done);   /* frees finished requests, unanswered */
	}
	mem_deref(r->done);
	list_flush(&r->names);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
}


/**
 * Start the resolver thread
 *
 * @param rp   Pointer to allocated resolver
 * @param h    Result handler, called on the calling thread's libre loop
 * @param arg  Handler argument
 *
 * @return 0 if success, otherwise errorcode
 */
int resolver_alloc(struct resolver **rp, resolver_h *h, void *arg)
{
	struct resolver *r;
	int err;

	if (!rp || !h)
		return EINVAL;

	r = mem_zalloc(sizeof(*r), destructor);
	if (!r)
		return ENOMEM;

	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	r->h = h;
	r->arg = arg;

	err = msgq_alloc(&r->done, done_handler, r);
	if (err)
		goto out;

	err = fd_listen(msgq_fd(r->done), FD_READ, fd_handler, r);
	if (err)
		goto out;

	err = pthread_create(&r->tid, NULL, resolver_main, r);
	if (err) {
		r->tid = 0;
		goto out;
	}
	(void)pthread_setname_np(r->tid, "cb-dns");

 out:
	if (err)
		mem_deref(r);
	else
		*rp = r;

	return err;
}


/** True if host is an IP address literal (nothing to look up) */
bool resolver_is_literal(const char *host)
{
	struct sa sa;

	return host && !sa_set_str(&sa, host, 0);
}


static int waiter_add(struct name *n, uint64_t id)
{
	if (n->nwaiters == n->szwaiters) {
		size_t sz = n->szwaiters ? 2 * n->szwaiters : 4;
		uint64_t *w = n->waiters ?
			mem_realloc(n->waiters, sz * sizeof(*w)) :
			mem_alloc(sz * sizeof(*w), NULL);

		if (!w)
			return ENOMEM;
		n->waiters = w;
		n->szwaiters = sz;
	}

	n->waiters[n->nwaiters++] = id;

	return 0;
}


/**
 * Look up a host name; the handler runs later, on this thread, even when
 * the answer is cached (so callers never see it re-entrantly)
 *
 * @param r     Resolver
 * @param host  Host name
 * @param id    Passed to the handler (a call id)
 *
 * @return 0 if under way, otherwise errorcode
 */
int resolver_query(struct resolver *r, const char *host, uint64_t id)
{
	struct name *n = NULL;
	struct req *q;
	struct le *le;
	int err;

	if (!r || !host || !*host || strlen(host) > MAX_HOST)
		return EINVAL;

	for (le = list_head(&r->names); le; le = le->next) {
		struct name *c = le->data;

		if (!strcasecmp(c->host, host)) {
			n = c;
			break;
		}
	}

	if (n && n->pending)
		return waiter_add(n, id);

	if (!n) {
		n = mem_zalloc(sizeof(*n), name_destructor);
		if (!n)
			return ENOMEM;
		str_ncpy(n->host, host, sizeof(n->host));
		list_append(&r->names, &n->le, n);
	}

	err = waiter_add(n, id);
	if (err)
		return err;

	q = mem_zalloc(sizeof(*q), req_destructor);
	if (!q)
		return ENOMEM;

	q->name = mem_ref(n);
	str_ncpy(q->host, n->host, sizeof(q->host));

	if (n->expires > tmr_jiffies()) {
		/* cached: answer through the queue, like a lookup */
		q->err = n->err;
		q->addrs = n->addrs;
		q->cached = true;
		n->pending = true;
		err = msgq_push(r->done, 0, q);
		if (err)
			mem_deref(q);
		return err;
	}

	n->pending = true;

	pthread_mutex_lock(&r->lock);
	if (r->tail)
		r->tail->next = q;
	else
		r->head = q;
	r->tail = q;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);

	return 0;
}
