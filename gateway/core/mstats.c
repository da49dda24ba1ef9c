/**
 * @file mstats.c  A call's media statistics in views and the log
 *
 * mstats.h's tables become one array of descriptors (group, name, type,
 * where in struct media_stats, logged or not), which the view and the log
 * line walk.
 */
#include <stddef.h>
#include <string.h>
#include "cb_re.h"
#include "mstats.h"

enum mtype { U64, U32, DBL };
enum mlog { NOLOG, LOG };

struct mdesc {
	const char *group;   /**< key of the sub-object, NULL: top level */
	const char *name;
	enum mtype type;
	size_t off;          /**< in struct media_stats                   */
	enum mlog log;
};

#define DESC(group, path, name, type, log)				\
	{group, #name, type, offsetof(struct media_stats, path name), log},
#define D_CALL(name, type, from, log)					\
	DESC(NULL, , name, type, log)
#define D_JB(name, type, from, log)					\
	DESC("jitter_buffer", jb., name, type, log)
#define D_DEC(name, type, from, log)					\
	DESC("decoder", decoder., name, type, log)
#define D_REM(name, type, from, log)					\
	DESC("remote", remote., name, type, log)

static const struct mdesc descs[] = {
	MSTATS_CALL(D_CALL)
	MSTATS_JB(D_JB)
	MSTATS_DECODER(D_DEC)
	MSTATS_REMOTE(D_REM)
};

/* the log line's short names of the groups */
static const char *log_prefix(const char *group)
{
	if (!group)
		return "";

	return !strcmp(group, "jitter_buffer") ? "jb." :
		!strcmp(group, "decoder") ? "decoder." : "remote.";
}


static json_t *value_json(const struct media_stats *st,
			  const struct mdesc *d)
{
	const uint8_t *p = (const uint8_t *)st + d->off;

	switch (d->type) {
	case U64: return json_integer((json_int_t)*(const uint64_t *)p);
	case U32: return json_integer((json_int_t)*(const uint32_t *)p);
	default:  return json_real(*(const double *)p);
	}
}


/** The statistics as the "stats" object of a call view */
json_t *mstats_json(const struct media_stats *st)
{
	json_t *o = json_object();

	if (!o)
		return NULL;

	for (size_t i = 0; i < ARRAY_SIZE(descs); i++) {
		const struct mdesc *d = &descs[i];
		json_t *dst = o;

		if (d->group) {
			dst = json_object_get(o, d->group);
			if (!dst) {
				dst = json_object();
				if (json_object_set_new(o, d->group, dst))
					goto fail;
			}
		}

		/* json_object_set_new frees the value when it fails */
		if (json_object_set_new(dst, d->name, value_json(st, d)))
			goto fail;
	}

	return o;

 fail:
	json_decref(o);
	return NULL;
}


/**
 * Print the figures of the end-of-call log line (re_printf handler):
 * " rtp_rx 1500 rtp_tx 1500 ... jb.lost 0 ..."
 */
int mstats_log(struct re_printf *pf, const struct media_stats *st)
{
	int err = 0;

	for (size_t i = 0; i < ARRAY_SIZE(descs); i++) {
		const struct mdesc *d = &descs[i];
		const uint8_t *p = (const uint8_t *)st + d->off;
		const char *pre = log_prefix(d->group);

		if (d->log != LOG)
			continue;

		if (d->type == DBL)
			err |= re_hprintf(pf, " %s%s %.1f", pre, d->name,
					  *(const double *)p);
		else
			err |= re_hprintf(pf, " %s%s %llu", pre, d->name,
					  (unsigned long long)(d->type == U64 ?
					  *(const uint64_t *)p :
					  *(const uint32_t *)p));
	}

	return err;
}
