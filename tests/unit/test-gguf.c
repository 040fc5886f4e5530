/* test-gguf.c — GGUF reader/writer (core/gguf.c, core/gguf-writer.c).
 *
 * 1. A table of malformed files built byte by byte in memory: each must fail with a specific error code
 *    and a message containing a specific substring, the "gguf: " prefix and the "(at byte N)" suffix.
 * 2. Typed getters and tensor views on a file written by the C writer (round trip).
 * 3. The fixture tests/fixtures/gguf/py-writer.gguf written by gguf-py's GGUFWriter
 *    (tools/ref/gguf_ref.py fixture): every value and tensor element is restated here and compared exactly
 *    (tolerance 0: the values are exactly representable in F32 and F16).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf.h"
#include "test-util.h"

typedef struct {
    uint8_t *p;
    size_t n, cap;
} Bld;

static void put(Bld *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void p8(Bld *b, uint8_t v) { put(b, &v, 1); }
static void p32(Bld *b, uint32_t v) { for (int i = 0; i < 4; i++) p8(b, (uint8_t)(v >> (8 * i))); }
static void p64(Bld *b, uint64_t v) { for (int i = 0; i < 8; i++) p8(b, (uint8_t)(v >> (8 * i))); }
static void pstrn(Bld *b, const char *s, size_t n) { p64(b, n); put(b, s, n); }
static void pstr(Bld *b, const char *s) { pstrn(b, s, strlen(s)); }

static void hdr(Bld *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    put(b, "GGUF", 4);
    p32(b, version);
    p64(b, n_tensors);
    p64(b, n_kv);
}

static void kvh(Bld *b, const char *key, GgufType t) { pstr(b, key); p32(b, (uint32_t)t); }
static void kv_u32(Bld *b, const char *key, uint32_t v) { kvh(b, key, GGUF_TYPE_UINT32); p32(b, v); }

/* Tensor info with up to 4 dims given as arguments (n_dims of them are written). */
static void ti(Bld *b, const char *name, uint32_t n_dims, int64_t d0, int64_t d1, uint32_t type, uint64_t off)
{
    pstr(b, name);
    p32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++)
        p64(b, (uint64_t)(d == 0 ? d0 : d == 1 ? d1 : 1));
    p32(b, type);
    p64(b, off);
}

/* Zero padding to `align`, then n data bytes. */
static void data(Bld *b, size_t n, size_t align)
{
    while (b->n % align)
        p8(b, 0);
    for (size_t i = 0; i < n; i++)
        p8(b, (uint8_t)(i * 13));
}

/* A valid file: one kv and one F32 tensor [8, 2]. */
static void valid1(Bld *b, uint32_t version)
{
    hdr(b, version, 1, 1);
    kv_u32(b, "general.alignment", 32);
    ti(b, "w", 2, 8, 2, 0, 0);
    data(b, 64, 32);
}

/* Two F32 tensors; second at offset off2. */
static void two(Bld *b, int64_t ne_a, uint64_t off2, size_t n_data)
{
    hdr(b, 3, 2, 0);
    ti(b, "a", 1, ne_a, 0, 0, 0);
    ti(b, "b", 1, 8, 0, 0, off2);
    data(b, n_data, 32);
}

