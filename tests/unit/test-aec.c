/* test-aec.c — echo cancellation (speech/aec.c) in the simulated room (speech/audio-device-room.c).
 * `test-aec room` (suite unit): RoomSim's echo of an impulse arrives at echo_delay_ms with the impulse
 * response's energy at echo_gain_db (±0.01 dB), noise at noise_dbfs (±0.5 dB), an utterance (samples or a
 * WAV file) at its sample;
 * the room as an AudioDevice (as fast as the reader, and paced at 4x real time) returns exactly RoomSim's
 * microphone for what was written; bad configurations are refused.
 * `test-aec aec` (suite unit; 77 without SpeexDSP): far-end speech-like signal (noise shaped by a
 * syllable-rate envelope) played into rooms with delays 20–80 ms and echo gains −6…−20 dB, the canceller's
 * delay set 20 ms short of the room's (the reference leads its echo): ERLE (microphone over output power,
 * measured here, and the canceller's own estimate) >= 20 dB over the last 4 s of 10 s; near-end speech with
 * the far end silent keeps its energy (output within 3 dB of the near-end input); in double talk the near
 * end is still there (output power within 6 dB of it) and the ERLE estimate does not collapse (>= 10 dB); a
 * reference set to arrive 60 ms after its echo leaves the estimate below 10 dB (the half-duplex signal). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aec.h"
#include "audio-device-room.h"
#include "test-util.h"

enum { SR = 16000 };

static double db(double p) { return 10.0 * log10(p + 1e-20); }
static double pw(const float *x, int64_t n)
{
    double e = 0;
    for (int64_t i = 0; i < n; i++)
        e += (double)x[i] * x[i];
    return n ? e / n : 0;
}

/* Speech-like: white noise through a one-pole low-pass, amplitude-modulated at ~4 Hz syllables with
 * pauses, scaled to rms. */
static float *speechlike(int64_t n, double rms, uint64_t seed)
{
    float *x = malloc((size_t)n * sizeof(float));
    *test_rng_state() = seed;
    double lp = 0, e = 0;
    for (int64_t i = 0; i < n; i++) {
        double t = (double)i / SR, env = fmax(0.0, sin(2 * M_PI * 4.1 * t)) * (fmod(t, 2.3) < 1.9 ? 1 : 0);
        lp = 0.7 * lp + 0.3 * test_rng_normal();
        x[i] = (float)(lp * env);
        e += (double)x[i] * x[i];
    }
    double s = rms / sqrt(e / (double)n);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(x[i] * s);
    return x;
}

