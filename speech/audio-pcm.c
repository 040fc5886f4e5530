/* audio-pcm.c — the parts of speech/audio.h that need no FFmpeg (decode option defaults, freeing PCM), and
 * in a build without FFmpeg (-Dffmpeg=disabled) decoders that refuse with -ENOTSUP and say why, so every
 * program links and a caller gets a clear error instead of a link failure.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio.h"
#include "config.h" /* HAVE_FFMPEG */

void audio_decode_options_default(AudioDecodeOptions *opt)
{
    *opt = (AudioDecodeOptions){
        .sample_rate = AUDIO_DEFAULT_SAMPLE_RATE,
        .max_seconds = AUDIO_DEFAULT_MAX_SECONDS,
        .max_input_bytes = AUDIO_DEFAULT_MAX_INPUT_BYTES,
        .timeout_ms = AUDIO_DEFAULT_TIMEOUT_MS,
        .max_cpu_s = AUDIO_DEFAULT_MAX_CPU_S,
        .cancel = NULL,
    };
}

void audio_pcm_free(AudioPcm *pcm)
{
    if (!pcm)
        return;
    free(pcm->samples);
    memset(pcm, 0, sizeof(*pcm));
}

#if !HAVE_FFMPEG
static int no_ffmpeg(char *err, size_t err_len)
{
    if (err && err_len)
        snprintf(err, err_len, "audio decoding is not available: this build of Myna has no FFmpeg");
    return -ENOTSUP;
}

int audio_decode_memory(const void *data, size_t size, const AudioDecodeOptions *opt, AudioPcm *ret,
                        char *err, size_t err_len)
{
    (void)data, (void)size, (void)opt, (void)ret;
    return no_ffmpeg(err, err_len);
}

int audio_decode_fd(int fd, const AudioDecodeOptions *opt, AudioPcm *ret, char *err, size_t err_len)
{
    (void)fd, (void)opt, (void)ret;
    return no_ffmpeg(err, err_len);
}

void audio_route_ffmpeg_logs(void) {}
#endif
