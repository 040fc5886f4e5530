/* backend.h — the compute backend interface: a small C table of ops (ARCHITECTURE.md §3).
 *
 * Model code calls backend_* ops on Tensors that live in the backend's memory (host memory for the CPU
 * backend, device memory for CUDA). Ops return 0 or a negative errno (-EINVAL for shape/dtype mismatch,
 * -ENOTSUP for an unsupported dtype, -EIO for a device failure). Ops never log and never allocate per call
 * on the hot path. The CPU backend is the oracle; every other backend has parity tests against it.
 * Shapes use the alphabet and ggml order of tensor.h (ne[0] innermost).
 * Unless stated, activations are F32 and contiguous, and y may not alias inputs.
 */
#ifndef MYNA_BACKEND_H
#define MYNA_BACKEND_H

#include <stdint.h>

#include "tensor.h"

typedef struct Backend Backend;

typedef enum {
    ROPE_NORMAL = 0, /* adjacent pairs (x[2i], x[2i+1]) — GGUF llama, Meta original */
    ROPE_NEOX = 2,   /* half split (x[i], x[i + n_rot/2]) — HF rotate_half */
} RopeMode;

typedef struct {
    RopeMode mode;
    int n_rot;                 /* rotated dims per head (<= HD); rest pass through */
    float freq_base;           /* theta */
    float freq_scale;          /* 1 / linear scaling factor */
    const float *freq_factors; /* host [n_rot/2] divisors (rope_freqs.weight, Llama 3.1) or NULL */
} RopeParams;

typedef struct {
    float scale;         /* usually 1/sqrt(HD) */
    int causal;          /* query t (absolute position n_past + t) sees keys [0, n_past + t] */
    int64_t n_past;      /* keys already in the cache before these queries */
    const Tensor *mask;  /* optional F32 [S, T] added to the scores (-INFINITY = masked); NULL = none */
} AttnParams;

/* conv1d parameters (issue 13 block below). leaky_in: the conv reads leaky_relu(x, slope) instead of x
 * (HiFi-GAN's activation fused into the conv's input pass). residual: y = residual + (conv + b), residual
 * F32 shaped like y, may be y or x itself (residual blocks without a separate add pass); y never aliases x. */
typedef struct {
    int stride, pad, dilation, groups;
    int leaky_in;
    float slope;
    const Tensor *residual;
} Conv1dParams;

