/* make-synthetic-model — write a Llama-shaped GGUF with random weights for benchmarks (not tests).
 *
 * Shapes (--shape):
 *   llama-3.2-1b  C 2048, 16 layers, 32/8 heads, HD 64, FF 8192, vocab 128256, tied embeddings, rope
 *                 theta 500000 with Llama 3 rope_freqs (factor 32, low 1, high 4, original context 8192)
 *   llama-3.1-8b  C 4096, 32 layers, 32/8 heads, HD 128, FF 14336, vocab 128256, separate output.weight,
 *                 rope theta 500000, rope_freqs factor 8 (SPEC.md §3.4)
 * Weight dtypes (--dtype): Q8_0, Q4_K (token_embd stays Q8_0 as in common Q4_K_M files; the 8B
 * output.weight is Q6_K like Q4_K_M, Q8_0 for Q8_0 files), BF16 (every matrix BF16), or Q4_K_M: the mix
 * llama.cpp's Q4_K_M recipe gives a Llama (src/llama-quant.cpp, llama_tensor_get_type): Q4_K everywhere
 * except Q6_K for attn_v and ffn_down on the "use_more_bits" layers (the first and last eighth of the
 * layers and every third one in between: l < L/8, l >= 7L/8 or (l − L/8) % 3 == 2) and for output.weight,
 * or token_embd when the embeddings are tied (it is then the output matrix); an untied token_embd is Q4_K.
 * The bytes per dtype are printed at the end.
 * Weights are approximately N(0, 1/K): an Irwin–Hall sum of four 16-bit uniforms per element (bounded at
 * ±3.46 sd; ~10× cheaper than Box–Muller, which dominated the run time) from a per-row seeded xorshift, so
 * the bytes do not depend on the thread count; quantized with quant_quantize_row on all CPUs. One random buffer per tensor shape is
 * shared by all layers: the bytes streamed per token are those of distinct layers, while the tool needs
 * one layer of memory, not the whole model. gguf_writer_write streams each tensor with one large fwrite.
 * The tokenizer metadata is a minimal byte-level BPE (256 byte pieces, one merge, Llama 3 special-token
 * names at their usual ids, reserved fillers) so lm_model_load accepts it; text through it is meaningless.
 * Usage: make-synthetic-model [--shape S] [--dtype D] [--layers N] [--vocab N] [--threads N] -o OUT.gguf
 *        make-synthetic-model OUT.gguf [q8_0|q4_k|bf16] [n_layers] [vocab]   (the original interface)
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "gguf.h"
#include "decoder.h"
#include "quant.h"

typedef struct {
    const char *name; /* --shape value */
    int64_t C, L, NH, NKV, HD, FF;
    double rope_factor;
    int tied;         /* 1: no output.weight (the LM head reuses token_embd) */
} Shape;

