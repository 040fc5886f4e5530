/* cpu/ops-attn.c — scaled dot-product attention for the CPU backend (backend.h `attention`).
 *
 * out[:, h, t] = Σ_j softmax_j(scale · q[:, h, t]·k[:, g, j] + mask[j, t]) · v[:, g, j], g = h / (NH/NKV)
 * (GQA), j over the visible keys: all S, or with `causal` the first min(S, n_past + t + 1). Softmax is the
 * stable form (subtract the row max, exp, normalise once at the end). A row whose keys are all masked
 * (-INFINITY) yields zeros rather than NaN. K and V are F32 or F16 (converted on the fly, no copy); their
 * nb[1]/nb[2] strides are honoured so S may be a prefix of a larger cache.
 * T > 1 (prefill, encoders): a tiled flash-attention path (tiled_task below): online softmax over blocks of
 * TK keys, score and P·V tiles as small AVX-512 GEMMs (portable C otherwise); same result to float rounding
 * (sums in another order). T == 1 (decode): the two-pass path threaded over (kv head, query, chunk of ≤ HB
 * query heads of that kv head's GQA group) items: the heads of a chunk share every K/V row load.
 * Fast path (AVX-512, F16 K/V, HD a multiple of 64 — the KV cache of decoder.c): scores with the K row
 * converted once for the HB heads, a vectorised exp (Cephes-style range reduction + degree-6 polynomial,
 * ≤ 2 ulp), and P·V accumulated in registers 64 dims at a time; the same math, one sum order.
 * Reference: Vaswani et al. 2017 eq. 1; HF LlamaAttention eager path (repeat_kv for GQA); Dao et al. 2022
 * (FlashAttention) for the online softmax. Not here: paged caches, a tiled decode (split-K) path.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu-features.h"
#include "ops.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

enum {
    HB = 4, /* query heads of one GQA group handled together: each K/V row is read once for all */
    ATTN_DECODE_INLINE = 1 << 20, /* element-ops below which one query's attention stays on the caller */
};

typedef struct {
    const Tensor *out, *q, *k, *v, *mask;
    float scale;
    int causal;
    int64_t n_past, hd, nh, nkv, t, s, s_pad, n_chunks;
    int fast;       /* attn_item_f16 applies */
    int fast_tiled; /* the AVX-512 tile kernels apply */
    int64_t bq;     /* tiled: queries per work item */
    float *scratch; /* borrowed from CpuBackend, [scratch_len] per thread: HB × [s_pad] scores */
    size_t scratch_len;
} AttnCtx;

#if HAVE_X86
#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c")))

#include "exp512.h"

