/* phonemize.c — espeak-ng clauses → Piper sentences of phoneme ids (the rule and its sources: phonemize.h).
 *
 * Only this file calls espeak-ng, always under g_lock: espeak-ng keeps its state (voice, translator,
 * buffers) in globals. espeak_TextToPhonemes returns a pointer into a static buffer, copied at once.
 */
#include <ctype.h>
#include <errno.h>
#include <espeak-ng/speak_lib.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf-internal.h" /* gguf_utf8_valid */
#include "log.h"
#include "phonemize.h"

#define PHONEME_IPA 0x02 /* espeak_TextToPhonemes phonememode bit 1: IPA as UTF-8 */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_ready;               /* espeak_Initialize succeeded */
static char g_voice[64];          /* voice currently set */
static uint32_t g_logged[256];    /* codepoints already reported as missing from a voice's map */
static int g_n_logged;

static int init_locked(const char *data_dir, char *err, size_t err_len)
{
    if (g_ready)
        return 0;
    /* espeakINITIALIZE_DONT_EXIT: a missing data directory must not exit() the daemon */
    if (espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data_dir, espeakINITIALIZE_DONT_EXIT) < 0)
        return err_set(err, err_len, -ENODEV, "phonemize: espeak-ng did not start (data directory %s)",
                       data_dir ? data_dir : "default");
    g_ready = 1;
    return 0;
}

int phonemize_init(const char *data_dir, char *err, size_t err_len)
{
    pthread_mutex_lock(&g_lock);
    int r = init_locked(data_dir, err, err_len);
    pthread_mutex_unlock(&g_lock);
    return r;
}

/* ---- terminator recovery ------------------------------------------------------------------------------ */

static uint32_t cp_at(const unsigned char *s, size_t i, size_t *len)
{
    unsigned char c = s[i];
    if (c < 0x80) { *len = 1; return c; }
    if ((c & 0xe0) == 0xc0) { *len = 2; return (uint32_t)(c & 0x1f) << 6 | (s[i + 1] & 0x3f); }
    if ((c & 0xf0) == 0xe0) {
        *len = 3;
        return (uint32_t)(c & 0x0f) << 12 | (uint32_t)(s[i + 1] & 0x3f) << 6 | (s[i + 2] & 0x3f);
    }
    *len = 4;
    return (uint32_t)(c & 0x07) << 18 | (uint32_t)(s[i + 1] & 0x3f) << 12 | (uint32_t)(s[i + 2] & 0x3f) << 6 |
           (s[i + 3] & 0x3f);
}

static size_t back_one(const unsigned char *s, size_t i) /* start of the codepoint before byte i */
{
    if (i == 0)
        return 0;
    i--;
    while (i > 0 && (s[i] & 0xc0) == 0x80)
        i--;
    return i;
}

static int is_space(uint32_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == 0xa0 || c == 0x2028 ||
           c == 0x2029 || c == 0x3000;
}

static int is_closer(uint32_t c) /* may follow a clause's punctuation: quotes and brackets */
{
    return c == '"' || c == '\'' || c == ')' || c == ']' || c == '}' || c == 0xbb || c == 0x201d || c == 0x2019 ||
           c == 0x203a || c == 0x300d || c == 0x300f;
}

/* Terminator of a clause-ending punctuation codepoint (as espeak-ng reports it: piper's espeakbridge on
 * "one<p> two"); returns 0 when c is not clause punctuation. */
static int punct_kind(uint32_t c, const char **term, int *eos)
{
    switch (c) {
    case '.': *term = "."; *eos = 1; return 1;
    case '?': case 0x061f: *term = "?"; *eos = 1; return 1;
    case '!': *term = "!"; *eos = 1; return 1;
    case ',': case 0x060c: *term = ","; *eos = 0; return 1;
    case ':': *term = ":"; *eos = 0; return 1;
    case ';': case 0x2013: case 0x2014: *term = ";"; *eos = 0; return 1;
    case 0x2026: *term = ""; *eos = 0; return 1;                                       /* … */
    case 0x3002: case 0xff1f: case 0xff01: case 0x0964: *term = ""; *eos = 1; return 1; /* 。？！। */
    case 0x3001: case 0xff0c: case 0xff1a: case 0xff1b: *term = ""; *eos = 0; return 1; /* 、，：； */
    default: return 0;
    }
}

