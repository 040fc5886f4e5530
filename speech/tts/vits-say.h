/* vits-say.h — text → speech with a Piper voice, offline: phonemize (phonemize.h), then per sentence
 * vits_encode and vits_decode over latent windows (VITS_SAY_FIRST frames, then VITS_SAY_WINDOW: each
 * window decodes vits_margin frames of context on both sides, so few long windows waste least), each window
 * handed to a sink as soon as it is decoded. Used by `myna-run --say` and
 * bench/bench-tts. Output gain is fixed (VITS_SAY_GAIN); int16 conversion clips at ±1.
 */
#ifndef MYNA_VITS_SAY_H
#define MYNA_VITS_SAY_H

#include <stdint.h>
#include <stdio.h>

#include "vits.h"

enum { VITS_SAY_FIRST = 12, VITS_SAY_WINDOW = 256 };
#define VITS_SAY_GAIN 1.0f

/* Receives n samples (the decoder's float output × gain); returns 0 or a negative errno to stop. */
typedef int (*VitsSink)(void *ctx, const float *pcm, int64_t n);

typedef struct {
    int n_sentences;
    int64_t samples;
    double first_audio_s; /* from the call to the first samples handed to the sink */
    double total_s;
} VitsSayStats;

int vits_say(Vits *v, const Voice *voice, const char *text, const VitsParams *p, VitsSink sink, void *ctx,
             VitsSayStats *st, char *err, size_t err_len);

/* A sink writing 16-bit mono WAV to a FILE (header patched on vits_wav_close). */
typedef struct {
    FILE *f;
    int64_t samples;
    int clipped;
} VitsWav;
int vits_wav_open(VitsWav *w, const char *path, int sample_rate);
int vits_wav_sink(void *ctx, const float *pcm, int64_t n);
int vits_wav_close(VitsWav *w, int sample_rate);

#endif
