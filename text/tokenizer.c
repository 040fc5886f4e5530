/* tokenizer.c — the Tokenizer object: vocabulary and merge tables, special-token splitting, encode
 * dispatch, decoding (whole sequences and streaming), and the GGUF loader.
 *
 * Not here: the BPE pre-tokenizers and merge engine (tokenizer-bpe.c), SentencePiece normalisation
 * (tokenizer-spm.c), tokenizer.json (tokenizer-hf.c).
 * References: SPEC.md §1.7 (tokenizer.ggml.* keys, token types), llama.cpp llama-vocab.cpp (special
 * tokens split out before BPE; user-defined tokens always, control tokens only when parse_special),
 * HF tokenizers decoders (ByteLevel, Metaspace/Replace + ByteFallback + Strip).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tokenizer-impl.h"

/* ---- hash maps ----------------------------------------------------------------------------------- */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static uint32_t pow2_at_least(uint64_t n)
{
    uint32_t c = 16;
    while (c < n * 2)
        c *= 2;
    return c;
}

int32_t strmap_find(const StrMap *m, const char *s, size_t len)
{
    if (m->cap == 0)
        return -1;
    for (uint32_t i = (uint32_t)hash_bytes(s, len) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        int32_t v = m->slot_id[i];
        if (v < 0)
            return -1;
        if (m->key_len[v] == len && memcmp(m->keys[v], s, len) == 0)
            return v;
    }
}

/* Insert value v (keys[v]); keeps the first id when a text repeats. */
static void strmap_insert(StrMap *m, int32_t v)
{
    const char *s = m->keys[v];
    size_t len = m->key_len[v];
    for (uint32_t i = (uint32_t)hash_bytes(s, len) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        int32_t o = m->slot_id[i];
        if (o < 0) {
            m->slot_id[i] = v;
            return;
        }
        if (m->key_len[o] == len && memcmp(m->keys[o], s, len) == 0)
            return;
    }
}

int tok_merges_reserve(Tokenizer *t, uint64_t n)
{
    PairMap *m = &t->merges;
    if (n > (uint64_t)INT32_MAX / 4)
        return -E2BIG;
    m->cap = pow2_at_least(n);
    m->key = malloc((size_t)m->cap * sizeof(*m->key));
    m->rank = malloc((size_t)m->cap * sizeof(*m->rank));
    m->result = malloc((size_t)m->cap * sizeof(*m->result));
    if (!m->key || !m->rank || !m->result)
        return -ENOMEM;
    memset(m->key, 0xFF, (size_t)m->cap * sizeof(*m->key));
    return 0;
}

int tok_add_merge(Tokenizer *t, const char *left, size_t left_len, const char *right, size_t right_len,
                  int32_t rank, char *err, size_t err_len, const char *field, uint64_t index)
{
    int32_t a = strmap_find(&t->vocab, left, left_len), b = strmap_find(&t->vocab, right, right_len);
    if (a < 0 || b < 0)
        return err_set(err, err_len, -EBADMSG, "%s[%llu]: '%.*s' is not in the vocabulary", field,
                       (unsigned long long)index, (int)(a < 0 ? left_len : right_len), a < 0 ? left : right);
    char tmp[2 * TOKENIZER_MAX_TOKEN_BYTES];
    if (left_len + right_len > sizeof(tmp))
        return err_set(err, err_len, -EBADMSG, "%s[%llu]: merged token too long", field, (unsigned long long)index);
    memcpy(tmp, left, left_len);
    memcpy(tmp + left_len, right, right_len);
    int32_t c = strmap_find(&t->vocab, tmp, left_len + right_len);
    if (c < 0)
        return err_set(err, err_len, -EBADMSG, "%s[%llu]: merged token '%.*s' is not in the vocabulary", field,
                       (unsigned long long)index, (int)(left_len + right_len), tmp);
    PairMap *m = &t->merges;
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    for (uint32_t i = (uint32_t)(h >> 32) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->key[i] == key)
            return 0; /* a repeated merge keeps its first (best) rank */
        if (m->key[i] == UINT64_MAX) {
            m->key[i] = key;
            m->rank[i] = rank;
            m->result[i] = c;
            return 0;
        }
    }
}

/* ---- building ------------------------------------------------------------------------------------ */

