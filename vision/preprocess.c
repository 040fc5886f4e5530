/* preprocess.c — Llama 3.2 Vision image preprocessing (HF MllamaImageProcessor, SPEC.md §4.2).
 *
 * Canvas choice and fit-to-canvas sizes follow HF get_optimal_tiled_canvas / get_image_size_fit_to_canvas;
 * the resize reproduces PIL's Image.resize(BILINEAR) on 8-bit RGB (separable triangle filter whose support
 * widens by the downscale factor, coefficients in 22-bit fixed point, horizontal pass first, 8-bit rounding
 * after each pass), so results match the HF PIL processor to within one 8-bit level (Pillow 13 sometimes
 * runs the vertical pass first, by a rule not reproduced here; then ~25% of pixels differ by one level,
 * otherwise the match is exact). Not here: decoding
 * (vision/image.h) or anything on the backend.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "preprocess.h"

void mllama_preprocess_config_default(MllamaPreprocessConfig *c, int tile_size, int max_tiles)
{
    static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    static const float std[3] = {0.26862954f, 0.26130258f, 0.27577711f};

    c->tile_size = tile_size;
    c->max_tiles = max_tiles;
    memcpy(c->mean, mean, sizeof(mean));
    memcpy(c->std, std, sizeof(std));
}

int mllama_aspect_ratios(int max_tiles, int (*ret)[2], int cap)
{
    int n = 0;

    /* HF enumerates (a, b) with a outer; the first element is used as the height in tiles */
    for (int a = 1; a <= max_tiles; a++)
        for (int b = 1; b <= max_tiles; b++)
            if (a * b <= max_tiles) {
                if (n < cap) {
                    ret[n][0] = a;
                    ret[n][1] = b;
                }
                n++;
            }
    return n;
}

int mllama_best_canvas(int img_w, int img_h, int tile, int max_tiles, int *ret_h_tiles, int *ret_w_tiles)
{
    int ar[64][2], n, best = -1;
    double sel = 0;
    int have_up = 0;

    if (img_w < 1 || img_h < 1 || tile < 1 || max_tiles < 1 || max_tiles > MLLAMA_MAX_TILES)
        return -EINVAL;
    n = mllama_aspect_ratios(max_tiles, ar, 64);
    if (n > 64)
        return -EINVAL;
    /* scale per canvas = min(h scale, w scale); smallest scale >= 1 if any, else the largest */
    for (int i = 0; i < n; i++) {
        double sh = (double)(ar[i][0] * tile) / img_h, sw = (double)(ar[i][1] * tile) / img_w;
        double s = sw > sh ? sh : sw;
        if (s >= 1) {
            if (!have_up || s < sel)
                sel = s;
            have_up = 1;
        } else if (!have_up && s > sel) {
            sel = s;
        }
    }
    /* among canvases with exactly that scale, the first with the smallest area (np.argmin) */
    for (int i = 0; i < n; i++) {
        double sh = (double)(ar[i][0] * tile) / img_h, sw = (double)(ar[i][1] * tile) / img_w;
        double s = sw > sh ? sh : sw;
        if (s == sel && (best < 0 || ar[i][0] * ar[i][1] < ar[best][0] * ar[best][1]))
            best = i;
    }
    if (best < 0)
        return -EINVAL;
    *ret_h_tiles = ar[best][0];
    *ret_w_tiles = ar[best][1];
    return best + 1;
}

/* HF get_image_size_fit_to_canvas */
static void fit_to_canvas(int img_w, int img_h, int canvas_w, int canvas_h, int tile, int *ret_w, int *ret_h)
{
    int tw = img_w < tile ? tile : (img_w > canvas_w ? canvas_w : img_w);
    int th = img_h < tile ? tile : (img_h > canvas_h ? canvas_h : img_h);
    double sh = (double)th / img_h, sw = (double)tw / img_w;

    if (sw < sh) {
        int nh = (int)floor(img_h * sw);
        *ret_w = tw;
        *ret_h = nh < 1 ? 1 : (nh > th ? th : nh);
    } else {
        int nw = (int)floor(img_w * sh);
        *ret_h = th;
        *ret_w = nw < 1 ? 1 : (nw > tw ? tw : nw);
    }
}