static const Shape k_shapes[] = {
    {"llama-3.2-1b", 2048, 16, 32, 8, 64, 8192, 32.0, 1},
    {"llama-3.1-8b", 4096, 32, 32, 8, 128, 14336, 8.0, 0},
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- random weights, quantized on every CPU ------------------------------------------------------- */

typedef struct {
    DType dt;
    int64_t K, N;
    size_t row_bytes;
    uint64_t seed;
    uint8_t *out;     /* N rows of row_bytes */
    int n_threads, tid;
    int err;
} FillJob;

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static void *fill_rows(void *arg)
{
    FillJob *j = arg;
    float *row = malloc(sizeof(float) * (size_t)j->K);
    /* sd of the sum of four 16-bit uniforms is 65536/sqrt(3); the target sd is 1/sqrt(K) */
    const float scale = (float)(sqrt(3.0) / 65536.0 / sqrt((double)j->K));
    if (!row) {
        j->err = -ENOMEM;
        return NULL;
    }
    /* Contiguous row ranges per thread. */
    int64_t n0 = j->N * j->tid / j->n_threads, n1 = j->N * (j->tid + 1) / j->n_threads;
    for (int64_t n = n0; n < n1; n++) {
        uint64_t s = splitmix64(j->seed ^ splitmix64((uint64_t)n)) | 1;
        for (int64_t k = 0; k < j->K; k++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            /* four 16-bit uniforms: the sum has mean 4·32767.5 and variance 4·(65536² − 1)/12 */
            uint32_t u = (uint32_t)(s & 0xffff) + (uint32_t)((s >> 16) & 0xffff) + (uint32_t)((s >> 32) & 0xffff) +
                         (uint32_t)(s >> 48);
            row[k] = ((float)u - 131070.0f) * scale;
        }
        if (quant_quantize_row(j->dt, row, j->out + j->row_bytes * (size_t)n, j->K) < 0) {
            j->err = -ENOTSUP;
            break;
        }
    }
    free(row);
    return NULL;
}

/* Random [K, N] weight in dt (malloc'd into *ret), rows spread over n_threads threads. */
static int rand_weight(DType dt, int64_t K, int64_t N, uint64_t seed, int n_threads, void **ret)
{
    FillJob jobs[256];
    pthread_t th[256];
    size_t rb;
    int r = 0, started = 0;

    if (dtype_row_bytes(dt, K, &rb) < 0 || N < 1)
        return -EINVAL;
    if (n_threads > N)
        n_threads = (int)N;
    if (n_threads > 256)
        n_threads = 256;
    uint8_t *out = malloc(rb * (size_t)N);
    if (!out)
        return -ENOMEM;
    for (int t = 0; t < n_threads; t++) {
        jobs[t] = (FillJob){.dt = dt, .K = K, .N = N, .row_bytes = rb, .seed = seed, .out = out,
                            .n_threads = n_threads, .tid = t};
        if (t > 0 && pthread_create(&th[t], NULL, fill_rows, &jobs[t]) == 0)
            started = t;
        else if (t > 0)
            fill_rows(&jobs[t]); /* no thread: do its share here */
    }
    fill_rows(&jobs[0]);
    for (int t = 1; t <= started; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < n_threads; t++)
        if (jobs[t].err < 0)
            r = jobs[t].err;
    if (r < 0) {
        free(out);
        return r;
    }
    *ret = out;
    return 0;
}

/* ---- tokenizer ------------------------------------------------------------------------------------- */

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

static int add_tokenizer(GgufWriter *w, int V, char **tokens, int32_t *types)
{
    int r = 0;
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
        if (!(tokens[i] = strdup(buf)))
            return -ENOMEM;
    }
    const char *merges[1] = {"\xC4\xA0 t"};
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
    return r < 0 ? -EINVAL : 0;
}

/* gguf_writer_add_tensor, adding the tensor's bytes to bytes[dtype] (for the per-dtype summary). */
static int add_counted(GgufWriter *w, const char *name, DType dt, int n_dims, const int64_t *ne, const void *data,
                       double *bytes)
{
    size_t rb;
    int64_t rows = 1;
    for (int i = 1; i < n_dims; i++)
        rows *= ne[i];
    if (dtype_row_bytes(dt, ne[0], &rb) == 0)
        bytes[dt] += (double)rb * (double)rows;
    return gguf_writer_add_tensor(w, name, dt, n_dims, ne, data);
}

/* ---- command line ---------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: make-synthetic-model [options] -o OUT.gguf\n"
            "       make-synthetic-model OUT.gguf [q8_0|q4_k|q4_k_m|bf16] [n_layers] [vocab]\n"
            "  -o, --output FILE   GGUF to write\n"
            "  --shape NAME        llama-3.2-1b (default) or llama-3.1-8b\n"
            "  --dtype NAME        Q8_0 (default), Q4_K, Q4_K_M (llama.cpp's mix) or BF16 weights\n"
            "  --layers N          override the shape's layer count (1..512)\n"
            "  --vocab N           vocabulary size (>= 128010; default 128256)\n"
            "  --threads N         quantization threads (default: all online CPUs)\n");
}

static int parse_dtype(const char *s, DType *ret, int *ret_mix)
{
    *ret_mix = 0;
    if (!strcasecmp(s, "q4_k_m")) {
        *ret = DTYPE_Q4_K;
        *ret_mix = 1;
    } else if (!strcasecmp(s, "q8_0"))
        *ret = DTYPE_Q8_0;
    else if (!strcasecmp(s, "q4_k"))
        *ret = DTYPE_Q4_K;
    else if (!strcasecmp(s, "bf16"))
        *ret = DTYPE_BF16;
    else
        return -EINVAL;
    return 0;
}

static int parse_int(const char *s, long lo, long hi, int *ret)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -EINVAL;
    *ret = (int)v;
    return 0;
}

typedef struct {
    const char *out;
    const Shape *shape;
    DType dt;
    int q4_k_m; /* dt is Q4_K, with llama.cpp's Q4_K_M Q6_K tensors */
    int L, V, n_threads;
} Args;

