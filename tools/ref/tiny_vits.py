#!/usr/bin/env python3
"""tiny_vits.py — fixtures for speech/tts/vits.c (tests/model/test-vits.c, tests/unit/test-conv-ops.c).

Builds two tiny random VITS models with Piper's exact module layout and tensor names (the layout
vits_ref.py documents) and runs them with vits_ref.py's float64 NumPy forward, which matches onnxruntime
on the real en_US-joe-medium voice to NMSE ~1e-10 (`python3 tools/ref/vits_ref.py VOICE.onnx`):

  tiny-vits      1 speaker, hidden 16, FFN filter 32, 2 heads, 2 layers, window 4, HiFi-GAN resblock "2"
                 (kernels 3/5/7, dilations (1,2)/(2,6)/(3,12)), upsample 4·4 (kernels 8·8), 32 initial
                 channels — hop 16 samples
  tiny-vits-ms   3 speakers (gin 8: emb_g, dp.cond, flow WaveNet cond_layer, dec.cond), resblock "1"
                 (kernels 3/5, dilations (1,3,5)), upsample 4·2 (kernels 8·4) — hop 8

Per model directory: model.safetensors (F32, PyTorch names and shapes), config.json (hyperparameters +
cases), and per case i: case<i>.ids (int32 phoneme ids), case<i>.dur (int32 frames per id), case<i>.f32
(float32 audio) at scales [0, 1, 0]. torch is not needed (and not installed here); no ONNX export either:
the real voice is the ONNX oracle (tools/ref/piper_ref.py).

Duration ties: w = ceil(exp(logw)) is discontinuous, so a seed whose exp(logw) lands within 1e-3 of an
integer is re-drawn (float32 vs float64 could round it apart); the script says which seed it used.

Also writes tests/fixtures/conv-ops/: conv1d / conv_transpose1d cases (inputs, PyTorch-layout weights,
float64 outputs from vits_ref.conv1d / conv_transpose1d, which implement torch's definitions).

Usage: python3 tools/ref/tiny_vits.py [fixtures_dir]   (default tests/fixtures)
"""
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vits_ref  # noqa: E402


