/* test-whisper.c — speech/whisper.c against HF transformers goldens on a tiny random Whisper
 * (tools/ref/tiny_whisper.py → tests/fixtures/tiny-whisper/).
 *
 * Error measure: NMSE = Σ(a − b)² / Σ b² over a whole tensor. Bounds: encoder states and decoder logits
 * (all positions of one prefill) vs HF float32 < 1e-6; the same logits computed with the self-attention
 * cache (prefill in two chunks, then token by token) < 1e-6. The whisper.cpp .bin form of the same F32
 * weights (written by tiny_whisper.py's own writer) gives the HF folder's numbers (NMSE < 1e-12) and the
 * goldens (< 1e-6); its F16 form (matrices F16 as whisper.cpp's converter writes them) < 1e-5; truncated
 * and corrupted .bin files are rejected with -EBADMSG. Also: the CPU backend with 1 and 2 threads,
 * argument checks (-EINVAL) and malformed folders (-EBADMSG / -ENOENT).
 * With --real (suite slow): Whisper tiny.en (scripts/fetch-models; MYNA_WHISPER_MODEL overrides the folder)
 * transcribes 22 sentences synthesized with espeak-ng (voice en-us, 150 words/min) and resampled to 16 kHz
 * by ffmpeg; word error rate (lowercase, punctuation dropped, small numbers spelled out) printed per
 * sentence, overall <= 20%. The errors are tiny.en's on synthetic speech: HF transformers gives the same
 * tokens for these inputs. Skips (77) without the model or
 * without espeak-ng/ffmpeg.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "test-util.h"
#include "whisper-impl.h" /* wggml_open_memory for the hostile .bin cases */
#include "whisper.h"

enum { N_FRAMES = 80, N_MELS = 80, N_POS = 40, D = 64, V = 300, N_IDS = 7 };
static const int32_t k_ids[N_IDS] = {257, 12, 99, 5, 231, 42, 7}; /* = tools/ref/tiny_whisper.py IDS */

static char g_dir[4096];

static float *read_f32(const char *name, size_t n)
{
    char path[4200];
    float *buf = malloc(sizeof(float) * n);
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", g_dir, name);
    f = fopen(path, "rb");
    if (!f || !buf || fread(buf, sizeof(float), n, f) != n) {
        fprintf(stderr, "cannot read %s\n", path);
        free(buf);
        buf = NULL;
    }
    if (f)
        fclose(f);
    return buf;
}

