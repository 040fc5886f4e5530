/* hf-model.h — Hugging Face model folders (SPEC.md §2): config.json and safetensors shards.
 *
 * hf_model_open() reads a folder: config.json (kept as a Jansson object), then either
 * model.safetensors.index.json (weight_map → shards, every shard validated, every mapped name present) or
 * a single model.safetensors. Tensor lookup spans all shards. Not here: one safetensors file (safetensors.h).
 */
#ifndef MYNA_HF_MODEL_H
#define MYNA_HF_MODEL_H

#include <stdint.h>

#include "safetensors.h"

typedef struct json_t json_t; /* Jansson */

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
