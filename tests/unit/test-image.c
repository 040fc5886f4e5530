/* test-image.c — vision/image*: PNG round trips written here with libpng (exact), JPEG round trips with
 * TurboJPEG (PSNR bound), CMYK JPEG, EXIF orientation 1–8, the lossless fixtures of the FFmpeg path
 * (BMP/TIFF/WebP/GIF vs tests/fixtures/media/valid/pattern.rgb, made with NumPy), every hostile input of
 * tests/fixtures/media/hostile/MANIFEST (expected code, a message, < 1 s each), video sampling on the
 * ramp clips (frame content recovered from the pixels must match the timestamp), fd and pipe input, caps.
 * Fixtures come from tools/make-media-corpus.py. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "image-internal.h"
#include "image.h"
#include "test-util.h"

#if HAVE_PNG
#include <png.h>
#endif
#if HAVE_JPEG
#include <turbojpeg.h>
#endif

static char g_fix[1024];

static double psnr(const uint8_t *a, const uint8_t *b, size_t n)
{
    double se = 0;
    for (size_t i = 0; i < n; i++)
        se += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return se == 0 ? 99.0 : 10.0 * log10(255.0 * 255.0 * (double)n / se);
}

/* ------------------------------------------------------------------------------------------------ PNG */
#if HAVE_PNG
typedef struct { uint8_t *buf; size_t len, cap; } MemOut;

static void mem_write(png_structp png, png_bytep data, png_size_t n)
{
    MemOut *m = png_get_io_ptr(png);
    if (m->len + n > m->cap) {
        m->cap = (m->len + n) * 2;
        m->buf = realloc(m->buf, m->cap);
    }
    memcpy(m->buf + m->len, data, n);
    m->len += n;
}

static void mem_flush(png_structp png) { (void)png; }

