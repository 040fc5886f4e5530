/* fuzz-audio.c — libFuzzer target for audio decoding (speech/audio.c): the input is handed to
 * audio_decode_memory() with small caps (20 s of output, 2 s deadline) and, when accepted, every sample
 * must be finite; then the first 4000 samples go through the log-mel front end (speech/mel.c) and the
 * energy VAD, the way the speech path consumes them. Without -Dfuzzing it is linked with replay-main.c
 * and runs the seed corpus tests/fuzz/corpus/audio once. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "audio.h"
#include "mel.h"
#include "vad.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile float g_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    AudioDecodeOptions o = { .max_seconds = 20, .timeout_ms = 2000, .max_input_bytes = 4 << 20 };
    AudioPcm pcm = { 0 };
    char err[256];

    if (!init) {
        audio_route_ffmpeg_logs();
        init = 1;
    }
    if (audio_decode_memory(data, size, &o, &pcm, err, sizeof(err)) < 0)
        return 0;
    if (pcm.n_samples <= 0 || pcm.n_samples > (int64_t)(20 * 16000) + 16384 || pcm.sample_rate != 16000)
        __builtin_trap();
    for (int64_t i = 0; i < pcm.n_samples; i++)
        if (!isfinite(pcm.samples[i]))
            __builtin_trap();
    {
        int64_t n = pcm.n_samples < 4000 ? pcm.n_samples : 4000;
        Mel *m = NULL;
        Vad *v = NULL;
        VadSegment seg[8];
        int nseg;
        if (n > 200 && mel_new(80, &m) == 0) {
            float *out = malloc((size_t)mel_n_frames(n) * 80 * sizeof(float));
            if (out && mel_compute(m, pcm.samples, n, n, out) == 0)
                g_sink += out[0];
            free(out);
        }
        mel_free(m);
        if (vad_new_energy(NULL, &v) == 0 && vad_segments(v, pcm.samples, n, seg, 8, &nseg) == 0)
            g_sink += (float)nseg;
        vad_free(v);
    }
    audio_pcm_free(&pcm);
    return 0;
}
