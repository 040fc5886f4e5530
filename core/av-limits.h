/* av-limits.h — limits shared by the decoders of untrusted media (vision/image*.c, speech/audio.c).
 *
 * MediaBudget: what one decode call may spend — a wall-clock deadline (CLOCK_MONOTONIC), a budget of the
 * calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID: decoders run single-threaded on the caller, so other
 * threads' work never counts against it) and a cancel flag another thread may set. media_budget_check()
 * is called from FFmpeg's interrupt callback, between packets and frames, per block of PNG rows and around
 * the TurboJPEG calls; its verdict is sticky, and media_budget_error() turns it into the one-line message.
 * Reading the thread CPU clock is a system call (1.8 µs in our CI container, against 80 ns for
 * CLOCK_MONOTONIC), so media_budget_check reads it only when it could matter: the CPU a thread spends
 * between two instants is at most the wall time between them, so while cpu_seen + (wall time since it
 * was read) stays under the budget the budget cannot be spent yet. A busy thread thus reads the CPU clock
 * about once per (remaining budget) of wall time, not once per packet; callers still check per block of
 * work (a packet, 256 Ki pixels of PNG rows), not per pixel.
 *
 * FFmpeg part (only where FFmpeg is built in):
 * av_max_alloc: the largest single block FFmpeg may allocate. Its default (INT_MAX) lets a 1.7 KB WAV whose
 * LIST chunk claims 4 GB make the demuxer zero-fill a 1.9 GB buffer (found by the libFuzzer smoke run;
 * tests/fuzz/corpus/audio/oom-riff-list.wav). 384 MiB still fits the largest frame the image limits allow
 * (32 Mpx at 8 bytes per pixel, plus line padding) and any audio packet.
 * myna_av_harden(): the settings every AVFormatContext over untrusted bytes gets before
 * avformat_open_input — custom IO only, nested opens refused (HLS segments, concat entries, mov external
 * references), no protocols, a demuxer and a decoder whitelist (the decoder whitelist also gates the
 * decoders avformat_find_stream_info opens), the interrupt callback, and small stream/probe caps.
 * myna_av_demux_error(): FFmpeg reports a header whose counts ask for absurd tables (an MP4 stts with 2^30
 * entries) as AVERROR(ENOMEM) once av_max_alloc refuses; for untrusted input that is malformed input
 * (-EBADMSG), not the daemon running out of memory. */
#ifndef MYNA_AV_LIMITS_H
#define MYNA_AV_LIMITS_H

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <time.h>

#include "config.h"
#include "log.h"

typedef struct {
    double deadline;            /* CLOCK_MONOTONIC seconds */
    double cpu_end;             /* CLOCK_THREAD_CPUTIME_ID seconds at which the budget is spent; 0 = none */
    double cpu_seen, wall_seen; /* the thread CPU clock at its last read, and CLOCK_MONOTONIC just before */
    double timeout_s, max_cpu_s; /* as given, for the messages */
    const atomic_int *cancel;   /* borrowed; NULL = none */
    int state;                  /* sticky verdict: 0, -ETIMEDOUT, -ETIME or -ECANCELED */
} MediaBudget;

static inline double media_clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The deadline is timeout_s from now (≤ 0: already passed); max_cpu_s ≤ 0: no CPU budget. Starts counting
 * now, on the calling thread. */
static inline void media_budget_init(MediaBudget *b, double timeout_s, double max_cpu_s, const atomic_int *cancel)
{
    b->timeout_s = timeout_s;
    b->max_cpu_s = max_cpu_s;
    b->wall_seen = media_clock_s(CLOCK_MONOTONIC);
    b->deadline = b->wall_seen + timeout_s;
    b->cpu_seen = max_cpu_s > 0 ? media_clock_s(CLOCK_THREAD_CPUTIME_ID) : 0;
    b->cpu_end = max_cpu_s > 0 ? b->cpu_seen + max_cpu_s : 0;
    b->cancel = cancel;
    b->state = 0;
}

