/* image.c — entry points of the image/video decoders: default limits, format detection by magic bytes,
 * dispatch to libpng / TurboJPEG / FFmpeg, bounded reads from file descriptors, and the shared helpers
 * (dimension caps, allocation, alpha compositing on white).
 * What it is not: a decoder itself (image-png.c, image-jpeg.c, image-ffmpeg.c) nor preprocessing.
 * Reference for the numerics: see image.h (alpha on white as in HF MllamaImageProcessor, SPEC §4.2). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "image-internal.h"
#include "log.h"

void image_limits_default(ImageLimits *lim)
{
    lim->max_pixels = 32LL << 20;
    lim->max_width = 16384;
    lim->max_height = 16384;
    lim->max_input_bytes = (size_t)64 << 20;
    lim->max_video_bytes = (size_t)512 << 20;
    lim->max_memory_bytes = (size_t)512 << 20;
    lim->max_jpeg_scans = 64;
    lim->max_duration_s = 3600.0;
    lim->max_decode_frames = 20000;
    lim->timeout_s = 30.0;
    lim->max_cpu_s = 2.0;
    lim->max_video_cpu_s = 20.0;
    lim->cancel = NULL;
}

ImageFormat image_detect_format(const void *data, size_t size)
{
    const uint8_t *p = data;

    if (!p)
        return IMAGE_FORMAT_UNKNOWN;
    if (size >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
        return IMAGE_FORMAT_PNG;
    if (size >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF)
        return IMAGE_FORMAT_JPEG;
    if (size >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0))
        return IMAGE_FORMAT_GIF;
    if (size >= 14 && p[0] == 'B' && p[1] == 'M')
        return IMAGE_FORMAT_BMP;
    if (size >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
        return IMAGE_FORMAT_WEBP;
    if (size >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "AVI ", 4) == 0)
        return IMAGE_FORMAT_AVI;
    if (size >= 8 && (memcmp(p, "II*\0", 4) == 0 || memcmp(p, "MM\0*", 4) == 0))
        return IMAGE_FORMAT_TIFF;
    if (size >= 4 && memcmp(p, "\x1a\x45\xdf\xa3", 4) == 0)
        return IMAGE_FORMAT_MATROSKA;
    if (size >= 12 && (memcmp(p + 4, "ftyp", 4) == 0 || memcmp(p + 4, "moov", 4) == 0))
        return IMAGE_FORMAT_MP4;
    return IMAGE_FORMAT_UNKNOWN;
}

const char *image_format_name(ImageFormat fmt)
{
    switch (fmt) {
    case IMAGE_FORMAT_PNG: return "PNG";
    case IMAGE_FORMAT_JPEG: return "JPEG";
    case IMAGE_FORMAT_GIF: return "GIF";
    case IMAGE_FORMAT_BMP: return "BMP";
    case IMAGE_FORMAT_WEBP: return "WebP";
    case IMAGE_FORMAT_TIFF: return "TIFF";
    case IMAGE_FORMAT_MP4: return "MP4";
    case IMAGE_FORMAT_MATROSKA: return "Matroska";
    case IMAGE_FORMAT_AVI: return "AVI";
    case IMAGE_FORMAT_UNKNOWN: break;
    }
    return "unknown";
}

int image_format_is_video(ImageFormat fmt)
{
    return fmt == IMAGE_FORMAT_MP4 || fmt == IMAGE_FORMAT_MATROSKA || fmt == IMAGE_FORMAT_AVI;
}

int image_check_dims(const char *what, int64_t w, int64_t h, const ImageLimits *lim, char *err, size_t err_len)
{
    if (w <= 0 || h <= 0)
        return err_set(err, err_len, -EBADMSG, "image: %s has invalid dimensions %lld×%lld", what,
                       (long long)w, (long long)h);
    if (w > lim->max_width || h > lim->max_height)
        return err_set(err, err_len, -EFBIG, "image: %s %lld×%lld exceeds the %d×%d size limit", what,
                       (long long)w, (long long)h, lim->max_width, lim->max_height);
    /* w, h ≤ INT_MAX here, so the product fits in int64. */
    if (w * h > lim->max_pixels)
        return err_set(err, err_len, -EFBIG, "image: %s %lld×%lld exceeds the %lld-pixel limit", what,
                       (long long)w, (long long)h, (long long)lim->max_pixels);
    if ((uint64_t)(w * h) * 3u > lim->max_memory_bytes)
        return err_set(err, err_len, -EFBIG, "image: %s %lld×%lld exceeds the %zu-byte memory limit", what,
                       (long long)w, (long long)h, lim->max_memory_bytes);
    return 0;
}

