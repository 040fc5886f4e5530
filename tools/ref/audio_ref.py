#!/usr/bin/env python3
"""audio_ref.py — audio-decoding fixtures for tests/unit/test-audio.c, made with the ffmpeg CLI.

Writes into tests/fixtures/audio/ a 440 Hz tone in several containers/codecs/rates/channel counts
(tone-*.wav/.flac/.mp3/.ogg/.opus/.m4a/.mkv) and, as the independent reference for resampling and
downmixing, `ffmpeg -i tone-44k-stereo.flac -ac 1 -ar 16000 -f f32le` (exactly how openai-whisper's
load_audio decodes) as tone-44k-stereo.ref.f32. The C test checks every file decodes to 16 kHz mono with
the right length and a 440 Hz peak, and that the FLAC decode equals the CLI's output.

Run: python3 tools/ref/audio_ref.py   (needs the ffmpeg CLI; Debian package `ffmpeg`)
"""
import os
import subprocess

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "audio")

FILES = [  # name, source rate, channels, duration, codec args
    ("tone-8k.wav", 8000, 1, 1.0, ["-c:a", "pcm_s16le"]),
    ("tone-24k-s24.wav", 24000, 2, 0.5, ["-c:a", "pcm_s24le"]),
    ("tone-44k-stereo.flac", 44100, 2, 1.0, ["-c:a", "flac"]),
    ("tone-44k.mp3", 44100, 1, 1.0, ["-c:a", "libmp3lame", "-b:a", "64k"]),
    ("tone-22k.ogg", 22050, 1, 1.0, ["-c:a", "libvorbis", "-q:a", "2"]),
    ("tone-48k.opus", 48000, 1, 1.0, ["-c:a", "libopus", "-b:a", "32k"]),
    ("tone-32k.m4a", 32000, 1, 1.0, ["-c:a", "aac", "-b:a", "48k"]),
    ("tone-16k.mkv", 16000, 1, 0.5, ["-c:a", "pcm_s16le"]),
]


def run(args):
    subprocess.run(["ffmpeg", "-v", "error", "-y"] + args, check=True)


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, sr, ch, dur, codec in FILES:
        run(["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={sr}:duration={dur}", "-ac", str(ch),
             "-fflags", "+bitexact", "-map_metadata", "-1"] + codec + [os.path.join(OUT, name)])
    run(["-i", os.path.join(OUT, "tone-44k-stereo.flac"), "-ac", "1", "-ar", "16000", "-f", "f32le",
         os.path.join(OUT, "tone-44k-stereo.ref.f32")])
    print("wrote", OUT)


if __name__ == "__main__":
    main()