static void test_room(void)
{
    char err[256] = "";
    RoomSim *rs = NULL;
    float imp[SR] = {0}, mic[SR];

    /* echo of an impulse: no noise */
    imp[100] = 0.5f;
    CHECK_INT(room_sim_new(&(RoomConfig){.echo_delay_ms = 50, .echo_gain_db = -10, .noise_dbfs = -200}, &rs, err,
                           sizeof(err)), 0);
    if (!rs)
        return;
    room_sim_process(rs, imp, mic, SR);
    int first = -1;
    double e = 0;
    for (int i = 0; i < SR; i++) {
        if (first < 0 && mic[i] != 0)
            first = i;
        e += (double)mic[i] * mic[i];
    }
    fprintf(stderr, "impulse at 100: first echo sample %d, energy %.3f dB\n", first, db(e / 0.25));
    CHECK_INT(first, 100 + 50 * SR / 1000);
    CHECK_NEAR(db(e / 0.25), -10.0, 0.01);
    CHECK_INT(room_sim_position(rs), SR);
    room_sim_free(rs);

    /* noise level and an utterance at its sample */
    float tone[800];
    for (int i = 0; i < 800; i++)
        tone[i] = 0.25f;
    RoomUtterance u = {.at = 4000, .pcm = tone, .n = 800};
    CHECK_INT(room_sim_new(&(RoomConfig){.noise_dbfs = -50, .utterances = &u, .n_utterances = 1}, &rs, err,
                           sizeof(err)), 0);
    room_sim_process(rs, NULL, mic, SR);
    fprintf(stderr, "noise %.2f dBFS (want -50); utterance window mean %.4f\n", db(pw(mic, 4000)), mic[4400]);
    CHECK_NEAR(db(pw(mic, 4000)), -50.0, 0.5);
    double m = 0;
    for (int i = 4000; i < 4800; i++)
        m += mic[i];
    CHECK_NEAR(m / 800, 0.25, 0.005);
    CHECK(fabsf(mic[3999]) < 0.02f && fabsf(mic[4800]) < 0.02f);
    room_sim_free(rs);

    /* the same utterance from a 16 kHz mono 16-bit WAV file */
    char wav[] = "/tmp/myna-room-XXXXXX";
    int wfd = mkstemp(wav);
    unsigned char hdr[44] = "RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0\x80\x3e\0\0\0\x7d\0\0\x02\0\x10\0data";
    uint32_t data = 1600, riff = 36 + 1600;
    int16_t s16[800];
    memcpy(hdr + 4, &riff, 4);
    memcpy(hdr + 40, &data, 4);
    for (int i = 0; i < 800; i++)
        s16[i] = 8192;
    CHECK(wfd >= 0 && write(wfd, hdr, 44) == 44 && write(wfd, s16, 1600) == 1600);
    if (wfd >= 0)
        close(wfd);
    RoomUtterance uw = {.at = 4000, .wav_path = wav};
    CHECK_INT(room_sim_new(&(RoomConfig){.noise_dbfs = -200, .utterances = &uw, .n_utterances = 1}, &rs, err,
                           sizeof(err)), 0);
    if (rs) {
        room_sim_process(rs, NULL, mic, SR);
        CHECK(mic[3999] == 0 && mic[4000] == 0.25f && mic[4799] == 0.25f && mic[4800] == 0);
        room_sim_free(rs);
    }
    unlink(wav);

    /* the device returns RoomSim's microphone for what was written (speed 0: as fast as read; 4: paced) */
    for (int pace = 0; pace < 2; pace++) {
        RoomConfig rc = {.echo_delay_ms = 30, .echo_gain_db = -8, .seed = 7, .speed = pace ? 4.0 : 0};
        AudioDevice *dev = NULL;
        float *play = speechlike(SR, 0.1, 3), *want = malloc(SR * sizeof(float));
        float *got = calloc(SR, sizeof(float));
        CHECK_INT(room_sim_new(&rc, &rs, err, sizeof(err)), 0);
        room_sim_process(rs, play, want, SR);
        room_sim_free(rs);
        CHECK_INT(audio_device_open_room(&(AudioDeviceConfig){.capture = 1, .playback = 1, .ring_seconds = 2}, &rc,
                                         &dev, err, sizeof(err)), 0);
        if (dev) {
            CHECK_INT(audio_device_write(dev, play, SR, 1000), SR); /* queued before the room starts */
            CHECK_INT(audio_device_start(dev), 0);
            int64_t have = 0;
            for (int tries = 0; have < SR && tries < 2000; tries++) {
                int64_t k = audio_device_read(dev, got + have, (size_t)(SR - have), 10);
                if (k < 0)
                    break;
                have += k;
            }
            CHECK_INT(have, SR);
            double maxd = 0;
            for (int i = 0; i < SR; i++)
                maxd = fmax(maxd, fabs(got[i] - want[i]));
            fprintf(stderr, "room device (speed %g) vs RoomSim: max |diff| %g over %lld samples\n", rc.speed, maxd,
                    (long long)have);
            CHECK(maxd == 0);
            audio_device_close(dev);
        }
        free(play);
        free(want);
        free(got);
    }

    /* refused configurations */
    CHECK_INT(room_sim_new(&(RoomConfig){.echo_delay_ms = 900}, &rs, err, sizeof(err)), -EINVAL);
    CHECK_INT(room_sim_new(&(RoomConfig){.echo_gain_db = 3}, &rs, err, sizeof(err)), -EINVAL);
    CHECK_INT(room_sim_new(&(RoomConfig){.n_utterances = 1}, &rs, err, sizeof(err)), -EINVAL);
    RoomUtterance bad = {.wav_path = "/nonexistent/u.wav"};
    CHECK_INT(room_sim_new(&(RoomConfig){.utterances = &bad, .n_utterances = 1}, &rs, err, sizeof(err)), -ENOENT);
    fprintf(stderr, "missing WAV: %s\n", err);
    AudioDevice *dev = NULL;
    CHECK_INT(audio_device_open_room(&(AudioDeviceConfig){.capture = 1, .sample_rate = 48000}, NULL, &dev, err,
                                     sizeof(err)), -EINVAL);
    CHECK(dev == NULL);
}

