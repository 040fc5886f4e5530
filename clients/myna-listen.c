/* myna-listen.c — `myna transcribe` (one file or stdin sent to the daemon's Transcribe as an fd) and
 * `myna listen`: capture (speech/audio-device.h), cut utterances with the endpointer (speech/endpoint.h:
 * VAD, 400 ms pre-roll so first words are kept, hangover) and send each as a 16 kHz WAV memfd to
 * Transcribe, printing transcripts in order. Not here: any model code — the daemon
 * runs Whisper.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "audio-device.h"
#include "endpoint.h"
#include "myna-client.h"
#include "paths.h"
#include "vad.h"

static int append_speech_options(sd_bus_message *m, const Opts *o)
{
    int r = sd_bus_message_open_container(m, 'a', "{sv}");
    if (r >= 0 && o->language)
        r = sd_bus_message_append(m, "{sv}", "language", "s", o->language);
    if (r >= 0 && o->no_timestamps)
        r = sd_bus_message_append(m, "{sv}", "timestamps", "b", 0);
    if (r >= 0)
        r = sd_bus_message_close_container(m);
    return r;
}

#define TRANSCRIBE_TIMEOUT_US (600ULL * 1000000ULL) /* long audio on a slow CPU */

int myna_cmd_transcribe(const Opts *o, sd_bus *bus, const char *file)
{
    sd_bus_message *m = NULL, *reply = NULL;
    sd_bus_error e = SD_BUS_ERROR_NULL;
    const char *text;
    int fd = !strcmp(file, "-") ? STDIN_FILENO : open(file, O_RDONLY | O_CLOEXEC);
    int r;

    if (fd < 0) {
        fprintf(stderr, "myna: %s: %s\n", file, strerror(errno));
        return EXIT_USAGE;
    }
    r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, OBJ_PATH, IFACE, "Transcribe");
    if (r >= 0)
        r = sd_bus_message_append(m, "h", fd); /* sd-bus sends a dup: the daemon reads the fd, never a path */
    if (r >= 0)
        r = append_speech_options(m, o);
    if (r >= 0)
        r = sd_bus_call(bus, m, TRANSCRIBE_TIMEOUT_US, &e, &reply);
    if (r >= 0)
        r = sd_bus_message_read(reply, "s", &text);
    if (fd != STDIN_FILENO)
        close(fd);
    if (r < 0) {
        int code = myna_report(&e, r, "Transcribe");
        sd_bus_error_free(&e);
        sd_bus_message_unref(m);
        sd_bus_message_unref(reply);
        return code;
    }
    if (o->json) {
        json_t *j = json_pack("{s:s}", "text", text);
        myna_print_json(j);
        json_decref(j);
    } else {
        printf("%s\n", text);
    }
    sd_bus_message_unref(m);
    sd_bus_message_unref(reply);
    return EXIT_OK;
}

/* One utterance as a 16 kHz mono s16le WAV in a memfd (the daemon decodes it like any file), with 0.3 s of
 * silence on each side: Whisper tiny misreads speech that starts on the window's first frame. */