/* One model form (HF folder or .bin) against the HF goldens; tol bounds every NMSE. */
static void check_model(Backend *be, const char *form, double tol, const float *mel, const float *enc_ref,
                        const float *logits_ref)
{
    char path[4200], err[512] = "";
    float *enc = malloc(sizeof(float) * N_POS * D), *lg = malloc(sizeof(float) * V * N_IDS);
    Whisper *w = NULL;
    double e;
    int r;

    snprintf(path, sizeof(path), "%s/%s", g_dir, form);
    r = whisper_load(path, be, &w, err, sizeof(err));
    if (r < 0)
        fprintf(stderr, "whisper_load: %d %s\n", r, err);
    CHECK_INT(r, 0);
    if (r < 0 || !enc || !lg)
        goto out;
    CHECK_INT(whisper_config(w)->n_audio_state, D);
    CHECK_INT(whisper_config(w)->n_vocab, V);
    CHECK_INT(whisper_config(w)->multilingual, 0);
    CHECK_INT(whisper_tokens(w)->eot, 256);
    CHECK_INT(whisper_tokens(w)->sot, 257);
    CHECK(whisper_encoder_output(w) == NULL);
    CHECK_INT(whisper_decode(w, k_ids, 1, 0, lg, 0), -EINVAL); /* nothing encoded yet */

    /* encoder */
    CHECK_INT(whisper_encode(w, mel, N_FRAMES, enc), 0);
    e = test_nmse(enc, enc_ref, N_POS * D);
    fprintf(stderr, "%s, %s: encoder NMSE %.3g\n", be->desc, form, e);
    CHECK(e < tol);
    CHECK(whisper_encoder_output(w) != NULL);

    /* decoder, one prefill of every position */
    CHECK_INT(whisper_decode(w, k_ids, N_IDS, 0, lg, 1), 0);
    e = test_nmse(lg, logits_ref, V * N_IDS);
    fprintf(stderr, "%s, %s: decoder logits NMSE %.3g (prefill)\n", be->desc, form, e);
    CHECK(e < tol);

    /* the same through the cache: 3 + 4 tokens, then 1 by 1 */
    memset(lg, 0, sizeof(float) * V * N_IDS);
    CHECK_INT(whisper_decode(w, k_ids, 3, 0, lg, 1), 0);
    CHECK_INT(whisper_decode(w, k_ids + 3, 4, 3, lg + 3 * V, 1), 0);
    e = test_nmse(lg, logits_ref, V * N_IDS);
    fprintf(stderr, "%s, %s: decoder logits NMSE %.3g (3 + 4)\n", be->desc, form, e);
    CHECK(e < tol);
    memset(lg, 0, sizeof(float) * V * N_IDS);
    for (int t = 0; t < N_IDS; t++)
        CHECK_INT(whisper_decode(w, k_ids + t, 1, t, lg + (size_t)t * V, 0), 0);
    e = test_nmse(lg, logits_ref, V * N_IDS);
    fprintf(stderr, "%s, %s: decoder logits NMSE %.3g (token by token)\n", be->desc, form, e);
    CHECK(e < tol);
    /* last row only */
    CHECK_INT(whisper_decode(w, k_ids, N_IDS, 0, lg, 0), 0);
    CHECK(test_nmse(lg, logits_ref + (N_IDS - 1) * V, V) < tol);

    /* argument checks */
    int32_t bad = V;
    CHECK_INT(whisper_encode(w, mel, N_FRAMES - 1, NULL), -EINVAL);
    CHECK_INT(whisper_encode(w, mel, N_FRAMES + 2, NULL), -EINVAL);
    CHECK_INT(whisper_encode(w, NULL, N_FRAMES, NULL), -EINVAL);
    CHECK_INT(whisper_encode(w, mel, N_FRAMES, NULL), 0);
    CHECK_INT(whisper_decode(w, &bad, 1, 0, lg, 0), -EINVAL);
    CHECK_INT(whisper_decode(w, k_ids, 1, 32, lg, 0), -EINVAL);  /* n_text_ctx = 32 */
    CHECK_INT(whisper_decode(w, k_ids, 0, 0, lg, 0), -EINVAL);
    CHECK_INT(whisper_decode(w, k_ids, 1, 31, lg, 0), 0);
    /* the tiny model has 40 positions, not 30 s windows (and the folder has no tokenizer.json) */
    char *text = NULL, tok[64];
    float pcm[1600] = {0};
    CHECK_INT(whisper_transcribe(w, pcm, 1600, NULL, &text, NULL), -ENOTSUP);
    CHECK(text == NULL);
    if (strstr(form, ".bin")) { /* the .bin vocabulary */
        CHECK_INT(whisper_token_text(w, 65, tok, sizeof(tok)), 1);
        CHECK(!strcmp(tok, "A"));
        CHECK_INT(whisper_token_text(w, 256, tok, sizeof(tok)), 13);
        CHECK(!strcmp(tok, "<|endoftext|>"));
    }
    CHECK_INT(whisper_token_text(w, V, tok, sizeof(tok)), -EINVAL);
out:
    whisper_free(w);
    free(enc);
    free(lg);
}

/* F16 matrices (random weights rounded to 11 bits) vs the F32 goldens. */
#define F16_TOL 1e-5

