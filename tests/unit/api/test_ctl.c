/**
 * @file test_ctl.c  The control socket server, in-process, over a real
 *                   Unix socket: ops, error codes, secrets, abuse (random
 *                   bytes, long lines, idle, silent and greedy clients),
 *                   socket file handling
 *
 * Every wait is bounded (WAIT_MS) and a timeout fails the test: these are
 * not speed measurements, only "does it answer at all".
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include "cb_re.h"
#include "callreg.h"
#include "store.h"
#include "ctl.h"
#include "test.h"

enum { WAIT_MS = 10000 };

static char tmpdir[256];
static char sockpath[300];


static int rm_cb(const char *path, const struct stat *sb, int flag,
		 struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}


/* the gateway's side, as the daemon gives it: a real call registry with
   one call in progress (CA1) and one ended (CA2) */
static struct callreg *reg;


static void reg_setup(void)
{
	struct callreg_info ci;
	struct media_stats ms;

	TEST_ERR(callreg_alloc(&reg), 0);

	memset(&ci, 0, sizeof(ci));
	ci.id = 1;
	str_ncpy(ci.call_sid, "CA1", sizeof(ci.call_sid));
	str_ncpy(ci.number, "+14155551234", sizeof(ci.number));
	str_ncpy(ci.codec, "PCMU", sizeof(ci.codec));
	ci.state = CALL_RINGING;
	TEST_ERR(callreg_add(reg, &ci), 0);
	callreg_state(reg, 1, CALL_ANSWERED);

	ci.id = 2;
	str_ncpy(ci.call_sid, "CA2", sizeof(ci.call_sid));
	TEST_ERR(callreg_add(reg, &ci), 0);
	memset(&ms, 0, sizeof(ms));
	ms.rtp_rx = 42;
	ms.decoder.fec = 3;
	callreg_remove(reg, 2, CALL_COMPLETED, END_CALLER_BYE, &ms);
}


static int cli_connect(void)
{
	struct sockaddr_un sun;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	TEST_ASSERT(fd >= 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%.100s", sockpath);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)))
		TEST_FAIL("connect %s: %s", sockpath, strerror(errno));

	return fd;
}


static void cli_send(int fd, const char *data, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(fd, data + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			TEST_FAIL("send: %s", strerror(errno));
		off += (size_t)n;
	}
}


/* Read one line (bounded wait); returns a static buffer, NULL at EOF */
static char *cli_line(int fd)
{
	static char buf[1 << 20];
	size_t len = 0;

	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t n;

		if (poll(&p, 1, WAIT_MS) != 1)
			TEST_FAIL("no reply within %d ms", WAIT_MS);

		n = recv(fd, buf + len, 1, 0);
		if (n == 0)
			return len ? (buf[len] = '\0', buf) : NULL;
		if (n < 0)
			TEST_FAIL("recv: %s", strerror(errno));
		if (buf[len] == '\n') {
			buf[len] = '\0';
			return buf;
		}
		if (++len >= sizeof(buf) - 1)
			TEST_FAIL("reply too long");
	}
}


static json_t *request(int fd, const char *req)
{
	json_error_t jerr;
	json_t *j;
	char *line;

	cli_send(fd, req, strlen(req));
	cli_send(fd, "\n", 1);
	line = cli_line(fd);
	TEST_ASSERT(line != NULL);
	if (strchr(line, '\n'))
		TEST_FAIL("reply has a newline inside");

	j = json_loads(line, 0, &jerr);
	if (!j)
		TEST_FAIL("reply is not JSON: %s", line);
	return j;
}


static const char *err_code(const json_t *r)
{
	return json_string_value(json_object_get(json_object_get(r, "error"),
						 "code"));
}


static const char *err_msg(const json_t *r)
{
	return json_string_value(json_object_get(json_object_get(r, "error"),
						 "message"));
}


