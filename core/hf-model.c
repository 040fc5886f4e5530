/* hf-model.c — Hugging Face model folders: config.json plus one model.safetensors or a sharded set described
 * by model.safetensors.index.json (SPEC.md §2.3), and typed getters over config.json.
 *
 * Index rules (validated before any tensor is touched):
 *  - weight_map is an object of tensor name → shard file name; shard names are plain file names inside the
 *    folder (no '/', not "." or "..", not empty, at most 255 bytes); at most HF_MAX_SHARDS distinct shards;
 *  - every shard is opened with st_open() (full validation); every mapped tensor is present in its shard;
 *  - a tensor name present in two shards is an error (whatever the map says);
 *  - a tensor present in a shard but absent from the map is tolerated with one warning (some published
 *    checkpoints carry extra buffers); it stays visible through hf_model_find(), since it is unique.
 * config.json null values count as absent in the getters (HF writes "rope_scaling": null).
 *
 * Not here: the safetensors format itself (safetensors.c), tokenizer.json (lm/).
 */
#include "hf-model.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

enum {
    HF_MAX_JSON = 16 << 20, /* config.json / index.json size cap */
    HF_MAX_SHARDS = 4096,
    HF_MAX_NAME = 255,
};

struct HfModel {
    char *dir;              /* owned */
    json_t *config;         /* owned */
    StFile **shards;        /* owned [n_shards] */
    int n_shards;
    const StTensor **all;   /* owned [n], borrowed entries: shard order, then data offset */
    const StTensor **by_name; /* owned [n] sorted by name */
    int64_t n;
};

static char *path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);

    if (!p)
        return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

/* Reads a small JSON file (size-capped) into a Jansson value; `what` names it in messages. */
static int load_json(const char *dir, const char *name, json_t **ret, char *err, size_t err_len)
{
    char *path = path_join(dir, name), *buf = NULL;
    struct stat st;
    json_error_t jerr;
    size_t got = 0;
    int fd = -1, r;

    if (!path)
        return err_set(err, err_len, -ENOMEM, "out of memory");
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* no blocking on a FIFO */
    if (fd < 0) {
        r = -errno;
        err_set(err, err_len, r, "%s: cannot open: %s", path, strerror(-r));
        goto out;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        r = err_set(err, err_len, -EINVAL, "%s: not a regular file", path);
        goto out;
    }
    if (st.st_size > HF_MAX_JSON) {
        r = err_set(err, err_len, -EFBIG, "%s: %lld bytes, over the %d-byte limit", path, (long long)st.st_size,
                    HF_MAX_JSON);
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        r = err_set(err, err_len, -ENOMEM, "%s: out of memory", path);
        goto out;
    }
    while (got < (size_t)st.st_size) {
        ssize_t k = read(fd, buf + got, (size_t)st.st_size - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            r = err_set(err, err_len, k < 0 ? -errno : -EIO, "%s: read failed", path);
            goto out;
        }
        got += (size_t)k;
    }
    *ret = json_loadb(buf, got, JSON_REJECT_DUPLICATES, &jerr);
    if (!*ret) {
        r = err_set(err, err_len, -EBADMSG, "%s: invalid JSON at line %d column %d: %s", path, jerr.line,
                    jerr.column, jerr.text);
        goto out;
    }
    if (!json_is_object(*ret)) {
        json_decref(*ret);
        *ret = NULL;
        r = err_set(err, err_len, -EBADMSG, "%s: top level is not a JSON object", path);
        goto out;
    }
    r = 0;
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    free(path);
    return r;
}

static int plain_file_name(const char *s)
{
    size_t n = strlen(s);

    return n > 0 && n <= HF_MAX_NAME && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..");
}

static int cmp_tensor_name(const void *a, const void *b)
{
    const StTensor *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

void hf_model_free(HfModel *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_shards; i++)
        st_close(m->shards[i]);
    free(m->shards);
    free(m->all);
    free(m->by_name);
    json_decref(m->config);
    free(m->dir);
    free(m);
}

static int open_shard(HfModel *m, const char *name, char *err, size_t err_len)
{
    char *path = path_join(m->dir, name);
    int r;

    if (!path)
        return err_set(err, err_len, -ENOMEM, "out of memory");
    r = st_open(path, &m->shards[m->n_shards], err, err_len);
    free(path);
    if (r < 0)
        return r;
    m->n_shards++;
    return 0;
}

