/* test-gguf-truncate.c — truncation sweep and random bit flips over a valid GGUF (RELIABILITY.md §1).
 *
 * The file (C writer: every scalar kv type, two string arrays, numeric arrays, five tensors of four dtypes)
 * is cut at every byte of its metadata (so every structural boundary: header fields, each kv, each tensor
 * info, the padding before the data), at each tensor's first and last bytes and their neighbours, and at
 * 200 evenly spaced offsets. Every cut is opened through a real file (ftruncate, so mmap sees the short
 * size) and through an exact-size heap copy: each must be rejected with a "gguf: " message, never a signal.
 * Then 4000 random 1-3 bit flips (fixed seed): each open either fails cleanly or succeeds, and then every
 * accessor is exercised and every tensor's first and last byte read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf.h"
#include "test-util.h"

static volatile uint64_t g_sink;

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static int build(void **ret, size_t *ret_size)
{
    static char tok_store[300][16];
    static const char *toks[300];
    static const char *const merges[] = {"a b", "ab c", "\xc4\xa0 t", "h e"};
    static float w_f32[64 * 16], w_out[4 * 3 * 4];
    static uint8_t w_q8[8 * 2 * 34], w_f16[4 * 32 * 2], w_q4k[4 * 144];
    const int64_t ne_a[2] = {64, 16}, ne_b[2] = {64, 8}, ne_c[2] = {32, 4}, ne_d[2] = {256, 4}, ne_e[3] = {4, 3, 4};
    int32_t ai[5] = {1, -2, 3, -4, 5};
    float af[3] = {0.5f, -1.5f, 2.0f};
    uint8_t ab[4] = {1, 0, 0, 1};
    GgufWriter *w;
    int r = 0;

    for (int i = 0; i < 300; i++) {
        snprintf(tok_store[i], sizeof(tok_store[i]), "t%03d\xc3\xa9", i);
        toks[i] = tok_store[i];
    }
    for (size_t i = 0; i < sizeof(w_f32) / 4; i++)
        w_f32[i] = (float)i * 0.01f;
    memset(w_q8, 0x11, sizeof(w_q8));
    memset(w_f16, 0x22, sizeof(w_f16));
    memset(w_q4k, 0x33, sizeof(w_q4k));
    memset(w_out, 0x44, sizeof(w_out));
    if (gguf_writer_new(&w) < 0)
        return -1;
    r |= gguf_writer_add_str(w, "general.architecture", "llama");
    r |= gguf_writer_add_u32(w, "llama.block_count", 2);
    r |= gguf_writer_add_i32(w, "test.i32", -7);
    r |= gguf_writer_add_u64(w, "test.u64", 123456789012345ull);
    r |= gguf_writer_add_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    r |= gguf_writer_add_bool(w, "test.bool", 0);
    r |= gguf_writer_add_arr(w, "llama.feed_forward_length", GGUF_TYPE_INT32, 5, ai);
    r |= gguf_writer_add_arr(w, "test.arr_f32", GGUF_TYPE_FLOAT32, 3, af);
    r |= gguf_writer_add_arr(w, "test.arr_bool", GGUF_TYPE_BOOL, 4, ab);
    r |= gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", 300, toks);
    r |= gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", 4, merges);
    r |= gguf_writer_add_str(w, "tokenizer.chat_template", "{% for m in messages %}{{ m.content }}{% endfor %}");
    r |= gguf_writer_add_tensor(w, "token_embd.weight", DTYPE_F32, 2, ne_a, w_f32);
    r |= gguf_writer_add_tensor(w, "blk.0.attn_q.weight", DTYPE_Q8_0, 2, ne_b, w_q8);
    r |= gguf_writer_add_tensor(w, "blk.0.attn_k.weight", DTYPE_F16, 2, ne_c, w_f16);
    r |= gguf_writer_add_tensor(w, "blk.0.ffn_down.weight", DTYPE_Q4_K, 2, ne_d, w_q4k);
    r |= gguf_writer_add_tensor(w, "output.weight", DTYPE_F32, 3, ne_e, w_out);
    r |= gguf_writer_write_memory(w, ret, ret_size);
    gguf_writer_free(w);
    return r ? -1 : 0;
}

static void exercise(const GgufFile *f)
{
    char buf[160];
    for (int64_t i = 0; i < gguf_n_kv(f); i++) {
        const char *key = gguf_key(f, i), *s;
        uint64_t u, n;
        uint32_t u32;
        float fl;
        int b;
        size_t len;
        GgufType et;
        const void *p;

        CHECK(gguf_find_key(f, key) == i);
        gguf_format_value(f, i, buf, sizeof(buf));
        g_sink += (uint8_t)buf[0];
        if (gguf_get_uint(f, key, &u) == 0) g_sink += u;
        if (gguf_get_u32(f, key, &u32) == 0) g_sink += u32;
        if (gguf_get_f32(f, key, &fl) == 0) g_sink += (uint64_t)(fl != 0);
        if (gguf_get_bool(f, key, &b) == 0) g_sink += (uint64_t)b;
        if (gguf_get_str(f, key, &s, &len) == 0) g_sink += (uint8_t)s[len];
        if (gguf_get_arr(f, key, &et, &n, &p) == 0) {
            if (et == GGUF_TYPE_STRING) {
                for (uint64_t k = 0; k < n; k++)
                    if (gguf_get_arr_str(f, key, k, &s, &len) == 0)
                        g_sink += (uint8_t)s[len];
            } else if (n) {
                g_sink += ((const uint8_t *)p)[0];
            }
        }
    }
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const GgufTensorInfo *ti = gguf_tensor(f, i);
        Tensor t;
        CHECK(ti && gguf_find_tensor(f, ti->name) == ti);
        CHECK(ti && gguf_tensor_view(ti, &t) == 0 && tensor_nbytes(&t) == ti->nbytes);
        if (ti && ti->nbytes)
            g_sink += ((const uint8_t *)ti->data)[0] + ((const uint8_t *)ti->data)[ti->nbytes - 1];
    }
}

static int cmp_desc(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

int main(void)
{
    void *file = NULL;
    size_t size = 0, needed, n_cuts = 0, *cuts;
    GgufFile *f = NULL;
    char err[512], path[256];
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    int fd, n_ok = 0, n_fail = 0, n_bad_msg = 0;
    uint64_t data_off;

    if (build(&file, &size) < 0) {
        CHECK(!"writer failed");
        return test_exit();
    }
    CHECK_INT(gguf_open_memory(file, size, &f, err, sizeof(err)), 0);
    if (!f)
        return test_exit();
    exercise(f);
    {
        const GgufTensorInfo *last = gguf_tensor(f, gguf_n_tensors(f) - 1);
        data_off = gguf_data_offset(f);
        needed = (size_t)(data_off + last->offset + last->nbytes);
    }

    /* Cut points: every byte of the metadata and padding, tensor edges, 200 evenly spaced. */
    cuts = malloc((data_off + 6 * 8 + 200) * sizeof(size_t));
    for (size_t c = 0; c < data_off; c++)
        cuts[n_cuts++] = c;
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const GgufTensorInfo *ti = gguf_tensor(f, i);
        size_t s = (size_t)(data_off + ti->offset), e = s + ti->nbytes;
        size_t cand[4] = {s, s + 1, e - 1, e};
        for (int k = 0; k < 4; k++)
            if (cand[k] < needed && cand[k] >= data_off)
                cuts[n_cuts++] = cand[k];
    }
    for (int k = 0; k < 200; k++)
        cuts[n_cuts++] = (size_t)((double)k * (double)needed / 200.0);
    qsort(cuts, n_cuts, sizeof(size_t), cmp_desc);
    gguf_close(f);
    f = NULL;

    snprintf(path, sizeof(path), "/tmp/test-gguf-truncate-%d.gguf", (int)getpid());
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(write(fd, file, size) == (ssize_t)size);
        for (size_t k = 0; k < n_cuts; k++) {
            size_t c = cuts[k];
            void *copy;
            int r;
            if (k && c == cuts[k - 1])
                continue;
            CHECK_INT(ftruncate(fd, (off_t)c), 0); /* descending: the file only shrinks */
            err[0] = 0;
            r = gguf_open(path, &f, err, sizeof(err));
            if (r >= 0 || strncmp(err, "gguf: ", 6)) {
                fprintf(stderr, "cut at %zu (file): %d %s\n", c, r, err);
                n_bad_msg++;
            }
            gguf_close(f);
            f = NULL;
            copy = malloc(c ? c : 1);
            memcpy(copy, file, c);
            r = gguf_open_memory(copy, c, &f, err, sizeof(err));
            if (r >= 0) {
                fprintf(stderr, "cut at %zu (memory) accepted\n", c);
                n_bad_msg++;
            }
            gguf_close(f);
            f = NULL;
            free(copy);
        }
        close(fd);
    }
    CHECK_INT(n_bad_msg, 0);
    fprintf(stderr, "%zu cut points (metadata %llu bytes, file %zu bytes) all rejected\n", n_cuts,
            (unsigned long long)data_off, size);

    /* Random bit flips, 90% in the metadata. */
    for (int it = 0; it < 4000; it++) {
        uint8_t *copy = malloc(size);
        int n_flips = 1 + (int)(rng_next(&seed) % 3), r;
        memcpy(copy, file, size);
        for (int k = 0; k < n_flips; k++) {
            size_t range = rng_next(&seed) % 10 ? (size_t)data_off : size;
            size_t bit = (size_t)(rng_next(&seed) % (range * 8));
            copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        err[0] = 0;
        r = gguf_open_memory(copy, size, &f, err, sizeof(err));
        if (r == 0) {
            n_ok++;
            exercise(f);
        } else {
            n_fail++;
            if (strncmp(err, "gguf: ", 6) || !strstr(err, "(at byte ")) {
                fprintf(stderr, "flip %d: bad message %d '%s'\n", it, r, err);
                n_bad_msg++;
            }
        }
        gguf_close(f);
        f = NULL;
        free(copy);
    }
    fprintf(stderr, "bit flips: %d opened, %d rejected\n", n_ok, n_fail);
    CHECK(n_ok > 0);
    CHECK(n_fail > 0);
    CHECK_INT(n_bad_msg, 0);

    unlink(path);
    free(cuts);
    free(file);
    return test_exit();
}
