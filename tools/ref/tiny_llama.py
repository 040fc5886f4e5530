#!/usr/bin/env python3
"""tiny_llama.py — reference fixtures for the Llama decoder (tests/model/test-lm-tiny.c).

Builds two tiny random Llama-3-shaped models with HF transformers `LlamaForCausalLM`, both with
rope_theta 500000 and a llama3 `rope_scaling` block (factor 8, low 1, high 4, original context 64, so the
scaling changes the frequencies that matter), untied lm_head, and a tiny byte-level BPE tokenizer trained
with `tokenizers`:

  A  "tiny-llama-a": C 256, 4 heads / 2 kv heads (GQA 2), HD 64, FF 512, 2 layers — every matmul K is a
     multiple of 256, so Q4_K rows work. Weights are rounded to F16 first, so the F16 GGUF holds exactly
     the reference weights. Written as GGUF F16 (the Q4_K file is made from it in C by the test, because
     gguf-py cannot quantize Q4_K).
  B  "tiny-llama-b": C 96, 6 heads / 2 kv heads (GQA 3), HD 16, FF 192, 2 layers, F32. Written as an HF
     folder (config.json, model.safetensors F32, tokenizer.json, tokenizer_config.json) and as GGUF F32
     and Q8_0 (gguf.quants).

GGUF files follow llama.cpp's converter: Q/K rows permuted to Meta's interleaved order (SPEC.md §1.9, k
with n_head_kv), rope_freqs.weight = llama3 divisors (SPEC.md §3.4), tokenizer.ggml.* metadata.
Golden logits (HF, float32) for three fixed prompts of token ids: <model>-logits-<i>.bin, F32 [T, V]
row-major little-endian; prompts in prompts.json.

Usage: python3 tools/ref/tiny_llama.py [out_dir]   (default tests/fixtures/tiny-llama)
"""
import json
import math
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM

import gguf

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../tests/fixtures/tiny-llama")
SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
VOCAB = 320
ROPE_SCALING = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                "original_max_position_embeddings": 64}
LLAMA3_TEMPLATE = ("{{ bos_token }}{% for message in messages %}<|start_header_id|>{{ message['role'] }}"
                   "<|end_header_id|>\n\n{{ message['content'] | trim }}<|eot_id|>{% endfor %}"
                   "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}")
TEXT = """The quick brown fox jumps over the lazy dog. What is the capital of France? Paris is the capital.
Language models predict the next token from the previous ones. A tiny model keeps the tests fast.
Numbers like 12345 and 67890 split into digits; punctuation, quotes "like these" and new lines too.
""" * 20


def build_tokenizer():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([TEXT], trainer)
    return tok


