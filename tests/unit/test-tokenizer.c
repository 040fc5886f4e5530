/* test-tokenizer.c — tokenizer vs the HF `tokenizers` reference (tools/ref/tokenizer_ref.py fixtures).
 *
 * Modes (argv[1]):
 *   smollm2  SmolLM2-135M-Instruct GGUF vocabulary: ids of every corpus line identical to the reference,
 *            with and without special-token parsing; decode(encode(x)) == x. Exit 77 when the model
 *            is not installed (scripts/fetch-models). Speed is measured by bench/bench-tokenizer, not here.
 *   fixtures Llama-3 pre-tokenizer splits, SentencePiece-style and byte-level tokenizer.json vocabularies
 *            (ids + round trip), the streaming detokenizer, hostile tokenizer.json and GGUF metadata, a
 *            long word. Exact equality everywhere (tolerance: none).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "paths.h"
#include "test-util.h"
#include "tokenizer.h"

typedef struct {
    char *data;
    char **line;
    size_t *len;
    int n;
} Lines;

/* Split on '\n' only (a '\r' stays in its line), in place. */
static int lines_load(const char *path, Lines *l)
{
    size_t n;
    memset(l, 0, sizeof(*l));
    if (!(l->data = test_read_file(path, &n)))
        return -errno;
    int cnt = 0;
    for (size_t i = 0; i < n; i++)
        cnt += l->data[i] == '\n';
    l->line = calloc((size_t)cnt + 1, sizeof(char *));
    l->len = calloc((size_t)cnt + 1, sizeof(size_t));
    size_t s = 0;
    for (size_t i = 0; i < n; i++)
        if (l->data[i] == '\n') {
            l->data[i] = '\0';
            l->line[l->n] = l->data + s;
            l->len[l->n++] = i - s;
            s = i + 1;
        }
    return 0;
}

static void lines_free(Lines *l)
{
    free(l->data);
    free(l->line);
    free(l->len);
}

/* Parse a line of space-separated integers. */
static int parse_ints(const char *s, int64_t *out, int cap)
{
    int n = 0;
    while (*s) {
        char *e;
        long long v = strtoll(s, &e, 10);
        if (e == s)
            break;
        if (n < cap)
            out[n] = v;
        n++;
        s = e;
    }
    return n;
}

static char g_path[4096];
static const char *fixture(const char *name)
{
    return test_fixture_path(g_path, sizeof(g_path), "tokenizer", name);
}

#define MAX_IDS 8192

/* Compare ids of every corpus line with an .ids fixture; round-trip decode (2: lines without control
 * tokens only). */
static void check_ids(const Tokenizer *t, const Lines *corpus, const char *ids_name, int allow_special,
                        int round_trip)
{
    Lines ref;
    CHECK_INT(lines_load(fixture(ids_name), &ref), 0);
    CHECK_INT(ref.n, corpus->n);
    static int32_t ids[MAX_IDS];
    static int64_t want[MAX_IDS];
    static char text[1 << 16];
    int bad = 0, bad_rt = 0;
    for (int i = 0; i < corpus->n && i < ref.n; i++) {
        int n = tokenizer_encode(t, corpus->line[i], corpus->len[i], 0, allow_special, ids, MAX_IDS);
        int nw = parse_ints(ref.line[i], want, MAX_IDS);
        int same = n == nw && n <= MAX_IDS;
        for (int k = 0; same && k < n; k++)
            same = ids[k] == want[k];
        if (!same && bad++ < 5) {
            fprintf(stderr, "%s line %d: got %d ids, expected %d:\n  got ", ids_name, i + 1, n, nw);
            for (int k = 0; k < n && k < 40; k++)
                fprintf(stderr, " %d", ids[k]);
            fprintf(stderr, "\n  want");
            for (int k = 0; k < nw && k < 40; k++)
                fprintf(stderr, " %lld", (long long)want[k]);
            fprintf(stderr, "\n");
        }
        int has_control = 0; /* SentencePiece: "▁" is prepended after a special token, not lossless */
        for (int k = 0; round_trip == 2 && k < n && k < MAX_IDS; k++)
            has_control |= tokenizer_token_type(t, ids[k]) == TOKEN_TYPE_CONTROL;
        if (round_trip && !has_control && n > 0 && n <= MAX_IDS) {
            int m = tokenizer_decode(t, ids, n, 0, text, sizeof(text));
            if ((m != (int)corpus->len[i] || memcmp(text, corpus->line[i], corpus->len[i]) != 0) && bad_rt++ < 5)
                fprintf(stderr, "%s line %d: round trip gives '%.*s'\n", ids_name, i + 1, m > 200 ? 200 : m, text);
        }
    }
    CHECK_INT(bad, 0);
    if (round_trip)
        CHECK_INT(bad_rt, 0);
    lines_free(&ref);
}

