/* speak-job.c — Speak on the inference worker (units of synthesis) and its writer thread (see speak-job.h). */
#include "speak-impl.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "audio-device.h"
#include "log.h"

#if HAVE_ESPEAK
#include "phonemize.h"
#include "vits-say.h"
#include "vits.h"
#include "voice.h"
#endif
#if HAVE_FFMPEG
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>
#endif

/* ---- the writer thread ------------------------------------------------------------------------------ */

atomic_int speak_speaker_busy;

/* The daemon's speaker for one request, opened by the writer (PortAudio, or the file twin for tests). */
static AudioDevice *speaker_open(SpeakJob *sj)
{
    AudioDeviceConfig c = {.sample_rate = sj->native_rate, .playback = 1, .ring_seconds = 1};
    AudioDevice *d = NULL;
    char why[160] = "";
    int r;
    if (!strncmp(sj->speaker_spec, "file:", 5)) {
        AudioFileDeviceConfig fc = {.capture_fd = -1, .playback_path = sj->speaker_spec + 5, .playback_fd = -1,
                                    .speed = 0};
        r = audio_device_open_file(&c, &fc, &d, why, sizeof(why));
    } else {
        c.name = sj->speaker_spec[0] ? sj->speaker_spec : NULL;
        r = audio_device_open_portaudio(&c, &d, why, sizeof(why));
    }
    if (r >= 0 && (r = audio_device_start(d)) < 0)
        snprintf(why, sizeof(why), "could not start playback");
    if (r < 0) {
        audio_device_close(d);
        pthread_mutex_lock(&sj->mu);
        sj->werr = -EMEDIUMTYPE;
        snprintf(sj->wmsg, sizeof(sj->wmsg), "speaker: %s%s", why[0] ? why : strerror(-r),
                 r == -ENOTSUP ? " (this build has no PortAudio; pass an output fd)" : "");
        pthread_mutex_unlock(&sj->mu);
        return NULL;
    }
    return d;
}

__attribute__((unused)) /* without espeak-ng nothing starts it */
static void *writer_main(void *arg)
{
    SpeakJob *sj = arg;
    double idle_since = worker_now_ms();
    static _Thread_local uint8_t chunk[65536];
    AudioDevice *dev = NULL;

    if (sj->to_speaker && !(dev = speaker_open(sj))) {
        pthread_mutex_lock(&sj->mu);
        goto out;
    }
    pthread_mutex_lock(&sj->mu);
    for (;;) {
        if (sj->stop || atomic_load(sj->cancel)) /* cancelled: what is queued is dropped */
            break;
        if (sj->q_head == sj->q_len) {
            if (sj->eof && dev) { /* play out what the device still holds */
                pthread_mutex_unlock(&sj->mu);
                int dr = audio_device_drain(dev, 30000);
                pthread_mutex_lock(&sj->mu);
                if (dr < 0) {
                    sj->werr = -EMEDIUMTYPE;
                    snprintf(sj->wmsg, sizeof(sj->wmsg), "speaker: %s", dr == -ENODEV ?
                             audio_device_lost_reason(dev) : "playback did not drain");
                }
            }
            if (sj->eof)
                break;
            pthread_cond_wait(&sj->cond, &sj->mu);
            idle_since = worker_now_ms();
            continue;
        }
        size_t n = sj->q_len - sj->q_head;
        if (n > sizeof(chunk))
            n = sizeof(chunk);
        memcpy(chunk, sj->q + sj->q_head, n); /* the worker may compact the queue while this writes */
        pthread_mutex_unlock(&sj->mu);
        struct pollfd pfd = {.fd = sj->fd, .events = POLLOUT};
        int pr = dev ? 1 : poll(&pfd, 1, 50); /* short: stop and cancel are seen within 50 ms */
        ssize_t k = -1;
        int e = 0;
        if (dev) {
            int64_t got = audio_device_write(dev, (const float *)chunk, n / sizeof(float), 50);
            k = got > 0 ? got * (ssize_t)sizeof(float) : got == 0 ? -1 : -1;
            e = got == 0 ? EAGAIN : got < 0 ? EIO : 0;
            if (got < 0) {
                pthread_mutex_lock(&sj->mu);
                sj->werr = -EMEDIUMTYPE;
                snprintf(sj->wmsg, sizeof(sj->wmsg), "speaker: %s", audio_device_lost_reason(dev));
                break;
            }
        } else if (pr > 0) {
            k = sj->sock ? send(sj->fd, chunk, n, MSG_DONTWAIT | MSG_NOSIGNAL) : write(sj->fd, chunk, n);
            e = k < 0 ? errno : 0;
        }
        pthread_mutex_lock(&sj->mu);
        if (k > 0) {
            sj->q_head += (size_t)k;
            sj->written += k;
            idle_since = worker_now_ms();
            if (sj->q_head == sj->q_len)
                sj->q_head = sj->q_len = 0;
            continue;
        }
        if (pr > 0 && k < 0 && e != EAGAIN && e != EINTR) {
            sj->werr = e == EPIPE ? -EPIPE : -EIO;
            snprintf(sj->wmsg, sizeof(sj->wmsg), "output: %s", e == EPIPE ? "the reader closed it" : strerror(e));
            break;
        }
        if (pr > 0 && (pfd.revents & (POLLERR | POLLHUP)) && k <= 0) {
            sj->werr = -EPIPE;
            snprintf(sj->wmsg, sizeof(sj->wmsg), "output: the reader closed it");
            break;
        }
        if (worker_now_ms() - idle_since > SPEAK_STALL_S * 1000.0) {
            sj->werr = -ETIMEDOUT;
            snprintf(sj->wmsg, sizeof(sj->wmsg), "output: the reader stopped reading for %d s", SPEAK_STALL_S);
            break;
        }
    }
out:
    if (sj->fd >= 0)
        close(sj->fd);
    sj->fd = -1;
    sj->done = 1;
    pthread_mutex_unlock(&sj->mu);
    audio_device_close(dev); /* cancelled: what the device still holds is dropped */
    return NULL;
}

