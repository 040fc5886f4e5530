/* cpu/matmul.c — y: [N, T] = x: [K, T] · wᵀ with w: [K, N] of any supported dtype, on the CPU.
 *
 * Activations are converted once per call to the weight type's partner (quant_vec_dot_type: Q8_0 / Q8_K,
 * or used as F32 for float weights) into grow-only scratch owned by CpuMatmul. Threads split the N output
 * rows into contiguous chunks, so each thread streams its own slice of the weights.
 *  - T = 1 (decode): a GEMV, one dot product per weight row.
 *  - T > 1 (prefill): a GEMM blocked over rows of w (MM_ROWS rows, kept in L1/L2) and over tokens
 *    (MM_TOKENS per tile); the per-ISA tile kernel decodes each weight block once per tile of tokens.
 * Not here: the per-dtype kernels (quant*.c), AMX (not implemented: no AMX machine to test on).
 * Numerics: those of quant_dot (integer dot products of quantized blocks, F32 accumulation).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "matmul.h"
#include "quant-internal.h"
#include "quant.h"

enum { MM_ROWS = 16, MM_TOKENS = 8, MM_ALIGN = 64 };

struct CpuMatmul {
    ThreadPool *tp;   /* borrowed, may be NULL (single-threaded) */
    void *scratch;    /* owned: quantized activations, T rows of the partner type */
    size_t scratch_size;
};

int cpu_matmul_new(ThreadPool *tp, CpuMatmul **ret)
{
    CpuMatmul *mm = calloc(1, sizeof *mm);
    if (!mm)
        return -ENOMEM;
    mm->tp = tp;
    *ret = mm;
    return 0;
}

void cpu_matmul_free(CpuMatmul *mm)
{
    if (!mm)
        return;
    free(mm->scratch);
    free(mm);
}

static int scratch_reserve(CpuMatmul *mm, size_t size)
{
    void *p;
    if (size <= mm->scratch_size)
        return 0;
    size = (size + MM_ALIGN - 1) / MM_ALIGN * MM_ALIGN;
    p = aligned_alloc(MM_ALIGN, size);
    if (!p)
        return -ENOMEM;
    free(mm->scratch);
    mm->scratch = p;
    mm->scratch_size = size;
    return 0;
}

typedef struct {
    const QuantKernels *k;
    DType wdt, xdt;
    int64_t K, N, T;
    const char *w;   /* [K, N], rows wstride bytes apart */
    size_t wstride;
    const char *xf;  /* F32 activations [K, T], rows xfstride bytes apart */
    size_t xfstride;
    const char *xq;  /* activations in xdt, rows xstride bytes apart */
    size_t xstride;
    char *xq_out;    /* quantization target (scratch) */
    float *y;        /* [N, T], rows ys floats apart */
    size_t ys;
} MatmulJob;

/* Contiguous chunk [r0, r1) of `total` for thread ith of nth, rounded to `align` items. */
static void split(int64_t total, int64_t align, int ith, int nth, int64_t *r0, int64_t *r1)
{
    int64_t blocks = (total + align - 1) / align;
    int64_t b0 = blocks * ith / nth, b1 = blocks * (ith + 1) / nth;
    *r0 = b0 * align < total ? b0 * align : total;
    *r1 = b1 * align < total ? b1 * align : total;
}

static void quantize_task(void *ctx, int ith, int nth)
{
    MatmulJob *j = ctx;
    int64_t t0, t1;
    split(j->T, 1, ith, nth, &t0, &t1);
    for (int64_t t = t0; t < t1; t++)
        j->k->quantize_act[j->xdt]((const float *)(j->xf + (size_t)t * j->xfstride),
                                   j->xq_out + (size_t)t * j->xstride, j->K);
}

static void gemv_task(void *ctx, int ith, int nth)
{
    MatmulJob *j = ctx;
    QuantDotFn dot = j->k->dot[j->wdt];
    int64_t r0, r1;
    split(j->N, 4, ith, nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++)
        j->y[r] = dot(j->w + (size_t)r * j->wstride, j->xq, j->K);
}

static void tile_fallback(const MatmulJob *j, int64_t r0, int nr, int64_t t0, int nt)
{
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < nr; r++)
            j->y[(size_t)(t0 + t) * j->ys + (size_t)(r0 + r)] =
                j->k->dot[j->wdt](j->w + (size_t)(r0 + r) * j->wstride,
                                  j->xq + (size_t)(t0 + t) * j->xstride, j->K);
}