def write_safetensors(path, tensors):
    header, off, blobs = {}, 0, []
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype=np.float32)
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def make_weights(rs, hp, n_vocab, n_speakers, gin):
    H, F = hp["hidden"], hp["filter"]
    W = {}

    def r(*shape, s=None):
        fan = np.prod(shape[1:]) if len(shape) > 1 else shape[0]
        return rs.randn(*shape) * (s if s is not None else 1.0 / np.sqrt(fan))

    def conv(name, cout, cin, k, bias=True, s=None):
        W[name + ".weight"] = r(cout, cin, k, s=s)
        if bias:
            W[name + ".bias"] = rs.randn(cout) * 0.1

    def ln(name, c):
        W[name + ".gamma"] = 1.0 + rs.randn(c) * 0.1
        W[name + ".beta"] = rs.randn(c) * 0.1

    W["enc_p.emb.weight"] = rs.randn(n_vocab, H) * H ** -0.5
    hd = H // hp["n_heads"]
    for l in range(hp["n_layers"]):
        p = "enc_p.encoder.attn_layers.%d." % l
        for c in "qkvo":
            conv(p + "conv_" + c, H, H, 1)
        W[p + "emb_rel_k"] = rs.randn(1, 2 * hp["window"] + 1, hd) * hd ** -0.5
        W[p + "emb_rel_v"] = rs.randn(1, 2 * hp["window"] + 1, hd) * hd ** -0.5
        ln("enc_p.encoder.norm_layers_1.%d" % l, H)
        ln("enc_p.encoder.norm_layers_2.%d" % l, H)
        conv("enc_p.encoder.ffn_layers.%d.conv_1" % l, F, H, 3)
        conv("enc_p.encoder.ffn_layers.%d.conv_2" % l, H, F, 3)
    conv("enc_p.proj", 2 * H, H, 1)

    def dds(p, c):
        for i in range(3):
            conv(p + "convs_sep.%d" % i, c, 1, 3)
            conv(p + "convs_1x1.%d" % i, c, c, 1)
            ln(p + "norms_1.%d" % i, c)
            ln(p + "norms_2.%d" % i, c)

    conv("dp.pre", H, H, 1)
    dds("dp.convs.", H)
    conv("dp.proj", H, H, 1)
    for f in (3, 5, 7):
        p = "dp.flows.%d." % f
        conv(p + "pre", H, 1, 1)
        dds(p + "convs.", H)
        conv(p + "proj", 29, H, 1, s=0.3)
    W["dp.flows.0.m"] = np.array([[-1.3], [0.2]]) + rs.randn(2, 1) * 0.05
    W["dp.flows.0.logs"] = rs.randn(2, 1) * 0.1
    half = H // 2
    for f in range(4):
        p = "flow.flows.%d." % (2 * f)
        conv(p + "pre", H, half, 1)
        for i in range(4):
            conv(p + "enc.in_layers.%d" % i, 2 * H, H, 5)
            conv(p + "enc.res_skip_layers.%d" % i, 2 * H if i < 3 else H, H, 1)
        if gin:
            conv(p + "enc.cond_layer", 2 * H * 4, gin, 1)
        conv(p + "post", half, H, 1, s=0.05)
    C0 = hp["upsample_initial"]
    conv("dec.conv_pre", C0, H, 7)
    ch = C0
    nk = len(hp["resblock_kernels"])
    for i, (u, k) in enumerate(zip(hp["upsample_rates"], hp["upsample_kernels"])):
        W["dec.ups.%d.weight" % i] = r(ch, ch // 2, k)
        W["dec.ups.%d.bias" % i] = rs.randn(ch // 2) * 0.1
        ch //= 2
        for j, (rk, dils) in enumerate(zip(hp["resblock_kernels"], hp["resblock_dilations"])):
            p = "dec.resblocks.%d." % (i * nk + j)
            for c in range(len(dils)):
                if hp["resblock"] == "2":
                    conv(p + "convs.%d" % c, ch, ch, rk)
                else:
                    conv(p + "convs1.%d" % c, ch, ch, rk)
                    conv(p + "convs2.%d" % c, ch, ch, rk)
    conv("dec.conv_post", 1, ch, 7, bias=False)
    if gin:
        W["emb_g.weight"] = rs.randn(n_speakers, gin)
        conv("dp.cond", H, gin, 1)
        conv("dec.cond", C0, gin, 1)
    return W


def ids_for(rs, n_vocab, n):
    ids = [1, 0]
    for _ in range(n):
        ids += [int(rs.randint(3, n_vocab)), 0]
    return ids + [2]


def build(out, name, hp, n_vocab, n_speakers, gin, lengths, seed):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    for s in range(seed, seed + 100):
        rs = np.random.RandomState(s)
        W = make_weights(rs, hp, n_vocab, n_speakers, gin)
        cases, ok = [], True
        for i, n in enumerate(lengths):
            ids = ids_for(rs, n_vocab, n)
            sid = i % n_speakers if n_speakers > 1 else None
            audio, dur, parts = vits_ref.synthesize(W, hp, ids, sid=sid, return_parts=True)
            e = np.exp(parts["logw"])
            if np.min(np.abs(e - np.round(e))) < 1e-3 or dur.max() > 12:
                ok = False
                break
            cases.append((ids, sid, audio, dur))
        if ok:
            break
    print("%s: seed %d" % (name, s))
    write_safetensors(os.path.join(d, "model.safetensors"), W)
    cfg = dict(hp)
    cfg.update({"num_symbols": n_vocab, "num_speakers": n_speakers, "gin_channels": gin, "seed": s,
                "scales": [0.0, 1.0, 0.0], "cases": []})
    for i, (ids, sid, audio, dur) in enumerate(cases):
        np.asarray(ids, np.int32).tofile(os.path.join(d, "case%d.ids" % i))
        np.asarray(dur, np.int32).tofile(os.path.join(d, "case%d.dur" % i))
        audio.astype(np.float32).tofile(os.path.join(d, "case%d.f32" % i))
        cfg["cases"].append({"n_ids": len(ids), "sid": -1 if sid is None else sid, "frames": int(dur.sum()),
                             "samples": len(audio)})
        print("  case %d: %d ids, %d frames, %d samples, sid %s" % (i, len(ids), dur.sum(), len(audio), sid))
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)


def conv_fixtures(out):
    d = os.path.join(out, "conv-ops")
    os.makedirs(d, exist_ok=True)
    rs = np.random.RandomState(7)
    cases = []
    # (Cin, Cout, L, K, stride, pad, dilation, groups)
    for i, (cin, cout, L, K, s, p, dl, g) in enumerate([(6, 10, 23, 5, 1, 2, 1, 1), (8, 8, 40, 7, 1, 18, 6, 1),
                                                        (12, 12, 19, 3, 1, 9, 9, 12), (6, 4, 17, 4, 3, 2, 2, 2)]):
        x = rs.randn(cin, L)
        w = rs.randn(cout, cin // g, K) * 0.3
        b = rs.randn(cout)
        y = vits_ref.conv1d(x, w, b, stride=s, pad=p, dil=dl, groups=g)
        for nm, a in (("x", x), ("w", w), ("b", b), ("y", y)):
            a.astype(np.float32).tofile(os.path.join(d, "conv%d.%s" % (i, nm)))
        cases.append({"op": "conv1d", "name": "conv%d" % i, "cin": cin, "cout": cout, "L": L, "K": K, "stride": s,
                      "pad": p, "dilation": dl, "groups": g, "lout": y.shape[1]})
    for i, (cin, cout, L, K, s, p) in enumerate([(8, 6, 11, 16, 8, 4), (5, 3, 9, 5, 3, 1)]):
        x = rs.randn(cin, L)
        w = rs.randn(cin, cout, K) * 0.3
        b = rs.randn(cout)
        y = vits_ref.conv_transpose1d(x, w, b, stride=s, pad=p)
        for nm, a in (("x", x), ("w", w), ("b", b), ("y", y)):
            a.astype(np.float32).tofile(os.path.join(d, "convt%d.%s" % (i, nm)))
        cases.append({"op": "conv_transpose1d", "name": "convt%d" % i, "cin": cin, "cout": cout, "L": L, "K": K,
                      "stride": s, "pad": p, "lout": y.shape[1]})
    with open(os.path.join(d, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "tests",
                                                             "fixtures")
    base = {"hidden": 16, "filter": 32, "n_heads": 2, "n_layers": 2, "window": 4, "upsample_initial": 32}
    single = dict(base, resblock="2", resblock_kernels=[3, 5, 7], resblock_dilations=[[1, 2], [2, 6], [3, 12]],
                  upsample_rates=[4, 4], upsample_kernels=[8, 8])
    multi = dict(base, resblock="1", resblock_kernels=[3, 5], resblock_dilations=[[1, 3, 5], [1, 3, 5]],
                 upsample_rates=[4, 2], upsample_kernels=[8, 4])
    build(out, "tiny-vits", single, 40, 1, 0, [3, 11, 24], 1)
    build(out, "tiny-vits-ms", multi, 40, 3, 8, [5, 13, 20], 101)
    conv_fixtures(out)


if __name__ == "__main__":
    main()
