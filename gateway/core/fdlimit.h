/**
 * @file fdlimit.h  The process's file descriptors: the limit, and what a
 *                  configuration needs
 */
#ifndef CB_FDLIMIT_H
#define CB_FDLIMIT_H

#include <stdint.h>

/** Descriptors a call holds at most: RTP, RTCP, its agent link, and a
    SIP TCP connection of its own (SIPp, some carriers) */
#define FDLIMIT_PER_CALL 4

int fdlimit_raise(uint64_t *limitp, uint64_t *hardp);

#endif
