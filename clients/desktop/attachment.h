/* attachment.h — an image or video the user is about to send: from a file (chooser, drag and drop, a
 * pasted file list) or from pasted pixels (kept as PNG bytes). Opened as a file descriptor only when the
 * question is sent; the daemon never sees a path. */
#ifndef MYNA_DESKTOP_ATTACHMENT_H
#define MYNA_DESKTOP_ATTACHMENT_H

#include <gtk/gtk.h>

typedef struct {
    char *hint;          /* owned: the media type, "image/png", "video/mp4", … (the Ask hint) */
    char *name;          /* owned: what the user sees, e.g. the file name */
    GFile *file;         /* owned, or NULL for pasted pixels */
    GBytes *bytes;       /* owned PNG bytes of pasted pixels, or NULL */
    GdkPaintable *thumb; /* owned thumbnail, NULL for a video (shown as an icon) */
} Attachment;

/* NULL with *error (G_IO_ERROR_NOT_SUPPORTED, "NAME is not an image or a video") for other files. */
Attachment *attachment_new_file(GFile *file, GError **error);
Attachment *attachment_new_texture(GdkTexture *texture);
/* A new read-only fd (the file, or a sealed memfd with the bytes); -1 with *error. Caller closes it. */
int attachment_open_fd(const Attachment *a, GError **error);
void attachment_free(Attachment *a);

#endif
