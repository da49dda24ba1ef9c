/**
 * @file clirun.h  Helpers of the CLI's unit tests: run a part of
 *                 callbridgectl in a child process, and a tiny control
 *                 socket server to answer it
 *
 * The CLI ends on any error with exit() (cli_die), so each case runs in a
 * fork()ed child whose stdout and stderr are captured; the parent checks
 * the exit code and every byte printed. While the child runs, the parent
 * may play the daemon on a Unix socket (clisrv_*). Every wait is bounded:
 * a child that outlives RUN_WAIT_MS is killed and its code is -2.
 */
#ifndef CB_TEST_CLIRUN_H
#define CB_TEST_CLIRUN_H

#include <stdbool.h>
#include <stddef.h>

enum {
	RUN_WAIT_MS = 15000,         /**< longest a child may run [ms]   */
	RUN_OUT_MAX = 1024 * 1024,   /**< captured stdout, stderr [bytes] */
};

/** What a child did */
struct clirun {
	int code;        /**< exit code; -1 killed by a signal, -2 timed out */
	char *out;       /**< its stdout, NUL-terminated (malloc'd)          */
	char *err;       /**< its stderr, NUL-terminated (malloc'd)          */
	double secs;     /**< how long it ran [s]                            */
};

/**
 * Run fn(arg) in a child; it exits 0 when fn returns
 *
 * @param r      filled in; free with clirun_free()
 * @param fn     what the child does
 * @param arg    its argument
 * @param in     the child's stdin, or NULL for an empty one
 * @param srv    run by the parent while the child runs (NULL for none):
 *               the daemon's side
 * @param sarg   its argument
 */
void clirun(struct clirun *r, void (*fn)(void *arg), void *arg,
	    const char *in, void (*srv)(void *sarg), void *sarg);
void clirun_free(struct clirun *r);

/** The daemon's side: a listening Unix socket in a temporary directory */
struct clisrv {
	char dir[64];
	char path[128];
	int lfd;
};

void clisrv_open(struct clisrv *s);
void clisrv_close(struct clisrv *s);
int clisrv_accept(struct clisrv *s, char *req, size_t size);
int clisrv_send(int fd, const char *data, size_t len);

#endif
