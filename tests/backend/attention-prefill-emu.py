# attention-prefill-emu.py — NumPy mirror of fa_kernel (core/cuda/attention-prefill.cu): blocks, warps and
# lanes as loops/vectors, same row mapping, tile bounds, per-warp tile skipping and online softmax, checked
# against a float64 reference over the parity test's prefill shapes. A development aid for a machine
# without a GPU (it checks the algorithm as transcribed, not the CUDA code); not run by meson.
# Usage: python3 tests/backend/attention-prefill-emu.py   (prints NMSE per case, ~1e-14 expected)
import numpy as np
FA_WARPS, FA_RW, FA_BK = 4, 8, 32
FA_ROWS = FA_WARPS * FA_RW
def fa(q, k, v, scale, causal, n_past, mask):
    T, NH, HD = q.shape; S, NKV, _ = k.shape
    HDP = 64 if HD <= 64 else 128 if HD <= 128 else 256
    G = NH // NKV; n_rows = T * G
    out = np.full((T, NH, HD), np.nan, np.float32)
    for kvh in range(NKV):
        for bx in range((n_rows + FA_ROWS - 1) // FA_ROWS):
            row0 = bx * FA_ROWS
            sh_q = np.zeros((FA_ROWS, HDP), np.float32)
            for r in range(FA_ROWS):
                i = row0 + r
                if i < n_rows:
                    t, h = i // G, kvh * G + i % G
                    sh_q[r, :HD] = q[t, h] * scale
            s_end = S
            i_last = row0 + FA_ROWS - 1 if row0 + FA_ROWS < n_rows else n_rows - 1
            if causal and n_past + i_last // G + 1 < s_end: s_end = n_past + i_last // G + 1
            for warp in range(FA_WARPS):
                lim = np.zeros(FA_RW, int); tq = np.zeros(FA_RW, int)
                for rr in range(FA_RW):
                    i = row0 + warp * FA_RW + rr
                    if i < n_rows:
                        t = i // G; li = S
                        if causal and n_past + t + 1 < li: li = n_past + t + 1
                        lim[rr] = li; tq[rr] = t
                wlim = lim.max()
                m = np.full(FA_RW, -np.inf, np.float32); l = np.zeros((FA_RW, 32), np.float32)
                acc = np.zeros((FA_RW, HDP), np.float32)
                for s0 in range(0, s_end, FA_BK):
                    sh_k = np.zeros((FA_BK, HDP), np.float32); sh_v = np.zeros((FA_BK, HDP), np.float32)
                    for j in range(FA_BK):
                        s = s0 + j
                        if s < s_end: sh_k[j, :HD] = k[s, kvh]; sh_v[j, :HD] = v[s, kvh]
                    if s0 >= wlim: continue
                    s = s0 + np.arange(32)
                    d4 = (HD + 3) // 4 * 4
                    sc = sh_q[warp*FA_RW:(warp+1)*FA_RW, :d4] @ sh_k[:, :d4].T   # [RW, 32 lanes]
                    P = np.zeros((FA_RW, 32), np.float32)
                    for rr in range(FA_RW):
                        x = np.full(32, -np.inf, np.float32)
                        vis = s < lim[rr]
                        x[vis] = sc[rr, vis] + (mask[tq[rr], s[vis]] if mask is not None else 0)
                        mn = max(m[rr], x.max())
                        corr, p = 1.0, np.zeros(32, np.float32)
                        if mn != -np.inf:
                            corr = np.exp(m[rr] - mn); p = np.exp(x - mn)
                        m[rr] = mn; l[rr] = l[rr] * corr + p; acc[rr] *= corr; P[rr] = p
                    acc += P @ sh_v
                for rr in range(FA_RW):
                    i = row0 + warp * FA_RW + rr
                    L = l[rr].sum()
                    if i >= n_rows: continue
                    t, h = i // G, kvh * G + i % G
                    out[t, h] = acc[rr, :HD] * (1 / L if L > 0 else 0)
    return out
def ref(q, k, v, scale, causal, n_past, mask):
    T, NH, HD = q.shape; S, NKV, _ = k.shape; G = NH // NKV
    out = np.zeros((T, NH, HD))
    for t in range(T):
        for h in range(NH):
            sc = k[:, h // G].astype(np.float64) @ q[t, h] * scale
            if mask is not None: sc = sc + mask[t]
            if causal: sc[n_past + t + 1:] = -np.inf
            if np.all(sc == -np.inf): continue
            p = np.exp(sc - sc.max()); out[t, h] = p @ v[:, h // G] / p.sum()
    return out
rng = np.random.default_rng(1)
worst = 0
for (HD, NH, NKV, T, npast, mode) in [(64,2,2,2,0,1),(80,6,2,17,37,3),(128,8,2,64,0,2),(64,8,1,130,37,0),
                                      (256,8,2,33,5,1),(66,6,2,40,3,1),(64,32,8,64,700,1),(128,32,8,31,0,3),(96,4,4,9,0,3)]:
    S = npast + T
    q = rng.uniform(-1,1,(T,NH,HD)).astype(np.float32); k = rng.uniform(-1,1,(S,NKV,HD)).astype(np.float32)
    v = rng.uniform(-1,1,(S,NKV,HD)).astype(np.float32)
    mask = None
    if mode & 2:
        mask = rng.uniform(-2,2,(T,S)).astype(np.float32); mask.flat[::5] = -np.inf
        if T > 1: mask[1] = -np.inf
    a = fa(q,k,v,1/np.sqrt(HD),mode&1,npast,mask); b = ref(q,k,v,1/np.sqrt(HD),mode&1,npast,mask)
    nmse = np.sum((a-b)**2)/np.sum(b**2); worst = max(worst, nmse)
    print(HD,NH,NKV,T,npast,mode, "nmse %.2e nan %d" % (nmse, np.isnan(a).sum()))
print("worst", worst)
