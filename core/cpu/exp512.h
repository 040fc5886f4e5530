/* cpu/exp512.h — e^x for 16 floats with AVX-512, shared by the CPU ops (softmax-like loops in ops.c and
 * attention in ops-attn.c). Include only where the translation unit has checked for x86-64; the function
 * carries its own target attribute, so callers compiled for the baseline ISA may call it from an AVX-512
 * target function after a run-time check.
 * Numerics: x = n·ln2 + r with |r| ≤ ln2/2 (ln2 split in two for exactness), e^r by a degree-6
 * polynomial, scaled by 2^n with vscalefps; ≤ 2 ulp; underflows to 0 below about −103 like expf. */
#ifndef MYNA_CPU_EXP512_H
#define MYNA_CPU_EXP512_H

#include <immintrin.h>

__attribute__((target("avx512f,avx512bw,avx512vl,fma"))) static inline __m512 exp512(__m512 x)
{
    x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));
    x = _mm512_min_ps(x, _mm512_set1_ps(88.7f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.3981999507e-3f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

#endif
