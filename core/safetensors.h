/* safetensors.h — safetensors reader (mmap, validated) (SPEC.md §2). HF model folders: hf-model.h.
 *
 * st_open() checks: 8-byte header length <= 100 MB and inside the file, UTF-8 JSON object (Jansson,
 * duplicate keys rejected), every entry has a known dtype, a shape of non-negative ints (<= 8 dims) whose
 * byte size matches data_offsets without overflow, offsets sorted with no gap or overlap, and the data
 * ending exactly at end of file. On failure err gets one line naming the tensor/field and what is wrong.
 */
#ifndef MYNA_SAFETENSORS_H
#define MYNA_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "tensor.h"

enum { ST_MAX_DIMS = 8 };

typedef struct {
    const char *name;        /* owned by the file */
    const char *dtype_str;   /* "BF16", "F32", … as in the header */
    int dtype;               /* DType for F32/F16/BF16/F64/I8/I16/I32/I64, else -1 */
    int elem_size;           /* bytes per element, 0 for sub-byte types */
    int n_dims;
    int64_t shape[ST_MAX_DIMS]; /* PyTorch order: shape[n_dims-1] innermost */
    size_t nbytes;
    const void *data;        /* inside the mapping */
} StTensor;

typedef struct StFile StFile;

int st_open(const char *path, StFile **ret, char *err, size_t err_len);
int st_open_memory(const void *data, size_t size, StFile **ret, char *err, size_t err_len);
void st_close(StFile *f); /* accepts NULL */
int64_t st_n_tensors(const StFile *f);
const StTensor *st_tensor(const StFile *f, int64_t i);          /* sorted by data offset */
const StTensor *st_find(const StFile *f, const char *name);     /* NULL when absent */
/* __metadata__ value or NULL. */
const char *st_metadata(const StFile *f, const char *key);
/* Tensor view in ggml order (ne reversed from shape); -ENOTSUP for dtypes Myna does not compute with. */
int st_tensor_view(const StTensor *t, Tensor *ret);

#endif