/* One work item of attn_task for F16 K/V with hd % 64 == 0: the heads qr[0..nb) over keys [0, n_vis). */
AVX512_TARGET static void attn_item_f16(const AttnCtx *c, const char *kb, const char *vb, const float *mrow,
                                        const float *const *qr, float *const *o, float *const *sc, int64_t nb,
                                        int64_t n_vis)
{
    const int64_t hd = c->hd;
    const size_t ks = c->k->nb[2], vs = c->v->nb[2];
    float mx[HB], inv[HB];

    /* scores = scale · q·k + mask */
    for (int64_t b = 0; b < nb; b++)
        mx[b] = -INFINITY;
    for (int64_t d0 = 0; d0 < hd; d0 += 64) {
        /* 64 dims of the HB queries stay in registers; partial dot products accumulate in sc */
        __m512 q[HB][4];
        for (int b = 0; b < HB; b++)
            for (int i = 0; i < 4; i++)
                q[b][i] = _mm512_loadu_ps(qr[b < nb ? b : 0] + d0 + 16 * i);
        for (int64_t j = 0; j < n_vis; j++) {
            const uint16_t *kr = (const uint16_t *)(kb + (size_t)j * ks) + d0;
            __m512 k0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)kr));
            __m512 k1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(kr + 16)));
            __m512 k2 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(kr + 32)));
            __m512 k3 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(kr + 48)));
            for (int b = 0; b < HB; b++)
                if (b < nb) {
                    __m512 a = _mm512_mul_ps(k0, q[b][0]);
                    a = _mm512_fmadd_ps(k1, q[b][1], a);
                    a = _mm512_fmadd_ps(k2, q[b][2], a);
                    a = _mm512_fmadd_ps(k3, q[b][3], a);
                    float v = _mm512_reduce_add_ps(a);
                    sc[b][j] = d0 ? sc[b][j] + v : v;
                }
        }
    }
    for (int64_t b = 0; b < nb; b++) {
        float m0 = -INFINITY;
        for (int64_t j = 0; j < n_vis; j++) {
            float v = sc[b][j] * c->scale + (mrow ? mrow[j] : 0.0f);
            sc[b][j] = v;
            m0 = v > m0 ? v : m0;
        }
        mx[b] = m0;
    }
    /* unnormalised probabilities */
    for (int64_t b = 0; b < nb; b++) {
        if (mx[b] == -INFINITY || isnan(mx[b])) {
            memset(o[b], 0, (size_t)hd * sizeof(float));
            inv[b] = 0.0f;
            memset(sc[b], 0, (size_t)n_vis * sizeof(float));
            continue;
        }
        __m512 vm = _mm512_set1_ps(mx[b]), sum = _mm512_setzero_ps();
        for (int64_t j = 0; j < n_vis; j += 16) {
            __mmask16 k = n_vis - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n_vis - j)) - 1);
            __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, sc[b] + j), vm));
            e = _mm512_maskz_mov_ps(k, e);
            _mm512_mask_storeu_ps(sc[b] + j, k, e);
            sum = _mm512_add_ps(sum, e);
        }
        float s = _mm512_reduce_add_ps(sum);
        inv[b] = s > 0.0f ? 1.0f / s : 0.0f;
    }
    /* out = Σ_j p_j · v_j / Σ p, 64 dims at a time in registers */
    for (int64_t d0 = 0; d0 < hd; d0 += 64) {
        __m512 acc[HB][4];
        for (int b = 0; b < HB; b++)
            for (int i = 0; i < 4; i++)
                acc[b][i] = _mm512_setzero_ps();
        for (int64_t j = 0; j < n_vis; j++) {
            const uint16_t *vr = (const uint16_t *)(vb + (size_t)j * vs) + d0;
            __m512 v0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)vr));
            __m512 v1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(vr + 16)));
            __m512 v2 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(vr + 32)));
            __m512 v3 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(vr + 48)));
            for (int b = 0; b < HB; b++)
                if (b < nb) {
                    __m512 e = _mm512_set1_ps(sc[b][j]);
                    acc[b][0] = _mm512_fmadd_ps(e, v0, acc[b][0]);
                    acc[b][1] = _mm512_fmadd_ps(e, v1, acc[b][1]);
                    acc[b][2] = _mm512_fmadd_ps(e, v2, acc[b][2]);
                    acc[b][3] = _mm512_fmadd_ps(e, v3, acc[b][3]);
                }
        }
        for (int b = 0; b < HB; b++)
            if (b < nb) {
                __m512 vi = _mm512_set1_ps(inv[b]);
                for (int i = 0; i < 4; i++)
                    _mm512_storeu_ps(o[b] + d0 + 16 * i, _mm512_mul_ps(acc[b][i], vi));
            }
    }
}
#endif

