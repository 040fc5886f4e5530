/* cpu/ops-copy.c — data-movement ops of the CPU backend: get_rows, copy/convert, im2col_1d/2d.
 *
 * get_rows dequantizes table rows of any supported dtype (quant_dequant_row for block types).
 * copy converts F32/F16/BF16 → F32/F16/BF16 and F32 → Q8_0 (quant_quantize_row); both sides may be strided
 * views as long as ne[0] elements are contiguous, e.g. T rows written into a KV cache at position n_past.
 * im2col unfolds convolution windows into rows so that conv = matmul (layout in backend.h): element
 * (c·KW + k) of output row o reads src[c][o·stride + k − pad], zero outside — PyTorch Conv1d/Conv2d weight
 * [Cout, Cin, (KH,) KW] flattened row-major is then the matching matmul weight [Cin·(KH·)KW, Cout].
 * Not here: the block formats themselves (core/quant.c).
 */
#include <errno.h>
#include <string.h>

#include "ops.h"
#include "quant.h"

/* ---- get_rows ---------------------------------------------------------------------------------------- */

typedef struct {
    const Tensor *y, *table;
    const int32_t *ids;
    int64_t n_ids;
} GetRowsCtx;

static void get_rows_task(void *arg, int ith, int nth)
{
    const GetRowsCtx *c = arg;
    int64_t r0, r1, n = c->table->ne[0];
    cpu_split(c->n_ids, ith, nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        const void *src = (const char *)c->table->data + (size_t)c->ids[r] * c->table->nb[1];
        float *dst = (float *)((char *)c->y->data + (size_t)r * c->y->nb[1]);
        switch (c->table->dtype) {
        case DTYPE_F32:
            memcpy(dst, src, (size_t)n * sizeof(float));
            break;
        case DTYPE_F16:
            cpu_vec_f16_to_f32(src, dst, n);
            break;
        case DTYPE_BF16:
            cpu_vec_bf16_to_f32(src, dst, n);
            break;
        default:
            quant_dequant_row(c->table->dtype, src, dst, n);
            break;
        }
    }
}

int cpu_op_get_rows(Backend *be, Tensor *y, const Tensor *table, const int32_t *ids, int64_t n_ids)
{
    const DTypeInfo *info;

    if (!y || !table || (!ids && n_ids > 0) || n_ids < 0 || !table->data || !y->data)
        return -EINVAL;
    info = dtype_info(table->dtype);
    if (!info || !info->supported || y->dtype != DTYPE_F32)
        return -ENOTSUP;
    if (table->ne[0] % info->block || table->ne[2] != 1 || table->ne[3] != 1 || y->ne[0] != table->ne[0] ||
        y->ne[1] != n_ids || y->ne[2] != 1 || y->ne[3] != 1 || y->nb[0] != 4)
        return -EINVAL;
    for (int64_t i = 0; i < n_ids; i++)
        if (ids[i] < 0 || ids[i] >= table->ne[1])
            return -EINVAL;
    GetRowsCtx c = {y, table, ids, n_ids};
    cpu_parallel(cpu_backend(be), n_ids * table->ne[0] * (info->block > 1 ? 4 : 1), get_rows_task, &c);
    return 0;
}

/* ---- copy / convert ----------------------------------------------------------------------------------- */

typedef struct {
    const Tensor *dst, *src;
    int64_t rows;           /* rows of n elements */
    int64_t n;              /* elements per row */
    int flat_dst, flat_src; /* side is contiguous and addressed as rows of n over its flat data */
} CopyCtx;

/* Address of row r of n elements: over the flat data, or (flat == 0, ne[0] == n) through t's own strides. */
static const char *row_addr(const Tensor *t, int64_t r, int flat, size_t row_bytes)
{
    if (flat)
        return (const char *)t->data + (size_t)r * row_bytes;
    int64_t i1 = r % t->ne[1], i2 = (r / t->ne[1]) % t->ne[2], i3 = r / (t->ne[1] * t->ne[2]);
    return (const char *)t->data + (size_t)i1 * t->nb[1] + (size_t)i2 * t->nb[2] + (size_t)i3 * t->nb[3];
}

