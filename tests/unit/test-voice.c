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
 * --qualities: full-size voices of each Piper quality, written from Piper's published hyperparameters
 *   (piper_train/__main__.py, vits/lightning.py; not from the loader's table) with only audio.quality in the
 *   .json: each loads, and the medium one binds exactly as many weights as the real en_US-joe-medium.
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
#include "voice-build.h"
#include "paths.h"
#include "test-util.h"
#include "voice.h"

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

static int test_qualities(Backend *be)
{
    /* Piper: x-low 96/96/384; default (low, medium) 192/192/768, resblock 2, kernels 3 5 7, dilations
     * (1,2)(2,6)(3,12), upsample 8 8 4 / 16 16 8 from 256 channels; high: resblock 1, kernels 3 7 11,
     * dilations (1,3,5) x3, upsample 8 8 2 2 / 16 16 4 4 from 512 channels. 6 layers, 2 heads, window 4. */
    static const char *const names[] = {"x_low", "low", "medium", "high"};
    for (int q = 0; q < 4; q++) {
        Arch a = {.h = q == 0 ? 96 : 192, .inter = q == 0 ? 96 : 192, .ff = q == 0 ? 384 : 768, .heads = 2,
                  .layers = 6, .v = 256, .window = 4, .n_speakers = 1, .quality = names[q], .arch_json = 0};
        if (q < 3) {
            a.resblock = 2, a.c0 = 256, a.n_ups = 3, a.n_rk = 3;
            static const int rate[3] = {8, 8, 4}, kern[3] = {16, 16, 8}, rk[3] = {3, 5, 7}, dil[3][2] = {{1, 2}, {2, 6}, {3, 12}};
            for (int i = 0; i < 3; i++) {
                a.rate[i] = rate[i], a.kernel[i] = kern[i], a.rk[i] = rk[i];
                a.dil[i][0] = dil[i][0], a.dil[i][1] = dil[i][1];
            }
        } else {
            a.resblock = 1, a.c0 = 512, a.n_ups = 4, a.n_rk = 3;
            static const int rate[4] = {8, 8, 2, 2}, kern[4] = {16, 16, 4, 4}, rk[3] = {3, 7, 11};
            for (int i = 0; i < 4; i++)
                a.rate[i] = rate[i], a.kernel[i] = kern[i];
            for (int j = 0; j < 3; j++) {
                a.rk[j] = rk[j];
                for (int m = 0; m < 3; m++)
                    a.dil[j][m] = 1 + 2 * m;
            }
        }
        Spec *s = malloc(sizeof(*s));
        char err[512] = "";
        Voice *v = NULL;
        build_arch(s, &a);
        int r = load_spec(be, s, &v, err, sizeof(err));
        CHECK_INT(r, 0);
        if (r < 0)
            fprintf(stderr, "%s: %s\n", names[q], err);
        if (v) {
            CHECK_INT(v->cfg.quality, q);
            CHECK_INT(v->cfg.hidden, a.h);
            CHECK_INT(v->cfg.n_ups, a.n_ups);
            CHECK_INT(v->cfg.hop, 256);
            CHECK_INT(v->cfg.resblock, a.resblock);
            fprintf(stderr, "%s: %zu weights bound\n", names[q], v->n_params);
            if (q == 2)
                CHECK_INT(v->n_params, 15650459); /* = en_US-joe-medium (test-voice --joe) */
        }
        voice_free(v);
        free(s->json);
        free(s);
    }
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
    if (argc > 1 && !strcmp(argv[1], "--qualities")) {
        int r = test_qualities(be);
        backend_free(be);
        return r;
    }
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
