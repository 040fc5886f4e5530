/* media.h — attachments as the clients and the daemon hand them to a model: a media kind (image, video,
 * audio) from a type hint, and the decode of one attachment from a file descriptor into frames.
 * What it is: the general plumbing every modality shares (kinds, hints, caps, error mapping); images and
 * video frames go through vision/image.h. Audio is a kind whose samples come from speech/audio.h (the
 * daemon's decode pool calls it; it becomes text through Whisper), so media_decode_* refuse MEDIA_AUDIO.
 * What it is not: preprocessing or encoding (the model does that, adapters/model.h).
 */
#ifndef MYNA_ADAPTERS_MEDIA_H
#define MYNA_ADAPTERS_MEDIA_H

#include <stdatomic.h>
#include <stddef.h>

#include "image.h"

typedef enum { MEDIA_NONE = 0, MEDIA_IMAGE, MEDIA_VIDEO, MEDIA_AUDIO, MEDIA_N_KINDS } MediaKind;

enum { MEDIA_MAX_FRAMES = 16 }; /* video frames one attachment may become (mllama attends to 16 images) */

/* "image", "image/<any>", "video", "video/<any>", "audio", "audio/<any>" (case-insensitive, at most 127
 * bytes); anything else → MEDIA_NONE. */
MediaKind media_kind_from_hint(const char *hint);
const char *media_kind_name(MediaKind k); /* "image", "video", "audio", "none" */

typedef struct {
    size_t max_bytes;      /* encoded size of one attachment (images and videos) */
    int video_frames;      /* frames sampled from a video, 1..MEDIA_MAX_FRAMES */
    double timeout_s;      /* wall-clock deadline of one decode */
    double max_cpu_s;      /* CPU time of the calling thread for one image; 0 = image.h's default */
    double max_video_cpu_s;/* the same for one video; 0 = image.h's default */
    const atomic_int *cancel; /* borrowed, may be NULL: nonzero → -ECANCELED */
} MediaLimits;

void media_limits_default(MediaLimits *lim); /* 64 MiB, 8 frames, 30 s, image.h's CPU budgets, no cancel */

typedef struct {
    MediaKind kind;
    Image *frames;         /* owned [n_frames]: 1 for a still image */
    double *timestamps;    /* owned [n_frames] for a video (seconds), else NULL */
    int n_frames;
} MediaItem;

/* Decode one attachment of the given kind from fd (not closed; images are read from the current offset,
 * regular-file videos in place). Errors as vision/image.h: -EMEDIUMTYPE / -EBADMSG (unsupported or
 * malformed), -EFBIG / -ETIMEDOUT (over a cap), -ENOTSUP (library not built in); MEDIA_AUDIO and
 * MEDIA_NONE: -EMEDIUMTYPE. err gets one line. ret written on success only. */
int media_decode_fd(int fd, MediaKind kind, const MediaLimits *lim, MediaItem *ret, char *err, size_t err_len);
/* Same from bytes in memory (the daemon's decode pool: intake read the fd already). */
int media_decode_memory(const void *data, size_t size, MediaKind kind, const MediaLimits *lim, MediaItem *ret,
                        char *err, size_t err_len);
/* Same from a path (myna-run). */
int media_decode_file(const char *path, MediaKind kind, const MediaLimits *lim, MediaItem *ret, char *err,
                      size_t err_len);
void media_item_free(MediaItem *it); /* accepts NULL; zeroes the struct */


#endif
