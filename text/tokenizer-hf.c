/* tokenizer-hf.c — load an HF tokenizer.json (Jansson) into a Tokenizer.
 *
 * Supported: model.type "BPE" with (a) a byte-level pre-tokenizer — ByteLevel(use_regex), or a Sequence of
 * Split(Regex, Isolated) / Digits / ByteLevel — giving a byte-level BPE tokenizer, or (b) SentencePiece
 * style: byte_fallback, Metaspace pre-tokenizer or Prepend/Replace("▁") normalizers. added_tokens become
 * control (special: true) or user-defined tokens. Not supported (-ENOTSUP, message names the field):
 * WordPiece/Unigram/WordLevel models, ByteLevel add_prefix_space, other normalizers with effect.
 * bos/eos are not stored in tokenizer.json: they are found by text (<|begin_of_text|>/<s>/<bos>,
 * <|end_of_text|>/</s>/<|endoftext|>/<eos>) and add_bos comes from a TemplateProcessing post-processor.
 * Format reference: huggingface/tokenizers serialisation (tokenizer.json). Every array element's type is
 * checked; the error names the field ("model.merges[12]: expected a string or a pair of strings").
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "tokenizer-impl.h"

#define HF_MAX_JSON_BYTES (256u << 20)

static const char *jstr(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int jbool(const json_t *o, const char *key, int def)
{
    const json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

typedef struct {
    int spm;             /* SentencePiece style */
    int prefix, prefix_first, split;
    const char *re[4];
    int n_re;
} HfShape;

static int add_re(HfShape *h, const char *re, char *err, size_t err_len)
{
    if (h->n_re == 4)
        return err_set(err, err_len, -ENOTSUP, "pre_tokenizer: more than 4 splitting steps");
    h->re[h->n_re++] = re;
    return 0;
}

static int parse_pre_one(const json_t *p, HfShape *h, const char *field, char *err, size_t err_len)
{
    const char *ty = jstr(p, "type");
    if (!ty)
        return err_set(err, err_len, -EBADMSG, "%s.type: missing", field);
    if (strcmp(ty, "ByteLevel") == 0) {
        if (jbool(p, "add_prefix_space", 0))
            return err_set(err, err_len, -ENOTSUP, "%s: ByteLevel add_prefix_space is not supported", field);
        return jbool(p, "use_regex", 1) ? add_re(h, TOK_GPT2_REGEX, err, err_len) : 0;
    }
    if (strcmp(ty, "Digits") == 0)
        return add_re(h, jbool(p, "individual_digits", 0) ? "\\p{N}" : "\\p{N}+", err, err_len);
    if (strcmp(ty, "Split") == 0) {
        const json_t *pat = json_object_get(p, "pattern");
        const char *re = jstr(pat, "Regex");
        const char *beh = jstr(p, "behavior");
        if (!re || !beh || strcmp(beh, "Isolated") != 0 || jbool(p, "invert", 0))
            return err_set(err, err_len, -ENOTSUP, "%s: only Split(Regex, Isolated) is supported", field);
        return add_re(h, re, err, err_len);
    }
    if (strcmp(ty, "Metaspace") == 0) {
        const char *rep = jstr(p, "replacement"), *scheme = jstr(p, "prepend_scheme");
        if (rep && strcmp(rep, "\xE2\x96\x81") != 0)
            return err_set(err, err_len, -ENOTSUP, "%s.replacement: only U+2581 is supported", field);
        h->spm = 1;
        h->prefix = scheme ? strcmp(scheme, "never") != 0 : jbool(p, "add_prefix_space", 1);
        h->prefix_first = scheme && strcmp(scheme, "first") == 0;
        h->split = jbool(p, "split", 1);
        return 0;
    }
    return err_set(err, err_len, -ENOTSUP, "%s.type '%s' is not supported", field, ty);
}

