/* conversation.c — the voice loop on the loop thread (see conversation.h). */
#include "conversation.h"
#include "conversation-start.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aec.h"
#include "bargein.h"
#include "clause.h"
#include "config.h"
#include "endpoint.h"
#include "errors.h"
#include "log.h"
#include "paths.h"
#include "service-impl.h"
#include "speak-impl.h"
#include "vad.h"

enum {
    CONV_FRAME = ENDPOINT_FRAME,         /* 160 samples, 10 ms */
    CONV_FRAME_BYTES = CONV_FRAME * 2,
    CONV_MAX_OUT_BYTES = 8 << 20,        /* output not taken by the client before we give up */
    CONV_MAX_JOBS = 256,
};

typedef struct Clause {
    Job *job;                /* the SPEAK job (NULL once its final event came) */
    int rfd;                 /* read end of the pipe the job writes into (-1 at EOF) */
    sd_event_source *src;
    uint8_t *buf;            /* s16le 16 kHz samples read from the pipe */
    size_t len, cap, head;   /* [head, len) not played yet */
    char *text;
    SpeakMark *marks;        /* copied from the job at its end: output bytes → characters heard */
    int n_marks;
    struct Clause *next;
} Clause;

typedef enum { CONV_LISTENING, CONV_THINKING, CONV_SPEAKING } ConvState;

struct Conversation {
    Service *svc;
    void *session;
    char path[96], owner[256];
    uid_t uid;
    WorkerSession *lm_ws, *tts_ws;
    LmSampling sampling;     /* the session's defaults, for every turn */
    int in_fd, out_fd, in_sock, out_sock;
    sd_event_source *in_src, *out_src;
    Vad *vad;
    Endpoint *ep;
    Aec *aec;
    char voice_path[4096];
    char duplex[8];
    uint8_t in_part[CONV_FRAME_BYTES];
    size_t in_have;
    int64_t pos;             /* samples read from the input = samples written to the output */
    uint8_t *obuf;           /* bytes for the output fd: [o_head, o_len) */
    size_t o_head, o_len, o_cap;
    ConvState state;
    Job *ask;                /* the LM turn in progress */
    uint64_t turn_id;
    int heard_sent, llm_done;
    char *answer;            /* the answer's text so far (malloc'd) */
    size_t answer_len, cut;  /* cut: bytes of answer already sent to synthesis */
    Clause *clauses, **clauses_tail;
    int64_t played_samples;  /* of this turn's answer */
    /* this turn's stage times, worker_now_ms */
    double t_end, t_heard, t_token, t_audio;
    int underruns;
    Bargein bg;
    int bargein_on;          /* duplex auto with echo cancellation, or full */
    float gain;              /* 1, or ≈ −12 dB while ducked */
    char *played;            /* text of the clauses played to their end this turn */
    size_t played_len;
    Conversation *next;
};

static Conversation *convs;
static struct { Job *job; Conversation *c; Clause *cl; } jobs[CONV_MAX_JOBS];
static int n_jobs;

/* ---- signals ---------------------------------------------------------------------------------------- */

static void emit(Conversation *c, const char *member, const char *sig, ...)
{
    sd_bus_message *msg = NULL;
    va_list ap;
    int r = sd_bus_message_new_signal(c->svc->bus, &msg, c->path, MYNA_SESSION_IFACE, member);
    if (r >= 0)
        r = sd_bus_message_set_destination(msg, c->owner);
    if (r >= 0 && sig) {
        va_start(ap, sig);
        r = sd_bus_message_appendv(msg, sig, ap);
        va_end(ap);
    }
    if (r >= 0)
        r = sd_bus_send(c->svc->bus, msg, NULL);
    sd_bus_message_unref(msg);
    if (r < 0)
        log_warn("%s: could not send %s to %s: %s", c->path, member, c->owner, strerror(-r));
}

static double since(double t0, double t) { return t0 > 0 && t > 0 ? t - t0 : -1; }

