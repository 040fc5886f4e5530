/* quant.c — scalar reference kernels for every supported dtype (dequantize, quantize, dot products) and
 * the run-time ISA dispatch. The scalar code is the oracle the AVX2 / AVX-512 files are tested against.
 * Not here: SIMD kernels (quant-avx2.c, quant-avx512.c), threading and tiling (cpu/matmul.c).
 * Numerics: block layouts and dequantization of SPEC.md §1.5 (ggml-common.h / gguf-py quants.py).
 * Quantizers are plain round-to-nearest with a max-based scale (not llama.cpp's error-minimising search),
 * but produce blocks that gguf.quants.dequantize decodes to the same values as quant_dequant_row.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "cpu-features.h"
#include "quant-internal.h"
#include "quant.h"

static inline float h2f(uint16_t h) { return fp16_to_f32(h); }
static inline uint16_t f2h(float f) { return f32_to_fp16(f); }

/* Round half away from zero, as gguf-py's np_roundf (so Q8 activations match its quantizer). */
static int nearest(float x) { return (int)roundf(x); }
static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* ---- dequantize ------------------------------------------------------------------------------------- */

static void dq_f32(const void *src, float *dst, int64_t n) { memcpy(dst, src, (size_t)n * 4); }

static void dq_f16(const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = h2f(s[i]);
}

static void dq_bf16(const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = bf16_to_f32(s[i]);
}

static void dq_q8_0(const void *src, float *dst, int64_t n)
{
    const BlockQ8_0 *b = src;
    for (int64_t i = 0; i < n / QK; i++, dst += QK) {
        float d = h2f(b[i].d);
        for (int j = 0; j < QK; j++)
            dst[j] = d * b[i].qs[j];
    }
}

static void dq_q4_0(const void *src, float *dst, int64_t n)
{
    const BlockQ4_0 *b = src;
    for (int64_t i = 0; i < n / QK; i++, dst += QK) {
        float d = h2f(b[i].d);
        for (int j = 0; j < QK / 2; j++) {
            dst[j] = d * ((b[i].qs[j] & 0xF) - 8);
            dst[j + 16] = d * ((b[i].qs[j] >> 4) - 8);
        }
    }
}

static void dq_q4_1(const void *src, float *dst, int64_t n)
{
    const BlockQ4_1 *b = src;
    for (int64_t i = 0; i < n / QK; i++, dst += QK) {
        float d = h2f(b[i].d), m = h2f(b[i].m);
        for (int j = 0; j < QK / 2; j++) {
            dst[j] = d * (b[i].qs[j] & 0xF) + m;
            dst[j + 16] = d * (b[i].qs[j] >> 4) + m;
        }
    }
}

static uint32_t load_u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static void dq_q5_0(const void *src, float *dst, int64_t n)
{
    const BlockQ5_0 *b = src;
    for (int64_t i = 0; i < n / QK; i++, dst += QK) {
        float d = h2f(b[i].d);
        uint32_t h = load_u32(b[i].qh);
        for (int j = 0; j < QK / 2; j++) {
            int lo = (b[i].qs[j] & 0xF) | (int)(((h >> j) & 1) << 4);
            int hi = (b[i].qs[j] >> 4) | (int)(((h >> (j + 16)) & 1) << 4);
            dst[j] = d * (lo - 16);
            dst[j + 16] = d * (hi - 16);
        }
    }
}

static void dq_q5_1(const void *src, float *dst, int64_t n)
{
    const BlockQ5_1 *b = src;
    for (int64_t i = 0; i < n / QK; i++, dst += QK) {
        float d = h2f(b[i].d), m = h2f(b[i].m);
        uint32_t h = load_u32(b[i].qh);
        for (int j = 0; j < QK / 2; j++) {
            int lo = (b[i].qs[j] & 0xF) | (int)(((h >> j) & 1) << 4);
            int hi = (b[i].qs[j] >> 4) | (int)(((h >> (j + 16)) & 1) << 4);
            dst[j] = d * lo + m;
            dst[j + 16] = d * hi + m;
        }
    }
}