static int parse_shape(const json_t *root, HfShape *h, char *err, size_t err_len)
{
    int r;
    const json_t *pre = json_object_get(root, "pre_tokenizer");
    if (json_is_object(pre)) {
        const char *ty = jstr(pre, "type");
        if (ty && strcmp(ty, "Sequence") == 0) {
            const json_t *arr = json_object_get(pre, "pretokenizers");
            if (!json_is_array(arr))
                return err_set(err, err_len, -EBADMSG, "pre_tokenizer.pretokenizers: expected an array");
            for (size_t i = 0; i < json_array_size(arr); i++) {
                char field[64];
                snprintf(field, sizeof(field), "pre_tokenizer.pretokenizers[%zu]", i);
                if (!json_is_object(json_array_get(arr, i)))
                    return err_set(err, err_len, -EBADMSG, "%s: expected an object", field);
                if ((r = parse_pre_one(json_array_get(arr, i), h, field, err, err_len)) < 0)
                    return r;
            }
        } else if ((r = parse_pre_one(pre, h, "pre_tokenizer", err, err_len)) < 0) {
            return r;
        }
    } else if (pre && !json_is_null(pre)) {
        return err_set(err, err_len, -EBADMSG, "pre_tokenizer: expected an object or null");
    }
    const json_t *norm = json_object_get(root, "normalizer");
    if (json_is_object(norm)) {
        const json_t *list = json_object_get(norm, "normalizers");
        size_t n = json_is_array(list) ? json_array_size(list) : 1;
        for (size_t i = 0; i < n; i++) {
            const json_t *x = json_is_array(list) ? json_array_get(list, i) : norm;
            const char *ty = jstr(x, "type");
            if (!ty)
                return err_set(err, err_len, -EBADMSG, "normalizer: element %zu has no type", i);
            if (strcmp(ty, "Prepend") == 0) {
                h->spm = 1;
                h->prefix = 1;
            } else if (strcmp(ty, "Replace") == 0) {
                const char *pat = jstr(json_object_get(x, "pattern"), "String"), *content = jstr(x, "content");
                if (!pat || !content || strcmp(pat, " ") != 0 || strcmp(content, "\xE2\x96\x81") != 0)
                    return err_set(err, err_len, -ENOTSUP, "normalizer: only Replace(' ', U+2581) is supported");
                h->spm = 1;
            } else if (strcmp(ty, "NFC") != 0 && strcmp(ty, "Sequence") != 0) {
                return err_set(err, err_len, -ENOTSUP, "normalizer type '%s' is not supported", ty);
            }
        }
    }
    return 0;
}

typedef struct {
    const char *text;
    int special; /* -1 vocab entry, 0 user-defined, 1 control */
} Entry;

static int put_entry(Entry *e, int64_t n, int64_t id, const char *text, int special, char *err, size_t err_len,
                     const char *field)
{
    if (id < 0 || id >= n)
        return err_set(err, err_len, -EBADMSG, "%s: id %lld out of range", field, (long long)id);
    if (e[id].text && strcmp(e[id].text, text) != 0)
        return err_set(err, err_len, -EBADMSG, "%s: id %lld used by '%s' and '%s'", field, (long long)id,
                       e[id].text, text);
    if (strlen(text) > TOKENIZER_MAX_TOKEN_BYTES)
        return err_set(err, err_len, -EBADMSG, "%s: token %lld longer than %d bytes", field, (long long)id,
                       TOKENIZER_MAX_TOKEN_BYTES);
    e[id].text = text;
    if (special >= 0)
        e[id].special = special;
    return 0;
}

/* The TemplateProcessing post-processor (the one with a "single" template): the object itself, or inside
 * a Sequence's processors (real Llama 3 files: ByteLevel, then TemplateProcessing). NULL when there is none. */
static const json_t *template_processing(const json_t *pp, int depth)
{
    const json_t *type = json_object_get(pp, "type"), *e;
    size_t i;

    if (json_is_string(type) && strcmp(json_string_value(type), "Sequence") == 0) {
        json_array_foreach(json_object_get(pp, "processors"), i, e) {
            const json_t *found = depth < 4 ? template_processing(e, depth + 1) : NULL;
            if (found)
                return found;
        }
        return NULL;
    }
    return json_is_array(json_object_get(pp, "single")) ? pp : NULL;
}

