/* ringbuf.h — lock-free single-producer single-consumer ring buffer of float samples.
 *
 * What it is: the hand-off between a real-time audio callback (which must never block or allocate) and
 * the thread that consumes or produces samples. Exactly one thread writes and exactly one thread reads;
 * C11 acquire/release atomics on the two positions make that safe without locks.
 * What it is not: multi-producer, blocking, or resizable. Waiting is the caller's business.
 */
#ifndef MYNA_RINGBUF_H
#define MYNA_RINGBUF_H

#include <stdatomic.h>
#include <stddef.h>

typedef struct {
    float *buf;               /* owned; [capacity] */
    size_t capacity;          /* a power of two */
    _Atomic size_t head;      /* total samples ever written (producer-owned) */
    _Atomic size_t tail;      /* total samples ever read (consumer-owned) */
} RingBuf;

/* capacity is rounded up to a power of two (>= 2, <= 2^28); -EINVAL out of range, -ENOMEM. */
int ringbuf_init(RingBuf *rb, size_t min_capacity);
void ringbuf_destroy(RingBuf *rb); /* accepts NULL and a zeroed struct */

size_t ringbuf_available(const RingBuf *rb); /* samples ready to read */
size_t ringbuf_space(const RingBuf *rb);     /* samples that can be written */
/* Copy up to n samples; return how many were copied (never blocks). */
size_t ringbuf_write(RingBuf *rb, const float *src, size_t n);
size_t ringbuf_read(RingBuf *rb, float *dst, size_t n);
/* Consumer side: drop everything currently readable. */
void ringbuf_clear(RingBuf *rb);

#endif