/* The clause s[start, end): skip trailing space, take the run of punctuation and closers that ends it,
 * and let its first clause punctuation decide; "..." is an ellipsis (no terminator, not a sentence end).
 * No punctuation: a paragraph break (a blank line) ends a sentence; otherwise espeak split an over-long
 * clause, which does not (the end of the text is handled by the caller). */
static void terminator_of(const unsigned char *s, size_t start, size_t end, char term[4], int *eos)
{
    size_t i = end, run = end, len;
    int newlines = 0;

    strcpy(term, "");
    while (i > start) {
        size_t p = back_one(s, i);
        uint32_t c = cp_at(s, p, &len);
        const char *t;
        int e;
        if (run == end && is_space(c)) {
            newlines += c == '\n' || c == 0x2029;
            i = p;
            end = p;
            run = p;
            continue;
        }
        if (!punct_kind(c, &t, &e) && !is_closer(c))
            break;
        i = run = p;
    }
    *eos = newlines >= 2;
    for (i = run; i < end; i += len) {
        uint32_t c = cp_at(s, i, &len);
        const char *t;
        int e;
        if (!punct_kind(c, &t, &e))
            continue;
        if (c == '.' && i + 1 < end && s[i + 1] == '.') { /* ellipsis */
            *eos = 0;
            return;
        }
        snprintf(term, 4, "%s", t);
        *eos = e;
        return;
    }
}

/* ---- clauses ------------------------------------------------------------------------------------------ */

static int32_t count_chars(const unsigned char *s, size_t a, size_t b)
{
    int32_t n = 0;
    for (size_t i = a; i < b; i++)
        n += (s[i] & 0xc0) != 0x80;
    return n;
}

static int set_voice_locked(const char *voice, char *err, size_t err_len)
{
    if (!strcmp(g_voice, voice))
        return 0;
    if (espeak_SetVoiceByName(voice) != EE_OK) {
        g_voice[0] = 0;
        return err_set(err, err_len, -EINVAL, "phonemize: espeak-ng has no voice '%s'", voice);
    }
    snprintf(g_voice, sizeof(g_voice), "%s", voice);
    return 0;
}

static int clauses_locked(const char *voice, const char *text, size_t len, PhonemeClause **ret, int *ret_n,
                          char *err, size_t err_len)
{
    const unsigned char *s = (const unsigned char *)text;
    PhonemeClause *c = NULL;
    size_t cap = 0, prev = 0;
    int32_t prev_char = 0;
    int n = 0, r;

    if ((r = init_locked(NULL, err, err_len)) < 0 || (r = set_voice_locked(voice, err, err_len)) < 0)
        return r;
    const void *p = text;
    /* espeak consumes at least one character per clause; the bound only guards against a library bug */
    for (size_t guard = 0; p && guard <= len + 1; guard++) {
        const char *ph = espeak_TextToPhonemes(&p, espeakCHARS_UTF8, PHONEME_IPA);
        size_t at = p ? (size_t)((const char *)p - text) : len;
        size_t boundary = p ? back_one(s, at > len ? len : at) : len;
        if (boundary < prev)
            boundary = prev;
        if ((size_t)n == cap) {
            size_t nc = cap ? 2 * cap : 16;
            PhonemeClause *q = realloc(c, nc * sizeof(*c));
            if (!q)
                goto nomem;
            c = q;
            cap = nc;
        }
        PhonemeClause *cl = &c[n];
        memset(cl, 0, sizeof(*cl));
        if (!(cl->ipa = strdup(ph ? ph : "")))
            goto nomem;
        n++;
        terminator_of(s, prev, boundary, cl->terminator, &cl->end_of_sentence);
        if (!p)
            cl->end_of_sentence = 1;
        int32_t chars = count_chars(s, prev, boundary);
        cl->span = (PhonemeSpan){(int32_t)prev, (int32_t)boundary, prev_char, prev_char + chars};
        prev = boundary;
        prev_char += chars;
    }
    *ret = c;
    *ret_n = n;
    return 0;
nomem:
    /* espeak keeps look-ahead text between calls: finish this text so the next one starts clean */
    for (size_t guard = 0; p && guard <= len + 1; guard++)
        (void)espeak_TextToPhonemes(&p, espeakCHARS_UTF8, PHONEME_IPA);
    phonemize_clauses_free(c, n);
    return err_set(err, err_len, -ENOMEM, "phonemize: out of memory");
}

