/**
 * @file fuzz_state.c  Fuzz target: the state file loaded at start-up
 *                     (config/store*.c, as `callbridge --check` and the
 *                     daemon load it)
 *
 * Input: the state file's contents, written to a scratch directory and
 * loaded with store_check(). What loads is then used as the daemon uses
 * it: every table listed, every number routed. Properties: a load that
 * fails says why; a number that is listed routes to a trunk.
 */
#include <stdlib.h>
#include <string.h>
#include "cb_re.h"
#include "store.h"
#include "fuzz.h"

static char path[300];


int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[256];

	(void)argc;
	(void)argv;

	if (fuzz_tmpdir(dir, sizeof(dir), "state"))
		abort();
	snprintf(path, sizeof(path), "%s/state.json", dir);

	return 0;
}


static void use(struct store *st)
{
	json_t *agents = store_agents_encode(st);
	json_t *trunks = store_trunks_encode(st);
	json_t *numbers = store_numbers_encode(st);
	size_t i;
	json_t *n;

	json_array_foreach(numbers, i, n) {
		const char *e164 = json_string_value(json_object_get(n,
								   "number"));
		struct route *r = NULL;

		if (!e164)
			continue;
		if (!store_route(st, e164, &r)) {
			FUZZ_ASSERT(r->trunk != NULL);
			mem_deref(r);
		}
	}

	json_decref(agents);
	json_decref(trunks);
	json_decref(numbers);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store *st = NULL;
	char err[512];

	if (fuzz_write_file(path, data, size))
		abort();

	err[0] = '\0';
	if (store_check(&st, path, NULL, err, sizeof(err))) {
		FUZZ_ASSERT(st == NULL && err[0] != '\0');
		return 0;
	}

	use(st);
	mem_deref(st);

	return 0;
}
