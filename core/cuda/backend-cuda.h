/* backend-cuda.h — private state of the CUDA backend, shared by backend-cuda.c (device, memory, host
 * argument staging) and backend-cuda-ops.c (the op table). Not a public interface: everything outside
 * core/cuda/ sees only backend_cuda_new() from backend.h.
 */
#ifndef MYNA_BACKEND_CUDA_H
#define MYNA_BACKEND_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "backend.h"

enum {
    CUDA_ARG_SLOTS = 16,            /* pinned host staging slots for op arguments (positions, ids) */
    CUDA_ARG_SLOT_BYTES = 64 << 10, /* per slot; larger arguments take a synchronous path */
};

typedef struct {
    int device;
    int n_sm;
    cudaStream_t stream;       /* owned; every op and copy is ordered on it */
    cublasHandle_t cublas;     /* owned; bound to stream */
    /* Device scratch, grow-only (allocated at init, grown on first larger use, never per token). */
    void *wq;                  /* owned: dequantized weight rows (F16/BF16) for the cuBLAS path */
    size_t wq_bytes;
    void *xh;                  /* owned: activations converted to F16/BF16 for the cuBLAS path */
    size_t xh_bytes;
    float *attn;               /* owned: flash-decoding partials */
    size_t attn_bytes;
    void *args;                /* owned: device copies of host op arguments */
    size_t args_bytes;
    /* Pinned host staging for op arguments: a ring of slots, each reusable once its event completed. */
    uint8_t *pin;              /* owned, CUDA_ARG_SLOTS * CUDA_ARG_SLOT_BYTES */
    cudaEvent_t pin_ev[CUDA_ARG_SLOTS];
    int pin_next;
    /* Pinned staging for large tensor_set uploads (two halves, double-buffered), may be NULL. */
    uint8_t *up;
    size_t up_bytes;
    cudaEvent_t up_ev[2];
    float *conv;               /* owned: conv unfold / transposed-conv columns (backend-cuda-conv.c) */
    size_t conv_bytes;
} CudaBackend;

/* Log one line "cuda: <what>: <cudaGetErrorString>" and return -EIO; returns 0 for cudaSuccess. */
int cuda_check(int err, const char *what);
int cublas_check(int status, const char *what);
#define CU(call) cuda_check((int)(call), #call)
#define CUBLAS(call) cublas_check((int)(call), #call)

/* Grow-only device scratch: make *buf at least `bytes` (stream-synchronises before freeing the old one). */
int cuda_scratch_reserve(CudaBackend *cb, void **buf, size_t *have, size_t bytes);
/* Copy n bytes of host op arguments to device scratch at byte offset `off` of cb->args (which must be
 * reserved to off + n), through pinned staging; returns the device pointer in *ret. */
int cuda_upload_args(CudaBackend *cb, size_t off, const void *src, size_t n, void **ret);

/* Memory and lifetime entries of the op table (backend-cuda.c). */
int cuda_tensor_alloc(Backend *be, Tensor *t);
void cuda_tensor_free(Backend *be, Tensor *t);
int cuda_tensor_set(Backend *be, Tensor *t, const void *src, size_t offset, size_t n);
int cuda_tensor_get(Backend *be, const Tensor *t, void *dst, size_t offset, size_t n);
int cuda_synchronize(Backend *be);
void cuda_destroy(Backend *be);

extern const BackendOps cuda_backend_ops; /* backend-cuda-ops.c */

/* Speech conv ops (backend-cuda-conv.c; semantics in core/backend.h). */
int cuda_conv1d(Backend *be, Tensor *y, const Tensor *x, const Tensor *w, const Tensor *b, const Conv1dParams *p);
int cuda_conv_transpose1d(Backend *be, Tensor *y, const Tensor *x, const Tensor *w, const Tensor *b, int stride,
                          int pad);
int cuda_leaky_relu(Backend *be, Tensor *y, const Tensor *x, float slope);
int cuda_tanh(Backend *be, Tensor *y, const Tensor *x);
int cuda_exp(Backend *be, Tensor *y, const Tensor *x);
int cuda_gated_tanh(Backend *be, Tensor *y, const Tensor *x);
int cuda_attention_rel(Backend *be, Tensor *out, const Tensor *q, const Tensor *k, const Tensor *v,
                       const Tensor *ek, const Tensor *ev, int window, float scale);

#endif
