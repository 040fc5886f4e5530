/* options.h — validation of the D-Bus arguments of CreateSession, Ask and Transcribe (docs/DBUS.md): the
 * a{sv} option dictionaries and Ask's (text, attachments) — callable on any sd_bus_message, without a bus
 * connection, so tests/fuzz/fuzz-dbus-options.c drives exactly what the handlers run.
 * Every key is known, every value has an accepted D-Bus type, is finite and in range; the first problem
 * is reported with the key's name. Not here: sending errors (service.c maps the codes to names).
 * Codes: -EINVAL InvalidArgument, -E2BIG TooLarge, -EMEDIUMTYPE UnsupportedMedia (names: errors.h).
 */
#ifndef MYNA_DAEMON_OPTIONS_H
#define MYNA_DAEMON_OPTIONS_H

#include <stddef.h>
#include <systemd/sd-bus.h>

#include "mynad-config.h"
#include "lm.h"
#include "worker.h"

#define OPTIONS_SYSTEM_PROMPT_MAX 65536

typedef struct {
    LmSampling sampling;
    char *system_prompt; /* owned (CreateSession only), NULL when not given */
    int speak;           /* option speak: -1 not given, 0, 1 */
    int speech_keys;     /* Ask: a speech option (voice, output, format, ...) was given: speak_prepare_ask */
} RequestOptions;

/* Start from the configured defaults. */
void options_defaults(RequestOptions *o, const Config *cfg);
/* Read an a{sv} from m into o (which holds the defaults). session: 1 for CreateSession (system_prompt
 * allowed), 0 for Ask (voice, output, format, sample_rate, rate, speaker, noise_scale, noise_w skipped for
 * speak_prepare_ask). Both take speak (b). */
int options_parse(sd_bus_message *m, int session, const Config *cfg, RequestOptions *o, char *err,
                  size_t err_len);
void options_clear(RequestOptions *o);

/* Transcribe's a{sv}: language s, timestamps b, translate b, temperature d (the fallback step; 0 = greedy
 * only), no_speech_threshold d, max_tokens (integer), seed (integer). o holds the defaults. */
int options_parse_transcribe(sd_bus_message *m, SpeechOptions *o, char *err, size_t err_len);

/* Ask's arguments up to the options: text s and attachments a(sh). The fds are borrowed from m. Structure
 * errors return at once; a per-attachment problem (unknown hint, too many) is kept in att_err/att_msg so
 * the options are still read (the handler reports it after them). */
typedef struct {
    const char *text;            /* borrowed from m */
    int n_att;
    MediaKind kind[JOB_MAX_ATTACHMENTS];
    int fd[JOB_MAX_ATTACHMENTS]; /* borrowed from m */
    int att_err;
    char att_msg[256];
} AskArgs;
int options_read_ask(sd_bus_message *m, const Config *cfg, AskArgs *a, char *err, size_t err_len);

#endif
