/* audio-device.h — capture and playback of 16 kHz-class mono float audio, with device-loss detection.
 *
 * What it is: one interface over two backends — PortAudio (audio-device-portaudio.c: default or named
 * device, callback streams) and a file/pipe twin (audio-device-file.c: capture reads s16le PCM from an fd
 * or path at real-time pace or faster, playback writes s16le) for tests and headless machines. Backends
 * move samples through lock-free SPSC rings (ringbuf.h); the real-time side never blocks or allocates.
 * Device loss: every backend beats a heartbeat from its callback/IO thread; a watchdog thread declares the
 * device lost when a running direction misses it for loss_timeout_ms (default 1000 ms, so loss is
 * reported within 2 s; bench/bench-audio-device measures it), and the file backend reports hard failures
 * (EOF, EPIPE) at once; a PortAudio stream that dies stops calling back and is caught by the watchdog.
 * Loss contract (the voice loop relies on it):
 *   - on_event(-ENODEV) runs exactly once per loss, from the watchdog or a backend IO thread;
 *   - it has returned before any call can observe the loss: once audio_device_status(),
 *     audio_device_read(), audio_device_write(), audio_device_drain() or audio_device_start() returns
 *     -ENODEV, or audio_device_lost_reason() is non-empty, the callback has run — no need to wait for it;
 *   - while it runs, those calls still behave as before the loss (status 0, reason "");
 *   - audio_device_stop(), audio_device_reopen() and audio_device_close() wait for a running callback to
 *     return, and none runs after they return (until start/reopen starts streaming again).
 * reopen() clears the loss and starts over.
 * What it is not: a mixer or resampler; blocking calls wait in 5 ms sleeps, never spin.
 */
#ifndef MYNA_AUDIO_DEVICE_H
#define MYNA_AUDIO_DEVICE_H

#include <stddef.h>
#include <stdint.h>

typedef struct AudioDevice AudioDevice;

/* event: -ENODEV (lost: why says how; valid during the call). Called from the watchdog or backend thread,
 * never from the real-time callback, and before the loss is visible to the other calls (contract above);
 * keep it short (it delays that visibility) and do not stop, reopen or close the device from it. */
typedef void (*AudioDeviceEventFn)(void *user, int event, const char *why);

typedef struct {
    const char *name;          /* PortAudio: device-name substring, NULL = default device */
    int sample_rate;           /* 0 = 16000 */
    int capture, playback;     /* directions to open (at least one) */
    double ring_seconds;       /* per-direction ring size; 0 = 2 s */
    int loss_timeout_ms;       /* heartbeat timeout; 0 = 1000, clamped to 100..1800 */
    AudioDeviceEventFn on_event;
    void *user;
} AudioDeviceConfig;

typedef struct {
    const char *capture_path;  /* opened (O_RDONLY) at open and at every reopen; or */
    int capture_fd;            /* borrowed fd (used when capture_path is NULL; -1 = none); no reopen */
    const char *playback_path; /* opened O_WRONLY|O_CREAT|O_TRUNC; or */
    int playback_fd;           /* borrowed fd (-1 = none) */
    double speed;              /* 1.0 = real time; 4.0 = four times faster; 0 = as fast as the rings allow */
} AudioFileDeviceConfig;

int audio_device_open_file(const AudioDeviceConfig *cfg, const AudioFileDeviceConfig *fcfg, AudioDevice **ret,
                           char *err, size_t err_len);
/* -ENOTSUP when built without PortAudio; -ENODEV when no (matching) device exists. */
int audio_device_open_portaudio(const AudioDeviceConfig *cfg, AudioDevice **ret, char *err, size_t err_len);

int audio_device_start(AudioDevice *d);
int audio_device_stop(AudioDevice *d);       /* stops streams; buffered samples stay readable */
/* Capture: up to n samples, waiting at most timeout_ms (0 = no wait). Returns the count (possibly short),
 * or -ENODEV once the device is lost and everything captured before has been read. */
int64_t audio_device_read(AudioDevice *d, float *dst, size_t n, int timeout_ms);
/* Playback: queue up to n samples, waiting at most timeout_ms for room; count or -ENODEV. */
int64_t audio_device_write(AudioDevice *d, const float *src, size_t n, int timeout_ms);
/* Wait until queued playback has been consumed: 0, -ETIMEDOUT or -ENODEV. */
int audio_device_drain(AudioDevice *d, int timeout_ms);
int audio_device_status(const AudioDevice *d);   /* 0, or the loss code (-ENODEV) */
const char *audio_device_lost_reason(const AudioDevice *d); /* "" while healthy */
int audio_device_sample_rate(const AudioDevice *d);
/* Close and open the backend again (same config), clear the loss state and the rings, and start. */
int audio_device_reopen(AudioDevice *d, char *err, size_t err_len);
void audio_device_close(AudioDevice *d);      /* accepts NULL; stops everything first */

#endif
