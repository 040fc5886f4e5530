/* test-safetensors.c — safetensors reader and HF folders.
 *
 * 1. Table of malformed files built in memory: each must fail with the listed code and message substring.
 * 2. Fixtures written by the Python `safetensors` package (tools/ref/safetensors_ref.py) read back and
 *    compared exactly (tolerance 0: values are stored bits) with torch's decoding in basic.expected.txt.
 * 3. Truncation sweep (every prefix) and single-bit flips (every bit): clean error or clean load.
 * 4. HF folders: sharded + single, typed config getters, hostile index.json cases in a temp folder.
 */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "hf-model.h"
#include "test-util.h"

static uint8_t g_buf[1 << 16];

/* header length (as written in the first 8 bytes) + header text + data_len zero bytes. */
static size_t build(uint64_t n_hdr, const char *hdr, size_t hdr_len, size_t data_len)
{
    for (int i = 0; i < 8; i++)
        g_buf[i] = (uint8_t)(n_hdr >> (8 * i));
    memcpy(g_buf + 8, hdr, hdr_len);
    memset(g_buf + 8 + hdr_len, 0, data_len);
    return 8 + hdr_len + data_len;
}

typedef struct {
    const char *label;
    const char *hdr;    /* NUL-terminated unless hdr_len set */
    size_t hdr_len;     /* 0: strlen(hdr) */
    size_t data_len;
    int64_t n_hdr;      /* -1: the real header length */
    int code;
    const char *msg;
} BadCase;

#define T1(body, dt, shape, off) "{\"t\":{\"dtype\":" dt ",\"shape\":" shape ",\"data_offsets\":" off "}" body "}"

/* Like build() with the header right-padded with spaces so the data is 8-byte aligned (reference writer). */
static size_t build_padded(const char *hdr, size_t data_len)
{
    char tmp[1024];
    size_t n = strlen(hdr), p = (n + 7) & ~(size_t)7;

    memcpy(tmp, hdr, n);
    memset(tmp + n, ' ', p - n);
    return build(p, tmp, p, data_len);
}

