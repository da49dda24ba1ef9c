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
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/stat.h>
#include "model_int.h"
#include "fsutil.h"
#include "store.h"


enum kind {
	K_AGENT = 0,
	K_TRUNK,
	K_NUMBER,

	K_COUNT
};

static const char *const kind_list[K_COUNT] = {"agents", "trunks", "numbers"};
static const char *const kind_one[K_COUNT] = {"agent", "trunk", "number"};

enum {
	STATE_FORMAT = 1,
	HASH_BUCKETS = 1024,
	USERS_IN_MSG = 10,      /**< numbers named in an in-use message */
};

/** One stored object; holds a reference to it */
struct entry {
	struct le le;           /**< in table.list, sorted by key       */
	struct le he;           /**< in table.hash                      */
	const char *key;        /**< id or number, points into obj      */
	void *obj;              /**< struct agent, trunk or number      */
	char *text;             /**< obj in state-file form (malloc)    */
	size_t len;             /**< length of text [bytes]             */
};

struct table {
	struct list list;
	struct hash *hash;
	uint32_t count;
};

/**
 * Locking:
 *   - tab[] is changed only with both wlock and lock (write) held;
 *   - mutators read tab[] holding wlock only (nobody else changes it);
 *   - readers read tab[] holding lock (read).
 * Lock order: wlock, then lock.
 */
struct store {
	pthread_mutex_t wlock;      /**< serialises mutations, held over I/O */
	pthread_rwlock_t lock;      /**< guards tab[]                        */
	bool locks_init;
	struct table tab[K_COUNT];
	char *path;                 /**< state file                          */
	char *tmp;                  /**< temporary file, same directory      */
	char *lockpath;             /**< lock file, same directory           */
	int dirfd;                  /**< the directory, for fsync            */
	int lockfd;                 /**< holds the flock                     */
};


static void entry_destructor(void *arg)
{
	struct entry *e = arg;

	list_unlink(&e->le);
	hash_unlink(&e->he);
	mem_deref(e->obj);
	free(e->text);
}


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


static const char *obj_key(enum kind k, const void *obj)
{
	switch (k) {

	case K_AGENT:  return ((const struct agent *)obj)->id;
	case K_TRUNK:  return ((const struct trunk *)obj)->id;
	case K_NUMBER: return ((const struct number *)obj)->number;
	default:       return NULL;
	}
}


/* Encode for replies (redacted, with status) or for the state file */
static json_t *obj_encode(enum kind k, const void *obj, bool state)
{
	switch (k) {

	case K_AGENT:
		return agent_encode(obj, state ? MODEL_SECRETS : MODEL_REDACT);
	case K_TRUNK:
		return trunk_encode(obj, state ? MODEL_SECRETS : MODEL_REDACT);
	case K_NUMBER:
		return number_encode(obj, !state);
	default:
		return NULL;
	}
}


static bool key_cmp_handler(struct le *le, void *arg)
{
	const struct entry *e = le->data;

	return !strcmp(e->key, arg);
}


static struct entry *table_find(const struct table *t, const char *key)
{
	struct le *le;

	if (!key)
		return NULL;

	le = hash_lookup(t->hash, hash_joaat_str(key), key_cmp_handler,
			 (void *)key);

	return le ? le->data : NULL;
}


/* Insert keeping the list sorted; sorted input appends in O(1) */
static void table_insert(struct table *t, struct entry *e)
{
	struct le *le;

	for (le = list_tail(&t->list); le; le = le->prev) {
		const struct entry *x = le->data;

		if (strcmp(x->key, e->key) < 0)
			break;
	}

	if (le)
		list_insert_after(&t->list, le, &e->le, e);
	else
		list_prepend(&t->list, &e->le, e);

	hash_append(t->hash, hash_joaat_str(e->key), &e->he, e);
	++t->count;
}


static void table_remove(struct table *t, struct entry *e)
{
	list_unlink(&e->le);
	hash_unlink(&e->he);
	--t->count;
}


