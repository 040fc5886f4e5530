/* desktop-window.c — see desktop-window.h. Widget tree:
 *   AdwApplicationWindow ─ AdwToastOverlay ─ box
 *     ├ AdwHeaderBar: [New conversation] title (Myna / model · backend) [menu]
 *     └ GtkStack pages: "connecting" | "absent" | "loading" | "error" (AdwStatusPage each) | "chat":
 *         ├ GtkStack "empty" (AdwStatusPage) | "messages" (scrolled AdwClamp ─ box of message rows)
 *         ├ pending attachments (thumbnails, Remove)
 *         ├ input: [Attach] text view [Microphone] [Send | Stop]
 *         └ voice: Conversation toggle, Speak Answers toggle, state label, level meter
 * One question at a time: Send is disabled while an answer streams; Escape/Stop cancels it.
 */
#include "desktop-window.h"

#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "attachment.h"
#include "bus-client.h"
#include "message-row.h"

#define VOICE_TOOLTIP "Voice needs a Myna daemon that can listen and speak (StartConversation); this mynad does not offer it yet"
#define REFUSAL_TOAST_S 10

struct DesktopWindow {
    GtkWidget *win;
    AdwToastOverlay *toasts;
    GtkWidget *title;       /* AdwWindowTitle */
    GtkWidget *stack;       /* pages, see above */
    GtkWidget *loading_page, *error_page, *loading_bar;
    GtkWidget *chat_stack;  /* "empty" | "messages" */
    GtkWidget *scroller, *list;
    GtkWidget *pending_bar, *pending_box;
    GtkWidget *entry;       /* GtkTextView */
    GtkWidget *send_stack, *send, *stop, *attach, *new_conv;
    GtkWidget *mic, *conversation, *speak, *voice_state, *level;
    GPtrArray *pending;     /* Attachment*, owned */
    MessageRow *question, *answer; /* rows of the request in flight (owned by their widgets) */
    guint64 answer_id;      /* 0 until Ask returns */
    gboolean asking;        /* a request is in flight */
    gboolean stop_wanted;   /* Stop pressed before Ask returned */
    guint pulse_id;
    gint64 t_start, t_built; /* g_get_monotonic_time() at main() and when the window was built */
    gboolean usable_reported;
    MynaBus *bus;           /* owned */
    MynaPrefs *prefs;       /* borrowed */
};

static void toast(DesktopWindow *w, const char *text, int timeout_s)
{
    AdwToast *t = adw_toast_new(text);
    if (g_utf8_strlen(text, -1) > 60) { /* the daemon's reasons are long: wrap instead of an ellipsis */
        GtkWidget *l = gtk_label_new(text);
        gtk_label_set_wrap(GTK_LABEL(l), TRUE);
        gtk_label_set_max_width_chars(GTK_LABEL(l), 60);
        gtk_label_set_xalign(GTK_LABEL(l), 0);
        adw_toast_set_custom_title(t, l);
    }
    if (timeout_s > 0)
        adw_toast_set_timeout(t, (guint)timeout_s);
    adw_toast_overlay_add_toast(w->toasts, t);
}

static void update_input(DesktopWindow *w)
{
    gboolean ready = myna_bus_state(w->bus) == MYNA_BUS_READY;
    gtk_stack_set_visible_child(GTK_STACK(w->send_stack), w->asking ? w->stop : w->send);
    gtk_widget_set_sensitive(w->send, ready && !w->asking);
    gtk_widget_set_sensitive(w->stop, w->asking);
    gtk_widget_set_sensitive(w->new_conv, ready);
    gtk_widget_set_sensitive(w->attach, ready && !w->asking);
    gtk_text_view_set_editable(GTK_TEXT_VIEW(w->entry), !w->asking || w->answer_id);
    gtk_widget_set_visible(w->pending_bar, w->pending->len > 0);
}

static void scroll_to_end(DesktopWindow *w)
{
    GtkAdjustment *a = gtk_scrolled_window_get_vadjustment(GTK_SCROLLED_WINDOW(w->scroller));
    gtk_adjustment_set_value(a, gtk_adjustment_get_upper(a) - gtk_adjustment_get_page_size(a));
}

/* keep the newest text in view while it grows (if the user has not scrolled up) */
static void on_upper(GtkAdjustment *a, GParamSpec *ps, gpointer user)
{
    DesktopWindow *w = user;
    if (w->asking)
        scroll_to_end(w);
}

/* GTK 4.8 tells AT-SPI that every page of a GtkStack is visible, so a screen reader (or a test) would
 * read the hidden pages too: mark the pages that are not shown as hidden. */
