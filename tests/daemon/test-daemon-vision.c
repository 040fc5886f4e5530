/* test-daemon-vision.c — mynad with the tiny Llama 3.2 Vision model (tests/fixtures/tiny-mllama) answering
 * image questions whose pictures arrive as file descriptors (Ask attachments a(sh)).
 *
 * Checks:
 *  - the streamed greedy answer to an image question equals `myna-run --chat --image` for the same prompt;
 *    Finished says images_encoded 1; `myna ask --image FILE` prints the same answer;
 *  - a follow-up question in the same session runs without the encoder (images_encoded 0) and still sees
 *    the image: its answer differs from the same question in a fresh session without the image;
 *  - a video attachment becomes video_frames images (images_encoded = 2 with video_frames = 2);
 *  - a corrupt PNG → Failed UnsupportedMedia with the decoder's message; a PNG declaring 70000×70000 →
 *    Failed TooLarge; a file over max_media_bytes → TooLarge at once; an unknown hint and audio →
 *    UnsupportedMedia at once;
 *  - an image attachment that is a never-closing socket (issue 12 F0): another session is answered
 *    meanwhile; the hostile request fails TooLarge at intake_item_s;
 *  - a text-only model (tiny-llama-b-hf) given an image → UnsupportedMedia "this model (…) cannot see
 *    images; load a Llama 3.2 Vision model (mllama HF folder)".
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "test-util.h"

#define Q1 "What is in this picture?"
#define Q2 "And what colour is it?"
#define N_TOK 10

static Harness H;
static char g_fix[1024];

static int run_reference(const char *prompt, const char *image, char *out, size_t len)
{
    const char *root = getenv("MYNA_BUILD_ROOT");
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "%s/clients/myna-run -m '%s' --backend cpu -t 2 --chat -p '%s' %s%s -n %d --temp 0 "
             "2>/dev/null", root ? root : ".", g_fix, prompt, image ? "--image " : "", image ? image : "", N_TOK);
    int st = harness_sh(cmd, out, len);
    harness_trim(out);
    return st == 0 ? 0 : -1;
}

static int open_fixture(const char *rel)
{
    char p[2048];
    snprintf(p, sizeof(p), "%s/%s", g_fix, rel);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fprintf(stderr, "cannot open %s\n", p);
    return fd;
}

/* Ask with one attachment; waits for the end. Returns the method call's result. */
static int ask1(sd_bus *b, Collector *c, const char *text, const char *hint, const char *rel, sd_bus_error *e)
{
    int fd = rel ? open_fixture(rel) : -1, r;
    const char *hints[1] = {hint};
    r = hc_ask_media(b, c, text, N_TOK, hints, &fd, rel ? 1 : 0, e);
    if (fd >= 0)
        close(fd);
    if (r >= 0)
        hc_wait(&b, &c, 1, 30);
    return r;
}

static void expect_failed(sd_bus *b, Collector *c, const char *rel, const char *error, const char *msg_part)
{
    sd_bus_error e = SD_BUS_ERROR_NULL;
    CHECK(ask1(b, c, Q1, "image/png", rel, &e) >= 0);
    CHECK(c->failed);
    CHECK(!strcmp(c->error, error));
    CHECK(strstr(c->message, msg_part) != NULL);
    fprintf(stderr, "%s → %s: %s\n", rel, c->error, c->message);
    sd_bus_error_free(&e);
}

static void expect_rejected(sd_bus *b, Collector *c, const char *hint, const char *rel, const char *error,
                            const char *msg_part)
{
    sd_bus_error e = SD_BUS_ERROR_NULL;
    CHECK(ask1(b, c, Q1, hint, rel, &e) < 0);
    CHECK(sd_bus_error_has_name(&e, error));
    CHECK(e.message && strstr(e.message, msg_part) != NULL);
    fprintf(stderr, "%s (%s) → %s: %s\n", rel, hint, e.name ? e.name : "-", e.message ? e.message : "-");
    sd_bus_error_free(&e);
}

