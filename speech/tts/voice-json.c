/* voice-json.c — the Piper voice config (VOICE.onnx.json) and the VITS architecture of each quality level.
 *
 * Fields read (Piper's piper/config.py, piper_train/preprocess.py write them): audio.sample_rate,
 * audio.quality, inference.{noise_scale,length_scale,noise_w}, espeak.voice, phoneme_type, num_symbols,
 * num_speakers, speaker_id_map, phoneme_id_map, vowel_clusters, language.code. Every one is type- and
 * range-checked; a
 * duplicate key anywhere is an error (Jansson JSON_REJECT_DUPLICATES).
 *
 * Architecture: Piper's training defaults (piper_train/vits/lightning.py) with its quality presets
 * (piper_train/__main__.py): x_low shrinks the text encoder to 96/96/384, high switches HiFi-GAN to resblock
 * "1" with 512 channels and upsampling 8·8·2·2; low and medium are the default model (they differ only in
 * sample rate). The .json does not carry these numbers, so they come from the quality level, and voice.c
 * checks every weight against them. An optional object "myna_vits" (Piper's training names:
 * hidden_channels, inter_channels, filter_channels, n_heads, n_layers, resblock, resblock_kernel_sizes,
 * resblock_dilation_sizes, upsample_rates, upsample_initial_channel, upsample_kernel_sizes) overrides them,
 * for tiny test voices exported by tools/ref; published voices do not have it.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "voice-impl.h"

#define FAIL(code, ...) fail_json(err, err_len, v->name, code, __VA_ARGS__)

static int fail_json(char *err, size_t err_len, const char *name, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail_json(char *err, size_t err_len, const char *name, int code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return err_set(err, err_len, code, "voice %s.onnx.json: %s", name, msg);
}

const char *voice_quality_name(VoiceQuality q)
{
    static const char *const names[] = {"x_low", "low", "medium", "high"};
    return (unsigned)q < 4 ? names[q] : "?";
}

void voice_arch_for_quality(VoiceConfig *c, VoiceQuality q)
{
    static const int res2_dil[3][3] = {{1, 2, 0}, {2, 6, 0}, {3, 12, 0}};
    int high = q == VOICE_QUALITY_HIGH;

    c->hidden = c->inter = q == VOICE_QUALITY_X_LOW ? 96 : 192;
    c->filter = q == VOICE_QUALITY_X_LOW ? 384 : 768;
    c->n_heads = 2;
    c->n_layers = 6;
    c->ffn_kernel = 3;
    c->window = 4;
    c->dp_kernel = 3;
    c->dp_bins = 10;
    c->dp_tail_bound = 5.0f;
    c->flow_kernel = 5;
    c->flow_dilation_rate = 1;
    c->resblock = high ? 1 : 2;
    c->dec_channels = high ? 512 : 256;
    c->n_ups = high ? 4 : 3;
    for (int i = 0; i < c->n_ups; i++) {
        c->ups_rate[i] = high ? (i < 2 ? 8 : 2) : (i < 2 ? 8 : 4);
        c->ups_kernel[i] = high ? (i < 2 ? 16 : 4) : (i < 2 ? 16 : 8);
    }
    c->n_res_kernels = 3;
    c->n_res_dilations = high ? 3 : 2;
    for (int j = 0; j < 3; j++) {
        c->res_kernel[j] = high ? (j == 0 ? 3 : j == 1 ? 7 : 11) : 3 + 2 * j;
        for (int d = 0; d < 3; d++)
            c->res_dilation[j][d] = high ? 1 + 2 * d : res2_dil[j][d];
    }
    c->dp_channels = c->hidden;
    c->hop = 1;
    for (int i = 0; i < c->n_ups; i++)
        c->hop *= c->ups_rate[i];
}

int voice_arch_check(const VoiceConfig *c, const char *name, char *err, size_t err_len)
{
#define RANGE(x, lo, hi) \
    if ((x) < (lo) || (x) > (hi)) \
        return err_set(err, err_len, -EINVAL, "voice %s: architecture: %s = %d out of range %d..%d", name, #x, \
                       (int)(x), (int)(lo), (int)(hi))
    RANGE(c->hidden, 2, 4096);
    RANGE(c->inter, 2, 4096);
    RANGE(c->filter, 1, 16384);
    RANGE(c->n_heads, 1, 64);
    RANGE(c->n_layers, 1, VOICE_MAX_LAYERS);
    RANGE(c->dec_channels, 2, 8192);
    RANGE(c->n_ups, 1, VOICE_MAX_UPS);
    RANGE(c->n_res_kernels, 1, VOICE_MAX_RES_KERNELS);
    RANGE(c->n_res_dilations, 1, VOICE_MAX_RES_DILATIONS);
    RANGE(c->resblock, 1, 2);
    if (c->hidden % c->n_heads)
        return err_set(err, err_len, -EINVAL, "voice %s: architecture: hidden %d is not a multiple of n_heads %d", name,
                       c->hidden, c->n_heads);
    if (c->inter % 2)
        return err_set(err, err_len, -EINVAL, "voice %s: architecture: inter_channels %d is odd", name, c->inter);
    if (c->dec_channels >> c->n_ups < 1 || (c->dec_channels >> c->n_ups) << c->n_ups != c->dec_channels)
        return err_set(err, err_len, -EINVAL, "voice %s: architecture: %d channels cannot halve %d times", name,
                       c->dec_channels, c->n_ups);
    if (c->resblock == 2 && c->n_res_dilations != 2)
        return err_set(err, err_len, -EINVAL, "voice %s: architecture: resblock 2 takes 2 dilations, not %d", name,
                       c->n_res_dilations);
    for (int i = 0; i < c->n_ups; i++) {
        RANGE(c->ups_rate[i], 1, 64);
        RANGE(c->ups_kernel[i], 1, 128);
        if ((c->ups_kernel[i] - c->ups_rate[i]) < 0 || (c->ups_kernel[i] - c->ups_rate[i]) % 2)
            return err_set(err, err_len, -EINVAL,
                           "voice %s: architecture: upsample %d: kernel %d - rate %d must be even and >= 0", name, i,
                           c->ups_kernel[i], c->ups_rate[i]);
    }
    for (int j = 0; j < c->n_res_kernels; j++) {
        RANGE(c->res_kernel[j], 1, 63);
        if (!(c->res_kernel[j] & 1))
            return err_set(err, err_len, -EINVAL, "voice %s: architecture: resblock kernel %d is even", name,
                           c->res_kernel[j]);
        for (int d = 0; d < c->n_res_dilations; d++)
            RANGE(c->res_dilation[j][d], 1, 256);
    }
#undef RANGE
    return 0;
}

/* ---- small typed getters ------------------------------------------------------------------------------- */

