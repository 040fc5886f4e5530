/* gguf-writer.c — GGUF v3 writer for tools and tests (SPEC.md §1.1–1.2).
 *
 * What it is: metadata is serialised into a byte buffer as it is added (values are copied); tensors keep a
 * borrowed pointer to their data until gguf_writer_write*. Output layout matches gguf-py's GGUFWriter:
 * header, kv records, tensor infos, zero padding to the alignment, then each tensor's data padded to the
 * alignment (the last one too). Offsets are relative to the data section, packed in insertion order.
 * What it is not: a converter or quantizer. It enforces the same limits as the reader (gguf-internal.h) so
 * everything it writes opens with gguf_open(); a tensor type only has to be a known ggml type, so tests can
 * write files the reader rejects as unsupported.
 */
#include "gguf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf-internal.h"

typedef struct {
    uint8_t *p;
    size_t len, cap;
} Buf;

typedef struct {
    char *name;             /* owned */
    DType dtype;
    int n_dims;
    int64_t ne[TENSOR_MAX_DIMS];
    size_t nbytes;
    const void *data;       /* borrowed until write */
} WTensor;

struct GgufWriter {
    Buf kv;                 /* serialised kv records */
    uint64_t n_kv;
    char **keys;            /* owned copies, for duplicate detection */
    size_t n_keys, cap_keys;
    uint32_t alignment;
    WTensor *t;
    size_t n_t, cap_t;
};

static int buf_put(Buf *b, const void *p, size_t n)
{
    if (n > SIZE_MAX - b->len)
        return -EOVERFLOW;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        uint8_t *q;
        while (cap < b->len + n)
            cap = cap > SIZE_MAX / 2 ? b->len + n : cap * 2;
        q = realloc(b->p, cap);
        if (!q)
            return -ENOMEM;
        b->p = q;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

static int buf_le(Buf *b, uint64_t v, size_t n)
{
    uint8_t tmp[8];
    for (size_t i = 0; i < n; i++)
        tmp[i] = (uint8_t)(v >> (8 * i));
    return buf_put(b, tmp, n);
}

static int buf_str(Buf *b, const char *s, size_t n)
{
    int r = buf_le(b, n, 8);
    return r < 0 ? r : buf_put(b, s, n);
}

int gguf_writer_new(GgufWriter **ret)
{
    GgufWriter *w;
    if (!ret)
        return -EINVAL;
    w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->alignment = GGUF_DEFAULT_ALIGNMENT;
    *ret = w;
    return 0;
}

void gguf_writer_free(GgufWriter *w)
{
    if (!w)
        return;
    free(w->kv.p);
    for (size_t i = 0; i < w->n_keys; i++)
        free(w->keys[i]);
    free(w->keys);
    for (size_t i = 0; i < w->n_t; i++)
        free(w->t[i].name);
    free(w->t);
    free(w);
}

/* Validate and remember a key, then write its record prefix (key + value type). */
static int begin_kv(GgufWriter *w, const char *key, GgufType type)
{
    size_t n;
    char *copy;
    int r;

    if (!w || !key)
        return -EINVAL;
    n = strlen(key);
    if (n == 0 || n > GGUF_MAX_KEY_LEN || !gguf_utf8_valid((const uint8_t *)key, n, NULL))
        return -EINVAL;
    if (w->n_kv >= GGUF_MAX_KV)
        return -E2BIG;
    for (size_t i = 0; i < w->n_keys; i++)
        if (!strcmp(w->keys[i], key))
            return -EEXIST;
    if (w->n_keys == w->cap_keys) {
        size_t cap = w->cap_keys ? w->cap_keys * 2 : 16;
        char **k = realloc(w->keys, cap * sizeof(*k));
        if (!k)
            return -ENOMEM;
        w->keys = k;
        w->cap_keys = cap;
    }
    copy = strdup(key);
    if (!copy)
        return -ENOMEM;
    if ((r = buf_str(&w->kv, key, n)) < 0 || (r = buf_le(&w->kv, (uint64_t)type, 4)) < 0) {
        free(copy);
        return r;
    }
    w->keys[w->n_keys++] = copy;
    w->n_kv++;
    return 0;
}

static int rollback(GgufWriter *w, size_t mark, int r)
{
    w->kv.len = mark;
    free(w->keys[--w->n_keys]);
    w->n_kv--;
    return r;
}

/* A record is only kept when all of it was written: on failure kv.len and the key list are rolled back. */
static int add_scalar(GgufWriter *w, const char *key, GgufType t, uint64_t raw)
{
    size_t mark = w ? w->kv.len : 0;
    int r = begin_kv(w, key, t);
    if (r < 0)
        return r;
    r = buf_le(&w->kv, raw, gguf_scalar_size(t));
    return r < 0 ? rollback(w, mark, r) : 0;
}

int gguf_writer_set_alignment(GgufWriter *w, uint32_t alignment)
{
    if (!w || alignment < GGUF_MIN_ALIGNMENT || alignment > GGUF_MAX_ALIGNMENT || (alignment & (alignment - 1)))
        return -EINVAL;
    return gguf_writer_add_u32(w, "general.alignment", alignment);
}

int gguf_writer_add_u32(GgufWriter *w, const char *key, uint32_t v)
{
    int r;
    if (key && !strcmp(key, "general.alignment") &&
        (v < GGUF_MIN_ALIGNMENT || v > GGUF_MAX_ALIGNMENT || (v & (v - 1))))
        return -EINVAL;
    r = add_scalar(w, key, GGUF_TYPE_UINT32, v);
    if (r == 0 && !strcmp(key, "general.alignment"))
        w->alignment = v;
    return r;
}

int gguf_writer_add_i32(GgufWriter *w, const char *key, int32_t v)
{
    return add_scalar(w, key, GGUF_TYPE_INT32, (uint32_t)v);
}

int gguf_writer_add_u64(GgufWriter *w, const char *key, uint64_t v)
{
    return add_scalar(w, key, GGUF_TYPE_UINT64, v);
}

int gguf_writer_add_f32(GgufWriter *w, const char *key, float v)
{
    uint32_t b;
    memcpy(&b, &v, 4);
    return add_scalar(w, key, GGUF_TYPE_FLOAT32, b);
}

int gguf_writer_add_bool(GgufWriter *w, const char *key, int v)
{
    return add_scalar(w, key, GGUF_TYPE_BOOL, v ? 1 : 0);
}

int gguf_writer_add_str(GgufWriter *w, const char *key, const char *v)
{
    size_t mark = w ? w->kv.len : 0, n;
    int r;
    if (!v)
        return -EINVAL;
    n = strlen(v);
    if (n > GGUF_MAX_STRING)
        return -E2BIG;
    if ((r = begin_kv(w, key, GGUF_TYPE_STRING)) < 0)
        return r;
    if ((r = buf_str(&w->kv, v, n)) < 0)
        return rollback(w, mark, r);
    return 0;
}

int gguf_writer_add_arr(GgufWriter *w, const char *key, GgufType elem, uint64_t n, const void *data)
{
    size_t mark = w ? w->kv.len : 0, es = gguf_scalar_size(elem);
    int r;

    if (es == 0 || n > GGUF_MAX_ARRAY || (n && !data))
        return -EINVAL;
    if (elem == GGUF_TYPE_BOOL)
        for (uint64_t i = 0; i < n; i++)
            if (((const uint8_t *)data)[i] > 1)
                return -EINVAL;
    if ((r = begin_kv(w, key, GGUF_TYPE_ARRAY)) < 0)
        return r;
    /* Elements are taken as host-order values and written little-endian. */
    if ((r = buf_le(&w->kv, (uint64_t)elem, 4)) < 0 || (r = buf_le(&w->kv, n, 8)) < 0)
        return rollback(w, mark, r);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t v = 0;
        const uint8_t *p = (const uint8_t *)data + i * es;
        switch (es) {
        case 1: v = p[0]; break;
        case 2: { uint16_t x; memcpy(&x, p, 2); v = x; break; }
        case 4: { uint32_t x; memcpy(&x, p, 4); v = x; break; }
        default: memcpy(&v, p, 8); break;
        }
        if ((r = buf_le(&w->kv, v, es)) < 0)
            return rollback(w, mark, r);
    }
    return 0;
}

