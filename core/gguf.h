/* gguf.h — GGUF v2/v3 reader (mmap, validated before use) and writer (SPEC.md §1.1–1.3).
 *
 * gguf_open() maps the file read-only and validates every structural rule of RELIABILITY.md before
 * returning: reads bounded by the bytes left, caps on counts and string lengths, overflow-checked sizes,
 * no duplicate keys or tensor names, <= 4 dims, known tensor types, aligned offsets inside the data
 * section, packed in order with no overlap. On failure err receives one line naming the field and the byte
 * offset ("tensor 'blk.0.attn_q.weight': offset 123 not aligned to 32 (at byte 4242)"); the reader itself
 * does not log. After a successful open no accessor can read outside the mapping.
 */
#ifndef MYNA_GGUF_H
#define MYNA_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "tensor.h"

typedef enum {
    GGUF_TYPE_UINT8 = 0, GGUF_TYPE_INT8 = 1, GGUF_TYPE_UINT16 = 2, GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4, GGUF_TYPE_INT32 = 5, GGUF_TYPE_FLOAT32 = 6, GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8, GGUF_TYPE_ARRAY = 9, GGUF_TYPE_UINT64 = 10, GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12, GGUF_TYPE_COUNT
} GgufType;

typedef struct GgufFile GgufFile;

typedef struct {
    const char *name;             /* NUL-terminated copy, owned by the GgufFile */
    DType dtype;
    int n_dims;
    int64_t ne[TENSOR_MAX_DIMS];  /* ne[0] innermost; unused dims 1 */
    uint64_t offset;              /* relative to the data section */
    size_t nbytes;
    const void *data;             /* inside the mapping */
} GgufTensorInfo;

int gguf_open(const char *path, GgufFile **ret, char *err, size_t err_len);
/* GGUF_OPEN_RESIDENT: read the whole file into anonymous memory on 2 MiB pages instead of mapping it
 * (for weights the CPU streams every token; costs a full read at open; falls back to the mapping when
 * the memory cannot be had). */
enum { GGUF_OPEN_RESIDENT = 1 };
int gguf_open_flags(const char *path, int flags, GgufFile **ret, char *err, size_t err_len);
/* Parse a buffer the caller keeps alive (tests, fuzzing). */
int gguf_open_memory(const void *data, size_t size, GgufFile **ret, char *err, size_t err_len);
void gguf_close(GgufFile *f); /* accepts NULL */

uint32_t gguf_version(const GgufFile *f);
uint32_t gguf_alignment(const GgufFile *f);
uint64_t gguf_data_offset(const GgufFile *f); /* file offset of the tensor-data section */
size_t gguf_file_size(const GgufFile *f);

/* Metadata, by index or key. Typed getters return -ENOENT when absent and -EINVAL when the stored type
 * differs (a u32 asked of a string is an error, not a cast). gguf_get_uint accepts any unsigned or
 * non-negative signed integer type that fits in 64 bits (converters disagree on u32 vs u64 counts). */
int64_t gguf_n_kv(const GgufFile *f);
int64_t gguf_find_key(const GgufFile *f, const char *key); /* -1 when absent */
const char *gguf_key(const GgufFile *f, int64_t i);
GgufType gguf_kv_type(const GgufFile *f, int64_t i);
int gguf_get_u32(const GgufFile *f, const char *key, uint32_t *ret);
int gguf_get_i32(const GgufFile *f, const char *key, int32_t *ret);
int gguf_get_u64(const GgufFile *f, const char *key, uint64_t *ret);
int gguf_get_uint(const GgufFile *f, const char *key, uint64_t *ret);
int gguf_get_f32(const GgufFile *f, const char *key, float *ret);
int gguf_get_bool(const GgufFile *f, const char *key, int *ret);
/* String values are NUL-terminated copies owned by the file; *ret_len excludes the NUL (may be NULL). */
int gguf_get_str(const GgufFile *f, const char *key, const char **ret, size_t *ret_len);
/* Arrays: element type and count; numeric elements are contiguous little-endian at *ret_data. */
int gguf_get_arr(const GgufFile *f, const char *key, GgufType *ret_type, uint64_t *ret_n, const void **ret_data);
/* i-th string of a string array (NUL-terminated copy owned by the file). */
int gguf_get_arr_str(const GgufFile *f, const char *key, uint64_t i, const char **ret, size_t *ret_len);
/* Render any value as text for myna-inspect (arrays: type, count and first few elements). */
int gguf_format_value(const GgufFile *f, int64_t i, char *buf, size_t len);
const char *gguf_type_name(GgufType t);

int64_t gguf_n_tensors(const GgufFile *f);
const GgufTensorInfo *gguf_tensor(const GgufFile *f, int64_t i);
const GgufTensorInfo *gguf_find_tensor(const GgufFile *f, const char *name); /* NULL when absent */
/* Fill a Tensor view (host memory, borrowed from the mapping). */
int gguf_tensor_view(const GgufTensorInfo *ti, Tensor *ret);

/* Writer for tools and tests. Values are copied; tensors' data is borrowed until gguf_writer_write. */
typedef struct GgufWriter GgufWriter;
int gguf_writer_new(GgufWriter **ret);
void gguf_writer_free(GgufWriter *w); /* accepts NULL */
int gguf_writer_set_alignment(GgufWriter *w, uint32_t alignment); /* also writes general.alignment */
int gguf_writer_add_u32(GgufWriter *w, const char *key, uint32_t v);
int gguf_writer_add_i32(GgufWriter *w, const char *key, int32_t v);
int gguf_writer_add_u64(GgufWriter *w, const char *key, uint64_t v);
int gguf_writer_add_f32(GgufWriter *w, const char *key, float v);
int gguf_writer_add_bool(GgufWriter *w, const char *key, int v);
int gguf_writer_add_str(GgufWriter *w, const char *key, const char *v);
int gguf_writer_add_arr(GgufWriter *w, const char *key, GgufType elem, uint64_t n, const void *data);
int gguf_writer_add_arr_str(GgufWriter *w, const char *key, uint64_t n, const char *const *v);
int gguf_writer_add_tensor(GgufWriter *w, const char *name, DType dt, int n_dims, const int64_t *ne,
                           const void *data);
int gguf_writer_write(GgufWriter *w, const char *path);
/* Serialise to a malloc'd buffer (*ret owned by the caller). */
int gguf_writer_write_memory(GgufWriter *w, void **ret, size_t *ret_size);

#endif
