/* test-onnx.c — the ONNX protobuf reader (core/onnx.h) on models built here (tests/unit/onnx-build.h).
 *
 * 1. A valid model with every supported encoding: raw_data, packed float_data / int64_data, unpacked dims
 *    and float_data, FLOAT16 in int32_data, a scalar, an empty tensor, a Constant node with a tensor
 *    attribute, Conv attributes (ints, int, float, string), graph inputs/outputs with symbolic dims, an
 *    initializer listed as a graph input (IR 3 style): every value read back, producers and consumers.
 * 2. Malformed inputs, table-driven: each must fail with the stated errno and a message naming the field
 *    and "at byte"; then every truncation of the valid model must fail cleanly (never crash or succeed).
 * --write-corpus DIR: write the valid model and every malformed one as fuzz seeds (tests/fuzz/corpus/onnx).
 * --joe: the installed en_US-joe-medium.onnx against the `onnx` package's view of it
 *    (tests/fixtures/onnx/en_US-joe-medium.tsv, tools/ref/onnx_ref.py): every initializer's name, data type,
 *    dims and FNV-1a of its element bytes, the node count, graph inputs/outputs, and each initializer's first
 *    consuming node.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "onnx-build.h"
#include "onnx.h"
#include "paths.h"
#include "tensor.h"
#include "test-util.h"

enum { DT_FLOAT = 1, DT_INT8 = 3, DT_INT32 = 6, DT_INT64 = 7, DT_STRING = 8, DT_FLOAT16 = 10 };

/* ---- the valid model ---------------------------------------------------------------------------------- */

static void graph_valid(Pb *g)
{
    Pb t = {0}, n = {0}, v = {0};
    const float w[6] = {1, 2, 3, 4, 5, 6};
    const int64_t wd[3] = {2, 3, 1}, sd[1] = {3}, ed[2] = {0, 4};

    /* raw float [2,3,1] */
    ob_tensor_raw(&t, "conv.weight", DT_FLOAT, 3, wd, w, sizeof(w));
    pb_msg(g, 5, &t);
    pb_free(&t);
    /* packed float_data [2] with unpacked dims */
    pb_int(&t, 1, 2);
    pb_int(&t, 2, DT_FLOAT);
    pb_str(&t, 8, "conv.bias");
    float fb[2] = {0.5f, -1.5f};
    pb_bytes(&t, 4, fb, sizeof(fb));
    pb_msg(g, 5, &t);
    pb_free(&t);
    /* unpacked float_data (each element its own fixed32 field) */
    pb_int(&t, 1, 3);
    pb_int(&t, 2, DT_FLOAT);
    pb_str(&t, 8, "unpacked");
    pb_f32(&t, 4, 7.0f);
    pb_f32(&t, 4, 8.0f);
    pb_f32(&t, 4, 9.0f);
    pb_msg(g, 5, &t);
    pb_free(&t);
    /* packed int64_data [3] with a packed dims field */
    Pb dims = {0}, vals = {0};
    pb_varint(&dims, 3);
    pb_bytes(&t, 1, dims.p, dims.n);
    pb_int(&t, 2, DT_INT64);
    pb_str(&t, 8, "shape");
    pb_varint(&vals, 5);
    pb_varint(&vals, (uint64_t)-1);
    pb_varint(&vals, 1ull << 40);
    pb_bytes(&t, 7, vals.p, vals.n);
    pb_msg(g, 5, &t);
    pb_free(&t);
    pb_free(&dims);
    pb_free(&vals);
    /* FLOAT16 in int32_data (bit patterns 0x3c00 = 1.0, 0xc000 = -2.0) */
    pb_int(&t, 1, 2);
    pb_int(&t, 2, DT_FLOAT16);
    pb_str(&t, 8, "half");
    pb_varint(&vals, 0x3c00);
    pb_varint(&vals, 0xc000);
    pb_bytes(&t, 5, vals.p, vals.n);
    pb_msg(g, 5, &t);
    pb_free(&t);
    pb_free(&vals);
    /* scalar (no dims) INT32 raw, and an empty [0, 4] FLOAT without data */
    int32_t s7 = -7;
    ob_tensor_raw(&t, "scalar", DT_INT32, 0, NULL, &s7, 4);
    pb_msg(g, 5, &t);
    pb_free(&t);
    pb_int(&t, 1, ed[0]);
    pb_int(&t, 1, ed[1]);
    pb_int(&t, 2, DT_FLOAT);
    pb_str(&t, 8, "empty");
    pb_msg(g, 5, &t);
    pb_free(&t);
    (void)sd;
    /* nodes: Constant (tensor attribute), Conv (ints/int/float/string attributes), Relu */
    const char *cin[] = {"x", "conv.weight", "conv.bias"}, *cout[] = {"y"}, *kout[] = {"k"};
    ob_node(&n, "Constant", "/Constant", 0, NULL, 1, kout);
    {
        Pb a = {0}, at = {0};
        float kv[1] = {3.25f};
        int64_t kd[1] = {1};
        pb_str(&a, 1, "value");
        ob_tensor_raw(&at, NULL, DT_FLOAT, 1, kd, kv, 4);
        pb_msg(&a, 5, &at);
        pb_int(&a, 20, 4);
        pb_msg(&n, 5, &a);
        pb_free(&a);
        pb_free(&at);
    }
    pb_msg(g, 1, &n);
    pb_free(&n);
    ob_node(&n, "Conv", "/conv/Conv", 3, cin, 1, cout);
    int64_t pads[2] = {1, 1}, ks[1] = {1};
    ob_attr_ints(&n, "pads", 2, pads);
    ob_attr_ints(&n, "kernel_shape", 1, ks);
    ob_attr_int(&n, "group", 1);
    {
        Pb a = {0};
        pb_str(&a, 1, "alpha");
        pb_f32(&a, 2, 0.25f);
        pb_int(&a, 20, 1);
        pb_msg(&n, 5, &a);
        pb_free(&a);
        pb_str(&a, 1, "mode");
        pb_str(&a, 4, "same");
        pb_int(&a, 20, 3);
        pb_msg(&n, 5, &a);
        pb_free(&a);
    }
    pb_msg(g, 1, &n);
    pb_free(&n);
    const char *rin[] = {"y", "k", "", "y"}, *rout[] = {"z"};
    ob_node(&n, "Mul", "", 4, rin, 1, rout);
    pb_msg(g, 1, &n);
    pb_free(&n);
    /* graph inputs: x [N, 3, 5] FLOAT and, IR-3 style, the initializer conv.weight; output z */
    int64_t xd[3] = {-1, 3, 5};
    ob_value_info(&v, "x", DT_FLOAT, 3, xd);
    pb_msg(g, 11, &v);
    pb_free(&v);
    ob_value_info(&v, "conv.weight", DT_FLOAT, 3, wd);
    pb_msg(g, 11, &v);
    pb_free(&v);
    ob_value_info(&v, "z", DT_FLOAT, 3, xd);
    pb_msg(g, 12, &v);
    pb_free(&v);
    pb_str(g, 2, "test-graph");
}

