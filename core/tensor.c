/* tensor.c — Tensor views and half-precision conversion. Quantized block math lives in quant.c. */
#include "tensor.h"

#include "quant.h"

#include <errno.h>
#include <string.h>

static const DTypeInfo g_dtypes[DTYPE_COUNT] = {
    [DTYPE_F32] = {"F32", 1, 4, 1},     [DTYPE_F16] = {"F16", 1, 2, 1},
    [DTYPE_Q4_0] = {"Q4_0", 32, 18, 1}, [DTYPE_Q4_1] = {"Q4_1", 32, 20, 1},
    [DTYPE_Q5_0] = {"Q5_0", 32, 22, 1}, [DTYPE_Q5_1] = {"Q5_1", 32, 24, 1},
    [DTYPE_Q8_0] = {"Q8_0", 32, 34, 1}, [DTYPE_Q8_1] = {"Q8_1", 32, 36, 0},
    [DTYPE_Q2_K] = {"Q2_K", 256, 84, 0}, [DTYPE_Q3_K] = {"Q3_K", 256, 110, 0},
    [DTYPE_Q4_K] = {"Q4_K", 256, 144, 1}, [DTYPE_Q5_K] = {"Q5_K", 256, 176, 1},
    [DTYPE_Q6_K] = {"Q6_K", 256, 210, 1}, [DTYPE_Q8_K] = {"Q8_K", 256, 292, 0},
    [16] = {"IQ2_XXS", 256, 66, 0},       [17] = {"IQ2_XS", 256, 74, 0},
    [18] = {"IQ3_XXS", 256, 98, 0},       [19] = {"IQ1_S", 256, 50, 0},
    [20] = {"IQ4_NL", 32, 18, 0},         [21] = {"IQ3_S", 256, 110, 0},
    [22] = {"IQ2_S", 256, 82, 0},         [23] = {"IQ4_XS", 256, 136, 0},
    [DTYPE_I8] = {"I8", 1, 1, 0},         [DTYPE_I16] = {"I16", 1, 2, 0},
    [DTYPE_I32] = {"I32", 1, 4, 0},       [DTYPE_I64] = {"I64", 1, 8, 0},
    [DTYPE_F64] = {"F64", 1, 8, 0},       [29] = {"IQ1_M", 256, 56, 0},
    [DTYPE_BF16] = {"BF16", 1, 2, 1},     [34] = {"TQ1_0", 256, 54, 0},
    [35] = {"TQ2_0", 256, 66, 0},         [39] = {"MXFP4", 32, 17, 0},
};

const DTypeInfo *dtype_info(int dtype)
{
    if (dtype < 0 || dtype >= DTYPE_COUNT || !g_dtypes[dtype].name)
        return NULL;
    return &g_dtypes[dtype];
}

const char *dtype_name(int dtype)
{
    const DTypeInfo *i = dtype_info(dtype);
    return i ? i->name : "?";
}

int dtype_row_bytes(DType dt, int64_t n, size_t *ret)
{
    const DTypeInfo *i = dtype_info(dt);
    uint64_t blocks;

    if (!i || n < 0 || n % i->block)
        return -EINVAL;
    blocks = (uint64_t)n / (uint64_t)i->block;
    if (blocks > SIZE_MAX / (uint64_t)i->type_size)
        return -EOVERFLOW;
    *ret = (size_t)(blocks * (uint64_t)i->type_size);
    return 0;
}

int tensor_init(Tensor *t, DType dt, int n_dims, const int64_t *ne, void *data)
{
    const DTypeInfo *info = dtype_info(dt);
    size_t row;
    int r;

    if (!info || n_dims < 1 || n_dims > TENSOR_MAX_DIMS)
        return -EINVAL;
    memset(t, 0, sizeof(*t));
    t->dtype = dt;
    t->n_dims = n_dims;
    for (int d = 0; d < TENSOR_MAX_DIMS; d++) {
        t->ne[d] = d < n_dims ? ne[d] : 1;
        if (t->ne[d] < 0)
            return -EINVAL;
    }
    r = dtype_row_bytes(dt, t->ne[0], &row);
    if (r < 0)
        return r;
    t->nb[0] = (size_t)info->type_size;
    t->nb[1] = row;
    for (int d = 2; d < TENSOR_MAX_DIMS; d++) {
        if (t->ne[d - 1] && t->nb[d - 1] > SIZE_MAX / (size_t)t->ne[d - 1])
            return -EOVERFLOW;
        t->nb[d] = t->nb[d - 1] * (size_t)t->ne[d - 1];
    }
    if (t->ne[3] && t->nb[3] > SIZE_MAX / (size_t)t->ne[3])
        return -EOVERFLOW;
    t->data = data;
    return 0;
}

