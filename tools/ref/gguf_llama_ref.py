#!/usr/bin/env python3
"""gguf_llama_ref.py — NumPy reference forward of a GGUF llama model (weights dequantized by gguf-py).
Usage: gguf_llama_ref.py MODEL.gguf ID... ; prints greedy next tokens and writes logits to /tmp/ref_logits.npy"""
import sys
import numpy as np
import gguf

r = gguf.GGUFReader(sys.argv[1])
ids = [int(x) for x in sys.argv[2:]]
def kv(k):
    f = r.fields[k]; return f.parts[f.data[0]][0]
W = {}
for t in r.tensors:
    a = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
    W[t.name] = a.reshape([int(x) for x in reversed(t.shape)]) if a.ndim == 1 and len(t.shape) > 1 else a
L = int(kv("llama.block_count")); NH = int(kv("llama.attention.head_count")); NKV = int(kv("llama.attention.head_count_kv"))
C = int(kv("llama.embedding_length")); HD = C // NH; eps = float(kv("llama.attention.layer_norm_rms_epsilon"))
base = float(kv("llama.rope.freq_base"))
def rms(x, w): return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w
def rope(x, pos):  # x [T, H, HD], NORMAL (adjacent pairs)
    i = np.arange(HD // 2); th = pos[:, None] * base ** (-2 * i / HD)
    c, s = np.cos(th)[:, None, :], np.sin(th)[:, None, :]
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x); out[..., 0::2] = x0 * c - x1 * s; out[..., 1::2] = x0 * s + x1 * c
    return out
def fwd(ids):
    T = len(ids); x = W["token_embd.weight"][ids].astype(np.float64); pos = np.arange(T)
    for l in range(L):
        p = f"blk.{l}."
        n = rms(x, W[p + "attn_norm.weight"])
        q = (n @ W[p + "attn_q.weight"].T).reshape(T, NH, HD); k = (n @ W[p + "attn_k.weight"].T).reshape(T, NKV, HD)
        v = (n @ W[p + "attn_v.weight"].T).reshape(T, NKV, HD)
        q, k = rope(q, pos), rope(k, pos)
        g = NH // NKV; k = np.repeat(k, g, axis=1); v = np.repeat(v, g, axis=1)
        sc = np.einsum("thd,shd->hts", q, k) / np.sqrt(HD)
        sc = sc + np.triu(np.full((T, T), -np.inf), 1)[None]
        sc = np.exp(sc - sc.max(-1, keepdims=True)); sc /= sc.sum(-1, keepdims=True)
        a = np.einsum("hts,shd->thd", sc, v).reshape(T, NH * HD)
        x = x + a @ W[p + "attn_output.weight"].T
        n = rms(x, W[p + "ffn_norm.weight"])
        gt = n @ W[p + "ffn_gate.weight"].T; up = n @ W[p + "ffn_up.weight"].T
        x = x + (gt / (1 + np.exp(-gt)) * up) @ W[p + "ffn_down.weight"].T
    out = W.get("output.weight", W["token_embd.weight"])
    return rms(x, W["output_norm.weight"]) @ out.T
lg = fwd(ids)
np.save("/tmp/ref_logits.npy", lg.astype(np.float32))
seq = list(ids)
for _ in range(8):
    seq.append(int(fwd(seq)[-1].argmax()))
print("greedy:", seq[len(ids):])
