/* test-tts-roundtrip.c — Myna speaks, Myna listens: 22 sentences synthesised by the Piper voice
 * en_US-joe-medium (speech/tts/vits-say.h: espeak-ng phonemes, VITS, the voice's own noise/length/noise_w
 * scales from its .json, a fixed seed) and transcribed by Whisper tiny.en (speech/whisper.h, default
 * decoding options). The 22050 Hz output goes through the project's decoder and resampler
 * (speech/audio.h, libswresample) as an in-memory float WAV, to 16 kHz.
 *
 * Word error rate over all sentences must be <= 10 %. Both texts are normalised the same way before the
 * word-level edit distance: lowercase, punctuation dropped (apostrophes inside words kept, hyphens split
 * words), "%" read as "percent", and NUMBERS AS WORDS ON BOTH SIDES: every run of digits (commas between
 * digits ignored) is spelled out below a million without "and" ("250" → "two hundred fifty"), so the
 * reference may say "15" and Whisper "fifteen", or the other way round. The sentences include numbers, questions
 * and one long sentence; per-sentence results are printed.
 * 77 (skip) without espeak-ng or FFmpeg in the build, or when the voice or whisper-tiny.en is not installed
 * (scripts/fetch-models; MYNA_MODELS_DIR as everywhere).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h" /* HAVE_ESPEAK, HAVE_FFMPEG */
#include "paths.h"
#include "test-util.h"

#if HAVE_ESPEAK && HAVE_FFMPEG
#include "audio.h"
#include "tts/vits-say.h"
#include "whisper.h"

static const char *const k_sentences[] = {
    "Hello, how are you today?",
    "Please set a timer for 15 minutes.",
    "The train leaves at 7 in the morning.",
    "What is the capital of France?",
    "I have 3 brothers and 2 sisters.",
    "Turn off the lights in the kitchen.",
    "Could you remind me to call my mother tomorrow evening?",
    "The package weighs 12 pounds.",
    "It was a bright cold day in April.",
    "We need to buy milk, bread, and eggs.",
    "My phone number ends in 42.",
    "The museum opens at 9 and closes at 5.",
    "Where did you park the car?",
    "She read 100 pages of the book last night.",
    ("When the weather is nice, we like to walk along the river, stop at the small coffee shop near the "
     "bridge, and watch the boats go by until the sun goes down."),
    "The meeting has been moved to Thursday afternoon.",
    "Can you play some relaxing music?",
    "There are 24 hours in a day and 60 minutes in an hour.",
    "Thank you very much for your help.",
    "The children played in the park after school.",
    "How many people live in this city?",
    "Add 250 grams of flour to the bowl.",
};
enum { N_SENT = sizeof(k_sentences) / sizeof(k_sentences[0]), MAX_WORDS = 128, WORD_LEN = 32 };

/* ---- normaliser ------------------------------------------------------------------------------------ */

typedef struct {
    char w[MAX_WORDS][WORD_LEN];
    int n;
} Words;

static void add_word(Words *ws, const char *s)
{
    if (ws->n < MAX_WORDS)
        snprintf(ws->w[ws->n++], WORD_LEN, "%s", s);
}

static const char *const k_ones[20] = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                                       "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen",
                                       "sixteen", "seventeen", "eighteen", "nineteen"};
static const char *const k_tens[10] = {"", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty",
                                       "ninety"};

static void spell_below_1000(Words *ws, long v)
{
    if (v >= 100) {
        add_word(ws, k_ones[v / 100]);
        add_word(ws, "hundred");
        v %= 100;
        if (!v)
            return;
    }
    if (v >= 20) {
        add_word(ws, k_tens[v / 10]);
        if (v % 10)
            add_word(ws, k_ones[v % 10]);
    } else {
        add_word(ws, k_ones[v]);
    }
}

/* A digit string as words (below a million; longer ones stay digits). */
static void add_number(Words *ws, const char *digits)
{
    if (strlen(digits) > 6) {
        add_word(ws, digits);
        return;
    }
    const long v = strtol(digits, NULL, 10);
    if (v >= 1000) {
        spell_below_1000(ws, v / 1000);
        add_word(ws, "thousand");
        if (v % 1000)
            spell_below_1000(ws, v % 1000);
    } else {
        spell_below_1000(ws, v);
    }
}

