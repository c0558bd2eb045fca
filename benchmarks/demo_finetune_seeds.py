#!/usr/bin/env python
# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The demo's fine-tuning step over several seeds, for one pooling or two: how much of a demo score is the seed.

    make demo                                          # first: the demo's pre-trained encoder and corpus
    python benchmarks/demo_finetune_seeds.py           # instrument + keyword, mean vs attention, seeds 0 1 2
    python benchmarks/demo_finetune_seeds.py --poolings attention --extra_flags "--label_smoothing_factor 0.1" \
        --work_dir outputs/seeds_ls --result_name demo_finetune_seeds_label_smoothing    # a recipe variant

Every run is exactly the demo's fine-tuning step (`examples/finetune.py` with the flags `aasp-demo` gives it, read
from the demo config: corpus size, `finetune.args`), from the demo's pre-trained encoder, with only
`--classifier_pooling` and `--seed` changed, plus `--extra_flags` when given (they come last, so they override the
demo's). Runs go to `--work_dir/<task>/<pooling>-s<seed>` and a finished run (its results.json) is reused, so give
each variant its own work folder. Reported: test accuracy per run, mean and 95 % t-interval over the seeds per
pooling, and with two poolings their paired difference over the seeds (same seed = same data order and head init),
next to the demo's log-mel baselines when `--demo_dir` holds them. The runs go `--workers` at a time through the
demo's own runner (`aasp-demo`'s `jobs`), each with cores / workers threads: one thread each with 2 workers on 2
cores, as in the demo. About 25 minutes on 2 idle cores for 12 runs. Results: benchmarks/results/<--result_name>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO_ROOT, load_average, mean_ci, write_results

