/* myna-inspect.c — print what is inside a model file: GGUF (header, metadata, tensor table, totals),
 * safetensors (tensor table) or a Hugging Face model folder (config summary + tensors of every shard).
 *
 *   myna-inspect FILE|DIR [--json]
 *
 * What it is not: a validator beyond what the readers check (core/gguf.c, core/safetensors.c) — an
 * invalid file prints one line "myna-inspect: FILE: <reader message>" and exits 1. It never reads tensor
 * data, so it is fast on multi-GB files. --json prints one JSON document (Jansson) instead of text.
 * GGUF shapes are printed in ggml ne order (innermost first), safetensors shapes in PyTorch order.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "gguf.h"
#include "hf-model.h"

enum { MAX_ARRAY_SHOWN = 8 };

static void usage(FILE *fp)
{
    fprintf(fp, "usage: myna-inspect FILE|DIR [--json]\n"
                "  FILE  a .gguf or .safetensors file; DIR  a Hugging Face model folder\n");
}

static int print_json(json_t *doc)
{
    char *s = json_dumps(doc, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    if (!s)
        return -ENOMEM;
    puts(s);
    free(s);
    return 0;
}

static const char *human_bytes(uint64_t n, char *buf, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, u ? "%.2f %s" : "%.0f %s", v, units[u]);
    return buf;
}

/* Print the reader's message once, without repeating the path when the reader already starts with it. */
static int fail_open(const char *path, const char *err)
{
    size_t n = strlen(path);
    if (!strncmp(err, path, n) && !strncmp(err + n, ": ", 2))
        err += n + 2;
    fprintf(stderr, "myna-inspect: %s: %s\n", path, err);
    return 1;
}

/* ---- GGUF ---- */

/* A UTF-8 check is needed because json_stringn rejects invalid UTF-8 (GGUF values need not be). */
static json_t *json_text(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    if (!j) {
        /* Not valid UTF-8: hex-escape the bytes that are not printable ASCII. */
        char *buf = malloc(n * 4 + 1);
        size_t o = 0;
        if (!buf)
            return json_null();
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c >= 0x20 && c < 0x7f)
                buf[o++] = (char)c;
            else
                o += (size_t)sprintf(buf + o, "\\x%02x", c);
        }
        j = json_stringn(buf, o);
        free(buf);
    }
    return j ? j : json_null();
}

static json_t *json_scalar(const uint8_t *p, GgufType t)
{
    uint64_t u = 0;
    size_t n = t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_INT8 || t == GGUF_TYPE_BOOL ? 1
             : t == GGUF_TYPE_UINT16 || t == GGUF_TYPE_INT16 ? 2
             : t == GGUF_TYPE_UINT32 || t == GGUF_TYPE_INT32 || t == GGUF_TYPE_FLOAT32 ? 4 : 8;
    for (size_t i = 0; i < n; i++)
        u |= (uint64_t)p[i] << (8 * i);
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_UINT32:
        return json_integer((json_int_t)u);
    case GGUF_TYPE_UINT64:
        return u <= INT64_MAX ? json_integer((json_int_t)u) : json_real((double)u);
    case GGUF_TYPE_INT8: return json_integer((int8_t)u);
    case GGUF_TYPE_INT16: return json_integer((int16_t)u);
    case GGUF_TYPE_INT32: return json_integer((int32_t)u);
    case GGUF_TYPE_INT64: return json_integer((json_int_t)(int64_t)u);
    case GGUF_TYPE_FLOAT32: { uint32_t b = (uint32_t)u; float f; memcpy(&f, &b, 4); return json_real(f); }
    case GGUF_TYPE_FLOAT64: { double d; memcpy(&d, &u, 8); return json_real(d); }
    case GGUF_TYPE_BOOL: return json_boolean(u);
    default: return json_null();
    }
}

