/* test-bargein.c — the barge-in state machine (speech/bargein.c), alone and in the simulated room.
 * Scripted events: a candidate ducks at once; speech lasting confirm_ms from the onset stops, and so do two
 * short runs that add up to it; a candidate that is rejected, or speech that ends short of confirm_ms,
 * un-ducks false_alarm_ms after the onset and playback goes on; foreign words
 * stop at once; nothing happens when not playing; bargein_heard_units counts the units whose span ended.
 * In the room (needs SpeexDSP, espeak-ng and ffmpeg, else that part is skipped): three rooms (echo 20 ms at
 * −6 dB, 40 ms at −9 dB, 80 ms at −20 dB), each a conversation of 7 assistant answers (espeak-ng, a voice per
 * room) with 1 s of listening between them, through the canceller, the endpointer (playback mode while a
 * turn plays and 300 ms after; Silero when installed, else the energy VAD) and the ERLE guard: 0
 * self-interruptions over the 21 turns (no DUCK before the user speaks, no speech START in the gaps); in each
 * room's last answer a user question (another voice) 1.5 s in is ducked within 150 ms of its energy onset
 * and stopped within 800 ms of it (confirm_ms = 400 ms of speech; "Wait, stop, …" pauses after its first
 * word, so 460–690 ms here). Audio time from sample counters: no wall clock. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aec.h"
#include "audio-device-room.h"
#include "bargein.h"
#include "paths.h"
#include "test-util.h"

enum { SR = 16000 };

static EndpointEvent evt(EndpointEventType t, int64_t onset)
{
    return (EndpointEvent){.type = t, .onset = onset, .start = onset, .end = -1};
}

static void test_script(void)
{
    Bargein b;
    EndpointEvent e;

    bargein_init(&b, &(BargeinConfig){.min_erle_db = -1}); /* headset: no ERLE guard */
    e = evt(ENDPOINT_EVENT_CANDIDATE, 1000);
    CHECK_INT(bargein_on_event(&b, &e, 1512), BARGEIN_NONE); /* not playing: no barge-in */
    bargein_playback_started(&b);
    CHECK_INT(bargein_on_event(&b, &e, 1512), BARGEIN_DUCK);
    CHECK_INT(b.state, BARGEIN_DUCKED);
    e = evt(ENDPOINT_EVENT_START, 1000);
    CHECK_INT(bargein_on_event(&b, &e, 1000 + 4096), BARGEIN_NONE); /* 256 ms: not yet */
    CHECK_INT(b.state, BARGEIN_DUCKED);
    CHECK_INT(bargein_tick(&b, 1000 + 6399), BARGEIN_NONE);
    CHECK_INT(bargein_tick(&b, 1000 + 6400), BARGEIN_STOP);          /* 400 ms from the onset */
    CHECK_INT(b.state, BARGEIN_STOPPED);
    CHECK_INT(bargein_tick(&b, 99999), BARGEIN_NONE);

    /* false alarm */
    bargein_playback_started(&b);
    e = evt(ENDPOINT_EVENT_CANDIDATE, 50000);
    CHECK_INT(bargein_on_event(&b, &e, 50512), BARGEIN_DUCK);
    e = evt(ENDPOINT_EVENT_REJECT, 50000);
    CHECK_INT(bargein_on_event(&b, &e, 52000), BARGEIN_NONE);
    CHECK_INT(bargein_tick(&b, 50000 + 15999), BARGEIN_NONE);
    CHECK_INT(bargein_tick(&b, 50000 + 16000), BARGEIN_UNDUCK);
    CHECK_INT(b.state, BARGEIN_PLAYING);
    /* speech that ended before confirm_ms is not an interruption either */
    e = evt(ENDPOINT_EVENT_CANDIDATE, 80000);
    CHECK_INT(bargein_on_event(&b, &e, 80512), BARGEIN_DUCK);
    e = evt(ENDPOINT_EVENT_START, 80000);
    bargein_on_event(&b, &e, 84096);
    e = evt(ENDPOINT_EVENT_END, 80000);
    CHECK_INT(bargein_on_event(&b, &e, 85000), BARGEIN_NONE);
    CHECK_INT(bargein_tick(&b, 80000 + 8000), BARGEIN_NONE);
    CHECK_INT(bargein_tick(&b, 80000 + 16000), BARGEIN_UNDUCK);
    /* two short runs (250 ms, a 300 ms pause, then more) add up to confirm_ms */
    e = evt(ENDPOINT_EVENT_CANDIDATE, 100000);
    CHECK_INT(bargein_on_event(&b, &e, 100512), BARGEIN_DUCK);
    e = evt(ENDPOINT_EVENT_REJECT, 100000);
    CHECK_INT(bargein_on_event(&b, &e, 104000), BARGEIN_NONE);
    e = evt(ENDPOINT_EVENT_CANDIDATE, 108800);
    CHECK_INT(bargein_on_event(&b, &e, 109312), BARGEIN_NONE);
    CHECK_INT(bargein_tick(&b, 108800 + 2399), BARGEIN_NONE);
    CHECK_INT(bargein_tick(&b, 108800 + 2400), BARGEIN_STOP);   /* 4000 + 2400 samples = 400 ms of speech */
    bargein_playback_started(&b);
    /* recognised words confirm at once */
    e = evt(ENDPOINT_EVENT_CANDIDATE, 120000);
    CHECK_INT(bargein_on_event(&b, &e, 120512), BARGEIN_DUCK);
    CHECK_INT(bargein_on_words(&b, 0, 121000), BARGEIN_NONE);
    CHECK_INT(bargein_on_words(&b, 2, 121000), BARGEIN_STOP);
    bargein_playback_ended(&b);
    CHECK_INT(b.state, BARGEIN_IDLE);
    /* half duplex while the canceller has not converged */
    bargein_init(&b, NULL);
    bargein_playback_started(&b);
    bargein_set_erle(&b, 6.0f);
    e = evt(ENDPOINT_EVENT_CANDIDATE, 1000);
    CHECK_INT(bargein_on_event(&b, &e, 1512), BARGEIN_NONE);
    bargein_set_erle(&b, 25.0f);
    CHECK_INT(bargein_on_event(&b, &e, 1512), BARGEIN_DUCK);

    /* trim point */
    static const int64_t spans[] = {100, 250, 250, 900, 1500};
    CHECK_INT(bargein_heard_units(spans, 5, 0), 0);
    CHECK_INT(bargein_heard_units(spans, 5, 100), 1);
    CHECK_INT(bargein_heard_units(spans, 5, 260), 3);
    CHECK_INT(bargein_heard_units(spans, 5, 1499), 4);
    CHECK_INT(bargein_heard_units(spans, 5, 5000), 5);
    CHECK_INT(bargein_heard_units(spans, 0, 5000), 0);
}

