/* service.c — the D-Bus objects of mynad (see service.h; the API is documented in docs/DBUS.md and the
 * committed introspection XML daemon/org.myna.Assistant1.xml, which test-daemon-introspect checks).
 * Handlers are thin: check the caller owns the session, validate, enqueue, reply. Results come back as
 * worker events and leave as signals addressed to the session owner (never broadcast).
 */
#include "service.h"

#include <errno.h>
#include <systemd/sd-daemon.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h" /* MYNA_VERSION (generated) */
#include "ask-speak.h"
#include "conversation.h"
#include "errors.h"
#include "intake.h"
#include "log.h"
#include "mynad-config.h"
#include "options.h"
#include "requests.h"
#include "service-impl.h"
#include "speak-job.h"

struct Session {
    Service *svc;
    uint64_t n;
    char path[96];
    char owner[256];            /* unique bus name of the creator */
    uid_t uid;                  /* its Unix user (limits count per user) */
    sd_bus_slot *slot;
    WorkerSession *ws;          /* handed to the worker with CLOSE */
    LmSampling sampling;        /* defaults for Ask, from CreateSession options */
    int speak;                  /* CreateSession speak: Asks are spoken unless they say speak=false */
    Session *next;
};

#define ERR_ACCESS "org.myna.Error.AccessDenied"

/* ---- helpers ------------------------------------------------------------------------------------------ */

static int reply_err(sd_bus_error *e, int code, const char *msg)
{
    return sd_bus_error_set(e, error_dbus_name(code), msg);
}

static int check_owner(Session *se, sd_bus_message *m, sd_bus_error *e)
{
    const char *sender = sd_bus_message_get_sender(m);
    if (!sender || strcmp(sender, se->owner))
        return sd_bus_error_setf(e, ERR_ACCESS, "session %s belongs to another client", se->path);
    return 0;
}

const char *session_owner(const Session *se) { return se->owner; }

/* Open sessions of one connection. */
static int client_sessions(Service *s, const char *owner)
{
    int n = 0;
    for (Session *se = s->sessions; se; se = se->next)
        n += !strcmp(se->owner, owner);
    return n;
}

/* Cancel every request for which match() holds (requests_cancel may end and remove it from s->reqs). */
static void cancel_where(Service *s, int (*match)(const Job *j, const void *arg), const void *arg, int detach)
{
    for (int i = 0; i < s->n_reqs; i++) {
        Job *j = s->reqs[i];
        if (!match(j, arg))
            continue;
        if (detach)
            j->user = NULL; /* the session is going away: its answers are dropped (also for one still running) */
        if (atomic_load(&j->cancel) && j->stage == STAGE_RUNNING)
            continue; /* already told */
        requests_cancel(s, j);
        if (i < s->n_reqs && s->reqs[i] != j)
            i--; /* j was removed; another request took its place */
        else if (i >= s->n_reqs)
            break;
    }
}

static int job_of_session(const Job *j, const void *se) { return j->user == se; }

static int job_transcribe_of(const Job *j, const void *name)
{
    const char *o = j->kind == JOB_TRANSCRIBE ? job_owner(j) : NULL;
    return o && !strcmp(o, name);
}

