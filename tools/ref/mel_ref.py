#!/usr/bin/env python3
"""mel_ref.py — reference Whisper log-mel spectrograms for tests/unit/test-mel.c.

Writes into tests/fixtures/audio/:
    mel-clip.s16        the input: int16 little-endian, 16 kHz mono, N samples (deterministic synthetic
                        "speech-like" signal: voiced harmonic chirps, noise bursts and true silences)
    mel80-short.f32     [80,  N//160] float32 (PyTorch order), normalized log-mel of the clip, no padding
    mel128-short.f32    [128, N//160]
    mel80-30s.f32       the clip padded with zeros to 30 s (Whisper pad_or_trim): only the first H frames
    mel128-30s.f32      of the [n_mels, 3000] result are stored; every later frame equals the constant
                        written in mel.txt (asserted here), so the C test rebuilds and compares all 3000
    mel.txt             key value lines: n_samples, short_frames, head_frames, tail80, tail128

Reference: transformers' WhisperFeatureExtractor (its NumPy path, float64 STFT with librosa-identical
Slaney filters) for the 30 s windows via __call__ and for the short clip via _np_extract_fbank_features;
cross-checked here against an openai-whisper-style torch.stft float32 computation and an independent
NumPy float64 implementation written from SPEC.md §5.1 (NMSE printed; must be < 1e-9).

Run: python3 tools/ref/mel_ref.py  (deterministic; rewrites the fixtures)
"""
import os
import sys

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "audio")
SR = 16000


def make_clip(n):
    rng = np.random.default_rng(1234)
    t = np.arange(n) / SR
    x = np.zeros(n)
    # voiced segments: harmonic series on a gliding pitch, amplitude-modulated
    for (a, b, f0, f1) in [(0.10, 0.90, 110, 180), (1.20, 2.05, 220, 140), (2.40, 3.10, 160, 260)]:
        m = (t >= a) & (t < b)
        tt = t[m] - a
        f = f0 + (f1 - f0) * tt / (b - a)
        ph = 2 * np.pi * np.cumsum(f) / SR
        env = np.sin(np.pi * tt / (b - a)) ** 0.5 * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * tt))
        for h in range(1, 12):
            x[m] += env * np.sin(h * ph) / h * 0.25
    # fricative-like noise bursts
    for (a, b) in [(0.95, 1.10), (2.15, 2.30)]:
        m = (t >= a) & (t < b)
        x[m] += rng.normal(0, 0.08, m.sum())
    x += rng.normal(0, 1e-4, n) * (t < 3.15)   # faint floor; the tail after 3.15 s is exact silence
    return np.clip(np.round(x * 32767), -32768, 32767).astype("<i2")


def slaney_filters_np(n_mels):
    def hz_to_mel(f):
        f = np.asarray(f, dtype=np.float64)
        f_sp, min_log_hz = 200.0 / 3, 1000.0
        min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
        return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-300) / min_log_hz) / logstep, f / f_sp)

    def mel_to_hz(m):
        f_sp, min_log_hz = 200.0 / 3, 1000.0
        min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)

    fft_f = np.linspace(0, SR / 2, 201)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(SR / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_f[None, :]
    w = np.maximum(0, np.minimum(-ramps[:-2] / fdiff[:-1, None], ramps[2:] / fdiff[1:, None]))
    return w * (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]


def logmel_np(audio, n_mels):
    """Independent float64 implementation of SPEC.md §5.1."""
    x = np.pad(audio.astype(np.float64), 200, mode="reflect")
    n_fr = 1 + (len(x) - 400) // 160
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)
    frames = np.stack([x[i * 160:i * 160 + 400] * win for i in range(n_fr)])
    p = np.abs(np.fft.rfft(frames, axis=1)) ** 2          # [frames, 201]
    mel = slaney_filters_np(n_mels) @ p[:-1].T            # drop the last frame
    s = np.log10(np.maximum(mel, 1e-10))
    s = np.maximum(s, s.max() - 8.0)
    return (s + 4.0) / 4.0


def logmel_torch(audio, n_mels):
    import torch
    a = torch.from_numpy(audio.astype(np.float32))
    st = torch.stft(a, 400, 160, window=torch.hann_window(400), return_complex=True)
    mag = st[..., :-1].abs() ** 2
    filt = torch.from_numpy(slaney_filters_np(n_mels).astype(np.float32))
    s = torch.clamp(filt @ mag, min=1e-10).log10()
    s = torch.maximum(s, s.max() - 8.0)
    return ((s + 4.0) / 4.0).numpy()


def nmse(a, b):
    return float(np.sum((a.astype(np.float64) - b) ** 2) / np.sum(b.astype(np.float64) ** 2))


def main():
    from transformers import WhisperFeatureExtractor
    n = 3 * SR + 5300 + 37                      # 3.33 s, not a multiple of the hop
    pcm = make_clip(n)
    audio = pcm.astype(np.float32) / 32768.0
    os.makedirs(OUT, exist_ok=True)
    pcm.tofile(os.path.join(OUT, "mel-clip.s16"))
    short_frames = n // 160
    head = (n + 200) // 160 + 3
    meta = {"n_samples": n, "short_frames": short_frames, "head_frames": head}
    padded = np.zeros(480000, dtype=np.float32)
    padded[:n] = audio
    for n_mels in (80, 128):
        fe = WhisperFeatureExtractor(feature_size=n_mels)
        short = fe._np_extract_fbank_features(audio[None, :], "cpu")[0].astype(np.float32)
        full = fe(audio, sampling_rate=SR, return_tensors="np").input_features[0].astype(np.float32)
        assert short.shape == (n_mels, short_frames), short.shape
        assert full.shape == (n_mels, 3000), full.shape
        ind_s, ind_f = logmel_np(audio, n_mels), logmel_np(padded, n_mels)
        tor_s = logmel_torch(audio, n_mels)
        print(f"n_mels {n_mels}: NMSE HF vs numpy64 short {nmse(short, ind_s):.2e} 30s {nmse(full, ind_f):.2e}; "
              f"torch.stft f32 vs HF short {nmse(tor_s, short):.2e}")
        assert nmse(short, ind_s) < 1e-9 and nmse(full, ind_f) < 1e-9
        tail = full[:, head:]
        assert np.all(tail == tail[0, 0]), "frames after the clip must be constant"
        meta[f"tail{n_mels}"] = repr(float(tail[0, 0]))
        short.astype("<f4").tofile(os.path.join(OUT, f"mel{n_mels}-short.f32"))
        np.ascontiguousarray(full[:, :head]).astype("<f4").tofile(os.path.join(OUT, f"mel{n_mels}-30s.f32"))
    with open(os.path.join(OUT, "mel.txt"), "w") as f:
        for k, v in meta.items():
            f.write(f"{k} {v}\n")
    print("wrote", OUT)


if __name__ == "__main__":
    sys.exit(main())