/* 0, 1 for --help, -EINVAL (message printed) on bad arguments. */
static int parse_args(int argc, char **argv, Args *a)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    *a = (Args){.shape = &k_shapes[0], .dt = DTYPE_Q8_0, .L = 0, .V = 128256,
                .n_threads = ncpu > 0 ? (int)(ncpu > 256 ? 256 : ncpu) : 1};
    if (argc > 1 && argv[1][0] != '-') { /* the original positional interface */
        a->out = argv[1];
        if ((argc > 2 && parse_dtype(argv[2], &a->dt, &a->q4_k_m) < 0) ||
            (argc > 3 && parse_int(argv[3], 1, 512, &a->L) < 0) ||
            (argc > 4 && parse_int(argv[4], 128010, 1 << 24, &a->V) < 0) || argc > 5)
            goto bad;
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            usage(stdout);
            return 1;
        }
        if (!v)
            goto bad;
        i++;
        if (!strcmp(o, "-o") || !strcmp(o, "--output")) {
            a->out = v;
        } else if (!strcmp(o, "--shape")) {
            a->shape = NULL;
            for (size_t s = 0; s < sizeof(k_shapes) / sizeof(k_shapes[0]); s++)
                if (!strcasecmp(v, k_shapes[s].name))
                    a->shape = &k_shapes[s];
            if (!a->shape)
                goto bad;
        } else if (!strcmp(o, "--dtype")) {
            if (parse_dtype(v, &a->dt, &a->q4_k_m) < 0)
                goto bad;
        } else if (!strcmp(o, "--layers")) {
            if (parse_int(v, 1, 512, &a->L) < 0)
                goto bad;
        } else if (!strcmp(o, "--vocab")) {
            if (parse_int(v, 128010, 1 << 24, &a->V) < 0)
                goto bad;
        } else if (!strcmp(o, "--threads")) {
            if (parse_int(v, 1, 256, &a->n_threads) < 0)
                goto bad;
        } else {
            goto bad;
        }
    }
    if (!a->out)
        goto bad;
    return 0;
bad:
    usage(stderr);
    return -EINVAL;
}

