#!/usr/bin/env python3
"""convert-silero-vad.py — extract the Silero VAD 16 kHz network from the PyPI package `silero-vad` into
the small safetensors file speech/vad.c loads (F32 tensors, names below, __metadata__ format tag).

Source: silero_vad/data/silero_vad.jit (the package's default model, what load_silero_vad() returns),
submodule `_model` (16 kHz). NOT silero_vad_16k.safetensors from the same wheel: in silero-vad 6.2.3 those
weights differ from the TorchScript model (e.g. conv1 by up to 4.0), so the JIT is the one we match.

Output tensors (PyTorch shapes):
    stft_conv.weight [258, 1, 256]   STFT basis (129 real rows, then 129 imaginary rows), hop 128
    conv1.weight [128, 129, 3] conv1.bias [128]    stride 1, pad 1, ReLU
    conv2.weight [64, 128, 3]  conv2.bias [64]     stride 2, pad 1, ReLU
    conv3.weight [64, 64, 3]   conv3.bias [64]     stride 2, pad 1, ReLU
    conv4.weight [128, 64, 3]  conv4.bias [128]    stride 1, pad 1, ReLU
    lstm_cell.weight_ih [512, 128] lstm_cell.weight_hh [512, 128] lstm_cell.bias_ih [512] lstm_cell.bias_hh [512]
    final_conv.weight [1, 128, 1] final_conv.bias [1]

Usage: convert-silero-vad.py --out DEST.safetensors [--wheel silero_vad-X.whl]
Without --wheel it runs `pip download silero-vad==6.2.3` into a temporary folder. Needs torch + safetensors.
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile
import zipfile

PKG = "silero-vad==6.2.3"
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


def weights_from_jit(jit_path):
    import numpy as np
    import torch
    m = torch.jit.load(jit_path, map_location="cpu")._model
    sd = {k: v.detach().cpu().numpy() for k, v in list(m.named_parameters()) + list(m.named_buffers())}
    missing = [k for k in NAMES if k not in sd]
    if missing:
        raise SystemExit(f"convert-silero-vad: {jit_path} lacks {missing}: unknown model layout")
    return {NAMES[k]: np.ascontiguousarray(sd[k], dtype=np.float32) for k in NAMES}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--wheel")
    a = ap.parse_args()
    try:
        from safetensors.numpy import save_file
        import torch  # noqa: F401
    except ImportError as e:
        sys.exit(f"convert-silero-vad: needs torch and safetensors ({e})")
    with tempfile.TemporaryDirectory() as tmp:
        wheel = a.wheel
        if not wheel:
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                            "--disable-pip-version-check", PKG, "-d", tmp], check=True)
            wheel = (glob.glob(os.path.join(tmp, "silero_vad-*.whl")) or [None])[0]
            if not wheel:
                sys.exit("convert-silero-vad: pip produced no wheel")
        with zipfile.ZipFile(wheel) as z:
            z.extract("silero_vad/data/silero_vad.jit", tmp)
        w = weights_from_jit(os.path.join(tmp, "silero_vad", "data", "silero_vad.jit"))
        part = a.out + ".part"
        save_file(w, part, metadata={"format": "myna-silero-vad", "version": "1",
                                     "source": os.path.basename(wheel) + ":silero_vad.jit"})
        os.chmod(part, 0o644)
        os.replace(part, a.out)
    print(f"convert-silero-vad: wrote {a.out}")


if __name__ == "__main__":
    main()
