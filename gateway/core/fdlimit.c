/**
 * @file fdlimit.c  The process's file descriptor limit
 *
 * Every call holds descriptors (fdlimit.h), and descriptor numbers are
 * the process's: a TCP connection the SIP thread accepts while 400 calls
 * run gets a number above 1,200, whatever thread holds the others. So the
 * soft limit (often 1,024) is raised to the hard one at start-up, and
 * libre's table (1,024 entries unless told) is sized to it; main.c checks
 * that max_calls fits.
 */
#include <errno.h>
#include <sys/resource.h>
#include "fdlimit.h"

enum {
	FDLIMIT_CAP = 1 << 20,   /**< never ask for more than this */
};


/**
 * Raise the soft limit on open files to the hard one
 *
 * @param limitp  Set to the soft limit now in force
 * @param hardp   Set to the hard limit
 *
 * @return 0 if success (the soft limit may stay lower when the system
 *         refuses), otherwise an errno from getrlimit
 */
int fdlimit_raise(uint64_t *limitp, uint64_t *hardp)
{
	struct rlimit rl;
	uint64_t cur, hard;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return errno;

	hard = rl.rlim_max == RLIM_INFINITY ? FDLIMIT_CAP : rl.rlim_max;
	cur = rl.rlim_cur == RLIM_INFINITY ? FDLIMIT_CAP : rl.rlim_cur;
	if (hard > FDLIMIT_CAP)
		hard = FDLIMIT_CAP;

	if (cur < hard) {
		struct rlimit nl = {(rlim_t)hard, rl.rlim_max};

		if (!setrlimit(RLIMIT_NOFILE, &nl))
			cur = hard;
	}

	*limitp = cur > FDLIMIT_CAP ? FDLIMIT_CAP : cur;
	*hardp = hard;

	return 0;
}
