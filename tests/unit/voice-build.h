/* voice-build.h — tiny and full-size Piper (VITS) voices written as ONNX for tests (header-only test
 * helper): specs of every conv (with its Conv/ConvTranspose node and attributes) and every other tensor,
 * laid out like PyTorch's export of Piper's model — anonymous onnx::Conv_* weights in the flow, the phoneme
 * embedding stored as "sid" behind a Gather, the folded ElementwiseAffine scale behind Sub/Mul — and the
 * matching .onnx.json. Each initializer holds values that identify it (value_of), so a test can check
 * where a loader bound it. */
#ifndef MYNA_TEST_VOICE_BUILD_H
#define MYNA_TEST_VOICE_BUILD_H

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx-build.h"
#include "tensor.h"
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
    /* Optional real weights (a voice to synthesise with, tests/model/test-vits-onnx.c): the n floats of the
     * tensor Piper calls `name` ("dp.flows.0.exp_neg_logs": exp(−logs)), or NULL to write value_of. */
    const float *(*weights)(void *ctx, const char *name, int64_t n);
    void *weights_ctx;
} Spec;

enum { H = 8, I = 4, FF = 16, NHEADS = 2, NL = 2, C0 = 16, V = 12, W = 4, G = 4 };

static inline void conv(Spec *s, int kw, int cin, int cout, int stride, int dil, int group, int pad, const char *fmt, ...)
    __attribute__((format(printf, 9, 10)));
static inline void conv(Spec *s, int kw, int cin, int cout, int stride, int dil, int group, int pad, const char *fmt, ...)
{
    ConvSpec *c = &s->conv[s->n_conv++];
    va_list ap;
    *c = (ConvSpec){.kw = kw, .cin = cin, .cout = cout, .stride = stride, .dil = dil, .group = group, .pad = pad,
                    .bias = 1};
    va_start(ap, fmt);
    vsnprintf(c->prefix, sizeof(c->prefix), fmt, ap);
    va_end(ap);
}