/* Expect an error reply with a code and a part of the message */
static void expect_err(int fd, const char *req, const char *code,
		       const char *msg)
{
	json_t *r = request(fd, req);

	if (json_is_true(json_object_get(r, "ok")))
		TEST_FAIL("accepted: %s", req);
	if (!err_code(r) || strcmp(err_code(r), code))
		TEST_FAIL("%s: code %s, expected %s (%s)", req, err_code(r),
			  code, err_msg(r));
	if (msg && (!err_msg(r) || !strstr(err_msg(r), msg)))
		TEST_FAIL("%s: message \"%s\" lacks \"%s\"", req, err_msg(r),
			  msg);
	json_decref(r);
}


static json_t *expect_ok(int fd, const char *req)
{
	json_t *r = request(fd, req);

	if (!json_is_true(json_object_get(r, "ok")))
		TEST_FAIL("%s: %s: %s", req, err_code(r), err_msg(r));
	return r;
}


static void status_ok(void)
{
	int fd = cli_connect();
	json_t *r = expect_ok(fd, "{\"id\":\"s\",\"op\":\"status\"}");

	json_decref(r);
	close(fd);
}


/* status: ours plus the gateway's */
static void ops_status(int fd)
{
	json_t *r;

	r = expect_ok(fd, "{\"id\":1,\"op\":\"status\"}");
	TEST_EQ(json_integer_value(json_object_get(r, "id")), 1);
	TEST_STREQ(json_string_value(json_object_get(r, "version")),
		   CB_VERSION);
	TEST_ASSERT(json_is_integer(json_object_get(r, "uptime_s")));
	TEST_EQ(json_integer_value(json_object_get(json_object_get(r,
		"counts"), "numbers")), 0);
	TEST_EQ(json_integer_value(json_object_get(json_object_get(r,
		"calls"), "active")), 1);
	TEST_EQ(json_integer_value(json_object_get(json_object_get(r,
		"calls"), "max")), 9);
	TEST_EQ(json_integer_value(json_object_get(json_object_get(r,
		"calls"), "started")), 2);
	TEST_EQ(json_integer_value(json_object_get(json_object_get(
		json_object_get(r, "calls"), "ended"), "caller-bye")), 1);
	TEST_STREQ(json_string_value(json_object_get(r, "account_sid")),
		   "ACtest");
	TEST_ASSERT(json_is_integer(json_object_get(json_object_get(r,
		"gateway"), "sip_flood_refused")));
	TEST_ASSERT(json_is_array(json_object_get(json_object_get(r,
		"gateway"), "flooding")));
	json_decref(r);
}


/* agents and a trunk: put creates, then replaces; secrets never come
   back */
static void ops_put(int fd)
{
	json_t *r;
	char *text;

	r = expect_ok(fd, "{\"id\":\"a\",\"op\":\"agents.put\",\"agent\":{"
		      "\"id\":\"support\",\"url\":\"ws://127.0.0.1:9/x\","
		      "\"auth_token\":\"TOPSECRET\"}}");
	TEST_STREQ(json_string_value(json_object_get(r, "id")), "a");
	TEST_ASSERT(json_is_true(json_object_get(r, "created")));
	text = json_dumps(r, 0);
	TEST_ASSERT(strstr(text, "TOPSECRET") == NULL);
	TEST_ASSERT(strstr(text, "\"auth_token_set\": true"));
	free(text);
	json_decref(r);

	r = expect_ok(fd, "{\"op\":\"agents.get\",\"agent\":\"support\"}");
	TEST_ASSERT(json_is_null(json_object_get(r, "id")));
	text = json_dumps(r, 0);
	TEST_ASSERT(strstr(text, "TOPSECRET") == NULL);
	free(text);

	/* put back what get returned: the token is kept */
	{
		json_t *req = json_pack("{s:s,s:O}", "op", "agents.put",
					"agent", json_object_get(r, "agent"));
		char *line = json_dumps(req, JSON_COMPACT);
		json_t *r2 = expect_ok(fd, line);

		TEST_ASSERT(json_is_false(json_object_get(r2, "created")));
		json_decref(r2);
		free(line);
		json_decref(req);
	}
	json_decref(r);

	json_decref(expect_ok(fd, "{\"op\":\"agents.put\",\"agent\":{"
			      "\"id\":\"sales\",\"url\":\"ws://127.0.0.1:9/s\"}}"));
	json_decref(expect_ok(fd, "{\"op\":\"trunks.put\",\"trunk\":{"
			      "\"id\":\"carrier1\",\"kind\":\"byoc\","
			      "\"outbound\":{\"address\":\"127.0.0.1\","
			      "\"auth_username\":\"u\",\"auth_password\":"
			      "\"PW-SECRET\"}}}"));
}


