/* session.c — lm.h: sessions with their own KV cache and token history, batched prefill of queued
 * tokens/embeddings, one-token decode steps and the generate loop.
 *
 * Not here: model loading (model.c), the decoder math (decoder.c), tokenization (text/tokenizer.c),
 * templates (chat.c), sampling (sampler.c). A follow-up chat turn prefills only its new tokens: the KV cache holds exactly the tokens
 * of `hist`, and the template delta of each new message (chat_format_delta) is appended to it.
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chat.h"
#include "clock.h"
#include "lm-adapter.h"
#include "decoder.h"
#include "lm.h"
#include "log.h"
#include "sampler.h"
#include "model-impl.h"
#include "tokenizer.h"

struct LmSession {
    LmModel *m;              /* borrowed */
    LmKvCache *kv;           /* owned */
    int32_t *hist;           /* [n_ctx] tokens in the cache (-1 for spliced embeddings) */
    int n_past;
    int32_t *pend;           /* [n_ctx] queued ids; id < 0 = row (-id - 1) of pend_emb */
    int n_pend;
    float *pend_emb;         /* [C, n_pend_emb] queued embedding rows */
    int n_pend_emb, cap_pend_emb;
    int want_gen_prompt;     /* last queued item was a chat message */
    /* chat bookkeeping */
    ChatMessage *msgs;       /* owned role/content copies */
    int n_msgs, cap_msgs;
    int gen_open;            /* the cache ends inside an assistant turn we generated */
    char *gen_text;          /* that turn's text so far */
    size_t gen_len, gen_cap;
    TokDecoder detok;
    int32_t *hist_ids;       /* [n_ctx] the token ids of hist without embedding rows (sampler history) */
    int n_hist_ids;
    Sampler *sampler;        /* owned */
    int seeded;              /* sampler seeded for this turn */
    float *logits;           /* [V] last position */
    int has_logits;
    int keep_all;
    float *all_logits;       /* [V, n_all] */
    int n_all;
    LmLayerHook hooks[LM_MAX_HOOKS];
    int n_hooks;
};

void lm_sampling_default(LmSampling *s)
{
    SamplerParams p;

    sampler_params_default(&p); /* the sampling defaults are named once, in sampler.c */
    memset(s, 0, sizeof(*s));
    s->temperature = p.temperature;
    s->top_k = p.top_k;
    s->top_p = p.top_p;
    s->min_p = p.min_p;
    s->repeat_penalty = p.repeat_penalty;
    s->repeat_last_n = p.repeat_last_n;
    s->seed = 0;
    s->max_tokens = 512;
}

const char *lm_stop_name(LmStop s)
{
    switch (s) {
    case LM_STOP_NONE: return "none";
    case LM_STOP_EOS: return "stop";
    case LM_STOP_LENGTH: return "length";
    case LM_STOP_CONTEXT: return "context";
    case LM_STOP_CANCELLED: return "cancelled";
    }
    return "?";
}

/* ---- sessions ---------------------------------------------------------------------------------------- */

int lm_session_new(LmModel *m, LmSession **ret)
{
    LmSession *s = calloc(1, sizeof(*s));
    int r = -ENOMEM;

    if (!s)
        return -ENOMEM;
    s->m = m;
    s->hist = malloc(sizeof(int32_t) * (size_t)m->n_ctx);
    s->pend = malloc(sizeof(int32_t) * (size_t)m->n_ctx);
    s->logits = malloc(sizeof(float) * (size_t)m->info.n_vocab);
    if (!s->hist || !s->pend || !s->logits)
        goto fail;
    if ((r = lm_kv_new(m->dec, m->n_ctx, m->kv_f16, &s->kv)) < 0)
        goto fail;
    s->hist_ids = malloc(sizeof(int32_t) * (size_t)m->n_ctx);
    if (!s->hist_ids) {
        r = -ENOMEM;
        goto fail;
    }
    if ((r = sampler_new(m->info.n_vocab, &s->sampler)) < 0)
        goto fail;
    tok_decoder_init(&s->detok);
    *ret = s;
    return 0;
fail:
    lm_session_free(s);
    return r;
}

static void clear_msgs(LmSession *s)
{
    for (int i = 0; i < s->n_msgs; i++) {
        free((char *)s->msgs[i].role);
        free((char *)s->msgs[i].content);
    }
    s->n_msgs = 0;
    s->gen_open = 0;
    s->gen_len = 0;
}

