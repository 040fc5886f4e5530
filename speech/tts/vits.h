/* vits.h — Piper (VITS) synthesis on the backend op table: phoneme ids → 1-channel float audio, streamed.
 *
 * vits_new() takes a loaded voice's configuration and weights (speech/tts/voice.h) and repacks every conv
 * into the backend's conv layouts (core/backend.h; a one-time copy). Synthesis is split where Piper's graph
 * can be split — at the flow output:
 *   vits_encode   once per sentence: text encoder → stochastic duration predictor in reverse (noise_w) →
 *                 durations ceil(exp(logw)·length_scale) → prior z_p = m + ε·exp(logs)·noise_scale over
 *                 frames, kept on the backend
 *   (flow)        z = flow⁻¹(z_p), run by vits_decode on the frames it needs: first a window reaching just
 *                 past the first decode (with the flow's own receptive-field margin), then all the rest,
 *                 so the first audio does not wait for the whole sentence's flow
 *   vits_decode   HiFi-GAN over any frame range [f0, f1) of z, run on [f0 − M, f1 + M) clipped to the
 *                 utterance with M >= the decoder's receptive field (vits_margin), so a caller can stream
 *                 small windows first and larger ones later and get the samples of one whole-utterance
 *                 decode (tests/model/test-vits.c checks this)
 * Noise comes from a seeded generator (VitsParams.seed), so a request is reproducible; with noise_scale =
 * noise_w = 0 the output is deterministic and matches onnxruntime on the voice's .onnx.
 * The audio is the decoder's tanh output as is: no per-sentence normalisation (callers apply a fixed gain).
 * Each phoneme's sample span is durations × hop (vits_span). Errors: negative errno with one line in err.
 */
#ifndef MYNA_VITS_H
#define MYNA_VITS_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "voice.h"

typedef struct Vits Vits;

typedef struct {
    float noise_scale;  /* prior noise (voice default 0.667) */
    float length_scale; /* >1 slower (voice default 1) */
    float noise_w;      /* duration noise (voice default 0.8) */
    int speaker;        /* speaker id for multi-speaker voices (0 otherwise) */
    uint64_t seed;      /* noise generator seed */
} VitsParams;

/* One encoded sentence: durations on the host, latent on the backend. */
typedef struct {
    int64_t n_ids;
    int32_t *dur;     /* [n_ids] frames per phoneme id, owned */
    int64_t frames;   /* F = max(Σ dur, 1) */
    int64_t samples;  /* F · hop */
    Tensor pp, pq;    /* [I/2, F] each: the two halves of the prior z_p, owned (backend) */
    Tensor zp, zq;    /* [I/2, F] each: the two halves of the flow output z (frames [0, ready) valid) */
    int64_t ready;
    int speaker;
} VitsUtt;

/* The voice's defaults (scales from the .json, speaker 0, seed 0). */
VitsParams vits_params_default(const VoiceConfig *cfg);

int vits_new(Backend *be /* borrowed */, const VoiceConfig *cfg, const VoiceWeights *w, Vits **ret, char *err,
             size_t err_len);
void vits_free(Vits *v); /* accepts NULL */
int vits_hop(const Vits *v);    /* samples per latent frame */
int vits_margin(const Vits *v); /* latent frames of context each side that vits_decode adds */

/* ids: [n] phoneme ids (< the voice's n_symbols). */
int vits_encode(Vits *v, const int64_t *ids, int64_t n, const VitsParams *p, VitsUtt **ret, char *err,
                size_t err_len);
void vits_utt_free(Vits *v, VitsUtt *u); /* accepts NULL */
/* out: (f1 − f0)·hop samples of frames [f0, f1), 0 <= f0 < f1 <= frames. */
int vits_decode(Vits *v, VitsUtt *u, int64_t f0, int64_t f1, float *out, char *err, size_t err_len);
/* Sample span [*s0, *s1) of phoneme id i of u. */
void vits_span(const Vits *v, const VitsUtt *u, int64_t i, int64_t *s0, int64_t *s1);

#endif