/* numbers: normalised, status derived, references checked */
static void ops_numbers(int fd)
{
	json_t *r;
	char *text;

	expect_err(fd, "{\"op\":\"numbers.put\",\"number\":{\"number\":"
		   "\"+14155551234\",\"friendly_name\":\"x\",\"trunk_id\":"
		   "\"nope\"}}", "invalid", "trunk_id \"nope\": no such trunk");
	r = expect_ok(fd, "{\"op\":\"numbers.put\",\"number\":{\"number\":"
		      "\"+1 (415) 555-1234\",\"friendly_name\":\"Support - US\","
		      "\"trunk_id\":\"carrier1\",\"inbound_agent_id\":"
		      "\"support\"}}");
	TEST_STREQ(json_string_value(json_object_get(json_object_get(r,
		"number"), "number")), "+14155551234");
	TEST_STREQ(json_string_value(json_object_get(json_object_get(r,
		"number"), "status")), "active");
	json_decref(r);
	json_decref(expect_ok(fd, "{\"op\":\"numbers.put\",\"number\":{"
			      "\"number\":\"+14155550000\",\"friendly_name\":"
			      "\"Spare\",\"trunk_id\":\"carrier1\"}}"));

	r = expect_ok(fd, "{\"op\":\"numbers.list\"}");
	TEST_EQ(json_array_size(json_object_get(r, "numbers")), 2);
	TEST_STREQ(json_string_value(json_object_get(json_array_get(
		json_object_get(r, "numbers"), 0), "status")), "inactive");
	json_decref(r);

	r = expect_ok(fd, "{\"op\":\"trunks.list\"}");
	text = json_dumps(r, 0);
	TEST_ASSERT(strstr(text, "PW-SECRET") == NULL);
	free(text);
	json_decref(r);
	json_decref(expect_ok(fd, "{\"op\":\"agents.list\"}"));

	r = expect_ok(fd, "{\"op\":\"numbers.get\",\"number\":"
		      "\"+1-415-555-1234\"}");
	TEST_STREQ(json_string_value(json_object_get(json_object_get(r,
		"number"), "friendly_name")), "Support - US");
	json_decref(r);
}


/* referential integrity, with the numbers named; deletes */
static void ops_delete(int fd)
{
	json_t *r;

	r = request(fd, "{\"op\":\"agents.delete\",\"agent\":\"support\"}");
	TEST_STREQ(err_code(r), "in_use");
	TEST_ASSERT(strstr(err_msg(r), "+14155551234"));
	TEST_STREQ(json_string_value(json_array_get(json_object_get(
		json_object_get(r, "error"), "numbers"), 0)), "+14155551234");
	json_decref(r);
	expect_err(fd, "{\"op\":\"trunks.delete\",\"trunk\":\"carrier1\"}",
		   "in_use", "+14155550000");

	r = expect_ok(fd, "{\"op\":\"numbers.delete\",\"number\":"
		      "\"+14155551234\"}");
	TEST_STREQ(json_string_value(json_object_get(r, "deleted")),
		   "+14155551234");
	json_decref(r);
	json_decref(expect_ok(fd, "{\"op\":\"agents.delete\",\"agent\":"
			      "\"support\"}"));
	expect_err(fd, "{\"op\":\"agents.get\",\"agent\":\"support\"}",
		   "not_found", "no such agent \"support\"");
	expect_err(fd, "{\"op\":\"numbers.delete\",\"number\":"
		   "\"+14155551234\"}", "not_found", NULL);
	expect_err(fd, "{\"op\":\"numbers.get\",\"number\":\"0044123\"}",
		   "invalid", "must start with '+'");
}


