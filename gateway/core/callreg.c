/**
 * @file callreg.c  Registry of calls in progress
 *
 * Locking: `lock` guards the hash and every entry in it. Taken by the SIP
 * thread at call set-up, state changes and tear-down, by each worker once a
 * second, and by the control thread for views. Never per packet.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include "cb_re.h"
#include "callreg.h"

struct entry {
	struct le he;             /**< in ht, or in the history list */
	struct callreg_info info;
	enum call_state state;
	enum end_reason reason;   /**< why it ended, END_NONE while active */
	time_t started;           /**< wall clock [s]    */
	time_t ended;             /**< wall clock [s], 0 while active */
	struct media_stats stats;
};

struct callreg {
	pthread_mutex_t lock;
	struct hash *ht;          /**< active entries by id           */
	struct list history;      /**< ended entries, newest last     */
	uint32_t count;
	uint64_t added;           /**< calls ever added               */
	uint64_t ended[END_REASON_COUNT]; /**< calls ever removed, by
					     reason                    */
};


static void destructor(void *arg)
{
	struct callreg *reg = arg;

	hash_flush(reg->ht);
	mem_deref(reg->ht);
	list_flush(&reg->history);
	pthread_mutex_destroy(&reg->lock);
}


int callreg_alloc(struct callreg **regp)
{
	struct callreg *reg;
	int err;

	if (!regp)
		return EINVAL;

	reg = mem_zalloc(sizeof(*reg), destructor);
	if (!reg)
		return ENOMEM;

	pthread_mutex_init(&reg->lock, NULL);

	err = hash_alloc(&reg->ht, 256);
	if (err)
		mem_deref(reg);
	else
		*regp = reg;

	return err;
}


static bool id_cmp(struct le *le, void *arg)
{
	const struct entry *e = le->data;

	return e->info.id == *(uint64_t *)arg;
}


static struct entry *find(struct callreg *reg, uint64_t id)
{
	return list_ledata(hash_lookup(reg->ht, (uint32_t)id, id_cmp, &id));
}


static void entry_destructor(void *arg)
{
	struct entry *e = arg;

	list_unlink(&e->he);
}


/** Add a call (SIP thread) */
int callreg_add(struct callreg *reg, const struct callreg_info *info)
{
	struct entry *e;

	if (!reg || !info)
		return EINVAL;

	e = mem_zalloc(sizeof(*e), entry_destructor);
	if (!e)
		return ENOMEM;

	e->info = *info;
	e->state = info->state;
	e->started = time(NULL);

	pthread_mutex_lock(&reg->lock);
	hash_append(reg->ht, (uint32_t)info->id, &e->he, e);
	++reg->count;
	++reg->added;
	pthread_mutex_unlock(&reg->lock);

	return 0;
}


/** Set a call's state (SIP thread) */
void callreg_state(struct callreg *reg, uint64_t id, enum call_state state)
{
	struct entry *e;

	if (!reg)
		return;

	pthread_mutex_lock(&reg->lock);
	e = find(reg, id);
	if (e)
		e->state = state;
	pthread_mutex_unlock(&reg->lock);
}


/** Publish a call's media statistics (worker, about once a second) */
void callreg_publish(struct callreg *reg, uint64_t id,
		     const struct media_stats *st)
{
	struct entry *e;

	if (!reg || !st)
		return;

	pthread_mutex_lock(&reg->lock);
	e = find(reg, id);
	if (e)
		e->stats = *st;
	pthread_mutex_unlock(&reg->lock);
}


/**
 * A call is gone (SIP thread): move it to the history
 *
 * @param reg     Registry
 * @param id      Call id
 * @param state   Its final state
 * @param reason  Why it ended
 * @param final   Final media statistics, or NULL to keep the last ones
 */
void callreg_remove(struct callreg *reg, uint64_t id, enum call_state state,
		    enum end_reason reason, const struct media_stats *final)
{
	struct entry *e;

	if (!reg)
		return;

	pthread_mutex_lock(&reg->lock);
	e = find(reg, id);
	if (e) {
		hash_unlink(&e->he);
		--reg->count;
		if ((unsigned)reason < END_REASON_COUNT)
			++reg->ended[reason];

		e->state = state;
		e->reason = reason;
		e->ended = time(NULL);
		if (final)
			e->stats = *final;

		list_append(&reg->history, &e->he, e);
		while (list_count(&reg->history) > CALLREG_HISTORY)
			mem_deref(list_ledata(list_head(&reg->history)));
	}
	pthread_mutex_unlock(&reg->lock);
}


