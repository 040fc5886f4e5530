/* main.c — myna-desktop, the GTK4 + libadwaita desktop client of mynad (application id org.myna.Desktop).
 *
 * The application: one window, preferences, keyboard accelerators and the application actions. The
 * actions are also exported on the session bus (org.gtk.Actions at /org/myna/Desktop), so scripts and the
 * tests can drive the window the way a user would, e.g.
 *   gapplication action org.myna.Desktop ask "'What is the capital of France?'"
 *   gapplication action org.myna.Desktop attach-file "'/home/me/photo.jpg'"
 * Not here: the window (desktop-window.c), D-Bus to mynad (bus-client.c), preferences (desktop-prefs.c).
 */
#include <adwaita.h>

#include "config.h"
#include "desktop-prefs.h"
#include "desktop-window.h"

#define APP_ID "org.myna.Desktop"

typedef struct {
    AdwApplication *app;
    DesktopWindow *win; /* NULL until activated; freed with its GtkWindow */
    MynaPrefs *prefs;   /* owned */
    gint64 t_main_us;
} App;

static DesktopWindow *window(App *a)
{
    if (!a->win) {
        a->win = desktop_window_new(a->app, a->prefs, a->t_main_us);
        g_object_add_weak_pointer(G_OBJECT(desktop_window_gtk(a->win)), (gpointer *)&a->win);
    }
    return a->win;
}

static void act_ask(GSimpleAction *s, GVariant *p, gpointer user) { desktop_window_ask(window(user), g_variant_get_string(p, NULL)); }
static void act_send(GSimpleAction *s, GVariant *p, gpointer user) { desktop_window_send(window(user)); }
static void act_stop(GSimpleAction *s, GVariant *p, gpointer user) { desktop_window_stop(window(user)); }
static void act_new(GSimpleAction *s, GVariant *p, gpointer user) { desktop_window_new_conversation(window(user)); }
static void act_attach(GSimpleAction *s, GVariant *p, gpointer user) { desktop_window_choose_files(window(user)); }
static void act_retry(GSimpleAction *s, GVariant *p, gpointer user) { desktop_window_retry(window(user)); }
static void act_prefs(GSimpleAction *s, GVariant *p, gpointer user) { desktop_window_show_preferences(window(user)); }

/* a path or a URI, as the file chooser, a drop or a paste would give it */
static void act_attach_file(GSimpleAction *s, GVariant *p, gpointer user)
{
    const char *arg = g_variant_get_string(p, NULL);
    GFile *f = g_uri_is_valid(arg, G_URI_FLAGS_NONE, NULL) ? g_file_new_for_uri(arg) : g_file_new_for_path(arg);
    desktop_window_attach_file(window(user), f);
    g_object_unref(f);
}

static void act_about(GSimpleAction *s, GVariant *p, gpointer user)
{
    App *a = user;
    GtkWidget *about = adw_about_window_new();
    gtk_window_set_transient_for(GTK_WINDOW(about), desktop_window_gtk(window(a)));
    adw_about_window_set_application_name(ADW_ABOUT_WINDOW(about), "Myna");
    adw_about_window_set_application_icon(ADW_ABOUT_WINDOW(about), APP_ID);
    adw_about_window_set_version(ADW_ABOUT_WINDOW(about), MYNA_VERSION);
    adw_about_window_set_comments(ADW_ABOUT_WINDOW(about), "A local assistant: chat, images and voice, on your computer");
    adw_about_window_set_license_type(ADW_ABOUT_WINDOW(about), GTK_LICENSE_MIT_X11);
    gtk_window_present(GTK_WINDOW(about));
}

static void act_quit(GSimpleAction *s, GVariant *p, gpointer user)
{
    App *a = user;
    if (a->win)
        gtk_window_destroy(desktop_window_gtk(a->win));
}

static const GActionEntry actions[] = {
    {"ask", act_ask, "s", NULL, NULL, {0}},
    {"send", act_send, NULL, NULL, NULL, {0}},
    {"stop", act_stop, NULL, NULL, NULL, {0}},
    {"new-conversation", act_new, NULL, NULL, NULL, {0}},
    {"attach", act_attach, NULL, NULL, NULL, {0}},
    {"attach-file", act_attach_file, "s", NULL, NULL, {0}},
    {"retry", act_retry, NULL, NULL, NULL, {0}},
    {"preferences", act_prefs, NULL, NULL, NULL, {0}},
    {"about", act_about, NULL, NULL, NULL, {0}},
    {"quit", act_quit, NULL, NULL, NULL, {0}},
};

static void on_startup(GApplication *app, gpointer user)
{
    App *a = user;
    g_action_map_add_action_entries(G_ACTION_MAP(app), actions, G_N_ELEMENTS(actions), a);
    static const struct {
        const char *action, *accels[3];
    } keys[] = {
        {"app.new-conversation", {"<Control>n", NULL}},
        {"app.stop", {"Escape", NULL}},
        {"app.preferences", {"<Control>comma", NULL}},
        {"app.quit", {"<Control>q", "<Control>w", NULL}},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(keys); i++)
        gtk_application_set_accels_for_action(GTK_APPLICATION(app), keys[i].action, keys[i].accels);

    GtkCssProvider *css = gtk_css_provider_new();
    gtk_css_provider_load_from_data(css, ".myna-user { background-color: alpha(@accent_bg_color, 0.14); }", -1);
    gtk_style_context_add_provider_for_display(gdk_display_get_default(), GTK_STYLE_PROVIDER(css),
                                               GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);
    g_object_unref(css);
}

static void on_activate(GApplication *app, gpointer user)
{
    gtk_window_present(desktop_window_gtk(window(user)));
}

static int on_local_options(GApplication *app, GVariantDict *opts, gpointer user)
{
    if (g_variant_dict_contains(opts, "version")) {
        printf("myna-desktop %s\n", MYNA_VERSION);
        return 0;
    }
    return -1;
}

int main(int argc, char **argv)
{
    App a = {0};
    a.t_main_us = g_get_monotonic_time();
    a.prefs = myna_prefs_load();
    a.app = adw_application_new(APP_ID, G_APPLICATION_DEFAULT_FLAGS);
    g_application_add_main_option(G_APPLICATION(a.app), "version", 0, 0, G_OPTION_ARG_NONE, "Print the version",
                                  NULL);
    g_signal_connect(a.app, "startup", G_CALLBACK(on_startup), &a);
    g_signal_connect(a.app, "activate", G_CALLBACK(on_activate), &a);
    g_signal_connect(a.app, "handle-local-options", G_CALLBACK(on_local_options), &a);
    int st = g_application_run(G_APPLICATION(a.app), argc, argv);
    g_object_unref(a.app);
    myna_prefs_free(a.prefs);
    return st;
}
