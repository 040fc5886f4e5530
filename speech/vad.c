/* vad.c — Silero VAD network in plain C, energy fallback, and the speech segmenter (see vad.h).
 * Reference numerics: silero-vad 6.2.3 silero_vad.jit `_model` (16 kHz): input = 64 context samples + 512
 * new ones, reflect-padded by 64 on the right (640); STFT as a conv with a [258, 1, 256] basis, hop 128
 * (4 frames); magnitude sqrt(re² + im²) of 129 bins; four conv1d(k 3, pad 1) + ReLU with strides 1,2,2,1
 * (129→128→64→64→128 channels, 4→4→2→1→1 frames); one LSTMCell(128) with gates i,f,g,o (PyTorch order);
 * ReLU; 1×1 conv to one logit; sigmoid. Checked against tools/ref/vad_ref.py (TorchScript outputs).
 * What it is not: the 8 kHz variant, or batched. Nothing is allocated per chunk. */
#include "vad.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "safetensors.h"

enum { CTX = 64, WIN = CTX + VAD_CHUNK + 64, NFFT = 256, HOP = 128, NBIN = 129, NFR = 4, HID = 128 };

typedef struct {
    float *stft;             /* [NFFT, 2·NBIN] = PyTorch [258, 1, 256] */
    float *c1w, *c1b;        /* [3, 129, 128], [128] */
    float *c2w, *c2b;        /* [3, 128, 64] */
    float *c3w, *c3b;        /* [3, 64, 64] */
    float *c4w, *c4b;        /* [3, 64, 128] */
    float *wih, *whh, *bih, *bhh; /* [128, 512] ×2, [512] ×2 */
    float *fw, *fb;          /* [128], [1] */
    float *block;            /* owned: all of the above point into it */
} SileroWeights;

struct Vad {
    int silero;
    SileroWeights w;
    /* Silero state */
    float ctx[CTX];
    float h[HID], c[HID];
    float x[WIN], spec[2 * NBIN * NFR], mag[NBIN * NFR], a1[128 * 4], a2[64 * 2], a3[64], a4[128],
          gates[4 * HID];
    /* energy state */
    float floor_db;
    int have_floor;
    /* segmenter */
    float thr, neg_thr;
    int64_t min_speech, min_silence, pad;
    int64_t pos;             /* samples consumed */
    int triggered;
    int64_t cand_start;      /* first chunk of the current speech run, -1 if none */
    int64_t temp_end;        /* first silent chunk while triggered, -1 if none */
};

static const struct { const char *name; int n_dims; int64_t shape[3]; } TENSORS[] = {
    { "stft_conv.weight", 3, { 258, 1, 256 } },
    { "conv1.weight", 3, { 128, 129, 3 } }, { "conv1.bias", 1, { 128 } },
    { "conv2.weight", 3, { 64, 128, 3 } }, { "conv2.bias", 1, { 64 } },
    { "conv3.weight", 3, { 64, 64, 3 } }, { "conv3.bias", 1, { 64 } },
    { "conv4.weight", 3, { 128, 64, 3 } }, { "conv4.bias", 1, { 128 } },
    { "lstm_cell.weight_ih", 2, { 512, 128 } }, { "lstm_cell.weight_hh", 2, { 512, 128 } },
    { "lstm_cell.bias_ih", 1, { 512 } }, { "lstm_cell.bias_hh", 1, { 512 } },
    { "final_conv.weight", 3, { 1, 128, 1 } }, { "final_conv.bias", 1, { 1 } },
};
enum { N_TENSORS = sizeof(TENSORS) / sizeof(TENSORS[0]) };

static void config_apply(Vad *v, const VadConfig *cfg)
{
    VadConfig c = cfg ? *cfg : (VadConfig){ 0 };
    v->thr = c.threshold > 0 && c.threshold < 1 ? c.threshold : 0.5f;
    v->neg_thr = c.neg_threshold > 0 && c.neg_threshold <= v->thr ? c.neg_threshold : fmaxf(v->thr - 0.15f, 0.01f);
    v->min_speech = (int64_t)(c.min_speech_ms > 0 ? c.min_speech_ms : 250) * VAD_SAMPLE_RATE / 1000;
    v->min_silence = (int64_t)(c.min_silence_ms > 0 ? c.min_silence_ms : 300) * VAD_SAMPLE_RATE / 1000;
    v->pad = c.speech_pad_ms < 0 ? 0 : (int64_t)(c.speech_pad_ms > 0 ? c.speech_pad_ms : 30) * VAD_SAMPLE_RATE / 1000;
}

