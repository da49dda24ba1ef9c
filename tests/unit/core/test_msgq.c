/**
 * @file test_msgq.c  Message queue between threads (gateway/msgq.c)
 *
 * A table of runs: P producer threads push N messages each (id: the
 * producer, data: a heap payload holding its sequence number), the
 * consumer waits on msgq_fd() with poll() and drains, as a libre or libev
 * loop would. Every message must arrive exactly once, each producer's in
 * its order, with the handler's argument, and the payload handed over
 * (the handler frees it; ASan sees a leak or a double free). Some runs
 * drain only after all is pushed (the queue has no bound: nothing is
 * refused or dropped), some while the producers run.
 *
 * Then the single-thread rules: the fd is readable exactly while
 * messages wait; a drain with nothing signalled runs nothing; a handler
 * may push to its own queue (delivered at the next drain, the fd
 * readable again); destroying a queue with messages waiting runs no
 * handler and frees the envelopes (not the payloads: those stay the
 * pusher's), and closes the eventfd.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>
#include "cb_re.h"
#include "msgq.h"
#include "test.h"

enum { MAXP = 8 };

struct tcase {
	const char *name;
	int producers;
	int per;              /**< messages per producer           */
	bool drain_after;     /**< drain only once all are pushed  */
};

static const struct tcase cases[] = {
	{"one producer, one message", 1, 1, false},
	{"one producer, drained as it goes", 1, 20000, false},
	{"four producers at once", 4, 20000, false},
	{"eight producers, all drained at the end (no bound)", 8, 25000,
	 true},
};

struct payload {
	int producer;
	int seq;
};

struct consumer {
	const struct tcase *tc;
	int next[MAXP];       /**< next sequence number expected   */
	long total;
	pthread_t self;
};

struct producer {
	struct msgq *mq;
	int id;
	int n;
	pthread_barrier_t *start;
};


static void handler(int id, void *data, void *arg)
{
	struct consumer *c = arg;
	struct payload *p = data;

	if (!pthread_equal(pthread_self(), c->self))
		TEST_FAIL("handler on another thread");
	if (id < 0 || id >= c->tc->producers || !p || p->producer != id)
		TEST_FAIL("%s: message id %d, payload of %d", c->tc->name, id,
			  p ? p->producer : -1);
	if (p->seq != c->next[id])
		TEST_FAIL("%s: producer %d: got %d, expected %d", c->tc->name,
			  id, p->seq, c->next[id]);
	c->next[id]++;
	c->total++;
	free(p);
}

static void *produce(void *arg)
{
	struct producer *pr = arg;

	pthread_barrier_wait(pr->start);
	for (int i = 0; i < pr->n; i++) {
		struct payload *p = malloc(sizeof(*p));

		TEST_ASSERT(p != NULL);
		p->producer = pr->id;
		p->seq = i;
		TEST_ERR(msgq_push(pr->mq, pr->id, p), 0);
		if (i % 1000 == 999)
			sched_yield();
	}
	return NULL;
}

static bool readable(const struct msgq *mq, int ms)
{
	struct pollfd pfd = {.fd = msgq_fd(mq), .events = POLLIN};
	int n = poll(&pfd, 1, ms);

	TEST_ASSERT(n >= 0);
	return n > 0 && (pfd.revents & POLLIN);
}

static void run(const struct tcase *tc)
{
	struct producer pr[MAXP];
	pthread_t tid[MAXP];
	pthread_barrier_t start;
	struct consumer c;
	struct msgq *mq = NULL;
	long want = (long)tc->producers * tc->per;

	memset(&c, 0, sizeof(c));
	c.tc = tc;
	c.self = pthread_self();

	TEST_ERR(msgq_alloc(&mq, handler, &c), 0);
	TEST_ASSERT(!readable(mq, 0));

	TEST_EQ(pthread_barrier_init(&start, NULL,
				     (unsigned)tc->producers + 1), 0);
	for (int i = 0; i < tc->producers; i++) {
		pr[i] = (struct producer){mq, i, tc->per, &start};
		TEST_EQ(pthread_create(&tid[i], NULL, produce, &pr[i]), 0);
	}
	pthread_barrier_wait(&start);

	if (tc->drain_after) {
		for (int i = 0; i < tc->producers; i++)
			TEST_EQ(pthread_join(tid[i], NULL), 0);
		TEST_ASSERT(readable(mq, 0));
		msgq_drain(mq);
		TEST_EQ(c.total, want);
	}
	else {
		/* every wake-up must bring something, in the end all */
		while (c.total < want) {
			if (!readable(mq, 10000))
				TEST_FAIL("%s: stuck at %ld of %ld (no "
					  "wake-up)", tc->name, c.total, want);
			msgq_drain(mq);
		}
		for (int i = 0; i < tc->producers; i++)
			TEST_EQ(pthread_join(tid[i], NULL), 0);
		/* a push between the eventfd read and the take may leave a
		   wake-up with nothing behind it: drain it, still nothing */
		msgq_drain(mq);
	}

	TEST_EQ(c.total, want);
	for (int i = 0; i < tc->producers; i++)
		TEST_EQ(c.next[i], tc->per);
	TEST_ASSERT(!readable(mq, 0));

	pthread_barrier_destroy(&start);
	mem_deref(mq);
}


