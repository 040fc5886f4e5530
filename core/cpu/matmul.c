/* cpu/matmul.c — y: [N, T] = x: [K, T] · wᵀ with w: [K, N] of any supported dtype, on the CPU.
 *
 * Activations are converted once per call to the weight type's partner (quant_vec_dot_type: Q8_0 / Q8_K,
 * or used as F32 for float weights; Q8P — the same Q8_0 numbers in a packed layout — where the ISA table
 * has tile_p kernels) into grow-only scratch owned by CpuMatmul. Threads split the N output rows into
 * contiguous chunks, so each thread streams its own slice of the weights; cpu_matmul_multi treats the rows
 * of several weights that share x (Q/K/V, gate/up) as one range: one quantization, one pool dispatch.
 *  - T = 1 (decode): a GEMV, one dot product per weight row.
 *  - T ≥ MM_GEMM_P_MIN_TOKENS with a gemm_p kernel (AVX-512 VNNI: Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K):
 *    Q8P activations and one call per thread for its rows and all tokens; the kernel repacks 16-row
 *    panels so that vpdpbusd lanes are output rows (quant-avx512-gemm.c).
 *  - other T > 1 (prefill): a GEMM blocked over rows of w (MM_ROWS rows, kept in L1/L2) and over tokens
 *    (MM_TOKENS per tile); the per-ISA tile kernel decodes each weight block once per tile of tokens.
 * Not here: the per-dtype kernels (quant*.c), AMX (not implemented: no AMX machine to test on).
 * Numerics: those of quant_dot (integer dot products of quantized blocks, F32 accumulation).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "matmul.h"
#include "ops.h"
#include "quant-internal.h"
#include "quant.h"

enum { MM_ROWS = 16, MM_TOKENS = 8, MM_TOKENS_P = 32, MM_ALIGN = 64, MM_GEMM_P_MIN_TOKENS = 16 };

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

enum { MM_MAX_W = 4 }; /* weights sharing one activation in cpu_matmul_multi */

typedef struct {
    const QuantKernels *k;
    DType wdt, xdt;
    int packed;      /* xq holds Q8P rows, the kernel is tile_p[wdt] or gemm_p[wdt] */
    int gemm_p;      /* T > 1 goes to gemm_p[wdt] (repacked panels) */
    int64_t K, T;
    int nw;          /* weights sharing x; rows of all of them are split over the threads as one range */
    int64_t N[MM_MAX_W], off[MM_MAX_W], N_total;
    const char *w[MM_MAX_W]; /* [K, N], rows wstride bytes apart */
    size_t wstride[MM_MAX_W];
    float *y[MM_MAX_W];      /* [N, T], rows ys floats apart */
    size_t ys[MM_MAX_W];
    const char *xf;  /* F32 activations [K, T], rows xfstride bytes apart */
    size_t xfstride;
    const char *xq;  /* activations in xdt (or Q8P), rows xstride bytes apart */
    size_t xstride;
    char *xq_out;    /* quantization target (scratch) */
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
    QuantQuantizeFn qz = j->packed ? j->k->quantize_p : j->k->quantize_act[j->xdt];
    split(j->T, 1, ith, nth, &t0, &t1);
    for (int64_t t = t0; t < t1; t++)
        qz((const float *)(j->xf + (size_t)t * j->xfstride), j->xq_out + (size_t)t * j->xstride, j->K);
}

static void gemv_rows(const MatmulJob *j, int s, int64_t r0, int64_t r1)
{
    const char *w = j->w[s];
    size_t ws = j->wstride[s];
    float *y = j->y[s];
    if (j->packed) {
        j->k->tile_p[j->wdt](w + (size_t)r0 * ws, ws, j->xq, j->xstride, y + r0, 1, (int)(r1 - r0), 1, j->K);
        return;
    }
    QuantDotFn dot = j->k->dot[j->wdt];
    for (int64_t r = r0; r < r1; r++)
        y[r] = dot(w + (size_t)r * ws, j->xq, j->K);
}

