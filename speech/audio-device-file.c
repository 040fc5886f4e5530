/* audio-device-file.c — the file/pipe twin of the PortAudio backend (see audio-device.h).
 * Capture: an IO thread reads s16le mono PCM from an fd/path (poll with 100 ms steps), converts to float
 * (x / 32768) and pushes into the capture ring, paced to `speed` × real time (speed 0: as fast as the ring
 * drains, never dropping). Playback: an IO thread pops the playback ring and writes s16le
 * (round(x · 32768), clamped) at the same pace. EOF or a read/write error (EPIPE when the reader went away)
 * is reported as device loss at once; a source that stops delivering without closing is caught by the
 * heartbeat watchdog. SIGPIPE is blocked in the playback thread so a vanished reader cannot kill the process.
 * What it is not: a WAV parser (raw PCM only) or a resampler. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audio-device-impl.h"
#include "log.h"

enum { BLOCK = 512, POLL_MS = 100 };

typedef struct {
    AudioFileDeviceConfig f;
    char cap_path[1024], play_path[1024];
    int cap_fd, play_fd, own_cap, own_play;
    pthread_t cap_th, play_th;
    int cap_started, play_started;
    _Atomic int quit;
} FileDev;

static void sleep_until_ns(const FileDev *fd, int64_t target)
{
    for (;;) {
        int64_t left = target - audio_device_now_ns();
        struct timespec t;
        if (left <= 0 || atomic_load(&((FileDev *)fd)->quit))
            return;
        if (left > 50000000)
            left = 50000000;
        t.tv_sec = 0;
        t.tv_nsec = (long)left;
        nanosleep(&t, NULL);
    }
}

static void *capture_main(void *arg)
{
    AudioDevice *d = arg;
    FileDev *f = d->priv;
    unsigned char bytes[BLOCK * 2];
    float buf[BLOCK];
    size_t have = 0;
    int64_t t0 = audio_device_now_ns(), delivered = 0;
    char why[160];

    while (!atomic_load(&f->quit)) {
        struct pollfd p = { .fd = f->cap_fd, .events = POLLIN };
        ssize_t n;
        size_t k;
        int pr = poll(&p, 1, POLL_MS);

        if (pr == 0 || (pr < 0 && errno == EINTR))
            continue; /* nothing arrived: no heartbeat, the watchdog judges */
        n = read(f->cap_fd, bytes + have, sizeof(bytes) - have);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0) {
            snprintf(why, sizeof(why), n == 0 ? "capture source closed (end of file)" : "capture read failed: %s",
                     strerror(errno));
            audio_device_mark_lost(d, -ENODEV, why);
            break;
        }
        have += (size_t)n;
        k = have / 2;
        for (size_t i = 0; i < k; i++)
            buf[i] = (int16_t)(bytes[2 * i] | bytes[2 * i + 1] << 8) / 32768.0f;
        if (have & 1)
            bytes[0] = bytes[have - 1];
        have &= 1;
        if (f->f.speed > 0)
            sleep_until_ns(f, t0 + (int64_t)((delivered + (int64_t)k) * 1e9 / (d->cfg.sample_rate * f->f.speed)));
        else
            while (ringbuf_space(&d->cap) < k && !atomic_load(&f->quit)) {
                audio_device_beat(d, 1); /* alive, just waiting for the reader */
                sleep_until_ns(f, audio_device_now_ns() + 2000000);
            }
        ringbuf_write(&d->cap, buf, k); /* real-time pace: an unread ring overflows like a device would */
        delivered += (int64_t)k;
        audio_device_beat(d, 1);
    }
    return NULL;
}