int tok_alloc(Tokenizer **ret, TokenizerKind kind, int n_vocab, size_t text_bytes)
{
    if (n_vocab <= 0 || n_vocab > TOKENIZER_MAX_VOCAB)
        return -E2BIG;
    Tokenizer *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->kind = kind;
    t->n_vocab = n_vocab;
    t->text = calloc((size_t)n_vocab, sizeof(*t->text));
    t->text_len = calloc((size_t)n_vocab, sizeof(*t->text_len));
    t->type = malloc((size_t)n_vocab);
    t->eog = calloc((size_t)n_vocab, 1);
    t->arena_cap = text_bytes + (size_t)n_vocab + 1;
    t->arena = malloc(t->arena_cap);
    if (!t->text || !t->text_len || !t->type || !t->eog || !t->arena) {
        tokenizer_free(t);
        return -ENOMEM;
    }
    memset(t->type, TOKEN_TYPE_NORMAL, (size_t)n_vocab);
    t->bos = t->eos = t->eot = t->eom = t->unk = -1;
    *ret = t;
    return 0;
}

int tok_set_text(Tokenizer *t, int id, const char *s, size_t len)
{
    /* the loader sized the arena as the sum of all texts plus one NUL each */
    if (id < 0 || id >= t->n_vocab || t->text[id] || len > t->arena_cap - t->arena_used - 1)
        return -EINVAL;
    char *p = t->arena + t->arena_used;
    memcpy(p, s, len);
    p[len] = '\0';
    t->arena_used += len + 1;
    t->text[id] = p;
    t->text_len[id] = (uint32_t)len;
    return 0;
}

