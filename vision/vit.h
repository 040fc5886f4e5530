/* vit.h — the Llama 3.2 Vision encoder (HF MllamaVisionModel, SPEC.md §4.3) on the backend ops.
 *
 * Per image (up to max_tiles tiles): patch embedding (im2col + matmul), gated pre-tile embedding, CLS,
 * gated position + tile-position embedding, layernorm_pre, local layers (recording the INPUT of the
 * layers in intermediate_layers_indices, as Meta's encoder does), layernorm_post, gated post-tile
 * embedding, gated global layers. Not here: preprocessing (preprocess.h), the projector and the
 * cross-attention layers (adapters/mllama.h).
 *
 * Internal token order: the encoder's attention mask (SPEC.md §4.3 step 7: a query that is padding may not
 * see padding keys; everything else is visible) becomes two mask-free attention calls when the real tokens
 * are kept first and the padding tokens last, so no [6432, 6432] mask is ever built.
 * Output layout: [out_dim, P, max_tiles] with P = positions per tile (1601 for 11B), channels in BLOCK
 * order [final C | intermediate 0 C | … ]; HF interleaves the intermediates (index d·K + k), so the
 * projector weight is permuted once at load instead (adapters/mllama.c); mllama_vit_output_to_hf()
 * converts for comparisons.
 */
#ifndef MYNA_VISION_VIT_H
#define MYNA_VISION_VIT_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "preprocess.h"
#include "hf-model.h"

enum { MLLAMA_MAX_INTER = 16, MLLAMA_MAX_VIT_LAYERS = 128 };

typedef struct {
    int n_embd, n_heads, head_dim, n_ff;   /* C 1280, NH 16, HD 80, FF 5120 */
    int n_layers, n_global_layers;         /* 32 local, 8 global */
    int n_inter, inter_idx[MLLAMA_MAX_INTER]; /* [3, 7, 15, 23, 30] */
    int image_size, patch_size, n_side;    /* 560, 14, 40 */
    int n_patches;                         /* n_side² = 1600 */
    int n_pos, n_pos_pad;                  /* 1601, 1608 (multiple of 8) */
    int max_tiles, n_aspect;               /* 4, 8 */
    int out_dim;                           /* C · (1 + n_inter) = 7680 */
    float norm_eps;
} MllamaVitConfig;

typedef struct MllamaVit MllamaVit;

int mllama_vit_config_from_hf(const HfModel *hf, MllamaVitConfig *c, char *err, size_t err_len);
int mllama_vit_load(const HfModel *hf, Backend *be, MllamaVit **ret, char *err, size_t err_len);
void mllama_vit_free(MllamaVit *v); /* accepts NULL */
const MllamaVitConfig *mllama_vit_config(const MllamaVit *v);

/* Encode one preprocessed image. *ret_out: [out_dim, n_pos, max_tiles] F32 in backend memory, block
 * channel order, owned by the encoder and valid until the next call. */
int mllama_vit_forward(MllamaVit *v, const MllamaPixels *px, Tensor **ret_out);
/* Encoder calls so far (tests count them). */
int64_t mllama_vit_n_calls(const MllamaVit *v);

/* Host conversion of one row set from block to HF (interleaved) channel order: n rows of out_dim. */
void mllama_vit_output_to_hf(const MllamaVitConfig *c, const float *block, float *hf, int64_t n_rows);

#endif