/* An entry holds its object and the object's state-file text, encoded
   once: writing the state file then only concatenates texts */
static int entry_alloc(struct entry **ep, enum kind k, void *obj)
{
	struct entry *e = mem_zalloc(sizeof(*e), entry_destructor);
	json_t *j;

	if (!e)
		return ENOMEM;

	e->obj = mem_ref(obj);
	e->key = obj_key(k, obj);

	j = obj_encode(k, obj, true);
	e->text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!e->text) {
		mem_deref(e);
		return ENOMEM;
	}
	e->len = strlen(e->text);

	*ep = e;
	return 0;
}


/* Label of an entry in load errors: the id without quotes, sanitised */
static void entry_label(char *buf, size_t sz, const json_t *j, enum kind k)
{
	const json_t *v = json_object_get(j, k == K_NUMBER ? "number" : "id");
	char q[64];
	size_t n;

	buf[0] = '\0';
	if (!json_is_string(v))
		return;

	model_quote(q, sizeof(q), json_string_value(v));
	n = strlen(q);
	if (n < 2)
		return;
	q[n - 1] = '\0';
	snprintf(buf, sz, " (%s)", q + 1);
}


/* Check that a number's trunk and agents exist (caller holds a lock) */
static int number_refs_check(const struct store *st, const struct number *n,
			     char *err, size_t errsz)
{
	struct {
		const char *field;
		const char *id;
		enum kind k;
	} refs[] = {
		{"trunk_id", n->trunk_id, K_TRUNK},
		{"inbound_agent_id", n->inbound_agent_id, K_AGENT},
		{"outbound_agent_id", n->outbound_agent_id, K_AGENT},
	};

	for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
		if (!refs[i].id || table_find(&st->tab[refs[i].k], refs[i].id))
			continue;

		if (err)
			snprintf(err, errsz, "%s \"%s\": no such %s",
				 refs[i].field, refs[i].id, kind_one[refs[i].k]);
		return EINVAL;
	}

	return 0;
}


/* A growing output buffer; `fail` is sticky */
struct obuf {
	char *p;
	size_t len, sz;
	bool fail;
};


static void obuf_add(struct obuf *b, const char *s, size_t n)
{
	if (b->fail)
		return;

	if (b->len + n > b->sz) {
		size_t sz = b->sz ? b->sz : 65536;
		char *p;

		while (sz < b->len + n)
			sz *= 2;
		p = realloc(b->p, sz);
		if (!p) {
			b->fail = true;
			return;
		}
		b->p = p;
		b->sz = sz;
	}

	memcpy(b->p + b->len, s, n);
	b->len += n;
}


static void obuf_str(struct obuf *b, const char *s)
{
	obuf_add(b, s, strlen(s));
}


static void obuf_item(struct obuf *b, const struct entry *e, bool *first)
{
	obuf_str(b, *first ? "\n    " : ",\n    ");
	obuf_add(b, e->text, e->len);
	*first = false;
}


/*
 * The whole state with one change applied: the entry `key` of table `ck`
 * replaced by `ne` (or removed if ne is NULL); ck == K_COUNT means no
 * change. One object per line, sorted by key:
 *
 *   {
 *     "format": 1,
 *     "agents": [
 *       {...},
 *       {...}
 *     ],
 *     ...
 *   }
 */
static int state_build(const struct store *st, enum kind ck, const char *key,
		       const struct entry *ne, struct obuf *b)
{
	char head[32];

	snprintf(head, sizeof(head), "{\n  \"format\": %d", STATE_FORMAT);
	obuf_str(b, head);

	for (int k = 0; k < K_COUNT; k++) {
		bool done = (k != (int)ck), first = true;
		struct le *le;

		obuf_str(b, ",\n  \"");
		obuf_str(b, kind_list[k]);
		obuf_str(b, "\": [");

		LIST_FOREACH(&st->tab[k].list, le) {
			const struct entry *e = le->data;
			int cmp = done ? -1 : strcmp(e->key, key);

			if (!done && cmp >= 0) {
				done = true;
				if (ne)
					obuf_item(b, ne, &first);
				if (cmp == 0)
					continue;
			}

			obuf_item(b, e, &first);
		}
		if (!done && ne)
			obuf_item(b, ne, &first);

		obuf_str(b, first ? "]" : "\n  ]");
	}

	obuf_str(b, "\n}\n");

	return b->fail ? ENOMEM : 0;
}