static void on_stack_page(GtkStack *stack, GParamSpec *ps, gpointer user)
{
    GtkWidget *shown = gtk_stack_get_visible_child(stack);
    for (GtkWidget *c = gtk_widget_get_first_child(GTK_WIDGET(stack)); c; c = gtk_widget_get_next_sibling(c))
        gtk_accessible_update_state(GTK_ACCESSIBLE(c), GTK_ACCESSIBLE_STATE_HIDDEN, c != shown, -1);
}

static GtkWidget *new_stack(void)
{
    GtkWidget *s = gtk_stack_new();
    g_signal_connect(s, "notify::visible-child", G_CALLBACK(on_stack_page), NULL);
    return s;
}

static void add_row(DesktopWindow *w, MessageRow *row)
{
    gtk_box_append(GTK_BOX(w->list), message_row_widget(row));
    gtk_stack_set_visible_child_name(GTK_STACK(w->chat_stack), "messages");
}

/* --- status ---------------------------------------------------------------------------------------- */

static gboolean pulse(gpointer user)
{
    DesktopWindow *w = user;
    gtk_progress_bar_pulse(GTK_PROGRESS_BAR(w->loading_bar));
    return G_SOURCE_CONTINUE;
}

static void report_usable(DesktopWindow *w)
{
    if (w->usable_reported || myna_bus_state(w->bus) != MYNA_BUS_READY || !gtk_widget_get_mapped(w->win))
        return;
    w->usable_reported = TRUE;
    if (g_getenv("MYNA_DESKTOP_TIMING")) { /* CPU time too: wall time on a busy machine says little */
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        double cpu = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
        fprintf(stderr, "myna-desktop: usable %.1f ms after main() (window built at %.1f ms; process CPU %.0f ms)\n",
                (g_get_monotonic_time() - w->t_start) / 1e3, (w->t_built - w->t_start) / 1e3, cpu);
    }
}

static void on_after_paint(GdkFrameClock *clock, gpointer user)
{
    DesktopWindow *w = user;
    report_usable(w);
    if (w->usable_reported)
        g_signal_handlers_disconnect_by_func(clock, on_after_paint, w);
}

static void on_map(GtkWidget *widget, gpointer user)
{
    g_signal_connect(gtk_widget_get_frame_clock(widget), "after-paint", G_CALLBACK(on_after_paint), user);
}

static void on_state(void *data)
{
    DesktopWindow *w = data;
    MynaBusState s = myna_bus_state(w->bus);
    const char *model = myna_bus_model(w->bus), *backend = myna_bus_backend(w->bus);
    const char *page = s == MYNA_BUS_READY ? "chat" : s == MYNA_BUS_ABSENT ? "absent"
                     : s == MYNA_BUS_LOADING ? "loading" : s == MYNA_BUS_ERROR ? "error" : "connecting";

    /* subtitle: "SmolLM2-135M-Instruct · cpu: 2 threads" (the backend up to its first comma) */
    char *short_backend = g_strndup(backend, strcspn(backend, ","));
    char *sub = s == MYNA_BUS_ABSENT ? g_strdup("Not running")
              : model[0] ? g_strdup_printf("%s%s%s", model, short_backend[0] ? " · " : "", short_backend)
                         : g_strdup("");
    adw_window_title_set_subtitle(ADW_WINDOW_TITLE(w->title), sub);
    gtk_widget_set_tooltip_text(w->title, backend[0] ? backend : NULL);
    g_free(sub);
    g_free(short_backend);

    if (s == MYNA_BUS_LOADING) {
        char *d = g_strdup_printf("%s%sYou can ask as soon as it is ready.", model, model[0] ? "\n" : "");
        adw_status_page_set_description(ADW_STATUS_PAGE(w->loading_page), d);
        g_free(d);
        if (!w->pulse_id)
            w->pulse_id = g_timeout_add(150, pulse, w);
    } else if (w->pulse_id) {
        g_source_remove(w->pulse_id);
        w->pulse_id = 0;
    }
    if (s == MYNA_BUS_ERROR && myna_bus_error_is_model(w->bus)) {
        char *d = g_strdup_printf("%s\n\nInstall the default model with “scripts/fetch-models”, or set “model = …” in "
                                  "~/.config/myna/mynad.conf, then restart Myna with “systemctl --user restart mynad”.",
                                  myna_bus_error(w->bus));
        adw_status_page_set_title(ADW_STATUS_PAGE(w->error_page), "No Model");
        adw_status_page_set_description(ADW_STATUS_PAGE(w->error_page), d);
        g_free(d);
    } else if (s == MYNA_BUS_ERROR) { /* e.g. Busy: the daemon's session limits */
        adw_status_page_set_title(ADW_STATUS_PAGE(w->error_page), "Myna Cannot Start a Conversation");
        adw_status_page_set_description(ADW_STATUS_PAGE(w->error_page), myna_bus_error(w->bus));
    }
    gtk_stack_set_visible_child_name(GTK_STACK(w->stack), page);
    if (s == MYNA_BUS_READY && !w->asking)
        gtk_widget_grab_focus(w->entry);
    update_input(w);
    report_usable(w);
}

