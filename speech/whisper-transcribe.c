/* whisper-transcribe.c — transcription: 30 s windows over the log-mel of the whole input, greedy decoding with
 * Whisper's logit rules, temperature fallback and no-speech skipping.
 *
 * Follows openai-whisper transcribe.py / decoding.py as faster-whisper 1.2 (transcribe.py generate_segments,
 * generate_with_fallback) implements them, greedy at temperature 0, one sample (not best_of 5) above:
 * prompt [<|startofprev|> previous segments' tokens] <|startoftranscript|> [<|lang|> <|task|>]
 * [<|notimestamps|>]; SuppressBlank (begin suppress ids at
 * the first sampled position), SuppressTokens (config list + every special token), ApplyTimestampRules
 * (pairs, non-decreasing, first token a timestamp ≤ 1.0 s, timestamp forced when their total probability
 * beats every text token); fallback to temperatures inc, 2·inc… when the zlib compression ratio > 2.4 or
 * the mean log-prob < −1 (no fallback when also P(<|nospeech|>) > 0.6: silence); when every temperature
 * fails, the try with the best mean log-prob among those under the compression threshold (else among all)
 * is kept; a window is skipped as silence when P(<|nospeech|>) > 0.6 and the mean log-prob ≤ −1.
 * Seeking: by the last timestamp pair when timestamps are on, else by whole windows. Segments (timestamp
 * pairs) with no text or zero length are dropped; the kept ones' tokens form the next window's prompt,
 * reset after a window decoded above prompt_reset_on_temperature.
 * Input: the log-mel of the audio plus 160 zero samples (faster-whisper's feature extractor), its last
 * frame not content; a short window is padded with zeros in normalised log-mel space (pad_or_trim), or,
 * with pad_silence, with the log-mel of real silence (30 s of zeros appended, as whisper.cpp and HF do).
 * Not here: the network (whisper.c), beam search, best_of sampling, word timestamps.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "whisper-impl.h"

#if HAVE_FFMPEG
#include "mel.h"
#endif
#if !defined(MYNA_NO_ZLIB) && __has_include(<zlib.h>)
#include <zlib.h>
#define HAVE_ZLIB 1
#else
#define HAVE_ZLIB 0
#endif

enum { N_FRAMES = 3000, INPUT_STRIDE = 2, MAX_INITIAL_TS = 50 /* 1.0 s in 20 ms steps */ };

void whisper_options_default(WhisperOptions *o)
{
    memset(o, 0, sizeof(*o));
    o->timestamps = 1; /* openai-whisper's transcribe default: windows advance to the last timestamp pair */
    o->temperature_inc = 0.2f;
    o->compression_ratio_threshold = 2.4f;
    o->logprob_threshold = -1.0f;
    o->no_speech_threshold = 0.6f;
    o->seed = 0x5eed;
    o->condition_on_previous_text = 1;
    o->prompt_reset_on_temperature = 0.5f;
}

/* Language codes in token order (openai-whisper tokenizer.py LANGUAGES), for .bin files, which have no
 * token texts for them: <|code|> = sot + 1 + index. */
#if HAVE_FFMPEG /* build_sot_sequence reads it */
static const char *const k_languages[] = {
    "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv", "it", "id", "hi",
    "fi", "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no", "th", "ur", "hr", "bg", "lt", "la",
    "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr", "az", "sl", "kn", "et", "mk", "br", "eu", "is", "hy",
    "ne", "mn", "bs", "kk", "sq", "sw", "gl", "mr", "pa", "si", "km", "sn", "yo", "so", "af", "oc", "ka", "be",
    "tg", "sd", "gu", "am", "yi", "lo", "uz", "fo", "ht", "ps", "tk", "nn", "mt", "sa", "lb", "my", "bo", "tl",
    "mg", "as", "tt", "haw", "ln", "ha", "ba", "jw", "su", "yue",
};
#endif

/* Raw bytes of a vocabulary entry (tokenizer.json or the .bin vocabulary); count like tokenizer_token_bytes,
 * -ENOENT when the id has no stored text. */
