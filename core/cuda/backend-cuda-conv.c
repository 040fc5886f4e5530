/* backend-cuda-conv.c — the CUDA backend's ops for convolutional speech models: host-side validation, then
 * conv.cu launches and the backend's own matmul (cuBLAS for many columns) on its stream.
 *
 * conv1d (groups 1): unfold a chunk of output steps into cb->conv ([Cin·K, n]) and multiply by w as
 * [Cin·K, Cout]; K = 1 with no stride/padding multiplies x directly. Grouped convs run the direct kernel.
 * Transposed conv: z = w [Cin, K·Cout] · x for the input steps an output chunk needs, then col2im sums the
 * taps in ascending k, as the CPU backend does. Semantics: core/backend.h; oracle: the CPU backend
 * (tests/backend/test-backend-parity.c).
 */
#include <errno.h>

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

static Tensor dev2d(void *data, int64_t n0, int64_t n1)
{
    Tensor t;
    int64_t ne[2] = {n0, n1};
    tensor_init(&t, DTYPE_F32, 2, ne, data);
    t.mem = MEM_DEVICE;
    return t;
}

int cuda_conv1d(Backend *be, Tensor *y, const Tensor *x, const Tensor *w, const Tensor *b, const Conv1dParams *p)
{
    int r;
    CudaBackend *cb = enter(be, &r);
    if (r < 0)
        return r;
    if (!p || !f32c(y) || !f32c(x) || !f32c(w) || (b && (!f32c(b) || tensor_nelements(b) != y->ne[0])))
        return -EINVAL;
    const int64_t Cin = x->ne[0], L = rows_of(x), Cout = y->ne[0], K = w->ne[1];
    if (p->stride < 1 || p->dilation < 1 || p->groups < 1 || p->pad < 0 || K < 1)
        return -EINVAL;
    if (Cin % p->groups || Cout % p->groups || w->ne[0] != Cin / p->groups || w->ne[2] != Cout || w->ne[3] != 1)
        return -EINVAL;
    const int64_t span = (int64_t)p->dilation * (K - 1) + 1;
    if (L + 2 * (int64_t)p->pad < span || rows_of(y) != (L + 2 * (int64_t)p->pad - span) / p->stride + 1)
        return -EINVAL;
    const int64_t Lout = rows_of(y);
    if (p->groups > 1)
        return cuda_check(cuk_conv_grouped(cb->stream, y->data, x->data, w->data, b ? b->data : NULL, Cin, L, Cout,
                                           K, Lout, p->stride, p->pad, p->dilation, p->groups, p->leaky_in,
                                           p->slope),
                          "conv1d grouped");
    Tensor wm = dev2d(w->data, Cin * K, Cout);
    if (K == 1 && p->stride == 1 && p->pad == 0 && !p->leaky_in) {
        Tensor xm = dev2d(x->data, Cin, L), ym = dev2d(y->data, Cout, Lout);
        if ((r = be->ops->matmul(be, &ym, &wm, &xm)) < 0)
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
        Tensor cm = dev2d(cb->conv, Cin * K, n), ym = dev2d(yc, Cout, n);
        if ((r = be->ops->matmul(be, &ym, &wm, &cm)) < 0)
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
    const int64_t Cin = x->ne[0], L = rows_of(x), Cout = y->ne[0], K = w->ne[2];
    if (w->ne[0] != Cin || w->ne[1] != Cout || w->ne[3] != 1 || K < 1 || L < 1 ||
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
    Tensor wm = dev2d(w->data, Cin, K * Cout);
    for (int64_t j0 = 0; j0 < Lout; j0 += nj) {
        const int64_t n = Lout - j0 < nj ? Lout - j0 : nj;
        int64_t lo = j0 + pad - K + 1, hi = (j0 + n - 1 + pad) / stride;
        lo = lo <= 0 ? 0 : (lo + stride - 1) / stride;
        hi = hi > L - 1 ? L - 1 : hi;
        if (hi >= lo) {
            Tensor xm = dev2d((float *)x->data + (size_t)(lo * Cin), Cin, hi - lo + 1);
            Tensor zm = dev2d(cb->conv, K * Cout, hi - lo + 1);
            if ((r = be->ops->matmul(be, &zm, &wm, &xm)) < 0)
                return r;
        }
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
