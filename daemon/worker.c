/* worker.c — the inference worker thread (see worker.h). Scheduling: every session with work is on an
 * active ring; one round gives each ring member one unit — the prefill of a new request, one decode
 * step, one Whisper window of its audio (speech-job.h) or one image / video frame (vision-job.h) — so
 * concurrent requests share the model token by token and a long transcription or a many-frame question never
 * holds it. Requests in one session run in order.
 * Not here: D-Bus, limits (the loop thread enforces them before submitting).
 */
#include "worker.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "speak-job.h"
#include "speech-job.h"
#include "vision-job.h"

struct WorkerSession {
    void *es;              /* engine session, created on first use (owned) */
    char *system_prompt;   /* owned, may be NULL */
    int system_pending;    /* add the system prompt before the next user message */
    Job *head, *tail;      /* this session's jobs, in order */
    int active;            /* on the ring */
    VisionFrames frames;   /* the first job's encoded frames (vision-job.h) */
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
    SpeechModel speech;       /* worker-private: Whisper, loaded on first use */
    SpeakModel *speak;        /* worker-private: the Piper voice in use (speak-job.h) */
    int round_units, round_blocked; /* this round: units run, SPEAK units waiting on their writer */
    _Atomic double beat_ms;   /* last heartbeat (worker_now_ms) */
};

double worker_now_ms(void)
{
    return clock_now_ms();
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

Event *worker_event_new(EventKind k, Job *j) { return event_new(k, j); }
void worker_post(Worker *w, Event *e) { post(w, e); }

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
    /* from the method call: intake, decoding and waiting for the user's turn count as queueing */
    e->stats.ttft_ms = j->t_first > 0 ? j->t_first - j->t_request : 0;
    e->stats.queue_ms = j->started ? j->t_start - j->t_request : now - j->t_request;
    e->stats.total_ms = now - j->t_request;
    post(w, e);
}

static void post_transcribed(Worker *w, Job *j)
{
    Event *e = event_new(EV_TRANSCRIBED, j);
    if (!e || !(e->result = strdup(j->transcript ? j->transcript : ""))) {
        free(e);
        log_error("worker: out of memory posting a transcript; request %llu is lost", (unsigned long long)j->id);
        return;
    }
    e->stats.audio_s = j->audio_s;
    e->stats.transcribe_ms = j->transcribe_ms;
    e->stats.total_ms = worker_now_ms() - j->t_request;
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
    int had_model_state = s->es != NULL;
    vision_frames_clear(w->engine, &s->frames);
    if (s->es && w->engine)
        w->engine->ops->session_free(s->es);
    free(s->system_prompt);
    free(s);
#ifdef __GLIBC__
    if (had_model_state) /* a session's buffers are freed in this thread's arena: give the pages back */
        malloc_trim(0);
#endif
}

/* Every visual attachment is of a kind the model takes (the loop checked too, when the model was loaded). */
static int check_kinds(const Engine *e, const Job *j, char *msg, size_t msg_len)
{
    for (int i = 0; i < j->n_att; i++) {
        if (j->att[i].kind == MEDIA_AUDIO) /* the daemon hears for every model: Whisper, then text */
            continue;
        if (!(e->media_kinds & (1u << j->att[i].kind)) || !e->ops->add_user_media) {
            engine_media_error(e, j->att[i].kind, msg, msg_len);
            return -EMEDIUMTYPE;
        }
    }
    return 0;
}

/* Queue the user turn with the decoded attachments (decode-pool.h did the decoding) and what the audio
 * attachments said (transcribed in earlier units, speech-job.h). The decoded frames are freed once the
 * engine has them. */