static void dq_q4_k(const void *src, float *dst, int64_t n)
{
    const BlockQ4_K *b = src;
    for (int64_t i = 0; i < n / QKK; i++) {
        float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
        const uint8_t *q = b[i].qs;
        for (int c = 0; c < 4; c++, q += 32) {
            uint8_t sc0, m0, sc1, m1;
            quant_k_scale_min(2 * c, b[i].scales, &sc0, &m0);
            quant_k_scale_min(2 * c + 1, b[i].scales, &sc1, &m1);
            float d0 = d * sc0, o0 = dmin * m0, d1 = d * sc1, o1 = dmin * m1;
            for (int l = 0; l < 32; l++)
                *dst++ = d0 * (q[l] & 0xF) - o0;
            for (int l = 0; l < 32; l++)
                *dst++ = d1 * (q[l] >> 4) - o1;
        }
    }
}

static void dq_q5_k(const void *src, float *dst, int64_t n)
{
    const BlockQ5_K *b = src;
    for (int64_t i = 0; i < n / QKK; i++) {
        float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
        const uint8_t *q = b[i].qs, *qh = b[i].qh;
        for (int c = 0; c < 4; c++, q += 32) {
            uint8_t sc0, m0, sc1, m1;
            quant_k_scale_min(2 * c, b[i].scales, &sc0, &m0);
            quant_k_scale_min(2 * c + 1, b[i].scales, &sc1, &m1);
            float d0 = d * sc0, o0 = dmin * m0, d1 = d * sc1, o1 = dmin * m1;
            for (int l = 0; l < 32; l++)
                *dst++ = d0 * ((q[l] & 0xF) + (qh[l] & (1u << (2 * c)) ? 16 : 0)) - o0;
            for (int l = 0; l < 32; l++)
                *dst++ = d1 * ((q[l] >> 4) + (qh[l] & (1u << (2 * c + 1)) ? 16 : 0)) - o1;
        }
    }
}

/* Q6_K element order → (ql nibble, qh 2 bits): q[0..255] in -32..31. */
static void q6_k_unpack(const BlockQ6_K *b, int8_t *q)
{
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
        int8_t *o = q + 128 * h;
        for (int l = 0; l < 32; l++) {
            o[l] = (int8_t)(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
            o[l + 32] = (int8_t)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
            o[l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
            o[l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        }
    }
}

static void dq_q6_k(const void *src, float *dst, int64_t n)
{
    const BlockQ6_K *b = src;
    int8_t q[QKK];
    for (int64_t i = 0; i < n / QKK; i++, dst += QKK) {
        float d = h2f(b[i].d);
        q6_k_unpack(&b[i], q);
        for (int j = 0; j < QKK; j++)
            dst[j] = d * b[i].scales[j / 16] * q[j];
    }
}

static void dq_q8_k(const void *src, float *dst, int64_t n)
{
    const BlockQ8_K *b = src;
    for (int64_t i = 0; i < n / QKK; i++, dst += QKK)
        for (int j = 0; j < QKK; j++)
            dst[j] = b[i].d * b[i].qs[j];
}

/* ---- quantize --------------------------------------------------------------------------------------- */

static void qz_f16(const float *x, void *dst, int64_t n)
{
    uint16_t *o = dst;
    for (int64_t i = 0; i < n; i++)
        o[i] = f2h(x[i]);
}

static void qz_bf16(const float *x, void *dst, int64_t n)
{
    uint16_t *o = dst;
    for (int64_t i = 0; i < n; i++)
        o[i] = f32_to_bf16(x[i]);
}

static float amax_of(const float *x, int n)
{
    float a = 0;
    for (int i = 0; i < n; i++)
        a = fmaxf(a, fabsf(x[i]));
    return a;
}

/* The element with the largest magnitude, sign kept (ggml's symmetric types map it to -8 / -16). */
static float signed_max_of(const float *x, int n)
{
    float a = 0, m = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > a) {
            a = fabsf(x[i]);
            m = x[i];
        }
    return m;
}

static void qz_q8_0(const float *x, void *dst, int64_t n)
{
    BlockQ8_0 *b = dst;
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float d = amax_of(x, QK) / 127.0f, id = d ? 1.0f / d : 0.0f;
        b[i].d = f2h(d);
        for (int j = 0; j < QK; j++)
            b[i].qs[j] = (int8_t)clampi(nearest(x[j] * id), -127, 127);
    }
}