/* The HF folder and the .bin of the same F32 weights compute the same numbers. */
static void check_same_forms(Backend *be, const float *mel)
{
    const char *forms[2] = {"model", "model.bin"};
    float *out[2][2] = {{NULL, NULL}, {NULL, NULL}};
    char path[4200], err[512];
    int ok = 0;

    for (int f = 0; f < 2; f++) {
        Whisper *w = NULL;
        snprintf(path, sizeof(path), "%s/%s", g_dir, forms[f]);
        out[f][0] = malloc(sizeof(float) * N_POS * D);
        out[f][1] = malloc(sizeof(float) * V * N_IDS);
        CHECK_INT(whisper_load(path, be, &w, err, sizeof(err)), 0);
        if (w && out[f][0] && out[f][1] && whisper_encode(w, mel, N_FRAMES, out[f][0]) == 0 &&
            whisper_decode(w, k_ids, N_IDS, 0, out[f][1], 1) == 0)
            ok++;
        whisper_free(w);
    }
    CHECK_INT(ok, 2);
    if (ok == 2) {
        double e0 = test_nmse(out[1][0], out[0][0], N_POS * D), e1 = test_nmse(out[1][1], out[0][1], V * N_IDS);
        fprintf(stderr, ".bin vs HF folder: encoder NMSE %.3g, logits NMSE %.3g\n", e0, e1);
        CHECK(e0 < 1e-12);
        CHECK(e1 < 1e-12);
    }
    for (int f = 0; f < 2; f++) {
        free(out[f][0]);
        free(out[f][1]);
    }
}

/* Hostile .bin files: every truncation of the header region, bad magic, absurd counts. */
static void check_bin_errors(Backend *be)
{
    char path[4200], err[512];
    unsigned char *buf = NULL;
    long size = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/model-f16.bin", g_dir);
    f = fopen(path, "rb");
    if (f && fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)size)) && fread(buf, 1, (size_t)size, f) == (size_t)size) {
        WggmlFile *g = NULL;
        int bad = 0, n = 0;
        CHECK_INT(wggml_open_memory(buf, (size_t)size, &g, err, sizeof(err)), 0);
        wggml_close(g);
        /* every prefix shorter than the file except those ending exactly between tensors is malformed;
         * steps of 7 bytes over the whole file, every byte over the first 70 kB (headers, vocabulary) */
        for (long cut = 0; cut < size; cut += cut < 70000 ? 1 : 7) {
            g = NULL;
            int r = wggml_open_memory(buf, (size_t)cut, &g, err, sizeof(err));
            n++;
            if (r == 0) {
                /* a cut at a tensor boundary is a valid (shorter) file: it must then lack a tensor */
                Whisper *w = NULL;
                wggml_close(g);
                char tmp[] = "/tmp/test-whisper-bin.XXXXXX";
                int fd = mkstemp(tmp);
                if (fd >= 0 && write(fd, buf, (size_t)cut) == cut) {
                    close(fd);
                    if (whisper_load(tmp, be, &w, err, sizeof(err)) == 0)
                        bad++;
                    whisper_free(w);
                } else if (fd >= 0) {
                    close(fd);
                }
                unlink(tmp);
            } else if (r != -EBADMSG) {
                bad++;
                fprintf(stderr, "cut %ld: %d %s\n", cut, r, err);
            }
        }
        fprintf(stderr, "%d truncated .bin files rejected\n", n);
        CHECK_INT(bad, 0);
        /* field corruptions */
        unsigned char *c = malloc((size_t)size);
        const struct { long off; int32_t v; int want; } k_bad[] = {
            {0, 0x12345678, -EBADMSG},   /* magic */
            {4, -1, -EBADMSG},           /* n_vocab */
            {4 * 11, 1 << 30, -EBADMSG}, /* ftype */
            {48, 100000, -EBADMSG},      /* n_mel of the filters */
            {56 + 80 * 201 * 4, 1 << 30, -EBADMSG}, /* vocabulary count */
            {60 + 80 * 201 * 4, 1 << 30, -EBADMSG}, /* first token length */
        };
        for (size_t i = 0; c && i < sizeof(k_bad) / sizeof(k_bad[0]); i++) {
            WggmlFile *g2 = NULL;
            memcpy(c, buf, (size_t)size);
            memcpy(c + k_bad[i].off, &k_bad[i].v, 4);
            CHECK_INT(wggml_open_memory(c, (size_t)size, &g2, err, sizeof(err)), k_bad[i].want);
            CHECK(g2 == NULL);
        }
        free(c);
    } else {
        CHECK(0);
    }
    if (f)
        fclose(f);
    free(buf);
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