/* calls.*: the registry's views */
static void ops_calls(int fd)
{
	json_t *r;

	r = expect_ok(fd, "{\"op\":\"calls.list\"}");
	TEST_EQ(json_array_size(json_object_get(r, "calls")), 1);
	TEST_STREQ(json_string_value(json_object_get(json_array_get(
		json_object_get(r, "calls"), 0), "state")), "answered");
	json_decref(r);
	r = expect_ok(fd, "{\"op\":\"calls.recent\"}");
	TEST_EQ(json_array_size(json_object_get(r, "calls")), 1);
	json_decref(r);
	r = expect_ok(fd, "{\"op\":\"calls.get\",\"call_sid\":\"CA2\"}");
	{
		const json_t *c = json_object_get(r, "call");
		const json_t *st = json_object_get(c, "stats");

		TEST_STREQ(json_string_value(json_object_get(c, "state")),
			   "ended");
		TEST_STREQ(json_string_value(json_object_get(c,
			   "end_reason")), "caller-bye");
		TEST_EQ(json_integer_value(json_object_get(st, "rtp_rx")), 42);
		TEST_EQ(json_integer_value(json_object_get(json_object_get(st,
			"decoder"), "fec")), 3);
	}
	json_decref(r);
	expect_err(fd, "{\"op\":\"calls.get\",\"call_sid\":\"CA3\"}",
		   "not_found", "no such call \"CA3\"");
	expect_err(fd, "{\"op\":\"calls.get\"}", "bad_request",
		   "call_sid: is required");
	expect_err(fd, "{\"op\":\"calls.get\",\"call_sid\":1}",
		   "bad_request", "call_sid: must be a string");
	expect_err(fd, "{\"op\":\"calls.nope\"}", "unknown_op", NULL);
}


/* the operations in turn on one connection, each on the state the one
   before left */
static void test_ops(void)
{
	int fd = cli_connect();

	ops_status(fd);
	ops_put(fd);
	ops_numbers(fd);
	ops_delete(fd);
	ops_calls(fd);

	close(fd);
}


static const struct {
	const char *req;
	const char *code;
	const char *msg;
} bad_requests[] = {
	{"{", "parse_error", NULL},
	{"nonsense", "parse_error", NULL},
	{"{\"op\":\"status\",\"op\":\"status\"}", "parse_error", "duplicate"},
	{"[1,2,3]", "bad_request", "must be a JSON object"},
	{"\"status\"", "parse_error", NULL},
	{"{}", "bad_request", "op: is required"},
	{"{\"op\":7}", "bad_request", "op: must be a string"},
	{"{\"op\":\"frobnicate\"}", "unknown_op", "unknown op \"frobnicate\""},
	{"{\"op\":\"agents.list\",\"agent\":\"x\"}", "bad_request",
	 "agents.list does not take field \"agent\""},
	{"{\"op\":\"status\",\"verbose\":true}", "bad_request", NULL},
	/* calls.* refuse unknown fields as every other op does */
	{"{\"op\":\"calls.list\",\"verbose\":true}", "bad_request",
	 "calls.list does not take field \"verbose\""},
	{"{\"op\":\"calls.recent\",\"call_sid\":\"CA1\"}", "bad_request",
	 "calls.recent does not take field \"call_sid\""},
	{"{\"op\":\"calls.get\",\"call_sid\":\"CA1\",\"callSid\":\"CA1\"}",
	 "bad_request", "calls.get does not take field \"callSid\""},
	{"{\"op\":\"agents.get\"}", "bad_request", "agent: is required"},
	{"{\"op\":\"agents.get\",\"agent\":5}", "bad_request",
	 "agent: must be a non-empty id string"},
	{"{\"op\":\"agents.get\",\"agent\":\"\"}", "bad_request", NULL},
	{"{\"op\":\"agents.put\",\"agent\":\"support\"}", "bad_request",
	 "agent: must be a JSON object"},
	{"{\"op\":\"agents.put\"}", "bad_request", "agent: is required"},
	{"{\"op\":\"agents.put\",\"agent\":{\"id\":\"x\",\"url\":5}}",
	 "invalid", "url: must be a string"},
	{"{\"op\":\"agents.put\",\"agent\":{\"id\":\"x\",\"url\":\"ws://h/\","
	 "\"bogus\":1}}", "invalid", "unknown field \"bogus\""},
	{"{\"op\":\"trunks.put\",\"trunk\":{\"id\":\"x\",\"kind\":\"byoc\","
	 "\"outbound\":{\"port\":\"5060\"}}}", "invalid",
	 "outbound.port: must be an integer"},
	{"{\"op\":\"numbers.put\",\"number\":{\"number\":\"+1415555\","
	 "\"friendly_name\":\"x\",\"trunk_id\":\"carrier1\"}}", "invalid",
	 "fewer than 8 digits"},
	{"{\"op\":\"numbers.put\",\"number\":{\"number\":\"+14155559999\","
	 "\"trunk_id\":\"carrier1\"}}", "invalid",
	 "friendly_name: is required"},
	{"{\"op\":\"trunks.delete\",\"trunk\":\"nope\"}", "not_found", NULL},
	{"{\"op\":\"numbers.put\",\"number\":{\"number\":\"+14155559999\","
	 "\"friendly_name\":\"x\",\"trunk_id\":\"carrier1\","
	 "\"inbound_agent_id\":\"ghost\"}}", "invalid",
	 "inbound_agent_id \"ghost\": no such agent"},
	{"\"\\u0000\"", "parse_error", NULL},
	{"{\"op\":\"st\xff\xfe\"}", "parse_error", NULL},
};