static void attn_task(void *p, int ith, int nth)
{
    const AttnCtx *c = p;
    int64_t i0, i1, group = c->nh / c->nkv;
    float *scr = c->scratch + (size_t)ith * c->scratch_len;
    int k_f16 = c->k->dtype == DTYPE_F16, v_f16 = c->v->dtype == DTYPE_F16;

    /* items: (kv head g, query t, chunk of up to HB query heads of g), g outermost */
    cpu_split(c->nkv * c->t * c->n_chunks, ith, nth, &i0, &i1);
    for (int64_t w = i0; w < i1; w++) {
        int64_t chunk = w % c->n_chunks, t = (w / c->n_chunks) % c->t, g = w / (c->n_chunks * c->t);
        int64_t h0 = g * group + chunk * HB, nb = group - chunk * HB < HB ? group - chunk * HB : HB;
        const char *kb = (const char *)c->k->data + g * c->k->nb[1];
        const char *vb = (const char *)c->v->data + g * c->v->nb[1];
        const float *mrow = c->mask ? (const float *)((const char *)c->mask->data + t * c->mask->nb[1]) : NULL;
        const float *qr[HB];
        float *o[HB], *sc[HB], mx[HB], sum[HB];
        int64_t n_vis = c->s;

        if (c->causal && c->n_past + t + 1 < n_vis)
            n_vis = c->n_past + t + 1;
#if HAVE_X86
        if (c->fast) {
            for (int64_t b = 0; b < nb; b++) {
                qr[b] = (const float *)((const char *)c->q->data + (h0 + b) * c->q->nb[1] + t * c->q->nb[2]);
                o[b] = (float *)((char *)c->out->data + (h0 + b) * c->out->nb[1] + t * c->out->nb[2]);
                sc[b] = scr + b * c->s_pad;
            }
            attn_item_f16(c, kb, vb, mrow, qr, o, sc, nb, n_vis);
            continue;
        }
#endif
        for (int64_t b = 0; b < nb; b++) {
            qr[b] = (const float *)((const char *)c->q->data + (h0 + b) * c->q->nb[1] + t * c->q->nb[2]);
            o[b] = (float *)((char *)c->out->data + (h0 + b) * c->out->nb[1] + t * c->out->nb[2]);
            sc[b] = scr + b * c->s_pad;
            mx[b] = -INFINITY;
            sum[b] = 0;
            memset(o[b], 0, (size_t)c->hd * sizeof(float));
        }
        /* scores = scale · q·k + mask, and their row max */
        for (int64_t j = 0; j < n_vis; j++) {
            const void *kr = kb + j * c->k->nb[2];
            float m = mrow ? mrow[j] : 0.0f;
            for (int64_t b = 0; b < nb; b++) {
                float s = (k_f16 ? cpu_vec_dot_f16(kr, qr[b], c->hd) : cpu_vec_dot_f32(kr, qr[b], c->hd)) * c->scale + m;
                sc[b][j] = s;
                mx[b] = s > mx[b] ? s : mx[b];
            }
        }
        /* unnormalised probabilities; a head with nothing visible keeps sum 0 and output 0 */
        for (int64_t b = 0; b < nb; b++) {
            if (mx[b] == -INFINITY || isnan(mx[b])) {
                memset(sc[b], 0, (size_t)n_vis * sizeof(float));
                continue;
            }
            for (int64_t j = 0; j < n_vis; j++) {
                float e = expf(sc[b][j] - mx[b]);
                sc[b][j] = e;
                sum[b] += e;
            }
        }
        for (int64_t j = 0; j < n_vis; j++) {
            const void *vr = vb + j * c->v->nb[2];
            for (int64_t b = 0; b < nb; b++) {
                float e = sc[b][j];
                if (e == 0.0f)
                    continue;
                if (v_f16)
                    cpu_vec_axpy_f16(o[b], e, vr, c->hd);
                else
                    cpu_vec_axpy_f32(o[b], e, vr, c->hd);
            }
        }
        for (int64_t b = 0; b < nb; b++) {
            if (sum[b] == 0.0f)
                continue;
            float inv = 1.0f / sum[b];
            for (int64_t d = 0; d < c->hd; d++)
                o[b][d] *= inv;
        }
    }
}

/* ---- tiled path (T > 1): flash-attention style, online softmax ----
 * One work item = (kv head g, block of ≤ TQ queries) with all `group` query heads of g: R = queries × group
 * rows. K/V stream through in blocks of TK keys (F16 converted into F32 scratch; K transposed so the score
 * tile is a broadcast-FMA GEMM without horizontal sums), each row keeps a running max m and sum l in F32,
 * and O = Σ p·v is rescaled by e^(m_old − m_new) when the max grows (Dao et al. 2022, FlashAttention alg. 1).
 * Causal key blocks past the block's last query are skipped. */
