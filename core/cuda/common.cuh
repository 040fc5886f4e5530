/* common.cuh — device helpers shared by the .cu files: half conversions, warp/block reductions and the
 * per-dtype "unit" dequantizers (8 consecutive elements of one block) used by GEMV, dequant and get_rows.
 *
 * Not here: kernels (matmul.cu, norm.cu, …) or anything host-side.
 * Numerics: block layouts of SPEC.md §1.5 (ggml reference semantics); Q4_1/Q5_1 add the block min `m`.
 * Fields are read with byte / 16-bit loads because most blocks are only 2-byte aligned (34, 18, 210 B).
 */
#ifndef MYNA_CUDA_COMMON_CUH
#define MYNA_CUDA_COMMON_CUH

#include <stdint.h>
#include <string.h>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

/* DType ids (tensor.h; ggml ids), repeated here because tensor.h is C and we only need the numbers. */
enum {
    CT_F32 = 0, CT_F16 = 1, CT_Q4_0 = 2, CT_Q4_1 = 3, CT_Q5_0 = 6, CT_Q5_1 = 7, CT_Q8_0 = 8,
    CT_Q4_K = 12, CT_Q5_K = 13, CT_Q6_K = 14, CT_BF16 = 30,
};

/* The dequantizers are host-callable too, so tests/backend/test-cuda-dequant.cu can check them against the
 * CPU's quant_dequant_row on a machine without a GPU. */
#define CUK_HD static __host__ __device__ __forceinline__

CUK_HD float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}
CUK_HD float h2f(uint16_t h) { return __half2float(__ushort_as_half(h)); }
CUK_HD float bf2f(uint16_t h) { return u2f((uint32_t)h << 16); }
CUK_HD uint16_t ld16(const uint8_t *p) { return *(const uint16_t *)p; }

