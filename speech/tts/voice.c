/* voice.c — bind a Piper voice's ONNX initializers to the VITS weights of voice.h (the .json is voice-json.c).
 *
 * Naming. PyTorch's exporter keeps module paths for most parameters ("dec.ups.0.weight") but not for
 * weights it computed while tracing: weight-normed convs in the flow's WaveNets (and their cond_layer)
 * become anonymous "onnx::Conv_8168", and the phoneme embedding of a single-speaker voice is named "sid"
 * (the exporter hands the unused 4th input name to the first parameter). So every float initializer that
 * is not a module path is resolved through the graph node that consumes it:
 *   Conv / ConvTranspose input 1 or 2   → the bias's module path if it has one, else the node's scope
 *                                          ("/flow/flows.0/enc/in_layers.0/Conv" → flow.flows.0.enc.in_layers.0),
 *                                          + ".weight" / ".bias"
 *   Gather data whose indices are the graph input "input" → enc_p.emb.weight, "sid" → emb_g.weight
 *   Mul by the output of Sub(x, dp.flows.0.m)              → dp.flows.0.exp_neg_logs (the folded exp(-logs))
 * Anything else that is not a module path is a graph constant and is not a weight. Two initializers that
 * resolve to one name are an error, and so is any weight the architecture has no place for (a voice whose
 * .json quality does not match its graph), except the training-only dp.flows.1.*, dp.post_*, enc_q.*.
 *
 * Checks beyond shapes: graph inputs (input/input_lengths INT64, scales FLOAT, sid INT64 exactly when
 * num_speakers > 1) and the Conv attributes that carry architecture the weights do not show (strides and
 * pads of the upsampling ConvTranspose nodes, dilations and groups of the dilated convs).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "onnx.h"
#include "voice-impl.h"

typedef struct {
    char *name;             /* module path, owned */
    const OnnxTensor *t;    /* the initializer */
    int bound;
} Entry;

typedef struct {
    Voice *v;
    OnnxModel *m;
    Entry *e;
    int n;
    char *err;
    size_t err_len;
} B;

#define VFAIL(b, code, ...) vfail(b, code, __VA_ARGS__)