/* -- one thread: the fd, re-entrant pushes, destruction ---------------- */

struct rec {
	struct msgq *mq;
	int ids[16];
	void *data[16];
	int n;
	int push_again;       /**< the handler pushes this id once (0: no) */
};

static void rec_handler(int id, void *data, void *arg)
{
	struct rec *r = arg;

	TEST_ASSERT(r->n < 16);
	r->ids[r->n] = id;
	r->data[r->n] = data;
	r->n++;

	if (r->push_again) {
		int again = r->push_again;

		r->push_again = 0;
		TEST_ERR(msgq_push(r->mq, again, NULL), 0);
	}
}

static void test_single(void)
{
	struct rec r;
	struct msgq *mq = NULL;
	int a, b, fd;

	memset(&r, 0, sizeof(r));

	TEST_ERR(msgq_alloc(NULL, rec_handler, &r), EINVAL);
	TEST_ERR(msgq_alloc(&mq, NULL, &r), EINVAL);
	TEST_ASSERT(mq == NULL);
	TEST_ERR(msgq_push(NULL, 1, NULL), EINVAL);
	TEST_EQ(msgq_fd(NULL), -1);
	msgq_drain(NULL);

	TEST_ERR(msgq_alloc(&mq, rec_handler, &r), 0);
	r.mq = mq;
	fd = msgq_fd(mq);
	TEST_ASSERT(fd >= 0);
	TEST_ASSERT(fcntl(fd, F_GETFL) & O_NONBLOCK);
	TEST_ASSERT(fcntl(fd, F_GETFD) & FD_CLOEXEC);

	/* nothing waiting: not readable, a drain runs nothing */
	TEST_ASSERT(!readable(mq, 0));
	msgq_drain(mq);
	TEST_EQ(r.n, 0);

	/* ids and payloads as pushed, in order; readable until drained */
	TEST_ERR(msgq_push(mq, 7, &a), 0);
	TEST_ASSERT(readable(mq, 0));
	TEST_ERR(msgq_push(mq, -3, &b), 0);
	TEST_ERR(msgq_push(mq, 0, NULL), 0);
	TEST_ASSERT(readable(mq, 0));
	msgq_drain(mq);
	TEST_EQ(r.n, 3);
	TEST_EQ(r.ids[0], 7);
	TEST_ASSERT(r.data[0] == &a);
	TEST_EQ(r.ids[1], -3);
	TEST_ASSERT(r.data[1] == &b);
	TEST_EQ(r.ids[2], 0);
	TEST_ASSERT(r.data[2] == NULL);
	TEST_ASSERT(!readable(mq, 0));

	/* a handler pushing to its own queue: next drain, fd readable */
	r.n = 0;
	r.push_again = 42;
	TEST_ERR(msgq_push(mq, 1, NULL), 0);
	msgq_drain(mq);
	TEST_EQ(r.n, 1);
	TEST_EQ(r.ids[0], 1);
	TEST_ASSERT(readable(mq, 0));
	msgq_drain(mq);
	TEST_EQ(r.n, 2);
	TEST_EQ(r.ids[1], 42);
	TEST_ASSERT(!readable(mq, 0));

	/* destroyed with messages waiting: no handler runs, the eventfd is
	   closed, the envelopes freed (LeakSanitizer would say otherwise) */
	r.n = 0;
	for (int i = 0; i < 5; i++)
		TEST_ERR(msgq_push(mq, i, &a), 0);
	mem_deref(mq);
	TEST_EQ(r.n, 0);
	errno = 0;
	TEST_ASSERT(fcntl(fd, F_GETFD) == -1 && errno == EBADF);
}


int main(void)
{
	test_single();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run(&cases[i]);

	return 0;
}
