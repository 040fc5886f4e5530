/* ask-speak.h — Ask with speak=true: the answer is spoken while it streams (docs/DBUS.md).
 *
 * On the loop thread, one AskSpeech per such Ask: the Ask's Token events still go out as Token signals;
 * their text is also gathered and cut into clauses (clause.h) as it arrives, and each clause becomes a
 * SPEAK job (speak-job.h) on the session's worker session, one at a time in order, each writing into its
 * own duplicate of the Ask's output fd (or playing on the daemon's speaker, whose busy flag the AskSpeech
 * holds throughout). The clause jobs' events become the Ask's SpeakingStarted (first audio),
 * SpeechProgress (characters of the whole answer heard) and one SpeakingFinished once the last clause
 * has been written (the output fd is closed just before). Cancel(ask id) stops the LM (requests.c) and the
 * clause in synthesis (within one window), drops the clauses not started, and ends with
 * SpeakingFinished "cancelled".
 */
#ifndef MYNA_DAEMON_ASK_SPEAK_H
#define MYNA_DAEMON_ASK_SPEAK_H

#include <stdint.h>
#include <systemd/sd-bus.h>

#include "service.h"
#include "worker.h"

struct SpeakJob;

/* Attach speech to ask (queued, id set): tmpl from speak_prepare_ask (taken, freed on failure). session
 * (Job.user of the Ask) owns path and owner and outlives the AskSpeech (ask_speak_session_gone). */
int ask_speak_start(Service *s, Job *ask, struct SpeakJob *tmpl, void *session, const char *path,
                    const char *owner);
/* Every worker event first: 1 when it was a clause job's (handled and freed here), 0 otherwise. */
int ask_speak_event(Service *s, Event *ev);
/* Every Ask event as it is delivered (service_deliver: from the worker, or ended early by requests.c):
 * tokens are gathered and cut, the end lets the rest be spoken (or stops it when cancelled). */
void ask_speak_answer(Service *s, const Event *ev);
/* Cancel(id) from session: stops the speech of that Ask if it has one. */
void ask_speak_cancel(Service *s, void *session, uint64_t id);
/* The session closes: its Asks' speech stops, no more signals. */
void ask_speak_session_gone(Service *s, void *session);

#endif