/* Opens the shards named by the index; `names` gets, per shard, its file name (borrowed from idx). */
static int open_sharded(HfModel *m, json_t *idx, const char ***ret_names, char *err, size_t err_len)
{
    json_t *wm = json_object_get(idx, "weight_map"), *v;
    const char **names = NULL;
    const char *key;
    int n_names = 0, r;

    if (!json_is_object(wm))
        return err_set(err, err_len, -EBADMSG, "%s/model.safetensors.index.json: weight_map missing or not an object",
                       m->dir);
    names = calloc(HF_MAX_SHARDS, sizeof(*names));
    m->shards = calloc(HF_MAX_SHARDS, sizeof(*m->shards));
    if (!names || !m->shards) {
        free(names);
        return err_set(err, err_len, -ENOMEM, "out of memory");
    }
    json_object_foreach(wm, key, v) {
        const char *s;
        int k;
        if (!json_is_string(v)) {
            r = err_set(err, err_len, -EBADMSG, "%s/model.safetensors.index.json: weight_map['%.200s'] is not a string",
                        m->dir, key);
            goto fail;
        }
        s = json_string_value(v);
        if (!plain_file_name(s)) {
            r = err_set(err, err_len, -EBADMSG,
                        "%s/model.safetensors.index.json: weight_map['%.200s'] = '%.200s' is not a plain file name in the folder",
                        m->dir, key, s);
            goto fail;
        }
        for (k = 0; k < n_names; k++)
            if (!strcmp(names[k], s))
                break;
        if (k < n_names)
            continue;
        if (n_names == HF_MAX_SHARDS) {
            r = err_set(err, err_len, -E2BIG, "%s/model.safetensors.index.json: more than %d shards", m->dir,
                        HF_MAX_SHARDS);
            goto fail;
        }
        names[n_names++] = s;
    }
    if (n_names == 0) {
        r = err_set(err, err_len, -EBADMSG, "%s/model.safetensors.index.json: weight_map is empty", m->dir);
        goto fail;
    }
    for (int k = 0; k < n_names; k++) {
        r = open_shard(m, names[k], err, err_len);
        if (r < 0)
            goto fail;
    }
    /* Every mapped tensor present in its shard. */
    json_object_foreach(wm, key, v) {
        const char *s = json_string_value(v);
        int k;
        for (k = 0; k < n_names; k++)
            if (!strcmp(names[k], s))
                break;
        if (!st_find(m->shards[k], key)) {
            r = err_set(err, err_len, -EBADMSG, "%s/model.safetensors.index.json: tensor '%.200s' mapped to %s is not in that shard",
                        m->dir, key, s);
            goto fail;
        }
    }
    *ret_names = names;
    return 0;
fail:
    free(names);
    return r;
}

int hf_model_open(const char *dir, HfModel **ret, char *err, size_t err_len)
{
    HfModel *m = calloc(1, sizeof(*m));
    json_t *idx = NULL, *wm;
    const char **names = NULL;
    char *p = NULL;
    int64_t n = 0, k = 0, unmapped = 0;
    const char *first_unmapped = NULL;
    int r;

    if (!m || !(m->dir = strdup(dir))) {
        r = err_set(err, err_len, -ENOMEM, "out of memory");
        goto fail;
    }
    r = load_json(dir, "config.json", &m->config, err, err_len);
    if (r < 0)
        goto fail;
    p = path_join(dir, "model.safetensors.index.json");
    if (!p) {
        r = -ENOMEM;
        goto fail;
    }
    if (access(p, F_OK) == 0) {
        r = load_json(dir, "model.safetensors.index.json", &idx, err, err_len);
        if (r < 0)
            goto fail;
        r = open_sharded(m, idx, &names, err, err_len);
        if (r < 0)
            goto fail;
    } else {
        m->shards = calloc(1, sizeof(*m->shards));
        if (!m->shards) {
            r = -ENOMEM;
            goto fail;
        }
        r = open_shard(m, "model.safetensors", err, err_len);
        if (r < 0)
            goto fail;
    }
    for (int s = 0; s < m->n_shards; s++)
        n += st_n_tensors(m->shards[s]);
    m->all = calloc((size_t)(n ? n : 1), sizeof(*m->all));
    m->by_name = calloc((size_t)(n ? n : 1), sizeof(*m->by_name));
    if (!m->all || !m->by_name) {
        r = err_set(err, err_len, -ENOMEM, "out of memory");
        goto fail;
    }
    wm = idx ? json_object_get(idx, "weight_map") : NULL;
    for (int s = 0; s < m->n_shards; s++) {
        for (int64_t i = 0; i < st_n_tensors(m->shards[s]); i++) {
            const StTensor *t = st_tensor(m->shards[s], i);
            m->all[k] = m->by_name[k] = t;
            k++;
            if (wm && !json_object_get(wm, t->name)) {
                if (!unmapped++)
                    first_unmapped = t->name;
            }
        }
    }
    m->n = n;
    qsort(m->by_name, (size_t)n, sizeof(*m->by_name), cmp_tensor_name);
    for (int64_t i = 1; i < n; i++) {
        if (!strcmp(m->by_name[i - 1]->name, m->by_name[i]->name)) {
            r = err_set(err, err_len, -EBADMSG, "%s: tensor '%.200s' appears in more than one shard", dir,
                        m->by_name[i]->name);
            goto fail;
        }
    }
    if (unmapped)
        log_warn("%s: %lld tensor(s) in shards but not in model.safetensors.index.json (first: '%.200s')", dir,
                 (long long)unmapped, first_unmapped);
    free(names);
    json_decref(idx);
    free(p);
    *ret = m;
    return 0;
fail:
    free(names);
    json_decref(idx);
    free(p);
    hf_model_free(m);
    return r;
}

