/* speech-adapter.h — speech-encoder states into the LM, both published wirings (ARCHITECTURE.md §1):
 *
 *  splice ("speech_adapter": "splice", the default; LLaMA-Omni, SPEC.md §6.2): encoder states [C_enc, F] →
 *    drop the trailing F mod k frames → concatenate k consecutive frames ([C_enc·k, F/k], frame 0's channels
 *    first) → Linear(C_enc·k → H, bias) → ReLU → Linear(H → C, bias) → rows [C, F/k] spliced into the token
 *    sequence at the "<speech>" placeholder with lm_session_add_embeddings().
 *  cross_attention ("speech_adapter": "cross_attention", our own configuration): the same projector's rows
 *    [C, S] are the states that gated cross-attention layers attend to (the layer of Llama 3.2 Vision,
 *    adapters/cross-attn.h), run as LmLayerHooks before given decoder layers. A clip is attached at an
 *    absolute position: text at or after it sees the clip, earlier text sees none (HF mllama's treatment:
 *    uniform attention, MLP zeroed). With no clip attached the hooks do nothing.
 *
 * HF folder (config.json + safetensors, F32/F16/BF16; LLaMA-Omni's own folder works as is):
 *   speech_projector_type       "linear" (the only type; default "linear")
 *   speech_encoder_ds_rate      k (default 5)
 *   speech_encoder_hidden_size  C_enc (default 1280)
 *   hidden_size                 C, the LM width (required)
 *   model.speech_projector.linear1.{weight [H, C_enc·k], bias [H]}, linear2.{weight [C, H], bias [C]}
 *   (PyTorch shapes; H = 2048 in LLaMA-Omni, taken from linear1.weight).
 * cross_attention only:
 *   speech_adapter                 "cross_attention"
 *   speech_cross_attention_layers  [l0, l1, …] strictly increasing: cross layer i runs before decoder layer li
 *                                  (li = number of decoder layers: after the last one, before the final norm)
 *   num_attention_heads, num_key_value_heads (default = heads), head_dim (default C / heads),
 *   intermediate_size, rms_norm_eps (default 1e-5)  — the cross layers' geometry
 *   model.speech_cross_layers.{i}.{input_layernorm.weight, cross_attn.{q,k,v,o}_proj.weight,
 *     cross_attn.{q,k}_norm.weight (optional), post_attention_layernorm.weight, mlp.{gate,up,down}_proj.weight,
 *     cross_attn_attn_gate, cross_attn_mlp_gate}  — HF MllamaCrossAttentionDecoderLayer's names.
 * Not here: the Whisper encoder (speech/whisper.h), the LM (lm.h), audio.
 */
#ifndef MYNA_ADAPTERS_SPEECH_ADAPTER_H
#define MYNA_ADAPTERS_SPEECH_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "lm-adapter.h"
#include "lm.h"
#include "hf-model.h"

enum {
    SPEECH_MAX_CROSS = LM_MAX_HOOKS,
    SPEECH_MAX_CLIPS = 16,        /* clips attached to one cross-attention ctx */
    SPEECH_MAX_ROWS = 1 << 14,    /* projector rows per call / states per ctx (about 27 min of speech) */
};

typedef enum { SPEECH_ADAPTER_SPLICE = 0, SPEECH_ADAPTER_CROSS = 1 } SpeechAdapterKind;

typedef struct {
    SpeechAdapterKind kind;
    int n_enc;                    /* C_enc 1280 */
    int ds_rate;                  /* k 5 */
    int n_hidden;                 /* H 2048 */
    int n_embd;                   /* C 4096 */
    /* cross_attention only */
    int n_cross;
    int cross_layer[SPEECH_MAX_CROSS];
    int n_heads, n_kv_heads, head_dim, n_ff;
    float norm_eps;
} SpeechAdapterConfig;

typedef struct SpeechAdapter SpeechAdapter;
typedef struct CrossAttn SpeechCrossCtx; /* adapters/cross-attn.h, CROSS_SEE_ALL_BEFORE */

