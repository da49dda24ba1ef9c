/**
 * @file store_int.h  Internals of the store, shared by config/store*.c only
 *
 * The store is split along its jobs (design note: store.c):
 *   store.c        open and check: paths, directory, lock file, first load
 *   store_table.c  the in-memory tables: entries, lookup, sorted insert,
 *                  the references between them
 *   store_load.c   read and validate a state (or seed) file into the tables
 *   store_write.c  mutations: validate, write the file crash-safe, swap in
 *   store_read.c   readers: route lookup, gets, counts, listings
 */
#ifndef CB_STORE_INT_H
#define CB_STORE_INT_H

#include <pthread.h>
#include "model_int.h"
#include "store.h"


enum kind {
	K_AGENT = 0,
	K_TRUNK,
	K_NUMBER,

	K_COUNT
};

/** Names of the kinds: the state file's arrays ("agents"), and one */
extern const char *const store_kind_list[K_COUNT];
extern const char *const store_kind_one[K_COUNT];

/** Versions of the state file's layout ("format"). Written: the
    current one. Read: any since the oldest; a file in an older format is
    rewritten in the current one when the daemon opens it.
      1  a trunk's media_encryption in its outbound block
      2  a trunk's media_encryption on the trunk (both directions);
         a trunk's rtp_latching */
enum {
	STATE_FORMAT     = 2,
	STATE_FORMAT_MIN = 1,
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

/** One kind's objects, under the locks of struct store */
struct table {
	struct list list;
	struct hash *hash;
	uint32_t count;
};

/**
 * Threads: the control thread (cb-ctl) is the only writer (store_write.c);
 * the SIP thread (cb-sip) reads for each INVITE (store_route), cb-ctl
 * reads for gets and listings (store_read.c). Loading (store_load.c)
 * happens in store_open, before any other thread sees the store.
 *
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


/* store_table.c */
const char *store_obj_key(enum kind k, const void *obj);
json_t *store_obj_encode(enum kind k, const void *obj, bool state);
struct entry *store_table_find(const struct table *t, const char *key);
void store_table_insert(struct table *t, struct entry *e);
void store_table_remove(struct table *t, struct entry *e);
int  store_entry_alloc(struct entry **ep, enum kind k, void *obj);
int  store_refs_check(const struct store *st, const struct number *n,
		      char *err, size_t errsz);

/* store_load.c */
int  store_load_file(struct store *st, const char *file, int *fmtp,
		     char *err,
		     size_t errsz);

/* store_write.c */
int  store_state_write(struct store *st, enum kind ck, const char *key,
		       const struct entry *ne, int *stagep);

#endif