enum { UTT_PAD = VAD_SAMPLE_RATE * 3 / 10 };
static int utterance_memfd(const float *pcm, size_t n)
{
    unsigned char h[44];
    uint32_t data = (uint32_t)((n + 2 * UTT_PAD) * 2), v;
    int fd = memfd_create("myna-utterance", MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    memcpy(h, "RIFF", 4);
    v = 36 + data;
    memcpy(h + 4, &v, 4); /* little-endian host (x86-64, aarch64) */
    memcpy(h + 8, "WAVEfmt ", 8);
    v = 16;
    memcpy(h + 16, &v, 4);
    uint16_t fmt[2] = {1, 1};
    memcpy(h + 20, fmt, 4);
    v = 16000;
    memcpy(h + 24, &v, 4);
    v = 32000;
    memcpy(h + 28, &v, 4);
    uint16_t ba[2] = {2, 16};
    memcpy(h + 32, ba, 4);
    memcpy(h + 36, "data", 4);
    memcpy(h + 40, &data, 4);
    int ok = write(fd, h, sizeof(h)) == (ssize_t)sizeof(h);
    static const int16_t silence[UTT_PAD];
    ok = ok && write(fd, silence, sizeof(silence)) == (ssize_t)sizeof(silence);
    int16_t buf[4096];
    for (size_t i = 0; ok && i < n; i += 4096) {
        size_t k = n - i < 4096 ? n - i : 4096;
        for (size_t t = 0; t < k; t++) {
            float x = pcm[i + t] * 32768.0f;
            buf[t] = (int16_t)(x > 32767.0f ? 32767 : x < -32768.0f ? -32768 : lrintf(x));
        }
        ok = write(fd, buf, k * 2) == (ssize_t)(k * 2);
    }
    ok = ok && write(fd, silence, sizeof(silence)) == (ssize_t)sizeof(silence);
    if (!ok || lseek(fd, 0, SEEK_SET) < 0) {
        close(fd);
        return -EIO;
    }
    return fd;
}

typedef struct {
    const Opts *o;
    int pending, failed;
    double start_s[64], end_s[64];
    unsigned head, tail;     /* replies come in order (the daemon transcribes one queue in order) */
} Listener;

static int on_transcript(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    Listener *l = userdata;
    const sd_bus_error *e = sd_bus_message_get_error(m);
    const char *text = "";
    unsigned k = l->head++ % 64;

    l->pending--;
    if (e) {
        fprintf(stderr, "myna: transcription failed: %s (%s)\n", e->message ? e->message : "", e->name);
        l->failed = myna_exit_code_for(e->name);
        return 0;
    }
    if (sd_bus_message_read(m, "s", &text) < 0 || !text[0])
        return 0;
    if (l->o->json) {
        json_t *j = json_pack("{s:f, s:f, s:s}", "start_s", l->start_s[k], "end_s", l->end_s[k], "text", text);
        myna_print_json(j);
        json_decref(j);
    } else {
        printf("%s\n", text);
    }
    fflush(stdout);
    return 0;
}

static volatile sig_atomic_t listen_stop;
static void on_listen_signal(int sig) { (void)sig; listen_stop = 1; }

/* Send one utterance (stream samples [start, start + n)) to Transcribe. */
static int send_utterance(sd_bus *bus, Listener *l, const float *pcm, int64_t start, int64_t n)
{
    sd_bus_message *m = NULL;
    if (n < VAD_CHUNK || l->pending >= 63)
        return 0;
    int fd = utterance_memfd(pcm, (size_t)n);
    if (fd < 0)
        return fd;
    int r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, OBJ_PATH, IFACE, "Transcribe");
    if (r >= 0)
        r = sd_bus_message_append(m, "h", fd);
    if (r >= 0)
        r = append_speech_options(m, l->o);
    if (r >= 0)
        r = sd_bus_call_async(bus, NULL, m, on_transcript, l, TRANSCRIBE_TIMEOUT_US);
    close(fd);
    sd_bus_message_unref(m);
    if (r >= 0) {
        unsigned k = l->tail++ % 64;
        l->start_s[k] = (double)start / VAD_SAMPLE_RATE;
        l->end_s[k] = (double)(start + n) / VAD_SAMPLE_RATE;
        l->pending++;
    }
    return r;
}

/* After an END event: the utterance the endpointer holds goes to Transcribe. */
static void send_current(sd_bus *bus, Listener *l, const Endpoint *ep)
{
    const float *pcm;
    int64_t start, n;
    if (endpoint_utterance(ep, &pcm, &start, &n) == 0 && send_utterance(bus, l, pcm, start, n) < 0)
        fprintf(stderr, "myna: could not send an utterance\n");
}

/* Skip a WAV header (RIFF … "data") when the input has one: the file device reads raw s16le. */
static int open_listen_input(const char *path)
{
    unsigned char h[12], ck[8];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (read(fd, h, 12) != 12 || memcmp(h, "RIFF", 4) || memcmp(h + 8, "WAVE", 4))
        return lseek(fd, 0, SEEK_SET) < 0 ? (close(fd), -EIO) : fd;
    while (read(fd, ck, 8) == 8) {
        uint32_t len;
        memcpy(&len, ck + 4, 4);
        if (!memcmp(ck, "fmt ", 4)) {
            unsigned char f[16];
            uint16_t fmt, ch, bits;
            uint32_t rate;
            if (len < 16 || read(fd, f, 16) != 16)
                break;
            memcpy(&fmt, f, 2);
            memcpy(&ch, f + 2, 2);
            memcpy(&rate, f + 4, 4);
            memcpy(&bits, f + 14, 2);
            if (fmt != 1 || ch != 1 || rate != 16000 || bits != 16) {
                close(fd);
                return -EMEDIUMTYPE;
            }
            len -= 16;
        } else if (!memcmp(ck, "data", 4)) {
            return fd;
        }
        if (lseek(fd, (off_t)len + (len & 1), SEEK_CUR) < 0)
            break;
    }
    close(fd);
    return -EBADMSG;
}

