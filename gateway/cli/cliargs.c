/**
 * @file cliargs.c  callbridgectl's command line: the option table, the
 *                  parser and the help texts
 *
 * Options may appear anywhere on the line; "--" ends them. Global options
 * (-s, -c, -j, -t, -h, -V) set fields of struct cli_args; the options of
 * put are kept in order as given (repeatable ones once per use) and only
 * checked against the command once it is known (cliargs_check).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "settings.h"
#include "cli_int.h"


/* --name, whether it takes a value, the commands it applies to, help */
static const struct cli_optdef optdefs[] = {
	{"socket", true, CLI_C_GLOBAL,
	 "control socket path"},
	{"config", true, CLI_C_GLOBAL,
	 "take control_socket from this settings file"},
	{"json", false, CLI_C_GLOBAL,
	 "print the daemon's JSON reply as is"},
	{"timeout", true, CLI_C_GLOBAL,
	 "seconds to wait for the reply (default 10)"},
	{"help", false, CLI_C_GLOBAL,
	 "show help"},
	{"version", false, CLI_C_GLOBAL,
	 "show the version"},

	{"name", true, CLI_C_AGENT | CLI_C_TRUNK | CLI_C_NUMBER,
	 "display name (numbers: friendly name, required)"},
	{"url", true, CLI_C_AGENT,
	 "ws:// or wss:// URL of the agent (required)"},
	{"protocol", true, CLI_C_AGENT,
	 "twilio (default) or raw"},
	{"param", true, CLI_C_AGENT,
	 "KEY=VALUE handed to the agent at start (repeatable)"},
	{"auth-token", true, CLI_C_AGENT,
	 "token the gateway presents to the agent"},
	{"auth-token-file", true, CLI_C_AGENT,
	 "read the token from a file (- for stdin)"},
	{"encoding", true, CLI_C_AGENT,
	 "audio to the agent: mulaw (default) or l16"},
	{"sample-rate", true, CLI_C_AGENT,
	 "8000 (default), 16000, 24000 or 48000"},
	{"keep-secrets", false, CLI_C_AGENT | CLI_C_TRUNK,
	 "keep the stored token or passwords not given again"},

	{"kind", true, CLI_C_TRUNK,
	 "byoc or twilio (required)"},
	{"allow", true, CLI_C_TRUNK,
	 "CIDR allowed to send calls (repeatable or comma separated; none: "
	 "any)"},
	{"inbound-username", true, CLI_C_TRUNK,
	 "digest user callers must authenticate as"},
	{"inbound-password", true, CLI_C_TRUNK,
	 "digest password for inbound calls"},
	{"inbound-password-file", true, CLI_C_TRUNK,
	 "read it from a file (- for stdin)"},
	{"address", true, CLI_C_TRUNK,
	 "outbound host (name or IP address)"},
	{"port", true, CLI_C_TRUNK,
	 "outbound port (default 5060, 5061 for tls)"},
	{"transport", true, CLI_C_TRUNK,
	 "udp (default), tcp or tls"},
	{"username", true, CLI_C_TRUNK,
	 "outbound digest user"},
	{"password", true, CLI_C_TRUNK,
	 "outbound digest password"},
	{"password-file", true, CLI_C_TRUNK,
	 "read it from a file (- for stdin)"},
	{"from-domain", true, CLI_C_TRUNK,
	 "domain of the From header"},
	{"media-encryption", true, CLI_C_TRUNK,
	 "none (default), srtp_optional or srtp_required"},
	{"rtp-latching", true, CLI_C_TRUNK,
	 "off (default: RTP from the SDP's address only) or nat"},
	{"header", true, CLI_C_TRUNK,
	 "'Name: value' extra SIP header (repeatable)"},

	{"trunk", true, CLI_C_NUMBER,
	 "trunk id (required)"},
	{"inbound-agent", true, CLI_C_NUMBER,
	 "agent that answers calls"},
	{"outbound-agent", true, CLI_C_NUMBER,
	 "agent that places calls"},
	{"shareable", false, CLI_C_NUMBER,
	 "other agents may call out from this number"},

	{"codec", true, CLI_C_TRUNK | CLI_C_NUMBER,
	 "PCMU, PCMA or opus in order of preference (repeatable or comma "
	 "separated)"},
};

#define NOPTDEFS (sizeof(optdefs) / sizeof(optdefs[0]))


