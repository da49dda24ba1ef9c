/**
 * @file callbridgectl.c  The operator's CLI for callbridge's control socket
 *
 *   callbridgectl [-s SOCKET | -c CONFIG] [--json] COMMAND ...
 *
 * One subcommand per control op (docs/control-protocol.md). Each run sends
 * one request line and prints the reply: tables for lists, a summary for
 * changes, or with --json the daemon's reply exactly as received.
 *
 * Exit codes: 0 success, 1 the daemon refused the request (error reply),
 * 2 usage error, 3 the daemon cannot be reached (or did not answer).
 *
 * Secrets given on the command line are visible to other users in ps(1);
 * prefer --auth-token-file / --password-file (a file, or - for stdin).
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include "cb_re.h"
#include "settings.h"

enum {
	EXIT_OK      = 0,
	EXIT_REFUSED = 1,
	EXIT_USAGE   = 2,
	EXIT_UNREACH = 3,
};

enum {
	MAX_OPTS     = 256,
	REPLY_MAX    = 512 * 1024 * 1024,   /**< largest reply [bytes] */
};

/* Commands an option applies to (bit mask) */
enum {
	C_GLOBAL = 1 << 0,
	C_AGENT  = 1 << 1,   /* agents put  */
	C_TRUNK  = 1 << 2,   /* trunks put  */
	C_NUMBER = 1 << 3,   /* numbers put */
};

struct optdef {
	const char *name;
	bool value;
	unsigned cmds;
	const char *help;
};

static const struct optdef optdefs[] = {
	{"socket", true, C_GLOBAL, "control socket path"},
	{"config", true, C_GLOBAL, "take control_socket from this settings "
	 "file"},
	{"json", false, C_GLOBAL, "print the daemon's JSON reply as is"},
	{"timeout", true, C_GLOBAL, "seconds to wait for the reply "
	 "(default 10)"},
	{"help", false, C_GLOBAL, "show help"},
	{"version", false, C_GLOBAL, "show the version"},

	{"name", true, C_AGENT | C_TRUNK | C_NUMBER,
	 "display name (numbers: friendly name, required)"},
	{"url", true, C_AGENT, "ws:// or wss:// URL of the agent (required)"},
	{"protocol", true, C_AGENT, "twilio (default) or raw"},
	{"param", true, C_AGENT, "KEY=VALUE handed to the agent at start "
	 "(repeatable)"},
	{"auth-token", true, C_AGENT, "token the gateway presents to the "
	 "agent"},
	{"auth-token-file", true, C_AGENT, "read the token from a file "
	 "(- for stdin)"},
	{"encoding", true, C_AGENT, "audio to the agent: mulaw (default) or "
	 "l16"},
	{"sample-rate", true, C_AGENT, "8000 (default), 16000, 24000 or "
	 "48000"},
	{"keep-secrets", false, C_AGENT | C_TRUNK, "keep the stored token or "
	 "passwords not given again"},

	{"kind", true, C_TRUNK, "byoc or twilio (required)"},
	{"allow", true, C_TRUNK, "CIDR allowed to send calls (repeatable or "
	 "comma separated; none: any)"},
	{"inbound-username", true, C_TRUNK, "digest user callers must "
	 "authenticate as"},
	{"inbound-password", true, C_TRUNK, "digest password for inbound "
	 "calls"},
	{"inbound-password-file", true, C_TRUNK, "read it from a file "
	 "(- for stdin)"},
	{"address", true, C_TRUNK, "outbound host (name or IP address)"},
	{"port", true, C_TRUNK, "outbound port (default 5060, 5061 for tls)"},
	{"transport", true, C_TRUNK, "udp (default), tcp or tls"},
	{"username", true, C_TRUNK, "outbound digest user"},
	{"password", true, C_TRUNK, "outbound digest password"},
	{"password-file", true, C_TRUNK, "read it from a file (- for stdin)"},
	{"from-domain", true, C_TRUNK, "domain of the From header"},
	{"media-encryption", true, C_TRUNK, "none (default), srtp_optional or "
	 "srtp_required"},
	{"header", true, C_TRUNK, "'Name: value' extra SIP header "
	 "(repeatable)"},

	{"trunk", true, C_NUMBER, "trunk id (required)"},
	{"inbound-agent", true, C_NUMBER, "agent that answers calls"},
	{"outbound-agent", true, C_NUMBER, "agent that places calls"},
	{"shareable", false, C_NUMBER, "other agents may call out from this "
	 "number"},

	{"codec", true, C_TRUNK | C_NUMBER, "PCMU, PCMA or opus in order of "
	 "preference (repeatable or comma separated)"},
};

#define NOPTDEFS (sizeof(optdefs) / sizeof(optdefs[0]))

struct optval {
	const struct optdef *def;
	const char *value;
};

static struct {
	const char *socket;
	const char *config;
	bool json;
	bool help;
	int timeout_s;
	const char *words[16];
	int nwords;
	struct optval opts[MAX_OPTS];
	int nopts;
} g;


