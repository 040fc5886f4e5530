/* gguf.c — hardened GGUF v2/v3 reader (SPEC.md §1.1–1.4, RELIABILITY.md "Model files").
 *
 * What it is: a single-pass validating parser over a read-only mmap (or a caller's buffer). Every field is
 * read through a cursor that checks the bytes left first; nothing after gguf_open() can read outside the
 * mapping. Tensor data is never copied or touched (opening a 5 GB file costs one pass over the metadata).
 * What it is not: the typed getters and value rendering (gguf-access.c), a writer (gguf-writer.c) or a
 * dequantizer (quant.c). Reference for the format:
 * ggml docs/gguf.md and ggml src/gguf.cpp (read for facts; this is an independent implementation).
 *
 * Limits and decisions (each rejects with an error naming the field and the byte offset):
 *   tensor count, kv count     <= 65536 each, and no more than the bytes left could hold
 *   key                        1..65535 bytes, valid UTF-8 without NUL, unique
 *   tensor name                1..63 bytes (ggml: < GGML_MAX_NAME incl. NUL), valid UTF-8 without NUL, unique
 *   string value / element     <= 16 MiB (the largest real value, a chat template, is ~20 KB)
 *   array                      <= 2^28 elements and count * min element size <= bytes left; element type
 *                              known and not ARRAY (ggml rejects nesting too); BOOL elements 0 or 1
 *   n_dims                     1..4; every dim >= 1. ggml allows 0, but no Myna model has an empty tensor and
 *                              a zero dim turns the overflow and bounds checks vacuous (the "shape product
 *                              wraps to 0" bug class), so it is rejected.
 *   tensor type                a ggml type Myna can compute with (dtype_info()->supported); a known but
 *                              unsupported type is -ENOTSUP "type IQ2_XXS is not supported"
 *   general.alignment          UINT32, a power of two in [8, 65536]. >= 8 (the spec: "multiple of 8")
 *                              keeps every tensor naturally aligned for its widest element (8 bytes); the
 *                              cap stops the padding arithmetic wrapping (a 2^31 alignment was a CVE) and no
 *                              real file uses more than a page. Absent: 32.
 *   offsets                    aligned; tensors packed in directory order, each at the previous end rounded
 *                              up to the alignment (no gap, no overlap: what llama.cpp requires); data inside
 *                              the file. Trailing bytes after the last tensor are allowed.
 * Error codes: -EBADMSG malformed; -ENOTSUP well-formed but unsupported (version 1 or > 3, big-endian,
 * unsupported tensor type, nested arrays); -E2BIG a count or length over a cap above; -EOVERFLOW a tensor
 * size that overflows; -ENOMEM; -errno from open/fstat/mmap.
 * The mapping is MAP_PRIVATE and read-only; like every mmap reader it cannot survive another process
 * truncating the file after the open (SIGBUS) — model files are not expected to change while in use.
 * gguf_open_flags(GGUF_OPEN_RESIDENT) reads the file into anonymous memory instead (2 MiB pages for the
 * CPU's weight streams) and does not depend on the file after the open; a file that shrinks while being
 * read is -EIO.
 * All multi-byte fields are decoded as little-endian explicitly. Numeric array data returned by
 * gguf_get_arr() points into the file and may be unaligned: copy it with memcpy. For STRING arrays it
 * points at the serialised (length-prefixed) elements; use gguf_get_arr_str(), which is O(1): string
 * arrays are copied once at open into one NUL-separated blob with an offset index (150k tokens: ~10 ms).
 */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf-internal.h"
#include "log.h"

/* Parser state: cursor plus what is being read, so every message names its field. */
typedef struct {
    const uint8_t *p;
    size_t size, pos;
    char *err;
    size_t err_len;
    const char *section;    /* "header", "kv", "tensor" */
    int64_t index;
    const char *name;       /* key or tensor name once known */
} Cur;

