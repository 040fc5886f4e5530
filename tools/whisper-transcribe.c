/* whisper-transcribe — transcribe an audio file with a Whisper HF folder (tests, bench, debugging).
 *
 * Usage: whisper-transcribe [-t THREADS] [-b BACKEND] [--no-timestamps] [--f32] [--stats] MODEL_DIR FILE|-
 * FILE is decoded with speech/audio.h (any whitelisted container, resampled to 16 kHz mono) or, with --f32,
 * read as raw little-endian float32 16 kHz mono samples. Prints the transcript on stdout; --stats adds
 * timings on stderr. Not the user-facing CLI (that is `myna transcribe`).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "whisper.h"
#if HAVE_FFMPEG
#include "audio.h"
#endif

static int read_f32(int fd, float **ret, size_t *ret_n)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);

    if (!buf)
        return -ENOMEM;
    for (;;) {
        if (len == cap) {
            if (cap > (size_t)WHISPER_MAX_SECONDS * 16000 * 4) {
                free(buf);
                return -E2BIG;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return -ENOMEM;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t k = read(fd, buf + len, cap - len);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            free(buf);
            return -errno;
        }
        if (k == 0)
            break;
        len += (size_t)k;
    }
    *ret = (float *)(void *)buf;
    *ret_n = len / sizeof(float);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: whisper-transcribe [-t THREADS] [-b BACKEND] [--no-timestamps] [--f32] [--stats] "
                    "MODEL_DIR FILE|-\n");
}

int main(int argc, char **argv)
{
    int threads = 0, raw = 0, show_stats = 0, i, r, fd, rc = 1;
    const char *backend = "cpu", *model = NULL, *file = NULL;
    WhisperOptions o;
    WhisperStats st;
    Backend *be = NULL;
    Whisper *w = NULL;
    float *pcm = NULL;
    size_t n = 0;
    char *text = NULL, err[512] = "";

    whisper_options_default(&o);
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-b") && i + 1 < argc)
            backend = argv[++i];
        else if (!strcmp(argv[i], "--no-timestamps"))
            o.timestamps = 0;
        else if (!strcmp(argv[i], "--f32"))
            raw = 1;
        else if (!strcmp(argv[i], "--stats"))
            show_stats = 1;
        else if (!model)
            model = argv[i];
        else if (!file)
            file = argv[i];
        else
            break;
    }
    if (!model || !file || i < argc) {
        usage();
        return 2;
    }
    fd = strcmp(file, "-") ? open(file, O_RDONLY | O_CLOEXEC) : 0;
    if (fd < 0) {
        fprintf(stderr, "whisper-transcribe: %s: %s\n", file, strerror(errno));
        return 1;
    }
    if (raw) {
        r = read_f32(fd, &pcm, &n);
    } else {
#if HAVE_FFMPEG
        AudioPcm a = {0};
        r = audio_decode_fd(fd, NULL, &a, err, sizeof(err));
        pcm = a.samples;
        n = (size_t)a.n_samples;
#else
        r = -ENOTSUP;
        snprintf(err, sizeof(err), "built without FFmpeg: use --f32");
#endif
    }
    if (fd > 0)
        close(fd);
    if (r < 0) {
        fprintf(stderr, "whisper-transcribe: %s: %s\n", file, err[0] ? err : strerror(-r));
        goto out;
    }
    if ((r = backend_new_by_name(backend, threads, &be, err, sizeof(err))) < 0) {
        fprintf(stderr, "whisper-transcribe: backend %s: %s\n", backend, err);
        goto out;
    }
    if ((r = whisper_load(model, be, &w, err, sizeof(err))) < 0) {
        fprintf(stderr, "whisper-transcribe: %s: %s\n", model, err);
        goto out;
    }
    if ((r = whisper_transcribe(w, pcm, n, &o, &text, &st)) < 0) {
        fprintf(stderr, "whisper-transcribe: transcription failed: %s\n", strerror(-r));
        goto out;
    }
    printf("%s\n", text);
    if (show_stats)
        fprintf(stderr, "audio %.2f s, %d windows, %d tokens, %d fallbacks; mel %.3f s, encoder %.3f s, "
                        "decoder %.3f s, RTF %.4f (%s)\n", st.audio_s, st.n_windows, st.n_tokens, st.n_fallbacks,
                st.mel_s, st.encode_s, st.decode_s,
                st.audio_s > 0 ? (st.mel_s + st.encode_s + st.decode_s) / st.audio_s : 0.0, be->desc);
    rc = 0;
out:
    free(text);
    free(pcm);
    whisper_free(w);
    backend_free(be);
    return rc;
}
