/* cpu/ops.h — private to the CPU backend: its state, the op functions that fill its BackendOps table
 * (core/backend.h documents each op), and the small vector helpers they share.
 * Not a public interface: model code calls backend_* through the table. */
#ifndef MYNA_CPU_OPS_H
#define MYNA_CPU_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "matmul.h"
#include "threadpool.h"

typedef struct {
    ThreadPool *tp;       /* owned */
    CpuMatmul *mm;        /* owned */
    int n_threads;
    float *attn_scratch;  /* owned, n_threads × attn_scratch_len floats; grow-only */
    size_t attn_scratch_len;
    int64_t parallel_min_cost; /* ops cheaper than this run on the calling thread only (tests set 0) */
    float *conv_scratch;  /* owned, ops-conv.c: unfolded columns / scores; grow-only */
    size_t conv_scratch_len;
} CpuBackend;

static inline CpuBackend *cpu_backend(Backend *be)
{
    return (CpuBackend *)be->impl;
}

/* Split n items over nth threads: this thread's range [*i0, *i1). */
static inline void cpu_split(int64_t n, int ith, int nth, int64_t *i0, int64_t *i1)
{
    *i0 = n * ith / nth;
    *i1 = n * (ith + 1) / nth;
}

/* Run fn over the pool when the work is worth waking the workers (cost in elements), else inline. */
void cpu_parallel(CpuBackend *cb, int64_t cost, ThreadTask fn, void *ctx);

/* ops.c — norms, rope, softmax, elementwise, get_rows, copy, im2col. */
int cpu_op_rmsnorm(Backend *be, Tensor *y, const Tensor *x, const Tensor *w, float eps);
int cpu_op_layernorm(Backend *be, Tensor *y, const Tensor *x, const Tensor *w, const Tensor *b, float eps);
int cpu_op_rope(Backend *be, Tensor *x, const int32_t *pos, const RopeParams *p);
int cpu_op_softmax(Backend *be, Tensor *x, float scale, const Tensor *mask);
int cpu_op_silu(Backend *be, Tensor *y, const Tensor *x);
int cpu_op_gelu(Backend *be, Tensor *y, const Tensor *x);
int cpu_op_gelu_tanh(Backend *be, Tensor *y, const Tensor *x);
int cpu_op_swiglu(Backend *be, Tensor *y, const Tensor *gate, const Tensor *up);
int cpu_op_add(Backend *be, Tensor *y, const Tensor *a, const Tensor *b);
int cpu_op_mul(Backend *be, Tensor *y, const Tensor *a, const Tensor *b);
int cpu_op_scale(Backend *be, Tensor *y, const Tensor *x, float s);
int cpu_op_get_rows(Backend *be, Tensor *y, const Tensor *table, const int32_t *ids, int64_t n_ids);
int cpu_op_copy(Backend *be, Tensor *dst, const Tensor *src);
int cpu_op_im2col_1d(Backend *be, Tensor *dst, const Tensor *src, int kw, int stride, int pad);
int cpu_op_im2col_2d(Backend *be, Tensor *dst, const Tensor *src, int kh, int kw, int stride, int pad);

/* ops-attn.c — attention. */
int cpu_op_attention(Backend *be, Tensor *out, const Tensor *q, const Tensor *k, const Tensor *v,
                     const AttnParams *p);

/* ops-conv.c — ops for convolutional speech models (conv1d, transposed conv1d, activations, WaveNet gate,
 * relative-position attention). */
int cpu_op_conv1d(Backend *be, Tensor *y, const Tensor *x, const Tensor *w, const Tensor *b,
                  const Conv1dParams *p);
int cpu_op_conv_transpose1d(Backend *be, Tensor *y, const Tensor *x, const Tensor *w, const Tensor *b, int stride,
                            int pad);
int cpu_op_leaky_relu(Backend *be, Tensor *y, const Tensor *x, float slope);
int cpu_op_tanh(Backend *be, Tensor *y, const Tensor *x);
int cpu_op_exp(Backend *be, Tensor *y, const Tensor *x);
int cpu_op_gated_tanh(Backend *be, Tensor *y, const Tensor *x);
int cpu_op_attention_rel(Backend *be, Tensor *out, const Tensor *q, const Tensor *k, const Tensor *v,
                         const Tensor *ek, const Tensor *ev, int window, float scale);

/* ops-vec.c — row helpers, AVX2/F16C when cpu_features() has them (chosen once in cpu_vec_init). */
void cpu_vec_init(void);
void cpu_vec_force_scalar(int on); /* tests: 1 = portable C path, 0 = back to cpu_features() */
float cpu_vec_dot_f32(const float *a, const float *b, int64_t n);
float cpu_vec_dot_f16(const uint16_t *a, const float *b, int64_t n);
void cpu_vec_axpy_f32(float *y, float a, const float *x, int64_t n); /* y += a·x */
void cpu_vec_axpy_f16(float *y, float a, const uint16_t *x, int64_t n);
void cpu_vec_f16_to_f32(const uint16_t *src, float *dst, int64_t n);
void cpu_vec_f32_to_f16(const float *src, uint16_t *dst, int64_t n);
void cpu_vec_bf16_to_f32(const uint16_t *src, float *dst, int64_t n);
void cpu_vec_f32_to_bf16(const float *src, uint16_t *dst, int64_t n);

#endif
