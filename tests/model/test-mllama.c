/* test-mllama.c — Llama 3.2 Vision (preprocessing, encoder, projector, cross-attention adapters) against HF
 * transformers goldens on a tiny random model (tools/ref/tiny_mllama.py → tests/fixtures/tiny-mllama/).
 *
 * Checks and bounds:
 *  - preprocessing of the square (upscaled), wide (downscaled, 1×4) and tall (downscaled, 3×1) images:
 *    canvas, aspect_ratio_id (height-first), mask, and pixel values within one 8-bit level of PIL's
 *    bilinear resize (max |Δ| <= 1/255/min(std) ≈ 0.0152 after normalization) and mean |Δ| < 4e-3
 *    (Pillow 13 runs the vertical pass first for some size pairs — e.g. the tall image — which moves about
 *    a quarter of the resized pixels by one level; the square and wide images match exactly);
 *  - vision output (before the projector, HF channel order) NMSE < 1e-6, fed the reference pixel values;
 *  - projected cross-attention states NMSE < 1e-6;
 *  - logits of every prompt position NMSE < 1e-6 for each image, and for a prompt with two images;
 *  - cached cross K/V: a follow-up chunk reuses the attached image (encoder call count unchanged) and gives
 *    the logits of a single pass over the whole prompt with a fresh encode (max rel diff < 1e-5);
 *  - text before any image: with no image attached the cross layers are skipped (logits differ from the
 *    image run), as HF's text-only path does.
 * NMSE = Σ(a − b)² / Σ b².
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "decoder.h"
#include "mllama.h"
#include "preprocess.h"
#include "test-util.h"
#include "vit.h"

static char g_dir[4096];
static json_t *g_meta;
static Backend *g_be;
static Mllama *g_m;
static int g_vocab, g_image_token;

static void *read_file(const char *name, size_t n_bytes)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", g_dir, name);
    return test_read_exact(path, n_bytes);
}

static int meta_int(const char *img, const char *key)
{
    return (int)json_integer_value(json_object_get(json_object_get(json_object_get(g_meta, "images"), img), key));
}

static int prompt(const char *key, int32_t *ids, int cap)
{
    json_t *a = json_object_get(g_meta, key);
    int n = (int)json_array_size(a);
    for (int i = 0; i < n && i < cap; i++)
        ids[i] = (int32_t)json_integer_value(json_array_get(a, (size_t)i));
    return n;
}

static void test_preprocess(const char *name)
{
    int w = meta_int(name, "width"), h = meta_int(name, "height");
    uint8_t *rgb;
    char fn[64];
    MllamaPreprocessConfig pc;
    MllamaPixels px;

    snprintf(fn, sizeof(fn), "%s.rgb", name);
    rgb = read_file(fn, (size_t)w * h * 3);
    snprintf(fn, sizeof(fn), "%s-pixels.bin", name);
    size_t n = 4 * 3 * 56 * 56;
    float *ref = read_file(fn, n * sizeof(float));
    CHECK(rgb && ref);
    if (!rgb || !ref)
        goto out;
    mllama_preprocess_config_default(&pc, 56, 4);
    CHECK_INT(mllama_preprocess(&pc, rgb, w, h, (size_t)w * 3, &px), 0);
    CHECK_INT(px.aspect_ratio_id, meta_int(name, "aspect_ratio_id"));
    CHECK_INT(px.n_tiles, meta_int(name, "num_tiles"));
    json_t *mk = json_object_get(json_object_get(json_object_get(g_meta, "images"), name), "aspect_ratio_mask");
    for (int t = 0; t < 4; t++)
        CHECK_INT(px.aspect_ratio_mask[t], json_integer_value(json_array_get(mk, (size_t)t)));
    double mx = 0, sum = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)px.pixels[i] - ref[i]);
        mx = d > mx ? d : mx;
        sum += d;
    }
    fprintf(stderr, "preprocess %s: %dx%d -> %dx%d, %dx%d tiles, id %d, max |d| %.3g, mean |d| %.3g\n", name, w, h,
            px.resized_w, px.resized_h, px.n_tiles_h, px.n_tiles_w, px.aspect_ratio_id, mx, sum / n);
    CHECK(mx <= 1.0 / 255 / 0.2613 + 1e-4);
    CHECK(sum / n < 4e-3);
    mllama_pixels_free(&px);
out:
    free(rgb);
    free(ref);
}

/* Reference pixel values as a MllamaPixels (to test the encoder on exactly HF's input). */
static int ref_pixels(const char *name, MllamaPixels *px)
{
    char fn[64];
    memset(px, 0, sizeof(*px));
    snprintf(fn, sizeof(fn), "%s-pixels.bin", name);
    px->pixels = read_file(fn, sizeof(float) * 4 * 3 * 56 * 56);
    px->tile_size = 56;
    px->max_tiles = 4;
    px->aspect_ratio_id = meta_int(name, "aspect_ratio_id");
    px->n_tiles = meta_int(name, "num_tiles");
    return px->pixels ? 0 : -EIO;
}