/* Writes w×h pixels (rowbytes each) of the given type to memory. */
static MemOut write_png(int w, int h, int depth, int ctype, int interlace, const uint8_t *pix, size_t rowbytes,
                        const png_color *pal, int n_pal, const uint8_t *trns, int n_trns)
{
    MemOut m = { 0 };
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(m.buf);
        return (MemOut){ 0 };
    }
    png_set_write_fn(png, &m, mem_write, mem_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, ctype, interlace, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (pal)
        png_set_PLTE(png, info, pal, n_pal);
    if (trns)
        png_set_tRNS(png, info, trns, n_trns, NULL);
    png_write_info(png, info);
    if (depth == 16)
        png_set_swap(png); /* our 16-bit buffer is little-endian host order */
    {
        int passes = png_set_interlace_handling(png);
        for (int p = 0; p < passes; p++)
            for (int y = 0; y < h; y++)
                png_write_row(png, pix + (size_t)y * rowbytes);
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return m;
}

static void check_png(const char *name, MemOut m, int w, int h, const uint8_t *expect)
{
    Image img = { 0 };
    char err[256] = "";
    int r = image_decode(m.buf, m.len, NULL, &img, err, sizeof(err));
    CHECK_INT(r, 0);
    if (r == 0) {
        CHECK_INT(img.width, w);
        CHECK_INT(img.height, h);
        if (img.width == w && img.height == h && memcmp(img.rgb, expect, (size_t)w * h * 3) != 0) {
            fprintf(stderr, "%s: pixels differ\n", name);
            CHECK(0);
        }
    } else {
        fprintf(stderr, "%s: %s\n", name, err);
    }
    image_free(&img);
    free(m.buf);
}

static void test_png(void)
{
    enum { W = 37, H = 23 };
    static uint8_t rgb[H][W][3], rgba[H][W][4], expect[H][W][3], g1[H][(W + 7) / 8], pal_idx[H][W];
    static uint16_t rgb16[H][W][3];
    png_color pal[4] = { { 255, 0, 0 }, { 0, 255, 0 }, { 0, 0, 255 }, { 10, 20, 30 } };
    uint8_t trns[4] = { 255, 0, 128, 255 };

    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            rgb[y][x][0] = (uint8_t)(x * 7);
            rgb[y][x][1] = (uint8_t)(y * 11);
            rgb[y][x][2] = (uint8_t)(x * y);
            for (int c = 0; c < 3; c++)
                rgba[y][x][c] = rgb[y][x][c];
            rgba[y][x][3] = (uint8_t)((x * 31 + y * 17) & 255);
            for (int c = 0; c < 3; c++)
                rgb16[y][x][c] = (uint16_t)(rgb[y][x][c] * 257 + (x & 1) * 100);
            pal_idx[y][x] = (uint8_t)((x + y) & 3);
            if ((x ^ y) & 1)
                g1[y][x / 8] |= (uint8_t)(0x80 >> (x % 8));
        }
    check_png("rgb8", write_png(W, H, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, &rgb[0][0][0], W * 3, NULL, 0,
                                NULL, 0), W, H, &rgb[0][0][0]);
    check_png("rgb8-adam7", write_png(W, H, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_ADAM7, &rgb[0][0][0], W * 3, NULL,
                                      0, NULL, 0), W, H, &rgb[0][0][0]);
    /* 16 bit: strip_16 keeps the high byte: (v·257 + 0 or 100) >> 8 = v (100 < 257 − v·257 % 256 … checked) */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 3; c++)
                expect[y][x][c] = (uint8_t)(rgb16[y][x][c] >> 8);
    check_png("rgb16", write_png(W, H, 16, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, (uint8_t *)&rgb16[0][0][0],
                                 W * 6, NULL, 0, NULL, 0), W, H, &expect[0][0][0]);
    /* RGBA: composited on white, out = (c·a + 255·(255 − a) + 127) / 255 */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 3; c++) {
                unsigned a = rgba[y][x][3];
                expect[y][x][c] = (uint8_t)((rgba[y][x][c] * a + 255u * (255u - a) + 127u) / 255u);
            }
    check_png("rgba8", write_png(W, H, 8, PNG_COLOR_TYPE_RGBA, PNG_INTERLACE_NONE, &rgba[0][0][0], W * 4, NULL, 0,
                                 NULL, 0), W, H, &expect[0][0][0]);
    /* palette with tRNS: index 1 fully transparent → white; index 2 half → composite */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int i = pal_idx[y][x];
            unsigned a = trns[i];
            expect[y][x][0] = (uint8_t)((pal[i].red * a + 255u * (255u - a) + 127u) / 255u);
            expect[y][x][1] = (uint8_t)((pal[i].green * a + 255u * (255u - a) + 127u) / 255u);
            expect[y][x][2] = (uint8_t)((pal[i].blue * a + 255u * (255u - a) + 127u) / 255u);
        }
    check_png("palette-trns", write_png(W, H, 8, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE, &pal_idx[0][0], W,
                                        pal, 4, trns, 4), W, H, &expect[0][0][0]);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            expect[y][x][0] = expect[y][x][1] = expect[y][x][2] = ((x ^ y) & 1) ? 255 : 0;
    check_png("gray1", write_png(W, H, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, &g1[0][0], (W + 7) / 8, NULL, 0,
                                 NULL, 0), W, H, &expect[0][0][0]);
    /* pixel cap: the same image against a 100-pixel limit */
    {
        MemOut m = write_png(W, H, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, &rgb[0][0][0], W * 3, NULL, 0, NULL, 0);
        ImageLimits lim;
        Image img = { 0 };
        char err[256] = "";
        image_limits_default(&lim);
        lim.max_pixels = 100;
        CHECK_INT(image_decode(m.buf, m.len, &lim, &img, err, sizeof(err)), -EFBIG);
        CHECK(strstr(err, "PNG 37×23 exceeds the 100-pixel limit") != NULL);
        lim.max_pixels = 1 << 20;
        lim.max_input_bytes = 10;
        CHECK_INT(image_decode(m.buf, m.len, &lim, &img, err, sizeof(err)), -EFBIG);
        free(m.buf);
    }
}
#endif

/* ----------------------------------------------------------------------------------------------- JPEG */
#if HAVE_JPEG
static uint8_t *tj_encode(const uint8_t *pix, int w, int h, int pf, int subsamp, int q, unsigned long *ret_len)
{
    tjhandle tj = tjInitCompress();
    unsigned char *out = NULL;
    if (tjCompress2(tj, pix, w, 0, h, pf, &out, ret_len, subsamp, q, 0) < 0) {
        fprintf(stderr, "tjCompress2: %s\n", tjGetErrorStr2(tj));
        out = NULL;
    }
    tjDestroy(tj);
    return out;
}

