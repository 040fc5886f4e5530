/* test-image-budget.c — the limits of vision/image* that are not about the pixels themselves (issue 12 F4,
 * F5): the MediaBudget (CPU time of the calling thread → -ETIME, cancel flag → -ECANCELED) on every decoder
 * path (libpng, TurboJPEG, FFmpeg stills, video sampling); progressive-JPEG scan bombs refused before
 * TurboJPEG decodes anything — 5792² with 255 scans (scan count), refinement scans out of order (the shape
 * that cost 5.5 s), the longest valid refinement progression in YCbCr (coefficient-visit cap) — while the
 * same constructions at 512×384 decode exactly; the error classes of F5: TIFF and WebP over the pixel cap
 * are TooLarge (-EFBIG), an MP4 whose stts box claims 2^31 entries is malformed (-EBADMSG, not -ENOMEM);
 * four threads decoding at once, each stopped only by its own budget or flag; a pipe that never sends EOF
 * ends at the deadline or on cancel (F0 at the library level). The progressive JPEGs are
 * written here (DC-only content: every pixel 128), the rest are the committed fixtures of
 * tests/fixtures/media. No timed assertions: the budgets used are far below what the work can physically
 * take (1 µs of CPU; or 0.5 ms for a 4096² PNG, whose 48 MB of output alone needs more), so the expected
 * code does not depend on the machine's speed. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "image-internal.h"
#include "image.h"
#include "test-util.h"

#if HAVE_PNG
#include <png.h>
#endif

#if HAVE_JPEG /* the JPEG writer and the scan-bomb test (to line "#endif" after test_jpeg_scan_bomb) */
/* ------------------------------------------------------------------------- progressive JPEG writer */
typedef struct {
    uint8_t *buf;
    size_t len, cap;
    uint32_t acc; /* pending bits, MSB first */
    int n_acc;
} Jw;

static void jw_byte(Jw *j, uint8_t b)
{
    if (j->len == j->cap) {
        j->cap = j->cap ? j->cap * 2 : 4096;
        j->buf = realloc(j->buf, j->cap);
    }
    j->buf[j->len++] = b;
}

static void jw_bytes(Jw *j, const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        jw_byte(j, ((const uint8_t *)p)[i]);
}

/* Entropy-coded bits with 0xFF byte stuffing (T.81 F.1.2.3). */
static void jw_bits(Jw *j, uint32_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        j->acc = j->acc << 1 | ((v >> i) & 1);
        if (++j->n_acc == 8) {
            jw_byte(j, (uint8_t)j->acc);
            if ((uint8_t)j->acc == 0xFF)
                jw_byte(j, 0);
            j->acc = 0;
            j->n_acc = 0;
        }
    }
}

static void jw_flush(Jw *j)
{
    while (j->n_acc)
        jw_bits(j, 1, 1); /* pad with 1 bits */
}

enum { PJ_BANDS, PJ_REFINE, PJ_BROKEN };
typedef struct { int comp, ss, se, ahal; } PjScan; /* comp −1: DC scan of every component */

/* Progressive (SOF2) w×h JPEG, nc components (1 = gray, 3 = YCbCr, all 1×1 sampling, ids 1..nc): a DC first
 * scan of every component whose every block has DC difference 0 (a 1-bit code), then AC scans that are
 * nothing but end-of-band runs (EOB14 with 14 one-bits = 32767 blocks a symbol). Decoded, every pixel is
 * 128 (gray 128 / Y = Cb = Cr = 128).
 *   PJ_BANDS  (nc = 1): AC first scans of one coefficient each, Ss = Se = 1, 2, … 63, then repeating;
 *             n_scans scans in all. Cheap scans: libjpeg touches one position per block.
 *   PJ_REFINE: per component, AC band 1–63 first at Al = 13, then 13 refinements Ah = a → Al = a − 1: the
 *             longest valid successive-approximation progression, 1 + 14·nc scans (n_scans ignored). Each
 *             refinement makes libjpeg walk all 63 positions of every block even in an EOB run.
 *   PJ_BROKEN (nc = 1): band 1–63 first at Al = 1, then n_scans − 2 refinements all Ah = 1 → Al = 0 —
 *             only the first is valid: the bomb of issue 12 F4 (libjpeg warns and decodes every scan). */
