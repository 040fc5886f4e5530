/* errors.h — the one mapping from a negative errno to mynad's D-Bus error names (docs/DBUS.md). Every layer
 * below the daemon returns its own codes (image.h, audio.h, whisper.h, lm.h); the daemon passes them through
 * with their message and names the class here, once, instead of remapping codes at each call site.
 *   -EINVAL -EBADF -EISDIR                     → org.myna.Error.InvalidArgument
 *   -E2BIG -EFBIG -ETIMEDOUT -ETIME             → org.myna.Error.TooLarge (over a size, duration or time cap)
 *   -EMEDIUMTYPE -EBADMSG -ENOTSUP              → org.myna.Error.UnsupportedMedia (not allowed / malformed)
 *   -EBUSY → Busy, -ENODEV → NoModel, -ECANCELED → Cancelled, -EACCES → AccessDenied, anything else → Internal
 */
#ifndef MYNA_DAEMON_ERRORS_H
#define MYNA_DAEMON_ERRORS_H

const char *error_dbus_name(int err);

#endif
