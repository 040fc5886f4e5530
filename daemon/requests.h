/* requests.h — a request's path on the loop thread, from its method call to the worker and to its end:
 * intake of its fds (intake.h) → decoding (decode-pool.h) → admission by fair share per Unix user → the
 * worker. Limits count per Unix user (from the bus's credentials of the caller, never its PID), not per
 * connection: requests in flight (max_queued_per_user), requests on the worker (max_running_per_user, the
 * rest wait here in request-id order), and budgets of decoded audio seconds and image pixels in flight
 * (max_queued_audio_s_per_user, max_queued_mpixels_per_user) — over one → Busy naming it.
 * Cancel, Reset, Close and a client leaving the bus end a request at once while it is still here (intake
 * stops, a decode is abandoned); on the worker its cancel flag stops it within one unit.
 * Not here: argument validation (service.c, options.c), signals (service.c delivers the answers).
 */
#ifndef MYNA_DAEMON_REQUESTS_H
#define MYNA_DAEMON_REQUESTS_H

#include <stddef.h>
#include <sys/types.h>

#include "service.h"

struct UserShare {
    uid_t uid;
    int n_reqs;              /* requests in flight, any stage */
    int n_running;           /* of which on the worker */
    int n_sessions;
    double audio_s;          /* decoded audio of its requests in flight */
    int64_t pixels;          /* decoded image and video-frame pixels of its requests in flight */
    size_t intake_bytes;     /* bytes read from its fds and not yet decoded */
    WorkerSession *tws;      /* its transcription queue (one session: its Transcribes run in order) */
    UserShare *next;
};

/* Start the decode pool and watch its eventfd. */
int requests_init(Service *s);
/* After the worker stopped: end what is still here, stop the pool, hand the users' transcription queues
 * to the worker (CLOSE) and free the users. */
void requests_shutdown(Service *s);

/* The user of uid (created with create; NULL on ENOMEM or when absent). */
UserShare *users_get(Service *s, uid_t uid, int create);
/* The Unix user of a method call's sender, from the bus (GetConnectionCredentials). */
int caller_uid(sd_bus_message *m, uid_t *ret);

/* Before accepting a request: the queue limits (total, per connection, per user) and whether the user is
 * already at a budget. 0, or -EBUSY / -ENOMEM with err naming the limit. Reserves room in s->reqs. */
int requests_check(Service *s, const char *owner, uid_t uid, char *err, size_t err_len);
/* Take j (j->uid, j->svc set; attachments holding their fds): intake, decoding, admission, the worker. */
void requests_add(Service *s, Job *j);
/* Cancel/Reset/Close/disconnect: ended now (answered Cancelled, or nothing when j->user was cleared) if it
 * has not reached the worker, else its cancel flag is set. j may be freed. */
void requests_cancel(Service *s, Job *j);
/* After j's final answer was delivered: uncount it, free it (or, while a decode thread still has it, once
 * it comes back), and let waiting requests onto the worker. */
void requests_end(Service *s, Job *j);
/* The unique bus name a request belongs to: its session's owner (ASK) or the caller (TRANSCRIBE). */
const char *job_owner(const Job *j);
/* Free a loop-owned job and what the loop attached to it (the TRANSCRIBE call). */
void job_release(Job *j);

#endif
