/* quant-internal.h — block structs and the per-ISA kernel table shared by quant.c, quant-avx2.c,
 * quant-avx512.c and cpu/matmul.c. Not a public API: model code uses quant.h and matmul.h.
 * Block layouts follow SPEC.md §1.5 (ggml's ggml-common.h); structs have no padding (static_asserts).
 */
#ifndef MYNA_QUANT_INTERNAL_H
#define MYNA_QUANT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tensor.h"

enum { QK = 32, QKK = 256 };

typedef struct { uint16_t d; int8_t qs[QK]; } BlockQ8_0;                          /* 34 B */
typedef struct { uint16_t d; uint8_t qs[QK / 2]; } BlockQ4_0;                     /* 18 B */
typedef struct { uint16_t d, m; uint8_t qs[QK / 2]; } BlockQ4_1;                  /* 20 B */
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[QK / 2]; } BlockQ5_0;      /* 22 B */
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[QK / 2]; } BlockQ5_1;   /* 24 B */
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[QKK / 2]; } BlockQ4_K; /* 144 B */
typedef struct {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[QKK / 8];
    uint8_t qs[QKK / 2];
} BlockQ5_K; /* 176 B */
typedef struct {
    uint8_t ql[QKK / 2];
    uint8_t qh[QKK / 4];
    int8_t scales[QKK / 16];
    uint16_t d;
} BlockQ6_K; /* 210 B */
typedef struct { float d; int8_t qs[QKK]; int16_t bsums[QKK / 16]; } BlockQ8_K; /* 292 B */

_Static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block");
_Static_assert(sizeof(BlockQ4_0) == 18, "Q4_0 block");
_Static_assert(sizeof(BlockQ4_1) == 20, "Q4_1 block");
_Static_assert(sizeof(BlockQ5_0) == 22, "Q5_0 block");
_Static_assert(sizeof(BlockQ5_1) == 24, "Q5_1 block");
_Static_assert(sizeof(BlockQ4_K) == 144, "Q4_K block");
_Static_assert(sizeof(BlockQ5_K) == 176, "Q5_K block");
_Static_assert(sizeof(BlockQ6_K) == 210, "Q6_K block");
_Static_assert(sizeof(BlockQ8_K) == 292, "Q8_K block");

/* dot(w_row, x) over n elements, x in the partner type. */
typedef float (*QuantDotFn)(const void *w, const void *x, int64_t n);
/* Tile of dot products: y[t*ys + r] = dot(w + r*wstride, x + t*xstride) for r < nr, t < nt
 * (w: nr rows of the weight type, x: nt rows in the partner type, both n elements). */
typedef void (*QuantTileFn)(const void *w, size_t wstride, const void *x, size_t xstride,
                            float *y, size_t ys, int nr, int nt, int64_t n);
typedef void (*QuantDequantFn)(const void *src, float *dst, int64_t n);
typedef void (*QuantQuantizeFn)(const float *src, void *dst, int64_t n);

/* Packed Q8 activations ("Q8P") for the 32-block tile_p kernels, one row per token: the Q8_0 codes of the
 * n elements contiguous (zero-padded to a multiple of 64 bytes), then per pair of 32-blocks (i, i+1) four
 * floats {d_i, d_i+1, d_i·Σq_i, d_i+1·Σq_i+1} (d: the F16-rounded Q8_0 scale; a missing odd block is 0),
 * then the 16-element sums (quant_q8p_s16_offset).
 * The same numbers as a Q8_0 row (codes and scales bit-identical), laid out so that one 64-byte load
 * feeds a 512-bit vpdpbusd and the block sums Σq (for offsets / Q4_1 mins) are computed once per matmul,
 * not once per weight row. Internal to matmul.c and the AVX-512 kernels. */
static inline size_t quant_q8p_codes_bytes(int64_t n) { return ((size_t)n + 63) / 64 * 64; }
/* After the pair floats: n/16 floats d·Σq over each 16 elements (for weights with 16-element sub-blocks,
 * Q6_K, in the gemm_p kernels). */
static inline size_t quant_q8p_s16_offset(int64_t n) { return quant_q8p_codes_bytes(n) + ((size_t)n / QK + 1) / 2 * 16; }
static inline size_t quant_q8p_row_bytes(int64_t n)
{
    return (quant_q8p_s16_offset(n) + (size_t)n / 16 * 4 + 63) / 64 * 64;
}

typedef struct {
    QuantDotFn dot[DTYPE_COUNT];           /* against quant_vec_dot_type() */
    QuantTileFn tile_p[DTYPE_COUNT];       /* against Q8P rows (quantize_p); NULL: not available */
    QuantQuantizeFn quantize_p;            /* F32 → one Q8P row (n a multiple of 32) */
    QuantTileFn tile[DTYPE_COUNT];         /* NULL: matmul falls back to dot[] */
    QuantTileFn gemm_p[DTYPE_COUNT];       /* against Q8P rows, for many tokens and any nr (repacks row
                                            * panels itself); NULL: tile_p */
    QuantDequantFn dequant[DTYPE_COUNT];
    QuantQuantizeFn quantize_act[DTYPE_COUNT]; /* activation quantizers: F32 → Q8_0 / Q8_K */
} QuantKernels;

/* Filled by the ISA files; each overrides only the entries it accelerates. Call only when detected. */
void quant_kernels_avx2(QuantKernels *k);
void quant_kernels_avx512(QuantKernels *k);
void quant_kernels_avx512_gemm(QuantKernels *k);
void quant_kernels_avx512_k(QuantKernels *k); /* K-quant GEMM tiles (quant-avx512-k.c) */

/* The table for the level in use (quant_force_isa / CPUID). */
const QuantKernels *quant_kernels(void);

/* Unpack the 6-bit (scale, min) pair of sub-block j (0..7) of a Q4_K/Q5_K block. */
static inline void quant_k_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

#endif
