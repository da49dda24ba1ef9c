/**
 * @file ctl.c  The control socket server: thread "cb-ctl"
 *
 * Design note
 *
 * Loop: a plain epoll loop on its own thread, not libre's. libre's loop
 * state is per thread, but re_cancel() and friends act on the caller's
 * thread, so stopping it from the main thread would need a message queue
 * into it anyway; an eventfd in a bare epoll set does the same with no
 * shared state at all. Every descriptor is non-blocking and the loop never
 * blocks except in epoll_wait, so no client can hold up another. Request
 * handling is the only work that may take time (a store mutation fsyncs
 * the state file); it runs here, never on the SIP thread or a media
 * worker, which is why the control socket cannot stall media.
 *
 * Fairness: each turn a client gets one read (at most CTL_READ_CHUNK
 * bytes) and at most CTL_LINES_PER_TURN requests handled; left-over
 * complete lines are handled on the next turns, interleaved with others.
 *
 * Bounds, per client:
 *   - input: a request line may be CTL_LINE_MAX bytes. A longer line gets
 *     a line_too_long reply and is discarded up to its newline; the client
 *     stays connected. The input buffer grows on demand, so idle clients
 *     cost a socket and a small struct.
 *   - output: while more than CTL_OUT_SOFT bytes of replies wait to be
 *     sent, the client's further requests wait (it is not read). A client
 *     whose unsent output would exceed CTL_OUT_HARD is dropped.
 *   - clients: at most CTL_CLIENTS_MAX; one more gets a busy reply and is
 *     closed. If accept() runs out of descriptors, accepting pauses for
 *     ACCEPT_PAUSE_MS.
 * A client that disconnects mid-line loses that partial line; a client
 * that shuts down its write side after complete lines still gets their
 * replies.
 *
 * Objects freed while events for them may still be in the current epoll
 * batch are parked on `dead` and freed after the batch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include "cb_re.h"
#include "fsutil.h"
#include "store.h"
#include "log.h"
#include "ctl.h"
#include "ctl_ops.h"


enum {
	CTL_READ_CHUNK     = 16 * 1024,  /**< one read per turn [bytes]     */
	CTL_IN_INITIAL     = 4 * 1024,   /**< first input buffer [bytes]    */
	CTL_LINES_PER_TURN = 32,         /**< requests per client per turn  */
	ACCEPT_PER_TURN    = 64,
	ACCEPT_PAUSE_MS    = 100,
	EPOLL_BATCH        = 64,
	OUT_KEEP           = 1024 * 1024, /**< output buffer kept [bytes]   */
	LISTEN_BACKLOG     = 1024,
};

/**
 * One client. Owned and touched by the cb-ctl thread only.
 */
struct client {
	struct le le;           /**< in ctl.clients or ctl.dead         */
	struct ctl *ctl;
	int fd;
	unsigned id;            /**< for logs                           */
	char who[64];           /**< "client 3 (pid 123 uid 0)"         */

	char *in;               /**< input buffer (mem), grows on demand */
	size_t insz;            /**< its size [bytes]                    */
	size_t inoff;           /**< start of unhandled input            */
	size_t inlen;           /**< end of input                        */
	bool skipping;          /**< discarding a too-long line          */
	bool eof;               /**< peer shut down its write side       */

	char *out;              /**< unsent output (malloc)              */
	size_t outsz, outoff, outlen;

	uint32_t events;        /**< epoll events registered             */
	bool dead;
};

/**
 * The control server. Fields set by ctl_alloc are read-only afterwards;
 * the rest belongs to the cb-ctl thread, until mem_deref joins it.
 */
struct ctl {
	pthread_t thread;
	bool started;
	int lfd;                /**< listening socket                   */
	int efd;                /**< eventfd: stop                      */
	int epfd;
	char *path;
	dev_t dev;              /**< of the socket file we created      */
	ino_t ino;

	struct ctlop_env env;

