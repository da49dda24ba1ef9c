/**
 * @file pcapf.c  Classic pcap files of UDP packets, read and written
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <re.h>
#include "pcapf.h"

enum {
	MAGIC_US     = 0xa1b2c3d4,
	MAGIC_NS     = 0xa1b23c4d,
	LINK_ETH     = 1,
	LINK_SLL     = 113,
	ETH_IP4      = 0x0800,
	ETH_IP6      = 0x86dd,
	ETH_VLAN     = 0x8100,
	PROTO_UDP    = 17,
	MAX_FILE     = 256 * 1024 * 1024,
	SNAPLEN      = 65535,
};

struct pcapf_reader {
	uint8_t *buf;
	size_t len, off;
	bool swap;       /* file written in the other byte order */
	bool nano;       /* nanosecond timestamps */
	uint32_t link;
};

struct pcapf_writer {
	FILE *f;
	uint16_t ident;
};


static uint32_t rd32(const struct pcapf_reader *r, const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);

	return r->swap ? __builtin_bswap32(v) : v;
}


static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}


static void reader_destructor(void *arg)
{
	struct pcapf_reader *r = arg;

	mem_deref(r->buf);
}


/**
 * Open a pcap file for reading (it is read into memory whole)
 *
 * @param rp    Pointer to allocated reader
 * @param path  File
 *
 * @return 0 if success, errno of the failing call, EBADMSG if the file is
 *         not a classic pcap, ENOTSUP for a link type other than Ethernet
 *         or Linux cooked capture, EFBIG if larger than 256 MiB
 */
int pcapf_open(struct pcapf_reader **rp, const char *path)
{
	struct pcapf_reader *r;
	FILE *f = NULL;
	uint32_t magic;
	long sz;
	int err = 0;

	if (!rp || !path)
		return EINVAL;

	r = mem_zalloc(sizeof(*r), reader_destructor);
	if (!r)
		return ENOMEM;

	f = fopen(path, "rb");
	if (!f) {
		err = errno;
		goto out;
	}

	if (fseek(f, 0, SEEK_END) || (sz = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET)) {
		err = errno ? errno : EIO;
		goto out;
	}
	if (sz > MAX_FILE) {
		err = EFBIG;
		goto out;
	}
	if (sz < 24) {
		err = EBADMSG;
		goto out;
	}

	r->len = (size_t)sz;
	r->buf = mem_alloc(r->len, NULL);
	if (!r->buf) {
		err = ENOMEM;
		goto out;
	}
	if (fread(r->buf, 1, r->len, f) != r->len) {
		err = EIO;
		goto out;
	}

	memcpy(&magic, r->buf, 4);
	if (magic == MAGIC_US || magic == MAGIC_NS) {
		r->swap = false;
	}
	else if (__builtin_bswap32(magic) == MAGIC_US ||
		 __builtin_bswap32(magic) == MAGIC_NS) {
		r->swap = true;
		magic = __builtin_bswap32(magic);
	}
	else {
		err = EBADMSG;
		goto out;
	}

	r->nano = magic == MAGIC_NS;
	r->link = rd32(r, r->buf + 20);
	if (r->link != LINK_ETH && r->link != LINK_SLL) {
		err = ENOTSUP;
		goto out;
	}

	r->off = 24;
	*rp = r;

 out:
	if (f)
		fclose(f);
	if (err)
		mem_deref(r);

	return err;
}


