/* test-daemon-conversation.c — Session1.StartConversation on a private bus (issue 14): the test is the room.
 * It passes an input pipe and an output pipe; per 10 ms frame it writes one microphone frame and reads
 * the one speaker frame the daemon answers with, and the next microphone frame is the room's echo of
 * what was played (speech/audio-device-room.h: 40 ms, −12 dB impulse response, −60 dBFS noise) plus the
 * scripted question (espeak-ng, resampled to 16 kHz by ffmpeg) — at MYNA_TEST_CONV_SPEED × real time
 * (default 2). Per turn it asserts: UserSpeechStarted/Ended, Heard with the question's words (the first
 * word kept), a spoken answer (SpeakingStarted, then SpeakingStopped "done" with audio on the output), the
 * TurnStats; over the run: one Heard per question (the daemon never took its own voice, or the tail of
 * its echo, for a user turn). The last question's answer is interrupted mid-way: BargeIn once, SpeakingStopped
 * "interrupted" with a strict prefix of the answer, the interjection heard and answered as its own turn.
 * Then StopConversation, a second stop (InvalidArgument), a bad duplex. Prints end of speech → first audio
 * per turn, the p50, and how long after the interjection's onset playback stopped (audio time).
 * MYNA_TEST_CONV_DEBUG=1: mynad logs at debug level.
 * Model: test:echo (the answer repeats the transcript) unless MYNA_TEST_CONV_MODEL=1 (the default
 * SmolLM2, skipped when absent). Skips (77) without the voice, Whisper, espeak-ng or ffmpeg.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audio-device-room.h"
#include "harness.h"
#include "paths.h"
#include "test-util.h"

enum { FRAME = 160, MAX_TURNS = 6 };

/* question, two words Whisper must hear, the first word; the last turn is interrupted mid-answer (test:echo
 * repeats it: a long answer) by INTERJECTION once 2.5 s of the answer has played (the echo canceller has
 * converged by then; the guard ignores candidates before). */
static const char *QUESTIONS[][4] = {
    {"What is the capital of France?", "capital", "france", "what"},
    {"How many days are in a week?", "days", "week", "how"},
    {"Tell me about the old lighthouse on the hill, the boats in the harbour, and the long road to the village.",
     "lighthouse", "harbo", "tell"},
};
static const char *INTERJECTION = "Wait, stop please.";

typedef struct {
    int started, ended, heard, speaking_started, speaking_stopped, finished, failed, ended_conv, barge_ins;
    char said[MAX_TURNS][2048];
    char heard_text[MAX_TURNS][512];
    char stop_reason[MAX_TURNS][32];
    double first_audio_ms[MAX_TURNS], transcript_ms[MAX_TURNS], first_token_ms[MAX_TURNS];
    int n_stats;
} Watch;

static int on_signal(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    Watch *w = userdata;
    const char *member = sd_bus_message_get_member(m), *s1, *s2;
    uint64_t id;
    (void)e;
    if (!strcmp(member, "UserSpeechStarted")) {
        w->started++;
    } else if (!strcmp(member, "UserSpeechEnded")) {
        w->ended++;
    } else if (!strcmp(member, "Heard") && sd_bus_message_read(m, "ts", &id, &s1) >= 0) {
        if (w->heard < MAX_TURNS)
            snprintf(w->heard_text[w->heard], sizeof(w->heard_text[0]), "%s", s1);
        fprintf(stderr, "heard: %s\n", s1);
        w->heard++;
    } else if (!strcmp(member, "SpeakingStarted")) {
        w->speaking_started++;
    } else if (!strcmp(member, "SpeakingStopped") && sd_bus_message_read(m, "tss", &id, &s1, &s2) >= 0) {
        if (w->speaking_stopped < MAX_TURNS) {
            snprintf(w->stop_reason[w->speaking_stopped], sizeof(w->stop_reason[0]), "%s", s1);
            snprintf(w->said[w->speaking_stopped], sizeof(w->said[0]), "%s", s2);
        }
        fprintf(stderr, "said (%s): %s\n", s1, s2);
        w->speaking_stopped++;
    } else if (!strcmp(member, "Finished")) {
        w->finished++;
    } else if (!strcmp(member, "Failed") && sd_bus_message_read(m, "tss", &id, &s1, &s2) >= 0) {
        fprintf(stderr, "failed: %s: %s\n", s1, s2);
        w->failed++;
    } else if (!strcmp(member, "BargeIn")) {
        w->barge_ins++;
    } else if (!strcmp(member, "ConversationEnded")) {
        w->ended_conv++;
    } else if (!strcmp(member, "TurnStats") && sd_bus_message_read(m, "t", &id) >= 0 &&
               sd_bus_message_enter_container(m, 'a', "{sv}") >= 0) {
        const char *key;
        while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
            double d = -1;
            const char *contents;
            if (sd_bus_message_read(m, "s", &key) < 0 || sd_bus_message_peek_type(m, NULL, &contents) < 0)
                break;
            if (!strcmp(contents, "d") && w->n_stats < MAX_TURNS &&
                (!strcmp(key, "first_audio_ms") || !strcmp(key, "transcript_ms") || !strcmp(key, "first_token_ms"))) {
                sd_bus_message_read(m, "v", "d", &d);
                *(key[6] == 'a' ? &w->first_audio_ms[w->n_stats] : key[0] == 't' ? &w->transcript_ms[w->n_stats]
                                                                                   : &w->first_token_ms[w->n_stats]) = d;
            } else {
                sd_bus_message_skip(m, "v");
            }
            sd_bus_message_exit_container(m);
        }
        w->n_stats++;
    }
    return 0;
}