static int state_write(struct store *st, enum kind ck, const char *key,
		       const struct entry *ne, int *stagep)
{
	struct obuf b = {NULL, 0, 0, false};
	int err;

	*stagep = 0;

	err = state_build(st, ck, key, ne, &b);
	if (!err)
		err = fsutil_replace(st->path, st->tmp, st->dirfd, b.p, b.len,
				     0600, stagep);

	free(b.p);
	return err;
}


/*
 * Apply one change: disk first, then memory. Caller holds wlock and has
 * validated the change. cobj NULL deletes `key`.
 */
static int mutate(struct store *st, enum kind k, const char *key, void *cobj,
		  char *err, size_t errsz)
{
	struct entry *ne = NULL, *old;
	int e, stage = 0;

	if (cobj) {
		e = entry_alloc(&ne, k, cobj);
		if (e)
			return e;
	}

	e = state_write(st, k, key, ne, &stage);
	if (e) {
		if (stage) {
			int s2;

			/* the new file is in place but maybe not durable:
			   put the old state back so that disk matches memory */
			(void)state_write(st, K_COUNT, NULL, NULL, &s2);
		}
		if (err)
			snprintf(err, errsz, "cannot write %s: %s; nothing "
				 "changed", st->path, strerror(e));
		mem_deref(ne);
		return e;
	}

	pthread_rwlock_wrlock(&st->lock);
	old = table_find(&st->tab[k], key);
	if (old)
		table_remove(&st->tab[k], old);
	if (ne)
		table_insert(&st->tab[k], ne);
	pthread_rwlock_unlock(&st->lock);

	mem_deref(old);

	return 0;
}


/* Numbers that use an agent or trunk; message names the first few */
static uint32_t users_find(const struct store *st, enum kind k,
			   const char *id, json_t *users, char *err,
			   size_t errsz)
{
	uint32_t n = 0;
	size_t o = 0;
	struct le *le;

	LIST_FOREACH(&st->tab[K_NUMBER].list, le) {
		const struct entry *e = le->data;
		const struct number *num = e->obj;
		bool uses;

		if (k == K_TRUNK)
			uses = !strcmp(num->trunk_id, id);
		else
			uses = (num->inbound_agent_id &&
				!strcmp(num->inbound_agent_id, id)) ||
			       (num->outbound_agent_id &&
				!strcmp(num->outbound_agent_id, id));
		if (!uses)
			continue;

		if (users)
			json_array_append_new(users, json_string(num->number));

		if (err && n == 0) {
			int w = snprintf(err, errsz, "%s \"%s\" is used by "
					 "number", kind_one[k], id);
			o = (w > 0 && (size_t)w < errsz) ? (size_t)w : errsz;
		}
		if (err && n < USERS_IN_MSG && o < errsz) {
			int w = snprintf(err + o, errsz - o, "%s %s",
					 n ? "," : "", num->number);
			o += (w > 0) ? (size_t)w : 0;
		}
		++n;
	}

	if (err && n > USERS_IN_MSG && o < errsz)
		snprintf(err + o, errsz - o, " and %u more", n - USERS_IN_MSG);

	return n;
}


