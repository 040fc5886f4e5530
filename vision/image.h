/* image.h — decode untrusted images and sample frames from untrusted videos into 8-bit RGB.
 * What it is: format detection by magic bytes (never by file name), PNG through libpng, JPEG through
 * TurboJPEG (EXIF orientation applied), everything else (GIF first frame, BMP, WebP, TIFF; MP4/MOV, Matroska/
 * WebM, AVI video) through FFmpeg with a custom AVIO (no file names, no protocols, whitelisted demuxers and
 * decoders). Every decode is bounded by ImageLimits (pixels, width/height, input bytes, memory, video
 * duration, frames decoded, wall-clock deadline, CPU-time budget of the calling thread, a cancel flag).
 * What it is not: resizing, tiling or normalisation (vision/ preprocessing, SPEC §4.2 does that).
 * Numerics: alpha is composited on WHITE (out = a·c + (1−a)·255, rounded), as HF MllamaImageProcessor's
 * convert_to_rgb does (SPEC §4.2); 16-bit samples are reduced to 8 bits by libpng's png_set_strip_16
 * (truncation) / swscale; JPEG CMYK (Adobe, inverted) → RGB as R = C·K/255 like libjpeg-turbo's cmyk.h.
 *
 * Error codes (negative errno; the daemon maps them):
 *   -EMEDIUMTYPE  format not recognised or not allowed (e.g. an HLS playlist)   → UnsupportedMedia
 *   -EBADMSG      recognised but malformed / truncated / undecodable             → UnsupportedMedia
 *   -EFBIG        over a cap in ImageLimits (pixels, dims, bytes, duration…)     → TooLarge
 *   -ETIMEDOUT    the wall-clock deadline passed                                 → TooLarge
 *   -ETIME        the CPU-time budget (max_cpu_s / max_video_cpu_s) ran out         → TooLarge
 *   -ECANCELED    *cancel became nonzero                                         → Cancelled
 *   -ENOTSUP      the library for this format was not built in (message names it)
 *   -ENOMEM, -EINVAL (bad arguments), -EIO (read error on the fd)
 * Every failure writes a one-line reason into err ("image: PNG 70000×70000 exceeds the 33554432-pixel
 * limit"); nothing here logs.
 */
#ifndef MYNA_IMAGE_H
#define MYNA_IMAGE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int width, height;
    uint8_t *rgb; /* owned; [height][width][3] row-major, interleaved R,G,B, no row padding */
} Image;

typedef struct {
    int64_t max_pixels;         /* width·height of one decoded image/frame; default 33554432 (32 Mpx) */
    int max_width, max_height;  /* default 16384 each */
    size_t max_input_bytes;     /* encoded input size; default 64 MiB (images), see max_video_bytes */
    size_t max_video_bytes;     /* encoded video size; default 512 MiB */
    size_t max_memory_bytes;    /* decoder side allocations (libpng chunks, frames); default 512 MiB */
    int max_jpeg_scans;         /* SOS markers in one JPEG (progressive bombs); default 64 */
    double max_duration_s;      /* video duration; default 3600 s */
    int64_t max_decode_frames;  /* video frames decoded in total while sampling; default 20000 */
    double timeout_s;           /* wall-clock deadline for one call; default 30 s */
    /* CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID) one call may spend, 0 = no budget; over it
     * → -ETIME ("decode budget ran out"). Checked in FFmpeg's interrupt callback and between packets/frames,
     * per block of PNG rows, and before/after each TurboJPEG stage (TurboJPEG 2.1 cannot be interrupted
     * inside tjDecompress2; a scan-work cap, max_jpeg_scans × pixels, bounds that call instead).
     * max_cpu_s: one still image, default 2 s — on one Zen 4 core a 32 Mpx PNG decodes in 0.17 s, a baseline
     *   JPEG in 0.11 s, and the costliest progressive JPEG the scan caps let through in ≈ 0.6 s; 2 s leaves
     *   room for slower cores and refuses only inputs built to burn CPU.
     * max_video_cpu_s: one video_sample_frames* call (seeks + decoding up to a GOP per sampled frame),
     *   default 20 s — 8 frames of a 4K HEVC video with 10 s GOPs need about that on one core. */
    double max_cpu_s;
    double max_video_cpu_s;
    /* Borrowed; NULL = none. Polled at the same points as the CPU budget; nonzero → -ECANCELED. Another
     * thread sets it (relaxed store is enough). */
    const atomic_int *cancel;
} ImageLimits;

typedef enum {
    IMAGE_FORMAT_UNKNOWN = 0,
    IMAGE_FORMAT_PNG,
    IMAGE_FORMAT_JPEG,
    IMAGE_FORMAT_GIF,
    IMAGE_FORMAT_BMP,
    IMAGE_FORMAT_WEBP,
    IMAGE_FORMAT_TIFF,
    IMAGE_FORMAT_MP4,      /* ISO BMFF / QuickTime ("ftyp", "moov", "mdat" … box at offset 4) */
    IMAGE_FORMAT_MATROSKA, /* EBML magic 1A 45 DF A3 (Matroska and WebM) */
    IMAGE_FORMAT_AVI,      /* RIFF … "AVI " */
} ImageFormat;

#define VIDEO_DEFAULT_FRAMES 8
#define VIDEO_MAX_FRAMES 256

void image_limits_default(ImageLimits *lim);

/* Format from the first bytes only. */
ImageFormat image_detect_format(const void *data, size_t size);
const char *image_format_name(ImageFormat fmt);
int image_format_is_video(ImageFormat fmt);

/* Decode one still image (first frame of an animation). lim NULL = defaults. ret written on success only. */
int image_decode(const void *data, size_t size, const ImageLimits *lim, Image *ret, char *err, size_t err_len);
/* Same from a file descriptor (regular file or pipe), read from its current position up to
 * max_input_bytes + 1 (more is -EFBIG). The read waits in poll(), so a pipe or socket that never sends EOF
 * ends at timeout_s (-ETIMEDOUT) or when *cancel is set (-ECANCELED); timeout_s and max_cpu_s cover the
 * read and the decode together. The fd is not closed. */
int image_decode_fd(int fd, const ImageLimits *lim, Image *ret, char *err, size_t err_len);
void image_free(Image *img); /* frees img->rgb, zeroes the struct; NULL ok */

/* Sample n_frames (1..VIDEO_MAX_FRAMES) frames evenly over the video's duration: frame i is the first
 * frame whose time ≥ duration·(i + 0.5)/n_frames (or the last frame when the stream ends first).
 * frames[n_frames] and timestamps[n_frames] (seconds from the start of the stream; may be NULL) are
 * written on success, *ret_n = number written (== n_frames). On failure nothing is left allocated. */
int video_sample_frames(const void *data, size_t size, int n_frames, const ImageLimits *lim, Image *frames,
                        double *timestamps, int *ret_n, char *err, size_t err_len);
/* Same from a file descriptor: a regular file is read in place with pread from offset 0 (its size at most
 * max_video_bytes; the fd offset is not used or moved), anything else (pipe, socket)
 * is read into memory from its current position first (same cap, same deadline and cancel flag). */
int video_sample_frames_fd(int fd, int n_frames, const ImageLimits *lim, Image *frames, double *timestamps,
                           int *ret_n, char *err, size_t err_len);

#endif
