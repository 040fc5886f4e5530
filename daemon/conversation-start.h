/* conversation-start.h — StartConversation's a{sv} options read and checked (conversation-start.c): input h
 * and output h (a pipe gets its own non-blocking open file description, a socket is used with
 * MSG_DONTWAIT), voice s (a file stem in voices_dir, installed), duplex s (auto|half|full).
 */
#ifndef MYNA_DAEMON_CONVERSATION_START_H
#define MYNA_DAEMON_CONVERSATION_START_H

#include <stddef.h>
#include <systemd/sd-bus.h>

#include "service.h"

typedef struct {
    int in_fd, out_fd;       /* owned once set (>= 0), also when a later check fails */
    int in_sock, out_sock;
    char voice_path[4096];   /* VOICE.onnx */
    char duplex[8];
} ConvStart;

/* c->in_fd and c->out_fd start at -1. 0, or a negative errno with err naming the option: -EINVAL,
 * -EMEDIUMTYPE (no input/output: the daemon's devices are not wired yet), -ENODEV (voice not installed or no
 * espeak-ng), -EBADF. */
int conversation_parse_start(Service *s, sd_bus_message *m, ConvStart *c, char *err, size_t n);

#endif
