/* speak-job.h — Session1.Speak: text → speech with a Piper voice, written as raw PCM into a client's fd.
 *
 * Three sides of one request:
 *   loop    speak_method() validates the call (text, voice, options, the output fd) and queues a JOB_SPEAK
 *           on the caller's session; speak_deliver() turns its events into SpeakingStarted / SpeechProgress
 *           / SpeakingFinished signals to the session owner (Failed as for Ask).
 *   worker  speak_job_unit() does one unit per call, interleaved with other sessions' work by the worker's
 *           round robin: load the voice (first use; one voice kept), phonemize the text, then per sentence
 *           one vits_encode, then one HiFi-GAN window per unit (VITS_SAY_FIRST frames first, then
 *           VITS_SAY_WINDOW), resampled (libswresample) and converted to the asked format, queued for the
 *           writer. Cancel is checked before every unit.
 *   writer  one thread per request writes the queue to the fd (non-blocking, poll): the worker never waits
 *           on a reader. While more than SPEAK_QUEUE_BYTES are queued the job's units are "blocked" (the
 *           worker moves on); a reader that accepts nothing for SPEAK_STALL_S seconds ends the request
 *           (TooLarge "output: … stopped reading"), one that closes its end ends it with an error too.
 * After the last window the request finishes once the writer has written everything and closed the fd.
 * Without an output fd the daemon's speaker plays it (config `speaker`: PortAudio's default output or a
 * named device, or the file twin "file:PATH" — speech/audio-device.h), opened by the writer for the
 * request and closed after the last sample has played (drained) or at once on cancel (flushed); one
 * request at a time (another gets Busy). Config speaker = none refuses it (UnsupportedMedia).
 */
#ifndef MYNA_DAEMON_SPEAK_JOB_H
#define MYNA_DAEMON_SPEAK_JOB_H

#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "service.h"
#include "worker.h"

enum {
    SPEAK_QUEUE_BYTES = 256 * 1024, /* queued for the writer before the job's units wait */
    SPEAK_STALL_S = 10,             /* seconds a reader may accept nothing */
    SPEAK_MAX_VOICE_NAME = 100,
};

typedef enum { SPEAK_S16LE, SPEAK_F32LE } SpeakFormat;

/* speak_job_unit results besides <0 (failed; speak_job_message says why). */
enum { SPEAK_MORE = 0, SPEAK_DONE = 1, SPEAK_BLOCKED = 2 };

typedef struct SpeakModel SpeakModel; /* worker-private: the voice in use (Backend, Voice, Vits) */

/* ---- loop thread ---- */
/* Session1.Speak(s text, a{sv} options) → t: validate, queue on ws (the session's worker session), reply.
 * user is the Session (Job.user). Returns an sd-bus handler result. */
int speak_method(Service *s, sd_bus_message *m, WorkerSession *ws, void *user, uid_t uid, sd_bus_error *e);
/* Property Voices a(sssuu): (name, language, quality, sample rate, speakers) of every VOICE.onnx with its
 * VOICE.onnx.json in voices_dir, read from the .json files at each Get (sorted by name). */
int speak_prop_voices(sd_bus_message *reply, const Config *cfg);
/* Ask with speak=true: the speech options of Ask's a{sv} (m positioned at it; keys other than voice, rate,
 * speaker, output, format, sample_rate, noise_scale, noise_w are skipped — options.c checks them) validated
 * as for Speak, into a template SpeakJob without text (the output fd kept; the speaker's busy flag taken
 * when there is no fd). Returns 0 or a negative code with err set. */
struct SpeakJob;
int speak_prepare_ask(Service *s, sd_bus_message *m, struct SpeakJob **out, char *err, size_t n);
/* A JOB_SPEAK event: 1 when sent here (started, progress, finished), 0 for the caller to deliver (failed). */
int speak_deliver(sd_bus *bus, const char *path, const char *owner, const Event *ev);

/* ---- worker thread ---- */
int speak_job_unit(Worker *w, SpeakModel **sm, const WorkerConfig *cfg, Job *j);
const char *speak_job_message(const Job *j);
/* The job ended on the worker (done, failed or cancelled): release its worker-side state (the voice
 * reference, the sentence in progress) and fill e->speak for the final event. Also tells the writer to
 * stop when the job did not finish. */
void speak_job_end(SpeakModel *sm, Job *j, Event *e);
void speak_model_free(SpeakModel *sm);        /* accepts NULL */

/* ---- any thread (job_free) ---- */
void speak_job_free(void *sj); /* stops and joins the writer, closes the fd; accepts NULL */

#endif
