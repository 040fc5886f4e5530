/* whisper.h — Whisper speech recognition: encoder (log-mel → states), decoder (tokens → logits) and
 * transcription of 16 kHz PCM (30 s windows, greedy decoding with temperature fallback, conditioned on the
 * previous window's text; by default the same decisions as faster-whisper's transcribe, see
 * whisper-transcribe.c).
 *
 * What it is: the model of OpenAI Whisper (Radford et al. 2022, openai-whisper model.py / decoding.py /
 * transcribe.py; HF WhisperForConditionalGeneration) running on a Backend; loads an HF Whisper folder
 * (config.json + model.safetensors [+ tokenizer.json, generation_config.json]), e.g. the one
 * tools/convert-whisper-ct2.py makes from a CTranslate2 model, or a whisper.cpp legacy ggml .bin file.
 * What it is not: audio decoding or resampling (speech/audio.h), the log-mel front end (speech/mel.h,
 * used by whisper_transcribe), beam search, word-level timestamps.
 *
 * Layouts (tensor.h alphabet, innermost first): log-mel input [F, M] (each mel bin's frames contiguous,
 * PyTorch [n_mels, n_frames], as mel_compute writes it); encoder states [C, T] with T = F / 2 (PyTorch
 * [T, C]); logits [V, T].
 * A Whisper object holds activations and caches for one stream: calls on one object must not overlap.
 */
#ifndef MYNA_WHISPER_H
#define MYNA_WHISPER_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

typedef struct Whisper Whisper;

typedef struct {
    int n_vocab;
    int n_mels;
    int n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer, n_audio_ff; /* 1500 positions for 30 s */
    int n_text_ctx, n_text_state, n_text_head, n_text_layer, n_text_ff;
    int multilingual;   /* vocab >= 51865: language and task tokens in the prompt */
} WhisperConfig;

/* Special token ids (-1 when the vocabulary has none). */
typedef struct {
    int32_t eot, sot, sot_prev, sot_lm, translate, transcribe, no_speech, no_timestamps, timestamp_begin;
    int32_t lang_begin; /* <|en|>, first language token (multilingual) */
} WhisperTokens;

typedef struct {
    int timestamps;                    /* 1 (default): timestamp tokens, windows seek to the last one;
                                          0: prompt ends with <|notimestamps|>, whole-window seeks */
    const char *language;              /* multilingual models: "en", "de", …; NULL means "en" */
    int translate;                     /* multilingual models: <|translate|> instead of <|transcribe|> */
    float temperature_inc;             /* fallback ladder 0, inc, 2·inc … ≤ 1.0; 0 disables fallback */
    float compression_ratio_threshold; /* zlib ratio above which a window is decoded again (2.4) */
    float logprob_threshold;           /* mean token log-prob below which a window is decoded again (-1) */
    float no_speech_threshold;         /* P(<|nospeech|>) above which a low-confidence window is silence */
    int max_tokens;                    /* sampled tokens per window; 0 = n_text_ctx − prompt length (448
                                          tokens in all, faster-whisper's max_length) */
    int condition_on_previous_text;    /* 1 (default): the prompt starts <|startofprev|> + the last
                                          n_text_ctx / 2 − 1 tokens of earlier windows' segments */
    float prompt_reset_on_temperature; /* a window decoded above this (0.5) starts a fresh prompt history */
    int pad_silence;                   /* 0 (default): a short last window is padded with zeros in normalised
                                          log-mel space (openai pad_or_trim, faster-whisper); 1: with the
                                          log-mel of 30 s of silence (whisper.cpp, HF) */
    uint64_t seed;                     /* sampling at temperature > 0 */
} WhisperOptions;

typedef struct {
    int n_windows, n_tokens, n_fallbacks, n_silent;
    double audio_s, mel_s, encode_s, decode_s; /* seconds */
} WhisperStats;

/* Longest input whisper_transcribe accepts (the whole log-mel is kept, as openai-whisper does). */
#define WHISPER_MAX_SECONDS 3600

void whisper_options_default(WhisperOptions *o);

/* path: an HF Whisper folder, or a whisper.cpp .bin file (SPEC.md §5.4; its vocabulary gives the token
 * texts, special ids follow whisper.cpp unless the vocabulary names them). Weights F32/F16/BF16 (and, in a
 * .bin, quantized matrices the backend supports); matrices keep their dtype; norms, biases and positions
 * become F32. An HF folder's tokenizer.json is optional (without it only the model calls work).
 * Errors: -ENOENT (no such folder/file), -EBADMSG (missing tensor, wrong shape, bad config: err says which),
 * -ENOTSUP, -ENOMEM. */
int whisper_load(const char *path, Backend *be, Whisper **ret, char *err, size_t err_len);
void whisper_free(Whisper *w); /* accepts NULL */

