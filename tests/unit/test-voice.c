/* test-voice.c — the Piper voice loader (speech/tts/voice.h).
 *
 * Unit part: tiny VITS voices written here as ONNX (tests/unit/onnx-build.h) with a "myna_vits" architecture
 * in the .json, laid out like PyTorch's export of Piper's model: anonymous onnx::Conv_* weights in the flow
 * (resolved through their Conv node), the phoneme embedding stored as "sid" behind a Gather, the folded
 * ElementwiseAffine scale behind Sub/Mul, Conv/ConvTranspose nodes with their attributes.
 *   - valid variants load and every tensor lands where it belongs (values checked, not just shapes):
 *     single/multi-speaker, resblock 1 and 2, FLOAT16 weights, logs instead of the folded scale, fully
 *     anonymous convs (node-name resolution), dp.flows.1 present;
 *   - MALFORMED: table of broken voices (json fields, missing/misshapen/duplicate/extra tensors, wrong
 *     conv attributes, graph inputs, bytes); each must fail with the stated errno and a message naming it.
 * --joe: the installed en_US-joe-medium voice: hyperparameters, 15.65 M parameters bound, resolved names.
 * --write-corpus DIR: write the tiny voices and the byte-level malformed ones as fuzz seeds
 * (tests/fuzz/corpus/onnx; tests/fuzz/fuzz-onnx.c binds them with the same tiny .json).
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "onnx-build.h"
#include "paths.h"
#include "test-util.h"
#include "voice.h"

enum { DT_FLOAT = 1, DT_INT64 = 7, DT_FLOAT16 = 10 };

/* ---- a tiny voice as specs ------------------------------------------------------------------------------ */

typedef struct {
    char prefix[96];
    int kw, cin, cout;     /* PyTorch weight [cout, cin, kw]; ConvTranspose: [cin, cout, kw] */
    int transposed, stride, dil, group, pad, bias;
    int anon_w, anon_b;    /* store weight / bias under onnx::Conv_N */
    int no_node;           /* written without a consuming node */
} ConvSpec;

typedef struct {
    char name[96], stored[96];
    int n_dims;
    int64_t dims[5];
} TensorSpec;

typedef struct {
    ConvSpec conv[400];
    int n_conv;
    TensorSpec t[200];
    int n_t;
    int n_speakers, gin, resblock, fp16, logs_not_exp, sid_input, no_input, scales_int;
    char *json;            /* owned */
} Spec;

enum { H = 8, I = 4, FF = 16, NHEADS = 2, NL = 2, C0 = 16, V = 12, W = 4, G = 4 };

static void conv(Spec *s, int kw, int cin, int cout, int stride, int dil, int group, int pad, const char *fmt, ...)
    __attribute__((format(printf, 9, 10)));
static void conv(Spec *s, int kw, int cin, int cout, int stride, int dil, int group, int pad, const char *fmt, ...)
{
    ConvSpec *c = &s->conv[s->n_conv++];
    va_list ap;
    *c = (ConvSpec){.kw = kw, .cin = cin, .cout = cout, .stride = stride, .dil = dil, .group = group, .pad = pad,
                    .bias = 1};
    va_start(ap, fmt);
    vsnprintf(c->prefix, sizeof(c->prefix), fmt, ap);
    va_end(ap);
}

static void tensor(Spec *s, const char *stored, int n_dims, const int64_t *dims, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void tensor(Spec *s, const char *stored, int n_dims, const int64_t *dims, const char *fmt, ...)
{
    TensorSpec *t = &s->t[s->n_t++];
    va_list ap;
    memset(t, 0, sizeof(*t));
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof(t->name), fmt, ap);
    va_end(ap);
    if (stored)
        snprintf(t->stored, sizeof(t->stored), "%s", stored);
    else
        memcpy(t->stored, t->name, sizeof(t->stored));
    t->n_dims = n_dims;
    memcpy(t->dims, dims, sizeof(int64_t) * (size_t)n_dims);
}

static void norm(Spec *s, int c, const char *prefix)
{
    int64_t d[1] = {c};
    tensor(s, NULL, 1, d, "%s.gamma", prefix);
    tensor(s, NULL, 1, d, "%s.beta", prefix);
}

static void dds(Spec *s, int ch, const char *prefix)
{
    char p[96];
    for (int i = 0, dil = 1; i < 3; i++, dil *= 3) {
        conv(s, 3, 1, ch, 1, dil, ch, (3 * dil - dil) / 2, "%s.convs_sep.%d", prefix, i);
        conv(s, 1, ch, ch, 1, 1, 1, 0, "%s.convs_1x1.%d", prefix, i);
        snprintf(p, sizeof(p), "%s.norms_1.%d", prefix, i);
        norm(s, ch, p);
        snprintf(p, sizeof(p), "%s.norms_2.%d", prefix, i);
        norm(s, ch, p);
    }
}

/* resblock 2: upsample 2·2 kernels 4·4, one resblock kernel 3 with dilations (1, 2);
 * resblock 1: upsample 2·2·2, kernels 3 and 5, dilations (1, 3, 5) each. */