int image_alloc(Image *img, int w, int h)
{
    img->rgb = malloc((size_t)w * (size_t)h * 3u);
    if (!img->rgb)
        return -ENOMEM;
    img->width = w;
    img->height = h;
    return 0;
}

void image_composite_rgba(const uint8_t *rgba, uint8_t *rgb, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned a = rgba[4 * i + 3];
        for (int c = 0; c < 3; c++) /* a·c/255 + (255−a), rounded: exact at a = 0 and a = 255 */
            rgb[3 * i + c] = (uint8_t)((rgba[4 * i + c] * a + 255u * (255u - a) + 127u) / 255u);
    }
}

void image_free(Image *img)
{
    if (!img)
        return;
    free(img->rgb);
    img->rgb = NULL;
    img->width = img->height = 0;
}

static int missing_lib(const char *fmt, const char *lib, char *err, size_t err_len)
{
    return err_set(err, err_len, -ENOTSUP, "image: %s support not built in (Myna was built without %s)", fmt,
                   lib);
}

/* image_decode with the budget already running (image_decode_fd starts it before reading). */
static int decode_budgeted(const void *data, size_t size, const ImageLimits *lim, MediaBudget *budget, Image *ret,
                           char *err, size_t err_len)
{
    ImageFormat fmt;

    if (media_budget_check(budget))
        return media_budget_error(budget, "image", err, err_len);
    if (size > lim->max_input_bytes)
        return err_set(err, err_len, -EFBIG, "image: input of %zu bytes exceeds the %zu-byte limit", size,
                       lim->max_input_bytes);
    fmt = image_detect_format(data, size);
    switch (fmt) {
    case IMAGE_FORMAT_PNG:
        if (!HAVE_PNG)
            return missing_lib("PNG", "libpng", err, err_len);
        return image_decode_png(data, size, lim, budget, ret, err, err_len);
    case IMAGE_FORMAT_JPEG:
        if (!HAVE_JPEG)
            return missing_lib("JPEG", "TurboJPEG", err, err_len);
        return image_decode_jpeg(data, size, lim, budget, ret, err, err_len);
    case IMAGE_FORMAT_GIF:
    case IMAGE_FORMAT_BMP:
    case IMAGE_FORMAT_WEBP:
    case IMAGE_FORMAT_TIFF:
        if (!HAVE_FFMPEG)
            return missing_lib(image_format_name(fmt), "FFmpeg", err, err_len);
        return image_decode_ffmpeg(data, size, fmt, lim, budget, ret, err, err_len);
    case IMAGE_FORMAT_MP4:
    case IMAGE_FORMAT_MATROSKA:
    case IMAGE_FORMAT_AVI:
        return err_set(err, err_len, -EMEDIUMTYPE, "image: input is a %s video, not an image",
                       image_format_name(fmt));
    case IMAGE_FORMAT_UNKNOWN:
        break;
    }
    {
        const uint8_t *p = data;
        return err_set(err, err_len, -EMEDIUMTYPE,
                       "image: unrecognised format (%zu bytes, starting %02x %02x %02x %02x)", size,
                       size > 0 ? p[0] : 0, size > 1 ? p[1] : 0, size > 2 ? p[2] : 0, size > 3 ? p[3] : 0);
    }
}

