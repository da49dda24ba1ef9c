/**
 * @file clirun.c  Helpers of the CLI's unit tests (see clirun.h)
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include "test.h"
#include "clirun.h"


static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}


static char *slurp(FILE *f)
{
	char *buf = malloc(RUN_OUT_MAX + 1);
	size_t n;

	TEST_ASSERT(buf != NULL);
	rewind(f);
	n = fread(buf, 1, RUN_OUT_MAX, f);
	buf[n] = '\0';
	fclose(f);

	return buf;
}


static int child_wait(pid_t pid, double t0)
{
	int status;

	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			TEST_FAIL("waitpid: %s", strerror(errno));
		if ((now_s() - t0) * 1000 > RUN_WAIT_MS) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -2;
		}
		usleep(2000);
	}

	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}


void clirun(struct clirun *r, void (*fn)(void *arg), void *arg,
	    const char *in, void (*srv)(void *sarg), void *sarg)
{
	FILE *fo = tmpfile(), *fe = tmpfile(), *fi = tmpfile();
	double t0;
	pid_t pid;

	TEST_ASSERT(fo && fe && fi);
	if (in)
		fputs(in, fi);
	fflush(fi);
	rewind(fi);
	fflush(stdout);
	fflush(stderr);

	t0 = now_s();
	pid = fork();
	TEST_ASSERT(pid >= 0);
	if (pid == 0) {
		dup2(fileno(fi), 0);
		dup2(fileno(fo), 1);
		dup2(fileno(fe), 2);
		fn(arg);
		exit(0);
	}

	if (srv)
		srv(sarg);

	r->code = child_wait(pid, t0);
	r->secs = now_s() - t0;
	r->out = slurp(fo);
	r->err = slurp(fe);
	fclose(fi);
}


void clirun_free(struct clirun *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}


void clisrv_open(struct clisrv *s)
{
	struct sockaddr_un sun;

	snprintf(s->dir, sizeof(s->dir), "/tmp/cb-test-cli-XXXXXX");
	TEST_ASSERT(mkdtemp(s->dir) != NULL);
	snprintf(s->path, sizeof(s->path), "%s/ctl.sock", s->dir);

	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	TEST_ASSERT(s->lfd >= 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%.100s", s->path);
	if (bind(s->lfd, (struct sockaddr *)&sun, sizeof(sun)) ||
	    listen(s->lfd, 8))
		TEST_FAIL("listen on %s: %s", s->path, strerror(errno));
}


void clisrv_close(struct clisrv *s)
{
	close(s->lfd);
	unlink(s->path);
	rmdir(s->dir);
}


/**
 * Accept one client and read its request up to its end (the client shuts
 * down its side after the request line)
 *
 * @return the connection; the request (NUL-terminated) is in @p req
 */
int clisrv_accept(struct clisrv *s, char *req, size_t size)
{
	struct pollfd p = {s->lfd, POLLIN, 0};
	size_t len = 0;
	int fd;

	if (poll(&p, 1, RUN_WAIT_MS) != 1)
		TEST_FAIL("no client within %d ms", RUN_WAIT_MS);
	fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
	TEST_ASSERT(fd >= 0);

	for (;;) {
		struct pollfd q = {fd, POLLIN, 0};
		ssize_t n;

		if (poll(&q, 1, RUN_WAIT_MS) != 1)
			TEST_FAIL("the request did not end within %d ms",
				  RUN_WAIT_MS);
		n = recv(fd, req + len, size - len - 1, 0);
		if (n < 0)
			TEST_FAIL("recv: %s", strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
		if (len >= size - 1)
			TEST_FAIL("request too long");
	}
	req[len] = '\0';

	return fd;
}


/** Send all of @p data; returns 0 or an errno (the client went away) */
int clisrv_send(int fd, const char *data, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(fd, data + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		off += (size_t)n;
	}

	return 0;
}
