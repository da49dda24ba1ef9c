/**
 * @file playq.c  Playout queue with marks
 *
 * Audio lives in fixed blocks on a singly linked list; positions are
 * absolute byte counts since the queue was created (written, read), so a
 * mark is just "the write position when it arrived". Single-threaded: the
 * call's media worker owns it.
 */
#include <errno.h>
#include <string.h>
#include "cb_re.h"
#include "playq.h"

enum { BLOCK_SIZE = 4096 };

struct block {
	struct block *next;
	size_t len;            /**< bytes used            */
	size_t off;            /**< bytes already read    */
	uint8_t data[BLOCK_SIZE];
};

struct qmark {
	struct le le;
	uint64_t pos;          /**< write position when the mark arrived */
	char *name;
};

struct playq {
	struct block *head, *tail;
	struct block *spare;   /**< one cached block, saves malloc churn */
	uint64_t wpos;         /**< bytes written, total  */
	uint64_t rpos;         /**< bytes read, total     */
	uint64_t dropped;      /**< bytes refused, full   */
	size_t max;            /**< capacity [bytes]      */
	struct list marks;     /**< pending, in order     */
	playq_mark_h *markh;
	void *arg;
};


static void block_free(struct block *b)
{
	while (b) {
		struct block *next = b->next;
		mem_deref(b);
		b = next;
	}
}


static void mark_destructor(void *arg)
{
	struct qmark *m = arg;

	list_unlink(&m->le);
	mem_deref(m->name);
}


static void destructor(void *arg)
{
	struct playq *q = arg;

	block_free(q->head);
	mem_deref(q->spare);
	list_flush(&q->marks);
}


/**
 * Allocate a playout queue
 *
 * @param qp         Pointer to allocated queue
 * @param max_bytes  Capacity; audio beyond it is dropped and counted
 * @param markh      Called when a mark is reached
 * @param arg        Handler argument
 *
 * @return 0 if success, otherwise errorcode
 */
int playq_alloc(struct playq **qp, size_t max_bytes, playq_mark_h *markh,
		void *arg)
{
	struct playq *q;

	if (!qp || !max_bytes)
		return EINVAL;

	q = mem_zalloc(sizeof(*q), destructor);
	if (!q)
		return ENOMEM;

	q->max   = max_bytes;
	q->markh = markh;
	q->arg   = arg;

	*qp = q;

	return 0;
}


static struct block *block_get(struct playq *q)
{
	struct block *b = q->spare;

	if (b) {
		q->spare = NULL;
	}
	else {
		b = mem_alloc(sizeof(*b), NULL);
		if (!b)
			return NULL;
	}

	b->next = NULL;
	b->len = 0;
	b->off = 0;

	return b;
}


/**
 * Queue audio
 *
 * @return bytes queued (less than len when the queue is full or memory
 *         ran out; the rest is counted as dropped)
 */
size_t playq_write(struct playq *q, const uint8_t *data, size_t len)
{
	size_t done = 0;

	if (!q || !data)
		return 0;

	while (done < len && playq_len(q) < q->max) {
		struct block *b = q->tail;
		size_t n;

		if (!b || b->len == BLOCK_SIZE) {
			b = block_get(q);
			if (!b)
				break;
			if (q->tail)
				q->tail->next = b;
			else
				q->head = b;
			q->tail = b;
		}

		n = BLOCK_SIZE - b->len;
		if (n > len - done)
			n = len - done;
		if (n > q->max - playq_len(q))
			n = q->max - playq_len(q);

		memcpy(b->data + b->len, data + done, n);
		b->len  += n;
		q->wpos += n;
		done    += n;
	}

	q->dropped += len - done;

	return done;
}


static void marks_release(struct playq *q, bool cleared)
{
	struct le *le;

	while ((le = list_head(&q->marks))) {
		struct qmark *m = le->data;

		if (!cleared && m->pos > q->rpos)
			break;

		list_unlink(&m->le);
		if (q->markh)
			q->markh(m->name, cleared, q->arg);
		mem_deref(m);
	}
}


/**
 * Take audio for playing
 *
 * @param q    Queue
 * @param out  Output buffer
 * @param len  Bytes wanted
 *
 * @return bytes read (0..len); marks reached are reported before return
 */
size_t playq_read(struct playq *q, uint8_t *out, size_t len)
{
	size_t done = 0;

	if (!q || !out)
		return 0;

	while (done < len && q->head) {
		struct block *b = q->head;
		size_t n = b->len - b->off;

		if (n > len - done)
			n = len - done;

		memcpy(out + done, b->data + b->off, n);
		b->off  += n;
		q->rpos += n;
		done    += n;

		if (b->off == b->len) {
			if (b == q->tail) {
				/* the tail may still be written to: reuse */
				b->len = b->off = 0;
				break;
			}
			q->head = b->next;
			b->next = NULL;
			if (!q->spare)
				q->spare = b;
			else
				mem_deref(b);
		}
	}

	marks_release(q, false);

	return done;
}


/**
 * Copy the audio at the head without taking it
 *
 * @return bytes copied (0..len)
 */
size_t playq_peek(const struct playq *q, uint8_t *out, size_t len)
{
	size_t done = 0;

	if (!q || !out)
		return 0;

	for (const struct block *b = q->head; b && done < len; b = b->next) {
		size_t n = b->len - b->off;

		if (n > len - done)
			n = len - done;
		memcpy(out + done, b->data + b->off, n);
		done += n;
	}

	return done;
}


/**
 * Add a mark after the audio queued so far
 *
 * @param q     Queue
 * @param name  Mark name (copied), or NULL
 *
 * @return 0 if success, otherwise errorcode. With nothing queued, the mark
 *         handler runs before this returns.
 */
int playq_mark(struct playq *q, const char *name)
{
	struct qmark *m;
	int err;

	if (!q)
		return EINVAL;

	if (q->wpos == q->rpos && list_isempty(&q->marks)) {
		if (q->markh)
			q->markh(name, false, q->arg);
		return 0;
	}

	m = mem_zalloc(sizeof(*m), mark_destructor);
	if (!m)
		return ENOMEM;

	m->pos = q->wpos;
	if (name) {
		err = str_dup(&m->name, name);
		if (err) {
			mem_deref(m);
			return err;
		}
	}

	list_append(&q->marks, &m->le, m);

	return 0;
}


/** Drop all queued audio and release every pending mark */
void playq_clear(struct playq *q)
{
	if (!q)
		return;

	block_free(q->head);
	q->head = q->tail = NULL;
	q->rpos = q->wpos;

	marks_release(q, true);
}


/** Bytes waiting to be played */
size_t playq_len(const struct playq *q)
{
	return q ? (size_t)(q->wpos - q->rpos) : 0;
}


/** Bytes refused because the queue was full */
uint64_t playq_dropped(const struct playq *q)
{
	return q ? q->dropped : 0;
}