static void build_spec(Spec *s, int n_speakers, int resblock)
{
    char p[96];
    int64_t d1[1], d2[2], d3[3];

    memset(s, 0, sizeof(*s));
    s->n_speakers = n_speakers;
    s->gin = n_speakers > 1 ? G : 0;
    s->resblock = resblock;
    s->sid_input = n_speakers > 1;
    /* text encoder */
    d2[0] = V, d2[1] = H;
    tensor(s, n_speakers > 1 ? "enc_p.emb.weight" : "sid", 2, d2, "enc_p.emb.weight");
    for (int l = 0; l < NL; l++) {
        for (int k = 0; k < 4; k++)
            conv(s, 1, H, H, 1, 1, 1, 0, "enc_p.encoder.attn_layers.%d.conv_%c", l, "qkvo"[k]);
        d3[0] = 1, d3[1] = 2 * W + 1, d3[2] = H / NHEADS;
        tensor(s, NULL, 3, d3, "enc_p.encoder.attn_layers.%d.emb_rel_k", l);
        tensor(s, NULL, 3, d3, "enc_p.encoder.attn_layers.%d.emb_rel_v", l);
        snprintf(p, sizeof(p), "enc_p.encoder.norm_layers_1.%d", l);
        norm(s, H, p);
        conv(s, 3, H, FF, 1, 1, 1, 0, "enc_p.encoder.ffn_layers.%d.conv_1", l);
        conv(s, 3, FF, H, 1, 1, 1, 0, "enc_p.encoder.ffn_layers.%d.conv_2", l);
        snprintf(p, sizeof(p), "enc_p.encoder.norm_layers_2.%d", l);
        norm(s, H, p);
    }
    conv(s, 1, H, 2 * I, 1, 1, 1, 0, "enc_p.proj");
    /* duration predictor (D = H) */
    conv(s, 1, H, H, 1, 1, 1, 0, "dp.pre");
    dds(s, H, "dp.convs");
    conv(s, 1, H, H, 1, 1, 1, 0, "dp.proj");
    if (s->gin)
        conv(s, 1, G, H, 1, 1, 1, 0, "dp.cond");
    d2[0] = 2, d2[1] = 1;
    tensor(s, NULL, 2, d2, "dp.flows.0.m");
    tensor(s, "/dp/flows.0/Exp_output_0", 2, d2, "dp.flows.0.exp_neg_logs");
    for (int k = 1; k < 4; k++) {
        conv(s, 1, 1, H, 1, 1, 1, 0, "dp.flows.%d.pre", 2 * k + 1);
        snprintf(p, sizeof(p), "dp.flows.%d.convs", 2 * k + 1);
        dds(s, H, p);
        conv(s, 1, H, 29, 1, 1, 1, 0, "dp.flows.%d.proj", 2 * k + 1);
    }
    /* flow: weight-normed WaveNet convs are anonymous */
    for (int k = 0; k < 4; k++) {
        conv(s, 1, I / 2, H, 1, 1, 1, 0, "flow.flows.%d.pre", 2 * k);
        for (int j = 0; j < 4; j++) {
            conv(s, 5, H, 2 * H, 1, 1, 1, 2, "flow.flows.%d.enc.in_layers.%d", 2 * k, j);
            s->conv[s->n_conv - 1].anon_w = 1;
            conv(s, 1, H, j < 3 ? 2 * H : H, 1, 1, 1, 0, "flow.flows.%d.enc.res_skip_layers.%d", 2 * k, j);
            s->conv[s->n_conv - 1].anon_w = 1;
        }
        if (s->gin) {
            conv(s, 1, G, 2 * H * 4, 1, 1, 1, 0, "flow.flows.%d.enc.cond_layer", 2 * k);
            s->conv[s->n_conv - 1].anon_w = 1;
        }
        conv(s, 1, H, I / 2, 1, 1, 1, 0, "flow.flows.%d.post", 2 * k);
    }
    /* decoder */
    int n_ups = resblock == 2 ? 2 : 3, nk = resblock == 2 ? 1 : 2;
    conv(s, 7, I, C0, 1, 1, 1, 3, "dec.conv_pre");
    if (s->gin)
        conv(s, 1, G, C0, 1, 1, 1, 0, "dec.cond");
    int ch = C0;
    for (int i = 0; i < n_ups; i++, ch /= 2) {
        int k = resblock == 2 ? 4 : 4, u = 2;
        conv(s, k, ch, ch / 2, u, 1, 1, (k - u) / 2, "dec.ups.%d", i);
        s->conv[s->n_conv - 1].transposed = 1;
        for (int j = 0; j < nk; j++) {
            int rk = j == 0 ? 3 : 5, rb = i * nk + j;
            if (resblock == 2) {
                conv(s, rk, ch / 2, ch / 2, 1, 1, 1, (rk - 1) / 2, "dec.resblocks.%d.convs.0", rb);
                conv(s, rk, ch / 2, ch / 2, 1, 2, 1, (rk * 2 - 2) / 2, "dec.resblocks.%d.convs.1", rb);
            } else {
                for (int m = 0; m < 3; m++)
                    conv(s, rk, ch / 2, ch / 2, 1, 1 + 2 * m, 1, (rk * (1 + 2 * m) - (1 + 2 * m)) / 2,
                         "dec.resblocks.%d.convs1.%d", rb, m);
                for (int m = 0; m < 3; m++)
                    conv(s, rk, ch / 2, ch / 2, 1, 1, 1, (rk - 1) / 2, "dec.resblocks.%d.convs2.%d", rb, m);
            }
        }
    }
    conv(s, 7, ch, 1, 1, 1, 1, 3, "dec.conv_post");
    s->conv[s->n_conv - 1].bias = 0;
    if (s->gin) {
        d2[0] = n_speakers, d2[1] = G;
        tensor(s, NULL, 2, d2, "emb_g.weight");
    }
    (void)d1;
    /* the .json */
    json_t *j = json_pack("{s:{s:i,s:s},s:{s:s},s:{s:f,s:f,s:f},s:s,s:i,s:i,s:{s:[i],s:[i],s:[i],s:[i],s:[i],s:[i],"
                          "s:[i],s:[i],s:[i,i]},s:{s:i,s:i,s:i,s:i,s:i,s:i,s:s,s:[i,i],s:[i,i]}}",
                          "audio", "sample_rate", 16000, "quality", "medium", "espeak", "voice", "en-us",
                          "inference", "noise_scale", 0.5, "length_scale", 1.25, "noise_w", 0.75,
                          "phoneme_type", "espeak", "num_symbols", V, "num_speakers", n_speakers,
                          "phoneme_id_map", "_", 0, "^", 1, "$", 2, " ", 3, "a", 4, "b", 5, "\xc9\x99", 6, ",", 7,
                          "\xcb\x88", 8, 9,
                          "myna_vits", "hidden_channels", H, "inter_channels", I, "filter_channels", FF,
                          "n_heads", NHEADS, "n_layers", NL, "upsample_initial_channel", C0,
                          "resblock", resblock == 2 ? "2" : "1", "upsample_rates", 2, 2, "upsample_kernel_sizes", 4, 4);
    json_t *mv = json_object_get(j, "myna_vits");
    if (resblock == 2) {
        json_object_set_new(mv, "resblock_kernel_sizes", json_pack("[i]", 3));
        json_object_set_new(mv, "resblock_dilation_sizes", json_pack("[[i,i]]", 1, 2));
    } else {
        json_object_set_new(mv, "upsample_rates", json_pack("[i,i,i]", 2, 2, 2));
        json_object_set_new(mv, "upsample_kernel_sizes", json_pack("[i,i,i]", 4, 4, 4));
        json_object_set_new(mv, "resblock_kernel_sizes", json_pack("[i,i]", 3, 5));
        json_object_set_new(mv, "resblock_dilation_sizes", json_pack("[[i,i,i],[i,i,i]]", 1, 3, 5, 1, 3, 5));
    }
    if (n_speakers > 1)
        json_object_set_new(j, "speaker_id_map", json_pack("{s:i,s:i,s:i}", "ann", 0, "bob", 1, "cy", 2));
    s->json = json_dumps(j, JSON_COMPACT);
    json_decref(j);
}

