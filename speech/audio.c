/* audio.c — FFmpeg-based decode of untrusted audio to mono float (see audio.h for the contract).
 * What it is not: a general media pipeline; video streams are ignored, only the best audio stream is
 * decoded. Reference for the numerics: libswresample defaults, i.e. `ffmpeg -i x -ac 1 -ar 16000 -f f32le`
 * (openai-whisper's load_audio); tests/unit/test-audio.c compares against that CLI's output.
 * Safety: see RELIABILITY.md §2 — custom AVIO only, io_open refused, whitelists, caps, deadline. */
#include "audio.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avstring.h>
#include <libavutil/channel_layout.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>

#include "av-limits.h"
#include "log.h"

/* Demuxers (matched against each comma-separated part of the demuxer name) and decoders we accept. */
static const char FORMAT_WHITELIST[] = "wav,w64,flac,mp3,ogg,matroska,webm,mov,aac,aiff,caf,au";
/* The decoders (AVCodec.name) FFmpeg has for the ids below: set as the format context's codec_whitelist
 * before anything is probed, then narrowed to the chosen stream's decoder before avformat_find_stream_info. */
static const char DECODER_WHITELIST[] =
    "pcm_s16le,pcm_s16be,pcm_u8,pcm_s8,pcm_s24le,pcm_s24be,pcm_s32le,pcm_s32be,pcm_f32le,pcm_f32be,"
    "pcm_f64le,pcm_f64be,pcm_alaw,pcm_mulaw,adpcm_ima_wav,adpcm_ms,flac,mp3float,mp3,mp2float,mp2,"
    "vorbis,libvorbis,opus,libopus,aac,aac_fixed,alac";
static const enum AVCodecID CODEC_WHITELIST[] = {
    AV_CODEC_ID_PCM_S16LE, AV_CODEC_ID_PCM_S16BE, AV_CODEC_ID_PCM_U8, AV_CODEC_ID_PCM_S8,
    AV_CODEC_ID_PCM_S24LE, AV_CODEC_ID_PCM_S24BE, AV_CODEC_ID_PCM_S32LE, AV_CODEC_ID_PCM_S32BE,
    AV_CODEC_ID_PCM_F32LE, AV_CODEC_ID_PCM_F32BE, AV_CODEC_ID_PCM_F64LE, AV_CODEC_ID_PCM_F64BE,
    AV_CODEC_ID_PCM_ALAW, AV_CODEC_ID_PCM_MULAW, AV_CODEC_ID_ADPCM_IMA_WAV, AV_CODEC_ID_ADPCM_MS,
    AV_CODEC_ID_FLAC, AV_CODEC_ID_MP3, AV_CODEC_ID_MP2, AV_CODEC_ID_VORBIS, AV_CODEC_ID_OPUS,
    AV_CODEC_ID_AAC, AV_CODEC_ID_ALAC,
};
enum { AVIO_BUF = 32768, MAX_BAD_PACKETS = 64, PROBE_BYTES = 1 << 20 };

typedef struct {
    /* source: memory (data != NULL) or fd */
    const uint8_t *data;
    int fd;
    int seekable;
    int64_t size;             /* total bytes available (memory, or a regular file from the start offset) */
    int64_t base;             /* fd offset where reading started */
    int64_t pos;
    int64_t bytes_read;
    int64_t max_bytes;
    int over_cap, io_error;
    MediaBudget budget;       /* wall deadline, CPU budget, cancel flag; its state is sticky */
} Source;

static int64_t ms_left(const Source *s)
{
    return (int64_t)((s->budget.deadline - media_clock_s(CLOCK_MONOTONIC)) * 1000.0);
}

/* FFmpeg's interrupt callback and our own check between packets: nonzero stops the decode. */
static int interrupt_cb(void *opaque)
{
    Source *s = opaque;
    return media_budget_check(&s->budget) != 0;
}

