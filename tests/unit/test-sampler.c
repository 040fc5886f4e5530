/* test-sampler.c — lm/sampler.c against tools/ref/sampler_ref.py (NumPy) fixtures.
 *
 * - every case in fixtures/sampler/cases.txt: the filtered distribution matches within 1e-6 (absolute);
 * - greedy picks the argmax (lowest id among ties) without consuming randomness;
 * - the first 8 raw RNG outputs and a 1,000-token sequence (penalties over the drawn tokens, filters on)
 *   match the Python reimplementation exactly; the same seed repeats the sequence;
 * - 200,000 draws: every token frequency within 5 standard deviations (+1e-4) of the reference
 *   probability, and Pearson's chi-square below the 0.999 quantile for the degrees of freedom;
 * - invalid parameters → -EINVAL, NaN/+inf/all -inf logits → -EDOM, ret_token untouched on error.
 * Also prints the time per token at V = 128256 (no assertion on speed).
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sampler.h"
#include "test-util.h"

enum { MAX_V = 8192, MAX_CASES = 64, MAX_HIST = 64 };

typedef struct {
    char name[64];
    SamplerParams p;
    int V;
    float logits[MAX_V];
    int n_hist;
    int32_t hist[MAX_HIST];
    double probs[MAX_V];
} Case;

static Case g_cases[MAX_CASES];
static int g_n_cases;

static FILE *open_fixture(const char *name)
{
    char path[1024];
    return fopen(test_fixture_path(path, sizeof(path), "sampler", name), "r");
}

static int read_params(FILE *fp, SamplerParams *p)
{
    return fscanf(fp, " params %f %d %f %f %f %d %f", &p->temperature, &p->top_k, &p->top_p, &p->min_p,
                  &p->repeat_penalty, &p->repeat_last_n, &p->freq_penalty) == 7;
}

static int read_logits(FILE *fp, float *l, int V)
{
    char tok[64];
    if (fscanf(fp, " logits") != 0)
        return 0;
    for (int i = 0; i < V; i++) {
        if (fscanf(fp, "%63s", tok) != 1)
            return 0;
        l[i] = !strcmp(tok, "-inf") ? -INFINITY : strtof(tok, NULL);
    }
    return 1;
}

static int load_cases(void)
{
    FILE *fp = open_fixture("cases.txt");
    Case *c;

    if (!fp)
        return 0;
    while (g_n_cases < MAX_CASES) {
        c = &g_cases[g_n_cases];
        if (fscanf(fp, " case %63s", c->name) != 1)
            break;
        if (!read_params(fp, &c->p) || fscanf(fp, " vocab %d", &c->V) != 1 || c->V > MAX_V ||
            !read_logits(fp, c->logits, c->V) || fscanf(fp, " history %d", &c->n_hist) != 1 ||
            c->n_hist > MAX_HIST)
            break;
        for (int i = 0; i < c->n_hist; i++)
            if (fscanf(fp, "%d", &c->hist[i]) != 1)
                goto out;
        if (fscanf(fp, " probs") != 0)
            break;
        for (int i = 0; i < c->V; i++)
            if (fscanf(fp, "%lf", &c->probs[i]) != 1)
                goto out;
        g_n_cases++;
    }
out:
    fclose(fp);
    return g_n_cases;
}

static void test_distributions(void)
{
    float logits[MAX_V], probs[MAX_V];

    CHECK(g_n_cases >= 20);
    for (int k = 0; k < g_n_cases; k++) {
        const Case *c = &g_cases[k];
        Sampler *s = NULL;
        int n_ref = 0, n, bad = 0;

        CHECK_INT(sampler_new(c->V, &s), 0);
        if (!s)
            return;
        memcpy(logits, c->logits, sizeof(float) * (size_t)c->V);
        n = sampler_distribution(s, &c->p, logits, c->hist, c->n_hist, probs);
        for (int i = 0; i < c->V; i++) {
            n_ref += c->probs[i] > 0;
            if (!(fabs(probs[i] - c->probs[i]) <= 1e-6)) {
                if (!bad++)
                    fprintf(stderr, "case %s: token %d p=%.9g expected %.9g\n", c->name, i, probs[i], c->probs[i]);
            }
        }
        CHECK_INT(bad, 0);
        CHECK_INT(n, n_ref);
        if (c->p.temperature <= 0) {
            int32_t tok = -1, best = 0;
            uint64_t before[2];
            for (int i = 1; i < c->V; i++)
                if (c->logits[i] > c->logits[best])
                    best = i;
            sampler_set_seed(s, 9);
            memcpy(logits, c->logits, sizeof(float) * (size_t)c->V);
            CHECK_INT(sampler_sample(s, &c->p, logits, NULL, 0, &tok), 0);
            CHECK_INT(tok, best);
            /* greedy draws no random number: the RNG is where seed 9 left it */
            before[0] = sampler_rand_u64(s);
            sampler_set_seed(s, 9);
            before[1] = sampler_rand_u64(s);
            CHECK(before[0] == before[1]);
        }
        sampler_free(s);
    }
}