/* --- the answer ------------------------------------------------------------------------------------ */

static void end_answer(DesktopWindow *w, const char *note)
{
    if (w->answer) {
        message_row_set_waiting(w->answer, FALSE);
        message_row_set_note(w->answer, note); /* also shows the last text still waiting for a redraw */
    }
    w->answer = w->question = NULL;
    w->answer_id = 0;
    w->asking = w->stop_wanted = FALSE;
    update_input(w);
    if (gtk_widget_get_mapped(w->entry))
        gtk_widget_grab_focus(w->entry);
}

static gboolean ours(DesktopWindow *w, guint64 id)
{
    return w->asking && w->answer && (id == w->answer_id || w->answer_id == 0);
}

static void on_token(void *data, guint64 id, const char *text)
{
    DesktopWindow *w = data;
    if (!ours(w, id))
        return;
    message_row_set_waiting(w->answer, FALSE);
    message_row_append(w->answer, text);
}

static void on_finished(void *data, guint64 id, const char *reason, GVariant *stats)
{
    DesktopWindow *w = data;
    if (!ours(w, id))
        return;
    const char *note = !strcmp(reason, "cancelled") ? "Stopped"
                     : !strcmp(reason, "length")    ? "Stopped at the length limit"
                     : !strcmp(reason, "context")   ? "The conversation is full: start a new one (Ctrl+N)"
                                                    : NULL;
    end_answer(w, note);
}

static void on_failed(void *data, guint64 id, const char *error_name, const char *message)
{
    DesktopWindow *w = data;
    if (!(ours(w, id) || (id == 0 && w->asking)))
        return;
    char *note = g_strdup_printf("Failed: %s", message);
    toast(w, message, REFUSAL_TOAST_S);
    end_answer(w, note);
    g_free(note);
}

static void clear_pending(DesktopWindow *w)
{
    g_ptr_array_set_size(w->pending, 0);
    GtkWidget *c;
    while ((c = gtk_widget_get_first_child(w->pending_box)))
        gtk_box_remove(GTK_BOX(w->pending_box), c);
    update_input(w);
}

static char *entry_text(DesktopWindow *w)
{
    GtkTextBuffer *b = gtk_text_view_get_buffer(GTK_TEXT_VIEW(w->entry));
    GtkTextIter s, e;
    gtk_text_buffer_get_bounds(b, &s, &e);
    char *t = gtk_text_buffer_get_text(b, &s, &e, FALSE);
    return g_strstrip(t);
}

static void ask_done(GObject *src, GAsyncResult *res, gpointer user)
{
    DesktopWindow *w = user;
    GError *err = NULL;
    guint64 id = myna_bus_ask_finish(res, &err);
    if (!id) {
        /* refused before anything ran (UnsupportedMedia, TooLarge, Busy, …): the question stays in the
         * entry with its attachments, so the user can change it and send again */
        char *msg = myna_bus_error_message(err, NULL);
        g_error_free(err);
        if (w->question)
            gtk_box_remove(GTK_BOX(w->list), message_row_widget(w->question));
        if (w->answer)
            gtk_box_remove(GTK_BOX(w->list), message_row_widget(w->answer));
        w->question = w->answer = NULL;
        if (!gtk_widget_get_first_child(w->list))
            gtk_stack_set_visible_child_name(GTK_STACK(w->chat_stack), "empty");
        toast(w, msg, REFUSAL_TOAST_S);
        g_free(msg);
        end_answer(w, NULL);
        return;
    }
    w->answer_id = id;
    gtk_text_buffer_set_text(gtk_text_view_get_buffer(GTK_TEXT_VIEW(w->entry)), "", 0);
    clear_pending(w);
    if (w->stop_wanted)
        myna_bus_cancel(w->bus, id);
}

