/* lm-adapter.h — hook types through which adapters (adapters/: Llama 3.2 Vision, the speech adapter) reach
 * into the decoder without lm/ depending on them.
 *
 * Two published wirings are offered (ARCHITECTURE.md §1):
 *  (a) extra layers inserted before given decoder layers, which update the residual stream in place and may
 *      attend to externally supplied states — gated cross-attention (Llama 3.2 Vision, SPEC.md §4.4);
 *  (b) embeddings spliced into the token sequence (LLaMA-Omni, LLaVA): lm_session_add_embeddings() queues
 *      rows [C, n] that take the place of token embeddings at their positions.
 * Not here: the adapters themselves, their weights, or their K/V caches (owned by the adapter's ctx).
 */
#ifndef MYNA_LM_ADAPTER_H
#define MYNA_LM_ADAPTER_H

#include <stdint.h>

#include "backend.h"

typedef struct LmSession LmSession;

typedef struct {
    int layer;  /* runs before decoder layer `layer` (0 .. L-1; L = after the last layer, before the norm) */
    void *ctx;  /* borrowed; owned by the adapter, must outlive the session's use of the hook */
    /* x: [C, T] residual stream in backend memory, updated in place; pos: host int32 [T] absolute
     * positions of these tokens. Returns 0 or a negative errno (which fails the forward pass). */
    int (*forward)(void *ctx, Backend *be, Tensor *x, const int32_t *pos, int T);
} LmLayerHook;

enum { LM_MAX_HOOKS = 16 };

/* Register a hook for all later forward passes of this session (-ENOSPC past LM_MAX_HOOKS, -EINVAL for a
 * bad layer). lm_session_clear_layer_hooks removes them all. */
int lm_session_add_layer_hook(LmSession *s, const LmLayerHook *hook);
void lm_session_clear_layer_hooks(LmSession *s);

/* Queue n embedding rows emb: host F32 [C, n] (copied) to be fed at the next positions in place of token
 * embeddings, in order with queued tokens. -E2BIG when they would not fit the context. */
int lm_session_add_embeddings(LmSession *s, const float *emb, int n);

/* ---- models whose decoder an adapter builds --------------------------------------------------------------
 * Llama 3.2 Vision's text stack is loaded by adapters/mllama.c (its cross-attention layers are hooks), so the
 * LmModel (tokenizer, chat template, sessions) is built around a decoder the adapter owns. */
typedef struct LmModel LmModel;
struct LmDecoder;

enum { LM_MAX_EXTRA_TOKENS = 8 };

/* A model around dec (borrowed: it must outlive the model) with the tokenizer.json and chat template of the
 * HF folder dir; name is the model name (NULL = the folder's name); n_ctx / kv_f16 / chat_template as in
 * LmLoadOptions (chat_template NULL = from tokenizer_config.json). The tokenizer may have up to
 * LM_MAX_EXTRA_TOKENS ids beyond the decoder's logits vocabulary; register them with
 * lm_model_set_extra_token before they are queued. */
int lm_model_new_with_decoder(struct LmDecoder *dec, const char *dir, const char *name, int n_ctx, int kv_f16,
                              const char *chat_template, LmModel **ret, char *err, size_t err_len);
/* Token id >= the logits vocabulary whose input embedding is the host F32 row emb [C] (borrowed, must outlive
 * the model), e.g. mllama's <|image|>: queued occurrences (from text or ids) are fed as spliced embedding
 * rows. -ENOSPC past LM_MAX_EXTRA_TOKENS, -EINVAL for an id inside the vocabulary. */
int lm_model_set_extra_token(LmModel *m, int32_t id, const float *emb);
/* Absolute positions (n_past + index) of the queued, not yet prefilled occurrences of token id, in order;
 * returns the count (may exceed cap: only cap are written). */
int lm_session_pending_positions(const LmSession *s, int32_t id, int *pos, int cap);

#endif