typedef struct {
    const char *name;
    int host; /* tensors live in host memory: model code may read and write their data directly */
    /* Memory. alloc/free a tensor's data in backend memory; set/get copy bytes from/to host. */
    int (*tensor_alloc)(Backend *be, Tensor *t);
    void (*tensor_free)(Backend *be, Tensor *t);
    int (*tensor_set)(Backend *be, Tensor *t, const void *src, size_t offset, size_t n);
    int (*tensor_get)(Backend *be, const Tensor *t, void *dst, size_t offset, size_t n);
    int (*synchronize)(Backend *be);

    /* y: [N, T] F32 = x: [K, T] F32 · wᵀ, w: [K, N] any supported dtype (F32/F16/BF16/quantized). */
    int (*matmul)(Backend *be, Tensor *y, const Tensor *w, const Tensor *x);
    /* y: [C, T] = x / sqrt(mean(x²) + eps) * w (w: [C] F32 or NULL). y may alias x. */
    int (*rmsnorm)(Backend *be, Tensor *y, const Tensor *x, const Tensor *w, float eps);
    /* y: [C, T] = (x − mean) / sqrt(var + eps) * w + b (w, b: [C] F32 or NULL). y may alias x. */
    int (*layernorm)(Backend *be, Tensor *y, const Tensor *x, const Tensor *w, const Tensor *b, float eps);
    /* In place on x: [HD, NH, T]; pos: host int32 [T] absolute positions. */
    int (*rope)(Backend *be, Tensor *x, const int32_t *pos, const RopeParams *p);
    /* In place over rows of x: [N, R]: x = softmax(x * scale + mask), mask optional F32 [N, R]. */
    int (*softmax)(Backend *be, Tensor *x, float scale, const Tensor *mask);
    /* out: [HD, NH, T] = attention of q: [HD, NH, T] over k, v: [HD, NKV, S] (F32 or F16; S = keys to
     * use), GQA: query head h reads kv head h / (NH / NKV). */
    int (*attention)(Backend *be, Tensor *out, const Tensor *q, const Tensor *k, const Tensor *v,
                     const AttnParams *p);
    /* Elementwise, same shapes; y may alias an input. b of add/mul may also be one row [C] broadcast. */
    int (*silu)(Backend *be, Tensor *y, const Tensor *x);
    int (*gelu)(Backend *be, Tensor *y, const Tensor *x);         /* erf form (exact) */
    int (*gelu_tanh)(Backend *be, Tensor *y, const Tensor *x);    /* tanh approximation */
    int (*swiglu)(Backend *be, Tensor *y, const Tensor *gate, const Tensor *up); /* silu(gate) * up */
    int (*add)(Backend *be, Tensor *y, const Tensor *a, const Tensor *b);
    int (*mul)(Backend *be, Tensor *y, const Tensor *a, const Tensor *b);
    int (*scale)(Backend *be, Tensor *y, const Tensor *x, float s);
    /* y: [C, T] F32 = rows ids[t] of table: [C, V] (any supported dtype); ids host int32 [T]. */
    int (*get_rows)(Backend *be, Tensor *y, const Tensor *table, const int32_t *ids, int64_t n_ids);
    /* Convert/copy src into dst (same element count; F32↔F16↔BF16, F32→Q8_0). dst may be a strided view
     * (e.g. rows of a KV cache). */
    int (*copy)(Backend *be, Tensor *dst, const Tensor *src);
    /* Convolution as GEMM: unfold src into columns; the caller multiplies by the kernel with matmul.
     * 1-D: src [L, Cin] → dst [Cin*KW, Lout], Lout = (L + 2*pad − KW)/stride + 1.
     * 2-D: src [W, H, Cin] → dst [Cin*KH*KW, Wout*Hout] (row-major over (Hout, Wout)). */
    int (*im2col_1d)(Backend *be, Tensor *dst, const Tensor *src, int kw, int stride, int pad);
    int (*im2col_2d)(Backend *be, Tensor *dst, const Tensor *src, int kh, int kw, int stride, int pad);
    /* ---- ops model code reaches through wrappers (issue 11) --------------------------------------------- */
    /* Optional (NULL: backend_matmul_n falls back to one matmul per weight). y[i] = x · w[i]ᵀ for i < n
     * (n <= BACKEND_MATMUL_MULTI_MAX), all w[i] of one dtype and K: x is prepared once (e.g. quantized)
     * and the output rows of all weights are computed in one dispatch. */
    int (*matmul_multi)(Backend *be, int n, Tensor *const *y, const Tensor *const *w, const Tensor *x);
    /* ---- end ops model code reaches through wrappers --------------------------------------------------- */
    /* ---- ops for convolutional speech models (VITS / HiFi-GAN, speech/tts/vits*; issue 13) ---------- */
    /* Layout [C, L]: time outer, channels innermost (like [C, T]). Weights are repacked once at load with
     * the output channel innermost (the GEMM's layout; the formulas say how they map to PyTorch's).
     * y: [Cout, Lout] = conv1d(x: [Cin, L]) + b, w: [Cout, Cin/groups, K] F32 (PyTorch's [Cout, Cin/g, K]
     * axes reversed: w[k][c][o]), b: [Cout] F32 or NULL; zero padding p->pad on both ends;
     * Lout = (L + 2·pad − dilation·(K − 1) − 1) / stride + 1. */
    int (*conv1d)(Backend *be, Tensor *y, const Tensor *x, const Tensor *w, const Tensor *b,
                  const Conv1dParams *p);
    /* y: [Cout, Lout] = conv_transpose1d(x: [Cin, L]) + b, w: [Cout, K, Cin] F32 (PyTorch's [Cin, Cout, K]
     * with its last two axes swapped: w[c][k][o]), b: [Cout] or NULL;
     * Lout = (L − 1)·stride − 2·pad + K; y[j] = b + Σ over (i, k) with i·stride + k − pad = j of w_kᵀ x[i]. */
    int (*conv_transpose1d)(Backend *be, Tensor *y, const Tensor *x, const Tensor *w, const Tensor *b,
                            int stride, int pad);
    /* Elementwise, same shapes, y may alias x: leaky ReLU (slope 0 = ReLU), tanh, exp. */
    int (*leaky_relu)(Backend *be, Tensor *y, const Tensor *x, float slope);
    int (*tanh)(Backend *be, Tensor *y, const Tensor *x);
    int (*exp)(Backend *be, Tensor *y, const Tensor *x);
    /* WaveNet gate: y: [C, T] = tanh(x[0:C]) · sigmoid(x[C:2C]) per row of x: [2C, T]. */
    int (*gated_tanh)(Backend *be, Tensor *y, const Tensor *x);
    /* Self-attention with relative positions (VITS text encoder, window W): for query i and key j,
     * score = scale·q_i·(k_j + ek[j − i + W]) and out_i = Σ_j p_ij (v_j + ev[j − i + W]), where the
     * ek/ev terms are present only for |j − i| <= W. q, k, v, out: [HD, NH, T] contiguous; ek, ev:
     * [HD, 2W + 1] (shared by all heads). No mask: every key is attended. */
    int (*attention_rel)(Backend *be, Tensor *out, const Tensor *q, const Tensor *k, const Tensor *v,
                         const Tensor *ek, const Tensor *ev, int window, float scale);
    /* ---- end ops for convolutional speech models ---------------------------------------------------- */
    void (*destroy)(Backend *be);
} BackendOps;

