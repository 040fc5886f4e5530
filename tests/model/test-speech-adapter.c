/* test-speech-adapter.c — the speech adapter (adapters/speech-adapter.h) against PyTorch/transformers goldens
 * on random weights (tools/ref/omni_adapter_ref.py → tests/fixtures/speech-adapter/), with the tiny Llama
 * (tests/fixtures/tiny-llama/tiny-llama-b-hf) as the LM.
 *
 * Checks and bounds (NMSE = Σ(a − b)² / Σ b²):
 *  - LLaMA-Omni projector (k 5, C_enc 32, H 64, C 96) on 37 random frames, F32/F16/BF16 weight folders:
 *    7 rows (the 2 trailing frames dropped), NMSE < 1e-6 each; 35 frames give the same rows (|Δ| < 1e-6
 *    relative); the Tensor entry point equals the host one; F < k is -EINVAL, a short output buffer -ENOSPC;
 *  - LLaMA-Omni prompt: the token ids (two BOS, the placeholder replaced by 7 spliced rows) equal those of
 *    its tokenizer_speech_token reference, and the logits of every position equal HF LlamaForCausalLM fed
 *    the same inputs_embeds: NMSE < 1e-6 (F32 KV cache);
 *  - gated cross-attention variant (cross layers before decoder layer 1 and after the last layer, clip
 *    attached mid-prompt so earlier rows take HF mllama's masked-row path): all logits NMSE < 1e-6 against
 *    MllamaCrossAttentionDecoderLayer hooks in HF; the prompt prefilled in two chunks around the clip gives
 *    the same last logits (NMSE < 1e-6); two clips at different positions (rows between them see only the
 *    first: the additive mask) NMSE < 1e-6; without a clip the hooks do nothing (logits = the plain LM's);
 *  - config errors: an unknown speech_projector_type is -ENOTSUP, an LM of another width is refused.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "lm.h"
#include "speech-adapter.h"
#include "test-util.h"

static char g_dir[4096], g_root[4096];
static json_t *g_meta;
static Backend *g_be;
static int g_c_enc, g_k, g_c, g_n_out, g_n_frames;

enum { VOCAB = 320 };

static float *read_f32(const char *name, size_t n)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", g_dir, name);
    return test_read_exact(path, n * sizeof(float));
}

static int meta_int(const char *key)
{
    return (int)json_integer_value(json_object_get(g_meta, key));
}

static int meta_ids(const char *key, int32_t *ids, int cap)
{
    json_t *a = json_object_get(g_meta, key);
    int n = (int)json_array_size(a);
    for (int i = 0; i < n && i < cap; i++)
        ids[i] = (int32_t)json_integer_value(json_array_get(a, (size_t)i));
    return n;
}

static SpeechAdapter *load_adapter(const char *name)
{
    char path[4200], err[512] = "";
    SpeechAdapter *a = NULL;

    snprintf(path, sizeof(path), "%s/%s", g_dir, name);
    int r = speech_adapter_load(path, g_be, &a, err, sizeof(err));
    if (r < 0)
        fprintf(stderr, "load %s: %d %s\n", path, r, err);
    CHECK_INT(r, 0);
    return a;
}

static LmModel *load_lm(const char *rel)
{
    char path[4200], err[512] = "";
    LmLoadOptions o = {0, 0 /* F32 KV */, NULL, 0};
    LmModel *m = NULL;

    snprintf(path, sizeof(path), "%s/%s", g_root, rel);
    int r = lm_model_load(path, g_be, &o, &m, err, sizeof(err));
    if (r < 0)
        fprintf(stderr, "load %s: %d %s\n", path, r, err);
    CHECK_INT(r, 0);
    return m;
}