static void qz_q4_0(const float *x, void *dst, int64_t n)
{
    BlockQ4_0 *b = dst;
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float d = signed_max_of(x, QK) / -8.0f, id = d ? 1.0f / d : 0.0f;
        b[i].d = f2h(d);
        for (int j = 0; j < QK / 2; j++) {
            int lo = clampi(nearest(x[j] * id) + 8, 0, 15), hi = clampi(nearest(x[j + 16] * id) + 8, 0, 15);
            b[i].qs[j] = (uint8_t)(lo | hi << 4);
        }
    }
}

static void qz_q5_0(const float *x, void *dst, int64_t n)
{
    BlockQ5_0 *b = dst;
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float d = signed_max_of(x, QK) / -16.0f, id = d ? 1.0f / d : 0.0f;
        uint32_t h = 0;
        b[i].d = f2h(d);
        for (int j = 0; j < QK / 2; j++) {
            int lo = clampi(nearest(x[j] * id) + 16, 0, 31), hi = clampi(nearest(x[j + 16] * id) + 16, 0, 31);
            b[i].qs[j] = (uint8_t)((lo & 15) | (hi & 15) << 4);
            h |= (uint32_t)(lo >> 4) << j | (uint32_t)(hi >> 4) << (j + 16);
        }
        memcpy(b[i].qh, &h, 4);
    }
}

/* Asymmetric 32-blocks (Q4_1: 15 levels, Q5_1: 31): value = d·q + m with m = block minimum. */
static void qz_affine32(const float *x, int levels, uint16_t *d_out, uint16_t *m_out, int *q)
{
    float lo = x[0], hi = x[0];
    for (int j = 1; j < QK; j++) {
        lo = fminf(lo, x[j]);
        hi = fmaxf(hi, x[j]);
    }
    *d_out = f2h((hi - lo) / levels);
    *m_out = f2h(lo);
    float d = h2f(*d_out), m = h2f(*m_out), id = d ? 1.0f / d : 0.0f;
    for (int j = 0; j < QK; j++)
        q[j] = clampi(nearest((x[j] - m) * id), 0, levels);
}

static void qz_q4_1(const float *x, void *dst, int64_t n)
{
    BlockQ4_1 *b = dst;
    int q[QK];
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        qz_affine32(x, 15, &b[i].d, &b[i].m, q);
        for (int j = 0; j < QK / 2; j++)
            b[i].qs[j] = (uint8_t)(q[j] | q[j + 16] << 4);
    }
}

static void qz_q5_1(const float *x, void *dst, int64_t n)
{
    BlockQ5_1 *b = dst;
    int q[QK];
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        uint32_t h = 0;
        qz_affine32(x, 31, &b[i].d, &b[i].m, q);
        for (int j = 0; j < QK / 2; j++) {
            b[i].qs[j] = (uint8_t)((q[j] & 15) | (q[j + 16] & 15) << 4);
            h |= (uint32_t)(q[j] >> 4) << j | (uint32_t)(q[j + 16] >> 4) << (j + 16);
        }
        memcpy(b[i].qh, &h, 4);
    }
}