void lm_session_free(LmSession *s)
{
    if (!s)
        return;
    if (s->kv)
        lm_kv_free(s->m->dec, s->kv);
    clear_msgs(s);
    free(s->msgs);
    free(s->gen_text);
    free(s->hist_ids);
    sampler_free(s->sampler);
    free(s->hist);
    free(s->pend);
    free(s->pend_emb);
    free(s->logits);
    free(s->all_logits);
    free(s);
}

int lm_session_reset(LmSession *s)
{
    clear_msgs(s);
    s->n_past = 0;
    s->n_pend = 0;
    s->n_pend_emb = 0;
    s->want_gen_prompt = 0;
    s->has_logits = 0;
    s->n_all = 0;
    s->seeded = 0;
    s->n_hist_ids = 0;
    tok_decoder_init(&s->detok);
    return 0;
}

int lm_session_n_past(const LmSession *s)
{
    return s->n_past;
}

int lm_session_n_ctx(const LmSession *s)
{
    return s->m->n_ctx;
}

int lm_session_n_pending(const LmSession *s)
{
    return s->n_pend;
}

static int room(const LmSession *s, int n_more)
{
    return n_more >= 0 && (int64_t)s->n_past + s->n_pend + n_more <= s->m->n_ctx;
}

int lm_session_add_tokens(LmSession *s, const int32_t *ids, int n)
{
    if (n < 0 || (n > 0 && !ids))
        return -EINVAL;
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || (ids[i] >= s->m->info.n_vocab && !lm_model_extra_embedding(s->m, ids[i])))
            return -EINVAL;
    if (!room(s, n))
        return -E2BIG;
    if (n > 0) /* memcpy from NULL is undefined even for 0 bytes (UBSan, issue 12 F3) */
        memcpy(s->pend + s->n_pend, ids, sizeof(int32_t) * (size_t)n);
    s->n_pend += n;
    s->want_gen_prompt = 0;
    return 0;
}

/* Room for n more rows in pend_emb. */
static int grow_pend_emb(LmSession *s, int n)
{
    size_t C = (size_t)s->m->info.n_embd;

    if (s->n_pend_emb + n > s->cap_pend_emb) {
        int cap = s->n_pend_emb + n > 2 * s->cap_pend_emb ? s->n_pend_emb + n : 2 * s->cap_pend_emb;
        float *p = realloc(s->pend_emb, sizeof(float) * C * (size_t)cap);
        if (!p)
            return -ENOMEM;
        s->pend_emb = p;
        s->cap_pend_emb = cap;
    }
    return 0;
}

int lm_session_add_embeddings(LmSession *s, const float *emb, int n)
{
    size_t C = (size_t)s->m->info.n_embd;
    int r;

    if (n < 0 || (n > 0 && !emb))
        return -EINVAL;
    if (!room(s, n))
        return -E2BIG;
    if ((r = grow_pend_emb(s, n)) < 0)
        return r;
    memcpy(s->pend_emb + C * (size_t)s->n_pend_emb, emb, sizeof(float) * C * (size_t)n);
    for (int i = 0; i < n; i++)
        s->pend[s->n_pend++] = -(s->n_pend_emb + i) - 1;
    s->n_pend_emb += n;
    s->want_gen_prompt = 0;
    return 0;
}

/* Tokenize text into a malloc'd array (*ret owned by the caller). */
static int encode_alloc(const LmModel *m, const char *text, int add_bos, int allow_special, int32_t **ret)
{
    size_t len = strlen(text);
    int cap = len < 256 ? 256 : (len > INT_MAX / 2 ? INT_MAX / 2 : (int)len + 16), n;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)cap);

    if (!ids)
        return -ENOMEM;
    n = tokenizer_encode(m->tok, text, len, add_bos, allow_special, ids, cap);
    if (n > cap) {
        int32_t *p = realloc(ids, sizeof(int32_t) * (size_t)n);
        if (!p) {
            free(ids);
            return -ENOMEM;
        }
        ids = p;
        n = tokenizer_encode(m->tok, text, len, add_bos, allow_special, ids, n);
    }
    if (n < 0) {
        free(ids);
        return n;
    }
    *ret = ids;
    return n;
}

int lm_session_add_text(LmSession *s, const char *text, int allow_special)
{
    int32_t *ids = NULL;
    int add_bos = s->n_past + s->n_pend == 0 && tokenizer_add_bos_default(s->m->tok);
    int n = encode_alloc(s->m, text, add_bos, allow_special, &ids), r;

    if (n < 0)
        return n;
    r = lm_session_add_tokens(s, ids, n);
    free(ids);
    return r;
}