/* Projector outputs of each weight dtype; returns the F32 folder's rows (malloc'd). */
static float *test_projector(const float *enc)
{
    static const char *tags[] = {"f32", "f16", "bf16"};
    const size_t n_out = (size_t)g_n_out * (size_t)g_c;
    float *rows32 = NULL;

    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof(name), "omni-%s", tags[i]);
        SpeechAdapter *a = load_adapter(name);
        snprintf(name, sizeof(name), "proj-%s.bin", tags[i]);
        float *ref = read_f32(name, n_out), *got = calloc(n_out + (size_t)g_c, sizeof(float));
        if (!a || !ref || !got) {
            CHECK(0);
            free(ref);
            free(got);
            speech_adapter_free(a);
            continue;
        }
        const SpeechAdapterConfig *c = speech_adapter_config(a);
        CHECK_INT(c->kind, SPEECH_ADAPTER_SPLICE);
        CHECK_INT(c->ds_rate, g_k);
        CHECK_INT(c->n_enc, g_c_enc);
        CHECK_INT(c->n_hidden, meta_int("hidden"));
        CHECK_INT(c->n_embd, g_c);
        CHECK_INT(speech_adapter_n_out(a, g_n_frames), g_n_out);
        CHECK_INT(speech_adapter_project_host(a, enc, g_n_frames, got, g_n_out), g_n_out);
        double e = test_nmse(got, ref, n_out);
        fprintf(stderr, "projector %s: NMSE %.3g\n", tags[i], e);
        CHECK(e < 1e-6);
        if (i == 0) {
            /* truncation: the trailing F mod k frames do not matter */
            float *t35 = calloc(n_out, sizeof(float));
            CHECK_INT(speech_adapter_project_host(a, enc, g_n_out * g_k, t35, g_n_out), g_n_out);
            double md = 0, mb = 0;
            for (size_t j = 0; j < n_out; j++) {
                md = fmax(md, fabs((double)t35[j] - got[j]));
                mb = fmax(mb, fabs((double)got[j]));
            }
            CHECK(md <= 1e-6 * mb);
            /* Tensor entry point (host memory on the CPU backend) */
            Tensor t;
            int64_t ne[2] = {g_c_enc, g_n_frames};
            CHECK_INT(tensor_init(&t, DTYPE_F32, 2, ne, (void *)enc), 0);
            memset(t35, 0, sizeof(float) * n_out);
            CHECK_INT(speech_adapter_project(a, &t, t35, g_n_out), g_n_out);
            CHECK(memcmp(t35, got, sizeof(float) * n_out) == 0);
            free(t35);
            /* errors */
            CHECK_INT(speech_adapter_project_host(a, enc, g_k - 1, got, g_n_out), -EINVAL);
            CHECK_INT(speech_adapter_project_host(a, enc, g_n_frames, got, g_n_out - 1), -ENOSPC);
            CHECK_INT(speech_adapter_project_host(a, NULL, g_n_frames, got, g_n_out), -EINVAL);
            rows32 = got;
            got = NULL;
        }
        free(ref);
        free(got);
        speech_adapter_free(a);
    }
    return rows32;
}

/* Expand reference ids: each -200 placeholder becomes n_rows spliced rows (-1 in lm_session_tokens). */
static int expand_ids(const int32_t *ids, int n, int n_rows, int32_t *out, int cap)
{
    int m = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < (ids[i] == -200 ? n_rows : 1) && m < cap; j++)
            out[m++] = ids[i] == -200 ? -1 : ids[i];
    return m;
}