static void test_jpeg_roundtrip(void)
{
    enum { W = 96, H = 64 };
    static uint8_t rgb[H][W][3], cmyk[H][W][4], expect[H][W][3];
    struct { int subsamp; double min_psnr; } cases[] = { { TJSAMP_444, 38.0 }, { TJSAMP_420, 32.0 } };

    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            rgb[y][x][0] = (uint8_t)(x * 255 / W);
            rgb[y][x][1] = (uint8_t)(y * 255 / H);
            rgb[y][x][2] = (uint8_t)(128 + 100 * sin(x * 0.1 + y * 0.05));
        }
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        unsigned long len = 0;
        uint8_t *jpg = tj_encode(&rgb[0][0][0], W, H, TJPF_RGB, cases[k].subsamp, 95, &len);
        Image img = { 0 };
        char err[256] = "";
        CHECK(jpg != NULL);
        if (!jpg)
            continue;
        CHECK_INT(image_decode(jpg, len, NULL, &img, err, sizeof(err)), 0);
        if (img.rgb) {
            double p = psnr(img.rgb, &rgb[0][0][0], sizeof(rgb));
            CHECK_INT(img.width, W);
            CHECK_INT(img.height, H);
            fprintf(stderr, "jpeg subsamp %d: PSNR %.1f dB (bound %.0f)\n", cases[k].subsamp, p, cases[k].min_psnr);
            CHECK(p >= cases[k].min_psnr);
        }
        image_free(&img);
        tjFree(jpg);
    }
    /* CMYK (4-component) JPEG: R = C·K/255 */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t k = (uint8_t)(155 + x);
            cmyk[y][x][0] = rgb[y][x][0];
            cmyk[y][x][1] = rgb[y][x][1];
            cmyk[y][x][2] = rgb[y][x][2];
            cmyk[y][x][3] = k;
            for (int c = 0; c < 3; c++)
                expect[y][x][c] = (uint8_t)((rgb[y][x][c] * k + 127) / 255);
        }
    {
        unsigned long len = 0;
        uint8_t *jpg = tj_encode(&cmyk[0][0][0], W, H, TJPF_CMYK, TJSAMP_444, 95, &len);
        Image img = { 0 };
        char err[256] = "";
        CHECK(jpg != NULL);
        if (jpg) {
            CHECK_INT(image_decode(jpg, len, NULL, &img, err, sizeof(err)), 0);
            if (img.rgb) {
                double p = psnr(img.rgb, &expect[0][0][0], sizeof(expect));
                fprintf(stderr, "jpeg CMYK: PSNR %.1f dB (bound 32)\n", p);
                CHECK(p >= 32.0);
            }
        }
        image_free(&img);
        tjFree(jpg);
    }
}