static void build_valid(Pb *m)
{
    Pb g = {0};
    graph_valid(&g);
    ob_model(m, &g);
    pb_free(&g);
}

static void test_valid(void)
{
    Pb m = {0};
    OnnxModel *om = NULL;
    char err[512] = "";

    build_valid(&m);
    int r = onnx_open_memory(m.p, m.n, &om, err, sizeof(err));
    CHECK_INT(r, 0);
    if (r < 0) {
        fprintf(stderr, "%s\n", err);
        pb_free(&m);
        return;
    }
    CHECK_INT(onnx_ir_version(om), 8);
    CHECK_INT(onnx_opset(om, ""), 15);
    CHECK_INT(onnx_opset(om, "ai.onnx"), 15);
    CHECK_INT(onnx_opset(om, "com.microsoft"), -1);
    CHECK(!strcmp(onnx_producer(om), "myna-test"));
    CHECK_INT(onnx_n_initializers(om), 7);
    CHECK_INT(onnx_n_nodes(om), 3);

    const OnnxTensor *t = onnx_find_initializer(om, "conv.weight");
    CHECK(t && t->n_dims == 3 && t->dims[0] == 2 && t->dims[1] == 3 && t->dims[2] == 1);
    CHECK(t && t->n_elements == 6 && t->nbytes == 24 && t->data_type == DT_FLOAT);
    CHECK(t && onnx_tensor_f32(t, 5) == 6.0f);
    t = onnx_find_initializer(om, "conv.bias");
    CHECK(t && t->n_elements == 2 && onnx_tensor_f32(t, 1) == -1.5f);
    t = onnx_find_initializer(om, "unpacked");
    CHECK(t && t->n_elements == 3 && onnx_tensor_f32(t, 0) == 7.0f && onnx_tensor_f32(t, 2) == 9.0f);
    t = onnx_find_initializer(om, "shape");
    CHECK(t && t->n_elements == 3 && onnx_tensor_i64(t, 0) == 5 && onnx_tensor_i64(t, 1) == -1 &&
          onnx_tensor_i64(t, 2) == (1ll << 40));
    t = onnx_find_initializer(om, "half");
    CHECK(t && t->elem_size == 2 && onnx_tensor_f32(t, 0) == 1.0f && onnx_tensor_f32(t, 1) == -2.0f);
    t = onnx_find_initializer(om, "scalar");
    CHECK(t && t->n_dims == 0 && t->n_elements == 1 && onnx_tensor_i64(t, 0) == -7);
    t = onnx_find_initializer(om, "empty");
    CHECK(t && t->n_elements == 0 && t->nbytes == 0 && t->data == NULL);
    { /* a float tensor read as int64: truncated, saturated, NaN → 0 (a bare cast would be undefined) */
        const float v[4] = {NAN, 1e30f, -1e30f, -2.75f};
        OnnxTensor ft = {.data_type = DT_FLOAT, .elem_size = 4, .n_elements = 4, .nbytes = 16, .data = v};
        CHECK(onnx_tensor_i64(&ft, 0) == 0 && onnx_tensor_i64(&ft, 1) == INT64_MAX &&
              onnx_tensor_i64(&ft, 2) == INT64_MIN && onnx_tensor_i64(&ft, 3) == -2);
    }
    CHECK(onnx_find_initializer(om, "nope") == NULL);

    const OnnxNode *cons[4];
    CHECK_INT(onnx_consumers(om, "conv.weight", cons, 4), 1);
    CHECK(!strcmp(cons[0]->op_type, "Conv") && !strcmp(cons[0]->name, "/conv/Conv") && cons[0]->n_inputs == 3);
    CHECK_INT(onnx_consumers(om, "y", cons, 4), 1); /* Mul uses y twice: listed once */
    CHECK(!strcmp(cons[0]->op_type, "Mul") && cons[0]->n_inputs == 4 && !strcmp(cons[0]->inputs[2], ""));
    CHECK_INT(onnx_consumers(om, "z", cons, 4), 0);
    CHECK_INT(onnx_consumers(om, "missing", NULL, 0), 0);
    const OnnxNode *prod = onnx_producer_of(om, "k");
    CHECK(prod && !strcmp(prod->op_type, "Constant"));
    CHECK(onnx_producer_of(om, "conv.weight") == NULL);

    const OnnxNode *conv = onnx_node(om, 1);
    const OnnxAttr *a = onnx_node_attr(conv, "pads");
    CHECK(a && a->type == 7 && a->n == 2 && a->ints[0] == 1 && a->ints[1] == 1);
    a = onnx_node_attr(conv, "group");
    CHECK(a && a->type == 2 && a->i == 1);
    a = onnx_node_attr(conv, "alpha");
    CHECK(a && a->type == 1 && a->f == 0.25f);
    a = onnx_node_attr(conv, "mode");
    CHECK(a && a->type == 3 && a->s_len == 4 && !strcmp(a->s, "same"));
    CHECK(onnx_node_attr(conv, "strides") == NULL);
    a = onnx_node_attr(onnx_node(om, 0), "value");
    CHECK(a && a->type == 4 && a->t && a->t->n_elements == 1 && onnx_tensor_f32(a->t, 0) == 3.25f);

    CHECK_INT(onnx_n_inputs(om), 1); /* conv.weight is an initializer, not an input */
    const OnnxValueInfo *x = onnx_input(om, 0);
    CHECK(x && !strcmp(x->name, "x") && x->elem_type == DT_FLOAT && x->n_dims == 3 && x->dims[0] == -1 &&
          x->dim_params[0] && !strcmp(x->dim_params[0], "N") && x->dims[2] == 5);
    CHECK(onnx_find_input(om, "x") == x && onnx_find_input(om, "conv.weight") == NULL);
    CHECK_INT(onnx_n_outputs(om), 1);
    CHECK(!strcmp(onnx_output(om, 0)->name, "z"));
    onnx_close(om);

    /* every truncation fails cleanly */
    int bad = 0;
    for (size_t cut = 0; cut < m.n; cut++) {
        om = NULL;
        r = onnx_open_memory(m.p, cut, &om, err, sizeof(err));
        if (r >= 0 || om)
            bad++;
        onnx_close(om);
    }
    CHECK_INT(bad, 0);
    pb_free(&m);
}

