/* backend-cuda-ops.c — the CUDA BackendOps table: argument validation on the host, then kernel launches
 * (cuda-ops.h) or cuBLAS on the backend's stream.
 *
 * matmul: T <= CUK_GEMV_MAX_T tokens → custom GEMV kernels dequantizing on the fly (memory-bound decode);
 * more tokens → cublasGemmEx with F32 accumulation: F32 weights as is (F32 compute), F16/BF16 weights as is
 * with activations converted to the same type, quantized weights dequantized to F16 in row chunks of
 * scratch (so a 128k-vocab output matrix never needs a full F16 copy).
 * Not here: memory management (backend-cuda.c), kernels (*.cu). Semantics follow core/backend.h; the CPU
 * backend is the oracle (tests/backend/test-backend-parity.c).
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "backend-cuda.h"
#include "cuda-ops.h"

enum { WQ_CHUNK_ELEMS = 16 << 20 }; /* 32 MiB of F16 per dequantized weight chunk */

static CudaBackend *enter(Backend *be, int *r)
{
    CudaBackend *cb = (CudaBackend *)be->impl;
    *r = CU(cudaSetDevice(cb->device));
    return cb;
}

static int launch(int err, const char *what)
{
    return cuda_check(err, what);
}

static int is_f32_contig(const Tensor *t)
{
    return t && t->data && t->dtype == DTYPE_F32 && tensor_is_contiguous(t);
}

static int64_t rows_of(const Tensor *t)
{
    return t->ne[1] * t->ne[2] * t->ne[3];
}

