/* image-jpeg.c — JPEG → RGB8 through TurboJPEG (libjpeg-turbo 2.1 API), hardened for untrusted input, with
 * the EXIF orientation applied.
 * What it is: a bounded marker walk of our own (segment lengths checked against the input, EXIF APP1
 * Orientation tag read with every offset checked, SOS markers counted so progressive "scan bombs" beyond
 * ImageLimits.max_jpeg_scans are refused — TJPARAM_SCANLIMIT only exists in TurboJPEG 3.x, Debian 12 has
 * 2.1, whose TJFLAG_LIMITSCANS stops only at 500 — and the coefficients all scans make libjpeg visit
 * summed and capped at JPEG_MAX_SCAN_PASSES full passes, because tjDecompress2 cannot be interrupted: that
 * cap is what bounds its CPU time; the MediaBudget is checked before and after each TurboJPEG call), then
 * tjDecompressHeader3 (dimensions checked before anything is allocated) and tjDecompress2.
 * Warnings ("premature end of data", "bad Huffman code"…) fail the decode, except "extraneous bytes before
 * marker", which common encoders produce. CMYK/YCCK (Adobe, inverted) → RGB as R = C·K/255.
 * What it is not: colour management (ICC profiles ignored), arithmetic-coded or lossless JPEG beyond what
 * libjpeg-turbo supports. TurboJPEG 2.1 cannot cap libjpeg's working memory (progressive coefficient
 * buffers ≈ 6 bytes/pixel); the pixel cap bounds it instead.
 * Reference: ITU-T T.81 Annex B (marker syntax); EXIF 2.32 §4.6 (TIFF IFD0, tag 0x0112); orientation
 * semantics as PIL.ImageOps.exif_transpose (HF load_image applies it). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "image-internal.h"
#include "log.h"

static unsigned rd16(const uint8_t *p, int le)
{
    return le ? (unsigned)p[0] | (unsigned)p[1] << 8 : (unsigned)p[0] << 8 | p[1];
}

static uint32_t rd32(const uint8_t *p, int le)
{
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* APP1 payload p[n] (after the length field). Returns 1..8, or 0 when absent/invalid. */
static int exif_orientation(const uint8_t *p, size_t n)
{
    const uint8_t *t;
    size_t tn, ifd;
    unsigned count;
    int le;

    if (n < 6 + 8 || memcmp(p, "Exif\0\0", 6) != 0)
        return 0;
    t = p + 6;
    tn = n - 6;
    if (t[0] == 'I' && t[1] == 'I')
        le = 1;
    else if (t[0] == 'M' && t[1] == 'M')
        le = 0;
    else
        return 0;
    if (rd16(t + 2, le) != 42)
        return 0;
    ifd = rd32(t + 4, le);
    if (ifd < 8 || ifd > tn - 2)
        return 0;
    count = rd16(t + ifd, le);
    if (count > (tn - ifd - 2) / 12) /* every entry must lie inside the segment */
        return 0;
    for (unsigned k = 0; k < count; k++) {
        const uint8_t *e = t + ifd + 2 + 12 * (size_t)k;
        if (rd16(e, le) != 0x0112)
            continue;
        if (rd16(e + 2, le) != 3 || rd32(e + 4, le) < 1) /* SHORT, count ≥ 1, value inline */
            return 0;
        {
            unsigned v = rd16(e + 8, le);
            return v >= 1 && v <= 8 ? (int)v : 0;
        }
    }
    return 0;
}

/* Components of the first SOFn: id and sampling factors, for the blocks each scan covers. */
typedef struct {
    int n, hmax, vmax, progressive;
    uint8_t id[4], h[4], v[4];
    int8_t coef_bits[4][64]; /* progressive: successive-approximation bit reached per coefficient, −1 none */
} JpegFrame;

static void jpeg_read_sof(JpegFrame *f, const uint8_t *p, size_t len)
{
    int nf = len >= 8 ? p[7] : 0;

    f->n = 0;
    f->hmax = f->vmax = 1;
    memset(f->coef_bits, -1, sizeof(f->coef_bits));
    if (nf < 1 || nf > 4 || len < 8 + 3 * (size_t)nf)
        return; /* libjpeg rejects it */
    for (int i = 0; i < nf; i++) {
        const uint8_t *c = p + 8 + 3 * i;
        f->id[i] = c[0];
        f->h[i] = c[1] >> 4 ? c[1] >> 4 : 1;
        f->v[i] = c[1] & 15 ? c[1] & 15 : 1;
        if (f->h[i] > f->hmax)
            f->hmax = f->h[i];
        if (f->v[i] > f->vmax)
            f->vmax = f->v[i];
    }
    f->n = nf;
}