/* ---- malformed models ------------------------------------------------------------------------------- */

/* A model whose graph holds one initializer built by f (plus nothing else). */
typedef void (*BuildFn)(Pb *model);

static void wrap_graph(Pb *m, const Pb *g) { ob_model(m, g); }

static void wrap_init(Pb *m, const Pb *t)
{
    Pb g = {0};
    pb_msg(&g, 5, t);
    wrap_graph(m, &g);
    pb_free(&g);
}

static void b_empty(Pb *m) { (void)m; }
static void b_long_varint(Pb *m) { pb_tag(m, 1, 0); for (int i = 0; i < 11; i++) pb_raw(m, "\x80", 1); }
static void b_varint_overflow(Pb *m) { pb_tag(m, 1, 0); for (int i = 0; i < 9; i++) pb_raw(m, "\xff", 1); pb_raw(m, "\x02", 1); }
static void b_len_past_end(Pb *m) { pb_int(m, 1, 8); pb_tag(m, 7, 2); pb_varint(m, 1000); pb_raw(m, "abc", 3); }
static void b_group(Pb *m) { pb_int(m, 1, 8); pb_tag(m, 7, 3); }
static void b_wire7(Pb *m) { pb_int(m, 1, 8); pb_tag(m, 7, 7); }
static void b_field0(Pb *m) { pb_varint(m, 0 << 3 | 0); pb_varint(m, 1); }
static void b_no_ir(Pb *m) { Pb g = {0}; pb_str(&g, 2, "g"); pb_msg(m, 7, &g); pb_free(&g); }
static void b_no_graph(Pb *m) { pb_int(m, 1, 8); }
static void b_ir_new(Pb *m) { Pb g = {0}; pb_int(m, 1, 99); pb_msg(m, 7, &g); }
static void b_two_graphs(Pb *m) { Pb g = {0}; pb_int(m, 1, 8); pb_msg(m, 7, &g); pb_msg(m, 7, &g); }
static void b_ir_wire(Pb *m) { pb_str(m, 1, "eight"); }
static void b_opset0(Pb *m)
{
    Pb g = {0}, op = {0};
    pb_int(m, 1, 8);
    pb_msg(m, 7, &g);
    pb_int(&op, 2, 0);
    pb_msg(m, 8, &op);
    pb_free(&op);
}

