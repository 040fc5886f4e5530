/* backend-cuda-conv.c — the CUDA backend's ops for convolutional speech models: host-side validation, then
 * conv.cu launches and the backend's own matmul (cuBLAS for many columns) on its stream.
 *
 * conv1d (groups 1): unfold a chunk of output steps into cb->conv ([Cin·K, n], taps (k, c)) and multiply
 * by w, whose memory [K·Cin][Cout] is a column-major Cout × K·Cin matrix (cublasSgemm N, N); K = 1 with no
 * stride, padding or activation multiplies x directly. Grouped convs run the direct kernel. Transposed
 * conv: z = w [Cin][K·Cout] applied to the input steps an output chunk needs, then col2im sums the taps in
 * ascending k, as the CPU backend does. Semantics: core/backend.h; oracle: the CPU backend
 * (tests/backend/test-backend-parity.c).
 */
#include <errno.h>
#include <limits.h>

#include "backend-cuda.h"
#include "cuda-ops.h"

enum { CONV_CHUNK_FLOATS = 8 << 20 }; /* 32 MiB of unfolded columns */

static int f32c(const Tensor *t)
{
    return t && t->data && t->dtype == DTYPE_F32 && tensor_is_contiguous(t);
}

static int64_t rows_of(const Tensor *t)
{
    return t->ne[1] * t->ne[2] * t->ne[3];
}

static CudaBackend *enter(Backend *be, int *r)
{
    CudaBackend *cb = (CudaBackend *)be->impl;
    *r = CU(cudaSetDevice(cb->device));
    return cb;
}

/* y [M, n] (column-major, ld M) = A [M, Kd] (ld M) · B [Kd, n] (ld Kd), all F32 on the device. */
static int gemm(CudaBackend *cb, float *y, const float *a, const float *b, int64_t M, int64_t n, int64_t Kd,
                int accumulate)
{
    const float one = 1.0f, zero = accumulate ? 1.0f : 0.0f; /* y = A·B (+ y) */
    if (M > INT_MAX || n > INT_MAX || Kd > INT_MAX)
        return -EINVAL;
    return CUBLAS(cublasSgemm(cb->cublas, CUBLAS_OP_N, CUBLAS_OP_N, (int)M, (int)n, (int)Kd, &one, a, (int)M, b,
                              (int)Kd, &zero, y, (int)M));
}

static int conv1d_body(CudaBackend *cb, Tensor *y, const Tensor *x, const Tensor *w, const Tensor *b,
                       const Conv1dParams *p, int64_t Cin, int64_t L, int64_t Cout, int64_t K, int64_t Lout, int acc);

int cuda_conv1d(Backend *be, Tensor *y, const Tensor *x, const Tensor *w, const Tensor *b, const Conv1dParams *p)
{
    int r;
    CudaBackend *cb = enter(be, &r);
    if (r < 0)
        return r;
    if (!p || !f32c(y) || !f32c(x) || !f32c(w) || (b && (!f32c(b) || tensor_nelements(b) != y->ne[0])))
        return -EINVAL;
    const int64_t Cin = x->ne[0], L = rows_of(x), Cout = y->ne[0], K = w->ne[2];
    if (p->stride < 1 || p->dilation < 1 || p->groups < 1 || p->pad < 0 || K < 1)
        return -EINVAL;
    if (Cin % p->groups || Cout % p->groups || w->ne[1] != Cin / p->groups || w->ne[0] != Cout || w->ne[3] != 1)
        return -EINVAL;
    const int64_t span = (int64_t)p->dilation * (K - 1) + 1;
    if (L + 2 * (int64_t)p->pad < span || rows_of(y) != (L + 2 * (int64_t)p->pad - span) / p->stride + 1)
        return -EINVAL;
    const int64_t Lout = rows_of(y);
    const Tensor *rt = p->residual;
    if (y->data == x->data || (rt && (!f32c(rt) || rt->ne[0] != Cout || rows_of(rt) != Lout)))
        return -EINVAL;
    /* residual: y starts as it and the convolution accumulates into y */
    if (rt && rt->data != y->data &&
        (r = CU(cudaMemcpyAsync(y->data, rt->data, (size_t)(Cout * Lout) * 4, cudaMemcpyDeviceToDevice, cb->stream))) < 0)
        return r;
    return conv1d_body(cb, y, x, w, b, p, Cin, L, Cout, K, Lout, rt != NULL);
}

