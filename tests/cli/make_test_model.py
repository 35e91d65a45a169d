#!/usr/bin/env python3
"""Writes checkpoints for the `latent` CLI tests, with numpy + json only (no torch).

  make_test_model.py tiny OUT     a tiny DeepseekV2ForCausalLM (MLA without q_lora_rank, 1 dense + 1 MoE
                                  layer, random F32 weights, seed 0) in the HF layout, with a byte-level
                                  BPE tokenizer.json, tokenizer_config.json (BOS/EOS, chat template).
  make_test_model.py tiny-real TOKDIR OUT   the same tiny model sized for the real tokenizer in TOKDIR
                                  (tokenizer.json + tokenizer_config.json are copied next to it).
  make_test_model.py tiny-fp8 OUT the tiny model with every *_proj.weight stored as DeepSeek-V3 stores it:
                                  F8_E4M3 with F32 128x128 block scales (`_scale_inv`, amax / 448), in
                                  OUT/fp8; and in OUT/bf16 the same model with those weights dequantized
                                  here (numpy: E4M3 by its definition, x scale in fp32, BF16 round to
                                  nearest even): what a loader must make of OUT/fp8, bit for bit.
  make_test_model.py v2lite OUT   DeepSeek-V2-Lite's config.json and every tensor header at its real
                                  shape and dtype (bf16), the data left as a sparse all-zero region, so
                                  `latent info` can be checked against the published figures without
                                  31 GB of disk.
"""
import json
import os
import struct
import sys

import numpy as np