static int read_cb(void *opaque, uint8_t *buf, int len)
{
    Source *s = opaque;
    ssize_t n;

    if (len <= 0)
        return AVERROR(EINVAL);
    if (s->bytes_read >= s->max_bytes) {
        s->over_cap = 1;
        return AVERROR(EFBIG);
    }
    if ((int64_t)len > s->max_bytes - s->bytes_read)
        len = (int)(s->max_bytes - s->bytes_read);
    if (s->data) {
        if (s->pos >= s->size)
            return AVERROR_EOF;
        if ((int64_t)len > s->size - s->pos)
            len = (int)(s->size - s->pos);
        memcpy(buf, s->data + s->pos, (size_t)len);
        n = len;
    } else if (s->seekable) {
        do n = pread(s->fd, buf, (size_t)len, s->base + s->pos); while (n < 0 && errno == EINTR);
    } else {
        struct pollfd p = { .fd = s->fd, .events = POLLIN };
        int64_t left;
        int pr;
        for (;;) {
            if (interrupt_cb(s))
                return AVERROR_EXIT;
            left = ms_left(s);
            pr = poll(&p, 1, left > 200 ? 200 : left < 1 ? 1 : (int)left);
            if (pr > 0 || (pr < 0 && errno != EINTR))
                break;
        }
        do n = read(s->fd, buf, (size_t)len); while (n < 0 && errno == EINTR);
    }
    if (n < 0) {
        s->io_error = errno;
        return AVERROR(EIO);
    }
    if (n == 0)
        return AVERROR_EOF;
    s->pos += n;
    s->bytes_read += n;
    return (int)n;
}

static int64_t seek_cb(void *opaque, int64_t offset, int whence)
{
    Source *s = opaque;
    int64_t p;

    if (whence & AVSEEK_SIZE)
        return s->size >= 0 ? s->size : -1;
    switch (whence & ~AVSEEK_FORCE) {
    case SEEK_SET: p = offset; break;
    case SEEK_CUR: p = s->pos + offset; break;
    case SEEK_END: if (s->size < 0) return -1; p = s->size + offset; break;
    default: return -1;
    }
    if (p < 0 || (s->size >= 0 && p > s->size))
        return -1;
    s->pos = p;
    return p;
}

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

/* RIFF/WAVE with a known total size: FFmpeg reads a data chunk that declares more than the input holds as
 * far as it goes and reports no duration, so a header claiming hours over a few bytes would pass. We walk
 * the chunk list in the first `n` bytes and reject a data chunk that runs past the end of the input
 * (0 and 0xFFFFFFFF are the streaming writers' "unknown size" and stay allowed). */
static int check_riff(const uint8_t *h, size_t n, int64_t total, char *err, size_t err_len)
{
    size_t off = 12;

    if (n < 12 || memcmp(h, "RIFF", 4) != 0 || memcmp(h + 8, "WAVE", 4) != 0)
        return 0;
    while (off + 8 <= n) {
        uint32_t sz = rd32(h + off + 4);
        if (memcmp(h + off, "data", 4) == 0) {
            if (sz != 0 && sz != 0xffffffffu && (int64_t)off + 8 + sz > total + 1)
                return err_set(err, err_len, -EBADMSG, "wav: data chunk declares %u bytes but only %lld follow",
                               sz, (long long)(total - (int64_t)off - 8));
            return 0;
        }
        if ((uint64_t)off + 8 + sz + (sz & 1) > (uint64_t)total)
            return 0; /* FFmpeg rejects a broken chunk list itself */
        off += 8 + (size_t)sz + (sz & 1);
    }
    return 0;
}

static int codec_allowed(enum AVCodecID id)
{
    for (size_t i = 0; i < sizeof(CODEC_WHITELIST) / sizeof(CODEC_WHITELIST[0]); i++)
        if (CODEC_WHITELIST[i] == id)
            return 1;
    return 0;
}

typedef struct {
    Source src;
    AVFormatContext *fmt;
    AVIOContext *pb;
    AVCodecContext *dec;
    SwrContext *swr;
    AVPacket *pkt;
    AVFrame *frame;
    int stream;
    int opened;                /* fmt went through avformat_open_input */
    int out_rate;
    /* swr input configuration currently set up */
    int in_rate, in_fmt;
    AVChannelLayout in_layout;
    float *out;                /* owned until handed to the caller */
    int64_t n_out, cap_out, max_out;
} Decoder;

