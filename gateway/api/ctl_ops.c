/**
 * @file ctl_ops.c  Control socket: one request line in, one reply line out
 *
 * Requests are JSON objects `{"id": ..., "op": "...", ...}`. Each op lists
 * the fields it accepts; any other field is a bad_request, so that a typo
 * never silently does nothing. The singular of the collection carries the
 * object or its key: {"op":"agents.put","agent":{...}},
 * {"op":"agents.get","agent":"support"}, {"op":"numbers.delete",
 * "number":"+14155551234"}.
 *
 * Secrets never leave: objects in replies are encoded with MODEL_REDACT,
 * and logs name only ops, ids and numbers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>
#include "cb_re.h"
#include "callreg.h"
#include "gwstats.h"
#include "store.h"
#include "log.h"
#include "ctl_ops.h"


/** Error codes of the protocol (docs/control-protocol.md) */
enum code {
	C_OK = 0,
	C_PARSE_ERROR,
	C_BAD_REQUEST,
	C_UNKNOWN_OP,
	C_INVALID,
	C_NOT_FOUND,
	C_IN_USE,
	C_STORAGE,
	C_INTERNAL,
};

static const char *const code_names[] = {
	"ok", "parse_error", "bad_request", "unknown_op", "invalid",
	"not_found", "in_use", "storage", "internal",
};

enum kind { K_AGENT, K_TRUNK, K_NUMBER };

/* the store's calls for one kind of object, typed for the table below */
static int agent_get(struct store *st, const char *key, void **op)
{
	return store_agent_get(st, key, (struct agent **)op);
}
static int trunk_get(struct store *st, const char *key, void **op)
{
	return store_trunk_get(st, key, (struct trunk **)op);
}
static int number_get(struct store *st, const char *key, void **op)
{
	return store_number_get(st, key, (struct number **)op);
}
static int agent_dec(void **op, const json_t *j, const void *old,
		     char *msg, size_t sz)
{
	return agent_decode((struct agent **)op, j, old, msg, sz);
}
static int trunk_dec(void **op, const json_t *j, const void *old,
		     char *msg, size_t sz)
{
	return trunk_decode((struct trunk **)op, j, old, msg, sz);
}
static int number_dec(void **op, const json_t *j, const void *old,
		      char *msg, size_t sz)
{
	(void)old;
	return number_decode((struct number **)op, j, msg, sz);
}
static int agent_put(struct store *st, void *o, bool *cp, char *m, size_t z)
{
	return store_agent_put(st, o, cp, m, z);
}
static int trunk_put(struct store *st, void *o, bool *cp, char *m, size_t z)
{
	return store_trunk_put(st, o, cp, m, z);
}
static int number_put(struct store *st, void *o, bool *cp, char *m,
		      size_t z)
{
	return store_number_put(st, o, cp, m, z);
}
static int number_del(struct store *st, const char *key, json_t *users,
		      char *m, size_t z)
{
	(void)users;
	return store_number_delete(st, key, m, z);
}
static json_t *agent_enc(const void *o)
{
	return agent_encode(o, MODEL_REDACT);
}
static json_t *trunk_enc(const void *o)
{
	return trunk_encode(o, MODEL_REDACT);
}
static json_t *number_enc(const void *o)
{
	return number_encode(o, true);
}
static const char *agent_key(const void *o)
{
	return ((const struct agent *)o)->id;
}
static const char *trunk_key(const void *o)
{
	return ((const struct trunk *)o)->id;
}
static const char *number_key(const void *o)
{
	return ((const struct number *)o)->number;
}

