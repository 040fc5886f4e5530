/* clause.c — the clause cutter of streamed answers (see clause.h). */
#include "clause.h"

#include <ctype.h>

size_t clause_end(const char *text, size_t cut, size_t len, int final)
{
    for (size_t i = cut; i < len; i++) {
        char ch = text[i];
        if (!(i + 1 < len && isspace((unsigned char)text[i + 1])))
            continue;
        if (ch == '.' || ch == '!' || ch == '?' || ch == '\n' ||
            ((ch == ',' || ch == ';' || ch == ':') && i - cut >= CLAUSE_MIN))
            return i + 1;
    }
    return final && cut < len ? len : 0;
}

int clause_trim(const char **text, size_t *len)
{
    const char *t = *text;
    size_t n = *len;
    int letters = 0;
    while (n && isspace((unsigned char)*t))
        t++, n--;
    while (n && isspace((unsigned char)t[n - 1]))
        n--;
    for (size_t i = 0; i < n; i++)
        letters += isalnum((unsigned char)t[i]) || (unsigned char)t[i] >= 0x80;
    *text = t, *len = n;
    return letters;
}
