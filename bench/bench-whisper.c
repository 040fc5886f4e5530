/* bench-whisper — Whisper speed on the CPU backend: encoder time per 30 s window and the real-time factor
 * of whole transcriptions (mel + encoder + decoder wall time / audio duration), on 1 and 2 threads.
 *
 * Usage: bench-whisper [MODEL_DIR|MODEL.bin [AUDIO.f32 [REPS [THREADS]]]]
 *   MODEL_DIR defaults to $MYNA_MODELS_DIR/whisper-tiny.en (or ~/.local/share/myna/models/…);
 *   AUDIO.f32 is raw float32 16 kHz mono ("-": synthesize); without it ~25 s of English is synthesized with
 *   espeak-ng (en-us, 150 wpm) and resampled with ffmpeg. REPS (default 5) encodes and transcriptions per
 *   thread count, reported as medians (the machine is shared: single runs are noise) with the min and the
 *   1-minute load average. THREADS: only that count (default 1 then 2). MYNA_WHISPER_FAST=off measures the
 *   exact path (whisper.h WhisperFast). MYNA_BACKEND=SPEC (backend_new_by_name, e.g. "cuda") runs on that
 *   backend instead of the CPU one (then once, with THREADS or 1 thread). Numbers for docs/PERFORMANCE.md
 *   "Speech".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "whisper.h"
#include "bench-util.h"

static const char *k_text =
    "Good morning everyone. Today we will talk about the plans for the next quarter. "
    "First, the sales team will present the numbers from last month. Then we will discuss the new office, "
    "which opens in the spring. Please send your questions by email before Friday. "
    "After lunch there is a short training session about the new software. "
    "Thank you all for coming, and let us begin.";

static double load_avg(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
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
    const char *home = getenv("HOME"), *models = getenv("MYNA_MODELS_DIR"), *bname = getenv("MYNA_BACKEND");
    float *pcm = NULL, *mel;
    size_t n = 0;
    int synthesized = 0, reps = argc > 3 ? atoi(argv[3]) : 5, only = argc > 4 ? atoi(argv[4]) : 0;
    double enc_t[64], tot_t[64], dec_t[64];

    if (argc > 1)
        snprintf(mdir, sizeof(mdir), "%s", argv[1]);
    else if (models)
        snprintf(mdir, sizeof(mdir), "%s/whisper-tiny.en", models);
    else
        snprintf(mdir, sizeof(mdir), "%s/.local/share/myna/models/whisper-tiny.en", home ? home : "");
    if (reps < 1 || reps > 64)
        reps = 5;
    if (bname && (!bname[0] || strcmp(bname, "cpu") == 0))
        bname = NULL;
    if (bname && only <= 0)
        only = 1;
    if (argc > 2 && strcmp(argv[2], "-") != 0) {
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
    for (int threads = only > 0 ? only : 1; threads <= (only > 0 ? only : 2); threads++) {
        Backend *be = NULL;
        Whisper *w = NULL;
        WhisperOptions o;
        WhisperStats st;
        char *text = NULL;
        double t0, enc_min = 1e9, tot_min = 1e9, la0 = load_avg();
        int ok = 1;

        if ((bname ? backend_new_by_name(bname, threads, &be, err, sizeof(err)) : backend_cpu_new(threads, &be)) < 0) {
            fprintf(stderr, "bench-whisper: backend %s: %s\n", bname ? bname : "cpu", err);
            free(pcm);
            return 1;
        }
        if (whisper_load(mdir, be, &w, err, sizeof(err)) < 0) {
            fprintf(stderr, "bench-whisper: %s: %s\n", mdir, err);
            backend_free(be);
            free(pcm);
            return 1;
        }
        const WhisperConfig *c = whisper_config(w);
        mel = calloc((size_t)c->n_mels * 2 * (size_t)c->n_audio_ctx, sizeof(float));
        if (!mel)
            ok = -1;
        for (int rep = 0; mel && rep < reps; rep++) {
            t0 = bench_now_s();
            if (whisper_encode(w, mel, 2 * c->n_audio_ctx, NULL) < 0) {
                fprintf(stderr, "bench-whisper: encoder failed\n");
                ok = -1;
                break;
            }
            enc_t[rep] = bench_now_s() - t0;
            enc_min = enc_t[rep] < enc_min ? enc_t[rep] : enc_min;
        }
        free(mel);
        whisper_options_default(&o);
        for (int rep = 0; ok > 0 && rep < reps; rep++) {
            free(text);
            text = NULL;
            t0 = bench_now_s();
            int r = whisper_transcribe(w, pcm, n, &o, &text, &st);
            if (r == -ENOTSUP) { /* e.g. a test fixture without a tokenizer or with a short window */
                printf("%s, threads %d: encoder %.3f ms per window of %d mel frames (median of %d, min %.3f); "
                       "no transcription: %s\n", be->desc, threads, 1e3 * bench_median(enc_t, reps), 2 * c->n_audio_ctx,
                       reps, 1e3 * enc_min, strerror(-r));
                ok = 0;
                break;
            }
            if (r < 0) {
                fprintf(stderr, "bench-whisper: transcription failed: %s\n", strerror(-r));
                ok = -1;
                break;
            }
            tot_t[rep] = bench_now_s() - t0;
            dec_t[rep] = st.n_tokens ? 1e3 * st.decode_s / st.n_tokens : 0.0;
            tot_min = tot_t[rep] < tot_min ? tot_t[rep] : tot_min;
        }
        if (ok > 0) {
            double tot = bench_median(tot_t, reps);
            printf("%s, threads %d: encoder %.3f s per 30 s window (median of %d, min %.3f); transcribe %.2f s audio in "
                   "%.3f s (median, min %.3f): RTF %.3f (min %.3f); decoder %.2f ms/token (median; %d tokens, %d "
                   "windows, %d fallbacks); load avg %.2f→%.2f\n", be->desc, threads, bench_median(enc_t, reps), reps, enc_min,
                   st.audio_s, tot, tot_min, tot / st.audio_s, tot_min / st.audio_s, bench_median(dec_t, reps),
                   st.n_tokens, st.n_windows, st.n_fallbacks, la0, load_avg());
            if (threads == 2 || only)
                printf("text: %s\n", text);
        }
        free(text);
        whisper_free(w);
        backend_free(be);
        if (ok < 0) {
            free(pcm);
            return 1;
        }
    }
    free(pcm);
    return 0;
}