static void test_splice(LmModel *lm, const float *rows)
{
    int32_t ref_ids[512], want[1024];
    int n_ref = meta_ids("splice_ids", ref_ids, 512), T = meta_int("splice_rows");
    int n_want = expand_ids(ref_ids, n_ref, g_n_out, want, 1024), n_tok = 0, n_rows = 0, pos = -1;
    LmSession *s = NULL;
    SpeechPrompt p;

    CHECK_INT(n_want, T);
    CHECK_INT(lm_session_new(lm, &s), 0);
    if (!s)
        return;
    speech_prompt_default(&p);
    lm_session_keep_all_logits(s, 1);
    CHECK_INT(speech_adapter_queue_prompt(s, &p, rows, g_n_out, &pos), 0);
    CHECK_INT(lm_session_n_pending(s), T);
    CHECK_INT(lm_session_prefill(s, NULL), 0);
    const int32_t *tok = lm_session_tokens(s, &n_tok);
    CHECK_INT(n_tok, T);
    CHECK(n_tok == T && memcmp(tok, want, sizeof(int32_t) * (size_t)T) == 0);
    CHECK_INT(tok[0], ref_ids[0]);
    CHECK_INT(tok[1], ref_ids[0]); /* LLaMA-Omni's double BOS */
    CHECK(pos >= 0 && pos + g_n_out <= T && tok[pos] == -1 && tok[pos - 1] != -1);
    const float *lg = lm_session_all_logits(s, &n_rows);
    float *ref = read_f32("splice-logits.bin", (size_t)T * VOCAB);
    CHECK_INT(n_rows, T);
    if (lg && ref && n_rows == T) {
        double e = test_nmse(lg, ref, (size_t)T * VOCAB);
        fprintf(stderr, "splice: %d rows, logits NMSE %.3g\n", T, e);
        CHECK(e < 1e-6);
    }
    free(ref);
    /* a follow-up turn: no BOS, no system block */
    char before[512], after[512];
    CHECK_INT(speech_prompt_format(&p, 0, before, sizeof(before), after, sizeof(after)), 0);
    CHECK(strcmp(before, "<|start_header_id|>user<|end_header_id|>\n\n") == 0);
    CHECK(strstr(after, "\nPlease directly answer the questions in the user's speech.<|eot_id|>") == after);
    CHECK_INT(speech_prompt_format(&p, 1, before, 16, after, sizeof(after)), -ENOSPC);
    /* all or nothing when the context is full */
    int n_pend = lm_session_n_pending(s), n_past = lm_session_n_past(s);
    CHECK_INT(speech_adapter_queue_prompt(s, &p, rows, g_n_out, NULL), -E2BIG);
    CHECK_INT(lm_session_n_pending(s), n_pend);
    CHECK_INT(lm_session_n_past(s), n_past);
    lm_session_free(s);
}

/* Logits of ids on a fresh session with the given hooks, [V, T] (malloc'd); split > 0 prefills in two
 * chunks [0, split) and [split, T) and returns only the last row. */
static float *run_xattn(LmModel *lm, SpeechCrossCtx *ctx, const SpeechPrompt *p, int split, int *ret_pos, int *ret_T)
{
    LmSession *s = NULL;
    LmLayerHook hooks[LM_MAX_HOOKS];
    float *out = NULL;
    int n_rows = 0, pos = -1;

    CHECK_INT(lm_session_new(lm, &s), 0);
    if (!s)
        return NULL;
    int nh = ctx ? speech_cross_ctx_hooks(ctx, hooks, LM_MAX_HOOKS) : 0;
    for (int i = 0; i < nh; i++)
        CHECK_INT(lm_session_add_layer_hook(s, &hooks[i]), 0);
    lm_session_keep_all_logits(s, split == 0);
    CHECK_INT(speech_adapter_queue_prompt(s, p, NULL, 0, &pos), 0);
    int T = lm_session_n_pending(s);
    if (split > 0) {
        /* re-queue as two chunks: a fresh session, the tokens of the first prefill, then the rest */
        int32_t ids[512];
        int n_tok = 0;
        CHECK_INT(lm_session_prefill(s, NULL), 0);
        const int32_t *tok = lm_session_tokens(s, &n_tok);
        memcpy(ids, tok, sizeof(int32_t) * (size_t)(n_tok < 512 ? n_tok : 512));
        CHECK_INT(lm_session_reset(s), 0);
        CHECK_INT(lm_session_add_tokens(s, ids, split), 0);
        CHECK_INT(lm_session_prefill(s, NULL), 0);
        CHECK_INT(lm_session_add_tokens(s, ids + split, n_tok - split), 0);
    }
    CHECK_INT(lm_session_prefill(s, NULL), 0);
    if (split > 0) {
        out = malloc(sizeof(float) * VOCAB);
        memcpy(out, lm_session_logits(s), sizeof(float) * VOCAB);
    } else {
        const float *lg = lm_session_all_logits(s, &n_rows);
        CHECK_INT(n_rows, T);
        if (lg && n_rows == T) {
            out = malloc(sizeof(float) * (size_t)T * VOCAB);
            memcpy(out, lg, sizeof(float) * (size_t)T * VOCAB);
        }
        int n_tok = 0;
        const int32_t *tok = lm_session_tokens(s, &n_tok);
        int32_t want[512];
        int n_want = meta_ids("xattn_ids", want, 512);
        CHECK_INT(n_tok, n_want);
        CHECK(n_tok == n_want && memcmp(tok, want, sizeof(int32_t) * (size_t)n_tok) == 0);
    }
    if (ret_pos)
        *ret_pos = pos;
    if (ret_T)
        *ret_T = T;
    lm_session_free(s);
    return out;
}