def write_safetensors(path, tensors, sparse=False):
    """tensors: list of (name, dtype_str, shape, ndarray or None). Offsets tile the data exactly."""
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    sizes = {"F32": 4, "BF16": 2, "F8_E4M3": 1}
    for name, dtype, shape, _ in tensors:
        n = int(np.prod(shape)) * sizes[dtype]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * ((8 - len(blob) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        if sparse:
            f.truncate(8 + len(blob) + offset)
            return
        for _, dtype, shape, arr in tensors:
            kind = {"F32": "<f4", "BF16": "<u2", "F8_E4M3": "u1"}[dtype]  # BF16 / F8: raw bit patterns
            f.write(np.ascontiguousarray(arr, dtype=kind).tobytes())


def layer_tensors(cfg, i, dense, make):
    """HF names and shapes of one decoder layer (q_lora_rank null)."""
    D, H = cfg["hidden_size"], cfg["num_attention_heads"]
    dn, dr, dv, r = cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"], cfg["v_head_dim"], cfg["kv_lora_rank"]
    p = f"model.layers.{i}."
    out = [
        (p + "input_layernorm.weight", [D], "norm"),
        (p + "self_attn.q_proj.weight", [H * (dn + dr), D], "w"),
        (p + "self_attn.kv_a_proj_with_mqa.weight", [r + dr, D], "w"),
        (p + "self_attn.kv_a_layernorm.weight", [r], "norm"),
        (p + "self_attn.kv_b_proj.weight", [H * (dn + dv), r], "w"),
        (p + "self_attn.o_proj.weight", [D, H * dv], "w"),
        (p + "post_attention_layernorm.weight", [D], "norm"),
    ]
    if dense:
        I = cfg["intermediate_size"]
        out += [(p + "mlp.gate_proj.weight", [I, D], "w"), (p + "mlp.up_proj.weight", [I, D], "w"),
                (p + "mlp.down_proj.weight", [D, I], "w")]
    else:
        E, Im, S = cfg["n_routed_experts"], cfg["moe_intermediate_size"], cfg["n_shared_experts"]
        out.append((p + "mlp.gate.weight", [E, D], "w"))
        for e in range(E):
            q = p + f"mlp.experts.{e}."
            out += [(q + "gate_proj.weight", [Im, D], "w"), (q + "up_proj.weight", [Im, D], "w"),
                    (q + "down_proj.weight", [D, Im], "w")]
        q = p + "mlp.shared_experts."
        out += [(q + "gate_proj.weight", [Im * S, D], "w"), (q + "up_proj.weight", [Im * S, D], "w"),
                (q + "down_proj.weight", [D, Im * S], "w")]
    return out


def all_tensors(cfg):
    D, V = cfg["hidden_size"], cfg["vocab_size"]
    names = [("model.embed_tokens.weight", [V, D], "emb")]
    for i in range(cfg["num_hidden_layers"]):
        names += layer_tensors(cfg, i, i < cfg["first_k_dense_replace"], None)
    names += [("model.norm.weight", [D], "norm"), ("lm_head.weight", [V, D], "w")]
    return names


def bytes_to_unicode():
    """GPT-2's byte -> printable character table used by ByteLevel BPE."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def write_tokenizer(out):
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("e", "r"), ("o", "n"), ("Ġ", "s"),
              ("l", "l"), ("Ġ", "w")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    specials = ["<|bos|>", "<|eos|>", "<|user|>", "<|assistant|>", "<|system|>"]
    added = []
    for s in specials:
        added.append({"id": len(vocab), "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": True})
        vocab[s] = len(vocab)
    tok = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]},
    }
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)
    template = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
                "{% if add_generation_prompt %}<|assistant|>{% endif %}")
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": "<|bos|>", "eos_token": "<|eos|>", "add_bos_token": True, "add_eos_token": False,
                   "model_max_length": 512, "chat_template": template}, f, indent=1)
    return len(vocab)


def copy_tokenizer(tokdir, out):
    """Copies a real tokenizer; returns the vocabulary size the model needs (largest id + 1)."""
    import shutil
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(tokdir, name), os.path.join(out, name))
    tok = json.load(open(os.path.join(tokdir, "tokenizer.json"), encoding="utf-8"))
    ids = list(tok["model"]["vocab"].values()) + [t["id"] for t in tok.get("added_tokens", [])]
    cfg = json.load(open(os.path.join(tokdir, "tokenizer_config.json"), encoding="utf-8"))
    by_text = {t["content"]: t["id"] for t in tok.get("added_tokens", [])}
    by_text.update(tok["model"]["vocab"])

    def special_id(key):
        v = cfg.get(key)
        v = v.get("content") if isinstance(v, dict) else v
        return by_text.get(v) if v else None
    return max(ids) + 1, special_id("bos_token"), special_id("eos_token")


def e4m3_values():
    """The 256 E4M3 "fn" values by code, from the format's definition (bias 7, S.1111.111 = NaN)."""
    v = np.empty(256, dtype=np.float64)
    for c in range(256):
        e, m = (c >> 3) & 15, c & 7
        mag = np.nan if (e == 15 and m == 7) else (m / 8 * 2.0 ** -6 if e == 0 else (1 + m / 8) * 2.0 ** (e - 7))
        v[c] = -mag if c & 128 else mag
    return v


def to_bf16_bits(x):
    """float32 array -> BF16 bit patterns, round to nearest even (finite inputs)."""
    b = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint16)


def quantize_fp8(w):
    """w [R, C] float32 -> (codes uint8 [R, C], scale_inv float32 [ceil(R/128), ceil(C/128)])."""
    vals = e4m3_values()[:127]  # the non-negative finite values, ascending with the code
    R, C = w.shape
    br, bc = -(-R // 128), -(-C // 128)
    codes, scale = np.zeros((R, C), dtype=np.uint8), np.zeros((br, bc), dtype=np.float32)
    for i in range(br):
        for j in range(bc):
            blk = w[i * 128:(i + 1) * 128, j * 128:(j + 1) * 128]
            s = np.float32(np.abs(blk).max() / 448.0) or np.float32(1.0)
            scale[i, j] = s
            a = np.minimum(np.abs(blk) / s, 448.0)
            k = np.clip(np.searchsorted(vals, a), 1, 126)
            k = np.where(np.abs(vals[k - 1] - a) <= np.abs(vals[k] - a), k - 1, k)
            codes[i * 128:(i + 1) * 128, j * 128:(j + 1) * 128] = k | np.where(blk < 0, 128, 0)
    return codes, scale


def dequantize_fp8(codes, scale):
    """BF16 bits of e4m3(code) x its block scale, the product in float32 as a loader computes it."""
    vals = e4m3_values().astype(np.float32)[codes]
    full = np.repeat(np.repeat(scale, 128, axis=0), 128, axis=1)[:codes.shape[0], :codes.shape[1]]
    return to_bf16_bits(vals * full)


def tiny_fp8(out):
    tiny(os.path.join(out, "fp8"))
    tiny(os.path.join(out, "bf16"))
    rng = np.random.default_rng(0)
    fp8, bf16 = [], []
    cfg = json.load(open(os.path.join(out, "fp8", "config.json")))
    for name, shape, kind in all_tensors(cfg):  # the same draws as tiny()
        if kind == "norm":
            arr = (1.0 + 0.05 * rng.standard_normal(shape)).astype(np.float32)
        elif kind == "emb":
            arr = rng.standard_normal(shape).astype(np.float32)
        else:
            arr = (rng.standard_normal(shape) / np.sqrt(shape[-1])).astype(np.float32)
        if name.endswith("_proj.weight"):
            codes, scale = quantize_fp8(arr)
            fp8 += [(name, "F8_E4M3", shape, codes), (name + "_scale_inv", "F32", list(scale.shape), scale)]
            bf16.append((name, "BF16", shape, dequantize_fp8(codes, scale)))
        else:
            fp8.append((name, "F32", shape, arr))
            bf16.append((name, "F32", shape, arr))
    write_safetensors(os.path.join(out, "fp8", "model.safetensors"), fp8)
    write_safetensors(os.path.join(out, "bf16", "model.safetensors"), bf16)


def tiny(out, tokdir=None):
    os.makedirs(out, exist_ok=True)
    if tokdir:
        n_vocab, bos, eos = copy_tokenizer(tokdir, out)
    else:
        n_vocab = write_tokenizer(out)
        bos, eos = n_vocab - 5, n_vocab - 4
    cfg = {
        "architectures": ["DeepseekV2ForCausalLM"], "model_type": "deepseek_v2", "vocab_size": n_vocab,
        "hidden_size": 32, "intermediate_size": 48, "moe_intermediate_size": 16, "num_hidden_layers": 2,
        "num_attention_heads": 2, "num_key_value_heads": 2, "q_lora_rank": None, "kv_lora_rank": 16,
        "qk_nope_head_dim": 8, "qk_rope_head_dim": 8, "v_head_dim": 8, "n_shared_experts": 1,
        "n_routed_experts": 4, "num_experts_per_tok": 2, "routed_scaling_factor": 1.0, "topk_method": "greedy",
        "n_group": 1, "topk_group": 1, "scoring_func": "softmax", "norm_topk_prob": False,
        "first_k_dense_replace": 1, "moe_layer_freq": 1, "rope_theta": 10000.0, "rope_scaling": None,
        "max_position_embeddings": 512, "rms_norm_eps": 1e-6, "tie_word_embeddings": False,
        "attention_bias": False, "hidden_act": "silu", "bos_token_id": bos, "eos_token_id": eos,
        "aux_loss_alpha": 0.001, "seq_aux": True, "torch_dtype": "float32",
    }
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    rng = np.random.default_rng(0)
    tensors = []
    for name, shape, kind in all_tensors(cfg):
        if kind == "norm":
            arr = 1.0 + 0.05 * rng.standard_normal(shape)
        elif kind == "emb":
            arr = rng.standard_normal(shape)
        else:
            arr = rng.standard_normal(shape) / np.sqrt(shape[-1])
        tensors.append((name, "F32", shape, arr.astype(np.float32)))
    write_safetensors(os.path.join(out, "model.safetensors"), tensors)


def v2lite(out):
    os.makedirs(out, exist_ok=True)
    cfg = {
        "architectures": ["DeepseekV2ForCausalLM"], "model_type": "deepseek_v2", "vocab_size": 102400,
        "hidden_size": 2048, "intermediate_size": 10944, "moe_intermediate_size": 1408, "num_hidden_layers": 27,
        "num_attention_heads": 16, "num_key_value_heads": 16, "q_lora_rank": None, "kv_lora_rank": 512,
        "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128, "n_shared_experts": 2,
        "n_routed_experts": 64, "num_experts_per_tok": 6, "routed_scaling_factor": 1.0, "topk_method": "greedy",
        "n_group": 1, "topk_group": 1, "scoring_func": "softmax", "norm_topk_prob": False,
        "first_k_dense_replace": 1, "moe_layer_freq": 1, "rope_theta": 10000,
        "rope_scaling": {"type": "yarn", "factor": 40, "original_max_position_embeddings": 4096, "beta_fast": 32,
                         "beta_slow": 1, "mscale": 0.707, "mscale_all_dim": 0.707},
        "max_position_embeddings": 163840, "rms_norm_eps": 1e-6, "tie_word_embeddings": False,
        "attention_bias": False, "hidden_act": "silu", "bos_token_id": 100000, "eos_token_id": 100001,
        "aux_loss_alpha": 0.001, "seq_aux": True, "torch_dtype": "bfloat16",
    }
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    tensors = [(n, "BF16", s, None) for n, s, _ in all_tensors(cfg)]
    write_safetensors(os.path.join(out, "model.safetensors"), tensors, sparse=True)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "tiny-real":
        if not os.path.exists(os.path.join(sys.argv[2], "tokenizer.json")):
            print(f"{sys.argv[2]}/tokenizer.json is not installed (scripts/fetch-test-fixtures.sh); not written")
            sys.exit(0)
        tiny(sys.argv[3], sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] in ("tiny", "tiny-fp8", "v2lite"):
        {"tiny": tiny, "tiny-fp8": tiny_fp8, "v2lite": v2lite}[sys.argv[1]](sys.argv[2])
    else:
        sys.exit(__doc__)
