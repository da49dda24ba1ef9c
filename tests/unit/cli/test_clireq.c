/**
 * @file test_clireq.c  callbridgectl's put requests from options,
 *                      table-driven: every option of agents, trunks and
 *                      numbers put, comma separated and repeated lists,
 *                      KEY=VALUE and 'Name: value' options, secrets from
 *                      the line, a file or stdin, --keep-secrets asking
 *                      the daemon, and the usage errors
 *
 * In argv, "@DIR" stands for a temporary directory holding "secret"
 * (s3cr3t, CRLF-terminated) and "empty"; "@SOCK" is the test's server.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "cli_int.h"
#include "test.h"
#include "clirun.h"

#define USAGE(m) "callbridgectl: " m "\nTry 'callbridgectl --help'.\n"

static const struct req_case {
	const char *argv[40];   /* COLLECTION put ID [options]; NULL ends  */
	const char *in;         /* stdin, or NULL                          */
	const char *stored;     /* server: reply to the --keep-secrets get */
	const char *asked;      /* server: the request it expects          */
	int code;               /* exit code                               */
	const char *json;       /* the object built (when code is 0)       */
	const char *err;        /* stderr, "@DIR" for the directory        */
} cases[] = {
	/* agents */
	{{"agents", "put", "a1", "--url", "ws://x/", "--name", "A",
	  "--protocol", "raw", "--param", "lang=en", "--param", "x==y",
	  "--auth-token-file", "@DIR/secret", "--encoding", "l16",
	  "--sample-rate", "16000"}, NULL, NULL, NULL,
	 0, "{\"id\":\"a1\",\"name\":\"A\",\"url\":\"ws://x/\","
	 "\"protocol\":\"raw\",\"parameters\":{\"lang\":\"en\",\"x\":\"=y\"},"
	 "\"auth_token\":\"s3cr3t\",\"audio\":{\"encoding\":\"l16\","
	 "\"sample_rate\":16000}}", ""},
	{{"agents", "put", "a1", "--url", "u"}, NULL, NULL, NULL,
	 0, "{\"id\":\"a1\",\"url\":\"u\",\"parameters\":{}}", ""},
	{{"agents", "put", "a1", "--url", "u", "--sample-rate", "8000"},
	 NULL, NULL, NULL,
	 0, "{\"id\":\"a1\",\"url\":\"u\",\"parameters\":{},"
	 "\"audio\":{\"sample_rate\":8000}}", ""},
	{{"agents", "put", "a1", "--url", "u", "--auth-token-file", "-"},
	 "tok-from-stdin\n", NULL, NULL,
	 0, "{\"id\":\"a1\",\"url\":\"u\",\"parameters\":{},"
	 "\"auth_token\":\"tok-from-stdin\"}", ""},
	{{"agents", "put", "a1", "--url", "u", "--auth-token", "T"},
	 NULL, NULL, NULL,
	 0, "{\"id\":\"a1\",\"url\":\"u\",\"parameters\":{},"
	 "\"auth_token\":\"T\"}", ""},
	{{"agents", "put", "a1", "--url", "u", "--auth-token", "T",
	  "--auth-token-file", "@DIR/secret"}, NULL, NULL, NULL,
	 2, NULL, USAGE("give --auth-token or --auth-token-file, not both")},
	{{"agents", "put", "a1", "--url", "u", "--auth-token-file",
	  "@DIR/empty"}, NULL, NULL, NULL,
	 2, NULL, USAGE("@DIR/empty is empty")},
	{{"agents", "put", "a1", "--url", "u", "--auth-token-file", "-"},
	 "\r\n", NULL, NULL,
	 2, NULL, USAGE("- is empty")},
	{{"agents", "put", "a1", "--url", "u", "--auth-token-file",
	  "@DIR/nope"}, NULL, NULL, NULL,
	 2, NULL, USAGE("cannot read @DIR/nope: No such file or directory")},
	{{"agents", "put", "a1", "--name", "A"}, NULL, NULL, NULL,
	 2, NULL, USAGE("agents put: --url is required")},
	{{"agents", "put", "a1", "--url", "u", "--param", "=v"},
	 NULL, NULL, NULL,
	 2, NULL, USAGE("--param must be KEY=VALUE")},
	{{"agents", "put", "a1", "--url", "u", "--param", "novalue"},
	 NULL, NULL, NULL,
	 2, NULL, USAGE("--param must be KEY=VALUE")},
	{{"agents", "put", "a1", "--url", "u", "--param", "k=1", "--param",
	  "k=2"}, NULL, NULL, NULL,
	 2, NULL, USAGE("--param k given twice")},
	{{"agents", "put", "a1", "--url", "u", "--sample-rate", "16k"},
	 NULL, NULL, NULL,
	 2, NULL, USAGE("--sample-rate must be a number")},
	{{"agents", "put", "a1", "--url", "u", "--sample-rate", ""},
	 NULL, NULL, NULL,
	 2, NULL, USAGE("--sample-rate must be a number")},
	/* agents: --keep-secrets asks for the stored agent */
	{{"agents", "put", "a1", "--url", "u", "--keep-secrets", "-s",
	  "@SOCK"}, NULL,
	 "{\"ok\":true,\"agent\":{\"id\":\"a1\",\"auth_token_set\":true}}",
	 "{\"op\":\"agents.get\",\"agent\":\"a1\"}\n",
	 0, "{\"id\":\"a1\",\"url\":\"u\",\"parameters\":{},"
	 "\"auth_token_set\":true}", ""},
	{{"agents", "put", "a1", "--url", "u", "--keep-secrets", "-s",
	  "@SOCK"}, NULL,
	 "{\"ok\":true,\"agent\":{\"id\":\"a1\",\"auth_token_set\":false}}",
	 "{\"op\":\"agents.get\",\"agent\":\"a1\"}\n",
	 0, "{\"id\":\"a1\",\"url\":\"u\",\"parameters\":{}}", ""},
	{{"agents", "put", "a1", "--url", "u", "--keep-secrets",
	  "--auth-token", "new", "-s", "@DIR/none.sock"}, NULL, NULL, NULL,
	 0, "{\"id\":\"a1\",\"url\":\"u\",\"parameters\":{},"
	 "\"auth_token\":\"new\"}", ""},        /* given: nothing to ask */

	/* trunks */
	{{"trunks", "put", "t1", "--kind", "byoc", "--name", "T", "--allow",
	  "10.0.0.0/8, 192.168.0.0/16", "--allow", "127.0.0.1",
	  "--inbound-username", "iu", "--inbound-password-file",
	  "@DIR/secret", "--address", "sip.x", "--port", "5070",
	  "--transport", "tcp", "--username", "u", "--password", "p",
	  "--from-domain", "d", "--media-encryption", "srtp_optional",
	  "--header", "X-A:  1", "--header", "X-B:two", "--codec", "PCMA",
	  "--codec", "opus,PCMU"}, NULL, NULL, NULL,
	 0, "{\"id\":\"t1\",\"name\":\"T\",\"kind\":\"byoc\","
	 "\"media_encryption\":\"srtp_optional\","
	 "\"inbound\":{\"allowed_sources\":[\"10.0.0.0/8\","
	 "\"192.168.0.0/16\",\"127.0.0.1\"],\"auth_username\":\"iu\","
	 "\"auth_password\":\"s3cr3t\"},"
	 "\"outbound\":{\"address\":\"sip.x\",\"port\":5070,"
	 "\"transport\":\"tcp\",\"auth_username\":\"u\","
	 "\"auth_password\":\"p\",\"from_domain\":\"d\","
	 "\"headers\":{\"X-A\":\"1\",\"X-B\":\"two\"}},"
	 "\"codecs\":[\"PCMA\",\"opus\",\"PCMU\"]}", ""},
	{{"trunks", "put", "t1", "--kind", "twilio", "--allow", ",,",
	  "--codec", ","}, NULL, NULL, NULL,
	 0, "{\"id\":\"t1\",\"kind\":\"twilio\","
	 "\"inbound\":{\"allowed_sources\":[]},"
	 "\"outbound\":{\"headers\":{}}}", ""},
	{{"trunks", "put", "t1", "--kind", "byoc", "--inbound-password-file",
	  "-", "--password-file", "-"}, "one\ntwo\n", NULL, NULL,
	 0, "{\"id\":\"t1\",\"kind\":\"byoc\","
	 "\"inbound\":{\"allowed_sources\":[],\"auth_password\":\"one\"},"
	 "\"outbound\":{\"auth_password\":\"two\",\"headers\":{}}}", ""},
	{{"trunks", "put", "t1", "--name", "T"}, NULL, NULL, NULL,
	 2, NULL, USAGE("trunks put: --kind is required (byoc or twilio)")},
	{{"trunks", "put", "t1", "--kind", "byoc", "--port", "-1"},
	 NULL, NULL, NULL,
	 2, NULL, USAGE("--port must be a number")},
	{{"trunks", "put", "t1", "--kind", "byoc", "--port", "1000001"},
	 NULL, NULL, NULL,
	 2, NULL, USAGE("--port must be a number")},
	{{"trunks", "put", "t1", "--kind", "byoc", "--header", "X-A"},
	 NULL, NULL, NULL,
	 2, NULL, USAGE("--header must be 'Name: value'")},
	{{"trunks", "put", "t1", "--kind", "byoc", "--header", "X: 1",
	  "--header", "X:2"}, NULL, NULL, NULL,
	 2, NULL, USAGE("--header X given twice")},
	{{"trunks", "put", "t1", "--kind", "byoc", "--password", "p",
	  "--password-file", "-"}, "p\n", NULL, NULL,
	 2, NULL, USAGE("give --password or --password-file, not both")},
	/* trunks: --keep-secrets keeps what is stored and not given */
	{{"trunks", "put", "t1", "--kind", "byoc", "--password", "p",
	  "--keep-secrets", "-s", "@SOCK"}, NULL,
	 "{\"ok\":true,\"trunk\":{\"id\":\"t1\","
	 "\"inbound\":{\"auth_password_set\":true},"
	 "\"outbound\":{\"auth_password_set\":true}}}",
	 "{\"op\":\"trunks.get\",\"trunk\":\"t1\"}\n",
	 0, "{\"id\":\"t1\",\"kind\":\"byoc\","
	 "\"inbound\":{\"allowed_sources\":[],\"auth_password_set\":true},"
	 "\"outbound\":{\"auth_password\":\"p\",\"headers\":{}}}", ""},
	{{"trunks", "put", "t1", "--kind", "byoc", "--keep-secrets", "-s",
	  "@SOCK"}, NULL,
	 "{\"ok\":false,\"error\":{\"code\":\"not_found\","
	 "\"message\":\"no trunk t1\"}}",
	 "{\"op\":\"trunks.get\",\"trunk\":\"t1\"}\n",
	 0, "{\"id\":\"t1\",\"kind\":\"byoc\","
	 "\"inbound\":{\"allowed_sources\":[]},"
	 "\"outbound\":{\"headers\":{}}}",
	 "callbridgectl: not_found: no trunk t1\n"},

	/* numbers */
	{{"numbers", "put", "+14155551234", "--name", "Support \xe2\x80\x93 US",
	  "--trunk", "carrier1", "--inbound-agent", "support",
	  "--outbound-agent", "sales", "--shareable", "--codec",
	  "PCMU, opus"}, NULL, NULL, NULL,
	 0, "{\"number\":\"+14155551234\","
	 "\"friendly_name\":\"Support \xe2\x80\x93 US\","
	 "\"trunk_id\":\"carrier1\",\"inbound_agent_id\":\"support\","
	 "\"outbound_agent_id\":\"sales\",\"outbound_shareable\":true,"
	 "\"codecs\":[\"PCMU\",\"opus\"]}", ""},
	{{"numbers", "put", "+1", "--name", "N", "--trunk", "t"},
	 NULL, NULL, NULL,
	 0, "{\"number\":\"+1\",\"friendly_name\":\"N\",\"trunk_id\":\"t\","
	 "\"outbound_shareable\":false}", ""},
	{{"numbers", "put", "+1", "--trunk", "t"}, NULL, NULL, NULL,
	 2, NULL, USAGE("numbers put: --name is required")},
	{{"numbers", "put", "+1", "--name", "N"}, NULL, NULL, NULL,
	 2, NULL, USAGE("numbers put: --trunk is required")},
};

