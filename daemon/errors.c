/* errors.c — errno → D-Bus error name (see errors.h). */
#include "errors.h"

#include <errno.h>

const char *error_dbus_name(int err)
{
    switch (err) {
    case -EINVAL:
    case -EBADF:
    case -EISDIR:
        return "org.myna.Error.InvalidArgument";
    case -E2BIG:
    case -EFBIG:
    case -ETIMEDOUT:
    case -ETIME:
        return "org.myna.Error.TooLarge";
    case -EMEDIUMTYPE:
    case -EBADMSG:
    case -ENOTSUP:
        return "org.myna.Error.UnsupportedMedia";
    case -EBUSY: return "org.myna.Error.Busy";
    case -ENODEV: return "org.myna.Error.NoModel";
    case -ECANCELED: return "org.myna.Error.Cancelled";
    case -EACCES: return "org.myna.Error.AccessDenied";
    default: return "org.myna.Error.Internal";
    }
}
