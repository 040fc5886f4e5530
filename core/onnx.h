/* onnx.h — ONNX model reader: the protobuf wire format of ModelProto → GraphProto → NodeProto and
 * TensorProto initializers, on a read-only mapping, validated before use (onnx/onnx.proto, ir_version 1..11).
 *
 * What it is: enough of ONNX to bind a model's weights and read its graph's structure — initializers
 * (dims, data_type, raw_data or the typed float_data/int32_data/int64_data/double_data fields), nodes
 * (op_type, name, inputs, outputs, attributes: float, int, string, tensor, floats, ints), graph inputs and
 * outputs with their element types and shapes, opset imports. What it is not: an interpreter, a writer,
 * or a reader of subgraphs (If/Loop bodies are skipped), sparse initializers or external data (-ENOTSUP).
 *
 * Every length, varint and count is checked against the bytes left in its enclosing message before use;
 * varints are at most 10 bytes; messages nest at most ONNX_MAX_DEPTH deep; names are 1..4096 bytes of
 * UTF-8 without NUL; tensor dtypes are whitelisted, dims ≤ 8 and ≥ 0, element count × element size is
 * overflow-checked and must equal the stored byte length. On failure err gets one line naming the field and
 * the byte offset ("onnx: graph.initializer[3] 'dec.ups.0.weight': raw_data has 4096 bytes, dims 16×128×256
 * of FLOAT need 2097152 (at byte 1234)"); the reader does not log.
 */
#ifndef MYNA_ONNX_H
#define MYNA_ONNX_H

#include <stddef.h>
#include <stdint.h>

enum {
    ONNX_MAX_DIMS = 8,
    ONNX_MAX_DEPTH = 8,            /* ModelProto → GraphProto → NodeProto → AttributeProto → TensorProto … */
    ONNX_MAX_NAME = 4096,          /* bytes in a name, op_type or string attribute */
    ONNX_MAX_NODES = 1 << 20,
    ONNX_MAX_INITIALIZERS = 1 << 20,
    ONNX_MAX_NODE_IO = 4096,       /* inputs or outputs of one node */
    ONNX_MAX_ATTRS = 1024,         /* attributes of one node */
};

/* TensorProto.DataType values (the ones this reader accepts are marked). */
typedef enum {
    ONNX_DT_UNDEFINED = 0,
    ONNX_DT_FLOAT = 1,       /* accepted */
    ONNX_DT_UINT8 = 2,       /* accepted */
    ONNX_DT_INT8 = 3,        /* accepted */
    ONNX_DT_UINT16 = 4,
    ONNX_DT_INT16 = 5,       /* accepted */
    ONNX_DT_INT32 = 6,       /* accepted */
    ONNX_DT_INT64 = 7,       /* accepted */
    ONNX_DT_STRING = 8,
    ONNX_DT_BOOL = 9,        /* accepted */
    ONNX_DT_FLOAT16 = 10,    /* accepted */
    ONNX_DT_DOUBLE = 11,     /* accepted */
    ONNX_DT_UINT32 = 12,
    ONNX_DT_UINT64 = 13,
    ONNX_DT_BFLOAT16 = 16,   /* accepted */
} OnnxDataType;

typedef struct {
    const char *name;              /* NUL-terminated, owned by the OnnxModel ("" for attribute tensors) */
    int data_type;                 /* OnnxDataType */
    int elem_size;                 /* bytes per element */
    int n_dims;                    /* 0 for a scalar */
    int64_t dims[ONNX_MAX_DIMS];   /* ONNX order: dims[0] outermost, dims[n_dims-1] contiguous */
    int64_t n_elements;
    size_t nbytes;                 /* n_elements * elem_size */
    /* Little-endian elements: inside the mapping for raw_data (any alignment: copy with memcpy), or a
     * decoded copy owned by the model for the typed fields. NULL when nbytes is 0. */
    const void *data;
    size_t at;                     /* byte offset of the TensorProto in the file (for messages) */
} OnnxTensor;

typedef enum {
    ONNX_ATTR_UNDEFINED = 0, ONNX_ATTR_FLOAT = 1, ONNX_ATTR_INT = 2, ONNX_ATTR_STRING = 3, ONNX_ATTR_TENSOR = 4,
    ONNX_ATTR_GRAPH = 5, ONNX_ATTR_FLOATS = 6, ONNX_ATTR_INTS = 7, ONNX_ATTR_STRINGS = 8, ONNX_ATTR_TENSORS = 9,
    ONNX_ATTR_GRAPHS = 10, ONNX_ATTR_SPARSE_TENSOR = 11, ONNX_ATTR_SPARSE_TENSORS = 12, ONNX_ATTR_TYPE_PROTO = 13,
    ONNX_ATTR_TYPE_PROTOS = 14,
} OnnxAttrType;