void desktop_window_send(DesktopWindow *w)
{
    if (w->asking || myna_bus_state(w->bus) != MYNA_BUS_READY)
        return;
    char *text = entry_text(w);
    if (!text[0] && w->pending->len == 0) {
        g_free(text);
        return;
    }
    int n = (int)w->pending->len, fds[16];
    MynaAttachment att[16];
    if (n > 16) { /* mynad takes max_attachments (4 by default) and says so; this is only the array */
        toast(w, "Too many attachments: remove some and send again", REFUSAL_TOAST_S);
        g_free(text);
        return;
    }
    for (int i = 0; i < n; i++) {
        Attachment *a = g_ptr_array_index(w->pending, i);
        GError *err = NULL;
        fds[i] = attachment_open_fd(a, &err);
        if (fds[i] < 0) {
            toast(w, err->message, REFUSAL_TOAST_S);
            g_error_free(err);
            for (int j = 0; j < i; j++)
                close(fds[j]);
            g_free(text);
            return;
        }
        att[i].hint = a->hint;
        att[i].fd = fds[i];
    }

    w->question = message_row_new(MESSAGE_USER, text);
    for (int i = 0; i < n; i++) {
        Attachment *a = g_ptr_array_index(w->pending, i);
        message_row_add_thumbnail(w->question, a->thumb, a->name);
    }
    add_row(w, w->question);
    w->answer = message_row_new(MESSAGE_ASSISTANT, NULL);
    message_row_set_waiting(w->answer, TRUE);
    add_row(w, w->answer);
    w->asking = TRUE;
    w->answer_id = 0;
    update_input(w);

    myna_bus_ask(w->bus, text, att, n, w->prefs->temperature, ask_done, w);
    for (int i = 0; i < n; i++) /* the message holds its own copies */
        close(fds[i]);
    g_free(text);
}

void desktop_window_ask(DesktopWindow *w, const char *text)
{
    if (w->asking)
        return;
    gtk_text_buffer_set_text(gtk_text_view_get_buffer(GTK_TEXT_VIEW(w->entry)), text, -1);
    desktop_window_send(w);
}

void desktop_window_stop(DesktopWindow *w)
{
    if (!w->asking)
        return;
    if (w->answer_id)
        myna_bus_cancel(w->bus, w->answer_id);
    else
        w->stop_wanted = TRUE;
}

void desktop_window_new_conversation(DesktopWindow *w)
{
    if (myna_bus_state(w->bus) != MYNA_BUS_READY)
        return;
    if (w->asking)
        end_answer(w, "Stopped");
    myna_bus_new_conversation(w->bus); /* Reset cancels what is still running */
    GtkWidget *c;
    while ((c = gtk_widget_get_first_child(w->list)))
        gtk_box_remove(GTK_BOX(w->list), c);
    gtk_stack_set_visible_child_name(GTK_STACK(w->chat_stack), "empty");
    gtk_widget_grab_focus(w->entry);
}

void desktop_window_retry(DesktopWindow *w) { myna_bus_retry(w->bus); }

/* --- attachments ----------------------------------------------------------------------------------- */

static void add_attachment(DesktopWindow *w, Attachment *a)
{
    g_ptr_array_add(w->pending, a);
    GtkWidget *thumb;
    if (a->thumb) {
        thumb = gtk_picture_new_for_paintable(a->thumb);
        gtk_picture_set_can_shrink(GTK_PICTURE(thumb), TRUE);
    } else {
        thumb = gtk_image_new_from_icon_name("video-x-generic-symbolic");
        gtk_image_set_pixel_size(GTK_IMAGE(thumb), 32);
    }
    gtk_widget_set_size_request(thumb, 48, 48);
    gtk_widget_set_tooltip_text(thumb, a->name);
    gtk_accessible_update_property(GTK_ACCESSIBLE(thumb), GTK_ACCESSIBLE_PROPERTY_LABEL, a->name, -1);
    gtk_box_append(GTK_BOX(w->pending_box), thumb);
    update_input(w);
}

void desktop_window_attach_file(DesktopWindow *w, GFile *file)
{
    GError *err = NULL;
    Attachment *a = attachment_new_file(file, &err);
    if (!a) {
        toast(w, err->message, REFUSAL_TOAST_S);
        g_error_free(err);
        return;
    }
    add_attachment(w, a);
}

static void on_chooser(GtkNativeDialog *dialog, int response, gpointer user)
{
    DesktopWindow *w = user;
    if (response == GTK_RESPONSE_ACCEPT) {
        GListModel *files = gtk_file_chooser_get_files(GTK_FILE_CHOOSER(dialog));
        for (guint i = 0; i < g_list_model_get_n_items(files); i++) {
            GFile *f = g_list_model_get_item(files, i);
            desktop_window_attach_file(w, f);
            g_object_unref(f);
        }
        g_object_unref(files);
    }
    g_object_unref(dialog);
}