static int test_smollm2(const Lines *corpus)
{
    char path[4096], err[256] = "";
    paths_model_file("SmolLM2-135M-Instruct.Q4_1.gguf", path, sizeof(path));
    GgufFile *f = NULL;
    if (gguf_open(path, &f, err, sizeof(err)) < 0) {
        fprintf(stderr, "skip: %s: %s (run scripts/fetch-models)\n", path, err);
        return 77;
    }
    Tokenizer *t = NULL;
    int r = tokenizer_load_gguf(f, &t, err, sizeof(err));
    CHECK_INT(r, 0);
    if (r < 0) {
        fprintf(stderr, "load: %s\n", err);
        gguf_close(f);
        return test_exit();
    }
    CHECK_INT(tokenizer_n_vocab(t), 49152);
    CHECK_INT(tokenizer_bos(t), 1);
    CHECK_INT(tokenizer_eos(t), 2);
    CHECK_INT(tokenizer_add_bos_default(t), 0);
    CHECK_INT(tokenizer_find_token(t, "<|im_end|>"), 2);
    CHECK(tokenizer_is_eog(t, 2));
    CHECK(tokenizer_is_eog(t, 0)); /* <|endoftext|> */
    CHECK(!tokenizer_is_eog(t, 1));
    CHECK_INT(tokenizer_token_type(t, 1), TOKEN_TYPE_CONTROL);
    CHECK(strcmp(tokenizer_piece(t, 1), "<|im_start|>") == 0);

    check_ids(t, corpus, "smollm2.ids", 0, 1);
    check_ids(t, corpus, "smollm2-special.ids", 1, 0);

    /* BOS and the capacity contract */
    int32_t ids[4];
    int n = tokenizer_encode(t, "Hello world, again", 18, 1, 0, ids, 2);
    CHECK(n > 2);
    CHECK_INT(ids[0], 1);
    int32_t sp[8];
    n = tokenizer_encode(t, "<|im_start|>user", 16, 0, 1, sp, 8);
    CHECK(n >= 2);
    CHECK_INT(sp[0], 1);
    tokenizer_free(t);
    gguf_close(f);
    return test_exit();
}

static void test_llama3_pretok(const Lines *corpus)
{
    PreTokenizer *p = NULL;
    char err[256];
    CHECK_INT(pretokenizer_new("llama-bpe", &p, err, sizeof(err)), 0);
    CHECK_INT(pretokenizer_new("xyz", NULL, err, sizeof(err)), -ENOTSUP);
    CHECK(strstr(err, "tokenizer.ggml.pre 'xyz' is not supported (known:") != NULL);
    Lines ref;
    CHECK_INT(lines_load(fixture("llama3-pretok.txt"), &ref), 0);
    static size_t ends[MAX_IDS];
    static int64_t want[MAX_IDS];
    int bad = 0;
    for (int i = 0; p && i < corpus->n && i < ref.n; i++) {
        int n = pretokenizer_split(p, corpus->line[i], corpus->len[i], ends, MAX_IDS);
        int nw = parse_ints(ref.line[i], want, MAX_IDS);
        int same = n == nw;
        for (int k = 0; same && k < n; k++)
            same = (int64_t)ends[k] == want[k];
        if (!same && bad++ < 5) {
            fprintf(stderr, "llama3 pretok line %d: got %d pieces, expected %d:", i + 1, n, nw);
            for (int k = 0, s = 0; k < n && k < 30; s = (int)ends[k], k++)
                fprintf(stderr, " [%.*s]", (int)ends[k] - s, corpus->line[i] + s);
            fprintf(stderr, "\n");
        }
    }
    CHECK_INT(bad, 0);
    lines_free(&ref);
    pretokenizer_free(p);
}

