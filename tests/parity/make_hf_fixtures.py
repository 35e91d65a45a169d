#!/usr/bin/env python3
"""make_hf_fixtures.py — build tiny random DeepSeek-V2 / DeepSeek-V3 models with Hugging Face transformers,
save them in HF layout (config.json + model.safetensors, fp32) together with their fp32 logits on a fixed
token sequence and the transformers / torch versions, into tests/data/parity/<name>/.

Run on a machine with PyTorch + transformers (CPU is enough):
    python3 tests/parity/make_hf_fixtures.py [--out DIR]   # default DIR: tests/data/parity
It writes DIR/{deepseek_v2_tiny,deepseek_v3_tiny,glm4_moe_lite_tiny}; the last only where transformers has
Glm4MoeLite. scripts/device-check/run.sh runs it on the device machine.
The C++ test tests/engine/model/test_hf_parity.cpp loads each folder and matches logits <= 1e-4 max-abs.

Fixtures:
  deepseek_v2_tiny  DeepseekV2ForCausalLM, q_lora_rank null, YaRN (mscale = mscale_all_dim = 0.707), softmax/greedy
  deepseek_v3_tiny  DeepseekV3ForCausalLM, q_lora_rank set, YaRN (1.0/1.0), sigmoid/noaux_tc, 2 groups, bias
  glm4_moe_lite_tiny Glm4MoeLiteForCausalLM (GLM-4.7-Flash layout): v_head_dim 24 != qk_nope_head_dim 16,
                    q_lora_rank set, mlp_layer_types [dense, sparse, sparse], no rope scaling
Conventions pinned here (see README "Which reference we match"):
  * softmax scale d_qk^-0.5 * m^2 (transformers after PR #47435, DeepSeek remote code, model.py, llama.cpp).
    On an older transformers whose DeepseekV2Attention lacks m^2, this script sets attn.scaling to the m^2
    value and records "patched_softmax_scale": true in logits.json.
  * experts saved under the per-expert names (transformers v5 fuses them in memory; unfused here).
  * moe_intermediate_size 24 so that 2·I (48) != hidden_size (64): the unfusing below tells the
    [E, 2I, D] layout from [E, D, 2I] by shape, which would be ambiguous if 2·I == D.
"""
import argparse
import inspect
import json
import math
import os
import sys

import torch

import transformers
from safetensors.torch import save_file

TOKENS = [3, 17, 42, 7, 99, 0, 64, 23, 5, 88, 31, 12]
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "parity")  # --out overrides

COMMON = dict(
    vocab_size=128, hidden_size=64, intermediate_size=96, moe_intermediate_size=24, num_hidden_layers=3,
    num_attention_heads=4, num_key_value_heads=4, kv_lora_rank=32, qk_nope_head_dim=16, qk_rope_head_dim=8,
    v_head_dim=16, n_shared_experts=1, n_routed_experts=8, num_experts_per_tok=2, first_k_dense_replace=1,
    max_position_embeddings=512, rms_norm_eps=1e-6, tie_word_embeddings=False, attention_bias=False,
    hidden_act="silu", bos_token_id=0, eos_token_id=1, rope_theta=10000.0,
)


def yarn(mscale):
    return dict(factor=4.0, original_max_position_embeddings=64, beta_fast=32.0, beta_slow=1.0,
                mscale=mscale, mscale_all_dim=mscale)


def make_config(cls, fields, rope, strict=False):
    """Build cls(**fields) with YaRN (rope: dict, or None for plain RoPE) given as rope_scaling (v4) or
    rope_parameters (v5). strict: pass only the class's own parameters, never extra attributes."""
    params = inspect.signature(cls.__init__).parameters
    kw = dict(fields)
    if "rope_parameters" in params or hasattr(cls, "rope_parameters"):
        extra = dict(rope_type="yarn", **rope) if rope else dict(rope_type="default")
        kw["rope_parameters"] = dict(rope_theta=kw.pop("rope_theta"), **extra)
    elif rope:
        kw["rope_scaling"] = dict(type="yarn", **rope)
    accepts_any = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params.values())
    if strict or not accepts_any:
        kw = {k: v for k, v in kw.items() if k in params}
    return cls(**kw)


