/* vits-dec.c — VITS synthesis, latent side: the residual coupling flow in reverse and the HiFi-GAN decoder
 * over windows of the latent (vits.h describes the split and the streaming contract).
 *
 * Flow⁻¹ = for f = 3 … 0: Flip, then coupling f (mean only): x1 −= post(WN(pre(x0))). With the latent kept
 * as physical halves P (channels 0..I/2) and Q, after an odd number of flips the logical x is
 * [rev(Q); rev(P)], so coupling f reads x0 = rev(Q) and updates x1 = rev(P): P −= rev(post(WN(pre(rev Q)))).
 * Reversing pre's input channels and post's output rows at load makes that P −= post'(WN(pre'(Q))); after an
 * even number it is the plain Q −= post(WN(pre(P))). Four flips end where they started: z = [P; Q].
 * WaveNet layer i: a = conv_in(h) (+ speaker term), acts = tanh(a[:H])·σ(a[H:]), h += res(acts),
 * out += skip(acts) (res/skip are the two row halves of res_skip_layers.i; the last layer is all skip).
 * HiFi-GAN: conv_pre (+ cond) → per stage leaky(0.1), ConvTranspose, mean of resblocks → leaky(0.01) →
 * conv_post → tanh (type 2 resblock: x += conv_d(leaky x) per dilation; type 1: x += conv2(leaky(conv1_d(leaky x)))).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vits-impl.h"

#define TRY(x) do { if ((r = (x)) < 0) goto done; } while (0)

static int res_span(const VoiceConfig *c, int j)
{
    int s = 0;
    for (int d = 0; d < c->n_res_dilations; d++)
        s += (c->res_kernel[j] - 1) * c->res_dilation[j][d] / 2 + (c->resblock == 1 ? (c->res_kernel[j] - 1) / 2 : 0);
    return s;
}

int vits_dec_prepare(Vits *v, char *err, size_t err_len)
{
    const VoiceConfig *c = &v->cfg;
    const VoiceWeights *w = v->vw;
    const int H = c->hidden;
    int r = 0;
    (void)err;
    (void)err_len;
    for (int f = 0; f < VOICE_FLOWS; f++) {
        const VoiceCoupling *s = &w->flow[f];
        VCoupling *d = &v->flow[f];
        d->rev = (VOICE_FLOWS - f) % 2; /* flips before coupling f in reverse: VOICE_FLOWS − f */
        TRY(vits_repack(v, &d->pre, &s->pre, 1, 0, 0, 0, d->rev, 0));
        TRY(vits_repack(v, &d->post, &s->post, 1, 0, 0, 0, 0, d->rev));
        for (int i = 0; i < VOICE_WN_LAYERS; i++) {
            TRY(vits_repack(v, &d->in[i], &s->enc.in_layers[i], 1, 0, 0, 0, 0, 0));
            if (i < VOICE_WN_LAYERS - 1) {
                TRY(vits_repack(v, &d->res[i], &s->enc.res_skip[i], 1, 0, 0, H, 0, 0));
                TRY(vits_repack(v, &d->skip[i], &s->enc.res_skip[i], 1, 0, H, H, 0, 0));
            } else {
                TRY(vits_repack(v, &d->skip[i], &s->enc.res_skip[i], 1, 0, 0, 0, 0, 0));
            }
        }
        if (c->gin)
            TRY(vits_repack(v, &d->cond, &s->enc.cond, 1, 0, 0, 0, 0, 0));
    }
    TRY(vits_repack(v, &v->dec_pre, &w->dec.conv_pre, 1, 0, 0, 0, 0, 0));
    if (c->gin)
        TRY(vits_repack(v, &v->dec_cond, &w->dec.cond, 1, 0, 0, 0, 0, 0));
    for (int i = 0; i < c->n_ups; i++) {
        TRY(vits_repack(v, &v->ups[i], &w->dec.ups[i], 1, 1, 0, 0, 0, 0));
        for (int j = 0; j < c->n_res_kernels; j++) {
            const int idx = i * c->n_res_kernels + j, nc = c->n_res_dilations * (c->resblock == 1 ? 2 : 1);
            for (int k = 0; k < nc; k++)
                TRY(vits_repack(v, &v->res[idx][k], &w->dec.res[idx].convs[k], 1, 0, 0, 0, 0, 0));
        }
    }
    TRY(vits_repack(v, &v->dec_post, &w->dec.conv_post, 1, 0, 0, 0, 0, 0));
    /* receptive field of the decoder in latent frames, one side: conv_pre's half width; per stage the
     * transposed conv's reach (max(K − 1 − pad, pad) input steps, +1 for the floor) and the widest resblock,
     * in that stage's steps per frame; conv_post's half width. +1 frame of slack. */
    double reach = (v->dec_pre.k - 1) / 2.0;
    int spf = 1;
    for (int i = 0; i < c->n_ups; i++) {
        const int pad = (c->ups_kernel[i] - c->ups_rate[i]) / 2, far = c->ups_kernel[i] - 1 - pad;
        int widest = 0;
        for (int j = 0; j < c->n_res_kernels; j++)
            widest = res_span(c, j) > widest ? res_span(c, j) : widest;
        reach += ((far > pad ? far : pad) / (double)c->ups_rate[i] + 1.0) / spf;
        spf *= c->ups_rate[i];
        reach += widest / (double)spf;
    }
    reach += (v->dec_post.k - 1) / 2.0 / spf;
    v->margin = (int)reach + 2;
    int fr = 0, dil = 1;
    for (int i = 0; i < VOICE_WN_LAYERS; i++, dil *= c->flow_dilation_rate)
        fr += (c->flow_kernel - 1) * dil / 2;
    v->flow_margin = VOICE_FLOWS * fr + 1;
