/* av-limits.h — process-wide caps for FFmpeg (libavutil), for the files that decode untrusted media with it
 * (speech/audio.c, vision/image-ffmpeg.c). Include only where libavutil is available.
 *
 * av_max_alloc: the largest single block FFmpeg may allocate. Its default (INT_MAX) lets a 1.7 KB WAV whose
 * LIST chunk claims 4 GB make the demuxer zero-fill a 1.9 GB buffer (found by the libFuzzer smoke run;
 * tests/fuzz/corpus/audio/oom-riff-list.wav). 384 MiB still fits the largest frame the image limits allow
 * (32 Mpx at 8 bytes per pixel, plus line padding) and any audio packet. */
#ifndef MYNA_AV_LIMITS_H
#define MYNA_AV_LIMITS_H

#include <libavutil/mem.h>

enum { MYNA_AV_MAX_ALLOC_MIB = 384 };

static inline void myna_av_limits(void)
{
    av_max_alloc((size_t)MYNA_AV_MAX_ALLOC_MIB << 20);
}

#endif
