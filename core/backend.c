/* backend.c — picking a backend by name ("cpu", "cuda", "cuda:N", "auto"), freeing one, and the tensor
 * helpers model code shares (backend_tensor_new/release).
 *
 * Ownership convention for every backend: the constructor callocs the Backend struct; ops->destroy
 * releases what be->impl owns (device memory, streams, pools) but not the struct; backend_free() calls
 * destroy and then frees the struct.
 * Not here: the backends (core/cpu/backend-cpu.c, core/cuda/).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "log.h"

enum { MAX_CUDA_DEVICE = 255 };

/* "cuda" → 0, "cuda:N" → N; -1 if spec is not a CUDA spec, -2 if it is one with a bad number. */
static int parse_cuda(const char *spec)
{
    const char *p;
    long v = 0;

    if (strncmp(spec, "cuda", 4) != 0)
        return -1;
    if (spec[4] == '\0')
        return 0;
    if (spec[4] != ':' || spec[5] == '\0')
        return spec[4] == ':' ? -2 : -1;
    for (p = spec + 5; *p; p++) {
        if (*p < '0' || *p > '9')
            return -2;
        v = v * 10 + (*p - '0');
        if (v > MAX_CUDA_DEVICE)
            return -2;
    }
    return (int)v;
}

static int new_cpu(int n_threads, Backend **ret, char *err, size_t err_len)
{
    int r = backend_cpu_new(n_threads, ret);
    if (r < 0)
        return err_set(err, err_len, r, "cannot create the CPU backend: %s", strerror(-r));
    return 0;
}

int backend_new_by_name(const char *spec, int n_threads, Backend **ret, char *err, size_t err_len)
{
    char cuda_err[256] = "";
    int dev, r;

    if (!spec || !*spec || strcmp(spec, "auto") == 0) {
        r = backend_cuda_new(0, ret, cuda_err, sizeof(cuda_err));
        if (r == 0)
            return 0;
        log_info("backend: CUDA not usable (%s); using the CPU", cuda_err[0] ? cuda_err : strerror(-r));
        return new_cpu(n_threads, ret, err, err_len);
    }
    if (strcmp(spec, "cpu") == 0)
        return new_cpu(n_threads, ret, err, err_len);
    dev = parse_cuda(spec);
    if (dev == -2)
        return err_set(err, err_len, -EINVAL, "bad CUDA device in backend '%s' (expected cuda:N, N = 0..%d)",
                       spec, MAX_CUDA_DEVICE);
    if (dev < 0)
        return err_set(err, err_len, -EINVAL, "unknown backend '%s' (expected cpu, cuda, cuda:N or auto)", spec);
    return backend_cuda_new(dev, ret, err, err_len);
}

void backend_free(Backend *be)
{
    if (!be)
        return;
    if (be->ops && be->ops->destroy)
        be->ops->destroy(be);
    free(be);
}

int backend_tensor_new(Backend *be, Tensor *t, DType dt, int n_dims, int64_t ne0, int64_t ne1, int64_t ne2)
{
    int64_t ne[3] = {ne0, ne1, ne2};
    int r = tensor_init(t, dt, n_dims, ne, NULL);

    return r < 0 ? r : be->ops->tensor_alloc(be, t);
}

void backend_tensor_release(Backend *be, Tensor *t)
{
    if (t->data)
        be->ops->tensor_free(be, t);
    t->data = NULL;
}

int backend_matmul_n(Backend *be, int n, Tensor *const *y, const Tensor *const *w, const Tensor *x)
{
    int same = be->ops->matmul_multi && n <= BACKEND_MATMUL_MULTI_MAX, r;

    for (int i = 1; same && i < n; i++)
        same = w[i]->dtype == w[0]->dtype && w[i]->ne[0] == w[0]->ne[0];
    if (same)
        return be->ops->matmul_multi(be, n, y, w, x);
    for (int i = 0; i < n; i++)
        if ((r = backend_matmul(be, y[i], w[i], x)) < 0)
            return r;
    return 0;
}
