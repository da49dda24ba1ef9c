/**
 * @file test_cliconn.c  callbridgectl's transaction with the daemon,
 *                       against a tiny server on a Unix socket: the
 *                       request line, a reply split across reads, a
 *                       reply larger than the first buffer, an oversized
 *                       reply, the timeout, a connection closed without a
 *                       reply, no daemon, unreadable and error replies
 *                       (exit codes 1 and 3), --json, the socket path
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli_int.h"
#include "settings.h"
#include "test.h"
#include "clirun.h"

#define STATUS_REQ "{\"op\":\"status\"}\n"
#define NOT_RUNNING " (is it running? -s/--socket or -c/--config " \
	"choose the socket)"

enum { S_NONE, S_REPLY, S_CLOSE };

static const struct conn_case {
	int srv;             /* S_NONE: nobody listening                   */
	const char *reply;   /* S_REPLY: sent as is ...                    */
	size_t piece;        /* ... in pieces of this many bytes (0: one)  */
	bool call;           /* through cliconn_call, else cliconn_transact */
	bool raw;            /* cliconn_call's raw (--json)                */
	int code;            /* exit code                                  */
	const char *out;     /* stdout                                     */
	const char *err;     /* stderr; "@" stands for the socket path     */
} cases[] = {
	/* the reply line, in one piece or many; what follows is ignored */
	{S_REPLY, "{\"ok\":true,\"v\":\"\xc3\xa4\"}\n", 0, false, false,
	 0, "[{\"ok\":true,\"v\":\"\xc3\xa4\"}]\n", ""},
	{S_REPLY, "{\"ok\":true,\"version\":\"1.2.3\",\"uptime_s\":5}\n"
	 "{\"second\":1}\n", 3, false, false,
	 0, "[{\"ok\":true,\"version\":\"1.2.3\",\"uptime_s\":5}]\n", ""},
	{S_REPLY, "{\"ok\":true}", 1, false, false,          /* no newline */
	 3, "", "callbridgectl: callbridge closed the connection without a "
	 "reply\n"},
	{S_CLOSE, NULL, 0, false, false,
	 3, "", "callbridgectl: callbridge closed the connection without a "
	 "reply\n"},
	{S_NONE, NULL, 0, false, false,
	 3, "", "callbridgectl: cannot reach callbridge at @: No such file "
	 "or directory" NOT_RUNNING "\n"},
	/* parsed: success, refusal, unreadable */
	{S_REPLY, "{\"ok\":true,\"n\":[1]}\n", 5, true, false,
	 0, "ex=0 {\"ok\":true,\"n\":[1]}\n", ""},
	{S_REPLY, "{\"ok\":false,\"error\":{\"code\":\"not_found\","
	 "\"message\":\"no agent x\"}}\n", 0, true, false,
	 0, "ex=1 NULL\n", "callbridgectl: not_found: no agent x\n"},
	{S_REPLY, "{\"ok\":false}\n", 0, true, false,
	 0, "ex=1 NULL\n", "callbridgectl: error: \n"},
	{S_REPLY, "this is not json\n", 4, true, false,
	 3, "", "callbridgectl: unreadable reply: '[' or '{' expected near "
	 "'this'\n"},
	{S_REPLY, "[1,2]\n", 0, true, false,
	 3, "", "callbridgectl: unreadable reply: \n"},
	{S_REPLY, "{\"ok\":true,\"x\"\n", 0, true, false,
	 3, "", "callbridgectl: unreadable reply: ':' expected near end of "
	 "file\n"},
	/* --json: the line exactly as received, the exit code by "ok" */
	{S_REPLY, "{ \"ok\" : true }\n", 0, true, true,
	 0, "{ \"ok\" : true }\nex=0 NULL\n", ""},
	{S_REPLY, "{\"ok\":false,\"error\":{\"code\":\"x\"}}\n", 0, true, true,
	 0, "{\"ok\":false,\"error\":{\"code\":\"x\"}}\nex=1 NULL\n", ""},
};

static const struct conn_case *cur;
static struct clisrv srv;
static char nosock[160];


static void conn_child(void *arg)
{
	json_t *req = json_pack("{s:s}", "op", "status");
	const char *path = cur->srv == S_NONE ? nosock : srv.path;
	static struct cli_args args;

	(void)arg;
	if (cur->call) {
		json_t *r;
		char *s;
		int ex = -1;

		args.socket = path;
		args.timeout_s = 5;
		r = cliconn_call(&args, req, cur->raw, &ex);
		s = r ? json_dumps(r, JSON_COMPACT) : NULL;
		printf("ex=%d %s\n", ex, s ? s : "NULL");
		free(s);
		json_decref(r);
	}
	else {
		char *line = cliconn_transact(path, 5, CLI_REPLY_MAX, req);

		printf("[%s]\n", line);
		free(line);
	}
	json_decref(req);
}


