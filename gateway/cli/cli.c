/**
 * @file cli.c  What every part of callbridgectl shares: the error exit
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "cli_int.h"


/**
 * Print "callbridgectl: <message>" to stderr and exit
 *
 * @param code  exit code (CLI_EXIT_*); a usage error adds a hint at --help
 * @param fmt   printf format of the message (no newline)
 */
void cli_die(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "callbridgectl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);

	if (code == CLI_EXIT_USAGE)
		fprintf(stderr, "Try 'callbridgectl --help'.\n");

	exit(code);
}
