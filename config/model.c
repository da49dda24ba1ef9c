/**
 * @file model.c  Shared helpers of the model: field decoding and encoding
 *
 * Rules every decoder follows (docs/configuration.md):
 *   - unknown fields are an error (a typo must not silently do nothing);
 *   - a wrong JSON type is an error naming the field and the expected type;
 *   - optional strings may be absent, null or "" and then mean "unset";
 *   - strings never contain control characters;
 *   - error messages quote values only sanitised, and never secrets.
 */
#include <stdio.h>
#include <string.h>
#include <ctype.h>
#include <errno.h>
#include <arpa/inet.h>
#include "model_int.h"


static const char *codec_names[MODEL_CODEC_COUNT] = {"PCMU", "PCMA", "opus"};


/* The name of a codec as used in JSON and SDP ("PCMU", "PCMA", "opus") */
static const char *codec_name(enum model_codec c)
{
	return (c >= 0 && c < MODEL_CODEC_COUNT) ? codec_names[c] : "?";
}


/*
 * Parse a codec name (exact spelling, as in SDP: PCMU, PCMA, opus)
 *
 * @return 0 if success, EINVAL for an unknown name
 */
static int codec_parse(enum model_codec *c, const char *name)
{
	for (int i = 0; i < MODEL_CODEC_COUNT; i++) {
		if (name && !strcmp(name, codec_names[i])) {
			*c = (enum model_codec)i;
			return 0;
		}
	}

	return EINVAL;
}


/**
 * Write an error naming a field: "<path><key>: <message>"
 *
 * @param c    Decode context
 * @param key  Field name (may be NULL for the object itself)
 * @param fmt  printf format of the message
 *
 * @return EINVAL, so that callers can `return model_fail(...)`
 */
int model_fail(struct model_ctx *c, const char *key, const char *fmt, ...)
{
	const char *path;
	size_t plen;
	va_list ap;
	int n;

	if (!c || !c->err || !c->errsz)
		return EINVAL;

	path = c->path ? c->path : "";
	plen = strlen(path);
	if (!key && plen && path[plen - 1] == '.')
		--plen;

	n = snprintf(c->err, c->errsz, "%.*s%s%s", (int)plen, path,
		     key ? key : "", (key || plen) ? ": " : "");
	if (n < 0 || (size_t)n >= c->errsz)
		return EINVAL;

	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errsz - n, fmt, ap);
	va_end(ap);

	return EINVAL;
}


/**
 * Quote a user value for an error message: printable ASCII only (other
 * bytes as \xNN), at most 48 characters, then "..."
 *
 * @param buf  Output buffer
 * @param sz   Size of buf [bytes]
 * @param s    Value
 */
void model_quote(char *buf, size_t sz, const char *s)
{
	size_t o = 0, i;

	if (!buf || sz < 8)
		return;

	buf[o++] = '"';
	for (i = 0; s && s[i] && o + 6 < sz; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (i >= 48) {
			o += snprintf(buf + o, sz - o, "...");
			break;
		}
		if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
			o += snprintf(buf + o, sz - o, "\\x%02x", ch);
		else
			buf[o++] = (char)ch;
	}
	if (o + 2 > sz)
		o = sz - 2;
	buf[o++] = '"';
	buf[o] = '\0';
}


/* True if s contains an ASCII control character (or DEL) */
static bool has_ctrl(const char *s)
{
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch < 0x20 || ch == 0x7f)
			return true;
	}

	return false;
}


/**
 * Check a host: a DNS name (labels of letters, digits and '-'), an IPv4
 * address or an IPv6 address (without brackets)
 */
bool model_host_valid(const char *s)
{
	struct in6_addr a6;
	size_t len, lab = 0;

	if (!s || !*s)
		return false;

	len = strlen(s);
	if (len > MODEL_HOST_MAX)
		return false;

	if (strchr(s, ':'))
		return inet_pton(AF_INET6, s, &a6) == 1;

	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (ch == '.') {
			if (lab == 0 || s[i - 1] == '-')
				return false;
			lab = 0;
			continue;
		}
		if (!isalnum((unsigned char)ch) && ch != '-')
			return false;
		if (ch == '-' && lab == 0)
			return false;
		if (++lab > 63)
			return false;
	}

	return lab > 0 && s[len - 1] != '-';
}


/* The characters of a URL: printable ASCII, no space, no fragment */
static bool url_chars_valid(const char *url, const char **why)
{
	for (const char *q = url; *q; q++) {
		unsigned char ch = (unsigned char)*q;

		if (ch <= 0x20 || ch >= 0x7f) {
			*why = "must be printable ASCII without spaces "
				"(percent-encode other characters)";
			return false;
		}
		if (ch == '#') {
			*why = "must not contain a fragment (#)";
			return false;
		}
	}

	return true;
}


