/* decode-pool.h — decoding of a request's attachments off the loop thread and off the inference worker
 * (ARCHITECTURE.md §5): a few threads that turn the byte buffers intake read (intake.h) into decoded media
 * (image and video frames through adapters/media.h, 16 kHz PCM through speech/audio.h), each item under a
 * thread-CPU-time budget and the request's cancel flag, so the worker only ever receives decoded tensors.
 * Threads, not a forked helper: the decoders already take memory buffers, their caps (pixels, bytes,
 * duration, av_max_alloc) bound memory, and the decoded frames and samples — up to hundreds of MB — stay
 * in place instead of being copied back over a pipe; mynad's systemd unit is the process sandbox.
 * Fair: a thread takes the oldest job of a user who has no job being decoded; one user's jobs never hold
 * more than one thread, so another user's attachment waits for a free thread, not behind that user.
 * Completed jobs come back to the loop through an eventfd (decode_pool_take_done). Not here: D-Bus, limits.
 */
#ifndef MYNA_DAEMON_DECODE_POOL_H
#define MYNA_DAEMON_DECODE_POOL_H

#include "worker.h"

typedef struct DecodePool DecodePool;

int decode_pool_new(int n_threads, DecodePool **ret);
/* Stop the threads (a running decode finishes first: jobs carry a cancel flag). Jobs still queued or done
 * and not taken are returned by decode_pool_take_done before this; accepts NULL. */
void decode_pool_free(DecodePool *p);
int decode_pool_event_fd(const DecodePool *p);
/* Queue j: decode each attachment's data (freed once decoded) into its media or pcm; j->decode_err and
 * j->decode_msg say how it went. The pool holds j until it is returned by decode_pool_take_done. */
void decode_pool_submit(DecodePool *p, Job *j);
/* Jobs decoded (or, after decode_pool_stop, never started: decode_err -ECANCELED), oldest first, linked
 * by pool_next. */
Job *decode_pool_take_done(DecodePool *p);
/* Stop the threads now; queued jobs move to the done list as cancelled. */
void decode_pool_stop(DecodePool *p);

/* Decode one job's attachments on the calling thread (what a pool thread runs). */
void decode_job(Job *j);

#endif