static void gemm_rows(const MatmulJob *j, int s, int64_t r0, int64_t r1)
{
    QuantTileFn tile = j->packed ? j->k->tile_p[j->wdt] : j->k->tile[j->wdt];
    const char *w = j->w[s];
    size_t ws = j->wstride[s], ys = j->ys[s];
    float *y = j->y[s];
    /* quantized activations are ~1.1–1.25 bytes per element: 32 token rows of them stay in L2 next to the
     * weight rows (F32 ones: 8) */
    const int64_t tokens = j->packed || j->xdt != DTYPE_F32 ? MM_TOKENS_P : MM_TOKENS;
    if (j->gemm_p) {
        /* repacked row panels: all tokens per panel (the kernel blocks over K and tokens itself) */
        j->k->gemm_p[j->wdt](w + (size_t)r0 * ws, ws, j->xq, j->xstride, y + r0, ys, (int)(r1 - r0), (int)j->T, j->K);
        return;
    }
    for (int64_t rb = r0; rb < r1; rb += MM_ROWS) {
        int nr = (int)(r1 - rb < MM_ROWS ? r1 - rb : MM_ROWS);
        for (int64_t tb = 0; tb < j->T; tb += tokens) {
            int nt = (int)(j->T - tb < tokens ? j->T - tb : tokens);
            if (tile) {
                tile(w + (size_t)rb * ws, ws, j->xq + (size_t)tb * j->xstride, j->xstride, y + (size_t)tb * ys + (size_t)rb,
                     ys, nr, nt, j->K);
                continue;
            }
            for (int t = 0; t < nt; t++)
                for (int r = 0; r < nr; r++)
                    y[(size_t)(tb + t) * ys + (size_t)(rb + r)] =
                        j->k->dot[j->wdt](w + (size_t)(rb + r) * ws, j->xq + (size_t)(tb + t) * j->xstride, j->K);
        }
    }
}

/* This thread's rows of the concatenated [N_0 | N_1 | …] range, handed to each weight's part. */
static void rows_task(MatmulJob *j, int ith, int nth, int64_t align,
                      void (*fn)(const MatmulJob *, int, int64_t, int64_t))
{
    int64_t r0, r1;
    split(j->N_total, align, ith, nth, &r0, &r1);
    for (int s = 0; s < j->nw; s++) {
        int64_t a = r0 > j->off[s] ? r0 : j->off[s], b = r1 < j->off[s] + j->N[s] ? r1 : j->off[s] + j->N[s];
        if (a < b)
            fn(j, s, a - j->off[s], b - j->off[s]);
    }
}

static void gemv_task(void *ctx, int ith, int nth)
{
    rows_task(ctx, ith, nth, 4, gemv_rows);
}

static void gemm_task(void *ctx, int ith, int nth)
{
    rows_task(ctx, ith, nth, MM_ROWS, gemm_rows);
}

static void run(CpuMatmul *mm, ThreadTask fn, MatmulJob *j)
{
    if (mm->tp)
        threadpool_run(mm->tp, fn, j);
    else
        fn(j, 0, 1);
}

