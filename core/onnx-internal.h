/* onnx-internal.h — the parsed ONNX model, shared by the parser (onnx.c, onnx-wire.c) and the name index and
 * accessors (onnx-index.c). Not part of the public interface. */
#ifndef MYNA_ONNX_INTERNAL_H
#define MYNA_ONNX_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "onnx.h"

typedef struct OnnxPoolBlock OnnxPoolBlock;

/* One graph value name: the initializer or node output it is, and the nodes that consume it. */
typedef struct {
    const char *name;        /* borrowed from the pool */
    int64_t init;            /* initializer index or -1 */
    int64_t producer;        /* node index or -1 */
    int64_t cons_off;        /* into OnnxModel.consumers */
    int32_t n_cons;
} OnnxValue;

struct OnnxModel {
    const uint8_t *base;     /* mapping or caller's buffer */
    size_t size;
    int mapped;
    size_t map_len;
    OnnxPoolBlock *pool;     /* names, arrays, decoded typed data */
    int64_t ir_version;
    const char *producer, *producer_version;
    struct { const char *domain; int64_t version; } opsets[64];
    int n_opsets;
    OnnxTensor *inits;
    int64_t n_inits;
    size_t cap_inits;
    OnnxNode *nodes;
    int64_t n_nodes;
    size_t cap_nodes;
    OnnxValueInfo *all_inputs, *outputs; /* graph.input (may list initializers: IR < 4), graph.output */
    int n_all_inputs, n_outputs;
    size_t cap_all_inputs, cap_outputs;
    const OnnxValueInfo **inputs;        /* graph inputs that are not initializers */
    int n_inputs;
    /* index (onnx-index.c) */
    OnnxValue *values;
    int64_t n_values;
    uint32_t *hash;          /* open addressing: value index + 1, 0 = empty */
    size_t hash_cap;
    const OnnxNode **consumers;
};

void *onnx_pool_alloc(OnnxModel *m, size_t n); /* 16-byte aligned, freed with the model; NULL on ENOMEM */
void onnx_pool_free(OnnxModel *m);
int onnx_dtype_size(int data_type);           /* bytes per element of an accepted dtype, else 0 */
/* Build the name index after parsing; checks unique initializer names and single producers. */
int onnx_index_build(OnnxModel *m, char *err, size_t err_len);
void onnx_index_free(OnnxModel *m);

/* ---- parser (onnx-wire.c primitives, used by onnx.c) ------------------------------------------------- */

#define ONNX_MAX_DECODED ((size_t)256 << 20) /* decoded typed data in one model */

enum { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5 };
enum { K_VARINT, K_F32, K_F64 }; /* element kinds of repeated numeric fields */

typedef struct {
    size_t pos, end; /* absolute offsets into the file */
    int depth;
} Cur;

/* Where the parser is, for messages: "graph node[12] '/dec/Conv' attribute[1] 'pads'". */
typedef struct Scope {
    const struct Scope *up;
    const char *what;
    int64_t index;     /* -1: none */
    const char *name;  /* NULL until known */
} Scope;

typedef struct {
    OnnxModel *m;
    char *err;
    size_t err_len;
    size_t decoded;
    /* scratch for the node being parsed (nodes do not nest: subgraphs are skipped) */
    const char **in, **out;
    OnnxAttr *attrs;
    size_t cap_in, cap_out, cap_attrs;
} P;

/* Fill err with "onnx: <scope path>: <message> (at byte <at>)" and return code. */
int onnx_fail(P *p, const Scope *s, int code, size_t at, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int onnx_rd_varint(P *p, const Scope *s, Cur *c, uint64_t *ret, const char *field);
int onnx_rd_tag(P *p, const Scope *s, Cur *c, uint32_t *field, int *wire);
int onnx_need(P *p, const Scope *s, Cur *c, size_t n, const char *field);           /* n bytes left? */
int onnx_rd_len(P *p, const Scope *s, Cur *c, Cur *sub, const char *field);         /* payload cursor */
int onnx_skip(P *p, const Scope *s, Cur *c, int wire, uint32_t field);
int onnx_want_wire(P *p, const Scope *s, size_t at, int wire, int expect, const char *field);
int onnx_rd_int(P *p, const Scope *s, Cur *c, int wire, const char *field, int64_t *ret);
float onnx_le_f32(const uint8_t *b);
/* String field copied NUL-terminated into the pool: min_len..ONNX_MAX_NAME bytes, UTF-8 without NUL if utf8. */
int onnx_rd_str(P *p, const Scope *s, Cur *c, int wire, const char *field, size_t min_len, int utf8,
                const char **ret, size_t *ret_len);
/* Every occurrence of field fno in msg (packed or not) decoded into a pool array of int64 (K_VARINT),
 * float (K_F32) or double (K_F64); more than max elements is malformed. */
int onnx_rep_read(P *p, const Scope *s, Cur msg, uint32_t fno, int kind, int64_t max, void **ret, int64_t *ret_n,
                  const char *field);
int onnx_grow(void *arr, size_t *cap, size_t n, size_t elem); /* realloc *arr so index n fits; -ENOMEM */

#endif