/* Scalars are re-read through the typed getters where one exists; arrays summarised. */
static json_t *gguf_value_json(const GgufFile *f, int64_t i)
{
    const char *key = gguf_key(f, i), *s;
    GgufType t = gguf_kv_type(f, i), et;
    uint64_t n, u;
    size_t len;
    const void *p;
    json_t *o, *first;
    uint8_t raw[8];

    switch (t) {
    case GGUF_TYPE_STRING:
        gguf_get_str(f, key, &s, &len);
        return json_text(s, len);
    case GGUF_TYPE_ARRAY:
        gguf_get_arr(f, key, &et, &n, &p);
        o = json_object();
        first = json_array();
        json_object_set_new(o, "type", json_string(gguf_type_name(et)));
        json_object_set_new(o, "count", json_integer((json_int_t)n));
        for (uint64_t k = 0; k < n && k < MAX_ARRAY_SHOWN; k++) {
            if (et == GGUF_TYPE_STRING) {
                gguf_get_arr_str(f, key, k, &s, &len);
                json_array_append_new(first, json_text(s, len));
            } else {
                size_t es = et == GGUF_TYPE_UINT8 || et == GGUF_TYPE_INT8 || et == GGUF_TYPE_BOOL ? 1
                          : et == GGUF_TYPE_UINT16 || et == GGUF_TYPE_INT16 ? 2
                          : et == GGUF_TYPE_UINT32 || et == GGUF_TYPE_INT32 || et == GGUF_TYPE_FLOAT32 ? 4 : 8;
                memcpy(raw, (const uint8_t *)p + k * es, es);
                json_array_append_new(first, json_scalar(raw, et));
            }
        }
        json_object_set_new(o, "first", first);
        return o;
    default: {
        /* gguf_format_value renders every scalar; parse it back only for the JSON type. */
        char buf[64];
        gguf_format_value(f, i, buf, sizeof(buf));
        if (t == GGUF_TYPE_BOOL)
            return json_boolean(!strcmp(buf, "true"));
        if (t == GGUF_TYPE_FLOAT32 || t == GGUF_TYPE_FLOAT64)
            return json_real(strtod(buf, NULL));
        if (gguf_get_uint(f, key, &u) == 0)
            return u <= INT64_MAX ? json_integer((json_int_t)u) : json_real((double)u);
        return json_integer((json_int_t)strtoll(buf, NULL, 10));
    }
    }
}

static int inspect_gguf(const char *path, int as_json)
{
    char err[512], buf[1024], hb[32];
    GgufFile *f = NULL;
    double t0 = clock_now_ms(), ms;
    uint64_t total_bytes = 0, total_elems = 0, by_dtype[DTYPE_COUNT] = {0};
    int r = gguf_open(path, &f, err, sizeof(err));

    if (r < 0)
        return fail_open(path, err);
    ms = clock_now_ms() - t0;
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const GgufTensorInfo *t = gguf_tensor(f, i);
        total_bytes += t->nbytes;
        total_elems += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
        by_dtype[t->dtype]++;
    }
    if (as_json) {
        json_t *doc = json_object(), *md = json_array(), *ts = json_array(), *tot = json_object(), *bd = json_object();
        json_object_set_new(doc, "file", json_text(path, strlen(path)));
        json_object_set_new(doc, "format", json_string("gguf"));
        json_object_set_new(doc, "version", json_integer(gguf_version(f)));
        json_object_set_new(doc, "alignment", json_integer(gguf_alignment(f)));
        json_object_set_new(doc, "n_kv", json_integer(gguf_n_kv(f)));
        json_object_set_new(doc, "n_tensors", json_integer(gguf_n_tensors(f)));
        json_object_set_new(doc, "data_offset", json_integer((json_int_t)gguf_data_offset(f)));
        json_object_set_new(doc, "file_size", json_integer((json_int_t)gguf_file_size(f)));
        json_object_set_new(doc, "open_ms", json_real(ms));
        for (int64_t i = 0; i < gguf_n_kv(f); i++) {
            json_t *kv = json_object();
            json_object_set_new(kv, "key", json_string(gguf_key(f, i)));
            json_object_set_new(kv, "type", json_string(gguf_type_name(gguf_kv_type(f, i))));
            json_object_set_new(kv, "value", gguf_value_json(f, i));
            json_array_append_new(md, kv);
        }
        json_object_set_new(doc, "metadata", md);
        for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
            const GgufTensorInfo *t = gguf_tensor(f, i);
            json_t *o = json_object(), *ne = json_array();
            for (int d = 0; d < t->n_dims; d++)
                json_array_append_new(ne, json_integer(t->ne[d]));
            json_object_set_new(o, "name", json_string(t->name));
            json_object_set_new(o, "dtype", json_string(dtype_name(t->dtype)));
            json_object_set_new(o, "ne", ne);
            json_object_set_new(o, "bytes", json_integer((json_int_t)t->nbytes));
            json_object_set_new(o, "offset", json_integer((json_int_t)t->offset));
            json_array_append_new(ts, o);
        }
        json_object_set_new(doc, "tensors", ts);
        json_object_set_new(tot, "tensors", json_integer(gguf_n_tensors(f)));
        json_object_set_new(tot, "elements", json_integer((json_int_t)total_elems));
        json_object_set_new(tot, "bytes", json_integer((json_int_t)total_bytes));
        for (int d = 0; d < DTYPE_COUNT; d++)
            if (by_dtype[d])
                json_object_set_new(bd, dtype_name(d), json_integer((json_int_t)by_dtype[d]));
        json_object_set_new(tot, "by_dtype", bd);
        json_object_set_new(doc, "totals", tot);
        r = print_json(doc);
        json_decref(doc);
    } else {
        printf("%s: GGUF v%u, alignment %u, %" PRId64 " kv, %" PRId64 " tensors, data at byte %" PRIu64
               ", %zu bytes (%s), opened in %.2f ms\n", path, gguf_version(f), gguf_alignment(f), gguf_n_kv(f),
               gguf_n_tensors(f), gguf_data_offset(f), gguf_file_size(f),
               human_bytes(gguf_file_size(f), hb, sizeof(hb)), ms);
        printf("\nmetadata:\n");
        for (int64_t i = 0; i < gguf_n_kv(f); i++) {
            gguf_format_value(f, i, buf, sizeof(buf));
            printf("  %-44s %-7s %s\n", gguf_key(f, i), gguf_type_name(gguf_kv_type(f, i)), buf);
        }
        printf("\ntensors:\n  %-5s %-40s %-6s %-28s %12s %12s\n", "#", "name", "dtype", "ne", "bytes", "offset");
        for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
            const GgufTensorInfo *t = gguf_tensor(f, i);
            char shape[96];
            int o = 0;
            for (int d = 0; d < t->n_dims; d++)
                o += snprintf(shape + o, sizeof(shape) - (size_t)o, "%s%" PRId64, d ? ", " : "[", t->ne[d]);
            snprintf(shape + o, sizeof(shape) - (size_t)o, "]");
            printf("  %-5" PRId64 " %-40s %-6s %-28s %12zu %12" PRIu64 "\n", i, t->name, dtype_name(t->dtype), shape,
                   t->nbytes, t->offset);
        }
        printf("\ntotal: %" PRId64 " tensors, %" PRIu64 " elements, %" PRIu64 " bytes (%s);", gguf_n_tensors(f),
               total_elems, total_bytes, human_bytes(total_bytes, hb, sizeof(hb)));
        for (int d = 0; d < DTYPE_COUNT; d++)
            if (by_dtype[d])
                printf(" %s x%" PRIu64, dtype_name(d), by_dtype[d]);
        printf("\n");
    }
    gguf_close(f);
    return r < 0 ? 1 : 0;
}

