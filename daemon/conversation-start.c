/* conversation-start.c — StartConversation's options: the input and output streams, the voice, duplex
 * (see conversation.h). */
#include "conversation-start.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "paths.h"

/* fd for reading (input) or writing: a pipe gets its own non-blocking description, a socket is used with
 * MSG_DONTWAIT. */
static int open_stream(int fd, int out, int *is_sock, char *err, size_t n)
{
    struct stat st;
    const char *what = out ? "output" : "input";
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fstat(fd, &st) < 0)
        return err_set(err, n, -EBADF, "%s: not an open file descriptor", what);
    if ((fl & O_PATH) || (fl & O_ACCMODE) == (out ? O_RDONLY : O_WRONLY))
        return err_set(err, n, -EINVAL, "%s: not open for %s (pass a pipe's %s end)", what,
                       out ? "writing" : "reading", out ? "write" : "read");
    int r;
    if (S_ISFIFO(st.st_mode)) {
        char p[64];
        snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
        r = open(p, (out ? O_WRONLY : O_RDONLY) | O_NONBLOCK | O_CLOEXEC);
        *is_sock = 0;
    } else if (S_ISSOCK(st.st_mode)) {
        r = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        *is_sock = 1;
    } else {
        return err_set(err, n, -EINVAL, "%s: a pipe or a socket is needed (s16le 16 kHz mono)", what);
    }
    if (r < 0)
        return err_set(err, n, -EBADF, "%s: could not keep the file descriptor (%s)", what, strerror(errno));
    return r;
}

int conversation_parse_start(Service *s, sd_bus_message *m, ConvStart *c, char *err, size_t n)
{
    int in = -1, out = -1, r;
    char voice[128];
    snprintf(voice, sizeof(voice), "%s", s->cfg.voice);
    snprintf(c->duplex, sizeof(c->duplex), "auto");
    if ((r = sd_bus_message_enter_container(m, 'a', "{sv}")) < 0)
        return err_set(err, n, -EINVAL, "options: expected a{sv}");
    while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
        const char *key, *contents, *str;
        if (sd_bus_message_read(m, "s", &key) < 0 || sd_bus_message_peek_type(m, NULL, &contents) < 0 ||
            sd_bus_message_enter_container(m, 'v', contents) < 0)
            return err_set(err, n, -EINVAL, "options: malformed entry");
        if (!strcmp(key, "input") || !strcmp(key, "output")) {
            int fd;
            if (strcmp(contents, "h") || sd_bus_message_read_basic(m, 'h', &fd) < 0)
                return err_set(err, n, -EINVAL, "option '%s': expected a file descriptor (h), got '%s'", key,
                               contents);
            *(key[0] == 'i' ? &in : &out) = fd;
        } else if (!strcmp(key, "voice") || !strcmp(key, "duplex")) {
            if (strcmp(contents, "s") || sd_bus_message_read_basic(m, 's', &str) < 0)
                return err_set(err, n, -EINVAL, "option '%s': expected a string (s), got '%s'", key, contents);
            if (key[0] == 'd') {
                if (strcmp(str, "auto") && strcmp(str, "half") && strcmp(str, "full"))
                    return err_set(err, n, -EINVAL, "option 'duplex': '%.20s' is not auto, half or full", str);
                snprintf(c->duplex, sizeof(c->duplex), "%s", str);
            } else {
                size_t len = strlen(str);
                int ok = len > 0 && len < sizeof(voice) && str[0] != '.';
                for (const char *p = str; ok && *p; p++)
                    ok = isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '.';
                if (!ok)
                    return err_set(err, n, -EINVAL, "option 'voice': '%.60s' is not a voice name (a file stem in "
                                   "voices_dir: letters, digits, _ - .)", str);
                snprintf(voice, sizeof(voice), "%s", str);
            }
        } else {
            return err_set(err, n, -EINVAL, "unknown option '%.60s' (StartConversation takes input, output, voice, "
                           "duplex)", key);
        }
        if (sd_bus_message_exit_container(m) < 0 || sd_bus_message_exit_container(m) < 0)
            return err_set(err, n, -EINVAL, "options: malformed entry");
    }
    if (r < 0 || sd_bus_message_exit_container(m) < 0)
        return err_set(err, n, -EINVAL, "options: malformed");
    if (in < 0 || out < 0)
        return err_set(err, n, -EMEDIUMTYPE, "daemon microphone not wired yet; pass input/output fds");
    char dir[CONFIG_STR_MAX];
    if (s->cfg.voices_dir[0])
        snprintf(dir, sizeof(dir), "%s", s->cfg.voices_dir);
    else
        paths_models_dir(dir, sizeof(dir));
    snprintf(c->voice_path, sizeof(c->voice_path), "%.3900s/%s.onnx", dir, voice);
    char json[4200];
    snprintf(json, sizeof(json), "%s.json", c->voice_path);
    if (access(c->voice_path, R_OK) < 0 || access(json, R_OK) < 0)
        return err_set(err, n, -ENODEV, "voice '%s' is not installed in %.150s (run scripts/fetch-models)", voice,
                       dir);
#if !HAVE_ESPEAK
    return err_set(err, n, -ENODEV, "this mynad was built without espeak-ng: no speech out");
#endif
    if ((c->in_fd = open_stream(in, 0, &c->in_sock, err, n)) < 0)
        return c->in_fd;
    if ((c->out_fd = open_stream(out, 1, &c->out_sock, err, n)) < 0)
        return c->out_fd;
    return 0;
}