void vad_reset(Vad *v)
{
    memset(v->ctx, 0, sizeof(v->ctx));
    memset(v->h, 0, sizeof(v->h));
    memset(v->c, 0, sizeof(v->c));
    v->have_floor = 0;
    v->pos = 0;
    v->triggered = 0;
    v->cand_start = -1;
    v->temp_end = -1;
}

int vad_new_energy(const VadConfig *cfg, Vad **ret)
{
    Vad *v = calloc(1, sizeof(*v));
    if (!v)
        return -ENOMEM;
    config_apply(v, cfg);
    vad_reset(v);
    *ret = v;
    return 0;
}

/* Copy the tensors, re-laid out so the inner loops run over output channels:
 * conv w [Cout, Cin, K] → [K, Cin, Cout]; LSTM [4H, H] → [H, 4H]; STFT [258, 1, 256] → [256, 258]. */
static void transpose_conv(float *dst, const float *src, int cout, int cin, int k)
{
    for (int o = 0; o < cout; o++)
        for (int i = 0; i < cin; i++)
            for (int j = 0; j < k; j++)
                dst[((size_t)j * cin + i) * cout + o] = src[((size_t)o * cin + i) * k + j];
}

int vad_new_silero(const char *path, const VadConfig *cfg, Vad **ret, char *err, size_t err_len)
{
    StFile *f = NULL;
    Vad *v = NULL;
    const float *src[N_TENSORS];
    size_t total = 0, off = 0;
    float *dst[N_TENSORS];
    int r;

    if (access(path, R_OK) != 0)
        return err_set(err, err_len, -ENOENT, "%s: %s", path, strerror(errno));
    if ((r = st_open(path, &f, err, err_len)) < 0)
        return r;
    for (int i = 0; i < N_TENSORS; i++) {
        const StTensor *t = st_find(f, TENSORS[i].name);
        int ok = t && t->dtype == 0 /* DTYPE_F32 */ && t->n_dims == TENSORS[i].n_dims;
        for (int d = 0; ok && d < t->n_dims; d++)
            ok = t->shape[d] == TENSORS[i].shape[d];
        if (!ok) {
            r = err_set(err, err_len, -EBADMSG, "%s: tensor %s missing or not F32 of the Silero shape", path,
                        TENSORS[i].name);
            goto fail;
        }
        src[i] = t->data;
        total += t->nbytes / sizeof(float);
    }
    if (!(v = calloc(1, sizeof(*v))) || !(v->w.block = malloc(total * sizeof(float)))) {
        r = err_set(err, err_len, -ENOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < N_TENSORS; i++) {
        size_t n = 1;
        for (int d = 0; d < TENSORS[i].n_dims; d++)
            n *= (size_t)TENSORS[i].shape[d];
        dst[i] = v->w.block + off;
        off += n;
    }
    /* stft [258, 256] → [256, 258] */
    for (int o = 0; o < 2 * NBIN; o++)
        for (int k = 0; k < NFFT; k++)
            memcpy(&dst[0][(size_t)k * 2 * NBIN + o], (const char *)src[0] + ((size_t)o * NFFT + k) * 4, 4);
    {   /* tensor data may be unaligned inside the file: copy to an aligned scratch first */
        float *tmp = malloc(512 * 128 * sizeof(float));
        static const int conv_idx[4] = { 1, 3, 5, 7 }, cin[4] = { 129, 128, 64, 64 }, cout[4] = { 128, 64, 64, 128 };
        if (!tmp) {
            r = err_set(err, err_len, -ENOMEM, "out of memory");
            goto fail;
        }
        for (int c = 0; c < 4; c++) {
            int i = conv_idx[c];
            memcpy(tmp, src[i], (size_t)cout[c] * cin[c] * 3 * 4);
            transpose_conv(dst[i], tmp, cout[c], cin[c], 3);
            memcpy(dst[i + 1], src[i + 1], (size_t)cout[c] * 4);
        }
        for (int i = 9; i <= 10; i++) {
            memcpy(tmp, src[i], 512 * 128 * 4);
            for (int g = 0; g < 512; g++)
                for (int k = 0; k < 128; k++)
                    dst[i][(size_t)k * 512 + g] = tmp[(size_t)g * 128 + k];
        }
        free(tmp);
        for (int i = 11; i < N_TENSORS; i++)
            memcpy(dst[i], src[i], (i <= 12 ? 512 : i == 13 ? 128 : 1) * 4);
    }
    v->w.stft = dst[0];
    v->w.c1w = dst[1]; v->w.c1b = dst[2]; v->w.c2w = dst[3]; v->w.c2b = dst[4];
    v->w.c3w = dst[5]; v->w.c3b = dst[6]; v->w.c4w = dst[7]; v->w.c4b = dst[8];
    v->w.wih = dst[9]; v->w.whh = dst[10]; v->w.bih = dst[11]; v->w.bhh = dst[12];
    v->w.fw = dst[13]; v->w.fb = dst[14];
    v->silero = 1;
    st_close(f);
    config_apply(v, cfg);
    vad_reset(v);
    *ret = v;
    return 0;
fail:
    st_close(f);
    vad_free(v);
    return r;
}

int vad_new_default(const char *models_dir, const VadConfig *cfg, Vad **ret)
{
    char path[4096], err[256];
    int r = -ENOENT;

    if (models_dir && snprintf(path, sizeof(path), "%s/%s", models_dir, VAD_MODEL_FILE) < (int)sizeof(path))
        r = vad_new_silero(path, cfg, ret, err, sizeof(err));
    if (r == 0)
        return 0;
    if (r != -ENOENT)
        log_warn("vad: %s; using the energy VAD", err);
    else
        log_info("vad: no %s installed; using the energy VAD", VAD_MODEL_FILE);
    return vad_new_energy(cfg, ret);
}

void vad_free(Vad *v)
{
    if (!v)
        return;
    free(v->w.block);
    free(v);
}

int vad_is_silero(const Vad *v) { return v->silero; }

/* conv1d, kernel 3, pad 1: in [T_in, Cin] (frame-major), w [3, Cin, Cout], out [T_out, Cout], ReLU. */
static void conv3_relu(const float *in, int t_in, int cin, const float *w, const float *b, int cout, int stride,
                       float *out)
{
    int t_out = (t_in + 2 - 3) / stride + 1;
    for (int t = 0; t < t_out; t++) {
        float *o = out + (size_t)t * cout;
        memcpy(o, b, (size_t)cout * sizeof(float));
        for (int k = 0; k < 3; k++) {
            int ti = t * stride + k - 1;
            if (ti < 0 || ti >= t_in)
                continue;
            for (int i = 0; i < cin; i++) {
                float xv = in[(size_t)ti * cin + i];
                const float *wr = w + ((size_t)k * cin + i) * cout;
                for (int c = 0; c < cout; c++)
                    o[c] += xv * wr[c];
            }
        }
        for (int c = 0; c < cout; c++)
            o[c] = o[c] > 0 ? o[c] : 0;
    }
}

static float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

static float silero_step(Vad *v, const float *chunk)
{
    const SileroWeights *w = &v->w;
    float *x = v->x;

    memcpy(x, v->ctx, CTX * sizeof(float));
    memcpy(x + CTX, chunk, VAD_CHUNK * sizeof(float));
    for (int j = 0; j < 64; j++) /* reflect pad right: index L + j ↦ L − 2 − j, L = 576 */
        x[CTX + VAD_CHUNK + j] = x[CTX + VAD_CHUNK - 2 - j];
    memcpy(v->ctx, chunk + VAD_CHUNK - CTX, CTX * sizeof(float));
    /* STFT conv → spec [NFR, 258] */
    for (int f = 0; f < NFR; f++) {
        float *s = v->spec + (size_t)f * 2 * NBIN;
        memset(s, 0, 2 * NBIN * sizeof(float));
        for (int k = 0; k < NFFT; k++) {
            float xv = x[f * HOP + k];
            const float *wr = w->stft + (size_t)k * 2 * NBIN;
            for (int o = 0; o < 2 * NBIN; o++)
                s[o] += xv * wr[o];
        }
        for (int c = 0; c < NBIN; c++)
            v->mag[f * NBIN + c] = sqrtf(s[c] * s[c] + s[NBIN + c] * s[NBIN + c]);
    }
    conv3_relu(v->mag, 4, NBIN, w->c1w, w->c1b, 128, 1, v->a1);
    conv3_relu(v->a1, 4, 128, w->c2w, w->c2b, 64, 2, v->a2);
    conv3_relu(v->a2, 2, 64, w->c3w, w->c3b, 64, 2, v->a3);
    conv3_relu(v->a3, 1, 64, w->c4w, w->c4b, 128, 1, v->a4);
    /* LSTM cell */
    for (int g = 0; g < 4 * HID; g++)
        v->gates[g] = w->bih[g] + w->bhh[g];
    for (int k = 0; k < HID; k++) {
        float xi = v->a4[k], hk = v->h[k];
        const float *ri = w->wih + (size_t)k * 4 * HID, *rh = w->whh + (size_t)k * 4 * HID;
        for (int g = 0; g < 4 * HID; g++)
            v->gates[g] += xi * ri[g] + hk * rh[g];
    }
    float logit = w->fb[0];
    for (int k = 0; k < HID; k++) {
        float ig = sigmoidf(v->gates[k]), fg = sigmoidf(v->gates[HID + k]);
        float gg = tanhf(v->gates[2 * HID + k]), og = sigmoidf(v->gates[3 * HID + k]);
        v->c[k] = fg * v->c[k] + ig * gg;
        v->h[k] = og * tanhf(v->c[k]);
        logit += w->fw[k] * (v->h[k] > 0 ? v->h[k] : 0);
    }
    return sigmoidf(logit);
}

/* Energy VAD: chunk level in dBFS against a noise floor that follows drops at once and rises 0.05 dB per
 * chunk (1.6 dB/s), so a long utterance is not absorbed into the floor. The floor never goes below
 * -65 dBFS (digital silence would otherwise make any hiss "speech") and a loud first chunk cannot set it. */
static float energy_step(Vad *v, const float *chunk)
{
    double e = 0;
    float db;

    for (int i = 0; i < VAD_CHUNK; i++)
        e += (double)chunk[i] * chunk[i];
    db = (float)(10.0 * log10(e / VAD_CHUNK + 1e-12));
    if (!v->have_floor) {
        v->floor_db = db < -40.0f ? db : -60.0f;
        v->have_floor = 1;
    } else if (db < v->floor_db) {
        v->floor_db = db;
    } else {
        v->floor_db += 0.05f;
    }
    if (v->floor_db < -65.0f)
        v->floor_db = -65.0f;
    if (db < -55.0f)
        return 0.0f;
    return sigmoidf((db - v->floor_db - 15.0f) / 2.0f);
}

int vad_process(Vad *v, const float *chunk, float *ret_prob, VadEvent *ret_event)
{
    float p = v->silero ? silero_step(v, chunk) : energy_step(v, chunk);
    int64_t cur = v->pos;
    VadEvent ev = { VAD_EVENT_NONE, 0 };

    v->pos += VAD_CHUNK;
    if (!v->triggered) {
        if (p >= v->thr) {
            if (v->cand_start < 0)
                v->cand_start = cur;
            if (v->pos - v->cand_start >= v->min_speech) {
                v->triggered = 1;
                v->temp_end = -1;
                ev.type = VAD_EVENT_START;
                ev.sample = v->cand_start - v->pad > 0 ? v->cand_start - v->pad : 0;
            }
        } else {
            v->cand_start = -1;
        }
    } else if (p < v->neg_thr) {
        if (v->temp_end < 0)
            v->temp_end = cur;
        if (v->pos - v->temp_end >= v->min_silence) {
            ev.type = VAD_EVENT_END;
            ev.sample = v->temp_end + v->pad;
            v->triggered = 0;
            v->cand_start = -1;
            v->temp_end = -1;
        }
    } else if (p >= v->thr) {
        v->temp_end = -1; /* speech resumed within the hangover */
    }
    if (ret_prob)
        *ret_prob = p;
    if (ret_event)
        *ret_event = ev;
    return 0;
}

void vad_flush(Vad *v, VadEvent *ret_event)
{
    ret_event->type = VAD_EVENT_NONE;
    ret_event->sample = 0;
    if (v->triggered) {
        ret_event->type = VAD_EVENT_END;
        ret_event->sample = v->temp_end >= 0 ? v->temp_end + v->pad : v->pos;
        if (ret_event->sample > v->pos)
            ret_event->sample = v->pos;
        v->triggered = 0;
    }
}

int vad_segments(Vad *v, const float *pcm, int64_t n, VadSegment *segs, int max, int *ret_n)
{
    float chunk[VAD_CHUNK];
    int count = 0;
    int64_t start = 0;
    VadEvent ev;

    if (n < 0 || (!pcm && n) || max < 0)
        return -EINVAL;
    vad_reset(v);
    for (int64_t i = 0; i < n; i += VAD_CHUNK) {
        int64_t k = n - i < VAD_CHUNK ? n - i : VAD_CHUNK;
        memcpy(chunk, pcm + i, (size_t)k * sizeof(float));
        memset(chunk + k, 0, (size_t)(VAD_CHUNK - k) * sizeof(float));
        vad_process(v, chunk, NULL, &ev);
        if (ev.type == VAD_EVENT_START) {
            start = ev.sample;
        } else if (ev.type == VAD_EVENT_END) {
            if (count < max)
                segs[count] = (VadSegment){ start, ev.sample < n ? ev.sample : n };
            count++;
        }
    }
    vad_flush(v, &ev);
    if (ev.type == VAD_EVENT_END) {
        if (count < max)
            segs[count] = (VadSegment){ start, ev.sample < n ? ev.sample : n };
        count++;
    }
    *ret_n = count;
    return 0;
}
