/* weights.c — see weights.h. One growable table each for added tensors, sources, owned host buffers and
 * device allocations; lookups are linear (models have at most a few thousand tensors, bound once). */
#include "weights.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "log.h"
#include "hf-model.h"

typedef struct {
    WeightFindFn find;
    void *src;
} Source;

typedef struct {
    char *name; /* owned */
    Tensor t;   /* borrowed data */
} Added;

struct WeightStore {
    Backend *be;      /* borrowed */
    int host;         /* backend_is_host(be) */
    Added *added;     /* owned */
    int n_added, cap_added;
    Source *srcs;     /* owned table of borrowed sources */
    int n_srcs, cap_srcs;
    void **bufs;      /* owned host buffers */
    int n_bufs, cap_bufs;
    Tensor *dev;      /* owned backend allocations */
    int n_dev, cap_dev;
    size_t bytes;
    char err[256];
    char *ext_err;    /* borrowed, see weights_set_err */
    size_t ext_err_len;
};

/* Append one element of size sz to *arr (count *n, capacity *cap). */
static int grow(void *arr, int *n, int *cap, size_t sz)
{
    void **a = arr;

    if (*n == *cap) {
        int c = *cap ? 2 * *cap : 32;
        void *p = realloc(*a, sz * (size_t)c);
        if (!p)
            return -ENOMEM;
        *a = p;
        *cap = c;
    }
    (*n)++;
    return 0;
}

__attribute__((format(printf, 3, 4))) static int fail(WeightStore *s, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(s->err, sizeof(s->err), fmt, ap);
    va_end(ap);
    if (s->ext_err)
        snprintf(s->ext_err, s->ext_err_len, "%s", s->err);
    return code;
}

int weights_new(Backend *be, WeightStore **ret)
{
    WeightStore *s = calloc(1, sizeof(*s));

    if (!s)
        return -ENOMEM;
    s->be = be;
    s->host = backend_is_host(be);
    *ret = s;
    return 0;
}

void weights_free(WeightStore *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_dev; i++)
        s->be->ops->tensor_free(s->be, &s->dev[i]);
    for (int i = 0; i < s->n_bufs; i++)
        free(s->bufs[i]);
    for (int i = 0; i < s->n_added; i++)
        free(s->added[i].name);
    free(s->dev);
    free(s->bufs);
    free(s->added);
    free(s->srcs);
    free(s);
}

/* ---- sources -------------------------------------------------------------------------------------------- */

static int find_gguf(void *src, const char *name, Tensor *ret, char *err, size_t err_len)
{
    const GgufTensorInfo *ti = gguf_find_tensor(src, name);
    int r;

    if (!ti)
        return -ENOENT;
    if ((r = gguf_tensor_view(ti, ret)) < 0)
        return err_set(err, err_len, r, "tensor %s: bad shape or dtype %s", name, dtype_name(ti->dtype));
    return 0;
}

static int find_hf(void *src, const char *name, Tensor *ret, char *err, size_t err_len)
{
    const StTensor *st = hf_model_find(src, name);
    int r;

    if (!st)
        return -ENOENT;
    if ((r = st_tensor_view(st, ret)) < 0)
        return err_set(err, err_len, r, "tensor %s: dtype %s is not supported", name, st->dtype_str);
    ret->name = st->name;
    return 0;
}

int weights_add_source(WeightStore *s, WeightFindFn find, void *src)
{
    if (grow(&s->srcs, &s->n_srcs, &s->cap_srcs, sizeof(*s->srcs)) < 0)
        return -ENOMEM;
    s->srcs[s->n_srcs - 1] = (Source){find, src};
    return 0;
}

int weights_add_gguf(WeightStore *s, const GgufFile *gf)
{
    return weights_add_source(s, find_gguf, (void *)gf);
}

int weights_add_hf(WeightStore *s, const HfModel *hf)
{
    return weights_add_source(s, find_hf, (void *)hf);
}

static const Added *find_added(const WeightStore *s, const char *name)
{
    for (int i = 0; i < s->n_added; i++)
        if (strcmp(s->added[i].name, name) == 0)
            return &s->added[i];
    return NULL;
}