/* text spoken by espeak-ng at 16 kHz (float), or NULL. */
static float *say(const char *dir, const char *voice, const char *text, int64_t *ret_n)
{
    char cmd[2048], path[512];
    float *pcm = NULL;
    long size = 0;
    FILE *f;

    snprintf(cmd, sizeof(cmd), "espeak-ng -v %s -s 160 -w '%s/s.wav' \"%s\" && ffmpeg -loglevel error -y -i "
             "'%s/s.wav' -ar 16000 -ac 1 -f f32le '%s/s.f32'", voice, dir, text, dir, dir);
    if (system(cmd) != 0)
        return NULL;
    snprintf(path, sizeof(path), "%s/s.f32", dir);
    if ((f = fopen(path, "rb")) && fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0 &&
        fseek(f, 0, SEEK_SET) == 0 && (pcm = malloc((size_t)size)) && fread(pcm, 1, (size_t)size, f) != (size_t)size) {
        free(pcm);
        pcm = NULL;
    }
    if (f)
        fclose(f);
    *ret_n = size / 4;
    return pcm;
}

static const char *k_answers[] = {
    "Paris is the capital of France. It lies on the river Seine.",
    "The tower was built for the world fair of eighteen eighty nine.",
    "A spider has eight legs, and most spiders have eight eyes as well.",
    "It is about twelve kilometres from here, so a taxi takes twenty minutes.",
    "Sure. I have set a timer for ten minutes, starting now.",
    "The nearest pharmacy is on the main street, next to the bakery.",
    "Rome is the capital of Italy, and it has about three million people.",
};
enum { N_ANSWERS = sizeof(k_answers) / sizeof(k_answers[0]), GAP = SR, ECHO_GUARD = SR * 3 / 10 };

