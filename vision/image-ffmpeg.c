/* image-ffmpeg.c — every format that is not PNG or JPEG (GIF first frame, BMP, WebP, TIFF) and video frame
 * sampling (MP4/MOV, Matroska/WebM, AVI; animated GIF), through libavformat/libavcodec/libswscale.
 * Hardening (RELIABILITY.md §2): the demuxer is chosen from our own magic-byte detection (no probing);
 * input comes only through a custom AVIOContext over memory or the caller's fd (pread), never a file name
 * or URL; io_open is replaced by a callback that refuses everything and protocol_whitelist is empty, so
 * no nested file or network access (HLS/concat/dref tricks) is possible; format_whitelist and
 * codec_whitelist are set on the demuxer and the decoder; probesize/analyzeduration, max_streams and the
 * decoder's max_pixels are capped; an interrupt callback and a check per packet enforce the MediaBudget
 * (wall-clock deadline, CPU-time budget, cancel flag; core/av-limits.h); frames decoded in total are
 * capped. avformat_find_stream_info is not called (it would open decoders for every stream). Dimensions
 * declared by BMP, TIFF and WebP headers are checked before FFmpeg sees them, so that an image over the
 * caps is TooLarge (FFmpeg's own max_pixels refusal reads as "invalid data").
 * What it is not: audio decoding (speech/ has its own), subtitle handling, colour management.
 * Numerics: swscale → RGB24 (or RGBA, then composited on white), SWS_BILINEAR|ACCURATE_RND|FULL_CHR_H_INT;
 * sampling as documented in image.h (frame i = first frame at or after duration·(i+½)/n). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "image-internal.h"
#include "log.h"

#if HAVE_FFMPEG
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avstring.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include "av-limits.h"

#define FF_FORMAT_WHITELIST "gif,bmp_pipe,webp_pipe,tiff_pipe,mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi"
#define FF_CODEC_WHITELIST "h264,hevc,av1,libdav1d,vp8,vp9,libvpx,libvpx-vp9,mpeg4,mpeg1video,mpeg2video," \
    "mjpeg,png,gif,bmp,webp,tiff,theora,rawvideo"
#define FF_AVIO_BUF 65536

typedef struct {
    const MediaSource *src; /* borrowed */
    int64_t pos;
    MediaBudget *budget;    /* borrowed from the caller */
} FfIo;

typedef struct {
    FfIo io;
    AVIOContext *avio;
    AVFormatContext *fmt;
    AVCodecContext *dec;
    struct SwsContext *sws;
    AVFrame *frame, *keep; /* keep: last decoded frame (video sampling) */
    AVPacket *pkt;
    int stream, eof, n_bad_packets, last_err; /* last_err: last decoder refusal, for the message */
    int64_t n_decoded, n_packets;
    const ImageLimits *lim;
} Ff;

static int ff_read(void *opaque, uint8_t *buf, int n)
{
    FfIo *io = opaque;
    size_t left;

    if (io->pos < 0 || (size_t)io->pos >= io->src->size)
        return AVERROR_EOF;
    left = io->src->size - (size_t)io->pos;
    if ((size_t)n > left)
        n = (int)left;
    if (io->src->fd < 0) {
        memcpy(buf, io->src->data + io->pos, (size_t)n);
    } else {
        ssize_t got;
        do
            got = pread(io->src->fd, buf, (size_t)n, io->pos);
        while (got < 0 && errno == EINTR);
        if (got < 0)
            return AVERROR(EIO);
        if (got == 0)
            return AVERROR_EOF;
        n = (int)got;
    }
    io->pos += n;
    return n;
}