static char *format_alloc(ChatFamily f, const ChatMessage *msgs, int n_old, int n, int *ret_len)
{
    int len = chat_format_delta(f, msgs, n_old, n, 0, NULL, 0);
    char *out;

    if (len < 0)
        return NULL;
    out = malloc((size_t)len + 1);
    if (out && chat_format_delta(f, msgs, n_old, n, 0, out, (size_t)len + 1) != len) {
        free(out);
        return NULL;
    }
    *ret_len = len;
    return out;
}

static int push_msg(LmSession *s, const char *role, const char *text, size_t len)
{
    if (s->n_msgs == s->cap_msgs) {
        int cap = s->cap_msgs ? 2 * s->cap_msgs : 8;
        ChatMessage *p = realloc(s->msgs, sizeof(*p) * (size_t)cap);
        if (!p)
            return -ENOMEM;
        s->msgs = p;
        s->cap_msgs = cap;
    }
    char *r = strdup(role), *c = strndup(text, len);
    if (!r || !c) {
        free(r);
        free(c);
        return -ENOMEM;
    }
    s->msgs[s->n_msgs].role = r;
    s->msgs[s->n_msgs].content = c;
    s->n_msgs++;
    return 0;
}

/* Text still missing from the cache after an assistant turn we generated: the template's rendering of that
 * message minus what was already fed (generation prompt + generated text), e.g. "<|im_end|>\n". */
static char *assistant_tail(LmSession *s)
{
    int len = 0;
    char *full;
    size_t gp_len;
    const char *gp = chat_generation_prompt(s->m->chat);

    full = format_alloc(s->m->chat, s->msgs, s->n_msgs - 1, s->n_msgs, &len);
    if (!full)
        return NULL;
    gp_len = strlen(gp);
    if ((size_t)len >= gp_len + s->gen_len && memcmp(full, gp, gp_len) == 0 &&
        memcmp(full + gp_len, s->gen_text, s->gen_len) == 0) {
        memmove(full, full + gp_len + s->gen_len, (size_t)len - gp_len - s->gen_len + 1);
        return full;
    }
    /* the template rewrote the content (e.g. trimmed it): close the turn with its end token text */
    const char *const *ends = chat_end_tokens(s->m->chat, NULL);
    free(full);
    return strdup(ends && ends[0] ? ends[0] : "");
}

int lm_session_add_message(LmSession *s, const char *role, const char *text)
{
    char *delta = NULL, *tail = NULL;
    int32_t *ids = NULL, *tids = NULL;
    int n = 0, nt = 0, len = 0, r;
    int was_open = s->gen_open, n_before = s->n_msgs;

    if (!role || !text)
        return -EINVAL;
    if (s->gen_open) { /* close the generated assistant turn first */
        if ((r = push_msg(s, "assistant", s->gen_text ? s->gen_text : "", s->gen_len)) < 0)
            return r;
        s->gen_open = 0;
        tail = assistant_tail(s);
        if (!tail) {
            r = -ENOMEM;
            goto out;
        }
        if ((nt = encode_alloc(s->m, tail, 0, 1, &tids)) < 0) {
            r = nt;
            goto out;
        }
    }
    if ((r = push_msg(s, role, text, strlen(text))) < 0)
        goto out;
    delta = format_alloc(s->m->chat, s->msgs, s->n_msgs - 1, s->n_msgs, &len);
    if (!delta) {
        r = -EINVAL; /* a role the template does not know */
        goto out;
    }
    if ((n = encode_alloc(s->m, delta, 0, 1, &ids)) < 0) {
        r = n;
        goto out;
    }
    if (!room(s, nt + n + s->m->n_gen_prompt)) {
        r = -E2BIG;
        goto out;
    }
    lm_session_add_tokens(s, tids, nt);
    lm_session_add_tokens(s, ids, n);
    s->want_gen_prompt = 1;
    r = 0;
out:
    if (r < 0) { /* nothing queued: restore the message list and the open assistant turn */
        while (s->n_msgs > n_before) {
            s->n_msgs--;
            free((char *)s->msgs[s->n_msgs].role);
            free((char *)s->msgs[s->n_msgs].content);
        }
        s->gen_open = was_open;
    }
    free(delta);
    free(tail);
    free(ids);
    free(tids);
    return r;
}

/* ---- prefill, decode, generation --------------------------------------------------------------------- */

