/* onnx-wire.c — protobuf wire-format primitives for the ONNX reader (onnx.c): bounded cursors, varints,
 * tags, length-delimited fields, strings copied into the model's pool, repeated numeric fields (packed or
 * not), and the one error formatter that names the field path and byte offset. Limits: see onnx.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf-internal.h" /* gguf_utf8_valid */
#include "log.h"
#include "onnx-internal.h"




int onnx_fail(P *p, const Scope *s, int code, size_t at, const char *fmt, ...)
{
    const Scope *chain[ONNX_MAX_DEPTH + 4];
    char where[512] = "", msg[384];
    size_t len = 0;
    int n = 0;
    va_list ap;

    if (!p->err || !p->err_len)
        return code;
    for (; s && n < (int)(sizeof(chain) / sizeof(chain[0])); s = s->up)
        chain[n++] = s;
    while (n-- > 0 && len < sizeof(where)) {
        const Scope *c = chain[n];
        int w;
        if (c->index >= 0 && c->name)
            w = snprintf(where + len, sizeof(where) - len, "%s%s[%lld] '%.120s'", len ? " " : "", c->what,
                         (long long)c->index, c->name);
        else if (c->index >= 0)
            w = snprintf(where + len, sizeof(where) - len, "%s%s[%lld]", len ? " " : "", c->what,
                         (long long)c->index);
        else
            w = snprintf(where + len, sizeof(where) - len, "%s%s", len ? " " : "", c->what);
        if (w < 0)
            break;
        len += (size_t)w;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return err_set(p->err, p->err_len, code, "onnx: %s%s%s (at byte %zu)", where, *where ? ": " : "", msg, at);
}

/* ---- pool: stable, 16-byte aligned allocations freed with the model --------------------------------- */

struct OnnxPoolBlock {
    struct OnnxPoolBlock *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

void *onnx_pool_alloc(OnnxModel *m, size_t n)
{
    OnnxPoolBlock *b = m->pool;
    size_t need = (n + 15) & ~(size_t)15;

    if (n > SIZE_MAX / 2)
        return NULL;
    if (!b || b->cap - b->used < need) {
        size_t cap = need > ((size_t)1 << 20) ? need : ((size_t)1 << 20);
        b = malloc(sizeof(*b) + cap);
        if (!b)
            return NULL;
        b->cap = cap;
        b->used = 0;
        b->next = m->pool;
        m->pool = b;
    }
    b->used += need;
    return b->data + b->used - need;
}

void onnx_pool_free(OnnxModel *m)
{
    while (m->pool) {
        OnnxPoolBlock *next = m->pool->next;
        free(m->pool);
        m->pool = next;
    }
}

/* ---- wire primitives -------------------------------------------------------------------------------- */

int onnx_rd_varint(P *p, const Scope *s, Cur *c, uint64_t *ret, const char *field)
{
    const uint8_t *b = p->m->base;
    size_t at = c->pos;
    uint64_t v = 0;

    for (int i = 0;; i++) {
        if (c->pos >= c->end)
            return onnx_fail(p, s, -EBADMSG, at, "%s: varint truncated by the end of its message", field);
        uint8_t x = b[c->pos++];
        if (i == 9 && x > 1)
            return onnx_fail(p, s, -EBADMSG, at, "%s: varint overflows 64 bits", field);
        v |= (uint64_t)(x & 0x7f) << (7 * i);
        if (!(x & 0x80)) {
            *ret = v;
            return 0;
        }
    }
}

int onnx_rd_tag(P *p, const Scope *s, Cur *c, uint32_t *field, int *wire)
{
    size_t at = c->pos;
    uint64_t t;
    int r;

    if ((r = onnx_rd_varint(p, s, c, &t, "field tag")) < 0)
        return r;
    if (t >> 32 || (t >> 3) == 0 || (t >> 3) > 0x1fffffff)
        return onnx_fail(p, s, -EBADMSG, at, "field number %llu out of range 1..2^29-1", (unsigned long long)(t >> 3));
    *field = (uint32_t)(t >> 3);
    *wire = (int)(t & 7);
    if (*wire == 3 || *wire == 4)
        return onnx_fail(p, s, -EBADMSG, at, "field %u: group wire type %d is not supported", *field, *wire);
    if (*wire > 5)
        return onnx_fail(p, s, -EBADMSG, at, "field %u: invalid wire type %d", *field, *wire);
    return 0;
}

int onnx_need(P *p, const Scope *s, Cur *c, size_t n, const char *field)
{
    if (c->end - c->pos < n)
        return onnx_fail(p, s, -EBADMSG, c->pos, "%s: needs %zu bytes, %zu left in its message", field, n,
                    c->end - c->pos);
    return 0;
}

/* A length-delimited field's payload as a sub-cursor (one level deeper). */
int onnx_rd_len(P *p, const Scope *s, Cur *c, Cur *sub, const char *field)
{
    size_t at = c->pos;
    uint64_t n;
    int r;

    if ((r = onnx_rd_varint(p, s, c, &n, field)) < 0)
        return r;
    if (n > c->end - c->pos)
        return onnx_fail(p, s, -EBADMSG, at, "%s: length %llu past the end of its message (%zu bytes left)", field,
                    (unsigned long long)n, c->end - c->pos);
    sub->pos = c->pos;
    sub->end = c->pos + (size_t)n;
    sub->depth = c->depth + 1;
    c->pos += (size_t)n;
    return 0;
}

int onnx_skip(P *p, const Scope *s, Cur *c, int wire, uint32_t field)
{
    char name[32];
    uint64_t v;
    Cur sub;

    snprintf(name, sizeof(name), "field %u", field);
    switch (wire) {
    case WIRE_VARINT: return onnx_rd_varint(p, s, c, &v, name);
    case WIRE_I64: { int r = onnx_need(p, s, c, 8, name); if (!r) c->pos += 8; return r; }
    case WIRE_I32: { int r = onnx_need(p, s, c, 4, name); if (!r) c->pos += 4; return r; }
    default: return onnx_rd_len(p, s, c, &sub, name);
    }
}

int onnx_want_wire(P *p, const Scope *s, size_t at, int wire, int expect, const char *field)
{
    static const char *const names[] = {"varint", "fixed64", "length-delimited", "?", "?", "fixed32"};
    if (wire != expect)
        return onnx_fail(p, s, -EBADMSG, at, "%s has wire type %s, expected %s", field, names[wire], names[expect]);
    return 0;
}

int onnx_rd_int(P *p, const Scope *s, Cur *c, int wire, const char *field, int64_t *ret)
{
    uint64_t v;
    int r;

    if ((r = onnx_want_wire(p, s, c->pos, wire, WIRE_VARINT, field)) < 0 || (r = onnx_rd_varint(p, s, c, &v, field)) < 0)
        return r;
    *ret = (int64_t)v;
    return 0;
}

float onnx_le_f32(const uint8_t *b)
{
    uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* A string or bytes field copied NUL-terminated into the pool. */
int onnx_rd_str(P *p, const Scope *s, Cur *c, int wire, const char *field, size_t min_len, int utf8,
                  const char **ret, size_t *ret_len)
{
    size_t at = c->pos, bad;
    Cur sub;
    char *dst;
    int r;

    if ((r = onnx_want_wire(p, s, at, wire, WIRE_LEN, field)) < 0 || (r = onnx_rd_len(p, s, c, &sub, field)) < 0)
        return r;
    size_t n = sub.end - sub.pos;
    if (n < min_len)
        return onnx_fail(p, s, -EBADMSG, at, "%s is empty", field);
    if (n > ONNX_MAX_NAME)
        return onnx_fail(p, s, -E2BIG, at, "%s is %zu bytes, longer than the limit %d", field, n, ONNX_MAX_NAME);
    if (utf8 && !gguf_utf8_valid(p->m->base + sub.pos, n, &bad))
        return onnx_fail(p, s, -EBADMSG, sub.pos + bad, "%s is not valid UTF-8 without NUL (byte 0x%02x)", field,
                    p->m->base[sub.pos + bad]);
    if (!(dst = onnx_pool_alloc(p->m, n + 1)))
        return onnx_fail(p, s, -ENOMEM, at, "out of memory");
    memcpy(dst, p->m->base + sub.pos, n);
    dst[n] = 0;
    *ret = dst;
    if (ret_len)
        *ret_len = n;
    return 0;
}

/* Scan msg (already walked once, so tags and lengths are sound) for every occurrence of field `fno`,
 * packed or not, counting elements (out NULL) or storing them as int64 / float / double. */
static int onnx_rep_scan(P *p, const Scope *s, Cur msg, uint32_t fno, int kind, void *out, int64_t max, int64_t *ret_n,
                    const char *field)
{
    const uint8_t *b = p->m->base;
    const int scalar_wire = kind == K_VARINT ? WIRE_VARINT : kind == K_F32 ? WIRE_I32 : WIRE_I64;
    const size_t width = kind == K_F32 ? 4 : 8;
    int64_t n = 0;
    uint32_t f;
    int wire, r;

    while (msg.pos < msg.end) {
        size_t at = msg.pos;
        if ((r = onnx_rd_tag(p, s, &msg, &f, &wire)) < 0)
            return r;
        if (f != fno) {
            if ((r = onnx_skip(p, s, &msg, wire, f)) < 0)
                return r;
            continue;
        }
        Cur el = msg;
        if (wire == WIRE_LEN) { /* packed */
            if ((r = onnx_rd_len(p, s, &msg, &el, field)) < 0)
                return r;
            if (kind != K_VARINT && (el.end - el.pos) % width)
                return onnx_fail(p, s, -EBADMSG, at, "%s: packed length %zu is not a multiple of %zu", field,
                            el.end - el.pos, width);
        } else if (wire != scalar_wire) {
            return onnx_want_wire(p, s, at, wire, scalar_wire, field);
        } else {
            el.end = kind == K_VARINT ? msg.end : msg.pos + width; /* one element */
            if (kind != K_VARINT && (r = onnx_need(p, s, &msg, width, field)) < 0)
                return r;
        }
        int one = wire != WIRE_LEN; /* an unpacked element; a packed run may be empty */
        while (one || el.pos < el.end) {
            if (n >= max)
                return onnx_fail(p, s, -EBADMSG, at, "%s has more than %lld elements", field, (long long)max);
            if (kind == K_VARINT) {
                uint64_t v;
                if ((r = onnx_rd_varint(p, s, &el, &v, field)) < 0)
                    return r;
                if (out)
                    ((int64_t *)out)[n] = (int64_t)v;
            } else {
                if (out && kind == K_F32)
                    ((float *)out)[n] = onnx_le_f32(b + el.pos);
                else if (out) {
                    uint64_t u = 0;
                    for (int i = 7; i >= 0; i--)
                        u = u << 8 | b[el.pos + (size_t)i];
                    memcpy((double *)out + n, &u, 8);
                }
                el.pos += width;
            }
            n++;
            if (one)
                break;
        }
        if (wire != WIRE_LEN)
            msg.pos = el.pos;
    }
    *ret_n = n;
    return 0;
}

/* Count, allocate in the pool and fill one repeated numeric field. */
int onnx_rep_read(P *p, const Scope *s, Cur msg, uint32_t fno, int kind, int64_t max, void **ret, int64_t *ret_n,
                    const char *field)
{
    size_t width = kind == K_F32 ? 4 : 8;
    int64_t n;
    int r;

    *ret = NULL;
    *ret_n = 0;
    if ((r = onnx_rep_scan(p, s, msg, fno, kind, NULL, max, &n, field)) < 0)
        return r;
    if (!n)
        return 0;
    if ((size_t)n > (ONNX_MAX_DECODED - p->decoded) / width)
        return onnx_fail(p, s, -E2BIG, msg.pos, "%s: %lld elements exceed the %zu MiB limit on decoded data", field,
                    (long long)n, ONNX_MAX_DECODED >> 20);
    p->decoded += (size_t)n * width;
    if (!(*ret = onnx_pool_alloc(p->m, (size_t)n * width)))
        return onnx_fail(p, s, -ENOMEM, msg.pos, "out of memory");
    if ((r = onnx_rep_scan(p, s, msg, fno, kind, *ret, max, &n, field)) < 0)
        return r;
    *ret_n = n;
    return 0;
}


int onnx_grow(void *pp, size_t *cap, size_t n, size_t elem)
{
    void **arr = pp;
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    void *q = realloc(*arr, nc * elem);
    if (!q)
        return -ENOMEM;
    *arr = q;
    *cap = nc;
    return 0;
}
