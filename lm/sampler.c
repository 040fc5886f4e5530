/* sampler.c — see sampler.h. Penalty semantics follow llama.cpp's penalties sampler / HF
 * RepetitionPenaltyLogitsProcessor (positive logits divided, negative multiplied, once per distinct token)
 * plus an OpenAI-style frequency penalty over the same window. Filters follow llama.cpp's top-k / top-p /
 * min-p samplers. Reference for the numbers: tools/ref/sampler_ref.py (NumPy/Python, float64), which the
 * tests compare against within 1e-6, and which reproduces the draw sequence for a seed.
 *
 * Numerics: penalties in float32 on the logits; then double: p_i = exp((l_i - l_max) / T) / Z over the
 * top-k set, candidates ordered by (logit desc, id asc) — the order cumulative sums and the draw walk use.
 * Draw: u = (xoshiro256** >> 11) · 2^-53, first kept token whose cumulative renormalised mass exceeds u.
 * Not here: the LM's generation loop (stop tokens, max_tokens).
 */
#include "sampler.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    float l;
    int32_t id;
    double p;
} Cand;

struct Sampler {
    int n_vocab;
    uint64_t st[4];   /* xoshiro256** state */
    int32_t *counts;  /* owned [V], all zero between calls */
    Cand *cand;       /* owned [V] */
};

enum { SAMPLER_PREFIX = 256 }; /* candidates sorted first when no top-k bounds the set; grown 16× as needed */

void sampler_params_default(SamplerParams *p)
{
    p->temperature = 0.8f;
    p->top_k = 40;
    p->top_p = 0.95f;
    p->min_p = 0.05f;
    p->repeat_penalty = 1.0f;
    p->repeat_last_n = 64;
    p->freq_penalty = 0.0f;
}

