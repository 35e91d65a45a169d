#!/usr/bin/env python3
"""End-to-end checks of the `latent` CLI on the checkpoints make_test_model.py writes.

  cli_test.py --latent PATH --models DIR CASE     (DIR holds tiny/ and v2lite/; CASE as in CASES below)
Each case runs the binary, checks its output, and exits non-zero with a message on the first failure.
"""
import argparse
import json
import math
import os
import re
import struct
import subprocess
import sys
import tempfile

import numpy as np


def run(args, stdin=None, expect_rc=0):
    p = subprocess.run([LATENT] + args, input=stdin, capture_output=True, timeout=300)
    out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    if expect_rc == "nonzero":
        check(p.returncode != 0, f"expected a failure from {args}, got rc 0\n{out}\n{err}")
    else:
        check(p.returncode == expect_rc, f"{args}: rc {p.returncode}, expected {expect_rc}\nstdout:\n{out}\nstderr:\n{err}")
    return p.stdout, out, err


def check(cond, msg):
    if not cond:
        print("FAIL:", msg)
        sys.exit(1)


def case_info_v2lite():
    _, out, _ = run(["info", V2LITE])
    # deepseek-arch.md §2: V2-Lite MLA 27*576*2 = 31,104 B/token in bf16, MHA 27*2*16*128*2 = 221,184 B.
    for s in ["31,104", "221,184", "62,208", "442,368", "7.11x", "15,706,484,224", "MLA"]:
        check(s in out, f"info output lacks {s!r}:\n{out}")
    check("as stored by us (F32 cache)" in out and "bf16" in out, "info does not label the F32 and bf16 columns")
    _, js, _ = run(["info", V2LITE, "--json"])
    j = json.loads(js)
    check(j["kv_bytes_per_token_bf16"] == 31104 and j["mha_kv_bytes_per_token_bf16"] == 221184, f"json: {j}")
    # active = everything but 58 of 64 routed experts in the 26 MoE layers
    expert = 3 * 2048 * 1408
    check(j["active_params"] == j["total_params"] - 26 * 58 * expert, f"active params {j['active_params']}")


def case_info_tiny():
    _, out, _ = run(["info", TINY])
    check("DeepseekV2ForCausalLM" in out and "parameters" in out, out)
    # kv_lora_rank 16 + rope 8 = 24 values x 2 layers x 4 bytes = 192 B (F32); MHA 2*2*2*8*4 = 256 B
    check(re.search(r"MLA latent.*\b192 B\s+96 B", out), f"tiny MLA bytes wrong:\n{out}")
    check(re.search(r"MHA-equivalent.*\b256 B\s+128 B", out), f"tiny MHA bytes wrong:\n{out}")


def case_fp8():
    """A DeepSeek-V3-style FP8 checkpoint (make_test_model.py tiny-fp8): `info` reports the F8_E4M3
    parameters and the memory they take once loaded (BF16), and generation gives logits identical, bit for
    bit, to the same model whose weights numpy dequantized (the loader's dequantization vs an independent one)."""
    fp8, bf16 = os.path.join(FP8, "fp8"), os.path.join(FP8, "bf16")
    _, js, _ = run(["info", fp8, "--json"])
    j = json.loads(js)
    f8 = j["params_by_dtype"].get("F8_E4M3", 0)
    check(f8 > 0, f"no F8_E4M3 parameters reported: {j['params_by_dtype']}")
    check(j["weight_bytes"] == 2 * f8 + 4 * j["params_by_dtype"]["F32"], f"weight bytes {j['weight_bytes']}")
    with tempfile.TemporaryDirectory() as d:
        files = []
        for m in (fp8, bf16):
            path = os.path.join(d, os.path.basename(m) + ".bin")
            run(["generate", m, "-p", "the cat sat", "-n", "6", "--temp", "0", "--ignore-eos", "--logits-out", path])
            files.append(open(path, "rb").read())
        check(len(files[0]) > 0 and files[0] == files[1], "FP8 and numpy-dequantized BF16 logits differ")