static void test_xattn(LmModel *lm, const float *enc)
{
    SpeechAdapter *a = load_adapter("xattn");
    SpeechCrossCtx *ctx = NULL;
    SpeechPrompt p;
    char err[256] = "";
    int pos = -1, T = 0;

    if (!a)
        return;
    const SpeechAdapterConfig *c = speech_adapter_config(a);
    CHECK_INT(c->kind, SPEECH_ADAPTER_CROSS);
    CHECK_INT(c->n_cross, 2);
    CHECK_INT(speech_adapter_check_lm(a, lm, err, sizeof(err)), 0);
    float *rows = calloc((size_t)g_n_out * (size_t)g_c, sizeof(float));
    CHECK_INT(speech_adapter_project_host(a, enc, g_n_frames, rows, g_n_out), g_n_out);
    CHECK_INT(speech_cross_ctx_new(a, &ctx), 0);
    speech_prompt_default(&p);
    p.system = json_string_value(json_object_get(g_meta, "xattn_system"));

    /* no clip yet: hooks are inactive, logits are the plain LM's */
    float *plain = run_xattn(lm, NULL, &p, 0, NULL, NULL), *noclip = run_xattn(lm, ctx, &p, 0, &pos, &T);
    CHECK(plain && noclip && memcmp(plain, noclip, sizeof(float) * (size_t)T * VOCAB) == 0);
    CHECK_INT(pos, meta_int("xattn_pos"));
    CHECK_INT(speech_cross_ctx_add_clip(ctx, rows, g_n_out, pos), 0);
    CHECK_INT(speech_cross_ctx_n_clips(ctx), 1);
    CHECK_INT(speech_cross_ctx_add_clip(ctx, rows, g_n_out, pos - 1), -EINVAL);
    float *got = run_xattn(lm, ctx, &p, 0, NULL, NULL), *ref = read_f32("xattn-logits.bin", (size_t)T * VOCAB);
    if (got && ref) {
        double e = test_nmse(got, ref, (size_t)T * VOCAB);
        fprintf(stderr, "cross-attention: %d tokens, logits NMSE %.3g (plain LM vs reference: %.3g)\n", T, e,
                plain ? test_nmse(plain, ref, (size_t)T * VOCAB) : -1.0);
        CHECK(e < 1e-6);
        CHECK(plain && test_nmse(plain, ref, (size_t)T * VOCAB) > 1e-3);
        /* two prefills around the clip position give the same last row */
        float *last = run_xattn(lm, ctx, &p, pos, NULL, NULL);
        double e2 = last ? test_nmse(last, ref + (size_t)(T - 1) * VOCAB, VOCAB) : INFINITY;
        fprintf(stderr, "cross-attention, chunked prefill: last-row NMSE %.3g\n", e2);
        CHECK(e2 < 1e-6);
        free(last);
    }
    /* two clips: rows between them see only the first (the additive mask path) */
    speech_cross_ctx_reset(ctx);
    CHECK_INT(speech_cross_ctx_n_clips(ctx), 0);
    int pos2 = meta_int("xattn2_pos");
    CHECK_INT(speech_cross_ctx_add_clip(ctx, rows, meta_int("xattn2_rows_a"), pos), 0);
    CHECK_INT(speech_cross_ctx_add_clip(ctx, rows, g_n_out, pos2), 0);
    float *got2 = run_xattn(lm, ctx, &p, 0, NULL, NULL), *ref2 = read_f32("xattn2-logits.bin", (size_t)T * VOCAB);
    if (got2 && ref2) {
        double e = test_nmse(got2, ref2, (size_t)T * VOCAB);
        fprintf(stderr, "cross-attention, two clips: logits NMSE %.3g\n", e);
        CHECK(e < 1e-6);
        CHECK(ref && test_nmse(ref2, ref, (size_t)T * VOCAB) > 1e-4); /* the second clip matters */
    }
    free(got2);
    free(ref2);
    speech_cross_ctx_reset(ctx);
    free(got);
    free(ref);
    free(plain);
    free(noclip);
    free(rows);
    speech_cross_ctx_free(ctx);
    speech_adapter_free(a);
}