/* Malformed folders: missing, bad config, missing tensor. */
static void check_errors(Backend *be)
{
    char tmp[] = "/tmp/test-whisper.XXXXXX", path[4200], cmd[8600], err[512];
    Whisper *w = NULL;
    int r;

    err[0] = 0;
    CHECK(whisper_load("/nonexistent/whisper", be, &w, err, sizeof(err)) < 0);
    CHECK(w == NULL);
    whisper_free(NULL);
    if (!mkdtemp(tmp)) {
        CHECK(0);
        return;
    }
    snprintf(path, sizeof(path), "%s/model.safetensors", tmp);
    snprintf(cmd, sizeof(cmd), "cp '%s/model/model.safetensors' '%s'", g_dir, path);
    CHECK_INT(system(cmd), 0);
    snprintf(path, sizeof(path), "%s/config.json", tmp);
    /* d_model 64 is not divisible by 5 heads */
    write_file(path, "{\"model_type\":\"whisper\",\"vocab_size\":300,\"num_mel_bins\":80,\"d_model\":64,"
                     "\"encoder_layers\":2,\"decoder_layers\":2,\"encoder_attention_heads\":5,"
                     "\"decoder_attention_heads\":4,\"encoder_ffn_dim\":128,\"decoder_ffn_dim\":96,"
                     "\"max_source_positions\":40,\"max_target_positions\":32,\"eos_token_id\":256,"
                     "\"decoder_start_token_id\":257}");
    r = whisper_load(tmp, be, &w, err, sizeof(err));
    fprintf(stderr, "bad heads: %d %s\n", r, err);
    CHECK_INT(r, -EBADMSG);
    /* a layer more than the file has: a missing tensor, named in the message */
    write_file(path, "{\"model_type\":\"whisper\",\"vocab_size\":300,\"num_mel_bins\":80,\"d_model\":64,"
                     "\"encoder_layers\":3,\"decoder_layers\":2,\"encoder_attention_heads\":4,"
                     "\"decoder_attention_heads\":4,\"encoder_ffn_dim\":128,\"decoder_ffn_dim\":96,"
                     "\"max_source_positions\":40,\"max_target_positions\":32,\"eos_token_id\":256,"
                     "\"decoder_start_token_id\":257}");
    r = whisper_load(tmp, be, &w, err, sizeof(err));
    fprintf(stderr, "missing layer: %d %s\n", r, err);
    CHECK_INT(r, -EBADMSG);
    CHECK(strstr(err, "model.encoder.layers.2") != NULL);
    /* wrong FF width: a shape mismatch */
    write_file(path, "{\"model_type\":\"whisper\",\"vocab_size\":300,\"num_mel_bins\":80,\"d_model\":64,"
                     "\"encoder_layers\":2,\"decoder_layers\":2,\"encoder_attention_heads\":4,"
                     "\"decoder_attention_heads\":4,\"encoder_ffn_dim\":256,\"decoder_ffn_dim\":96,"
                     "\"max_source_positions\":40,\"max_target_positions\":32,\"eos_token_id\":256,"
                     "\"decoder_start_token_id\":257}");
    r = whisper_load(tmp, be, &w, err, sizeof(err));
    fprintf(stderr, "bad shape: %d %s\n", r, err);
    CHECK_INT(r, -EBADMSG);
    CHECK(w == NULL);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    CHECK_INT(system(cmd), 0);
}

