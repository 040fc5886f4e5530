/* aec.c — echo cancellation over SpeexDSP (see aec.h): a reference ring indexed by speaker sample counter,
 * speex_echo_cancellation per 10 ms frame (int16 at the library boundary), speex_preprocess with the echo
 * state for the residual, and the ERLE estimate. Reference for the numerics: SpeexDSP 1.2.1 mdf.c (MDF,
 * Valin 2007, "On adjusting the learning rate in frequency domain echo cancellation with double-talk").
 * Not here: delay estimation (the caller's latency figures give it) or resampling. */
#include "aec.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#if HAVE_SPEEXDSP
#include <speex/speex_echo.h>
#include <speex/speex_preprocess.h>

struct Aec {
    SpeexEchoState *echo;           /* owned */
    SpeexPreprocessState *pre;      /* owned; NULL when residual = -1 */
    int tail, delay;
    float *ref;                     /* owned ring: speaker sample k at ref[k % n_ref] when k >= ref_lo */
    int64_t n_ref, ref_lo, ref_hi;  /* held counters [ref_lo, ref_hi); never-written ones read 0 */
    double p_mic, p_out;            /* smoothed powers over far-active frames */
    float erle;
    int64_t far_frames;
};

enum { ERLE_MIN_FRAMES = 20 };
static const double ERLE_ALPHA = 0.98;     /* ≈ 0.5 s of 10 ms frames */
static const double FAR_ACTIVE = 1e-6;     /* reference frame power (−60 dBFS) that counts as playback */
static const double DOUBLE_TALK_DB = 12.0; /* output this far above the estimate: near-end speech */

static void to_s16(const float *x, spx_int16_t *y, int n)
{
    for (int i = 0; i < n; i++) {
        float v = x[i] * 32768.0f;
        y[i] = (spx_int16_t)(v > 32767.0f ? 32767 : v < -32768.0f ? -32768 : lrintf(v));
    }
}

static double power(const spx_int16_t *x, int n)
{
    double e = 0;
    for (int i = 0; i < n; i++)
        e += (double)x[i] * x[i];
    return e / n / (32768.0 * 32768.0);
}

int aec_available(void) { return 1; }

int aec_new(const AecConfig *cfg, Aec **ret)
{
    AecConfig c = cfg ? *cfg : (AecConfig){0};
    int rate = AEC_SAMPLE_RATE, tail_ms = c.tail_ms ? c.tail_ms : 200, hist_ms = c.history_ms ? c.history_ms : 1000;
    Aec *a;

    if (tail_ms < 128 || tail_ms > 256 || c.delay_samples < 0 || hist_ms < 0 || hist_ms > 10000 ||
        (int64_t)hist_ms * AEC_SAMPLE_RATE / 1000 < (int64_t)c.delay_samples + tail_ms * AEC_SAMPLE_RATE / 1000)
        return -EINVAL;
    if (!(a = calloc(1, sizeof(*a))))
        return -ENOMEM;
    a->tail = tail_ms * AEC_SAMPLE_RATE / 1000;
    a->delay = c.delay_samples;
    a->n_ref = (int64_t)hist_ms * AEC_SAMPLE_RATE / 1000 + 2 * AEC_FRAME;
    a->ref = calloc((size_t)a->n_ref, sizeof(float));
    a->echo = speex_echo_state_init(AEC_FRAME, a->tail);
    if (!a->ref || !a->echo)
        goto fail;
    speex_echo_ctl(a->echo, SPEEX_ECHO_SET_SAMPLING_RATE, &rate);
    if (c.residual >= 0) {
        int off = 0, sup = c.echo_suppress_db < 0 ? c.echo_suppress_db : -40, act = -15;
        if (!(a->pre = speex_preprocess_state_init(AEC_FRAME, AEC_SAMPLE_RATE)))
            goto fail;
        speex_preprocess_ctl(a->pre, SPEEX_PREPROCESS_SET_ECHO_STATE, a->echo);
        speex_preprocess_ctl(a->pre, SPEEX_PREPROCESS_SET_AGC, &off);
        speex_preprocess_ctl(a->pre, SPEEX_PREPROCESS_SET_DEREVERB, &off);
        speex_preprocess_ctl(a->pre, SPEEX_PREPROCESS_SET_ECHO_SUPPRESS, &sup);
        speex_preprocess_ctl(a->pre, SPEEX_PREPROCESS_SET_ECHO_SUPPRESS_ACTIVE, &act);
    }
    aec_reset(a);
    *ret = a;
    return 0;
fail:
    aec_free(a);
    return -ENOMEM;
}

void aec_free(Aec *a)
{
    if (!a)
        return;
    if (a->pre)
        speex_preprocess_state_destroy(a->pre);
    if (a->echo)
        speex_echo_state_destroy(a->echo);
    free(a->ref);
    free(a);
}

