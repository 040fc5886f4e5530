/* audio-device-room.c — the simulated room of audio-device-room.h: RoomSim (echo line, impulse response,
 * noise, scripted utterances) and the AudioDevice backend that runs it on one IO thread. */
#include "audio-device-room.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audio-device-impl.h"
#include "log.h"

enum { ROOM_RATE = 16000, ROOM_MAX_UTT = 64, BLOCK = 160 };

struct RoomSim {
    float *ir;                 /* owned [n_ir]: ir[j] weighs speaker sample k − delay − j */
    int n_ir, delay;
    float *line;               /* owned ring [n_line] of speaker samples */
    int n_line;
    int64_t pos;
    float noise_rms;
    uint64_t rng;
    RoomUtterance utt[ROOM_MAX_UTT];
    float *owned[ROOM_MAX_UTT];/* utterances read from WAV files */
    int n_utt;
};

static double rng_uniform(uint64_t *s) /* xorshift64 → [-1, 1) */
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (double)(*s >> 11) / 4503599627370496.0 - 1.0;
}

/* 16 kHz mono 16-bit PCM WAV → float. */
static int read_wav(const char *path, float **ret, size_t *ret_n, char *err, size_t err_len)
{
    unsigned char h[12], ck[8], f[16];
    int fd = open(path, O_RDONLY | O_CLOEXEC), ok_fmt = 0;
    if (fd < 0)
        return err_set(err, err_len, -ENOENT, "%s: %s", path, strerror(errno));
    if (read(fd, h, 12) != 12 || memcmp(h, "RIFF", 4) || memcmp(h + 8, "WAVE", 4))
        goto bad;
    while (read(fd, ck, 8) == 8) {
        uint32_t len;
        memcpy(&len, ck + 4, 4);
        if (!memcmp(ck, "fmt ", 4)) {
            uint16_t fmt, ch, bits;
            uint32_t rate;
            if (len < 16 || read(fd, f, 16) != 16)
                goto bad;
            memcpy(&fmt, f, 2);
            memcpy(&ch, f + 2, 2);
            memcpy(&rate, f + 4, 4);
            memcpy(&bits, f + 14, 2);
            if (fmt != 1 || ch != 1 || rate != ROOM_RATE || bits != 16) {
                close(fd);
                return err_set(err, err_len, -EBADMSG, "%s: not 16 kHz mono 16-bit PCM", path);
            }
            ok_fmt = 1;
            len -= 16;
        } else if (!memcmp(ck, "data", 4) && ok_fmt) {
            size_t n = len / 2;
            int16_t *s = malloc(len + 1);
            float *x = malloc((n ? n : 1) * sizeof(float));
            if (!s || !x || read(fd, s, len) != (ssize_t)len) {
                free(s);
                free(x);
                goto bad;
            }
            for (size_t i = 0; i < n; i++)
                x[i] = s[i] / 32768.0f;
            free(s);
            close(fd);
            *ret = x;
            *ret_n = n;
            return 0;
        }
        if (lseek(fd, (off_t)len + (len & 1), SEEK_CUR) < 0)
            break;
    }
bad:
    close(fd);
    return err_set(err, err_len, -EBADMSG, "%s: not a readable WAV file", path);
}

