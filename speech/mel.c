/* mel.c — Whisper log-mel spectrogram (see mel.h). Reference numerics: openai-whisper audio.py
 * log_mel_spectrogram (torch.stft center=True reflect, periodic Hann) and librosa.filters.mel
 * (Slaney scale and area normalization), checked against tools/ref/mel_ref.py fixtures.
 * What it is not: a general STFT; sizes are Whisper's.
 * FFT: libavutil 57's av_tx accepts length 400 (= 2^4·5^2) only through its naive O(n²) codelet (measured
 * 10 s per 30 s of audio), so the 400-point DFT is done with Bluestein's chirp-z algorithm on top of av_tx
 * power-of-two FFTs of length 1024 (>= 2·400 − 1): X[k] = c[k] · IFFT(FFT(x·c) · FFT(conj c))[k] with
 * c[n] = exp(−iπn²/400). Chirps are computed in double from n² mod 800. */
#include "mel.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/mem.h>
#include <libavutil/tx.h>

struct Mel {
    int n_mels;
    float *filters;             /* owned; [N_FREQ, M] */
    int *lo, *hi;               /* owned; [M] non-zero bin range [lo, hi) of each filter */
    float window[MEL_N_FFT];    /* periodic Hann */
    AVComplexFloat chirp[MEL_N_FFT];   /* c[n] = exp(-i*pi*n^2/N) */
    AVComplexFloat *bfft;       /* owned; [BLUE_M] FFT of the conj-chirp filter, times 1/BLUE_M */
};

enum { STREAM_CAP = 8192, BLUE_M = 1024 };

struct MelStream {
    Mel *m;                     /* borrowed */
    AVTXContext *tx, *itx;      /* owned; per stream because av_tx contexts keep scratch */
    av_tx_fn fft, ifft;
    AVComplexFloat *in, *out;   /* owned; [BLUE_M] each */
    float *power;               /* owned; [N_FREQ] */
    float *frame;               /* owned; [M] */
    float *hist;                /* owned; [STREAM_CAP] samples hist_start .. hist_start + hist_len */
    int64_t hist_start;
    size_t hist_len;
    int64_t n_pushed;
    int64_t next_frame;
    int finished;
};

/* Slaney mel scale (librosa hz_to_mel / mel_to_hz with htk=False). */
static double hz_to_mel(double f)
{
    const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
    const double logstep = log(6.4) / 27.0;
    return f >= min_log_hz ? min_log_mel + log(f / min_log_hz) / logstep : f / f_sp;
}

static double mel_to_hz(double mel)
{
    const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
    const double logstep = log(6.4) / 27.0;
    return mel >= min_log_mel ? min_log_hz * exp(logstep * (mel - min_log_mel)) : f_sp * mel;
}

/* librosa.filters.mel(sr=16000, n_fft=400, n_mels, fmin=0, fmax=8000, htk=False, norm="slaney"),
 * computed in double like librosa and stored as float32 like mel_filters.npz. */
static int build_filters(Mel *m)
{
    int n = m->n_mels;
    double *mel_f = malloc((size_t)(n + 2) * sizeof(double));
    double mmin = hz_to_mel(0.0), mmax = hz_to_mel(MEL_SAMPLE_RATE / 2.0);

    if (!mel_f)
        return -ENOMEM;
    for (int i = 0; i < n + 2; i++)
        mel_f[i] = mel_to_hz(mmin + (mmax - mmin) * i / (n + 1));
    for (int i = 0; i < n; i++) {
        double fd0 = mel_f[i + 1] - mel_f[i], fd1 = mel_f[i + 2] - mel_f[i + 1];
        double enorm = 2.0 / (mel_f[i + 2] - mel_f[i]);
        m->lo[i] = MEL_N_FREQ;
        m->hi[i] = 0;
        for (int k = 0; k < MEL_N_FREQ; k++) {
            double f = (double)k * MEL_SAMPLE_RATE / MEL_N_FFT;
            double lower = -(mel_f[i] - f) / fd0, upper = (mel_f[i + 2] - f) / fd1;
            double w = fmax(0.0, fmin(lower, upper)) * enorm;
            m->filters[(size_t)i * MEL_N_FREQ + k] = (float)w;
            if (w > 0.0) {
                if (k < m->lo[i]) m->lo[i] = k;
                m->hi[i] = k + 1;
            }
        }
        if (m->hi[i] == 0)
            m->lo[i] = 0; /* an empty filter (only for absurd n_mels) sums nothing */
    }
    free(mel_f);
    return 0;
}

