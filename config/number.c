/**
 * @file number.c  Number: an E.164 number, its trunk and its agents
 *
 * Decoding checks the fields of one number. Whether its trunk and agents
 * exist is the store's business (store.c), as is its uniqueness.
 */
#include <string.h>
#include <errno.h>
#include "model_int.h"


static const char *const number_keys[] = {
	"number", "friendly_name", "trunk_id", "inbound_agent_id",
	"outbound_agent_id", "outbound_shareable", "codecs", "status", NULL
};


static void destructor(void *arg)
{
	struct number *n = arg;

	mem_deref(n->friendly_name);
	mem_deref(n->trunk_id);
	mem_deref(n->inbound_agent_id);
	mem_deref(n->outbound_agent_id);
}


static int slug_field(struct model_ctx *c, const json_t *j, const char *key,
		      unsigned flags, char **sp)
{
	char q[64];
	int err;

	err = model_dec_str(c, j, key, flags, MODEL_ID_MAX + 16, sp);
	if (err)
		return err;

	if (*sp && !model_slug_valid(*sp)) {
		model_quote(q, sizeof(q), *sp);
		*sp = mem_deref(*sp);
		return model_fail(c, key, "%s is not a valid id", q);
	}

	return 0;
}


/**
 * Decode and validate a number from JSON. The number is normalised
 * ("+1 (415) 555-1234" becomes "+14155551234"). "status" is derived and
 * ignored on input.
 *
 * @param np     Set to the new number
 * @param j      JSON object
 * @param err    Error buffer, names the field
 * @param errsz  Size of err [bytes]
 *
 * @return 0 if success, EINVAL if invalid, ENOMEM
 */
int number_decode(struct number **np, const json_t *j, char *err,
		  size_t errsz)
{
	struct model_ctx c = {err, errsz, ""};
	const json_t *v;
	struct number *n;
	const char *why;
	char q[64];
	int e;

	if (!np)
		return EINVAL;

	e = model_dec_keys(&c, j, number_keys);
	if (e)
		return e;

	n = mem_zalloc(sizeof(*n), destructor);
	if (!n)
		return ENOMEM;

	v = json_object_get(j, "number");
	if (!v || json_is_null(v)) {
		e = model_fail(&c, "number", "is required");
		goto out;
	}
	if (!json_is_string(v)) {
		e = model_fail(&c, "number", "must be a string");
		goto out;
	}
	if (e164_parse(n->number, sizeof(n->number), json_string_value(v),
		       &why)) {
		model_quote(q, sizeof(q), json_string_value(v));
		e = model_fail(&c, "number", "%s %s", q, why);
		goto out;
	}

	e = model_dec_str(&c, j, "friendly_name", MODEL_F_REQUIRED,
			  MODEL_NAME_MAX, &n->friendly_name);
	if (e)
		goto out;

	e = slug_field(&c, j, "trunk_id", MODEL_F_REQUIRED, &n->trunk_id);
	if (e)
		goto out;
	e = slug_field(&c, j, "inbound_agent_id", 0, &n->inbound_agent_id);
	if (e)
		goto out;
	e = slug_field(&c, j, "outbound_agent_id", 0, &n->outbound_agent_id);
	if (e)
		goto out;

	e = model_dec_bool(&c, j, "outbound_shareable",
			   &n->outbound_shareable);
	if (e)
		goto out;

	e = model_dec_codecs(&c, j, "codecs", n->codecs, &n->codecc);
	if (e)
		goto out;

	v = json_object_get(j, "status");
	if (v && !json_is_null(v) && !json_is_string(v))
		e = model_fail(&c, "status", "must be a string (it is derived "
			       "and ignored on input)");

 out:
	if (e)
		mem_deref(n);
	else
		*np = n;

	return e;
}


/**
 * Encode a number as JSON. Numbers have no secrets.
 *
 * @param n            Number
 * @param with_status  Add the derived "status" (replies), or not (state
 *                     file)
 *
 * @return New JSON object, or NULL if out of memory
 */
json_t *number_encode(const struct number *n, bool with_status)
{
	json_t *o;
	int err = 0;

	if (!n)
		return NULL;

	o = json_object();
	if (!o)
		return NULL;

	err |= model_enc_set(o, "number", json_string(n->number));
	err |= model_enc_set(o, "friendly_name",
			     json_string(n->friendly_name));
	err |= model_enc_set(o, "trunk_id", json_string(n->trunk_id));
	err |= model_enc_set(o, "inbound_agent_id",
			     model_enc_optstr(n->inbound_agent_id));
	err |= model_enc_set(o, "outbound_agent_id",
			     model_enc_optstr(n->outbound_agent_id));
	err |= model_enc_set(o, "outbound_shareable",
			     json_boolean(n->outbound_shareable));
	err |= model_enc_set(o, "codecs",
			     model_enc_codecs(n->codecs, n->codecc));
	if (with_status)
		err |= model_enc_set(o, "status", json_string(
				number_status_name(number_status(n))));
	if (err) {
		json_decref(o);
		return NULL;
	}

	return o;
}


/**
 * Deep-copy a number
 *
 * @param np  Set to the copy
 * @param n   Number
 *
 * @return 0 if success, otherwise an errno
 */
int number_dup(struct number **np, const struct number *n)
{
	struct number *d;
	int err = 0;

	if (!np || !n)
		return EINVAL;

	d = mem_zalloc(sizeof(*d), destructor);
	if (!d)
		return ENOMEM;

	memcpy(d->number, n->number, sizeof(d->number));
	d->outbound_shareable = n->outbound_shareable;
	memcpy(d->codecs, n->codecs, sizeof(d->codecs));
	d->codecc = n->codecc;
	err |= model_str_dup(&d->friendly_name, n->friendly_name);
	err |= model_str_dup(&d->trunk_id, n->trunk_id);
	err |= model_str_dup(&d->inbound_agent_id, n->inbound_agent_id);
	err |= model_str_dup(&d->outbound_agent_id, n->outbound_agent_id);
	if (err) {
		mem_deref(d);
		return ENOMEM;
	}

	*np = d;
	return 0;
}


/**
 * The derived status of a number
 *
 * @return NUMBER_ACTIVE when an inbound or outbound agent is assigned
 */
enum number_status number_status(const struct number *n)
{
	return (n && (n->inbound_agent_id || n->outbound_agent_id)) ?
		NUMBER_ACTIVE : NUMBER_INACTIVE;
}


/** "active" or "inactive" */
const char *number_status_name(enum number_status s)
{
	return s == NUMBER_ACTIVE ? "active" : "inactive";
}