int main(void)
{
    const char *fx = getenv("MYNA_FIXTURES");
    char conf[4096], ref[8192], got[8192], path[128], path2[128], img[2048];
    sd_bus_error e = SD_BUS_ERROR_NULL;

    if (!fx)
        return 77;
    snprintf(g_fix, sizeof(g_fix), "%s/tiny-mllama", fx);
    snprintf(img, sizeof(img), "%s/square.png", g_fix);
    if (access(img, R_OK) < 0 || harness_start_bus(&H) < 0)
        return 77;
    snprintf(conf, sizeof(conf), "model = %s\nbackend = cpu\nthreads = 2\nvideo_frames = 2\nmax_media_bytes = 100000\n"
             "intake_item_s = 3\n",
             g_fix);
    CHECK_INT(harness_start_daemon(&H, conf, NULL), 0);
    sd_bus *a = harness_connect(&H);
    if (!a || harness_wait_ready(a, 30) < 0) {
        fprintf(stderr, "the daemon could not load the tiny vision model\n");
        harness_stop(&H);
        return 1;
    }

    /* 1. same answer as myna-run --image, with one encode */
    CHECK_INT(run_reference(Q1, img, ref, sizeof(ref)), 0);
    Collector c = {0};
    CHECK(hc_create_session(a, NULL, 0, path, sizeof(path), &e) >= 0);
    hc_watch(a, &c, path);
    CHECK(ask1(a, &c, Q1, "image/png", "square.png", &e) >= 0);
    snprintf(got, sizeof(got), "%.8000s", c.text);
    harness_trim(got);
    fprintf(stderr, "myna-run: [%s]\nmynad:    [%s]\n", ref, got);
    CHECK(c.finished && c.n_tokens > 0);
    CHECK(!strcmp(ref, got));
    CHECK_INT((int)c.stats_images_encoded, 1);

    /* the command-line client passes the file as an fd too */
    {
        const char *root = getenv("MYNA_BUILD_ROOT");
        char cmd[6000], out[8192];
        snprintf(cmd, sizeof(cmd), "%s/clients/myna --address='%s' ask --max-tokens=%d --image %s '%s'",
                 root ? root : ".", H.address, N_TOK, img, Q1);
        int st = harness_sh(cmd, out, sizeof(out));
        harness_trim(out);
        fprintf(stderr, "myna ask --image: [%s]\n", out);
        CHECK(st == 0);
        CHECK(!strcmp(out, ref));
    }

    /* 2. follow-up: no encode, the image still counts */
    CHECK(ask1(a, &c, Q2, NULL, NULL, &e) >= 0);
    CHECK(c.finished && c.n_tokens > 0);
    CHECK_INT((int)c.stats_images_encoded, 0);
    snprintf(got, sizeof(got), "%.8000s", c.text);
    Collector c2 = {0};
    CHECK(hc_create_session(a, NULL, 0, path2, sizeof(path2), &e) >= 0);
    hc_watch(a, &c2, path2);
    CHECK(ask1(a, &c2, Q1, NULL, NULL, &e) >= 0); /* same history, no image */
    CHECK(ask1(a, &c2, Q2, NULL, NULL, &e) >= 0);
    CHECK(c2.finished);
    fprintf(stderr, "follow-up with the image: [%s]\nwithout: [%s]\n", got, c2.text);
    CHECK(strcmp(got, c2.text) != 0);

    /* 3. video: video_frames images */
    CHECK(ask1(a, &c2, "Describe the clip.", "video/mp4", "../media/video/ramp.mp4", &e) >= 0);
    CHECK(c2.finished);
    CHECK_INT((int)c2.stats_images_encoded, 2);

    /* 4. bad media */
    expect_failed(a, &c, "../media/hostile/png-bad-colour-type-5", "org.myna.Error.UnsupportedMedia", "image: PNG");
    expect_failed(a, &c, "../media/hostile/png-70000x70000", "org.myna.Error.TooLarge", "image:");
    expect_rejected(a, &c, "image", "square-pixels.bin", "org.myna.Error.TooLarge", "max_media_bytes");
    expect_rejected(a, &c, "text/plain", "square.png", "org.myna.Error.UnsupportedMedia", "unknown media type");
    /* audio is accepted at Ask (Whisper transcribes it on the worker); a PNG sent as audio then fails the
     * request with UnsupportedMedia — or NoModel where Whisper is not installed */
    CHECK(ask1(a, &c, Q1, "audio/wav", "square.png", &e) >= 0);
    CHECK(c.failed && (!strcmp(c.error, "org.myna.Error.UnsupportedMedia") || !strcmp(c.error, "org.myna.Error.NoModel")));
    CHECK(strstr(c.message, "audio") != NULL);
    sd_bus_error_free(&e);
    /* the session still works after the failures */
    CHECK(ask1(a, &c, "One more?", NULL, NULL, &e) >= 0);
    CHECK(c.finished);

    /* 4b. issue 12 F0 with the real vision model: an image attachment that is a socket which never sends EOF
     * does not hold the worker — another session is answered meanwhile, and the hostile request ends with
     * TooLarge at intake_item_s (3 s here) */
    {
        int sv[2];
        Collector ch = {0}, cv = {0};
        char ph[128], pv[128];
        CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        CHECK(hc_create_session(a, NULL, 0, ph, sizeof(ph), &e) >= 0);
        hc_watch(a, &ch, ph);
        const char *hint[1] = {"image/png"};
        int fd[1] = {sv[1]};
        double t0 = harness_now_s();
        CHECK(hc_ask_media(a, &ch, Q1, N_TOK, hint, fd, 1, &e) >= 0);
        CHECK(hc_create_session(a, NULL, 0, pv, sizeof(pv), &e) >= 0);
        hc_watch(a, &cv, pv);
        CHECK(hc_ask(a, &cv, "Say hi.", 4, &e) >= 0);
        Collector *cs[1] = {&cv};
        CHECK_INT(hc_wait(&a, cs, 1, 30), 0);
        CHECK(cv.finished && cv.n_tokens > 0 && !ch.finished && !ch.failed);
        fprintf(stderr, "answered beside a never-closing image socket after %.0f ms\n", (cv.t_done - t0) * 1e3);
        cs[0] = &ch;
        CHECK_INT(hc_wait(&a, cs, 1, 30), 0);
        fprintf(stderr, "hostile image socket: %s after %.1f s: %s\n", ch.error, ch.t_done - t0, ch.message);
        CHECK(ch.failed && !strcmp(ch.error, "org.myna.Error.TooLarge") && strstr(ch.message, "intake_item_s"));
        hc_unwatch(&ch);
        hc_unwatch(&cv);
        close(sv[0]);
        close(sv[1]);
    }
    hc_unwatch(&c);
    hc_unwatch(&c2);
    sd_bus_flush_close_unref(a);
    CHECK_INT(harness_stop_daemon(&H), 0);

    /* 5. a text-only model */
    snprintf(conf, sizeof(conf), "model = %s/tiny-llama/tiny-llama-b-hf\nbackend = cpu\nthreads = 2\n", fx);
    CHECK_INT(harness_start_daemon(&H, conf, NULL), 0);
    a = harness_connect(&H);
    CHECK(a && harness_wait_ready(a, 30) == 0);
    if (a) {
        Collector c3 = {0};
        CHECK(hc_create_session(a, NULL, 0, path, sizeof(path), &e) >= 0);
        hc_watch(a, &c3, path);
        expect_rejected(a, &c3, "image/png", "square.png", "org.myna.Error.UnsupportedMedia",
                        "this model (tiny-llama-b-hf) cannot see images; load a Llama 3.2 Vision model (mllama HF "
                        "folder)");
        hc_unwatch(&c3);
        sd_bus_flush_close_unref(a);
    }
    CHECK_INT(harness_stop_daemon(&H), 0);
    harness_stop(&H);
    sd_bus_error_free(&e);
    return test_exit();
}
