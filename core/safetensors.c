/* safetensors.c — validating reader for the safetensors format (SPEC.md §2.1–2.2), mmapped read-only.
 *
 * Layout: u64 LE header length N, N bytes of UTF-8 JSON (an object, may be right-padded with spaces), then
 * the byte buffer. Every entry is {"dtype", "shape", "data_offsets"} (exactly those keys); "__metadata__" is
 * a flat string→string map. Offsets are relative to the buffer, sorted, contiguous, first at 0, the last
 * ending exactly at end of file. Reference: huggingface/safetensors README "Format" and tensor.rs
 * (validate(), Dtype::bitsize()). Sub-byte dtypes (F4, F6_*) are accepted when the element count times the
 * bit size is a whole number of bytes, as the reference does; their elem_size is 0.
 *
 * Not here: HF folders / config.json (hf-model.c), any conversion of tensor data.
 * st_open_memory() borrows `data`: it must outlive the StFile. Tensor names and dtype strings live in the
 * parsed JSON, kept alive by the StFile.
 */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

enum { ST_MAX_HEADER = 100000000 };

struct StFile {
    const uint8_t *base; /* whole file / buffer; mapped when `mapped` */
    size_t size;
    int mapped;
    json_t *root;        /* owned; names and dtype strings point into it */
    json_t *metadata;    /* borrowed from root, may be NULL */
    StTensor *tensors;   /* owned [n], sorted by data offset */
    int64_t *by_name;    /* owned [n] indices into tensors, sorted by name */
    int64_t n;
};

typedef struct {
    const char *name;
    int dtype;
    int bits; /* bits per element */
} StDtypeDesc;

/* SPEC.md §2.2; sizes from tensor.rs Dtype::bitsize(). */
static const StDtypeDesc st_dtypes[] = {
    {"BOOL", -1, 8},          {"U8", -1, 8},           {"I8", DTYPE_I8, 8},
    {"I16", DTYPE_I16, 16},   {"U16", -1, 16},         {"F16", DTYPE_F16, 16},
    {"BF16", DTYPE_BF16, 16}, {"I32", DTYPE_I32, 32},  {"U32", -1, 32},
    {"F32", DTYPE_F32, 32},   {"F64", DTYPE_F64, 64},  {"I64", DTYPE_I64, 64},
    {"U64", -1, 64},          {"C64", -1, 64},         {"F8_E5M2", -1, 8},
    {"F8_E4M3", -1, 8},       {"F8_E8M0", -1, 8},      {"F8_E4M3FNUZ", -1, 8},
    {"F8_E5M2FNUZ", -1, 8},   {"F4", -1, 4},           {"F6_E2M3", -1, 6},
    {"F6_E3M2", -1, 6},
};

static const StDtypeDesc *dtype_lookup(const char *s)
{
    for (size_t i = 0; i < sizeof(st_dtypes) / sizeof(st_dtypes[0]); i++)
        if (!strcmp(st_dtypes[i].name, s))
            return &st_dtypes[i];
    return NULL;
}

/* Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF). Returns the offset of the first bad byte or
 * `len` when valid. */
static size_t utf8_check(const uint8_t *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        uint8_t c = s[i];
        size_t n;
        uint32_t cp, min;

        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0) { n = 1; cp = c & 0x1f; min = 0x80; }
        else if ((c & 0xf0) == 0xe0) { n = 2; cp = c & 0x0f; min = 0x800; }
        else if ((c & 0xf8) == 0xf0) { n = 3; cp = c & 0x07; min = 0x10000; }
        else return i;
        if (len - i <= n)
            return i;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return i;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return i;
        i += n + 1;
    }
    return len;
}

/* Best-effort location of an entry in the header text for messages: from its quoted key to the next '}'.
 * Names needing JSON escapes are not found; the whole header range is reported then. */
static void entry_span(const char *hdr, size_t n, const char *name, size_t *b, size_t *e)
{
    size_t len = strlen(name);

    *b = 0;
    *e = n;
    for (size_t i = 0; i + len + 2 <= n; i++) {
        if (hdr[i] != '"' || memcmp(hdr + i + 1, name, len) != 0 || hdr[i + 1 + len] != '"')
            continue;
        *b = i;
        for (size_t j = i + len + 2; j < n; j++) {
            if (hdr[j] == '}') {
                *e = j + 1;
                break;
            }
        }
        return;
    }
}

