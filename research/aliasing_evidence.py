#!/usr/bin/env python
# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Small-scale evidence for the paper's claim: does AaPE help on tasks whose cue is temporal modulation above the
token rate (the embedded `modulation` probe), without hurting elsewhere (`instrument`, `keyword`)?

    python -m research.aliasing_evidence --steps 30             # 3 seeds x {AaPE, no AaPE}
    python -m research.aliasing_evidence --steps 100 --seeds 0 1 2 3

Per variant and seed, the tiny config is pre-trained with `examples/pretrain.py` (a subprocess, exactly as a user
runs it; identical options except the model switch), then every embedded task is linear-evaluated with
`examples/linear_eval.py` (its `main`, in this process; 3 linear-probe seeds each). A randomly initialised tiny
encoder (one per seed) is evaluated the same way. The log-mel statistics are computed by the first pre-training
run and passed to every later run, so all runs see identical inputs.

Outputs: research/results/aliasing_evidence.json (per run and summary: mean and spread over pre-training seeds),
and the pre-trained encoders under --work_dir (re-used by research/shift_stability.py). Runs whose encoder
already exists under --work_dir are not repeated, so an interrupted run can be continued.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from bench.common import REPO_ROOT, load_average, print_table, write_results


RESULTS_DIR = Path(__file__).resolve().parent / "results"  # this script's results


TASKS = ("modulation", "instrument", "keyword")
# Each variant is a set of AaSPConfig fields on top of AaSPConfig.tiny() (the `aasp_tiny.yaml` model). The SBLU
# ablations (one-sided window, no high-pass, fixed lambda) are research arms, not config fields: run them with
# `python -m research.learning_quality --arms one_sided no_highpass fixed_lambda`.
VARIANTS = {"aape": {}, "no_aape": {"use_aape": False}}
MAIN_VARIANTS = ("aape", "no_aape")
RANDOM_INIT = "random_init"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30, help="Optimizer steps per pre-training run (all runs).")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="Seeds of AaPE and no-AaPE runs.")
    parser.add_argument("--random_seeds", type=int, nargs="*", default=[0], help="Seeds of random-init encoders.")
    parser.add_argument("--work_dir", type=str, default="outputs/evidence", help="Checkpoints and caches.")
    parser.add_argument("--linear_eval_seeds", type=int, default=3, help="Linear-probe seeds per evaluation.")
    parser.add_argument(
        "--norm",
        type=float,
        nargs=2,
        metavar=("MEAN", "STD"),
        default=None,
        help="Log-mel mean/std for every run (default: computed by the first pre-training run).",
    )
    parser.add_argument("--result_name", type=str, default="aliasing_evidence")
    return parser.parse_args()


