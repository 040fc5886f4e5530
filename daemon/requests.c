/* requests.c — the request path on the loop thread (see requests.h). Stages of a loop-owned job:
 *   INTAKE  (Intake reading its fds) → DECODE (a pool thread holds it) → PENDING (waiting for its user's
 *   turn on the worker) → RUNNING (submitted; the worker answers).
 * A job with no attachments goes straight to PENDING. A job ended while DECODE is answered at once and
 * freed when its thread gives it back (j->answered).
 */
#include "requests.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode-pool.h"
#include "intake.h"
#include "log.h"

/* ---- users ------------------------------------------------------------------------------------------- */

UserShare *users_get(Service *s, uid_t uid, int create)
{
    for (UserShare *u = s->users; u; u = u->next)
        if (u->uid == uid)
            return u;
    if (!create)
        return NULL;
    UserShare *u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    u->uid = uid;
    u->next = s->users;
    s->users = u;
    return u;
}

int caller_uid(sd_bus_message *m, uid_t *ret)
{
    sd_bus_creds *c = NULL;
    /* no SD_BUS_CREDS_AUGMENT: the bus's record of the connection (SO_PEERCRED), never /proc/PID */
    int r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID, &c);
    if (r >= 0)
        r = sd_bus_creds_get_euid(c, ret);
    sd_bus_creds_unref(c);
    return r;
}

const char *job_owner(const Job *j)
{
    if (j->kind == JOB_TRANSCRIBE)
        return j->call ? sd_bus_message_get_sender(j->call) : NULL;
    const Session *se = j->user;
    return se ? session_owner(se) : NULL;
}

void job_release(Job *j)
{
    if (!j)
        return;
    int media = j->n_att > 0;
    if (j->kind == JOB_TRANSCRIBE)
        sd_bus_message_unref(j->call);
    job_free(j);
#ifdef __GLIBC__
    /* decoded media are tens to hundreds of MB, freed from the decode threads' arenas: give the pages back
     * now, so a client's burst does not stay in the daemon's RSS */
    if (media)
        malloc_trim(0);
#endif
}

static int reqs_reserve(Service *s)
{
    if (s->n_reqs < s->cap_reqs)
        return 0;
    int cap = s->cap_reqs ? 2 * s->cap_reqs : 16;
    Job **nr = realloc(s->reqs, (size_t)cap * sizeof(*nr));
    if (!nr)
        return -ENOMEM;
    s->reqs = nr;
    s->cap_reqs = cap;
    return 0;
}

int requests_check(Service *s, const char *owner, uid_t uid, char *err, size_t err_len)
{
    const Config *c = &s->cfg;
    UserShare *u = users_get(s, uid, 1);
    int mine = 0;

    if (!u)
        return err_set(err, err_len, -ENOMEM, "out of memory");
    if (s->n_reqs >= c->max_queued_total)
        return err_set(err, err_len, -EBUSY, "%d requests are queued (max_queued_total); try again later",
                       s->n_reqs);
    if (u->n_reqs >= c->max_queued_per_user)
        return err_set(err, err_len, -EBUSY, "this user has %d requests queued or running (max_queued_per_user); "
                       "wait for one to finish", u->n_reqs);
    for (int i = 0; i < s->n_reqs; i++) {
        const char *o = job_owner(s->reqs[i]);
        mine += o && !strcmp(o, owner);
    }
    if (mine >= c->max_queued_per_client)
        return err_set(err, err_len, -EBUSY, "this client has %d requests queued or running "
                       "(max_queued_per_client)", c->max_queued_per_client);
    if (u->audio_s >= c->max_queued_audio_s_per_user)
        return err_set(err, err_len, -EBUSY, "this user has %.0f s of audio queued (max_queued_audio_s_per_user "
                       "%d); wait for it to be transcribed", u->audio_s, c->max_queued_audio_s_per_user);
    if ((double)u->pixels >= (double)c->max_queued_mpixels_per_user * 1e6)
        return err_set(err, err_len, -EBUSY, "this user has %.1f Mpx of images queued "
                       "(max_queued_mpixels_per_user %d); wait for them to be answered", (double)u->pixels / 1e6,
                       c->max_queued_mpixels_per_user);
    return reqs_reserve(s) < 0 ? err_set(err, err_len, -ENOMEM, "out of memory") : 0;
}

/* ---- ending ------------------------------------------------------------------------------------------ */

static void reqs_remove(Service *s, Job *j)
{
    for (int i = 0; i < s->n_reqs; i++)
        if (s->reqs[i] == j) {
            s->reqs[i] = s->reqs[--s->n_reqs];
            return;
        }
}

