/**
 * @file fuzz.h  What every fuzz target shares (tests/fuzz/README.md)
 *
 * A target is one LLVMFuzzerTestOneInput(): libFuzzer calls it (CB_FUZZ
 * builds), or replay.c's main() calls it once per corpus file (every other
 * build, under CTest). A target owns nothing between two inputs: whatever
 * it allocates for an input is freed before it returns, and what it keeps
 * (a scratch directory) is made once in LLVMFuzzerInitialize().
 */
#ifndef CB_FUZZ_H
#define CB_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/** A property of the code under test does not hold: crash loudly */
#define FUZZ_ASSERT(c)							\
	do {								\
		if (!(c))						\
			fuzz_fail(__FILE__, __LINE__, #c);		\
	} while (0)

void fuzz_fail(const char *file, int line, const char *what)
	__attribute__((noreturn));

/** A reader of the input, taken from the front */
struct fuzz_in {
	const uint8_t *p;
	size_t left;
};

uint8_t  fuzz_u8(struct fuzz_in *in);
uint16_t fuzz_u16(struct fuzz_in *in);
uint32_t fuzz_u32(struct fuzz_in *in);
size_t   fuzz_take(struct fuzz_in *in, size_t want, const uint8_t **pp);

/** One packet of a sequence: [flags][dt ms][length, 16 bits][bytes] */
struct fuzz_pkt {
	uint8_t flags;          /**< the target's own use                */
	uint32_t dt_us;         /**< time since the previous packet [us] */
	const uint8_t *p;       /**< the packet                          */
	size_t len;             /**< its length [bytes], up to 2047      */
};

bool fuzz_pkt_next(struct fuzz_in *in, struct fuzz_pkt *pk);

int  fuzz_tmpdir(char *dir, size_t sz, const char *name);
int  fuzz_write_file(const char *path, const uint8_t *data, size_t size);

#endif
