/* tokenizer.h — text <-> token ids for the LM: byte-level BPE (GPT-2 / Llama 3 / SmolLM2 style) and
 * SentencePiece-style vocabularies (scores + <0xNN> byte fallback), loaded from GGUF `tokenizer.ggml.*`
 * metadata or from an HF tokenizer.json; plus a streaming detokenizer.
 *
 * Not here: chat templates (chat.h), sampling, the model. A Tokenizer is immutable after load, so one may
 * be shared by many threads for encode/decode (except tokenizer_set_eog, a load-time call).
 *
 * Numerics reference: HF `tokenizers` (BPE model + ByteLevel/Digits/Split pre-tokenizers, Metaspace,
 * byte_fallback) and llama.cpp llama-vocab.cpp behaviour (SPEC.md §1.7, §3.2); goldens come from
 * tools/ref/tokenizer_ref.py.
 */
#ifndef MYNA_TOKENIZER_H
#define MYNA_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

typedef struct Tokenizer Tokenizer;

typedef enum {
    TOKENIZER_KIND_BPE = 1, /* byte-level BPE ("gpt2" in GGUF; tokenizer.json BPE + ByteLevel) */
    TOKENIZER_KIND_SPM = 2, /* SentencePiece-style ("llama" in GGUF; tokenizer.json BPE + byte_fallback) */
} TokenizerKind;

/* Values of tokenizer.ggml.token_type (SPEC.md §1.7). */
typedef enum {
    TOKEN_TYPE_NORMAL = 1, TOKEN_TYPE_UNKNOWN = 2, TOKEN_TYPE_CONTROL = 3, TOKEN_TYPE_USER_DEFINED = 4,
    TOKEN_TYPE_UNUSED = 5, TOKEN_TYPE_BYTE = 6,
} TokenType;

/* Limits on hostile inputs (the loaders reject larger files with -E2BIG). */
#define TOKENIZER_MAX_VOCAB (1 << 22)
#define TOKENIZER_MAX_TOKEN_BYTES 1024

/* Load from GGUF metadata (tokenizer.ggml.model = "gpt2" | "llama"; tokenizer.ggml.pre for gpt2:
 * "llama-bpe" (aliases "llama3", "llama-v3", "falcon3"), "smollm", "gpt2", "qwen2", "default").
 * Errors: -EBADMSG (malformed/inconsistent arrays, message names the field), -ENOTSUP (unknown model or
 * pre-tokenizer: "tokenizer.ggml.pre 'xyz' is not supported (known: ...)"), -ENOMEM, -E2BIG. */
int tokenizer_load_gguf(const GgufFile *f, Tokenizer **ret, char *err, size_t err_len);
/* Load an HF tokenizer.json (model.type "BPE": byte-level pre-tokenizer, or Metaspace/byte_fallback =
 * SentencePiece-style; added_tokens become special/user-defined tokens). */
int tokenizer_load_hf(const char *tokenizer_json_path, Tokenizer **ret, char *err, size_t err_len);
/* Same from a buffer (tests, fuzzing). */
int tokenizer_load_hf_memory(const char *json, size_t len, Tokenizer **ret, char *err, size_t err_len);
void tokenizer_free(Tokenizer *t); /* accepts NULL */

TokenizerKind tokenizer_kind(const Tokenizer *t);
int tokenizer_n_vocab(const Tokenizer *t);
int32_t tokenizer_bos(const Tokenizer *t);       /* -1 when the vocabulary has none */
int32_t tokenizer_eos(const Tokenizer *t);       /* -1 when none */
int32_t tokenizer_eot(const Tokenizer *t);       /* end of turn (<|eot_id|>, <|im_end|>...); -1 when none */
int tokenizer_add_bos_default(const Tokenizer *t); /* tokenizer.ggml.add_bos_token (SmolLM2: 0, Llama: 1) */
/* 1 when generation must stop at id: EOS, EOT, EOM and tokens marked with tokenizer_set_eog (chat.h's
 * end-of-turn texts). At load, control tokens whose text is one of <|eot_id|> <|eom_id|> <|end_of_text|>
 * <|im_end|> <|endoftext|> </s> are marked too. */
