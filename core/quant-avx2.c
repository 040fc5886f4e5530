/* quant-avx2.c — AVX2 + FMA + F16C dot products (compiled with -mavx2 -mfma -mf16c; called only when
 * cpu-features.c detected them). The int8 products use vpmaddubsw (u8·s8 → i16 pairs, no saturation for
 * our code ranges: |q| ≤ 128 against |y| ≤ 127) then vpmaddwd. Kernels live in quant-simd.h.
 * Not here: quantizers and dequantizers (scalar in quant.c), AVX-512 (quant-avx512.c).
 */
#include <immintrin.h>

#include "quant-internal.h"

static inline __m256i avx2_mul_sum(__m256i u, __m256i s)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

static inline __m256i avx2_mul_sum_sc(__m256i u, __m256i s, int a, int b)
{
    __m256i sc = _mm256_set_m128i(_mm_set1_epi16((short)b), _mm_set1_epi16((short)a));
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), sc);
}

#define MUL_SUM(u, s) avx2_mul_sum((u), (s))
#define MUL_SUM_SC(u, s, a, b) avx2_mul_sum_sc((u), (s), (a), (b))
#include "quant-simd.h"

void quant_kernels_avx2(QuantKernels *k)
{
    simd_fill256(k);
}