static void die(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

static void die(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "callbridgectl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);

	if (code == EXIT_USAGE)
		fprintf(stderr, "Try 'callbridgectl --help'.\n");

	exit(code);
}


static void usage_main(FILE *f)
{
	fprintf(f,
"Usage: callbridgectl [OPTIONS] COMMAND [ARGS]\n"
"\n"
"Manage a running callbridge through its control socket.\n"
"\n"
"Commands:\n"
"  status                       version, uptime, counts, calls\n"
"  numbers list|get|put|delete  E.164 numbers and who answers them\n"
"  agents  list|get|put|delete  WebSocket agents\n"
"  trunks  list|get|put|delete  carrier trunks\n"
"  calls   list|recent|get      calls in progress and recently ended\n"
"  request JSON                 send one raw request object\n"
"\n"
"Options (anywhere on the line):\n"
"  -s, --socket PATH    control socket (default %s)\n"
"  -c, --config FILE    take the socket path from a settings file\n"
"  -j, --json           print the daemon's JSON reply as is\n"
"  -t, --timeout SEC    wait this long for the reply (default 10)\n"
"  -h, --help           help; 'callbridgectl numbers --help' for more\n"
"  -V, --version        version\n"
"\n"
"Exit status: 0 success, 1 refused by the daemon, 2 usage error,\n"
"3 daemon not reachable.\n", SETTINGS_DEFAULT_CONTROL_SOCKET);
}


static void usage_opts(FILE *f, unsigned cmd)
{
	for (size_t i = 0; i < NOPTDEFS; i++) {
		char left[64];

		if (!(optdefs[i].cmds & cmd))
			continue;
		snprintf(left, sizeof(left), "--%s%s", optdefs[i].name,
			 optdefs[i].value ? " X" : "");
		fprintf(f, "  %-26s %s\n", left, optdefs[i].help);
	}
}


static void usage_cmd(FILE *f, const char *cmd, const char *sub)
{
	if (!strcmp(cmd, "numbers")) {
		fprintf(f,
"Usage: callbridgectl numbers list\n"
"       callbridgectl numbers get NUMBER\n"
"       callbridgectl numbers delete NUMBER\n"
"       callbridgectl numbers put NUMBER --name NAME --trunk ID [OPTIONS]\n"
"\n"
"NUMBER is E.164: + then 8 to 15 digits; spaces, dashes, dots and\n"
"parentheses are removed (\"+1 (415) 555-1234\"). put creates or\n"
"replaces the whole number: options not given are unset.\n"
"\n"
"Options of put:\n");
		usage_opts(f, C_NUMBER);
		fprintf(f, "\nExample:\n  callbridgectl numbers put +14155551234 "
			"--name \"Support - US\" --trunk carrier1 "
			"--inbound-agent support\n");
	}
	else if (!strcmp(cmd, "agents")) {
		fprintf(f,
"Usage: callbridgectl agents list\n"
"       callbridgectl agents get ID\n"
"       callbridgectl agents delete ID\n"
"       callbridgectl agents put ID --url URL [OPTIONS]\n"
"\n"
"ID is a slug: lowercase letters, digits, '-' and '_'. put creates or\n"
"replaces the whole agent: options not given are unset (the token too,\n"
"unless --keep-secrets). An agent that numbers use cannot be deleted.\n"
"\n"
"Options of put:\n");
		usage_opts(f, C_AGENT);
		fprintf(f, "\nExample:\n  callbridgectl agents put support --url "
			"wss://agent.example.com/media --name Support "
			"--param lang=en\n");
	}
	else if (!strcmp(cmd, "trunks")) {
		fprintf(f,
"Usage: callbridgectl trunks list\n"
"       callbridgectl trunks get ID\n"
"       callbridgectl trunks delete ID\n"
"       callbridgectl trunks put ID --kind byoc|twilio [OPTIONS]\n"
"\n"
"put creates or replaces the whole trunk: options not given are unset\n"
"(passwords too, unless --keep-secrets). A trunk that numbers use\n"
"cannot be deleted.\n"
"\n"
"Options of put:\n");
		usage_opts(f, C_TRUNK);
		fprintf(f, "\nExample:\n  callbridgectl trunks put carrier1 --kind "
			"byoc --allow 203.0.113.0/24 --address "
			"sip.carrier.example --transport tls\n");
	}
	else if (!strcmp(cmd, "calls")) {
		fprintf(f,
"Usage: callbridgectl calls list\n"
"       callbridgectl calls recent\n"
"       callbridgectl calls get CALL_SID\n"
"\n"
"list: calls in progress; recent: the last ended calls, with why they\n"
"ended; get: one call (in progress or recent) with all its media\n"
"statistics (jitter buffer, RTP, RTCP, agent link).\n");
	}
	else if (!strcmp(cmd, "status")) {
		fprintf(f, "Usage: callbridgectl status\n\nVersion, uptime, "
			"counts of agents, trunks and numbers, and calls in "
			"progress.\n");
	}
	else if (!strcmp(cmd, "request")) {
		fprintf(f, "Usage: callbridgectl request JSON\n\nSend one "
			"request object, e.g. '{\"op\":\"numbers.list\"}', and "
			"print the reply.\n");
	}
	else {
		usage_main(f);
	}
	(void)sub;
}


static const struct optdef *optdef_find(const char *name, size_t len)
{
	for (size_t i = 0; i < NOPTDEFS; i++) {
		if (strlen(optdefs[i].name) == len &&
		    !strncmp(optdefs[i].name, name, len))
			return &optdefs[i];
	}

	return NULL;
}


static void parse_args(int argc, char *argv[])
{
	bool only_words = false;

	g.timeout_s = 10;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const struct optdef *d = NULL;
		const char *val = NULL, *eq;

		if (only_words || a[0] != '-' || !a[1]) {
			if (g.nwords == (int)(sizeof(g.words) /
					      sizeof(g.words[0])))
				die(EXIT_USAGE, "too many arguments");
			g.words[g.nwords++] = a;
			continue;
		}
		if (!strcmp(a, "--")) {
			only_words = true;
			continue;
		}

		if (a[1] != '-') {
			/* short options: globals only */
			static const struct {
				char c;
				const char *name;
			} shorts[] = {
				{'s', "socket"}, {'c', "config"}, {'j', "json"},
				{'t', "timeout"}, {'h', "help"}, {'V', "version"},
			};

			for (size_t k = 0; k < 6; k++) {
				if (a[1] == shorts[k].c && !a[2])
					d = optdef_find(shorts[k].name,
						strlen(shorts[k].name));
			}
			if (!d)
				die(EXIT_USAGE, "unknown option %s", a);
		}
		else {
			eq = strchr(a + 2, '=');
			d = optdef_find(a + 2, eq ? (size_t)(eq - a - 2) :
					strlen(a + 2));
			if (!d)
				die(EXIT_USAGE, "unknown option %s", a);
			if (eq) {
				if (!d->value)
					die(EXIT_USAGE, "--%s takes no value",
					    d->name);
				val = eq + 1;
			}
		}

		if (d->value && !val) {
			if (i + 1 >= argc)
				die(EXIT_USAGE, "--%s needs a value", d->name);
			val = argv[++i];
		}

		if (d->cmds & C_GLOBAL) {
			if (!strcmp(d->name, "socket"))
				g.socket = val;
			else if (!strcmp(d->name, "config"))
				g.config = val;
			else if (!strcmp(d->name, "json"))
				g.json = true;
			else if (!strcmp(d->name, "help"))
				g.help = true;
			else if (!strcmp(d->name, "version")) {
				printf("callbridgectl %s\n", CB_VERSION);
				exit(EXIT_OK);
			}
			else {
				char *end;
				long t = strtol(val, &end, 10);

				if (*end || t < 1 || t > 3600)
					die(EXIT_USAGE, "--timeout must be 1..3600 "
					    "seconds");
				g.timeout_s = (int)t;
			}
			continue;
		}

		if (g.nopts == MAX_OPTS)
			die(EXIT_USAGE, "too many options");
		g.opts[g.nopts].def = d;
		g.opts[g.nopts].value = val;
		g.nopts++;
	}
}