/* Progressive scans must refine each coefficient in order (T.81 G.1.1.1.2: the first scan of a coefficient
 * has Ah = 0, each later one Ah = the previous Al). libjpeg only warns about a scan that breaks this and
 * decodes on, and TurboJPEG reports the warning after the whole decode — so a bomb of such scans used to
 * cost its full CPU time before being refused. Checked here, as libjpeg's jdphuff.c start_pass does; the
 * scan is refused before any decoding. 0, or 1-based (component, coefficient + 1) packed as c·100 + k. */
static int jpeg_progression_bad(JpegFrame *f, const uint8_t *p, size_t len)
{
    int ns = len >= 3 ? p[2] : 0, ss, se, ah, al;

    if (!f->progressive || len < 6 + 2 * (size_t)ns)
        return 0; /* sequential, or a malformed SOS libjpeg refuses itself */
    ss = p[3 + 2 * ns];
    se = p[4 + 2 * ns];
    ah = p[5 + 2 * ns] >> 4;
    al = p[5 + 2 * ns] & 15;
    if (ss > se || se > 63)
        return 0; /* a hard error in libjpeg */
    for (int s = 0; s < ns; s++) {
        int ci = -1;
        for (int i = 0; i < f->n; i++)
            if (f->id[i] == p[3 + 2 * s])
                ci = i;
        if (ci < 0)
            return 0; /* libjpeg: "invalid component ID" */
        if (ss > 0 && f->coef_bits[ci][0] < 0)
            return ci * 100 + 1; /* AC before the component's first DC scan */
        for (int k = ss; k <= se; k++) {
            int expected = f->coef_bits[ci][k] < 0 ? 0 : f->coef_bits[ci][k];
            if (ah != expected)
                return ci * 100 + k + 1;
            f->coef_bits[ci][k] = (int8_t)al;
        }
    }
    return 0;
}

/* Coefficients one scan makes libjpeg visit: the 8×8 blocks of every component listed by SOS payload
 * p[len] (T.81 A.1.1: component size ceil(X·Hi/Hmax) × ceil(Y·Vi/Vmax); an unknown component counts as a
 * full-size one) × the scan's band Se − Ss + 1. The band matters: an AC refinement scan walks every
 * position of its band in every block even inside an end-of-band run (jdphuff.c decode_mcu_AC_refine),
 * which is what makes a few-byte scan cost as much as a full one. */
static int64_t jpeg_scan_coefs(const JpegFrame *f, int width, int height, const uint8_t *p, size_t len)
{
    int ns = len >= 3 ? p[2] : 0, band = 64;
    int64_t sum = 0;

    if (len >= 5 + 2 * (size_t)ns) {
        int ss = p[3 + 2 * ns], se = p[4 + 2 * ns];
        band = se >= ss && se < 64 ? se - ss + 1 : 64;
    }
    for (int s = 0; s < ns && 3 + 2 * (size_t)s < len; s++) {
        int64_t cw = width, ch = height;
        for (int i = 0; i < f->n; i++) {
            if (f->id[i] == p[3 + 2 * s]) {
                cw = ((int64_t)width * f->h[i] + f->hmax - 1) / f->hmax;
                ch = ((int64_t)height * f->v[i] + f->vmax - 1) / f->vmax;
                break;
            }
        }
        sum += ((cw + 7) / 8) * ((ch + 7) / 8) * band;
    }
    return sum;
}