static void copy_row(DType dt, void *d, DType st, const void *s, int64_t n)
{
    if (dt == st) {
        size_t bytes = 0;
        dtype_row_bytes(dt, n, &bytes);
        memcpy(d, s, bytes);
        return;
    }
    switch (dt) {
    case DTYPE_F32:
        if (st == DTYPE_F16)
            cpu_vec_f16_to_f32(s, d, n);
        else
            cpu_vec_bf16_to_f32(s, d, n);
        break;
    case DTYPE_F16:
        if (st == DTYPE_F32) {
            cpu_vec_f32_to_f16(s, d, n);
        } else { /* BF16 → F16 through F32, in chunks on the stack */
            float tmp[256];
            for (int64_t i = 0; i < n; i += 256) {
                int64_t m = n - i < 256 ? n - i : 256;
                cpu_vec_bf16_to_f32((const uint16_t *)s + i, tmp, m);
                cpu_vec_f32_to_f16(tmp, (uint16_t *)d + i, m);
            }
        }
        break;
    case DTYPE_BF16:
        if (st == DTYPE_F32) {
            cpu_vec_f32_to_bf16(s, d, n);
        } else {
            float tmp[256];
            for (int64_t i = 0; i < n; i += 256) {
                int64_t m = n - i < 256 ? n - i : 256;
                cpu_vec_f16_to_f32((const uint16_t *)s + i, tmp, m);
                cpu_vec_f32_to_bf16(tmp, (uint16_t *)d + i, m);
            }
        }
        break;
    default: /* Q8_0 from F32, validated by the caller */
        quant_quantize_row(dt, s, d, n);
        break;
    }
}

static void copy_task(void *arg, int ith, int nth)
{
    const CopyCtx *c = arg;
    int64_t r0, r1;
    size_t sb = 0, db = 0;
    dtype_row_bytes(c->src->dtype, c->n, &sb);
    dtype_row_bytes(c->dst->dtype, c->n, &db);
    cpu_split(c->rows, ith, nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++)
        copy_row(c->dst->dtype, (void *)row_addr(c->dst, r, c->flat_dst, db), c->src->dtype,
                 row_addr(c->src, r, c->flat_src, sb), c->n);
}

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static int is_float_type(DType t)
{
    return t == DTYPE_F32 || t == DTYPE_F16 || t == DTYPE_BF16;
}

int cpu_op_copy(Backend *be, Tensor *dst, const Tensor *src)
{
    CopyCtx c = {.dst = dst, .src = src};
    int64_t n;

    if (!dst || !src || !dst->data || !src->data)
        return -EINVAL;
    if (!is_float_type(src->dtype) ||
        !(is_float_type(dst->dtype) || (dst->dtype == DTYPE_Q8_0 && src->dtype == DTYPE_F32)))
        return -ENOTSUP;
    n = tensor_nelements(src);
    if (n != tensor_nelements(dst))
        return -EINVAL;
    if (n == 0)
        return 0;
    if (src->nb[0] != (size_t)dtype_info(src->dtype)->type_size ||
        dst->nb[0] != (size_t)dtype_info(dst->dtype)->type_size)
        return -EINVAL;
    /* Rows of n = gcd(ne0) elements; a side whose ne[0] is longer must be contiguous (addressed flat), e.g.
     * src [HD·NKV, T] into a cache view [HD, NKV, T] with the cache's strides. */
    c.n = gcd64(src->ne[0], dst->ne[0]);
    c.rows = n / c.n;
    c.flat_src = src->ne[0] != c.n;
    c.flat_dst = dst->ne[0] != c.n;
    if ((c.flat_src && !tensor_is_contiguous(src)) || (c.flat_dst && !tensor_is_contiguous(dst)))
        return -EINVAL;
    if (c.n % dtype_info(dst->dtype)->block)
        return -EINVAL;
    cpu_parallel(cpu_backend(be), n * (dst->dtype == DTYPE_Q8_0 ? 4 : 1), copy_task, &c);
    return 0;
}

/* ---- im2col ------------------------------------------------------------------------------------------- */

