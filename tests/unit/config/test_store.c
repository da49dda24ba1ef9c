/**
 * @file test_store.c  The store: persistence round trip, referential
 *                     integrity, bad state files, failed writes, seeds,
 *                     routes that outlive changes, concurrent readers
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <unistd.h>
#include <sys/stat.h>
#include "cb_re.h"
#include "store.h"
#include "test.h"


static char tmpdir[256];


static int rm_cb(const char *path, const struct stat *sb, int flag,
		 struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}


static void rm_rf(const char *path)
{
	nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}


static const char *tpath(const char *name)
{
	static char buf[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", tmpdir, name);
	return buf[i];
}


static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	TEST_ASSERT(f != NULL);
	fputs(text, f);
	TEST_EQ(fclose(f), 0);
}


static char *read_file(const char *path)
{
	static char buf[1 << 16];
	FILE *f = fopen(path, "r");
	size_t n;

	TEST_ASSERT(f != NULL);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}


static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);

	if (!j)
		TEST_FAIL("bad test JSON: %s", jerr.text);
	return j;
}


static void put_agent(struct store *st, const char *text, int expect)
{
	json_t *j = parse(text);
	struct agent *a = NULL;
	char err[512];

	TEST_ERR(agent_decode(&a, j, NULL, err, sizeof(err)), 0);
	TEST_ERR(store_agent_put(st, a, NULL, err, sizeof(err)), expect);
	mem_deref(a);
	json_decref(j);
}


static void put_trunk(struct store *st, const char *text)
{
	json_t *j = parse(text);
	struct trunk *t = NULL;
	char err[512];

	TEST_ERR(trunk_decode(&t, j, NULL, err, sizeof(err)), 0);
	TEST_ERR(store_trunk_put(st, t, NULL, err, sizeof(err)), 0);
	mem_deref(t);
	json_decref(j);
}


static int put_number(struct store *st, const char *text, char *err,
		      size_t errsz)
{
	json_t *j = parse(text);
	struct number *n = NULL;
	int e;

	TEST_ERR(number_decode(&n, j, err, errsz), 0);
	e = store_number_put(st, n, NULL, err, errsz);
	mem_deref(n);
	json_decref(j);
	return e;
}


static char *dump_all(struct store *st)
{
	json_t *o = json_pack("{s:o,s:o,s:o}",
			      "a", store_agents_encode(st),
			      "t", store_trunks_encode(st),
			      "n", store_numbers_encode(st));
	char *s = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	return s;
}


static void populate(struct store *st)
{
	char err[512];

	put_agent(st, "{\"id\":\"support\",\"name\":\"Support\","
		  "\"url\":\"ws://127.0.0.1:9000/s\",\"auth_token\":\"TOK\","
		  "\"parameters\":{\"lang\":\"en\"}}", 0);
	put_agent(st, "{\"id\":\"sales\",\"url\":\"wss://sales.example/ws\","
		  "\"audio\":{\"encoding\":\"l16\",\"sample_rate\":16000}}", 0);
	put_trunk(st, "{\"id\":\"carrier1\",\"kind\":\"byoc\",\"inbound\":{"
		  "\"allowed_sources\":[\"127.0.0.0/8\"],\"auth_username\":"
		  "\"u\",\"auth_password\":\"INPW\"},\"outbound\":{\"address\":"
		  "\"sip.example.com\",\"auth_username\":\"o\","
		  "\"auth_password\":\"OUTPW\",\"headers\":{\"X-A\":\"1\"}}}");
	TEST_ERR(put_number(st, "{\"number\":\"+14155551234\","
			    "\"friendly_name\":\"Support - US\",\"trunk_id\":"
			    "\"carrier1\",\"inbound_agent_id\":\"support\"}",
			    err, sizeof(err)), 0);
	TEST_ERR(put_number(st, "{\"number\":\"+442071838750\","
			    "\"friendly_name\":\"Sales - UK\",\"trunk_id\":"
			    "\"carrier1\",\"inbound_agent_id\":\"support\","
			    "\"outbound_agent_id\":\"sales\",\"codecs\":"
			    "[\"opus\"]}", err, sizeof(err)), 0);
}


static void test_round_trip(void)
{
	struct store *st = NULL;
	struct agent *a = NULL;
	struct stat sb;
	char err[512], *before, *after;
	json_t *state;
	uint32_t na, nt, nn;

	TEST_ERR(store_open(&st, tpath("rt/state.json"), NULL, err,
			    sizeof(err)), 0);

	/* a fresh state file exists at once, mode 0600 */
	TEST_EQ(stat(tpath("rt/state.json"), &sb), 0);
	TEST_EQ(sb.st_mode & 0777, 0600);
	state = parse(read_file(tpath("rt/state.json")));
	TEST_EQ(json_integer_value(json_object_get(state, "format")), 2);
	TEST_EQ(json_array_size(json_object_get(state, "numbers")), 0);
	json_decref(state);

	populate(st);
	store_counts(st, &na, &nt, &nn);
	TEST_EQ(na, 2);
	TEST_EQ(nt, 1);
	TEST_EQ(nn, 2);

	before = dump_all(st);
	mem_deref(st);

	/* secrets are in the file (0600), in clear */
	TEST_ASSERT(strstr(read_file(tpath("rt/state.json")), "OUTPW"));

	TEST_ERR(store_open(&st, tpath("rt/state.json"), NULL, err,
			    sizeof(err)), 0);
	after = dump_all(st);
	TEST_STREQ(after, before);
	TEST_ASSERT(strstr(after, "TOK") == NULL);   /* listings redact */

	TEST_ERR(store_agent_get(st, "support", &a), 0);
	TEST_STREQ(a->auth_token, "TOK");
	TEST_STREQ(agent_param(a, "lang"), "en");
	mem_deref(a);

	/* sorted listings */
	{
		json_t *nums = store_numbers_encode(st);

		TEST_STREQ(json_string_value(json_object_get(
			json_array_get(nums, 0), "number")), "+14155551234");
		TEST_STREQ(json_string_value(json_object_get(
			json_array_get(nums, 1), "status")), "active");
		json_decref(nums);
	}

	free(before);
	free(after);
	mem_deref(st);
}


