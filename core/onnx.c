/* onnx.c — validating ONNX protobuf reader (onnx.h). Wire format: protobuf encoding docs; schema:
 * onnx/onnx.proto (read for field numbers; this is an independent implementation).
 *
 * What it is: a single pass over each message through a cursor bounded by the message's own end, so no read
 * can leave the enclosing length-delimited field, let alone the file. Repeated numeric fields (dims, ints,
 * floats, the typed tensor fields) are accepted packed or unpacked: the first pass only skips them, then a
 * counting scan and a filling scan of the same (already bounds-checked) message decode them. Unknown fields
 * are skipped by wire type, as protobuf requires. The wire primitives live in onnx-wire.c, the name index
 * and the accessors in onnx-index.c.
 *
 * Limits and decisions (each rejection names the field and the byte offset):
 *   varint                 ≤ 10 bytes, the 10th ≤ 1; a length ≤ the bytes left in the enclosing message
 *   wire types             0, 1, 2, 5; groups (3, 4) and 6, 7 are malformed
 *   field numbers          1 .. 2^29-1
 *   nesting                ≤ ONNX_MAX_DEPTH messages; subgraphs (If/Loop bodies) are skipped, not parsed
 *   names                  initializer names and op_type 1..4096 bytes, node names/inputs 0..4096; UTF-8,
 *                          no NUL; initializer names unique; every value produced at most once (SSA)
 *   tensor dtypes          FLOAT FLOAT16 BFLOAT16 DOUBLE INT8 UINT8 INT16 INT32 INT64 BOOL; others -ENOTSUP
 *   tensor dims            ≤ 8, each 0 .. 2^40; the element count × size must not overflow and must equal the
 *                          stored bytes (raw_data length or typed element count); one data field only;
 *                          int32_data values in range of the dtype; external data / segments -ENOTSUP
 *   decoded typed data     ≤ 256 MiB in total (int64 varints can decode to 8× their size)
 *   counts                 nodes, initializers ≤ 2^20; inputs/outputs of a node ≤ 4096; attributes ≤ 1024
 *   model                  ir_version 1..11, exactly one graph, an opset_import for the default domain
 * Error codes: -EBADMSG malformed; -ENOTSUP valid but unsupported; -E2BIG over a cap; -ENOMEM; -errno from
 * open/fstat/mmap. Little-endian hosts only (raw_data is little-endian and returned in place).
 */
#include "onnx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf-internal.h" /* gguf_utf8_valid */
#include "log.h"
#include "onnx-internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "onnx.c returns raw_data in place and assumes a little-endian host"
#endif

#define MAX_DIM ((int64_t)1 << 40)

/* ---- TensorProto ------------------------------------------------------------------------------------ */

int onnx_dtype_size(int dt)
{
    switch (dt) {
    case ONNX_DT_FLOAT: case ONNX_DT_INT32: return 4;
    case ONNX_DT_UINT8: case ONNX_DT_INT8: case ONNX_DT_BOOL: return 1;
    case ONNX_DT_INT16: case ONNX_DT_FLOAT16: case ONNX_DT_BFLOAT16: return 2;
    case ONNX_DT_INT64: case ONNX_DT_DOUBLE: return 8;
    default: return 0; /* not accepted */
    }
}

/* int32_data carries every type of 4 bytes or less; check each value fits the dtype, then narrow. */
static int narrow_int32(P *p, const Scope *s, size_t at, OnnxTensor *t, const int64_t *v, int64_t n, void *dst)
{
    int64_t lo, hi;

    switch (t->data_type) {
    case ONNX_DT_INT32: lo = INT32_MIN; hi = INT32_MAX; break;
    case ONNX_DT_INT16: lo = INT16_MIN; hi = INT16_MAX; break;
    case ONNX_DT_INT8: lo = INT8_MIN; hi = INT8_MAX; break;
    case ONNX_DT_UINT8: lo = 0; hi = UINT8_MAX; break;
    case ONNX_DT_BOOL: lo = 0; hi = 1; break;
    default: lo = 0; hi = UINT16_MAX; break; /* FLOAT16 / BFLOAT16 bit patterns */
    }
    for (int64_t i = 0; i < n; i++) {
        if (v[i] < lo || v[i] > hi)
            return onnx_fail(p, s, -EBADMSG, at, "int32_data[%lld] = %lld is out of range for %s", (long long)i,
                        (long long)v[i], onnx_dtype_name(t->data_type));
        switch (t->elem_size) {
        case 4: { int32_t x = (int32_t)v[i]; memcpy((char *)dst + 4 * i, &x, 4); break; }
        case 2: { uint16_t x = (uint16_t)v[i]; memcpy((char *)dst + 2 * i, &x, 2); break; }
        default: ((uint8_t *)dst)[i] = (uint8_t)v[i]; break;
        }
    }
    return 0;
}

