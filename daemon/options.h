/* options.h — validation of the a{sv} option dictionaries of CreateSession and Ask (docs/DBUS.md).
 * Every key is known, every value has an accepted D-Bus type, is finite and in range; the first problem
 * is reported with the key's name. Not here: sending errors (service.c maps the codes to names).
 * Codes: -EINVAL InvalidArgument, -E2BIG TooLarge, -EMEDIUMTYPE UnsupportedMedia.
 */
#ifndef MYNA_DAEMON_OPTIONS_H
#define MYNA_DAEMON_OPTIONS_H

#include <stddef.h>
#include <systemd/sd-bus.h>

#include "mynad-config.h"
#include "lm.h"

#define OPTIONS_SYSTEM_PROMPT_MAX 65536

typedef struct {
    LmSampling sampling;
    char *system_prompt; /* owned (CreateSession only), NULL when not given */
} RequestOptions;

/* Start from the configured defaults. */
void options_defaults(RequestOptions *o, const Config *cfg);
/* Read an a{sv} from m into o (which holds the defaults). session: 1 for CreateSession (system_prompt,
 * speak, voice allowed), 0 for Ask. */
int options_parse(sd_bus_message *m, int session, const Config *cfg, RequestOptions *o, char *err,
                  size_t err_len);
void options_clear(RequestOptions *o);

/* The D-Bus error name for a negative errno from options_parse and the worker. */
const char *options_error_name(int err);

#endif
