/* endpoint.c — the streaming endpointer of endpoint.h: frames → 512-sample VAD chunks → a three-state
 * machine (idle, candidate, speech) over the per-chunk speech probability, and one linear history buffer.
 * Why its own state machine rather than vad.c's segmenter: the threshold changes at run time (playback
 * mode), the candidate is reported before it is confirmed (barge-in ducks on it), and the utterance's
 * samples are kept here with the pre-roll. Hysteresis as Silero's reference get_speech_timestamps: speech
 * resumes within the hangover only at p >= threshold; chunks between the two thresholds neither extend nor
 * restart the silence run. Not here: any model code (the Vad computes p). */
#include "endpoint.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef enum { EP_IDLE, EP_CANDIDATE, EP_SPEECH } EpState;

/* A short first word ("What is", 200 ms) followed by a pause is a candidate the VAD rejects; the speech
 * after it is confirmed on its own. A candidate that begins within CHAIN_GAP_MS of a rejected one inherits
 * its first onset (no further back than CHAIN_MAX_MS), so the pre-roll counts from the first word. */
enum { CHAIN_GAP_MS = 600, CHAIN_MAX_MS = 1500 };

struct Endpoint {
    Vad *vad;                  /* borrowed */
    float thr, neg_gap, play_thr;
    int64_t min_speech, hangover, pre_roll, end_pad, max_utt, keep; /* samples */
    int playing;
    float chunk[VAD_CHUNK];
    size_t chunk_len;
    float *hist;               /* owned: stream samples [base, base + len) */
    int64_t cap, base, len, pos;
    EpState state;
    float last_p;
    int64_t onset, utt_start, temp_end; /* temp_end: first silent chunk in speech, -1 if none */
    int64_t first_onset;                /* onset of the earliest candidate chained to this one */
    int64_t rej_first, rej_end;         /* the last rejected candidate's chain: first onset, end; -1 if none */
    int64_t done_start, done_end;       /* the finished utterance, valid until the next feed; -1 if none */
};

static int64_t ms_to_samples(int ms) { return (int64_t)ms * VAD_SAMPLE_RATE / 1000; }

static int clamp_ms(int v, int dflt, int lo, int hi)
{
    if (v <= 0)
        v = dflt;
    return v < lo ? lo : v > hi ? hi : v;
}

int endpoint_new(Vad *vad, const EndpointConfig *cfg, Endpoint **ret)
{
    EndpointConfig c = cfg ? *cfg : (EndpointConfig){0};
    Endpoint *ep;

    if (!vad || !ret)
        return -EINVAL;
    if (!(ep = calloc(1, sizeof(*ep))))
        return -ENOMEM;
    ep->vad = vad;
    ep->thr = c.threshold > 0 && c.threshold < 1 ? c.threshold : 0.5f;
    float neg = c.neg_threshold > 0 && c.neg_threshold <= ep->thr ? c.neg_threshold : ep->thr - 0.15f;
    ep->neg_gap = ep->thr - (neg > 0.01f ? neg : 0.01f);
    ep->play_thr = c.playback_threshold > 0 && c.playback_threshold < 1 ? c.playback_threshold : 0.85f;
    if (ep->play_thr < ep->thr)
        ep->play_thr = ep->thr;
    ep->min_speech = ms_to_samples(clamp_ms(c.min_speech_ms, 250, 64, 2000));
    ep->hangover = ms_to_samples(clamp_ms(c.hangover_ms, 400, 32, 5000));
    ep->pre_roll = ms_to_samples(clamp_ms(c.pre_roll_ms, 400, ENDPOINT_MIN_PRE_ROLL_MS, 2000));
    ep->end_pad = ms_to_samples(clamp_ms(c.end_pad_ms, 300, 1, 5000));
    if (ep->end_pad > ep->hangover)
        ep->end_pad = ep->hangover;
    ep->max_utt = ms_to_samples(clamp_ms(c.max_utterance_ms, 30000, 1000, 120000));
    /* idle history: the pre-roll before a chain of candidates (at most CHAIN_MAX) whose last onset is up
     * to min_speech + one chunk old */
    ep->keep = ep->pre_roll + ms_to_samples(CHAIN_MAX_MS) + ep->min_speech + 2 * VAD_CHUNK;
    ep->cap = ep->max_utt + ep->keep + VAD_SAMPLE_RATE + 4 * VAD_CHUNK;
    if (!(ep->hist = malloc((size_t)ep->cap * sizeof(float)))) {
        free(ep);
        return -ENOMEM;
    }
    endpoint_reset(ep);
    *ret = ep;
    return 0;
}

