# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Pre-training runs of the evidence scripts, through the package's own loop
(`transformers_aasp.training.pretraining.Pretrainer`), with the encoder exported at chosen optimizer steps.

    job = {"argv": pretraining_argv(...), "steps": [0, 300], "arm": "aape", "seed": 0, "threads": None}
    summary = run_pretraining(job)            # <output_dir>/snapshots/step-<k> for every k in job["steps"]

A job may name an arm of `research.ablations` ("ablation_arm"): the run then pre-trains that arm's model, built by
`research.ablations.build_model` from the recipe's model config and overrides. Step 0 is the initialisation of the
run's seed, the random-init control.
"""

from __future__ import annotations

import json
import multiprocessing
import shlex
import time
from pathlib import Path

import numpy as np
import torch
from datasets import Audio

from aasp_corpora.synthetic import load_pretraining_audio
from research.ablations import arm_config, build_model
from transformers_aasp import AaSPForPreTraining
from transformers_aasp.training.pretraining import ModelOptions, Pretrainer, model_config, parse_pretraining_options


SNAPSHOTS_FILE = "snapshots.json"
# the flags `pretraining_argv` sets itself; a recipe's extra arguments may not set them
FLAGS_SET_HERE = ("--dataset", "--output_dir", "--max_steps", "--seed", "--model_overrides", "--warmup_steps")


class SnapshotPretrainer(Pretrainer):
    """The package's pre-training loop, exporting the encoder (and feature extractor) at chosen optimizer steps."""

    snapshot_steps: tuple[int, ...] = ()

    def export_snapshot(self) -> Path:
        step = self.progress.step
        folder = snapshot_dir(self.options.checkpointing.output_dir, step)
        encoder = self.accelerator.unwrap_model(self.model)
        encoder.export_encoder(str(folder), weights=self.options.model.export_weights)
        self.feature_extractor.save_pretrained(str(folder))
        return folder

    def end_step(self, outcome) -> None:
        super().end_step(outcome)
        if self.progress.step in self.snapshot_steps:
            self.export_snapshot()


