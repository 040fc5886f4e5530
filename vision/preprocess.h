/* preprocess.h — Llama 3.2 Vision image preprocessing (HF MllamaImageProcessor, SPEC.md §4.2).
 *
 * RGB8 pixels in, normalized tiles out: best canvas among the supported aspect ratios (height-first
 * (h_tiles, w_tiles) pairs), resize without distortion (PIL BILINEAR with its antialiasing support, 8-bit
 * intermediate rounding as PIL does), zero pad right/bottom, rescale 1/255, normalize, split into tiles in
 * row-major order, pack to max_tiles. Not here: decoding files (vision/image.h), the encoder (vit.h).
 */
#ifndef MYNA_VISION_PREPROCESS_H
#define MYNA_VISION_PREPROCESS_H

#include <stddef.h>
#include <stdint.h>

enum { MLLAMA_MAX_TILES = 16, MLLAMA_MAX_IMAGE_SIDE = 16384 };

typedef struct {
    int tile_size;   /* 560 for the 11B model (vision_config.image_size) */
    int max_tiles;   /* 4 (vision_config.max_num_tiles), <= MLLAMA_MAX_TILES */
    float mean[3], std[3];
} MllamaPreprocessConfig;

/* CLIP mean/std as written by the converter into preprocessor_config.json. */
void mllama_preprocess_config_default(MllamaPreprocessConfig *c, int tile_size, int max_tiles);

typedef struct {
    int n_tiles_h, n_tiles_w;        /* chosen canvas, in tiles */
    int n_tiles;                     /* n_tiles_h * n_tiles_w */
    int aspect_ratio_id;             /* 1 + index of (h, w) in the supported list; 0 = no image */
    int aspect_ratio_mask[MLLAMA_MAX_TILES]; /* 1 for tiles < n_tiles (tile 0 always 1) */
    int resized_w, resized_h;        /* image size after the resize */
    int tile_size, max_tiles;
    float *pixels;                   /* owned: [S, S, 3, max_tiles] (PyTorch [max_tiles, 3, S, S]); extra
                                      * tiles are zeros */
} MllamaPixels;

/* The supported (h_tiles, w_tiles) pairs for max_tiles, in HF order; returns how many (<= cap). */
int mllama_aspect_ratios(int max_tiles, int (*ret)[2], int cap);
/* Canvas choice of HF get_optimal_tiled_canvas, in tiles. */
int mllama_best_canvas(int img_w, int img_h, int tile, int max_tiles, int *ret_h_tiles, int *ret_w_tiles);

/* rgb: h rows of w RGB8 pixels, `stride` bytes apart. -EINVAL for bad sizes, -E2BIG past
 * MLLAMA_MAX_IMAGE_SIDE, -ENOMEM. On success *ret is filled (free with mllama_pixels_free). */
int mllama_preprocess(const MllamaPreprocessConfig *c, const uint8_t *rgb, int w, int h, size_t stride,
                      MllamaPixels *ret);
void mllama_pixels_free(MllamaPixels *p); /* accepts NULL; frees pixels only */

/* PIL-compatible BILINEAR resize of RGB8 (exposed for tests). dst: dh rows of dw*3 bytes. */
int mllama_resize_bilinear(const uint8_t *src, int sw, int sh, size_t sstride, uint8_t *dst, int dw, int dh);

#endif