static void pump(Service *s);

void requests_end(Service *s, Job *j)
{
    UserShare *u = users_get(s, j->uid, 0);

    if (u) {
        u->n_reqs--;
        u->n_running -= j->stage == STAGE_RUNNING;
        u->audio_s -= j->cost_audio_s;
        u->pixels -= j->cost_pixels;
        if (u->audio_s < 1e-6)
            u->audio_s = 0;
        if (j->stage != STAGE_DECODE) { /* a decode thread may still hold the buffers: on_decoded then */
            u->intake_bytes -= j->held_bytes;
            j->held_bytes = 0;
        }
    }
    j->cost_audio_s = 0;
    j->cost_pixels = 0;
    reqs_remove(s, j);
    if (j->stage == STAGE_INTAKE) {
        intake_free(j->intake);
        j->intake = NULL;
    }
    if (j->stage == STAGE_DECODE)
        j->answered = 1; /* its decode thread gives it back later; freed then (on_pool) */
    else
        job_release(j);
    pump(s);
}

/* Answer j from the loop (it never reached the worker) and end it. err -ECANCELED: an ASK finishes with
 * reason "cancelled" as it would on the worker; anything else fails it with msg. */
static void answer(Service *s, Job *j, int err, const char *msg)
{
    Event ev;
    double now = worker_now_ms();

    memset(&ev, 0, sizeof(ev));
    ev.job = j;
    if (err == -ECANCELED && j->kind != JOB_TRANSCRIBE) { /* ASK, SPEAK */
        ev.kind = EV_FINISHED;
        ev.reason = "cancelled";
        ev.stats.queue_ms = ev.stats.total_ms = now - j->t_request;
    } else {
        ev.kind = EV_FAILED;
        ev.err = err;
        snprintf(ev.msg, sizeof(ev.msg), "%s", msg ? msg : "cancelled");
    }
    service_deliver(s, &ev);
    requests_end(s, j);
}

void requests_cancel(Service *s, Job *j)
{
    atomic_store(&j->cancel, 1);
    if (j->stage == STAGE_RUNNING)
        return; /* the worker stops it within one unit and answers */
    answer(s, j, -ECANCELED, "cancelled");
}

/* ---- admission ------------------------------------------------------------------------------------------ */

/* An earlier request of the same worker session is not on the worker yet: j must wait (turn order). */
static int blocked_by_earlier(const Service *s, const Job *j)
{
    for (int i = 0; i < s->n_reqs; i++) {
        const Job *k = s->reqs[i];
        if (k != j && k->ws == j->ws && k->id < j->id && k->stage != STAGE_RUNNING)
            return 1;
    }
    return 0;
}

/* Submit PENDING requests, oldest first, while their user has fewer than max_running_per_user on the
 * worker. */
static void pump(Service *s)
{
    while (!s->stopping) {
        Job *best = NULL;
        UserShare *bu = NULL;
        for (int i = 0; i < s->n_reqs; i++) {
            Job *j = s->reqs[i];
            if (j->stage != STAGE_PENDING || atomic_load(&j->cancel) || (best && j->id > best->id))
                continue;
            UserShare *u = users_get(s, j->uid, 0);
            if (!u || u->n_running >= s->cfg.max_running_per_user || blocked_by_earlier(s, j))
                continue;
            best = j;
            bu = u;
        }
        if (!best)
            return;
        best->stage = STAGE_RUNNING;
        bu->n_running++;
        worker_submit(s->worker, best);
    }
}

/* A decode thread gave j back: budgets, then wait for the worker. */
static void on_decoded(Service *s, Job *j)
{
    const Config *c = &s->cfg;
    char msg[256];

    UserShare *hu = users_get(s, j->uid, 0);
    if (hu) { /* the decode thread freed the bytes intake read */
        hu->intake_bytes -= j->held_bytes;
        j->held_bytes = 0;
    }
    if (j->answered) { /* ended while decoding; already uncounted */
        job_release(j);
        return;
    }
    j->stage = STAGE_PENDING;
    if (j->decode_err < 0) {
        j->cost_audio_s = 0;
        j->cost_pixels = 0;
        answer(s, j, j->decode_err == -ECANCELED ? -ECANCELED : j->decode_err, j->decode_msg);
        return;
    }
    UserShare *u = users_get(s, j->uid, 0);
    double audio = j->cost_audio_s, mpx = (double)j->cost_pixels / 1e6;
    int over_audio = u && u->audio_s + audio > c->max_queued_audio_s_per_user;
    int over_px = u && (double)u->pixels / 1e6 + mpx > c->max_queued_mpixels_per_user;
    if (over_audio || over_px) {
        if (over_audio)
            snprintf(msg, sizeof(msg), "this request's %.0f s of audio and the %.0f s this user has queued are over "
                     "max_queued_audio_s_per_user %d; wait or send less", audio, u->audio_s,
                     c->max_queued_audio_s_per_user);
        else
            snprintf(msg, sizeof(msg), "this request's %.1f Mpx of images and the %.1f Mpx this user has queued "
                     "are over max_queued_mpixels_per_user %d; wait or send less", mpx,
                     (double)u->pixels / 1e6, c->max_queued_mpixels_per_user);
        j->cost_audio_s = 0;
        j->cost_pixels = 0;
        answer(s, j, -EBUSY, msg);
        return;
    }
    if (u) {
        u->audio_s += audio;
        u->pixels += j->cost_pixels;
    }
    pump(s);
}

