/**
 * @file worker.c  Media worker threads ("cb-media-N")
 *
 * Design note. Each worker is one thread with one event loop: a libev loop
 * (epoll) that libwebsockets also runs on, as a foreign loop. The worker's
 * calls register their RTP/RTCP sockets and pacing timers directly with
 * libev, and their agent WebSockets live in the worker's own lws_context
 * (lws is built with LWS_MAX_SMP=1: one context per thread). Nothing a
 * call touches per packet is shared with another thread, so there is no
 * lock on the media path. The SIP thread talks to a worker only through
 * the worker's message queue (an eventfd in this loop); the worker answers
 * through the SIP thread's queue.
 *
 * We measured lws's own poll() loop against this: poll() walks every fd of
 * the thread on every wake-up, which grows with the number of calls;
 * epoll does not. See bench/README.md.
 */
#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <ev.h>
#include <libwebsockets.h>
#include "cb_re.h"
#include "alink.h"
#include "callreg.h"
#include "gwmsg.h"
#include "log.h"
#include "mcall.h"
#include "msgq.h"
#include "worker.h"

/**
 * A media worker.
 *
 * Locking: `ncalls` is atomic (read by the SIP thread to place calls);
 * `mq` is the thread-safe inbox. Everything else is touched only by the
 * worker thread once it runs.
 */
struct worker {
	pthread_t tid;
	pid_t os_tid;             /**< the thread's kernel id        */
	unsigned idx;
	char name[16];
	struct ev_loop *loop;
	struct lws_context *lws;
	struct msgq *mq;          /**< SIP thread -> this worker     */
	struct msgq *sipq;        /**< this worker -> SIP thread     */
	struct callreg *reg;
	struct alink_tls *tls;    /**< wss:// client context (shared) */
	ev_io mq_io;
	ev_timer stats_tmr;       /**< publishes call stats, 1 Hz    */
	struct hash *calls;       /**< struct mcall by id            */
	atomic_uint ncalls;
	sem_t ready;
	int start_err;
	bool running;
};

static void lws_log(int level, const char *line)
{
	size_t n = strlen(line);

	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		--n;

	log_msg(level == LLL_ERR ? LOGL_ERROR : LOGL_WARN, "lws: %b",
		line, n);
}


/** Send libwebsockets' own warnings and errors to our log */
void worker_lws_logging(void)
{
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
}


/** Monotonic clock [us] */
uint64_t worker_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);

	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}


static bool id_cmp(struct le *le, void *arg)
{
	return mcall_id(le->data) == *(uint64_t *)arg;
}


static struct mcall *call_find(struct worker *w, uint64_t id)
{
	return list_ledata(hash_lookup(w->calls, (uint32_t)id, id_cmp, &id));
}


static void msg_handler(int id, void *data, void *arg)
{
	struct worker *w = arg;
	struct wmsg *m = data;
	struct mcall *mc;

	switch (id) {

	case WMSG_CALL_START:
		if (mcall_start(w, data)) {
			/* mcall_start reported the failure itself */
		}
		return;

	case WMSG_SHUTDOWN:
		w->running = false;
		ev_break(w->loop, EVBREAK_ALL);
		return;

	default:
		break;
	}

	mc = m ? call_find(w, m->id) : NULL;
	if (mc) {
		switch (id) {
		case WMSG_CALL_ANSWERED: mcall_answered(mc, &m->media);  break;
		case WMSG_CALL_UPDATE:   mcall_update(mc, &m->media);     break;
		case WMSG_CALL_DTMF:     mcall_dtmf(mc, m->digit,
						    m->duration);         break;
		case WMSG_CALL_STOP:     mcall_stop(mc, m->reason);       break;
		default: break;
		}
	}
	else if (m && id == WMSG_CALL_STOP) {
		/* never started (mcall_start failed): still answer once */
		struct smsg *s = mem_zalloc(sizeof(*s), NULL);
		if (s) {
			s->id = m->id;
			(void)worker_report(w, SMSG_CALL_GONE, s);
		}
	}

	mem_deref(m);
}


static void mq_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct worker *w = io->data;

	(void)loop;
	(void)revents;

	msgq_drain(w->mq);
}


static bool stats_apply(struct le *le, void *arg)
{
	struct worker *w = arg;
	struct media_stats st;

	mcall_stats(le->data, &st);
	callreg_publish(w->reg, mcall_id(le->data), &st);

	return false;
}


static void stats_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker *w = t->data;

	(void)loop;
	(void)revents;

	(void)hash_apply(w->calls, stats_apply, w);
}


static int loop_init(struct worker *w)
{
	struct lws_context_creation_info info;
	void *foreign[1];

	w->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (!w->loop)
		return ENOMEM;

	foreign[0] = w->loop;
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = alink_protocols();
	/* no TLS in lws: the agent link does its own (agent/alink_tls.c) */
	info.options = LWS_SERVER_OPTION_LIBEV;
	info.foreign_loops = foreign;
	info.timeout_secs = 5;
	info.connect_timeout_secs = 10;

	w->lws = lws_create_context(&info);
	if (!w->lws)
		return ENOMEM;

	ev_io_init(&w->mq_io, mq_cb, msgq_fd(w->mq), EV_READ);
	w->mq_io.data = w;
	ev_io_start(w->loop, &w->mq_io);

	ev_timer_init(&w->stats_tmr, stats_cb, 1.0, 1.0);
	w->stats_tmr.data = w;
	ev_timer_start(w->loop, &w->stats_tmr);

	return 0;
}


