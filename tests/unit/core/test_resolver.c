/**
 * @file test_resolver.c  The cb-dns resolver thread (gateway/resolver.c)
 *
 * No DNS: the process reads host names from files only
 * (__nss_configure_lookup), and, where allowed (root, mount namespaces),
 * from a private /etc/hosts bound over the real one in a mount namespace
 * of its own, as tests/integ/test_call_agent_dns.py does; rounds that
 * need names of their own are skipped elsewhere. Every address is on
 * loopback.
 *
 * A table of rounds: each (optionally) rewrites the private hosts file,
 * (optionally) waits, makes its queries, then runs the libre loop until
 * every answer is in. Each answer must come on this thread, from the
 * loop (never inside resolver_query(), even from the cache), once per
 * query, with its id and the handler argument; addresses with port 0,
 * no two alike, at most RESOLVER_MAX_ADDRS, in getaddrinfo()'s order.
 * Expected addresses are written out, except "*": getaddrinfo()'s own
 * answer for the name, each address once, the first four -- for a name
 * with more, whose order follows RFC 6724 and not the file.
 *
 * Also: the arguments and name lengths (253 is a name, 254 is not), and
 * freeing a resolver with an answer waiting in its queue (dropped, no
 * handler runs: test_free_answered()).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <nss.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <unistd.h>
#include <sys/mount.h>
#include "cb_re.h"
#include "resolver.h"
#include "test.h"

#define HOSTS_BASE "127.0.0.1 localhost\n"				\
	"127.0.0.21 dup.cb-test\n127.0.0.21 dup.cb-test\n"		\
	"127.0.0.22 dup.cb-test\n"					\
	"127.0.0.11 many.cb-test\n127.0.0.12 many.cb-test\n"		\
	"127.0.0.12 many.cb-test\n127.0.0.13 many.cb-test\n"		\
	"::1 many.cb-test\n127.0.0.14 many.cb-test\n"			\
	"127.0.0.15 many.cb-test\n"					\
	"127.0.0.41 join.cb-test\n"					\
	"::1 v6.cb-test\n"

struct query {
	const char *host;
	uint64_t id;
	int err;              /**< in the answer                   */
	const char *addrs;    /**< "a b", "*": getaddrinfo's first 4 */
};

struct round {
	const char *name;
	const char *hosts;    /**< new private /etc/hosts, NULL: as is */
	unsigned wait_ms;     /**< before the queries              */
	bool need_hosts;      /**< names of our own                */
	bool need_v6;         /**< an IPv6 address configured      */
	bool ordered;         /**< answers in query order          */
	struct query q[6];
};

static const struct round rounds[] = {
	{"IPv4 literal", NULL, 0, false, false, false, {
		{"127.0.0.1", 1, 0, "127.0.0.1"}}},
	{"IPv6 literal", NULL, 0, false, true, false, {
		{"::1", 2, 0, "::1"}}},
	{"a name nobody has: ENOENT", NULL, 0, false, false, false, {
		{"nosuch.cb-test", 3, ENOENT, NULL}}},
	{"names from /etc/hosts", HOSTS_BASE, 0, true, false, false, {
		{"localhost", 10, 0, "127.0.0.1"},
		{"dup.cb-test", 11, 0, "127.0.0.21 127.0.0.22"},
		{"many.cb-test", 12, 0, "*"},
		{"absent.cb-test", 13, ENOENT, NULL}}},
	{"IPv6 name", NULL, 0, true, true, false, {
		{"v6.cb-test", 14, 0, "::1"}}},
	{"one lookup, three waiters (case-insensitive), in order", NULL, 0,
	 true, false, true, {
		{"join.cb-test", 20, 0, "127.0.0.41"},
		{"join.cb-test", 21, 0, "127.0.0.41"},
		{"JOIN.cb-test", 22, 0, "127.0.0.41"}}},
	{"answers and failures from the cache, though the file changed",
	 "127.0.0.1 localhost\n127.0.0.99 dup.cb-test\n"
	 "127.0.0.98 absent.cb-test\n127.0.0.97 join.cb-test\n", 0, true,
	 false, false, {
		{"dup.cb-test", 30, 0, "127.0.0.21 127.0.0.22"},
		{"absent.cb-test", 31, ENOENT, NULL},
		{"join.cb-test", 32, 0, "127.0.0.41"}}},
	{"a failure is looked up again after 5 s, an answer is not", NULL,
	 5200, true, false, false, {
		{"absent.cb-test", 40, 0, "127.0.0.98"},
		{"dup.cb-test", 41, 0, "127.0.0.21 127.0.0.22"}}},
};

