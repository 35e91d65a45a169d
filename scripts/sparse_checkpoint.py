#!/usr/bin/env python3
"""Writes a *sparse* model.safetensors for a DeepSeek-V2/V3 config.json: a valid header naming every tensor
of the Hugging Face layout (deepseek-arch.md §5) in bf16, and a data section that is a hole in the file
(no disk space used). `latent info` reads only headers, so this gives its memory figures for models too
large to download — the README's table of real checkpoints is made this way.

Usage: sparse_checkpoint.py MODEL_DIR   (MODEL_DIR holds config.json; model.safetensors is written beside it)
"""
import json
import os
import struct
import sys


def tensors(c):
    D, V, L, H = c["hidden_size"], c["vocab_size"], c["num_hidden_layers"], c["num_attention_heads"]
    dn, dr, dv, rkv = c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"], c["kv_lora_rank"]
    rq = c.get("q_lora_rank")
    out = [("model.embed_tokens.weight", [V, D]), ("model.norm.weight", [D]), ("lm_head.weight", [V, D])]
    for l in range(L):
        p = f"model.layers.{l}."
        out += [(p + "input_layernorm.weight", [D]), (p + "post_attention_layernorm.weight", [D])]
        a = p + "self_attn."
        if rq:
            out += [(a + "q_a_proj.weight", [rq, D]), (a + "q_a_layernorm.weight", [rq]),
                    (a + "q_b_proj.weight", [H * (dn + dr), rq])]
        else:
            out += [(a + "q_proj.weight", [H * (dn + dr), D])]
        out += [(a + "kv_a_proj_with_mqa.weight", [rkv + dr, D]), (a + "kv_a_layernorm.weight", [rkv]),
                (a + "kv_b_proj.weight", [H * (dn + dv), rkv]), (a + "o_proj.weight", [D, H * dv])]
        m = p + "mlp."
        moe = c.get("n_routed_experts") and l >= c.get("first_k_dense_replace", 0) and l % c.get("moe_layer_freq", 1) == 0
        if not moe:
            I = c["intermediate_size"]
            out += [(m + "gate_proj.weight", [I, D]), (m + "up_proj.weight", [I, D]), (m + "down_proj.weight", [D, I])]
            continue
        E, I = c["n_routed_experts"], c["moe_intermediate_size"]
        out += [(m + "gate.weight", [E, D])]
        if c.get("topk_method") == "noaux_tc":
            out += [(m + "gate.e_score_correction_bias", [E])]
        for e in range(E):
            q = f"{m}experts.{e}."
            out += [(q + "gate_proj.weight", [I, D]), (q + "up_proj.weight", [I, D]), (q + "down_proj.weight", [D, I])]
        S = c.get("n_shared_experts", 0) * I
        if S:
            out += [(m + "shared_experts.gate_proj.weight", [S, D]), (m + "shared_experts.up_proj.weight", [S, D]),
                    (m + "shared_experts.down_proj.weight", [D, S])]
    return out


def main():
    d = sys.argv[1]
    c = json.load(open(os.path.join(d, "config.json")))
    header, off = {}, 0
    for name, shape in tensors(c):
        n = 1
        for s in shape:
            n *= s
        dt, size = ("F32", 4) if name.endswith("e_score_correction_bias") else ("BF16", 2)
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + n * size]}
        off += n * size
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    path = os.path.join(d, "model.safetensors")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        f.truncate(8 + len(h) + off)  # the data is a hole: sparse, no disk blocks
    print(f"{path}: {len(header)} tensors, {off / 1e9:.1f} GB apparent size (sparse)")


if __name__ == "__main__":
    main()
