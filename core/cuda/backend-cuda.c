/* backend-cuda.c — CUDA backend: device selection, stream and cuBLAS handle, device memory for tensors,
 * host↔device copies (pinned double-buffered staging for large uploads), grow-only scratch, and the
 * pinned ring through which host op arguments (positions, token ids, RoPE factors) reach the device.
 *
 * Not here: the ops (backend-cuda-ops.c) and kernels (*.cu). Every CUDA/cuBLAS call is checked; a failure
 * logs one line with the runtime's message and returns -EIO (out of memory at tensor_alloc: -ENOMEM with
 * the sizes). Nothing aborts: a broken context keeps returning errors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend-cuda.h"
#include "log.h"

enum { UPLOAD_STAGING_BYTES = 16 << 20, UPLOAD_PINNED_MIN = 1 << 20 };

int cuda_check(int err, const char *what)
{
    if (err == (int)cudaSuccess)
        return 0;
    log_error("cuda: %s: %s", what, cudaGetErrorString((cudaError_t)err));
    return -EIO;
}

int cublas_check(int status, const char *what)
{
    if (status == (int)CUBLAS_STATUS_SUCCESS)
        return 0;
    log_error("cuda: %s: cuBLAS status %d", what, status);
    return -EIO;
}

static CudaBackend *cb_of(Backend *be)
{
    return (CudaBackend *)be->impl;
}

int cuda_scratch_reserve(CudaBackend *cb, void **buf, size_t *have, size_t bytes)
{
    void *p = NULL;
    size_t want;
    cudaError_t e;

    if (bytes <= *have)
        return 0;
    want = bytes + bytes / 4; /* headroom so slowly growing prompts do not reallocate every time */
    if (*buf) {
        int r = CU(cudaStreamSynchronize(cb->stream));
        if (r < 0)
            return r;
        cudaFree(*buf);
        *buf = NULL;
        *have = 0;
    }
    e = cudaMalloc(&p, want);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        log_error("cuda: scratch of %zu MiB: %s", want >> 20, cudaGetErrorString(e));
        return e == cudaErrorMemoryAllocation ? -ENOMEM : -EIO;
    }
    *buf = p;
    *have = want;
    return 0;
}

int cuda_upload_args(CudaBackend *cb, size_t off, const void *src, size_t n, void **ret)
{
    uint8_t *dst = (uint8_t *)cb->args + off;
    int r;

    *ret = dst;
    if (n == 0)
        return 0;
    if (n > CUDA_ARG_SLOT_BYTES || !cb->pin) {
        /* Rare (huge prompts): pageable copy, then wait so the caller's buffer is free to change. */
        r = CU(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, cb->stream));
        return r < 0 ? r : CU(cudaStreamSynchronize(cb->stream));
    }
    int slot = cb->pin_next;
    cb->pin_next = (slot + 1) % CUDA_ARG_SLOTS;
    /* The slot's previous copy was enqueued CUDA_ARG_SLOTS argument uploads ago; normally long done. */
    r = CU(cudaEventSynchronize(cb->pin_ev[slot]));
    if (r < 0)
        return r;
    uint8_t *stage = cb->pin + (size_t)slot * CUDA_ARG_SLOT_BYTES;
    memcpy(stage, src, n);
    r = CU(cudaMemcpyAsync(dst, stage, n, cudaMemcpyHostToDevice, cb->stream));
    if (r < 0)
        return r;
    return CU(cudaEventRecord(cb->pin_ev[slot], cb->stream));
}