/* ---- PIL BILINEAR resample (8 bits per channel) ------------------------------------------------------ */

enum { PREC_BITS = 32 - 8 - 2 };

typedef struct {
    int ksize;
    int *bounds;  /* [out][2]: first input index, count */
    int32_t *k;   /* [out][ksize] fixed-point coefficients */
} Coeffs;

static double tri(double x)
{
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

static int coeffs_new(int in, int out, Coeffs *c)
{
    double scale = (double)in / out, fs = scale < 1.0 ? 1.0 : scale, support = fs;
    double *k;

    c->ksize = (int)ceil(support) * 2 + 1;
    c->bounds = malloc(sizeof(int) * 2 * (size_t)out);
    c->k = malloc(sizeof(int32_t) * (size_t)c->ksize * (size_t)out);
    k = malloc(sizeof(double) * (size_t)c->ksize);
    if (!c->bounds || !c->k || !k) {
        free(k);
        return -ENOMEM;
    }
    for (int xx = 0; xx < out; xx++) {
        double center = (xx + 0.5) * scale, ww = 0, ss = 1.0 / fs;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0)
            xmin = 0;
        if (xmax > in)
            xmax = in;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            k[x] = tri((x + xmin - center + 0.5) * ss);
            ww += k[x];
        }
        for (int x = 0; x < c->ksize; x++) {
            double v = x < xmax ? (ww != 0.0 ? k[x] / ww : k[x]) : 0.0;
            c->k[(size_t)xx * c->ksize + x] =
                (int32_t)(v < 0 ? -0.5 + v * (1 << PREC_BITS) : 0.5 + v * (1 << PREC_BITS));
        }
        c->bounds[2 * xx] = xmin;
        c->bounds[2 * xx + 1] = xmax;
    }
    free(k);
    return 0;
}

static void coeffs_free(Coeffs *c)
{
    free(c->bounds);
    free(c->k);
}

static uint8_t clip8(int32_t v)
{
    if (v >= (1 << PREC_BITS << 8))
        return 255;
    if (v <= 0)
        return 0;
    return (uint8_t)(v >> PREC_BITS);
}

int mllama_resize_bilinear(const uint8_t *src, int sw, int sh, size_t sstride, uint8_t *dst, int dw, int dh)
{
    Coeffs ch = {0}, cv = {0};
    uint8_t *tmp = NULL;
    int r = -ENOMEM;

    if (sw < 1 || sh < 1 || dw < 1 || dh < 1)
        return -EINVAL;
    tmp = malloc((size_t)dw * 3 * (size_t)sh);
    if (!tmp)
        return -ENOMEM;
    /* horizontal pass (skipped, as PIL does, when the width does not change) */
    if (dw == sw) {
        for (int y = 0; y < sh; y++)
            memcpy(tmp + (size_t)y * dw * 3, src + (size_t)y * sstride, (size_t)dw * 3);
    } else {
        if (coeffs_new(sw, dw, &ch) < 0)
            goto out;
        for (int y = 0; y < sh; y++) {
            const uint8_t *row = src + (size_t)y * sstride;
            for (int x = 0; x < dw; x++) {
                int x0 = ch.bounds[2 * x], n = ch.bounds[2 * x + 1];
                const int32_t *k = ch.k + (size_t)x * ch.ksize;
                for (int c = 0; c < 3; c++) {
                    int32_t ss = 1 << (PREC_BITS - 1);
                    for (int i = 0; i < n; i++)
                        ss += row[(size_t)(x0 + i) * 3 + c] * k[i];
                    tmp[((size_t)y * dw + x) * 3 + c] = clip8(ss);
                }
            }
        }
    }
    /* vertical pass */
    if (dh == sh) {
        memcpy(dst, tmp, (size_t)dw * 3 * (size_t)dh);
    } else {
        if (coeffs_new(sh, dh, &cv) < 0)
            goto out;
        for (int y = 0; y < dh; y++) {
            int y0 = cv.bounds[2 * y], n = cv.bounds[2 * y + 1];
            const int32_t *k = cv.k + (size_t)y * cv.ksize;
            for (int x = 0; x < dw * 3; x++) {
                int32_t ss = 1 << (PREC_BITS - 1);
                for (int i = 0; i < n; i++)
                    ss += tmp[(size_t)(y0 + i) * dw * 3 + x] * k[i];
                dst[(size_t)y * dw * 3 + x] = clip8(ss);
            }
        }
    }
    r = 0;
out:
    coeffs_free(&ch);
    coeffs_free(&cv);
    free(tmp);
    return r;
}

