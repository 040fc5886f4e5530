/* sampler.h — next-token sampler: penalties, top-k, temperature, top-p, min-p, seeded draw.
 *
 * Order (llama.cpp's sampler chain): repeat/frequency penalties → (temperature <= 0: argmax) → top-k →
 * temperature → softmax → top-p → min-p → draw. The RNG is the sampler's own xoshiro256** seeded through
 * splitmix64, so one seed gives one token sequence on every platform. Nothing is allocated per token:
 * buffers are sized for the vocabulary in sampler_new(). Not thread-safe; one Sampler per session.
 * Not here: grammar constraints, logit bias, mirostat.
 */
#ifndef MYNA_SAMPLER_H
#define MYNA_SAMPLER_H

#include <stdint.h>

typedef struct Sampler Sampler;

typedef struct {
    float temperature;    /* <= 0: greedy (argmax, ties → lowest id); finite */
    int top_k;            /* 0 = off; keeps exactly k (ties at the cut → lower ids) */
    float top_p;          /* (0, 1]; 1 = off; smallest prefix by probability with cumulative mass >= top_p */
    float min_p;          /* [0, 1]; 0 = off; keeps p >= min_p · p_max */
    float repeat_penalty; /* > 0; 1 = off; each distinct token in the window: logit > 0 ? l / rp : l · rp */
    int repeat_last_n;    /* penalty window (last N history tokens); 0 = penalties off, -1 = whole history */
    float freq_penalty;   /* finite; 0 = off; logit -= freq_penalty · count in the same window */
} SamplerParams;

/* temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, repeat_penalty 1.0, repeat_last_n 64, freq 0. */
void sampler_params_default(SamplerParams *p);
/* 0 or -EINVAL (NaN/inf anywhere, top_p outside (0, 1], min_p outside [0, 1], repeat_penalty <= 0,
 * top_k < 0, repeat_last_n < -1). */
int sampler_params_check(const SamplerParams *p);

int sampler_new(int n_vocab, Sampler **ret); /* -EINVAL for n_vocab < 1, -ENOMEM */
void sampler_free(Sampler *s);               /* accepts NULL */
void sampler_set_seed(Sampler *s, uint64_t seed);
/* Next raw RNG output (xoshiro256**); exposed for tests. */
uint64_t sampler_rand_u64(Sampler *s);

/* logits: [V], modified in place (penalties applied). history: previous tokens (ids in [0, V)).
 * Returns 0 and *ret_token, -EINVAL (bad params, history id out of range, n_history < 0) or -EDOM (a NaN or
 * +inf logit, or every logit -inf). */
int sampler_sample(Sampler *s, const SamplerParams *p, float *logits, const int32_t *history, int n_history,
                   int32_t *ret_token);

/* Same pipeline without the draw: ret_probs [V] gets the final distribution (zeros for filtered tokens,
 * one-hot for greedy). Returns the number of tokens kept, or a negative errno as sampler_sample(). */
int sampler_distribution(Sampler *s, const SamplerParams *p, float *logits, const int32_t *history,
                         int n_history, float *ret_probs);

#endif
