/**
 * @file clireq.c  callbridgectl's put requests: an agent, a trunk or a
 *                 number built from the command options
 *
 * put replaces the whole object, so every field comes from the options
 * and one not given is left out (unset). Secrets come from an option or,
 * better, from a file or stdin (--...-file, "-" for stdin), and are only
 * ever sent: nothing here prints one. --keep-secrets asks the daemon
 * first which secrets the stored object has, and marks those not given
 * again as kept ("..._set": true).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli_int.h"


/* The first line of a file, or of stdin for "-", without its newline;
   in a static buffer */
static char *read_secret(const char *path)
{
	static char buf[4096];
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	size_t n;

	if (!f)
		cli_die(CLI_EXIT_USAGE, "cannot read %s: %s", path,
			strerror(errno));
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	if (f != stdin)
		fclose(f);

	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (!n)
		cli_die(CLI_EXIT_USAGE, "%s is empty", path);

	return buf;
}


static void set_str(json_t *o, const char *key, const char *v)
{
	if (v)
		json_object_set_new(o, key, json_string(v));
}


/* A secret from --opt or from the file of --fileopt, not both */
static void set_secret(const struct cli_args *args, json_t *o,
		       const char *key, const char *opt, const char *fileopt)
{
	const char *v = cliargs_get(args, opt);
	const char *file = cliargs_get(args, fileopt);

	if (v && file)
		cli_die(CLI_EXIT_USAGE, "give --%s or --%s, not both", opt,
			fileopt);
	if (file)
		v = read_secret(file);
	set_str(o, key, v);
}


static void set_uint(const struct cli_args *args, json_t *o, const char *key,
		     const char *opt)
{
	const char *v = cliargs_get(args, opt);
	char *end;
	long n;

	if (!v)
		return;

	n = strtol(v, &end, 10);
	if (!*v || *end || n < 0 || n > 1000000)
		cli_die(CLI_EXIT_USAGE, "--%s must be a number", opt);
	json_object_set_new(o, key, json_integer(n));
}