void endpoint_free(Endpoint *ep)
{
    if (!ep)
        return;
    free(ep->hist);
    free(ep);
}

void endpoint_reset(Endpoint *ep)
{
    vad_reset(ep->vad);
    ep->chunk_len = 0;
    ep->base = ep->len = ep->pos = 0;
    ep->state = EP_IDLE;
    ep->last_p = 0;
    ep->onset = ep->utt_start = ep->temp_end = ep->first_onset = -1;
    ep->rej_first = ep->rej_end = -1;
    ep->done_start = ep->done_end = -1;
}

void endpoint_set_playback(Endpoint *ep, int playing) { ep->playing = !!playing; }

/* Drop history before stream sample `from` (clamped to what is held). */
static void drop_before(Endpoint *ep, int64_t from)
{
    int64_t k = from - ep->base;
    if (k <= 0)
        return;
    if (k > ep->len)
        k = ep->len;
    memmove(ep->hist, ep->hist + k, (size_t)(ep->len - k) * sizeof(float));
    ep->len -= k;
    ep->base += k;
}

/* One complete chunk whose first sample is stream sample c0. */
static void on_chunk(Endpoint *ep, int64_t c0, EndpointEvent *ev)
{
    float p = 0, thr = ep->playing ? ep->play_thr : ep->thr, neg = thr - ep->neg_gap;
    int64_t c1 = c0 + VAD_CHUNK;

    vad_process(ep->vad, ep->chunk, &p, NULL);
    ep->last_p = p;
    switch (ep->state) {
    case EP_IDLE:
        if (p >= thr) {
            ep->state = EP_CANDIDATE;
            ep->onset = ep->first_onset = c0;
            if (ep->rej_end >= 0 && c0 - ep->rej_end <= ms_to_samples(CHAIN_GAP_MS) &&
                c0 - ep->rej_first <= ms_to_samples(CHAIN_MAX_MS))
                ep->first_onset = ep->rej_first;
            *ev = (EndpointEvent){.type = ENDPOINT_EVENT_CANDIDATE, .onset = c0, .start = -1, .end = -1};
        }
        break;
    case EP_CANDIDATE:
        if (p < neg) {
            ep->state = EP_IDLE;
            *ev = (EndpointEvent){.type = ENDPOINT_EVENT_REJECT, .onset = ep->onset, .start = -1, .end = -1};
            ep->rej_first = ep->first_onset;
            ep->rej_end = c0;
            ep->onset = -1;
        } else if (c1 - ep->onset >= ep->min_speech) {
            ep->state = EP_SPEECH;
            ep->utt_start = ep->first_onset - ep->pre_roll > 0 ? ep->first_onset - ep->pre_roll : 0;
            ep->rej_first = ep->rej_end = -1;
            if (ep->utt_start < ep->base)
                ep->utt_start = ep->base; /* not reached: keep covers it (endpoint_new) */
            ep->temp_end = -1;
            drop_before(ep, ep->utt_start);
            *ev = (EndpointEvent){.type = ENDPOINT_EVENT_START, .onset = ep->onset, .start = ep->utt_start,
                                  .end = -1};
        }
        break;
    case EP_SPEECH:
        if (p < neg) {
            if (ep->temp_end < 0)
                ep->temp_end = c0;
        } else if (p >= thr) {
            ep->temp_end = -1;
        }
        if (ep->temp_end >= 0 && c1 - ep->temp_end >= ep->hangover) {
            *ev = (EndpointEvent){.type = ENDPOINT_EVENT_END, .onset = ep->onset, .start = ep->utt_start,
                                  .end = ep->temp_end + ep->end_pad};
            ep->state = EP_IDLE;
        } else if (c1 - ep->utt_start >= ep->max_utt) {
            *ev = (EndpointEvent){.type = ENDPOINT_EVENT_END, .onset = ep->onset, .start = ep->utt_start,
                                  .end = c1, .forced = 1};
            ep->utt_start = ep->onset = c1; /* speech goes on: the next utterance starts here */
            ep->temp_end = -1;
        }
        if (ev->type == ENDPOINT_EVENT_END) {
            ep->done_start = ev->start;
            ep->done_end = ev->end;
        }
        break;
    }
}