/* 24×16 image, 3×2 blocks of 8×8 in six distinct colours; EXIF orientation o inserted after SOI. */
static void test_exif_orientation(void)
{
    enum { W = 24, H = 16 };
    static const uint8_t col[6][3] = { { 255, 0, 0 }, { 0, 255, 0 }, { 0, 0, 255 },
                                       { 255, 255, 0 }, { 0, 255, 255 }, { 255, 0, 255 } };
    static uint8_t rgb[H][W][3];
    unsigned long len = 0;
    uint8_t *jpg;

    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            memcpy(rgb[y][x], col[(y / 8) * 3 + x / 8], 3);
    jpg = tj_encode(&rgb[0][0][0], W, H, TJPF_RGB, TJSAMP_444, 98, &len);
    CHECK(jpg != NULL);
    if (!jpg)
        return;
    for (int o = 1; o <= 8; o++) {
        for (int big_endian = 0; big_endian <= 1; big_endian++) {
            /* APP1: "Exif\0\0", TIFF header, IFD0 with one entry (0x0112, SHORT, 1, o) */
            uint8_t app[2 + 2 + 6 + 8 + 2 + 12 + 4], *out;
            uint8_t *t = app + 10;
            Image img = { 0 };
            char err[256] = "";
            size_t n = sizeof(app);
            memset(app, 0, sizeof(app));
            app[0] = 0xFF; app[1] = 0xE1; app[2] = (uint8_t)((n - 2) >> 8); app[3] = (uint8_t)(n - 2);
            memcpy(app + 4, "Exif\0\0", 6);
            if (big_endian) {
                memcpy(t, "MM\0*\0\0\0\x08", 8);
                t[8] = 0; t[9] = 1;                  /* count */
                t[10] = 0x01; t[11] = 0x12; t[13] = 3; /* tag, type */
                t[17] = 1;                           /* count 1 */
                t[19] = (uint8_t)o;                  /* value (SHORT, big endian, left-justified) */
            } else {
                memcpy(t, "II*\0\x08\0\0\0", 8);
                t[8] = 1;
                t[10] = 0x12; t[11] = 0x01; t[12] = 3;
                t[14] = 1;
                t[18] = (uint8_t)o;
            }
            out = malloc(len + n);
            memcpy(out, jpg, 2);
            memcpy(out + 2, app, n);
            memcpy(out + 2 + n, jpg + 2, len - 2);
            {
                int ori = 0, scans = 0, jw = 0, jh = 0;
                int64_t coefs = 0;
                CHECK_INT(jpeg_scan_markers(out, len + n, &ori, &scans, &coefs, &jw, &jh, err, sizeof(err)), 0);
                CHECK_INT(ori, o);
                CHECK_INT(scans, 1);
                CHECK(coefs >= ((W + 7) / 8) * ((H + 7) / 8) * 64); /* one baseline scan: luma + chroma */
                CHECK_INT(jw, W);
                CHECK_INT(jh, H);
            }
            CHECK_INT(image_decode(out, len + n, NULL, &img, err, sizeof(err)), 0);
            if (img.rgb) {
                int swap = o >= 5, ow = swap ? H : W, oh = swap ? W : H;
                CHECK_INT(img.width, ow);
                CHECK_INT(img.height, oh);
                /* For every output block centre, find the source pixel by the EXIF definition and compare. */
                for (int y = 2; y < oh && img.width == ow; y += 4)
                    for (int x = 2; x < ow; x += 4) {
                        int sx, sy;
                        switch (o) {
                        case 1: sx = x; sy = y; break;
                        case 2: sx = W - 1 - x; sy = y; break;
                        case 3: sx = W - 1 - x; sy = H - 1 - y; break;
                        case 4: sx = x; sy = H - 1 - y; break;
                        case 5: sx = y; sy = x; break;
                        case 6: sx = y; sy = H - 1 - x; break;
                        case 7: sx = W - 1 - y; sy = H - 1 - x; break;
                        default: sx = W - 1 - y; sy = x; break;
                        }
                        if ((sx % 8 == 0 || sx % 8 == 7) || (sy % 8 == 0 || sy % 8 == 7))
                            continue; /* block edges blur a little */
                        for (int c = 0; c < 3; c++)
                            CHECK_NEAR(img.rgb[((size_t)y * ow + x) * 3 + c], rgb[sy][sx][c], 24);
                    }
            }
            image_free(&img);
            free(out);
        }
    }
    tjFree(jpg);
}
#endif

/* ----------------------------------------------------------------------------------- FFmpeg fixtures */
static void test_lossless_fixtures(void)
{
    static const char *const names[] = { "pattern.png", "pattern.bmp", "pattern.tiff", "pattern.webp",
                                         "pattern.gif" };
    size_t ref_len = 0;
    uint8_t *ref = test_read_fixture("media", "valid/pattern.rgb", &ref_len);

    CHECK(ref != NULL && ref_len == 32 * 24 * 3);
    if (!ref)
        return;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t n = 0;
        uint8_t *data;
        char rel[64], err[256] = "";
        Image img = { 0 };
        int r;
        snprintf(rel, sizeof(rel), "valid/%s", names[i]);
        data = test_read_fixture("media", rel, &n);
        CHECK(data != NULL);
        if (!data)
            continue;
        r = image_decode(data, n, NULL, &img, err, sizeof(err));
        if ((r == -ENOTSUP && (!HAVE_FFMPEG || !HAVE_PNG))) {
            free(data);
            continue;
        }
        CHECK_INT(r, 0);
        if (r < 0)
            fprintf(stderr, "%s: %s\n", names[i], err);
        if (r == 0) {
            CHECK_INT(img.width, 32);
            CHECK_INT(img.height, 24);
            if (img.width == 32 && img.height == 24 && memcmp(img.rgb, ref, ref_len) != 0) {
                fprintf(stderr, "%s: pixels differ from pattern.rgb (PSNR %.1f)\n", names[i],
                        psnr(img.rgb, ref, ref_len));
                CHECK(0);
            }
        }
        image_free(&img);
        free(data);
    }
    {
        size_t n = 0;
        uint8_t *data = test_read_fixture("media", "valid/pattern.jpg", &n);
        Image img = { 0 };
        char err[256] = "";
        if (data && image_decode(data, n, NULL, &img, err, sizeof(err)) == 0) {
            double p = psnr(img.rgb, ref, ref_len);
            fprintf(stderr, "pattern.jpg: PSNR %.1f dB (bound 20: saturated 8×8 blocks, 4:2:0)\n", p);
            CHECK(p >= 20.0);
        } else {
            CHECK(!HAVE_JPEG);
        }
        image_free(&img);
        free(data);
    }
    free(ref);
}