/* Validate one (y, w) pair against x and add it to the job. */
static int add_weight(MatmulJob *j, Tensor *y, const Tensor *w, const Tensor *x)
{
    size_t row_bytes;
    int64_t N;
    int s = j->nw;

    if (!y || !w || !y->data || !w->data || w->mem != MEM_HOST || y->mem != MEM_HOST || y->dtype != DTYPE_F32)
        return -EINVAL;
    if ((int)w->dtype < 0 || (int)w->dtype >= DTYPE_COUNT || !j->k->dot[w->dtype])
        return -ENOTSUP;
    if (s > 0 && w->dtype != j->wdt)
        return -EINVAL;
    N = w->ne[1];
    if (w->ne[0] != x->ne[0] || N <= 0 || w->ne[2] != 1 || w->ne[3] != 1)
        return -EINVAL;
    if (y->ne[0] != N || y->ne[1] * y->ne[2] * y->ne[3] != j->T)
        return -EINVAL;
    if (y->nb[0] != sizeof(float) || y->nb[1] % sizeof(float))
        return -EINVAL;
    if ((y->ne[2] > 1 || y->ne[3] > 1) && !tensor_is_contiguous(y))
        return -EINVAL;
    if (dtype_row_bytes(w->dtype, x->ne[0], &row_bytes) < 0 || w->nb[1] < row_bytes)
        return -EINVAL;
    j->wdt = w->dtype;
    j->w[s] = w->data;
    j->wstride[s] = w->nb[1];
    j->y[s] = y->data;
    j->ys[s] = y->nb[1] / sizeof(float);
    j->N[s] = N;
    j->off[s] = j->N_total;
    j->N_total += N;
    j->nw++;
    return 0;
}

int cpu_matmul_multi(CpuMatmul *mm, int n, Tensor *const *y, const Tensor *const *w, const Tensor *x)
{
    MatmulJob j = {0};
    int rc;

    if (!mm || !x || !y || !w || n < 1 || n > MM_MAX_W || !x->data)
        return -EINVAL;
    if (x->mem != MEM_HOST || x->dtype != DTYPE_F32)
        return -EINVAL;
    j.k = quant_kernels();
    j.K = x->ne[0];
    j.T = x->ne[1] * x->ne[2] * x->ne[3];
    if (j.K <= 0 || j.T <= 0)
        return -EINVAL;
    /* rows of x and y may be strided (views), but dims above 1 must be packed */
    if (x->nb[0] != sizeof(float))
        return -EINVAL;
    if ((x->ne[2] > 1 || x->ne[3] > 1) && !tensor_is_contiguous(x))
        return -EINVAL;
    for (int i = 0; i < n; i++)
        if ((rc = add_weight(&j, y[i], w[i], x)) < 0)
            return rc;

    j.xf = x->data;
    j.xfstride = x->nb[1];
    j.xdt = quant_vec_dot_type(j.wdt);
    /* Q8P activations: for the 32-block types' tile_p kernels, and for every type with a gemm_p kernel
     * when there are enough tokens (K-quants then get Q8_0-precision activations instead of Q8_K); the
     * panel kernel gathers 16 rows with 32-bit offsets */
    j.gemm_p = j.k->gemm_p[j.wdt] && j.k->quantize_p && j.K % 32 == 0 && j.T >= MM_GEMM_P_MIN_TOKENS &&
               j.T <= INT32_MAX;
    for (int s = 0; s < j.nw; s++)
        j.gemm_p = j.gemm_p && j.wstride[s] <= (size_t)INT32_MAX / 16;
    j.packed = j.gemm_p || (j.k->tile_p[j.wdt] && j.k->quantize_p && j.K % 32 == 0);
    if (j.xdt == DTYPE_F32 && !j.packed) {
        j.xq = j.xf;
        j.xstride = j.xfstride;
    } else {
        size_t xrow;
        if (j.packed)
            xrow = quant_q8p_row_bytes(j.K);
        else if ((rc = dtype_row_bytes(j.xdt, j.K, &xrow)) < 0)
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

int cpu_matmul(CpuMatmul *mm, Tensor *y, const Tensor *w, const Tensor *x)
{
    if (!mm || !y || !w || !x || !y->data || !w->data || !x->data)
        return -EINVAL;
    return cpu_matmul_multi(mm, 1, &y, &w, x);
}

int cpu_backend_matmul_multi(Backend *be, int n, Tensor *const *y, const Tensor *const *w, const Tensor *x)
{
    if (!be->impl)
        return -EINVAL;
    return cpu_matmul_multi(cpu_backend(be)->mm, n, y, w, x);
}
