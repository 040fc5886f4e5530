/* fuzz-onnx.c — libFuzzer target for the ONNX reader (core/onnx.c) and the Piper voice binder
 * (speech/tts/voice.c). The input is parsed with onnx_open_memory(); when it is accepted, the invariants the
 * voice loader relies on are checked (each initializer found by its own name, byte size = element count ×
 * element size, raw data inside the input, every node listed among the consumers of each of its inputs and
 * as the producer of each of its outputs, attribute arrays readable) and the first and last byte of every
 * tensor are touched. Then the same bytes go through voice_load_memory() with a fixed tiny-voice .json, so
 * name resolution through the graph and the shape/attribute checks run on hostile graphs too. A broken
 * invariant traps; a read outside the input is a bug that ASan reports. Without -Dfuzzing it is linked with
 * replay-main.c and runs the seed corpus tests/fuzz/corpus/onnx once. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "backend.h"
#include "onnx.h"
#include "voice.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t g_sink;

static const char VOICE_JSON[] =
    "{\"audio\":{\"sample_rate\":16000,\"quality\":\"medium\"},\"espeak\":{\"voice\":\"en-us\"},"
    "\"num_symbols\":12,\"num_speakers\":1,\"phoneme_id_map\":{\"_\":[0],\"^\":[1],\"$\":[2],\"a\":[4]},"
    "\"myna_vits\":{\"hidden_channels\":8,\"inter_channels\":4,\"filter_channels\":16,\"n_heads\":2,"
    "\"n_layers\":2,\"upsample_initial_channel\":16,\"resblock\":\"2\",\"upsample_rates\":[2,2],"
    "\"upsample_kernel_sizes\":[4,4],\"resblock_kernel_sizes\":[3],\"resblock_dilation_sizes\":[[1,2]]}}";

static void touch(const OnnxTensor *t, const uint8_t *data, size_t size)
{
    if ((uint64_t)t->n_elements * (uint64_t)t->elem_size != t->nbytes || t->n_dims < 0 || t->n_dims > ONNX_MAX_DIMS)
        __builtin_trap();
    if (!t->nbytes)
        return;
    const uint8_t *d = t->data;
    if (!d)
        __builtin_trap();
    if (d >= data && d < data + size && t->nbytes > (size_t)(data + size - d))
        __builtin_trap();
    g_sink += d[0] + d[t->nbytes - 1];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static Backend *be;
    OnnxModel *m = NULL;
    Voice *v = NULL;
    char err[512];

    if (onnx_open_memory(data, size, &m, err, sizeof(err)) == 0) {
        for (int64_t i = 0; i < onnx_n_initializers(m); i++) {
            const OnnxTensor *t = onnx_initializer(m, i);
            if (onnx_find_initializer(m, t->name) != t)
                __builtin_trap();
            touch(t, data, size);
        }
        for (int64_t i = 0; i < onnx_n_nodes(m); i++) {
            const OnnxNode *n = onnx_node(m, i);
            const OnnxNode *cons[64];
            for (int k = 0; k < n->n_inputs; k++) {
                if (!n->inputs[k][0])
                    continue;
                int nc = onnx_consumers(m, n->inputs[k], cons, 64), found = nc > 64;
                for (int c = 0; c < nc && c < 64; c++)
                    found |= cons[c] == n;
                if (!found)
                    __builtin_trap();
            }
            for (int k = 0; k < n->n_outputs; k++)
                if (onnx_producer_of(m, n->outputs[k]) != n)
                    __builtin_trap();
            for (int a = 0; a < n->n_attrs; a++) {
                const OnnxAttr *at = &n->attrs[a];
                if (onnx_node_attr(n, at->name) != at)
                    __builtin_trap();
                if (at->n && at->ints)
                    g_sink += (uint64_t)at->ints[at->n - 1];
                if (at->n && at->floats) { /* the bits: casting a NaN or negative float would be UB */
                    uint32_t bits;
                    memcpy(&bits, &at->floats[at->n - 1], 4);
                    g_sink += bits;
                }
                if (at->t)
                    touch(at->t, data, size);
            }
        }
        for (int i = 0; i < onnx_n_inputs(m); i++)
            g_sink += (uint64_t)onnx_input(m, i)->n_dims;
        onnx_close(m);
    }
    if (!be && backend_cpu_new(1, &be) < 0)
        return 0;
    if (voice_load_memory(be, data, size, VOICE_JSON, sizeof(VOICE_JSON) - 1, "fuzz", &v, err, sizeof(err)) == 0)
        g_sink += v->n_params;
    voice_free(v);
    return 0;
}