/* Command options must belong to the command */
static void check_opts(unsigned cmd, const char *what)
{
	for (int i = 0; i < g.nopts; i++) {
		if (!(g.opts[i].def->cmds & cmd))
			die(EXIT_USAGE, "%s does not take --%s", what,
			    g.opts[i].def->name);
	}
}


static const char *opt_get(const char *name)
{
	const char *v = NULL;

	for (int i = 0; i < g.nopts; i++) {
		if (!strcmp(g.opts[i].def->name, name))
			v = g.opts[i].value ? g.opts[i].value : "";
	}

	return v;
}


static void words_exact(int n, const char *what)
{
	if (g.nwords > n)
		die(EXIT_USAGE, "%s: unexpected argument '%s'", what,
		    g.words[n]);
	if (g.nwords < n)
		die(EXIT_USAGE, "%s: missing argument", what);
}


/*
 * Talking to the daemon
 */

static const char *socket_path(void)
{
	static char path[SETTINGS_PATH_MAX];
	struct settings *s = NULL;
	char err[512];

	if (g.socket)
		return g.socket;
	if (!g.config)
		return SETTINGS_DEFAULT_CONTROL_SOCKET;

	if (settings_load(&s, g.config, err, sizeof(err)))
		die(EXIT_USAGE, "%s", err);
	snprintf(path, sizeof(path), "%s", s->control_socket);
	mem_deref(s);

	return path;
}


static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}


