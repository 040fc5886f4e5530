#!/usr/bin/env python3
"""omni_adapter_ref.py — reference fixtures for the speech adapter (tests/model/test-speech-adapter.c).

An independent PyTorch/transformers reference for adapters/speech-adapter.c on random weights:

  1. LLaMA-Omni's projector (SPEC.md §6.2, ICTNLP speech_projector.py EncoderProjectorConcat facts): drop
     the trailing F mod k frames, concatenate k consecutive frames ([F, C_enc] -> [F/k, k*C_enc], frame 0's
     channels first), Linear(k*C_enc -> H, bias) -> ReLU -> Linear(H -> C, bias). H is 2048 in LLaMA-Omni;
     the C side infers it from linear1.weight's shape, so the fixture uses a small H = 64.
     Written as three HF-style folders (config.json with LLaMA-Omni's keys + model.safetensors holding
     model.speech_projector.linear{1,2}.{weight,bias}) in F32, F16 and BF16; each folder's expected output
     is computed in float32 from its own (rounded) weights.
  2. The splice into the tiny Llama (tests/fixtures/tiny-llama/tiny-llama-b-hf, C 96): LLaMA-Omni's prompt
     (conv llama_3, SPEC.md §6.2) tokenized the way its tokenizer_speech_token does (each chunk around
     "<speech>" tokenized with an automatic BOS, the first chunk keeps its BOS, later chunks drop it, so the
     prompt starts with two BOS tokens; the tiny tokenizer has no post-processor, so the automatic BOS is
     emulated), the placeholder (-200) replaced by the projector rows, and all logits from HF
     LlamaForCausalLM(inputs_embeds=...).
  3. The gated cross-attention variant (our own configuration, documented in adapters/speech-adapter.h):
     the projector output feeds transformers' MllamaCrossAttentionDecoderLayer instances (eager attention)
     run as forward pre-hooks before LlamaForCausalLM layers [1] and the final norm (= "layer 2"), with HF
     mllama's masks: text rows before the clip's position see no speech (mask row 0 => uniform attention,
     full_text_row_masked_out_mask 0 => no MLP), later rows see all of it.

Files (all little-endian F32, row-major [rows, cols] = our [cols, rows]):
  enc-37.bin [37, 32] encoder states; proj-{f32,f16,bf16}.bin [7, 96]; omni-{f32,f16,bf16}/ folders;
  splice-logits.bin [T, 320]; xattn/ folder; xattn-logits.bin [T, 320]; xattn2-logits.bin [T, 320] (two
  clips: rows 0..3 at xattn_pos, all 7 rows at xattn2_pos, so rows in between see only the first);
  meta.json (ids, positions).

Usage: python3 tools/ref/omni_adapter_ref.py [out_dir]   (default tests/fixtures/speech-adapter)
"""
import json
import math
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer
from transformers import LlamaForCausalLM
from transformers.models.mllama.configuration_mllama import MllamaTextConfig
from transformers.models.mllama.modeling_mllama import MllamaCrossAttentionDecoderLayer

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "../../tests/fixtures/speech-adapter")
LM_DIR = os.path.join(HERE, "../../tests/fixtures/tiny-llama/tiny-llama-b-hf")
C_ENC, K, H, F = 32, 5, 64, 37
SYSTEM = ("You are a helpful language and speech assistant. You are able to understand the speech content that "
          "the user provides, and assist the user with a variety of tasks using natural language.")
INSTRUCTION = "Please directly answer the questions in the user's speech."
XATTN_SYSTEM = "You are a helpful assistant."
XATTN_LAYERS = [1, 2]
SPEECH_TOKEN_INDEX = -200


def llama3_prompt(system, instruction):
    """LLaMA-Omni conversation.py, SeparatorStyle.LLAMA_3, one user turn + generation prompt."""
    return ("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" + system + "<|eot_id|>"
            + "<|start_header_id|>user<|end_header_id|>\n\n" + "<speech>\n" + instruction + "<|eot_id|>"
            + "<|start_header_id|>assistant<|end_header_id|>\n\n")


