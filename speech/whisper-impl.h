/* whisper-impl.h — Whisper's internal structures, shared by whisper-load.c (config, weights),
 * whisper.c (encoder/decoder forward) and whisper-transcribe.c (transcription). Not a public interface. */
#ifndef MYNA_WHISPER_IMPL_H
#define MYNA_WHISPER_IMPL_H

#include "backend.h"
#include "tokenizer.h"
#include "weights.h"
#include "whisper.h"

typedef struct {
    Tensor ln1_w, ln1_b;                 /* [C] F32 */
    Tensor wq, bq, wk, wv, bv, wo, bo;   /* w: [C, C]; b: [C] F32; k has no bias; wv F32 */
    Tensor ln2_w, ln2_b;
    Tensor fc1, fc1_b, fc2, fc2_b;       /* fc1: [C, FF], fc2: [FF, C] */
} WhisperEncLayer;

typedef struct {
    Tensor ln1_w, ln1_b;
    Tensor wq, bq, wk, wv, bv, wo, bo;   /* causal self-attention */
    Tensor lnx_w, lnx_b;
    Tensor xq, xbq, xk, xv, xbv, xo, xbo; /* cross-attention over the encoder states; xv F32 */
    Tensor ln2_w, ln2_b;
    Tensor fc1, fc1_b, fc2, fc2_b;
} WhisperDecLayer;

typedef struct {
    Tensor conv1_w, conv1_b;   /* [3·M, C] (PyTorch [C, M, 3] flattened = im2col order), [C] */
    Tensor conv2_w, conv2_b;   /* [3·C, C] permuted on load to (k, c_in) order, see whisper.c */
    Tensor enc_pos;            /* [C, n_audio_ctx] F32 */
    WhisperEncLayer *enc;      /* [n_audio_layer] owned */
    Tensor enc_ln_w, enc_ln_b;
    Tensor tok_emb;            /* [C, V]; also the output projection (tied) */
    Tensor dec_pos;            /* [C, n_text_ctx] */
    WhisperDecLayer *dec;      /* [n_text_layer] owned */
    Tensor dec_ln_w, dec_ln_b;
    Tensor tok_q8;             /* [C, V] Q8_0 copy of tok_emb for fast logits; data NULL when not made */
} WhisperWeights;

enum { WHISPER_LOGIT_ROWS = 8 };

typedef struct {
    /* encoder, sized for F = 2·n_audio_ctx frames */
    Tensor mel;               /* [F, M] */
    Tensor col1;              /* [3·M, F] */
    Tensor y1;                /* [C, F] conv1 output, time-major */
    Tensor col2;              /* [3·C, T] conv2 input windows (row 0's left tap stays zero) */
    Tensor ex, exn, eq, ek, eatt; /* [C, T] */
    Tensor evt;               /* [T, C]: values transposed (C rows of T) */
    Tensor escore;            /* [T, T] attention scores of one head */
    Tensor eff;               /* [FF, T] */
    Tensor enc_out;           /* [C, T] */
    int n_enc;                /* T of the last encode, 0 = none */
    /* cross-attention per decoder layer: keys [C, T] (= [HD, NH, T]) and values transposed [T, C] (head h:
     * rows h·HD.. of T values, i.e. Vᵀ_h [S, HD] contiguous); ck16/cvt16: F16 copies (fast mode) */
    Tensor *ck, *cvt, *ck16, *cvt16;
    Tensor dscore;            /* [S, n_text_ctx] cross-attention scores of one head */
    /* decoder self-attention cache per layer, [HD, NH, n_text_ctx] */
    Tensor *sk, *sv;
    /* decoder activations for up to n_text_ctx tokens */
    Tensor dx, dxn, dq, dk, dv, datt; /* [C, n_text_ctx] */
    Tensor dff;               /* [FF, n_text_ctx] */
    Tensor logits;            /* [V, WHISPER_LOGIT_ROWS] */
    int32_t *pos;             /* host [n_text_ctx] */
} WhisperState;

/* whisper-bin.c: a parsed whisper.cpp legacy .bin (SPEC.md §5.4) */
typedef struct {
    const char *name;         /* OpenAI name, "encoder.blocks.0.attn.query.weight" */
    Tensor t;                 /* data in the arena, 64-byte aligned */
} WggmlTensor;

typedef struct {
    int32_t hp[11];           /* n_vocab n_audio_ctx n_audio_state n_audio_head n_audio_layer n_text_ctx
                                 n_text_state n_text_head n_text_layer n_mels ftype */
    int n_tensors;
    WggmlTensor *tensors;     /* owned */
    char *names, *arena;      /* owned */
    int n_tokens;
    uint32_t *tok_off;        /* [n_tokens + 1] offsets into tok_bytes */
    char *tok_bytes;
} WggmlFile;

int wggml_open(const char *path, WggmlFile **ret, char *err, size_t err_len);
int wggml_open_memory(const void *data, size_t size, WggmlFile **ret, char *err, size_t err_len);
void wggml_close(WggmlFile *f); /* accepts NULL */
const WggmlTensor *wggml_find(const WggmlFile *f, const char *name);

struct Whisper {
    WhisperConfig cfg;
    WhisperTokens tok;
    Backend *be;              /* borrowed */
    int host;                 /* weights used in place (CPU backend) */
    void *src;                /* HfModel, owned (HF folder) */
    WggmlFile *ggml;          /* owned (whisper.cpp .bin); exactly one of src / ggml is set */
    Tokenizer *tokenizer;     /* owned, NULL when the folder has no tokenizer.json */
    int32_t *suppress;        /* owned, ids always suppressed */
    int n_suppress;
    int32_t *suppress_begin;  /* owned, ids suppressed at the first sampled position */
    int n_suppress_begin;
    WhisperWeights w;
    WhisperState st;
    WhisperFast fast;         /* load option */
    int fast_on;              /* lossy kernels in use now (set by whisper_transcribe, or fast == ALL) */
    int fast_ok;              /* fast kernels available (CPU backend, Q8_0 copy made) */
    uint64_t run_encodes;     /* encodes by WhisperRun steps: a run re-encodes its window when another ran */
    WeightStore *ws;          /* owned: weights (converted/permuted host copies, device uploads) and state */
};

/* whisper.c */
int whisper_state_init(Whisper *w);
void whisper_state_free(Whisper *w);

#endif