#define TENSOR_CASE(fn, ...) \
    static void fn(Pb *m) { Pb t = {0}; __VA_ARGS__; wrap_init(m, &t); pb_free(&t); }

static const float F4[4] = {1, 2, 3, 4};
static const int64_t D2[1] = {2}, D4[1] = {4};

TENSOR_CASE(b_raw_short, ob_tensor_raw(&t, "w", DT_FLOAT, 1, D4, F4, 12))
TENSOR_CASE(b_raw_long, ob_tensor_raw(&t, "w", DT_FLOAT, 1, D2, F4, 16))
TENSOR_CASE(b_dims9, { int64_t d[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}; ob_tensor_raw(&t, "w", DT_FLOAT, 9, d, F4, 4); })
TENSOR_CASE(b_dim_neg, { int64_t d[1] = {-4}; ob_tensor_raw(&t, "w", DT_FLOAT, 1, d, F4, 16); })
TENSOR_CASE(b_dim_huge, { int64_t d[1] = {1ll << 41}; ob_tensor_raw(&t, "w", DT_FLOAT, 1, d, F4, 16); })
TENSOR_CASE(b_count_overflow, { int64_t d[3] = {1ll << 40, 1ll << 40, 1ll << 40}; ob_tensor_raw(&t, "w", DT_FLOAT, 3, d, F4, 16); })
TENSOR_CASE(b_size_overflow, { int64_t d[2] = {1ll << 40, 1ll << 22}; ob_tensor_raw(&t, "w", DT_FLOAT, 2, d, F4, 16); })
TENSOR_CASE(b_dt_string, ob_tensor_raw(&t, "w", DT_STRING, 1, D4, F4, 16))
TENSOR_CASE(b_dt_unknown, ob_tensor_raw(&t, "w", 99, 1, D4, F4, 16))
TENSOR_CASE(b_dt_missing, { pb_int(&t, 1, 4); pb_str(&t, 8, "w"); pb_bytes(&t, 9, F4, 16); })
TENSOR_CASE(b_raw_and_typed, { ob_tensor_raw(&t, "w", DT_FLOAT, 1, D4, F4, 16); pb_bytes(&t, 4, F4, 16); })
TENSOR_CASE(b_float_count, { pb_int(&t, 1, 4); pb_int(&t, 2, DT_FLOAT); pb_str(&t, 8, "w"); pb_bytes(&t, 4, F4, 12); })
TENSOR_CASE(b_float_extra, { pb_int(&t, 1, 2); pb_int(&t, 2, DT_FLOAT); pb_str(&t, 8, "w"); pb_bytes(&t, 4, F4, 16); })
TENSOR_CASE(b_packed_odd, { pb_int(&t, 1, 1); pb_int(&t, 2, DT_FLOAT); pb_str(&t, 8, "w"); pb_bytes(&t, 4, F4, 5); })
TENSOR_CASE(b_typed_mismatch, { pb_int(&t, 1, 1); pb_int(&t, 2, DT_FLOAT); pb_str(&t, 8, "w"); pb_int(&t, 7, 3); })
TENSOR_CASE(b_two_typed, { pb_int(&t, 1, 1); pb_int(&t, 2, DT_INT64); pb_str(&t, 8, "w"); pb_int(&t, 7, 3); pb_int(&t, 5, 3); })
TENSOR_CASE(b_int8_range, { pb_int(&t, 1, 1); pb_int(&t, 2, DT_INT8); pb_str(&t, 8, "w"); pb_int(&t, 5, 300); })
TENSOR_CASE(b_no_data, { pb_int(&t, 1, 4); pb_int(&t, 2, DT_FLOAT); pb_str(&t, 8, "w"); })
TENSOR_CASE(b_external, { ob_tensor_raw(&t, "w", DT_FLOAT, 1, D4, F4, 16); pb_str(&t, 13, "x"); })
TENSOR_CASE(b_location, { ob_tensor_raw(&t, "w", DT_FLOAT, 1, D4, F4, 16); pb_int(&t, 14, 1); })
TENSOR_CASE(b_segment, { ob_tensor_raw(&t, "w", DT_FLOAT, 1, D4, F4, 16); pb_str(&t, 3, ""); })
TENSOR_CASE(b_noname, ob_tensor_raw(&t, NULL, DT_FLOAT, 1, D4, F4, 16))
TENSOR_CASE(b_badutf8, ob_tensor_raw(&t, "w\xff", DT_FLOAT, 1, D4, F4, 16))
TENSOR_CASE(b_nul_name, { pb_int(&t, 1, 4); pb_int(&t, 2, DT_FLOAT); pb_bytes(&t, 8, "a\0b", 3); pb_bytes(&t, 9, F4, 16); })
TENSOR_CASE(b_name_long, { char big[5000]; memset(big, 'a', sizeof(big) - 1); big[4999] = 0; ob_tensor_raw(&t, big, DT_FLOAT, 1, D4, F4, 16); })
TENSOR_CASE(b_raw_twice, { ob_tensor_raw(&t, "w", DT_FLOAT, 1, D4, F4, 16); pb_bytes(&t, 9, F4, 16); })
TENSOR_CASE(b_inner_len, { pb_int(&t, 2, DT_FLOAT); pb_tag(&t, 9, 2); pb_varint(&t, 64); pb_raw(&t, F4, 16); })

