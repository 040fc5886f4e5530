/* image-png.c — PNG → RGB8 through libpng, hardened for untrusted input.
 * What it is: one read from memory with setjmp error handling (no leaks on longjmp: everything allocated
 * before setjmp is freed in one place), user limits (width/height, chunk cache, chunk malloc), IHDR checked
 * against ImageLimits before libpng allocates anything, palette/gray/low-bit-depth/tRNS/16-bit expanded to
 * RGB8 or RGBA8, alpha composited on white (image.h). The MediaBudget (CPU time, cancel, deadline) is
 * checked from libpng's row callback once per PNG_BUDGET_PIXELS pixels of rows (all 7 Adam7 passes count)
 * and from the read callback once per PNG_BUDGET_BYTES of input (chunk parsing, ancillary inflation); a
 * verdict leaves through png_error like any other failure.
 * What it is not: APNG animation (first image only), colour management (gAMA/iCCP/cHRM are ignored, as
 * PIL does by default), EXIF orientation of PNG eXIf chunks (not applied).
 * Reference: PNG spec (W3C, 2nd ed.) §11.2.2 IHDR; libpng manual §III (transformations, user limits). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "image-internal.h"
#include "log.h"

#if HAVE_PNG
#include <png.h>
#include <setjmp.h>

enum { PNG_BUDGET_PIXELS = 1 << 18, PNG_BUDGET_BYTES = 1 << 20 };

typedef struct {
    const uint8_t *data; /* borrowed */
    size_t size, pos;
    char msg[160];       /* libpng's error text */
    MediaBudget *budget; /* borrowed */
    size_t px_since, bytes_since; /* work since the budget was last checked */
    uint32_t width;
} PngReader;

static void png_check_budget(png_structp png, PngReader *rd)
{
    rd->px_since = rd->bytes_since = 0;
    if (media_budget_check(rd->budget))
        png_error(png, "decode budget ran out");
}

/* Called by libpng after each row of each pass. */
static void png_row_fn(png_structp png, png_uint_32 row, int pass)
{
    PngReader *rd = png_get_io_ptr(png);
    (void)row;
    (void)pass;
    rd->px_since += rd->width ? rd->width : 1;
    if (rd->px_since >= PNG_BUDGET_PIXELS)
        png_check_budget(png, rd);
}

static void png_err_fn(png_structp png, png_const_charp msg)
{
    PngReader *rd = png_get_error_ptr(png);
    if (rd)
        snprintf(rd->msg, sizeof(rd->msg), "%s", msg);
    png_longjmp(png, 1);
}

static void png_warn_fn(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg; /* warnings (bad ancillary CRC, extra data…) are not failures */
}

