/* matmul.h — CPU matmul with any supported weight dtype, threaded over the pool.
 * y: [N, T] F32 = x: [K, T] F32 · wᵀ, w: [K, N] (N rows of K). One token (T = 1, decode): a GEMV over
 * weights streamed from memory, activations quantized once to quant_vec_dot_type(w). Many tokens
 * (prefill): a real GEMM (AMX tiles where usable, else AVX-512 VNNI / AVX2, tiles sized for cache).
 * The context owns grow-only scratch (quantized activations), so steady-state calls never allocate. */
#ifndef MYNA_CPU_MATMUL_H
#define MYNA_CPU_MATMUL_H

#include "backend.h"
#include "tensor.h"
#include "threadpool.h"

typedef struct CpuMatmul CpuMatmul;

int cpu_matmul_new(ThreadPool *tp /* borrowed */, CpuMatmul **ret);
void cpu_matmul_free(CpuMatmul *mm); /* accepts NULL */
int cpu_matmul(CpuMatmul *mm, Tensor *y, const Tensor *w, const Tensor *x);
/* y[i] = x · w[i]ᵀ for i < n (n ≤ 4; the same weight dtype and K, e.g. Q/K/V or gate/up): x is quantized
 * once and the rows of all the weights are split over the pool in one dispatch. */
int cpu_matmul_multi(CpuMatmul *mm, int n, Tensor *const *y, const Tensor *const *w, const Tensor *x);
/* The CPU backend's matmul_multi op: cpu_matmul_multi on its context (model code calls backend_matmul_n). */
int cpu_backend_matmul_multi(Backend *be, int n, Tensor *const *y, const Tensor *const *w, const Tensor *x);

#endif