static void test_integrity(void)
{
	struct store *st = NULL;
	struct number *n = NULL;
	struct trunk *t = NULL;
	json_t *users;
	char err[512];

	TEST_ERR(store_open(&st, tpath("ri/state.json"), NULL, err,
			    sizeof(err)), 0);
	populate(st);

	/* references must exist */
	TEST_ERR(put_number(st, "{\"number\":\"+15550001111\","
			    "\"friendly_name\":\"x\",\"trunk_id\":\"nope\"}",
			    err, sizeof(err)), EINVAL);
	TEST_ASSERT(strstr(err, "trunk_id \"nope\": no such trunk"));
	TEST_ERR(put_number(st, "{\"number\":\"+15550001111\","
			    "\"friendly_name\":\"x\",\"trunk_id\":\"carrier1\","
			    "\"outbound_agent_id\":\"ghost\"}", err,
			    sizeof(err)), EINVAL);
	TEST_ASSERT(strstr(err, "outbound_agent_id \"ghost\": no such agent"));
	TEST_ERR(store_number_get(st, "+15550001111", &n), ENOENT);

	/* deleting what numbers use is refused and names them */
	users = json_array();
	TEST_ERR(store_agent_delete(st, "support", users, err, sizeof(err)),
		 EBUSY);
	TEST_ASSERT(strstr(err, "+14155551234"));
	TEST_ASSERT(strstr(err, "+442071838750"));
	TEST_EQ(json_array_size(users), 2);
	json_decref(users);

	TEST_ERR(store_agent_delete(st, "sales", NULL, err, sizeof(err)),
		 EBUSY);
	TEST_ASSERT(strstr(err, "agent \"sales\" is used by number "
			   "+442071838750"));
	TEST_ERR(store_trunk_delete(st, "carrier1", NULL, err, sizeof(err)),
		 EBUSY);
	TEST_ASSERT(strstr(err, "trunk \"carrier1\" is used by"));

	/* deleting a number does not touch its agents or trunk */
	TEST_ERR(store_number_delete(st, "+44 20 7183 8750", err,
				     sizeof(err)), 0);
	TEST_ERR(store_number_get(st, "+442071838750", &n), ENOENT);
	TEST_ERR(store_trunk_get(st, "carrier1", &t), 0);
	mem_deref(t);
	TEST_ERR(store_agent_delete(st, "sales", NULL, err, sizeof(err)), 0);
	TEST_ERR(store_agent_delete(st, "sales", NULL, err, sizeof(err)),
		 ENOENT);
	TEST_ERR(store_number_delete(st, "+442071838750", err, sizeof(err)),
		 ENOENT);
	TEST_ERR(store_number_delete(st, "12", err, sizeof(err)), EINVAL);

	/* one agent answers many numbers; the message stays bounded */
	for (int i = 0; i < 15; i++) {
		char text[256];

		snprintf(text, sizeof(text), "{\"number\":\"+1555000%04d\","
			 "\"friendly_name\":\"n%d\",\"trunk_id\":\"carrier1\","
			 "\"inbound_agent_id\":\"support\"}", i, i);
		TEST_ERR(put_number(st, text, err, sizeof(err)), 0);
	}
	users = json_array();
	TEST_ERR(store_agent_delete(st, "support", users, err, sizeof(err)),
		 EBUSY);
	TEST_EQ(json_array_size(users), 16);
	TEST_ASSERT(strstr(err, "and 6 more"));
	json_decref(users);

	mem_deref(st);
}