int room_sim_new(const RoomConfig *cfg, RoomSim **ret, char *err, size_t err_len)
{
    RoomConfig c = cfg ? *cfg : (RoomConfig){0};
    int delay_ms = c.echo_delay_ms ? c.echo_delay_ms : 40, ir_ms = c.ir_ms ? c.ir_ms : 30, r;
    float gain_db = c.echo_gain_db != 0 ? c.echo_gain_db : -12.0f, noise_db = c.noise_dbfs != 0 ? c.noise_dbfs : -60;
    RoomSim *rs;

    if (delay_ms < 1 || delay_ms > 500 || ir_ms < 1 || ir_ms > 200 || gain_db < -60 || gain_db > 0 ||
        c.n_utterances < 0 || c.n_utterances > ROOM_MAX_UTT || (c.n_utterances && !c.utterances) || c.speed < 0)
        return err_set(err, err_len, -EINVAL, "room: echo_delay_ms 1..500, ir_ms 1..200, echo_gain_db -60..0, "
                       "0..%d utterances, speed >= 0", ROOM_MAX_UTT);
    if (!(rs = calloc(1, sizeof(*rs))))
        return err_set(err, err_len, -ENOMEM, "out of memory");
    rs->delay = delay_ms * ROOM_RATE / 1000;
    rs->n_ir = ir_ms * ROOM_RATE / 1000;
    rs->n_line = rs->delay + rs->n_ir + 1;
    rs->ir = calloc((size_t)rs->n_ir, sizeof(float));
    rs->line = calloc((size_t)rs->n_line, sizeof(float));
    if (!rs->ir || !rs->line) {
        room_sim_free(rs);
        return err_set(err, err_len, -ENOMEM, "out of memory");
    }
    rs->rng = c.seed ? c.seed : 1;
    /* direct tap, then a tail decaying by 60 dB over ir_ms (reverberation time = ir_ms) */
    double e = 0, tau = rs->n_ir / 6.9;
    rs->ir[0] = 1.0f;
    for (int j = 1; j < rs->n_ir; j++)
        rs->ir[j] = (float)(0.5 * rng_uniform(&rs->rng) * exp(-j / tau));
    for (int j = 0; j < rs->n_ir; j++)
        e += (double)rs->ir[j] * rs->ir[j];
    double scale = sqrt(pow(10.0, gain_db / 10.0) / e);
    for (int j = 0; j < rs->n_ir; j++)
        rs->ir[j] = (float)(rs->ir[j] * scale);
    rs->noise_rms = noise_db < -120 ? 0 : (float)pow(10.0, noise_db / 20.0);
    for (int i = 0; i < c.n_utterances; i++) {
        rs->utt[i] = c.utterances[i];
        if (rs->utt[i].at < 0) {
            room_sim_free(rs);
            return err_set(err, err_len, -EINVAL, "room: utterance %d starts before sample 0", i);
        }
        if (!rs->utt[i].pcm && rs->utt[i].wav_path) {
            rs->n_utt = i; /* what room_sim_free releases */
            if ((r = read_wav(rs->utt[i].wav_path, &rs->owned[i], &rs->utt[i].n, err, err_len)) < 0) {
                room_sim_free(rs);
                return r;
            }
            rs->utt[i].pcm = rs->owned[i];
        }
        rs->utt[i].wav_path = NULL;
    }
    rs->n_utt = c.n_utterances;
    *ret = rs;
    return 0;
}

void room_sim_free(RoomSim *r)
{
    if (!r)
        return;
    for (int i = 0; i < ROOM_MAX_UTT; i++)
        free(r->owned[i]);
    free(r->ir);
    free(r->line);
    free(r);
}

void room_sim_process(RoomSim *r, const float *play, float *mic, size_t n)
{
    for (size_t i = 0; i < n; i++, r->pos++) {
        int64_t k = r->pos;
        r->line[k % r->n_line] = play ? play[i] : 0.0f;
        double v = r->noise_rms * 1.7320508 * rng_uniform(&r->rng); /* uniform with that RMS */
        for (int j = 0; j < r->n_ir; j++) {
            int64_t s = k - r->delay - j;
            if (s < 0)
                break;
            v += (double)r->ir[j] * r->line[s % r->n_line];
        }
        for (int u = 0; u < r->n_utt; u++) {
            const RoomUtterance *ut = &r->utt[u];
            if (ut->pcm && k >= ut->at && k < ut->at + (int64_t)ut->n)
                v += ut->pcm[k - ut->at] * (ut->gain_db != 0 ? pow(10.0, ut->gain_db / 20.0) : 1.0);
        }
        mic[i] = (float)v;
    }
}

