/**
 * @file mstats.c  A call's media statistics in views and the log
 */
#include "cb_re.h"
#include "mstats.h"

#define JSON_U64(v) json_integer((json_int_t)(v))
#define JSON_U32(v) json_integer((json_int_t)(v))
#define JSON_DBL(v) json_real(v)


/** The statistics as the "stats" object of a call view */
json_t *mstats_json(const struct media_stats *st)
{
	json_t *o = json_object(), *jb = json_object(), *rem = json_object();
	json_t *xc = json_object();

	if (!o || !jb || !rem || !xc)
		goto fail;

#define X(name, type, from, log)					\
	if (json_object_set_new(o, #name, JSON_##type(st->name)))	\
		goto fail;
	MSTATS_CALL(X)
#undef X
#define X(name, type, from, log)					\
	if (json_object_set_new(jb, #name, JSON_##type(st->jb.name)))	\
		goto fail;
	MSTATS_JB(X)
#undef X
#define X(name, type, from, log)					\
	if (json_object_set_new(xc, #name, JSON_##type(st->decoder.name)))	\
		goto fail;
	MSTATS_DECODER(X)
#undef X
#define X(name, type, from, log)					\
	if (json_object_set_new(rem, #name,				\
				JSON_##type(st->remote.name)))		\
		goto fail;
	MSTATS_REMOTE(X)
#undef X

	/* json_object_set_new takes the reference even when it fails */
	if (json_object_set_new(o, "jitter_buffer", jb)) {
		jb = NULL;
		goto fail;
	}
	jb = NULL;
	if (json_object_set_new(o, "decoder", xc)) {
		xc = NULL;
		goto fail;
	}
	xc = NULL;
	if (json_object_set_new(o, "remote", rem)) {
		rem = NULL;
		goto fail;
	}

	return o;

 fail:
	json_decref(jb);
	json_decref(xc);
	json_decref(rem);
	json_decref(o);
	return NULL;
}


#define FMT_U64 " %s%s %llu"
#define FMT_U32 " %s%s %llu"
#define FMT_DBL " %s%s %.1f"
#define VAL_U64(v) (unsigned long long)(v)
#define VAL_U32(v) (unsigned long long)(v)
#define VAL_DBL(v) (v)
#define IF_LOG(x)   x
#define IF_NOLOG(x)


/**
 * Print the figures of the end-of-call log line (re_printf handler):
 * " rtp_rx 1500 rtp_tx 1500 ... jb.lost 0 ..."
 */
int mstats_log(struct re_printf *pf, const struct media_stats *st)
{
	int err = 0;

#define X(name, type, from, log)					\
	IF_##log(err |= re_hprintf(pf, FMT_##type, "", #name,		\
				   VAL_##type(st->name));)
	MSTATS_CALL(X)
#undef X
#define X(name, type, from, log)					\
	IF_##log(err |= re_hprintf(pf, FMT_##type, "jb.", #name,	\
				   VAL_##type(st->jb.name));)
	MSTATS_JB(X)
#undef X
#define X(name, type, from, log)					\
	IF_##log(err |= re_hprintf(pf, FMT_##type, "decoder.", #name,	\
				   VAL_##type(st->decoder.name));)
	MSTATS_DECODER(X)
#undef X
#define X(name, type, from, log)					\
	IF_##log(err |= re_hprintf(pf, FMT_##type, "remote.", #name,	\
				   VAL_##type(st->remote.name));)
	MSTATS_REMOTE(X)
#undef X

	return err;
}