static void test_route_outlives_changes(void)
{
	struct store *st = NULL;
	struct route *r = NULL, *r2 = NULL;
	char err[512];

	TEST_ERR(store_open(&st, tpath("rc/state.json"), NULL, err,
			    sizeof(err)), 0);
	populate(st);

	TEST_ERR(store_route(st, "+1 (415) 555-1234", &r), 0);
	TEST_STREQ(r->number->number, "+14155551234");
	TEST_STREQ(r->trunk->id, "carrier1");
	TEST_STREQ(r->inbound_agent->url, "ws://127.0.0.1:9000/s");
	TEST_ASSERT(r->outbound_agent == NULL);
	TEST_STREQ(r->inbound_agent->auth_token, "TOK");

	/* change the agent and remove the number: the copy is unaffected */
	put_agent(st, "{\"id\":\"support\",\"url\":\"ws://127.0.0.1:9001/v2\"}",
		  0);
	TEST_ERR(store_number_delete(st, "+14155551234", err, sizeof(err)), 0);
	TEST_STREQ(r->inbound_agent->url, "ws://127.0.0.1:9000/s");
	TEST_STREQ(r->number->friendly_name, "Support - US");

	/* the next call sees the change */
	TEST_ERR(store_route(st, "+14155551234", &r2), ENOENT);
	TEST_ERR(store_route(st, "+442071838750", &r2), 0);
	TEST_STREQ(r2->inbound_agent->url, "ws://127.0.0.1:9001/v2");
	TEST_STREQ(r2->outbound_agent->id, "sales");
	TEST_ERR(store_route(st, "bogus", &r), EINVAL);

	mem_deref(r);
	mem_deref(r2);
	mem_deref(st);
}


