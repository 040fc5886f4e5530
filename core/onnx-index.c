/* onnx-index.c — the name index of a parsed ONNX graph and the accessors of onnx.h.
 *
 * Every value name (initializers, node inputs and outputs) is hashed once after parsing (FNV-1a, open
 * addressing), so finding an initializer, a value's producer or its consumers is O(1) plus the answer.
 * The index also enforces what the parser alone cannot: initializer names are unique and every value is
 * produced by at most one node and is not also an initializer (ONNX graphs are in SSA form).
 */
#include <errno.h>
#include <string.h>
#include <stdlib.h>

#include "log.h"
#include "onnx-internal.h"
#include "tensor.h"

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static int64_t find(const OnnxModel *m, const char *name)
{
    if (!m->hash_cap || !name)
        return -1;
    for (size_t i = hash_str(name) & (m->hash_cap - 1);; i = (i + 1) & (m->hash_cap - 1)) {
        uint32_t v = m->hash[i];
        if (!v)
            return -1;
        if (!strcmp(m->values[v - 1].name, name))
            return v - 1;
    }
}

static int64_t find_or_add(OnnxModel *m, const char *name)
{
    size_t i = hash_str(name) & (m->hash_cap - 1);
    for (;; i = (i + 1) & (m->hash_cap - 1)) {
        uint32_t v = m->hash[i];
        if (!v)
            break;
        if (!strcmp(m->values[v - 1].name, name))
            return v - 1;
    }
    OnnxValue *val = &m->values[m->n_values];
    val->name = name;
    val->init = val->producer = -1;
    m->hash[i] = (uint32_t)++m->n_values;
    return m->n_values - 1;
}

void onnx_index_free(OnnxModel *m)
{
    free(m->values);
    free(m->hash);
    free(m->consumers);
    m->values = NULL;
    m->hash = NULL;
    m->consumers = NULL;
}

int onnx_index_build(OnnxModel *m, char *err, size_t err_len)
{
    size_t total = (size_t)m->n_inits + (size_t)m->n_all_inputs, cap = 16, n_cons = 0;

    for (int64_t i = 0; i < m->n_nodes; i++)
        total += (size_t)m->nodes[i].n_inputs + (size_t)m->nodes[i].n_outputs;
    while (cap < 2 * total)
        cap *= 2;
    if (total >= UINT32_MAX / 2)
        return err_set(err, err_len, -E2BIG, "onnx: graph has too many value names (%zu)", total);
    m->hash_cap = cap;
    m->hash = calloc(cap, sizeof(*m->hash));
    m->values = calloc(total ? total : 1, sizeof(*m->values));
    if (!m->hash || !m->values)
        return err_set(err, err_len, -ENOMEM, "onnx: out of memory");
    for (int64_t i = 0; i < m->n_inits; i++) {
        const OnnxTensor *t = &m->inits[i];
        int64_t v = find_or_add(m, t->name);
        if (m->values[v].init >= 0)
            return err_set(err, err_len, -EBADMSG,
                           "onnx: graph initializer[%lld] '%.200s': duplicate name (first is initializer[%lld]) (at byte %zu)",
                           (long long)i, t->name, (long long)m->values[v].init, t->at);
        m->values[v].init = i;
    }
    for (int64_t i = 0; i < m->n_nodes; i++) {
        const OnnxNode *n = &m->nodes[i];
        for (int k = 0; k < n->n_outputs; k++) {
            int64_t v = find_or_add(m, n->outputs[k]);
            if (m->values[v].producer >= 0 || m->values[v].init >= 0)
                return err_set(err, err_len, -EBADMSG,
                               "onnx: graph node[%lld] '%.120s': output '%.200s' is already %s %lld (at byte %zu)",
                               (long long)i, n->name, n->outputs[k],
                               m->values[v].init >= 0 ? "initializer" : "produced by node",
                               (long long)(m->values[v].init >= 0 ? m->values[v].init : m->values[v].producer), n->at);
            m->values[v].producer = i;
        }
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k][0]) {
                m->values[find_or_add(m, n->inputs[k])].n_cons++;
                n_cons++;
            }
    }
    m->consumers = calloc(n_cons ? n_cons : 1, sizeof(*m->consumers));
    m->inputs = calloc(m->n_all_inputs ? (size_t)m->n_all_inputs : 1, sizeof(*m->inputs));
    if (!m->consumers || !m->inputs)
        return err_set(err, err_len, -ENOMEM, "onnx: out of memory");
    int64_t off = 0;
    for (int64_t v = 0; v < m->n_values; v++) {
        m->values[v].cons_off = off;
        off += m->values[v].n_cons;
        m->values[v].n_cons = 0;
    }
    for (int64_t i = 0; i < m->n_nodes; i++) {
        const OnnxNode *n = &m->nodes[i];
        for (int k = 0; k < n->n_inputs; k++) {
            if (!n->inputs[k][0])
                continue;
            OnnxValue *val = &m->values[find(m, n->inputs[k])];
            /* a node that uses one value twice (Mul(x, x)) is listed once */
            if (val->n_cons && m->consumers[val->cons_off + val->n_cons - 1] == n)
                continue;
            m->consumers[val->cons_off + val->n_cons++] = n;
        }
    }
    for (int i = 0; i < m->n_all_inputs; i++) {
        int64_t v = find(m, m->all_inputs[i].name);
        if (v < 0 || m->values[v].init < 0)
            m->inputs[m->n_inputs++] = &m->all_inputs[i];
    }
    return 0;
}

