/* log.c — see log.h. */
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static LogLevel g_level = LOG_LEVEL_INFO;
static int g_level_init;
static LogSink g_sink;
static void *g_sink_user;

static const char *level_name(LogLevel l)
{
    switch (l) {
    case LOG_LEVEL_ERROR: return "error";
    case LOG_LEVEL_WARN: return "warning";
    case LOG_LEVEL_INFO: return "info";
    default: return "debug";
    }
}

static void level_from_env(void)
{
    const char *e = getenv("MYNA_LOG");
    g_level_init = 1;
    if (!e)
        return;
    if (!strcmp(e, "debug")) g_level = LOG_LEVEL_DEBUG;
    else if (!strcmp(e, "info")) g_level = LOG_LEVEL_INFO;
    else if (!strcmp(e, "warn")) g_level = LOG_LEVEL_WARN;
    else if (!strcmp(e, "error")) g_level = LOG_LEVEL_ERROR;
}

void log_set_level(LogLevel max_level)
{
    g_level_init = 1;
    g_level = max_level;
}

void log_set_sink(LogSink sink, void *user)
{
    g_sink = sink;
    g_sink_user = user;
}

void log_msg(LogLevel level, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    if (!g_level_init)
        level_from_env();
    if (level > g_level)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (g_sink)
        g_sink(g_sink_user, level, buf);
    else
        fprintf(stderr, "myna: %s: %s\n", level_name(level), buf);
}

int err_set(char *buf, size_t len, int code, const char *fmt, ...)
{
    va_list ap;

    if (buf && len) {
        va_start(ap, fmt);
        vsnprintf(buf, len, fmt, ap);
        va_end(ap);
    }
    return code;
}