/* Send one request; returns the raw reply line (malloc'd, no newline) */
static char *transact(const json_t *req)
{
	const char *path = socket_path();
	struct sockaddr_un sun;
	uint64_t deadline = now_ms() + (uint64_t)g.timeout_s * 1000;
	char *text, *buf = NULL;
	size_t len, off = 0, sz = 0, blen = 0;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		die(EXIT_USAGE, "socket path too long: %s", path);
	memcpy(sun.sun_path, path, strlen(path) + 1);

	text = json_dumps(req, JSON_COMPACT);
	if (!text)
		die(EXIT_USAGE, "out of memory");
	len = strlen(text);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die(EXIT_UNREACH, "socket: %s", strerror(errno));
	/* a blocking connect waits while the daemon's listen backlog is
	   full: bound it by the timeout (Unix sockets use SO_SNDTIMEO) */
	{
		struct timeval tv = {g.timeout_s, 0};

		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
				 sizeof(tv));
	}

	/* EAGAIN: the backlog stayed full; retry until the deadline */
	while (connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN && now_ms() < deadline) {
			usleep(10000);
			continue;
		}
		die(EXIT_UNREACH, "cannot reach callbridge at %s: %s%s", path,
		    strerror(errno), errno == ENOENT || errno == ECONNREFUSED ?
		    " (is it running? -s/--socket or -c/--config choose the "
		    "socket)" : "");
	}

	/* the request, then its newline; then say we are done */
	while (off < len + 1) {
		const char *p = off < len ? text + off : "\n";
		size_t n = off < len ? len - off : 1;
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			die(EXIT_UNREACH, "send to %s: %s", path,
			    strerror(errno));
		off += (size_t)w;
	}
	free(text);
	shutdown(fd, SHUT_WR);

	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		uint64_t now = now_ms();
		char *nl;
		ssize_t n;

		if (now >= deadline ||
		    poll(&p, 1, (int)(deadline - now)) == 0)
			die(EXIT_UNREACH, "no reply from %s within %d s", path,
			    g.timeout_s);

		if (blen + 65536 + 1 > sz) {
			sz = sz ? sz * 2 : 131072;
			if (sz > REPLY_MAX)
				die(EXIT_UNREACH, "reply too large");
			buf = realloc(buf, sz);
			if (!buf)
				die(EXIT_UNREACH, "out of memory");
		}

		n = recv(fd, buf + blen, sz - blen - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die(EXIT_UNREACH, "recv from %s: %s", path,
			    strerror(errno));
		if (n == 0)
			die(EXIT_UNREACH, "callbridge closed the connection "
			    "without a reply");

		nl = memchr(buf + blen, '\n', (size_t)n);
		blen += (size_t)n;
		if (nl) {
			*nl = '\0';
			break;
		}
	}

	close(fd);
	return buf;
}


/* Send; print errors; returns the parsed reply on success */
static json_t *call(json_t *req, int *exitp)
{
	json_error_t jerr;
	json_t *reply, *e;
	char *line;

	line = transact(req);

	reply = json_loads(line, 0, &jerr);
	if (!reply || !json_is_object(reply))
		die(EXIT_UNREACH, "unreadable reply: %s", jerr.text);

	if (g.json) {
		printf("%s\n", line);
		free(line);
		*exitp = json_is_true(json_object_get(reply, "ok")) ?
			EXIT_OK : EXIT_REFUSED;
		json_decref(reply);
		return NULL;
	}
	free(line);

	if (json_is_true(json_object_get(reply, "ok"))) {
		*exitp = EXIT_OK;
		return reply;
	}

	e = json_object_get(reply, "error");
	fprintf(stderr, "callbridgectl: %s: %s\n",
		json_string_value(json_object_get(e, "code")) ?
		json_string_value(json_object_get(e, "code")) : "error",
		json_string_value(json_object_get(e, "message")) ?
		json_string_value(json_object_get(e, "message")) : "");
	*exitp = EXIT_REFUSED;
	json_decref(reply);

	return NULL;
}


/*
 * Output
 */

/* Display width: code points (no East Asian width handling) */
static size_t width(const char *s)
{
	size_t w = 0;

	for (; *s; s++) {
		if (((unsigned char)*s & 0xc0) != 0x80)
			++w;
	}

	return w;
}


enum { TABLE_MAXCOL = 10 };   /**< columns a table may have */

struct table {
	int ncols;
	const char *head[TABLE_MAXCOL];
	char **cells;       /* nrows * ncols, malloc'd strings */
	size_t nrows;
};


static void table_add(struct table *t, const char **row)
{
	t->cells = realloc(t->cells, (t->nrows + 1) * (size_t)t->ncols *
			   sizeof(char *));
	if (!t->cells)
		die(EXIT_UNREACH, "out of memory");

	for (int c = 0; c < t->ncols; c++) {
		const char *v = row[c] && *row[c] ? row[c] : "-";

		t->cells[t->nrows * (size_t)t->ncols + (size_t)c] = strdup(v);
	}
	t->nrows++;
}


