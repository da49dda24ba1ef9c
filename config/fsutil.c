/**
 * @file fsutil.c  File system helpers
 *
 * fsutil_replace() is the one way the gateway changes a file it owns:
 * write a temporary file in the same directory, fsync it, rename it over
 * the old file, fsync the directory. rename(2) is atomic, so after a crash
 * at any moment the path holds either the complete old content or the
 * complete new content; the temporary file may be left behind, and is
 * overwritten by the next write.
 */
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include "cb_re.h"
#include "fsutil.h"


/**
 * Create a directory and its missing parents (like mkdir -p)
 *
 * @param dir   Directory path
 * @param mode  Mode of the directories created
 *
 * @return 0 if success (or it exists as a directory), otherwise an errno
 */
int fsutil_mkdirs(const char *dir, mode_t mode)
{
	char buf[4096];
	struct stat st;
	size_t len;

	if (!dir || !*dir)
		return EINVAL;

	len = strlen(dir);
	if (len >= sizeof(buf))
		return ENAMETOOLONG;
	memcpy(buf, dir, len + 1);

	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;

		buf[i] = '\0';
		if (mkdir(buf, mode) && errno != EEXIST)
			return errno;
		if (stat(buf, &st))
			return errno;
		if (!S_ISDIR(st.st_mode))
			return ENOTDIR;
		if (i < len)
			buf[i] = '/';
	}

	return 0;
}


/**
 * The directory part of a path ("." when it has none)
 *
 * @return 0 if success, ENAMETOOLONG if buf is too small
 */
int fsutil_parent_dir(char *buf, size_t sz, const char *path)
{
	const char *slash;
	size_t n;

	if (!buf || !sz || !path)
		return EINVAL;

	slash = strrchr(path, '/');
	if (!slash) {
		n = 1;
		path = ".";
	}
	else if (slash == path) {
		n = 1;
	}
	else {
		n = (size_t)(slash - path);
	}

	if (n >= sz)
		return ENAMETOOLONG;

	memcpy(buf, path, n);
	buf[n] = '\0';
	return 0;
}


/**
 * Read a whole regular file into a new NUL-terminated mem buffer
 *
 * @param path  File path
 * @param max   Largest accepted size [bytes]
 * @param bufp  Set to the content
 * @param lenp  Set to its length [bytes]
 *
 * @return 0 if success, EFBIG if larger than max, otherwise an errno
 */
int fsutil_read_file(const char *path, size_t max, char **bufp,
		     size_t *lenp)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;

	if (fstat(fd, &st)) {
		err = errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = EISDIR;
		goto out;
	}
	if ((size_t)st.st_size > max) {
		err = EFBIG;
		goto out;
	}

	buf = mem_alloc((size_t)st.st_size + 1, NULL);
	if (!buf) {
		err = ENOMEM;
		goto out;
	}

	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';

 out:
	close(fd);
	if (err) {
		mem_deref(buf);
		return err;
	}

	*bufp = buf;
	*lenp = len;
	return 0;
}


/**
 * Replace a file's content, crash-safe
 *
 * @param path    File to replace
 * @param tmp     Temporary path in the same directory
 * @param dirfd   Open descriptor of that directory (fsynced)
 * @param data    New content
 * @param len     Length of data [bytes]
 * @param mode    File mode
 * @param stagep  Set to 1 if path already holds the new content when an
 *                error is returned (only the directory fsync failed),
 *                else 0 (may be NULL)
 *
 * @return 0 if the new content is durable, otherwise an errno
 */
int fsutil_replace(const char *path, const char *tmp, int dirfd,
		   const void *data, size_t len, mode_t mode, int *stagep)
{
	const char *p = data;
	size_t off = 0;
	int fd, err = 0;

	if (stagep)
		*stagep = 0;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  mode);
	if (fd < 0)
		return errno;

	if (fchmod(fd, mode)) {
		err = errno;
		goto fail;
	}

	while (off < len) {
		ssize_t n = write(fd, p + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = errno;
			goto fail;
		}
		off += (size_t)n;
	}

	if (fsync(fd)) {
		err = errno;
		goto fail;
	}

	err = close(fd) ? errno : 0;
	fd = -1;
	if (err)
		goto fail;

	if (rename(tmp, path)) {
		err = errno;
		goto fail;
	}

	if (dirfd >= 0 && fsync(dirfd)) {
		if (stagep)
			*stagep = 1;
		return errno;
	}

	return 0;

 fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return err;
}
