/* ask-speak.c — an Ask's answer spoken while it streams (see ask-speak.h). */
#include "ask-speak.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clause.h"
#include "log.h"
#include "speak-impl.h"

typedef struct AskSpeech {
    Service *svc;
    void *session;            /* NULL once it closed: no more signals */
    const char *path, *owner; /* the session's */
    WorkerSession *ws;
    uint64_t id;              /* the Ask's request id */
    Job *ask;                 /* the Ask while its events may come (matched with id too) */
    SpeakJob *tmpl;           /* the options, the output fd (duplicated for each clause) */
    char *answer;
    size_t len, cap, pos;     /* pos: bytes of answer already given to clause jobs */
    Job *cur;                 /* the clause in synthesis/writing, NULL between clauses */
    uint32_t cur_base;        /* characters of the answer before cur's text */
    int llm_done, cancelled, started, failed;
    SpeakStats total;
    double t_request;
    struct AskSpeech *next;
} AskSpeech;

static AskSpeech *all;

static void emit(AskSpeech *as, EventKind kind, const SpeakStats *st, const char *reason)
{
    if (!as->session)
        return;
    Job fj;
    Event ev;
    memset(&fj, 0, sizeof(fj));
    memset(&ev, 0, sizeof(ev));
    fj.id = as->id;
    ev.kind = kind, ev.job = &fj, ev.reason = reason;
    if (st)
        ev.speak = *st;
    speak_deliver(as->svc->bus, as->path, as->owner, &ev);
}

static uint32_t utf8_chars(const char *t, size_t n)
{
    uint32_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)t[i] & 0xC0) != 0x80;
    return c;
}

static void as_free(AskSpeech *as)
{
    for (AskSpeech **p = &all; *p; p = &(*p)->next)
        if (*p == as) {
            *p = as->next;
            break;
        }
    if (as->tmpl && as->tmpl->to_speaker)
        atomic_store(&speak_speaker_busy, 0);
    speak_job_free(as->tmpl); /* closes the output: the reader sees its end */
    free(as->answer);
    free(as);
}

/* Nothing more will be said: close the output, SpeakingFinished, forget it. */
static void finish(AskSpeech *as, const char *reason)
{
    SpeakStats st = as->total;
    st.total_ms = worker_now_ms() - as->t_request;
    if (as->tmpl && as->tmpl->to_speaker)
        atomic_store(&speak_speaker_busy, 0);
    speak_job_free(as->tmpl); /* closes the output: the reader sees its end before SpeakingFinished */
    as->tmpl = NULL;
    emit(as, EV_FINISHED, &st, reason);
    log_debug("ask %llu: spoken (%s, %lld samples)", (unsigned long long)as->id, reason, (long long)st.samples);
    as_free(as);
}

/* A SPEAK job for answer[pos, end) on the session's worker session, writing into a copy of the output. */
static int submit_clause(AskSpeech *as, size_t end)
{
    const char *text = as->answer + as->pos;
    size_t len = end - as->pos;
    uint32_t base = utf8_chars(as->answer, as->pos);
    const char *t0 = text;
    as->pos = end;
    if (!clause_trim(&text, &len))
        return 0;
    base += utf8_chars(t0, (size_t)(text - t0));
    const SpeakJob *tp = as->tmpl;
    SpeakJob *sj = calloc(1, sizeof(*sj));
    Job *j = calloc(1, sizeof(*j));
    if (!sj || !j || !(sj->text = strndup(text, len))) {
        if (sj)
            free(sj->text);
        free(sj), free(j);
        return -ENOMEM;
    }
    memcpy(sj->voice_path, tp->voice_path, sizeof(sj->voice_path));
    memcpy(sj->speaker_spec, tp->speaker_spec, sizeof(sj->speaker_spec));
    sj->rate = tp->rate, sj->noise_scale = tp->noise_scale, sj->noise_w = tp->noise_w;
    sj->speaker = tp->speaker, sj->format = tp->format, sj->out_rate = tp->out_rate;
    sj->native_rate = tp->native_rate, sj->sock = tp->sock;
    sj->to_speaker = tp->to_speaker ? 2 : 0; /* 2: the busy flag stays ours */
    pthread_mutex_init(&sj->mu, NULL);
    pthread_cond_init(&sj->cond, NULL);
    sj->fd = tp->fd >= 0 ? fcntl(tp->fd, F_DUPFD_CLOEXEC, 3) : -1;
    j->kind = JOB_SPEAK;
    j->t_request = sj->t_request = worker_now_ms();
    j->ws = as->ws;
    j->id = ++as->svc->next_request;
    j->user = as;
    atomic_init(&j->cancel, 0);
    sj->cancel = &j->cancel;
    j->speak = sj;
    j->svc = as->svc;
    j->uid = as->ask ? as->ask->uid : 0;
    j->stage = STAGE_RUNNING;
    if (tp->fd >= 0 && sj->fd < 0) {
        int r = -errno;
        job_free(j);
        return r;
    }
    as->cur = j, as->cur_base = base;
    worker_submit(as->svc->worker, j);
    log_debug("ask %llu: speaking clause '%.60s'", (unsigned long long)as->id, sj->text);
    return 1;
}

