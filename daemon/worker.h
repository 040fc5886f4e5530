/* worker.h — mynad's inference worker (ARCHITECTURE.md §5): one thread that owns the backend and the
 * models, takes jobs from a queue (mutex + condvar; the service admits at most max_running_per_user jobs
 * of each Unix user and max_queued_total in all), interleaves the active sessions one unit at a time
 * (round-robin: a prefill, one decode step, one Whisper window — speech-job.h — or one image / video
 * frame — vision-job.h), polls each request's cancel flag before every unit, and posts tokens and completions to the loop thread through an eventfd.
 * Jobs arrive with their attachments already read (intake.h) and decoded (decode-pool.h): the worker never
 * reads a client's fd and never decodes media.
 * Not here: D-Bus (the loop thread turns events into signals), argument validation, limits.
 * Ownership: the loop allocates ASK and TRANSCRIBE jobs and frees them after their final event (FINISHED,
 * TRANSCRIBED or FAILED); RESET and CLOSE jobs, and WorkerSessions once CLOSE is queued, belong to the
 * worker.
 */
#ifndef MYNA_DAEMON_WORKER_H
#define MYNA_DAEMON_WORKER_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "audio.h"
#include "engine.h"
#include "lm.h"
#include "whisper.h"

typedef struct Worker Worker;
typedef struct WorkerSession WorkerSession;

typedef enum { JOB_ASK, JOB_RESET, JOB_CLOSE, JOB_TRANSCRIBE, JOB_SPEAK } JobKind;
#define JOB_LOOP_OWNED(k) ((k) == JOB_ASK || (k) == JOB_TRANSCRIBE || (k) == JOB_SPEAK)

/* How one audio input is decoded and transcribed (Transcribe options, or the defaults for attachments). */
typedef struct {
    WhisperOptions whisper;  /* .language is set by the worker from language[] */
    char language[16];       /* "" = the model's default (English) */
    AudioDecodeOptions audio;/* caps: max_audio_bytes, max_audio_seconds */
} SpeechOptions;

/* Defaults for audio attachments and Transcribe: whisper_options_default, the config's caps (speech-job.c). */
void speech_options_default(SpeechOptions *o, int max_audio_bytes, int max_audio_seconds);

enum { JOB_MAX_ATTACHMENTS = 16 };

/* An attachment on its way: fd (loop) → data (intake.h) → media or pcm (decode-pool.h) → the worker. */
typedef struct {
    MediaKind kind;
    int fd;                  /* owned (a dup of the message's fd) until intake read it, then -1 */
    uint8_t *data;           /* owned: the bytes intake read; freed once decoded */
    size_t size;
    MediaItem media;         /* owned: decoded frames (image, video) */
    AudioPcm pcm;            /* owned: decoded mono samples at 16 kHz (audio) */
} JobAttachment;

/* Where a loop-owned job is (the service's request path, requests.c). */
typedef enum { STAGE_INTAKE, STAGE_DECODE, STAGE_PENDING, STAGE_RUNNING } JobStage;

typedef struct Job {
    JobKind kind;
    uint64_t id;             /* request id (ASK) */
    WorkerSession *ws;
    char *text;              /* owned: the user message (ASK) */
    LmSampling sampling;
    atomic_int cancel;       /* set by the loop thread; polled by the worker before every token */
    void *user;              /* loop-side request */
    JobAttachment att[JOB_MAX_ATTACHMENTS];
    int n_att;
    MediaLimits media_limits; /* caps for decoding the attachments (from the config at Ask time) */
    SpeechOptions speech;    /* TRANSCRIBE, and audio attachments of an ASK */
    void *call;              /* loop-side (TRANSCRIBE: the method call to answer); never touched here */
    double t_submit;         /* monotonic ms, set by worker_submit */
    double t_request;        /* monotonic ms of the method call (queue_ms counts from here) */
    /* loop-side (requests.c), never touched by the worker */
    void *svc;               /* the Service */
    uid_t uid;               /* the caller's Unix user: limits and budgets count per user */
    JobStage stage;
    void *intake;            /* Intake while STAGE_INTAKE */
    int answered;            /* the loop already sent the final answer (cancelled while decoding) */
    double cost_audio_s;     /* decoded audio seconds / image pixels, counted in the user's budgets */
    int64_t cost_pixels;
    size_t held_bytes;       /* intake buffers counted in the user's intake_bytes */
    int decode_err;          /* decode-pool result, with decode_msg */
    char decode_msg[256];
    struct Job *pool_next;   /* decode-pool queue link */
    /* worker-private */
    struct Job *next;
    int started, n_generated;
    int images_encoded;
    int audio_inputs;        /* audio attachments transcribed */
    int audio_next;          /* next attachment to transcribe */
    void *speech_run;        /* owned: the transcription in progress (speech-job.c) */
    double audio_s, transcribe_ms;
    char *transcript;        /* owned: what the audio attachments said (ASK), or the TRANSCRIBE result */
    void *speak;             /* owned: SPEAK's text, options, output and synthesis state (speak-job.h) */
    double t_start, t_first;
    LmStats stats;
} Job;