void desktop_window_choose_files(DesktopWindow *w)
{
    GtkFileChooserNative *d = gtk_file_chooser_native_new("Attach Images or Videos", GTK_WINDOW(w->win),
                                                          GTK_FILE_CHOOSER_ACTION_OPEN, "_Attach", "_Cancel");
    gtk_file_chooser_set_select_multiple(GTK_FILE_CHOOSER(d), TRUE);
    GtkFileFilter *f = gtk_file_filter_new();
    gtk_file_filter_set_name(f, "Images and videos");
    gtk_file_filter_add_mime_type(f, "image/*");
    gtk_file_filter_add_mime_type(f, "video/*");
    gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(d), f);
    g_object_unref(f);
    g_signal_connect(d, "response", G_CALLBACK(on_chooser), w);
    gtk_native_dialog_show(GTK_NATIVE_DIALOG(d));
}

static gboolean on_drop(GtkDropTarget *target, const GValue *value, double x, double y, gpointer user)
{
    DesktopWindow *w = user;
    if (G_VALUE_HOLDS(value, GDK_TYPE_FILE_LIST)) {
        for (GSList *l = gdk_file_list_get_files(g_value_get_boxed(value)); l; l = l->next)
            desktop_window_attach_file(w, l->data);
        return TRUE;
    }
    if (G_VALUE_HOLDS(value, GDK_TYPE_TEXTURE)) {
        add_attachment(w, attachment_new_texture(g_value_get_object(value)));
        return TRUE;
    }
    return FALSE;
}

static void pasted_texture(GObject *src, GAsyncResult *res, gpointer user)
{
    DesktopWindow *w = user;
    GError *err = NULL;
    GdkTexture *t = gdk_clipboard_read_texture_finish(GDK_CLIPBOARD(src), res, &err);
    if (!t) {
        toast(w, err->message, REFUSAL_TOAST_S);
        g_error_free(err);
        return;
    }
    add_attachment(w, attachment_new_texture(t));
    g_object_unref(t);
}

static void pasted_files(GObject *src, GAsyncResult *res, gpointer user)
{
    DesktopWindow *w = user;
    GError *err = NULL;
    const GValue *v = gdk_clipboard_read_value_finish(GDK_CLIPBOARD(src), res, &err);
    if (!v) {
        toast(w, err->message, REFUSAL_TOAST_S);
        g_error_free(err);
        return;
    }
    for (GSList *l = gdk_file_list_get_files(g_value_get_boxed(v)); l; l = l->next)
        desktop_window_attach_file(w, l->data);
}

/* Ctrl+V (and the context menu's Paste): pixels or files on the clipboard become attachments, text is
 * pasted as text. */
static void on_paste(GtkTextView *view, gpointer user)
{
    DesktopWindow *w = user;
    GdkClipboard *cb = gtk_widget_get_clipboard(GTK_WIDGET(view));
    GdkContentFormats *f = gdk_clipboard_get_formats(cb);
    if (gdk_content_formats_contain_gtype(f, GDK_TYPE_FILE_LIST)) {
        g_signal_stop_emission_by_name(view, "paste-clipboard");
        gdk_clipboard_read_value_async(cb, GDK_TYPE_FILE_LIST, G_PRIORITY_DEFAULT, NULL, pasted_files, w);
    } else if (gdk_content_formats_contain_gtype(f, GDK_TYPE_TEXTURE)) {
        g_signal_stop_emission_by_name(view, "paste-clipboard");
        gdk_clipboard_read_texture_async(cb, NULL, pasted_texture, w);
    }
}

/* Enter sends, Shift+Enter is a new line; Escape stops the answer (the text view would swallow it before
 * the application's accelerator sees it). */
static gboolean on_key(GtkEventControllerKey *c, guint keyval, guint keycode, GdkModifierType mods, gpointer user)
{
    DesktopWindow *w = user;
    if ((keyval == GDK_KEY_Return || keyval == GDK_KEY_KP_Enter) && !(mods & (GDK_SHIFT_MASK | GDK_CONTROL_MASK))) {
        desktop_window_send(w);
        return TRUE;
    }
    if (keyval == GDK_KEY_Escape && w->asking) {
        desktop_window_stop(w);
        return TRUE;
    }
    return FALSE;
}

/* --- building ------------------------------------------------------------------------------------- */

static GtkWidget *status_page(const char *icon, const char *title, const char *description)
{
    GtkWidget *p = adw_status_page_new();
    adw_status_page_set_icon_name(ADW_STATUS_PAGE(p), icon);
    adw_status_page_set_title(ADW_STATUS_PAGE(p), title);
    adw_status_page_set_description(ADW_STATUS_PAGE(p), description);
    return p;
}

static GtkWidget *pill(const char *label, const char *action)
{
    GtkWidget *b = gtk_button_new_with_mnemonic(label);
    gtk_widget_add_css_class(b, "pill");
    gtk_widget_add_css_class(b, "suggested-action");
    gtk_widget_set_halign(b, GTK_ALIGN_CENTER);
    gtk_actionable_set_action_name(GTK_ACTIONABLE(b), action);
    return b;
}

