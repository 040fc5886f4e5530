#!/usr/bin/env python3
"""safetensors_ref.py — writes the safetensors reader's fixtures with the reference `safetensors` package.

Outputs (tests/fixtures/safetensors/):
  basic.safetensors      F32, BF16, F16, I32 tensors, a 0-rank scalar, an empty [0, 3] tensor, __metadata__
  basic.expected.txt     one line per tensor: name dtype n_dims dims... n_values values... (decoded by torch
                         to float64, printed with repr precision) — the C test compares element by element
  hf-sharded/            config.json, model.safetensors.index.json, two shards (HF sharded layout)
  hf-single/             config.json, model.safetensors

Also writes the fuzz seed corpus tests/fuzz/corpus/safetensors/seed-* (valid files from the package plus
hand-made edge cases and near-misses). Crash regressions found by fuzzing live beside them as crash-*.

Run: python3 tools/ref/safetensors_ref.py [out_dir]
"""
import json
import os
import shutil
import struct
import sys

import torch
from safetensors.torch import save_file


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "tests", "fixtures", "safetensors")
    os.makedirs(out, exist_ok=True)

    g = torch.Generator().manual_seed(1234)
    tensors = {
        "model.a_f32": torch.randn(2, 3, generator=g, dtype=torch.float32),
        "model.b_bf16": torch.randn(5, generator=g).to(torch.bfloat16),
        "model.c_f16": torch.randn(2, 2, 2, generator=g).to(torch.float16),
        "model.i_i32": torch.tensor([-7, 0, 123456789], dtype=torch.int32),
        "model.scalar": torch.tensor(3.25, dtype=torch.float32),
        "model.empty": torch.zeros(0, 3, dtype=torch.float32),
    }
    save_file(tensors, os.path.join(out, "basic.safetensors"), metadata={"format": "pt", "note": "myna fixture"})
    with open(os.path.join(out, "basic.expected.txt"), "w") as f:
        for name in sorted(tensors):
            t = tensors[name]
            dt = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16", torch.int32: "I32"}[t.dtype]
            vals = t.reshape(-1).to(torch.float64).tolist()
            f.write(" ".join([name, dt, str(t.dim())] + [str(d) for d in t.shape] + [str(len(vals))]
                             + [repr(v) for v in vals]) + "\n")

    # Sharded HF folder: a tiny llama-like model split over two shards.
    cfg = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8,
        "num_hidden_layers": 2, "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "tie_word_embeddings": False,
        "torch_dtype": "bfloat16", "rope_scaling": None, "bad_int": 4096.0,
        "text_config": {"hidden_size": 16, "rope_scaling": {"factor": 8.0, "rope_type": "llama3",
                                                            "original_max_position_embeddings": 8192}},
    }
    shard1 = {
        "model.embed_tokens.weight": torch.randn(4, 8, generator=g).to(torch.bfloat16),
        "model.layers.0.input_layernorm.weight": torch.ones(8, dtype=torch.bfloat16),
    }
    shard2 = {
        "model.layers.1.input_layernorm.weight": torch.full((8,), 0.5, dtype=torch.bfloat16),
        "model.norm.weight": torch.arange(8, dtype=torch.float32),
        "lm_head.weight": torch.randn(4, 8, generator=g).to(torch.bfloat16),
    }
    d = os.path.join(out, "hf-sharded")
    os.makedirs(d, exist_ok=True)
    names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    save_file(shard1, os.path.join(d, names[0]), metadata={"format": "pt"})
    save_file(shard2, os.path.join(d, names[1]), metadata={"format": "pt"})
    wm = {k: names[0] for k in shard1}
    wm.update({k: names[1] for k in shard2})
    total = sum(t.numel() * t.element_size() for t in list(shard1.values()) + list(shard2.values()))
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(wm.items()))}, f, indent=2)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)

    d = os.path.join(out, "hf-single")
    os.makedirs(d, exist_ok=True)
    save_file({"model.norm.weight": torch.arange(8, dtype=torch.float32)}, os.path.join(d, "model.safetensors"),
              metadata={"format": "pt"})
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({"model_type": "llama", "hidden_size": 8}, f)

    write_corpus(root, out)