static void b_dup_init(Pb *m)
{
    Pb g = {0}, t = {0};
    ob_tensor_raw(&t, "w", DT_FLOAT, 1, D4, F4, 16);
    pb_msg(&g, 5, &t);
    pb_msg(&g, 5, &t);
    wrap_graph(m, &g);
    pb_free(&g);
    pb_free(&t);
}

static void b_two_producers(Pb *m)
{
    Pb g = {0}, n = {0};
    const char *in[] = {"a"}, *out[] = {"b"};
    ob_node(&n, "Relu", "r1", 1, in, 1, out);
    pb_msg(&g, 1, &n);
    pb_msg(&g, 1, &n);
    wrap_graph(m, &g);
    pb_free(&g);
    pb_free(&n);
}

static void b_shadow(Pb *m)
{
    Pb g = {0}, n = {0}, t = {0};
    const char *in[] = {"a"}, *out[] = {"w"};
    ob_tensor_raw(&t, "w", DT_FLOAT, 1, D4, F4, 16);
    pb_msg(&g, 5, &t);
    ob_node(&n, "Relu", "r1", 1, in, 1, out);
    pb_msg(&g, 1, &n);
    wrap_graph(m, &g);
    pb_free(&g);
    pb_free(&n);
    pb_free(&t);
}

static void b_no_op(Pb *m)
{
    Pb g = {0}, n = {0};
    pb_str(&n, 1, "a");
    pb_str(&n, 3, "nameless-op");
    pb_msg(&g, 1, &n);
    wrap_graph(m, &g);
    pb_free(&g);
    pb_free(&n);
}

static void b_empty_output(Pb *m)
{
    Pb g = {0}, n = {0};
    const char *in[] = {"a"}, *out[] = {""};
    ob_node(&n, "Relu", "r", 1, in, 1, out);
    pb_msg(&g, 1, &n);
    wrap_graph(m, &g);
    pb_free(&g);
    pb_free(&n);
}