static int fail(Cur *c, int code, size_t at, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail(Cur *c, int code, size_t at, const char *fmt, ...)
{
    char msg[384], prefix[160];
    va_list ap;

    if (!c->err || !c->err_len)
        return code;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->index < 0)
        snprintf(prefix, sizeof(prefix), "%s", c->section);
    else if (c->name)
        snprintf(prefix, sizeof(prefix), "%s %lld '%.100s'", c->section, (long long)c->index, c->name);
    else
        snprintf(prefix, sizeof(prefix), "%s %lld", c->section, (long long)c->index);
    return err_set(c->err, c->err_len, code, "gguf: %s: %s (at byte %zu)", prefix, msg, at);
}

static size_t left(const Cur *c)
{
    return c->size - c->pos;
}

static int rd(Cur *c, size_t n, const char *field, uint64_t *ret)
{
    *ret = 0;
    if (left(c) < n)
        return fail(c, -EBADMSG, c->pos, "%s: need %zu bytes, %zu left before end of file", field, n, left(c));
    *ret = gguf_le(c->p + c->pos, n);
    c->pos += n;
    return 0;
}

size_t gguf_scalar_size(GgufType t)
{
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;
    }
}

const char *gguf_type_name(GgufType t)
{
    static const char *const names[GGUF_TYPE_COUNT] = {
        "UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL", "STRING", "ARRAY",
        "UINT64", "INT64", "FLOAT64"};
    return (unsigned)t < GGUF_TYPE_COUNT ? names[t] : "?";
}

int gguf_utf8_valid(const uint8_t *s, size_t n, size_t *ret_bad)
{
    size_t i = 0;

    while (i < n) {
        uint8_t b = s[i];
        uint32_t cp;
        size_t k;
        if (b == 0)
            goto bad;
        if (b < 0x80) {
            i++;
            continue;
        }
        if (b >= 0xc2 && b <= 0xdf) { k = 1; cp = b & 0x1f; }
        else if (b >= 0xe0 && b <= 0xef) { k = 2; cp = b & 0x0f; }
        else if (b >= 0xf0 && b <= 0xf4) { k = 3; cp = b & 0x07; }
        else goto bad;
        if (n - i <= k)
            goto bad;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) {
                i += j;
                goto bad;
            }
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            goto bad;
        i += k + 1;
    }
    return 1;
bad:
    if (ret_bad)
        *ret_bad = i;
    return 0;
}

/* ---- hash index over keys and tensor names (FNV-1a, open addressing) ---- */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static size_t hash_cap_for(int64_t n)
{
    size_t cap = 16;
    while (cap < (size_t)n * 2)
        cap <<= 1;
    return cap;
}

/* Find `s` in a table whose entries name strings via get(); returns index or -1; *ret_slot = insert slot. */
static int64_t hash_find(const uint32_t *tab, size_t cap, const char *s, size_t n,
                         const char *(*get)(const GgufFile *, int64_t, size_t *), const GgufFile *f,
                         size_t *ret_slot)
{
    size_t slot = (size_t)hash_bytes(s, n) & (cap - 1);
    for (;;) {
        uint32_t e = tab[slot];
        size_t len;
        const char *name;
        if (!e) {
            if (ret_slot)
                *ret_slot = slot;
            return -1;
        }
        name = get(f, (int64_t)e - 1, &len);
        if (len == n && !memcmp(name, s, n))
            return (int64_t)e - 1;
        slot = (slot + 1) & (cap - 1);
    }
}

static const char *kv_name(const GgufFile *f, int64_t i, size_t *len)
{
    *len = f->kv[i].key_len;
    return f->kv[i].key;
}

static const char *ti_name(const GgufFile *f, int64_t i, size_t *len)
{
    *len = strlen(f->ti[i].name);
    return f->ti[i].name;
}

int64_t gguf_find_key(const GgufFile *f, const char *key)
{
    if (!f || !key || !f->n_kv)
        return -1;
    return hash_find(f->kv_hash, f->kv_hash_cap, key, strlen(key), kv_name, f, NULL);
}

const GgufTensorInfo *gguf_find_tensor(const GgufFile *f, const char *name)
{
    int64_t i;
    if (!f || !name || !f->n_tensors)
        return NULL;
    i = hash_find(f->ti_hash, f->ti_hash_cap, name, strlen(name), ti_name, f, NULL);
    return i < 0 ? NULL : &f->ti[i].info;
}