from transformers_aasp.cli import demo


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo_dir", type=Path, default=REPO_ROOT / "outputs" / "demo", help="A finished demo.")
    parser.add_argument("--config", type=Path, default=demo.DEFAULT_CONFIG, help="The demo config it ran with.")
    parser.add_argument("--tasks", nargs="+", default=["instrument", "keyword"])
    parser.add_argument(
        "--poolings",
        nargs="+",
        default=["mean", "attention"],
        help="One pooling, or two to compare (their paired difference is reported as second - first).",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work_dir", type=Path, default=REPO_ROOT / "outputs" / "demo_finetune_seeds")
    parser.add_argument(
        "--extra_flags",
        default="",
        help="More examples/finetune.py flags for every run, e.g. '--label_smoothing_factor 0.1' (after the demo's).",
    )
    parser.add_argument("--result_name", default="demo_finetune_seeds", help="benchmarks/results/<name>.json")
    return parser.parse_args()


def run_one(
    config: demo.DemoConfig,
    encoder: Path,
    job: dict,
    work_dir: Path,
    extra_flags: list[str],
    context: demo.StepContext,
) -> dict:
    """One fine-tune (or its finished results.json): {"task", "pooling", "seed", "accuracy"}."""
    output_dir = work_dir / job["task"] / f"{job['pooling']}-s{job['seed']}"
    results = output_dir / "results.json"
    if not results.is_file():
        flags = demo.finetune_flags(config, job["task"], encoder, output_dir)
        flags += ["--classifier_pooling", job["pooling"], "--seed", str(job["seed"]), "--disable_tqdm", "true"]
        context.run(demo.script_command(config, "finetune.py", flags + extra_flags), output_dir.with_suffix(".log"))
    summary = json.loads(results.read_text(encoding="utf-8"))
    run = {**job, "accuracy": summary["mean"]}
    line = f"{job['task']:<11} {job['pooling']:<10} seed {job['seed']}: {100 * summary['mean']:.1f} %"
    if "single_view" in summary:  # the model averages shifted views (classifier_shift_views > 1)
        run["single_view_accuracy"] = summary["single_view"]["mean"]
        line += f" (unshifted view alone {100 * run['single_view_accuracy']:.1f} %)"
    print(line, flush=True)
    return run


def demo_baselines(demo_dir: Path, task: str) -> dict[str, float]:
    """{feature set: test accuracy} of the demo's log-mel baselines for the task (what is there)."""
    found = {}
    for feature_set in demo.BASELINE_FEATURE_SETS:
        path = demo_dir / "logmel_baseline" / feature_set / f"logmel_baseline_{task}.json"
        if path.is_file():
            found[feature_set] = json.loads(path.read_text(encoding="utf-8"))["accuracy"]
    return found


def add_single_view_summary(task_summary: dict, runs: list[dict], task: str, args) -> None:
    """For runs whose model averages shifted views: the unshifted view's mean and the paired gain of the views over
    it, per pooling (`<pooling>_single_view_mean_ci95`, `<pooling>_views_minus_single_view_ci95`)."""
    for pooling in args.poolings:
        pairs = [
            (100 * run["accuracy"], 100 * run["single_view_accuracy"])
            for run in runs
            if run["task"] == task and run["pooling"] == pooling and "single_view_accuracy" in run
        ]
        if not pairs:
            continue
        task_summary[f"{pooling}_single_view_mean_ci95"] = mean_ci([single for _, single in pairs])
        task_summary[f"{pooling}_views_minus_single_view_ci95"] = mean_ci([views - single for views, single in pairs])
        (single, single_half), (gain, gain_half) = (
            task_summary[f"{pooling}_single_view_mean_ci95"],
            task_summary[f"{pooling}_views_minus_single_view_ci95"],
        )
        print(
            f"{task}: {pooling}, unshifted view alone {single:.1f} ± {single_half:.1f}; shifted views - unshifted "
            f"{gain:+.1f} ± {gain_half:.1f} points (paired, {len(pairs)} seeds)",
            flush=True,
        )


def summarise(runs: list[dict], args) -> dict:
    summary = {}
    for task in args.tasks:
        by_pooling = {
            pooling: {
                run["seed"]: 100 * run["accuracy"] for run in runs if run["task"] == task and run["pooling"] == pooling
            }
            for pooling in args.poolings
        }
        summary[task] = {
            "per_seed": by_pooling,
            **{f"{pooling}_mean_ci95": mean_ci(list(by_pooling[pooling].values())) for pooling in args.poolings},
            "baselines": {name: 100 * value for name, value in demo_baselines(args.demo_dir, task).items()},
        }
        add_single_view_summary(summary[task], runs, task, args)
        cells = [
            f"{pooling} {m:.1f} ± {h:.1f}"
            for pooling in args.poolings
            for m, h in [summary[task][f"{pooling}_mean_ci95"]]
        ]
        if len(args.poolings) == 2:
            first, second = args.poolings
            differences = [by_pooling[second][seed] - by_pooling[first][seed] for seed in args.seeds]
            summary[task][f"{second}_minus_{first}_ci95"] = mean_ci(differences)
            mean, half = summary[task][f"{second}_minus_{first}_ci95"]
            cells.append(f"{second} - {first} {mean:+.1f} ± {half:.1f} points (paired, {len(args.seeds)} seeds)")
        baselines = (
            ", ".join(f"{name} {value:.1f}" for name, value in summary[task]["baselines"].items()) or "none found"
        )
        print(f"{task}: {'; '.join(cells)}; baselines: {baselines}", flush=True)
    return summary


def main() -> None:
    args = parse_args()
    encoder = args.demo_dir / "pretrain" / "final"
    if not (encoder / "config.json").is_file():
        sys.exit(f"No pre-trained encoder at {encoder}: run `make demo` first (or pass --demo_dir).")
    config = demo.load_demo_config(args.config, output_dir=str(args.demo_dir))
    jobs = [
        {"task": task, "pooling": pooling, "seed": seed}
        for task in args.tasks
        for seed in args.seeds
        for pooling in args.poolings
    ]
    extra_flags = shlex.split(args.extra_flags)
    steps = [
        demo.Step(
            "fine-tuning",
            f"{job['task']}, {job['pooling']} pooling, seed {job['seed']}",
            lambda context, job=job: run_one(config, encoder, job, args.work_dir, extra_flags, context),
        )
        for job in jobs
    ]
    printer = demo.StepPrinter(total=len(steps))
    runs = demo.run_steps(steps, args.workers, demo.step_environment(config), printer, {})
    payload = {
        "encoder": str(encoder),
        "finetune_args": config.finetune.get("args"),
        "extra_flags": args.extra_flags,
        "corpus_clips_per_class": config.corpus.get("clips_per_class"),
        "runs": runs,
        "summary": summarise(runs, args),
        "load_average_end": load_average(),
        "threads_per_run": demo.threads_per_job(args.workers) if args.workers > 1 else os.cpu_count(),
        "note": "every run is the demo's fine-tuning step; only the pooling, the seed and extra_flags change",
    }
    print(f"-> {write_results(args.result_name, payload)}")


if __name__ == "__main__":
    main()
