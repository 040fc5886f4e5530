/* log.h — one logging entry point for the whole project.
 * Library code logs once, at the layer that knows why something failed (STYLE.md §5). Kernels never log.
 * Output goes to stderr as "myna: LEVEL: message"; the daemon may install a sink (journal, tests). */
#ifndef MYNA_LOG_H
#define MYNA_LOG_H

#include <stdarg.h>
#include <stddef.h>

typedef enum { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN = 1, LOG_LEVEL_INFO = 2, LOG_LEVEL_DEBUG = 3 } LogLevel;

typedef void (*LogSink)(void *user, LogLevel level, const char *msg);

void log_set_level(LogLevel max_level);             /* default INFO; MYNA_LOG=debug|info|warn|error overrides */
void log_set_sink(LogSink sink, void *user);         /* NULL restores stderr */
void log_msg(LogLevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

/* Propagate a negative errno from a call whose failure a caller reports once (STYLE.md §4–5); the failing
 * expression and file:line go to the debug log. Both need an `int r` in scope; TRY_GOTO jumps to `label`
 * (the function's one cleanup path). */
#define TRY_RET(call)                                                                                  \
    do {                                                                                               \
        if ((r = (call)) < 0) {                                                                        \
            log_debug("%s:%d: %s: %d", __FILE__, __LINE__, #call, r);                                  \
            return r;                                                                                  \
        }                                                                                              \
    } while (0)
#define TRY_GOTO(call, label)                                                                          \
    do {                                                                                               \
        if ((r = (call)) < 0) {                                                                        \
            log_debug("%s:%d: %s: %d", __FILE__, __LINE__, #call, r);                                  \
            goto label;                                                                                \
        }                                                                                              \
    } while (0)

/* Error text buffer passed down to parsers so the caller decides how to report it.
 * err_set() formats into it (truncating) when buf != NULL; returns `code` for `return err_set(...)`. */
int err_set(char *buf, size_t len, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