/** Print the main help to @p f */
void cliargs_usage_main(FILE *f)
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


/* The help of each command: its text, the options of its put if it has
   one, and an example */
static const struct {
	const char *cmd;
	const char *text;
	unsigned put;          /**< CLI_C_* of put; 0 for none    */
	const char *example;   /**< NULL for none                 */
} usages[] = {
	{"numbers",
"Usage: callbridgectl numbers list\n"
"       callbridgectl numbers get NUMBER\n"
"       callbridgectl numbers delete NUMBER\n"
"       callbridgectl numbers put NUMBER --name NAME --trunk ID [OPTIONS]\n"
"\n"
"NUMBER is E.164: + then 8 to 15 digits; spaces, dashes, dots and\n"
"parentheses are removed (\"+1 (415) 555-1234\"). put creates or\n"
"replaces the whole number: options not given are unset.\n"
"\n"
"Options of put:\n",
	 CLI_C_NUMBER,
	 "callbridgectl numbers put +14155551234 --name \"Support - US\" "
	 "--trunk carrier1 --inbound-agent support"},

	{"agents",
"Usage: callbridgectl agents list\n"
"       callbridgectl agents get ID\n"
"       callbridgectl agents delete ID\n"
"       callbridgectl agents put ID --url URL [OPTIONS]\n"
"\n"
"ID is a slug: lowercase letters, digits, '-' and '_'. put creates or\n"
"replaces the whole agent: options not given are unset (the token too,\n"
"unless --keep-secrets). An agent that numbers use cannot be deleted.\n"
"\n"
"Options of put:\n",
	 CLI_C_AGENT,
	 "callbridgectl agents put support --url "
	 "wss://agent.example.com/media --name Support --param lang=en"},

	{"trunks",
"Usage: callbridgectl trunks list\n"
"       callbridgectl trunks get ID\n"
"       callbridgectl trunks delete ID\n"
"       callbridgectl trunks put ID --kind byoc|twilio [OPTIONS]\n"
"\n"
"put creates or replaces the whole trunk: options not given are unset\n"
"(passwords too, unless --keep-secrets). A trunk that numbers use\n"
"cannot be deleted.\n"
"\n"
"Options of put:\n",
	 CLI_C_TRUNK,
	 "callbridgectl trunks put carrier1 --kind byoc --allow "
	 "203.0.113.0/24 --address sip.carrier.example --transport tls"},

	{"calls",
"Usage: callbridgectl calls list\n"
"       callbridgectl calls recent\n"
"       callbridgectl calls get CALL_SID\n"
"\n"
"list: calls in progress; recent: the last ended calls, with why they\n"
"ended; get: one call (in progress or recent) with all its media\n"
"statistics (jitter buffer, RTP, RTCP, agent link).\n",
	 0, NULL},

	{"status",
"Usage: callbridgectl status\n"
"\n"
"Version, uptime, counts of agents, trunks and numbers, and calls in "
"progress.\n",
	 0, NULL},

	{"request",
"Usage: callbridgectl request JSON\n"
"\n"
"Send one request object, e.g. '{\"op\":\"numbers.list\"}', and print the "
"reply.\n",
	 0, NULL},
};


/** Print the help of command @p cmd (main help if unknown) to @p f */
void cliargs_usage_cmd(FILE *f, const char *cmd)
{
	for (size_t i = 0; i < sizeof(usages) / sizeof(usages[0]); i++) {
		if (strcmp(cmd, usages[i].cmd))
			continue;

		fputs(usages[i].text, f);
		if (usages[i].put)
			usage_opts(f, usages[i].put);
		if (usages[i].example)
			fprintf(f, "\nExample:\n  %s\n", usages[i].example);
		return;
	}

	cliargs_usage_main(f);
}


static const struct cli_optdef *optdef_find(const char *name, size_t len)
{
	for (size_t i = 0; i < NOPTDEFS; i++) {
		if (strlen(optdefs[i].name) == len &&
		    !strncmp(optdefs[i].name, name, len))
			return &optdefs[i];
	}

	return NULL;
}


/* The definition of option @p a: "-x" (globals only), "--name" or
   "--name=value" (then *valp is the value); exits if there is none */