static const BadCase bad_cases[] = {
    {"short file", "{", 0, 0, -2, -EBADMSG, "shorter than the 8-byte"},
    {"header too big", "{}", 0, 0, 100000001, -EBADMSG, "exceeds the limit"},
    {"header len all ones", "{}", 0, 0, INT64_MAX, -EBADMSG, "exceeds the limit"},
    {"header past EOF", "{}", 0, 0, 3, -EBADMSG, "past the end of the file"},
    {"header len 0", "{}", 0, 0, 0, -EBADMSG, "too short"},
    {"not starting with brace", "[{}]", 0, 0, -1, -EBADMSG, "does not start with '{'"},
    {"leading space", " {}", 0, 0, -1, -EBADMSG, "does not start with '{'"},
    {"invalid utf8", "{\"\xff\":1}", 0, 0, -1, -EBADMSG, "not valid UTF-8 (header byte 2)"},
    {"overlong utf8", "{\"\xc0\x80\":1}", 0, 0, -1, -EBADMSG, "not valid UTF-8"},
    {"surrogate utf8", "{\"\xed\xa0\x80\":1}", 0, 0, -1, -EBADMSG, "not valid UTF-8"},
    {"NUL in header", "{\"a\0\":1}", 8, 0, -1, -EBADMSG, "NUL byte (header byte 3)"},
    {"trailing garbage", "{}x", 0, 0, -1, -EBADMSG, "does not end with '}'"},
    {"invalid JSON", "{\"a\":}", 0, 0, -1, -EBADMSG, "header JSON invalid"},
    {"duplicate keys", "{\"a\":{},\"a\":{}}", 0, 0, -1, -EBADMSG, "duplicate"},
    {"escaped NUL in key", "{\"a\\u0000b\":{}}", 0, 0, -1, -EBADMSG, "header JSON invalid"},
    {"huge integer", T1("", "\"F32\"", "[1]", "[0,99999999999999999999999]"), 0, 4, -1, -EBADMSG,
     "header JSON invalid"},
    {"metadata not object", "{\"__metadata__\":[]}", 0, 0, -1, -EBADMSG, "__metadata__ is not an object"},
    {"metadata non-string", "{\"__metadata__\":{\"x\":1}}", 0, 0, -1, -EBADMSG, "__metadata__ value 'x'"},
    {"metadata nested", "{\"__metadata__\":{\"y\":{}}}", 0, 0, -1, -EBADMSG, "__metadata__ value 'y'"},
    {"entry number", "{\"t\":5}", 0, 0, -1, -EBADMSG, "tensor 't': entry is not an object"},
    {"entry array", "{\"t\":[]}", 0, 0, -1, -EBADMSG, "tensor 't': entry is not an object"},
    {"entry string", "{\"t\":\"F32\"}", 0, 0, -1, -EBADMSG, "entry is not an object"},
    {"missing dtype", "{\"t\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 0, 4, -1, -EBADMSG, "missing dtype"},
    {"missing shape", "{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 0, 4, -1, -EBADMSG, "missing shape"},
    {"missing offsets", "{\"t\":{\"dtype\":\"F32\",\"shape\":[1]}}", 0, 4, -1, -EBADMSG, "missing data_offsets"},
    {"extra field", "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":1}}", 0, 4, -1,
     -EBADMSG, "unknown field 'extra'"},
    {"dtype number", T1("", "7", "[1]", "[0,4]"), 0, 4, -1, -EBADMSG, "dtype is not a string"},
    {"dtype unknown", T1("", "\"F128\"", "[1]", "[0,4]"), 0, 4, -1, -EBADMSG, "dtype 'F128' unknown"},
    {"dtype lowercase", T1("", "\"f32\"", "[1]", "[0,4]"), 0, 4, -1, -EBADMSG, "dtype 'f32' unknown"},
    {"shape object", T1("", "\"F32\"", "{}", "[0,4]"), 0, 4, -1, -EBADMSG, "shape is not an array"},
    {"shape null", T1("", "\"F32\"", "null", "[0,4]"), 0, 4, -1, -EBADMSG, "shape is not an array"},
    {"shape 9 dims", T1("", "\"F32\"", "[1,1,1,1,1,1,1,1,1]", "[0,4]"), 0, 4, -1, -EBADMSG, "9 dims, at most 8"},
    {"shape negative", T1("", "\"F32\"", "[-1]", "[0,4]"), 0, 4, -1, -EBADMSG, "shape[0] is negative"},
    {"shape float", T1("", "\"F32\"", "[1,2.0]", "[0,8]"), 0, 8, -1, -EBADMSG, "shape[1] is not an integer"},
    {"shape string", T1("", "\"F32\"", "[\"1\"]", "[0,4]"), 0, 4, -1, -EBADMSG, "shape[0] is not a number"},
    {"shape bool", T1("", "\"F32\"", "[true]", "[0,4]"), 0, 4, -1, -EBADMSG, "shape[0] is not a number"},
    {"count overflow", T1("", "\"U8\"", "[4294967296,4294967296,2]", "[0,0]"), 0, 0, -1, -EOVERFLOW,
     "element count of shape [4294967296, 4294967296, 2] overflows"},
    {"count wraps to 0", T1("", "\"F32\"", "[4611686018427387904,4]", "[0,0]"), 0, 0, -1, -EOVERFLOW,
     "element count"},
    {"bytes overflow", T1("", "\"F64\"", "[2305843009213693952]", "[0,0]"), 0, 0, -1, -EOVERFLOW,
     "byte size of shape [2305843009213693952] of F64 overflows"},
    {"F4 odd count", T1("", "\"F4\"", "[3]", "[0,2]"), 0, 2, -1, -EBADMSG, "not a whole number of bytes"},
    {"F6 odd count", T1("", "\"F6_E2M3\"", "[3]", "[0,3]"), 0, 3, -1, -EBADMSG, "not a whole number of bytes"},
    {"offsets object", T1("", "\"F32\"", "[1]", "{}"), 0, 4, -1, -EBADMSG, "data_offsets is not an array"},
    {"offsets 3 items", T1("", "\"F32\"", "[1]", "[0,4,4]"), 0, 4, -1, -EBADMSG, "data_offsets is not an array"},
    {"offsets 1 item", T1("", "\"F32\"", "[1]", "[4]"), 0, 4, -1, -EBADMSG, "data_offsets is not an array"},
    {"offset negative", T1("", "\"F32\"", "[1]", "[-4,0]"), 0, 4, -1, -EBADMSG, "data_offsets[0] is negative"},
    {"offset float", T1("", "\"F32\"", "[1]", "[0,4.0]"), 0, 4, -1, -EBADMSG, "data_offsets[1] is not an integer"},
    {"offset string", T1("", "\"F32\"", "[1]", "[\"0\",4]"), 0, 4, -1, -EBADMSG, "data_offsets[0] is not a number"},
    {"begin after end", T1("", "\"F32\"", "[0]", "[4,0]"), 0, 4, -1, -EBADMSG, "[4, 0) begin after end"},
    {"size mismatch", "{\"model.norm.weight\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,10]}}", 0, 10,
     -1, -EBADMSG,
     "safetensors: tensor 'model.norm.weight': data_offsets [0, 10) hold 10 bytes but shape [4] of F32 needs 16 "
     "(header byte 1..70)"},
    {"gap at start", T1("", "\"F32\"", "[1]", "[4,8]"), 0, 8, -1, -EBADMSG, "leave a gap after byte 0"},
    {"gap between",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 0, 12, -1, -EBADMSG,
     "tensor 'b': data_offsets [8, 12) leave a gap after byte 4"},
    {"overlap",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 0, 8, -1, -EBADMSG, "overlap the previous"},
    {"same range twice",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"b\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 0, 4, -1, -EBADMSG, "overlap"},
    {"past end of data", T1("", "\"F32\"", "[2]", "[0,8]"), 0, 4, -1, -EBADMSG, "run past the end of the data (4"},
    {"trailing data", T1("", "\"F32\"", "[1]", "[0,4]"), 0, 8, -1, -EBADMSG, "cover 4 bytes of data but the file holds 8"},
    {"data without tensors", "{}", 0, 1, -1, -EBADMSG, "cover 0 bytes"},
};

static void test_bad_cases(void)
{
    int n = (int)(sizeof(bad_cases) / sizeof(bad_cases[0]));

    CHECK(n >= 40);
    for (int i = 0; i < n; i++) {
        const BadCase *c = &bad_cases[i];
        size_t hl = c->hdr_len ? c->hdr_len : strlen(c->hdr);
        size_t size = build(c->n_hdr == -1 ? hl : (uint64_t)c->n_hdr, c->hdr, hl, c->data_len);
        StFile *f = (StFile *)(uintptr_t)1;
        char err[512] = "";
        int r;

        if (c->n_hdr == -2)
            size = 5;
        r = st_open_memory(g_buf, size, &f, err, sizeof(err));
        if (r != c->code || !strstr(err, c->msg))
            fprintf(stderr, "case '%s': r=%d err='%s'\n", c->label, r, err);
        CHECK_INT(r, c->code);
        CHECK(strstr(err, c->msg) != NULL);
        CHECK(f == (StFile *)(uintptr_t)1); /* ret written only on success */
    }
}

static void test_good_edge_cases(void)
{
    static const struct { const char *hdr; size_t data_len; int64_t n; } good[] = {
        {"{}", 0, 0},
        {"{}      ", 0, 0},
        {"{\"__metadata__\":{}}", 0, 0},
        {T1("", "\"F4\"", "[4]", "[0,2]"), 2, 1},
        {T1("", "\"F6_E3M2\"", "[4]", "[0,3]"), 3, 1},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},"
         "\"b\":{\"dtype\":\"BOOL\",\"shape\":[2,0],\"data_offsets\":[0,0]},"
         "\"c\":{\"dtype\":\"F8_E4M3\",\"shape\":[3],\"data_offsets\":[0,3]}}", 3, 3},
        {T1(",\"__metadata__\":{\"format\":\"pt\"}", "\"F32\"", "[1,1,1,1,1,1,1,2]", "[0,8]"), 8, 1},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        size_t size = build(strlen(good[i].hdr), good[i].hdr, strlen(good[i].hdr), good[i].data_len);
        StFile *f = NULL;
        char err[512] = "";
        int r = st_open_memory(g_buf, size, &f, err, sizeof(err));
        if (r)
            fprintf(stderr, "good case %zu: %s\n", i, err);
        CHECK_INT(r, 0);
        CHECK_INT(st_n_tensors(f), good[i].n);
        st_close(f);
    }
    /* 8-dim tensor collapses to a 4-dim view when the outer dims are 1. */
    {
        const char *h = T1("", "\"F32\"", "[1,1,1,1,1,1,3,2]", "[0,24]");
        size_t size = build_padded(h, 24);
        StFile *f = NULL;
        Tensor v;
        CHECK_INT(st_open_memory(g_buf, size, &f, NULL, 0), 0);
        CHECK_INT(st_tensor_view(st_find(f, "t"), &v), 0);
        CHECK_INT(v.ne[0], 2);
        CHECK_INT(v.ne[1], 3);
        st_close(f);
        h = T1("", "\"F32\"", "[1,1,1,2,1,1,3,1]", "[0,24]");
        size = build_padded(h, 24);
        CHECK_INT(st_open_memory(g_buf, size, &f, NULL, 0), 0);
        CHECK_INT(st_tensor_view(st_find(f, "t"), &v), -ENOTSUP);
        st_close(f);
        h = T1("", "\"F32\"", "[1]", "[0,4]"); /* unpadded: data at file byte 8 + 55, misaligned */
        size = build(strlen(h), h, strlen(h), 4);
        CHECK_INT(st_open_memory(g_buf, size, &f, NULL, 0), 0);
        CHECK_INT(st_tensor_view(st_find(f, "t"), &v), -EINVAL);
        st_close(f);
        h = T1("", "\"F32\"", "[1,1,1,2,1,1,3,1]", "[0,24]");
        size = build_padded(h, 24);
        CHECK_INT(st_open_memory(g_buf, size, &f, NULL, 0), 0);
        CHECK_INT(st_tensor_view(st_find(f, "t"), &v), -ENOTSUP);
        st_close(f);
    }
}

