/* desktop-prefs.c — see desktop-prefs.h. GKeyFile rather than GSettings: no schema to compile or install
 * for a run from the build tree, and the file is plain to read and edit. */
#include "desktop-prefs.h"

#include <adwaita.h>
#include <errno.h>
#include <math.h>

char *myna_prefs_path(void)
{
    return g_build_filename(g_get_user_config_dir(), "myna", "desktop.ini", NULL);
}

void myna_prefs_free(MynaPrefs *prefs)
{
    if (!prefs)
        return;
    g_free(prefs->system_prompt);
    g_free(prefs->voice);
    g_free(prefs);
}

static void load_double(GKeyFile *kf, const char *path, const char *group, const char *key, double lo, double hi,
                        double *dst)
{
    GError *err = NULL;
    if (!g_key_file_has_key(kf, group, key, NULL))
        return;
    double v = g_key_file_get_double(kf, group, key, &err);
    if (err || !isfinite(v) || v < lo || v > hi) {
        g_warning("%s: [%s] %s: %s (expected a number in %g … %g)", path, group, key, err ? err->message : "out of range",
                  lo, hi);
        g_clear_error(&err);
        return;
    }
    *dst = v;
}

static void load_string(GKeyFile *kf, const char *group, const char *key, char **dst)
{
    char *v = g_key_file_get_string(kf, group, key, NULL);
    if (v) {
        g_free(*dst);
        *dst = v;
    }
}

MynaPrefs *myna_prefs_load(void)
{
    MynaPrefs *p = g_new0(MynaPrefs, 1);
    p->system_prompt = g_strdup("");
    p->voice = g_strdup("");
    p->temperature = 0.7;
    p->speaking_rate = 1.0;

    char *path = myna_prefs_path();
    GKeyFile *kf = g_key_file_new();
    GError *err = NULL;
    if (g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &err)) {
        load_string(kf, "conversation", "system_prompt", &p->system_prompt);
        load_double(kf, path, "conversation", "temperature", 0, MYNA_PREFS_TEMP_MAX, &p->temperature);
        load_string(kf, "voice", "voice", &p->voice);
        load_double(kf, path, "voice", "speaking_rate", MYNA_PREFS_RATE_MIN, MYNA_PREFS_RATE_MAX, &p->speaking_rate);
    } else if (!g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
        g_warning("%s: %s (using the defaults)", path, err->message);
    }
    g_clear_error(&err);
    g_key_file_free(kf);
    g_free(path);
    return p;
}

gboolean myna_prefs_save(const MynaPrefs *prefs, GError **error)
{
    char *path = myna_prefs_path(), *dir = g_path_get_dirname(path);
    GKeyFile *kf = g_key_file_new();
    g_key_file_load_from_file(kf, path, G_KEY_FILE_KEEP_COMMENTS, NULL); /* keep unknown keys */
    g_key_file_set_string(kf, "conversation", "system_prompt", prefs->system_prompt);
    g_key_file_set_double(kf, "conversation", "temperature", prefs->temperature);
    g_key_file_set_string(kf, "voice", "voice", prefs->voice);
    g_key_file_set_double(kf, "voice", "speaking_rate", prefs->speaking_rate);
    gboolean ok = g_mkdir_with_parents(dir, 0700) == 0 && g_key_file_save_to_file(kf, path, error);
    if (!ok && error && !*error)
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", dir, g_strerror(errno));
    g_key_file_free(kf);
    g_free(dir);
    g_free(path);
    return ok;
}

/* --- the window ----------------------------------------------------------------------------------- */

typedef struct {
    MynaPrefs *prefs; /* borrowed */
    void (*changed)(void *data);
    void *data;
} PrefsUi;

static void save_and_tell(PrefsUi *ui)
{
    GError *err = NULL;
    if (!myna_prefs_save(ui->prefs, &err)) {
        g_warning("preferences: %s", err->message);
        g_error_free(err);
    }
    if (ui->changed)
        ui->changed(ui->data);
}

static void on_text(GtkEditable *e, gpointer user)
{
    PrefsUi *ui = user;
    char **dst = g_object_get_data(G_OBJECT(e), "myna-dst");
    g_free(*dst);
    *dst = g_strdup(gtk_editable_get_text(e));
    save_and_tell(ui);
}

