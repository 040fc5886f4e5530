#!/usr/bin/env python3
"""convert-silero-vad.py — extract the Silero VAD 16 kHz network from the PyPI package `silero-vad` into
the small safetensors file speech/vad.c loads (F32 tensors, names below, __metadata__ format tag).

What it is: a one-time converter run by scripts/fetch-models, Python standard library only. It reads the
TorchScript archive itself (a zip) with a restricted unpickler and writes the safetensors file itself.
What it is not: a general TorchScript loader. Only the pickle globals listed in _JitUnpickler are
accepted (the `__torch__.*` module classes become inert attribute holders; nothing is ever imported or
called), only little-endian float32 storages are read, and only the tensors in NAMES are written.

Source: silero_vad/data/silero_vad.jit (the package's default model, what load_silero_vad() returns),
submodule `_model` (16 kHz). NOT silero_vad_16k.safetensors from the same wheel: in silero-vad 6.2.3 those
weights differ from the TorchScript model (e.g. conv1 by up to 4.0), so the JIT is the one we match.

TorchScript archive (facts from torch/csrc/jit/serialization/{export_module,import}.cpp and
torch/_utils.py, checked against this file): one top folder <P>/ holding
  <P>/data.pkl     pickle (protocol 2) of the module tree: each module is `__torch__.<qualname>` built by
                   NEWOBJ with no arguments, then BUILD with a dict of its attributes (submodules,
                   parameters, buffers, plain values; Sequential children under "0", "1", …)
  <P>/data/<key>   raw bytes of storage <key>, in the byte order named by <P>/byteorder ("little")
  tensors in data.pkl: torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride,
                   requires_grad, backward_hooks[, metadata]); storage = persistent id
                   ('storage', torch.FloatStorage, key, location, numel); offset/stride in elements.
  (code/, constants.pkl and debug pickles are not needed for the weights and are not read.)

Output tensors (PyTorch shapes):
    stft_conv.weight [258, 1, 256]   STFT basis (129 real rows, then 129 imaginary rows), hop 128
    conv1.weight [128, 129, 3] conv1.bias [128]    stride 1, pad 1, ReLU
    conv2.weight [64, 128, 3]  conv2.bias [64]     stride 2, pad 1, ReLU
    conv3.weight [64, 64, 3]   conv3.bias [64]     stride 2, pad 1, ReLU
    conv4.weight [128, 64, 3]  conv4.bias [128]    stride 1, pad 1, ReLU
    lstm_cell.weight_ih [512, 128] lstm_cell.weight_hh [512, 128] lstm_cell.bias_ih [512] lstm_cell.bias_hh [512]
    final_conv.weight [1, 128, 1] final_conv.bias [1]
The file is written like safetensors.numpy.save_file would (compact JSON header, tensors sorted by name,
header space-padded to a multiple of 8; SPEC.md §2.1), with the metadata keys in a fixed order.

Usage: convert-silero-vad.py --out DEST.safetensors [--wheel silero_vad-X.whl] [--check-with-torch]
Without --wheel it runs `pip download silero-vad==6.2.3` into a temporary folder.
--check-with-torch (needs torch, numpy, safetensors) also loads the model with torch.jit and fails unless
the torch tensors give a byte-identical file and safetensors' own writer gives the same header and data.
"""
import argparse
import collections
import glob
import io
import json
import os
import pickle
import re
import struct
import subprocess
import sys
import tempfile
import zipfile

