/* mynad-config.c — the configuration table and its parsers (see mynad-config.h). No D-Bus here. */
#include "mynad-config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "paths.h"

#define OFF(f) offsetof(Config, f)

const CfgKey config_keys[] = {
    {"model", CFG_STR, "", 0, CONFIG_STR_MAX - 1, 0, OFF(model),
     "language model: a .gguf file or an HF folder; empty = " CONFIG_DEFAULT_MODEL_FILE " in the models dir"},
    {"backend", CFG_STR, "auto", 0, 63, 0, OFF(backend), "compute backend: cpu, cuda, cuda:N or auto"},
    {"threads", CFG_INT, "0", 0, 1024, 0, OFF(threads), "CPU threads for inference (0 = all CPUs)"},
    {"n_ctx", CFG_INT, "0", 0, 1 << 20, 0, OFF(n_ctx), "context length per session (0 = min(model, 4096))"},
    {"mmap", CFG_INT, "0", 0, 1, 0, OFF(mmap),
     "1 = map a GGUF model's file (lazy load, shared page cache); 0 = read its weights into memory on 2 MiB "
     "pages (CPU backend; faster decode)"},
    {"max_sessions_per_client", CFG_INT, "8", 1, 10000, 1, OFF(max_sessions_per_client),
     "open sessions one bus connection may hold"},
    {"max_sessions_total", CFG_INT, "64", 1, 100000, 1, OFF(max_sessions_total), "open sessions in all"},
    {"max_queued_per_client", CFG_INT, "4", 1, 10000, 1, OFF(max_queued_per_client),
     "requests one bus connection may have queued or running"},
    {"max_queued_total", CFG_INT, "32", 1, 100000, 1, OFF(max_queued_total), "requests queued or running in all"},
    {"max_sessions_per_user", CFG_INT, "16", 1, 10000, 1, OFF(max_sessions_per_user),
     "open sessions one Unix user may hold over all its connections"},
    {"max_queued_per_user", CFG_INT, "8", 1, 10000, 1, OFF(max_queued_per_user),
     "requests one Unix user may have queued or running over all its connections"},
    {"max_running_per_user", CFG_INT, "2", 1, 10000, 1, OFF(max_running_per_user),
     "requests of one Unix user the inference worker interleaves at once (the rest wait their turn)"},
    {"max_queued_audio_s_per_user", CFG_INT, "1800", 1, 1000000, 1, OFF(max_queued_audio_s_per_user),
     "decoded audio seconds one Unix user may have waiting or being transcribed (over it: Busy)"},
    {"max_queued_mpixels_per_user", CFG_INT, "512", 1, 1000000, 1, OFF(max_queued_mpixels_per_user),
     "decoded image and video-frame megapixels one Unix user may have waiting (over it: Busy)"},
    {"max_intake_mb_per_user", CFG_INT, "512", 1, 1 << 20, 1, OFF(max_intake_mb_per_user),
     "MiB one Unix user's attachments and Transcribe fds may hold while being read and decoded (over it: Busy)"},
    {"intake_item_s", CFG_DBL, "10", 0.1, 3600, 1, OFF(intake_item_s),
     "seconds to read one attachment or Transcribe fd to its end (a pipe or socket that stays open fails)"},
    {"intake_request_s", CFG_DBL, "30", 0.1, 3600, 1, OFF(intake_request_s),
     "seconds to read all attachments of one request"},
    {"decode_threads", CFG_INT, "2", 1, 16, 0, OFF(decode_threads),
     "threads that decode images, video and audio (never the inference worker)"},
    {"decode_cpu_s", CFG_DBL, "20", 0.1, 3600, 1, OFF(decode_cpu_s),
     "CPU seconds decoding one audio or video attachment may use (images: 2 s each)"},
    {"max_prompt_bytes", CFG_INT, "65536", 1, 1 << 24, 1, OFF(max_prompt_bytes), "largest prompt text in bytes"},
    {"max_attachments", CFG_INT, "4", 0, 16, 1, OFF(max_attachments),
     "attachments (images, videos) one Ask may carry (0 = none accepted)"},
    {"max_media_bytes", CFG_INT, "67108864", 1024, 1 << 30, 1, OFF(max_media_bytes),
     "largest attachment in bytes (image or video file, read from the passed fd)"},
    {"video_frames", CFG_INT, "8", 1, 16, 1, OFF(video_frames),
     "frames sampled evenly over a video attachment (each is one image to the model)"},
    {"whisper_model", CFG_STR, "", 0, CONFIG_STR_MAX - 1, 0, OFF(whisper_model),
     "speech model (Transcribe, audio attachments): an HF Whisper folder or a whisper.cpp .bin; empty = "
     CONFIG_DEFAULT_WHISPER_DIR " in the models dir (loaded on first use)"},
    {"voice", CFG_STR, "en_US-joe-medium", 1, 100, 1, OFF(voice),
     "Piper voice for Speak when the call names none: VOICE.onnx + VOICE.onnx.json in voices_dir"},
    {"voices_dir", CFG_STR, "", 0, CONFIG_STR_MAX - 1, 1, OFF(voices_dir),
     "folder of Piper voices (Speak's 'voice' option names one); empty = the models dir"},
    {"speaker", CFG_STR, "", 0, CONFIG_STR_MAX - 1, 1, OFF(speaker),
     "where Speak without an output fd plays: empty = PortAudio's default output, a device-name substring, "
     "file:PATH (s16le at the voice's rate, as fast as written; tests) or none (refused)"},
    {"max_audio_bytes", CFG_INT, "33554432", 1024, 1 << 30, 1, OFF(max_audio_bytes),
     "largest audio input in bytes (Transcribe fd or audio attachment)"},
    {"max_audio_seconds", CFG_INT, "600", 1, 3600, 1, OFF(max_audio_seconds),
     "longest audio input in seconds (declared and decoded duration)"},
    {"max_tokens_limit", CFG_INT, "4096", 1, 1 << 20, 1, OFF(max_tokens_limit),
     "largest max_tokens a request may ask for"},
    {"default_max_tokens", CFG_INT, "512", 1, 1 << 20, 1, OFF(default_max_tokens),
     "max_tokens when a request does not say"},
    {"default_temperature", CFG_DBL, "0", 0, 10, 1, OFF(default_temperature),
     "sampling temperature when a request does not say (0 = greedy)"},
    {"default_top_p", CFG_DBL, "1", 0, 1, 1, OFF(default_top_p), "nucleus sampling (1 = off)"},
    {"default_top_k", CFG_INT, "0", 0, 1000000, 1, OFF(default_top_k), "top-k sampling (0 = off)"},
    {"default_min_p", CFG_DBL, "0", 0, 1, 1, OFF(default_min_p), "min-p sampling (0 = off)"},
    {"idle_exit_s", CFG_INT, "0", 0, 86400 * 365, 1, OFF(idle_exit_s),
     "exit after this many seconds without sessions (0 = never; D-Bus activation restarts it)"},
    {"log_level", CFG_STR, "info", 0, 15, 1, OFF(log_level), "error, warn, info or debug"},
};
const int config_n_keys = (int)(sizeof(config_keys) / sizeof(config_keys[0]));