static int write_all(FileDev *f, const unsigned char *b, size_t len)
{
    while (len > 0) {
        ssize_t n = write(f->play_fd, b, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            struct pollfd p = { .fd = f->play_fd, .events = POLLOUT };
            if (atomic_load(&f->quit))
                return -ECANCELED;
            poll(&p, 1, POLL_MS);
            continue;
        }
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

static void *playback_main(void *arg)
{
    AudioDevice *d = arg;
    FileDev *f = d->priv;
    sigset_t pipe_set;
    float buf[BLOCK];
    unsigned char bytes[BLOCK * 2];
    int64_t t0 = audio_device_now_ns(), written = 0;
    struct timespec zero = { 0, 0 };
    char why[160];

    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
    while (!atomic_load(&f->quit)) {
        size_t k = ringbuf_read(&d->play, buf, BLOCK);
        int r;

        audio_device_beat(d, 0);
        if (k == 0) {
            sleep_until_ns(f, audio_device_now_ns() + 5000000);
            t0 = audio_device_now_ns(); /* idle: restart the pacing clock */
            written = 0;
            continue;
        }
        for (size_t i = 0; i < k; i++) {
            float v = roundf(buf[i] * 32768.0f);
            int16_t s = (int16_t)(v > 32767.0f ? 32767.0f : v < -32768.0f ? -32768.0f : v);
            bytes[2 * i] = (unsigned char)(s & 0xff);
            bytes[2 * i + 1] = (unsigned char)((uint16_t)s >> 8);
        }
        if ((r = write_all(f, bytes, k * 2)) < 0) {
            if (r == -ECANCELED)
                break;
            snprintf(why, sizeof(why), "playback sink failed: %s", strerror(-r));
            audio_device_mark_lost(d, -ENODEV, why);
            break;
        }
        written += (int64_t)k;
        if (f->f.speed > 0)
            sleep_until_ns(f, t0 + (int64_t)(written * 1e9 / (d->cfg.sample_rate * f->f.speed)));
    }
    sigtimedwait(&pipe_set, NULL, &zero); /* consume a SIGPIPE raised in this thread, if any */
    return NULL;
}

static int file_open(AudioDevice *d, char *err, size_t err_len)
{
    FileDev *f = d->priv;

    if (d->cfg.capture) {
        if (f->cap_path[0]) {
            f->cap_fd = open(f->cap_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
            if (f->cap_fd < 0)
                return err_set(err, err_len, -ENODEV, "capture %s: %s", f->cap_path, strerror(errno));
            f->own_cap = 1;
        } else if (f->f.capture_fd >= 0) {
            f->cap_fd = f->f.capture_fd;
        } else {
            return err_set(err, err_len, -ENODEV, "capture requested but no capture file or fd given");
        }
    }
    if (d->cfg.playback) {
        if (f->play_path[0]) {
            f->play_fd = open(f->play_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            if (f->play_fd < 0)
                return err_set(err, err_len, -ENODEV, "playback %s: %s", f->play_path, strerror(errno));
            f->own_play = 1;
        } else if (f->f.playback_fd >= 0) {
            f->play_fd = f->f.playback_fd;
        } else {
            return err_set(err, err_len, -ENODEV, "playback requested but no playback file or fd given");
        }
    }
    return 0;
}

static void file_stop(AudioDevice *d)
{
    FileDev *f = d->priv;

    atomic_store(&f->quit, 1);
    if (f->cap_started)
        pthread_join(f->cap_th, NULL);
    if (f->play_started)
        pthread_join(f->play_th, NULL);
    f->cap_started = f->play_started = 0;
}

static int file_start(AudioDevice *d)
{
    FileDev *f = d->priv;

    atomic_store(&f->quit, 0);
    if (d->cfg.capture && f->cap_fd >= 0) {
        if (pthread_create(&f->cap_th, NULL, capture_main, d) != 0)
            return -EAGAIN;
        f->cap_started = 1;
    }
    if (d->cfg.playback && f->play_fd >= 0) {
        if (pthread_create(&f->play_th, NULL, playback_main, d) != 0) {
            /* audio_device_start() failed, so stop() will not run: join the capture thread here, or it
             * would outlive close() and use the freed device */
            file_stop(d);
            return -EAGAIN;
        }
        f->play_started = 1;
    }
    return 0;
}

static void file_close(AudioDevice *d)
{
    FileDev *f = d->priv;

    if (f->own_cap && f->cap_fd >= 0)
        close(f->cap_fd);
    if (f->own_play && f->play_fd >= 0)
        close(f->play_fd);
    f->cap_fd = f->play_fd = -1;
    f->own_cap = f->own_play = 0;
}

static void file_destroy(AudioDevice *d)
{
    free(d->priv);
    d->priv = NULL;
}

static const AudioDeviceOps FILE_OPS = { file_open, file_start, file_stop, file_close, file_destroy };

int audio_device_open_file(const AudioDeviceConfig *cfg, const AudioFileDeviceConfig *fcfg, AudioDevice **ret,
                           char *err, size_t err_len)
{
    FileDev *f;
    AudioDevice *d = NULL;
    int r;

    if (!fcfg || fcfg->speed < 0 || fcfg->speed > 1000)
        return err_set(err, err_len, -EINVAL, "file audio device: bad configuration");
    if (!(f = calloc(1, sizeof(*f))))
        return err_set(err, err_len, -ENOMEM, "out of memory");
    f->f = *fcfg;
    f->cap_fd = f->play_fd = -1;
    snprintf(f->cap_path, sizeof(f->cap_path), "%s", fcfg->capture_path ? fcfg->capture_path : "");
    snprintf(f->play_path, sizeof(f->play_path), "%s", fcfg->playback_path ? fcfg->playback_path : "");
    f->f.capture_path = f->f.playback_path = NULL;
    if ((r = audio_device_alloc(cfg, &FILE_OPS, f, &d, err, err_len)) < 0) {
        free(f);
        return r;
    }
    if ((r = file_open(d, err, err_len)) < 0) {
        audio_device_close(d);
        return r;
    }
    *ret = d;
    return 0;
}