static int has_word(const char *text, const char *word)
{
    char low[512];
    size_t i;
    for (i = 0; text[i] && i + 1 < sizeof(low); i++)
        low[i] = (char)tolower((unsigned char)text[i]);
    low[i] = 0;
    return strstr(low, word) != NULL;
}

static float *load_question(const char *tmp, int k, const char *text, size_t *n)
{
    char cmd[1024], raw[300];
    snprintf(raw, sizeof(raw), "%s/q%d.raw", tmp, k);
    snprintf(cmd, sizeof(cmd), "espeak-ng -w %s/q%d.wav '%s' && ffmpeg -loglevel error -y -i %s/q%d.wav -ar 16000 "
             "-ac 1 -f s16le %s", tmp, k, text, tmp, k, raw);
    if (harness_sh(cmd, NULL, 0) != 0)
        return NULL;
    FILE *f = fopen(raw, "rb");
    if (!f)
        return NULL;
    static int16_t b[16000 * 20];
    *n = fread(b, 2, sizeof(b) / 2, f);
    fclose(f);
    float *pcm = malloc(*n * sizeof(float));
    for (size_t i = 0; pcm && i < *n; i++)
        pcm[i] = b[i] / 32768.0f;
    return pcm;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, (char *)buf + got, n - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        got += (size_t)k;
    }
    return 0;
}