static void png_read_fn(png_structp png, png_bytep out, png_size_t n)
{
    PngReader *rd = png_get_io_ptr(png);
    if (n > rd->size - rd->pos)
        png_error(png, "truncated file");
    memcpy(out, rd->data + rd->pos, n);
    rd->pos += n;
    rd->bytes_since += n + 64; /* + per-call cost: a file of tiny chunks is many calls */
    if (rd->bytes_since >= PNG_BUDGET_BYTES)
        png_check_budget(png, rd);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int image_decode_png(const uint8_t *data, size_t size, const ImageLimits *lim, MediaBudget *budget, Image *ret,
                     char *err, size_t err_len)
{
    PngReader rd = { .data = data, .size = size, .budget = budget };
    png_structp png = NULL;
    png_infop info = NULL;
    uint8_t *volatile buf = NULL; /* rowbytes·h; becomes the RGB image */
    png_bytep *volatile rows = NULL;
    volatile int r = -EBADMSG;
    uint32_t w, h;
    size_t rowbytes;
    int channels;

    /* IHDR must be the first chunk: 8-byte signature, length 13, "IHDR", width, height. Checking it here
     * gives the caller TooLarge (not "malformed") and a precise message before libpng allocates. */
    if (size < 33 || be32(data + 8) != 13 || memcmp(data + 12, "IHDR", 4) != 0)
        return err_set(err, err_len, -EBADMSG, "image: PNG: missing or malformed IHDR");
    w = be32(data + 16);
    h = be32(data + 20);
    if (w > 0x7fffffffu || h > 0x7fffffffu)
        return err_set(err, err_len, -EBADMSG, "image: PNG: invalid dimensions %u×%u", w, h);
    r = image_check_dims("PNG", w, h, lim, err, err_len);
    if (r < 0)
        return r;
    r = -EBADMSG;

    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &rd, png_err_fn, png_warn_fn);
    if (!png)
        return err_set(err, err_len, -ENOMEM, "image: PNG: out of memory");
    info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return err_set(err, err_len, -ENOMEM, "image: PNG: out of memory");
    }
    if (setjmp(png_jmpbuf(png))) {
        if (budget->state)
            r = media_budget_error(budget, "image: PNG", err, err_len);
        else
            err_set(err, err_len, r, "image: PNG: %s", rd.msg[0] ? rd.msg : "decode error");
        goto fail;
    }
    png_set_read_fn(png, &rd, png_read_fn);
    png_set_read_status_fn(png, png_row_fn);
    png_set_user_limits(png, (png_uint_32)lim->max_width, (png_uint_32)lim->max_height);
    png_set_chunk_cache_max(png, 128);               /* sPLT, text and unknown chunks kept */
    png_set_chunk_malloc_max(png, 8u << 20);         /* one ancillary chunk (iCCP, zTXt…) ≤ 8 MiB */
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, 0);
    png_set_crc_action(png, PNG_CRC_DEFAULT, PNG_CRC_WARN_DISCARD);
    png_read_info(png, info);

    w = png_get_image_width(png, info);
    h = png_get_image_height(png, info);
    rd.width = w;
    {
        if (image_check_dims("PNG", w, h, lim, NULL, 0) < 0) /* IHDR was checked; libpng must agree */
            png_error(png, "IHDR changed");
    }
    png_set_expand(png);       /* palette → RGB, gray < 8 bit → 8 bit, tRNS → alpha */
    png_set_strip_16(png);
    png_set_gray_to_rgb(png);
    (void)png_set_interlace_handling(png);
    png_read_update_info(png, info);
    channels = png_get_channels(png, info);
    rowbytes = png_get_rowbytes(png, info);
    if ((channels != 3 && channels != 4) || rowbytes != (size_t)w * (size_t)channels)
        png_error(png, "unexpected pixel layout after expansion");
    if ((uint64_t)rowbytes * h > lim->max_memory_bytes) {
        r = -EFBIG;
        snprintf(rd.msg, sizeof(rd.msg), "%u×%u RGBA exceeds the %zu-byte memory limit", w, h,
                 lim->max_memory_bytes);
        png_longjmp(png, 1);
    }
    buf = malloc(rowbytes * h);
    rows = malloc(sizeof(*rows) * h);
    if (!buf || !rows) {
        r = -ENOMEM;
        snprintf(rd.msg, sizeof(rd.msg), "out of memory");
        png_longjmp(png, 1);
    }
    for (uint32_t y = 0; y < h; y++)
        rows[y] = buf + (size_t)y * rowbytes;
    png_check_budget(png, &rd);
    png_read_image(png, rows);
    /* The end chunks (IEND, trailing text) are not read: nothing after the image data matters. */
    if (channels == 4)
        image_composite_rgba(buf, buf, (size_t)w * h); /* in place: RGB row ≤ RGBA row */
    ret->width = (int)w;
    ret->height = (int)h;
    ret->rgb = buf;
    buf = NULL;
    r = 0;
fail:
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    free(buf);
    return r;
}

#else

int image_decode_png(const uint8_t *data, size_t size, const ImageLimits *lim, MediaBudget *budget, Image *ret,
                     char *err, size_t err_len)
{
    return err_set(err, err_len, -ENOTSUP, "image: PNG support not built in (Myna was built without libpng)");
}

#endif