/* one frame -> UDP, or ENOENT if it is not UDP over IP */
static int frame_udp(const struct pcapf_reader *r, const uint8_t *p,
		     size_t n, struct pcapf_udp *u)
{
	size_t off = (r->link == LINK_ETH) ? 12 : 14;
	uint16_t etype;
	size_t ulen;

	if (n < off + 2)
		return ENOENT;
	etype = be16(p + off);
	off += 2;
	if (etype == ETH_VLAN) {
		if (n < off + 4)
			return ENOENT;
		etype = be16(p + off + 2);
		off += 4;
	}

	if (etype == ETH_IP4) {
		size_t ihl;
		struct in_addr a;

		if (n < off + 20 || (p[off] >> 4) != 4)
			return ENOENT;
		ihl = (size_t)(p[off] & 0x0f) * 4;
		if (ihl < 20 || p[off + 9] != PROTO_UDP || n < off + ihl + 8)
			return ENOENT;
		memcpy(&a, p + off + 12, 4);
		sa_set_in(&u->src, ntohl(a.s_addr), 0);
		memcpy(&a, p + off + 16, 4);
		sa_set_in(&u->dst, ntohl(a.s_addr), 0);
		off += ihl;
	}
	else if (etype == ETH_IP6) {
		if (n < off + 48 || (p[off] >> 4) != 6 ||
		    p[off + 6] != PROTO_UDP)
			return ENOENT;
		sa_set_in6(&u->src, p + off + 8, 0);
		sa_set_in6(&u->dst, p + off + 24, 0);
		off += 40;
	}
	else {
		return ENOENT;
	}

	sa_set_port(&u->src, be16(p + off));
	sa_set_port(&u->dst, be16(p + off + 2));
	ulen = be16(p + off + 4);
	if (ulen < 8 || off + ulen > n)
		return EBADMSG;

	u->payload = p + off + 8;
	u->len = ulen - 8;

	return 0;
}


/**
 * The next UDP packet; packets of other protocols are skipped
 *
 * @param r  Reader
 * @param u  Packet, filled in; its payload points into the reader
 *
 * @return 0 if success, ENOENT at the end, EBADMSG for a truncated file
 *         or a UDP length beyond the frame
 */
int pcapf_next(struct pcapf_reader *r, struct pcapf_udp *u)
{
	if (!r || !u)
		return EINVAL;

	while (r->off < r->len) {
		const uint8_t *h = r->buf + r->off;
		uint32_t sec, frac, caplen;
		int err;

		if (r->len - r->off < 16)
			return EBADMSG;
		sec    = rd32(r, h);
		frac   = rd32(r, h + 4);
		caplen = rd32(r, h + 8);
		if (caplen > r->len - r->off - 16)
			return EBADMSG;
		r->off += 16 + (size_t)caplen;

		memset(u, 0, sizeof(*u));
		u->t_us = (uint64_t)sec * 1000000 +
			(r->nano ? frac / 1000 : frac);

		err = frame_udp(r, h + 16, caplen, u);
		if (err == ENOENT)
			continue;

		return err;
	}

	return ENOENT;
}


static void writer_destructor(void *arg)
{
	struct pcapf_writer *w = arg;

	if (w->f)
		fclose(w->f);
}


static int put(struct pcapf_writer *w, const void *p, size_t n)
{
	return fwrite(p, 1, n, w->f) == n ? 0 : EIO;
}


static void le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}


static void wbe16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}


/**
 * Create a pcap file (microsecond timestamps, Ethernet)
 *
 * @param wp    Pointer to allocated writer
 * @param path  File, truncated if it exists
 *
 * @return 0 if success, otherwise errorcode
 */
int pcapf_create(struct pcapf_writer **wp, const char *path)
{
	struct pcapf_writer *w;
	uint8_t h[24];
	int err;

	if (!wp || !path)
		return EINVAL;

	w = mem_zalloc(sizeof(*w), writer_destructor);
	if (!w)
		return ENOMEM;

	w->f = fopen(path, "wb");
	if (!w->f) {
		err = errno;
		goto out;
	}

	le32(h, MAGIC_US);
	h[4] = 2; h[5] = 0;          /* version 2.4 */
	h[6] = 4; h[7] = 0;
	le32(h + 8, 0);              /* thiszone */
	le32(h + 12, 0);             /* sigfigs */
	le32(h + 16, SNAPLEN);
	le32(h + 20, LINK_ETH);
	err = put(w, h, sizeof(h));
	if (err)
		goto out;

	*wp = w;

 out:
	if (err)
		mem_deref(w);

	return err;
}