static int parse_tensor(P *p, const Scope *up, Cur c, const char *what, int64_t index, int need_name, OnnxTensor *t)
{
    Scope s = {up, what, index, NULL};
    Cur msg = c;
    size_t raw_at = 0, raw_len = 0;
    int has_raw = 0, has_dt = 0, typed = 0, typed_field = 0;
    int64_t dt = 0;
    uint32_t f;
    int wire, r;

    memset(t, 0, sizeof(*t));
    t->at = c.pos;
    t->name = "";
    if (c.depth > ONNX_MAX_DEPTH)
        return onnx_fail(p, &s, -EBADMSG, c.pos, "messages nested deeper than %d", ONNX_MAX_DEPTH);
    while (c.pos < c.end) {
        size_t at = c.pos;
        if ((r = onnx_rd_tag(p, &s, &c, &f, &wire)) < 0)
            return r;
        switch (f) {
        case 2: /* data_type */
            if ((r = onnx_rd_int(p, &s, &c, wire, "data_type", &dt)) < 0)
                return r;
            has_dt = 1;
            break;
        case 8: /* name */
            if ((r = onnx_rd_str(p, &s, &c, wire, "name", need_name, 1, &t->name, NULL)) < 0)
                return r;
            s.name = t->name;
            break;
        case 9: { /* raw_data */
            Cur sub;
            if ((r = onnx_want_wire(p, &s, at, wire, WIRE_LEN, "raw_data")) < 0 ||
                (r = onnx_rd_len(p, &s, &c, &sub, "raw_data")) < 0)
                return r;
            if (has_raw)
                return onnx_fail(p, &s, -EBADMSG, at, "raw_data appears twice");
            has_raw = 1;
            raw_at = sub.pos;
            raw_len = sub.end - sub.pos;
            break;
        }
        case 1: case 4: case 5: case 7: case 10: case 11: /* dims and typed data: decoded after the walk */
            if (f != 1) {
                if (typed && typed_field != (int)f)
                    return onnx_fail(p, &s, -EBADMSG, at, "more than one typed data field (%d and %u)", typed_field, f);
                typed = 1;
                typed_field = (int)f;
            }
            if ((r = onnx_skip(p, &s, &c, wire, f)) < 0)
                return r;
            break;
        case 3: return onnx_fail(p, &s, -ENOTSUP, at, "segmented tensors are not supported");
        case 6: return onnx_fail(p, &s, -ENOTSUP, at, "string tensors are not supported");
        case 13: return onnx_fail(p, &s, -ENOTSUP, at, "external data is not supported (the weights must be inside the .onnx)");
        case 14: {
            int64_t loc;
            if ((r = onnx_rd_int(p, &s, &c, wire, "data_location", &loc)) < 0)
                return r;
            if (loc != 0)
                return onnx_fail(p, &s, -ENOTSUP, at, "data_location %lld (external) is not supported", (long long)loc);
            break;
        }
        default:
            if ((r = onnx_skip(p, &s, &c, wire, f)) < 0)
                return r;
        }
    }
    if (need_name && !t->name[0])
        return onnx_fail(p, &s, -EBADMSG, msg.pos, "initializer without a name");
    /* dims */
    void *dims;
    int64_t n_dims;
    if ((r = onnx_rep_read(p, &s, msg, 1, K_VARINT, ONNX_MAX_DIMS, &dims, &n_dims, "dims")) < 0)
        return r;
    t->n_dims = (int)n_dims;
    int64_t count = 1;
    int zero = 0;
    for (int i = 0; i < t->n_dims; i++) {
        int64_t d = ((int64_t *)dims)[i];
        if (d < 0 || d > MAX_DIM)
            return onnx_fail(p, &s, -EBADMSG, msg.pos, "dims[%d] = %lld out of range 0..2^40", i, (long long)d);
        t->dims[i] = d;
        if (!d)
            zero = 1;
        else if (count > INT64_MAX / d)
            return onnx_fail(p, &s, -EOVERFLOW, msg.pos, "element count overflows (dims[%d] = %lld)", i, (long long)d);
        else
            count *= d;
    }
    if (zero)
        count = 0;
    if (!has_dt || dt == ONNX_DT_UNDEFINED)
        return onnx_fail(p, &s, -EBADMSG, msg.pos, "data_type is missing");
    t->data_type = (int)dt;
    t->elem_size = onnx_dtype_size((int)dt);
    if (!t->elem_size)
        return onnx_fail(p, &s, dt > 0 && dt <= 23 ? -ENOTSUP : -EBADMSG, msg.pos, "data_type %lld (%s) is not supported",
                    (long long)dt, onnx_dtype_name((int)dt));
    if ((uint64_t)count > SIZE_MAX / (uint64_t)t->elem_size)
        return onnx_fail(p, &s, -EOVERFLOW, msg.pos, "%lld elements of %s overflow a byte size", (long long)count,
                    onnx_dtype_name(t->data_type));
    t->n_elements = count;
    t->nbytes = (size_t)count * (size_t)t->elem_size;
    if (has_raw && typed)
        return onnx_fail(p, &s, -EBADMSG, raw_at, "both raw_data and a typed data field");
    if (has_raw) {
        if (raw_len != t->nbytes)
            return onnx_fail(p, &s, -EBADMSG, raw_at, "raw_data has %zu bytes, %lld elements of %s need %zu", raw_len,
                        (long long)count, onnx_dtype_name(t->data_type), t->nbytes);
        t->data = raw_len ? p->m->base + raw_at : NULL;
        return 0;
    }
    if (!typed) {
        if (count)
            return onnx_fail(p, &s, -EBADMSG, msg.pos, "%lld elements but no raw_data or typed data", (long long)count);
        return 0;
    }
    /* typed fields: float_data 4 (FLOAT), int32_data 5 (≤ 4-byte types), int64_data 7, double_data 10 */
    static const struct { int field, kind; const char *name; } tf[] = {
        {4, K_F32, "float_data"}, {5, K_VARINT, "int32_data"}, {7, K_VARINT, "int64_data"},
        {10, K_F64, "double_data"}, {11, K_VARINT, "uint64_data"}};
    int k = 0;
    while (tf[k].field != typed_field)
        k++;
    int ok = (typed_field == 4 && dt == ONNX_DT_FLOAT) || (typed_field == 7 && dt == ONNX_DT_INT64) ||
             (typed_field == 10 && dt == ONNX_DT_DOUBLE) ||
             (typed_field == 5 && dt != ONNX_DT_FLOAT && dt != ONNX_DT_INT64 && dt != ONNX_DT_DOUBLE);
    if (!ok)
        return onnx_fail(p, &s, -EBADMSG, msg.pos, "%s given for a %s tensor", tf[k].name, onnx_dtype_name(t->data_type));
    void *vals;
    int64_t n;
    if ((r = onnx_rep_read(p, &s, msg, (uint32_t)typed_field, tf[k].kind, count, &vals, &n, tf[k].name)) < 0)
        return r;
    if (n != count)
        return onnx_fail(p, &s, -EBADMSG, msg.pos, "%s has %lld elements, dims give %lld", tf[k].name, (long long)n,
                    (long long)count);
    if (typed_field == 5 && t->elem_size < 8 && count) {
        void *dst = onnx_pool_alloc(p->m, t->nbytes);
        if (!dst)
            return onnx_fail(p, &s, -ENOMEM, msg.pos, "out of memory");
        if ((r = narrow_int32(p, &s, msg.pos, t, vals, count, dst)) < 0)
            return r;
        vals = dst;
    }
    t->data = vals;
    return 0;
}