def llama3_divisors(head_dim, base, sc):
    """SPEC.md §3.4: r_i = f_i / f'_i (float64)."""
    factor, low, high, old = (sc["factor"], sc["low_freq_factor"], sc["high_freq_factor"],
                              sc["original_max_position_embeddings"])
    low_wl, high_wl = old / low, old / high
    out = []
    for i in range(head_dim // 2):
        f = 1.0 / base ** (2 * i / head_dim)
        wl = 2 * math.pi / f
        if wl < high_wl:
            out.append(1.0)
        elif wl > low_wl:
            out.append(factor)
        else:
            s = (old / wl - low) / (high - low)
            out.append(1.0 / ((1 - s) / factor + s))
    return np.array(out, dtype=np.float32)


def permute(w, n_head):
    """llama.cpp convert_hf_to_gguf LlamaModel.permute: HF rotate_half rows -> Meta interleaved rows."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def make_model(name, C, NH, NKV, HD, FF, L, seed, f16_round):
    cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=C, intermediate_size=FF, num_hidden_layers=L,
                      num_attention_heads=NH, num_key_value_heads=NKV, head_dim=HD, rms_norm_eps=1e-5,
                      rope_theta=500000.0, rope_scaling=dict(ROPE_SCALING), max_position_embeddings=256,
                      tie_word_embeddings=False, bos_token_id=0, eos_token_id=4, attention_bias=False,
                      mlp_bias=False, torch_dtype="float32")
    assert cfg.rope_parameters["rope_type"] == "llama3" and cfg.rope_parameters["rope_theta"] == 500000.0
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg).float().eval()
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "norm" in n:
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif "embed" in n:
                p.copy_(0.5 * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) / math.sqrt(p.shape[1]))
            if f16_round:
                p.copy_(p.half().float())
    return cfg, model


def write_gguf(path, cfg, model, tok, qtype):
    sd = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    w = gguf.GGUFWriter(path, "llama")
    C, L, NH, NKV, HD = cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, \
        cfg.num_key_value_heads, cfg.head_dim
    w.add_name(os.path.basename(path).rsplit(".", 1)[0])
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(C)
    w.add_block_count(L)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(NH)
    w.add_head_count_kv(NKV)
    w.add_key_length(HD)
    w.add_value_length(HD)
    w.add_rope_dimension_count(HD)
    w.add_rope_freq_base(cfg.rope_parameters["rope_theta"])
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_vocab_size(VOCAB)
    w.add_file_type({"F32": 0, "F16": 1, "Q8_0": 7}[qtype])
    # tokenizer (byte-level BPE, GPT-2 pre-tokenizer regex)
    vocab = tok.get_vocab()
    pieces = [None] * len(vocab)
    for piece, i in vocab.items():
        pieces[i] = piece
    tj = json.loads(tok.to_str())
    merges = [m if isinstance(m, str) else " ".join(m) for m in tj["model"]["merges"]]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt2")
    w.add_token_list(pieces)
    w.add_token_types([3 if p in SPECIALS else 1 for p in pieces])
    w.add_token_merges(merges)
    w.add_bos_token_id(vocab["<|begin_of_text|>"])
    w.add_eos_token_id(vocab["<|eot_id|>"])
    w.add_add_bos_token(True)
    w.add_chat_template(LLAMA3_TEMPLATE)

    def add(name, arr, quant=True):
        arr = np.ascontiguousarray(arr.astype(np.float32))
        if arr.ndim == 1 or not quant or qtype == "F32":
            w.add_tensor(name, arr)
        elif qtype == "F16":
            w.add_tensor(name, arr.astype(np.float16))
        else:
            q = gguf.quants.quantize(arr, gguf.GGMLQuantizationType.Q8_0)
            w.add_tensor(name, q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)

    add("token_embd.weight", sd["model.embed_tokens.weight"])
    add("output_norm.weight", sd["model.norm.weight"])
    add("output.weight", sd["lm_head.weight"])
    add("rope_freqs.weight", llama3_divisors(HD, cfg.rope_parameters["rope_theta"], ROPE_SCALING))
    for i in range(L):
        p = f"model.layers.{i}."
        add(f"blk.{i}.attn_norm.weight", sd[p + "input_layernorm.weight"])
        add(f"blk.{i}.attn_q.weight", permute(sd[p + "self_attn.q_proj.weight"], NH))
        add(f"blk.{i}.attn_k.weight", permute(sd[p + "self_attn.k_proj.weight"], NKV))
        add(f"blk.{i}.attn_v.weight", sd[p + "self_attn.v_proj.weight"])
        add(f"blk.{i}.attn_output.weight", sd[p + "self_attn.o_proj.weight"])
        add(f"blk.{i}.ffn_norm.weight", sd[p + "post_attention_layernorm.weight"])
        add(f"blk.{i}.ffn_gate.weight", sd[p + "mlp.gate_proj.weight"])
        add(f"blk.{i}.ffn_up.weight", sd[p + "mlp.up_proj.weight"])
        add(f"blk.{i}.ffn_down.weight", sd[p + "mlp.down_proj.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    os.makedirs(OUT, exist_ok=True)
    tok = build_tokenizer()
    assert tok.get_vocab_size() == VOCAB, tok.get_vocab_size()
    rng = np.random.default_rng(1234)
    bos = tok.token_to_id("<|begin_of_text|>")
    prompts = [
        [bos] + tok.encode("What is the capital of France?").ids,
        [bos] + rng.integers(len(SPECIALS), VOCAB, 40).tolist(),
        rng.integers(len(SPECIALS), VOCAB, 100).tolist(),  # past original_max_position_embeddings (64)
    ]
    with open(os.path.join(OUT, "prompts.json"), "w") as f:
        json.dump({"vocab": VOCAB, "prompts": prompts}, f)
        f.write("\n")

    models_ = {
        "a": make_model("a", C=256, NH=4, NKV=2, HD=64, FF=512, L=2, seed=1, f16_round=True),
        "b": make_model("b", C=96, NH=6, NKV=2, HD=16, FF=192, L=2, seed=2, f16_round=False),
    }
    for key, (cfg, model) in models_.items():
        with torch.no_grad():
            for i, ids in enumerate(prompts):
                out = model(torch.tensor([ids])).logits[0].float().numpy()
                out.astype("<f4").tofile(os.path.join(OUT, f"{key}-logits-{i}.bin"))
    cfg_a, model_a = models_["a"]
    write_gguf(os.path.join(OUT, "tiny-llama-a.F16.gguf"), cfg_a, model_a, tok, "F16")
    cfg_b, model_b = models_["b"]
    write_gguf(os.path.join(OUT, "tiny-llama-b.F32.gguf"), cfg_b, model_b, tok, "F32")
    write_gguf(os.path.join(OUT, "tiny-llama-b.Q8_0.gguf"), cfg_b, model_b, tok, "Q8_0")
    hf = os.path.join(OUT, "tiny-llama-b-hf")
    os.makedirs(hf, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model_b.state_dict().items()}, os.path.join(hf, "model.safetensors"),
              metadata={"format": "pt"})
    d = cfg_b.to_dict()
    d["architectures"] = ["LlamaForCausalLM"]
    # classic layout of published Llama 3.x configs (transformers 5 writes rope_parameters instead)
    rp = d.pop("rope_parameters")
    d["rope_theta"] = rp.pop("rope_theta")
    d["rope_scaling"] = rp
    with open(os.path.join(hf, "config.json"), "w") as f:
        json.dump(d, f, indent=1, sort_keys=True)
        f.write("\n")
    tok.save(os.path.join(hf, "tokenizer.json"))
    with open(os.path.join(hf, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "chat_template": LLAMA3_TEMPLATE},
                  f, indent=1)
        f.write("\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
