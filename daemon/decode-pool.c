/* decode-pool.c — the decode threads (see decode-pool.h). One mutex guards the queue, the done list and
 * the users being decoded; a thread holds no lock while it decodes.
 */
#include "decode-pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config.h" /* HAVE_FFMPEG */
#include "log.h"

enum { POOL_MAX_THREADS = 16, DECODE_NICE = 5 };

struct DecodePool {
    pthread_t threads[POOL_MAX_THREADS];
    int n_threads;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    Job *q_head, *q_tail;          /* waiting (mu) */
    Job *d_head, *d_tail;          /* decoded, for the loop (mu) */
    uid_t busy[POOL_MAX_THREADS];  /* users of the jobs being decoded now (mu) */
    int n_busy;
    int stop;                      /* (mu) */
    int efd;
};

static void append(Job **head, Job **tail, Job *j)
{
    j->pool_next = NULL;
    if (*tail)
        (*tail)->pool_next = j;
    else
        *head = j;
    *tail = j;
}

/* The oldest job of a user with nothing being decoded, or NULL: one user's jobs take one thread at a time,
 * so the other threads stay free for other users however many jobs that user queues. Called with mu held. */
static Job *pick(DecodePool *p)
{
    Job **best = NULL;
    for (Job **q = &p->q_head; *q; q = &(*q)->pool_next) {
        int busy = 0;
        for (int i = 0; i < p->n_busy && !busy; i++)
            busy = p->busy[i] == (*q)->uid;
        if (!busy) {
            best = q;
            break;
        }
    }
    if (!best)
        return NULL;
    Job *j = *best;
    *best = j->pool_next;
    if (p->q_tail == j) { /* find the new tail */
        p->q_tail = NULL;
        for (Job *q = p->q_head; q; q = q->pool_next)
            p->q_tail = q;
    }
    j->pool_next = NULL;
    return j;
}

static void label(const Job *j, int i, char *buf, size_t len)
{
    if (j->kind == JOB_TRANSCRIBE)
        snprintf(buf, len, "audio");
    else
        snprintf(buf, len, "attachment %d (%s)", i + 1, media_kind_name(j->att[i].kind));
}

void decode_job(Job *j)
{
    char why[224], what[48];
    int r = 0;

    j->decode_err = 0;
    j->decode_msg[0] = 0;
    j->cost_audio_s = 0;
    j->cost_pixels = 0;
    for (int i = 0; i < j->n_att && r >= 0; i++) {
        JobAttachment *a = &j->att[i];
        why[0] = 0;
        if (atomic_load(&j->cancel)) {
            r = -ECANCELED;
            snprintf(why, sizeof(why), "cancelled");
        } else if (a->kind == MEDIA_AUDIO) {
#if HAVE_FFMPEG
            AudioDecodeOptions o = j->speech.audio;
            o.cancel = &j->cancel;
            r = audio_decode_memory(a->data, a->size, &o, &a->pcm, why, sizeof(why));
            if (r >= 0)
                j->cost_audio_s += (double)a->pcm.n_samples / (a->pcm.sample_rate > 0 ? a->pcm.sample_rate : 16000);
#else
            r = -EMEDIUMTYPE;
            snprintf(why, sizeof(why), "this mynad was built without FFmpeg");
#endif
        } else {
            MediaLimits lim = j->media_limits;
            lim.cancel = &j->cancel;
            r = media_decode_memory(a->data, a->size, a->kind, &lim, &a->media, why, sizeof(why));
            for (int f = 0; r >= 0 && f < a->media.n_frames; f++)
                j->cost_pixels += (int64_t)a->media.frames[f].width * a->media.frames[f].height;
        }
        free(a->data); /* decoded or refused: the bytes are not needed again */
        a->data = NULL;
        a->size = 0;
        if (r < 0) {
            label(j, i, what, sizeof(what));
            j->decode_err = r;
            snprintf(j->decode_msg, sizeof(j->decode_msg), "%s: %s", what, why[0] ? why : strerror(-r));
        }
    }
}