static int get_int(const json_t *o, const char *key, int64_t lo, int64_t hi, int required, int64_t *ret,
                   const Voice *v, const char *path, char *err, size_t err_len)
{
    json_t *x = json_object_get(o, key);
    if (!x) {
        if (required)
            return FAIL(-EINVAL, "%s is missing", path);
        return 0;
    }
    if (!json_is_integer(x))
        return FAIL(-EINVAL, "%s is not an integer", path);
    int64_t n = (int64_t)json_integer_value(x);
    if (n < lo || n > hi)
        return FAIL(-EINVAL, "%s = %lld out of range %lld..%lld", path, (long long)n, (long long)lo, (long long)hi);
    *ret = n;
    return 0;
}

static int get_num(const json_t *o, const char *key, double lo, double hi, float *ret, const Voice *v,
                   const char *path, char *err, size_t err_len)
{
    json_t *x = json_object_get(o, key);
    if (!x)
        return 0; /* Piper's default stays */
    if (!json_is_number(x))
        return FAIL(-EINVAL, "%s is not a number", path);
    double d = json_number_value(x);
    if (!isfinite(d) || d < lo || d > hi)
        return FAIL(-EINVAL, "%s = %g out of range %g..%g", path, d, lo, hi);
    *ret = (float)d;
    return 0;
}

