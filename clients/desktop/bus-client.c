/* bus-client.c — see bus-client.h. GDBus calls on the GApplication's connection; no sd-bus here, because
 * GDBus dispatches on the GTK main loop already. Shape of the state machine:
 *   name watched (AUTO_START) → appeared: subscribe PropertiesChanged, GetAll, CreateSession
 *                             → vanished: ABSENT (session and subscriptions dropped)
 *   GetAll / PropertiesChanged → State "loading" | "ready" | "error: …" → LOADING | READY | ERROR
 */
#include "bus-client.h"

#include <gio/gunixfdlist.h>
#include <string.h>

#define NAME "org.myna.Assistant1"
#define PATH "/org/myna/Assistant1"
#define IFACE "org.myna.Assistant1"
#define SESSION_IFACE "org.myna.Session1"

struct MynaBus {
    GDBusConnection *conn; /* borrowed */
    MynaBusCallbacks cb;
    void *data;
    guint watch_id;
    guint props_sub, session_sub;
    char *owner;        /* owned: unique name of mynad, NULL while absent */
    char *session;      /* owned: session object path */
    char *state_text;   /* owned: the daemon's State */
    char *model, *backend, *error;
    char *system_prompt;        /* for the next CreateSession */
    gboolean prompt_changed;    /* the running session has an older prompt */
    gboolean creating;
    gboolean absent;
    GCancellable *cancel; /* cancelled when the daemon vanishes or the bus is freed */
};

static void set_str(char **dst, const char *s)
{
    g_free(*dst);
    *dst = g_strdup(s ? s : "");
}

static void notify(MynaBus *bus)
{
    if (bus->cb.state_changed)
        bus->cb.state_changed(bus->data);
}

MynaBusState myna_bus_state(const MynaBus *bus)
{
    if (bus->absent)
        return MYNA_BUS_ABSENT;
    if (!bus->owner || !bus->state_text)
        return MYNA_BUS_CONNECTING;
    if (bus->error && bus->error[0])
        return MYNA_BUS_ERROR;
    if (!strcmp(bus->state_text, "loading"))
        return MYNA_BUS_LOADING;
    if (!strcmp(bus->state_text, "ready"))
        return bus->session ? MYNA_BUS_READY : MYNA_BUS_LOADING;
    return MYNA_BUS_ERROR;
}

const char *myna_bus_model(const MynaBus *bus) { return bus->model ? bus->model : ""; }
const char *myna_bus_backend(const MynaBus *bus) { return bus->backend ? bus->backend : ""; }
gboolean myna_bus_has_session(const MynaBus *bus) { return bus->session != NULL; }

const char *myna_bus_error(const MynaBus *bus)
{
    if (bus->error && bus->error[0])
        return bus->error;
    if (bus->state_text && !strncmp(bus->state_text, "error", 5)) {
        const char *s = bus->state_text + 5; /* "error: why" → "why" */
        s += *s == ':';
        while (*s == ' ')
            s++;
        return *s ? s : bus->state_text;
    }
    return "";
}

gboolean myna_bus_error_is_model(const MynaBus *bus)
{
    return !(bus->error && bus->error[0]) && bus->state_text && !strncmp(bus->state_text, "error", 5);
}

char *myna_bus_error_message(const GError *error, char **ret_name)
{
    char *name = g_dbus_error_is_remote_error(error) ? g_dbus_error_get_remote_error(error) : NULL;
    GError *copy = g_error_copy(error);
    g_dbus_error_strip_remote_error(copy);
    char *msg = g_strdup(copy->message);
    g_error_free(copy);
    if (ret_name)
        *ret_name = name;
    else
        g_free(name);
    return msg;
}

/* --- properties --------------------------------------------------------------------------------- */

static void apply_property(MynaBus *bus, const char *key, GVariant *v)
{
    if (!strcmp(key, "State") && g_variant_is_of_type(v, G_VARIANT_TYPE_STRING)) {
        set_str(&bus->state_text, g_variant_get_string(v, NULL));
    } else if (!strcmp(key, "Backend") && g_variant_is_of_type(v, G_VARIANT_TYPE_STRING)) {
        set_str(&bus->backend, g_variant_get_string(v, NULL));
    } else if (!strcmp(key, "Models") && g_variant_is_of_type(v, G_VARIANT_TYPE("a(ssttsu)"))) {
        /* first model's name; before loading the daemon lists the configured path with zeros */
        const char *name = "", *path = "";
        if (g_variant_n_children(v) > 0)
            g_variant_get_child(v, 0, "(&s&sttsu)", &name, &path, NULL, NULL, NULL, NULL);
        if (!name[0] && path[0]) {
            const char *slash = strrchr(path, '/');
            name = slash ? slash + 1 : path;
        }
        set_str(&bus->model, name);
    }
}

