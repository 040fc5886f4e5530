#!/usr/bin/env python3
"""gguf_ref.py — independent GGUF reference for core/gguf.c, using the `gguf` Python package (gguf-py).

  gguf_ref.py fixture OUT.gguf   write the fixture tests/fixtures/gguf/py-writer.gguf with gguf.GGUFWriter
                                 (its values are restated in tests/unit/test-gguf.c, check_py_fixture)
  gguf_ref.py corpus DIR         write the fuzz seed corpus tests/fuzz/corpus/gguf/ (valid files from
                                 GGUFWriter, invalid ones by patching bytes; each < 64 KB)
  gguf_ref.py check FILE...      read files (e.g. written by myna's C writer) with gguf.GGUFReader and
                                 print their metadata and tensors: proves gguf-py accepts them

CI does not run this script; its outputs are committed.
"""
import os
import struct
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as QT
from gguf import GGUFValueType as VT


def fixture_values():
    a = (np.arange(24, dtype=np.float32) * 0.25 - 3.0).reshape(3, 8)    # ne = [8, 3]
    b = (np.arange(32, dtype=np.float32) * 0.5 - 8.0).reshape(2, 16)    # ne = [16, 2]
    c = np.sin(np.arange(128, dtype=np.float32) * 0.1).reshape(2, 64)  # Q8_0, ne = [64, 2]
    return a, b.astype(np.float16), c


def write_fixture(path, alignment=None, n_tokens=1000):
    w = gguf.GGUFWriter(path, "llama")
    if alignment:
        w.add_custom_alignment(alignment)
    w.add_name("myna-test")
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -5)
    w.add_uint16("test.u16", 65000)
    w.add_int16("test.i16", -1234)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -123456)
    w.add_float32("test.f32", 1.25)
    w.add_bool("test.bool", True)
    w.add_uint64("test.u64", (1 << 40) + 7)
    w.add_int64("test.i64", -(1 << 40))
    w.add_float64("test.f64", 3.25)
    w.add_key_value("test.arr_i32", [1, -2, 3], VT.ARRAY, VT.INT32)
    w.add_key_value("test.arr_f32", [0.5, 1.5], VT.ARRAY, VT.FLOAT32)
    w.add_key_value("test.arr_bool", [True, False, True], VT.ARRAY, VT.BOOL)
    w.add_key_value("test.arr_str", ["a", "h\u00e9llo", "", "<|end|>"], VT.ARRAY, VT.STRING)
    w.add_key_value("tokenizer.ggml.tokens", ["tok%d" % i for i in range(n_tokens)], VT.ARRAY, VT.STRING)
    a, b, c = fixture_values()
    w.add_tensor("a.weight", a)
    w.add_tensor("b.weight", b)
    cq = gguf.quants.quantize(c, QT.Q8_0)
    w.add_tensor("c.weight", cq, raw_shape=cq.shape, raw_dtype=QT.Q8_0)  # byte shape [2, 68]
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# ---- hand-built files for the corpus ----

def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def header(n_t, n_kv, version=3):
    return b"GGUF" + struct.pack("<IQQ", version, n_t, n_kv)


def kv_u32(k, v):
    return gstr(k) + struct.pack("<II", VT.UINT32, v)


def tinfo(name, ne, t, off):
    return gstr(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<q", d) for d in ne) + \
        struct.pack("<IQ", t, off)


def with_data(head, nbytes, align=32):
    pad = (-len(head)) % align
    return head + b"\0" * pad + bytes((i * 7) & 0xff for i in range(nbytes))


def write_corpus(d):
    os.makedirs(d, exist_ok=True)
    tmp = os.path.join(d, "_tmp.gguf")

    def save(name, data):
        assert len(data) < 65536, name
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)

    write_fixture(tmp, n_tokens=50)
    base = open(tmp, "rb").read()
    save("valid-pywriter.gguf", base)
    write_fixture(tmp, alignment=64, n_tokens=10)
    save("valid-align64.gguf", open(tmp, "rb").read())
    os.remove(tmp)

    save("valid-empty.gguf", header(0, 0))
    save("valid-v2.gguf", with_data(header(1, 1, version=2) + kv_u32("general.alignment", 32) +
                                    tinfo("x", [4, 2], QT.F32, 0), 32))
    save("valid-q4k.gguf", with_data(header(2, 0) + tinfo("q", [256, 2], QT.Q4_K, 0) +
                                     tinfo("r", [32], QT.Q4_0, 288), 288 + 18))
    save("valid-4d.gguf", with_data(header(1, 0) + tinfo("t4", [2, 3, 4, 5], QT.BF16, 0), 240))
    # invalid ones
    save("bad-magic.gguf", b"GGUG" + base[4:4096])
    save("bad-version1.gguf", header(0, 0, version=1))
    save("bad-bigendian.gguf", b"GGUF" + struct.pack(">IQQ", 3, 0, 0))
    save("bad-truncated-kv.gguf", base[:200])
    save("bad-truncated-data.gguf", base[:-40])
    save("bad-dup-key.gguf", header(0, 2) + kv_u32("a.b", 1) + kv_u32("a.b", 2))
    save("bad-nested-array.gguf", header(0, 1) + gstr("arr") + struct.pack("<IIQ", VT.ARRAY, VT.ARRAY, 1) +
         struct.pack("<IQ", VT.UINT8, 1) + b"\1")
    save("bad-bool.gguf", header(0, 1) + gstr("b") + struct.pack("<IB", VT.BOOL, 7))
    save("bad-huge-array.gguf", header(0, 1) + gstr("arr") + struct.pack("<IIQ", VT.ARRAY, VT.UINT64, 1 << 61))
    save("bad-align.gguf", with_data(header(1, 1) + kv_u32("general.alignment", 48) +
                                     tinfo("x", [4], QT.F32, 0), 16, 16))
    save("bad-gap.gguf", with_data(header(2, 0) + tinfo("a", [8], QT.F32, 0) + tinfo("b", [8], QT.F32, 64), 96))
    save("bad-overlap.gguf", with_data(header(2, 0) + tinfo("a", [16], QT.F32, 0) + tinfo("b", [8], QT.F32, 32), 96))
    save("bad-negative-dim.gguf", with_data(header(1, 0) + tinfo("a", [8, -1], QT.F32, 0), 32))
    save("bad-overflow-dims.gguf", with_data(header(1, 0) + tinfo("a", [1 << 40, 1 << 40], QT.F32, 0), 32))
    save("bad-unsupported-type.gguf", with_data(header(1, 0) + tinfo("a", [256], 16, 0), 66))
    save("bad-ne0-block.gguf", with_data(header(1, 0) + tinfo("a", [33], QT.Q8_0, 0), 64))
    save("bad-utf8-key.gguf", header(0, 1) + gstr(b"k\xc0\x80") + struct.pack("<II", VT.UINT32, 1))


def check(paths):
    for p in paths:
        r = gguf.GGUFReader(p)
        print(p)
        for k, f in r.fields.items():
            print("  kv %-28s %s" % (k, [t.name for t in f.types]))
        for t in r.tensors:
            print("  tensor %-20s %-6s ne=%s bytes=%d off=%d first=%s" % (
                t.name, t.tensor_type.name, list(t.shape), t.n_bytes, t.data_offset,
                np.asarray(t.data).reshape(-1)[:4].tolist()))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    cmd = sys.argv[1]
    if cmd == "fixture":
        write_fixture(sys.argv[2])
    elif cmd == "corpus":
        write_corpus(sys.argv[2])
    elif cmd == "check":
        check(sys.argv[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
