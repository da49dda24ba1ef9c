/**
 * @file test_rtpport.c  RTP/RTCP port pairs from a range (gateway/rtpport.c)
 *
 * A table of scripts over one allocator each: o (open a pair: expect the
 * RTP port, or an error), c N (close the Nth pair opened), b P (someone
 * else binds UDP port P), u P (they let it go). Ports are offsets into a
 * window of free ports found at start-up (the machine is shared: the
 * window starts at a place derived from the pid, below the daemon's
 * default range and the kernel's ephemeral ports). Every pair opened is
 * checked with getsockname(): RTP on an even port of the range, RTCP on
 * port + 1, both UDP on the allocator's address; and with a second bind
 * of the same ports, which must fail while the pair is open.
 */
#include <errno.h>
#include <stdbool.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include "cb_re.h"
#include "rtpport.h"
#include "test.h"

enum {
	WINDOW = 24,          /**< ports in the window             */
	MAXOPEN = 8,
	BASE_LO = 12000,      /**< the window is found in here     */
	BASE_HI = 19900,
};

struct step {
	char op;              /**< o, c, b, u                      */
	int arg;              /**< o: expected offset (-1: error), c: index,
				   b/u: offset                      */
	int err;              /**< o: expected error               */
};

struct tcase {
	const char *name;
	const char *addr;     /**< bind address                    */
	int min, max;         /**< range, offsets into the window  */
	struct step steps[16];
};

static const struct tcase cases[] = {
	{"even ports from the start, RTCP + 1", "127.0.0.1", 0, 9, {
		{'o', 0, 0}, {'o', 2, 0}, {'o', 4, 0}, {0, 0, 0}}},
	{"odd minimum rounds up to even", "127.0.0.1", 1, 9, {
		{'o', 2, 0}, {'o', 4, 0}, {0, 0, 0}}},
	{"exhaustion, then a closed pair is reused", "127.0.0.1", 0, 5, {
		{'o', 0, 0}, {'o', 2, 0}, {'o', 4, 0},
		{'o', -1, EADDRINUSE}, {'o', -1, EADDRINUSE},
		{'c', 1, 0}, {'o', 2, 0}, {'o', -1, EADDRINUSE},
		{'c', 0, 0}, {'c', 2, 0}, {'o', 4, 0}, {'o', 0, 0},
		{0, 0, 0}}},
	{"odd maximum: the last port is no pair", "127.0.0.1", 0, 4, {
		{'o', 0, 0}, {'o', 2, 0}, {'o', -1, EADDRINUSE},
		{0, 0, 0}}},
	{"the cursor goes on past a closed pair, then wraps", "127.0.0.1",
	 0, 7, {
		{'o', 0, 0}, {'c', 0, 0}, {'o', 2, 0}, {'o', 4, 0},
		{'o', 6, 0}, {'o', 0, 0}, {0, 0, 0}}},
	{"ports in use elsewhere are skipped (RTP or RTCP)", "127.0.0.1",
	 0, 9, {
		{'b', 0, 0}, {'b', 3, 0}, {'o', 4, 0}, {'o', 6, 0},
		{'u', 0, 0}, {'o', 8, 0}, {'o', 0, 0},
		{'o', -1, EADDRINUSE}, {'u', 3, 0}, {'o', 2, 0},
		{0, 0, 0}}},
	{"IPv6 loopback", "::1", 0, 5, {
		{'o', 0, 0}, {'o', 2, 0}, {'o', 4, 0},
		{'o', -1, EADDRINUSE}, {'c', 0, 0}, {'o', 0, 0},
		{0, 0, 0}}},
	{"wildcard address", "0.0.0.0", 0, 3, {
		{'o', 0, 0}, {'o', 2, 0}, {'o', -1, EADDRINUSE},
		{0, 0, 0}}},
	{"an address not ours: its error, not EADDRINUSE", "192.0.2.77",
	 0, 5, {
		{'o', -1, EADDRNOTAVAIL}, {0, 0, 0}}},
};

static uint16_t base;         /* the window: base .. base + WINDOW - 1 */


static int bind_udp(const char *addr, uint16_t port)
{
	struct sa sa;
	int fd;

	if (sa_set_str(&sa, addr, port))
		return -1;
	fd = socket(sa_af(&sa), SOCK_DGRAM, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, &sa.u.sa, sa.len) < 0) {
		(void)close(fd);
		return -1;
	}
	return fd;
}

/* a window of WINDOW free ports on both loopbacks and the wildcard */
static void find_window(void)
{
	uint16_t span = BASE_HI - BASE_LO;
	uint16_t start = (uint16_t)(BASE_LO + (getpid() * 97) % span);

	for (int tries = 0; tries < 200; tries++) {
		uint16_t b = (uint16_t)(BASE_LO + ((start - BASE_LO +
						    tries * WINDOW) % span));
		bool ok = true;

		b &= (uint16_t)~1u;
		for (int i = 0; i < WINDOW && ok; i++) {
			int fd = bind_udp("0.0.0.0", (uint16_t)(b + i));
			int fd6 = bind_udp("::1", (uint16_t)(b + i));

			ok = fd >= 0 && fd6 >= 0;
			if (fd >= 0)
				(void)close(fd);
			if (fd6 >= 0)
				(void)close(fd6);
		}
		if (ok) {
			base = b;
			return;
		}
	}
	TEST_FAIL("no %d free UDP ports between %d and %d", WINDOW, BASE_LO,
		  BASE_HI);
}

