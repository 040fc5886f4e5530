/* test-endpoint.c — the streaming endpointer (speech/endpoint.c).
 * `test-endpoint` (suite unit, energy VAD): speech-like bursts at known times each give CANDIDATE → START →
 * END with the utterance starting >= 300 ms before the onset and covering the whole burst; a blip shorter
 * than min_speech is a REJECT; a burst at a level that opens a candidate normally is ignored in playback
 * mode while a loud one still is not; speech longer than max_utterance_ms is cut into contiguous pieces;
 * while speech is open, endpoint_utterance gives the input from the utterance's start to the last sample fed;
 * feeding in odd frame sizes gives the same events as 10 ms frames; bad arguments are refused. Then (when
 * espeak-ng and ffmpeg are installed) questions synthesized by espeak-ng (three voices, two rates) placed
 * 1.2 s into noise: each utterance starts before the clip's energy onset (first 10 ms frame within 35 dB of
 * the clip's loudest) and ends after its energy offset.
 * `test-endpoint --silero` (suite model; 77 without models/silero-vad.safetensors): the same questions with
 * Silero — the onset Silero reports lies after the energy onset (the reason for the pre-roll: with vad.c's
 * old 30 ms pad the utterance began up to that far into the first word), and the utterance still includes it.
 * `test-endpoint --whisper` (suite model; 77 without Whisper tiny.en or Silero): each utterance the endpointer
 * cuts, padded as `myna listen` sends it, transcribes with the sentence's first word; the cut vad.c's own
 * segmenter makes (what `myna listen` sent before) is transcribed and printed for comparison, not asserted. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "endpoint.h"
#include "paths.h"
#include "test-util.h"
#include "whisper.h"

enum { SR = VAD_SAMPLE_RATE };

/* Speech-like bursts (harmonics of 140 Hz + noise) of the given amplitudes at [start_ms, end_ms) over a
 * -70 dBFS floor. */
static float *synth(int64_t n, const int (*bursts)[2], const float *amp, int nb)
{
    float *x = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        double t = (double)i / SR, v = 3e-4 * (2 * test_rng_uniform() - 1);
        for (int b = 0; b < nb; b++)
            if (t * 1000 >= bursts[b][0] && t * 1000 < bursts[b][1])
                v += amp[b] * (sin(2 * M_PI * 140 * t) + 0.5 * sin(2 * M_PI * 280 * t) +
                               0.3 * sin(2 * M_PI * 420 * t) + 0.5 * (2 * test_rng_uniform() - 1));
        x[i] = (float)v;
    }
    return x;
}

typedef struct {
    int n_cand, n_reject, n_start, n_end, n_forced;
    int64_t onset[16], start[16], end[16], utt_n[16];
    int n_utt_ok;           /* END events whose endpoint_utterance matched [start, end) */
    int n_partial, n_partial_ok; /* frames in speech; those whose open utterance matched the input */
} Trace;

/* Run a whole buffer through ep in frames of the given sizes (cycled). */
static void run(Endpoint *ep, const float *x, int64_t n, const size_t *sizes, int n_sizes, Trace *t)
{
    EndpointEvent ev;
    memset(t, 0, sizeof(*t));
    endpoint_reset(ep);
    for (int64_t i = 0, k = 0; i < n; k++) {
        size_t f = sizes[k % n_sizes];
        if ((int64_t)f > n - i)
            f = (size_t)(n - i);
        CHECK_INT(endpoint_feed(ep, x + i, f, &ev), 0);
        i += (int64_t)f;
        if (ev.type == ENDPOINT_EVENT_CANDIDATE)
            t->n_cand++;
        else if (ev.type == ENDPOINT_EVENT_REJECT)
            t->n_reject++;
        else if (ev.type == ENDPOINT_EVENT_START && t->n_start < 16)
            t->onset[t->n_start++] = ev.onset;
        if (endpoint_in_speech(ep)) { /* the open utterance so far, for partial transcripts */
            const float *pcm;
            int64_t s, m;
            t->n_partial_ok += endpoint_utterance(ep, &pcm, &s, &m) == 0 && s + m == endpoint_position(ep) &&
                               !memcmp(pcm, x + s, (size_t)m * sizeof(float));
            t->n_partial++;
        }
        if (ev.type != ENDPOINT_EVENT_END)
            continue;
        const float *pcm;
        int64_t s, m;
        if (t->n_end < 16) {
            t->start[t->n_end] = ev.start;
            t->end[t->n_end] = ev.end;
            if (endpoint_utterance(ep, &pcm, &s, &m) == 0 && s == ev.start && m == ev.end - ev.start &&
                !memcmp(pcm, x + s, (size_t)m * sizeof(float)))
                t->n_utt_ok++;
            t->utt_n[t->n_end] = m;
        }
        t->n_end++;
        t->n_forced += ev.forced;
    }
    endpoint_flush(ep, &ev);
    if (ev.type == ENDPOINT_EVENT_END && t->n_end < 16) {
        t->start[t->n_end] = ev.start;
        t->end[t->n_end++] = ev.end;
        t->n_utt_ok++;
    }
}