/** Calls in progress */
uint32_t callreg_count(struct callreg *reg)
{
	uint32_t n;

	if (!reg)
		return 0;

	pthread_mutex_lock(&reg->lock);
	n = reg->count;
	pthread_mutex_unlock(&reg->lock);

	return n;
}


/**
 * The totals since start-up (control thread): {"started": N, "ended":
 * {"caller-bye": N, ...}}, every end reason but "none" named, so that
 * started = active + the sum of ended at any moment
 *
 * @param reg  Registry
 * @param obj  Object to set "started" and "ended" in
 *
 * @return 0 if success, otherwise errorcode
 */
int callreg_totals(struct callreg *reg, json_t *obj)
{
	uint64_t ended[END_REASON_COUNT], added;
	json_t *o;
	int err = 0;

	if (!reg || !json_is_object(obj))
		return EINVAL;

	pthread_mutex_lock(&reg->lock);
	added = reg->added;
	memcpy(ended, reg->ended, sizeof(ended));
	pthread_mutex_unlock(&reg->lock);

	o = json_object();
	if (!o)
		return ENOMEM;

	for (unsigned r = END_NONE + 1; r < END_REASON_COUNT; r++) {
		if (json_object_set_new(o,
				callstate_reason_name((enum end_reason)r),
					json_integer((json_int_t)ended[r])))
			err = ENOMEM;
	}
	if (json_object_set_new(obj, "started", json_integer(
					(json_int_t)added)))
		err = ENOMEM;
	if (json_object_set_new(obj, "ended", o))
		err = ENOMEM;

	return err;
}


static json_t *entry_json(const struct entry *e)
{
	time_t end = e->ended ? e->ended : time(NULL);
	json_t *o;

	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:o}",
		      "call_sid", e->info.call_sid,
		      "number", e->info.number,
		      "from", e->info.from,
		      "agent_id", e->info.agent_id,
		      "trunk_id", e->info.trunk_id,
		      "codec", e->info.codec,
		      "state", callstate_name(e->state),
		      "worker", (int)e->info.worker,
		      "duration_s", (json_int_t)(end - e->started),
		      "stats", mstats_json(&e->stats));
	if (o && e->ended)
		json_object_set_new(o, "end_reason",
				    json_string(callstate_reason_name(e->reason)));

	return o;
}


static bool reg_list_apply(struct le *le, void *arg)
{
	json_array_append_new(arg, entry_json(le->data));
	return false;
}


/** Append every call to a JSON array (control thread) */
int callreg_list(struct callreg *reg, json_t *arr)
{
	if (!reg || !json_is_array(arr))
		return EINVAL;

	pthread_mutex_lock(&reg->lock);
	(void)hash_apply(reg->ht, reg_list_apply, arr);
	pthread_mutex_unlock(&reg->lock);

	return 0;
}


/** Append the recently ended calls, oldest first (control thread) */
int callreg_recent(struct callreg *reg, json_t *arr)
{
	if (!reg || !json_is_array(arr))
		return EINVAL;

	pthread_mutex_lock(&reg->lock);
	(void)list_apply(&reg->history, true, reg_list_apply, arr);
	pthread_mutex_unlock(&reg->lock);

	return 0;
}


struct get_arg {
	const char *sid;
	const struct entry *found;
};


static bool get_apply(struct le *le, void *arg)
{
	struct get_arg *ga = arg;
	const struct entry *e = le->data;

	if (strcmp(e->info.call_sid, ga->sid))
		return false;

	ga->found = e;
	return true;
}


/** Fill obj with the call (active or recent) with this callSid */
int callreg_get(struct callreg *reg, const char *call_sid, json_t *obj)
{
	struct get_arg ga = {call_sid, NULL};
	int err = 0;

	if (!reg || !call_sid || !obj)
		return EINVAL;

	pthread_mutex_lock(&reg->lock);
	(void)hash_apply(reg->ht, get_apply, &ga);
	if (!ga.found)
		(void)list_apply(&reg->history, false, get_apply, &ga);
	if (ga.found)
		json_object_set_new(obj, "call", entry_json(ga.found));
	else
		err = ENOENT;
	pthread_mutex_unlock(&reg->lock);

	return err;
}