static void test_bad_requests(void)
{
	int fd = cli_connect();
	json_t *r;

	for (size_t i = 0; i < sizeof(bad_requests) / sizeof(bad_requests[0]);
	     i++)
		expect_err(fd, bad_requests[i].req, bad_requests[i].code,
			   bad_requests[i].msg);

	/* the request id comes back whatever its type */
	r = request(fd, "{\"id\":{\"x\":[1]},\"op\":\"nope\"}");
	TEST_EQ(json_integer_value(json_array_get(json_object_get(
		json_object_get(r, "id"), "x"), 0)), 1);
	json_decref(r);

	/* blank lines are ignored, CRLF is accepted */
	cli_send(fd, "\n\r\n", 3);
	r = request(fd, "{\"id\":9,\"op\":\"status\"}\r");
	TEST_EQ(json_integer_value(json_object_get(r, "id")), 9);
	TEST_ASSERT(json_is_true(json_object_get(r, "ok")));
	json_decref(r);

	close(fd);
}


static void test_random_bytes(void)
{
	int fd = cli_connect();
	unsigned seed = 12345, replies = 0, lines = 0;
	char buf[256];

	/* lines of random bytes, each gets one error reply */
	for (int i = 0; i < 2000; i++) {
		size_t len = 1 + rand_r(&seed) % (sizeof(buf) - 2);

		for (size_t k = 0; k < len; k++) {
			buf[k] = (char)(rand_r(&seed) & 0xff);
			if (buf[k] == '\n' || buf[k] == '\r')
				buf[k] = 'x';
		}
		/* not blank */
		buf[0] = '#';
		buf[len] = '\n';
		cli_send(fd, buf, len + 1);
		++lines;

		/* read as we go so that neither side's buffers fill */
		while (replies < lines) {
			struct pollfd p = {fd, POLLIN, 0};
			char *line;

			if (poll(&p, 1, i == 1999 ? WAIT_MS : 0) != 1)
				break;
			line = cli_line(fd);
			TEST_ASSERT(line && strstr(line, "\"ok\":false"));
			++replies;
		}
	}
	while (replies < lines) {
		char *line = cli_line(fd);

		TEST_ASSERT(line && strstr(line, "parse_error"));
		++replies;
	}

	json_decref(expect_ok(fd, "{\"op\":\"status\"}"));
	close(fd);
}


