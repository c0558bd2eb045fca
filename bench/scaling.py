#!/usr/bin/env python
# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Inference time and memory as the clip grows (1, 5, 10, 30, 60 s): AaSP base vs transformers' AST.

    python -m bench.scaling
    python -m bench.scaling --seconds 1 5 10 30 60 120 --memory_cap_gib 16

AaSP (AaSPConfig(), sin-cos positions: any length works unchanged) takes (1, 1 + samples // 160 padded to 16, 80).
AST takes (1, frames, 128) with ASTConfig(max_length=frames), frames = what ASTFeatureExtractor's Kaldi fbank gives
for the clip (1 + (samples - 400) // 160): AST needs a position table of that size, so a new (random) model is built
per length. Inputs are random features of those shapes; only the encoder forward (eval, no_grad, batch 1) is timed,
one warm-up pass then --repeats timed passes (default 1: the 60 s AST pass takes minutes on 2 cores).

Every (model, length) runs in a fresh subprocess under an address-space limit (--memory_cap_gib, default 16 GiB of
this 24 GB machine): an allocation past the cap fails inside the child and is reported as out of memory, and never
takes this script (or the machine's other jobs) down. Peak memory: after a 1 s warm-up pass on a separate small model
(loads kernels and libraries), peak RSS (VmHWM, reset first) after the forwards - RSS before them.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import torch

from bench.common import (
    SAMPLING_RATE,
    load_average,
    peak_rss_mib,
    print_table,
    reset_peak_rss,
    rss_mib,
    run_json_subprocess,
    write_results,
)


MODELS = ("aasp", "ast")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, nargs="+", default=[1, 5, 10, 30, 60])
    parser.add_argument("--memory_cap_gib", type=float, default=16.0, help="Address-space limit of each child.")
    parser.add_argument("--repeats", type=int, default=1, help="Timed passes after the warm-up (median).")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--timeout_s", type=float, default=900, help="Give up on one (model, length) after this.")
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "SECONDS"), help=argparse.SUPPRESS)
    return parser.parse_args()


def input_frames(model: str, seconds: float) -> int:
    """Frames each model's own feature extractor gives for a clip of `seconds`."""
    samples = int(seconds * SAMPLING_RATE)
    if model == "aasp":
        frames = 1 + samples // 160
        return -(-frames // 16) * 16
    return 1 + (samples - 400) // 160


def build(model: str, frames: int):
    torch.manual_seed(0)
    if model == "aasp":
        from transformers_aasp import AaSPConfig, AaSPModel

        return AaSPModel(AaSPConfig()).eval(), torch.randn(1, frames, 80)
    from transformers import ASTConfig, ASTModel

    return ASTModel(ASTConfig(max_length=frames)).eval(), torch.randn(1, frames, 128)


def child(args) -> None:
    """Fresh process: one (model, length) under the memory cap; prints a JSON line."""
    model_name, seconds = args.child[0], float(args.child[1])
    cap = int(args.memory_cap_gib * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    warm_model, warm_inputs = build(model_name, input_frames(model_name, 1.0))
    with torch.no_grad():  # a 1 s pass loads kernels and libraries, so that their memory is not counted below
        warm_model(warm_inputs)
    del warm_model, warm_inputs
    frames = input_frames(model_name, seconds)
    model, inputs = build(model_name, frames)
    reset_peak_rss()
    rss_before = rss_mib()
    times = []
    try:
        with torch.no_grad():
            for _ in range(args.warmup + args.repeats):
                start = time.perf_counter()
                tokens = model(inputs).last_hidden_state.shape[1]
                times.append(time.perf_counter() - start)
    except (RuntimeError, MemoryError) as error:
        message = str(error).splitlines()[0][:200]
        out_of_memory = isinstance(error, MemoryError) or "alloc" in message.lower() or "memory" in message.lower()
        print(json.dumps({"out_of_memory": out_of_memory, "frames": frames, "error": message}))
        return
    print(
        json.dumps(
            {
                "frames": frames,
                "tokens": int(tokens),
                "median_s": statistics.median(times[args.warmup :]),
                "peak_mib": round(peak_rss_mib() - rss_before, 1),
                "load_avg": load_average(),
            }
        )
    )


def main() -> None:
    args = parse_args()
    if args.child:
        child(args)
        return
    rows = []
    for seconds in args.seconds:
        for model in MODELS:
            result = run_json_subprocess(
                [
                    "-m",
                    "bench.scaling",
                    "--child",
                    model,
                    f"{seconds:g}",
                    "--memory_cap_gib",
                    f"{args.memory_cap_gib:g}",
                    "--repeats",
                    str(args.repeats),
                    "--warmup",
                    str(args.warmup),
                ],
                timeout=args.timeout_s,
            )
            row = {"model": model, "seconds": seconds, **result}
            rows.append(row)
            print(f"{model:4s} {seconds:5g} s: {json.dumps(result)}", flush=True)
    for seconds in args.seconds:
        pair = {row["model"]: row for row in rows if row["seconds"] == seconds}
        if all("median_s" in pair.get(model, {}) for model in MODELS):
            pair["aasp"]["speedup_vs_ast"] = pair["ast"]["median_s"] / pair["aasp"]["median_s"]
    print()
    print_table(rows, ["model", "seconds", "frames", "tokens", "median_s", "peak_mib", "speedup_vs_ast", "error"])
    print(f"-> {write_results('scaling', {'memory_cap_gib': args.memory_cap_gib, 'rows': rows})}")


if __name__ == "__main__":
    main()