/** One kind of object the ops manage: its names and the store's calls */
static const struct kinddef {
	const char *one;        /**< singular: the request's field   */
	const char *list;       /**< plural: the list's member        */
	const char *key_kind;   /**< what its key is, for errors      */
	bool keeps_secrets;     /**< put keeps secrets sent as x_set  */
	json_t *(*list_enc)(struct store *st);
	int (*get)(struct store *st, const char *key, void **op);
	int (*decode)(void **op, const json_t *j, const void *old,
		      char *msg, size_t sz);
	int (*put)(struct store *st, void *obj, bool *createdp, char *msg,
		   size_t sz);
	int (*del)(struct store *st, const char *key, json_t *users,
		   char *msg, size_t sz);   /**< users: numbers in the way */
	json_t *(*encode)(const void *obj);      /**< secrets redacted */
	const char *(*key)(const void *obj);
} kinds[] = {
	[K_AGENT] = {"agent", "agents", "id string", true,
		     store_agents_encode, agent_get, agent_dec, agent_put,
		     store_agent_delete, agent_enc, agent_key},
	[K_TRUNK] = {"trunk", "trunks", "id string", true,
		     store_trunks_encode, trunk_get, trunk_dec, trunk_put,
		     store_trunk_delete, trunk_enc, trunk_key},
	[K_NUMBER] = {"number", "numbers", "E.164 string", false,
		      store_numbers_encode, number_get, number_dec,
		      number_put, number_del, number_enc, number_key},
};

/** One request being handled */
struct req {
	const struct ctlop_env *env;
	const json_t *j;
	const char *op;
	const char *who;        /**< client, for logs           */
	json_t *reply;          /**< members of a success reply */
	json_t *extra;          /**< extra members of the error */
	char msg[600];          /**< error message              */
};

typedef enum code (op_h)(struct req *r, enum kind k);

struct opdef {
	const char *name;
	op_h *h;
	enum kind k;
	const char *field;      /**< the one field it takes besides id and
				     op, or NULL                        */
};


static enum code fail(struct req *r, enum code c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum code fail(struct req *r, enum code c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);

	return c;
}


static enum code from_errno(struct req *r, int err)
{
	switch (err) {

	case 0:       return C_OK;
	case EINVAL:  return C_INVALID;
	case ENOENT:  return C_NOT_FOUND;
	case EBUSY:   return C_IN_USE;
	case ENOMEM:
		snprintf(r->msg, sizeof(r->msg), "out of memory");
		return C_INTERNAL;
	default:      return C_STORAGE;
	}
}


static enum code set(struct req *r, const char *key, json_t *v)
{
	if (!v || json_object_set_new(r->reply, key, v))
		return fail(r, C_INTERNAL, "out of memory");

	return C_OK;
}


/* The key of get/delete: a string in the singular field */
static enum code key_arg(struct req *r, enum kind k, const char **keyp)
{
	const json_t *v = json_object_get(r->j, kinds[k].one);

	if (!v)
		return fail(r, C_BAD_REQUEST, "%s: is required", kinds[k].one);
	if (!json_is_string(v) || !json_string_length(v))
		return fail(r, C_BAD_REQUEST, "%s: must be a non-empty %s",
			    kinds[k].one, kinds[k].key_kind);

	*keyp = json_string_value(v);
	return C_OK;
}


static enum code op_list(struct req *r, enum kind k)
{
	return set(r, kinds[k].list, kinds[k].list_enc(r->env->store));
}


static enum code op_get(struct req *r, enum kind k)
{
	const struct kinddef *kd = &kinds[k];
	const char *key;
	void *obj = NULL;
	json_t *enc;
	enum code c;
	int err;

	c = key_arg(r, k, &key);
	if (c)
		return c;

	err = kd->get(r->env->store, key, &obj);
	if (err == ENOENT)
		return fail(r, C_NOT_FOUND, "no such %s \"%s\"", kd->one, key);
	if (err == EINVAL) {
		const char *why = NULL;

		e164_parse(NULL, 0, key, &why);
		return fail(r, C_INVALID, "number %s", why ? why : "invalid");
	}
	if (err)
		return fail(r, C_INTERNAL, "out of memory");

	enc = kd->encode(obj);
	mem_deref(obj);

	return set(r, kd->one, enc);
}


/* put, step one: the object from the request, validated; a secret sent
   back as "x_set": true keeps the stored one */
