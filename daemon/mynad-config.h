/* mynad-config.h — mynad's configuration: ONE table (name, type, default, range, help, reloadable) that drives the
 * config file parser, `--key=value` overrides, `--help`, `--print-config` and the GetConfig D-Bus method.
 * Not here: argument validation of D-Bus requests (options.h), the bus itself (service.h).
 * File format: `key = value` lines, `#` comments, blank lines; an unknown key or a value out of range is
 * an error naming the line. Search order: --config FILE, $XDG_CONFIG_HOME/myna/mynad.conf (~/.config),
 * /etc/myna/mynad.conf; a missing file is not an error (defaults apply).
 */
#ifndef MYNA_DAEMON_CONFIG_H
#define MYNA_DAEMON_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#define CONFIG_STR_MAX 4096

typedef struct {
    char model[CONFIG_STR_MAX]; /* path; "" = the default SmolLM2 in the models dir; "test:echo[:MS]" */
    char backend[64];           /* cpu | cuda | cuda:N | auto */
    int threads;                /* 0 = all CPUs */
    int n_ctx;                  /* KV length per session; 0 = min(model, 4096) */
    int mmap;                   /* 1 = map a GGUF's weights instead of reading them into memory */
    int max_sessions_per_client;
    int max_sessions_total;
    int max_queued_per_client;  /* requests queued or running per client */
    int max_queued_total;
    int max_sessions_per_user;  /* the same counted per Unix user (any number of connections) */
    int max_queued_per_user;
    int max_running_per_user;   /* requests of one user on the inference worker at once */
    int max_queued_audio_s_per_user;  /* decoded audio seconds of one user's requests in flight */
    int max_queued_mpixels_per_user;  /* decoded image/video-frame megapixels of one user's requests in flight */
    int max_intake_mb_per_user; /* MiB read from one user's fds and not yet decoded */
    double intake_item_s;       /* wall-clock deadline for reading one client fd to its end */
    double intake_request_s;    /* the same for all fds of one request */
    int decode_threads;         /* decoding threads (images, video, audio) */
    double decode_cpu_s;        /* CPU seconds decoding one audio or video attachment may use */
    int max_prompt_bytes;
    int max_attachments;        /* attachments per Ask */
    int max_media_bytes;        /* encoded size of one attachment (read from its fd, never by path) */
    int video_frames;           /* frames sampled from a video attachment */
    char whisper_model[CONFIG_STR_MAX]; /* speech model; "" = models_dir/whisper-tiny.en */
    char voice[128];            /* Piper voice for Speak (a file stem in voices_dir) */
    char voices_dir[CONFIG_STR_MAX]; /* "" = the models dir */
    char speaker[CONFIG_STR_MAX]; /* Speak without output: "" PortAudio default, a device name, "file:PATH", "none" */
    int max_audio_bytes;        /* encoded size of one audio input (Transcribe fd or audio attachment) */
    int max_audio_seconds;      /* decoded duration of one audio input */
    int max_tokens_limit;       /* the largest max_tokens a request may ask for */
    int default_max_tokens;
    double default_temperature;
    double default_top_p;
    int default_top_k;
    double default_min_p;
    int idle_exit_s;            /* exit after this long without sessions (0 = never) */
    char log_level[16];         /* error | warn | info | debug */
} Config;

typedef enum { CFG_STR, CFG_INT, CFG_DBL } CfgType;

typedef struct {
    const char *name;
    CfgType type;
    const char *def;      /* default as text */
    double min, max;      /* range for numbers; max length for strings */
    int reloadable;       /* SIGHUP applies it without a restart */
    size_t offset;        /* into Config */
    const char *help;
} CfgKey;

extern const CfgKey config_keys[];
extern const int config_n_keys;

void config_defaults(Config *c);
const CfgKey *config_find(const char *name);
/* Set one key from text; err gets "why" (no location). -ENOENT unknown key, -EINVAL bad value, -ERANGE. */
int config_set(Config *c, const char *key, const char *value, char *err, size_t err_len);
/* Parse a whole file; err names "FILE:LINE: why". -ENOENT when the file does not exist. */
int config_load_file(Config *c, const char *path, char *err, size_t err_len);
/* The file mynad reads when --config is not given (first that exists), or NULL. */
const char *config_default_path(char *buf, size_t len);
/* Model path after defaults: c->model, or models_dir/SmolLM2-135M-Instruct.Q4_1.gguf (models_dir: core/paths.h). */
void config_model_path(const Config *c, char *buf, size_t len);
/* Speech model path after defaults: c->whisper_model, or models_dir/whisper-tiny.en. */
void config_whisper_path(const Config *c, char *buf, size_t len);
/* Format one key's value as text. */
void config_format(const Config *c, const CfgKey *k, char *buf, size_t len);
/* Write every key as a config file (with help comments) to f. */
void config_print(const Config *c, FILE *f);
void config_print_help(FILE *f);

#define CONFIG_DEFAULT_MODEL_FILE "SmolLM2-135M-Instruct.Q4_1.gguf"
#define CONFIG_DEFAULT_WHISPER_DIR "whisper-tiny.en"

#endif