static Tokenizer *load_fixture_json(const char *name)
{
    Tokenizer *t = NULL;
    char err[256] = "";
    int r = tokenizer_load_hf(fixture(name), &t, err, sizeof(err));
    CHECK_INT(r, 0);
    if (r < 0)
        fprintf(stderr, "%s: %s\n", name, err);
    return t;
}

/* Push ids one at a time through a TokDecoder; the concatenation must equal the decode, and every output
 * chunk must end on a character boundary. */
static void check_stream(const Tokenizer *t, const int32_t *ids, int n, const char *expect, size_t expect_len)
{
    TokDecoder d;
    tok_decoder_init(&d);
    static char all[1 << 16];
    char out[TOK_DECODER_OUT_MAX];
    size_t m = 0;
    int partial = 0;
    for (int i = 0; i < n; i++) {
        int k = tok_decoder_push(&d, t, ids[i], out, sizeof(out));
        CHECK(k >= 0);
        if (k > 0 && ((unsigned char)out[k - 1] >= 0xC0))
            partial++;
        if (k > 0 && m + (size_t)k < sizeof(all)) {
            memcpy(all + m, out, (size_t)k);
            m += (size_t)k;
        }
    }
    int k = tok_decoder_flush(&d, out, sizeof(out));
    CHECK_INT(k, 0);
    CHECK_INT(partial, 0);
    CHECK_INT(m, expect_len);
    CHECK(m == expect_len && memcmp(all, expect, m) == 0);
}

static void test_stream(const Tokenizer *bpe)
{
    /* UTF-8 split across byte tokens: the tiny vocabulary has no merges for rare emoji/CJK bytes */
    const char *s = "a\xF0\x9F\xA6\x9C \xE4\xBD\xA0\xE5\xA5\xBD \xC3\xA9!";
    int32_t ids[64];
    int n = tokenizer_encode(bpe, s, strlen(s), 0, 0, ids, 64);
    CHECK(n > 6);
    check_stream(bpe, ids, n, s, strlen(s));

    /* byte by byte: the 4-byte emoji gives nothing until its last byte */
    TokDecoder d;
    tok_decoder_init(&d);
    char out[TOK_DECODER_OUT_MAX];
    const unsigned char emoji[4] = { 0xF0, 0x9F, 0xA6, 0x9C };
    for (int i = 0; i < 4; i++) {
        int32_t id = -1; /* the token whose bytes are exactly this one byte */
        for (int v = 0; v < tokenizer_n_vocab(bpe) && id < 0; v++) {
            char b[8];
            if (tokenizer_token_bytes(bpe, v, b, sizeof(b)) == 1 && (unsigned char)b[0] == emoji[i])
                id = v;
        }
        CHECK(id >= 0);
        int k = tok_decoder_push(&d, bpe, id, out, sizeof(out));
        CHECK_INT(k, i < 3 ? 0 : 4);
        if (i == 3)
            CHECK(memcmp(out, emoji, 4) == 0);
    }
    /* an invalid byte becomes U+FFFD; a dangling lead byte is flushed as U+FFFD */
    int32_t ff = -1, e4 = -1;
    for (int v = 0; v < tokenizer_n_vocab(bpe); v++) {
        char b[8];
        if (tokenizer_token_bytes(bpe, v, b, sizeof(b)) == 1) {
            if ((unsigned char)b[0] == 0xFF)
                ff = v;
            if ((unsigned char)b[0] == 0xE4)
                e4 = v;
        }
    }
    CHECK(ff >= 0 && e4 >= 0);
    CHECK_INT(tok_decoder_push(&d, bpe, ff, out, sizeof(out)), 3);
    CHECK(memcmp(out, "\xEF\xBF\xBD", 3) == 0);
    CHECK_INT(tok_decoder_push(&d, bpe, e4, out, sizeof(out)), 0);
    CHECK_INT(tok_decoder_flush(&d, out, sizeof(out)), 3);
    /* small buffer: -ENOBUFS and nothing consumed */
    tok_decoder_init(&d);
    int32_t hi = tokenizer_find_token(bpe, "the");
    if (hi >= 0) {
        char tiny[2];
        CHECK_INT(tok_decoder_push(&d, bpe, hi, tiny, sizeof(tiny)), -ENOBUFS);
        CHECK_INT(tok_decoder_push(&d, bpe, hi, out, sizeof(out)), 3);
    }
    /* control tokens are skipped unless render_special */
    int32_t im = tokenizer_find_token(bpe, "<|im_end|>");
    CHECK(im >= 0);
    CHECK_INT(tok_decoder_push(&d, bpe, im, out, sizeof(out)), 0);
    d.render_special = 1;
    CHECK_INT(tok_decoder_push(&d, bpe, im, out, sizeof(out)), 10);
    CHECK_INT(tok_decoder_push(&d, bpe, tokenizer_n_vocab(bpe), out, sizeof(out)), -EINVAL);
}

