/* bench-audio.c — speech front-end costs on this CPU (single thread): Whisper log-mel (80 and 128 bins)
 * per second of audio and for one 30 s window, Silero VAD (when models/silero-vad.safetensors is
 * installed) and energy VAD per second of audio, and FFmpeg decode+resample of a WAV built in memory.
 * Usage: bench-audio [seconds of audio, default 30]. Prints one line per measurement. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audio.h"
#include "mel.h"
#include "vad.h"
#include "bench-util.h"

static void bench_vad(Vad *v, const char *name, const float *pcm, int64_t n, double secs)
{
    VadSegment seg[64];
    int ns = 0;
    double t0 = bench_now_s(), dt;
    vad_segments(v, pcm, n, seg, 64, &ns);
    dt = bench_now_s() - t0;
    printf("%-14s %8.3f ms per second of audio (%.0fx real time, %d segments)\n", name, dt * 1e3 / secs,
           secs / dt, ns);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 30.0;
    int64_t n = (int64_t)(secs * 16000);
    float *pcm, *out;
    char path[2048], err[256];
    const char *home = getenv("HOME"), *md = getenv("MYNA_MODELS_DIR");
    Vad *v = NULL;

    if (secs <= 1 || secs > 600)
        return 2;
    pcm = malloc((size_t)n * sizeof(float));
    out = malloc((size_t)mel_n_frames(n > MEL_N_SAMPLES_30S ? n : MEL_N_SAMPLES_30S) * 128 * sizeof(float));
    for (int64_t i = 0; i < n; i++) /* bursts of a harmonic tone over noise */
        pcm[i] = (float)(((i / 16000) % 3 ? 0.2 * sin(i * 0.06) * sin(i * 0.0007) : 0.0) +
                         1e-3 * ((double)rand() / RAND_MAX - 0.5));
    for (int nm = 80; nm <= 128; nm += 48) {
        Mel *m = NULL;
        double t0, dt;
        mel_new(nm, &m);
        t0 = bench_now_s();
        mel_compute(m, pcm, n, n, out);
        dt = bench_now_s() - t0;
        printf("log-mel %3d    %8.3f ms per second of audio (%.0fx real time)\n", nm, dt * 1e3 / secs, secs / dt);
        t0 = bench_now_s();
        mel_compute(m, pcm, n, MEL_N_SAMPLES_30S, out);
        printf("log-mel %3d    %8.3f ms per 30 s window\n", nm, (bench_now_s() - t0) * 1e3);
        mel_free(m);
    }
    if (md) snprintf(path, sizeof(path), "%s/%s", md, VAD_MODEL_FILE);
    else snprintf(path, sizeof(path), "%s/.local/share/myna/models/%s", home ? home : "", VAD_MODEL_FILE);
    if (vad_new_silero(path, NULL, &v, err, sizeof(err)) == 0) {
        bench_vad(v, "silero VAD", pcm, n, secs);
        vad_free(v);
    } else {
        printf("silero VAD     skipped: %s\n", err);
    }
    if (vad_new_energy(NULL, &v) == 0) {
        bench_vad(v, "energy VAD", pcm, n, secs);
        vad_free(v);
    }
    {   /* decode: a 44.1 kHz stereo s16 WAV of the same length, resampled to 16 kHz mono */
        int64_t ns = (int64_t)(secs * 44100);
        size_t bytes = 44 + (size_t)ns * 4;
        unsigned char *w = calloc(1, bytes);
        AudioPcm a = { 0 };
        double t0;
        unsigned hdr[] = { 0x46464952, (unsigned)(bytes - 8), 0x45564157, 0x20746d66, 16, 0x00020001, 44100,
                           44100 * 4, 0x00100004, 0x61746164, (unsigned)(ns * 4) };
        memcpy(w, hdr, sizeof(hdr));
        for (int64_t i = 0; i < ns; i++) {
            short s = (short)(8000 * sin(i * 0.0627));
            memcpy(w + 44 + i * 4, &s, 2);
            memcpy(w + 46 + i * 4, &s, 2);
        }
        t0 = bench_now_s();
        if (audio_decode_memory(w, bytes, NULL, &a, err, sizeof(err)) == 0)
            printf("decode WAV     %8.3f ms per second of audio (44.1 kHz stereo -> 16 kHz mono)\n",
                   (bench_now_s() - t0) * 1e3 / secs);
        else
            printf("decode WAV     failed: %s\n", err);
        audio_pcm_free(&a);
        free(w);
    }
    free(pcm);
    free(out);
    return 0;
}