static void test_sequence(void)
{
    FILE *fp = open_fixture("sequence.txt");
    unsigned long long seed, raw[8];
    SamplerParams p;
    int V, n;
    float base[MAX_V], logits[MAX_V];
    static int32_t expect[1000], got[2][1000];
    Sampler *s = NULL;

    CHECK(fp != NULL);
    if (!fp)
        return;
    CHECK(fscanf(fp, " seed %llu", &seed) == 1);
    CHECK(read_params(fp, &p));
    CHECK(fscanf(fp, " vocab %d", &V) == 1 && V <= MAX_V);
    CHECK(read_logits(fp, base, V));
    CHECK(fscanf(fp, " raw") == 0);
    for (int i = 0; i < 8; i++)
        CHECK(fscanf(fp, "%llu", &raw[i]) == 1);
    CHECK(fscanf(fp, " tokens %d", &n) == 1 && n == 1000);
    for (int i = 0; i < 1000; i++)
        CHECK(fscanf(fp, "%d", &expect[i]) == 1);
    fclose(fp);

    CHECK_INT(sampler_new(V, &s), 0);
    if (!s)
        return;
    sampler_set_seed(s, seed);
    for (int i = 0; i < 8; i++)
        CHECK(sampler_rand_u64(s) == raw[i]);
    for (int run = 0; run < 2; run++) {
        sampler_set_seed(s, seed);
        for (int i = 0; i < 1000; i++) {
            memcpy(logits, base, sizeof(float) * (size_t)V);
            CHECK_INT(sampler_sample(s, &p, logits, got[run], i, &got[run][i]), 0);
        }
    }
    {
        int first = -1;
        for (int i = 0; i < 1000; i++)
            if (got[0][i] != expect[i] && first < 0)
                first = i;
        if (first >= 0)
            fprintf(stderr, "sequence differs at %d: %d vs %d\n", first, got[0][first], expect[first]);
        CHECK_INT(first, -1);
    }
    CHECK(memcmp(got[0], got[1], sizeof(got[0])) == 0);
    sampler_set_seed(s, seed + 1);
    CHECK(sampler_rand_u64(s) != raw[0]);
    sampler_free(s);
}

static void test_frequencies(const char *name)
{
    enum { N = 200000 };
    const Case *c = NULL;
    static int counts[MAX_V];
    float logits[MAX_V];
    Sampler *s = NULL;
    double chi2 = 0;
    int dof = -1, bad = 0;

    for (int k = 0; k < g_n_cases; k++)
        if (!strcmp(g_cases[k].name, name))
            c = &g_cases[k];
    CHECK(c != NULL);
    if (!c || sampler_new(c->V, &s) < 0)
        return;
    memset(counts, 0, sizeof(counts));
    sampler_set_seed(s, 12345);
    for (int i = 0; i < N; i++) {
        int32_t tok = -1;
        memcpy(logits, c->logits, sizeof(float) * (size_t)c->V);
        if (sampler_sample(s, &c->p, logits, c->hist, c->n_hist, &tok) < 0 || tok < 0 || tok >= c->V) {
            bad++;
            continue;
        }
        counts[tok]++;
    }
    CHECK_INT(bad, 0);
    for (int i = 0; i < c->V; i++) {
        double pr = c->probs[i], f = (double)counts[i] / N;
        if (pr == 0) {
            CHECK_INT(counts[i], 0);
            continue;
        }
        dof++;
        chi2 += (counts[i] - N * pr) * (counts[i] - N * pr) / (N * pr);
        CHECK_NEAR(f, pr, 5 * sqrt(pr * (1 - pr) / N) + 1e-4);
    }
    /* 0.999 quantile of chi-square(dof) via Wilson–Hilferty: dof·(1 − 2/(9·dof) + 3.09·sqrt(2/(9·dof)))³ */
    if (dof > 0) {
        double a = 2.0 / (9.0 * dof), q = dof * pow(1 - a + 3.09 * sqrt(a), 3);
        fprintf(stderr, "%s: chi2 %.2f dof %d (limit %.2f)\n", name, chi2, dof, q);
        CHECK(chi2 < q);
    }
    sampler_free(s);
}

