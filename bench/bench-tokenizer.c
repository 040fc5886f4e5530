/* bench-tokenizer.c — tokenizer speed on this CPU (single thread): the SmolLM2-135M GGUF vocabulary
 * (load time; the test corpus encoded without and with special-token parsing, and decoded), and the
 * byte-level BPE fixture on a 10,000-character word and 100 kB of random-ish bytes (the case the heap-based
 * merges keep near-linear). Medians of `reps` runs. What tests/unit/test-tokenizer.c used to assert
 * (2,102 corpus lines in < 1 s, the 10k word + 100 kB in < 2 s) is printed as a budget line here instead:
 * speed is not a test verdict (a loaded machine or valgrind fails it), a correctness check stays a test.
 * Usage: bench-tokenizer [reps, default 5] — from the source root, or with MYNA_FIXTURES set. The SmolLM2
 * part is skipped with a note when the model is not installed (scripts/fetch-models). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-util.h"
#include "gguf.h"
#include "paths.h"
#include "tokenizer.h"

enum { MAX_REPS = 50, MAX_IDS = 8192 };

typedef struct {
    char *data;
    const char **line;
    size_t *len;
    int n;
    size_t bytes;
} Corpus;

static int corpus_load(const char *path, Corpus *c)
{
    FILE *fp = fopen(path, "rb");
    long sz;
    int cnt = 0;

    memset(c, 0, sizeof(*c));
    if (!fp || fseek(fp, 0, SEEK_END) != 0 || (sz = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0 ||
        !(c->data = malloc((size_t)sz + 1)) || fread(c->data, 1, (size_t)sz, fp) != (size_t)sz) {
        fprintf(stderr, "bench-tokenizer: cannot read %s\n", path);
        if (fp)
            fclose(fp);
        return -1;
    }
    fclose(fp);
    c->data[sz] = 0;
    for (long i = 0; i < sz; i++)
        cnt += c->data[i] == '\n';
    c->line = calloc((size_t)cnt + 1, sizeof(*c->line));
    c->len = calloc((size_t)cnt + 1, sizeof(*c->len));
    if (!c->line || !c->len)
        return -1;
    for (char *p = c->data, *end = c->data + sz; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        c->line[c->n] = p;
        c->len[c->n++] = l;
        c->bytes += l;
        p += l + 1;
    }
    return 0;
}

static void corpus_free(Corpus *c)
{
    free(c->data);
    free(c->line);
    free(c->len);
}

/* Seconds to encode every corpus line once; *ret_ids gets the total id count. */
static double encode_corpus(const Tokenizer *t, const Corpus *c, int allow_special, int64_t *ret_ids)
{
    static int32_t ids[MAX_IDS];
    int64_t total = 0;
    double t0 = bench_now_s();
    for (int i = 0; i < c->n; i++) {
        int n = tokenizer_encode(t, c->line[i], c->len[i], 0, allow_special, ids, MAX_IDS);
        total += n > 0 ? n : 0;
    }
    *ret_ids = total;
    return bench_now_s() - t0;
}

static double decode_corpus(const Tokenizer *t, const Corpus *c)
{
    static int32_t ids[MAX_IDS];
    static char text[1 << 16];
    double secs = 0;
    for (int i = 0; i < c->n; i++) {
        int n = tokenizer_encode(t, c->line[i], c->len[i], 0, 0, ids, MAX_IDS);
        if (n <= 0 || n > MAX_IDS)
            continue;
        double t0 = bench_now_s();
        tokenizer_decode(t, ids, n, 0, text, sizeof(text));
        secs += bench_now_s() - t0;
    }
    return secs;
}