int64_t tensor_nelements(const Tensor *t)
{
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

size_t tensor_nbytes(const Tensor *t)
{
    return t->nb[3] * (size_t)t->ne[3];
}

int tensor_is_contiguous(const Tensor *t)
{
    size_t row;
    if (dtype_row_bytes(t->dtype, t->ne[0], &row) < 0 || t->nb[1] != row)
        return 0;
    return t->nb[2] == t->nb[1] * (size_t)t->ne[1] && t->nb[3] == t->nb[2] * (size_t)t->ne[2];
}

Tensor tensor_rows(const Tensor *t, int64_t r0, int64_t n)
{
    Tensor v = *t;
    int d = t->n_dims - 1;
    if (d < 1)
        d = 1;
    v.ne[d] = n;
    v.data = (char *)t->data + (size_t)r0 * t->nb[d];
    if (v.n_dims < 2)
        v.n_dims = 2;
    for (int k = d + 1; k < TENSOR_MAX_DIMS; k++)
        v.nb[k] = v.nb[k - 1] * (size_t)v.ne[k - 1];
    return v;
}

Tensor tensor_view(const Tensor *t, size_t off, int64_t ne0, int64_t ne1, int64_t ne2)
{
    Tensor v;
    int64_t ne[3] = {ne0, ne1, ne2};
    const DTypeInfo *info = dtype_info(t->dtype);

    tensor_init(&v, t->dtype, ne2 > 1 ? 3 : 2, ne, (char *)t->data + off * (size_t)(info ? info->type_size : 0));
    v.mem = t->mem;
    return v;
}

Tensor tensor_view_strided(const Tensor *t, size_t off, int64_t ne0, int64_t ne1, size_t row)
{
    Tensor v = tensor_view(t, off, ne0, ne1, 1);

    v.nb[1] = row * v.nb[0];
    v.nb[2] = v.nb[3] = v.nb[1] * (size_t)ne1;
    return v;
}

int tensor_to_f32(const Tensor *t, float *dst)
{
    const DTypeInfo *info = dtype_info(t->dtype);
    int64_t rows = t->ne[1] * t->ne[2] * t->ne[3];

    if (!info || !info->supported)
        return -ENOTSUP;
    for (int64_t r = 0; r < rows; r++)
        quant_dequant_row(t->dtype, (const char *)t->data + (size_t)r * t->nb[1], dst + r * t->ne[0], t->ne[0]);
    return 0;
}

float fp16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    float f;

    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t f32_to_fp16(float f)
{
    uint32_t x, sign, man;
    int32_t exp;

    memcpy(&x, &f, 4);
    sign = (x >> 16) & 0x8000;
    exp = (int32_t)((x >> 23) & 0xff);
    man = x & 0x7fffff;
    if (exp == 0xff) /* inf / nan */
        return (uint16_t)(sign | 0x7c00 | (man ? 0x200 | (man >> 13) : 0));
    exp = exp - 127 + 15;
    if (exp >= 31)
        return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) { /* subnormal or zero in half precision */
        uint32_t shift, m, half, rem;
        if (exp < -10)
            return (uint16_t)sign;
        m = man | 0x800000;
        shift = (uint32_t)(14 - exp);
        half = 1u << (shift - 1);
        rem = m & ((1u << shift) - 1);
        m >>= shift;
        if (rem > half || (rem == half && (m & 1)))
            m++;
        return (uint16_t)(sign | m);
    }
    {
        uint32_t h = sign | ((uint32_t)exp << 10) | (man >> 13), rem = man & 0x1fff;
        if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
            h++; /* may carry into the exponent, which is correct rounding */
        return (uint16_t)h;
    }
}

float bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000)
        return (uint16_t)((x >> 16) | 0x40); /* quiet nan */
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}
