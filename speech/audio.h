/* audio.h — decode untrusted audio (any whitelisted container/codec, through FFmpeg) to mono float PCM.
 *
 * What it is: bytes in memory or an fd → 16 kHz (or the asked rate) mono float32, resampled and downmixed
 * with libswresample's defaults (the same as `ffmpeg -ac 1 -ar 16000`, which is how openai-whisper loads
 * audio). Input is read only through a custom AVIOContext over the caller's buffer/fd: no file names, no
 * protocols (protocol_whitelist is empty and io_open refuses every nested open, so HLS playlists, concat
 * scripts and file:// references cannot reach the file system), demuxers and decoders from a whitelist,
 * caps on input bytes, declared and decoded duration, channel count and sample rate, a wall-clock
 * deadline enforced by FFmpeg's interrupt callback and by the fd reader's poll(), a CPU-time budget of the
 * calling thread and a cancel flag (both checked in the interrupt callback and between packets).
 * What it is not: a streaming decoder or a device; see audio-device.h for capture.
 * Errors (negative errno; err gets one line saying why):
 *   -EBADMSG malformed or undecodable input      -ENOTSUP container/codec not on the whitelist
 *   -EFBIG   over a size or duration cap           -ETIMEDOUT deadline passed
 *   -ETIME   the CPU-time budget ran out           -ECANCELED *cancel became nonzero
 *   -EIO     the fd could not be read             -EINVAL bad arguments     -ENOMEM
 */
#ifndef MYNA_AUDIO_H
#define MYNA_AUDIO_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum {
    AUDIO_DEFAULT_SAMPLE_RATE = 16000,
    AUDIO_DEFAULT_MAX_SECONDS = 600,           /* 10 minutes of decoded audio */
    AUDIO_DEFAULT_TIMEOUT_MS = 20000,
    AUDIO_MAX_CHANNELS = 16,
    AUDIO_MAX_SOURCE_RATE = 384000,
};
#define AUDIO_DEFAULT_MAX_INPUT_BYTES ((int64_t)256 << 20)
/* CPU budget of one decode. Measured on one Zen 4 core of a shared, busy machine, 599 s of 48 kHz stereo
 * decoded and resampled to 16 kHz mono: Vorbis 0.38 s, FLAC 0.49 s, MP3 0.58–0.71 s, AAC 0.67 s, Opus
 * 1.08–1.40 s. 10 s is ≥ 7× the slowest, for older or busier cores, and still refuses inputs built to burn
 * CPU well before the 20 s wall deadline. */
#define AUDIO_DEFAULT_MAX_CPU_S 10.0
/* Decoded samples are clamped to ±this (float PCM may hold anything; 8 = +18 dBFS keeps real overshoot). */
#define AUDIO_MAX_ABS 8.0f

typedef struct {
    int sample_rate;          /* output rate, 8000..192000; 0 = 16000 */
    double max_seconds;       /* cap on declared and decoded duration; 0 = AUDIO_DEFAULT_MAX_SECONDS */
    int64_t max_input_bytes;  /* cap on bytes read; 0 = AUDIO_DEFAULT_MAX_INPUT_BYTES */
    int timeout_ms;           /* wall-clock deadline for the whole decode; 0 = AUDIO_DEFAULT_TIMEOUT_MS */
    /* CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID) the decode may spend; 0 = no budget (so a
     * zero-initialised struct has none: use audio_decode_options_default). Over it → -ETIME. */
    double max_cpu_s;
    const atomic_int *cancel; /* borrowed; NULL = none; nonzero → -ECANCELED (polled like the budget) */
} AudioDecodeOptions;

/* Every field at its default: 16000 Hz, AUDIO_DEFAULT_MAX_SECONDS, AUDIO_DEFAULT_MAX_INPUT_BYTES,
 * AUDIO_DEFAULT_TIMEOUT_MS, AUDIO_DEFAULT_MAX_CPU_S, no cancel flag. opt == NULL in the decode calls means
 * the same. */
void audio_decode_options_default(AudioDecodeOptions *opt);

typedef struct {
    float *samples;           /* owned; [n_samples] mono, nominally in [-1, 1]; always finite, |x| <= AUDIO_MAX_ABS */
    int64_t n_samples;
    int sample_rate;
    int src_sample_rate;      /* what the stream declared */
    int src_channels;
    char container[32];       /* demuxer name, e.g. "wav" */
    char codec[32];           /* decoder name, e.g. "pcm_s16le" */
} AudioPcm;

/* opt may be NULL (defaults). On success *ret is filled (free with audio_pcm_free). */
int audio_decode_memory(const void *data, size_t size, const AudioDecodeOptions *opt, AudioPcm *ret,
                        char *err, size_t err_len);
/* Reads the fd from its current position (pipes and sockets work; seekable fds are read with pread
 * from the current offset, which is left unchanged). The fd stays open and owned by the caller. */
int audio_decode_fd(int fd, const AudioDecodeOptions *opt, AudioPcm *ret, char *err, size_t err_len);
void audio_pcm_free(AudioPcm *pcm); /* accepts NULL; frees samples and zeroes the struct */
/* FFmpeg prints warnings about damaged input to stderr by default; this (process-wide, call once from main)
 * sends warnings and errors to log.h at debug level instead, so hostile input cannot flood the log. */
void audio_route_ffmpeg_logs(void);

#endif
