/* voice.h — a Piper voice (VITS) as Piper users download it: VOICE.onnx + VOICE.onnx.json, no conversion.
 *
 * voice_load() reads the .json (Jansson) and the ONNX graph (core/onnx.h), works out the architecture from
 * the quality level ("x_low", "low", "medium", "high"; SPEC.md's Piper row, Piper's piper_train/__main__.py
 * and vits/lightning.py defaults), checks the Conv/ConvTranspose node attributes (strides, dilations, pads,
 * groups) and every weight's shape against it, and binds each weight by its module path — including the
 * anonymous `onnx::Conv_*` initializers of weight-normed convs (found through the Conv node that consumes
 * them) and the phoneme embedding, which single-speaker exports store under the name "sid". Any mismatch
 * is one error naming the tensor or .json field; nothing is guessed.
 *
 * What it is not: the phonemizer (phonemize.h) or synthesis (vits*.c). Weights live in a WeightStore
 * (core/weights.h) on the caller's backend: every weight is copied out of the ONNX file once into 64-byte
 * aligned F32 host memory (FLOAT16/BFLOAT16/DOUBLE initializers converted), then placed there (in place on
 * the CPU, uploaded on a GPU); the ONNX mapping is closed when voice_load returns.
 *
 * Tensor shapes below use ggml order (innermost first, core/tensor.h). Extra letters for this model:
 *   CI/CO conv input/output channels, KW kernel width, W relative-position window, H hidden (192),
 *   I inter (latent) channels (192), FF filter channels (768), G speaker-embedding dim (gin, 512),
 *   NS speakers, V phoneme symbols (256), D duration-predictor channels (= H).
 * A Conv1d weight (PyTorch [CO, CI/groups, KW]) is `[KW, CI/groups, CO]`; a ConvTranspose1d weight
 * (PyTorch [CI, CO, KW]) is `[KW, CO, CI]`.
 */
#ifndef MYNA_VOICE_H
#define MYNA_VOICE_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "tensor.h"
#include "weights.h"

enum {
    VOICE_MAX_LAYERS = 6,        /* text-encoder layers (every Piper quality uses 6) */
    VOICE_DP_FLOWS = 4,          /* ConvFlows in the stochastic duration predictor */
    VOICE_DDS_LAYERS = 3,        /* DDSConv layers (dp.convs and each ConvFlow) */
    VOICE_FLOWS = 4,             /* residual coupling layers in the flow */
    VOICE_WN_LAYERS = 4,         /* WaveNet layers per coupling layer */
    VOICE_MAX_UPS = 4,           /* HiFi-GAN upsampling stages */
    VOICE_MAX_RES_KERNELS = 3,   /* resblocks per stage */
    VOICE_MAX_RES_DILATIONS = 3, /* convs per resblock (type 1: 3 pairs, type 2: 2) */
    VOICE_MAX_SPEAKERS = 4096,
};

typedef enum { VOICE_QUALITY_X_LOW, VOICE_QUALITY_LOW, VOICE_QUALITY_MEDIUM, VOICE_QUALITY_HIGH } VoiceQuality;

typedef struct {
    /* From the .json. */
    int sample_rate;             /* audio.sample_rate (16000 / 22050) */
    VoiceQuality quality;        /* audio.quality */
    float noise_scale;           /* inference.noise_scale (0.667): prior noise */
    float length_scale;          /* inference.length_scale (1): >1 speaks slower */
    float noise_w;               /* inference.noise_w (0.8): duration-predictor noise */
    char espeak_voice[64];       /* espeak.voice ("en-us") */
    char language[32];           /* language.code ("en_US"), "" when absent */
    int n_symbols;               /* num_symbols: rows of the phoneme embedding (V) */
    int n_speakers;              /* num_speakers (1 = single speaker, no sid input) */
    /* Architecture (from the quality level; every weight and node attribute is checked against it). */
    int hidden;                  /* H: text-encoder width (x_low 96, else 192) */
    int inter;                   /* I: latent channels (x_low 96, else 192) */
    int filter;                  /* FF: encoder FFN width (x_low 384, else 768) */
    int n_heads;                 /* 2 */
    int n_layers;                /* 6 */
    int ffn_kernel;              /* 3 */
    int window;                  /* W: relative-position window 4 (emb_rel_* have 2W+1 rows) */
    int dp_channels;             /* D = H (VITS ties the duration predictor's filter channels to H) */
    int dp_kernel;               /* 3 */
    int dp_bins;                 /* rational-quadratic spline bins 10 (ConvFlow proj: 3*bins-1 outputs) */
    float dp_tail_bound;         /* 5.0 */
    int flow_kernel;             /* 5 */
    int flow_dilation_rate;      /* 1 */
    int gin;                     /* G: speaker-conditioning width, 0 for single-speaker voices */
    int resblock;                /* HiFi-GAN resblock type: 1 (high) or 2 */
    int dec_channels;            /* upsample_initial_channel: 256 (512 high) */
    int n_ups;                   /* 3 (4 high) */
    int ups_rate[VOICE_MAX_UPS];   /* 8 8 4 (8 8 2 2) */
    int ups_kernel[VOICE_MAX_UPS]; /* 16 16 8 (16 16 4 4); padding (kernel - rate) / 2 */
    int n_res_kernels;           /* 3 */
    int res_kernel[VOICE_MAX_RES_KERNELS];     /* 3 5 7 (3 7 11) */
    int n_res_dilations;         /* 2 (type 2) or 3 (type 1) */
    int res_dilation[VOICE_MAX_RES_KERNELS][VOICE_MAX_RES_DILATIONS]; /* (1,2)(2,6)(3,12) / (1,3,5)x3 */
    int hop;                     /* samples per latent frame = product of ups_rate (256) */
} VoiceConfig;