const json_t *hf_model_config(const HfModel *m)
{
    return m ? m->config : NULL;
}

const StTensor *hf_model_find(const HfModel *m, const char *name)
{
    int64_t lo = 0, hi;

    if (!m || !name)
        return NULL;
    hi = m->n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->by_name[mid]->name, name);
        if (c == 0)
            return m->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int64_t hf_model_n_tensors(const HfModel *m)
{
    return m ? m->n : 0;
}

const StTensor *hf_model_tensor(const HfModel *m, int64_t i)
{
    if (!m || i < 0 || i >= m->n)
        return NULL;
    return m->all[i];
}

const char *hf_model_dir(const HfModel *m)
{
    return m ? m->dir : NULL;
}

/* Walks a dotted path through nested objects. -ENOENT when a component is absent or null, -EINVAL when an
 * intermediate value is not an object. */
static int config_get(const json_t *cfg, const char *path, json_t **ret)
{
    const json_t *cur = cfg;
    const char *p = path;
    char key[256];

    if (!cfg || !path || !*path)
        return -EINVAL;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (len == 0 || len >= sizeof(key))
            return -EINVAL;
        if (!json_is_object(cur))
            return json_is_null(cur) ? -ENOENT : -EINVAL;
        memcpy(key, p, len);
        key[len] = 0;
        cur = json_object_get(cur, key);
        if (!cur || json_is_null(cur))
            return -ENOENT;
        if (!dot)
            break;
        p = dot + 1;
    }
    *ret = (json_t *)(uintptr_t)cur;
    return 0;
}

int hf_config_int(const json_t *cfg, const char *path, int64_t *ret)
{
    json_t *v;
    int r = config_get(cfg, path, &v);

    if (r < 0)
        return r;
    if (!json_is_integer(v))
        return -EINVAL; /* 4096.0 is a float, not an int */
    *ret = (int64_t)json_integer_value(v);
    return 0;
}

int hf_config_float(const json_t *cfg, const char *path, double *ret)
{
    json_t *v;
    int r = config_get(cfg, path, &v);

    if (r < 0)
        return r;
    if (!json_is_number(v) || !isfinite(json_number_value(v)))
        return -EINVAL;
    *ret = json_number_value(v);
    return 0;
}

int hf_config_str(const json_t *cfg, const char *path, const char **ret)
{
    json_t *v;
    int r = config_get(cfg, path, &v);

    if (r < 0)
        return r;
    if (!json_is_string(v))
        return -EINVAL;
    *ret = json_string_value(v);
    return 0;
}

int hf_config_bool(const json_t *cfg, const char *path, int *ret)
{
    json_t *v;
    int r = config_get(cfg, path, &v);

    if (r < 0)
        return r;
    if (!json_is_boolean(v))
        return -EINVAL;
    *ret = json_is_true(v);
    return 0;
}
