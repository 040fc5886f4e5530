/* test-vits.c — speech/tts/vits.c against the float64 NumPy reference (tools/ref/vits_ref.py, itself
 * checked against onnxruntime on the real Piper voice) on two tiny random VITS models
 * (tools/ref/tiny_vits.py): single speaker with HiFi-GAN resblock 2, three speakers with resblock 1.
 *
 * Per case at scales [0, 1, 0]: durations identical, audio NMSE < 1e-6 (float32 vs float64 through six
 * blocks; a wrong tap or channel order gives ~1), and streamed decoding (a 12-frame first window, then
 * 40-frame windows, each with vits_margin frames of context) equal to one whole-utterance decode within
 * 1e-6 absolute (it is bit for bit). With noise, the same seed gives the same audio and another seed other
 * audio; bad frame ranges and scales are refused with a message. The weights come from the fixture's safetensors by Piper's names, bound into the
 * VoiceWeights struct that speech/tts/voice.c fills from an .onnx.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "paths.h"
#include "safetensors.h"
#include "test-util.h"
#include "config.h" /* HAVE_ESPEAK */
#include "tts/vits.h"
#if HAVE_ESPEAK
#include "tts/phonemize.h"
#endif

static StFile *g_st;
static int g_missing;

static void bind(Tensor *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bind(Tensor *t, const char *fmt, ...)
{
    char name[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof(name), fmt, ap);
    va_end(ap);
    const StTensor *s = st_find(g_st, name);
    if (!s || st_tensor_view(s, t) < 0) {
        fprintf(stderr, "missing tensor %s\n", name);
        g_missing++;
    }
}

static void conv(VoiceConv *c, const char *p, int bias)
{
    bind(&c->w, "%s.weight", p);
    if (bias)
        bind(&c->b, "%s.bias", p);
}

static void norm(VoiceNorm *n, const char *p)
{
    bind(&n->gamma, "%s.gamma", p);
    bind(&n->beta, "%s.beta", p);
}

static void dds(VoiceDdsConv *d, const char *p)
{
    char b[128];
    for (int i = 0; i < VOICE_DDS_LAYERS; i++) {
        snprintf(b, sizeof(b), "%s.convs_sep.%d", p, i), conv(&d->sep[i], b, 1);
        snprintf(b, sizeof(b), "%s.convs_1x1.%d", p, i), conv(&d->c1x1[i], b, 1);
        snprintf(b, sizeof(b), "%s.norms_1.%d", p, i), norm(&d->norm_1[i], b);
        snprintf(b, sizeof(b), "%s.norms_2.%d", p, i), norm(&d->norm_2[i], b);
    }
}

static int ival(json_t *o, const char *k)
{
    return (int)json_integer_value(json_object_get(o, k));
}

static void ilist(json_t *o, const char *k, int *dst, int *n)
{
    json_t *a = k ? json_object_get(o, k) : o;
    *n = (int)json_array_size(a);
    for (int i = 0; i < *n; i++)
        dst[i] = (int)json_integer_value(json_array_get(a, i));
}

/* VoiceConfig + VoiceWeights of a tiny fixture model. */
static void load_tiny(json_t *cfg, VoiceConfig *c, VoiceWeights *w)
{
    char b[160];
    memset(c, 0, sizeof(*c));
    memset(w, 0, sizeof(*w));
    c->sample_rate = 16000;
    c->n_symbols = ival(cfg, "num_symbols");
    c->n_speakers = ival(cfg, "num_speakers");
    c->hidden = c->inter = c->dp_channels = ival(cfg, "hidden");
    c->filter = ival(cfg, "filter");
    c->n_heads = ival(cfg, "n_heads");
    c->n_layers = ival(cfg, "n_layers");
    c->ffn_kernel = 3;
    c->window = ival(cfg, "window");
    c->dp_kernel = 3;
    c->dp_bins = 10;
    c->dp_tail_bound = 5.0f;
    c->flow_kernel = 5;
    c->flow_dilation_rate = 1;
    c->gin = ival(cfg, "gin_channels");
    c->resblock = atoi(json_string_value(json_object_get(cfg, "resblock")));
    c->dec_channels = ival(cfg, "upsample_initial");
    ilist(cfg, "upsample_rates", c->ups_rate, &c->n_ups);
    ilist(cfg, "upsample_kernels", c->ups_kernel, &c->n_ups);
    ilist(cfg, "resblock_kernels", c->res_kernel, &c->n_res_kernels);
    json_t *dl = json_object_get(cfg, "resblock_dilations");
    for (int j = 0; j < c->n_res_kernels; j++)
        ilist(json_array_get(dl, j), NULL, c->res_dilation[j], &c->n_res_dilations);
    c->hop = 1;
    for (int i = 0; i < c->n_ups; i++)
        c->hop *= c->ups_rate[i];

    bind(&w->enc.emb, "enc_p.emb.weight");
    for (int l = 0; l < c->n_layers; l++) {
        VoiceEncLayer *L = &w->enc.layers[l];
        snprintf(b, sizeof(b), "enc_p.encoder.attn_layers.%d.conv_q", l), conv(&L->conv_q, b, 1);
        snprintf(b, sizeof(b), "enc_p.encoder.attn_layers.%d.conv_k", l), conv(&L->conv_k, b, 1);
        snprintf(b, sizeof(b), "enc_p.encoder.attn_layers.%d.conv_v", l), conv(&L->conv_v, b, 1);
        snprintf(b, sizeof(b), "enc_p.encoder.attn_layers.%d.conv_o", l), conv(&L->conv_o, b, 1);
        bind(&L->emb_rel_k, "enc_p.encoder.attn_layers.%d.emb_rel_k", l);
        bind(&L->emb_rel_v, "enc_p.encoder.attn_layers.%d.emb_rel_v", l);
        snprintf(b, sizeof(b), "enc_p.encoder.norm_layers_1.%d", l), norm(&L->norm_1, b);
        snprintf(b, sizeof(b), "enc_p.encoder.norm_layers_2.%d", l), norm(&L->norm_2, b);
        snprintf(b, sizeof(b), "enc_p.encoder.ffn_layers.%d.conv_1", l), conv(&L->ffn_1, b, 1);
        snprintf(b, sizeof(b), "enc_p.encoder.ffn_layers.%d.conv_2", l), conv(&L->ffn_2, b, 1);
    }
    conv(&w->enc.proj, "enc_p.proj", 1);
    conv(&w->dp.pre, "dp.pre", 1);
    conv(&w->dp.proj, "dp.proj", 1);
    dds(&w->dp.convs, "dp.convs");
    for (int k = 1; k < VOICE_DP_FLOWS; k++) {
        w->dp.has_flow[k] = 1;
        snprintf(b, sizeof(b), "dp.flows.%d.pre", 2 * k + 1), conv(&w->dp.flows[k].pre, b, 1);
        snprintf(b, sizeof(b), "dp.flows.%d.proj", 2 * k + 1), conv(&w->dp.flows[k].proj, b, 1);
        snprintf(b, sizeof(b), "dp.flows.%d.convs", 2 * k + 1), dds(&w->dp.flows[k].convs, b);
    }
    Tensor m, ls;
    bind(&m, "dp.flows.0.m");
    bind(&ls, "dp.flows.0.logs");
    if (m.data && ls.data)
        for (int i = 0; i < 2; i++) {
            w->dp.ea_m_host[i] = ((const float *)m.data)[i];
            w->dp.ea_exp_neg_logs_host[i] = expf(-((const float *)ls.data)[i]);
        }
    for (int f = 0; f < VOICE_FLOWS; f++) {
        VoiceCoupling *cp = &w->flow[f];
        snprintf(b, sizeof(b), "flow.flows.%d.pre", 2 * f), conv(&cp->pre, b, 1);
        snprintf(b, sizeof(b), "flow.flows.%d.post", 2 * f), conv(&cp->post, b, 1);
        for (int i = 0; i < VOICE_WN_LAYERS; i++) {
            snprintf(b, sizeof(b), "flow.flows.%d.enc.in_layers.%d", 2 * f, i), conv(&cp->enc.in_layers[i], b, 1);
            snprintf(b, sizeof(b), "flow.flows.%d.enc.res_skip_layers.%d", 2 * f, i),
                conv(&cp->enc.res_skip[i], b, 1);
        }
        if (c->gin)
            snprintf(b, sizeof(b), "flow.flows.%d.enc.cond_layer", 2 * f), conv(&cp->enc.cond, b, 1);
    }
    conv(&w->dec.conv_pre, "dec.conv_pre", 1);
    for (int i = 0; i < c->n_ups; i++) {
        snprintf(b, sizeof(b), "dec.ups.%d", i), conv(&w->dec.ups[i], b, 1);
        for (int j = 0; j < c->n_res_kernels; j++) {
            const int idx = i * c->n_res_kernels + j;
            for (int d = 0; d < c->n_res_dilations; d++) {
                if (c->resblock == 2) {
                    snprintf(b, sizeof(b), "dec.resblocks.%d.convs.%d", idx, d), conv(&w->dec.res[idx].convs[d], b, 1);
                } else {
                    snprintf(b, sizeof(b), "dec.resblocks.%d.convs1.%d", idx, d),
                        conv(&w->dec.res[idx].convs[d], b, 1);
                    snprintf(b, sizeof(b), "dec.resblocks.%d.convs2.%d", idx, d),
                        conv(&w->dec.res[idx].convs[c->n_res_dilations + d], b, 1);
                }
            }
        }
    }
    conv(&w->dec.conv_post, "dec.conv_post", 0);
    if (c->gin) {
        bind(&w->emb_g, "emb_g.weight");
        conv(&w->dp.cond, "dp.cond", 1);
        conv(&w->dec.cond, "dec.cond", 1);
    }
}

static void run_model(Backend *be, const char *dir)
{
    char path[512], err[256] = "";
    size_t n;
    char *js = test_read_fixture(dir, "config.json", &n);
    CHECK(js != NULL);
    if (!js)
        return;
    json_t *cfg = json_loadb(js, n, 0, NULL);
    free(js);
    CHECK(cfg != NULL);
    CHECK_INT(st_open(test_fixture_path(path, sizeof(path), dir, "model.safetensors"), &g_st, err, sizeof(err)), 0);
    VoiceConfig vc;
    VoiceWeights vw;
    g_missing = 0;
    load_tiny(cfg, &vc, &vw);
    CHECK_INT(g_missing, 0);
    Vits *v = NULL;
    CHECK_INT(vits_new(be, &vc, &vw, &v, err, sizeof(err)), 0);
    if (!v) {
        fprintf(stderr, "%s\n", err);
        goto out;
    }
    json_t *cases = json_object_get(cfg, "cases");
    for (size_t ci = 0; ci < json_array_size(cases); ci++) {
        json_t *cs = json_array_get(cases, ci);
        const int n_ids = ival(cs, "n_ids"), sid = ival(cs, "sid"), frames = ival(cs, "frames");
        char name[32];
        snprintf(name, sizeof(name), "case%zu.ids", ci);
        int32_t *ids32 = test_read_fixture(dir, name, &n);
        snprintf(name, sizeof(name), "case%zu.dur", ci);
        int32_t *dur = test_read_fixture(dir, name, &n);
        snprintf(name, sizeof(name), "case%zu.f32", ci);
        float *ref = test_read_fixture(dir, name, &n);
        CHECK(ids32 && dur && ref);
        if (!ids32 || !dur || !ref)
            continue;
        int64_t ids[512];
        for (int i = 0; i < n_ids && i < 512; i++)
            ids[i] = ids32[i];
        VitsParams p = {0.0f, 1.0f, 0.0f, sid < 0 ? 0 : sid, 1};
        VitsUtt *u = NULL;
        CHECK_INT(vits_encode(v, ids, n_ids, &p, &u, err, sizeof(err)), 0);
        if (!u) {
            fprintf(stderr, "%s\n", err);
            continue;
        }
        CHECK_INT(u->frames, frames);
        int same = 1;
        for (int i = 0; i < n_ids; i++)
            same &= u->dur[i] == dur[i];
        CHECK(same);
        if (u->frames == frames) {
            const int64_t S = u->samples;
            float *whole = calloc((size_t)S, 4), *stream = calloc((size_t)S, 4);
            CHECK_INT(vits_decode(v, u, 0, u->frames, whole, err, sizeof(err)), 0);
            const double nmse = test_nmse(whole, ref, (size_t)S);
            fprintf(stderr, "%s case %zu: %d ids, %lld frames, nmse %.3g\n", dir, ci, n_ids, (long long)u->frames, nmse);
            CHECK(nmse < 1e-6);
            VitsUtt *u2 = NULL; /* a fresh one, so the flow too runs windowed */
            CHECK_INT(vits_encode(v, ids, n_ids, &p, &u2, err, sizeof(err)), 0);
            for (int64_t f0 = 0, w = 12; u2 && f0 < u2->frames; f0 += w, w = 40) {
                const int64_t f1 = f0 + w < u2->frames ? f0 + w : u2->frames;
                CHECK_INT(vits_decode(v, u2, f0, f1, stream + f0 * vits_hop(v), err, sizeof(err)), 0);
            }
            vits_utt_free(v, u2);
            double md = 0;
            for (int64_t i = 0; i < S; i++)
                md = fmax(md, fabs((double)stream[i] - whole[i]));
            fprintf(stderr, "  streamed vs whole: max |diff| %.3g (margin %d frames)\n", md, vits_margin(v));
            CHECK(md <= 1e-6);
            int64_t s0, s1;
            vits_span(v, u, n_ids - 1, &s0, &s1);
            CHECK_INT(s1, S);
            free(whole);
            free(stream);
        }
        /* bad input is refused with a message, not computed */
        float one[64];
        err[0] = 0;
        CHECK_INT(vits_decode(v, u, u->frames, u->frames + 1, one, err, sizeof(err)), -EINVAL);
        CHECK(strstr(err, "outside the utterance") != NULL);
        /* noise from the seed: the same seed gives the same audio, another seed other audio */
        VitsParams np_ = {0.667f, 1.0f, 0.8f, p.speaker, 7};
        VitsUtt *n1 = NULL, *n2 = NULL, *n3 = NULL;
        CHECK_INT(vits_encode(v, ids, n_ids, &np_, &n1, err, sizeof(err)), 0);
        CHECK_INT(vits_encode(v, ids, n_ids, &np_, &n2, err, sizeof(err)), 0);
        np_.seed = 8;
        CHECK_INT(vits_encode(v, ids, n_ids, &np_, &n3, err, sizeof(err)), 0);
        if (n1 && n2 && n3) {
            CHECK_INT(n1->frames, n2->frames);
            float *s1 = malloc((size_t)n1->samples * 4), *s2 = malloc((size_t)n2->samples * 4);
            float *s3 = malloc((size_t)n3->samples * 4);
            CHECK_INT(vits_decode(v, n1, 0, n1->frames, s1, err, sizeof(err)), 0);
            CHECK_INT(vits_decode(v, n2, 0, n2->frames, s2, err, sizeof(err)), 0);
            CHECK_INT(vits_decode(v, n3, 0, n3->frames, s3, err, sizeof(err)), 0);
            CHECK(n1->frames == n2->frames && memcmp(s1, s2, (size_t)n1->samples * 4) == 0);
            CHECK(n3->frames != n1->frames || memcmp(s1, s3, (size_t)n1->samples * 4) != 0);
            free(s1), free(s2), free(s3);
        }
        vits_utt_free(v, n1), vits_utt_free(v, n2), vits_utt_free(v, n3);
        VitsParams badp = p;
        badp.length_scale = 0.0f;
        VitsUtt *bad = NULL;
        err[0] = 0;
        CHECK_INT(vits_encode(v, ids, n_ids, &badp, &bad, err, sizeof(err)), -EINVAL);
        CHECK(bad == NULL && strstr(err, "length_scale") != NULL);
        int64_t oob = 100000;
        err[0] = 0;
        CHECK_INT(vits_encode(v, &oob, 1, &p, &bad, err, sizeof(err)), -EINVAL);
        CHECK(strstr(err, "out of range") != NULL);
        vits_utt_free(v, u);
        free(ids32);
        free(dur);
        free(ref);
    }
out:
    vits_free(v);
    st_close(g_st);
    g_st = NULL;
    json_decref(cfg);
}

/* --real: the installed en_US-joe-medium voice (loaded by speech/tts/voice.c from its .onnx) against
 * onnxruntime (tools/ref/piper_ref.py, run here) on 24 sentences of 1–18 words phonemized by
 * speech/tts/phonemize.c (without espeak-ng: id sequences of the same lengths shaped like Piper's); the voice goes through speech/tts/voice.c like any
 * user's download; streamed decoding (12 frames, then 128) must give the same bits. 77 when the voice, python3 or onnxruntime is missing. */
static int run_real(Backend *be)
{
    char onnx[512], cmd[2048], dir[] = "/tmp/myna-vits-XXXXXX", path[600], err[256] = "";
    paths_model_file("en_US-joe-medium.onnx", onnx, sizeof(onnx));
    FILE *f = fopen(onnx, "rb");
    if (!f) {
        fprintf(stderr, "skip: no voice at %s\n", onnx);
        return 77;
    }
    fclose(f);
    if (!mkdtemp(dir))
        return 1;
    Voice *voice = NULL;
    CHECK_INT(voice_load(be, onnx, NULL, &voice, err, sizeof(err)), 0);
    if (!voice) {
        fprintf(stderr, "%s\n", err);
        return test_exit();
    }
    enum { N_SEQ = 24, MAX_IDS = 640 };
    static int64_t seqs[N_SEQ][MAX_IDS];
    int lens[N_SEQ];
    /* real sentences through the phonemizer when espeak-ng is built in, else id sequences shaped like them */
    static const char *const text[N_SEQ] = {
        "Hi.", "Yes, please.", "What time is it?", "The cat sat on the mat.",
        "Turn left at the next corner, then go straight.", "I'll call you back in ten minutes.",
        "Myna runs entirely on this computer; nothing leaves it.", "Is it going to rain tomorrow afternoon?",
        "Please remind me to buy milk, eggs, and bread on the way home.", "That's wonderful news!",
        "The meeting has been moved to Thursday at three thirty in the afternoon.",
        "Could you read the first paragraph again, a little more slowly this time?",
        "Dr. Smith lives at 221 Baker Street.", "One, two, three, four, five.",
        "A quick brown fox jumps over the lazy dog, and then it runs away into the forest.",
        "When the sun goes down, the temperature drops quickly in the desert, so bring a warm jacket.",
        "Okay.", "I am not sure I understood the question; could you say it in a different way?",
        "The quarterly report shows a twelve percent increase in revenue compared with last year.",
        "Set a timer for twenty minutes.", "Here is the weather forecast for the rest of the week.",
        "She sells seashells by the seashore, and the shells she sells are surely seashells.",
        "In the beginning, the project was small: a few scripts, one model, and a lot of hope.",
        "Thank you for listening, and have a very pleasant evening with your family and friends."};
    snprintf(path, sizeof(path), "%s/ids.txt", dir);
    f = fopen(path, "w");
    for (int i = 0; i < N_SEQ; i++) {
        int n = 0;
#if HAVE_ESPEAK
        Phonemes *ph = NULL;
        CHECK_INT(phonemize(voice, text[i], &ph, err, sizeof(err)), 0);
        for (int s = 0; ph && s < ph->n_sentences; s++)
            for (int k = 0; k < ph->sentences[s].n_ids && n < MAX_IDS; k++)
                if (s == 0 || k > 0) /* several sentences: join them as one id sequence (^ once, $ kept) */
                    seqs[i][n++] = ph->sentences[s].ids[k];
        phonemes_free(ph);
#else
        const int np = 2 + (int)strlen(text[i]);
        seqs[i][n++] = 1, seqs[i][n++] = 0;
        for (int k = 0; k < np && n < MAX_IDS - 4; k++) {
            const double u = test_rng_uniform();
            seqs[i][n++] = u < 0.15 ? 3 : u < 0.18 ? 8 : 14 + (int64_t)(test_rng_uniform() * 140);
            seqs[i][n++] = 0;
        }
        seqs[i][n++] = 10, seqs[i][n++] = 0, seqs[i][n++] = 2;
#endif
        lens[i] = n;
        for (int k = 0; k < n; k++)
            fprintf(f, "%lld%c", (long long)seqs[i][k], k + 1 < n ? ' ' : '\n');
    }
    fclose(f);
    const char *src = getenv("MYNA_SOURCE_ROOT");
    snprintf(cmd, sizeof(cmd), "python3 %s/tools/ref/piper_ref.py '%s' '%s/ids.txt' '%s' >&2", src ? src : ".", onnx,
             dir, dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "skip: the onnxruntime oracle did not run (pip install onnx onnxruntime)\n");
        voice_free(voice);
        return 77;
    }
    Vits *v = NULL;
    CHECK_INT(vits_new(be, &voice->cfg, &voice->w, &v, err, sizeof(err)), 0);
    for (int i = 0; v && i < N_SEQ; i++) {
        size_t nd = 0, na = 0;
        snprintf(path, sizeof(path), "%s/%d.dur", dir, i);
        int32_t *dur = test_read_file(path, &nd);
        snprintf(path, sizeof(path), "%s/%d.f32", dir, i);
        float *ref = test_read_file(path, &na);
        VitsParams p = {0.0f, 1.0f, 0.0f, 0, 1};
        VitsUtt *u = NULL;
        CHECK(dur && ref);
        CHECK_INT(vits_encode(v, seqs[i], lens[i], &p, &u, err, sizeof(err)), 0);
        if (!u || !dur || !ref)
            continue;
        int same = nd / 4 == (size_t)lens[i];
        for (int k = 0; same && k < lens[i]; k++)
            same = u->dur[k] == dur[k];
        CHECK(same);
        CHECK_INT(u->samples, (int64_t)(na / 4));
        if (u->samples == (int64_t)(na / 4)) {
            float *a = malloc(na);
            CHECK_INT(vits_decode(v, u, 0, u->frames, a, err, sizeof(err)), 0);
            const double nmse = test_nmse(a, ref, na / 4);
            fprintf(stderr, "joe seq %d: %d ids, %lld frames, durations %s, nmse %.3g\n", i, lens[i],
                    (long long)u->frames, same ? "identical" : "DIFFER", nmse);
            CHECK(nmse < 1e-6);
            float *b = malloc(na); /* streamed: a 12-frame window, then 128-frame ones, on a fresh encode */
            VitsUtt *u2 = NULL;
            CHECK_INT(vits_encode(v, seqs[i], lens[i], &p, &u2, err, sizeof(err)), 0);
            for (int64_t f0 = 0, w = 12; b && u2 && f0 < u2->frames; f0 += w, w = 128)
                CHECK_INT(vits_decode(v, u2, f0, f0 + w < u2->frames ? f0 + w : u2->frames, b + f0 * vits_hop(v), err,
                                      sizeof(err)),
                          0);
            CHECK(b && memcmp(a, b, na) == 0);
            vits_utt_free(v, u2);
            free(b);
            free(a);
        }
        vits_utt_free(v, u);
        free(dur);
        free(ref);
    }
    vits_free(v);
    voice_free(voice);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return test_exit();
}

int main(int argc, char **argv)
{
    Backend *be = NULL;
    CHECK_INT(backend_cpu_new(2, &be), 0);
    if (!be)
        return test_exit();
    if (argc > 1 && strcmp(argv[1], "--real") == 0) {
        int rc = run_real(be);
        backend_free(be);
        return rc;
    }
    run_model(be, "tiny-vits");
    run_model(be, "tiny-vits-ms");
    backend_free(be);
    return test_exit();
}