static int check_text(const char *text, size_t *ret_len, char *err, size_t err_len)
{
    size_t len = strnlen(text, (size_t)PHONEMIZE_MAX_TEXT + 1), bad;

    if (len > PHONEMIZE_MAX_TEXT)
        return err_set(err, err_len, -E2BIG, "phonemize: text longer than %d bytes", PHONEMIZE_MAX_TEXT);
    if (!gguf_utf8_valid((const uint8_t *)text, len, &bad))
        return err_set(err, err_len, -EINVAL, "phonemize: text is not valid UTF-8 (byte %zu)", bad);
    *ret_len = len;
    return 0;
}

/* espeak-ng 1.51 overflows a stack buffer (abort: "stack smashing detected") on one long run of symbols and
 * dots without a space ("x." × 200, "*" runs with "-" "+" "..."; found by fuzz-phonemize, its own CLI aborts
 * too). So a run of non-space bytes is cut, every WORD_CUT bytes, at its next ASCII punctuation byte, which
 * becomes a space: same length, so every byte offset (spans, terminators) still points into the caller's
 * text. Words of letters and digits are left whole (espeak handles them). */
enum { WORD_CUT = 32 };

static void cut_long_runs(char *t, size_t len)
{
    size_t run = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            run = 0;
        } else if (++run > WORD_CUT && c < 0x80 && ispunct(c)) {
            t[i] = ' ';
            run = 0;
        }
    }
}

int phonemize_clauses(const char *espeak_voice, const char *text, PhonemeClause **ret, int *ret_n, char *err,
                      size_t err_len)
{
    size_t len = 0;
    char *safe;
    int r;

    if (!espeak_voice || !text || !ret || !ret_n)
        return err_set(err, err_len, -EINVAL, "phonemize: invalid arguments");
    if ((r = check_text(text, &len, err, err_len)) < 0)
        return r;
    if (!(safe = malloc(len + 1)))
        return err_set(err, err_len, -ENOMEM, "phonemize: out of memory");
    memcpy(safe, text, len + 1);
    cut_long_runs(safe, len);
    pthread_mutex_lock(&g_lock);
    r = clauses_locked(espeak_voice, safe, len, ret, ret_n, err, err_len);
    pthread_mutex_unlock(&g_lock);
    free(safe);
    return r;
}

void phonemize_clauses_free(PhonemeClause *c, int n)
{
    for (int i = 0; c && i < n; i++)
        free(c[i].ipa);
    free(c);
}

/* ---- sentences of ids ------------------------------------------------------------------------------------ */

/* Piper: remove "(xx)" language-switch flags (re.sub(r"\([^)]+\)", "", s)). */
static void strip_flags(char *s)
{
    char *w = s;
    for (char *r = s; *r;) {
        char *close = *r == '(' ? strchr(r + 1, ')') : NULL;
        if (close && close > r + 1) {
            r = close + 1;
            continue;
        }
        *w++ = *r++;
    }
    *w = 0;
}

static void log_missing_once(uint32_t cp)
{
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < g_n_logged; i++)
        if (g_logged[i] == cp) {
            pthread_mutex_unlock(&g_lock);
            return;
        }
    if (g_n_logged < (int)(sizeof(g_logged) / sizeof(g_logged[0])))
        g_logged[g_n_logged++] = cp;
    pthread_mutex_unlock(&g_lock);
    log_warn("phonemize: phoneme U+%04X is not in the voice's phoneme_id_map; skipped", cp);
}

/* A sentence being assembled: pieces (a clause's IPA, its terminator, the space after , : ;) each with
 * the clause's source span. */