static int code_of(const char *s)
{
    if (!strcmp(s, "OK")) return 0;
    if (!strcmp(s, "EBADMSG")) return -EBADMSG;
    if (!strcmp(s, "EFBIG")) return -EFBIG;
    if (!strcmp(s, "EMEDIUMTYPE")) return -EMEDIUMTYPE;
    return 1;
}

static void test_hostile(void)
{
    char path[2048], line[512];
    FILE *fp;
    int n_cases = 0, n_png = 0, n_jpeg = 0, n_other = 0;

    snprintf(path, sizeof(path), "%s/media/hostile/MANIFEST", g_fix);
    fp = fopen(path, "r");
    CHECK(fp != NULL);
    if (!fp)
        return;
    while (fgets(line, sizeof(line), fp)) {
        char name[256], kind[16], expect[32], rel[300], err[512] = "";
        size_t n = 0;
        uint8_t *data;
        int want, r;
        double t0, dt;

        if (line[0] == '#' || sscanf(line, "%255s %15s %31s", name, kind, expect) != 3)
            continue;
        want = code_of(expect);
        CHECK(want != 1);
        snprintf(rel, sizeof(rel), "hostile/%s", name);
        data = test_read_fixture("media", rel, &n);
        CHECK(data != NULL);
        if (!data)
            continue;
        t0 = media_clock_s(CLOCK_MONOTONIC);
        if (!strcmp(kind, "video")) {
            Image frames[4] = { { 0 } };
            double ts[4];
            int got = 0;
            r = video_sample_frames(data, n, 4, NULL, frames, ts, &got, err, sizeof(err));
            for (int i = 0; i < got; i++)
                image_free(&frames[i]);
        } else {
            Image img = { 0 };
            r = image_decode(data, n, NULL, &img, err, sizeof(err));
            image_free(&img);
        }
        dt = media_clock_s(CLOCK_MONOTONIC) - t0;
        if (r == -ENOTSUP) { /* library not built in */
            free(data);
            continue;
        }
        n_cases++;
        n_png += !strncmp(name, "png-", 4);
        n_jpeg += !strncmp(name, "jpeg-", 5);
        n_other += strncmp(name, "png-", 4) && strncmp(name, "jpeg-", 5);
        if (r != want || (r < 0 && strlen(err) < 10)) { /* dt is printed, not asserted (no timed assertions) */
            fprintf(stderr, "hostile %s (%s): got %d, expected %s (%d), %.3f s: %s\n", name, kind, r, expect, want,
                    dt, err);
            CHECK(0);
        } else {
            g_test_checks++;
            if (getenv("MYNA_TEST_VERBOSE"))
                fprintf(stderr, "hostile %-32s %-11s %.3f s  %s\n", name, expect, dt, err);
        }
        free(data);
    }
    fclose(fp);
    fprintf(stderr, "hostile: %d cases (%d PNG, %d JPEG, %d other)\n", n_cases, n_png, n_jpeg, n_other);
    if (HAVE_PNG && HAVE_JPEG && HAVE_FFMPEG) {
        CHECK(n_png >= 30);
        CHECK(n_jpeg >= 30);
        CHECK(n_other >= 20);
    }
}

/* ------------------------------------------------------------------------------------------- video */
/* Luma 16 + step·N (limited range) → RGB ≈ step·N·255/219: recover N from the frame's mean. */
static int frame_index(const Image *img, int step)
{
    double sum = 0;
    size_t n = (size_t)img->width * img->height * 3;
    for (size_t i = 0; i < n; i++)
        sum += img->rgb[i];
    return (int)lround(sum / (double)n / (step * 255.0 / 219.0));
}