done:
    return r;
}

/* One coupling layer in reverse on the halves (src read, dst updated); g: speaker row or NULL. */
static int coupling(Vits *v, const VCoupling *cp, Tensor *dst, const Tensor *src, const Tensor *g)
{
    Backend *be = v->be;
    const int H = v->cfg.hidden, L = VOICE_WN_LAYERS, k = cp->in[0].k;
    const int64_t T = src->ne[1];
    Tensor h = {0}, a = {0}, acts = {0}, t = {0}, out = {0}, m = {0}, gc = {0};
    int r = 0;
    TRY(vits_tensor(v, &h, H, T));
    TRY(vits_tensor(v, &a, 2 * H, T));
    TRY(vits_tensor(v, &acts, H, T));
    TRY(vits_tensor(v, &t, H, T));
    TRY(vits_tensor(v, &out, H, T));
    TRY(vits_tensor(v, &m, dst->ne[0], T));
    if (g) {
        TRY(vits_tensor(v, &gc, 2 * H * L, 1));
        TRY(vits_conv(v, &gc, g, &cp->cond, 1, 0, 1));
    }
    TRY(vits_conv(v, &h, src, &cp->pre, 1, 0, 1));
    for (int i = 0; i < L; i++) {
        int dil = 1;
        for (int j = 0; j < i; j++)
            dil *= v->cfg.flow_dilation_rate;
        TRY(vits_conv(v, &a, &h, &cp->in[i], 1, (k * dil - dil) / 2, dil));
        if (g) {
            Tensor gi = tensor_view(&gc, (size_t)i * 2 * H, 2 * H, 1, 1);
            TRY(backend_add(be, &a, &a, &gi));
        }
        TRY(be->ops->gated_tanh(be, &acts, &a));
        if (i < L - 1)
            TRY(vits_conv_ex(v, &h, &acts, &cp->res[i], 0, 1, 0, 0.0f, &h));             /* h += res */
        TRY(vits_conv_ex(v, &out, &acts, &cp->skip[i], 0, 1, 0, 0.0f, i ? &out : NULL)); /* out += skip */
    }
    TRY(vits_conv(v, &m, &out, &cp->post, 1, 0, 1));
    TRY(backend_scale(be, &m, &m, -1.0f));
    TRY(backend_add(be, dst, dst, &m));
done:
    backend_tensor_release(be, &h), backend_tensor_release(be, &a), backend_tensor_release(be, &acts);
    backend_tensor_release(be, &t), backend_tensor_release(be, &out), backend_tensor_release(be, &m);
    backend_tensor_release(be, &gc);
    return r;
}

int vits_flow_reverse(Vits *v, Tensor *zp, Tensor *zq, const Tensor *g)
{
    int r = 0;
    for (int f = VOICE_FLOWS - 1; f >= 0; f--) {
        const VCoupling *cp = &v->flow[f];
        if ((r = cp->rev ? coupling(v, cp, zp, zq, g) : coupling(v, cp, zq, zp, g)) < 0)
            return r;
    }
    return 0;
}