static void words(const char *text, Words *ws)
{
    char cur[WORD_LEN];
    int len = 0, digits = 0;
    ws->n = 0;
    for (const unsigned char *p = (const unsigned char *)text;; p++) {
        int c = *p;
        if (c == 0xE2 && p[1] == 0x80 && p[2] == 0x99) /* ’ → ' */
            c = '\'', p += 2;
        if (c == ',' && digits && len > 0 && isdigit(p[1])) /* 1,000 */
            continue;
        const int digit = isdigit(c) != 0;
        /* a word ends at a non-word character or where digits meet letters ("12pm") */
        if (len > 0 && (!(isalnum(c) || c == '\'') || digit != digits)) {
            while (len > 0 && cur[len - 1] == '\'')
                len--;
            cur[len] = 0;
            if (len > 0)
                digits ? add_number(ws, cur) : add_word(ws, cur);
            len = 0;
        }
        if (c == '%')
            add_word(ws, "percent");
        if (!c)
            break;
        if ((isalnum(c) || (c == '\'' && len > 0)) && len < WORD_LEN - 1) {
            cur[len++] = (char)tolower(c);
            digits = digit;
        }
    }
}

/* Word-level Levenshtein distance. */
static int edit_distance(const Words *a, const Words *b)
{
    static int d[MAX_WORDS + 1][MAX_WORDS + 1];
    for (int i = 0; i <= a->n; i++)
        d[i][0] = i;
    for (int j = 0; j <= b->n; j++)
        d[0][j] = j;
    for (int i = 1; i <= a->n; i++)
        for (int j = 1; j <= b->n; j++) {
            const int sub = d[i - 1][j - 1] + (strcmp(a->w[i - 1], b->w[j - 1]) != 0);
            const int del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
    return d[a->n][b->n];
}

/* The normaliser itself: both spellings of a number meet, punctuation and case vanish. */
static void test_normaliser(void)
{
    Words a, b;
    words("Add 250 grams, then 1,000 more: 42%!", &a);
    words("add two hundred fifty grams then one thousand more forty two percent", &b);
    CHECK_INT(a.n, b.n);
    CHECK_INT(edit_distance(&a, &b), 0);
    words("I\xE2\x80\x99ll call at 7pm.", &a);
    words("i'll call at seven pm", &b);
    CHECK_INT(edit_distance(&a, &b), 0);
    words("the cat sat", &a);
    words("a cat sat down", &b);
    CHECK_INT(edit_distance(&a, &b), 2);
}

/* ---- synthesis → 16 kHz ------------------------------------------------------------------------------ */

typedef struct {
    float *pcm;
    int64_t n, cap;
} Pcm;

static int collect(void *ctx, const float *pcm, int64_t n)
{
    Pcm *b = ctx;
    if (b->n + n > b->cap) {
        int64_t cap = b->cap ? b->cap : 65536;
        while (cap < b->n + n)
            cap *= 2;
        float *p = realloc(b->pcm, (size_t)cap * sizeof(float));
        if (!p)
            return -ENOMEM;
        b->pcm = p, b->cap = cap;
    }
    memcpy(b->pcm + b->n, pcm, (size_t)n * sizeof(float));
    b->n += n;
    return 0;
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8), p[2] = (unsigned char)(v >> 16),
    p[3] = (unsigned char)(v >> 24);
}

/* n float samples at rate → a float32 mono WAV in memory → audio_decode_memory at 16 kHz. */
static int to_16k(const float *pcm, int64_t n, int rate, AudioPcm *out, char *err, size_t err_len)
{
    const size_t data = (size_t)n * 4, size = 44 + data;
    unsigned char *w = malloc(size);
    if (!w)
        return -ENOMEM;
    memcpy(w, "RIFF", 4), put32(w + 4, (uint32_t)(size - 8)), memcpy(w + 8, "WAVEfmt ", 8);
    put32(w + 16, 16);
    put32(w + 20, 3u | (1u << 16));             /* WAVE_FORMAT_IEEE_FLOAT, 1 channel */
    put32(w + 24, (uint32_t)rate);
    put32(w + 28, (uint32_t)rate * 4);
    put32(w + 32, 4u | (32u << 16));            /* block align 4, 32 bits */
    memcpy(w + 36, "data", 4), put32(w + 40, (uint32_t)data);
    memcpy(w + 44, pcm, data);                  /* little-endian host (x86-64, aarch64) */
    AudioDecodeOptions o;
    audio_decode_options_default(&o);
    o.sample_rate = 16000;
    const int r = audio_decode_memory(w, size, &o, out, err, err_len);
    free(w);
    return r;
}