int main(int argc, char **argv)
{
    Args a;
    int r = parse_args(argc, argv, &a);
    if (r != 0)
        return r > 0 ? 0 : 1;

    const Shape *sh = a.shape;
    const int64_t C = sh->C, NH = sh->NH, NKV = sh->NKV, HD = sh->HD, FF = sh->FF;
    const int L = a.L > 0 ? a.L : (int)sh->L, V = a.V;
    const DType dt = a.dt;
    const DType emb_dt = dt == DTYPE_BF16 ? DTYPE_BF16 : !a.q4_k_m ? DTYPE_Q8_0 : sh->tied ? DTYPE_Q6_K : DTYPE_Q4_K;
    const DType out_dt = dt == DTYPE_BF16 ? DTYPE_BF16 : dt == DTYPE_Q4_K ? DTYPE_Q6_K : DTYPE_Q8_0;
    static const char *const wn[7] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up",
                                      "ffn_down"};
    const int64_t shp[7][2] = {{C, NH * HD}, {C, NKV * HD}, {C, NKV * HD}, {NH * HD, C}, {C, FF}, {C, FF},
                               {FF, C}};
    GgufWriter *w = NULL;
    char name[96], gname[64], **tokens = NULL;
    int32_t *types = NULL;
    float *norm = NULL, freqs[128];
    void *lw[7] = {0}, *lw6[7] = {0}, *emb = NULL, *outw = NULL; /* lw6: Q6_K attn_v, ffn_down (Q4_K_M) */
    double dt_bytes[DTYPE_COUNT] = {0};
    double t0 = now_s(), t1, t2;

    fprintf(stderr, "make-synthetic-model: %s, %s shape, %d layers, vocab %d, %s weights, %d threads\n", a.out,
            sh->name, L, V, a.q4_k_m ? "Q4_K_M" : dtype_name(dt), a.n_threads);
    r = rand_weight(emb_dt, C, V, 1, a.n_threads, &emb);
    if (r == 0 && !sh->tied)
        r = rand_weight(out_dt, C, V, 2, a.n_threads, &outw);
    for (int i = 0; i < 7 && r == 0; i++)
        r = rand_weight(dt, shp[i][0], shp[i][1], 10 + (uint64_t)i, a.n_threads, &lw[i]);
    for (int i = 2; a.q4_k_m && i < 7 && r == 0; i += 4) /* attn_v (2), ffn_down (6) */
        r = rand_weight(DTYPE_Q6_K, shp[i][0], shp[i][1], 20 + (uint64_t)i, a.n_threads, &lw6[i]);
    norm = malloc(sizeof(float) * (size_t)C);
    tokens = calloc((size_t)V, sizeof(*tokens));
    types = calloc((size_t)V, sizeof(*types));
    if (r == 0 && (!norm || !tokens || !types))
        r = -ENOMEM;
    if (r == 0)
        r = gguf_writer_new(&w);
    if (r < 0) {
        fprintf(stderr, "make-synthetic-model: cannot make the weights: %s\n", strerror(-r));
        goto done;
    }
    t1 = now_s();
    for (int64_t i = 0; i < C; i++)
        norm[i] = 1.0f;
    lm_rope_llama3_factors(freqs, (int)HD, 500000.0, sh->rope_factor, 1.0, 4.0, 8192.0);

    snprintf(gname, sizeof(gname), "synthetic-%s-%s", sh->name, a.q4_k_m ? "Q4_K_M" : dtype_name(dt));
    r |= gguf_writer_add_str(w, "general.architecture", "llama");
    r |= gguf_writer_add_str(w, "general.name", gname);
    r |= gguf_writer_add_u32(w, "general.file_type", dt == DTYPE_Q4_K ? 15 : dt == DTYPE_BF16 ? 32 : 7);
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
    if (r == 0)
        r = add_tokenizer(w, V, tokens, types);

    int64_t ne_emb[2] = {C, V}, ne_c[1] = {C}, ne_f[1] = {HD / 2};
    r |= add_counted(w, "token_embd.weight", emb_dt, 2, ne_emb, emb, dt_bytes);
    r |= add_counted(w, "output_norm.weight", DTYPE_F32, 1, ne_c, norm, dt_bytes);
    if (outw)
        r |= add_counted(w, "output.weight", out_dt, 2, ne_emb, outw, dt_bytes);
    r |= add_counted(w, "rope_freqs.weight", DTYPE_F32, 1, ne_f, freqs, dt_bytes);
    for (int l = 0; l < L && r == 0; l++) { /* the writer copies names; data stays borrowed */
        /* llama.cpp's use_more_bits(l, L): attn_v and ffn_down of these layers are Q6_K in Q4_K_M */
        int more = l < L / 8 || l >= 7 * L / 8 || (l - L / 8) % 3 == 2;
        snprintf(name, sizeof(name), "blk.%d.attn_norm.weight", l);
        r |= add_counted(w, name, DTYPE_F32, 1, ne_c, norm, dt_bytes);
        snprintf(name, sizeof(name), "blk.%d.ffn_norm.weight", l);
        r |= add_counted(w, name, DTYPE_F32, 1, ne_c, norm, dt_bytes);
        for (int i = 0; i < 7; i++) {
            int q6 = a.q4_k_m && more && lw6[i];
            snprintf(name, sizeof(name), "blk.%d.%s.weight", l, wn[i]);
            r |= add_counted(w, name, q6 ? DTYPE_Q6_K : dt, 2, shp[i], q6 ? lw6[i] : lw[i], dt_bytes);
        }
    }
    if (r == 0)
        r = gguf_writer_write(w, a.out);
    if (r < 0) {
        fprintf(stderr, "make-synthetic-model: cannot write %s: %s\n", a.out, strerror(r < -1 ? -r : EINVAL));
        goto done;
    }
    t2 = now_s();
    {
        FILE *f = fopen(a.out, "rb");
        long long sz = -1;
        if (f && fseek(f, 0, SEEK_END) == 0)
            sz = (long long)ftell(f);
        if (f) {
            /* drop the just-written (small, 4 KiB) page-cache pages: the first run then reads the file
             * back in large folios that mmap can map with 2 MiB pages, as for a model read from disk */
            if (fsync(fileno(f)) == 0)
                (void)posix_fadvise(fileno(f), 0, 0, POSIX_FADV_DONTNEED);
            fclose(f);
        }
        fprintf(stderr, "make-synthetic-model: weights %.2f s, write %.2f s (%.2f GB, %.2f GB/s)\n", t1 - t0,
                t2 - t1, (double)sz / 1e9, (double)sz / 1e9 / (t2 - t1 > 1e-6 ? t2 - t1 : 1e-6));
        for (int d = 0; d < DTYPE_COUNT; d++)
            if (dt_bytes[d] > 0)
                fprintf(stderr, "make-synthetic-model:   %-5s %8.1f MB\n", dtype_name(d), dt_bytes[d] / 1e6);
    }
done:
    gguf_writer_free(w);
    for (int i = 0; tokens && i < V; i++)
        free(tokens[i]);
    free(tokens);
    free(types);
    free(norm);
    free(emb);
    free(outw);
    for (int i = 0; i < 7; i++) {
        free(lw[i]);
        free(lw6[i]);
    }
    return r < 0 ? 1 : 0;
}
