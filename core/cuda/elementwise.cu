/* elementwise.cu — activations, add/mul/scale with row broadcast, strided copy/convert, im2col.
 *
 * Grid-stride loops over flat F32 arrays; copy maps each logical element index through both tensors'
 * (ne, nb) so any strided view (KV-cache rows) works. Not here: fused kernels.
 * Numerics: SiLU x·σ(x); GELU erf form 0.5x(1+erf(x/√2)); GELU-tanh 0.5x(1+tanh(√(2/π)(x+0.044715x³)))
 * (torch.nn.functional.gelu, approximate='tanh'); F32→F16/BF16 round-to-nearest-even; F32→Q8_0 as ggml's
 * quantize_row_q8_0 (d = amax/127, q = round(x/d)).
 */
#include "common.cuh"
#include "cuda-ops.h"

static unsigned grid_for(int64_t n)
{
    int64_t b = (n + 255) / 256;
    return (unsigned)(b < 65536 ? b : 65536);
}

#define GRID_STRIDE(i, n) \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

static __global__ void unary_kernel(int op, float *y, const float *x, int64_t n, float scale)
{
    GRID_STRIDE(i, n) {
        const float v = x[i];
        float r;
        switch (op) {
        case CUK_SILU: r = v / (1.0f + expf(-v)); break;
        case CUK_GELU: r = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f)); break;
        case CUK_GELU_TANH:
            r = 0.5f * v * (1.0f + tanhf(0.79788456080286536f * (v + 0.044715f * v * v * v)));
            break;
        default: r = v * scale; break;
        }
        y[i] = r;
    }
}

static __global__ void binary_kernel(int op, float *y, const float *a, const float *b, int64_t n, int64_t nb_)
{
    GRID_STRIDE(i, n) {
        const float x = a[i], z = b[nb_ == n ? i : i % nb_];
        float r;
        switch (op) {
        case CUK_ADD: r = x + z; break;
        case CUK_MUL: r = x * z; break;
        default: r = x / (1.0f + expf(-x)) * z; break; /* swiglu: silu(gate = a) * up (= b) */
        }
        y[i] = r;
    }
}

extern "C" int cuk_unary(cudaStream_t s, CukUnary op, float *y, const float *x, int64_t n, float scale)
{
    if (n < 1)
        return 0;
    unary_kernel<<<grid_for(n), 256, 0, s>>>((int)op, y, x, n, scale);
    return (int)cudaGetLastError();
}

extern "C" int cuk_binary(cudaStream_t s, CukBinary op, float *y, const float *a, const float *b, int64_t n,
                          int64_t nb_)
{
    if (n < 1)
        return 0;
    if (nb_ < 1 || n % nb_)
        return (int)cudaErrorInvalidValue;
    binary_kernel<<<grid_for(n), 256, 0, s>>>((int)op, y, a, b, n, nb_);
    return (int)cudaGetLastError();
}

/* Byte offset of logical element e of a view. */
static __device__ __forceinline__ size_t view_off(const CukView &v, int64_t e)
{
    const int64_t i0 = e % v.ne[0], r = e / v.ne[0];
    const int64_t i1 = r % v.ne[1], r2 = r / v.ne[1];
    const int64_t i2 = r2 % v.ne[2], i3 = r2 / v.ne[2];
    return (size_t)i0 * v.nb[0] + (size_t)i1 * v.nb[1] + (size_t)i2 * v.nb[2] + (size_t)i3 * v.nb[3];
}

static __device__ __forceinline__ float load_as_f32(const CukView &v, int64_t e)
{
    const char *p = (const char *)v.data + view_off(v, e);
    if (v.dtype == CT_F32)
        return *(const float *)p;
    if (v.dtype == CT_F16)
        return h2f(*(const uint16_t *)p);
    return bf2f(*(const uint16_t *)p);
}