/* An array of 1..max integers in lo..hi. */
static int int_array(const json_t *a, const char *path, int max, int lo, int hi, int *out, int *ret_n,
                     const Voice *v, char *err, size_t err_len)
{
    json_t *x;
    size_t i;

    if (!json_is_array(a) || json_array_size(a) < 1 || json_array_size(a) > (size_t)max)
        return FAIL(-EINVAL, "%s is not an array of 1..%d integers", path, max);
    json_array_foreach(a, i, x) {
        if (!json_is_integer(x) || json_integer_value(x) < lo || json_integer_value(x) > hi)
            return FAIL(-EINVAL, "%s[%zu] is not an integer in %d..%d", path, i, lo, hi);
        out[i] = (int)json_integer_value(x);
    }
    *ret_n = (int)json_array_size(a);
    return 0;
}

static int get_ints(const json_t *o, const char *key, int max, int lo, int hi, int *out, int *ret_n,
                    const Voice *v, char *err, size_t err_len)
{
    char path[80];
    json_t *a = json_object_get(o, key);

    if (!a)
        return 0;
    snprintf(path, sizeof(path), "myna_vits.%s", key);
    return int_array(a, path, max, lo, hi, out, ret_n, v, err, err_len);
}

/* ---- myna_vits: explicit architecture for test voices ------------------------------------------------- */

static int parse_arch_override(Voice *v, const json_t *o, char *err, size_t err_len)
{
    VoiceConfig *c = &v->cfg;
    static const char *const int_keys[] = {"hidden_channels", "inter_channels", "filter_channels", "n_heads",
                                           "n_layers", "upsample_initial_channel"};
    int *const int_dst[] = {&c->hidden, &c->inter, &c->filter, &c->n_heads, &c->n_layers, &c->dec_channels};
    const char *key;
    json_t *x;
    int r, n;

    if (!json_is_object(o))
        return FAIL(-EINVAL, "myna_vits is not an object");
    json_object_foreach((json_t *)o, key, x) {
        int known = 0;
        for (size_t i = 0; i < sizeof(int_keys) / sizeof(int_keys[0]); i++)
            known |= !strcmp(key, int_keys[i]);
        known |= !strcmp(key, "resblock") || !strcmp(key, "resblock_kernel_sizes") ||
                 !strcmp(key, "resblock_dilation_sizes") || !strcmp(key, "upsample_rates") ||
                 !strcmp(key, "upsample_kernel_sizes");
        if (!known)
            return FAIL(-EINVAL, "myna_vits.%s is not a known hyperparameter", key);
    }
    for (size_t i = 0; i < sizeof(int_keys) / sizeof(int_keys[0]); i++) {
        int64_t val;
        char path[64];
        snprintf(path, sizeof(path), "myna_vits.%s", int_keys[i]);
        val = *int_dst[i];
        if ((r = get_int(o, int_keys[i], 1, 16384, 0, &val, v, path, err, err_len)) < 0)
            return r;
        *int_dst[i] = (int)val;
    }
    if ((x = json_object_get(o, "resblock"))) {
        const char *s = json_string_value(x);
        if (!s || (strcmp(s, "1") && strcmp(s, "2")))
            return FAIL(-EINVAL, "myna_vits.resblock is not \"1\" or \"2\"");
        c->resblock = s[0] - '0';
        c->n_res_dilations = c->resblock == 1 ? 3 : 2;
    }
    int n_rates = c->n_ups, n_kernels = c->n_ups;
    if ((r = get_ints(o, "upsample_rates", VOICE_MAX_UPS, 1, 64, c->ups_rate, &n_rates, v, err, err_len)) < 0 ||
        (r = get_ints(o, "upsample_kernel_sizes", VOICE_MAX_UPS, 1, 128, c->ups_kernel, &n_kernels, v, err,
                      err_len)) < 0)
        return r;
    if (n_rates != n_kernels)
        return FAIL(-EINVAL, "myna_vits: %d upsample_rates but %d upsample_kernel_sizes", n_rates, n_kernels);
    c->n_ups = n_rates;
    n = c->n_res_kernels;
    if ((r = get_ints(o, "resblock_kernel_sizes", VOICE_MAX_RES_KERNELS, 1, 63, c->res_kernel, &n, v, err,
                      err_len)) < 0)
        return r;
    c->n_res_kernels = n;
    if ((x = json_object_get(o, "resblock_dilation_sizes"))) {
        json_t *row;
        size_t j;
        if (!json_is_array(x) || json_array_size(x) != (size_t)c->n_res_kernels)
            return FAIL(-EINVAL, "myna_vits.resblock_dilation_sizes needs %d rows", c->n_res_kernels);
        json_array_foreach(x, j, row) {
            int d[VOICE_MAX_RES_DILATIONS], nd = 0;
            char path[64];
            snprintf(path, sizeof(path), "myna_vits.resblock_dilation_sizes[%zu]", j);
            if ((r = int_array(row, path, VOICE_MAX_RES_DILATIONS, 1, 256, d, &nd, v, err, err_len)) < 0)
                return r;
            if (nd != c->n_res_dilations)
                return FAIL(-EINVAL, "myna_vits.resblock_dilation_sizes[%zu] has %d dilations, resblock %d takes %d",
                            j, nd, c->resblock, c->n_res_dilations);
            memcpy(c->res_dilation[j], d, sizeof(int) * (size_t)nd);
        }
    }
    c->dp_channels = c->hidden;
    c->hop = 1;
    for (int i = 0; i < c->n_ups; i++)
        c->hop *= c->ups_rate[i];
    return 0;
}