static int grow(Decoder *d, int64_t need, char *err, size_t err_len)
{
    int64_t cap;
    float *p;

    if (need <= d->cap_out)
        return 0;
    cap = d->cap_out ? d->cap_out : 16384;
    while (cap < need)
        cap *= 2;
    if (cap > d->max_out + 16384)
        cap = d->max_out + 16384;
    if (cap < need)
        return err_set(err, err_len, -EFBIG, "audio longer than the %.1f s cap",
                       (double)d->max_out / d->out_rate);
    p = realloc(d->out, (size_t)cap * sizeof(float));
    if (!p)
        return err_set(err, err_len, -ENOMEM, "out of memory for %lld samples", (long long)cap);
    d->out = p;
    d->cap_out = cap;
    return 0;
}

/* Convert (or, with frame == NULL, flush) through swr into d->out, enforcing the duration cap. */
static int convert(Decoder *d, const AVFrame *frame, char *err, size_t err_len)
{
    int in_n = frame ? frame->nb_samples : 0, got, r;
    int64_t room = swr_get_out_samples(d->swr, in_n);
    uint8_t *outp;

    if (room < 0)
        return err_set(err, err_len, -EBADMSG, "resampler failed");
    if ((r = grow(d, d->n_out + room + 16, err, err_len)) < 0)
        return r;
    outp = (uint8_t *)(d->out + d->n_out);
    /* room for swr_convert is an int: a buffer past 2^31 samples (hours at a high rate) is offered in part */
    got = swr_convert(d->swr, &outp, d->cap_out - d->n_out > INT_MAX ? INT_MAX : (int)(d->cap_out - d->n_out),
                      frame ? (const uint8_t **)frame->extended_data : NULL, in_n);
    if (got < 0)
        return err_set(err, err_len, -EBADMSG, "resampling failed: %s", av_err2str(got));
    /* Float PCM (pcm_f32le/f64le) carries any bit pattern: NaN/Inf would reach the mel front end and turn a
     * whole transcription into NaN. Non-finite samples become silence, the rest is kept within ±AUDIO_MAX_ABS. */
    for (float *x = d->out + d->n_out, *e = x + got; x < e; x++)
        *x = !isfinite(*x) ? 0.0f : *x > AUDIO_MAX_ABS ? AUDIO_MAX_ABS : *x < -AUDIO_MAX_ABS ? -AUDIO_MAX_ABS : *x;
    d->n_out += got;
    if (d->n_out > d->max_out)
        return err_set(err, err_len, -EFBIG, "audio longer than the %.1f s cap",
                       (double)d->max_out / d->out_rate);
    return 0;
}

static int setup_swr(Decoder *d, const AVFrame *f, char *err, size_t err_len)
{
    AVChannelLayout in = { 0 }, mono = AV_CHANNEL_LAYOUT_MONO;
    int r, ch = f->ch_layout.nb_channels;

    if (f->sample_rate <= 0 || f->sample_rate > AUDIO_MAX_SOURCE_RATE)
        return err_set(err, err_len, -EBADMSG, "decoded sample rate %d out of range", f->sample_rate);
    if (ch <= 0 || ch > AUDIO_MAX_CHANNELS)
        return err_set(err, err_len, -EBADMSG, "decoded channel count %d out of range 1..%d", ch,
                       AUDIO_MAX_CHANNELS);
    if (d->swr && f->sample_rate == d->in_rate && f->format == d->in_fmt &&
        av_channel_layout_compare(&f->ch_layout, &d->in_layout) == 0)
        return 0;
    if (d->swr) { /* parameters changed mid-stream: drain the old resampler first */
        if ((r = convert(d, NULL, err, err_len)) < 0)
            return r;
        swr_free(&d->swr);
    }
    if (f->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC)
        av_channel_layout_default(&in, ch);
    else if (av_channel_layout_copy(&in, &f->ch_layout) < 0)
        return err_set(err, err_len, -ENOMEM, "out of memory");
    r = swr_alloc_set_opts2(&d->swr, &mono, AV_SAMPLE_FMT_FLT, d->out_rate, &in, f->format,
                            f->sample_rate, 0, NULL);
    if (r >= 0)
        r = swr_init(d->swr);
    av_channel_layout_uninit(&d->in_layout);
    av_channel_layout_copy(&d->in_layout, &f->ch_layout);
    av_channel_layout_uninit(&in);
    if (r < 0)
        return err_set(err, err_len, -EBADMSG, "cannot convert %d Hz %d-channel %s audio: %s", f->sample_rate,
                       ch, av_get_sample_fmt_name(f->format) ? av_get_sample_fmt_name(f->format) : "?",
                       av_err2str(r));
    d->in_rate = f->sample_rate;
    d->in_fmt = f->format;
    return 0;
}