def case_generate_greedy():
    args = ["generate", TINY, "-p", "the cat sat on the mat", "-n", "12", "--temp", "0", "--ignore-eos"]
    raw1, _, err1 = run(args)
    raw2, _, _ = run(args)
    check(raw1 == raw2, "greedy generation is not deterministic")
    check("12 generated" in err1 and "stop: max_tokens" in err1, f"expected 12 tokens to max_tokens: {err1}")


def case_generate_logits():
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "logits.bin")
        run(["generate", TINY, "-p", "the dog", "-n", "7", "--temp", "0", "--ignore-eos", "--logits-out", path])
        meta = json.load(open(path + ".json"))
        vocab = json.load(open(os.path.join(TINY, "config.json")))["vocab_size"]
        check(meta["shape"] == [7, vocab], f"sidecar shape {meta['shape']}, expected [7, {vocab}]")
        check(meta["dtype"] == "f32" and meta["endianness"] == "little", str(meta))
        check(os.path.getsize(path) == 7 * vocab * 4, f"logits file is {os.path.getsize(path)} bytes")
        rows = np.fromfile(path, dtype="<f4").reshape(7, vocab)
        check(np.all(np.isfinite(rows)), "non-finite logits")
        # greedy: each generated token is the argmax of the row it was sampled from
        check(list(np.argmax(rows, axis=1)) == meta["tokens"], f"argmax {np.argmax(rows, axis=1)} vs {meta['tokens']}")


def case_generate_chat_and_sampling():
    _, _, err = run(["generate", TINY, "-p", "the cat", "--chat", "--system", "be brief", "-n", "5", "--temp", "0.8",
                     "--top-k", "20", "--top-p", "0.9", "--min-p", "0.01", "--repeat-penalty", "1.1", "--seed", "7"])
    check("generated" in err, err)
    a, _, _ = run(["generate", TINY, "-p", "in the sun", "-n", "10", "--temp", "1.0", "--seed", "5", "--ignore-eos"])
    b, _, _ = run(["generate", TINY, "-p", "in the sun", "-n", "10", "--temp", "1.0", "--seed", "5", "--ignore-eos"])
    check(a == b, "same seed gave different text")


def case_generate_stop_string():
    # whatever greedy produces, a stop string taken from its middle must cut the output before it
    raw, _, _ = run(["generate", TINY, "-p", "the cat", "-n", "16", "--temp", "0", "--ignore-eos"])
    text = raw.rstrip(b"\n").decode("utf-8", "replace")
    cut = next((i for i in range(2, len(text) - 1) if text[i].isprintable() and text[i] not in " \ufffd"), None)
    if cut is None:
        return  # nothing printable to use as a stop string: the fake-free path is covered by gen tests
    stop = text[cut]
    first = text.index(stop)
    raw2, _, err = run(["generate", TINY, "-p", "the cat", "-n", "16", "--temp", "0", "--ignore-eos", "--stop", stop])
    out2 = raw2.rstrip(b"\n").decode("utf-8", "replace")
    check("stop: stop_string" in err, f"expected stop_string: {err}")
    check(out2 == text[:first], f"with --stop {stop!r}: got {out2!r}, expected {text[:first]!r}")


def case_generate_real_tokenizer():
    """The tiny model sized for DeepSeek-V3's real tokenizer (installed by scripts/fetch-test-fixtures.sh)."""
    real = os.path.join(MODELS, "real")
    if not os.path.exists(os.path.join(real, "config.json")):
        print("SKIPPED: the DeepSeek-V3 tokenizer fixture is not installed (scripts/fetch-test-fixtures.sh)")
        sys.exit(77)
    for extra in (["--chat", "--system", "You are terse."], []):
        args = ["generate", real, "-p", "Hello, who are you? Réponds en français.", "-n", "12", "--temp", "0.9",
                "--seed", "1", "--ignore-eos"] + extra
        raw, _, err = run(args)
        raw2, _, _ = run(args)
        check(raw == raw2, "seeded generation with the real tokenizer is not reproducible")
        try:
            text = raw.decode("utf-8")  # strict: the stream never splits a UTF-8 character
        except UnicodeDecodeError as e:
            check(False, f"stdout is not valid UTF-8: {e}")
        check("12 generated" in err, err)
        check(len(text.strip()) > 0, "no text streamed")