static const size_t k_frame[] = {ENDPOINT_FRAME};

static void test_synthetic(void)
{
    static const int bursts[][2] = {{1000, 2500}, {4000, 4100}, {5500, 7300}};
    static const float amp[] = {0.1f, 0.1f, 0.1f};
    int64_t n = 9 * SR;
    float *x = synth(n, bursts, amp, 3);
    Vad *vad = NULL;
    Endpoint *ep = NULL;
    Trace t, t2;

    CHECK_INT(vad_new_energy(NULL, &vad), 0);
    CHECK_INT(endpoint_new(vad, NULL, &ep), 0);
    if (!ep)
        return;
    run(ep, x, n, k_frame, 1, &t);
    fprintf(stderr, "bursts: %d candidates, %d rejects, %d starts, %d ends\n", t.n_cand, t.n_reject, t.n_start,
            t.n_end);
    CHECK_INT(t.n_start, 2);
    CHECK_INT(t.n_end, 2);
    CHECK_INT(t.n_reject, 1); /* the 100 ms blip */
    CHECK_INT(t.n_cand, 3);
    CHECK_INT(t.n_utt_ok, 2);
    CHECK(t.n_partial > 200); /* ≈ 3 s of speech in 10 ms frames */
    CHECK_INT(t.n_partial_ok, t.n_partial);
    for (int i = 0; i < 2 && i < t.n_end; i++) {
        int b = i ? 2 : 0;
        double s = t.start[i] * 1000.0 / SR, e = t.end[i] * 1000.0 / SR, on = t.onset[i] * 1000.0 / SR;
        fprintf(stderr, "  utterance [%6.0f, %6.0f] ms, onset %6.0f, burst [%d, %d]\n", s, e, on, bursts[b][0],
                bursts[b][1]);
        CHECK(on - s >= ENDPOINT_MIN_PRE_ROLL_MS);   /* the pre-roll */
        CHECK(s <= bursts[b][0] - 300);
        CHECK(e >= bursts[b][1]);
        CHECK_NEAR(on, bursts[b][0], 40);            /* one chunk */
        CHECK(e <= bursts[b][1] + 300 + 64);         /* end pad + chunks */
    }
    /* odd frame sizes: the same events and samples */
    static const size_t odd[] = {7, 512, 160, 33, 1, 300};
    run(ep, x, n, odd, 6, &t2);
    CHECK_INT(t2.n_end, t.n_end);
    for (int i = 0; i < t.n_end && i < t2.n_end; i++) {
        CHECK_INT(t2.start[i], t.start[i]);
        CHECK_INT(t2.end[i], t.end[i]);
    }
    CHECK_INT(t2.n_utt_ok, 2);
    endpoint_free(ep);
    free(x);

    /* playback mode: a burst that opens a candidate (p ≈ 0.6 over the floor) is ignored while playing; a
     * loud one is not */
    static const int b2[][2] = {{1000, 2000}, {3500, 4500}};
    static const float amp2[] = {0.0046f, 0.1f}; /* ≈ -48 dBFS over a -65 dB floor: p 0.56..0.73 */
    x = synth(6 * SR, b2, amp2, 2);
    CHECK_INT(endpoint_new(vad, NULL, &ep), 0);
    run(ep, x, 6 * SR, k_frame, 1, &t);
    fprintf(stderr, "listening: %d utterances; ", t.n_end);
    CHECK_INT(t.n_end, 2);
    endpoint_set_playback(ep, 1);
    run(ep, x, 6 * SR, k_frame, 1, &t);
    fprintf(stderr, "playing: %d utterances\n", t.n_end);
    CHECK_INT(t.n_end, 1);
    CHECK(t.n_end == 1 && t.start[0] <= 3500 * SR / 1000 - 300 * SR / 1000);
    endpoint_free(ep);
    free(x);

    /* max_utterance_ms: 3.2 s of speech (+ pre-roll) in three 1 s pieces and the rest, contiguous */
    static const int b3[][2] = {{500, 3300}};
    static const float amp3[] = {0.1f};
    x = synth(5 * SR, b3, amp3, 1);
    CHECK_INT(endpoint_new(vad, &(EndpointConfig){.max_utterance_ms = 1000}, &ep), 0);
    run(ep, x, 5 * SR, k_frame, 1, &t);
    fprintf(stderr, "max 1 s: %d pieces (%d forced)\n", t.n_end, t.n_forced);
    CHECK_INT(t.n_forced, 3);
    CHECK_INT(t.n_end, 4);
    for (int i = 1; i < t.n_end && i < 16; i++)
        CHECK_INT(t.start[i], t.end[i - 1]);
    for (int i = 0; i < t.n_forced; i++)
        CHECK_NEAR(t.end[i] - t.start[i], SR, VAD_CHUNK);
    CHECK_INT(t.n_utt_ok, t.n_end);

    /* arguments */
    EndpointEvent ev;
    const float *pcm;
    CHECK_INT(endpoint_feed(ep, x, 0, &ev), -EINVAL);
    CHECK_INT(endpoint_feed(ep, x, VAD_CHUNK + 1, &ev), -EINVAL);
    CHECK_INT(endpoint_feed(ep, NULL, 10, &ev), -EINVAL);
    endpoint_reset(ep);
    CHECK_INT(endpoint_utterance(ep, &pcm, NULL, NULL), -ENOENT);
    Endpoint *bad = NULL;
    CHECK_INT(endpoint_new(NULL, NULL, &bad), -EINVAL);
    CHECK(bad == NULL);
    endpoint_free(ep);
    endpoint_free(NULL);
    vad_free(vad);
    free(x);
}

