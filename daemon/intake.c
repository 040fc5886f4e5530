/* intake.c — non-blocking reads of client fds on the loop thread (see intake.h). One item at a time: a
 * regular file is read with pread in chunks of CHUNK bytes, one chunk per loop iteration (a defer source),
 * so a large file never holds the loop; a pipe or socket is read when epoll says it is readable, at most
 * CHUNK bytes per wake-up. One timer holds the nearer of the item and request deadlines.
 */
#include "intake.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

enum { CHUNK = 4 << 20, FIRST_CAP = 64 << 10 };
typedef enum { MODE_FILE, MODE_PIPE, MODE_SOCKET } Mode;

struct Intake {
    sd_event *ev;              /* borrowed */
    JobAttachment *att;        /* borrowed from the job */
    int n, cur;
    IntakeLimits lim;
    IntakeDoneFn done;
    void *userdata;
    sd_event_source *io, *defer, *timer;
    Mode mode;
    int rfd;                   /* what is read: the attachment's fd, or our own reopened pipe (owned) */
    off_t off;                 /* MODE_FILE: next pread offset */
    size_t cap;                /* allocated bytes of att[cur].data */
    uint64_t t_request_us, t_item_us; /* CLOCK_MONOTONIC starts */
};

static uint64_t now_us(void)
{
    return clock_now_ns() / 1000ULL;
}

int intake_check_fd(int fd, const char *what, size_t max_bytes, const char *cap_name, char *err, size_t err_len)
{
    struct stat st;
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0 || fstat(fd, &st) < 0)
        return err_set(err, err_len, -EINVAL, "%s: bad file descriptor", what);
    if (fl & O_PATH)
        return err_set(err, err_len, -EINVAL, "%s: an O_PATH descriptor cannot be read", what);
    if ((fl & O_ACCMODE) == O_WRONLY)
        return err_set(err, err_len, -EINVAL, "%s: opened write-only (%s); pass a descriptor open for reading",
                       what, S_ISFIFO(st.st_mode) ? "the write end of a pipe" : "O_WRONLY");
    if (S_ISDIR(st.st_mode))
        return err_set(err, err_len, -EINVAL, "%s: a directory, not a file", what);
    if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode))
        return err_set(err, err_len, -EINVAL, "%s: not a regular file, pipe or socket", what);
    if (S_ISREG(st.st_mode) && st.st_size > (off_t)max_bytes)
        return err_set(err, err_len, -E2BIG, "%s: %lld bytes is over %s %zu", what, (long long)st.st_size,
                       cap_name, max_bytes);
    return 0;
}

static void item_label(const Intake *in, char *buf, size_t len)
{
    if (in->lim.numbered)
        snprintf(buf, len, "attachment %d", in->cur + 1);
    else
        snprintf(buf, len, "fd");
}

static void item_close(Intake *in)
{
    JobAttachment *a = &in->att[in->cur];
    in->io = sd_event_source_disable_unref(in->io);
    in->defer = sd_event_source_disable_unref(in->defer);
    if (in->rfd >= 0 && in->rfd != a->fd)
        close(in->rfd);
    in->rfd = -1;
    if (a->fd >= 0)
        close(a->fd);
    a->fd = -1;
}