static int token_bytes(const Whisper *w, int32_t id, char *out, size_t cap)
{
    if (w->tokenizer)
        return id < tokenizer_n_vocab(w->tokenizer) ? tokenizer_token_bytes(w->tokenizer, id, out, cap) : -ENOENT;
    if (w->ggml && id < w->ggml->n_tokens) {
        size_t n = w->ggml->tok_off[id + 1] - w->ggml->tok_off[id];
        memcpy(out, w->ggml->tok_bytes + w->ggml->tok_off[id], n < cap ? n : cap);
        return (int)n;
    }
    return -ENOENT;
}

int whisper_token_text(const Whisper *w, int32_t id, char *out, size_t cap)
{
    const WhisperTokens *t = &w->tok;

    if (id < 0 || id >= w->cfg.n_vocab)
        return -EINVAL;
    if (t->timestamp_begin >= 0 && id >= t->timestamp_begin)
        return snprintf(out, cap, "<|%.2f|>", (id - t->timestamp_begin) * 0.02);
    int n = token_bytes(w, id, out, cap ? cap - 1 : 0);
    if (n < 0)
        return snprintf(out, cap, "<|%d|>", id);
    if (cap)
        out[(size_t)n < cap - 1 ? (size_t)n : cap - 1] = 0;
    return n;
}

