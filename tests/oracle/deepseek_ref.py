#!/usr/bin/env python3
"""deepseek_ref.py — an independent float64 NumPy forward pass for DeepSeek-V2/V3-family checkpoints
(and our LatentForCausalLM mHC / HC / MHA family), written from the specs only:
deepseek-arch.md §2-§5 and docs/model-family.md. It does not import any of our code.

It deliberately uses the *other* RoPE form than the C++ engine: HF's permute + rotate_half (with
rope_interleave) instead of adjacent-pair rotation, and explicit (non-absorbed) MLA attention.

Usage: deepseek_ref.py MODEL_DIR --tokens 1,2,3 --out logits.json
Writes {"tokens": [...], "vocab": V, "logits": [[...] per token]} (float64 values).
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np


# ---------------------------------------------------------------- safetensors (parsed by hand)
_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I32": np.int32, "I64": np.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    buf = data[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = buf[b:e]
        shape = info["shape"]
        if info["dtype"] == "BF16":
            u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = u.view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=np.dtype(_DTYPES[info["dtype"]]).newbyteorder("<"))
        out[name] = arr.reshape(shape).astype(np.float64)
    return out


def read_weights(model_dir):
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    w = {}
    for fn in files:
        w.update(read_safetensors(os.path.join(model_dir, fn)))
    return w


# ---------------------------------------------------------------- building blocks
def rmsnorm(x, w, eps):
    return w * (x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps))


def silu(x):
    return x / (1.0 + np.exp(-x))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def softmax(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=axis, keepdims=True)


def yarn_get_mscale(scale, m):
    return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0


def rope_tables(cfg, positions):
    """cos/sin [T, d_r] in HF's cat(freqs, freqs) layout, times the attention factor (§4)."""
    d = cfg["qk_rope_head_dim"]
    base = np.float32(cfg.get("rope_theta", 10000.0))
    expo = (np.arange(0, d, 2, dtype=np.float32) / np.float32(d)).astype(np.float32)
    pos_freqs = np.power(base, expo, dtype=np.float32)
    inv_extra = (np.float32(1.0) / pos_freqs).astype(np.float32)
    rs = cfg.get("rope_scaling")
    attn_factor = 1.0
    if rs and rs.get("type", rs.get("rope_type")) == "yarn":
        f = float(rs["factor"])
        L = float(rs.get("original_max_position_embeddings", 4096))
        bf, bs = float(rs.get("beta_fast", 32)), float(rs.get("beta_slow", 1))
        b = float(cfg.get("rope_theta", 10000.0))

        def corr(n):
            return d * math.log(L / (n * 2 * math.pi)) / (2 * math.log(b))

        low = max(math.floor(corr(bf)), 0)
        high = min(math.ceil(corr(bs)), d - 1)
        if low == high:
            high += 0.001
        inv_inter = (np.float32(1.0) / (np.float32(f) * pos_freqs)).astype(np.float32)
        ramp = np.clip((np.arange(d // 2, dtype=np.float32) - np.float32(low)) / np.float32(high - low), 0, 1)
        extra_w = (np.float32(1.0) - ramp).astype(np.float32)
        inv = (inv_inter * (np.float32(1.0) - extra_w) + inv_extra * extra_w).astype(np.float32)
        attn_factor = yarn_get_mscale(f, float(rs.get("mscale", 1.0))) / yarn_get_mscale(
            f, float(rs.get("mscale_all_dim", 0.0)))
    else:
        inv = inv_extra
    ang = np.asarray(positions, dtype=np.float32)[:, None].astype(np.float64) * inv.astype(np.float64)[None, :]
    ang = np.concatenate([ang, ang], axis=-1)
    return np.cos(ang) * attn_factor, np.sin(ang) * attn_factor


def apply_rope(x, cos, sin, interleave):
    """x [T, heads, d]. HF: optional permutation [x0,x2,..,x1,x3,..], then rotate_half."""
    T, Hh, d = x.shape
    if interleave:
        x = x.reshape(T, Hh, d // 2, 2).transpose(0, 1, 3, 2).reshape(T, Hh, d)
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    rot = np.concatenate([-x2, x1], axis=-1)
    return x * cos[:, None, :] + rot * sin[:, None, :]


def softmax_scale(cfg, d_qk):
    s = d_qk ** -0.5
    rs = cfg.get("rope_scaling")
    if rs and rs.get("type", rs.get("rope_type")) == "yarn":
        mad = float(rs.get("mscale_all_dim", 0) or 0)
        if mad:
            m = yarn_get_mscale(float(rs["factor"]), mad)
            s = s * m * m
    return s


def causal_attention(q, k, v, scale):
    """q [T,H,dk], k [T,H,dk], v [T,H,dv] -> [T, H*dv]"""
    T = q.shape[0]
    s = np.einsum("thd,shd->hts", q, k) * scale
    mask = np.triu(np.ones((T, T), dtype=bool), 1)
    s = np.where(mask[None], -np.inf, s)
    p = softmax(s, -1)
    o = np.einsum("hts,shd->thd", p, v)
    return o.reshape(T, -1)


# ---------------------------------------------------------------- sublayers
def attention(cfg, W, p, x, positions):
    H = cfg["num_attention_heads"]
    dn, dr, dv = cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"], cfg["v_head_dim"]
    dqk = dn + dr
    T = x.shape[0]
    interleave = cfg.get("rope_interleave", True)
    cos, sin = rope_tables(cfg, positions)
    scale = softmax_scale(cfg, dqk)
    if cfg.get("attention_kind", "mla") == "mha":
        q = (x @ W[p + "q_proj.weight"].T).reshape(T, H, dqk)
        k = (x @ W[p + "k_proj.weight"].T).reshape(T, H, dqk)
        v = (x @ W[p + "v_proj.weight"].T).reshape(T, H, dv)
        q = np.concatenate([q[..., :dn], apply_rope(q[..., dn:], cos, sin, interleave)], -1)
        k = np.concatenate([k[..., :dn], apply_rope(k[..., dn:], cos, sin, interleave)], -1)
        return causal_attention(q, k, v, scale) @ W[p + "o_proj.weight"].T
    if cfg.get("q_lora_rank"):
        qa = rmsnorm(x @ W[p + "q_a_proj.weight"].T, W[p + "q_a_layernorm.weight"], 1e-6)
        q = qa @ W[p + "q_b_proj.weight"].T
    else:
        q = x @ W[p + "q_proj.weight"].T
    q = q.reshape(T, H, dqk)
    r = cfg["kv_lora_rank"]
    ckv = x @ W[p + "kv_a_proj_with_mqa.weight"].T
    c = rmsnorm(ckv[:, :r], W[p + "kv_a_layernorm.weight"], 1e-6)
    k_pe = ckv[:, r:].reshape(T, 1, dr)
    kv = (c @ W[p + "kv_b_proj.weight"].T).reshape(T, H, dn + dv)
    k_nope, v = kv[..., :dn], kv[..., dn:]
    q_pe = apply_rope(q[..., dn:], cos, sin, interleave)
    k_pe = apply_rope(k_pe, cos, sin, interleave)
    Q = np.concatenate([q[..., :dn], q_pe], -1)
    K = np.concatenate([k_nope, np.broadcast_to(k_pe, (T, H, dr))], -1)
    return causal_attention(Q, K, v, scale) @ W[p + "o_proj.weight"].T


def mlp(W, p, x):
    return (silu(x @ W[p + "gate_proj.weight"].T) * (x @ W[p + "up_proj.weight"].T)) @ W[p + "down_proj.weight"].T


def route(cfg, logits, bias):
    """Returns (idx [T,K], w [T,K]) per deepseek-arch.md §3 (HF semantics, mask value 0.0)."""
    E, K = cfg["n_routed_experts"], cfg["num_experts_per_tok"]
    method = cfg.get("topk_method", "greedy")
    scoring = cfg.get("scoring_func", "softmax")
    if cfg["architectures"][0] in ("Glm4MoeLiteForCausalLM", "DeepseekV3ForCausalLM"):  # HF routers: V3 form only
        method, scoring = "noaux_tc", "sigmoid"
    G, TG = cfg.get("n_group", 1) or 1, cfg.get("topk_group", 1) or 1
    s = softmax(logits, -1) if scoring == "softmax" else sigmoid(logits)
    sc = s + bias[None, :] if (method == "noaux_tc" and bias is not None) else s.copy()
    T = logits.shape[0]
    if method != "greedy" and G > 1:
        g = sc.reshape(T, G, E // G)
        if method == "group_limited_greedy":
            gs = g.max(-1)
        else:
            gs = np.sort(g, -1)[..., -2:].sum(-1) if E // G >= 2 else g.max(-1)
        keep = np.zeros((T, G), dtype=bool)
        for t in range(T):
            order = sorted(range(G), key=lambda j: (-gs[t, j], j))
            keep[t, order[:TG]] = True
        sc = np.where(np.repeat(keep, E // G, axis=1), sc, 0.0)
    idx = np.zeros((T, K), dtype=np.int64)
    for t in range(T):
        order = sorted(range(E), key=lambda e: (-sc[t, e], e))
        idx[t] = order[:K]
    w = np.take_along_axis(s, idx, 1)
    rsf = float(cfg.get("routed_scaling_factor", 1.0))
    norm = bool(cfg.get("norm_topk_prob", False))
    if method == "noaux_tc":
        if norm:
            w = w / (w.sum(-1, keepdims=True) + 1e-20)
        w = w * rsf
    elif K > 1 and norm:  # V2 remote code: exclusive branches
        w = w / (w.sum(-1, keepdims=True) + 1e-20)
    else:
        w = w * rsf
    return idx, w


def ffn(cfg, W, p, x, layer):
    E = cfg.get("n_routed_experts") or 0
    moe = E > 0 and layer >= cfg.get("first_k_dense_replace", 0) and layer % cfg.get("moe_layer_freq", 1) == 0
    if not moe:
        return mlp(W, p, x)
    logits = x @ W[p + "gate.weight"].T
    bias = W.get(p + "gate.e_score_correction_bias")
    idx, w = route(cfg, logits, bias)
    out = np.zeros_like(x)
    for t in range(x.shape[0]):
        for k in range(idx.shape[1]):
            out[t] += w[t, k] * mlp(W, p + "experts.%d." % idx[t, k], x[t:t + 1])[0]
    if cfg.get("n_shared_experts"):
        out = out + mlp(W, p + "shared_experts.", x)
    return out


# ---------------------------------------------------------------- hyper-connections (docs/model-family.md)
def hc_coeffs(cfg, fn, base, scale, X):
    """X [n, D] -> (pre [n], post [n], mix [n, n]) with X' = mix @ X + post[:, None] * y."""
    n = X.shape[0]
    v = X.reshape(-1)
    m = (fn @ v) / math.sqrt(np.mean(v * v) + cfg["rms_norm_eps"])
    kind = cfg["residual_kind"]
    eps = cfg.get("hc_eps", 1e-6)
    if kind == "hc":
        pre = base[:n] + scale[0] * np.tanh(m[:n])
        post = base[n:2 * n] + scale[1] * np.tanh(m[n:2 * n])
        Hm = base[2 * n:].reshape(n, n) + scale[2] * np.tanh(m[2 * n:].reshape(n, n))
        return pre, post, Hm
    iters = cfg.get("hc_sinkhorn_iters", 20)
    Lg = (m[2 * n:] * scale[2] + base[2 * n:]).reshape(n, n)
    post = 2 * sigmoid(m[n:2 * n] * scale[1] + base[n:2 * n])
    if cfg.get("hc_paper_form", False):
        pre = sigmoid(m[:n] * scale[0] + base[:n])
        M = np.exp(Lg - Lg.max())
        for _ in range(iters):
            M = M / M.sum(0, keepdims=True)
            M = M / M.sum(1, keepdims=True)
        return pre, post, M
    pre = sigmoid(m[:n] * scale[0] + base[:n]) + eps
    C = softmax(Lg, -1) + eps
    C = C / (C.sum(0, keepdims=True) + eps)
    for _ in range(iters - 1):
        C = C / (C.sum(1, keepdims=True) + eps)
        C = C / (C.sum(0, keepdims=True) + eps)
    return pre, post, C.T  # X'_j = sum_i C[i][j] X_i


# ---------------------------------------------------------------- model
def forward(cfg, W, tokens):
    T = len(tokens)
    positions = np.arange(T)
    eps = cfg["rms_norm_eps"]
    h = W["model.embed_tokens.weight"][np.asarray(tokens)]
    kind = cfg.get("residual_kind", "residual") if cfg["architectures"][0] == "LatentForCausalLM" else "residual"
    n = cfg.get("hc_mult", 1)
    X = np.repeat(h[:, None, :], n, axis=1) if kind != "residual" else None
    for l in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % l
        for sub in ("attn", "ffn"):
            norm_w = W[p + ("input_layernorm.weight" if sub == "attn" else "post_attention_layernorm.weight")]
            if kind == "residual":
                x = rmsnorm(h, norm_w, eps)
            else:
                hp = p + sub + "_hc."
                coeffs = [hc_coeffs(cfg, W[hp + "fn"], W[hp + "base"], W[hp + "scale"], X[t]) for t in range(T)]
                u = np.stack([coeffs[t][0] @ X[t] for t in range(T)])
                x = rmsnorm(u, norm_w, eps)
            y = attention(cfg, W, p + "self_attn.", x, positions) if sub == "attn" else ffn(cfg, W, p + "mlp.", x, l)
            if kind == "residual":
                h = h + y
            else:
                X = np.stack([coeffs[t][2] @ X[t] + coeffs[t][1][:, None] * y[t][None, :] for t in range(T)])
    if kind != "residual":
        fn, base, scale = W["model.hc_head.fn"], W["model.hc_head.base"], W["model.hc_head.scale"]
        rows = []
        for t in range(T):
            v = X[t].reshape(-1)
            z = (fn @ v) / math.sqrt(np.mean(v * v) + eps)
            w = sigmoid(z * scale[0] + base) + cfg.get("hc_eps", 1e-6)
            rows.append(w @ X[t])
        h = np.stack(rows)
    h = rmsnorm(h, W["model.norm.weight"], eps)
    head = W.get("lm_head.weight")
    if head is None:
        head = W["model.embed_tokens.weight"]
    return h @ head.T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    with open(os.path.join(a.model_dir, "config.json")) as f:
        cfg = json.load(f)
    W = read_weights(a.model_dir)
    tokens = [int(t) for t in a.tokens.split(",")]
    logits = forward(cfg, W, tokens)
    with open(a.out, "w") as f:
        json.dump({"tokens": tokens, "vocab": int(logits.shape[1]), "logits": logits.tolist()}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