/* Element k of the tensor with ordinal `id`, so a bound tensor shows which initializer it came from. */
static float value_of(int id, int64_t k) { return (float)id + (float)(k % 1000) * 1e-4f; }

static void write_tensor(Pb *g, const char *stored, int n_dims, const int64_t *dims, int id, int fp16)
{
    int64_t n = 1;
    for (int i = 0; i < n_dims; i++)
        n *= dims[i];
    Pb t = {0};
    if (fp16) {
        uint16_t *h = malloc((size_t)(n ? n : 1) * 2);
        for (int64_t k = 0; k < n; k++)
            h[k] = f32_to_fp16(value_of(id, k));
        ob_tensor_raw(&t, stored, DT_FLOAT16, n_dims, dims, h, (size_t)n * 2);
        free(h);
    } else {
        float *f = malloc((size_t)(n ? n : 1) * 4);
        for (int64_t k = 0; k < n; k++)
            f[k] = value_of(id, k);
        ob_tensor_raw(&t, stored, DT_FLOAT, n_dims, dims, f, (size_t)n * 4);
        free(f);
    }
    pb_msg(g, 5, &t);
    pb_free(&t);
}

static void serialize(const Spec *s, Pb *model)
{
    Pb g = {0}, n = {0}, v = {0};
    char x[32], y[32], wn[128], bn[128], node_name[160];
    int id = 0;

    for (int i = 0; i < s->n_conv; i++, id += 2) {
        const ConvSpec *c = &s->conv[i];
        int64_t wd[3] = {c->transposed ? c->cin : c->cout, c->transposed ? c->cout : c->cin, c->kw};
        int64_t bd[1] = {c->cout};
        if (c->anon_w)
            snprintf(wn, sizeof(wn), "onnx::Conv_%d", 5000 + 3 * i);
        else
            snprintf(wn, sizeof(wn), "%s.weight", c->prefix);
        if (c->anon_b)
            snprintf(bn, sizeof(bn), "onnx::Conv_%d", 5001 + 3 * i);
        else
            snprintf(bn, sizeof(bn), "%s.bias", c->prefix);
        if (c->kw > 0)
            write_tensor(&g, wn, 3, wd, id, s->fp16);
        if (c->bias)
            write_tensor(&g, bn, 1, bd, id + 1, s->fp16);
        if (c->no_node)
            continue;
        snprintf(x, sizeof(x), "x%d", i);
        snprintf(y, sizeof(y), "y%d", i);
        size_t o = (size_t)snprintf(node_name, sizeof(node_name), "/");
        for (const char *q = c->prefix; *q && o + 1 < sizeof(node_name); q++)
            node_name[o++] = *q == '.' && (q[1] < '0' || q[1] > '9') ? '/' : *q;
        snprintf(node_name + o, sizeof(node_name) - o, "/%s", c->transposed ? "ConvTranspose" : "Conv");
        const char *in[3] = {x, wn, bn}, *out[1] = {y};
        ob_node(&n, c->transposed ? "ConvTranspose" : "Conv", node_name, c->bias ? 3 : 2, in, 1, out);
        int64_t ks[1] = {c->kw}, st[1] = {c->stride}, dl[1] = {c->dil}, pd[2] = {c->pad, c->pad};
        ob_attr_ints(&n, "kernel_shape", 1, ks);
        ob_attr_ints(&n, "strides", 1, st);
        ob_attr_ints(&n, "dilations", 1, dl);
        ob_attr_ints(&n, "pads", 2, pd);
        ob_attr_int(&n, "group", c->group);
        pb_msg(&g, 1, &n);
        pb_free(&n);
    }
    for (int i = 0; i < s->n_t; i++, id++) {
        const TensorSpec *t = &s->t[i];
        if (s->logs_not_exp && !strcmp(t->name, "dp.flows.0.exp_neg_logs")) {
            write_tensor(&g, "dp.flows.0.logs", t->n_dims, t->dims, id, s->fp16);
            continue;
        }
        write_tensor(&g, t->stored, t->n_dims, t->dims, id, s->fp16);
        if (!strcmp(t->name, "enc_p.emb.weight")) {
            const char *in[2] = {t->stored, "input"}, *out[1] = {"emb_out"};
            ob_node(&n, "Gather", "/enc_p/emb/Gather", 2, in, 1, out);
            pb_msg(&g, 1, &n);
            pb_free(&n);
        } else if (!strcmp(t->name, "dp.flows.0.exp_neg_logs")) {
            const char *sin[2] = {"z_in", "dp.flows.0.m"}, *sout[1] = {"/dp/flows.0/Sub_output_0"};
            const char *min[2] = {"/dp/flows.0/Sub_output_0", t->stored}, *mout[1] = {"/dp/flows.0/Mul_output_0"};
            ob_node(&n, "Sub", "/dp/flows.0/Sub", 2, sin, 1, sout);
            pb_msg(&g, 1, &n);
            pb_free(&n);
            ob_node(&n, "Mul", "/dp/flows.0/Mul", 2, min, 1, mout);
            pb_msg(&g, 1, &n);
            pb_free(&n);
        }
    }
    int64_t d_in[2] = {1, -1}, d_len[1] = {1}, d_sc[1] = {3}, d_out[4] = {1, 1, -1, 1};
    if (s->no_input != 1) {
        ob_value_info(&v, "input", DT_INT64, 2, d_in);
        pb_msg(&g, 11, &v);
        pb_free(&v);
    }
    ob_value_info(&v, "input_lengths", DT_INT64, 1, d_len);
    pb_msg(&g, 11, &v);
    pb_free(&v);
    ob_value_info(&v, "scales", s->scales_int ? DT_INT64 : DT_FLOAT, 1, d_sc);
    pb_msg(&g, 11, &v);
    pb_free(&v);
    if (s->sid_input) {
        ob_value_info(&v, "sid", DT_INT64, 1, d_len);
        pb_msg(&g, 11, &v);
        pb_free(&v);
    }
    ob_value_info(&v, "output", DT_FLOAT, 4, d_out);
    pb_msg(&g, 12, &v);
    pb_free(&v);
    ob_model(model, &g);
    pb_free(&g);
}

