/* replay-main.c — main() for libFuzzer targets in builds without -Dfuzzing: runs LLVMFuzzerTestOneInput
 * once on every file named on the command line or found (non-recursively) in the directories named, so
 * the committed seed corpora and crash regressions run as ordinary suite-'fuzz' tests in every build.
 * What it is not: a fuzzer (no mutation, no coverage). Each input is copied into a malloc'd buffer of
 * exactly its size, so a sanitizer build catches reads past the end. Exits 0 when every input ran, 1 when
 * a path could not be read or no input was found (an empty corpus is a broken test, not a pass).
 */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path, int *n_run)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *buf = NULL;
    long size;
    int r = -1;

    if (!fp) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return -1;
    }
    if (fseek(fp, 0, SEEK_END) != 0 || (size = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0)
        goto done;
    buf = malloc(size ? (size_t)size : 1);
    if (!buf || fread(buf, 1, (size_t)size, fp) != (size_t)size)
        goto done;
    LLVMFuzzerTestOneInput(buf, (size_t)size);
    (*n_run)++;
    r = 0;
done:
    if (r < 0)
        fprintf(stderr, "replay: cannot read %s\n", path);
    free(buf);
    fclose(fp);
    return r;
}

static int run_path(const char *path, int *n_run)
{
    struct stat st;
    struct dirent **ents;
    int n, r = 0;

    if (stat(path, &st) < 0) {
        fprintf(stderr, "replay: cannot stat %s\n", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return run_file(path, n_run);
    n = scandir(path, &ents, NULL, alphasort); /* sorted: the same order in every run */
    if (n < 0) {
        fprintf(stderr, "replay: cannot list %s\n", path);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        char full[4096];
        struct stat es;
        if (ents[i]->d_name[0] != '.' &&
            snprintf(full, sizeof(full), "%s/%s", path, ents[i]->d_name) < (int)sizeof(full) &&
            stat(full, &es) == 0 && S_ISREG(es.st_mode) && run_file(full, n_run) < 0)
            r = -1;
        free(ents[i]);
    }
    free(ents);
    return r;
}

int main(int argc, char **argv)
{
    int n_run = 0, r = 0;

    for (int i = 1; i < argc; i++)
        if (run_path(argv[i], &n_run) < 0)
            r = -1;
    fprintf(stderr, "replay: ran %d inputs\n", n_run);
    return r < 0 || n_run == 0 ? 1 : 0;
}
