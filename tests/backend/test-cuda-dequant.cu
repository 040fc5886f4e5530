/* test-cuda-dequant.cu — the CUDA backend's block dequantizers (core/cuda/common.cuh deq8, compiled for
 * the host here) against the CPU oracle quant_dequant_row, for every device-supported dtype, on every unit
 * of random rows. Runs without a GPU: it checks the bit layouts (SPEC.md §1.5: nibble order, K-quant scale
 * packing, Q6_K's trailing d) that every GEMV/dequant/get_rows kernel shares. Tolerance: exact, or 1e-6
 * relative (float products may contract differently). Built only with -Dcuda=enabled.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "common.cuh"

extern "C" {
#include "quant.h"
#include "test-util.h"
}

static unsigned g_seed = 12345u;

static float frand(void)
{
    g_seed = g_seed * 1664525u + 1013904223u;
    return (float)(g_seed >> 8) / 8388608.0f - 1.0f;
}

template <int DT>
static void check_dtype(void)
{
    constexpr int QK = QTraits<DT>::QK, BS = QTraits<DT>::BS, UPB = QK / 8;
    const int64_t n = 512; /* two K-quant super-blocks, 16 blocks of 32 */
    size_t row = 0;
    float src[512], ref[512], got[512];
    /* 16-byte aligned storage: the float and Q4_K unit loads are vector loads. */
    static uint64_t buf[512];
    uint8_t *q = (uint8_t *)buf;

    if (dtype_row_bytes((DType)DT, n, &row) < 0 || row > sizeof(buf)) {
        CHECK(0);
        return;
    }
    for (int rep = 0; rep < 4; rep++) {
        for (int64_t i = 0; i < n; i++)
            src[i] = frand() * (rep == 3 ? 100.0f : 1.0f) + (rep == 2 ? 0.5f : 0.0f);
        if (quant_quantize_row((DType)DT, src, q, n) < 0) {
            fprintf(stderr, "skip %s: the CPU cannot quantize it\n", dtype_name(DT));
            return;
        }
        quant_dequant_row((DType)DT, q, ref, n);
        for (int64_t u = 0; u < n / 8; u++)
            deq8<DT>(q + (size_t)(u / UPB) * BS, (int)(u % UPB), got + u * 8);
        int bad = 0;
        for (int64_t i = 0; i < n; i++)
            if (!(fabsf(got[i] - ref[i]) <= 1e-6f * fmaxf(1.0f, fabsf(ref[i])))) {
                if (bad++ < 3)
                    fprintf(stderr, "%s rep %d element %lld: device %g, cpu %g\n", dtype_name(DT), rep,
                            (long long)i, got[i], ref[i]);
            }
        CHECK_INT(bad, 0);
    }
    if (DT == CT_F32 || DT == CT_F16 || DT == CT_BF16) /* the per-element path agrees with the unit path */
        for (int64_t i = 0; i < n; i++)
            CHECK(deq1<DT>(q, i) == got[i]);
}

int main(void)
{
#define RUN(dt) check_dtype<dt>();
    CUK_FOR_EACH_DTYPE(RUN)
#undef RUN
    return test_exit();
}