static GtkWidget *icon_button(const char *icon, const char *tooltip, const char *action)
{
    GtkWidget *b = gtk_button_new_from_icon_name(icon);
    gtk_widget_set_tooltip_text(b, tooltip);
    gtk_widget_set_valign(b, GTK_ALIGN_END);
    if (action)
        gtk_actionable_set_action_name(GTK_ACTIONABLE(b), action);
    return b;
}

static GtkWidget *build_header(DesktopWindow *w)
{
    GtkWidget *hb = adw_header_bar_new();
    w->title = adw_window_title_new("Myna", "");
    adw_header_bar_set_title_widget(ADW_HEADER_BAR(hb), w->title);
    w->new_conv = gtk_button_new_from_icon_name("list-add-symbolic");
    gtk_widget_set_tooltip_text(w->new_conv, "New Conversation (Ctrl+N)");
    gtk_actionable_set_action_name(GTK_ACTIONABLE(w->new_conv), "app.new-conversation");
    adw_header_bar_pack_start(ADW_HEADER_BAR(hb), w->new_conv);

    GMenu *menu = g_menu_new();
    g_menu_append(menu, "_New Conversation", "app.new-conversation");
    g_menu_append(menu, "_Preferences", "app.preferences");
    g_menu_append(menu, "_About Myna", "app.about");
    GtkWidget *mb = gtk_menu_button_new();
    gtk_menu_button_set_icon_name(GTK_MENU_BUTTON(mb), "open-menu-symbolic");
    gtk_menu_button_set_menu_model(GTK_MENU_BUTTON(mb), G_MENU_MODEL(menu));
    gtk_widget_set_tooltip_text(mb, "Main Menu");
    g_object_unref(menu);
    adw_header_bar_pack_end(ADW_HEADER_BAR(hb), mb);
    return hb;
}

static GtkWidget *build_voice_bar(DesktopWindow *w)
{
    GtkWidget *bar = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 12);
    w->conversation = gtk_toggle_button_new_with_label("Conversation");
    w->speak = gtk_toggle_button_new_with_label("Speak Answers");
    w->voice_state = gtk_label_new("Voice unavailable");
    gtk_widget_add_css_class(w->voice_state, "dim-label");
    gtk_widget_add_css_class(w->voice_state, "caption");
    w->level = gtk_level_bar_new_for_interval(0, 1);
    gtk_widget_set_hexpand(w->level, TRUE);
    gtk_widget_set_valign(w->level, GTK_ALIGN_CENTER);
    GtkWidget *voice[] = {w->conversation, w->speak, w->voice_state, w->level, w->mic};
    for (size_t i = 0; i < G_N_ELEMENTS(voice); i++) {
        gtk_widget_set_sensitive(voice[i], FALSE);
        gtk_widget_set_tooltip_text(voice[i], VOICE_TOOLTIP);
    }
    gtk_box_append(GTK_BOX(bar), w->conversation);
    gtk_box_append(GTK_BOX(bar), w->speak);
    gtk_box_append(GTK_BOX(bar), w->voice_state);
    gtk_box_append(GTK_BOX(bar), w->level);
    return bar;
}

