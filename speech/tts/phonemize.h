/* phonemize.h — text → Piper phoneme ids through espeak-ng (GPL-3+, linked dynamically; -Despeak).
 *
 * Piper's rule (piper1-gpl phonemize_espeak.py + phoneme_ids.py): espeak-ng in IPA mode with the voice's
 * espeak.voice gives one clause at a time; language-switch flags "(xx)" are removed; the clause's
 * terminator is appended (", : ;" followed by a space); clauses are grouped into sentences at . ? ! (and
 * at paragraph breaks and the end of the text); each sentence is NFD-normalized, split into codepoints and
 * mapped with phoneme_id_map as ^ _ p1 _ p2 _ … pn _ $, runs listed in the voice's vowel_clusters merged
 * into one phoneme first. Codepoints the voice has no id for are skipped (each logged once per process).
 *
 * espeak-ng 1.51 (Debian 12) has no espeak_TextToPhonemesWithTerminator, so the terminator is recovered
 * from the source text: espeak_TextToPhonemes leaves its text pointer one UTF-8 character into the next
 * clause, so a clause's source is [previous boundary, pointer − 1 character), and its terminator is the
 * first clause punctuation in the punctuation run that ends it (". , ? ! : ;", "–" and "—" as ";",
 * Arabic "؟ ،"; "..." and "…" end a clause without a terminator, as espeak reports them). A clause that
 * ends without punctuation ends a sentence at a blank line or the end of the text, not where espeak split
 * an over-long clause (what piper-tts's espeak_TextToPhonemesWithTerminator reports).
 *
 * Every id keeps the span of source text of the clause it came from, so a caller knows which text has
 * been played. espeak-ng is not thread-safe: all calls go through one process-wide lock.
 * Not here: Piper's "[[ raw phonemes ]]" blocks (text is always phonemized), other phoneme types.
 */
#ifndef MYNA_PHONEMIZE_H
#define MYNA_PHONEMIZE_H

#include <stddef.h>
#include <stdint.h>

#include "voice.h"

enum { PHONEMIZE_MAX_TEXT = 1 << 20 }; /* bytes of text per call */

/* Source text [start, end) in bytes and in codepoints. */
typedef struct {
    int32_t byte_start, byte_end;
    int32_t char_start, char_end;
} PhonemeSpan;

typedef struct {
    int64_t *ids;            /* [n_ids] owned: ^ _ p1 _ … pn _ $ */
    PhonemeSpan *spans;      /* [n_ids] owned: the clause each id came from (^ the first, $ the last) */
    int n_ids;
    char *phonemes;          /* owned: the sentence's phonemes after Piper's rule, NFD (UTF-8) */
    PhonemeSpan span;        /* the whole sentence */
} PhonemeSentence;

typedef struct {
    PhonemeSentence *sentences; /* [n_sentences] owned */
    int n_sentences;
    int n_skipped;           /* phoneme codepoints the voice has no id for (skipped) */
} Phonemes;

/* One clause as espeak-ng returns it, with the recovered terminator ("" when none). */
typedef struct {
    char *ipa;               /* owned, as espeak returned it (language flags kept) */
    char terminator[4];
    int end_of_sentence;
    PhonemeSpan span;
} PhonemeClause;

/* Optional: espeak-ng's data directory (NULL: the library's default). Called implicitly by the others;
 * -ENODEV when espeak-ng cannot start (no data). Safe to call more than once. */
int phonemize_init(const char *data_dir, char *err, size_t err_len);

/* Text (UTF-8, at most PHONEMIZE_MAX_TEXT bytes) → sentences of ids for voice v (its espeak.voice and
 * phoneme_id_map). Errors: -EINVAL text that is not UTF-8 or an espeak voice espeak-ng does not know,
 * -E2BIG, -ENODEV, -ENOMEM; err names the reason. A text with nothing to say gives 0 sentences. */
int phonemize(const Voice *v, const char *text, Phonemes **ret, char *err, size_t err_len);
void phonemes_free(Phonemes *p); /* accepts NULL */

/* The clauses alone, for tests and tools. */
int phonemize_clauses(const char *espeak_voice, const char *text, PhonemeClause **ret, int *ret_n, char *err,
                      size_t err_len);
void phonemize_clauses_free(PhonemeClause *c, int n);

/* NFD of UTF-8 s[0..n) into a malloc'd NUL-terminated string (*ret, length in *ret_len); -EINVAL for
 * invalid UTF-8, -ENOMEM. Needs no espeak-ng (phonemize-nfd.c). */
int phonemize_nfd(const char *s, size_t n, char **ret, size_t *ret_len);

#endif
