/* endpoint.h — streaming utterance endpointer: 10 ms frames of 16 kHz mono audio in, speech-start and
 * speech-end events out, with the utterance's samples (pre-roll included) kept for the recogniser.
 *
 * What it is: the segmenter the voice loop and `myna listen` share. It runs a Vad (speech/vad.h, Silero or
 * the energy fallback) on 512-sample chunks and uses only its per-chunk speech probability:
 *   - a chunk with p >= threshold opens a candidate at that chunk (the "onset": CANDIDATE event);
 *   - min_speech_ms of chunks at or above neg_threshold confirm it: START, with the utterance back-dated to
 *     onset − pre_roll_ms. The VAD's probability rises tens to hundreds of milliseconds into a word (a
 *     plosive or a soft first syllable scores low), so without that pre-roll the first word is cut: the cause
 *     of `myna listen` dropping "Can you" and "What is" when it used vad.c's 30 ms speech_pad;
 *   - a candidate that falls below neg_threshold before it is confirmed is a REJECT; a candidate that begins
 *     within 600 ms of a rejected one is chained to it and the pre-roll counts from the first of the chain
 *     (at most 1.5 s back): a short first word and a pause ("What is … the capital") is the other way the
 *     first word was lost;
 *   - after START, hangover_ms of chunks below neg_threshold end it: END, the utterance ending end_pad_ms
 *     after the first silent chunk; speech that resumes within the hangover continues the utterance;
 *   - an utterance longer than max_utterance_ms is cut (END with forced = 1) and the next one starts at once.
 * Playback mode (endpoint_set_playback): while the assistant speaks, candidates need playback_threshold
 * (higher) — the barge-in guard against residual echo.
 * What it is not: an echo canceller (speech/aec.h runs before it), a turn model, or a resampler.
 * Nothing is allocated after endpoint_new; the history holds pre-roll + max_utterance_ms.
 */
#ifndef MYNA_ENDPOINT_H
#define MYNA_ENDPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "vad.h"

enum { ENDPOINT_FRAME = 160 /* 10 ms at 16 kHz */, ENDPOINT_MIN_PRE_ROLL_MS = 300 };

typedef struct {
    float threshold;          /* 0 = 0.5: p that opens a candidate */
    float neg_threshold;      /* 0 = threshold − 0.15: p below which a chunk counts as silence */
    float playback_threshold; /* 0 = 0.85: threshold while endpoint_set_playback(…, 1) */
    int min_speech_ms;        /* 0 = 250: candidate length that confirms speech */
    int hangover_ms;          /* 0 = 400: silence that ends an utterance */
    int pre_roll_ms;          /* 0 = 400; raised to ENDPOINT_MIN_PRE_ROLL_MS; 1..2000 */
    int end_pad_ms;           /* 0 = 300; at most hangover_ms */
    int max_utterance_ms;     /* 0 = 30000; 1000..120000 */
} EndpointConfig;

typedef enum {
    ENDPOINT_EVENT_NONE = 0,
    ENDPOINT_EVENT_CANDIDATE, /* p crossed the threshold: possible speech (barge-in ducks here) */
    ENDPOINT_EVENT_REJECT,    /* the candidate ended before min_speech_ms */
    ENDPOINT_EVENT_START,     /* confirmed speech */
    ENDPOINT_EVENT_END,       /* utterance complete: endpoint_utterance() gives its samples */
} EndpointEventType;

typedef struct {
    EndpointEventType type;
    int64_t onset;            /* stream sample of the first chunk at or above the threshold */
    int64_t start;            /* START/END: first sample of the utterance (first chained onset − pre-roll,
                                 >= 0) */
    int64_t end;              /* END: one past its last sample */
    int forced;               /* END: cut at max_utterance_ms while speech went on */
} EndpointEvent;

typedef struct Endpoint Endpoint;

/* vad is borrowed (reset here, then fed only by this endpointer). -EINVAL for a NULL vad, -ENOMEM. */
int endpoint_new(Vad *vad, const EndpointConfig *cfg, Endpoint **ret);
void endpoint_free(Endpoint *ep); /* accepts NULL */
/* Back to stream sample 0: history, candidate and VAD state cleared (the playback mode is kept). */
void endpoint_reset(Endpoint *ep);
void endpoint_set_playback(Endpoint *ep, int playing);
/* n in 1..VAD_CHUNK samples (ENDPOINT_FRAME is the loop's size); writes at most one event. -EINVAL for a
 * bad n or NULL pointers. */
int endpoint_feed(Endpoint *ep, const float *pcm, size_t n, EndpointEvent *ret_event);
/* End of stream: END for an open utterance (ending at the last sample fed), else NONE. */
void endpoint_flush(Endpoint *ep, EndpointEvent *ret_event);
/* The current utterance: after END (until the next feed) the finished one, while speech is open the part
 * so far (for partial transcripts). -ENOENT when there is none. Pointer borrowed from the endpointer. */
int endpoint_utterance(const Endpoint *ep, const float **ret_pcm, int64_t *ret_start, int64_t *ret_n);
int endpoint_in_speech(const Endpoint *ep);      /* START seen and no END yet */
float endpoint_last_prob(const Endpoint *ep);    /* p of the last chunk */
int64_t endpoint_position(const Endpoint *ep);   /* samples fed since the last reset */

#endif