# ---------------------------------------------------------------------------------------------------------------
# Pre-training (subprocess) and the random baseline
# ---------------------------------------------------------------------------------------------------------------
def pretrain(variant: str, seed: int, args, norm: tuple[float, float] | None) -> dict:
    """Pre-train one (variant, seed) with examples/pretrain.py; returns timing, final losses and the encoder path."""
    output_dir = Path(args.work_dir) / f"{variant}-s{seed}"
    final = output_dir / "final"
    record = {"variant": variant, "seed": seed, "encoder": str(final)}
    if (final / "model.safetensors").is_file():
        record.update(reused=True, **final_losses(output_dir))
        return record
    overrides = {**VARIANTS[variant], "ema_anneal_steps": args.steps}
    command = [
        sys.executable,
        "examples/pretrain.py",
        "--config",
        "configs/aasp_tiny.yaml",
        "--output_dir",
        str(output_dir),
        "--overwrite_output_dir",
        "--max_steps",
        str(args.steps),
        "--warmup_steps",
        str(max(1, args.steps // 10)),
        "--seed",
        str(seed),
        "--model_overrides",
        json.dumps(overrides),
        "--report_to",
        "none",
        "--checkpointing_steps",
        str(args.steps),
        "--logging_steps",
        str(max(1, args.steps // 4)),
    ]
    if norm is not None:
        command += ["--norm_mean", repr(norm[0]), "--norm_std", repr(norm[1])]
    load_before = load_average()
    start = time.perf_counter()
    completed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    record.update(wall_s=time.perf_counter() - start, load_avg_before=load_before, load_avg_after=load_average())
    if completed.returncode != 0:
        record["error"] = completed.stderr.strip().splitlines()[-5:]
        print(f"[{variant} s{seed}] pre-training FAILED: {record['error']}", flush=True)
        return record
    record.update(final_losses(output_dir))
    print(
        f"[{variant} s{seed}] pre-trained {args.steps} steps in {record['wall_s']:.0f} s, "
        f"final loss {record.get('loss')}",
        flush=True,
    )
    return record


def final_losses(output_dir: Path) -> dict:
    """Last logged loss terms and throughput from <output_dir>/metrics.jsonl."""
    rows = [json.loads(line) for line in (output_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    rows = [row for row in rows if "loss" in row]
    if not rows:
        return {}
    keys = (
        "step",
        "loss",
        "masked_patch_loss",
        "global_loss",
        "contrastive_loss",
        "contrastive_accuracy",
        "clips_per_second",
    )
    return {key: rows[-1].get(key) for key in keys}


def normalization_of(encoder_dir: str) -> tuple[float, float]:
    """(mean, std) that a pre-training run computed and stored with its exported feature extractor."""
    config = json.loads((Path(encoder_dir) / "preprocessor_config.json").read_text())
    return float(config["mean"]), float(config["std"])


def save_random_encoder(seed: int, feature_extractor_dir: str, args) -> dict:
    """A randomly initialised tiny AaSP encoder (AaPE on) with the corpus feature extractor, saved for linear_eval."""
    from transformers_aasp import AaSPConfig, AaSPFeatureExtractor, AaSPModel

    folder = Path(args.work_dir) / f"{RANDOM_INIT}-s{seed}"
    if not (folder / "model.safetensors").is_file():
        torch.manual_seed(seed)
        AaSPModel(AaSPConfig.tiny()).save_pretrained(folder)
        AaSPFeatureExtractor.from_pretrained(feature_extractor_dir).save_pretrained(folder)
    return {"variant": RANDOM_INIT, "seed": seed, "encoder": str(folder)}


# ---------------------------------------------------------------------------------------------------------------
# Linear evaluation (examples/linear_eval.py main, in process)
# ---------------------------------------------------------------------------------------------------------------
def load_linear_eval():
    spec = importlib.util.spec_from_file_location("linear_eval", REPO_ROOT / "examples" / "linear_eval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def linear_evaluate(linear_eval, record: dict, args) -> dict:
    """Accuracy (mean over linear-probe seeds) of one encoder on every embedded task."""
    scores = {}
    for task in TASKS:
        output_dir = Path(args.work_dir) / "linear_eval" / f"{record['variant']}-s{record['seed']}"
        results = linear_eval.main(
            [
                "--model_name_or_path",
                record["encoder"],
                "--task",
                task,
                "--output_dir",
                str(output_dir),
                "--embedding_cache_dir",
                str(Path(args.work_dir) / "embeddings"),
                "--num_seeds",
                str(args.linear_eval_seeds),
                "--device",
                "cpu",
            ]
        )
        scores[task] = {"mean": results["mean"], "per_probe_seed": results["per_seed"]}
    return scores


# ---------------------------------------------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------------------------------------------
def spread(values: list[float]) -> dict:
    """Mean, sample standard deviation (0 for one value), min, max and count."""
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def summarize(runs: list[dict]) -> dict:
    """Per variant and task: spread over pre-training seeds of the linear-eval accuracy; paired AaPE - no-AaPE."""
    summary = {}
    for variant in (*VARIANTS, RANDOM_INIT):
        done = [run for run in runs if run["variant"] == variant and "linear_eval" in run]
        if done:
            summary[variant] = {task: spread([run["linear_eval"][task]["mean"] for run in done]) for task in TASKS}
    by_seed = {(run["variant"], run["seed"]): run for run in runs if "linear_eval" in run}
    paired_seeds = [seed for (variant, seed) in by_seed if variant == "aape" and ("no_aape", seed) in by_seed]
    if paired_seeds:
        summary["aape_minus_no_aape"] = {
            task: spread(
                [
                    by_seed[("aape", s)]["linear_eval"][task]["mean"]
                    - by_seed[("no_aape", s)]["linear_eval"][task]["mean"]
                    for s in paired_seeds
                ]
            )
            for task in TASKS
        }
    return summary


def print_summary(summary: dict) -> None:
    rows = []
    for variant, tasks in summary.items():
        row = {"variant": variant}
        for task in TASKS:
            row[task] = f"{100 * tasks[task]['mean']:.1f} ± {100 * tasks[task]['std']:.1f} (n={tasks[task]['n']})"
        rows.append(row)
    print("\nLinear-eval accuracy (%), mean ± std over pre-training seeds:")
    print_table(rows, ["variant", *TASKS])


def save(runs: list[dict], args, started: float) -> None:
    summary = summarize(runs)
    write_results(
        args.result_name,
        directory=RESULTS_DIR,
        payload={
            "settings": {
                "steps": args.steps,
                "seeds": args.seeds,
                "random_seeds": args.random_seeds,
                "model": "AaSPConfig.tiny() via configs/aasp_tiny.yaml (batch 8, M=4 clones)",
                "linear_eval_seeds": args.linear_eval_seeds,
                "tasks": list(TASKS),
            },
            "wall_s": time.perf_counter() - started,
            "runs": runs,
            "summary": summary,
        },
    )


# ---------------------------------------------------------------------------------------------------------------
def schedule(args) -> list[tuple[str, int]]:
    """AaPE / no-AaPE pairs, seed by seed."""
    return [(variant, seed) for seed in args.seeds for variant in MAIN_VARIANTS]


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    linear_eval = load_linear_eval()
    runs, norm = [], tuple(args.norm) if args.norm else None
    random_done = False
    for variant, seed in schedule(args):
        record = pretrain(variant, seed, args, norm)
        runs.append(record)
        if "error" in record:
            continue
        norm = norm or normalization_of(record["encoder"])
        record["normalization"] = list(normalization_of(record["encoder"]))
        if not random_done:
            random_done = True
            for random_seed in args.random_seeds:  # the random baseline needs the corpus feature extractor
                baseline = save_random_encoder(random_seed, record["encoder"], args)
                baseline["linear_eval"] = linear_evaluate(linear_eval, baseline, args)
                runs.append(baseline)
        record["linear_eval"] = linear_evaluate(linear_eval, record, args)
        save(runs, args, started)
        print_summary(summarize(runs))
    save(runs, args, started)
    print(
        f"\nTotal wall time {time.perf_counter() - started:.0f} s; results in research/results/{args.result_name}.json"
    )


if __name__ == "__main__":
    main()
