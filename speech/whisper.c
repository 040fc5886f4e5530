/* whisper.c — Whisper encoder and decoder forward passes on a Backend, and their activations.
 *
 * Encoder (SPEC.md §5.2): conv1 (k3, pad 1) → GELU → conv2 (k3, stride 2, pad 1) → GELU → + positions →
 * pre-LN blocks (MHA with q/v/out biases, no key bias; GELU MLP) → final LayerNorm. Decoder: token +
 * learned positions → blocks of causal self-attention (cache), cross-attention over the encoder states
 * (K/V computed once per encode), GELU MLP → final LayerNorm → logits against the token embedding.
 * conv1 runs as im2col_1d + matmul on the [F, M] mel. conv1's output is time-major [C, F] (a matmul
 * result), so conv2's windows are gathered with three strided copies into [3·C, T] rows ordered
 * (tap k, channel c); its kernel was permuted to that order at load (whisper-load.c).
 * Encoder self-attention (T = 1500 queries and keys) runs as two GEMMs per head (scores = K_h·Q_h, then
 * P·V_h against Vᵀ computed directly as Wv·xnᵀ) with a row softmax between, instead of the backend's
 * row-at-a-time attention op, which is built for decoding.
 * Decoder cross-attention works the same way per head (scores = K_h·q_h over the S encoder positions,
 * softmax, O_h = Vᵀ_h·P), against keys [C, S] and values stored transposed [S, C] per decoder layer at
 * encode time (Vᵀ = Wv·outᵀ, value bias added after the attention); the backend's attention op walked the
 * 1500 keys one 64-float row at a time and cost more than the rest of the decoder layers together.
 * Fast path (whisper.h WhisperFast; CPU backend): cross-attention K/V read from F16 copies made at encode,
 * logits against the Q8_0 token embedding made at load.
 * Not here: loading (whisper-load.c), token selection and windows (whisper-transcribe.c).
 * Reference numerics: HF transformers WhisperForConditionalGeneration (eager attention, exact-erf GELU,
 * LayerNorm eps 1e-5); goldens from tools/ref/tiny_whisper.py.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "whisper-impl.h"

#define LN_EPS 1e-5f

static int alloc_dt(Whisper *w, Tensor *t, DType dt, int64_t ne0, int64_t ne1, int64_t ne2)
{
    return weights_alloc(w->ws, t, dt, ne2 > 1 ? 3 : 2, ne0, ne1, ne2);
}

static int alloc_t(Whisper *w, Tensor *t, int64_t ne0, int64_t ne1, int64_t ne2)
{
    return alloc_dt(w, t, DTYPE_F32, ne0, ne1, ne2);
}

int whisper_state_init(Whisper *w)
{
    const WhisperConfig *c = &w->cfg;
    WhisperState *s = &w->st;
    int64_t C = c->n_audio_state, T = c->n_audio_ctx, F = 2 * T, M = c->n_mels, FF = c->n_audio_ff;
    int64_t HD = C / c->n_audio_head, NH = c->n_audio_head, D = c->n_text_ctx;
    int64_t DFF = c->n_text_ff;
    float *zero;
    int r;

    s->ck = calloc((size_t)c->n_text_layer, sizeof(Tensor));
    s->cvt = calloc((size_t)c->n_text_layer, sizeof(Tensor));
    s->ck16 = calloc((size_t)c->n_text_layer, sizeof(Tensor));
    s->cvt16 = calloc((size_t)c->n_text_layer, sizeof(Tensor));
    s->sk = calloc((size_t)c->n_text_layer, sizeof(Tensor));
    s->sv = calloc((size_t)c->n_text_layer, sizeof(Tensor));
    s->pos = calloc((size_t)D, sizeof(int32_t));
    if (!s->ck || !s->cvt || !s->ck16 || !s->cvt16 || !s->sk || !s->sv || !s->pos)
        return -ENOMEM;
    if ((r = alloc_t(w, &s->mel, F, M, 1)) < 0 || (r = alloc_t(w, &s->col1, 3 * M, F, 1)) < 0 ||
        (r = alloc_t(w, &s->y1, C, F, 1)) < 0 || (r = alloc_t(w, &s->col2, 3 * C, T, 1)) < 0 ||
        (r = alloc_t(w, &s->ex, C, T, 1)) < 0 || (r = alloc_t(w, &s->exn, C, T, 1)) < 0 ||
        (r = alloc_t(w, &s->eq, C, T, 1)) < 0 || (r = alloc_t(w, &s->ek, C, T, 1)) < 0 ||
        (r = alloc_t(w, &s->evt, T, C, 1)) < 0 || (r = alloc_t(w, &s->eatt, C, T, 1)) < 0 ||
        (r = alloc_t(w, &s->escore, T, T, 1)) < 0 ||
        (r = alloc_t(w, &s->eff, FF, T, 1)) < 0 || (r = alloc_t(w, &s->enc_out, C, T, 1)) < 0)
        return r;
    HD = c->n_text_state / c->n_text_head;
    NH = c->n_text_head;
    for (int l = 0; l < c->n_text_layer; l++) {
        if ((r = alloc_t(w, &s->ck[l], HD * NH, T, 1)) < 0 || (r = alloc_t(w, &s->cvt[l], T, HD * NH, 1)) < 0 ||
            (r = alloc_t(w, &s->sk[l], HD, NH, D)) < 0 || (r = alloc_t(w, &s->sv[l], HD, NH, D)) < 0)
            return r;
        if (w->fast_ok && ((r = alloc_dt(w, &s->ck16[l], DTYPE_F16, HD * NH, T, 1)) < 0 ||
                           (r = alloc_dt(w, &s->cvt16[l], DTYPE_F16, T, HD * NH, 1)) < 0))
            return r;
    }
    if ((r = alloc_t(w, &s->dscore, T, D, 1)) < 0)
        return r;
    C = c->n_text_state;
    if ((r = alloc_t(w, &s->dx, C, D, 1)) < 0 || (r = alloc_t(w, &s->dxn, C, D, 1)) < 0 ||
        (r = alloc_t(w, &s->dq, C, D, 1)) < 0 || (r = alloc_t(w, &s->dk, C, D, 1)) < 0 ||
        (r = alloc_t(w, &s->dv, C, D, 1)) < 0 || (r = alloc_t(w, &s->datt, C, D, 1)) < 0 ||
        (r = alloc_t(w, &s->dff, DFF, D, 1)) < 0 ||
        (r = alloc_t(w, &s->logits, c->n_vocab, WHISPER_LOGIT_ROWS, 1)) < 0)
        return r;
    /* conv2's left tap of output 0 reads the zero padding: those C floats are never written */
    zero = calloc((size_t)c->n_audio_state, sizeof(float));
    if (!zero)
        return -ENOMEM;
    r = backend_tensor_set(w->be, &s->col2, zero, 0, sizeof(float) * (size_t)c->n_audio_state);
    free(zero);
    return r;
}