enum { TK = 64, TR = 64 /* rows (query × head) per item, at most */ };

typedef struct {
    int64_t rp;                              /* rows rounded up to 4 */
    size_t q, o, kt, vb, s, m, l, len;       /* float offsets into a thread's scratch, total */
} TileLayout;

static size_t al16(size_t n)
{
    return (n + 15) / 16 * 16;
}

static TileLayout tile_layout(int64_t hd, int64_t rows)
{
    TileLayout t;
    t.rp = (rows + 3) / 4 * 4;
    t.q = 0;
    t.o = t.q + al16((size_t)(t.rp * hd));
    t.kt = t.o + al16((size_t)(t.rp * hd));
    t.vb = t.kt + al16((size_t)(hd * TK));
    t.s = t.vb + al16((size_t)(hd * TK));
    t.m = t.s + (size_t)t.rp * TK;
    t.l = t.m + al16((size_t)t.rp);
    t.len = t.l + al16((size_t)t.rp);
    return t;
}

/* S[r][0..TK) = Q[r]·Kt[:, j], Q: [hd, rp] rows, Kt: [TK, hd] (transposed K block). */
static void tile_scores_c(const float *q, const float *kt, float *s, int64_t rp, int64_t hd)
{
    for (int64_t r = 0; r < rp; r++) {
        float *sr = s + r * TK;
        for (int j = 0; j < TK; j++)
            sr[j] = 0.0f;
        for (int64_t d0 = 0; d0 < hd; d0 += 8) { /* runs of 8 dims, as tile_scores_avx */
            float part[TK] = {0};
            for (int64_t d = d0; d < hd && d < d0 + 8; d++) {
                float a = q[r * hd + d];
                const float *kr = kt + d * TK;
                for (int j = 0; j < TK; j++)
                    part[j] += a * kr[j];
            }
            for (int j = 0; j < TK; j++)
                sr[j] += part[j];
        }
    }
}

/* O[r] += Σ_{j<nk} P[r][j] · V[j], V rows `vs` bytes apart. */
static void tile_pv_c(const float *p, const char *vb, size_t vs, float *o, int64_t rp, int64_t nk, int64_t hd)
{
    for (int64_t r = 0; r < rp; r++)
        for (int64_t j = 0; j < nk; j++) {
            float e = p[r * TK + j];
            if (e != 0.0f)
                cpu_vec_axpy_f32(o + r * hd, e, (const float *)(vb + (size_t)j * vs), hd);
        }
}

/* Finish one row's scores (scale, mask, keys ≥ lim masked), update its running max/sum; writes the
 * unnormalised probabilities over the row and returns the factor the row's accumulator must be scaled by. */
static float tile_softmax_c(float *s, int64_t nk, int64_t lim, float scale, const float *mrow, float *m, float *l)
{
    float bm = -INFINITY, sum = 0.0f;
    for (int64_t j = 0; j < TK; j++) {
        float v = j < lim ? s[j] * scale + (mrow ? mrow[j] : 0.0f) : -INFINITY;
        s[j] = v;
        bm = v > bm ? v : bm;
    }
    (void)nk;
    float mn = bm > *m ? bm : *m;
    if (mn == -INFINITY) {
        memset(s, 0, TK * sizeof(float));
        return 1.0f;
    }
    float alpha = *m == -INFINITY ? 0.0f : expf(*m - mn);
    for (int64_t j = 0; j < TK; j++) {
        float e = s[j] == -INFINITY ? 0.0f : expf(s[j] - mn);
        s[j] = e;
        sum += e;
    }
    *m = mn;
    *l = *l * alpha + sum;
    return alpha;
}

#if HAVE_X86
/* Two rows at a time; the dot products are summed in runs of TD dims that are then added up, which keeps
 * the rounding error near that of a tree sum (a plain running sum over HD = 64..128 dims visibly shifts
 * the scores of long prompts). */
