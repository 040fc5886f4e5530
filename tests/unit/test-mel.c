/* test-mel.c — Whisper log-mel (speech/mel.c) against tools/ref/mel_ref.py fixtures (transformers'
 * WhisperFeatureExtractor): NMSE < 1e-6 for 80 and 128 bins on a short unpadded clip and on the same clip
 * padded to a 30 s window; the streaming variant under several chunkings equals the batch result bit for
 * bit; edge cases (too short, bad n_mels) fail cleanly; a pure tone peaks in the right mel bin. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mel.h"
#include "test-util.h"

static double meta_value(const char *text, const char *key)
{
    const char *p = text;
    size_t kl = strlen(key);

    while (p && *p) {
        if (strncmp(p, key, kl) == 0 && p[kl] == ' ')
            return atof(p + kl + 1);
        p = strchr(p, '\n');
        if (p) p++;
    }
    fprintf(stderr, "mel.txt: no key %s\n", key);
    return -1;
}

typedef struct { float *raw; int64_t n_frames, n_mels, next; int bad_order; } Collect;

static int collect(void *user, int64_t i, const float *frame)
{
    Collect *c = user;
    if (i != c->next || i >= c->n_frames) {
        c->bad_order = 1;
        return -EINVAL;
    }
    for (int64_t k = 0; k < c->n_mels; k++)
        c->raw[k * c->n_frames + i] = frame[k]; /* store as [F, M] like the batch output */
    c->next++;
    return 0;
}

/* Stream the clip (zero-padded to n_total) in chunks from `sizes` (cycled), normalize, compare to batch. */
static void check_stream(Mel *m, const float *pcm, int64_t n, int64_t n_total, const float *batch,
                         const size_t *sizes, int n_sizes)
{
    MelStream *s = NULL;
    int64_t nf = mel_n_frames(n_total), pos = 0;
    Collect c = { calloc((size_t)(nf * mel_n_mels(m)), sizeof(float)), nf, mel_n_mels(m), 0, 0 };
    int r = mel_stream_new(m, &s), k = 0;

    CHECK_INT(r, 0);
    if (r < 0 || !c.raw)
        goto done;
    while (pos < n) {
        size_t step = sizes[k++ % n_sizes];
        if ((int64_t)step > n - pos) step = (size_t)(n - pos);
        CHECK_INT(mel_stream_push(s, pcm + pos, step, collect, &c), 0);
        pos += (int64_t)step;
    }
    CHECK_INT(mel_stream_push_zeros(s, n_total - n, collect, &c), 0);
    CHECK_INT(mel_stream_finish(s, collect, &c), 0);
    CHECK_INT(c.next, nf);
    CHECK(!c.bad_order);
    mel_normalize(c.raw, (size_t)(nf * c.n_mels));
    CHECK(memcmp(c.raw, batch, (size_t)(nf * c.n_mels) * sizeof(float)) == 0);
    CHECK_INT(mel_stream_push(s, pcm, 10, collect, &c), -EINVAL); /* finished until reset */
done:
    mel_stream_free(s);
    free(c.raw);
}

static void check_bins(int n_mels, const float *pcm, int64_t n, const char *meta, int64_t short_frames,
                       int64_t head)
{
    Mel *m = NULL;
    char name[64];
    size_t sz = 0;
    float *ref_short, *ref_head, *out_short = NULL, *out_30 = NULL, *ref_30 = NULL;
    double md, e;
    float tail;
    const size_t chunk_a[] = { 1, 7, 160, 399, 1000 }, chunk_b[] = { 4096, 12345, 200000 };

    snprintf(name, sizeof(name), "tail%d", n_mels);
    tail = (float)meta_value(meta, name);
    CHECK_INT(mel_new(n_mels, &m), 0);
    snprintf(name, sizeof(name), "mel%d-short.f32", n_mels);
    ref_short = test_read_fixture("audio", name, &sz);
    CHECK(ref_short && sz == (size_t)(n_mels * short_frames) * sizeof(float));
    snprintf(name, sizeof(name), "mel%d-30s.f32", n_mels);
    ref_head = test_read_fixture("audio", name, &sz);
    CHECK(ref_head && sz == (size_t)(n_mels * head) * sizeof(float));
    if (!m || !ref_short || !ref_head)
        goto done;

    /* short clip, no padding */
    CHECK_INT(mel_n_frames(n), short_frames);
    out_short = malloc((size_t)(n_mels * short_frames) * sizeof(float));
    CHECK_INT(mel_compute(m, pcm, n, n, out_short), 0);
    e = test_nmse(out_short, ref_short, (size_t)(n_mels * short_frames));
    md = test_max_abs_diff(out_short, ref_short, (size_t)(n_mels * short_frames));
    fprintf(stderr, "n_mels %d short clip (%lld frames): NMSE %.3g, max |diff| %.3g\n", n_mels,
            (long long)short_frames, e, md);
    CHECK(e < 1e-6);
    CHECK(md < 2e-3);

    /* 30 s padded window: rebuild the full reference from the stored head + the constant tail */
    out_30 = malloc((size_t)n_mels * MEL_N_FRAMES_30S * sizeof(float));
    ref_30 = malloc((size_t)n_mels * MEL_N_FRAMES_30S * sizeof(float));
    for (int b = 0; b < n_mels; b++)
        for (int64_t i = 0; i < MEL_N_FRAMES_30S; i++)
            ref_30[(size_t)b * MEL_N_FRAMES_30S + i] = i < head ? ref_head[b * head + i] : tail;
    CHECK_INT(mel_n_frames(MEL_N_SAMPLES_30S), MEL_N_FRAMES_30S);
    CHECK_INT(mel_compute(m, pcm, n, MEL_N_SAMPLES_30S, out_30), 0);
    e = test_nmse(out_30, ref_30, (size_t)n_mels * MEL_N_FRAMES_30S);
    md = test_max_abs_diff(out_30, ref_30, (size_t)n_mels * MEL_N_FRAMES_30S);
    fprintf(stderr, "n_mels %d 30 s window: NMSE %.3g, max |diff| %.3g\n", n_mels, e, md);
    CHECK(e < 1e-6);
    CHECK(md < 2e-3);

    /* streaming == batch, for odd and large chunkings, padded and not */
    check_stream(m, pcm, n, n, out_short, chunk_a, 5);
    check_stream(m, pcm, n, MEL_N_SAMPLES_30S, out_30, chunk_b, 3);
done:
    free(ref_short);
    free(ref_head);
    free(out_short);
    free(out_30);
    free(ref_30);
    mel_free(m);
}