/* Replace bytes that are not valid UTF-8 so a signal can always be sent (lm promises whole characters). */
void service_utf8_sanitize(char *t)
{
    unsigned char *p = (unsigned char *)t;
    while (*p) {
        int n = *p < 0x80 ? 1 : (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3 : (*p & 0xF8) == 0xF0 ? 4 : 0;
        int ok = n > 0 && !(n == 2 && *p < 0xC2) && !(n == 4 && *p > 0xF4);
        for (int i = 1; ok && i < n; i++)
            ok = (p[i] & 0xC0) == 0x80;
        if (!ok) {
            *p++ = '?';
            continue;
        }
        p += n;
    }
}

static void idle_update(Service *s)
{
    if (!s->idle_timer)
        return;
    if (s->n_sessions == 0 && s->cfg.idle_exit_s > 0) {
        sd_event_source_set_time_relative(s->idle_timer, (uint64_t)s->cfg.idle_exit_s * 1000000ULL);
        sd_event_source_set_enabled(s->idle_timer, SD_EVENT_ONESHOT);
    } else {
        sd_event_source_set_enabled(s->idle_timer, SD_EVENT_OFF);
    }
}

/* Cancel a session's requests, hand its worker state to the worker, free it. Requests still finishing
 * are detached (their events are dropped). */
static void session_close(Service *s, Session *se)
{
    UserShare *u = users_get(s, se->uid, 0);

    conversation_session_closed(s, se);
    ask_speak_session_gone(s, se); /* its clause jobs' cancels go to the worker before the CLOSE */
    cancel_where(s, job_of_session, se, 1);
    if (u)
        u->n_sessions--;
    Job *c = calloc(1, sizeof(*c));
    if (c) {
        c->kind = JOB_CLOSE;
        c->ws = se->ws;
        worker_submit(s->worker, c);
    } else {
        log_error("out of memory closing %s; its model session leaks", se->path);
    }
    for (Session **p = &s->sessions; *p; p = &(*p)->next)
        if (*p == se) {
            *p = se->next;
            break;
        }
    s->n_sessions--;
    log_debug("closed %s of %s", se->path, se->owner);
    sd_bus_slot_unref(se->slot);
    free(se);
    idle_update(s);
}

/* ---- org.myna.Session1 -------------------------------------------------------------------------------- */

/* Checks that need no reading, at the method call: the model (when loaded) takes the kind (audio: every
 * model, through Whisper), the fd is readable and a regular file, pipe or socket, a regular file is not
 * over max_media_bytes (max_audio_bytes for audio). Intake enforces the caps again on what it reads. */
static int check_attachment(Service *s, int i, MediaKind kind, int fd, char *err, size_t err_len)
{
    const Engine *en = worker_engine(s->worker);
    char what[32];

    snprintf(what, sizeof(what), "attachment %d", i + 1);
    if (kind == MEDIA_AUDIO)
        return intake_check_fd(fd, what, (size_t)s->cfg.max_audio_bytes, "max_audio_bytes", err, err_len);
    if (en && !(en->media_kinds & (1u << kind))) {
        engine_media_error(en, kind, err, err_len);
        return -EMEDIUMTYPE;
    }
    return intake_check_fd(fd, what, (size_t)s->cfg.max_media_bytes, "max_media_bytes", err, err_len);
}

static int method_ask(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    Session *se = userdata;
    Service *s = se->svc;
    RequestOptions o;
    AskArgs a;
    char err[256];
    int r, n_audio = 0;

    r = check_owner(se, m, e);
    if (r < 0)
        return r;
    r = options_read_ask(m, &s->cfg, &a, err, sizeof(err));
    if (r < 0)
        return reply_err(e, r, err);
    options_defaults(&o, &s->cfg);
    o.sampling = se->sampling;
    r = options_parse(m, 0, &s->cfg, &o, err, sizeof(err));
    options_clear(&o);
    if (r < 0)
        return reply_err(e, r, err);
    int speak = o.speak >= 0 ? o.speak : se->speak;
    if (o.speech_keys && !speak)
        return reply_err(e, -EINVAL, "options voice, output, format, sample_rate, rate, speaker, noise_scale and "
                         "noise_w go with speak=true");
    if (a.att_err < 0)
        return reply_err(e, a.att_err, a.att_msg);
    for (int i = 0; i < a.n_att; i++) {
        if ((r = check_attachment(s, i, a.kind[i], a.fd[i], err, sizeof(err))) < 0)
            return reply_err(e, r, err);
        n_audio += a.kind[i] == MEDIA_AUDIO;
    }
    size_t len = strlen(a.text);
    if (len == 0 && n_audio == 0) /* with audio, the transcript alone can be the question */
        return reply_err(e, -EINVAL, "text: empty message");
    if (len > (size_t)s->cfg.max_prompt_bytes) {
        snprintf(err, sizeof(err), "text: %zu bytes is over max_prompt_bytes %d", len, s->cfg.max_prompt_bytes);
        return reply_err(e, -E2BIG, err);
    }
    char state_msg[256];
    if (worker_state(s->worker, state_msg, sizeof(state_msg)) == WORKER_ERROR) {
        snprintf(err, sizeof(err), "no model: %.200s", state_msg);
        return reply_err(e, -ENODEV, err);
    }
    if ((r = requests_check(s, se->owner, se->uid, err, sizeof(err))) < 0)
        return reply_err(e, r, err);
    struct SpeakJob *speech = NULL; /* speak: the spoken answer's options and output (ask-speak.h) */
    if (speak) {
        if (sd_bus_message_rewind(m, 1) < 0 || sd_bus_message_skip(m, "sa(sh)") < 0)
            return reply_err(e, -EINVAL, "options: malformed");
        if ((r = speak_prepare_ask(s, m, &speech, err, sizeof(err))) < 0)
            return reply_err(e, r, err);
    }
    uint64_t id = ++s->next_request;
    Job *j = job_new_ask(se->ws, id, a.text, &o.sampling, se);
    if (!j) {
        speak_job_free(speech);
        return reply_err(e, -ENOMEM, "out of memory");
    }
    media_limits_default(&j->media_limits);
    j->media_limits.max_bytes = (size_t)s->cfg.max_media_bytes;
    j->media_limits.video_frames = s->cfg.video_frames;
    j->media_limits.max_video_cpu_s = s->cfg.decode_cpu_s;
    speech_options_default(&j->speech, s->cfg.max_audio_bytes, s->cfg.max_audio_seconds);
    j->speech.audio.max_cpu_s = s->cfg.decode_cpu_s;
    j->svc = s;
    j->uid = se->uid;
    for (int i = 0; i < a.n_att; i++) {
        int fd = fcntl(a.fd[i], F_DUPFD_CLOEXEC, 3);
        if (fd < 0 || job_add_attachment(j, a.kind[i], fd) < 0) {
            job_free(j);
            speak_job_free(speech);
            return reply_err(e, -ENOMEM, "could not keep the attachment's file descriptor");
        }
    }
    r = sd_bus_reply_method_return(m, "t", id);
    if (r < 0) {
        job_free(j);
        speak_job_free(speech);
        return r;
    }
    if (speech && (r = ask_speak_start(s, j, speech, se, se->path, se->owner)) < 0)
        log_warn("%s: request %llu is answered without speech: %s", se->path, (unsigned long long)id,
                 strerror(-r));
    requests_add(s, j); /* intake, decoding, the user's turn on the worker */
    log_debug("%s: request %llu (%zu bytes, %d attachments) from %s", se->path, (unsigned long long)id, len,
              a.n_att, se->owner);
    return 1;
}

static int method_cancel(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    Session *se = userdata;
    Service *s = se->svc;
    uint64_t id;
    int r;

    r = check_owner(se, m, e);
    if (r < 0)
        return r;
    r = sd_bus_message_read(m, "t", &id);
    if (r < 0)
        return reply_err(e, -EINVAL, "request id: expected t");
    if (id == 0 || id > s->next_request)
        return reply_err(e, -EINVAL, "no such request id");
    /* reply first: a request ended here is answered (Finished "cancelled") after the Cancel reply */
    r = sd_bus_reply_method_return(m, "");
    for (int i = 0; i < s->n_reqs; i++)
        if (s->reqs[i]->id == id) {
            /* another session's request is answered like a finished one: no error that tells it exists */
            if (s->reqs[i]->user == se)
                requests_cancel(s, s->reqs[i]);
            break;
        }
    ask_speak_cancel(s, se, id); /* its spoken answer, which may outlast the LM's */
    /* a request that already finished is not an error: Cancel races with Finished */
    return r < 0 ? r : 1;
}

static int method_reset(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    Session *se = userdata;
    Service *s = se->svc;
    int r = check_owner(se, m, e);

    if (r < 0)
        return r;
    Job *c = calloc(1, sizeof(*c));
    if (!c)
        return reply_err(e, -ENOMEM, "out of memory");
    cancel_where(s, job_of_session, se, 0);
    c->kind = JOB_RESET;
    c->ws = se->ws;
    worker_submit(s->worker, c);
    return sd_bus_reply_method_return(m, "");
}

static int method_close(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    Session *se = userdata;
    int r = check_owner(se, m, e);

    if (r < 0)
        return r;
    r = sd_bus_reply_method_return(m, "");
    session_close(se->svc, se);
    return r;
}

/* Speak(s text, a{sv} options) → t: speak-bus.c */
static int method_speak(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    Session *se = userdata;
    int r = check_owner(se, m, e);

    return r < 0 ? r : speak_method(se->svc, m, se->ws, se, se->uid, e);
}

/* StartConversation(a{sv} options) / StopConversation(): conversation.c */
static int method_start_conversation(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    Session *se = userdata;
    int r = check_owner(se, m, e);

    return r < 0 ? r : conversation_start(se->svc, m, se, se->path, se->owner, se->ws, &se->sampling, se->uid,
                                                   e);
}

static int method_stop_conversation(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    Session *se = userdata;
    int r = check_owner(se, m, e);

    return r < 0 ? r : conversation_stop_method(se->svc, m, se, e);
}

static int prop_owner(sd_bus *bus, const char *path, const char *iface, const char *prop, sd_bus_message *reply,
                      void *userdata, sd_bus_error *e)
{
    Session *se = userdata;
    return sd_bus_message_append(reply, "s", se->owner);
}

static const sd_bus_vtable session_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD_WITH_NAMES("Ask", "sa(sh)a{sv}", SD_BUS_PARAM(text) SD_BUS_PARAM(attachments)
                             SD_BUS_PARAM(options), "t", SD_BUS_PARAM(request_id), method_ask,
                             SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("Cancel", "t", SD_BUS_PARAM(request_id), "", , method_cancel,
                             SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("Speak", "sa{sv}", SD_BUS_PARAM(text) SD_BUS_PARAM(options), "t",
                             SD_BUS_PARAM(request_id), method_speak, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("StartConversation", "a{sv}", SD_BUS_PARAM(options), "", , method_start_conversation,
                             SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("StopConversation", "", "", method_stop_conversation, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("Reset", "", "", method_reset, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("Close", "", "", method_close, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_PROPERTY("Owner", "s", prop_owner, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_SIGNAL_WITH_NAMES("Token", "ts", SD_BUS_PARAM(request_id) SD_BUS_PARAM(text), 0),
    SD_BUS_SIGNAL_WITH_NAMES("Finished", "tsa{sv}", SD_BUS_PARAM(request_id) SD_BUS_PARAM(reason)
                             SD_BUS_PARAM(stats), 0),
    SD_BUS_SIGNAL_WITH_NAMES("Failed", "tss", SD_BUS_PARAM(request_id) SD_BUS_PARAM(error)
                             SD_BUS_PARAM(message), 0),
    SD_BUS_SIGNAL_WITH_NAMES("SpeakingStarted", "t", SD_BUS_PARAM(request_id), 0),
    SD_BUS_SIGNAL_WITH_NAMES("SpeechProgress", "tu", SD_BUS_PARAM(request_id) SD_BUS_PARAM(chars_played), 0),
    SD_BUS_SIGNAL_WITH_NAMES("SpeakingFinished", "tsa{sv}", SD_BUS_PARAM(request_id) SD_BUS_PARAM(reason)
                             SD_BUS_PARAM(stats), 0),
    SD_BUS_SIGNAL("UserSpeechStarted", "", 0),
    SD_BUS_SIGNAL("UserSpeechEnded", "", 0),
    SD_BUS_SIGNAL_WITH_NAMES("Heard", "ts", SD_BUS_PARAM(request_id) SD_BUS_PARAM(text), 0),
    SD_BUS_SIGNAL_WITH_NAMES("SpeakingStopped", "tss", SD_BUS_PARAM(request_id) SD_BUS_PARAM(reason)
                             SD_BUS_PARAM(heard_text), 0),
    SD_BUS_SIGNAL_WITH_NAMES("TurnStats", "ta{sv}", SD_BUS_PARAM(request_id) SD_BUS_PARAM(stats), 0),
    SD_BUS_SIGNAL_WITH_NAMES("ConversationEnded", "s", SD_BUS_PARAM(reason), 0),
    SD_BUS_SIGNAL_WITH_NAMES("BargeIn", "t", SD_BUS_PARAM(request_id), 0),
    SD_BUS_VTABLE_END,
};

/* ---- org.myna.Assistant1 ------------------------------------------------------------------------------ */

int service_method_create_session(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    Service *s = userdata;
    const char *sender = sd_bus_message_get_sender(m);
    RequestOptions o;
    char err[256];
    uid_t uid;
    UserShare *u;
    int r;

    if (!sender)
        return reply_err(e, -EINVAL, "no sender");
    if ((r = caller_uid(m, &uid)) < 0)
        return reply_err(e, -EACCES, "cannot tell the caller's Unix user from the bus");
    if (!(u = users_get(s, uid, 1)))
        return reply_err(e, -ENOMEM, "out of memory");
    options_defaults(&o, &s->cfg);
    r = options_parse(m, 1, &s->cfg, &o, err, sizeof(err));
    if (r < 0) {
        options_clear(&o);
        return reply_err(e, r, err);
    }
    if (client_sessions(s, sender) >= s->cfg.max_sessions_per_client ||
        u->n_sessions >= s->cfg.max_sessions_per_user || s->n_sessions >= s->cfg.max_sessions_total) {
        options_clear(&o);
        snprintf(err, sizeof(err), "too many open sessions (max_sessions_per_client %d, max_sessions_per_user %d, "
                 "max_sessions_total %d); Close() one first", s->cfg.max_sessions_per_client,
                 s->cfg.max_sessions_per_user, s->cfg.max_sessions_total);
        return reply_err(e, -EBUSY, err);
    }
    Session *se = calloc(1, sizeof(*se));
    if (!se || strlen(sender) >= sizeof(se->owner)) {
        free(se);
        options_clear(&o);
        return reply_err(e, -ENOMEM, "out of memory");
    }
    se->svc = s;
    se->uid = uid;
    se->n = ++s->next_session;
    snprintf(se->path, sizeof(se->path), MYNA_SESSION_PREFIX "/%llu", (unsigned long long)se->n);
    snprintf(se->owner, sizeof(se->owner), "%s", sender);
    se->sampling = o.sampling;
    se->speak = o.speak == 1;
    se->ws = worker_session_new(o.system_prompt);
    options_clear(&o);
    if (!se->ws) {
        free(se);
        return reply_err(e, -ENOMEM, "out of memory");
    }
    r = sd_bus_add_object_vtable(s->bus, &se->slot, se->path, MYNA_SESSION_IFACE, session_vtable, se);
    if (r < 0) {
        worker_session_discard(se->ws);
        free(se);
        return reply_err(e, r, "could not register the session object");
    }
    se->next = s->sessions;
    s->sessions = se;
    s->n_sessions++;
    u->n_sessions++;
    idle_update(s);
    log_debug("%s created for %s", se->path, se->owner);
    return sd_bus_reply_method_return(m, "o", se->path);
}

/* Transcribe(h fd, a{sv} options) → s: validated here, read by intake, decoded by the pool, transcribed on
 * the worker one window at a time; the reply is sent later, from the loop thread. */
int service_method_transcribe(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    Service *s = userdata;
    const char *sender = sd_bus_message_get_sender(m);
    SpeechOptions so;
    char err[256];
    uid_t uid;
    int fd, r;

    if (!sender)
        return reply_err(e, -EINVAL, "no sender");
    r = sd_bus_message_read(m, "h", &fd);
    if (r < 0)
        return reply_err(e, -EINVAL, "fd: expected a file descriptor (h)");
    speech_options_default(&so, s->cfg.max_audio_bytes, s->cfg.max_audio_seconds);
    so.audio.max_cpu_s = s->cfg.decode_cpu_s;
    r = options_parse_transcribe(m, &so, err, sizeof(err));
    if (r < 0)
        return reply_err(e, r, err);
    if ((r = intake_check_fd(fd, "fd", (size_t)s->cfg.max_audio_bytes, "max_audio_bytes", err, sizeof(err))) < 0)
        return reply_err(e, r, err);
    if (caller_uid(m, &uid) < 0)
        return reply_err(e, -EACCES, "cannot tell the caller's Unix user from the bus");
    if ((r = requests_check(s, sender, uid, err, sizeof(err))) < 0)
        return reply_err(e, r, err);
    UserShare *u = users_get(s, uid, 0);
    if (!u->tws && !(u->tws = worker_session_new(NULL)))
        return reply_err(e, -ENOMEM, "out of memory");
    int dup = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (dup < 0)
        return reply_err(e, -ENOMEM, "could not keep the file descriptor");
    Job *j = job_new_transcribe(u->tws, ++s->next_request, dup, &so, sd_bus_message_ref(m));
    if (!j) {
        sd_bus_message_unref(m);
        return reply_err(e, -ENOMEM, "out of memory");
    }
    j->svc = s;
    j->uid = uid;
    requests_add(s, j);
    log_debug("transcription %llu from %s (uid %u)", (unsigned long long)j->id, sender, (unsigned)uid);
    return 1; /* answered later */
}

/* ---- worker events → signals -------------------------------------------------------------------------- */

static int send_to_owner(Service *s, Session *se, const char *member, const char *sig, ...)
{
    sd_bus_message *msg = NULL;
    va_list ap;
    int r;

    r = sd_bus_message_new_signal(s->bus, &msg, se->path, MYNA_SESSION_IFACE, member);
    if (r >= 0)
        r = sd_bus_message_set_destination(msg, se->owner);
    if (r >= 0) {
        va_start(ap, sig);
        r = sd_bus_message_appendv(msg, sig, ap);
        va_end(ap);
    }
    if (r >= 0)
        r = sd_bus_send(s->bus, msg, NULL);
    sd_bus_message_unref(msg);
    if (r < 0)
        log_warn("%s: could not send %s to %s: %s", se->path, member, se->owner, strerror(-r));
    return r;
}

static int send_finished(Service *s, Session *se, Job *j, const Event *ev)
{
    sd_bus_message *msg = NULL;
    const JobStats *st = &ev->stats;
    double tps = st->decode_ms > 0 ? st->generated_tokens * 1000.0 / st->decode_ms : 0;
    int r;

    r = sd_bus_message_new_signal(s->bus, &msg, se->path, MYNA_SESSION_IFACE, "Finished");
    if (r >= 0)
        r = sd_bus_message_set_destination(msg, se->owner);
    if (r >= 0)
        r = sd_bus_message_append(msg, "ts", j->id, ev->reason);
    if (r >= 0)
        r = sd_bus_message_open_container(msg, 'a', "{sv}");
    if (r >= 0)
        r = sd_bus_message_append(msg, "{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}", "prompt_tokens", "u",
                                  (uint32_t)st->prompt_tokens, "generated_tokens", "u",
                                  (uint32_t)st->generated_tokens, "prefill_ms", "d", st->prefill_ms, "decode_ms",
                                  "d", st->decode_ms, "ttft_ms", "d", st->ttft_ms, "queue_ms", "d", st->queue_ms,
                                  "total_ms", "d", st->total_ms, "tokens_per_s", "d", tps, "images_encoded", "u",
                                  (uint32_t)st->images_encoded);
    if (r >= 0 && st->audio_inputs > 0) /* the question came (partly) from audio */
        r = sd_bus_message_append(msg, "{sv}{sv}{sv}{sv}", "audio_inputs", "u", (uint32_t)st->audio_inputs,
                                  "audio_s", "d", st->audio_s, "transcribe_ms", "d", st->transcribe_ms,
                                  "transcript", "s", ev->result ? ev->result : "");
    if (r >= 0)
        r = sd_bus_message_close_container(msg);
    if (r >= 0)
        r = sd_bus_send(s->bus, msg, NULL);
    sd_bus_message_unref(msg);
    if (r < 0)
        log_warn("%s: could not send Finished to %s: %s", se->path, se->owner, strerror(-r));
    return r;
}

void service_deliver(Service *s, const Event *ev)
{
    Job *j = ev->job;
    Session *se = j ? j->user : NULL;
    char text[sizeof(ev->text)], msg[sizeof(ev->msg)];

    ask_speak_answer(s, ev); /* an Ask with speak: its text goes to synthesis too */
    if (j && j->kind == JOB_SPEAK && (!se || speak_deliver(s->bus, se->path, se->owner, ev)))
        return; /* SpeakingStarted, SpeechProgress, SpeakingFinished; Failed below */
    switch (ev->kind) {
    case EV_STATE:
        sd_bus_emit_properties_changed(s->bus, MYNA_OBJECT_PATH, MYNA_IFACE, "State", "Backend", "Models", NULL);
        break;
    case EV_TOKEN:
        if (se) {
            memcpy(text, ev->text, sizeof(text));
            service_utf8_sanitize(text);
            send_to_owner(s, se, "Token", "ts", j->id, text);
        }
        break;
    case EV_FINISHED:
        if (se) {
            if (ev->result)
                service_utf8_sanitize(ev->result);
            send_finished(s, se, j, ev);
        }
        break;
    case EV_TRANSCRIBED:
        if (j->call) {
            if (ev->result)
                service_utf8_sanitize(ev->result);
            if (sd_bus_reply_method_return(j->call, "s", ev->result ? ev->result : "") < 0)
                log_warn("could not send a transcript to %s", job_owner(j) ? job_owner(j) : "?");
        }
        break;
    case EV_FAILED:
        memcpy(msg, ev->msg, sizeof(msg));
        service_utf8_sanitize(msg);
        if (j->kind == JOB_TRANSCRIBE && j->call)
            sd_bus_reply_method_errorf(j->call, error_dbus_name(ev->err), "%s", msg);
        else if (se)
            send_to_owner(s, se, "Failed", "tss", j->id, error_dbus_name(ev->err), msg);
        break;
    case EV_SPEAKING_STARTED: /* JOB_SPEAK only: sent above */
    case EV_SPEECH_PROGRESS:
        break;
    }
}

static void handle_event(Service *s, Event *ev)
{
    if (conversation_event(s, ev)) /* a conversation's ASK or SPEAK: handled and freed there */
        return;
    if (ask_speak_event(s, ev)) /* a spoken answer's clause: handled and freed there */
        return;
    service_deliver(s, ev);
    if (ev->kind == EV_FINISHED || ev->kind == EV_TRANSCRIBED || ev->kind == EV_FAILED)
        requests_end(s, ev->job);
}

void service_begin_shutdown(Service *s)
{
    s->stopping = 1;
}

void service_flush_events(Service *s)
{
    Event *ev = worker_take_events(s->worker);
    while (ev) {
        Event *next = ev->next;
        handle_event(s, ev);
        event_free(ev);
        ev = next;
    }
}

static int on_worker(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
    service_flush_events(userdata);
    return 0;
}

static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    Service *s = userdata;
    const char *name, *old_owner, *new_owner;

    if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0)
        return 0;
    if (name[0] != ':' || new_owner[0])
        return 0;
    cancel_where(s, job_transcribe_of, name, 0); /* its transcriptions stop at once or within one window */
    for (Session *se = s->sessions, *next; se; se = next) {
        next = se->next;
        if (!strcmp(se->owner, name)) {
            log_debug("%s left the bus: closing %s", name, se->path);
            session_close(s, se);
        }
    }
    return 0;
}

static int on_idle(sd_event_source *src, uint64_t usec, void *userdata)
{
    Service *s = userdata;
    if (s->n_sessions == 0 && s->n_reqs == 0) {
        log_info("no sessions for %d s: exiting (idle_exit_s)", s->cfg.idle_exit_s);
        return sd_event_exit(s->event, 0);
    }
    return 0;
}

int service_init(Service *s, sd_event *ev, sd_bus *bus, Worker *w, const Config *cfg)
{
    int r;

    memset(s, 0, sizeof(*s));
    s->cfg = *cfg;
    s->event = ev;
    s->bus = bus;
    s->worker = w;
    if ((r = requests_init(s)) < 0)
        return r;
    r = sd_event_add_io(ev, &s->worker_src, worker_event_fd(w), EPOLLIN, on_worker, s);
    if (r < 0)
        return r;
    r = sd_event_add_time_relative(ev, &s->idle_timer, CLOCK_MONOTONIC, 1000000ULL * 3600, 0, on_idle, s);
    if (r < 0)
        return r;
    idle_update(s);
    r = sd_bus_add_object_vtable(bus, &s->obj_slot, MYNA_OBJECT_PATH, MYNA_IFACE, service_assistant_vtable, s);
    if (r < 0)
        return r;
    r = sd_bus_match_signal_async(bus, &s->match_slot, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                  "org.freedesktop.DBus", "NameOwnerChanged", on_name_owner_changed, NULL, s);
    return r < 0 ? r : 0;
}

void service_close_all(Service *s)
{
    s->stopping = 1;
    while (s->sessions)
        session_close(s, s->sessions);
}

static int on_watchdog(sd_event_source *src, uint64_t usec, void *userdata)
{
    Service *s = userdata;
    double age = worker_heartbeat_age_ms(s->worker);

    /* alive: a heartbeat younger than the period (at least 3 s: an idle worker beats once a second) */
    if (age < 3000.0 || age * 1000.0 < (double)s->watchdog_usec)
        sd_notify(0, "WATCHDOG=1");
    else
        log_warn("watchdog: the worker has not shown progress for %.0f ms; not pinging systemd", age);
    /* a fixed cadence from the planned time (not from when this ran), so lateness does not add up */
    uint64_t now = 0, next = usec + s->watchdog_usec / 2;
    if (sd_event_now(s->event, CLOCK_MONOTONIC, &now) >= 0 && next <= now)
        next = now + s->watchdog_usec / 2;
    sd_event_source_set_time(src, next);
    return sd_event_source_set_enabled(src, SD_EVENT_ON);
}

int service_watchdog_start(Service *s)
{
    uint64_t usec = 0;
    int r = sd_watchdog_enabled(0, &usec);
    if (r <= 0 || usec == 0)
        return 0; /* not under a systemd watchdog */
    s->watchdog_usec = usec;
    /* accuracy 1 ms: sd-event's default slack (250 ms) would eat into the period */
    r = sd_event_add_time_relative(s->event, &s->watchdog, CLOCK_MONOTONIC, usec / 2, 1000, on_watchdog, s);
    if (r < 0)
        return r;
    log_info("systemd watchdog every %.1f s", (double)usec / 2e6);
    return sd_event_source_set_enabled(s->watchdog, SD_EVENT_ON);
}

void service_done(Service *s)
{
    service_close_all(s);
    requests_shutdown(s);
    for (int i = 0; i < s->n_reqs; i++) /* on the worker and never answered (it posts a failure for each) */
        job_release(s->reqs[i]);
    free(s->reqs);
    s->reqs = NULL;
    s->n_reqs = s->cap_reqs = 0;
    s->match_slot = sd_bus_slot_unref(s->match_slot);
    s->obj_slot = sd_bus_slot_unref(s->obj_slot);
    s->worker_src = sd_event_source_unref(s->worker_src);
    s->idle_timer = sd_event_source_unref(s->idle_timer);
    s->watchdog = sd_event_source_unref(s->watchdog);
}

void service_reload(Service *s, const Config *next)
{
    char a[CONFIG_STR_MAX], b[CONFIG_STR_MAX];
    int n_restart = 0;

    for (int i = 0; i < config_n_keys; i++) {
        const CfgKey *k = &config_keys[i];
        config_format(&s->cfg, k, a, sizeof(a));
        config_format(next, k, b, sizeof(b));
        if (!strcmp(a, b))
            continue;
        if (!k->reloadable) {
            log_warn("reload: %s changed (%s → %s) but needs a restart", k->name, a, b);
            n_restart++;
            continue;
        }
        char *dst = (char *)&s->cfg + k->offset;
        const char *src = (const char *)next + k->offset;
        memcpy(dst, src, k->type == CFG_STR ? strlen(src) + 1 : k->type == CFG_INT ? sizeof(int) : sizeof(double));
        log_info("reload: %s = %s", k->name, b);
    }
    if (n_restart)
        sd_notifyf(0, "STATUS=serving " MYNA_BUS_NAME "; %d changed key(s) need a restart", n_restart);
    idle_update(s);
}
