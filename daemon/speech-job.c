/* speech-job.c — Whisper transcription as units of worker time (see speech-job.h). */
#include "speech-job.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

void speech_options_default(SpeechOptions *o, int max_audio_bytes, int max_audio_seconds)
{
    memset(o, 0, sizeof(*o));
    whisper_options_default(&o->whisper);
    audio_decode_options_default(&o->audio);
    o->audio.sample_rate = AUDIO_DEFAULT_SAMPLE_RATE;
    o->audio.max_input_bytes = max_audio_bytes;
    o->audio.max_seconds = max_audio_seconds;
}

void speech_model_free(SpeechModel *sm)
{
    whisper_free(sm->whisper);
    backend_free(sm->be);
    sm->whisper = NULL;
    sm->be = NULL;
}

void speech_job_clear(Job *j)
{
    whisper_run_free(j->speech_run);
    j->speech_run = NULL;
}

int speech_job_pending(const Job *j)
{
    int n = 0;
    for (int i = j->audio_next; i < j->n_att; i++)
        n += j->att[i].kind == MEDIA_AUDIO;
    return n;
}

static int model_ensure(SpeechModel *sm, const WorkerConfig *cfg, char *msg, size_t msg_len)
{
    const char *path = cfg->whisper_path;
    char why[224] = "";
    int r;

    if (sm->whisper)
        return 0;
    if (access(path, R_OK) < 0)
        return err_set(msg, msg_len, -ENODEV, "speech model not installed (%.160s): run scripts/fetch-models",
                       path);
    double t0 = worker_now_ms();
    r = backend_new_by_name(cfg->backend, cfg->threads, &sm->be, why, sizeof(why));
    if (r >= 0)
        r = whisper_load(path, sm->be, &sm->whisper, why, sizeof(why));
    if (r < 0) {
        speech_model_free(sm);
        log_error("speech model %s: %s", path, why);
        return err_set(msg, msg_len, r == -ENOENT ? -ENODEV : -EIO, "speech model %.100s: %s", path, why);
    }
    log_info("speech model %s loaded in %.0f ms", path, worker_now_ms() - t0);
    return 0;
}

/* The attachment's label in messages: "audio" for Transcribe, "attachment N (audio)" for Ask. */
static void label(const Job *j, int i, char *buf, size_t len)
{
    if (j->kind == JOB_TRANSCRIBE)
        snprintf(buf, len, "audio");
    else
        snprintf(buf, len, "attachment %d (audio)", i + 1);
}

/* Append one input's transcript to j->transcript (space-separated). */
static int add_transcript(Job *j, const char *t)
{
    size_t have = j->transcript ? strlen(j->transcript) : 0, n = strlen(t);
    char *p = realloc(j->transcript, have + n + 2);
    if (!p)
        return -ENOMEM;
    if (have)
        p[have++] = ' ';
    memcpy(p + have, t, n + 1);
    j->transcript = p;
    return 0;
}

int speech_job_unit(SpeechModel *sm, const WorkerConfig *cfg, Job *j, char *msg, size_t msg_len)
{
    double t0 = worker_now_ms();
    char what[48];
    int r;

    while (j->audio_next < j->n_att && j->att[j->audio_next].kind != MEDIA_AUDIO)
        j->audio_next++;
    if (j->audio_next >= j->n_att)
        return 1;
    int i = j->audio_next;
    AudioPcm *pcm = &j->att[i].pcm;
    label(j, i, what, sizeof(what));
    if (!j->speech_run) { /* first unit of this input: load the model (once), the log-mel */
        if ((r = model_ensure(sm, cfg, msg, msg_len)) < 0)
            return r;
        WhisperOptions o = j->speech.whisper;
        o.language = j->speech.language[0] ? j->speech.language : NULL;
        WhisperRun *run = NULL;
        r = whisper_run_begin(sm->whisper, pcm->samples, (size_t)pcm->n_samples, &o, &run);
        if (r == -E2BIG)
            return err_set(msg, msg_len, r, "%s: longer than %d s", what, WHISPER_MAX_SECONDS);
        if (r == -ENOTSUP)
            return err_set(msg, msg_len, -ENODEV, "%s: the speech model %.100s cannot transcribe (no token texts)",
                           what, cfg->whisper_path);
        if (r < 0)
            return err_set(msg, msg_len, r, "%s: transcription failed: %s", what, strerror(-r));
        j->speech_run = run;
        j->transcribe_ms += worker_now_ms() - t0;
        return 0;
    }
    r = whisper_run_step(j->speech_run);
    if (r < 0) {
        speech_job_clear(j);
        return err_set(msg, msg_len, r, "%s: transcription failed: %s", what, strerror(-r));
    }
    if (r == 0) { /* this input is done */
        char *text = NULL;
        r = whisper_run_text(j->speech_run, &text, NULL);
        speech_job_clear(j);
        if (r >= 0)
            r = add_transcript(j, text);
        free(text);
        if (r < 0)
            return err_set(msg, msg_len, r, "%s: out of memory", what);
        j->audio_inputs++;
        j->audio_s += (double)pcm->n_samples / (pcm->sample_rate > 0 ? pcm->sample_rate : 16000);
        audio_pcm_free(pcm); /* the samples are no longer needed */
        j->audio_next++;
    }
    j->transcribe_ms += worker_now_ms() - t0;
    return speech_job_pending(j) == 0 ? 1 : 0;
}

int speech_job_user_text(const Job *j, char **ret_text)
{
    const char *text = j->text && j->text[0] ? j->text : NULL, *all = j->transcript ? j->transcript : "";
    size_t n = (text ? strlen(text) : 0) + strlen(all) + 3;
    char *out = malloc(n);
    if (!out)
        return -ENOMEM;
    snprintf(out, n, "%s%s%s", text ? text : "", text ? "\n\n" : "", all);
    *ret_text = out;
    return 0;
}
