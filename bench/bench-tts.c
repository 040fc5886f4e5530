/* bench-tts — Piper speech synthesis: Myna (speech/tts/vits*) side by side with piper-tts (onnxruntime,
 * bench/piper-bench.py), same voice, text and thread count, alternating runs.
 *
 * Per run: audio seconds, wall seconds, real-time factor (wall / audio; lower is faster) and time to first
 * audio (Myna: its first 12-frame window; piper-tts: its first whole sentence). Scales [0, 1, 0] by default
 * (deterministic; both sides then produce the same audio, see tests/model/test-vits.c --real). Prints the
 * medians and Myna's peak RSS. CPU time of both sides is printed too: on a shared machine wall time
 * includes waiting for the CPU.
 *
 * usage: bench-tts [-t THREADS] [-n RUNS] [-b BACKEND] [--voice FILE] [--text TEXT] [--no-piper]
 *        [--scales NOISE LENGTH NOISE_W]
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "backend.h"
#include "bench-util.h"
#include "paths.h"
#include "phonemize.h"
#include "vits-say.h"

/* 60 words, 3 sentences */
static const char *k_text =
    "The old lighthouse keeper climbed the narrow stairs every evening, just before the sun touched the sea. "
    "He checked the lamp, wiped the salty glass, and wrote a short note about the weather in his worn "
    "leather book. Ships passing in the dark never saw him, but they trusted the steady light that he kept "
    "burning through the long night.";

static int null_sink(void *ctx, const float *pcm, int64_t n)
{
    (void)ctx, (void)pcm, (void)n;
    return 0;
}

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"voice", required_argument, 0, 'v'}, {"text", required_argument, 0, 'x'},
                                         {"no-piper", no_argument, 0, 'P'}, {"scales", required_argument, 0, 's'},
                                         {0, 0, 0, 0}};
    char voice_buf[PATH_MAX], err[512] = "", cmd[4096];
    const char *voice_path = NULL, *text = k_text, *backend = "cpu";
    int threads = 2, runs = 5, piper = 1, c;
    float scales[3] = {0.0f, 1.0f, 0.0f};
    while ((c = getopt_long(argc, argv, "t:n:b:", opts, NULL)) != -1) {
        switch (c) {
        case 't': threads = atoi(optarg); break;
        case 'n': runs = atoi(optarg); break;
        case 'b': backend = optarg; break;
        case 'v': voice_path = optarg; break;
        case 'x': text = optarg; break;
        case 'P': piper = 0; break;
        case 's':
            if (optind + 1 >= argc + 1 || sscanf(optarg, "%f", &scales[0]) != 1 || optind + 1 > argc ||
                sscanf(argv[optind], "%f", &scales[1]) != 1 || sscanf(argv[optind + 1], "%f", &scales[2]) != 1) {
                fprintf(stderr, "--scales takes three numbers\n");
                return 1;
            }
            optind += 2;
            break;
        default:
            fprintf(stderr, "usage: bench-tts [-t N] [-n RUNS] [-b BACKEND] [--voice FILE] [--text TEXT] "
                            "[--no-piper] [--scales N L W]\n");
            return 1;
        }
    }
    if (runs < 1 || runs > 100 || threads < 1) {
        fprintf(stderr, "bench-tts: bad -n or -t\n");
        return 1;
    }
    if (!voice_path) {
        if (paths_model_file("en_US-joe-medium.onnx", voice_buf, sizeof(voice_buf)) < 0)
            return 1;
        voice_path = voice_buf;
    }
    Backend *be = NULL;
    Voice *voice = NULL;
    Vits *v = NULL;
    if (backend_new_by_name(backend, threads, &be, err, sizeof(err)) < 0 ||
        voice_load(be, voice_path, NULL, &voice, err, sizeof(err)) < 0 ||
        vits_new(be, &voice->cfg, &voice->w, &v, err, sizeof(err)) < 0) {
        fprintf(stderr, "bench-tts: %s\n", err);
        return 1;
    }
    VitsParams p = vits_params_default(&voice->cfg);
    p.noise_scale = scales[0], p.length_scale = scales[1], p.noise_w = scales[2];
    VitsSayStats st;
    if (vits_say(v, voice, "Warm up.", &p, null_sink, NULL, &st, err, sizeof(err)) < 0) {
        fprintf(stderr, "bench-tts: %s\n", err);
        return 1;
    }
    double m_rtf[100], m_first[100], m_cpu[100], p_rtf[100], p_first[100], p_cpu[100], audio = 0, p_audio = 0;
    int np = 0;
    printf("voice %s, %s, text %zu bytes, scales %g %g %g\n", voice_path, be->desc, strlen(text), scales[0],
           scales[1], scales[2]);
    for (int i = 0; i < runs; i++) {
        const double c0 = cpu_s();
        if (vits_say(v, voice, text, &p, null_sink, NULL, &st, err, sizeof(err)) < 0) {
            fprintf(stderr, "bench-tts: %s\n", err);
            return 1;
        }
        audio = (double)st.samples / voice->cfg.sample_rate;
        m_rtf[i] = st.total_s / audio, m_first[i] = st.first_audio_s, m_cpu[i] = cpu_s() - c0;
        printf("myna  run %d: %.2f s audio, %.3f s wall, RTF %.3f, first audio %.0f ms, cpu %.2f s\n", i, audio,
               st.total_s, m_rtf[i], m_first[i] * 1e3, m_cpu[i]);
        if (!piper)
            continue;
        if (strchr(text, '"') || strchr(text, '$') || strchr(text, '`') || strchr(text, '\\') ||
            snprintf(cmd, sizeof(cmd), "MYNA_PIPER_THREADS=%d python3 %s/piper-bench.py '%s' \"%s\" %g %g %g",
                     threads, MYNA_BENCH_DIR, voice_path, text, scales[0], scales[1], scales[2]) >= (int)sizeof(cmd)) {
            fprintf(stderr, "bench-tts: text too long or with shell characters for the piper-tts run\n");
            piper = 0;
            continue;
        }
        FILE *f = popen(cmd, "r");
        double a, w, fi, cp;
        if (!f || fscanf(f, "piper %lf %lf %lf %lf", &a, &w, &fi, &cp) != 4) {
            fprintf(stderr, "bench-tts: piper-tts did not run (pip install piper-tts); --no-piper skips it\n");
            if (f)
                pclose(f);
            piper = 0;
            continue;
        }
        pclose(f);
        p_audio = a, p_rtf[np] = w / a, p_first[np] = fi, p_cpu[np++] = cp;
        printf("piper run %d: %.2f s audio, %.3f s wall, RTF %.3f, first audio %.0f ms, cpu %.2f s\n", i, a, w, w / a,
               fi * 1e3, cp);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("median myna:  RTF %.3f, first audio %.0f ms, cpu %.2f s for %.2f s audio; peak RSS %ld MB\n",
           bench_median(m_rtf, runs), bench_median(m_first, runs) * 1e3, bench_median(m_cpu, runs), audio,
           ru.ru_maxrss / 1024);
    if (np)
        printf("median piper: RTF %.3f, first audio %.0f ms, cpu %.2f s for %.2f s audio (piper-tts, onnxruntime)\n",
               bench_median(p_rtf, np), bench_median(p_first, np) * 1e3, bench_median(p_cpu, np), p_audio);
    vits_free(v);
    voice_free(voice);
    backend_free(be);
    return 0;
}
