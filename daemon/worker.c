/* worker.c — the inference worker thread (see worker.h). Scheduling: every session with work is on an
 * active ring; one round gives each ring member one unit — the prefill of a new request or one decode
 * step — so concurrent requests share the model token by token. Requests in one session run in order.
 * Not here: D-Bus, limits (the loop thread enforces them before submitting).
 */
#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "config.h" /* HAVE_FFMPEG */
#include "log.h"

struct WorkerSession {
    void *es;              /* engine session, created on first use (owned) */
    char *system_prompt;   /* owned, may be NULL */
    int system_pending;    /* add the system prompt before the next user message */
    Job *head, *tail;      /* this session's jobs, in order */
    int active;            /* on the ring */
    WorkerSession *ring_next;
};

struct Worker {
    WorkerConfig cfg;
    int no_model;
    pthread_t thread;
    int started;
    int efd;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    Job *in_head, *in_tail;   /* submitted, not yet picked up (mu) */
    Event *ev_head, *ev_tail; /* posted to the loop (mu) */
    int stop;                 /* (mu) */
    WorkerState state;        /* (mu) */
    char state_msg[512];      /* (mu) */
    Engine *engine;           /* owned by the thread; published when READY */
    WorkerSession *ring;      /* worker-private */
    Backend *whisper_be;      /* owned, worker-private: the speech model's backend (loaded on first use) */
    Whisper *whisper;         /* owned, worker-private */
    _Atomic double beat_ms;   /* last heartbeat (worker_now_ms) */
};

double worker_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void post(Worker *w, Event *e)
{
    uint64_t one = 1;

    e->next = NULL;
    pthread_mutex_lock(&w->mu);
    if (w->ev_tail)
        w->ev_tail->next = e;
    else
        w->ev_head = e;
    w->ev_tail = e;
    pthread_mutex_unlock(&w->mu);
    if (write(w->efd, &one, sizeof(one)) < 0) { /* EAGAIN: counter saturated, the loop wakes anyway */
    }
}

static void beat(Worker *w) { atomic_store(&w->beat_ms, worker_now_ms()); }

void event_free(Event *e)
{
    if (e) {
        free(e->result);
        free(e);
    }
}

static Event *event_new(EventKind k, Job *j)
{
    Event *e = calloc(1, sizeof(*e));
    if (e) {
        e->kind = k;
        e->job = j;
    }
    return e;
}

static void post_failed(Worker *w, Job *j, int err, const char *fmt, const char *detail)
{
    Event *e = event_new(EV_FAILED, j);
    if (!e) {
        log_error("worker: out of memory posting a failure; request %llu is lost", (unsigned long long)j->id);
        return;
    }
    e->err = err;
    snprintf(e->msg, sizeof(e->msg), fmt, detail ? detail : "");
    post(w, e);
}

static void post_finished(Worker *w, Job *j, const char *reason)
{
    Event *e = event_new(EV_FINISHED, j);
    double now = worker_now_ms();

    if (!e) {
        log_error("worker: out of memory posting a completion");
        return;
    }
    e->reason = reason;
    e->stats.prompt_tokens = j->stats.n_prompt;
    e->stats.generated_tokens = j->n_generated;
    e->stats.images_encoded = j->images_encoded;
    e->stats.audio_inputs = j->audio_inputs;
    e->stats.audio_s = j->audio_s;
    e->stats.transcribe_ms = j->transcribe_ms;
    if (j->transcript)
        e->result = strdup(j->transcript); /* NULL on ENOMEM: the stats just lack it */
    e->stats.prefill_ms = j->stats.prefill_ms;
    e->stats.decode_ms = j->started ? now - j->t_start - j->stats.prefill_ms : 0;
    if (e->stats.decode_ms < 0)
        e->stats.decode_ms = 0;
    e->stats.ttft_ms = j->t_first > 0 ? j->t_first - j->t_submit : 0;
    e->stats.queue_ms = j->started ? j->t_start - j->t_submit : now - j->t_submit;
    e->stats.total_ms = now - j->t_submit;
    post(w, e);
}

static void post_state(Worker *w, WorkerState st, const char *msg)
{
    pthread_mutex_lock(&w->mu);
    w->state = st;
    snprintf(w->state_msg, sizeof(w->state_msg), "%s", msg ? msg : "");
    pthread_mutex_unlock(&w->mu);
    Event *e = event_new(EV_STATE, NULL);
    if (e)
        post(w, e);
}

