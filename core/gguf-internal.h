/* gguf-internal.h — limits and helpers shared by the GGUF reader (gguf.c) and writer (gguf-writer.c).
 * Not part of the public interface; see gguf.c for why each limit has the value it has. Also the parsed
 * file's layout, shared by the parser (gguf.c) and the accessors (gguf-access.c). */
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

/* The parsed file, shared by the parser (gguf.c) and the accessors (gguf-access.c). */
typedef struct {
    char *key;              /* owned, NUL-terminated */
    size_t key_len;
    GgufType type;
    size_t val_at;          /* file offset of the value, for messages */
    uint64_t raw;           /* scalar bits, little-endian decoded (zero-extended) */
    char *str;              /* STRING: owned NUL-terminated copy */
    size_t str_len;
    GgufType arr_type;      /* ARRAY */
    uint64_t arr_n;
    const uint8_t *arr_data; /* inside the mapping: numeric elements, or the serialised strings */
    char *arr_blob;         /* STRING arrays: owned, every element NUL-terminated back to back */
    size_t *arr_off;        /* STRING arrays: arr_n + 1 offsets into arr_blob (O(1) access) */
} GgufKv;

typedef struct {
    GgufTensorInfo info;
    char name[GGUF_MAX_NAME_LEN + 1];
    size_t rec_at;          /* file offset of the tensor-info record */
} GgufTensorRec;

struct GgufFile {
    const uint8_t *base;    /* mapping or caller's buffer (borrowed) */
    size_t size;
    int mapped;             /* base is ours to munmap, map_len bytes */
    size_t map_len;
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;
    int64_t n_kv, n_tensors;
    GgufKv *kv;             /* owned [n_kv] */
    GgufTensorRec *ti;      /* owned [n_tensors] */
    uint32_t *kv_hash;      /* open addressing, entries are index + 1, 0 = empty */
    uint32_t *ti_hash;
    size_t kv_hash_cap, ti_hash_cap;
};

/* Little-endian decode of n <= 8 bytes (zero-extended). Inline: the parser calls it for every field. */
static inline uint64_t gguf_le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

#endif
