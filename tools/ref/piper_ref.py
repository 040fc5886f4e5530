#!/usr/bin/env python3
"""piper_ref.py — onnxruntime oracle for any Piper voice .onnx: runs phoneme-id sequences at scales
[0, 1, 0] (deterministic) and writes, per sequence i, OUT/i.f32 (float32 samples) and OUT/i.dur (int32
frames per id: the graph's Ceil output, exposed as an extra graph output).

Usage: python3 tools/ref/piper_ref.py VOICE.onnx IDS.txt OUT_DIR [speaker_id]
IDS.txt: one sequence per line, ids separated by spaces. Needs `pip install onnx onnxruntime`.
Used by tests/model/test-vits.c --real (generated at test time; nothing committed).
"""
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main():
    path, ids_path, out = sys.argv[1], sys.argv[2], sys.argv[3]
    sid = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    m = onnx.load(path)
    ceil = [n for n in m.graph.node if n.op_type == "Ceil"]
    if len(ceil) != 1:
        sys.exit("piper_ref: expected one Ceil node (durations), found %d" % len(ceil))
    m.graph.output.append(onnx.helper.make_tensor_value_info(ceil[0].output[0], onnx.TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    os.makedirs(out, exist_ok=True)
    with open(ids_path) as f:
        seqs = [[int(t) for t in line.split()] for line in f if line.strip()]
    for i, ids in enumerate(seqs):
        feed = {"input": np.array([ids], np.int64), "input_lengths": np.array([len(ids)], np.int64),
                "scales": np.array([0.0, 1.0, 0.0], np.float32)}
        if "sid" in names:
            feed["sid"] = np.array([sid], np.int64)
        audio, dur = sess.run(None, feed)
        audio.reshape(-1).astype(np.float32).tofile(os.path.join(out, "%d.f32" % i))
        dur.reshape(-1).astype(np.int32).tofile(os.path.join(out, "%d.dur" % i))
    print("piper_ref: %d sequences" % len(seqs))


if __name__ == "__main__":
    main()