static void conn_srv(void *arg)
{
	char req[4096];
	size_t len, off = 0;
	int fd;

	(void)arg;
	if (cur->srv == S_NONE)
		return;

	fd = clisrv_accept(&srv, req, sizeof(req));
	TEST_STREQ(req, STATUS_REQ);
	len = cur->reply ? strlen(cur->reply) : 0;
	while (off < len) {
		size_t n = cur->piece && cur->piece < len - off ?
			cur->piece : len - off;

		if (clisrv_send(fd, cur->reply + off, n))
			break;       /* the client has its line and left */
		off += n;
		if (cur->piece)
			usleep(2000);
	}
	close(fd);
}


/* stderr with the socket path written as @ */
static const char *err_of(const char *err, const char *path)
{
	static char buf[4096];
	const char *p = strstr(err, path);

	if (!p)
		return err;
	snprintf(buf, sizeof(buf), "%.*s@%s", (int)(p - err), err,
		 p + strlen(path));
	return buf;
}


static void test_table(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct clirun r;
		const char *err;

		cur = &cases[i];
		clirun(&r, conn_child, NULL, NULL, conn_srv, NULL);
		err = err_of(r.err, cur->srv == S_NONE ? nosock : srv.path);
		if (r.code != cur->code || strcmp(r.out, cur->out) ||
		    strcmp(err, cur->err))
			TEST_FAIL("case %zu: exit %d, expected %d\nstdout:\n"
				  "%s\nexpected:\n%s\nstderr:\n%s\n"
				  "expected:\n%s",
				  i, r.code, cur->code, r.out, cur->out, err,
				  cur->err);
		clirun_free(&r);
	}
}


/*
 * Large replies: the buffer grows by doubling from 128 KiB and refuses to
 * outgrow reply_max (here 256 KiB: a reply under 192 KiB fits, one far
 * over it is refused)
 */

static struct {
	size_t size;         /* reply bytes, newline included */
	size_t piece;        /* sent in pieces of this size   */
	size_t reply_max;
} big;


static char *big_reply(void)
{
	char *s = malloc(big.size + 1);

	TEST_ASSERT(s != NULL);
	memcpy(s, "{\"ok\":true,\"x\":\"", 16);
	memset(s + 16, 'a', big.size - 16 - 3);
	memcpy(s + big.size - 3, "\"}\n", 4);

	return s;
}


static void big_child(void *arg)
{
	json_t *req = json_pack("{s:s}", "op", "status");
	char *want = big_reply(), *line;

	(void)arg;
	line = cliconn_transact(srv.path, 5, big.reply_max, req);
	want[big.size - 1] = '\0';
	printf("%zu %s\n", strlen(line), strcmp(line, want) ? "differs" :
	       "same");
	free(line);
	free(want);
	json_decref(req);
}


static void big_srv(void *arg)
{
	char req[4096], *s = big_reply();
	size_t off = 0;
	int fd;

	(void)arg;
	fd = clisrv_accept(&srv, req, sizeof(req));
	TEST_STREQ(req, STATUS_REQ);
	while (off < big.size) {
		size_t n = big.piece < big.size - off ? big.piece :
			big.size - off;

		if (clisrv_send(fd, s + off, n))
			break;       /* the client gave up: oversized */
		off += n;
	}
	close(fd);
	free(s);
}


static void test_big(void)
{
	static const struct {
		size_t size, piece, reply_max;
		int code;
		const char *out, *err;
	} b[] = {
		{300000, 4096, CLI_REPLY_MAX,
		 0, "299999 same\n", ""},
		{150000, 150000, 256 * 1024,
		 0, "149999 same\n", ""},
		{600000, 65536, 256 * 1024,
		 3, "", "callbridgectl: reply too large\n"},
	};

	for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++) {
		struct clirun r;

		big.size = b[i].size;
		big.piece = b[i].piece;
		big.reply_max = b[i].reply_max;
		clirun(&r, big_child, NULL, NULL, big_srv, NULL);
		if (r.code != b[i].code || strcmp(r.out, b[i].out) ||
		    strcmp(r.err, b[i].err))
			TEST_FAIL("big %zu: exit %d, expected %d\nstdout: %s"
				  "stderr: %s", i, r.code, b[i].code, r.out,
				  r.err);
		clirun_free(&r);
	}
}


