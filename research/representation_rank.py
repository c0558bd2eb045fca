# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Does a learning-curve encoder collapse? Spectrum and class structure of its cached clip embeddings.

    python -m research.representation_rank --embeddings outputs/learning_curve_real/embeddings \
        --output research/results/representation_rank_real

Reads the train-split embeddings that `research.learning_curve` cached for every run, step and task (`embeddings`
(N, D), `targets` (N,), `valid` (N,)) and reports per (run, step, task): the effective rank of the centred embeddings
(exp of the entropy of the normalised squared singular values; 1 = every clip on one line), the share of variance
on the first direction, and the between-class share of the total variance (trace of the class-mean scatter over the
trace of the total scatter: how much of what varies is the label). No test split is read.
"""

import argparse
import json
import re
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file


RUN_STEP = re.compile(r"^(?P<run>.+)-step(?P<step>\d+)-[0-9a-f]+$")


def spectrum_statistics(embeddings: np.ndarray) -> dict:
    """Effective rank and first-direction share of `embeddings` (N, D) after centring."""
    centred = embeddings - embeddings.mean(axis=0)
    singular = np.linalg.svd(centred.astype(np.float64), compute_uv=False)
    shares = singular**2 / np.sum(singular**2)
    entropy = -np.sum(shares * np.log(np.clip(shares, 1e-300, None)))
    return {"effective_rank": float(np.exp(entropy)), "first_direction_share": float(shares[0])}


def between_class_share(embeddings: np.ndarray, targets: np.ndarray) -> float:
    """Trace of the between-class scatter over the trace of the total scatter of `embeddings` (N, D), in [0, 1]."""
    centred = embeddings.astype(np.float64) - embeddings.mean(axis=0)
    total = np.sum(centred**2)
    between = sum(
        np.sum(targets == label) * np.sum(centred[targets == label].mean(axis=0) ** 2) for label in set(targets)
    )
    return float(between / total)


def embedding_rows(root: Path):
    """(run, step, task, train split arrays) for every cached train split under `root`."""
    for folder in sorted(root.iterdir()):
        match = RUN_STEP.match(folder.name)
        if match is None:
            continue
        for task_folder in sorted(folder.iterdir()):
            train = task_folder / "train.safetensors"
            if train.is_file():
                yield match["run"], int(match["step"]), task_folder.name.split("-")[0], load_file(str(train))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embeddings", required=True, help="A learning curve's <work_dir>/embeddings folder.")
    parser.add_argument("--output", required=True, help="Writes <output>.json and <output>.md.")
    args = parser.parse_args()
    rows = []
    for run, step, task, arrays in embedding_rows(Path(args.embeddings)):
        valid = arrays["valid"].astype(bool)
        embeddings, targets = arrays["embeddings"][valid], arrays["targets"][valid]
        statistics = spectrum_statistics(embeddings)
        rows.append(
            {"run": run, "step": step, "task": task, "clips": int(valid.sum()), "dimensions": embeddings.shape[1]}
            | statistics
            | {"between_class_share": between_class_share(embeddings, targets)}
        )
    rows.sort(key=lambda row: (row["task"], row["run"], row["step"]))
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.output}.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = [
        "| task | run | step | train clips | effective rank | first direction | between-class share |",
        "|---|---|---|---|---|---|---|",
        *[
            f"| {r['task']} | {r['run']} | {r['step']} | {r['clips']} | {r['effective_rank']:.1f} | "
            f"{100 * r['first_direction_share']:.0f} % | {100 * r['between_class_share']:.1f} % |"
            for r in rows
        ],
    ]
    Path(f"{args.output}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
