/**
 * @file replay.c  main() of a fuzz target in a build without libFuzzer
 *
 * Usage: fuzz_X FILE|DIR...  Runs the target once on every file given,
 * and on every regular file of every directory given (the corpus), in
 * name order, and exits 0 if none of them crashed. CTest runs each
 * target on its corpus (fuzz_replay_X): every corpus file is checked on
 * every build, sanitizer builds included, without fuzzing.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "fuzz.h"

enum { REPLAY_MAX = 1024 * 1024 };   /**< largest input replayed [bytes] */

/* a target without an initialiser gets this one */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}


static int run_file(const char *path)
{
	uint8_t *buf;
	size_t n;
	FILE *f = fopen(path, "rb");

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return errno;
	}

	buf = malloc(REPLAY_MAX);
	if (!buf) {
		fclose(f);
		return ENOMEM;
	}

	n = fread(buf, 1, REPLAY_MAX, f);
	fclose(f);

	(void)LLVMFuzzerTestOneInput(buf, n);
	free(buf);

	return 0;
}


static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}


static int run_dir(const char *dir, unsigned *countp)
{
	struct dirent **names;
	int n, err = 0;

	n = scandir(dir, &names, NULL, by_name);
	if (n < 0) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return errno;
	}

	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (!err && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			err = run_file(path);
			++*countp;
		}
		free(names[i]);
	}
	free(names);

	return err;
}


int main(int argc, char **argv)
{
	unsigned count = 0;
	int err = 0;

	(void)LLVMFuzzerInitialize(&argc, &argv);

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}

	for (int i = 1; i < argc && !err; i++) {
		struct stat st;

		if (stat(argv[i], &st)) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode)) {
			err = run_dir(argv[i], &count);
		}
		else {
			err = run_file(argv[i]);
			++count;
		}
	}

	printf("%s: %u inputs replayed%s\n", argv[0], count,
	       err ? ", with errors" : "");

	return err || !count ? 1 : 0;
}
