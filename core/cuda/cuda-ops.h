/* cuda-ops.h — the one C header between the CUDA backend table (backend-cuda*.c) and the kernels (*.cu).
 *
 * Every launcher enqueues work on `s` and returns 0 or a cudaError_t value (launch/config errors only;
 * asynchronous faults surface at the next synchronize). Launchers never allocate, never log and never
 * synchronize. Shapes are in the tensor.h alphabet (ne[0] innermost); byte strides are explicit wherever a
 * caller may pass a view. Validation (dtypes, shapes, ranges) is the caller's job: kernels trust arguments.
 * Not here: memory management, cuBLAS calls, error reporting (backend-cuda.c).
 */
#ifndef MYNA_CUDA_OPS_H
#define MYNA_CUDA_OPS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 1 if the dtype (a DType value) has a device dequantizer (matmul, get_rows). */
int cuk_dtype_supported(int dtype);

/* y: [N, T] F32 = x: [K, T] F32 · wᵀ for T <= CUK_GEMV_MAX_T; w: N rows of K elements of `dtype`, row
 * stride w_stride bytes. `fast` = 1 when K % 8 == 0 and x is 16-byte aligned (vectorised unit path);
 * otherwise a per-element path (any K) is used. */
enum { CUK_GEMV_MAX_T = 8 };
int cuk_gemv(cudaStream_t s, int dtype, float *y, const void *w, size_t w_stride, const float *x,
             int64_t K, int64_t N, int T, int fast);

/* Dequantize rows [0, n_rows) of w (row stride w_stride bytes) into dst: [K, n_rows] F16 (half = 0) or
 * BF16 (half = 1), contiguous. K must be a multiple of 8 or of the dtype block. */
int cuk_dequant_rows(cudaStream_t s, int dtype, void *dst, int bf16, const void *w, size_t w_stride,
                     int64_t K, int64_t n_rows);

/* dst: n F16 (bf16 = 0) or BF16 (bf16 = 1) = src n F32, contiguous. */
int cuk_f32_to_half(cudaStream_t s, void *dst, int bf16, const float *src, int64_t n);

/* y: [C, T] F32 = rows ids[t] of table (row stride nb1 bytes, dtype); ids: device int32 [T]. */
int cuk_get_rows(cudaStream_t s, int dtype, float *y, const void *table, size_t nb1, int64_t C,
                 const int32_t *ids, int64_t T);

/* Row-wise norms over x: [C, R] contiguous; w, b may be NULL. y may alias x. */
int cuk_rmsnorm(cudaStream_t s, float *y, const float *x, const float *w, int64_t C, int64_t R, float eps);
int cuk_layernorm(cudaStream_t s, float *y, const float *x, const float *w, const float *b, int64_t C,
                  int64_t R, float eps);
/* In place over rows of x: [N, R]: softmax(x * scale + mask); mask: [N, R] or [N] (mask_rows = 1) or NULL. */
int cuk_softmax(cudaStream_t s, float *x, const float *mask, int64_t mask_rows, int64_t N, int64_t R,
                float scale);

/* RoPE in place on x: [HD, NH, T] with byte strides nb1 (head), nb2 (token); pos: device int32 [T];
 * ff: device float [n_rot/2] or NULL. mode 0 = adjacent pairs, 2 = NeoX half split. */
int cuk_rope(cudaStream_t s, float *x, size_t nb1, size_t nb2, int64_t HD, int64_t NH, int64_t T,
             const int32_t *pos, const float *ff, int mode, int n_rot, float freq_base, float freq_scale);

/* Attention. q: [HD, NH, T] F32 (strides q_nb1, q_nb2 bytes); k, v: [HD, NKV, S] F32 (kv_f16 = 0) or F16
 * (kv_f16 = 1) with byte strides k_nb1/k_nb2, v_nb1/v_nb2; out: [HD, NH, T] contiguous F32; mask: F32
 * [S, T] with row stride mask_nb1 bytes, or NULL. `partials` is device scratch of
 * cuk_attention_scratch_floats(...) floats. HD <= CUK_ATTN_MAX_HD. */
enum { CUK_ATTN_MAX_HD = 256 };
typedef struct {
    int64_t HD, NH, NKV, T, S;
    const float *q; size_t q_nb1, q_nb2;
    const void *k; size_t k_nb1, k_nb2;
    const void *v; size_t v_nb1, v_nb2;
    int kv_f16;
    float *out;
    const float *mask; size_t mask_nb1;
    float scale;
    int causal;
    int64_t n_past;
} CukAttn;
/* Number of key splits the launcher will use (flash-decoding) and the scratch it needs for them. */
int cuk_attention_splits(const CukAttn *a, int n_sm);
size_t cuk_attention_scratch_floats(const CukAttn *a, int n_splits);
int cuk_attention(cudaStream_t s, const CukAttn *a, int n_splits, float *partials);
/* The tiled prefill kernel alone (attention-prefill.cu; cuk_attention uses it for T > 1 without splits):
 * 0, a cudaError_t value, or -1 when it cannot take the shape (HD > 256) or the device lacks the shared
 * memory (nothing was launched; use the per-query kernel). */
