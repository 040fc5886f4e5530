/* speak-impl.h — the SpeakJob shared by speak-bus.c (loop side) and speak-job.c (worker and writer sides).
 * Not for other files: speak-job.h is the interface.
 */
#ifndef MYNA_DAEMON_SPEAK_IMPL_H
#define MYNA_DAEMON_SPEAK_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "speak-job.h"

struct SwrContext;
struct SpeakVoice;

/* A point of the output: once the writer has written `bytes`, `chars` characters of the text were heard. */
typedef struct {
    int64_t bytes;
    uint32_t chars;
} SpeakMark;

typedef struct SpeakJob {
    /* set by speak_method (loop), read-only afterwards */
    char *text;
    char voice_path[4096];   /* VOICE.onnx (its .json beside it) */
    double rate;             /* speaking rate: length_scale = voice's length_scale / rate */
    double noise_scale, noise_w; /* < 0: the voice's */
    int speaker;             /* speaker id */
    SpeakFormat format;
    int out_rate;            /* Hz of the output (0 = the voice's) */
    int native_rate;         /* the voice's (from its .json at the call) */
    int fd;                  /* owned: the output; the writer closes it */
    int sock;                /* fd is a socket (send with MSG_DONTWAIT | MSG_NOSIGNAL) */
    int to_speaker;          /* no fd: the daemon's speaker (config 'speaker'; f32 at the voice's rate) */
    char speaker_spec[4200]; /* "" PortAudio default, a device-name substring, or "file:PATH" (s16le twin) */
    double t_request;
    /* worker */
    struct SpeakVoice *voice; /* the loaded voice it holds a reference on (SpeakModel) */
    void *ph;                /* Phonemes of the text */
    int sentence;            /* sentence being decoded (utt) or next to encode */
    void *utt;               /* VitsUtt of that sentence (on voice's Vits) */
    int64_t f0, win;         /* next frame, next window's frames */
    struct SwrContext *swr;
    float *fbuf;             /* one window of floats (native rate) */
    float *rbuf;             /* the same resampled */
    int64_t rcap;
    uint8_t *obuf;           /* converted bytes */
    int64_t ocap;
    int started, synth_done;
    uint32_t chars_posted;
    int64_t out_samples;     /* samples queued for the writer (output rate) */
    int n_sentences;
    double synth_ms, t_first;
    char msg[256];           /* why it failed */
    /* writer thread (mu) */
    pthread_t th;
    int th_started;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    uint8_t *q;              /* bytes [q_head, q_len) wait to be written */
    size_t q_head, q_len, q_cap;
    int eof;                 /* the worker queued its last bytes */
    int stop;                /* job_free, or the job was cancelled: drop the queue, close, exit */
    int done;                /* the writer wrote everything and closed the fd */
    int werr;                /* < 0: the writer failed (wmsg) */
    char wmsg[200];
    int64_t written;         /* bytes written */
    SpeakMark *marks;        /* in bytes order */
    int n_marks, cap_marks, next_mark;
    atomic_int *cancel;      /* the job's flag (the writer drops what is queued once it is set) */
} SpeakJob;

/* The speaker plays one request at a time: 1 while a speaker SPEAK exists (set by speak_method, cleared by
 * speak_job_free). */
extern atomic_int speak_speaker_busy;

#endif
