/* myna-talk.c — `myna talk --input FILE --output FILE [--voice=NAME] [--duplex=auto|half|full]
 * [--speed=X]`: a scripted voice conversation (Session1.StartConversation, docs/DBUS.md). FILE is any audio
 * the client decodes (speech/audio.h) to 16 kHz mono; this program is the sound card: per 10 ms it writes
 * one input frame into the daemon's input pipe and reads the one output frame the daemon answers with,
 * appended to --output (a 16-bit mono 16 kHz WAV; the header is completed at the end). After the input ends
 * it feeds silence until the turn in progress was spoken, then 1.5 s more. It prints the state (listening /
 * thinking / speaking / interrupted), what the daemon heard and what it said. --speed: times real time
 * (default 1; 0 = as fast as possible). The daemon's own microphone and speaker are not wired yet.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audio.h"
#include "myna-client.h"

enum { FRAME = 160 };

typedef struct {
    int busy;                /* an utterance ended and its answer has not stopped yet */
    int failed, ended;
    int64_t idle_since;      /* frame when the last turn ended */
    int64_t frame;
    char answer[8192];
    size_t len;
} TalkState;

static void say_state(const char *s) { printf("[%s]\n", s), fflush(stdout); }

static int on_signal(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    TalkState *st = userdata;
    const char *member = sd_bus_message_get_member(m), *a, *b;
    uint64_t id;
    (void)e;
    if (!member)
        return 0;
    if (!strcmp(member, "UserSpeechEnded")) {
        st->busy = 1, st->len = 0, st->answer[0] = 0;
        say_state("thinking");
    } else if (!strcmp(member, "Heard") && sd_bus_message_read(m, "ts", &id, &a) >= 0) {
        printf("heard: %s\n", a);
    } else if (!strcmp(member, "Token") && sd_bus_message_read(m, "ts", &id, &a) >= 0) {
        size_t n = strlen(a);
        if (st->len + n < sizeof(st->answer))
            memcpy(st->answer + st->len, a, n + 1), st->len += n;
    } else if (!strcmp(member, "SpeakingStarted")) {
        say_state("speaking");
    } else if (!strcmp(member, "BargeIn")) {
        say_state("interrupted");
    } else if (!strcmp(member, "SpeakingStopped") && sd_bus_message_read(m, "tss", &id, &a, &b) >= 0) {
        printf("said: %s\n", b);
        if (!strcmp(a, "interrupted"))
            printf("(the whole answer was: %s)\n", st->answer);
        st->busy = 0, st->idle_since = st->frame;
        say_state("listening");
    } else if (!strcmp(member, "Failed") && sd_bus_message_read(m, "tss", &id, &a, &b) >= 0) {
        fprintf(stderr, "myna: talk: %s (%s)\n", b, a);
        st->busy = 0, st->idle_since = st->frame, st->failed = 1;
    } else if (!strcmp(member, "ConversationEnded") && sd_bus_message_read(m, "s", &a) >= 0) {
        st->ended = 1;
        if (strcmp(a, "input closed"))
            fprintf(stderr, "myna: talk: the conversation ended: %s\n", a);
    }
    fflush(stdout);
    return 0;
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

int myna_cmd_talk(const Opts *o, sd_bus *bus, int argc, char **argv)
{
    const char *in_path = NULL, *out_path = NULL, *voice = NULL, *duplex = NULL;
    double speed = 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--input") && i + 1 < argc)
            in_path = argv[++i];
        else if (!strncmp(a, "--input=", 8))
            in_path = a + 8;
        else if (!strcmp(a, "--output") && i + 1 < argc)
            out_path = argv[++i];
        else if (!strncmp(a, "--output=", 9))
            out_path = a + 9;
        else if (!strncmp(a, "--voice=", 8))
            voice = a + 8;
        else if (!strncmp(a, "--duplex=", 9))
            duplex = a + 9;
        else if (!strncmp(a, "--speed=", 8) && (speed = atof(a + 8)) >= 0)
            ;
        else {
            fprintf(stderr, "myna: talk: unknown argument '%s' (talk --input FILE --output FILE [--voice=NAME] "
                    "[--duplex=auto|half|full] [--speed=X])\n", a);
            return EXIT_USAGE;
        }
    }
    if (!in_path || !out_path) {
        fprintf(stderr, "myna: talk needs --input FILE and --output FILE (the daemon's microphone and speaker "
                "are not wired yet)\n");
        return EXIT_USAGE;
    }
    char err[256] = "";
    AudioPcm pcm = {0};
    AudioDecodeOptions ao;
    audio_decode_options_default(&ao);
    int fd = open(in_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || audio_decode_fd(fd, &ao, &pcm, err, sizeof(err)) < 0) {
        fprintf(stderr, "myna: talk: %s: %s\n", in_path, fd < 0 ? strerror(errno) : err);
        if (fd >= 0)
            close(fd);
        return EXIT_ERROR;
    }
    close(fd);
    FILE *out = fopen(out_path, "wb");
    if (!out) {
        fprintf(stderr, "myna: talk: %s: %s\n", out_path, strerror(errno));
        audio_pcm_free(&pcm);
        return EXIT_ERROR;
    }
    myna_wav_header(out, 16000, 0); /* completed at the end */

    sd_bus_error e = SD_BUS_ERROR_NULL;
    sd_bus_message *reply = NULL;
    const char *path;
    int code = EXIT_ERROR, in[2] = {-1, -1}, op[2] = {-1, -1};
    TalkState st = {0};
    int64_t written = 0;
    sd_bus_slot *slot = NULL;
    int r = sd_bus_call_method(bus, BUS_NAME, OBJ_PATH, IFACE, "CreateSession", &e, &reply, "a{sv}", 0);
    if (r < 0 || sd_bus_message_read(reply, "o", &path) < 0) {
        code = myna_report(&e, r, "CreateSession");
        goto done;
    }
    char spath[256];
    snprintf(spath, sizeof(spath), "%s", path);
    sd_bus_message_unref(reply), reply = NULL;
    if (sd_bus_match_signal(bus, &slot, BUS_NAME, spath, SESSION_IFACE, NULL, on_signal, &st) < 0 || pipe2(in, O_CLOEXEC) < 0 ||
        pipe2(op, O_CLOEXEC) < 0) {
        fprintf(stderr, "myna: talk: %s\n", strerror(errno));
        goto done;
    }
    sd_bus_message *m = NULL;
    r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, spath, SESSION_IFACE, "StartConversation");
    if (r >= 0)
        r = sd_bus_message_open_container(m, 'a', "{sv}");
    if (r >= 0)
        r = sd_bus_message_append(m, "{sv}{sv}", "input", "h", in[0], "output", "h", op[1]);
    if (r >= 0 && voice)
        r = sd_bus_message_append(m, "{sv}", "voice", "s", voice);
    if (r >= 0 && duplex)
        r = sd_bus_message_append(m, "{sv}", "duplex", "s", duplex);
    if (r >= 0)
        r = sd_bus_message_close_container(m);
    if (r >= 0)
        r = sd_bus_call(bus, m, 0, &e, NULL);
    sd_bus_message_unref(m);
    if (r < 0) {
        code = myna_report(&e, r, "StartConversation");
        goto done;
    }
    close(in[0]), close(op[1]);
    in[0] = op[1] = -1;
    (void)o;
    say_state("listening");
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int64_t pos = 0;
    const int64_t tail = 150, max_after = 120 * 100; /* 1.5 s idle at the end; at most 2 min after the input */
    for (;;) {
        int16_t fr[FRAME];
        for (int i = 0; i < FRAME; i++) {
            float v = pos < pcm.n_samples ? pcm.samples[pos] * 32768.0f : 0;
            fr[i] = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : lrintf(v));
            pos++;
        }
        if (write(in[1], fr, sizeof(fr)) != (ssize_t)sizeof(fr) || read_full(op[0], fr, sizeof(fr)) < 0) {
            fprintf(stderr, "myna: talk: the daemon closed the audio streams\n");
            break;
        }
        fwrite(fr, 2, FRAME, out);
        written += FRAME;
        st.frame++;
        while (sd_bus_process(bus, NULL) > 0)
            ;
        if (st.ended)
            break;
        int64_t after = pos - pcm.n_samples;
        if (after > 0 && !st.busy && st.frame - st.idle_since >= tail && after >= tail * FRAME)
            break;
        if (after > max_after * FRAME) {
            fprintf(stderr, "myna: talk: no end of the answer 2 minutes after the input\n");
            break;
        }
        if (speed > 0) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            double el = (now.tv_sec - t0.tv_sec) * 1e3 + (now.tv_nsec - t0.tv_nsec) / 1e6;
            double due = st.frame * 10.0 / speed;
            if (due > el)
                usleep((useconds_t)((due - el) * 1000));
        }
    }
    code = st.failed ? EXIT_ERROR : EXIT_OK;
done:
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0)
            close(in[i]);
        if (op[i] >= 0)
            close(op[i]);
    }
    if (fseek(out, 0, SEEK_SET) == 0)
        myna_wav_header(out, 16000, (uint64_t)written * 2); /* s16 mono */
    fclose(out);
    sd_bus_slot_unref(slot);
    sd_bus_error_free(&e);
    sd_bus_message_unref(reply);
    audio_pcm_free(&pcm);
    return code;
}