/* ---- AttributeProto and NodeProto ------------------------------------------------------------------- */

static int parse_attr(P *p, const Scope *up, Cur c, int64_t index, OnnxAttr *a)
{
    Scope s = {up, "attribute", index, NULL};
    Cur msg = c;
    int64_t type = 0;
    int has_f = 0, has_i = 0, has_s = 0, has_t = 0, has_floats = 0, has_ints = 0, has_other = 0;
    uint32_t f;
    int wire, r;

    memset(a, 0, sizeof(*a));
    if (c.depth > ONNX_MAX_DEPTH)
        return onnx_fail(p, &s, -EBADMSG, c.pos, "messages nested deeper than %d", ONNX_MAX_DEPTH);
    while (c.pos < c.end) {
        size_t at = c.pos;
        if ((r = onnx_rd_tag(p, &s, &c, &f, &wire)) < 0)
            return r;
        switch (f) {
        case 1:
            if ((r = onnx_rd_str(p, &s, &c, wire, "name", 1, 1, &a->name, NULL)) < 0)
                return r;
            s.name = a->name;
            break;
        case 20:
            if ((r = onnx_rd_int(p, &s, &c, wire, "type", &type)) < 0)
                return r;
            if (type < 0 || type > ONNX_ATTR_TYPE_PROTOS)
                return onnx_fail(p, &s, -EBADMSG, at, "unknown attribute type %lld", (long long)type);
            break;
        case 2:
            if ((r = onnx_want_wire(p, &s, at, wire, WIRE_I32, "f")) < 0 || (r = onnx_need(p, &s, &c, 4, "f")) < 0)
                return r;
            a->f = onnx_le_f32(p->m->base + c.pos);
            c.pos += 4;
            has_f = 1;
            break;
        case 3:
            if ((r = onnx_rd_int(p, &s, &c, wire, "i", &a->i)) < 0)
                return r;
            has_i = 1;
            break;
        case 4:
            if ((r = onnx_want_wire(p, &s, at, wire, WIRE_LEN, "s")) < 0)
                return r;
            if ((r = onnx_rd_str(p, &s, &c, wire, "s", 0, 0, &a->s, &a->s_len)) < 0)
                return r;
            has_s = 1;
            break;
        case 5: {
            Cur sub;
            OnnxTensor *t;
            if ((r = onnx_want_wire(p, &s, at, wire, WIRE_LEN, "t")) < 0 || (r = onnx_rd_len(p, &s, &c, &sub, "t")) < 0)
                return r;
            if (!(t = onnx_pool_alloc(p->m, sizeof(*t))))
                return onnx_fail(p, &s, -ENOMEM, at, "out of memory");
            if ((r = parse_tensor(p, &s, sub, "t", -1, 0, t)) < 0)
                return r;
            a->t = t;
            has_t = 1;
            break;
        }
        case 7: has_floats = 1; goto skip_field;
        case 8: has_ints = 1; goto skip_field;
        case 6: case 9: case 10: case 11: case 14: case 15: case 22: case 23: has_other = 1; /* fall through */
        default:
        skip_field:
            if ((r = onnx_skip(p, &s, &c, wire, f)) < 0)
                return r;
        }
    }
    if (!a->name)
        return onnx_fail(p, &s, -EBADMSG, msg.pos, "attribute without a name");
    if (!type) /* IR < 4 files may omit the type: infer it from the one field that is set */
        type = has_f ? ONNX_ATTR_FLOAT : has_i ? ONNX_ATTR_INT : has_s ? ONNX_ATTR_STRING : has_t ? ONNX_ATTR_TENSOR
             : has_floats ? ONNX_ATTR_FLOATS : has_ints ? ONNX_ATTR_INTS : has_other ? ONNX_ATTR_GRAPH : 0;
    a->type = (int)type;
    if ((type == ONNX_ATTR_TENSOR && !has_t))
        return onnx_fail(p, &s, -EBADMSG, msg.pos, "TENSOR attribute without a tensor");
    if (type == ONNX_ATTR_INTS || type == ONNX_ATTR_FLOATS) {
        void *v;
        if ((r = onnx_rep_read(p, &s, msg, type == ONNX_ATTR_INTS ? 8 : 7, type == ONNX_ATTR_INTS ? K_VARINT : K_F32,
                          INT32_MAX, &v, &a->n, type == ONNX_ATTR_INTS ? "ints" : "floats")) < 0)
            return r;
        if (type == ONNX_ATTR_INTS)
            a->ints = v;
        else
            a->floats = v;
    }
    return 0;
}


