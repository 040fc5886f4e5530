/* attention-prefill.cu — tiled flash-attention for several queries at once (prefill, T > 1), CUDA cores.
 *
 * One thread block (4 warps) takes FA_ROWS = 32 query rows of ONE kv head: rows are the flattened
 * (token t, head-in-group g) pairs of that kv head, i = t * G + g with G = NH / NKV, so the query heads of
 * a GQA group and consecutive tokens share every K/V tile. The block streams K/V tiles of FA_BK = 32 keys
 * through shared memory (F16 caches converted to F32 on load); each warp owns 8 rows: lane j scores key j
 * of the tile against the warp's 8 queries (Q pre-scaled in shared memory, float4 broadcast reads, K rows
 * padded to HDP + 1 floats so the 32 lanes hit 32 banks), then an online softmax per row (running max m,
 * per-lane partial sums l, warp-uniform rescale) and P·V with lane owning dims lane + 32k. Causal limits
 * (n_past + t) and the additive mask [S, T] are applied per (row, key); tiles past every row's causal
 * limit are skipped per warp, and the block stops at the last row's limit.
 * HDP (64/128/256) is the padded head dim the kernel is instantiated for; HD ≤ HDP, zero-padded.
 * Not here: tensor cores (mma.sync), split-K over keys (decode keeps attention.cu's flash-decoding).
 * Numerics: softmax(q·kᵀ·scale + mask)·v in F32 with exp() rescaling (Milakov & Gimelshein 2018;
 * FlashAttention, Dao et al. 2022 Alg. 1); rows whose keys are all masked produce zeros (as the CPU
 * backend, core/cpu/ops-attn.c).
 */
#include "common.cuh"
#include "cuda-ops.h"

enum { FA_WARPS = 4, FA_RW = 8, FA_ROWS = FA_WARPS * FA_RW, FA_BK = 32 };

/* Shared memory (floats): Q [FA_ROWS][HDP] | K [FA_BK][HDP + 1] | V [FA_BK][HDP] | P [FA_ROWS][FA_BK].
 * V starts at 64·HDP + 32 floats, a multiple of 4: float4 reads of Q and V stay 16-byte aligned. */
template <int HDP> struct FaSmem {
    static constexpr int KS = HDP + 1;
    static constexpr size_t FLOATS = (size_t)FA_ROWS * HDP + (size_t)FA_BK * KS + (size_t)FA_BK * HDP +
                                     (size_t)FA_ROWS * FA_BK;
};

template <bool F16>
static __device__ __forceinline__ float fa_kv(const void *base, size_t off_bytes, int d)
{
    const char *p = (const char *)base + off_bytes;
    return F16 ? h2f(((const uint16_t *)p)[d]) : ((const float *)p)[d];
}

