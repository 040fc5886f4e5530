/* fuzz-image.c — libFuzzer target for vision/image*: image_decode() on the input with tight limits (4 Mpx,
 * 2 s deadline), and, when the input looks like a video container or GIF, video_sample_frames() for 3
 * frames (≤ 300 frames decoded). An accepted image must have sane dimensions; every pixel byte is read so
 * ASan/MSan see uninitialised or out-of-bounds output. Without -Dfuzzing it is linked with replay-main.c and
 * runs the seed corpus tests/fuzz/corpus/image once. */
#include <stddef.h>
#include <stdint.h>

#include "image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t g_sink;

static void touch(const Image *img)
{
    size_t n = (size_t)img->width * (size_t)img->height * 3;
    uint64_t s = 0;
    if (img->width <= 0 || img->height <= 0 || !img->rgb)
        __builtin_trap();
    for (size_t i = 0; i < n; i++)
        s += img->rgb[i];
    g_sink += s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ImageLimits lim;
    Image img = { 0 }, frames[3] = { { 0 } };
    double ts[3];
    char err[256];
    int got = 0;
    ImageFormat fmt = image_detect_format(data, size);

    image_limits_default(&lim);
    lim.max_pixels = 4 << 20;
    lim.max_width = lim.max_height = 8192;
    lim.max_memory_bytes = 64u << 20;
    lim.timeout_s = 2.0;
    lim.max_decode_frames = 300;
    lim.max_duration_s = 600;
    if (image_decode(data, size, &lim, &img, err, sizeof(err)) == 0) {
        if ((int64_t)img.width * img.height > lim.max_pixels)
            __builtin_trap();
        touch(&img);
        image_free(&img);
    }
    if (image_format_is_video(fmt) || fmt == IMAGE_FORMAT_GIF) {
        if (video_sample_frames(data, size, 3, &lim, frames, ts, &got, err, sizeof(err)) == 0) {
            if (got != 3)
                __builtin_trap();
            for (int i = 0; i < got; i++) {
                touch(&frames[i]);
                image_free(&frames[i]);
            }
        }
    }
    return 0;
}