/* ---- parsing ---- */

/* Read a GGUF string's length and check it against `max` and the bytes left; leaves the cursor on the bytes. */
static int rd_strlen(Cur *c, const char *field, uint64_t max, int code_max, uint64_t *ret)
{
    size_t at = c->pos;
    uint64_t n;
    int r = rd(c, 8, field, &n);
    if (r < 0)
        return r;
    if (n > max)
        return fail(c, code_max, at, "%s length %llu exceeds the limit %llu", field, (unsigned long long)n,
                    (unsigned long long)max);
    if (n > left(c))
        return fail(c, -EBADMSG, at, "%s length %llu past end of file (%zu bytes left)", field,
                    (unsigned long long)n, left(c));
    *ret = n;
    return 0;
}

static int check_name(Cur *c, const char *field, size_t at, uint64_t n)
{
    size_t bad;
    if (!gguf_utf8_valid(c->p + c->pos, (size_t)n, &bad)) {
        uint8_t b = c->p[c->pos + bad];
        return fail(c, -EBADMSG, at, b ? "%s is not valid UTF-8 (byte 0x%02x at offset %zu)"
                                       : "%s contains a NUL byte (byte 0x%02x at offset %zu)", field, b, bad);
    }
    return 0;
}

static int parse_string_array(Cur *c, GgufKv *kv)
{
    size_t start = c->pos, total = 0, off = 0;

    /* Pass 1: validate lengths and size the blob. Pass 2: copy. Both O(n), no formatting unless failing. */
    for (uint64_t i = 0; i < kv->arr_n; i++) {
        size_t at = c->pos;
        uint64_t n;
        if (left(c) < 8)
            return fail(c, -EBADMSG, at, "array element %llu: string length: need 8 bytes, %zu left before end of file",
                        (unsigned long long)i, left(c));
        n = gguf_le(c->p + at, 8);
        c->pos += 8;
        if (n > GGUF_MAX_STRING)
            return fail(c, -E2BIG, at, "array element %llu: string length %llu exceeds the limit %llu",
                        (unsigned long long)i, (unsigned long long)n, (unsigned long long)GGUF_MAX_STRING);
        if (n > left(c))
            return fail(c, -EBADMSG, at, "array element %llu: string length %llu past end of file (%zu bytes left)",
                        (unsigned long long)i, (unsigned long long)n, left(c));
        c->pos += (size_t)n;
        total += (size_t)n + 1;
    }
    kv->arr_blob = malloc(total ? total : 1);
    kv->arr_off = malloc(((size_t)kv->arr_n + 1) * sizeof(size_t));
    if (!kv->arr_blob || !kv->arr_off)
        return fail(c, -ENOMEM, start, "out of memory for a string array of %llu elements",
                    (unsigned long long)kv->arr_n);
    c->pos = start;
    for (uint64_t i = 0; i < kv->arr_n; i++) {
        size_t n = (size_t)gguf_le(c->p + c->pos, 8);
        c->pos += 8;
        kv->arr_off[i] = off;
        memcpy(kv->arr_blob + off, c->p + c->pos, n);
        kv->arr_blob[off + n] = 0;
        off += n + 1;
        c->pos += n;
    }
    kv->arr_off[kv->arr_n] = off;
    return 0;
}

