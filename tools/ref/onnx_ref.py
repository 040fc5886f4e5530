#!/usr/bin/env python3
"""Independent reference for core/onnx.c on a real model: the `onnx` PyPI package's view of every
initializer (name, data type, dims, FNV-1a 64 of its little-endian element bytes as numpy_helper decodes
them), the node count and, per initializer, the first consuming node's op_type and name.
Usage: tools/ref/onnx_ref.py MODEL.onnx > tests/fixtures/onnx/en_US-joe-medium.tsv   (pip install onnx)
"""
import sys

import onnx
from onnx import numpy_helper


def fnv1a64(b):
    h = 0xCBF29CE484222325
    for x in b:
        h = ((h ^ x) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def main():
    m = onnx.load(sys.argv[1])
    g = m.graph
    first = {}
    for n in g.node:
        for i in n.input:
            first.setdefault(i, n)
    print(f"# model\tir {m.ir_version}\topset {m.opset_import[0].version}\tnodes {len(g.node)}\tinitializers "
          f"{len(g.initializer)}\tinputs {','.join(i.name for i in g.input)}\toutputs {','.join(o.name for o in g.output)}")
    for t in g.initializer:
        a = numpy_helper.to_array(t)
        n = first.get(t.name)
        dims = "x".join(str(d) for d in t.dims) or "scalar"
        print(f"{t.name}\t{t.data_type}\t{dims}\t{fnv1a64(a.astype(a.dtype.newbyteorder('<')).tobytes()):016x}\t"
              f"{n.op_type if n else '-'}\t{(n.name or '-') if n else '-'}")


if __name__ == "__main__":
    main()