static int put(struct store *st, enum kind k, void *obj, bool *createdp,
	       char *err, size_t errsz)
{
	const char *key = obj_key(k, obj);
	bool exists;
	int e;

	if (!st || !obj || !key)
		return EINVAL;

	pthread_mutex_lock(&st->wlock);

	if (k == K_NUMBER) {
		e = number_refs_check(st, obj, err, errsz);
		if (e)
			goto out;
	}

	exists = table_find(&st->tab[k], key) != NULL;

	e = mutate(st, k, key, obj, err, errsz);
	if (e)
		goto out;

	if (createdp)
		*createdp = !exists;

 out:
	pthread_mutex_unlock(&st->wlock);
	return e;
}


static int del(struct store *st, enum kind k, const char *key, json_t *users,
	       char *err, size_t errsz)
{
	int e;

	if (!st || !key)
		return EINVAL;

	pthread_mutex_lock(&st->wlock);

	if (!table_find(&st->tab[k], key)) {
		if (err)
			snprintf(err, errsz, "no such %s \"%s\"", kind_one[k],
				 key);
		e = ENOENT;
		goto out;
	}

	if (k != K_NUMBER && users_find(st, k, key, users, err, errsz)) {
		e = EBUSY;
		goto out;
	}

	e = mutate(st, k, key, NULL, err, errsz);

 out:
	pthread_mutex_unlock(&st->wlock);
	return e;
}


/*
 * Loading
 */

static int load_table(struct store *st, enum kind k, const json_t *arr,
		      const char *file, char *err, size_t errsz)
{
	size_t i;
	json_t *j;

	if (!arr || json_is_null(arr))
		return 0;

	if (!json_is_array(arr)) {
		snprintf(err, errsz, "%s: %s: must be a list", file,
			 kind_list[k]);
		return EINVAL;
	}

	json_array_foreach((json_t *)arr, i, j) {
		char msg[512] = "", label[80];
		struct entry *e = NULL;
		void *obj = NULL;
		int r;

		entry_label(label, sizeof(label), j, k);

		switch (k) {

		case K_AGENT:
			r = agent_decode((struct agent **)&obj, j, NULL,
					 msg, sizeof(msg));
			break;
		case K_TRUNK:
			r = trunk_decode((struct trunk **)&obj, j, NULL,
					 msg, sizeof(msg));
			break;
		default:
			r = number_decode((struct number **)&obj, j,
					  msg, sizeof(msg));
			if (!r)
				r = number_refs_check(st, obj, msg,
						      sizeof(msg));
			break;
		}

		if (!r && table_find(&st->tab[k], obj_key(k, obj))) {
			snprintf(msg, sizeof(msg), "duplicate %s",
				 k == K_NUMBER ? "number" : "id");
			r = EINVAL;
		}

		if (!r)
			r = entry_alloc(&e, k, obj);
		mem_deref(obj);

		if (r) {
			snprintf(err, errsz, "%s: %s[%zu]%s: %s", file,
				 kind_list[k], i, label,
				 r == ENOMEM ? "out of memory" : msg);
			return r;
		}

		table_insert(&st->tab[k], e);
	}

	return 0;
}


static int load_file(struct store *st, const char *file, char *err,
		     size_t errsz)
{
	static const char *const root_keys[] = {
		"format", "agents", "trunks", "numbers", NULL
	};
	struct model_ctx c;
	json_error_t jerr;
	json_t *root = NULL, *fmt;
	char msg[256] = "";
	char *buf = NULL;
	size_t len;
	int e;

	e = fsutil_read_file(file, STORE_FILE_MAX, &buf, &len);
	if (e) {
		snprintf(err, errsz, "%s: %s", file,
			 e == EFBIG ? "larger than 256 MiB" : strerror(e));
		return e;
	}

	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(err, errsz, "%s: line %d column %d: %s", file,
			 jerr.line, jerr.column, jerr.text);
		e = EINVAL;
		goto out;
	}

	c.err = msg;
	c.errsz = sizeof(msg);
	c.path = "";
	e = model_dec_keys(&c, root, root_keys);
	if (e) {
		snprintf(err, errsz, "%s: %s", file, msg);
		goto out;
	}

	fmt = json_object_get(root, "format");
	if (!json_is_integer(fmt)) {
		snprintf(err, errsz, "%s: format: is required and must be %d",
			 file, STATE_FORMAT);
		e = EINVAL;
		goto out;
	}
	if (json_integer_value(fmt) != STATE_FORMAT) {
		snprintf(err, errsz, "%s: format: %lld is not supported by "
			 "this version (it reads format %d)", file,
			 (long long)json_integer_value(fmt), STATE_FORMAT);
		e = EINVAL;
		goto out;
	}

	/* numbers last: they refer to agents and trunks */
	for (int k = 0; k < K_COUNT; k++) {
		e = load_table(st, (enum kind)k,
			       json_object_get(root, kind_list[k]),
			       file, err, errsz);
		if (e)
			goto out;
	}

 out:
	json_decref(root);
	mem_deref(buf);
	return e;
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