	struct list clients;
	struct list dead;
	uint32_t nclients;
	unsigned next_id;
	uint64_t accept_resume_ms;  /**< 0: accepting                   */
};


static void client_destructor(void *arg)
{
	struct client *c = arg;

	list_unlink(&c->le);
	if (c->fd >= 0)
		close(c->fd);
	mem_deref(c->in);
	free(c->out);
}


static void client_close(struct client *c, const char *why)
{
	struct ctl *ctl = c->ctl;

	if (c->dead)
		return;

	if (why)
		log_info("ctl: %s closed: %s", c->who, why);
	else
		log_debug("ctl: %s disconnected", c->who);

	epoll_ctl(ctl->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->dead = true;
	--ctl->nclients;

	list_unlink(&c->le);
	list_append(&ctl->dead, &c->le, c);
}


static size_t out_pending(const struct client *c)
{
	return c->outlen - c->outoff;
}


static bool in_has_line(const struct client *c)
{
	return !c->skipping && c->inlen > c->inoff &&
		memchr(c->in + c->inoff, '\n', c->inlen - c->inoff);
}


/* Re-register the events the client is ready for */
static void client_update(struct client *c)
{
	uint32_t ev = 0;
	struct epoll_event e;

	if (c->dead)
		return;

	/* read only when every complete line is handled: the input buffer
	   then holds at most one partial line */
	if (!c->eof && out_pending(c) <= CTL_OUT_SOFT && !in_has_line(c))
		ev |= EPOLLIN;
	if (out_pending(c))
		ev |= EPOLLOUT;

	if (ev == c->events)
		return;

	memset(&e, 0, sizeof(e));
	e.events = ev;
	e.data.ptr = c;
	if (epoll_ctl(c->ctl->epfd, EPOLL_CTL_MOD, c->fd, &e)) {
		client_close(c, "epoll_ctl failed");
		return;
	}
	c->events = ev;
}


static void client_flush(struct client *c)
{
	while (!c->dead && out_pending(c)) {
		ssize_t n = send(c->fd, c->out + c->outoff, out_pending(c),
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			client_close(c, NULL);
			return;
		}
		c->outoff += (size_t)n;
	}

	if (c->dead)
		return;

	if (!out_pending(c)) {
		c->outoff = c->outlen = 0;
		/* give back the memory of a big reply */
		if (c->outsz > OUT_KEEP) {
			free(c->out);
			c->out = NULL;
			c->outsz = 0;
		}
		if (c->eof && !in_has_line(c)) {
			client_close(c, NULL);
			return;
		}
	}
}


/* Queue a reply line (takes the malloc'd text) */
static void client_send(struct client *c, char *text, size_t len)
{
	if (!text) {
		client_close(c, "out of memory");
		return;
	}

	if (out_pending(c) + len > CTL_OUT_HARD) {
		free(text);
		client_close(c, "not reading its replies");
		return;
	}

	if (c->outoff && c->outlen + len > c->outsz) {
		memmove(c->out, c->out + c->outoff, out_pending(c));
		c->outlen -= c->outoff;
		c->outoff = 0;
	}

	if (c->outlen + len > c->outsz) {
		size_t sz = c->outsz ? c->outsz : 4096;
		char *p;

		while (sz < c->outlen + len)
			sz *= 2;
		p = realloc(c->out, sz);
		if (!p) {
			free(text);
			client_close(c, "out of memory");
			return;
		}
		c->out = p;
		c->outsz = sz;
	}

	memcpy(c->out + c->outlen, text, len);
	c->outlen += len;
	free(text);

	client_flush(c);
}


static void client_error(struct client *c, const char *code, const char *msg)
{
	size_t len = 0;
	char *text = ctlop_error(code, msg, &len);

	client_send(c, text, len);
}


/* Handle complete lines, within the turn's budget */
static void client_handle(struct client *c)
{
	for (int n = 0; n < CTL_LINES_PER_TURN && !c->dead; n++) {
		char *start = c->in + c->inoff, *nl;
		size_t avail = c->inlen - c->inoff, len = 0;
		char *reply;

		if (out_pending(c) > CTL_OUT_SOFT)
			break;
		if (c->skipping || !avail)
			break;

		nl = memchr(start, '\n', avail);
		if (!nl)
			break;

		c->inoff += (size_t)(nl - start) + 1;
		if (nl > start && nl[-1] == '\r')
			--nl;

		/* blank lines are ignored */
		if (nl == start)
			continue;

		reply = ctlop_handle(&c->ctl->env, start, (size_t)(nl - start),
				     c->who, &len);
		client_send(c, reply, len);
	}

	if (c->dead)
		return;

	if (c->inoff == c->inlen)
		c->inoff = c->inlen = 0;

	if (c->eof && !in_has_line(c) && !out_pending(c)) {
		client_close(c, NULL);
		return;
	}

	client_update(c);
}


static int in_reserve(struct client *c, size_t want)
{
	size_t sz;
	char *p;

	if (c->inoff && c->insz - c->inlen < want) {
		memmove(c->in, c->in + c->inoff, c->inlen - c->inoff);
		c->inlen -= c->inoff;
		c->inoff = 0;
	}

	if (c->insz - c->inlen >= want || c->insz >= CTL_LINE_MAX + 1)
		return 0;

	sz = c->insz ? c->insz : CTL_IN_INITIAL;
	while (sz - c->inlen < want && sz < CTL_LINE_MAX + 1)
		sz *= 2;
	if (sz > CTL_LINE_MAX + 1)
		sz = CTL_LINE_MAX + 1;

	p = c->in ? mem_realloc(c->in, sz) : mem_alloc(sz, NULL);
	if (!p)
		return ENOMEM;

	c->in = p;
	c->insz = sz;
	return 0;
}


static void client_read(struct client *c)
{
	size_t room;
	ssize_t n;

	if (in_reserve(c, CTL_READ_CHUNK)) {
		client_close(c, "out of memory");
		return;
	}

	room = c->insz - c->inlen;
	if (room > CTL_READ_CHUNK)
		room = CTL_READ_CHUNK;
	if (!room)
		return;   /* full of complete lines: handle them first */

	n = recv(c->fd, c->in + c->inlen, room, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		      errno == EINTR))
		return;
	if (n < 0) {
		client_close(c, NULL);
		return;
	}
	if (n == 0) {
		/* a partial last line is dropped: the client went away
		   mid-request */
		c->eof = true;
		if (c->inlen > c->inoff &&
		    !memchr(c->in + c->inoff, '\n', c->inlen - c->inoff))
			c->inlen = c->inoff;
		if (c->skipping)
			c->inlen = c->inoff;
		client_handle(c);
		return;
	}

	if (c->skipping) {
		char *nl = memchr(c->in + c->inlen, '\n', (size_t)n);

		if (!nl)
			return;   /* still inside the long line: drop it */

		/* keep what follows the newline */
		c->skipping = false;
		memmove(c->in + c->inoff, nl + 1,
			(size_t)(c->in + c->inlen + n - nl - 1));
		c->inlen = c->inoff + (size_t)(c->in + c->inlen + n - nl - 1);
	}
	else {
		c->inlen += (size_t)n;
	}

	/* a full buffer without a newline is a line over the limit */
	if (!in_has_line(c) && c->inlen - c->inoff > CTL_LINE_MAX) {
		char msg[96];

		snprintf(msg, sizeof(msg), "request line longer than %d "
			 "bytes; discarded up to its newline", CTL_LINE_MAX);
		log_info("ctl: %s: line too long", c->who);
		c->inoff = c->inlen = 0;
		c->skipping = true;
		client_error(c, "line_too_long", msg);
		if (c->dead)
			return;
	}

	client_handle(c);
}


