# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Why does a task not learn? Frozen linear probes of several encoders, scored on the validation split only.

    python -m research.validation_diagnostics --tasks instrument_real sample_family \
        --model init=<snapshot> --model student=<snapshot> --model teacher=<pre-training checkpoint>:teacher \
        --output research/results/validation_diagnostics_real

A `--model name=path` is an exported encoder (a learning-curve snapshot); `name=path:teacher` or `name=path:student`
takes that encoder out of a pre-training checkpoint folder (`model.safetensors` of `AaSPForPreTraining`, with the
config of --config_from and the feature extractor of its run). For every task and model, the probe is trained on the
train split for every weight decay of the grid and the best validation accuracy is reported (the same optimistic
choice for every model, so the models compare; the numbers are not estimates of test accuracy). The test split is never embedded or read. Each row also
gives the between-class share of the validation embeddings' variance. Pairs named by --compare get a paired
McNemar test on the validation clips.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from research.learning_curve import VALIDATION_FRACTION
from research.representation_rank import between_class_share
from research.statistics import accuracy_with_interval, mcnemar_exact
from transformers_aasp import AaSPConfig, AaSPFeatureExtractor, AaSPModel
from transformers_aasp.data.loading import load_task
from transformers_aasp.evaluation.linear_probe import (
    ClipEmbedder,
    LinearProbeArguments,
    embed_split,
    predicted_correctly,
    select_rows,
    select_weight_decay,
)


def load_encoder(spec: str, config_from: str | None) -> AaSPModel:
    """An `AaSPModel` from a snapshot folder, or from `<checkpoint folder>:teacher|student`."""
    path, _, part = spec.partition(":")
    if not part:
        return AaSPModel.from_pretrained(path)
    if config_from is None:
        raise ValueError(f"{spec}: a checkpoint encoder needs --config_from <snapshot> for its config.")
    model = AaSPModel(AaSPConfig.from_pretrained(config_from))
    prefix = {"teacher": "teacher.", "student": "aasp."}[part]
    weights = {k[len(prefix) :]: v for k, v in load_file(f"{path}/model.safetensors").items() if k.startswith(prefix)}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise ValueError(f"{spec}: {len(missing)} missing and {len(unexpected)} unexpected encoder weights.")
    return model


def feature_extractor_folder(spec: str, config_from: str | None) -> str:
    """The snapshot itself, or for a checkpoint its run's `feature_extractor` folder (its normalisation)."""
    path, _, part = spec.partition(":")
    if not part:
        return path
    run_extractor = Path(path).parent.parent / "feature_extractor"  # <run>/checkpoints/<checkpoint>
    return str(run_extractor) if run_extractor.is_dir() else str(config_from)


def validation_probe(task, model: AaSPModel, extractor, probe: LinearProbeArguments, seed: int) -> dict:
    """Train / validation embeddings only; the probe of every weight decay; the best one's validation result."""
    embedder = ClipEmbedder(model, extractor, None, probe.device)
    indices = task.split_indices(None, validation_fraction=VALIDATION_FRACTION, seed=seed)
    parts = {}
    for part in ("train", "validation"):
        source, rows = indices[part]
        parts[part] = select_rows(embed_split(task.dataset[source], embedder, task, probe.batch_size), rows)
    scaler, layer, chosen, scores = select_weight_decay(
        parts["train"], parts["validation"], task.num_labels, False, seed, probe
    )
    correct = predicted_correctly(scaler, layer, parts["validation"])
    validation = parts["validation"]
    return {
        "correct": correct.astype(int).tolist(),
        "weight_decay": chosen,
        "validation_scores": scores,
        "between_class_share": between_class_share(validation["embeddings"], np.asarray(validation["targets"])),
    }


def task_lines(name: str, rows: dict, compare: list) -> list[str]:
    """The markdown table of one task's rows, then one line per compared pair."""
    n = len(next(iter(rows.values()))["correct"])
    lines = [
        f"## {name} (validation, n = {n})",
        "",
        "| model | accuracy % [Wilson 95 %] | weight decay | between-class share |",
        "|---|---|---|---|",
    ]
    for model_name, row in rows.items():
        summary = accuracy_with_interval(np.asarray(row["correct"], dtype=bool))
        low, high = summary["ci95_low"], summary["ci95_high"]
        lines.append(
            f"| {model_name} | {100 * summary['accuracy']:.1f} [{100 * low:.1f}, {100 * high:.1f}] | "
            f"{row['weight_decay']:g} | {100 * row['between_class_share']:.1f} % |"
        )
    for first, second in compare:
        a, b = (np.asarray(rows[model]["correct"], dtype=bool) for model in (first, second))
        p_value = mcnemar_exact(a, b)["p_value"]
        lines.append(f"\n{first} - {second}: {100 * (a.mean() - b.mean()):+.1f} points, McNemar p {p_value:.3g}")
    return [*lines, ""]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", required=True)
    parser.add_argument("--model", action="append", required=True, help="name=snapshot or name=checkpoint:teacher")
    parser.add_argument("--config_from", default=None, help="Snapshot whose config a checkpoint encoder uses.")
    parser.add_argument("--compare", nargs=2, action="append", default=[], metavar=("A", "B"))
    parser.add_argument("--seed", type=int, default=0, help="Seed of the probe.")
    parser.add_argument("--corpus_seed", type=int, default=0, help="Seed of the embedded corpus of a task.")
    parser.add_argument("--clips_per_class", type=int, default=None, help="Embedded corpus size (default: its own).")
    parser.add_argument("--probe_max_epochs", type=int, default=200)
    parser.add_argument("--output", required=True, help="Writes <output>.json and <output>.md.")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    torch.manual_seed(args.seed)
    probe = LinearProbeArguments(learning_rate=3e-4, max_epochs=args.probe_max_epochs, patience=20, device="cpu")
    models = dict(spec.split("=", 1) for spec in args.model)
    corpus = {"seed": args.corpus_seed} | ({"clips_per_class": args.clips_per_class} if args.clips_per_class else {})
    results: dict = {"command": " ".join(["python -m research.validation_diagnostics", *sys.argv[1:]]), "tasks": {}}
    lines = []
    for name in args.tasks:
        task = load_task(name, loader_kwargs=corpus)
        rows = {
            model_name: validation_probe(
                task,
                load_encoder(spec, args.config_from),
                AaSPFeatureExtractor.from_pretrained(feature_extractor_folder(spec, args.config_from)),
                probe,
                args.seed,
            )
            for model_name, spec in models.items()
        }
        results["tasks"][name] = rows
        lines += task_lines(name, rows, args.compare)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.output}.json").write_text(json.dumps(results, indent=2) + "\n")
    Path(f"{args.output}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