static void b_attr_noname(Pb *m)
{
    Pb g = {0}, n = {0}, a = {0};
    const char *in[] = {"a"}, *out[] = {"b"};
    ob_node(&n, "Relu", "r", 1, in, 1, out);
    pb_int(&a, 3, 1);
    pb_int(&a, 20, 2);
    pb_msg(&n, 5, &a);
    pb_msg(&g, 1, &n);
    wrap_graph(m, &g);
    pb_free(&g);
    pb_free(&n);
    pb_free(&a);
}

static void b_attr_dup(Pb *m)
{
    Pb g = {0}, n = {0};
    const char *in[] = {"a"}, *out[] = {"b"};
    ob_node(&n, "Relu", "r", 1, in, 1, out);
    ob_attr_int(&n, "axis", 1);
    ob_attr_int(&n, "axis", 2);
    pb_msg(&g, 1, &n);
    wrap_graph(m, &g);
    pb_free(&g);
    pb_free(&n);
}

static void b_attr_type(Pb *m)
{
    Pb g = {0}, n = {0}, a = {0};
    const char *in[] = {"a"}, *out[] = {"b"};
    ob_node(&n, "Relu", "r", 1, in, 1, out);
    pb_str(&a, 1, "x");
    pb_int(&a, 20, 77);
    pb_msg(&n, 5, &a);
    pb_msg(&g, 1, &n);
    wrap_graph(m, &g);
    pb_free(&g);
    pb_free(&n);
    pb_free(&a);
}

static void b_attr_f_wire(Pb *m)
{
    Pb g = {0}, n = {0}, a = {0};
    const char *in[] = {"a"}, *out[] = {"b"};
    ob_node(&n, "Relu", "r", 1, in, 1, out);
    pb_str(&a, 1, "alpha");
    pb_int(&a, 2, 5); /* f as a varint */
    pb_msg(&n, 5, &a);
    pb_msg(&g, 1, &n);
    wrap_graph(m, &g);
    pb_free(&g);
    pb_free(&n);
    pb_free(&a);
}

static void b_tensor_attr_bad(Pb *m)
{
    Pb g = {0}, n = {0}, a = {0}, t = {0};
    const char *out[] = {"b"};
    ob_node(&n, "Constant", "c", 0, NULL, 1, out);
    pb_str(&a, 1, "value");
    ob_tensor_raw(&t, NULL, DT_FLOAT, 1, D4, F4, 8);
    pb_msg(&a, 5, &t);
    pb_int(&a, 20, 4);
    pb_msg(&n, 5, &a);
    pb_msg(&g, 1, &n);
    wrap_graph(m, &g);
    pb_free(&g);
    pb_free(&n);
    pb_free(&a);
    pb_free(&t);
}