static void client_event(struct client *c, uint32_t ev)
{
	if (ev & EPOLLERR) {
		client_close(c, NULL);
		return;
	}

	if (ev & EPOLLOUT) {
		client_flush(c);
		if (c->dead)
			return;
		client_handle(c);   /* requests waiting for output room */
		if (c->dead)
			return;
	}

	/* EPOLLHUP: the peer closed; read what it sent up to the end */
	if ((ev & (EPOLLIN | EPOLLHUP)) && !c->eof)
		client_read(c);
	else if (ev & EPOLLHUP)
		client_close(c, NULL);
}


static void client_accept(struct ctl *ctl, int fd)
{
	struct epoll_event e;
	struct client *c;
	struct ucred cred;
	socklen_t clen = sizeof(cred);

	if (ctl->nclients >= CTL_CLIENTS_MAX) {
		size_t len = 0;
		char *text = ctlop_error("busy", "too many control clients",
					 &len);

		log_warn("ctl: refusing a client: %u clients connected",
			 ctl->nclients);
		if (text)
			(void)send(fd, text, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		free(text);
		close(fd);
		return;
	}

	c = mem_zalloc(sizeof(*c), client_destructor);
	if (!c) {
		close(fd);
		return;
	}

	c->ctl = ctl;
	c->fd = fd;
	c->id = ++ctl->next_id;
	if (!getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen))
		snprintf(c->who, sizeof(c->who), "client %u (pid %d uid %u)",
			 c->id, (int)cred.pid, (unsigned)cred.uid);
	else
		snprintf(c->who, sizeof(c->who), "client %u", c->id);

	memset(&e, 0, sizeof(e));
	e.events = EPOLLIN;
	e.data.ptr = c;
	if (epoll_ctl(ctl->epfd, EPOLL_CTL_ADD, fd, &e)) {
		log_warn("ctl: epoll_ctl: %s", strerror(errno));
		mem_deref(c);
		return;
	}
	c->events = EPOLLIN;

	list_append(&ctl->clients, &c->le, c);
	++ctl->nclients;

	log_debug("ctl: %s connected", c->who);
}