static void create_session(MynaBus *bus);

/* A call to mynad failed: unless it was cancelled, log it and keep it as the bus's error; frees err. FALSE when
 * it was cancelled — the daemon vanished or the bus is being freed, so `user` must not be touched. */
static gboolean call_failed(gpointer user, GError *err, const char *what)
{
    gboolean live = !g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    if (live) {
        MynaBus *bus = user;
        char *msg = myna_bus_error_message(err, NULL);
        g_warning("%s: %s", what, msg);
        set_str(&bus->error, msg);
        g_free(msg);
    }
    g_error_free(err);
    return live;
}

static void got_all(GObject *src, GAsyncResult *res, gpointer user)
{
    GError *err = NULL;
    GVariant *r = g_dbus_connection_call_finish(G_DBUS_CONNECTION(src), res, &err);
    if (!r) {
        if (call_failed(user, err, "mynad properties"))
            notify(user);
        return;
    }
    MynaBus *bus = user;
    GVariant *dict = g_variant_get_child_value(r, 0);
    GVariantIter it;
    const char *key;
    GVariant *v;
    g_variant_iter_init(&it, dict);
    while (g_variant_iter_next(&it, "{&sv}", &key, &v)) {
        apply_property(bus, key, v);
        g_variant_unref(v);
    }
    g_variant_unref(dict);
    g_variant_unref(r);
    if (!bus->session && !bus->creating && bus->state_text && strncmp(bus->state_text, "error", 5))
        create_session(bus);
    notify(bus);
}

static void fetch_properties(MynaBus *bus)
{
    g_dbus_connection_call(bus->conn, bus->owner, PATH, "org.freedesktop.DBus.Properties", "GetAll",
                           g_variant_new("(s)", IFACE), G_VARIANT_TYPE("(a{sv})"), G_DBUS_CALL_FLAGS_NO_AUTO_START,
                           -1, bus->cancel, got_all, bus);
}

/* PropertiesChanged may carry values or only invalidate them: fetch everything again either way. */
static void on_props_changed(GDBusConnection *c, const char *sender, const char *path, const char *iface,
                             const char *signal, GVariant *params, gpointer user)
{
    MynaBus *bus = user;
    if (bus->owner)
        fetch_properties(bus);
}

/* --- the session ---------------------------------------------------------------------------------- */

static void on_session_signal(GDBusConnection *c, const char *sender, const char *path, const char *iface,
                              const char *signal, GVariant *p, gpointer user)
{
    MynaBus *bus = user;
    guint64 id = 0;
    const char *a = NULL, *b = NULL;
    if (!bus->session || strcmp(path, bus->session))
        return;
    if (!strcmp(signal, "Token") && g_variant_is_of_type(p, G_VARIANT_TYPE("(ts)"))) {
        g_variant_get(p, "(t&s)", &id, &a);
        if (bus->cb.token)
            bus->cb.token(bus->data, id, a);
    } else if (!strcmp(signal, "Finished") && g_variant_is_of_type(p, G_VARIANT_TYPE("(tsa{sv})"))) {
        GVariant *stats = g_variant_get_child_value(p, 2);
        g_variant_get_child(p, 0, "t", &id);
        g_variant_get_child(p, 1, "&s", &a);
        if (bus->cb.finished)
            bus->cb.finished(bus->data, id, a, stats);
        g_variant_unref(stats);
    } else if (!strcmp(signal, "Failed") && g_variant_is_of_type(p, G_VARIANT_TYPE("(tss)"))) {
        g_variant_get(p, "(t&s&s)", &id, &a, &b);
        if (bus->cb.failed)
            bus->cb.failed(bus->data, id, a, b);
    }
}

static void drop_session(MynaBus *bus)
{
    if (bus->session_sub)
        g_dbus_connection_signal_unsubscribe(bus->conn, bus->session_sub);
    bus->session_sub = 0;
    g_clear_pointer(&bus->session, g_free);
}