#define C(name) static void name(Bld *b)
C(c_empty) { (void)b; }
C(c_short) { hdr(b, 3, 0, 0); b->n = 23; }
C(c_magic) { valid1(b, 3); b->p[3] = 'G'; }
C(c_magic_lower) { valid1(b, 3); memcpy(b->p, "gguf", 4); }
C(c_v0) { valid1(b, 0); }
C(c_v1) { valid1(b, 1); }
C(c_v4) { valid1(b, 4); }
C(c_vmax) { valid1(b, 0xfffffff0u); }
C(c_v3_be) { valid1(b, 0x03000000u); }
C(c_v2_be) { valid1(b, 0x02000000u); }
C(c_nt_big) { hdr(b, 3, 65537, 0); data(b, 4096, 1); }
C(c_nt_neg) { hdr(b, 3, UINT64_MAX, 0); }
C(c_nkv_big) { hdr(b, 3, 0, 65537); }
C(c_nkv_neg) { hdr(b, 3, 0, (uint64_t)1 << 63); }
C(c_nkv_fit) { hdr(b, 3, 0, 1000); kv_u32(b, "a", 1); }
C(c_nt_fit) { hdr(b, 3, 3, 0); ti(b, "a", 1, 8, 0, 0, 0); }
C(c_keylen_past) { hdr(b, 3, 0, 1); p64(b, 40); put(b, "general.name", 12); p32(b, 8); }
C(c_keylen_cap) { hdr(b, 3, 0, 1); p64(b, 65536); data(b, 65600, 1); }
C(c_keylen_max) { hdr(b, 3, 0, 1); p64(b, UINT64_MAX); p32(b, 0); p32(b, 0); }
C(c_key_empty) { hdr(b, 3, 0, 1); kv_u32(b, "", 1); }
C(c_key_dup) { hdr(b, 3, 0, 3); kv_u32(b, "a.b", 1); kv_u32(b, "a.c", 1); kv_u32(b, "a.b", 2); }
C(c_key_ff) { hdr(b, 3, 0, 1); kv_u32(b, "a\xff", 1); }
C(c_key_overlong) { hdr(b, 3, 0, 1); kv_u32(b, "a\xc0\x80", 1); }
C(c_key_surrogate) { hdr(b, 3, 0, 1); kv_u32(b, "\xed\xa0\x80", 1); }
C(c_key_above_max) { hdr(b, 3, 0, 1); kv_u32(b, "\xf4\x90\x80\x80", 1); }
C(c_key_cut_utf8) { hdr(b, 3, 0, 1); kv_u32(b, "ab\xe2\x82", 1); }
C(c_key_nul) { hdr(b, 3, 0, 1); pstrn(b, "a\0b", 3); p32(b, GGUF_TYPE_UINT32); p32(b, 1); }
C(c_vtype_13) { hdr(b, 3, 0, 1); kvh(b, "k", (GgufType)13); p32(b, 0); }
C(c_vtype_max) { hdr(b, 3, 0, 1); kvh(b, "k", (GgufType)0xffffffffu); p32(b, 0); }
C(c_vtype_cut) { hdr(b, 3, 0, 1); pstr(b, "keykey"); p8(b, 4); p8(b, 0); p8(b, 0); p8(b, 0); p8(b, 0); b->n -= 2; }
C(c_bool_2) { hdr(b, 3, 0, 1); kvh(b, "k", GGUF_TYPE_BOOL); p8(b, 2); }
C(c_u32_cut) { hdr(b, 3, 0, 1); kvh(b, "k", GGUF_TYPE_UINT32); p8(b, 1); p8(b, 2); p8(b, 3); }
C(c_f64_cut) { hdr(b, 3, 0, 1); kvh(b, "k", GGUF_TYPE_FLOAT64); p32(b, 1); p8(b, 2); }
C(c_str_past) { hdr(b, 3, 0, 1); kvh(b, "k", GGUF_TYPE_STRING); p64(b, 100); put(b, "abc", 3); }
C(c_str_cap) { hdr(b, 3, 0, 1); kvh(b, "k", GGUF_TYPE_STRING); p64(b, ((uint64_t)16 << 20) + 1); }
C(c_str_max) { hdr(b, 3, 0, 1); kvh(b, "k", GGUF_TYPE_STRING); p64(b, UINT64_MAX); }
C(c_arr_arr) { hdr(b, 3, 0, 1); kvh(b, "k", GGUF_TYPE_ARRAY); p32(b, GGUF_TYPE_ARRAY); p64(b, 1); p32(b, 0); p64(b, 0); }
C(c_arr_unknown) { hdr(b, 3, 0, 1); kvh(b, "k", GGUF_TYPE_ARRAY); p32(b, 13); p64(b, 1); p32(b, 0); }
C(c_arr_cap) { hdr(b, 3, 0, 1); kvh(b, "k", GGUF_TYPE_ARRAY); p32(b, GGUF_TYPE_UINT8); p64(b, ((uint64_t)1 << 28) + 1); }
C(c_arr_overflow) { hdr(b, 3, 0, 1); kvh(b, "k", GGUF_TYPE_ARRAY); p32(b, GGUF_TYPE_UINT64); p64(b, (uint64_t)1 << 61); }
C(c_arr_past) { hdr(b, 3, 0, 1); kvh(b, "k", GGUF_TYPE_ARRAY); p32(b, GGUF_TYPE_UINT32); p64(b, 1000); p32(b, 1); }
C(c_arr_strs_past) { hdr(b, 3, 0, 1); kvh(b, "k", GGUF_TYPE_ARRAY); p32(b, GGUF_TYPE_STRING); p64(b, 3); pstr(b, "ab"); p64(b, 50); put(b, "cd", 2); p64(b, 0); }
C(c_arr_strs_count) { hdr(b, 3, 0, 1); kvh(b, "k", GGUF_TYPE_ARRAY); p32(b, GGUF_TYPE_STRING); p64(b, 1000); pstr(b, "ab"); }
C(c_arr_str_cap) { hdr(b, 3, 0, 1); kvh(b, "k", GGUF_TYPE_ARRAY); p32(b, GGUF_TYPE_STRING); p64(b, 1); p64(b, ((uint64_t)16 << 20) + 1); }
C(c_arr_bool) { hdr(b, 3, 0, 1); kvh(b, "k", GGUF_TYPE_ARRAY); p32(b, GGUF_TYPE_BOOL); p64(b, 3); p8(b, 1); p8(b, 0); p8(b, 5); }
C(c_arr_cut_type) { hdr(b, 3, 0, 1); kvh(b, "k", GGUF_TYPE_ARRAY); p8(b, 1); }
C(c_align_str) { hdr(b, 3, 0, 1); kvh(b, "general.alignment", GGUF_TYPE_STRING); pstr(b, "32"); }
C(c_align_u64) { hdr(b, 3, 0, 1); kvh(b, "general.alignment", GGUF_TYPE_UINT64); p64(b, 32); }
C(c_align_0) { hdr(b, 3, 0, 1); kv_u32(b, "general.alignment", 0); }
C(c_align_48) { hdr(b, 3, 0, 1); kv_u32(b, "general.alignment", 48); }
C(c_align_4) { hdr(b, 3, 0, 1); kv_u32(b, "general.alignment", 4); }
C(c_align_1) { hdr(b, 3, 0, 1); kv_u32(b, "general.alignment", 1); }
C(c_align_2p17) { hdr(b, 3, 0, 1); kv_u32(b, "general.alignment", 1u << 17); }
C(c_align_2p31) { hdr(b, 3, 0, 1); kv_u32(b, "general.alignment", 1u << 31); }
C(c_name_64) { hdr(b, 3, 1, 0); ti(b, "0123456789012345678901234567890123456789012345678901234567890123", 1, 8, 0, 0, 0); data(b, 32, 32); }
C(c_name_empty) { hdr(b, 3, 1, 0); ti(b, "", 1, 8, 0, 0, 0); data(b, 32, 32); }
C(c_name_utf8) { hdr(b, 3, 1, 0); ti(b, "w\xfe", 1, 8, 0, 0, 0); data(b, 32, 32); }
C(c_name_dup) { hdr(b, 3, 2, 0); ti(b, "w", 1, 8, 0, 0, 0); ti(b, "w", 1, 8, 0, 0, 32); data(b, 64, 32); }
C(c_name_past) { hdr(b, 3, 1, 0); p64(b, 60); data(b, 30, 1); }
C(c_ndims_0) { hdr(b, 3, 1, 0); ti(b, "w", 0, 8, 0, 0, 0); data(b, 64, 32); }
C(c_ndims_5) { hdr(b, 3, 1, 0); ti(b, "w", 5, 8, 1, 0, 0); data(b, 64, 32); }
C(c_dim_neg) { hdr(b, 3, 1, 0); ti(b, "w", 2, 8, -1, 0, 0); data(b, 64, 32); }
C(c_dim_zero) { hdr(b, 3, 1, 0); ti(b, "w", 2, 0, 4, 0, 0); data(b, 64, 32); }
C(c_dim_overflow) { hdr(b, 3, 1, 0); ti(b, "w", 2, (int64_t)1 << 40, (int64_t)1 << 40, 0, 0); data(b, 64, 32); }
C(c_dim_overflow_q) { hdr(b, 3, 1, 0); ti(b, "w", 2, (int64_t)1 << 58, 1 << 20, 8, 0); data(b, 64, 32); }
C(c_dim_cut) { hdr(b, 3, 1, 0); pstr(b, "w"); p32(b, 4); p64(b, 8); p64(b, 1); data(b, 5, 1); }
C(c_ne0_block) { hdr(b, 3, 1, 0); ti(b, "w", 1, 33, 0, 2, 0); data(b, 64, 32); }
C(c_ne0_block_k) { hdr(b, 3, 1, 0); ti(b, "w", 2, 128, 2, 12, 0); data(b, 300, 32); }
C(c_type_4) { hdr(b, 3, 1, 0); ti(b, "w", 1, 8, 0, 4, 0); data(b, 64, 32); }
C(c_type_1000) { hdr(b, 3, 1, 0); ti(b, "w", 1, 8, 0, 1000, 0); data(b, 64, 32); }
C(c_type_iq2) { hdr(b, 3, 1, 0); ti(b, "w", 1, 256, 0, 16, 0); data(b, 66, 32); }
C(c_type_q2k) { hdr(b, 3, 1, 0); ti(b, "w", 1, 256, 0, 10, 0); data(b, 84, 32); }
C(c_type_i32) { hdr(b, 3, 1, 0); ti(b, "w", 1, 8, 0, 26, 0); data(b, 32, 32); }
C(c_type_cut) { hdr(b, 3, 1, 0); pstr(b, "w"); p32(b, 4); for (int d = 0; d < 4; d++) p64(b, 8); data(b, 3, 1); }
C(c_off_unaligned) { hdr(b, 3, 1, 0); ti(b, "w", 1, 8, 0, 0, 4); data(b, 64, 32); }
C(c_off_first_gap) { hdr(b, 3, 1, 0); ti(b, "w", 1, 8, 0, 0, 32); data(b, 64, 32); }
C(c_off_gap) { two(b, 8, 64, 128); }
C(c_off_overlap) { two(b, 16, 32, 128); }
C(c_off_same) { two(b, 8, 0, 128); }
C(c_off_order) { hdr(b, 3, 3, 0); ti(b, "a", 1, 8, 0, 0, 0); ti(b, "b", 1, 8, 0, 0, 32); ti(b, "c", 1, 8, 0, 0, 0); data(b, 96, 32); }
C(c_off_huge) { two(b, 8, UINT64_MAX - 31, 128); }
C(c_off_cut) { hdr(b, 3, 1, 0); pstr(b, "w"); p32(b, 4); for (int d = 0; d < 4; d++) p64(b, 8); p32(b, 0); data(b, 4, 1); }
C(c_past_eof) { hdr(b, 3, 1, 0); ti(b, "blk.0.attn_k.weight", 2, 8, 2, 0, 0); data(b, 63, 32); }
C(c_past_eof_2nd) { two(b, 8, 32, 50); }
C(c_past_eof_nodata) { hdr(b, 3, 1, 0); ti(b, "w", 1, 8, 0, 0, 0); }
C(c_past_eof_huge) { hdr(b, 3, 1, 0); ti(b, "w", 2, (int64_t)1 << 30, (int64_t)1 << 28, 0, 0); data(b, 64, 32); }
/* valid ones */
C(c_ok_v2) { valid1(b, 2); }
C(c_ok_v3) { valid1(b, 3); }
C(c_ok_header_only) { hdr(b, 3, 0, 0); }
C(c_ok_trailing) { valid1(b, 3); data(b, 100, 1); }
C(c_ok_align64) { hdr(b, 3, 2, 1); kv_u32(b, "general.alignment", 64); ti(b, "a", 1, 8, 0, 0, 0); ti(b, "b", 1, 8, 0, 1, 64); data(b, 80, 64); }
C(c_ok_q4k) { hdr(b, 3, 2, 0); ti(b, "a", 2, 256, 3, 12, 0); ti(b, "b", 1, 64, 0, 8, 448); data(b, 448 + 68, 32); }
#undef C

