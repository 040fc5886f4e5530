/* message-row.c — see message-row.h. Layout (GNOME HIG: a card per message, the user's to the right):
 *   GtkBox card ─ header (role label, copy button) ─ thumbnails (flow box) ─ text label ─ note label
 */
#include "message-row.h"

#include <adwaita.h>

struct MessageRow {
    GtkWidget *root;    /* GtkBox, owns this struct through object data */
    GtkWidget *text;    /* GtkLabel */
    GtkWidget *note;    /* GtkLabel, hidden when empty */
    GtkWidget *thumbs;  /* GtkFlowBox, hidden when empty */
    GtkWidget *spinner;
    GtkWidget *copy;    /* GtkButton */
    GString *buf;       /* owned: the full text */
    guint flush_id;     /* pending label update (text arrived since the last one) */
    MessageRole role;
};

#define FLUSH_MS 40 /* answers stream at up to ~100 tokens/s: relayout the label at most 25 times a second */

static void row_free(gpointer p)
{
    MessageRow *row = p;
    if (row->flush_id)
        g_source_remove(row->flush_id);
    g_string_free(row->buf, TRUE);
    g_free(row);
}

static void on_copy(GtkButton *button, gpointer user)
{
    MessageRow *row = user;
    gdk_clipboard_set_text(gtk_widget_get_clipboard(row->root), row->buf->str);
    GtkWidget *overlay = gtk_widget_get_ancestor(row->root, ADW_TYPE_TOAST_OVERLAY);
    if (overlay)
        adw_toast_overlay_add_toast(ADW_TOAST_OVERLAY(overlay), adw_toast_new("Message copied"));
}

MessageRow *message_row_new(MessageRole role, const char *text)
{
    MessageRow *row = g_new0(MessageRow, 1);
    row->role = role;
    row->buf = g_string_new(text ? text : "");

    row->root = gtk_box_new(GTK_ORIENTATION_VERTICAL, 6);
    gtk_widget_add_css_class(row->root, "card");
    gtk_widget_add_css_class(row->root, role == MESSAGE_USER ? "myna-user" : "myna-assistant");
    gtk_widget_set_halign(row->root, role == MESSAGE_USER ? GTK_ALIGN_END : GTK_ALIGN_START);
    gtk_widget_set_margin_start(row->root, role == MESSAGE_USER ? 48 : 12);
    gtk_widget_set_margin_end(row->root, role == MESSAGE_USER ? 12 : 48);
    gtk_widget_set_margin_top(row->root, 6);
    gtk_widget_set_margin_bottom(row->root, 6);

    GtkWidget *header = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
    gtk_widget_set_margin_start(header, 12);
    gtk_widget_set_margin_end(header, 6);
    gtk_widget_set_margin_top(header, 6);
    GtkWidget *who = gtk_label_new(role == MESSAGE_USER ? "You" : "Myna");
    gtk_widget_add_css_class(who, "caption-heading");
    gtk_widget_add_css_class(who, "dim-label");
    gtk_widget_set_hexpand(who, TRUE);
    gtk_label_set_xalign(GTK_LABEL(who), 0);
    gtk_box_append(GTK_BOX(header), who);
    row->spinner = gtk_spinner_new();
    gtk_widget_set_visible(row->spinner, FALSE);
    gtk_box_append(GTK_BOX(header), row->spinner);
    row->copy = gtk_button_new_from_icon_name("edit-copy-symbolic");
    gtk_widget_add_css_class(row->copy, "flat");
    gtk_widget_add_css_class(row->copy, "circular");
    gtk_widget_set_tooltip_text(row->copy, "Copy");
    gtk_accessible_update_property(GTK_ACCESSIBLE(row->copy), GTK_ACCESSIBLE_PROPERTY_LABEL, "Copy message", -1);
    g_signal_connect(row->copy, "clicked", G_CALLBACK(on_copy), row);
    gtk_box_append(GTK_BOX(header), row->copy);
    gtk_box_append(GTK_BOX(row->root), header);

    row->thumbs = gtk_flow_box_new();
    gtk_flow_box_set_selection_mode(GTK_FLOW_BOX(row->thumbs), GTK_SELECTION_NONE);
    gtk_flow_box_set_max_children_per_line(GTK_FLOW_BOX(row->thumbs), 4);
    gtk_widget_set_margin_start(row->thumbs, 12);
    gtk_widget_set_margin_end(row->thumbs, 12);
    gtk_widget_set_visible(row->thumbs, FALSE);
    gtk_box_append(GTK_BOX(row->root), row->thumbs);

    row->text = gtk_label_new(row->buf->str);
    gtk_label_set_wrap(GTK_LABEL(row->text), TRUE);
    gtk_label_set_wrap_mode(GTK_LABEL(row->text), PANGO_WRAP_WORD_CHAR);
    gtk_label_set_selectable(GTK_LABEL(row->text), TRUE);
    gtk_label_set_xalign(GTK_LABEL(row->text), 0);
    gtk_label_set_max_width_chars(GTK_LABEL(row->text), 60);
    gtk_widget_set_margin_start(row->text, 12);
    gtk_widget_set_margin_end(row->text, 12);
    gtk_widget_set_margin_bottom(row->text, 10);
    gtk_widget_set_visible(row->text, row->buf->len > 0);
    gtk_box_append(GTK_BOX(row->root), row->text);

    row->note = gtk_label_new(NULL);
    gtk_widget_add_css_class(row->note, "caption");
    gtk_widget_add_css_class(row->note, "dim-label");
    gtk_label_set_xalign(GTK_LABEL(row->note), 0);
    gtk_label_set_wrap(GTK_LABEL(row->note), TRUE);
    gtk_widget_set_margin_start(row->note, 12);
    gtk_widget_set_margin_end(row->note, 12);
    gtk_widget_set_margin_bottom(row->note, 8);
    gtk_widget_set_visible(row->note, FALSE);
    gtk_box_append(GTK_BOX(row->root), row->note);

    g_object_set_data_full(G_OBJECT(row->root), "myna-message-row", row, row_free);
    return row;
}