template <bool F16, int HDP>
static __global__ void __launch_bounds__(FA_WARPS * 32) fa_kernel(CukAttn a)
{
    constexpr int NDL = HDP / 32, KS = FaSmem<HDP>::KS;
    extern __shared__ float4 fa_smem4[];
    float *sh_q = (float *)fa_smem4;   /* [FA_ROWS][HDP] q * scale, zero past HD and past the last row */
    float *sh_k = sh_q + FA_ROWS * HDP; /* [FA_BK][KS] */
    float *sh_v = sh_k + FA_BK * KS;    /* [FA_BK][HDP] */
    float *sh_p = sh_v + FA_BK * HDP;   /* [FA_ROWS][FA_BK] probabilities of the current tile */

    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int HD = (int)a.HD;
    const int64_t G = a.NH / a.NKV, kvh = blockIdx.y;
    const int64_t n_rows = a.T * G, row0 = (int64_t)blockIdx.x * FA_ROWS;

    for (int idx = threadIdx.x; idx < FA_ROWS * HDP; idx += blockDim.x) {
        const int r = idx / HDP, d = idx % HDP;
        const int64_t i = row0 + r;
        float x = 0.0f;
        if (i < n_rows && d < HD) {
            const int64_t t = i / G, h = kvh * G + i % G;
            x = ((const float *)((const char *)a.q + (size_t)t * a.q_nb2 + (size_t)h * a.q_nb1))[d] * a.scale;
        }
        sh_q[idx] = x;
    }

    /* Keys this block needs: all S, or up to the causal limit of its last row. */
    int64_t s_end = a.S;
    {
        int64_t i_last = row0 + FA_ROWS < n_rows ? row0 + FA_ROWS - 1 : n_rows - 1;
        if (a.causal && a.n_past + i_last / G + 1 < s_end)
            s_end = a.n_past + i_last / G + 1;
    }
    /* Per-row key limit (0 for rows past the end) and token; wlim = the warp's largest limit. 32-bit:
     * the launcher takes S, T < 2^31 only, and registers are the scarce resource here. */
    int lim[FA_RW], tq[FA_RW], wlim = 0;
#pragma unroll
    for (int rr = 0; rr < FA_RW; rr++) {
        const int64_t i = row0 + warp * FA_RW + rr;
        lim[rr] = 0;
        tq[rr] = 0;
        if (i < n_rows) {
            const int64_t t = i / G;
            int64_t li = a.S;
            if (a.causal && a.n_past + t + 1 < li)
                li = a.n_past + t + 1;
            lim[rr] = (int)li;
            tq[rr] = (int)t;
        }
        wlim = lim[rr] > wlim ? lim[rr] : wlim;
    }

    float m[FA_RW], l[FA_RW], acc[FA_RW][NDL];
#pragma unroll
    for (int rr = 0; rr < FA_RW; rr++) {
        m[rr] = -INFINITY;
        l[rr] = 0.0f;
#pragma unroll
        for (int k = 0; k < NDL; k++)
            acc[rr][k] = 0.0f;
    }
    const float *qw = sh_q + warp * FA_RW * HDP;
    float *pw = sh_p + warp * FA_RW * FA_BK;

    for (int64_t s0 = 0; s0 < s_end; s0 += FA_BK) {
        __syncthreads(); /* Q written (first pass) / the previous K, V tile consumed */
        for (int idx = threadIdx.x; idx < FA_BK * HDP; idx += blockDim.x) {
            const int j = idx / HDP, d = idx % HDP;
            const int64_t s = s0 + j;
            float kx = 0.0f, vx = 0.0f;
            if (s < s_end && d < HD) {
                kx = fa_kv<F16>(a.k, (size_t)s * a.k_nb2 + (size_t)kvh * a.k_nb1, d);
                vx = fa_kv<F16>(a.v, (size_t)s * a.v_nb2 + (size_t)kvh * a.v_nb1, d);
            }
            sh_k[j * KS + d] = kx;
            sh_v[j * HDP + d] = vx;
        }
        __syncthreads();
        if (s0 >= wlim) /* warp-uniform: every row of this warp is causally done */
            continue;

        /* Scores: lane = key s0 + lane, against the warp's FA_RW queries. HD rounded up to 4 stays within
         * HDP, and the padding is zero in both Q and K. */
        const int s = (int)s0 + lane;
        const float *kj = sh_k + lane * KS;
        float sc[FA_RW];
#pragma unroll
        for (int rr = 0; rr < FA_RW; rr++)
            sc[rr] = 0.0f;
#pragma unroll 2
        for (int d = 0; d < HD; d += 4) {
            const float k0 = kj[d], k1 = kj[d + 1], k2 = kj[d + 2], k3 = kj[d + 3];
#pragma unroll
            for (int rr = 0; rr < FA_RW; rr++) {
                const float4 qv = *(const float4 *)(qw + rr * HDP + d);
                sc[rr] += qv.x * k0 + qv.y * k1 + qv.z * k2 + qv.w * k3;
            }
        }

        /* Online softmax, one row at a time (max over the tile by shuffles; sums stay per lane). */
#pragma unroll
        for (int rr = 0; rr < FA_RW; rr++) {
            float x = -INFINITY;
            if (s < lim[rr])
                x = sc[rr] + (a.mask ? ((const float *)((const char *)a.mask + (size_t)tq[rr] * a.mask_nb1))[s]
                                     : 0.0f);
            const float mn = fmaxf(m[rr], warp_max(x));
            float corr = 1.0f, p = 0.0f;
            if (mn != -INFINITY) {
                corr = expf(m[rr] - mn); /* 0 when m was -inf (nothing seen yet: l, acc are 0) */
                p = expf(x - mn);
            }
            m[rr] = mn;
            l[rr] = l[rr] * corr + p;
#pragma unroll
            for (int k = 0; k < NDL; k++)
                acc[rr][k] *= corr;
            pw[rr * FA_BK + lane] = p;
        }
        __syncwarp();
        /* P·V: lane owns dims lane + 32k; p broadcast from shared memory. */
#pragma unroll 4
        for (int j = 0; j < FA_BK; j++) {
            float vv[NDL];
#pragma unroll
            for (int k = 0; k < NDL; k++)
                vv[k] = sh_v[j * HDP + lane + 32 * k];
#pragma unroll
            for (int rr = 0; rr < FA_RW; rr++) {
                const float pr = pw[rr * FA_BK + j];
#pragma unroll
                for (int k = 0; k < NDL; k++)
                    acc[rr][k] += pr * vv[k];
            }
        }
        __syncwarp(); /* pw is rewritten by the next tile */
    }

#pragma unroll
    for (int rr = 0; rr < FA_RW; rr++) {
        const int64_t i = row0 + warp * FA_RW + rr;
        const float L = warp_sum(l[rr]);
        if (i >= n_rows)
            continue;
        const int64_t t = i / G, h = kvh * G + i % G;
        float *o = a.out + ((size_t)t * (size_t)a.NH + (size_t)h) * (size_t)HD;
        const float inv = L > 0.0f ? 1.0f / L : 0.0f;
#pragma unroll
        for (int k = 0; k < NDL; k++) {
            const int d = lane + 32 * k;
            if (d < HD)
                o[d] = acc[rr][k] * inv;
        }
    }
}

