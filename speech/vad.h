/* vad.h — voice activity detection on 16 kHz mono audio in 512-sample chunks (32 ms).
 *
 * What it is: Silero VAD (the network of the PyPI package silero-vad 6.2.3, silero_vad.jit, converted by
 * tools/convert-silero-vad.py to models/silero-vad.safetensors) run in plain C with its LSTM state and
 * 64-sample context carried between chunks, or — when no weights are installed — an energy VAD (frame RMS
 * in dB against an adaptive noise floor, mapped to a pseudo-probability). Both feed the same segmenter:
 * speech starts after min_speech_ms of p >= threshold (back-dated to the first such chunk, minus
 * speech_pad_ms), and ends after min_silence_ms (the hangover) of p < neg_threshold (at the first silent
 * chunk, plus speech_pad_ms).
 * What it is not: a resampler (feed 16 kHz) or a denoiser. Reference: tools/ref/vad_ref.py runs the
 * original TorchScript model; fixtures in tests/fixtures/audio/vad-*.
 */
#ifndef MYNA_VAD_H
#define MYNA_VAD_H

#include <stddef.h>
#include <stdint.h>

enum { VAD_SAMPLE_RATE = 16000, VAD_CHUNK = 512 };
#define VAD_MODEL_FILE "silero-vad.safetensors"

typedef struct {
    float threshold;        /* 0 = 0.5 */
    float neg_threshold;    /* 0 = threshold − 0.15 */
    int min_speech_ms;      /* 0 = 250 */
    int min_silence_ms;     /* hangover; 0 = 300 */
    int speech_pad_ms;      /* 0 = 30; negative = none */
} VadConfig;

typedef enum { VAD_EVENT_NONE = 0, VAD_EVENT_START = 1, VAD_EVENT_END = 2 } VadEventType;

typedef struct {
    VadEventType type;
    int64_t sample;          /* START: first speech sample (padded); END: one past the last (padded) */
} VadEvent;

typedef struct {
    int64_t start, end;      /* samples, [start, end) */
} VadSegment;

typedef struct Vad Vad;

/* Silero from a converted safetensors file. -ENOENT absent, -EBADMSG wrong tensors (err says which). */
int vad_new_silero(const char *path, const VadConfig *cfg, Vad **ret, char *err, size_t err_len);
int vad_new_energy(const VadConfig *cfg, Vad **ret);
/* Silero from models_dir/VAD_MODEL_FILE when present and valid, else the energy VAD (logged once). */
int vad_new_default(const char *models_dir, const VadConfig *cfg, Vad **ret);
void vad_free(Vad *v); /* accepts NULL */
int vad_is_silero(const Vad *v);
/* Back to the start of a stream: LSTM state, context, noise floor and segmenter cleared. */
void vad_reset(Vad *v);
/* One chunk of VAD_CHUNK samples. Writes the speech probability and at most one event per chunk. */
int vad_process(Vad *v, const float *chunk /* [VAD_CHUNK] */, float *ret_prob, VadEvent *ret_event);
/* End of stream: an END event if speech is open, else VAD_EVENT_NONE. */
void vad_flush(Vad *v, VadEvent *ret_event);
/* Whole buffer (reset first, last chunk zero-padded): writes up to max segments; *ret_n gets the count
 * found (may exceed max; only max are written). */
int vad_segments(Vad *v, const float *pcm, int64_t n, VadSegment *segs, int max, int *ret_n);

#endif
