/* test-myna-run-vision.c — `myna-run --image/--video` end to end on the tiny Llama 3.2 Vision model
 * (tests/fixtures/tiny-mllama, made by tools/ref/tiny_mllama.py with HF transformers).
 *
 * Checks and bounds:
 *  - the PNG file → decode → preprocess → encode → <|image|> splice → cross-attention path of myna-run gives
 *    HF's logits (square-logits.bin / wide-logits.bin / two-logits.bin) for the prompt positions the raw text
 *    prompt covers (the golden prompt minus its last two byte tokens, which are not valid UTF-8 text):
 *    NMSE < 1e-6 (measured ~5e-8: the square and wide PNGs preprocess exactly as PIL does);
 *  - the tag sits where it should: raw prompt id 4 is the spliced row (-1); with --chat the tag is the
 *    first token of the user message body (after the "\n\n" of the header);
 *  - --video --frames 3 gives three adjacent tags;
 *  - a text-only model with --image, a corrupt PNG, and a tag/image count mismatch fail with one line.
 * NMSE = Σ(a − b)² / Σ b².
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-util.h"

#define RAW1 "<|begin_of_text|><|start_header_id|>-<|end_header_id|><|image|>DOZep{<|eot_id|><|start_header_id|>:<|end_header_id|>"
#define RAW2 "<|begin_of_text|><|image|>DOZ<|image|>ep{"
#define V 320

static char g_fix[512], g_run[512], g_tmp[64];

/* Run myna-run with args; stdout into out, stderr into err; returns the exit status. */
static int run(const char *args, char *out, size_t out_len, char *err, size_t err_len)
{
    char cmd[10000], ef[128];
    snprintf(ef, sizeof(ef), "%s/stderr", g_tmp);
    snprintf(cmd, sizeof(cmd), "%s --backend cpu -t 2 %s 2>%s", g_run, args, ef);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = fread(out, 1, out_len - 1, p);
    out[n] = 0;
    int st = pclose(p);
    FILE *f = fopen(ef, "r");
    n = f ? fread(err, 1, err_len - 1, f) : 0;
    err[n] = 0;
    if (f)
        fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int prompt_ids(const char *out, int *ids, int cap)
{
    const char *p = strstr(out, "prompt_ids:");
    int n = 0;
    if (!p)
        return -1;
    p += strlen("prompt_ids:");
    while (*p && *p != '\n' && n < cap) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p)
            break;
        ids[n++] = (int)v;
        p = end;
    }
    return n;
}

static double logits_nmse(const char *got_path, const char *golden, int rows)
{
    char path[2200];
    size_t n = (size_t)V * (size_t)rows, na = 0, nb = 0;
    snprintf(path, sizeof(path), "%s/%s", g_fix, golden);
    float *a = test_read_file(got_path, &na), *b = test_read_file(path, &nb);
    double e = a && b && na >= n * sizeof(float) && nb >= n * sizeof(float) ? test_nmse(a, b, n) : INFINITY;
    free(a);
    free(b);
    return e;
}

static void golden_case(const char *raw, const char *img1, const char *img2, const char *golden, int rows)
{
    char args[8192], out[8192], err[4096], lg[128];
    int ids[256], n;
    snprintf(lg, sizeof(lg), "%s/logits.bin", g_tmp);
    snprintf(args, sizeof(args), "-m %s -p '%s' --image %s/%s %s%s%s%s -n 0 --print-tokens --logits %s", g_fix, raw,
             g_fix, img1, img2 ? "--image " : "", img2 ? g_fix : "", img2 ? "/" : "", img2 ? img2 : "", lg);
    CHECK_INT(run(args, out, sizeof(out), err, sizeof(err)), 0);
    n = prompt_ids(out, ids, 256);
    CHECK_INT(n, rows);
    double e = logits_nmse(lg, golden, rows);
    fprintf(stderr, "%s (+%s) vs %s: %d rows, logits NMSE %.3g\n", img1, img2 ? img2 : "-", golden, rows, e);
    CHECK(e < 1e-6);
}