struct answer {
	uint64_t id;
	int err;
	struct resolver_addrs addrs;
	bool null_addrs;
};

static struct {
	pthread_t self;
	bool in_query;
	struct answer got[16];
	size_t n, want;
	int arg;
	bool timed_out;
} t;


static void handler(int err, const struct resolver_addrs *addrs,
		    uint64_t id, void *arg)
{
	struct answer *a;

	if (!pthread_equal(pthread_self(), t.self))
		TEST_FAIL("answer %" PRIu64 " on another thread", id);
	if (t.in_query)
		TEST_FAIL("answer %" PRIu64 " inside resolver_query()", id);
	if (arg != &t.arg)
		TEST_FAIL("handler argument");
	if (t.n == sizeof(t.got) / sizeof(t.got[0]))
		TEST_FAIL("too many answers");

	a = &t.got[t.n++];
	a->id = id;
	a->err = err;
	a->null_addrs = addrs == NULL;
	if (addrs)
		a->addrs = *addrs;

	if (t.n >= t.want)
		re_cancel();
}

static void timeout(void *arg)
{
	(void)arg;
	t.timed_out = true;
	re_cancel();
}

/* what the loop delivers within ms */
static void loop(unsigned ms)
{
	struct tmr tmr;

	tmr_init(&tmr);
	tmr_start(&tmr, ms, timeout, NULL);
	t.timed_out = false;
	(void)re_main(NULL);
	tmr_cancel(&tmr);
}

/* getaddrinfo()'s answer with resolver.c's hints, each address once */
static void oracle(const char *host, char *buf, size_t sz)
{
	struct addrinfo hints, *res = NULL;
	struct sa seen[16];
	size_t n = 0, k = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	buf[0] = '\0';
	if (getaddrinfo(host, NULL, &hints, &res))
		return;

	for (struct addrinfo *ai = res; ai && n < RESOLVER_MAX_ADDRS;
	     ai = ai->ai_next) {
		struct sa sa;
		bool dup = false;

		if (sa_set_sa(&sa, ai->ai_addr))
			continue;
		for (size_t i = 0; i < n; i++)
			dup |= sa_cmp(&seen[i], &sa, SA_ADDR);
		if (dup)
			continue;
		seen[n++] = sa;
		k += (size_t)re_snprintf(buf + k, sz - k, "%s%j",
					 k ? " " : "", &sa);
	}
	freeaddrinfo(res);
}

static void check_answer(const struct round *r, const struct query *q,
			 const struct answer *a)
{
	char got[256] = "", want[256];
	size_t k = 0;

	if (a->err != q->err)
		TEST_FAIL("%s: %s: err %d, expected %d", r->name, q->host,
			  a->err, q->err);
	if (a->err) {
		if (!a->null_addrs)
			TEST_FAIL("%s: %s: addresses with an error", r->name,
				  q->host);
		return;
	}
	if (a->null_addrs || !a->addrs.n || a->addrs.n > RESOLVER_MAX_ADDRS)
		TEST_FAIL("%s: %s: %u addresses", r->name, q->host,
			  a->null_addrs ? 0 : a->addrs.n);

	for (unsigned i = 0; i < a->addrs.n; i++) {
		const struct sa *sa = &a->addrs.a[i];

		TEST_EQ(sa_port(sa), 0);
		for (unsigned j = 0; j < i; j++) {
			if (sa_cmp(sa, &a->addrs.a[j], SA_ADDR))
				TEST_FAIL("%s: %s: address %u twice", r->name,
					  q->host, i);
		}
		k += (size_t)re_snprintf(got + k, sizeof(got) - k, "%s%j",
					 k ? " " : "", sa);
	}

	if (!strcmp(q->addrs, "*")) {
		oracle(q->host, want, sizeof(want));
		/* more than four distinct addresses on file: four kept */
		TEST_EQ(a->addrs.n, RESOLVER_MAX_ADDRS);
	}
	else {
		str_ncpy(want, q->addrs, sizeof(want));
	}
	if (strcmp(got, want))
		TEST_FAIL("%s: %s: \"%s\", expected \"%s\"", r->name, q->host,
			  got, want);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");   /* same inode: the bind follows */

	TEST_ASSERT(f != NULL);
	TEST_ASSERT(fputs(text, f) >= 0);
	TEST_ASSERT(fclose(f) == 0);
}

