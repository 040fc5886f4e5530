#!/usr/bin/env python3
"""ops_ref.py — NumPy (float64) reference outputs for the CPU backend ops, written to
tests/fixtures/ops/ops.bin and read by tests/unit/test-cpu-ops.c.

Format (little-endian), a flat list of named arrays:
    magic b"MYNAOPS1", u32 count, then per record:
    u32 name_len, name bytes (ASCII), u32 kind (0 = f32, 1 = i32, 2 = u8), u64 n_elements, data.
Each case "<case>" stores "<case>.p" (f32 parameters, meaning per op below) and its inputs/outputs;
shapes are innermost-first as in core/tensor.h, arrays are row-major (PyTorch order = reversed shape).

Independence: everything is computed here in float64 from the definitions (SPEC.md §1.9 for RoPE,
torch for GELU/conv); im2col is cross-checked against torch.nn.functional.conv1d/conv2d; quantized tables
are encoded/decoded with gguf-py's gguf.quants, not with Myna's code.

Run: python3 tools/ref/ops_ref.py  (seeded; rewrites the fixture)
"""
import math
import os
import struct
import sys

import numpy as np

try:
    import torch
except ImportError:  # the conv cross-check is skipped without torch
    torch = None
import gguf
from gguf import quants

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "ops", "ops.bin")

rng = np.random.default_rng(1234)
records = []


def put(name, arr, kind=0):
    dt = {0: "<f4", 1: "<i4", 2: "u1"}[kind]
    records.append((name, kind, np.ascontiguousarray(arr).astype(dt).ravel()))


def f16r(a):
    """Round to the nearest F16 value (exactly representable inputs for F16 paths)."""
    return a.astype(np.float16).astype(np.float64)


def f32r(a):
    return a.astype(np.float32).astype(np.float64)


# ---- norms: p = [C, T, eps, has_w, has_b] ------------------------------------------------------------
def norms():
    for name, kind, c, t, eps, hw, hb in [("rms_a", "rms", 67, 5, 1e-5, 1, 0), ("rms_b", "rms", 193, 33, 1e-6, 0, 0),
                                          ("ln_a", "ln", 67, 5, 1e-5, 1, 1), ("ln_b", "ln", 193, 1, 1e-6, 0, 0),
                                          ("ln_c", "ln", 193, 33, 1e-5, 1, 0)]:
        x = f32r(rng.normal(0.3, 2.0, (t, c)))
        w = f32r(rng.normal(1.0, 0.2, c)) if hw else np.ones(c)
        b = f32r(rng.normal(0.0, 0.5, c)) if hb else np.zeros(c)
        if kind == "rms":
            y = x / np.sqrt((x * x).mean(-1, keepdims=True) + f32r(np.float64(eps))) * w
        else:
            mu = x.mean(-1, keepdims=True)
            var = ((x - mu) ** 2).mean(-1, keepdims=True)
            y = (x - mu) / np.sqrt(var + f32r(np.float64(eps))) * w + b
        put(name + ".p", [c, t, eps, hw, hb])
        put(name + ".x", x)
        if hw:
            put(name + ".w", w)
        if hb:
            put(name + ".b", b)
        put(name + ".y", y)


# ---- rope: p = [HD, NH, T, mode, n_rot, base, freq_scale, has_ff] --------------------------------------
def rope():
    for name, hd, nh, t, mode, n_rot, base, fs, hff, pos in [
            ("rope_a", 64, 3, 5, 0, 64, 10000.0, 1.0, 0, [0, 1, 2, 7, 1000]),
            ("rope_b", 80, 2, 5, 2, 32, 500000.0, 0.25, 1, [3, 0, 65, 4095, 100000]),
            ("rope_c", 64, 4, 1, 0, 48, 500000.0, 1.0, 1, [31]),
            ("rope_d", 80, 3, 33, 2, 80, 10000.0, 1.0, 0, list(range(100, 133)))]:
        x = f32r(rng.normal(0, 1, (t, nh, hd)))
        half = n_rot // 2
        ff = f32r(rng.uniform(1.0, 8.0, half)) if hff else np.ones(half)
        i = np.arange(half)
        inv = f32r(np.float64(fs)) * f32r(np.float64(base)) ** (-2.0 * i / n_rot) / ff
        th = np.array(pos, dtype=np.float64)[:, None] * inv[None, :]  # [T, half]
        cs, sn = np.cos(th)[:, None, :], np.sin(th)[:, None, :]
        y = x.copy()
        if mode == 0:
            a, b = x[..., 0:n_rot:2], x[..., 1:n_rot:2]
            y[..., 0:n_rot:2] = a * cs - b * sn
            y[..., 1:n_rot:2] = a * sn + b * cs
        else:
            a, b = x[..., :half], x[..., half:n_rot]
            y[..., :half] = a * cs - b * sn
            y[..., half:n_rot] = a * sn + b * cs
        put(name + ".p", [hd, nh, t, mode, n_rot, base, fs, hff])
        put(name + ".pos", pos, 1)
        if hff:
            put(name + ".ff", ff)
        put(name + ".x", x)
        put(name + ".y", y)