def raw(header, data_len, pad=True):
    h = header.encode("utf-8") if isinstance(header, str) else header
    if pad:
        h += b" " * (-(8 + len(h)) % 8)
    return struct.pack("<Q", len(h)) + h + bytes((i * 37) & 0xFF for i in range(data_len))


def write_corpus(root, fixtures):
    d = os.path.join(root, "tests", "fuzz", "corpus", "safetensors")
    os.makedirs(d, exist_ok=True)
    shutil.copy(os.path.join(fixtures, "basic.safetensors"), os.path.join(d, "seed-basic"))
    shutil.copy(os.path.join(fixtures, "hf-sharded", "model-00001-of-00002.safetensors"), os.path.join(d, "seed-shard1"))
    shutil.copy(os.path.join(fixtures, "hf-sharded", "model-00002-of-00002.safetensors"), os.path.join(d, "seed-shard2"))
    t = lambda dt, shape, b, e: '{"dtype":"%s","shape":%s,"data_offsets":[%d,%d]}' % (dt, shape, b, e)
    seeds = {
        "seed-empty-header": raw("{}", 0, pad=False),
        "seed-padded-metadata": raw('{"__metadata__":{"format":"pt","k":"v"}}', 0),
        "seed-f4-f6": raw('{"a":%s,"b":%s}' % (t("F4", "[2,2]", 0, 2), t("F6_E3M2", "[4]", 2, 5)), 5),
        "seed-zero-size": raw('{"a":%s,"b":%s,"c":%s}' % (t("U8", "[0]", 0, 0), t("BOOL", "[3,0]", 0, 0),
                                                         t("I64", "[1]", 0, 8)), 8),
        "seed-8dims": raw('{"x":%s}' % t("F32", "[1,1,1,1,1,1,2,3]", 0, 24), 24),
        "seed-bf16-matrix": raw('{"w":%s,"__metadata__":{"format":"pt"}}' % t("BF16", "[3,4]", 0, 24), 24),
        "seed-scalar-unpadded": raw('{"s":%s}' % t("F64", "[]", 0, 8), 8, pad=False),
        "seed-bad-size": raw('{"model.norm.weight":%s}' % t("F32", "[4]", 0, 10), 10),
        "seed-bad-gap": raw('{"a":%s,"b":%s}' % (t("F32", "[1]", 0, 4), t("F32", "[1]", 8, 12)), 12),
        "seed-bad-overlap": raw('{"a":%s,"b":%s}' % (t("F32", "[2]", 0, 8), t("F32", "[1]", 4, 8)), 8),
        "seed-bad-dupkey": raw('{"a":%s,"a":%s}' % (t("F32", "[1]", 0, 4), t("F32", "[1]", 0, 4)), 4),
        "seed-bad-utf8": raw(b'{"\xc3\x28":{}}', 0),
        "seed-bad-overflow": raw('{"a":%s}' % t("F32", "[4611686018427387904,4]", 0, 0), 0),
    }
    # every dtype once, contiguous
    sizes = [("BOOL", 1), ("U8", 1), ("I8", 1), ("I16", 2), ("U16", 2), ("F16", 2), ("BF16", 2), ("I32", 4),
             ("U32", 4), ("F32", 4), ("F64", 8), ("I64", 8), ("U64", 8), ("C64", 8), ("F8_E5M2", 1),
             ("F8_E4M3", 1), ("F8_E8M0", 1), ("F8_E4M3FNUZ", 1), ("F8_E5M2FNUZ", 1)]
    ents, off = [], 0
    for i, (dt, sz) in enumerate(sizes):
        ents.append('"t%02d":%s' % (i, t(dt, "[2]", off, off + 2 * sz)))
        off += 2 * sz
    seeds["seed-all-dtypes"] = raw("{" + ",".join(ents) + "}", off)
    for name, b in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(b)


if __name__ == "__main__":
    main()