/* ---- questions synthesized with espeak-ng ------------------------------------------------------------- */

static const char *k_questions[] = {
    "Can you tell me how far it is to the station?",
    "What is the capital of Italy?",
    "Please set a timer for ten minutes.",
    "How many legs does a spider have?",
    "Tell me a joke about cats.",
    "Where is the nearest pharmacy?",
};
static const char *k_voices[] = {"en-us", "en", "en-us+f3"};
static const int k_rates[] = {150, 185};
enum { N_Q = sizeof(k_questions) / sizeof(k_questions[0]), N_V = 3, N_R = 2, LEAD = SR * 12 / 10, TAIL = SR };

static char g_tmp[] = "/tmp/myna-endpoint-XXXXXX";

/* The question at 16 kHz float, or NULL (reason printed). */
static float *say(const char *text, const char *voice, int rate, int64_t *ret_n)
{
    char cmd[1024], path[256];
    float *pcm = NULL;
    long size = 0;
    FILE *f;

    snprintf(cmd, sizeof(cmd), "espeak-ng -v %s -s %d -w '%s/q.wav' \"%s\" && ffmpeg -loglevel error -y "
             "-i '%s/q.wav' -ar 16000 -ac 1 -f f32le '%s/q.f32'", voice, rate, g_tmp, text, g_tmp, g_tmp);
    if (system(cmd) != 0) {
        fprintf(stderr, "espeak-ng/ffmpeg failed: %s\n", cmd);
        return NULL;
    }
    snprintf(path, sizeof(path), "%s/q.f32", g_tmp);
    if ((f = fopen(path, "rb")) && fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0 &&
        fseek(f, 0, SEEK_SET) == 0 && (pcm = malloc((size_t)size)) &&
        fread(pcm, 1, (size_t)size, f) != (size_t)size) {
        free(pcm);
        pcm = NULL;
    }
    if (f)
        fclose(f);
    *ret_n = size / 4;
    return pcm;
}

