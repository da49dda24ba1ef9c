/**
 * @file playq.h  Playout queue: agent audio waiting to be paced out as RTP
 *
 * A FIFO of audio bytes with marks at positions in it. Agents send audio
 * faster than real time; the media worker reads one frame per 20 ms tick.
 * A mark is echoed once every byte queued before it has been read (played),
 * or at once when nothing is queued. `clear` drops the audio and releases
 * every pending mark. Memory grows in blocks only while audio is queued.
 */
#ifndef CB_PLAYQ_H
#define CB_PLAYQ_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

struct playq;

/**
 * Mark handler: the mark has been reached (played or cleared)
 *
 * @param name     Mark name (NULL for a mark sent without a name)
 * @param cleared  True if released by a clear rather than by playing
 * @param arg      Handler argument
 */
typedef void (playq_mark_h)(const char *name, bool cleared, void *arg);

int    playq_alloc(struct playq **qp, size_t max_bytes, playq_mark_h *markh,
		   void *arg);
size_t playq_write(struct playq *q, const uint8_t *data, size_t len);
size_t playq_read(struct playq *q, uint8_t *out, size_t len);
size_t playq_peek(const struct playq *q, uint8_t *out, size_t len);
int    playq_mark(struct playq *q, const char *name);
void   playq_clear(struct playq *q);
size_t playq_len(const struct playq *q);
uint64_t playq_dropped(const struct playq *q);

#endif