PKG = "silero-vad==6.2.3"
JIT_IN_WHEEL = "silero_vad/data/silero_vad.jit"
SUBMODULE = "_model"
NAMES = {
    "stft.forward_basis_buffer": "stft_conv.weight",
    "encoder.0.reparam_conv.weight": "conv1.weight", "encoder.0.reparam_conv.bias": "conv1.bias",
    "encoder.1.reparam_conv.weight": "conv2.weight", "encoder.1.reparam_conv.bias": "conv2.bias",
    "encoder.2.reparam_conv.weight": "conv3.weight", "encoder.2.reparam_conv.bias": "conv3.bias",
    "encoder.3.reparam_conv.weight": "conv4.weight", "encoder.3.reparam_conv.bias": "conv4.bias",
    "decoder.rnn.weight_ih": "lstm_cell.weight_ih", "decoder.rnn.weight_hh": "lstm_cell.weight_hh",
    "decoder.rnn.bias_ih": "lstm_cell.bias_ih", "decoder.rnn.bias_hh": "lstm_cell.bias_hh",
    "decoder.decoder.2.weight": "final_conv.weight", "decoder.decoder.2.bias": "final_conv.bias",
}
SHAPES = {
    "stft_conv.weight": (258, 1, 256),
    "conv1.weight": (128, 129, 3), "conv1.bias": (128,),
    "conv2.weight": (64, 128, 3), "conv2.bias": (64,),
    "conv3.weight": (64, 64, 3), "conv3.bias": (64,),
    "conv4.weight": (128, 64, 3), "conv4.bias": (128,),
    "lstm_cell.weight_ih": (512, 128), "lstm_cell.weight_hh": (512, 128),
    "lstm_cell.bias_ih": (512,), "lstm_cell.bias_hh": (512,),
    "final_conv.weight": (1, 128, 1), "final_conv.bias": (1,),
}
MAX_PICKLE = 1 << 20          # data.pkl is ~6 KB
MAX_STORAGE = 64 << 20        # largest storage is ~260 KB
MAX_STORAGE_TOTAL = 256 << 20 # all storages together are ~2.2 MB
MAX_JIT = 256 << 20           # the .jit is ~2.3 MB


class ConvertError(Exception):
    pass


class Tensor:
    """A contiguous little-endian float32 tensor: shape (tuple of int) and raw bytes."""
    __slots__ = ("shape", "data")

    def __init__(self, shape, data):
        self.shape = tuple(shape)
        self.data = bytes(data)


class _Module:
    """Stand-in for every `__torch__.*` class: holds the attribute dict given by BUILD, nothing else."""

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise ConvertError("module state is not a dict")
        self.attrs = state


class _FloatStorage:
    """Marker for the `torch.FloatStorage` global inside persistent ids."""


class _Storage:
    __slots__ = ("key", "numel", "data")

    def __init__(self, key, numel, data):
        self.key, self.numel, self.data = key, numel, data


def _numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    del requires_grad, backward_hooks, metadata
    if not isinstance(storage, _Storage):
        raise ConvertError("tensor without a float32 storage")
    if not (isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride)):
        raise ConvertError("tensor size/stride are not tuples of one length")
    for v in (storage_offset,) + size + stride:
        if type(v) is not int or v < 0:
            raise ConvertError(f"bad tensor geometry {storage_offset} {size} {stride}")
    n = _numel(size)
    if n == 0:
        return Tensor(size, b"")
    last = storage_offset + sum((d - 1) * s for d, s in zip(size, stride))
    if last >= storage.numel:
        raise ConvertError(f"tensor {size}/{stride}+{storage_offset} overruns storage {storage.key} "
                           f"({storage.numel} elements)")
    contiguous, expect = True, 1
    for d, s in zip(reversed(size), reversed(stride)):
        if d != 1 and s != expect:
            contiguous = False
        expect *= d
    if contiguous:
        return Tensor(size, storage.data[4 * storage_offset:4 * (storage_offset + n)])
    out = bytearray()
    src = storage.data
    idx = [0] * len(size)
    for _ in range(n):
        e = storage_offset + sum(i * s for i, s in zip(idx, stride))
        out += src[4 * e:4 * e + 4]
        for ax in range(len(size) - 1, -1, -1):
            idx[ax] += 1
            if idx[ax] < size[ax]:
                break
            idx[ax] = 0
    return Tensor(size, out)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    del requires_grad, backward_hooks
    if not isinstance(data, Tensor):
        raise ConvertError("parameter without a tensor")
    return data


def _ordered_dict(*args):
    if args:
        raise ConvertError("OrderedDict with arguments")
    return collections.OrderedDict()


def _build_list(items):
    if not isinstance(items, list):
        raise ConvertError("list builder without a list")
    return items


_GLOBALS = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("collections", "OrderedDict"): _ordered_dict,
    ("torch", "FloatStorage"): _FloatStorage,
    ("torch.jit._pickle", "build_intlist"): _build_list,
    ("torch.jit._pickle", "build_doublelist"): _build_list,
    ("torch.jit._pickle", "build_boollist"): _build_list,
}
_TORCH_CLASS = re.compile(r"__torch__(\.[A-Za-z_][A-Za-z0-9_]*)+")
_STORAGE_KEY = re.compile(r"[0-9]{1,9}")


