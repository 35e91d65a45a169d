#!/usr/bin/env python3
"""Plots the mHC experiment (scripts/evidence/mhc_experiment.sh): loss curves of residual / HC / mHC, and
the composite forward / backward gain vs depth at the last logged step (plus its maximum over the run).

Usage: plot_mhc.py WORK_DIR FIGURES_DIR   (WORK_DIR/<kind>/run/metrics.jsonl for kind in residual, hc, mhc)
Writes FIGURES_DIR/mhc_loss.png and FIGURES_DIR/mhc_gain.png and prints a summary table (markdown).
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

KINDS = [("residual", "residual", "tab:gray"), ("hc", "HC", "tab:red"), ("mhc", "mHC (n=4)", "tab:blue")]


def load(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def main():
    work, figs = sys.argv[1], sys.argv[2]
    os.makedirs(figs, exist_ok=True)
    runs = {}
    for key, _, _ in KINDS:
        p = os.path.join(work, key, "run", "metrics.jsonl")
        if os.path.exists(p):
            runs[key] = load(p)

    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    for key, label, color in KINDS:
        if key not in runs:
            continue
        r = runs[key]
        ax.plot([x["step"] for x in r], [x["loss"] for x in r], color=color, lw=1, alpha=0.8, label=label + " train")
        v = [(x["step"], x["validation_loss"]) for x in r if "validation_loss" in x]
        if v:
            ax.plot(*zip(*v), "o--", color=color, ms=3, lw=1, label=label + " val")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("deep narrow model: loss (same seed and data)", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(figs, "mhc_loss.png"))

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.4), dpi=100)
    print("| model | final loss | final val loss | max fwd gain (any step, deepest) | max bwd gain | last fwd gain | last bwd gain | max column error |")
    print("|---|---|---|---|---|---|---|---|")
    for key, label, color in KINDS:
        r = runs.get(key)
        if not r:
            continue
        vals = [x["validation_loss"] for x in r if "validation_loss" in x]
        with_gain = [x for x in r if x.get("hc_forward_gain")]
        if with_gain:
            last = with_gain[-1]
            depth = list(range(1, len(last["hc_forward_gain"]) + 1))
            axes[0].plot(depth, last["hc_forward_gain"], "-", color=color, label=label + " (last step)")
            axes[1].plot(depth, last["hc_backward_gain"], "-", color=color, label=label + " (last step)")
            mx_f = [max(x["hc_forward_gain"][i] for x in with_gain) for i in range(len(depth))]
            mx_b = [max(x["hc_backward_gain"][i] for x in with_gain) for i in range(len(depth))]
            axes[0].plot(depth, mx_f, ":", color=color, label=label + " (max over run)")
            axes[1].plot(depth, mx_b, ":", color=color, label=label + " (max over run)")
            col = max(max(x["hc_column_error"]) for x in with_gain)
            print(f"| {label} | {r[-1]['loss']:.4f} | {vals[-1] if vals else float('nan'):.4f} | {mx_f[-1]:.4g} | "
                  f"{max(mx_b):.4g} | {last['hc_forward_gain'][-1]:.4g} | {max(last['hc_backward_gain']):.4g} | {col:.3g} |")
        else:
            print(f"| {label} | {r[-1]['loss']:.4f} | {vals[-1] if vals else float('nan'):.4f} | (identity: 1) | (1) | 1 | 1 | 0 |")
    for ax, name in zip(axes, ["forward", "backward"]):
        ax.axhline(1.0, color="k", lw=0.5)
        ax.set_yscale("log")
        ax.set_xlabel("depth (sublayers composed)")
        ax.set_ylabel(f"composite {name} gain (Amax)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.suptitle("composite mixing gain vs depth (residual = 1 by construction)", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(figs, "mhc_gain.png"))


if __name__ == "__main__":
    main()
