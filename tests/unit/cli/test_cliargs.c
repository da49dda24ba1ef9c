/**
 * @file test_cliargs.c  callbridgectl's command line, table-driven: global
 *                       and command options, values, repeatable options,
 *                       options a command does not take, word counts,
 *                       usage errors (message and exit code 2), help
 */
#include <stdio.h>
#include <string.h>
#include "cli_int.h"
#include "test.h"
#include "clirun.h"

#define USAGE(m) "callbridgectl: " m "\nTry 'callbridgectl --help'.\n"

enum { NO_CHECK = -1 };

static const struct args_case {
	const char *argv[20];   /* after argv[0]; NULL ends */
	int check;              /* cliargs_check() with this mask, NO_CHECK */
	int exact;              /* cliargs_words_exact() with this n, or 0 */
	int code;               /* exit code */
	const char *out;        /* stdout: the parsed line (see parse_child) */
	const char *err;        /* stderr */
} cases[] = {
	/* globals, anywhere on the line */
	{{NULL}, NO_CHECK, 0, 0,
	 "s=- c=- j=0 h=0 t=10\nw=\no=\n", ""},
	{{"numbers", "-s", "/x", "list", "-j", "-t", "5", "-h"}, NO_CHECK, 0,
	 0, "s=/x c=- j=1 h=1 t=5\nw=numbers|list\no=\n", ""},
	{{"--socket=/a", "--config", "/b", "--json", "--timeout=3600",
	  "--help", "status"}, NO_CHECK, 0,
	 0, "s=/a c=/b j=1 h=1 t=3600\nw=status\no=\n", ""},
	{{"-s", "/x", "agents", "put", "a", "--url", "u"}, CLI_C_AGENT, 3,
	 0, "s=/x c=- j=0 h=0 t=10\nw=agents|put|a\no=url=u\n", ""},
	/* "--" ends the options; "-" is a word */
	{{"--", "-s", "--json"}, NO_CHECK, 0,
	 0, "s=- c=- j=0 h=0 t=10\nw=-s|--json\no=\n", ""},
	{{"-", "x"}, NO_CHECK, 0,
	 0, "s=- c=- j=0 h=0 t=10\nw=-|x\no=\n", ""},
	/* unknown options */
	{{"status", "--bogus"}, NO_CHECK, 0,
	 2, "", USAGE("unknown option --bogus")},
	{{"--bogus=1"}, NO_CHECK, 0,
	 2, "", USAGE("unknown option --bogus=1")},
	{{"-x"}, NO_CHECK, 0, 2, "", USAGE("unknown option -x")},
	{{"-sx"}, NO_CHECK, 0, 2, "", USAGE("unknown option -sx")},
	{{"-jh"}, NO_CHECK, 0, 2, "", USAGE("unknown option -jh")},
	{{"agents", "put", "a", "-u", "x"}, NO_CHECK, 0,
	 2, "", USAGE("unknown option -u")},     /* short: globals only */
	{{"--url-x", "u"}, NO_CHECK, 0,
	 2, "", USAGE("unknown option --url-x")},
	/* values */
	{{"status", "--socket"}, NO_CHECK, 0,
	 2, "", USAGE("--socket needs a value")},
	{{"-t"}, NO_CHECK, 0, 2, "", USAGE("--timeout needs a value")},
	{{"agents", "put", "a", "--url"}, NO_CHECK, 0,
	 2, "", USAGE("--url needs a value")},
	{{"agents", "put", "a", "--name", "-x-", "--url="}, CLI_C_AGENT, 0,
	 0, "s=- c=- j=0 h=0 t=10\nw=agents|put|a\no=name=-x-|url=\n", ""},
	{{"--json=yes"}, NO_CHECK, 0,
	 2, "", USAGE("--json takes no value")},
	{{"agents", "--keep-secrets=1"}, NO_CHECK, 0,
	 2, "", USAGE("--keep-secrets takes no value")},
	{{"-t", "0"}, NO_CHECK, 0,
	 2, "", USAGE("--timeout must be 1..3600 seconds")},
	{{"-t", "3601"}, NO_CHECK, 0,
	 2, "", USAGE("--timeout must be 1..3600 seconds")},
	{{"--timeout=5s"}, NO_CHECK, 0,
	 2, "", USAGE("--timeout must be 1..3600 seconds")},
	{{"-t", "1"}, NO_CHECK, 0,
	 0, "s=- c=- j=0 h=0 t=1\nw=\no=\n", ""},
	/* repeatable options: each use kept, in order */
	{{"trunks", "put", "t", "--allow", "a", "--allow=b,c", "--codec",
	  "PCMU", "--allow", "d", "--keep-secrets"}, CLI_C_TRUNK, 3,
	 0, "s=- c=- j=0 h=0 t=10\nw=trunks|put|t\n"
	 "o=allow=a|allow=b,c|codec=PCMU|allow=d|keep-secrets\n", ""},
	/* options a command does not take */
	{{"numbers", "list", "--name", "x"}, 0, 0,
	 2, "", USAGE("CMD does not take --name")},
	{{"numbers", "put", "+1", "--url", "u"}, CLI_C_NUMBER, 0,
	 2, "", USAGE("CMD does not take --url")},
	{{"agents", "put", "a", "--codec", "PCMU"}, CLI_C_AGENT, 0,
	 2, "", USAGE("CMD does not take --codec")},
	{{"trunks", "put", "t", "--shareable"}, CLI_C_TRUNK, 0,
	 2, "", USAGE("CMD does not take --shareable")},
	{{"numbers", "put", "+1", "--codec", "PCMU", "--shareable"},
	 CLI_C_NUMBER, 3,
	 0, "s=- c=- j=0 h=0 t=10\nw=numbers|put|+1\n"
	 "o=codec=PCMU|shareable\n", ""},
	/* word counts */
	{{"numbers", "get"}, NO_CHECK, 3,
	 2, "", USAGE("CMD: missing argument")},
	{{"numbers", "get", "a", "b"}, NO_CHECK, 3,
	 2, "", USAGE("CMD: unexpected argument 'b'")},
	{{"w", "w", "w", "w", "w", "w", "w", "w", "w", "w", "w", "w", "w",
	  "w", "w", "w", "w"}, NO_CHECK, 0,
	 2, "", USAGE("too many arguments")},
	{{"w", "w", "w", "w", "w", "w", "w", "w", "w", "w", "w", "w", "w",
	  "w", "w", "w"}, NO_CHECK, 0,
	 0, "s=- c=- j=0 h=0 t=10\nw=w|w|w|w|w|w|w|w|w|w|w|w|w|w|w|w\no=\n",
	 ""},
	/* --version ends the parse at once */
	{{"status", "--version", "--bogus"}, NO_CHECK, 0,
	 0, "callbridgectl " CB_VERSION "\n", ""},
};