static int vfail(B *b, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int vfail(B *b, int code, const char *fmt, ...)
{
    char msg[480];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return err_set(b->err, b->err_len, code, "voice %s.onnx: %s", b->v->name, msg);
}

/* ---- name resolution ---------------------------------------------------------------------------------- */

/* identifier(.segment)+ with segments of [A-Za-z0-9_] */
static int is_module_path(const char *s)
{
    int dots = 0, seg = 0;

    if (!s[0] || !(s[0] == '_' || (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
        return 0;
    for (; *s; s++) {
        if (*s == '.') {
            if (!seg)
                return 0;
            dots++;
            seg = 0;
        } else if (*s == '_' || (*s >= '0' && *s <= '9') || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')) {
            seg++;
        } else {
            return 0;
        }
    }
    return dots > 0 && seg > 0;
}

/* "/a/b.0/c/Conv" → "a.b.0.c" */
static int scope_path(const char *node_name, char *out, size_t len)
{
    const char *last = strrchr(node_name, '/');
    size_t o = 0;

    if (node_name[0] != '/' || !last || last == node_name)
        return -1;
    for (const char *p = node_name + 1; p < last && o + 1 < len; p++)
        out[o++] = *p == '/' ? '.' : *p;
    out[o] = 0;
    return is_module_path(out) || (o && strchr(out, '.') == NULL) ? 0 : -1;
}

static int is_float_dt(int dt)
{
    return dt == ONNX_DT_FLOAT || dt == ONNX_DT_FLOAT16 || dt == ONNX_DT_BFLOAT16 || dt == ONNX_DT_DOUBLE;
}

/* The module path of initializer t, or "" when it is a graph constant. */
static void resolve(B *b, const OnnxTensor *t, char *out, size_t len)
{
    const OnnxNode *cons[8];
    int nc = onnx_consumers(b->m, t->name, cons, 8);

    out[0] = 0;
    if (is_module_path(t->name)) {
        snprintf(out, len, "%s", t->name);
        return;
    }
    for (int i = 0; i < nc && i < 8; i++) {
        const OnnxNode *n = cons[i];
        int is_conv = !strcmp(n->op_type, "Conv") || !strcmp(n->op_type, "ConvTranspose");
        if (is_conv && n->n_inputs >= 2) {
            int slot = n->n_inputs > 1 && !strcmp(n->inputs[1], t->name) ? 1
                     : n->n_inputs > 2 && !strcmp(n->inputs[2], t->name) ? 2 : 0;
            if (!slot)
                continue;
            char prefix[256] = "";
            const char *other = slot == 1 ? (n->n_inputs > 2 ? n->inputs[2] : "") : n->inputs[1];
            size_t ol = strlen(other);
            const char *suffix = slot == 1 ? ".bias" : ".weight";
            if (is_module_path(other) && ol > strlen(suffix) && !strcmp(other + ol - strlen(suffix), suffix) &&
                ol - strlen(suffix) < sizeof(prefix))
                snprintf(prefix, sizeof(prefix), "%.*s", (int)(ol - strlen(suffix)), other);
            else if (scope_path(n->name, prefix, sizeof(prefix)) < 0)
                continue;
            snprintf(out, len, "%s%s", prefix, slot == 1 ? ".weight" : ".bias");
            return;
        }
        if (!strcmp(n->op_type, "Gather") && n->n_inputs == 2 && !strcmp(n->inputs[0], t->name)) {
            if (!strcmp(n->inputs[1], "input"))
                snprintf(out, len, "enc_p.emb.weight");
            else if (!strcmp(n->inputs[1], "sid"))
                snprintf(out, len, "emb_g.weight");
            if (out[0])
                return;
        }
        if (!strcmp(n->op_type, "Mul") && n->n_inputs == 2) {
            const char *x = !strcmp(n->inputs[0], t->name) ? n->inputs[1] : n->inputs[0];
            const OnnxNode *sub = onnx_producer_of(b->m, x);
            if (sub && !strcmp(sub->op_type, "Sub") && sub->n_inputs == 2 && !strcmp(sub->inputs[1], "dp.flows.0.m")) {
                snprintf(out, len, "dp.flows.0.exp_neg_logs");
                return;
            }
        }
    }
}

static Entry *entry(B *b, const char *name)
{
    for (int i = 0; i < b->n; i++)
        if (!strcmp(b->e[i].name, name))
            return &b->e[i];
    return NULL;
}

/* Resolve every float initializer, copy it as F32 into one aligned arena and add it to the store. */
static int collect(B *b)
{
    int64_t n_init = onnx_n_initializers(b->m);
    size_t floats = 0;
    char name[300];

    if (!(b->e = calloc((size_t)n_init + 1, sizeof(*b->e))))
        return -ENOMEM;
    for (int64_t i = 0; i < n_init; i++) {
        const OnnxTensor *t = onnx_initializer(b->m, i);
        if (!is_float_dt(t->data_type))
            continue;
        resolve(b, t, name, sizeof(name));
        if (!name[0])
            continue;
        Entry *dup = entry(b, name);
        if (dup)
            return VFAIL(b, -EBADMSG, "initializers '%s' and '%s' both resolve to tensor %s", dup->t->name, t->name,
                         name);
        if (t->n_dims > TENSOR_MAX_DIMS)
            return VFAIL(b, -EBADMSG, "tensor %s ('%s') has %d dims, a weight has at most %d", name, t->name,
                         t->n_dims, TENSOR_MAX_DIMS);
        if (t->n_elements == 0)
            return VFAIL(b, -EBADMSG, "tensor %s ('%s') is empty", name, t->name);
        if (!(b->e[b->n].name = strdup(name)))
            return -ENOMEM;
        b->e[b->n++].t = t;
        floats += ((size_t)t->n_elements + 15) & ~(size_t)15;
    }
    float *arena = NULL;
    if (floats && (posix_memalign((void **)&arena, 64, floats * sizeof(float)) || !arena))
        return -ENOMEM;
    int r = arena ? weights_keep(b->v->ws, arena) : 0;
    if (r < 0)
        return r;
    size_t off = 0;
    for (int i = 0; i < b->n; i++) {
        const OnnxTensor *t = b->e[i].t;
        int64_t ne[TENSOR_MAX_DIMS] = {1, 1, 1, 1};
        int nd = t->n_dims ? t->n_dims : 1;
        float *dst = arena + off;
        if (t->data_type == ONNX_DT_FLOAT) /* little-endian host (onnx.c checks): the bytes are the floats */
            memcpy(dst, t->data, t->nbytes);
        else
            for (int64_t k = 0; k < t->n_elements; k++)
                dst[k] = onnx_tensor_f32(t, k);
        for (int d = 0; d < t->n_dims; d++)
            ne[d] = t->dims[t->n_dims - 1 - d];
        if ((r = weights_add_tensor(b->v->ws, b->e[i].name, DTYPE_F32, nd, ne, dst)) < 0)
            return VFAIL(b, r, "tensor %s: %s", b->e[i].name, weights_error(b->v->ws));
        off += ((size_t)t->n_elements + 15) & ~(size_t)15;
    }
    return 0;
}

/* ---- binding helpers --------------------------------------------------------------------------------- */

static int bind(B *b, const char *name, int n_dims, const int64_t *ne, int optional, Tensor *ret)
{
    int r = weights_bind(b->v->ws, name, n_dims, ne, optional ? WEIGHTS_OPTIONAL : 0, ret);
    if (r == -ENOENT && optional)
        return r;
    if (r < 0)
        return VFAIL(b, r, "%s", weights_error(b->v->ws));
    Entry *e = entry(b, name);
    if (e)
        e->bound = 1;
    int64_t n = 1;
    for (int i = 0; i < n_dims; i++)
        n *= ne[i];
    b->v->n_params += (size_t)n;
    return 0;
}

static int bind1(B *b, Tensor *ret, int64_t ne0, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int bind1(B *b, Tensor *ret, int64_t ne0, const char *fmt, ...)
{
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof(name), fmt, ap);
    va_end(ap);
    return bind(b, name, 1, &ne0, 0, ret);
}

static int bind_norm(B *b, VoiceNorm *n, int64_t c, const char *prefix)
{
    int r = bind1(b, &n->gamma, c, "%s.gamma", prefix);
    return r < 0 ? r : bind1(b, &n->beta, c, "%s.beta", prefix);
}

/* One attribute of the node consuming a bound weight: every element of INTS attribute `attr` must be want
 * (absent: ONNX's default def). */
static int check_ints(B *b, const OnnxNode *n, const char *tensor, const char *attr, int64_t want, int64_t def)
{
    const OnnxAttr *a = onnx_node_attr(n, attr);

    if (!a) {
        if (def == want)
            return 0;
        return VFAIL(b, -EINVAL, "tensor %s: node '%s' has no %s, expected %lld", tensor, n->name, attr,
                     (long long)want);
    }
    if (a->type != ONNX_ATTR_INTS && a->type != ONNX_ATTR_INT)
        return VFAIL(b, -EBADMSG, "tensor %s: node '%s' attribute %s is not an integer list", tensor, n->name, attr);
    int64_t cnt = a->type == ONNX_ATTR_INT ? 1 : a->n;
    for (int64_t i = 0; i < cnt; i++) {
        int64_t x = a->type == ONNX_ATTR_INT ? a->i : a->ints[i];
        if (x != want)
            return VFAIL(b, -EINVAL, "tensor %s: node '%s' %s[%lld] = %lld, the architecture needs %lld", tensor,
                         n->name, attr, (long long)i, (long long)x, (long long)want);
    }
    return 0;
}

/* Conv weight [kw, cin, cout] and bias [cout], or ConvTranspose (transposed) weight [kw, cout, cin] given as
 * (kw, cout, cin) with bias [cout] = ne[1]; bias < 0: optional. The node's stride,
 * dilation, group and symmetric pad checked where given (< 0: not checked). */
typedef struct { int stride, dilation, groups, pad; } ConvAttrs;

static int bind_conv_opt(B *b, VoiceConv *c, int64_t kw, int64_t cin, int64_t cout, int bias, int optional,
                         int transposed, ConvAttrs at, const char *prefix)
{
    char wname[256], bname[256];
    int64_t ne[3] = {kw, cin, cout};
    int r;

    snprintf(wname, sizeof(wname), "%s.weight", prefix);
    snprintf(bname, sizeof(bname), "%s.bias", prefix);
    if ((r = bind(b, wname, 3, ne, optional, &c->w)) < 0)
        return r;
    int64_t nb = transposed ? cin : cout; /* ConvTranspose weight [KW, CO, CI] */
    if (bias && (r = bind(b, bname, 1, &nb, bias < 0, &c->b)) < 0 && r != -ENOENT)
        return r;
    Entry *e = entry(b, wname);
    const OnnxNode *n = NULL, *cons[4];
    int nc = e ? onnx_consumers(b->m, e->t->name, cons, 4) : 0;
    for (int i = 0; i < nc && i < 4; i++)
        if (!strcmp(cons[i]->op_type, transposed ? "ConvTranspose" : "Conv"))
            n = cons[i];
    if (!n)
        return VFAIL(b, -EBADMSG, "tensor %s: no %s node consumes it", wname, transposed ? "ConvTranspose" : "Conv");
    if ((r = check_ints(b, n, wname, "kernel_shape", kw, kw)) < 0 ||
        (at.stride >= 0 && (r = check_ints(b, n, wname, "strides", at.stride, 1)) < 0) ||
        (at.dilation >= 0 && (r = check_ints(b, n, wname, "dilations", at.dilation, 1)) < 0) ||
        (at.pad >= 0 && (r = check_ints(b, n, wname, "pads", at.pad, 0)) < 0))
        return r;
    const OnnxAttr *g = onnx_node_attr(n, "group");
    int64_t groups = g ? g->i : 1;
    if (at.groups >= 0 && groups != at.groups)
        return VFAIL(b, -EINVAL, "tensor %s: node '%s' group = %lld, the architecture needs %d", wname, n->name,
                     (long long)groups, at.groups);
    return 0;
}

static int bind_conv(B *b, VoiceConv *c, int64_t kw, int64_t cin, int64_t cout, ConvAttrs at, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
static int bind_conv(B *b, VoiceConv *c, int64_t kw, int64_t cin, int64_t cout, ConvAttrs at, const char *fmt, ...)
{
    char prefix[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    return bind_conv_opt(b, c, kw, cin, cout, 1, 0, 0, at, prefix);
}

#define PLAIN ((ConvAttrs){1, 1, 1, 0})   /* 1x1 conv: stride 1, no dilation, no groups, no padding */
#define SAME(k, d) ((ConvAttrs){1, (d), 1, ((k) * (d) - (d)) / 2})

/* ---- the blocks ------------------------------------------------------------------------------------------ */

static int bind_dds(B *b, VoiceDdsConv *d, int ch, int k, const char *prefix)
{
    char p[200];
    int r, dil = 1;

    for (int i = 0; i < VOICE_DDS_LAYERS; i++, dil *= k) {
        if ((r = bind_conv(b, &d->sep[i], k, 1, ch, (ConvAttrs){1, dil, ch, (k * dil - dil) / 2},
                           "%s.convs_sep.%d", prefix, i)) < 0 ||
            (r = bind_conv(b, &d->c1x1[i], 1, ch, ch, PLAIN, "%s.convs_1x1.%d", prefix, i)) < 0)
            return r;
        snprintf(p, sizeof(p), "%s.norms_1.%d", prefix, i);
        if ((r = bind_norm(b, &d->norm_1[i], ch, p)) < 0)
            return r;
        snprintf(p, sizeof(p), "%s.norms_2.%d", prefix, i);
        if ((r = bind_norm(b, &d->norm_2[i], ch, p)) < 0)
            return r;
    }
    return 0;
}

static int bind_encoder(B *b)
{
    const VoiceConfig *c = &b->v->cfg;
    VoiceTextEncoder *e = &b->v->w.enc;
    int64_t h = c->hidden, hd = c->hidden / c->n_heads, rel[3] = {hd, 2 * c->window + 1, 1};
    char p[200];
    int r;

    int64_t emb_ne[2] = {h, c->n_symbols};
    if ((r = bind(b, "enc_p.emb.weight", 2, emb_ne, 0, &e->emb)) < 0)
        return r;
    for (int i = 0; i < c->n_layers; i++) {
        VoiceEncLayer *l = &e->layers[i];
        VoiceConv *qkvo[4] = {&l->conv_q, &l->conv_k, &l->conv_v, &l->conv_o};
        static const char qkvo_name[4] = {'q', 'k', 'v', 'o'};
        for (int j = 0; j < 4; j++)
            if ((r = bind_conv(b, qkvo[j], 1, h, h, PLAIN, "enc_p.encoder.attn_layers.%d.conv_%c", i, qkvo_name[j])) < 0)
                return r;
        snprintf(p, sizeof(p), "enc_p.encoder.attn_layers.%d.emb_rel_k", i);
        if ((r = bind(b, p, 3, rel, 0, &l->emb_rel_k)) < 0)
            return r;
        snprintf(p, sizeof(p), "enc_p.encoder.attn_layers.%d.emb_rel_v", i);
        if ((r = bind(b, p, 3, rel, 0, &l->emb_rel_v)) < 0)
            return r;
        /* the FFN pads explicitly (a Pad node) and then convolves unpadded */
        ConvAttrs ffn = {1, 1, 1, -1};
        if ((r = bind_conv(b, &l->ffn_1, c->ffn_kernel, h, c->filter, ffn, "enc_p.encoder.ffn_layers.%d.conv_1", i)) < 0 ||
            (r = bind_conv(b, &l->ffn_2, c->ffn_kernel, c->filter, h, ffn, "enc_p.encoder.ffn_layers.%d.conv_2", i)) < 0)
            return r;
        snprintf(p, sizeof(p), "enc_p.encoder.norm_layers_1.%d", i);
        if ((r = bind_norm(b, &l->norm_1, h, p)) < 0)
            return r;
        snprintf(p, sizeof(p), "enc_p.encoder.norm_layers_2.%d", i);
        if ((r = bind_norm(b, &l->norm_2, h, p)) < 0)
            return r;
    }
    return bind_conv(b, &e->proj, 1, h, 2 * c->inter, PLAIN, "enc_p.proj");
}

static int bind_affine(B *b, VoiceDurationPredictor *dp)
{
    int64_t ne[2] = {1, 2};
    Tensor logs;
    int r;

    if ((r = bind(b, "dp.flows.0.m", 2, ne, 0, &dp->ea_m)) < 0)
        return r;
    for (int i = 0; i < 2; i++) /* bound, so it is one of ours */
        dp->ea_m_host[i] = onnx_tensor_f32(entry(b, "dp.flows.0.m")->t, i);
    r = bind(b, "dp.flows.0.exp_neg_logs", 2, ne, 1, &dp->ea_exp_neg_logs);
    if (r == 0) {
        const OnnxTensor *t = entry(b, "dp.flows.0.exp_neg_logs")->t;
        for (int i = 0; i < 2; i++)
            dp->ea_exp_neg_logs_host[i] = onnx_tensor_f32(t, i);
        return 0;
    }
    if (r != -ENOENT)
        return r;
    /* an export that kept the parameter: the reverse scale is exp(-logs) */
    if ((r = weights_bind(b->v->ws, "dp.flows.0.logs", 2, ne, WEIGHTS_OPTIONAL, &logs)) == -ENOENT)
        return VFAIL(b, -EBADMSG, "the duration predictor's affine scale (dp.flows.0.logs, or the Mul after "
                                  "Sub(x, dp.flows.0.m)) is missing");
    if (r < 0)
        return VFAIL(b, r, "%s", weights_error(b->v->ws));
    entry(b, "dp.flows.0.logs")->bound = 1;
    float *s = weights_host_alloc(b->v->ws, 2 * sizeof(float));
    if (!s)
        return -ENOMEM;
    for (int i = 0; i < 2; i++)
        dp->ea_exp_neg_logs_host[i] = s[i] = expf(-onnx_tensor_f32(entry(b, "dp.flows.0.logs")->t, i));
    if ((r = tensor_init(&dp->ea_exp_neg_logs, DTYPE_F32, 2, ne, s)) < 0 ||
        (r = weights_place(b->v->ws, &dp->ea_exp_neg_logs)) < 0)
        return VFAIL(b, r, "dp.flows.0.logs: %s", weights_error(b->v->ws));
    return 0;
}

static int bind_duration(B *b)
{
    const VoiceConfig *c = &b->v->cfg;
    VoiceDurationPredictor *dp = &b->v->w.dp;
    int64_t d = c->dp_channels;
    char p[200];
    int r;

    if ((r = bind_conv(b, &dp->pre, 1, c->hidden, d, PLAIN, "dp.pre")) < 0 ||
        (r = bind_dds(b, &dp->convs, (int)d, c->dp_kernel, "dp.convs")) < 0 ||
        (r = bind_conv(b, &dp->proj, 1, d, d, PLAIN, "dp.proj")) < 0 ||
        (c->gin && (r = bind_conv(b, &dp->cond, 1, c->gin, d, PLAIN, "dp.cond")) < 0) ||
        (r = bind_affine(b, dp)) < 0)
        return r;
    for (int k = 0; k < VOICE_DP_FLOWS; k++) {
        VoiceConvFlow *f = &dp->flows[k];
        snprintf(p, sizeof(p), "dp.flows.%d.pre", 2 * k + 1);
        r = bind_conv_opt(b, &f->pre, 1, 1, d, 1, k == 0, 0, PLAIN, p);
        if (r == -ENOENT) /* dp.flows.1: unused in inference, left out by exports */
            continue;
        if (r < 0)
            return r;
        snprintf(p, sizeof(p), "dp.flows.%d.convs", 2 * k + 1);
        if ((r = bind_dds(b, &f->convs, (int)d, c->dp_kernel, p)) < 0 ||
            (r = bind_conv(b, &f->proj, 1, d, 3 * c->dp_bins - 1, PLAIN, "dp.flows.%d.proj", 2 * k + 1)) < 0)
            return r;
        dp->has_flow[k] = 1;
    }
    for (int k = 1; k < VOICE_DP_FLOWS; k++)
        if (!dp->has_flow[k])
            return VFAIL(b, -EBADMSG, "dp.flows.%d is missing", 2 * k + 1);
    return 0;
}

static int bind_flow(B *b)
{
    const VoiceConfig *c = &b->v->cfg;
    int64_t h = c->hidden, half = c->inter / 2;
    int r;

    for (int k = 0; k < VOICE_FLOWS; k++) {
        VoiceCoupling *f = &b->v->w.flow[k];
        int fi = 2 * k, dil = 1;
        if ((r = bind_conv(b, &f->pre, 1, half, h, PLAIN, "flow.flows.%d.pre", fi)) < 0 ||
            (r = bind_conv(b, &f->post, 1, h, half, PLAIN, "flow.flows.%d.post", fi)) < 0 ||
            (c->gin && (r = bind_conv(b, &f->enc.cond, 1, c->gin, 2 * h * VOICE_WN_LAYERS, PLAIN,
                                      "flow.flows.%d.enc.cond_layer", fi)) < 0))
            return r;
        for (int j = 0; j < VOICE_WN_LAYERS; j++, dil *= c->flow_dilation_rate) {
            int64_t rs_out = j < VOICE_WN_LAYERS - 1 ? 2 * h : h;
            if ((r = bind_conv(b, &f->enc.in_layers[j], c->flow_kernel, h, 2 * h, SAME(c->flow_kernel, dil),
                               "flow.flows.%d.enc.in_layers.%d", fi, j)) < 0 ||
                (r = bind_conv(b, &f->enc.res_skip[j], 1, h, rs_out, PLAIN, "flow.flows.%d.enc.res_skip_layers.%d",
                               fi, j)) < 0)
                return r;
        }
    }
    return 0;
}

static int bind_decoder(B *b)
{
    const VoiceConfig *c = &b->v->cfg;
    VoiceDecoder *d = &b->v->w.dec;
    int64_t ch = c->dec_channels;
    char p[200];
    int r;

    if ((r = bind_conv(b, &d->conv_pre, 7, c->inter, ch, SAME(7, 1), "dec.conv_pre")) < 0 ||
        (c->gin && (r = bind_conv(b, &d->cond, 1, c->gin, ch, PLAIN, "dec.cond")) < 0))
        return r;
    for (int i = 0; i < c->n_ups; i++, ch /= 2) {
        int k = c->ups_kernel[i], u = c->ups_rate[i];
        snprintf(p, sizeof(p), "dec.ups.%d", i);
        if ((r = bind_conv_opt(b, &d->ups[i], k, ch / 2, ch, 1, 0, 1, (ConvAttrs){u, 1, 1, (k - u) / 2}, p)) < 0)
            return r;
        for (int j = 0; j < c->n_res_kernels; j++) {
            int rb = i * c->n_res_kernels + j, rk = c->res_kernel[j];
            VoiceResBlock *res = &d->res[rb];
            for (int m = 0; m < c->n_res_dilations; m++) {
                int dil = c->res_dilation[j][m];
                if (c->resblock == 2)
                    r = bind_conv(b, &res->convs[m], rk, ch / 2, ch / 2, SAME(rk, dil), "dec.resblocks.%d.convs.%d", rb, m);
                else if ((r = bind_conv(b, &res->convs[m], rk, ch / 2, ch / 2, SAME(rk, dil),
                                        "dec.resblocks.%d.convs1.%d", rb, m)) >= 0)
                    r = bind_conv(b, &res->convs[c->n_res_dilations + m], rk, ch / 2, ch / 2, SAME(rk, 1),
                                  "dec.resblocks.%d.convs2.%d", rb, m);
                if (r < 0)
                    return r;
            }
        }
    }
    /* conv_post has no bias in Piper (bias=False); bind one if an export has it */
    return bind_conv_opt(b, &d->conv_post, 7, ch, 1, -1, 0, 0, SAME(7, 1), "dec.conv_post");
}

/* ---- graph interface and architecture ------------------------------------------------------------------ */

static int check_io(B *b)
{
    static const struct { const char *name; int dt; } need[] = {
        {"input", ONNX_DT_INT64}, {"input_lengths", ONNX_DT_INT64}, {"scales", ONNX_DT_FLOAT}};
    const OnnxValueInfo *sid = onnx_find_input(b->m, "sid");

    for (int i = 0; i < 3; i++) {
        const OnnxValueInfo *in = onnx_find_input(b->m, need[i].name);
        if (!in)
            return VFAIL(b, -EBADMSG, "graph input '%s' is missing (not a Piper voice?)", need[i].name);
        if (in->elem_type != need[i].dt)
            return VFAIL(b, -EBADMSG, "graph input '%s' is %s, expected %s", need[i].name,
                         onnx_dtype_name(in->elem_type), onnx_dtype_name(need[i].dt));
    }
    if (b->v->cfg.n_speakers > 1 && !sid)
        return VFAIL(b, -EINVAL, "num_speakers is %d but the graph has no 'sid' input", b->v->cfg.n_speakers);
    if (b->v->cfg.n_speakers == 1 && sid)
        return VFAIL(b, -EINVAL, "the graph has a 'sid' input but num_speakers is 1");
    if (sid && sid->elem_type != ONNX_DT_INT64)
        return VFAIL(b, -EBADMSG, "graph input 'sid' is %s, expected INT64", onnx_dtype_name(sid->elem_type));
    if (onnx_n_outputs(b->m) < 1)
        return VFAIL(b, -EBADMSG, "the graph has no output");
    return 0;
}

/* audio.quality absent (older voices): the embedding width and the decoder's width tell. */
static void infer_quality(B *b)
{
    Entry *emb = entry(b, "enc_p.emb.weight"), *up = entry(b, "dec.ups.0.weight");
    VoiceQuality q = b->v->cfg.sample_rate <= 16000 ? VOICE_QUALITY_LOW : VOICE_QUALITY_MEDIUM;

    if (emb && emb->t->n_dims == 2 && emb->t->dims[1] == 96)
        q = VOICE_QUALITY_X_LOW;
    else if (up && up->t->n_dims == 3 && up->t->dims[0] == 512)
        q = VOICE_QUALITY_HIGH;
    b->v->cfg.quality = q;
    voice_arch_for_quality(&b->v->cfg, q);
}

static int unbound_ok(const char *name)
{
    return !strncmp(name, "dp.flows.1.", 11) || !strncmp(name, "dp.post_", 8) || !strncmp(name, "enc_q.", 6);
}

static int bind_all(B *b, int quality_known)
{
    VoiceConfig *c = &b->v->cfg;
    int r;

    if ((r = check_io(b)) < 0 || (r = collect(b)) < 0)
        return r;
    if (!quality_known)
        infer_quality(b);
    if (c->n_speakers > 1) { /* G is only visible in the speaker embedding: [NS, G] */
        Entry *g = entry(b, "emb_g.weight");
        if (!g || g->t->n_dims != 2)
            return VFAIL(b, -EBADMSG, "num_speakers is %d but the speaker embedding emb_g.weight is missing or not 2-D",
                         c->n_speakers);
        if (g->t->dims[1] < 1 || g->t->dims[1] > 4096)
            return VFAIL(b, -EBADMSG, "emb_g.weight: speaker embedding width %lld out of range 1..4096",
                         (long long)g->t->dims[1]);
        c->gin = (int)g->t->dims[1];
        int64_t ne[2] = {c->gin, c->n_speakers};
        if ((r = bind(b, "emb_g.weight", 2, ne, 0, &b->v->w.emb_g)) < 0)
            return r;
    }
    if ((r = bind_encoder(b)) < 0 || (r = bind_duration(b)) < 0 || (r = bind_flow(b)) < 0 || (r = bind_decoder(b)) < 0)
        return r;
    for (int i = 0; i < b->n; i++)
        if (!b->e[i].bound && !unbound_ok(b->e[i].name))
            return VFAIL(b, -EINVAL, "tensor %s ('%s') has no place in a %s VITS voice with %d speaker(s) "
                         "(does audio.quality match the model?)", b->e[i].name, b->e[i].t->name,
                         voice_quality_name(c->quality), c->n_speakers);
    return 0;
}

/* ---- public ------------------------------------------------------------------------------------------- */

/* "onnx: …" from the reader becomes "voice NAME.onnx: onnx: …" */
static void prefix_err(const char *name, char *err, size_t err_len)
{
    char tmp[512];
    if (!err || !err_len)
        return;
    snprintf(tmp, sizeof(tmp), "%s", err);
    snprintf(err, err_len, "voice %s.onnx: %s", name, tmp);
}

void voice_free(Voice *v)
{
    if (!v)
        return;
    weights_free(v->ws);
    for (int i = 0; i < v->n_speakers_named; i++)
        free(v->speakers[i].name);
    free(v->speakers);
    free(v->clusters);
    free(v->phonemes);
    free(v->id_pool);
    free(v->name);
    free(v);
}

static int load(Backend *be, OnnxModel *m, const char *json, size_t json_len, Voice *v, char *err, size_t err_len)
{
    B b = {.v = v, .m = m, .err = err, .err_len = err_len};
    int quality_known, r;

    if ((r = voice_json_parse(v, json, json_len, &quality_known, err, err_len)) < 0)
        goto done;
    if ((r = weights_new(be, &v->ws)) < 0) {
        err_set(err, err_len, r, "voice %s: cannot create the weight store", v->name);
        goto done;
    }
    r = bind_all(&b, quality_known);
done:
    for (int i = 0; i < b.n; i++)
        free(b.e[i].name);
    free(b.e);
    return r;
}

int voice_load_config(const char *json_text, size_t json_len, const char *name, Voice **ret, char *err,
                      size_t err_len)
{
    Voice *v;
    int quality_known, r;

    if (!json_text || !ret)
        return err_set(err, err_len, -EINVAL, "voice: invalid arguments");
    if (!(v = calloc(1, sizeof(*v))) || !(v->name = strdup(name ? name : "voice"))) {
        free(v);
        return err_set(err, err_len, -ENOMEM, "voice: out of memory");
    }
    if ((r = voice_json_parse(v, json_text, json_len, &quality_known, err, err_len)) < 0) {
        if (r == -ENOMEM)
            err_set(err, err_len, r, "voice %s: out of memory", v->name);
        voice_free(v);
        return r;
    }
    *ret = v;
    return 0;
}

int voice_load_memory(Backend *be, const void *onnx, size_t onnx_size, const char *json_text, size_t json_len,
                      const char *name, Voice **ret, char *err, size_t err_len)
{
    OnnxModel *m = NULL;
    Voice *v;
    int r;

    if (!be || !ret || !json_text)
        return err_set(err, err_len, -EINVAL, "voice: invalid arguments");
    if (!(v = calloc(1, sizeof(*v))) || !(v->name = strdup(name ? name : "voice"))) {
        free(v);
        return err_set(err, err_len, -ENOMEM, "voice: out of memory");
    }
    r = onnx_open_memory(onnx, onnx_size, &m, err, err_len);
    if (r < 0)
        prefix_err(v->name, err, err_len);
    if (r >= 0)
        r = load(be, m, json_text, json_len, v, err, err_len);
    onnx_close(m);
    if (r < 0) {
        if (r == -ENOMEM)
            err_set(err, err_len, r, "voice %s: out of memory", v->name);
        voice_free(v);
        return r;
    }
    *ret = v;
    return 0;
}

int voice_load(Backend *be, const char *onnx_path, const char *json_path, Voice **ret, char *err, size_t err_len)
{
    char jpath[4096], stem[256];
    OnnxModel *m = NULL;
    FILE *fp = NULL;
    char *json = NULL;
    Voice *v = NULL;
    long sz;
    int r;

    if (!be || !onnx_path || !ret)
        return err_set(err, err_len, -EINVAL, "voice: invalid arguments");
    if (!json_path) {
        snprintf(jpath, sizeof(jpath), "%s.json", onnx_path);
        json_path = jpath;
    }
    const char *base = strrchr(onnx_path, '/');
    snprintf(stem, sizeof(stem), "%s", base ? base + 1 : onnx_path);
    size_t sl = strlen(stem);
    if (sl > 5 && !strcmp(stem + sl - 5, ".onnx"))
        stem[sl - 5] = 0;
    if (!(fp = fopen(json_path, "rb")))
        return err_set(err, err_len, -errno, "voice %s: %s: %s", stem, json_path, strerror(errno));
    if (fseek(fp, 0, SEEK_END) < 0 || (sz = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) < 0) {
        r = err_set(err, err_len, -EIO, "voice %s: cannot read %s", stem, json_path);
        goto out;
    }
    if (sz > VOICE_MAX_JSON) {
        r = err_set(err, err_len, -E2BIG, "voice %s: %s is %ld bytes, more than %d MiB", stem, json_path, sz,
                    VOICE_MAX_JSON >> 20);
        goto out;
    }
    if (!(json = malloc((size_t)sz + 1)) || fread(json, 1, (size_t)sz, fp) != (size_t)sz) {
        r = err_set(err, err_len, json ? -EIO : -ENOMEM, "voice %s: cannot read %s", stem, json_path);
        goto out;
    }
    if (!(v = calloc(1, sizeof(*v))) || !(v->name = strdup(stem))) {
        r = err_set(err, err_len, -ENOMEM, "voice: out of memory");
        goto out;
    }
    if ((r = onnx_open(onnx_path, &m, err, err_len)) < 0) {
        prefix_err(stem, err, err_len);
        goto out;
    }
    if ((r = load(be, m, json, (size_t)sz, v, err, err_len)) < 0)
        goto out;
    *ret = v;
    v = NULL;
out:
    if (r == -ENOMEM)
        err_set(err, err_len, r, "voice %s: out of memory", stem);
    onnx_close(m);
    voice_free(v);
    free(json);
    if (fp)
        fclose(fp);
    return r;
}
