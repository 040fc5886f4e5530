/* phonemize-nfd.c — Unicode NFD (canonical decomposition + canonical ordering, UAX #15) for the phonemizer.
 * Piper NFD-normalizes the IPA before mapping codepoints to ids, which splits e.g. "ç" into "c" + U+0327
 * (both in Piper's id map). Tables: nfd-table.h (tools/gen-nfd-table.py); Hangul is algorithmic
 * (Unicode §3.12). Not a general normalizer: no NFC/NFKC.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nfd-table.h"
#include "phonemize.h"

/* Next codepoint of s[*i..n), or -1 for malformed UTF-8 (overlongs, surrogates, > U+10FFFF). */
static int32_t utf8_next(const unsigned char *s, size_t n, size_t *i)
{
    unsigned char c = s[*i];
    int32_t cp, min;
    size_t len;

    if (c < 0x80) { (*i)++; return c; }
    if ((c & 0xe0) == 0xc0) { cp = c & 0x1f; len = 2; min = 0x80; }
    else if ((c & 0xf0) == 0xe0) { cp = c & 0x0f; len = 3; min = 0x800; }
    else if ((c & 0xf8) == 0xf0) { cp = c & 0x07; len = 4; min = 0x10000; }
    else return -1;
    if (n - *i < len)
        return -1;
    for (size_t k = 1; k < len; k++) {
        if ((s[*i + k] & 0xc0) != 0x80)
            return -1;
        cp = cp << 6 | (s[*i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return -1;
    *i += len;
    return cp;
}

static size_t utf8_put(char *out, uint32_t cp)
{
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) { out[0] = (char)(0xc0 | cp >> 6); out[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12); out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18); out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static const NfdDecomp *find_decomp(uint32_t cp)
{
    size_t lo = 0, hi = sizeof(nfd_decomp) / sizeof(nfd_decomp[0]);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (nfd_decomp[mid].cp == cp)
            return &nfd_decomp[mid];
        if (nfd_decomp[mid].cp < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int ccc_of(uint32_t cp)
{
    size_t lo = 0, hi = sizeof(nfd_class) / sizeof(nfd_class[0]);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (nfd_class[mid].cp == cp)
            return nfd_class[mid].ccc;
        if (nfd_class[mid].cp < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

int phonemize_nfd(const char *s, size_t n, char **ret, size_t *ret_len)
{
    const unsigned char *u = (const unsigned char *)s;
    uint32_t *cps;
    size_t n_cp = 0, i = 0;
    char *out;

    if (n > SIZE_MAX / 16)
        return -ENOMEM;
    /* a codepoint decomposes into at most 4 (Hangul into 3) */
    if (!(cps = malloc((n * 4 + 1) * sizeof(*cps))))
        return -ENOMEM;
    while (i < n) {
        int32_t cp = utf8_next(u, n, &i);
        if (cp < 0) {
            free(cps);
            return -EINVAL;
        }
        if (cp >= 0xac00 && cp <= 0xd7a3) { /* Hangul syllable: L V (T) */
            int32_t si = cp - 0xac00;
            cps[n_cp++] = (uint32_t)(0x1100 + si / 588);
            cps[n_cp++] = (uint32_t)(0x1161 + (si % 588) / 28);
            if (si % 28)
                cps[n_cp++] = (uint32_t)(0x11a7 + si % 28);
            continue;
        }
        const NfdDecomp *d = find_decomp((uint32_t)cp);
        if (!d) {
            cps[n_cp++] = (uint32_t)cp;
            continue;
        }
        for (int k = 0; k < 4 && d->d[k]; k++)
            cps[n_cp++] = d->d[k];
    }
    /* canonical ordering: stable sort of each run of non-starters by combining class */
    for (size_t k = 1; k < n_cp; k++) {
        int c = ccc_of(cps[k]);
        if (!c)
            continue;
        for (size_t j = k; j > 0; j--) {
            int p = ccc_of(cps[j - 1]);
            if (!p || p <= c)
                break;
            uint32_t t = cps[j];
            cps[j] = cps[j - 1];
            cps[j - 1] = t;
        }
    }
    if (!(out = malloc(n_cp * 4 + 1))) {
        free(cps);
        return -ENOMEM;
    }
    size_t o = 0;
    for (size_t k = 0; k < n_cp; k++)
        o += utf8_put(out + o, cps[k]);
    out[o] = 0;
    free(cps);
    *ret = out;
    if (ret_len)
        *ret_len = o;
    return 0;
}