/* Logits [V, T] for ids (image tokens replaced by the spliced <|image|> row) with these images attached. */
static int run_text(MllamaCtx *ctx, LmState *st, LmKvCache *kv, const int32_t *ids, int T, int n_past, float *out)
{
    LmDecoder *d = mllama_decoder(g_m);
    LmLayerHook hooks[LM_MAX_HOOKS];
    int32_t x[128];
    int n_h = mllama_ctx_hooks(ctx, hooks, LM_MAX_HOOKS);
    for (int t = 0; t < T; t++)
        x[t] = ids[t] == g_image_token ? -1 : ids[t];
    return lm_forward(d, st, kv, x, mllama_image_token_embedding(g_m), T, n_past, hooks, n_h, out, 1);
}

static void test_image(const char *name, LmState *st)
{
    const MllamaVitConfig *vc = mllama_vit_config(mllama_vit(g_m));
    const int64_t P = vc->n_pos * vc->max_tiles, D = vc->out_dim;
    MllamaPixels px;
    MllamaImage *img = NULL;
    MllamaCtx *ctx = NULL;
    LmKvCache *kv = NULL;
    Tensor *out;
    char fn[64];
    int32_t ids[128];
    int T = prompt("prompt", ids, 128), r;

    if (ref_pixels(name, &px) < 0) {
        CHECK(0);
        return;
    }
    /* vision output in HF channel order */
    CHECK_INT(mllama_vit_forward(mllama_vit(g_m), &px, &out), 0);
    float *blk = malloc(sizeof(float) * (size_t)(P * D)), *hf = malloc(sizeof(float) * (size_t)(P * D));
    snprintf(fn, sizeof(fn), "%s-vision.bin", name);
    float *ref = read_file(fn, sizeof(float) * (size_t)(P * D));
    g_be->ops->tensor_get(g_be, out, blk, 0, sizeof(float) * (size_t)(P * D));
    mllama_vit_output_to_hf(vc, blk, hf, P);
    double e = ref ? test_nmse(hf, ref, (size_t)(P * D)) : INFINITY;
    fprintf(stderr, "%s: vision output NMSE %.3g\n", name, e);
    CHECK(e < 1e-6);
    free(ref);
    /* projected states */
    CHECK_INT(mllama_encode_pixels(g_m, &px, &img), 0);
    const Tensor *xs = mllama_last_states(g_m);
    int64_t C = xs->ne[0];
    float *xh = malloc(sizeof(float) * (size_t)(C * P));
    snprintf(fn, sizeof(fn), "%s-xstates.bin", name);
    ref = read_file(fn, sizeof(float) * (size_t)(C * P));
    g_be->ops->tensor_get(g_be, xs, xh, 0, sizeof(float) * (size_t)(C * P));
    e = ref ? test_nmse(xh, ref, (size_t)(C * P)) : INFINITY;
    fprintf(stderr, "%s: cross-attention states NMSE %.3g\n", name, e);
    CHECK(e < 1e-6);
    free(ref);
    /* logits */
    float *lg = malloc(sizeof(float) * (size_t)g_vocab * T);
    snprintf(fn, sizeof(fn), "%s-logits.bin", name);
    ref = read_file(fn, sizeof(float) * (size_t)g_vocab * T);
    int img_pos = 0;
    while (ids[img_pos] != g_image_token)
        img_pos++;
    CHECK_INT(mllama_ctx_new(g_m, &ctx), 0);
    CHECK_INT(mllama_ctx_add_image(ctx, img, img_pos), 0);
    CHECK_INT(lm_kv_new(mllama_decoder(g_m), 128, 0, &kv), 0);
    CHECK_INT(r = run_text(ctx, st, kv, ids, T, 0, lg), 0);
    e = ref && r == 0 ? test_nmse(lg, ref, (size_t)g_vocab * T) : INFINITY;
    fprintf(stderr, "%s: logits NMSE %.3g\n", name, e);
    CHECK(e < 1e-6);
    free(ref);
    free(xh);
    free(blk);
    free(hf);
    free(lg);
    lm_kv_free(mllama_decoder(g_m), kv);
    mllama_ctx_free(ctx);
    mllama_image_free(img);
    mllama_pixels_free(&px);
}

