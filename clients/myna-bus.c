/* myna-bus.c — error reporting for the myna client: maps D-Bus error names to the client's exit codes
 * (docs/DBUS.md lists the names); and the one-line JSON output of --json. Not here: the calls themselves
 * (myna.c, myna-chat.c, myna-listen.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "myna-client.h"

int myna_exit_code_for(const char *error_name)
{
    if (!error_name)
        return EXIT_ERROR;
    if (!strcmp(error_name, "org.myna.Error.NoModel") || !strncmp(error_name, "org.freedesktop.DBus.Error.Spawn", 32) ||
        !strcmp(error_name, "org.freedesktop.DBus.Error.ServiceUnknown") ||
        !strcmp(error_name, "org.freedesktop.DBus.Error.NameHasNoOwner") ||
        !strcmp(error_name, "org.freedesktop.DBus.Error.NoServer") ||
        !strcmp(error_name, "org.freedesktop.DBus.Error.Disconnected") ||
        !strcmp(error_name, "org.freedesktop.DBus.Error.NoReply") ||
        !strcmp(error_name, "org.freedesktop.DBus.Error.Timeout"))
        return EXIT_UNAVAILABLE;
    if (!strcmp(error_name, "org.myna.Error.Cancelled"))
        return EXIT_CANCELLED;
    if (!strcmp(error_name, "org.myna.Error.InvalidArgument") || !strcmp(error_name, "org.myna.Error.TooLarge") ||
        !strcmp(error_name, "org.myna.Error.UnsupportedMedia") || !strcmp(error_name, "org.myna.Error.Busy") ||
        !strcmp(error_name, "org.myna.Error.AccessDenied"))
        return EXIT_REJECTED;
    return EXIT_ERROR;
}

int myna_report(const sd_bus_error *e, int r, const char *what)
{
    const char *name = e && sd_bus_error_is_set(e) ? e->name : NULL;
    const char *msg = e && e->message ? e->message : strerror(r < 0 ? -r : EIO);
    fprintf(stderr, "myna: %s: %s%s%s%s\n", what, msg, name ? " (" : "", name ? name : "", name ? ")" : "");
    return name ? myna_exit_code_for(name) : EXIT_UNAVAILABLE;
}

void myna_print_json(const json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (s)
        printf("%s\n", s);
    free(s);
}