static void test_long_lines(void)
{
	size_t big = 1 << 20;
	char *line = malloc(big + 1);
	int fd = cli_connect();
	json_t *r;

	TEST_ASSERT(line != NULL);

	/* 1 MiB line: one line_too_long reply, the connection goes on */
	memset(line, 'a', big);
	line[big] = '\n';
	cli_send(fd, line, big + 1);
	r = request(fd, "{\"id\":2,\"op\":\"status\"}");
	/* the first reply is the error for the long line */
	TEST_STREQ(err_code(r), "line_too_long");
	TEST_ASSERT(json_is_null(json_object_get(r, "id")));
	json_decref(r);
	{
		char *l = cli_line(fd);

		TEST_ASSERT(l && strstr(l, "\"id\":2") &&
			    strstr(l, "\"ok\":true"));
	}

	/* a line of exactly CTL_LINE_MAX bytes is served */
	memset(line, ' ', CTL_LINE_MAX);
	memcpy(line, "{\"id\":3,\"op\":\"status\"}",
	       strlen("{\"id\":3,\"op\":\"status\"}"));
	line[CTL_LINE_MAX] = '\n';
	cli_send(fd, line, CTL_LINE_MAX + 1);
	{
		char *l = cli_line(fd);

		TEST_ASSERT(l && strstr(l, "\"id\":3") &&
			    strstr(l, "\"ok\":true"));
	}

	/* one byte more is not */
	memset(line, ' ', CTL_LINE_MAX + 1);
	memcpy(line, "{\"id\":4,\"op\":\"status\"}",
	       strlen("{\"id\":4,\"op\":\"status\"}"));
	line[CTL_LINE_MAX + 1] = '\n';
	cli_send(fd, line, CTL_LINE_MAX + 2);
	{
		char *l = cli_line(fd);

		TEST_ASSERT(l && strstr(l, "line_too_long"));
	}
	json_decref(expect_ok(fd, "{\"op\":\"status\"}"));

	/* a long line cut by a disconnect */
	close(fd);
	fd = cli_connect();
	cli_send(fd, line, CTL_LINE_MAX / 2);
	close(fd);
	status_ok();

	free(line);
}


static void test_idle_and_half_closed(void)
{
	enum { IDLE = 250 };
	int idle[IDLE], fd;
	char *l;

	/* clients that never speak, or stop mid-line, block nobody */
	for (int i = 0; i < IDLE; i++) {
		idle[i] = cli_connect();
		if (i % 2)
			cli_send(idle[i], "{\"op\":\"sta", 10);
	}
	status_ok();
	for (int i = 0; i < IDLE; i++)
		close(idle[i]);
	status_ok();

	/* a client that half-closes after its requests gets every reply,
	   then EOF */
	fd = cli_connect();
	cli_send(fd, "{\"id\":1,\"op\":\"status\"}\n{\"id\":2,\"op\":\"x\"}\n"
		 "{\"id\":3,\"op\":\"agents.list\"}\n{\"id\":4,\"op\"", 75);
	shutdown(fd, SHUT_WR);
	l = cli_line(fd);
	TEST_ASSERT(l && strstr(l, "\"id\":1"));
	l = cli_line(fd);
	TEST_ASSERT(l && strstr(l, "\"id\":2") && strstr(l, "unknown_op"));
	l = cli_line(fd);
	TEST_ASSERT(l && strstr(l, "\"id\":3"));
	TEST_ASSERT(cli_line(fd) == NULL);   /* partial line 4: dropped */
	close(fd);
}


/* Read n reply lines in big chunks (bounded wait); false on early EOF */
static bool count_lines(int fd, unsigned n)
{
	static char buf[1 << 16];
	unsigned seen = 0;

	while (seen < n) {
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t r;

		if (poll(&p, 1, WAIT_MS) != 1)
			TEST_FAIL("no reply within %d ms", WAIT_MS);
		r = recv(fd, buf, sizeof(buf), 0);
		if (r <= 0)
			return false;
		for (ssize_t i = 0; i < r; i++)
			seen += buf[i] == '\n';
	}

	return true;
}


