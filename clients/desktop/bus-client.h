/* bus-client.h — myna-desktop's only link to mynad: org.myna.Assistant1 over GDBus (docs/DBUS.md).
 *
 * Watches the bus name (with D-Bus activation, so the bus starts mynad when it is installed), mirrors the
 * daemon's State / Backend / Models properties, keeps one Session1 (one conversation) and forwards its
 * Token / Finished / Failed signals. It is not a model: nothing here links or loads model code.
 * Every call is asynchronous on the GTK main loop; callbacks run there.
 */
#ifndef MYNA_DESKTOP_BUS_CLIENT_H
#define MYNA_DESKTOP_BUS_CLIENT_H

#include <gio/gio.h>

typedef enum {
    MYNA_BUS_CONNECTING, /* waiting for the name (activation may be starting mynad) */
    MYNA_BUS_ABSENT,     /* nobody owns org.myna.Assistant1 and activation failed */
    MYNA_BUS_LOADING,    /* State "loading": requests queue until the model is ready */
    MYNA_BUS_READY,      /* State "ready" and our session exists */
    MYNA_BUS_ERROR,      /* State "error: …" (no model) or the session could not be created */
} MynaBusState;

typedef struct {
    void (*state_changed)(void *data); /* state, model, backend or error text changed */
    void (*token)(void *data, guint64 request_id, const char *text);
    void (*finished)(void *data, guint64 request_id, const char *reason, GVariant *stats);
    void (*failed)(void *data, guint64 request_id, const char *error_name, const char *message);
} MynaBusCallbacks;

typedef struct MynaBus MynaBus;

/* One attachment of an Ask: a media type hint ("image/png", "video/mp4") and an fd the caller still owns
 * (the bus dups it into the message's GUnixFDList). */
typedef struct {
    const char *hint;
    int fd;
} MynaAttachment;

/* conn: borrowed (the GApplication's session connection). Starts watching at once. */
MynaBus *myna_bus_new(GDBusConnection *conn, const MynaBusCallbacks *cb, void *data);
void myna_bus_free(MynaBus *bus);

MynaBusState myna_bus_state(const MynaBus *bus);
const char *myna_bus_model(const MynaBus *bus);   /* "SmolLM2-135M-Instruct" or "" */
const char *myna_bus_backend(const MynaBus *bus); /* "cpu: 2 threads, …" or "" */
const char *myna_bus_error(const MynaBus *bus);   /* why, in MYNA_BUS_ERROR; else "" */
/* In MYNA_BUS_ERROR: TRUE when the daemon has no model (State "error: …"), FALSE when it refused our
 * session or its properties (e.g. Busy: too many sessions). */
gboolean myna_bus_error_is_model(const MynaBus *bus);
gboolean myna_bus_has_session(const MynaBus *bus);

/* Options of the next session (system prompt; NULL or "" for none). Takes effect on the next
 * CreateSession, i.e. after myna_bus_new_conversation or a daemon restart. */
void myna_bus_set_system_prompt(MynaBus *bus, const char *system_prompt);

/* Ask once the daemon is there again (StartServiceByName: D-Bus activation). */
void myna_bus_retry(MynaBus *bus);

/* Session1.Ask(text, attachments, {temperature}) → request id (myna_bus_ask_finish; 0 and *error on
 * failure, e.g. org.myna.Error.UnsupportedMedia with the daemon's message). temperature < 0: the session's. */
void myna_bus_ask(MynaBus *bus, const char *text, const MynaAttachment *att, int n_att, double temperature,
                  GAsyncReadyCallback done, gpointer user_data);
guint64 myna_bus_ask_finish(GAsyncResult *res, GError **error);

void myna_bus_cancel(MynaBus *bus, guint64 request_id);
/* Reset() the session (history and attached images forgotten); with a changed system prompt, Close() and
 * CreateSession() instead so the new prompt applies. */
void myna_bus_new_conversation(MynaBus *bus);

/* The error's D-Bus name ("org.myna.Error.UnsupportedMedia") or NULL, and its message without the
 * "GDBus.Error:…: " prefix (owned by the caller). */
char *myna_bus_error_message(const GError *error, char **ret_name);

#endif
