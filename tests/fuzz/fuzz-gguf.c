/* fuzz-gguf.c — libFuzzer target for the GGUF reader (core/gguf.c): parse the input with
 * gguf_open_memory() and, when it is accepted, exercise every accessor the way myna-inspect and the model
 * loaders do (every key, typed getters, every string-array element, every tensor view and its first and
 * last data byte). Any read outside the input is a bug that ASan reports. Without -Dfuzzing it is linked
 * with replay-main.c and runs the seed corpus tests/fuzz/corpus/gguf once. */
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t g_sink; /* keeps the reads from being optimised away */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    GgufFile *f = NULL;
    char err[512], buf[256];

    if (gguf_open_memory(data, size, &f, err, sizeof(err)) < 0)
        return 0;
    g_sink += gguf_version(f) + gguf_alignment(f) + gguf_data_offset(f) + gguf_file_size(f);
    for (int64_t i = 0; i < gguf_n_kv(f); i++) {
        const char *key = gguf_key(f, i), *s;
        uint64_t u, n;
        uint32_t u32;
        int32_t i32;
        float fl;
        int b;
        GgufType et;
        const void *p;
        size_t len;

        g_sink += (uint64_t)gguf_find_key(f, key) + (uint64_t)gguf_kv_type(f, i);
        gguf_format_value(f, i, buf, sizeof(buf));
        if (gguf_get_u32(f, key, &u32) == 0) g_sink += u32;
        if (gguf_get_i32(f, key, &i32) == 0) g_sink += (uint64_t)i32;
        if (gguf_get_u64(f, key, &u) == 0) g_sink += u;
        if (gguf_get_uint(f, key, &u) == 0) g_sink += u;
        if (gguf_get_f32(f, key, &fl) == 0) g_sink += (uint64_t)(fl == fl);
        if (gguf_get_bool(f, key, &b) == 0) g_sink += (uint64_t)b;
        if (gguf_get_str(f, key, &s, &len) == 0 && len) g_sink += (uint8_t)s[len - 1];
        if (gguf_get_arr(f, key, &et, &n, &p) == 0) {
            if (et == GGUF_TYPE_STRING) {
                for (uint64_t k = 0; k < n; k++)
                    if (gguf_get_arr_str(f, key, k, &s, &len) == 0 && len)
                        g_sink += (uint8_t)s[len - 1];
                g_sink += (uint64_t)gguf_get_arr_str(f, key, n, &s, &len); /* out of range */
            } else if (n) {
                g_sink += *(const uint8_t *)p;
            }
        }
    }
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const GgufTensorInfo *ti = gguf_tensor(f, i);
        Tensor t;
        if (!ti || gguf_find_tensor(f, ti->name) != ti)
            __builtin_trap();
        if (gguf_tensor_view(ti, &t) == 0 && tensor_nbytes(&t) == ti->nbytes && ti->nbytes) {
            const uint8_t *d = ti->data;
            g_sink += d[0] + d[ti->nbytes - 1];
        } else {
            __builtin_trap(); /* an accepted tensor must always have a valid view */
        }
    }
    gguf_close(f);
    return 0;
}
