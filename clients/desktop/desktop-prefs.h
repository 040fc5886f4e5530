/* desktop-prefs.h — myna-desktop's preferences: a keyfile at $XDG_CONFIG_HOME/myna/desktop.ini
 *   [conversation] system_prompt=…  temperature=0.7
 *   [voice]        voice=…          speaking_rate=1.0
 * and the preferences window that edits them. Values out of range are ignored with a warning naming the
 * key (the default stays). */
#ifndef MYNA_DESKTOP_PREFS_H
#define MYNA_DESKTOP_PREFS_H

#include <gtk/gtk.h>

#define MYNA_PREFS_TEMP_MAX 2.0
#define MYNA_PREFS_RATE_MIN 0.5
#define MYNA_PREFS_RATE_MAX 2.0

typedef struct {
    char *system_prompt;  /* owned; "" = none */
    double temperature;   /* 0 … MYNA_PREFS_TEMP_MAX; 0 = greedy */
    char *voice;          /* owned; "" = the daemon's default voice */
    double speaking_rate; /* MYNA_PREFS_RATE_MIN … MAX; 1 = normal */
} MynaPrefs;

char *myna_prefs_path(void); /* owned by the caller */
MynaPrefs *myna_prefs_load(void);
gboolean myna_prefs_save(const MynaPrefs *prefs, GError **error);
void myna_prefs_free(MynaPrefs *prefs);

/* A preferences window over prefs (borrowed; must outlive the window). Every edit is saved and reported
 * through changed(data). */
GtkWidget *myna_prefs_window_new(GtkWindow *parent, MynaPrefs *prefs, void (*changed)(void *data), void *data);

#endif
