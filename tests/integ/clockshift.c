/**
 * @file clockshift.c  LD_PRELOAD shim: the daemon's own time() shifted
 *
 * Design note. Digest nonces carry time(NULL) and go stale after 300 s;
 * a test cannot wait that long, and the nonce's HMAC key is random per
 * process, so an old nonce cannot be forged either. Preloaded into the
 * daemon (tests/integ/test_call_auth.py), this shim answers time() calls
 * made from the main executable with CLOCK_REALTIME plus the offset in
 * the file named by CB_CLOCKSHIFT_FILE: a decimal number of seconds, read
 * at every call, 0 if the file is missing or unreadable. The test rewrites
 * the file while the daemon runs. Calls from libraries (libwebsockets'
 * header timeouts, libre, libc) get the real time, so nothing but the
 * gateway's own clock reading moves.
 *
 * Built without sanitizers: it is loaded before the ASan runtime (the
 * test sets verify_asan_link_order=0 for that).
 */
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct exe {
	uintptr_t lo[16], hi[16];    /**< PT_LOAD segments [address]  */
	int n;
	int done;
};

static struct exe exe;


/* the first object dl_iterate_phdr() reports is the main program */
static int first_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct exe *e = arg;

	(void)size;

	for (int i = 0; i < info->dlpi_phnum && e->n < 16; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD)
			continue;
		e->lo[e->n] = info->dlpi_addr + ph->p_vaddr;
		e->hi[e->n] = e->lo[e->n] + ph->p_memsz;
		++e->n;
	}

	return 1;   /* stop after the first */
}


static int from_main(uintptr_t pc)
{
	if (!__atomic_load_n(&exe.done, __ATOMIC_ACQUIRE)) {
		struct exe e = {.n = 0};

		(void)dl_iterate_phdr(first_object, &e);
		exe = e;    /* racing threads write the same values */
		__atomic_store_n(&exe.done, 1, __ATOMIC_RELEASE);
	}

	for (int i = 0; i < exe.n; i++) {
		if (pc >= exe.lo[i] && pc < exe.hi[i])
			return 1;
	}

	return 0;
}


static long offset_s(void)
{
	const char *path = getenv("CB_CLOCKSHIFT_FILE");
	char buf[32];
	ssize_t n;
	int fd;

	if (!path)
		return 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	(void)close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';

	return strtol(buf, NULL, 10);
}


time_t time(time_t *tloc)
{
	struct timespec ts;
	time_t t;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	t = ts.tv_sec;

	if (from_main((uintptr_t)__builtin_return_address(0)))
		t += (time_t)offset_s();

	if (tloc)
		*tloc = t;

	return t;
}