/* store_open(), or with `check` store_check(): see those */
static int open_store(struct store **stp, const char *state_file,
		      const char *seed_file, bool check, char *err,
		      size_t errsz)
{
	char dir[4096], dummy[1];
	const char *base;
	struct store *st;
	struct stat sb;
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
			goto out;
	}

	e = fsutil_parent_dir(dir, sizeof(dir), state_file);
	if (e) {
		snprintf(err, errsz, "%s: %s", state_file, strerror(e));
		goto out;
	}
	base = strrchr(state_file, '/');
	base = base ? base + 1 : state_file;
	if (!*base) {
		snprintf(err, errsz, "%s: not a file name", state_file);
		e = EINVAL;
		goto out;
	}

	e  = str_dup(&st->path, state_file);
	e |= re_sdprintf(&st->tmp, "%s/.%s.tmp", dir, base);
	e |= re_sdprintf(&st->lockpath, "%s/.%s.lock", dir, base);
	if (e) {
		e = ENOMEM;
		goto out;
	}

	if (check) {
		/* what the daemon would load, read only: no directory made,
		   no lock taken (the daemon may be running), nothing written */
		if (stat(state_file, &sb) == 0)
			e = load_file(st, state_file, err, errsz);
		else if (errno != ENOENT) {
			e = errno;
			snprintf(err, errsz, "%s: %s", state_file, strerror(e));
		}
		else if (seed_file && *seed_file)
			e = load_file(st, seed_file, err, errsz);
		goto out;
	}

	e = fsutil_mkdirs(dir, 0750);
	if (e) {
		snprintf(err, errsz, "cannot create directory %s: %s", dir,
			 strerror(e));
		goto out;
	}

	st->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->dirfd < 0) {
		e = errno;
		snprintf(err, errsz, "%s: %s", dir, strerror(e));
		goto out;
	}

	e = lock_state(st, err, errsz);
	if (e)
		goto out;

	/* a temporary file left by a crash is incomplete by definition */
	(void)unlink(st->tmp);

	if (stat(state_file, &sb) == 0) {
		e = load_file(st, state_file, err, errsz);
		goto out;
	}
	if (errno != ENOENT) {
		e = errno;
		snprintf(err, errsz, "%s: %s", state_file, strerror(e));
		goto out;
	}

	if (seed_file && *seed_file) {
		e = load_file(st, seed_file, err, errsz);
		if (e)
			goto out;
	}

	{
		int stage;

		e = state_write(st, K_COUNT, NULL, NULL, &stage);
		if (e)
			snprintf(err, errsz, "cannot write %s: %s", state_file,
				 strerror(e));
	}

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


static void route_destructor(void *arg)
{
	struct route *r = arg;

	mem_deref(r->number);
	mem_deref(r->trunk);
	mem_deref(r->inbound_agent);
	mem_deref(r->outbound_agent);
}


/**
 * Find what answers a number: a deep, self-contained copy of the number,
 * its trunk and its agents. Never waits for disk I/O. Thread safe.
 *
 * @param st      Store
 * @param e164    Number, normalised here (separators are stripped)
 * @param routep  Set to the route; mem_deref frees all of it
 *
 * @return 0 if found, ENOENT if no such number, EINVAL if e164 is not a
 *         valid E.164 number, ENOMEM
 */