/* Q4_K / Q5_K: 8 sub-blocks of 32, each value = d·sc·q − dmin·m with 6-bit sc, m and q in 0..levels. */
static void qz_k_affine(const float *x, int levels, uint16_t *d_out, uint16_t *dmin_out, uint8_t *scales,
                        uint8_t *q)
{
    float scale[8], minv[8], max_scale = 0, max_min = 0;
    uint8_t sc[8], mn[8];

    for (int j = 0; j < 8; j++) {
        float lo = 0, hi = 0; /* min clipped at 0: the offset −dmin·m is never positive */
        for (int l = 0; l < 32; l++) {
            lo = fminf(lo, x[32 * j + l]);
            hi = fmaxf(hi, x[32 * j + l]);
        }
        scale[j] = (hi - lo) / levels;
        minv[j] = -lo;
        max_scale = fmaxf(max_scale, scale[j]);
        max_min = fmaxf(max_min, minv[j]);
    }
    *d_out = f2h(max_scale / 63.0f);
    *dmin_out = f2h(max_min / 63.0f);
    float d = h2f(*d_out), dmin = h2f(*dmin_out);
    for (int j = 0; j < 8; j++) {
        sc[j] = (uint8_t)(d ? clampi(nearest(scale[j] / d), 0, 63) : 0);
        mn[j] = (uint8_t)(dmin ? clampi(nearest(minv[j] / dmin), 0, 63) : 0);
    }
    for (int j = 0; j < 4; j++) {
        scales[j] = (uint8_t)(sc[j] | (sc[j + 4] >> 4) << 6);
        scales[j + 4] = (uint8_t)(mn[j] | (mn[j + 4] >> 4) << 6);
        scales[j + 8] = (uint8_t)((sc[j + 4] & 15) | (mn[j + 4] & 15) << 4);
    }
    for (int j = 0; j < 8; j++) {
        float dj = d * sc[j], oj = dmin * mn[j], id = dj ? 1.0f / dj : 0.0f;
        for (int l = 0; l < 32; l++)
            q[32 * j + l] = (uint8_t)clampi(nearest((x[32 * j + l] + oj) * id), 0, levels);
    }
}

static void qz_q4_k(const float *x, void *dst, int64_t n)
{
    BlockQ4_K *b = dst;
    uint8_t q[QKK];
    for (int64_t i = 0; i < n / QKK; i++, x += QKK) {
        qz_k_affine(x, 15, &b[i].d, &b[i].dmin, b[i].scales, q);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                b[i].qs[32 * c + l] = (uint8_t)(q[64 * c + l] | q[64 * c + 32 + l] << 4);
    }
}

static void qz_q5_k(const float *x, void *dst, int64_t n)
{
    BlockQ5_K *b = dst;
    uint8_t q[QKK];
    for (int64_t i = 0; i < n / QKK; i++, x += QKK) {
        qz_k_affine(x, 31, &b[i].d, &b[i].dmin, b[i].scales, q);
        memset(b[i].qh, 0, sizeof b[i].qh);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                int lo = q[64 * c + l], hi = q[64 * c + 32 + l];
                b[i].qs[32 * c + l] = (uint8_t)((lo & 15) | (hi & 15) << 4);
                b[i].qh[l] |= (uint8_t)((lo >> 4) << (2 * c) | (hi >> 4) << (2 * c + 1));
            }
    }
}

static void qz_q6_k(const float *x, void *dst, int64_t n)
{
    BlockQ6_K *b = dst;
    for (int64_t i = 0; i < n / QKK; i++, x += QKK) {
        float scale[16], max_scale = 0;
        int q[QKK];
        for (int g = 0; g < 16; g++) {
            scale[g] = signed_max_of(x + 16 * g, 16) / -32.0f; /* the extreme maps to −32 */
            if (fabsf(scale[g]) > fabsf(max_scale))
                max_scale = scale[g];
        }
        float d = max_scale / -128.0f, id = d ? 1.0f / d : 0.0f;
        b[i].d = f2h(d);
        d = h2f(b[i].d);
        for (int g = 0; g < 16; g++) {
            b[i].scales[g] = (int8_t)clampi(nearest(scale[g] * id), -128, 127);
            float dg = d * b[i].scales[g], idg = dg ? 1.0f / dg : 0.0f;
            for (int l = 0; l < 16; l++)
                q[16 * g + l] = clampi(nearest(x[16 * g + l] * idg), -32, 31) + 32;
        }
        for (int h = 0; h < 2; h++) {
            uint8_t *ql = b[i].ql + 64 * h, *qh = b[i].qh + 32 * h;
            const int *o = q + 128 * h;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((o[l] & 15) | (o[l + 64] & 15) << 4);
                ql[l + 32] = (uint8_t)((o[l + 32] & 15) | (o[l + 96] & 15) << 4);
                qh[l] = (uint8_t)((o[l] >> 4) | (o[l + 32] >> 4) << 2 | (o[l + 64] >> 4) << 4 |
                                  (o[l + 96] >> 4) << 6);
            }
        }
    }
}