static void loop_close(struct worker *w)
{
	if (w->lws) {
		lws_context_destroy(w->lws);
		w->lws = NULL;
		/* let libev run the close callbacks lws queued */
		if (w->loop)
			ev_run(w->loop, EVRUN_NOWAIT);
	}
	if (w->loop) {
		ev_io_stop(w->loop, &w->mq_io);
		ev_timer_stop(w->loop, &w->stats_tmr);
		ev_loop_destroy(w->loop);
		w->loop = NULL;
	}
}


static bool stop_apply(struct le *le, void *arg)
{
	(void)arg;
	mcall_stop(le->data, END_SHUTDOWN);
	return false;
}


static void *worker_main(void *arg)
{
	struct worker *w = arg;

	log_thread_name(w->name);
	w->os_tid = (pid_t)syscall(SYS_gettid);

	w->start_err = loop_init(w);
	w->running = (w->start_err == 0);
	sem_post(&w->ready);
	if (!w->running) {
		loop_close(w);
		return NULL;
	}

	log_debug("media worker %u running", w->idx);

	while (w->running)
		ev_run(w->loop, 0);

	/* normally the SIP thread has ended every call before this */
	(void)hash_apply(w->calls, stop_apply, NULL);
	msgq_drain(w->mq);

	loop_close(w);
	log_debug("media worker %u stopped", w->idx);

	return NULL;
}


static void destructor(void *arg)
{
	struct worker *w = arg;

	if (w->tid) {
		(void)msgq_push(w->mq, WMSG_SHUTDOWN, NULL);
		pthread_join(w->tid, NULL);
	}

	hash_flush(w->calls);
	mem_deref(w->calls);
	mem_deref(w->mq);
	sem_destroy(&w->ready);
}


/**
 * Start a media worker thread
 *
 * @param wp    Pointer to allocated worker (mem_deref stops and joins it)
 * @param idx   Index, for the thread name "cb-media-<idx>"
 * @param sipq  Queue of the SIP thread, for reports
 * @param reg   Call registry, for published statistics
 * @param tls   TLS client context for wss:// agents (outlives the worker)
 *
 * @return 0 if success, otherwise errorcode
 */
int worker_alloc(struct worker **wp, unsigned idx, struct msgq *sipq,
		 struct callreg *reg, struct alink_tls *tls)
{
	struct worker *w;
	int err;

	if (!wp || !sipq)
		return EINVAL;

	w = mem_zalloc(sizeof(*w), destructor);
	if (!w)
		return ENOMEM;

	w->idx  = idx;
	w->sipq = sipq;
	w->reg  = reg;
	w->tls  = tls;
	sem_init(&w->ready, 0, 0);
	snprintf(w->name, sizeof(w->name), "cb-media-%u", idx);

	err = hash_alloc(&w->calls, 256);
	if (err)
		goto out;

	err = msgq_alloc(&w->mq, msg_handler, w);
	if (err)
		goto out;

	err = pthread_create(&w->tid, NULL, worker_main, w);
	if (err) {
		w->tid = 0;
		goto out;
	}
	(void)pthread_setname_np(w->tid, w->name);

	sem_wait(&w->ready);
	err = w->start_err;
	if (err) {
		pthread_join(w->tid, NULL);
		w->tid = 0;
	}

 out:
	if (err)
		mem_deref(w);
	else
		*wp = w;

	return err;
}


/** Send a message to the worker (any thread) */
int worker_push(struct worker *w, int id, void *data)
{
	return w ? msgq_push(w->mq, id, data) : EINVAL;
}


/** Calls on this worker (any thread) */
uint32_t worker_load(const struct worker *w)
{
	return w ? atomic_load(&w->ncalls) : 0;
}


unsigned worker_index(const struct worker *w)
{
	return w ? w->idx : 0;
}


struct ev_loop *worker_loop(const struct worker *w)
{
	return w->loop;
}


/** The TLS client context for the worker's agent links */
struct alink_tls *worker_tls(const struct worker *w)
{
	return w ? w->tls : NULL;
}


/** The worker's lws_context (worker thread only) */
struct lws_context *worker_lws(const struct worker *w)
{
	return w->lws;
}


/**
 * Register a call that now runs on this worker (worker thread)
 *
 * @param w   Worker
 * @param he  The call's hash element
 * @param id  Call id
 * @param mc  The call
 */
void worker_call_add(struct worker *w, struct le *he, uint64_t id,
		     struct mcall *mc)
{
	hash_append(w->calls, (uint32_t)id, he, mc);
	atomic_fetch_add(&w->ncalls, 1);
}


/** Unregister a call (worker thread) */
void worker_call_remove(struct worker *w, struct le *he)
{
	if (!he->list)
		return;

	hash_unlink(he);
	atomic_fetch_sub(&w->ncalls, 1);
}


/** Report to the SIP thread (worker thread) */
int worker_report(struct worker *w, int id, struct smsg *m)
{
	return msgq_push(w->sipq, id, m);
}


/**
 * Raise a worker's scheduling priority: a media worker must run its 20 ms
 * ticks on time on a host that is busy with other work. The kernel's
 * nice value of the worker's thread alone (Linux schedules threads).
 * Allowed to root, to CAP_SYS_NICE and within RLIMIT_NICE (systemd's
 * LimitNICE=).
 *
 * @param w     Media worker (running)
 * @param nice  Nice value, -20..19
 *
 * @return 0 if success, otherwise errorcode (EPERM/EACCES: not allowed)
 */
int worker_set_nice(struct worker *w, int nice)
{
	if (!w || !w->os_tid || nice < -20 || nice > 19)
		return EINVAL;

	if (setpriority(PRIO_PROCESS, (id_t)w->os_tid, nice))
		return errno;

	return 0;
}