static const struct req_case *cur;
static char dir[64];
static struct clisrv srv;


/* argv with @DIR and @SOCK replaced */
static const char *arg_of(const char *a)
{
	static char buf[8][256];
	static int k;

	if (!strncmp(a, "@DIR", 4)) {
		k = (k + 1) % 8;
		snprintf(buf[k], sizeof(buf[k]), "%s%s", dir, a + 4);
		return buf[k];
	}
	if (!strcmp(a, "@SOCK"))
		return srv.path;

	return a;
}


static void build_child(void *arg)
{
	static struct cli_args args;
	char *argv[41] = {"callbridgectl"};
	int argc = 1;
	unsigned mask;
	json_t *o;

	(void)arg;
	while (cur->argv[argc - 1]) {
		argv[argc] = (char *)arg_of(cur->argv[argc - 1]);
		++argc;
	}

	cliargs_parse(&args, argc, argv);
	mask = !strcmp(args.words[0], "agents") ? CLI_C_AGENT :
		!strcmp(args.words[0], "trunks") ? CLI_C_TRUNK : CLI_C_NUMBER;
	cliargs_check(&args, mask, "put");

	o = mask == CLI_C_AGENT ? clireq_agent(&args, args.words[2]) :
		mask == CLI_C_TRUNK ? clireq_trunk(&args, args.words[2]) :
		clireq_number(&args, args.words[2]);

	json_dumpf(o, stdout, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
}


/* the daemon, for --keep-secrets: one get, one reply */
static void serve_get(void *arg)
{
	char req[4096];
	int fd;

	(void)arg;
	fd = clisrv_accept(&srv, req, sizeof(req));
	TEST_STREQ(req, cur->asked);
	TEST_ERR(clisrv_send(fd, cur->stored, strlen(cur->stored)), 0);
	TEST_ERR(clisrv_send(fd, "\n", 1), 0);
	close(fd);
}


/* stderr with the directory written as @DIR */
static const char *err_of(const char *err)
{
	static char buf[4096];
	const char *p;
	size_t o = 0;

	while ((p = strstr(err, dir)) != NULL && o < sizeof(buf) - 64) {
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%.*s@DIR",
				      (int)(p - err), err);
		err = p + strlen(dir);
	}
	snprintf(buf + o, sizeof(buf) - o, "%s", err);

	return buf;
}


