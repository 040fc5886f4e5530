/* engine.h — what the inference worker drives: a loaded model and its sessions, behind a small table so
 * the daemon can run on the real language model (engine-lm.c, over lm/lm.h) or on a deterministic test
 * engine ("test:echo", or "test:vision" which also takes images and video; engine-echo.c) that needs no weights — daemon tests and the soak benchmark use it
 * to exercise queues, cancellation and ownership in CI without a model file.
 * Not here: threads or D-Bus. All calls on one Engine come from one thread (the worker).
 */
#ifndef MYNA_DAEMON_ENGINE_H
#define MYNA_DAEMON_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "lm.h"
#include "media.h"

typedef struct Engine Engine;

typedef struct {
    int (*session_new)(Engine *e, void **ret);
    void (*session_free)(void *s);                 /* accepts NULL */
    int (*session_reset)(void *s);
    int (*add_message)(void *s, const char *role, const char *text); /* -E2BIG: over the context */
    int (*prefill)(void *s, LmStats *stats);
    int (*step)(void *s, const LmSampling *sp, int n_generated, LmToken *ret);
    void (*destroy)(Engine *e);
    /* A user turn with decoded attachments (NULL when the engine takes none; only called for kinds in
     * Engine.media_kinds). Errors as myna_session_add (adapters/model.h), err gets one line. */
    int (*add_user_media)(void *s, const char *text, const MediaItem *media, int n_media, char *err,
                          size_t err_len);
    int (*images_encoded)(void *s); /* encoder runs so far in this session (NULL: none ever) */
    /* The same user turn in units (all three NULL: the worker calls add_user_media): check_media runs its
     * checks without encoding; encode_frame encodes one frame (index: its place among the turn's frames)
     * into *ret, freed with frame_free on the worker thread; add_user_encoded queues the turn with
     * frames[k] for frame k of the attachments in order (borrowed). Errors as add_user_media. */
    int (*check_media)(void *s, const char *text, const MediaItem *media, int n_media, char *err,
                       size_t err_len);
    int (*encode_frame)(void *s, const Image *im, int index, void **ret, char *err, size_t err_len);
    void (*frame_free)(void *frame); /* accepts NULL */
    int (*add_user_encoded)(void *s, const char *text, const MediaItem *media, int n_media, void *const *frames,
                            char *err, size_t err_len);
} EngineOps;

struct Engine {
    const EngineOps *ops;
    void *impl;
    char name[128];        /* model name */
    char path[4096];
    char chat_family[16];
    char backend_desc[128];
    uint64_t n_params;     /* approximate */
    uint64_t weight_bytes;
    int n_ctx;             /* per session */
    unsigned media_kinds;  /* bit (1u << MediaKind) for each attachment kind the model takes */
};

/* The one-line reason this engine cannot take an attachment of this kind (UnsupportedMedia). */
void engine_media_error(const Engine *e, MediaKind kind, char *err, size_t err_len);

/* Load what cfg names: "test:echo[:MS]" / "test:vision[:MS]" (MS = sleep per generated token) or a model path (needs the lm
 * library; -ENOTSUP when this build has none). err gets a readable reason. */
int engine_load(const char *model_path, const char *backend, int threads, int n_ctx, int mmap, Engine **ret, char *err,
                size_t err_len);
void engine_free(Engine *e); /* accepts NULL */

/* Implementations. */
int engine_echo_new(const char *spec, int n_ctx, Engine **ret, char *err, size_t err_len);
int engine_lm_new(const char *path, const char *backend, int threads, int n_ctx, int mmap, Engine **ret, char *err,
                  size_t err_len);

#endif
