/* clause.h — where an answer streaming in is cut for synthesis: at a sentence end (. ! ? newline) followed
 * by a space, or at , ; : once the clause has CLAUSE_MIN bytes. Used by the voice loop (conversation.c) and
 * by Ask with speak=true (ask-speak.c): each clause goes to a SPEAK job as soon as it is complete. */
#ifndef MYNA_DAEMON_CLAUSE_H
#define MYNA_DAEMON_CLAUSE_H

#include <stddef.h>

enum { CLAUSE_MIN = 24 }; /* bytes before a comma/semicolon/colon may end a clause */

/* The end (exclusive) of the clause of text[cut, len) that is complete, 0 when none is yet; final: the text
 * is all there, so its rest is a clause. */
size_t clause_end(const char *text, size_t cut, size_t len, int final);
/* Trim spaces from both ends of (*text, *len); returns how many letters/digits (or non-ASCII bytes) it
 * holds (0: nothing to say). */
int clause_trim(const char **text, size_t *len);

#endif
