# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The demo's pipeline check: reload a fine-tuned checkpoint with pipeline("audio-classification") and classify
held-out (test split) clips of its task, one label after another.

    python demo/classify.py --model outputs/demo/finetune/keyword --task keyword --output outputs/demo/classify.json

Writes {"task", "dataset_revision" (the corpus build the clips came from), "predictions": [{"file", "true_label",
"predicted_label", "score"}]}.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

from transformers import pipeline

import transformers_aasp  # noqa: F401  (registers AaSP with the Auto classes and the pipeline)
from transformers_aasp.data.loading import resolve_task
from transformers_aasp.data.sources import undecoded_audio
from transformers_aasp.training.arguments import parse_arguments, run_main, setup_logging


@dataclass
class ClassifyArguments:
    model: str = field(metadata={"help": "Fine-tuned checkpoint folder."})
    task: str = field(metadata={"help": "Embedded task whose test clips are classified."})
    output: str = field(metadata={"help": "JSON file the predictions are written to."})
    num_clips: int = field(default=6, metadata={"help": "How many test clips."})
    corpus_seed: int = field(default=0, metadata={"help": "Seed of the embedded corpus build to read."})
    corpus_clips_per_class: int | None = field(default=None, metadata={"help": "Size of that corpus build."})


def one_label_after_another(labels: list[str], count: int) -> list[int]:
    """Indices of up to `count` rows, cycling through the labels (in order of first appearance) so that the examples
    show different classes."""
    by_label: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        by_label.setdefault(label, []).append(index)
    picked, depth = [], 0
    while len(picked) < count and any(len(rows) > depth for rows in by_label.values()):
        picked += [rows[depth] for rows in by_label.values() if len(rows) > depth][: count - len(picked)]
        depth += 1
    return picked


def main(argv: list[str] | None = None) -> dict:
    (args,) = parse_arguments((ClassifyArguments,), argv)
    setup_logging("warning")
    task = resolve_task(args.task, corpus_seed=args.corpus_seed, corpus_clips_per_class=args.corpus_clips_per_class)
    test = undecoded_audio(task.dataset[task.spec.test_split])
    labels = [task.label_names[label] for label in test["label"]]
    classifier = pipeline("audio-classification", model=args.model, device="cpu")
    predictions = []
    for index in one_label_after_another(labels, args.num_clips):
        path = test[index]["audio"]["path"]
        best = classifier(path, top_k=1)[0]
        predictions.append(
            {"file": path, "true_label": labels[index], "predicted_label": best["label"], "score": best["score"]}
        )
        print(f"{Path(path).name}: {labels[index]} -> {best['label']} ({best['score']:.2f})")
    result = {"task": args.task, "dataset_revision": task.revision, "predictions": predictions}
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    run_main(main)
