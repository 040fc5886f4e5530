/* tokenizer-bpe.c — byte-level BPE: regex pre-tokenizers (PCRE2), the GPT-2 byte<->unicode table and the
 * merge engine shared with SentencePiece-style vocabularies.
 *
 * Not here: special-token splitting, loaders, decoding (tokenizer.c, tokenizer-hf.c).
 * References: HF tokenizers ByteLevel / Digits / Split pre-tokenizers and BPE model (merge the adjacent
 * pair of lowest rank, leftmost first); llama.cpp llama-vocab.cpp regex lists per tokenizer.ggml.pre
 * (applied one after another, each to the pieces of the previous; unmatched text stays a piece);
 * SPEC.md §1.7, §3.2. The merge engine is a binary heap over a linked list of symbols: O(n log n) per
 * piece, so a 10k-character word costs milliseconds, not seconds.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tokenizer-impl.h"

/* ---- GPT-2 byte <-> code point ------------------------------------------------------------------ */

static int byte_is_direct(int b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

/* The 68 other bytes map in ascending order to U+0100...: 0x00-0x20 -> U+0100-U+0120, 0x7F-0xA0 ->
 * U+0121-U+0142, 0xAD -> U+0143. */
uint32_t bpe_byte_to_cp(uint8_t b)
{
    if (byte_is_direct(b))
        return b;
    if (b <= 0x20)
        return 0x100u + b;
    if (b <= 0xA0)
        return 0x121u + (uint32_t)(b - 0x7F);
    return 0x143; /* 0xAD */
}

int bpe_cp_to_byte(uint32_t cp)
{
    if (cp < 0x100)
        return byte_is_direct((int)cp) ? (int)cp : -1;
    if (cp <= 0x120)
        return (int)(cp - 0x100);
    if (cp <= 0x142)
        return (int)(cp - 0x121 + 0x7F);
    return cp == 0x143 ? 0xAD : -1;
}

/* ---- pre-tokenizers ------------------------------------------------------------------------------- */

#define GPT2_RE TOK_GPT2_REGEX
#define LLAMA3_RE "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|" \
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define QWEN2_RE "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|" \
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

typedef struct {
    const char *name;
    const char *re[4];
} PreDef;

static const PreDef k_pre_defs[] = {
    { "llama-bpe", { LLAMA3_RE } },
    { "llama3", { LLAMA3_RE } },
    { "llama-v3", { LLAMA3_RE } },
    { "falcon3", { LLAMA3_RE } },
    /* SmolLM2 tokenizer.json: Sequence[Digits(individual_digits), ByteLevel(use_regex)];
     * llama.cpp "smollm": "\p{N}" then the GPT-2 expression. */
    { "smollm", { "\\p{N}", GPT2_RE } },
    { "gpt2", { GPT2_RE } },
    { "qwen2", { QWEN2_RE } },
    /* llama.cpp LLAMA_VOCAB_PRE_TYPE_DEFAULT */
    { "default", { "[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2_RE, "\\p{N}+", "[0-9][0-9][0-9]" } },
};

struct PreTokenizer {
    int n_re;
    pcre2_code *re[4];
};

int pretokenizer_new_regex(const char *const *re, int n, PreTokenizer **ret, char *err, size_t err_len)
{
    if (n < 1 || n > 4)
        return err_set(err, err_len, -ENOTSUP, "pre-tokenizer: %d regexes (1 to 4 supported)", n);
    PreTokenizer *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    for (int i = 0; i < n; i++) {
        int ec;
        PCRE2_SIZE eo;
        p->re[i] = pcre2_compile((PCRE2_SPTR)re[i], PCRE2_ZERO_TERMINATED,
                                 PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &ec, &eo, NULL);
        if (!p->re[i]) {
            PCRE2_UCHAR msg[128];
            pcre2_get_error_message(ec, msg, sizeof(msg));
            pretokenizer_free(p);
            return err_set(err, err_len, -EINVAL, "pre-tokenizer regex %d: %s at offset %zu", i,
                           (const char *)msg, (size_t)eo);
        }
        /* JIT when available; the interpreter is the fallback (and is used on JIT errors). */
        (void)pcre2_jit_compile(p->re[i], PCRE2_JIT_COMPLETE);
        p->n_re = i + 1;
    }
    *ret = p;
    return 0;
}

int pretokenizer_new(const char *name, PreTokenizer **ret, char *err, size_t err_len)
{
    const PreDef *def = NULL;
    for (size_t i = 0; i < sizeof(k_pre_defs) / sizeof(k_pre_defs[0]); i++)
        if (name && strcmp(name, k_pre_defs[i].name) == 0)
            def = &k_pre_defs[i];
    if (!def)
        return err_set(err, err_len, -ENOTSUP,
                       "tokenizer.ggml.pre '%s' is not supported (known: llama-bpe, llama3, llama-v3, falcon3, "
                       "smollm, gpt2, qwen2, default)", name ? name : "(null)");
    int n = 0;
    while (n < 4 && def->re[n])
        n++;
    return pretokenizer_new_regex(def->re, n, ret, err, err_len);
}

void pretokenizer_free(PreTokenizer *p)
{
    if (!p)
        return;
    for (int i = 0; i < 4; i++)
        pcre2_code_free(p->re[i]);
    free(p);
}

typedef struct {
    size_t *v;
    size_t n, cap;
} SizeVec;

static int sizevec_push(SizeVec *s, size_t x)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 64;
        size_t *nv = realloc(s->v, nc * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n++] = x;
    return 0;
}

/* Split [start, end) of text with one regex; matched parts and the gaps between them become pieces. */
static int split_one(const pcre2_code *re, pcre2_match_data *md, const char *text, size_t start, size_t end,
                     SizeVec *out)
{
    const PCRE2_SPTR subj = (PCRE2_SPTR)(text + start);
    size_t plen = end - start, off = 0;
    int r;
    while (off < plen) {
        int rc = pcre2_match(re, subj, plen, off, 0, md, NULL);
        if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) /* JIT stack or other limit: retry interpreted */
            rc = pcre2_match(re, subj, plen, off, PCRE2_NO_JIT, md, NULL);
        if (rc < 0)
            break; /* no (more) matches, or a limit: the rest stays one piece */
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (me <= ms || ms < off || me > plen) { /* empty match: step over one character */
            off++;
            while (off < plen && (subj[off] & 0xC0) == 0x80)
                off++;
            continue;
        }
        if (ms > off && (r = sizevec_push(out, start + ms)) < 0)
            return r;
        if ((r = sizevec_push(out, start + me)) < 0)
            return r;
        off = me;
    }
    if (out->n == 0 || out->v[out->n - 1] != end)
        if ((r = sizevec_push(out, end)) < 0)
            return r;
    return 0;
}

/* ends receives piece end offsets (the caller frees ends->v). */
static int pretok_run(const PreTokenizer *p, const char *text, size_t len, SizeVec *ends)
{
    SizeVec cur = { 0 }, next = { 0 };
    int r = 0;
    pcre2_match_data *md = NULL;
    ends->n = 0;
    if (len == 0)
        return 0;
    if ((r = sizevec_push(&cur, len)) < 0)
        goto done;
    for (int i = 0; i < p->n_re; i++) {
        md = pcre2_match_data_create_from_pattern(p->re[i], NULL);
        if (!md) {
            r = -ENOMEM;
            goto done;
        }
        next.n = 0;
        size_t s = 0;
        for (size_t k = 0; k < cur.n; k++) {
            if ((r = split_one(p->re[i], md, text, s, cur.v[k], &next)) < 0)
                goto done;
            s = cur.v[k];
        }
        pcre2_match_data_free(md);
        md = NULL;
        SizeVec tmp = cur;
        cur = next;
        next = tmp;
    }
    free(ends->v);
    *ends = cur;
    cur.v = NULL;
done:
    pcre2_match_data_free(md);
    free(cur.v);
    free(next.v);
    return r;
}

int pretokenizer_split(const PreTokenizer *p, const char *text, size_t len, size_t *ends, int cap)
{
    if (!p || (!text && len) || cap < 0 || (cap > 0 && !ends))
        return -EINVAL;
    SizeVec v = { 0 };
    int r = pretok_run(p, text, len, &v);
    if (r < 0) {
        free(v.v);
        return r;
    }
    for (size_t i = 0; i < v.n && i < (size_t)cap; i++)
        ends[i] = v.v[i];
    int n = v.n > (size_t)INT32_MAX ? -E2BIG : (int)v.n;
    free(v.v);
    return n;
}

/* ---- merge engine -------------------------------------------------------------------------------- */

typedef struct {
    double prio;     /* lower first: rank, or -score */
    int32_t left, right, size, result;
} HeapEnt;

typedef struct {
    HeapEnt *v;
    size_t n, cap;
} Heap;

static int heap_less(const HeapEnt *a, const HeapEnt *b)
{
    return a->prio < b->prio || (a->prio == b->prio && a->left < b->left);
}

static int heap_push(Heap *h, HeapEnt e)
{
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 64;
        HeapEnt *nv = realloc(h->v, nc * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        h->v = nv;
        h->cap = nc;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(&e, &h->v[p]))
            break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = e;
    return 0;
}

static HeapEnt heap_pop(Heap *h)
{
    HeapEnt top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && heap_less(&h->v[c + 1], &h->v[c]))
            c++;
        if (!heap_less(&h->v[c], &last))
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n > 0)
        h->v[i] = last;
    return top;
}