int store_route(struct store *st, const char *e164, struct route **routep)
{
	char num[E164_SIZE];
	const struct entry *e;
	const struct number *n;
	struct route *r;
	int err = 0;

	if (!st || !routep)
		return EINVAL;
	if (e164_normalize(num, sizeof(num), e164))
		return EINVAL;

	r = mem_zalloc(sizeof(*r), route_destructor);
	if (!r)
		return ENOMEM;

	pthread_rwlock_rdlock(&st->lock);

	e = table_find(&st->tab[K_NUMBER], num);
	if (!e) {
		err = ENOENT;
		goto unlock;
	}
	n = e->obj;

	err = number_dup(&r->number, n);
	if (err)
		goto unlock;

	e = table_find(&st->tab[K_TRUNK], n->trunk_id);
	err = e ? trunk_dup(&r->trunk, e->obj) : ENOENT;
	if (err)
		goto unlock;

	if (n->inbound_agent_id) {
		e = table_find(&st->tab[K_AGENT], n->inbound_agent_id);
		err = e ? agent_dup(&r->inbound_agent, e->obj) : ENOENT;
		if (err)
			goto unlock;
	}
	if (n->outbound_agent_id) {
		e = table_find(&st->tab[K_AGENT], n->outbound_agent_id);
		err = e ? agent_dup(&r->outbound_agent, e->obj) : ENOENT;
	}

 unlock:
	pthread_rwlock_unlock(&st->lock);

	if (err)
		mem_deref(r);
	else
		*routep = r;

	return err;
}


/**
 * Count the stored objects. Thread safe.
 */
void store_counts(struct store *st, uint32_t *agents, uint32_t *trunks,
		  uint32_t *numbers)
{
	if (!st)
		return;

	pthread_rwlock_rdlock(&st->lock);
	if (agents)
		*agents = st->tab[K_AGENT].count;
	if (trunks)
		*trunks = st->tab[K_TRUNK].count;
	if (numbers)
		*numbers = st->tab[K_NUMBER].count;
	pthread_rwlock_unlock(&st->lock);
}


static int get(struct store *st, enum kind k, const char *key, void **objp)
{
	const struct entry *e;
	int err;

	if (!st || !key || !objp)
		return EINVAL;

	pthread_rwlock_rdlock(&st->lock);

	e = table_find(&st->tab[k], key);
	if (!e)
		err = ENOENT;
	else if (k == K_AGENT)
		err = agent_dup((struct agent **)objp, e->obj);
	else if (k == K_TRUNK)
		err = trunk_dup((struct trunk **)objp, e->obj);
	else
		err = number_dup((struct number **)objp, e->obj);

	pthread_rwlock_unlock(&st->lock);

	return err;
}


/**
 * Get a deep copy of an agent. Thread safe.
 *
 * @return 0 if found, ENOENT if not, ENOMEM
 */
int store_agent_get(struct store *st, const char *id, struct agent **ap)
{
	return get(st, K_AGENT, id, (void **)ap);
}


/**
 * Get a deep copy of a trunk. Thread safe.
 *
 * @return 0 if found, ENOENT if not, ENOMEM
 */
int store_trunk_get(struct store *st, const char *id, struct trunk **tp)
{
	return get(st, K_TRUNK, id, (void **)tp);
}


/**
 * Get a deep copy of a number. Thread safe.
 *
 * @param st    Store
 * @param e164  Number (normalised here)
 * @param np    Set to the copy
 *
 * @return 0 if found, ENOENT if not, EINVAL if not E.164, ENOMEM
 */
int store_number_get(struct store *st, const char *e164, struct number **np)
{
	char num[E164_SIZE];

	if (e164_normalize(num, sizeof(num), e164))
		return EINVAL;

	return get(st, K_NUMBER, num, (void **)np);
}


