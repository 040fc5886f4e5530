/* gguf-internal.h — limits and helpers shared by the GGUF reader (gguf.c) and writer (gguf-writer.c).
 * Not part of the public interface; see gguf.c for why each limit has the value it has. */
#ifndef MYNA_GGUF_INTERNAL_H
#define MYNA_GGUF_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

#define GGUF_MAGIC_LE 0x46554747u               /* "GGUF" read as a little-endian u32 */
#define GGUF_HEADER_SIZE 24u                    /* magic, version, n_tensors (u64), n_kv (u64) */
#define GGUF_MAX_TENSORS 65536u
#define GGUF_MAX_KV 65536u
#define GGUF_MAX_KEY_LEN 65535u
#define GGUF_MAX_NAME_LEN 63u                   /* ggml: strlen(name) < GGML_MAX_NAME (64) */
#define GGUF_MAX_STRING ((uint64_t)16 << 20)    /* one string value or array element: 16 MiB */
#define GGUF_MAX_ARRAY ((uint64_t)1 << 28)      /* elements in one array */
#define GGUF_MIN_ALIGNMENT 8u
#define GGUF_MAX_ALIGNMENT 65536u
#define GGUF_DEFAULT_ALIGNMENT 32u

/* Bytes of one scalar of type t (0 for STRING, ARRAY and unknown types). */
size_t gguf_scalar_size(GgufType t);
/* 1 if s[0..n) is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF) and has no NUL byte;
 * otherwise 0 and *ret_bad (if not NULL) receives the index of the first offending byte. */
int gguf_utf8_valid(const uint8_t *s, size_t n, size_t *ret_bad);

#endif
