#!/usr/bin/env python
# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""AaSPFeatureExtractor against transformers' ASTFeatureExtractor on the same clips, in one process, alternating.

    python -m bench.feature_extractor_speed                      # 16 clips of 10 s, CPU, 15 repeats
    python -m bench.feature_extractor_speed --threads 1          # one intra-op thread
    python -m bench.feature_extractor_speed --device cuda        # AaSP's extractor on the GPU (clips/s)

Each repeat calls both extractors once on the batch, as a user does (`fe(clips, sampling_rate=16000,
return_tensors="pt")`), AaSP first in even repeats and AST first in odd ones. Reports the median time per call, clips/s
and the ratio of the medians (target: AaSP >= 3x AST on CPU). With `--device cuda` AaSP computes on the GPU (the
`device=` path, synchronised before the clock stops); AST's extractor has no GPU path and stays on the CPU.
Writes bench/results/feature_extractor_speed[_cuda].json.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from bench.common import load_average, ratio, synchronize, synthetic_clips, write_results


TARGET = 3.0


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num_clips", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: unchanged).")
    parser.add_argument("--device", default="cpu")
    return parser.parse_args(argv)


def alternating_times(sides: dict, repeats: int, device: str) -> dict[str, list[float]]:
    """Seconds per call of each side; the order of the sides flips every repeat."""
    for call in sides.values():
        call()  # warm-up: filterbank caches, kernels
    synchronize(device)
    times = {name: [] for name in sides}
    names = list(sides)
    for repeat in range(repeats):
        for name in names if repeat % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            sides[name]()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return times


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from transformers import ASTFeatureExtractor

    from transformers_aasp import AaSPFeatureExtractor

    clips = synthetic_clips(args.num_clips, args.seconds)
    aasp, ast = AaSPFeatureExtractor(), ASTFeatureExtractor()
    device = None if args.device == "cpu" else args.device
    sides = {
        "aasp": lambda: aasp(clips, sampling_rate=16000, return_tensors="pt", device=device),
        "ast": lambda: ast(clips, sampling_rate=16000, return_tensors="pt"),
    }
    times = alternating_times(sides, args.repeats, args.device)
    summary = {}
    for name, values in times.items():
        median = statistics.median(values)
        summary[name] = {"median_s": median, "min_s": min(values), "clips_per_s": args.num_clips / median}
    speedup = ratio(summary["ast"]["median_s"], summary["aasp"]["median_s"])
    payload = {
        "num_clips": args.num_clips,
        "seconds_per_clip": args.seconds,
        "repeats": args.repeats,
        "threads": torch.get_num_threads(),
        "device": args.device,
        "load_avg": load_average(),
        "sides": summary,
        "times_s": times,
        "ratio_aasp_over_ast": speedup,
        "ratio_of_fastest": ratio(summary["ast"]["min_s"], summary["aasp"]["min_s"]),
        "target": TARGET,
    }
    for name, values in summary.items():
        print(f"{name}: {values['median_s'] * 1e3:.1f} ms per call, {values['clips_per_s']:.1f} clips/s")
    print(
        f"ratio AaSP / AST (medians): {speedup:.2f}x (fastest repeats {payload['ratio_of_fastest']:.2f}x; target >= {TARGET}x)"
    )
    suffix = "" if args.device == "cpu" else f"_{torch.device(args.device).type}"
    print(f"wrote {write_results('feature_extractor_speed' + suffix, payload)}")
    return payload


if __name__ == "__main__":
    main()
