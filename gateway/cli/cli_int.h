/**
 * @file cli_int.h  callbridgectl's parts, shared inside gateway/cli/ only
 *
 * The command line parsed once into a struct cli_args, which the other
 * parts read: cliconn.c (the socket and the -t timeout), clireq.c (the
 * options of put) and the commands in callbridgectl.c. Any error ends the
 * process through cli_die() with one of the exit codes below.
 */
#ifndef CB_CLI_INT_H
#define CB_CLI_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "cb_re.h"

/** Exit codes (docs/control-protocol.md) */
enum {
	CLI_EXIT_OK      = 0,   /**< success                               */
	CLI_EXIT_REFUSED = 1,   /**< the daemon refused (error reply)      */
	CLI_EXIT_USAGE   = 2,   /**< usage error                           */
	CLI_EXIT_UNREACH = 3,   /**< no daemon, or no answer within -t     */
};

enum {
	CLI_MAX_OPTS      = 256,                 /**< command options      */
	CLI_MAX_WORDS     = 16,                  /**< non-option arguments */
	CLI_TIMEOUT_S     = 10,                  /**< default -t [s]       */
	CLI_REPLY_MAX     = 512 * 1024 * 1024,   /**< largest reply [bytes] */
};

/** Commands an option applies to (bit mask) */
enum {
	CLI_C_GLOBAL = 1 << 0,
	CLI_C_AGENT  = 1 << 1,   /**< agents put  */
	CLI_C_TRUNK  = 1 << 2,   /**< trunks put  */
	CLI_C_NUMBER = 1 << 3,   /**< numbers put */
};

/** One long option */
struct cli_optdef {
	const char *name;    /**< without the leading "--"            */
	bool value;          /**< takes a value                       */
	unsigned cmds;       /**< CLI_C_* it applies to               */
	const char *help;
};

/** A command option as given (repeatable ones appear once per use) */
struct cli_optval {
	const struct cli_optdef *def;
	const char *value;   /**< NULL for a flag; points into argv   */
};

/** The command line */
struct cli_args {
	const char *socket;                /**< -s, or NULL               */
	const char *config;                /**< -c, or NULL               */
	bool json;                         /**< -j: print replies as is   */
	bool help;                         /**< -h                        */
	int timeout_s;                     /**< -t [s]                    */
	const char *words[CLI_MAX_WORDS];  /**< command and its arguments */
	int nwords;
	struct cli_optval opts[CLI_MAX_OPTS];
	int nopts;
};


/* cli.c */
void cli_die(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

/* cliargs.c */
void cliargs_parse(struct cli_args *args, int argc, char *argv[]);
void cliargs_check(const struct cli_args *args, unsigned cmd, const char *what);
const char *cliargs_get(const struct cli_args *args, const char *name);
void cliargs_words_exact(const struct cli_args *args, int n, const char *what);
void cliargs_usage_main(FILE *f);
void cliargs_usage_cmd(FILE *f, const char *cmd);

/* cliconn.c */
const char *cliconn_socket_path(const struct cli_args *args);
char *cliconn_transact(const char *path, int timeout_s, size_t reply_max,
		       const json_t *req);
json_t *cliconn_call(const struct cli_args *args, const json_t *req, bool raw,
		     int *exitp);

/* clireq.c */
json_t *clireq_agent(const struct cli_args *args, const char *id);
json_t *clireq_trunk(const struct cli_args *args, const char *id);
json_t *clireq_number(const struct cli_args *args, const char *num);

/* cliout.c */
void cliout_numbers(const json_t *arr);
void cliout_agents(const json_t *arr);
void cliout_trunks(const json_t *arr);
void cliout_calls(const json_t *arr);
void cliout_pretty(const json_t *o);
void cliout_status(const json_t *r);
void cliout_put(const json_t *r, const char *one, const char *key);
void cliout_deleted(const json_t *r, const char *one);

#endif
