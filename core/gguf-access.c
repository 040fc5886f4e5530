/* gguf-access.c — read access to an opened GgufFile: header fields, typed metadata getters, tensor infos
 * and views, and the one-line value rendering myna-inspect prints (gguf.h documents each call).
 * What it is not: the parser and its validation, the hash index behind gguf_find_key()/gguf_find_tensor()
 * (gguf.c). Everything here reads what gguf.c already checked, so nothing here can fail on file content.
 */
#include "gguf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gguf-internal.h"

/* ---- accessors ---- */

uint32_t gguf_version(const GgufFile *f) { return f ? f->version : 0; }
uint32_t gguf_alignment(const GgufFile *f) { return f ? f->alignment : 0; }
uint64_t gguf_data_offset(const GgufFile *f) { return f ? f->data_offset : 0; }
size_t gguf_file_size(const GgufFile *f) { return f ? f->size : 0; }
int64_t gguf_n_kv(const GgufFile *f) { return f ? f->n_kv : 0; }
int64_t gguf_n_tensors(const GgufFile *f) { return f ? f->n_tensors : 0; }

const char *gguf_key(const GgufFile *f, int64_t i)
{
    return f && i >= 0 && i < f->n_kv ? f->kv[i].key : NULL;
}

GgufType gguf_kv_type(const GgufFile *f, int64_t i)
{
    return f && i >= 0 && i < f->n_kv ? f->kv[i].type : GGUF_TYPE_COUNT;
}

static int get(const GgufFile *f, const char *key, GgufType t, const GgufKv **ret)
{
    int64_t i;
    if (!f || !key)
        return -EINVAL;
    i = gguf_find_key(f, key);
    if (i < 0)
        return -ENOENT;
    if (f->kv[i].type != t)
        return -EINVAL;
    *ret = &f->kv[i];
    return 0;
}

int gguf_get_u32(const GgufFile *f, const char *key, uint32_t *ret)
{
    const GgufKv *kv;
    int r = get(f, key, GGUF_TYPE_UINT32, &kv);
    if (r == 0 && ret)
        *ret = (uint32_t)kv->raw;
    return r;
}

int gguf_get_i32(const GgufFile *f, const char *key, int32_t *ret)
{
    const GgufKv *kv;
    int r = get(f, key, GGUF_TYPE_INT32, &kv);
    if (r == 0 && ret)
        *ret = (int32_t)(uint32_t)kv->raw;
    return r;
}

int gguf_get_u64(const GgufFile *f, const char *key, uint64_t *ret)
{
    const GgufKv *kv;
    int r = get(f, key, GGUF_TYPE_UINT64, &kv);
    if (r == 0 && ret)
        *ret = kv->raw;
    return r;
}

/* Sign-extend a scalar of `size` bytes. */
static int64_t sext(uint64_t raw, size_t size)
{
    unsigned shift = (unsigned)(64 - 8 * size);
    return (int64_t)(raw << shift) >> shift;
}

int gguf_get_uint(const GgufFile *f, const char *key, uint64_t *ret)
{
    const GgufKv *kv;
    int64_t i;

    if (!f || !key)
        return -EINVAL;
    i = gguf_find_key(f, key);
    if (i < 0)
        return -ENOENT;
    kv = &f->kv[i];
    switch (kv->type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_UINT32: case GGUF_TYPE_UINT64:
        if (ret)
            *ret = kv->raw;
        return 0;
    case GGUF_TYPE_INT8: case GGUF_TYPE_INT16: case GGUF_TYPE_INT32: case GGUF_TYPE_INT64: {
        int64_t s = sext(kv->raw, gguf_scalar_size(kv->type));
        if (s < 0)
            return -EINVAL;
        if (ret)
            *ret = (uint64_t)s;
        return 0;
    }
    default:
        return -EINVAL;
    }
}

int gguf_get_f32(const GgufFile *f, const char *key, float *ret)
{
    const GgufKv *kv;
    int r = get(f, key, GGUF_TYPE_FLOAT32, &kv);
    if (r == 0 && ret) {
        uint32_t b = (uint32_t)kv->raw;
        memcpy(ret, &b, 4);
    }
    return r;
}

int gguf_get_bool(const GgufFile *f, const char *key, int *ret)
{
    const GgufKv *kv;
    int r = get(f, key, GGUF_TYPE_BOOL, &kv);
    if (r == 0 && ret)
        *ret = (int)kv->raw;
    return r;
}

int gguf_get_str(const GgufFile *f, const char *key, const char **ret, size_t *ret_len)
{
    const GgufKv *kv;
    int r = get(f, key, GGUF_TYPE_STRING, &kv);
    if (r == 0) {
        if (ret)
            *ret = kv->str;
        if (ret_len)
            *ret_len = kv->str_len;
    }
    return r;
}

int gguf_get_arr(const GgufFile *f, const char *key, GgufType *ret_type, uint64_t *ret_n, const void **ret_data)
{
    const GgufKv *kv;
    int r = get(f, key, GGUF_TYPE_ARRAY, &kv);
    if (r == 0) {
        if (ret_type)
            *ret_type = kv->arr_type;
        if (ret_n)
            *ret_n = kv->arr_n;
        if (ret_data)
            *ret_data = kv->arr_data;
    }
    return r;
}