static void emit_turn_stats(Conversation *c)
{
    emit(c, "TurnStats", "ta{sv}", c->turn_id, 6, "transcript_ms", "d", since(c->t_end, c->t_heard),
         "first_token_ms", "d", since(c->t_end, c->t_token), "first_audio_ms", "d", since(c->t_end, c->t_audio),
         "audio_s", "d", c->played_samples / 16000.0, "underruns", "u", (uint32_t)c->underruns,
         "erle_db", "d", c->aec ? (double)aec_erle_db(c->aec) : 0.0);
}

/* ---- jobs --------------------------------------------------------------------------------------------- */

static int job_register(Job *j, Conversation *c, Clause *cl)
{
    if (n_jobs == CONV_MAX_JOBS)
        return -ENOBUFS;
    jobs[n_jobs].job = j, jobs[n_jobs].c = c, jobs[n_jobs].cl = cl;
    n_jobs++;
    return 0;
}

static void clause_free(Clause *cl)
{
    if (cl->job) /* still on the worker: its final event frees it (the registry forgets the clause) */
        atomic_store(&cl->job->cancel, 1);
    for (int i = 0; i < n_jobs; i++)
        if (jobs[i].cl == cl)
            jobs[i].cl = NULL, jobs[i].c = NULL;
    sd_event_source_disable_unref(cl->src);
    if (cl->rfd >= 0)
        close(cl->rfd);
    free(cl->buf);
    free(cl->text);
    free(cl->marks);
    free(cl);
}

static void append(char **buf, size_t *len, const char *t, size_t n)
{
    char *a = realloc(*buf, *len + n + 2);
    if (!a)
        return;
    if (*len && n)
        a[(*len)++] = ' ';
    memcpy(a + *len, t, n);
    *len += n;
    a[*len] = 0;
    *buf = a;
}

/* Bytes of cl->text heard once cl->head bytes of its audio were played: the speak job's marks (output
 * bytes → codepoints), from the job while it runs, else from the copy taken at its end. */
static size_t clause_heard_bytes(Clause *cl)
{
    uint32_t chars = 0;
    SpeakJob *sj = cl->job ? cl->job->speak : NULL;
    if (sj)
        pthread_mutex_lock(&sj->mu);
    const SpeakMark *mk = sj ? sj->marks : cl->marks;
    int n = sj ? sj->n_marks : cl->n_marks;
    int64_t b0 = 0, head = (int64_t)cl->head;
    int i;
    for (i = 0; i < n && mk[i].bytes <= head; i++)
        chars = mk[i].chars, b0 = mk[i].bytes;
    /* the marks are the decoder windows' ends (per-phoneme spans there, up to ≈ 3 s apart): in between,
     * linear in the played bytes */
    if (i < n && mk[i].bytes > b0 && mk[i].chars > chars)
        chars += (uint32_t)((double)(mk[i].chars - chars) * (double)(head - b0) / (double)(mk[i].bytes - b0));
    if (sj)
        pthread_mutex_unlock(&sj->mu);
    /* the marks follow the phonemizer's clauses (a clause's characters all count once its first window is
     * written): bound them by the share of the clause's audio played — all of it when synthesis is done,
     * else at ≈ 15 characters a second */
    size_t total = 0;
    for (const char *t = cl->text; *t; t++)
        total += ((unsigned char)*t & 0xC0) != 0x80;
    double share = cl->rfd < 0 && cl->len > 0 ? (double)total * (double)head / (double)cl->len
                                              : (double)head / (2.0 * 16000 / 15);
    if (share < chars)
        chars = (uint32_t)share;
    size_t b = 0;
    for (uint32_t k = 0; k < chars && cl->text[b]; k++) /* codepoints → bytes */
        for (b++; (cl->text[b] & 0xC0) == 0x80; b++)
            ;
    while (b > 0 && cl->text[b] && !isspace((unsigned char)cl->text[b])) /* back to a word's end */
        b--;
    return b;
}

