/* decoder.h — the Llama-3 GQA decoder internals: config, weights bound to a GGUF or HF file, activations,
 * KV cache, forward() and its profile. Models and sessions (lm.h) are in model.c and session.c; the tokenizer
 * in text/, sampling and chat templates in sampler.c and chat.c.
 *
 * Numerics follow SPEC.md §1.10 (HF LlamaForCausalLM): RMSNorm in fp32, RoPE NORMAL for GGUF weights
 * (Q/K rows in Meta order) and NEOX for HF safetensors weights, llama3 frequency factors (§3.4), causal
 * GQA attention with scale 1/sqrt(HD), SwiGLU MLP, final norm, logits = output · x (tied: token_embd).
 */
#ifndef MYNA_LM_DECODER_H
#define MYNA_LM_DECODER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "backend.h"
#include "gguf.h"
#include "lm-adapter.h"
#include "hf-model.h"
#include "weights.h"

enum {
    LM_MAX_LAYERS = 512,
    LM_MAX_BATCH = 512,     /* tokens per forward chunk; longer prompts are processed in chunks */
    LM_LOGIT_ROWS = 16,     /* logits rows computed per matmul when all positions are requested */
    LM_MAX_ROPE_DIMS = 1024,
};

typedef struct {
    int n_vocab, n_embd, n_layers, n_heads, n_kv_heads, head_dim, n_ff, n_ctx_train;
    float norm_eps;
    float rope_base;         /* theta */
    float rope_freq_scale;   /* 1 / linear scaling factor */
    RopeMode rope_mode;      /* NORMAL for GGUF llama, NEOX for HF weights */
    int n_rot;               /* rotated dims per head */
    int has_rope_factors;    /* rope_factors valid */
    float rope_factors[LM_MAX_ROPE_DIMS / 2]; /* [n_rot/2] divisors (rope_freqs.weight or llama3 block) */
    int tied_embeddings;
} LmConfig;

typedef struct {
    Tensor attn_norm;        /* [C] F32 */
    Tensor wq;               /* [C, NH*HD] */
    Tensor wk, wv;           /* [C, NKV*HD] */
    Tensor wo;               /* [NH*HD, C] */
    Tensor ffn_norm;         /* [C] F32 */
    Tensor w_gate, w_up;     /* [C, FF] */
    Tensor w_down;           /* [FF, C] */
} LmLayerWeights;

typedef struct {
    Tensor tok_embd;         /* [C, V] any dtype (get_rows) */
    Tensor out_norm;         /* [C] F32 */
    Tensor output;           /* [C, V]; a copy of tok_embd's view when tied */
    LmLayerWeights *layers;  /* [L] owned */
} LmWeights;

/* Wall time per op type of lm_forward, split decode (T = 1) / prefill (T > 1), for a state that has one
 * attached (LmState.prof); owned by whoever profiles (lm/model.c under MYNA_PROFILE=1). Ops are synchronous
 * on the CPU backend; on an asynchronous backend the numbers are launch costs only. */
enum { LM_PROF_EMBED, LM_PROF_NORM, LM_PROF_QKV, LM_PROF_ROPE, LM_PROF_KV, LM_PROF_ATTN, LM_PROF_WO, LM_PROF_ADD,
       LM_PROF_GATEUP, LM_PROF_ACT, LM_PROF_DOWN, LM_PROF_HOOK, LM_PROF_OUT, LM_PROF_N };
typedef struct {
    double ms[2][LM_PROF_N]; /* [decode, prefill][op] milliseconds */
    long calls[2], tokens[2];
} LmProfile;
void lm_profile_print(const LmProfile *p, FILE *f);

/* Activations for one forward chunk of up to n_batch tokens, allocated once in backend memory. */
typedef struct {
    int n_batch;
    Tensor x;                /* [C, T] residual stream */
    Tensor xn;               /* [C, T] normed input / projection output */
    Tensor q;                /* [HD, NH, T] */
    Tensor k, v;             /* [HD, NKV, T] */
    Tensor att;              /* [HD, NH, T] */
    Tensor gate, up;         /* [FF, T] */
    Tensor logits;           /* [V, LM_LOGIT_ROWS] */
    int32_t *pos;            /* host [T] */
    float *logits_host;      /* host [V, LM_LOGIT_ROWS] */
    LmProfile *prof;         /* borrowed, NULL = not profiled */
} LmState;