AVX512_TARGET static void tile_scores_avx(const float *q, const float *kt, float *s, int64_t rp, int64_t hd)
{
    enum { TD = 8 };
    for (int64_t r = 0; r < rp; r += 2) {
        __m512 tot[2][4];
        const float *q0 = q + r * hd, *q1 = q0 + hd;
        for (int i = 0; i < 2; i++)
            for (int u = 0; u < 4; u++)
                tot[i][u] = _mm512_setzero_ps();
        for (int64_t d0 = 0; d0 < hd; d0 += TD) {
            int64_t d1 = hd - d0 < TD ? hd : d0 + TD;
            __m512 a0[4], a1[4];
            for (int u = 0; u < 4; u++)
                a0[u] = a1[u] = _mm512_setzero_ps();
            for (int64_t d = d0; d < d1; d++) {
                const float *kr = kt + d * TK;
                __m512 b0 = _mm512_set1_ps(q0[d]), b1 = _mm512_set1_ps(q1[d]);
                for (int u = 0; u < 4; u++) {
                    __m512 kv = _mm512_loadu_ps(kr + 16 * u);
                    a0[u] = _mm512_fmadd_ps(b0, kv, a0[u]);
                    a1[u] = _mm512_fmadd_ps(b1, kv, a1[u]);
                }
            }
            for (int u = 0; u < 4; u++) {
                tot[0][u] = _mm512_add_ps(tot[0][u], a0[u]);
                tot[1][u] = _mm512_add_ps(tot[1][u], a1[u]);
            }
        }
        for (int i = 0; i < 2; i++)
            for (int u = 0; u < 4; u++)
                _mm512_storeu_ps(s + (r + i) * TK + 16 * u, tot[i][u]);
    }
}

/* 4 rows × nv (≤ 5) vectors of 16 dims from d0; the last vector masked by `tail`. */
AVX512_TARGET static inline __attribute__((always_inline)) void
tile_pv_chunk(const float *p, const char *vb, size_t vs, float *o, int64_t nk, int64_t hd, int64_t d0, int nv,
              __mmask16 tail)
{
    __m512 acc[4][5];
    __mmask16 mk[5];
    for (int u = 0; u < 5; u++)
        mk[u] = u < nv - 1 ? (__mmask16)0xFFFF : tail;
    for (int i = 0; i < 4; i++)
        for (int u = 0; u < nv; u++)
            acc[i][u] = _mm512_maskz_loadu_ps(mk[u], o + i * hd + d0 + 16 * u);
    for (int64_t j = 0; j < nk; j++) {
        const float *vr = (const float *)(vb + (size_t)j * vs) + d0;
        __m512 vv[5];
        for (int u = 0; u < nv; u++)
            vv[u] = _mm512_maskz_loadu_ps(mk[u], vr + 16 * u);
        for (int i = 0; i < 4; i++) {
            __m512 e = _mm512_set1_ps(p[i * TK + j]);
            for (int u = 0; u < nv; u++)
                acc[i][u] = _mm512_fmadd_ps(e, vv[u], acc[i][u]);
        }
    }
    for (int i = 0; i < 4; i++)
        for (int u = 0; u < nv; u++)
            _mm512_mask_storeu_ps(o + i * hd + d0 + 16 * u, mk[u], acc[i][u]);
}

AVX512_TARGET static void tile_pv_avx(const float *p, const char *vb, size_t vs, float *o, int64_t rp, int64_t nk,
                                      int64_t hd)
{
    for (int64_t r = 0; r < rp; r += 4)
        for (int64_t d0 = 0; d0 < hd; d0 += 80) {
            int64_t left = hd - d0 < 80 ? hd - d0 : 80;
            int nv = (int)((left + 15) / 16);
            __mmask16 tail = left % 16 ? (__mmask16)((1u << (left % 16)) - 1) : (__mmask16)0xFFFF;
            const float *pr = p + r * TK;
            float *orow = o + r * hd;
            switch (nv) {
            case 1: tile_pv_chunk(pr, vb, vs, orow, nk, hd, d0, 1, tail); break;
            case 2: tile_pv_chunk(pr, vb, vs, orow, nk, hd, d0, 2, tail); break;
            case 3: tile_pv_chunk(pr, vb, vs, orow, nk, hd, d0, 3, tail); break;
            case 4: tile_pv_chunk(pr, vb, vs, orow, nk, hd, d0, 4, tail); break;
            default: tile_pv_chunk(pr, vb, vs, orow, nk, hd, d0, 5, tail); break;
            }
        }
}