static void session_created(GObject *src, GAsyncResult *res, gpointer user)
{
    GError *err = NULL;
    GVariant *r = g_dbus_connection_call_finish(G_DBUS_CONNECTION(src), res, &err);
    if (!r) {
        if (call_failed(user, err, "CreateSession")) {
            ((MynaBus *)user)->creating = FALSE;
            notify(user);
        }
        return;
    }
    MynaBus *bus = user;
    const char *path;
    bus->creating = FALSE;
    g_variant_get(r, "(&o)", &path);
    drop_session(bus);
    bus->session = g_strdup(path);
    bus->prompt_changed = FALSE;
    bus->session_sub = g_dbus_connection_signal_subscribe(bus->conn, bus->owner, SESSION_IFACE, NULL, bus->session,
                                                          NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_session_signal, bus, NULL);
    g_variant_unref(r);
    notify(bus);
}

static void create_session(MynaBus *bus)
{
    GVariantBuilder opts;
    g_variant_builder_init(&opts, G_VARIANT_TYPE("a{sv}"));
    if (bus->system_prompt && bus->system_prompt[0])
        g_variant_builder_add(&opts, "{sv}", "system_prompt", g_variant_new_string(bus->system_prompt));
    bus->creating = TRUE;
    g_dbus_connection_call(bus->conn, bus->owner, PATH, IFACE, "CreateSession", g_variant_new("(a{sv})", &opts),
                           G_VARIANT_TYPE("(o)"), G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, bus->cancel, session_created,
                           bus);
}

/* --- the name ------------------------------------------------------------------------------------- */

static void on_appeared(GDBusConnection *c, const char *name, const char *owner, gpointer user)
{
    MynaBus *bus = user;
    set_str(&bus->owner, owner);
    bus->absent = FALSE;
    g_clear_pointer(&bus->error, g_free);
    bus->props_sub = g_dbus_connection_signal_subscribe(bus->conn, owner, "org.freedesktop.DBus.Properties",
                                                        "PropertiesChanged", PATH, IFACE, G_DBUS_SIGNAL_FLAGS_NONE,
                                                        on_props_changed, bus, NULL);
    fetch_properties(bus);
    notify(bus);
}

static void forget_daemon(MynaBus *bus)
{
    g_cancellable_cancel(bus->cancel);
    g_clear_object(&bus->cancel);
    bus->cancel = g_cancellable_new();
    drop_session(bus);
    if (bus->props_sub)
        g_dbus_connection_signal_unsubscribe(bus->conn, bus->props_sub);
    bus->props_sub = 0;
    bus->creating = FALSE;
    g_clear_pointer(&bus->owner, g_free);
    g_clear_pointer(&bus->state_text, g_free);
    g_clear_pointer(&bus->error, g_free);
}

static void on_vanished(GDBusConnection *c, const char *name, gpointer user)
{
    MynaBus *bus = user;
    gboolean had_session = bus->session != NULL;
    forget_daemon(bus);
    bus->absent = TRUE;
    if (had_session && bus->cb.failed) /* an answer in flight ends here */
        bus->cb.failed(bus->data, 0, "org.myna.Error.Cancelled", "Myna stopped");
    notify(bus);
}

static void watch(MynaBus *bus)
{
    if (bus->watch_id)
        g_bus_unwatch_name(bus->watch_id);
    bus->watch_id = g_bus_watch_name_on_connection(bus->conn, NAME, G_BUS_NAME_WATCHER_FLAGS_AUTO_START, on_appeared,
                                                   on_vanished, bus, NULL);
}

MynaBus *myna_bus_new(GDBusConnection *conn, const MynaBusCallbacks *cb, void *data)
{
    MynaBus *bus = g_new0(MynaBus, 1);
    bus->conn = conn;
    bus->cb = *cb;
    bus->data = data;
    bus->cancel = g_cancellable_new();
    if (conn)
        watch(bus);
    else /* the application has no session bus connection at all */
        bus->absent = TRUE;
    return bus;
}

void myna_bus_free(MynaBus *bus)
{
    if (!bus)
        return;
    if (bus->watch_id)
        g_bus_unwatch_name(bus->watch_id);
    forget_daemon(bus);
    g_clear_object(&bus->cancel);
    g_free(bus->model);
    g_free(bus->backend);
    g_free(bus->system_prompt);
    g_free(bus);
}