static int load_root(const json_t *root, Tokenizer **ret, char *err, size_t err_len)
{
    Tokenizer *t = NULL;
    Entry *e = NULL;
    HfShape h = { 0 };
    int r;
    const json_t *model = json_object_get(root, "model");
    if (!json_is_object(root) || !json_is_object(model))
        return err_set(err, err_len, -EBADMSG, "model: missing or not an object");
    const char *mtype = jstr(model, "type");
    if (mtype && strcmp(mtype, "BPE") != 0)
        return err_set(err, err_len, -ENOTSUP, "model.type '%s' is not supported (known: BPE)", mtype);
    const json_t *vocab = json_object_get(model, "vocab"), *merges = json_object_get(model, "merges");
    const json_t *added = json_object_get(root, "added_tokens");
    if (!json_is_object(vocab))
        return err_set(err, err_len, -EBADMSG, "model.vocab: expected an object");
    if (!json_is_array(merges))
        return err_set(err, err_len, -EBADMSG, "model.merges: expected an array");
    if (added && !json_is_array(added) && !json_is_null(added))
        return err_set(err, err_len, -EBADMSG, "added_tokens: expected an array");
    if ((r = parse_shape(root, &h, err, err_len)) < 0)
        return r;
    int byte_fallback = jbool(model, "byte_fallback", 0);
    if (byte_fallback)
        h.spm = 1;
    if (h.spm && h.n_re)
        return err_set(err, err_len, -ENOTSUP, "pre_tokenizer: regex splitting with a SentencePiece-style model");
    if (!h.spm && !h.n_re)
        return err_set(err, err_len, -ENOTSUP, "pre_tokenizer: no ByteLevel/Split step and no Metaspace");

    /* vocabulary size = largest id + 1 over model.vocab and added_tokens */
    int64_t n = 0;
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)vocab, key, val) {
        if (!json_is_integer(val))
            return err_set(err, err_len, -EBADMSG, "model.vocab['%.40s']: expected an integer id", key);
        if (json_integer_value(val) < 0 || json_integer_value(val) >= TOKENIZER_MAX_VOCAB)
            return err_set(err, err_len, -EBADMSG, "model.vocab['%.40s']: id %lld out of range", key,
                           (long long)json_integer_value(val));
        if (json_integer_value(val) + 1 > n)
            n = json_integer_value(val) + 1;
    }
    for (size_t i = 0; added && i < json_array_size(added); i++) {
        const json_t *a = json_array_get(added, i), *id = json_object_get(a, "id");
        if (!json_is_object(a) || !json_is_integer(id) || !json_is_string(json_object_get(a, "content")))
            return err_set(err, err_len, -EBADMSG, "added_tokens[%zu]: expected {id: integer, content: string}", i);
        if (json_integer_value(id) < 0 || json_integer_value(id) >= TOKENIZER_MAX_VOCAB)
            return err_set(err, err_len, -EBADMSG, "added_tokens[%zu].id: out of range", i);
        if (json_integer_value(id) + 1 > n)
            n = json_integer_value(id) + 1;
    }
    if (n == 0)
        return err_set(err, err_len, -EBADMSG, "model.vocab: empty");
    if (!(e = calloc((size_t)n, sizeof(*e))))
        return -ENOMEM;
    for (int64_t i = 0; i < n; i++)
        e[i].special = -1;
    json_object_foreach((json_t *)vocab, key, val) {
        if ((r = put_entry(e, n, json_integer_value(val), key, -1, err, err_len, "model.vocab")) < 0)
            goto fail;
    }
    for (size_t i = 0; added && i < json_array_size(added); i++) {
        const json_t *a = json_array_get(added, i);
        if ((r = put_entry(e, n, json_integer_value(json_object_get(a, "id")), jstr(a, "content"),
                           jbool(a, "special", 0), err, err_len, "added_tokens")) < 0)
            goto fail;
    }
    size_t total = 0;
    for (int64_t i = 0; i < n; i++)
        total += e[i].text ? strlen(e[i].text) : 0;
    if ((r = tok_alloc(&t, h.spm ? TOKENIZER_KIND_SPM : TOKENIZER_KIND_BPE, (int)n, total)) < 0)
        goto fail;
    const char *unk = jstr(model, "unk_token");
    for (int64_t i = 0; i < n; i++) {
        const char *s = e[i].text ? e[i].text : "";
        tok_set_text(t, (int)i, s, strlen(s));
        if (!e[i].text)
            t->type[i] = TOKEN_TYPE_UNUSED;
        else if (e[i].special >= 0)
            t->type[i] = e[i].special ? TOKEN_TYPE_CONTROL : TOKEN_TYPE_USER_DEFINED;
        else if (byte_fallback && tok_parse_byte_token(s, strlen(s)) >= 0)
            t->type[i] = TOKEN_TYPE_BYTE;
        else if (unk && strcmp(s, unk) == 0)
            t->type[i] = TOKEN_TYPE_UNKNOWN;
    }
    t->byte_fallback = byte_fallback;
    t->ignore_merges = jbool(model, "ignore_merges", 0);
    t->add_space_prefix = h.spm && h.prefix;
    t->prefix_first_only = h.prefix_first;
    t->spm_split = h.spm && h.split && json_is_object(json_object_get(root, "pre_tokenizer"));
    if (!h.spm && (r = pretokenizer_new_regex(h.re, h.n_re, &t->pre, err, err_len)) < 0)
        goto fail;
    if ((r = tok_finish(t, err, err_len)) < 0)
        goto fail;
    if (unk)
        t->unk = tokenizer_find_token(t, unk);
    static const char *const bos_names[] = { "<|begin_of_text|>", "<s>", "<bos>" };
    static const char *const eos_names[] = { "<|end_of_text|>", "</s>", "<|endoftext|>", "<eos>" };
    for (int k = 0; k < 3 && t->bos < 0; k++)
        t->bos = tokenizer_find_token(t, bos_names[k]);
    for (int k = 0; k < 4 && t->eos < 0; k++)
        t->eos = tokenizer_find_token(t, eos_names[k]);
    if (t->eos >= 0)
        t->eog[t->eos] = 1;
    const json_t *single = json_object_get(template_processing(json_object_get(root, "post_processor"), 0), "single");
    if (json_is_array(single) && json_array_size(single) > 0 &&
        json_object_get(json_array_get(single, 0), "SpecialToken"))
        t->add_bos = 1;

    if ((r = tok_merges_reserve(t, json_array_size(merges))) < 0)
        goto fail;
    for (size_t i = 0; i < json_array_size(merges); i++) {
        const json_t *m = json_array_get(merges, i);
        const char *l = NULL, *rr = NULL;
        size_t ll = 0, rl = 0;
        if (json_is_string(m)) {
            const char *s = json_string_value(m), *sp = strchr(s, ' ');
            if (sp && !strchr(sp + 1, ' ')) {
                l = s;
                ll = (size_t)(sp - s);
                rr = sp + 1;
                rl = strlen(rr);
            }
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) {
            l = json_string_value(json_array_get(m, 0));
            rr = json_string_value(json_array_get(m, 1));
            ll = strlen(l);
            rl = strlen(rr);
        }
        if (!l) {
            r = err_set(err, err_len, -EBADMSG, "model.merges[%zu]: expected \"left right\" or [left, right]", i);
            goto fail;
        }
        if ((r = tok_add_merge(t, l, ll, rr, rl, (int32_t)i, err, err_len, "model.merges", i)) < 0)
            goto fail;
    }
    free(e);
    *ret = t;
    return 0;
