/* make-synthetic-model — write a Llama-3.2-1B-shaped GGUF with random weights for benchmarks (not tests):
 * C 2048, 16 layers, 32 heads / 8 kv heads, HD 64, FF 8192, vocab 128256, tied embeddings, rope theta
 * 500000 with the Llama 3.2 rope_freqs (factor 32, low 1, high 4, original context 8192; SPEC.md §3.4).
 *
 * Weights are N(0, 1/K) quantized with quant_quantize_row (Q8_0 or Q4_K); one random buffer per tensor
 * shape is shared by all layers (the bytes streamed per token are the same as for distinct layers, and the
 * tool needs one layer of memory, not the whole model). The tokenizer metadata is a minimal byte-level BPE
 * (256 byte pieces, one merge, Llama 3 special-token names at their usual ids, reserved fillers) so
 * lm_model_load accepts it; text through it is meaningless.
 * Usage: make-synthetic-model OUT.gguf [q8_0|q4_k] [n_layers] [vocab]
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "lm-model.h"
#include "quant.h"

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;

static double rnd_normal(void)
{
    double u1, u2;
    g_rng ^= g_rng << 13, g_rng ^= g_rng >> 7, g_rng ^= g_rng << 17;
    u1 = ((g_rng >> 11) + 1) / 9007199254740993.0;
    g_rng ^= g_rng << 13, g_rng ^= g_rng >> 7, g_rng ^= g_rng << 17;
    u2 = (g_rng >> 11) / 9007199254740992.0;
    return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

/* Random [K, N] weight quantized to dt (malloc'd). */
static void *rand_weight(DType dt, int64_t K, int64_t N)
{
    size_t rb;
    float *row = malloc(sizeof(float) * (size_t)K);
    char *out;

    if (dtype_row_bytes(dt, K, &rb) < 0 || !row)
        return NULL;
    out = malloc(rb * (size_t)N);
    for (int64_t n = 0; out && n < N; n++) {
        for (int64_t k = 0; k < K; k++)
            row[k] = (float)(rnd_normal() / sqrt((double)K));
        if (quant_quantize_row(dt, row, out + rb * (size_t)n, K) < 0) {
            free(out);
            out = NULL;
        }
    }
    free(row);
    return out;
}

/* GPT-2 byte→unicode piece of byte b, UTF-8 encoded into buf. */
static void byte_piece(int b, char *buf)
{
    int cp = b;
    if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))) {
        int n = 0;
        for (int i = 0; i < b; i++)
            if (!((i >= 0x21 && i <= 0x7E) || (i >= 0xA1 && i <= 0xAC) || (i >= 0xAE && i <= 0xFF)))
                n++;
        cp = 256 + n;
    }
    if (cp < 0x80) {
        buf[0] = (char)cp, buf[1] = 0;
    } else {
        buf[0] = (char)(0xC0 | (cp >> 6)), buf[1] = (char)(0x80 | (cp & 0x3F)), buf[2] = 0;
    }
}