/* Queue bytes for the writer (worker thread; the writer copies out under mu, so compacting here is safe).
 * q_cap is SPEAK_QUEUE_BYTES + one converted window: units stop while SPEAK_QUEUE_BYTES are queued. */
__attribute__((unused)) static int push(SpeakJob *sj, const uint8_t *b, size_t n)
{
    pthread_mutex_lock(&sj->mu);
    if (sj->q_head > 0) {
        memmove(sj->q, sj->q + sj->q_head, sj->q_len - sj->q_head);
        sj->q_len -= sj->q_head;
        sj->q_head = 0;
    }
    int r = 0;
    if (sj->q_len + n > sj->q_cap)
        r = -ENOBUFS; /* cannot happen: units stop at SPEAK_QUEUE_BYTES and a window is at most ocap */
    else {
        memcpy(sj->q + sj->q_len, b, n);
        sj->q_len += n;
        pthread_cond_signal(&sj->cond);
    }
    pthread_mutex_unlock(&sj->mu);
    return r;
}

void speak_job_free(void *p)
{
    SpeakJob *sj = p;
    if (!sj)
        return;
    if (sj->th_started) {
        pthread_mutex_lock(&sj->mu);
        sj->stop = 1;
        pthread_cond_signal(&sj->cond);
        pthread_mutex_unlock(&sj->mu);
        pthread_join(sj->th, NULL);
    }
    if (sj->fd >= 0)
        close(sj->fd);
    if (sj->to_speaker == 1) /* 2: an Ask's clause, whose AskSpeech holds the flag (ask-speak.c) */
        atomic_store(&speak_speaker_busy, 0);
    pthread_mutex_destroy(&sj->mu);
    pthread_cond_destroy(&sj->cond);
#if HAVE_FFMPEG
    swr_free(&sj->swr);
#endif
#if HAVE_ESPEAK
    phonemes_free(sj->ph);
#endif
    free(sj->q);
    free(sj->fbuf);
    free(sj->rbuf);
    free(sj->obuf);
    free(sj->marks);
    free(sj->text);
    free(sj);
}

