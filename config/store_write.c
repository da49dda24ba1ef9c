/**
 * @file store_write.c  Mutations: the control thread's write path
 *
 * Under wlock: validate the change, write the whole state with the change
 * applied to the state file crash-safe (fsutil_replace), and only then
 * swap the entry into the tables under the write lock. See the design note
 * in store.c and the locking rules at struct store (store_int.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include "fsutil.h"
#include "store_int.h"


enum {
	USERS_IN_MSG = 10,      /**< numbers named in an in-use message */
};


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
 *     "format": 2,
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
		obuf_str(b, store_kind_list[k]);
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


int store_state_write(struct store *st, enum kind ck, const char *key,
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
		e = store_entry_alloc(&ne, k, cobj);
		if (e)
			return e;
	}

	e = store_state_write(st, k, key, ne, &stage);
	if (e) {
		if (stage) {
			int s2;

			/* the new file is in place but maybe not durable:
			   put the old state back so that disk matches memory */
			(void)store_state_write(st, K_COUNT, NULL, NULL, &s2);
		}
		if (err)
			snprintf(err, errsz, "cannot write %s: %s; nothing "
				 "changed", st->path, strerror(e));
		mem_deref(ne);
		return e;
	}

	pthread_rwlock_wrlock(&st->lock);
	old = store_table_find(&st->tab[k], key);
	if (old)
		store_table_remove(&st->tab[k], old);
	if (ne)
		store_table_insert(&st->tab[k], ne);
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
					 "number", store_kind_one[k], id);
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
	const char *key = store_obj_key(k, obj);
	bool exists;
	int e;

	if (!st || !obj || !key)
		return EINVAL;

	pthread_mutex_lock(&st->wlock);

	if (k == K_NUMBER) {
		e = store_refs_check(st, obj, err, errsz);
		if (e)
			goto out;
	}

	exists = store_table_find(&st->tab[k], key) != NULL;

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

	if (!store_table_find(&st->tab[k], key)) {
		if (err)
			snprintf(err, errsz, "no such %s \"%s\"",
				 store_kind_one[k], key);
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