int myna_cmd_listen(const Opts *o, sd_bus *bus)
{
    AudioDeviceConfig dc = {.name = o->device, .sample_rate = VAD_SAMPLE_RATE, .capture = 1, .ring_seconds = 10};
    AudioDevice *dev = NULL;
    Vad *vad = NULL;
    Endpoint *ep = NULL;
    Listener l = {.o = o};
    char err[256] = "", models[4096];
    float frame[ENDPOINT_FRAME];
    size_t frame_len = 0;
    EndpointEvent ev;
    int in_fd = -1, r, code = EXIT_OK;
    struct sigaction sa;

    if (o->input) {
        in_fd = open_listen_input(o->input);
        if (in_fd < 0) {
            fprintf(stderr, "myna: %s: %s\n", o->input, in_fd == -EMEDIUMTYPE ? "listen --input needs 16 kHz mono "
                    "16-bit WAV (ffmpeg -i IN -ar 16000 -ac 1 OUT.wav) or raw s16le" : strerror(-in_fd));
            return EXIT_USAGE;
        }
        AudioFileDeviceConfig fc = {.capture_path = NULL, .capture_fd = in_fd, .playback_fd = -1,
                                    .speed = o->speed < 0 ? 1.0 : o->speed};
        r = audio_device_open_file(&dc, &fc, &dev, err, sizeof(err));
    } else {
        r = audio_device_open_portaudio(&dc, &dev, err, sizeof(err));
    }
    if (r < 0) {
        fprintf(stderr, "myna: cannot open the audio input: %s\n", err[0] ? err : strerror(-r));
        if (in_fd >= 0)
            close(in_fd);
        return EXIT_ERROR;
    }
    paths_models_dir(models, sizeof(models));
    /* endpoint.h defaults: 400 ms pre-roll before the onset the VAD reports, 400 ms hangover, 30 s cut */
    if ((r = vad_new_default(models, NULL, &vad)) < 0 || (r = endpoint_new(vad, NULL, &ep)) < 0 ||
        (r = audio_device_start(dev)) < 0) {
        fprintf(stderr, "myna: cannot start listening: %s\n", strerror(-r));
        code = EXIT_ERROR;
        goto out;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_listen_signal; /* no SA_RESTART: Ctrl-C ends the wait at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (!o->quiet)
        fprintf(stderr, "myna: listening (%s VAD)%s; Ctrl-C stops\n", vad_is_silero(vad) ? "Silero" : "energy",
                o->input ? "" : " — speak");
    while (!listen_stop) {
        int64_t n = audio_device_read(dev, frame + frame_len, ENDPOINT_FRAME - frame_len, 100);
        while (sd_bus_process(bus, NULL) > 0) {
        }
        if (n < 0)
            break; /* -ENODEV: end of the input file, or the device is gone */
        frame_len += (size_t)n;
        if (frame_len < ENDPOINT_FRAME)
            continue;
        frame_len = 0;
        endpoint_feed(ep, frame, ENDPOINT_FRAME, &ev);
        if (ev.type == ENDPOINT_EVENT_END)
            send_current(bus, &l, ep);
    }
    endpoint_flush(ep, &ev); /* end of input or Ctrl-C inside an utterance */
    if (ev.type == ENDPOINT_EVENT_END)
        send_current(bus, &l, ep);
    listen_stop = 0;
    while (l.pending > 0 && !listen_stop) { /* the transcripts still on their way; Ctrl-C again gives up */
        r = sd_bus_process(bus, NULL);
        if (r < 0)
            break;
        if (r == 0 && sd_bus_wait(bus, 500000) < 0)
            break;
    }
    if (l.failed)
        code = l.failed;
out:
    audio_device_close(dev);
    if (in_fd >= 0)
        close(in_fd);
    endpoint_free(ep);
    vad_free(vad);
    return code;
}