/* Energy onset/offset of a clean clip: first/last 10 ms frame within 35 dB of the loudest frame. */
static void energy_bounds(const float *x, int64_t n, int64_t *ret_on, int64_t *ret_off)
{
    double peak = 0;
    int64_t nf = n / ENDPOINT_FRAME;
    *ret_on = *ret_off = -1;
    for (int pass = 0; pass < 2; pass++)
        for (int64_t f = 0; f < nf; f++) {
            double e = 0;
            for (int i = 0; i < ENDPOINT_FRAME; i++)
                e += (double)x[f * ENDPOINT_FRAME + i] * x[f * ENDPOINT_FRAME + i];
            if (pass == 0 && e > peak)
                peak = e;
            if (pass == 1 && e >= peak * 3.16e-4) {
                if (*ret_on < 0)
                    *ret_on = f * ENDPOINT_FRAME;
                *ret_off = (f + 1) * ENDPOINT_FRAME;
            }
        }
}

/* Clip at LEAD into noise (-50 dBFS white, seeded), TAIL after. */
static float *embed(const float *q, int64_t nq, int64_t *ret_n)
{
    int64_t n = LEAD + nq + TAIL;
    float *x = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(0.0055 * (2 * test_rng_uniform() - 1)) + (i >= LEAD && i < LEAD + nq ? q[i - LEAD] : 0);
    *ret_n = n;
    return x;
}

static int first_word_matches(const char *ref, const char *hyp)
{
    char a[32] = "", b[32] = "";
    int i = 0, j = 0;
    while (*hyp && !isalpha((unsigned char)*hyp))
        hyp++;
    for (; ref[i] && isalpha((unsigned char)ref[i]) && i < 31; i++)
        a[i] = (char)tolower((unsigned char)ref[i]);
    for (; hyp[j] && isalpha((unsigned char)hyp[j]) && j < 31; j++)
        b[j] = (char)tolower((unsigned char)hyp[j]);
    return a[0] && !strcmp(a, b);
}

/* Transcribe samples [s, e) of x with 0.3 s of silence each side, as myna-listen sends an utterance. */
static char *transcribe(Whisper *w, const float *x, int64_t s, int64_t e)
{
    int64_t pad = SR * 3 / 10, n = e - s + 2 * pad;
    float *buf = calloc((size_t)n, sizeof(float));
    WhisperOptions o;
    WhisperStats st;
    char *text = NULL;
    memcpy(buf + pad, x + s, (size_t)(e - s) * sizeof(float));
    whisper_options_default(&o);
    if (whisper_transcribe(w, buf, (size_t)n, &o, &text, &st) < 0)
        text = NULL;
    free(buf);
    return text;
}

