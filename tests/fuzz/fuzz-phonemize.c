/* fuzz-phonemize.c — libFuzzer target for the phonemizer (speech/tts/phonemize*.c), the path untrusted text
 * takes from a Speak request into espeak-ng inside mynad. The input bytes up to the first NUL (at most 8 KiB,
 * so one run stays short) go through phonemize_nfd() as given (invalid UTF-8 must be refused, not read past),
 * then, when they are valid UTF-8, through phonemize() with a small Piper-style voice (.json only: phoneme
 * map with the specials, a vowel cluster, en-us). Invariants checked on what comes back: every sentence
 * starts with ^ and ends with $, every id is one the map gives, spans lie inside the text in order. A broken
 * invariant traps; ASan/UBSan report memory errors in our code or espeak-ng's. Without -Dfuzzing it is
 * linked with replay-main.c and runs the seed corpus tests/fuzz/corpus/phonemize once. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "phonemize.h"
#include "voice.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t g_sink;

static const char VOICE_JSON[] =
    "{\"audio\":{\"sample_rate\":16000,\"quality\":\"low\"},\"espeak\":{\"voice\":\"en-us\"},"
    "\"num_symbols\":20,\"phoneme_id_map\":{\"_\":[0],\"^\":[1],\"$\":[2],\" \":[3],\"a\":[4],\"ɪ\":[5],"
    "\"ə\":[6],\"n\":[7],\"t\":[8],\"ˈ\":[9],\".\":[10],\",\":[11],\"aɪ\":[12]},"
    "\"vowel_clusters\":[[\"a\",\"ɪ\"]]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static Voice *voice;
    static int init;
    char err[256], *text, *nfd = NULL;
    size_t nfd_len = 0;
    Phonemes *ph = NULL;

    if (!init) {
        init = 1;
        if (voice_load_config(VOICE_JSON, sizeof(VOICE_JSON) - 1, "fuzz", &voice, err, sizeof(err)) < 0 ||
            phonemize_init(NULL, err, sizeof(err)) < 0)
            voice = NULL; /* no espeak-ng data: only the NFD half runs */
    }
    if (size > 8192)
        size = 8192;
    if (!(text = malloc(size + 1)))
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    size = strlen(text); /* a NUL in the input ends the text, as it does for a D-Bus string */
    if (phonemize_nfd(text, size, &nfd, &nfd_len) == 0) {
        if (strlen(nfd) != nfd_len)
            __builtin_trap();
        g_sink += nfd_len;
        free(nfd);
    }
    if (voice && phonemize(voice, text, &ph, err, sizeof(err)) == 0) {
        int32_t len = (int32_t)strlen(text), prev_end = 0;
        for (int s = 0; s < ph->n_sentences; s++) {
            const PhonemeSentence *st = &ph->sentences[s];
            if (st->n_ids < 3 || st->ids[0] != 1 || st->ids[st->n_ids - 1] != 2)
                __builtin_trap();
            if (st->span.byte_start < prev_end || st->span.byte_end < st->span.byte_start || st->span.byte_end > len)
                __builtin_trap();
            prev_end = st->span.byte_start;
            for (int i = 0; i < st->n_ids; i++) {
                if (st->ids[i] < 0 || st->ids[i] > 12 || st->spans[i].byte_start < 0 ||
                    st->spans[i].byte_end > len)
                    __builtin_trap();
                g_sink += (uint64_t)st->ids[i];
            }
        }
        phonemes_free(ph);
    }
    free(text);
    return 0;
}
