/**
 * @file store.c  The live store of agents, trunks and numbers
 *
 * Design note
 *
 * Memory holds three tables (agents, trunks, numbers), each a hash for
 * lookups and a list kept sorted by key for listings and for a stable
 * state file. The state file is the whole model as one JSON document.
 *
 * A mutation (control thread) runs under `wlock`, which serialises
 * mutations:
 *   1. validate the change against the current tables (the tables cannot
 *      change meanwhile: only holders of wlock change them);
 *   2. encode the current tables with the change applied on the fly, and
 *      replace the state file crash-safe (fsutil_replace: temp file, fsync,
 *      rename, fsync directory). No table lock is held during this I/O;
 *   3. only then take the table write lock `lock` and swap the entry in,
 *      which is a few pointer moves.
 * If step 2 fails nothing changed in memory, and the file holds the old
 * state (when only the directory fsync failed after the rename, the old
 * state is written back before returning the error).
 *
 * Readers (store_route for each INVITE, gets, listings, counts) take
 * `lock` for reading and copy what they need, so they wait at most for a
 * pointer swap, never for the disk.
 *
 * A lock file next to the state file (flock) keeps two daemons from
 * writing the same state; the kernel drops it when a daemon dies.
 *
 * Files: this one opens the store; store_table.c holds the tables,
 * store_load.c reads the state file, store_write.c is the write path and
 * store_read.c the readers (store_int.h lists them).
 */
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include "fsutil.h"
#include "store_int.h"


enum {
	HASH_BUCKETS = 1024,
};


static void store_destructor(void *arg)
{
	struct store *st = arg;

	for (int k = 0; k < K_COUNT; k++) {
		list_flush(&st->tab[k].list);
		mem_deref(st->tab[k].hash);
	}

	if (st->locks_init) {
		pthread_rwlock_destroy(&st->lock);
		pthread_mutex_destroy(&st->wlock);
	}

	if (st->dirfd >= 0)
		close(st->dirfd);
	if (st->lockfd >= 0)
		close(st->lockfd);

	mem_deref(st->path);
	mem_deref(st->tmp);
	mem_deref(st->lockpath);
}


static int lock_state(struct store *st, char *err, size_t errsz)
{
	st->lockfd = open(st->lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (st->lockfd < 0) {
		int e = errno;

		snprintf(err, errsz, "%s: %s", st->lockpath, strerror(e));
		return e;
	}

	if (flock(st->lockfd, LOCK_EX | LOCK_NB)) {
		int e = errno;

		if (e == EWOULDBLOCK) {
			snprintf(err, errsz, "%s is in use by another process "
				 "(lock %s)", st->path, st->lockpath);
			return EBUSY;
		}
		snprintf(err, errsz, "%s: flock: %s", st->lockpath,
			 strerror(e));
		return e;
	}

	return 0;
}


/* A store with its locks and empty tables */
static int store_alloc(struct store **stp)
{
	struct store *st;
	int e = 0;

	st = mem_zalloc(sizeof(*st), store_destructor);
	if (!st)
		return ENOMEM;

	st->dirfd = -1;
	st->lockfd = -1;

	if (pthread_mutex_init(&st->wlock, NULL)) {
		mem_deref(st);
		return ENOMEM;
	}
	if (pthread_rwlock_init(&st->lock, NULL)) {
		pthread_mutex_destroy(&st->wlock);
		mem_deref(st);
		return ENOMEM;
	}
	st->locks_init = true;

	for (int k = 0; k < K_COUNT; k++) {
		e = hash_alloc(&st->tab[k].hash, HASH_BUCKETS);
		if (e)
			break;
	}

	if (e)
		mem_deref(st);
	else
		*stp = st;

	return e;
}


/* The state file's directory (into dir), and the state, temporary and
   lock file paths */
static int paths_set(struct store *st, const char *state_file, char *dir,
		     size_t dirsz, char *err, size_t errsz)
{
	const char *base;
	int e;

	e = fsutil_parent_dir(dir, dirsz, state_file);
	if (e) {
		snprintf(err, errsz, "%s: %s", state_file, strerror(e));
		return e;
	}
	base = strrchr(state_file, '/');
	base = base ? base + 1 : state_file;
	if (!*base) {
		snprintf(err, errsz, "%s: not a file name", state_file);
		return EINVAL;
	}

	e  = str_dup(&st->path, state_file);
	e |= re_sdprintf(&st->tmp, "%s/.%s.tmp", dir, base);
	e |= re_sdprintf(&st->lockpath, "%s/.%s.lock", dir, base);

	return e ? ENOMEM : 0;
}


/* store_check(): what the daemon would load, read only: no directory
   made, no lock taken (the daemon may be running), nothing written */
static int load_readonly(struct store *st, const char *state_file,
			 const char *seed_file, char *err, size_t errsz)
{
	struct stat sb;
	int e = 0;

	if (stat(state_file, &sb) == 0)
		e = store_load_file(st, state_file, NULL, err, errsz);
	else if (errno != ENOENT) {
		e = errno;
		snprintf(err, errsz, "%s: %s", state_file, strerror(e));
	}
	else if (seed_file && *seed_file)
		e = store_load_file(st, seed_file, NULL, err, errsz);

	return e;
}


/* Create the state file's directory and open it (for fsync) */
static int dir_open(struct store *st, const char *dir, char *err,
		    size_t errsz)
{
	int e;

	e = fsutil_mkdirs(dir, 0750);
	if (e) {
		snprintf(err, errsz, "cannot create directory %s: %s", dir,
			 strerror(e));
		return e;
	}

	st->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->dirfd < 0) {
		e = errno;
		snprintf(err, errsz, "%s: %s", dir, strerror(e));
		return e;
	}

	return 0;
}