static void check_video(const char *rel, int n_frames, double fps, double dur, int step)
{
    size_t n = 0;
    uint8_t *data = test_read_fixture("media", rel, &n);
    Image frames[VIDEO_MAX_FRAMES] = { { 0 } };
    double ts[VIDEO_MAX_FRAMES];
    char err[512] = "";
    int got = 0, r;
    double t0 = media_clock_s(CLOCK_MONOTONIC);

    CHECK(data != NULL);
    if (!data)
        return;
    r = video_sample_frames(data, n, n_frames, NULL, frames, ts, &got, err, sizeof(err));
    if (r == -ENOTSUP) {
        free(data);
        return;
    }
    CHECK_INT(r, 0);
    if (r < 0)
        fprintf(stderr, "%s: %s\n", rel, err);
    CHECK_INT(got, r == 0 ? n_frames : 0);
    fprintf(stderr, "%s: %d frames in %.3f s:", rel, got, media_clock_s(CLOCK_MONOTONIC) - t0);
    for (int i = 0; i < got; i++) {
        double target = dur * (i + 0.5) / n_frames;
        int idx = frame_index(&frames[i], step);
        fprintf(stderr, " %.2f", ts[i]);
        CHECK_INT(frames[i].width, 64);
        CHECK_INT(frames[i].height, 48);
        /* the first frame at or after the target, or the last frame when the target is past it */
        CHECK((ts[i] >= target - 1e-6 && ts[i] < target + 1.0 / fps + 1e-6) ||
              (ts[i] < target && ts[i] >= dur - 1.0 / fps - 1e-6));
        CHECK_INT(idx, lround(ts[i] * fps)); /* the pixels are the frame the timestamp says */
        image_free(&frames[i]);
    }
    fprintf(stderr, "\n");
    free(data);
}

static void test_video(void)
{
    check_video("video/ramp.mp4", 8, 10, 3.0, 7);
    check_video("video/ramp.webm", 8, 10, 3.0, 7);
    check_video("video/ramp.avi", 8, 10, 3.0, 7);
    check_video("video/ramp.gif", 8, 10, 3.0, 7);
    check_video("video/seek.mp4", 8, 5, 20.0, 2);
    check_video("video/ramp.mp4", 1, 10, 3.0, 7);
    check_video("video/ramp.mp4", 64, 10, 3.0, 7); /* more samples than frames: repeats */
}

static void test_video_limits_and_fds(void)
{
    char path[2048], err[512] = "";
    size_t n = 0;
    uint8_t *data = test_read_fixture("media", "video/seek.mp4", &n);
    Image frames[8] = { { 0 } };
    double ts[8];
    ImageLimits lim;
    int got = 0, fd, pfd[2];

    if (!HAVE_FFMPEG || !data) {
        free(data);
        return;
    }
    image_limits_default(&lim);
    lim.max_duration_s = 10;
    CHECK_INT(video_sample_frames(data, n, 8, &lim, frames, ts, &got, err, sizeof(err)), -EFBIG);
    CHECK(strstr(err, "duration") != NULL);
    image_limits_default(&lim);
    lim.max_decode_frames = 5;
    CHECK_INT(video_sample_frames(data, n, 8, &lim, frames, ts, &got, err, sizeof(err)), -EFBIG);
    image_limits_default(&lim);
    lim.max_pixels = 1000;
    CHECK_INT(video_sample_frames(data, n, 8, &lim, frames, ts, &got, err, sizeof(err)), -EFBIG);
    image_limits_default(&lim);
    lim.max_video_bytes = 100;
    CHECK_INT(video_sample_frames(data, n, 8, &lim, frames, ts, &got, err, sizeof(err)), -EFBIG);
    image_limits_default(&lim);
    lim.timeout_s = -1; /* deadline already passed */
    CHECK_INT(video_sample_frames(data, n, 8, &lim, frames, ts, &got, err, sizeof(err)), -ETIMEDOUT);
    CHECK_INT(video_sample_frames(data, n, 0, NULL, frames, ts, &got, err, sizeof(err)), -EINVAL);

    /* regular file fd (pread) */
    snprintf(path, sizeof(path), "%s/media/video/seek.mp4", g_fix);
    fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK_INT(video_sample_frames_fd(fd, 8, NULL, frames, ts, &got, err, sizeof(err)), 0);
        CHECK_INT(got, 8);
        for (int i = 0; i < got; i++) {
            CHECK_INT(frame_index(&frames[i], 2), lround(ts[i] * 5));
            image_free(&frames[i]);
        }
        close(fd);
    }
    /* pipe: read into memory (small enough for the pipe buffer) */
    if (pipe(pfd) == 0) {
        CHECK(write(pfd[1], data, n) == (ssize_t)n);
        close(pfd[1]);
        got = 0;
        CHECK_INT(video_sample_frames_fd(pfd[0], 4, NULL, frames, ts, &got, err, sizeof(err)), 0);
        CHECK_INT(got, 4);
        for (int i = 0; i < got; i++)
            image_free(&frames[i]);
        close(pfd[0]);
    }
    free(data);
}