int lm_session_keep_all_logits(LmSession *s, int on)
{
    s->keep_all = on;
    return 0;
}

const float *lm_session_all_logits(const LmSession *s, int *ret_n_rows)
{
    if (ret_n_rows)
        *ret_n_rows = s->n_all;
    return s->all_logits;
}

const float *lm_session_logits(const LmSession *s)
{
    return s->has_logits ? s->logits : NULL;
}

int lm_session_add_layer_hook(LmSession *s, const LmLayerHook *hook)
{
    if (!hook || !hook->forward || hook->layer < 0 || hook->layer > s->m->info.n_layers)
        return -EINVAL;
    if (s->n_hooks >= LM_MAX_HOOKS)
        return -ENOSPC;
    s->hooks[s->n_hooks++] = *hook;
    return 0;
}

void lm_session_clear_layer_hooks(LmSession *s)
{
    s->n_hooks = 0;
}

/* Feed ids[0..n) at n_past in chunks of the state's batch; logits of the last position (and of every
 * position when keep_all) land in s->logits / s->all_logits. */
static int feed(LmSession *s, const int32_t *ids, int n, int keep_all)
{
    LmModel *m = s->m;
    size_t V = (size_t)m->info.n_vocab;
    int r;

    if (n <= 0)
        return 0;
    if (s->n_past + n > m->n_ctx)
        return -E2BIG;
    if (keep_all) {
        float *p = realloc(s->all_logits, sizeof(float) * V * (size_t)n);
        if (!p)
            return -ENOMEM;
        s->all_logits = p;
        s->n_all = 0;
    }
    s->has_logits = 0;
    for (int t0 = 0; t0 < n; t0 += m->st->n_batch) {
        int T = n - t0 < m->st->n_batch ? n - t0 : m->st->n_batch, last = t0 + T == n;
        float *out = keep_all ? s->all_logits + V * (size_t)t0 : (last ? s->logits : NULL);
        r = lm_forward(m->dec, m->st, s->kv, ids + t0, s->pend_emb, T, s->n_past, s->hooks, s->n_hooks, out,
                       keep_all);
        if (r < 0) {
            log_error("lm: forward pass failed at position %d: %s", s->n_past, strerror(-r));
            return r;
        }
        for (int t = 0; t < T; t++) {
            s->hist[s->n_past + t] = ids[t0 + t] < 0 ? -1 : ids[t0 + t];
            if (ids[t0 + t] >= 0)
                s->hist_ids[s->n_hist_ids++] = ids[t0 + t];
        }
        s->n_past += T;
    }
    if (keep_all) {
        s->n_all = n;
        memcpy(s->logits, s->all_logits + V * (size_t)(n - 1), sizeof(float) * V);
    }
    s->has_logits = 1;
    return 0;
}

int lm_session_prefill(LmSession *s, LmStats *stats)
{
    double t0 = clock_now_ms();
    int n, r;

    if (s->want_gen_prompt) {
        if (!room(s, s->m->n_gen_prompt))
            return -E2BIG;
        memcpy(s->pend + s->n_pend, s->m->gen_prompt, sizeof(int32_t) * (size_t)s->m->n_gen_prompt);
        s->n_pend += s->m->n_gen_prompt;
        s->want_gen_prompt = 0;
        s->gen_open = 1;
        s->gen_len = 0;
    }
    /* extra tokens (beyond the logits vocabulary) become spliced embedding rows */
    for (int i = 0; i < s->n_pend; i++) {
        const float *e = s->pend[i] >= s->m->info.n_vocab ? lm_model_extra_embedding(s->m, s->pend[i]) : NULL;
        size_t C = (size_t)s->m->info.n_embd;
        if (!e)
            continue;
        if ((r = grow_pend_emb(s, 1)) < 0)
            return r;
        memcpy(s->pend_emb + C * (size_t)s->n_pend_emb, e, sizeof(float) * C);
        s->pend[i] = -(s->n_pend_emb++) - 1;
    }
    n = s->n_pend;
    r = feed(s, s->pend, n, s->keep_all);
    s->n_pend = 0;
    s->n_pend_emb = 0;
    s->seeded = 0;
    tok_decoder_init(&s->detok);
    if (stats) {
        memset(stats, 0, sizeof(*stats));
        stats->n_prompt = n;
        stats->prefill_ms = clock_now_ms() - t0;
    }
    return r;
}