int image_decode(const void *data, size_t size, const ImageLimits *lim, Image *ret, char *err, size_t err_len)
{
    ImageLimits dl;
    MediaBudget budget;

    if (!ret || (!data && size))
        return err_set(err, err_len, -EINVAL, "image: invalid arguments");
    if (!lim) {
        image_limits_default(&dl);
        lim = &dl;
    }
    media_budget_init(&budget, lim->timeout_s, lim->max_cpu_s, lim->cancel);
    return decode_budgeted(data, size, lim, &budget, ret, err, err_len);
}

/* Reads the fd from its current position into a malloc'd buffer, at most cap bytes (-EFBIG beyond). Waits
 * in poll() slices of ≤ 200 ms so that the budget's wall deadline and cancel flag end a read from a pipe or
 * socket that never sends EOF (a blocked read spends no CPU, so the CPU budget alone would never fire). */
static int read_fd_capped(int fd, size_t cap, const char *what, MediaBudget *budget, uint8_t **ret_buf,
                          size_t *ret_size, char *err, size_t err_len)
{
    size_t len = 0, alloc = 0;
    uint8_t *buf = NULL;

    for (;;) {
        ssize_t n;
        if (len == alloc) {
            size_t na = alloc ? alloc * 2 : 65536;
            uint8_t *nb;
            if (na > cap + 1)
                na = cap + 1;
            if (na <= alloc) { /* buffer holds cap + 1 bytes: over the limit */
                free(buf);
                return err_set(err, err_len, -EFBIG, "%s: input exceeds the %zu-byte limit", what, cap);
            }
            nb = realloc(buf, na);
            if (!nb) {
                free(buf);
                return err_set(err, err_len, -ENOMEM, "%s: out of memory reading input", what);
            }
            buf = nb;
            alloc = na;
        }
        for (;;) {
            struct pollfd p = { .fd = fd, .events = POLLIN };
            double left;
            int pr;
            if (media_budget_check(budget)) {
                free(buf);
                return media_budget_error(budget, what, err, err_len);
            }
            left = budget->deadline - media_clock_s(CLOCK_MONOTONIC);
            pr = poll(&p, 1, left > 0.2 ? 200 : left < 0.001 ? 1 : (int)(left * 1000));
            if (pr > 0 || (pr < 0 && errno != EINTR))
                break; /* readable, at EOF, hung up, or an error read() reports */
        }
        n = read(fd, buf + len, alloc - len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0) {
            int e = errno;
            free(buf);
            return err_set(err, err_len, -EIO, "%s: read error: %s", what, strerror(e));
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > cap) {
            free(buf);
            return err_set(err, err_len, -EFBIG, "%s: input exceeds the %zu-byte limit", what, cap);
        }
    }
    *ret_buf = buf;
    *ret_size = len;
    return 0;
}

int image_decode_fd(int fd, const ImageLimits *lim, Image *ret, char *err, size_t err_len)
{
    ImageLimits dl;
    MediaBudget budget;
    uint8_t *buf = NULL;
    size_t size = 0;
    int r;

    if (fd < 0 || !ret)
        return err_set(err, err_len, -EINVAL, "image: invalid arguments");
    if (!lim) {
        image_limits_default(&dl);
        lim = &dl;
    }
    media_budget_init(&budget, lim->timeout_s, lim->max_cpu_s, lim->cancel);
    r = read_fd_capped(fd, lim->max_input_bytes, "image", &budget, &buf, &size, err, err_len);
    if (r < 0)
        return r;
    r = decode_budgeted(buf ? buf : (const uint8_t *)"", size, lim, &budget, ret, err, err_len);
    free(buf);
    return r;
}