typedef struct {
    const char *name;
    void (*build)(Bld *);
    int code;
    const char *msg;
} Case;

static const Case g_cases[] = {
    {"empty file", c_empty, -EBADMSG, "file too small for a GGUF header (0 bytes"},
    {"23 bytes", c_short, -EBADMSG, "file too small"},
    {"bad magic", c_magic, -EBADMSG, "bad magic 47 47 55 47"},
    {"lowercase magic", c_magic_lower, -EBADMSG, "expected 'GGUF'"},
    {"version 0", c_v0, -EBADMSG, "version 0 is invalid"},
    {"version 1", c_v1, -ENOTSUP, "version 1 is not supported"},
    {"version 4", c_v4, -ENOTSUP, "version 4 is newer"},
    {"version huge", c_vmax, -ENOTSUP, "newer than the supported 3"},
    {"version 3 byte-swapped", c_v3_be, -ENOTSUP, "looks big-endian"},
    {"version 2 byte-swapped", c_v2_be, -ENOTSUP, "0x02000000 looks big-endian"},
    {"tensor count > cap", c_nt_big, -E2BIG, "tensor count 65537 exceeds"},
    {"tensor count negative", c_nt_neg, -E2BIG, "tensor count 18446744073709551615"},
    {"kv count > cap", c_nkv_big, -E2BIG, "kv count 65537 exceeds"},
    {"kv count negative", c_nkv_neg, -E2BIG, "kv count"},
    {"kv count cannot fit", c_nkv_fit, -EBADMSG, "cannot fit"},
    {"tensor count cannot fit", c_nt_fit, -EBADMSG, "3 tensors and 0 kvs cannot fit"},
    {"key length past end", c_keylen_past, -EBADMSG, "kv 0: key length 40 past end of file"},
    {"key length > 65535", c_keylen_cap, -EBADMSG, "key length 65536 exceeds the limit 65535"},
    {"key length 2^64-1", c_keylen_max, -EBADMSG, "key length 18446744073709551615 exceeds"},
    {"empty key", c_key_empty, -EBADMSG, "kv 0: empty key"},
    {"duplicate key", c_key_dup, -EBADMSG, "kv 2 'a.b': duplicate key (first defined by kv 0)"},
    {"key byte 0xff", c_key_ff, -EBADMSG, "key is not valid UTF-8 (byte 0xff"},
    {"key overlong UTF-8", c_key_overlong, -EBADMSG, "not valid UTF-8"},
    {"key UTF-16 surrogate", c_key_surrogate, -EBADMSG, "not valid UTF-8"},
    {"key above U+10FFFF", c_key_above_max, -EBADMSG, "not valid UTF-8"},
    {"key cut multibyte", c_key_cut_utf8, -EBADMSG, "not valid UTF-8 (byte 0xe2 at offset 2)"},
    {"key with NUL", c_key_nul, -EBADMSG, "key contains a NUL byte"},
    {"value type 13", c_vtype_13, -EBADMSG, "kv 0 'k': unknown value type 13"},
    {"value type 2^32-1", c_vtype_max, -EBADMSG, "unknown value type 4294967295"},
    {"value type truncated", c_vtype_cut, -EBADMSG, "value type: need 4 bytes, 3 left"},
    {"bool 2", c_bool_2, -EBADMSG, "bool value 2 is not 0 or 1"},
    {"u32 truncated", c_u32_cut, -EBADMSG, "UINT32: need 4 bytes, 3 left"},
    {"f64 truncated", c_f64_cut, -EBADMSG, "FLOAT64: need 8 bytes"},
    {"string past end", c_str_past, -EBADMSG, "string value length 100 past end of file (3 bytes left)"},
    {"string > 16 MiB", c_str_cap, -E2BIG, "string value length 16777217 exceeds the limit 16777216"},
    {"string length 2^64-1", c_str_max, -E2BIG, "string value length 18446744073709551615 exceeds"},
    {"array of arrays", c_arr_arr, -ENOTSUP, "arrays of arrays are not supported"},
    {"array of unknown type", c_arr_unknown, -EBADMSG, "unknown array element type 13"},
    {"array count > 2^28", c_arr_cap, -E2BIG, "array count 268435457 exceeds the limit 268435456"},
    {"array bytes overflow", c_arr_overflow, -E2BIG, "array count 2305843009213693952 exceeds"},
    {"array past end", c_arr_past, -EBADMSG, "array of 1000 UINT32 (at least 4000 bytes) past end of file"},
    {"string element past end", c_arr_strs_past, -EBADMSG, "array element 1: string length 50 past end"},
    {"string array count past end", c_arr_strs_count, -EBADMSG, "array of 1000 STRING"},
    {"string element > 16 MiB", c_arr_str_cap, -E2BIG, "array element 0: string length 16777217 exceeds"},
    {"bool array element 5", c_arr_bool, -EBADMSG, "array element 2: bool value 5 is not 0 or 1"},
    {"array type truncated", c_arr_cut_type, -EBADMSG, "array element type: need 4 bytes, 1 left"},
    {"alignment STRING", c_align_str, -EBADMSG, "general.alignment has type STRING, expected UINT32"},
    {"alignment UINT64", c_align_u64, -EBADMSG, "general.alignment has type UINT64"},
    {"alignment 0", c_align_0, -EBADMSG, "alignment 0 is not a power of two"},
    {"alignment 48", c_align_48, -EBADMSG, "alignment 48 is not a power of two"},
    {"alignment 4", c_align_4, -ENOTSUP, "alignment 4 outside the supported range [8, 65536]"},
    {"alignment 1", c_align_1, -ENOTSUP, "alignment 1 outside"},
    {"alignment 2^17", c_align_2p17, -ENOTSUP, "alignment 131072 outside"},
    {"alignment 2^31", c_align_2p31, -ENOTSUP, "alignment 2147483648 outside"},
    {"tensor name 64 bytes", c_name_64, -EBADMSG, "tensor 0: tensor name length 64 exceeds the limit 63"},
    {"empty tensor name", c_name_empty, -EBADMSG, "empty tensor name"},
    {"tensor name bad UTF-8", c_name_utf8, -EBADMSG, "tensor name is not valid UTF-8 (byte 0xfe"},
    {"duplicate tensor name", c_name_dup, -EBADMSG, "tensor 1 'w': duplicate tensor name (first is tensor 0)"},
    {"tensor name past end", c_name_past, -EBADMSG, "tensor name length 60 past end"},
    {"n_dims 0", c_ndims_0, -EBADMSG, "n_dims 0 out of range 1..4"},
    {"n_dims 5", c_ndims_5, -EBADMSG, "n_dims 5 out of range"},
    {"negative dim", c_dim_neg, -EBADMSG, "dim 1 is negative (-1)"},
    {"zero dim", c_dim_zero, -EBADMSG, "dim 0 is zero"},
    {"dim product overflow", c_dim_overflow, -EOVERFLOW, "byte size of shape [1099511627776, 1099511627776, 1, 1] F32 overflows"},
    {"quantized size overflow", c_dim_overflow_q, -EOVERFLOW, "Q8_0 overflows"},
    {"dims truncated", c_dim_cut, -EBADMSG, "dim: need 8 bytes, 5 left"},
    {"ne0 not multiple of Q4_0 block", c_ne0_block, -EBADMSG, "ne[0] = 33 is not a multiple of the Q4_0 block size 32"},
    {"ne0 not multiple of Q4_K block", c_ne0_block_k, -EBADMSG, "Q4_K block size 256"},
    {"retired type 4", c_type_4, -EBADMSG, "unknown tensor type 4"},
    {"type 1000", c_type_1000, -EBADMSG, "unknown tensor type 1000"},
    {"IQ2_XXS", c_type_iq2, -ENOTSUP, "type IQ2_XXS is not supported"},
    {"Q2_K", c_type_q2k, -ENOTSUP, "type Q2_K is not supported"},
    {"I32", c_type_i32, -ENOTSUP, "type I32 is not supported"},
    {"tensor type truncated", c_type_cut, -EBADMSG, "tensor type: need 4 bytes, 3 left"},
    {"offset unaligned", c_off_unaligned, -EBADMSG, "tensor 0 'w': offset 4 not aligned to 32"},
    {"first offset not 0", c_off_first_gap, -EBADMSG, "gap: offset 32, expected 0"},
    {"gap", c_off_gap, -EBADMSG, "tensor 1 'b': gap: offset 64, expected 32"},
    {"overlap", c_off_overlap, -EBADMSG, "data at offset 32 overlaps the previous tensor, which ends at 64"},
    {"same offset", c_off_same, -EBADMSG, "overlaps the previous tensor"},
    {"out of order", c_off_order, -EBADMSG, "tensor 2 'c': offset 0 is before tensor 1's offset 32 (out of order)"},
    {"offset near 2^64", c_off_huge, -EBADMSG, "gap: offset 18446744073709551584"},
    {"offset truncated", c_off_cut, -EBADMSG, "offset: need 8 bytes, 4 left"},
    {"data past EOF", c_past_eof, -EBADMSG,
     "gguf: tensor 0 'blk.0.attn_k.weight': data [96, 160) past end of file (159 bytes) (at byte 24)"},
    {"second tensor past EOF", c_past_eof_2nd, -EBADMSG, "tensor 1 'b': data ["},
    {"no data section", c_past_eof_nodata, -EBADMSG, "past end of file"},
    {"huge tensor past EOF", c_past_eof_huge, -EBADMSG, "data [96, 1152921504606847072) past end of file"},
    {"v2 file", c_ok_v2, 0, NULL},
    {"v3 file", c_ok_v3, 0, NULL},
    {"header only", c_ok_header_only, 0, NULL},
    {"trailing bytes", c_ok_trailing, 0, NULL},
    {"alignment 64", c_ok_align64, 0, NULL},
    {"Q4_K and Q8_0", c_ok_q4k, 0, NULL},
};