const char *speak_job_message(const Job *j)
{
    const SpeakJob *sj = j->speak;
    return sj ? sj->msg : "";
}

/* ---- the worker side --------------------------------------------------------------------------------- */

#if HAVE_ESPEAK
typedef struct SpeakVoice {
    char path[4096];
    Voice *voice;
    Vits *vits;
    int refs;                /* jobs using it */
    struct SpeakVoice *next;
} SpeakVoice;

struct SpeakModel {
    Backend *be;
    SpeakVoice *voices;      /* loaded; unused ones are dropped when another is loaded */
};

static void voice_drop(SpeakVoice *sv)
{
    vits_free(sv->vits);
    voice_free(sv->voice);
    free(sv);
}

void speak_model_free(SpeakModel *sm)
{
    if (!sm)
        return;
    for (SpeakVoice *v = sm->voices, *n; v; v = n) {
        n = v->next;
        voice_drop(v);
    }
    backend_free(sm->be);
    free(sm);
}

/* The voice of sj, loaded (one unit) when no job has it loaded yet. */
static int voice_get(SpeakModel **smp, const WorkerConfig *cfg, SpeakJob *sj)
{
    char why[256] = "";
    int r;

    if (!*smp && !(*smp = calloc(1, sizeof(**smp))))
        return err_set(sj->msg, sizeof(sj->msg), -ENOMEM, "out of memory");
    SpeakModel *sm = *smp;
    for (SpeakVoice *v = sm->voices; v; v = v->next)
        if (!strcmp(v->path, sj->voice_path)) {
            v->refs++;
            sj->voice = v;
            return 0;
        }
    for (SpeakVoice **p = &sm->voices; *p;) { /* only one voice is kept while nobody speaks with it */
        SpeakVoice *v = *p;
        if (v->refs == 0) {
            *p = v->next;
            voice_drop(v);
        } else
            p = &v->next;
    }
    if (!sm->be && (r = backend_new_by_name(cfg->backend, cfg->threads, &sm->be, why, sizeof(why))) < 0)
        return err_set(sj->msg, sizeof(sj->msg), -EIO, "voice backend %s: %s", cfg->backend, why);
    SpeakVoice *v = calloc(1, sizeof(*v));
    if (!v)
        return err_set(sj->msg, sizeof(sj->msg), -ENOMEM, "out of memory");
    snprintf(v->path, sizeof(v->path), "%s", sj->voice_path);
    double t0 = worker_now_ms();
    r = voice_load(sm->be, v->path, NULL, &v->voice, why, sizeof(why));
    if (r >= 0)
        r = vits_new(sm->be, &v->voice->cfg, &v->voice->w, &v->vits, why, sizeof(why));
    if (r < 0) {
        voice_drop(v);
        log_error("voice %s: %s", sj->voice_path, why);
        return err_set(sj->msg, sizeof(sj->msg), r == -ENOENT ? -ENODEV : -EIO, "voice: %s", why);
    }
    log_info("voice %s loaded in %.0f ms", sj->voice_path, worker_now_ms() - t0);
    v->refs = 1;
    v->next = sm->voices;
    sm->voices = v;
    sj->voice = v;
    return 0;
}

static int mark_add(SpeakJob *sj, int64_t bytes, uint32_t chars)
{
    pthread_mutex_lock(&sj->mu);
    int r = 0;
    if (sj->n_marks == sj->cap_marks) {
        int cap = sj->cap_marks ? 2 * sj->cap_marks : 32;
        SpeakMark *m = realloc(sj->marks, (size_t)cap * sizeof(*m));
        if (!m)
            r = -ENOMEM;
        else
            sj->marks = m, sj->cap_marks = cap;
    }
    if (r == 0)
        sj->marks[sj->n_marks++] = (SpeakMark){bytes, chars};
    pthread_mutex_unlock(&sj->mu);
    return r;
}