static int parse_value(Cur *c, GgufKv *kv)
{
    size_t at = c->pos, es;
    uint64_t v;
    int r;

    switch (kv->type) {
    case GGUF_TYPE_STRING:
        if ((r = rd_strlen(c, "string value", GGUF_MAX_STRING, -E2BIG, &v)) < 0)
            return r;
        kv->str = malloc((size_t)v + 1);
        if (!kv->str)
            return fail(c, -ENOMEM, at, "out of memory for a %llu-byte string", (unsigned long long)v);
        memcpy(kv->str, c->p + c->pos, (size_t)v);
        kv->str[v] = 0;
        kv->str_len = (size_t)v;
        c->pos += (size_t)v;
        return 0;
    case GGUF_TYPE_ARRAY:
        if ((r = rd(c, 4, "array element type", &v)) < 0)
            return r;
        if (v == GGUF_TYPE_ARRAY)
            return fail(c, -ENOTSUP, at, "arrays of arrays are not supported");
        if (v >= GGUF_TYPE_COUNT)
            return fail(c, -EBADMSG, at, "unknown array element type %llu", (unsigned long long)v);
        kv->arr_type = (GgufType)v;
        at = c->pos;
        if ((r = rd(c, 8, "array count", &v)) < 0)
            return r;
        if (v > GGUF_MAX_ARRAY)
            return fail(c, -E2BIG, at, "array count %llu exceeds the limit %llu", (unsigned long long)v,
                        (unsigned long long)GGUF_MAX_ARRAY);
        es = kv->arr_type == GGUF_TYPE_STRING ? 8 : gguf_scalar_size(kv->arr_type);
        if (v > left(c) / es)
            return fail(c, -EBADMSG, at, "array of %llu %s (at least %llu bytes) past end of file (%zu bytes left)",
                        (unsigned long long)v, gguf_type_name(kv->arr_type), (unsigned long long)(v * es),
                        left(c));
        kv->arr_n = v;
        kv->arr_data = c->p + c->pos;
        if (kv->arr_type == GGUF_TYPE_STRING)
            return parse_string_array(c, kv);
        if (kv->arr_type == GGUF_TYPE_BOOL)
            for (uint64_t i = 0; i < v; i++)
                if (kv->arr_data[i] > 1)
                    return fail(c, -EBADMSG, c->pos + (size_t)i, "array element %llu: bool value %u is not 0 or 1",
                                (unsigned long long)i, kv->arr_data[i]);
        c->pos += (size_t)v * es;
        return 0;
    default:
        es = gguf_scalar_size(kv->type);
        if ((r = rd(c, es, gguf_type_name(kv->type), &kv->raw)) < 0)
            return r;
        if (kv->type == GGUF_TYPE_BOOL && kv->raw > 1)
            return fail(c, -EBADMSG, at, "bool value %u is not 0 or 1", (unsigned)kv->raw);
        return 0;
    }
}

static int parse_kv(Cur *c, GgufFile *f, int64_t i)
{
    GgufKv *kv = &f->kv[i];
    size_t at = c->pos, slot;
    uint64_t n, t;
    int64_t dup;
    int r;

    c->index = i;
    c->name = NULL;
    if ((r = rd_strlen(c, "key", GGUF_MAX_KEY_LEN, -EBADMSG, &n)) < 0)
        return r;
    if (n == 0)
        return fail(c, -EBADMSG, at, "empty key");
    if ((r = check_name(c, "key", at, n)) < 0)
        return r;
    kv->key = malloc((size_t)n + 1);
    if (!kv->key)
        return fail(c, -ENOMEM, at, "out of memory");
    memcpy(kv->key, c->p + c->pos, (size_t)n);
    kv->key[n] = 0;
    kv->key_len = (size_t)n;
    c->pos += (size_t)n;
    c->name = kv->key;
    dup = hash_find(f->kv_hash, f->kv_hash_cap, kv->key, kv->key_len, kv_name, f, &slot);
    if (dup >= 0)
        return fail(c, -EBADMSG, at, "duplicate key (first defined by kv %lld)", (long long)dup);
    f->kv_hash[slot] = (uint32_t)i + 1;
    at = c->pos;
    if ((r = rd(c, 4, "value type", &t)) < 0)
        return r;
    if (t >= GGUF_TYPE_COUNT)
        return fail(c, -EBADMSG, at, "unknown value type %llu", (unsigned long long)t);
    kv->type = (GgufType)t;
    kv->val_at = c->pos;
    return parse_value(c, kv);
}

