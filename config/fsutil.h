/**
 * @file fsutil.h  File system helpers: directories, whole-file reads and
 *                 crash-safe replacement of a file
 */
#ifndef CB_FSUTIL_H
#define CB_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

int fsutil_mkdirs(const char *dir, mode_t mode);
int fsutil_parent_dir(char *buf, size_t sz, const char *path);
int fsutil_read_file(const char *path, size_t max, char **bufp,
		     size_t *lenp);
int fsutil_replace(const char *path, const char *tmp, int dirfd,
		   const void *data, size_t len, mode_t mode, int *stagep);

#endif
