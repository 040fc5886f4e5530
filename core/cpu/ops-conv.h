/* cpu/ops-conv.h — private to ops-conv*.c: the conv GEMM job (ops-conv-gemm.c computes it, ops-conv.c
 * prepares its padded input and repacked weights). */
#ifndef MYNA_CPU_OPS_CONV_H
#define MYNA_CPU_OPS_CONV_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const float *xp;  /* zero-padded input: row t·stride + k·dil of cin floats */
    const float *wt;  /* [k][cin][n]: output channel innermost */
    const float *b;   /* [n] or NULL */
    const float *res; /* like y (may be y), added last, or NULL */
    float *y;         /* row (t − t_base) at y + (t − t_base)·ystride */
    int64_t cin, k, n, t_base;
    size_t ystride;
    int stride, dil;
} ConvGemm;

/* y rows t0 … t1 − 1 (see ops-conv-gemm.c for the summation order). */
void conv_gemm_rows(const ConvGemm *g, int64_t t0, int64_t t1);
int conv_gemm_fast(void); /* 1 when the AVX-512 kernel runs */
/* dst = max(src, 0) + slope·min(src, 0) (leaky ReLU) over n floats. */
void conv_leaky_copy(float *dst, const float *src, int64_t n, float slope);
/* Σ a[i]·b[i] (AVX-512: 64 lanes, fixed reduction order). */
float conv_dot(const float *a, const float *b, int64_t n);

#endif
