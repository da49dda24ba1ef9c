/**
 * @file store_table.c  The store's in-memory tables
 *
 * One table per kind (agents, trunks, numbers): a hash for lookups and a
 * list kept sorted by key for listings and for a stable state file. Each
 * entry holds its object and the object's state-file text, so that a write
 * only concatenates texts. Callers hold the locks that struct store
 * (store_int.h) prescribes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include "store_int.h"


const char *const store_kind_list[K_COUNT] = {"agents", "trunks", "numbers"};
const char *const store_kind_one[K_COUNT] = {"agent", "trunk", "number"};


static void entry_destructor(void *arg)
{
	struct entry *e = arg;

	list_unlink(&e->le);
	hash_unlink(&e->he);
	mem_deref(e->obj);
	free(e->text);
}


const char *store_obj_key(enum kind k, const void *obj)
{
	switch (k) {

	case K_AGENT:  return ((const struct agent *)obj)->id;
	case K_TRUNK:  return ((const struct trunk *)obj)->id;
	case K_NUMBER: return ((const struct number *)obj)->number;
	default:       return NULL;
	}
}


/* Encode for replies (redacted, with status) or for the state file */
json_t *store_obj_encode(enum kind k, const void *obj, bool state)
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


struct entry *store_table_find(const struct table *t, const char *key)
{
	struct le *le;

	if (!key)
		return NULL;

	le = hash_lookup(t->hash, hash_joaat_str(key), key_cmp_handler,
			 (void *)key);

	return le ? le->data : NULL;
}


/* Insert keeping the list sorted; sorted input appends in O(1) */
void store_table_insert(struct table *t, struct entry *e)
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


void store_table_remove(struct table *t, struct entry *e)
{
	list_unlink(&e->le);
	hash_unlink(&e->he);
	--t->count;
}


/* An entry holds its object and the object's state-file text, encoded
   once: writing the state file then only concatenates texts */
int store_entry_alloc(struct entry **ep, enum kind k, void *obj)
{
	struct entry *e = mem_zalloc(sizeof(*e), entry_destructor);
	json_t *j;

	if (!e)
		return ENOMEM;

	e->obj = mem_ref(obj);
	e->key = store_obj_key(k, obj);

	j = store_obj_encode(k, obj, true);
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


/* Check that a number's trunk and agents exist (caller holds a lock) */
int store_refs_check(const struct store *st, const struct number *n,
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
		if (!refs[i].id ||
		    store_table_find(&st->tab[refs[i].k], refs[i].id))
			continue;

		if (err)
			snprintf(err, errsz, "%s \"%s\": no such %s",
				 refs[i].field, refs[i].id,
				 store_kind_one[refs[i].k]);
		return EINVAL;
	}

	return 0;
}