static void b_vi_dims9(Pb *m)
{
    Pb g = {0}, v = {0};
    int64_t d[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    ob_value_info(&v, "x", DT_FLOAT, 9, d);
    pb_msg(&g, 11, &v);
    wrap_graph(m, &g);
    pb_free(&g);
    pb_free(&v);
}

static void b_vi_noname(Pb *m)
{
    Pb g = {0}, v = {0};
    int64_t d[1] = {1};
    ob_value_info(&v, "x", DT_FLOAT, 1, d);
    /* drop the name: the first field is "x" (1 tag + 1 len + 1 byte) */
    Pb v2 = {0};
    pb_raw(&v2, v.p + 3, v.n - 3);
    pb_msg(&g, 11, &v2);
    wrap_graph(m, &g);
    pb_free(&g);
    pb_free(&v);
    pb_free(&v2);
}

static void b_sparse(Pb *m)
{
    Pb g = {0}, s = {0};
    pb_msg(&g, 15, &s);
    wrap_graph(m, &g);
    pb_free(&g);
}

static void b_node_trunc(Pb *m)
{
    Pb g = {0};
    pb_tag(&g, 1, 2);
    pb_varint(&g, 3);
    pb_tag(&g, 4, 2); /* op_type: length byte missing inside the 3-byte node */
    pb_raw(&g, "\x09", 1);
    pb_raw(&g, "X", 1);
    wrap_graph(m, &g);
    pb_free(&g);
}

static const struct {
    const char *what;
    BuildFn build;
    int code;
    const char *needle;
} CASES[] = {
    {"empty file", b_empty, -EBADMSG, "empty"},
    {"varint of 11 bytes", b_long_varint, -EBADMSG, "overflows 64 bits"},
    {"varint overflowing 64 bits", b_varint_overflow, -EBADMSG, "overflows 64 bits"},
    {"length past the end", b_len_past_end, -EBADMSG, "past the end"},
    {"group wire type", b_group, -EBADMSG, "group"},
    {"wire type 7", b_wire7, -EBADMSG, "invalid wire type"},
    {"field number 0", b_field0, -EBADMSG, "field number"},
    {"no ir_version", b_no_ir, -EBADMSG, "ir_version"},
    {"no graph", b_no_graph, -EBADMSG, "no graph"},
    {"ir_version 99", b_ir_new, -ENOTSUP, "ir_version 99"},
    {"graph twice", b_two_graphs, -EBADMSG, "twice"},
    {"ir_version as a string", b_ir_wire, -EBADMSG, "wire type"},
    {"opset version 0", b_opset0, -EBADMSG, "opset version"},
    {"raw_data too short", b_raw_short, -EBADMSG, "raw_data has 12 bytes"},
    {"raw_data too long", b_raw_long, -EBADMSG, "raw_data has 16 bytes"},
    {"9 dims", b_dims9, -EBADMSG, "dims has more than 8"},
    {"negative dim", b_dim_neg, -EBADMSG, "out of range"},
    {"dim over 2^40", b_dim_huge, -EBADMSG, "out of range"},
    {"element count overflow", b_count_overflow, -EOVERFLOW, "overflows"},
    {"byte size overflow", b_size_overflow, -EOVERFLOW, "overflow"},
    {"STRING tensor", b_dt_string, -ENOTSUP, "STRING"},
    {"unknown data_type", b_dt_unknown, -EBADMSG, "data_type 99"},
    {"missing data_type", b_dt_missing, -EBADMSG, "data_type is missing"},
    {"raw_data and float_data", b_raw_and_typed, -EBADMSG, "both raw_data"},
    {"float_data short", b_float_count, -EBADMSG, "float_data has 3 elements"},
    {"float_data long", b_float_extra, -EBADMSG, "float_data has more than 2"},
    {"packed length not a multiple of 4", b_packed_odd, -EBADMSG, "multiple of 4"},
    {"int64_data for FLOAT", b_typed_mismatch, -EBADMSG, "int64_data given for a FLOAT"},
    {"two typed fields", b_two_typed, -EBADMSG, "more than one typed"},
    {"int32_data out of INT8 range", b_int8_range, -EBADMSG, "out of range for INT8"},
    {"elements without data", b_no_data, -EBADMSG, "no raw_data"},
    {"external data", b_external, -ENOTSUP, "external"},
    {"data_location external", b_location, -ENOTSUP, "data_location"},
    {"segment", b_segment, -ENOTSUP, "segmented"},
    {"initializer without a name", b_noname, -EBADMSG, "name"},
    {"name not UTF-8", b_badutf8, -EBADMSG, "UTF-8"},
    {"name with NUL", b_nul_name, -EBADMSG, "UTF-8 without NUL"},
    {"name of 4999 bytes", b_name_long, -E2BIG, "longer than the limit"},
    {"raw_data twice", b_raw_twice, -EBADMSG, "raw_data appears twice"},
    {"raw_data length past its tensor", b_inner_len, -EBADMSG, "past the end of its message"},
    {"duplicate initializer", b_dup_init, -EBADMSG, "duplicate name"},
    {"value produced twice", b_two_producers, -EBADMSG, "already produced"},
    {"node output shadows an initializer", b_shadow, -EBADMSG, "already initializer"},
    {"node without op_type", b_no_op, -EBADMSG, "op_type"},
    {"empty output name", b_empty_output, -EBADMSG, "output is empty"},
    {"attribute without a name", b_attr_noname, -EBADMSG, "without a name"},
    {"duplicate attribute", b_attr_dup, -EBADMSG, "appears twice"},
    {"unknown attribute type", b_attr_type, -EBADMSG, "unknown attribute type"},
    {"float attribute as varint", b_attr_f_wire, -EBADMSG, "wire type varint, expected fixed32"},
    {"bad tensor in an attribute", b_tensor_attr_bad, -EBADMSG, "raw_data has 8 bytes"},
    {"value info with 9 dims", b_vi_dims9, -EBADMSG, "more than 8 dims"},
    {"value info without a name", b_vi_noname, -EBADMSG, "without a name"},
    {"sparse initializer", b_sparse, -ENOTSUP, "sparse"},
    {"field truncated inside a node", b_node_trunc, -EBADMSG, "past the end"},
};

static void test_malformed(void)
{
    for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
        Pb m = {0};
        OnnxModel *om = NULL;
        char err[512] = "";
        CASES[i].build(&m);
        int r = onnx_open_memory(m.p ? m.p : (const void *)"", m.n, &om, err, sizeof(err));
        g_test_checks++;
        if (r != CASES[i].code || om || !strstr(err, CASES[i].needle) || !strstr(err, "at byte")) {
            g_test_failures++;
            fprintf(stderr, "case '%s': r = %d (expected %d), err '%s' (expected to contain '%s' and a byte offset)\n",
                    CASES[i].what, r, CASES[i].code, err, CASES[i].needle);
        }
        onnx_close(om);
        pb_free(&m);
    }
    fprintf(stderr, "%zu malformed models rejected as expected\n", sizeof(CASES) / sizeof(CASES[0]));
}