static const struct args_case *cur;


static void parse_child(void *arg)
{
	static struct cli_args args;
	char *argv[21] = {"callbridgectl"};
	int argc = 1;

	(void)arg;
	while (cur->argv[argc - 1]) {
		argv[argc] = (char *)cur->argv[argc - 1];
		++argc;
	}

	cliargs_parse(&args, argc, argv);
	if (cur->check != NO_CHECK)
		cliargs_check(&args, (unsigned)cur->check, "CMD");
	if (cur->exact)
		cliargs_words_exact(&args, cur->exact, "CMD");

	printf("s=%s c=%s j=%d h=%d t=%d\nw=", args.socket ? args.socket : "-",
	       args.config ? args.config : "-", args.json, args.help,
	       args.timeout_s);
	for (int i = 0; i < args.nwords; i++)
		printf("%s%s", i ? "|" : "", args.words[i]);
	printf("\no=");
	for (int i = 0; i < args.nopts; i++) {
		printf("%s%s", i ? "|" : "", args.opts[i].def->name);
		if (args.opts[i].value)
			printf("=%s", args.opts[i].value);
	}
	printf("\n");
}


static void test_table(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct clirun r;

		cur = &cases[i];
		clirun(&r, parse_child, NULL, NULL, NULL, NULL);
		if (r.code != cur->code || strcmp(r.out, cur->out) ||
		    strcmp(r.err, cur->err))
			TEST_FAIL("case %zu (%s ...): exit %d, expected %d\n"
				  "stdout:\n%s\nexpected:\n%s\nstderr:\n%s\n"
				  "expected:\n%s", i,
				  cur->argv[0] ? cur->argv[0] : "", r.code,
				  cur->code, r.out, cur->out, r.err, cur->err);
		clirun_free(&r);
	}
}


/* cliargs_get: the last value given wins; a flag given is "" */
static void test_get(void)
{
	static struct cli_args args;
	char *argv[] = {"callbridgectl", "agents", "put", "a", "--name", "one",
			"--keep-secrets", "--name", "two", NULL};

	cliargs_parse(&args, 9, argv);
	TEST_STREQ(cliargs_get(&args, "name"), "two");
	TEST_STREQ(cliargs_get(&args, "keep-secrets"), "");
	TEST_ASSERT(cliargs_get(&args, "url") == NULL);
	TEST_EQ(args.nopts, 3);
}


static char *help_of(const char *cmd)
{
	static char *buf;
	size_t len;
	FILE *f;

	free(buf);
	f = open_memstream(&buf, &len);
	TEST_ASSERT(f != NULL);
	cliargs_usage_cmd(f, cmd);
	fclose(f);

	return buf;
}


/* The help of put lists the options of that put and no other */
static void test_help(void)
{
	static const struct {
		const char *cmd, *has[3], *lacks[3];
	} h[] = {
		{"numbers", {"\n  --trunk X ", "\n  --codec X ",
			     "\n  --shareable "},
		 {"--url", "--kind", "--keep-secrets"}},
		{"agents", {"\n  --url X ", "\n  --keep-secrets ",
			    "\n  --param X "},
		 {"--trunk", "--kind", "--codec"}},
		{"trunks", {"\n  --kind X ", "\n  --keep-secrets ",
			    "\n  --codec X "},
		 {"--trunk", "--url", "--shareable"}},
		{"calls", {"Usage: callbridgectl calls list\n", "CALL_SID",
			   "recent"},
		 {"--", "Example", "Options of put"}},
		{"bogus", {"Usage: callbridgectl [OPTIONS] COMMAND",
			   "-t, --timeout SEC", "3 daemon not reachable"},
		 {"Options of put", "Example", "--url"}},
	};

	for (size_t i = 0; i < sizeof(h) / sizeof(h[0]); i++) {
		const char *t = help_of(h[i].cmd);

		for (int k = 0; k < 3; k++) {
			if (!strstr(t, h[i].has[k]))
				TEST_FAIL("help %s lacks '%s':\n%s", h[i].cmd,
					  h[i].has[k], t);
			if (strstr(t, h[i].lacks[k]))
				TEST_FAIL("help %s has '%s':\n%s", h[i].cmd,
					  h[i].lacks[k], t);
		}
	}
	TEST_ASSERT(!strcmp(help_of("status"), "Usage: callbridgectl status\n"
			    "\nVersion, uptime, counts of agents, trunks and "
			    "numbers, and calls in progress.\n"));
}


int main(void)
{
	test_table();
	test_get();
	test_help();

	printf("test_cliargs: ok\n");
	return 0;
}