/* ---- real weights: tiny.en on sentences synthesized with espeak-ng --------------------------------- */

static const char *const k_sentences[] = {
    "The quick brown fox jumps over the lazy dog.",
    "Please call me back when you get home tonight.",
    "The weather is nice and sunny today.",
    "I would like a cup of coffee with milk.",
    "Where is the nearest train station?",
    "She reads a book every evening before bed.",
    "We need to buy bread, eggs and apples.",
    "The meeting starts at ten in the morning.",
    "My brother lives in a small house near the river.",
    "Can you help me carry these boxes?",
    "The children are playing in the park.",
    "He forgot his keys at the office.",
    "This computer is very fast and quiet.",
    "Turn left at the next corner and go straight.",
    "The music was too loud last night.",
    "Our team won the game on Saturday.",
    "Do not forget to water the plants.",
    "The doctor said I should rest for a week.",
    "It is raining, so take an umbrella.",
    "The library closes at six o'clock.",
    "I have two cats and one dog.",
    "Thank you very much for your help.",
};

/* Lowercase words of text, punctuation dropped (apostrophes kept), numbers 0..20 spelled out (the part of
 * Whisper's EnglishTextNormalizer these sentences need); returns the count. */
static const char *const k_numbers[21] = {
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty",
};

static void spell_number(char *word)
{
    char *end;
    long v = strtol(word, &end, 10);
    if (isdigit((unsigned char)word[0]) && !*end && v >= 0 && v <= 20)
        snprintf(word, 32, "%s", k_numbers[v]);
}

static int words(const char *text, char out[][32], int cap)
{
    int n = 0, len = 0;
    for (const char *p = text;; p++) {
        int c = (unsigned char)*p;
        if (c && (isalnum(c) || c == '\'')) {
            if (len < 31 && n < cap)
                out[n][len++] = (char)tolower(c);
            continue;
        }
        if (len > 0 && n < cap) {
            out[n][len] = 0;
            spell_number(out[n]);
            n++;
        }
        len = 0;
        if (!c)
            break;
    }
    return n;
}