static int64_t pairmap_find(const PairMap *m, int32_t a, int32_t b, int32_t *ret_result)
{
    if (m->cap == 0)
        return -1;
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    for (uint32_t i = (uint32_t)(h >> 32) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->key[i] == UINT64_MAX)
            return -1;
        if (m->key[i] == key) {
            *ret_result = m->result[i];
            return m->rank[i];
        }
    }
}

typedef struct {
    int32_t *start, *len, *id, *prev, *next;
} Syms;

static int try_pair(const Tokenizer *t, const char *buf, const Syms *s, int use_scores, int32_t l, Heap *h)
{
    int32_t r = s->next[l];
    if (l < 0 || r < 0)
        return 0;
    HeapEnt e = { 0, l, r, s->len[l] + s->len[r], -1 };
    if (use_scores) {
        int32_t id = strmap_find(&t->vocab, buf + s->start[l], (size_t)e.size);
        if (id < 0)
            return 0;
        e.prio = -(double)t->scores[id];
        e.result = id;
    } else {
        if (s->id[l] < 0 || s->id[r] < 0)
            return 0;
        int64_t rank = pairmap_find(&t->merges, s->id[l], s->id[r], &e.result);
        if (rank < 0)
            return 0;
        e.prio = (double)rank;
    }
    return heap_push(h, e);
}