/* 0 while the call may go on, else the (sticky) negative errno. Cancel wins over the clocks. */
static inline int media_budget_check(MediaBudget *b)
{
    double now;

    if (b->state)
        return b->state;
    if (b->cancel && atomic_load_explicit(b->cancel, memory_order_relaxed))
        return b->state = -ECANCELED;
    now = media_clock_s(CLOCK_MONOTONIC);
    if (b->cpu_end > 0 && b->cpu_seen + (now - b->wall_seen) > b->cpu_end) { /* could be spent: look */
        b->cpu_seen = media_clock_s(CLOCK_THREAD_CPUTIME_ID);
        b->wall_seen = now;
        if (b->cpu_seen > b->cpu_end)
            return b->state = -ETIME;
    }
    if (now > b->deadline)
        b->state = -ETIMEDOUT;
    return b->state;
}

/* The message for a nonzero state ("<what>: decode budget ran out (2 s of CPU time)"); returns the state. */
static inline int media_budget_error(const MediaBudget *b, const char *what, char *err, size_t err_len)
{
    switch (b->state) {
    case -ECANCELED:
        return err_set(err, err_len, -ECANCELED, "%s: decode cancelled", what);
    case -ETIME:
        return err_set(err, err_len, -ETIME, "%s: decode budget ran out (%g s of CPU time)", what, b->max_cpu_s);
    case -ETIMEDOUT:
        return err_set(err, err_len, -ETIMEDOUT, "%s: not finished within the %g s time limit (reading or "
                       "decoding)", what, b->timeout_s);
    default:
        return b->state;
    }
}

#if HAVE_FFMPEG
#include <libavformat/avformat.h>
#include <libavutil/mem.h>
#include <pthread.h>

enum { MYNA_AV_MAX_ALLOC_MIB = 384 };

static inline void myna_av_limits_once(void)
{
    av_max_alloc((size_t)MYNA_AV_MAX_ALLOC_MIB << 20);
}

/* Process-wide; decode-pool threads call it concurrently, so it is set once (per including file) instead of
 * being rewritten under other threads' feet on every open. */
static inline void myna_av_limits(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, myna_av_limits_once);
}

/* Replaces AVFormatContext.io_open: no demuxer may open anything besides the stream we hand it. */
static inline int myna_av_refuse_open(struct AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
                                      AVDictionary **options)
{
    (void)s; (void)pb; (void)url; (void)flags; (void)options;
    return AVERROR(EPERM);
}

/* fmt fresh from avformat_alloc_context, pb a custom AVIOContext over the caller's bytes. formats and
 * codecs: comma-separated demuxer and decoder names (AVCodec.name). interrupt(opaque) returns nonzero to
 * stop FFmpeg. -ENOMEM (nothing to undo: the strings belong to fmt). */
static inline int myna_av_harden(AVFormatContext *fmt, AVIOContext *pb, const char *formats, const char *codecs,
                                 int (*interrupt)(void *), void *opaque)
{
    myna_av_limits();
    fmt->pb = pb;
    fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    fmt->interrupt_callback = (AVIOInterruptCB){ .callback = interrupt, .opaque = opaque };
    fmt->io_open = myna_av_refuse_open;
    fmt->max_streams = 16;
    fmt->format_whitelist = av_strdup(formats);
    fmt->codec_whitelist = av_strdup(codecs);
    fmt->protocol_whitelist = av_strdup("");
    if (!fmt->format_whitelist || !fmt->codec_whitelist || !fmt->protocol_whitelist)
        return -ENOMEM;
    return 0;
}

/* Narrows fmt's decoder whitelist to one decoder (the chosen stream's), so that avformat_find_stream_info
 * cannot open the decoder of any other stream. -ENOMEM. */
static inline int myna_av_only_decoder(AVFormatContext *fmt, const char *decoder)
{
    char *w = av_strdup(decoder);
    if (!w)
        return -ENOMEM;
    av_free(fmt->codec_whitelist);
    fmt->codec_whitelist = w;
    return 0;
}

/* The class of a libav error while demuxing untrusted input (see the header comment): AVERROR(ENOMEM) →
 * -EBADMSG with a message saying the file asks for an absurd allocation. Other codes: 0 (caller decides). */
static inline int myna_av_demux_error(int averr, const char *what, char *err, size_t err_len)
{
    if (averr == AVERROR(ENOMEM))
        return err_set(err, err_len, -EBADMSG,
                       "%s: malformed input: its headers ask for an allocation over the %d MiB limit", what,
                       MYNA_AV_MAX_ALLOC_MIB);
    return 0;
}
#endif

#endif
