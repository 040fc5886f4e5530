/* cross-attn.h — the gated cross-attention layer shared by the adapters that run as LmLayerHooks: Llama 3.2
 * Vision (adapters/mllama.c) and the speech adapter's cross-attention variant (adapters/speech-adapter.c).
 *
 * Numerics are HF MllamaCrossAttentionDecoderLayer / MllamaTextCrossAttention (SPEC.md §4.4): RMSNorm input,
 * q_proj then per-head q_norm, K = k_norm(k_proj(states)) per head and V = v_proj(states) computed once per
 * attached image/clip, no RoPE, GQA attention with scale 1/sqrt(HD) and an optional additive mask, o_proj,
 * x += tanh(attn_gate)·attn; then m = SwiGLU MLP(RMSNorm(x)) with the rows whose row_ok is 0 zeroed
 * (full_text_row_masked_out_mask), x += tanh(mlp_gate)·m.
 * CrossAttn is the per-session context both adapters use: the K/V of every attached source (an image, a
 * speech clip) concatenated per layer, the text position each source is attached at, and the visibility
 * rule that turns positions into the additive mask — built once per forward pass, shared by all layers.
 * Not here: which layers and states a model has (mllama.c, speech-adapter.c).
 */
#ifndef MYNA_ADAPTERS_CROSS_ATTN_H
#define MYNA_ADAPTERS_CROSS_ATTN_H

#include <stdint.h>

#include "backend.h"
#include "decoder.h"
#include "lm-adapter.h"
#include "weights.h"

typedef struct {
    Tensor attn_norm;          /* [C] F32 */
    Tensor wq;                 /* [C, NH·HD] */
    Tensor wk, wv;             /* [C, NKV·HD] */
    Tensor wo;                 /* [NH·HD, C] */
    Tensor q_norm, k_norm;     /* [HD] F32; data NULL = no per-head norm */
    Tensor ffn_norm;           /* [C] F32 */
    Tensor w_gate, w_up;       /* [C, FF] */
    Tensor w_down;             /* [FF, C] */
    float gate_attn, gate_mlp; /* tanh already applied */
} CrossAttnLayer;

/* Activations for up to LM_MAX_BATCH rows, owned by the caller: xn, o [C, B]; q, att [NH·HD, B];
 * gate, up [FF, B]. */
typedef struct {
    Tensor xn, q, att, o, gate, up;
} CrossAttnScratch;

/* Bind the weights of one layer from the store: prefix.{input_layernorm, cross_attn.{q,k,v,o}_proj,
 * cross_attn.{q,k}_norm, post_attention_layernorm, mlp.{gate,up,down}_proj}.weight with the shapes of cfg
 * (n_embd, n_heads·head_dim, n_kv_heads·head_dim, n_ff, head_dim), and the gates prefix.cross_attn_attn_gate /
 * prefix.cross_attn_mlp_gate (tanh applied). norms_optional: absent q/k norms leave data NULL. Message in
 * weights_error(ws). */
int cross_attn_load(CrossAttnLayer *x, WeightStore *ws, const LmConfig *cfg, const char *prefix,
                    int norms_optional);

/* k, v: [HD, NKV, S] F32 (preallocated) from states xs: [C, S]. Uses n_heads/n_kv_heads/head_dim/norm_eps of
 * cfg. */
int cross_attn_kv(Backend *be, const LmConfig *cfg, const CrossAttnLayer *w, const Tensor *xs, Tensor *k,
                  Tensor *v);

/* x: [C, T] residual stream (T <= LM_MAX_BATCH), updated in place; k, v: [HD, NKV, ≥W] of which the first W
 * keys are used; mask: F32 [W, T] additive or NULL; row_ok: host [T] (0 zeroes that row's MLP) or NULL. */
int cross_attn_forward(Backend *be, const LmConfig *cfg, const CrossAttnLayer *w, const CrossAttnScratch *s,
                       Tensor *x, int T, const Tensor *k, const Tensor *v, int64_t W, const Tensor *mask,
                       const uint8_t *row_ok);

/* ---- per-session context ------------------------------------------------------------------------------- */
enum { CROSS_MAX_LAYERS = LM_MAX_HOOKS, CROSS_MAX_SOURCES = 16 };

/* Which attached sources a text position p sees; rows that see none get a zero bias (uniform attention)
 * and their MLP output zeroed, as HF mllama's masks do. */
typedef enum {
    CROSS_SEE_LATEST_RUN = 0, /* the latest run of adjacent sources (positions one apart) attached at or
                                 before p (HF get_cross_attention_token_mask; positions strictly increase) */
    CROSS_SEE_ALL_BEFORE = 1, /* every source attached at or before p (positions never decrease) */
} CrossVisibility;

typedef struct {
    Backend *be;                     /* borrowed */
    const LmConfig *cfg;             /* borrowed: geometry (n_embd, heads, head_dim, n_ff, norm_eps) */
    const CrossAttnLayer *layers;    /* [n_layers] borrowed */
    const int *hook_layer;           /* [n_layers] decoder layer each runs before (ascending) */
    int n_layers;                    /* <= CROSS_MAX_LAYERS */
    const CrossAttnScratch *scratch; /* borrowed */
    CrossVisibility vis;
    int max_sources;                 /* <= CROSS_MAX_SOURCES; -ENOSPC past it */
    int64_t max_rows;                /* key rows over all sources; -E2BIG past it */
} CrossAttnSpec;

typedef struct CrossAttn CrossAttn;

int cross_ctx_new(const CrossAttnSpec *spec /* copied; its pointers borrowed */, CrossAttn **ret);
void cross_ctx_free(CrossAttn *c); /* accepts NULL */
void cross_ctx_reset(CrossAttn *c); /* forget every source */
int cross_ctx_n_sources(const CrossAttn *c);
/* Attach a source seen from text position pos: k[i], v[i]: [HD, NKV, n_rows] per layer (copied); only its
 * first n_valid rows are ever visible (the rest is padding). -EINVAL bad order/shape, -ENOSPC, -E2BIG;
 * when an allocation fails every source is forgotten (never a partial cache). */
int cross_ctx_add(CrossAttn *c, const Tensor *k, const Tensor *v, int64_t n_rows, int64_t n_valid, int pos);
/* The same from states: host F32 [C, n] (K/V computed here per layer with cross_attn_kv). */
int cross_ctx_add_states(CrossAttn *c, const float *states, int64_t n, int pos);
/* Hooks for lm_forward() / lm_session_add_layer_hook(): hook i runs layer i before spec.hook_layer[i].
 * Returns the count (<= cap). */
int cross_ctx_hooks(CrossAttn *c, LmLayerHook *hooks, int cap);

#endif