/*
 * Find the host in the authority p..end: *hsp..*hep, without the brackets
 * of an [IPv6] host; *colonp is the ':' before the port, or NULL
 */
static bool url_host_find(const char *p, const char *end, const char **hsp,
			  const char **hep, const char **colonp,
			  const char **why)
{
	*colonp = NULL;

	if (*p == '[') {
		*hsp = p + 1;
		*hep = memchr(*hsp, ']', end - *hsp);
		if (!*hep) {
			*why = "has an unterminated [IPv6] host";
			return false;
		}
		if (*hep + 1 < end) {
			if ((*hep)[1] != ':') {
				*why = "has junk after the [IPv6] host";
				return false;
			}
			*colonp = *hep + 1;
		}
	}
	else {
		*hsp = p;
		*colonp = memchr(p, ':', end - p);
		*hep = *colonp ? *colonp : end;
	}

	return true;
}


/* The host hs..he: an IPv6 address if it was in brackets, else a name or
   an IPv4 address */
static bool url_host_valid(const char *hs, const char *he, bool bracketed,
			   const char **why)
{
	char host[MODEL_HOST_MAX + 1];
	size_t n = he - hs;

	if (n == 0 || n > MODEL_HOST_MAX) {
		*why = "has no host";
		return false;
	}
	memcpy(host, hs, n);
	host[n] = '\0';

	if (bracketed) {
		struct in6_addr a6;

		if (inet_pton(AF_INET6, host, &a6) != 1) {
			*why = "has an invalid IPv6 address";
			return false;
		}
	}
	else if (!model_host_valid(host)) {
		*why = "has an invalid host name";
		return false;
	}

	return true;
}


/* The port after the colon, up to end: 1..65535 */
static bool url_port_valid(const char *colon, const char *end,
			   const char **why)
{
	unsigned long port = 0;
	const char *d = colon + 1;

	if (d == end || end - d > 5) {
		*why = "has an invalid port";
		return false;
	}
	for (; d < end; d++) {
		if (!isdigit((unsigned char)*d)) {
			*why = "has an invalid port";
			return false;
		}
		port = port * 10 + (unsigned long)(*d - '0');
	}
	if (port < 1 || port > 65535) {
		*why = "has a port out of range 1..65535";
		return false;
	}

	return true;
}


/**
 * Check an agent URL: ws:// or wss://, a host (name, IPv4 or [IPv6]), an
 * optional port, then an optional path and query of printable ASCII.
 * Credentials in the URL and fragments are refused.
 *
 * @param url  URL
 * @param why  Set to the reason when invalid
 *
 * @return true if valid
 */
bool model_ws_url_valid(const char *url, const char **why)
{
	const char *p, *end, *hs, *he, *colon;

	if (!strncmp(url, "ws://", 5))
		p = url + 5;
	else if (!strncmp(url, "wss://", 6))
		p = url + 6;
	else {
		*why = "must start with ws:// or wss://";
		return false;
	}

	if (!url_chars_valid(url, why))
		return false;

	end = p + strcspn(p, "/?");
	if (memchr(p, '@', end - p)) {
		*why = "must not contain credentials; use auth_token";
		return false;
	}

	if (!url_host_find(p, end, &hs, &he, &colon, why))
		return false;
	if (!url_host_valid(hs, he, *p == '[', why))
		return false;
	if (colon && !url_port_valid(colon, end, why))
		return false;

	return true;
}


/**
 * Check that an object has only the allowed fields
 *
 * @param c        Decode context
 * @param obj      JSON object
 * @param allowed  NULL-terminated list of field names
 *
 * @return 0 if only allowed fields are present, EINVAL otherwise
 */
int model_dec_keys(struct model_ctx *c, const json_t *obj,
		   const char *const *allowed)
{
	const char *key;
	json_t *v;

	if (!json_is_object(obj))
		return model_fail(c, NULL, "must be a JSON object");

	json_object_foreach((json_t *)obj, key, v) {
		bool ok = false;
		char q[64];

		(void)v;
		for (size_t i = 0; allowed[i]; i++) {
			if (!strcmp(key, allowed[i])) {
				ok = true;
				break;
			}
		}
		if (!ok) {
			model_quote(q, sizeof(q), key);
			return model_fail(c, NULL, "unknown field %s", q);
		}
	}

	return 0;
}


