/* vits-impl.h — private to speech/tts/vits*.c: the repacked model and the helpers its parts share.
 * Not a public interface (vits.h is). */
#ifndef MYNA_VITS_IMPL_H
#define MYNA_VITS_IMPL_H

#include "vits.h"

enum { VITS_POOL = 8 };

/* A conv in the backend's layout: w [CO, CI/groups, K] (transposed conv: [CO, K, CI]), b [CO] or no data. */
typedef struct {
    Tensor w, b;
    int cin, cout, k, groups, transposed;
} VConv;

typedef struct {
    VConv q, k, v, o, ffn1, ffn2;
    Tensor ek, ev;                  /* [HD, 2W+1], borrowed from the voice */
    const Tensor *n1g, *n1b, *n2g, *n2b;
} VEncLayer;

typedef struct {
    VConv sep[VOICE_DDS_LAYERS], c1x1[VOICE_DDS_LAYERS];
    const Tensor *n1g[VOICE_DDS_LAYERS], *n1b[VOICE_DDS_LAYERS], *n2g[VOICE_DDS_LAYERS], *n2b[VOICE_DDS_LAYERS];
} VDds;

typedef struct {
    VConv pre, proj;
    VDds dds;
} VConvFlow;

/* One coupling layer. `rev` = 1 for the layers that run after an odd number of flips in reverse: their
 * pre reads the second physical half with its channels reversed and post writes the first half reversed,
 * so the flips never move data (vits.c explains). */
typedef struct {
    VConv pre, post;
    VConv in[VOICE_WN_LAYERS], res[VOICE_WN_LAYERS], skip[VOICE_WN_LAYERS];
    VConv cond;                     /* multi-speaker: gin → 2H·L */
    int rev;
} VCoupling;

struct Vits {
    Backend *be;
    VoiceConfig cfg;
    const VoiceWeights *vw;         /* borrowed */
    VEncLayer enc[VOICE_MAX_LAYERS];
    VConv proj_m[2], proj_l[2];     /* m and logs, each split into the two halves of the latent */
    VConv dp_pre, dp_proj, dp_cond;
    VDds dp_dds;
    VConvFlow dp_flow[VOICE_DP_FLOWS];
    VCoupling flow[VOICE_FLOWS];
    VConv dec_pre, dec_cond, ups[VOICE_MAX_UPS], dec_post;
    VConv res[VOICE_MAX_UPS * VOICE_MAX_RES_KERNELS][2 * VOICE_MAX_RES_DILATIONS];
    int margin;                     /* decoder receptive field, latent frames (one side) */
    int flow_margin;                /* the flow's, likewise */
    Tensor pool[VITS_POOL];         /* grow-only decoder buffers (vits-dec.c), handed out as views */
    int64_t pool_cap[VITS_POOL];
    float *host;                    /* scratch for weight repacking */
    size_t host_len;
};

/* vits.c */
int vits_conv(Vits *v, Tensor *y, const Tensor *x, const VConv *c, int stride, int pad, int dil);
/* y = res + conv(leaky_relu(x, slope)) (leaky when slope >= 0 and leaky set; res may be y or NULL, never x). */
int vits_conv_ex(Vits *v, Tensor *y, const Tensor *x, const VConv *c, int pad, int dil, int leaky, float slope,
                 const Tensor *res);
int vits_tensor(Vits *v, Tensor *t, int64_t c, int64_t l);
int vits_repack(Vits *v, VConv *dst, const VoiceConv *src, int groups, int transposed, int64_t row0, int64_t rows,
                int reverse_in, int reverse_out);
/* vits-dec.c */
int vits_dec_prepare(Vits *v, char *err, size_t err_len);
int vits_flow_reverse(Vits *v, Tensor *zp, Tensor *zq, const Tensor *g);

#endif