/* Between clauses: the next complete one goes to synthesis, or the speech ends. */
static void advance(AskSpeech *as)
{
    while (!as->cur && !as->cancelled && !as->failed) {
        size_t end = clause_end(as->answer ? as->answer : "", as->pos, as->len, as->llm_done);
        if (!end)
            break;
        int r = submit_clause(as, end);
        if (r < 0) {
            log_warn("ask %llu: could not speak a clause: %s", (unsigned long long)as->id, strerror(-r));
            as->failed = 1;
        }
    }
    if (!as->cur && (as->cancelled || as->failed || (as->llm_done && as->pos >= as->len)))
        finish(as, as->cancelled ? "cancelled" : as->failed ? "failed" : "done");
}

int ask_speak_start(Service *s, Job *ask, SpeakJob *tmpl, void *session, const char *path, const char *owner)
{
    AskSpeech *as = calloc(1, sizeof(*as));
    if (!as) {
        speak_job_free(tmpl);
        return -ENOMEM;
    }
    if (tmpl->to_speaker)
        tmpl->to_speaker = 2; /* released by as_free, not by the template's free */
    as->svc = s, as->session = session, as->path = path, as->owner = owner;
    as->ws = ask->ws, as->id = ask->id, as->ask = ask, as->tmpl = tmpl;
    as->t_request = worker_now_ms();
    as->next = all;
    all = as;
    return 0;
}

static void on_clause_event(AskSpeech *as, Event *ev)
{
    const SpeakStats *st = &ev->speak;
    switch (ev->kind) {
    case EV_SPEAKING_STARTED:
        if (!as->started) {
            as->started = 1;
            emit(as, EV_SPEAKING_STARTED, NULL, NULL);
        }
        break;
    case EV_SPEECH_PROGRESS: {
        SpeakStats p = {.chars_played = as->cur_base + st->chars_played};
        emit(as, EV_SPEECH_PROGRESS, &p, NULL);
        break;
    }
    case EV_FINISHED:
        if (!as->total.samples && st->samples > 0)
            as->total.first_audio_ms = (ev->job->t_request - as->t_request) + st->first_audio_ms;
        as->total.samples += st->samples;
        as->total.sample_rate = st->sample_rate;
        as->total.sentences += st->sentences;
        as->total.underruns += st->underruns;
        as->total.synth_ms += st->synth_ms;
        as->total.queue_ms += st->queue_ms;
        as->total.chars_played = as->cur_base + st->chars_played;
        if (ev->reason && !strcmp(ev->reason, "cancelled"))
            as->cancelled = 1;
        break;
    case EV_FAILED:
        log_warn("ask %llu: synthesis failed: %s", (unsigned long long)as->id, ev->msg);
        as->failed = 1;
        break;
    default:
        break;
    }
}

int ask_speak_event(Service *s, Event *ev)
{
    (void)s;
    Job *j = ev->job;
    if (!j)
        return 0;
    for (AskSpeech *as = all; as; as = as->next)
        if (j == as->cur) {
            int final = ev->kind == EV_FINISHED || ev->kind == EV_FAILED;
            on_clause_event(as, ev);
            if (final) {
                as->cur = NULL;
                job_free(j);
                advance(as); /* may free as */
            }
            return 1;
        }
    return 0;
}

void ask_speak_answer(Service *s, const Event *ev)
{
    (void)s;
    Job *j = ev->job;
    if (!j || j->kind != JOB_ASK)
        return;
    for (AskSpeech *as = all; as; as = as->next) {
        if (j == as->ask && j->id == as->id) {
            if (ev->kind == EV_TOKEN) {
                size_t n = strlen(ev->text);
                if (as->len + n + 1 > as->cap) {
                    size_t cap = (as->len + n + 1) * 2;
                    char *a = realloc(as->answer, cap);
                    if (!a) {
                        as->failed = 1;
                        return;
                    }
                    as->answer = a, as->cap = cap;
                }
                memcpy(as->answer + as->len, ev->text, n + 1);
                as->len += n;
                advance(as);
            } else if (ev->kind == EV_FINISHED || ev->kind == EV_FAILED) {
                as->ask = NULL, as->llm_done = 1;
                if (ev->kind == EV_FINISHED && ev->reason && !strcmp(ev->reason, "cancelled"))
                    as->cancelled = 1;
                if (as->cancelled && as->cur)
                    atomic_store(&as->cur->cancel, 1);
                advance(as);
            }
            return;
        }
    }
}

static void stop(AskSpeech *as)
{
    as->cancelled = 1;
    as->ask = NULL;
    if (as->cur)
        atomic_store(&as->cur->cancel, 1); /* its final event ends the speech */
    else
        finish(as, "cancelled");
}

void ask_speak_cancel(Service *s, void *session, uint64_t id)
{
    (void)s;
    for (AskSpeech *as = all; as; as = as->next)
        if (as->id == id && as->session == session) {
            stop(as);
            return;
        }
}

void ask_speak_session_gone(Service *s, void *session)
{
    (void)s;
    for (AskSpeech *as = all, *next; as; as = next) {
        next = as->next;
        if (as->session == session) {
            as->session = NULL;
            stop(as);
        }
    }
}
