/**
 * @file fuzz_settings.c  Fuzz target: the daemon's settings file
 *                        (config/settings.c, settings_load)
 *
 * Input: the file's contents, written to a scratch directory and loaded
 * as `callbridge --config FILE` loads it. Properties: a load either
 * fails with a message or gives settings whose strings are terminated.
 */
#include <stdlib.h>
#include <string.h>
#include "cb_re.h"
#include "settings.h"
#include "fuzz.h"

static char path[300];


int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[256];

	(void)argc;
	(void)argv;

	if (fuzz_tmpdir(dir, sizeof(dir), "settings"))
		abort();
	snprintf(path, sizeof(path), "%s/callbridge.conf", dir);

	return 0;
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct settings *s = NULL;
	char err[512];
	int e;

	if (fuzz_write_file(path, data, size))
		abort();

	err[0] = '\0';
	e = settings_load(&s, path, err, sizeof(err));
	FUZZ_ASSERT(memchr(err, '\0', sizeof(err)) != NULL);
	if (e) {
		FUZZ_ASSERT(s == NULL && err[0] != '\0');
		return 0;
	}

	FUZZ_ASSERT(s != NULL);
	FUZZ_ASSERT(memchr(s->path, '\0', sizeof(s->path)) != NULL);
	FUZZ_ASSERT(memchr(s->account_sid, '\0',
			   sizeof(s->account_sid)) != NULL);
	mem_deref(s);

	return 0;
}
