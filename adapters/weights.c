/* weights.c — see weights.h. */
#include "weights.h"

#include <math.h>

int adapter_bind(MllamaStore *s, const HfModel *hf, const char *name, int64_t ne0, int64_t ne1, Tensor *ret,
                 char *err, size_t err_len)
{
    int64_t ne[2] = {ne0, ne1};
    return mllama_store_bind(s, hf, name, ne1 ? 2 : 1, ne, ne1 == 0, ret, err, err_len);
}

int adapter_gate(MllamaStore *s, const HfModel *hf, const char *name, float *ret, char *err, size_t err_len)
{
    float *g;
    int r = mllama_store_host_f32(s, hf, name, 1, &g, err, err_len);
    if (r == 0)
        *ret = tanhf(g[0]);
    return r;
}

int adapter_tensor_alloc(Backend *be, Tensor *t, int n_dims, int64_t ne0, int64_t ne1, int64_t ne2)
{
    int64_t ne[3] = {ne0, ne1, ne2};
    int r = tensor_init(t, DTYPE_F32, n_dims, ne, NULL);
    return r < 0 ? r : be->ops->tensor_alloc(be, t);
}

void adapter_tensor_free(Backend *be, Tensor *t)
{
    if (t->data)
        be->ops->tensor_free(be, t);
    t->data = NULL;
}