static uint8_t *make_progressive(int w, int h, int nc, int mode, int n_scans, size_t *ret_len)
{
    Jw j = { 0 };
    int64_t blocks = (int64_t)((w + 7) / 8) * ((h + 7) / 8);
    uint8_t dqt[69] = { 0xFF, 0xDB, 0, 67, 0x00 };
    uint8_t sof[19] = { 0xFF, 0xC2, 0, (uint8_t)(8 + 3 * nc), 8, (uint8_t)(h >> 8), (uint8_t)h, (uint8_t)(w >> 8),
                        (uint8_t)w, (uint8_t)nc };
    /* DHT: class/id, 16 counts (one code of length 1), the symbol */
    const uint8_t dht_dc[] = { 0xFF, 0xC4, 0, 20, 0x00, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00 };
    const uint8_t dht_ac[] = { 0xFF, 0xC4, 0, 20, 0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xE0 };
    PjScan scans[1024];
    int n = 0;

    for (int c = 0; c < nc; c++) {
        sof[10 + 3 * c] = (uint8_t)(c + 1);
        sof[11 + 3 * c] = 0x11;
        sof[12 + 3 * c] = 0;
    }
    scans[n++] = (PjScan){ -1, 0, 0, 0x00 }; /* DC of all components */
    if (mode == PJ_BANDS) {
        for (int s = 1; s < n_scans && n < 1024; s++)
            scans[n++] = (PjScan){ 0, 1 + (s - 1) % 63, 1 + (s - 1) % 63, 0x00 };
    } else if (mode == PJ_REFINE) {
        for (int c = 0; c < nc; c++) {
            scans[n++] = (PjScan){ c, 1, 63, 0x0D };
            for (int a = 13; a >= 1; a--)
                scans[n++] = (PjScan){ c, 1, 63, a << 4 | (a - 1) };
        }
    } else {
        scans[n++] = (PjScan){ 0, 1, 63, 0x01 };
        for (int s = 2; s < n_scans && n < 1024; s++)
            scans[n++] = (PjScan){ 0, 1, 63, 0x10 };
    }
    memset(dqt + 5, 1, 64);
    jw_bytes(&j, "\xFF\xD8", 2);
    jw_bytes(&j, dqt, sizeof(dqt));
    jw_bytes(&j, sof, 10 + 3 * (size_t)nc);
    jw_bytes(&j, dht_dc, sizeof(dht_dc));
    jw_bytes(&j, dht_ac, sizeof(dht_ac));
    for (int s = 0; s < n; s++) {
        int ns = scans[s].comp < 0 ? nc : 1;
        uint8_t sos[16] = { 0xFF, 0xDA, 0, (uint8_t)(6 + 2 * ns), (uint8_t)ns };
        for (int c = 0; c < ns; c++) {
            sos[5 + 2 * c] = (uint8_t)(scans[s].comp < 0 ? c + 1 : scans[s].comp + 1);
            sos[6 + 2 * c] = 0x00;
        }
        sos[5 + 2 * ns] = (uint8_t)scans[s].ss;
        sos[6 + 2 * ns] = (uint8_t)scans[s].se;
        sos[7 + 2 * ns] = (uint8_t)scans[s].ahal;
        jw_bytes(&j, sos, 8 + 2 * (size_t)ns);
        if (scans[s].comp < 0) {
            for (int64_t b = 0; b < blocks * ns; b++)
                jw_bits(&j, 0, 1);
        } else {
            for (int64_t b = 0; b < blocks; b += 32767)
                jw_bits(&j, 0x3FFF, 15); /* code '0' (EOB14) + 14 one-bits */
        }
        jw_flush(&j);
    }
    jw_bytes(&j, "\xFF\xD9", 2);
    *ret_len = j.len;
    return j.buf;
}

