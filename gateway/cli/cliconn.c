/**
 * @file cliconn.c  callbridgectl's side of the control socket: which
 *                  socket, one request and its reply within the timeout
 *
 * One connection per request: connect, send the request line, shut down
 * the write side, read up to the reply's newline. Every wait (a full
 * listen backlog, the reply) is bounded by -t; running out of it, or any
 * other failure to get a reply, exits with CLI_EXIT_UNREACH.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include "settings.h"
#include "cli_int.h"


/**
 * The control socket's path: -s, else control_socket of the -c settings
 * file (read with the daemon's own parser), else the default
 *
 * @param args  the command line
 *
 * @return the path (a static buffer when read from a file)
 */
const char *cliconn_socket_path(const struct cli_args *args)
{
	static char path[SETTINGS_PATH_MAX];
	struct settings *s = NULL;
	char err[512];

	if (args->socket)
		return args->socket;
	if (!args->config)
		return SETTINGS_DEFAULT_CONTROL_SOCKET;

	if (settings_load(&s, args->config, err, sizeof(err)))
		cli_die(CLI_EXIT_USAGE, "%s", err);
	snprintf(path, sizeof(path), "%s", s->control_socket);
	mem_deref(s);

	return path;
}


/* Monotonic clock [ms] */
static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}


enum {
	READ_MIN   = 65536,    /**< room kept for each read [bytes]     */
	BUF_FIRST  = 131072,   /**< first reply buffer [bytes]          */
	RETRY_US   = 10000,    /**< wait before connecting again [us]   */
};


/* Connect to @p sun, waiting through a full listen backlog until
   @p deadline; exits if the daemon cannot be reached */
static int conn_open(const struct sockaddr_un *sun, const char *path,
		     int timeout_s, uint64_t deadline)
{
	struct timeval tv = {timeout_s, 0};
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		cli_die(CLI_EXIT_UNREACH, "socket: %s", strerror(errno));

	/* a blocking connect waits while the daemon's listen backlog is
	   full: bound it by the timeout (Unix sockets use SO_SNDTIMEO) */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

	/* EAGAIN: the backlog stayed full; retry until the deadline */
	while (connect(fd, (const struct sockaddr *)sun, sizeof(*sun))) {
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN && now_ms() < deadline) {
			usleep(RETRY_US);
			continue;
		}
		cli_die(CLI_EXIT_UNREACH, "cannot reach callbridge at %s: %s%s",
			path, strerror(errno),
			errno == ENOENT || errno == ECONNREFUSED ?
			" (is it running? -s/--socket or -c/--config choose "
			"the socket)" : "");
	}

	return fd;
}


/* The request line: @p text, then its newline */
static void conn_send(int fd, const char *path, const char *text)
{
	size_t len = strlen(text), off = 0;

	while (off < len + 1) {
		const char *p = off < len ? text + off : "\n";
		size_t n = off < len ? len - off : 1;
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			cli_die(CLI_EXIT_UNREACH, "send to %s: %s", path,
				strerror(errno));
		off += (size_t)w;
	}
}


/* Room in the reply buffer for a read of READ_MIN bytes and a NUL: the
   buffer doubles, up to @p reply_max */
static char *buf_room(char *buf, size_t *szp, size_t blen, size_t reply_max)
{
	size_t sz = *szp;

	if (blen + READ_MIN + 1 <= sz)
		return buf;

	sz = sz ? sz * 2 : BUF_FIRST;
	if (sz > reply_max)
		cli_die(CLI_EXIT_UNREACH, "reply too large");
	buf = realloc(buf, sz);
	if (!buf)
		cli_die(CLI_EXIT_UNREACH, "out of memory");

	*szp = sz;
	return buf;
}


/* Read up to the first newline, in as many reads as it takes, until
   @p deadline; returns the line (malloc'd, newline cut) */
