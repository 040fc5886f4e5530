/* audio-device.c — backend-independent half of audio-device.h: rings, blocking read/write with short
 * sleeps, the heartbeat watchdog (device loss within loss_timeout_ms + 100 ms), reopen.
 * What it is not: a backend; see audio-device-file.c and audio-device-portaudio.c. */
#include "audio-device-impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include <time.h>

#include "config.h"
#include "log.h"

enum { WATCHDOG_PERIOD_MS = 100, WAIT_STEP_MS = 5 };

int64_t audio_device_now_ns(void)
{
    return (int64_t)clock_now_ns();
}

static void sleep_ms(int ms)
{
    struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&t, NULL);
}

void audio_device_beat(AudioDevice *d, int capture)
{
    atomic_store_explicit(capture ? &d->hb_cap_ns : &d->hb_play_ns, audio_device_now_ns(), memory_order_relaxed);
}

void audio_device_mark_lost(AudioDevice *d, int code, const char *why)
{
    int expected = 0;

    if (!atomic_compare_exchange_strong(&d->lost_claim, &expected, code))
        return;
    snprintf(d->lost_why, sizeof(d->lost_why), "%s", why);
    log_warn("audio device %s lost: %s", d->name[0] ? d->name : "(default)", why);
    if (d->cfg.on_event)
        d->cfg.on_event(d->cfg.user, code, d->lost_why);
    /* Publish last (seq_cst store, so release): whoever reads lost != 0 sees lost_why and a finished
     * on_event — the contract in audio-device.h. */
    atomic_store(&d->lost, code);
}

static void *watchdog_main(void *arg)
{
    AudioDevice *d = arg;
    struct timespec until;

    pthread_mutex_lock(&d->mu);
    while (!d->watchdog_quit) {
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += WATCHDOG_PERIOD_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&d->cv, &d->mu, &until);
        if (d->watchdog_quit)
            break;
        if (atomic_load(&d->running) && !atomic_load(&d->lost_claim)) {
            int64_t now = audio_device_now_ns(), limit = (int64_t)d->cfg.loss_timeout_ms * 1000000;
            char why[96];
            if (d->cfg.capture && now - atomic_load(&d->hb_cap_ns) > limit) {
                snprintf(why, sizeof(why), "no capture data for %d ms", d->cfg.loss_timeout_ms);
                pthread_mutex_unlock(&d->mu);
                audio_device_mark_lost(d, -ENODEV, why);
                pthread_mutex_lock(&d->mu);
            } else if (d->cfg.playback && now - atomic_load(&d->hb_play_ns) > limit) {
                snprintf(why, sizeof(why), "playback stalled for %d ms", d->cfg.loss_timeout_ms);
                pthread_mutex_unlock(&d->mu);
                audio_device_mark_lost(d, -ENODEV, why);
                pthread_mutex_lock(&d->mu);
            }
        }
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

int audio_device_alloc(const AudioDeviceConfig *cfg, const AudioDeviceOps *ops, void *priv, AudioDevice **ret,
                       char *err, size_t err_len)
{
    AudioDevice *d;
    size_t ring;

    if (!cfg || (!cfg->capture && !cfg->playback))
        return err_set(err, err_len, -EINVAL, "audio device: no direction requested");
    if (cfg->sample_rate < 0 || cfg->sample_rate > 192000 || cfg->ring_seconds < 0 || cfg->ring_seconds > 60)
        return err_set(err, err_len, -EINVAL, "audio device: bad rate %d or ring %.1f s", cfg->sample_rate,
                       cfg->ring_seconds);
    d = calloc(1, sizeof(*d));
    if (!d)
        return err_set(err, err_len, -ENOMEM, "out of memory");
    d->cfg = *cfg;
    if (!d->cfg.sample_rate) d->cfg.sample_rate = 16000;
    if (d->cfg.ring_seconds <= 0) d->cfg.ring_seconds = 2.0;
    if (!d->cfg.loss_timeout_ms) d->cfg.loss_timeout_ms = 1000;
    if (d->cfg.loss_timeout_ms < 100) d->cfg.loss_timeout_ms = 100;
    if (d->cfg.loss_timeout_ms > 1800) d->cfg.loss_timeout_ms = 1800; /* loss reported within 2 s */
    snprintf(d->name, sizeof(d->name), "%s", cfg->name ? cfg->name : "");
    d->cfg.name = d->name;
    ring = (size_t)(d->cfg.ring_seconds * d->cfg.sample_rate);
    if (ringbuf_init(&d->cap, d->cfg.capture ? ring : 2) < 0 || ringbuf_init(&d->play, d->cfg.playback ? ring : 2) < 0) {
        ringbuf_destroy(&d->cap);
        free(d);
        return err_set(err, err_len, -ENOMEM, "out of memory");
    }
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    d->ops = ops;
    d->priv = priv;
    *ret = d;
    return 0;
}

static int start_watchdog(AudioDevice *d)
{
    if (d->watchdog_started)
        return 0;
    d->watchdog_quit = 0;
    if (pthread_create(&d->watchdog, NULL, watchdog_main, d) != 0)
        return -EAGAIN;
    d->watchdog_started = 1;
    return 0;
}

static void stop_watchdog(AudioDevice *d)
{
    if (!d->watchdog_started)
        return;
    pthread_mutex_lock(&d->mu);
    d->watchdog_quit = 1;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->watchdog, NULL);
    d->watchdog_started = 0;
}