static void test_image_fd(void)
{
    size_t n = 0;
    uint8_t *data = test_read_fixture("media", "valid/pattern.png", &n);
    int pfd[2];
    Image img = { 0 };
    char err[256] = "";
    ImageLimits lim;

    if (!data || !HAVE_PNG) {
        free(data);
        return;
    }
    CHECK_INT(pipe(pfd), 0);
    CHECK(write(pfd[1], data, n) == (ssize_t)n);
    close(pfd[1]);
    CHECK_INT(image_decode_fd(pfd[0], NULL, &img, err, sizeof(err)), 0);
    CHECK_INT(img.width, 32);
    image_free(&img);
    close(pfd[0]);
    /* over the byte cap through a pipe */
    CHECK_INT(pipe(pfd), 0);
    CHECK(write(pfd[1], data, n) == (ssize_t)n);
    close(pfd[1]);
    image_limits_default(&lim);
    lim.max_input_bytes = 64;
    CHECK_INT(image_decode_fd(pfd[0], &lim, &img, err, sizeof(err)), -EFBIG);
    CHECK(img.rgb == NULL);
    close(pfd[0]);
    image_free(NULL);
    free(data);
}

static void test_detect(void)
{
    CHECK_INT(image_detect_format("\x89PNG\r\n\x1a\n", 8), IMAGE_FORMAT_PNG);
    CHECK_INT(image_detect_format("\xff\xd8\xff", 3), IMAGE_FORMAT_JPEG);
    CHECK_INT(image_detect_format("GIF89a", 6), IMAGE_FORMAT_GIF);
    CHECK_INT(image_detect_format("RIFF\0\0\0\0WEBP", 12), IMAGE_FORMAT_WEBP);
    CHECK_INT(image_detect_format("RIFF\0\0\0\0AVI ", 12), IMAGE_FORMAT_AVI);
    CHECK_INT(image_detect_format("\0\0\0\x20" "ftypisom", 12), IMAGE_FORMAT_MP4);
    CHECK_INT(image_detect_format("#EXTM3U\n", 8), IMAGE_FORMAT_UNKNOWN);
    CHECK_INT(image_detect_format("\x89PNG", 4), IMAGE_FORMAT_UNKNOWN);
    CHECK_INT(image_detect_format(NULL, 0), IMAGE_FORMAT_UNKNOWN);
}

/* A decoder that was not built in answers -ENOTSUP naming the library (only checkable in such a build). */
static void test_missing_libs(void)
{
    static const struct { const char *rel, *lib; int have; } cases[] = {
        { "valid/pattern.png", "libpng", HAVE_PNG },
        { "valid/pattern.jpg", "TurboJPEG", HAVE_JPEG },
        { "valid/pattern.gif", "FFmpeg", HAVE_FFMPEG },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = 0;
        uint8_t *data = test_read_fixture("media", cases[i].rel, &n);
        Image img = { 0 };
        char err[256] = "";
        int r;
        CHECK(data != NULL);
        if (!data)
            continue;
        r = image_decode(data, n, NULL, &img, err, sizeof(err));
        if (cases[i].have) {
            CHECK_INT(r, 0);
        } else {
            CHECK_INT(r, -ENOTSUP);
            CHECK(strstr(err, cases[i].lib) != NULL);
        }
        image_free(&img);
        free(data);
    }
}

int main(void)
{
    const char *fix = getenv("MYNA_FIXTURES");
    snprintf(g_fix, sizeof(g_fix), "%s", fix ? fix : "tests/fixtures");
    test_detect();
    test_missing_libs();
#if HAVE_PNG
    test_png();
#endif
#if HAVE_JPEG
    test_jpeg_roundtrip();
    test_exif_orientation();
#endif
    test_lossless_fixtures();
    test_hostile();
    test_image_fd();
    test_video();
    test_video_limits_and_fds();
    return test_exit();
}