static void expect_json_error(const char *json, int code, const char *needle)
{
    Tokenizer *t = NULL;
    char err[256] = "";
    int r = tokenizer_load_hf_memory(json, strlen(json), &t, err, sizeof(err));
    CHECK_INT(r, code);
    CHECK(t == NULL);
    if (!strstr(err, needle)) {
        fprintf(stderr, "error '%s' lacks '%s'\n", err, needle);
        CHECK(strstr(err, needle) != NULL);
    }
    tokenizer_free(t);
}

#define PRE "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true},"
static void test_hostile_json(void)
{
    expect_json_error("{", -EBADMSG, "tokenizer.json");
    expect_json_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a c\"]}," PRE "\"x\":0}",
                      -EBADMSG, "model.merges[0]: 'c' is not in the vocabulary");
    expect_json_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a b\"]}," PRE "\"x\":0}",
                      -EBADMSG, "model.merges[0]: merged token 'ab'");
    expect_json_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":\"0\"},\"merges\":[]}," PRE "\"x\":0}",
                      -EBADMSG, "model.vocab['a']: expected an integer id");
    expect_json_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[7]}," PRE "\"x\":0}",
                      -EBADMSG, "model.merges[0]: expected");
    expect_json_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-3},\"merges\":[]}," PRE "\"x\":0}",
                      -EBADMSG, "out of range");
    expect_json_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":0},\"merges\":[]}," PRE "\"x\":0}",
                      -EBADMSG, "used by");
    expect_json_error("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}", -ENOTSUP, "model.type 'WordPiece'");
    expect_json_error("{\"added_tokens\":[{\"id\":\"x\"}],\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},"
                      PRE "\"x\":0}", -EBADMSG, "added_tokens[0]");
}

static int gguf_tok(const char *model, const char *pre, const char *const *toks, const int32_t *types, int n,
                    const char *const *merges, int n_merges, uint32_t bos, Tokenizer **ret, char *err, size_t len)
{
    GgufWriter *w = NULL;
    void *buf = NULL;
    size_t size = 0;
    GgufFile *f = NULL;
    int r = gguf_writer_new(&w);
    if (r < 0)
        return r;
    gguf_writer_add_str(w, "tokenizer.ggml.model", model);
    if (pre)
        gguf_writer_add_str(w, "tokenizer.ggml.pre", pre);
    gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", (uint64_t)n, toks);
    if (types)
        gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, (uint64_t)n, types);
    if (merges)
        gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", (uint64_t)n_merges, merges);
    gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", bos);
    if ((r = gguf_writer_write_memory(w, &buf, &size)) == 0 && (r = gguf_open_memory(buf, size, &f, err, len)) == 0)
        r = tokenizer_load_gguf(f, ret, err, len);
    gguf_close(f);
    free(buf);
    gguf_writer_free(w);
    return r;
}

