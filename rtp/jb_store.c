/**
 * @file jb_store.c  Jitter buffer: the packet store
 *
 * Design note. Packets live in `capacity` entries allocated with the
 * buffer; their payloads are copied into an arena of `capacity` equal
 * slots. The store is a small index array kept sorted by media position
 * (insertion sort: packets mostly arrive in order, so an insert is a
 * compare and an append), a stack of free entries, and a stack of entries
 * consumed by the last result, which stay readable until the next call
 * (the pointers handed out by jb_get() point into them). The slots start
 * at SLOT_INIT bytes (a 20 or 30 ms G.711 packet, any narrowband Opus
 * one) and the first larger packet grows them all, doubling, up to
 * max_payload: a call allocates at most a few times, and holds memory for
 * the packets it gets rather than for the largest it could (16 x 1500
 * bytes for Opus). The last comfort-noise payload is kept apart, double
 * buffered, so that a SILENCE slot can carry it after its packet is gone.
 */
#include <errno.h>
#include <string.h>
#include <re_types.h>
#include <re_mem.h>
#include "jb_int.h"


/** Insert in (ext, sequence) order; ties of different sources by arrival */
void jb_store_insert(struct jb *jb, uint16_t idx)
{
	const struct jb_ent *n = &jb->ent[idx];
	unsigned k = jb->n;

	while (k > 0) {
		const struct jb_ent *p = ENT(jb, k - 1);

		if (p->ext < n->ext || (p->ext == n->ext &&
		    (p->gen != n->gen || p->eseq < n->eseq)))
			break;
		--k;
	}

	memmove(&jb->ord[k + 1], &jb->ord[k], (jb->n - k) * sizeof(*jb->ord));
	jb->ord[k] = idx;
	++jb->n;
}


/** Remove the first n entries; they stay readable until the next call */
void jb_store_consume(struct jb *jb, unsigned n)
{
	unsigned k;

	for (k = 0; k < n; k++) {
		struct jb_ent *e = ENT(jb, k);

		if (!(e->flags & (EF_CN | EF_PLAYED)))
			++jb->st.dropped;

		jb->pend[jb->npend++] = jb->ord[k];
	}

	memmove(&jb->ord[0], &jb->ord[n], (jb->n - n) * sizeof(*jb->ord));
	jb->n -= n;
}


void jb_store_depth(struct jb *jb)
{
	int64_t end = jb->play;
	uint32_t pkts = 0, ms;
	unsigned k;

	for (k = 0; k < jb->n; k++) {
		const struct jb_ent *e = ENT(jb, k);

		if (e->flags & EF_CN)
			continue;
		++pkts;
		end = max64(end, e->ext + e->dur);
	}

	ms = (uint32_t)(to_us(jb, end - jb->play) / 1000);

	jb->st.depth_pkts = pkts;
	jb->st.depth_ms   = ms;
	if (pkts > jb->st.depth_max_pkts)
		jb->st.depth_max_pkts = pkts;
	if (ms > jb->st.depth_max_ms)
		jb->st.depth_max_ms = ms;
}


/*
 * Make every arena slot hold len bytes (len <= max_payload): double the
 * slot size until it does, capped at max_payload, and move the buffered
 * payloads. Pointers from the last jb_get() die here, as the API allows.
 */
int jb_store_grow(struct jb *jb, uint32_t len)
{
	const uint32_t cap = jb->conf.capacity;
	uint32_t slot = jb->slot, i;
	uint8_t *arena;

	while (slot < len)
		slot *= 2;
	if (slot > jb->conf.max_payload)
		slot = jb->conf.max_payload;

	arena = mem_alloc((size_t)cap * slot, NULL);
	if (!arena)
		return ENOMEM;

	for (i = 0; i < cap; i++) {
		struct jb_ent *e = &jb->ent[i];

		if (e->len)
			memcpy(arena + (size_t)i * slot, e->payload, e->len);
		e->payload = arena + (size_t)i * slot;
	}

	mem_deref(jb->arena);
	jb->arena = arena;
	jb->slot = slot;
	++jb->st.arena_grows;

	return 0;
}


void jb_store_cn(struct jb *jb, const uint8_t *p, size_t len)
{
	unsigned nxt = jb->cn_cur ^ 1;

	len = len < CN_MAX ? len : CN_MAX;
	if (len)
		memcpy(jb->cn[nxt], p, len);
	jb->cn_len = len;
	jb->cn_cur = nxt;
}
