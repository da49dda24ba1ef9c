/**
 * @file test.h  Minimal assertion helpers for callbridge's C tests
 *
 * A test program is a table of cases and a main() that runs them; it exits
 * non-zero as soon as an assertion fails, printing file, line and values.
 * No framework: CTest runs each program and reads its exit code.
 */
#ifndef CB_TEST_H
#define CB_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>

#define TEST_FAIL(...)							\
	do {								\
		fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);	\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
		exit(1);						\
	} while (0)

#define TEST_ASSERT(c)							\
	do { if (!(c)) TEST_FAIL("%s", #c); } while (0)

#define TEST_EQ(a, b)							\
	do {								\
		long long a_ = (long long)(a), b_ = (long long)(b);	\
		if (a_ != b_)						\
			TEST_FAIL("%s == %s: %lld != %lld", #a, #b, a_, b_); \
	} while (0)

#define TEST_STREQ(a, b)						\
	do {								\
		const char *a_ = (a), *b_ = (b);			\
		if (!a_ || !b_ || strcmp(a_, b_))			\
			TEST_FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b,	\
				  a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
	} while (0)

#define TEST_ERR(e, expect)						\
	do {								\
		int e_ = (e);						\
		if (e_ != (expect))					\
			TEST_FAIL("%s: err %d (%s), expected %d", #e, e_, \
				  strerror(e_), (int)(expect));		\
	} while (0)

#endif