static int64_t ff_seek(void *opaque, int64_t off, int whence)
{
    FfIo *io = opaque;
    int64_t np;

    whence &= ~AVSEEK_FORCE;
    if (whence == AVSEEK_SIZE)
        return (int64_t)io->src->size;
    if (whence == SEEK_SET)
        np = off;
    else if (whence == SEEK_CUR)
        np = io->pos + off;
    else if (whence == SEEK_END)
        np = (int64_t)io->src->size + off;
    else
        return AVERROR(EINVAL);
    if (np < 0 || np > (int64_t)io->src->size)
        return AVERROR(EINVAL);
    io->pos = np;
    return np;
}

static int ff_interrupt(void *opaque)
{
    const FfIo *io = opaque;
    return media_budget_check(io->budget) != 0;
}

/* A libav error code → our class. AVERROR(ENOMEM) from libav over untrusted bytes is a header asking for an
 * absurd table or frame (av_max_alloc refused it): malformed input, not the daemon out of memory. */
static int ff_err(Ff *c, int averr, const char *what, char *err, size_t err_len)
{
    char msg[AV_ERROR_MAX_STRING_SIZE];

    if (media_budget_check(c->io.budget) || averr == AVERROR_EXIT) {
        if (!c->io.budget->state)
            c->io.budget->state = -ETIMEDOUT;
        return media_budget_error(c->io.budget, what, err, err_len);
    }
    if (averr == AVERROR(ENOMEM))
        return myna_av_demux_error(averr, what, err, err_len);
    av_strerror(averr, msg, sizeof(msg));
    return err_set(err, err_len, -EBADMSG, "%s: %s", what, msg);
}

static void ff_close(Ff *c)
{
    sws_freeContext(c->sws);
    av_frame_free(&c->frame);
    av_frame_free(&c->keep);
    av_packet_free(&c->pkt);
    avcodec_free_context(&c->dec);
    avformat_close_input(&c->fmt); /* custom IO: does not touch c->avio */
    if (c->avio) {
        av_freep(&c->avio->buffer);
        avio_context_free(&c->avio);
    }
    c->sws = NULL;
}

static const char *ff_demuxer(ImageFormat fmt)
{
    switch (fmt) {
    case IMAGE_FORMAT_GIF: return "gif";
    case IMAGE_FORMAT_BMP: return "bmp_pipe";
    case IMAGE_FORMAT_WEBP: return "webp_pipe";
    case IMAGE_FORMAT_TIFF: return "tiff_pipe";
    case IMAGE_FORMAT_MP4: return "mov";
    case IMAGE_FORMAT_MATROSKA: return "matroska";
    case IMAGE_FORMAT_AVI: return "avi";
    default: return NULL;
    }
}

