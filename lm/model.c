/* model.c — lm.h: loading a model (decoder + tokenizer + chat family) from a GGUF file or an HF folder, or
 * around a decoder an adapter built (lm-adapter.h), and its info and tokenization.
 *
 * Not here: sessions and generation (session.c), the decoder (decoder.c, decoder-load.c).
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chat.h"
#include "decoder.h"
#include "lm-adapter.h"
#include "lm.h"
#include "log.h"
#include "model-impl.h"
#include "tokenizer.h"

/* ---- model ------------------------------------------------------------------------------------------- */

static int load_hf_template(const char *dir, ChatFamily *ret)
{
    char path[PATH_MAX];
    json_error_t je;
    json_t *root, *t;

    *ret = CHAT_NONE;
    if (snprintf(path, sizeof(path), "%s/tokenizer_config.json", dir) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return 0; /* optional */
    t = json_object_get(root, "chat_template");
    if (json_is_string(t))
        *ret = chat_detect(json_string_value(t));
    json_decref(root);
    return 0;
}

static int model_finish(LmModel *m, const char *name, const LmLoadOptions *opt, char *err, size_t err_len);

int lm_model_load(const char *path, Backend *be, const LmLoadOptions *opt, LmModel **ret, char *err,
                  size_t err_len)
{
    LmLoadOptions def = {0, 1, NULL, 0};
    LmModel *m = NULL;
    struct stat sb;
    char buf[PATH_MAX];
    const char *tmpl = NULL, *name = NULL;
    int r;

    if (!path || !be || !ret)
        return err_set(err, err_len, -EINVAL, "no model path");
    if (!opt)
        opt = &def;
    if (stat(path, &sb) < 0)
        return err_set(err, err_len, -errno, "%s: %s", path, strerror(errno));
    m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    if (S_ISDIR(sb.st_mode)) {
        if ((r = hf_model_open(path, &m->hf, err, err_len)) < 0 ||
            (r = lm_decoder_load_hf(m->hf, be, &m->dec, err, err_len)) < 0)
            goto fail;
        if (snprintf(buf, sizeof(buf), "%s/tokenizer.json", path) >= (int)sizeof(buf)) {
            r = err_set(err, err_len, -ENAMETOOLONG, "path too long");
            goto fail;
        }
        if ((r = tokenizer_load_hf(buf, &m->tok, err, err_len)) < 0)
            goto fail;
        load_hf_template(path, &m->chat);
        name = strrchr(path, '/') && strrchr(path, '/')[1] ? strrchr(path, '/') + 1 : path;
    } else {
        int resident = !(opt && opt->mmap) && be && backend_is_host(be);
        if ((r = gguf_open_flags(path, resident ? GGUF_OPEN_RESIDENT : 0, &m->gf, err, err_len)) < 0 ||
            (r = lm_decoder_load_gguf(m->gf, be, &m->dec, err, err_len)) < 0 ||
            (r = tokenizer_load_gguf(m->gf, &m->tok, err, err_len)) < 0)
            goto fail;
        if (gguf_get_str(m->gf, "tokenizer.chat_template", &tmpl, NULL) == 0)
            m->chat = chat_detect(tmpl);
        if (gguf_get_str(m->gf, "general.name", &name, NULL) < 0)
            name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    }
    if ((r = model_finish(m, name, opt, err, err_len)) < 0)
        goto fail;
    *ret = m;
    return 0;
fail:
    lm_model_free(m);
    return r;
}

int lm_model_new_with_decoder(struct LmDecoder *dec, const char *dir, const char *name, int n_ctx, int kv_f16,
                              const char *chat_template, LmModel **ret, char *err, size_t err_len)
{
    LmLoadOptions opt = {n_ctx, kv_f16, chat_template, 0};
    char buf[PATH_MAX];
    LmModel *m;
    int r;

    if (!dec || !dir || !ret)
        return err_set(err, err_len, -EINVAL, "no decoder or folder");
    if (snprintf(buf, sizeof(buf), "%s/tokenizer.json", dir) >= (int)sizeof(buf))
        return err_set(err, err_len, -ENAMETOOLONG, "path too long");
    m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->dec = dec;
    m->dec_borrowed = 1;
    if ((r = tokenizer_load_hf(buf, &m->tok, err, err_len)) < 0)
        goto fail;
    load_hf_template(dir, &m->chat);
    if (!name)
        name = strrchr(dir, '/') && strrchr(dir, '/')[1] ? strrchr(dir, '/') + 1 : dir;
    if ((r = model_finish(m, name, &opt, err, err_len)) < 0)
        goto fail;
    *ret = m;
    return 0;
fail:
    lm_model_free(m);
    return r;
}

int lm_model_set_extra_token(LmModel *m, int32_t id, const float *emb)
{
    if (!m || !emb || id < m->info.n_vocab || id >= m->info.n_vocab + LM_MAX_EXTRA_TOKENS)
        return -EINVAL;
    for (int i = 0; i < m->n_extra; i++)
        if (m->extra_id[i] == id) {
            m->extra_emb[i] = emb;
            return 0;
        }
    if (m->n_extra >= LM_MAX_EXTRA_TOKENS)
        return -ENOSPC;
    m->extra_id[m->n_extra] = id;
    m->extra_emb[m->n_extra++] = emb;
    return 0;
}

const float *lm_model_extra_embedding(const LmModel *m, int32_t id)
{
    for (int i = 0; i < m->n_extra; i++)
        if (m->extra_id[i] == id)
            return m->extra_emb[i];
    return NULL;
}

/* Chat family, end tokens, generation prompt, context, activations and LmInfo of a model whose decoder and
 * tokenizer are in place. */
static int model_finish(LmModel *m, const char *name, const LmLoadOptions *opt, char *err, size_t err_len)
{
    int r, n;

    if (opt->chat_template) {
        ChatFamily f = chat_family_from_name(opt->chat_template);
        if (f == CHAT_INVALID)
            return err_set(err, err_len, -EINVAL, "unknown chat template '%s' (llama3, chatml, llama2, none)",
                           opt->chat_template);
        m->chat = f;
    }
    const LmConfig *c = lm_decoder_config(m->dec);
    if (tokenizer_n_vocab(m->tok) > c->n_vocab + (m->dec_borrowed ? LM_MAX_EXTRA_TOKENS : 0))
        return err_set(err, err_len, -EBADMSG, "tokenizer has %d tokens but the model's vocabulary is %d",
                       tokenizer_n_vocab(m->tok), c->n_vocab);
    /* the family's end-of-turn tokens stop generation */
    const char *const *ends = chat_end_tokens(m->chat, NULL);
    for (int i = 0; ends && ends[i]; i++) {
        int32_t id = tokenizer_find_token(m->tok, ends[i]);
        if (id >= 0)
            tokenizer_set_eog(m->tok, id);
    }
    const char *gp = chat_generation_prompt(m->chat);
    n = tokenizer_encode(m->tok, gp, strlen(gp), 0, 1, m->gen_prompt, 64);
    if (n < 0 || n > 64)
        return err_set(err, err_len, -EBADMSG, "cannot tokenize the generation prompt");
    m->n_gen_prompt = n;
    m->n_ctx = opt->n_ctx > 0 ? opt->n_ctx : (c->n_ctx_train < 4096 ? c->n_ctx_train : 4096);
    if (m->n_ctx > 1 << 20)
        return err_set(err, err_len, -EINVAL, "context %d too large", m->n_ctx);
    m->kv_f16 = opt->kv_f16;
    if ((r = lm_state_new(m->dec, m->n_ctx < LM_MAX_BATCH ? m->n_ctx : LM_MAX_BATCH, &m->st)) < 0)
        return err_set(err, err_len, r, "cannot allocate activations");
    const char *pe = getenv("MYNA_PROFILE"); /* per-op times of this model's forward passes, printed at free */
    if (pe && *pe && strcmp(pe, "0") != 0 && (m->prof = calloc(1, sizeof(*m->prof))))
        m->st->prof = m->prof;
    LmInfo *in = &m->info;
    in->n_vocab = c->n_vocab;
    in->n_embd = c->n_embd;
    in->n_layers = c->n_layers;
    in->n_heads = c->n_heads;
    in->n_kv_heads = c->n_kv_heads;
    in->head_dim = c->head_dim;
    in->n_ff = c->n_ff;
    in->n_ctx_train = c->n_ctx_train;
    snprintf(in->arch, sizeof(in->arch), "llama");
    snprintf(in->name, sizeof(in->name), "%s", name);
    snprintf(in->chat_family, sizeof(in->chat_family), "%s", chat_family_name(m->chat));
    in->weight_bytes = lm_decoder_weight_bytes(m->dec);
    return 0;
}

void lm_model_free(LmModel *m)
{
    if (!m)
        return;
    if (m->prof)
        lm_profile_print(m->prof, stderr);
    free(m->prof);
    if (m->dec)
        lm_state_free(m->dec, m->st);
    if (!m->dec_borrowed)
        lm_decoder_free(m->dec);
    tokenizer_free(m->tok);
    gguf_close(m->gf);
    hf_model_free(m->hf);
    free(m);
}

const LmInfo *lm_model_info(const LmModel *m)
{
    return &m->info;
}

int lm_tokenize(const LmModel *m, const char *text, int add_bos, int allow_special, int32_t *ids, int cap)
{
    return tokenizer_encode(m->tok, text, strlen(text), add_bos, allow_special, ids, cap);
}

const char *lm_token_piece(const LmModel *m, int32_t id)
{
    return tokenizer_piece(m->tok, id);
}