/**
 * Decode the "id" (a required slug) and "name" (optional; "" when unset)
 * of an agent or a trunk
 *
 * @param c      Decode context
 * @param obj    JSON object
 * @param idp    Set to a new mem string
 * @param namep  Set to a new mem string
 *
 * @return 0 if success, EINVAL (error written) or ENOMEM
 */
int model_dec_id_name(struct model_ctx *c, const json_t *obj, char **idp,
		      char **namep)
{
	char q[64];
	int e;

	e = model_dec_str(c, obj, "id", MODEL_F_REQUIRED, MODEL_ID_MAX, idp);
	if (e)
		return e;
	if (!model_slug_valid(*idp)) {
		model_quote(q, sizeof(q), *idp);
		return model_fail(c, "id", "%s is not a slug: lowercase "
				  "letters, digits, '-' and '_', starting with "
				  "a letter or digit, at most 64 characters", q);
	}

	e = model_dec_str(c, obj, "name", MODEL_F_EMPTY, MODEL_NAME_MAX,
			  namep);
	if (e)
		return e;
	if (!*namep)
		e = str_dup(namep, "");

	return e;
}


/**
 * Get an optional object member that must be a JSON object
 *
 * @return 0 and *vp NULL if absent or null, EINVAL on a wrong type
 */
int model_dec_obj(struct model_ctx *c, const json_t *obj, const char *key,
		  const json_t **vp)
{
	const json_t *v = json_object_get(obj, key);

	*vp = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return model_fail(c, key, "must be a JSON object");

	*vp = v;
	return 0;
}


/**
 * Decode a string field
 *
 * @param c      Decode context
 * @param obj    JSON object
 * @param key    Field name
 * @param flags  MODEL_F_* flags
 * @param max    Maximum length [bytes]
 * @param sp     Set to a new mem string, or NULL when unset
 *
 * @return 0 if success, EINVAL (error written) or ENOMEM
 */
int model_dec_str(struct model_ctx *c, const json_t *obj, const char *key,
		  unsigned flags, size_t max, char **sp)
{
	const json_t *v = json_object_get(obj, key);
	const char *s;
	size_t len;

	*sp = NULL;

	if (!v || json_is_null(v) ||
	    (json_is_string(v) && json_string_length(v) == 0 &&
	     !(flags & MODEL_F_EMPTY))) {
		if (flags & MODEL_F_REQUIRED)
			return model_fail(c, key, "is required");
		return 0;
	}
	if (!json_is_string(v))
		return model_fail(c, key, "must be a string");

	s = json_string_value(v);
	len = json_string_length(v);
	if (len != strlen(s))
		return model_fail(c, key, "must not contain NUL characters");
	if (len > max)
		return model_fail(c, key, "is too long (%zu bytes, at most %zu)",
				  len, max);
	if (has_ctrl(s))
		return model_fail(c, key, "must not contain control "
				  "characters");

	return model_str_dup(sp, s);
}


/**
 * Decode an optional boolean field; *bp keeps its value when absent
 */