/* ---- per-session job execution ------------------------------------------------------------------------ */

static Job *pop_job(WorkerSession *s)
{
    Job *j = s->head;
    s->head = j->next;
    if (!s->head)
        s->tail = NULL;
    j->next = NULL;
    return j;
}

static void session_destroy(Worker *w, WorkerSession *s)
{
    if (s->es && w->engine)
        w->engine->ops->session_free(s->es);
    free(s->system_prompt);
    free(s);
}

/* ---- speech ------------------------------------------------------------------------------------------ */

void speech_options_default(SpeechOptions *o, int max_audio_bytes, int max_audio_seconds)
{
    memset(o, 0, sizeof(*o));
    whisper_options_default(&o->whisper);
    o->audio.sample_rate = AUDIO_DEFAULT_SAMPLE_RATE;
    o->audio.max_input_bytes = max_audio_bytes;
    o->audio.max_seconds = max_audio_seconds;
}

/* Decode fd and transcribe it. Codes for the client: -ENODEV NoModel (speech model not installed),
 * -EMEDIUMTYPE UnsupportedMedia (does not decode: the decoder's message), -E2BIG TooLarge (over a cap),
 * -EIO/-ENOMEM. *ret_text is malloc'd. */
static int transcribe_fd(Worker *w, int fd, const SpeechOptions *so, char **ret_text, double *ret_audio_s,
                         char *msg, size_t msg_len)
{
    const char *path = w->cfg.whisper_path;
    char why[224] = "";
    int r;

    if (access(path, R_OK) < 0)
        return err_set(msg, msg_len, -ENODEV, "speech model not installed (%.160s): run scripts/fetch-models",
                       path);
#if HAVE_FFMPEG
    AudioPcm pcm;
    r = audio_decode_fd(fd, &so->audio, &pcm, why, sizeof(why));
    if (r < 0) {
        int code = r == -ENOMEM ? r : r == -EFBIG || r == -ETIMEDOUT ? -E2BIG : r == -EIO ? -EIO : -EMEDIUMTYPE;
        return err_set(msg, msg_len, code, "audio: %s", why[0] ? why : strerror(-r));
    }
    if (!w->whisper) {
        double t0 = worker_now_ms();
        r = backend_new_by_name(w->cfg.backend, w->cfg.threads, &w->whisper_be, why, sizeof(why));
        if (r >= 0)
            r = whisper_load(path, w->whisper_be, &w->whisper, why, sizeof(why));
        if (r < 0) {
            backend_free(w->whisper_be);
            w->whisper_be = NULL;
            audio_pcm_free(&pcm);
            log_error("speech model %s: %s", path, why);
            return err_set(msg, msg_len, r == -ENOENT ? -ENODEV : -EIO, "speech model %.100s: %s", path, why);
        }
        log_info("speech model %s loaded in %.0f ms", path, worker_now_ms() - t0);
    }
    WhisperOptions o = so->whisper;
    o.language = so->language[0] ? so->language : NULL;
    char *text = NULL;
    r = whisper_transcribe(w->whisper, pcm.samples, (size_t)pcm.n_samples, &o, &text, NULL);
    if (ret_audio_s)
        *ret_audio_s = (double)pcm.n_samples / (pcm.sample_rate > 0 ? pcm.sample_rate : 16000);
    audio_pcm_free(&pcm);
    if (r == -E2BIG)
        return err_set(msg, msg_len, r, "audio: longer than %d s", WHISPER_MAX_SECONDS);
    if (r < 0)
        return err_set(msg, msg_len, r == -ENOMEM ? r : -EIO, "transcription failed: %s", strerror(-r));
    *ret_text = text;
    return 0;
#else
    (void)fd; (void)so; (void)ret_text; (void)ret_audio_s; (void)why; (void)r;
    return err_set(msg, msg_len, -EMEDIUMTYPE, "audio: this mynad was built without FFmpeg");
#endif
}

/* Transcribe the ASK's audio attachments in order and make the user text: the transcripts alone when the
 * text is empty, else the text, a blank line and the transcripts (docs/DBUS.md). */