static int parse_alignment(Cur *c, GgufFile *f)
{
    int64_t i = gguf_find_key(f, "general.alignment");
    uint64_t a;

    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    if (i < 0)
        return 0;
    c->section = "kv";
    c->index = i;
    c->name = f->kv[i].key;
    if (f->kv[i].type != GGUF_TYPE_UINT32)
        return fail(c, -EBADMSG, f->kv[i].val_at, "general.alignment has type %s, expected UINT32",
                    gguf_type_name(f->kv[i].type));
    a = f->kv[i].raw;
    if (a == 0 || (a & (a - 1)))
        return fail(c, -EBADMSG, f->kv[i].val_at, "alignment %llu is not a power of two", (unsigned long long)a);
    if (a < GGUF_MIN_ALIGNMENT || a > GGUF_MAX_ALIGNMENT)
        return fail(c, -ENOTSUP, f->kv[i].val_at, "alignment %llu outside the supported range [%u, %u]",
                    (unsigned long long)a, GGUF_MIN_ALIGNMENT, GGUF_MAX_ALIGNMENT);
    f->alignment = (uint32_t)a;
    return 0;
}

static uint64_t align_up(uint64_t x, uint32_t a)
{
    return (x + a - 1) & ~(uint64_t)(a - 1); /* callers keep x <= SIZE_MAX / 2, so this cannot wrap */
}

static int parse_tensor(Cur *c, GgufFile *f, int64_t i, uint64_t *expect)
{
    GgufTensorRec *rec = &f->ti[i];
    GgufTensorInfo *ti = &rec->info;
    const DTypeInfo *di;
    size_t at = c->pos, slot;
    uint64_t n, v, nbytes;
    int64_t dup;
    size_t row;
    int r;

    c->index = i;
    c->name = NULL;
    rec->rec_at = at;
    if ((r = rd_strlen(c, "tensor name", GGUF_MAX_NAME_LEN, -EBADMSG, &n)) < 0)
        return r;
    if (n == 0)
        return fail(c, -EBADMSG, at, "empty tensor name");
    if ((r = check_name(c, "tensor name", at, n)) < 0)
        return r;
    memcpy(rec->name, c->p + c->pos, (size_t)n);
    rec->name[n] = 0;
    ti->name = rec->name;
    c->pos += (size_t)n;
    c->name = rec->name;
    dup = hash_find(f->ti_hash, f->ti_hash_cap, rec->name, (size_t)n, ti_name, f, &slot);
    if (dup >= 0)
        return fail(c, -EBADMSG, at, "duplicate tensor name (first is tensor %lld)", (long long)dup);
    f->ti_hash[slot] = (uint32_t)i + 1;

    at = c->pos;
    if ((r = rd(c, 4, "n_dims", &v)) < 0)
        return r;
    if (v < 1 || v > TENSOR_MAX_DIMS)
        return fail(c, -EBADMSG, at, "n_dims %llu out of range 1..%d", (unsigned long long)v, TENSOR_MAX_DIMS);
    ti->n_dims = (int)v;
    for (int d = 0; d < TENSOR_MAX_DIMS; d++)
        ti->ne[d] = 1;
    for (int d = 0; d < ti->n_dims; d++) {
        at = c->pos;
        if ((r = rd(c, 8, "dim", &v)) < 0)
            return r;
        if (v > INT64_MAX)
            return fail(c, -EBADMSG, at, "dim %d is negative (%lld)", d, (long long)v);
        if (v == 0)
            return fail(c, -EBADMSG, at, "dim %d is zero", d);
        ti->ne[d] = (int64_t)v;
    }
    at = c->pos;
    if ((r = rd(c, 4, "tensor type", &v)) < 0)
        return r;
    di = v < DTYPE_COUNT ? dtype_info((int)v) : NULL;
    if (!di)
        return fail(c, -EBADMSG, at, "unknown tensor type %llu", (unsigned long long)v);
    if (!di->supported)
        return fail(c, -ENOTSUP, at, "type %s is not supported", di->name);
    ti->dtype = (DType)v;
    if (ti->ne[0] % di->block)
        return fail(c, -EBADMSG, at, "ne[0] = %lld is not a multiple of the %s block size %d",
                    (long long)ti->ne[0], di->name, di->block);
    r = dtype_row_bytes(ti->dtype, ti->ne[0], &row);
    nbytes = row;
    for (int d = 1; r == 0 && d < TENSOR_MAX_DIMS; d++) {
        if (nbytes > (uint64_t)INT64_MAX / (uint64_t)ti->ne[d])
            r = -EOVERFLOW;
        else
            nbytes *= (uint64_t)ti->ne[d];
    }
    if (r < 0 || nbytes > SIZE_MAX / 2)
        return fail(c, -EOVERFLOW, at, "byte size of shape [%lld, %lld, %lld, %lld] %s overflows",
                    (long long)ti->ne[0], (long long)ti->ne[1], (long long)ti->ne[2], (long long)ti->ne[3],
                    di->name);
    ti->nbytes = (size_t)nbytes;

    at = c->pos;
    if ((r = rd(c, 8, "offset", &v)) < 0)
        return r;
    if (v % f->alignment)
        return fail(c, -EBADMSG, at, "offset %llu not aligned to %u", (unsigned long long)v, f->alignment);
    if (i > 0 && v < f->ti[i - 1].info.offset)
        return fail(c, -EBADMSG, at, "offset %llu is before tensor %lld's offset %llu (out of order)",
                    (unsigned long long)v, (long long)(i - 1), (unsigned long long)f->ti[i - 1].info.offset);
    if (v < *expect)
        return fail(c, -EBADMSG, at, "data at offset %llu overlaps the previous tensor, which ends at %llu",
                    (unsigned long long)v, (unsigned long long)(*expect));
    if (v > *expect)
        return fail(c, -EBADMSG, at, "gap: offset %llu, expected %llu (tensors must be packed in order)",
                    (unsigned long long)v, (unsigned long long)(*expect));
    ti->offset = v;
    /* v <= file size is checked after the directory; until then keep the running sum from wrapping. */
    if (v > SIZE_MAX / 2 - nbytes)
        return fail(c, -EBADMSG, at, "data [%llu, +%llu) past end of file (%zu bytes)", (unsigned long long)v,
                    (unsigned long long)nbytes, c->size);
    *expect = align_up(v + nbytes, f->alignment);
    return 0;
}