#if HAVE_ESPEAK
static int on_clause_pipe(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
    Clause *cl = userdata;
    for (;;) {
        if (cl->cap - cl->len < 65536) {
            size_t cap = cl->cap ? cl->cap * 2 : 262144;
            uint8_t *b = realloc(cl->buf, cap);
            if (!b)
                return 0; /* try again on the next wakeup */
            cl->buf = b, cl->cap = cap;
        }
        ssize_t n = read(fd, cl->buf + cl->len, cl->cap - cl->len);
        if (n > 0) {
            cl->len += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        break; /* EOF (the writer closed it) or an error */
    }
    cl->src = sd_event_source_disable_unref(cl->src);
    close(cl->rfd);
    cl->rfd = -1;
    return 0;
}
#endif

/* One clause of the answer → a SPEAK job writing s16le 16 kHz into a pipe we drain. */
static int speak_clause(Conversation *c, const char *text, size_t len)
{
#if !HAVE_ESPEAK
    (void)c, (void)text, (void)len;
    return -ENODEV;
#else
    if (!clause_trim(&text, &len))
        return 0;
    int p[2];
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
        return -errno;
    Clause *cl = calloc(1, sizeof(*cl));
    SpeakJob *sj = calloc(1, sizeof(*sj));
    Job *j = calloc(1, sizeof(*j));
    if (!cl || !sj || !j || !(cl->text = strndup(text, len)) || !(sj->text = strndup(text, len))) {
        close(p[0]), close(p[1]);
        if (cl)
            free(cl->text);
        free(cl), free(j);
        if (sj)
            free(sj->text);
        free(sj);
        return -ENOMEM;
    }
    cl->rfd = p[0];
    sj->fd = p[1];
    sj->rate = 1.0;
    sj->noise_scale = sj->noise_w = -1;
    sj->format = SPEAK_S16LE;
    sj->out_rate = 16000;
    sj->native_rate = 16000; /* for its stats only; the loaded voice's rate is used for synthesis */
    snprintf(sj->voice_path, sizeof(sj->voice_path), "%s", c->voice_path);
    pthread_mutex_init(&sj->mu, NULL);
    pthread_cond_init(&sj->cond, NULL);
    j->kind = JOB_SPEAK;
    j->t_request = sj->t_request = worker_now_ms();
    j->ws = c->tts_ws;
    j->id = ++c->svc->next_request;
    j->user = c;
    atomic_init(&j->cancel, 0);
    sj->cancel = &j->cancel;
    j->speak = sj;
    j->svc = c->svc;
    j->uid = c->uid;
    j->stage = STAGE_RUNNING;
    cl->job = j;
    int r = sd_event_add_io(c->svc->event, &cl->src, cl->rfd, EPOLLIN, on_clause_pipe, cl);
    if (r < 0 || (r = job_register(j, c, cl)) < 0) {
        cl->job = NULL;
        job_free(j); /* closes p[1] */
        clause_free(cl);
        return r;
    }
    *c->clauses_tail = cl;
    c->clauses_tail = &cl->next;
    worker_submit(c->svc->worker, j);
    log_debug("%s: speaking clause '%.60s'", c->path, cl->text);
    return 0;
#endif
}

/* Send the answer's finished clauses (all of it when final) to synthesis. */
static void cut_clauses(Conversation *c, int final)
{
    for (;;) {
        size_t end = clause_end(c->answer, c->cut, c->answer_len, final);
        if (!end)
            return;
        int r = speak_clause(c, c->answer + c->cut, end - c->cut);
        if (r < 0)
            log_warn("%s: could not speak a clause: %s", c->path, strerror(-r));
        c->cut = end;
    }
}

/* ---- the turn ------------------------------------------------------------------------------------------ */

static void begin_turn(Conversation *c, const float *pcm, int64_t n)
{
    Service *s = c->svc;
    Job *j = job_new_ask(c->lm_ws, ++s->next_request, "", &c->sampling, c);
    if (!j || !(j->att[0].pcm.samples = malloc((size_t)n * sizeof(float)))) {
        job_free(j);
        log_error("%s: out of memory for an utterance", c->path);
        return;
    }
    memcpy(j->att[0].pcm.samples, pcm, (size_t)n * sizeof(float));
    j->att[0].pcm.n_samples = n;
    j->att[0].pcm.sample_rate = 16000;
    j->att[0].kind = MEDIA_AUDIO;
    j->att[0].fd = -1;
    j->n_att = 1;
    media_limits_default(&j->media_limits);
    speech_options_default(&j->speech, s->cfg.max_audio_bytes, s->cfg.max_audio_seconds);
    j->svc = s;
    j->uid = c->uid;
    j->stage = STAGE_RUNNING;
    j->t_request = worker_now_ms();
    if (job_register(j, c, NULL) < 0) {
        job_free(j);
        return;
    }
    c->ask = j;
    c->turn_id = j->id;
    c->state = CONV_THINKING;
    c->heard_sent = c->llm_done = 0;
    c->answer_len = c->cut = 0;
    c->played_samples = 0;
    c->t_heard = c->t_token = c->t_audio = 0;
    c->underruns = 0;
    worker_submit(s->worker, j);
}

static void send_heard(Conversation *c, Job *j)
{
    if (c->heard_sent)
        return;
    c->heard_sent = 1;
    c->t_heard = j->t_start > 0 ? j->t_start : worker_now_ms(); /* the worker starts the turn once transcribed */
    char *t = j->transcript ? j->transcript : "";
    service_utf8_sanitize(t);
    emit(c, "Heard", "ts", j->id, t);
}

static void append_answer(Conversation *c, const char *t)
{
    size_t n = strlen(t);
    char *a = realloc(c->answer, c->answer_len + n + 1);
    if (!a)
        return;
    memcpy(a + c->answer_len, t, n + 1);
    c->answer = a;
    c->answer_len += n;
}

static void turn_over(Conversation *c, const char *reason)
{
    if (c->state == CONV_SPEAKING) {
        char *heard = c->played ? c->played : "";
        service_utf8_sanitize(heard);
        emit(c, "SpeakingStopped", "tss", c->turn_id, reason, heard);
        emit_turn_stats(c);
    }
    c->state = CONV_LISTENING;
    c->played_len = 0;
    if (c->played)
        c->played[0] = 0;
    c->gain = 1;
    bargein_playback_ended(&c->bg);
    endpoint_set_playback(c->ep, 0);
}

/* Barge-in confirmed: stop synthesis and the LM, drop what was not played, say what was heard. The LM turn's
 * own end is no longer this conversation's (its Finished "cancelled" is not sent). */
static void interrupt(Conversation *c)
{
    if (c->clauses && c->clauses->head > 0) {
        Clause *cl = c->clauses;
        append(&c->played, &c->played_len, cl->text, clause_heard_bytes(cl));
    }
    while (c->clauses) {
        Clause *cl = c->clauses;
        c->clauses = cl->next;
        clause_free(cl);
    }
    c->clauses_tail = &c->clauses;
    if (c->ask) {
        atomic_store(&c->ask->cancel, 1);
        for (int i = 0; i < n_jobs; i++)
            if (jobs[i].job == c->ask)
                jobs[i].c = NULL;
        c->ask = NULL;
    }
    c->llm_done = 1;
    emit(c, "BargeIn", "t", c->turn_id);
    log_debug("%s: barge-in after %.2f s of the answer: '%.80s'", c->path, c->played_samples / 16000.0,
              c->played ? c->played : "");
    turn_over(c, "interrupted");
    if (endpoint_in_speech(c->ep))
        emit(c, "UserSpeechStarted", NULL);
}

static void bargein_apply(Conversation *c, BargeinAction a)
{
    if (a == BARGEIN_DUCK)
        c->gain = 0.25f; /* ≈ −12 dB */
    else if (a == BARGEIN_UNDUCK)
        c->gain = 1;
    else if (a == BARGEIN_STOP)
        interrupt(c);
}

/* ---- frames ------------------------------------------------------------------------------------------- */

static void flush_output(Conversation *c)
{
    while (c->o_head < c->o_len) {
        ssize_t n = c->out_sock ? send(c->out_fd, c->obuf + c->o_head, c->o_len - c->o_head,
                                       MSG_DONTWAIT | MSG_NOSIGNAL)
                                : write(c->out_fd, c->obuf + c->o_head, c->o_len - c->o_head);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        c->o_head += (size_t)n;
    }
    if (c->o_head == c->o_len)
        c->o_head = c->o_len = 0;
    sd_event_source_set_enabled(c->out_src, c->o_len ? SD_EVENT_ON : SD_EVENT_OFF);
}

/* The next 10 ms of the answer (or silence) into out; 1 when it held answer samples. */
static int next_play_frame(Conversation *c, float *out)
{
    int got = 0;
    memset(out, 0, CONV_FRAME * sizeof(float));
    while (got < CONV_FRAME && c->clauses) {
        Clause *cl = c->clauses;
        size_t avail = (cl->len - cl->head) / 2;
        if (avail == 0) {
            if (cl->rfd >= 0)
                break; /* still being synthesized */
            c->clauses = cl->next;
            if (!c->clauses)
                c->clauses_tail = &c->clauses;
            clause_free(cl);
            continue;
        }
        size_t take = avail < (size_t)(CONV_FRAME - got) ? avail : (size_t)(CONV_FRAME - got);
        const uint8_t *b = cl->buf + cl->head;
        for (size_t i = 0; i < take; i++)
            out[got + i] = (int16_t)(b[2 * i] | b[2 * i + 1] << 8) / 32768.0f;
        cl->head += take * 2;
        got += (int)take;
        if (cl->head == cl->len && cl->rfd < 0) {
            append(&c->played, &c->played_len, cl->text, strlen(cl->text));
            c->clauses = cl->next;
            if (!c->clauses)
                c->clauses_tail = &c->clauses;
            clause_free(cl);
        }
    }
    if (got > 0 && c->state != CONV_SPEAKING) {
        c->state = CONV_SPEAKING;
        c->t_audio = worker_now_ms();
        endpoint_set_playback(c->ep, 1);
        if (c->bargein_on)
            bargein_playback_started(&c->bg);
        emit(c, "SpeakingStarted", "t", c->turn_id);
    }
    if (got > 0)
        c->played_samples += got;
    else if (c->state != CONV_LISTENING && !c->clauses && c->llm_done)
        turn_over(c, "done"); /* played all of it (or synthesis gave nothing) */
    else if (c->state == CONV_SPEAKING)
        c->underruns++;
    return got > 0;
}

static void on_endpoint(Conversation *c, const EndpointEvent *ev)
{
    if (c->state != CONV_LISTENING) /* half duplex until barge-in lands */
        return;
    if (ev->type == ENDPOINT_EVENT_START) {
        emit(c, "UserSpeechStarted", NULL);
    } else if (ev->type == ENDPOINT_EVENT_END) {
        const float *pcm;
        int64_t start, n;
        c->t_end = worker_now_ms();
        emit(c, "UserSpeechEnded", NULL);
        if (endpoint_utterance(c->ep, &pcm, &start, &n) == 0 && n > 0)
            begin_turn(c, pcm, n);
    }
}

static void process_frame(Conversation *c, const uint8_t *b)
{
    float mic[CONV_FRAME], play[CONV_FRAME];
    int16_t o[CONV_FRAME];
    for (int i = 0; i < CONV_FRAME; i++)
        mic[i] = (int16_t)(b[2 * i] | b[2 * i + 1] << 8) / 32768.0f;
    next_play_frame(c, play);
    for (int i = 0; i < CONV_FRAME; i++) {
        play[i] *= c->gain; /* the reference is what is written: ducked too */
        float v = play[i] * 32768.0f;
        o[i] = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : lrintf(v));
    }
    if (c->aec) {
        aec_playback(c->aec, c->pos, play, CONV_FRAME);
        aec_capture(c->aec, c->pos, mic, mic);
    }
    if (c->o_len + sizeof(o) <= CONV_MAX_OUT_BYTES) {
        if (c->o_len + sizeof(o) > c->o_cap) {
            size_t cap = c->o_cap ? c->o_cap * 2 : 65536;
            uint8_t *nb = realloc(c->obuf, cap);
            if (nb)
                c->obuf = nb, c->o_cap = cap;
        }
        if (c->o_len + sizeof(o) <= c->o_cap) {
            for (int i = 0; i < CONV_FRAME; i++) /* s16le */
                c->obuf[c->o_len + 2 * i] = (uint8_t)(o[i] & 0xff),
                c->obuf[c->o_len + 2 * i + 1] = (uint8_t)((uint16_t)o[i] >> 8);
            c->o_len += sizeof(o);
        }
    }
    c->pos += CONV_FRAME;
    EndpointEvent ev;
    int got = endpoint_feed(c->ep, mic, CONV_FRAME, &ev) == 0 && ev.type != ENDPOINT_EVENT_NONE;
    if (c->state == CONV_SPEAKING && c->bargein_on) {
        bargein_set_erle(&c->bg, c->aec ? aec_erle_db(c->aec) : 100.0f);
        BargeinAction a = got ? bargein_on_event(&c->bg, &ev, c->pos) : BARGEIN_NONE;
        if (got && ev.type == ENDPOINT_EVENT_CANDIDATE)
            log_debug("%s: candidate while speaking at %.2f s (ERLE %.1f dB): %s", c->path, c->pos / 16000.0,
                      c->aec ? aec_erle_db(c->aec) : 0.0, a == BARGEIN_DUCK ? "duck" : a == BARGEIN_NONE ? "ignored"
                                                                                    : "other");
        if (a == BARGEIN_NONE)
            a = bargein_tick(&c->bg, c->pos);
        bargein_apply(c, a);
    } else if (got) {
        on_endpoint(c, &ev);
    }
}

