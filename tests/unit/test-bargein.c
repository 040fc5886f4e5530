/* test-bargein.c — the barge-in state machine (speech/bargein.c), alone and in the simulated room.
 * Scripted events: a candidate ducks at once; START then speech lasting confirm_ms from the onset stops; a
 * candidate that is rejected un-ducks false_alarm_ms after its onset and playback goes on; foreign words
 * stop at once; nothing happens when not playing; bargein_heard_units counts the units whose span ended.
 * In the room (needs SpeexDSP, espeak-ng and ffmpeg, else that part is skipped): ≈ 20 s of assistant speech
 * (espeak-ng) played at −9 dB echo with the canceller and the endpointer in playback mode (Silero when
 * installed, else the energy VAD), the ERLE guard on — no DUCK before the user speaks (no self-interruption,
 * including the first second, before the canceller converged: half duplex there); then a user
 * question (another voice) injected over the playback 4 s before its end is ducked within 150 ms of its
 * energy onset and stopped (audio time, sample counters: no wall clock). */
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

static void test_room(void)
{
    char err[256], models[4096], path[4200], dir[] = "/tmp/myna-bargein-XXXXXX";
    int64_t play_n = 0, user_n = 0;
    if (system("command -v espeak-ng >/dev/null && command -v ffmpeg >/dev/null") != 0 || !mkdtemp(dir)) {
        fprintf(stderr, "room part skipped: no espeak-ng/ffmpeg\n");
        return;
    }
    float *play = say(dir, "en-us", "Paris is the capital of France. It lies on the river Seine, in the north of "
                      "the country. The city has about two million inhabitants, and the wider region more than "
                      "twelve million. It is known for its museums, its cafes and its long history. Many visitors "
                      "come every year to see the tower, the cathedral and the old streets by the river.", &play_n);
    float *user = say(dir, "en+m3", "Wait, stop, what about Italy?", &user_n), mic[AEC_FRAME], clean[AEC_FRAME];
    snprintf(path, sizeof(path), "rm -rf '%s'", dir);
    CHECK_INT(system(path), 0);
    CHECK(play && user);
    if (!play || !user)
        return;
    for (int64_t i = 0; i < user_n; i++)
        user[i] *= 0.7f; /* the user a little quieter than the assistant's own voice at the microphone */
    int64_t on = 0;
    while (on < user_n && fabsf(user[on]) < 0.01f)
        on++; /* the utterance's energy onset */
    RoomUtterance u = {.at = play_n - 4 * SR - on, .pcm = user, .n = (size_t)user_n};
    RoomSim *rs = NULL;
    Aec *aec = NULL;
    Vad *vad = NULL;
    Endpoint *ep = NULL;
    Bargein b;
    int64_t duck_at = -1, stop_at = -1, self_ducks = 0;

    if (aec_new(&(AecConfig){.delay_samples = 20 * SR / 1000}, &aec) < 0) {
        fprintf(stderr, "room part skipped: no SpeexDSP\n");
        free(play);
        free(user);
        return;
    }
    paths_models_dir(models, sizeof(models));
    snprintf(path, sizeof(path), "%s/%s", models, VAD_MODEL_FILE);
    if (vad_new_silero(path, NULL, &vad, err, sizeof(err)) < 0)
        CHECK_INT(vad_new_energy(NULL, &vad), 0);
    CHECK_INT(room_sim_new(&(RoomConfig){.echo_delay_ms = 40, .echo_gain_db = -9, .noise_dbfs = -65, .utterances = &u,
                                         .n_utterances = 1}, &rs, err, sizeof(err)), 0);
    CHECK_INT(endpoint_new(vad, NULL, &ep), 0);
    if (!rs || !ep)
        return;
    endpoint_set_playback(ep, 1);
    bargein_init(&b, NULL);
    bargein_playback_started(&b);
    for (int64_t i = 0; i < play_n && stop_at < 0; i += AEC_FRAME) {
        EndpointEvent ev;
        room_sim_process(rs, play + i, mic, AEC_FRAME);
        aec_playback(aec, i, play + i, AEC_FRAME);
        aec_capture(aec, i, mic, clean);
        endpoint_feed(ep, clean, AEC_FRAME, &ev);
        bargein_set_erle(&b, aec_erle_db(aec));
        int64_t now = i + AEC_FRAME;
        BargeinAction a = bargein_on_event(&b, &ev, now);
        if (a == BARGEIN_NONE)
            a = bargein_tick(&b, now);
        if (a == BARGEIN_DUCK && now < u.at)
            self_ducks++;
        if (a == BARGEIN_DUCK && now >= u.at && duck_at < 0)
            duck_at = now;
        if (a == BARGEIN_STOP)
            stop_at = now;
    }
    u.at += on; /* times below are from the energy onset */
    fprintf(stderr, "room (%s VAD): %lld self-ducks over %.0f s of playback; user at %.2f s: duck after %.0f ms, "
            "stop after %.0f ms (ERLE estimate %.1f dB)\n", vad_is_silero(vad) ? "Silero" : "energy",
            (long long)self_ducks, (double)u.at / SR, (double)u.at / SR, (duck_at - u.at) * 1000.0 / SR,
            (stop_at - u.at) * 1000.0 / SR, aec_erle_db(aec));
    CHECK_INT(self_ducks, 0);
    CHECK(duck_at >= u.at && duck_at - u.at <= 150 * SR / 1000);
    CHECK(stop_at > duck_at);
    endpoint_free(ep);
    vad_free(vad);
    aec_free(aec);
    room_sim_free(rs);
    free(play);
    free(user);
}

int main(void)
{
    test_script();
    test_room();
    return test_exit();
}
