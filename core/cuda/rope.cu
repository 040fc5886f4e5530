/* rope.cu — rotary position embedding in place, both pair layouts, optional per-frequency divisors.
 *
 * Not here: YaRN / long-context extrapolation ramps (Llama 3.1's "llama3" scaling arrives as freq_factors).
 * Numerics: θ_i = pos · freq_scale · base^(−2i/n_rot) / ff[i] (ggml rope with ext_factor 0); the angle is
 * computed in F32 from powf like the CPU oracle; dims ≥ n_rot pass through unchanged.
 */
#include "common.cuh"
#include "cuda-ops.h"

/* One thread per (pair i, head h, token t). */
static __global__ void rope_kernel(float *x, size_t nb1, size_t nb2, int64_t NH, int64_t T,
                                   const int32_t *__restrict__ pos, const float *__restrict__ ff, int neox,
                                   int n_rot, float freq_base, float freq_scale)
{
    const int half = n_rot / 2;
    const int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (int64_t)half * NH * T)
        return;
    const int i = (int)(idx % half);
    const int64_t h = (idx / half) % NH, t = idx / ((int64_t)half * NH);
    float *row = (float *)((char *)x + (size_t)t * nb2 + (size_t)h * nb1);
    float theta = (float)pos[t] * freq_scale * powf(freq_base, -2.0f * (float)i / (float)n_rot);
    if (ff)
        theta /= ff[i];
    float c, sn;
    sincosf(theta, &sn, &c);
    const int a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
    const float x0 = row[a], x1 = row[b];
    row[a] = x0 * c - x1 * sn;
    row[b] = x0 * sn + x1 * c;
}

extern "C" int cuk_rope(cudaStream_t s, float *x, size_t nb1, size_t nb2, int64_t HD, int64_t NH, int64_t T,
                        const int32_t *pos, const float *ff, int mode, int n_rot, float freq_base,
                        float freq_scale)
{
    (void)HD;
    const int64_t n = (int64_t)(n_rot / 2) * NH * T;
    if (n < 1)
        return 0;
    rope_kernel<<<(unsigned)((n + 255) / 256), 256, 0, s>>>(x, nb1, nb2, NH, T, pos, ff, mode == 2, n_rot,
                                                            freq_base, freq_scale);
    return (int)cudaGetLastError();
}