int weights_add_tensor(WeightStore *s, const char *name, DType dt, int n_dims, const int64_t *ne,
                       const void *data)
{
    Added a;
    int r;

    if (find_added(s, name))
        return fail(s, -EEXIST, "tensor %s: added twice", name);
    if ((r = tensor_init(&a.t, dt, n_dims, ne, (void *)data)) < 0)
        return fail(s, r, "tensor %s: bad shape or dtype %s", name, dtype_name(dt));
    if (!(a.name = strdup(name)) || grow(&s->added, &s->n_added, &s->cap_added, sizeof(*s->added)) < 0) {
        free(a.name);
        return -ENOMEM;
    }
    a.t.name = a.name;
    s->added[s->n_added - 1] = a;
    return 0;
}

int weights_find(WeightStore *s, const char *name, Tensor *ret)
{
    const Added *a = find_added(s, name);
    int r;

    if (a) {
        *ret = a->t;
        return 0;
    }
    for (int i = 0; i < s->n_srcs; i++) {
        r = s->srcs[i].find(s->srcs[i].src, name, ret, s->err, sizeof(s->err));
        if (r < 0 && r != -ENOENT && s->ext_err)
            snprintf(s->ext_err, s->ext_err_len, "%s", s->err);
        if (r != -ENOENT) {
            if (r == 0) {
                ret->mem = MEM_HOST;
                if (!ret->name)
                    ret->name = name;
            }
            return r;
        }
    }
    return -ENOENT;
}

/* ---- owned memory and placement -------------------------------------------------------------------------- */

int weights_keep(WeightStore *s, void *p)
{
    if (grow(&s->bufs, &s->n_bufs, &s->cap_bufs, sizeof(*s->bufs)) < 0) {
        free(p);
        return -ENOMEM;
    }
    s->bufs[s->n_bufs - 1] = p;
    return 0;
}

void *weights_host_alloc(WeightStore *s, size_t n)
{
    void *p = malloc(n ? n : 1);

    return p && weights_keep(s, p) == 0 ? p : NULL;
}

static int push_dev(WeightStore *s, Tensor *t)
{
    if (grow(&s->dev, &s->n_dev, &s->cap_dev, sizeof(*s->dev)) < 0) {
        s->be->ops->tensor_free(s->be, t);
        return -ENOMEM;
    }
    s->dev[s->n_dev - 1] = *t;
    return 0;
}

int weights_alloc(WeightStore *s, Tensor *t, DType dt, int n_dims, int64_t ne0, int64_t ne1, int64_t ne2)
{
    int r = backend_tensor_new(s->be, t, dt, n_dims, ne0, ne1, ne2);

    if (r < 0)
        return fail(s, r, "cannot allocate a [%lld, %lld, %lld] tensor on %s", (long long)ne0, (long long)ne1,
                    (long long)ne2, s->be->desc);
    return push_dev(s, t);
}

int weights_place(WeightStore *s, Tensor *t)
{
    const char *name = t->name ? t->name : "?";
    size_t n = tensor_nbytes(t);
    Tensor dev;
    int r;

    s->bytes += n;
    t->mem = MEM_HOST;
    if (s->host)
        return 0;
    if ((r = tensor_init(&dev, t->dtype, t->n_dims, t->ne, NULL)) < 0)
        return fail(s, r, "tensor %s: bad shape", name);
    if ((r = s->be->ops->tensor_alloc(s->be, &dev)) < 0)
        return fail(s, r, "tensor %s: cannot allocate %zu bytes on %s", name, n, s->be->desc);
    if ((r = push_dev(s, &dev)) < 0)
        return r;
    if ((r = backend_tensor_set(s->be, &dev, t->data, 0, n)) < 0)
        return fail(s, r, "tensor %s: upload failed", name);
    dev.name = t->name;
    *t = dev;
    return 0;
}

/* ---- binding --------------------------------------------------------------------------------------------- */

static int lookup(WeightStore *s, const char *name, unsigned flags, Tensor *ret)
{
    int r = weights_find(s, name, ret);

    if (r == -ENOENT && !(flags & WEIGHTS_OPTIONAL))
        return fail(s, -EBADMSG, "tensor %s missing", name);
    return r;
}

static void shape_str(char *buf, size_t len, int n_dims, const int64_t *ne)
{
    size_t o = 0;

    buf[0] = 0;
    for (int i = 0; i < n_dims && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? "×" : "", (long long)ne[i]);
}

