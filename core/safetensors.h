/* safetensors.h — safetensors reader (mmap, validated) and Hugging Face model folders (SPEC.md §2).
 *
 * st_open() checks: 8-byte header length <= 100 MB and inside the file, UTF-8 JSON object (Jansson,
 * duplicate keys rejected), every entry has a known dtype, a shape of non-negative ints (<= 8 dims) whose
 * byte size matches data_offsets without overflow, offsets sorted with no gap or overlap, and the data
 * ending exactly at end of file. On failure err gets one line naming the tensor/field and what is wrong.
 *
 * hf_model_open() reads a folder: config.json (kept as a Jansson object), then either
 * model.safetensors.index.json (weight_map → shards, every shard validated, every mapped name present) or
 * a single model.safetensors. Tensor lookup spans all shards.
 */
#ifndef MYNA_SAFETENSORS_H
#define MYNA_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "tensor.h"

typedef struct json_t json_t; /* Jansson */

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

typedef struct HfModel HfModel;

int hf_model_open(const char *dir, HfModel **ret, char *err, size_t err_len);
void hf_model_free(HfModel *m); /* accepts NULL */
const json_t *hf_model_config(const HfModel *m);                /* config.json root object, borrowed */
const StTensor *hf_model_find(const HfModel *m, const char *name);
int64_t hf_model_n_tensors(const HfModel *m);
const StTensor *hf_model_tensor(const HfModel *m, int64_t i);
const char *hf_model_dir(const HfModel *m);

/* Typed config.json getters (dotted paths like "text_config.hidden_size"); -ENOENT absent, -EINVAL wrong
 * type or out of range. */
int hf_config_int(const json_t *cfg, const char *path, int64_t *ret);
int hf_config_float(const json_t *cfg, const char *path, double *ret);
int hf_config_str(const json_t *cfg, const char *path, const char **ret);
int hf_config_bool(const json_t *cfg, const char *path, int *ret);

#endif