/* One room: 10 s far end only, then 3 s near end only, then 3 s double talk. */
static void room_case(int delay_ms, float gain_db)
{
    const int64_t far_n = 10 * SR, near_n = 3 * SR, dt_n = 3 * SR, n = far_n + near_n + dt_n;
    float *far = speechlike(n, 0.1, 11), *near = speechlike(near_n + dt_n, 0.05, 23);
    float *mic = malloc((size_t)n * sizeof(float)), *out = malloc((size_t)n * sizeof(float));
    char err[256];
    RoomSim *rs = NULL;
    Aec *aec = NULL;

    for (int64_t i = far_n; i < far_n + near_n; i++)
        far[i] = 0; /* far end silent while the near end speaks alone */
    RoomUtterance u = {.at = far_n, .pcm = near, .n = (size_t)(near_n + dt_n)};
    CHECK_INT(room_sim_new(&(RoomConfig){.echo_delay_ms = delay_ms, .echo_gain_db = gain_db, .noise_dbfs = -65,
                                         .seed = (uint64_t)delay_ms, .utterances = &u, .n_utterances = 1},
                           &rs, err, sizeof(err)), 0);
    CHECK_INT(aec_new(&(AecConfig){.tail_ms = 200, .delay_samples = (delay_ms - 20) * SR / 1000}, &aec), 0);
    float erle_at_far_end = 0, erle_min_dt = 1e9f;
    for (int64_t i = 0; rs && aec && i < n; i += AEC_FRAME) {
        room_sim_process(rs, far + i, mic + i, AEC_FRAME);
        CHECK_INT(aec_playback(aec, i, far + i, AEC_FRAME), 0);
        CHECK_INT(aec_capture(aec, i, mic + i, out + i), 0);
        if (i + AEC_FRAME == far_n)
            erle_at_far_end = aec_erle_db(aec);
        if (i >= far_n + near_n)
            erle_min_dt = fminf(erle_min_dt, aec_erle_db(aec));
    }
    /* ERLE measured over the last 4 s of far-end-only audio */
    double erle = db(pw(mic + 6 * SR, 4 * SR)) - db(pw(out + 6 * SR, 4 * SR));
    /* near end alone: last 2 s of that part (the filter has seen 1 s of it) */
    double near_in = db(pw(near + SR, 2 * SR)), near_out = db(pw(out + far_n + SR, 2 * SR));
    /* double talk: the output against the near end alone */
    double dt_near = db(pw(near + near_n + SR, 2 * SR)), dt_out = db(pw(out + far_n + near_n + SR, 2 * SR));
    double dt_mic = db(pw(mic + far_n + near_n + SR, 2 * SR));
    fprintf(stderr, "room %2d ms %5.1f dB: ERLE %.1f dB (estimate %.1f, far %lld ms); near alone in %.1f out %.1f "
            "dBFS; double talk near %.1f mic %.1f out %.1f dBFS, estimate >= %.1f dB\n", delay_ms, gain_db, erle,
            erle_at_far_end, (long long)(aec ? aec_far_ms(aec) : 0), near_in, near_out, dt_near, dt_mic, dt_out,
            erle_min_dt);
    CHECK(erle >= 20.0);
    CHECK(erle_at_far_end >= 20.0);
    CHECK(fabs(near_out - near_in) <= 3.0);
    CHECK(fabs(dt_out - dt_near) <= 6.0);
    CHECK(erle_min_dt >= 10.0);
    aec_free(aec);
    room_sim_free(rs);
    free(far);
    free(near);
    free(mic);
    free(out);
}

