/**
 * @file cliout.c  callbridgectl's output: tables for lists, indented JSON
 *                 for one object, key/value lines for the status, one
 *                 line for a change
 *
 * Tables size their columns by display width, counted in code points
 * (no East Asian width handling); an empty or missing cell prints "-".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli_int.h"


/* Display width: code points (no East Asian width handling) */
static size_t width(const char *s)
{
	size_t w = 0;

	for (; *s; s++) {
		if (((unsigned char)*s & 0xc0) != 0x80)
			++w;
	}

	return w;
}


enum { TABLE_MAXCOL = 10 };   /**< columns a table may have */

struct table {
	int ncols;
	const char *head[TABLE_MAXCOL];
	char **cells;       /* nrows * ncols, malloc'd strings */
	size_t nrows;
};


static void table_add(struct table *t, const char **row)
{
	t->cells = realloc(t->cells, (t->nrows + 1) * (size_t)t->ncols *
			   sizeof(char *));
	if (!t->cells)
		cli_die(CLI_EXIT_UNREACH, "out of memory");

	for (int c = 0; c < t->ncols; c++) {
		const char *v = row[c] && *row[c] ? row[c] : "-";

		t->cells[t->nrows * (size_t)t->ncols + (size_t)c] = strdup(v);
	}
	t->nrows++;
}


static void table_print(struct table *t)
{
	size_t w[TABLE_MAXCOL];

	for (int c = 0; c < t->ncols; c++)
		w[c] = width(t->head[c]);
	for (size_t r = 0; r < t->nrows; r++) {
		for (int c = 0; c < t->ncols; c++) {
			size_t x = width(t->cells[r * (size_t)t->ncols +
						  (size_t)c]);
			if (x > w[c])
				w[c] = x;
		}
	}

	for (size_t r = 0; r <= t->nrows; r++) {
		for (int c = 0; c < t->ncols; c++) {
			const char *v = r ? t->cells[(r - 1) * (size_t)t->ncols
						     + (size_t)c] : t->head[c];

			if (c == t->ncols - 1)
				printf("%s", v);
			else
				printf("%s%*s  ", v, (int)(w[c] - width(v)),
				       "");
		}
		putchar('\n');
	}

	for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
}


static const char *jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}


/** Print the table of numbers.list */
void cliout_numbers(const json_t *arr)
{
	struct table t = {6, {"Number", "Friendly Name", "Inbound agent",
			      "Outbound agent", "Trunk", "Status"}, NULL, 0};
	size_t i;
	json_t *n;

	json_array_foreach(arr, i, n) {
		const char *row[6] = {
			jstr(n, "number"), jstr(n, "friendly_name"),
			jstr(n, "inbound_agent_id"),
			jstr(n, "outbound_agent_id"), jstr(n, "trunk_id"),
			jstr(n, "status"),
		};
		table_add(&t, row);
	}
	table_print(&t);
}


/** Print the table of agents.list */
void cliout_agents(const json_t *arr)
{
	struct table t = {6, {"ID", "Name", "URL", "Protocol", "Audio",
			      "Token"}, NULL, 0};
	size_t i;
	json_t *a;

	json_array_foreach(arr, i, a) {
		const json_t *au = json_object_get(a, "audio");
		char audio[64];
		const char *row[6];

		snprintf(audio, sizeof(audio), "%s/%lld",
			 jstr(au, "encoding") ? jstr(au, "encoding") : "?",
			 (long long)json_integer_value(
				 json_object_get(au, "sample_rate")));
		row[0] = jstr(a, "id");
		row[1] = jstr(a, "name");
		row[2] = jstr(a, "url");
		row[3] = jstr(a, "protocol");
		row[4] = audio;
		row[5] = json_is_true(json_object_get(a, "auth_token_set")) ?
			"set" : "-";
		table_add(&t, row);
	}
	table_print(&t);
}