int gguf_get_arr_str(const GgufFile *f, const char *key, uint64_t i, const char **ret, size_t *ret_len)
{
    const GgufKv *kv;
    int r = get(f, key, GGUF_TYPE_ARRAY, &kv);
    if (r < 0)
        return r;
    if (kv->arr_type != GGUF_TYPE_STRING)
        return -EINVAL;
    if (i >= kv->arr_n)
        return -ERANGE;
    if (ret)
        *ret = kv->arr_blob + kv->arr_off[i];
    if (ret_len)
        *ret_len = kv->arr_off[i + 1] - kv->arr_off[i] - 1;
    return 0;
}

const GgufTensorInfo *gguf_tensor(const GgufFile *f, int64_t i)
{
    return f && i >= 0 && i < f->n_tensors ? &f->ti[i].info : NULL;
}

int gguf_tensor_view(const GgufTensorInfo *ti, Tensor *ret)
{
    int r;
    if (!ti || !ret)
        return -EINVAL;
    /* The mapping is read-only: writing through the view faults. */
    r = tensor_init(ret, ti->dtype, ti->n_dims, ti->ne, (void *)(uintptr_t)ti->data);
    if (r == 0)
        ret->name = ti->name;
    return r;
}

/* ---- text rendering for myna-inspect ---- */

typedef struct {
    char *buf;
    size_t len, pos;
    int trunc;
} Out;

static void out_printf(Out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_printf(Out *o, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (o->trunc)
        return;
    va_start(ap, fmt);
    n = vsnprintf(o->buf + o->pos, o->len - o->pos, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= o->len - o->pos) {
        o->trunc = 1;
        o->pos = o->len - 1;
    } else {
        o->pos += (size_t)n;
    }
}

static void out_str(Out *o, const char *s, size_t n, size_t max)
{
    out_printf(o, "\"");
    for (size_t i = 0; i < n && i < max && !o->trunc; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            out_printf(o, "\\%c", ch);
        else if (ch == '\n')
            out_printf(o, "\\n");
        else if (ch < 0x20 || ch == 0x7f)
            out_printf(o, "\\x%02x", ch);
        else
            out_printf(o, "%c", ch);
    }
    out_printf(o, n > max ? "\"...(%zu bytes)" : "\"", n);
}

static void out_scalar(Out *o, GgufType t, uint64_t raw)
{
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_UINT32: case GGUF_TYPE_UINT64:
        out_printf(o, "%llu", (unsigned long long)raw);
        break;
    case GGUF_TYPE_INT8: case GGUF_TYPE_INT16: case GGUF_TYPE_INT32: case GGUF_TYPE_INT64:
        out_printf(o, "%lld", (long long)sext(raw, gguf_scalar_size(t)));
        break;
    case GGUF_TYPE_FLOAT32: {
        uint32_t b = (uint32_t)raw;
        float v;
        memcpy(&v, &b, 4);
        out_printf(o, "%.9g", (double)v);
        break;
    }
    case GGUF_TYPE_FLOAT64: {
        double v;
        memcpy(&v, &raw, 8);
        out_printf(o, "%.17g", v);
        break;
    }
    case GGUF_TYPE_BOOL:
        out_printf(o, "%s", raw ? "true" : "false");
        break;
    default:
        out_printf(o, "?");
    }
}

int gguf_format_value(const GgufFile *f, int64_t i, char *buf, size_t len)
{
    Out o = {.buf = buf, .len = len};
    const GgufKv *kv;
    enum { MAX_ELEMS = 8, MAX_STR = 200 };

    if (!f || i < 0 || i >= f->n_kv || !buf || !len)
        return -EINVAL;
    buf[0] = 0;
    kv = &f->kv[i];
    if (kv->type == GGUF_TYPE_STRING) {
        out_str(&o, kv->str, kv->str_len, MAX_STR);
    } else if (kv->type == GGUF_TYPE_ARRAY) {
        size_t es = gguf_scalar_size(kv->arr_type);
        out_printf(&o, "[%s x %llu]", gguf_type_name(kv->arr_type), (unsigned long long)kv->arr_n);
        for (uint64_t k = 0; k < kv->arr_n && k < MAX_ELEMS; k++) {
            out_printf(&o, k ? ", " : " ");
            if (kv->arr_type == GGUF_TYPE_STRING)
                out_str(&o, kv->arr_blob + kv->arr_off[k], kv->arr_off[k + 1] - kv->arr_off[k] - 1, 40);
            else
                out_scalar(&o, kv->arr_type, gguf_le(kv->arr_data + k * es, es));
        }
        if (kv->arr_n > MAX_ELEMS)
            out_printf(&o, ", ...");
    } else {
        out_scalar(&o, kv->type, kv->raw);
    }
    if (o.trunc && len >= 4)
        memcpy(buf + len - 4, "...", 4);
    return 0;
}
