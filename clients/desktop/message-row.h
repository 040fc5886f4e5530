/* message-row.h — one message of the conversation: who spoke, the text (selectable, streamed in piece by
 * piece for answers), thumbnails of the attached images and videos, a note ("Stopped", an error) and a
 * copy button. A plain widget tree with its state attached to the root; no model, no bus. */
#ifndef MYNA_DESKTOP_MESSAGE_ROW_H
#define MYNA_DESKTOP_MESSAGE_ROW_H

#include <gtk/gtk.h>

typedef enum { MESSAGE_USER, MESSAGE_ASSISTANT } MessageRole;

typedef struct MessageRow MessageRow;

/* The row is owned by its widget (freed when the widget is destroyed). */
MessageRow *message_row_new(MessageRole role, const char *text);
GtkWidget *message_row_widget(MessageRow *row);
void message_row_append(MessageRow *row, const char *text);
const char *message_row_text(const MessageRow *row);
/* thumb: a paintable (borrowed, ref taken) or NULL for a generic icon; label: the file name. */
void message_row_add_thumbnail(MessageRow *row, GdkPaintable *thumb, const char *label);
/* Appended text reaches the label at most every 40 ms; set_note shows it at once. */
/* A dim line under the text ("Stopped", "Failed: …"); NULL hides it. */
void message_row_set_note(MessageRow *row, const char *note);
/* While waiting for the first token: a spinner instead of the empty text. */
void message_row_set_waiting(MessageRow *row, gboolean waiting);

#endif