typedef struct {
    const char *name;              /* owned by the model */
    int type;                      /* OnnxAttrType; GRAPH(S), STRINGS, TENSORS, SPARSE_*, TYPE_PROTO(S) keep
                                    * only their type (contents skipped) */
    float f;                       /* FLOAT */
    int64_t i;                     /* INT */
    const char *s;                 /* STRING (NUL-terminated copy; s_len bytes, may hold no NUL) */
    size_t s_len;
    const OnnxTensor *t;           /* TENSOR */
    int64_t n;                     /* FLOATS / INTS count */
    const float *floats;           /* [n] owned */
    const int64_t *ints;           /* [n] owned */
} OnnxAttr;

typedef struct {
    const char *name;              /* may be "" (older exporters leave nodes unnamed) */
    const char *op_type;
    const char *domain;            /* "" = the default ai.onnx domain */
    int n_inputs, n_outputs, n_attrs;
    const char *const *inputs;     /* [n_inputs]; "" marks an omitted optional input */
    const char *const *outputs;    /* [n_outputs] */
    const OnnxAttr *attrs;         /* [n_attrs] */
    int64_t index;                 /* position in graph.node (topological order in valid models) */
    size_t at;                     /* byte offset of the NodeProto in the file (for messages) */
} OnnxNode;

/* Graph input or output (ValueInfoProto with a tensor type). dims: -1 for a symbolic or absent size. */
typedef struct {
    const char *name;
    const char *dim_params[ONNX_MAX_DIMS]; /* symbolic names ("batch_size") or NULL */
    int elem_type;                 /* OnnxDataType, 0 when the type is not a tensor */
    int n_dims;                    /* -1 when the shape is absent */
    int64_t dims[ONNX_MAX_DIMS];
} OnnxValueInfo;

typedef struct OnnxModel OnnxModel;

int onnx_open(const char *path, OnnxModel **ret, char *err, size_t err_len);
/* Parse a buffer the caller keeps alive for the model's lifetime (tests, fuzzing). */
int onnx_open_memory(const void *data, size_t size, OnnxModel **ret, char *err, size_t err_len);
void onnx_close(OnnxModel *m); /* accepts NULL */

int64_t onnx_ir_version(const OnnxModel *m);
/* Opset version of a domain ("" or "ai.onnx" = the default); -1 when not imported. */
int64_t onnx_opset(const OnnxModel *m, const char *domain);
const char *onnx_producer(const OnnxModel *m);          /* producer_name, "" when absent */
const char *onnx_producer_version(const OnnxModel *m);
size_t onnx_file_size(const OnnxModel *m);

int64_t onnx_n_initializers(const OnnxModel *m);
const OnnxTensor *onnx_initializer(const OnnxModel *m, int64_t i);              /* in file order */
const OnnxTensor *onnx_find_initializer(const OnnxModel *m, const char *name);  /* NULL when absent */

int64_t onnx_n_nodes(const OnnxModel *m);
const OnnxNode *onnx_node(const OnnxModel *m, int64_t i);
/* Nodes that take `value` (an initializer or any graph value) as an input, in graph order: returns how many
 * there are and stores up to max of them in ret (ret may be NULL when max is 0). */
int onnx_consumers(const OnnxModel *m, const char *value, const OnnxNode **ret, int max);
/* The node whose outputs include `value`, or NULL (graph inputs and initializers have none). */
const OnnxNode *onnx_producer_of(const OnnxModel *m, const char *value);
/* Attribute lookup; NULL when absent. */
const OnnxAttr *onnx_node_attr(const OnnxNode *n, const char *name);

int onnx_n_inputs(const OnnxModel *m);                  /* graph inputs that are not initializers */
const OnnxValueInfo *onnx_input(const OnnxModel *m, int i);
int onnx_n_outputs(const OnnxModel *m);
const OnnxValueInfo *onnx_output(const OnnxModel *m, int i);
const OnnxValueInfo *onnx_find_input(const OnnxModel *m, const char *name);

const char *onnx_dtype_name(int data_type);             /* "FLOAT", "INT64", … or "?" */
/* Element i of a FLOAT/FLOAT16/BFLOAT16/DOUBLE tensor as float, of an integer tensor as int64 (unaligned-
 * safe; either works on the other kind: a float read as int64 truncates toward zero, saturates, NaN → 0).
 * No bounds check: the caller knows n_elements. */
float onnx_tensor_f32(const OnnxTensor *t, int64_t i);
int64_t onnx_tensor_i64(const OnnxTensor *t, int64_t i);

#endif