static void test_failed_write(void)
{
	struct store *st = NULL;
	struct agent *a = NULL;
	char err[512], *before;
	json_t *j;
	struct agent *na = NULL;
	bool created = false;

	TEST_ERR(store_open(&st, tpath("fw/state.json"), NULL, err,
			    sizeof(err)), 0);
	populate(st);
	before = strdup(read_file(tpath("fw/state.json")));

	/* a directory where the temporary file goes makes the write fail
	   for real (this test runs as root: permissions would not) */
	TEST_EQ(mkdir(tpath("fw/.state.json.tmp"), 0700), 0);

	j = parse("{\"id\":\"support\",\"url\":\"ws://127.0.0.1:1/new\"}");
	TEST_ERR(agent_decode(&na, j, NULL, err, sizeof(err)), 0);
	json_decref(j);
	TEST_ASSERT(store_agent_put(st, na, NULL, err, sizeof(err)) != 0);
	TEST_ASSERT(strstr(err, "nothing changed"));
	TEST_ASSERT(store_agent_delete(st, "sales", NULL, err, sizeof(err))
		    == EBUSY);
	TEST_ASSERT(store_number_delete(st, "+14155551234", err,
					sizeof(err)) != 0);

	/* memory and disk hold the old state */
	TEST_ERR(store_agent_get(st, "support", &a), 0);
	TEST_STREQ(a->url, "ws://127.0.0.1:9000/s");
	a = mem_deref(a);
	{
		struct number *n = NULL;

		TEST_ERR(store_number_get(st, "+14155551234", &n), 0);
		mem_deref(n);
	}
	TEST_STREQ(read_file(tpath("fw/state.json")), before);

	/* once the obstacle is gone, the same change goes through */
	TEST_EQ(rmdir(tpath("fw/.state.json.tmp")), 0);
	TEST_ERR(store_agent_put(st, na, &created, err, sizeof(err)), 0);
	TEST_ASSERT(!created);
	TEST_ERR(store_agent_get(st, "support", &a), 0);
	TEST_STREQ(a->url, "ws://127.0.0.1:1/new");
	TEST_ASSERT(strstr(read_file(tpath("fw/state.json")),
			   "ws://127.0.0.1:1/new"));

	mem_deref(a);
	mem_deref(na);
	free(before);
	mem_deref(st);
}


#define AG(id) "{\"id\":\"" id "\",\"url\":\"ws://h/\"}"
#define TR(id) "{\"id\":\"" id "\",\"kind\":\"byoc\"}"
#define NU(num, trunk) "{\"number\":\"" num "\",\"friendly_name\":\"f\"," \
	"\"trunk_id\":\"" trunk "\"}"