static char *fixture(const char *rel)
{
    static char buf[4][1024];
    static int k;
    return test_fixture_path(buf[k++ & 3], sizeof(buf[0]), "safetensors", rel);
}

static double elem(const StTensor *t, int64_t i)
{
    const uint8_t *p = t->data;
    if (!strcmp(t->dtype_str, "F32")) { float v; memcpy(&v, p + 4 * i, 4); return v; }
    if (!strcmp(t->dtype_str, "I32")) { int32_t v; memcpy(&v, p + 4 * i, 4); return v; }
    if (!strcmp(t->dtype_str, "F16")) { uint16_t v; memcpy(&v, p + 2 * i, 2); return fp16_to_f32(v); }
    if (!strcmp(t->dtype_str, "BF16")) { uint16_t v; memcpy(&v, p + 2 * i, 2); return bf16_to_f32(v); }
    return NAN;
}

static void test_basic_fixture(void)
{
    StFile *f = NULL;
    char err[512] = "", line[4096];
    FILE *fp;
    int lines = 0;
    Tensor v;

    CHECK_INT(st_open(fixture("basic.safetensors"), &f, err, sizeof(err)), 0);
    if (!f) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK_INT(st_n_tensors(f), 6);
    CHECK(st_metadata(f, "format") && !strcmp(st_metadata(f, "format"), "pt"));
    CHECK(st_metadata(f, "note") && !strcmp(st_metadata(f, "note"), "myna fixture"));
    CHECK(st_metadata(f, "absent") == NULL);
    CHECK(st_find(f, "absent") == NULL);
    CHECK(st_tensor(f, 6) == NULL && st_tensor(f, -1) == NULL);
    for (int64_t i = 1; i < st_n_tensors(f); i++)
        CHECK((const uint8_t *)st_tensor(f, i)->data >= (const uint8_t *)st_tensor(f, i - 1)->data);

    fp = fopen(fixture("basic.expected.txt"), "r");
    CHECK(fp != NULL);
    while (fp && fgets(line, sizeof(line), fp)) {
        char name[128], dt[16];
        int nd, pos, k;
        int64_t n = 1, nv;
        const StTensor *t;
        char *s = line;

        if (sscanf(s, "%127s %15s %d%n", name, dt, &nd, &pos) != 3)
            break;
        s += pos;
        lines++;
        t = st_find(f, name);
        CHECK(t != NULL);
        if (!t)
            continue;
        CHECK(!strcmp(t->dtype_str, dt));
        CHECK_INT(t->n_dims, nd);
        for (int d = 0; d < nd; d++) {
            long long x;
            sscanf(s, "%lld%n", &x, &pos);
            s += pos;
            CHECK_INT(t->shape[d], x);
            n *= x;
        }
        sscanf(s, "%lld%n", (long long *)&nv, &pos);
        s += pos;
        CHECK_INT(nv, n);
        CHECK_INT(t->nbytes, n * t->elem_size);
        for (k = 0; k < nv; k++) {
            double x;
            sscanf(s, "%lf%n", &x, &pos);
            s += pos;
            CHECK_NEAR(elem(t, k), x, 0);
        }
    }
    if (fp)
        fclose(fp);
    CHECK_INT(lines, 6);

    CHECK_INT(st_tensor_view(st_find(f, "model.a_f32"), &v), 0);
    CHECK_INT(v.dtype, DTYPE_F32);
    CHECK_INT(v.n_dims, 2);
    CHECK_INT(v.ne[0], 3);
    CHECK_INT(v.ne[1], 2);
    CHECK_INT(v.nb[1], 12);
    CHECK(!strcmp(v.name, "model.a_f32"));
    CHECK_INT(st_tensor_view(st_find(f, "model.c_f16"), &v), 0);
    CHECK_INT(v.dtype, DTYPE_F16);
    CHECK_INT(v.n_dims, 3);
    CHECK_INT(v.ne[2], 2);
    CHECK_INT(st_tensor_view(st_find(f, "model.b_bf16"), &v), 0);
    CHECK_INT(v.dtype, DTYPE_BF16);
    CHECK_INT(st_tensor_view(st_find(f, "model.scalar"), &v), 0);
    CHECK_INT(v.n_dims, 1);
    CHECK_INT(v.ne[0], 1);
    CHECK_INT(st_tensor_view(st_find(f, "model.empty"), &v), 0);
    CHECK_INT(v.ne[0], 3);
    CHECK_INT(v.ne[1], 0);
    CHECK_INT(st_find(f, "model.i_i32")->dtype, DTYPE_I32);
    CHECK_INT(st_tensor_view(st_find(f, "model.i_i32"), &v), -ENOTSUP);
    st_close(f);
    st_close(NULL);
}

