/* model-impl.h — the LmModel struct shared by model.c (loading) and session.c (sessions). Not a public
 * interface: callers use lm.h / lm-adapter.h. */
#ifndef MYNA_LM_MODEL_IMPL_H
#define MYNA_LM_MODEL_IMPL_H

#include "chat.h"
#include "decoder.h"
#include "lm-adapter.h"
#include "lm.h"
#include "tokenizer.h"

struct LmModel {
    LmInfo info;
    GgufFile *gf;            /* owned (GGUF models) */
    HfModel *hf;             /* owned (HF folders) */
    LmDecoder *dec;          /* owned, unless dec_borrowed */
    int dec_borrowed;        /* lm_model_new_with_decoder: the adapter owns the decoder */
    int n_extra;             /* tokens beyond the logits vocabulary fed as embedding rows */
    int32_t extra_id[LM_MAX_EXTRA_TOKENS];
    const float *extra_emb[LM_MAX_EXTRA_TOKENS]; /* host [C] each, borrowed */
    LmState *st;             /* owned; shared by the sessions (one thread uses the model) */
    LmProfile *prof;         /* owned under MYNA_PROFILE=1 (attached to st), printed by lm_model_free */
    Tokenizer *tok;          /* owned */
    ChatFamily chat;
    int32_t gen_prompt[64];  /* the assistant generation prompt, tokenized */
    int n_gen_prompt;
    int n_ctx, kv_f16;
};

/* The host [C] embedding row of extra token id (lm_model_set_extra_token), NULL if id is not one. */
const float *lm_model_extra_embedding(const LmModel *m, int32_t id);

#endif