static void test_gguf_small(void)
{
    char err[256] = "";
    Tokenizer *t = NULL;
    /* SentencePiece with scores defaulting to 0 (no scores key): byte fallback for unknown characters */
    const char *toks[] = { "<unk>", "<s>", "</s>", "<0x41>", "<0xE2>", "<0x82>", "<0xAC>", "\xE2\x96\x81", "h", "i",
                           "\xE2\x96\x81h", "\xE2\x96\x81hi" };
    const int32_t types[] = { 2, 3, 3, 6, 6, 6, 6, 1, 1, 1, 1, 1 };
    int r = gguf_tok("llama", NULL, toks, types, 12, NULL, 0, 1, &t, err, sizeof(err));
    CHECK_INT(r, 0);
    if (r == 0) {
        int32_t ids[16];
        int n = tokenizer_encode(t, "hi \xE2\x82\xAC", 6, 1, 0, ids, 16);
        /* <s> ▁hi ▁ <0xE2> <0x82> <0xAC> */
        CHECK_INT(n, 6);
        const int32_t want[] = { 1, 11, 7, 4, 5, 6 };
        for (int i = 0; i < 6 && n == 6; i++)
            CHECK_INT(ids[i], want[i]);
        char out[64];
        CHECK_INT(tokenizer_decode(t, ids, n, 1, out, sizeof(out)), 6);
        CHECK(strcmp(out, "hi \xE2\x82\xAC") == 0);
        tokenizer_free(t);
        t = NULL;
    } else {
        fprintf(stderr, "spm gguf: %s\n", err);
    }
    /* hostile: byte token "<0x-1>" */
    const char *bad[] = { "<unk>", "<0x-1>" };
    const int32_t bad_types[] = { 2, 6 };
    CHECK_INT(gguf_tok("llama", NULL, bad, bad_types, 2, NULL, 0, 0, &t, err, sizeof(err)), -EBADMSG);
    CHECK(strstr(err, "tokenizer.ggml.tokens[1]: byte token '<0x-1>'") != NULL);
    /* hostile: bos out of range, unknown pre, merges with unknown sides, token type out of range */
    const char *b2[] = { "a", "b", "ab" };
    const char *m_ok[] = { "a b" }, *m_bad[] = { "a z" }, *m_fmt[] = { "ab" };
    CHECK_INT(gguf_tok("gpt2", "gpt2", b2, NULL, 3, m_ok, 1, 7, &t, err, sizeof(err)), -EBADMSG);
    CHECK(strstr(err, "tokenizer.ggml.bos_token_id: 7 out of range") != NULL);
    CHECK_INT(gguf_tok("gpt2", "xyz", b2, NULL, 3, m_ok, 1, 0, &t, err, sizeof(err)), -ENOTSUP);
    CHECK(strstr(err, "tokenizer.ggml.pre 'xyz' is not supported") != NULL);
    CHECK_INT(gguf_tok("gpt2", "gpt2", b2, NULL, 3, m_bad, 1, 0, &t, err, sizeof(err)), -EBADMSG);
    CHECK(strstr(err, "tokenizer.ggml.merges[0]: 'z' is not in the vocabulary") != NULL);
    CHECK_INT(gguf_tok("gpt2", "gpt2", b2, NULL, 3, m_fmt, 1, 0, &t, err, sizeof(err)), -EBADMSG);
    CHECK(strstr(err, "tokenizer.ggml.merges[0]") != NULL);
    const int32_t t_bad[] = { 1, 9, 1 };
    CHECK_INT(gguf_tok("gpt2", "gpt2", b2, t_bad, 3, m_ok, 1, 0, &t, err, sizeof(err)), -EBADMSG);
    CHECK(strstr(err, "tokenizer.ggml.token_type[1]") != NULL);
    CHECK_INT(gguf_tok("bert", NULL, b2, NULL, 3, NULL, 0, 0, &t, err, sizeof(err)), -ENOTSUP);
    /* wrong element type: token_type given as strings */
    {
        GgufWriter *w = NULL;
        void *buf = NULL;
        size_t size = 0;
        GgufFile *f = NULL;
        CHECK_INT(gguf_writer_new(&w), 0);
        gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2");
        gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", 3, b2);
        gguf_writer_add_arr_str(w, "tokenizer.ggml.token_type", 3, b2);
        gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", 1, m_ok);
        CHECK_INT(gguf_writer_write_memory(w, &buf, &size), 0);
        CHECK_INT(gguf_open_memory(buf, size, &f, err, sizeof(err)), 0);
        CHECK_INT(tokenizer_load_gguf(f, &t, err, sizeof(err)), -EBADMSG);
        CHECK(strstr(err, "tokenizer.ggml.token_type: expected an array of") != NULL);
        gguf_close(f);
        free(buf);
        gguf_writer_free(w);
    }
    CHECK(t == NULL);
}