/* mode 0: energy VAD; 1: Silero; 2: Silero + Whisper. Returns 77 to skip. */
static int test_questions(int mode)
{
    char models[4096], path[4200], err[512] = "";
    Vad *vad = NULL;
    Endpoint *ep = NULL;
    Backend *be = NULL;
    Whisper *w = NULL;
    int n_first = 0, n_first_old = 0, n_clips = 0;
    double worst_margin = 1e9, worst_late = 0;

    if (system("command -v espeak-ng >/dev/null && command -v ffmpeg >/dev/null") != 0) {
        fprintf(stderr, "SKIP: espeak-ng or ffmpeg missing\n");
        return 77;
    }
    paths_models_dir(models, sizeof(models));
    if (mode == 0) {
        CHECK_INT(vad_new_energy(NULL, &vad), 0);
    } else {
        snprintf(path, sizeof(path), "%s/%s", models, VAD_MODEL_FILE);
        if (vad_new_silero(path, NULL, &vad, err, sizeof(err)) < 0) {
            fprintf(stderr, "SKIP: %s\n", err);
            return 77;
        }
    }
    if (mode == 2) {
        const char *wdir = getenv("MYNA_WHISPER_MODEL");
        snprintf(path, sizeof(path), "%s", wdir ? wdir : models);
        if (!wdir)
            snprintf(path, sizeof(path), "%s/whisper-tiny.en", models);
        if (backend_cpu_new(0, &be) < 0 || whisper_load(path, be, &w, err, sizeof(err)) < 0) {
            fprintf(stderr, "SKIP: Whisper tiny.en: %s\n", err);
            vad_free(vad);
            backend_free(be);
            return 77;
        }
    }
    if (!vad || !mkdtemp(g_tmp))
        return 1;
    CHECK_INT(endpoint_new(vad, NULL, &ep), 0);
    for (int qi = 0; ep && qi < N_Q; qi++)
        for (int vi = 0; vi < N_V; vi++)
            for (int ri = 0; ri < N_R; ri++) {
                if (mode == 2 && (vi == 2 || ri != 1))
                    continue; /* Whisper: two voices at the faster rate per question */
                int64_t nq, n, on, off;
                float *q = say(k_questions[qi], k_voices[vi], k_rates[ri], &nq), *x;
                Trace t;
                CHECK(q != NULL);
                if (!q)
                    continue;
                energy_bounds(q, nq, &on, &off);
                x = embed(q, nq, &n);
                on += LEAD;
                off += LEAD;
                run(ep, x, n, k_frame, 1, &t);
                n_clips++;
                CHECK_INT(t.n_end, 1);
                if (t.n_end >= 1 && t.n_start >= 1) {
                    double margin = (on - t.start[0]) * 1000.0 / SR, late = (t.onset[0] - on) * 1000.0 / SR;
                    fprintf(stderr, "[%s %d] %-46s energy [%5.0f, %5.0f] ms  vad onset %+5.0f ms  utterance "
                            "[%5.0f, %5.0f]\n", k_voices[vi], k_rates[ri], k_questions[qi], on * 1000.0 / SR,
                            off * 1000.0 / SR, late, t.start[0] * 1000.0 / SR, t.end[0] * 1000.0 / SR);
                    CHECK(t.start[0] <= on);                /* the first word's onset is inside */
                    CHECK(t.end[0] >= off - SR / 20);       /* and the last word's end (50 ms slack) */
                    CHECK(t.onset[0] - t.start[0] >= ENDPOINT_MIN_PRE_ROLL_MS * SR / 1000);
                    worst_margin = margin < worst_margin ? margin : worst_margin;
                    worst_late = late > worst_late ? late : worst_late;
                    if (mode == 2) {
                        VadSegment seg[8];
                        int ns = 0;
                        /* the old cut: vad.c's own segmenter (first run of p >= 0.5 − 30 ms) */
                        CHECK_INT(vad_segments(vad, x, n, seg, 8, &ns), 0);
                        int64_t old = ns > 0 ? seg[0].start : t.start[0];
                        char *a = transcribe(w, x, t.start[0], t.end[0]), *b = transcribe(w, x, old, t.end[0]);
                        int ok = a && first_word_matches(k_questions[qi], a);
                        n_first += ok;
                        n_first_old += b && first_word_matches(k_questions[qi], b);
                        fprintf(stderr, "    endpoint: %s\n    vad.c cut at %.0f ms: %s\n", a ? a : "(failed)",
                                old * 1000.0 / SR, b ? b : "(failed)");
                        CHECK(ok);
                        free(a);
                        free(b);
                    }
                }
                free(q);
                free(x);
            }
    fprintf(stderr, "%d clips: utterance starts >= %.0f ms before the energy onset; the VAD's onset is up to "
            "%.0f ms after it\n", n_clips, worst_margin, worst_late);
    if (mode == 2)
        fprintf(stderr, "first word kept: %d/%d with the endpointer, %d/%d with vad.c's segments\n", n_first, n_clips,
                n_first_old, n_clips);
    CHECK(n_clips > 0);
    endpoint_free(ep);
    vad_free(vad);
    whisper_free(w);
    backend_free(be);
    snprintf(path, sizeof(path), "rm -rf '%s'", g_tmp);
    CHECK_INT(system(path), 0);
    return 0;
}

int main(int argc, char **argv)
{
    int mode = argc > 1 && !strcmp(argv[1], "--silero") ? 1 : argc > 1 && !strcmp(argv[1], "--whisper") ? 2 : 0;
    if (mode == 0) {
        test_synthetic();
        test_questions(0); /* a skip here leaves the synthetic checks standing */
    } else if (test_questions(mode) == 77) {
        return 77;
    }
    return test_exit();
}