GtkWidget *message_row_widget(MessageRow *row) { return row->root; }
const char *message_row_text(const MessageRow *row) { return row->buf->str; }

static gboolean flush(gpointer p)
{
    MessageRow *row = p;
    row->flush_id = 0;
    gtk_label_set_text(GTK_LABEL(row->text), row->buf->str);
    gtk_widget_set_visible(row->text, row->buf->len > 0);
    return G_SOURCE_REMOVE;
}

static void flush_now(MessageRow *row)
{
    if (row->flush_id) {
        g_source_remove(row->flush_id);
        flush(row);
    }
}

void message_row_append(MessageRow *row, const char *text)
{
    if (!text || !text[0])
        return;
    /* the first piece of an answer often starts with the space the tokenizer put before the word */
    if (row->buf->len == 0)
        while (*text == ' ' || *text == '\n')
            text++;
    g_string_append(row->buf, text);
    if (!row->flush_id)
        row->flush_id = g_timeout_add(FLUSH_MS, flush, row);
}

void message_row_add_thumbnail(MessageRow *row, GdkPaintable *thumb, const char *label)
{
    GtkWidget *w;
    if (thumb) {
        w = gtk_picture_new_for_paintable(thumb);
        gtk_picture_set_can_shrink(GTK_PICTURE(w), TRUE);
        gtk_widget_set_size_request(w, 96, 96);
    } else {
        w = gtk_box_new(GTK_ORIENTATION_VERTICAL, 4);
        GtkWidget *icon = gtk_image_new_from_icon_name("video-x-generic-symbolic");
        gtk_image_set_pixel_size(GTK_IMAGE(icon), 48);
        gtk_box_append(GTK_BOX(w), icon);
        GtkWidget *name = gtk_label_new(label);
        gtk_label_set_ellipsize(GTK_LABEL(name), PANGO_ELLIPSIZE_MIDDLE);
        gtk_label_set_max_width_chars(GTK_LABEL(name), 14);
        gtk_widget_add_css_class(name, "caption");
        gtk_box_append(GTK_BOX(w), name);
    }
    if (label)
        gtk_widget_set_tooltip_text(w, label);
    gtk_flow_box_append(GTK_FLOW_BOX(row->thumbs), w);
    gtk_widget_set_visible(row->thumbs, TRUE);
}

void message_row_set_note(MessageRow *row, const char *note)
{
    flush_now(row);
    gtk_label_set_text(GTK_LABEL(row->note), note ? note : "");
    gtk_widget_set_visible(row->note, note && note[0]);
}

void message_row_set_waiting(MessageRow *row, gboolean waiting)
{
    gtk_widget_set_visible(row->spinner, waiting);
    gtk_spinner_set_spinning(GTK_SPINNER(row->spinner), waiting);
}