static inline void tensor(Spec *s, const char *stored, int n_dims, const int64_t *dims, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static inline void tensor(Spec *s, const char *stored, int n_dims, const int64_t *dims, const char *fmt, ...)
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

static inline void norm(Spec *s, int c, const char *prefix)
{
    int64_t d[1] = {c};
    tensor(s, NULL, 1, d, "%s.gamma", prefix);
    tensor(s, NULL, 1, d, "%s.beta", prefix);
}

static inline void dds(Spec *s, int ch, const char *prefix)
{
    char p[160];
    for (int i = 0, dil = 1; i < 3; i++, dil *= 3) {
        conv(s, 3, 1, ch, 1, dil, ch, (3 * dil - dil) / 2, "%s.convs_sep.%d", prefix, i);
        conv(s, 1, ch, ch, 1, 1, 1, 0, "%s.convs_1x1.%d", prefix, i);
        snprintf(p, sizeof(p), "%s.norms_1.%d", prefix, i);
        norm(s, ch, p);
        snprintf(p, sizeof(p), "%s.norms_2.%d", prefix, i);
        norm(s, ch, p);
    }
}

/* The architecture a spec is built for: tiny test voices (arch_tiny) or Piper's published ones. */
typedef struct {
    int h, inter, ff, heads, layers, v, window, c0, n_speakers, gin;
    int n_ups, rate[4], kernel[4], n_rk, rk[3], resblock, dil[3][3];
    const char *quality; /* audio.quality; with arch_json the shapes come from "myna_vits" instead */
    int arch_json;
} Arch;

/* resblock 2: upsample 2·2 kernels 4·4, one resblock kernel 3 with dilations (1, 2);
 * resblock 1: upsample 2·2·2, kernels 3 and 5, dilations (1, 3, 5) each. */
static inline Arch arch_tiny(int n_speakers, int resblock)
{
    Arch a = {.h = H, .inter = I, .ff = FF, .heads = NHEADS, .layers = NL, .v = V, .window = W, .c0 = C0,
              .n_speakers = n_speakers, .gin = n_speakers > 1 ? G : 0, .resblock = resblock, .quality = "medium",
              .arch_json = 1};
    if (resblock == 2) {
        a.n_ups = 2, a.rate[0] = a.rate[1] = 2, a.kernel[0] = a.kernel[1] = 4;
        a.n_rk = 1, a.rk[0] = 3, a.dil[0][0] = 1, a.dil[0][1] = 2;
    } else {
        a.n_ups = 3;
        for (int i = 0; i < 3; i++)
            a.rate[i] = 2, a.kernel[i] = 4;
        a.n_rk = 2, a.rk[0] = 3, a.rk[1] = 5;
        for (int j = 0; j < 2; j++)
            for (int m = 0; m < 3; m++)
                a.dil[j][m] = 1 + 2 * m;
    }
    return a;
}

static inline void build_arch(Spec *s, const Arch *a)
{
    char p[96];
    int64_t d2[2], d3[3];
    const int h = a->h, ff = a->ff, inter = a->inter, g = a->gin;

    memset(s, 0, sizeof(*s));
    s->n_speakers = a->n_speakers;
    s->gin = g;
    s->resblock = a->resblock;
    s->sid_input = a->n_speakers > 1;
    /* text encoder */
    d2[0] = a->v, d2[1] = h;
    tensor(s, a->n_speakers > 1 ? "enc_p.emb.weight" : "sid", 2, d2, "enc_p.emb.weight");
    for (int l = 0; l < a->layers; l++) {
        for (int k = 0; k < 4; k++)
            conv(s, 1, h, h, 1, 1, 1, 0, "enc_p.encoder.attn_layers.%d.conv_%c", l, "qkvo"[k]);
        d3[0] = 1, d3[1] = 2 * a->window + 1, d3[2] = h / a->heads;
        tensor(s, NULL, 3, d3, "enc_p.encoder.attn_layers.%d.emb_rel_k", l);
        tensor(s, NULL, 3, d3, "enc_p.encoder.attn_layers.%d.emb_rel_v", l);
        snprintf(p, sizeof(p), "enc_p.encoder.norm_layers_1.%d", l);
        norm(s, h, p);
        conv(s, 3, h, ff, 1, 1, 1, 0, "enc_p.encoder.ffn_layers.%d.conv_1", l);
        conv(s, 3, ff, h, 1, 1, 1, 0, "enc_p.encoder.ffn_layers.%d.conv_2", l);
        snprintf(p, sizeof(p), "enc_p.encoder.norm_layers_2.%d", l);
        norm(s, h, p);
    }
    conv(s, 1, h, 2 * inter, 1, 1, 1, 0, "enc_p.proj");
    /* duration predictor (D = H) */
    conv(s, 1, h, h, 1, 1, 1, 0, "dp.pre");
    dds(s, h, "dp.convs");
    conv(s, 1, h, h, 1, 1, 1, 0, "dp.proj");
    if (g)
        conv(s, 1, g, h, 1, 1, 1, 0, "dp.cond");
    d2[0] = 2, d2[1] = 1;
    tensor(s, NULL, 2, d2, "dp.flows.0.m");
    tensor(s, "/dp/flows.0/Exp_output_0", 2, d2, "dp.flows.0.exp_neg_logs");
    for (int k = 1; k < 4; k++) {
        conv(s, 1, 1, h, 1, 1, 1, 0, "dp.flows.%d.pre", 2 * k + 1);
        snprintf(p, sizeof(p), "dp.flows.%d.convs", 2 * k + 1);
        dds(s, h, p);
        conv(s, 1, h, 29, 1, 1, 1, 0, "dp.flows.%d.proj", 2 * k + 1);
    }
    /* flow: weight-normed WaveNet convs are anonymous */
    for (int k = 0; k < 4; k++) {
        conv(s, 1, inter / 2, h, 1, 1, 1, 0, "flow.flows.%d.pre", 2 * k);
        for (int j = 0; j < 4; j++) {
            conv(s, 5, h, 2 * h, 1, 1, 1, 2, "flow.flows.%d.enc.in_layers.%d", 2 * k, j);
            s->conv[s->n_conv - 1].anon_w = 1;
            conv(s, 1, h, j < 3 ? 2 * h : h, 1, 1, 1, 0, "flow.flows.%d.enc.res_skip_layers.%d", 2 * k, j);
            s->conv[s->n_conv - 1].anon_w = 1;
        }
        if (g) {
            conv(s, 1, g, 2 * h * 4, 1, 1, 1, 0, "flow.flows.%d.enc.cond_layer", 2 * k);
            s->conv[s->n_conv - 1].anon_w = 1;
        }
        conv(s, 1, h, inter / 2, 1, 1, 1, 0, "flow.flows.%d.post", 2 * k);
    }
    /* decoder */
    conv(s, 7, inter, a->c0, 1, 1, 1, 3, "dec.conv_pre");
    if (g)
        conv(s, 1, g, a->c0, 1, 1, 1, 0, "dec.cond");
    int ch = a->c0;
    for (int i = 0; i < a->n_ups; i++, ch /= 2) {
        int k = a->kernel[i], u = a->rate[i];
        conv(s, k, ch, ch / 2, u, 1, 1, (k - u) / 2, "dec.ups.%d", i);
        s->conv[s->n_conv - 1].transposed = 1;
        for (int j = 0; j < a->n_rk; j++) {
            int rk = a->rk[j], rb = i * a->n_rk + j;
            if (a->resblock == 2) {
                for (int m = 0; m < 2; m++)
                    conv(s, rk, ch / 2, ch / 2, 1, a->dil[j][m], 1, (rk * a->dil[j][m] - a->dil[j][m]) / 2,
                         "dec.resblocks.%d.convs.%d", rb, m);
            } else {
                for (int m = 0; m < 3; m++)
                    conv(s, rk, ch / 2, ch / 2, 1, a->dil[j][m], 1, (rk * a->dil[j][m] - a->dil[j][m]) / 2,
                         "dec.resblocks.%d.convs1.%d", rb, m);
                for (int m = 0; m < 3; m++)
                    conv(s, rk, ch / 2, ch / 2, 1, 1, 1, (rk - 1) / 2, "dec.resblocks.%d.convs2.%d", rb, m);
            }
        }
    }
    conv(s, 7, ch, 1, 1, 1, 1, 3, "dec.conv_post");
    s->conv[s->n_conv - 1].bias = 0;
    if (g) {
        d2[0] = a->n_speakers, d2[1] = g;
        tensor(s, NULL, 2, d2, "emb_g.weight");
    }
    /* the .json */
    json_t *j = json_pack("{s:{s:i,s:s},s:{s:s},s:{s:f,s:f,s:f},s:s,s:i,s:i}", "audio", "sample_rate", 16000,
                          "quality", a->quality, "espeak", "voice", "en-us", "inference", "noise_scale", 0.5,
                          "length_scale", 1.25, "noise_w", 0.75, "phoneme_type", "espeak", "num_symbols", a->v,
                          "num_speakers", a->n_speakers);
    json_object_set_new(j, "phoneme_id_map", json_pack("{s:[i],s:[i],s:[i],s:[i],s:[i],s:[i],s:[i],s:[i],s:[i,i]}",
                                                       "_", 0, "^", 1, "$", 2, " ", 3, "a", 4, "b", 5, "\xc9\x99", 6,
                                                       ",", 7, "\xcb\x88", 8, 9));
    if (a->arch_json) {
        json_t *mv = json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:s}", "hidden_channels", h, "inter_channels", inter,
                               "filter_channels", ff, "n_heads", a->heads, "n_layers", a->layers,
                               "upsample_initial_channel", a->c0, "resblock", a->resblock == 2 ? "2" : "1");
        json_t *rates = json_array(), *kernels = json_array(), *rks = json_array(), *dils = json_array();
        for (int i = 0; i < a->n_ups; i++) {
            json_array_append_new(rates, json_integer(a->rate[i]));
            json_array_append_new(kernels, json_integer(a->kernel[i]));
        }
        for (int jk = 0; jk < a->n_rk; jk++) {
            json_t *row = json_array();
            json_array_append_new(rks, json_integer(a->rk[jk]));
            for (int m = 0; m < (a->resblock == 2 ? 2 : 3); m++)
                json_array_append_new(row, json_integer(a->dil[jk][m]));
            json_array_append_new(dils, row);
        }
        json_object_set_new(mv, "upsample_rates", rates);
        json_object_set_new(mv, "upsample_kernel_sizes", kernels);
        json_object_set_new(mv, "resblock_kernel_sizes", rks);
        json_object_set_new(mv, "resblock_dilation_sizes", dils);
        json_object_set_new(j, "myna_vits", mv);
    }
    if (a->n_speakers > 1) {
        json_t *map = json_object();
        for (int i = 0; i < a->n_speakers; i++) {
            static const char *const names[] = {"ann", "bob", "cy"};
            char nm[16];
            snprintf(nm, sizeof(nm), "%s", i < 3 ? names[i] : "spk");
            if (i >= 3)
                snprintf(nm, sizeof(nm), "spk%d", i);
            json_object_set_new(map, nm, json_integer(i));
        }
        json_object_set_new(j, "speaker_id_map", map);
    }
    s->json = json_dumps(j, JSON_COMPACT);
    json_decref(j);
}

