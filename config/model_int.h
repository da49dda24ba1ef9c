/**
 * @file model_int.h  Internal helpers of the model: JSON field decoding
 *
 * Each decoder works on one JSON object and one context that carries the
 * error buffer and the field path prefix ("outbound."), so that every error
 * names the full field: "outbound.port: must be an integer 1..65535".
 * Values are quoted in errors only after sanitising (printable, truncated),
 * and secrets are never quoted.
 */
#ifndef CB_MODEL_INT_H
#define CB_MODEL_INT_H

#include <stdarg.h>
#include "model.h"

/** Decode context */
struct model_ctx {
	char *err;            /**< error buffer (may be NULL)         */
	size_t errsz;         /**< size of err [bytes]                */
	const char *path;     /**< field path prefix, e.g. "outbound." */
};

/** Flags of model_dec_str() */
enum {
	MODEL_F_REQUIRED = 1 << 0,  /**< absent, null or "" is an error  */
	MODEL_F_SECRET   = 1 << 1,  /**< never quote the value in errors */
	MODEL_F_EMPTY    = 1 << 2,  /**< keep "" as "" instead of NULL   */
};

int  model_fail(struct model_ctx *c, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void model_quote(char *buf, size_t sz, const char *s);
bool model_host_valid(const char *s);
bool model_ws_url_valid(const char *url, const char **why);

int  model_dec_keys(struct model_ctx *c, const json_t *obj,
		    const char *const *allowed);
int  model_dec_id_name(struct model_ctx *c, const json_t *obj, char **idp,
		       char **namep);
int  model_dec_obj(struct model_ctx *c, const json_t *obj, const char *key,
		   const json_t **vp);
int  model_dec_str(struct model_ctx *c, const json_t *obj, const char *key,
		   unsigned flags, size_t max, char **sp);
int  model_dec_bool(struct model_ctx *c, const json_t *obj, const char *key,
		    bool *bp);
int  model_dec_uint(struct model_ctx *c, const json_t *obj, const char *key,
		    uint32_t min, uint32_t max, uint32_t *vp);
int  model_dec_enum(struct model_ctx *c, const json_t *obj, const char *key,
		    const char *const *names, int *vp);
int  model_dec_secret_keep(struct model_ctx *c, const json_t *obj,
			   const char *key, const char *old, char **sp);
int  model_dec_codecs(struct model_ctx *c, const json_t *obj, const char *key,
		      enum model_codec *codecs, uint32_t *countp);

typedef int (model_kv_check_h)(struct model_ctx *c, const char *key,
			       const char *name, const char *value);
int  model_dec_kv(struct model_ctx *c, const json_t *obj, const char *key,
		  uint32_t maxc, model_kv_check_h *checkh,
		  struct model_kv **kvp, uint32_t *countp);

void model_kv_free(struct model_kv *kv, uint32_t n);
int  model_kv_dup(struct model_kv **dstp, const struct model_kv *src,
		  uint32_t n);
int  model_str_dup(char **dst, const char *src);

json_t *model_enc_kv(const struct model_kv *kv, uint32_t n);
json_t *model_enc_codecs(const enum model_codec *codecs, uint32_t n);
int  model_enc_set(json_t *obj, const char *key, json_t *v);
json_t *model_enc_optstr(const char *s);

#endif