static int on_pool(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
    Service *s = userdata;
    Job *j = decode_pool_take_done(s->pool);
    while (j) {
        Job *next = j->pool_next;
        j->pool_next = NULL;
        on_decoded(s, j);
        j = next;
    }
    return 0;
}

static void on_intake_done(void *userdata, int err, const char *msg)
{
    Job *j = userdata;
    Service *s = j->svc;

    intake_free(j->intake);
    j->intake = NULL;
    if (err < 0) {
        j->stage = STAGE_PENDING; /* not INTAKE any more: requests_end must not free the intake again */
        answer(s, j, err, msg);
        return;
    }
    j->stage = STAGE_DECODE;
    decode_pool_submit(s->pool, j);
}

void requests_add(Service *s, Job *j)
{
    const Config *c = &s->cfg;
    UserShare *u = users_get(s, j->uid, 1); /* exists: requests_check made it */
    Intake *in = NULL;
    char msg[160];
    int r;

    s->reqs[s->n_reqs++] = j;
    if (u)
        u->n_reqs++;
    if (j->n_att == 0) {
        j->stage = STAGE_PENDING;
        pump(s);
        return;
    }
    IntakeLimits lim;
    memset(&lim, 0, sizeof(lim));
    for (int k = 0; k < MEDIA_N_KINDS; k++) {
        lim.max_bytes[k] = (size_t)(k == MEDIA_AUDIO ? c->max_audio_bytes : c->max_media_bytes);
        lim.cap_name[k] = k == MEDIA_AUDIO ? "max_audio_bytes" : "max_media_bytes";
    }
    lim.item_s = c->intake_item_s;
    lim.request_s = c->intake_request_s;
    lim.numbered = j->kind == JOB_ASK;
    if (u) {
        lim.held = &u->intake_bytes;
        lim.job_held = &j->held_bytes;
        lim.max_held = (size_t)c->max_intake_mb_per_user << 20;
    }
    j->stage = STAGE_INTAKE;
    r = intake_start(s->event, j->att, j->n_att, &lim, on_intake_done, j, &in);
    if (r < 0) {
        j->stage = STAGE_PENDING;
        snprintf(msg, sizeof(msg), "cannot read the attachments: %s", strerror(-r));
        answer(s, j, r == -ENOMEM ? r : -EIO, msg);
        return;
    }
    j->intake = in;
}

int requests_init(Service *s)
{
    int r = decode_pool_new(s->cfg.decode_threads, &s->pool);
    if (r < 0)
        return r;
    return sd_event_add_io(s->event, &s->pool_src, decode_pool_event_fd(s->pool), EPOLLIN, on_pool, s);
}

void requests_shutdown(Service *s)
{
    /* what never reached the worker ends now (Cancelled to whoever is still there) */
    for (int i = 0; i < s->n_reqs; i++) {
        Job *j = s->reqs[i];
        if (j->stage == STAGE_RUNNING)
            continue;
        requests_cancel(s, j);
        i = -1; /* the list changed; start over (small) */
    }
    if (s->pool) {
        decode_pool_stop(s->pool);
        Job *j = decode_pool_take_done(s->pool);
        while (j) { /* every job given back now was answered already */
            Job *next = j->pool_next;
            job_release(j);
            j = next;
        }
    }
    s->pool_src = sd_event_source_disable_unref(s->pool_src);
    decode_pool_free(s->pool);
    s->pool = NULL;
    while (s->users) {
        UserShare *u = s->users;
        s->users = u->next;
        if (u->tws) {
            Job *c = calloc(1, sizeof(*c));
            if (c) {
                c->kind = JOB_CLOSE;
                c->ws = u->tws;
                worker_submit(s->worker, c);
            } else {
                worker_session_discard(u->tws);
            }
        }
        free(u);
    }
}
