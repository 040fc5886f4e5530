/* service.h — mynad's D-Bus service (ARCHITECTURE.md §6, docs/DBUS.md): the org.myna.Assistant1 object,
 * org.myna.Session1 objects, ownership by unique bus name, NameOwnerChanged tracking, and turning worker
 * events into Token/Finished/Failed signals sent to the session owner only. A request's way to the worker
 * (intake, decoding, per-user limits) is requests.h's.
 * Everything here runs on the loop thread (the only thread that touches sd-bus).
 * Not here: argument parsing of the program (mynad.c), option validation (options.c), inference (worker.c).
 */
#ifndef MYNA_DAEMON_SERVICE_H
#define MYNA_DAEMON_SERVICE_H

#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "mynad-config.h"
#include "worker.h"

#define MYNA_BUS_NAME "org.myna.Assistant1"
#define MYNA_OBJECT_PATH "/org/myna/Assistant1"
#define MYNA_IFACE "org.myna.Assistant1"
#define MYNA_SESSION_IFACE "org.myna.Session1"
#define MYNA_SESSION_PREFIX "/org/myna/Assistant1/session"

typedef struct Session Session;
typedef struct UserShare UserShare;
typedef struct DecodePool DecodePool;

typedef struct {
    Config cfg;                 /* reloadable keys change on SIGHUP */
    sd_event *event;            /* borrowed from run() */
    sd_bus *bus;                /* borrowed from run() */
    Worker *worker;             /* borrowed from run() */
    sd_bus_slot *obj_slot, *match_slot;
    sd_event_source *worker_src, *idle_timer;
    Session *sessions;          /* owned list */
    int n_sessions;
    uint64_t next_session, next_request;
    Job **reqs;                 /* ASK and TRANSCRIBE jobs accepted and not finished (owned; requests.h) */
    int n_reqs, cap_reqs;
    UserShare *users;           /* owned: per Unix user counts, budgets, transcription queue (requests.h) */
    DecodePool *pool;           /* owned: decoding off the worker (decode-pool.h) */
    sd_event_source *pool_src;
    int stopping;               /* shutting down: nothing more goes to the worker */
    sd_event_source *watchdog;  /* WATCHDOG=1 pings under systemd (NULL when WatchdogSec is not set) */
    uint64_t watchdog_usec;
} Service;

/* Register the objects, the NameOwnerChanged match and the worker's eventfd on the loop. The bus name is
 * requested by the caller afterwards (last). */
int service_init(Service *s, sd_event *ev, sd_bus *bus, Worker *w, const Config *cfg);
/* Close every session (cancelling their requests) and drop the objects. Call before stopping the worker. */
void service_close_all(Service *s);
/* From now on nothing more goes to the worker (call before worker_stop: requests waiting their turn are
 * cancelled by service_done instead). */
void service_begin_shutdown(Service *s);
/* Deliver the worker's remaining events (after worker_stop) so clients get Failed(Cancelled). */
void service_flush_events(Service *s);
void service_done(Service *s);
/* Under systemd with WatchdogSec: ping WATCHDOG=1 from the loop thread every half period, but only while
 * the worker's heartbeat is fresher than the period (a stuck worker lets systemd restart the daemon). */
int service_watchdog_start(Service *s);
/* Send a request's answer (a worker event, or one the loop made for a request that never reached the
 * worker) to its owner: Token/Finished/Failed signals, or the Transcribe reply. Frees nothing. */
void service_deliver(Service *s, const Event *ev);
const char *session_owner(const Session *se);

/* Apply a reloaded configuration (reloadable keys only; the others are kept and a warning names them). */
void service_reload(Service *s, const Config *next);

#endif