static int test_fixtures(const Lines *corpus)
{
    test_llama3_pretok(corpus);

    Tokenizer *spm = load_fixture_json("spm-tiny.json");
    if (spm) {
        CHECK_INT(tokenizer_kind(spm), TOKENIZER_KIND_SPM);
        check_ids(spm, corpus, "spm-tiny.ids", 1, 2);
    }
    Tokenizer *bpe = load_fixture_json("bpe-tiny.json");
    if (bpe) {
        CHECK_INT(tokenizer_kind(bpe), TOKENIZER_KIND_BPE);
        check_ids(bpe, corpus, "bpe-tiny.ids", 1, 1);
        test_stream(bpe);
        /* streaming over whole corpus lines (plain text, no specials) */
        static int32_t ids[MAX_IDS];
        for (int i = 0; i < corpus->n; i += 7) {
            int n = tokenizer_encode(bpe, corpus->line[i], corpus->len[i], 0, 0, ids, MAX_IDS);
            if (n > 0 && n <= MAX_IDS)
                check_stream(bpe, ids, n, corpus->line[i], corpus->len[i]);
        }
        /* a 10k-character word and 100k random-ish bytes: encoded and losslessly decoded (how fast — the
         * heap-based merges keep it near-linear — is bench/bench-tokenizer's job) */
        size_t big = 100000;
        char *s2 = malloc(big);
        int32_t *many = malloc(sizeof(int32_t) * big);
        for (size_t i = 0; i < big; i++)
            s2[i] = i < 10000 ? 'x' : (char)((i * 2654435761u) >> 13);
        int n1 = tokenizer_encode(bpe, s2, 10000, 0, 0, many, (int)big);
        int n2 = tokenizer_encode(bpe, s2, big, 0, 1, many, (int)big);
        CHECK(n1 > 0 && n1 <= 10000);
        CHECK(n2 > 0);
        char *back = malloc(big + 1);
        CHECK_INT(tokenizer_decode(bpe, many, n2 < (int)big ? n2 : (int)big, 0, back, big + 1), big);
        CHECK(memcmp(back, s2, big) == 0);
        free(back);
        free(s2);
        free(many);
        /* cap contract: count returned even when cap is 0 */
        CHECK(tokenizer_encode(bpe, "hello there", 11, 0, 0, NULL, 0) >= 2);
        CHECK_INT(tokenizer_encode(bpe, NULL, 3, 0, 0, NULL, 0), -EINVAL);
    }
    test_hostile_json();
    test_gguf_small();
    tokenizer_free(spm);
    tokenizer_free(bpe);
    tokenizer_free(NULL);
    return test_exit();
}

int main(int argc, char **argv)
{
    Lines corpus;
    if (lines_load(fixture("corpus.txt"), &corpus) < 0) {
        fprintf(stderr, "cannot read %s\n", g_path);
        return 1;
    }
    int r = argc > 1 && strcmp(argv[1], "smollm2") == 0 ? test_smollm2(&corpus) : test_fixtures(&corpus);
    lines_free(&corpus);
    return r;
}
