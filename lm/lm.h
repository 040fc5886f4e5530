/* lm.h — the language model as the rest of Myna sees it: load, sessions, prefill, step-wise generation.
 *
 * One LmModel (weights, tokenizer, chat template) is shared by many LmSessions; each session owns its KV
 * cache and token history, so a follow-up turn prefills only its new tokens. All calls on one model must
 * come from one thread (the daemon's inference worker); sessions may be interleaved token by token.
 * Loading is model.c, sessions and generation session.c. Not here: the decoder internals (decoder.h),
 * tokenizer (text/tokenizer.h), templates (chat.h), sampler (sampler.h).
 */
#ifndef MYNA_LM_H
#define MYNA_LM_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

typedef struct LmModel LmModel;
typedef struct LmSession LmSession;

typedef struct {
    int n_vocab, n_embd, n_layers, n_heads, n_kv_heads, head_dim, n_ff, n_ctx_train;
    char arch[32];        /* "llama" */
    char name[128];       /* general.name or the folder name */
    char chat_family[16]; /* "llama3", "chatml", "llama2", "none" */
    size_t weight_bytes;
} LmInfo;

typedef struct {
    int n_ctx;                 /* KV cache length per session; 0 = min(model context, 4096) */
    int kv_f16;                /* 1 = F16 KV cache (default), 0 = F32 */
    const char *chat_template; /* override family: "llama3" | "chatml" | "llama2" | NULL = from the file */
    int mmap;                  /* GGUF on the CPU backend: 0 = read the weights into memory on 2 MiB pages
                                * (default: faster decode), 1 = map the file (lazy, shared page cache) */
} LmLoadOptions;

typedef struct {
    float temperature;     /* <= 0: greedy */
    int top_k;             /* 0 = off */
    float top_p;           /* 1 = off */
    float min_p;           /* 0 = off */
    float repeat_penalty;  /* 1 = off; over the last repeat_last_n tokens */
    int repeat_last_n;
    float freq_penalty;    /* 0 = off */
    uint64_t seed;
    int max_tokens;        /* generation limit for this turn */
} LmSampling;

void lm_sampling_default(LmSampling *s);

typedef enum { LM_STOP_NONE = 0, LM_STOP_EOS, LM_STOP_LENGTH, LM_STOP_CONTEXT, LM_STOP_CANCELLED } LmStop;
const char *lm_stop_name(LmStop s); /* "stop", "length", "context", "cancelled" */

typedef struct {
    int n_prompt;          /* tokens prefilled this turn */
    int n_generated;
    double prefill_ms, decode_ms;
} LmStats;

/* path: a .gguf file or an HF folder (config.json + safetensors + tokenizer.json). */
int lm_model_load(const char *path, Backend *be, const LmLoadOptions *opt, LmModel **ret, char *err,
                  size_t err_len);
void lm_model_free(LmModel *m); /* accepts NULL */
const LmInfo *lm_model_info(const LmModel *m);

int lm_session_new(LmModel *m, LmSession **ret);
void lm_session_free(LmSession *s); /* accepts NULL */
int lm_session_reset(LmSession *s); /* forget history and cache */
int lm_session_n_past(const LmSession *s);  /* tokens in the KV cache */
int lm_session_n_ctx(const LmSession *s);
/* Tokens in the KV cache, oldest first (-1 marks spliced embedding rows); valid until the next call. */
const int32_t *lm_session_tokens(const LmSession *s, int *ret_n);
LmModel *lm_session_model(const LmSession *s);

/* Queue one chat turn (formatted with the model's template; the generation prompt for the assistant is
 * added by lm_session_prefill). role: "system" | "user" | "assistant". Returns -E2BIG (nothing queued)
 * when history + this turn + the generation prompt would not fit the context. */
int lm_session_add_message(LmSession *s, const char *role, const char *text);
/* Queue raw text (tokenized as is; special tokens parsed when allow_special). */
int lm_session_add_text(LmSession *s, const char *text, int allow_special);
/* Queue token ids. */
int lm_session_add_tokens(LmSession *s, const int32_t *ids, int n);
int lm_session_n_pending(const LmSession *s);

/* Run pending tokens through the model in one batch (plus the assistant generation prompt when the last
 * queued item was a chat message). Afterwards the next token can be sampled. */
int lm_session_prefill(LmSession *s, LmStats *stats);

typedef struct {
    int32_t id;
    char text[64];   /* the complete UTF-8 characters this token finishes (may be empty) */
    size_t len;
    LmStop stop;     /* != LM_STOP_NONE: generation ended; id is the end token (not part of the answer) */
} LmToken;

/* Sample one token from the current logits and, unless it ends the turn, feed it back (one decode step).
 * n_generated counts tokens produced so far this turn (for max_tokens). */
int lm_session_step(LmSession *s, const LmSampling *sp, int n_generated, LmToken *ret);

/* Logits of the last prefilled/decoded position: [V] F32, valid until the next call. */
const float *lm_session_logits(const LmSession *s);
/* When set before prefill, logits for every prompt position are kept: [V, T] F32 (myna-run --logits). */
int lm_session_keep_all_logits(LmSession *s, int on);
const float *lm_session_all_logits(const LmSession *s, int *ret_n_rows);

/* Convenience loop: prefill then step until a stop; on_token may return non-zero to stop (reported as
 * LM_STOP_CANCELLED). cancel (may be NULL) is polled every token. */
typedef int (*LmTokenFn)(void *user, const LmToken *tok);
int lm_session_generate(LmSession *s, const LmSampling *sp, LmTokenFn on_token, void *user,
                        const volatile int *cancel, LmStop *ret_stop, LmStats *ret_stats);

/* Tokenizer access for tools (--print-tokens). Returns the number of ids (may exceed cap: call again). */
int lm_tokenize(const LmModel *m, const char *text, int add_bos, int allow_special, int32_t *ids, int cap);
const char *lm_token_piece(const LmModel *m, int32_t id); /* raw vocabulary entry */

#endif