/* Resample (when asked) and convert n floats at the voice's rate; queue them for the writer. */
static int emit(SpeakJob *sj, const float *pcm, int64_t n, int flush)
{
    const float *src = pcm;
    int64_t m = n;
#if HAVE_FFMPEG
    if (sj->swr) {
        const uint8_t *in = (const uint8_t *)pcm;
        uint8_t *out = (uint8_t *)sj->rbuf;
        int got = swr_convert(sj->swr, &out, (int)sj->rcap, flush ? NULL : &in, flush ? 0 : (int)n);
        if (got < 0)
            return err_set(sj->msg, sizeof(sj->msg), -EIO, "resampling to %d Hz failed", sj->out_rate);
        src = sj->rbuf;
        m = got;
    } else if (flush)
        return 0;
#else
    if (flush)
        return 0;
#endif
    size_t bytes = (size_t)m * (sj->format == SPEAK_F32LE ? 4 : 2);
    if (sj->format == SPEAK_F32LE)
        memcpy(sj->obuf, src, bytes); /* little-endian hosts (x86-64, aarch64) */
    else {
        int16_t *o = (int16_t *)sj->obuf;
        for (int64_t i = 0; i < m; i++) {
            float s = src[i];
            s = !(s >= -1.0f) ? -1.0f : s > 1.0f ? 1.0f : s;
            o[i] = (int16_t)lrintf(s * 32767.0f);
        }
    }
    if (m == 0)
        return 0;
    if (push(sj, sj->obuf, bytes) < 0)
        return err_set(sj->msg, sizeof(sj->msg), -ENOBUFS, "output queue overflow");
    sj->out_samples += m;
    return 0;
}

/* Buffers, the resampler and the writer, once the voice is known. */
static int prepare(SpeakJob *sj)
{
    const int hop = vits_hop(sj->voice->vits), rate = sj->voice->voice->cfg.sample_rate;
    const int64_t win = (int64_t)VITS_SAY_WINDOW * hop;
    if (sj->out_rate == rate)
        sj->out_rate = 0;
    sj->rcap = win * (sj->out_rate ? (int64_t)sj->out_rate : rate) / rate + 4096;
    sj->ocap = sj->rcap * 4;
    sj->q_cap = SPEAK_QUEUE_BYTES + (size_t)sj->ocap;
    sj->fbuf = malloc((size_t)win * sizeof(float));
    sj->rbuf = malloc((size_t)sj->rcap * sizeof(float));
    sj->obuf = malloc((size_t)sj->ocap);
    sj->q = malloc(sj->q_cap);
    if (!sj->fbuf || !sj->rbuf || !sj->obuf || !sj->q)
        return err_set(sj->msg, sizeof(sj->msg), -ENOMEM, "out of memory");
    if (sj->out_rate) {
#if HAVE_FFMPEG
        AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
        int r = swr_alloc_set_opts2(&sj->swr, &mono, AV_SAMPLE_FMT_FLT, sj->out_rate, &mono, AV_SAMPLE_FMT_FLT,
                                    rate, 0, NULL);
        if (r >= 0)
            r = swr_init(sj->swr);
        if (r < 0)
            return err_set(sj->msg, sizeof(sj->msg), -EIO, "resampler %d → %d Hz: setup failed", rate,
                           sj->out_rate);
#else
        return err_set(sj->msg, sizeof(sj->msg), -ENOTSUP, "sample_rate: this build has no libswresample");
#endif
    }
    int r = -pthread_create(&sj->th, NULL, writer_main, sj);
    if (r < 0)
        return err_set(sj->msg, sizeof(sj->msg), r, "could not start the output writer");
    sj->th_started = 1;
    return 0;
}

/* Characters of the text covered by sentence s's ids whose audio ends at or before native sample e. */
static uint32_t chars_at(const SpeakJob *sj, const PhonemeSentence *ps, int64_t e)
{
    const VitsUtt *u = sj->utt;
    uint32_t c = sj->chars_posted;
    for (int i = 0; i < ps->n_ids; i++) {
        int64_t s0, s1;
        vits_span(sj->voice->vits, u, i, &s0, &s1);
        if (s1 <= e && (uint32_t)ps->spans[i].char_end > c)
            c = (uint32_t)ps->spans[i].char_end;
    }
    return c;
}