static const struct cli_optdef *opt_lookup(const char *a, const char **valp)
{
	static const struct {
		char c;
		const char *name;
	} shorts[] = {
		{'s', "socket"}, {'c', "config"}, {'j', "json"},
		{'t', "timeout"}, {'h', "help"}, {'V', "version"},
	};
	const struct cli_optdef *d = NULL;
	const char *eq;

	if (a[1] != '-') {
		for (size_t k = 0; k < sizeof(shorts) / sizeof(shorts[0]);
		     k++) {
			if (a[1] == shorts[k].c && !a[2])
				d = optdef_find(shorts[k].name,
						strlen(shorts[k].name));
		}
		if (!d)
			cli_die(CLI_EXIT_USAGE, "unknown option %s", a);
		return d;
	}

	eq = strchr(a + 2, '=');
	d = optdef_find(a + 2, eq ? (size_t)(eq - a - 2) : strlen(a + 2));
	if (!d)
		cli_die(CLI_EXIT_USAGE, "unknown option %s", a);
	if (eq) {
		if (!d->value)
			cli_die(CLI_EXIT_USAGE, "--%s takes no value",
				d->name);
		*valp = eq + 1;
	}

	return d;
}


/* A global option: set its field (--version prints and exits) */
static void opt_global(struct cli_args *args, const struct cli_optdef *d,
		       const char *val)
{
	char *end;
	long t;

	if (!strcmp(d->name, "socket")) {
		args->socket = val;
	}
	else if (!strcmp(d->name, "config")) {
		args->config = val;
	}
	else if (!strcmp(d->name, "json")) {
		args->json = true;
	}
	else if (!strcmp(d->name, "help")) {
		args->help = true;
	}
	else if (!strcmp(d->name, "version")) {
		printf("callbridgectl %s\n", CB_VERSION);
		exit(CLI_EXIT_OK);
	}
	else {
		t = strtol(val, &end, 10);
		if (*end || t < 1 || t > 3600)
			cli_die(CLI_EXIT_USAGE, "--timeout must be 1..3600 "
				"seconds");
		args->timeout_s = (int)t;
	}
}


/**
 * Parse the command line; exits on a usage error, and for --version
 *
 * @param args  filled in (zeroed by the caller); points into @p argv
 * @param argc  argument count
 * @param argv  arguments
 */
void cliargs_parse(struct cli_args *args, int argc, char *argv[])
{
	bool only_words = false;

	args->timeout_s = CLI_TIMEOUT_S;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		const struct cli_optdef *d;

		if (only_words || a[0] != '-' || !a[1]) {
			if (args->nwords == CLI_MAX_WORDS)
				cli_die(CLI_EXIT_USAGE, "too many arguments");
			args->words[args->nwords++] = a;
			continue;
		}
		if (!strcmp(a, "--")) {
			only_words = true;
			continue;
		}

		d = opt_lookup(a, &val);
		if (d->value && !val) {
			if (i + 1 >= argc)
				cli_die(CLI_EXIT_USAGE, "--%s needs a value",
					d->name);
			val = argv[++i];
		}

		if (d->cmds & CLI_C_GLOBAL) {
			opt_global(args, d, val);
			continue;
		}

		if (args->nopts == CLI_MAX_OPTS)
			cli_die(CLI_EXIT_USAGE, "too many options");
		args->opts[args->nopts].def = d;
		args->opts[args->nopts].value = val;
		args->nopts++;
	}
}


/** Command options must belong to the command (@p cmd: CLI_C_* mask) */
void cliargs_check(const struct cli_args *args, unsigned cmd,
		   const char *what)
{
	for (int i = 0; i < args->nopts; i++) {
		if (!(args->opts[i].def->cmds & cmd))
			cli_die(CLI_EXIT_USAGE, "%s does not take --%s", what,
				args->opts[i].def->name);
	}
}


/** The value of command option --@p name (last given), "" for a flag
    given, NULL if not given */
const char *cliargs_get(const struct cli_args *args, const char *name)
{
	const char *v = NULL;

	for (int i = 0; i < args->nopts; i++) {
		if (!strcmp(args->opts[i].def->name, name))
			v = args->opts[i].value ? args->opts[i].value : "";
	}

	return v;
}


/** The command takes exactly @p n words (itself included) */
void cliargs_words_exact(const struct cli_args *args, int n, const char *what)
{
	if (args->nwords > n)
		cli_die(CLI_EXIT_USAGE, "%s: unexpected argument '%s'", what,
			args->words[n]);
	if (args->nwords < n)
		cli_die(CLI_EXIT_USAGE, "%s: missing argument", what);
}


