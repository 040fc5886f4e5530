/* vits.c — VITS (Piper) synthesis, encoder side: weight repacking, text encoder, stochastic duration
 * predictor in reverse, length regulation and prior sampling; the flow and HiFi-GAN are in vits-dec.c.
 *
 * Reads like the paper (Kim et al. 2021) with Piper's inference details (piper1-gpl vits/models.py infer):
 *   h = TextEncoder(ids)                      6 × (rel-pos attention, LN, FFN conv3-ReLU-conv3, LN)
 *   (m, logs) = proj(h)
 *   logw = SDP⁻¹(h, ε·noise_w)                flows 7, 5, 3 (ConvFlow: rational-quadratic spline) + affine
 *   w = ceil(exp(logw)·length_scale)          frames per phoneme id
 *   z_p = m[frame] + ε·exp(logs[frame])·noise_scale
 *   z = flow⁻¹(z_p)                           (vits-dec.c), then HiFi-GAN on windows of z (vits_decode)
 * Layout [C, T] (channels innermost). The two latent halves are kept as separate [I/2, F] tensors: the
 * flow's channel flips are folded into reversed weights at load (vits-dec.c), so no op ever moves data to
 * flip or split channels. The spline runs on the host (2 × T numbers per flow; durations are needed on
 * the host anyway). All masks of Piper's graph are 1 for one unpadded sequence and are omitted.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vits-impl.h"

#define TRY(x) do { if ((r = (x)) < 0) goto done; } while (0)

int vits_tensor(Vits *v, Tensor *t, int64_t c, int64_t l)
{
    return backend_tensor_new(v->be, t, DTYPE_F32, 2, c, l, 1);
}

static int host_reserve(Vits *v, size_t n)
{
    if (n <= v->host_len)
        return 0;
    float *p = realloc(v->host, n * sizeof(float));
    if (!p)
        return -ENOMEM;
    v->host = p;
    v->host_len = n;
    return 0;
}

/* dst from a voice conv: output rows [row0, row0 + rows) (optionally reversed), input channels optionally
 * reversed; into the backend's layouts, output channel innermost: [rows, CI/g, K] (conv) or [CO, K, CI]
 * (transposed). */
int vits_repack(Vits *v, VConv *dst, const VoiceConv *src, int groups, int transposed, int64_t row0, int64_t rows,
                int reverse_in, int reverse_out)
{
    Backend *be = v->be;
    const Tensor *w = &src->w;
    const int64_t K = w->ne[0];
    const int64_t cin = transposed ? w->ne[2] : w->ne[1] * groups, cout = transposed ? w->ne[1] : w->ne[2];
    const int64_t n = tensor_nelements(w);
    int r;

    memset(dst, 0, sizeof(*dst));
    if (rows <= 0)
        rows = cout - row0;
    if (!w->data || w->dtype != DTYPE_F32 || row0 < 0 || row0 + rows > cout)
        return -EINVAL;
    if ((r = host_reserve(v, (size_t)n * 2)) < 0)
        return r;
    float *s = v->host, *d = v->host + n;
    if ((r = be->ops->tensor_get(be, w, s, 0, (size_t)n * 4)) < 0)
        return r;
    const int64_t cpg = cin / groups;
    if (transposed) { /* src memory [CI][CO][K] → dst memory [CI][K][CO] */
        for (int64_t c = 0; c < cin; c++)
            for (int64_t k = 0; k < K; k++)
                for (int64_t o = 0; o < cout; o++)
                    d[(c * K + k) * cout + o] = s[(c * cout + o) * K + k];
        if ((r = backend_tensor_new(be, &dst->w, DTYPE_F32, 3, cout, K, cin)) < 0)
            return r;
    } else { /* src memory [CO][CI/g][K] → dst memory [K][CI/g][rows] */
        for (int64_t o = 0; o < rows; o++) {
            const int64_t os = row0 + (reverse_out ? rows - 1 - o : o);
            for (int64_t k = 0; k < K; k++)
                for (int64_t c = 0; c < cpg; c++) {
                    const int64_t cs = reverse_in ? cpg - 1 - c : c;
                    d[(k * cpg + c) * rows + o] = s[(os * cpg + cs) * K + k];
                }
        }
        if ((r = backend_tensor_new(be, &dst->w, DTYPE_F32, 3, rows, cpg, K)) < 0)
            return r;
    }
    if ((r = be->ops->tensor_set(be, &dst->w, d, 0, (size_t)n / (size_t)cout * (size_t)rows * 4)) < 0)
        return r;
    if (src->b.data) {
        float *bs = d, *bd = d + cout;
        if ((r = be->ops->tensor_get(be, &src->b, bs, 0, (size_t)cout * 4)) < 0)
            return r;
        for (int64_t o = 0; o < rows; o++)
            bd[o] = bs[row0 + (reverse_out ? rows - 1 - o : o)];
        if ((r = backend_tensor_new(be, &dst->b, DTYPE_F32, 1, rows, 1, 1)) < 0 ||
            (r = be->ops->tensor_set(be, &dst->b, bd, 0, (size_t)rows * 4)) < 0)
            return r;
    }
    dst->cin = (int)cin;
    dst->cout = (int)(transposed ? cout : rows);
    dst->k = (int)K;
    dst->groups = groups;
    dst->transposed = transposed;
    return 0;
}