static void run_cases(void)
{
    int n_bad = 0;

    for (size_t i = 0; i < sizeof(g_cases) / sizeof(g_cases[0]); i++) {
        const Case *c = &g_cases[i];
        Bld b = {0};
        GgufFile *f = NULL;
        char err[512] = "";
        void *copy;
        int r;

        c->build(&b);
        copy = malloc(b.n ? b.n : 1); /* exact size: ASan catches any read past the end */
        if (b.n)
            memcpy(copy, b.p, b.n);
        r = gguf_open_memory(copy, b.n, &f, err, sizeof(err));
        if (c->code)
            n_bad++;
        if (r != c->code || (c->msg && !strstr(err, c->msg)) ||
            (c->code && (strncmp(err, "gguf: ", 6) || !strstr(err, "(at byte ") || strchr(err, '\n'))))
            fprintf(stderr, "case '%s': got %d \"%s\", expected %d \"%s\"\n", c->name, r, err, c->code,
                    c->msg ? c->msg : "");
        CHECK_INT(r, c->code);
        if (c->msg)
            CHECK(strstr(err, c->msg) != NULL);
        if (c->code) {
            CHECK(!strncmp(err, "gguf: ", 6));
            CHECK(strstr(err, "(at byte ") != NULL);
            CHECK(f == NULL);
        }
        gguf_close(f);
        free(copy);
        free(b.p);
    }
    CHECK(n_bad >= 60);
    fprintf(stderr, "%d malformed cases\n", n_bad);
}