static int receive_frames(Decoder *d, char *err, size_t err_len)
{
    int r;

    for (;;) {
        r = avcodec_receive_frame(d->dec, d->frame);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF)
            return 0;
        if (r < 0)
            return r == AVERROR_EXIT ? r : AVERROR_INVALIDDATA; /* counted as a bad packet by the caller */
        r = setup_swr(d, d->frame, err, err_len);
        if (r >= 0)
            r = convert(d, d->frame, err, err_len);
        av_frame_unref(d->frame);
        if (r < 0)
            return r;
    }
}

/* Map a libav error (or our negative errno) after the fact, using what the Source saw. */
static int map_av_error(Decoder *d, int r, const char *what, char *err, size_t err_len)
{
    if (r == AVERROR_EXIT && !d->src.budget.state) /* interrupted without a verdict: cannot happen */
        d->src.budget.state = -ETIMEDOUT;
    if (d->src.budget.state)
        return media_budget_error(&d->src.budget, "audio", err, err_len);
    if (d->src.over_cap)
        return err_set(err, err_len, -EFBIG, "%s: input larger than the %lld byte cap", what,
                       (long long)d->src.max_bytes);
    if (d->src.io_error)
        return err_set(err, err_len, -EIO, "%s: read failed: %s", what, strerror(d->src.io_error));
    if (r == AVERROR(ENOMEM))
        return myna_av_demux_error(r, what, err, err_len);
    return err_set(err, err_len, -EBADMSG, "%s: %s", what, av_err2str(r));
}

/* The audio stream to decode: the first one marked default whose codec is on the whitelist, else the first
 * allowed one. Streams on a codec we refuse are never candidates, so an AC-3 track beside a FLAC one does
 * not make the file fail. -1 when none. */
static int pick_stream(const AVFormatContext *fmt)
{
    int first = -1;

    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        const AVCodecParameters *par = fmt->streams[i]->codecpar;
        if (par->codec_type != AVMEDIA_TYPE_AUDIO || !codec_allowed(par->codec_id))
            continue;
        if (fmt->streams[i]->disposition & AV_DISPOSITION_DEFAULT)
            return (int)i;
        if (first < 0)
            first = (int)i;
    }
    return first;
}