static int sample(LmSession *s, const LmSampling *sp, int32_t *ret)
{
    SamplerParams p;
    int n_hist = s->n_hist_ids;

    if (!s->seeded) {
        sampler_set_seed(s->sampler, sp->seed ? sp->seed : (uint64_t)(clock_now_ms() * 1e3));
        s->seeded = 1;
    }
    p.temperature = sp->temperature;
    p.top_k = sp->top_k;
    p.top_p = sp->top_p > 0 && sp->top_p <= 1 ? sp->top_p : 1.0f;
    p.min_p = sp->min_p;
    p.repeat_penalty = sp->repeat_penalty > 0 ? sp->repeat_penalty : 1.0f;
    p.repeat_last_n = sp->repeat_last_n;
    p.freq_penalty = sp->freq_penalty;
    return sampler_sample(s->sampler, &p, s->logits, s->hist_ids, n_hist, ret);
}

static int append_gen_text(LmSession *s, const char *text, size_t len)
{
    if (s->gen_len + len + 1 > s->gen_cap) {
        size_t cap = (s->gen_len + len + 1) * 2;
        char *p = realloc(s->gen_text, cap);
        if (!p)
            return -ENOMEM;
        s->gen_text = p;
        s->gen_cap = cap;
    }
    memcpy(s->gen_text + s->gen_len, text, len);
    s->gen_len += len;
    s->gen_text[s->gen_len] = 0;
    return 0;
}

int lm_session_step(LmSession *s, const LmSampling *sp, int n_generated, LmToken *ret)
{
    char text[TOK_DECODER_OUT_MAX];
    int32_t id;
    int r, n;

    memset(ret, 0, sizeof(*ret));
    ret->id = -1;
    if (!s->has_logits)
        return -EINVAL; /* nothing prefilled */
    if (sp->max_tokens > 0 && n_generated >= sp->max_tokens) {
        ret->stop = LM_STOP_LENGTH;
        return 0;
    }
    if (s->n_past >= s->m->n_ctx) {
        ret->stop = LM_STOP_CONTEXT;
        return 0;
    }
    if ((r = sample(s, sp, &id)) < 0)
        return r;
    ret->id = id;
    if (tokenizer_is_eog(s->m->tok, id)) {
        ret->stop = LM_STOP_EOS;
        return 0;
    }
    n = tok_decoder_push(&s->detok, s->m->tok, id, text, sizeof(text));
    if (n < 0)
        return n;
    /* LmToken.text holds 63 bytes; a longer piece (rare) is cut at a character boundary */
    size_t len = (size_t)n;
    if (len >= sizeof(ret->text)) {
        len = sizeof(ret->text) - 1;
        while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80)
            len--;
    }
    memcpy(ret->text, text, len);
    ret->text[len] = 0;
    ret->len = len;
    if (s->gen_open && (r = append_gen_text(s, text, (size_t)n)) < 0)
        return r;
    return feed(s, &id, 1, 0);
}

int lm_session_generate(LmSession *s, const LmSampling *sp, LmTokenFn on_token, void *user,
                        const volatile int *cancel, LmStop *ret_stop, LmStats *ret_stats)
{
    LmStats st;
    LmToken tok;
    LmStop stop = LM_STOP_NONE;
    double t0;
    int r, n = 0;

    if ((r = lm_session_prefill(s, &st)) < 0)
        return r;
    t0 = clock_now_ms();
    while (stop == LM_STOP_NONE) {
        if (cancel && *cancel) {
            stop = LM_STOP_CANCELLED;
            break;
        }
        if ((r = lm_session_step(s, sp, n, &tok)) < 0)
            return r;
        if (tok.stop != LM_STOP_NONE) {
            stop = tok.stop;
            break;
        }
        n++;
        if (on_token && on_token(user, &tok))
            stop = LM_STOP_CANCELLED;
    }
    st.n_generated = n;
    st.decode_ms = clock_now_ms() - t0;
    if (ret_stop)
        *ret_stop = stop;
    if (ret_stats)
        *ret_stats = st;
    return 0;
}

const int32_t *lm_session_tokens(const LmSession *s, int *ret_n)
{
    *ret_n = s->n_past;
    return s->hist;
}

LmModel *lm_session_model(const LmSession *s)
{
    return s->m;
}

int lm_session_pending_positions(const LmSession *s, int32_t id, int *pos, int cap)
{
    int n = 0;

    for (int i = 0; i < s->n_pend; i++)
        if (s->pend[i] == id) {
            if (n < cap)
                pos[n] = s->n_past + i;
            n++;
        }
    return n;
}