void aec_reset(Aec *a)
{
    speex_echo_state_reset(a->echo);
    memset(a->ref, 0, (size_t)a->n_ref * sizeof(float));
    a->ref_lo = a->ref_hi = 0;
    a->p_mic = a->p_out = 0;
    a->erle = 0;
    a->far_frames = 0;
}

int aec_set_delay(Aec *a, int delay_samples)
{
    if (delay_samples < 0 || delay_samples + a->tail > a->n_ref - 2 * AEC_FRAME)
        return -EINVAL;
    a->delay = delay_samples;
    return 0;
}

int aec_playback(Aec *a, int64_t pos, const float *pcm, size_t n)
{
    if (!a || pos < 0 || (!pcm && n))
        return -EINVAL;
    int64_t end = pos + (int64_t)n, oldest = (end > a->ref_hi ? end : a->ref_hi) - a->n_ref;
    if (pos < oldest) { /* only the newest n_ref samples can ever be used */
        if (end <= oldest)
            return 0;
        pcm += oldest - pos;
        pos = oldest;
    }
    for (int64_t k = a->ref_hi > oldest ? a->ref_hi : oldest; k < pos; k++)
        a->ref[k % a->n_ref] = 0; /* a gap in the counters: nothing was played there */
    for (int64_t k = pos; k < end; k++)
        a->ref[k % a->n_ref] = pcm[k - pos];
    if (end > a->ref_hi)
        a->ref_hi = end;
    if (a->ref_hi - a->n_ref > a->ref_lo)
        a->ref_lo = a->ref_hi - a->n_ref;
    return 0;
}

int aec_capture(Aec *a, int64_t pos, const float *mic, float *out)
{
    spx_int16_t m[AEC_FRAME], r[AEC_FRAME], o[AEC_FRAME];
    float rf[AEC_FRAME];

    if (!a || !mic || !out || pos < 0)
        return -EINVAL;
    for (int i = 0; i < AEC_FRAME; i++) {
        int64_t k = pos + i - a->delay;
        rf[i] = k >= a->ref_lo && k < a->ref_hi ? a->ref[k % a->n_ref] : 0.0f;
    }
    to_s16(mic, m, AEC_FRAME);
    to_s16(rf, r, AEC_FRAME);
    speex_echo_cancellation(a->echo, m, r, o);
    /* ERLE of the linear stage, over frames where the far end plays */
    double pr = power(r, AEC_FRAME), pm = power(m, AEC_FRAME), po = power(o, AEC_FRAME);
    if (pr > FAR_ACTIVE) {
        a->far_frames++;
        int double_talk = a->far_frames > ERLE_MIN_FRAMES && a->p_out > 0 &&
                          10.0 * log10((po + 1e-12) / a->p_out) > DOUBLE_TALK_DB;
        if (!double_talk) {
            double al = a->far_frames <= ERLE_MIN_FRAMES ? 1.0 - 1.0 / (double)a->far_frames : ERLE_ALPHA;
            a->p_mic = al * a->p_mic + (1 - al) * pm;
            a->p_out = al * a->p_out + (1 - al) * po;
            a->erle = (float)(10.0 * log10((a->p_mic + 1e-12) / (a->p_out + 1e-12)));
        }
    }
    if (a->pre)
        speex_preprocess_run(a->pre, o);
    for (int i = 0; i < AEC_FRAME; i++)
        out[i] = o[i] / 32768.0f;
    return 0;
}

float aec_erle_db(const Aec *a) { return a->erle; }
int64_t aec_far_ms(const Aec *a) { return a->far_frames * AEC_FRAME * 1000 / AEC_SAMPLE_RATE; }

#else /* built without SpeexDSP */

struct Aec {
    int unused;
};

int aec_available(void) { return 0; }
int aec_new(const AecConfig *cfg, Aec **ret)
{
    (void)cfg;
    (void)ret;
    return -ENOTSUP;
}
void aec_free(Aec *a) { free(a); }
void aec_reset(Aec *a) { (void)a; }
int aec_set_delay(Aec *a, int d) { return (void)a, (void)d, -ENOTSUP; }
int aec_playback(Aec *a, int64_t pos, const float *pcm, size_t n)
{
    return (void)a, (void)pos, (void)pcm, (void)n, -ENOTSUP;
}
int aec_capture(Aec *a, int64_t pos, const float *mic, float *out)
{
    return (void)a, (void)pos, (void)mic, (void)out, -ENOTSUP;
}
float aec_erle_db(const Aec *a) { return (void)a, 0.0f; }
int64_t aec_far_ms(const Aec *a) { return (void)a, 0; }

#endif