static void listen_enable(struct ctl *ctl, bool on)
{
	struct epoll_event e;

	memset(&e, 0, sizeof(e));
	e.events = on ? EPOLLIN : 0;
	e.data.ptr = &ctl->lfd;
	(void)epoll_ctl(ctl->epfd, EPOLL_CTL_MOD, ctl->lfd, &e);
}


static void accept_all(struct ctl *ctl)
{
	for (int i = 0; i < ACCEPT_PER_TURN; i++) {
		int fd = accept4(ctl->lfd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			client_accept(ctl, fd);
			continue;
		}

		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			log_warn("ctl: accept: %s; pausing for %d ms",
				 strerror(errno), ACCEPT_PAUSE_MS);
			listen_enable(ctl, false);
			ctl->accept_resume_ms = ctlop_now_ms() +
				ACCEPT_PAUSE_MS;
		}
		break;
	}
}


static bool any_pending(const struct ctl *ctl)
{
	struct le *le;

	LIST_FOREACH(&ctl->clients, le) {
		const struct client *c = le->data;

		if (in_has_line(c) && out_pending(c) <= CTL_OUT_SOFT)
			return true;
	}

	return false;
}


/**
 * Statistics of the control socket, for status (cb-ctl thread only)
 *
 * @param ctl  Control server
 * @param o    Object to add "clients", "queued_bytes" (replies not yet
 *             sent) and "buffer_bytes" (allocated buffers) to
 */
void ctl_stats(const struct ctl *ctl, json_t *o)
{
	size_t queued = 0, buffers = 0;
	struct le *le;

	LIST_FOREACH(&ctl->clients, le) {
		const struct client *c = le->data;

		queued += out_pending(c);
		buffers += c->insz + c->outsz;
	}

	json_object_set_new(o, "clients", json_integer(ctl->nclients));
	json_object_set_new(o, "max_clients", json_integer(CTL_CLIENTS_MAX));
	json_object_set_new(o, "queued_bytes", json_integer((json_int_t)queued));
	json_object_set_new(o, "buffer_bytes",
			    json_integer((json_int_t)buffers));
}


