/* audio-device-room.h — a simulated room for voice-loop tests: what is played comes back into the
 * microphone after a delay through a short impulse response, plus noise, plus scripted user utterances.
 *
 * What it is: RoomSim, the room as a pure function of the played samples (one speaker clock = one
 * microphone clock: microphone sample k hears speaker samples <= k − delay), and an AudioDevice backend
 * around it (audio_device_open_room) whose one IO thread takes a block from the playback ring (silence
 * when it is empty, as a real device underruns), runs the room and pushes the microphone block into the
 * capture ring — at real-time pace (speed 1), faster (speed > 1), or as fast as the reader takes it
 * (speed 0: the capture ring never overflows; nothing is dropped). The impulse response: a direct tap then
 * an exponentially decaying tail of seeded random taps over ir_ms, scaled so its energy is echo_gain_db.
 * What it is not: a model of loudspeaker nonlinearity or of clock drift.
 */
#ifndef MYNA_AUDIO_DEVICE_ROOM_H
#define MYNA_AUDIO_DEVICE_ROOM_H

#include <stddef.h>
#include <stdint.h>

#include "audio-device.h"

typedef struct {
    int64_t at;               /* microphone sample where the utterance starts */
    const float *pcm;         /* borrowed for the room's lifetime; or */
    const char *wav_path;     /* a 16 kHz mono 16-bit WAV, read at room_sim_new */
    size_t n;                 /* samples of pcm */
    float gain_db;            /* applied to the utterance; 0 = as is */
} RoomUtterance;

typedef struct {
    int echo_delay_ms;        /* 0 = 40; 1..500 */
    float echo_gain_db;       /* energy of the impulse response; 0 = -12; -60..0 */
    int ir_ms;                /* 0 = 30; 1..200 */
    float noise_dbfs;         /* white noise RMS; 0 = -60; below -120 = none */
    uint64_t seed;            /* impulse response and noise; 0 = 1 */
    const RoomUtterance *utterances;  /* copied (the pcm/path they point to: see RoomUtterance) */
    int n_utterances;         /* 0..64 */
    double speed;             /* the device: 1 = real time, 0 = as fast as the reader */
} RoomConfig;

typedef struct RoomSim RoomSim;

/* -EINVAL (err says which field), -ENOENT/-EBADMSG for an utterance WAV, -ENOMEM. */
int room_sim_new(const RoomConfig *cfg, RoomSim **ret, char *err, size_t err_len);
void room_sim_free(RoomSim *r); /* accepts NULL */
/* The next n speaker samples (NULL = silence) → the next n microphone samples. */
void room_sim_process(RoomSim *r, const float *play, float *mic, size_t n);
int64_t room_sim_position(const RoomSim *r);   /* samples processed */
/* The room as an audio device (cfg->capture and cfg->playback both honoured; sample rate 16000 only).
 * The device's speaker counter equals its microphone counter: sample k of the capture stream was recorded
 * while speaker sample k was played. */
int audio_device_open_room(const AudioDeviceConfig *cfg, const RoomConfig *rc, AudioDevice **ret, char *err,
                           size_t err_len);

#endif