static uint32_t csum_add(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)((p[i] << 8) | p[i + 1]);
	if (n & 1)
		s += (uint32_t)(p[n - 1] << 8);

	return s;
}


static uint16_t csum_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);

	return (uint16_t)~s;
}


/**
 * Append one UDP packet in an Ethernet frame
 *
 * @param w        Writer
 * @param t_us     Capture time [us since the epoch]
 * @param src      Source address and port
 * @param dst      Destination address and port (same family)
 * @param payload  UDP payload
 * @param len      Its length, at most 65507 [bytes]
 *
 * @return 0 if success, EINVAL for a bad argument, EAFNOSUPPORT for mixed
 *         or unknown address families, EIO if the write failed
 */
int pcapf_write_udp(struct pcapf_writer *w, uint64_t t_us,
		    const struct sa *src, const struct sa *dst,
		    const uint8_t *payload, size_t len)
{
	uint8_t h[16 + 14 + 40 + 8];
	uint8_t *eth = h + 16, *ip = eth + 14, *udp;
	size_t iplen, ulen = 8 + len, flen;
	uint32_t s;
	int af;

	if (!w || !src || !dst || (!payload && len) || len > 65507)
		return EINVAL;

	af = sa_af(src);
	if (af != sa_af(dst) || (af != AF_INET && af != AF_INET6))
		return EAFNOSUPPORT;

	memset(h, 0, sizeof(h));
	memcpy(eth, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
	wbe16(eth + 12, af == AF_INET ? ETH_IP4 : ETH_IP6);

	if (af == AF_INET) {
		uint32_t a;

		iplen = 20;
		ip[0] = 0x45;
		wbe16(ip + 2, (uint16_t)(20 + ulen));
		wbe16(ip + 4, w->ident++);
		wbe16(ip + 6, 0x4000);   /* don't fragment */
		ip[8] = 64;
		ip[9] = PROTO_UDP;
		a = htonl(sa_in(src));
		memcpy(ip + 12, &a, 4);
		a = htonl(sa_in(dst));
		memcpy(ip + 16, &a, 4);
		wbe16(ip + 10, csum_fold(csum_add(0, ip, 20)));

		/* pseudo header: addresses, zero, protocol, UDP length */
		s = csum_add(0, ip + 12, 8);
	}
	else {
		iplen = 40;
		ip[0] = 0x60;
		wbe16(ip + 4, (uint16_t)ulen);
		ip[6] = PROTO_UDP;
		ip[7] = 64;
		sa_in6(src, ip + 8);
		sa_in6(dst, ip + 24);

		s = csum_add(0, ip + 8, 32);
	}
	s += PROTO_UDP + (uint32_t)ulen;

	udp = ip + iplen;
	wbe16(udp, sa_port(src));
	wbe16(udp + 2, sa_port(dst));
	wbe16(udp + 4, (uint16_t)ulen);
	s = csum_add(s, udp, 8);
	if (len)
		s = csum_add(s, payload, len);
	s = csum_fold(s);
	wbe16(udp + 6, s ? (uint16_t)s : 0xffff);

	flen = 14 + iplen + ulen;
	le32(h, (uint32_t)(t_us / 1000000));
	le32(h + 4, (uint32_t)(t_us % 1000000));
	le32(h + 8, (uint32_t)flen);
	le32(h + 12, (uint32_t)flen);

	if (put(w, h, 16 + 14 + iplen + 8) || (len && put(w, payload, len)))
		return EIO;

	return 0;
}


/**
 * Flush and close a pcap file and free the writer
 *
 * @return 0 if everything reached the file, EIO otherwise
 */
int pcapf_close(struct pcapf_writer *w)
{
	int err = 0;

	if (!w)
		return EINVAL;

	if (fclose(w->f))
		err = EIO;
	w->f = NULL;
	mem_deref(w);

	return err;
}
