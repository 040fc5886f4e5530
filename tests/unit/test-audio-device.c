/* test-audio-device.c — audio devices through the file/pipe backend (speech/audio-device-file.c) and the
 * shared logic (rings, watchdog, reopen) in speech/audio-device.c; PortAudio is only opened when a sound
 * device exists (no assertion on hardware). Checks: SPSC ring wrap-around under a producer thread;
 * capture → playback round trip is bit-exact for s16 PCM; real-time pacing takes real time; device loss
 * is reported within 2 s for a closed pipe (EOF), a silent-but-open pipe (heartbeat watchdog) and a
 * playback reader that goes away (EPIPE); samples captured before the loss are still delivered; reopen
 * of a path-backed device works. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audio-device.h"
#include "ringbuf.h"
#include "test-util.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct { _Atomic int n; double t; int code; } Events;

static void on_event(void *user, int event, const char *why)
{
    Events *e = user;
    e->t = now_s();
    e->code = event;
    atomic_fetch_add(&e->n, 1);
    fprintf(stderr, "  event %d: %s\n", event, why);
}

/* ---- ring ---- */
typedef struct { RingBuf *rb; int64_t n; } Prod;

static void *producer(void *arg)
{
    Prod *p = arg;
    float v[97];
    int64_t i = 0;
    while (i < p->n) {
        size_t k = 0;
        for (; k < 97 && i + (int64_t)k < p->n; k++)
            v[k] = (float)(i + (int64_t)k);
        size_t put = 0;
        while (put < k)
            put += ringbuf_write(p->rb, v + put, k - put);
        i += (int64_t)k;
    }
    return NULL;
}

static void test_ring(void)
{
    RingBuf rb;
    Prod p = { &rb, 200000 };
    pthread_t th;
    float buf[61];
    int64_t expect = 0;
    int ok = 1;

    CHECK_INT(ringbuf_init(&rb, 100), 0);
    CHECK_INT(rb.capacity, 128);
    pthread_create(&th, NULL, producer, &p);
    while (expect < p.n) {
        size_t k = ringbuf_read(&rb, buf, 61);
        for (size_t i = 0; i < k; i++)
            ok &= buf[i] == (float)expect++;
    }
    pthread_join(th, NULL);
    CHECK(ok);
    CHECK_INT(ringbuf_available(&rb), 0);
    CHECK_INT(ringbuf_space(&rb), 128);
    ringbuf_destroy(&rb);
    ringbuf_destroy(NULL);
    CHECK_INT(ringbuf_init(&rb, (size_t)1 << 30), -EINVAL);
}

static int write_pcm(const char *path, int64_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    for (int64_t i = 0; i < n; i++) {
        int16_t s = (int16_t)(12000 * sin(i * 0.05) + (i % 7) - 3);
        fwrite(&s, 2, 1, fp);
    }
    fclose(fp);
    return 0;
}

