/* fuzz-safetensors.c — libFuzzer target for the safetensors reader (core/safetensors.c): parse the input
 * with st_open_memory() and, when it is accepted, check the invariants the loaders rely on (tensors sorted,
 * contiguous and inside the input, the byte size equal to the element count times the element size, name
 * lookup finding the same entry, a view agreeing on the byte count) and touch the first and last byte of
 * every tensor. Any read outside the input is a bug that ASan reports; a broken invariant traps. Without
 * -Dfuzzing it is linked with replay-main.c and runs the seed corpus tests/fuzz/corpus/safetensors once. */
#include <stddef.h>
#include <stdint.h>

#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t g_sink; /* keeps the reads from being optimised away */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    StFile *f = NULL;
    char err[512];
    const uint8_t *end = data + size, *prev_end = NULL;
    const char *m;

    if (st_open_memory(data, size, &f, err, sizeof(err)) < 0)
        return 0;
    m = st_metadata(f, "format");
    if (m)
        g_sink += (uint8_t)m[0];
    for (int64_t i = 0; i < st_n_tensors(f); i++) {
        const StTensor *t = st_tensor(f, i);
        const uint8_t *d;
        uint64_t count = 1;
        Tensor v;

        if (!t || st_find(f, t->name) != t || t->n_dims < 0 || t->n_dims > ST_MAX_DIMS)
            __builtin_trap();
        d = t->data;
        if (d < data || d > end || t->nbytes > (size_t)(end - d) || (prev_end && d != prev_end))
            __builtin_trap();
        prev_end = d + t->nbytes;
        for (int k = 0; k < t->n_dims; k++)
            count *= (uint64_t)t->shape[k];
        if (t->elem_size && count * (uint64_t)t->elem_size != t->nbytes)
            __builtin_trap();
        if (t->nbytes)
            g_sink += d[0] + d[t->nbytes - 1];
        if (st_tensor_view(t, &v) == 0 && tensor_nbytes(&v) != t->nbytes && t->nbytes)
            __builtin_trap();
    }
    if (st_n_tensors(f) && prev_end != end)
        __builtin_trap();
    if (st_tensor(f, st_n_tensors(f)) || st_find(f, "\x01 not a tensor"))
        __builtin_trap();
    st_close(f);
    return 0;
}