/* Bluestein tables: chirp c[n] and the transformed filter b = conj(c) laid out circularly (b[M-n] = b[n]). */
static int build_chirp(Mel *m)
{
    AVTXContext *tx = NULL;
    av_tx_fn fn;
    AVComplexFloat *b = av_calloc(BLUE_M, sizeof(*b)); /* av_tx's SIMD codelets need aligned buffers */
    float scale = 1.0f;
    int r = -ENOMEM;

    m->bfft = av_malloc(BLUE_M * sizeof(*m->bfft));
    if (!b || !m->bfft)
        goto done;
    for (int n = 0; n < MEL_N_FFT; n++) {
        double ph = M_PI * (double)(((long)n * n) % (2 * MEL_N_FFT)) / MEL_N_FFT;
        m->chirp[n].re = (float)cos(ph);
        m->chirp[n].im = (float)-sin(ph);
        b[n].re = (float)cos(ph);
        b[n].im = (float)sin(ph);
        if (n > 0)
            b[BLUE_M - n] = b[n];
    }
    if (av_tx_init(&tx, &fn, AV_TX_FLOAT_FFT, 0, BLUE_M, &scale, 0) < 0) {
        r = -ENOTSUP;
        goto done;
    }
    fn(tx, m->bfft, b, sizeof(AVComplexFloat));
    for (int k = 0; k < BLUE_M; k++) {
        m->bfft[k].re /= BLUE_M;
        m->bfft[k].im /= BLUE_M;
    }
    r = 0;
done:
    av_tx_uninit(&tx);
    av_free(b);
    return r;
}

int mel_new(int n_mels, Mel **ret)
{
    Mel *m;
    int r;

    if (n_mels < 1 || n_mels > 256)
        return -EINVAL;
    m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->n_mels = n_mels;
    m->filters = calloc((size_t)n_mels * MEL_N_FREQ, sizeof(float));
    m->lo = calloc((size_t)n_mels, sizeof(int));
    m->hi = calloc((size_t)n_mels, sizeof(int));
    if (!m->filters || !m->lo || !m->hi) {
        r = -ENOMEM;
        goto fail;
    }
    if ((r = build_filters(m)) < 0)
        goto fail;
    for (int j = 0; j < MEL_N_FFT; j++) /* torch.hann_window(400, periodic=True) */
        m->window[j] = (float)(0.5 - 0.5 * cos(2.0 * M_PI * j / MEL_N_FFT));
    if ((r = build_chirp(m)) < 0)
        goto fail;
    *ret = m;
    return 0;
fail:
    mel_free(m);
    return r;
}

void mel_free(Mel *m)
{
    if (!m)
        return;
    free(m->filters);
    free(m->lo);
    free(m->hi);
    av_free(m->bfft);
    free(m);
}

int mel_n_mels(const Mel *m) { return m->n_mels; }
const float *mel_filters(const Mel *m) { return m->filters; }

int64_t mel_n_frames(int64_t n_samples)
{
    return n_samples > 0 ? n_samples / MEL_HOP : 0;
}