int main(void)
{
    const char *fx = getenv("MYNA_FIXTURES"), *br = getenv("MYNA_BUILD_ROOT");
    char args[8192], out[8192], err[4096];
    int ids[256], n;

    if (!fx || !br) {
        fprintf(stderr, "MYNA_FIXTURES / MYNA_BUILD_ROOT not set (run through meson test)\n");
        return 77;
    }
    snprintf(g_fix, sizeof(g_fix), "%s/tiny-mllama", fx);
    snprintf(g_run, sizeof(g_run), "%s/clients/myna-run", br);
    snprintf(g_tmp, sizeof(g_tmp), "/tmp/myna-run-vision-XXXXXX");
    if (!mkdtemp(g_tmp) || access(g_run, X_OK) < 0)
        return 77;

    /* 1. HF goldens through the whole file path */
    golden_case(RAW1, "square.png", NULL, "square-logits.bin", 15);
    golden_case(RAW1, "wide.png", NULL, "wide-logits.bin", 15);
    golden_case(RAW2, "square.png", "wide.png", "two-logits.bin", 9);
    snprintf(args, sizeof(args), "-m %s -p '%s' --image %s/square.png -n 0 --print-tokens", g_fix, RAW1, g_fix);
    CHECK_INT(run(args, out, sizeof(out), err, sizeof(err)), 0);
    CHECK(prompt_ids(out, ids, 256) == 15 && ids[4] == -1 && ids[3] == 3);

    /* 2. chat template: <|image|> opens the user message body */
    snprintf(args, sizeof(args), "-m %s --chat -p 'What is in this picture?' --image %s/square.png -n 6 "
             "--print-tokens", g_fix, g_fix);
    CHECK_INT(run(args, out, sizeof(out), err, sizeof(err)), 0);
    n = prompt_ids(out, ids, 256);
    int n_tags = 0, at = -1;
    for (int i = 0; i < n; i++)
        if (ids[i] == -1) {
            n_tags++;
            at = i;
        }
    CHECK_INT(n_tags, 1);
    CHECK(at >= 2 && ids[at - 1] == 203 && ids[at - 2] == 203); /* "\n\n" after <|end_header_id|> */
    CHECK(strstr(out, "output_ids: ") != NULL);

    /* 3. video: three frames, three adjacent tags */
    snprintf(args, sizeof(args), "-m %s --chat -p 'Describe the clip.' --video %s/../media/video/ramp.mp4 "
             "--frames 3 -n 2 --print-tokens", g_fix, g_fix);
    CHECK_INT(run(args, out, sizeof(out), err, sizeof(err)), 0);
    n = prompt_ids(out, ids, 256);
    n_tags = 0;
    for (int i = 0; i < n; i++)
        n_tags += ids[i] == -1 && (n_tags == 0 || ids[i - 1] == -1);
    CHECK_INT(n_tags, 3);

    /* 4. failures: one line each */
    snprintf(args, sizeof(args), "-m %s/../tiny-llama/tiny-llama-b-hf -p hi --image %s/square.png -n 1", g_fix,
             g_fix);
    CHECK_INT(run(args, out, sizeof(out), err, sizeof(err)), 1);
    CHECK(strstr(err, "model tiny-llama-b-hf has no vision encoder; use a Llama 3.2 Vision (mllama) model folder"));
    snprintf(args, sizeof(args), "-m %s -p hi --image %s/../media/hostile/png-bad-colour-type-5 -n 1", g_fix, g_fix);
    CHECK_INT(run(args, out, sizeof(out), err, sizeof(err)), 1);
    CHECK(strstr(err, "png-bad-colour-type-5: image:") != NULL);
    snprintf(args, sizeof(args), "-m %s -p '%s' --image %s/square.png --image %s/wide.png -n 1", g_fix, RAW1, g_fix,
             g_fix);
    CHECK_INT(run(args, out, sizeof(out), err, sizeof(err)), 1);
    CHECK(strstr(err, "1 <|image|> tags but 2 images") != NULL);
    fprintf(stderr, "last error line: %s", err);

    char f[128];
    snprintf(f, sizeof(f), "%s/logits.bin", g_tmp);
    unlink(f);
    snprintf(f, sizeof(f), "%s/stderr", g_tmp);
    unlink(f);
    rmdir(g_tmp);
    return test_exit();
}
