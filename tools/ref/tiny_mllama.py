#!/usr/bin/env python3
"""tiny_mllama.py — reference fixtures for Llama 3.2 Vision (tests/model/test-mllama.c).

Builds a tiny random HF `MllamaForConditionalGeneration` (transformers, float32):
  vision: tile 56, patch 14 (16 patches + CLS = 17 positions, padded to 24), hidden 32, 2 heads,
          FF 64, 3 local layers with intermediate_layers_indices [0, 2], 1 gated global layer,
          max_num_tiles 4 → vision_output_dim 96;
  text:   hidden 64, 4 heads / 2 kv heads (HD 16), FF 128, 5 layers with cross-attention layers [1, 3],
          vocab 320 (+8 embedding rows; <|image|> = 320), llama3 rope scaling as tiny_llama.py.
Every parameter is re-drawn with O(1) scale and every gate is non-zero, so each path matters.

Saved as an HF folder (config.json, model.safetensors F32 with the Hub's checkpoint names
`vision_model.*`, `language_model.model.*`, `language_model.lm_head.weight`, `multi_modal_projector.*`,
tokenizer.json = tiny-llama-b's tokenizer plus the special token <|image|>).

Reference outputs come from the HF PIL image processor (`MllamaImageProcessorPil`, BILINEAR, CLIP mean/std)
and the HF model, with ONE correction: transformers 5.x's MllamaVisionEncoder records each layer's OUTPUT
as hidden_states[i], while Meta's VisionEncoder (and transformers 4.x, see huggingface/transformers#39785)
records the INPUT of layer i (SPEC.md §4.3 step 8). The published weights were trained with Meta's code,
so the encoder is patched here to Meta's semantics.

Files (all little-endian; F32 raw unless noted), for each image name in (square, wide, tall):
  <name>.png / <name>.rgb   the test image (PNG, and raw RGB8 rows for decoder-free tests)
  <name>-pixels.bin         pixel_values [4, 3, 56, 56]
  <name>-vision.bin         vision model output [4, 17, 96] (before the projector)
  <name>-xstates.bin        cross_attention_states [4*17, 64] (after the projector)
  <name>-logits.bin         logits [T, 320] for prompt "prompt" with that image
  two-logits.bin            logits [T, 320] for prompt "prompt_two" with images square and wide
  meta.json                 sizes, aspect ratio ids/masks, num tiles, prompts (token ids)
Usage: python3 tools/ref/tiny_mllama.py [out_dir]   (default tests/fixtures/tiny-mllama)
"""
import json
import os
import sys

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from transformers import MllamaConfig, MllamaForConditionalGeneration
from transformers.modeling_outputs import BaseModelOutput
from transformers.models.mllama import modeling_mllama
from transformers.models.mllama.image_processing_pil_mllama import MllamaImageProcessorPil

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "../../tests/fixtures/tiny-mllama")
TOK_SRC = os.path.join(HERE, "../../tests/fixtures/tiny-llama/tiny-llama-b-hf/tokenizer.json")
VOCAB = 320
IMAGE_ID = VOCAB
MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]


def meta_encoder_forward(self, hidden_states, attention_mask=None, **kw):
    """Meta semantics: states[i] = input of layer i (the last entry is the final output)."""
    states = ()
    for layer in self.layers:
        states = states + (hidden_states,)
        hidden_states = layer(hidden_states=hidden_states, attention_mask=attention_mask)
    states = states + (hidden_states,)
    return BaseModelOutput(last_hidden_state=hidden_states, hidden_states=states)


modeling_mllama.MllamaVisionEncoder.forward = meta_encoder_forward