static int cmp_special(const void *a, const void *b, void *u)
{
    const Tokenizer *t = u;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (t->text_len[x] != t->text_len[y])
        return t->text_len[x] > t->text_len[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

static const char *const k_eog_texts[] = { "<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "<|im_end|>",
                                           "<|endoftext|>", "</s>", "<|end|>", "<end_of_turn>" };

int tok_finish(Tokenizer *t, char *err, size_t err_len)
{
    t->vocab.cap = pow2_at_least((uint64_t)t->n_vocab);
    t->vocab.slot_id = malloc((size_t)t->vocab.cap * sizeof(int32_t));
    if (!t->vocab.slot_id)
        return -ENOMEM;
    memset(t->vocab.slot_id, 0xFF, (size_t)t->vocab.cap * sizeof(int32_t));
    t->vocab.keys = (const char *const *)t->text;
    t->vocab.key_len = t->text_len;
    for (int i = 0; i < t->n_vocab; i++)
        strmap_insert(&t->vocab, i);

    for (int b = 0; b < 256; b++)
        t->byte_id[b] = -1;
    int n_special = 0;
    for (int i = 0; i < t->n_vocab; i++) {
        if (t->type[i] == TOKEN_TYPE_BYTE) {
            int b = tok_parse_byte_token(t->text[i], t->text_len[i]);
            if (b < 0)
                return err_set(err, err_len, -EBADMSG, "tokenizer.ggml.tokens[%d]: byte token '%.*s' is not <0xNN>",
                               i, (int)(t->text_len[i] > 32 ? 32 : t->text_len[i]), t->text[i]);
            if (t->byte_id[b] < 0)
                t->byte_id[b] = i;
        }
        if ((t->type[i] == TOKEN_TYPE_CONTROL || t->type[i] == TOKEN_TYPE_USER_DEFINED) && t->text_len[i] > 0)
            n_special++;
    }
    if (n_special > 0) {
        t->special = malloc((size_t)n_special * sizeof(int32_t));
        if (!t->special)
            return -ENOMEM;
        for (int i = 0; i < t->n_vocab; i++)
            if ((t->type[i] == TOKEN_TYPE_CONTROL || t->type[i] == TOKEN_TYPE_USER_DEFINED) && t->text_len[i] > 0) {
                t->special[t->n_special++] = i;
                t->special_first[(unsigned char)t->text[i][0]] = 1;
            }
        qsort_r(t->special, (size_t)t->n_special, sizeof(int32_t), cmp_special, t);
    }

    if (t->eot < 0)
        for (size_t k = 0; k < 4 && t->eot < 0; k++) { /* <|eot_id|>, <|im_end|> style names */
            static const char *const eot_names[] = { "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>" };
            int32_t id = tokenizer_find_token(t, eot_names[k]);
            if (id >= 0 && t->type[id] == TOKEN_TYPE_CONTROL)
                t->eot = id;
        }
    if (t->eom < 0) {
        int32_t id = tokenizer_find_token(t, "<|eom_id|>");
        if (id >= 0 && t->type[id] == TOKEN_TYPE_CONTROL)
            t->eom = id;
    }
    int32_t marks[3] = { t->eos, t->eot, t->eom };
    for (int k = 0; k < 3; k++)
        if (marks[k] >= 0)
            t->eog[marks[k]] = 1;
    for (size_t k = 0; k < sizeof(k_eog_texts) / sizeof(k_eog_texts[0]); k++) {
        int32_t id = tokenizer_find_token(t, k_eog_texts[k]);
        if (id >= 0 && t->type[id] == TOKEN_TYPE_CONTROL)
            t->eog[id] = 1;
    }
    return 0;
}

int tok_parse_byte_token(const char *s, size_t len)
{
    if (len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
        return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

void tokenizer_free(Tokenizer *t)
{
    if (!t)
        return;
    free(t->text);
    free(t->text_len);
    free(t->arena);
    free(t->type);
    free(t->eog);
    free(t->scores);
    free(t->vocab.slot_id);
    free(t->merges.key);
    free(t->merges.rank);
    free(t->merges.result);
    pretokenizer_free(t->pre);
    free(t->special);
    free(t);
}

/* ---- accessors ----------------------------------------------------------------------------------- */

TokenizerKind tokenizer_kind(const Tokenizer *t) { return t->kind; }
int tokenizer_n_vocab(const Tokenizer *t) { return t->n_vocab; }
int32_t tokenizer_bos(const Tokenizer *t) { return t->bos; }
int32_t tokenizer_eos(const Tokenizer *t) { return t->eos; }
int32_t tokenizer_eot(const Tokenizer *t) { return t->eot; }
int tokenizer_add_bos_default(const Tokenizer *t) { return t->add_bos; }

int tokenizer_is_eog(const Tokenizer *t, int32_t id)
{
    return t && id >= 0 && id < t->n_vocab && t->eog[id];
}

int tokenizer_set_eog(Tokenizer *t, int32_t id)
{
    if (!t || id < 0 || id >= t->n_vocab)
        return -EINVAL;
    t->eog[id] = 1;
    return 0;
}

TokenType tokenizer_token_type(const Tokenizer *t, int32_t id)
{
    if (!t || id < 0 || id >= t->n_vocab)
        return 0;
    return (TokenType)t->type[id];
}

int32_t tokenizer_find_token(const Tokenizer *t, const char *text)
{
    if (!t || !text)
        return -1;
    return strmap_find(&t->vocab, text, strlen(text));
}

const char *tokenizer_piece(const Tokenizer *t, int32_t id)
{
    if (!t || id < 0 || id >= t->n_vocab)
        return NULL;
    return t->text[id];
}

/* ---- encode -------------------------------------------------------------------------------------- */

static int encode_segment(const Tokenizer *t, const char *s, size_t n, int after_special, TokOut *o)
{
    if (n == 0)
        return 0;
    if (t->kind == TOKENIZER_KIND_BPE)
        return tok_bpe_encode_segment(t, s, n, o);
    return tok_spm_encode_segment(t, s, n, after_special, o);
}

/* Longest special token starting at text[i] that may be matched; -1 when none. */
static int32_t match_special(const Tokenizer *t, const char *text, size_t len, size_t i, int allow_special)
{
    for (int k = 0; k < t->n_special; k++) {
        int32_t id = t->special[k];
        size_t n = t->text_len[id];
        if (n <= len - i && memcmp(text + i, t->text[id], n) == 0 &&
            (allow_special || t->type[id] == TOKEN_TYPE_USER_DEFINED))
            return id;
    }
    return -1;
}

int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, int add_bos, int allow_special,
                     int32_t *ids, int cap)
{
    if (!t || (!text && len) || cap < 0 || (cap > 0 && !ids))
        return -EINVAL;
    TokOut o = { ids, cap, 0 };
    int r;
    if (add_bos && t->bos >= 0)
        tok_out_push(&o, t->bos);
    size_t seg = 0;
    int after_special = 2; /* 2: input start, 1: after a special token (SentencePiece space prefix) */
    for (size_t i = 0; i < len; i++) {
        if (!t->special_first[(unsigned char)text[i]])
            continue;
        int32_t id = match_special(t, text, len, i, allow_special);
        if (id < 0)
            continue;
        if ((r = encode_segment(t, text + seg, i - seg, after_special, &o)) < 0)
            return r;
        tok_out_push(&o, id);
        after_special = 1;
        i += t->text_len[id] - 1;
        seg = i + 1;
        if (o.n > INT_MAX)
            return -E2BIG;
    }
    if ((r = encode_segment(t, text + seg, len - seg, after_special, &o)) < 0)
        return r;
    if (o.n > INT_MAX)
        return -E2BIG;
    return (int)o.n;
}

/* ---- decode -------------------------------------------------------------------------------------- */

static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (k == 0 || k > n) {
        *cp = UINT32_MAX;
        return 1;
    }
    uint32_t v = k == 1 ? c : k == 2 ? (c & 0x1Fu) : k == 3 ? (c & 0x0Fu) : (c & 0x07u);
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = UINT32_MAX;
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    *cp = v;
    return k;
}

int tokenizer_token_bytes(const Tokenizer *t, int32_t id, char *out, size_t cap)
{
    if (!t || id < 0 || id >= t->n_vocab || (cap && !out))
        return -EINVAL;
    const unsigned char *s = (const unsigned char *)t->text[id];
    size_t n = t->text_len[id], m = 0;
    int type = t->type[id];
#define PUT(c) do { if (m < cap) out[m] = (char)(c); m++; } while (0)
    if (type == TOKEN_TYPE_BYTE) {
        PUT(tok_parse_byte_token((const char *)s, n));
        return (int)m;
    }
    if (type == TOKEN_TYPE_CONTROL || type == TOKEN_TYPE_USER_DEFINED || type == TOKEN_TYPE_UNKNOWN) {
        for (size_t i = 0; i < n; i++)
            PUT(s[i]);
        return (int)m;
    }
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = utf8_decode(s + i, n - i, &cp);
        if (t->kind == TOKENIZER_KIND_SPM) {
            if (cp == 0x2581) { /* "▁" */
                PUT(' ');
            } else {
                for (size_t j = 0; j < k; j++)
                    PUT(s[i + j]);
            }
        } else {
            int b = cp == UINT32_MAX ? -1 : bpe_cp_to_byte(cp);
            if (b >= 0) {
                PUT(b);
            } else {
                for (size_t j = 0; j < k; j++)
                    PUT(s[i + j]);
            }
        }
        i += k;
    }
#undef PUT
    return (int)m;
}

int tokenizer_decode(const Tokenizer *t, const int32_t *ids, int n, int skip_special, char *out, size_t cap)
{
    if (!t || n < 0 || (n > 0 && !ids) || (cap && !out))
        return -EINVAL;
    size_t m = 0;
    int first = 1;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab)
            return -EINVAL;
        if (skip_special && t->type[ids[i]] == TOKEN_TYPE_CONTROL)
            continue;
        char tmp[TOKENIZER_MAX_TOKEN_BYTES + 8];
        int k = tokenizer_token_bytes(t, ids[i], tmp, sizeof(tmp));
        if (k < 0)
            return k;
        int skip = first && t->kind == TOKENIZER_KIND_SPM && t->add_space_prefix && k > 0 && tmp[0] == ' ';
        first = 0;
        for (int j = skip; j < k; j++) {
            if (m + 1 < cap)
                out[m] = tmp[j];
            m++;
        }
        if (m > INT_MAX)
            return -E2BIG;
    }
    if (cap)
        out[m < cap ? m : cap - 1] = '\0';
    return (int)m;
}

