/* bench-whisper — Whisper speed on the CPU backend: encoder time per 30 s window and the real-time factor
 * of whole transcriptions (mel + encoder + decoder wall time / audio duration), on 1 and 2 threads.
 *
 * Usage: bench-whisper [MODEL_DIR [AUDIO.f32]]
 *   MODEL_DIR defaults to $MYNA_MODELS_DIR/whisper-tiny.en (or ~/.local/share/myna/models/…);
 *   AUDIO.f32 is raw float32 16 kHz mono; without it ~25 s of English is synthesized with espeak-ng
 *   (en-us, 150 wpm) and resampled with ffmpeg. Prints one line per thread count (numbers for
 *   docs/PERFORMANCE.md "Speech").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "whisper.h"

static const char *k_text =
    "Good morning everyone. Today we will talk about the plans for the next quarter. "
    "First, the sales team will present the numbers from last month. Then we will discuss the new office, "
    "which opens in the spring. Please send your questions by email before Friday. "
    "After lunch there is a short training session about the new software. "
    "Thank you all for coming, and let us begin.";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *read_f32(const char *path, size_t *ret_n)
{
    FILE *f = fopen(path, "rb");
    float *p = NULL;
    long size;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (p = malloc((size_t)size)) && fread(p, 1, (size_t)size, f) == (size_t)size) {
        *ret_n = (size_t)size / sizeof(float);
    } else {
        free(p);
        p = NULL;
    }
    fclose(f);
    return p;
}

int main(int argc, char **argv)
{
    char mdir[4096], tmp[] = "/tmp/bench-whisper.XXXXXX", path[4200], cmd[9000], err[512] = "";
    const char *home = getenv("HOME"), *models = getenv("MYNA_MODELS_DIR");
    float *pcm = NULL, *mel;
    size_t n = 0;
    int synthesized = 0;

    if (argc > 1)
        snprintf(mdir, sizeof(mdir), "%s", argv[1]);
    else if (models)
        snprintf(mdir, sizeof(mdir), "%s/whisper-tiny.en", models);
    else
        snprintf(mdir, sizeof(mdir), "%s/.local/share/myna/models/whisper-tiny.en", home ? home : "");
    if (argc > 2) {
        pcm = read_f32(argv[2], &n);
    } else if (mkdtemp(tmp)) {
        snprintf(cmd, sizeof(cmd), "espeak-ng -v en-us -s 150 -w '%s/a.wav' \"%s\" && "
                 "ffmpeg -loglevel error -y -i '%s/a.wav' -ar 16000 -ac 1 -f f32le '%s/a.f32'", tmp, k_text, tmp, tmp);
        if (system(cmd) == 0) {
            snprintf(path, sizeof(path), "%s/a.f32", tmp);
            pcm = read_f32(path, &n);
        }
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
        if (system(cmd) != 0)
            fprintf(stderr, "bench-whisper: cannot remove %s\n", tmp);
        synthesized = 1;
    }
    if (!pcm) {
        fprintf(stderr, "bench-whisper: no audio (give AUDIO.f32 or install espeak-ng and ffmpeg)\n");
        return 1;
    }
    printf("audio: %.2f s (%s)\n", (double)n / 16000, synthesized ? "espeak-ng" : argv[2]);
    for (int threads = 1; threads <= 2; threads++) {
        Backend *be = NULL;
        Whisper *w = NULL;
        WhisperOptions o;
        WhisperStats st;
        char *text = NULL;
        double t0, enc_best = 1e9, total;

        if (backend_cpu_new(threads, &be) < 0 || whisper_load(mdir, be, &w, err, sizeof(err)) < 0) {
            fprintf(stderr, "bench-whisper: %s: %s\n", mdir, err);
            backend_free(be);
            free(pcm);
            return 1;
        }
        const WhisperConfig *c = whisper_config(w);
        mel = calloc((size_t)c->n_mels * 2 * (size_t)c->n_audio_ctx, sizeof(float));
        for (int rep = 0; mel && rep < 3; rep++) {
            t0 = now_s();
            if (whisper_encode(w, mel, 2 * c->n_audio_ctx, NULL) < 0)
                break;
            double dt = now_s() - t0;
            enc_best = dt < enc_best ? dt : enc_best;
        }
        free(mel);
        whisper_options_default(&o);
        t0 = now_s();
        if (whisper_transcribe(w, pcm, n, &o, &text, &st) < 0) {
            fprintf(stderr, "bench-whisper: transcription failed\n");
        } else {
            total = now_s() - t0;
            printf("threads %d: encoder %.3f s per 30 s window (best of 3); transcribe %.2f s audio in %.3f s: "
                   "RTF %.3f (mel %.3f s, encoder %.3f s / %d windows, decoder %.3f s / %d tokens = %.1f ms/token, "
                   "%d fallbacks)\n", threads, enc_best, st.audio_s, total, total / st.audio_s, st.mel_s,
                   st.encode_s, st.n_windows, st.decode_s, st.n_tokens,
                   st.n_tokens ? 1e3 * st.decode_s / st.n_tokens : 0.0, st.n_fallbacks);
            if (threads == 2)
                printf("text: %s\n", text);
        }
        free(text);
        whisper_free(w);
        backend_free(be);
    }
    free(pcm);
    return 0;
}