static int load_spec(Backend *be, const Spec *s, Voice **ret, char *err, size_t err_len)
{
    Pb m = {0};
    serialize(s, &m);
    int r = voice_load_memory(be, m.p, m.n, s->json, strlen(s->json), "tiny", ret, err, err_len);
    pb_free(&m);
    return r;
}

static ConvSpec *find_conv(Spec *s, const char *prefix)
{
    for (int i = 0; i < s->n_conv; i++)
        if (!strcmp(s->conv[i].prefix, prefix))
            return &s->conv[i];
    fprintf(stderr, "test bug: no conv %s\n", prefix);
    abort();
}

static TensorSpec *find_tensor(Spec *s, const char *name)
{
    for (int i = 0; i < s->n_t; i++)
        if (!strcmp(s->t[i].name, name))
            return &s->t[i];
    fprintf(stderr, "test bug: no tensor %s\n", name);
    abort();
}

/* The ordinal write_tensor used for conv `prefix`'s weight (+1 for its bias), or tensor `name`. */
static int conv_id(Spec *s, const char *prefix) { return (int)(find_conv(s, prefix) - s->conv) * 2; }
static int tensor_id(Spec *s, const char *name) { return s->n_conv * 2 + (int)(find_tensor(s, name) - s->t); }

static int holds(const Tensor *t, int id, int64_t n, int fp16)
{
    const float *f = t->data;
    if (!f || tensor_nelements(t) != n || t->dtype != DTYPE_F32)
        return 0;
    for (int64_t k = 0; k < n; k++) {
        float want = fp16 ? fp16_to_f32(f32_to_fp16(value_of(id, k))) : value_of(id, k);
        if (f[k] != want)
            return 0;
    }
    return 1;
}

/* ---- valid voices ------------------------------------------------------------------------------------ */