/* ---- streaming decoder --------------------------------------------------------------------------- */

void tok_decoder_init(TokDecoder *d)
{
    memset(d, 0, sizeof(*d));
}

/* Length of the valid UTF-8 character at s (n bytes available): > 0 complete, 0 = a valid but
 * incomplete prefix, -1 = invalid first byte(s) (emit U+FFFD for one byte). */
static int utf8_check(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    int k;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) k = 2;
    else if (c == 0xE0) { k = 3; lo = 0xA0; }
    else if (c >= 0xE1 && c <= 0xEC) k = 3;
    else if (c == 0xED) { k = 3; hi = 0x9F; }
    else if (c >= 0xEE && c <= 0xEF) k = 3;
    else if (c == 0xF0) { k = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) k = 4;
    else if (c == 0xF4) { k = 4; hi = 0x8F; }
    else return -1;
    for (int i = 1; i < k; i++) {
        if ((size_t)i >= n)
            return 0;
        unsigned char lo_i = i == 1 ? lo : 0x80, hi_i = i == 1 ? hi : 0xBF;
        if (s[i] < lo_i || s[i] > hi_i)
            return -1;
    }
    return k;
}

static int decoder_emit(TokDecoder *d, const unsigned char *b, size_t n, int final, char *out, size_t cap)
{
    size_t m = 0, i = 0;
    unsigned char keep[4];
    int n_keep = 0;
    char *o = out;
    while (i < n) {
        int k = utf8_check(b + i, n - i);
        if (k == 0 && !final) {
            n_keep = (int)(n - i);
            memcpy(keep, b + i, (size_t)n_keep);
            break;
        }
        if (k <= 0) {
            if (m + 3 >= cap)
                return -ENOBUFS;
            memcpy(o + m, "\xEF\xBF\xBD", 3);
            m += 3;
            i++;
            continue;
        }
        if (d->strip_leading_space && !d->started && m == 0 && b[i] == ' ') {
            i++;
            d->started = 1;
            continue;
        }
        if (m + (size_t)k >= cap)
            return -ENOBUFS;
        memcpy(o + m, b + i, (size_t)k);
        m += (size_t)k;
        i += (size_t)k;
    }
    if (m > 0)
        d->started = 1;
    memcpy(d->pending, keep, (size_t)n_keep);
    d->n_pending = n_keep;
    if (cap)
        out[m] = '\0';
    return (int)m;
}