int cuda_tensor_alloc(Backend *be, Tensor *t)
{
    CudaBackend *cb = cb_of(be);
    size_t bytes = tensor_nbytes(t), free_b = 0, total_b = 0;
    void *p = NULL;
    cudaError_t e;
    int r;

    if ((r = CU(cudaSetDevice(cb->device))) < 0)
        return r;
    e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e == cudaSuccess) {
        /* Zeroed like the CPU backend's allocations (KV caches and padding start defined). */
        if ((r = CU(cudaMemsetAsync(p, 0, bytes, cb->stream))) < 0) {
            cudaFree(p);
            return r;
        }
        t->data = p;
        t->mem = MEM_DEVICE;
        return 0;
    }
    (void)cudaGetLastError(); /* allocation errors are not sticky; clear the last-error slot */
    if (e != cudaErrorMemoryAllocation)
        return cuda_check((int)e, "cudaMalloc");
    (void)cudaMemGetInfo(&free_b, &total_b);
    log_error("cuda:%d: out of memory for tensor %s: needed %zu MiB, %zu MiB free", cb->device,
              t->name ? t->name : "(unnamed)", (bytes + (1u << 20) - 1) >> 20, free_b >> 20);
    return -ENOMEM;
}

void cuda_tensor_free(Backend *be, Tensor *t)
{
    if (!be || !t || !t->data)
        return;
    (void)cudaSetDevice(cb_of(be)->device);
    /* cudaFree synchronises with the device, so pending kernels that read t finish first. */
    (void)cuda_check((int)cudaFree(t->data), "cudaFree");
    t->data = NULL;
}

static int range_ok(const Tensor *t, size_t offset, size_t n)
{
    size_t total = tensor_nbytes(t);
    return t->data && offset <= total && n <= total - offset;
}

int cuda_tensor_set(Backend *be, Tensor *t, const void *src, size_t offset, size_t n)
{
    CudaBackend *cb = cb_of(be);
    uint8_t *dst;
    int r;

    if (!range_ok(t, offset, n) || (n && !src))
        return -EINVAL;
    if ((r = CU(cudaSetDevice(cb->device))) < 0)
        return r;
    dst = (uint8_t *)t->data + offset;
    if (n < UPLOAD_PINNED_MIN || !cb->up)
        return CU(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, cb->stream));
    /* Large uploads (weights): memcpy into one pinned half while the other half's DMA runs. */
    const size_t half = cb->up_bytes / 2;
    for (size_t done = 0, i = 0; done < n; i++) {
        size_t len = n - done < half ? n - done : half;
        int b = (int)(i & 1);
        if ((r = CU(cudaEventSynchronize(cb->up_ev[b]))) < 0)
            return r;
        memcpy(cb->up + (size_t)b * half, (const uint8_t *)src + done, len);
        r = CU(cudaMemcpyAsync(dst + done, cb->up + (size_t)b * half, len, cudaMemcpyHostToDevice, cb->stream));
        if (r < 0 || (r = CU(cudaEventRecord(cb->up_ev[b], cb->stream))) < 0)
            return r;
        done += len;
    }
    return 0;
}

int cuda_tensor_get(Backend *be, const Tensor *t, void *dst, size_t offset, size_t n)
{
    CudaBackend *cb = cb_of(be);
    int r;

    if (!range_ok(t, offset, n) || (n && !dst))
        return -EINVAL;
    if ((r = CU(cudaSetDevice(cb->device))) < 0)
        return r;
    r = CU(cudaMemcpyAsync(dst, (const uint8_t *)t->data + offset, n, cudaMemcpyDeviceToHost, cb->stream));
    return r < 0 ? r : CU(cudaStreamSynchronize(cb->stream));
}

int cuda_synchronize(Backend *be)
{
    CudaBackend *cb = cb_of(be);
    int r = CU(cudaSetDevice(cb->device));
    return r < 0 ? r : CU(cudaStreamSynchronize(cb->stream));
}

/* Releases what be->impl owns, not the Backend struct (backend_free() frees it; backend.c convention). */
void cuda_destroy(Backend *be)
{
    CudaBackend *cb;

    if (!be)
        return;
    cb = cb_of(be);
    if (cb) {
        (void)cudaSetDevice(cb->device);
        if (cb->stream)
            (void)cudaStreamSynchronize(cb->stream);
        if (cb->cublas)
            cublasDestroy(cb->cublas);
        cudaFree(cb->wq);
        cudaFree(cb->xh);
        cudaFree(cb->attn);
        cudaFree(cb->conv);
        cudaFree(cb->args);
        for (int i = 0; i < CUDA_ARG_SLOTS; i++)
            if (cb->pin_ev[i])
                cudaEventDestroy(cb->pin_ev[i]);
        for (int i = 0; i < 2; i++)
            if (cb->up_ev[i])
                cudaEventDestroy(cb->up_ev[i]);
        cudaFreeHost(cb->pin);
        cudaFreeHost(cb->up);
        if (cb->stream)
            cudaStreamDestroy(cb->stream);
        (void)cudaGetLastError();
        free(cb);
        be->impl = NULL;
    }
}