/* A reference that arrives after its echo (delay set 60 ms too long) cannot be cancelled: the linear ERLE
 * estimate stays low — the signal for the half-duplex fallback. Counters start at 10^6 (any origin works). */
static void late_reference(void)
{
    const int64_t n = 6 * SR, base = 1000000;
    float *far = speechlike(n, 0.1, 31), mic[AEC_FRAME], out[AEC_FRAME];
    char err[256];
    RoomSim *rs = NULL;
    Aec *aec = NULL;
    CHECK_INT(room_sim_new(&(RoomConfig){.echo_delay_ms = 40, .echo_gain_db = -9}, &rs, err, sizeof(err)), 0);
    CHECK_INT(aec_new(&(AecConfig){.delay_samples = 100 * SR / 1000}, &aec), 0);
    for (int64_t i = 0; rs && aec && i < n; i += AEC_FRAME) {
        room_sim_process(rs, far + i, mic, AEC_FRAME);
        aec_playback(aec, base + i, far + i, AEC_FRAME);
        aec_capture(aec, base + i, mic, out);
    }
    fprintf(stderr, "reference 60 ms late: ERLE estimate %.1f dB\n", aec ? aec_erle_db(aec) : 0);
    CHECK(aec && aec_erle_db(aec) < 10.0f);
    aec_free(aec);
    room_sim_free(rs);
    free(far);
}

static int test_aec(void)
{
    Aec *a = NULL;
    if (!aec_available()) {
        CHECK_INT(aec_new(NULL, &a), -ENOTSUP);
        fprintf(stderr, "SKIP: built without SpeexDSP\n");
        return test_exit() == 0 ? 77 : 1;
    }
    static const struct { int delay_ms; float gain_db; } rooms[] = {{20, -6}, {40, -12}, {80, -20}, {60, -9}};
    for (size_t i = 0; i < sizeof(rooms) / sizeof(rooms[0]); i++)
        room_case(rooms[i].delay_ms, rooms[i].gain_db);
    late_reference();
    /* arguments */
    CHECK_INT(aec_new(&(AecConfig){.tail_ms = 100}, &a), -EINVAL);
    CHECK_INT(aec_new(&(AecConfig){.delay_samples = -1}, &a), -EINVAL);
    CHECK_INT(aec_new(&(AecConfig){.delay_samples = 16000}, &a), -EINVAL); /* beyond the 1 s history */
    CHECK_INT(aec_new(NULL, &a), 0);
    float x[AEC_FRAME] = {0};
    CHECK_INT(aec_playback(a, -1, x, AEC_FRAME), -EINVAL);
    CHECK_INT(aec_set_delay(a, -5), -EINVAL);
    CHECK_INT(aec_set_delay(a, SR), -EINVAL);
    CHECK_INT(aec_set_delay(a, 480), 0);
    CHECK_INT(aec_capture(a, 0, NULL, x), -EINVAL);
    CHECK_INT(aec_playback(a, 5 * SR, x, AEC_FRAME), 0); /* a jump in the counter is a gap of silence */
    CHECK_INT(aec_capture(a, 5 * SR, x, x), 0);
    CHECK(aec_erle_db(a) == 0); /* nothing played yet */
    aec_free(a);
    aec_free(NULL);
    return test_exit();
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "aec"))
        return test_aec();
    test_room();
    return test_exit();
}