static void test_invalid(void)
{
    Sampler *s = NULL;
    SamplerParams p, d;
    float l[8] = {1, 2, 3, 4, 5, 6, 7, 8}, probs[8];
    int32_t tok = 77, hist[2] = {1, 8};

    CHECK_INT(sampler_new(0, &s), -EINVAL);
    CHECK_INT(sampler_new(-5, &s), -EINVAL);
    CHECK(s == NULL);
    CHECK_INT(sampler_new(8, &s), 0);
    if (!s)
        return;
    sampler_params_default(&d);
    CHECK_INT(sampler_params_check(&d), 0);
#define BAD(field, value) do { p = d; p.field = value; CHECK_INT(sampler_sample(s, &p, l, NULL, 0, &tok), -EINVAL); \
    CHECK_INT(tok, 77); } while (0)
    BAD(temperature, NAN);
    BAD(temperature, INFINITY);
    BAD(top_k, -1);
    BAD(top_p, 0.0f);
    BAD(top_p, -0.5f);
    BAD(top_p, 1.01f);
    BAD(top_p, NAN);
    BAD(min_p, -0.01f);
    BAD(min_p, 1.5f);
    BAD(min_p, NAN);
    BAD(repeat_penalty, 0.0f);
    BAD(repeat_penalty, -1.0f);
    BAD(repeat_penalty, NAN);
    BAD(repeat_penalty, INFINITY);
    BAD(repeat_last_n, -2);
    BAD(freq_penalty, NAN);
    BAD(freq_penalty, -INFINITY);
#undef BAD
    CHECK_INT(sampler_sample(s, &d, l, hist, 2, &tok), -EINVAL);   /* id 8 out of range */
    hist[1] = -1;
    CHECK_INT(sampler_sample(s, &d, l, hist, 2, &tok), -EINVAL);
    CHECK_INT(sampler_sample(s, &d, l, hist, -1, &tok), -EINVAL);
    CHECK_INT(sampler_sample(s, &d, l, NULL, 3, &tok), -EINVAL);
    CHECK_INT(sampler_sample(s, NULL, l, NULL, 0, &tok), -EINVAL);
    CHECK_INT(sampler_distribution(s, &d, l, NULL, 0, NULL), -EINVAL);
    l[3] = NAN;
    CHECK_INT(sampler_sample(s, &d, l, NULL, 0, &tok), -EDOM);
    l[3] = INFINITY;
    CHECK_INT(sampler_sample(s, &d, l, NULL, 0, &tok), -EDOM);
    for (int i = 0; i < 8; i++)
        l[i] = -INFINITY;
    CHECK_INT(sampler_sample(s, &d, l, NULL, 0, &tok), -EDOM);
    CHECK_INT(tok, 77);
    /* one finite logit among -inf: always that token, distribution one-hot */
    l[5] = -3.0f;
    CHECK_INT(sampler_distribution(s, &d, l, NULL, 0, probs), 1);
    CHECK_NEAR(probs[5], 1.0, 0);
    CHECK_INT(sampler_sample(s, &d, l, NULL, 0, &tok), 0);
    CHECK_INT(tok, 5);
    sampler_free(s);
    sampler_free(NULL);
}

static void bench_big_vocab(void)
{
    enum { V = 128256, ITERS = 5 };
    Sampler *s = NULL;
    float *base = malloc(sizeof(float) * V), *l = malloc(sizeof(float) * V);
    SamplerParams p;
    int32_t hist[64], tok = -1;
    uint64_t x = 1;

    if (!base || !l || sampler_new(V, &s) < 0) {
        CHECK(0);
        goto out;
    }
    for (int i = 0; i < V; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        base[i] = (float)((double)(x >> 11) * 0x1.0p-53 * 20.0 - 10.0);
    }
    for (int i = 0; i < 64; i++)
        hist[i] = i * 1000;
    for (int mode = 0; mode < 3; mode++) {
        struct timespec t0, t1;
        sampler_params_default(&p);
        p.repeat_penalty = 1.1f;
        if (mode == 1) { p.top_k = 0; p.min_p = 0; }             /* top-p only, full vocab */
        if (mode == 2) { p.top_k = 0; p.top_p = 1; p.min_p = 0; } /* plain softmax over V */
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int i = 0; i < ITERS; i++) {
            memcpy(l, base, sizeof(float) * V);
            CHECK_INT(sampler_sample(s, &p, l, hist, 64, &tok), 0);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        fprintf(stderr, "V=%d mode %s: %.3f ms/token\n", V, mode == 0 ? "default(top_k 40)" :
                mode == 1 ? "top_p 0.95" : "plain", ((t1.tv_sec - t0.tv_sec) * 1e3 +
                (t1.tv_nsec - t0.tv_nsec) / 1e6) / ITERS);
        CHECK(tok >= 0 && tok < V);
    }
out:
    sampler_free(s);
    free(base);
    free(l);
}

int main(void)
{
    if (!load_cases()) {
        fprintf(stderr, "cannot read fixtures/sampler/cases.txt\n");
        return 1;
    }
    test_distributions();
    test_sequence();
    test_frequencies("plain_T1");
    test_frequencies("combined");
    test_frequencies("repeat_freq_filters");
    test_frequencies("masked_inf");
    test_invalid();
    bench_big_vocab();
    return test_exit();
}