static void gemm_task(void *ctx, int ith, int nth)
{
    MatmulJob *j = ctx;
    QuantTileFn tile = j->k->tile[j->wdt];
    int64_t r0, r1;
    split(j->N, MM_ROWS, ith, nth, &r0, &r1);
    for (int64_t rb = r0; rb < r1; rb += MM_ROWS) {
        int nr = (int)(r1 - rb < MM_ROWS ? r1 - rb : MM_ROWS);
        for (int64_t tb = 0; tb < j->T; tb += MM_TOKENS) {
            int nt = (int)(j->T - tb < MM_TOKENS ? j->T - tb : MM_TOKENS);
            if (tile)
                tile(j->w + (size_t)rb * j->wstride, j->wstride, j->xq + (size_t)tb * j->xstride,
                     j->xstride, j->y + (size_t)tb * j->ys + (size_t)rb, j->ys, nr, nt, j->K);
            else
                tile_fallback(j, rb, nr, tb, nt);
        }
    }
}

static void run(CpuMatmul *mm, ThreadTask fn, MatmulJob *j)
{
    if (mm->tp)
        threadpool_run(mm->tp, fn, j);
    else
        fn(j, 0, 1);
}

int cpu_matmul(CpuMatmul *mm, Tensor *y, const Tensor *w, const Tensor *x)
{
    MatmulJob j = {0};
    size_t row_bytes;
    int rc;

    if (!mm || !y || !w || !x || !y->data || !w->data || !x->data)
        return -EINVAL;
    if (w->mem != MEM_HOST || x->mem != MEM_HOST || y->mem != MEM_HOST)
        return -EINVAL;
    if (x->dtype != DTYPE_F32 || y->dtype != DTYPE_F32)
        return -EINVAL;
    j.k = quant_kernels();
    j.wdt = w->dtype;
    if ((int)j.wdt < 0 || (int)j.wdt >= DTYPE_COUNT || !j.k->dot[j.wdt])
        return -ENOTSUP;
    j.K = w->ne[0];
    j.N = w->ne[1];
    if (j.K <= 0 || j.N <= 0 || w->ne[2] != 1 || w->ne[3] != 1 || x->ne[0] != j.K)
        return -EINVAL;
    j.T = x->ne[1] * x->ne[2] * x->ne[3];
    if (y->ne[0] != j.N || y->ne[1] * y->ne[2] * y->ne[3] != j.T)
        return -EINVAL;
    /* rows of x and y may be strided (views), but dims above 1 must be packed */
    if (x->nb[0] != sizeof(float) || y->nb[0] != sizeof(float) || y->nb[1] % sizeof(float))
        return -EINVAL;
    if ((x->ne[2] > 1 || x->ne[3] > 1) && !tensor_is_contiguous(x))
        return -EINVAL;
    if ((y->ne[2] > 1 || y->ne[3] > 1) && !tensor_is_contiguous(y))
        return -EINVAL;
    if (dtype_row_bytes(j.wdt, j.K, &row_bytes) < 0 || w->nb[1] < row_bytes)
        return -EINVAL;

    j.w = w->data;
    j.wstride = w->nb[1];
    j.xf = x->data;
    j.xfstride = x->nb[1];
    j.y = y->data;
    j.ys = y->nb[1] / sizeof(float);
    j.xdt = quant_vec_dot_type(j.wdt);
    if (j.xdt == DTYPE_F32) {
        j.xq = j.xf;
        j.xstride = j.xfstride;
    } else {
        size_t xrow;
        if ((rc = dtype_row_bytes(j.xdt, j.K, &xrow)) < 0)
            return rc;
        if ((size_t)j.T > SIZE_MAX / xrow)
            return -EOVERFLOW;
        if ((rc = scratch_reserve(mm, xrow * (size_t)j.T)) < 0)
            return rc;
        j.xq = j.xq_out = mm->scratch;
        j.xstride = xrow;
        if (j.T == 1)
            quantize_task(&j, 0, 1);
        else
            run(mm, quantize_task, &j);
    }
    run(mm, j.T == 1 ? gemv_task : gemm_task, &j);
    return 0;
}