class _JitUnpickler(pickle.Unpickler):
    """Unpickler for <P>/data.pkl that resolves only _GLOBALS and `__torch__.*` names, never imports."""

    def __init__(self, data, zf, prefix):
        super().__init__(io.BytesIO(data))
        self._zf, self._prefix, self._storages, self._total = zf, prefix, {}, 0

    def find_class(self, module, name):
        f = _GLOBALS.get((module, name))
        if f is not None:
            return f
        if _TORCH_CLASS.fullmatch(module) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            return _Module
        raise ConvertError(f"refusing pickle global {module}.{name}")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise ConvertError(f"unknown persistent id {pid!r:.80}")
        _, kind, key, _location, numel = pid
        if kind is not _FloatStorage:
            raise ConvertError(f"storage {key!r:.20} is not float32 (unsupported dtype)")
        if not (isinstance(key, str) and _STORAGE_KEY.fullmatch(key)) or type(numel) is not int \
                or not 0 <= numel <= MAX_STORAGE // 4:
            raise ConvertError(f"bad storage id {pid!r:.80}")
        st = self._storages.get(key)
        if st is None:
            data = _read_member(self._zf, f"{self._prefix}/data/{key}", MAX_STORAGE)
            if len(data) != 4 * numel:
                raise ConvertError(f"storage {key}: {len(data)} bytes, expected {4 * numel}")
            self._total += len(data)
            if self._total > MAX_STORAGE_TOTAL:
                raise ConvertError("storages too large in total")
            st = self._storages[key] = _Storage(key, numel, data)
        elif st.numel != numel:
            raise ConvertError(f"storage {key} used with two sizes")
        return st


def _read_member(zf, name, limit):
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise ConvertError(f"archive lacks {name}") from None
    if info.file_size > limit:
        raise ConvertError(f"{name}: {info.file_size} bytes is too large")
    with zf.open(info) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ConvertError(f"{name}: too large")
    return data