int jpeg_scan_markers(const uint8_t *data, size_t size, int *ret_orientation, int *ret_n_scans,
                      int64_t *ret_scan_coefs, int *ret_width, int *ret_height, char *err, size_t err_len)
{
    size_t pos = 2;
    int orientation = 0, n_scans = 0, width = 0, height = 0;
    int64_t scan_coefs = 0;
    JpegFrame frame = { 0 };

    if (size < 4)
        return err_set(err, err_len, -EBADMSG, "image: JPEG: truncated (%zu bytes)", size);
    if (data[0] != 0xFF || data[1] != 0xD8)
        return err_set(err, err_len, -EBADMSG, "image: JPEG: missing SOI marker");
    while (pos < size) {
        unsigned m;
        size_t len;

        while (pos < size && data[pos] != 0xFF) /* extraneous bytes: libjpeg skips them with a warning */
            pos++;
        while (pos < size && data[pos] == 0xFF) /* fill bytes */
            pos++;
        if (pos >= size)
            break;
        m = data[pos++];
        if (m == 0xD9) /* EOI */
            break;
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD8)) /* TEM, RSTn, stray SOI: no length */
            continue;
        if (size - pos < 2)
            break; /* truncated: the decoder reports it */
        len = (size_t)data[pos] << 8 | data[pos + 1];
        if (len < 2)
            return err_set(err, err_len, -EBADMSG, "image: JPEG: marker 0xFF%02X at offset %zu has length %zu",
                           m, pos - 2, len);
        if (len > size - pos)
            break; /* truncated segment: left to the decoder, which fails on it */
        if (m == 0xE1 && orientation == 0)
            orientation = exif_orientation(data + pos + 2, len - 2);
        /* SOFn (not DHT C4, JPG C8, DAC CC): precision, height, width — checked against the caps before
         * libjpeg sees them (it refuses > 65500 as "malformed", which should be TooLarge). */
        if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC && len >= 7 && !width && !height) {
            height = data[pos + 3] << 8 | data[pos + 4];
            width = data[pos + 5] << 8 | data[pos + 6];
            jpeg_read_sof(&frame, data + pos, len);
            frame.progressive = m == 0xC2 || m == 0xC6 || m == 0xCA || m == 0xCE;
        }
        if (m == 0xDA) {
            int bad = jpeg_progression_bad(&frame, data + pos, len);
            if (bad)
                return err_set(err, err_len, -EBADMSG, "image: JPEG: scan %d breaks the progression (component %d "
                               "coefficient %d refined out of order)", n_scans + 1, bad / 100, bad % 100 - 1);
            scan_coefs += jpeg_scan_coefs(&frame, width, height, data + pos, len);
        }
        pos += len;
        if (m == 0xDA) { /* SOS: skip entropy-coded data up to the next marker that is not RSTn */
            n_scans++;
            while (pos + 1 < size && !(data[pos] == 0xFF && data[pos + 1] != 0x00 &&
                                       !(data[pos + 1] >= 0xD0 && data[pos + 1] <= 0xD7)))
                pos++;
            if (pos + 1 >= size)
                break;
        }
    }
    *ret_orientation = orientation ? orientation : 1;
    *ret_n_scans = n_scans;
    *ret_scan_coefs = scan_coefs;
    *ret_width = width;
    *ret_height = height;
    return 0;
}

#if HAVE_JPEG
#include <turbojpeg.h>

/* TurboJPEG 2.1 returns −1 for warnings too (after finishing). All count as failures except the
 * "extraneous bytes before marker" warning that common encoders cause. */
static int tj_failed(tjhandle tj)
{
    return tjGetErrorCode(tj) != TJERR_WARNING || !strstr(tjGetErrorStr2(tj), "extraneous bytes");
}

/* Applies EXIF orientation o (2..8) to img; like PIL.ImageOps.exif_transpose. */
static int apply_orientation(Image *img, int o)
{
    int w = img->width, h = img->height, swap = o >= 5;
    int ow = swap ? h : w, oh = swap ? w : h;
    uint8_t *out = malloc((size_t)w * h * 3);

    if (!out)
        return -ENOMEM;
    for (int y = 0; y < oh; y++) {
        for (int x = 0; x < ow; x++) {
            int sx, sy;
            switch (o) {
            case 2: sx = w - 1 - x; sy = y; break;         /* mirror horizontal */
            case 3: sx = w - 1 - x; sy = h - 1 - y; break; /* rotate 180 */
            case 4: sx = x; sy = h - 1 - y; break;         /* mirror vertical */
            case 5: sx = y; sy = x; break;                 /* transpose */
            case 6: sx = y; sy = h - 1 - x; break;         /* rotate 90° clockwise */
            case 7: sx = w - 1 - y; sy = h - 1 - x; break; /* transverse */
            default: sx = w - 1 - y; sy = x; break;        /* 8: rotate 90° counter-clockwise */
            }
            memcpy(out + ((size_t)y * ow + x) * 3, img->rgb + ((size_t)sy * w + sx) * 3, 3);
        }
    }
    free(img->rgb);
    img->rgb = out;
    img->width = ow;
    img->height = oh;
    return 0;
}