int audio_device_start(AudioDevice *d)
{
    int r;

    if (atomic_load(&d->lost))
        return atomic_load(&d->lost);
    if (atomic_load(&d->running))
        return 0;
    audio_device_beat(d, 1);
    audio_device_beat(d, 0);
    if ((r = d->ops->start(d)) < 0)
        return r;
    atomic_store(&d->running, 1);
    return start_watchdog(d);
}

int audio_device_stop(AudioDevice *d)
{
    if (!atomic_exchange(&d->running, 0))
        return 0;
    stop_watchdog(d);
    d->ops->stop(d);
    return 0;
}

int64_t audio_device_read(AudioDevice *d, float *dst, size_t n, int timeout_ms)
{
    int64_t deadline = audio_device_now_ns() + (int64_t)timeout_ms * 1000000;
    size_t got = 0;

    if (!d->cfg.capture)
        return -EINVAL;
    for (;;) {
        got += ringbuf_read(&d->cap, dst + got, n - got);
        if (got == n)
            return (int64_t)got;
        if (atomic_load(&d->lost) && ringbuf_available(&d->cap) == 0)
            return got ? (int64_t)got : atomic_load(&d->lost);
        if (audio_device_now_ns() >= deadline)
            return (int64_t)got;
        sleep_ms(WAIT_STEP_MS);
    }
}

int64_t audio_device_write(AudioDevice *d, const float *src, size_t n, int timeout_ms)
{
    int64_t deadline = audio_device_now_ns() + (int64_t)timeout_ms * 1000000;
    size_t put = 0;

    if (!d->cfg.playback)
        return -EINVAL;
    for (;;) {
        if (atomic_load(&d->lost))
            return put ? (int64_t)put : atomic_load(&d->lost);
        put += ringbuf_write(&d->play, src + put, n - put);
        if (put == n || audio_device_now_ns() >= deadline)
            return (int64_t)put;
        sleep_ms(WAIT_STEP_MS);
    }
}

int audio_device_drain(AudioDevice *d, int timeout_ms)
{
    int64_t deadline = audio_device_now_ns() + (int64_t)timeout_ms * 1000000;

    while (ringbuf_available(&d->play) > 0) {
        if (atomic_load(&d->lost))
            return atomic_load(&d->lost);
        if (audio_device_now_ns() >= deadline)
            return -ETIMEDOUT;
        sleep_ms(WAIT_STEP_MS);
    }
    return 0;
}

int audio_device_status(const AudioDevice *d)
{
    return atomic_load(&((AudioDevice *)d)->lost);
}

const char *audio_device_lost_reason(const AudioDevice *d)
{
    return atomic_load(&((AudioDevice *)d)->lost) ? d->lost_why : "";
}

int audio_device_sample_rate(const AudioDevice *d) { return d->cfg.sample_rate; }

int audio_device_reopen(AudioDevice *d, char *err, size_t err_len)
{
    int r;

    audio_device_stop(d);
    ringbuf_clear(&d->cap);
    d->play.tail = atomic_load(&d->play.head); /* no reader runs now: drop queued playback */
    d->ops->close(d);
    atomic_store(&d->lost, 0); /* every thread that could mark a loss has been joined */
    atomic_store(&d->lost_claim, 0);
    d->lost_why[0] = 0;
    if ((r = d->ops->open(d, err, err_len)) < 0)
        return r;
    return audio_device_start(d);
}

void audio_device_close(AudioDevice *d)
{
    if (!d)
        return;
    audio_device_stop(d);
    if (d->ops) {
        d->ops->close(d);
        d->ops->destroy(d);
    }
    ringbuf_destroy(&d->cap);
    ringbuf_destroy(&d->play);
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
    free(d);
}

#if !HAVE_PORTAUDIO
int audio_device_open_portaudio(const AudioDeviceConfig *cfg, AudioDevice **ret, char *err, size_t err_len)
{
    (void)cfg; (void)ret;
    return err_set(err, err_len, -ENOTSUP, "built without PortAudio");
}
#endif