static void conversation_free(Conversation *c, const char *reason);

static int on_input(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
    Conversation *c = userdata;
    uint8_t buf[16 * CONV_FRAME_BYTES];
    for (int rounds = 0; rounds < 8; rounds++) {
        ssize_t n = c->in_sock ? recv(fd, buf, sizeof(buf), MSG_DONTWAIT) : read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            conversation_free(c, n == 0 ? "input closed" : "input error");
            return 0;
        }
        size_t off = 0;
        while (off < (size_t)n) {
            size_t take = CONV_FRAME_BYTES - c->in_have;
            if (take > (size_t)n - off)
                take = (size_t)n - off;
            memcpy(c->in_part + c->in_have, buf + off, take);
            c->in_have += take, off += take;
            if (c->in_have == CONV_FRAME_BYTES) {
                process_frame(c, c->in_part);
                c->in_have = 0;
            }
        }
    }
    flush_output(c);
    if (c->o_len >= CONV_MAX_OUT_BYTES)
        conversation_free(c, "output not read");
    return 0;
}

static int on_output(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
    Conversation *c = userdata;
    if (revents & (EPOLLERR | EPOLLHUP)) {
        conversation_free(c, "output closed");
        return 0;
    }
    flush_output(c);
    return 0;
}

/* ---- start / stop ------------------------------------------------------------------------------------- */