int main(void)
{
    Harness h;
    char models[1024], p1[1200], p2[1200], tmp[64], path[128], conf[1400];
    const char *sp = getenv("MYNA_TEST_CONV_SPEED");
    const int real_model = getenv("MYNA_TEST_CONV_MODEL") && !strcmp(getenv("MYNA_TEST_CONV_MODEL"), "1");
    const double speed = sp && atof(sp) > 0 ? atof(sp) : 2.0;
    sd_bus_error e = SD_BUS_ERROR_NULL;

    paths_models_dir(models, sizeof(models));
    paths_model_file("en_US-joe-medium.onnx", p1, sizeof(p1));
    paths_model_file("whisper-tiny.en", p2, sizeof(p2));
    if (access(p1, R_OK) < 0 || access(p2, R_OK) < 0) {
        fprintf(stderr, "skip: needs %s and %s (scripts/fetch-models)\n", p1, p2);
        return 77;
    }
    if (harness_sh("command -v espeak-ng && command -v ffmpeg", NULL, 0) != 0) {
        fprintf(stderr, "skip: needs espeak-ng and ffmpeg\n");
        return 77;
    }
    if (real_model) {
        if (harness_model_path(p1, sizeof(p1)) < 0) {
            fprintf(stderr, "skip: MYNA_TEST_CONV_MODEL=1 needs the default model\n");
            return 77;
        }
        snprintf(conf, sizeof(conf), "model = %s\nbackend = cpu\nthreads = 2\n", p1);
    } else {
        snprintf(conf, sizeof(conf), "model = test:echo\n%s", getenv("MYNA_TEST_CONV_DEBUG") ? "log_level = debug\n" : "");
    }
    snprintf(tmp, sizeof(tmp), "/tmp/myna-conv-XXXXXX");
    CHECK(mkdtemp(tmp) != NULL);
    const int n_turns = (int)(sizeof(QUESTIONS) / sizeof(QUESTIONS[0]));
    float *q[MAX_TURNS];
    size_t qn[MAX_TURNS];
    size_t in_n = 0;
    float *inter = load_question(tmp, 9, INTERJECTION, &in_n);
    for (int k = 0; k < n_turns; k++) {
        q[k] = load_question(tmp, k, QUESTIONS[k][0], &qn[k]);
        if (!q[k] || !inter) {
            fprintf(stderr, "skip: espeak-ng/ffmpeg could not make the question\n");
            return 77;
        }
    }

    if (harness_start_bus(&h) < 0)
        return 77;
    CHECK_INT(harness_start_daemon(&h, conf, NULL), 0);
    sd_bus *b = harness_connect(&h);
    CHECK(b != NULL);
    if (real_model)
        CHECK_INT(harness_wait_ready(b, 60), 0);
    CHECK(hc_create_session(b, NULL, real_model ? 40 : 0, path, sizeof(path), &e) >= 0);
    Watch w;
    memset(&w, 0, sizeof(w));
    sd_bus_slot *slot = NULL;
    CHECK(sd_bus_match_signal(b, &slot, "org.myna.Assistant1", path, "org.myna.Session1", NULL, on_signal, &w) >= 0);

    /* without fds: UnsupportedMedia naming what to pass */
    sd_bus_message *reply = NULL;
    int r = sd_bus_call_method(b, "org.myna.Assistant1", path, "org.myna.Session1", "StartConversation", &e, &reply,
                               "a{sv}", 0);
    CHECK(r < 0 && sd_bus_error_has_name(&e, "org.myna.Error.UnsupportedMedia") && strstr(e.message, "input"));
    sd_bus_error_free(&e);
    sd_bus_message_unref(reply), reply = NULL;

    int in[2], out[2];
    CHECK(pipe(in) == 0 && pipe(out) == 0);
    r = sd_bus_call_method(b, "org.myna.Assistant1", path, "org.myna.Session1", "StartConversation", &e, &reply,
                           "a{sv}", 2, "input", "h", in[0], "output", "h", out[1]);
    if (r < 0)
        fprintf(stderr, "StartConversation: %s: %s\n", e.name, e.message);
    CHECK_INT(r >= 0, 1);
    sd_bus_error_free(&e);
    sd_bus_message_unref(reply);
    close(in[0]), close(out[1]);
    /* a second one on the same session is refused */
    r = sd_bus_call_method(b, "org.myna.Assistant1", path, "org.myna.Session1", "StartConversation", &e, NULL,
                           "a{sv}", 2, "input", "h", in[1], "output", "h", out[0]);
    CHECK(r < 0 && sd_bus_error_has_name(&e, "org.myna.Error.Busy"));
    sd_bus_error_free(&e);

    RoomConfig rc = {.echo_delay_ms = 40, .echo_gain_db = -12, .ir_ms = 30, .noise_dbfs = -60, .seed = 7};
    RoomSim *room = NULL;
    char err[200];
    CHECK_INT(room_sim_new(&rc, &room, err, sizeof(err)), 0);

    /* the script, per turn: 0.5 s of room, the question, then room until SpeakingStopped + 1 s */
    float mic[FRAME], play[FRAME] = {0};
    int16_t fr[FRAME];
    int64_t answer_samples[MAX_TURNS] = {0};
    /* phases: 0 lead-in, 1 question, 2 waiting for the answer's end, 3 trailing, 4 interjection, 5 waiting
     * for the interjection's own answer */
    int turn = 0, phase = 0, starts_seen = 0;
    int64_t phase_at = 0, frame = 0, qpos = 0, speak_at = -1, loud_frames = 0, inter_at = -1, bargein_at = -1, last_loud = -1;
    const int64_t max_frames = (int64_t)(n_turns * 90 * 100); /* 90 s of audio per turn at most */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int stops_seen = 0;
    while (turn < n_turns && frame < max_frames) {
        room_sim_process(room, play, mic, FRAME);
        if (phase == 1)
            for (int i = 0; i < FRAME && qpos < (int64_t)qn[turn]; i++)
                mic[i] += q[turn][qpos++];
        if (phase == 4)
            for (int i = 0; i < FRAME && qpos < (int64_t)in_n; i++)
                mic[i] += inter[qpos++];
        for (int i = 0; i < FRAME; i++) {
            float v = mic[i] * 32768.0f;
            fr[i] = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : lrintf(v));
        }
        CHECK_INT(write(in[1], fr, sizeof(fr)), (int)sizeof(fr));
        if (read_full(out[0], fr, sizeof(fr)) < 0) {
            fprintf(stderr, "output closed at frame %lld\n", (long long)frame);
            CHECK(0);
            break;
        }
        int loud = 0;
        for (int i = 0; i < FRAME; i++) {
            play[i] = fr[i] / 32768.0f;
            loud |= fr[i] != 0;
        }
        if (loud)
            answer_samples[turn] += FRAME;
        if (loud && phase == 4 && !w.barge_ins)
            last_loud = frame;
        if (loud && phase == 2 && speak_at > phase_at)
            loud_frames++;
        frame++;
        while (sd_bus_process(b, NULL) > 0)
            ;
        if (w.speaking_started > starts_seen)
            starts_seen = w.speaking_started, speak_at = frame;
        if (w.barge_ins && bargein_at < 0)
            bargein_at = frame;
        const int interrupt_turn = turn == n_turns - 1;
        if (phase == 0 && frame - phase_at >= 50)
            phase = 1, qpos = 0, phase_at = frame, loud_frames = 0;
        else if (phase == 1 && qpos >= (int64_t)qn[turn])
            phase = 2, phase_at = frame;
        else if (phase == 2 && interrupt_turn && loud_frames >= 250) /* 2.5 s of the answer played */
            phase = 4, qpos = 0, inter_at = phase_at = frame;
        else if (phase == 4 && qpos >= (int64_t)in_n)
            phase = 5, phase_at = frame;
        else if (phase == 5 && w.speaking_stopped >= stops_seen + 2)
            phase = 3, phase_at = frame, stops_seen = w.speaking_stopped;
        else if (phase == 2 && !interrupt_turn && w.speaking_stopped > stops_seen)
            phase = 3, phase_at = frame, stops_seen = w.speaking_stopped;
        else if ((phase == 2 || phase == 5) && w.failed)
            break;
        else if (phase == 3 && frame - phase_at >= 100)
            phase = 0, phase_at = frame, turn++;
        /* pace: frame k not before k·10 ms / speed */
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double el = (now.tv_sec - t0.tv_sec) * 1e3 + (now.tv_nsec - t0.tv_nsec) / 1e6, due = frame * 10.0 / speed;
        if (due > el)
            usleep((useconds_t)((due - el) * 1000));
    }
    CHECK_INT(turn, n_turns);
    close(in[1]); /* input closed: the conversation ends */
    double t_end = harness_now_s();
    while (!w.ended_conv && harness_now_s() - t_end < 10) {
        sd_bus_process(b, NULL);
        sd_bus_wait(b, 100000);
    }
    CHECK_INT(w.ended_conv, 1);
    /* again on the same session, then StopConversation; a second stop has nothing to stop; a bad duplex */
    int in2[2], out2[2];
    CHECK(pipe(in2) == 0 && pipe(out2) == 0);
    r = sd_bus_call_method(b, "org.myna.Assistant1", path, "org.myna.Session1", "StartConversation", &e, NULL,
                           "a{sv}", 3, "input", "h", in2[0], "output", "h", out2[1], "duplex", "s", "sideways");
    CHECK(r < 0 && sd_bus_error_has_name(&e, "org.myna.Error.InvalidArgument") && strstr(e.message, "duplex"));
    sd_bus_error_free(&e);
    CHECK_INT(sd_bus_call_method(b, "org.myna.Assistant1", path, "org.myna.Session1", "StartConversation", &e, NULL,
                                 "a{sv}", 3, "input", "h", in2[0], "output", "h", out2[1], "duplex", "s", "half"), 1);
    sd_bus_error_free(&e);
    CHECK_INT(sd_bus_call_method(b, "org.myna.Assistant1", path, "org.myna.Session1", "StopConversation", &e, NULL,
                                 ""), 1);
    sd_bus_error_free(&e);
    r = sd_bus_call_method(b, "org.myna.Assistant1", path, "org.myna.Session1", "StopConversation", &e, NULL, "");
    CHECK(r < 0 && sd_bus_error_has_name(&e, "org.myna.Error.InvalidArgument"));
    sd_bus_error_free(&e);
    t_end = harness_now_s();
    while (w.ended_conv < 2 && harness_now_s() - t_end < 10) {
        sd_bus_process(b, NULL);
        sd_bus_wait(b, 100000);
    }
    CHECK_INT(w.ended_conv, 2);
    char tmpb[8];
    close(in2[0]), close(out2[1]);
    CHECK_INT(read(out2[0], tmpb, sizeof(tmpb)), 0); /* the daemon closed its end of the output */
    close(in2[1]), close(out2[0]);

    CHECK_INT(w.failed, 0);
    /* one user turn per question plus the interjection: never its own voice */
    const int n_user = n_turns + 1, last = n_turns - 1;
    CHECK_INT(w.heard, n_user);
    CHECK_INT(w.started, n_user);
    CHECK_INT(w.ended, n_user);
    /* the interrupted turn's LM end is reported only when it came before the barge-in (test:echo is fast) */
    CHECK(w.finished == n_user || w.finished == n_user - 1);
    CHECK_INT(w.speaking_started, n_user);
    CHECK_INT(w.speaking_stopped, n_user);
    CHECK_INT(w.barge_ins, 1);
    /* the interrupted answer: stopped, and what was heard is a strict prefix part of it */
    CHECK(!strcmp(w.stop_reason[last], "interrupted"));
    CHECK(strlen(w.said[last]) > 0);
    if (!real_model) { /* test:echo answers with the question: the heard part is a strict prefix of it */
        CHECK(strlen(w.said[last]) < strlen(w.heard_text[last]));
        CHECK(!strncmp(w.said[last], w.heard_text[last], strlen(w.said[last]) > 8 ? 8 : strlen(w.said[last])));
    }
    CHECK(has_word(w.heard_text[n_turns], "stop"));
    CHECK(!strcmp(w.stop_reason[n_turns], "done"));
    CHECK(inter_at > 0 && bargein_at > inter_at);
    fprintf(stderr, "interjection: barge-in %lld ms after it began (loud output until %lld ms)\n",
            (long long)(bargein_at - inter_at) * 10, (long long)(last_loud - inter_at) * 10);
    double lat[MAX_TURNS];
    int n_lat = 0;
    for (int k = 0; k < n_turns && k < MAX_TURNS; k++) {
        CHECK(has_word(w.heard_text[k], QUESTIONS[k][1]) && has_word(w.heard_text[k], QUESTIONS[k][2]));
        CHECK(has_word(w.heard_text[k], QUESTIONS[k][3])); /* the first word kept */
        CHECK(k == last || !strcmp(w.stop_reason[k], "done"));
        CHECK(answer_samples[k] > 16000 / 2); /* at least half a second of answer on the output */
        fprintf(stderr, "turn %d: %.2f s of answer; from the end of speech: transcript %.0f ms, first token %.0f ms, "
                "first audio %.0f ms\n", k, answer_samples[k] / 16000.0, w.transcript_ms[k], w.first_token_ms[k],
                w.first_audio_ms[k]);
        if (k < w.n_stats && w.first_audio_ms[k] >= 0)
            lat[n_lat++] = w.first_audio_ms[k];
    }
    for (int k = n_turns; k < w.n_stats && k < MAX_TURNS; k++)
        if (w.first_audio_ms[k] >= 0)
            lat[n_lat++] = w.first_audio_ms[k];
    CHECK_INT(n_lat, n_user);
    qsort(lat, (size_t)n_lat, sizeof(double), cmp_d);
    if (n_lat)
        fprintf(stderr, "end of user speech → first assistant audio: p50 %.0f ms over %d turns (%s, speed %.1fx)\n",
                lat[n_lat / 2], n_lat, real_model ? "SmolLM2" : "test:echo", speed);

    room_sim_free(room);
    for (int k = 0; k < n_turns; k++)
        free(q[k]);
    free(inter);
    sd_bus_slot_unref(slot);
    sd_bus_flush_close_unref(b);
    CHECK_INT(harness_stop_daemon(&h), 0);
    harness_stop(&h);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
    harness_sh(cmd, NULL, 0);
    return test_exit();
}
