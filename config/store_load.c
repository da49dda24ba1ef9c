/**
 * @file store_load.c  Read and validate a state (or seed) file
 *
 * The file is one JSON document: {"format": 2, "agents": [...], "trunks":
 * [...], "numbers": [...]}. Every object is decoded with the same rules as
 * the control socket applies; numbers come last and must refer to agents
 * and trunks that exist. The first error stops loading and names the file,
 * the entry and the field. Used at start-up only, before any other thread
 * sees the store.
 */
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include "fsutil.h"
#include "store_int.h"


/* Label of an entry in load errors: the id without quotes, sanitised */
static void entry_label(char *buf, size_t sz, const json_t *j, enum kind k)
{
	const json_t *v = json_object_get(j, k == K_NUMBER ? "number" : "id");
	char q[64];
	size_t n;

	buf[0] = '\0';
	if (!json_is_string(v))
		return;

	model_quote(q, sizeof(q), json_string_value(v));
	n = strlen(q);
	if (n < 2)
		return;
	q[n - 1] = '\0';
	snprintf(buf, sz, " (%s)", q + 1);
}


static int load_table(struct store *st, enum kind k, const json_t *arr,
		      const char *file, char *err, size_t errsz)
{
	size_t i;
	json_t *j;

	if (!arr || json_is_null(arr))
		return 0;

	if (!json_is_array(arr)) {
		snprintf(err, errsz, "%s: %s: must be a list", file,
			 store_kind_list[k]);
		return EINVAL;
	}

	json_array_foreach((json_t *)arr, i, j) {
		char msg[512] = "", label[80];
		struct entry *e = NULL;
		void *obj = NULL;
		int r;

		entry_label(label, sizeof(label), j, k);

		switch (k) {

		case K_AGENT:
			r = agent_decode((struct agent **)&obj, j, NULL,
					 msg, sizeof(msg));
			break;
		case K_TRUNK:
			r = trunk_decode((struct trunk **)&obj, j, NULL,
					 msg, sizeof(msg));
			break;
		default:
			r = number_decode((struct number **)&obj, j,
					  msg, sizeof(msg));
			if (!r)
				r = store_refs_check(st, obj, msg,
						      sizeof(msg));
			break;
		}

		if (!r && store_table_find(&st->tab[k],
					   store_obj_key(k, obj))) {
			snprintf(msg, sizeof(msg), "duplicate %s",
				 k == K_NUMBER ? "number" : "id");
			r = EINVAL;
		}

		if (!r)
			r = store_entry_alloc(&e, k, obj);
		mem_deref(obj);

		if (r) {
			snprintf(err, errsz, "%s: %s[%zu]%s: %s", file,
				 store_kind_list[k], i, label,
				 r == ENOMEM ? "out of memory" : msg);
			return r;
		}

		store_table_insert(&st->tab[k], e);
	}

	return 0;
}


int store_load_file(struct store *st, const char *file, int *fmtp,
		    char *err, size_t errsz)
{
	static const char *const root_keys[] = {
		"format", "agents", "trunks", "numbers", NULL
	};
	struct model_ctx c;
	json_error_t jerr;
	json_t *root = NULL, *fmt;
	char msg[256] = "";
	char *buf = NULL;
	size_t len;
	int e;

	e = fsutil_read_file(file, STORE_FILE_MAX, &buf, &len);
	if (e) {
		snprintf(err, errsz, "%s: %s", file,
			 e == EFBIG ? "larger than 256 MiB" : strerror(e));
		return e;
	}

	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(err, errsz, "%s: line %d column %d: %s", file,
			 jerr.line, jerr.column, jerr.text);
		e = EINVAL;
		goto out;
	}

	c.err = msg;
	c.errsz = sizeof(msg);
	c.path = "";
	e = model_dec_keys(&c, root, root_keys);
	if (e) {
		snprintf(err, errsz, "%s: %s", file, msg);
		goto out;
	}

	fmt = json_object_get(root, "format");
	if (!json_is_integer(fmt)) {
		snprintf(err, errsz, "%s: format: is required and must be %d",
			 file, STATE_FORMAT);
		e = EINVAL;
		goto out;
	}
	if (json_integer_value(fmt) < STATE_FORMAT_MIN ||
	    json_integer_value(fmt) > STATE_FORMAT) {
		snprintf(err, errsz, "%s: format: %lld is not supported by "
			 "this version (it reads formats %d to %d)", file,
			 (long long)json_integer_value(fmt), STATE_FORMAT_MIN,
			 STATE_FORMAT);
		e = EINVAL;
		goto out;
	}
	if (fmtp)
		*fmtp = (int)json_integer_value(fmt);

	/* numbers last: they refer to agents and trunks */
	for (int k = 0; k < K_COUNT; k++) {
		e = load_table(st, (enum kind)k,
			       json_object_get(root, store_kind_list[k]),
			       file, err, errsz);
		if (e)
			goto out;
	}

 out:
	json_decref(root);
	mem_deref(buf);
	return e;
}