typedef struct {
    const Tensor *dst;
    const char *src;
    size_t ch_stride, row_stride; /* bytes between channels / input rows of src */
    int kh, kw, stride, pad, pad_y; /* 1-D: kh = 1, pad_y = 0 */
    int64_t w, h, cin, wout, hout;  /* 1-D: h = hout = 1 */
} Im2colCtx;

static void im2col_task(void *arg, int ith, int nth)
{
    const Im2colCtx *c = arg;
    int64_t r0, r1;
    cpu_split(c->wout * c->hout, ith, nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        int64_t oh = r / c->wout, ow = r % c->wout, x0 = ow * c->stride - c->pad;
        float *d = (float *)((char *)c->dst->data + (size_t)r * c->dst->nb[1]);
        for (int64_t ch = 0; ch < c->cin; ch++)
            for (int ky = 0; ky < c->kh; ky++) {
                int64_t iy = oh * c->stride + ky - c->pad_y;
                if (iy < 0 || iy >= c->h) {
                    memset(d, 0, (size_t)c->kw * sizeof(float));
                    d += c->kw;
                    continue;
                }
                const float *srow = (const float *)(c->src + (size_t)ch * c->ch_stride + (size_t)iy * c->row_stride);
                for (int kx = 0; kx < c->kw; kx++) {
                    int64_t ix = x0 + kx;
                    *d++ = ix >= 0 && ix < c->w ? srow[ix] : 0.0f;
                }
            }
    }
}

static int im2col_check(const Tensor *dst, const Tensor *src, int kw, int stride, int pad)
{
    if (!dst || !src || !dst->data || !src->data)
        return -EINVAL;
    if (dst->dtype != DTYPE_F32 || src->dtype != DTYPE_F32)
        return -ENOTSUP;
    if (dst->nb[0] != 4 || src->nb[0] != 4 || dst->ne[2] != 1 || dst->ne[3] != 1 || kw <= 0 || stride <= 0 ||
        pad < 0)
        return -EINVAL;
    return 0;
}

/* Output length of a convolution axis, or -1 when the window does not fit. */
static int64_t conv_out(int64_t n, int k, int stride, int pad)
{
    int64_t span = n + 2 * (int64_t)pad - k;
    return span < 0 ? -1 : span / stride + 1;
}

int cpu_op_im2col_1d(Backend *be, Tensor *dst, const Tensor *src, int kw, int stride, int pad)
{
    int r = im2col_check(dst, src, kw, stride, pad);
    if (r < 0)
        return r;
    int64_t l = src->ne[0], cin = src->ne[1], lout = conv_out(l, kw, stride, pad);
    if (src->ne[2] != 1 || src->ne[3] != 1 || lout <= 0 || dst->ne[0] != cin * kw || dst->ne[1] != lout)
        return -EINVAL;
    Im2colCtx c = {.dst = dst, .src = src->data, .ch_stride = src->nb[1], .row_stride = 0, .kh = 1, .kw = kw,
                   .stride = stride, .pad = pad, .pad_y = 0, .w = l, .h = 1, .cin = cin, .wout = lout, .hout = 1};
    cpu_parallel(cpu_backend(be), lout * cin * kw, im2col_task, &c);
    return 0;
}

int cpu_op_im2col_2d(Backend *be, Tensor *dst, const Tensor *src, int kh, int kw, int stride, int pad)
{
    int r = im2col_check(dst, src, kw, stride, pad);
    if (r < 0)
        return r;
    if (kh <= 0)
        return -EINVAL;
    int64_t w = src->ne[0], h = src->ne[1], cin = src->ne[2];
    int64_t wout = conv_out(w, kw, stride, pad), hout = conv_out(h, kh, stride, pad);
    if (src->ne[3] != 1 || wout <= 0 || hout <= 0 || dst->ne[0] != cin * kh * kw || dst->ne[1] != wout * hout)
        return -EINVAL;
    Im2colCtx c = {.dst = dst, .src = src->data, .ch_stride = src->nb[2], .row_stride = src->nb[1], .kh = kh,
                   .kw = kw, .stride = stride, .pad = pad, .pad_y = pad, .w = w, .h = h, .cin = cin,
                   .wout = wout, .hout = hout};
    cpu_parallel(cpu_backend(be), wout * hout * cin * kh * kw, im2col_task, &c);
    return 0;
}
