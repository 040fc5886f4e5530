/* onnx-build.h — a minimal protobuf / ONNX writer for tests (header-only test helper, not a library):
 * varints, tags, length-delimited fields, and ModelProto/GraphProto/NodeProto/TensorProto/ValueInfoProto
 * pieces with onnx.proto's field numbers. Enough to build valid models and, with the raw primitives,
 * precisely malformed ones. Allocation failures abort (tests only). */
#ifndef MYNA_TEST_ONNX_BUILD_H
#define MYNA_TEST_ONNX_BUILD_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *p;
    size_t n, cap;
} Pb;

static inline void pb_raw(Pb *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        size_t nc = (b->n + n) * 2 + 64;
        uint8_t *q = realloc(b->p, nc);
        if (!q)
            abort();
        b->p = q;
        b->cap = nc;
    }
    if (n)
        memcpy(b->p + b->n, d, n);
    b->n += n;
}
static inline void pb_varint(Pb *b, uint64_t v)
{
    uint8_t t[10];
    int k = 0;
    do {
        t[k] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            t[k] |= 0x80;
        k++;
    } while (v);
    pb_raw(b, t, (size_t)k);
}
static inline void pb_tag(Pb *b, uint32_t field, int wire) { pb_varint(b, (uint64_t)field << 3 | (uint64_t)wire); }
static inline void pb_int(Pb *b, uint32_t field, int64_t v) { pb_tag(b, field, 0); pb_varint(b, (uint64_t)v); }
static inline void pb_f32(Pb *b, uint32_t field, float f)
{
    pb_tag(b, field, 5);
    pb_raw(b, &f, 4);
}
static inline void pb_bytes(Pb *b, uint32_t field, const void *d, size_t n)
{
    pb_tag(b, field, 2);
    pb_varint(b, n);
    pb_raw(b, d, n);
}
static inline void pb_str(Pb *b, uint32_t field, const char *s) { pb_bytes(b, field, s, strlen(s)); }
static inline void pb_msg(Pb *b, uint32_t field, const Pb *m) { pb_bytes(b, field, m->p, m->n); }
static inline void pb_free(Pb *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* TensorProto with raw_data (dims unpacked, as protobuf-python writes them). */
static inline void ob_tensor_raw(Pb *t, const char *name, int dt, int n_dims, const int64_t *dims, const void *data,
                                 size_t nbytes)
{
    for (int i = 0; i < n_dims; i++)
        pb_int(t, 1, dims[i]);
    pb_int(t, 2, dt);
    if (name)
        pb_str(t, 8, name);
    pb_bytes(t, 9, data, nbytes);
}

/* NodeProto: inputs, outputs, name, op_type; attributes appended with ob_attr_* before pb_msg. */
static inline void ob_node(Pb *n, const char *op, const char *name, int n_in, const char *const *in, int n_out,
                           const char *const *out)
{
    for (int i = 0; i < n_in; i++)
        pb_str(n, 1, in[i]);
    for (int i = 0; i < n_out; i++)
        pb_str(n, 2, out[i]);
    if (name)
        pb_str(n, 3, name);
    pb_str(n, 4, op);
}
static inline void ob_attr_ints(Pb *node, const char *name, int n, const int64_t *v)
{
    Pb a = {0};
    pb_str(&a, 1, name);
    for (int i = 0; i < n; i++)
        pb_int(&a, 8, v[i]);
    pb_int(&a, 20, 7); /* INTS */
    pb_msg(node, 5, &a);
    pb_free(&a);
}
static inline void ob_attr_int(Pb *node, const char *name, int64_t v)
{
    Pb a = {0};
    pb_str(&a, 1, name);
    pb_int(&a, 3, v);
    pb_int(&a, 20, 2); /* INT */
    pb_msg(node, 5, &a);
    pb_free(&a);
}

/* ValueInfoProto with a tensor type; dims < 0 are symbolic ("N"). */
static inline void ob_value_info(Pb *v, const char *name, int elem_type, int n_dims, const int64_t *dims)
{
    Pb type = {0}, tt = {0}, shape = {0};
    pb_str(v, 1, name);
    pb_int(&tt, 1, elem_type);
    for (int i = 0; i < n_dims; i++) {
        Pb d = {0};
        if (dims[i] >= 0)
            pb_int(&d, 1, dims[i]);
        else
            pb_str(&d, 2, "N");
        pb_msg(&shape, 1, &d);
        pb_free(&d);
    }
    pb_msg(&tt, 2, &shape);
    pb_msg(&type, 1, &tt);
    pb_msg(v, 2, &type);
    pb_free(&type);
    pb_free(&tt);
    pb_free(&shape);
}

/* ModelProto around a GraphProto: ir_version 8, opset 15. */
static inline void ob_model(Pb *m, const Pb *graph)
{
    Pb op = {0};
    pb_int(m, 1, 8);
    pb_str(m, 2, "myna-test");
    pb_str(m, 3, "1");
    pb_msg(m, 7, graph);
    pb_str(&op, 1, "");
    pb_int(&op, 2, 15);
    pb_msg(m, 8, &op);
    pb_free(&op);
}

#endif
