/* bargein.c — the barge-in state machine of bargein.h. */
#include "bargein.h"

#include <string.h>

void bargein_init(Bargein *b, const BargeinConfig *cfg)
{
    BargeinConfig c = cfg ? *cfg : (BargeinConfig){0};
    memset(b, 0, sizeof(*b));
    b->confirm = (int64_t)(c.confirm_ms > 0 ? c.confirm_ms : 400) * VAD_SAMPLE_RATE / 1000;
    b->false_alarm = (int64_t)(c.false_alarm_ms > 0 ? c.false_alarm_ms : 1000) * VAD_SAMPLE_RATE / 1000;
    if (b->false_alarm < b->confirm)
        b->false_alarm = b->confirm;
    b->onset = -1;
    b->min_erle = c.min_erle_db != 0 ? c.min_erle_db : 15.0f;
}

void bargein_set_erle(Bargein *b, float erle_db) { b->erle = erle_db; }

void bargein_playback_started(Bargein *b)
{
    b->state = BARGEIN_PLAYING;
    b->onset = b->run = -1;
}

void bargein_playback_ended(Bargein *b)
{
    b->state = BARGEIN_IDLE;
    b->onset = b->run = -1;
}

static BargeinAction stop(Bargein *b)
{
    b->state = BARGEIN_STOPPED;
    return BARGEIN_STOP;
}

BargeinAction bargein_on_event(Bargein *b, const EndpointEvent *ev, int64_t now)
{
    if (b->state == BARGEIN_PLAYING && ev->type == ENDPOINT_EVENT_CANDIDATE &&
        (b->min_erle < 0 || b->erle >= b->min_erle)) {
        b->state = BARGEIN_DUCKED;
        b->onset = b->run = ev->onset;
        b->acc = 0;
        return BARGEIN_DUCK;
    }
    if (b->state != BARGEIN_DUCKED)
        return BARGEIN_NONE;
    if (ev->type == ENDPOINT_EVENT_CANDIDATE && b->run < 0) {
        b->run = ev->onset;
    } else if ((ev->type == ENDPOINT_EVENT_END || ev->type == ENDPOINT_EVENT_REJECT) && b->run >= 0) {
        b->acc += now - b->run; /* the un-duck waits for the false-alarm timeout: no flapping on pauses */
        b->run = -1;
    }
    return bargein_tick(b, now);
}

BargeinAction bargein_on_words(Bargein *b, int n_new_words, int64_t now)
{
    (void)now;
    return b->state == BARGEIN_DUCKED && n_new_words > 0 ? stop(b) : BARGEIN_NONE;
}

BargeinAction bargein_tick(Bargein *b, int64_t now)
{
    if (b->state != BARGEIN_DUCKED)
        return BARGEIN_NONE;
    if (b->acc + (b->run >= 0 ? now - b->run : 0) >= b->confirm)
        return stop(b);
    if (now - b->onset >= b->false_alarm) {
        b->state = BARGEIN_PLAYING;
        b->onset = -1;
        return BARGEIN_UNDUCK;
    }
    return BARGEIN_NONE;
}

size_t bargein_heard_units(const int64_t *span_end, size_t n, int64_t played)
{
    size_t lo = 0, hi = n; /* first unit whose end is after `played` */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (span_end[mid] <= played)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}