static GtkWidget *build_chat(DesktopWindow *w)
{
    GtkWidget *chat = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);

    w->chat_stack = new_stack();
    gtk_widget_set_vexpand(w->chat_stack, TRUE);
    gtk_stack_add_named(GTK_STACK(w->chat_stack),
                        status_page("org.myna.Desktop", "Ask Myna",
                                    "Type a question below. Attach an image or a video with the paper clip, by "
                                    "dropping it here or with Ctrl+V."),
                        "empty");
    w->list = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
    gtk_widget_set_margin_top(w->list, 12);
    gtk_widget_set_margin_bottom(w->list, 12);
    GtkWidget *clamp = adw_clamp_new();
    adw_clamp_set_maximum_size(ADW_CLAMP(clamp), 800);
    adw_clamp_set_child(ADW_CLAMP(clamp), w->list);
    w->scroller = gtk_scrolled_window_new();
    gtk_scrolled_window_set_policy(GTK_SCROLLED_WINDOW(w->scroller), GTK_POLICY_NEVER, GTK_POLICY_AUTOMATIC);
    gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(w->scroller), clamp);
    g_signal_connect(gtk_scrolled_window_get_vadjustment(GTK_SCROLLED_WINDOW(w->scroller)), "notify::upper",
                     G_CALLBACK(on_upper), w);
    gtk_stack_add_named(GTK_STACK(w->chat_stack), w->scroller, "messages");
    gtk_box_append(GTK_BOX(chat), w->chat_stack);

    GtkWidget *bottom = gtk_box_new(GTK_ORIENTATION_VERTICAL, 6);
    gtk_widget_add_css_class(bottom, "toolbar");
    gtk_widget_set_margin_start(bottom, 6);
    gtk_widget_set_margin_end(bottom, 6);
    gtk_widget_set_margin_bottom(bottom, 6);

    w->pending_bar = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
    w->pending_box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
    gtk_widget_set_hexpand(w->pending_box, TRUE);
    gtk_box_append(GTK_BOX(w->pending_bar), w->pending_box);
    GtkWidget *remove = gtk_button_new_from_icon_name("edit-clear-symbolic");
    gtk_widget_set_tooltip_text(remove, "Remove Attachments");
    gtk_widget_add_css_class(remove, "flat");
    gtk_widget_set_valign(remove, GTK_ALIGN_CENTER);
    g_signal_connect_swapped(remove, "clicked", G_CALLBACK(clear_pending), w);
    gtk_box_append(GTK_BOX(w->pending_bar), remove);
    gtk_box_append(GTK_BOX(bottom), w->pending_bar);

    GtkWidget *input = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
    w->attach = icon_button("mail-attachment-symbolic", "Attach Images or Videos", "app.attach");
    gtk_box_append(GTK_BOX(input), w->attach);
    w->entry = gtk_text_view_new();
    gtk_text_view_set_wrap_mode(GTK_TEXT_VIEW(w->entry), GTK_WRAP_WORD_CHAR);
    gtk_text_view_set_accepts_tab(GTK_TEXT_VIEW(w->entry), FALSE);
    gtk_text_view_set_top_margin(GTK_TEXT_VIEW(w->entry), 8);
    gtk_text_view_set_bottom_margin(GTK_TEXT_VIEW(w->entry), 8);
    gtk_text_view_set_left_margin(GTK_TEXT_VIEW(w->entry), 10);
    gtk_text_view_set_right_margin(GTK_TEXT_VIEW(w->entry), 10);
    gtk_accessible_update_property(GTK_ACCESSIBLE(w->entry), GTK_ACCESSIBLE_PROPERTY_LABEL, "Question", -1);
    GtkEventController *keys = gtk_event_controller_key_new();
    gtk_event_controller_set_propagation_phase(keys, GTK_PHASE_CAPTURE);
    g_signal_connect(keys, "key-pressed", G_CALLBACK(on_key), w);
    gtk_widget_add_controller(w->entry, keys);
    g_signal_connect(w->entry, "paste-clipboard", G_CALLBACK(on_paste), w);
    GtkWidget *frame = gtk_scrolled_window_new();
    gtk_scrolled_window_set_policy(GTK_SCROLLED_WINDOW(frame), GTK_POLICY_NEVER, GTK_POLICY_AUTOMATIC);
    gtk_scrolled_window_set_max_content_height(GTK_SCROLLED_WINDOW(frame), 160);
    gtk_scrolled_window_set_propagate_natural_height(GTK_SCROLLED_WINDOW(frame), TRUE);
    gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(frame), w->entry);
    gtk_widget_add_css_class(frame, "card");
    gtk_widget_set_hexpand(frame, TRUE);
    gtk_box_append(GTK_BOX(input), frame);
    w->mic = icon_button("audio-input-microphone-symbolic", VOICE_TOOLTIP, NULL);
    gtk_box_append(GTK_BOX(input), w->mic);
    w->send_stack = new_stack();
    gtk_widget_set_valign(w->send_stack, GTK_ALIGN_END);
    w->send = icon_button("go-up-symbolic", "Send (Enter)", "app.send");
    gtk_widget_add_css_class(w->send, "suggested-action");
    gtk_widget_add_css_class(w->send, "circular");
    w->stop = icon_button("media-playback-stop-symbolic", "Stop (Escape)", "app.stop");
    gtk_widget_add_css_class(w->stop, "destructive-action");
    gtk_widget_add_css_class(w->stop, "circular");
    gtk_accessible_update_property(GTK_ACCESSIBLE(w->send), GTK_ACCESSIBLE_PROPERTY_LABEL, "Send", -1);
    gtk_accessible_update_property(GTK_ACCESSIBLE(w->stop), GTK_ACCESSIBLE_PROPERTY_LABEL, "Stop", -1);
    gtk_stack_add_named(GTK_STACK(w->send_stack), w->send, "send");
    gtk_stack_add_named(GTK_STACK(w->send_stack), w->stop, "stop");
    gtk_box_append(GTK_BOX(input), w->send_stack);
    gtk_box_append(GTK_BOX(bottom), input);
    gtk_box_append(GTK_BOX(bottom), build_voice_bar(w));
    gtk_box_append(GTK_BOX(chat), bottom);

    GtkDropTarget *drop = gtk_drop_target_new(G_TYPE_INVALID, GDK_ACTION_COPY);
    GType types[] = {GDK_TYPE_FILE_LIST, GDK_TYPE_TEXTURE};
    gtk_drop_target_set_gtypes(drop, types, G_N_ELEMENTS(types));
    g_signal_connect(drop, "drop", G_CALLBACK(on_drop), w);
    gtk_widget_add_controller(chat, GTK_EVENT_CONTROLLER(drop));
    return chat;
}