/* ---- safetensors and HF folders ---- */

typedef struct {
    int64_t n;
    const StTensor *(*get)(const void *, int64_t);
    const void *src;
} TensorList;

static const StTensor *st_get(const void *f, int64_t i) { return st_tensor(f, i); }
static const StTensor *hf_get(const void *m, int64_t i) { return hf_model_tensor(m, i); }

static void st_table(const TensorList *l, int as_json, json_t *doc)
{
    uint64_t total = 0, elems = 0;
    json_t *ts = as_json ? json_array() : NULL;
    char hb[32];

    if (!as_json)
        printf("\ntensors:\n  %-5s %-56s %-6s %-28s %12s\n", "#", "name", "dtype", "shape", "bytes");
    for (int64_t i = 0; i < l->n; i++) {
        const StTensor *t = l->get(l->src, i);
        uint64_t ne = 1;
        char shape[128];
        int o = snprintf(shape, sizeof(shape), "[");
        if (!t)
            continue;
        for (int d = 0; d < t->n_dims; d++) {
            ne *= (uint64_t)t->shape[d];
            if (o < (int)sizeof(shape))
                o += snprintf(shape + o, sizeof(shape) - (size_t)o, "%s%" PRId64, d ? ", " : "", t->shape[d]);
        }
        if (o < (int)sizeof(shape))
            snprintf(shape + o, sizeof(shape) - (size_t)o, "]");
        total += t->nbytes;
        elems += ne;
        if (as_json) {
            json_t *o2 = json_object(), *sh = json_array();
            for (int d = 0; d < t->n_dims; d++)
                json_array_append_new(sh, json_integer(t->shape[d]));
            json_object_set_new(o2, "name", json_text(t->name, strlen(t->name)));
            json_object_set_new(o2, "dtype", json_string(t->dtype_str));
            json_object_set_new(o2, "shape", sh);
            json_object_set_new(o2, "bytes", json_integer((json_int_t)t->nbytes));
            json_array_append_new(ts, o2);
        } else {
            printf("  %-5" PRId64 " %-56s %-6s %-28s %12zu\n", i, t->name, t->dtype_str, shape, t->nbytes);
        }
    }
    if (as_json) {
        json_t *tot = json_object();
        json_object_set_new(doc, "tensors", ts);
        json_object_set_new(tot, "tensors", json_integer(l->n));
        json_object_set_new(tot, "elements", json_integer((json_int_t)elems));
        json_object_set_new(tot, "bytes", json_integer((json_int_t)total));
        json_object_set_new(doc, "totals", tot);
    } else {
        printf("\ntotal: %" PRId64 " tensors, %" PRIu64 " elements, %" PRIu64 " bytes (%s)\n", l->n, elems, total,
               human_bytes(total, hb, sizeof(hb)));
    }
}