static int parse_node(P *p, const Scope *up, Cur c, int64_t index, OnnxNode *n)
{
    Scope s = {up, "node", index, NULL};
    size_t start = c.pos;
    int n_in = 0, n_out = 0, n_attrs = 0;
    uint32_t f;
    int wire, r;

    memset(n, 0, sizeof(*n));
    n->index = index;
    n->at = start;
    n->name = n->domain = "";
    while (c.pos < c.end) {
        size_t at = c.pos;
        const char *str;
        if ((r = onnx_rd_tag(p, &s, &c, &f, &wire)) < 0)
            return r;
        switch (f) {
        case 1: case 2: {
            int is_in = f == 1;
            if ((is_in ? n_in : n_out) >= ONNX_MAX_NODE_IO)
                return onnx_fail(p, &s, -E2BIG, at, "more than %d %s", ONNX_MAX_NODE_IO, is_in ? "inputs" : "outputs");
            if ((r = onnx_rd_str(p, &s, &c, wire, is_in ? "input" : "output", !is_in, 1, &str, NULL)) < 0)
                return r;
            if (onnx_grow(is_in ? (void *)&p->in : (void *)&p->out, is_in ? &p->cap_in : &p->cap_out,
                     (size_t)(is_in ? n_in : n_out), sizeof(char *)) < 0)
                return onnx_fail(p, &s, -ENOMEM, at, "out of memory");
            if (is_in)
                p->in[n_in++] = str;
            else
                p->out[n_out++] = str;
            break;
        }
        case 3:
            if ((r = onnx_rd_str(p, &s, &c, wire, "name", 0, 1, &n->name, NULL)) < 0)
                return r;
            s.name = n->name;
            break;
        case 4:
            if ((r = onnx_rd_str(p, &s, &c, wire, "op_type", 1, 1, &n->op_type, NULL)) < 0)
                return r;
            break;
        case 7:
            if ((r = onnx_rd_str(p, &s, &c, wire, "domain", 0, 1, &n->domain, NULL)) < 0)
                return r;
            break;
        case 5: {
            Cur sub;
            if (n_attrs >= ONNX_MAX_ATTRS)
                return onnx_fail(p, &s, -E2BIG, at, "more than %d attributes", ONNX_MAX_ATTRS);
            if ((r = onnx_want_wire(p, &s, at, wire, WIRE_LEN, "attribute")) < 0 ||
                (r = onnx_rd_len(p, &s, &c, &sub, "attribute")) < 0)
                return r;
            if (onnx_grow(&p->attrs, &p->cap_attrs, (size_t)n_attrs, sizeof(OnnxAttr)) < 0)
                return onnx_fail(p, &s, -ENOMEM, at, "out of memory");
            if ((r = parse_attr(p, &s, sub, n_attrs, &p->attrs[n_attrs])) < 0)
                return r;
            for (int i = 0; i < n_attrs; i++)
                if (!strcmp(p->attrs[i].name, p->attrs[n_attrs].name))
                    return onnx_fail(p, &s, -EBADMSG, at, "attribute '%s' appears twice", p->attrs[i].name);
            n_attrs++;
            break;
        }
        default:
            if ((r = onnx_skip(p, &s, &c, wire, f)) < 0)
                return r;
        }
    }
    if (!n->op_type)
        return onnx_fail(p, &s, -EBADMSG, start, "node without an op_type");
    const char **in = n_in ? onnx_pool_alloc(p->m, (size_t)n_in * sizeof(char *)) : NULL;
    const char **out = n_out ? onnx_pool_alloc(p->m, (size_t)n_out * sizeof(char *)) : NULL;
    OnnxAttr *attrs = n_attrs ? onnx_pool_alloc(p->m, (size_t)n_attrs * sizeof(OnnxAttr)) : NULL;
    if ((n_in && !in) || (n_out && !out) || (n_attrs && !attrs))
        return onnx_fail(p, &s, -ENOMEM, start, "out of memory");
    if (n_in)
        memcpy(in, p->in, (size_t)n_in * sizeof(char *));
    if (n_out)
        memcpy(out, p->out, (size_t)n_out * sizeof(char *));
    if (n_attrs)
        memcpy(attrs, p->attrs, (size_t)n_attrs * sizeof(OnnxAttr));
    n->inputs = in;
    n->outputs = out;
    n->attrs = attrs;
    n->n_inputs = n_in;
    n->n_outputs = n_out;
    n->n_attrs = n_attrs;
    return 0;
}