AVX512_TARGET static float tile_softmax_avx(float *s, int64_t nk, int64_t lim, float scale, const float *mrow,
                                            float *m, float *l)
{
    __m512 v[4], bm = _mm512_set1_ps(-INFINITY), ninf = _mm512_set1_ps(-INFINITY), vs = _mm512_set1_ps(scale);
    __mmask16 ok[4];
    (void)nk;
    for (int u = 0; u < 4; u++) {
        int64_t n = lim - 16 * u;
        ok[u] = n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
        __m512 x = _mm512_mul_ps(_mm512_loadu_ps(s + 16 * u), vs);
        if (mrow)
            x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(ok[u], mrow + 16 * u));
        v[u] = _mm512_mask_mov_ps(ninf, ok[u], x);
        bm = _mm512_max_ps(v[u], bm); /* a NaN score never becomes the max */
    }
    float b = _mm512_reduce_max_ps(bm), mn = b > *m ? b : *m;
    if (mn == -INFINITY) {
        for (int u = 0; u < 4; u++)
            _mm512_storeu_ps(s + 16 * u, _mm512_setzero_ps());
        return 1.0f;
    }
    float alpha = *m == -INFINITY ? 0.0f : expf(*m - mn);
    __m512 vm = _mm512_set1_ps(mn), sum = _mm512_setzero_ps();
    for (int u = 0; u < 4; u++) {
        __mmask16 live = _mm512_cmp_ps_mask(v[u], ninf, _CMP_GT_OQ);
        __m512 e = _mm512_maskz_mov_ps(live, exp512(_mm512_sub_ps(v[u], vm)));
        _mm512_storeu_ps(s + 16 * u, e);
        sum = _mm512_add_ps(sum, e);
    }
    *m = mn;
    *l = *l * alpha + _mm512_reduce_add_ps(sum);
    return alpha;
}
#endif

