/* vits-say.c — offline text → speech with a Piper voice (vits-say.h): phonemize, encode each sentence once,
 * decode it in windows (small first, then larger) and hand each window to a sink; a WAV writer sink.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "phonemize.h"
#include "vits-say.h"

static double now_s(void)
{
    return clock_now_ms() * 1e-3;
}

int vits_say(Vits *v, const Voice *voice, const char *text, const VitsParams *p, VitsSink sink, void *ctx,
             VitsSayStats *st, char *err, size_t err_len)
{
    const double t0 = now_s();
    Phonemes *ph = NULL;
    float *buf = NULL;
    int r;
    memset(st, 0, sizeof(*st));
    st->first_audio_s = -1;
    if ((r = phonemize(voice, text, &ph, err, err_len)) < 0)
        return r;
    buf = malloc((size_t)VITS_SAY_WINDOW * (size_t)vits_hop(v) * sizeof(float));
    if (!buf) {
        phonemes_free(ph);
        return -ENOMEM;
    }
    for (int s = 0; s < ph->n_sentences && r >= 0; s++) {
        const PhonemeSentence *ps = &ph->sentences[s];
        VitsUtt *u = NULL;
        VitsParams ps_p = *p;
        ps_p.seed = p->seed + (uint64_t)s;
        if ((r = vits_encode(v, ps->ids, ps->n_ids, &ps_p, &u, err, err_len)) < 0)
            break;
        for (int64_t f0 = 0, w = VITS_SAY_FIRST; f0 < u->frames && r >= 0; f0 += w, w = VITS_SAY_WINDOW) {
            const int64_t f1 = f0 + w < u->frames ? f0 + w : u->frames, n = (f1 - f0) * vits_hop(v);
            if ((r = vits_decode(v, u, f0, f1, buf, err, err_len)) < 0)
                break;
            for (int64_t i = 0; i < n; i++)
                buf[i] *= VITS_SAY_GAIN;
            if (st->first_audio_s < 0)
                st->first_audio_s = now_s() - t0;
            r = sink(ctx, buf, n);
            st->samples += n;
        }
        vits_utt_free(v, u);
        st->n_sentences++;
    }
    st->total_s = now_s() - t0;
    free(buf);
    phonemes_free(ph);
    return r < 0 ? r : 0;
}

static void put32(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char)v, b[1] = (unsigned char)(v >> 8), b[2] = (unsigned char)(v >> 16);
    b[3] = (unsigned char)(v >> 24);
}

static int header(FILE *f, int rate, int64_t samples)
{
    unsigned char h[44];
    const uint32_t data = (uint32_t)(samples * 2);
    memcpy(h, "RIFF", 4), put32(h + 4, 36 + data), memcpy(h + 8, "WAVEfmt ", 8);
    put32(h + 16, 16), h[20] = 1, h[21] = 0, h[22] = 1, h[23] = 0; /* PCM, mono */
    put32(h + 24, (uint32_t)rate), put32(h + 28, (uint32_t)rate * 2), h[32] = 2, h[33] = 0, h[34] = 16, h[35] = 0;
    memcpy(h + 36, "data", 4), put32(h + 40, data);
    return fwrite(h, 1, 44, f) == 44 ? 0 : -EIO;
}

int vits_wav_open(VitsWav *w, const char *path, int sample_rate)
{
    memset(w, 0, sizeof(*w));
    w->f = strcmp(path, "-") == 0 ? stdout : fopen(path, "wb");
    if (!w->f)
        return -errno;
    /* a pipe cannot be rewound: give the largest sizes, as streaming WAV writers do */
    return header(w->f, sample_rate, w->f == stdout ? (0xFFFFFFFFll - 36) / 2 : 0);
}

int vits_wav_sink(void *ctx, const float *pcm, int64_t n)
{
    VitsWav *w = ctx;
    int16_t out[1024];
    for (int64_t i = 0; i < n;) {
        int k = 0;
        for (; k < 1024 && i < n; k++, i++) {
            float s = pcm[i];
            if (!(s >= -1.0f))
                s = -1.0f, w->clipped++;
            else if (s > 1.0f)
                s = 1.0f, w->clipped++;
            out[k] = (int16_t)lrintf(s * 32767.0f);
        }
        if (fwrite(out, 2, (size_t)k, w->f) != (size_t)k)
            return -EIO;
    }
    w->samples += n;
    return 0;
}

int vits_wav_close(VitsWav *w, int sample_rate)
{
    int r = 0;
    if (!w->f)
        return 0;
    if (w->f != stdout && fseek(w->f, 0, SEEK_SET) == 0)
        r = header(w->f, sample_rate, w->samples);
    if (w->f == stdout ? fflush(w->f) != 0 : fclose(w->f) != 0)
        r = -EIO;
    w->f = NULL;
    return r;
}