static int parse(GgufFile *f, char *err, size_t err_len)
{
    Cur c = {.p = f->base, .size = f->size, .err = err, .err_len = err_len, .section = "header", .index = -1};
    uint64_t magic, version, n_tensors, n_kv, expect = 0;
    int r;

    if (f->size < GGUF_HEADER_SIZE)
        return fail(&c, -EBADMSG, 0, "file too small for a GGUF header (%zu bytes, need %u)", f->size,
                    GGUF_HEADER_SIZE);
    rd(&c, 4, "magic", &magic);
    if (magic != GGUF_MAGIC_LE)
        return fail(&c, -EBADMSG, 0, "bad magic %02x %02x %02x %02x, expected 'GGUF'", f->base[0], f->base[1],
                    f->base[2], f->base[3]);
    rd(&c, 4, "version", &version);
    if (version == 0)
        return fail(&c, -EBADMSG, 4, "version 0 is invalid");
    if ((version & 0xffff) == 0)
        return fail(&c, -ENOTSUP, 4, "version 0x%08llx looks big-endian (byte-swapped); only little-endian files are supported",
                    (unsigned long long)version);
    if (version == 1)
        return fail(&c, -ENOTSUP, 4, "version 1 is not supported (only 2 and 3)");
    if (version > 3)
        return fail(&c, -ENOTSUP, 4, "version %llu is newer than the supported 3", (unsigned long long)version);
    f->version = (uint32_t)version;
    rd(&c, 8, "tensor count", &n_tensors);
    rd(&c, 8, "kv count", &n_kv);
    if (n_tensors > GGUF_MAX_TENSORS)
        return fail(&c, -E2BIG, 8, "tensor count %llu exceeds the limit %u", (unsigned long long)n_tensors,
                    GGUF_MAX_TENSORS);
    if (n_kv > GGUF_MAX_KV)
        return fail(&c, -E2BIG, 16, "kv count %llu exceeds the limit %u", (unsigned long long)n_kv, GGUF_MAX_KV);
    /* Smallest records: kv = 8 + 1 + 4 + 1 bytes, tensor info = 8 + 1 + 4 + 8 + 4 + 8 bytes. */
    if (n_kv * 14 + n_tensors * 33 > left(&c))
        return fail(&c, -EBADMSG, 8, "%llu tensors and %llu kvs cannot fit in the %zu bytes left",
                    (unsigned long long)n_tensors, (unsigned long long)n_kv, left(&c));
    f->n_kv = (int64_t)n_kv;
    f->n_tensors = (int64_t)n_tensors;
    f->kv_hash_cap = hash_cap_for(f->n_kv);
    f->ti_hash_cap = hash_cap_for(f->n_tensors);
    f->kv = calloc(n_kv ? n_kv : 1, sizeof(*f->kv));
    f->ti = calloc(n_tensors ? n_tensors : 1, sizeof(*f->ti));
    f->kv_hash = calloc(f->kv_hash_cap, sizeof(uint32_t));
    f->ti_hash = calloc(f->ti_hash_cap, sizeof(uint32_t));
    if (!f->kv || !f->ti || !f->kv_hash || !f->ti_hash)
        return fail(&c, -ENOMEM, 8, "out of memory");

    c.section = "kv";
    for (int64_t i = 0; i < f->n_kv; i++) {
        if ((r = parse_kv(&c, f, i)) < 0)
            return r;
    }
    if ((r = parse_alignment(&c, f)) < 0)
        return r;
    c.section = "tensor";
    for (int64_t i = 0; i < f->n_tensors; i++)
        if ((r = parse_tensor(&c, f, i, &expect)) < 0)
            return r;
    c.section = "header";
    c.index = -1;
    f->data_offset = align_up(c.pos, f->alignment);
    for (int64_t i = 0; i < f->n_tensors; i++) {
        GgufTensorRec *rec = &f->ti[i];
        uint64_t start = f->data_offset + rec->info.offset, end = start + rec->info.nbytes;
        if (end > f->size) {
            c.section = "tensor";
            c.index = i;
            c.name = rec->name;
            return fail(&c, -EBADMSG, rec->rec_at, "data [%llu, %llu) past end of file (%zu bytes)",
                        (unsigned long long)start, (unsigned long long)end, f->size);
        }
        rec->info.data = f->base + start;
    }
    return 0;
}

