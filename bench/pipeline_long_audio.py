#!/usr/bin/env python
# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""`pipeline("audio-classification")` on long recordings: is the time linear in the length?

    python -m bench.pipeline_long_audio                    # 1, 2 and 4 minutes, tiny model, CPU, 5 repeats
    python -m bench.pipeline_long_audio --minutes 1 4 16   # other lengths

A tiny AaSP classifier (random weights: speed does not depend on them) scores noise recordings of each length with
the default windows (10 s, no overlap). The lengths alternate inside every repeat (their order reversed every other
repeat), so a change of machine load reaches every length. Reports the median seconds per call, seconds per minute
of audio and each length's time per minute relative to the shortest one: 1.0 everywhere is linear time (without
windows it grew about quadratically). Writes bench/results/pipeline_long_audio.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np
import torch

from bench.common import SAMPLING_RATE, load_average, machine_info, print_table, ratio, write_results


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 2.0, 4.0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: unchanged).")
    return parser.parse_args(argv)


def tiny_classifier(folder: str):
    """A tiny 4-class AaSP classifier saved to `folder`, through `pipeline` (importing the package registers it)."""
    from transformers import pipeline

    from transformers_aasp import AaSPConfig, AaSPFeatureExtractor, AaSPForAudioClassification

    torch.manual_seed(0)
    AaSPForAudioClassification(AaSPConfig.tiny(num_labels=4)).save_pretrained(folder)
    AaSPFeatureExtractor().save_pretrained(folder)
    return pipeline("audio-classification", model=folder)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    recordings = {
        minutes: (0.1 * rng.standard_normal(int(minutes * 60 * SAMPLING_RATE))).astype(np.float32)
        for minutes in args.minutes
    }
    with tempfile.TemporaryDirectory() as folder:
        classifier = tiny_classifier(folder)
        classifier(recordings[min(recordings)])  # warm-up
        times = {minutes: [] for minutes in recordings}
        order = list(recordings)
        for repeat in range(args.repeats):
            for minutes in order if repeat % 2 == 0 else order[::-1]:
                start = time.perf_counter()
                classifier(recordings[minutes])
                times[minutes].append(time.perf_counter() - start)
    shortest = min(recordings)
    per_minute = {minutes: statistics.median(values) / minutes for minutes, values in times.items()}
    rows = [
        {
            "minutes": minutes,
            "median_s": round(statistics.median(times[minutes]), 3),
            "s_per_minute": round(per_minute[minutes], 3),
            "relative_to_shortest": round(ratio(per_minute[minutes], per_minute[shortest]), 2),
        }
        for minutes in recordings
    ]
    print_table(rows, ["minutes", "median_s", "s_per_minute", "relative_to_shortest"])
    payload = {"machine": machine_info(), "load_avg": load_average(), "repeats": args.repeats, "rows": rows}
    write_results("pipeline_long_audio", payload)
    return payload


if __name__ == "__main__":
    main()