static void test_two_images(LmState *st)
{
    MllamaPixels pa, pb;
    MllamaImage *a = NULL, *b = NULL;
    MllamaCtx *ctx = NULL;
    LmKvCache *kv = NULL;
    int32_t ids[128];
    int T = prompt("prompt_two", ids, 128), pos[2], n = 0;

    for (int t = 0; t < T && n < 2; t++)
        if (ids[t] == g_image_token)
            pos[n++] = t;
    CHECK_INT(n, 2);
    if (ref_pixels("square", &pa) < 0 || ref_pixels("wide", &pb) < 0 || n != 2) {
        CHECK(0);
        return;
    }
    CHECK_INT(mllama_encode_pixels(g_m, &pa, &a), 0);
    CHECK_INT(mllama_encode_pixels(g_m, &pb, &b), 0);
    CHECK_INT(mllama_ctx_new(g_m, &ctx), 0);
    CHECK_INT(mllama_ctx_add_image(ctx, a, pos[0]), 0);
    CHECK_INT(mllama_ctx_add_image(ctx, b, pos[1]), 0);
    CHECK_INT(mllama_ctx_add_image(ctx, b, pos[0]), -EINVAL); /* positions must increase */
    CHECK_INT(lm_kv_new(mllama_decoder(g_m), 128, 0, &kv), 0);
    float *lg = malloc(sizeof(float) * (size_t)g_vocab * T);
    float *ref = read_file("two-logits.bin", sizeof(float) * (size_t)g_vocab * T);
    CHECK_INT(run_text(ctx, st, kv, ids, T, 0, lg), 0);
    double e = ref ? test_nmse(lg, ref, (size_t)g_vocab * T) : INFINITY;
    fprintf(stderr, "two images: logits NMSE %.3g\n", e);
    CHECK(e < 1e-6);
    free(ref);
    free(lg);
    lm_kv_free(mllama_decoder(g_m), kv);
    mllama_ctx_free(ctx);
    mllama_image_free(a);
    mllama_image_free(b);
    mllama_pixels_free(&pa);
    mllama_pixels_free(&pb);
}