void mel_normalize(float *x, size_t n)
{
    float mx = -INFINITY;

    for (size_t i = 0; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    for (size_t i = 0; i < n; i++) {
        float v = x[i] < mx - 8.0f ? mx - 8.0f : x[i];
        x[i] = (v + 4.0f) / 4.0f;
    }
}

int mel_stream_new(Mel *m, MelStream **ret)
{
    MelStream *s = calloc(1, sizeof(*s));
    float scale = 1.0f;
    int r = -ENOMEM;

    if (!s)
        return -ENOMEM;
    s->m = m;
    s->in = av_calloc(BLUE_M, sizeof(AVComplexFloat));
    s->out = av_calloc(BLUE_M, sizeof(AVComplexFloat));
    s->power = malloc(MEL_N_FREQ * sizeof(float));
    s->frame = malloc((size_t)m->n_mels * sizeof(float));
    s->hist = malloc(STREAM_CAP * sizeof(float));
    if (!s->in || !s->out || !s->power || !s->frame || !s->hist)
        goto fail;
    if (av_tx_init(&s->tx, &s->fft, AV_TX_FLOAT_FFT, 0, BLUE_M, &scale, 0) < 0 ||
        av_tx_init(&s->itx, &s->ifft, AV_TX_FLOAT_FFT, 1, BLUE_M, &scale, 0) < 0) {
        r = -ENOTSUP;
        goto fail;
    }
    *ret = s;
    return 0;
fail:
    mel_stream_free(s);
    return r;
}

void mel_stream_free(MelStream *s)
{
    if (!s)
        return;
    av_tx_uninit(&s->tx);
    av_tx_uninit(&s->itx);
    av_free(s->in);
    av_free(s->out);
    free(s->power);
    free(s->frame);
    free(s->hist);
    free(s);
}

void mel_stream_reset(MelStream *s)
{
    s->hist_start = 0;
    s->hist_len = 0;
    s->n_pushed = 0;
    s->next_frame = 0;
    s->finished = 0;
}

int64_t mel_stream_n_samples(const MelStream *s) { return s->n_pushed; }

/* Sample q of the reflect-padded signal (torch.stft center=True, pad_mode="reflect"): q < 0 mirrors
 * around sample 0; q >= n_end (only when finishing) mirrors around the last sample. */
static float sample_at(const MelStream *s, int64_t q, int64_t n_end)
{
    if (q < 0)
        q = -q;
    if (n_end > 0 && q >= n_end)
        q = 2 * (n_end - 1) - q;
    return s->hist[q - s->hist_start];
}

/* One frame: window, FFT, power, mel, log10. n_end > 0 enables the right-edge reflection. */
static int emit_frame(MelStream *s, int64_t i, int64_t n_end, MelFrameFn fn, void *user)
{
    const Mel *m = s->m;
    int64_t q0 = i * MEL_HOP - MEL_N_FFT / 2;

    /* Bluestein: in = x·c (zero-padded), out = FFT(in); out *= FFT(b); in = IFFT(out); X = in·c */
    for (int j = 0; j < MEL_N_FFT; j++) {
        float x = sample_at(s, q0 + j, n_end) * m->window[j];
        s->in[j].re = x * m->chirp[j].re;
        s->in[j].im = x * m->chirp[j].im;
    }
    memset(s->in + MEL_N_FFT, 0, (BLUE_M - MEL_N_FFT) * sizeof(AVComplexFloat));
    s->fft(s->tx, s->out, s->in, sizeof(AVComplexFloat));
    for (int k = 0; k < BLUE_M; k++) {
        AVComplexFloat a = s->out[k], b = m->bfft[k];
        s->out[k].re = a.re * b.re - a.im * b.im;
        s->out[k].im = a.re * b.im + a.im * b.re;
    }
    s->ifft(s->itx, s->in, s->out, sizeof(AVComplexFloat));
    for (int k = 0; k < MEL_N_FREQ; k++) {
        AVComplexFloat a = s->in[k], c = m->chirp[k];
        float re = a.re * c.re - a.im * c.im, im = a.re * c.im + a.im * c.re;
        s->power[k] = re * re + im * im;
    }
    for (int b = 0; b < m->n_mels; b++) {
        const float *w = m->filters + (size_t)b * MEL_N_FREQ;
        double acc = 0.0;
        for (int k = m->lo[b]; k < m->hi[b]; k++)
            acc += (double)w[k] * s->power[k];
        s->frame[b] = (float)log10(acc > 1e-10 ? acc : 1e-10);
    }
    return fn(user, i, s->frame);
}

/* Emit every frame whose window lies inside what was pushed, then drop samples no later frame needs. */
static int emit_ready(MelStream *s, MelFrameFn fn, void *user)
{
    int64_t keep_from;
    int r;

    for (;;) {
        int64_t need = s->next_frame * MEL_HOP + MEL_N_FFT / 2; /* samples needed for next_frame */
        if (need < MEL_N_FFT / 2 + 1)
            need = MEL_N_FFT / 2 + 1;                         /* frame 0 reflects sample 200 */
        if (need > s->n_pushed)
            break;
        if ((r = emit_frame(s, s->next_frame, 0, fn, user)) < 0)
            return r;
        s->next_frame++;
    }
    keep_from = s->next_frame * MEL_HOP - MEL_N_FFT / 2;
    if (keep_from > s->hist_start) {
        size_t drop = (size_t)(keep_from - s->hist_start);
        if (drop > s->hist_len)
            drop = s->hist_len;
        memmove(s->hist, s->hist + drop, (s->hist_len - drop) * sizeof(float));
        s->hist_len -= drop;
        s->hist_start += (int64_t)drop;
    }
    return 0;
}

static int push_common(MelStream *s, const float *pcm, int64_t n, MelFrameFn fn, void *user)
{
    int r;

    if (s->finished || n < 0)
        return -EINVAL;
    while (n > 0) {
        size_t k = STREAM_CAP - s->hist_len;
        if ((int64_t)k > n)
            k = (size_t)n;
        if (pcm) {
            memcpy(s->hist + s->hist_len, pcm, k * sizeof(float));
            pcm += k;
        } else {
            memset(s->hist + s->hist_len, 0, k * sizeof(float));
        }
        s->hist_len += k;
        s->n_pushed += (int64_t)k;
        n -= (int64_t)k;
        if ((r = emit_ready(s, fn, user)) < 0)
            return r;
    }
    return 0;
}

int mel_stream_push(MelStream *s, const float *pcm, size_t n, MelFrameFn fn, void *user)
{
    if (!pcm && n)
        return -EINVAL;
    return push_common(s, pcm, (int64_t)n, fn, user);
}

int mel_stream_push_zeros(MelStream *s, int64_t n_zeros, MelFrameFn fn, void *user)
{
    return push_common(s, NULL, n_zeros, fn, user);
}

int mel_stream_finish(MelStream *s, MelFrameFn fn, void *user)
{
    int64_t n = s->n_pushed, n_frames = mel_n_frames(n);
    int r;

    if (s->finished || n <= MEL_N_FFT / 2)
        return -EINVAL;
    for (; s->next_frame < n_frames; s->next_frame++)
        if ((r = emit_frame(s, s->next_frame, n, fn, user)) < 0)
            return r;
    s->finished = 1;
    return 0;
}

typedef struct {
    float *out;      /* [F, M] */
    int64_t n_frames;
    int n_mels;
} BatchSink;

static int batch_frame(void *user, int64_t i, const float *frame)
{
    BatchSink *b = user;

    if (i >= b->n_frames)
        return -EOVERFLOW; /* cannot happen: frames are bounded by mel_n_frames() */
    for (int k = 0; k < b->n_mels; k++)
        b->out[(size_t)k * (size_t)b->n_frames + (size_t)i] = frame[k];
    return 0;
}

int mel_compute(Mel *m, const float *pcm, int64_t n, int64_t n_total, float *out)
{
    MelStream *s = NULL;
    BatchSink sink = { out, mel_n_frames(n_total), m->n_mels };
    int64_t n_copy = n < n_total ? n : n_total;
    int r;

    if (n < 0 || n_total <= MEL_N_FFT / 2 || (!pcm && n > 0))
        return -EINVAL;
    if ((r = mel_stream_new(m, &s)) < 0)
        return r;
    if ((r = mel_stream_push(s, pcm, (size_t)n_copy, batch_frame, &sink)) < 0 ||
        (r = mel_stream_push_zeros(s, n_total - n_copy, batch_frame, &sink)) < 0 ||
        (r = mel_stream_finish(s, batch_frame, &sink)) < 0)
        goto done;
    mel_normalize(out, (size_t)sink.n_frames * (size_t)m->n_mels);
done:
    mel_stream_free(s);
    return r;
}