static int inspect_safetensors(const char *path, int as_json)
{
    char err[512];
    StFile *f = NULL;
    double t0 = clock_now_ms(), ms;
    json_t *doc = NULL;
    TensorList l;
    int r = st_open(path, &f, err, sizeof(err));

    if (r < 0)
        return fail_open(path, err);
    ms = clock_now_ms() - t0;
    l = (TensorList){st_n_tensors(f), st_get, f};
    if (as_json) {
        doc = json_object();
        json_object_set_new(doc, "file", json_text(path, strlen(path)));
        json_object_set_new(doc, "format", json_string("safetensors"));
        json_object_set_new(doc, "open_ms", json_real(ms));
    } else {
        const char *fmt = st_metadata(f, "format");
        printf("%s: safetensors, %" PRId64 " tensors%s%s, opened in %.2f ms\n", path, l.n,
               fmt ? ", format " : "", fmt ? fmt : "", ms);
    }
    st_table(&l, as_json, doc);
    if (doc) {
        r = print_json(doc);
        json_decref(doc);
    }
    st_close(f);
    return r < 0 ? 1 : 0;
}

static int inspect_hf(const char *dir, int as_json)
{
    static const char *const keys[] = {"model_type", "architectures", "hidden_size", "num_hidden_layers",
                                       "num_attention_heads", "num_key_value_heads", "vocab_size",
                                       "torch_dtype", "text_config.hidden_size", "vision_config.hidden_size"};
    char err[512];
    HfModel *m = NULL;
    double t0 = clock_now_ms(), ms;
    json_t *doc = NULL, *cfg;
    TensorList l;
    int r = hf_model_open(dir, &m, err, sizeof(err));

    if (r < 0)
        return fail_open(dir, err);
    ms = clock_now_ms() - t0;
    l = (TensorList){hf_model_n_tensors(m), hf_get, m};
    cfg = (json_t *)hf_model_config(m);
    if (as_json) {
        json_t *summary = json_object();
        doc = json_object();
        json_object_set_new(doc, "dir", json_text(dir, strlen(dir)));
        json_object_set_new(doc, "format", json_string("hf"));
        json_object_set_new(doc, "open_ms", json_real(ms));
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
            json_t *v = cfg ? json_object_get(cfg, keys[k]) : NULL;
            if (v)
                json_object_set(summary, keys[k], v);
        }
        json_object_set_new(doc, "config", summary);
    } else {
        printf("%s: Hugging Face folder, %" PRId64 " tensors, opened in %.2f ms\nconfig:\n", dir, l.n, ms);
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
            const char *s;
            int64_t v;
            if (hf_config_str(cfg, keys[k], &s) == 0)
                printf("  %-28s %s\n", keys[k], s);
            else if (hf_config_int(cfg, keys[k], &v) == 0)
                printf("  %-28s %" PRId64 "\n", keys[k], v);
        }
    }
    st_table(&l, as_json, doc);
    if (doc) {
        r = print_json(doc);
        json_decref(doc);
    }
    hf_model_free(m);
    return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    int as_json = 0, fd;
    struct stat st;
    char magic[4] = {0};

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            as_json = 1;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "myna-inspect: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (path) {
            usage(stderr);
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    if (stat(path, &st) < 0) {
        fprintf(stderr, "myna-inspect: %s: %s\n", path, strerror(errno));
        return 1;
    }
    if (S_ISDIR(st.st_mode))
        return inspect_hf(path, as_json);
    if (!S_ISREG(st.st_mode)) {
        fprintf(stderr, "myna-inspect: %s: not a regular file or directory\n", path);
        return 1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        fprintf(stderr, "myna-inspect: %s: %s\n", path, strerror(errno));
        return 1;
    }
    if (read(fd, magic, 4) != 4)
        memset(magic, 0, sizeof(magic));
    close(fd);
    /* GGUF by magic (or a .gguf name, so a damaged GGUF gets the GGUF reader's message). */
    if (!memcmp(magic, "GGUF", 4) || (strlen(path) > 5 && !strcmp(path + strlen(path) - 5, ".gguf")))
        return inspect_gguf(path, as_json);
    return inspect_safetensors(path, as_json);
}
