#!/usr/bin/env python
# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Why `aasp-demo` runs its independent steps two at a time (`jobs: 2`): the same fine-tunes one after the other
with every thread, and side by side with cores / jobs threads each, through the demo's own runner.

    make demo                                  # first: the demo's pre-trained encoder and corpus
    python benchmarks/demo_parallel.py         # 2 keyword fine-tunes of 3 epochs per side, 2 rounds: ~5 min on 2 cores

Each side runs the demo's fine-tuning step (`examples/finetune.py` with the demo config's flags, `--num_train_epochs`
shortened) for seeds 0..`--runs`-1 into fresh folders under `--work_dir`; the sides alternate within and across
rounds (one at a time first in even rounds, side by side first in odd ones), so load drift falls on both. Reported:
the wall time of every side and round, and the ratio of the median one-at-a-time time to the median side-by-side
time (how many times the throughput two at a time gives). Results: benchmarks/results/demo_parallel.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO_ROOT, load_average, write_results

from transformers_aasp.cli import demo


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo_dir", type=Path, default=REPO_ROOT / "outputs" / "demo", help="A finished demo.")
    parser.add_argument("--config", type=Path, default=demo.DEFAULT_CONFIG, help="The demo config it ran with.")
    parser.add_argument("--task", default="keyword")
    parser.add_argument("--epochs", type=int, default=3, help="Fine-tuning epochs per run (the demo uses 20).")
    parser.add_argument("--runs", type=int, default=2, help="Fine-tunes per side (seeds 0..runs-1).")
    parser.add_argument("--jobs", type=int, default=2, help="Steps at once on the side-by-side side.")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--work_dir", type=Path, default=REPO_ROOT / "outputs" / "demo_parallel")
    return parser.parse_args()


def fine_tune_steps(config: demo.DemoConfig, encoder: Path, args, folder: Path) -> list[demo.Step]:
    """`args.runs` demo fine-tunes (seeds 0..runs-1) writing into `folder`."""

    def run(context: demo.StepContext, seed: int) -> None:
        output_dir = folder / f"s{seed}"
        flags = demo.finetune_flags(config, args.task, encoder, output_dir)
        flags += ["--num_train_epochs", str(args.epochs), "--seed", str(seed), "--disable_tqdm", "true"]
        context.run(demo.script_command(config, "finetune.py", flags), output_dir.with_suffix(".log"))

    return [
        demo.Step("fine-tuning", f"{args.task}, seed {seed}", lambda context, seed=seed: run(context, seed))
        for seed in range(args.runs)
    ]


def timed_side(config: demo.DemoConfig, encoder: Path, args, jobs: int, round_index: int) -> float:
    """Wall seconds of one side: `args.runs` fine-tunes, `jobs` at a time, in a fresh folder."""
    folder = args.work_dir / f"jobs{jobs}-round{round_index}"
    shutil.rmtree(folder, ignore_errors=True)
    steps = fine_tune_steps(config, encoder, args, folder)
    start = time.perf_counter()
    demo.run_steps(steps, jobs, demo.step_environment(config), demo.StepPrinter(total=len(steps)), {})
    return time.perf_counter() - start


def main() -> None:
    args = parse_args()
    encoder = args.demo_dir / "pretrain" / "final"
    if not (encoder / "config.json").is_file():
        sys.exit(f"No pre-trained encoder at {encoder}: run `make demo` first (or pass --demo_dir).")
    config = demo.load_demo_config(args.config, output_dir=str(args.demo_dir))
    seconds: dict[int, list[float]] = {1: [], args.jobs: []}
    for round_index in range(args.rounds):
        order = (1, args.jobs) if round_index % 2 == 0 else (args.jobs, 1)
        for jobs in order:
            seconds[jobs].append(timed_side(config, encoder, args, jobs, round_index))
            print(
                f"round {round_index}: {args.runs} fine-tunes, {jobs} at a time: {seconds[jobs][-1]:.1f} s", flush=True
            )
    one_at_a_time, side_by_side = statistics.median(seconds[1]), statistics.median(seconds[args.jobs])
    ratio = one_at_a_time / side_by_side
    print(
        f"median {one_at_a_time:.1f} s one at a time ({os.cpu_count()} threads each) vs {side_by_side:.1f} s "
        f"{args.jobs} at a time ({demo.threads_per_job(args.jobs)} thread(s) each): {ratio:.2f}x the throughput",
        flush=True,
    )
    payload = {
        "encoder": str(encoder),
        "task": args.task,
        "epochs": args.epochs,
        "runs_per_side": args.runs,
        "jobs": args.jobs,
        "threads_per_run": {"one_at_a_time": os.cpu_count(), "side_by_side": demo.threads_per_job(args.jobs)},
        "seconds": {"one_at_a_time": seconds[1], "side_by_side": seconds[args.jobs]},
        "median_seconds": {"one_at_a_time": one_at_a_time, "side_by_side": side_by_side},
        "throughput_ratio": ratio,
        "load_average_end": load_average(),
    }
    print(f"-> {write_results('demo_parallel', payload)}")


if __name__ == "__main__":
    main()