/* The end: stop everything, then tell the owner (who may free in; nothing touches it afterwards). */
static void finish(Intake *in, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void finish(Intake *in, int err, const char *fmt, ...)
{
    char msg[256] = "", what[32];

    if (err < 0 && fmt) {
        va_list ap;
        item_label(in, what, sizeof(what));
        int k = snprintf(msg, sizeof(msg), "%s: ", what);
        va_start(ap, fmt);
        vsnprintf(msg + k, sizeof(msg) - (size_t)k, fmt, ap);
        va_end(ap);
    }
    if (in->cur >= 0 && in->cur < in->n)
        item_close(in);
    in->defer = sd_event_source_disable_unref(in->defer);
    in->timer = sd_event_source_disable_unref(in->timer);
    in->done(in->userdata, err, err < 0 ? msg : NULL);
}

static int start_item(Intake *in);
static int on_kick(sd_event_source *src, void *userdata);

static int arm_timer(Intake *in)
{
    uint64_t a = in->t_request_us + (uint64_t)(in->lim.request_s * 1e6);
    uint64_t b = in->t_item_us + (uint64_t)(in->lim.item_s * 1e6);
    uint64_t at = a < b ? a : b;
    int r;

    if (!in->timer)
        return -EINVAL;
    r = sd_event_source_set_time(in->timer, at);
    if (r >= 0)
        r = sd_event_source_set_enabled(in->timer, SD_EVENT_ONESHOT);
    return r;
}

static int on_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
    Intake *in = userdata;
    uint64_t now = now_us();
    int whole = now >= in->t_request_us + (uint64_t)(in->lim.request_s * 1e6);

    finish(in, -ETIMEDOUT, "no end of file after %.0f s (%s %g s; %zu bytes read): send a file, or close the "
           "writing end", (double)(now - (whole ? in->t_request_us : in->t_item_us)) / 1e6,
           whole ? "intake_request_s" : "intake_item_s", whole ? in->lim.request_s : in->lim.item_s,
           in->att[in->cur].size);
    return 0;
}

/* Make room for at least one more byte past the cap (so "over the cap" is seen), growing geometrically. */
static int reserve(Intake *in, size_t max)
{
    JobAttachment *a = &in->att[in->cur];
    if (a->size < in->cap)
        return 0;
    size_t want = in->cap ? 2 * in->cap : FIRST_CAP;
    if (want > max + 1)
        want = max + 1;
    if (want <= a->size)
        want = a->size + 1;
    size_t grow = want - in->cap;
    if (in->lim.held && *in->lim.held + grow > in->lim.max_held)
        return -EBUSY;
    uint8_t *p = realloc(a->data, want);
    if (!p)
        return -ENOMEM;
    if (in->lim.held) {
        *in->lim.held += grow;
        *in->lim.job_held += grow;
    }
    a->data = p;
    in->cap = want;
    return 0;
}

/* Read what is there now (at most CHUNK bytes). 1: end of file, 0: more later, <0: finish()ed. */
static int pull(Intake *in)
{
    JobAttachment *a = &in->att[in->cur];
    size_t max = in->lim.max_bytes[a->kind], budget = CHUNK;

    while (budget > 0) {
        int r = reserve(in, max);
        if (r == -EBUSY) {
            finish(in, r, "this user's fds being read and decoded would hold more than %zu MiB "
                   "(max_intake_mb_per_user); wait for them or send less", in->lim.max_held >> 20);
            return r;
        }
        if (r < 0) {
            finish(in, -ENOMEM, "out of memory");
            return -ENOMEM;
        }
        size_t room = in->cap - a->size;
        if (room > budget)
            room = budget;
        ssize_t k;
        if (in->mode == MODE_FILE)
            k = pread(in->rfd, a->data + a->size, room, in->off);
        else if (in->mode == MODE_SOCKET)
            k = recv(in->rfd, a->data + a->size, room, MSG_DONTWAIT);
        else
            k = read(in->rfd, a->data + a->size, room);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN && in->mode != MODE_FILE)
                return 0;
            finish(in, -EIO, "read failed: %s", strerror(errno));
            return -EIO;
        }
        if (k == 0)
            return 1;
        a->size += (size_t)k;
        in->off += k;
        budget -= (size_t)k;
        if (a->size > max) {
            finish(in, -E2BIG, "more than %zu bytes (%s)", max, in->lim.cap_name[a->kind]);
            return -E2BIG;
        }
    }
    return 0;
}

/* The first item starts from a defer source, so done is never called before intake_start returns. */
static int on_kick(sd_event_source *src, void *userdata)
{
    Intake *in = userdata;
    in->defer = sd_event_source_disable_unref(in->defer);
    in->cur = 0;
    start_item(in);
    return 0;
}