static void *pool_main(void *arg)
{
    DecodePool *p = arg;
    uint64_t one = 1;

    /* decoding is background work next to the loop thread and the worker's tokens: a lower priority for
     * this thread only (Linux nice values are per thread) */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), DECODE_NICE) < 0) {
    }

    pthread_mutex_lock(&p->mu);
    for (;;) {
        Job *j = NULL;
        while (!p->stop && !(j = pick(p)))
            pthread_cond_wait(&p->cond, &p->mu);
        if (p->stop) {
            if (j) /* back to the queue: decode_pool_stop hands it back as cancelled */
                append(&p->q_head, &p->q_tail, j);
            break;
        }
        p->busy[p->n_busy++] = j->uid;
        pthread_mutex_unlock(&p->mu);
        decode_job(j);
        pthread_mutex_lock(&p->mu);
        for (int i = 0; i < p->n_busy; i++)
            if (p->busy[i] == j->uid) {
                p->busy[i] = p->busy[--p->n_busy];
                break;
            }
        append(&p->d_head, &p->d_tail, j);
        pthread_cond_broadcast(&p->cond); /* that user's next job may go now */
        if (write(p->efd, &one, sizeof(one)) < 0) { /* EAGAIN: saturated, the loop wakes anyway */
        }
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int decode_pool_new(int n_threads, DecodePool **ret)
{
    DecodePool *p = calloc(1, sizeof(*p));
    int r;

    if (!p)
        return -ENOMEM;
    if (n_threads < 1)
        n_threads = 1;
    if (n_threads > POOL_MAX_THREADS)
        n_threads = POOL_MAX_THREADS;
    p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (p->efd < 0) {
        r = -errno;
        free(p);
        return r;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cond, NULL);
    for (int i = 0; i < n_threads; i++) {
        r = -pthread_create(&p->threads[i], NULL, pool_main, p);
        if (r < 0) {
            log_error("decode pool: cannot start thread %d: %s", i, strerror(-r));
            decode_pool_free(p);
            return r;
        }
        p->n_threads++;
    }
    *ret = p;
    return 0;
}

void decode_pool_stop(DecodePool *p)
{
    uint64_t one = 1;

    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    p->n_threads = 0;
    pthread_mutex_lock(&p->mu);
    while (p->q_head) {
        Job *j = p->q_head;
        p->q_head = j->pool_next;
        j->decode_err = -ECANCELED;
        snprintf(j->decode_msg, sizeof(j->decode_msg), "the daemon is shutting down");
        append(&p->d_head, &p->d_tail, j);
    }
    p->q_tail = NULL;
    pthread_mutex_unlock(&p->mu);
    if (write(p->efd, &one, sizeof(one)) < 0) {
    }
}

void decode_pool_free(DecodePool *p)
{
    if (!p)
        return;
    decode_pool_stop(p);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cond);
    close(p->efd);
    free(p);
}

int decode_pool_event_fd(const DecodePool *p) { return p->efd; }

void decode_pool_submit(DecodePool *p, Job *j)
{
    uint64_t one = 1;

    pthread_mutex_lock(&p->mu);
    if (p->stop) { /* shutting down: straight back, cancelled */
        j->decode_err = -ECANCELED;
        snprintf(j->decode_msg, sizeof(j->decode_msg), "the daemon is shutting down");
        append(&p->d_head, &p->d_tail, j);
        if (write(p->efd, &one, sizeof(one)) < 0) {
        }
    } else {
        append(&p->q_head, &p->q_tail, j);
        pthread_cond_signal(&p->cond);
    }
    pthread_mutex_unlock(&p->mu);
}

Job *decode_pool_take_done(DecodePool *p)
{
    uint64_t v;
    if (read(p->efd, &v, sizeof(v)) < 0) { /* EAGAIN: nothing counted, the list may still hold jobs */
    }
    pthread_mutex_lock(&p->mu);
    Job *j = p->d_head;
    p->d_head = p->d_tail = NULL;
    pthread_mutex_unlock(&p->mu);
    return j;
}
