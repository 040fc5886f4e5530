#!/usr/bin/env python3
"""vad_ref.py — reference clips and Silero VAD outputs for tests/unit/test-vad.c.

Clips: espeak-ng utterances (resampled to 16 kHz with the ffmpeg CLI) separated by silences of known
length, with a faint noise floor; ground-truth speech regions are each utterance trimmed to its first/last
10 ms frame within 20 dB of its loudest frame (espeak pads its own output with silence). Written to tests/fixtures/audio/:
    vad-clipN.s16      int16 LE, 16 kHz mono
    vad-clipN.prob     float32 LE Silero probability per 512-sample chunk (the last partial chunk is
                       zero-padded), from the ORIGINAL TorchScript model (silero_vad.jit) with
                       reset_states() at the start — independent of the safetensors weights Myna loads
    vad.txt            lines "clip N n_samples S" and "speech N start_ms end_ms"

It also re-implements the network in NumPy from the weights tools/convert-silero-vad.py extracts (the
layout the C code follows) and asserts it matches the TorchScript model (max |diff| printed) before
writing anything.

Run: python3 tools/ref/vad_ref.py --wheel silero_vad-*.whl   (or --dir with an unpacked silero_vad/)
Needs: torch, numpy, safetensors, espeak-ng and ffmpeg CLIs.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "audio")
SR = 16000

CLIPS = [  # (leading silence s, [(text, gap after s)])
    (0.6, [("Hello there, how are you today?", 1.0), ("Please turn on the lights.", 0.7),
           ("Thank you.", 0.9)]),
    (0.3, [("The quick brown fox jumps over the lazy dog.", 1.5), ("One, two, three.", 0.5)]),
]


def espeak(text, tmp):
    wav = os.path.join(tmp, "e.wav")
    subprocess.run(["espeak-ng", "-s", "150", "-w", wav, text], check=True)
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", wav, "-ac", "1", "-ar", str(SR), "-f", "f32le", "-"],
                         check=True, capture_output=True).stdout
    x = np.frombuffer(raw, dtype="<f4").astype(np.float64)
    # Trim to the voiced part: first/last 10 ms frame whose RMS is within 20 dB of the loudest frame
    # (weak fricative onsets such as "th" fall below it; both VADs and listeners place the boundary there).
    fr = len(x) // 160
    rms = np.sqrt((x[:fr * 160].reshape(fr, 160) ** 2).mean(axis=1))
    idx = np.nonzero(rms > 0.1 * rms.max())[0]
    return x[idx[0] * 160:(idx[-1] + 1) * 160]


def make_clip(spec, tmp, rng):
    lead, parts = spec
    pieces, regions, pos = [np.zeros(int(lead * SR))], [], int(lead * SR)
    for text, gap in parts:
        u = espeak(text, tmp)
        u = u / np.abs(u).max() * 0.5
        regions.append((pos, pos + len(u)))
        pieces += [u, np.zeros(int(gap * SR))]
        pos += len(u) + int(gap * SR)
    x = np.concatenate(pieces) + rng.normal(0, 3e-4, pos)
    return np.clip(np.round(x * 32767), -32768, 32767).astype("<i2"), regions


# ---- NumPy re-implementation (the C code's layout) ----
def conv1d(x, w, b, stride=1, pad=0):  # x [Cin, T], w [Cout, Cin, K]
    if pad:
        x = np.pad(x, ((0, 0), (pad, pad)))
    k = w.shape[2]
    n = (x.shape[1] - k) // stride + 1
    cols = np.stack([x[:, i * stride:i * stride + k] for i in range(n)], axis=0)  # [n, Cin, K]
    y = np.einsum("nck,ock->on", cols, w)
    return y + (b[:, None] if b is not None else 0)


def np_vad(wts, audio):
    sig = lambda v: 1 / (1 + np.exp(-v))
    h = np.zeros(128, np.float32); c = np.zeros(128, np.float32); ctx = np.zeros(64, np.float32)
    out = []
    for i in range(0, len(audio), 512):
        chunk = audio[i:i + 512]
        x = np.concatenate([ctx, chunk]); ctx = chunk[-64:]
        x = np.pad(x, (0, 64), mode="reflect")[None, :]
        s = conv1d(x, wts["stft_conv.weight"], None, stride=128)
        m = np.sqrt(s[:129] ** 2 + s[129:] ** 2)
        relu = lambda v: np.maximum(v, 0)
        y = relu(conv1d(m, wts["conv1.weight"], wts["conv1.bias"], 1, 1))
        y = relu(conv1d(y, wts["conv2.weight"], wts["conv2.bias"], 2, 1))
        y = relu(conv1d(y, wts["conv3.weight"], wts["conv3.bias"], 2, 1))
        y = relu(conv1d(y, wts["conv4.weight"], wts["conv4.bias"], 1, 1))[:, 0]
        g = wts["lstm_cell.weight_ih"] @ y + wts["lstm_cell.bias_ih"] + wts["lstm_cell.weight_hh"] @ h + \
            wts["lstm_cell.bias_hh"]
        ig, fg, gg, og = sig(g[:128]), sig(g[128:256]), np.tanh(g[256:384]), sig(g[384:])
        c = fg * c + ig * gg
        h = og * np.tanh(c)
        p = sig(wts["final_conv.weight"][0, :, 0] @ np.maximum(h, 0) + wts["final_conv.bias"][0])
        out.append(p)
    return np.array(out, dtype=np.float32)


def jit_vad(model, audio):
    import torch
    model.reset_states()
    with torch.no_grad():
        return np.array([float(model(torch.from_numpy(audio[i:i + 512].copy()), SR))
                         for i in range(0, len(audio), 512)], dtype=np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wheel")
    ap.add_argument("--dir", help="unpacked silero_vad package directory")
    a = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        d = a.dir
        if a.wheel:
            zipfile.ZipFile(a.wheel).extractall(tmp)
            d = os.path.join(tmp, "silero_vad")
        if not d:
            sys.exit("give --wheel or --dir")
        model = torch.jit.load(os.path.join(d, "data", "silero_vad.jit"), map_location="cpu")
        import importlib.util
        spec = importlib.util.spec_from_file_location("conv", os.path.join(os.path.dirname(
            os.path.abspath(__file__)), "..", "convert-silero-vad.py"))
        conv = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(conv)
        wts = conv.weights_from_jit(os.path.join(d, "data", "silero_vad.jit"))
        rng = np.random.default_rng(7)
        lines = []
        os.makedirs(OUT, exist_ok=True)
        for n, spec in enumerate(CLIPS):
            pcm, regions = make_clip(spec, tmp, rng)
            audio = pcm.astype(np.float32) / 32768.0
            if len(audio) % 512:
                audio = np.concatenate([audio, np.zeros(512 - len(audio) % 512, np.float32)])
            pj = jit_vad(model, audio)
            pn = np_vad(wts, audio)
            print(f"clip {n}: {len(pcm)} samples, {len(pj)} chunks, numpy-vs-jit max |diff| "
                  f"{np.abs(pj - pn).max():.2e}, speech chunks {(pj > 0.5).sum()}")
            assert np.abs(pj - pn).max() < 1e-4
            pcm.tofile(os.path.join(OUT, f"vad-clip{n}.s16"))
            pj.astype("<f4").tofile(os.path.join(OUT, f"vad-clip{n}.prob"))
            lines.append(f"clip {n} n_samples {len(pcm)}")
            for s, e in regions:
                lines.append(f"speech {n} {s * 1000 // SR} {e * 1000 // SR}")
        with open(os.path.join(OUT, "vad.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