static int is_float(DType dt)
{
    return dt == DTYPE_F32 || dt == DTYPE_F16 || dt == DTYPE_BF16;
}

int weights_bind(WeightStore *s, const char *name, int n_dims, const int64_t *ne, unsigned flags, Tensor *ret)
{
    const DTypeInfo *info;
    int64_t n = 1;
    Tensor t;
    int r;

    if ((r = lookup(s, name, flags, &t)) < 0)
        return r;
    const char *stored = t.name;
    for (int i = 0; i < n_dims; i++)
        n *= ne[i];
    int same = t.n_dims == n_dims;
    for (int i = 0; same && i < n_dims; i++)
        same = t.ne[i] == ne[i];
    if (!same && !((flags & WEIGHTS_RESHAPE) && tensor_nelements(&t) == n)) {
        char have[96], want[96];
        shape_str(have, sizeof(have), t.n_dims, t.ne);
        shape_str(want, sizeof(want), n_dims, ne);
        return fail(s, -EBADMSG, "tensor %s: shape %s, expected %s", stored, have, want);
    }
    info = dtype_info(t.dtype);
    if (!info || !info->supported || ((flags & WEIGHTS_FLOAT) && !is_float(t.dtype)))
        return fail(s, -ENOTSUP, "tensor %s: dtype %s is not supported here", stored, dtype_name(t.dtype));
    if ((flags & WEIGHTS_F32) && t.dtype != DTYPE_F32) {
        float *f = weights_host_alloc(s, sizeof(float) * (size_t)n);
        if (!f)
            return -ENOMEM;
        if ((r = tensor_to_f32(&t, f)) < 0)
            return fail(s, r, "tensor %s: dtype %s cannot be converted to F32", stored, dtype_name(t.dtype));
        t.data = f;
        t.dtype = DTYPE_F32;
    }
    if ((r = tensor_init(&t, t.dtype, n_dims, ne, t.data)) < 0)
        return fail(s, r, "tensor %s: bad shape", stored);
    t.name = stored;
    if (!(flags & WEIGHTS_NO_PLACE) && (r = weights_place(s, &t)) < 0)
        return r;
    *ret = t;
    return 0;
}

int weights_bind1(WeightStore *s, const char *name, int64_t ne0, unsigned flags, Tensor *ret)
{
    return weights_bind(s, name, 1, &ne0, flags, ret);
}

int weights_bind2(WeightStore *s, const char *name, int64_t ne0, int64_t ne1, unsigned flags, Tensor *ret)
{
    int64_t ne[2] = {ne0, ne1};
    return weights_bind(s, name, 2, ne, flags, ret);
}

int weights_bind3(WeightStore *s, const char *name, int64_t ne0, int64_t ne1, int64_t ne2, unsigned flags,
                  Tensor *ret)
{
    int64_t ne[3] = {ne0, ne1, ne2};
    return weights_bind(s, name, 3, ne, flags, ret);
}

int weights_host_f32(WeightStore *s, const char *name, int64_t n, float **ret)
{
    Tensor t;
    float *f;
    int r;

    if ((r = lookup(s, name, 0, &t)) < 0)
        return r;
    if (n >= 0 && tensor_nelements(&t) != n)
        return fail(s, -EBADMSG, "tensor %s: %lld elements, expected %lld", t.name, (long long)tensor_nelements(&t),
                    (long long)n);
    if (!(f = weights_host_alloc(s, sizeof(float) * (size_t)tensor_nelements(&t))))
        return -ENOMEM;
    if ((r = tensor_to_f32(&t, f)) < 0)
        return fail(s, r, "tensor %s: dtype %s cannot be converted to F32", t.name, dtype_name(t.dtype));
    *ret = f;
    return 0;
}

size_t weights_bytes(const WeightStore *s)
{
    return s->bytes;
}

Backend *weights_backend(const WeightStore *s)
{
    return s->be;
}

const char *weights_error(const WeightStore *s)
{
    return s->err;
}

void weights_set_err(WeightStore *s, char *err, size_t err_len)
{
    s->ext_err = err_len ? err : NULL;
    s->ext_err_len = err_len;
}
