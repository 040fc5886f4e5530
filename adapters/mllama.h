/* mllama.h — Llama 3.2 Vision as a whole: the vision encoder, the multi-modal projector, the text decoder's
 * self-attention layers (an LmDecoder) and the gated cross-attention layers that run as LmLayerHooks
 * (SPEC.md §4.4–4.5, HF MllamaForConditionalGeneration).
 *
 * An image is encoded once (mllama_encode_*): encoder → projector → per cross-attention layer K (k_norm
 * applied) and V, kept in a MllamaImage. A MllamaCtx belongs to one text session: images are attached at the
 * absolute position of their <|image|> token and the ctx's hooks attend to the K/V of all attached images
 * with the processor's cross-attention mask, so follow-up turns never re-run the encoder.
 * Not here: decoding image files (vision/image.h), sessions (lm.h), the daemon.
 */
#ifndef MYNA_ADAPTERS_MLLAMA_H
#define MYNA_ADAPTERS_MLLAMA_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "lm-adapter.h"
#include "decoder.h"
#include "preprocess.h"
#include "vit.h"

enum { MLLAMA_MAX_CROSS = LM_MAX_HOOKS, MLLAMA_MAX_IMAGES = 16 };

typedef struct Mllama Mllama;
typedef struct MllamaImage MllamaImage;
typedef struct CrossAttn MllamaCtx; /* adapters/cross-attn.h, CROSS_SEE_LATEST_RUN */

/* dir: an HF folder of MllamaForConditionalGeneration (config.json, safetensors). */
int mllama_load(const char *dir, Backend *be, Mllama **ret, char *err, size_t err_len);
void mllama_free(Mllama *m); /* accepts NULL */

/* The text decoder: self-attention layers only (cross layers are hooks); borrowed from m. */
LmDecoder *mllama_decoder(Mllama *m);
MllamaVit *mllama_vit(Mllama *m);
const MllamaPreprocessConfig *mllama_preprocess_config(const Mllama *m);
int mllama_image_token(const Mllama *m);             /* config image_token_index (128256 for 11B) */
/* Host F32 [C] embedding row of <|image|> (beyond the logits vocabulary, so it is spliced as an embedding:
 * pass ids[t] = -1 with this row, see lm_forward). */
const float *mllama_image_token_embedding(const Mllama *m);
/* The n_hook cross-attention layers: hook i runs before self-attention layer hook_layer[i]. */
int mllama_n_cross(const Mllama *m);

/* Encode an image: RGB8 (preprocessed here) or already preprocessed pixels. */
int mllama_encode_image(Mllama *m, const uint8_t *rgb, int w, int h, size_t stride, MllamaImage **ret);
int mllama_encode_pixels(Mllama *m, const MllamaPixels *px, MllamaImage **ret);
void mllama_image_free(MllamaImage *img); /* accepts NULL */
int mllama_image_n_tiles(const MllamaImage *img);
/* The projected vision states of the last encoded image: [C_text, n_pos·max_tiles] in backend memory. */
const Tensor *mllama_last_states(const Mllama *m);
/* Encoder seconds and cross K/V seconds of the last encode (bench). */
void mllama_last_timing(const Mllama *m, double *ret_encoder_ms, double *ret_kv_ms);

/* Per-session state. */
int mllama_ctx_new(Mllama *m, MllamaCtx **ret);
void mllama_ctx_free(MllamaCtx *c); /* accepts NULL */
/* Attach an encoded image (its K/V are copied; img may be freed afterwards) whose <|image|> token sits at
 * absolute position pos (positions must increase). -ENOSPC past MLLAMA_MAX_IMAGES. */
int mllama_ctx_add_image(MllamaCtx *c, const MllamaImage *img, int pos);
int mllama_ctx_n_images(const MllamaCtx *c);
void mllama_ctx_reset(MllamaCtx *c); /* forget images */
/* Hooks to pass to lm_forward() or lm_session_add_layer_hook(); returns the count (<= cap). */
int mllama_ctx_hooks(MllamaCtx *c, LmLayerHook *hooks, int cap);

#endif
