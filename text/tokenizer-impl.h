/* tokenizer-impl.h — private to lm/tokenizer*.c: the Tokenizer struct, the loader-independent builder and
 * the helpers shared by the BPE, SentencePiece and loader files. Not a public API (see tokenizer.h).
 */
#ifndef MYNA_TOKENIZER_IMPL_H
#define MYNA_TOKENIZER_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

/* Open-addressing hash map from byte strings (borrowed, must outlive the map) to int32 values. */
typedef struct {
    uint32_t cap;          /* power of two, 0 = empty */
    int32_t *slot_id;      /* owned; -1 = empty; value index into the caller's strings */
    const char *const *keys; /* borrowed: keys[v] is the string for value v */
    const uint32_t *key_len; /* borrowed */
} StrMap;

/* Map from a (left id, right id) pair to a merge rank and the merged token id. */
typedef struct {
    uint32_t cap;
    uint64_t *key;   /* owned; UINT64_MAX = empty */
    int32_t *rank;   /* owned */
    int32_t *result; /* owned */
} PairMap;

struct Tokenizer {
    TokenizerKind kind;
    int n_vocab;
    char **text;        /* [V] owned (one arena): NUL-terminated raw vocabulary entries */
    uint32_t *text_len; /* [V] */
    char *arena;        /* owned storage of all texts */
    size_t arena_cap, arena_used;
    uint8_t *type;      /* [V] TokenType */
    uint8_t *eog;       /* [V] 1 = end of generation */
    float *scores;      /* [V] owned, SentencePiece scores; NULL when merges give the order */
    StrMap vocab;
    PairMap merges;     /* empty for score-ordered SentencePiece */
    int32_t byte_id[256]; /* SPM: id of <0xNN>, -1 when absent */
    int32_t bos, eos, eot, eom, unk;
    int add_bos, add_space_prefix, ignore_merges, byte_fallback;
    int spm_split;      /* HF Metaspace split=true: each "▁word" is its own piece */
    int prefix_first_only; /* HF Metaspace prepend_scheme "first": "▁" only at the very start */
    PreTokenizer *pre;  /* owned; BPE only */
    int32_t *special;   /* owned: ids of control/user-defined tokens, longest text first */
    int n_special;
    uint8_t special_first[256]; /* 1 when some special token text starts with this byte */
};

/* Builder used by both loaders: allocate, then fill texts; tok_finish() validates and indexes. */
int tok_alloc(Tokenizer **ret, TokenizerKind kind, int n_vocab, size_t text_bytes);
/* Copy the text of token id (len bytes) into the arena. */
int tok_set_text(Tokenizer *t, int id, const char *s, size_t len);
/* Build the vocabulary map, byte table, special list and EOG marks. err names the offending token. */
int tok_finish(Tokenizer *t, char *err, size_t err_len);
/* Add merge number rank "left right" (left/right given separately). -EBADMSG when a side or the merged
 * text is not in the vocabulary. */
int tok_add_merge(Tokenizer *t, const char *left, size_t left_len, const char *right, size_t right_len,
                  int32_t rank, char *err, size_t err_len, const char *field, uint64_t index);
int tok_merges_reserve(Tokenizer *t, uint64_t n);

int32_t strmap_find(const StrMap *m, const char *s, size_t len);

/* Pre-tokenizer from up to 4 regexes applied in sequence (tokenizer.json Split/Digits/ByteLevel). */
#define TOK_GPT2_REGEX "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
int pretokenizer_new_regex(const char *const *re, int n, PreTokenizer **ret, char *err, size_t err_len);

/* GPT-2 byte -> code point table and its inverse. */
uint32_t bpe_byte_to_cp(uint8_t b);
int bpe_cp_to_byte(uint32_t cp); /* -1 when cp is not a mapped byte */
/* Parse "<0xNN>" (exactly two hex digits); returns the byte or -1. */
int tok_parse_byte_token(const char *s, size_t len);

/* Encode one plain-text segment (no special tokens inside), appending ids through push. */
typedef struct {
    int32_t *ids;
    int cap;
    int64_t n;
} TokOut;
int tok_bpe_encode_segment(const Tokenizer *t, const char *text, size_t len, TokOut *out);
int tok_spm_encode_segment(const Tokenizer *t, const char *text, size_t len, int add_prefix, TokOut *out);
/* Shared merge engine: symbols are spans of buf; merges by rank (PairMap) or score (SentencePiece). */
int tok_merge_spans(const Tokenizer *t, const char *buf, size_t len, int use_scores, TokOut *out);

static inline void tok_out_push(TokOut *o, int32_t id)
{
    if (o->n < o->cap)
        o->ids[o->n] = id;
    o->n++;
}

#endif
