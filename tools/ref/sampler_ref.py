#!/usr/bin/env python3
"""sampler_ref.py — NumPy reference for lm/sampler.c; writes tests/fixtures/sampler/{cases,sequence}.txt.

Semantics (llama.cpp sampler chain, HF repetition penalty):
  penalties (float32): for each distinct token in the last N history tokens (N = repeat_last_n, -1 = all,
    0 = off): l = l / rp if l > 0 else l * rp; then l -= freq_penalty * count_in_window
  temperature <= 0: one-hot argmax (lowest id among ties)
  order candidates by (logit desc, id asc), drop -inf; top-k keeps the first k
  softmax in float64 of (l - l_max) / T over the top-k set
  top-p: keep the shortest prefix whose cumulative probability >= top_p (top_p = 1: off)
  min-p: keep p >= min_p * p_max; at least one token; renormalise.
  draw: u = (xoshiro256**() >> 11) * 2**-53; first token with u < cumsum(q); RNG seeded by splitmix64.

cases.txt, one block per case:
  case NAME / params T TOP_K TOP_P MIN_P RP LAST_N FREQ / vocab V / logits ... / history N ids... / probs ...
sequence.txt: seed, params, vocab, logits, the first 8 raw RNG outputs, and 1000 tokens drawn where each
  step starts from the same logits and the history is the tokens drawn so far.
"""
import os
import sys

import numpy as np

M64 = (1 << 64) - 1