static void *ctl_thread(void *arg)
{
	struct ctl *ctl = arg;
	struct epoll_event evs[EPOLL_BATCH];
	bool run = true;

	pthread_setname_np(pthread_self(), "cb-ctl");
	log_thread_name("cb-ctl");
	log_debug("ctl: serving %s", ctl->path);

	while (run) {
		int timeout = -1, n;
		struct le *le;

		if (any_pending(ctl))
			timeout = 0;
		else if (ctl->accept_resume_ms) {
			uint64_t now = ctlop_now_ms();

			timeout = now >= ctl->accept_resume_ms ? 0 :
				(int)(ctl->accept_resume_ms - now);
		}

		n = epoll_wait(ctl->epfd, evs, EPOLL_BATCH, timeout);
		if (n < 0 && errno != EINTR) {
			log_error("ctl: epoll_wait: %s", strerror(errno));
			break;
		}

		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;

			if (p == &ctl->efd) {
				run = false;
			}
			else if (p == &ctl->lfd) {
				accept_all(ctl);
			}
			else {
				struct client *c = p;

				if (!c->dead)
					client_event(c, evs[i].events);
			}
		}

		if (ctl->accept_resume_ms &&
		    ctlop_now_ms() >= ctl->accept_resume_ms) {
			ctl->accept_resume_ms = 0;
			listen_enable(ctl, true);
		}

		/* lines left over from earlier turns */
		le = list_head(&ctl->clients);
		while (le) {
			struct client *c = le->data;

			le = le->next;
			if (in_has_line(c) && out_pending(c) <= CTL_OUT_SOFT)
				client_handle(c);
		}

		list_flush(&ctl->dead);
	}

	log_debug("ctl: stopped");

	return NULL;
}


static void ctl_destructor(void *arg)
{
	struct ctl *ctl = arg;
	struct stat st;

	if (ctl->started) {
		uint64_t one = 1;

		if (write(ctl->efd, &one, sizeof(one)) != sizeof(one))
			log_error("ctl: cannot stop the control thread");
		pthread_join(ctl->thread, NULL);
	}

	list_flush(&ctl->clients);
	list_flush(&ctl->dead);

	if (ctl->lfd >= 0) {
		close(ctl->lfd);

		/* remove the socket file only if it is still ours */
		if (ctl->path && !lstat(ctl->path, &st) &&
		    st.st_dev == ctl->dev && st.st_ino == ctl->ino)
			unlink(ctl->path);
	}
	if (ctl->efd >= 0)
		close(ctl->efd);
	if (ctl->epfd >= 0)
		close(ctl->epfd);

	mem_deref(ctl->path);
}


/*
 * An existing socket file: if a daemon answers on it, refuse to start;
 * if nobody listens, it is stale and is removed. Other files are refused.
 */
static int stale_check(const char *path, const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, err;

	if (lstat(path, &st)) {
		if (errno == ENOENT)
			return 0;
		err = errno;
		log_error("ctl: %s: %s", path, strerror(err));
		return err;
	}

	if (!S_ISSOCK(st.st_mode)) {
		log_error("ctl: %s exists and is not a socket; not touching "
			  "it", path);
		return EEXIST;
	}

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;

	if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0 ||
	    errno == EAGAIN || errno == EINPROGRESS) {
		close(fd);
		log_error("ctl: another process is serving %s (is callbridge "
			  "already running?)", path);
		return EADDRINUSE;
	}
	err = errno;
	close(fd);

	if (err != ECONNREFUSED) {
		log_error("ctl: %s: %s", path, strerror(err));
		return err;
	}

	log_notice("ctl: removing stale socket %s", path);
	if (unlink(path) && errno != ENOENT)
		return errno;

	return 0;
}