static void test_valid(Backend *be, int n_speakers, int resblock, int fp16, int logs, int anon_all)
{
    Spec *s = malloc(sizeof(*s));
    char err[512] = "";
    Voice *v = NULL;

    build_spec(s, n_speakers, resblock);
    s->fp16 = fp16;
    s->logs_not_exp = logs;
    if (anon_all) /* every flow bias anonymous too: names come from the node scope */
        for (int i = 0; i < s->n_conv; i++)
            if (!strncmp(s->conv[i].prefix, "flow.", 5))
                s->conv[i].anon_w = s->conv[i].anon_b = 1;
    int r = load_spec(be, s, &v, err, sizeof(err));
    CHECK_INT(r, 0);
    if (r < 0) {
        fprintf(stderr, "valid voice (%d speakers, resblock %d, fp16 %d, logs %d, anon %d): %s\n", n_speakers,
                resblock, fp16, logs, anon_all, err);
        goto out;
    }
    const VoiceConfig *c = &v->cfg;
    CHECK_INT(c->sample_rate, 16000);
    CHECK_NEAR(c->noise_scale, 0.5, 1e-6);
    CHECK_NEAR(c->length_scale, 1.25, 1e-6);
    CHECK_NEAR(c->noise_w, 0.75, 1e-6);
    CHECK(!strcmp(c->espeak_voice, "en-us"));
    CHECK_INT(c->hidden, H);
    CHECK_INT(c->inter, I);
    CHECK_INT(c->gin, n_speakers > 1 ? G : 0);
    CHECK_INT(c->resblock, resblock);
    CHECK_INT(c->hop, resblock == 2 ? 4 : 8);
    CHECK_INT(v->id_pad, 0);
    CHECK_INT(v->id_bos, 1);
    CHECK_INT(v->id_eos, 2);
    const int64_t *ids;
    CHECK_INT(voice_phoneme_ids(v, 0x2c8, &ids), 2); /* ˈ → [8, 9] */
    CHECK(ids[0] == 8 && ids[1] == 9);
    CHECK_INT(voice_phoneme_ids(v, 'z', &ids), 0);
    if (n_speakers > 1) {
        CHECK_INT(voice_speaker_id(v, "bob"), 1);
        CHECK_INT(voice_speaker_id(v, "zed"), -ENOENT);
        CHECK(holds(&v->w.emb_g, tensor_id(s, "emb_g.weight"), n_speakers * G, fp16));
        CHECK(holds(&v->w.flow[3].enc.cond.w, conv_id(s, "flow.flows.6.enc.cond_layer"), 2 * H * 4 * G, fp16));
        CHECK(holds(&v->w.dec.cond.w, conv_id(s, "dec.cond"), C0 * G, fp16));
    }
    /* values prove each binding: the "sid" embedding, anonymous flow convs, biases, ConvTranspose */
    CHECK(holds(&v->w.enc.emb, tensor_id(s, "enc_p.emb.weight"), V * H, fp16));
    CHECK(v->w.enc.emb.ne[0] == H && v->w.enc.emb.ne[1] == V);
    CHECK(holds(&v->w.enc.layers[1].conv_v.b, conv_id(s, "enc_p.encoder.attn_layers.1.conv_v") + 1, H, fp16));
    CHECK(holds(&v->w.enc.layers[0].emb_rel_k, tensor_id(s, "enc_p.encoder.attn_layers.0.emb_rel_k"),
                (2 * W + 1) * (H / NHEADS), fp16));
    CHECK(holds(&v->w.flow[1].enc.in_layers[2].w, conv_id(s, "flow.flows.2.enc.in_layers.2"), 5 * H * 2 * H, fp16));
    CHECK(holds(&v->w.flow[1].enc.in_layers[2].b, conv_id(s, "flow.flows.2.enc.in_layers.2") + 1, 2 * H, fp16));
    CHECK(holds(&v->w.flow[3].enc.res_skip[3].w, conv_id(s, "flow.flows.6.enc.res_skip_layers.3"), H * H, fp16));
    CHECK(v->w.flow[3].enc.res_skip[3].w.ne[0] == 1 && v->w.flow[3].enc.res_skip[3].w.ne[2] == H);
    CHECK(holds(&v->w.dec.ups[1].w, conv_id(s, "dec.ups.1"), 4 * (C0 / 2) * (C0 / 4), fp16));
    CHECK(v->w.dec.ups[1].w.ne[0] == 4 && v->w.dec.ups[1].w.ne[1] == C0 / 4 && v->w.dec.ups[1].w.ne[2] == C0 / 2);
    CHECK(holds(&v->w.dec.ups[1].b, conv_id(s, "dec.ups.1") + 1, C0 / 4, fp16));
    CHECK(v->w.dec.conv_post.b.data == NULL);
    CHECK(holds(&v->w.dp.flows[3].proj.w, conv_id(s, "dp.flows.7.proj"), H * 29, fp16));
    CHECK(!v->w.dp.has_flow[0] && v->w.dp.has_flow[1] && v->w.dp.has_flow[3]);
    if (resblock == 1)
        CHECK(holds(&v->w.dec.res[3].convs[4].w, conv_id(s, "dec.resblocks.3.convs2.1"), 5 * 4 * 4, fp16));
    int mid = tensor_id(s, "dp.flows.0.m"), sid = tensor_id(s, "dp.flows.0.exp_neg_logs");
    float m0 = fp16 ? fp16_to_f32(f32_to_fp16(value_of(mid, 0))) : value_of(mid, 0);
    float s1 = fp16 ? fp16_to_f32(f32_to_fp16(value_of(sid, 1))) : value_of(sid, 1);
    CHECK(v->w.dp.ea_m_host[0] == m0);
    if (logs)
        CHECK_NEAR(v->w.dp.ea_exp_neg_logs_host[1], expf(-s1), 1e-6 * expf(-s1));
    else
        CHECK(v->w.dp.ea_exp_neg_logs_host[1] == s1);
    CHECK(((const float *)v->w.dp.ea_exp_neg_logs.data)[1] == v->w.dp.ea_exp_neg_logs_host[1]);
    CHECK(v->n_params > 1000);
out:
    voice_free(v);
    free(s->json);
    free(s);
}

/* ---- malformed voices ---------------------------------------------------------------------------------- */

typedef void (*MutFn)(Spec *s);
typedef void (*BytesFn)(Pb *m);

static void json_set(Spec *s, const char *path, json_t *val) /* "a.b" = val (NULL: delete) */
{
    json_t *root = json_loads(s->json, 0, NULL), *o = root;
    char key[128], *dot;
    snprintf(key, sizeof(key), "%s", path);
    char *k = key;
    while ((dot = strchr(k, '.'))) {
        *dot = 0;
        o = json_object_get(o, k);
        k = dot + 1;
    }
    if (val)
        json_object_set_new(o, k, val);
    else
        json_object_del(o, k);
    free(s->json);
    s->json = json_dumps(root, JSON_COMPACT);
    json_decref(root);
}

static void json_text(Spec *s, const char *text)
{
    free(s->json);
    s->json = strdup(text);
}

static void drop_conv(Spec *s, const char *prefix)
{
    ConvSpec *c = find_conv(s, prefix);
    memmove(c, c + 1, (size_t)(s->conv + s->n_conv - c - 1) * sizeof(*c));
    s->n_conv--;
}

static void drop_tensor(Spec *s, const char *name)
{
    TensorSpec *t = find_tensor(s, name);
    memmove(t, t + 1, (size_t)(s->t + s->n_t - t - 1) * sizeof(*t));
    s->n_t--;
}