static int conv1d_body(CudaBackend *cb, Tensor *y, const Tensor *x, const Tensor *w, const Tensor *b,
                       const Conv1dParams *p, int64_t Cin, int64_t L, int64_t Cout, int64_t K, int64_t Lout, int acc)
{
    int r;
    if (p->groups > 1)
        return cuda_check(cuk_conv_grouped(cb->stream, y->data, x->data, w->data, b ? b->data : NULL, Cin, L, Cout,
                                           K, Lout, p->stride, p->pad, p->dilation, p->groups, p->leaky_in,
                                           p->slope, acc),
                          "conv1d grouped");
    if (K == 1 && p->stride == 1 && p->pad == 0 && !p->leaky_in) {
        if ((r = gemm(cb, y->data, w->data, x->data, Cout, Lout, Cin, acc)) < 0)
            return r;
        return b ? cuda_check(cuk_bias_rows(cb->stream, y->data, b->data, Cout, Lout), "conv1d bias") : 0;
    }
    int64_t chunk = CONV_CHUNK_FLOATS / (Cin * K);
    chunk = chunk < 1 ? 1 : chunk > Lout ? Lout : chunk;
    if ((r = cuda_scratch_reserve(cb, (void **)&cb->conv, &cb->conv_bytes, (size_t)(chunk * Cin * K) * 4)) < 0)
        return r;
    for (int64_t t0 = 0; t0 < Lout; t0 += chunk) {
        const int64_t n = Lout - t0 < chunk ? Lout - t0 : chunk;
        float *yc = (float *)y->data + (size_t)(t0 * Cout);
        r = cuda_check(cuk_conv_unfold(cb->stream, cb->conv, x->data, Cin, L, K, t0, n, p->stride, p->pad,
                                       p->dilation, p->leaky_in, p->slope),
                       "conv1d unfold");
        if (r < 0)
            return r;
        if ((r = gemm(cb, yc, w->data, cb->conv, Cout, n, Cin * K, acc)) < 0)
            return r;
        if (b && (r = cuda_check(cuk_bias_rows(cb->stream, yc, b->data, Cout, n), "conv1d bias")) < 0)
            return r;
    }
    return 0;
}

int cuda_conv_transpose1d(Backend *be, Tensor *y, const Tensor *x, const Tensor *w, const Tensor *b, int stride,
                          int pad)
{
    int r;
    CudaBackend *cb = enter(be, &r);
    if (r < 0)
        return r;
    if (!f32c(y) || !f32c(x) || !f32c(w) || stride < 1 || pad < 0)
        return -EINVAL;
    const int64_t Cin = x->ne[0], L = rows_of(x), Cout = y->ne[0], K = w->ne[1];
    if (w->ne[2] != Cin || w->ne[0] != Cout || w->ne[3] != 1 || K < 1 || L < 1 ||
        (b && (!f32c(b) || tensor_nelements(b) != Cout)))
        return -EINVAL;
    const int64_t Lout = (L - 1) * stride - 2 * (int64_t)pad + K;
    if (Lout < 1 || rows_of(y) != Lout)
        return -EINVAL;
    int64_t ni_max = CONV_CHUNK_FLOATS / (K * Cout);
    if (ni_max < K / stride + 4)
        ni_max = K / stride + 4;
    const int64_t nj = (ni_max - K / stride - 3) * stride;
    if ((r = cuda_scratch_reserve(cb, (void **)&cb->conv, &cb->conv_bytes, (size_t)(ni_max * K * Cout) * 4)) < 0)
        return r;
    for (int64_t j0 = 0; j0 < Lout; j0 += nj) {
        const int64_t n = Lout - j0 < nj ? Lout - j0 : nj;
        int64_t lo = j0 + pad - K + 1, hi = (j0 + n - 1 + pad) / stride;
        lo = lo <= 0 ? 0 : (lo + stride - 1) / stride;
        hi = hi > L - 1 ? L - 1 : hi;
        if (hi >= lo && (r = gemm(cb, cb->conv, w->data, (const float *)x->data + (size_t)(lo * Cin), K * Cout,
                                  hi - lo + 1, Cin, 0)) < 0)
            return r;
        r = cuda_check(cuk_col2im(cb->stream, y->data, cb->conv, b ? b->data : NULL, Cout, K, L, lo, j0, n, stride,
                                  pad),
                       "conv_transpose1d col2im");
        if (r < 0)
            return r;
    }
    return 0;
}