static void bench_smollm2(const Corpus *c, int reps)
{
    char path[4096], err[256] = "";
    double load[MAX_REPS], plain[MAX_REPS], special[MAX_REPS], dec[MAX_REPS];
    GgufFile *f = NULL;
    Tokenizer *t = NULL;
    int64_t n_ids = 0;
    int n_vocab = 0;

    paths_model_file("SmolLM2-135M-Instruct.Q4_1.gguf", path, sizeof(path));
    if (gguf_open(path, &f, err, sizeof(err)) < 0) {
        printf("smollm2        skipped: %s: %s (run scripts/fetch-models)\n", path, err);
        return;
    }
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now_s();
        if (tokenizer_load_gguf(f, &t, err, sizeof(err)) < 0) {
            printf("smollm2        load failed: %s\n", err);
            gguf_close(f);
            return;
        }
        load[r] = bench_now_s() - t0;
        plain[r] = encode_corpus(t, c, 0, &n_ids);
        special[r] = encode_corpus(t, c, 1, &n_ids);
        dec[r] = decode_corpus(t, c);
        n_vocab = tokenizer_n_vocab(t);
        tokenizer_free(t);
        t = NULL;
    }
    double p = bench_median(plain, reps);
    printf("smollm2        load %.1f ms (%d tokens)\n", bench_median(load, reps) * 1e3, n_vocab);
    printf("smollm2        encode %d lines, %.1f kB: %.1f ms plain (%.1f MB/s, %lld ids), %.1f ms special\n",
           c->n, c->bytes / 1e3, p * 1e3, c->bytes / p / 1e6, (long long)n_ids, bench_median(special, reps) * 1e3);
    printf("smollm2        decode the same ids: %.1f ms\n", bench_median(dec, reps) * 1e3);
    printf("smollm2        budget: corpus encode < 1000 ms: %s\n", p < 1.0 ? "yes" : "NO");
    gguf_close(f);
}

static void bench_long_input(const char *fixtures, int reps)
{
    char path[4096], err[256] = "";
    Tokenizer *t = NULL;
    size_t big = 100000;
    double word[MAX_REPS], bytes[MAX_REPS];
    int n1 = 0, n2 = 0;

    snprintf(path, sizeof(path), "%s/tokenizer/bpe-tiny.json", fixtures);
    if (tokenizer_load_hf(path, &t, err, sizeof(err)) < 0) {
        printf("bpe-tiny       skipped: %s\n", err);
        return;
    }
    char *s = malloc(big);
    int32_t *ids = malloc(sizeof(int32_t) * big);
    if (!s || !ids) {
        free(s);
        free(ids);
        tokenizer_free(t);
        return;
    }
    for (size_t i = 0; i < big; i++) /* the same input as the unit test */
        s[i] = i < 10000 ? 'x' : (char)((i * 2654435761u) >> 13);
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now_s();
        n1 = tokenizer_encode(t, s, 10000, 0, 0, ids, (int)big);
        double t1 = bench_now_s();
        n2 = tokenizer_encode(t, s, big, 0, 1, ids, (int)big);
        word[r] = t1 - t0;
        bytes[r] = bench_now_s() - t1;
    }
    double w = bench_median(word, reps), b = bench_median(bytes, reps);
    printf("bpe-tiny       10,000-character word: %d ids in %.2f ms\n", n1, w * 1e3);
    printf("bpe-tiny       100 kB random-ish bytes: %d ids in %.2f ms\n", n2, b * 1e3);
    printf("bpe-tiny       budget: both < 2000 ms: %s\n", w + b < 2.0 ? "yes" : "NO");
    free(s);
    free(ids);
    tokenizer_free(t);
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    const char *fixtures = getenv("MYNA_FIXTURES") ? getenv("MYNA_FIXTURES") : "tests/fixtures";
    char path[4096];
    Corpus c;

    if (reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "usage: bench-tokenizer [reps 1..%d]\n", MAX_REPS);
        return 2;
    }
    snprintf(path, sizeof(path), "%s/tokenizer/corpus.txt", fixtures);
    if (corpus_load(path, &c) < 0)
        return 1;
    bench_smollm2(&c, reps);
    bench_long_input(fixtures, reps);
    corpus_free(&c);
    return 0;
}