/* ---- ValueInfoProto, GraphProto, ModelProto --------------------------------------------------------- */

/* TypeProto.tensor_type.shape.dim (field 1 of TensorShapeProto): dim_value 1 or dim_param 2. */
static int parse_shape(P *p, const Scope *s, Cur c, OnnxValueInfo *v)
{
    uint32_t f;
    int wire, r;

    v->n_dims = 0;
    while (c.pos < c.end) {
        size_t at = c.pos;
        Cur dim;
        if ((r = onnx_rd_tag(p, s, &c, &f, &wire)) < 0)
            return r;
        if (f != 1) {
            if ((r = onnx_skip(p, s, &c, wire, f)) < 0)
                return r;
            continue;
        }
        if ((r = onnx_want_wire(p, s, at, wire, WIRE_LEN, "shape.dim")) < 0 || (r = onnx_rd_len(p, s, &c, &dim, "shape.dim")) < 0)
            return r;
        if (v->n_dims >= ONNX_MAX_DIMS)
            return onnx_fail(p, s, -EBADMSG, at, "shape has more than %d dims", ONNX_MAX_DIMS);
        int d = v->n_dims++;
        v->dims[d] = -1;
        while (dim.pos < dim.end) {
            int64_t x;
            if ((r = onnx_rd_tag(p, s, &dim, &f, &wire)) < 0)
                return r;
            if (f == 1) {
                if ((r = onnx_rd_int(p, s, &dim, wire, "dim_value", &x)) < 0)
                    return r;
                if (x < 0 || x > MAX_DIM)
                    return onnx_fail(p, s, -EBADMSG, at, "dim_value %lld out of range", (long long)x);
                v->dims[d] = x;
            } else if (f == 2) {
                if ((r = onnx_rd_str(p, s, &dim, wire, "dim_param", 0, 1, &v->dim_params[d], NULL)) < 0)
                    return r;
            } else if ((r = onnx_skip(p, s, &dim, wire, f)) < 0) {
                return r;
            }
        }
    }
    return 0;
}