def case_perplexity():
    with tempfile.TemporaryDirectory() as d:
        txt = os.path.join(d, "text.txt")
        words = "the cat sat on the mat and the dog ran in the sun".split()
        open(txt, "w").write(" ".join(words[(i * 7) % len(words)] for i in range(120)))
        lpath = os.path.join(d, "ppl.bin")
        _, out, _ = run(["perplexity", TINY, txt, "--ctx", "48", "--logits-out", lpath])
        m = re.search(r"PPL = ([0-9.eE+-]+) \+/- ([0-9.eE+-]+)", out)
        check(m is not None, f"no PPL line:\n{out}")
        ppl, err = float(m.group(1)), float(m.group(2))
        check(math.isfinite(ppl) and ppl > 1 and math.isfinite(err) and err >= 0, f"PPL {ppl} +/- {err}")
        meta = json.load(open(lpath + ".json"))
        n, vocab = meta["shape"]
        rows = np.fromfile(lpath, dtype="<f4").reshape(n, vocab)
        # recompute the mean NLL from the dumped logits and targets: must give the printed PPL
        mx = rows.max(axis=1, keepdims=True)
        logz = (np.log(np.exp(rows - mx).sum(axis=1)) + mx[:, 0]).astype(np.float64)
        nll = logz - rows[np.arange(n), meta["targets"]]
        check(abs(math.exp(nll.mean()) - ppl) <= 1e-3 * ppl, f"PPL from dumped logits {math.exp(nll.mean())} vs {ppl}")
        check(meta["positions"] == list(range(1, n + 1)), "each token after the first must be scored exactly once")
        # The same text over a BF16 KV cache: the latents are rounded to 8 bits, the perplexity barely moves.
        # Per row, the logits stay within ~0.3% of the largest in most rows; a row can differ more where the
        # rounding flips a near-tied top-2 expert choice of this random tiny model, hence the median.
        lpath16 = os.path.join(d, "ppl_bf16.bin")
        _, out16, _ = run(["perplexity", TINY, txt, "--ctx", "48", "--logits-out", lpath16, "--kv-cache", "bf16"])
        ppl16 = float(re.search(r"PPL = ([0-9.eE+-]+)", out16).group(1))
        check(abs(ppl16 - ppl) <= 1e-2 * ppl, f"PPL with a bf16 KV cache {ppl16} vs {ppl} with f32")
        rows16 = np.fromfile(lpath16, dtype="<f4").reshape(n, vocab)
        rel = np.abs(rows16 - rows).max(axis=1) / np.abs(rows).max(axis=1)
        check(np.median(rel) < 5e-3 and rel.max() > 0, f"bf16 vs f32 KV cache: per-row relative diffs {np.sort(rel)}")


def case_eval():
    # Held-out exact match: two conversations, the last message of each the reference answer.
    with tempfile.TemporaryDirectory() as d:
        held = os.path.join(d, "heldout.jsonl")
        with open(held, "w") as f:
            for q, a in [("the cat", "sat"), ("the dog", "ran")]:
                f.write(json.dumps({"messages": [{"role": "user", "content": q},
                                                 {"role": "assistant", "content": a}]}) + "\n")
        for kv in ["f32", "bf16"]:
            res = os.path.join(d, f"results_{kv}.jsonl")
            _, out, _ = run(["eval", TINY, held, "-n", "6", "--kv-cache", kv, "--out", res])
            check(re.search(r"accuracy [0-9.]+ \([0-2]/2 exact match\)", out), out)
            rows = [json.loads(line) for line in open(res)]
            check(len(rows) == 2 and rows[0]["reference"] == "sat" and rows[1]["prompt"] == "the dog"
                  and all(isinstance(r["correct"], bool) for r in rows), f"results: {rows}")
            check(all(isinstance(r["answer"], str) for r in rows), f"results: {rows}")
        with open(held, "a") as f:
            f.write('{"messages": [{"role": "user", "content": "no answer"}]}\n')
        _, _, err = run(["eval", TINY, held], expect_rc="nonzero")
        check(":3:" in err and "assistant" in err, f"a bad line should be named: {err}")


