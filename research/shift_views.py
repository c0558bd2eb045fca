#!/usr/bin/env python
# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Shift-averaged views at evaluation (`tta.average_shifted_views`): what averaging V sub-patch time shifts adds to the
test accuracy of models that are already fine-tuned. Nothing is trained; each model is scored on its test split with
every V of `--views`, from the same weights.

    python -m research.shift_views --demo_runs outputs/demo_seeds                   # fine-tunes with the demo's recipe
    python -m research.shift_views --learning_quality_dir outputs/learning_quality  # 328 / 410 / 205 test clips

`--demo_runs` takes a folder of fine-tuned runs laid out as `<dir>/<task>/<run>` (e.g. the demo's fine-tune step,
`demo/configs/finetune.yaml`, run with several `--seed`s; each an examples/finetune.py output with its feature
extractor), scored on the embedded corpus's test split
(`--clips_per_class`, the demo's 80 by default). Reported per task: the mean accuracy over the runs (seeds) for each
V, and the paired difference V - 1 with its 95 % t-interval over the runs.

`--learning_quality_dir` takes the seed-0 fine-tunes that research/learning_quality.py saves
(`finetune/<init>-<arm>-<task>-s0/model`, mean pooling, random crops in training) and the evidence corpus it cached
(`features.pt`). Reported per model: the accuracy for each V and the difference V - 1 with a 95 % normal interval over
the test clips (paired: the same clips, each counted +1, 0 or -1), so that plain and AaPE stems can be compared.

Both also report how often the shift alone changes the answer: the fraction of test clips whose top-1 label is not the
same when the clip starts 0, 4, 8 or 12 frames later (each scored as one view).

Results: <--results_dir>/<--result_name>.json (research/results by default). A few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from bench.common import mean_ci, write_results
from transformers_aasp.tta import average_shifted_views, shift_offsets, shifted_views


RESULTS_DIR = Path(__file__).resolve().parent / "results"  # this script's results


CHANGE_RATE_VIEWS = 4  # the label change rate compares the clip started 0, 4, 8 and 12 frames later (p_t = 16)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo_runs", type=Path, help="A folder of fine-tuned runs, <dir>/<task>/<run>.")
    parser.add_argument("--clips_per_class", type=int, default=80, help="Corpus size the demo runs were trained on.")
    parser.add_argument("--learning_quality_dir", type=Path, help="--work_dir of research/learning_quality.py.")
    parser.add_argument("--views", nargs="+", type=int, default=[1, 2, 4, 8, 16])
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--result_name", default="shift_views")
    parser.add_argument("--results_dir", type=Path, default=RESULTS_DIR, help="Where <result_name>.json goes.")
    args = parser.parse_args()
    if args.demo_runs is None and args.learning_quality_dir is None:
        parser.error("give --demo_runs, --learning_quality_dir or both")
    if 1 not in args.views:
        parser.error("--views must include 1: every difference is against the unshifted view")
    return args


@torch.no_grad()
def correct_per_view_count(model, values, mask, labels, views: list[int], batch_size: int) -> dict[int, np.ndarray]:
    """{V: (N,) bool, clip right with V views} for (N, T, F) frames, their (N, T) mask and (N,) labels."""
    model.eval()
    correct = {}
    for num_views in views:
        predictions = torch.cat(
            [
                average_shifted_views(model, values[i : i + batch_size], mask[i : i + batch_size], num_views).argmax(
                    -1
                )
                for i in range(0, len(values), batch_size)
            ]
        )
        correct[num_views] = (predictions == labels).numpy()
    return correct


@torch.no_grad()
def label_change_rate(model, values, mask, num_views: int, batch_size: int) -> float:
    """Fraction of the (N, T, F) clips whose top-1 label is not the same for each of the `num_views` shifted views
    (each scored alone): how often a sub-patch shift alone changes the answer."""
    model.eval()
    patch = model.config.time_patch_size
    offsets = shift_offsets(num_views, patch)
    labels = []
    for i in range(0, len(values), batch_size):
        views, view_mask = shifted_views(values[i : i + batch_size], mask[i : i + batch_size], offsets, patch)
        labels.append(model(views, attention_mask=view_mask).logits.argmax(-1).unflatten(0, (len(offsets), -1)))
    labels = torch.cat(labels, dim=1)  # (V, N)
    return float((labels != labels[0]).any(0).float().mean())


def paired_clip_difference(correct: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """Accuracy difference in points between two (N,) bool vectors on the same clips, and the half-width of its 95 %
    normal interval over the clips (each clip counts +1, 0 or -1; N is in the hundreds here)."""
    differences = 100 * (correct.astype(float) - reference.astype(float))
    return float(differences.mean()), float(1.96 * differences.std(ddof=1) / np.sqrt(len(differences)))


def demo_test_split(task: str, clips_per_class: int, feature_extractor):
    """The embedded task's test clips as one padded batch: (N, T, F) frames, (N, T) mask, (N,) labels."""
    from transformers_aasp.data.loading import resolve_task

    benchmark = resolve_task(task, None, corpus_clips_per_class=clips_per_class)
    test = benchmark.splits(None, validation_fraction=None, seed=0)["test"]
    waves = [row["audio"].get_all_samples().data.mean(0).numpy() for row in test]
    batch = feature_extractor(waves, sampling_rate=feature_extractor.sampling_rate, return_tensors="pt")
    return batch["input_values"], batch["attention_mask"], torch.tensor(test["label"])


def score_demo_runs(args) -> dict:
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    import transformers_aasp  # noqa: F401

    runs = sorted(path for path in args.demo_runs.glob("*/*") if (path / "results.json").is_file())
    if not runs:
        raise SystemExit(f"No fine-tuned runs (<task>/<run>/results.json) under {args.demo_runs}.")
    per_task, splits = {}, {}
    for run in runs:
        task = json.loads((run / "results.json").read_text())["benchmark"]
        if task not in splits:
            splits[task] = demo_test_split(task, args.clips_per_class, AutoFeatureExtractor.from_pretrained(run))
        model = AutoModelForAudioClassification.from_pretrained(run)
        correct = correct_per_view_count(model, *splits[task], args.views, args.batch_size)
        accuracy = {num_views: float(hits.mean()) for num_views, hits in correct.items()}
        changed = label_change_rate(model, *splits[task][:2], CHANGE_RATE_VIEWS, args.batch_size)
        per_task.setdefault(task, {})[run.name] = {**accuracy, "label_change_rate": changed}
        print(
            f"{task:<11} {run.name:<14} "
            + "  ".join(f"V={v}: {100 * a:5.1f}" for v, a in accuracy.items())
            + f"  label changes with the shift: {100 * changed:.1f} % of clips"
        )
    summary = {}
    for task, by_run in per_task.items():
        rows = {}
        for num_views in args.views:
            scores = [100 * accuracy[num_views] for accuracy in by_run.values()]
            differences = [100 * (accuracy[num_views] - accuracy[1]) for accuracy in by_run.values()]
            rows[num_views] = {"mean": mean_ci(scores), "minus_one_view": mean_ci(differences)}
            mean, (gain, half) = rows[num_views]["mean"][0], rows[num_views]["minus_one_view"]
            print(
                f"{task:<11} V={num_views:<2} mean {mean:5.1f} %   V - 1: {gain:+5.1f} ± {half:.1f} ({len(by_run)} runs)"
            )
        changed = mean_ci([100 * run["label_change_rate"] for run in by_run.values()])
        print(f"{task:<11} label changes with a shift of 0 / 4 / 8 / 12 frames: {changed[0]:.1f} ± {changed[1]:.1f} %")
        summary[task] = {
            "runs": by_run,
            "num_test_clips": len(splits[task][2]),
            "views": rows,
            "label_change_rate_percent": changed,
        }
    return summary


def score_learning_quality(args) -> dict:
    from research.ablations import from_pretrained  # the fine-tunes of research arms load through their arm
    from transformers_aasp import AaSPForAudioClassification

    store = torch.load(args.learning_quality_dir / "features.pt", weights_only=True)
    folders = sorted((args.learning_quality_dir / "finetune").glob("*-s0"))
    results = {}
    for folder in folders:
        if not (folder / "model" / "config.json").is_file():
            continue
        init, arm, task = folder.name.rsplit("-", 1)[0].split("-", 2)
        part = store["data"][f"{task}/test"]
        values, lengths, labels = part["input_values"].float(), part["lengths"], part["labels"]
        mask = (torch.arange(values.shape[1])[None] < lengths[:, None]).long()
        model = from_pretrained(AaSPForAudioClassification, folder / "model")
        correct = correct_per_view_count(model, values, mask, labels, args.views, args.batch_size)
        changed = label_change_rate(model, values, mask, CHANGE_RATE_VIEWS, args.batch_size)
        row = {"init": init, "arm": arm, "task": task, "n": len(labels), "label_change_rate": changed, "views": {}}
        for num_views, hits in correct.items():
            difference = paired_clip_difference(hits, correct[1])
            row["views"][num_views] = {"accuracy": 100 * float(hits.mean()), "minus_one_view": difference}
        results[folder.name] = row
        line = "  ".join(
            f"V={v}: {r['accuracy']:5.1f} ({r['minus_one_view'][0]:+.1f} ± {r['minus_one_view'][1]:.1f})"
            for v, r in row["views"].items()
        )
        print(
            f"{init:<10} {arm:<9} {task:<10} n={len(labels)}  {line}  label changes {100 * changed:.1f} %", flush=True
        )
    return results


def main() -> None:
    args = parse_args()
    torch.manual_seed(0)
    payload = {"views": args.views}
    if args.demo_runs is not None:
        payload["demo_runs"] = {"folder": str(args.demo_runs)}
        payload["demo_runs"].update(score_demo_runs(args))
    if args.learning_quality_dir is not None:
        payload["learning_quality"] = score_learning_quality(args)
    print(f"Wrote {write_results(args.result_name, payload, args.results_dir)}")


if __name__ == "__main__":
    main()
