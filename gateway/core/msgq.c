/**
 * @file msgq.c  Message queue between threads
 *
 * Locking: `lock` guards `head`/`tail` only; handlers run without it, so a
 * handler may push to any queue (its own included) without deadlock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include "cb_re.h"
#include "msgq.h"

struct qmsg {
	struct qmsg *next;
	int id;
	void *data;
};

struct msgq {
	pthread_mutex_t lock;
	struct qmsg *head;    /**< guarded by lock */
	struct qmsg *tail;    /**< guarded by lock */
	int efd;              /**< eventfd, readable while messages wait */
	msgq_h *h;
	void *arg;
};


static void destructor(void *arg)
{
	struct msgq *mq = arg;
	struct qmsg *m = mq->head;

	/* undelivered messages: their payloads are the pusher's problem
	 * only if it outlives us; by design queues die after their
	 * producers stopped, so just free the envelopes */
	while (m) {
		struct qmsg *next = m->next;
		free(m);
		m = next;
	}

	if (mq->efd >= 0)
		(void)close(mq->efd);

	pthread_mutex_destroy(&mq->lock);
}


/**
 * Allocate a message queue
 *
 * @param mqp  Pointer to allocated queue
 * @param h    Handler called by msgq_drain() for every message
 * @param arg  Handler argument
 *
 * @return 0 if success, otherwise errorcode
 */
int msgq_alloc(struct msgq **mqp, msgq_h *h, void *arg)
{
	struct msgq *mq;
	int err = 0;

	if (!mqp || !h)
		return EINVAL;

	mq = mem_zalloc(sizeof(*mq), destructor);
	if (!mq)
		return ENOMEM;

	pthread_mutex_init(&mq->lock, NULL);
	mq->h   = h;
	mq->arg = arg;
	mq->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (mq->efd < 0) {
		err = errno;
		goto out;
	}

 out:
	if (err)
		mem_deref(mq);
	else
		*mqp = mq;

	return err;
}


/**
 * Push a message; callable from any thread
 *
 * @param mq    Message queue
 * @param id    Message type
 * @param data  Payload, owned by the handler from now on
 *
 * @return 0 if success, otherwise errorcode
 */
int msgq_push(struct msgq *mq, int id, void *data)
{
	struct qmsg *m;
	uint64_t one = 1;
	bool wake;

	if (!mq)
		return EINVAL;

	m = malloc(sizeof(*m));
	if (!m)
		return ENOMEM;

	m->next = NULL;
	m->id   = id;
	m->data = data;

	pthread_mutex_lock(&mq->lock);
	wake = (mq->head == NULL);
	if (mq->tail)
		mq->tail->next = m;
	else
		mq->head = m;
	mq->tail = m;
	pthread_mutex_unlock(&mq->lock);

	/* the eventfd only needs a kick when the queue was empty */
	if (wake && write(mq->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return errno;

	return 0;
}


/** File descriptor the consumer's loop watches for readability */
int msgq_fd(const struct msgq *mq)
{
	return mq ? mq->efd : -1;
}


/**
 * Run the handler for every waiting message; call on the consumer thread
 *
 * @param mq  Message queue
 */
void msgq_drain(struct msgq *mq)
{
	struct qmsg *m;
	uint64_t cnt;

	if (!mq)
		return;

	if (read(mq->efd, &cnt, sizeof(cnt)) < 0) {
		/* EAGAIN: nothing signalled, but drain anyway */
	}

	pthread_mutex_lock(&mq->lock);
	m = mq->head;
	mq->head = mq->tail = NULL;
	pthread_mutex_unlock(&mq->lock);

	while (m) {
		struct qmsg *next = m->next;
		int id = m->id;
		void *data = m->data;

		free(m);
		mq->h(id, data, mq->arg);
		m = next;
	}
}
