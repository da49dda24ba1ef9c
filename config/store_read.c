/**
 * @file store_read.c  Readers: route lookup, gets, counts, listings
 *
 * Any thread (the SIP thread for store_route on each INVITE, the control
 * thread for the rest). Readers hold the table lock for reading only while
 * they copy what they need, so they wait at most for a writer's pointer
 * swap, never for the disk; what they return is a deep copy.
 */
#include <string.h>
#include <errno.h>
#include "store_int.h"


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

	e = store_table_find(&st->tab[K_NUMBER], num);
	if (!e) {
		err = ENOENT;
		goto unlock;
	}
	n = e->obj;

	err = number_dup(&r->number, n);
	if (err)
		goto unlock;

	e = store_table_find(&st->tab[K_TRUNK], n->trunk_id);
	err = e ? trunk_dup(&r->trunk, e->obj) : ENOENT;
	if (err)
		goto unlock;

	if (n->inbound_agent_id) {
		e = store_table_find(&st->tab[K_AGENT], n->inbound_agent_id);
		err = e ? agent_dup(&r->inbound_agent, e->obj) : ENOENT;
		if (err)
			goto unlock;
	}
	if (n->outbound_agent_id) {
		e = store_table_find(&st->tab[K_AGENT], n->outbound_agent_id);
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

	e = store_table_find(&st->tab[k], key);
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

		if (json_array_append_new(arr, store_obj_encode(k, e->obj,
								false))) {
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