/* Every prefix of a valid file must fail cleanly; every single-bit flip must load or fail cleanly. */
static void test_truncation_and_flips(void)
{
    size_t size = 0, ok = 0, bad = 0;
    uint8_t *b = test_read_file(fixture("basic.safetensors"), &size);
    char err[512];

    CHECK(b != NULL);
    if (!b)
        return;
    for (size_t n = 0; n < size; n++) {
        StFile *f = NULL;
        uint8_t *copy = malloc(n + 1);
        memcpy(copy, b, n);
        err[0] = 0;
        int r = st_open_memory(copy, n, &f, err, sizeof(err));
        if (r == 0)
            fprintf(stderr, "prefix %zu loaded\n", n);
        bad += r < 0 && err[0];
        st_close(f);
        free(copy);
    }
    CHECK_INT(bad, size);
    bad = 0;
    for (size_t i = 0; i < size; i++) {
        for (int bit = 0; bit < 8; bit++) {
            StFile *f = NULL;
            int r;
            b[i] ^= (uint8_t)(1u << bit);
            err[0] = 0;
            r = st_open_memory(b, size, &f, err, sizeof(err));
            if (r == 0) {
                for (int64_t k = 0; k < st_n_tensors(f); k++) {
                    const StTensor *t = st_tensor(f, k);
                    CHECK((const uint8_t *)t->data + t->nbytes <= b + size);
                }
                ok++;
            } else {
                bad += err[0] != 0;
            }
            st_close(f);
            b[i] ^= (uint8_t)(1u << bit);
        }
    }
    CHECK_INT(ok + bad, size * 8);
    CHECK(ok > 0 && bad > 0);
    free(b);
}