/* Lossy speed-ups of the CPU backend (other backends always run the exact path):
 *  - logits against a Q8_0 copy of the token embedding made at load (21 MB for tiny.en; the F16 table is
 *    40 MB, read once per decoded token),
 *  - cross-attention keys and values kept as F16 (the decoder reads them once per token per layer).
 * WHISPER_FAST_OFF (default): never (and no Q8_0 copy is made): transcripts match faster-whisper's float32
 * ones (docs/PERFORMANCE.md). WHISPER_FAST_TRANSCRIBE: only whisper_transcribe uses them (its output is
 * text, checked by word error rate); whisper_encode / whisper_decode called directly stay exact F32
 * numerics. WHISPER_FAST_ALL: direct calls too. whisper_load_options_default reads MYNA_WHISPER_FAST ("on"
 * or "all") from the environment for A/B runs. Word error rate on the 22-sentence test
 * (tests/model/test-whisper.c --real, before issue 17's decoding changes): 13.1 % fast, 13.7 % exact. */
typedef enum { WHISPER_FAST_TRANSCRIBE = 0, WHISPER_FAST_OFF = 1, WHISPER_FAST_ALL = 2 } WhisperFast;

typedef struct {
    WhisperFast fast;
} WhisperLoadOptions;

void whisper_load_options_default(WhisperLoadOptions *o);
/* whisper_load with options (NULL = defaults; whisper_load is whisper_load_ex with NULL). */
int whisper_load_ex(const char *path, Backend *be, const WhisperLoadOptions *o, Whisper **ret, char *err,
                    size_t err_len);
const WhisperConfig *whisper_config(const Whisper *w);
const WhisperTokens *whisper_tokens(const Whisper *w);

/* Encoder: mel [F, M] host floats with F even and 2 <= F <= 2·n_audio_ctx (3000 frames = 30 s for the
 * reference model). Keeps the states [C, F/2] for the decoder (cross-attention K/V computed once here) and
 * copies them to ret_states (host, F/2 · C floats) when it is not NULL. */
int whisper_encode(Whisper *w, const float *mel, int n_frames, float *ret_states);
/* The same in stages, so a scheduler can interleave other work between them (whisper_run_step): stage 0 the
 * convolution stem, 1..n_audio_layer one layer each, n_audio_layer + 1 the final norm and the decoder's
 * cross-attention K/V (and ret_states). Stages must run in order on one mel with no other encode between. */
int whisper_encode_stage(Whisper *w, const float *mel, int n_frames, int stage, float *ret_states);
/* The last encoder output on the backend, [C, T] (borrowed, valid until the next encode); NULL before. */
const Tensor *whisper_encoder_output(const Whisper *w);

/* Decoder: feed n ids at positions n_past.. (the self-attention cache keeps earlier ones; n_past = 0
 * restarts). Needs a prior whisper_encode. logits: host [V, n] when all_rows, else [V] for the last id;
 * NULL skips them. -EINVAL for ids out of range or n_past + n > n_text_ctx. */
int whisper_decode(Whisper *w, const int32_t *ids, int n, int n_past, float *logits, int all_rows);

/* Transcribe n samples of 16 kHz mono PCM (needs token texts — tokenizer.json or a .bin vocabulary — and
 * FFmpeg's mel). *ret_text: malloc'd UTF-8, leading space trimmed (caller frees). stats may be NULL.
 * -E2BIG above WHISPER_MAX_SECONDS; -ENOTSUP without token texts, without FFmpeg, or for a model whose
 * encoder does not take 30 s windows (n_audio_ctx != 1500). */
int whisper_transcribe(Whisper *w, const float *pcm16k, size_t n, const WhisperOptions *o, char **ret_text,
                       WhisperStats *stats);

/* The same transcription one unit at a time, for a scheduler that interleaves it with other work (mynad's
 * inference worker, between other sessions' tokens, checking cancel between units): begin computes the
 * log-mel of the whole input; each step runs one encoder stage of a 30 s window (whisper_encode_stage) or
 * decodes the window at one temperature of the fallback ladder, and returns 1 while more steps remain, 0
 * when done, or a negative errno (as whisper_transcribe); whisper_run_text gives the text and stats at the
 * end. Several runs may share one Whisper object between steps (a run encodes its window again when
 * another run's step ran since). */
typedef struct WhisperRun WhisperRun;
int whisper_run_begin(Whisper *w, const float *pcm16k, size_t n, const WhisperOptions *o, WhisperRun **ret);
int whisper_run_step(WhisperRun *run);
int whisper_run_text(WhisperRun *run, char **ret_text, WhisperStats *stats);
void whisper_run_free(WhisperRun *run);               /* accepts NULL */

/* Text of one token (raw bytes, timestamps as "<|1.24|>", other specials as their text); count like
 * snprintf. */
int whisper_token_text(const Whisper *w, int32_t id, char *out, size_t cap);

#endif