/* ---- phoneme_id_map and speaker_id_map ------------------------------------------------------------------ */

/* One codepoint of UTF-8 filling the whole of s, or -1. */
static int64_t single_codepoint(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    int64_t cp;
    size_t len;

    if (n == 0)
        return -1;
    if (u[0] < 0x80) { cp = u[0]; len = 1; }
    else if ((u[0] & 0xe0) == 0xc0) { cp = u[0] & 0x1f; len = 2; }
    else if ((u[0] & 0xf0) == 0xe0) { cp = u[0] & 0x0f; len = 3; }
    else if ((u[0] & 0xf8) == 0xf0) { cp = u[0] & 0x07; len = 4; }
    else return -1;
    if (len != n)
        return -1;
    for (size_t i = 1; i < len; i++) {
        if ((u[i] & 0xc0) != 0x80)
            return -1;
        cp = cp << 6 | (u[i] & 0x3f);
    }
    return cp;
}

static int cmp_phoneme(const void *a, const void *b)
{
    const VoicePhoneme *x = a, *y = b;
    return x->codepoint < y->codepoint ? -1 : x->codepoint > y->codepoint;
}

static int parse_phonemes(Voice *v, const json_t *map, char *err, size_t err_len)
{
    size_t n = json_object_size(map), n_ids = 0, k = 0;
    const char *key;
    json_t *ids;

    if (!json_is_object(map) || n == 0)
        return FAIL(-EINVAL, "phoneme_id_map is missing or not a non-empty object");
    if (n > VOICE_MAX_PHONEMES)
        return FAIL(-EINVAL, "phoneme_id_map has %zu entries, more than %d", n, VOICE_MAX_PHONEMES);
    json_object_foreach((json_t *)map, key, ids) {
        if (!json_is_array(ids) || json_array_size(ids) < 1 || json_array_size(ids) > VOICE_MAX_IDS_PER_PHONEME)
            return FAIL(-EINVAL, "phoneme_id_map[\"%.40s\"] is not an array of 1..%d ids", key,
                        VOICE_MAX_IDS_PER_PHONEME);
        json_t *x;
        size_t i;
        json_array_foreach(ids, i, x)
            if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) >= v->cfg.n_symbols)
                return FAIL(-EINVAL, "phoneme_id_map[\"%.40s\"][%zu] is not an id in 0..%d (num_symbols)", key, i,
                            v->cfg.n_symbols - 1);
        n_ids += json_array_size(ids);
    }
    /* + room for the ids of vowel_clusters entries, which copy the map's lists */
    n_ids += (size_t)VOICE_MAX_CLUSTERS * VOICE_MAX_IDS_PER_PHONEME;
    v->phonemes = calloc(n, sizeof(*v->phonemes));
    v->id_pool = calloc(n_ids, sizeof(*v->id_pool));
    if (!v->phonemes || !v->id_pool)
        return -ENOMEM;
    n_ids = 0;
    json_object_foreach((json_t *)map, key, ids) {
        int64_t cp = single_codepoint(key, strlen(key));
        json_t *x;
        size_t i;
        if (cp < 0)
            continue; /* Piper maps codepoint by codepoint: a longer key can never match, so it is unused */
        VoicePhoneme *p = &v->phonemes[k++];
        p->codepoint = (uint32_t)cp;
        p->ids = &v->id_pool[n_ids];
        json_array_foreach(ids, i, x)
            v->id_pool[n_ids++] = json_integer_value(x);
        p->n_ids = (int)json_array_size(ids);
    }
    v->n_phonemes = (int)k;
    qsort(v->phonemes, k, sizeof(*v->phonemes), cmp_phoneme);
    for (size_t i = 1; i < k; i++)
        if (v->phonemes[i].codepoint == v->phonemes[i - 1].codepoint)
            return FAIL(-EINVAL, "phoneme_id_map maps U+%04X twice", v->phonemes[i].codepoint);
    static const struct { uint32_t cp; const char *what; } special[] = {{'_', "pad"}, {'^', "bos"}, {'$', "eos"}};
    int64_t *dst[] = {&v->id_pad, &v->id_bos, &v->id_eos};
    for (int s = 0; s < 3; s++) {
        const int64_t *id;
        if (voice_phoneme_ids(v, special[s].cp, &id) < 1)
            return FAIL(-EINVAL, "phoneme_id_map has no \"%c\" (%s)", (char)special[s].cp, special[s].what);
        *dst[s] = id[0];
    }
    return 0;
}