static const struct {
	const char *text;
	const char *msg;       /* expected part of the error */
} bad_files[] = {
	{"", "line 1 column 0"},
	{"not json", "line 1 column 3"},
	{"{\"format\":1,\"agents\":[", "line 1"},
	{"[]", "must be a JSON object"},
	{"{}", "format: is required and must be 2"},
	{"{\"format\":\"1\"}", "format: is required and must be 2"},
	{"{\"format\":3}", "format: 3 is not supported by this version (it "
	 "reads formats 1 to 2)"},
	{"{\"format\":0}", "format: 0 is not supported"},
	{"{\"format\":1,\"extra\":[]}", "unknown field \"extra\""},
	{"{\"format\":1,\"agents\":{}}", "agents: must be a list"},
	{"{\"format\":1,\"agents\":[" AG("a") ",{\"id\":\"b\"}]}",
	 "agents[1] (b): url: is required"},
	{"{\"format\":1,\"agents\":[" AG("a") "," AG("a") "]}",
	 "agents[1] (a): duplicate id"},
	{"{\"format\":1,\"agents\":[7]}", "agents[0]: must be a JSON object"},
	{"{\"format\":1,\"trunks\":[{\"id\":\"t\",\"kind\":\"x\"}]}",
	 "trunks[0] (t): kind: \"x\" is not one of byoc, twilio"},
	{"{\"format\":1,\"trunks\":[" TR("t") "],\"numbers\":["
	 NU("+14155551234", "t") "," NU("+14155551235", "t") ","
	 NU("+14155551236", "t") "," NU("+14155551237", "x") "]}",
	 "numbers[3] (+14155551237): trunk_id \"x\": no such trunk"},
	{"{\"format\":1,\"trunks\":[" TR("t") "],\"numbers\":[{\"number\":"
	 "\"+14155551234\",\"friendly_name\":\"f\",\"trunk_id\":\"t\","
	 "\"inbound_agent_id\":\"ghost\"}]}",
	 "numbers[0] (+14155551234): inbound_agent_id \"ghost\": no such "
	 "agent"},
	{"{\"format\":1,\"trunks\":[" TR("t") "],\"numbers\":["
	 NU("+14155551234", "t") "," NU("+1 415 555 1234", "t") "]}",
	 "numbers[1] (+1 415 555 1234): duplicate number"},
	{"{\"format\":1,\"trunks\":[" TR("t") "],\"numbers\":["
	 NU("0014155551234", "t") "]}",
	 "numbers[0] (0014155551234): number: \"0014155551234\" must start "
	 "with '+'"},
	{"{\"format\":1,\"trunks\":[" TR("t") "],\"numbers\":[{\"number\":"
	 "\"+14155551234\",\"friendly_name\":\"f\",\"trunk_id\":\"t\","
	 "\"outbound_shareable\":1}]}",
	 "numbers[0] (+14155551234): outbound_shareable: must be true or "
	 "false"},
	{"{\"format\":1,\"agents\":[{\"id\":\"a\",\"url\":\"ws://h/\","
	 "\"auth_token_set\":true}]}",
	 "agents[0] (a): auth_token_set: is true but no auth_token"},
	{"{\"format\":1,\"agents\":[],\"agents\":[]}", "duplicate object key"},
};


static void test_bad_state_files(void)
{
	for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]);
	     i++) {
		struct store *st = NULL;
		char err[512] = "";
		char dir[64], file[64];

		snprintf(dir, sizeof(dir), "bad%zu", i);
		snprintf(file, sizeof(file), "bad%zu/state.json", i);
		TEST_EQ(mkdir(tpath(dir), 0700), 0);
		write_file(tpath(file), bad_files[i].text);

		if (store_open(&st, tpath(file), NULL, err, sizeof(err)) == 0)
			TEST_FAIL("bad file %zu loaded: %s", i,
				  bad_files[i].text);
		if (!strstr(err, bad_files[i].msg) ||
		    !strstr(err, tpath(file)))
			TEST_FAIL("bad file %zu: error \"%s\" lacks \"%s\"", i,
				  err, bad_files[i].msg);

		/* a failed start never rewrites the file */
		TEST_STREQ(read_file(tpath(file)), bad_files[i].text);
	}
}