/* Load the state file (and write it again in the current format when it
   is in an older one); when there is none yet, load the seed (if any)
   and write the state file */
static int load_or_create(struct store *st, const char *state_file,
			  const char *seed_file, char *err, size_t errsz)
{
	struct stat sb;
	int e, stage, fmt = STATE_FORMAT;

	if (stat(state_file, &sb) == 0) {
		e = store_load_file(st, state_file, &fmt, err, errsz);
		if (e || fmt == STATE_FORMAT)
			return e;
	}
	else if (errno != ENOENT) {
		e = errno;
		snprintf(err, errsz, "%s: %s", state_file, strerror(e));
		return e;
	}
	else if (seed_file && *seed_file) {
		e = store_load_file(st, seed_file, NULL, err, errsz);
		if (e)
			return e;
	}

	e = store_state_write(st, K_COUNT, NULL, NULL, &stage);
	if (e)
		snprintf(err, errsz, "cannot write %s: %s", state_file,
			 strerror(e));

	return e;
}


/* store_open(), or with `check` store_check(): see those */
static int open_store(struct store **stp, const char *state_file,
		      const char *seed_file, bool check, char *err,
		      size_t errsz)
{
	char dir[4096], dummy[1];
	struct store *st = NULL;
	int e;

	if (!err || !errsz) {
		err = dummy;
		errsz = sizeof(dummy);
	}
	err[0] = '\0';

	if (!stp || !state_file || !*state_file) {
		snprintf(err, errsz, "no state file given");
		return EINVAL;
	}

	e = store_alloc(&st);
	if (e)
		return e;

	e = paths_set(st, state_file, dir, sizeof(dir), err, errsz);
	if (e)
		goto out;

	if (check) {
		e = load_readonly(st, state_file, seed_file, err, errsz);
		goto out;
	}

	e = dir_open(st, dir, err, errsz);
	if (e)
		goto out;

	e = lock_state(st, err, errsz);
	if (e)
		goto out;

	/* a temporary file left by a crash is incomplete by definition */
	(void)unlink(st->tmp);

	e = load_or_create(st, state_file, seed_file, err, errsz);

 out:
	if (e)
		mem_deref(st);
	else
		*stp = st;

	return e;
}


/**
 * Open the store (see open_store): load and validate the state file, or,
 * when it does not exist yet, the seed file (or nothing) and write the
 * state file. Missing parent directories of the state file are created;
 * the state file is locked against a second process.
 *
 * @param stp         Set to the new store
 * @param state_file  Path of the state file
 * @param seed_file   Path of the seed, used only if state_file does not
 *                    exist (NULL or "" for none)
 * @param err         Error buffer: names the file, entry and field
 * @param errsz       Size of err [bytes]
 *
 * @return 0 if success, otherwise an errno
 */
int store_open(struct store **stp, const char *state_file,
	       const char *seed_file, char *err, size_t errsz)
{
	return open_store(stp, state_file, seed_file, false, err, errsz);
}


/**
 * Validate what store_open() would load, without touching anything: no
 * lock (a running daemon holds it), no directory, no state file written.
 * The store it gives is for reading only (store_counts and the like).
 *
 * @return 0 if the state (or the seed, if there is no state yet) is valid
 */
int store_check(struct store **stp, const char *state_file,
		const char *seed_file, char *err, size_t errsz)
{
	return open_store(stp, state_file, seed_file, true, err, errsz);
}