def case_chat():
    script = "the cat\nthe dog\n/reset\nhello\n/exit\n"
    _, out, err = run(["chat", TINY, "-n", "4", "--temp", "0", "--system", "be brief"], stdin=script.encode())
    turns = re.findall(r"prompt (\d+) tokens: (\d+) reused from the cache, (\d+) prefilled", err)
    check(len(turns) == 3, f"expected 3 turns, got {turns}\n{err}")
    check(int(turns[0][1]) == 0, f"first turn reused {turns[0][1]} tokens")
    check(int(turns[1][1]) > 0 and int(turns[1][2]) < int(turns[1][0]), f"second turn reused nothing: {turns[1]}")
    check(int(turns[2][1]) == 0, f"after /reset the cache must be empty: {turns[2]}")
    check("conversation cleared" in err, err)


def case_bench():
    _, out, _ = run(["bench", TINY, "-p", "32", "-n", "16", "--bw-mib", "64"])
    m = re.search(r"decode = ([0-9.]+)% of the memory-bandwidth roofline", out)
    check(m is not None and float(m.group(1)) > 0, out)
    check(re.search(r"prefill\s+32 tokens", out) and re.search(r"decode\s+16 tokens", out), out)
    check(re.search(r"read bandwidth [0-9.]+ GB/s", out), out)
    check(re.search(r"warm-up\s+prefill of the same 32 tokens .*\(cold\): [0-9.]+ s", out), out)
    _, out, _ = run(["bench", TINY, "-p", "8", "-n", "4", "--bw-mib", "16", "--no-warmup", "--kv-cache", "bf16"])
    check("warm-up" not in out and re.search(r"prefill\s+8 tokens", out), out)
    check(re.search(r"bf16 KV \(mean context", out), f"bench should say the KV cache is bf16: {out}")


def case_errors():
    _, _, err = run(["info", "/no/such/model"], expect_rc="nonzero")
    check("/no/such/model" in err, f"error does not name the path: {err}")
    _, _, err = run(["generate", "/no/such/model", "-p", "x"], expect_rc="nonzero")
    check("/no/such/model" in err, err)
    _, _, err = run(["perplexity", TINY, "/no/such/text.txt"], expect_rc="nonzero")
    check("/no/such/text.txt" in err, err)
    _, _, err = run(["generate", TINY, "-p", "x", "--bogus"], expect_rc=2)
    check("--bogus" in err, err)
    _, _, err = run(["generate", TINY, "-p", "the cat sat", "-n", "50", "--ctx", "8"], expect_rc="nonzero")
    check("context window" in err and "8" in err, f"context error should give the numbers: {err}")
    _, _, err = run(["generate", TINY, "-p", "x", "--temp", "-1"], expect_rc="nonzero")
    check("temperature" in err, err)
    _, _, err = run(["generate", TINY, "-p", "x", "--kv-cache", "q4_0"], expect_rc="nonzero")
    check("'q4_0'" in err and "f32" in err and "bf16" in err, f"--kv-cache error should name the choices: {err}")
    with tempfile.TemporaryDirectory() as d:  # a folder without config.json
        _, _, err = run(["info", d], expect_rc="nonzero")
        check("config.json" in err, err)


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--latent", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("case", choices=sorted(CASES))
    a = ap.parse_args()
    LATENT = a.latent
    MODELS = a.models
    TINY, V2LITE = os.path.join(a.models, "tiny"), os.path.join(a.models, "v2lite")
    FP8 = os.path.join(a.models, "tiny-fp8")
    CASES[a.case]()
    print("ok:", a.case)