static enum code put_decode(struct req *r, enum kind k, void **objp)
{
	const struct kinddef *kd = &kinds[k];
	const json_t *v = json_object_get(r->j, kd->one);
	const char *id = NULL;
	void *old = NULL;
	char dmsg[512] = "";
	int err;

	if (!v)
		return fail(r, C_BAD_REQUEST, "%s: is required", kd->one);
	if (!json_is_object(v))
		return fail(r, C_BAD_REQUEST, "%s: must be a JSON object",
			    kd->one);

	if (kd->keeps_secrets)
		id = json_string_value(json_object_get(v, "id"));
	if (id)
		(void)kd->get(r->env->store, id, &old);

	err = kd->decode(objp, v, old, dmsg, sizeof(dmsg));
	mem_deref(old);

	if (err == EINVAL)
		return fail(r, C_INVALID, "%s", dmsg);
	if (err)
		return fail(r, C_INTERNAL, "out of memory");

	return C_OK;
}


static enum code op_put(struct req *r, enum kind k)
{
	const struct kinddef *kd = &kinds[k];
	void *obj = NULL;
	char dmsg[512] = "";
	bool created = false;
	const char *id;
	enum code c;
	int err;

	c = put_decode(r, k, &obj);
	if (c)
		return c;

	id = kd->key(obj);
	err = kd->put(r->env->store, obj, &created, dmsg, sizeof(dmsg));
	if (err) {
		c = from_errno(r, err);
		if (c != C_INTERNAL)
			fail(r, c, "%s", dmsg);
		log_warn("ctl: %s %s refused (%s): %s", r->op, id,
			 code_names[c], r->msg);
		goto out;
	}

	log_notice("ctl: %s %s: %s by %s", r->op, id,
		   created ? "created" : "replaced", r->who);

	c = set(r, kd->one, kd->encode(obj));
	if (!c)
		c = set(r, "created", json_boolean(created));

 out:
	mem_deref(obj);
	return c;
}


static enum code op_delete(struct req *r, enum kind k)
{
	const struct kinddef *kd = &kinds[k];
	char dmsg[512] = "";
	const char *key;
	json_t *users;
	enum code c;
	int err;

	c = key_arg(r, k, &key);
	if (c)
		return c;

	users = json_array();
	if (!users)
		return fail(r, C_INTERNAL, "out of memory");

	err = kd->del(r->env->store, key, users, dmsg, sizeof(dmsg));
	if (err) {
		c = from_errno(r, err);
		if (c != C_INTERNAL)
			fail(r, c, "%s", dmsg);
		if (c == C_IN_USE && json_array_size(users))
			r->extra = json_pack("{s:O}", "numbers", users);
		if (c != C_NOT_FOUND && c != C_INVALID)
			log_warn("ctl: %s %s refused (%s): %s", r->op, key,
				 code_names[c], r->msg);
		json_decref(users);
		return c;
	}
	json_decref(users);

	log_notice("ctl: %s %s: deleted by %s", r->op, key, r->who);

	return set(r, "deleted", json_string(key));
}


static enum code op_status(struct req *r, enum kind k)
{
	uint32_t na = 0, nt = 0, nn = 0;
	enum code c;
	json_t *o;

	(void)k;

	store_counts(r->env->store, &na, &nt, &nn);

	c = set(r, "version", json_string(CB_VERSION));
	if (!c)
		c = set(r, "uptime_s", json_integer((json_int_t)
			((ctlop_now_ms() - r->env->start_ms) / 1000)));
	if (!c)
		c = set(r, "pid", json_integer(getpid()));
	if (!c)
		c = set(r, "counts", json_pack("{s:I,s:I,s:I}",
				"agents", (json_int_t)na,
				"trunks", (json_int_t)nt,
				"numbers", (json_int_t)nn));
	if (!c && r->env->ctl) {
		o = json_object();
		if (o)
			ctl_stats(r->env->ctl, o);
		c = set(r, "control", o);
	}
	if (c || !r->env->has_gw)
		return c;

