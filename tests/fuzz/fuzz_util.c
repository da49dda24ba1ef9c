/**
 * @file fuzz_util.c  Helpers of the fuzz targets: input reader, files
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fuzz.h"


void fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: fuzz property failed: %s\n", file, line,
		what);
	abort();
}


/** Next byte of the input, 0 when it is used up */
uint8_t fuzz_u8(struct fuzz_in *in)
{
	if (!in->left)
		return 0;
	--in->left;
	return *in->p++;
}


/** Next 16 bits, network order */
uint16_t fuzz_u16(struct fuzz_in *in)
{
	uint16_t v = fuzz_u8(in);

	return (uint16_t)(v << 8 | fuzz_u8(in));
}


/** Next 32 bits, network order */
uint32_t fuzz_u32(struct fuzz_in *in)
{
	uint32_t v = fuzz_u16(in);

	return v << 16 | fuzz_u16(in);
}


/**
 * Take up to want bytes from the input
 *
 * @return the number taken (*pp points at them)
 */
size_t fuzz_take(struct fuzz_in *in, size_t want, const uint8_t **pp)
{
	size_t n = want < in->left ? want : in->left;

	*pp = in->p;
	in->p += n;
	in->left -= n;

	return n;
}


/**
 * The next packet of a sequence (struct fuzz_pkt)
 *
 * @return false when the input has no more
 */
bool fuzz_pkt_next(struct fuzz_in *in, struct fuzz_pkt *pk)
{
	if (in->left < 4)
		return false;

	pk->flags = fuzz_u8(in);
	pk->dt_us = fuzz_u8(in) * 1000u;
	pk->len = fuzz_take(in, fuzz_u16(in) & 0x7ff, &pk->p);

	return true;
}


static char tmpdir_made[256];

static int rm_one(const char *path, const struct stat *sb, int flag,
		  struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;

	return remove(path);
}


static void tmpdir_remove(void)
{
	if (tmpdir_made[0] &&
	    nftw(tmpdir_made, rm_one, 8, FTW_DEPTH | FTW_PHYS))
		fprintf(stderr, "fuzz: cannot remove %s\n", tmpdir_made);
}


/**
 * A scratch directory for the process (in /dev/shm if there is one),
 * removed at exit
 *
 * @param dir   Set to its path
 * @param sz    Size of dir [bytes]
 * @param name  The target's name, in the directory's name
 *
 * @return 0 if success, otherwise errorcode
 */
int fuzz_tmpdir(char *dir, size_t sz, const char *name)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" :
		(getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");

	if (snprintf(dir, sz, "%s/cbfuzz-%s-XXXXXX", base, name) >= (int)sz)
		return ENAMETOOLONG;
	if (!mkdtemp(dir))
		return errno;

	if (!tmpdir_made[0]) {
		snprintf(tmpdir_made, sizeof(tmpdir_made), "%s", dir);
		atexit(tmpdir_remove);
	}

	return 0;
}


/** Write (replace) a file with the input */
int fuzz_write_file(const char *path, const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int err = 0;

	if (fd < 0)
		return errno;

	while (size) {
		ssize_t n = write(fd, data, size);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = errno;
			break;
		}
		data += n;
		size -= (size_t)n;
	}

	close(fd);
	return err;
}
