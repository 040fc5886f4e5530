/* cpu/ops-vec.c — row helpers for the CPU ops: dot, axpy and half-precision row conversion.
 *
 * Two versions of each: portable C (several independent accumulators so the compiler vectorises the
 * reduction without -ffast-math) and AVX2+FMA+F16C intrinsics compiled with a target attribute and used when
 * cpu_features() reports all three. F16 conversion is IEEE round-to-nearest-even in both paths (VCVTPS2PH
 * with imm 0 and tensor.c's f32_to_fp16 agree), BF16 uses tensor.c (round-to-nearest-even, NaN kept).
 * Not here: quantized dtypes (core/quant.c).
 */
#include <stdatomic.h>

#include "cpu-features.h"
#include "ops.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

static atomic_int g_use_avx2 = -1;

void cpu_vec_init(void)
{
#if HAVE_X86
    const CpuFeatures *f = cpu_features();
    atomic_store(&g_use_avx2, f && f->avx2 && f->fma && f->f16c);
#else
    atomic_store(&g_use_avx2, 0);
#endif
}

void cpu_vec_force_scalar(int on)
{
    if (on)
        atomic_store(&g_use_avx2, 0);
    else
        cpu_vec_init();
}

static inline int use_avx2(void)
{
    int v = atomic_load_explicit(&g_use_avx2, memory_order_relaxed);
    if (v < 0) {
        cpu_vec_init();
        v = atomic_load_explicit(&g_use_avx2, memory_order_relaxed);
    }
    return v;
}

enum { LANES = 16 };

static float dot_f32_c(const float *a, const float *b, int64_t n)
{
    float acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++)
            acc[j] += a[i + j] * b[i + j];
    float s = 0;
    for (int j = 0; j < LANES; j++)
        s += acc[j];
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static float dot_f16_c(const uint16_t *a, const float *b, int64_t n)
{
    float s = 0;
    for (int64_t i = 0; i < n; i++)
        s += fp16_to_f32(a[i]) * b[i];
    return s;
}

#if HAVE_X86
__attribute__((target("avx2,fma,f16c"))) static float hsum256(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
    return _mm_cvtss_f32(lo);
}

__attribute__((target("avx2,fma,f16c"))) static float dot_f32_avx2(const float *a, const float *b, int64_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum256(_mm256_add_ps(s0, s1));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

__attribute__((target("avx2,fma,f16c"))) static float dot_f16_avx2(const uint16_t *a, const float *b, int64_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i)));
        __m256 a1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i + 8)));
        s0 = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(a1, _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i))),
                             _mm256_loadu_ps(b + i), s0);
    float s = hsum256(_mm256_add_ps(s0, s1));
    for (; i < n; i++)
        s += fp16_to_f32(a[i]) * b[i];
    return s;
}

__attribute__((target("avx2,fma,f16c"))) static void axpy_f32_avx2(float *y, float a, const float *x, int64_t n)
{
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += a * x[i];
}

__attribute__((target("avx2,fma,f16c"))) static void axpy_f16_avx2(float *y, float a, const uint16_t *x, int64_t n)
{
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 vx = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i)));
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, vx, _mm256_loadu_ps(y + i)));
    }
    for (; i < n; i++)
        y[i] += a * fp16_to_f32(x[i]);
}

__attribute__((target("avx2,fma,f16c"))) static void f16_to_f32_avx2(const uint16_t *src, float *dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++)
        dst[i] = fp16_to_f32(src[i]);
}

__attribute__((target("avx2,fma,f16c"))) static void f32_to_f16_avx2(const float *src, uint16_t *dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), 0));
    for (; i < n; i++)
        dst[i] = f32_to_fp16(src[i]);
}
#endif

float cpu_vec_dot_f32(const float *a, const float *b, int64_t n)
{
#if HAVE_X86
    if (use_avx2())
        return dot_f32_avx2(a, b, n);
#endif
    return dot_f32_c(a, b, n);
}

float cpu_vec_dot_f16(const uint16_t *a, const float *b, int64_t n)
{
#if HAVE_X86
    if (use_avx2())
        return dot_f16_avx2(a, b, n);
#endif
    return dot_f16_c(a, b, n);
}

void cpu_vec_axpy_f32(float *y, float a, const float *x, int64_t n)
{
#if HAVE_X86
    if (use_avx2()) {
        axpy_f32_avx2(y, a, x, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

void cpu_vec_axpy_f16(float *y, float a, const uint16_t *x, int64_t n)
{
#if HAVE_X86
    if (use_avx2()) {
        axpy_f16_avx2(y, a, x, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++)
        y[i] += a * fp16_to_f32(x[i]);
}

void cpu_vec_f16_to_f32(const uint16_t *src, float *dst, int64_t n)
{
#if HAVE_X86
    if (use_avx2()) {
        f16_to_f32_avx2(src, dst, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++)
        dst[i] = fp16_to_f32(src[i]);
}

void cpu_vec_f32_to_f16(const float *src, uint16_t *dst, int64_t n)
{
#if HAVE_X86
    if (use_avx2()) {
        f32_to_f16_avx2(src, dst, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++)
        dst[i] = f32_to_fp16(src[i]);
}

void cpu_vec_bf16_to_f32(const uint16_t *src, float *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = bf16_to_f32(src[i]);
}

void cpu_vec_f32_to_bf16(const float *src, uint16_t *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = f32_to_bf16(src[i]);
}