int sampler_params_check(const SamplerParams *p)
{
    if (!p || !isfinite(p->temperature) || p->top_k < 0)
        return -EINVAL;
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
        return -EINVAL;
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        return -EINVAL;
    if (!(p->repeat_penalty > 0.0f) || !isfinite(p->repeat_penalty))
        return -EINVAL;
    if (p->repeat_last_n < -1 || !isfinite(p->freq_penalty))
        return -EINVAL;
    return 0;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void sampler_set_seed(Sampler *s, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        s->st[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t sampler_rand_u64(Sampler *s)
{
    uint64_t *st = s->st;
    uint64_t r = rotl(st[1] * 5, 7) * 9, t = st[1] << 17;

    st[2] ^= st[0];
    st[3] ^= st[1];
    st[1] ^= st[2];
    st[0] ^= st[3];
    st[2] ^= t;
    st[3] = rotl(st[3], 45);
    return r;
}

int sampler_new(int n_vocab, Sampler **ret)
{
    Sampler *s;

    if (n_vocab < 1)
        return -EINVAL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->n_vocab = n_vocab;
    s->counts = calloc((size_t)n_vocab, sizeof(*s->counts));
    s->cand = calloc((size_t)n_vocab, sizeof(*s->cand));
    if (!s->counts || !s->cand) {
        sampler_free(s);
        return -ENOMEM;
    }
    sampler_set_seed(s, 0);
    *ret = s;
    return 0;
}

void sampler_free(Sampler *s)
{
    if (!s)
        return;
    free(s->counts);
    free(s->cand);
    free(s);
}

/* Total order: higher logit first, then lower id. */
static int better(const Cand *a, const Cand *b)
{
    return a->l > b->l || (a->l == b->l && a->id < b->id);
}

static int cmp_cand(const void *a, const void *b)
{
    return better(a, b) ? -1 : better(b, a) ? 1 : 0;
}

static void swap_cand(Cand *a, Cand *b)
{
    Cand t = *a;
    *a = *b;
    *b = t;
}

/* Rearranges c[0, n) so that c[0, k) are the k best (unordered). Elements are distinct under better(). */
static void select_top(Cand *c, int n, int k)
{
    int lo = 0, hi = n - 1;

    while (lo < hi) {
        int mid = lo + (hi - lo) / 2, store = lo;
        /* median of three as pivot, moved to hi */
        if (better(&c[mid], &c[lo]))
            swap_cand(&c[mid], &c[lo]);
        if (better(&c[hi], &c[lo]))
            swap_cand(&c[hi], &c[lo]);
        if (better(&c[mid], &c[hi]))
            swap_cand(&c[mid], &c[hi]);
        for (int i = lo; i < hi; i++)
            if (better(&c[i], &c[hi]))
                swap_cand(&c[i], &c[store++]);
        swap_cand(&c[store], &c[hi]);
        if (store == k - 1 || store == k)
            return;
        if (store < k)
            lo = store + 1;
        else
            hi = store - 1;
    }
}

static void apply_penalties(Sampler *s, const SamplerParams *p, float *logits, const int32_t *hist, int n_hist)
{
    int start;

    if (p->repeat_last_n == 0 || (p->repeat_penalty == 1.0f && p->freq_penalty == 0.0f) || n_hist == 0)
        return;
    start = p->repeat_last_n < 0 || p->repeat_last_n >= n_hist ? 0 : n_hist - p->repeat_last_n;
    for (int i = start; i < n_hist; i++)
        s->counts[hist[i]]++;
    for (int i = start; i < n_hist; i++) {
        int32_t id = hist[i];
        float l = logits[id];
        if (!s->counts[id])
            continue; /* already applied */
        if (p->repeat_penalty != 1.0f)
            l = l > 0.0f ? l / p->repeat_penalty : l * p->repeat_penalty;
        l -= p->freq_penalty * (float)s->counts[id];
        logits[id] = l;
        s->counts[id] = 0;
    }
}

/* Runs the pipeline; s->cand[0, *ret_n) holds the kept tokens in order with renormalised p. */
static int prepare(Sampler *s, const SamplerParams *p, float *logits, const int32_t *hist, int n_hist,
                   int *ret_n)
{
    const int V = s->n_vocab;
    Cand *c = s->cand;
    int n = 0, n_sorted, keep;
    float lmax = -INFINITY;
    int32_t amax = -1;
    double z = 0.0, cum, t;
    int r = sampler_params_check(p);

    if (r < 0)
        return r;
    if (!logits || n_hist < 0 || (n_hist > 0 && !hist))
        return -EINVAL;
    for (int i = 0; i < n_hist; i++)
        if (hist[i] < 0 || hist[i] >= V)
            return -EINVAL;
    apply_penalties(s, p, logits, hist, n_hist);
    for (int i = 0; i < V; i++) {
        float l = logits[i];
        if (isnan(l) || l == INFINITY)
            return -EDOM;
        if (l > lmax) {
            lmax = l;
            amax = i;
        }
    }
    if (amax < 0)
        return -EDOM; /* all -inf */
    if (p->temperature <= 0.0f) {
        c[0] = (Cand){lmax, amax, 1.0};
        *ret_n = 1;
        return 0;
    }
    for (int i = 0; i < V; i++)
        if (logits[i] != -INFINITY)
            c[n++] = (Cand){logits[i], i, 0.0};
    if (p->top_k > 0 && p->top_k < n) {
        select_top(c, n, p->top_k);
        n = p->top_k;
    }
    t = (double)p->temperature;
    for (int i = 0; i < n; i++) {
        c[i].p = exp(((double)c[i].l - (double)lmax) / t);
        z += c[i].p;
    }
    /* Sort a prefix; enough when the top-p / min-p cut falls inside it, else sort the rest too. */
    n_sorted = n;
    if (n > SAMPLER_PREFIX && (p->top_p < 1.0f || p->min_p > 0.0f)) {
        select_top(c, n, SAMPLER_PREFIX);
        n_sorted = SAMPLER_PREFIX;
    }
    qsort(c, (size_t)n_sorted, sizeof(*c), cmp_cand);
    for (;;) {
        double pmin = (double)p->min_p * (c[0].p / z);
        keep = n_sorted;
        cum = 0.0;
        for (int i = 0; i < n_sorted; i++) {
            double pi = c[i].p / z;
            if (p->min_p > 0.0f && pi < pmin) {
                keep = i;
                break;
            }
            cum += pi;
            if (p->top_p < 1.0f && cum >= (double)p->top_p) {
                keep = i + 1;
                break;
            }
        }
        if (keep < n_sorted || n_sorted == n)
            break;
        /* grow the sorted prefix 16× (the rest is all worse than it, so order is preserved) */
        {
            int grow = n - n_sorted <= 15 * n_sorted ? n - n_sorted : 15 * n_sorted;
            if (grow < n - n_sorted)
                select_top(c + n_sorted, n - n_sorted, grow);
            qsort(c + n_sorted, (size_t)grow, sizeof(*c), cmp_cand);
            n_sorted += grow;
        }
    }
    if (keep < 1)
        keep = 1;
    cum = 0.0;
    for (int i = 0; i < keep; i++)
        cum += c[i].p;
    for (int i = 0; i < keep; i++)
        c[i].p /= cum;
    *ret_n = keep;
    return 0;
}

int sampler_sample(Sampler *s, const SamplerParams *p, float *logits, const int32_t *history, int n_history,
                   int32_t *ret_token)
{
    int n, r;
    double u, acc = 0.0;

    if (!s || !ret_token)
        return -EINVAL;
    r = prepare(s, p, logits, history, n_history, &n);
    if (r < 0)
        return r;
    if (n == 1) {
        *ret_token = s->cand[0].id;
        return 0;
    }
    u = (double)(sampler_rand_u64(s) >> 11) * 0x1.0p-53;
    for (int i = 0; i < n; i++) {
        acc += s->cand[i].p;
        if (u < acc) {
            *ret_token = s->cand[i].id;
            return 0;
        }
    }
    *ret_token = s->cand[n - 1].id; /* rounding left u above the last cumulative sum */
    return 0;
}

int sampler_distribution(Sampler *s, const SamplerParams *p, float *logits, const int32_t *history,
                         int n_history, float *ret_probs)
{
    int n, r;

    if (!s || !ret_probs)
        return -EINVAL;
    r = prepare(s, p, logits, history, n_history, &n);
    if (r < 0)
        return r;
    memset(ret_probs, 0, (size_t)s->n_vocab * sizeof(*ret_probs));
    for (int i = 0; i < n; i++)
        ret_probs[s->cand[i].id] = (float)s->cand[i].p;
    return n;
}