fail:
    free(e);
    tokenizer_free(t);
    return r;
}

int tokenizer_load_hf_memory(const char *json, size_t len, Tokenizer **ret, char *err, size_t err_len)
{
    if (!json || !ret)
        return -EINVAL;
    if (len > HF_MAX_JSON_BYTES)
        return err_set(err, err_len, -E2BIG, "tokenizer.json: %zu bytes (limit %u)", len, HF_MAX_JSON_BYTES);
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return err_set(err, err_len, -EBADMSG, "tokenizer.json: line %d: %s", jerr.line, jerr.text);
    int r = load_root(root, ret, err, err_len);
    json_decref(root);
    return r;
}

int tokenizer_load_hf(const char *path, Tokenizer **ret, char *err, size_t err_len)
{
    if (!path || !ret)
        return -EINVAL;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return err_set(err, err_len, -errno, "%s: cannot open", path);
    struct stat st;
    if (fstat(fileno(fp), &st) < 0 || st.st_size < 0 || (uint64_t)st.st_size > HF_MAX_JSON_BYTES) {
        fclose(fp);
        return err_set(err, err_len, -E2BIG, "%s: too large or unreadable", path);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(fp);
        return -ENOMEM;
    }
    size_t got = fread(buf, 1, n, fp);
    fclose(fp);
    int r = got == n ? tokenizer_load_hf_memory(buf, n, ret, err, err_len)
                     : err_set(err, err_len, -EIO, "%s: short read", path);
    free(buf);
    return r;
}