/* dir: an HF folder as above. load_hf takes an open folder (borrowed; must outlive the adapter). */
int speech_adapter_load(const char *dir, Backend *be, SpeechAdapter **ret, char *err, size_t err_len);
int speech_adapter_load_hf(const HfModel *hf, Backend *be, SpeechAdapter **ret, char *err, size_t err_len);
void speech_adapter_free(SpeechAdapter *a); /* accepts NULL */
const SpeechAdapterConfig *speech_adapter_config(const SpeechAdapter *a);
/* -EINVAL (with a message) when the LM's width differs from the adapter's C. */
int speech_adapter_check_lm(const SpeechAdapter *a, const LmModel *lm, char *err, size_t err_len);

/* Output rows for F encoder frames: F / k (trailing frames dropped, as LLaMA-Omni does). */
int speech_adapter_n_out(const SpeechAdapter *a, int n_frames);
/* enc: F32 [C_enc, F] contiguous in the backend's memory (host memory for the CPU backend); ret: host F32
 * [C, F/k] with room for cap_rows rows. Returns F/k or a negative errno (-EINVAL when F < k, -ENOSPC when
 * cap_rows is too small, -E2BIG past SPEECH_MAX_ROWS). */
int speech_adapter_project(SpeechAdapter *a, const Tensor *enc, float *ret, int cap_rows);
/* The same from host F32 [C_enc, F]. */
int speech_adapter_project_host(SpeechAdapter *a, const float *enc, int n_frames, float *ret, int cap_rows);

/* LLaMA-Omni's prompt (conv llama_3, SPEC.md §6.2):
 *   <|begin_of_text|>[<|begin_of_text|>]<|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|>
 *   <|start_header_id|>user<|end_header_id|>\n\n<speech>\n{instruction}<|eot_id|>
 *   <|start_header_id|>assistant<|end_header_id|>\n\n
 * The second BOS reproduces LLaMA-Omni's tokenizer_speech_token (SPEC.md §6.2, §8.10), the prompt its
 * model was trained with. An empty system drops the system block (as its template does). */
typedef struct {
    const char *system;           /* NULL: LLaMA-Omni's system text */
    const char *instruction;      /* NULL: "Please directly answer the questions in the user's speech." */
    int double_bos;               /* default 1 */
} SpeechPrompt;

void speech_prompt_default(SpeechPrompt *p);
/* Text before and after "<speech>"; first_turn 0 omits the BOS and system block (a follow-up turn).
 * -ENOSPC when a buffer is too small. */
int speech_prompt_format(const SpeechPrompt *p, int first_turn, char *before, size_t before_len, char *after,
                         size_t after_len);
/* Queue one speech turn into s (a first turn when s is empty): the tokens before the placeholder, the n
 * rows emb: host F32 [C, n] (n = 0 for the cross-attention variant), the tokens after, then the assistant
 * header. *ret_pos (may be NULL): absolute position of the first speech row / of the token after the
 * placeholder when n = 0 — where a cross-attention clip is attached. -E2BIG when it would not fit. */
int speech_adapter_queue_prompt(LmSession *s, const SpeechPrompt *p, const float *emb, int n, int *ret_pos);

/* ---- cross_attention variant: per-session state ---- */
int speech_cross_ctx_new(SpeechAdapter *a, SpeechCrossCtx **ret);
void speech_cross_ctx_free(SpeechCrossCtx *c); /* accepts NULL */
/* Attach projector rows states: host F32 [C, n] seen by text at absolute positions >= pos (clips in
 * non-decreasing pos). K/V of every cross layer are computed here, once. -ENOSPC past SPEECH_MAX_CLIPS,
 * -E2BIG past SPEECH_MAX_ROWS rows in all. */
int speech_cross_ctx_add_clip(SpeechCrossCtx *c, const float *states, int n, int pos);
int speech_cross_ctx_n_clips(const SpeechCrossCtx *c);
void speech_cross_ctx_reset(SpeechCrossCtx *c); /* forget clips */
/* Hooks for lm_session_add_layer_hook() / lm_forward(); returns the count (<= cap). */
int speech_cross_ctx_hooks(SpeechCrossCtx *c, LmLayerHook *hooks, int cap);

#endif
