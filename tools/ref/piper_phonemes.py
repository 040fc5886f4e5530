#!/usr/bin/env python3
"""Golden phonemes for tests/unit/test-phonemize.c: for each sentence of SENTENCES, write
  espeak_cli        the clause lines of `espeak-ng -q --ipa -v VOICE` (Debian's espeak-ng 1.51, the same
                    library Myna links);
  piper_phonemes / piper_ids
                    what the piper-tts PyPI package (piper1-gpl: its bundled espeak-ng 1.52 engine and
                    espeak-ng-data) gives: EspeakPhonemizer sentences and phonemes_to_ids with the voice's map;
  piper_debian_ids  the same engine and rule on Debian's espeak-ng-data (1.51), which separates differences
                    of pronunciation data from differences of the engine.
espeakbridge keeps one global data directory, so each phonemizer runs in its own process (--sentences).
Usage: tools/ref/piper_phonemes.py VOICE.onnx.json > tests/fixtures/phonemize/golden.json
Needs: pip install piper-tts; the espeak-ng CLI.
"""
import json
import subprocess
import sys

DEBIAN_DATA = "/usr/lib/x86_64-linux-gnu/espeak-ng-data"

SENTENCES = [
    "Hello, world. How are you?",
    "The quick brown fox jumps over the lazy dog.",
    "Dr. Smith paid $5.50 at 3:45pm... Then,left!",
    "It costs 5,000 dollars; that's 4.5% more than last year.",
    "Visit https://example.com/path?q=1 or mail info@example.org.",
    "Mr. and Mrs. Jones live at 221B Baker St., London.",
    "What?! Really? Yes!",
    "I have 2 cats, 3 dogs, and 1,234,567 fish.",
    "The meeting is on 12/25/2024 at 10:30 a.m.",
    "Use the 'rm -rf' command carefully: it's dangerous.",
    "He said \"no.\" Then he left.",
    "Numbers: 1st, 2nd, 3rd, 21st, 100th.",
    "Temperature: -5°C or 23°F.",
    "A - B – C — D",
    "e.g. this, i.e. that, etc.",
    "Wait... what?",
    "One; two: three!",
    "The year 1999 and the year 2024.",
    "Call 555-1234 or +1 (800) 555-0199.",
    "C++ and C# are languages; so is Python 3.11.",
    "50% off & free shipping > $35 < $100 = deal.",
    "The café serves crème brûlée.",
    "NASA, the FBI and the U.S.A. are acronyms.",
    "I'm, you're, we'll, they'd, can't, won't.",
    "Ünïcödé and naïve façade.",
    "Hello\n\nworld",
    "Pi is approximately 3.14159.",
    "Version 2.0.1 was released on March 3rd.",
    "Is it 9:00 or 21:00?",
    "Email: John.Doe@Example.COM; web: www.example.com",
    "Why? Because.",
    "OK",
]


def sentences_mode(voice, data_dir):
    from piper.phonemize_espeak import ESPEAK_DATA_DIR, EspeakPhonemizer
    phonemizer = EspeakPhonemizer(data_dir or ESPEAK_DATA_DIR)
    json.dump([[s for s in phonemizer.phonemize(voice, t) if s] for t in SENTENCES], sys.stdout)


def run_self(voice, data_dir):
    out = subprocess.run([sys.executable, __file__, "--sentences", voice, data_dir], capture_output=True, check=True,
                         text=True).stdout
    return json.loads(out)


def cli(voice, text):
    out = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", voice, text], capture_output=True, check=True,
                         text=True).stdout
    return [line.strip() for line in out.split("\n") if line.strip()]


def main():
    if sys.argv[1] == "--sentences":
        sentences_mode(sys.argv[2], sys.argv[3])
        return
    from piper.config import PiperConfig
    from piper.phoneme_ids import phonemes_to_ids
    with open(sys.argv[1], encoding="utf-8") as f:
        config = PiperConfig.from_dict(json.load(f))
    voice = config.espeak_voice
    shipped, debian = run_self(voice, ""), run_self(voice, DEBIAN_DATA)
    version = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout.strip()
    out = sys.stdout
    out.write('{"voice": %s,\n "espeak_cli_version": %s,\n "cases": [\n' % (json.dumps(voice), json.dumps(version)))
    for i, text in enumerate(SENTENCES):
        ids = lambda sents: ", ".join(json.dumps(phonemes_to_ids(s, config.phoneme_id_map)) for s in sents)
        out.write('  {"text": %s,\n   "espeak_cli": %s,\n   "piper_phonemes": %s,\n   "piper_ids": [%s],\n'
                  '   "piper_debian_ids": [%s]}%s\n' % (
                      json.dumps(text, ensure_ascii=False), json.dumps(cli(voice, text), ensure_ascii=False),
                      json.dumps(["".join(s) for s in shipped[i]], ensure_ascii=False), ids(shipped[i]),
                      ids(debian[i]), "," if i + 1 < len(SENTENCES) else ""))
    out.write(" ]}\n")


if __name__ == "__main__":
    main()