/* A 1 kHz tone: the loudest bin in a middle frame is the filter with the largest weight at 1 kHz. */
static void check_tone(void)
{
    Mel *m = NULL;
    int64_t n = 16000, nf = mel_n_frames(n);
    float *pcm = malloc((size_t)n * sizeof(float)), *out = malloc((size_t)(80 * nf) * sizeof(float));
    int best = 0, best_filter = 0;

    CHECK_INT(mel_new(80, &m), 0);
    if (!m || !pcm || !out)
        goto done;
    for (int64_t i = 0; i < n; i++)
        pcm[i] = 0.5f * sinf(2.0f * (float)M_PI * 1000.0f * (float)i / 16000.0f);
    CHECK_INT(mel_compute(m, pcm, n, n, out), 0);
    for (int b = 1; b < 80; b++) {
        if (out[(size_t)b * nf + nf / 2] > out[(size_t)best * nf + nf / 2]) best = b;
        if (mel_filters(m)[b * MEL_N_FREQ + 25] > mel_filters(m)[best_filter * MEL_N_FREQ + 25]) best_filter = b;
    }
    CHECK_INT(best, best_filter); /* 1000 Hz is FFT bin 25 */
    CHECK(out[(size_t)best * nf + nf / 2] > 1.0f);
done:
    mel_free(m);
    free(pcm);
    free(out);
}

int main(void)
{
    size_t sz = 0, msz = 0;
    int16_t *s16 = test_read_fixture("audio", "mel-clip.s16", &sz);
    char *meta = test_read_fixture("audio", "mel.txt", &msz), *metaz = NULL;
    float *pcm = NULL, out[80 * 2];
    Mel *m = NULL;
    int64_t n;

    CHECK(s16 != NULL && meta != NULL);
    if (!s16 || !meta)
        return test_exit();
    metaz = calloc(1, msz + 1);
    memcpy(metaz, meta, msz);
    n = (int64_t)(sz / 2);
    CHECK_INT(n, (int64_t)meta_value(metaz, "n_samples"));
    pcm = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        pcm[i] = s16[i] / 32768.0f;

    check_bins(80, pcm, n, metaz, (int64_t)meta_value(metaz, "short_frames"),
               (int64_t)meta_value(metaz, "head_frames"));
    check_bins(128, pcm, n, metaz, (int64_t)meta_value(metaz, "short_frames"),
               (int64_t)meta_value(metaz, "head_frames"));
    check_tone();

    /* errors */
    CHECK_INT(mel_new(0, &m), -EINVAL);
    CHECK_INT(mel_new(257, &m), -EINVAL);
    CHECK_INT(mel_new(80, &m), 0);
    CHECK_INT(mel_compute(m, pcm, 200, 200, out), -EINVAL);   /* reflect pad needs > 200 samples */
    CHECK_INT(mel_compute(m, pcm, 201, 201, out), 0);         /* 1 frame */
    CHECK_INT(mel_compute(m, NULL, 5, 400, out), -EINVAL);
    CHECK_INT(mel_n_frames(0), 0);
    CHECK_INT(mel_n_frames(159), 0);
    CHECK_INT(mel_n_frames(160), 1);
    mel_free(m);
    mel_free(NULL);
    mel_stream_free(NULL);

    free(s16);
    free(meta);
    free(metaz);
    free(pcm);
    return test_exit();
}