static void test_seed_lock_and_leftovers(void)
{
	struct store *st = NULL, *st2 = NULL;
	char err[512];
	uint32_t nn = 0;

	write_file(tpath("seed.json"), "{\"format\":1,\"trunks\":["
		   TR("t") "],\"numbers\":[" NU("+14155550100", "t") "]}");

	/* a missing state file is created from the seed */
	TEST_ERR(store_open(&st, tpath("sd/deep/er/state.json"),
			    tpath("seed.json"), err, sizeof(err)), 0);
	store_counts(st, NULL, NULL, &nn);
	TEST_EQ(nn, 1);

	/* a second store on the same file is refused */
	TEST_ERR(store_open(&st2, tpath("sd/deep/er/state.json"), NULL, err,
			    sizeof(err)), EBUSY);
	TEST_ASSERT(strstr(err, "in use"));
	TEST_ERR(store_number_delete(st, "+14155550100", err, sizeof(err)),
		 0);
	mem_deref(st);

	/* once the state file exists the seed is ignored, and a temporary
	   file left by a crash is removed */
	write_file(tpath("sd/deep/er/.state.json.tmp"), "{\"format\":1,");
	TEST_ERR(store_open(&st, tpath("sd/deep/er/state.json"),
			    tpath("seed.json"), err, sizeof(err)), 0);
	store_counts(st, NULL, NULL, &nn);
	TEST_EQ(nn, 0);
	TEST_ASSERT(access(tpath("sd/deep/er/.state.json.tmp"), F_OK) != 0);
	mem_deref(st);

	/* a seed that is missing or bad stops start-up, naming it */
	TEST_ERR(store_open(&st, tpath("sd2/state.json"),
			    tpath("missing.json"), err, sizeof(err)), ENOENT);
	TEST_ASSERT(strstr(err, "missing.json"));
	write_file(tpath("badseed.json"), "{\"format\":1,\"numbers\":["
		   NU("+14155550100", "t") "]}");
	TEST_ERR(store_open(&st, tpath("sd2/state.json"),
			    tpath("badseed.json"), err, sizeof(err)), EINVAL);
	TEST_ASSERT(strstr(err, "badseed.json: numbers[0] (+14155550100): "
			   "trunk_id \"t\": no such trunk"));
	TEST_ASSERT(access(tpath("sd2/state.json"), F_OK) != 0);

	TEST_ERR(store_open(&st, "", NULL, err, sizeof(err)), EINVAL);
}


/* Readers on another thread see whole states, never a torn one */
struct reader {
	struct store *st;
	volatile bool stop;
	unsigned routes, misses;
	const char *fail;
};


static void *reader_main(void *arg)
{
	struct reader *rd = arg;

	for (unsigned i = 0; i < 2000000 && !rd->stop; i++) {
		struct route *r = NULL;
		int e = store_route(rd->st, "+14155551234", &r);

		if (e == ENOENT) {
			++rd->misses;
			continue;
		}
		if (e) {
			rd->fail = "store_route error";
			break;
		}
		/* the number names the agent it routes to */
		if (!r->inbound_agent ||
		    strcmp(r->number->inbound_agent_id,
			   r->inbound_agent->id) ||
		    strcmp(r->number->friendly_name, r->inbound_agent->name)) {
			rd->fail = "inconsistent route";
			mem_deref(r);
			break;
		}
		++rd->routes;
		mem_deref(r);
	}

	return NULL;
}


static void test_concurrent_readers(void)
{
	struct reader rd = {0};
	struct store *st = NULL;
	pthread_t thr;
	char err[512];

	TEST_ERR(store_open(&st, tpath("cr/state.json"), NULL, err,
			    sizeof(err)), 0);
	put_trunk(st, TR("t"));
	put_agent(st, "{\"id\":\"a0\",\"name\":\"v0\",\"url\":\"ws://h/\"}", 0);
	put_agent(st, "{\"id\":\"a1\",\"name\":\"v1\",\"url\":\"ws://h/\"}", 0);

	rd.st = st;
	TEST_EQ(pthread_create(&thr, NULL, reader_main, &rd), 0);

	for (int i = 0; i < 200; i++) {
		char text[256];

		snprintf(text, sizeof(text), "{\"number\":\"+14155551234\","
			 "\"friendly_name\":\"v%d\",\"trunk_id\":\"t\","
			 "\"inbound_agent_id\":\"a%d\"}", i % 2, i % 2);
		TEST_ERR(put_number(st, text, err, sizeof(err)), 0);
		if (i % 50 == 49)
			TEST_ERR(store_number_delete(st, "+14155551234", err,
						     sizeof(err)), 0);
	}

	rd.stop = true;
	pthread_join(thr, NULL);
	if (rd.fail)
		TEST_FAIL("reader: %s", rd.fail);

	mem_deref(st);
}


/* Random edits of a valid state file (seeded): loading refuses with a
   message or accepts, never crashes or leaks (run under ASan) */