static void free_kv(GgufKv *kv)
{
    free(kv->key);
    free(kv->str);
    free(kv->arr_blob);
    free(kv->arr_off);
}

void gguf_close(GgufFile *f)
{
    if (!f)
        return;
    if (f->kv)
        for (int64_t i = 0; i < f->n_kv; i++)
            free_kv(&f->kv[i]);
    free(f->kv);
    free(f->ti);
    free(f->kv_hash);
    free(f->ti_hash);
    if (f->mapped && f->base)
        munmap((void *)f->base, f->map_len);
    free(f);
}

int gguf_open_memory(const void *data, size_t size, GgufFile **ret, char *err, size_t err_len)
{
    GgufFile *f;
    int r;

    if (!ret || (!data && size))
        return err_set(err, err_len, -EINVAL, "gguf: invalid arguments");
    f = calloc(1, sizeof(*f));
    if (!f)
        return err_set(err, err_len, -ENOMEM, "gguf: out of memory");
    f->base = data;
    f->size = size;
    r = parse(f, err, err_len);
    if (r < 0) {
        gguf_close(f);
        return r;
    }
    *ret = f;
    return 0;
}

/* The whole file read into anonymous memory advised for 2 MiB pages (THP): weights streamed once per token
 * then cost one TLB entry per 2 MiB, whatever page-cache folios the file has (a file mapping gets 2 MiB
 * mappings only where the page cache happens to hold large folios; measured +15 % two-thread decode on a
 * 0.8 GB model). Returns NULL with *err_no = ENOMEM when the memory is not there (the caller maps the file
 * instead) or the read error. Read-only afterwards, like the file mapping. */
