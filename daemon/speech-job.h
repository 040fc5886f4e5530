/* speech-job.h — speech on the inference worker: the Whisper model (loaded on first use, kept, on its own
 * Backend) and the transcription of a job's decoded audio one unit at a time — the log-mel of one input,
 * then one 30 s window at one temperature per unit (whisper_run_step) — so the worker interleaves long
 * audio with other sessions' tokens and checks cancel between units.
 * TRANSCRIBE jobs transcribe att[0]; ASK jobs their audio attachments in order (the transcripts joined by
 * spaces, then speech_job_user_text makes the question). Not here: decoding (decode-pool.h), D-Bus.
 * All calls come from the worker thread.
 */
#ifndef MYNA_DAEMON_SPEECH_JOB_H
#define MYNA_DAEMON_SPEECH_JOB_H

#include <stddef.h>

#include "backend.h"
#include "whisper.h"
#include "worker.h"

typedef struct {
    Backend *be;             /* owned: the speech model's backend */
    Whisper *whisper;        /* owned, NULL until first use */
} SpeechModel;

void speech_model_free(SpeechModel *sm); /* accepts a zeroed one */

/* One unit of j's audio work. 1: every audio input is transcribed (j->transcript holds the text, or NULL
 * when there was none), 0: call again, <0: failed with msg (the job's D-Bus error follows from the code:
 * -ENODEV no speech model, -E2BIG too long, -ENOMEM, -EIO). */
int speech_job_unit(SpeechModel *sm, const WorkerConfig *cfg, Job *j, char *msg, size_t msg_len);
/* Free the transcription in progress (cancel, failure, job_free). */
void speech_job_clear(Job *j);
/* The ASK's user text with what the audio said: the transcripts alone when the text is empty, else the text,
 * a blank line and the transcripts (docs/DBUS.md). *ret_text is malloc'd. */
int speech_job_user_text(const Job *j, char **ret_text);
/* Audio attachments of j not yet transcribed (0 for a job without audio, or when all are done). */
int speech_job_pending(const Job *j);

#endif
