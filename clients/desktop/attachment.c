/* attachment.c — see attachment.h. The media type comes from GIO's content sniffing (data and name), so
 * the hint the daemon gets is "image/…" or "video/…"; the daemon decodes by the bytes anyway. */
#include "attachment.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define THUMB_MAX_BYTES (48u << 20) /* larger files get no preview (decoding them would stall the UI) */

void attachment_free(Attachment *a)
{
    if (!a)
        return;
    g_free(a->hint);
    g_free(a->name);
    g_clear_object(&a->file);
    g_clear_pointer(&a->bytes, g_bytes_unref);
    g_clear_object(&a->thumb);
    g_free(a);
}

Attachment *attachment_new_file(GFile *file, GError **error)
{
    GFileInfo *info = g_file_query_info(file, G_FILE_ATTRIBUTE_STANDARD_CONTENT_TYPE "," G_FILE_ATTRIBUTE_STANDARD_DISPLAY_NAME
                                        "," G_FILE_ATTRIBUTE_STANDARD_SIZE, G_FILE_QUERY_INFO_NONE, NULL, error);
    if (!info)
        return NULL;
    const char *ctype = g_file_info_get_content_type(info);
    char *mime = ctype ? g_content_type_get_mime_type(ctype) : NULL;
    const char *name = g_file_info_get_display_name(info);
    if (!mime || (strncmp(mime, "image/", 6) && strncmp(mime, "video/", 6))) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "%s is not an image or a video (%s)", name,
                    mime ? mime : "unknown type");
        g_free(mime);
        g_object_unref(info);
        return NULL;
    }
    Attachment *a = g_new0(Attachment, 1);
    a->hint = mime;
    a->name = g_strdup(name);
    a->file = g_object_ref(file);
    if (!strncmp(mime, "image/", 6) && g_file_info_get_size(info) <= THUMB_MAX_BYTES) {
        GdkTexture *t = gdk_texture_new_from_file(file, NULL); /* no preview is not an error */
        a->thumb = t ? GDK_PAINTABLE(t) : NULL;
    }
    g_object_unref(info);
    return a;
}

Attachment *attachment_new_texture(GdkTexture *texture)
{
    Attachment *a = g_new0(Attachment, 1);
    a->hint = g_strdup("image/png");
    a->name = g_strdup("Pasted image");
    a->bytes = gdk_texture_save_to_png_bytes(texture);
    a->thumb = GDK_PAINTABLE(g_object_ref(texture));
    return a;
}

static int bytes_fd(GBytes *bytes, GError **error)
{
    gsize n;
    const guint8 *p = g_bytes_get_data(bytes, &n);
    int fd = memfd_create("myna-attachment", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        goto fail;
    for (gsize off = 0; off < n;) {
        ssize_t k = write(fd, p + off, n - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            goto fail;
        off += (gsize)k;
    }
    if (lseek(fd, 0, SEEK_SET) < 0)
        goto fail;
    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
    return fd;
fail:
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "pasted image: %s", g_strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

int attachment_open_fd(const Attachment *a, GError **error)
{
    if (a->bytes)
        return bytes_fd(a->bytes, error);
    char *path = g_file_get_path(a->file);
    if (!path) { /* not a local file (e.g. a remote location): read it, hand over a memfd */
        GBytes *b = g_file_load_bytes(a->file, NULL, NULL, error);
        if (!b)
            return -1;
        int fd = bytes_fd(b, error);
        g_bytes_unref(b);
        return fd;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "%s: %s", a->name, g_strerror(errno));
    g_free(path);
    return fd;
}
