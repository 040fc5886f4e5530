/* test-lm-smollm2.c — the real default model end to end (skips with 77 when it is not installed):
 * a greedy chat answer names Paris, and a three-turn chat that reuses the KV cache produces exactly the
 * tokens that re-running each turn from scratch (the whole conversation as text, one prefill) produces.
 *
 * The question carries "Answer in one sentence.": for the bare "What is the capital of France?" the
 * reference (NumPy, float64 activations over the dequantized Q4_1 weights, tools/ref/gguf_llama_ref.py)
 * ranks "The" over "L" by only 0.08 logits, and Q8 activation quantization (as in llama.cpp) flips it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "lm.h"
#include "paths.h"
#include "test-util.h"

typedef struct {
    int32_t ids[64];
    int n;
    char text[1024];
    size_t len;
} Answer;

static int collect(void *user, const LmToken *tok)
{
    Answer *a = user;
    if (a->n < 64)
        a->ids[a->n++] = tok->id;
    if (a->len + tok->len < sizeof(a->text)) {
        memcpy(a->text + a->len, tok->text, tok->len);
        a->len += tok->len;
        a->text[a->len] = 0;
    }
    return 0;
}

static int ask(LmSession *s, const LmSampling *sp, Answer *a, LmStats *st)
{
    LmStop stop;
    memset(a, 0, sizeof(*a));
    return lm_session_generate(s, sp, collect, a, NULL, &stop, st);
}

int main(void)
{
    static const char *const turns[3] = {"What is the capital of France? Answer in one sentence.",
                                         "And of Germany?", "Thank you! Say goodbye."};
    char path[4096], err[512] = "";
    Backend *be = NULL;
    LmModel *m = NULL;
    LmSession *s = NULL;
    LmSampling sp;
    Answer ans[3], a;
    LmStats st;

    paths_model_file("SmolLM2-135M-Instruct.Q4_1.gguf", path, sizeof(path));
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "%s not installed (scripts/fetch-models): skipped\n", path);
        return 77;
    }
    if (backend_new_by_name("cpu", 0, &be, err, sizeof(err)) < 0)
        return 1;
    LmLoadOptions o = {1024, 1, NULL, 0};
    CHECK_INT(lm_model_load(path, be, &o, &m, err, sizeof(err)), 0);
    if (!m) {
        fprintf(stderr, "%s\n", err);
        backend_free(be);
        return test_exit();
    }
    CHECK(strcmp(lm_model_info(m)->chat_family, "chatml") == 0);
    CHECK_INT(lm_model_info(m)->n_layers, 30);
    CHECK_INT(lm_model_info(m)->n_kv_heads, 3);
    lm_sampling_default(&sp);
    sp.temperature = 0;
    sp.max_tokens = 12;

    /* multi-turn with cache reuse */
    CHECK_INT(lm_session_new(m, &s), 0);
    for (int t = 0; t < 3 && s; t++) {
        int before = lm_session_n_past(s);
        CHECK_INT(lm_session_add_message(s, "user", turns[t]), 0);
        CHECK_INT(ask(s, &sp, &ans[t], &st), 0);
        fprintf(stderr, "turn %d (prefilled %d new tokens on top of %d): %s\n", t, st.n_prompt, before,
                ans[t].text);
        CHECK(st.n_prompt > 0 && (t == 0 || st.n_prompt < 40)); /* later turns: only the new tokens */
        CHECK(ans[t].n > 0);
    }
    CHECK(strstr(ans[0].text, "Paris") != NULL);
    lm_session_free(s);
    s = NULL;

    /* each turn from scratch: the conversation so far as messages, one prefill */
    for (int t = 0; t < 3; t++) {
        CHECK_INT(lm_session_new(m, &s), 0);
        if (!s)
            break;
        for (int u = 0; u < t; u++) {
            CHECK_INT(lm_session_add_message(s, "user", turns[u]), 0);
            CHECK_INT(lm_session_add_message(s, "assistant", ans[u].text), 0);
        }
        CHECK_INT(lm_session_add_message(s, "user", turns[t]), 0);
        CHECK_INT(ask(s, &sp, &a, &st), 0);
        CHECK_INT(a.n, ans[t].n);
        for (int i = 0; i < a.n && i < ans[t].n; i++)
            CHECK_INT(a.ids[i], ans[t].ids[i]);
        if (t > 0)
            CHECK(st.n_prompt > 40);
        lm_session_free(s);
        s = NULL;
    }
    lm_model_free(m);
    backend_free(be);
    return test_exit();
}