def snapshot_dir(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / "snapshots" / f"step-{step}"


def pretraining_argv(
    recipe_config: str,
    extra_args: str,
    *,
    dataset: str,
    output_dir: str,
    max_steps: int,
    warmup_steps: int,
    seed: int,
    model_overrides: dict,
) -> list[str]:
    """examples/pretrain.py's command line of one run: the recipe (`recipe_config` then `extra_args`), then what
    the evidence script fixes per run."""
    reserved = [flag for flag in shlex.split(extra_args) if flag.split("=")[0] in FLAGS_SET_HERE]
    if reserved:
        raise ValueError(f"The pre-training arguments may not set {reserved}: the script sets {FLAGS_SET_HERE}.")
    return [
        *("--config", recipe_config, "--report_to", "none", "--checkpointing_steps", str(max_steps)),
        "--overwrite_output_dir",
        *shlex.split(extra_args),
        *("--dataset", dataset, "--output_dir", output_dir, "--max_steps", str(max_steps)),
        *("--warmup_steps", str(warmup_steps), "--seed", str(seed), "--model_overrides", json.dumps(model_overrides)),
    ]


def recipe_model_overrides(recipe_config: str, extra_args: str, max_steps: int) -> dict:
    """The model overrides of a recipe (its YAML file, then `extra_args`); the scripts add their own on top."""
    argv = ["--config", recipe_config, *shlex.split(extra_args), "--dataset", "x", "--output_dir", "x"]
    options = parse_pretraining_options([*argv, "--max_steps", str(max_steps), "--warmup_steps", "0"])
    return dict(options.model.model_overrides)


def embedded_pool(work_dir: str | Path, corpus_seed: int, clips_per_class: int | None) -> str:
    """A folder of links to the train clips of the embedded corpus at `corpus_seed` (no validation or test clip),
    the unlabelled pool that examples/pretrain.py's --dataset reads; built once under `work_dir`."""
    folder = Path(work_dir) / "pools" / f"embedded-s{corpus_seed}-c{clips_per_class or 'default'}"
    if not folder.is_dir():
        clips = load_pretraining_audio(seed=corpus_seed, clips_per_class=clips_per_class)
        paths = [row["path"] for row in clips.cast_column("audio", Audio(decode=False))["audio"]]
        building = folder.with_name(folder.name + ".building")
        building.mkdir(parents=True, exist_ok=True)
        for index, path in enumerate(paths):
            link = building / f"{index:06d}-{Path(path).name}"
            if not link.is_symlink():
                link.symlink_to(Path(path).resolve())
        building.rename(folder)
    return str(folder.resolve())


def arm_model_factory(arm: str):
    """`Pretrainer.from_options`'s model factory for an arm of `research.ablations`: the recipe's model config
    ('tiny', 'base', ...) and overrides, with the arm's fields and module variants."""

    def build(options: ModelOptions) -> AaSPForPreTraining:
        if options.init_from:
            raise ValueError(f"Arm {arm!r} is pre-trained from scratch; drop --init_from.")
        config = arm_config(
            arm, lambda **fields: model_config(options.model_config, fields), **options.model_overrides
        )
        return build_model(arm, AaSPForPreTraining, config)

    return build


def finished_run(run_dir: Path, steps: list[int]) -> dict | None:
    """The summary of an earlier run in `run_dir` that exported every step of `steps`, else None."""
    path = run_dir / SNAPSHOTS_FILE
    if not path.is_file():
        return None
    summary = json.loads(path.read_text())
    return summary if set(steps) <= set(summary["steps"]) else None


def run_pretraining(job: dict) -> dict:
    """One pre-training run; returns its summary (also written to <output_dir>/snapshots.json).

    job: "argv" (examples/pretrain.py flags), "steps" (snapshot steps), "arm" and "seed" (reported), "threads"
    (torch threads, None: unchanged) and optionally "ablation_arm" (an arm of `research.ablations` to build).
    """
    if job["threads"]:
        torch.set_num_threads(job["threads"])
    options = parse_pretraining_options(job["argv"])
    run_dir = Path(options.checkpointing.output_dir)
    if (done := finished_run(run_dir, job["steps"])) is not None:
        return done
    if job.get("ablation_arm"):
        pretrainer = SnapshotPretrainer.from_options(options, model_factory=arm_model_factory(job["ablation_arm"]))
    else:
        pretrainer = SnapshotPretrainer.from_options(options)
    pretrainer.snapshot_steps = tuple(step for step in job["steps"] if step > 0)
    start = time.perf_counter()
    if 0 in job["steps"]:
        pretrainer.export_snapshot()
    train_start = time.perf_counter()
    metrics = pretrainer.train()
    pretrainer.end()
    max_steps = options.optimization.max_steps
    seconds = time.perf_counter() - train_start
    summary = {
        "arm": job["arm"],
        "seed": job["seed"],
        "steps": job["steps"],
        "max_steps": max_steps,
        "train_seconds": seconds,
        "seconds_per_step": seconds / max_steps,
        "steady_seconds_per_step": steady_seconds_per_step(run_dir, options.optimization.per_device_batch_size),
        "setup_seconds": train_start - start,
        "final_metrics": metrics,
    }
    (run_dir / SNAPSHOTS_FILE).write_text(json.dumps(summary, indent=2))
    return summary


def steady_seconds_per_step(run_dir: Path, batch_size: int) -> float | None:
    """Median seconds per optimizer step over the logging windows of metrics.jsonl after the first (which holds the
    data-loader start-up); None with fewer than two windows."""
    path = run_dir / "metrics.jsonl"
    rates = [
        record["clips_per_second"]
        for record in map(json.loads, path.read_text().splitlines())
        if "clips_per_second" in record
    ]
    return float(np.median([batch_size / rate for rate in rates[1:]])) if len(rates) > 1 else None


def run_jobs(function, jobs: list[dict], workers: int) -> list[dict]:
    """`function` over `jobs`, in `workers` spawned processes when more than one (each job sets its threads)."""
    if workers <= 1 or len(jobs) <= 1:
        return [function(job) for job in jobs]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        return pool.map(function, jobs, chunksize=1)
