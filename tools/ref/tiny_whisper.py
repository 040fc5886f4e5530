#!/usr/bin/env python3
"""tiny_whisper.py — reference fixtures for speech/whisper.c (tests/model/test-whisper.c).

Builds a tiny random Whisper with HF transformers `WhisperForConditionalGeneration` (d_model 64, 4 heads,
2 encoder + 2 decoder layers, encoder FF 128, decoder FF 96, 80 mel bins, 40 encoder positions = 80 mel
frames, 32 text positions, vocab 300; LayerNorm weights/biases and all biases randomised so every term is
exercised) and writes, in float32:

  model/                HF folder (config.json, model.safetensors F32) — what whisper_load reads
  mel.bin               F32 [80 mel bins][80 frames] row-major (mel_compute's [F, M] layout)
  encoder.bin           F32 [40 positions][64] = model.encoder(mel).last_hidden_state
  logits.bin            F32 [T][300] decoder logits for the token prefix ids.json["ids"] (all positions)
  ids.json              {"ids": [...]}
  model.bin             the same weights as a whisper.cpp legacy ggml file, ftype 0 (all F32), written by
                        write_ggml_bin() below (SPEC.md §5.4; OpenAI tensor names, dims innermost first,
                        conv biases as [C, 1]; vocabulary: bytes 0..255, <|endoftext|>, <|startoftranscript|>,
                        "tok<i>")
  model-f16.bin         ftype 1, as whisper.cpp's converter: matrices F16; 1-D tensors, conv biases and both
                        positional embeddings F32

No tokenizer: whisper_load takes <|endoftext|> / <|startoftranscript|> from eos_token_id /
decoder_start_token_id. Usage: python3 tools/ref/tiny_whisper.py [out_dir]
(default tests/fixtures/tiny-whisper).
"""
import json
import os
import sys

import numpy as np
import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__),
                                                         "../../tests/fixtures/tiny-whisper")
IDS = [257, 12, 99, 5, 231, 42, 7]


HF_TO_OPENAI = [("model.", ""), ("embed_positions.weight", "positional_embedding"),
                ("embed_tokens", "token_embedding"), (".layers.", ".blocks."),
                ("encoder_attn_layer_norm", "cross_attn_ln"), ("self_attn_layer_norm", "attn_ln"),
                ("encoder_attn.", "cross_attn."), ("self_attn.", "attn."), ("q_proj", "query"), ("k_proj", "key"),
                ("v_proj", "value"), ("out_proj", "out"), ("final_layer_norm", "mlp_ln"), ("fc1", "mlp.0"),
                ("fc2", "mlp.2"), ("encoder.layer_norm", "encoder.ln_post"), ("decoder.layer_norm", "decoder.ln")]


def openai_name(hf):
    for a, b in HF_TO_OPENAI:
        hf = hf.replace(a, b, 1)
    return hf


def write_ggml_bin(path, model, cfg, f16):
    import struct
    sd = {k: v.detach().numpy() for k, v in model.state_dict().items() if not k.startswith("proj_out")}
    with open(path, "wb") as f:
        f.write(struct.pack("<i", 0x67676d6c))
        hp = [cfg.vocab_size, cfg.max_source_positions, cfg.d_model, cfg.encoder_attention_heads,
              cfg.encoder_layers, cfg.max_target_positions, cfg.d_model, cfg.decoder_attention_heads,
              cfg.decoder_layers, cfg.num_mel_bins, 1 if f16 else 0]
        f.write(struct.pack("<11i", *hp))
        f.write(struct.pack("<ii", cfg.num_mel_bins, 201))
        f.write(np.zeros((cfg.num_mel_bins, 201), "<f4").tobytes())
        vocab = [bytes([i]) for i in range(256)] + [b"<|endoftext|>", b"<|startoftranscript|>"]
        vocab += [b"tok%d" % i for i in range(len(vocab), cfg.vocab_size)]
        f.write(struct.pack("<i", len(vocab)))
        for t in vocab:
            f.write(struct.pack("<I", len(t)) + t)
        for k, v in sd.items():
            name = openai_name(k).encode()
            if name.endswith(b"conv1.bias") or name.endswith(b"conv2.bias"):
                v = v.reshape(-1, 1)
            keep_f32 = v.ndim == 1 or b"conv" in name and b"bias" in name or b"positional_embedding" in name
            data = v.astype("<f4") if (not f16 or keep_f32) else v.astype("<f2")
            f.write(struct.pack("<iii", v.ndim, len(name), 1 if data.dtype == np.float16 else 0))
            f.write(struct.pack("<%di" % v.ndim, *reversed(v.shape)))
            f.write(name)
            f.write(data.tobytes())


def main():
    torch.manual_seed(1234)
    cfg = WhisperConfig(vocab_size=300, num_mel_bins=80, d_model=64, encoder_layers=2, decoder_layers=2,
                        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=128,
                        decoder_ffn_dim=96, max_source_positions=40, max_target_positions=32,
                        bos_token_id=256, eos_token_id=256, pad_token_id=256, decoder_start_token_id=257,
                        suppress_tokens=[], begin_suppress_tokens=[220, 256], activation_function="gelu",
                        scale_embedding=False, tie_word_embeddings=True, attn_implementation="eager")
    model = WhisperForConditionalGeneration(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "embed_positions" in name and "encoder" in name:
                continue  # sinusoids (stored in the checkpoint, as in real models)
            if name.endswith("layer_norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) / (p.shape[-1] ** 0.5 if p.dim() > 1 else 1.0))
        mel = (torch.rand(1, 80, 80) * 2.0 - 1.0).float()
        enc = model.model.encoder(mel).last_hidden_state
        ids = torch.tensor([IDS])
        logits = model(input_features=mel, decoder_input_ids=ids).logits
    os.makedirs(os.path.join(OUT, "model"), exist_ok=True)
    model.save_pretrained(os.path.join(OUT, "model"), safe_serialization=True)
    mel.numpy().astype("<f4").tofile(os.path.join(OUT, "mel.bin"))
    enc[0].numpy().astype("<f4").tofile(os.path.join(OUT, "encoder.bin"))
    logits[0].numpy().astype("<f4").tofile(os.path.join(OUT, "logits.bin"))
    json.dump({"ids": IDS, "n_frames": 80, "d_model": 64, "vocab": 300}, open(os.path.join(OUT, "ids.json"), "w"))
    write_ggml_bin(os.path.join(OUT, "model.bin"), model, cfg, False)
    write_ggml_bin(os.path.join(OUT, "model-f16.bin"), model, cfg, True)
    print("wrote", OUT, "encoder", tuple(enc.shape), "logits", tuple(logits.shape))


if __name__ == "__main__":
    main()