static void expect_jpeg(const char *what, const uint8_t *data, size_t n, int code, const char *needle)
{
    Image img = { 0 };
    char err[256] = "";
    int r = image_decode(data, n, NULL, &img, err, sizeof(err));

    CHECK_INT(r, code);
    CHECK(!needle || strstr(err, needle) != NULL);
    if (code == 0 && img.rgb) {
        size_t bad = 0;
        for (size_t i = 0; i < (size_t)img.width * img.height * 3; i++)
            bad += img.rgb[i] != 128;
        CHECK_INT(bad, 0);
    }
    fprintf(stderr, "%s: %s\n", what, r == 0 ? "decoded, every pixel 128" : err);
    image_free(&img);
}

static void test_jpeg_scan_bomb(void)
{
    size_t n = 0;
    uint8_t *bomb;
    char err[256] = "";
    int ori = 0, scans = 0, w = 0, h = 0;
    int64_t visits = 0;

    /* The finding: 5792² (just under the 32 Mpx cap), 255 scans — refused on the scan count. */
    bomb = make_progressive(5792, 5792, 1, PJ_BANDS, 255, &n);
    CHECK_INT(jpeg_scan_markers(bomb, n, &ori, &scans, &visits, &w, &h, err, sizeof(err)), 0);
    CHECK_INT(scans, 255);
    CHECK_INT(visits, 255LL * 724 * 724); /* one position per block per scan */
    expect_jpeg("5792² gray, 255 scans", bomb, n, -EFBIG, "255 scans");
    free(bomb);
    /* The shape that made it cost 5.5 s: refinement scans repeating the same bit (only the first is
     * valid). Refused at the first out-of-order scan, before TurboJPEG runs. */
    bomb = make_progressive(5792, 5792, 1, PJ_BROKEN, 40, &n);
    expect_jpeg("5792² gray, 40 repeated refinement scans", bomb, n, -EBADMSG, "breaks the progression");
    free(bomb);
    /* The costliest valid progression (43 scans, every coefficient refined 13 times, three components):
     * within the scan count, over the coefficient-visit cap. */
    bomb = make_progressive(5792, 5792, 3, PJ_REFINE, 0, &n);
    CHECK_INT(jpeg_scan_markers(bomb, n, &ori, &scans, &visits, &w, &h, err, sizeof(err)), 0);
    CHECK_INT(scans, 43);
    CHECK_INT(visits, 724LL * 724 * 3 * (1 + 14 * 63));
    expect_jpeg("5792² YCbCr, 43 refinement scans", bomb, n, -EFBIG, "coefficient visits");
    free(bomb);
    /* 64 single-coefficient scans of that size are cheap: within every cap (not decoded here: 0.4 s). */
    bomb = make_progressive(5792, 5792, 1, PJ_BANDS, 64, &n);
    CHECK_INT(jpeg_scan_markers(bomb, n, &ori, &scans, &visits, &w, &h, err, sizeof(err)), 0);
    CHECK(scans == 64 && visits <= (int64_t)33554432 * JPEG_MAX_SCAN_PASSES);
    free(bomb);

    /* The same constructions, small and valid: they decode exactly, so the writer makes real JPEGs and
     * the caps, not a parse error, refused the big ones. */
    bomb = make_progressive(512, 384, 1, PJ_BANDS, 64, &n);
    expect_jpeg("512×384 gray, 64 band scans", bomb, n, 0, NULL);
    free(bomb);
    bomb = make_progressive(512, 384, 3, PJ_REFINE, 0, &n);
    expect_jpeg("512×384 YCbCr, 43 refinement scans", bomb, n, 0, NULL);
    free(bomb);
    bomb = make_progressive(512, 384, 1, PJ_BROKEN, 3, &n); /* only the valid first refinement */
    expect_jpeg("512×384 gray, 3 scans", bomb, n, 0, NULL);
    free(bomb);
}
#endif