template <bool F16, int HDP> static int fa_launch(cudaStream_t s, const CukAttn *a)
{
    const size_t smem = FaSmem<HDP>::FLOATS * sizeof(float);
    cudaError_t e;
    if (smem > 48 * 1024) {
        /* Opt in to > 48 KiB of dynamic shared memory (per device, idempotent, not a stream operation). */
        e = cudaFuncSetAttribute(fa_kernel<F16, HDP>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
        if (e != cudaSuccess) {
            (void)cudaGetLastError(); /* clear it: the caller falls back to the per-query kernel */
            return -1;
        }
    }
    const int64_t rows = a->T * (a->NH / a->NKV);
    dim3 grid((unsigned)((rows + FA_ROWS - 1) / FA_ROWS), (unsigned)a->NKV);
    fa_kernel<F16, HDP><<<grid, FA_WARPS * 32, smem, s>>>(*a);
    return (int)cudaGetLastError();
}

extern "C" int cuk_attention_tiled(cudaStream_t s, const CukAttn *a)
{
    if (a->HD < 1 || a->HD > 256 || a->NKV < 1 || a->NH % a->NKV || a->T < 1)
        return -1;
    if (a->S > 0x7fffffe0 || a->T > 0x7fffffff || a->NKV > 65535 ||
        (a->T * (a->NH / a->NKV) + FA_ROWS - 1) / FA_ROWS > 0x7fffffff)
        return -1;
    if (a->HD <= 64)
        return a->kv_f16 ? fa_launch<true, 64>(s, a) : fa_launch<false, 64>(s, a);
    if (a->HD <= 128)
        return a->kv_f16 ? fa_launch<true, 128>(s, a) : fa_launch<false, 128>(s, a);
    return a->kv_f16 ? fa_launch<true, 256>(s, a) : fa_launch<false, 256>(s, a);
}