int tokenizer_is_eog(const Tokenizer *t, int32_t id);
int tokenizer_set_eog(Tokenizer *t, int32_t id); /* -EINVAL when out of range */
TokenType tokenizer_token_type(const Tokenizer *t, int32_t id); /* 0 when out of range */
/* Id of the vocabulary entry whose (raw, stored) text equals text exactly; -1 when none. Special tokens
 * are found by their plain text ("<|im_end|>"). */
int32_t tokenizer_find_token(const Tokenizer *t, const char *text);
/* Raw vocabulary entry as stored (BPE pieces in GPT-2 byte->unicode form: "Ġhello"; SPM "▁hello",
 * "<0x0A>"); NULL when id is out of range. Valid while t lives. */
const char *tokenizer_piece(const Tokenizer *t, int32_t id);

/* Tokenize len bytes of text (need not be NUL-terminated; invalid UTF-8 is tokenized byte-wise, never an
 * error). add_bos: prepend BOS when the vocabulary has one. allow_special: match control/user-defined
 * token texts in the input (longest first) as single ids; otherwise they are plain text. Writes at most
 * cap ids and returns the total count, which may exceed cap (call again with a larger array); negative
 * errno on failure (-EINVAL bad arguments, -ENOMEM, -E2BIG above INT_MAX ids). */
int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, int add_bos, int allow_special,
                     int32_t *ids, int cap);

/* Raw bytes of one token (GPT-2 mapping undone, "▁" -> " ", <0xNN> -> byte; control tokens give their
 * text). May be a partial UTF-8 sequence. Returns the byte count (may exceed cap; out is not
 * NUL-terminated); -EINVAL for an out-of-range id. */
int tokenizer_token_bytes(const Tokenizer *t, int32_t id, char *out, size_t cap);
/* Decode a whole sequence: concatenated token bytes (control tokens skipped when skip_special; SPM: one
 * leading space from add_space_prefix removed, as HF does). Writes a NUL-terminated string when cap > 0
 * and returns the full length (may be >= cap, like snprintf); negative errno on failure. */
int tokenizer_decode(const Tokenizer *t, const int32_t *ids, int n, int skip_special, char *out, size_t cap);

/* Streaming detokenizer: push ids one at a time, get back only complete UTF-8 characters; a multi-byte
 * character split across tokens is held (at most 4 pending bytes) until it completes. Bytes that can never
 * form a valid character are emitted as U+FFFD. Control tokens (TOKEN_TYPE_CONTROL: <|im_end|>, BOS...)
 * are skipped unless render_special is set, in which case their text is emitted; user-defined tokens
 * are always emitted as text. */
typedef struct {
    unsigned char pending[4];
    int n_pending;
    int render_special;      /* set by the caller after tok_decoder_init */
    int strip_leading_space; /* drop one ' ' at the very start of the output (SPM first token) */
    int started;
} TokDecoder;

void tok_decoder_init(TokDecoder *d);
/* Writes the completed text of this token into out (NUL-terminated) and returns its length (often 0-8
 * bytes). cap >= TOK_DECODER_OUT_MAX always suffices; with a smaller cap, -ENOBUFS is returned when the
 * text does not fit (the decoder state is then unchanged). -EINVAL for an out-of-range id. */
#define TOK_DECODER_OUT_MAX (3 * (TOKENIZER_MAX_TOKEN_BYTES + 4) + 1)
int tok_decoder_push(TokDecoder *d, const Tokenizer *t, int32_t id, char *out, size_t cap);
/* End of stream: pending bytes of an unfinished character become U+FFFD (3 bytes each). */
int tok_decoder_flush(TokDecoder *d, char *out, size_t cap);

/* Pre-tokenizer alone (tests and tools): split text into pieces with the named regex set ("llama-bpe",
 * "smollm", "gpt2", "qwen2", "default" and aliases). Writes at most cap piece END offsets (bytes from
 * text start, increasing, the last == len) and returns the number of pieces (may exceed cap). */
typedef struct PreTokenizer PreTokenizer;
int pretokenizer_new(const char *name, PreTokenizer **ret, char *err, size_t err_len);
void pretokenizer_free(PreTokenizer *p); /* accepts NULL */
int pretokenizer_split(const PreTokenizer *p, const char *text, size_t len, size_t *ends, int cap);

#endif