static void qz_q8_k(const float *x, void *dst, int64_t n)
{
    BlockQ8_K *b = dst;
    for (int64_t i = 0; i < n / QKK; i++, x += QKK) {
        float amax = amax_of(x, QKK), id = amax ? 127.0f / amax : 0.0f;
        b[i].d = amax ? amax / 127.0f : 0.0f;
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int l = 0; l < 16; l++) {
                int v = clampi(nearest(x[16 * g + l] * id), -127, 127);
                b[i].qs[16 * g + l] = (int8_t)v;
                s += v;
            }
            b[i].bsums[g] = (int16_t)s;
        }
    }
}

/* ---- dot products against the partner type (scalar reference) --------------------------------------- */

static float dot_f32_f32(const void *w, const void *x, int64_t n)
{
    const float *a = w, *b = x;
    float s = 0;
    for (int64_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static float dot_f16_f32(const void *w, const void *x, int64_t n)
{
    const uint16_t *a = w;
    const float *b = x;
    float s = 0;
    for (int64_t i = 0; i < n; i++)
        s += h2f(a[i]) * b[i];
    return s;
}

static float dot_bf16_f32(const void *w, const void *x, int64_t n)
{
    const uint16_t *a = w;
    const float *b = x;
    float s = 0;
    for (int64_t i = 0; i < n; i++)
        s += bf16_to_f32(a[i]) * b[i];
    return s;
}

static float dot_q8_0(const void *w, const void *x, int64_t n)
{
    const BlockQ8_0 *a = w, *b = x;
    float s = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        int acc = 0;
        for (int j = 0; j < QK; j++)
            acc += a[i].qs[j] * b[i].qs[j];
        s += h2f(a[i].d) * h2f(b[i].d) * (float)acc;
    }
    return s;
}

static float dot_q4_0(const void *w, const void *x, int64_t n)
{
    const BlockQ4_0 *a = w;
    const BlockQ8_0 *b = x;
    float s = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        int acc = 0;
        for (int j = 0; j < QK / 2; j++)
            acc += ((a[i].qs[j] & 0xF) - 8) * b[i].qs[j] + ((a[i].qs[j] >> 4) - 8) * b[i].qs[j + 16];
        s += h2f(a[i].d) * h2f(b[i].d) * (float)acc;
    }
    return s;
}

static float dot_q4_1(const void *w, const void *x, int64_t n)
{
    const BlockQ4_1 *a = w;
    const BlockQ8_0 *b = x;
    float s = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        int acc = 0, sx = 0;
        for (int j = 0; j < QK / 2; j++) {
            acc += (a[i].qs[j] & 0xF) * b[i].qs[j] + (a[i].qs[j] >> 4) * b[i].qs[j + 16];
            sx += b[i].qs[j] + b[i].qs[j + 16];
        }
        float dx = h2f(b[i].d);
        s += h2f(a[i].d) * dx * (float)acc + h2f(a[i].m) * dx * (float)sx;
    }
    return s;
}