static void item_done(Intake *in)
{
    item_close(in);
    in->cap = 0;
    in->cur++;
    if (start_item(in) < 0) { /* start_item finish()ed */
    }
}

static int on_io(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
    Intake *in = userdata;
    int r = pull(in);
    if (r == 1)
        item_done(in);
    return 0;
}

static int on_defer(sd_event_source *src, void *userdata)
{
    return on_io(src, -1, 0, userdata);
}

/* Open the next item for reading, or finish when all are read. Returns <0 when it finish()ed. */
static int start_item(Intake *in)
{
    struct stat st;
    int r;

    if (in->cur == in->n) {
        finish(in, 0, NULL);
        return 1;
    }
    JobAttachment *a = &in->att[in->cur];
    in->t_item_us = now_us();
    in->rfd = a->fd;
    in->off = 0;
    if (fstat(a->fd, &st) < 0) {
        finish(in, -EIO, "fstat failed: %s", strerror(errno));
        return -EIO;
    }
    if (S_ISREG(st.st_mode)) {
        in->mode = MODE_FILE;
        if (a->kind != MEDIA_VIDEO) { /* images and audio from the current offset; a video file whole */
            off_t o = lseek(a->fd, 0, SEEK_CUR);
            in->off = o > 0 ? o : 0;
        }
        r = sd_event_add_defer(in->ev, &in->defer, on_defer, in);
        if (r >= 0)
            r = sd_event_source_set_enabled(in->defer, SD_EVENT_ON);
    } else {
        in->mode = S_ISSOCK(st.st_mode) ? MODE_SOCKET : MODE_PIPE;
        if (in->mode == MODE_PIPE) {
            char p[64];
            snprintf(p, sizeof(p), "/proc/self/fd/%d", a->fd);
            int nfd = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* our own description of the pipe */
            if (nfd >= 0) {
                in->rfd = nfd;
            } else {
                int fl = fcntl(a->fd, F_GETFL);
                if (fl < 0 || fcntl(a->fd, F_SETFL, fl | O_NONBLOCK) < 0) {
                    finish(in, -EIO, "cannot make the pipe non-blocking: %s", strerror(errno));
                    return -EIO;
                }
            }
        }
        r = sd_event_add_io(in->ev, &in->io, in->rfd, EPOLLIN, on_io, in);
    }
    if (r >= 0)
        r = arm_timer(in);
    if (r < 0) {
        finish(in, r, "cannot watch the descriptor: %s", strerror(-r));
        return r;
    }
    return 0;
}

int intake_start(sd_event *ev, JobAttachment *att, int n, const IntakeLimits *lim, IntakeDoneFn done,
                 void *userdata, Intake **ret)
{
    Intake *in = calloc(1, sizeof(*in));
    int r;

    if (!in)
        return -ENOMEM;
    in->ev = ev;
    in->att = att;
    in->n = n;
    in->lim = *lim;
    in->done = done;
    in->userdata = userdata;
    in->rfd = -1;
    in->t_request_us = now_us();
    r = sd_event_add_time(ev, &in->timer, CLOCK_MONOTONIC, UINT64_MAX, 0, on_timer, in);
    if (r < 0) {
        free(in);
        return r;
    }
    *ret = in;
    in->cur = -1;
    r = sd_event_add_defer(ev, &in->defer, on_kick, in);
    if (r < 0) {
        intake_free(in);
        *ret = NULL;
        return r;
    }
    return 0;
}

void intake_free(Intake *in)
{
    if (!in)
        return;
    if (in->cur >= 0 && in->cur < in->n)
        item_close(in);
    in->io = sd_event_source_disable_unref(in->io);
    in->defer = sd_event_source_disable_unref(in->defer);
    in->timer = sd_event_source_disable_unref(in->timer);
    free(in);
}
