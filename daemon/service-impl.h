/* service-impl.h — what service.c and service-assistant.c share (private to the daemon's service). */
#ifndef MYNA_DAEMON_SERVICE_IMPL_H
#define MYNA_DAEMON_SERVICE_IMPL_H

#include <systemd/sd-bus.h>

#include "service.h"

/* Replace invalid UTF-8 in place so sd-bus accepts the string. */
void service_utf8_sanitize(char *t);
int service_method_create_session(sd_bus_message *m, void *userdata, sd_bus_error *e);
int service_method_transcribe(sd_bus_message *m, void *userdata, sd_bus_error *e);
extern const sd_bus_vtable service_assistant_vtable[];

#endif
