/* mel.h — Whisper log-mel spectrogram front end (SPEC.md §5.1), batch and streaming.
 *
 * What it is: 16 kHz mono float PCM → log-mel frames exactly as openai-whisper's log_mel_spectrogram and
 * HF WhisperFeatureExtractor compute them: STFT n_fft 400, hop 160, periodic Hann window, center=True with
 * reflect padding (torch.stft), power |X|², Slaney mel filters (librosa.filters.mel, htk=False,
 * norm="slaney", fmin 0, fmax 8000; 80 or 128 bins), log10(max(mel, 1e-10)), clamp at (max − 8),
 * then (x + 4) / 4. The last STFT frame is dropped, so n samples give n / 160 frames (3000 for 30 s).
 * What it is not: a resampler (feed 16 kHz), or the encoder. The FFT is FFmpeg's av_tx (complex, 400).
 * Reference: tools/ref/mel_ref.py (transformers WhisperFeatureExtractor + an independent NumPy float64
 * implementation), fixtures in tests/fixtures/audio/.
 *
 * Layouts: mel_compute() writes Whisper's encoder input, shape [F, M] (PyTorch [n_mels, n_frames]: each mel
 * bin's frames are contiguous). The stream writes frame-major [M, F] (PyTorch [n_frames, n_mels]).
 */
#ifndef MYNA_MEL_H
#define MYNA_MEL_H

#include <stddef.h>
#include <stdint.h>

enum {
    MEL_SAMPLE_RATE = 16000,
    MEL_N_FFT = 400,
    MEL_HOP = 160,
    MEL_N_FREQ = MEL_N_FFT / 2 + 1,   /* 201 */
    MEL_N_SAMPLES_30S = 480000,
    MEL_N_FRAMES_30S = 3000,
};

typedef struct Mel Mel;

/* n_mels: 80 or 128 (any 1..256 is accepted). -EINVAL, -ENOMEM, -ENOTSUP when av_tx refuses. */
int mel_new(int n_mels, Mel **ret);
void mel_free(Mel *m); /* accepts NULL */
int mel_n_mels(const Mel *m);
/* Filterbank weights, shape [N_FREQ, M] (PyTorch [n_mels, 201], as mel_filters.npz). Borrowed. */
const float *mel_filters(const Mel *m);

/* Frames produced for n samples: n / 160 (the trailing STFT frame is dropped, as Whisper does). */
int64_t mel_n_frames(int64_t n_samples);

/* Batch: the first min(n, n_total) samples of pcm followed by zeros up to n_total samples (Whisper's
 * pad_or_trim: n_total = MEL_N_SAMPLES_30S; pass n_total = n for no padding). Writes mel_n_frames(n_total)
 * normalized frames to out, shape [F, M] = [n_frames] per mel bin (PyTorch [n_mels, n_frames]).
 * -EINVAL when n_total <= 200 (reflect padding needs more than 200 samples, as torch.stft). */
int mel_compute(Mel *m, const float *pcm, int64_t n, int64_t n_total, float *out);

/* Whisper's normalization over one buffer of raw log10 values: x = max(x, max(all) − 8); x = (x + 4) / 4. */
void mel_normalize(float *logmel, size_t n);

/* Streaming: push any chunking of the signal, receive raw log10(max(mel, 1e-10)) frames ([M] each,
 * frame-major) as soon as their window is complete (frame i needs samples up to 160·i + 200); finish()
 * reflect-pads the end and emits the rest. Concatenated output equals the batch spectrogram before
 * mel_normalize() (bit-identical: same code path). Frames are handed to a callback; a negative return
 * from the callback stops and is returned. */
typedef int (*MelFrameFn)(void *user, int64_t frame_index, const float *frame /* [M] */);
typedef struct MelStream MelStream;

int mel_stream_new(Mel *m /* borrowed, must outlive the stream */, MelStream **ret);
void mel_stream_free(MelStream *s); /* accepts NULL */
void mel_stream_reset(MelStream *s);
int mel_stream_push(MelStream *s, const float *pcm, size_t n, MelFrameFn fn, void *user);
/* Pushes n_zeros zeros without the caller allocating them (Whisper's 30 s padding). */
int mel_stream_push_zeros(MelStream *s, int64_t n_zeros, MelFrameFn fn, void *user);
/* Emits the remaining frames; -EINVAL when 200 or fewer samples were pushed in total. */
int mel_stream_finish(MelStream *s, MelFrameFn fn, void *user);
int64_t mel_stream_n_samples(const MelStream *s);

#endif