static void window_free(gpointer p)
{
    DesktopWindow *w = p;
    if (w->pulse_id)
        g_source_remove(w->pulse_id);
    myna_bus_free(w->bus);
    g_ptr_array_unref(w->pending);
    g_free(w);
}

DesktopWindow *desktop_window_new(AdwApplication *app, MynaPrefs *prefs, gint64 t_main_us)
{
    DesktopWindow *w = g_new0(DesktopWindow, 1);
    w->t_start = t_main_us;
    w->prefs = prefs;
    w->pending = g_ptr_array_new_with_free_func((GDestroyNotify)attachment_free);

    w->win = adw_application_window_new(GTK_APPLICATION(app));
    gtk_window_set_title(GTK_WINDOW(w->win), "Myna");
    gtk_window_set_default_size(GTK_WINDOW(w->win), 720, 680);
    gtk_widget_set_size_request(w->win, 360, 360);
    GtkWidget *toasts = adw_toast_overlay_new();
    w->toasts = ADW_TOAST_OVERLAY(toasts);
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
    adw_toast_overlay_set_child(w->toasts, box);
    adw_application_window_set_content(ADW_APPLICATION_WINDOW(w->win), toasts);
    gtk_box_append(GTK_BOX(box), build_header(w));

    w->stack = new_stack();
    gtk_widget_set_vexpand(w->stack, TRUE);
    GtkWidget *connecting = status_page("org.myna.Desktop", "Connecting to Myna…", "Starting the assistant daemon.");
    gtk_stack_add_named(GTK_STACK(w->stack), connecting, "connecting");
    GtkWidget *absent = status_page("dialog-warning-symbolic", "Myna Is Not Running",
                                    "The assistant daemon (mynad) is not running and could not be started. Start it "
                                    "with “systemctl --user start mynad” (or run “mynad”), then try again.");
    adw_status_page_set_child(ADW_STATUS_PAGE(absent), pill("_Try Again", "app.retry"));
    gtk_stack_add_named(GTK_STACK(w->stack), absent, "absent");
    w->loading_page = status_page("org.myna.Desktop", "Loading the Model", "");
    w->loading_bar = gtk_progress_bar_new();
    gtk_widget_set_size_request(w->loading_bar, 240, -1);
    gtk_widget_set_halign(w->loading_bar, GTK_ALIGN_CENTER);
    adw_status_page_set_child(ADW_STATUS_PAGE(w->loading_page), w->loading_bar);
    gtk_stack_add_named(GTK_STACK(w->stack), w->loading_page, "loading");
    w->error_page = status_page("dialog-error-symbolic", "No Model", "");
    gtk_stack_add_named(GTK_STACK(w->stack), w->error_page, "error");
    gtk_stack_add_named(GTK_STACK(w->stack), build_chat(w), "chat");
    gtk_stack_set_visible_child_name(GTK_STACK(w->stack), "connecting");
    gtk_box_append(GTK_BOX(box), w->stack);
    GtkWidget *stacks[] = {w->stack, w->chat_stack, w->send_stack};
    for (size_t i = 0; i < G_N_ELEMENTS(stacks); i++)
        on_stack_page(GTK_STACK(stacks[i]), NULL, NULL);

    g_object_set_data_full(G_OBJECT(w->win), "myna-desktop-window", w, window_free);
    g_signal_connect(w->win, "map", G_CALLBACK(on_map), w);

    static const MynaBusCallbacks cb = {on_state, on_token, on_finished, on_failed};
    w->bus = myna_bus_new(g_application_get_dbus_connection(G_APPLICATION(app)), &cb, w);
    myna_bus_set_system_prompt(w->bus, prefs->system_prompt);
    on_state(w);
    w->t_built = g_get_monotonic_time();
    return w;
}

GtkWindow *desktop_window_gtk(DesktopWindow *w) { return GTK_WINDOW(w->win); }

static void prefs_changed(void *data)
{
    DesktopWindow *w = data;
    myna_bus_set_system_prompt(w->bus, w->prefs->system_prompt);
}

void desktop_window_show_preferences(DesktopWindow *w)
{
    gtk_window_present(GTK_WINDOW(myna_prefs_window_new(GTK_WINDOW(w->win), w->prefs, prefs_changed, w)));
}