/* ---- round trip through the C writer ---- */

static void check_round_trip(void)
{
    static const char *const toks[] = {"<s>", "</s>", "h\xc3\xa9llo", "", "tok\n"};
    float wa[2 * 8], wc[32];
    uint16_t wb[4 * 3];
    int32_t ai[3] = {7, -8, 9};
    uint8_t bb[3] = {1, 0, 1};
    const int64_t ne_a[2] = {8, 2}, ne_b[2] = {4, 3}, ne_c[1] = {32};
    GgufWriter *w = NULL;
    GgufFile *f = NULL;
    void *buf = NULL;
    size_t size = 0, len;
    char err[256] = "", path[256], fmt[256];
    const char *s;
    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    float fl;
    int bl;
    GgufType et;
    uint64_t n;
    const void *p;
    const GgufTensorInfo *t;
    Tensor view;

    for (int i = 0; i < 16; i++) wa[i] = (float)i * 0.5f - 2.0f;
    for (int i = 0; i < 12; i++) wb[i] = f32_to_fp16((float)i - 6.0f);
    for (int i = 0; i < 32; i++) wc[i] = (float)i;

    CHECK_INT(gguf_writer_new(&w), 0);
    CHECK_INT(gguf_writer_set_alignment(w, 64), 0);
    CHECK_INT(gguf_writer_set_alignment(w, 64), -EEXIST);
    CHECK_INT(gguf_writer_add_str(w, "general.architecture", "llama"), 0);
    CHECK_INT(gguf_writer_add_u32(w, "llama.block_count", 2), 0);
    CHECK_INT(gguf_writer_add_u32(w, "llama.block_count", 3), -EEXIST);
    CHECK_INT(gguf_writer_add_i32(w, "test.i32", -42), 0);
    CHECK_INT(gguf_writer_add_u64(w, "test.u64", UINT64_C(1) << 50), 0);
    CHECK_INT(gguf_writer_add_f32(w, "test.f32", 1e-5f), 0);
    CHECK_INT(gguf_writer_add_bool(w, "test.bool", 1), 0);
    CHECK_INT(gguf_writer_add_arr(w, "test.arr_i32", GGUF_TYPE_INT32, 3, ai), 0);
    CHECK_INT(gguf_writer_add_arr(w, "test.arr_bool", GGUF_TYPE_BOOL, 3, bb), 0);
    CHECK_INT(gguf_writer_add_arr(w, "test.bad", GGUF_TYPE_STRING, 1, ai), -EINVAL);
    CHECK_INT(gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", 5, toks), 0);
    CHECK_INT(gguf_writer_add_str(w, "", "x"), -EINVAL);
    CHECK_INT(gguf_writer_add_u32(w, "general.alignment", 48), -EINVAL);
    CHECK_INT(gguf_writer_add_tensor(w, "a", DTYPE_F32, 2, ne_a, wa), 0);
    CHECK_INT(gguf_writer_add_tensor(w, "b", DTYPE_F16, 2, ne_b, wb), 0);
    CHECK_INT(gguf_writer_add_tensor(w, "c", DTYPE_F32, 1, ne_c, wc), 0);
    CHECK_INT(gguf_writer_add_tensor(w, "a", DTYPE_F32, 1, ne_c, wc), -EEXIST);
    CHECK_INT(gguf_writer_add_tensor(w, "q", DTYPE_Q8_0, 1, ne_b, wc), -EINVAL); /* 4 % 32 */
    CHECK_INT(gguf_writer_add_tensor(w, "0123456789012345678901234567890123456789012345678901234567890123",
                                     DTYPE_F32, 1, ne_c, wc), -EINVAL);
    CHECK_INT(gguf_writer_write_memory(w, &buf, &size), 0);

    CHECK_INT(gguf_open_memory(buf, size, &f, err, sizeof(err)), 0);
    if (!f) {
        fprintf(stderr, "round trip: %s\n", err);
        goto done;
    }
    CHECK_INT(gguf_version(f), 3);
    CHECK_INT(gguf_alignment(f), 64);
    CHECK_INT(gguf_data_offset(f) % 64, 0);
    CHECK_INT(gguf_file_size(f), size);
    CHECK_INT(gguf_n_kv(f), 10);
    CHECK_INT(gguf_n_tensors(f), 3);
    CHECK_INT(gguf_find_key(f, "general.alignment"), 0);
    CHECK_INT(gguf_find_key(f, "nope"), -1);
    CHECK(!strcmp(gguf_key(f, 1), "general.architecture"));
    CHECK(gguf_key(f, 10) == NULL);
    CHECK_INT(gguf_kv_type(f, 1), GGUF_TYPE_STRING);

    CHECK_INT(gguf_get_u32(f, "llama.block_count", &u32), 0);
    CHECK_INT(u32, 2);
    CHECK_INT(gguf_get_u32(f, "general.architecture", &u32), -EINVAL); /* u32 asked of a string */
    CHECK_INT(gguf_get_u32(f, "test.u64", &u32), -EINVAL);
    CHECK_INT(gguf_get_u32(f, "missing.key", &u32), -ENOENT);
    CHECK_INT(gguf_get_i32(f, "test.i32", &i32), 0);
    CHECK_INT(i32, -42);
    CHECK_INT(gguf_get_i32(f, "llama.block_count", &i32), -EINVAL);
    CHECK_INT(gguf_get_u64(f, "test.u64", &u64), 0);
    CHECK(u64 == UINT64_C(1) << 50);
    CHECK_INT(gguf_get_u64(f, "llama.block_count", &u64), -EINVAL);
    CHECK_INT(gguf_get_uint(f, "llama.block_count", &u64), 0);
    CHECK_INT(u64, 2);
    CHECK_INT(gguf_get_uint(f, "test.u64", &u64), 0);
    CHECK_INT(gguf_get_uint(f, "test.i32", &u64), -EINVAL); /* negative */
    CHECK_INT(gguf_get_uint(f, "test.f32", &u64), -EINVAL);
    CHECK_INT(gguf_get_uint(f, "missing", &u64), -ENOENT);
    CHECK_INT(gguf_get_f32(f, "test.f32", &fl), 0);
    CHECK(fl == 1e-5f);
    CHECK_INT(gguf_get_f32(f, "test.i32", &fl), -EINVAL);
    CHECK_INT(gguf_get_bool(f, "test.bool", &bl), 0);
    CHECK_INT(bl, 1);
    CHECK_INT(gguf_get_bool(f, "llama.block_count", &bl), -EINVAL);
    CHECK_INT(gguf_get_str(f, "general.architecture", &s, &len), 0);
    CHECK(!strcmp(s, "llama"));
    CHECK_INT(len, 5);
    CHECK_INT(gguf_get_str(f, "llama.block_count", &s, &len), -EINVAL);
    CHECK_INT(gguf_get_str(f, "tokenizer.ggml.tokens", &s, &len), -EINVAL);
    CHECK_INT(gguf_get_arr(f, "test.arr_i32", &et, &n, &p), 0);
    CHECK_INT(et, GGUF_TYPE_INT32);
    CHECK_INT(n, 3);
    { int32_t v[3]; memcpy(v, p, sizeof(v)); CHECK_INT(v[0], 7); CHECK_INT(v[1], -8); CHECK_INT(v[2], 9); }
    CHECK_INT(gguf_get_arr(f, "test.arr_bool", &et, &n, &p), 0);
    CHECK_INT(et, GGUF_TYPE_BOOL);
    CHECK_INT(((const uint8_t *)p)[2], 1);
    CHECK_INT(gguf_get_arr(f, "test.i32", &et, &n, &p), -EINVAL);
    CHECK_INT(gguf_get_arr_str(f, "test.arr_i32", 0, &s, &len), -EINVAL);
    CHECK_INT(gguf_get_arr_str(f, "tokenizer.ggml.tokens", 5, &s, &len), -ERANGE);
    CHECK_INT(gguf_get_arr_str(f, "nope", 0, &s, &len), -ENOENT);
    for (uint64_t i = 0; i < 5; i++) {
        CHECK_INT(gguf_get_arr_str(f, "tokenizer.ggml.tokens", i, &s, &len), 0);
        CHECK(!strcmp(s, toks[i]));
        CHECK_INT(len, strlen(toks[i]));
    }
    CHECK_INT(gguf_format_value(f, gguf_find_key(f, "tokenizer.ggml.tokens"), fmt, sizeof(fmt)), 0);
    CHECK(!strcmp(fmt, "[STRING x 5] \"<s>\", \"</s>\", \"h\xc3\xa9llo\", \"\", \"tok\\n\""));
    CHECK_INT(gguf_format_value(f, gguf_find_key(f, "test.arr_i32"), fmt, sizeof(fmt)), 0);
    CHECK(!strcmp(fmt, "[INT32 x 3] 7, -8, 9"));
    CHECK_INT(gguf_format_value(f, gguf_find_key(f, "test.f32"), fmt, sizeof(fmt)), 0);
    CHECK(!strcmp(fmt, "9.99999975e-06"));
    CHECK_INT(gguf_format_value(f, gguf_find_key(f, "general.architecture"), fmt, 4), 0);
    CHECK(!strcmp(fmt, "..."));
    CHECK_INT(gguf_format_value(f, 99, fmt, sizeof(fmt)), -EINVAL);

    t = gguf_find_tensor(f, "b");
    CHECK(t != NULL && t == gguf_tensor(f, 1));
    CHECK(gguf_find_tensor(f, "zz") == NULL);
    CHECK(gguf_tensor(f, 3) == NULL && gguf_tensor(f, -1) == NULL);
    if (t) {
        CHECK_INT(t->dtype, DTYPE_F16);
        CHECK_INT(t->n_dims, 2);
        CHECK_INT(t->ne[0], 4);
        CHECK_INT(t->ne[1], 3);
        CHECK_INT(t->ne[2], 1);
        CHECK_INT(t->nbytes, 24);
        CHECK_INT(t->offset, 64);
        CHECK(t->data == (const uint8_t *)buf + gguf_data_offset(f) + 64);
        CHECK(!memcmp(t->data, wb, sizeof(wb)));
        CHECK_INT(gguf_tensor_view(t, &view), 0);
        CHECK_INT(view.nb[1], 8);
        CHECK(view.data == t->data);
        CHECK(!strcmp(view.name, "b"));
    }
    t = gguf_tensor(f, 2);
    CHECK(t && t->offset == 128 && !memcmp(t->data, wc, sizeof(wc)));
    t = gguf_tensor(f, 0);
    CHECK(t && t->offset == 0 && !memcmp(t->data, wa, sizeof(wa)));
    gguf_close(f);
    f = NULL;

    /* The same through a real file and gguf_writer_write. */
    snprintf(path, sizeof(path), "/tmp/test-gguf-%d.gguf", (int)getpid());
    CHECK_INT(gguf_writer_write(w, path), 0);
    CHECK_INT(gguf_open(path, &f, err, sizeof(err)), 0);
    if (f) {
        FILE *fp = fopen(path, "rb");
        void *disk = malloc(size);
        CHECK(fp && fread(disk, 1, size, fp) == size && fgetc(fp) == EOF);
        CHECK(!memcmp(disk, buf, size)); /* file and memory writers agree byte for byte */
        CHECK_INT(gguf_file_size(f), size);
        CHECK(gguf_find_tensor(f, "c") != NULL);
        if (fp)
            fclose(fp);
        free(disk);
        /* read into memory (GGUF_OPEN_RESIDENT): the same file, the same tensors, its own copy */
        GgufFile *r = NULL;
        const GgufTensorInfo *tc = gguf_find_tensor(f, "c"), *rc = NULL;
        CHECK_INT(gguf_open_flags(path, GGUF_OPEN_RESIDENT, &r, err, sizeof(err)), 0);
        if (r && tc) {
            CHECK_INT(gguf_file_size(r), size);
            CHECK_INT(gguf_n_tensors(r), gguf_n_tensors(f));
            rc = gguf_find_tensor(r, "c");
            CHECK(rc && rc->data != tc->data && rc->nbytes == tc->nbytes && !memcmp(rc->data, tc->data, tc->nbytes));
        }
        gguf_close(r);
        /* a truncated file fails the same way resident or mapped */
        FILE *tf = fopen(path, "r+b");
        CHECK(tf && ftruncate(fileno(tf), (off_t)(size - 8)) == 0);
        if (tf)
            fclose(tf);
        int e1 = gguf_open(path, &r, err, sizeof(err)), e2 = gguf_open_flags(path, GGUF_OPEN_RESIDENT, &r, err, sizeof(err));
        CHECK(e1 < 0 && e1 == e2);
    }
    unlink(path);
    CHECK_INT(gguf_open(path, &f, err, sizeof(err)), -ENOENT);
    CHECK(strstr(err, "cannot open") != NULL);
    CHECK_INT(gguf_open("/tmp", &f, err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "not a regular file") != NULL);
    CHECK_INT(mkfifo(path, 0600), 0); /* opening a FIFO must neither block nor map it */
    CHECK_INT(gguf_open(path, &f, err, sizeof(err)), -EINVAL);
    unlink(path);
done:
    gguf_close(f);
    gguf_close(NULL);
    gguf_writer_free(w);
    gguf_writer_free(NULL);
    free(buf);
}

/* ---- the gguf-py fixture ---- */

static void check_py_fixture(void)
{
    char path[1024], err[256] = "", name[32];
    GgufFile *f = NULL;
    const GgufTensorInfo *t;
    const char *s;
    size_t len;
    uint64_t u64, n;
    uint32_t u32;
    int32_t i32;
    float fl;
    int bl;
    GgufType et;
    const void *p;

    test_fixture_path(path, sizeof(path), "gguf", "py-writer.gguf");
    CHECK_INT(gguf_open(path, &f, err, sizeof(err)), 0);
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, err);
        return;
    }
    CHECK_INT(gguf_version(f), 3);
    CHECK_INT(gguf_alignment(f), 32);
    CHECK_INT(gguf_n_kv(f), 18);
    CHECK_INT(gguf_n_tensors(f), 3);
    CHECK_INT(gguf_data_offset(f), 14688); /* as reported by gguf.GGUFReader */
    CHECK_INT(gguf_get_str(f, "general.architecture", &s, &len), 0);
    CHECK(!strcmp(s, "llama"));
    CHECK_INT(gguf_get_str(f, "general.name", &s, &len), 0);
    CHECK(!strcmp(s, "myna-test"));
    CHECK_INT(gguf_get_uint(f, "test.u8", &u64), 0);
    CHECK_INT(u64, 200);
    CHECK_INT(gguf_get_uint(f, "test.i8", &u64), -EINVAL);
    CHECK_INT(gguf_get_uint(f, "test.u16", &u64), 0);
    CHECK_INT(u64, 65000);
    CHECK_INT(gguf_get_uint(f, "test.i16", &u64), -EINVAL);
    CHECK_INT(gguf_get_u32(f, "test.u32", &u32), 0);
    CHECK(u32 == 4000000000u);
    CHECK_INT(gguf_get_i32(f, "test.i32", &i32), 0);
    CHECK_INT(i32, -123456);
    CHECK_INT(gguf_get_f32(f, "test.f32", &fl), 0);
    CHECK(fl == 1.25f);
    CHECK_INT(gguf_get_bool(f, "test.bool", &bl), 0);
    CHECK_INT(bl, 1);
    CHECK_INT(gguf_get_u64(f, "test.u64", &u64), 0);
    CHECK(u64 == (UINT64_C(1) << 40) + 7);
    CHECK_INT(gguf_get_uint(f, "test.i64", &u64), -EINVAL);
    {
        char buf[64];
        CHECK_INT(gguf_format_value(f, gguf_find_key(f, "test.i64"), buf, sizeof(buf)), 0);
        CHECK(!strcmp(buf, "-1099511627776"));
        CHECK_INT(gguf_format_value(f, gguf_find_key(f, "test.f64"), buf, sizeof(buf)), 0);
        CHECK(!strcmp(buf, "3.25"));
        CHECK_INT(gguf_format_value(f, gguf_find_key(f, "test.i8"), buf, sizeof(buf)), 0);
        CHECK(!strcmp(buf, "-5"));
        CHECK_INT(gguf_format_value(f, gguf_find_key(f, "test.i16"), buf, sizeof(buf)), 0);
        CHECK(!strcmp(buf, "-1234"));
        CHECK_INT(gguf_format_value(f, gguf_find_key(f, "test.arr_f32"), buf, sizeof(buf)), 0);
        CHECK(!strcmp(buf, "[FLOAT32 x 2] 0.5, 1.5"));
        CHECK_INT(gguf_format_value(f, gguf_find_key(f, "test.arr_bool"), buf, sizeof(buf)), 0);
        CHECK(!strcmp(buf, "[BOOL x 3] true, false, true"));
    }
    CHECK_INT(gguf_get_arr(f, "test.arr_i32", &et, &n, &p), 0);
    CHECK_INT(et, GGUF_TYPE_INT32);
    CHECK_INT(n, 3);
    CHECK_INT(gguf_get_arr_str(f, "test.arr_str", 1, &s, &len), 0);
    CHECK(!strcmp(s, "h\xc3\xa9llo") && len == 6);
    CHECK_INT(gguf_get_arr_str(f, "test.arr_str", 2, &s, &len), 0);
    CHECK(!strcmp(s, "") && len == 0);
    CHECK_INT(gguf_get_arr(f, "tokenizer.ggml.tokens", &et, &n, &p), 0);
    CHECK_INT(n, 1000);
    for (uint64_t i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "tok%llu", (unsigned long long)i);
        if (gguf_get_arr_str(f, "tokenizer.ggml.tokens", i, &s, &len) != 0 || strcmp(s, name)) {
            CHECK(!"token mismatch");
            break;
        }
    }
    t = gguf_find_tensor(f, "a.weight");
    CHECK(t && t->dtype == DTYPE_F32 && t->ne[0] == 8 && t->ne[1] == 3 && t->nbytes == 96 && t->offset == 0);
    if (t)
        for (int i = 0; i < 24; i++) {
            float v;
            memcpy(&v, (const char *)t->data + 4 * i, 4);
            CHECK_NEAR(v, i * 0.25 - 3.0, 0);
        }
    t = gguf_find_tensor(f, "b.weight");
    CHECK(t && t->dtype == DTYPE_F16 && t->ne[0] == 16 && t->ne[1] == 2 && t->nbytes == 64 && t->offset == 96);
    if (t)
        for (int i = 0; i < 32; i++) {
            uint16_t h;
            memcpy(&h, (const char *)t->data + 2 * i, 2);
            CHECK_NEAR(fp16_to_f32(h), i * 0.5 - 8.0, 0);
        }
    t = gguf_find_tensor(f, "c.weight");
    CHECK(t && t->dtype == DTYPE_Q8_0 && t->ne[0] == 64 && t->ne[1] == 2 && t->nbytes == 136 && t->offset == 160);
    gguf_close(f);
}

int main(void)
{
    run_cases();
    check_round_trip();
    check_py_fixture();
    return test_exit();
}
