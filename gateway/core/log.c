/**
 * @file log.c  Process-wide logging
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <unistd.h>
#include "cb_re.h"
#include "log.h"

static enum log_level level = LOGL_INFO;
static __thread char thread_name[16] = "main";

void log_set_level(enum log_level lvl)
{
	level = lvl;
}


/** Name the calling thread in log lines (at most 15 characters) */
void log_thread_name(const char *name)
{
	snprintf(thread_name, sizeof(thread_name), "%s", name);
}


static void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	int n, m;

	if (lvl < level)
		return;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);

	n = snprintf(line, sizeof(line),
		     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-6s [%s] ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		     tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		     loglevel_name(lvl), thread_name);
	if (n < 0)
		return;

	m = re_vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		return;

	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;

	/* one line, one write: lines from different threads never mix */
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		--n;
	line[n++] = '\n';

	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}


void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(lvl, fmt, ap);
	va_end(ap);
}
