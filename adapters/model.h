/* model.h — "any model": opens a text language model (lm_model_load: GGUF or HF Llama folder) or a Llama 3.2
 * Vision folder (mllama_load + an LmModel around its text decoder) behind one type, so myna-run and mynad
 * need not know which. Sessions queue user turns with media: images (and video frames) are decoded by the
 * caller (media.h), encoded here once, and attached at the absolute positions of their <|image|> tokens;
 * their cross-attention K/V stay with the session, so follow-up turns never re-encode.
 * Not here: decoding files (media.h), the encoder math (vision/, mllama.c), the daemon.
 * The dispatch lives in adapters/ because lm/ must not know vision (ARCHITECTURE.md §2).
 */
#ifndef MYNA_ADAPTERS_MODEL_H
#define MYNA_ADAPTERS_MODEL_H

#include <stddef.h>

#include "backend.h"
#include "lm.h"
#include "media.h"

typedef struct MynaModel MynaModel;
typedef struct MynaSession MynaSession;

/* 1 when path is an HF folder whose config.json says model_type "mllama" (or architectures lists
 * MllamaForConditionalGeneration), else 0. */
int myna_model_is_mllama(const char *path);

/* opt may be NULL (defaults of lm_model_load). For an mllama folder without a chat template the Llama 3
 * template is used when the tokenizer has its header tokens. */
int myna_model_load(const char *path, Backend *be, const LmLoadOptions *opt, MynaModel **ret, char *err,
                    size_t err_len);
void myna_model_free(MynaModel *m); /* accepts NULL */
LmModel *myna_model_lm(MynaModel *m);
struct Mllama *myna_model_mllama(MynaModel *m); /* NULL for a text-only model (bench, tests) */
const char *myna_model_name(const MynaModel *m);
/* 1 when the model can take this kind of attachment. */
int myna_model_accepts(const MynaModel *m, MediaKind kind);
/* The one-line reason a model cannot take kind (for clients): "this model (NAME) cannot see images; …". */
void myna_model_media_error(const MynaModel *m, MediaKind kind, char *err, size_t err_len);

int myna_session_new(MynaModel *m, MynaSession **ret);
void myna_session_free(MynaSession *s); /* accepts NULL */
int myna_session_reset(MynaSession *s);   /* history, cache and attached images */
LmSession *myna_session_lm(MynaSession *s);

/* Queue one turn with media. role: "user" (formatted with the chat template) or NULL (raw text, special
 * tokens parsed). Each image / video frame becomes one <|image|> tag: when text already holds as many
 * "<|image|>" tags as there are frames, they mark the places; with none, the tags go before the text
 * (SPEC.md §3.3). Everything is encoded before anything is queued, so a failure leaves the session as it
 * was. Errors (err gets one line): -EMEDIUMTYPE (the model cannot take this kind), -EINVAL (tag count
 * mismatch), -E2BIG (over the context or past MLLAMA_MAX_IMAGES images in the session), -ENOMEM. */
int myna_session_add(MynaSession *s, const char *role, const char *text, const MediaItem *media, int n_media,
                     char *err, size_t err_len);
/* The same turn in two steps, so a caller (the daemon's worker) can encode one frame per scheduling unit:
 * check_media runs the checks of myna_session_add (same errors) without encoding; encode_frame encodes one
 * image / video frame (index: its place among the turn's frames, for the message) into an image the caller
 * holds and frees with myna_image_free (-EMEDIUMTYPE for a text-only model); add_encoded queues the turn
 * with imgs[k] for frame k of all attachments in order (checks again; borrows imgs, which it never frees).
 * A failure of add_encoded leaves the session as it was. */
struct MllamaImage;
int myna_session_check_media(MynaSession *s, const char *text, const MediaItem *media, int n_media, char *err,
                             size_t err_len);
int myna_session_encode_frame(MynaSession *s, const Image *im, int index, struct MllamaImage **ret, char *err,
                              size_t err_len);
int myna_session_add_encoded(MynaSession *s, const char *role, const char *text, const MediaItem *media,
                             int n_media, struct MllamaImage *const *imgs, char *err, size_t err_len);
void myna_image_free(struct MllamaImage *img); /* accepts NULL; mllama_image_free for callers without mllama.h */
/* Images run through the encoder for this session so far, and images attached in its context now. */
int myna_session_images_encoded(const MynaSession *s);
int myna_session_n_images(const MynaSession *s);

#endif
