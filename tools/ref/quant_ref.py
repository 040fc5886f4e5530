#!/usr/bin/env python3
"""quant_ref.py — reference fixtures for core/quant.c (tests/unit/test-quant.c, test-matmul.c).

Independent reference: the PyPI `gguf` package (gguf.quants.quantize / dequantize) and NumPy in float64.
For each dtype, writes tests/fixtures/quant/<DTYPE>.bin:

  char magic[4] = "MYQF"; u32 version = 1; u32 dtype; u32 partner dtype; u32 n; u32 rows
  u8  weights[rows][row_bytes(dtype, n)]   gguf-quantized normal data (legacy/float types) or random
                                           blocks with sane fp16 scales (K-quants: gguf cannot quantize)
  f32 dequant[rows][n]                     gguf.quants.dequantize(weights)
  f32 x[n]                                 activation vector
  u8  xq[row_bytes(partner, n)]            x in the partner type (absent when partner is F32)
  f64 dot_f32[rows], abs_f32[rows]         sum(dequant·x), sum|dequant·x| in float64
  f64 dot_q8[rows],  abs_q8[rows]          the same against dequantized xq (= dot_f32 for float types)

Q8_K (partner of the K-quants) has no gguf quantizer: it is built here (d = amax/127, round half away,
bsums = sums of 16 consecutive qs). Run: python3 tools/ref/quant_ref.py [out_dir]
"""
import os
import struct
import sys

import numpy as np
from gguf import GGMLQuantizationType as QT
from gguf import quants

N = 512
ROWS = 4
SEED = 1234

PARTNER = {
    QT.F32: QT.F32, QT.F16: QT.F32, QT.BF16: QT.F32,
    QT.Q8_0: QT.Q8_0, QT.Q4_0: QT.Q8_0, QT.Q4_1: QT.Q8_0, QT.Q5_0: QT.Q8_0, QT.Q5_1: QT.Q8_0,
    QT.Q4_K: QT.Q8_K, QT.Q5_K: QT.Q8_K, QT.Q6_K: QT.Q8_K,
}


def fp16_bytes(vals):
    return np.asarray(vals, dtype=np.float16).view(np.uint8).reshape(-1, 2)


def random_k_blocks(rng, qt, nblocks):
    """Random K-quant blocks with realistic fp16 super-scales; other bytes uniformly random."""
    if qt == QT.Q4_K or qt == QT.Q5_K:
        size = 144 if qt == QT.Q4_K else 176
        b = rng.integers(0, 256, size=(nblocks, size), dtype=np.uint8)
        b[:, 0:2] = fp16_bytes(rng.uniform(2e-4, 2e-3, nblocks))  # d
        b[:, 2:4] = fp16_bytes(rng.uniform(1e-4, 1e-3, nblocks))  # dmin
        return b
    if qt == QT.Q6_K:
        b = rng.integers(0, 256, size=(nblocks, 210), dtype=np.uint8)
        b[:, 208:210] = fp16_bytes(rng.uniform(5e-5, 5e-4, nblocks))  # d (scales are int8 ±128)
        return b
    raise ValueError(qt)


def quantize_q8_k(x):
    x = x.reshape(-1, 256).astype(np.float32)
    out = []
    for blk in x:
        amax = float(np.max(np.abs(blk)))
        d = np.float32(amax / 127.0) if amax else np.float32(0)
        q = np.zeros(256, np.int8) if not amax else np.clip(quants.np_roundf(blk * np.float32(127.0 / amax)),
                                                              -127, 127).astype(np.int8)
        bsums = q.astype(np.int16).reshape(16, 16).sum(axis=1).astype(np.int16)
        out.append(struct.pack("<f", d) + q.tobytes() + bsums.tobytes())
    return b"".join(out)


def dequant_q8_k(raw, n):
    vals = []
    for i in range(n // 256):
        blk = raw[i * 292:(i + 1) * 292]
        d = struct.unpack("<f", blk[:4])[0]
        vals.append(np.frombuffer(blk[4:260], np.int8).astype(np.float64) * d)
    return np.concatenate(vals)


def make(qt, rng):
    data = rng.standard_normal((ROWS, N)).astype(np.float32)
    if qt == QT.F32:
        w = data.view(np.uint8).reshape(ROWS, -1)
    elif qt in (QT.Q4_K, QT.Q5_K, QT.Q6_K):
        w = random_k_blocks(rng, qt, ROWS * N // 256).reshape(ROWS, -1)
    else:
        w = quants.quantize(data, qt).view(np.uint8).reshape(ROWS, -1)
    deq = quants.dequantize(w, qt).astype(np.float32).reshape(ROWS, N)

    x = rng.standard_normal(N).astype(np.float32)
    partner = PARTNER[qt]
    if partner == QT.F32:
        xq = b""
        xd = x.astype(np.float64)
    elif partner == QT.Q8_0:
        xq_arr = quants.quantize(x.reshape(1, N), QT.Q8_0).view(np.uint8).reshape(-1)
        xq = xq_arr.tobytes()
        xd = quants.dequantize(xq_arr.reshape(1, -1), QT.Q8_0).reshape(N).astype(np.float64)
    else:
        xq = quantize_q8_k(x)
        xd = dequant_q8_k(xq, N)

    wd = deq.astype(np.float64)
    prod_f = wd * x.astype(np.float64)
    prod_q = wd * xd
    out = b"MYQF" + struct.pack("<5I", 1, int(qt), int(partner), N, ROWS)
    out += w.tobytes() + deq.tobytes() + x.tobytes() + xq
    out += prod_f.sum(axis=1).tobytes() + np.abs(prod_f).sum(axis=1).tobytes()
    out += prod_q.sum(axis=1).tobytes() + np.abs(prod_q).sum(axis=1).tobytes()
    return out


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "..", "tests", "fixtures", "quant")
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(SEED)
    for qt in PARTNER:
        blob = make(qt, rng)
        with open(os.path.join(out_dir, f"{qt.name}.bin"), "wb") as f:
            f.write(blob)
        print(f"{qt.name}: {len(blob)} bytes")


if __name__ == "__main__":
    main()