/* -------------------------------------------------------------------------- budget and cancel */
static void expect_code(const char *what, const uint8_t *data, size_t n, const ImageLimits *lim, int code,
                        const char *needle)
{
    Image img = { 0 };
    char err[256] = "";
    int r = image_decode(data, n, lim, &img, err, sizeof(err));

    if (r != code || (needle && !strstr(err, needle)))
        fprintf(stderr, "%s: got %d \"%s\", expected %d (\"%s\")\n", what, r, err, code, needle ? needle : "");
    CHECK_INT(r, code);
    CHECK(!needle || strstr(err, needle) != NULL);
    CHECK(img.rgb == NULL);
    image_free(&img);
}

static void test_budget_and_cancel(void)
{
    static const struct { const char *rel; int have; } stills[] = {
        { "valid/pattern.png", HAVE_PNG }, { "valid/pattern.jpg", HAVE_JPEG },
        { "valid/pattern.gif", HAVE_FFMPEG }, { "valid/pattern.bmp", HAVE_FFMPEG },
        { "valid/pattern.tiff", HAVE_FFMPEG }, { "valid/pattern.webp", HAVE_FFMPEG },
    };
    atomic_int cancel = 0;
    ImageLimits lim;

    for (size_t i = 0; i < sizeof(stills) / sizeof(stills[0]); i++) {
        size_t n = 0;
        uint8_t *data = stills[i].have ? test_read_fixture("media", stills[i].rel, &n) : NULL;
        Image img = { 0 };
        char err[256] = "";
        if (!stills[i].have)
            continue;
        CHECK(data != NULL);
        if (!data)
            continue;
        image_limits_default(&lim);
        lim.cancel = &cancel;
        atomic_store(&cancel, 0);
        CHECK_INT(image_decode(data, n, &lim, &img, err, sizeof(err)), 0); /* defaults + a clear flag: fine */
        image_free(&img);
        lim.max_cpu_s = 1e-6;
        expect_code(stills[i].rel, data, n, &lim, -ETIME, "decode budget ran out");
        lim.max_cpu_s = 0; /* no budget */
        CHECK_INT(image_decode(data, n, &lim, &img, err, sizeof(err)), 0);
        image_free(&img);
        atomic_store(&cancel, 1);
        expect_code(stills[i].rel, data, n, &lim, -ECANCELED, "cancelled");
        free(data);
    }

    /* video sampling: its own budget (max_video_cpu_s) and the same flag */
    {
        size_t n = 0;
        uint8_t *data = test_read_fixture("media", "video/seek.mp4", &n);
        Image frames[8] = { { 0 } };
        int got = 0;
        char err[256] = "";
        CHECK(data != NULL);
        if (data && HAVE_FFMPEG) {
            image_limits_default(&lim);
            lim.max_cpu_s = 1e-6; /* the still-image budget does not apply to a video */
            CHECK_INT(video_sample_frames(data, n, 8, &lim, frames, NULL, &got, err, sizeof(err)), 0);
            for (int i = 0; i < got; i++)
                image_free(&frames[i]);
            lim.max_video_cpu_s = 1e-6;
            CHECK_INT(video_sample_frames(data, n, 8, &lim, frames, NULL, &got, err, sizeof(err)), -ETIME);
            CHECK(strstr(err, "decode budget ran out") != NULL);
            image_limits_default(&lim);
            atomic_store(&cancel, 1);
            lim.cancel = &cancel;
            CHECK_INT(video_sample_frames(data, n, 8, &lim, frames, NULL, &got, err, sizeof(err)), -ECANCELED);
        }
        free(data);
    }

#if HAVE_PNG
    /* Mid-decode: a 4096² gray PNG (16 Mpx, 48 MB of RGB out) cannot decode in 0.5 ms of CPU, so the row
     * callback (not the check before the rows) is what stops it; with the default 2 s it decodes. */
    {
        enum { S = 4096 };
        png_image pi = { .version = PNG_IMAGE_VERSION, .width = S, .height = S, .format = PNG_FORMAT_GRAY };
        uint8_t *pix = calloc((size_t)S * S, 1);
        png_alloc_size_t len = 0;
        uint8_t *png = NULL;
        Image img = { 0 };
        char err[256] = "";
        for (size_t i = 0; pix && i < (size_t)S * S; i++)
            pix[i] = (uint8_t)(i * 7 / S);
        if (pix && png_image_write_to_memory(&pi, NULL, &len, 0, pix, 0, NULL) && (png = malloc(len)) &&
            png_image_write_to_memory(&pi, png, &len, 0, pix, 0, NULL)) {
            image_limits_default(&lim);
            lim.max_cpu_s = 5e-4;
            expect_code("4096² PNG, 0.5 ms", png, len, &lim, -ETIME, "decode budget ran out");
            image_limits_default(&lim);
            CHECK_INT(image_decode(png, len, &lim, &img, err, sizeof(err)), 0);
            CHECK_INT(img.width, S);
            image_free(&img);
        } else {
            CHECK(0); /* could not write the PNG */
        }
        free(png);
        free(pix);
    }
#endif
}