static int open_input(Decoder *d, double max_seconds, char *err, size_t err_len)
{
    AVDictionary *opts = NULL;
    const AVStream *st;
    const AVCodec *codec;
    int r, ch;

    d->fmt = avformat_alloc_context();
    uint8_t *iobuf = av_malloc(AVIO_BUF);
    if (!d->fmt || !iobuf) {
        av_free(iobuf);
        return err_set(err, err_len, -ENOMEM, "out of memory");
    }
    d->pb = avio_alloc_context(iobuf, AVIO_BUF, 0, &d->src, read_cb, NULL, d->src.seekable ? seek_cb : NULL);
    if (!d->pb) {
        av_free(iobuf);
        return err_set(err, err_len, -ENOMEM, "out of memory");
    }
    d->pb->seekable = d->src.seekable ? AVIO_SEEKABLE_NORMAL : 0;
    if (myna_av_harden(d->fmt, d->pb, FORMAT_WHITELIST, DECODER_WHITELIST, interrupt_cb, &d->src) < 0)
        return err_set(err, err_len, -ENOMEM, "out of memory");
    d->fmt->probesize = PROBE_BYTES;
    d->fmt->max_analyze_duration = 5 * AV_TIME_BASE;
    /* Probe ourselves first so a refused container is named in the error. */
    {
        const AVInputFormat *ifmt = NULL;
        r = av_probe_input_buffer2(d->pb, &ifmt, "", NULL, 0, PROBE_BYTES);
        if (r < 0 || !ifmt)
            return map_av_error(d, r < 0 ? r : AVERROR_INVALIDDATA, "not recognised as media", err, err_len);
        if (av_match_list(ifmt->name, FORMAT_WHITELIST, ',') <= 0)
            return err_set(err, err_len, -ENOTSUP, "container \"%s\" is not allowed for audio", ifmt->name);
        d->fmt->iformat = ifmt;
    }
    av_dict_set(&opts, "protocol_blacklist", "all", 0);
    r = avformat_open_input(&d->fmt, NULL, d->fmt->iformat, &opts);
    av_dict_free(&opts);
    if (r < 0) {
        d->fmt = NULL; /* freed by avformat_open_input on failure */
        if (r == AVERROR(EINVAL) && !d->src.budget.state && !d->src.over_cap && !d->src.io_error)
            return err_set(err, err_len, -ENOTSUP, "not a supported audio container (%s)", av_err2str(r));
        return map_av_error(d, r, "cannot open media", err, err_len);
    }
    d->opened = 1;
    /* Choose the stream from the headers alone, before any decoder exists: every other stream is discarded
     * (no packets, no parser) and the decoder whitelist shrinks to the chosen decoder, so the decoders that
     * avformat_find_stream_info opens for every stream are refused (before their init) for all the others. */
    r = pick_stream(d->fmt);
    if (r < 0) {
        for (unsigned i = 0; i < d->fmt->nb_streams; i++)
            if (d->fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO)
                return err_set(err, err_len, -ENOTSUP, "%s: codec %s not allowed", d->fmt->iformat->name,
                               avcodec_get_name(d->fmt->streams[i]->codecpar->codec_id));
        return err_set(err, err_len, -EBADMSG, "%s: no audio stream", d->fmt->iformat->name);
    }
    d->stream = r;
    st = d->fmt->streams[r];
    for (unsigned i = 0; i < d->fmt->nb_streams; i++)
        if ((int)i != r)
            d->fmt->streams[i]->discard = AVDISCARD_ALL;
    codec = avcodec_find_decoder(st->codecpar->codec_id);
    if (!codec || av_match_list(codec->name, DECODER_WHITELIST, ',') <= 0)
        return err_set(err, err_len, -ENOTSUP, "no allowed decoder for %s", avcodec_get_name(st->codecpar->codec_id));
    if (myna_av_only_decoder(d->fmt, codec->name) < 0)
        return err_set(err, err_len, -ENOMEM, "out of memory");
    if ((r = avformat_find_stream_info(d->fmt, NULL)) < 0)
        return map_av_error(d, r, "cannot read stream info", err, err_len);
    if (interrupt_cb(&d->src))
        return map_av_error(d, AVERROR_EXIT, "stream info", err, err_len);
    ch = st->codecpar->ch_layout.nb_channels;
    if ((st->codecpar->codec_id == AV_CODEC_ID_ADPCM_MS || st->codecpar->codec_id == AV_CODEC_ID_ADPCM_IMA_WAV) &&
        (st->codecpar->block_align <= 0 || st->codecpar->block_align > 65536))
        return err_set(err, err_len, -EBADMSG, "%s: ADPCM block size %d invalid", d->fmt->iformat->name,
                       st->codecpar->block_align);
    if (st->codecpar->sample_rate <= 0 || st->codecpar->sample_rate > AUDIO_MAX_SOURCE_RATE)
        return err_set(err, err_len, -EBADMSG, "%s: sample rate %d out of range 1..%d", d->fmt->iformat->name,
                       st->codecpar->sample_rate, AUDIO_MAX_SOURCE_RATE);
    if (ch <= 0 || ch > AUDIO_MAX_CHANNELS)
        return err_set(err, err_len, -EBADMSG, "%s: channel count %d out of range 1..%d",
                       d->fmt->iformat->name, ch, AUDIO_MAX_CHANNELS);
    if (st->duration > 0 && st->time_base.num > 0 && st->time_base.den > 0 &&
        (double)st->duration * st->time_base.num / st->time_base.den > max_seconds)
        return err_set(err, err_len, -EFBIG, "%s: declared duration %.0f s over the %.1f s cap",
                       d->fmt->iformat->name, (double)st->duration * st->time_base.num / st->time_base.den,
                       max_seconds);
    if (d->fmt->duration > 0 && (double)d->fmt->duration / AV_TIME_BASE > max_seconds)
        return err_set(err, err_len, -EFBIG, "%s: declared duration %.0f s over the %.1f s cap",
                       d->fmt->iformat->name, (double)d->fmt->duration / AV_TIME_BASE, max_seconds);
    d->dec = avcodec_alloc_context3(codec);
    if (!d->dec)
        return err_set(err, err_len, -ENOMEM, "out of memory");
    if ((r = avcodec_parameters_to_context(d->dec, st->codecpar)) < 0)
        return map_av_error(d, r, "decoder parameters", err, err_len);
    d->dec->thread_count = 1;
    av_dict_set(&opts, "codec_whitelist", codec->name, 0);
    r = avcodec_open2(d->dec, codec, &opts);
    av_dict_free(&opts);
    if (r < 0)
        return err_set(err, err_len, -EBADMSG, "cannot open %s decoder: %s", codec->name, av_err2str(r));
    return 0;
}