static float dot_q5_0(const void *w, const void *x, int64_t n)
{
    const BlockQ5_0 *a = w;
    const BlockQ8_0 *b = x;
    float s = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        uint32_t h = load_u32(a[i].qh);
        int acc = 0;
        for (int j = 0; j < QK / 2; j++) {
            int lo = (a[i].qs[j] & 0xF) | (int)(((h >> j) & 1) << 4);
            int hi = (a[i].qs[j] >> 4) | (int)(((h >> (j + 16)) & 1) << 4);
            acc += (lo - 16) * b[i].qs[j] + (hi - 16) * b[i].qs[j + 16];
        }
        s += h2f(a[i].d) * h2f(b[i].d) * (float)acc;
    }
    return s;
}

static float dot_q5_1(const void *w, const void *x, int64_t n)
{
    const BlockQ5_1 *a = w;
    const BlockQ8_0 *b = x;
    float s = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        uint32_t h = load_u32(a[i].qh);
        int acc = 0, sx = 0;
        for (int j = 0; j < QK / 2; j++) {
            int lo = (a[i].qs[j] & 0xF) | (int)(((h >> j) & 1) << 4);
            int hi = (a[i].qs[j] >> 4) | (int)(((h >> (j + 16)) & 1) << 4);
            acc += lo * b[i].qs[j] + hi * b[i].qs[j + 16];
            sx += b[i].qs[j] + b[i].qs[j + 16];
        }
        float dx = h2f(b[i].d);
        s += h2f(a[i].d) * dx * (float)acc + h2f(a[i].m) * dx * (float)sx;
    }
    return s;
}

static float dot_q4_k(const void *w, const void *x, int64_t n)
{
    const BlockQ4_K *a = w;
    const BlockQ8_K *b = x;
    float s = 0;
    for (int64_t i = 0; i < n / QKK; i++) {
        const uint8_t *q = a[i].qs;
        const int8_t *y = b[i].qs;
        int acc = 0, macc = 0;
        for (int c = 0; c < 4; c++, q += 32, y += 64) {
            uint8_t sc0, m0, sc1, m1;
            int s0 = 0, s1 = 0;
            quant_k_scale_min(2 * c, a[i].scales, &sc0, &m0);
            quant_k_scale_min(2 * c + 1, a[i].scales, &sc1, &m1);
            for (int l = 0; l < 32; l++) {
                s0 += (q[l] & 0xF) * y[l];
                s1 += (q[l] >> 4) * y[l + 32];
            }
            acc += sc0 * s0 + sc1 * s1;
            macc += m0 * (b[i].bsums[4 * c] + b[i].bsums[4 * c + 1]) +
                    m1 * (b[i].bsums[4 * c + 2] + b[i].bsums[4 * c + 3]);
        }
        s += b[i].d * (h2f(a[i].d) * (float)acc - h2f(a[i].dmin) * (float)macc);
    }
    return s;
}

static float dot_q5_k(const void *w, const void *x, int64_t n)
{
    const BlockQ5_K *a = w;
    const BlockQ8_K *b = x;
    float s = 0;
    for (int64_t i = 0; i < n / QKK; i++) {
        const uint8_t *q = a[i].qs, *qh = a[i].qh;
        const int8_t *y = b[i].qs;
        int acc = 0, macc = 0;
        for (int c = 0; c < 4; c++, q += 32, y += 64) {
            uint8_t sc0, m0, sc1, m1;
            int s0 = 0, s1 = 0;
            quant_k_scale_min(2 * c, a[i].scales, &sc0, &m0);
            quant_k_scale_min(2 * c + 1, a[i].scales, &sc1, &m1);
            for (int l = 0; l < 32; l++) {
                s0 += ((q[l] & 0xF) | ((qh[l] >> (2 * c)) & 1) << 4) * y[l];
                s1 += ((q[l] >> 4) | ((qh[l] >> (2 * c + 1)) & 1) << 4) * y[l + 32];
            }
            acc += sc0 * s0 + sc1 * s1;
            macc += m0 * (b[i].bsums[4 * c] + b[i].bsums[4 * c + 1]) +
                    m1 * (b[i].bsums[4 * c + 2] + b[i].bsums[4 * c + 3]);
        }
        s += b[i].d * (h2f(a[i].d) * (float)acc - h2f(a[i].dmin) * (float)macc);
    }
    return s;
}

