/* bench-vision — Llama 3.2 Vision costs per image and per token: preprocessing, encoder (ViT + projector)
 * and cross-attention K/V time for one 4-tile image, and decode tokens/s with and without an image in the
 * context. Prints one line per measure (and one JSON object with --json).
 *
 * Models: any mllama HF folder — the tiny fixture (tests/fixtures/tiny-mllama) or a random-weight folder with
 * the 11B widths from tools/ref/mllama_shaped.py, whose reduced depth is scaled to the 11B's 32 + 8 vision
 * layers and 8 cross-attention layers when --scale-11b is given (encoder time × 40 / layers, K/V × 8 / cross
 * layers; the patch embedding and projector are counted once, so the scaled encoder time is a slight
 * overestimate). Not a test: nothing is compared.
 * The image is synthetic (a 2·tile × 2·tile gradient → a 2×2 canvas = 4 tiles) unless --image FILE.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "lm.h"
#include "media.h"
#include "mllama.h"
#include "model.h"
#include "bench-util.h"

/* Decode tokens/s over n steps after a user turn (with the image when img != NULL). */
static double decode_rate(MynaModel *mm, const MediaItem *img, int n_tok, int *ret_n, double *ret_prefill_ms)
{
    MynaSession *s = NULL;
    LmSampling sp;
    LmStats st;
    LmToken tok;
    char err[256];
    int n = 0;

    lm_sampling_default(&sp);
    sp.temperature = 0;
    sp.max_tokens = n_tok;
    if (myna_session_new(mm, &s) < 0 ||
        myna_session_add(s, "user", "Describe this picture in detail, please.", img, img ? 1 : 0, err,
                         sizeof(err)) < 0 ||
        lm_session_prefill(myna_session_lm(s), &st) < 0) {
        fprintf(stderr, "bench-vision: session setup failed: %s\n", err);
        myna_session_free(s);
        return -1;
    }
    double t0 = 1e3 * bench_now_s();
    for (; n < n_tok; n++)
        if (lm_session_step(myna_session_lm(s), &sp, n, &tok) < 0 || tok.stop != LM_STOP_NONE)
            break;
    double ms = (1e3 * bench_now_s()) - t0;
    *ret_n = n;
    *ret_prefill_ms = st.prefill_ms;
    myna_session_free(s);
    return n > 0 && ms > 0 ? n * 1e3 / ms : 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"image", required_argument, 0, 'i'}, {"reps", required_argument, 0, 'r'},
        {"tokens", required_argument, 0, 'n'}, {"threads", required_argument, 0, 't'},
        {"backend", required_argument, 0, 'b'}, {"scale-11b", no_argument, 0, 's'},
        {"json", no_argument, 0, 'j'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    const char *image = NULL, *backend = "cpu";
    int reps = 3, n_tok = 32, threads = 0, scale = 0, json = 0, c, rc = 1;
    char err[512] = "";
    Backend *be = NULL;
    MynaModel *mm = NULL;
    MediaItem item = {0};
    Image synth = {0};
    double *pre = NULL, *enc = NULL, *kv = NULL;

    while ((c = getopt_long(argc, argv, "i:r:n:t:b:sjh", opts, NULL)) != -1) {
        switch (c) {
        case 'i': image = optarg; break;
        case 'r': reps = atoi(optarg); break;
        case 'n': n_tok = atoi(optarg); break;
        case 't': threads = atoi(optarg); break;
        case 'b': backend = optarg; break;
        case 's': scale = 1; break;
        case 'j': json = 1; break;
        default:
            fprintf(c == 'h' ? stdout : stderr,
                    "usage: bench-vision MLLAMA_DIR [--image FILE] [--reps N] [--tokens N] [--threads N] "
                    "[--backend SPEC] [--scale-11b] [--json]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (optind >= argc || reps < 1 || reps > 1000 || n_tok < 1) {
        fprintf(stderr, "bench-vision: need an mllama folder (see --help)\n");
        return 2;
    }
    if (backend_new_by_name(backend, threads, &be, err, sizeof(err)) < 0) {
        fprintf(stderr, "bench-vision: backend %s: %s\n", backend, err);
        return 1;
    }
    LmLoadOptions lo = {1024, 1, NULL, 0};
    double t_load = 1e3 * bench_now_s();
    if (myna_model_load(argv[optind], be, &lo, &mm, err, sizeof(err)) < 0 || !myna_model_mllama(mm)) {
        fprintf(stderr, "bench-vision: %s: %s\n", argv[optind], err[0] ? err : "not an mllama folder");
        goto out;
    }
    t_load = (1e3 * bench_now_s()) - t_load;
    Mllama *m = myna_model_mllama(mm);
    const MllamaVitConfig *vc = mllama_vit_config(mllama_vit(m));
    const MllamaPreprocessConfig *pc = mllama_preprocess_config(m);

    if (image) {
        if (media_decode_file(image, MEDIA_IMAGE, NULL, &item, err, sizeof(err)) < 0) {
            fprintf(stderr, "bench-vision: %s: %s\n", image, err);
            goto out;
        }
    } else {
        synth.width = synth.height = 2 * pc->tile_size;
        synth.rgb = malloc((size_t)synth.width * synth.height * 3);
        if (!synth.rgb)
            goto out;
        for (int y = 0; y < synth.height; y++)
            for (int x = 0; x < synth.width; x++) {
                uint8_t *p = synth.rgb + ((size_t)y * synth.width + x) * 3;
                p[0] = (uint8_t)(x * 255 / synth.width);
                p[1] = (uint8_t)(y * 255 / synth.height);
                p[2] = (uint8_t)((x ^ y) & 255);
            }
        item.kind = MEDIA_IMAGE;
        item.frames = &synth;
        item.n_frames = 1;
    }
    const Image *im = &item.frames[0];
    pre = calloc((size_t)reps, sizeof(double));
    enc = calloc((size_t)reps, sizeof(double));
    kv = calloc((size_t)reps, sizeof(double));
    int n_tiles = 0;
    if (!pre || !enc || !kv)
        goto out;
    for (int r = 0; r < reps; r++) {
        MllamaPixels px;
        MllamaImage *img = NULL;
        double t0 = 1e3 * bench_now_s();
        if (mllama_preprocess(pc, im->rgb, im->width, im->height, (size_t)im->width * 3, &px) < 0)
            goto out;
        pre[r] = (1e3 * bench_now_s()) - t0;
        if (mllama_encode_pixels(m, &px, &img) < 0) {
            mllama_pixels_free(&px);
            goto out;
        }
        n_tiles = px.n_tiles;
        mllama_last_timing(m, &enc[r], &kv[r]);
        mllama_image_free(img);
        mllama_pixels_free(&px);
    }
    double pre_ms = bench_median(pre, reps), enc_ms = bench_median(enc, reps), kv_ms = bench_median(kv, reps);
    int n_layers = vc->n_layers + vc->n_global_layers, n_cross = mllama_n_cross(m);
    double enc_scale = scale ? 40.0 / n_layers : 1, kv_scale = scale ? 8.0 / n_cross : 1;
    int n_txt = 0, n_img = 0;
    double pf_txt, pf_img;
    double tps_txt = decode_rate(mm, NULL, n_tok, &n_txt, &pf_txt);
    double tps_img = decode_rate(mm, &item, n_tok, &n_img, &pf_img);

    printf("model %s on %s (loaded in %.0f ms)\n", myna_model_name(mm), be->desc, t_load);
    printf("vision: width %d, %d local + %d global layers, tile %d, %d positions/tile; text: %d cross layers\n",
           vc->n_embd, vc->n_layers, vc->n_global_layers, vc->image_size, vc->n_pos, n_cross);
    printf("image %dx%d -> %d tiles, median of %d:\n", im->width, im->height, n_tiles, reps);
    printf("  preprocess   %9.2f ms\n", pre_ms);
    printf("  encoder      %9.2f ms%s", enc_ms, scale ? "" : "\n");
    if (scale)
        printf("   (x%.2f for 40 layers: %.0f ms)\n", enc_scale, enc_ms * enc_scale);
    printf("  cross K/V    %9.2f ms%s", kv_ms, scale ? "" : "\n");
    if (scale)
        printf("   (x%.2f for 8 cross layers: %.0f ms)\n", kv_scale, kv_ms * kv_scale);
    printf("decode: text only %.1f tok/s (%d tokens, prefill %.1f ms); with the image %.1f tok/s (%d tokens, "
           "prefill %.1f ms); ratio %.3f\n", tps_txt, n_txt, pf_txt, tps_img, n_img, pf_img,
           tps_txt > 0 ? tps_img / tps_txt : 0);
    if (json)
        printf("{\"model\":\"%s\",\"tiles\":%d,\"preprocess_ms\":%.3f,\"encoder_ms\":%.3f,\"cross_kv_ms\":%.3f,"
               "\"encoder_ms_11b\":%.1f,\"cross_kv_ms_11b\":%.1f,\"decode_tok_s_text\":%.2f,"
               "\"decode_tok_s_image\":%.2f}\n", myna_model_name(mm), n_tiles, pre_ms, enc_ms, kv_ms,
               enc_ms * enc_scale, kv_ms * kv_scale, tps_txt, tps_img);
    rc = 0;
out:
    free(pre);
    free(enc);
    free(kv);
    if (image)
        media_item_free(&item);
    free(synth.rgb);
    myna_model_free(mm);
    backend_free(be);
    return rc;
}