static uint64_t fnv1a64(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static int test_joe(void)
{
    char path[4096], fix[1024], err[512], line[1024];
    OnnxModel *m = NULL;

    if (paths_model_file("en_US-joe-medium.onnx", path, sizeof(path)) < 0 || access(path, R_OK) != 0) {
        fprintf(stderr, "en_US-joe-medium.onnx not installed (scripts/fetch-models): skipped\n");
        return 77;
    }
    int r = onnx_open(path, &m, err, sizeof(err));
    CHECK_INT(r, 0);
    if (r < 0) {
        fprintf(stderr, "%s\n", err);
        return test_exit();
    }
    FILE *fp = fopen(test_fixture_path(fix, sizeof(fix), "onnx", "en_US-joe-medium.tsv"), "r");
    CHECK(fp != NULL);
    int64_t i = 0;
    int bad = 0;
    while (fp && fgets(line, sizeof(line), fp)) {
        line[strcspn(line, "\n")] = 0;
        if (line[0] == '#') {
            char want[512];
            snprintf(want, sizeof(want), "# model\tir %lld\topset %lld\tnodes %lld\tinitializers %lld\tinputs "
                     "input,input_lengths,scales\toutputs output", (long long)onnx_ir_version(m),
                     (long long)onnx_opset(m, ""), (long long)onnx_n_nodes(m), (long long)onnx_n_initializers(m));
            CHECK(!strcmp(line, want));
            CHECK_INT(onnx_n_inputs(m), 3);
            CHECK(!strcmp(onnx_input(m, 0)->name, "input") && !strcmp(onnx_input(m, 2)->name, "scales"));
            continue;
        }
        const OnnxTensor *t = onnx_initializer(m, i++);
        char dims[128] = "";
        size_t o = 0;
        for (int d = 0; t && d < t->n_dims; d++)
            o += (size_t)snprintf(dims + o, sizeof(dims) - o, "%s%lld", d ? "x" : "", (long long)t->dims[d]);
        const OnnxNode *c[1];
        int nc = t ? onnx_consumers(m, t->name, c, 1) : 0;
        char got[1024];
        snprintf(got, sizeof(got), "%s\t%d\t%s\t%016llx\t%s\t%s", t ? t->name : "?", t ? t->data_type : 0,
                 t && t->n_dims ? dims : "scalar",
                 t ? (unsigned long long)fnv1a64(t->data, t->nbytes) : 0ull, nc ? c[0]->op_type : "-",
                 nc ? (c[0]->name[0] ? c[0]->name : "-") : "-");
        if (strcmp(got, line)) {
            if (bad++ < 5)
                fprintf(stderr, "initializer %lld: got '%s', onnx says '%s'\n", (long long)i - 1, got, line);
        }
    }
    if (fp)
        fclose(fp);
    CHECK_INT(bad, 0);
    CHECK_INT(i, onnx_n_initializers(m));
    fprintf(stderr, "%lld initializers identical to the onnx package's\n", (long long)i);
    onnx_close(m);
    return test_exit();
}

static int write_corpus(const char *dir)
{
    char path[1024];
    for (size_t i = 0; i <= sizeof(CASES) / sizeof(CASES[0]); i++) {
        Pb m = {0};
        if (i == 0)
            build_valid(&m);
        else
            CASES[i - 1].build(&m);
        snprintf(path, sizeof(path), "%s/onnx-%02zu", dir, i);
        FILE *fp = fopen(path, "wb");
        if (!fp || fwrite(m.p ? (const void *)m.p : "", 1, m.n, fp) != m.n)
            fprintf(stderr, "cannot write %s\n", path);
        if (fp)
            fclose(fp);
        pb_free(&m);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 2 && !strcmp(argv[1], "--write-corpus"))
        return write_corpus(argv[2]);
    if (argc > 1 && !strcmp(argv[1], "--joe"))
        return test_joe();
    test_valid();
    test_malformed();
    onnx_close(NULL);
    return test_exit();
}