void myna_bus_retry(MynaBus *bus)
{
    if (bus->owner || !bus->conn)
        return;
    bus->absent = FALSE;
    notify(bus);
    watch(bus);
}

void myna_bus_set_system_prompt(MynaBus *bus, const char *system_prompt)
{
    if (g_strcmp0(bus->system_prompt ? bus->system_prompt : "", system_prompt ? system_prompt : "")) {
        set_str(&bus->system_prompt, system_prompt);
        bus->prompt_changed = bus->session != NULL;
    }
}

/* --- requests ------------------------------------------------------------------------------------- */

static void ask_done(GObject *src, GAsyncResult *res, gpointer user)
{
    GTask *task = user;
    GError *err = NULL;
    GVariant *r = g_dbus_connection_call_with_unix_fd_list_finish(G_DBUS_CONNECTION(src), NULL, res, &err);
    if (!r) {
        g_task_return_error(task, err);
    } else {
        guint64 id = 0;
        g_variant_get(r, "(t)", &id);
        g_variant_unref(r);
        guint64 *ret = g_new(guint64, 1);
        *ret = id;
        g_task_return_pointer(task, ret, g_free);
    }
    g_object_unref(task);
}

void myna_bus_ask(MynaBus *bus, const char *text, const MynaAttachment *att, int n_att, double temperature,
                  GAsyncReadyCallback done, gpointer user_data)
{
    GTask *task = g_task_new(NULL, NULL, done, user_data);
    if (!bus->session || !bus->owner) {
        g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED, "Myna is not running");
        g_object_unref(task);
        return;
    }
    GUnixFDList *fds = g_unix_fd_list_new();
    GVariantBuilder list, opts;
    g_variant_builder_init(&list, G_VARIANT_TYPE("a(sh)"));
    for (int i = 0; i < n_att; i++) {
        GError *err = NULL;
        int idx = g_unix_fd_list_append(fds, att[i].fd, &err); /* dups the fd */
        if (idx < 0) {
            g_variant_builder_clear(&list);
            g_object_unref(fds);
            g_task_return_error(task, err);
            g_object_unref(task);
            return;
        }
        g_variant_builder_add(&list, "(sh)", att[i].hint, idx);
    }
    g_variant_builder_init(&opts, G_VARIANT_TYPE("a{sv}"));
    if (temperature >= 0)
        g_variant_builder_add(&opts, "{sv}", "temperature", g_variant_new_double(temperature));
    g_dbus_connection_call_with_unix_fd_list(bus->conn, bus->owner, bus->session, SESSION_IFACE, "Ask",
                                             g_variant_new("(sa(sh)a{sv})", text, &list, &opts), G_VARIANT_TYPE("(t)"),
                                             G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, fds, bus->cancel, ask_done, task);
    g_object_unref(fds);
}

guint64 myna_bus_ask_finish(GAsyncResult *res, GError **error)
{
    guint64 *id = g_task_propagate_pointer(G_TASK(res), error);
    guint64 r = id ? *id : 0;
    g_free(id);
    return r;
}

static void call_logged(GObject *src, GAsyncResult *res, gpointer user)
{
    GError *err = NULL;
    GVariant *r = g_dbus_connection_call_finish(G_DBUS_CONNECTION(src), res, &err);
    if (r)
        g_variant_unref(r);
    else {
        if (!g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            g_warning("%s: %s", (const char *)user, err->message);
        g_error_free(err);
    }
}

void myna_bus_cancel(MynaBus *bus, guint64 request_id)
{
    if (!bus->session || !request_id)
        return;
    g_dbus_connection_call(bus->conn, bus->owner, bus->session, SESSION_IFACE, "Cancel",
                           g_variant_new("(t)", request_id), NULL, G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, bus->cancel,
                           call_logged, "Cancel");
}

void myna_bus_new_conversation(MynaBus *bus)
{
    if (!bus->session)
        return;
    if (bus->prompt_changed) {
        g_dbus_connection_call(bus->conn, bus->owner, bus->session, SESSION_IFACE, "Close", NULL, NULL,
                               G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, bus->cancel, call_logged, "Close");
        drop_session(bus);
        create_session(bus);
        notify(bus);
        return;
    }
    g_dbus_connection_call(bus->conn, bus->owner, bus->session, SESSION_IFACE, "Reset", NULL, NULL,
                           G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, bus->cancel, call_logged, "Reset");
}