static int run(void)
{
    char vpath[4096], wdir[4096], probe[4200], err[512] = "";
    if (paths_model_file("en_US-joe-medium.onnx", vpath, sizeof(vpath)) < 0 ||
        paths_model_file("whisper-tiny.en", wdir, sizeof(wdir)) < 0)
        return 1;
    snprintf(probe, sizeof(probe), "%s/model.safetensors", wdir);
    if (access(vpath, R_OK) != 0 || access(probe, R_OK) != 0) {
        fprintf(stderr, "SKIP: %s or %s not installed (scripts/fetch-models)\n", vpath, wdir);
        return 77;
    }
    Backend *be = NULL;
    Voice *voice = NULL;
    Vits *v = NULL;
    Whisper *wh = NULL;
    CHECK_INT(backend_cpu_new(0, &be), 0);
    if (!be)
        return test_exit();
    CHECK_INT(voice_load(be, vpath, NULL, &voice, err, sizeof(err)), 0);
    if (voice)
        CHECK_INT(vits_new(be, &voice->cfg, &voice->w, &v, err, sizeof(err)), 0);
    if (v)
        CHECK_INT(whisper_load(wdir, be, &wh, err, sizeof(err)), 0);
    if (!wh) {
        fprintf(stderr, "load: %s\n", err);
        goto out;
    }
    VitsParams p = vits_params_default(&voice->cfg);
    p.seed = 1234;
    WhisperOptions wo;
    whisper_options_default(&wo);
    fprintf(stderr, "voice scales: noise %.3f, length %.3f, noise_w %.3f; seed %llu\n", p.noise_scale,
            p.length_scale, p.noise_w, (unsigned long long)p.seed);
    int total_words = 0, total_err = 0;
    double total_audio = 0;
    for (int i = 0; i < N_SENT; i++) {
        Pcm b = {0};
        VitsSayStats st;
        AudioPcm a16 = {0};
        char *text = NULL;
        int r = vits_say(v, voice, k_sentences[i], &p, collect, &b, &st, err, sizeof(err));
        CHECK_INT(r, 0);
        CHECK(b.n > voice->cfg.sample_rate / 4); /* at least a quarter second of speech */
        if (r == 0 && b.n > 0) {
            r = to_16k(b.pcm, b.n, voice->cfg.sample_rate, &a16, err, sizeof(err));
            CHECK_INT(r, 0);
            /* libswresample keeps the length: n·16000/22050 within a few samples */
            const int64_t want = b.n * 16000 / voice->cfg.sample_rate;
            CHECK(a16.n_samples >= want - 32 && a16.n_samples <= want + 32);
        }
        if (r == 0 && a16.n_samples > 0)
            CHECK_INT(whisper_transcribe(wh, a16.samples, (size_t)a16.n_samples, &wo, &text, NULL), 0);
        if (r < 0)
            fprintf(stderr, "[%2d] %s\n", i, err);
        Words ref, hyp;
        words(k_sentences[i], &ref);
        words(text ? text : "", &hyp);
        const int e = edit_distance(&ref, &hyp);
        fprintf(stderr, "[%2d] %4.1f s  WER %5.1f%% (%d/%d)  ref: %s\n                              hyp: %s\n", i,
                (double)b.n / voice->cfg.sample_rate, 100.0 * e / ref.n, e, ref.n, k_sentences[i],
                text ? text : "(none)");
        total_words += ref.n;
        total_err += e;
        total_audio += (double)b.n / voice->cfg.sample_rate;
        free(text);
        audio_pcm_free(&a16);
        free(b.pcm);
    }
    const double wer = (double)total_err / total_words;
    fprintf(stderr, "overall WER %.1f%% (%d errors / %d words, %d sentences, %.1f s of speech)\n", 100 * wer,
            total_err, total_words, N_SENT, total_audio);
    CHECK(wer <= 0.10);
out:
    whisper_free(wh);
    vits_free(v);
    voice_free(voice);
    backend_free(be);
    return test_exit();
}

int main(void)
{
    test_normaliser();
    return run();
}

#else
int main(void)
{
    fprintf(stderr, "SKIP: built without espeak-ng or FFmpeg\n");
    return 77;
}
#endif