static void table_print(struct table *t)
{
	size_t w[TABLE_MAXCOL];

	for (int c = 0; c < t->ncols; c++)
		w[c] = width(t->head[c]);
	for (size_t r = 0; r < t->nrows; r++) {
		for (int c = 0; c < t->ncols; c++) {
			size_t x = width(t->cells[r * (size_t)t->ncols +
						  (size_t)c]);
			if (x > w[c])
				w[c] = x;
		}
	}

	for (size_t r = 0; r <= t->nrows; r++) {
		for (int c = 0; c < t->ncols; c++) {
			const char *v = r ? t->cells[(r - 1) * (size_t)t->ncols
						     + (size_t)c] : t->head[c];

			if (c == t->ncols - 1)
				printf("%s", v);
			else
				printf("%s%*s  ", v, (int)(w[c] - width(v)),
				       "");
		}
		putchar('\n');
	}

	for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
}


static const char *jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}


static void print_numbers(const json_t *arr)
{
	struct table t = {6, {"Number", "Friendly Name", "Inbound agent",
			      "Outbound agent", "Trunk", "Status"}, NULL, 0};
	size_t i;
	json_t *n;

	json_array_foreach(arr, i, n) {
		const char *row[6] = {
			jstr(n, "number"), jstr(n, "friendly_name"),
			jstr(n, "inbound_agent_id"),
			jstr(n, "outbound_agent_id"), jstr(n, "trunk_id"),
			jstr(n, "status"),
		};
		table_add(&t, row);
	}
	table_print(&t);
}


static void print_agents(const json_t *arr)
{
	struct table t = {6, {"ID", "Name", "URL", "Protocol", "Audio",
			      "Token"}, NULL, 0};
	size_t i;
	json_t *a;

	json_array_foreach(arr, i, a) {
		const json_t *au = json_object_get(a, "audio");
		char audio[64];
		const char *row[6];

		snprintf(audio, sizeof(audio), "%s/%lld",
			 jstr(au, "encoding") ? jstr(au, "encoding") : "?",
			 (long long)json_integer_value(
				 json_object_get(au, "sample_rate")));
		row[0] = jstr(a, "id");
		row[1] = jstr(a, "name");
		row[2] = jstr(a, "url");
		row[3] = jstr(a, "protocol");
		row[4] = audio;
		row[5] = json_is_true(json_object_get(a, "auth_token_set")) ?
			"set" : "-";
		table_add(&t, row);
	}
	table_print(&t);
}


static void print_trunks(const json_t *arr)
{
	struct table t = {6, {"ID", "Name", "Kind", "Allowed sources",
			      "Outbound", "Media"}, NULL, 0};
	size_t i, k;
	json_t *tr, *c;

	json_array_foreach(arr, i, tr) {
		const json_t *in = json_object_get(tr, "inbound");
		const json_t *out = json_object_get(tr, "outbound");
		char src[256] = "", dst[300] = "";
		size_t o = 0;
		const char *row[6];

		json_array_foreach(json_object_get(in, "allowed_sources"), k,
				   c) {
			int n = snprintf(src + o, sizeof(src) - o, "%s%s",
					 k ? "," : "", json_string_value(c));
			if (n < 0 || (size_t)n >= sizeof(src) - o) {
				snprintf(src + sizeof(src) - 4, 4, "...");
				break;
			}
			o += (size_t)n;
		}
		if (!o)
			snprintf(src, sizeof(src), "any");

		if (jstr(out, "address"))
			snprintf(dst, sizeof(dst), "%s:%s:%lld",
				 jstr(out, "transport"), jstr(out, "address"),
				 (long long)json_integer_value(
					 json_object_get(out, "port")));

		row[0] = jstr(tr, "id");
		row[1] = jstr(tr, "name");
		row[2] = jstr(tr, "kind");
		row[3] = src;
		row[4] = dst;
		row[5] = jstr(tr, "media_encryption");
		table_add(&t, row);
	}
	table_print(&t);
}


/* calls: the gateway decides the fields; known ones first, else the
   scalar members of the first call */
static void print_calls(const json_t *arr)
{
	struct table t = {9, {"Call SID", "Number", "From", "Agent", "Codec",
			      "State", "Seconds", "Lost", "Concealed"},
			  NULL, 0};
	size_t i;
	json_t *c;

	json_array_foreach(arr, i, c) {
		const json_t *jb = json_object_get(json_object_get(c, "stats"),
						   "jitter_buffer");
		char dur[24], lost[24], conc[24];
		const char *row[9];

		snprintf(dur, sizeof(dur), "%lld", (long long)
			 json_integer_value(json_object_get(c, "duration_s")));
		snprintf(lost, sizeof(lost), "%lld", (long long)
			 json_integer_value(json_object_get(jb, "lost")));
		snprintf(conc, sizeof(conc), "%lld", (long long)
			 json_integer_value(json_object_get(jb, "concealed")));
		row[0] = jstr(c, "call_sid");
		row[1] = jstr(c, "number");
		row[2] = jstr(c, "from");
		row[3] = jstr(c, "agent_id");
		row[4] = jstr(c, "codec");
		row[5] = json_object_get(c, "end_reason") ?
			jstr(c, "end_reason") : jstr(c, "state");
		row[6] = dur;
		row[7] = lost;
		row[8] = conc;
		table_add(&t, row);
	}
	table_print(&t);
}


