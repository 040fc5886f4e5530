/* vision-job.c — one visual frame per worker unit (see vision-job.h). */
#include "vision-job.h"

#include <errno.h>
#include <stdlib.h>

#include "log.h"

int vision_job_items(const Job *j, MediaItem *items)
{
    int n = 0;
    for (int i = 0; i < j->n_att; i++)
        if (j->att[i].kind != MEDIA_AUDIO)
            items[n++] = j->att[i].media; /* borrowed from the job */
    return n;
}

static int n_frames(const Job *j)
{
    int n = 0;
    for (int i = 0; i < j->n_att; i++)
        if (j->att[i].kind != MEDIA_AUDIO && j->att[i].media.n_frames > 0)
            n += j->att[i].media.n_frames;
    return n;
}

int vision_job_pending(const Engine *e, const Job *j, const VisionFrames *vf)
{
    if (!e->ops->encode_frame || !e->ops->add_user_encoded || !e->ops->frame_free)
        return 0;
    int n = n_frames(j);
    return n > 0 && (!vf->frames || vf->done < vf->n);
}

int vision_job_ready(const Engine *e, const Job *j, const VisionFrames *vf)
{
    return e->ops->add_user_encoded && vf->frames && vf->n == n_frames(j) && vf->done == vf->n;
}

int vision_job_unit(const Engine *e, void *es, Job *j, const char *text, VisionFrames *vf, char *msg,
                    size_t msg_len)
{
    const EngineOps *ops = e->ops;
    int r;

    if (!vf->frames) {
        MediaItem items[JOB_MAX_ATTACHMENTS];
        int n = vision_job_items(j, items);
        if (ops->check_media && (r = ops->check_media(es, text, items, n, msg, msg_len)) < 0)
            return r;
        vf->n = n_frames(j);
        vf->done = 0;
        if (!(vf->frames = calloc((size_t)vf->n, sizeof(*vf->frames))))
            return err_set(msg, msg_len, -ENOMEM, "out of memory");
    }
    /* frame vf->done of the attachments in order */
    for (int i = 0, k = 0; i < j->n_att; i++) {
        const MediaItem *m = &j->att[i].media;
        if (j->att[i].kind == MEDIA_AUDIO)
            continue;
        if (vf->done < k + m->n_frames) {
            r = ops->encode_frame(es, &m->frames[vf->done - k], vf->done, &vf->frames[vf->done], msg, msg_len);
            if (r < 0)
                return r;
            vf->done++;
            j->images_encoded++;
            return 0;
        }
        k += m->n_frames;
    }
    return err_set(msg, msg_len, -EINVAL, "no frame left to encode");
}

void vision_frames_clear(const Engine *e, VisionFrames *vf)
{
    if (vf->frames && e && e->ops->frame_free)
        for (int k = 0; k < vf->n; k++)
            e->ops->frame_free(vf->frames[k]);
    free(vf->frames);
    vf->frames = NULL;
    vf->n = vf->done = 0;
}
