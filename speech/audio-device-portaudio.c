/* audio-device-portaudio.c — PortAudio backend of audio-device.h.
 * Separate non-blocking callback streams for capture and playback (mono paFloat32 at the configured
 * rate) on the default or the first device whose name contains cfg.name. The callbacks only copy
 * between PortAudio's buffers and the SPSC rings (playback underruns are filled with silence) and beat
 * the heartbeat; they never lock, allocate or log. A device that disappears stops calling back (or
 * finishes the stream), the heartbeat goes stale and the watchdog in audio-device.c reports loss (through
 * audio_device_mark_lost, so the loss contract of audio-device.h holds here as for the file twin). The
 * watchdog is joined before the streams are aborted, and the callbacks never mark a loss themselves.
 * We never use blocking Pa_ReadStream/Pa_WriteStream, and stop with Pa_AbortStream (Pa_StopStream waits
 * for buffers a dead device will never play).
 * What it is not: tested against real hardware in CI (no sound card there); the file backend carries the
 * tests of the shared logic. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <portaudio.h>

#include "audio-device-impl.h"
#include "log.h"

typedef struct {
    PaStream *in, *out;
    int pa_initialized;
} PaDev;

static int capture_cb(const void *input, void *output, unsigned long n, const PaStreamCallbackTimeInfo *ti,
                      PaStreamCallbackFlags flags, void *user)
{
    AudioDevice *d = user;
    (void)output; (void)ti; (void)flags;
    if (input)
        ringbuf_write(&d->cap, input, n); /* overflow drops the newest samples: the reader is too slow */
    audio_device_beat(d, 1);
    return paContinue;
}

static int playback_cb(const void *input, void *output, unsigned long n, const PaStreamCallbackTimeInfo *ti,
                       PaStreamCallbackFlags flags, void *user)
{
    AudioDevice *d = user;
    float *out = output;
    size_t got = ringbuf_read(&d->play, out, n);
    (void)input; (void)ti; (void)flags;
    memset(out + got, 0, (n - got) * sizeof(float));
    audio_device_beat(d, 0);
    return paContinue;
}

static PaDeviceIndex find_device(const char *name, int capture)
{
    int n = Pa_GetDeviceCount();

    if (!name || !name[0])
        return capture ? Pa_GetDefaultInputDevice() : Pa_GetDefaultOutputDevice();
    for (int i = 0; i < n; i++) {
        const PaDeviceInfo *info = Pa_GetDeviceInfo(i);
        if (info && info->name && strstr(info->name, name) &&
            (capture ? info->maxInputChannels : info->maxOutputChannels) > 0)
            return i;
    }
    return paNoDevice;
}

static int open_stream(AudioDevice *d, int capture, PaStream **ret, char *err, size_t err_len)
{
    PaStreamParameters p = { 0 };
    PaError e;

    p.device = find_device(d->name, capture);
    if (p.device == paNoDevice)
        return err_set(err, err_len, -ENODEV, "no %s audio device%s%s", capture ? "capture" : "playback",
                       d->name[0] ? " matching " : "", d->name);
    p.channelCount = 1;
    p.sampleFormat = paFloat32;
    p.suggestedLatency = capture ? Pa_GetDeviceInfo(p.device)->defaultLowInputLatency
                                 : Pa_GetDeviceInfo(p.device)->defaultLowOutputLatency;
    e = Pa_OpenStream(ret, capture ? &p : NULL, capture ? NULL : &p, d->cfg.sample_rate, paFramesPerBufferUnspecified,
                      paNoFlag, capture ? capture_cb : playback_cb, d);
    if (e != paNoError)
        return err_set(err, err_len, -ENODEV, "%s device \"%s\" at %d Hz: %s", capture ? "capture" : "playback",
                       Pa_GetDeviceInfo(p.device)->name, d->cfg.sample_rate, Pa_GetErrorText(e));
    return 0;
}

static void pa_close_dev(AudioDevice *d)
{
    PaDev *p = d->priv;

    if (p->in) Pa_CloseStream(p->in);
    if (p->out) Pa_CloseStream(p->out);
    p->in = p->out = NULL;
    if (p->pa_initialized)
        Pa_Terminate(); /* reference-counted by PortAudio */
    p->pa_initialized = 0;
}

static int pa_open_dev(AudioDevice *d, char *err, size_t err_len)
{
    PaDev *p = d->priv;
    PaError e = Pa_Initialize();
    int r;

    if (e != paNoError)
        return err_set(err, err_len, -ENODEV, "PortAudio: %s", Pa_GetErrorText(e));
    p->pa_initialized = 1;
    if ((d->cfg.capture && (r = open_stream(d, 1, &p->in, err, err_len)) < 0) ||
        (d->cfg.playback && (r = open_stream(d, 0, &p->out, err, err_len)) < 0)) {
        pa_close_dev(d);
        return r;
    }
    return 0;
}

static void pa_stop(AudioDevice *d)
{
    PaDev *p = d->priv;

    if (p->in) Pa_AbortStream(p->in);
    if (p->out) Pa_AbortStream(p->out);
}

static int pa_start(AudioDevice *d)
{
    PaDev *p = d->priv;
    PaError e = paNoError;

    if (p->in) e = Pa_StartStream(p->in);
    if (e == paNoError && p->out) e = Pa_StartStream(p->out);
    if (e != paNoError) {
        log_error("audio: cannot start stream: %s", Pa_GetErrorText(e));
        pa_stop(d); /* audio_device_start() failed, so stop() will not run: no callback may outlive it */
        return -ENODEV;
    }
    return 0;
}

static void pa_destroy(AudioDevice *d)
{
    free(d->priv);
    d->priv = NULL;
}

static const AudioDeviceOps PA_OPS = { pa_open_dev, pa_start, pa_stop, pa_close_dev, pa_destroy };

int audio_device_open_portaudio(const AudioDeviceConfig *cfg, AudioDevice **ret, char *err, size_t err_len)
{
    PaDev *p = calloc(1, sizeof(*p));
    AudioDevice *d = NULL;
    int r;

    if (!p)
        return err_set(err, err_len, -ENOMEM, "out of memory");
    if ((r = audio_device_alloc(cfg, &PA_OPS, p, &d, err, err_len)) < 0) {
        free(p);
        return r;
    }
    if ((r = pa_open_dev(d, err, err_len)) < 0) {
        audio_device_close(d);
        return r;
    }
    *ret = d;
    return 0;
}