static void tiled_task(void *p, int ith, int nth)
{
    const AttnCtx *c = p;
    const int64_t hd = c->hd, group = c->nh / c->nkv, bq = c->bq, n_qb = (c->t + bq - 1) / bq;
    float *scr = c->scratch + (size_t)ith * c->scratch_len;
    int k_f16 = c->k->dtype == DTYPE_F16, v_f16 = c->v->dtype == DTYPE_F16;

    /* items (kv head, query block) dealt round-robin: causal blocks grow in cost along t */
    for (int64_t w = ith; w < c->nkv * n_qb; w += nth) {
        int64_t g = w / n_qb, t0 = (w % n_qb) * bq, nq = c->t - t0 < bq ? c->t - t0 : bq, rows = nq * group;
        TileLayout L = tile_layout(hd, rows);
        float *qs = scr + L.q, *os = scr + L.o, *kt = scr + L.kt, *vbuf = scr + L.vb, *ss = scr + L.s;
        float *ms = scr + L.m, *ls = scr + L.l;
        const char *kb = (const char *)c->k->data + g * c->k->nb[1];
        const char *vb = (const char *)c->v->data + g * c->v->nb[1];
        int64_t n_keys = c->s;

        for (int64_t r = 0; r < L.rp; r++) {
            if (r < rows) {
                int64_t t = t0 + r / group, h = g * group + r % group;
                memcpy(qs + r * hd, (const char *)c->q->data + h * c->q->nb[1] + t * c->q->nb[2],
                       (size_t)hd * sizeof(float));
            } else {
                memset(qs + r * hd, 0, (size_t)hd * sizeof(float));
            }
            ms[r] = -INFINITY;
            ls[r] = 0.0f;
        }
        memset(os, 0, (size_t)(L.rp * hd) * sizeof(float));
        if (c->causal && c->n_past + t0 + nq < n_keys)
            n_keys = c->n_past + t0 + nq;

        for (int64_t j0 = 0; j0 < n_keys; j0 += TK) {
            int64_t nk = n_keys - j0 < TK ? n_keys - j0 : TK;
            const char *vsrc;
            size_t vstride;

            /* K block → Kt [TK, hd] (column j = key j0 + j), V block → F32 rows */
            for (int64_t j = 0; j < nk; j++) {
                const char *kr = kb + (size_t)(j0 + j) * c->k->nb[2];
                const float *kf = (const float *)kr;
                if (k_f16) {
                    cpu_vec_f16_to_f32((const uint16_t *)kr, vbuf, hd);
                    kf = vbuf;
                }
                for (int64_t d = 0; d < hd; d++)
                    kt[d * TK + j] = kf[d];
            }
            if (nk < TK)
                for (int64_t d = 0; d < hd; d++)
                    memset(kt + d * TK + nk, 0, (size_t)(TK - nk) * sizeof(float));
            if (v_f16) {
                for (int64_t j = 0; j < nk; j++)
                    cpu_vec_f16_to_f32((const uint16_t *)(vb + (size_t)(j0 + j) * c->v->nb[2]), vbuf + j * hd, hd);
                vsrc = (const char *)vbuf;
                vstride = (size_t)hd * sizeof(float);
            } else {
                vsrc = vb + (size_t)j0 * c->v->nb[2];
                vstride = c->v->nb[2];
            }
#if HAVE_X86
            if (c->fast_tiled)
                tile_scores_avx(qs, kt, ss, L.rp, hd);
            else
#endif
                tile_scores_c(qs, kt, ss, L.rp, hd);
            for (int64_t r = 0; r < L.rp; r++) {
                float *sr = ss + r * TK, alpha;
                if (r >= rows) {
                    memset(sr, 0, TK * sizeof(float));
                    continue;
                }
                int64_t t = t0 + r / group, lim = nk;
                const float *mrow = NULL;
                if (c->causal && c->n_past + t + 1 - j0 < lim)
                    lim = c->n_past + t + 1 - j0;
                if (c->mask)
                    mrow = (const float *)((const char *)c->mask->data + t * c->mask->nb[1]) + j0;
#if HAVE_X86
                if (c->fast_tiled)
                    alpha = tile_softmax_avx(sr, nk, lim, c->scale, mrow, ms + r, ls + r);
                else
#endif
                    alpha = tile_softmax_c(sr, nk, lim, c->scale, mrow, ms + r, ls + r);
                if (alpha != 1.0f)
                    for (int64_t d = 0; d < hd; d++)
                        os[r * hd + d] *= alpha;
            }
#if HAVE_X86
            if (c->fast_tiled)
                tile_pv_avx(ss, vsrc, vstride, os, L.rp, nk, hd);
            else
#endif
                tile_pv_c(ss, vsrc, vstride, os, L.rp, nk, hd);
        }
        for (int64_t r = 0; r < rows; r++) {
            int64_t t = t0 + r / group, h = g * group + r % group;
            float *o = (float *)((char *)c->out->data + h * c->out->nb[1] + t * c->out->nb[2]);
            float inv = ls[r] > 0.0f ? 1.0f / ls[r] : 0.0f;
            for (int64_t d = 0; d < hd; d++)
                o[d] = os[r * hd + d] * inv;
        }
    }
}

static int kv_ok(const Tensor *x, int64_t hd, int64_t nkv, int64_t s)
{
    if (x->dtype != DTYPE_F32 && x->dtype != DTYPE_F16)
        return -ENOTSUP;
    if (x->ne[0] != hd || x->ne[1] != nkv || x->ne[2] != s || x->ne[3] != 1 ||
        x->nb[0] != (x->dtype == DTYPE_F32 ? 4u : 2u) || !x->data)
        return -EINVAL;
    return 0;
}