def randomize(model, seed):
    """HF init (std 0.02) gives near-zero logits; use O(1) activations so the comparison means something."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p.shape[-1]
                std = 1.0 if "embed_tokens" in name else 1.0 / math.sqrt(fan_in)
                if name.endswith("mlp.gate.weight"):
                    std = 0.5
                p.copy_(std * torch.randn(p.shape, generator=g))
        for name, b in model.named_buffers():
            if name.endswith("e_score_correction_bias"):
                b.copy_(0.1 * torch.randn(b.shape, generator=g))


def expected_scale(cfg):
    d_qk = cfg.qk_nope_head_dim + cfg.qk_rope_head_dim
    rs = getattr(cfg, "rope_scaling", None) or getattr(cfg, "rope_parameters", None) or {}
    m = 1.0
    if rs.get("mscale_all_dim"):
        m = 0.1 * rs["mscale_all_dim"] * math.log(rs["factor"]) + 1.0
    return d_qk ** -0.5 * m * m


def pin_softmax_scale(model):
    want = expected_scale(model.config)
    patched = False
    for layer in model.model.layers:
        attn = layer.self_attn
        if hasattr(attn, "scaling") and abs(float(attn.scaling) - want) > 1e-9 * want:
            attn.scaling = want
            patched = True
        elif not hasattr(attn, "scaling"):
            attn.softmax_scale = want
    return patched


def hf_layout_state_dict(model, cfg):
    """state_dict with per-expert names (unfuses transformers v5's experts.gate_up_proj / down_proj)."""
    sd = {}
    I, D = cfg.moe_intermediate_size, cfg.hidden_size
    for k, v in model.state_dict().items():
        if "rotary_emb" in k:
            continue
        if k.endswith("mlp.experts.gate_up_proj"):
            pre = k[: -len("gate_up_proj")]
            w = v if v.shape[1] == 2 * I else v.transpose(1, 2)  # -> [E, 2I, D]
            for e in range(w.shape[0]):
                sd[pre + "%d.gate_proj.weight" % e] = w[e, :I].clone()
                sd[pre + "%d.up_proj.weight" % e] = w[e, I:].clone()
            continue
        if k.endswith("mlp.experts.down_proj"):
            pre = k[: -len("down_proj")]
            w = v if v.shape[1] == D else v.transpose(1, 2)  # -> [E, D, I]
            for e in range(w.shape[0]):
                sd[pre + "%d.down_proj.weight" % e] = w[e].clone()
            continue
        sd[k] = v.detach().clone().contiguous()
    return sd


def build(name, cls_cfg, cls_model, fields, rope, seed, strict=False):
    cfg = make_config(cls_cfg, fields, rope, strict)
    cfg._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = cls_model(cfg).to(torch.float32).eval()
    randomize(model, seed)
    patched = pin_softmax_scale(model)
    with torch.no_grad():
        logits = model(torch.tensor([TOKENS])).logits[0].to(torch.float32)

    out = os.path.join(OUT, name)
    os.makedirs(out, exist_ok=True)
    save_file(hf_layout_state_dict(model, cfg), os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    cfg.architectures = [cls_model.__name__]
    cfg_dict = json.loads(cfg.to_json_string(use_diff=False))
    cfg_dict.update(fields.get("_extra_json", {}))
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg_dict, f, indent=2)
    with open(os.path.join(out, "logits.json"), "w") as f:
        json.dump({"transformers_version": transformers.__version__, "torch_version": torch.__version__,
                   "model": cls_model.__name__, "patched_softmax_scale": patched, "tokens": TOKENS,
                   "vocab": int(logits.shape[1]), "logits": logits.tolist()}, f)
    print("%s: wrote %s (transformers %s, softmax scale patched: %s)" % (name, out, transformers.__version__, patched))


def main():
    global OUT
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=OUT, help="output folder (default: tests/data/parity)")
    OUT = ap.parse_args().out
    from transformers import DeepseekV2Config, DeepseekV2ForCausalLM, DeepseekV3Config, DeepseekV3ForCausalLM

    v2 = dict(COMMON, q_lora_rank=None, topk_method="greedy", n_group=1, topk_group=1, norm_topk_prob=False,
              routed_scaling_factor=1.0, scoring_func="softmax")
    build("deepseek_v2_tiny", DeepseekV2Config, DeepseekV2ForCausalLM, v2, yarn(0.707), 1)
    v3 = dict(COMMON, q_lora_rank=24, n_group=2, topk_group=1, norm_topk_prob=True, routed_scaling_factor=2.5,
              rope_interleave=True, topk_method="noaux_tc", scoring_func="sigmoid")
    build("deepseek_v3_tiny", DeepseekV3Config, DeepseekV3ForCausalLM, v3, yarn(1.0), 2)
    try:
        from transformers import Glm4MoeLiteConfig, Glm4MoeLiteForCausalLM
    except ImportError:
        print("glm4_moe_lite_tiny: skipped, transformers %s has no Glm4MoeLite" % transformers.__version__)
        return 0
    glm = {k: v for k, v in COMMON.items() if k != "first_k_dense_replace"}
    glm.update(q_lora_rank=24, v_head_dim=24, n_group=1, topk_group=1, norm_topk_prob=True,
               routed_scaling_factor=1.8, rope_interleave=True, mlp_layer_types=["dense", "sparse", "sparse"])
    build("glm4_moe_lite_tiny", Glm4MoeLiteConfig, Glm4MoeLiteForCausalLM, glm, None, 3, strict=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
