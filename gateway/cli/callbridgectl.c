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
 *
 * This file has the commands and main(); the rest is the library cb_cli:
 * cliargs.c (command line, help), cliconn.c (the control socket),
 * clireq.c (put requests), cliout.c (tables and views), cli.c (the error
 * exit). See README.md.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "cli_int.h"


/* The collections: numbers, agents, trunks */
struct coll {
	const char *name;       /**< "numbers": command and reply member */
	const char *one;        /**< "number": one object's member       */
	const char *key;        /**< its identifying member              */
	unsigned put_cmd;       /**< CLI_C_* of its put options          */
	void (*print)(const json_t *arr);
	json_t *(*build)(const struct cli_args *args, const char *key);
};

static const struct coll colls[] = {
	{"numbers", "number", "number", CLI_C_NUMBER, cliout_numbers,
	 clireq_number},
	{"agents",  "agent",  "id",     CLI_C_AGENT,  cliout_agents,
	 clireq_agent},
	{"trunks",  "trunk",  "id",     CLI_C_TRUNK,  cliout_trunks,
	 clireq_trunk},
};


/* The request of "<coll> <sub> ..." */
static json_t *coll_request(const struct cli_args *args,
			    const struct coll *c, const char *sub)
{
	char op[64], what[64];
	json_t *req;

	snprintf(op, sizeof(op), "%s.%s", c->name, sub);
	snprintf(what, sizeof(what), "%s %s", c->name, sub);

	if (!strcmp(sub, "list")) {
		cliargs_check(args, 0, what);
		cliargs_words_exact(args, 2, what);
		req = json_pack("{s:s}", "op", op);
	}
	else if (!strcmp(sub, "get") || !strcmp(sub, "delete")) {
		cliargs_check(args, 0, what);
		cliargs_words_exact(args, 3, what);
		req = json_pack("{s:s,s:s}", "op", op, c->one, args->words[2]);
	}
	else if (!strcmp(sub, "put")) {
		cliargs_check(args, c->put_cmd, what);
		cliargs_words_exact(args, 3, what);
		req = json_pack("{s:s,s:o}", "op", op, c->one,
				c->build(args, args->words[2]));
	}
	else {
		cli_die(CLI_EXIT_USAGE, "%s: unknown subcommand '%s' (list, "
			"get, put, delete)", c->name, sub);
	}

	json_object_set_new(req, "id", json_integer(getpid()));
	return req;
}


static int cmd_collection(const struct cli_args *args, const char *name)
{
	const char *sub = args->nwords > 1 ? args->words[1] : NULL;
	const struct coll *c = colls;
	json_t *req, *r;
	int ex;

	while (strcmp(c->name, name))
		++c;

	if (args->help || !sub) {
		cliargs_usage_cmd(args->help ? stdout : stderr, name);
		return args->help ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}

	req = coll_request(args, c, sub);
	r = cliconn_call(args, req, args->json, &ex);
	json_decref(req);
	if (!r)
		return ex;

	if (!strcmp(sub, "list"))
		c->print(json_object_get(r, c->name));
	else if (!strcmp(sub, "get"))
		cliout_pretty(json_object_get(r, c->one));
	else if (!strcmp(sub, "put"))
		cliout_put(r, c->one, c->key);
	else
		cliout_deleted(r, c->one);

	json_decref(r);
	return ex;
}


static int cmd_calls(const struct cli_args *args)
{
	const char *sub = args->nwords > 1 ? args->words[1] : NULL;
	json_t *req, *r;
	int ex;

	if (args->help || !sub) {
		cliargs_usage_cmd(args->help ? stdout : stderr, "calls");
		return args->help ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}
	cliargs_check(args, 0, "calls");

	if (!strcmp(sub, "list")) {
		cliargs_words_exact(args, 2, "calls list");
		req = json_pack("{s:s}", "op", "calls.list");
	}
	else if (!strcmp(sub, "recent")) {
		cliargs_words_exact(args, 2, "calls recent");
		req = json_pack("{s:s}", "op", "calls.recent");
	}
	else if (!strcmp(sub, "get")) {
		cliargs_words_exact(args, 3, "calls get");
		req = json_pack("{s:s,s:s}", "op", "calls.get", "call_sid",
				args->words[2]);
	}
	else {
		cli_die(CLI_EXIT_USAGE, "calls: unknown subcommand '%s' (list, "
			"recent, get)", sub);
	}

	r = cliconn_call(args, req, args->json, &ex);
	json_decref(req);
	if (!r)
		return ex;

	if (!strcmp(sub, "list") || !strcmp(sub, "recent"))
		cliout_calls(json_object_get(r, "calls"));
	else
		cliout_pretty(json_object_get(r, "call") ?
			     json_object_get(r, "call") : r);

	json_decref(r);
	return ex;
}


static int cmd_simple(const struct cli_args *args, const char *name)
{
	json_error_t jerr;
	json_t *req, *r;
	int ex;

	if (args->help) {
		cliargs_usage_cmd(stdout, name);
		return CLI_EXIT_OK;
	}
	cliargs_check(args, 0, name);

	if (!strcmp(name, "status")) {
		cliargs_words_exact(args, 1, "status");
		req = json_pack("{s:s,s:i}", "op", "status", "id", getpid());
	}
	else {
		cliargs_words_exact(args, 2, "request");
		req = json_loads(args->words[1], 0, &jerr);
		if (!json_is_object(req))
			cli_die(CLI_EXIT_USAGE, "request: not a JSON object: "
				"%s", req ? "wrong type" : jerr.text);
	}

	r = cliconn_call(args, req, args->json, &ex);
	json_decref(req);
	if (!r)
		return ex;

	if (!strcmp(name, "status"))
		cliout_status(r);
	else
		cliout_pretty(r);

	json_decref(r);
	return ex;
}


int main(int argc, char *argv[])
{
	static struct cli_args cli;
	const struct cli_args *args = &cli;
	const char *cmd;

	cliargs_parse(&cli, argc, argv);

	if (args->socket && args->config)
		cli_die(CLI_EXIT_USAGE, "give --socket or --config, not both");

	if (!args->nwords) {
		cliargs_usage_main(args->help ? stdout : stderr);
		return args->help ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}

	cmd = args->words[0];
	if (!strcmp(cmd, "numbers") || !strcmp(cmd, "agents") ||
	    !strcmp(cmd, "trunks"))
		return cmd_collection(args, cmd);
	if (!strcmp(cmd, "calls"))
		return cmd_calls(args);
	if (!strcmp(cmd, "status") || !strcmp(cmd, "request"))
		return cmd_simple(args, cmd);
	if (!strcmp(cmd, "help")) {
		if (args->nwords > 1) {
			cliargs_usage_cmd(stdout, args->words[1]);
			return CLI_EXIT_OK;
		}
		cliargs_usage_main(stdout);
		return CLI_EXIT_OK;
	}

	cli_die(CLI_EXIT_USAGE, "unknown command '%s'", cmd);
}
