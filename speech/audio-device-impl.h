/* audio-device-impl.h — what audio-device.c shares with its backends (not a public interface). */
#ifndef MYNA_AUDIO_DEVICE_IMPL_H
#define MYNA_AUDIO_DEVICE_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "audio-device.h"
#include "ringbuf.h"

typedef struct {
    int (*open)(AudioDevice *d, char *err, size_t err_len);  /* acquire the device/fds */
    int (*start)(AudioDevice *d);                             /* begin streaming */
    void (*stop)(AudioDevice *d);                             /* stop streaming (threads joined) */
    void (*close)(AudioDevice *d);                            /* release the device/fds (after stop) */
    void (*destroy)(AudioDevice *d);                          /* free priv (after close) */
} AudioDeviceOps;

struct AudioDevice {
    const AudioDeviceOps *ops;
    void *priv;                    /* owned by the backend */
    AudioDeviceConfig cfg;
    char name[256];                /* cfg.name copied */
    RingBuf cap, play;             /* capture: backend → reader; playback: writer → backend */
    _Atomic int64_t hb_cap_ns, hb_play_ns; /* heartbeats (CLOCK_MONOTONIC ns) */
    _Atomic int lost_claim;        /* 0 or the code: set by the first audio_device_mark_lost() */
    _Atomic int lost;              /* 0 or negative errno: published after on_event has returned */
    _Atomic int running;
    char lost_why[160];
    pthread_t watchdog;
    int watchdog_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int watchdog_quit;
};

int64_t audio_device_now_ns(void);
/* Backends: record a heartbeat for one direction (async-signal/real-time safe: one atomic store). */
void audio_device_beat(AudioDevice *d, int capture);
/* Backends and the watchdog: declare the device lost. The first call wins (claims lost_claim), writes
 * lost_why, logs, runs on_event and only then publishes `lost`, which every public call reads; later calls
 * return at once. Not from a real-time callback (it may log and the callback may take time); callbacks set
 * their own flag and let the watchdog or an IO thread call. */
void audio_device_mark_lost(AudioDevice *d, int code, const char *why);
/* Common constructor: copies cfg (defaults applied), allocates rings. */
int audio_device_alloc(const AudioDeviceConfig *cfg, const AudioDeviceOps *ops, void *priv, AudioDevice **ret,
                       char *err, size_t err_len);

#endif