static void on_number(GtkSpinButton *s, gpointer user)
{
    PrefsUi *ui = user;
    double *dst = g_object_get_data(G_OBJECT(s), "myna-dst");
    *dst = gtk_spin_button_get_value(s);
    save_and_tell(ui);
}

static GtkWidget *text_row(PrefsUi *ui, const char *title, char **dst)
{
    GtkWidget *row = adw_entry_row_new();
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), title);
    gtk_editable_set_text(GTK_EDITABLE(row), *dst);
    g_object_set_data(G_OBJECT(row), "myna-dst", dst);
    g_signal_connect(row, "changed", G_CALLBACK(on_text), ui);
    return row;
}

static GtkWidget *number_row(PrefsUi *ui, const char *title, const char *subtitle, double lo, double hi, double step,
                             double *dst)
{
    GtkWidget *row = adw_action_row_new();
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), title);
    adw_action_row_set_subtitle(ADW_ACTION_ROW(row), subtitle);
    GtkWidget *spin = gtk_spin_button_new_with_range(lo, hi, step);
    gtk_spin_button_set_digits(GTK_SPIN_BUTTON(spin), 2);
    gtk_spin_button_set_value(GTK_SPIN_BUTTON(spin), *dst);
    gtk_widget_set_valign(spin, GTK_ALIGN_CENTER);
    g_object_set_data(G_OBJECT(spin), "myna-dst", dst);
    g_signal_connect(spin, "value-changed", G_CALLBACK(on_number), ui);
    adw_action_row_add_suffix(ADW_ACTION_ROW(row), spin);
    adw_action_row_set_activatable_widget(ADW_ACTION_ROW(row), spin);
    return row;
}

GtkWidget *myna_prefs_window_new(GtkWindow *parent, MynaPrefs *prefs, void (*changed)(void *data), void *data)
{
    PrefsUi *ui = g_new0(PrefsUi, 1);
    ui->prefs = prefs;
    ui->changed = changed;
    ui->data = data;

    GtkWidget *win = adw_preferences_window_new();
    gtk_window_set_transient_for(GTK_WINDOW(win), parent);
    gtk_window_set_modal(GTK_WINDOW(win), TRUE);
    g_object_set_data_full(G_OBJECT(win), "myna-prefs-ui", ui, g_free);

    GtkWidget *page = adw_preferences_page_new();
    adw_preferences_page_set_title(ADW_PREFERENCES_PAGE(page), "General");
    adw_preferences_page_set_icon_name(ADW_PREFERENCES_PAGE(page), "preferences-system-symbolic");

    GtkWidget *conv = adw_preferences_group_new();
    adw_preferences_group_set_title(ADW_PREFERENCES_GROUP(conv), "Conversation");
    adw_preferences_group_set_description(ADW_PREFERENCES_GROUP(conv),
                                          "The system prompt applies from the next new conversation.");
    adw_preferences_group_add(ADW_PREFERENCES_GROUP(conv), text_row(ui, "System Prompt", &prefs->system_prompt));
    adw_preferences_group_add(ADW_PREFERENCES_GROUP(conv),
                              number_row(ui, "Temperature", "0 always picks the likeliest word; higher varies more",
                                         0, MYNA_PREFS_TEMP_MAX, 0.05, &prefs->temperature));
    adw_preferences_page_add(ADW_PREFERENCES_PAGE(page), ADW_PREFERENCES_GROUP(conv));

    GtkWidget *voice = adw_preferences_group_new();
    adw_preferences_group_set_title(ADW_PREFERENCES_GROUP(voice), "Voice");
    adw_preferences_group_set_description(ADW_PREFERENCES_GROUP(voice),
                                          "Used when Myna speaks answers (the daemon does not offer speech yet).");
    adw_preferences_group_add(ADW_PREFERENCES_GROUP(voice), text_row(ui, "Voice", &prefs->voice));
    adw_preferences_group_add(ADW_PREFERENCES_GROUP(voice),
                              number_row(ui, "Speaking Rate", "1 is normal speed", MYNA_PREFS_RATE_MIN,
                                         MYNA_PREFS_RATE_MAX, 0.05, &prefs->speaking_rate));
    adw_preferences_page_add(ADW_PREFERENCES_PAGE(page), ADW_PREFERENCES_GROUP(voice));

    adw_preferences_window_add(ADW_PREFERENCES_WINDOW(win), ADW_PREFERENCES_PAGE(page));
    return win;
}