def weights_from_jit_bytes(jit):
    """TorchScript archive bytes -> {output name: Tensor} for NAMES, pure Python."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(jit))
    except zipfile.BadZipFile as e:
        raise ConvertError(f"not a TorchScript archive ({e})") from None
    with zf:
        tops = {n.split("/", 1)[0] for n in zf.namelist() if n.count("/") == 1 and n.endswith("/data.pkl")}
        if len(tops) != 1:
            raise ConvertError(f"expected one <top>/data.pkl, found {len(tops)}")
        prefix = tops.pop()
        order = _read_member(zf, f"{prefix}/byteorder", 16) if f"{prefix}/byteorder" in zf.namelist() \
            else b"little"
        if order.strip() != b"little":
            raise ConvertError(f"byte order {order!r} unsupported")
        try:
            root = _JitUnpickler(_read_member(zf, f"{prefix}/data.pkl", MAX_PICKLE), zf, prefix).load()
        except ConvertError:
            raise
        except Exception as e:  # malformed pickle: report it as the input's fault
            raise ConvertError(f"data.pkl: {type(e).__name__}: {e}") from None
    model = _attr(root, SUBMODULE, "")
    if not isinstance(model, _Module):
        raise ConvertError(f"{SUBMODULE} is not a module")
    sr = model.attrs.get("sample_rate")
    if sr != 16000:
        raise ConvertError(f"{SUBMODULE}.sample_rate is {sr!r}, expected 16000")
    out = {}
    for path, name in NAMES.items():
        obj = model
        for i, part in enumerate(path.split(".")):
            obj = _attr(obj, part, ".".join(path.split(".")[:i]))
        if not isinstance(obj, Tensor):
            raise ConvertError(f"{SUBMODULE}.{path} is not a tensor: unknown model layout")
        if obj.shape != SHAPES[name]:
            raise ConvertError(f"{SUBMODULE}.{path} has shape {list(obj.shape)}, expected {list(SHAPES[name])}")
        out[name] = obj
    return out


def _attr(obj, part, where):
    if not isinstance(obj, _Module) or not isinstance(getattr(obj, "attrs", None), dict) \
            or part not in obj.attrs:
        raise ConvertError(f"{SUBMODULE}.{where} lacks {part!r}: unknown model layout")
    return obj.attrs[part]


def safetensors_bytes(tensors, metadata):
    """{name: Tensor} (F32) + {str: str} -> safetensors file bytes (SPEC.md §2.1)."""
    header, offset = {"__metadata__": dict(metadata)}, 0
    for name in sorted(tensors):
        t = tensors[name]
        if len(t.data) != 4 * _numel(t.shape):
            raise ConvertError(f"{name}: {len(t.data)} bytes for shape {list(t.shape)}")
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(t.data)]}
        offset += len(t.data)
    h = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    h += b" " * (-len(h) % 8)
    return b"".join([struct.pack("<Q", len(h)), h] + [tensors[n].data for n in sorted(tensors)])


def check_with_torch(jit_path, pure, metadata, blob):
    """Cross-check against torch.jit + safetensors; raises ConvertError on any difference."""
    try:
        import numpy as np
        import torch
        from safetensors.numpy import save as st_save
    except ImportError as e:
        raise ConvertError(f"--check-with-torch needs torch, numpy and safetensors ({e})") from None
    m = getattr(torch.jit.load(jit_path, map_location="cpu"), SUBMODULE)
    sd = {k: v.detach().cpu().numpy() for k, v in list(m.named_parameters()) + list(m.named_buffers())}
    missing = [k for k in NAMES if k not in sd]
    if missing:
        raise ConvertError(f"torch: {jit_path} lacks {missing}")
    ref = {NAMES[k]: np.ascontiguousarray(sd[k], dtype="<f4") for k in NAMES}
    for name, a in ref.items():
        if tuple(a.shape) != pure[name].shape or a.tobytes() != pure[name].data:
            raise ConvertError(f"torch check: {name} differs")
    if safetensors_bytes({n: Tensor(a.shape, a.tobytes()) for n, a in ref.items()}, metadata) != blob:
        raise ConvertError("torch check: file from torch tensors differs")
    lib = st_save(ref, metadata=metadata)  # its metadata key order varies run to run, so compare parsed
    n_lib, n_pure = struct.unpack("<Q", lib[:8])[0], struct.unpack("<Q", blob[:8])[0]
    if n_lib != n_pure or json.loads(lib[8:8 + n_lib]) != json.loads(blob[8:8 + n_pure]) \
            or lib[8 + n_lib:] != blob[8 + n_pure:]:
        raise ConvertError("torch check: safetensors.numpy.save gives a different header or data")
    print(f"convert-silero-vad: torch check passed ({len(ref)} tensors, torch {torch.__version__})")


def main():
    ap = argparse.ArgumentParser(description="Silero VAD TorchScript -> safetensors for speech/vad.c")
    ap.add_argument("--out", required=True)
    ap.add_argument("--wheel")
    ap.add_argument("--check-with-torch", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = a.wheel
        if not wheel:
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                            "--disable-pip-version-check", PKG, "-d", tmp], check=True)
            wheel = (glob.glob(os.path.join(tmp, "silero_vad-*.whl")) or [None])[0]
            if not wheel:
                sys.exit("convert-silero-vad: pip produced no wheel")
        try:
            with zipfile.ZipFile(wheel) as z:
                jit = _read_member(z, JIT_IN_WHEEL, MAX_JIT)
            w = weights_from_jit_bytes(jit)
            metadata = {"format": "myna-silero-vad", "version": "1",
                        "source": os.path.basename(wheel) + ":silero_vad.jit"}
            blob = safetensors_bytes(w, metadata)
            if a.check_with_torch:
                jit_path = os.path.join(tmp, "silero_vad.jit")
                with open(jit_path, "wb") as f:
                    f.write(jit)
                check_with_torch(jit_path, w, metadata, blob)
        except (ConvertError, zipfile.BadZipFile, OSError) as e:
            sys.exit(f"convert-silero-vad: {wheel}: {e}")
    part = a.out + ".part"
    with open(part, "wb") as f:
        f.write(blob)
    os.chmod(part, 0o644)
    os.replace(part, a.out)
    print(f"convert-silero-vad: wrote {a.out}")


if __name__ == "__main__":
    main()