static void test_round_trip(void)
{
    char in[] = "/tmp/myna-dev-in-XXXXXX", out[] = "/tmp/myna-dev-out-XXXXXX";
    AudioDeviceConfig cfg = { .capture = 1, .playback = 1 };
    AudioFileDeviceConfig fc = { .capture_fd = -1, .playback_fd = -1, .speed = 0 };
    AudioDevice *d = NULL;
    Events ev = { 0 };
    char err[256];
    float *buf = malloc(48000 * sizeof(float));
    int64_t n = 48000, got = 0, r;

    close(mkstemp(in));
    close(mkstemp(out));
    CHECK_INT(write_pcm(in, n), 0);
    fc.capture_path = in;
    fc.playback_path = out;
    cfg.on_event = on_event;
    cfg.user = &ev;
    CHECK_INT(audio_device_open_file(&cfg, &fc, &d, err, sizeof(err)), 0);
    if (!d) goto done;
    CHECK_INT(audio_device_start(d), 0);
    /* capture as fast as possible: the whole file, then loss (EOF) with nothing lost before it */
    while (got < n && (r = audio_device_read(d, buf + got, (size_t)(n - got), 2000)) > 0)
        got += r;
    CHECK_INT(got, n);
    CHECK_INT(audio_device_read(d, buf, 10, 2000), -ENODEV);
    CHECK_INT(audio_device_status(d), -ENODEV);
    CHECK_INT(atomic_load(&ev.n), 1);
    CHECK(strstr(audio_device_lost_reason(d), "end of file") != NULL);
    audio_device_close(d);
    d = NULL;

    /* playback of what was captured, then compare the bytes */
    cfg = (AudioDeviceConfig){ .playback = 1 };
    fc = (AudioFileDeviceConfig){ .capture_fd = -1, .playback_fd = -1, .playback_path = out, .speed = 0 };
    CHECK_INT(audio_device_open_file(&cfg, &fc, &d, err, sizeof(err)), 0);
    if (!d) goto done;
    CHECK_INT(audio_device_start(d), 0);
    for (int64_t put = 0; put < n;) {
        r = audio_device_write(d, buf + put, (size_t)(n - put), 2000);
        CHECK(r > 0);
        if (r <= 0) break;
        put += r;
    }
    CHECK_INT(audio_device_drain(d, 2000), 0);
    audio_device_close(d);
    d = NULL;
    {
        FILE *a = fopen(in, "rb"), *b = fopen(out, "rb");
        int same = a && b;
        while (same) {
            int ca = fgetc(a), cb = fgetc(b);
            if (ca != cb) same = 0;
            if (ca == EOF || cb == EOF) break;
        }
        CHECK(same);
        if (a) fclose(a);
        if (b) fclose(b);
    }

    /* real-time pacing: 0.5 s of audio at speed 1 takes about 0.5 s */
    cfg = (AudioDeviceConfig){ .capture = 1 };
    fc = (AudioFileDeviceConfig){ .capture_path = in, .capture_fd = -1, .playback_fd = -1, .speed = 1.0 };
    CHECK_INT(audio_device_open_file(&cfg, &fc, &d, err, sizeof(err)), 0);
    if (!d) goto done;
    {
        double t0 = now_s(), dt;
        CHECK_INT(audio_device_start(d), 0);
        got = 0;
        while (got < 8000 && (r = audio_device_read(d, buf + got, (size_t)(8000 - got), 2000)) > 0)
            got += r;
        dt = now_s() - t0;
        fprintf(stderr, "0.5 s of capture at speed 1: %.3f s\n", dt);
        CHECK_INT(got, 8000);
        /* pacing must not run ahead of real time; the upper bound only catches a stall (it leaves room for a
         * loaded CI machine and the sanitizer build, where this test was seen at 0.9+ s) */
        CHECK(dt > 0.45 && dt < 1.5);
    }
    /* reopen (path-backed) starts from the beginning again */
    CHECK_INT(audio_device_reopen(d, err, sizeof(err)), 0);
    CHECK_INT(audio_device_status(d), 0);
    CHECK_INT(audio_device_read(d, buf, 1000, 2000), 1000);
    CHECK_NEAR(buf[10] * 32768.0f, (int16_t)(12000 * sin(10 * 0.05) + (10 % 7) - 3), 0.01);
done:
    audio_device_close(d);
    unlink(in);
    unlink(out);
    free(buf);
}