/* A follow-up chunk on a cached image vs one pass with a fresh encode. */
static void test_cached_kv(LmState *st)
{
    MllamaVit *vit = mllama_vit(g_m);
    MllamaPixels px;
    MllamaImage *img = NULL, *img2 = NULL;
    MllamaCtx *c1 = NULL, *c2 = NULL, *c0 = NULL;
    LmKvCache *k1 = NULL, *k2 = NULL, *k0 = NULL;
    int32_t ids[128];
    int T = prompt("prompt", ids, 128), pos = 0, split = 9;

    while (ids[pos] != g_image_token)
        pos++;
    if (ref_pixels("tall", &px) < 0) {
        CHECK(0);
        return;
    }
    float *one = malloc(sizeof(float) * (size_t)g_vocab * T), *two = malloc(sizeof(float) * (size_t)g_vocab * T);
    float *none = malloc(sizeof(float) * (size_t)g_vocab * T);
    CHECK_INT(mllama_encode_pixels(g_m, &px, &img), 0);
    CHECK_INT(mllama_ctx_new(g_m, &c1), 0);
    CHECK_INT(mllama_ctx_add_image(c1, img, pos), 0);
    mllama_image_free(img); /* the ctx keeps its own copy of the K/V */
    CHECK_INT(lm_kv_new(mllama_decoder(g_m), 128, 0, &k1), 0);
    CHECK_INT(run_text(c1, st, k1, ids, split, 0, two), 0);
    int64_t calls = mllama_vit_n_calls(vit);
    CHECK_INT(run_text(c1, st, k1, ids + split, T - split, split, two + (size_t)g_vocab * split), 0);
    CHECK_INT(mllama_vit_n_calls(vit), calls); /* the follow-up did not run the encoder */

    CHECK_INT(mllama_encode_pixels(g_m, &px, &img2), 0);
    CHECK_INT(mllama_vit_n_calls(vit), calls + 1);
    CHECK_INT(mllama_ctx_new(g_m, &c2), 0);
    CHECK_INT(mllama_ctx_add_image(c2, img2, pos), 0);
    CHECK_INT(lm_kv_new(mllama_decoder(g_m), 128, 0, &k2), 0);
    CHECK_INT(run_text(c2, st, k2, ids, T, 0, one), 0);
    double md = 0, mb = 0;
    for (size_t i = 0; i < (size_t)g_vocab * T; i++) {
        double d = fabs((double)one[i] - two[i]);
        md = d > md || d != d ? d : md;
        mb = fabs(one[i]) > mb ? fabs(one[i]) : mb;
    }
    fprintf(stderr, "cached K/V follow-up vs re-encode: max rel diff %.3g\n", md / mb);
    CHECK(md / mb < 1e-5);
    /* no image attached: the cross layers are skipped, so the rows after the image token differ */
    CHECK_INT(mllama_ctx_new(g_m, &c0), 0);
    CHECK_INT(lm_kv_new(mllama_decoder(g_m), 128, 0, &k0), 0);
    CHECK_INT(run_text(c0, st, k0, ids, T, 0, none), 0);
    CHECK(test_nmse(none + (size_t)g_vocab * (T - 1), one + (size_t)g_vocab * (T - 1), (size_t)g_vocab) > 1e-4);
    free(one);
    free(two);
    free(none);
    lm_kv_free(mllama_decoder(g_m), k0);
    lm_kv_free(mllama_decoder(g_m), k1);
    lm_kv_free(mllama_decoder(g_m), k2);
    mllama_ctx_free(c0);
    mllama_ctx_free(c1);
    mllama_ctx_free(c2);
    mllama_image_free(img2);
    mllama_pixels_free(&px);
}

int main(void)
{
    const char *fx = getenv("MYNA_FIXTURES");
    char err[512] = "", path[4200];
    json_error_t je;
    LmState *st = NULL;

    snprintf(g_dir, sizeof(g_dir), "%s/tiny-mllama", fx ? fx : "tests/fixtures");
    snprintf(path, sizeof(path), "%s/meta.json", g_dir);
    if (!(g_meta = json_load_file(path, 0, &je))) {
        fprintf(stderr, "skip: %s: %s\n", path, je.text);
        return 77;
    }
    g_vocab = (int)json_integer_value(json_object_get(g_meta, "vocab"));
    g_image_token = (int)json_integer_value(json_object_get(g_meta, "image_token"));
    test_preprocess("square");
    test_preprocess("wide");
    test_preprocess("tall");
    CHECK_INT(backend_cpu_new(2, &g_be), 0);
    int r = mllama_load(g_dir, g_be, &g_m, err, sizeof(err));
    if (r < 0)
        fprintf(stderr, "mllama_load: %s\n", err);
    CHECK_INT(r, 0);
    if (r == 0) {
        CHECK_INT(mllama_image_token(g_m), g_image_token);
        CHECK_INT(mllama_n_cross(g_m), 2);
        CHECK_INT(lm_state_new(mllama_decoder(g_m), 64, &st), 0);
        test_image("square", st);
        test_image("wide", st);
        test_image("tall", st);
        test_two_images(st);
        test_cached_kv(st);
        lm_state_free(mllama_decoder(g_m), st);
    }
    mllama_free(g_m);
    backend_free(g_be);
    json_decref(g_meta);
    return test_exit();
}