/** Print the table of trunks.list */
void cliout_trunks(const json_t *arr)
{
	struct table t = {6, {"ID", "Name", "Kind", "Allowed sources",
			      "Outbound", "Media"}, NULL, 0};
	size_t i, k;
	json_t *tr, *c;

	json_array_foreach(arr, i, tr) {
		const json_t *in = json_object_get(tr, "inbound");
		const json_t *out = json_object_get(tr, "outbound");
		char src[256] = "", dst[300] = "";
		size_t o = 0;
		const char *row[6];

		json_array_foreach(json_object_get(in, "allowed_sources"), k,
				   c) {
			int n = snprintf(src + o, sizeof(src) - o, "%s%s",
					 k ? "," : "", json_string_value(c));
			if (n < 0 || (size_t)n >= sizeof(src) - o) {
				snprintf(src + sizeof(src) - 4, 4, "...");
				break;
			}
			o += (size_t)n;
		}
		if (!o)
			snprintf(src, sizeof(src), "any");

		if (jstr(out, "address"))
			snprintf(dst, sizeof(dst), "%s:%s:%lld",
				 jstr(out, "transport"), jstr(out, "address"),
				 (long long)json_integer_value(
					 json_object_get(out, "port")));

		row[0] = jstr(tr, "id");
		row[1] = jstr(tr, "name");
		row[2] = jstr(tr, "kind");
		row[3] = src;
		row[4] = dst;
		row[5] = jstr(tr, "media_encryption");
		table_add(&t, row);
	}
	table_print(&t);
}


/** Print the table of calls.list or calls.recent: an ended call shows
    why it ended in the State column */
void cliout_calls(const json_t *arr)
{
	struct table t = {9, {"Call SID", "Number", "From", "Agent", "Codec",
			      "State", "Seconds", "Lost", "Concealed"},
			  NULL, 0};
	size_t i;
	json_t *c;

	json_array_foreach(arr, i, c) {
		const json_t *jb = json_object_get(json_object_get(c, "stats"),
						   "jitter_buffer");
		char dur[24], lost[24], conc[24];
		const char *row[9];

		snprintf(dur, sizeof(dur), "%lld", (long long)
			 json_integer_value(json_object_get(c, "duration_s")));
		snprintf(lost, sizeof(lost), "%lld", (long long)
			 json_integer_value(json_object_get(jb, "lost")));
		snprintf(conc, sizeof(conc), "%lld", (long long)
			 json_integer_value(json_object_get(jb, "concealed")));
		row[0] = jstr(c, "call_sid");
		row[1] = jstr(c, "number");
		row[2] = jstr(c, "from");
		row[3] = jstr(c, "agent_id");
		row[4] = jstr(c, "codec");
		row[5] = json_object_get(c, "end_reason") ?
			jstr(c, "end_reason") : jstr(c, "state");
		row[6] = dur;
		row[7] = lost;
		row[8] = conc;
		table_add(&t, row);
	}
	table_print(&t);
}


/** Print one object as indented JSON */
void cliout_pretty(const json_t *o)
{
	char *s = json_dumps(o, JSON_INDENT(2));

	if (s)
		printf("%s\n", s);
	free(s);
}


static void print_kv(const char *prefix, const json_t *o)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)o, key, v) {
		char name[128];

		if (!*prefix && (!strcmp(key, "id") || !strcmp(key, "ok") ||
				 !strcmp(key, "version") ||
				 !strcmp(key, "uptime_s")))
			continue;
		snprintf(name, sizeof(name), "%s%s", prefix, key);

		if (json_is_object(v)) {
			char sub[130];

			snprintf(sub, sizeof(sub), "%s.", name);
			print_kv(sub, v);
		}
		else if (json_is_string(v)) {
			printf("%-24s %s\n", name, json_string_value(v));
		}
		else {
			char *s = json_dumps(v, JSON_COMPACT |
					     JSON_ENCODE_ANY);

			printf("%-24s %s\n", name, s ? s : "?");
			free(s);
		}
	}
}


/** Print the status reply: version and uptime, then key/value lines */
void cliout_status(const json_t *r)
{
	json_int_t up = json_integer_value(json_object_get(r, "uptime_s"));

	printf("callbridge %s, up %lldd %02lld:%02lld:%02lld\n",
	       jstr(r, "version") ? jstr(r, "version") : "?",
	       (long long)(up / 86400), (long long)(up / 3600 % 24),
	       (long long)(up / 60 % 60), (long long)(up % 60));
	print_kv("", r);
}



/**
 * Print the line of a put: "<one> <key's value> created|replaced"
 *
 * @param r    the reply
 * @param one  the object's name in the reply ("number", "agent", ...)
 * @param key  its identifying member ("number" or "id")
 */
void cliout_put(const json_t *r, const char *one, const char *key)
{
	const json_t *o = json_object_get(r, one);

	printf("%s %s %s\n", one, jstr(o, key),
	       json_is_true(json_object_get(r, "created")) ?
	       "created" : "replaced");
}


/** Print the line of a delete: "<one> <id> deleted" */
void cliout_deleted(const json_t *r, const char *one)
{
	printf("%s %s deleted\n", one, jstr(r, "deleted"));
}
