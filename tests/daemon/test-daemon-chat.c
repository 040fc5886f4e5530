/* test-daemon-chat.c — one chat turn through mynad on a real (tiny) language model: the tiny Llama HF
 * fixture answers an Ask with tokens and Finished, and mynad exits cleanly afterwards. Its point is the
 * sanitizer build (suite 'sanitize', run by scripts/test in build-asan with UBSAN_OPTIONS=halt_on_error=1):
 * a chat turn goes through lm_session_add_message, where UBSan once stopped every turn (issue 12 F3:
 * memcpy from NULL with 0 bytes); under halt_on_error mynad would die and the Ask get no answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "test-util.h"

int main(void)
{
    Harness h;
    sd_bus_error e = SD_BUS_ERROR_NULL;
    char conf[4400], fx[4096], path[128];
    Collector c;

    memset(&c, 0, sizeof(c));
    test_fixture_path(fx, sizeof(fx), "tiny-llama", "tiny-llama-b-hf");
    snprintf(conf, sizeof(conf), "model = %s\nbackend = cpu\nthreads = 1\n", fx);
    CHECK_INT(harness_start_bus(&h), 0);
    CHECK_INT(harness_start_daemon(&h, conf, NULL), 0);
    sd_bus *b = harness_connect(&h);
    CHECK(b != NULL);
    if (b && harness_wait_ready(b, 60) == 0) {
        CHECK(hc_create_session(b, "You are brief.", 0, path, sizeof(path), &e) >= 0);
        CHECK(hc_watch(b, &c, path) >= 0);
        CHECK(hc_ask(b, &c, "Say hello.", 4, &e) >= 0);
        Collector *cs[1] = {&c};
        CHECK_INT(hc_wait(&b, cs, 1, 120), 0);
        CHECK(c.finished && c.n_tokens >= 1 && c.stats_prompt_tokens > 0);
        /* a second turn in the same session (the history path) */
        CHECK(hc_ask(b, &c, "Again.", 4, &e) >= 0);
        CHECK_INT(hc_wait(&b, cs, 1, 120), 0);
        CHECK(c.finished && c.n_tokens >= 1);
        hc_unwatch(&c);
    } else {
        CHECK(!"daemon ready");
    }
    sd_bus_flush_close_unref(b);
    CHECK_INT(harness_stop_daemon(&h), 0); /* a sanitizer report makes the exit status nonzero */
    harness_stop(&h);
    sd_bus_error_free(&e);
    return test_exit();
}