static __global__ void copy_kernel(CukView dst, CukView src, int64_t n)
{
    GRID_STRIDE(e, n) {
        char *p = (char *)dst.data + view_off(dst, e);
        if (dst.dtype == src.dtype && dst.dtype != CT_F32) { /* F16/BF16 → same: copy the bits */
            *(uint16_t *)p = *(const uint16_t *)((const char *)src.data + view_off(src, e));
            continue;
        }
        const float v = load_as_f32(src, e);
        if (dst.dtype == CT_F32)
            *(float *)p = v;
        else if (dst.dtype == CT_F16)
            *(__half *)p = __float2half_rn(v);
        else
            *(__nv_bfloat16 *)p = __float2bfloat16_rn(v);
    }
}

/* Q8_0 destination: one warp per 32-element block; dst.nb[0] is the block size (34 bytes). */
static __global__ void copy_q8_0_kernel(CukView dst, CukView src, int64_t n_blocks)
{
    const int lane = threadIdx.x & 31;
    const int64_t warps = (int64_t)gridDim.x * (blockDim.x >> 5);
    for (int64_t b = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); b < n_blocks; b += warps) {
        const int64_t e0 = b * 32; /* ne[0] % 32 == 0: a block never straddles dst rows */
        const float v = load_as_f32(src, e0 + lane);
        const float amax = warp_max(fabsf(v));
        const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        const int64_t i0 = e0 % dst.ne[0], r = e0 / dst.ne[0];
        const int64_t i1 = r % dst.ne[1], r2 = r / dst.ne[1];
        const int64_t i2 = r2 % dst.ne[2], i3 = r2 / dst.ne[2];
        uint8_t *blk = (uint8_t *)dst.data + (size_t)(i0 / 32) * dst.nb[0] + (size_t)i1 * dst.nb[1] +
                       (size_t)i2 * dst.nb[2] + (size_t)i3 * dst.nb[3];
        if (lane == 0)
            *(__half *)blk = __float2half_rn(d);
        blk[2 + lane] = (uint8_t)(int8_t)roundf(v * id);
    }
}

extern "C" int cuk_copy(cudaStream_t s, const CukView *dst, const CukView *src)
{
    const int64_t n = src->ne[0] * src->ne[1] * src->ne[2] * src->ne[3];
    if (n < 1)
        return 0;
    if (dst->dtype == CT_Q8_0) {
        const int64_t nbk = n / 32;
        int64_t g = (nbk + 7) / 8;
        copy_q8_0_kernel<<<(unsigned)(g < 65536 ? g : 65536), 256, 0, s>>>(*dst, *src, nbk);
    } else {
        copy_kernel<<<grid_for(n), 256, 0, s>>>(*dst, *src, n);
    }
    return (int)cudaGetLastError();
}

static __global__ void im2col_kernel(void *dst, int dst_f16, const float *__restrict__ src, int64_t W, int64_t H,
                                     int64_t Cin, int kh, int kw, int stride, int pad_w, int pad_h, int64_t Wout,
                                     int64_t n)
{
    const int64_t rowlen = Cin * kh * kw;
    GRID_STRIDE(i, n) {
        const int64_t col = i / rowlen, r = i % rowlen;
        const int64_t wo = col % Wout, ho = col / Wout;
        const int64_t c = r / ((int64_t)kh * kw), k = r % ((int64_t)kh * kw);
        const int64_t y = ho * stride + k / kw - pad_h, x = wo * stride + k % kw - pad_w;
        const float v = (x >= 0 && x < W && y >= 0 && y < H) ? src[(c * H + y) * W + x] : 0.0f;
        if (dst_f16)
            ((__half *)dst)[i] = __float2half_rn(v);
        else
            ((float *)dst)[i] = v;
    }
}

extern "C" int cuk_im2col(cudaStream_t s, void *dst, int dst_f16, const float *src, int64_t W, int64_t H,
                          int64_t Cin, int kh, int kw, int stride, int pad_w, int pad_h, int64_t Wout,
                          int64_t Hout)
{
    const int64_t n = Cin * kh * kw * Wout * Hout;
    if (n < 1)
        return 0;
    im2col_kernel<<<grid_for(n), 256, 0, s>>>(dst, dst_f16, src, W, H, Cin, kh, kw, stride, pad_w, pad_h, Wout,
                                              n);
    return (int)cudaGetLastError();
}