static int transcribe_attachments(Worker *w, Job *j, char **ret_text, char *msg, size_t msg_len)
{
    size_t cap = strlen(j->text ? j->text : "") + 1, len = 0;
    char *all = NULL;
    double t0 = worker_now_ms();
    int r;

    for (int i = 0; i < j->n_att; i++) {
        if (j->att[i].kind != MEDIA_AUDIO)
            continue;
        char *t = NULL, why[200];
        double sec = 0;
        r = transcribe_fd(w, j->att[i].fd, &j->speech, &t, &sec, why, sizeof(why));
        if (r < 0) {
            free(all);
            return err_set(msg, msg_len, r, "attachment %d (audio): %s", i + 1, why);
        }
        size_t n = strlen(t);
        char *na = realloc(all, len + n + 2);
        if (!na) {
            free(t);
            free(all);
            return -ENOMEM;
        }
        all = na;
        if (len)
            all[len++] = ' ';
        memcpy(all + len, t, n + 1);
        len += n;
        free(t);
        j->audio_inputs++;
        j->audio_s += sec;
    }
    j->transcribe_ms = worker_now_ms() - t0;
    if (!all)
        return 0;
    free(j->transcript);
    j->transcript = all;
    const char *text = j->text && j->text[0] ? j->text : NULL;
    char *out = malloc(cap + len + 2);
    if (!out)
        return -ENOMEM;
    snprintf(out, cap + len + 2, "%s%s%s", text ? text : "", text ? "\n\n" : "", all);
    *ret_text = out;
    return 0;
}

static void run_transcribe(Worker *w, Job *j)
{
    char msg[256], *text = NULL;
    double sec = 0;
    int r = transcribe_fd(w, j->att[0].fd, &j->speech, &text, &sec, msg, sizeof(msg));

    if (r < 0) {
        post_failed(w, j, r, "%s", msg);
        return;
    }
    Event *e = event_new(EV_TRANSCRIBED, j);
    if (!e) {
        free(text);
        log_error("worker: out of memory posting a transcript; request %llu is lost", (unsigned long long)j->id);
        return;
    }
    e->result = text;
    e->stats.audio_s = sec;
    e->stats.total_ms = worker_now_ms() - j->t_submit;
    post(w, e);
}

/* Decode the attachments (here, not on the loop thread: decoding can take a while) and queue the user turn
 * with them. Errors are mapped for the client: UnsupportedMedia (-EMEDIUMTYPE) for a kind the model does not
 * take or a file that does not decode, TooLarge (-E2BIG) over a cap, InvalidArgument for a tag mismatch. */
static int add_with_media(Worker *w, WorkerSession *s, Job *j, char *msg, size_t msg_len)
{
    const Engine *e = w->engine;
    MediaItem items[JOB_MAX_ATTACHMENTS];
    char why[224] = "", *spoken = NULL;
    int r = 0, n = 0, n_visual = 0;

    memset(items, 0, sizeof(items));
    for (int i = 0; i < j->n_att; i++) {
        if (j->att[i].kind == MEDIA_AUDIO) /* the daemon hears for every model: Whisper, then text */
            continue;
        n_visual++;
        if (!(e->media_kinds & (1u << j->att[i].kind)) || !e->ops->add_user_media) {
            engine_media_error(e, j->att[i].kind, msg, msg_len);
            return -EMEDIUMTYPE;
        }
    }
    if (n_visual < j->n_att && (r = transcribe_attachments(w, j, &spoken, msg, msg_len)) < 0)
        return r;
    const char *text = spoken ? spoken : j->text;
    if (n_visual == 0) {
        r = e->ops->add_message(s->es, "user", text);
        free(spoken);
        if (r == -E2BIG)
            return err_set(msg, msg_len, r, "the question (with what the audio said) would exceed the context "
                                            "length; Reset() the session or send less");
        if (r < 0)
            return err_set(msg, msg_len, r, "could not add the message: %s", strerror(-r));
        return 0;
    }
    for (int i = 0; i < j->n_att; i++) {
        if (j->att[i].kind == MEDIA_AUDIO)
            continue;
        r = media_decode_fd(j->att[i].fd, j->att[i].kind, &j->media_limits, &items[n], why, sizeof(why));
        if (r < 0) {
            int code = r == -ENOMEM ? r : media_error_is_too_large(r) ? -E2BIG : -EMEDIUMTYPE;
            err_set(msg, msg_len, code, "attachment %d (%s): %s", i + 1, media_kind_name(j->att[i].kind),
                    why[0] ? why : strerror(-r));
            r = code;
            goto out;
        }
        n++;
    }
    int before = e->ops->images_encoded ? e->ops->images_encoded(s->es) : 0;
    r = e->ops->add_user_media(s->es, text, items, n, why, sizeof(why));
    if (e->ops->images_encoded)
        j->images_encoded = e->ops->images_encoded(s->es) - before;
    if (r == -E2BIG)
        r = err_set(msg, msg_len, r, "%s; Reset() the session or send less", why);
    else if (r < 0)
        r = err_set(msg, msg_len, r == -EMEDIUMTYPE || r == -EINVAL || r == -ENOMEM ? r : -EIO, "%s", why);
out:
    for (int i = 0; i < n; i++)
        media_item_free(&items[i]);
    free(spoken);
    return r;
}

