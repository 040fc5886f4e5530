/* test-daemon-config.c — mynad's configuration table: every default is valid, the file parser accepts
 * comments/quotes and reports unknown keys and bad values with the line number, ranges are enforced, and
 * `mynad --print-config` applies file then --key=value overrides. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mynad-config.h"
#include "test-util.h"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

int main(void)
{
    Config c;
    char err[512], path[] = "/tmp/myna-conf-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);

    /* defaults: each one parses and is in range */
    config_defaults(&c);
    for (int i = 0; i < config_n_keys; i++) {
        Config d = c;
        CHECK_INT(config_set(&d, config_keys[i].name, config_keys[i].def, err, sizeof(err)), 0);
        CHECK(config_keys[i].help && strlen(config_keys[i].help) > 5);
    }
    CHECK_INT(c.max_queued_per_client, 4);
    CHECK(!strcmp(c.backend, "auto"));

    write_file(path, "# comment\n\n  threads = 3  \nbackend = \"cpu\"\ndefault_temperature = 0.7\nmodel = /x/y.gguf\n");
    CHECK_INT(config_load_file(&c, path, err, sizeof(err)), 0);
    CHECK_INT(c.threads, 3);
    CHECK(!strcmp(c.backend, "cpu"));
    CHECK_NEAR(c.default_temperature, 0.7, 1e-12);
    CHECK(!strcmp(c.model, "/x/y.gguf"));

    write_file(path, "threads = 2\n# fine\nbogus_key = 1\n");
    CHECK_INT(config_load_file(&c, path, err, sizeof(err)), -ENOENT);
    CHECK(strstr(err, ":3:") && strstr(err, "bogus_key"));
    write_file(path, "max_tokens_limit = -4\n");
    CHECK_INT(config_load_file(&c, path, err, sizeof(err)), -ERANGE);
    CHECK(strstr(err, ":1:") != NULL);
    write_file(path, "default_top_p = nan\n");
    CHECK_INT(config_load_file(&c, path, err, sizeof(err)), -EINVAL);
    write_file(path, "threads 4\n");
    CHECK_INT(config_load_file(&c, path, err, sizeof(err)), -EINVAL);
    CHECK_INT(config_set(&c, "threads", "12abc", err, sizeof(err)), -EINVAL);
    CHECK_INT(config_set(&c, "backend", "tpu", err, sizeof(err)), -EINVAL);
    CHECK_INT(config_set(&c, "backend", "cuda:1", err, sizeof(err)), 0);
    CHECK_INT(config_set(&c, "log_level", "loud", err, sizeof(err)), -EINVAL);
    CHECK_INT(config_load_file(&c, "/nonexistent/mynad.conf", err, sizeof(err)), -ENOENT);

    /* default model path follows MYNA_MODELS_DIR */
    setenv("MYNA_MODELS_DIR", "/models", 1);
    config_defaults(&c);
    char mp[CONFIG_STR_MAX];
    config_model_path(&c, mp, sizeof(mp));
    CHECK(!strcmp(mp, "/models/" CONFIG_DEFAULT_MODEL_FILE));

    /* the program: file, then overrides; errors exit 2 */
    write_file(path, "threads = 3\nmax_prompt_bytes = 1000\n");
    const char *root = getenv("MYNA_BUILD_ROOT");
    char cmd[2048], out[16384];
    snprintf(cmd, sizeof(cmd), "%s/daemon/mynad --config=%s --print-config --max-prompt-bytes=77", root ? root : ".",
             path);
    FILE *p = popen(cmd, "r");
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = 0;
    CHECK_INT(WEXITSTATUS(pclose(p)), 0);
    CHECK(strstr(out, "\nthreads = 3\n") != NULL);
    CHECK(strstr(out, "\nmax_prompt_bytes = 77\n") != NULL);
    snprintf(cmd, sizeof(cmd), "%s/daemon/mynad --config=%s --print-config --threads=x 2>/dev/null",
             root ? root : ".", path);
    CHECK_INT(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof(cmd), "%s/daemon/mynad --help >/dev/null", root ? root : ".");
    CHECK_INT(WEXITSTATUS(system(cmd)), 0);
    unlink(path);
    return test_exit();
}