/* vowel_clusters: [["a", "ɪ"], …] — runs of single-codepoint phonemes merged before the id lookup
 * (piper-tts phonemize_espeak.py _merge_known_vowel_clusters). An element that is not one codepoint can
 * never match a codepoint run, so such a cluster is unused and left out. */
static int parse_clusters(Voice *v, const json_t *list, const json_t *map, char *err, size_t err_len)
{
    size_t i, n_used = 0;
    json_t *cl;

    if (!list || json_is_null(list))
        return 0;
    if (!json_is_array(list) || json_array_size(list) > VOICE_MAX_CLUSTERS)
        return FAIL(-EINVAL, "vowel_clusters is not an array of at most %d clusters", VOICE_MAX_CLUSTERS);
    if (json_array_size(list) && !(v->clusters = calloc(json_array_size(list), sizeof(*v->clusters))))
        return -ENOMEM;
    for (size_t k = 0; k < (size_t)v->n_phonemes; k++)
        n_used += (size_t)v->phonemes[k].n_ids;
    json_array_foreach(list, i, cl) {
        VoiceCluster *c = &v->clusters[v->n_clusters];
        char joined[VOICE_MAX_CLUSTER * 4 + 1] = "";
        size_t j, jl = 0;
        json_t *el;
        int usable = 1;
        if (!json_is_array(cl) || json_array_size(cl) < 2 || json_array_size(cl) > VOICE_MAX_CLUSTER)
            return FAIL(-EINVAL, "vowel_clusters[%zu] is not an array of 2..%d phonemes", i, VOICE_MAX_CLUSTER);
        json_array_foreach(cl, j, el) {
            const char *s = json_string_value(el);
            if (!s)
                return FAIL(-EINVAL, "vowel_clusters[%zu][%zu] is not a string", i, j);
            int64_t cp = single_codepoint(s, strlen(s));
            if (cp < 0) {
                usable = 0;
                continue;
            }
            c->cps[c->n_cps++] = (uint32_t)cp;
            memcpy(joined + jl, s, strlen(s));
            jl += strlen(s);
            joined[jl] = 0;
        }
        if (!usable) {
            memset(c, 0, sizeof(*c));
            continue;
        }
        const json_t *ids = json_object_get(map, joined), *x;
        size_t k;
        c->ids = &v->id_pool[n_used];
        json_array_foreach(ids, k, x) /* the map's lists were checked by parse_phonemes */
            v->id_pool[n_used++] = json_integer_value(x);
        c->n_ids = ids ? (int)json_array_size(ids) : 0;
        if (c->n_cps > v->max_cluster)
            v->max_cluster = c->n_cps;
        v->n_clusters++;
    }
    return 0;
}