static void *read_resident(int fd, size_t size, size_t *map_len, int *err_no)
{
    const size_t huge = (size_t)2 << 20, chunk = (size_t)64 << 20;
    size_t len = (size + huge - 1) / huge * huge;
    char *raw, *p;

    if (len > SIZE_MAX - huge) {
        *err_no = ENOMEM;
        return NULL;
    }
    raw = mmap(NULL, len + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
        *err_no = ENOMEM;
        return NULL;
    }
    p = (char *)(((uintptr_t)raw + huge - 1) & ~(uintptr_t)(huge - 1)); /* trim to a 2 MiB-aligned span */
    if (p > raw)
        munmap(raw, (size_t)(p - raw));
    if (raw + huge > p)
        munmap(p + len, (size_t)(raw + huge - p));
    (void)madvise(p, len, MADV_HUGEPAGE);
    for (size_t off = 0; off < size;) {
        ssize_t n = pread(fd, p + off, size - off < chunk ? size - off : chunk, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) { /* 0: the file shrank while being read */
            *err_no = n < 0 ? errno : EIO;
            munmap(p, len);
            return NULL;
        }
        off += (size_t)n;
    }
    (void)mprotect(p, len, PROT_READ);
    *map_len = len;
    return p;
}

int gguf_open(const char *path, GgufFile **ret, char *err, size_t err_len)
{
    return gguf_open_flags(path, 0, ret, err, err_len);
}

int gguf_open_flags(const char *path, int flags, GgufFile **ret, char *err, size_t err_len)
{
    struct stat st;
    GgufFile *f = NULL;
    void *map;
    size_t map_len;
    int fd, r;

    if (!path || !ret)
        return err_set(err, err_len, -EINVAL, "gguf: invalid arguments");
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block the open */
    if (fd < 0)
        return err_set(err, err_len, -errno, "gguf: cannot open: %s", strerror(errno));
    if (fstat(fd, &st) < 0) {
        r = err_set(err, err_len, -errno, "gguf: cannot stat: %s", strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        r = err_set(err, err_len, -EINVAL, "gguf: not a regular file");
        goto fail;
    }
    if ((uint64_t)st.st_size < GGUF_HEADER_SIZE) {
        r = err_set(err, err_len, -EBADMSG, "gguf: header: file too small for a GGUF header (%lld bytes, need %u) (at byte 0)",
                    (long long)st.st_size, GGUF_HEADER_SIZE);
        goto fail;
    }
    if ((uint64_t)st.st_size > SIZE_MAX / 2) {
        r = err_set(err, err_len, -EFBIG, "gguf: file too large");
        goto fail;
    }
    map = NULL;
    map_len = (size_t)st.st_size;
    if (flags & GGUF_OPEN_RESIDENT) {
        int e = 0;
        map = read_resident(fd, (size_t)st.st_size, &map_len, &e);
        if (!map && e != ENOMEM) {
            r = err_set(err, err_len, -e, "gguf: cannot read: %s", strerror(e));
            goto fail;
        }
    }
    if (!map) {
        map_len = (size_t)st.st_size;
        map = mmap(NULL, map_len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            r = err_set(err, err_len, -errno, "gguf: mmap failed: %s", strerror(errno));
            goto fail;
        }
        /* weights are streamed once per token: ask for huge pages where the page cache can map them (a
         * 4 KiB TLB miss every 4 KiB costs ~5 % of decode bandwidth); advice only, failure is harmless */
        (void)madvise(map, map_len, MADV_HUGEPAGE);
    }
    close(fd);
    fd = -1;
    f = calloc(1, sizeof(*f));
    if (!f) {
        munmap(map, map_len);
        r = err_set(err, err_len, -ENOMEM, "gguf: out of memory");
        goto fail;
    }
    f->base = map;
    f->size = (size_t)st.st_size;
    f->mapped = 1;
    f->map_len = map_len;
    r = parse(f, err, err_len);
    if (r < 0)
        goto fail;
    *ret = f;
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    gguf_close(f);
    return r;
}