static void print_pretty(const json_t *o)
{
	char *s = json_dumps(o, JSON_INDENT(2));

	if (s)
		printf("%s\n", s);
	free(s);
}


static void print_kv(const char *prefix, const json_t *o)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)o, key, v) {
		char name[128];

		if (!*prefix && (!strcmp(key, "id") || !strcmp(key, "ok") ||
				 !strcmp(key, "version") ||
				 !strcmp(key, "uptime_s")))
			continue;
		snprintf(name, sizeof(name), "%s%s", prefix, key);

		if (json_is_object(v)) {
			char sub[130];

			snprintf(sub, sizeof(sub), "%s.", name);
			print_kv(sub, v);
		}
		else if (json_is_string(v)) {
			printf("%-24s %s\n", name, json_string_value(v));
		}
		else {
			char *s = json_dumps(v, JSON_COMPACT |
					     JSON_ENCODE_ANY);

			printf("%-24s %s\n", name, s ? s : "?");
			free(s);
		}
	}
}


static void print_status(const json_t *r)
{
	json_int_t up = json_integer_value(json_object_get(r, "uptime_s"));

	printf("callbridge %s, up %lldd %02lld:%02lld:%02lld\n",
	       jstr(r, "version") ? jstr(r, "version") : "?",
	       (long long)(up / 86400), (long long)(up / 3600 % 24),
	       (long long)(up / 60 % 60), (long long)(up % 60));
	print_kv("", r);
}


/*
 * Building requests
 */

static char *read_secret(const char *path)
{
	static char buf[4096];
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	size_t n;

	if (!f)
		die(EXIT_USAGE, "cannot read %s: %s", path, strerror(errno));
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	if (f != stdin)
		fclose(f);

	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (!n)
		die(EXIT_USAGE, "%s is empty", path);

	return buf;
}


static void set_str(json_t *o, const char *key, const char *v)
{
	if (v)
		json_object_set_new(o, key, json_string(v));
}


static void set_secret(json_t *o, const char *key, const char *opt,
		       const char *fileopt)
{
	const char *v = opt_get(opt);
	const char *file = opt_get(fileopt);

	if (v && file)
		die(EXIT_USAGE, "give --%s or --%s, not both", opt, fileopt);
	if (file)
		v = read_secret(file);
	set_str(o, key, v);
}


static void set_uint(json_t *o, const char *key, const char *opt)
{
	const char *v = opt_get(opt);
	char *end;
	long n;

	if (!v)
		return;

	n = strtol(v, &end, 10);
	if (!*v || *end || n < 0 || n > 1000000)
		die(EXIT_USAGE, "--%s must be a number", opt);
	json_object_set_new(o, key, json_integer(n));
}


/* Repeatable options, each value possibly comma separated */
static json_t *list_opt(const char *name)
{
	json_t *arr = json_array();

	for (int i = 0; i < g.nopts; i++) {
		char *copy, *tok, *save = NULL;

		if (strcmp(g.opts[i].def->name, name))
			continue;

		copy = strdup(g.opts[i].value);
		for (tok = strtok_r(copy, ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save)) {
			while (*tok == ' ')
				++tok;
			if (*tok)
				json_array_append_new(arr, json_string(tok));
		}
		free(copy);
	}

	return arr;
}


static json_t *kv_opt(const char *name, char sep)
{
	json_t *obj = json_object();

	for (int i = 0; i < g.nopts; i++) {
		const char *v = g.opts[i].value, *s;
		char key[512];
		size_t klen;

		if (strcmp(g.opts[i].def->name, name))
			continue;

		s = strchr(v, sep);
		if (!s || s == v)
			die(EXIT_USAGE, "--%s must be %s", name, sep == '=' ?
			    "KEY=VALUE" : "'Name: value'");
		klen = (size_t)(s - v);
		if (klen >= sizeof(key))
			die(EXIT_USAGE, "--%s: name too long", name);
		memcpy(key, v, klen);
		key[klen] = '\0';
		++s;
		while (sep == ':' && *s == ' ')
			++s;
		if (json_object_get(obj, key))
			die(EXIT_USAGE, "--%s %s given twice", name, key);
		json_object_set_new(obj, key, json_string(s));
	}

	return obj;
}


/* For --keep-secrets: what the stored object has set */
static json_t *get_stored(const char *op, const char *key, const char *id)
{
	json_t *req = json_pack("{s:s,s:s}", "op", op, key, id);
	json_t *r, *obj = NULL;
	bool json = g.json;
	int ex;

	g.json = false;
	r = call(req, &ex);
	g.json = json;
	json_decref(req);
	if (!r)
		return NULL;

	obj = json_incref(json_object_get(r, key));
	json_decref(r);
	return obj;
}