static int parse_speakers(Voice *v, const json_t *map, char *err, size_t err_len)
{
    const char *key;
    json_t *x;
    size_t n;

    if (!map || json_is_null(map))
        return 0;
    if (!json_is_object(map))
        return FAIL(-EINVAL, "speaker_id_map is not an object");
    n = json_object_size(map);
    if (n > (size_t)v->cfg.n_speakers)
        return FAIL(-EINVAL, "speaker_id_map has %zu names for %d speakers", n, v->cfg.n_speakers);
    if (n && !(v->speakers = calloc(n, sizeof(*v->speakers))))
        return -ENOMEM;
    json_object_foreach((json_t *)map, key, x) {
        if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) >= v->cfg.n_speakers)
            return FAIL(-EINVAL, "speaker_id_map[\"%.60s\"] is not an id in 0..%d", key, v->cfg.n_speakers - 1);
        if (!key[0] || strlen(key) > 256)
            return FAIL(-EINVAL, "speaker_id_map has an empty or over-long name");
        VoiceSpeaker *s = &v->speakers[v->n_speakers_named];
        if (!(s->name = strdup(key)))
            return -ENOMEM;
        s->id = (int)json_integer_value(x);
        v->n_speakers_named++;
    }
    return 0;
}

/* ---- the whole file ----------------------------------------------------------------------------------- */

