/* media.c — attachment kinds, hints and decoding (see media.h). No numerics here: decoding and frame
 * sampling are vision/image.c's (libpng, TurboJPEG, FFmpeg with its caps).
 */
#include "media.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"

MediaKind media_kind_from_hint(const char *hint)
{
    static const struct { const char *name; MediaKind kind; } tab[] = {
        {"image", MEDIA_IMAGE}, {"video", MEDIA_VIDEO}, {"audio", MEDIA_AUDIO},
    };
    size_t n;

    if (!hint || (n = strnlen(hint, 128)) == 0 || n >= 128)
        return MEDIA_NONE;
    for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
        size_t k = strlen(tab[i].name);
        if (strncasecmp(hint, tab[i].name, k) == 0 && (hint[k] == 0 || (hint[k] == '/' && hint[k + 1])))
            return tab[i].kind;
    }
    return MEDIA_NONE;
}

const char *media_kind_name(MediaKind k)
{
    switch (k) {
    case MEDIA_IMAGE: return "image";
    case MEDIA_VIDEO: return "video";
    case MEDIA_AUDIO: return "audio";
    default: return "none";
    }
}

void media_limits_default(MediaLimits *lim)
{
    lim->max_bytes = (size_t)64 << 20;
    lim->video_frames = VIDEO_DEFAULT_FRAMES;
    lim->timeout_s = 30;
    lim->max_cpu_s = lim->max_video_cpu_s = 0;
    lim->cancel = NULL;
}

void media_item_free(MediaItem *it)
{
    if (!it)
        return;
    for (int i = 0; i < it->n_frames; i++)
        image_free(&it->frames[i]);
    free(it->frames);
    free(it->timestamps);
    memset(it, 0, sizeof(*it));
}

/* The image.h limits for lim. */
static void image_limits_for(const MediaLimits *lim, ImageLimits *il)
{
    image_limits_default(il);
    il->max_input_bytes = lim->max_bytes;
    il->max_video_bytes = lim->max_bytes;
    if (lim->timeout_s > 0)
        il->timeout_s = lim->timeout_s;
    if (lim->max_cpu_s > 0)
        il->max_cpu_s = lim->max_cpu_s;
    if (lim->max_video_cpu_s > 0)
        il->max_video_cpu_s = lim->max_video_cpu_s;
    il->cancel = lim->cancel;
}

/* One attachment from fd (fd >= 0) or from data/size. */
static int decode(int fd, const void *data, size_t size, MediaKind kind, const MediaLimits *lim, MediaItem *ret,
                  char *err, size_t err_len)
{
    MediaLimits def;
    ImageLimits il;
    MediaItem it = {.kind = kind};
    int r, n = 0;

    if (!lim) {
        media_limits_default(&def);
        lim = &def;
    }
    image_limits_for(lim, &il);
    switch (kind) {
    case MEDIA_IMAGE:
        if (!(it.frames = calloc(1, sizeof(Image))))
            return -ENOMEM;
        r = fd >= 0 ? image_decode_fd(fd, &il, &it.frames[0], err, err_len)
                    : image_decode(data, size, &il, &it.frames[0], err, err_len);
        if (r < 0)
            goto fail;
        it.n_frames = 1;
        break;
    case MEDIA_VIDEO:
        if (lim->video_frames < 1 || lim->video_frames > MEDIA_MAX_FRAMES)
            return err_set(err, err_len, -EINVAL, "video frames %d out of range 1..%d", lim->video_frames,
                           MEDIA_MAX_FRAMES);
        it.frames = calloc((size_t)lim->video_frames, sizeof(Image));
        it.timestamps = calloc((size_t)lim->video_frames, sizeof(double));
        if (!it.frames || !it.timestamps) {
            r = -ENOMEM;
            goto fail;
        }
        r = fd >= 0 ? video_sample_frames_fd(fd, lim->video_frames, &il, it.frames, it.timestamps, &n, err,
                                             err_len)
                    : video_sample_frames(data, size, lim->video_frames, &il, it.frames, it.timestamps, &n, err,
                                          err_len);
        if (r < 0)
            goto fail;
        it.n_frames = n;
        break;
    case MEDIA_AUDIO:
        return err_set(err, err_len, -EMEDIUMTYPE, "audio is decoded by speech/audio.h, not as frames");
    default:
        return err_set(err, err_len, -EMEDIUMTYPE, "unknown media type");
    }
    *ret = it;
    return 0;
fail:
    media_item_free(&it);
    return r;
}

int media_decode_fd(int fd, MediaKind kind, const MediaLimits *lim, MediaItem *ret, char *err, size_t err_len)
{
    if (fd < 0)
        return err_set(err, err_len, -EINVAL, "bad file descriptor");
    return decode(fd, NULL, 0, kind, lim, ret, err, err_len);
}

int media_decode_memory(const void *data, size_t size, MediaKind kind, const MediaLimits *lim, MediaItem *ret,
                        char *err, size_t err_len)
{
    if (!data && size)
        return err_set(err, err_len, -EINVAL, "no data");
    return decode(-1, data ? data : "", size, kind, lim, ret, err, err_len);
}

int media_decode_file(const char *path, MediaKind kind, const MediaLimits *lim, MediaItem *ret, char *err,
                      size_t err_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), r;

    if (fd < 0)
        return err_set(err, err_len, -errno, "%s: %s", path, strerror(errno));
    r = media_decode_fd(fd, kind, lim, ret, err, err_len);
    close(fd);
    return r;
}
