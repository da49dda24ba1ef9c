/**
 * @file bstamp.c  Send timestamps carried in µ-law audio bytes
 */
#include <errno.h>
#include <string.h>
#include "bstamp.h"

enum {
	MAGIC0   = 0xcb,
	MAGIC1   = 0x5a,
	ECHO_CHK = 0xe5,
	HDR      = 14,        /**< record bytes 0..13  */
	ECHO     = 7,         /**< record bytes 14..20 */
};


static void put(uint8_t *w, const uint8_t *rec, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		w[2 * i]     = (uint8_t)(0xc0 | (rec[i] >> 4));
		w[2 * i + 1] = (uint8_t)(0xc0 | (rec[i] & 0x0f));
	}
}


static int get(uint8_t *rec, const uint8_t *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if ((w[2 * i] & 0xf0) != 0xc0 || (w[2 * i + 1] & 0xf0) != 0xc0)
			return EBADMSG;
		rec[i] = (uint8_t)((w[2 * i] & 0x0f) << 4 |
				   (w[2 * i + 1] & 0x0f));
	}

	return 0;
}


static void be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}


static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		(uint32_t)p[2] << 8 | p[3];
}


static uint8_t xsum(const uint8_t *p, size_t n)
{
	uint8_t x = 0;

	while (n--)
		x ^= *p++;

	return x;
}


/**
 * Write a stamp at the start of a µ-law frame (the echo part cleared)
 *
 * @param ulaw  Frame
 * @param len   Frame length [bytes], at least BSTAMP_LEN
 * @param call  Call index (low 24 bits are kept)
 * @param seq   Frame number
 * @param t0    Send time [us], low 32 bits of CLOCK_MONOTONIC
 *
 * @return 0 if success, EINVAL if the frame is too short
 */
int bstamp_write(uint8_t *ulaw, size_t len, uint32_t call, uint32_t seq,
		 uint32_t t0)
{
	uint8_t rec[HDR];

	if (!ulaw || len < BSTAMP_LEN)
		return EINVAL;

	rec[0] = MAGIC0;
	rec[1] = MAGIC1;
	rec[2] = (uint8_t)(call >> 16);
	rec[3] = (uint8_t)(call >> 8);
	rec[4] = (uint8_t)call;
	be32(rec + 5, seq);
	be32(rec + 9, t0);
	rec[13] = xsum(rec, 13);

	put(ulaw, rec, HDR);
	/* echo part: 0xC0 0xC0 ... fails its check until written */
	memset(ulaw + 2 * HDR, 0xc0, 2 * ECHO);

	return 0;
}


/**
 * Add the echo send time and frame number to a stamped frame
 *
 * @param ulaw  Frame
 * @param len   Frame length [bytes]
 * @param t2    Echo send time [us], low 32 bits of CLOCK_MONOTONIC
 * @param eseq  The echoer's own frame number for this call
 *
 * @return 0 if success, EINVAL if too short, ENOENT if not stamped
 */
int bstamp_write_echo(uint8_t *ulaw, size_t len, uint32_t t2, uint16_t eseq)
{
	uint8_t rec[ECHO];

	if (!ulaw || len < BSTAMP_LEN)
		return EINVAL;

	if (ulaw[0] != (0xc0 | (MAGIC0 >> 4)) ||
	    ulaw[1] != (0xc0 | (MAGIC0 & 0xf)))
		return ENOENT;

	be32(rec, t2);
	rec[4] = (uint8_t)(eseq >> 8);
	rec[5] = (uint8_t)eseq;
	rec[6] = (uint8_t)(xsum(rec, 6) ^ ECHO_CHK);
	put(ulaw + 2 * HDR, rec, ECHO);

	return 0;
}


/**
 * Read the stamp of a µ-law frame
 *
 * @param st    Decoded stamp
 * @param ulaw  Frame
 * @param len   Frame length [bytes]
 *
 * @return 0 if success, ENOENT if the frame carries no stamp, EBADMSG if
 *         it looks stamped but is corrupt
 */
int bstamp_read(struct bstamp *st, const uint8_t *ulaw, size_t len)
{
	uint8_t rec[HDR + ECHO];

	if (!st || !ulaw)
		return EINVAL;

	memset(st, 0, sizeof(*st));

	if (len < BSTAMP_LEN || get(rec, ulaw, 2) ||
	    rec[0] != MAGIC0 || rec[1] != MAGIC1)
		return ENOENT;

	if (get(rec, ulaw, HDR) || xsum(rec, 13) != rec[13])
		return EBADMSG;

	st->call = (uint32_t)rec[2] << 16 | (uint32_t)rec[3] << 8 | rec[4];
	st->seq  = rd32(rec + 5);
	st->t0   = rd32(rec + 9);

	if (!get(rec + HDR, ulaw + 2 * HDR, ECHO) &&
	    (uint8_t)(xsum(rec + HDR, 6) ^ ECHO_CHK) == rec[HDR + 6]) {
		st->t2 = rd32(rec + HDR);
		st->eseq = (uint16_t)(rec[HDR + 4] << 8 | rec[HDR + 5]);
		st->has_t2 = true;
	}

	return 0;
}


/** later - earlier for 32-bit wrapping [us] timestamps */
int64_t bstamp_diff(uint32_t later, uint32_t earlier)
{
	return (int64_t)(int32_t)(later - earlier);
}