/* Buffer i of the decoder pool as a [c, l] view (grown, never shrunk). */
static int pool(Vits *v, int i, Tensor *t, int64_t c, int64_t l)
{
    int r;
    if (c * l > v->pool_cap[i]) {
        backend_tensor_release(v->be, &v->pool[i]);
        v->pool_cap[i] = 0;
        if ((r = backend_tensor_new(v->be, &v->pool[i], DTYPE_F32, 1, c * l + c * l / 4, 1, 1)) < 0)
            return r;
        v->pool_cap[i] = c * l + c * l / 4;
    }
    *t = tensor_view(&v->pool[i], 0, c, l, 1);
    return 0;
}

/* HiFi-GAN on x: [I, n] → out [n·hop] (host). Buffers: a (stage input), b (upsampled), acc (sum of the
 * resblocks), res (resblock j > 0), t1/t2 (conv outputs). */
static int hifigan(Vits *v, const Tensor *x, const Tensor *g, float *out)
{
    Backend *be = v->be;
    const VoiceConfig *c = &v->cfg;
    Tensor a, b, res, t1, t2, acc, gc = {0};
    int r = 0, C = v->dec_pre.cout, cur = 0; /* pool slots 0/1 alternate as a and acc */
    int64_t L = x->ne[1];
    TRY(pool(v, cur, &a, C, L));
    TRY(vits_conv(v, &a, x, &v->dec_pre, 1, (v->dec_pre.k - 1) / 2, 1));
    if (g) {
        TRY(vits_tensor(v, &gc, C, 1));
        TRY(vits_conv(v, &gc, g, &v->dec_cond, 1, 0, 1));
        TRY(backend_add(be, &a, &a, &gc));
    }
    for (int i = 0; i < c->n_ups; i++) {
        const VConv *up = &v->ups[i];
        const int64_t L2 = L * c->ups_rate[i];
        C = up->cout;
        TRY(be->ops->leaky_relu(be, &a, &a, 0.1f));
        TRY(pool(v, 2, &b, C, L2));
        TRY(pool(v, 1 - cur, &acc, C, L2));
        TRY(pool(v, 3, &res, C, L2));
        TRY(pool(v, 4, &t1, C, L2));
        TRY(pool(v, 5, &t2, C, L2));
        TRY(vits_conv(v, &b, &a, up, c->ups_rate[i], (c->ups_kernel[i] - c->ups_rate[i]) / 2, 1));
        for (int j = 0; j < c->n_res_kernels; j++) {
            const VConv *rc = v->res[i * c->n_res_kernels + j];
            const int k = c->res_kernel[j], nd = c->n_res_dilations;
            const Tensor *xin = &b; /* x += conv(leaky x) per dilation, ping-ponging res / t2 (a conv's output
                                     * never aliases its input); resblock 0 ends in acc */
            for (int d = 0; d < nd; d++) {
                const int dil = c->res_dilation[j][d];
                Tensor *o = j == 0 && d == nd - 1 ? &acc : xin == &res ? &t2 : &res;
                if (c->resblock == 1) {
                    TRY(vits_conv_ex(v, &t1, xin, &rc[d], (k * dil - dil) / 2, dil, 1, 0.1f, NULL));
                    TRY(vits_conv_ex(v, o, &t1, &rc[nd + d], (k - 1) / 2, 1, 1, 0.1f, xin));
                } else {
                    TRY(vits_conv_ex(v, o, xin, &rc[d], (k * dil - dil) / 2, dil, 1, 0.1f, xin));
                }
                xin = o;
            }
            if (j > 0)
                TRY(backend_add(be, &acc, &acc, xin));
        }
        TRY(backend_scale(be, &acc, &acc, 1.0f / (float)c->n_res_kernels));
        a = acc;
        cur = 1 - cur;
        L = L2;
    }
    Tensor o;
    TRY(pool(v, 6, &o, 1, L));
    TRY(vits_conv_ex(v, &o, &a, &v->dec_post, (v->dec_post.k - 1) / 2, 1, 1, 0.01f, NULL));
    TRY(be->ops->tanh(be, &o, &o));
    TRY(be->ops->tensor_get(be, &o, out, 0, (size_t)L * 4));
done:
    backend_tensor_release(be, &gc);
    return r;
}

/* Make z valid for frames [0, need): the flow on the prior's frames [ready − FM, need + FM) (all the
 * rest once something is ready), keeping the frames whose whole receptive field was inside the window. */