static int parse_root(Voice *v, const json_t *root, int *ret_quality_known, char *err, size_t err_len)
{
    VoiceConfig *c = &v->cfg;
    const json_t *audio, *inf, *esp, *x;
    int64_t n;
    int r;

    if (!json_is_object(root))
        return FAIL(-EINVAL, "top level is not an object");
    audio = json_object_get(root, "audio");
    if (!json_is_object(audio))
        return FAIL(-EINVAL, "audio is missing or not an object");
    if ((r = get_int(audio, "sample_rate", 8000, 96000, 1, &n, v, "audio.sample_rate", err, err_len)) < 0)
        return r;
    c->sample_rate = (int)n;
    *ret_quality_known = 0;
    c->quality = VOICE_QUALITY_MEDIUM;
    if ((x = json_object_get(audio, "quality")) && !json_is_null(x)) {
        const char *q = json_string_value(x);
        int found = 0;
        for (int i = 0; q && i < 4; i++)
            if (!strcmp(q, voice_quality_name((VoiceQuality)i)) || (i == 0 && !strcmp(q, "x-low"))) {
                c->quality = (VoiceQuality)i;
                found = 1;
            }
        if (!found)
            return FAIL(-EINVAL, "audio.quality is not one of \"x_low\", \"low\", \"medium\", \"high\"");
        *ret_quality_known = 1;
    }
    c->noise_scale = 0.667f;
    c->length_scale = 1.0f;
    c->noise_w = 0.8f;
    if ((inf = json_object_get(root, "inference"))) {
        if (!json_is_object(inf))
            return FAIL(-EINVAL, "inference is not an object");
        if ((r = get_num(inf, "noise_scale", 0, 10, &c->noise_scale, v, "inference.noise_scale", err, err_len)) < 0 ||
            (r = get_num(inf, "length_scale", 0.01, 100, &c->length_scale, v, "inference.length_scale", err,
                         err_len)) < 0 ||
            (r = get_num(inf, "noise_w", 0, 10, &c->noise_w, v, "inference.noise_w", err, err_len)) < 0)
            return r;
    }
    x = json_object_get(root, "phoneme_type");
    if (x && !json_is_null(x)) {
        const char *t = json_string_value(x);
        if (!t)
            return FAIL(-EINVAL, "phoneme_type is not a string");
        if (strcmp(t, "espeak"))
            return FAIL(-ENOTSUP, "phoneme_type \"%.40s\" is not supported (only \"espeak\")", t);
    }
    esp = json_object_get(root, "espeak");
    const char *ev = json_is_object(esp) ? json_string_value(json_object_get(esp, "voice")) : NULL;
    if (!ev)
        return FAIL(-EINVAL, "espeak.voice is missing or not a string");
    size_t evl = strlen(ev);
    if (evl < 1 || evl >= sizeof(c->espeak_voice) || strspn(ev, "abcdefghijklmnopqrstuvwxyz"
                                                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_+") != evl)
        return FAIL(-EINVAL, "espeak.voice \"%.64s\" is not a voice name (1..%zu of [A-Za-z0-9-_+])", ev,
                    sizeof(c->espeak_voice) - 1);
    memcpy(c->espeak_voice, ev, evl + 1);
    const json_t *lang = json_object_get(root, "language");
    const char *code = json_is_object(lang) ? json_string_value(json_object_get(lang, "code")) : NULL;
    if (code && strlen(code) < sizeof(c->language))
        strcpy(c->language, code);
    if ((r = get_int(root, "num_symbols", 3, 65536, 1, &n, v, "num_symbols", err, err_len)) < 0)
        return r;
    c->n_symbols = (int)n;
    n = 1;
    if ((r = get_int(root, "num_speakers", 1, VOICE_MAX_SPEAKERS, 0, &n, v, "num_speakers", err, err_len)) < 0)
        return r;
    c->n_speakers = (int)n;
    if ((r = parse_phonemes(v, json_object_get(root, "phoneme_id_map"), err, err_len)) < 0 ||
        (r = parse_clusters(v, json_object_get(root, "vowel_clusters"), json_object_get(root, "phoneme_id_map"), err,
                            err_len)) < 0 ||
        (r = parse_speakers(v, json_object_get(root, "speaker_id_map"), err, err_len)) < 0)
        return r;
    voice_arch_for_quality(c, c->quality);
    if ((x = json_object_get(root, "myna_vits")) && (r = parse_arch_override(v, x, err, err_len)) < 0)
        return r;
    return voice_arch_check(c, v->name, err, err_len);
}

int voice_json_parse(Voice *v, const char *text, size_t len, int *ret_quality_known, char *err, size_t err_len)
{
    json_error_t je;
    json_t *root;
    int r;

    if (len > VOICE_MAX_JSON)
        return FAIL(-E2BIG, "%zu bytes, more than the %d MiB limit", len, VOICE_MAX_JSON >> 20);
    if (!(root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je)))
        return FAIL(-EBADMSG, "line %d column %d: %s", je.line, je.column, je.text);
    r = parse_root(v, root, ret_quality_known, err, err_len);
    json_decref(root);
    return r;
}

int voice_phoneme_ids(const Voice *v, uint32_t codepoint, const int64_t **ret_ids)
{
    int lo = 0, hi = v->n_phonemes - 1;

    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        uint32_t c = v->phonemes[mid].codepoint;
        if (c == codepoint) {
            *ret_ids = v->phonemes[mid].ids;
            return v->phonemes[mid].n_ids;
        }
        if (c < codepoint)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return 0;
}

int voice_speaker_id(const Voice *v, const char *name)
{
    for (int i = 0; i < v->n_speakers_named; i++)
        if (!strcmp(v->speakers[i].name, name))
            return v->speakers[i].id;
    return -ENOENT;
}