/* Pinned buffers are an optimisation: without them (locked-memory limits) copies take pageable paths. */
static void alloc_pinned(CudaBackend *cb)
{
    if (cudaHostAlloc((void **)&cb->pin, (size_t)CUDA_ARG_SLOTS * CUDA_ARG_SLOT_BYTES, cudaHostAllocDefault) !=
        cudaSuccess) {
        cb->pin = NULL;
        (void)cudaGetLastError();
        log_warn("cuda: no pinned memory for op arguments; using synchronous copies");
    }
    if (cudaHostAlloc((void **)&cb->up, UPLOAD_STAGING_BYTES, cudaHostAllocDefault) == cudaSuccess) {
        cb->up_bytes = UPLOAD_STAGING_BYTES;
    } else {
        cb->up = NULL;
        (void)cudaGetLastError();
    }
}

int backend_cuda_new(int device, Backend **ret, char *err, size_t err_len)
{
    Backend *be = NULL;
    CudaBackend *cb = NULL;
    struct cudaDeviceProp prop;
    size_t free_b = 0, total_b = 0;
    int n_dev = 0, r;
    cudaError_t e;

    *ret = NULL;
    e = cudaGetDeviceCount(&n_dev);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return err_set(err, err_len, -ENODEV, "no usable CUDA device: %s", cudaGetErrorString(e));
    }
    if (n_dev < 1)
        return err_set(err, err_len, -ENODEV, "no usable CUDA device: none found");
    if (device < 0 || device >= n_dev)
        return err_set(err, err_len, -ENODEV, "cuda:%d: no such device (%d found)", device, n_dev);

    be = calloc(1, sizeof(*be));
    cb = calloc(1, sizeof(*cb));
    if (!be || !cb) {
        free(be);
        free(cb);
        return err_set(err, err_len, -ENOMEM, "out of memory");
    }
    be->impl = cb;
    be->ops = &cuda_backend_ops;
    cb->device = device;

    r = -EIO;
    if (CU(cudaSetDevice(device)) < 0 || CU(cudaGetDeviceProperties(&prop, device)) < 0 ||
        CU(cudaStreamCreateWithFlags(&cb->stream, cudaStreamNonBlocking)) < 0)
        goto fail;
    for (int i = 0; i < CUDA_ARG_SLOTS; i++)
        if (CU(cudaEventCreateWithFlags(&cb->pin_ev[i], cudaEventDisableTiming)) < 0)
            goto fail;
    for (int i = 0; i < 2; i++)
        if (CU(cudaEventCreateWithFlags(&cb->up_ev[i], cudaEventDisableTiming)) < 0)
            goto fail;
    if (CUBLAS(cublasCreate(&cb->cublas)) < 0 || CUBLAS(cublasSetStream(cb->cublas, cb->stream)) < 0)
        goto fail;
    cb->n_sm = prop.multiProcessorCount;
    alloc_pinned(cb);
    if ((r = cuda_scratch_reserve(cb, &cb->args, &cb->args_bytes, CUDA_ARG_SLOT_BYTES)) < 0)
        goto fail;
    if (CU(cudaMemGetInfo(&free_b, &total_b)) < 0) {
        r = -EIO;
        goto fail;
    }
    snprintf(be->desc, sizeof(be->desc), "cuda:%d %.64s, %.1f/%.1f GiB free", device, prop.name,
             (double)free_b / (1024.0 * 1024.0 * 1024.0), (double)total_b / (1024.0 * 1024.0 * 1024.0));
    *ret = be;
    return 0;

fail:
    cuda_destroy(be);
    free(be);
    return err_set(err, err_len, r, "cuda:%d: initialisation failed (see log)", device);
}