static void conv_free(Vits *v, VConv *c)
{
    backend_tensor_release(v->be, &c->w);
    backend_tensor_release(v->be, &c->b);
}

/* y = conv(x); y must be allocated [cout, Lout]. */
int vits_conv(Vits *v, Tensor *y, const Tensor *x, const VConv *c, int stride, int pad, int dil)
{
    const Tensor *b = c->b.data ? &c->b : NULL;
    if (c->transposed)
        return v->be->ops->conv_transpose1d(v->be, y, x, &c->w, b, stride, pad);
    Conv1dParams p = {stride, pad, dil, c->groups, 0, 0.0f, NULL};
    return v->be->ops->conv1d(v->be, y, x, &c->w, b, &p);
}

int vits_conv_ex(Vits *v, Tensor *y, const Tensor *x, const VConv *c, int pad, int dil, int leaky, float slope,
                 const Tensor *res)
{
    Conv1dParams p = {1, pad, dil, c->groups, leaky, slope, res};
    return v->be->ops->conv1d(v->be, y, x, &c->w, c->b.data ? &c->b : NULL, &p);
}

static int repack_dds(Vits *v, VDds *d, const VoiceDdsConv *s)
{
    int r;
    for (int i = 0; i < VOICE_DDS_LAYERS; i++) {
        const int ch = (int)s->sep[i].w.ne[2];
        if ((r = vits_repack(v, &d->sep[i], &s->sep[i], ch, 0, 0, 0, 0, 0)) < 0 ||
            (r = vits_repack(v, &d->c1x1[i], &s->c1x1[i], 1, 0, 0, 0, 0, 0)) < 0)
            return r;
        d->n1g[i] = &s->norm_1[i].gamma;
        d->n1b[i] = &s->norm_1[i].beta;
        d->n2g[i] = &s->norm_2[i].gamma;
        d->n2b[i] = &s->norm_2[i].beta;
    }
    return 0;
}

static void free_dds(Vits *v, VDds *d)
{
    for (int i = 0; i < VOICE_DDS_LAYERS; i++) {
        conv_free(v, &d->sep[i]);
        conv_free(v, &d->c1x1[i]);
    }
}

VitsParams vits_params_default(const VoiceConfig *cfg)
{
    VitsParams p = {cfg->noise_scale, cfg->length_scale, cfg->noise_w, 0, 0};
    return p;
}

int vits_hop(const Vits *v)
{
    return v->cfg.hop;
}

int vits_margin(const Vits *v)
{
    return v->margin;
}

