/* weights.h — the helpers both adapters (mllama.c, speech-adapter.c) use to place HF weights in a
 * MllamaStore and to manage their own backend scratch tensors. Not here: which tensors a model has
 * (each adapter's loader), the store itself (vision/vit.h).
 */
#ifndef MYNA_ADAPTERS_WEIGHTS_H
#define MYNA_ADAPTERS_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "safetensors.h" /* HfModel */
#include "vit.h"

/* Bind tensor `name` checked against [ne0, ne1] (ggml order); ne1 == 0: a 1-D vector, converted to F32. */
int adapter_bind(MllamaStore *s, const HfModel *hf, const char *name, int64_t ne0, int64_t ne1, Tensor *ret,
                 char *err, size_t err_len);
/* A one-element gate tensor, read to the host: *ret = tanh(gate). */
int adapter_gate(MllamaStore *s, const HfModel *hf, const char *name, float *ret, char *err, size_t err_len);
/* An F32 backend tensor [ne0, ne1, ne2] (n_dims dims) owned by the caller; free with adapter_tensor_free. */
int adapter_tensor_alloc(Backend *be, Tensor *t, int n_dims, int64_t ne0, int64_t ne1, int64_t ne2);
/* Frees t's backend memory if it has any and clears t->data (safe to call twice). */
void adapter_tensor_free(Backend *be, Tensor *t);

#endif