static json_t *build_agent(const char *id)
{
	json_t *a = json_object();
	json_t *params = kv_opt("param", '=');

	if (!opt_get("url"))
		die(EXIT_USAGE, "agents put: --url is required");

	set_str(a, "id", id);
	set_str(a, "name", opt_get("name"));
	set_str(a, "url", opt_get("url"));
	set_str(a, "protocol", opt_get("protocol"));
	json_object_set_new(a, "parameters", params);
	set_secret(a, "auth_token", "auth-token", "auth-token-file");

	if (opt_get("encoding") || opt_get("sample-rate")) {
		json_t *au = json_object();

		set_str(au, "encoding", opt_get("encoding"));
		set_uint(au, "sample_rate", "sample-rate");
		json_object_set_new(a, "audio", au);
	}

	if (opt_get("keep-secrets") && !json_object_get(a, "auth_token")) {
		json_t *old = get_stored("agents.get", "agent", id);

		if (old && json_is_true(json_object_get(old,
							"auth_token_set")))
			json_object_set_new(a, "auth_token_set", json_true());
		json_decref(old);
	}

	return a;
}


static json_t *build_trunk(const char *id)
{
	json_t *t = json_object(), *in = json_object(), *out = json_object();
	json_t *codecs = list_opt("codec");

	if (!opt_get("kind"))
		die(EXIT_USAGE, "trunks put: --kind is required (byoc or "
		    "twilio)");

	set_str(t, "id", id);
	set_str(t, "name", opt_get("name"));
	set_str(t, "kind", opt_get("kind"));
	set_str(t, "media_encryption", opt_get("media-encryption"));

	json_object_set_new(in, "allowed_sources", list_opt("allow"));
	set_str(in, "auth_username", opt_get("inbound-username"));
	set_secret(in, "auth_password", "inbound-password",
		   "inbound-password-file");

	set_str(out, "address", opt_get("address"));
	set_uint(out, "port", "port");
	set_str(out, "transport", opt_get("transport"));
	set_str(out, "auth_username", opt_get("username"));
	set_secret(out, "auth_password", "password", "password-file");
	set_str(out, "from_domain", opt_get("from-domain"));
	json_object_set_new(out, "headers", kv_opt("header", ':'));

	if (opt_get("keep-secrets")) {
		json_t *old = get_stored("trunks.get", "trunk", id);

		if (old && !json_object_get(in, "auth_password") &&
		    json_is_true(json_object_get(json_object_get(old,
				"inbound"), "auth_password_set")))
			json_object_set_new(in, "auth_password_set",
					    json_true());
		if (old && !json_object_get(out, "auth_password") &&
		    json_is_true(json_object_get(json_object_get(old,
				"outbound"), "auth_password_set")))
			json_object_set_new(out, "auth_password_set",
					    json_true());
		json_decref(old);
	}

	json_object_set_new(t, "inbound", in);
	json_object_set_new(t, "outbound", out);
	if (json_array_size(codecs))
		json_object_set_new(t, "codecs", codecs);
	else
		json_decref(codecs);

	return t;
}


static json_t *build_number(const char *num)
{
	json_t *n = json_object();
	json_t *codecs = list_opt("codec");

	if (!opt_get("name"))
		die(EXIT_USAGE, "numbers put: --name is required");
	if (!opt_get("trunk"))
		die(EXIT_USAGE, "numbers put: --trunk is required");

	set_str(n, "number", num);
	set_str(n, "friendly_name", opt_get("name"));
	set_str(n, "trunk_id", opt_get("trunk"));
	set_str(n, "inbound_agent_id", opt_get("inbound-agent"));
	set_str(n, "outbound_agent_id", opt_get("outbound-agent"));
	json_object_set_new(n, "outbound_shareable",
			    json_boolean(opt_get("shareable") != NULL));
	if (json_array_size(codecs))
		json_object_set_new(n, "codecs", codecs);
	else
		json_decref(codecs);

	return n;
}