	o = json_pack("{s:i, s:i, s:i}",
		      "active", (int)callreg_count(r->env->gw.reg),
		      "max", (int)r->env->gw.max_calls,
		      "workers", (int)r->env->gw.workers);
	if (o && callreg_totals(r->env->gw.reg, o)) {
		json_decref(o);
		o = NULL;
	}
	c = set(r, "calls", o);
	if (!c)
		c = set(r, "account_sid",
			json_string(r->env->gw.account_sid ?
				    r->env->gw.account_sid : ""));
	if (!c)
		c = set(r, "gateway", gwstats_json());

	return c;
}


/* calls.list and calls.recent: the calls in progress, the ended ones */
static enum code op_calls_list(struct req *r, enum kind k)
{
	json_t *arr = json_array();
	int err;

	(void)k;

	if (!arr)
		return fail(r, C_INTERNAL, "out of memory");

	err = (!strcmp(r->op, "calls.recent") ? callreg_recent :
	       callreg_list)(r->env->gw.reg, arr);
	if (err) {
		json_decref(arr);
		return fail(r, C_INTERNAL, "%s: %s", r->op, strerror(err));
	}

	return set(r, "calls", arr);
}


/* calls.get: one call, in progress or recently ended, by its callSid */
static enum code op_calls_get(struct req *r, enum kind k)
{
	const json_t *v = json_object_get(r->j, "call_sid");
	int err;

	(void)k;

	if (!v)
		return fail(r, C_BAD_REQUEST, "call_sid: is required");
	if (!json_is_string(v))
		return fail(r, C_BAD_REQUEST, "call_sid: must be a string");

	err = callreg_get(r->env->gw.reg, json_string_value(v), r->reply);
	if (err == ENOENT)
		return fail(r, C_NOT_FOUND, "no such call \"%.40s\"",
			    json_string_value(v));
	if (err)
		return fail(r, C_INTERNAL, "%s: %s", r->op, strerror(err));

	return C_OK;
}


/* every op, with the one field it takes besides id and op: any other
   field is a bad_request, the same for every op */
static const struct opdef ops[] = {
	{"agents.list",    op_list,       K_AGENT,  NULL},
	{"agents.get",     op_get,        K_AGENT,  "agent"},
	{"agents.put",     op_put,        K_AGENT,  "agent"},
	{"agents.delete",  op_delete,     K_AGENT,  "agent"},
	{"trunks.list",    op_list,       K_TRUNK,  NULL},
	{"trunks.get",     op_get,        K_TRUNK,  "trunk"},
	{"trunks.put",     op_put,        K_TRUNK,  "trunk"},
	{"trunks.delete",  op_delete,     K_TRUNK,  "trunk"},
	{"numbers.list",   op_list,       K_NUMBER, NULL},
	{"numbers.get",    op_get,        K_NUMBER, "number"},
	{"numbers.put",    op_put,        K_NUMBER, "number"},
	{"numbers.delete", op_delete,     K_NUMBER, "number"},
	{"status",         op_status,     K_AGENT,  NULL},
	{"calls.list",     op_calls_list, K_AGENT,  NULL},
	{"calls.recent",   op_calls_list, K_AGENT,  NULL},
	{"calls.get",      op_calls_get,  K_AGENT,  "call_sid"},
};


static enum code dispatch(struct req *r)
{
	const struct opdef *d = NULL;
	const json_t *opv;
	const char *key;
	json_t *v;

	if (!json_is_object(r->j))
		return fail(r, C_BAD_REQUEST, "request must be a JSON object");

