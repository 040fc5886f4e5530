/* desktop-window.h — myna-desktop's conversation window (AdwApplicationWindow): header bar with the model
 * and backend, a status page while mynad is absent, loading or has no model, the message list, pending
 * attachments, the question entry with Send/Stop, and the voice controls. Talks to mynad only through
 * bus-client.h. The functions below are what the application's actions (main.c) call. */
#ifndef MYNA_DESKTOP_WINDOW_H
#define MYNA_DESKTOP_WINDOW_H

#include <adwaita.h>

#include "desktop-prefs.h"

typedef struct DesktopWindow DesktopWindow;

/* prefs: borrowed, outlives the window. t_main_us: g_get_monotonic_time() at main() (MYNA_DESKTOP_TIMING=1
 * prints the time from there to the first frame of a usable window). The struct is freed with the window. */
DesktopWindow *desktop_window_new(AdwApplication *app, MynaPrefs *prefs, gint64 t_main_us);
GtkWindow *desktop_window_gtk(DesktopWindow *w);

void desktop_window_send(DesktopWindow *w);                    /* what the entry holds (Enter) */
void desktop_window_ask(DesktopWindow *w, const char *text);   /* put text in the entry and send it */
void desktop_window_stop(DesktopWindow *w);                    /* Cancel the answer (Escape) */
void desktop_window_new_conversation(DesktopWindow *w);        /* Reset (Ctrl+N) */
void desktop_window_choose_files(DesktopWindow *w);            /* file chooser */
void desktop_window_attach_file(DesktopWindow *w, GFile *file); /* as if chosen, dropped or pasted */
void desktop_window_retry(DesktopWindow *w);                   /* start mynad again (D-Bus activation) */
void desktop_window_show_preferences(DesktopWindow *w);

#endif