#define MUT(fn, ...) static void fn(Spec *s) { __VA_ARGS__; }
MUT(m_json_syntax, json_text(s, "{\"audio\": {\"sample_rate\": 16000,"))
MUT(m_json_dup, json_text(s, "{\"audio\": {}, \"audio\": {}}"))
MUT(m_json_array, json_text(s, "[1, 2]"))
MUT(m_no_audio, json_set(s, "audio", NULL))
MUT(m_rate_str, json_set(s, "audio.sample_rate", json_string("16000")))
MUT(m_rate_low, json_set(s, "audio.sample_rate", json_integer(100)))
MUT(m_quality, json_set(s, "audio.quality", json_string("ultra")))
MUT(m_noise_neg, json_set(s, "inference.noise_scale", json_real(-1)))
MUT(m_length_str, json_set(s, "inference.length_scale", json_string("fast")))
MUT(m_no_espeak, json_set(s, "espeak", NULL))
MUT(m_espeak_path, json_set(s, "espeak.voice", json_string("../../etc/passwd")))
MUT(m_type_text, json_set(s, "phoneme_type", json_string("text")))
MUT(m_no_symbols, json_set(s, "num_symbols", NULL))
MUT(m_no_map, json_set(s, "phoneme_id_map", NULL))
MUT(m_id_range, json_set(s, "phoneme_id_map.a", json_pack("[i]", V)))
MUT(m_id_empty, json_set(s, "phoneme_id_map.a", json_array()))
MUT(m_id_type, json_set(s, "phoneme_id_map.a", json_pack("[s]", "4")))
MUT(m_no_bos, json_set(s, "phoneme_id_map.^", NULL))
MUT(m_speakers_str, json_set(s, "num_speakers", json_string("one")))
MUT(m_arch_key, json_set(s, "myna_vits.hidden_size", json_integer(8)))
MUT(m_arch_heads, json_set(s, "myna_vits.n_heads", json_integer(3)))
MUT(m_arch_dil, json_set(s, "myna_vits.resblock_dilation_sizes", json_pack("[[i,i,i]]", 1, 2, 3)))
MUT(m_arch_ups, json_set(s, "myna_vits.upsample_rates", json_pack("[i]", 2)))
MUT(m_symbols_json, json_set(s, "num_symbols", json_integer(V + 1)))
MUT(m_quality_only, json_set(s, "myna_vits", NULL))
MUT(m_speakers_json, json_set(s, "num_speakers", json_integer(3)))
MUT(m_drop_post, drop_conv(s, "dec.conv_post"))
MUT(m_drop_anon, drop_conv(s, "flow.flows.2.enc.in_layers.1"))
MUT(m_drop_dpflow, drop_conv(s, "dp.flows.3.pre"))
MUT(m_drop_norm, drop_tensor(s, "enc_p.encoder.norm_layers_2.1.beta"))
MUT(m_drop_scale, drop_tensor(s, "dp.flows.0.exp_neg_logs"))
MUT(m_shape_proj, find_conv(s, "enc_p.proj")->cout = 2 * I + 2)
MUT(m_shape_rel, find_tensor(s, "enc_p.encoder.attn_layers.1.emb_rel_v")->dims[1] = 7)
MUT(m_shape_ups, find_conv(s, "dec.ups.0")->cout = C0 / 4)
MUT(m_shape_kw, find_conv(s, "flow.flows.4.enc.in_layers.0")->kw = 3)
MUT(m_dims5, { TensorSpec *t = find_tensor(s, "dp.flows.0.m"); t->n_dims = 5; t->dims[2] = t->dims[3] = t->dims[4] = 1; })
MUT(m_empty, find_tensor(s, "enc_p.encoder.norm_layers_1.0.gamma")->dims[0] = 0)
MUT(m_int_weight, { drop_tensor(s, "enc_p.encoder.norm_layers_1.0.gamma"); })
MUT(m_dup_resolve, { ConvSpec *c = find_conv(s, "dec.conv_pre"); c->anon_w = 1;
                     int64_t d[3] = {C0, I, 7}; tensor(s, NULL, 3, d, "dec.conv_pre.weight"); })
MUT(m_extra, { int64_t d[1] = {4}; tensor(s, NULL, 1, d, "dec.extra.weight"); })
MUT(m_emb_g_single, { int64_t d[2] = {2, G}; tensor(s, NULL, 2, d, "emb_g.weight"); })
MUT(m_stride, find_conv(s, "dec.ups.1")->stride = 3)
MUT(m_dilation, find_conv(s, "dec.resblocks.1.convs.1")->dil = 3)
MUT(m_group, find_conv(s, "dp.convs.convs_sep.1")->group = 1)
MUT(m_pad, find_conv(s, "flow.flows.0.enc.in_layers.3")->pad = 1)
MUT(m_no_node, find_conv(s, "enc_p.proj")->no_node = 1)
MUT(m_no_input, s->no_input = 1)
MUT(m_scales_int, s->scales_int = 1)
MUT(m_sid_single, { s->sid_input = 1; strcpy(find_tensor(s, "enc_p.emb.weight")->stored, "enc_p.emb.weight"); })

static void b_truncate_half(Pb *m) { m->n /= 2; }
static void b_truncate_10(Pb *m) { m->n = 10; }
static void b_empty(Pb *m) { m->n = 0; }
static void b_garbage(Pb *m) { m->p[0] = 0xff; }
static void b_huge_len(Pb *m) { pb_tag(m, 14, 2); pb_varint(m, 1ull << 40); }
static void b_bad_varint(Pb *m) { pb_tag(m, 1, 0); for (int i = 0; i < 10; i++) pb_raw(m, "\xff", 1); }