typedef struct {
    char *text;              /* the pieces back to back (before NFD) */
    size_t len, cap;
    struct Piece { size_t off, len; PhonemeSpan span; } *pieces;
    int n_pieces, cap_pieces;
} Acc;

static int acc_add(Acc *a, const char *s, size_t n, PhonemeSpan sp)
{
    if (!n)
        return 0;
    if (a->len + n + 1 > a->cap) {
        size_t nc = (a->len + n + 1) * 2;
        char *t = realloc(a->text, nc);
        if (!t)
            return -ENOMEM;
        a->text = t;
        a->cap = nc;
    }
    if (a->n_pieces == a->cap_pieces) {
        int nc = a->cap_pieces ? 2 * a->cap_pieces : 16;
        struct Piece *q = realloc(a->pieces, (size_t)nc * sizeof(*q));
        if (!q)
            return -ENOMEM;
        a->pieces = q;
        a->cap_pieces = nc;
    }
    a->pieces[a->n_pieces++] = (struct Piece){a->len, n, sp};
    memcpy(a->text + a->len, s, n);
    a->len += n;
    a->text[a->len] = 0;
    return 0;
}

static int push_id(PhonemeSentence *s, int *cap, const int64_t *ids, int n, PhonemeSpan sp)
{
    if (s->n_ids + n > *cap) {
        int nc = (s->n_ids + n) * 2;
        int64_t *q = realloc(s->ids, (size_t)nc * sizeof(*q));
        if (!q)
            return -ENOMEM;
        s->ids = q;
        PhonemeSpan *t = realloc(s->spans, (size_t)nc * sizeof(*t));
        if (!t)
            return -ENOMEM;
        s->spans = t;
        *cap = nc;
    }
    for (int i = 0; i < n; i++) {
        s->ids[s->n_ids] = ids[i];
        s->spans[s->n_ids++] = sp;
    }
    return 0;
}

/* The cluster matching cps[0..n) at its longest (Piper tries lengths from the longest down to 2), or NULL. */
static const VoiceCluster *match_cluster(const Voice *v, const uint32_t *cps, size_t n, int *ret_len)
{
    for (int len = v->max_cluster < (int)n ? v->max_cluster : (int)n; len >= 2; len--)
        for (int c = 0; c < v->n_clusters; c++)
            if (v->clusters[c].n_cps == len && !memcmp(v->clusters[c].cps, cps, sizeof(uint32_t) * (size_t)len)) {
                *ret_len = len;
                return &v->clusters[c];
            }
    return NULL;
}

/* One sentence: each piece NFD-normalized (Piper normalizes the whole sentence; the two differ only if a
 * piece began with a combining mark that canonical ordering would move into the previous piece, which
 * espeak's IPA does not produce), split into codepoints with the piece's span, vowel clusters merged, then
 * mapped to ids. */