static void check_case(size_t i, const struct clirun *r)
{
	json_t *want, *got;
	const char *err = err_of(r->err);

	if (r->code != cur->code || strcmp(err, cur->err))
		TEST_FAIL("case %zu (%s put %s): exit %d, expected %d\n"
			  "stderr:\n%s\nexpected:\n%s\nstdout:\n%s", i,
			  cur->argv[0], cur->argv[2], r->code, cur->code, err,
			  cur->err, r->out);
	if (cur->code) {
		TEST_STREQ(r->out, "");
		return;
	}

	want = json_loads(cur->json, 0, NULL);
	got = json_loads(r->out, 0, NULL);
	TEST_ASSERT(want != NULL);
	if (!got || !json_equal(want, got)) {
		char *w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);

		TEST_FAIL("case %zu (%s put %s):\nbuilt:    %s\nexpected: %s",
			  i, cur->argv[0], cur->argv[2], r->out, w);
	}
	json_decref(want);
	json_decref(got);
}


int main(void)
{
	FILE *f;
	char path[128];

	snprintf(dir, sizeof(dir), "/tmp/cb-test-clireq-XXXXXX");
	TEST_ASSERT(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/secret", dir);
	f = fopen(path, "w");
	TEST_ASSERT(f != NULL);
	fputs("s3cr3t\r\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/empty", dir);
	f = fopen(path, "w");
	TEST_ASSERT(f != NULL);
	fclose(f);
	clisrv_open(&srv);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct clirun r;

		cur = &cases[i];
		clirun(&r, build_child, NULL, cur->in,
		       cur->stored ? serve_get : NULL, NULL);
		check_case(i, &r);
		clirun_free(&r);
	}

	clisrv_close(&srv);
	unlink(path);
	snprintf(path, sizeof(path), "%s/secret", dir);
	unlink(path);
	rmdir(dir);

	printf("test_clireq: ok\n");
	return 0;
}