static float dot_q6_k(const void *w, const void *x, int64_t n)
{
    const BlockQ6_K *a = w;
    const BlockQ8_K *b = x;
    int8_t q[QKK];
    float s = 0;
    for (int64_t i = 0; i < n / QKK; i++) {
        int acc = 0;
        q6_k_unpack(&a[i], q);
        for (int g = 0; g < 16; g++) {
            int sg = 0;
            for (int l = 0; l < 16; l++)
                sg += q[16 * g + l] * b[i].qs[16 * g + l];
            acc += a[i].scales[g] * sg;
        }
        s += h2f(a[i].d) * b[i].d * (float)acc;
    }
    return s;
}

/* ---- tables and dispatch ------------------------------------------------------------------------------ */

static QuantKernels g_tables[3];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static atomic_int g_level = -1; /* resolved level in use */
static int g_best;              /* best level the CPU supports */

static void fill_scalar(QuantKernels *k)
{
    memset(k, 0, sizeof *k);
    k->dequant[DTYPE_F32] = dq_f32;
    k->dequant[DTYPE_F16] = dq_f16;
    k->dequant[DTYPE_BF16] = dq_bf16;
    k->dequant[DTYPE_Q8_0] = dq_q8_0;
    k->dequant[DTYPE_Q4_0] = dq_q4_0;
    k->dequant[DTYPE_Q4_1] = dq_q4_1;
    k->dequant[DTYPE_Q5_0] = dq_q5_0;
    k->dequant[DTYPE_Q5_1] = dq_q5_1;
    k->dequant[DTYPE_Q4_K] = dq_q4_k;
    k->dequant[DTYPE_Q5_K] = dq_q5_k;
    k->dequant[DTYPE_Q6_K] = dq_q6_k;
    k->dequant[DTYPE_Q8_K] = dq_q8_k;
    k->dot[DTYPE_F32] = dot_f32_f32;
    k->dot[DTYPE_F16] = dot_f16_f32;
    k->dot[DTYPE_BF16] = dot_bf16_f32;
    k->dot[DTYPE_Q8_0] = dot_q8_0;
    k->dot[DTYPE_Q4_0] = dot_q4_0;
    k->dot[DTYPE_Q4_1] = dot_q4_1;
    k->dot[DTYPE_Q5_0] = dot_q5_0;
    k->dot[DTYPE_Q5_1] = dot_q5_1;
    k->dot[DTYPE_Q4_K] = dot_q4_k;
    k->dot[DTYPE_Q5_K] = dot_q5_k;
    k->dot[DTYPE_Q6_K] = dot_q6_k;
    k->quantize_act[DTYPE_Q8_0] = qz_q8_0;
    k->quantize_act[DTYPE_Q8_K] = qz_q8_k;
}

static void init_tables(void)
{
    const CpuFeatures *f = cpu_features();

    fill_scalar(&g_tables[ISA_SCALAR]);
    g_best = ISA_SCALAR;
    g_tables[ISA_AVX2] = g_tables[ISA_SCALAR];
    if (f->avx2 && f->fma && f->f16c) {
        quant_kernels_avx2(&g_tables[ISA_AVX2]);
        g_best = ISA_AVX2;
    }
    g_tables[ISA_AVX512] = g_tables[ISA_AVX2];
    if (g_best == ISA_AVX2 && f->avx512f && f->avx512bw && f->avx512vl && f->avx512vnni) {
        quant_kernels_avx512(&g_tables[ISA_AVX512]);
        quant_kernels_avx512_gemm(&g_tables[ISA_AVX512]);
        g_best = ISA_AVX512;
    }
    atomic_store(&g_level, g_best);
}

const QuantKernels *quant_kernels(void)
{
    pthread_once(&g_once, init_tables);
    return &g_tables[atomic_load_explicit(&g_level, memory_order_relaxed)];
}