static inline void build_spec(Spec *s, int n_speakers, int resblock)
{
    Arch a = arch_tiny(n_speakers, resblock);
    build_arch(s, &a);
}

/* Element k of the tensor with ordinal `id`, so a bound tensor shows which initializer it came from. */
static inline float value_of(int id, int64_t k) { return (float)id + (float)(k % 1000) * 1e-4f; }

static inline void write_tensor(Pb *g, const Spec *s, const char *stored, const char *name, int n_dims,
                                const int64_t *dims, int id)
{
    const int fp16 = s->fp16;
    int64_t n = 1;
    for (int i = 0; i < n_dims; i++)
        n *= dims[i];
    const float *real = s->weights ? s->weights(s->weights_ctx, name, n) : NULL;
    Pb t = {0};
    if (fp16) {
        uint16_t *h = malloc((size_t)(n ? n : 1) * 2);
        for (int64_t k = 0; k < n; k++)
            h[k] = f32_to_fp16(real ? real[k] : value_of(id, k));
        ob_tensor_raw(&t, stored, DT_FLOAT16, n_dims, dims, h, (size_t)n * 2);
        free(h);
    } else {
        float *f = malloc((size_t)(n ? n : 1) * 4);
        for (int64_t k = 0; k < n; k++)
            f[k] = real ? real[k] : value_of(id, k);
        ob_tensor_raw(&t, stored, DT_FLOAT, n_dims, dims, f, (size_t)n * 4);
        free(f);
    }
    pb_msg(g, 5, &t);
    pb_free(&t);
}