static int listen_socket(struct ctl *ctl, const char *path)
{
	struct sockaddr_un sun;
	char dir[sizeof(sun.sun_path)];
	struct stat st;
	int err;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_error("ctl: socket path longer than %zu bytes: %s",
			  sizeof(sun.sun_path) - 1, path);
		return ENAMETOOLONG;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);

	err = fsutil_parent_dir(dir, sizeof(dir), path);
	if (!err)
		err = fsutil_mkdirs(dir, 0750);
	if (err) {
		log_error("ctl: cannot create directory for %s: %s", path,
			  strerror(err));
		return err;
	}

	err = stale_check(path, &sun);
	if (err)
		return err;

	ctl->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			  0);
	if (ctl->lfd < 0)
		return errno;

	if (bind(ctl->lfd, (struct sockaddr *)&sun, sizeof(sun))) {
		err = errno;
		log_error("ctl: bind %s: %s", path, strerror(err));
		close(ctl->lfd);
		ctl->lfd = -1;
		return err;
	}

	if (lstat(path, &st) == 0) {
		ctl->dev = st.st_dev;
		ctl->ino = st.st_ino;
	}

	if (chmod(path, 0660) || listen(ctl->lfd, LISTEN_BACKLOG)) {
		err = errno;
		log_error("ctl: %s: %s", path, strerror(err));
		return err;
	}

	return 0;
}


/**
 * Start the control socket and its thread
 *
 * @param ctlp   Set to the control server; mem_deref() stops the thread,
 *               closes every client and removes the socket file
 * @param path   Socket path; missing parent directories are created, a
 *               stale socket file is replaced, but if another process
 *               listens on it start-up fails with EADDRINUSE
 * @param store  The store the ops work on
 * @param gw     The gateway's calls and figures (copied), or NULL for a
 *               control socket without a gateway (no calls.* ops)
 *
 * @return 0 if success, otherwise an errno (the reason is logged)
 */
int ctl_alloc(struct ctl **ctlp, const char *path, struct store *store,
	      const struct ctl_gw *gw)
{
	struct epoll_event e;
	struct ctl *ctl;
	int err;

	if (!ctlp || !path || !*path || !store)
		return EINVAL;

	ctl = mem_zalloc(sizeof(*ctl), ctl_destructor);
	if (!ctl)
		return ENOMEM;

	ctl->lfd = ctl->efd = ctl->epfd = -1;
	ctl->env.store = store;
	if (gw) {
		ctl->env.gw = *gw;
		ctl->env.has_gw = true;
	}
	ctl->env.start_ms = ctlop_now_ms();
	ctl->env.ctl = ctl;
	list_init(&ctl->clients);
	list_init(&ctl->dead);

	err = str_dup(&ctl->path, path);
	if (err)
		goto out;

	err = listen_socket(ctl, path);
	if (err)
		goto out;

	ctl->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ctl->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ctl->efd < 0 || ctl->epfd < 0) {
		err = errno;
		goto out;
	}

	memset(&e, 0, sizeof(e));
	e.events = EPOLLIN;
	e.data.ptr = &ctl->efd;
	if (epoll_ctl(ctl->epfd, EPOLL_CTL_ADD, ctl->efd, &e)) {
		err = errno;
		goto out;
	}
	e.data.ptr = &ctl->lfd;
	if (epoll_ctl(ctl->epfd, EPOLL_CTL_ADD, ctl->lfd, &e)) {
		err = errno;
		goto out;
	}

	err = pthread_create(&ctl->thread, NULL, ctl_thread, ctl);
	if (err)
		goto out;
	ctl->started = true;

	log_info("ctl: control socket %s", path);

 out:
	if (err)
		mem_deref(ctl);
	else
		*ctlp = ctl;

	return err;
}
