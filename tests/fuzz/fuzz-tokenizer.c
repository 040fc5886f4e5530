/* fuzz-tokenizer.c — libFuzzer target for the tokenizer (lm/tokenizer*.c).
 * Input byte 0 picks the mode, the rest is the payload:
 *   'J'     payload parsed as a tokenizer.json (hostile loader input), then used to encode a fixed text;
 *   other   payload encoded with the byte-level SmolLM2-like vocabulary (tests/fixtures/tokenizer/
 *           bpe-tiny.json; bit 0 of byte 0 = allow_special, bit 1 = add_bos) and with the SentencePiece-
 *           style spm-tiny.json; checks decode(encode(x)) == x for the byte-level vocabulary and that the
 *           streaming decoder never fails. Violations abort() (a fuzzer finding), which library code never does.
 * Without -Dfuzzing it is linked with replay-main.c and runs the seeds in tests/fuzz/corpus/tokenizer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static Tokenizer *load(const char *name)
{
    char path[4096], err[256];
    const char *dir = getenv("MYNA_FIXTURES");
    snprintf(path, sizeof(path), "%s/tokenizer/%s", dir ? dir : FUZZ_FIXTURES, name);
    Tokenizer *t = NULL;
    if (tokenizer_load_hf(path, &t, err, sizeof(err)) < 0) {
        fprintf(stderr, "fuzz-tokenizer: %s\n", err);
        abort();
    }
    return t;
}

static void run(const Tokenizer *t, const char *s, size_t n, int allow_special, int add_bos, int check_rt)
{
    int32_t stack[256];
    int cnt = tokenizer_encode(t, s, n, add_bos, allow_special, stack, 256);
    if (cnt < 0)
        abort();
    int32_t *ids = stack;
    if (cnt > 256) {
        ids = malloc(sizeof(int32_t) * (size_t)cnt);
        if (!ids || tokenizer_encode(t, s, n, add_bos, allow_special, ids, cnt) != cnt)
            abort();
    }
    char *back = malloc(n + 64);
    int m = tokenizer_decode(t, ids + (add_bos && tokenizer_bos(t) >= 0), cnt - (add_bos && tokenizer_bos(t) >= 0),
                             0, back, n + 64);
    if (m < 0 || (check_rt && ((size_t)m != n || memcmp(back, s, n) != 0)))
        abort();
    TokDecoder d;
    tok_decoder_init(&d);
    char out[TOK_DECODER_OUT_MAX];
    for (int i = 0; i < cnt; i++)
        if (tok_decoder_push(&d, t, ids[i], out, sizeof(out)) < 0)
            abort();
    if (tok_decoder_flush(&d, out, sizeof(out)) < 0)
        abort();
    free(back);
    if (ids != stack)
        free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static Tokenizer *bpe, *spm;
    if (!bpe) {
        bpe = load("bpe-tiny.json");
        spm = load("spm-tiny.json");
    }
    if (size == 0 || size > (1 << 16))
        return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    if (data[0] == 'J') {
        Tokenizer *t = NULL;
        char err[256];
        if (tokenizer_load_hf_memory(s, n, &t, err, sizeof(err)) == 0) {
            run(t, "Hello <|im_end|> w\xC3\xB6rld 123 \xF0\x9F\x98\x80", 27, 1, 1, 0);
            tokenizer_free(t);
        }
        return 0;
    }
    run(bpe, s, n, data[0] & 1, (data[0] >> 1) & 1, 1);
    run(spm, s, n, data[0] & 1, 0, 0);
    return 0;
}