static int decode_all(Decoder *d, char *err, size_t err_len)
{
    int r, bad = 0;

    for (;;) {
        r = av_read_frame(d->fmt, d->pkt);
        if (r == AVERROR_EOF)
            break;
        if (r < 0) {
            if (d->src.budget.state || d->src.over_cap || d->src.io_error || r == AVERROR_EXIT)
                return map_av_error(d, r, "read", err, err_len);
            break; /* a damaged tail: keep what was decoded so far */
        }
        if (d->pkt->stream_index == d->stream) {
            r = avcodec_send_packet(d->dec, d->pkt);
            if (r >= 0 || r == AVERROR(EAGAIN))
                r = receive_frames(d, err, err_len);
            if (r == AVERROR_INVALIDDATA || (r < 0 && r > -4096 && r != AVERROR(ENOMEM) &&
                                             r != -EFBIG && r != -EBADMSG && r != -ETIMEDOUT &&
                                             r != -ETIME && r != -ECANCELED)) {
                if (++bad > MAX_BAD_PACKETS) {
                    av_packet_unref(d->pkt);
                    return err_set(err, err_len, -EBADMSG, "%s: more than %d undecodable packets",
                                   d->dec->codec->name, MAX_BAD_PACKETS);
                }
                r = 0;
            }
        }
        av_packet_unref(d->pkt);
        if (r < 0)
            return r;
        if (interrupt_cb(&d->src))
            return map_av_error(d, AVERROR_EXIT, "decode", err, err_len);
    }
    if (avcodec_send_packet(d->dec, NULL) >= 0 && (r = receive_frames(d, err, err_len)) < 0 &&
        r != AVERROR_INVALIDDATA)
        return r;
    if (d->swr && (r = convert(d, NULL, err, err_len)) < 0)
        return r;
    if (d->n_out == 0)
        return err_set(err, err_len, -EBADMSG, "%s: no audio could be decoded", d->fmt->iformat->name);
    return 0;
}

static int decode_source(Decoder *d, const AudioDecodeOptions *opt, AudioPcm *ret, char *err, size_t err_len)
{
    AudioDecodeOptions o = opt ? *opt : (AudioDecodeOptions){ 0 };
    int r;

    if (!o.sample_rate) o.sample_rate = AUDIO_DEFAULT_SAMPLE_RATE;
    if (o.max_seconds <= 0) o.max_seconds = AUDIO_DEFAULT_MAX_SECONDS;
    if (o.max_input_bytes <= 0) o.max_input_bytes = AUDIO_DEFAULT_MAX_INPUT_BYTES;
    if (o.timeout_ms <= 0) o.timeout_ms = AUDIO_DEFAULT_TIMEOUT_MS;
    if (!opt) o.max_cpu_s = AUDIO_DEFAULT_MAX_CPU_S;
    if (o.sample_rate < 8000 || o.sample_rate > 192000 || o.max_seconds > 24 * 3600.0 || !(o.max_cpu_s >= 0))
        return err_set(err, err_len, -EINVAL, "bad decode options (rate %d, max %.0f s, CPU %g s)", o.sample_rate,
                       o.max_seconds, o.max_cpu_s);
    d->out_rate = o.sample_rate;
    d->max_out = (int64_t)(o.max_seconds * o.sample_rate);
    d->src.max_bytes = o.max_input_bytes;
    media_budget_init(&d->src.budget, o.timeout_ms / 1000.0, o.max_cpu_s, o.cancel);
    if (interrupt_cb(&d->src)) /* cancelled before we started */
        return map_av_error(d, AVERROR_EXIT, "audio", err, err_len);
    if (d->src.data && d->src.size > o.max_input_bytes)
        return err_set(err, err_len, -EFBIG, "input of %lld bytes over the %lld byte cap",
                       (long long)d->src.size, (long long)o.max_input_bytes);
    if (d->src.data) {
        r = check_riff(d->src.data, (size_t)(d->src.size < 4096 ? d->src.size : 4096), d->src.size, err, err_len);
    } else if (d->src.seekable) {
        uint8_t head[4096];
        ssize_t n = pread(d->src.fd, head, sizeof(head), d->src.base);
        r = n > 0 ? check_riff(head, (size_t)n, d->src.size, err, err_len) : 0;
    } else {
        r = 0;
    }
    if (r < 0)
        return r;
    d->pkt = av_packet_alloc();
    d->frame = av_frame_alloc();
    if (!d->pkt || !d->frame)
        return err_set(err, err_len, -ENOMEM, "out of memory");
    if ((r = open_input(d, o.max_seconds, err, err_len)) < 0 || (r = decode_all(d, err, err_len)) < 0)
        return r;
    memset(ret, 0, sizeof(*ret));
    ret->samples = d->out;
    d->out = NULL;
    ret->n_samples = d->n_out;
    ret->sample_rate = d->out_rate;
    ret->src_sample_rate = d->fmt->streams[d->stream]->codecpar->sample_rate;
    ret->src_channels = d->fmt->streams[d->stream]->codecpar->ch_layout.nb_channels;
    snprintf(ret->container, sizeof(ret->container), "%s", d->fmt->iformat->name);
    snprintf(ret->codec, sizeof(ret->codec), "%s", d->dec->codec->name);
    return 0;
}


