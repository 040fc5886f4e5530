/* aec.h — acoustic echo cancellation for the voice loop: the microphone minus what the speaker played.
 *
 * What it is: SpeexDSP's MDF echo canceller (speex_echo_*, the sampling rate set to 16 kHz — without it the
 * state assumes 8 kHz and eats the near-end voice) on 10 ms frames with a 128–256 ms tail, followed by
 * speex_preprocess with the echo state attached for residual-echo suppression. The reference is exactly the
 * samples written to the speaker, each with its speaker sample counter (aec_playback); a microphone frame
 * with capture counter c is cancelled against the speaker samples c − delay … (aec_capture), so the two
 * clocks meet through counters, not through call order. delay = the speaker's output latency + the
 * microphone's input latency (PortAudio's figures) minus a lead of ≈ 20 ms, so the reference arrives a little
 * before its echo (a reference that arrives after its echo cannot be cancelled). Speaker samples never
 * written (silence, underruns) are zeros.
 * Double talk: MDF adapts slowly while the near end speaks and never needs the caller to say so; the ERLE
 * estimate (echo return loss enhancement, 10·log10 of microphone over linear-AEC output power, smoothed over
 * ≈ 0.5 s of far-end activity) skips frames whose output is far above the running estimate (near-end speech,
 * not divergence) so a user talking over playback does not read as "not converged". The loop falls back to
 * half duplex when aec_erle_db stays low after aec_far_ms of playback.
 * What it is not: a resampler (16 kHz mono in and out), a clock-drift compensator, or thread-safe (one thread
 * calls everything — the daemon's audio loop).
 */
#ifndef MYNA_AEC_H
#define MYNA_AEC_H

#include <stddef.h>
#include <stdint.h>

enum { AEC_SAMPLE_RATE = 16000, AEC_FRAME = 160 /* 10 ms */ };

typedef struct {
    int tail_ms;              /* 0 = 200; 128..256 */
    int delay_samples;        /* speaker counter = capture counter − delay; >= 0 */
    int residual;             /* 0 = on (speex_preprocess with the echo state); -1 = linear AEC only */
    int echo_suppress_db;     /* residual suppression, 0 = -40; while the near end is active: -15 */
    int history_ms;           /* reference kept for late capture frames; 0 = 1000 (>= delay + tail) */
} AecConfig;

typedef struct Aec Aec;

/* -ENOTSUP when built without SpeexDSP; -EINVAL for out-of-range config; -ENOMEM. */
int aec_new(const AecConfig *cfg, Aec **ret);
void aec_free(Aec *a); /* accepts NULL */
/* Forget the echo path and the reference (after a device reopen or a long pause). */
void aec_reset(Aec *a);
/* A new latency figure; -EINVAL when negative or beyond the reference history (history_ms − tail). */
int aec_set_delay(Aec *a, int delay_samples);
/* The speaker samples [pos, pos + n), in the order they are written to the device (any n). -EINVAL for a
 * negative pos or NULL pcm. */
int aec_playback(Aec *a, int64_t pos, const float *pcm, size_t n);
/* One microphone frame of AEC_FRAME samples at capture counter pos → out (echo removed; may alias mic). */
int aec_capture(Aec *a, int64_t pos, const float *mic, float *out);
float aec_erle_db(const Aec *a);   /* smoothed ERLE of the linear stage; 0 until the far end has played */
int64_t aec_far_ms(const Aec *a);  /* milliseconds of capture frames with an active reference so far */
int aec_available(void);           /* 1 when built with SpeexDSP */

#endif