/* ---- the whole pipeline ------------------------------------------------------------------------------- */

void mllama_pixels_free(MllamaPixels *p)
{
    if (!p)
        return;
    free(p->pixels);
    p->pixels = NULL;
}

int mllama_preprocess(const MllamaPreprocessConfig *c, const uint8_t *rgb, int w, int h, size_t stride,
                      MllamaPixels *ret)
{
    MllamaPixels p = {0};
    uint8_t *rs = NULL;
    int S = c->tile_size, id, r;

    if (!rgb || w < 1 || h < 1 || stride < (size_t)w * 3 || S < 1 || S > 4096 || c->max_tiles < 1 ||
        c->max_tiles > MLLAMA_MAX_TILES)
        return -EINVAL;
    if (w > MLLAMA_MAX_IMAGE_SIDE || h > MLLAMA_MAX_IMAGE_SIDE)
        return -E2BIG;
    if ((id = mllama_best_canvas(w, h, S, c->max_tiles, &p.n_tiles_h, &p.n_tiles_w)) < 0)
        return id;
    p.aspect_ratio_id = id;
    p.n_tiles = p.n_tiles_h * p.n_tiles_w;
    p.tile_size = S;
    p.max_tiles = c->max_tiles;
    for (int t = 0; t < c->max_tiles; t++)
        p.aspect_ratio_mask[t] = t < p.n_tiles || t == 0;
    fit_to_canvas(w, h, p.n_tiles_w * S, p.n_tiles_h * S, S, &p.resized_w, &p.resized_h);

    const uint8_t *img = rgb;
    size_t istride = stride;
    if (p.resized_w != w || p.resized_h != h) {
        rs = malloc((size_t)p.resized_w * 3 * (size_t)p.resized_h);
        if (!rs)
            return -ENOMEM;
        if ((r = mllama_resize_bilinear(rgb, w, h, stride, rs, p.resized_w, p.resized_h)) < 0) {
            free(rs);
            return r;
        }
        img = rs;
        istride = (size_t)p.resized_w * 3;
    }
    size_t plane = (size_t)S * S;
    p.pixels = calloc(plane * 3 * (size_t)c->max_tiles, sizeof(float));
    if (!p.pixels) {
        free(rs);
        return -ENOMEM;
    }
    /* canvas pixel (y, x) → tile (y / S) * w_tiles + x / S; padding (value 0) normalizes to -mean/std */
    for (int y = 0; y < p.n_tiles_h * S; y++) {
        for (int x = 0; x < p.n_tiles_w * S; x++) {
            int t = (y / S) * p.n_tiles_w + x / S;
            float *dst = p.pixels + (size_t)t * 3 * plane + (size_t)(y % S) * S + (x % S);
            for (int ch = 0; ch < 3; ch++) {
                float v = 0.0f;
                if (y < p.resized_h && x < p.resized_w)
                    v = (float)img[(size_t)y * istride + (size_t)x * 3 + ch] * (1.0f / 255.0f);
                dst[(size_t)ch * plane] = (v - c->mean[ch]) / c->std[ch];
            }
        }
    }
    free(rs);
    *ret = p;
    return 0;
}