void whisper_state_free(Whisper *w)
{
    /* the tensors themselves are in w->ws */
    free(w->st.ck);
    free(w->st.cvt);
    free(w->st.ck16);
    free(w->st.cvt16);
    free(w->st.sk);
    free(w->st.sv);
    free(w->st.pos);
    memset(&w->st, 0, sizeof(w->st));
}


/* y = x · wᵀ + b (b may be NULL). */
static int linear(Backend *be, Tensor *y, const Tensor *wt, const Tensor *b, const Tensor *x)
{
    int r;

    TRY_RET(backend_matmul(be, y, wt, x));
    if (b)
        TRY_RET(backend_add(be, y, y, b));
    return 0;
}

/* Pre-LN MLP sub-block: x += fc2(GELU(fc1(LN(x)))). */
static int mlp_block(Backend *be, Tensor *x, Tensor *xn, Tensor *ff, const Tensor *ln_w, const Tensor *ln_b,
                     const Tensor *fc1, const Tensor *fc1_b, const Tensor *fc2, const Tensor *fc2_b)
{
    int r;

    TRY_RET(backend_layernorm(be, xn, x, ln_w, ln_b, LN_EPS));
    TRY_RET(linear(be, ff, fc1, fc1_b, xn));
    TRY_RET(backend_gelu(be, ff, ff));
    TRY_RET(linear(be, xn, fc2, fc2_b, ff));
    TRY_RET(backend_add(be, x, x, xn));
    return 0;
}

/* One stage of the encoder (whisper.h): 0 the convolution stem, 1..n_audio_layer one layer each, then the
 * final norm and every decoder layer's cross-attention K/V. The residual stream stays in s->ex between
 * stages. */