static int cuda_matmul_cublas(CudaBackend *cb, Tensor *y, const Tensor *w, const Tensor *x, int64_t K,
                              int64_t N, int64_t T)
{
    const float one = 1.0f, zero = 0.0f;
    int r;

    if (K > INT_MAX || N > INT_MAX || T > INT_MAX)
        return -EINVAL;
    if (w->dtype == DTYPE_F32) {
        if (w->nb[1] % 4)
            return -EINVAL;
        return CUBLAS(cublasGemmEx(cb->cublas, CUBLAS_OP_T, CUBLAS_OP_N, (int)N, (int)T, (int)K, &one, w->data,
                                   CUDA_R_32F, (int)(w->nb[1] / 4), x->data, CUDA_R_32F, (int)K, &zero, y->data,
                                   CUDA_R_32F, (int)N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }
    const int bf16 = w->dtype == DTYPE_BF16;
    const cudaDataType ht = bf16 ? CUDA_R_16BF : CUDA_R_16F;
    if ((r = cuda_scratch_reserve(cb, &cb->xh, &cb->xh_bytes, (size_t)(K * T) * 2)) < 0)
        return r;
    if ((r = launch(cuk_f32_to_half(cb->stream, cb->xh, bf16, x->data, K * T), "convert activations")) < 0)
        return r;
    if (w->dtype == DTYPE_F16 || w->dtype == DTYPE_BF16) {
        if (w->nb[1] % 2)
            return -EINVAL;
        return CUBLAS(cublasGemmEx(cb->cublas, CUBLAS_OP_T, CUBLAS_OP_N, (int)N, (int)T, (int)K, &one, w->data, ht,
                                   (int)(w->nb[1] / 2), cb->xh, ht, (int)K, &zero, y->data, CUDA_R_32F, (int)N,
                                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }
    int64_t chunk = WQ_CHUNK_ELEMS / K;
    if (chunk < 1)
        chunk = 1;
    if (chunk > N)
        chunk = N;
    if ((r = cuda_scratch_reserve(cb, &cb->wq, &cb->wq_bytes, (size_t)(chunk * K) * 2)) < 0)
        return r;
    for (int64_t n0 = 0; n0 < N; n0 += chunk) {
        const int64_t nc = N - n0 < chunk ? N - n0 : chunk;
        const uint8_t *wr = (const uint8_t *)w->data + (size_t)n0 * w->nb[1];
        r = launch(cuk_dequant_rows(cb->stream, (int)w->dtype, cb->wq, 0, wr, w->nb[1], K, nc), "dequantize");
        if (r < 0)
            return r;
        r = CUBLAS(cublasGemmEx(cb->cublas, CUBLAS_OP_T, CUBLAS_OP_N, (int)nc, (int)T, (int)K, &one, cb->wq,
                                CUDA_R_16F, (int)K, cb->xh, CUDA_R_16F, (int)K, &zero, (float *)y->data + n0,
                                CUDA_R_32F, (int)N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
        if (r < 0)
            return r;
    }
    return 0;
}

static int cuda_matmul(Backend *be, Tensor *y, const Tensor *w, const Tensor *x)
{
    int r;
    CudaBackend *cb = enter(be, &r);
    if (r < 0)
        return r;
    if (!w || !w->data || !is_f32_contig(x) || !is_f32_contig(y))
        return -EINVAL;
    if (!cuk_dtype_supported((int)w->dtype))
        return -ENOTSUP;
    const int64_t K = w->ne[0], N = w->ne[1], T = rows_of(x);
    const DTypeInfo *info = dtype_info((int)w->dtype);
    if (w->ne[2] != 1 || w->ne[3] != 1 || x->ne[0] != K || y->ne[0] != N || rows_of(y) != T || K % info->block)
        return -EINVAL;
    if (info->block > 1 && ((uintptr_t)w->data % 16 || w->nb[1] % 2))
        return -EINVAL; /* block loads assume device allocations (256-byte aligned) */
    if (T == 0 || N == 0)
        return 0;
    if (T <= CUK_GEMV_MAX_T) {
        const int fast = K % 8 == 0 && (uintptr_t)x->data % 16 == 0 &&
                         (info->block > 1 || ((uintptr_t)w->data % 16 == 0 && w->nb[1] % 16 == 0));
        return launch(cuk_gemv(cb->stream, (int)w->dtype, y->data, w->data, w->nb[1], x->data, K, N, (int)T, fast),
                      "gemv");
    }
    return cuda_matmul_cublas(cb, y, w, x, K, N, T);
}

static int vec_ok(const Tensor *v, int64_t C)
{
    return !v || (is_f32_contig(v) && tensor_nelements(v) == C);
}

static int cuda_rmsnorm(Backend *be, Tensor *y, const Tensor *x, const Tensor *w, float eps)
{
    int r;
    CudaBackend *cb = enter(be, &r);
    if (r < 0)
        return r;
    if (!is_f32_contig(x) || !is_f32_contig(y) || tensor_nelements(y) != tensor_nelements(x) ||
        y->ne[0] != x->ne[0] || !vec_ok(w, x->ne[0]))
        return -EINVAL;
    return launch(cuk_rmsnorm(cb->stream, y->data, x->data, w ? w->data : NULL, x->ne[0], rows_of(x), eps),
                  "rmsnorm");
}

static int cuda_layernorm(Backend *be, Tensor *y, const Tensor *x, const Tensor *w, const Tensor *b, float eps)
{
    int r;
    CudaBackend *cb = enter(be, &r);
    if (r < 0)
        return r;
    if (!is_f32_contig(x) || !is_f32_contig(y) || tensor_nelements(y) != tensor_nelements(x) ||
        y->ne[0] != x->ne[0] || !vec_ok(w, x->ne[0]) || !vec_ok(b, x->ne[0]))
        return -EINVAL;
    return launch(cuk_layernorm(cb->stream, y->data, x->data, w ? w->data : NULL, b ? b->data : NULL, x->ne[0],
                                rows_of(x), eps),
                  "layernorm");
}

static int cuda_rope(Backend *be, Tensor *x, const int32_t *pos, const RopeParams *p)
{
    int r;
    CudaBackend *cb = enter(be, &r);
    void *dpos = NULL, *dff = NULL;
    if (r < 0)
        return r;
    if (!x || !x->data || x->dtype != DTYPE_F32 || x->nb[0] != 4 || x->ne[3] != 1 || !pos || !p)
        return -EINVAL;
    const int64_t HD = x->ne[0], NH = x->ne[1], T = x->ne[2];
    if (p->n_rot <= 0 || p->n_rot % 2 || p->n_rot > HD || (p->mode != ROPE_NORMAL && p->mode != ROPE_NEOX))
        return -EINVAL;
    if (T == 0)
        return 0;
    const size_t pos_bytes = (size_t)T * 4, ff_off = (pos_bytes + 255) & ~(size_t)255;
    const size_t ff_bytes = p->freq_factors ? (size_t)(p->n_rot / 2) * 4 : 0;
    if ((r = cuda_scratch_reserve(cb, &cb->args, &cb->args_bytes, ff_off + ff_bytes)) < 0 ||
        (r = cuda_upload_args(cb, 0, pos, pos_bytes, &dpos)) < 0)
        return r;
    if (p->freq_factors && (r = cuda_upload_args(cb, ff_off, p->freq_factors, ff_bytes, &dff)) < 0)
        return r;
    return launch(cuk_rope(cb->stream, x->data, x->nb[1], x->nb[2], HD, NH, T, dpos, dff, (int)p->mode, p->n_rot,
                           p->freq_base, p->freq_scale),
                  "rope");
}

static int cuda_softmax(Backend *be, Tensor *x, float scale, const Tensor *mask)
{
    int r;
    CudaBackend *cb = enter(be, &r);
    if (r < 0)
        return r;
    if (!is_f32_contig(x))
        return -EINVAL;
    const int64_t N = x->ne[0], R = rows_of(x);
    int64_t mrows = 0;
    if (mask) {
        mrows = rows_of(mask);
        if (!is_f32_contig(mask) || mask->ne[0] != N || (mrows != R && mrows != 1))
            return -EINVAL;
    }
    return launch(cuk_softmax(cb->stream, x->data, mask ? mask->data : NULL, mrows, N, R, scale), "softmax");
}

static int kv_ok(const Tensor *t, int64_t HD, int64_t NKV, int64_t S)
{
    size_t es = t->dtype == DTYPE_F16 ? 2 : 4;
    return t->data && (t->dtype == DTYPE_F32 || t->dtype == DTYPE_F16) && t->nb[0] == es && t->ne[0] == HD &&
           t->ne[1] == NKV && t->ne[2] == S && t->ne[3] == 1;
}

static int cuda_attention(Backend *be, Tensor *out, const Tensor *q, const Tensor *k, const Tensor *v,
                          const AttnParams *p)
{
    int r;
    CudaBackend *cb = enter(be, &r);
    if (r < 0)
        return r;
    if (!q || !k || !v || !p || !q->data || q->dtype != DTYPE_F32 || q->nb[0] != 4 || q->ne[3] != 1 ||
        !is_f32_contig(out))
        return -EINVAL;
    CukAttn a = {
        .HD = q->ne[0], .NH = q->ne[1], .T = q->ne[2], .NKV = k->ne[1], .S = k->ne[2],
        .q = q->data, .q_nb1 = q->nb[1], .q_nb2 = q->nb[2],
        .k = k->data, .k_nb1 = k->nb[1], .k_nb2 = k->nb[2],
        .v = v->data, .v_nb1 = v->nb[1], .v_nb2 = v->nb[2],
        .kv_f16 = k->dtype == DTYPE_F16, .out = out->data, .scale = p->scale, .causal = p->causal,
        .n_past = p->n_past,
    };
    if (a.NKV < 1 || a.NH % a.NKV || k->dtype != v->dtype || !kv_ok(k, a.HD, a.NKV, a.S) ||
        !kv_ok(v, a.HD, a.NKV, a.S) || tensor_nelements(out) != a.HD * a.NH * a.T || out->ne[0] != a.HD ||
        p->n_past < 0)
        return -EINVAL;
    if (a.HD > CUK_ATTN_MAX_HD)
        return -ENOTSUP;
    if (p->mask) {
        const Tensor *m = p->mask;
        if (!m->data || m->dtype != DTYPE_F32 || m->nb[0] != 4 || m->ne[0] < a.S || rows_of(m) < a.T)
            return -EINVAL;
        a.mask = m->data;
        a.mask_nb1 = m->nb[1];
    }
    if (a.T == 0)
        return 0;
    const int splits = cuk_attention_splits(&a, cb->n_sm);
    const size_t need = cuk_attention_scratch_floats(&a, splits) * sizeof(float);
    if (need && (r = cuda_scratch_reserve(cb, (void **)&cb->attn, &cb->attn_bytes, need)) < 0)
        return r;
    return launch(cuk_attention(cb->stream, &a, splits, cb->attn), "attention");
}

static int unary(Backend *be, CukUnary op, Tensor *y, const Tensor *x, float s)
{
    int r;
    CudaBackend *cb = enter(be, &r);
    if (r < 0)
        return r;
    if (!is_f32_contig(x) || !is_f32_contig(y) || tensor_nelements(x) != tensor_nelements(y))
        return -EINVAL;
    return launch(cuk_unary(cb->stream, op, y->data, x->data, tensor_nelements(x), s), "unary op");
}

static int cuda_silu(Backend *be, Tensor *y, const Tensor *x) { return unary(be, CUK_SILU, y, x, 1.0f); }
static int cuda_gelu(Backend *be, Tensor *y, const Tensor *x) { return unary(be, CUK_GELU, y, x, 1.0f); }
static int cuda_gelu_tanh(Backend *be, Tensor *y, const Tensor *x) { return unary(be, CUK_GELU_TANH, y, x, 1.0f); }
static int cuda_scale(Backend *be, Tensor *y, const Tensor *x, float s) { return unary(be, CUK_SCALE, y, x, s); }

static int binary(Backend *be, CukBinary op, Tensor *y, const Tensor *a, const Tensor *b, int allow_bcast)
{
    int r;
    CudaBackend *cb = enter(be, &r);
    if (r < 0)
        return r;
    if (!is_f32_contig(a) || !is_f32_contig(b) || !is_f32_contig(y))
        return -EINVAL;
    const int64_t n = tensor_nelements(a), nb_ = tensor_nelements(b);
    if (tensor_nelements(y) != n || y->ne[0] != a->ne[0])
        return -EINVAL;
    if (nb_ != n && !(allow_bcast && nb_ == a->ne[0] && rows_of(b) == 1))
        return -EINVAL;
    return launch(cuk_binary(cb->stream, op, y->data, a->data, b->data, n, nb_), "binary op");
}

static int cuda_swiglu(Backend *be, Tensor *y, const Tensor *g, const Tensor *u) { return binary(be, CUK_SWIGLU, y, g, u, 0); }
static int cuda_add(Backend *be, Tensor *y, const Tensor *a, const Tensor *b) { return binary(be, CUK_ADD, y, a, b, 1); }
static int cuda_mul(Backend *be, Tensor *y, const Tensor *a, const Tensor *b) { return binary(be, CUK_MUL, y, a, b, 1); }

static int cuda_get_rows(Backend *be, Tensor *y, const Tensor *table, const int32_t *ids, int64_t n_ids)
{
    int r;
    CudaBackend *cb = enter(be, &r);
    void *dids = NULL;
    if (r < 0)
        return r;
    if (!table || !table->data || !is_f32_contig(y) || n_ids < 0 || (n_ids && !ids))
        return -EINVAL;
    if (!cuk_dtype_supported((int)table->dtype))
        return -ENOTSUP;
    const int64_t C = table->ne[0], V = table->ne[1];
    if (y->ne[0] != C || rows_of(y) != n_ids || table->ne[2] != 1 || table->ne[3] != 1)
        return -EINVAL;
    for (int64_t i = 0; i < n_ids; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return -EINVAL;
    if (n_ids == 0)
        return 0;
    if ((r = cuda_scratch_reserve(cb, &cb->args, &cb->args_bytes, (size_t)n_ids * 4)) < 0 ||
        (r = cuda_upload_args(cb, 0, ids, (size_t)n_ids * 4, &dids)) < 0)
        return r;
    return launch(cuk_get_rows(cb->stream, (int)table->dtype, y->data, table->data, table->nb[1], C, dids, n_ids),
                  "get_rows");
}

static int is_float_dt(DType d)
{
    return d == DTYPE_F32 || d == DTYPE_F16 || d == DTYPE_BF16;
}

static void view_of(CukView *v, const Tensor *t)
{
    v->dtype = (int)t->dtype;
    v->data = t->data;
    memcpy(v->ne, t->ne, sizeof(v->ne));
    memcpy(v->nb, t->nb, sizeof(v->nb));
}

static int cuda_copy(Backend *be, Tensor *dst, const Tensor *src)
{
    int r;
    CudaBackend *cb = enter(be, &r);
    CukView dv, sv;
    if (r < 0)
        return r;
    if (!dst || !src || !dst->data || !src->data || tensor_nelements(dst) != tensor_nelements(src))
        return -EINVAL;
    if (dst->dtype == src->dtype && tensor_is_contiguous(dst) && tensor_is_contiguous(src))
        return CU(cudaMemcpyAsync(dst->data, src->data, tensor_nbytes(src), cudaMemcpyDeviceToDevice, cb->stream));
    if (!is_float_dt(src->dtype) || !(is_float_dt(dst->dtype) || dst->dtype == DTYPE_Q8_0))
        return -ENOTSUP;
    if (dst->dtype == DTYPE_Q8_0 && dst->ne[0] % 32)
        return -EINVAL;
    view_of(&dv, dst);
    view_of(&sv, src);
    return launch(cuk_copy(cb->stream, &dv, &sv), "copy");
}

static int im2col_dst_ok(const Tensor *dst, int64_t rowlen, int64_t cols)
{
    return dst && dst->data && (dst->dtype == DTYPE_F32 || dst->dtype == DTYPE_F16) && tensor_is_contiguous(dst) &&
           dst->ne[0] == rowlen && rows_of(dst) == cols;
}

static int cuda_im2col_1d(Backend *be, Tensor *dst, const Tensor *src, int kw, int stride, int pad)
{
    int r;
    CudaBackend *cb = enter(be, &r);
    if (r < 0)
        return r;
    if (!is_f32_contig(src) || kw < 1 || stride < 1 || pad < 0 || src->ne[2] != 1 || src->ne[3] != 1)
        return -EINVAL;
    const int64_t L = src->ne[0], Cin = src->ne[1], span = L + 2 * (int64_t)pad - kw;
    if (span < 0)
        return -EINVAL;
    const int64_t Lout = span / stride + 1;
    if (!im2col_dst_ok(dst, Cin * kw, Lout))
        return -EINVAL;
    return launch(cuk_im2col(cb->stream, dst->data, dst->dtype == DTYPE_F16, src->data, L, 1, Cin, 1, kw, stride,
                             pad, 0, Lout, 1),
                  "im2col_1d");
}

static int cuda_im2col_2d(Backend *be, Tensor *dst, const Tensor *src, int kh, int kw, int stride, int pad)
{
    int r;
    CudaBackend *cb = enter(be, &r);
    if (r < 0)
        return r;
    if (!is_f32_contig(src) || kh < 1 || kw < 1 || stride < 1 || pad < 0 || src->ne[3] != 1)
        return -EINVAL;
    const int64_t W = src->ne[0], H = src->ne[1], Cin = src->ne[2];
    const int64_t sw = W + 2 * (int64_t)pad - kw, sh = H + 2 * (int64_t)pad - kh;
    if (sw < 0 || sh < 0)
        return -EINVAL;
    const int64_t Wout = sw / stride + 1, Hout = sh / stride + 1;
    if (!im2col_dst_ok(dst, Cin * kh * kw, Wout * Hout))
        return -EINVAL;
    return launch(cuk_im2col(cb->stream, dst->data, dst->dtype == DTYPE_F16, src->data, W, H, Cin, kh, kw, stride,
                             pad, pad, Wout, Hout),
                  "im2col_2d");
}

const BackendOps cuda_backend_ops = {
    .name = "cuda",
    .tensor_alloc = cuda_tensor_alloc,
    .tensor_free = cuda_tensor_free,
    .tensor_set = cuda_tensor_set,
    .tensor_get = cuda_tensor_get,
    .synchronize = cuda_synchronize,
    .matmul = cuda_matmul,
    .rmsnorm = cuda_rmsnorm,
    .layernorm = cuda_layernorm,
    .rope = cuda_rope,
    .softmax = cuda_softmax,
    .attention = cuda_attention,
    .silu = cuda_silu,
    .gelu = cuda_gelu,
    .gelu_tanh = cuda_gelu_tanh,
    .swiglu = cuda_swiglu,
    .add = cuda_add,
    .mul = cuda_mul,
    .scale = cuda_scale,
    .get_rows = cuda_get_rows,
    .copy = cuda_copy,
    .im2col_1d = cuda_im2col_1d,
    .im2col_2d = cuda_im2col_2d,
    .conv1d = cuda_conv1d,
    .conv_transpose1d = cuda_conv_transpose1d,
    .leaky_relu = cuda_leaky_relu,
    .tanh = cuda_tanh,
    .exp = cuda_exp,
    .gated_tanh = cuda_gated_tanh,
    .attention_rel = cuda_attention_rel,
    .destroy = cuda_destroy,
};