int endpoint_feed(Endpoint *ep, const float *pcm, size_t n, EndpointEvent *ret_event)
{
    EndpointEvent ev = {.type = ENDPOINT_EVENT_NONE, .onset = -1, .start = -1, .end = -1};

    if (!ep || !pcm || !ret_event || n == 0 || n > VAD_CHUNK)
        return -EINVAL;
    if (ep->done_end >= 0) { /* the finished utterance was readable until this call */
        ep->done_start = ep->done_end = -1;
        drop_before(ep, ep->state == EP_SPEECH ? ep->utt_start : ep->pos - ep->keep);
    }
    if (ep->state != EP_SPEECH && ep->len > ep->keep + VAD_SAMPLE_RATE)
        drop_before(ep, ep->pos - ep->keep);
    if (ep->len + (int64_t)n > ep->cap) /* cannot happen: max_utt cuts speech first */
        drop_before(ep, ep->base + (int64_t)n);
    memcpy(ep->hist + ep->len, pcm, n * sizeof(float));
    ep->len += (int64_t)n;
    ep->pos += (int64_t)n;
    size_t take = VAD_CHUNK - ep->chunk_len < n ? VAD_CHUNK - ep->chunk_len : n;
    memcpy(ep->chunk + ep->chunk_len, pcm, take * sizeof(float));
    ep->chunk_len += take;
    if (ep->chunk_len == VAD_CHUNK) {
        int64_t c0 = ep->pos - (int64_t)(n - take) - VAD_CHUNK;
        on_chunk(ep, c0, &ev);
        ep->chunk_len = n - take;
        memcpy(ep->chunk, pcm + take, ep->chunk_len * sizeof(float));
    }
    *ret_event = ev;
    return 0;
}

void endpoint_flush(Endpoint *ep, EndpointEvent *ret_event)
{
    EndpointEvent ev = {.type = ENDPOINT_EVENT_NONE, .onset = -1, .start = -1, .end = -1};

    if (ep->state == EP_SPEECH) {
        int64_t end = ep->temp_end >= 0 ? ep->temp_end + ep->end_pad : ep->pos;
        ev = (EndpointEvent){.type = ENDPOINT_EVENT_END, .onset = ep->onset, .start = ep->utt_start,
                             .end = end < ep->pos ? end : ep->pos};
        ep->done_start = ev.start;
        ep->done_end = ev.end;
    }
    ep->state = EP_IDLE;
    ep->onset = -1;
    *ret_event = ev;
}

int endpoint_utterance(const Endpoint *ep, const float **ret_pcm, int64_t *ret_start, int64_t *ret_n)
{
    int64_t s, e;

    if (ep->done_end >= 0) {
        s = ep->done_start;
        e = ep->done_end;
    } else if (ep->state == EP_SPEECH) {
        s = ep->utt_start;
        e = ep->pos;
    } else {
        return -ENOENT;
    }
    if (s < ep->base)
        s = ep->base;
    if (ret_pcm)
        *ret_pcm = ep->hist + (s - ep->base);
    if (ret_start)
        *ret_start = s;
    if (ret_n)
        *ret_n = e - s;
    return 0;
}

int endpoint_in_speech(const Endpoint *ep) { return ep->state == EP_SPEECH; }
float endpoint_last_prob(const Endpoint *ep) { return ep->last_p; }
int64_t endpoint_position(const Endpoint *ep) { return ep->pos; }