static void test_hf_fixtures(void)
{
    HfModel *m = NULL;
    char err[512] = "";
    const json_t *cfg;
    int64_t iv = 0;
    double fv = 0;
    const char *sv = NULL;
    int bv = -1;

    CHECK_INT(hf_model_open(fixture("hf-sharded"), &m, err, sizeof(err)), 0);
    if (!m) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK_INT(hf_model_n_tensors(m), 5);
    CHECK(hf_model_find(m, "lm_head.weight") != NULL);
    CHECK(hf_model_find(m, "model.embed_tokens.weight") != NULL);
    CHECK(hf_model_find(m, "model.nope") == NULL);
    CHECK(hf_model_tensor(m, 4) != NULL && hf_model_tensor(m, 5) == NULL);
    CHECK(!strcmp(hf_model_dir(m), fixture("hf-sharded")));
    {
        const StTensor *t = hf_model_find(m, "model.norm.weight");
        CHECK(t && t->n_dims == 1 && t->shape[0] == 8 && elem(t, 7) == 7.0);
        t = hf_model_find(m, "model.layers.1.input_layernorm.weight");
        CHECK(t && !strcmp(t->dtype_str, "BF16") && elem(t, 3) == 0.5);
    }
    cfg = hf_model_config(m);
    CHECK_INT(hf_config_int(cfg, "hidden_size", &iv), 0);
    CHECK_INT(iv, 8);
    CHECK_INT(hf_config_int(cfg, "text_config.hidden_size", &iv), 0);
    CHECK_INT(iv, 16);
    CHECK_INT(hf_config_int(cfg, "text_config.rope_scaling.original_max_position_embeddings", &iv), 0);
    CHECK_INT(iv, 8192);
    CHECK_INT(hf_config_float(cfg, "text_config.rope_scaling.factor", &fv), 0);
    CHECK_NEAR(fv, 8.0, 0);
    CHECK_INT(hf_config_float(cfg, "hidden_size", &fv), 0); /* ints are valid floats */
    CHECK_NEAR(fv, 8.0, 0);
    CHECK_INT(hf_config_float(cfg, "rms_norm_eps", &fv), 0);
    CHECK_NEAR(fv, 1e-5, 0);
    iv = -1;
    CHECK_INT(hf_config_int(cfg, "bad_int", &iv), -EINVAL); /* 4096.0 */
    CHECK_INT(iv, -1);
    CHECK_INT(hf_config_int(cfg, "text_config.rope_scaling.factor", &iv), -EINVAL);
    CHECK_INT(hf_config_float(cfg, "rope_scaling.factor", &fv), -ENOENT); /* null parent */
    CHECK_INT(hf_config_float(cfg, "rope_scaling", &fv), -ENOENT);
    CHECK_INT(hf_config_int(cfg, "missing", &iv), -ENOENT);
    CHECK_INT(hf_config_int(cfg, "text_config.missing.deeper", &iv), -ENOENT);
    CHECK_INT(hf_config_int(cfg, "hidden_size.x", &iv), -EINVAL);
    CHECK_INT(hf_config_int(cfg, "text_config..hidden_size", &iv), -EINVAL);
    CHECK_INT(hf_config_int(cfg, "", &iv), -EINVAL);
    CHECK_INT(hf_config_str(cfg, "torch_dtype", &sv), 0);
    CHECK(sv && !strcmp(sv, "bfloat16"));
    CHECK_INT(hf_config_str(cfg, "hidden_size", &sv), -EINVAL);
    CHECK_INT(hf_config_str(cfg, "architectures", &sv), -EINVAL);
    CHECK_INT(hf_config_bool(cfg, "tie_word_embeddings", &bv), 0);
    CHECK_INT(bv, 0);
    CHECK_INT(hf_config_bool(cfg, "hidden_size", &bv), -EINVAL);
    hf_model_free(m);
    hf_model_free(NULL);

    m = NULL;
    CHECK_INT(hf_model_open(fixture("hf-single"), &m, err, sizeof(err)), 0);
    CHECK_INT(hf_model_n_tensors(m), 1);
    CHECK(hf_model_find(m, "model.norm.weight") != NULL);
    hf_model_free(m);
}