static json_int_t queued_bytes(int fd)
{
	json_t *r = expect_ok(fd, "{\"op\":\"status\"}");
	json_int_t q = json_integer_value(json_object_get(json_object_get(r,
		"control"), "queued_bytes"));

	json_decref(r);
	return q;
}


static void test_greedy_client(void)
{
	const char *req = "{\"op\":\"numbers.list\"}\n";
	size_t reqlen = strlen(req);
	int greedy = cli_connect(), fd, i, stable = 0;
	json_int_t prev = -1;
	unsigned sent = 0;

	/* fill the store so that each list reply is big (~50 KiB) */
	fd = cli_connect();
	for (i = 0; i < 300; i++) {
		char put[256];

		snprintf(put, sizeof(put), "{\"op\":\"numbers.put\",\"number\""
			 ":{\"number\":\"+1555123%04d\",\"friendly_name\":"
			 "\"A rather long friendly name %d\",\"trunk_id\":"
			 "\"carrier1\"}}", i, i);
		json_decref(expect_ok(fd, put));
	}

	/* a client that sends 400 requests and reads nothing */
	fcntl(greedy, F_SETFL, O_NONBLOCK);
	for (i = 0; i < 400; i++) {
		if (send(greedy, req, reqlen, MSG_NOSIGNAL) != (ssize_t)reqlen)
			break;
		++sent;
	}
	TEST_ASSERT(sent > 100);

	/* others are still served, and the replies waiting for the greedy
	   client stay bounded: its requests wait instead (bounded loop) */
	for (i = 0; i < 500 && stable < 10; i++) {
		json_int_t q = queued_bytes(fd);

		stable = (q == prev) ? stable + 1 : 0;
		prev = q;
		usleep(10000);
	}
	TEST_ASSERT(stable >= 10);
	TEST_ASSERT(prev > 0);
	if (prev > CTL_OUT_SOFT + 128 * 1024)
		TEST_FAIL("%lld bytes queued for a client that does not read",
			  (long long)prev);
	status_ok();

	/* once it reads, every request it sent has its reply */
	fcntl(greedy, F_SETFL, 0);
	TEST_ASSERT(count_lines(greedy, sent));
	TEST_EQ(queued_bytes(fd), 0);

	close(greedy);
	status_ok();
	close(fd);
}


static void test_client_cap(void)
{
	struct rlimit rl;
	int *fds, n = CTL_CLIENTS_MAX, extra;
	char *l;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096) {
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur < 2 * CTL_CLIENTS_MAX
	    + 64) {
		printf("test_ctl: client cap not tested (RLIMIT_NOFILE %lu)\n",
		       (unsigned long)rl.rlim_cur);
		return;
	}

	fds = calloc((size_t)n, sizeof(*fds));
	TEST_ASSERT(fds != NULL);

	/* one connection is kept to be sure all are accepted */
	for (int i = 0; i < n; i++)
		fds[i] = cli_connect();
	json_decref(expect_ok(fds[n - 1], "{\"op\":\"status\"}"));

	extra = cli_connect();
	l = cli_line(extra);
	TEST_ASSERT(l && strstr(l, "\"busy\""));
	TEST_ASSERT(cli_line(extra) == NULL);
	close(extra);

	for (int i = 0; i < n; i++)
		close(fds[i]);
	free(fds);

	/* the server notices the closes on its own thread: a newcomer may
	   still find it full for a moment, never for long */
	for (int tries = 0; ; tries++) {
		static const char req[] = "{\"id\":\"s\",\"op\":\"status\"}\n";
		int fd = cli_connect();
		json_error_t jerr;
		json_t *r;
		char *line;
		bool busy;

		/* a busy server may have closed already: the send fails, the
		   busy line it sent first is still there to read */
		(void)send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL);
		line = cli_line(fd);
		if (!line)
			TEST_FAIL("status after the clients left: no reply");
		r = json_loads(line, 0, &jerr);
		if (!r)
			TEST_FAIL("reply is not JSON: %s", line);
		busy = !json_is_true(json_object_get(r, "ok")) &&
			err_code(r) && !strcmp(err_code(r), "busy");

		if (!busy || tries >= WAIT_MS / 10) {
			if (!json_is_true(json_object_get(r, "ok")))
				TEST_FAIL("status after the clients left: %s: %s",
					  err_code(r), err_msg(r));
			json_decref(r);
			close(fd);
			break;
		}
		json_decref(r);
		close(fd);
		usleep(10000);
	}
}