int64_t room_sim_position(const RoomSim *r) { return r->pos; }

/* ---- the device ---------------------------------------------------------------------------------------- */

typedef struct {
    RoomSim *sim;              /* owned */
    double speed;
    pthread_t th;
    int started;
    _Atomic int quit;
} RoomDev;

static void sleep_ns(int64_t ns)
{
    struct timespec t = {ns / 1000000000, ns % 1000000000};
    if (ns > 0)
        nanosleep(&t, NULL);
}

static void *room_main(void *arg)
{
    AudioDevice *d = arg;
    RoomDev *rd = d->priv;
    float play[BLOCK], mic[BLOCK];
    int64_t t0 = audio_device_now_ns(), done = 0;

    while (!atomic_load(&rd->quit)) {
        if (rd->speed > 0) {
            int64_t due = t0 + (int64_t)((done + BLOCK) * 1e9 / (ROOM_RATE * rd->speed)) - audio_device_now_ns();
            sleep_ns(due > 20000000 ? 20000000 : due);
            if (due > 20000000)
                continue; /* re-check quit at least every 20 ms */
        } else if (d->cfg.capture && ringbuf_space(&d->cap) < BLOCK) {
            audio_device_beat(d, 1); /* alive, waiting for the reader */
            audio_device_beat(d, 0);
            sleep_ns(1000000);
            continue;
        }
        size_t got = d->cfg.playback ? ringbuf_read(&d->play, play, BLOCK) : 0;
        memset(play + got, 0, (BLOCK - got) * sizeof(float)); /* empty ring: the speaker plays silence */
        room_sim_process(rd->sim, play, mic, BLOCK);
        if (d->cfg.capture)
            ringbuf_write(&d->cap, mic, BLOCK); /* real-time pace: an unread ring overflows like a device */
        done += BLOCK;
        audio_device_beat(d, 1);
        audio_device_beat(d, 0);
    }
    return NULL;
}

static int room_open(AudioDevice *d, char *err, size_t err_len) { return (void)d, (void)err, (void)err_len, 0; }

static int room_start(AudioDevice *d)
{
    RoomDev *rd = d->priv;
    atomic_store(&rd->quit, 0);
    if (pthread_create(&rd->th, NULL, room_main, d) != 0)
        return -EAGAIN;
    rd->started = 1;
    return 0;
}

static void room_stop(AudioDevice *d)
{
    RoomDev *rd = d->priv;
    atomic_store(&rd->quit, 1);
    if (rd->started)
        pthread_join(rd->th, NULL);
    rd->started = 0;
}

static void room_close(AudioDevice *d) { (void)d; }

static void room_destroy(AudioDevice *d)
{
    RoomDev *rd = d->priv;
    if (rd)
        room_sim_free(rd->sim);
    free(rd);
    d->priv = NULL;
}

static const AudioDeviceOps ROOM_OPS = {room_open, room_start, room_stop, room_close, room_destroy};

int audio_device_open_room(const AudioDeviceConfig *cfg, const RoomConfig *rc, AudioDevice **ret, char *err,
                           size_t err_len)
{
    RoomDev *rd;
    AudioDevice *d = NULL;
    int r;

    if (!cfg || (cfg->sample_rate && cfg->sample_rate != ROOM_RATE))
        return err_set(err, err_len, -EINVAL, "room device: 16000 Hz only");
    if (!(rd = calloc(1, sizeof(*rd))))
        return err_set(err, err_len, -ENOMEM, "out of memory");
    if ((r = room_sim_new(rc, &rd->sim, err, err_len)) < 0) {
        free(rd);
        return r;
    }
    rd->speed = rc ? rc->speed : 0;
    if ((r = audio_device_alloc(cfg, &ROOM_OPS, rd, &d, err, err_len)) < 0) {
        room_sim_free(rd->sim);
        free(rd);
        return r;
    }
    *ret = d;
    return 0;
}