/* ------------------------------------------------------------------------------ F5 error classes */
static uint32_t rd32be(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static void put32be(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static void test_error_classes(void)
{
    ImageLimits lim;
    size_t n = 0;
    uint8_t *d;

    if (!HAVE_FFMPEG)
        return;
    /* TIFF and WebP (lossless VP8L fixture) over the pixel cap: TooLarge, named, before FFmpeg decodes. */
    image_limits_default(&lim);
    lim.max_pixels = 500; /* the fixtures are 32×24 = 768 px */
    d = test_read_fixture("media", "valid/pattern.tiff", &n);
    if (d)
        expect_code("TIFF over the pixel cap", d, n, &lim, -EFBIG, "pixel limit");
    free(d);
    d = test_read_fixture("media", "valid/pattern.webp", &n);
    if (d)
        expect_code("WebP over the pixel cap", d, n, &lim, -EFBIG, "pixel limit");
    /* the same WebP declaring 16384×16384 in its VP8L header: over the default caps */
    if (d && n > 25 && memcmp(d + 12, "VP8L", 4) == 0) {
        image_limits_default(&lim);
        d[21] = 0xFF;
        d[22] = 0xFF; /* width − 1 = 16383 (14 bits), the low bits of height − 1 */
        d[23] = 0xFF;
        d[24] = (uint8_t)(d[24] | 0x0F);
        expect_code("WebP 16384×16384", d, n, &lim, -EFBIG, "16384");
    }
    free(d);

    /* MP4 whose stts box claims 2^31 − 1 entries: FFmpeg gives up with ENOMEM; that is malformed input. */
    d = test_read_fixture("media", "video/ramp.mp4", &n);
    CHECK(d != NULL);
    if (d) {
        Image frames[2] = { { 0 } };
        int got = 0, patched = 0;
        char err[256] = "";
        for (size_t i = 4; i + 12 <= n; i++) {
            if (memcmp(d + i, "stts", 4) == 0 && rd32be(d + i - 4) >= 16) {
                put32be(d + i + 8, 0x7FFFFFFF); /* after version/flags */
                patched++;
            }
        }
        CHECK_INT(patched, 1);
        CHECK_INT(video_sample_frames(d, n, 2, NULL, frames, NULL, &got, err, sizeof(err)), -EBADMSG);
        CHECK(strstr(err, "malformed") != NULL);
        fprintf(stderr, "stts 2^31−1 entries: %s\n", err);
        free(d);
    }
}

/* ------------------------------------------------------------------- fd that never sends EOF */
typedef struct { atomic_int *flag; } Canceller;

static void *cancel_later(void *arg)
{
    struct timespec ts = { 0, 100 * 1000000L };
    nanosleep(&ts, NULL);
    atomic_store(((Canceller *)arg)->flag, 1);
    return NULL;
}

/* Issue 12 F0 at the library level: image_decode_fd / video_sample_frames_fd on a pipe whose writer never
 * closes end at the deadline or on cancel, instead of blocking in read() for ever. */
static void test_silent_fd(void)
{
    ImageLimits lim;
    Image img = { 0 }, frames[2] = { { 0 } };
    atomic_int cancel = 0;
    char err[256] = "";
    int p[2], got = 0;
    pthread_t th;
    Canceller c = { &cancel };

    CHECK_INT(pipe(p), 0);
    CHECK(write(p[1], "\x89PNG\r\n\x1a\n", 8) == 8); /* a start, then nothing */
    image_limits_default(&lim);
    lim.timeout_s = 0.3;
    CHECK_INT(image_decode_fd(p[0], &lim, &img, err, sizeof(err)), -ETIMEDOUT);
    CHECK_INT(video_sample_frames_fd(p[0], 2, &lim, frames, NULL, &got, err, sizeof(err)), -ETIMEDOUT);
    fprintf(stderr, "silent pipe: %s\n", err);
    image_limits_default(&lim); /* 30 s deadline: the flag, set 0.1 s from now, must end it */
    lim.cancel = &cancel;
    pthread_create(&th, NULL, cancel_later, &c);
    CHECK_INT(image_decode_fd(p[0], &lim, &img, err, sizeof(err)), -ECANCELED);
    pthread_join(th, NULL);
    CHECK(img.rgb == NULL);
    close(p[0]);
    close(p[1]);
}

/* ------------------------------------------------------------ concurrent decodes (a decode pool) */
typedef struct {
    const uint8_t *data;
    size_t n;
    const Image *want;
    double max_cpu_s;
    atomic_int *cancel;
    int expect, n_wrong;
} PoolJob;

static void *pool_main(void *arg)
{
    PoolJob *j = arg;
    for (int i = 0; i < 20; i++) {
        ImageLimits lim;
        Image img = { 0 };
        char err[256];
        int r;
        image_limits_default(&lim);
        lim.max_cpu_s = j->max_cpu_s;
        lim.cancel = j->cancel;
        r = image_decode(j->data, j->n, &lim, &img, err, sizeof(err));
        if (r != j->expect || (r == 0 && (img.width != j->want->width || img.height != j->want->height ||
                                          memcmp(img.rgb, j->want->rgb, (size_t)img.width * img.height * 3))))
            j->n_wrong++;
        image_free(&img);
    }
    return NULL;
}

/* Four threads decode the same GIF at once, each with its own budget and flag: the budget is the calling
 * thread's CPU time (one thread's 1 µs budget fails only that thread), a flag cancels only its own decodes,
 * and the others get the same pixels as a lone decode. */
static void test_concurrent(void)
{
    size_t n = 0;
    uint8_t *data = HAVE_FFMPEG ? test_read_fixture("media", "valid/pattern.gif", &n) : NULL;
    Image want = { 0 };
    atomic_int on = 1, off = 0;
    char err[256];
    pthread_t th[4];

    if (!data)
        return;
    CHECK_INT(image_decode(data, n, NULL, &want, err, sizeof(err)), 0);
    {
        PoolJob jobs[4] = {
            { data, n, &want, 2.0, &off, 0, 0 }, { data, n, &want, 1e-6, &off, -ETIME, 0 },
            { data, n, &want, 2.0, &on, -ECANCELED, 0 }, { data, n, &want, 0, NULL, 0, 0 },
        };
        for (int i = 0; i < 4; i++)
            pthread_create(&th[i], NULL, pool_main, &jobs[i]);
        for (int i = 0; i < 4; i++) {
            pthread_join(th[i], NULL);
            CHECK_INT(jobs[i].n_wrong, 0);
        }
    }
    image_free(&want);
    free(data);
}

int main(void)
{
#if HAVE_JPEG
    test_jpeg_scan_bomb();
#endif
    test_budget_and_cancel();
    test_error_classes();
    test_concurrent();
    test_silent_fd();
    return test_exit();
}
