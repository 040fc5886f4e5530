/* bench-audio-device.c — timing of the audio device layer (speech/audio-device*.c) through the file/pipe
 * backend: how close real-time pacing is to real time, and how long device loss takes to reach on_event
 * for a silent-but-open pipe (heartbeat watchdog), a closed pipe (EOF) and a playback reader that went away
 * (EPIPE). audio-device.h promises loss within 2 s; each line says whether this run kept it. These numbers
 * used to be upper bounds in tests/unit/test-audio-device.c, where a loaded machine or valgrind failed
 * them; the test keeps what does not depend on speed (the loss comes exactly once, and after on_event).
 * Usage: bench-audio-device [reps, default 3]. Medians of reps runs. */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audio-device.h"
#include "bench-util.h"

enum { MAX_REPS = 20, HANG_S = 20 };

typedef struct {
    _Atomic int n;
    double t;
} Ev;

static void on_event(void *user, int event, const char *why)
{
    Ev *e = user;
    (void)event; (void)why;
    e->t = bench_now_s();
    atomic_fetch_add(&e->n, 1);
}

static double wait_event(Ev *e, double since)
{
    while (!atomic_load(&e->n) && bench_now_s() - since < HANG_S)
        usleep(1000);
    return atomic_load(&e->n) ? e->t - since : -1;
}

/* 0.5 s of capture at speed 1: seconds it took (≥ 0.5 by construction). */
static double run_pacing(void)
{
    int p[2];
    static int16_t pcm[8000];
    static float buf[8000];
    AudioDevice *d = NULL;
    AudioFileDeviceConfig fc = { .capture_fd = -1, .playback_fd = -1, .speed = 1.0 };
    char err[256];
    double t0, dt = -1;
    int64_t got = 0, r;

    if (pipe(p) < 0)
        return -1;
    /* 16,000 bytes fit in a pipe buffer (64 KiB) */
    if (write(p[1], pcm, sizeof(pcm)) != (ssize_t)sizeof(pcm))
        goto out;
    fc.capture_fd = p[0];
    if (audio_device_open_file(&(AudioDeviceConfig){ .capture = 1 }, &fc, &d, err, sizeof(err)) < 0)
        goto out;
    t0 = bench_now_s();
    if (audio_device_start(d) < 0)
        goto out;
    while (got < 8000 && (r = audio_device_read(d, buf + got, (size_t)(8000 - got), HANG_S * 1000)) > 0)
        got += r;
    if (got == 8000)
        dt = bench_now_s() - t0;
out:
    audio_device_close(d);
    close(p[0]);
    close(p[1]);
    return dt;
}

/* kind 0: stalled pipe (from the last sample read), 1: closed pipe (from close), 2: EPIPE (from the
 * reader's close). Seconds until on_event, -1 on failure. */
static double run_loss(int kind)
{
    int p[2];
    static int16_t pcm[4800];
    static float buf[4800];
    Ev ev = { 0 };
    AudioDevice *d = NULL;
    AudioDeviceConfig cfg = { .capture = kind < 2, .playback = kind == 2, .on_event = on_event, .user = &ev };
    AudioFileDeviceConfig fc = { .capture_fd = -1, .playback_fd = -1, .speed = kind == 2 ? 0 : 1.0 };
    char err[256];
    double since, dt = -1;

    if (pipe(p) < 0)
        return -1;
    if (kind < 2)
        fc.capture_fd = p[0];
    else
        fc.playback_fd = p[1];
    if (audio_device_open_file(&cfg, &fc, &d, err, sizeof(err)) < 0 || audio_device_start(d) < 0)
        goto out;
    if (kind == 0) {
        if (write(p[1], pcm, sizeof(pcm)) != (ssize_t)sizeof(pcm) ||
            audio_device_read(d, buf, 4800, HANG_S * 1000) != 4800)
            goto out;
        since = bench_now_s();
    } else if (kind == 1) {
        close(p[1]);
        p[1] = -1;
        since = bench_now_s();
    } else {
        close(p[0]);
        p[0] = -1;
        since = bench_now_s();
        for (int i = 0; i < HANG_S * 50 && !atomic_load(&ev.n); i++) {
            audio_device_write(d, buf, 4800, 20);
            usleep(1000);
        }
    }
    dt = wait_event(&ev, since);
out:
    audio_device_close(d);
    if (p[0] >= 0) close(p[0]);
    if (p[1] >= 0) close(p[1]);
    return dt;
}

int main(int argc, char **argv)
{
    static const char *const names[] = { "loss: stalled pipe (watchdog, 1000 ms timeout)",
                                         "loss: closed pipe (EOF)", "loss: playback reader gone (EPIPE)" };
    int reps = argc > 1 ? atoi(argv[1]) : 3;
    double v[MAX_REPS];

    if (reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "usage: bench-audio-device [reps 1..%d]\n", MAX_REPS);
        return 2;
    }
    for (int r = 0; r < reps; r++)
        if ((v[r] = run_pacing()) < 0) {
            fprintf(stderr, "bench-audio-device: pacing run failed\n");
            return 1;
        }
    printf("%-48s %7.3f s for 0.500 s of audio\n", "pacing: capture at speed 1", bench_median(v, reps));
    for (int k = 0; k < 3; k++) {
        for (int r = 0; r < reps; r++)
            if ((v[r] = run_loss(k)) < 0) {
                fprintf(stderr, "bench-audio-device: %s: no loss event within %d s\n", names[k], HANG_S);
                return 1;
            }
        double m = bench_median(v, reps);
        printf("%-48s %7.3f s to on_event (max %.3f s; promise < 2 s: %s)\n", names[k], m, v[reps - 1],
               v[reps - 1] < 2.0 ? "kept" : "BROKEN");
    }
    return 0;
}