int gguf_writer_add_arr_str(GgufWriter *w, const char *key, uint64_t n, const char *const *v)
{
    size_t mark = w ? w->kv.len : 0;
    int r;

    if (n > GGUF_MAX_ARRAY || (n && !v))
        return -EINVAL;
    for (uint64_t i = 0; i < n; i++)
        if (!v[i] || strlen(v[i]) > GGUF_MAX_STRING)
            return -EINVAL;
    if ((r = begin_kv(w, key, GGUF_TYPE_ARRAY)) < 0)
        return r;
    if ((r = buf_le(&w->kv, GGUF_TYPE_STRING, 4)) < 0 || (r = buf_le(&w->kv, n, 8)) < 0)
        return rollback(w, mark, r);
    for (uint64_t i = 0; i < n; i++)
        if ((r = buf_str(&w->kv, v[i], strlen(v[i]))) < 0)
            return rollback(w, mark, r);
    return 0;
}

int gguf_writer_add_tensor(GgufWriter *w, const char *name, DType dt, int n_dims, const int64_t *ne,
                           const void *data)
{
    const DTypeInfo *di = dtype_info(dt);
    WTensor t = {0};
    uint64_t nbytes;
    size_t row, n;

    if (!w || !name || !ne || !data || !di || n_dims < 1 || n_dims > TENSOR_MAX_DIMS)
        return -EINVAL;
    n = strlen(name);
    if (n == 0 || n > GGUF_MAX_NAME_LEN || !gguf_utf8_valid((const uint8_t *)name, n, NULL))
        return -EINVAL;
    if (w->n_t >= GGUF_MAX_TENSORS)
        return -E2BIG;
    for (size_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name))
            return -EEXIST;
    for (int d = 0; d < TENSOR_MAX_DIMS; d++) {
        t.ne[d] = d < n_dims ? ne[d] : 1;
        if (t.ne[d] < 1)
            return -EINVAL;
    }
    if (dtype_row_bytes(dt, t.ne[0], &row) < 0)
        return -EINVAL;
    nbytes = row;
    for (int d = 1; d < TENSOR_MAX_DIMS; d++) {
        if (nbytes > (uint64_t)INT64_MAX / (uint64_t)t.ne[d])
            return -EOVERFLOW;
        nbytes *= (uint64_t)t.ne[d];
    }
    if (nbytes > SIZE_MAX / 4)
        return -EOVERFLOW;
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? w->cap_t * 2 : 16;
        WTensor *p = realloc(w->t, cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        w->t = p;
        w->cap_t = cap;
    }
    t.name = strdup(name);
    if (!t.name)
        return -ENOMEM;
    t.dtype = dt;
    t.n_dims = n_dims;
    t.nbytes = (size_t)nbytes;
    t.data = data;
    w->t[w->n_t++] = t;
    return 0;
}

