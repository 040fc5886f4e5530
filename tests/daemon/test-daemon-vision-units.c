/* test-daemon-vision-units.c — the frames of an image question are encoded one per worker unit (issue 12
 * item 3), on the test:vision engine whose frames each take 200 ms to "encode".
 *
 * Checks:
 *  - an Ask with 8 images (1.6 s of encoding) does not hold the worker: another session's short question,
 *    asked right after, finishes while the images are still being encoded;
 *  - Cancel then ends the image question between frames: Finished "cancelled" with images_encoded at least
 *    1 and fewer than 8 (encoding all frames in one unit, as before, gives 8, or keeps the other session
 *    waiting until the end);
 *  - the same 8 images without Cancel: images_encoded 8 and the answer names all 8 images.
 */
#include <fcntl.h>
#include <stdio.h>
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
    harness_stop(&H);
    return test_exit();
}