static int ff_open(Ff *c, const MediaSource *src, ImageFormat f, const ImageLimits *lim, MediaBudget *budget,
                   const char *what, char *err, size_t err_len)
{
    const AVInputFormat *ifmt = ff_demuxer(f) ? av_find_input_format(ff_demuxer(f)) : NULL;
    const AVCodec *codec = NULL;
    AVStream *st;
    uint8_t *iobuf;
    int r;

    memset(c, 0, sizeof(*c));
    c->io = (FfIo){ .src = src, .pos = 0, .budget = budget };
    c->lim = lim;
    if (!ifmt)
        return err_set(err, err_len, -ENOTSUP, "%s: FFmpeg has no %s demuxer", what, image_format_name(f));
    iobuf = av_malloc(FF_AVIO_BUF);
    if (!iobuf || !(c->avio = avio_alloc_context(iobuf, FF_AVIO_BUF, 0, &c->io, ff_read, NULL, ff_seek))) {
        av_free(iobuf);
        return err_set(err, err_len, -ENOMEM, "%s: out of memory", what);
    }
    c->fmt = avformat_alloc_context();
    c->frame = av_frame_alloc();
    c->keep = av_frame_alloc();
    c->pkt = av_packet_alloc();
    if (!c->fmt || !c->frame || !c->keep || !c->pkt)
        goto nomem;
    if (myna_av_harden(c->fmt, c->avio, FF_FORMAT_WHITELIST, FF_CODEC_WHITELIST, ff_interrupt, &c->io) < 0)
        goto nomem;
    c->fmt->probesize = 5 << 20;
    c->fmt->max_analyze_duration = 5 * (int64_t)AV_TIME_BASE;
    r = avformat_open_input(&c->fmt, "", ifmt, NULL); /* frees c->fmt on failure */
    if (r < 0)
        return ff_err(c, r, what, err, err_len);
    r = av_find_best_stream(c->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (r < 0 || !codec)
        return err_set(err, err_len, r == AVERROR_DECODER_NOT_FOUND ? -EMEDIUMTYPE : -EBADMSG,
                       "%s: %s has no decodable video stream", what, image_format_name(f));
    c->stream = r;
    st = c->fmt->streams[r];
    for (unsigned i = 0; i < c->fmt->nb_streams; i++)
        if ((int)i != r)
            c->fmt->streams[i]->discard = AVDISCARD_ALL;
    if (!av_match_list(codec->name, FF_CODEC_WHITELIST, ',') || st->codecpar->codec_type != AVMEDIA_TYPE_VIDEO)
        return err_set(err, err_len, -EMEDIUMTYPE, "%s: codec %s is not allowed", what, codec->name);
    if (st->codecpar->width > 0 || st->codecpar->height > 0) {
        char label[64];
        snprintf(label, sizeof(label), "%s (%s)%s", image_format_name(f), codec->name,
                 image_format_is_video(f) ? " video" : "");
        r = image_check_dims(label, st->codecpar->width, st->codecpar->height, lim, err, err_len);
        if (r < 0)
            return r;
    }
    c->dec = avcodec_alloc_context3(codec);
    if (!c->dec)
        goto nomem;
    r = avcodec_parameters_to_context(c->dec, st->codecpar);
    if (r < 0)
        return ff_err(c, r, what, err, err_len);
    /* Decoders allocate macroblock-aligned pictures (a 5792² WebP asks for 5824×5792), so their own cap gets
     * 16 rows and columns of slack; the frame itself is checked against max_pixels in ff_to_image. */
    c->dec->max_pixels = lim->max_pixels + 16 * ((int64_t)lim->max_width + lim->max_height) + 256;
    c->dec->thread_count = 1;
    c->dec->pkt_timebase = st->time_base;
    c->dec->codec_whitelist = av_strdup(FF_CODEC_WHITELIST);
    if (!c->dec->codec_whitelist)
        goto nomem;
    r = avcodec_open2(c->dec, codec, NULL);
    if (r < 0)
        return ff_err(c, r, what, err, err_len);
    return 0;
nomem:
    return err_set(err, err_len, -ENOMEM, "%s: out of memory", what);
}

/* Next decoded frame of the selected stream into c->frame: 0, 1 at the end of the stream, or -errno. */
static int ff_next_frame(Ff *c, const char *what, char *err, size_t err_len)
{
    const int64_t max_packets = c->lim->max_decode_frames * 4 + 1024;

    for (;;) {
        int r = avcodec_receive_frame(c->dec, c->frame);
        if (r == 0) {
            if (++c->n_decoded > c->lim->max_decode_frames)
                return err_set(err, err_len, -EFBIG, "%s: more than %lld frames decoded", what,
                               (long long)c->lim->max_decode_frames);
            return 0;
        }
        if (r == AVERROR_EOF)
            return 1;
        if (r != AVERROR(EAGAIN)) /* some decoders report a bad packet here, not on send */
            return ff_err(c, r, what, err, err_len);
        if (media_budget_check(c->io.budget))
            return ff_err(c, AVERROR_EXIT, what, err, err_len);
        if (c->eof)
            return 1;
        r = av_read_frame(c->fmt, c->pkt);
        if (r == AVERROR_EOF) {
            c->eof = 1;
            avcodec_send_packet(c->dec, NULL); /* drain */
            continue;
        }
        if (r < 0)
            return ff_err(c, r, what, err, err_len);
        if (++c->n_packets > max_packets) {
            av_packet_unref(c->pkt);
            return err_set(err, err_len, -EFBIG, "%s: more than %lld packets read", what, (long long)max_packets);
        }
        if (c->pkt->stream_index == c->stream) {
            r = avcodec_send_packet(c->dec, c->pkt);
            if (r == AVERROR(ENOMEM)) {
                av_packet_unref(c->pkt);
                return ff_err(c, r, what, err, err_len);
            }
            if (r < 0 && r != AVERROR(EAGAIN))
                c->last_err = r;
            if (r < 0 && r != AVERROR(EAGAIN) && ++c->n_bad_packets > 64) {
                av_packet_unref(c->pkt);
                return ff_err(c, r, what, err, err_len);
            }
        }
        av_packet_unref(c->pkt);
    }
}

static int ff_no_frame(const Ff *c, const char *what, char *err, size_t err_len)
{
    char msg[AV_ERROR_MAX_STRING_SIZE] = "no data";

    if (c->last_err)
        av_strerror(c->last_err, msg, sizeof(msg));
    return err_set(err, err_len, -EBADMSG, "%s: no frame could be decoded (%s)", what, msg);
}

/* Converts f to an RGB8 Image (alpha composited on white). */
static int ff_to_image(Ff *c, const AVFrame *f, const char *what, Image *ret, char *err, size_t err_len)
{
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(f->format);
    int w = f->width, h = f->height, alpha, bpp, r;
    uint8_t *tmp = NULL, *dst[4] = { NULL };
    int linesize[4] = { 0 };
    Image img = { 0 };

    r = image_check_dims(what, w, h, c->lim, err, err_len);
    if (r < 0)
        return r;
    if (!desc)
        return err_set(err, err_len, -EBADMSG, "%s: decoded frame has no pixel format", what);
    alpha = (desc->flags & AV_PIX_FMT_FLAG_ALPHA) != 0;
    bpp = alpha ? 4 : 3;
    c->sws = sws_getCachedContext(c->sws, w, h, f->format, w, h, alpha ? AV_PIX_FMT_RGBA : AV_PIX_FMT_RGB24,
                                  SWS_BILINEAR | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL, NULL, NULL);
    if (!c->sws)
        return err_set(err, err_len, -EBADMSG, "%s: cannot convert pixel format %s to RGB", what, desc->name);
    if (!(desc->flags & AV_PIX_FMT_FLAG_RGB) && !(desc->flags & AV_PIX_FMT_FLAG_PAL) && desc->nb_components >= 3) {
        /* YUV: the frame's matrix (unspecified: BT.709 from 720 lines up, else BT.601, as players do) and range
         * (yuvj* formats are full range by definition; swscale knows that itself). */
        int cs = f->colorspace, full = f->color_range == AVCOL_RANGE_JPEG || strncmp(desc->name, "yuvj", 4) == 0;
        const int *coef;
        if (cs <= AVCOL_SPC_RGB || cs > AVCOL_SPC_BT2020_CL || cs == AVCOL_SPC_UNSPECIFIED)
            cs = h >= 720 ? AVCOL_SPC_BT709 : AVCOL_SPC_BT470BG;
        coef = sws_getCoefficients(cs);
        sws_setColorspaceDetails(c->sws, coef, full, coef, 1, 0, 1 << 16, 1 << 16);
    }
    linesize[0] = (w * bpp + 63) & ~63;
    tmp = av_malloc((size_t)linesize[0] * h + 64);
    if (!tmp || image_alloc(&img, w, h) < 0) {
        av_free(tmp);
        return err_set(err, err_len, -ENOMEM, "%s: out of memory", what);
    }
    dst[0] = tmp;
    if (sws_scale(c->sws, (const uint8_t *const *)f->data, f->linesize, 0, h, dst, linesize) != h) {
        av_free(tmp);
        image_free(&img);
        return err_set(err, err_len, -EBADMSG, "%s: pixel conversion failed", what);
    }
    for (int y = 0; y < h; y++) {
        if (alpha)
            image_composite_rgba(tmp + (size_t)y * linesize[0], img.rgb + (size_t)y * w * 3, (size_t)w);
        else
            memcpy(img.rgb + (size_t)y * w * 3, tmp + (size_t)y * linesize[0], (size_t)w * 3);
    }
    av_free(tmp);
    *ret = img;
    return 0;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* TIFF 6.0 §2: header "II*\0"/"MM\0*" + offset of IFD0; IFD0 = count, 12-byte entries (tag, type, count,
 * value). ImageWidth 256 and ImageLength 257 are SHORT (3) or LONG (4) with the value inline. Every offset
 * is checked against n. 1 when both were found. */
static int tiff_dims(const uint8_t *d, size_t n, int64_t *w, int64_t *h)
{
    int le = d[0] == 'I';
    uint32_t ifd, count;
    int64_t tw = -1, th = -1;

#define T16(p) (le ? (uint32_t)(p)[0] | (uint32_t)(p)[1] << 8 : (uint32_t)(p)[0] << 8 | (p)[1])
#define T32(p) (le ? le32(p) : (uint32_t)(p)[0] << 24 | (uint32_t)(p)[1] << 16 | (uint32_t)(p)[2] << 8 | (p)[3])
    if (n < 8)
        return 0;
    ifd = T32(d + 4);
    if (ifd < 8 || ifd > n - 2)
        return 0;
    count = T16(d + ifd);
    if (count > (n - ifd - 2) / 12)
        count = (uint32_t)((n - ifd - 2) / 12);
    for (uint32_t k = 0; k < count; k++) {
        const uint8_t *e = d + ifd + 2 + 12 * (size_t)k;
        uint32_t tag = T16(e), type = T16(e + 2), v;
        if (tag != 256 && tag != 257)
            continue;
        if (type == 3)
            v = T16(e + 8);
        else if (type == 4)
            v = T32(e + 8);
        else
            continue;
        if (tag == 256)
            tw = v;
        else
            th = v;
    }
#undef T16
#undef T32
    if (tw < 0 || th < 0)
        return 0;
    *w = tw;
    *h = th;
    return 1;
}

/* Dimensions declared by BMP (BITMAPCOREHEADER / BITMAPINFOHEADER+), WebP (VP8X, VP8, VP8L) and TIFF (IFD0)
 * headers, so that huge ones are TooLarge before FFmpeg allocates (its max_pixels refusal would read as
 * "malformed"). */
static int header_dims(const uint8_t *d, size_t n, ImageFormat fmt, int64_t *w, int64_t *h)
{
    if (fmt == IMAGE_FORMAT_BMP && n >= 26) {
        uint32_t hs = le32(d + 14);
        if (hs == 12) {
            *w = d[18] | d[19] << 8;
            *h = d[20] | d[21] << 8;
            return 1;
        }
        if (hs >= 40) {
            *w = (int32_t)le32(d + 18);
            *h = (int32_t)le32(d + 22);
            if (*h < 0) /* top-down rows */
                *h = -*h;
            return 1;
        }
    }
    if (fmt == IMAGE_FORMAT_WEBP && n >= 30 && memcmp(d + 12, "VP8X", 4) == 0) {
        *w = 1 + (int64_t)(d[24] | d[25] << 8 | d[26] << 16);
        *h = 1 + (int64_t)(d[27] | d[28] << 8 | d[29] << 16);
        return 1;
    }
    /* Simple lossy WebP (RFC 9649 §2.5): "VP8 " chunk, 3-byte frame tag, start code 9D 01 2A, then 14-bit
     * width and height (2 scale bits each above them). */
    if (fmt == IMAGE_FORMAT_WEBP && n >= 30 && memcmp(d + 12, "VP8 ", 4) == 0 && d[23] == 0x9d && d[24] == 0x01 &&
        d[25] == 0x2a) {
        *w = (d[26] | d[27] << 8) & 0x3fff;
        *h = (d[28] | d[29] << 8) & 0x3fff;
        return 1;
    }
    /* Simple lossless WebP (RFC 9649 §3.2): "VP8L" chunk, signature 0x2F, 14 bits width − 1, 14 bits
     * height − 1 (little-endian bit order). */
    if (fmt == IMAGE_FORMAT_WEBP && n >= 25 && memcmp(d + 12, "VP8L", 4) == 0 && d[20] == 0x2f) {
        uint32_t bits = le32(d + 21);
        *w = 1 + (int64_t)(bits & 0x3fff);
        *h = 1 + (int64_t)((bits >> 14) & 0x3fff);
        return 1;
    }
    if (fmt == IMAGE_FORMAT_TIFF)
        return tiff_dims(d, n, w, h);
    return 0;
}

int image_decode_ffmpeg(const uint8_t *data, size_t size, ImageFormat fmt, const ImageLimits *lim,
                        MediaBudget *budget, Image *ret, char *err, size_t err_len)
{
    MediaSource src = { .data = data, .size = size, .fd = -1 };
    char what[32];
    int64_t hw, hh;
    Ff c;
    int r;

    if (header_dims(data, size, fmt, &hw, &hh) && (r = image_check_dims(image_format_name(fmt), hw, hh, lim, err,
                                                                          err_len)) < 0)
        return r;
    snprintf(what, sizeof(what), "image: %s", image_format_name(fmt));
    r = ff_open(&c, &src, fmt, lim, budget, what, err, err_len);
    if (r == 0) {
        r = ff_next_frame(&c, what, err, err_len);
        if (r == 1)
            r = ff_no_frame(&c, what, err, err_len);
        else if (r == 0)
            r = ff_to_image(&c, c.frame, what, ret, err, err_len);
    }
    ff_close(&c);
    return r;
}

/* Seconds of frame f from the stream start; NAN-free: frames without a timestamp count as `fallback`. */
static double ff_frame_time(const Ff *c, const AVFrame *f, double fallback)
{
    const AVStream *st = c->fmt->streams[c->stream];
    int64_t ts = f->best_effort_timestamp, start = st->start_time == AV_NOPTS_VALUE ? 0 : st->start_time;

    if (ts == AV_NOPTS_VALUE)
        return fallback;
    /* in double: the container's timestamps are untrusted, and ts − start can overflow int64 */
    return ((double)ts - (double)start) * av_q2d(st->time_base);
}

/* Duration in seconds from the container headers, or < 0 when unknown. */
static double ff_duration(const Ff *c)
{
    const AVStream *st = c->fmt->streams[c->stream];

    if (st->duration > 0 && st->time_base.num > 0 && st->time_base.den > 0)
        return (double)st->duration * av_q2d(st->time_base);
    if (c->fmt->duration > 0)
        return (double)c->fmt->duration / AV_TIME_BASE;
    return -1.0;
}

/* Unknown duration (e.g. GIF): decode everything once (within the caps) and take the last frame's end. */
static int ff_measure_duration(Ff *c, const char *what, double *ret_dur, char *err, size_t err_len)
{
    double last = 0.0;
    int r;

    while ((r = ff_next_frame(c, what, err, err_len)) == 0) {
        double t = ff_frame_time(c, c->frame, last);
        const AVStream *st = c->fmt->streams[c->stream];
        if (c->frame->pkt_duration > 0)
            t += (double)c->frame->pkt_duration * av_q2d(st->time_base);
        if (t > last)
            last = t;
        if (last > c->lim->max_duration_s)
            return err_set(err, err_len, -EFBIG, "%s: duration over the %.0f s limit", what, c->lim->max_duration_s);
        av_frame_unref(c->frame);
    }
    if (r < 0)
        return r;
    if (c->n_decoded == 0)
        return ff_no_frame(c, what, err, err_len);
    *ret_dur = last;
    return 0;
}

int video_sample_ffmpeg(const MediaSource *src, ImageFormat fmt, int n_frames, const ImageLimits *lim,
                        MediaBudget *budget, Image *frames, double *timestamps, char *err, size_t err_len)
{
    char what[32];
    double dur, cur = -1.0; /* time of c.keep, < 0 = none yet */
    int64_t spent = 0;
    int r, n_done = 0, have_keep = 0;
    Ff c;

    snprintf(what, sizeof(what), "video: %s", image_format_name(fmt));
    r = ff_open(&c, src, fmt, lim, budget, what, err, err_len);
    if (r < 0)
        goto done;
    dur = ff_duration(&c);
    if (dur < 0) {
        r = ff_measure_duration(&c, what, &dur, err, err_len);
        spent = c.n_decoded;
        ff_close(&c);
        if (r < 0)
            goto done;
        r = ff_open(&c, src, fmt, lim, budget, what, err, err_len);
        if (r < 0)
            goto done;
        c.n_decoded = spent; /* the frame cap covers both passes */
    }
    if (dur > lim->max_duration_s) {
        r = err_set(err, err_len, -EFBIG, "%s: duration %.1f s exceeds the %.0f s limit", what, dur,
                    lim->max_duration_s);
        goto done;
    }
    for (int i = 0; i < n_frames; i++) {
        double target = dur * (i + 0.5) / n_frames;
        /* Far ahead of what we hold: seek to the keyframe before the target instead of decoding forward. */
        if (!c.eof && cur + 2.0 < target && target > 1.0 && c.fmt->streams[c.stream]->time_base.num > 0 &&
            c.fmt->streams[c.stream]->time_base.den > 0) {
            const AVStream *st = c.fmt->streams[c.stream];
            /* in double, then range-checked: start_time is the container's word and may be near INT64_MAX */
            double ts = target / av_q2d(st->time_base) +
                        (st->start_time == AV_NOPTS_VALUE ? 0.0 : (double)st->start_time);
            if (ts > -9e18 && ts < 9e18 && av_seek_frame(c.fmt, c.stream, (int64_t)ts, AVSEEK_FLAG_BACKWARD) >= 0)
                avcodec_flush_buffers(c.dec);
        }
        while (!have_keep || cur < target - 1e-6) {
            r = ff_next_frame(&c, what, err, err_len);
            if (r < 0)
                goto done;
            if (r == 1)
                break; /* end of stream: the last frame stands for the rest */
            cur = ff_frame_time(&c, c.frame, cur);
            av_frame_unref(c.keep);
            av_frame_move_ref(c.keep, c.frame);
            have_keep = 1;
        }
        if (!have_keep) {
            r = ff_no_frame(&c, what, err, err_len);
            goto done;
        }
        r = ff_to_image(&c, c.keep, what, &frames[i], err, err_len);
        if (r < 0)
            goto done;
        if (timestamps)
            timestamps[i] = cur < 0 ? 0.0 : cur;
        n_done++;
    }
    r = 0;
done:
    if (r < 0)
        for (int i = 0; i < n_done; i++)
            image_free(&frames[i]);
    ff_close(&c);
    return r;
}

#else

int image_decode_ffmpeg(const uint8_t *data, size_t size, ImageFormat fmt, const ImageLimits *lim,
                        MediaBudget *budget, Image *ret, char *err, size_t err_len)
{
    return err_set(err, err_len, -ENOTSUP, "image: %s support not built in (Myna was built without FFmpeg)",
                   image_format_name(fmt));
}

int video_sample_ffmpeg(const MediaSource *src, ImageFormat fmt, int n_frames, const ImageLimits *lim,
                        MediaBudget *budget, Image *frames, double *timestamps, char *err, size_t err_len)
{
    return err_set(err, err_len, -ENOTSUP, "video: not built in (Myna was built without FFmpeg)");
}

#endif