/* A daemon that takes the request and never answers: exit 3 after -t */
static int held_fd = -1;


static void hold_child(void *arg)
{
	json_t *req = json_pack("{s:s}", "op", "status");

	(void)arg;
	free(cliconn_transact(srv.path, 1, CLI_REPLY_MAX, req));
	json_decref(req);
}


static void hold_srv(void *arg)
{
	char req[4096];

	(void)arg;
	held_fd = clisrv_accept(&srv, req, sizeof(req));
	TEST_STREQ(req, STATUS_REQ);
}


static void test_timeout(void)
{
	struct clirun r;
	char want[256];

	clirun(&r, hold_child, NULL, NULL, hold_srv, NULL);
	close(held_fd);
	snprintf(want, sizeof(want), "callbridgectl: no reply from %s within "
		 "1 s\n", srv.path);
	TEST_EQ(r.code, CLI_EXIT_UNREACH);
	TEST_STREQ(r.err, want);
	TEST_STREQ(r.out, "");
	if (r.secs < 0.9 || r.secs > 5)
		TEST_FAIL("gave up after %.2f s, not about 1 s", r.secs);
	clirun_free(&r);
}


/* The socket's path: -s, else control_socket of -c's file, else the
   default; a settings file that does not load is a usage error */
static struct cli_args path_args;


static void path_child(void *arg)
{
	(void)arg;
	printf("%s\n", cliconn_socket_path(&path_args));
}


static void too_long_child(void *arg)
{
	char path[200];
	json_t *req = json_pack("{s:s}", "op", "status");

	(void)arg;
	memset(path, 'x', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	free(cliconn_transact(path, 1, CLI_REPLY_MAX, req));
}


static void test_path(void)
{
	char conf[128], bad[128], want[300];
	struct clirun r;
	size_t o;
	FILE *f;

	snprintf(conf, sizeof(conf), "%s/cb.conf", srv.dir);
	snprintf(bad, sizeof(bad), "%s/bad.conf", srv.dir);
	f = fopen(conf, "w");
	TEST_ASSERT(f != NULL);
	fprintf(f, "# test\ncontrol_socket /tmp/somewhere/ctl.sock\n");
	fclose(f);
	f = fopen(bad, "w");
	TEST_ASSERT(f != NULL);
	fprintf(f, "no_such_key 1\n");
	fclose(f);

	memset(&path_args, 0, sizeof(path_args));
	clirun(&r, path_child, NULL, NULL, NULL, NULL);
	TEST_STREQ(r.out, SETTINGS_DEFAULT_CONTROL_SOCKET "\n");
	clirun_free(&r);

	path_args.config = conf;
	clirun(&r, path_child, NULL, NULL, NULL, NULL);
	TEST_STREQ(r.out, "/tmp/somewhere/ctl.sock\n");
	clirun_free(&r);

	path_args.socket = "/x/y.sock";
	clirun(&r, path_child, NULL, NULL, NULL, NULL);
	TEST_STREQ(r.out, "/x/y.sock\n");
	clirun_free(&r);

	path_args.socket = NULL;
	path_args.config = bad;
	clirun(&r, path_child, NULL, NULL, NULL, NULL);
	TEST_EQ(r.code, CLI_EXIT_USAGE);
	TEST_STREQ(r.out, "");
	TEST_ASSERT(strstr(r.err, "no_such_key") != NULL);
	TEST_ASSERT(strstr(r.err, "\nTry 'callbridgectl --help'.\n") != NULL);
	clirun_free(&r);

	clirun(&r, too_long_child, NULL, NULL, NULL, NULL);
	o = (size_t)snprintf(want, sizeof(want), "callbridgectl: socket path "
			     "too long: ");
	memset(want + o, 'x', 199);
	snprintf(want + o + 199, sizeof(want) - o - 199,
		 "\nTry 'callbridgectl --help'.\n");
	TEST_EQ(r.code, CLI_EXIT_USAGE);
	TEST_STREQ(r.err, want);
	clirun_free(&r);

	unlink(conf);
	unlink(bad);
}


int main(void)
{
	clisrv_open(&srv);
	snprintf(nosock, sizeof(nosock), "%s/none.sock", srv.dir);

	test_table();
	test_big();
	test_timeout();
	test_path();

	clisrv_close(&srv);
	printf("test_cliconn: ok\n");
	return 0;
}