static int flow_until(Vits *v, VitsUtt *u, int64_t need)
{
    Backend *be = v->be;
    const int64_t F = u->frames, FM = v->flow_margin, I2 = u->pp.ne[0];
    Tensor P = {0}, Q = {0}, g = {0};
    int r = 0;
    if (need <= u->ready)
        return 0;
    const int64_t a = u->ready - FM > 0 ? u->ready - FM : 0;
    const int64_t b = u->ready > 0 || need + FM >= F ? F : need + FM, n = b - a;
    const int64_t end = b == F ? F : b - FM;
    TRY(vits_tensor(v, &P, I2, n));
    TRY(vits_tensor(v, &Q, I2, n));
    Tensor sp = tensor_view(&u->pp, (size_t)(a * I2), I2, n, 1), sq = tensor_view(&u->pq, (size_t)(a * I2), I2, n, 1);
    TRY(backend_copy(be, &P, &sp));
    TRY(backend_copy(be, &Q, &sq));
    if (v->cfg.n_speakers > 1 && v->cfg.gin) {
        int32_t sid = u->speaker;
        TRY(vits_tensor(v, &g, v->cfg.gin, 1));
        TRY(backend_get_rows(be, &g, &v->vw->emb_g, &sid, 1));
    }
    TRY(vits_flow_reverse(v, &P, &Q, g.data ? &g : NULL));
    Tensor vp = tensor_view(&P, (size_t)((u->ready - a) * I2), I2, end - u->ready, 1);
    Tensor vq = tensor_view(&Q, (size_t)((u->ready - a) * I2), I2, end - u->ready, 1);
    Tensor dp = tensor_view(&u->zp, (size_t)(u->ready * I2), I2, end - u->ready, 1);
    Tensor dq = tensor_view(&u->zq, (size_t)(u->ready * I2), I2, end - u->ready, 1);
    TRY(backend_copy(be, &dp, &vp));
    TRY(backend_copy(be, &dq, &vq));
    u->ready = end;
done:
    backend_tensor_release(be, &P), backend_tensor_release(be, &Q), backend_tensor_release(be, &g);
    return r;
}

int vits_decode(Vits *v, VitsUtt *u, int64_t f0, int64_t f1, float *out, char *err, size_t err_len)
{
    Backend *be = v->be;
    const int64_t I2 = u->zp.ne[0], hop = v->cfg.hop;
    Tensor x = {0}, g = {0};
    float *buf = NULL;
    int r = 0;
    if (f0 < 0 || f1 <= f0 || f1 > u->frames) {
        snprintf(err, err_len, "vits: frame range [%lld, %lld) outside the utterance (%lld frames)", (long long)f0,
                 (long long)f1, (long long)u->frames);
        return -EINVAL;
    }
    const int64_t a = f0 - v->margin > 0 ? f0 - v->margin : 0;
    const int64_t b = f1 + v->margin < u->frames ? f1 + v->margin : u->frames, n = b - a;
    if (!(buf = malloc((size_t)(n * hop) * sizeof(float)))) {
        r = -ENOMEM;
        goto done;
    }
    TRY(flow_until(v, u, b));
    TRY(pool(v, 7, &x, 2 * I2, n));
    for (int half = 0; half < 2; half++) { /* x = [P; Q] for frames [a, b) */
        const Tensor *z = half ? &u->zq : &u->zp;
        Tensor src = tensor_view(z, (size_t)(a * I2), I2, n, 1);
        Tensor dst = tensor_view_strided(&x, (size_t)(half * I2), I2, n, (size_t)(2 * I2));
        TRY(backend_copy(be, &dst, &src));
    }
    if (v->cfg.n_speakers > 1 && v->cfg.gin) {
        int32_t sid = u->speaker;
        TRY(vits_tensor(v, &g, v->cfg.gin, 1));
        TRY(backend_get_rows(be, &g, &v->vw->emb_g, &sid, 1));
    }
    TRY(hifigan(v, &x, g.data ? &g : NULL, buf));
    memcpy(out, buf + (f0 - a) * hop, (size_t)((f1 - f0) * hop) * sizeof(float));
done:
    backend_tensor_release(be, &g);
    free(buf);
    if (r < 0 && err_len && !err[0])
        snprintf(err, err_len, "vits: decoding frames [%lld, %lld) failed (%s)", (long long)f0, (long long)f1,
                 strerror(-r));
    return r;
}
