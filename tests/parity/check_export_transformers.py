#!/usr/bin/env python3
"""check_export_transformers.py — does a model exported by `latent export` (no mHC: DeepseekV3ForCausalLM)
load in Hugging Face transformers and give the logits our engine gives?

    python3 tests/parity/check_export_transformers.py MODEL_DIR LOGITS_BIN [--prompt TEXT] [--tol 1e-4]

MODEL_DIR   the exported folder (config.json, model.safetensors, tokenizer.json, ...)
LOGITS_BIN  `latent generate MODEL_DIR -p TEXT --logits-out LOGITS_BIN` output: raw little-endian fp32
            [steps, vocab]; LOGITS_BIN.json (the sidecar) holds prompt_tokens and tokens (generated ids).
            Row i holds the logits generated token i was sampled from, i.e. the logits at position
            len(prompt_tokens) - 1 + i of the sequence prompt_tokens + tokens.
--prompt    the prompt text given to `latent generate`: also checks that transformers' tokenizer, loaded
            from MODEL_DIR, encodes it to the same ids.

Prints one line per check and exits 0 only when every check passes. Needs PyTorch + transformers
(scripts/device-check/run.sh runs it on the device machine, which has both).
"""
import argparse
import json
import sys

import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("logits_bin")
    ap.add_argument("--prompt", default=None)
    ap.add_argument("--tol", type=float, default=1e-4, help="max |ours - transformers| over all logits")
    a = ap.parse_args()

    with open(a.logits_bin + ".json") as f:
        side = json.load(f)
    prompt_ids, gen_ids = list(side["prompt_tokens"]), list(side["tokens"])
    ours = np.fromfile(a.logits_bin, dtype="<f4")
    steps = len(gen_ids)
    if steps == 0 or ours.size % steps != 0:
        print("FAIL %s: %d floats do not make %d rows" % (a.logits_bin, ours.size, steps))
        return 1
    ours = ours.reshape(steps, -1)
    print("transformers %s, torch %s; %s: %d prompt + %d generated tokens, vocab %d"
          % (transformers.__version__, torch.__version__, a.model_dir, len(prompt_ids), steps, ours.shape[1]))

    ok = True
    try:  # transformers >= 4.56 names it dtype; older ones torch_dtype
        model = AutoModelForCausalLM.from_pretrained(a.model_dir, dtype=torch.float32)
    except TypeError:
        model = AutoModelForCausalLM.from_pretrained(a.model_dir, torch_dtype=torch.float32)
    model = model.to(torch.float32).eval()
    print("loaded as %s" % type(model).__name__)
    seq = prompt_ids + gen_ids[:-1]
    with torch.no_grad():
        ref = model(torch.tensor([seq])).logits[0].to(torch.float64).numpy()
    ref = ref[len(prompt_ids) - 1:]
    if ref.shape != ours.shape:
        print("FAIL logits shape: transformers %s, ours %s" % (ref.shape, ours.shape))
        return 1
    err = float(np.max(np.abs(ref - ours.astype(np.float64))))
    scale = float(np.max(np.abs(ref)))
    same_argmax = bool(np.all(ref.argmax(axis=1) == ours.argmax(axis=1)))
    good = err <= a.tol
    ok &= good
    print("%s logits: max |ours - transformers| = %.3g (tolerance %.1g; max |logit| %.3g); argmax agrees: %s"
          % ("PASS" if good else "FAIL", err, a.tol, scale, same_argmax))

    if a.prompt is not None:
        try:
            tok = transformers.AutoTokenizer.from_pretrained(a.model_dir)
            ids = tok(a.prompt, add_special_tokens=False)["input_ids"]
            # Our prompt may start with BOS (tokenizer_config add_bos_token): compare the text's ids.
            body = prompt_ids[len(prompt_ids) - len(ids):] if len(ids) <= len(prompt_ids) else prompt_ids
            good = ids == body
            print("%s tokenizer: transformers %s ids %s; ours %s"
                  % ("PASS" if good else "FAIL", type(tok).__name__, ids, prompt_ids))
            ok &= good
        except Exception as e:  # report, do not hide: a tokenizer that does not load is a finding
            print("FAIL tokenizer: %s: %s" % (type(e).__name__, e))
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