class Xoshiro:
    def __init__(self, seed):
        x = seed & M64
        self.s = []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & M64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            self.s.append(z ^ (z >> 31))

    @staticmethod
    def rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & M64

    def next(self):
        s = self.s
        r = (self.rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = self.rotl(s[3], 45)
        return r


def penalize(logits, history, rp, last_n, freq):
    l = logits.astype(np.float32).copy()
    if last_n == 0 or (rp == 1.0 and freq == 0.0) or len(history) == 0:
        return l
    window = history if last_n < 0 else history[-last_n:]
    ids, counts = np.unique(np.asarray(window, dtype=np.int64), return_counts=True)
    rp32, f32 = np.float32(rp), np.float32(freq)
    for i, c in zip(ids, counts):
        v = l[i]
        if rp != 1.0:
            v = v / rp32 if v > 0 else v * rp32
        l[i] = np.float32(v - f32 * np.float32(c))
    return l


def distribution(logits, history, T, top_k, top_p, min_p, rp, last_n, freq):
    """Returns (dense probs float64 [V], kept ids in draw order, kept probs)."""
    V = len(logits)
    l = penalize(logits, history, rp, last_n, freq)
    out = np.zeros(V)
    if T <= 0:
        i = int(np.argmax(l))  # first maximum = lowest id
        out[i] = 1.0
        return out, np.array([i]), np.array([1.0])
    ids = np.arange(V)
    order = np.lexsort((ids, -l.astype(np.float64)))  # logit desc, id asc
    order = order[np.isfinite(l[order])]
    if 0 < top_k < len(order):
        order = order[:top_k]
    z = (l[order].astype(np.float64) - float(np.max(l))) / float(np.float32(T))
    e = np.exp(z)
    p = e / e.sum()
    keep = len(p)
    if np.float32(top_p) < 1.0:
        cum = np.cumsum(p)
        keep = min(keep, int(np.argmax(cum >= float(np.float32(top_p)))) + 1 if np.any(cum >= float(np.float32(top_p))) else keep)
    if min_p > 0:
        thr = float(np.float32(min_p)) * p[0]
        below = np.nonzero(p[:keep] < thr)[0]
        if len(below):
            keep = int(below[0])
    keep = max(keep, 1)
    q = e[:keep] / np.cumsum(e[:keep])[-1]
    out[order[:keep]] = q
    return out, order[:keep], q


def fmt(xs, spec):
    return " ".join(spec % x for x in xs)


CASES = []


def add(name, logits, history=(), T=1.0, top_k=0, top_p=1.0, min_p=0.0, rp=1.0, last_n=64, freq=0.0):
    CASES.append((name, np.asarray(logits, dtype=np.float32), list(history), T, top_k, top_p, min_p, rp, last_n,
                  freq))


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "tests", "fixtures", "sampler")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(7)
    base = (rng.standard_normal(16) * 2).astype(np.float32)
    tied = base.copy()
    tied[[3, 9, 12]] = 4.5  # three-way tie at the top
    cut_tie = np.arange(16, dtype=np.float32) * -0.25
    cut_tie[[4, 5, 6]] = -0.9  # ties straddling a top-k cut at 5
    masked = base.copy()
    masked[[0, 2, 5, 7]] = -np.inf
    big = (rng.standard_normal(1000) * 1.5).astype(np.float32)
    hist = [1, 4, 4, 9, 2, 15, 4, 1, 7]
    huge = (np.random.default_rng(11).standard_normal(5000)).astype(np.float32)

    add("greedy_tie", tied, T=0.0)
    add("greedy_negative_T", base, T=-1.0, top_k=3)
    add("plain_T1", base)
    add("T0_7", base, T=0.7)
    add("T5", base, T=5.0)
    add("top_k5", base, top_k=5)
    add("top_k_ties_at_cut", cut_tie, top_k=5)
    add("top_k_over_vocab", base, top_k=100, T=0.9)
    add("top_p0_8", base, top_p=0.8)
    add("top_p0_3", base, top_p=0.3, T=1.3)
    add("min_p0_1", base, min_p=0.1)
    add("min_p0_9", base, min_p=0.9, T=2.0)
    add("combined", base, T=0.9, top_k=10, top_p=0.9, min_p=0.05)
    add("repeat1_3_window4", base, history=hist, rp=1.3, last_n=4)
    add("repeat1_3_all", base, history=hist, rp=1.3, last_n=-1)
    add("repeat0_8", base, history=hist, rp=0.8, last_n=64)
    add("freq0_5", base, history=hist, freq=0.5, last_n=-1)
    add("repeat_freq_filters", base, history=hist, rp=1.1, freq=0.3, last_n=6, T=0.8, top_k=8, top_p=0.95,
        min_p=0.02)
    add("penalty_window_off", base, history=hist, rp=1.5, freq=1.0, last_n=0)
    add("masked_inf", masked, T=0.8, top_p=0.9)
    add("big_top_p0_99", big, top_p=0.99)
    add("big_top_p0_5", big, top_p=0.5, T=0.6)
    add("big_min_p0_3", big, min_p=0.3)
    add("big_plain", big, T=1.1)
    add("huge_top_p0_7", huge, top_p=0.7)  # cut past the first sorted prefix (256), inside the second

    with open(os.path.join(out, "cases.txt"), "w") as f:
        for name, lg, h, T, k, tp, mp, rp, ln, fq in CASES:
            dense, kept, _ = distribution(lg, h, T, k, tp, mp, rp, ln, fq)
            f.write("case %s\n" % name)
            f.write("params %.9g %d %.9g %.9g %.9g %d %.9g\n" % (T, k, tp, mp, rp, ln, fq))
            f.write("vocab %d\n" % len(lg))
            f.write("logits %s\n" % fmt(lg, "%.9g"))
            f.write("history %d %s\n" % (len(h), fmt(h, "%d")))
            f.write("probs %s\n" % fmt(dense, "%.17g"))

    # Sequence: fixed logits, penalties over the drawn tokens, filters on.
    seed = 0x5EED1234ABCD
    T, k, tp, mp, rp, ln, fq = 0.9, 12, 0.95, 0.02, 1.15, 8, 0.1
    r = Xoshiro(seed)
    raw = [r.next() for _ in range(8)]
    r = Xoshiro(seed)
    toks = []
    for _ in range(1000):
        _, kept, q = distribution(base, toks, T, k, tp, mp, rp, ln, fq)
        if len(kept) == 1:
            toks.append(int(kept[0]))
            continue
        u = (r.next() >> 11) * 2.0 ** -53
        c = np.cumsum(q)
        idx = int(np.searchsorted(c, u, side="right"))
        toks.append(int(kept[min(idx, len(kept) - 1)]))
    with open(os.path.join(out, "sequence.txt"), "w") as f:
        f.write("seed %d\n" % seed)
        f.write("params %.9g %d %.9g %.9g %.9g %d %.9g\n" % (T, k, tp, mp, rp, ln, fq))
        f.write("vocab %d\n" % len(base))
        f.write("logits %s\n" % fmt(base, "%.9g"))
        f.write("raw %s\n" % fmt(raw, "%d"))
        f.write("tokens %d %s\n" % (len(toks), fmt(toks, "%d")))


if __name__ == "__main__":
    main()