int quant_force_isa(int level)
{
    pthread_once(&g_once, init_tables);
    if (level < 0) {
        atomic_store(&g_level, g_best);
        return 0;
    }
    if (level > g_best)
        return -ENOTSUP;
    atomic_store(&g_level, level);
    return 0;
}

IsaLevel quant_isa(void)
{
    pthread_once(&g_once, init_tables);
    return (IsaLevel)atomic_load(&g_level);
}

/* ---- public row API --------------------------------------------------------------------------------- */

static int valid_dt(DType dt) { return (int)dt >= 0 && (int)dt < DTYPE_COUNT; }

void quant_dequant_row(DType dt, const void *src, float *dst, int64_t n)
{
    const QuantKernels *k = quant_kernels();
    if (valid_dt(dt) && k->dequant[dt]) {
        k->dequant[dt](src, dst, n);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        dst[i] = NAN; /* unsupported dtype: make misuse visible */
}

int quant_quantize_row(DType dt, const float *src, void *dst, int64_t n)
{
    static const struct { DType dt; QuantQuantizeFn fn; } tab[] = {
        {DTYPE_F32, NULL}, {DTYPE_F16, qz_f16}, {DTYPE_BF16, qz_bf16}, {DTYPE_Q8_0, qz_q8_0},
        {DTYPE_Q4_0, qz_q4_0}, {DTYPE_Q4_1, qz_q4_1}, {DTYPE_Q5_0, qz_q5_0}, {DTYPE_Q5_1, qz_q5_1},
        {DTYPE_Q4_K, qz_q4_k}, {DTYPE_Q5_K, qz_q5_k}, {DTYPE_Q6_K, qz_q6_k}, {DTYPE_Q8_K, qz_q8_k},
    };
    const DTypeInfo *info = dtype_info(dt);

    if (!info || n < 0 || n % info->block)
        return -EINVAL;
    if (dt == DTYPE_F32) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return 0;
    }
    if (dt == DTYPE_Q8_0 || dt == DTYPE_Q8_K) { /* activation path: may be SIMD */
        quant_kernels()->quantize_act[dt](src, dst, n);
        return 0;
    }
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (tab[i].dt == dt) {
            tab[i].fn(src, dst, n);
            return 0;
        }
    return -ENOTSUP;
}

DType quant_vec_dot_type(DType weight_dt)
{
    switch (weight_dt) {
    case DTYPE_Q8_0: case DTYPE_Q4_0: case DTYPE_Q4_1: case DTYPE_Q5_0: case DTYPE_Q5_1:
        return DTYPE_Q8_0;
    case DTYPE_Q4_K: case DTYPE_Q5_K: case DTYPE_Q6_K:
        return DTYPE_Q8_K;
    default:
        return DTYPE_F32;
    }
}

float quant_dot(DType dt, const void *w_row, const void *x, int64_t n)
{
    const QuantKernels *k = quant_kernels();
    if (valid_dt(dt) && k->dot[dt])
        return k->dot[dt](w_row, x, n);
    return NAN;
}

float quant_dot_f32(DType dt, const void *w_row, const float *x, int64_t n)
{
    const QuantKernels *k = quant_kernels();
    const DTypeInfo *info = dtype_info(dt);
    float buf[QKK];
    double s = 0;
    size_t bytes;

    if (dt == DTYPE_F32 || dt == DTYPE_F16 || dt == DTYPE_BF16)
        return k->dot[dt](w_row, x, n);
    if (!info || !valid_dt(dt) || !k->dequant[dt] || info->block > QKK || n % info->block)
        return NAN;
    bytes = (size_t)info->type_size;
    for (int64_t i = 0; i < n; i += info->block) {
        float part = 0;
        k->dequant[dt]((const char *)w_row + (size_t)(i / info->block) * bytes, buf, info->block);
        for (int j = 0; j < info->block; j++)
            part += buf[j] * x[i + j];
        s += part;
    }
    return (float)s;
}
