/**
 * @file worker.h  Media worker threads
 */
#ifndef CB_WORKER_H
#define CB_WORKER_H

#include <stdint.h>

struct worker;
struct msgq;
struct callreg;
struct mcall;
struct smsg;
struct ev_loop;
struct lws_context;
struct le;
struct alink_tls;

int  worker_alloc(struct worker **wp, unsigned idx, struct msgq *sipq,
		  struct callreg *reg, struct alink_tls *tls);
int  worker_push(struct worker *w, int id, void *data);
uint32_t worker_load(const struct worker *w);
unsigned worker_index(const struct worker *w);

/* for the calls running on the worker (worker thread only) */
struct ev_loop *worker_loop(const struct worker *w);
struct lws_context *worker_lws(const struct worker *w);
struct alink_tls *worker_tls(const struct worker *w);
void worker_call_add(struct worker *w, struct le *he, uint64_t id,
		     struct mcall *mc);
void worker_call_remove(struct worker *w, struct le *he);
int  worker_report(struct worker *w, int id, struct smsg *m);
uint64_t worker_now_us(void);
void worker_lws_logging(void);
int  worker_set_nice(struct worker *w, int nice);

#endif