int tok_decoder_push(TokDecoder *d, const Tokenizer *t, int32_t id, char *out, size_t cap)
{
    if (!d || !t || id < 0 || id >= t->n_vocab || !out || cap == 0)
        return -EINVAL;
    if (t->type[id] == TOKEN_TYPE_CONTROL && !d->render_special) {
        out[0] = '\0';
        return 0;
    }
    unsigned char buf[TOKENIZER_MAX_TOKEN_BYTES + 8];
    memcpy(buf, d->pending, (size_t)d->n_pending);
    int k = tokenizer_token_bytes(t, id, (char *)buf + d->n_pending, sizeof(buf) - (size_t)d->n_pending);
    if (k < 0)
        return k;
    if ((size_t)k > sizeof(buf) - (size_t)d->n_pending)
        return -E2BIG;
    TokDecoder save = *d;
    int r = decoder_emit(d, buf, (size_t)d->n_pending + (size_t)k, 0, out, cap);
    if (r < 0)
        *d = save;
    return r;
}

int tok_decoder_flush(TokDecoder *d, char *out, size_t cap)
{
    if (!d || !out || cap == 0)
        return -EINVAL;
    unsigned char buf[4];
    size_t n = (size_t)d->n_pending;
    memcpy(buf, d->pending, n);
    TokDecoder save = *d;
    int r = decoder_emit(d, buf, n, 1, out, cap);
    if (r < 0)
        *d = save;
    return r;
}

/* ---- GGUF loader --------------------------------------------------------------------------------- */

static int gguf_opt_id(const GgufFile *f, const char *key, int n_vocab, int32_t *ret, char *err, size_t err_len)
{
    uint64_t v;
    int r = gguf_get_uint(f, key, &v);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return err_set(err, err_len, -EBADMSG, "%s: not an unsigned integer", key);
    if (v >= (uint64_t)n_vocab)
        return err_set(err, err_len, -EBADMSG, "%s: %llu out of range (vocabulary has %d tokens)", key,
                       (unsigned long long)v, n_vocab);
    *ret = (int32_t)v;
    return 0;
}

static int gguf_opt_bool(const GgufFile *f, const char *key, int *ret, char *err, size_t err_len)
{
    int v, r = gguf_get_bool(f, key, &v);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return err_set(err, err_len, -EBADMSG, "%s: not a bool", key);
    *ret = v;
    return 0;
}