/* A folder with a broken config: config.json written here, the weights linked from omni-f32. */
static void test_bad_config(void)
{
    char dir[] = "/tmp/myna-speech-XXXXXX", path[4200], src[4200], err[256] = "";
    SpeechAdapter *a = NULL;

    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    snprintf(path, sizeof(path), "%s/model.safetensors", dir);
    snprintf(src, sizeof(src), "%s/omni-f32/model.safetensors", g_dir);
    CHECK_INT(symlink(src, path), 0);
    snprintf(path, sizeof(path), "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("{\"model_type\": \"omni_speech2s_llama\", \"hidden_size\": 96, \"speech_encoder_ds_rate\": 5, "
              "\"speech_encoder_hidden_size\": 32, \"speech_projector_type\": \"conv\"}\n", f);
        fclose(f);
    }
    CHECK_INT(speech_adapter_load(dir, g_be, &a, err, sizeof(err)), -ENOTSUP);
    CHECK(strstr(err, "speech_projector_type") != NULL);
    f = fopen(path, "w");
    if (f) {
        fputs("{\"hidden_size\": 96, \"speech_encoder_ds_rate\": 4, \"speech_encoder_hidden_size\": 32}\n", f);
        fclose(f);
    }
    CHECK_INT(speech_adapter_load(dir, g_be, &a, err, sizeof(err)), -EBADMSG); /* 32·4 ≠ linear1's 160 */
    CHECK(a == NULL);
    unlink(path);
    snprintf(path, sizeof(path), "%s/model.safetensors", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const char *fx = getenv("MYNA_FIXTURES");
    char path[4200];
    json_error_t je;

    if (!fx) {
        fprintf(stderr, "MYNA_FIXTURES not set\n");
        return 77;
    }
    snprintf(g_root, sizeof(g_root), "%s", fx);
    snprintf(g_dir, sizeof(g_dir), "%s/speech-adapter", fx);
    snprintf(path, sizeof(path), "%s/meta.json", g_dir);
    if (!(g_meta = json_load_file(path, 0, &je))) {
        fprintf(stderr, "%s: %s\n", path, je.text);
        return 1;
    }
    g_c_enc = meta_int("c_enc");
    g_k = meta_int("k");
    g_c = meta_int("n_embd");
    g_n_out = meta_int("n_out");
    g_n_frames = meta_int("n_frames");
    CHECK_INT(backend_cpu_new(2, &g_be), 0);
    float *enc = read_f32("enc-37.bin", (size_t)g_c_enc * (size_t)g_n_frames);
    CHECK(enc != NULL);
    if (g_be && enc) {
        float *rows = test_projector(enc);
        LmModel *lm = load_lm("tiny-llama/tiny-llama-b-hf");
        if (lm && rows) {
            test_splice(lm, rows);
            test_xattn(lm, enc);
        }
        /* an LM of another width is refused */
        LmModel *wide = load_lm("tiny-llama/tiny-llama-a.F16.gguf");
        SpeechAdapter *a = load_adapter("omni-f32");
        char err[256] = "";
        if (wide && a)
            CHECK_INT(speech_adapter_check_lm(a, wide, err, sizeof(err)), -EINVAL);
        speech_adapter_free(a);
        lm_model_free(wide);
        test_bad_config();
        lm_model_free(lm);
        free(rows);
    }
    free(enc);
    backend_free(g_be);
    json_decref(g_meta);
    return test_exit();
}
