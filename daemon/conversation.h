/* conversation.h — Session1.StartConversation / StopConversation: the voice loop inside mynad with
 * bring-your-own audio (issue 14, VOICE.md).
 *
 * The client passes `input` (h: s16le 16 kHz mono it speaks into) and `output` (h: the daemon writes the
 * same format back). The input is the clock, as a full-duplex sound card's callback would be: for every
 * 10 ms frame read from the input the daemon writes exactly one 10 ms frame to the output (the answer's
 * samples, or silence), so speaker sample k and microphone sample k are the same instant and the echo
 * canceller's reference is exactly the samples written (delay 0; the room's echo arrives later).
 * Per input frame, on the loop thread: AEC (speech/aec.h, when built with SpeexDSP) → endpoint
 * (speech/endpoint.h: Silero or the energy VAD, pre-roll, hangover; raised threshold while speaking) → on
 * the utterance's end an ASK job on the session's model with the utterance as a decoded audio attachment
 * (Whisper on the worker, speech-job.h, then the same turn as Ask) → its tokens cut at clause boundaries →
 * one SPEAK job per clause (speak-job.h; on the conversation's own worker session, so synthesis interleaves
 * with the LM's tokens) writing into a pipe the loop drains → the output frames.
 * Half duplex for now: while the assistant thinks or speaks the endpoint's events are not acted on (barge-in
 * is the next step). Signals to the session owner: UserSpeechStarted, UserSpeechEnded, Heard(s), Token and
 * Finished (as for Ask), SpeakingStarted, SpeakingStopped(s reason, s heard_text), TurnStats(a{sv}) with
 * the per-stage times, ConversationEnded(s reason).
 * Jobs made here bypass requests.h (no per-user queue limits yet) and are freed here after their final
 * event (conversation_event).
 */
#ifndef MYNA_DAEMON_CONVERSATION_H
#define MYNA_DAEMON_CONVERSATION_H

#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "service.h"

typedef struct Conversation Conversation;

/* StartConversation(a{sv} options): session is the Session (its path and owner are copied), ws its
 * worker session (the LM turns), sampling its defaults (CreateSession options; copied). Replies to m. */
int conversation_start(Service *s, sd_bus_message *m, void *session, const char *path, const char *owner,
                       WorkerSession *ws, const LmSampling *sampling, uid_t uid, sd_bus_error *e);
/* StopConversation(): InvalidArgument when the session has none. */
int conversation_stop_method(Service *s, sd_bus_message *m, void *session, sd_bus_error *e);
/* The session closes: end its conversation (no signal). */
void conversation_session_closed(Service *s, void *session);
/* A worker event: 1 when it was one of a conversation's jobs (handled and, when final, freed). */
int conversation_event(Service *s, Event *ev);

#endif
