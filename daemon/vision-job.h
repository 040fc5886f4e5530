/* vision-job.h — the visual attachments of an ASK encoded one frame per worker unit (issue 12 item 3), so
 * a request with many images or video frames shares the model with other sessions' decode steps and can be
 * cancelled between frames. The encoded frames live in the WorkerSession (VisionFrames) while its first
 * job waits for them and are freed on the worker thread (they hold backend memory).
 * Used only for engines with EngineOps.encode_frame; others take the whole turn in add_user_media.
 * Not here: decoding (decode-pool.h), the turn's text and prefill (worker.c). All calls: worker thread.
 */
#ifndef MYNA_DAEMON_VISION_JOB_H
#define MYNA_DAEMON_VISION_JOB_H

#include <stddef.h>

#include "engine.h"
#include "worker.h"

typedef struct {
    void **frames; /* owned [n]: frames[k] for frame k of the job's visual attachments in order */
    int n, done;   /* frames in all, encoded so far */
} VisionFrames;

/* The visual attachments of j as MediaItems borrowed from the job; returns how many (≤ JOB_MAX_ATTACHMENTS). */
int vision_job_items(const Job *j, MediaItem *items);
/* 1 when the engine encodes in units and j has frames not yet encoded into vf. */
int vision_job_pending(const Engine *e, const Job *j, const VisionFrames *vf);
/* One unit: on the first call, the engine's checks of the turn (text: the user text, with what audio
 * attachments said), then encode the next frame. Counts j->images_encoded. Returns 0, or a negative errno
 * with msg filled (one line). */
int vision_job_unit(const Engine *e, void *es, Job *j, const char *text, VisionFrames *vf, char *msg,
                    size_t msg_len);
/* 1 when vf holds every frame of j, ready for add_user_encoded. */
int vision_job_ready(const Engine *e, const Job *j, const VisionFrames *vf);
void vision_frames_clear(const Engine *e, VisionFrames *vf); /* frees the frames; vf may be empty */

#endif
