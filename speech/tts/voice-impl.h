/* voice-impl.h — shared by the voice loader's two halves: the .onnx.json reader (voice-json.c) and the ONNX
 * weight binder (voice.c). Not part of the public interface. */
#ifndef MYNA_VOICE_IMPL_H
#define MYNA_VOICE_IMPL_H

#include <stddef.h>

#include "voice.h"

enum { VOICE_MAX_JSON = 4 << 20, VOICE_MAX_IDS_PER_PHONEME = 16, VOICE_MAX_PHONEMES = 4096 };

/* Parse the .json into v->cfg (its fields and, from the quality level or a "myna_vits" override, the
 * architecture), v->phonemes and v->speakers. *ret_quality_known is 0 when audio.quality is absent: the
 * binder then infers it from the weights. Errors as voice_load's, message prefixed "NAME.onnx.json: ". */
int voice_json_parse(Voice *v, const char *text, size_t len, int *ret_quality_known, char *err, size_t err_len);
/* Fill the architecture fields of c for quality q (Piper's piper_train defaults; SPEC.md Piper row). */
void voice_arch_for_quality(VoiceConfig *c, VoiceQuality q);
/* Check the architecture fields are in range and consistent (limits of voice.h); -EINVAL with a message. */
int voice_arch_check(const VoiceConfig *c, const char *name, char *err, size_t err_len);

#endif