static int add_with_media(Worker *w, WorkerSession *s, Job *j, char *msg, size_t msg_len)
{
    const Engine *e = w->engine;
    MediaItem items[JOB_MAX_ATTACHMENTS];
    char why[224] = "", *spoken = NULL;
    int r, n = 0;

    if ((r = check_kinds(e, j, msg, msg_len)) < 0)
        return r;
    if (j->audio_inputs > 0 && speech_job_user_text(j, &spoken) < 0)
        return err_set(msg, msg_len, -ENOMEM, "out of memory");
    const char *text = spoken ? spoken : j->text;
    n = vision_job_items(j, items);
    if (n == 0) {
        r = e->ops->add_message(s->es, "user", text);
        free(spoken);
        if (r == -E2BIG)
            return err_set(msg, msg_len, r, "the question (with what the audio said) would exceed the context "
                                            "length; Reset() the session or send less");
        if (r < 0)
            return err_set(msg, msg_len, r, "could not add the message: %s", strerror(-r));
        return 0;
    }
    if (vision_job_ready(e, j, &s->frames)) { /* encoded one frame per unit before (vision-job.h) */
        r = e->ops->add_user_encoded(s->es, text, items, n, s->frames.frames, why, sizeof(why));
        vision_frames_clear(e, &s->frames);
    } else {
        int before = e->ops->images_encoded ? e->ops->images_encoded(s->es) : 0;
        r = e->ops->add_user_media(s->es, text, items, n, why, sizeof(why));
        if (e->ops->images_encoded)
            j->images_encoded = e->ops->images_encoded(s->es) - before;
    }
    if (r == -E2BIG)
        r = err_set(msg, msg_len, r, "%s; Reset() the session or send less", why);
    else if (r < 0)
        r = err_set(msg, msg_len, r, "%s", why);
    for (int i = 0; i < j->n_att; i++)
        media_item_free(&j->att[i].media);
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

/* Encode the next frame of j's visual attachments (vision-job.h), creating the model session first. */
static int vision_unit(Worker *w, WorkerSession *s, Job *j, char *msg, size_t msg_len)
{
    char *spoken = NULL;
    int r;

    if ((r = check_kinds(w->engine, j, msg, msg_len)) < 0)
        return r;
    if (!s->es) {
        if ((r = w->engine->ops->session_new(w->engine, &s->es)) < 0)
            return err_set(msg, msg_len, r, "could not create a model session: %s", strerror(-r));
        s->system_pending = s->system_prompt != NULL;
    }
    if (!s->frames.frames && j->audio_inputs > 0 && speech_job_user_text(j, &spoken) < 0)
        return err_set(msg, msg_len, -ENOMEM, "out of memory");
    r = vision_job_unit(w->engine, s->es, j, spoken ? spoken : j->text, &s->frames, msg, msg_len);
    free(spoken);
    return r;
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
    if (j->kind == JOB_TRANSCRIBE) { /* one window per unit; needs no language model */
        char msg[256];
        int r = atomic_load(&j->cancel) ? -ECANCELED : speech_job_unit(&w->speech, &w->cfg, j, msg, sizeof(msg));
        if (r == 0)
            return 0;
        pop_job(s); /* before posting: once posted, the loop may free the job */
        if (r == -ECANCELED)
            post_failed(w, j, r, "cancelled%s", NULL);
        else if (r < 0)
            post_failed(w, j, r, "%s", msg);
        else
            post_transcribed(w, j);
        return 1;
    }
    if (j->kind == JOB_SPEAK) { /* one encoder pass or one decoder window per unit; no language model */
        int r = atomic_load(&j->cancel) ? -ECANCELED : speak_job_unit(w, &w->speak, &w->cfg, j);
        w->round_blocked += r == SPEAK_BLOCKED;
        if (r == SPEAK_MORE || r == SPEAK_BLOCKED)
            return 0;
        pop_job(s); /* before posting: once posted, the loop may free the job */
        Event *e = event_new(r < 0 ? EV_FAILED : EV_FINISHED, j);
        speak_job_end(w->speak, j, e);
        if (!e)
            return 1;
        e->reason = r == -ECANCELED ? "cancelled" : "done";
        e->err = r == -ECANCELED ? 0 : r;
        if (r == -ECANCELED)
            e->kind = EV_FINISHED;
        else if (r < 0)
            snprintf(e->msg, sizeof(e->msg), "%s", speak_job_message(j));
        post(w, e);
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
        int r;
        if (speech_job_pending(j) > 0) { /* audio first, one window per unit */
            r = check_kinds(w->engine, j, msg, sizeof(msg));
            if (r >= 0 && (r = speech_job_unit(&w->speech, &w->cfg, j, msg, sizeof(msg))) >= 0)
                return 0; /* the prefill is the unit after the last window */
            pop_job(s);
            post_failed(w, j, r, "%s", msg);
            return 1;
        }
        if (vision_job_pending(w->engine, j, &s->frames)) { /* then one image / video frame per unit */
            if ((r = vision_unit(w, s, j, msg, sizeof(msg))) >= 0)
                return 0; /* the turn and its prefill are the unit after the last frame */
            pop_job(s);
            post_failed(w, j, r, "%s", msg);
            return 1;
        }
        r = ask_start(w, s, j, msg, sizeof(msg));
        if (r < 0) {
            pop_job(s);
            post_failed(w, j, r, "%s", msg);
            return 1;
        }
        /* the first token in the same unit as the prefill: a new request waits one round for it, not two */
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
        if (done) /* the first job left: its encoded frames, if any, go with it */
            vision_frames_clear(w->engine, &s->frames);
        w->round_units++;
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
            if (j->kind == JOB_SPEAK)
                speak_job_end(w->speak, j, NULL); /* its sentence in progress lives on the voice's backend */
            if (JOB_LOOP_OWNED(j->kind))
                post_failed(w, j, -ECANCELED, "the daemon is shutting down%s", NULL);
            else {
                close |= j->kind == JOB_CLOSE;
                job_free(j);
            }
        }
        s->active = 0;
        vision_frames_clear(w->engine, &s->frames); /* here: they hold the engine's backend memory */
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
        if (w->round_units > 0 && w->round_blocked == w->round_units && w->ring && !w->in_head) {
            /* every unit last round was a SPEAK waiting on its reader: nap 5 ms (a submission wakes it) */
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_nsec += 5000000;
            if (ts.tv_nsec >= 1000000000)
                ts.tv_sec++, ts.tv_nsec -= 1000000000;
            pthread_cond_timedwait(&w->cond, &w->mu, &ts);
            take_incoming(w);
        }
        w->round_units = w->round_blocked = 0;
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
    speech_model_free(&w->speech);
    speak_model_free(w->speak);
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
    j->t_request = worker_now_ms();
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
    j->t_request = worker_now_ms();
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
    if (!j)
        return;
    for (int i = 0; i < j->n_att; i++) {
        if (j->att[i].fd >= 0)
            close(j->att[i].fd);
        free(j->att[i].data);
        media_item_free(&j->att[i].media);
        audio_pcm_free(&j->att[i].pcm);
    }
    speech_job_clear(j);
    speak_job_free(j->speak);
    free(j->transcript);
    free(j->text);
    free(j);
}

int job_add_attachment(Job *j, MediaKind kind, int fd)
{
    if (j->n_att >= JOB_MAX_ATTACHMENTS) {
        close(fd);
        return -E2BIG;
    }
    memset(&j->att[j->n_att], 0, sizeof(j->att[0]));
    j->att[j->n_att].kind = kind;
    j->att[j->n_att++].fd = fd;
    return 0;
}
