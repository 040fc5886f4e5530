/* test-daemon-introspect.c — the committed daemon/org.myna.Assistant1.xml must match what the live
 * objects report through org.freedesktop.DBus.Introspectable (both interfaces, whitespace-insensitive,
 * comments in the committed file ignored). MYNA_DUMP_XML=1 prints the live interfaces. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "test-util.h"

/* Copy s without XML comments and without whitespace between tags / at line starts. */
static char *normalize(const char *s)
{
    char *out = malloc(strlen(s) + 1), *o = out;
    while (*s) {
        if (!strncmp(s, "<!--", 4)) {
            const char *e = strstr(s, "-->");
            s = e ? e + 3 : s + strlen(s);
            continue;
        }
        if (*s == '\n' || *s == '\r' || *s == '\t') {
            s++;
            while (*s == ' ')
                s++;
            continue;
        }
        if (*s == '>' ) {
            *o++ = *s++;
            while (*s == ' ' || *s == '\n' || *s == '\t')
                s++;
            continue;
        }
        *o++ = *s++;
    }
    *o = 0;
    return out;
}

/* The <interface name="NAME">…</interface> block of xml (normalized), or NULL. */
static char *interface_block(const char *xml, const char *name)
{
    char open_tag[128];
    snprintf(open_tag, sizeof(open_tag), "<interface name=\"%s\">", name);
    const char *a = strstr(xml, open_tag);
    if (!a)
        return NULL;
    const char *b = strstr(a, "</interface>");
    if (!b)
        return NULL;
    b += strlen("</interface>");
    return strndup(a, (size_t)(b - a));
}

static char *introspect(sd_bus *b, const char *path)
{
    sd_bus_message *reply = NULL;
    const char *x;
    char *r = NULL;
    if (sd_bus_call_method(b, "org.myna.Assistant1", path, "org.freedesktop.DBus.Introspectable", "Introspect", NULL,
                           &reply, "") >= 0 &&
        sd_bus_message_read(reply, "s", &x) >= 0)
        r = normalize(x);
    sd_bus_message_unref(reply);
    return r;
}

int main(void)
{
    Harness h;
    char path[1024], sp[128];
    const char *root = getenv("MYNA_SOURCE_ROOT");
    sd_bus_error e = SD_BUS_ERROR_NULL;

    snprintf(path, sizeof(path), "%s/daemon/org.myna.Assistant1.xml", root ? root : ".");
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f)
        return test_exit();
    static char file[65536];
    size_t n = fread(file, 1, sizeof(file) - 1, f);
    file[n] = 0;
    fclose(f);
    char *committed = normalize(file);

    if (harness_start_bus(&h) < 0)
        return 77;
    CHECK_INT(harness_start_daemon(&h, "model = test:echo\n", NULL), 0);
    sd_bus *b = harness_connect(&h);
    CHECK(b != NULL);
    CHECK(hc_create_session(b, NULL, 0, sp, sizeof(sp), &e) >= 0);
    char *live_main = introspect(b, "/org/myna/Assistant1");
    char *live_sess = introspect(b, sp);
    CHECK(live_main && live_sess);
    const char *ifaces[2] = {"org.myna.Assistant1", "org.myna.Session1"};
    char *lives[2] = {live_main, live_sess};
    for (int i = 0; i < 2 && live_main && live_sess; i++) {
        char *want = interface_block(committed, ifaces[i]), *got = interface_block(lives[i], ifaces[i]);
        CHECK(want != NULL);
        CHECK(got != NULL);
        if (getenv("MYNA_DUMP_XML"))
            printf("%s\n", got ? got : "(none)");
        if (want && got && strcmp(want, got)) {
            fprintf(stderr, "interface %s differs:\ncommitted: %s\nlive:      %s\n", ifaces[i], want, got);
            CHECK(0);
        } else {
            CHECK(1);
        }
        free(want);
        free(got);
    }
    /* the session object is listed as a child node of the service tree */
    char *tree = introspect(b, "/org/myna/Assistant1/session");
    CHECK(tree && strstr(tree, "<node name=\"") != NULL);
    free(tree);
    free(live_main);
    free(live_sess);
    free(committed);
    sd_bus_flush_close_unref(b);
    harness_stop(&h);
    return test_exit();
}