static void test_fuzz_state_file(void)
{
	static const char *good = "{\"format\":1,\"agents\":[{\"id\":\"a\","
		"\"url\":\"ws://h/\",\"auth_token\":\"x\",\"parameters\":"
		"{\"k\":\"v\"}}],\"trunks\":[{\"id\":\"t\",\"kind\":\"byoc\","
		"\"inbound\":{\"allowed_sources\":[\"10.0.0.0/8\"]},"
		"\"outbound\":{\"address\":\"h\",\"port\":5060}}],"
		"\"numbers\":[{\"number\":\"+14155551234\",\"friendly_name\":"
		"\"f\",\"trunk_id\":\"t\",\"inbound_agent_id\":\"a\"}]}";
	unsigned seed = 99, loaded = 0, refused = 0;
	size_t len = strlen(good);

	TEST_EQ(mkdir(tpath("fz"), 0700), 0);

	for (int i = 0; i < 400; i++) {
		struct store *st = NULL;
		char text[1024], err[512] = "";
		int e;

		memcpy(text, good, len + 1);
		for (int k = 0; k < 1 + (int)(rand_r(&seed) % 3); k++)
			text[rand_r(&seed) % len] =
				(char)(rand_r(&seed) % 255 + 1);
		write_file(tpath("fz/state.json"), text);

		e = store_open(&st, tpath("fz/state.json"), NULL, err,
			       sizeof(err));
		if (e) {
			TEST_ASSERT(err[0] != '\0');
			TEST_STREQ(read_file(tpath("fz/state.json")), text);
			++refused;
		}
		else {
			mem_deref(st);
			++loaded;
		}
	}

	TEST_ASSERT(refused > 0);
}


/*
 * A state file of format 1 (a trunk's media_encryption in its outbound
 * block) opens with the trunk's setting where it is now, and is written
 * again in format 2 at once; store_check reads it and writes nothing.
 */
static void test_format1_migrated(void)
{
	static const char old[] = "{\"format\":1,\"trunks\":[{\"id\":\"t\","
		"\"kind\":\"byoc\",\"outbound\":{\"address\":\"h\","
		"\"media_encryption\":\"srtp_required\"}}]}";
	struct store *st = NULL;
	struct trunk *t = NULL;
	char err[512];
	json_t *state, *tr;

	TEST_EQ(mkdir(tpath("f1"), 0700), 0);
	write_file(tpath("f1/state.json"), old);

	TEST_ERR(store_check(&st, tpath("f1/state.json"), NULL, err,
			     sizeof(err)), 0);
	mem_deref(st);
	st = NULL;
	TEST_STREQ(read_file(tpath("f1/state.json")), old);

	TEST_ERR(store_open(&st, tpath("f1/state.json"), NULL, err,
			    sizeof(err)), 0);
	TEST_ERR(store_trunk_get(st, "t", &t), 0);
	TEST_EQ(t->media_encryption, TRUNK_MEDIA_ENC_SRTP_REQUIRED);
	mem_deref(t);

	state = parse(read_file(tpath("f1/state.json")));
	TEST_EQ(json_integer_value(json_object_get(state, "format")), 2);
	tr = json_array_get(json_object_get(state, "trunks"), 0);
	TEST_STREQ(json_string_value(json_object_get(tr, "media_encryption")),
		   "srtp_required");
	TEST_ASSERT(json_object_get(json_object_get(tr, "outbound"),
				    "media_encryption") == NULL);
	TEST_STREQ(json_string_value(json_object_get(json_object_get(tr,
		   "outbound"), "address")), "h");
	json_decref(state);
	mem_deref(st);
}


int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cb-test-store-XXXXXX");
	TEST_ASSERT(mkdtemp(tmpdir) != NULL);

	test_round_trip();
	test_integrity();
	test_route_outlives_changes();
	test_failed_write();
	test_bad_state_files();
	test_seed_lock_and_leftovers();
	test_format1_migrated();
	test_concurrent_readers();
	test_fuzz_state_file();

	rm_rf(tmpdir);
	printf("test_store: ok\n");
	return 0;
}