static void test_loss(void)
{
    AudioDeviceConfig cfg = { .capture = 1, .on_event = on_event };
    AudioFileDeviceConfig fc = { .capture_fd = -1, .playback_fd = -1, .speed = 1.0 };
    AudioDevice *d = NULL;
    Events ev = { 0 };
    char err[256];
    int16_t pcm[4800] = { 0 };
    float buf[8000];
    int p[2];
    double t_last;

    /* 1. the writer stalls with the pipe open: heartbeat watchdog */
    CHECK_INT(pipe(p), 0);
    cfg.user = &ev;
    fc.capture_fd = p[0];
    CHECK_INT(audio_device_open_file(&cfg, &fc, &d, err, sizeof(err)), 0);
    CHECK_INT(audio_device_start(d), 0);
    CHECK(write(p[1], pcm, sizeof(pcm)) == (ssize_t)sizeof(pcm)); /* 0.3 s */
    t_last = now_s();
    CHECK_INT(audio_device_read(d, buf, 4800, 2000), 4800);
    while (atomic_load(&ev.n) == 0 && now_s() - t_last < 3.0)
        usleep(10000);
    CHECK_INT(atomic_load(&ev.n), 1);
    fprintf(stderr, "stalled pipe: loss reported %.2f s after the last data\n", ev.t - t_last);
    CHECK(ev.t - t_last < 2.0);
    CHECK_INT(audio_device_read(d, buf, 10, 100), -ENODEV);
    audio_device_close(d);
    close(p[0]);
    close(p[1]);

    /* 2. the writer closes: EOF, reported at once */
    ev = (Events){ 0 };
    CHECK_INT(pipe(p), 0);
    fc.capture_fd = p[0];
    CHECK_INT(audio_device_open_file(&cfg, &fc, &d, err, sizeof(err)), 0);
    CHECK_INT(audio_device_start(d), 0);
    CHECK(write(p[1], pcm, 3200) == 3200);
    close(p[1]);
    t_last = now_s();
    CHECK_INT(audio_device_read(d, buf, 8000, 3000), 1600); /* what came before the loss, then the rest fails */
    CHECK_INT(audio_device_read(d, buf, 10, 100), -ENODEV);
    /* the device thread marks the stream lost before it calls on_event: give the callback its moment */
    while (atomic_load(&ev.n) == 0 && now_s() - t_last < 3.0)
        usleep(1000);
    CHECK_INT(atomic_load(&ev.n), 1);
    fprintf(stderr, "closed pipe: loss reported %.2f s after close\n", ev.t - t_last);
    CHECK(ev.t - t_last < 2.0);
    audio_device_close(d);
    close(p[0]);

    /* 3. playback reader disappears: EPIPE, no SIGPIPE death */
    ev = (Events){ 0 };
    CHECK_INT(pipe(p), 0);
    cfg = (AudioDeviceConfig){ .playback = 1, .on_event = on_event, .user = &ev };
    fc = (AudioFileDeviceConfig){ .capture_fd = -1, .playback_fd = p[1], .speed = 0 };
    CHECK_INT(audio_device_open_file(&cfg, &fc, &d, err, sizeof(err)), 0);
    CHECK_INT(audio_device_start(d), 0);
    close(p[0]);
    t_last = now_s();
    for (int i = 0; i < 50 && audio_device_status(d) == 0; i++) {
        audio_device_write(d, buf, 4000, 100);
        usleep(20000);
    }
    CHECK_INT(audio_device_status(d), -ENODEV);
    while (atomic_load(&ev.n) == 0 && now_s() - t_last < 3.0) /* callback runs just after the status flips */
        usleep(1000);
    CHECK(atomic_load(&ev.n) == 1 && ev.t - t_last < 2.0);
    CHECK_INT(audio_device_write(d, buf, 10, 10), -ENODEV);
    CHECK_INT(audio_device_drain(d, 10), -ENODEV);
    audio_device_close(d);
    close(p[1]);

    /* bad configurations */
    CHECK_INT(audio_device_open_file(&(AudioDeviceConfig){ 0 }, &fc, &d, err, sizeof(err)), -EINVAL);
    fc = (AudioFileDeviceConfig){ .capture_fd = -1, .playback_fd = -1, .capture_path = "/nonexistent/x" };
    CHECK_INT(audio_device_open_file(&(AudioDeviceConfig){ .capture = 1 }, &fc, &d, err, sizeof(err)), -ENODEV);
    audio_device_close(NULL);
}

static void test_portaudio(void)
{
    AudioDevice *d = NULL;
    char err[256];
    int r = audio_device_open_portaudio(&(AudioDeviceConfig){ .capture = 1 }, &d, err, sizeof(err));
    /* No assertion on hardware: either a device opened, or a clean error. */
    CHECK(r == 0 || r == -ENODEV || r == -ENOTSUP);
    fprintf(stderr, "portaudio default capture: %s\n", r == 0 ? "opened" : err);
    audio_device_close(d);
}

int main(void)
{
    test_ring();
    test_round_trip();
    test_loss();
    if (getenv("MYNA_TEST_PORTAUDIO"))
        test_portaudio();
    return test_exit();
}