def make_config():
    vision = dict(hidden_size=32, attention_heads=2, intermediate_size=64, num_hidden_layers=3,
                  num_global_layers=1, intermediate_layers_indices=[0, 2], vision_output_dim=96,
                  image_size=56, patch_size=14, num_channels=3, max_num_tiles=4, norm_eps=1e-5,
                  hidden_act="gelu")
    text = dict(vocab_size=VOCAB, hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                intermediate_size=128, num_hidden_layers=5, cross_attention_layers=[1, 3],
                rms_norm_eps=1e-5, rope_theta=500000.0, max_position_embeddings=256,
                rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                              "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
                bos_token_id=0, eos_token_id=4, pad_token_id=None, tie_word_embeddings=False)
    cfg = MllamaConfig(vision_config=vision, text_config=text, image_token_index=IMAGE_ID)
    cfg.tie_word_embeddings = False
    return cfg


def randomize(model, g):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("gate") or "_gate" in name and p.numel() == 1:
                p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * 1.2 + 0.3)
            elif "norm" in name and p.dim() == 1:
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
            elif "embed" in name or "embedding" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                fan_in = int(np.prod(p.shape[1:]))
                p.copy_(torch.randn(p.shape, generator=g) / np.sqrt(fan_in))


def hub_names(model):
    """State dict under the checkpoint names of the published 11B folder (SPEC.md §4.6)."""
    out = {}
    for k, v in model.state_dict().items():
        n = k
        if n.startswith("model.vision_model."):
            n = n[len("model."):]
        elif n.startswith("model.multi_modal_projector."):
            n = n[len("model."):]
        elif n.startswith("model.language_model."):
            n = "language_model.model." + n[len("model.language_model."):]
        elif n.startswith("lm_head."):
            n = "language_model." + n
        else:
            raise SystemExit("unexpected parameter " + k)
        out[n] = v.detach().contiguous().clone()
    return out