/* Start an ASK: queue the turn and prefill. Returns 0, or a negative errno with msg filled. */
static int ask_start(Worker *w, WorkerSession *s, Job *j, char *msg, size_t msg_len)
{
    const EngineOps *ops = w->engine->ops;
    int r;

    j->t_start = worker_now_ms();
    if (!s->es) {
        r = ops->session_new(w->engine, &s->es);
        if (r < 0)
            return err_set(msg, msg_len, r, "could not create a model session: %s", strerror(-r));
        s->system_pending = s->system_prompt != NULL;
    }
    if (s->system_pending) {
        r = ops->add_message(s->es, "system", s->system_prompt);
        if (r == -E2BIG)
            return err_set(msg, msg_len, r, "the system prompt does not fit the context");
        if (r < 0)
            return err_set(msg, msg_len, r, "could not add the system prompt: %s", strerror(-r));
        s->system_pending = 0;
    }
    if (j->n_att > 0) {
        if ((r = add_with_media(w, s, j, msg, msg_len)) < 0)
            return r;
    } else {
        r = ops->add_message(s->es, "user", j->text);
    }
    if (r == -E2BIG)
        return err_set(msg, msg_len, r, "the conversation would exceed the context length; Reset() the "
                                        "session or send a shorter message");
    if (r < 0)
        return err_set(msg, msg_len, r, "could not add the message: %s", strerror(-r));
    r = ops->prefill(s->es, &j->stats);
    if (r < 0)
        return err_set(msg, msg_len, r, "prefill failed: %s", strerror(-r));
    j->stats.prefill_ms = worker_now_ms() - j->t_start;
    j->started = 1;
    return 0;
}

/* One unit of work for the session's first job. Returns 1 when that job left the queue. */
static int session_unit(Worker *w, WorkerSession *s)
{
    Job *j = s->head;

    if (j->kind == JOB_RESET) {
        if (s->es && w->engine)
            w->engine->ops->session_reset(s->es);
        s->system_pending = s->system_prompt != NULL;
        job_free(pop_job(s));
        return 1;
    }
    if (j->kind == JOB_CLOSE)
        return 1; /* the caller frees the session with its job */
    if (j->kind == JOB_TRANSCRIBE) { /* one unit: needs no language model */
        pop_job(s);
        if (atomic_load(&j->cancel))
            post_failed(w, j, -ECANCELED, "cancelled%s", NULL);
        else
            run_transcribe(w, j);
        return 1;
    }
    if (!w->engine) {
        pop_job(s); /* before posting: once posted, the loop may free the job */
        post_failed(w, j, -ENODEV, "no model is loaded%s", NULL);
        return 1;
    }
    if (atomic_load(&j->cancel)) {
        pop_job(s);
        post_finished(w, j, "cancelled");
        return 1;
    }
    if (!j->started) {
        char msg[256];
        int r = ask_start(w, s, j, msg, sizeof(msg));
        if (r < 0) {
            pop_job(s);
            post_failed(w, j, r, "%s", msg);
            return 1;
        }
        return 0;
    }
    if (j->n_generated >= j->sampling.max_tokens) {
        pop_job(s);
        post_finished(w, j, "length");
        return 1;
    }
    LmToken tok;
    int r = w->engine->ops->step(s->es, &j->sampling, j->n_generated, &tok);
    if (r < 0) {
        pop_job(s);
        post_failed(w, j, r, "decode failed: %s", strerror(-r));
        return 1;
    }
    if (tok.stop != LM_STOP_NONE) {
        pop_job(s);
        post_finished(w, j, lm_stop_name(tok.stop));
        return 1;
    }
    j->n_generated++;
    if (tok.len > 0) {
        Event *e = event_new(EV_TOKEN, j);
        if (e) {
            size_t n = tok.len < sizeof(e->text) - 1 ? tok.len : sizeof(e->text) - 1;
            memcpy(e->text, tok.text, n);
            e->text[n] = 0;
            if (j->t_first == 0)
                j->t_first = worker_now_ms();
            post(w, e);
        }
    }
    return 0;
}