int image_decode_jpeg(const uint8_t *data, size_t size, const ImageLimits *lim, MediaBudget *budget, Image *ret,
                      char *err, size_t err_len)
{
    tjhandle tj = NULL;
    Image img = { 0 };
    uint8_t *cmyk = NULL;
    int orientation, n_scans, w = 0, h = 0, subsamp = 0, cs = 0, r;
    int64_t scan_coefs = 0, max_coefs = lim->max_pixels * JPEG_MAX_SCAN_PASSES;

    r = jpeg_scan_markers(data, size, &orientation, &n_scans, &scan_coefs, &w, &h, err, err_len);
    if (r < 0)
        return r;
    if (w > 0 && h > 0 && (r = image_check_dims("JPEG", w, h, lim, err, err_len)) < 0)
        return r;
    if (n_scans > lim->max_jpeg_scans)
        return err_set(err, err_len, -EFBIG, "image: JPEG has %d scans, over the limit of %d", n_scans,
                       lim->max_jpeg_scans);
    if (scan_coefs > max_coefs)
        return err_set(err, err_len, -EFBIG,
                       "image: JPEG %d×%d with %d scans needs %lld coefficient visits, over the limit of %lld "
                       "(%d full passes of the pixel limit)", w, h, n_scans, (long long)scan_coefs,
                       (long long)max_coefs, JPEG_MAX_SCAN_PASSES);
    w = h = 0; /* tjDecompressHeader3 leaves them unset for a tables-only stream */
    if (media_budget_check(budget))
        return media_budget_error(budget, "image: JPEG", err, err_len);
    tj = tjInitDecompress();
    if (!tj)
        return err_set(err, err_len, -ENOMEM, "image: JPEG: cannot create a TurboJPEG decompressor");
    if (tjDecompressHeader3(tj, data, (unsigned long)size, &w, &h, &subsamp, &cs) < 0 && tj_failed(tj)) {
        r = err_set(err, err_len, -EBADMSG, "image: JPEG: %s", tjGetErrorStr2(tj));
        goto fail;
    }
    r = image_check_dims("JPEG", w, h, lim, err, err_len);
    if (r < 0)
        goto fail;
    if ((uint64_t)w * h * 6 > lim->max_memory_bytes) { /* RGB + libjpeg's progressive coefficients */
        r = err_set(err, err_len, -EFBIG, "image: JPEG %d×%d exceeds the %zu-byte memory limit", w, h,
                    lim->max_memory_bytes);
        goto fail;
    }
    r = image_alloc(&img, w, h);
    if (r < 0) {
        err_set(err, err_len, r, "image: JPEG: out of memory");
        goto fail;
    }
    if (cs == TJCS_CMYK || cs == TJCS_YCCK) {
        cmyk = malloc((size_t)w * h * 4);
        if (!cmyk) {
            r = err_set(err, err_len, -ENOMEM, "image: JPEG: out of memory");
            goto fail;
        }
    }
    if (media_budget_check(budget)) {
        r = media_budget_error(budget, "image: JPEG", err, err_len);
        goto fail;
    }
    if (tjDecompress2(tj, data, (unsigned long)size, cmyk ? cmyk : img.rgb, w, 0, h,
                      cmyk ? TJPF_CMYK : TJPF_RGB, 0) < 0 && tj_failed(tj)) {
        r = err_set(err, err_len, -EBADMSG, "image: JPEG: %s", tjGetErrorStr2(tj));
        goto fail;
    }
    if (media_budget_check(budget)) { /* spent inside tjDecompress2: the result is not used */
        r = media_budget_error(budget, "image: JPEG", err, err_len);
        goto fail;
    }
    if (cmyk) {
        for (size_t i = 0; i < (size_t)w * h; i++) {
            unsigned k = cmyk[4 * i + 3];
            for (int c = 0; c < 3; c++)
                img.rgb[3 * i + c] = (uint8_t)((cmyk[4 * i + c] * k + 127u) / 255u);
        }
    }
    if (orientation != 1 && apply_orientation(&img, orientation) < 0) {
        r = err_set(err, err_len, -ENOMEM, "image: JPEG: out of memory");
        goto fail;
    }
    *ret = img;
    img.rgb = NULL;
    r = 0;
fail:
    free(cmyk);
    image_free(&img);
    tjDestroy(tj);
    return r;
}

#else

int image_decode_jpeg(const uint8_t *data, size_t size, const ImageLimits *lim, MediaBudget *budget, Image *ret,
                      char *err, size_t err_len)
{
    return err_set(err, err_len, -ENOTSUP, "image: JPEG support not built in (Myna was built without TurboJPEG)");
}

#endif