int whisper_encode_stage(Whisper *w, const float *mel, int n_frames, int stage, float *ret_states)
{
    const WhisperConfig *c = &w->cfg;
    const WhisperWeights *ww = &w->w;
    WhisperState *s = &w->st;
    Backend *be = w->be;
    int64_t C = c->n_audio_state, M = c->n_mels, F = n_frames, T = n_frames / 2;
    int64_t NH = c->n_audio_head, HD = C / NH;
    int r;

    if (!mel || n_frames < 2 || n_frames % 2 || n_frames > 2 * c->n_audio_ctx || stage < 0 ||
        stage > c->n_audio_layer + 1)
        return -EINVAL;
    s->n_enc = 0;
    Tensor mel_t = tensor_view(&s->mel, 0, F, M, 1);         /* [F, M] */
    Tensor col1 = tensor_view(&s->col1, 0, 3 * M, F, 1);     /* [3·M, F] */
    Tensor y1 = tensor_view(&s->y1, 0, C, F, 1);             /* [C, F] */
    Tensor col2 = tensor_view(&s->col2, 0, 3 * C, T, 1);     /* [3·C, T] */
    Tensor x = tensor_view(&s->ex, 0, C, T, 1), xn = tensor_view(&s->exn, 0, C, T, 1);
    Tensor q = tensor_view(&s->eq, 0, C, T, 1), k = tensor_view(&s->ek, 0, C, T, 1), vt = tensor_view(&s->evt, 0, T, C, 1);
    Tensor att = tensor_view(&s->eatt, 0, C, T, 1), ff = tensor_view(&s->eff, 0, c->n_audio_ff, T, 1);
    Tensor score = tensor_view(&s->escore, 0, T, T, 1); /* [S, T] */
    float scale = 1.0f / sqrtf((float)HD);
    Tensor pos = tensor_view(&ww->enc_pos, 0, C, T, 1);
    Tensor out = tensor_view(&s->enc_out, 0, C, T, 1);

    if (stage == 0) {
        TRY_RET(backend_tensor_set(be, &mel_t, mel, 0, sizeof(float) * (size_t)(F * M)));
        /* conv1 + GELU: [F, M] → windows [3·M, F] → [C, F] */
        TRY_RET(backend_im2col_1d(be, &col1, &mel_t, 3, 1, 1));
        TRY_RET(linear(be, &y1, &ww->conv1_w, &ww->conv1_b, &col1));
        TRY_RET(backend_gelu(be, &y1, &y1));
        /* conv2 windows: row t of col2 = [y1[2t−1] | y1[2t] | y1[2t+1]] (y1[−1] = 0) */
        for (int tap = 0; tap < 3; tap++) {
            int64_t t0 = tap == 0 ? 1 : 0;
            Tensor dst = tensor_view_strided(&s->col2, (size_t)(t0 * 3 * C + tap * C), C, T - t0, 3 * (size_t)C);
            Tensor src = tensor_view_strided(&s->y1, (size_t)((2 * t0 + tap - 1) * C), C, T - t0, 2 * (size_t)C);
            TRY_RET(backend_copy(be, &dst, &src));
        }
        TRY_RET(linear(be, &x, &ww->conv2_w, &ww->conv2_b, &col2));
        TRY_RET(backend_gelu(be, &x, &x));
        TRY_RET(backend_add(be, &x, &x, &pos));
        return 0;
    }
    if (stage <= c->n_audio_layer) {
        const WhisperEncLayer *e = &ww->enc[stage - 1];
        TRY_RET(backend_layernorm(be, &xn, &x, &e->ln1_w, &e->ln1_b, LN_EPS));
        TRY_RET(linear(be, &q, &e->wq, &e->bq, &xn));
        TRY_RET(linear(be, &k, &e->wk, NULL, &xn));
        /* Vᵀ [T, C] = Wv · xnᵀ: xn is the weight operand, Wv (F32) the activations */
        TRY_RET(backend_matmul(be, &vt, &xn, &e->wv));
        for (int64_t h = 0; h < NH; h++) {
            Tensor qh = tensor_view_strided(&s->eq, (size_t)(h * HD), HD, T, (size_t)C);   /* [HD, T] */
            Tensor kh = tensor_view_strided(&s->ek, (size_t)(h * HD), HD, T, (size_t)C);   /* [HD, S] */
            Tensor vh = tensor_view(&s->evt, (size_t)(h * HD * T), T, HD, 1);                         /* [S, HD] */
            Tensor oh = tensor_view_strided(&s->eatt, (size_t)(h * HD), HD, T, (size_t)C); /* [HD, T] */
            TRY_RET(backend_matmul(be, &score, &kh, &qh));
            TRY_RET(backend_softmax(be, &score, scale, NULL));
            TRY_RET(backend_matmul(be, &oh, &vh, &score));
        }
        /* softmax rows sum to 1, so the value bias moves past the attention: P·(V + b) = P·V + b */
        TRY_RET(backend_add(be, &att, &att, &e->bv));
        TRY_RET(linear(be, &xn, &e->wo, &e->bo, &att));
        TRY_RET(backend_add(be, &x, &x, &xn));
        TRY_RET(mlp_block(be, &x, &xn, &ff, &e->ln2_w, &e->ln2_b, &e->fc1, &e->fc1_b, &e->fc2, &e->fc2_b));
        return 0;
    }
    TRY_RET(backend_layernorm(be, &out, &x, &ww->enc_ln_w, &ww->enc_ln_b, LN_EPS));
    /* cross-attention keys and values of every decoder layer, once per window */
    for (int l = 0; l < c->n_text_layer; l++) {
        const WhisperDecLayer *d = &ww->dec[l];
        Tensor ck = tensor_view(&s->ck[l], 0, C, T, 1), cvt = tensor_view(&s->cvt[l], 0, T, C, 1);
        TRY_RET(linear(be, &ck, &d->xk, NULL, &out));
        /* Vᵀ [T, C] = Wv · outᵀ (the value bias is added after the attention, see whisper_decode) */
        TRY_RET(backend_matmul(be, &cvt, &out, &d->xv));
        if (w->fast_ok && (w->fast_on || w->fast == WHISPER_FAST_ALL)) { /* the decoder's fast path */
            Tensor ck16 = tensor_view(&s->ck16[l], 0, C, T, 1), cvt16 = tensor_view(&s->cvt16[l], 0, T, C, 1);
            TRY_RET(backend_copy(be, &ck16, &ck));
            TRY_RET(backend_copy(be, &cvt16, &cvt));
        }
    }
    if (ret_states)
        TRY_RET(backend_tensor_get(be, &out, ret_states, 0, sizeof(float) * (size_t)(C * T)));
    s->n_enc = (int)T;
    return 0;
}