# ---- softmax: p = [N, R, scale, mask_rows] --------------------------------------------------------------
def softmax():
    for name, n, r, scale, mrows in [("sm_a", 67, 5, 0.7, 0), ("sm_b", 193, 33, 1.0, 33), ("sm_c", 70, 4, 0.125, 1)]:
        x = f32r(rng.normal(0, 3, (r, n)))
        z = x * f32r(np.float64(scale))
        if mrows:
            m = f32r(rng.normal(0, 1, (mrows, n)))
            m[:, n // 2:n // 2 + 3] = -np.inf
            if mrows > 1:
                m[1, :] = -np.inf  # a fully masked row must give zeros
            put(name + ".m", m)
            z = z + (m if mrows == r else m[0][None, :])
        mx = z.max(-1, keepdims=True)
        e = np.where(np.isfinite(z), np.exp(z - np.where(np.isfinite(mx), mx, 0)), 0.0)
        s = e.sum(-1, keepdims=True)
        y = np.where(s > 0, e / np.where(s > 0, s, 1), 0.0)
        put(name + ".p", [n, r, scale, mrows])
        put(name + ".x", x)
        put(name + ".y", y)


# ---- attention: p = [HD, NH, NKV, T, S, causal, n_past, kv_f16, has_mask, scale] -----------------------
def attention():
    cases = [("att_a", 64, 4, 4, 5, 7, 1, 2, 0, 0), ("att_b", 80, 6, 2, 1, 70, 0, 0, 0, 0),
             ("att_c", 64, 8, 2, 33, 70, 1, 37, 1, 1), ("att_d", 64, 8, 1, 5, 1, 0, 0, 0, 0),
             ("att_e", 80, 4, 1, 33, 33, 1, 0, 1, 1), ("att_f", 64, 8, 1, 1, 70, 1, 69, 1, 0),
             ("att_g", 80, 3, 3, 5, 7, 0, 0, 0, 1)]
    for name, hd, nh, nkv, t, s, causal, n_past, kvf16, hm in cases:
        scale = 1.0 / math.sqrt(hd)
        q = f32r(rng.normal(0, 1, (t, nh, hd)))
        k = rng.normal(0, 1, (s, nkv, hd))
        v = rng.normal(0, 1, (s, nkv, hd))
        k, v = (f16r(k), f16r(v)) if kvf16 else (f32r(k), f32r(v))
        m = None
        if hm:
            m = f32r(rng.normal(0, 1, (t, s)))
            m[rng.random((t, s)) < 0.15] = -np.inf
            m[:, 0] = 0.0  # key 0 always visible so no row is empty
        out = np.zeros((t, nh, hd))
        g = nh // nkv
        for h in range(nh):
            for tt in range(t):
                nv = min(s, n_past + tt + 1) if causal else s
                sc = k[:nv, h // g, :] @ q[tt, h, :] * f32r(np.float64(scale))
                if m is not None:
                    sc = sc + m[tt, :nv]
                mx = sc[np.isfinite(sc)].max()
                e = np.where(np.isfinite(sc), np.exp(sc - mx), 0.0)
                out[tt, h, :] = (e / e.sum()) @ v[:nv, h // g, :]
        put(name + ".p", [hd, nh, nkv, t, s, causal, n_past, kvf16, hm, scale])
        put(name + ".q", q)
        put(name + ".k", k)
        put(name + ".v", v)
        if m is not None:
            put(name + ".m", m)
        put(name + ".y", out)


# ---- elementwise: p = [C, R] --------------------------------------------------------------------------------
def elementwise():
    c, r = 193, 5
    x = f32r(rng.uniform(-8, 8, (r, c)))
    u = f32r(rng.normal(0, 2, (r, c)))
    b = f32r(rng.normal(0, 2, c))
    erf = np.vectorize(math.erf)
    put("ew.p", [c, r])
    put("ew.x", x)
    put("ew.u", u)
    put("ew.brow", b)
    silu = x / (1 + np.exp(-x))
    put("ew.silu", silu)
    put("ew.gelu", 0.5 * x * (1 + erf(x / math.sqrt(2))))
    put("ew.gelu_tanh", 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))))
    put("ew.swiglu", silu * u)
    put("ew.add", x + u)
    put("ew.mul", x * u)
    put("ew.add_row", x + b[None, :])
    put("ew.mul_row", x * b[None, :])
    put("ew.scale", x * f32r(np.float64(-0.37)))