static void ring_add(Worker *w, WorkerSession *s)
{
    if (s->active)
        return;
    s->active = 1;
    s->ring_next = NULL;
    WorkerSession **p = &w->ring;
    while (*p)
        p = &(*p)->ring_next;
    *p = s;
}

/* Move submitted jobs onto their sessions' queues. Called with mu held. */
static void take_incoming(Worker *w)
{
    Job *j = w->in_head;
    w->in_head = w->in_tail = NULL;
    while (j) {
        Job *next = j->next;
        WorkerSession *s = j->ws;
        j->next = NULL;
        if (s->tail)
            s->tail->next = j;
        else
            s->head = j;
        s->tail = j;
        ring_add(w, s);
        j = next;
    }
}

static void round_robin(Worker *w)
{
    WorkerSession **p = &w->ring;

    while (*p) {
        WorkerSession *s = *p;
        int done = session_unit(w, s);
        beat(w);
        if (done && s->head && s->head->kind == JOB_CLOSE) {
            /* a CLOSE at the front: the loop cancelled the jobs before it, so it is reached promptly */
            *p = s->ring_next;
            job_free(pop_job(s)); /* the loop submits nothing after CLOSE */
            session_destroy(w, s);
            continue;
        }
        if (!s->head) {
            s->active = 0;
            *p = s->ring_next;
            continue;
        }
        p = &s->ring_next;
    }
}

static void drain_on_stop(Worker *w)
{
    pthread_mutex_lock(&w->mu);
    take_incoming(w);
    pthread_mutex_unlock(&w->mu);
    while (w->ring) {
        WorkerSession *s = w->ring;
        w->ring = s->ring_next;
        int close = 0;
        while (s->head) {
            Job *j = pop_job(s);
            if (JOB_LOOP_OWNED(j->kind))
                post_failed(w, j, -ECANCELED, "the daemon is shutting down%s", NULL);
            else {
                close |= j->kind == JOB_CLOSE;
                job_free(j);
            }
        }
        s->active = 0;
        if (close)
            session_destroy(w, s);
    }
}

static void *worker_main(void *arg)
{
    Worker *w = arg;
    char err[512] = "";

    if (w->no_model) {
        post_state(w, WORKER_ERROR, "no model configured (--no-model)");
    } else {
        double t0 = worker_now_ms();
        Engine *e = NULL;
        int r = engine_load(w->cfg.model_path, w->cfg.backend, w->cfg.threads, w->cfg.n_ctx, w->cfg.mmap, &e, err,
                            sizeof(err));
        if (r < 0) {
            if (!err[0])
                snprintf(err, sizeof(err), "%.400s: %s", w->cfg.model_path, strerror(-r));
            log_error("model load failed: %s", err);
            post_state(w, WORKER_ERROR, err);
        } else {
            w->engine = e;
            log_info("model %s loaded in %.0f ms on %s", e->name, worker_now_ms() - t0, e->backend_desc);
            post_state(w, WORKER_READY, NULL);
        }
    }
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (!w->stop && !w->in_head && !w->ring) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += 1; /* wake once a second to show the watchdog this thread is alive */
            pthread_cond_timedwait(&w->cond, &w->mu, &ts);
            beat(w);
        }
        if (w->stop) {
            pthread_mutex_unlock(&w->mu);
            break;
        }
        take_incoming(w);
        pthread_mutex_unlock(&w->mu);
        round_robin(w);
    }
    drain_on_stop(w);
    return NULL;
}

int worker_start(const WorkerConfig *cfg, int no_model, Worker **ret)
{
    Worker *w = calloc(1, sizeof(*w));
    int r;

    if (!w)
        return -ENOMEM;
    w->cfg = *cfg;
    w->no_model = no_model;
    w->state = WORKER_LOADING;
    w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->efd < 0) {
        r = -errno;
        free(w);
        return r;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&w->beat_ms, worker_now_ms());
    r = -pthread_create(&w->thread, NULL, worker_main, w);
    if (r < 0) {
        close(w->efd);
        free(w);
        return r;
    }
    w->started = 1;
    *ret = w;
    return 0;
}

