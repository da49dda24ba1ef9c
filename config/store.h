/**
 * @file store.h  The live store of agents, trunks and numbers
 *
 * Threads: mutations (put, delete) come from the control thread; reads
 * (store_route, get, list, counts) from any thread. A mutation is on disk
 * before it returns and before any reader can see it. Readers never wait
 * for disk I/O: they take a read lock that writers hold only while they
 * swap entries in memory. Readers get deep copies, so a call keeps the
 * agent it started with whatever happens to the store later.
 *
 * Errors of mutations:
 *   EINVAL  the change breaks a rule (message in err: a missing trunk...)
 *   ENOENT  delete of something that does not exist
 *   EBUSY   delete of an agent or trunk that numbers use (err names them)
 *   other   the state file could not be written; memory and disk keep
 *           the old state
 */
#ifndef CB_STORE_H
#define CB_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include "cb_re.h"
#include "model.h"

struct store;

/** What the SIP side needs for one call, deep-copied (mem_deref frees all) */
struct route {
	struct number *number;
	struct trunk *trunk;
	struct agent *inbound_agent;    /**< NULL when unassigned */
	struct agent *outbound_agent;   /**< NULL when unassigned */
};

/** Largest state file accepted at start-up [bytes] */
#define STORE_FILE_MAX (256u * 1024 * 1024)

int  store_open(struct store **stp, const char *state_file,
		const char *seed_file, char *err, size_t errsz);
int  store_check(struct store **stp, const char *state_file,
		  const char *seed_file, char *err, size_t errsz);

/* Readers: any thread */
int  store_route(struct store *st, const char *e164, struct route **routep);
void store_counts(struct store *st, uint32_t *agents, uint32_t *trunks,
		  uint32_t *numbers);
int  store_agent_get(struct store *st, const char *id, struct agent **ap);
int  store_trunk_get(struct store *st, const char *id, struct trunk **tp);
int  store_number_get(struct store *st, const char *e164,
		      struct number **np);
json_t *store_agents_encode(struct store *st);
json_t *store_trunks_encode(struct store *st);
json_t *store_numbers_encode(struct store *st);

/* Mutations: the control thread (serialised internally) */
int  store_agent_put(struct store *st, struct agent *a, bool *createdp,
		     char *err, size_t errsz);
int  store_trunk_put(struct store *st, struct trunk *t, bool *createdp,
		     char *err, size_t errsz);
int  store_number_put(struct store *st, struct number *n, bool *createdp,
		      char *err, size_t errsz);
int  store_agent_delete(struct store *st, const char *id, json_t *users,
			char *err, size_t errsz);
int  store_trunk_delete(struct store *st, const char *id, json_t *users,
			char *err, size_t errsz);
int  store_number_delete(struct store *st, const char *e164,
			 char *err, size_t errsz);

#endif