static int parse_value_info(P *p, const Scope *up, Cur c, const char *what, int64_t index, OnnxValueInfo *v)
{
    Scope s = {up, what, index, NULL};
    uint32_t f;
    int wire, r;

    memset(v, 0, sizeof(*v));
    v->n_dims = -1;
    if (c.depth + 4 > ONNX_MAX_DEPTH)
        return onnx_fail(p, &s, -EBADMSG, c.pos, "messages nested deeper than %d", ONNX_MAX_DEPTH);
    while (c.pos < c.end) {
        size_t at = c.pos;
        Cur type, tt;
        if ((r = onnx_rd_tag(p, &s, &c, &f, &wire)) < 0)
            return r;
        if (f == 1) {
            if ((r = onnx_rd_str(p, &s, &c, wire, "name", 1, 1, &v->name, NULL)) < 0)
                return r;
            s.name = v->name;
            continue;
        }
        if (f != 2) {
            if ((r = onnx_skip(p, &s, &c, wire, f)) < 0)
                return r;
            continue;
        }
        if ((r = onnx_want_wire(p, &s, at, wire, WIRE_LEN, "type")) < 0 || (r = onnx_rd_len(p, &s, &c, &type, "type")) < 0)
            return r;
        while (type.pos < type.end) { /* TypeProto: tensor_type = 1 */
            at = type.pos;
            if ((r = onnx_rd_tag(p, &s, &type, &f, &wire)) < 0)
                return r;
            if (f != 1) {
                if ((r = onnx_skip(p, &s, &type, wire, f)) < 0)
                    return r;
                continue;
            }
            if ((r = onnx_want_wire(p, &s, at, wire, WIRE_LEN, "tensor_type")) < 0 ||
                (r = onnx_rd_len(p, &s, &type, &tt, "tensor_type")) < 0)
                return r;
            while (tt.pos < tt.end) { /* elem_type = 1, shape = 2 */
                int64_t et;
                Cur shape;
                at = tt.pos;
                if ((r = onnx_rd_tag(p, &s, &tt, &f, &wire)) < 0)
                    return r;
                if (f == 1) {
                    if ((r = onnx_rd_int(p, &s, &tt, wire, "elem_type", &et)) < 0)
                        return r;
                    if (et < 0 || et > 64)
                        return onnx_fail(p, &s, -EBADMSG, at, "elem_type %lld out of range", (long long)et);
                    v->elem_type = (int)et;
                } else if (f == 2) {
                    if ((r = onnx_want_wire(p, &s, at, wire, WIRE_LEN, "shape")) < 0 ||
                        (r = onnx_rd_len(p, &s, &tt, &shape, "shape")) < 0 || (r = parse_shape(p, &s, shape, v)) < 0)
                        return r;
                } else if ((r = onnx_skip(p, &s, &tt, wire, f)) < 0) {
                    return r;
                }
            }
        }
    }
    if (!v->name)
        return onnx_fail(p, &s, -EBADMSG, c.end, "value without a name");
    return 0;
}

