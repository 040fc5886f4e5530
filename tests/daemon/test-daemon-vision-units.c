/* test-daemon-vision-units.c — the frames of an image question are encoded one per worker unit (issue 12
 * item 3), on the test:vision engine whose frames each take 200 ms to "encode".
 *
 * Checks:
 *  - an Ask with 8 images (1.6 s of encoding) does not hold the worker: another session's short question,
 *    asked right after, finishes while the images are still being encoded;
 *  - Cancel then ends the image question between frames: Finished "cancelled" with images_encoded at least
 *    1 and fewer than 8 (encoding all frames in one unit, as before, gives 8, or keeps the other session
 *    waiting until the end);
 *  - the same 8 images without Cancel: images_encoded 8 and the answer names all 8 images;
 *  - with the tiny Llama 3.2 Vision model, a question with two images (encoded in two units) streams the
 *    same greedy answer as `myna-run --chat --image A --image B`, with images_encoded 2.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "test-util.h"

#define N_IMG 8

static Harness H;

int main(void)
{
    const char *fx = getenv("MYNA_FIXTURES");
    char img[2048], pa[128], pb[128];
    const char *hints[N_IMG];
    int fds[N_IMG];
    sd_bus_error e = SD_BUS_ERROR_NULL;

    if (!fx)
        return 77;
    snprintf(img, sizeof(img), "%s/tiny-mllama/square.png", fx);
    if (access(img, R_OK) < 0 || harness_start_bus(&H) < 0)
        return 77;
    CHECK_INT(harness_start_daemon(&H, "model = test:vision:200\nmax_attachments = 8\n", NULL), 0);
    sd_bus *a = harness_connect(&H);
    if (!a || harness_wait_ready(a, 20) < 0) {
        harness_stop(&H);
        return 1;
    }
    for (int i = 0; i < N_IMG; i++) {
        hints[i] = "image/png";
        fds[i] = open(img, O_RDONLY | O_CLOEXEC);
        CHECK(fds[i] >= 0);
    }
    Collector ca = {0}, cb = {0};
    CHECK(hc_create_session(a, NULL, 0, pa, sizeof(pa), &e) >= 0);
    CHECK(hc_create_session(a, NULL, 0, pb, sizeof(pb), &e) >= 0);
    hc_watch(a, &ca, pa);
    hc_watch(a, &cb, pb);

    /* 1. the other session is answered while the frames are encoded; Cancel stops between frames */
    CHECK(hc_ask_media(a, &ca, "what are these", 16, hints, fds, N_IMG, &e) >= 0);
    CHECK(hc_ask(a, &cb, "hi", 4, &e) >= 0);
    Collector *pcb = &cb;
    CHECK(hc_wait(&a, &pcb, 1, 30) >= 0);
    fprintf(stderr, "other session: finished %d [%s]; image question still running: %d\n", cb.finished, cb.text,
            !ca.finished && !ca.failed);
    CHECK(cb.finished && strstr(cb.text, "hi"));
    CHECK(!ca.finished && !ca.failed);
    CHECK(hc_call_simple(a, pa, "Cancel", ca.id, &e) >= 0);
    Collector *pca = &ca;
    CHECK(hc_wait(&a, &pca, 1, 30) >= 0);
    fprintf(stderr, "cancelled image question: %s, images_encoded %u, tokens %d\n", ca.reason,
            ca.stats_images_encoded, ca.n_tokens);
    CHECK(ca.finished && !strcmp(ca.reason, "cancelled"));
    CHECK(ca.stats_images_encoded >= 1 && ca.stats_images_encoded < N_IMG);
    CHECK_INT(ca.n_tokens, 0);

    /* 2. without Cancel every frame is encoded and the turn sees them all */
    for (int i = 0; i < N_IMG; i++)
        lseek(fds[i], 0, SEEK_SET);
    CHECK(hc_ask_media(a, &ca, "what are these", 64, hints, fds, N_IMG, &e) >= 0);
    CHECK(hc_wait(&a, &pca, 1, 60) >= 0);
    fprintf(stderr, "full image question: %s, images_encoded %u: [%.200s]\n", ca.reason, ca.stats_images_encoded,
            ca.text);
    CHECK(ca.finished && !strcmp(ca.reason, "stop"));
    CHECK_INT((int)ca.stats_images_encoded, N_IMG);
    int n = 0;
    for (const char *p = strstr(ca.text, "[image"); p; p = strstr(p + 1, "[image"))
        n++;
    CHECK_INT(n, N_IMG);

    for (int i = 0; i < N_IMG; i++)
        close(fds[i]);
    hc_unwatch(&ca);
    hc_unwatch(&cb);
    sd_bus_flush_close_unref(a);

    /* 3. the real model: two images in units answer as myna-run does with both */
    char conf[4096], cmd[8192], ref[4096], got[4096], p2[128];
    const char *root = getenv("MYNA_BUILD_ROOT");
    snprintf(cmd, sizeof(cmd), "%s/clients/myna-run -m '%s/tiny-mllama' --backend cpu -t 2 --chat -p '%s' --image "
             "'%s/tiny-mllama/square.png' --image '%s/tiny-mllama/wide.png' -n 10 --temp 0 2>/dev/null",
             root ? root : ".", fx, "What is in these pictures?", fx, fx);
    CHECK_INT(harness_sh(cmd, ref, sizeof(ref)), 0);
    harness_trim(ref);
    CHECK_INT(harness_stop_daemon(&H), 0);
    snprintf(conf, sizeof(conf), "model = %s/tiny-mllama\nbackend = cpu\nthreads = 2\n", fx);
    CHECK_INT(harness_start_daemon(&H, conf, NULL), 0);
    a = harness_connect(&H);
    CHECK(a != NULL && harness_wait_ready(a, 30) >= 0);
    if (a) {
        const char *h2[2] = {"image/png", "image/png"};
        char f2[2][2100];
        int fd2[2];
        snprintf(f2[0], sizeof(f2[0]), "%s/tiny-mllama/square.png", fx);
        snprintf(f2[1], sizeof(f2[1]), "%s/tiny-mllama/wide.png", fx);
        fd2[0] = open(f2[0], O_RDONLY | O_CLOEXEC);
        fd2[1] = open(f2[1], O_RDONLY | O_CLOEXEC);
        CHECK(fd2[0] >= 0 && fd2[1] >= 0);
        Collector cc = {0}, *pcc = &cc;
        CHECK(hc_create_session(a, NULL, 0, p2, sizeof(p2), &e) >= 0);
        hc_watch(a, &cc, p2);
        CHECK(hc_ask_media(a, &cc, "What is in these pictures?", 10, h2, fd2, 2, &e) >= 0);
        CHECK(hc_wait(&a, &pcc, 1, 60) >= 0);
        snprintf(got, sizeof(got), "%.4000s", cc.text);
        harness_trim(got);
        fprintf(stderr, "myna-run, 2 images: [%s]\nmynad, 2 images:    [%s]\n", ref, got);
        CHECK(cc.finished && cc.n_tokens > 0);
        CHECK(ref[0] && !strcmp(ref, got));
        CHECK_INT((int)cc.stats_images_encoded, 2);
        close(fd2[0]);
        close(fd2[1]);
        hc_unwatch(&cc);
        sd_bus_flush_close_unref(a);
    }
    sd_bus_error_free(&e);
    harness_stop(&H);
    return test_exit();
}
