/* ringbuf.c — lock-free SPSC float ring (see ringbuf.h). The positions are free-running size_t counters;
 * the index is pos & (capacity - 1), and head - tail is the fill level even after wrap-around. */
#include "ringbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int ringbuf_init(RingBuf *rb, size_t min_capacity)
{
    size_t cap = 2;

    memset(rb, 0, sizeof(*rb));
    if (min_capacity > ((size_t)1 << 28))
        return -EINVAL;
    while (cap < min_capacity)
        cap <<= 1;
    rb->buf = calloc(cap, sizeof(float));
    if (!rb->buf)
        return -ENOMEM;
    rb->capacity = cap;
    atomic_init(&rb->head, 0);
    atomic_init(&rb->tail, 0);
    return 0;
}

void ringbuf_destroy(RingBuf *rb)
{
    if (!rb)
        return;
    free(rb->buf);
    rb->buf = NULL;
    rb->capacity = 0;
}

size_t ringbuf_available(const RingBuf *rb)
{
    size_t h = atomic_load_explicit(&((RingBuf *)rb)->head, memory_order_acquire);
    size_t t = atomic_load_explicit(&((RingBuf *)rb)->tail, memory_order_acquire);
    return h - t;
}

size_t ringbuf_space(const RingBuf *rb)
{
    return rb->capacity - ringbuf_available(rb);
}

size_t ringbuf_write(RingBuf *rb, const float *src, size_t n)
{
    size_t h = atomic_load_explicit(&rb->head, memory_order_relaxed);
    size_t t = atomic_load_explicit(&rb->tail, memory_order_acquire);
    size_t space = rb->capacity - (h - t), i, first;

    if (n > space)
        n = space;
    i = h & (rb->capacity - 1);
    first = rb->capacity - i < n ? rb->capacity - i : n;
    memcpy(rb->buf + i, src, first * sizeof(float));
    memcpy(rb->buf, src + first, (n - first) * sizeof(float));
    atomic_store_explicit(&rb->head, h + n, memory_order_release);
    return n;
}

size_t ringbuf_read(RingBuf *rb, float *dst, size_t n)
{
    size_t t = atomic_load_explicit(&rb->tail, memory_order_relaxed);
    size_t h = atomic_load_explicit(&rb->head, memory_order_acquire);
    size_t avail = h - t, i, first;

    if (n > avail)
        n = avail;
    i = t & (rb->capacity - 1);
    first = rb->capacity - i < n ? rb->capacity - i : n;
    memcpy(dst, rb->buf + i, first * sizeof(float));
    memcpy(dst + first, rb->buf, (n - first) * sizeof(float));
    atomic_store_explicit(&rb->tail, t + n, memory_order_release);
    return n;
}

void ringbuf_clear(RingBuf *rb)
{
    size_t h = atomic_load_explicit(&rb->head, memory_order_acquire);
    atomic_store_explicit(&rb->tail, h, memory_order_release);
}