static int act(Backend *be, Tensor *y, const Tensor *x, CukAct op, float a)
{
    int r;
    CudaBackend *cb = enter(be, &r);
    if (r < 0)
        return r;
    if (!f32c(y) || !f32c(x))
        return -EINVAL;
    for (int d = 0; d < TENSOR_MAX_DIMS; d++)
        if (x->ne[d] != y->ne[d])
            return -EINVAL;
    return cuda_check(cuk_act(cb->stream, op, y->data, x->data, tensor_nelements(x), a), "activation");
}

int cuda_leaky_relu(Backend *be, Tensor *y, const Tensor *x, float slope)
{
    return act(be, y, x, CUK_LRELU, slope);
}

int cuda_tanh(Backend *be, Tensor *y, const Tensor *x)
{
    return act(be, y, x, CUK_TANH, 0.0f);
}

int cuda_exp(Backend *be, Tensor *y, const Tensor *x)
{
    return act(be, y, x, CUK_EXP, 0.0f);
}

int cuda_gated_tanh(Backend *be, Tensor *y, const Tensor *x)
{
    int r;
    CudaBackend *cb = enter(be, &r);
    if (r < 0)
        return r;
    if (!f32c(y) || !f32c(x) || x->ne[0] != 2 * y->ne[0] || rows_of(x) != rows_of(y) || y->data == x->data)
        return -EINVAL;
    return cuda_check(cuk_gated_tanh(cb->stream, y->data, x->data, y->ne[0], rows_of(y)), "gated_tanh");
}

int cuda_attention_rel(Backend *be, Tensor *out, const Tensor *q, const Tensor *k, const Tensor *v,
                       const Tensor *ek, const Tensor *ev, int window, float scale)
{
    int r;
    CudaBackend *cb = enter(be, &r);
    if (r < 0)
        return r;
    if (!f32c(out) || !f32c(q) || !f32c(k) || !f32c(v) || !f32c(ek) || !f32c(ev) || window < 0)
        return -EINVAL;
    const int64_t HD = q->ne[0], NH = q->ne[1], T = q->ne[2];
    for (int d = 0; d < TENSOR_MAX_DIMS; d++)
        if (k->ne[d] != q->ne[d] || v->ne[d] != q->ne[d] || out->ne[d] != q->ne[d])
            return -EINVAL;
    if (q->ne[3] != 1 || T < 1 || ek->ne[0] != HD || ek->ne[1] != 2 * (int64_t)window + 1 ||
        tensor_nelements(ek) != HD * (2 * (int64_t)window + 1) || ev->ne[0] != HD || ev->ne[1] != ek->ne[1] ||
        tensor_nelements(ev) != tensor_nelements(ek) || out->data == q->data || out->data == k->data ||
        out->data == v->data)
        return -EINVAL;
    if (T > CUK_ATTN_REL_MAX_T)
        return -EINVAL;
    return cuda_check(cuk_attention_rel(cb->stream, out->data, q->data, k->data, v->data, ek->data, ev->data, HD, NH,
                                        T, window, scale),
                      "attention_rel");
}