static void test_socket_file(struct store *st)
{
	struct ctl *ctl2 = NULL, *ctl3 = NULL;
	char other[400], stale[400];
	struct sockaddr_un sun;
	struct stat sb;
	int fd;

	/* mode 0660 */
	TEST_EQ(stat(sockpath, &sb), 0);
	TEST_ASSERT(S_ISSOCK(sb.st_mode));
	TEST_EQ(sb.st_mode & 0777, 0660);

	/* a second server on a live socket is refused, the first goes on */
	TEST_ERR(ctl_alloc(&ctl2, sockpath, st, NULL), EADDRINUSE);
	status_ok();

	/* a regular file is not replaced */
	snprintf(other, sizeof(other), "%s/regular", tmpdir);
	fd = open(other, O_CREAT | O_WRONLY, 0600);
	TEST_ASSERT(fd >= 0);
	close(fd);
	TEST_ERR(ctl_alloc(&ctl2, other, st, NULL), EEXIST);
	TEST_EQ(stat(other, &sb), 0);
	TEST_ASSERT(S_ISREG(sb.st_mode));

	/* a stale socket (nobody listening) is replaced */
	snprintf(stale, sizeof(stale), "%s/stale.sock", tmpdir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%.100s", stale);
	TEST_EQ(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	TEST_ERR(ctl_alloc(&ctl3, stale, st, NULL), 0);

	/* a path too long for a Unix socket */
	{
		char longp[300];

		memset(longp, 'x', sizeof(longp));
		longp[0] = '/';
		longp[sizeof(longp) - 1] = '\0';
		TEST_ERR(ctl_alloc(&ctl2, longp, st, NULL),
			 ENAMETOOLONG);
	}

	/* stopping removes the socket file */
	mem_deref(ctl3);
	TEST_ASSERT(access(stale, F_OK) != 0);
}


int main(void)
{
	struct store *st = NULL;
	struct ctl *ctl = NULL;
	char err[512], state[400];

	signal(SIGPIPE, SIG_IGN);

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cb-test-ctl-XXXXXX");
	TEST_ASSERT(mkdtemp(tmpdir) != NULL);
	snprintf(state, sizeof(state), "%s/state/state.json", tmpdir);
	/* missing parent directories of the socket are created */
	snprintf(sockpath, sizeof(sockpath), "%s/run/sub/ctl.sock", tmpdir);

	TEST_ERR(store_open(&st, state, NULL, err, sizeof(err)), 0);
	reg_setup();
	{
		const struct ctl_gw cg = {reg, 9, 2, "ACtest"};

		TEST_ERR(ctl_alloc(&ctl, sockpath, st, &cg), 0);
	}

	test_ops();
	test_bad_requests();
	test_random_bytes();
	test_long_lines();
	test_idle_and_half_closed();
	test_greedy_client();
	test_client_cap();
	test_socket_file(st);

	mem_deref(ctl);
	TEST_ASSERT(access(sockpath, F_OK) != 0);
	reg = mem_deref(reg);

	/* everything acknowledged was persisted */
	mem_deref(st);
	st = NULL;
	TEST_ERR(store_open(&st, state, NULL, err, sizeof(err)), 0);
	{
		uint32_t na, nt, nn;

		store_counts(st, &na, &nt, &nn);
		TEST_EQ(na, 1);
		TEST_EQ(nt, 1);
		TEST_EQ(nn, 301);
	}
	mem_deref(st);

	nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	printf("test_ctl: ok\n");
	return 0;
}
