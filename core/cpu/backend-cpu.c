/* cpu/backend-cpu.c — the CPU backend: host memory, the BackendOps table, and its thread pool.
 *
 * Tensors live in 64-byte-aligned host memory, zero on allocation (see cpu_tensor_alloc); set/get are memcpy and
 * synchronize is a no-op. matmul goes to core/cpu/matmul.c, attention to ops-attn.c, the rest to ops.c and
 * ops-copy.c. This backend is the numerical oracle that every other backend is tested against.
 * Not here: the kernels themselves.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

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

/* Tensor memory, zero and 64-byte aligned. Blocks of CPU_MAP_MIN bytes and more are their own anonymous
 * mapping, whose zero pages are faulted in only when touched: a session's KV cache for n_ctx positions
 * costs nothing until positions are written (clearing SmolLM2's 94 MB at n_ctx 4096 with memset took
 * ~45 ms of every new conversation's first token). Smaller blocks come from calloc. The 64 bytes below
 * the data say which, for cpu_tensor_free. */
enum { CPU_MAP_MIN = 1 << 20, CPU_HDR = 64 };
typedef struct {
    void *raw;      /* calloc'd block, or NULL */
    size_t map_len; /* mapping length (mapping starts at the header), or 0 */
} CpuBlock;

static int cpu_tensor_alloc(Backend *be, Tensor *t)
{
    size_t n = tensor_nbytes(t), sz;
    CpuBlock *h;
    (void)be;
    if (n > SIZE_MAX - 4 * CPU_HDR)
        return -EOVERFLOW;
    sz = (n + 63) / 64 * 64;
    if (sz >= CPU_MAP_MIN) {
        void *m = mmap(NULL, sz + CPU_HDR, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return -ENOMEM;
        h = m;
        h->raw = NULL;
        h->map_len = sz + CPU_HDR;
    } else {
        char *raw = calloc(1, sz + 2 * CPU_HDR);
        if (!raw)
            return -ENOMEM;
        h = (CpuBlock *)(((uintptr_t)raw + 63) / 64 * 64);
        h->raw = raw;
        h->map_len = 0;
    }
    t->data = (char *)h + CPU_HDR;
    t->mem = MEM_HOST;
    return 0;
}

static void cpu_tensor_free(Backend *be, Tensor *t)
{
    (void)be;
    if (!t || !t->data)
        return;
    CpuBlock *h = (CpuBlock *)((char *)t->data - CPU_HDR);
    if (h->map_len)
        munmap(h, h->map_len);
    else
        free(h->raw);
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
    free(cb->conv_scratch);
    free(cb);
    be->impl = NULL;
}

static const BackendOps cpu_ops = {
    .name = "cpu",
    .host = 1,
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
    .matmul_multi = cpu_backend_matmul_multi,
    .conv1d = cpu_op_conv1d,
    .conv_transpose1d = cpu_op_conv_transpose1d,
    .leaky_relu = cpu_op_leaky_relu,
    .tanh = cpu_op_tanh,
    .exp = cpu_op_exp,
    .gated_tanh = cpu_op_gated_tanh,
    .attention_rel = cpu_op_attention_rel,
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