int vits_new(Backend *be, const VoiceConfig *cfg, const VoiceWeights *w, Vits **ret, char *err, size_t err_len)
{
    Vits *v = calloc(1, sizeof(*v));
    int r = 0;
    if (!v)
        return -ENOMEM;
    v->be = be;
    v->cfg = *cfg;
    v->vw = w;
    if (!be->ops->conv1d || !be->ops->attention_rel) {
        snprintf(err, err_len, "vits: backend %s lacks the conv ops", backend_name(be));
        r = -ENOTSUP;
        goto done;
    }
    const int I = cfg->inter;
    for (int l = 0; l < cfg->n_layers; l++) {
        const VoiceEncLayer *s = &w->enc.layers[l];
        VEncLayer *d = &v->enc[l];
        TRY(vits_repack(v, &d->q, &s->conv_q, 1, 0, 0, 0, 0, 0));
        TRY(vits_repack(v, &d->k, &s->conv_k, 1, 0, 0, 0, 0, 0));
        TRY(vits_repack(v, &d->v, &s->conv_v, 1, 0, 0, 0, 0, 0));
        TRY(vits_repack(v, &d->o, &s->conv_o, 1, 0, 0, 0, 0, 0));
        TRY(vits_repack(v, &d->ffn1, &s->ffn_1, 1, 0, 0, 0, 0, 0));
        TRY(vits_repack(v, &d->ffn2, &s->ffn_2, 1, 0, 0, 0, 0, 0));
        d->ek = tensor_view(&s->emb_rel_k, 0, s->emb_rel_k.ne[0], s->emb_rel_k.ne[1], 1);
        d->ev = tensor_view(&s->emb_rel_v, 0, s->emb_rel_v.ne[0], s->emb_rel_v.ne[1], 1);
        d->n1g = &s->norm_1.gamma;
        d->n1b = &s->norm_1.beta;
        d->n2g = &s->norm_2.gamma;
        d->n2b = &s->norm_2.beta;
    }
    for (int h = 0; h < 2; h++) {
        TRY(vits_repack(v, &v->proj_m[h], &w->enc.proj, 1, 0, (int64_t)h * I / 2, I / 2, 0, 0));
        TRY(vits_repack(v, &v->proj_l[h], &w->enc.proj, 1, 0, I + (int64_t)h * I / 2, I / 2, 0, 0));
    }
    TRY(vits_repack(v, &v->dp_pre, &w->dp.pre, 1, 0, 0, 0, 0, 0));
    TRY(vits_repack(v, &v->dp_proj, &w->dp.proj, 1, 0, 0, 0, 0, 0));
    if (cfg->gin)
        TRY(vits_repack(v, &v->dp_cond, &w->dp.cond, 1, 0, 0, 0, 0, 0));
    TRY(repack_dds(v, &v->dp_dds, &w->dp.convs));
    for (int k = 1; k < VOICE_DP_FLOWS; k++) {
        if (!w->dp.has_flow[k]) {
            snprintf(err, err_len, "vits: duration predictor flow dp.flows.%d missing", 2 * k + 1);
            r = -EINVAL;
            goto done;
        }
        TRY(vits_repack(v, &v->dp_flow[k].pre, &w->dp.flows[k].pre, 1, 0, 0, 0, 0, 0));
        TRY(vits_repack(v, &v->dp_flow[k].proj, &w->dp.flows[k].proj, 1, 0, 0, 0, 0, 0));
        TRY(repack_dds(v, &v->dp_flow[k].dds, &w->dp.flows[k].convs));
    }
    TRY(vits_dec_prepare(v, err, err_len));
done:
    if (r < 0) {
        if (!err[0])
            snprintf(err, err_len, "vits: preparing the weights failed (%s)", strerror(-r));
        vits_free(v);
        return r;
    }
    *ret = v;
    return 0;
}

void vits_free(Vits *v)
{
    if (!v)
        return;
    for (int l = 0; l < VOICE_MAX_LAYERS; l++) {
        VEncLayer *d = &v->enc[l];
        conv_free(v, &d->q), conv_free(v, &d->k), conv_free(v, &d->v), conv_free(v, &d->o);
        conv_free(v, &d->ffn1), conv_free(v, &d->ffn2);
    }
    for (int h = 0; h < 2; h++)
        conv_free(v, &v->proj_m[h]), conv_free(v, &v->proj_l[h]);
    conv_free(v, &v->dp_pre), conv_free(v, &v->dp_proj), conv_free(v, &v->dp_cond);
    free_dds(v, &v->dp_dds);
    for (int k = 0; k < VOICE_DP_FLOWS; k++) {
        conv_free(v, &v->dp_flow[k].pre), conv_free(v, &v->dp_flow[k].proj);
        free_dds(v, &v->dp_flow[k].dds);
    }
    for (int f = 0; f < VOICE_FLOWS; f++) {
        VCoupling *c = &v->flow[f];
        conv_free(v, &c->pre), conv_free(v, &c->post), conv_free(v, &c->cond);
        for (int i = 0; i < VOICE_WN_LAYERS; i++)
            conv_free(v, &c->in[i]), conv_free(v, &c->res[i]), conv_free(v, &c->skip[i]);
    }
    conv_free(v, &v->dec_pre), conv_free(v, &v->dec_cond), conv_free(v, &v->dec_post);
    for (int i = 0; i < VOICE_MAX_UPS; i++)
        conv_free(v, &v->ups[i]);
    for (int j = 0; j < VOICE_MAX_UPS * VOICE_MAX_RES_KERNELS; j++)
        for (int c = 0; c < 2 * VOICE_MAX_RES_DILATIONS; c++)
            conv_free(v, &v->res[j][c]);
    for (int i = 0; i < VITS_POOL; i++)
        backend_tensor_release(v->be, &v->pool[i]);
    free(v->host);
    free(v);
}