static size_t utf8_len_at(const char *s, size_t n)
{
    unsigned char c = (unsigned char)s[0];
    size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    if (k > n)
        return 1;
    for (size_t i = 1; i < k; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            return 1;
    return k;
}

static void emit_unknown(const Tokenizer *t, const char *p, size_t n, TokOut *out)
{
    if (t->byte_fallback) {
        for (size_t i = 0; i < n; i++) {
            int32_t b = t->byte_id[(unsigned char)p[i]];
            if (b >= 0)
                tok_out_push(out, b);
            else if (t->unk >= 0)
                tok_out_push(out, t->unk);
        }
    } else if (t->unk >= 0) {
        tok_out_push(out, t->unk);
    }
}

int tok_merge_spans(const Tokenizer *t, const char *buf, size_t len, int use_scores, TokOut *out)
{
    if (len == 0)
        return 0;
    if (len > INT32_MAX / 2)
        return -E2BIG;
    Syms s;
    Heap h = { 0 };
    int r = 0;
    int32_t *mem = malloc(5 * len * sizeof(int32_t));
    if (!mem)
        return -ENOMEM;
    s.start = mem;
    s.len = mem + len;
    s.id = mem + 2 * len;
    s.prev = mem + 3 * len;
    s.next = mem + 4 * len;
    int32_t n = 0;
    for (size_t off = 0; off < len;) {
        size_t k = utf8_len_at(buf + off, len - off);
        s.start[n] = (int32_t)off;
        s.len[n] = (int32_t)k;
        s.id[n] = strmap_find(&t->vocab, buf + off, k);
        s.prev[n] = n - 1;
        s.next[n] = n + 1;
        n++;
        off += k;
    }
    s.next[n - 1] = -1;
    for (int32_t i = 0; i + 1 < n; i++)
        if ((r = try_pair(t, buf, &s, use_scores, i, &h)) < 0)
            goto done;
    while (h.n > 0) {
        HeapEnt e = heap_pop(&h);
        /* stale entry: a side was merged away or changed since it was queued */
        if (s.len[e.left] == 0 || s.len[e.right] == 0 || s.next[e.left] != e.right ||
            s.len[e.left] + s.len[e.right] != e.size)
            continue;
        s.len[e.left] = e.size;
        s.id[e.left] = e.result;
        s.len[e.right] = 0;
        s.next[e.left] = s.next[e.right];
        if (s.next[e.left] >= 0)
            s.prev[s.next[e.left]] = e.left;
        if (s.prev[e.left] >= 0 && (r = try_pair(t, buf, &s, use_scores, s.prev[e.left], &h)) < 0)
            goto done;
        if ((r = try_pair(t, buf, &s, use_scores, e.left, &h)) < 0)
            goto done;
    }
    for (int32_t i = 0; i >= 0; i = s.next[i]) {
        if (s.id[i] >= 0)
            tok_out_push(out, s.id[i]);
        else
            emit_unknown(t, buf + s.start[i], (size_t)s.len[i], out);
    }
done:
    free(h.v);
    free(mem);
    return r;
}

/* ---- byte-level BPE segment --------------------------------------------------------------------- */

int tok_bpe_encode_segment(const Tokenizer *t, const char *text, size_t len, TokOut *out)
{
    SizeVec ends = { 0 };
    char *buf = NULL;
    size_t buf_cap = 0;
    int r = pretok_run(t->pre, text, len, &ends);
    if (r < 0)
        goto done;
    size_t s = 0;
    for (size_t k = 0; k < ends.n; k++) {
        size_t e = ends.v[k], n = e - s;
        if (n * 2 > buf_cap) {
            free(buf);
            buf_cap = n * 2 + 64;
            if (!(buf = malloc(buf_cap))) {
                r = -ENOMEM;
                goto done;
            }
        }
        size_t m = 0; /* bytes -> GPT-2 code points (1 or 2 UTF-8 bytes each) */
        for (size_t i = s; i < e; i++) {
            uint32_t cp = bpe_byte_to_cp((uint8_t)text[i]);
            if (cp < 0x80) {
                buf[m++] = (char)cp;
            } else {
                buf[m++] = (char)(0xC0 | (cp >> 6));
                buf[m++] = (char)(0x80 | (cp & 0x3F));
            }
        }
        int32_t whole;
        if (t->ignore_merges && (whole = strmap_find(&t->vocab, buf, m)) >= 0)
            tok_out_push(out, whole);
        else if ((r = tok_merge_spans(t, buf, m, 0, out)) < 0)
            goto done;
        s = e;
    }
done:
    free(buf);
    free(ends.v);
    return r;
}
