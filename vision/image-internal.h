/* image-internal.h — shared between vision/image*.c only: limit checks, allocation, alpha compositing and
 * the per-library decoders that image.c dispatches to. Not a public interface. */
#ifndef MYNA_IMAGE_INTERNAL_H
#define MYNA_IMAGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "av-limits.h"
#include "image.h"

/* Encoded bytes: either memory (fd < 0) or a regular file read with pread (data == NULL). */
typedef struct {
    const uint8_t *data; /* borrowed */
    size_t size;
    int fd;
} MediaSource;

/* -EFBIG with "image: <what> W×H exceeds …" when w/h/pixels are over the caps, -EBADMSG for w or h ≤ 0. */
int image_check_dims(const char *what, int64_t w, int64_t h, const ImageLimits *lim, char *err, size_t err_len);
/* Allocates img->rgb for w×h (dims already checked). -ENOMEM. */
int image_alloc(Image *img, int w, int h);
/* rgba[n][4] → rgb[n][3], composited on white; in place allowed (rgb == rgba). */
void image_composite_rgba(const uint8_t *rgba, uint8_t *rgb, size_t n);

/* The per-library decoders. budget: the call's MediaBudget (started by image.c); each checks it at its
 * own points and returns media_budget_error()'s code (-ETIME, -ECANCELED, -ETIMEDOUT) when it says stop. */
int image_decode_png(const uint8_t *data, size_t size, const ImageLimits *lim, MediaBudget *budget, Image *ret,
                     char *err, size_t err_len);
int image_decode_jpeg(const uint8_t *data, size_t size, const ImageLimits *lim, MediaBudget *budget, Image *ret,
                      char *err, size_t err_len);
int image_decode_ffmpeg(const uint8_t *data, size_t size, ImageFormat fmt, const ImageLimits *lim,
                        MediaBudget *budget, Image *ret, char *err, size_t err_len);
int video_sample_ffmpeg(const MediaSource *src, ImageFormat fmt, int n_frames, const ImageLimits *lim,
                        MediaBudget *budget, Image *frames, double *timestamps, char *err, size_t err_len);

/* Work a JPEG may ask of libjpeg: coefficient positions visited (per scan: blocks of its components × its
 * band Se − Ss + 1), summed over all scans, at most JPEG_MAX_SCAN_PASSES × max_pixels (one pass = every
 * coefficient of a max_pixels component once). TurboJPEG 2.1 cannot be interrupted inside tjDecompress2,
 * so this cap is what bounds its CPU time (≈ 0.6 ns a visit on Zen 4: ≈ 0.5 s at the default 32 Mpx).
 * Baseline YCbCr 4:4:4 needs 3 passes, libjpeg's own progressive script for 4:4:4 about 7, for 4:2:0 2. */
enum { JPEG_MAX_SCAN_PASSES = 24 };

/* JPEG marker walk (image-jpeg.c, exposed for tests of the bounded EXIF parser): EXIF orientation 1..8
 * (1 when absent or invalid), the number of SOS markers, the coefficient visits those scans ask for in total
 * (each scan: blocks of every component it lists, from the first SOFn's sampling factors, × its band) and the first
 * SOFn's width/height (0 when none). -EBADMSG when the marker structure is broken (no SOI, a segment
 * length < 2). */
int jpeg_scan_markers(const uint8_t *data, size_t size, int *ret_orientation, int *ret_n_scans,
                      int64_t *ret_scan_coefs, int *ret_width, int *ret_height, char *err, size_t err_len);

#endif
