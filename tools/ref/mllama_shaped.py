#!/usr/bin/env python3
"""mllama_shaped.py — a random-weight Llama 3.2 Vision folder with the 11B model's WIDTHS and reduced depth,
for bench/bench-vision.c (not a test fixture: nothing is compared, and nothing from here is committed).

Widths as Llama-3.2-11B-Vision (SPEC.md §4.1): vision hidden 1280, 16 heads, FF 5120, tile 560, patch 14
(1601 positions per tile), 4 tiles, 5 intermediate layers (output 7680 = 1280·6); text hidden 4096, 32 heads,
8 kv heads, FF 14336. Depth: LOCAL vision layers (default 5, the minimum that keeps the 5 intermediate
outputs and so the projector's 7680×4096 shape), GLOBAL gated layers (default 1), text: 1 self-attention layer
and 1 cross-attention layer; vocabulary 1024 (+8). The bench scales per-layer times to 32 + 8 vision layers
and 8 cross-attention layers. BF16 safetensors as the published checkpoint.

Usage: python3 tools/ref/mllama_shaped.py OUT_DIR [LOCAL_LAYERS [GLOBAL_LAYERS]]
Needs: torch, transformers (MllamaForConditionalGeneration), tokenizers.
"""
import json
import os
import shutil
import sys

import torch
from transformers import MllamaConfig, MllamaForConditionalGeneration

HERE = os.path.dirname(os.path.abspath(__file__))
TOK_SRC = os.path.join(HERE, "../../tests/fixtures/tiny-mllama/tokenizer.json")
VOCAB = 1024


def main():
    out = sys.argv[1]
    n_local = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    n_global = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    inter = [min(i, n_local - 1) for i in range(5)] if n_local < 5 else [0, 1, 2, 3, 4][:5]
    inter = sorted(set(inter))
    vision = dict(hidden_size=1280, attention_heads=16, intermediate_size=5120, num_hidden_layers=n_local,
                  num_global_layers=n_global, intermediate_layers_indices=inter,
                  vision_output_dim=1280 * (len(inter) + 1), image_size=560, patch_size=14, num_channels=3,
                  max_num_tiles=4, norm_eps=1e-5, hidden_act="gelu")
    text = dict(vocab_size=VOCAB, hidden_size=4096, num_attention_heads=32, num_key_value_heads=8,
                intermediate_size=14336, num_hidden_layers=2, cross_attention_layers=[1], rms_norm_eps=1e-5,
                rope_theta=500000.0, max_position_embeddings=4096,
                rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                              "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
                bos_token_id=0, eos_token_id=4, pad_token_id=None, tie_word_embeddings=False)
    cfg = MllamaConfig(vision_config=vision, text_config=text, image_token_index=VOCAB)
    cfg.tie_word_embeddings = False
    torch.manual_seed(0)
    with torch.no_grad():
        model = MllamaForConditionalGeneration(cfg).to(torch.bfloat16)
        for name, p in model.named_parameters():  # non-zero gates so every path runs
            if "gate" in name:
                p.fill_(0.5)
    model.save_pretrained(out, safe_serialization=True)
    # the tiny model's tokenizer with <|image|> moved to id VOCAB
    tok = json.load(open(TOK_SRC))
    for t in tok["added_tokens"]:
        if t["content"] == "<|image|>":
            t["id"] = VOCAB
    json.dump(tok, open(os.path.join(out, "tokenizer.json"), "w"))
    print(f"{out}: vision {n_local}+{n_global} layers (width 1280), text 1 self + 1 cross (width 4096)")


if __name__ == "__main__":
    main()
