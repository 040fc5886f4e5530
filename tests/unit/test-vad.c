/* test-vad.c — voice activity detection (speech/vad.c).
 * `test-vad energy` (suite unit): the energy VAD finds noise-burst "utterances" separated by silences of
 * known length within ±100 ms, ignores a blip shorter than min_speech, bridges a gap shorter than the
 * hangover, agrees chunk-by-chunk with the batch segmenter, and finds the espeak-ng utterances of the
 * fixture clips within ±150 ms; the loader rejects missing and malformed weight files.
 * `test-vad silero` (suite model; exit 77 when models/silero-vad.safetensors is not installed): per-chunk
 * probabilities equal the original TorchScript model's (tools/ref/vad_ref.py) within 1e-3 absolute, and the
 * speech regions of the espeak-ng clips are found within ±100 ms. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "paths.h"
#include "test-util.h"
#include "vad.h"

static uint64_t g_seed = 42;
static float noise(void)
{
    g_seed = g_seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(g_seed >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* Compare found segments with truth [start_ms, end_ms] pairs. */
static void check_segments(const char *what, const VadSegment *seg, int n, const int (*truth)[2], int n_truth,
                           int tol_ms)
{
    fprintf(stderr, "%s: %d segments (expected %d)\n", what, n, n_truth);
    CHECK_INT(n, n_truth);
    for (int i = 0; i < n && i < n_truth; i++) {
        double s = seg[i].start * 1000.0 / VAD_SAMPLE_RATE, e = seg[i].end * 1000.0 / VAD_SAMPLE_RATE;
        fprintf(stderr, "  [%7.0f, %7.0f] ms vs truth [%6d, %6d]\n", s, e, truth[i][0], truth[i][1]);
        CHECK_NEAR(s, truth[i][0], tol_ms);
        CHECK_NEAR(e, truth[i][1], tol_ms);
    }
}

/* Speech-like bursts (harmonics of 140 Hz + noise, -17 dBFS) at the given ms ranges over a -70 dBFS floor. */
static float *synth(int64_t n, const int (*bursts)[2], int nb)
{
    float *x = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        double t = (double)i / VAD_SAMPLE_RATE, v = 3e-4 * noise();
        for (int b = 0; b < nb; b++)
            if (t * 1000 >= bursts[b][0] && t * 1000 < bursts[b][1])
                v += 0.1 * (sin(2 * M_PI * 140 * t) + 0.5 * sin(2 * M_PI * 280 * t) +
                            0.3 * sin(2 * M_PI * 420 * t)) + 0.05 * noise();
        x[i] = (float)v;
    }
    return x;
}

static int load_clip(int k, float **ret_pcm, int64_t *ret_n, int (*truth)[2], int *ret_nt)
{
    size_t sz = 0, msz = 0;
    char name[64], *meta = test_read_fixture("audio", "vad.txt", &msz), *line;
    int16_t *s16;
    int nt = 0;

    snprintf(name, sizeof(name), "vad-clip%d.s16", k);
    s16 = test_read_fixture("audio", name, &sz);
    if (!s16 || !meta) {
        free(s16);
        free(meta);
        return -ENOENT;
    }
    *ret_n = (int64_t)(sz / 2);
    *ret_pcm = malloc(sz / 2 * sizeof(float));
    for (size_t i = 0; i < sz / 2; i++)
        (*ret_pcm)[i] = s16[i] / 32768.0f;
    for (line = strtok(meta, "\n"); line; line = strtok(NULL, "\n")) {
        int c, a, b;
        if (sscanf(line, "speech %d %d %d", &c, &a, &b) == 3 && c == k && nt < 8) {
            truth[nt][0] = a;
            truth[nt][1] = b;
            nt++;
        }
    }
    *ret_nt = nt;
    free(s16);
    free(meta);
    return 0;
}

