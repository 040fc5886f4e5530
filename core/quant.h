/* quant.h — per-dtype row kernels: dequantize, quantize, dot products (SPEC.md §1.5 block layouts).
 *
 * Row functions work on n elements (a multiple of the dtype's block). Dot products take F32 activations or
 * activations quantized to the dtype's partner type (quant_vec_dot_type: Q8_0 for the 32-blocks, Q8_K for
 * the K-quants, F32 for float types). The implementation is chosen at run time from CPUID (cpu-features.h);
 * quant_force_isa() pins a level so tests can compare scalar, AVX2 and AVX-512 paths.
 * Not here: threading and matmul tiling (core/cpu/matmul.c).
 */
#ifndef MYNA_QUANT_H
#define MYNA_QUANT_H

#include "tensor.h"

/* Dequantize one row: src holds n/block blocks of dt, dst n floats. */
void quant_dequant_row(DType dt, const void *src, float *dst, int64_t n);

/* Quantize one row of F32 into dt (weights for tools/tests: F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
 * Q4_K, Q5_K, Q6_K; activations: Q8_0, Q8_K). Returns -ENOTSUP for types it cannot produce. */
int quant_quantize_row(DType dt, const float *src, void *dst, int64_t n);

/* Type the activations are converted to for quant_dot (Q8_0, Q8_K or F32). */
DType quant_vec_dot_type(DType weight_dt);

/* dot(w_row, x) with x already in quant_vec_dot_type(dt) form (F32 for float types). */
float quant_dot(DType dt, const void *w_row, const void *x, int64_t n);

/* dot(w_row, x) against plain F32 activations (reference path; dequantize-and-multiply semantics). */
float quant_dot_f32(DType dt, const void *w_row, const float *x, int64_t n);

/* ISA levels, ordered. quant_force_isa(-1) returns to automatic selection. Returns -ENOTSUP if the CPU
 * lacks the requested level. quant_isa() reports the level in use. */
typedef enum { ISA_SCALAR = 0, ISA_AVX2 = 1, ISA_AVX512 = 2 } IsaLevel;
int quant_force_isa(int level);
IsaLevel quant_isa(void);

#endif