/* Per-session KV cache: one K and one V tensor per layer, [HD, NKV, S] F16 or F32, in backend memory. */
typedef struct {
    int n_ctx, n_layers;
    DType dtype;
    Tensor *k, *v;           /* [L] owned */
} LmKvCache;

/* The bound decoder. Weights live in its store (borrowed from the mapped file on a host backend, uploaded
 * once otherwise; norm vectors in another float type converted to F32 once). */
typedef struct LmDecoder {
    LmConfig cfg;
    LmWeights w;
    Backend *be;             /* borrowed */
    WeightStore *ws;         /* owned */
} LmDecoder;

/* Where a decoder's tensors are in a weight file. */
typedef struct {
    int hf;                  /* 1: HF names (model.layers.N.self_attn.q_proj.weight), 0: GGUF (blk.N.attn_q.weight) */
    const char *prefix;      /* before every name ("language_model." in Llama 3.2 Vision), NULL = none */
    const int *skip;         /* n_skip ascending file layer indexes that are not decoder layers (cross-attention) */
    int n_skip;
    int extra_vocab_rows;    /* embedding-table rows past n_vocab (never looked up by id) */
} LmLayout;

/* A decoder of config cfg with an empty store: add sources to lm_decoder_store(), then lm_decoder_bind()
 * (shape checks against cfg; cfg.tied_embeddings is set when the file has no output weight). */
int lm_decoder_new(const LmConfig *cfg, Backend *be, LmDecoder **ret);
WeightStore *lm_decoder_store(LmDecoder *d);
int lm_decoder_bind(LmDecoder *d, const LmLayout *lay, char *err, size_t err_len);
/* Config + bind in one step. path: a .gguf file (borrowed, must outlive the decoder) or an HF folder. */
int lm_decoder_load_gguf(GgufFile *gf /* borrowed, must outlive the decoder */, Backend *be,
                         LmDecoder **ret, char *err, size_t err_len);
int lm_decoder_load_hf(HfModel *hf /* borrowed */, Backend *be, LmDecoder **ret, char *err, size_t err_len);
void lm_decoder_free(LmDecoder *d); /* accepts NULL */
const LmConfig *lm_decoder_config(const LmDecoder *d);
size_t lm_decoder_weight_bytes(const LmDecoder *d);
Backend *lm_decoder_backend(const LmDecoder *d);

/* Config parsing on its own (also used by tools). lm_config_from_hf checks model_type (llama);
 * lm_config_from_hf_text reads the same keys from a text config of a larger model (mllama text_config). */
int lm_config_from_gguf(const GgufFile *gf, LmConfig *cfg, char *err, size_t err_len);
int lm_config_from_hf(const json_t *config, LmConfig *cfg, char *err, size_t err_len);
int lm_config_from_hf_text(const json_t *text_config, LmConfig *cfg, char *err, size_t err_len);
/* llama3 rope_scaling divisors r_i = f_i / f'_i (SPEC.md §3.4) for n_rot/2 frequencies. */
void lm_rope_llama3_factors(float *r, int n_rot, double base, double factor, double low, double high,
                            double orig_ctx);

int lm_state_new(const LmDecoder *d, int n_batch, LmState **ret);
void lm_state_free(const LmDecoder *d, LmState *st); /* accepts NULL */

int lm_kv_new(const LmDecoder *d, int n_ctx, int f16, LmKvCache **ret);
void lm_kv_free(const LmDecoder *d, LmKvCache *kv); /* accepts NULL */

/* One forward pass over T <= st->n_batch new positions n_past .. n_past+T-1.
 * ids: host [T]; an id < 0 takes row (-id - 1) of emb (host F32 [C, n_emb]) instead of a token embedding.
 * hooks: n_hooks layer hooks (may be NULL). logits_out: host [V, T] when all_rows, else [V] of the last
 * position; NULL computes no logits. */
int lm_forward(LmDecoder *d, LmState *st, LmKvCache *kv, const int32_t *ids, const float *emb, int T,
               int n_past, const LmLayerHook *hooks, int n_hooks, float *logits_out, int all_rows);

#endif
