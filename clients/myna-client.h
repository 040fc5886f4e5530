/* myna-client.h — what the files of the `myna` client share: the D-Bus names, exit codes, the parsed
 * command line (Opts), error reporting (myna-bus.c) and the commands that live outside myna.c: ask/chat
 * (myna-chat.c), transcribe/listen (myna-listen.c). Not a library: only clients/myna*.c include it.
 */
#ifndef MYNA_CLIENTS_MYNA_CLIENT_H
#define MYNA_CLIENTS_MYNA_CLIENT_H

#include <jansson.h>
#include <systemd/sd-bus.h>

#define BUS_NAME "org.myna.Assistant1"
#define OBJ_PATH "/org/myna/Assistant1"
#define IFACE "org.myna.Assistant1"
#define SESSION_IFACE "org.myna.Session1"

enum { EXIT_OK = 0, EXIT_ERROR = 1, EXIT_USAGE = 2, EXIT_UNAVAILABLE = 3, EXIT_CANCELLED = 4, EXIT_REJECTED = 5 };

typedef struct {
    const char *address;
    int system_bus, json, quiet;
    /* request options (-1 / NAN = not given) */
    long max_tokens, top_k;
    long long seed;
    double temperature, top_p, min_p;
    const char *system_prompt;
    /* ask --image FILE / --video FILE: sent as (hint, fd) attachments, never as paths */
    const char *media_path[16], *media_hint[16];
    int n_media;
    /* transcribe / listen */
    const char *language, *device, *input;
    int no_timestamps;
    double speed;
    /* ask/chat --speak [-o FILE]: the answer is spoken while it streams (the daemon's speaker, or a WAV) */
    int speak;
    const char *speak_out;
} Opts;

/* The exit code for a D-Bus error name (EXIT_UNAVAILABLE, EXIT_CANCELLED, EXIT_REJECTED or EXIT_ERROR). */
int myna_exit_code_for(const char *error_name);
/* Print "myna: WHAT: message (error name)" for a failed call and return its exit code. */
int myna_report(const sd_bus_error *e, int r, const char *what);

/* Print j (NULL: nothing) as one compact JSON line on stdout; j stays the caller's. */
void myna_print_json(const json_t *j);

/* ask (text) or chat (text NULL, chat 1): returns an exit code. */
int myna_cmd_converse(Opts *o, sd_bus *bus, const char *text, int chat);
/* transcribe FILE ('-' = stdin) and listen: return an exit code. */
int myna_cmd_transcribe(const Opts *o, sd_bus *bus, const char *file);
int myna_cmd_listen(const Opts *o, sd_bus *bus);
/* say [-o FILE|-] [--voice=NAME] [--rate=X] TEXT... (myna-say.c): argv are the words after "say". */
int myna_cmd_say(const Opts *o, sd_bus *bus, int argc, char **argv);
/* 16-bit mono PCM WAV header for `bytes` of data at `rate` Hz, written at f's position (myna-say.c). */
int myna_wav_header(FILE *f, uint32_t rate, uint64_t bytes);
/* talk --input FILE --output FILE … (myna-talk.c): a scripted voice conversation (StartConversation). */
int myna_cmd_talk(const Opts *o, sd_bus *bus, int argc, char **argv);

#endif