int64_t onnx_ir_version(const OnnxModel *m) { return m->ir_version; }
const char *onnx_producer(const OnnxModel *m) { return m->producer; }
const char *onnx_producer_version(const OnnxModel *m) { return m->producer_version; }
size_t onnx_file_size(const OnnxModel *m) { return m->size; }
int64_t onnx_n_initializers(const OnnxModel *m) { return m->n_inits; }
int64_t onnx_n_nodes(const OnnxModel *m) { return m->n_nodes; }
int onnx_n_inputs(const OnnxModel *m) { return m->n_inputs; }
int onnx_n_outputs(const OnnxModel *m) { return m->n_outputs; }

int64_t onnx_opset(const OnnxModel *m, const char *domain)
{
    if (!domain || !strcmp(domain, "ai.onnx"))
        domain = "";
    for (int i = 0; i < m->n_opsets; i++) {
        const char *d = strcmp(m->opsets[i].domain, "ai.onnx") ? m->opsets[i].domain : "";
        if (!strcmp(d, domain))
            return m->opsets[i].version;
    }
    return -1;
}

const OnnxTensor *onnx_initializer(const OnnxModel *m, int64_t i)
{
    return i >= 0 && i < m->n_inits ? &m->inits[i] : NULL;
}

const OnnxTensor *onnx_find_initializer(const OnnxModel *m, const char *name)
{
    int64_t v = find(m, name);
    return v >= 0 && m->values[v].init >= 0 ? &m->inits[m->values[v].init] : NULL;
}

const OnnxNode *onnx_node(const OnnxModel *m, int64_t i)
{
    return i >= 0 && i < m->n_nodes ? &m->nodes[i] : NULL;
}

int onnx_consumers(const OnnxModel *m, const char *value, const OnnxNode **ret, int max)
{
    int64_t v = find(m, value);
    if (v < 0)
        return 0;
    const OnnxValue *val = &m->values[v];
    for (int i = 0; i < val->n_cons && i < max; i++)
        ret[i] = m->consumers[val->cons_off + i];
    return val->n_cons;
}

const OnnxNode *onnx_producer_of(const OnnxModel *m, const char *value)
{
    int64_t v = find(m, value);
    return v >= 0 && m->values[v].producer >= 0 ? &m->nodes[m->values[v].producer] : NULL;
}

const OnnxAttr *onnx_node_attr(const OnnxNode *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (!strcmp(n->attrs[i].name, name))
            return &n->attrs[i];
    return NULL;
}

const OnnxValueInfo *onnx_input(const OnnxModel *m, int i)
{
    return i >= 0 && i < m->n_inputs ? m->inputs[i] : NULL;
}

const OnnxValueInfo *onnx_output(const OnnxModel *m, int i)
{
    return i >= 0 && i < m->n_outputs ? &m->outputs[i] : NULL;
}

const OnnxValueInfo *onnx_find_input(const OnnxModel *m, const char *name)
{
    for (int i = 0; i < m->n_inputs; i++)
        if (!strcmp(m->inputs[i]->name, name))
            return m->inputs[i];
    return NULL;
}

const char *onnx_dtype_name(int dt)
{
    static const char *const names[] = {"UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32",
        "INT64", "STRING", "BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16",
        "FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "UINT4", "INT4", "FLOAT4E2M1"};
    return dt >= 0 && dt < (int)(sizeof(names) / sizeof(names[0])) ? names[dt] : "?";
}

float onnx_tensor_f32(const OnnxTensor *t, int64_t i)
{
    const uint8_t *p = (const uint8_t *)t->data + (size_t)i * (size_t)t->elem_size;
    switch (t->data_type) {
    case ONNX_DT_FLOAT: { float f; memcpy(&f, p, 4); return f; }
    case ONNX_DT_DOUBLE: { double d; memcpy(&d, p, 8); return (float)d; }
    case ONNX_DT_FLOAT16: { uint16_t h; memcpy(&h, p, 2); return fp16_to_f32(h); }
    case ONNX_DT_BFLOAT16: { uint16_t h; memcpy(&h, p, 2); return bf16_to_f32(h); }
    default: return (float)onnx_tensor_i64(t, i);
    }
}

int64_t onnx_tensor_i64(const OnnxTensor *t, int64_t i)
{
    const uint8_t *p = (const uint8_t *)t->data + (size_t)i * (size_t)t->elem_size;
    switch (t->data_type) {
    case ONNX_DT_INT64: { int64_t v; memcpy(&v, p, 8); return v; }
    case ONNX_DT_INT32: { int32_t v; memcpy(&v, p, 4); return v; }
    case ONNX_DT_INT16: { int16_t v; memcpy(&v, p, 2); return v; }
    case ONNX_DT_INT8: return (int8_t)*p;
    case ONNX_DT_UINT8: case ONNX_DT_BOOL: return *p;
    default: { /* a float tensor: NaN and values past int64 would make the cast undefined; saturate */
        float f = onnx_tensor_f32(t, i);
        if (f != f)
            return 0;
        if (f >= 9223372036854775807.0f)
            return INT64_MAX;
        if (f <= -9223372036854775808.0f)
            return INT64_MIN;
        return (int64_t)f;
    }
    }
}