const CfgKey *config_find(const char *name)
{
    for (int i = 0; i < config_n_keys; i++)
        if (!strcmp(config_keys[i].name, name))
            return &config_keys[i];
    return NULL;
}

void config_defaults(Config *c)
{
    memset(c, 0, sizeof(*c));
    for (int i = 0; i < config_n_keys; i++) {
        int r = config_set(c, config_keys[i].name, config_keys[i].def, NULL, 0);
        (void)r; /* the table's defaults are in range (checked by test-daemon-config) */
    }
}

static int parse_int(const char *s, long long *ret)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 0);
    if (errno || end == s || *end)
        return -EINVAL;
    *ret = v;
    return 0;
}

int config_set(Config *c, const char *key, const char *value, char *err, size_t err_len)
{
    const CfgKey *k = config_find(key);
    char *base = (char *)c;

    if (!k)
        return err_set(err, err_len, -ENOENT, "unknown key '%s'", key);
    if (k->type == CFG_STR) {
        size_t n = strlen(value);
        if (n > (size_t)k->max)
            return err_set(err, err_len, -ERANGE, "%s: value longer than %.0f bytes", key, k->max);
        if (!strcmp(key, "log_level") && strcmp(value, "error") && strcmp(value, "warn") &&
            strcmp(value, "info") && strcmp(value, "debug"))
            return err_set(err, err_len, -EINVAL, "log_level: '%s' is not error, warn, info or debug", value);
        if (!strcmp(key, "backend") && strcmp(value, "cpu") && strcmp(value, "auto") &&
            strncmp(value, "cuda", 4))
            return err_set(err, err_len, -EINVAL, "backend: '%s' is not cpu, cuda, cuda:N or auto", value);
        memcpy(base + k->offset, value, n + 1);
        return 0;
    }
    if (k->type == CFG_INT) {
        long long v;
        if (parse_int(value, &v) < 0)
            return err_set(err, err_len, -EINVAL, "%s: '%s' is not an integer", key, value);
        if (v < (long long)k->min || v > (long long)k->max)
            return err_set(err, err_len, -ERANGE, "%s: %lld is out of range [%.0f, %.0f]", key, v, k->min, k->max);
        *(int *)(void *)(base + k->offset) = (int)v;
        return 0;
    }
    char *end;
    errno = 0;
    double d = strtod(value, &end);
    if (errno || end == value || *end || !isfinite(d))
        return err_set(err, err_len, -EINVAL, "%s: '%s' is not a finite number", key, value);
    if (d < k->min || d > k->max)
        return err_set(err, err_len, -ERANGE, "%s: %g is out of range [%g, %g]", key, d, k->min, k->max);
    *(double *)(void *)(base + k->offset) = d;
    return 0;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = 0;
    return s;
}

