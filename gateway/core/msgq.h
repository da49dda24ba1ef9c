/**
 * @file msgq.h  Message queue between threads
 *
 * Multi-producer, single-consumer. Any thread pushes; the owning thread's
 * event loop watches msgq_fd() (an eventfd) and calls msgq_drain(), which
 * runs the handler for each message in FIFO order. Used only for call
 * set-up, changes and tear-down, never per packet.
 */
#ifndef CB_MSGQ_H
#define CB_MSGQ_H

struct msgq;

/**
 * Message handler, called on the consumer thread
 *
 * @param id    Message type (meaning is up to the queue's owner)
 * @param data  Message payload; ownership passes to the handler
 * @param arg   Handler argument
 */
typedef void (msgq_h)(int id, void *data, void *arg);

int  msgq_alloc(struct msgq **mqp, msgq_h *h, void *arg);
int  msgq_push(struct msgq *mq, int id, void *data);
int  msgq_fd(const struct msgq *mq);
void msgq_drain(struct msgq *mq);

#endif
