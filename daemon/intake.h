/* intake.h — reading a request's client file descriptors on the loop thread (ARCHITECTURE.md §5): every fd
 * is read without blocking (pipes and sockets through sd-event I/O sources, regular files in chunks from a
 * defer source), up to a byte cap, before a wall-clock deadline per item and per request. What comes out
 * is a complete byte buffer per attachment; nothing here decodes (decode-pool.h does).
 * A fd that cannot be read is refused at the method call (intake_check_fd): write-only (O_WRONLY, such as a
 * pipe's write end), O_PATH, a directory, a device or tty, a regular file over the cap.
 * Pipes are read through a new open file description (/proc/self/fd reopen) with O_NONBLOCK, so the client's
 * own description keeps its flags; sockets with MSG_DONTWAIT. Not here: D-Bus, limits per user.
 * Errors (to the done callback, with a message naming the attachment and the config key):
 *   -E2BIG more than the byte cap · -ETIMEDOUT a deadline passed · -EIO a read error · -EBUSY the user's
 *   buffered bytes over max_held.
 */
#ifndef MYNA_DAEMON_INTAKE_H
#define MYNA_DAEMON_INTAKE_H

#include <stddef.h>
#include <systemd/sd-event.h>

#include "worker.h"

typedef struct Intake Intake;

typedef struct {
    size_t max_bytes[MEDIA_N_KINDS]; /* cap per item, by kind (max_media_bytes, max_audio_bytes) */
    const char *cap_name[MEDIA_N_KINDS]; /* the config key of each cap, for messages */
    double item_s, request_s;        /* deadlines: each item, all items (intake_item_s, intake_request_s) */
    int numbered;                    /* messages say "attachment N" (Ask) rather than "fd" (Transcribe) */
    size_t *held;                    /* borrowed, may be NULL: bytes buffered for the same user, grown here */
    size_t *job_held;                /* borrowed: the part of *held this request added (released by the owner) */
    size_t max_held;                 /* over it → -EBUSY naming max_intake_mb_per_user */
} IntakeLimits;

/* Called once on the loop thread when every item is read (err 0) or the first failure; it may free the
 * Intake. msg is NULL on success. */
typedef void (*IntakeDoneFn)(void *userdata, int err, const char *msg);

/* At the method call: fd is readable and of a kind we read. 0, or -EINVAL/-E2BIG with err naming what. */
int intake_check_fd(int fd, const char *what, size_t max_bytes, const char *cap_name, char *err, size_t err_len);

/* Read att[0..n) (their fd fields, owned by the attachments; each is closed once read) into data/size.
 * One item at a time, in order. att must stay valid until done is called or intake_free. */
int intake_start(sd_event *ev, JobAttachment *att, int n, const IntakeLimits *lim, IntakeDoneFn done,
                 void *userdata, Intake **ret);
/* Stop at once (cancel, disconnect, shutdown): no callback; what was read stays in att (job_free frees it).
 * Accepts NULL. */
void intake_free(Intake *in);

#endif
