/* test-tensor.c — Tensor views and fp16/bf16 conversion against values computed by hand / NumPy. */
#include <errno.h>
#include <string.h>

#include "tensor.h"
#include "test-util.h"

int main(void)
{
    Tensor t;
    int64_t ne[3] = {256, 3, 2};
    size_t rb;

    CHECK_INT(tensor_init(&t, DTYPE_Q4_K, 3, ne, NULL), 0);
    CHECK_INT(t.nb[1], 144);
    CHECK_INT(tensor_nbytes(&t), 144 * 6);
    CHECK(tensor_is_contiguous(&t));
    CHECK_INT(tensor_nelements(&t), 256 * 6);
    CHECK_INT(dtype_row_bytes(DTYPE_Q4_K, 100, &rb), -EINVAL);
    CHECK_INT(dtype_row_bytes(DTYPE_Q8_0, 64, &rb), 0);
    CHECK_INT(rb, 68);
    CHECK(dtype_info(4) == NULL); /* retired id */
    CHECK(dtype_info(-1) == NULL);
    CHECK(dtype_info(1000) == NULL);
    CHECK(!strcmp(dtype_name(DTYPE_BF16), "BF16"));
    { int64_t big[2] = {INT64_C(1) << 40, INT64_C(1) << 40};
      CHECK_INT(tensor_init(&t, DTYPE_F32, 2, big, NULL), -EOVERFLOW); }

    /* numpy.float16 bit patterns */
    CHECK_NEAR(fp16_to_f32(0x3c00), 1.0, 0);
    CHECK_NEAR(fp16_to_f32(0xc000), -2.0, 0);
    CHECK_NEAR(fp16_to_f32(0x0001), 5.960464477539063e-08, 0);
    CHECK_NEAR(fp16_to_f32(0x7bff), 65504.0, 0);
    CHECK(isinf(fp16_to_f32(0x7c00)));
    CHECK(isnan(fp16_to_f32(0x7e00)));
    CHECK_INT(f32_to_fp16(1.0f), 0x3c00);
    CHECK_INT(f32_to_fp16(65520.0f), 0x7c00);      /* rounds to inf */
    CHECK_INT(f32_to_fp16(0.1f), 0x2e66);
    CHECK_INT(f32_to_fp16(5.960464477539063e-08f), 0x0001);
    CHECK_INT(f32_to_fp16(2.9802322387695312e-08f), 0x0000); /* ties to even → 0 */
    CHECK_INT(f32_to_fp16(-0.0f), 0x8000);
    /* every finite half round-trips */
    { int bad = 0;
      for (uint32_t h = 0; h < 0x10000; h++) {
          if ((h & 0x7c00) == 0x7c00) continue;
          if (f32_to_fp16(fp16_to_f32((uint16_t)h)) != h) bad++;
      }
      CHECK_INT(bad, 0); }
    CHECK_INT(f32_to_bf16(1.0f), 0x3f80);
    CHECK_INT(f32_to_bf16(1.00390625f), 0x3f80);   /* tie → even */
    CHECK_INT(f32_to_bf16(1.01171875f), 0x3f82);   /* tie → even (up) */
    CHECK_NEAR(bf16_to_f32(0x4049), 3.140625, 0);
    return test_exit();
}