static uint16_t local_port(int fd, const struct sa *want)
{
	struct sa sa;

	sa_init(&sa, AF_UNSPEC);
	sa.len = sizeof(sa.u);
	TEST_ASSERT(getsockname(fd, &sa.u.sa, &sa.len) == 0);
	TEST_EQ(sa_af(&sa), sa_af(want));
	TEST_ASSERT(sa_cmp(&sa, want, SA_ADDR));
	return sa_port(&sa);
}

static void check_pair(const struct tcase *tc, const struct rtp_socks *s,
		       const struct sa *addr, int off)
{
	uint16_t port = (uint16_t)(base + off);
	int type;
	socklen_t len = sizeof(type);

	if (sa_port(&s->laddr) != port)
		TEST_FAIL("%s: opened %u, expected %u (offset %d)", tc->name,
			  sa_port(&s->laddr), port, off);
	TEST_EQ(port % 2, 0);
	TEST_ASSERT(sa_cmp(&s->laddr, addr, SA_ADDR));
	TEST_EQ(local_port(s->rtp_fd, addr), port);
	TEST_EQ(local_port(s->rtcp_fd, addr), port + 1);

	TEST_ASSERT(getsockopt(s->rtp_fd, SOL_SOCKET, SO_TYPE, &type,
			       &len) == 0);
	TEST_EQ(type, SOCK_DGRAM);

	/* while open, nobody else gets the ports */
	{
		char a[64];
		re_snprintf(a, sizeof(a), "%j", addr);
		TEST_ASSERT(bind_udp(a, port) < 0);
		TEST_ASSERT(bind_udp(a, (uint16_t)(port + 1)) < 0);
	}
}

static void run(const struct tcase *tc)
{
	struct rtp_socks socks[MAXOPEN];
	int others[WINDOW];
	struct rtpport *rp = NULL;
	struct sa addr;
	size_t nopen = 0;

	for (int i = 0; i < WINDOW; i++)
		others[i] = -1;

	TEST_ERR(sa_set_str(&addr, tc->addr, 0), 0);
	TEST_ERR(rtpport_alloc(&rp, &addr, (uint16_t)(base + tc->min),
			       (uint16_t)(base + tc->max)), 0);

	for (const struct step *s = tc->steps; s->op; s++) {
		struct rtp_socks sk;
		int err;

		switch (s->op) {

		case 'o':
			memset(&sk, 0x5a, sizeof(sk));
			err = rtpport_open(rp, &sk);
			if (err != s->err)
				TEST_FAIL("%s: step %zu: err %d (%s), expected "
					  "%d", tc->name,
					  (size_t)(s - tc->steps), err,
					  strerror(err), s->err);
			if (err) {
				TEST_EQ(sk.rtp_fd, -1);
				TEST_EQ(sk.rtcp_fd, -1);
				break;
			}
			check_pair(tc, &sk, &addr, s->arg);
			TEST_ASSERT(nopen < MAXOPEN);
			socks[nopen++] = sk;
			break;

		case 'c':
			TEST_ASSERT((size_t)s->arg < nopen);
			rtpport_close(&socks[s->arg]);
			TEST_EQ(socks[s->arg].rtp_fd, -1);
			TEST_EQ(socks[s->arg].rtcp_fd, -1);
			rtpport_close(&socks[s->arg]);  /* harmless twice */
			break;

		case 'b':
			others[s->arg] = bind_udp(tc->addr,
						  (uint16_t)(base + s->arg));
			TEST_ASSERT(others[s->arg] >= 0);
			break;

		case 'u':
			(void)close(others[s->arg]);
			others[s->arg] = -1;
			break;
		}
	}

	for (size_t i = 0; i < nopen; i++)
		rtpport_close(&socks[i]);
	for (int i = 0; i < WINDOW; i++) {
		if (others[i] >= 0)
			(void)close(others[i]);
	}
	mem_deref(rp);
}

static void test_alloc(void)
{
	struct rtpport *rp = NULL;
	struct rtp_socks sk;
	struct sa a;

	TEST_ERR(sa_set_str(&a, "127.0.0.1", 0), 0);
	TEST_ERR(rtpport_alloc(NULL, &a, 20000, 20010), EINVAL);
	TEST_ERR(rtpport_alloc(&rp, NULL, 20000, 20010), EINVAL);
	TEST_ERR(rtpport_alloc(&rp, &a, 20010, 20010), EINVAL);
	TEST_ERR(rtpport_alloc(&rp, &a, 20010, 20000), EINVAL);
	/* 20001..20002 holds no even/odd pair */
	TEST_ERR(rtpport_alloc(&rp, &a, 20001, 20002), EINVAL);
	TEST_ASSERT(rp == NULL);
	TEST_ERR(rtpport_alloc(&rp, &a, 20000, 20001), 0);
	TEST_ERR(rtpport_open(NULL, &sk), EINVAL);
	TEST_ERR(rtpport_open(rp, NULL), EINVAL);
	rtpport_close(NULL);
	mem_deref(rp);
}


int main(void)
{
	find_window();
	test_alloc();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run(&cases[i]);

	return 0;
}