static int parse_graph(P *p, const Scope *up, Cur c)
{
    OnnxModel *m = p->m;
    Scope s = {up, "graph", -1, NULL};
    uint32_t f;
    int wire, r;

    if (c.depth > ONNX_MAX_DEPTH)
        return onnx_fail(p, &s, -EBADMSG, c.pos, "messages nested deeper than %d", ONNX_MAX_DEPTH);
    while (c.pos < c.end) {
        size_t at = c.pos;
        Cur sub;
        if ((r = onnx_rd_tag(p, &s, &c, &f, &wire)) < 0)
            return r;
        switch (f) {
        case 1: /* node */
            if (m->n_nodes >= ONNX_MAX_NODES)
                return onnx_fail(p, &s, -E2BIG, at, "more than %d nodes", ONNX_MAX_NODES);
            if ((r = onnx_want_wire(p, &s, at, wire, WIRE_LEN, "node")) < 0 || (r = onnx_rd_len(p, &s, &c, &sub, "node")) < 0)
                return r;
            if (onnx_grow(&m->nodes, &m->cap_nodes, (size_t)m->n_nodes, sizeof(OnnxNode)) < 0)
                return onnx_fail(p, &s, -ENOMEM, at, "out of memory");
            if ((r = parse_node(p, &s, sub, m->n_nodes, &m->nodes[m->n_nodes])) < 0)
                return r;
            m->n_nodes++;
            break;
        case 5: /* initializer */
            if (m->n_inits >= ONNX_MAX_INITIALIZERS)
                return onnx_fail(p, &s, -E2BIG, at, "more than %d initializers", ONNX_MAX_INITIALIZERS);
            if ((r = onnx_want_wire(p, &s, at, wire, WIRE_LEN, "initializer")) < 0 ||
                (r = onnx_rd_len(p, &s, &c, &sub, "initializer")) < 0)
                return r;
            if (onnx_grow(&m->inits, &m->cap_inits, (size_t)m->n_inits, sizeof(OnnxTensor)) < 0)
                return onnx_fail(p, &s, -ENOMEM, at, "out of memory");
            if ((r = parse_tensor(p, &s, sub, "initializer", m->n_inits, 1, &m->inits[m->n_inits])) < 0)
                return r;
            m->n_inits++;
            break;
        case 11: case 12: { /* input, output */
            int is_in = f == 11;
            int *n = is_in ? &m->n_all_inputs : &m->n_outputs;
            if (*n >= ONNX_MAX_NODE_IO)
                return onnx_fail(p, &s, -E2BIG, at, "more than %d graph %s", ONNX_MAX_NODE_IO, is_in ? "inputs" : "outputs");
            if ((r = onnx_want_wire(p, &s, at, wire, WIRE_LEN, is_in ? "input" : "output")) < 0 ||
                (r = onnx_rd_len(p, &s, &c, &sub, is_in ? "input" : "output")) < 0)
                return r;
            if (onnx_grow(is_in ? (void *)&m->all_inputs : (void *)&m->outputs, is_in ? &m->cap_all_inputs : &m->cap_outputs,
                     (size_t)*n, sizeof(OnnxValueInfo)) < 0)
                return onnx_fail(p, &s, -ENOMEM, at, "out of memory");
            if ((r = parse_value_info(p, &s, sub, is_in ? "input" : "output", *n,
                                      (is_in ? m->all_inputs : m->outputs) + *n)) < 0)
                return r;
            (*n)++;
            break;
        }
        case 15:
            return onnx_fail(p, &s, -ENOTSUP, at, "sparse initializers are not supported");
        default:
            if ((r = onnx_skip(p, &s, &c, wire, f)) < 0)
                return r;
        }
    }
    return 0;
}

static int64_t onnx_opset_default(const OnnxModel *m)
{
    for (int i = 0; i < m->n_opsets; i++)
        if (!m->opsets[i].domain[0] || !strcmp(m->opsets[i].domain, "ai.onnx"))
            return m->opsets[i].version;
    return -1;
}