static int video_common(const MediaSource *src, int n_frames, const ImageLimits *lim, MediaBudget *budget,
                        Image *frames, double *timestamps, int *ret_n, char *err, size_t err_len)
{
    uint8_t head[16];
    size_t n_head = 0;
    ImageFormat fmt;

    if (n_frames < 1 || n_frames > VIDEO_MAX_FRAMES || !frames || !ret_n)
        return err_set(err, err_len, -EINVAL, "video: n_frames must be 1..%d", VIDEO_MAX_FRAMES);
    if (src->size > lim->max_video_bytes)
        return err_set(err, err_len, -EFBIG, "video: input of %zu bytes exceeds the %zu-byte limit", src->size,
                       lim->max_video_bytes);
    if (src->fd < 0) {
        n_head = src->size < sizeof(head) ? src->size : sizeof(head);
        if (n_head)
            memcpy(head, src->data, n_head);
    } else {
        ssize_t n = pread(src->fd, head, src->size < sizeof(head) ? src->size : sizeof(head), 0);
        if (n < 0)
            return err_set(err, err_len, -EIO, "video: read error: %s", strerror(errno));
        n_head = (size_t)n;
    }
    fmt = image_detect_format(head, n_head);
    if (!image_format_is_video(fmt) && fmt != IMAGE_FORMAT_GIF) {
        if (fmt == IMAGE_FORMAT_UNKNOWN)
            return err_set(err, err_len, -EMEDIUMTYPE, "video: unrecognised container (%zu bytes)", src->size);
        return err_set(err, err_len, -EMEDIUMTYPE, "video: input is a %s image, not a video",
                       image_format_name(fmt));
    }
    if (!HAVE_FFMPEG)
        return missing_lib(image_format_name(fmt), "FFmpeg", err, err_len);
    {
        int r;
        if (media_budget_check(budget))
            return media_budget_error(budget, "video", err, err_len);
        r = video_sample_ffmpeg(src, fmt, n_frames, lim, budget, frames, timestamps, err, err_len);
        if (r < 0)
            return r;
    }
    *ret_n = n_frames;
    return 0;
}

int video_sample_frames(const void *data, size_t size, int n_frames, const ImageLimits *lim, Image *frames,
                        double *timestamps, int *ret_n, char *err, size_t err_len)
{
    ImageLimits dl;
    MediaSource src = { .data = data, .size = size, .fd = -1 };
    MediaBudget budget;

    if (!data && size)
        return err_set(err, err_len, -EINVAL, "video: invalid arguments");
    if (!lim) {
        image_limits_default(&dl);
        lim = &dl;
    }
    media_budget_init(&budget, lim->timeout_s, lim->max_video_cpu_s, lim->cancel);
    return video_common(&src, n_frames, lim, &budget, frames, timestamps, ret_n, err, err_len);
}

int video_sample_frames_fd(int fd, int n_frames, const ImageLimits *lim, Image *frames, double *timestamps,
                           int *ret_n, char *err, size_t err_len)
{
    ImageLimits dl;
    MediaBudget budget;
    struct stat st;
    int r;

    if (fd < 0)
        return err_set(err, err_len, -EINVAL, "video: invalid file descriptor");
    if (!lim) {
        image_limits_default(&dl);
        lim = &dl;
    }
    media_budget_init(&budget, lim->timeout_s, lim->max_video_cpu_s, lim->cancel);
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        MediaSource src = { .data = NULL, .size = (size_t)st.st_size, .fd = fd };
        return video_common(&src, n_frames, lim, &budget, frames, timestamps, ret_n, err, err_len);
    }
    {
        uint8_t *buf = NULL;
        size_t size = 0;
        MediaSource src;
        r = read_fd_capped(fd, lim->max_video_bytes, "video", &budget, &buf, &size, err, err_len);
        if (r < 0)
            return r;
        src = (MediaSource){ .data = buf ? buf : (const uint8_t *)"", .size = size, .fd = -1 };
        r = video_common(&src, n_frames, lim, &budget, frames, timestamps, ret_n, err, err_len);
        free(buf);
        return r;
    }
}