/* A conv: w as described above, b [CO] (b.data NULL when the conv has no bias, e.g. dec.conv_post). */
typedef struct {
    Tensor w, b;
} VoiceConv;

/* Channel LayerNorm (VITS modules.LayerNorm, eps 1e-5): gamma, beta [C]. */
typedef struct {
    Tensor gamma, beta;
} VoiceNorm;

typedef struct {
    VoiceConv conv_q, conv_k, conv_v, conv_o; /* w [1, H, H], b [H] */
    Tensor emb_rel_k, emb_rel_v;              /* [H/NH, 2W+1, 1] (heads share one table) */
    VoiceNorm norm_1;                         /* after attention (norm_layers_1.i) */
    VoiceConv ffn_1;                          /* w [3, H, FF], b [FF] */
    VoiceConv ffn_2;                          /* w [3, FF, H], b [H] */
    VoiceNorm norm_2;                         /* after the FFN (norm_layers_2.i) */
} VoiceEncLayer;

typedef struct {
    Tensor emb;                               /* [H, V]: enc_p.emb.weight (stored as "sid" in 1-speaker exports) */
    VoiceEncLayer layers[VOICE_MAX_LAYERS];
    VoiceConv proj;                           /* w [1, H, 2I], b [2I]: m then logs */
} VoiceTextEncoder;

/* Dilated depth-separable conv stack (modules.DDSConv): layer i has dilation KW^i, groups = channels. */
typedef struct {
    VoiceConv sep[VOICE_DDS_LAYERS];          /* w [KW, 1, D], b [D] (depthwise) */
    VoiceConv c1x1[VOICE_DDS_LAYERS];         /* w [1, D, D], b [D] */
    VoiceNorm norm_1[VOICE_DDS_LAYERS], norm_2[VOICE_DDS_LAYERS];
} VoiceDdsConv;

/* modules.ConvFlow (rational-quadratic spline coupling on 2 channels). */
typedef struct {
    VoiceConv pre;                            /* w [1, 1, D], b [D] */
    VoiceDdsConv convs;
    VoiceConv proj;                           /* w [1, D, 3*bins-1], b [3*bins-1] */
} VoiceConvFlow;

typedef struct {
    VoiceConv pre;                            /* w [1, H, D], b [D] */
    VoiceDdsConv convs;
    VoiceConv proj;                           /* w [1, D, D], b [D] */
    VoiceConv cond;                           /* w [1, G, D], b [D]; multi-speaker only */
    Tensor ea_m;                              /* [1, 2]: ElementwiseAffine mean (dp.flows.0.m) */
    Tensor ea_exp_neg_logs;                   /* [1, 2]: exp(-dp.flows.0.logs), the reverse scale (exports fold
                                               * it into one constant; computed here when the file has logs) */
    float ea_m_host[2], ea_exp_neg_logs_host[2]; /* the same four numbers on the host */
    /* flows[k] is dp.flows.(2k+1). Inference runs k = VOICE_DP_FLOWS-1 … 1 (with a channel flip before
     * each) then the affine; VITS drops flows[0] in reverse ("useless vflow"), so exports omit its weights
     * and has_flow[0] is 0. */
    VoiceConvFlow flows[VOICE_DP_FLOWS];
    int has_flow[VOICE_DP_FLOWS];
} VoiceDurationPredictor;

/* modules.WN, the WaveNet of one coupling layer: layer i has dilation d = dilation_rate^i, padding (KW*d - d)/2. */
typedef struct {
    VoiceConv in_layers[VOICE_WN_LAYERS];     /* w [KW, H, 2H], b [2H] (tanh half, sigmoid half) */
    VoiceConv res_skip[VOICE_WN_LAYERS];      /* w [1, H, 2H], b [2H]; the last layer: [1, H, H], b [H] */
    VoiceConv cond;                           /* w [1, G, 2H*L], b [2H*L]; multi-speaker only */
} VoiceWaveNet;

/* modules.ResidualCouplingLayer, mean_only: flow.flows.(2k); a channel flip follows each in forward order. */
typedef struct {
    VoiceConv pre;                            /* w [1, I/2, H], b [H] */
    VoiceWaveNet enc;
    VoiceConv post;                           /* w [1, H, I/2], b [I/2] */
} VoiceCoupling;