static size_t pad_to(size_t x, uint32_t a)
{
    return (x + a - 1) & ~(size_t)(a - 1);
}

/* Header + kv records + tensor infos (unpadded). */
static int build_head(const GgufWriter *w, Buf *h, size_t *ret_data_size)
{
    size_t off = 0;
    int r = 0;

    r = r ? r : buf_le(h, GGUF_MAGIC_LE, 4);
    r = r ? r : buf_le(h, 3, 4);
    r = r ? r : buf_le(h, w->n_t, 8);
    r = r ? r : buf_le(h, w->n_kv, 8);
    r = r ? r : buf_put(h, w->kv.p, w->kv.len);
    for (size_t i = 0; i < w->n_t && !r; i++) {
        const WTensor *t = &w->t[i];
        r = buf_str(h, t->name, strlen(t->name));
        r = r ? r : buf_le(h, (uint64_t)t->n_dims, 4);
        for (int d = 0; d < t->n_dims && !r; d++)
            r = buf_le(h, (uint64_t)t->ne[d], 8);
        r = r ? r : buf_le(h, (uint64_t)t->dtype, 4);
        r = r ? r : buf_le(h, off, 8);
        if (pad_to(t->nbytes, w->alignment) > SIZE_MAX / 2 - off)
            r = -EOVERFLOW;
        off += pad_to(t->nbytes, w->alignment);
    }
    *ret_data_size = off;
    return r;
}

int gguf_writer_write_memory(GgufWriter *w, void **ret, size_t *ret_size)
{
    Buf h = {0};
    size_t data_size, data_off, total, off = 0;
    uint8_t *out;
    int r;

    if (!w || !ret || !ret_size)
        return -EINVAL;
    r = build_head(w, &h, &data_size);
    if (r < 0)
        goto done;
    data_off = pad_to(h.len, w->alignment);
    if (data_size > SIZE_MAX - data_off) {
        r = -EOVERFLOW;
        goto done;
    }
    total = data_off + data_size;
    out = calloc(1, total ? total : 1);
    if (!out) {
        r = -ENOMEM;
        goto done;
    }
    memcpy(out, h.p, h.len);
    for (size_t i = 0; i < w->n_t; i++) {
        memcpy(out + data_off + off, w->t[i].data, w->t[i].nbytes);
        off += pad_to(w->t[i].nbytes, w->alignment);
    }
    *ret = out;
    *ret_size = total;
done:
    free(h.p);
    return r;
}

static int write_zeros(FILE *fp, size_t n)
{
    static const uint8_t zeros[256];
    while (n) {
        size_t k = n < sizeof(zeros) ? n : sizeof(zeros);
        if (fwrite(zeros, 1, k, fp) != k)
            return -EIO;
        n -= k;
    }
    return 0;
}

int gguf_writer_write(GgufWriter *w, const char *path)
{
    Buf h = {0};
    size_t data_size;
    FILE *fp = NULL;
    int r;

    if (!w || !path)
        return -EINVAL;
    r = build_head(w, &h, &data_size);
    if (r < 0)
        goto done;
    fp = fopen(path, "wb");
    if (!fp) {
        r = -errno;
        goto done;
    }
    if (fwrite(h.p, 1, h.len, fp) != h.len) {
        r = -EIO;
        goto done;
    }
    r = write_zeros(fp, pad_to(h.len, w->alignment) - h.len);
    for (size_t i = 0; i < w->n_t && !r; i++) {
        const WTensor *t = &w->t[i];
        if (fwrite(t->data, 1, t->nbytes, fp) != t->nbytes)
            r = -EIO;
        else
            r = write_zeros(fp, pad_to(t->nbytes, w->alignment) - t->nbytes);
    }
done:
    if (fp && fclose(fp) != 0 && r == 0)
        r = -EIO;
    free(h.p);
    return r;
}