static inline void serialize(const Spec *s, Pb *model)
{
    Pb g = {0}, n = {0}, v = {0};
    char x[32], y[32], wn[128], bn[128], node_name[160], pw[128], pb[128];
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
        snprintf(pw, sizeof(pw), "%s.weight", c->prefix);
        snprintf(pb, sizeof(pb), "%s.bias", c->prefix);
        if (c->kw > 0)
            write_tensor(&g, s, wn, pw, 3, wd, id);
        if (c->bias)
            write_tensor(&g, s, bn, pb, 1, bd, id + 1);
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
            write_tensor(&g, s, "dp.flows.0.logs", "dp.flows.0.logs", t->n_dims, t->dims, id);
            continue;
        }
        write_tensor(&g, s, t->stored, t->name, t->n_dims, t->dims, id);
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

static inline int load_spec(Backend *be, const Spec *s, Voice **ret, char *err, size_t err_len)
{
    Pb m = {0};
    serialize(s, &m);
    int r = voice_load_memory(be, m.p, m.n, s->json, strlen(s->json), "tiny", ret, err, err_len);
    pb_free(&m);
    return r;
}

static inline ConvSpec *find_conv(Spec *s, const char *prefix)
{
    for (int i = 0; i < s->n_conv; i++)
        if (!strcmp(s->conv[i].prefix, prefix))
            return &s->conv[i];
    fprintf(stderr, "test bug: no conv %s\n", prefix);
    abort();
}

static inline TensorSpec *find_tensor(Spec *s, const char *name)
{
    for (int i = 0; i < s->n_t; i++)
        if (!strcmp(s->t[i].name, name))
            return &s->t[i];
    fprintf(stderr, "test bug: no tensor %s\n", name);
    abort();
}

/* The ordinal write_tensor used for conv `prefix`'s weight (+1 for its bias), or tensor `name`. */
static inline int conv_id(Spec *s, const char *prefix) { return (int)(find_conv(s, prefix) - s->conv) * 2; }
static inline int tensor_id(Spec *s, const char *name) { return s->n_conv * 2 + (int)(find_tensor(s, name) - s->t); }

static inline int holds(const Tensor *t, int id, int64_t n, int fp16)
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


#endif