static char g_tmp[256];

static void write_file(const char *name, const void *data, size_t len)
{
    char p[512];
    FILE *fp;

    snprintf(p, sizeof(p), "%s/%s", g_tmp, name);
    fp = fopen(p, "wb");
    if (!fp)
        return;
    fwrite(data, 1, len, fp);
    fclose(fp);
}

static void write_str(const char *name, const char *s)
{
    write_file(name, s, strlen(s));
}

static void copy_fixture(const char *rel, const char *name)
{
    size_t n;
    uint8_t *b = test_read_file(fixture(rel), &n);
    if (b)
        write_file(name, b, n);
    free(b);
}

#define S1 "model-00001-of-00002.safetensors"
#define S2 "model-00002-of-00002.safetensors"
#define MAP_OK "\"model.embed_tokens.weight\":\"" S1 "\",\"model.layers.0.input_layernorm.weight\":\"" S1 "\"," \
    "\"model.layers.1.input_layernorm.weight\":\"" S2 "\",\"model.norm.weight\":\"" S2 "\",\"lm_head.weight\":\"" S2 "\""

static void test_hf_hostile(void)
{
    static const struct { const char *index; int code; const char *msg; } cases[] = {
        {"{\"weight_map\":{\"model.norm.weight\":\"../" S2 "\"}}", -EBADMSG, "is not a plain file name"},
        {"{\"weight_map\":{\"model.norm.weight\":\"/etc/passwd\"}}", -EBADMSG, "is not a plain file name"},
        {"{\"weight_map\":{\"model.norm.weight\":\"sub/x.safetensors\"}}", -EBADMSG, "is not a plain file name"},
        {"{\"weight_map\":{\"model.norm.weight\":\"..\"}}", -EBADMSG, "is not a plain file name"},
        {"{\"weight_map\":{\"model.norm.weight\":\"\"}}", -EBADMSG, "is not a plain file name"},
        {"{\"weight_map\":{\"model.norm.weight\":\"model-00003-of-00002.safetensors\"}}", -ENOENT, "cannot open"},
        {"{\"weight_map\":{" MAP_OK ",\"model.fake\":\"" S1 "\"}}", -EBADMSG,
         "tensor 'model.fake' mapped to " S1 " is not in that shard"},
        {"{\"weight_map\":{\"model.norm.weight\":\"" S2 "\",\"model.extra\":\"dup.safetensors\"}}", -EBADMSG,
         "tensor 'model.norm.weight' appears in more than one shard"},
        {"{\"weight_map\":{\"model.norm.weight\":\"bad.safetensors\"}}", -EBADMSG,
         "bad.safetensors: safetensors: tensors cover"},
        {"{\"weight_map\":[]}", -EBADMSG, "weight_map missing or not an object"},
        {"{\"metadata\":{}}", -EBADMSG, "weight_map missing or not an object"},
        {"{\"weight_map\":{}}", -EBADMSG, "weight_map is empty"},
        {"{\"weight_map\":{\"model.norm.weight\":3}}", -EBADMSG, "weight_map['model.norm.weight'] is not a string"},
        {"{\"weight_map\":{\"a\":\"x\",\"a\":\"x\"}}", -EBADMSG, "invalid JSON"},
        {"{\"weight_map\":", -EBADMSG, "invalid JSON"},
        {"[]", -EBADMSG, "top level is not a JSON object"},
    };
    char err[512];
    HfModel *m;
    int r;

    snprintf(g_tmp, sizeof(g_tmp), "%s", "/tmp/myna-st-XXXXXX");
    if (!mkdtemp(g_tmp)) {
        CHECK(0);
        return;
    }
    copy_fixture("hf-sharded/config.json", "config.json");
    copy_fixture("hf-sharded/" S1, S1);
    copy_fixture("hf-sharded/" S2, S2);
    {
        /* dup.safetensors: holds model.norm.weight (also in shard 2) and model.extra. */
        const char *h = "{\"model.extra\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                        "\"model.norm.weight\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[4,36]}}";
        write_file("dup.safetensors", g_buf, build(strlen(h), h, strlen(h), 36));
        h = T1("", "\"F32\"", "[1]", "[0,4]");
        write_file("bad.safetensors", g_buf, build(strlen(h), h, strlen(h), 5));
    }
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        write_str("model.safetensors.index.json", cases[i].index);
        m = NULL;
        err[0] = 0;
        r = hf_model_open(g_tmp, &m, err, sizeof(err));
        if (r != cases[i].code || !strstr(err, cases[i].msg))
            fprintf(stderr, "hostile case %zu: r=%d err='%s'\n", i, r, err);
        CHECK_INT(r, cases[i].code);
        CHECK(strstr(err, cases[i].msg) != NULL);
        CHECK(m == NULL);
        hf_model_free(m);
    }
    /* A tensor in a shard but not in the map: accepted with a warning, still findable. */
    write_str("model.safetensors.index.json", "{\"weight_map\":{\"model.extra\":\"dup.safetensors\"}}");
    m = NULL;
    CHECK_INT(hf_model_open(g_tmp, &m, err, sizeof(err)), 0);
    CHECK_INT(hf_model_n_tensors(m), 2);
    CHECK(hf_model_find(m, "model.norm.weight") != NULL);
    hf_model_free(m);
    /* The valid map in the temp folder loads. */
    write_str("model.safetensors.index.json", "{\"metadata\":{\"total_size\":1},\"weight_map\":{" MAP_OK "}}");
    m = NULL;
    CHECK_INT(hf_model_open(g_tmp, &m, err, sizeof(err)), 0);
    CHECK_INT(hf_model_n_tensors(m), 5);
    hf_model_free(m);
    /* config.json problems; no index → model.safetensors required. */
    write_str("config.json", "[1]");
    m = NULL;
    r = hf_model_open(g_tmp, &m, err, sizeof(err));
    CHECK_INT(r, -EBADMSG);
    CHECK(strstr(err, "config.json: top level is not a JSON object") != NULL);
    write_str("config.json", "{\"a\":1,\"a\":2}");
    CHECK_INT(hf_model_open(g_tmp, &m, err, sizeof(err)), -EBADMSG);
    CHECK(strstr(err, "duplicate") != NULL);
    write_str("config.json", "{}");
    {
        char p[512];
        snprintf(p, sizeof(p), "%s/model.safetensors.index.json", g_tmp);
        unlink(p);
    }
    r = hf_model_open(g_tmp, &m, err, sizeof(err));
    CHECK_INT(r, -ENOENT);
    CHECK(strstr(err, "model.safetensors: cannot open") != NULL);
    {
        char p[512];
        snprintf(p, sizeof(p), "%s/config.json", g_tmp);
        unlink(p);
    }
    r = hf_model_open(g_tmp, &m, err, sizeof(err));
    CHECK_INT(r, -ENOENT);
    CHECK(strstr(err, "config.json: cannot open") != NULL);
    r = hf_model_open("/nonexistent-myna-dir", &m, err, sizeof(err));
    CHECK_INT(r, -ENOENT);
    {
        const char *names[] = {"config.json", S1, S2, "dup.safetensors", "bad.safetensors", NULL};
        char p[512];
        for (int i = 0; names[i]; i++) {
            snprintf(p, sizeof(p), "%s/%s", g_tmp, names[i]);
            unlink(p);
        }
        rmdir(g_tmp);
    }
}

int main(void)
{
    log_set_level(LOG_LEVEL_ERROR); /* the unmapped-tensor warning is expected */
    test_bad_cases();
    test_good_edge_cases();
    test_basic_fixture();
    test_truncation_and_flips();
    test_hf_fixtures();
    test_hf_hostile();
    return test_exit();
}