static void test_energy(void)
{
    static const int bursts[][2] = { { 500, 1300 }, { 2000, 2400 }, { 3500, 4600 } };
    static const int blip_and_gap[][2] = { { 300, 380 }, { 1000, 1600 }, { 1800, 2500 } }; /* 80 ms blip; 200 ms gap */
    static const int merged[][2] = { { 1000, 2500 } };
    VadConfig cfg = { .speech_pad_ms = -1 };
    Vad *v = NULL;
    VadSegment seg[16];
    int n = 0;
    int64_t len = 5500 * 16;
    float *x = synth(len, bursts, 3), *y = NULL;

    CHECK_INT(vad_new_energy(&cfg, &v), 0);
    CHECK(!vad_is_silero(v));
    CHECK_INT(vad_segments(v, x, len, seg, 16, &n), 0);
    check_segments("energy, 3 bursts", seg, n, bursts, 3, 100);

    /* streaming events equal the batch segments */
    {
        VadEvent ev;
        float p;
        int k = 0;
        vad_reset(v);
        for (int64_t i = 0; i + VAD_CHUNK <= len; i += VAD_CHUNK) {
            CHECK_INT(vad_process(v, x + i, &p, &ev), 0);
            CHECK(p >= 0.0f && p <= 1.0f);
            if (ev.type == VAD_EVENT_START) CHECK_INT(ev.sample, seg[k].start);
            if (ev.type == VAD_EVENT_END) { CHECK_INT(ev.sample, seg[k].end); k++; }
        }
        vad_flush(v, &ev);
        CHECK_INT(ev.type, VAD_EVENT_NONE);
        CHECK_INT(k, 3);
    }

    y = synth(3000 * 16, blip_and_gap, 3);
    CHECK_INT(vad_segments(v, y, 3000 * 16, seg, 16, &n), 0);
    check_segments("energy, blip + short gap", seg, n, merged, 1, 100);
    /* speech running to the end of the buffer is closed by the flush */
    CHECK_INT(vad_segments(v, x, 4200 * 16, seg, 16, &n), 0);
    CHECK_INT(n, 3);
    if (n == 3) CHECK_INT(seg[2].end, 4200 * 16);
    /* only max segments are written, but all are counted */
    CHECK_INT(vad_segments(v, x, len, seg, 1, &n), 0);
    CHECK_INT(n, 3);
    CHECK_INT(vad_segments(v, NULL, 5, seg, 1, &n), -EINVAL);

    /* espeak-ng clips with the energy VAD */
    for (int k = 0; k < 2; k++) {
        float *pcm = NULL;
        int64_t np = 0;
        int truth[8][2], nt = 0;
        char what[64];
        CHECK_INT(load_clip(k, &pcm, &np, truth, &nt), 0);
        if (!pcm) continue;
        CHECK_INT(vad_segments(v, pcm, np, seg, 16, &n), 0);
        snprintf(what, sizeof(what), "energy, espeak clip %d", k);
        check_segments(what, seg, n, (const int (*)[2])truth, nt, 150);
        free(pcm);
    }
    vad_free(v);
    free(x);
    free(y);
}

static void test_loader(void)
{
    char err[256], path[] = "/tmp/myna-test-vad-XXXXXX";
    const char hdr[] = "{\"conv1.weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    uint64_t hl = sizeof(hdr) - 1;
    Vad *v = NULL;
    int fd;

    CHECK_INT(vad_new_silero("/nonexistent/silero-vad.safetensors", NULL, &v, err, sizeof(err)), -ENOENT);
    fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) {
        float zero = 0;
        CHECK(write(fd, &hl, 8) == 8 && write(fd, hdr, hl) == (ssize_t)hl && write(fd, &zero, 4) == 4);
        close(fd);
        CHECK_INT(vad_new_silero(path, NULL, &v, err, sizeof(err)), -EBADMSG);
        fprintf(stderr, "bad weights: %s\n", err);
        unlink(path);
    }
    CHECK_INT(vad_new_default("/nonexistent", NULL, &v), 0);
    CHECK(v && !vad_is_silero(v));
    vad_free(v);
    vad_free(NULL);
}

static int test_silero(void)
{
    char path[2048], err[256];
    VadConfig cfg = { .speech_pad_ms = -1 };
    Vad *v = NULL;
    int r;

    paths_model_file(VAD_MODEL_FILE, path, sizeof(path));
    r = vad_new_silero(path, &cfg, &v, err, sizeof(err));
    if (r == -ENOENT) {
        fprintf(stderr, "skip: %s (run scripts/fetch-models)\n", err);
        return 77;
    }
    CHECK_INT(r, 0);
    if (r < 0) {
        fprintf(stderr, "%s\n", err);
        return test_exit();
    }
    CHECK(vad_is_silero(v));
    for (int k = 0; k < 2; k++) {
        float *pcm = NULL, *ref, chunk[VAD_CHUNK];
        int64_t np = 0, nc;
        int truth[8][2], nt = 0, n = 0;
        size_t rsz = 0;
        char name[64];
        double md = 0;
        VadSegment seg[16];

        CHECK_INT(load_clip(k, &pcm, &np, truth, &nt), 0);
        snprintf(name, sizeof(name), "vad-clip%d.prob", k);
        ref = test_read_fixture("audio", name, &rsz);
        nc = (np + VAD_CHUNK - 1) / VAD_CHUNK;
        CHECK(pcm && ref && rsz == (size_t)nc * 4);
        if (!pcm || !ref || rsz != (size_t)nc * 4) { free(pcm); free(ref); continue; }
        vad_reset(v);
        for (int64_t c = 0; c < nc; c++) {
            int64_t k0 = c * VAD_CHUNK, m = np - k0 < VAD_CHUNK ? np - k0 : VAD_CHUNK;
            float p;
            VadEvent ev;
            memcpy(chunk, pcm + k0, (size_t)m * 4);
            memset(chunk + m, 0, (size_t)(VAD_CHUNK - m) * 4);
            vad_process(v, chunk, &p, &ev);
            md = fmax(md, fabs(p - ref[c]));
        }
        fprintf(stderr, "silero clip %d: %lld chunks, max |p - p_torchscript| = %.3g\n", k, (long long)nc, md);
        CHECK(md < 1e-3);
        CHECK_INT(vad_segments(v, pcm, np, seg, 16, &n), 0);
        snprintf(name, sizeof(name), "silero, espeak clip %d", k);
        check_segments(name, seg, n, (const int (*)[2])truth, nt, 100);
        free(pcm);
        free(ref);
    }
    vad_free(v);
    return test_exit();
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "silero") == 0)
        return test_silero();
    test_energy();
    test_loader();
    return test_exit();
}
