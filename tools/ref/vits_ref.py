#!/usr/bin/env python3
"""vits_ref.py — a NumPy (float64) VITS inference reference in Piper's module layout, used to make the
tiny-VITS fixtures (tools/ref/tiny_vits.py) and to check itself against onnxruntime on a real Piper voice.

Written from the definitions (Kim et al. 2021, "Conditional Variational Autoencoder with Adversarial
Learning for End-to-End Text-to-Speech"; facts about Piper's variant read from OHF-Voice/piper1-gpl
src/piper/train/vits/{models,modules,attentions,transforms}.py — no code copied):
  text encoder  emb·√H → 6 × [rel-pos MHA (window 4, heads share rel embeddings) → LN(x+y) → FFN (conv k3
                'same' pad, ReLU, conv k3) → LN(x+y)] → proj 1×1 → (m_p, logs_p)
  duration      stochastic duration predictor in reverse: pre 1×1 (+ cond g) → DDSConv(3) → proj; noise z
                [2, T]·noise_w through flows 7, Flip, 5, Flip, 3, Flip, ElementwiseAffine 0 (flow 1 dropped as
                Piper's export does); ConvFlow = rational-quadratic spline (10 bins, tail bound 5, linear
                tails, min bin 1e-3, min derivative 1e-3) on the second channel; logw = z[0]
  lengths       w = ceil(exp(logw)·length_scale), frames = max(Σw, 1)
  prior         z_p = m_p + ε·exp(logs_p)·noise_scale expanded to frames
  flow          4 × (ResidualCouplingLayer mean-only with WaveNet(k5, 4 layers), Flip) in reverse
  decoder       HiFi-GAN: conv_pre k7 (+ cond g) → per upsample: leaky(0.1), ConvTranspose(k, u, (k−u)/2),
                mean of resblocks → leaky(0.01) → conv_post k7 (no bias) → tanh
Arrays are PyTorch-layout [C, T] (batch dropped). Weights: a dict name → np.ndarray with PyTorch names.

Usage as a check: python3 tools/ref/vits_ref.py VOICE.onnx  (needs onnx + onnxruntime; compares with the
ONNX graph at scales [0, 1, 0] on a few id sequences and prints the NMSE and the durations).
"""
import math
import sys

import numpy as np

LRELU = 0.1

# Hyperparameters Piper's .onnx.json does not carry (piper1-gpl vits/config.py): by HiFi-GAN resblock type.
RESBLOCK_DILATIONS = {"1": [(1, 3, 5)] * 3, "2": [(1, 2), (2, 6), (3, 12)]}


def conv1d(x, w, b=None, stride=1, pad=0, dil=1, groups=1):
    """x [Cin, L], w [Cout, Cin/g, K] → [Cout, Lout] (torch.nn.functional.conv1d, zero padding)."""
    cin, L = x.shape
    cout, cpg, K = w.shape
    xp = np.pad(x, ((0, 0), (pad, pad)))
    lout = (L + 2 * pad - dil * (K - 1) - 1) // stride + 1
    y = np.zeros((cout, lout))
    opg = cout // groups
    for g in range(groups):
        xs = xp[g * cpg:(g + 1) * cpg]
        wg = w[g * opg:(g + 1) * opg]
        for k in range(K):
            cols = xs[:, k * dil: k * dil + stride * (lout - 1) + 1: stride]  # [cpg, lout]
            y[g * opg:(g + 1) * opg] += wg[:, :, k] @ cols
    if b is not None:
        y += b[:, None]
    return y


def conv_transpose1d(x, w, b=None, stride=1, pad=0):
    """x [Cin, L], w [Cin, Cout, K] → [Cout, (L−1)·stride − 2·pad + K] (torch conv_transpose1d)."""
    cin, L = x.shape
    _, cout, K = w.shape
    full = np.zeros((cout, (L - 1) * stride + K))
    for k in range(K):
        full[:, k: k + stride * (L - 1) + 1: stride] += w[:, :, k].T @ x
    y = full[:, pad: full.shape[1] - pad]
    if b is not None:
        y = y + b[:, None]
    return y