struct Backend {
    const BackendOps *ops;
    void *impl;          /* owned by the backend */
    char desc[128];      /* "cpu: 2 threads, avx512 vnni" / "cuda:0 NVIDIA H100, 79.1/80 GiB free" */
};

/* CPU backend. n_threads <= 0: all online CPUs. */
int backend_cpu_new(int n_threads, Backend **ret);
/* CUDA backend (core/cuda/). -ENODEV with a message in err when there is no usable GPU or the build has
 * no CUDA. */
int backend_cuda_new(int device, Backend **ret, char *err, size_t err_len);
/* "cpu", "cuda", "cuda:N", "auto" (CUDA if usable, else CPU with an info line). */
int backend_new_by_name(const char *spec, int n_threads, Backend **ret, char *err, size_t err_len);
void backend_free(Backend *be); /* accepts NULL */

/* ---- helpers for model code (issue 11) ------------------------------------------------------------------ */
enum { BACKEND_MATMUL_MULTI_MAX = 4 };
/* y[i] = x · w[i]ᵀ for i < n (Q/K/V, gate/up): the backend's matmul_multi when it has one and the weights
 * share dtype and K, else one matmul each. */
int backend_matmul_n(Backend *be, int n, Tensor *const *y, const Tensor *const *w, const Tensor *x);
static inline int backend_is_host(const Backend *be) { return be->ops->host; }
/* The backend's short name ("cpu", "cuda") for messages. */
static inline const char *backend_name(const Backend *be) { return be->ops->name; }
/* An uninitialised backend tensor [ne0, ne1, ne2] (n_dims dims) owned by the caller. */
int backend_tensor_new(Backend *be, Tensor *t, DType dt, int n_dims, int64_t ne0, int64_t ne1, int64_t ne2);
/* Frees t's backend memory if it has any and clears t->data (safe to call twice). */
void backend_tensor_release(Backend *be, Tensor *t);
/* ---- end helpers for model code ------------------------------------------------------------------------- */

/* Thin wrappers so model code reads like the math. */
#define backend_matmul(be, y, w, x) ((be)->ops->matmul((be), (y), (w), (x)))
#define backend_rmsnorm(be, y, x, w, eps) ((be)->ops->rmsnorm((be), (y), (x), (w), (eps)))
#define backend_layernorm(be, y, x, w, b, eps) ((be)->ops->layernorm((be), (y), (x), (w), (b), (eps)))
#define backend_rope(be, x, pos, p) ((be)->ops->rope((be), (x), (pos), (p)))
#define backend_softmax(be, x, s, m) ((be)->ops->softmax((be), (x), (s), (m)))
#define backend_attention(be, o, q, k, v, p) ((be)->ops->attention((be), (o), (q), (k), (v), (p)))
#define backend_silu(be, y, x) ((be)->ops->silu((be), (y), (x)))
#define backend_gelu(be, y, x) ((be)->ops->gelu((be), (y), (x)))
#define backend_swiglu(be, y, g, u) ((be)->ops->swiglu((be), (y), (g), (u)))
#define backend_add(be, y, a, b) ((be)->ops->add((be), (y), (a), (b)))
#define backend_mul(be, y, a, b) ((be)->ops->mul((be), (y), (a), (b)))
#define backend_scale(be, y, x, s) ((be)->ops->scale((be), (y), (x), (s)))
#define backend_get_rows(be, y, t, ids, n) ((be)->ops->get_rows((be), (y), (t), (ids), (n)))
#define backend_copy(be, d, s) ((be)->ops->copy((be), (d), (s)))
#define backend_gelu_tanh(be, y, x) ((be)->ops->gelu_tanh((be), (y), (x)))
#define backend_im2col_1d(be, d, s, kw, st, p) ((be)->ops->im2col_1d((be), (d), (s), (kw), (st), (p)))
#define backend_im2col_2d(be, d, s, kh, kw, st, p) ((be)->ops->im2col_2d((be), (d), (s), (kh), (kw), (st), (p)))
#define backend_tensor_set(be, t, src, off, n) ((be)->ops->tensor_set((be), (t), (src), (off), (n)))
#define backend_tensor_get(be, t, dst, off, n) ((be)->ops->tensor_get((be), (t), (dst), (off), (n)))
#define backend_synchronize(be) ((be)->ops->synchronize(be))

#endif
