/* cpu/backend-cpu.c — the CPU backend: host memory, the BackendOps table, and its thread pool.
 *
 * Tensors live in ordinary 64-byte-aligned host memory (zeroed on allocation); set/get are memcpy and
 * synchronize is a no-op. matmul goes to core/cpu/matmul.c, attention to ops-attn.c, the rest to ops.c and
 * ops-copy.c. This backend is the numerical oracle that every other backend is tested against.
 * Not here: the kernels themselves.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu-features.h"
#include "ops.h"

enum {
    PARALLEL_MIN_COST = 16384,  /* below this many element-operations one thread is faster than waking more */
    ATTN_SCRATCH_INIT = 4 * 4096, /* scores per thread reserved up front (grow-only beyond) */
};

void cpu_parallel(CpuBackend *cb, int64_t cost, ThreadTask fn, void *ctx)
{
    if (cb->n_threads <= 1 || cost < cb->parallel_min_cost)
        fn(ctx, 0, 1);
    else
        threadpool_run(cb->tp, fn, ctx);
}

static int cpu_tensor_alloc(Backend *be, Tensor *t)
{
    size_t n = tensor_nbytes(t), sz;
    (void)be;
    if (n > SIZE_MAX - 63)
        return -EOVERFLOW;
    sz = (n + 63) / 64 * 64;
    t->data = aligned_alloc(64, sz ? sz : 64);
    if (!t->data)
        return -ENOMEM;
    memset(t->data, 0, sz);
    t->mem = MEM_HOST;
    return 0;
}

static void cpu_tensor_free(Backend *be, Tensor *t)
{
    (void)be;
    if (!t)
        return;
    free(t->data);
    t->data = NULL;
}

static int cpu_tensor_set(Backend *be, Tensor *t, const void *src, size_t offset, size_t n)
{
    (void)be;
    if (!t->data || offset > tensor_nbytes(t) || n > tensor_nbytes(t) - offset)
        return -EINVAL;
    memcpy((char *)t->data + offset, src, n);
    return 0;
}

static int cpu_tensor_get(Backend *be, const Tensor *t, void *dst, size_t offset, size_t n)
{
    (void)be;
    if (!t->data || offset > tensor_nbytes(t) || n > tensor_nbytes(t) - offset)
        return -EINVAL;
    memcpy(dst, (const char *)t->data + offset, n);
    return 0;
}

static int cpu_synchronize(Backend *be)
{
    (void)be;
    return 0;
}

static int cpu_op_matmul(Backend *be, Tensor *y, const Tensor *w, const Tensor *x)
{
    return cpu_matmul(cpu_backend(be)->mm, y, w, x);
}

static void cpu_destroy(Backend *be)
{
    CpuBackend *cb = be ? cpu_backend(be) : NULL;
    if (!cb)
        return;
    cpu_matmul_free(cb->mm);
    threadpool_free(cb->tp);
    free(cb->attn_scratch);
    free(cb);
    be->impl = NULL;
}

static const BackendOps cpu_ops = {
    .name = "cpu",
    .tensor_alloc = cpu_tensor_alloc,
    .tensor_free = cpu_tensor_free,
    .tensor_set = cpu_tensor_set,
    .tensor_get = cpu_tensor_get,
    .synchronize = cpu_synchronize,
    .matmul = cpu_op_matmul,
    .rmsnorm = cpu_op_rmsnorm,
    .layernorm = cpu_op_layernorm,
    .rope = cpu_op_rope,
    .softmax = cpu_op_softmax,
    .attention = cpu_op_attention,
    .silu = cpu_op_silu,
    .gelu = cpu_op_gelu,
    .gelu_tanh = cpu_op_gelu_tanh,
    .swiglu = cpu_op_swiglu,
    .add = cpu_op_add,
    .mul = cpu_op_mul,
    .scale = cpu_op_scale,
    .get_rows = cpu_op_get_rows,
    .copy = cpu_op_copy,
    .im2col_1d = cpu_op_im2col_1d,
    .im2col_2d = cpu_op_im2col_2d,
    .destroy = cpu_destroy,
};

int backend_cpu_new(int n_threads, Backend **ret)
{
    Backend *be = calloc(1, sizeof(*be));
    CpuBackend *cb = calloc(1, sizeof(*cb));
    int r;

    if (!be || !cb) {
        r = -ENOMEM;
        goto fail;
    }
    be->ops = &cpu_ops;
    be->impl = cb;
    cpu_vec_init();
    r = threadpool_new(n_threads, &cb->tp);
    if (r < 0)
        goto fail;
    cb->n_threads = threadpool_size(cb->tp);
    cb->parallel_min_cost = PARALLEL_MIN_COST;
    r = cpu_matmul_new(cb->tp, &cb->mm);
    if (r < 0)
        goto fail;
    cb->attn_scratch_len = ATTN_SCRATCH_INIT;
    cb->attn_scratch = aligned_alloc(64, cb->attn_scratch_len * sizeof(float) * (size_t)cb->n_threads);
    if (!cb->attn_scratch) {
        r = -ENOMEM;
        goto fail;
    }
    snprintf(be->desc, sizeof(be->desc), "cpu: %d thread%s, %s", cb->n_threads, cb->n_threads == 1 ? "" : "s",
             cpu_features_string());
    *ret = be;
    return 0;
fail:
    if (be && be->impl)
        cpu_destroy(be);
    else
        free(cb);
    free(be);
    return r;
}