/* a mount namespace of our own with a private /etc/hosts: its path */
static bool private_hosts(char *path, size_t sz)
{
	int fd;

	str_ncpy(path, "/tmp/cb-test-hosts-XXXXXX", sz);
	if (unshare(CLONE_NEWNS))
		return false;
	if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return false;
	fd = mkstemp(path);
	if (fd < 0)
		return false;
	(void)close(fd);
	write_file(path, HOSTS_BASE);
	if (mount(path, "/etc/hosts", NULL, MS_BIND, NULL)) {
		(void)unlink(path);
		return false;
	}
	return true;
}

static bool have_v6(void)
{
	char buf[64];

	oracle("::1", buf, sizeof(buf));
	return !strcmp(buf, "::1");
}

static void run_round(struct resolver *r, const struct round *rd,
		      const char *hosts_path)
{
	size_t nq = 0;

	if (rd->hosts)
		write_file(hosts_path, rd->hosts);
	if (rd->wait_ms)
		(void)usleep(rd->wait_ms * 1000);

	t.n = 0;
	for (const struct query *q = rd->q; q->host; q++, nq++) {
		t.in_query = true;
		TEST_ERR(resolver_query(r, q->host, q->id), 0);
		t.in_query = false;
	}
	TEST_EQ(t.n, 0);   /* nothing yet: answers come from the loop */

	t.want = nq;
	loop(5000);
	if (t.n < nq)
		TEST_FAIL("%s: %zu of %zu answers", rd->name, t.n, nq);

	for (size_t i = 0; i < nq; i++) {
		const struct query *q = &rd->q[i];
		const struct answer *a = NULL;

		if (rd->ordered) {
			a = &t.got[i];
			TEST_EQ(a->id, q->id);
		}
		for (size_t j = 0; !a && j < t.n; j++) {
			if (t.got[j].id == q->id)
				a = &t.got[j];
		}
		if (!a)
			TEST_FAIL("%s: no answer for %" PRIu64, rd->name,
				  q->id);
		check_answer(rd, q, a);
	}

	/* nothing more comes (each query answered once) */
	t.want = (size_t)-1;
	loop(50);
	if (t.n != nq)
		TEST_FAIL("%s: %zu answers to %zu queries", rd->name, t.n, nq);
}

static void test_args(struct resolver *r)
{
	char name[300];
	struct resolver *r2 = NULL;

	TEST_ERR(resolver_alloc(NULL, handler, &t.arg), EINVAL);
	TEST_ERR(resolver_alloc(&r2, NULL, &t.arg), EINVAL);
	TEST_ASSERT(r2 == NULL);

	t.in_query = true;
	TEST_ERR(resolver_query(NULL, "localhost", 1), EINVAL);
	TEST_ERR(resolver_query(r, NULL, 1), EINVAL);
	TEST_ERR(resolver_query(r, "", 1), EINVAL);
	/* 254 characters: longer than a DNS name can be */
	memset(name, 'a', 254);
	name[254] = '\0';
	TEST_ERR(resolver_query(r, name, 1), EINVAL);
	t.in_query = false;

	TEST_ASSERT(resolver_is_literal("127.0.0.1"));
	TEST_ASSERT(resolver_is_literal("::1"));
	TEST_ASSERT(resolver_is_literal("fe80::1"));
	TEST_ASSERT(!resolver_is_literal("localhost"));
	TEST_ASSERT(!resolver_is_literal("127.0.0.1.example"));
	TEST_ASSERT(!resolver_is_literal("[::1]"));
	TEST_ASSERT(!resolver_is_literal(""));
	TEST_ASSERT(!resolver_is_literal(NULL));

	/* 253 characters is a name: looked up, not there */
	for (int i = 0; i < 253; i++)
		name[i] = (i % 64 == 63) ? '.' : 'b';
	name[253] = '\0';
	t.n = 0;
	t.want = 1;
	TEST_ERR(resolver_query(r, name, 77), 0);
	loop(5000);
	TEST_EQ(t.n, 1);
	TEST_EQ(t.got[0].id, 77);
	TEST_EQ(t.got[0].err, ENOENT);
	TEST_ASSERT(t.got[0].null_addrs);
}