int cuk_attention_tiled(cudaStream_t s, const CukAttn *a);

/* Elementwise over n F32 (y may alias). Binary ops broadcast b when nb_ < n (b has nb_ elements, n a
 * multiple of nb_). */
typedef enum { CUK_SILU, CUK_GELU, CUK_GELU_TANH, CUK_SCALE } CukUnary;
typedef enum { CUK_ADD, CUK_MUL, CUK_SWIGLU } CukBinary;
int cuk_unary(cudaStream_t s, CukUnary op, float *y, const float *x, int64_t n, float scale);
int cuk_binary(cudaStream_t s, CukBinary op, float *y, const float *a, const float *b, int64_t n, int64_t nb_);

/* Strided 4-D view description for copy/convert. */
typedef struct {
    int dtype;          /* DType value: F32, F16, BF16 (src and dst), Q8_0 (dst only) */
    void *data;
    int64_t ne[4];
    size_t nb[4];
} CukView;
/* dst = src element by element in logical (ne[0]-fastest) order; same element count. Q8_0 dst: ne[0] %
 * 32 == 0, one warp per block. */
int cuk_copy(cudaStream_t s, const CukView *dst, const CukView *src);

/* im2col. 2-D: src [W, H, Cin] → dst [Cin*KH*KW, Wout*Hout], dst row (ho*Wout + wo) holds entries
 * ((c*KH + kh)*KW + kw); 1-D is H = KH = Hout = 1, pad_h = 0. dst F32 (dst_f16 = 0) or F16 (dst_f16 = 1),
 * contiguous; out-of-range taps read 0. */
int cuk_im2col(cudaStream_t s, void *dst, int dst_f16, const float *src, int64_t W, int64_t H, int64_t Cin,
               int kh, int kw, int stride, int pad_w, int pad_h, int64_t Wout, int64_t Hout);

/* ---- speech conv ops (conv.cu; issue 13). [C, L] layout, contiguous F32. ---------------------------- */
/* col: [Cin·K, nt] = taps of output steps t0 … t0 + nt − 1 (zero outside [0, L)). */
int cuk_conv_unfold(cudaStream_t s, float *col, const float *x, int64_t Cin, int64_t L, int64_t K, int64_t t0,
                    int64_t nt, int stride, int pad, int dil, int leaky, float slope);
/* Direct grouped conv1d, w: [Cout, Cin/groups, K] (w[k][c][o]), b may be NULL. leaky: read leaky_relu(x).
 * accumulate: y += the result. */
int cuk_conv_grouped(cudaStream_t s, float *y, const float *x, const float *w, const float *b, int64_t Cin,
                     int64_t L, int64_t Cout, int64_t K, int64_t Lout, int stride, int pad, int dil, int groups,
                     int leaky, float slope, int accumulate);
/* y: [C, n] += b: [C] per row. */
int cuk_bias_rows(cudaStream_t s, float *y, const float *b, int64_t C, int64_t n);
/* Transposed-conv sum for output steps j0 … j0 + nj − 1 from z: [K·Cout, …] holding input steps from i0. */
int cuk_col2im(cudaStream_t s, float *y, const float *z, const float *b, int64_t Cout, int64_t K, int64_t L,
               int64_t i0, int64_t j0, int64_t nj, int stride, int pad);
typedef enum { CUK_LRELU, CUK_TANH, CUK_EXP } CukAct;
int cuk_act(cudaStream_t s, CukAct op, float *y, const float *x, int64_t n, float a);
/* y: [C, T] = tanh(x[0:C]) · sigmoid(x[C:2C]), x: [2C, T]. */
int cuk_gated_tanh(cudaStream_t s, float *y, const float *x, int64_t C, int64_t T);
/* Relative-position attention (backend.h attention_rel); T <= CUK_ATTN_REL_MAX_T. */
enum { CUK_ATTN_REL_MAX_T = 8192 };
int cuk_attention_rel(cudaStream_t s, float *out, const float *q, const float *k, const float *v, const float *ek,
                      const float *ev, int64_t HD, int64_t NH, int64_t T, int W, float scale);
/* ---- end speech conv ops --------------------------------------------------------------------------- */

#ifdef __cplusplus
}
#endif

#endif
