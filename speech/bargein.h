/* bargein.h — the barge-in decision while the assistant speaks: duck, confirm and stop, or un-duck.
 *
 * What it is: a pure state machine over the endpointer's events (speech/endpoint.h, run in playback mode on
 * the echo-cancelled microphone) and a microphone sample clock; it returns actions, the caller applies them:
 *   PLAYING --CANDIDATE--> DUCKED (action DUCK: ≈ -12 dB at once; the candidate arrives one 32 ms VAD chunk
 *   after its onset, inside the 150 ms budget) --confirm_ms of speech (the candidate runs since the first
 *   one added up: "Wait, … stop" is two short runs), or recognised words that are not the text being
 *   played--> STOPPED (action STOP: cancel synthesis and the LM, flush playback,
 *   trim the history with bargein_heard_units); DUCKED --no confirmation within false_alarm_ms of the
 *   onset--> PLAYING (action UNDUCK: "mhm", a cough, residual echo). While the echo canceller's ERLE is below
 *   min_erle_db (not converged: the first second of playback, a changed echo path) candidates are ignored —
 *   half duplex — since the VAD would hear the assistant's own voice.
 * A headset (full duplex without guards) is the caller's choice: it can confirm on START directly.
 * What it is not: audio processing, timing (the caller's clock is the sample counter), or a turn model.
 */
#ifndef MYNA_BARGEIN_H
#define MYNA_BARGEIN_H

#include <stddef.h>
#include <stdint.h>

#include "endpoint.h"

typedef enum { BARGEIN_IDLE = 0, BARGEIN_PLAYING, BARGEIN_DUCKED, BARGEIN_STOPPED } BargeinState;
typedef enum { BARGEIN_NONE = 0, BARGEIN_DUCK, BARGEIN_UNDUCK, BARGEIN_STOP } BargeinAction;

typedef struct {
    int confirm_ms;           /* 0 = 400: speech from the onset that confirms an interruption */
    int false_alarm_ms;       /* 0 = 1000: ducked this long from the onset without confirmation → un-duck */
    float min_erle_db;        /* 0 = 15: below it (echo cancellation not converged) candidates are ignored:
                                 half duplex; negative = never (a headset) */
} BargeinConfig;

typedef struct {
    BargeinState state;
    int64_t confirm, false_alarm; /* samples */
    int64_t onset;                /* the candidate's onset (mic samples), -1 if none */
    int64_t acc, run;             /* speech in closed candidate runs since the duck; open run's onset or -1 */
    float min_erle, erle;         /* dB; erle from bargein_set_erle */
} Bargein;

void bargein_init(Bargein *b, const BargeinConfig *cfg);
void bargein_playback_started(Bargein *b); /* → PLAYING (from any state) */
void bargein_playback_ended(Bargein *b);   /* → IDLE: playback finished on its own */
/* The canceller's ERLE estimate (aec_erle_db), every frame: the half-duplex guard. */
void bargein_set_erle(Bargein *b, float erle_db);
/* An endpointer event at mic sample `now`. */
BargeinAction bargein_on_event(Bargein *b, const EndpointEvent *ev, int64_t now);
/* The recogniser heard n_new_words words that are not in the text being played (partial transcript). */
BargeinAction bargein_on_words(Bargein *b, int n_new_words, int64_t now);
/* Time passing (call every frame): confirmation by duration, or the false-alarm timeout. */
BargeinAction bargein_tick(Bargein *b, int64_t now);
/* How many text units (characters, phonemes) were heard: unit i ends at span_end[i] samples of the played
 * stream (non-decreasing); `played` is the speaker's played-sample counter for that stream. */
size_t bargein_heard_units(const int64_t *span_end, size_t n, int64_t played);

#endif