/* eventfds open now: fdinfo says so (Linux) */
enum { MAXFD = 1024 };

static bool is_eventfd(int fd)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return false;
	link[n] = '\0';
	return strstr(link, "eventfd") != NULL;
}

/* the eventfd's counter, -1 if /proc does not tell */
static long long eventfd_count(int fd)
{
	char path[64], line[128];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "eventfd-count: %llx", &v) == 1)
			break;
	}
	(void)fclose(f);
	return v;
}

/*
 * Freed with an answer waiting in its queue (the lookup done, the loop
 * not yet run): no handler may run inside mem_deref() -- its owner is
 * going away too (sipgw frees its resolver first in its destructor, with
 * calls still in its table: a handler there would hand media over or end
 * calls during teardown). Like lookups not started, it is dropped.
 */
static void test_free_answered(void)
{
	static bool before[MAXFD];
	struct resolver *r = NULL;
	int efd = -1;

	for (int fd = 0; fd < MAXFD; fd++)
		before[fd] = is_eventfd(fd);
	TEST_ERR(resolver_alloc(&r, handler, &t.arg), 0);
	for (int fd = 0; fd < MAXFD && efd < 0; fd++) {
		if (!before[fd] && is_eventfd(fd))
			efd = fd;
	}
	if (efd < 0 || eventfd_count(efd) < 0) {
		printf("skipped: freeing with an answer waiting (no eventfd "
		       "counter in /proc)\n");
		mem_deref(r);
		return;
	}

	t.n = 0;
	TEST_ERR(resolver_query(r, "localhost", 90), 0);
	for (int i = 0; eventfd_count(efd) == 0; i++) {
		if (i == 5000)
			TEST_FAIL("the lookup of localhost took 5 s");
		(void)usleep(1000);
	}
	TEST_EQ(t.n, 0);
	mem_deref(r);
	if (t.n)
		TEST_FAIL("mem_deref(resolver) ran the handler for an answer "
			  "waiting in its queue");

	/* nothing afterwards either */
	t.want = (size_t)-1;
	loop(50);
	TEST_EQ(t.n, 0);
}


int main(void)
{
	struct resolver *r = NULL;
	char hosts[64];
	bool own, v6;

	own = private_hosts(hosts, sizeof(hosts));
	if (!own)
		printf("no private /etc/hosts (root and mount namespaces "
		       "needed): rounds with names of our own skipped\n");

	/* /etc/hosts only, never DNS */
	TEST_EQ(__nss_configure_lookup("hosts", "files"), 0);

	v6 = have_v6();
	if (!v6)
		printf("no IPv6 address configured: IPv6 rounds skipped\n");

	TEST_ERR(libre_init(), 0);
	t.self = pthread_self();

	TEST_ERR(resolver_alloc(&r, handler, &t.arg), 0);
	test_args(r);

	for (size_t i = 0; i < sizeof(rounds) / sizeof(rounds[0]); i++) {
		const struct round *rd = &rounds[i];

		if ((rd->need_hosts && !own) || (rd->need_v6 && !v6)) {
			printf("skipped: %s\n", rd->name);
			continue;
		}
		run_round(r, rd, hosts);
	}

	mem_deref(r);
	test_free_answered();

	libre_close();
	if (own)
		(void)unlink(hosts);

	return 0;
}