typedef struct {
    VoiceConv convs[2 * VOICE_MAX_RES_DILATIONS]; /* type 2: convs.0..1; type 1: convs1.0..2 then convs2.0..2;
                                                   * each w [k, ch, ch], b [ch] */
} VoiceResBlock;

typedef struct {
    VoiceConv conv_pre;                       /* w [7, I, C0], b [C0] with C0 = dec_channels */
    VoiceConv cond;                           /* w [1, G, C0], b [C0]; multi-speaker only */
    VoiceConv ups[VOICE_MAX_UPS];             /* ConvTranspose: w [KU, C0>>(i+1), C0>>i], b [C0>>(i+1)] */
    VoiceResBlock res[VOICE_MAX_UPS * VOICE_MAX_RES_KERNELS]; /* resblocks.(i*n_res_kernels + j) */
    VoiceConv conv_post;                      /* w [7, C0>>n_ups, 1], no bias */
} VoiceDecoder;

typedef struct {
    VoiceTextEncoder enc;
    VoiceDurationPredictor dp;
    VoiceCoupling flow[VOICE_FLOWS];          /* flow[k] = flow.flows.(2k); reverse runs k = 3 … 0 */
    VoiceDecoder dec;
    Tensor emb_g;                             /* [G, NS]: speaker embedding; multi-speaker only */
} VoiceWeights;

/* One phoneme_id_map entry: a codepoint and the ids it maps to (usually one). */
typedef struct {
    uint32_t codepoint;
    int n_ids;
    const int64_t *ids;                       /* owned by the Voice */
} VoicePhoneme;

typedef struct {
    char *name;                               /* owned */
    int id;
} VoiceSpeaker;

/* A vowel_clusters entry (newer Piper voices): a run of codepoints the phonemizer merges into one phoneme,
 * mapped with the phoneme_id_map entry of the joined string (n_ids 0 when the map has none: the run is
 * then skipped, as piper-tts does). */
enum { VOICE_MAX_CLUSTER = 8, VOICE_MAX_CLUSTERS = 256 };
typedef struct {
    uint32_t cps[VOICE_MAX_CLUSTER];
    int n_cps;
    int n_ids;
    const int64_t *ids;                       /* owned by the Voice */
} VoiceCluster;

typedef struct Voice {
    VoiceConfig cfg;
    VoiceWeights w;
    /* phoneme_id_map sorted by codepoint; pad "_", bos "^", eos "$" ids resolved at load (required). */
    VoicePhoneme *phonemes;                   /* [n_phonemes] owned */
    int n_phonemes;
    int64_t id_pad, id_bos, id_eos;
    VoiceSpeaker *speakers;                   /* [n_speakers_named] owned, speaker_id_map (may be empty) */
    int n_speakers_named;
    VoiceCluster *clusters;                   /* [n_clusters] owned, vowel_clusters (usually none) */
    int n_clusters;
    int max_cluster;                          /* longest cluster, in codepoints (0: none) */
    char *name;                               /* file stem ("en_US-joe-medium"), owned */
    size_t n_params;                          /* floats bound into the weights */
    WeightStore *ws;                          /* owned: every Tensor in w */
    int64_t *id_pool;                         /* owned: VoicePhoneme.ids and VoiceCluster.ids */
} Voice;

/* Load VOICE.onnx and its config (json_path NULL: onnx_path + ".json"). Errors: -ENOENT / -errno for the
 * files, -EBADMSG malformed ONNX or JSON, -EINVAL a field or shape that contradicts the voice, -ENOTSUP a
 * well-formed voice of a kind Myna cannot run (phoneme_type "text"/"pinyin", external tensor data), -ENOMEM.
 * err gets one line naming the file, the tensor or field and what is wrong; the loader does not log. */
int voice_load(Backend *be /* borrowed, outlives the Voice */, const char *onnx_path, const char *json_path,
               Voice **ret, char *err, size_t err_len);
/* The same from memory (tests, fuzzing); name is used in messages and as Voice.name. */
int voice_load_memory(Backend *be, const void *onnx, size_t onnx_size, const char *json_text, size_t json_len,
                      const char *name, Voice **ret, char *err, size_t err_len);
/* The .json alone (no weights: ws NULL, w zeroed), for listing voices (name, language, quality, rate,
 * speakers) and for the phonemizer; the architecture is the quality level's (or "myna_vits"). */
int voice_load_config(const char *json_text, size_t json_len, const char *name, Voice **ret, char *err,
                      size_t err_len);
void voice_free(Voice *v); /* accepts NULL */

/* Ids of one (NFD) codepoint: returns the count and sets *ret_ids, or 0 when the voice has none. */
int voice_phoneme_ids(const Voice *v, uint32_t codepoint, const int64_t **ret_ids);
/* speaker_id_map lookup: the id, or -ENOENT. */
int voice_speaker_id(const Voice *v, const char *name);
const char *voice_quality_name(VoiceQuality q);

#endif