	opv = json_object_get(r->j, "op");
	if (!opv)
		return fail(r, C_BAD_REQUEST, "op: is required");
	if (!json_is_string(opv))
		return fail(r, C_BAD_REQUEST, "op: must be a string");
	r->op = json_string_value(opv);

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (!strcmp(ops[i].name, r->op)) {
			d = &ops[i];
			break;
		}
	}
	/* a control socket without a gateway knows no calls */
	if (d && !r->env->has_gw && !strncmp(d->name, "calls.", 6))
		d = NULL;
	if (!d) {
		char q[64];

		snprintf(q, sizeof(q), "%.48s%s", r->op,
			 strlen(r->op) > 48 ? "..." : "");
		for (char *p = q; *p; p++) {
			if ((unsigned char)*p < 0x20 || *p == '"')
				*p = '?';
		}
		return fail(r, C_UNKNOWN_OP, "unknown op \"%s\"; see "
			    "docs/control-protocol.md", q);
	}

	json_object_foreach((json_t *)r->j, key, v) {
		(void)v;
		if (!strcmp(key, "id") || !strcmp(key, "op"))
			continue;
		if (d->field && !strcmp(key, d->field))
			continue;
		return fail(r, C_BAD_REQUEST, "%s does not take field "
			    "\"%.40s\"", d->name, key);
	}

	return d->h(r, d->k);
}


static char *dump_line(json_t *reply, size_t *lenp)
{
	char *text = json_dumps(reply, JSON_COMPACT);
	size_t len;
	char *line;

	if (!text)
		return NULL;

	len = strlen(text);
	line = realloc(text, len + 2);
	if (!line) {
		free(text);
		return NULL;
	}
	line[len] = '\n';
	line[len + 1] = '\0';
	*lenp = len + 1;

	return line;
}


/**
 * Handle one request line
 *
 * @param env   What the ops work on
 * @param line  Request, without the newline (need not be NUL-terminated)
 * @param len   Length of line [bytes]
 * @param who   The client, for logs
 * @param lenp  Set to the length of the reply [bytes]
 *
 * @return The reply line, ending in '\n' (free() it), or NULL if out of
 *         memory
 */
char *ctlop_handle(const struct ctlop_env *env, const char *line,
		   size_t len, const char *who, size_t *lenp)
{
	struct req r;
	json_error_t jerr;
	json_t *out = NULL, *id = NULL;
	enum code c;
	char *text = NULL;

	memset(&r, 0, sizeof(r));
	r.env = env;
	r.who = who;
	r.op = "?";

	r.reply = json_object();
	if (!r.reply)
		return NULL;

	r.j = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!r.j) {
		c = fail(&r, C_PARSE_ERROR, "column %d: %s", jerr.column,
			 jerr.text);
	}
	else {
		id = json_object_get(r.j, "id");
		c = dispatch(&r);
	}

	if (c) {
		log_debug("ctl: %s: %s: %s (%s)", r.op, code_names[c], r.msg,
			  who);
		out = json_pack("{s:O?,s:b,s:{s:s,s:s}}", "id", id, "ok", 0,
				"error", "code", code_names[c],
				"message", r.msg);
		if (out && r.extra)
			json_object_update(json_object_get(out, "error"),
					   r.extra);
	}
	else {
		out = json_pack("{s:O?,s:b}", "id", id, "ok", 1);
		if (out)
			json_object_update_missing(out, r.reply);
	}

	if (out)
		text = dump_line(out, lenp);

	json_decref(out);
	json_decref(r.extra);
	json_decref(r.reply);
	json_decref((json_t *)r.j);

	return text;
}


/**
 * A reply for a request that could not be read (no id)
 *
 * @param code  Error code
 * @param msg   Message
 * @param lenp  Set to the length [bytes]
 *
 * @return The reply line (free() it), or NULL if out of memory
 */
char *ctlop_error(const char *code, const char *msg, size_t *lenp)
{
	json_t *out = json_pack("{s:n,s:b,s:{s:s,s:s}}", "id", "ok", 0,
				"error", "code", code, "message", msg);
	char *text;

	if (!out)
		return NULL;

	text = dump_line(out, lenp);
	json_decref(out);

	return text;
}


/** CLOCK_MONOTONIC [ms] */
uint64_t ctlop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);

	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