static void post_progress(Worker *w, Job *j, SpeakJob *sj)
{
    uint32_t chars = sj->chars_posted;
    pthread_mutex_lock(&sj->mu);
    while (sj->next_mark < sj->n_marks && sj->marks[sj->next_mark].bytes <= sj->written)
        chars = sj->marks[sj->next_mark++].chars;
    pthread_mutex_unlock(&sj->mu);
    if (chars <= sj->chars_posted)
        return;
    sj->chars_posted = chars;
    Event *e = worker_event_new(EV_SPEECH_PROGRESS, j);
    if (e) {
        e->speak.chars_played = chars;
        worker_post(w, e);
    }
}

int speak_job_unit(Worker *w, SpeakModel **smp, const WorkerConfig *cfg, Job *j)
{
    SpeakJob *sj = j->speak;
    int r;

    if (sj->th_started) {
        pthread_mutex_lock(&sj->mu);
        int werr = sj->werr, done = sj->done;
        size_t queued = sj->q_len - sj->q_head;
        if (werr < 0)
            snprintf(sj->msg, sizeof(sj->msg), "%s", sj->wmsg);
        pthread_mutex_unlock(&sj->mu);
        if (werr < 0)
            return werr == -EPIPE ? -EPIPE : werr;
        post_progress(w, j, sj);
        if (sj->synth_done)
            return done ? SPEAK_DONE : SPEAK_BLOCKED;
        if (queued >= SPEAK_QUEUE_BYTES)
            return SPEAK_BLOCKED;
    }
    double t0 = worker_now_ms();
    if (j->t_start == 0)
        j->t_start = t0;
    if (!sj->voice) { /* first unit: the voice (loaded once), buffers, the writer */
        if ((r = voice_get(smp, cfg, sj)) < 0 || (r = prepare(sj)) < 0)
            return r;
        sj->synth_ms += worker_now_ms() - t0;
        return SPEAK_MORE;
    }
    Vits *v = sj->voice->vits;
    const int hop = vits_hop(v);
    if (!sj->ph) { /* second: the phonemes of the whole text */
        Phonemes *ph = NULL;
        char why[200] = "";
        if ((r = phonemize(sj->voice->voice, sj->text, &ph, why, sizeof(why))) < 0)
            return err_set(sj->msg, sizeof(sj->msg), r == -ENODEV ? -ENODEV : r, "text: %s", why);
        sj->ph = ph;
        sj->synth_ms += worker_now_ms() - t0;
        return SPEAK_MORE;
    }
    Phonemes *ph = sj->ph;
    if (!sj->utt) {
        if (sj->sentence >= ph->n_sentences) { /* all decoded: drain the resampler, let the writer finish */
            if ((r = emit(sj, NULL, 0, 1)) < 0)
                return r;
            mark_add(sj, sj->out_samples * (sj->format == SPEAK_F32LE ? 4 : 2),
                     ph->n_sentences ? (uint32_t)ph->sentences[ph->n_sentences - 1].span.char_end : 0);
            pthread_mutex_lock(&sj->mu);
            sj->eof = 1;
            pthread_cond_signal(&sj->cond);
            pthread_mutex_unlock(&sj->mu);
            sj->synth_done = 1;
            return SPEAK_BLOCKED;
        }
        /* one sentence's encoder pass (text encoder, durations, prior) */
        VitsParams p = vits_params_default(&sj->voice->voice->cfg);
        p.length_scale = (float)(p.length_scale / sj->rate);
        if (sj->noise_scale >= 0)
            p.noise_scale = (float)sj->noise_scale;
        if (sj->noise_w >= 0)
            p.noise_w = (float)sj->noise_w;
        p.speaker = sj->speaker;
        p.seed = (uint64_t)sj->sentence; /* as vits_say: seed 0 + sentence index */
        const PhonemeSentence *ps = &ph->sentences[sj->sentence];
        VitsUtt *u = NULL;
        char why[200] = "";
        if ((r = vits_encode(v, ps->ids, ps->n_ids, &p, &u, why, sizeof(why))) < 0)
            return err_set(sj->msg, sizeof(sj->msg), r, "synthesis: %s", why);
        sj->utt = u;
        sj->f0 = 0;
        sj->win = VITS_SAY_FIRST;
        sj->synth_ms += worker_now_ms() - t0;
        return SPEAK_MORE;
    }
    /* one HiFi-GAN window */
    VitsUtt *u = sj->utt;
    const PhonemeSentence *ps = &ph->sentences[sj->sentence];
    const int64_t f1 = sj->f0 + sj->win < u->frames ? sj->f0 + sj->win : u->frames, n = (f1 - sj->f0) * hop;
    char why[200] = "";
    if ((r = vits_decode(v, u, sj->f0, f1, sj->fbuf, why, sizeof(why))) < 0)
        return err_set(sj->msg, sizeof(sj->msg), r, "synthesis: %s", why);
    for (int64_t i = 0; i < n; i++)
        sj->fbuf[i] *= VITS_SAY_GAIN;
    if ((r = emit(sj, sj->fbuf, n, 0)) < 0)
        return r;
    uint32_t chars = f1 == u->frames ? (uint32_t)ps->span.char_end : chars_at(sj, ps, f1 * hop);
    mark_add(sj, sj->out_samples * (sj->format == SPEAK_F32LE ? 4 : 2), chars);
    sj->f0 = f1;
    sj->win = VITS_SAY_WINDOW;
    if (f1 == u->frames) {
        vits_utt_free(v, u);
        sj->utt = NULL;
        sj->sentence++;
        sj->n_sentences++;
    }
    sj->synth_ms += worker_now_ms() - t0;
    if (!sj->started) {
        sj->started = 1;
        sj->t_first = worker_now_ms();
        Event *e = worker_event_new(EV_SPEAKING_STARTED, j);
        if (e)
            worker_post(w, e);
    }
    return SPEAK_MORE;
}