/* Repeatable options, each value possibly comma separated */
static json_t *list_opt(const struct cli_args *args, const char *name)
{
	json_t *arr = json_array();

	for (int i = 0; i < args->nopts; i++) {
		char *copy, *tok, *save = NULL;

		if (strcmp(args->opts[i].def->name, name))
			continue;

		copy = strdup(args->opts[i].value);
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


/* Repeatable KEY<sep>VALUE options into an object; for ':' (headers)
   the spaces after the colon are dropped */
static json_t *kv_opt(const struct cli_args *args, const char *name,
		      char sep)
{
	json_t *obj = json_object();

	for (int i = 0; i < args->nopts; i++) {
		const char *v = args->opts[i].value, *s;
		char key[512];
		size_t klen;

		if (strcmp(args->opts[i].def->name, name))
			continue;

		s = strchr(v, sep);
		if (!s || s == v)
			cli_die(CLI_EXIT_USAGE, "--%s must be %s", name,
				sep == '=' ? "KEY=VALUE" : "'Name: value'");
		klen = (size_t)(s - v);
		if (klen >= sizeof(key))
			cli_die(CLI_EXIT_USAGE, "--%s: name too long", name);
		memcpy(key, v, klen);
		key[klen] = '\0';
		++s;
		while (sep == ':' && *s == ' ')
			++s;
		if (json_object_get(obj, key))
			cli_die(CLI_EXIT_USAGE, "--%s %s given twice", name,
				key);
		json_object_set_new(obj, key, json_string(s));
	}

	return obj;
}


/* For --keep-secrets: what the stored object has set */
static json_t *get_stored(const struct cli_args *args, const char *op,
			  const char *key, const char *id)
{
	json_t *req = json_pack("{s:s,s:s}", "op", op, key, id);
	json_t *r, *obj = NULL;
	int ex;

	r = cliconn_call(args, req, false, &ex);
	json_decref(req);
	if (!r)
		return NULL;

	obj = json_incref(json_object_get(r, key));
	json_decref(r);
	return obj;
}


/** The agent of "agents put ID" */
json_t *clireq_agent(const struct cli_args *args, const char *id)
{
	json_t *a = json_object();
	json_t *params = kv_opt(args, "param", '=');

	if (!cliargs_get(args, "url"))
		cli_die(CLI_EXIT_USAGE, "agents put: --url is required");

	set_str(a, "id", id);
	set_str(a, "name", cliargs_get(args, "name"));
	set_str(a, "url", cliargs_get(args, "url"));
	set_str(a, "protocol", cliargs_get(args, "protocol"));
	json_object_set_new(a, "parameters", params);
	set_secret(args, a, "auth_token", "auth-token", "auth-token-file");

	if (cliargs_get(args, "encoding") || cliargs_get(args, "sample-rate")) {
		json_t *au = json_object();

		set_str(au, "encoding", cliargs_get(args, "encoding"));
		set_uint(args, au, "sample_rate", "sample-rate");
		json_object_set_new(a, "audio", au);
	}

	if (cliargs_get(args, "keep-secrets") &&
	    !json_object_get(a, "auth_token")) {
		json_t *old = get_stored(args, "agents.get", "agent", id);

		if (old && json_is_true(json_object_get(old,
							"auth_token_set")))
			json_object_set_new(a, "auth_token_set", json_true());
		json_decref(old);
	}

	return a;
}


/** The trunk of "trunks put ID" */
json_t *clireq_trunk(const struct cli_args *args, const char *id)
{
	json_t *t = json_object(), *in = json_object(), *out = json_object();
	json_t *codecs = list_opt(args, "codec");

	if (!cliargs_get(args, "kind"))
		cli_die(CLI_EXIT_USAGE, "trunks put: --kind is required (byoc "
			"or twilio)");

	set_str(t, "id", id);
	set_str(t, "name", cliargs_get(args, "name"));
	set_str(t, "kind", cliargs_get(args, "kind"));
	set_str(t, "media_encryption", cliargs_get(args, "media-encryption"));
	set_str(t, "rtp_latching", cliargs_get(args, "rtp-latching"));

	json_object_set_new(in, "allowed_sources", list_opt(args, "allow"));
	set_str(in, "auth_username", cliargs_get(args, "inbound-username"));
	set_secret(args, in, "auth_password", "inbound-password",
		   "inbound-password-file");

	set_str(out, "address", cliargs_get(args, "address"));
	set_uint(args, out, "port", "port");
	set_str(out, "transport", cliargs_get(args, "transport"));
	set_str(out, "auth_username", cliargs_get(args, "username"));
	set_secret(args, out, "auth_password", "password", "password-file");
	set_str(out, "from_domain", cliargs_get(args, "from-domain"));
	json_object_set_new(out, "headers", kv_opt(args, "header", ':'));

	if (cliargs_get(args, "keep-secrets")) {
		json_t *old = get_stored(args, "trunks.get", "trunk", id);

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


/** The number of "numbers put NUMBER" */
json_t *clireq_number(const struct cli_args *args, const char *num)
{
	json_t *n = json_object();
	json_t *codecs = list_opt(args, "codec");

	if (!cliargs_get(args, "name"))
		cli_die(CLI_EXIT_USAGE, "numbers put: --name is required");
	if (!cliargs_get(args, "trunk"))
		cli_die(CLI_EXIT_USAGE, "numbers put: --trunk is required");

	set_str(n, "number", num);
	set_str(n, "friendly_name", cliargs_get(args, "name"));
	set_str(n, "trunk_id", cliargs_get(args, "trunk"));
	set_str(n, "inbound_agent_id", cliargs_get(args, "inbound-agent"));
	set_str(n, "outbound_agent_id", cliargs_get(args, "outbound-agent"));
	json_object_set_new(n, "outbound_shareable",
			    json_boolean(cliargs_get(args, "shareable")));
	if (json_array_size(codecs))
		json_object_set_new(n, "codecs", codecs);
	else
		json_decref(codecs);

	return n;
}