static int parse_model(P *p)
{
    OnnxModel *m = p->m;
    Scope s = {NULL, "model", -1, NULL};
    Cur c = {0, m->size, 0};
    int has_graph = 0, has_ir = 0;
    uint32_t f;
    int wire, r;

    if (!m->size)
        return onnx_fail(p, &s, -EBADMSG, 0, "empty file");
    while (c.pos < c.end) {
        size_t at = c.pos;
        Cur sub;
        if ((r = onnx_rd_tag(p, &s, &c, &f, &wire)) < 0)
            return r;
        switch (f) {
        case 1:
            if ((r = onnx_rd_int(p, &s, &c, wire, "ir_version", &m->ir_version)) < 0)
                return r;
            has_ir = 1;
            break;
        case 2: case 3:
            if ((r = onnx_rd_str(p, &s, &c, wire, f == 2 ? "producer_name" : "producer_version", 0, 1,
                            f == 2 ? &m->producer : &m->producer_version, NULL)) < 0)
                return r;
            break;
        case 7:
            if (has_graph)
                return onnx_fail(p, &s, -EBADMSG, at, "graph appears twice");
            if ((r = onnx_want_wire(p, &s, at, wire, WIRE_LEN, "graph")) < 0 || (r = onnx_rd_len(p, &s, &c, &sub, "graph")) < 0 ||
                (r = parse_graph(p, &s, sub)) < 0)
                return r;
            has_graph = 1;
            break;
        case 8: { /* opset_import: domain 1, version 2 */
            Scope os = {&s, "opset_import", m->n_opsets, NULL};
            const char *domain = "";
            int64_t version = -1;
            if (m->n_opsets >= 64)
                return onnx_fail(p, &os, -E2BIG, at, "more than 64 opset imports");
            if ((r = onnx_want_wire(p, &os, at, wire, WIRE_LEN, "opset_import")) < 0 ||
                (r = onnx_rd_len(p, &os, &c, &sub, "opset_import")) < 0)
                return r;
            while (sub.pos < sub.end) {
                if ((r = onnx_rd_tag(p, &os, &sub, &f, &wire)) < 0)
                    return r;
                if (f == 1)
                    r = onnx_rd_str(p, &os, &sub, wire, "domain", 0, 1, &domain, NULL);
                else if (f == 2)
                    r = onnx_rd_int(p, &os, &sub, wire, "version", &version);
                else
                    r = onnx_skip(p, &os, &sub, wire, f);
                if (r < 0)
                    return r;
            }
            if (version < 1)
                return onnx_fail(p, &os, -EBADMSG, at, "opset version %lld for domain '%s' is invalid", (long long)version,
                            domain);
            m->opsets[m->n_opsets].domain = domain;
            m->opsets[m->n_opsets].version = version;
            m->n_opsets++;
            break;
        }
        default:
            if ((r = onnx_skip(p, &s, &c, wire, f)) < 0)
                return r;
        }
    }
    if (!has_ir || m->ir_version < 1)
        return onnx_fail(p, &s, -EBADMSG, 0, "ir_version is missing (not an ONNX model?)");
    if (m->ir_version > 11)
        return onnx_fail(p, &s, -ENOTSUP, 0, "ir_version %lld is newer than the supported 11", (long long)m->ir_version);
    if (!has_graph)
        return onnx_fail(p, &s, -EBADMSG, 0, "model has no graph");
    if (onnx_opset_default(m) < 0)
        return onnx_fail(p, &s, -EBADMSG, 0, "model has no opset_import for the default domain");
    return 0;
}

void onnx_close(OnnxModel *m)
{
    if (!m)
        return;
    onnx_index_free(m);
    free(m->nodes);
    free(m->inits);
    free(m->all_inputs);
    free(m->outputs);
    free(m->inputs);
    onnx_pool_free(m);
    if (m->mapped && m->base)
        munmap((void *)m->base, m->map_len);
    free(m);
}

static int parse_all(OnnxModel *m, char *err, size_t err_len)
{
    P p = {.m = m, .err = err, .err_len = err_len};
    int r;

    m->producer = m->producer_version = "";
    r = parse_model(&p);
    free(p.in);
    free(p.out);
    free(p.attrs);
    if (r < 0)
        return r;
    return onnx_index_build(m, err, err_len);
}

int onnx_open_memory(const void *data, size_t size, OnnxModel **ret, char *err, size_t err_len)
{
    OnnxModel *m;
    int r;

    if (!ret || (!data && size))
        return err_set(err, err_len, -EINVAL, "onnx: invalid arguments");
    if (!(m = calloc(1, sizeof(*m))))
        return err_set(err, err_len, -ENOMEM, "onnx: out of memory");
    m->base = data;
    m->size = size;
    if ((r = parse_all(m, err, err_len)) < 0) {
        onnx_close(m);
        return r;
    }
    *ret = m;
    return 0;
}

int onnx_open(const char *path, OnnxModel **ret, char *err, size_t err_len)
{
    struct stat st;
    OnnxModel *m;
    void *map;
    int fd, r;

    if (!path || !ret)
        return err_set(err, err_len, -EINVAL, "onnx: invalid arguments");
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return err_set(err, err_len, -errno, "onnx: %s: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0) {
        r = -errno;
        close(fd);
        return err_set(err, err_len, r, "onnx: %s: %s", path, strerror(-r));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(err, err_len, -EINVAL, "onnx: %s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return err_set(err, err_len, -EBADMSG, "onnx: %s: empty file", path);
    }
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    r = -errno;
    close(fd);
    if (map == MAP_FAILED)
        return err_set(err, err_len, r, "onnx: %s: mmap: %s", path, strerror(-r));
    if (!(m = calloc(1, sizeof(*m)))) {
        munmap(map, (size_t)st.st_size);
        return err_set(err, err_len, -ENOMEM, "onnx: out of memory");
    }
    m->base = map;
    m->size = m->map_len = (size_t)st.st_size;
    m->mapped = 1;
    (void)madvise(map, m->size, MADV_WILLNEED);
    if ((r = parse_all(m, err, err_len)) < 0) {
        onnx_close(m);
        return r;
    }
    *ret = m;
    return 0;
}