static uint64_t rng_next(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* log-sum-exp of l[a..b) (expf terms, double sum: runs over the whole vocabulary once per token) */
static double lse(const float *l, int a, int b)
{
    float mx = -INFINITY;
    double s = 0;
    for (int i = a; i < b; i++)
        mx = l[i] > mx ? l[i] : mx;
    if (mx == -INFINITY)
        return -INFINITY;
    for (int i = a; i < b; i++)
        if (l[i] > -INFINITY)
            s += expf(l[i] - mx);
    return mx + log(s);
}

typedef struct {
    int32_t *tokens;          /* sampled tokens, EOT excluded */
    int n_tokens;
    double sum_logprob, avg_logprob, no_speech_prob, compression_ratio;
} WindowResult;

/* Whisper's logit filters for the next token after `seq` (n sampled so far); returns the log-sum-exp of
 * the filtered logits (their log-softmax normalizer). */
static double apply_rules(const Whisper *w, const WhisperOptions *o, float *l, const int32_t *seq, int n)
{
    const WhisperTokens *t = &w->tok;
    int V = w->cfg.n_vocab, tb = t->timestamp_begin >= 0 ? t->timestamp_begin : V;

    if (n == 0)
        for (int i = 0; i < w->n_suppress_begin; i++)
            l[w->suppress_begin[i]] = -INFINITY;
    for (int i = 0; i < w->n_suppress; i++)
        l[w->suppress[i]] = -INFINITY;
    for (int i = t->eot + 1; i < tb; i++) /* every special but EOT (sot, languages, tasks, notimestamps…) */
        l[i] = -INFINITY;
    if (!o->timestamps || tb >= V) {
        for (int i = tb; i < V; i++)
            l[i] = -INFINITY;
        return lse(l, 0, tb);
    }
    int last_ts = n >= 1 && seq[n - 1] >= tb, pen_ts = n < 2 || seq[n - 2] >= tb;
    if (last_ts) {
        if (pen_ts)
            for (int i = tb; i < V; i++)
                l[i] = -INFINITY;
        else
            for (int i = 0; i < t->eot; i++)
                l[i] = -INFINITY;
    }
    for (int i = n - 1; i >= 0; i--) {
        if (seq[i] >= tb) { /* timestamps do not decrease */
            int lim = last_ts && !pen_ts ? seq[i] : seq[i] + 1;
            for (int j = tb; j < lim && j < V; j++)
                l[j] = -INFINITY;
            break;
        }
    }
    if (n == 0) {
        for (int i = 0; i < tb; i++)
            l[i] = -INFINITY;
        for (int i = tb + MAX_INITIAL_TS + 1; i < V; i++)
            l[i] = -INFINITY;
    }
    double all = lse(l, 0, V), ts_all = lse(l, tb, V), ts = ts_all - all, mx = -INFINITY;
    for (int i = 0; i < tb; i++)
        mx = l[i] > mx ? l[i] : mx;
    if (ts > mx - all) {
        for (int i = 0; i < tb; i++)
            l[i] = -INFINITY;
        return ts_all; /* only the timestamps are left */
    }
    return all;
}

static int32_t pick(float *l, int V, float temperature, uint64_t *rng)
{
    int32_t best = 0;

    for (int i = 1; i < V; i++)
        if (l[i] > l[best])
            best = i;
    if (temperature <= 0)
        return best;
    double s = 0, mx = l[best];
    for (int i = 0; i < V; i++)
        s += exp(((double)l[i] - mx) / temperature);
    double u = (double)(rng_next(rng) >> 11) * 0x1.0p-53 * s, c = 0;
    for (int i = 0; i < V; i++) {
        c += exp(((double)l[i] - mx) / temperature);
        if (c >= u && l[i] > -INFINITY)
            return i;
    }
    return best;
}

static double compression_ratio(const char *text, size_t n)
{
#if HAVE_ZLIB
    while (n && strchr(" \t\n\r\v\f", text[0])) { /* of text.strip(), as faster-whisper */
        text++;
        n--;
    }
    while (n && strchr(" \t\n\r\v\f", text[n - 1]))
        n--;
    if (n == 0)
        return 0;
    uLongf cap = compressBound((uLong)n);
    unsigned char *buf = malloc(cap);
    double r = 0;
    if (buf && compress2(buf, &cap, (const unsigned char *)text, (uLong)n, Z_DEFAULT_COMPRESSION) == Z_OK)
        r = (double)n / (double)cap;
    free(buf);
    return r;
#else
    (void)text;
    (void)n;
    return 0; /* no zlib: the compression-ratio rule is off */
#endif
}

/* Plain text of tokens (timestamps and specials dropped) appended to *buf. */
static int append_text(const Whisper *w, const int32_t *ids, int n, char **buf, size_t *len, size_t *cap)
{
    char piece[TOKENIZER_MAX_TOKEN_BYTES + 8];

    for (int i = 0; i < n; i++) {
        if (ids[i] >= w->tok.eot)
            continue;
        int k = token_bytes(w, ids[i], piece, sizeof(piece));
        if (k < 0)
            continue; /* no text stored for this id */
        if ((size_t)k > sizeof(piece))
            k = (int)sizeof(piece);
        if (*len + (size_t)k + 1 > *cap) {
            size_t nc = (*cap + (size_t)k + 1) * 2;
            char *nb = realloc(*buf, nc);
            if (!nb)
                return -ENOMEM;
            *buf = nb;
            *cap = nc;
        }
        memcpy(*buf + *len, piece, (size_t)k);
        *len += (size_t)k;
        (*buf)[*len] = 0;
    }
    return 0;
}

/* Decode one encoded window at one temperature. */
static int decode_window(Whisper *w, const WhisperOptions *o, const int32_t *prompt, int n_prompt,
                         float temperature, uint64_t *rng, float *logits, WindowResult *res)
{
    const WhisperTokens *t = &w->tok;
    int V = w->cfg.n_vocab, max_n = o->max_tokens > 0 ? o->max_tokens : w->cfg.n_text_ctx - n_prompt, r;
    int32_t id;

    if (max_n > w->cfg.n_text_ctx - n_prompt)
        max_n = w->cfg.n_text_ctx - n_prompt;
    res->n_tokens = 0;
    res->sum_logprob = 0;
    res->no_speech_prob = 0;
    /* the prompt up to <|startoftranscript|>, whose logits give P(no speech), then the rest of it */
    int n_sot = 0;
    while (n_sot < n_prompt - 1 && prompt[n_sot] != t->sot)
        n_sot++;
    if ((r = whisper_decode(w, prompt, n_sot + 1, 0, logits, 0)) < 0)
        return r;
    if (t->no_speech >= 0)
        res->no_speech_prob = exp((double)logits[t->no_speech] - lse(logits, 0, V));
    if (n_sot + 1 < n_prompt && (r = whisper_decode(w, prompt + n_sot + 1, n_prompt - n_sot - 1, n_sot + 1,
                                                    logits, 0)) < 0)
        return r;
    float *l = logits;
    for (int n = 0; n < max_n; n++) {
        double z = apply_rules(w, o, l, res->tokens, res->n_tokens);
        id = pick(l, V, temperature, rng);
        res->sum_logprob += (double)l[id] - z;
        if (id == t->eot)
            break;
        res->tokens[res->n_tokens++] = id;
        if (n + 1 == max_n)
            break;
        if ((r = whisper_decode(w, &id, 1, n_prompt + n, logits, 0)) < 0)
            return r;
        l = logits;
    }
    res->avg_logprob = res->sum_logprob / (res->n_tokens + 1);
    char *txt = NULL;
    size_t len = 0, cap = 0;
    if ((r = append_text(w, res->tokens, res->n_tokens, &txt, &len, &cap)) < 0) {
        free(txt);
        return r;
    }
    res->compression_ratio = compression_ratio(txt ? txt : "", len);
    free(txt);
    return 0;
}

#if HAVE_FFMPEG /* only whisper_run_begin below uses it */
static int build_sot_sequence(const Whisper *w, const WhisperOptions *o, int32_t *p)
{
    const WhisperTokens *t = &w->tok;
    int n = 0;

    p[n++] = t->sot;
    if (w->cfg.multilingual) {
        char name[32];
        const char *code = o->language ? o->language : "en";
        int32_t lang = -1;
        snprintf(name, sizeof(name), "<|%s|>", code);
        if (w->tokenizer) {
            lang = tokenizer_find_token(w->tokenizer, name);
        } else {
            for (size_t i = 0; i < sizeof(k_languages) / sizeof(k_languages[0]); i++)
                if (!strcmp(k_languages[i], code) && t->sot + 1 + (int)i < t->translate)
                    lang = t->sot + 1 + (int32_t)i;
        }
        if (lang < 0 || t->transcribe < 0 || t->translate < 0) {
            log_error("whisper: language '%s' is not in the vocabulary", o->language ? o->language : "en");
            return -EINVAL;
        }
        p[n++] = lang;
        p[n++] = o->translate ? t->translate : t->transcribe;
    }
    if (!o->timestamps) {
        if (t->no_timestamps < 0)
            return -ENOTSUP;
        p[n++] = t->no_timestamps;
    }
    return n;
}
#endif

/* A transcription in progress (whisper.h): the log-mel of the whole input, the seek position, the fallback
 * temperature of the window being decoded, and the text so far. */
struct WhisperRun {
    Whisper *w;                 /* borrowed */
    WhisperOptions o;
    int32_t sot_seq[4];         /* <|startoftranscript|> [<|lang|> <|task|>] [<|notimestamps|>] */
    int n_sot_seq;
    int32_t *prompt;            /* owned [n_text_ctx]: the current window's prompt */
    int n_prompt;
    int32_t *hist;              /* owned [n_text_ctx / 2 − 1]: kept segments' tokens since the last reset */
    int n_hist, cap_hist;
    float *mel, *win, *logits;  /* owned: [F, M], [N_FRAMES, M], [V] */
    int64_t F, content, seek, seg;
    int try_k;                  /* fallback try of this window: temperature try_k · temperature_inc */
    int enc_stage;              /* next encoder stage of this window (n_audio_layer + 2: encoded) */
    int counted;                /* this window is in st.n_windows */
    uint64_t enc_gen;           /* w->run_encodes after this run's last encoder stage */
    uint64_t rng;
    WindowResult res, best;     /* the try just decoded; the best failed try of this window */
    int have_best, best_below;  /* best is set; it is under the compression-ratio threshold */
    char *text;                 /* owned */
    size_t len, cap;
    WhisperStats st;
};

void whisper_run_free(WhisperRun *run)
{
    if (!run)
        return;
    free(run->prompt);
    free(run->hist);
    free(run->mel);
    free(run->win);
    free(run->logits);
    free(run->res.tokens);
    free(run->best.tokens);
    free(run->text);
    free(run);
}

int whisper_run_begin(Whisper *w, const float *pcm16k, size_t n, const WhisperOptions *opt, WhisperRun **ret)
{
#if HAVE_FFMPEG
    WhisperRun *run;
    int M = w->cfg.n_mels, V = w->cfg.n_vocab, r;
    Mel *mf = NULL;
    double t0;

    if (!ret || (!pcm16k && n))
        return -EINVAL;
    if (!w->tokenizer && !w->ggml)
        return -ENOTSUP;
    if (n > (size_t)WHISPER_MAX_SECONDS * 16000)
        return -E2BIG;
    if (2 * w->cfg.n_audio_ctx != N_FRAMES)
        return -ENOTSUP;
    if (!(run = calloc(1, sizeof(*run))))
        return -ENOMEM;
    run->w = w;
    if (opt)
        run->o = *opt;
    else
        whisper_options_default(&run->o);
    r = -ENOTSUP;
    if (run->o.timestamps && w->tok.timestamp_begin < 0)
        goto fail;
    if ((r = run->n_sot_seq = build_sot_sequence(w, &run->o, run->sot_seq)) < 0)
        goto fail;
    run->rng = run->o.seed;
    run->st.audio_s = (double)n / 16000.0;
    /* faster-whisper: 160 zero samples appended, the last frame is not content; pad_silence: 30 s of zeros,
     * every window read from the spectrogram */
    int64_t n_total = (int64_t)n + (run->o.pad_silence ? MEL_N_SAMPLES_30S : MEL_HOP);
    if (n_total <= 200)
        n_total = 201; /* reflect padding's minimum; gives one frame, no content */
    run->F = mel_n_frames(n_total);
    run->content = run->o.pad_silence ? run->F - N_FRAMES : run->F - 1;
    run->cap_hist = w->cfg.n_text_ctx / 2 - 1;
    run->mel = malloc(sizeof(float) * (size_t)run->F * (size_t)M);
    run->win = malloc(sizeof(float) * N_FRAMES * (size_t)M);
    run->logits = malloc(sizeof(float) * (size_t)V);
    run->prompt = malloc(sizeof(int32_t) * (size_t)w->cfg.n_text_ctx);
    run->hist = malloc(sizeof(int32_t) * (size_t)(run->cap_hist > 0 ? run->cap_hist : 1));
    run->res.tokens = malloc(sizeof(int32_t) * (size_t)w->cfg.n_text_ctx);
    run->best.tokens = malloc(sizeof(int32_t) * (size_t)w->cfg.n_text_ctx);
    r = -ENOMEM;
    if (!run->mel || !run->win || !run->logits || !run->prompt || !run->hist || !run->res.tokens ||
        !run->best.tokens)
        goto fail;
    t0 = clock_now_ms();
    if ((r = mel_new(M, &mf)) < 0 || (r = mel_compute(mf, pcm16k, (int64_t)n, n_total, run->mel)) < 0) {
        log_error("whisper: log-mel failed: %d", r);
        mel_free(mf);
        goto fail;
    }
    mel_free(mf);
    run->st.mel_s = (clock_now_ms() - t0) / 1e3;
    *ret = run;
    return 0;
fail:
    whisper_run_free(run);
    return r;
#else
    (void)w; (void)pcm16k; (void)n; (void)opt; (void)ret;
    return -ENOTSUP;
#endif
}

/* The prompt of the window: [<|startofprev|> history] then the start-of-transcript sequence. */
static void window_prompt(WhisperRun *run)
{
    int n = 0;

    if (run->n_hist > 0 && run->w->tok.sot_prev >= 0) {
        run->prompt[n++] = run->w->tok.sot_prev;
        memcpy(run->prompt + n, run->hist, sizeof(int32_t) * (size_t)run->n_hist);
        n += run->n_hist;
    }
    memcpy(run->prompt + n, run->sot_seq, sizeof(int32_t) * (size_t)run->n_sot_seq);
    run->n_prompt = n + run->n_sot_seq;
}

/* One kept segment: its text joins the transcript unless it is blank, its tokens the prompt history. */
static int keep_segment(WhisperRun *run, const int32_t *ids, int n)
{
    size_t len0 = run->len;
    int r;

    if ((r = append_text(run->w, ids, n, &run->text, &run->len, &run->cap)) < 0)
        return r;
    size_t i = len0;
    while (i < run->len && strchr(" \t\n\r\v\f", run->text[i]))
        i++;
    if (i == run->len) { /* no text: dropped, as faster-whisper drops it */
        run->len = len0;
        if (run->text)
            run->text[len0] = 0;
        return 0;
    }
    if (n >= run->cap_hist) {
        memcpy(run->hist, ids + n - run->cap_hist, sizeof(int32_t) * (size_t)run->cap_hist);
        run->n_hist = run->cap_hist;
        return 0;
    }
    int drop = run->n_hist + n - run->cap_hist;
    if (drop > 0) {
        memmove(run->hist, run->hist + drop, sizeof(int32_t) * (size_t)(run->n_hist - drop));
        run->n_hist -= drop;
    }
    memcpy(run->hist + run->n_hist, ids, sizeof(int32_t) * (size_t)n);
    run->n_hist += n;
    return 0;
}

/* The window's result split into segments at consecutive timestamps (faster-whisper
 * _split_segments_by_timestamps); returns the seek advance in frames, or a negative errno. */
static int64_t window_segments(WhisperRun *run, const WindowResult *res)
{
    const int32_t *tk = res->tokens;
    int k = res->n_tokens, tb = run->w->tok.timestamp_begin, last = 0, any = 0, r;

    if (tb < 0)
        tb = run->w->cfg.n_vocab;
    int single_end = k >= 2 && tk[k - 2] < tb && tk[k - 1] >= tb;
    for (int i = 1; i <= k; i++) {
        int cut = i < k ? tk[i] >= tb && tk[i - 1] >= tb : any && single_end;
        if (!cut)
            continue;
        any = 1;
        if (tk[last] != tk[i - 1] && (r = keep_segment(run, tk + last, i - last)) < 0) /* start == end: dropped */
            return r;
        last = i;
    }
    if (!any) {
        if ((r = keep_segment(run, tk, k)) < 0)
            return r;
        return run->seg;
    }
    if (single_end)
        return run->seg;
    int64_t advance = (int64_t)(tk[last - 1] - tb) * INPUT_STRIDE;
    return advance > 0 ? advance : run->seg; /* never the same window again with the same prompt */
}

/* One decode of the current window at temperature try_k · temperature_inc (encoding it first when needed);
 * then either the next temperature of the fallback ladder or the window's result and the next seek. */
int whisper_run_step(WhisperRun *run)
{
    Whisper *w = run->w;
    const WhisperOptions *o = &run->o;
    int M = w->cfg.n_mels, r;
    double t0;

    if (run->seek >= run->content)
        return 0;
    w->fast_on = w->fast != WHISPER_FAST_OFF; /* lossy kernels for text output, see whisper.h */
    if (run->enc_gen != w->run_encodes) /* another run's encoder stage ran since ours: encode again */
        run->enc_stage = 0;
    if (run->enc_stage <= w->cfg.n_audio_layer + 1) { /* one encoder stage per step */
        if (run->enc_stage == 0) {
            /* window [N_FRAMES, M]: frames seek.. of each mel bin, past the content zeros (pad_or_trim) or,
             * with pad_silence, the spectrogram of the appended silence */
            run->seg = run->content - run->seek < N_FRAMES ? run->content - run->seek : N_FRAMES;
            size_t keep = o->pad_silence ? N_FRAMES : (size_t)run->seg;
            for (int b = 0; b < M; b++) {
                float *dst = run->win + (size_t)b * N_FRAMES;
                memcpy(dst, run->mel + (size_t)b * (size_t)run->F + (size_t)run->seek, sizeof(float) * keep);
                memset(dst + keep, 0, sizeof(float) * (N_FRAMES - keep));
            }
            if (!run->counted) {
                run->st.n_windows++;
                run->try_k = 0;
                run->have_best = 0;
                window_prompt(run);
            }
            run->counted = 1;
        }
        t0 = clock_now_ms();
        r = whisper_encode_stage(w, run->win, N_FRAMES, run->enc_stage, NULL);
        run->st.encode_s += (clock_now_ms() - t0) / 1e3;
        if (r < 0) {
            log_error("whisper: encoder failed: %d", r);
            goto out;
        }
        run->enc_stage++;
        run->enc_gen = ++w->run_encodes;
        r = 1;
        goto out;
    }
    t0 = clock_now_ms();
    float temp = (float)run->try_k * o->temperature_inc;
    WindowResult *res = &run->res;
    if ((r = decode_window(w, o, run->prompt, run->n_prompt, temp, &run->rng, run->logits, res)) < 0) {
        log_error("whisper: decoder failed: %d", r);
        goto out;
    }
    run->st.decode_s += (clock_now_ms() - t0) / 1e3;
    int below = !(o->compression_ratio_threshold > 0 && res->compression_ratio > o->compression_ratio_threshold);
    int low_lp = res->avg_logprob < o->logprob_threshold;
    int fallback = !below || low_lp;
    if (o->no_speech_threshold > 0 && res->no_speech_prob > o->no_speech_threshold && low_lp)
        fallback = 0; /* silence */
    if (fallback) {
        /* remember the best failed try: under the compression threshold first, then by mean log-prob */
        if (!run->have_best || (below && !run->best_below) ||
            (below == run->best_below && res->avg_logprob > run->best.avg_logprob)) {
            WindowResult t = run->best;
            run->best = *res;
            *res = t;
            run->have_best = 1;
            run->best_below = below;
        }
        if (o->temperature_inc > 0 && (float)(run->try_k + 1) * o->temperature_inc <= 1.0f + 1e-6f) {
            run->try_k++; /* decode this window again, hotter, at the next step */
            run->st.n_fallbacks++;
            r = 1;
            goto out;
        }
        WindowResult t = run->best; /* every try failed: the best one is kept */
        run->best = *res;
        *res = t;
    }
    run->enc_stage = 0; /* the next window */
    run->counted = 0;
    run->st.n_tokens += res->n_tokens;
    if (o->no_speech_threshold > 0 && res->no_speech_prob > o->no_speech_threshold &&
        res->avg_logprob <= o->logprob_threshold) {
        run->st.n_silent++; /* skipped; the prompt history stays */
        run->seek += run->seg;
        r = run->seek < run->content;
        goto out;
    }
    int64_t advance = window_segments(run, res);
    if (advance < 0) {
        r = (int)advance;
        goto out;
    }
    if (!o->condition_on_previous_text || temp > o->prompt_reset_on_temperature)
        run->n_hist = 0;
    run->seek += advance;
    r = run->seek < run->content;
out:
    w->fast_on = 0;
    return r;
}

int whisper_run_text(WhisperRun *run, char **ret_text, WhisperStats *stats)
{
    size_t skip = 0;
    while (run->text && (run->text[skip] == ' ' || run->text[skip] == '\n'))
        skip++;
    char *s = strdup(run->text ? run->text + skip : "");
    if (!s)
        return -ENOMEM;
    *ret_text = s;
    if (stats)
        *stats = run->st;
    return 0;
}

int whisper_transcribe(Whisper *w, const float *pcm16k, size_t n, const WhisperOptions *opt, char **ret_text,
                       WhisperStats *stats)
{
    WhisperRun *run = NULL;
    int r;

    if (!ret_text)
        return -EINVAL;
    if ((r = whisper_run_begin(w, pcm16k, n, opt, &run)) < 0)
        return r;
    while ((r = whisper_run_step(run)) > 0) {
    }
    if (r == 0)
        r = whisper_run_text(run, ret_text, stats);
    whisper_run_free(run);
    return r;
}