static int cmd_collection(const char *coll)
{
	static const struct {
		const char *coll, *one;
		unsigned put_cmd;
		void (*print)(const json_t *arr);
		json_t *(*build)(const char *key);
	} colls[] = {
		{"numbers", "number", C_NUMBER, print_numbers, build_number},
		{"agents",  "agent",  C_AGENT,  print_agents,  build_agent},
		{"trunks",  "trunk",  C_TRUNK,  print_trunks,  build_trunk},
	};
	const char *sub = g.nwords > 1 ? g.words[1] : NULL;
	char op[64], what[64];
	json_t *req, *r;
	size_t k;
	int ex;

	for (k = 0; k < 3 && strcmp(colls[k].coll, coll); k++)
		;

	if (g.help || !sub) {
		usage_cmd(g.help ? stdout : stderr, coll, sub);
		return g.help ? EXIT_OK : EXIT_USAGE;
	}

	snprintf(op, sizeof(op), "%s.%s", coll, sub);
	snprintf(what, sizeof(what), "%s %s", coll, sub);

	if (!strcmp(sub, "list")) {
		check_opts(0, what);
		words_exact(2, what);
		req = json_pack("{s:s}", "op", op);
	}
	else if (!strcmp(sub, "get") || !strcmp(sub, "delete")) {
		check_opts(0, what);
		words_exact(3, what);
		req = json_pack("{s:s,s:s}", "op", op, colls[k].one,
				g.words[2]);
	}
	else if (!strcmp(sub, "put")) {
		check_opts(colls[k].put_cmd, what);
		words_exact(3, what);
		req = json_pack("{s:s,s:o}", "op", op, colls[k].one,
				colls[k].build(g.words[2]));
	}
	else {
		die(EXIT_USAGE, "%s: unknown subcommand '%s' (list, get, put, "
		    "delete)", coll, sub);
	}

	json_object_set_new(req, "id", json_integer(getpid()));
	r = call(req, &ex);
	json_decref(req);
	if (!r)
		return ex;

	if (!strcmp(sub, "list")) {
		colls[k].print(json_object_get(r, coll));
	}
	else if (!strcmp(sub, "get")) {
		print_pretty(json_object_get(r, colls[k].one));
	}
	else if (!strcmp(sub, "put")) {
		const json_t *o = json_object_get(r, colls[k].one);

		printf("%s %s %s\n", colls[k].one,
		       jstr(o, k == 0 ? "number" : "id"),
		       json_is_true(json_object_get(r, "created")) ?
		       "created" : "replaced");
	}
	else {
		printf("%s %s deleted\n", colls[k].one, jstr(r, "deleted"));
	}

	json_decref(r);
	return ex;
}


static int cmd_calls(void)
{
	const char *sub = g.nwords > 1 ? g.words[1] : NULL;
	json_t *req, *r;
	int ex;

	if (g.help || !sub) {
		usage_cmd(g.help ? stdout : stderr, "calls", NULL);
		return g.help ? EXIT_OK : EXIT_USAGE;
	}
	check_opts(0, "calls");

	if (!strcmp(sub, "list")) {
		words_exact(2, "calls list");
		req = json_pack("{s:s}", "op", "calls.list");
	}
	else if (!strcmp(sub, "recent")) {
		words_exact(2, "calls recent");
		req = json_pack("{s:s}", "op", "calls.recent");
	}
	else if (!strcmp(sub, "get")) {
		words_exact(3, "calls get");
		req = json_pack("{s:s,s:s}", "op", "calls.get", "call_sid",
				g.words[2]);
	}
	else {
		die(EXIT_USAGE, "calls: unknown subcommand '%s' (list, recent, "
		    "get)",
		    sub);
	}

	r = call(req, &ex);
	json_decref(req);
	if (!r)
		return ex;

	if (!strcmp(sub, "list") || !strcmp(sub, "recent"))
		print_calls(json_object_get(r, "calls"));
	else
		print_pretty(json_object_get(r, "call") ?
			     json_object_get(r, "call") : r);

	json_decref(r);
	return ex;
}


static int cmd_simple(const char *name)
{
	json_error_t jerr;
	json_t *req, *r;
	int ex;

	if (g.help) {
		usage_cmd(stdout, name, NULL);
		return EXIT_OK;
	}
	check_opts(0, name);

	if (!strcmp(name, "status")) {
		words_exact(1, "status");
		req = json_pack("{s:s,s:i}", "op", "status", "id", getpid());
	}
	else {
		words_exact(2, "request");
		req = json_loads(g.words[1], 0, &jerr);
		if (!json_is_object(req))
			die(EXIT_USAGE, "request: not a JSON object: %s",
			    req ? "wrong type" : jerr.text);
	}

	r = call(req, &ex);
	json_decref(req);
	if (!r)
		return ex;

	if (!strcmp(name, "status"))
		print_status(r);
	else
		print_pretty(r);

	json_decref(r);
	return ex;
}


int main(int argc, char *argv[])
{
	const char *cmd;

	parse_args(argc, argv);

	if (g.socket && g.config)
		die(EXIT_USAGE, "give --socket or --config, not both");

	if (!g.nwords) {
		usage_main(g.help ? stdout : stderr);
		return g.help ? EXIT_OK : EXIT_USAGE;
	}

	cmd = g.words[0];
	if (!strcmp(cmd, "numbers") || !strcmp(cmd, "agents") ||
	    !strcmp(cmd, "trunks"))
		return cmd_collection(cmd);
	if (!strcmp(cmd, "calls"))
		return cmd_calls();
	if (!strcmp(cmd, "status") || !strcmp(cmd, "request"))
		return cmd_simple(cmd);
	if (!strcmp(cmd, "help")) {
		if (g.nwords > 1) {
			usage_cmd(stdout, g.words[1], NULL);
			return EXIT_OK;
		}
		usage_main(stdout);
		return EXIT_OK;
	}

	die(EXIT_USAGE, "unknown command '%s'", cmd);
}