int model_dec_bool(struct model_ctx *c, const json_t *obj, const char *key,
		   bool *bp)
{
	const json_t *v = json_object_get(obj, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return model_fail(c, key, "must be true or false");

	*bp = json_is_true(v);
	return 0;
}


/**
 * Decode an optional integer field within bounds; *vp keeps its value when
 * absent
 */
int model_dec_uint(struct model_ctx *c, const json_t *obj, const char *key,
		   uint32_t min, uint32_t max, uint32_t *vp)
{
	const json_t *v = json_object_get(obj, key);
	json_int_t i;

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return model_fail(c, key, "must be an integer %u..%u",
				  min, max);

	i = json_integer_value(v);
	if (i < (json_int_t)min || i > (json_int_t)max)
		return model_fail(c, key, "%lld is out of range %u..%u",
				  (long long)i, min, max);

	*vp = (uint32_t)i;
	return 0;
}


/**
 * Decode an optional enumeration given by name; *vp keeps its value when
 * absent
 *
 * @param names  NULL-terminated list; the index is the value
 */
int model_dec_enum(struct model_ctx *c, const json_t *obj, const char *key,
		   const char *const *names, int *vp)
{
	const json_t *v = json_object_get(obj, key);
	char q[64], list[160] = "";
	size_t o = 0;

	if (!v || json_is_null(v))
		return 0;

	if (json_is_string(v)) {
		for (int i = 0; names[i]; i++) {
			if (!strcmp(json_string_value(v), names[i])) {
				*vp = i;
				return 0;
			}
		}
	}

	for (int i = 0; names[i] && o < sizeof(list); i++) {
		int n = snprintf(list + o, sizeof(list) - o, "%s%s",
				 i ? ", " : "", names[i]);
		if (n < 0)
			break;
		o += (size_t)n;
	}

	if (!json_is_string(v))
		return model_fail(c, key, "must be a string: one of %s", list);

	model_quote(q, sizeof(q), json_string_value(v));
	return model_fail(c, key, "%s is not one of %s", q, list);
}


/**
 * Decode a secret that is write-only over the control socket. The secret
 * is taken from `key` if present. Otherwise `<key>_set`: true keeps the
 * stored secret `old` (what a client sends back after a get), false or
 * absent means no secret.
 *
 * @param c    Decode context
 * @param obj  JSON object
 * @param key  Secret field name
 * @param old  Currently stored secret, or NULL
 * @param sp   Set to a new mem string, or NULL
 *
 * @return 0 if success, otherwise an errno
 */
int model_dec_secret_keep(struct model_ctx *c, const json_t *obj,
			  const char *key, const char *old, char **sp)
{
	char setkey[64];
	const json_t *v;
	int err;

	err = model_dec_str(c, obj, key, MODEL_F_SECRET, MODEL_SECRET_MAX, sp);
	if (err || *sp)
		return err;

	snprintf(setkey, sizeof(setkey), "%s_set", key);
	v = json_object_get(obj, setkey);
	if (!v || json_is_null(v) || json_is_false(v))
		return 0;
	if (!json_is_true(v))
		return model_fail(c, setkey, "must be true or false");

	if (!old)
		return model_fail(c, setkey, "is true but no %s is stored; "
				  "send %s itself", key, key);

	return model_str_dup(sp, old);
}


/**
 * Decode an optional codec preference list: ["PCMU", "PCMA", "opus"]
 */
int model_dec_codecs(struct model_ctx *c, const json_t *obj, const char *key,
		     enum model_codec *codecs, uint32_t *countp)
{
	const json_t *v = json_object_get(obj, key);
	size_t i;
	json_t *e;

	*countp = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return model_fail(c, key, "must be a list of codec names "
				  "(PCMU, PCMA, opus)");
	if (json_array_size(v) > MODEL_CODEC_COUNT)
		return model_fail(c, key, "has more than %d codecs",
				  MODEL_CODEC_COUNT);

	json_array_foreach((json_t *)v, i, e) {
		enum model_codec cd;
		char q[64];

		if (!json_is_string(e))
			return model_fail(c, key, "item %zu must be a string",
					  i);
		if (codec_parse(&cd, json_string_value(e))) {
			model_quote(q, sizeof(q), json_string_value(e));
			return model_fail(c, key, "%s is not a codec "
					  "(PCMU, PCMA, opus)", q);
		}
		for (uint32_t k = 0; k < *countp; k++) {
			if (codecs[k] == cd)
				return model_fail(c, key, "lists %s twice",
						  codec_names[cd]);
		}
		codecs[(*countp)++] = cd;
	}

	return 0;
}


/**
 * Decode an optional object of string values into a name/value array
 *
 * @param c       Decode context
 * @param obj     JSON object
 * @param key     Field name
 * @param maxc    Maximum number of pairs
 * @param checkh  Extra check of each pair, or NULL
 * @param kvp     Set to a new array (NULL if empty)
 * @param countp  Set to the number of pairs
 *
 * @return 0 if success, otherwise an errno
 */
int model_dec_kv(struct model_ctx *c, const json_t *obj, const char *key,
		 uint32_t maxc, model_kv_check_h *checkh,
		 struct model_kv **kvp, uint32_t *countp)
{
	const json_t *v = json_object_get(obj, key);
	struct model_kv *kv = NULL;
	uint32_t n = 0;
	const char *name;
	json_t *e;
	int err = 0;

	*kvp = NULL;
	*countp = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return model_fail(c, key, "must be an object of strings");
	if (json_object_size(v) > maxc)
		return model_fail(c, key, "has more than %u entries", maxc);
	if (json_object_size(v) == 0)
		return 0;

	kv = mem_zalloc(json_object_size(v) * sizeof(*kv), NULL);
	if (!kv)
		return ENOMEM;

	json_object_foreach((json_t *)v, name, e) {
		char q[64];

		model_quote(q, sizeof(q), name);
		if (!json_is_string(e)) {
			err = model_fail(c, key, "%s must be a string", q);
			goto out;
		}
		if (!*name) {
			err = model_fail(c, key, "has an empty name");
			goto out;
		}
		if (has_ctrl(name) ||
		    has_ctrl(json_string_value(e)) ||
		    strlen(json_string_value(e)) != json_string_length(e)) {
			err = model_fail(c, key, "%s must not contain control "
					 "characters", q);
			goto out;
		}
		if (checkh) {
			err = checkh(c, key, name, json_string_value(e));
			if (err)
				goto out;
		}

		err  = model_str_dup(&kv[n].name, name);
		err |= model_str_dup(&kv[n].value, json_string_value(e));
		++n;
		if (err) {
			err = ENOMEM;
			goto out;
		}
	}

 out:
	if (err) {
		model_kv_free(kv, n);
		return err;
	}

	*kvp = kv;
	*countp = n;
	return 0;
}


/** Free a name/value array and its strings */
void model_kv_free(struct model_kv *kv, uint32_t n)
{
	if (!kv)
		return;

	for (uint32_t i = 0; i < n; i++) {
		mem_deref(kv[i].name);
		mem_deref(kv[i].value);
	}
	mem_deref(kv);
}


/** Deep-copy a name/value array */
int model_kv_dup(struct model_kv **dstp, const struct model_kv *src,
		 uint32_t n)
{
	struct model_kv *kv;
	int err = 0;

	*dstp = NULL;
	if (!n)
		return 0;

	kv = mem_zalloc(n * sizeof(*kv), NULL);
	if (!kv)
		return ENOMEM;

	for (uint32_t i = 0; i < n; i++) {
		err |= model_str_dup(&kv[i].name, src[i].name);
		err |= model_str_dup(&kv[i].value, src[i].value);
	}
	if (err) {
		model_kv_free(kv, n);
		return ENOMEM;
	}

	*dstp = kv;
	return 0;
}


/** Duplicate a string into a mem string; NULL stays NULL */
int model_str_dup(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;

	return str_dup(dst, src);
}


/** Encode a name/value array as a JSON object */
json_t *model_enc_kv(const struct model_kv *kv, uint32_t n)
{
	json_t *o = json_object();

	for (uint32_t i = 0; o && i < n; i++) {
		if (json_object_set_new(o, kv[i].name,
					json_string(kv[i].value))) {
			json_decref(o);
			return NULL;
		}
	}

	return o;
}


/** Encode a codec list as a JSON array of names */
json_t *model_enc_codecs(const enum model_codec *codecs, uint32_t n)
{
	json_t *a = json_array();

	for (uint32_t i = 0; a && i < n; i++) {
		if (json_array_append_new(a, json_string(
				codec_name(codecs[i])))) {
			json_decref(a);
			return NULL;
		}
	}

	return a;
}


/**
 * Set an object member, taking the reference of v
 *
 * @return 0 if success, ENOMEM if v is NULL or the set failed
 */
int model_enc_set(json_t *obj, const char *key, json_t *v)
{
	if (!v)
		return ENOMEM;

	return json_object_set_new(obj, key, v) ? ENOMEM : 0;
}


/** A string, or JSON null for NULL */
json_t *model_enc_optstr(const char *s)
{
	return s ? json_string(s) : json_null();
}


/**
 * Check a slug: [a-z0-9][a-z0-9_-]{0,63}
 */
bool model_slug_valid(const char *s)
{
	size_t i;

	if (!s || !((s[0] >= 'a' && s[0] <= 'z') || isdigit((unsigned char)s[0])))
		return false;

	for (i = 1; s[i]; i++) {
		char ch = s[i];

		if (i >= MODEL_ID_MAX)
			return false;
		if (!((ch >= 'a' && ch <= 'z') || isdigit((unsigned char)ch) ||
		      ch == '_' || ch == '-'))
			return false;
	}

	return true;
}

/**
 * The codec preference that applies to a call on a number: the number's
 * list, else the trunk's, else the gateway default PCMU, PCMA, opus
 *
 * @param out  Output array of MODEL_CODEC_COUNT entries
 * @param t    Trunk (may be NULL)
 * @param n    Number (may be NULL)
 *
 * @return Number of codecs written to out
 */
uint32_t model_codecs_effective(enum model_codec *out, const struct trunk *t,
				const struct number *n)
{
	const enum model_codec *src;
	uint32_t cnt;

	if (n && n->codecc) {
		src = n->codecs;
		cnt = n->codecc;
	}
	else if (t && t->codecc) {
		src = t->codecs;
		cnt = t->codecc;
	}
	else {
		for (int i = 0; i < MODEL_CODEC_COUNT; i++)
			out[i] = (enum model_codec)i;
		return MODEL_CODEC_COUNT;
	}

	memcpy(out, src, cnt * sizeof(*out));
	return cnt;
}