# ---- get_rows / copy: quantized tables via gguf-py ------------------------------------------------------------
def rows_and_copy():
    T = gguf.GGMLQuantizationType
    ids = [3, 0, 6, 3, 1]
    for name, qt, c, v in [("gr_f32", None, 67, 7), ("gr_f16", T.F16, 67, 7), ("gr_bf16", T.BF16, 67, 7),
                           ("gr_q8_0", T.Q8_0, 96, 7), ("gr_q4_k", T.Q4_K, 256, 7), ("gr_q6_k", T.Q6_K, 256, 7)]:
        tab = rng.normal(0, 1, (v, c)).astype(np.float32)
        if qt is None:
            raw, deq, dt = tab.view(np.uint8), tab.astype(np.float64), 0
        elif qt in (T.Q4_K, T.Q6_K):
            size = 144 if qt == T.Q4_K else 210
            raw = rng.integers(0, 256, (v, size), dtype=np.uint8)
            d = np.frombuffer(np.float16(0.013).tobytes(), np.uint8)
            if qt == T.Q4_K:
                raw[:, 0:2] = d
                raw[:, 2:4] = np.frombuffer(np.float16(0.021).tobytes(), np.uint8)
            else:
                raw[:, 208:210] = d
            deq, dt = quants.dequantize(raw, qt).astype(np.float64), int(qt)
        elif qt == T.F16:
            raw, deq, dt = tab.astype(np.float16).view(np.uint8), tab.astype(np.float16).astype(np.float64), 1
        else:
            raw = quants.quantize(tab, qt)
            deq, dt = quants.dequantize(raw, qt).astype(np.float64), int(qt)
        put(name + ".p", [c, v, dt, len(ids)])
        put(name + ".ids", ids, 1)
        put(name + ".raw", raw.ravel(), 2)
        put(name + ".y", deq[ids])

    # copy: F32 rows [HD*NKV, T] → strided F16 cache rows at n_past; Q8_0 from F32
    x = rng.normal(0, 1, (5, 128)).astype(np.float32)
    put("cp.x", x)
    put("cp.f16", x.astype(np.float16).view(np.uint16).astype(np.float64))  # bit patterns as exact floats
    put("cp.bf16", quants.quantize(x, T.BF16).view(np.uint16).astype(np.float64))
    q8 = quants.quantize(x, T.Q8_0)
    put("cp.q8_0_deq", quants.dequantize(q8, T.Q8_0).astype(np.float64))


# ---- im2col: p = [L or W, H, Cin, KH, KW, stride, pad] --------------------------------------------------------
def im2col():
    for name, l, cin, kw, st, pad in [("i1_a", 37, 3, 3, 1, 1), ("i1_b", 40, 2, 5, 2, 0)]:
        x = f32r(rng.normal(0, 1, (cin, l)))
        lout = (l + 2 * pad - kw) // st + 1
        xp = np.pad(x, ((0, 0), (pad, pad)))
        col = np.stack([xp[:, o * st:o * st + kw].reshape(-1) for o in range(lout)])  # [Lout, Cin*KW]
        if torch is not None:
            w = rng.normal(0, 1, (4, cin, kw))
            ref = torch.nn.functional.conv1d(torch.tensor(x)[None], torch.tensor(w), stride=st, padding=pad)[0]
            assert np.allclose(col @ w.reshape(4, -1).T, ref.numpy().T, atol=1e-9)
        put(name + ".p", [l, 1, cin, 1, kw, st, pad])
        put(name + ".x", x)
        put(name + ".y", col)
    for name, wd, h, cin, kh, kw, st, pad in [("i2_a", 9, 7, 3, 3, 3, 2, 1), ("i2_b", 8, 6, 2, 2, 3, 1, 0)]:
        x = f32r(rng.normal(0, 1, (cin, h, wd)))
        wo, ho = (wd + 2 * pad - kw) // st + 1, (h + 2 * pad - kh) // st + 1
        xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
        col = np.stack([xp[:, oy * st:oy * st + kh, ox * st:ox * st + kw].reshape(-1)
                        for oy in range(ho) for ox in range(wo)])
        if torch is not None:
            w = rng.normal(0, 1, (4, cin, kh, kw))
            ref = torch.nn.functional.conv2d(torch.tensor(x)[None], torch.tensor(w), stride=st, padding=pad)[0]
            assert np.allclose(col @ w.reshape(4, -1).T, ref.numpy().reshape(4, -1).T, atol=1e-9)
        put(name + ".p", [wd, h, cin, kh, kw, st, pad])
        put(name + ".x", x)
        put(name + ".y", col)


def main():
    norms()
    rope()
    softmax()
    attention()
    elementwise()
    rows_and_copy()
    im2col()
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "wb") as f:
        f.write(b"MYNAOPS1")
        f.write(struct.pack("<I", len(records)))
        for name, kind, arr in records:
            nb = name.encode()
            f.write(struct.pack("<I", len(nb)) + nb + struct.pack("<IQ", kind, arr.size))
            f.write(arr.tobytes())
    print(f"wrote {OUT}: {len(records)} arrays, {os.path.getsize(OUT)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