/* ---- noise: xorshift64* + Box–Muller, seeded per request --------------------------------------------- */

static double rng_u(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return ((double)((*s * 2685821657736338717ull) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static void rng_normal(uint64_t *s, float *out, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        double a = rng_u(s), b = rng_u(s);
        out[i] = (float)(sqrt(-2.0 * log(a)) * cos(6.283185307179586 * b));
    }
}

/* ---- text encoder and duration predictor ----------------------------------------------------------------- */

/* x += DDSConv(x [+ g]) in place (modules.DDSConv; g may be NULL). t1, t2: scratch like x. */
static int dds(Vits *v, Tensor *x, const VDds *d, const Tensor *g, Tensor *t1, Tensor *t2)
{
    Backend *be = v->be;
    int r = 0;
    if (g)
        TRY(backend_add(be, x, x, g));
    for (int i = 0; i < VOICE_DDS_LAYERS; i++) {
        int dil = 1;
        for (int j = 0; j < i; j++)
            dil *= d->sep[i].k;
        TRY(vits_conv(v, t1, x, &d->sep[i], 1, (d->sep[i].k * dil - dil) / 2, dil));
        TRY(backend_layernorm(be, t1, t1, d->n1g[i], d->n1b[i], 1e-5f));
        TRY(backend_gelu(be, t1, t1));
        TRY(vits_conv(v, t2, t1, &d->c1x1[i], 1, 0, 1));
        TRY(backend_layernorm(be, t2, t2, d->n2g[i], d->n2b[i], 1e-5f));
        TRY(backend_gelu(be, t2, t2));
        TRY(backend_add(be, x, x, t2));
    }
done:
    return r;
}

/* Inverse rational-quadratic spline with linear tails (Durkan et al. 2019; Piper's transforms.py):
 * x in [−B, B] maps through nb bins from unnormalised widths/heights uw, uh [nb] and derivatives ud [nb−1];
 * outside it is the identity. Float64 on the host. */
static float rq_inverse(float xf, const float *uw, const float *uh, const float *ud, int nb, double B, double scale)
{
    enum { MAXB = 64 };
    const double mbw = 1e-3, mbh = 1e-3, md = 1e-3, x = xf;
    double cw[MAXB + 1], ch[MAXB + 1], der[MAXB + 1];
    if (x < -B || x > B)
        return xf;
    for (int pass = 0; pass < 2; pass++) {
        const float *u = pass ? uh : uw;
        double *c = pass ? ch : cw, mx = -INFINITY, sum = 0, e[MAXB];
        const double mb = pass ? mbh : mbw;
        for (int i = 0; i < nb; i++)
            mx = fmax(mx, u[i] * scale);
        for (int i = 0; i < nb; i++)
            sum += (e[i] = exp(u[i] * scale - mx));
        c[0] = 0;
        for (int i = 0; i < nb; i++)
            c[i + 1] = c[i] + mb + (1 - mb * nb) * (e[i] / sum);
        for (int i = 0; i <= nb; i++)
            c[i] = 2 * B * c[i] - B;
        c[0] = -B;
        c[nb] = B;
    }
    const double cst = log(exp(1 - md) - 1);
    for (int i = 0; i <= nb; i++) {
        const double u = i == 0 || i == nb ? cst : ud[i - 1];
        der[i] = md + (u > 0 ? u + log1p(exp(-u)) : log1p(exp(u)));
    }
    int bin = -1;
    for (int i = 0; i <= nb; i++)
        bin += x >= (i == nb ? ch[i] + 1e-6 : ch[i]);
    bin = bin < 0 ? 0 : bin > nb - 1 ? nb - 1 : bin;
    const double w = cw[bin + 1] - cw[bin], h = ch[bin + 1] - ch[bin], delta = h / w;
    const double d0 = der[bin], d1 = der[bin + 1], y = x - ch[bin];
    const double a = y * (d0 + d1 - 2 * delta) + h * (delta - d0);
    const double b = h * d0 - y * (d0 + d1 - 2 * delta);
    const double c = -delta * y;
    const double disc = fmax(b * b - 4 * a * c, 0.0);
    const double root = (2 * c) / (-b - sqrt(disc));
    return (float)(root * w + cw[bin]);
}

/* logw [T] (host) from the encoder output h: [H, T]; g: speaker row [G] or NULL. */
static int duration_predictor(Vits *v, const Tensor *h, const Tensor *g, float noise_w, uint64_t *rng, float *logw,
                              int64_t T)
{
    Backend *be = v->be;
    const int D = v->dp_pre.cout, nb = v->cfg.dp_bins, np = v->dp_flow[1].proj.cout;
    Tensor x = {0}, t1 = {0}, t2 = {0}, hc = {0}, x0 = {0}, pj = {0}, gc = {0};
    float *z = malloc((size_t)T * 2 * sizeof(float)), *hp = malloc((size_t)T * (size_t)np * sizeof(float));
    int r = 0;
    if (!z || !hp) {
        r = -ENOMEM;
        goto done;
    }
    TRY(vits_tensor(v, &x, D, T));
    TRY(vits_tensor(v, &t1, D, T));
    TRY(vits_tensor(v, &t2, D, T));
    TRY(vits_tensor(v, &hc, D, T));
    TRY(vits_tensor(v, &x0, 1, T));
    TRY(vits_tensor(v, &pj, np, T));
    TRY(vits_conv(v, &x, h, &v->dp_pre, 1, 0, 1));
    if (g) {
        TRY(vits_tensor(v, &gc, D, 1));
        TRY(vits_conv(v, &gc, g, &v->dp_cond, 1, 0, 1));
        TRY(backend_add(be, &x, &x, &gc));
    }
    TRY(dds(v, &x, &v->dp_dds, NULL, &t1, &t2));
    TRY(vits_conv(v, &hc, &x, &v->dp_proj, 1, 0, 1)); /* conditioning of every ConvFlow */
    /* z: host [2][T] */
    rng_normal(rng, z, 2 * T);
    for (int64_t i = 0; i < 2 * T; i++)
        z[i] *= noise_w;
    for (int k = VOICE_DP_FLOWS - 1; k >= 1; k--) {
        for (int64_t t = 0; t < T; t++) { /* Flip */
            float s = z[t];
            z[t] = z[T + t];
            z[T + t] = s;
        }
        const VConvFlow *f = &v->dp_flow[k];
        TRY(be->ops->tensor_set(be, &x0, z, 0, (size_t)T * 4));
        TRY(vits_conv(v, &x, &x0, &f->pre, 1, 0, 1));
        TRY(dds(v, &x, &f->dds, &hc, &t1, &t2));
        TRY(vits_conv(v, &pj, &x, &f->proj, 1, 0, 1));
        TRY(be->ops->tensor_get(be, &pj, hp, 0, (size_t)T * (size_t)np * 4));
        const double sc = 1.0 / sqrt((double)D);
        for (int64_t t = 0; t < T; t++) {
            const float *u = hp + t * np;
            z[T + t] = rq_inverse(z[T + t], u, u + nb, u + 2 * nb, nb, v->cfg.dp_tail_bound, sc);
        }
    }
    for (int64_t t = 0; t < T; t++) { /* Flip, then the elementwise affine in reverse */
        float s = z[t];
        z[t] = z[T + t];
        z[T + t] = s;
    }
    for (int64_t t = 0; t < T; t++)
        logw[t] = (z[t] - v->vw->dp.ea_m_host[0]) * v->vw->dp.ea_exp_neg_logs_host[0];
done:
    backend_tensor_release(be, &x), backend_tensor_release(be, &t1), backend_tensor_release(be, &t2);
    backend_tensor_release(be, &hc), backend_tensor_release(be, &x0), backend_tensor_release(be, &pj);
    backend_tensor_release(be, &gc);
    free(z);
    free(hp);
    return r;
}

/* h: [H, T] = TextEncoder(ids); ids are host int32. */
static int text_encoder(Vits *v, Tensor *h, const int32_t *ids, int64_t T)
{
    Backend *be = v->be;
    const VoiceConfig *c = &v->cfg;
    const int H = c->hidden, HD = H / c->n_heads;
    Tensor q = {0}, k = {0}, vv = {0}, a = {0}, y = {0}, f = {0};
    int r = 0;
    TRY(vits_tensor(v, &q, H, T));
    TRY(vits_tensor(v, &k, H, T));
    TRY(vits_tensor(v, &vv, H, T));
    TRY(vits_tensor(v, &a, H, T));
    TRY(vits_tensor(v, &y, H, T));
    TRY(vits_tensor(v, &f, c->filter, T));
    TRY(backend_get_rows(be, h, &v->vw->enc.emb, ids, T));
    TRY(backend_scale(be, h, h, sqrtf((float)H)));
    for (int l = 0; l < c->n_layers; l++) {
        const VEncLayer *L = &v->enc[l];
        TRY(vits_conv(v, &q, h, &L->q, 1, 0, 1));
        TRY(vits_conv(v, &k, h, &L->k, 1, 0, 1));
        TRY(vits_conv(v, &vv, h, &L->v, 1, 0, 1));
        Tensor q3 = tensor_view(&q, 0, HD, c->n_heads, T), k3 = tensor_view(&k, 0, HD, c->n_heads, T);
        Tensor v3 = tensor_view(&vv, 0, HD, c->n_heads, T), a3 = tensor_view(&a, 0, HD, c->n_heads, T);
        TRY(be->ops->attention_rel(be, &a3, &q3, &k3, &v3, &L->ek, &L->ev, c->window, 1.0f / sqrtf((float)HD)));
        TRY(vits_conv_ex(v, h, &a, &L->o, 0, 1, 0, 0.0f, h)); /* h += conv_o(attention) */
        TRY(backend_layernorm(be, h, h, L->n1g, L->n1b, 1e-5f));
        TRY(vits_conv(v, &f, h, &L->ffn1, 1, (L->ffn1.k - 1) / 2, 1));
        TRY(be->ops->leaky_relu(be, &f, &f, 0.0f));
        TRY(vits_conv_ex(v, h, &f, &L->ffn2, (L->ffn2.k - 1) / 2, 1, 0, 0.0f, h)); /* h += FFN */
        TRY(backend_layernorm(be, h, h, L->n2g, L->n2b, 1e-5f));
    }
done:
    backend_tensor_release(be, &q), backend_tensor_release(be, &k), backend_tensor_release(be, &vv);
    backend_tensor_release(be, &a), backend_tensor_release(be, &y), backend_tensor_release(be, &f);
    return r;
}

void vits_utt_free(Vits *v, VitsUtt *u)
{
    if (!u)
        return;
    backend_tensor_release(v->be, &u->zp);
    backend_tensor_release(v->be, &u->zq);
    backend_tensor_release(v->be, &u->pp);
    backend_tensor_release(v->be, &u->pq);
    free(u->dur);
    free(u);
}

int vits_encode(Vits *v, const int64_t *ids, int64_t n, const VitsParams *p, VitsUtt **ret, char *err,
                size_t err_len)
{
    Backend *be = v->be;
    const VoiceConfig *c = &v->cfg;
    const int H = c->hidden, I2 = c->inter / 2;
    Tensor h = {0}, g = {0}, m = {0}, ls = {0}, e = {0};
    int32_t *ids32 = NULL, *map = NULL;
    float *logw = NULL, *noise = NULL;
    VitsUtt *u = NULL;
    uint64_t rng = p->seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
    int r = 0;

    if (n < 1 || n > 100000 || !ids) {
        snprintf(err, err_len, "vits: %lld phoneme ids (want 1..100000)", (long long)n);
        return -EINVAL;
    }
    if ((c->n_speakers > 1 && (p->speaker < 0 || p->speaker >= c->n_speakers)) || !(p->length_scale > 0) ||
        !(p->length_scale < 100) || !(p->noise_scale >= 0) || !(p->noise_w >= 0)) {
        snprintf(err, err_len, "vits: bad parameters (speaker %d of %d, length_scale %g, noise %g / %g)", p->speaker,
                 c->n_speakers, p->length_scale, p->noise_scale, p->noise_w);
        return -EINVAL;
    }
    ids32 = malloc((size_t)n * sizeof(*ids32));
    logw = malloc((size_t)n * sizeof(*logw));
    u = calloc(1, sizeof(*u));
    if (!ids32 || !logw || !u || !(u->dur = malloc((size_t)n * sizeof(*u->dur)))) {
        r = -ENOMEM;
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= c->n_symbols) {
            snprintf(err, err_len, "vits: phoneme id %lld at %lld out of range (voice has %d)", (long long)ids[i],
                     (long long)i, c->n_symbols);
            r = -EINVAL;
            goto done;
        }
        ids32[i] = (int32_t)ids[i];
    }
    u->n_ids = n;
    u->speaker = c->n_speakers > 1 ? p->speaker : 0;
    TRY(vits_tensor(v, &h, H, n));
    TRY(text_encoder(v, &h, ids32, n));
    if (c->n_speakers > 1 && c->gin) {
        int32_t sid = p->speaker;
        TRY(vits_tensor(v, &g, c->gin, 1));
        TRY(backend_get_rows(be, &g, &v->vw->emb_g, &sid, 1));
    }
    TRY(duration_predictor(v, &h, g.data ? &g : NULL, p->noise_w, &rng, logw, n));
    int64_t F = 0;
    for (int64_t i = 0; i < n; i++) {
        const float w = ceilf(expf(logw[i]) * p->length_scale);
        u->dur[i] = w > 0 ? (w < 1000 ? (int32_t)w : 1000) : 0;
        F += u->dur[i];
    }
    const int empty = F == 0;
    u->frames = F = empty ? 1 : F;
    u->samples = F * c->hop;
    if (F > 200000) {
        snprintf(err, err_len, "vits: %lld frames is too long for one sentence", (long long)F);
        r = -E2BIG;
        goto done;
    }
    if (!(map = malloc((size_t)F * sizeof(*map))) || !(noise = malloc((size_t)F * (size_t)I2 * sizeof(float)))) {
        r = -ENOMEM;
        goto done;
    }
    for (int64_t i = 0, f = 0; i < n; i++)
        for (int32_t d = 0; d < u->dur[i]; d++)
            map[f++] = (int32_t)i;
    if (empty)
        map[0] = 0;
    TRY(vits_tensor(v, &m, I2, n));
    TRY(vits_tensor(v, &ls, I2, n));
    TRY(vits_tensor(v, &e, I2, F));
    for (int half = 0; half < 2; half++) { /* z_p = m + ε·exp(logs)·noise_scale, per latent half */
        Tensor *z = half ? &u->pq : &u->pp;
        TRY(vits_tensor(v, z, I2, F));
        TRY(vits_tensor(v, half ? &u->zq : &u->zp, I2, F));
        TRY(vits_conv(v, &m, &h, &v->proj_m[half], 1, 0, 1));
        TRY(backend_get_rows(be, z, &m, map, F));
        if (empty)
            TRY(backend_scale(be, z, z, 0.0f));
        if (p->noise_scale > 0 && !empty) {
            TRY(vits_conv(v, &ls, &h, &v->proj_l[half], 1, 0, 1));
            TRY(backend_get_rows(be, &e, &ls, map, F));
            TRY(be->ops->exp(be, &e, &e));
            rng_normal(&rng, noise, F * I2);
            for (int64_t i = 0; i < F * I2; i++)
                noise[i] *= p->noise_scale;
            Tensor eps = {0};
            TRY(vits_tensor(v, &eps, I2, F));
            r = be->ops->tensor_set(be, &eps, noise, 0, (size_t)(F * I2) * 4);
            if (r >= 0)
                r = backend_mul(be, &e, &e, &eps);
            backend_tensor_release(be, &eps);
            TRY(r);
            TRY(backend_add(be, z, z, &e));
        }
    }
    TRY(be->ops->synchronize(be));
done:
    backend_tensor_release(be, &h), backend_tensor_release(be, &g), backend_tensor_release(be, &m);
    backend_tensor_release(be, &ls), backend_tensor_release(be, &e);
    free(ids32);
    free(logw);
    free(map);
    free(noise);
    if (r < 0) {
        if (err_len && !err[0])
            snprintf(err, err_len, "vits: synthesis failed on backend %s (%s)", backend_name(be), strerror(-r));
        vits_utt_free(v, u);
        return r;
    }
    *ret = u;
    return 0;
}

void vits_span(const Vits *v, const VitsUtt *u, int64_t i, int64_t *s0, int64_t *s1)
{
    int64_t f = 0;
    for (int64_t j = 0; j < i && j < u->n_ids; j++)
        f += u->dur[j];
    *s0 = f * v->cfg.hop;
    *s1 = (f + (i < u->n_ids ? u->dur[i] : 0)) * v->cfg.hop;
}
