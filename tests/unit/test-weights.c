/* test-weights.c — the weight store (core/weights.h): lookup order over added tensors and a GGUF source,
 * shape/dtype checks with messages naming the tensor, F16/BF16 → F32 conversion (values exactly
 * representable in both, so the expected F32 values are the constants themselves), borrowing on a host
 * backend, and the upload path on a backend that is not host (the CPU ops with the host flag cleared).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "gguf.h"
#include "test-util.h"
#include "weights.h"

static const float k_vals[6] = {1.0f, -2.5f, 0.125f, 3.0f, -0.75f, 1024.0f};

static GgufFile *make_gguf(void **ret_buf)
{
    GgufWriter *w;
    GgufFile *gf = NULL;
    uint16_t h[6];
    float m[2 * 3];
    int64_t ne_v[1] = {6}, ne_m[2] = {3, 2};
    size_t size;
    char err[256];

    for (int i = 0; i < 6; i++) {
        h[i] = f32_to_fp16(k_vals[i]);
        m[i] = k_vals[i] * 2;
    }
    CHECK_INT(gguf_writer_new(&w), 0);
    CHECK_INT(gguf_writer_add_tensor(w, "norm.weight", DTYPE_F16, 1, ne_v, h), 0);
    CHECK_INT(gguf_writer_add_tensor(w, "proj.weight", DTYPE_F32, 2, ne_m, m), 0);
    CHECK_INT(gguf_writer_write_memory(w, ret_buf, &size), 0);
    gguf_writer_free(w);
    CHECK_INT(gguf_open_memory(*ret_buf, size, &gf, err, sizeof(err)), 0);
    return gf;
}

static void check_store(Backend *be, GgufFile *gf, int host)
{
    WeightStore *ws;
    Tensor t, n, o;
    uint16_t bf[6];
    float got[6], *hf;
    int64_t ne[3] = {6, 1, 1};

    for (int i = 0; i < 6; i++)
        bf[i] = f32_to_bf16(k_vals[i] * 4);
    CHECK_INT(weights_new(be, &ws), 0);
    CHECK_INT(weights_add_gguf(ws, gf), 0);
    CHECK_INT(weights_add_tensor(ws, "gate", DTYPE_BF16, 3, ne, bf), 0);
    CHECK_INT(weights_add_tensor(ws, "gate", DTYPE_BF16, 3, ne, bf), -EEXIST);

    /* a matrix as it is: borrowed on the host, uploaded otherwise */
    CHECK_INT(weights_bind2(ws, "proj.weight", 3, 2, 0, &t), 0);
    CHECK_INT(t.dtype, DTYPE_F32);
    CHECK(strcmp(t.name, "proj.weight") == 0);
    CHECK_INT(be->ops->tensor_get(be, &t, got, 0, sizeof(float) * 6), 0);
    for (int i = 0; i < 6; i++)
        CHECK_NEAR(got[i], k_vals[i] * 2, 0);
    const GgufTensorInfo *ti = gguf_find_tensor(gf, "proj.weight");
    CHECK(host ? t.data == ti->data : t.data != ti->data);

    /* F16 vector converted to F32 */
    CHECK_INT(weights_bind1(ws, "norm.weight", 6, WEIGHTS_F32, &n), 0);
    CHECK_INT(n.dtype, DTYPE_F32);
    CHECK_INT(be->ops->tensor_get(be, &n, got, 0, sizeof(float) * 6), 0);
    for (int i = 0; i < 6; i++)
        CHECK_NEAR(got[i], k_vals[i], 0);
    CHECK_INT(weights_bytes(ws), sizeof(float) * 12);

    /* an added BF16 tensor, reshaped from [6, 1, 1] to [6], and its host copy */
    CHECK_INT(weights_bind1(ws, "gate", 6, WEIGHTS_F32, &o), -EBADMSG);
    CHECK(strstr(weights_error(ws), "gate") && strstr(weights_error(ws), "expected 6"));
    CHECK_INT(weights_bind1(ws, "gate", 6, WEIGHTS_F32 | WEIGHTS_RESHAPE, &o), 0);
    CHECK_INT(o.n_dims, 1);
    CHECK_INT(weights_host_f32(ws, "gate", 6, &hf), 0);
    for (int i = 0; i < 6; i++)
        CHECK_NEAR(hf[i], k_vals[i] * 4, 0);
    CHECK_INT(weights_host_f32(ws, "gate", 5, &hf), -EBADMSG);
    CHECK(strstr(weights_error(ws), "6 elements, expected 5") != NULL);

    /* errors name the tensor */
    CHECK_INT(weights_bind2(ws, "proj.weight", 2, 3, 0, &t), -EBADMSG);
    CHECK(strstr(weights_error(ws), "proj.weight: shape 3×2, expected 2×3") != NULL);
    CHECK_INT(weights_bind1(ws, "absent.weight", 6, 0, &t), -EBADMSG);
    CHECK(strstr(weights_error(ws), "absent.weight missing") != NULL);
    CHECK_INT(weights_bind1(ws, "absent.bias", 6, WEIGHTS_OPTIONAL, &t), -ENOENT);
    CHECK_INT(weights_find(ws, "absent.bias", &t), -ENOENT);

    /* a scratch tensor owned by the store (freed by weights_free; ASan/valgrind check the leak) */
    CHECK_INT(weights_alloc(ws, &t, DTYPE_F32, 2, 4, 4, 1), 0);
    CHECK(t.data != NULL);
    weights_free(ws);
    weights_free(NULL);
}

int main(void)
{
    void *buf = NULL;
    GgufFile *gf = make_gguf(&buf);
    Backend *be;

    if (!gf)
        return test_exit();
    CHECK_INT(backend_cpu_new(1, &be), 0);
    check_store(be, gf, 1);

    /* the same CPU ops presented as a device backend: every bind is an upload */
    BackendOps dev_ops = *be->ops;
    const BackendOps *cpu_ops = be->ops;
    dev_ops.host = 0;
    be->ops = &dev_ops;
    check_store(be, gf, 0);
    be->ops = cpu_ops;

    backend_free(be);
    gguf_close(gf);
    free(buf);
    return test_exit();
}