int whisper_encode(Whisper *w, const float *mel, int n_frames, float *ret_states)
{
    int r;
    for (int stage = 0; stage <= w->cfg.n_audio_layer + 1; stage++)
        TRY_RET(whisper_encode_stage(w, mel, n_frames, stage, ret_states));
    return 0;
}

const Tensor *whisper_encoder_output(const Whisper *w)
{
    return w->st.n_enc ? &w->st.enc_out : NULL;
}

int whisper_decode(Whisper *w, const int32_t *ids, int n, int n_past, float *logits, int all_rows)
{
    const WhisperConfig *c = &w->cfg;
    const WhisperWeights *ww = &w->w;
    WhisperState *s = &w->st;
    Backend *be = w->be;
    int64_t C = c->n_text_state, NH = c->n_text_head, HD = C / NH, T = n, S = s->n_enc, V = c->n_vocab;
    AttnParams self = {1.0f / sqrtf((float)HD), 1, n_past, NULL};
    float scale = 1.0f / sqrtf((float)HD);
    int fast = w->fast_ok && (w->fast_on || w->fast == WHISPER_FAST_ALL), r;

    if (!ids || n < 1 || n_past < 0 || n_past + n > c->n_text_ctx || S == 0)
        return -EINVAL;
    for (int t = 0; t < n; t++) {
        if (ids[t] < 0 || ids[t] >= V)
            return -EINVAL;
        s->pos[t] = n_past + t;
    }
    Tensor x = tensor_view(&s->dx, 0, C, T, 1), xn = tensor_view(&s->dxn, 0, C, T, 1);
    Tensor q = tensor_view(&s->dq, 0, C, T, 1), k = tensor_view(&s->dk, 0, C, T, 1), v = tensor_view(&s->dv, 0, C, T, 1);
    Tensor att = tensor_view(&s->datt, 0, C, T, 1), ff = tensor_view(&s->dff, 0, c->n_text_ff, T, 1);
    Tensor q3 = tensor_view(&s->dq, 0, HD, NH, T), k3 = tensor_view(&s->dk, 0, HD, NH, T), v3 = tensor_view(&s->dv, 0, HD, NH, T);
    Tensor att3 = tensor_view(&s->datt, 0, HD, NH, T);

    TRY_RET(backend_get_rows(be, &x, &ww->tok_emb, ids, n));
    TRY_RET(backend_get_rows(be, &xn, &ww->dec_pos, s->pos, n));
    TRY_RET(backend_add(be, &x, &x, &xn));
    for (int l = 0; l < c->n_text_layer; l++) {
        const WhisperDecLayer *d = &ww->dec[l];
        Tensor kc = tensor_view(&s->sk[l], (size_t)(n_past * C), HD, NH, T);   /* cache rows of these tokens */
        Tensor vc = tensor_view(&s->sv[l], (size_t)(n_past * C), HD, NH, T);
        Tensor ka = tensor_view(&s->sk[l], 0, HD, NH, n_past + T);             /* [HD, NH, S] visible keys */
        Tensor va = tensor_view(&s->sv[l], 0, HD, NH, n_past + T);
        /* causal self-attention */
        TRY_RET(backend_layernorm(be, &xn, &x, &d->ln1_w, &d->ln1_b, LN_EPS));
        {
            Tensor *ys[3] = {&q, &k, &v};
            const Tensor *ws[3] = {&d->wq, &d->wk, &d->wv};
            TRY_RET(backend_matmul_n(be, 3, ys, ws, &xn));
            TRY_RET(backend_add(be, &q, &q, &d->bq));
            TRY_RET(backend_add(be, &v, &v, &d->bv));
        }
        TRY_RET(backend_copy(be, &kc, &k3));
        TRY_RET(backend_copy(be, &vc, &v3));
        TRY_RET(backend_attention(be, &att3, &q3, &ka, &va, &self));
        TRY_RET(linear(be, &xn, &d->wo, &d->bo, &att));
        TRY_RET(backend_add(be, &x, &x, &xn));
        /* cross-attention over the encoder states */
        TRY_RET(backend_layernorm(be, &xn, &x, &d->lnx_w, &d->lnx_b, LN_EPS));
        TRY_RET(linear(be, &q, &d->xq, &d->xbq, &xn));
        for (int64_t h = 0; h < NH; h++) { /* per head: scores [S, T] = K_h·Q_h, softmax, O_h = Vᵀ_h·P */
            const Tensor *kb = fast ? &s->ck16[l] : &s->ck[l], *vb = fast ? &s->cvt16[l] : &s->cvt[l];
            Tensor kh = tensor_view_strided(kb, (size_t)(h * HD), HD, S, (size_t)C);         /* [HD, S] */
            Tensor vh = tensor_view(vb, (size_t)(h * HD * S), S, HD, 1);                /* [S, HD] */
            Tensor qh = tensor_view_strided(&s->dq, (size_t)(h * HD), HD, T, (size_t)C);     /* [HD, T] */
            Tensor oh = tensor_view_strided(&s->datt, (size_t)(h * HD), HD, T, (size_t)C);   /* [HD, T] */
            Tensor sc = tensor_view(&s->dscore, 0, S, T, 1);
            TRY_RET(backend_matmul(be, &sc, &kh, &qh));
            TRY_RET(backend_softmax(be, &sc, scale, NULL));
            TRY_RET(backend_matmul(be, &oh, &vh, &sc));
        }
        TRY_RET(backend_add(be, &att, &att, &d->xbv)); /* P·(V + b) = P·V + b */
        TRY_RET(linear(be, &xn, &d->xo, &d->xbo, &att));
        TRY_RET(backend_add(be, &x, &x, &xn));
        TRY_RET(mlp_block(be, &x, &xn, &ff, &d->ln2_w, &d->ln2_b, &d->fc1, &d->fc1_b, &d->fc2, &d->fc2_b));
    }
    if (!logits)
        return 0;
    int64_t r0 = all_rows ? 0 : T - 1;
    Tensor xs = tensor_view(&s->dx, (size_t)(r0 * C), C, T - r0, 1), xns = tensor_view(&s->dxn, (size_t)(r0 * C), C, T - r0, 1);
    TRY_RET(backend_layernorm(be, &xns, &xs, &ww->dec_ln_w, &ww->dec_ln_b, LN_EPS));
    for (int64_t t = r0; t < T; t += WHISPER_LOGIT_ROWS) {
        int64_t m = T - t < WHISPER_LOGIT_ROWS ? T - t : WHISPER_LOGIT_ROWS;
        Tensor in = tensor_view(&s->dxn, (size_t)(t * C), C, m, 1), lg = tensor_view(&s->logits, 0, V, m, 1);
        TRY_RET(backend_matmul(be, &lg, fast ? &ww->tok_q8 : &ww->tok_emb, &in));
        TRY_RET(backend_tensor_get(be, &lg, logits + (size_t)(t - r0) * (size_t)V, 0, sizeof(float) * (size_t)(V * m)));
    }
    return 0;
}