/* One room: the assistant answers N_ANSWERS turns (another voice each room), listening GAP between turns;
 * in the last turn the user interjects 1.5 s into the answer. Counts the self-interruptions. */
static void room_case(int delay_ms, float gain_db, const char *voice, Vad *vad, const float *user, int64_t user_n,
                      int64_t user_on, const char *dir, int *ret_self, int *ret_turns)
{
    char err[256];
    float *turn[N_ANSWERS];
    int64_t turn_n[N_ANSWERS], total = 0, t0[N_ANSWERS];
    for (int i = 0; i < N_ANSWERS; i++) {
        turn[i] = say(dir, voice, k_answers[i], &turn_n[i]);
        CHECK(turn[i] != NULL);
        if (!turn[i])
            turn_n[i] = 0;
        t0[i] = total;
        total += turn_n[i] + GAP;
    }
    float *spk = calloc((size_t)total, sizeof(float)), mic[AEC_FRAME], clean[AEC_FRAME];
    for (int i = 0; i < N_ANSWERS; i++)
        if (turn[i])
            memcpy(spk + t0[i], turn[i], (size_t)turn_n[i] * sizeof(float));
    RoomUtterance u = {.at = t0[N_ANSWERS - 1] + SR * 3 / 2 - user_on, .pcm = user, .n = (size_t)user_n};
    int64_t onset = u.at + user_on, duck_at = -1, stop_at = -1;
    int self = 0, playing = -1;
    RoomSim *rs = NULL;
    Aec *aec = NULL;
    Endpoint *ep = NULL;
    Bargein b;

    CHECK_INT(room_sim_new(&(RoomConfig){.echo_delay_ms = delay_ms, .echo_gain_db = gain_db, .noise_dbfs = -65,
                                         .seed = (uint64_t)delay_ms, .utterances = &u, .n_utterances = 1},
                           &rs, err, sizeof(err)), 0);
    CHECK_INT(aec_new(&(AecConfig){.delay_samples = (delay_ms - 20) * SR / 1000}, &aec), 0);
    CHECK_INT(endpoint_new(vad, NULL, &ep), 0);
    bargein_init(&b, NULL);
    for (int64_t i = 0; rs && aec && ep && i + AEC_FRAME <= total; i += AEC_FRAME) {
        int k = -1;
        for (int t = 0; t < N_ANSWERS; t++)
            if (i >= t0[t] && i < t0[t] + turn_n[t] + ECHO_GUARD)
                k = t; /* a turn plays (and its echo tail dies out) */
        if (k != playing) {
            if (k >= 0 && stop_at < 0)
                bargein_playback_started(&b);
            else
                bargein_playback_ended(&b);
            endpoint_set_playback(ep, k >= 0);
            playing = k;
        }
        const float *out = stop_at >= 0 ? NULL : spk + i; /* STOP flushes playback */
        EndpointEvent ev;
        room_sim_process(rs, out, mic, AEC_FRAME);
        if (out)
            aec_playback(aec, i, out, AEC_FRAME);
        aec_capture(aec, i, mic, clean);
        endpoint_feed(ep, clean, AEC_FRAME, &ev);
        bargein_set_erle(&b, aec_erle_db(aec));
        int64_t now = i + AEC_FRAME;
        BargeinAction a = bargein_on_event(&b, &ev, now);
        if (a == BARGEIN_NONE)
            a = bargein_tick(&b, now);
        if ((a == BARGEIN_DUCK || (ev.type == ENDPOINT_EVENT_START && k < 0)) && now < u.at)
            self++; /* a duck during playback, or speech "heard" in a gap: the assistant's own voice */
        if (a == BARGEIN_DUCK && now >= u.at && duck_at < 0)
            duck_at = now;
        if (a == BARGEIN_STOP && stop_at < 0)
            stop_at = now;
    }
    fprintf(stderr, "room %2d ms %5.1f dB (%s, %s VAD): %d self-interruptions over %d turns (%.0f s); user: duck "
            "%.0f ms, stop %.0f ms after the onset; ERLE estimate %.1f dB\n", delay_ms, gain_db, voice,
            vad_is_silero(vad) ? "Silero" : "energy", self, N_ANSWERS, (double)total / SR,
            (duck_at - onset) * 1000.0 / SR, (stop_at - onset) * 1000.0 / SR, aec ? aec_erle_db(aec) : 0);
    CHECK_INT(self, 0);
    CHECK(duck_at >= onset && duck_at - onset <= 150 * SR / 1000);
    CHECK(stop_at > duck_at && stop_at - onset <= 800 * SR / 1000); /* 400 ms of speech + the pause after "Wait," */
    *ret_self += self;
    *ret_turns += N_ANSWERS;
    endpoint_free(ep);
    aec_free(aec);
    room_sim_free(rs);
    for (int i = 0; i < N_ANSWERS; i++)
        free(turn[i]);
    free(spk);
}