/* Word-level Levenshtein distance. */
static int edit_distance(char a[][32], int na, char b[][32], int nb)
{
    int d[64][64];
    for (int i = 0; i <= na; i++)
        d[i][0] = i;
    for (int j = 0; j <= nb; j++)
        d[0][j] = j;
    for (int i = 1; i <= na; i++)
        for (int j = 1; j <= nb; j++) {
            int sub = d[i - 1][j - 1] + (strcmp(a[i - 1], b[j - 1]) != 0);
            int del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
    return d[na][nb];
}

static const char *model_dir(char *buf, size_t len)
{
    const char *e = getenv("MYNA_WHISPER_MODEL"), *dir = getenv("MYNA_MODELS_DIR"), *home = getenv("HOME");
    if (e)
        return e;
    if (dir)
        snprintf(buf, len, "%s/whisper-tiny.en", dir);
    else
        snprintf(buf, len, "%s/.local/share/myna/models/whisper-tiny.en", home ? home : "/nonexistent");
    return buf;
}

static int run_real(void)
{
    char mdir[4096], path[4200], tmp[] = "/tmp/test-whisper-real.XXXXXX", cmd[9000], err[512] = "";
    const char *dir = model_dir(mdir, sizeof(mdir));
    int total_words = 0, total_err = 0, n_sent = (int)(sizeof(k_sentences) / sizeof(k_sentences[0]));
    Backend *be = NULL;
    Whisper *w = NULL;
    WhisperOptions o;

    snprintf(path, sizeof(path), "%s/model.safetensors", dir);
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "SKIP: %s not installed (scripts/fetch-models)\n", dir);
        return 77;
    }
    if (system("command -v espeak-ng >/dev/null && command -v ffmpeg >/dev/null") != 0) {
        fprintf(stderr, "SKIP: espeak-ng or ffmpeg missing\n");
        return 77;
    }
    if (!mkdtemp(tmp))
        return 1;
    CHECK_INT(backend_cpu_new(0, &be), 0);
    if (be && whisper_load(dir, be, &w, err, sizeof(err)) < 0)
        fprintf(stderr, "whisper_load %s: %s\n", dir, err);
    CHECK(w != NULL);
    whisper_options_default(&o);
    for (int i = 0; w && i < n_sent; i++) {
        char ref[64][32], hyp[64][32];
        float *pcm = NULL;
        char *text = NULL;
        long size = 0;
        FILE *f;

        snprintf(cmd, sizeof(cmd), "espeak-ng -v en-us -s 150 -w '%s/s.wav' \"%s\" && "
                 "ffmpeg -loglevel error -y -i '%s/s.wav' -ar 16000 -ac 1 -f f32le '%s/s.f32'", tmp, k_sentences[i],
                 tmp, tmp);
        CHECK_INT(system(cmd), 0);
        snprintf(path, sizeof(path), "%s/s.f32", tmp);
        f = fopen(path, "rb");
        if (f && fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
            (pcm = malloc((size_t)size)) && fread(pcm, 1, (size_t)size, f) == (size_t)size) {
            WhisperStats st;
            int r = whisper_transcribe(w, pcm, (size_t)size / sizeof(float), &o, &text, &st);
            if (r == -ENOTSUP) { /* built without FFmpeg: no log-mel */
                fprintf(stderr, "SKIP: transcription unavailable in this build\n");
                free(pcm);
                fclose(f);
                whisper_free(w);
                backend_free(be);
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
                return system(cmd) == 0 ? 77 : 1;
            }
            CHECK_INT(r, 0);
        }
        if (f)
            fclose(f);
        CHECK(text != NULL);
        int nr = words(k_sentences[i], ref, 64), nh = words(text ? text : "", hyp, 64);
        int e = edit_distance(ref, nr, hyp, nh);
        fprintf(stderr, "[%2d] WER %5.1f%%  ref: %s\n                hyp: %s\n", i, 100.0 * e / nr, k_sentences[i],
                text ? text : "(none)");
        total_words += nr;
        total_err += e;
        free(text);
        free(pcm);
    }
    if (total_words) {
        double wer = (double)total_err / total_words;
        fprintf(stderr, "overall WER %.1f%% (%d errors / %d words, %d sentences)\n", 100 * wer, total_err,
                total_words, n_sent);
        CHECK(wer <= 0.20);
    }
    whisper_free(w);
    backend_free(be);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    CHECK_INT(system(cmd), 0);
    return test_exit();
}

int main(int argc, char **argv)
{
    const char *fx = getenv("MYNA_FIXTURES");
    float *mel, *enc, *logits;

    if (argc > 1 && !strcmp(argv[1], "--real"))
        return run_real();

    snprintf(g_dir, sizeof(g_dir), "%s/tiny-whisper", fx ? fx : "tests/fixtures");
    mel = read_f32("mel.bin", N_FRAMES * N_MELS);
    enc = read_f32("encoder.bin", N_POS * D);
    logits = read_f32("logits.bin", V * N_IDS);
    CHECK(mel && enc && logits);
    if (mel && enc && logits) {
        for (int threads = 1; threads <= 2; threads++) {
            Backend *be = NULL;
            CHECK_INT(backend_cpu_new(threads, &be), 0);
            if (!be)
                continue;
            check_model(be, "model", 1e-6, mel, enc, logits);
            check_model(be, "model.bin", 1e-6, mel, enc, logits);
            if (threads == 1) {
                check_model(be, "model-f16.bin", F16_TOL, mel, enc, logits);
                check_same_forms(be, mel);
                check_errors(be);
                check_bin_errors(be);
            }
            backend_free(be);
        }
    }
    free(mel);
    free(enc);
    free(logits);
    return test_exit();
}
