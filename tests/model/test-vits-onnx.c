/* test-vits-onnx.c — the two tiny random VITS models of tests/fixtures/tiny-vits{,-ms} written as Piper ONNX
 * voices (tests/unit/voice-build.h: PyTorch-export layout — anonymous onnx::Conv_* flow weights resolved
 * through their Conv node, the phoneme embedding as "sid" behind a Gather, the folded ElementwiseAffine
 * scale — filled with the fixture's weights), loaded by speech/tts/voice.c like a downloaded voice and
 * synthesised by speech/tts/vits.c: the whole ONNX path, single speaker (resblock 2) and three speakers
 * (resblock 1, speaker ids 0..2), against the float64 NumPy reference (tools/ref/vits_ref.py via
 * tools/ref/tiny_vits.py; vits_ref matches onnxruntime on the real voice to NMSE ~1e-10).
 *
 * Why not onnxruntime on these voices: voice-build.h writes only the nodes the loader reads (Conv/
 * ConvTranspose with attributes, Gather, Sub/Mul), not a runnable graph, and torch (to export a full tiny
 * graph) is not installed; onnxruntime is the oracle on the real voice (test-vits --real).
 *
 * Per case at scales [0, 1, 0]: durations identical, audio NMSE < 1e-6 (float32 vs float64).
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"
#include "test-util.h"
#include "tts/vits.h"
#include "voice-build.h"

typedef struct {
    StFile *st;
    int missing;
    float buf[64];
} Weights;

/* The fixture tensor Piper calls name, as n floats; NULL (counted) when absent or of another size. */
static const float *fixture_weight(void *ctx, const char *name, int64_t n)
{
    Weights *w = ctx;
    Tensor t;
    const int exp_neg = !strcmp(name, "dp.flows.0.exp_neg_logs");
    const StTensor *s = st_find(w->st, exp_neg ? "dp.flows.0.logs" : name);
    if (!s || st_tensor_view(s, &t) < 0 || t.dtype != DTYPE_F32 || tensor_nelements(&t) != n ||
        (exp_neg && n > 64)) {
        fprintf(stderr, "fixture has no %lld-element tensor %s\n", (long long)n, name);
        w->missing++;
        return NULL;
    }
    if (!exp_neg)
        return t.data;
    for (int64_t k = 0; k < n; k++)
        w->buf[k] = expf(-((const float *)t.data)[k]);
    return w->buf;
}

static int ival(json_t *o, const char *k) { return (int)json_integer_value(json_object_get(o, k)); }

static void ilist(json_t *a, int *dst, int *n)
{
    *n = (int)json_array_size(a);
    for (int i = 0; i < *n && i < 4; i++)
        dst[i] = (int)json_integer_value(json_array_get(a, i));
}

static void run_model(Backend *be, const char *dir)
{
    char path[512], err[512] = "";
    size_t n;
    char *js = test_read_fixture(dir, "config.json", &n);
    json_t *cfg = js ? json_loadb(js, n, 0, NULL) : NULL;
    free(js);
    CHECK(cfg != NULL);
    if (!cfg)
        return;
    Weights w = {0};
    CHECK_INT(st_open(test_fixture_path(path, sizeof(path), dir, "model.safetensors"), &w.st, err, sizeof(err)), 0);
    Arch a = {.h = ival(cfg, "hidden"), .ff = ival(cfg, "filter"), .heads = ival(cfg, "n_heads"),
              .layers = ival(cfg, "n_layers"), .v = ival(cfg, "num_symbols"), .window = ival(cfg, "window"),
              .c0 = ival(cfg, "upsample_initial"), .n_speakers = ival(cfg, "num_speakers"),
              .gin = ival(cfg, "gin_channels"), .quality = "medium", .arch_json = 1};
    a.inter = a.h;
    a.resblock = atoi(json_string_value(json_object_get(cfg, "resblock")));
    ilist(json_object_get(cfg, "upsample_rates"), a.rate, &a.n_ups);
    ilist(json_object_get(cfg, "upsample_kernels"), a.kernel, &a.n_ups);
    ilist(json_object_get(cfg, "resblock_kernels"), a.rk, &a.n_rk);
    for (int j = 0; j < a.n_rk && j < 3; j++) {
        int nd;
        ilist(json_array_get(json_object_get(cfg, "resblock_dilations"), j), a.dil[j], &nd);
    }
    Spec *s = malloc(sizeof(*s));
    Voice *voice = NULL;
    Vits *v = NULL;
    build_arch(s, &a);
    s->weights = fixture_weight;
    s->weights_ctx = &w;
    CHECK_INT(w.st ? load_spec(be, s, &voice, err, sizeof(err)) : -1, 0);
    CHECK_INT(w.missing, 0);
    if (voice) {
        CHECK_INT(voice->cfg.n_speakers, a.n_speakers);
        CHECK_INT(vits_new(be, &voice->cfg, &voice->w, &v, err, sizeof(err)), 0);
    }
    if (!v)
        fprintf(stderr, "%s: %s\n", dir, err);
    json_t *cases = json_object_get(cfg, "cases");
    for (size_t ci = 0; v && ci < json_array_size(cases); ci++) {
        json_t *cs = json_array_get(cases, ci);
        const int n_ids = ival(cs, "n_ids"), sid = ival(cs, "sid");
        char name[32];
        size_t nb = 0;
        snprintf(name, sizeof(name), "case%zu.ids", ci);
        int32_t *ids32 = test_read_fixture(dir, name, &nb);
        snprintf(name, sizeof(name), "case%zu.dur", ci);
        int32_t *dur = test_read_fixture(dir, name, &nb);
        snprintf(name, sizeof(name), "case%zu.f32", ci);
        float *ref = test_read_fixture(dir, name, &nb);
        int64_t ids[512];
        VitsUtt *u = NULL;
        CHECK(ids32 && dur && ref && n_ids <= 512);
        if (ids32 && dur && ref && n_ids <= 512) {
            for (int i = 0; i < n_ids; i++)
                ids[i] = ids32[i];
            VitsParams p = {0.0f, 1.0f, 0.0f, sid < 0 ? 0 : sid, 1};
            CHECK_INT(vits_encode(v, ids, n_ids, &p, &u, err, sizeof(err)), 0);
        }
        if (u) {
            int same = 1;
            for (int i = 0; i < n_ids; i++)
                same &= u->dur[i] == dur[i];
            CHECK(same);
            CHECK_INT(u->samples * 4, (int64_t)nb);
        }
        if (u && u->samples * 4 == (int64_t)nb) {
            float *out = malloc(nb);
            CHECK_INT(vits_decode(v, u, 0, u->frames, out, err, sizeof(err)), 0);
            const double nmse = test_nmse(out, ref, nb / 4);
            fprintf(stderr, "%s (onnx) case %zu: speaker %d, %d ids, %lld frames, nmse %.3g\n", dir, ci, sid, n_ids,
                    (long long)u->frames, nmse);
            CHECK(nmse < 1e-6);
            free(out);
        }
        vits_utt_free(v, u);
        free(ids32), free(dur), free(ref);
    }
    vits_free(v);
    voice_free(voice);
    free(s->json);
    free(s);
    st_close(w.st);
    json_decref(cfg);
}

int main(void)
{
    Backend *be = NULL;
    CHECK_INT(backend_cpu_new(2, &be), 0);
    if (!be)
        return test_exit();
    run_model(be, "tiny-vits");
    run_model(be, "tiny-vits-ms");
    backend_free(be);
    return test_exit();
}