static json_t *encode_all(struct store *st, enum kind k)
{
	json_t *arr;
	struct le *le;

	if (!st)
		return NULL;

	arr = json_array();
	if (!arr)
		return NULL;

	pthread_rwlock_rdlock(&st->lock);
	LIST_FOREACH(&st->tab[k].list, le) {
		const struct entry *e = le->data;

		if (json_array_append_new(arr, obj_encode(k, e->obj, false))) {
			json_decref(arr);
			arr = NULL;
			break;
		}
	}
	pthread_rwlock_unlock(&st->lock);

	return arr;
}


/** All agents as a JSON array, sorted by id, secrets redacted */
json_t *store_agents_encode(struct store *st)
{
	return encode_all(st, K_AGENT);
}


/** All trunks as a JSON array, sorted by id, secrets redacted */
json_t *store_trunks_encode(struct store *st)
{
	return encode_all(st, K_TRUNK);
}


/** All numbers as a JSON array, sorted by number, with status */
json_t *store_numbers_encode(struct store *st)
{
	return encode_all(st, K_NUMBER);
}


/**
 * Create or replace an agent. On disk before it returns. The store takes
 * its own reference to a.
 *
 * @param st        Store
 * @param a         Agent (from agent_decode)
 * @param createdp  Set to true if it did not exist (may be NULL)
 * @param err       Error buffer
 * @param errsz     Size of err [bytes]
 *
 * @return 0 if success, otherwise an errno (see store.h)
 */
int store_agent_put(struct store *st, struct agent *a, bool *createdp,
		    char *err, size_t errsz)
{
	return put(st, K_AGENT, a, createdp, err, errsz);
}


/**
 * Create or replace a trunk. On disk before it returns.
 *
 * @return 0 if success, otherwise an errno (see store.h)
 */
int store_trunk_put(struct store *st, struct trunk *t, bool *createdp,
		    char *err, size_t errsz)
{
	return put(st, K_TRUNK, t, createdp, err, errsz);
}


/**
 * Create or replace a number. Its trunk and agents must exist (EINVAL,
 * err names the field). On disk before it returns.
 *
 * @return 0 if success, otherwise an errno (see store.h)
 */
int store_number_put(struct store *st, struct number *n, bool *createdp,
		     char *err, size_t errsz)
{
	return put(st, K_NUMBER, n, createdp, err, errsz);
}


/**
 * Delete an agent. Refused with EBUSY while numbers use it.
 *
 * @param st     Store
 * @param id     Agent id
 * @param users  If not NULL, the numbers using it are appended (array)
 * @param err    Error buffer; names the numbers using it
 * @param errsz  Size of err [bytes]
 *
 * @return 0 if success, ENOENT, EBUSY, or an errno of the write
 */
int store_agent_delete(struct store *st, const char *id, json_t *users,
		       char *err, size_t errsz)
{
	return del(st, K_AGENT, id, users, err, errsz);
}


/**
 * Delete a trunk. Refused with EBUSY while numbers use it.
 *
 * @return 0 if success, ENOENT, EBUSY, or an errno of the write
 */
int store_trunk_delete(struct store *st, const char *id, json_t *users,
		       char *err, size_t errsz)
{
	return del(st, K_TRUNK, id, users, err, errsz);
}


/**
 * Delete a number; its agents and trunk are not touched
 *
 * @param st     Store
 * @param e164   Number (normalised here)
 * @param err    Error buffer
 * @param errsz  Size of err [bytes]
 *
 * @return 0 if success, ENOENT, EINVAL if not E.164, or a write errno
 */
int store_number_delete(struct store *st, const char *e164, char *err,
			size_t errsz)
{
	char num[E164_SIZE];
	const char *why;

	if (e164_parse(num, sizeof(num), e164, &why)) {
		if (err)
			snprintf(err, errsz, "number %s", why ? why : "invalid");
		return EINVAL;
	}

	return del(st, K_NUMBER, num, NULL, err, errsz);
}