static char *conn_recv(int fd, const char *path, int timeout_s,
		       uint64_t deadline, size_t reply_max)
{
	char *buf = NULL;
	size_t sz = 0, blen = 0;

	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		uint64_t now = now_ms();
		char *nl;
		ssize_t n;

		if (now >= deadline ||
		    poll(&p, 1, (int)(deadline - now)) == 0)
			cli_die(CLI_EXIT_UNREACH, "no reply from %s within "
				"%d s", path, timeout_s);

		buf = buf_room(buf, &sz, blen, reply_max);

		n = recv(fd, buf + blen, sz - blen - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			cli_die(CLI_EXIT_UNREACH, "recv from %s: %s", path,
				strerror(errno));
		if (n == 0)
			cli_die(CLI_EXIT_UNREACH, "callbridge closed the "
				"connection without a reply");

		nl = memchr(buf + blen, '\n', (size_t)n);
		blen += (size_t)n;
		if (nl) {
			*nl = '\0';
			return buf;
		}
	}
}


/**
 * Send one request and read its reply line: connect, send the line, shut
 * down the write side, read up to the newline (what follows is ignored)
 *
 * @param path       control socket path
 * @param timeout_s  bound on connecting and on the whole reply [s]
 * @param reply_max  refuse a reply whose buffer would outgrow this [bytes]
 * @param req        the request object
 *
 * @return the reply line (malloc'd, no newline); exits on any failure:
 *         CLI_EXIT_USAGE for a path too long, else CLI_EXIT_UNREACH
 */
char *cliconn_transact(const char *path, int timeout_s, size_t reply_max,
		       const json_t *req)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_s * 1000;
	struct sockaddr_un sun;
	char *text, *line;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		cli_die(CLI_EXIT_USAGE, "socket path too long: %s", path);
	memcpy(sun.sun_path, path, strlen(path) + 1);

	text = json_dumps(req, JSON_COMPACT);
	if (!text)
		cli_die(CLI_EXIT_USAGE, "out of memory");

	fd = conn_open(&sun, path, timeout_s, deadline);
	conn_send(fd, path, text);
	free(text);
	shutdown(fd, SHUT_WR);

	line = conn_recv(fd, path, timeout_s, deadline, reply_max);
	close(fd);

	return line;
}


/**
 * Send a request; print an error reply, or with @p raw any reply as is
 *
 * @param args   the command line (socket, timeout)
 * @param req    the request object
 * @param raw    print the reply line as received (--json)
 * @param exitp  set to CLI_EXIT_OK or CLI_EXIT_REFUSED
 *
 * @return the parsed reply if it is a success and not @p raw, else NULL;
 *         exits with CLI_EXIT_UNREACH on a reply that is not a JSON object
 */
json_t *cliconn_call(const struct cli_args *args, const json_t *req, bool raw,
		     int *exitp)
{
	json_error_t jerr;
	json_t *reply, *e;
	char *line;

	line = cliconn_transact(cliconn_socket_path(args), args->timeout_s,
				CLI_REPLY_MAX, req);

	reply = json_loads(line, 0, &jerr);
	if (!reply || !json_is_object(reply))
		cli_die(CLI_EXIT_UNREACH, "unreadable reply: %s", jerr.text);

	if (raw) {
		printf("%s\n", line);
		free(line);
		*exitp = json_is_true(json_object_get(reply, "ok")) ?
			CLI_EXIT_OK : CLI_EXIT_REFUSED;
		json_decref(reply);
		return NULL;
	}
	free(line);

	if (json_is_true(json_object_get(reply, "ok"))) {
		*exitp = CLI_EXIT_OK;
		return reply;
	}

	e = json_object_get(reply, "error");
	fprintf(stderr, "callbridgectl: %s: %s\n",
		json_string_value(json_object_get(e, "code")) ?
		json_string_value(json_object_get(e, "code")) : "error",
		json_string_value(json_object_get(e, "message")) ?
		json_string_value(json_object_get(e, "message")) : "");
	*exitp = CLI_EXIT_REFUSED;
	json_decref(reply);

	return NULL;
}