def make_images(rng):
    def pattern(w, h, seed):
        r = np.random.default_rng(seed)
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        img = np.stack([128 + 100 * np.sin(x / (3 + c) + y / (5 + 2 * c) + c) for c in range(3)], -1)
        img += r.normal(0, 20, img.shape)
        return np.clip(img, 0, 255).astype(np.uint8)
    return {"square": pattern(40, 40, 1), "wide": pattern(200, 64, 2), "tall": pattern(60, 150, 3)}


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1234)
    cfg = make_config()
    model = MllamaForConditionalGeneration(cfg).eval().float()
    randomize(model, g)
    model.config._attn_implementation = "eager"
    for m in model.modules():
        if hasattr(m, "config") and hasattr(m.config, "_attn_implementation"):
            m.config._attn_implementation = "eager"

    # HF folder
    cfg_dict = cfg.to_dict()
    cfg_dict["architectures"] = ["MllamaForConditionalGeneration"]
    # the published config.json form (transformers 5 writes "rope_parameters" instead)
    rp = dict(cfg_dict["text_config"].pop("rope_parameters"))
    cfg_dict["text_config"]["rope_theta"] = rp.pop("rope_theta")
    cfg_dict["text_config"]["rope_scaling"] = rp
    with open(os.path.join(OUT, "preprocessor_config.json"), "w") as f:
        json.dump({"image_processor_type": "MllamaImageProcessor", "do_convert_rgb": True, "do_normalize": True,
                   "do_pad": True, "do_rescale": True, "do_resize": True, "image_mean": MEAN, "image_std": STD,
                   "max_image_tiles": 4, "resample": 2, "rescale_factor": 1 / 255,
                   "size": {"height": 56, "width": 56}}, f, indent=1)
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(cfg_dict, f, indent=1, sort_keys=True)
    save_file(hub_names(model), os.path.join(OUT, "model.safetensors"), metadata={"format": "pt"})
    tok = json.load(open(TOK_SRC))
    tok["added_tokens"].append({"id": IMAGE_ID, "content": "<|image|>", "single_word": False, "lstrip": False,
                                "rstrip": False, "normalized": False, "special": True})
    with open(os.path.join(OUT, "tokenizer.json"), "w") as f:
        json.dump(tok, f)

    proc = MllamaImageProcessorPil(size={"height": 56, "width": 56}, max_image_tiles=4, image_mean=MEAN,
                                   image_std=STD, resample=2)
    imgs = make_images(np.random.default_rng(0))
    prompt = [0, 2, 17, 3, IMAGE_ID, 40, 51, 62, 73, 84, 95, 4, 2, 30, 3, 100, 110]
    prompt_two = [0, IMAGE_ID, 40, 51, 62, IMAGE_ID, 73, 84, 95, 106]
    meta = {"vocab": VOCAB, "image_token": IMAGE_ID, "tile": 56, "n_positions": 17, "vision_dim": 96,
            "text_dim": 64, "prompt": prompt, "prompt_two": prompt_two, "two_images": ["square", "wide"],
            "mean": MEAN, "std": STD, "images": {}}
    feats = {}
    for name, px in imgs.items():
        Image.fromarray(px).save(os.path.join(OUT, name + ".png"))
        px.tofile(os.path.join(OUT, name + ".rgb"))
        enc = proc(images=[[Image.fromarray(px)]], return_tensors="pt")
        pv = enc["pixel_values"].float()
        ar_ids, ar_mask = enc["aspect_ratio_ids"], enc["aspect_ratio_mask"]
        n_tiles = int(enc["num_tiles"][0][0])
        pv[0, 0].numpy().astype("<f4").tofile(os.path.join(OUT, name + "-pixels.bin"))
        with torch.no_grad():
            vis = model.model.vision_model(pixel_values=pv, aspect_ratio_ids=ar_ids,
                                           aspect_ratio_mask=ar_mask).last_hidden_state
            xs = model.model.multi_modal_projector(vis).reshape(-1, 64)
            ids = torch.tensor([prompt])
            cam = torch.zeros(1, len(prompt), 1, 4, dtype=torch.long)
            s = prompt.index(IMAGE_ID)
            cam[0, s:, 0, :n_tiles] = 1
            logits = model(input_ids=ids, pixel_values=pv, aspect_ratio_ids=ar_ids, aspect_ratio_mask=ar_mask,
                           cross_attention_mask=cam, use_cache=False).logits
        vis[0, 0].numpy().astype("<f4").tofile(os.path.join(OUT, name + "-vision.bin"))
        xs.numpy().astype("<f4").tofile(os.path.join(OUT, name + "-xstates.bin"))
        logits[0].numpy().astype("<f4").tofile(os.path.join(OUT, name + "-logits.bin"))
        feats[name] = (pv, ar_ids, ar_mask, n_tiles)
        meta["images"][name] = {"width": px.shape[1], "height": px.shape[0], "aspect_ratio_id": int(ar_ids[0, 0]),
                                "aspect_ratio_mask": [int(v) for v in ar_mask[0, 0]], "num_tiles": n_tiles}
        print(name, px.shape, "ar_id", int(ar_ids[0, 0]), "tiles", n_tiles)

    # two images in one prompt (HF processor mask: image i spans [pos_i, pos_{i+1}) and the last to the end)
    a, b = feats["square"], feats["wide"]
    pv = torch.cat([a[0], b[0]], dim=1)
    ar_ids = torch.cat([a[1], b[1]], dim=1)
    ar_mask = torch.cat([a[2], b[2]], dim=1)
    locs = [i for i, t in enumerate(prompt_two) if t == IMAGE_ID]
    cam = torch.zeros(1, len(prompt_two), 2, 4, dtype=torch.long)
    cam[0, locs[0]:locs[1], 0, :a[3]] = 1
    cam[0, locs[1]:, 1, :b[3]] = 1
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt_two]), pixel_values=pv, aspect_ratio_ids=ar_ids,
                       aspect_ratio_mask=ar_mask, cross_attention_mask=cam, use_cache=False).logits
    logits[0].numpy().astype("<f4").tofile(os.path.join(OUT, "two-logits.bin"))
    with open(os.path.join(OUT, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
