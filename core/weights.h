/* weights.h — the one weight store every model loader uses: named tensors from any source, bound by name
 * with a shape and dtype check, placed where the backend computes, freed together.
 *
 * Sources: a GGUF file, an HF folder (safetensors shards), a lookup function of the caller's (e.g. a format
 * that renames tensors, like whisper.cpp's .bin), or single tensors added from a host pointer + dtype +
 * shape (e.g. an ONNX initializer table). Names are looked up in the tensors added one by one first, then
 * in the sources in the order they were added. Sources and added data are borrowed: they must outlive the
 * store (model files are mapped for the model's lifetime).
 *
 * Placement: on a host backend (backend_is_host) a bound tensor is the file's own bytes (no copy); on a
 * device backend the store allocates it once on the device, uploads it, and frees it in weights_free.
 * Conversions (WEIGHTS_F32) make a host F32 copy owned by the store, then place that.
 * Not here: which tensors a model has (each loader), tensor math (backend.h).
 *
 * Errors: negative errno — -EBADMSG a required tensor is missing or has the wrong shape, -ENOTSUP a dtype
 * the caller or Myna cannot use, -ENOMEM, or the backend's code when allocation/upload fails. Each failure
 * leaves one line naming the tensor in weights_error() ("tensor blk.3.attn_q.weight: shape 576×192,
 * expected 576×576"); the loader passes it on to its caller's err buffer.
 *
 *   WeightStore *ws;
 *   weights_new(be, &ws);
 *   weights_add_gguf(ws, gf);
 *   weights_bind2(ws, "blk.0.attn_q.weight", C, C, 0, &w->wq);           // [C, C], any dtype
 *   weights_bind1(ws, "blk.0.attn_norm.weight", C, WEIGHTS_F32, &w->norm); // [C] as F32
 *   ...
 *   weights_free(ws);                                                       // with the model
 */
#ifndef MYNA_WEIGHTS_H
#define MYNA_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "tensor.h"

typedef struct WeightStore WeightStore;
typedef struct GgufFile GgufFile; /* gguf.h */
typedef struct HfModel HfModel;   /* hf-model.h */

/* A caller's name lookup: fill *ret with a contiguous host view of tensor `name` (ret->name set to a
 * string that outlives the store, e.g. the file's own) and return 0; -ENOENT when absent (no message);
 * another negative errno with a message in err for a tensor that exists but cannot be read. */
typedef int (*WeightFindFn)(void *src, const char *name, Tensor *ret, char *err, size_t err_len);

int weights_new(Backend *be /* borrowed */, WeightStore **ret);
void weights_free(WeightStore *s); /* frees device copies and owned host buffers; accepts NULL */

/* ---- sources (all borrowed) ---------------------------------------------------------------------------- */
int weights_add_gguf(WeightStore *s, const GgufFile *gf);
int weights_add_hf(WeightStore *s, const HfModel *hf);
int weights_add_source(WeightStore *s, WeightFindFn find, void *src);
/* One tensor from host memory: data (borrowed, or owned after weights_keep) of dtype dt and shape ne
 * (ggml order, innermost first, n_dims <= TENSOR_MAX_DIMS). The name is copied. -EEXIST if already added. */
int weights_add_tensor(WeightStore *s, const char *name, DType dt, int n_dims, const int64_t *ne,
                       const void *data);

/* ---- binding --------------------------------------------------------------------------------------------- */
enum {
    WEIGHTS_F32 = 1u << 0,      /* convert to F32 (F16, BF16 and the quantized types) */
    WEIGHTS_OPTIONAL = 1u << 1, /* absent → -ENOENT without a message (default: -EBADMSG "missing") */
    WEIGHTS_RESHAPE = 1u << 2,  /* accept another shape with the same element count ([C, 1, 1] as [C]) */
    WEIGHTS_FLOAT = 1u << 3,    /* the file's dtype must be F32, F16 or BF16 (no quantized types) */
    WEIGHTS_NO_PLACE = 1u << 4, /* check (and convert) only: *ret is a host view the caller transforms and
                                   then passes to weights_place */
};

/* Bind `name` checked against ne[0..n_dims) (ggml order) with flags WEIGHTS_*. *ret (written only on
 * success): a backend tensor named after the file's tensor, ready for backend ops. */
int weights_bind(WeightStore *s, const char *name, int n_dims, const int64_t *ne, unsigned flags, Tensor *ret);
int weights_bind1(WeightStore *s, const char *name, int64_t ne0, unsigned flags, Tensor *ret);
int weights_bind2(WeightStore *s, const char *name, int64_t ne0, int64_t ne1, unsigned flags, Tensor *ret);
int weights_bind3(WeightStore *s, const char *name, int64_t ne0, int64_t ne1, int64_t ne2, unsigned flags,
                  Tensor *ret);
/* Host F32 copy of the whole tensor `name` (owned by the store; n = expected element count, or -1 for
 * any), for values the host reads: gates, embeddings summed on the host, tables. */
int weights_host_f32(WeightStore *s, const char *name, int64_t n, float **ret);

/* ---- for loaders that transform a tensor before placing it (permute, repack, concatenate) -------------- */
/* The host view of `name` as the source has it (no copy, no check); -ENOENT without a message if absent. */
int weights_find(WeightStore *s, const char *name, Tensor *ret);
/* Take ownership of a malloc'd host buffer (freed with the store; freed at once when this fails). */
int weights_keep(WeightStore *s, void *p);
/* malloc(n) owned by the store; NULL on failure. */
void *weights_host_alloc(WeightStore *s, size_t n);
/* Make host tensor *t usable by the backend: in place on a host backend (t->data must then live as long
 * as the store: a source's bytes or a buffer from weights_host_alloc), else an upload owned by the store
 * replaces *t. Counts toward weights_bytes. */
int weights_place(WeightStore *s, Tensor *t);
/* A backend tensor owned by the store (uninitialised), e.g. scratch that lives as long as the model. */
int weights_alloc(WeightStore *s, Tensor *t, DType dt, int n_dims, int64_t ne0, int64_t ne1, int64_t ne2);

/* ---- state ----------------------------------------------------------------------------------------------- */
size_t weights_bytes(const WeightStore *s);       /* bytes of placed weights (the model's size) */
Backend *weights_backend(const WeightStore *s);
const char *weights_error(const WeightStore *s);  /* the last failure's message, "" if none */
/* Also copy each failure's message into err (borrowed while set: a loader sets its caller's buffer while it
 * binds and clears it with weights_set_err(s, NULL, 0) before returning). */
void weights_set_err(WeightStore *s, char *err, size_t err_len);

#endif