def layer_norm(x, g, b, eps=1e-5):  # over channels of [C, T]
    m = x.mean(0, keepdims=True)
    v = ((x - m) ** 2).mean(0, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * g[:, None] + b[:, None]


def gelu(x):
    from math import erf
    return 0.5 * x * (1.0 + np.vectorize(erf)(x / math.sqrt(2.0)))


def leaky(x, s=LRELU):
    return np.where(x >= 0, x, x * s)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def rel_attention(W, p, x, n_heads, window):
    C, T = x.shape
    hd = C // n_heads
    q = conv1d(x, W[p + "conv_q.weight"], W[p + "conv_q.bias"])
    k = conv1d(x, W[p + "conv_k.weight"], W[p + "conv_k.bias"])
    v = conv1d(x, W[p + "conv_v.weight"], W[p + "conv_v.bias"])
    ek, ev = W[p + "emb_rel_k"][0], W[p + "emb_rel_v"][0]  # [2W+1, hd]
    out = np.zeros((C, T))
    for h in range(n_heads):
        qh, kh, vh = (a[h * hd:(h + 1) * hd].T for a in (q, k, v))  # [T, hd]
        qs = qh / math.sqrt(hd)
        s = qs @ kh.T
        for i in range(T):
            for j in range(max(0, i - window), min(T, i + window + 1)):
                s[i, j] += qs[i] @ ek[j - i + window]
        pr = softmax(s, -1)
        o = pr @ vh
        for i in range(T):
            for j in range(max(0, i - window), min(T, i + window + 1)):
                o[i] += pr[i, j] * ev[j - i + window]
        out[h * hd:(h + 1) * hd] = o.T
    return conv1d(out, W[p + "conv_o.weight"], W[p + "conv_o.bias"])


def text_encoder(W, ids, hp):
    H = hp["hidden"]
    x = W["enc_p.emb.weight"][ids].T * math.sqrt(H)  # [H, T]
    for l in range(hp["n_layers"]):
        p = "enc_p.encoder."
        y = rel_attention(W, p + "attn_layers.%d." % l, x, hp["n_heads"], hp["window"])
        x = layer_norm(x + y, W[p + "norm_layers_1.%d.gamma" % l], W[p + "norm_layers_1.%d.beta" % l])
        f = p + "ffn_layers.%d." % l
        k = W[f + "conv_1.weight"].shape[2]
        y = conv1d(x, W[f + "conv_1.weight"], W[f + "conv_1.bias"], pad=(k - 1) // 2)
        y = np.maximum(y, 0)
        y = conv1d(y, W[f + "conv_2.weight"], W[f + "conv_2.bias"], pad=(k - 1) // 2)
        x = layer_norm(x + y, W[p + "norm_layers_2.%d.gamma" % l], W[p + "norm_layers_2.%d.beta" % l])
    stats = conv1d(x, W["enc_p.proj.weight"], W["enc_p.proj.bias"])
    C = stats.shape[0] // 2
    return x, stats[:C], stats[C:]


def dds_conv(W, p, x, n_layers, g=None):
    if g is not None:
        x = x + g
    k = W[p + "convs_sep.0.weight"].shape[2]
    for i in range(n_layers):
        d = k ** i
        y = conv1d(x, W[p + "convs_sep.%d.weight" % i], W[p + "convs_sep.%d.bias" % i], pad=(k * d - d) // 2,
                   dil=d, groups=x.shape[0])
        y = gelu(layer_norm(y, W[p + "norms_1.%d.gamma" % i], W[p + "norms_1.%d.beta" % i]))
        y = conv1d(y, W[p + "convs_1x1.%d.weight" % i], W[p + "convs_1x1.%d.bias" % i])
        y = gelu(layer_norm(y, W[p + "norms_2.%d.gamma" % i], W[p + "norms_2.%d.beta" % i]))
        x = x + y
    return x


def softplus(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


def rq_spline_inverse(x, uw, uh, ud, B=5.0, mbw=1e-3, mbh=1e-3, md=1e-3):
    """Inverse rational-quadratic spline with linear tails; x scalar, uw/uh [nb], ud [nb−1]."""
    if x < -B or x > B:
        return x
    nb = len(uw)
    const = math.log(math.exp(1 - md) - 1)
    ud = np.concatenate([[const], ud, [const]])

    def knots(u):
        w = softmax(u)
        w = mbw + (1 - mbw * nb) * w
        c = np.concatenate([[0.0], np.cumsum(w)])
        c = 2 * B * c - B
        c[0], c[-1] = -B, B
        return c, c[1:] - c[:-1]

    cw, widths = knots(uw)
    ch, heights = knots(uh)
    deriv = md + softplus(ud)
    loc = ch.copy()
    loc[-1] += 1e-6
    i = int(np.sum(x >= loc) - 1)
    i = min(max(i, 0), nb - 1)
    delta = heights[i] / widths[i]
    d0, d1 = deriv[i], deriv[i + 1]
    y = x - ch[i]
    a = y * (d0 + d1 - 2 * delta) + heights[i] * (delta - d0)
    b = heights[i] * d0 - y * (d0 + d1 - 2 * delta)
    c = -delta * y
    disc = b * b - 4 * a * c
    root = (2 * c) / (-b - math.sqrt(disc))
    return root * widths[i] + cw[i]


def conv_flow_reverse(W, p, z, h_cond, nb=10):
    x0, x1 = z[0:1], z[1].copy()
    h = conv1d(x0, W[p + "pre.weight"], W[p + "pre.bias"])
    h = dds_conv(W, p + "convs.", h, 3, g=h_cond)
    h = conv1d(h, W[p + "proj.weight"], W[p + "proj.bias"])  # [3nb−1, T]
    fc = W[p + "pre.weight"].shape[0]
    for t in range(z.shape[1]):
        hh = h[:, t]
        x1[t] = rq_spline_inverse(x1[t], hh[:nb] / math.sqrt(fc), hh[nb:2 * nb] / math.sqrt(fc), hh[2 * nb:])
    return np.concatenate([x0, x1[None]], 0)


def duration_predictor(W, x, g, noise_w, rng):
    h = conv1d(x, W["dp.pre.weight"], W["dp.pre.bias"])
    if g is not None:
        h = h + conv1d(g, W["dp.cond.weight"], W["dp.cond.bias"])
    h = dds_conv(W, "dp.convs.", h, 3)
    h = conv1d(h, W["dp.proj.weight"], W["dp.proj.bias"])
    T = x.shape[1]
    z = rng(2, T) * noise_w
    for f in (7, 5, 3):
        z = z[::-1]  # Flip
        z = conv_flow_reverse(W, "dp.flows.%d." % f, z, h)
    z = z[::-1]
    z = (z - W["dp.flows.0.m"]) * np.exp(-W["dp.flows.0.logs"])
    return z[0]


def wavenet(W, p, x, n_layers, g):
    H = x.shape[0]
    out = np.zeros_like(x)
    gc = conv1d(g, W[p + "cond_layer.weight"], W[p + "cond_layer.bias"]) if g is not None else None
    for i in range(n_layers):
        w = W[p + "in_layers.%d.weight" % i]
        k = w.shape[2]
        xi = conv1d(x, w, W[p + "in_layers.%d.bias" % i], pad=(k - 1) // 2)
        if gc is not None:
            xi = xi + gc[i * 2 * H:(i + 1) * 2 * H]
        acts = np.tanh(xi[:H]) * sigmoid(xi[H:])
        rs = conv1d(acts, W[p + "res_skip_layers.%d.weight" % i], W[p + "res_skip_layers.%d.bias" % i])
        if i < n_layers - 1:
            x = x + rs[:H]
            out = out + rs[H:]
        else:
            out = out + rs
    return out


def flow_reverse(W, z, g, n_flows=4, wn_layers=4):
    for f in reversed(range(n_flows)):
        z = z[::-1]  # Flip
        p = "flow.flows.%d." % (2 * f)
        half = z.shape[0] // 2
        x0, x1 = z[:half], z[half:]
        h = conv1d(x0, W[p + "pre.weight"], W[p + "pre.bias"])
        h = wavenet(W, p + "enc.", h, wn_layers, g)
        m = conv1d(h, W[p + "post.weight"], W[p + "post.bias"])
        z = np.concatenate([x0, x1 - m], 0)
    return z


def decoder(W, z, g, hp):
    x = conv1d(z, W["dec.conv_pre.weight"], W["dec.conv_pre.bias"], pad=3)
    if g is not None:
        x = x + conv1d(g, W["dec.cond.weight"], W["dec.cond.bias"])
    nk = len(hp["resblock_kernels"])
    for i, (u, k) in enumerate(zip(hp["upsample_rates"], hp["upsample_kernels"])):
        x = leaky(x)
        x = conv_transpose1d(x, W["dec.ups.%d.weight" % i], W["dec.ups.%d.bias" % i], stride=u, pad=(k - u) // 2)
        xs = 0
        for j, (rk, dils) in enumerate(zip(hp["resblock_kernels"], hp["resblock_dilations"])):
            r = x
            p = "dec.resblocks.%d." % (i * nk + j)
            if hp["resblock"] == "2":
                for c, d in enumerate(dils):
                    xt = leaky(r)
                    xt = conv1d(xt, W[p + "convs.%d.weight" % c], W[p + "convs.%d.bias" % c], pad=(rk * d - d) // 2,
                                dil=d)
                    r = r + xt
            else:
                for c, d in enumerate(dils):
                    xt = leaky(r)
                    xt = conv1d(xt, W[p + "convs1.%d.weight" % c], W[p + "convs1.%d.bias" % c],
                                pad=(rk * d - d) // 2, dil=d)
                    xt = leaky(xt)
                    xt = conv1d(xt, W[p + "convs2.%d.weight" % c], W[p + "convs2.%d.bias" % c], pad=(rk - 1) // 2)
                    r = r + xt
            xs = xs + r
        x = xs / nk
    x = leaky(x, 0.01)
    x = conv1d(x, W["dec.conv_post.weight"], W.get("dec.conv_post.bias"), pad=3)
    return np.tanh(x)[0]


def synthesize(W, hp, ids, scales=(0.0, 1.0, 0.0), sid=None, rng=None, return_parts=False):
    """ids: phoneme ids; scales (noise_scale, length_scale, noise_w). rng(*shape) gives N(0, 1) noise
    (zeros when None: fine for scales [0, 1, 0]). Returns (audio [frames·hop], durations [T])."""
    if rng is None:
        def rng(*shape):
            return np.zeros(shape)
    ids = np.asarray(ids)
    x, m_p, logs_p = text_encoder(W, ids, hp)
    g = W["emb_g.weight"][sid][:, None] if sid is not None else None
    logw = duration_predictor(W, x, g, scales[2], rng)
    w = np.ceil(np.exp(logw) * scales[1])
    dur = w.astype(np.int64)
    frames = max(int(dur.sum()), 1)
    idx = np.repeat(np.arange(len(ids)), dur)
    if len(idx) == 0:
        idx = np.zeros(1, np.int64)  # ponder: Piper's generate_path gives an all-zero frame here
        m, l = np.zeros((m_p.shape[0], 1)), np.zeros((m_p.shape[0], 1))
    else:
        m, l = m_p[:, idx], logs_p[:, idx]
    z_p = m + rng(*m.shape) * np.exp(l) * scales[0]
    z = flow_reverse(W, z_p, g)
    audio = decoder(W, z, g, hp)
    if return_parts:
        return audio, dur, {"m_p": m_p, "logs_p": logs_p, "logw": logw, "z_p": z_p, "z": z, "x": x}
    return audio, dur


# ---- reading a Piper .onnx (for the self-check) ------------------------------------------------------------

def load_onnx_weights(path):
    """name → float64 array with PyTorch names: folded `onnx::Conv_*` weights named after the Conv node
    that consumes them, the phoneme embedding found through its Gather node, dp.flows.0.logs recovered from
    the folded exp(−logs)."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(path)
    cons = {}
    for n in m.graph.node:
        for i in n.input:
            cons.setdefault(i, []).append(n)
    W = {}
    for init in m.graph.initializer:
        a = numpy_helper.to_array(init).astype(np.float64)
        name = init.name
        users = cons.get(name, [])
        if name.startswith("onnx::Conv_") and users:
            name = users[0].name.strip("/").rsplit("/", 1)[0].replace("/", ".") + ".weight"
        elif users and users[0].op_type == "Gather" and users[0].name.startswith("/enc_p/emb/"):
            name = "enc_p.emb.weight"
        elif users and users[0].op_type == "Gather" and users[0].name.startswith("/emb_g/"):
            name = "emb_g.weight"
        elif name == "/dp/flows.0/Exp_output_0":
            W["dp.flows.0.logs"] = -np.log(a)
            continue
        W[name] = a
    return W


def hparams_from_weights(W):
    n_layers = len([k for k in W if k.startswith("enc_p.encoder.attn_layers.") and k.endswith("conv_q.weight")])
    n_up = len([k for k in W if k.startswith("dec.ups.") and k.endswith(".weight")])
    nres = len([k for k in W if k.startswith("dec.resblocks.") and k.endswith(".convs.0.weight")]) + \
        len([k for k in W if k.startswith("dec.resblocks.") and k.endswith(".convs1.0.weight")])
    nk = nres // n_up
    rtype = "2" if "dec.resblocks.0.convs.0.weight" in W else "1"
    kern = [W["dec.resblocks.%d.%s.0.weight" % (j, "convs" if rtype == "2" else "convs1")].shape[2]
            for j in range(nk)]
    upk = [W["dec.ups.%d.weight" % i].shape[2] for i in range(n_up)]
    # upsample rate: Piper pads (k − u)/2 and the rates are 8·8·4 (low/medium), 8·8·2·2 (high) or the
    # tiny model's own; the caller passes them when they differ
    return {"hidden": W["enc_p.emb.weight"].shape[1], "n_layers": n_layers,
            "n_heads": 2, "window": (W["enc_p.encoder.attn_layers.0.emb_rel_k"].shape[1] - 1) // 2,
            "resblock": rtype, "resblock_kernels": kern, "resblock_dilations": RESBLOCK_DILATIONS[rtype],
            "upsample_kernels": upk, "upsample_rates": [k // 2 for k in upk]}


def main():
    import onnxruntime as ort
    path = sys.argv[1]
    W = load_onnx_weights(path)
    hp = hparams_from_weights(W)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    rs = np.random.RandomState(1)
    for T in (9, 31, 57):
        ids = [1, 0] + [int(v) for pair in zip(rs.randint(14, 130, T // 2), [0] * (T // 2)) for v in pair] + [2]
        feed = {"input": np.array([ids], np.int64), "input_lengths": np.array([len(ids)], np.int64),
                "scales": np.array([0, 1, 0], np.float32)}
        if "sid" in names:
            feed["sid"] = np.array([0], np.int64)
        ref = sess.run(None, feed)[0].reshape(-1).astype(np.float64)
        audio, dur = synthesize(W, hp, ids, sid=0 if "sid" in names else None)
        n = min(len(ref), len(audio))
        nmse = np.sum((audio[:n] - ref[:n]) ** 2) / np.sum(ref[:n] ** 2)
        print("T=%d samples ort %d numpy %d frames %d nmse %.3g" % (len(ids), len(ref), len(audio), dur.sum(), nmse))


if __name__ == "__main__":
    main()
