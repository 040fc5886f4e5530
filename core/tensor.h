/* tensor.h — dtypes and the Tensor view shared by every module.
 *
 * Shape alphabet (used in shape comments everywhere): B batch, T tokens, S cached positions, C model dim,
 * V vocab, L layers, NH heads, NKV kv-heads, HD head dim, P patches, F audio frames, M mel bins,
 * K inner (reduced) dim of a matmul, N output dim of a matmul.
 *
 * Dimension order is ggml's: ne[0] is the innermost, contiguous dimension. A shape comment is written
 * innermost first, e.g. `x: [C, T]` means T rows of C floats (PyTorch shape [T, C]). Weight matrices are
 * `w: [K, N]` = N rows of K (PyTorch nn.Linear [N, K]); matmul computes y[t][n] = sum_k w[n][k] * x[t][k],
 * i.e. y = x · wᵀ — the weight operand is the transposed one.
 *
 * DType values are the ggml_type ids (SPEC.md §1.4) so GGUF tensor types map 1:1.
 */
#ifndef MYNA_TENSOR_H
#define MYNA_TENSOR_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    DTYPE_F32 = 0,
    DTYPE_F16 = 1,
    DTYPE_Q4_0 = 2,
    DTYPE_Q4_1 = 3,
    DTYPE_Q5_0 = 6,
    DTYPE_Q5_1 = 7,
    DTYPE_Q8_0 = 8,
    DTYPE_Q8_1 = 9,
    DTYPE_Q2_K = 10,
    DTYPE_Q3_K = 11,
    DTYPE_Q4_K = 12,
    DTYPE_Q5_K = 13,
    DTYPE_Q6_K = 14,
    DTYPE_Q8_K = 15,
    DTYPE_I8 = 24,
    DTYPE_I16 = 25,
    DTYPE_I32 = 26,
    DTYPE_I64 = 27,
    DTYPE_F64 = 28,
    DTYPE_BF16 = 30,
    DTYPE_COUNT = 43, /* one past the largest id we know the name of */
} DType;

typedef struct {
    const char *name;   /* "Q4_K" */
    int block;          /* elements per block (1 for plain types) */
    int type_size;      /* bytes per block */
    int supported;      /* 1 if Myna can dequantize / compute with it */
} DTypeInfo;

/* NULL for ids that are not ggml types at all (retired or out of range). */
const DTypeInfo *dtype_info(int dtype);
const char *dtype_name(int dtype); /* "?" when unknown */

/* Bytes of n elements of one row; -EINVAL if n is not a multiple of the block, -EOVERFLOW on overflow. */
int dtype_row_bytes(DType dt, int64_t n, size_t *ret);

enum { TENSOR_MAX_DIMS = 4 };

typedef enum { MEM_HOST = 0, MEM_DEVICE = 1 } MemKind;

typedef struct {
    DType dtype;
    int n_dims;
    int64_t ne[TENSOR_MAX_DIMS]; /* elements per dim, ne[0] innermost; unused dims are 1 */
    size_t nb[TENSOR_MAX_DIMS];  /* byte strides; nb[0] = type_size (per block for quantized) */
    void *data;                  /* borrowed; host or device memory as `mem` says */
    MemKind mem;
    const char *name;            /* borrowed, may be NULL */
} Tensor;

/* Initialise a contiguous tensor view over `data` (borrowed). Returns -EINVAL / -EOVERFLOW. */
int tensor_init(Tensor *t, DType dt, int n_dims, const int64_t *ne, void *data);
int64_t tensor_nelements(const Tensor *t);
size_t tensor_nbytes(const Tensor *t);      /* bytes spanned by a contiguous tensor */
int tensor_is_contiguous(const Tensor *t);
/* Views share t's memory and mem kind; none checks bounds (callers slice buffers they sized).
 * Rows [r0, r0+n) along the outermost used dim (at least dim 1); the strides above it are recomputed so a
 * view of the first n rows of a larger contiguous buffer is itself contiguous. */
Tensor tensor_rows(const Tensor *t, int64_t r0, int64_t n);
/* Contiguous [ne0, ne1, ne2] view (2-D when ne2 <= 1) starting `off` elements into t (plain dtypes). */
Tensor tensor_view(const Tensor *t, size_t off, int64_t ne0, int64_t ne1, int64_t ne2);
/* [ne0, ne1] view starting `off` elements into t whose rows are `row` elements apart (plain dtypes). */
Tensor tensor_view_strided(const Tensor *t, size_t off, int64_t ne0, int64_t ne1, size_t row);
/* F32 copy of a contiguous host tensor (F32, F16, BF16 or a supported quantized type): the one conversion
 * loop for weights. -ENOTSUP for other dtypes (integers). */
int tensor_to_f32(const Tensor *t, float *dst);

/* Half-precision helpers (IEEE binary16 and bfloat16), exact round-to-nearest-even. */
float fp16_to_f32(uint16_t h);
uint16_t f32_to_fp16(float f);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);

#endif