/* Make sure every thread has `need` floats (decode: HB × [S] scores; tiled: one TileLayout); grows at most a
 * few times over a process' life. */
static int scratch_reserve(CpuBackend *cb, size_t need)
{
    float *p;

    if (need <= cb->attn_scratch_len)
        return 0;
    if (need < cb->attn_scratch_len * 2)
        need = cb->attn_scratch_len * 2;
    if (need > SIZE_MAX / sizeof(float) / (size_t)cb->n_threads)
        return -ENOMEM;
    p = aligned_alloc(64, need * sizeof(float) * (size_t)cb->n_threads);
    if (!p)
        return -ENOMEM;
    free(cb->attn_scratch);
    cb->attn_scratch = p;
    cb->attn_scratch_len = need;
    return 0;
}

int cpu_op_attention(Backend *be, Tensor *out, const Tensor *q, const Tensor *k, const Tensor *v,
                     const AttnParams *p)
{
    CpuBackend *cb = cpu_backend(be);
    int64_t hd = q->ne[0], nh = q->ne[1], t = q->ne[2], nkv = k->ne[1], s = k->ne[2];
    AttnCtx c;
    int r;

    if (!p || q->dtype != DTYPE_F32 || out->dtype != DTYPE_F32)
        return !p ? -EINVAL : -ENOTSUP;
    if (q->nb[0] != 4 || out->nb[0] != 4 || q->ne[3] != 1 || !q->data || !out->data)
        return -EINVAL;
    for (int d = 0; d < TENSOR_MAX_DIMS; d++)
        if (out->ne[d] != q->ne[d])
            return -EINVAL;
    if (hd <= 0 || nkv <= 0 || nh % nkv || p->n_past < 0 || !isfinite(p->scale))
        return -EINVAL;
    if ((r = kv_ok(k, hd, nkv, s)) < 0 || (r = kv_ok(v, hd, nkv, s)) < 0)
        return r;
    if (p->mask) {
        const Tensor *m = p->mask;
        if (m->dtype != DTYPE_F32)
            return -ENOTSUP;
        if (m->ne[0] != s || m->ne[1] != t || m->ne[2] != 1 || m->ne[3] != 1 || m->nb[0] != 4 || !m->data)
            return -EINVAL;
    }
    if (nh == 0 || t == 0)
        return 0;
    int64_t s_pad = (s + 15) / 16 * 16, group = nh / nkv;
    int64_t bq = TR / group > 0 ? TR / group : 1;
    size_t need = t > 1 ? tile_layout(hd, bq * group).len : (size_t)s_pad * HB;
    r = scratch_reserve(cb, need);
    if (r < 0)
        return r;
    c = (AttnCtx){.out = out, .q = q, .k = k, .v = v, .mask = p->mask, .scale = p->scale,
                  .causal = p->causal, .n_past = p->n_past, .hd = hd, .nh = nh, .nkv = nkv, .t = t, .s = s,
                  .s_pad = s_pad, .bq = bq, .n_chunks = (group + HB - 1) / HB, .scratch = cb->attn_scratch,
                  .scratch_len = cb->attn_scratch_len};
#if HAVE_X86
    {
        const CpuFeatures *f = cpu_features();
        c.fast = f && f->avx512f && f->avx512bw && f->avx512vl && f->f16c && f->fma && hd % 64 == 0 &&
                 k->dtype == DTYPE_F16 && v->dtype == DTYPE_F16 && k->nb[0] == 2 && v->nb[0] == 2;
        c.fast_tiled = f && f->avx512f && f->avx512bw && f->avx512vl && f->f16c && f->fma;
    }
#endif
    /* one query (decode) over a short cache: a pool round trip costs more than the whole op */
    int64_t cost = nh * t * (s + 1) * hd * 2;
    if (t > 1)
        cpu_parallel(cb, cost, tiled_task, &c);
    else if (cost < ATTN_DECODE_INLINE && cb->parallel_min_cost > 0)
        attn_task(&c, 0, 1);
    else
        cpu_parallel(cb, cost, attn_task, &c);
    return 0;
}