int main(int argc, char **argv)
{
    const char *out = argc > 1 ? argv[1] : NULL, *q = argc > 2 ? argv[2] : "q8_0";
    int L = argc > 3 ? atoi(argv[3]) : 16, V = argc > 4 ? atoi(argv[4]) : 128256;
    const int64_t C = 2048, NH = 32, NKV = 8, HD = 64, FF = 8192;
    DType dt = strcmp(q, "q4_k") == 0 ? DTYPE_Q4_K : DTYPE_Q8_0;
    GgufWriter *w = NULL;
    char name[96], **tokens = NULL, *norm_names[2 * 512], *w_names[7 * 512];
    int32_t *types = NULL;
    float *norm = NULL, freqs[32];
    void *wq, *wk, *wv, *wo, *wg, *wu, *wd, *emb;
    int r = 0;

    if (!out || L < 1 || L > 512 || V < 128010) {
        fprintf(stderr, "usage: make-synthetic-model OUT.gguf [q8_0|q4_k] [n_layers 1..512] [vocab >= 128010]\n");
        return 1;
    }
    fprintf(stderr, "make-synthetic-model: %s, %d layers, vocab %d, %s\n", out, L, V, dtype_name(dt));
    emb = rand_weight(DTYPE_Q8_0, C, V); /* token_embd stays Q8_0, as in common Q4_K_M files */
    wq = rand_weight(dt, C, NH * HD);
    wk = rand_weight(dt, C, NKV * HD);
    wv = rand_weight(dt, C, NKV * HD);
    wo = rand_weight(dt, NH * HD, C);
    wg = rand_weight(dt, C, FF);
    wu = rand_weight(dt, C, FF);
    wd = rand_weight(dt, FF, C);
    norm = malloc(sizeof(float) * C);
    tokens = calloc((size_t)V, sizeof(*tokens));
    types = calloc((size_t)V, sizeof(*types));
    if (!emb || !wq || !wk || !wv || !wo || !wg || !wu || !wd || !norm || !tokens || !types ||
        gguf_writer_new(&w) < 0) {
        fprintf(stderr, "make-synthetic-model: out of memory\n");
        return 1;
    }
    for (int64_t i = 0; i < C; i++)
        norm[i] = 1.0f;
    lm_rope_llama3_factors(freqs, (int)HD, 500000.0, 32.0, 1.0, 4.0, 8192.0);

    /* tokenizer: bytes, one merge, specials at the Llama 3 ids, reserved fillers */
    for (int i = 0; i < V; i++) {
        char buf[48];
        types[i] = 1;
        if (i < 256) {
            byte_piece(i, buf);
        } else if (i == 256) {
            snprintf(buf, sizeof(buf), "\xC4\xA0t"); /* "Ġt" */
        } else {
            static const char *const sp[] = {"<|begin_of_text|>", "<|end_of_text|>", NULL, NULL, NULL, NULL,
                                             "<|start_header_id|>", "<|end_header_id|>", NULL, "<|eot_id|>"};
            if (i >= 128000 && i < 128010 && sp[i - 128000])
                snprintf(buf, sizeof(buf), "%s", sp[i - 128000]);
            else
                snprintf(buf, sizeof(buf), "<|reserved_%d|>", i);
            types[i] = 3;
        }
        tokens[i] = strdup(buf);
    }
    const char *merges[1] = {"\xC4\xA0 t"};
    r |= gguf_writer_add_str(w, "general.architecture", "llama");
    r |= gguf_writer_add_str(w, "general.name", dt == DTYPE_Q4_K ? "synthetic-llama-1b-q4_k" : "synthetic-llama-1b-q8_0");
    r |= gguf_writer_add_u32(w, "general.file_type", dt == DTYPE_Q4_K ? 15 : 7);
    r |= gguf_writer_add_u32(w, "llama.context_length", 131072);
    r |= gguf_writer_add_u32(w, "llama.embedding_length", (uint32_t)C);
    r |= gguf_writer_add_u32(w, "llama.block_count", (uint32_t)L);
    r |= gguf_writer_add_u32(w, "llama.feed_forward_length", (uint32_t)FF);
    r |= gguf_writer_add_u32(w, "llama.attention.head_count", (uint32_t)NH);
    r |= gguf_writer_add_u32(w, "llama.attention.head_count_kv", (uint32_t)NKV);
    r |= gguf_writer_add_u32(w, "llama.rope.dimension_count", (uint32_t)HD);
    r |= gguf_writer_add_f32(w, "llama.rope.freq_base", 500000.0f);
    r |= gguf_writer_add_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    r |= gguf_writer_add_u32(w, "llama.vocab_size", (uint32_t)V);
    r |= gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2");
    r |= gguf_writer_add_str(w, "tokenizer.ggml.pre", "llama-bpe");
    r |= gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", (uint64_t)V, (const char *const *)tokens);
    r |= gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, (uint64_t)V, types);
    r |= gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", 1, merges);
    r |= gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 128000);
    r |= gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 128009);
    r |= gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", 1);
    r |= gguf_writer_add_str(w, "tokenizer.chat_template",
                             "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}"
                             "<|end_header_id|>\n\n{{ m['content'] | trim }}<|eot_id|>{% endfor %}");

    int64_t ne_emb[2] = {C, V}, ne_c[1] = {C}, ne_f[1] = {HD / 2};
    r |= gguf_writer_add_tensor(w, "token_embd.weight", DTYPE_Q8_0, 2, ne_emb, emb);
    r |= gguf_writer_add_tensor(w, "output_norm.weight", DTYPE_F32, 1, ne_c, norm);
    r |= gguf_writer_add_tensor(w, "rope_freqs.weight", DTYPE_F32, 1, ne_f, freqs);
    for (int l = 0; l < L && r == 0; l++) {
        static const char *const wn[7] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up",
                                          "ffn_down"};
        void *wd_[7] = {wq, wk, wv, wo, wg, wu, wd};
        const int64_t shp[7][2] = {{C, NH * HD}, {C, NKV * HD}, {C, NKV * HD}, {NH * HD, C}, {C, FF}, {C, FF},
                                   {FF, C}};
        snprintf(name, sizeof(name), "blk.%d.attn_norm.weight", l);
        norm_names[2 * l] = strdup(name);
        snprintf(name, sizeof(name), "blk.%d.ffn_norm.weight", l);
        norm_names[2 * l + 1] = strdup(name);
        r |= gguf_writer_add_tensor(w, norm_names[2 * l], DTYPE_F32, 1, ne_c, norm);
        r |= gguf_writer_add_tensor(w, norm_names[2 * l + 1], DTYPE_F32, 1, ne_c, norm);
        for (int i = 0; i < 7; i++) {
            snprintf(name, sizeof(name), "blk.%d.%s.weight", l, wn[i]);
            w_names[7 * l + i] = strdup(name);
            r |= gguf_writer_add_tensor(w, w_names[7 * l + i], dt, 2, shp[i], wd_[i]);
        }
    }
    if (r == 0)
        r = gguf_writer_write(w, out);
    if (r < 0)
        fprintf(stderr, "make-synthetic-model: cannot write %s: %s\n", out, strerror(-r));
    gguf_writer_free(w);
    return r < 0 ? 1 : 0;
}