static const struct {
    const char *what;
    MutFn mut;
    BytesFn bytes;
    int n_speakers;
    int code;
    const char *needle;
} CASES[] = {
    {"json syntax error", m_json_syntax, NULL, 1, -EBADMSG, "line 1"},
    {"json duplicate key", m_json_dup, NULL, 1, -EBADMSG, "duplicate"},
    {"json top level array", m_json_array, NULL, 1, -EINVAL, "top level"},
    {"json no audio", m_no_audio, NULL, 1, -EINVAL, "audio is missing"},
    {"json sample_rate string", m_rate_str, NULL, 1, -EINVAL, "audio.sample_rate is not an integer"},
    {"json sample_rate 100", m_rate_low, NULL, 1, -EINVAL, "audio.sample_rate = 100 out of range"},
    {"json quality ultra", m_quality, NULL, 1, -EINVAL, "audio.quality"},
    {"json noise_scale -1", m_noise_neg, NULL, 1, -EINVAL, "inference.noise_scale"},
    {"json length_scale string", m_length_str, NULL, 1, -EINVAL, "inference.length_scale is not a number"},
    {"json no espeak", m_no_espeak, NULL, 1, -EINVAL, "espeak.voice is missing"},
    {"json espeak voice path", m_espeak_path, NULL, 1, -EINVAL, "is not a voice name"},
    {"json phoneme_type text", m_type_text, NULL, 1, -ENOTSUP, "phoneme_type \"text\""},
    {"json no num_symbols", m_no_symbols, NULL, 1, -EINVAL, "num_symbols is missing"},
    {"json no phoneme_id_map", m_no_map, NULL, 1, -EINVAL, "phoneme_id_map is missing"},
    {"json id >= num_symbols", m_id_range, NULL, 1, -EINVAL, "phoneme_id_map[\"a\"][0]"},
    {"json empty id list", m_id_empty, NULL, 1, -EINVAL, "array of 1..16 ids"},
    {"json id string", m_id_type, NULL, 1, -EINVAL, "is not an id"},
    {"json no ^", m_no_bos, NULL, 1, -EINVAL, "has no \"^\""},
    {"json num_speakers string", m_speakers_str, NULL, 1, -EINVAL, "num_speakers is not an integer"},
    {"json unknown hyperparameter", m_arch_key, NULL, 1, -EINVAL, "myna_vits.hidden_size"},
    {"json heads do not divide hidden", m_arch_heads, NULL, 1, -EINVAL, "multiple of n_heads"},
    {"json dilation rows", m_arch_dil, NULL, 1, -EINVAL, "resblock_dilation_sizes[0] has 3"},
    {"json ups vs kernels", m_arch_ups, NULL, 1, -EINVAL, "upsample_rates but"},
    {"num_symbols vs embedding", m_symbols_json, NULL, 1, -EBADMSG, "enc_p.emb.weight: shape 8×12, expected 8×13"},
    {"quality table vs a tiny graph", m_quality_only, NULL, 1, -EBADMSG, "shape"},
    {"num_speakers 3 without sid", m_speakers_json, NULL, 1, -EINVAL, "no 'sid' input"},
    {"missing dec.conv_post", m_drop_post, NULL, 1, -EBADMSG, "dec.conv_post.weight missing"},
    {"missing anonymous flow conv", m_drop_anon, NULL, 1, -EBADMSG, "flow.flows.2.enc.in_layers.1.weight missing"},
    {"missing dp.flows.3", m_drop_dpflow, NULL, 1, -EBADMSG, "dp.flows.3.pre.weight missing"},
    {"missing norm beta", m_drop_norm, NULL, 1, -EBADMSG, "norm_layers_2.1.beta missing"},
    {"missing affine scale", m_drop_scale, NULL, 1, -EBADMSG, "affine scale"},
    {"proj shape", m_shape_proj, NULL, 1, -EBADMSG, "enc_p.proj.weight: shape"},
    {"emb_rel window", m_shape_rel, NULL, 1, -EBADMSG, "emb_rel_v: shape 4×7×1, expected 4×9×1"},
    {"ups channels", m_shape_ups, NULL, 1, -EBADMSG, "dec.ups.0.weight: shape"},
    {"flow kernel", m_shape_kw, NULL, 1, -EBADMSG, "flow.flows.4.enc.in_layers.0.weight: shape 3×"},
    {"5-D weight", m_dims5, NULL, 1, -EBADMSG, "has 5 dims"},
    {"empty weight", m_empty, NULL, 1, -EBADMSG, "is empty"},
    {"weight absent (only its shape elsewhere)", m_int_weight, NULL, 1, -EBADMSG, "norm_layers_1.0.gamma missing"},
    {"two initializers for one name", m_dup_resolve, NULL, 1, -EBADMSG, "both resolve to tensor dec.conv_pre.weight"},
    {"extra tensor", m_extra, NULL, 1, -EINVAL, "dec.extra.weight ('dec.extra.weight') has no place"},
    {"emb_g in a single-speaker voice", m_emb_g_single, NULL, 1, -EINVAL, "emb_g.weight"},
    {"ConvTranspose stride", m_stride, NULL, 1, -EINVAL, "strides[0] = 3, the architecture needs 2"},
    {"resblock dilation", m_dilation, NULL, 1, -EINVAL, "dilations[0] = 3"},
    {"DDS group", m_group, NULL, 1, -EINVAL, "group = 1, the architecture needs 8"},
    {"WaveNet pad", m_pad, NULL, 1, -EINVAL, "pads[0] = 1"},
    {"weight without a Conv node", m_no_node, NULL, 1, -EBADMSG, "no Conv node consumes it"},
    {"graph input missing", m_no_input, NULL, 1, -EBADMSG, "graph input 'input' is missing"},
    {"scales INT64", m_scales_int, NULL, 1, -EBADMSG, "'scales' is INT64, expected FLOAT"},
    {"sid input in a 1-speaker voice", m_sid_single, NULL, 1, -EINVAL, "num_speakers is 1"},
    {"truncated to half", NULL, b_truncate_half, 1, -EBADMSG, "onnx:"},
    {"truncated to 10 bytes", NULL, b_truncate_10, 1, -EBADMSG, "onnx:"},
    {"empty .onnx", NULL, b_empty, 1, -EBADMSG, "empty"},
    {"garbage first byte", NULL, b_garbage, 1, -EBADMSG, "onnx:"},
    {"huge length", NULL, b_huge_len, 1, -EBADMSG, "past the end"},
    {"bad varint", NULL, b_bad_varint, 1, -EBADMSG, "varint"},
    {"multi-speaker: missing cond_layer", NULL, NULL, 3, -EBADMSG, "flow.flows.0.enc.cond_layer.weight missing"},
};