static int gguf_arr_check(const GgufFile *f, const char *key, GgufType want, uint64_t n_want, uint64_t *ret_n,
                          const void **ret_data, char *err, size_t err_len)
{
    GgufType ty;
    uint64_t n;
    const void *data;
    int r = gguf_get_arr(f, key, &ty, &n, &data);
    if (r == -ENOENT)
        return r;
    if (r < 0)
        return err_set(err, err_len, -EBADMSG, "%s: not an array", key);
    if (ty != want)
        return err_set(err, err_len, -EBADMSG, "%s: expected an array of %s, got %s", key, gguf_type_name(want),
                       gguf_type_name(ty));
    if (n_want && n != n_want)
        return err_set(err, err_len, -EBADMSG, "%s: %llu elements, expected %llu", key, (unsigned long long)n,
                       (unsigned long long)n_want);
    if (ret_n)
        *ret_n = n;
    if (ret_data)
        *ret_data = data;
    return 0;
}

int tokenizer_load_gguf(const GgufFile *f, Tokenizer **ret, char *err, size_t err_len)
{
    const char *model = NULL, *pre = "default";
    Tokenizer *t = NULL;
    uint64_t n = 0;
    const void *data;
    int r;
    if (!f || !ret)
        return -EINVAL;
    if ((r = gguf_get_str(f, "tokenizer.ggml.model", &model, NULL)) < 0)
        return err_set(err, err_len, r == -ENOENT ? -ENOENT : -EBADMSG, "tokenizer.ggml.model: %s",
                       r == -ENOENT ? "missing" : "not a string");
    TokenizerKind kind;
    if (strcmp(model, "gpt2") == 0)
        kind = TOKENIZER_KIND_BPE;
    else if (strcmp(model, "llama") == 0)
        kind = TOKENIZER_KIND_SPM;
    else
        return err_set(err, err_len, -ENOTSUP, "tokenizer.ggml.model '%s' is not supported (known: gpt2, llama)",
                       model);
    if (kind == TOKENIZER_KIND_BPE) {
        r = gguf_get_str(f, "tokenizer.ggml.pre", &pre, NULL);
        if (r == -ENOENT)
            pre = "default";
        else if (r < 0)
            return err_set(err, err_len, -EBADMSG, "tokenizer.ggml.pre: not a string");
    }
    if ((r = gguf_arr_check(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, 0, &n, NULL, err, err_len)) < 0)
        return r == -ENOENT ? err_set(err, err_len, -EBADMSG, "tokenizer.ggml.tokens: missing") : r;
    if (n == 0 || n > TOKENIZER_MAX_VOCAB)
        return err_set(err, err_len, n ? -E2BIG : -EBADMSG, "tokenizer.ggml.tokens: %llu tokens (limit %d)",
                       (unsigned long long)n, TOKENIZER_MAX_VOCAB);
    size_t total = 0;
    for (uint64_t i = 0; i < n; i++) {
        const char *s;
        size_t len;
        if (gguf_get_arr_str(f, "tokenizer.ggml.tokens", i, &s, &len) < 0)
            return err_set(err, err_len, -EBADMSG, "tokenizer.ggml.tokens[%llu]: unreadable", (unsigned long long)i);
        if (len > TOKENIZER_MAX_TOKEN_BYTES || strlen(s) != len)
            return err_set(err, err_len, -EBADMSG, "tokenizer.ggml.tokens[%llu]: %s", (unsigned long long)i,
                           len > TOKENIZER_MAX_TOKEN_BYTES ? "longer than 1024 bytes" : "contains a NUL byte");
        total += len;
    }
    if ((r = tok_alloc(&t, kind, (int)n, total)) < 0)
        return err_set(err, err_len, r, "tokenizer: cannot allocate %llu tokens", (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) {
        const char *s;
        size_t len;
        gguf_get_arr_str(f, "tokenizer.ggml.tokens", i, &s, &len);
        tok_set_text(t, (int)i, s, len);
    }
    r = gguf_arr_check(f, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, n, NULL, &data, err, err_len);
    if (r < 0 && r != -ENOENT)
        goto fail;
    if (r == 0)
        for (uint64_t i = 0; i < n; i++) {
            int32_t ty;
            memcpy(&ty, (const char *)data + 4 * i, 4);
            if (ty < 0 || ty > TOKEN_TYPE_BYTE) {
                r = err_set(err, err_len, -EBADMSG, "tokenizer.ggml.token_type[%llu]: %d is not a token type",
                            (unsigned long long)i, (int)ty);
                goto fail;
            }
            t->type[i] = (uint8_t)(ty == 0 ? TOKEN_TYPE_NORMAL : ty);
        }
    if (kind == TOKENIZER_KIND_SPM) {
        t->scores = calloc(n, sizeof(float));
        if (!t->scores) {
            r = -ENOMEM;
            goto fail;
        }
        r = gguf_arr_check(f, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, n, NULL, &data, err, err_len);
        if (r < 0 && r != -ENOENT)
            goto fail;
        if (r == 0)
            memcpy(t->scores, data, n * sizeof(float));
        t->add_bos = 1;
        t->add_space_prefix = 1;
        t->byte_fallback = 1;
    } else {
        if ((r = pretokenizer_new(pre, &t->pre, err, err_len)) < 0)
            goto fail;
        t->ignore_merges = strcmp(pre, "llama-bpe") == 0 || strcmp(pre, "llama3") == 0 ||
                           strcmp(pre, "llama-v3") == 0 || strcmp(pre, "falcon3") == 0;
        t->add_bos = t->ignore_merges;
    }
    if ((r = gguf_opt_id(f, "tokenizer.ggml.bos_token_id", (int)n, &t->bos, err, err_len)) < 0 ||
        (r = gguf_opt_id(f, "tokenizer.ggml.eos_token_id", (int)n, &t->eos, err, err_len)) < 0 ||
        (r = gguf_opt_id(f, "tokenizer.ggml.eot_token_id", (int)n, &t->eot, err, err_len)) < 0 ||
        (r = gguf_opt_id(f, "tokenizer.ggml.eom_token_id", (int)n, &t->eom, err, err_len)) < 0 ||
        (r = gguf_opt_id(f, "tokenizer.ggml.unknown_token_id", (int)n, &t->unk, err, err_len)) < 0 ||
        (r = gguf_opt_bool(f, "tokenizer.ggml.add_bos_token", &t->add_bos, err, err_len)) < 0 ||
        (r = gguf_opt_bool(f, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix, err, err_len)) < 0)
        goto fail;
    if (kind == TOKENIZER_KIND_BPE)
        t->unk = -1; /* byte-level vocabularies cover every byte; GGUF files often name <|endoftext|> here */
    if ((r = tok_finish(t, err, err_len)) < 0)
        goto fail;
    if (kind == TOKENIZER_KIND_BPE) {
        uint64_t n_merges = 0;
        if ((r = gguf_arr_check(f, "tokenizer.ggml.merges", GGUF_TYPE_STRING, 0, &n_merges, NULL, err, err_len)) < 0) {
            if (r == -ENOENT)
                r = err_set(err, err_len, -EBADMSG, "tokenizer.ggml.merges: missing");
            goto fail;
        }
        if ((r = tok_merges_reserve(t, n_merges)) < 0) {
            err_set(err, err_len, r, "tokenizer.ggml.merges: %llu merges", (unsigned long long)n_merges);
            goto fail;
        }
        for (uint64_t i = 0; i < n_merges; i++) {
            const char *s, *sp;
            size_t len;
            if (gguf_get_arr_str(f, "tokenizer.ggml.merges", i, &s, &len) < 0 || !(sp = memchr(s, ' ', len)) ||
                memchr(sp + 1, ' ', len - (size_t)(sp + 1 - s))) {
                r = err_set(err, err_len, -EBADMSG, "tokenizer.ggml.merges[%llu]: not \"left right\"",
                            (unsigned long long)i);
                goto fail;
            }
            if ((r = tok_add_merge(t, s, (size_t)(sp - s), sp + 1, len - (size_t)(sp + 1 - s), (int32_t)i, err,
                                   err_len, "tokenizer.ggml.merges", i)) < 0)
                goto fail;
        }
    }
    *ret = t;
    return 0;
fail:
    tokenizer_free(t);
    return r;
}
