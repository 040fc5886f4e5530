/* tokenizer-spm.c — SentencePiece-style encoding of one text segment: spaces become "▁" (U+2581), an
 * optional "▁" prefix, then merges over UTF-8 characters (by score for GGUF "llama" vocabularies, by
 * merge rank for HF tokenizer.json BPE+byte_fallback), and characters left unknown fall back to <0xNN>
 * byte tokens.
 *
 * Not here: the merge engine itself (tokenizer-bpe.c), special tokens (tokenizer.c).
 * References: SentencePiece BPE (highest-scoring adjacent pair first, leftmost on ties) as llama.cpp's
 * llm_tokenizer_spm does it; HF tokenizers Prepend/Replace normalizers, Metaspace pre-tokenizer and
 * BPE byte_fallback.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer-impl.h"

#define SPACE_MARK "\xE2\x96\x81" /* U+2581 */

int tok_spm_encode_segment(const Tokenizer *t, const char *text, size_t len, int after_special, TokOut *out)
{
    /* after_special: 2 = segment at the start of the input, 1 = right after a special token, 0 = neither */
    int prefix = t->add_space_prefix && (t->prefix_first_only ? after_special == 2 : after_special != 0);
    size_t n_sp = 0;
    for (size_t i = 0; i < len; i++)
        n_sp += text[i] == ' ';
    if (len > (SIZE_MAX - 3) / 3)
        return -E2BIG;
    size_t cap = len + 2 * n_sp + 3;
    char *buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    size_t m = 0;
    if (prefix) {
        memcpy(buf, SPACE_MARK, 3);
        m = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(buf + m, SPACE_MARK, 3);
            m += 3;
        } else {
            buf[m++] = text[i];
        }
    }
    int r = 0, use_scores = t->scores != NULL;
    if (!t->spm_split) {
        r = tok_merge_spans(t, buf, m, use_scores, out);
    } else { /* each piece starts at a "▁" */
        size_t s = 0;
        for (size_t i = 1; i <= m && r == 0; i++)
            if (i == m || (i + 3 <= m && memcmp(buf + i, SPACE_MARK, 3) == 0)) {
                r = tok_merge_spans(t, buf + s, i - s, use_scores, out);
                s = i;
            }
    }
    free(buf);
    return r;
}