typedef enum { EV_TOKEN, EV_FINISHED, EV_FAILED, EV_STATE, EV_TRANSCRIBED, EV_SPEAKING_STARTED,
               EV_SPEECH_PROGRESS } EventKind;

/* A SPEAK's numbers (speak-job.h): EV_SPEECH_PROGRESS sets chars_played, EV_FINISHED all of them. */
typedef struct {
    uint32_t chars_played;   /* characters of the text whose audio the reader has taken */
    int sentences, sample_rate, underruns;
    int64_t samples;         /* written to the output, at sample_rate */
    double first_audio_ms;   /* from the method call to the first samples queued for the output */
    double synth_ms, queue_ms, total_ms;
} SpeakStats;

typedef struct {
    int prompt_tokens, generated_tokens;
    int images_encoded;      /* encoder runs for this request (0 for follow-ups on an attached image) */
    int audio_inputs;        /* audio attachments transcribed into the question */
    double audio_s, transcribe_ms;
    double prefill_ms, decode_ms, ttft_ms, queue_ms, total_ms;
} JobStats;

typedef struct Event {
    EventKind kind;
    Job *job;                /* NULL for EV_STATE */
    char text[64];           /* EV_TOKEN */
    const char *reason;      /* EV_FINISHED: "stop", "length", "context", "cancelled" */
    JobStats stats;          /* EV_FINISHED */
    int err;                 /* EV_FAILED: negative errno (-E2BIG too large, -ENODEV no model, ...) */
    char msg[256];           /* EV_FAILED message */
    char *result;            /* owned, may be NULL: EV_TRANSCRIBED text, EV_FINISHED audio transcript;
                                free with event_free */
    SpeakStats speak;        /* JOB_SPEAK events */
    struct Event *next;
} Event;

typedef enum { WORKER_LOADING, WORKER_READY, WORKER_ERROR } WorkerState;

typedef struct {
    char model_path[4096];
    char backend[64];
    int threads, n_ctx, mmap;
    char whisper_path[4096]; /* speech model, loaded on first use */
} WorkerConfig;

/* Start the thread; it loads the model first (state LOADING, then READY or ERROR, each announced with an
 * EV_STATE event). no_model: stay in ERROR ("no model configured") without loading. */
int worker_start(const WorkerConfig *cfg, int no_model, Worker **ret);
/* Ask the thread to stop: queued and running requests end with EV_FAILED -ECANCELED; then join it. Events
 * stay readable with worker_take_events until worker_free. */
void worker_stop(Worker *w);
void worker_free(Worker *w); /* accepts NULL; stops first */

int worker_event_fd(const Worker *w);   /* readable when events are waiting */
Event *worker_take_events(Worker *w);   /* the waiting events, oldest first; caller frees each with event_free */
void event_free(Event *e);              /* accepts NULL; one event (not the list) */
/* For job code on the worker thread (speak-job.c): a zeroed event of kind k for j (NULL on ENOMEM), and
 * posting it to the loop. */
Event *worker_event_new(EventKind k, Job *j);
void worker_post(Worker *w, Event *e);
/* Milliseconds since the worker thread last showed it is alive (it beats at least once a second while
 * idle, and between units of work). For the systemd watchdog. */
double worker_heartbeat_age_ms(Worker *w);

/* State and, once READY, the engine's description (read-only after READY). msg: the error when ERROR. */
WorkerState worker_state(Worker *w, char *msg, size_t msg_len);
const Engine *worker_engine(Worker *w);   /* NULL unless READY */

WorkerSession *worker_session_new(const char *system_prompt); /* NULL on ENOMEM */
void worker_session_discard(WorkerSession *ws); /* only for one never submitted to a worker */
/* Queue a job; for CLOSE the session is the worker's from now on. */
void worker_submit(Worker *w, Job *j);
Job *job_new_ask(WorkerSession *ws, uint64_t id, const char *text, const LmSampling *sp, void *user);
/* A TRANSCRIBE of fd (owned by the job from now on, also on failure) on ws (the caller's user's
 * transcription queue: one session per user, so one user's transcriptions run in order). */
Job *job_new_transcribe(WorkerSession *ws, uint64_t id, int fd, const SpeechOptions *so, void *call);
void job_free(Job *j); /* accepts NULL; closes the attachments' fds, frees their bytes and decoded media */
/* Add an attachment; the job owns fd from now on (also on failure: -E2BIG past JOB_MAX_ATTACHMENTS closes it). */
int job_add_attachment(Job *j, MediaKind kind, int fd);

double worker_now_ms(void);

#endif