static void test_room(void)
{
    char err[256], models[4096], path[4200], dir[] = "/tmp/myna-bargein-XXXXXX";
    int64_t user_n = 0, on = 0;
    int self = 0, turns = 0;
    Vad *vad = NULL;

    if (!aec_available()) {
        fprintf(stderr, "room part skipped: no SpeexDSP\n");
        return;
    }
    if (system("command -v espeak-ng >/dev/null && command -v ffmpeg >/dev/null") != 0 || !mkdtemp(dir)) {
        fprintf(stderr, "room part skipped: no espeak-ng/ffmpeg\n");
        return;
    }
    float *user = say(dir, "en+m3", "Wait, stop, what about Italy?", &user_n);
    CHECK(user != NULL);
    for (int64_t i = 0; user && i < user_n; i++)
        user[i] *= 0.7f; /* the user a little quieter than the assistant's own voice at the microphone */
    while (user && on < user_n && fabsf(user[on]) < 0.01f)
        on++; /* the utterance's energy onset */
    paths_models_dir(models, sizeof(models));
    snprintf(path, sizeof(path), "%s/%s", models, VAD_MODEL_FILE);
    if (vad_new_silero(path, NULL, &vad, err, sizeof(err)) < 0)
        CHECK_INT(vad_new_energy(NULL, &vad), 0);
    static const struct { int delay_ms; float gain_db; const char *voice; } rooms[] = {
        {20, -6, "en-us"}, {40, -9, "en-us+f3"}, {80, -20, "en"}};
    for (size_t r = 0; user && vad && r < sizeof(rooms) / sizeof(rooms[0]); r++)
        room_case(rooms[r].delay_ms, rooms[r].gain_db, rooms[r].voice, vad, user, user_n, on, dir, &self, &turns);
    fprintf(stderr, "self-interruptions: %d over %d turns\n", self, turns);
    CHECK(turns >= 20);
    snprintf(path, sizeof(path), "rm -rf '%s'", dir);
    CHECK_INT(system(path), 0);
    vad_free(vad);
    free(user);
}

int main(void)
{
    test_script();
    test_room();
    return test_exit();
}