static void test_malformed(Backend *be)
{
    int n = (int)(sizeof(CASES) / sizeof(CASES[0]));
    for (int i = 0; i < n; i++) {
        Spec *s = malloc(sizeof(*s));
        char err[512] = "";
        Voice *v = NULL;
        Pb m = {0};
        build_spec(s, CASES[i].n_speakers, 2);
        if (CASES[i].mut)
            CASES[i].mut(s);
        if (CASES[i].n_speakers > 1 && !CASES[i].mut && !CASES[i].bytes)
            drop_conv(s, "flow.flows.0.enc.cond_layer");
        serialize(s, &m);
        if (CASES[i].bytes)
            CASES[i].bytes(&m);
        int r = voice_load_memory(be, m.n ? m.p : (const void *)"", m.n, s->json, strlen(s->json), "tiny", &v, err,
                                  sizeof(err));
        g_test_checks++;
        if (r != CASES[i].code || v || !strstr(err, CASES[i].needle) || !strstr(err, "tiny")) {
            g_test_failures++;
            fprintf(stderr, "case '%s': r = %d (expected %d), err '%s' (expected to contain '%s')\n", CASES[i].what, r,
                    CASES[i].code, err, CASES[i].needle);
        }
        voice_free(v);
        pb_free(&m);
        free(s->json);
        free(s);
    }
    fprintf(stderr, "%d malformed voices rejected as expected\n", n);
    CHECK(n >= 40);
}

/* ---- the real voice ----------------------------------------------------------------------------------- */

static int test_joe(Backend *be)
{
    char path[4096], err[512];
    Voice *v = NULL;

    if (paths_model_file("en_US-joe-medium.onnx", path, sizeof(path)) < 0 || access(path, R_OK) != 0) {
        fprintf(stderr, "en_US-joe-medium.onnx not installed (scripts/fetch-models): skipped\n");
        return 77;
    }
    int r = voice_load(be, path, NULL, &v, err, sizeof(err));
    CHECK_INT(r, 0);
    if (r < 0) {
        fprintf(stderr, "%s\n", err);
        return test_exit();
    }
    const VoiceConfig *c = &v->cfg;
    CHECK(!strcmp(v->name, "en_US-joe-medium"));
    CHECK_INT(c->sample_rate, 22050);
    CHECK_INT(c->quality, VOICE_QUALITY_MEDIUM);
    CHECK_NEAR(c->noise_scale, 0.667, 1e-6);
    CHECK_NEAR(c->length_scale, 1.0, 1e-6);
    CHECK_NEAR(c->noise_w, 0.8, 1e-6);
    CHECK(!strcmp(c->espeak_voice, "en-us") && !strcmp(c->language, "en_US"));
    CHECK_INT(c->n_symbols, 256);
    CHECK_INT(c->n_speakers, 1);
    CHECK_INT(c->gin, 0);
    CHECK_INT(c->hidden, 192);
    CHECK_INT(c->filter, 768);
    CHECK_INT(c->hop, 256);
    CHECK_INT(v->n_phonemes, 151);
    /* 15,650,556 values in 401 initializers; the 97 in integer or graph-constant initializers are not
     * weights: every weight of the file is bound (the loader rejects unbound ones) */
    CHECK_INT(v->n_params, 15650459);
    CHECK(v->w.enc.emb.ne[0] == 192 && v->w.enc.emb.ne[1] == 256); /* stored as "sid" */
    CHECK(v->w.flow[0].enc.in_layers[0].w.ne[0] == 5 && v->w.flow[0].enc.in_layers[0].w.ne[2] == 384);
    CHECK(v->w.dec.ups[2].w.ne[0] == 8 && v->w.dec.ups[2].w.ne[1] == 32 && v->w.dec.ups[2].w.ne[2] == 64);
    CHECK(!v->w.dp.has_flow[0] && v->w.dp.has_flow[1]);
    CHECK_NEAR(v->w.dp.ea_exp_neg_logs_host[0], 0.9785079, 1e-6);
    CHECK_NEAR(v->w.dp.ea_m_host[1], 0.01181223, 1e-7);
    voice_free(v);
    return test_exit();
}

static void write_seed(const char *dir, const char *name, const Pb *m)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(m->p, 1, m->n, fp) != m->n)
        fprintf(stderr, "cannot write %s\n", path);
    if (fp)
        fclose(fp);
}

static int write_corpus(const char *dir)
{
    static const struct { const char *name; MutFn mut; BytesFn bytes; } seeds[] = {
        {"voice-tiny", NULL, NULL}, {"voice-bad-stride", m_stride, NULL}, {"voice-half", NULL, b_truncate_half}};
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
        Spec *s = malloc(sizeof(*s));
        Pb m = {0};
        build_spec(s, 1, 2);
        if (seeds[i].mut)
            seeds[i].mut(s);
        serialize(s, &m);
        if (seeds[i].bytes)
            seeds[i].bytes(&m);
        write_seed(dir, seeds[i].name, &m);
        pb_free(&m);
        free(s->json);
        free(s);
    }
    return 0;
}

int main(int argc, char **argv)
{
    Backend *be = NULL;
    if (argc > 2 && !strcmp(argv[1], "--write-corpus"))
        return write_corpus(argv[2]);
    if (backend_cpu_new(1, &be) < 0)
        return 1;
    if (argc > 1 && !strcmp(argv[1], "--joe")) {
        int r = test_joe(be);
        backend_free(be);
        return r;
    }
    test_valid(be, 1, 2, 0, 0, 0);
    test_valid(be, 3, 2, 0, 0, 0);
    test_valid(be, 1, 1, 0, 0, 0);
    test_valid(be, 1, 2, 1, 0, 0);
    test_valid(be, 1, 2, 0, 1, 0);
    test_valid(be, 1, 2, 0, 0, 1);
    test_valid(be, 3, 1, 1, 1, 1);
    test_malformed(be);
    voice_free(NULL);
    backend_free(be);
    return test_exit();
}
