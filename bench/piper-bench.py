#!/usr/bin/env python3
"""piper-bench.py — one timed synthesis with piper-tts (pip install piper-tts; onnxruntime inside), the
program Piper users run, for bench/bench-tts.c: loads VOICE.onnx, warms up once, then synthesizes TEXT and
prints one line "piper audio_s wall_s first_s cpu_s" (first_s: until the first sentence's audio came back,
which is when piper-tts can start playing). Scales as given (default 0 1 0: deterministic), no
normalisation (as Myna). Threads: onnxruntime's default (all cores) unless OMP/intra threads are set by
the caller through MYNA_PIPER_THREADS.
Usage: piper-bench.py VOICE.onnx TEXT [noise_scale length_scale noise_w]
"""
import os
import sys
import time

import onnxruntime
from piper import PiperVoice
from piper.config import SynthesisConfig


def main():
    path, text = sys.argv[1], sys.argv[2]
    sc = [float(a) for a in sys.argv[3:6]] if len(sys.argv) >= 6 else [0.0, 1.0, 0.0]
    threads = int(os.environ.get("MYNA_PIPER_THREADS", "0"))
    if threads > 0:  # piper's loader takes no session options: patch the session constructor
        real = onnxruntime.InferenceSession

        def session(p, sess_options=None, providers=None, **kw):
            o = sess_options or onnxruntime.SessionOptions()
            o.intra_op_num_threads = threads
            o.inter_op_num_threads = 1
            return real(p, sess_options=o, providers=providers, **kw)
        onnxruntime.InferenceSession = session
    v = PiperVoice.load(path)
    cfg = SynthesisConfig(noise_scale=sc[0], length_scale=sc[1], noise_w_scale=sc[2], normalize_audio=False)
    for _ in v.synthesize("Warm up.", syn_config=cfg):
        pass
    t0, c0, first, n = time.time(), time.process_time(), None, 0
    for ch in v.synthesize(text, syn_config=cfg):
        if first is None:
            first = time.time() - t0
        n += len(ch.audio_int16_bytes) // 2
    print("piper %.4f %.4f %.4f %.4f" % (n / v.config.sample_rate, time.time() - t0, first, time.process_time() - c0))


if __name__ == "__main__":
    main()