static __device__ __forceinline__ float warp_sum(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

static __device__ __forceinline__ float warp_max(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Block-wide sum/max for blockDim.x a multiple of 32 (<= 1024); `sh` is 32 floats of shared memory.
 * Every thread gets the result. */
static __device__ __forceinline__ float block_sum(float v, float *sh)
{
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads(); /* sh may still be read from a previous reduction */
    if (lane == 0)
        sh[w] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : 0.0f;
    return warp_sum(v);
}

static __device__ __forceinline__ float block_max(float v, float *sh)
{
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0)
        sh[w] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : -INFINITY;
    return warp_max(v);
}

/* Traits: QK elements and BS bytes per block. Float types use a pseudo-block of 8 elements so that every
 * dtype is processed in units of 8 consecutive elements (requires K % 8 == 0 for them). */
template <int DT> struct QTraits;
template <> struct QTraits<CT_F32> { static constexpr int QK = 8, BS = 32; };
template <> struct QTraits<CT_F16> { static constexpr int QK = 8, BS = 16; };
template <> struct QTraits<CT_BF16> { static constexpr int QK = 8, BS = 16; };
template <> struct QTraits<CT_Q8_0> { static constexpr int QK = 32, BS = 34; };
template <> struct QTraits<CT_Q4_0> { static constexpr int QK = 32, BS = 18; };
template <> struct QTraits<CT_Q4_1> { static constexpr int QK = 32, BS = 20; };
template <> struct QTraits<CT_Q5_0> { static constexpr int QK = 32, BS = 22; };
template <> struct QTraits<CT_Q5_1> { static constexpr int QK = 32, BS = 24; };
template <> struct QTraits<CT_Q4_K> { static constexpr int QK = 256, BS = 144; };
template <> struct QTraits<CT_Q5_K> { static constexpr int QK = 256, BS = 176; };
template <> struct QTraits<CT_Q6_K> { static constexpr int QK = 256, BS = 210; };

/* v[0..7] = elements 8j .. 8j+7 of the block at b. (Fixed-count loops below are unrolled by nvcc -O3
 * without pragmas, which host compilers would warn about.) */
template <int DT> CUK_HD void deq8(const uint8_t *b, int j, float v[8]);

template <> __host__ __device__ __forceinline__ void deq8<CT_F32>(const uint8_t *b, int j, float v[8])
{
    (void)j;
    const float4 *p = (const float4 *)b; /* 32-byte pseudo-block; caller guarantees 16-byte alignment */
    float4 a = p[0], c = p[1];
    v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w; v[4] = c.x; v[5] = c.y; v[6] = c.z; v[7] = c.w;
}

template <> __host__ __device__ __forceinline__ void deq8<CT_F16>(const uint8_t *b, int j, float v[8])
{
    (void)j;
    uint4 u = *(const uint4 *)b;
    const uint32_t w[4] = {u.x, u.y, u.z, u.w};
    for (int i = 0; i < 4; i++) {
        v[2 * i] = h2f((uint16_t)(w[i] & 0xffff));
        v[2 * i + 1] = h2f((uint16_t)(w[i] >> 16));
    }
}

template <> __host__ __device__ __forceinline__ void deq8<CT_BF16>(const uint8_t *b, int j, float v[8])
{
    (void)j;
    uint4 u = *(const uint4 *)b;
    const uint32_t w[4] = {u.x, u.y, u.z, u.w};
    for (int i = 0; i < 4; i++) {
        v[2 * i] = u2f(w[i] << 16);
        v[2 * i + 1] = u2f(w[i] & 0xffff0000u);
    }
}

template <> __host__ __device__ __forceinline__ void deq8<CT_Q8_0>(const uint8_t *b, int j, float v[8])
{
    float d = h2f(ld16(b));
    const uint8_t *q = b + 2 + 8 * j;
    for (int i = 0; i < 8; i += 2) {
        uint16_t u = ld16(q + i);
        v[i] = d * (float)(int8_t)(u & 0xff);
        v[i + 1] = d * (float)(int8_t)(u >> 8);
    }
}

/* 32-element blocks with nibbles: units 0,1 are low nibbles of qs[0..15], units 2,3 the high nibbles. */
template <> __host__ __device__ __forceinline__ void deq8<CT_Q4_0>(const uint8_t *b, int j, float v[8])
{
    float d = h2f(ld16(b));
    const uint8_t *q = b + 2 + 8 * (j & 1);
    int sh = (j >> 1) * 4;
    for (int i = 0; i < 8; i += 2) {
        uint16_t u = ld16(q + i);
        v[i] = d * (float)((int)((u >> sh) & 0xF) - 8);
        v[i + 1] = d * (float)((int)((u >> (8 + sh)) & 0xF) - 8);
    }
}

template <> __host__ __device__ __forceinline__ void deq8<CT_Q4_1>(const uint8_t *b, int j, float v[8])
{
    float d = h2f(ld16(b)), m = h2f(ld16(b + 2));
    const uint8_t *q = b + 4 + 8 * (j & 1);
    int sh = (j >> 1) * 4;
    for (int i = 0; i < 8; i += 2) {
        uint16_t u = ld16(q + i);
        v[i] = d * (float)((u >> sh) & 0xF) + m;
        v[i + 1] = d * (float)((u >> (8 + sh)) & 0xF) + m;
    }
}

template <> __host__ __device__ __forceinline__ void deq8<CT_Q5_0>(const uint8_t *b, int j, float v[8])
{
    float d = h2f(ld16(b));
    uint32_t h = (uint32_t)ld16(b + 2) | ((uint32_t)ld16(b + 4) << 16);
    const uint8_t *q = b + 6 + 8 * (j & 1);
    int sh = (j >> 1) * 4, e0 = 8 * j; /* element index of v[0] within the block */
    for (int i = 0; i < 8; i++) {
        int lo = (q[i] >> sh) & 0xF, hi = (h >> (e0 + i)) & 1;
        v[i] = d * (float)((lo | (hi << 4)) - 16);
    }
}

template <> __host__ __device__ __forceinline__ void deq8<CT_Q5_1>(const uint8_t *b, int j, float v[8])
{
    float d = h2f(ld16(b)), m = h2f(ld16(b + 2));
    uint32_t h = (uint32_t)ld16(b + 4) | ((uint32_t)ld16(b + 6) << 16);
    const uint8_t *q = b + 8 + 8 * (j & 1);
    int sh = (j >> 1) * 4, e0 = 8 * j;
    for (int i = 0; i < 8; i++) {
        int lo = (q[i] >> sh) & 0xF, hi = (h >> (e0 + i)) & 1;
        v[i] = d * (float)(lo | (hi << 4)) + m;
    }
}

/* K-quant 6-bit scale/min unpacking of sub-block s (0..7) from scales[12] (SPEC.md §1.5). */
CUK_HD void kq_scale_min(const uint8_t *sc, int s, int *ret_sc, int *ret_m)
{
    if (s < 4) {
        *ret_sc = sc[s] & 63;
        *ret_m = sc[s + 4] & 63;
    } else {
        *ret_sc = (sc[s + 4] & 0x0F) | ((sc[s - 4] >> 6) << 4);
        *ret_m = (sc[s + 4] >> 4) | ((sc[s] >> 6) << 4);
    }
}

/* Q4_K unit j (0..31): chunk c = j/8 of 64 elements; first 4 units of a chunk are the low nibbles of
 * qs[32c .. 32c+31] (sub-block 2c), the next 4 the high nibbles (sub-block 2c+1). */
template <> __host__ __device__ __forceinline__ void deq8<CT_Q4_K>(const uint8_t *b, int j, float v[8])
{
    float d = h2f(ld16(b)), dmin = h2f(ld16(b + 2));
    int c = j >> 3, o = (j & 7) * 8, hi = o >= 32, l0 = o & 31, s = 2 * c + hi, sc, m;
    kq_scale_min(b + 4, s, &sc, &m);
    float ds = d * (float)sc, dm = dmin * (float)m;
    uint2 u = *(const uint2 *)(b + 16 + 32 * c + l0); /* 144-byte blocks keep 8-byte alignment */
    const uint32_t w[2] = {u.x, u.y};
    for (int i = 0; i < 8; i++) {
        uint32_t byte = (w[i >> 2] >> (8 * (i & 3))) & 0xff;
        v[i] = ds * (float)(hi ? byte >> 4 : byte & 0xF) - dm;
    }
}

template <> __host__ __device__ __forceinline__ void deq8<CT_Q5_K>(const uint8_t *b, int j, float v[8])
{
    float d = h2f(ld16(b)), dmin = h2f(ld16(b + 2));
    int c = j >> 3, o = (j & 7) * 8, hi = o >= 32, l0 = o & 31, s = 2 * c + hi, sc, m;
    kq_scale_min(b + 4, s, &sc, &m);
    float ds = d * (float)sc, dm = dmin * (float)m;
    const uint8_t *qh = b + 16, *qs = b + 48 + 32 * c;
    for (int i = 0; i < 8; i++) {
        int l = l0 + i;
        int q = (hi ? qs[l] >> 4 : qs[l] & 0xF) + (((qh[l] >> s) & 1) << 4);
        v[i] = ds * (float)q - dm;
    }
}

/* Q6_K: ql[128] | qh[64] | scales[16] int8 | d fp16 (LAST). Element e = 128n + 32q + l. */
template <> __host__ __device__ __forceinline__ void deq8<CT_Q6_K>(const uint8_t *b, int j, float v[8])
{
    float d = h2f(ld16(b + 208));
    int e0 = 8 * j, n = e0 >> 7, r = e0 & 127, q = r >> 5, l0 = r & 31;
    const uint8_t *ql = b + 64 * n + (q & 1) * 32, *qh = b + 128 + 32 * n;
    float ds = d * (float)(int8_t)b[192 + 8 * n + (l0 >> 4) + 2 * q];
    int qsh = (q >> 1) * 4, hsh = 2 * q;
    for (int i = 0; i < 8; i++) {
        int l = l0 + i;
        int x = ((ql[l] >> qsh) & 0xF) | (((qh[l] >> hsh) & 3) << 4);
        v[i] = ds * (float)(x - 32);
    }
}

/* One element k of a float-typed row (per-element fallback paths for K % 8 != 0). */
template <int DT> CUK_HD float deq1(const uint8_t *row, int64_t k)
{
    if (DT == CT_F32)
        return ((const float *)row)[k];
    if (DT == CT_F16)
        return h2f(((const uint16_t *)row)[k]);
    return bf2f(((const uint16_t *)row)[k]);
}

/* Expand a dtype switch over every device-supported dtype: M(CT_x) for each. */
#define CUK_FOR_EACH_DTYPE(M) \
    M(CT_F32) M(CT_F16) M(CT_BF16) M(CT_Q8_0) M(CT_Q4_0) M(CT_Q4_1) M(CT_Q5_0) M(CT_Q5_1) M(CT_Q4_K) \
    M(CT_Q5_K) M(CT_Q6_K)

#endif