void speak_job_end(SpeakModel *sm, Job *j, Event *e)
{
    SpeakJob *sj = j->speak;
    (void)sm;
    if (!sj)
        return;
    if (sj->utt) {
        vits_utt_free(sj->voice->vits, sj->utt);
        sj->utt = NULL;
    }
    if (sj->voice) {
        sj->voice->refs--;
        sj->voice = NULL;
    }
    if (sj->th_started && !sj->done) {
        pthread_mutex_lock(&sj->mu);
        sj->stop = 1; /* failed or cancelled: the writer drops the rest and closes the output */
        pthread_cond_signal(&sj->cond);
        pthread_mutex_unlock(&sj->mu);
    }
    if (!e)
        return;
    double now = worker_now_ms();
    pthread_mutex_lock(&sj->mu);
    int64_t written = sj->written;
    pthread_mutex_unlock(&sj->mu);
    e->speak.chars_played = sj->chars_posted;
    e->speak.sentences = sj->n_sentences;
    e->speak.sample_rate = sj->out_rate ? sj->out_rate : sj->native_rate;
    e->speak.samples = written / (sj->format == SPEAK_F32LE ? 4 : 2);
    e->speak.first_audio_ms = sj->t_first > 0 ? sj->t_first - sj->t_request : 0;
    e->speak.synth_ms = sj->synth_ms;
    e->speak.queue_ms = j->t_start > 0 ? j->t_start - sj->t_request : 0;
    e->speak.total_ms = now - sj->t_request;
}
#else /* no espeak-ng: speak_method refuses Speak; nothing reaches the worker */
void speak_model_free(SpeakModel *sm) { (void)sm; }
int speak_job_unit(Worker *w, SpeakModel **smp, const WorkerConfig *cfg, Job *j)
{
    (void)w, (void)smp, (void)cfg, (void)j;
    return -ENOTSUP;
}
void speak_job_end(SpeakModel *sm, Job *j, Event *e) { (void)sm, (void)j, (void)e; }
#endif