void worker_stop(Worker *w)
{
    if (!w || !w->started)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1; /* checked between rounds, i.e. within one token per active session */
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    w->started = 0;
}

void worker_free(Worker *w)
{
    if (!w)
        return;
    worker_stop(w);
    /* CLOSE/RESET jobs submitted after the thread ended (the service closes its sessions last) */
    for (Job *j = w->in_head, *next; j; j = next) {
        next = j->next;
        if (j->kind == JOB_CLOSE)
            session_destroy(w, j->ws);
        if (!JOB_LOOP_OWNED(j->kind)) /* ASK and TRANSCRIBE jobs belong to the loop */
            job_free(j);
    }
    w->in_head = w->in_tail = NULL;
    Event *e = worker_take_events(w);
    while (e) {
        Event *n = e->next;
        event_free(e);
        e = n;
    }
    engine_free(w->engine);
    whisper_free(w->whisper);
    backend_free(w->whisper_be);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cond);
    close(w->efd);
    free(w);
}

int worker_event_fd(const Worker *w) { return w->efd; }

Event *worker_take_events(Worker *w)
{
    uint64_t v;
    if (read(w->efd, &v, sizeof(v)) < 0) { /* EAGAIN: nothing counted, the list may still hold events */
    }
    pthread_mutex_lock(&w->mu);
    Event *e = w->ev_head;
    w->ev_head = w->ev_tail = NULL;
    pthread_mutex_unlock(&w->mu);
    return e;
}

WorkerState worker_state(Worker *w, char *msg, size_t msg_len)
{
    pthread_mutex_lock(&w->mu);
    WorkerState st = w->state;
    if (msg && msg_len)
        snprintf(msg, msg_len, "%s", w->state_msg);
    pthread_mutex_unlock(&w->mu);
    return st;
}

double worker_heartbeat_age_ms(Worker *w)
{
    return worker_now_ms() - atomic_load(&w->beat_ms);
}

const Engine *worker_engine(Worker *w)
{
    return worker_state(w, NULL, 0) == WORKER_READY ? w->engine : NULL;
}

WorkerSession *worker_session_new(const char *system_prompt)
{
    WorkerSession *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    if (system_prompt && *system_prompt) {
        s->system_prompt = strdup(system_prompt);
        if (!s->system_prompt) {
            free(s);
            return NULL;
        }
    }
    return s;
}

void worker_session_discard(WorkerSession *ws)
{
    if (ws) {
        free(ws->system_prompt);
        free(ws);
    }
}

void worker_submit(Worker *w, Job *j)
{
    j->t_submit = worker_now_ms();
    j->next = NULL;
    pthread_mutex_lock(&w->mu);
    if (w->in_tail)
        w->in_tail->next = j;
    else
        w->in_head = j;
    w->in_tail = j;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
}

Job *job_new_ask(WorkerSession *ws, uint64_t id, const char *text, const LmSampling *sp, void *user)
{
    Job *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->kind = JOB_ASK;
    j->ws = ws;
    j->id = id;
    j->sampling = *sp;
    j->user = user;
    atomic_init(&j->cancel, 0);
    if (text) {
        j->text = strdup(text);
        if (!j->text) {
            free(j);
            return NULL;
        }
    }
    return j;
}

Job *job_new_transcribe(WorkerSession *ws, uint64_t id, int fd, const SpeechOptions *so, void *call)
{
    Job *j = calloc(1, sizeof(*j));
    if (!j) {
        close(fd);
        return NULL;
    }
    j->kind = JOB_TRANSCRIBE;
    j->ws = ws;
    j->id = id;
    j->speech = *so;
    j->call = call;
    atomic_init(&j->cancel, 0);
    j->att[0].kind = MEDIA_AUDIO;
    j->att[0].fd = fd;
    j->n_att = 1;
    return j;
}

void job_free(Job *j)
{
    if (j) {
        for (int i = 0; i < j->n_att; i++)
            close(j->att[i].fd);
        free(j->transcript);
        free(j->text);
        free(j);
    }
}

int job_add_attachment(Job *j, MediaKind kind, int fd)
{
    if (j->n_att >= JOB_MAX_ATTACHMENTS) {
        close(fd);
        return -E2BIG;
    }
    j->att[j->n_att].kind = kind;
    j->att[j->n_att++].fd = fd;
    return 0;
}