static int emit(const Voice *v, Acc *a, Phonemes *out)
{
    const int64_t *pad, *bos, *eos;
    int n_pad = voice_phoneme_ids(v, '_', &pad), n_bos = voice_phoneme_ids(v, '^', &bos),
        n_eos = voice_phoneme_ids(v, '$', &eos), cap = 0, r = 0;
    PhonemeSentence s = {0};
    char *all = NULL;
    size_t all_len = 0, n_cp = 0;
    uint32_t *cps = NULL;
    PhonemeSpan *sp = NULL;

    if (!a->n_pieces)
        return 0;
    s.span = a->pieces[0].span;
    s.span.byte_end = a->pieces[a->n_pieces - 1].span.byte_end;
    s.span.char_end = a->pieces[a->n_pieces - 1].span.char_end;
    for (int p = 0; p < a->n_pieces; p++) {
        char *nfd, *t;
        size_t nl, l;
        if ((r = phonemize_nfd(a->text + a->pieces[p].off, a->pieces[p].len, &nfd, &nl)) < 0)
            goto fail;
        uint32_t *c2 = realloc(cps, (n_cp + nl) * sizeof(*cps));
        if (c2)
            cps = c2;
        PhonemeSpan *s2 = c2 ? realloc(sp, (n_cp + nl) * sizeof(*sp)) : NULL;
        if (s2)
            sp = s2;
        if (!(t = s2 ? realloc(all, all_len + nl + 1) : NULL)) {
            free(nfd);
            r = -ENOMEM;
            goto fail;
        }
        all = t;
        memcpy(all + all_len, nfd, nl + 1);
        all_len += nl;
        for (size_t k = 0; k < nl; k += l) {
            cps[n_cp] = cp_at((const unsigned char *)nfd, k, &l);
            sp[n_cp++] = a->pieces[p].span;
        }
        free(nfd);
    }
    if ((r = push_id(&s, &cap, bos, n_bos, a->pieces[0].span)) < 0 ||
        (r = push_id(&s, &cap, pad, n_pad, a->pieces[0].span)) < 0)
        goto fail;
    for (size_t k = 0; k < n_cp;) {
        const int64_t *ids;
        int n, len = 1;
        const VoiceCluster *cl = v->n_clusters ? match_cluster(v, cps + k, n_cp - k, &len) : NULL;
        if (cl) {
            ids = cl->ids;
            n = cl->n_ids;
        } else {
            n = voice_phoneme_ids(v, cps[k], &ids);
        }
        if (n <= 0) {
            out->n_skipped++;
            log_missing_once(cps[k]);
        } else if ((r = push_id(&s, &cap, ids, n, sp[k])) < 0 || (r = push_id(&s, &cap, pad, n_pad, sp[k])) < 0) {
            goto fail;
        }
        k += (size_t)len;
    }
    if ((r = push_id(&s, &cap, eos, n_eos, a->pieces[a->n_pieces - 1].span)) < 0)
        goto fail;
    PhonemeSentence *q = realloc(out->sentences, (size_t)(out->n_sentences + 1) * sizeof(*q));
    if (!q) {
        r = -ENOMEM;
        goto fail;
    }
    out->sentences = q;
    s.phonemes = all;
    out->sentences[out->n_sentences++] = s;
    free(cps);
    free(sp);
    return 0;
fail:
    free(cps);
    free(sp);
    free(all);
    free(s.ids);
    free(s.spans);
    return r;
}

int phonemize(const Voice *v, const char *text, Phonemes **ret, char *err, size_t err_len)
{
    PhonemeClause *c = NULL;
    Phonemes *out;
    Acc a = {0};
    int n = 0, r;

    if (!v || !text || !ret)
        return err_set(err, err_len, -EINVAL, "phonemize: invalid arguments");
    if ((r = phonemize_clauses(v->cfg.espeak_voice, text, &c, &n, err, err_len)) < 0)
        return r;
    if (!(out = calloc(1, sizeof(*out)))) {
        phonemize_clauses_free(c, n);
        return err_set(err, err_len, -ENOMEM, "phonemize: out of memory");
    }
    for (int i = 0; i < n && r >= 0; i++) {
        strip_flags(c[i].ipa);
        r = acc_add(&a, c[i].ipa, strlen(c[i].ipa), c[i].span);
        if (r >= 0 && c[i].terminator[0])
            r = acc_add(&a, c[i].terminator, strlen(c[i].terminator), c[i].span);
        if (r >= 0 && strchr(",:;", c[i].terminator[0]) && c[i].terminator[0])
            r = acc_add(&a, " ", 1, c[i].span);
        if (r >= 0 && c[i].end_of_sentence) {
            r = emit(v, &a, out);
            a.len = 0;
            a.n_pieces = 0;
        }
    }
    if (r >= 0)
        r = emit(v, &a, out);
    free(a.text);
    free(a.pieces);
    phonemize_clauses_free(c, n);
    if (r < 0) {
        phonemes_free(out);
        return err_set(err, err_len, r, "phonemize: %s", r == -ENOMEM ? "out of memory" : "invalid UTF-8 from espeak-ng");
    }
    *ret = out;
    return 0;
}

void phonemes_free(Phonemes *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n_sentences; i++) {
        free(p->sentences[i].ids);
        free(p->sentences[i].spans);
        free(p->sentences[i].phonemes);
    }
    free(p->sentences);
    free(p);
}
