/* bus-open.c — see bus-open.h. Its own small library so the client links it without the daemon. */
#include "bus-open.h"

int bus_open(const char *address, int system_bus, sd_bus **ret)
{
    sd_bus *bus = NULL;
    int r;

    if (address) {
        r = sd_bus_new(&bus);
        if (r >= 0)
            r = sd_bus_set_address(bus, address);
        if (r >= 0)
            r = sd_bus_set_bus_client(bus, 1);
        if (r >= 0)
            r = sd_bus_start(bus);
        if (r < 0) {
            sd_bus_unref(bus);
            return r;
        }
        *ret = bus;
        return 0;
    }
    return system_bus ? sd_bus_open_system(ret) : sd_bus_open_user(ret);
}