static void decoder_free(Decoder *d)
{
    swr_free(&d->swr);
    avcodec_free_context(&d->dec);
    if (d->opened)
        avformat_close_input(&d->fmt); /* does not free a custom pb */
    else
        avformat_free_context(d->fmt);
    if (d->pb) {
        av_freep(&d->pb->buffer);
        avio_context_free(&d->pb);
    }
    av_packet_free(&d->pkt);
    av_frame_free(&d->frame);
    av_channel_layout_uninit(&d->in_layout);
    free(d->out);
}

static void av_log_to_myna(void *avcl, int level, const char *fmt, va_list vl)
{
    char line[512];
    int prefix = 1;

    if (level > AV_LOG_WARNING)
        return;
    av_log_format_line(avcl, level, fmt, vl, line, sizeof(line), &prefix);
    line[strcspn(line, "\n")] = 0;
    log_debug("ffmpeg: %s", line);
}

void audio_route_ffmpeg_logs(void)
{
    av_log_set_callback(av_log_to_myna);
}

int audio_decode_memory(const void *data, size_t size, const AudioDecodeOptions *opt, AudioPcm *ret,
                        char *err, size_t err_len)
{
    Decoder d = { 0 };
    int r;

    if (!ret || (!data && size))
        return err_set(err, err_len, -EINVAL, "bad arguments");
    if (size == 0)
        return err_set(err, err_len, -EBADMSG, "empty input");
    d.src.data = data;
    d.src.fd = -1;
    d.src.size = (int64_t)size;
    d.src.seekable = 1;
    r = decode_source(&d, opt, ret, err, err_len);
    decoder_free(&d);
    return r;
}

int audio_decode_fd(int fd, const AudioDecodeOptions *opt, AudioPcm *ret, char *err, size_t err_len)
{
    Decoder d = { 0 };
    struct stat stbuf;
    int r;

    if (!ret || fd < 0)
        return err_set(err, err_len, -EINVAL, "bad arguments");
    if (fstat(fd, &stbuf) < 0)
        return err_set(err, err_len, -EIO, "fstat: %s", strerror(errno));
    d.src.fd = fd;
    d.src.size = -1;
    if (S_ISREG(stbuf.st_mode)) {
        off_t cur = lseek(fd, 0, SEEK_CUR);
        if (cur >= 0) {
            d.src.seekable = 1;
            d.src.base = cur;
            d.src.size = stbuf.st_size > cur ? (int64_t)(stbuf.st_size - cur) : 0;
            if (d.src.size == 0)
                return err_set(err, err_len, -EBADMSG, "empty input");
        }
    }
    r = decode_source(&d, opt, ret, err, err_len);
    decoder_free(&d);
    return r;
}