int config_load_file(Config *c, const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "re");
    char line[CONFIG_STR_MAX + 128];
    int lineno = 0, r = 0;

    if (!f)
        return err_set(err, err_len, -errno, "%s: %s", path, strerror(errno));
    while (fgets(line, sizeof(line), f)) {
        char msg[256];
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            r = err_set(err, err_len, -E2BIG, "%s:%d: line too long", path, lineno);
            break;
        }
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            r = err_set(err, err_len, -EINVAL, "%s:%d: expected 'key = value'", path, lineno);
            break;
        }
        *eq = 0;
        char *key = trim(s), *val = trim(eq + 1);
        size_t vn = strlen(val);
        if (vn >= 2 && val[0] == '"' && val[vn - 1] == '"') { /* optional quotes around a value */
            val[vn - 1] = 0;
            val++;
        }
        r = config_set(c, key, val, msg, sizeof(msg));
        if (r < 0) {
            err_set(err, err_len, r, "%s:%d: %s", path, lineno, msg);
            break;
        }
    }
    fclose(f);
    return r;
}

const char *config_default_path(char *buf, size_t len)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");

    if (xdg && *xdg)
        snprintf(buf, len, "%s/myna/mynad.conf", xdg);
    else if (home && *home)
        snprintf(buf, len, "%s/.config/myna/mynad.conf", home);
    else
        buf[0] = 0;
    if (buf[0] && access(buf, R_OK) == 0)
        return buf;
    if (access("/etc/myna/mynad.conf", R_OK) == 0) {
        snprintf(buf, len, "/etc/myna/mynad.conf");
        return buf;
    }
    return NULL;
}

void config_model_path(const Config *c, char *buf, size_t len)
{
    char dir[CONFIG_STR_MAX];

    if (c->model[0]) {
        snprintf(buf, len, "%s", c->model);
        return;
    }
    paths_models_dir(dir, sizeof(dir));
    snprintf(buf, len, "%.*s/%s", (int)(len > 64 ? len - 64 : 0), dir, CONFIG_DEFAULT_MODEL_FILE);
}

void config_whisper_path(const Config *c, char *buf, size_t len)
{
    char dir[CONFIG_STR_MAX];

    if (c->whisper_model[0]) {
        snprintf(buf, len, "%s", c->whisper_model);
        return;
    }
    paths_models_dir(dir, sizeof(dir));
    snprintf(buf, len, "%.*s/%s", (int)(len > 64 ? len - 64 : 0), dir, CONFIG_DEFAULT_WHISPER_DIR);
}

void config_format(const Config *c, const CfgKey *k, char *buf, size_t len)
{
    const char *base = (const char *)c;

    if (k->type == CFG_STR)
        snprintf(buf, len, "%s", base + k->offset);
    else if (k->type == CFG_INT)
        snprintf(buf, len, "%d", *(const int *)(const void *)(base + k->offset));
    else
        snprintf(buf, len, "%g", *(const double *)(const void *)(base + k->offset));
}

void config_print(const Config *c, FILE *f)
{
    char v[CONFIG_STR_MAX];

    for (int i = 0; i < config_n_keys; i++) {
        const CfgKey *k = &config_keys[i];
        config_format(c, k, v, sizeof(v));
        fprintf(f, "# %s%s\n%s = %s\n", k->help, k->reloadable ? " (reloaded on SIGHUP)" : "", k->name, v);
    }
}

void config_print_help(FILE *f)
{
    for (int i = 0; i < config_n_keys; i++) {
        const CfgKey *k = &config_keys[i];
        char arg[64];
        snprintf(arg, sizeof(arg), "--%s=%s", k->name, k->type == CFG_STR ? "S" : k->type == CFG_INT ? "N" : "X");
        fprintf(f, "  %-30s %s [default: %s]\n", arg, k->help, k->def[0] ? k->def : "\"\"");
    }
}