def tokenizer_speech_token(prompt, tok, bos):
    """LLaVA/LLaMA-Omni helper semantics with an HF tokenizer that prepends BOS to every call."""
    chunks = [[bos] + tok.encode(c, add_special_tokens=False).ids for c in prompt.split("<speech>")]
    ids, offset = [], 0
    if chunks and chunks[0] and chunks[0][0] == bos:
        offset = 1
        ids.append(chunks[0][0])
    seps = []
    for i, c in enumerate(chunks):
        seps.append(c)
        if i + 1 < len(chunks):
            seps.append([SPEECH_TOKEN_INDEX] * (offset + 1))
    for x in seps:
        ids.extend(x[offset:])
    return ids


def project(enc, w1, b1, w2, b2):
    n = enc.shape[0] - enc.shape[0] % K
    x = enc[:n].reshape(n // K, K * enc.shape[1])
    return torch.relu(x @ w1.T + b1) @ w2.T + b2


def round_to(t, dt):
    return t.to(dt).to(torch.float32)


def omni_config(C):
    return {"architectures": ["OmniSpeech2SLlamaForCausalLM"], "model_type": "omni_speech2s_llama",
            "hidden_size": C, "speech_encoder_type": "whisper", "speech_encoder_ds_rate": K,
            "speech_encoder_hidden_size": C_ENC, "speech_projector_type": "linear",
            "speech_generator_type": "ctc", "torch_dtype": "float32"}


def write_folder(path, cfg, tensors):
    os.makedirs(path, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(path, "model.safetensors"),
              metadata={"format": "pt"})
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1, sort_keys=True)
        f.write("\n")