typedef struct {
    const char *hdr;
    size_t hdr_len;
    char *err;
    size_t err_len;
} ParseCtx;

#define TERR(ctx, code, name, ...) tensor_err((ctx), (code), (name), __VA_ARGS__)

static int tensor_err(const ParseCtx *ctx, int code, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int tensor_err(const ParseCtx *ctx, int code, const char *name, const char *fmt, ...)
{
    char what[512];
    size_t b, e;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    entry_span(ctx->hdr, ctx->hdr_len, name, &b, &e);
    return err_set(ctx->err, ctx->err_len, code, "safetensors: tensor '%.200s': %s (header byte %zu..%zu)",
                   name, what, b, e);
}

static void shape_str(const StTensor *t, char *buf, size_t len)
{
    size_t o = 0;

    o += (size_t)snprintf(buf + o, len - o, "[");
    for (int d = 0; d < t->n_dims && o < len; d++)
        o += (size_t)snprintf(buf + o, len - o, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    if (o < len)
        snprintf(buf + o, len - o, "]");
}

/* Reads a JSON integer >= 0 into *ret; 0 or a message fragment. */
static const char *get_nonneg(const json_t *v, int64_t *ret)
{
    if (!json_is_integer(v))
        return json_is_real(v) ? "is not an integer" : "is not a number";
    if (json_integer_value(v) < 0)
        return "is negative";
    *ret = (int64_t)json_integer_value(v);
    return NULL;
}

static int parse_entry(const ParseCtx *ctx, const char *name, json_t *v, StTensor *t, uint64_t off[2])
{
    const StDtypeDesc *dt;
    json_t *jd, *js, *jo;
    const char *why;
    uint64_t count = 1, bits;
    char sbuf[200];

    if (!json_is_object(v))
        return TERR(ctx, -EBADMSG, name, "entry is not an object");
    jd = json_object_get(v, "dtype");
    js = json_object_get(v, "shape");
    jo = json_object_get(v, "data_offsets");
    if (!jd)
        return TERR(ctx, -EBADMSG, name, "missing dtype");
    if (!js)
        return TERR(ctx, -EBADMSG, name, "missing shape");
    if (!jo)
        return TERR(ctx, -EBADMSG, name, "missing data_offsets");
    if (json_object_size(v) != 3) {
        const char *key;
        json_t *val;
        json_object_foreach(v, key, val) {
            if (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets"))
                return TERR(ctx, -EBADMSG, name, "unknown field '%.64s'", key);
        }
    }
    if (!json_is_string(jd))
        return TERR(ctx, -EBADMSG, name, "dtype is not a string");
    dt = dtype_lookup(json_string_value(jd));
    if (!dt)
        return TERR(ctx, -EBADMSG, name, "dtype '%.32s' unknown", json_string_value(jd));
    t->name = name;
    t->dtype_str = dt->name;
    t->dtype = dt->dtype;
    t->elem_size = dt->bits % 8 ? 0 : dt->bits / 8;

    if (!json_is_array(js))
        return TERR(ctx, -EBADMSG, name, "shape is not an array");
    if (json_array_size(js) > ST_MAX_DIMS)
        return TERR(ctx, -EBADMSG, name, "shape has %zu dims, at most %d allowed", json_array_size(js),
                    ST_MAX_DIMS);
    t->n_dims = (int)json_array_size(js);
    for (int d = 0; d < t->n_dims; d++) {
        why = get_nonneg(json_array_get(js, (size_t)d), &t->shape[d]);
        if (why)
            return TERR(ctx, -EBADMSG, name, "shape[%d] %s", d, why);
    }
    for (int d = 0; d < t->n_dims; d++) {
        uint64_t s = (uint64_t)t->shape[d];
        if (s && count > UINT64_MAX / s) {
            shape_str(t, sbuf, sizeof(sbuf));
            return TERR(ctx, -EOVERFLOW, name, "element count of shape %s overflows", sbuf);
        }
        count *= s;
    }
    if (count > UINT64_MAX / (uint64_t)dt->bits) {
        shape_str(t, sbuf, sizeof(sbuf));
        return TERR(ctx, -EOVERFLOW, name, "byte size of shape %s of %s overflows", sbuf, dt->name);
    }
    bits = count * (uint64_t)dt->bits;
    if (bits % 8) {
        shape_str(t, sbuf, sizeof(sbuf));
        return TERR(ctx, -EBADMSG, name, "shape %s of %s is not a whole number of bytes", sbuf, dt->name);
    }

    if (!json_is_array(jo) || json_array_size(jo) != 2)
        return TERR(ctx, -EBADMSG, name, "data_offsets is not an array of two integers");
    for (int k = 0; k < 2; k++) {
        int64_t x;
        why = get_nonneg(json_array_get(jo, (size_t)k), &x);
        if (why)
            return TERR(ctx, -EBADMSG, name, "data_offsets[%d] %s", k, why);
        off[k] = (uint64_t)x;
    }
    if (off[0] > off[1])
        return TERR(ctx, -EBADMSG, name, "data_offsets [%llu, %llu) begin after end",
                    (unsigned long long)off[0], (unsigned long long)off[1]);
    if (off[1] - off[0] != bits / 8) {
        shape_str(t, sbuf, sizeof(sbuf));
        return TERR(ctx, -EBADMSG, name, "data_offsets [%llu, %llu) hold %llu bytes but shape %s of %s needs %llu",
                    (unsigned long long)off[0], (unsigned long long)off[1],
                    (unsigned long long)(off[1] - off[0]), sbuf, dt->name, (unsigned long long)(bits / 8));
    }
    t->nbytes = (size_t)(bits / 8);
    return 0;
}

typedef struct {
    uint64_t begin, end;
    int64_t idx;
} OffKey;

static int cmp_off(const void *a, const void *b)
{
    const OffKey *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* qsort has no context argument; the name sort passes its table through a thread-local. */
static _Thread_local const StTensor *t_sort_tensors;

static int cmp_name(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;
    return strcmp(t_sort_tensors[*x].name, t_sort_tensors[*y].name);
}

static int parse(StFile *f, char *err, size_t err_len)
{
    ParseCtx ctx = {.err = err, .err_len = err_len};
    uint64_t n_hdr = 0, buf_size, pos;
    size_t bad;
    json_error_t jerr;
    const char *key;
    json_t *val;
    OffKey *keys = NULL;
    StTensor *tmp = NULL;
    int64_t n = 0;
    int r;

    if (f->size < 8)
        return err_set(err, err_len, -EBADMSG, "safetensors: file is %zu bytes, shorter than the 8-byte header length",
                       f->size);
    for (int i = 7; i >= 0; i--)
        n_hdr = (n_hdr << 8) | f->base[i];
    if (n_hdr > ST_MAX_HEADER)
        return err_set(err, err_len, -EBADMSG, "safetensors: header length %llu exceeds the limit of %d bytes",
                       (unsigned long long)n_hdr, ST_MAX_HEADER);
    if (n_hdr > f->size - 8)
        return err_set(err, err_len, -EBADMSG, "safetensors: header length %llu runs past the end of the file (%zu bytes)",
                       (unsigned long long)n_hdr, f->size);
    if (n_hdr < 2)
        return err_set(err, err_len, -EBADMSG, "safetensors: header length %llu is too short for a JSON object",
                       (unsigned long long)n_hdr);
    ctx.hdr = (const char *)f->base + 8;
    ctx.hdr_len = (size_t)n_hdr;
    buf_size = f->size - 8 - n_hdr;
    if (ctx.hdr[0] != '{')
        return err_set(err, err_len, -EBADMSG, "safetensors: header does not start with '{' (header byte 0)");
    bad = utf8_check((const uint8_t *)ctx.hdr, ctx.hdr_len);
    if (bad != ctx.hdr_len)
        return err_set(err, err_len, -EBADMSG, "safetensors: header is not valid UTF-8 (header byte %zu)", bad);
    if (memchr(ctx.hdr, 0, ctx.hdr_len))
        return err_set(err, err_len, -EBADMSG, "safetensors: header contains a NUL byte (header byte %zu)",
                       (size_t)((const char *)memchr(ctx.hdr, 0, ctx.hdr_len) - ctx.hdr));
    /* Trailing padding: the reference writer pads with spaces; other JSON whitespace is tolerated. */
    {
        size_t e = ctx.hdr_len;
        while (e > 0 && strchr(" \t\r\n", ctx.hdr[e - 1]))
            e--;
        if (e == 0 || ctx.hdr[e - 1] != '}')
            return err_set(err, err_len, -EBADMSG, "safetensors: header does not end with '}' plus space padding (header byte %zu)",
                           e ? e - 1 : 0);
    }
    f->root = json_loadb(ctx.hdr, ctx.hdr_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!f->root)
        return err_set(err, err_len, -EBADMSG, "safetensors: header JSON invalid at header byte %d: %s",
                       jerr.position, jerr.text);
    if (!json_is_object(f->root))
        return err_set(err, err_len, -EBADMSG, "safetensors: header is not a JSON object");

    n = (int64_t)json_object_size(f->root);
    val = json_object_get(f->root, "__metadata__");
    if (val) {
        const char *mk;
        json_t *mv;
        if (!json_is_object(val))
            return err_set(err, err_len, -EBADMSG, "safetensors: __metadata__ is not an object");
        json_object_foreach(val, mk, mv) {
            if (!json_is_string(mv))
                return err_set(err, err_len, -EBADMSG, "safetensors: __metadata__ value '%.200s' is not a string", mk);
        }
        f->metadata = val;
        n--;
    }
    tmp = calloc((size_t)(n ? n : 1), sizeof(*tmp));
    keys = calloc((size_t)(n ? n : 1), sizeof(*keys));
    f->by_name = calloc((size_t)(n ? n : 1), sizeof(*f->by_name));
    if (!tmp || !keys || !f->by_name) {
        r = err_set(err, err_len, -ENOMEM, "safetensors: out of memory for %lld tensors", (long long)n);
        goto fail;
    }
    {
        int64_t i = 0;
        json_object_foreach(f->root, key, val) {
            uint64_t off[2];
            if (!strcmp(key, "__metadata__"))
                continue;
            r = parse_entry(&ctx, key, val, &tmp[i], off);
            if (r < 0)
                goto fail;
            keys[i] = (OffKey){off[0], off[1], i};
            i++;
        }
    }
    qsort(keys, (size_t)n, sizeof(*keys), cmp_off);
    pos = 0;
    for (int64_t i = 0; i < n; i++) {
        const StTensor *t = &tmp[keys[i].idx];
        if (keys[i].begin != pos) {
            if (keys[i].begin > pos)
                r = TERR(&ctx, -EBADMSG, t->name, "data_offsets [%llu, %llu) leave a gap after byte %llu",
                         (unsigned long long)keys[i].begin, (unsigned long long)keys[i].end,
                         (unsigned long long)pos);
            else
                r = TERR(&ctx, -EBADMSG, t->name, "data_offsets [%llu, %llu) overlap the previous tensor ending at %llu",
                         (unsigned long long)keys[i].begin, (unsigned long long)keys[i].end,
                         (unsigned long long)pos);
            goto fail;
        }
        if (keys[i].end > buf_size) {
            r = TERR(&ctx, -EBADMSG, t->name, "data_offsets [%llu, %llu) run past the end of the data (%llu bytes)",
                     (unsigned long long)keys[i].begin, (unsigned long long)keys[i].end,
                     (unsigned long long)buf_size);
            goto fail;
        }
        pos = keys[i].end;
    }
    if (pos != buf_size) {
        r = err_set(err, err_len, -EBADMSG,
                    "safetensors: tensors cover %llu bytes of data but the file holds %llu after the header",
                    (unsigned long long)pos, (unsigned long long)buf_size);
        goto fail;
    }
    f->tensors = calloc((size_t)(n ? n : 1), sizeof(*f->tensors));
    if (!f->tensors) {
        r = -ENOMEM;
        goto fail;
    }
    for (int64_t i = 0; i < n; i++) {
        f->tensors[i] = tmp[keys[i].idx];
        f->tensors[i].data = f->base + 8 + n_hdr + keys[i].begin;
        f->by_name[i] = i;
    }
    f->n = n;
    t_sort_tensors = f->tensors;
    qsort(f->by_name, (size_t)n, sizeof(*f->by_name), cmp_name);
    t_sort_tensors = NULL;
    free(tmp);
    free(keys);
    return 0;
fail:
    free(tmp);
    free(keys);
    return r;
}

void st_close(StFile *f)
{
    if (!f)
        return;
    if (f->mapped && f->base)
        munmap((void *)f->base, f->size);
    json_decref(f->root);
    free(f->tensors);
    free(f->by_name);
    free(f);
}

int st_open_memory(const void *data, size_t size, StFile **ret, char *err, size_t err_len)
{
    StFile *f;
    int r;

    if (!data && size)
        return err_set(err, err_len, -EINVAL, "safetensors: NULL buffer");
    f = calloc(1, sizeof(*f));
    if (!f)
        return err_set(err, err_len, -ENOMEM, "safetensors: out of memory");
    f->base = data;
    f->size = size;
    r = parse(f, err, err_len);
    if (r < 0) {
        st_close(f);
        return r;
    }
    *ret = f;
    return 0;
}

int st_open(const char *path, StFile **ret, char *err, size_t err_len)
{
    StFile *f = NULL;
    struct stat st;
    void *map;
    int fd, r;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* no blocking on a FIFO */
    if (fd < 0) {
        r = -errno;
        return err_set(err, err_len, r, "%s: cannot open: %s", path, strerror(-r));
    }
    if (fstat(fd, &st) < 0) {
        r = -errno;
        err_set(err, err_len, r, "%s: cannot stat: %s", path, strerror(-r));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        r = err_set(err, err_len, -EINVAL, "%s: not a regular file", path);
        goto fail;
    }
    if (st.st_size < 8) {
        r = err_set(err, err_len, -EBADMSG, "%s: safetensors: file is %lld bytes, shorter than the 8-byte header length",
                    path, (long long)st.st_size);
        goto fail;
    }
    f = calloc(1, sizeof(*f));
    if (!f) {
        r = err_set(err, err_len, -ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        r = -errno;
        err_set(err, err_len, r, "%s: mmap: %s", path, strerror(-r));
        goto fail;
    }
    /* weights are streamed once per token: ask for huge pages where the page cache can map them (a
     * 4 KiB TLB miss every 4 KiB costs ~5 % of decode bandwidth); advice only, failure is harmless */
    (void)madvise(map, (size_t)st.st_size, MADV_HUGEPAGE);
    close(fd);
    fd = -1;
    f->base = map;
    f->size = (size_t)st.st_size;
    f->mapped = 1;
    {
        char inner[768];
        r = parse(f, inner, sizeof(inner));
        if (r < 0) {
            err_set(err, err_len, r, "%s: %s", path, inner);
            goto fail;
        }
    }
    *ret = f;
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    st_close(f);
    return r;
}

int64_t st_n_tensors(const StFile *f)
{
    return f ? f->n : 0;
}

const StTensor *st_tensor(const StFile *f, int64_t i)
{
    if (!f || i < 0 || i >= f->n)
        return NULL;
    return &f->tensors[i];
}

const StTensor *st_find(const StFile *f, const char *name)
{
    int64_t lo = 0, hi;

    if (!f || !name)
        return NULL;
    hi = f->n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->tensors[f->by_name[mid]].name, name);
        if (c == 0)
            return &f->tensors[f->by_name[mid]];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *st_metadata(const StFile *f, const char *key)
{
    if (!f || !f->metadata || !key)
        return NULL;
    return json_string_value(json_object_get(f->metadata, key));
}

/* ggml order: ne[0] = shape[n_dims-1]. Scalars become [1]. More than 4 dims only when the extra outer dims
 * are 1. The view's data is read-only memory (the mapping) despite Tensor.data being non-const. */
int st_tensor_view(const StTensor *t, Tensor *ret)
{
    const DTypeInfo *info;
    int64_t ne[TENSOR_MAX_DIMS];
    int nd;
    Tensor v;
    int r;

    if (!t || !ret)
        return -EINVAL;
    if (t->dtype < 0)
        return -ENOTSUP;
    info = dtype_info(t->dtype);
    if (!info || !info->supported)
        return -ENOTSUP;
    nd = t->n_dims;
    for (int d = 0; d < t->n_dims - TENSOR_MAX_DIMS; d++) {
        if (t->shape[d] != 1)
            return -ENOTSUP;
        nd--;
    }
    if (nd == 0) {
        ne[0] = 1;
        nd = 1;
    } else {
        for (int d = 0; d < nd; d++)
            ne[d] = t->shape[t->n_dims - 1 - d];
    }
    if ((uintptr_t)t->data % (uintptr_t)info->type_size)
        return -EINVAL; /* misaligned data: header not padded like the reference writer does */
    r = tensor_init(&v, (DType)t->dtype, nd, ne, (void *)(uintptr_t)t->data);
    if (r < 0)
        return r;
    v.name = t->name;
    *ret = v;
    return 0;
}
