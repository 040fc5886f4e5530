/* bus-open.h — the D-Bus connection mynad and its client `myna` open: a private address (tests, containers)
 * as a bus client, else the system or the session bus. Not here: names, objects, the event loop.
 */
#ifndef MYNA_BUS_OPEN_H
#define MYNA_BUS_OPEN_H

#include <systemd/sd-bus.h>

/* address (NULL = none) or the system/session bus; *ret only on success; negative errno from sd-bus. */
int bus_open(const char *address, int system_bus, sd_bus **ret);

#endif