def save(name, t):
    t.detach().numpy().astype("<f4").tofile(os.path.join(OUT, name))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(7)
    model = LlamaForCausalLM.from_pretrained(LM_DIR, dtype=torch.float32).eval()
    C = model.config.hidden_size
    tok = Tokenizer.from_file(os.path.join(LM_DIR, "tokenizer.json"))
    bos = tok.token_to_id("<|begin_of_text|>")

    enc = torch.randn(F, C_ENC)
    w1 = torch.randn(H, K * C_ENC) / math.sqrt(K * C_ENC)
    b1 = 0.1 * torch.randn(H)
    w2 = torch.randn(C, H) / math.sqrt(H)
    b2 = 0.1 * torch.randn(C)
    save("enc-37.bin", enc)
    meta = {"c_enc": C_ENC, "k": K, "hidden": H, "n_embd": C, "n_frames": F, "n_out": F // K}
    proj32 = None
    for tag, dt in (("f32", torch.float32), ("f16", torch.float16), ("bf16", torch.bfloat16)):
        ws = [round_to(t, dt) for t in (w1, b1, w2, b2)]
        out = project(enc, *ws)
        save(f"proj-{tag}.bin", out)
        if tag == "f32":
            proj32 = out
        names = ["model.speech_projector.linear1.weight", "model.speech_projector.linear1.bias",
                 "model.speech_projector.linear2.weight", "model.speech_projector.linear2.bias"]
        write_folder(os.path.join(OUT, f"omni-{tag}"), omni_config(C), {n: t.to(dt) for n, t in zip(names, ws)})

    # 2. splice: LLaMA-Omni prompt with the projector rows at the placeholder
    ids = tokenizer_speech_token(llama3_prompt(SYSTEM, INSTRUCTION), tok, bos)
    p = ids.index(SPEECH_TOKEN_INDEX)
    assert ids[0] == bos and ids[1] == bos and ids.count(SPEECH_TOKEN_INDEX) == 1
    emb = model.get_input_embeddings()
    with torch.no_grad():
        x = torch.cat([emb(torch.tensor(ids[:p])), proj32, emb(torch.tensor(ids[p + 1:]))])
        logits = model(inputs_embeds=x[None]).logits[0]
    save("splice-logits.bin", logits)
    meta["splice_ids"] = ids
    meta["splice_rows"] = int(x.shape[0])

    # 3. gated cross-attention variant
    tcfg = MllamaTextConfig(hidden_size=C, num_attention_heads=model.config.num_attention_heads,
                            num_key_value_heads=model.config.num_key_value_heads,
                            intermediate_size=model.config.intermediate_size, rms_norm_eps=model.config.rms_norm_eps,
                            vocab_size=model.config.vocab_size, num_hidden_layers=4, cross_attention_layers=[],
                            bos_token_id=bos, eos_token_id=None, pad_token_id=None)
    tcfg._attn_implementation = "eager"
    assert C // tcfg.num_attention_heads == model.config.head_dim
    xlayers = []
    tensors = {"model.speech_projector.linear1.weight": w1, "model.speech_projector.linear1.bias": b1,
               "model.speech_projector.linear2.weight": w2, "model.speech_projector.linear2.bias": b2}
    for i, _ in enumerate(XATTN_LAYERS):
        lay = MllamaCrossAttentionDecoderLayer(tcfg, layer_idx=i).float().eval()
        with torch.no_grad():
            for n, prm in lay.named_parameters():
                if n.endswith("_gate"):
                    prm.copy_(torch.tensor([0.6 + 0.3 * i]) * (1 if "attn_gate" in n else -1))
                elif "norm" in n:
                    prm.copy_(1.0 + 0.2 * torch.randn_like(prm))
                else:
                    prm.copy_(torch.randn_like(prm) / math.sqrt(prm.shape[1]))
        for n, prm in lay.state_dict().items():
            tensors[f"model.speech_cross_layers.{i}.{n}"] = prm.detach().clone()
        xlayers.append(lay)
    xprompt = llama3_prompt(XATTN_SYSTEM, INSTRUCTION)
    before, after = xprompt.split("<speech>")
    xids = [bos] + tok.encode(before, add_special_tokens=False).ids
    xpos = len(xids)  # the clip is attached where the placeholder was: the first token after it sees it
    xids += tok.encode(after, add_special_tokens=False).ids
    T = len(xids)
    xmask = torch.zeros(1, 1, T, proj32.shape[0])
    row_ok = (torch.arange(T) >= xpos).float().view(1, 1, T, 1)
    clip = {"states": proj32[None], "mask": xmask, "row_ok": row_ok}

    def make_hook(lay):
        def hook(mod, args, kwargs):
            h = args[0] if args else kwargs["hidden_states"]
            h = lay(h, cross_attention_states=clip["states"], cross_attention_mask=clip["mask"], attention_mask=None,
                    full_text_row_masked_out_mask=clip["row_ok"])
            if args:
                return (h,) + tuple(args[1:]), kwargs
            kwargs["hidden_states"] = h
            return args, kwargs
        return hook

    handles = []
    for lay, at in zip(xlayers, XATTN_LAYERS):
        target = model.model.layers[at] if at < len(model.model.layers) else model.model.norm
        handles.append(target.register_forward_pre_hook(make_hook(lay), with_kwargs=True))
    with torch.no_grad():
        xlogits = model(torch.tensor([xids])).logits[0]
        # two clips: A (the first 4 projector rows = frames 0..19) at xpos, B (all 7 rows) at xpos2; a row sees
        # the clips attached at or before it (HF mask convention: finfo.min for masked keys)
        xpos2 = xpos + 9
        nA = 4
        W = nA + proj32.shape[0]
        m2 = torch.zeros(1, 1, T, W)
        m2[0, 0, xpos:xpos2, nA:] = torch.finfo(torch.float32).min
        clip.update(states=torch.cat([proj32[:nA], proj32])[None], mask=m2)
        x2logits = model(torch.tensor([xids])).logits[0]
        for h in handles:
            h.remove()
        plain = model(torch.tensor([xids])).logits[0]
    assert float((xlogits - plain).abs().max()) > 1e-2, "cross layers had no effect"
    save("xattn-logits.bin", xlogits)
    save("xattn2-logits.bin", x2logits)
    cfg = omni_config(C)
    cfg.update({"speech_adapter": "cross_attention", "speech_cross_attention_layers": XATTN_LAYERS,
                "num_attention_heads": tcfg.num_attention_heads, "num_key_value_heads": tcfg.num_key_value_heads,
                "head_dim": model.config.head_dim, "intermediate_size": tcfg.intermediate_size,
                "rms_norm_eps": tcfg.rms_norm_eps})
    write_folder(os.path.join(OUT, "xattn"), cfg, tensors)
    meta.update({"xattn_ids": xids, "xattn_pos": xpos, "xattn_system": XATTN_SYSTEM, "xattn2_pos": xpos2,
                 "xattn2_rows_a": nA})
    with open(os.path.join(OUT, "meta.json"), "w") as f:
        json.dump(meta, f)
        f.write("\n")
    print("wrote", OUT, "splice rows", x.shape[0], "xattn tokens", T)


if __name__ == "__main__":
    main()