static void conversation_free(Conversation *c, const char *reason)
{
    for (Conversation **p = &convs; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    if (reason)
        emit(c, "ConversationEnded", "s", reason);
    if (c->ask)
        atomic_store(&c->ask->cancel, 1);
    while (c->clauses) {
        Clause *cl = c->clauses;
        c->clauses = cl->next;
        clause_free(cl);
    }
    for (int i = 0; i < n_jobs; i++)
        if (jobs[i].c == c)
            jobs[i].c = NULL, jobs[i].cl = NULL, jobs[i].job->user = NULL;
    if (c->tts_ws) { /* queued after the clauses' cancels: the worker frees it */
        Job *cj = calloc(1, sizeof(*cj));
        if (cj) {
            cj->kind = JOB_CLOSE;
            cj->ws = c->tts_ws;
            worker_submit(c->svc->worker, cj);
        }
    }
    sd_event_source_disable_unref(c->in_src);
    sd_event_source_disable_unref(c->out_src);
    if (c->in_fd >= 0)
        close(c->in_fd);
    if (c->out_fd >= 0)
        close(c->out_fd);
    endpoint_free(c->ep);
    vad_free(c->vad);
    aec_free(c->aec);
    free(c->obuf);
    free(c->answer);
    free(c->played);
    log_debug("%s: conversation ended (%s)", c->path, reason ? reason : "session closed");
    free(c);
}

int conversation_start(Service *s, sd_bus_message *m, void *session, const char *path, const char *owner,
                       WorkerSession *ws, const LmSampling *sampling, uid_t uid, sd_bus_error *e)
{
    char err[256] = "", models[CONFIG_STR_MAX];
    for (Conversation *o = convs; o; o = o->next)
        if (o->session == session)
            return sd_bus_error_set(e, error_dbus_name(-EBUSY), "this session already has a conversation");
    Conversation *c = calloc(1, sizeof(*c));
    if (!c)
        return sd_bus_error_set(e, error_dbus_name(-ENOMEM), "out of memory");
    c->svc = s, c->session = session, c->uid = uid, c->lm_ws = ws, c->sampling = *sampling;
    c->in_fd = c->out_fd = -1;
    c->clauses_tail = &c->clauses;
    c->gain = 1;
    snprintf(c->path, sizeof(c->path), "%s", path);
    snprintf(c->owner, sizeof(c->owner), "%s", owner);
    ConvStart cs = {.in_fd = -1, .out_fd = -1};
    int r = conversation_parse_start(s, m, &cs, err, sizeof(err));
    c->in_fd = cs.in_fd, c->out_fd = cs.out_fd, c->in_sock = cs.in_sock, c->out_sock = cs.out_sock;
    snprintf(c->voice_path, sizeof(c->voice_path), "%s", cs.voice_path);
    snprintf(c->duplex, sizeof(c->duplex), "%s", cs.duplex);
    if (r >= 0) {
        paths_models_dir(models, sizeof(models));
        VadConfig vc = {0};
        EndpointConfig ec = {0};
        if ((r = vad_new_default(models, &vc, &c->vad)) < 0 || (r = endpoint_new(c->vad, &ec, &c->ep)) < 0)
            err_set(err, sizeof(err), r, "could not start the voice activity detector (%s)", strerror(-r));
    }
    if (r >= 0 && strcmp(c->duplex, "full") && aec_available()) {
        AecConfig ac = {0};
        if ((r = aec_new(&ac, &c->aec)) < 0)
            err_set(err, sizeof(err), r, "could not start echo cancellation (%s)", strerror(-r));
    }
    if (r >= 0) { /* barge-in: with echo cancellation (auto), without its guard (full), never (half) */
        BargeinConfig bc = {.min_erle_db = strcmp(c->duplex, "full") ? 0 : -1};
        bargein_init(&c->bg, &bc);
        c->bargein_on = !strcmp(c->duplex, "full") || (!strcmp(c->duplex, "auto") && c->aec);
    }
    if (r >= 0 && !(c->tts_ws = worker_session_new(NULL)))
        r = err_set(err, sizeof(err), -ENOMEM, "out of memory");
    if (r >= 0)
        r = sd_event_add_io(s->event, &c->in_src, c->in_fd, EPOLLIN, on_input, c);
    if (r >= 0 && (r = sd_event_add_io(s->event, &c->out_src, c->out_fd, EPOLLOUT, on_output, c)) >= 0)
        sd_event_source_set_enabled(c->out_src, SD_EVENT_OFF);
    if (r < 0) {
        if (!err[0])
            err_set(err, sizeof(err), r, "could not start the conversation (%s)", strerror(-r));
        if (c->tts_ws)
            worker_session_discard(c->tts_ws), c->tts_ws = NULL;
        conversation_free(c, NULL);
        return sd_bus_error_set(e, error_dbus_name(r), err);
    }
    c->next = convs;
    convs = c;
    log_debug("%s: conversation started (%s, duplex %s, %s VAD, AEC %s)", path, c->voice_path, c->duplex,
              vad_is_silero(c->vad) ? "Silero" : "energy", c->aec ? "on" : "off");
    return sd_bus_reply_method_return(m, "");
}

int conversation_stop_method(Service *s, sd_bus_message *m, void *session, sd_bus_error *e)
{
    (void)s;
    for (Conversation *c = convs; c; c = c->next)
        if (c->session == session) {
            conversation_free(c, "stopped");
            return sd_bus_reply_method_return(m, "");
        }
    return sd_bus_error_set(e, error_dbus_name(-EINVAL), "this session has no conversation");
}

void conversation_session_closed(Service *s, void *session)
{
    (void)s;
    for (Conversation *c = convs, *next; c; c = next) {
        next = c->next;
        if (c->session == session)
            conversation_free(c, NULL);
    }
}

/* ---- worker events -------------------------------------------------------------------------------------- */

static void on_ask_event(Conversation *c, Event *ev)
{
    Job *j = ev->job;
    char text[sizeof(ev->text)];
    switch (ev->kind) {
    case EV_TOKEN:
        send_heard(c, j);
        if (!c->t_token)
            c->t_token = worker_now_ms();
        snprintf(text, sizeof(text), "%s", ev->text);
        service_utf8_sanitize(text);
        emit(c, "Token", "ts", j->id, text);
        append_answer(c, ev->text);
        cut_clauses(c, 0);
        break;
    case EV_FINISHED: {
        const JobStats *st = &ev->stats;
        send_heard(c, j);
        emit(c, "Finished", "tsa{sv}", j->id, ev->reason ? ev->reason : "stop", 6, "prompt_tokens", "u",
             (uint32_t)st->prompt_tokens, "generated_tokens", "u", (uint32_t)st->generated_tokens,
             "transcribe_ms", "d", st->transcribe_ms, "ttft_ms", "d", st->ttft_ms, "total_ms", "d", st->total_ms,
             "audio_s", "d", st->audio_s);
        cut_clauses(c, 1);
        c->ask = NULL, c->llm_done = 1;
        if (!c->clauses) /* nothing to say */
            turn_over(c, "done");
        break;
    }
    case EV_FAILED: {
        char msg[sizeof(ev->msg)];
        snprintf(msg, sizeof(msg), "%s", ev->msg);
        service_utf8_sanitize(msg);
        emit(c, "Failed", "tss", j->id, error_dbus_name(ev->err), msg);
        c->ask = NULL, c->llm_done = 1;
        if (!c->clauses)
            turn_over(c, "failed");
        break;
    }
    default:
        break;
    }
}

int conversation_event(Service *s, Event *ev)
{
    (void)s;
    int i;
    if (!ev->job)
        return 0;
    for (i = 0; i < n_jobs && jobs[i].job != ev->job; i++)
        ;
    if (i == n_jobs)
        return 0;
    Conversation *c = jobs[i].c;
    Job *j = ev->job;
    int final = ev->kind == EV_FINISHED || ev->kind == EV_FAILED;
    if (c && j->kind == JOB_ASK)
        on_ask_event(c, ev);
    else if (c && j->kind == JOB_SPEAK && ev->kind == EV_FAILED)
        log_warn("%s: synthesis failed: %s", c->path, ev->msg);
    if (final) {
        Clause *cl = jobs[i].cl;
        SpeakJob *sj = j->kind == JOB_SPEAK ? j->speak : NULL;
        if (cl && sj && sj->n_marks > 0 && (cl->marks = malloc((size_t)sj->n_marks * sizeof(SpeakMark)))) {
            pthread_mutex_lock(&sj->mu);
            memcpy(cl->marks, sj->marks, (size_t)sj->n_marks * sizeof(SpeakMark));
            cl->n_marks = sj->n_marks;
            pthread_mutex_unlock(&sj->mu);
        }
        if (cl)
            cl->job = NULL;
        jobs[i] = jobs[--n_jobs];
        job_free(j);
    }
    return 1;
}
