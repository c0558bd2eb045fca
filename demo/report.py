# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The demo's report, from the JSON files its steps wrote (the last target of demo/Makefile).

    python demo/report.py --output_dir outputs/demo --tasks instrument keyword modulation --real_tasks sample_family

Per task: the fine-tune, the linear probe and each log-mel baseline, each accuracy with its number of test clips, its
95 % Wilson interval and the corpus build the step read (from the step's own output); then pre-training, the pipeline
check, the figures and the time per step. Writes <output_dir>/report.json and report.md, and prints report.md.
"""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from aasp_corpora.recordings import RECORDED_TASKS, recordings_name
from aasp_corpora.synthetic import EMBEDDED_TASKS, corpus_name
from transformers_aasp.modeling_aasp import PRETRAINING_LOSS_TERMS
from transformers_aasp.reporting.metrics import wilson_interval
from transformers_aasp.training.arguments import parse_arguments, run_main


# The Makefile's step names start with their kind (finetune_keyword, logmel_baseline_stats_keyword, ...).
STEP_KINDS = (
    "corpus_recordings",
    "corpus",
    "logmel_baseline",
    "pretrain",
    "finetune",
    "linear_eval",
    "make_figures",
    "classify",
)


@dataclass
class ReportArguments:
    output_dir: str = field(metadata={"help": "The demo's output folder (OUT in demo/Makefile)."})
    tasks: list[str] = field(metadata={"help": "Embedded (synthetic) tasks, in report order.", "nargs": "+"})
    real_tasks: list[str] = field(
        default_factory=list, metadata={"help": "Real-recordings tasks, reported after them.", "nargs": "*"}
    )
    feature_sets: list[str] = field(
        default_factory=lambda: ["stats", "full"], metadata={"help": "Log-mel baselines run.", "nargs": "+"}
    )


def step_output(path: Path, step: str, logs: Path) -> Path:
    """`path`, the output of `step`; a clear error naming the step and its log when it is missing."""
    if not path.is_file():
        raise FileNotFoundError(
            f"no output of the demo step '{step}': expected {path} (its log: {logs / f'{step}.log'}). Run the step "
            "(make -C demo) before the report."
        )
    return path


def read_step_output(path: Path, step: str, logs: Path) -> dict:
    return json.loads(step_output(path, step, logs).read_text(encoding="utf-8"))


def scored(accuracy: float, num_test_clips: int, corpus: str | None) -> dict:
    """An accuracy over `num_test_clips` clips with its 95 % Wilson interval and the corpus build it was measured on."""
    low, high = wilson_interval(round(accuracy * num_test_clips), num_test_clips)
    return {"accuracy": accuracy, "n": num_test_clips, "ci95": [low, high], "corpus": corpus}


def task_scores(out: Path, task: str, feature_sets: list[str]) -> dict:
    """{"chance", measure: scored(...)} for the fine-tune, the linear probe and each baseline of one task."""
    logs = out / "logs"
    finetune = read_step_output(out / "finetune" / task / "results.json", f"finetune_{task}", logs)
    probe = read_step_output(out / "linear_eval" / f"linear_eval_{task}_final.json", f"linear_eval_{task}", logs)
    scores = {
        "chance": 1 / {**EMBEDDED_TASKS, **RECORDED_TASKS}[task].num_classes,
        "fine-tune": scored(finetune["mean"], finetune["num_test_clips"], finetune["dataset_revision"]),
        "linear probe": scored(probe["mean"], probe["num_test_clips"], probe["dataset_revision"]),
    }
    for feature_set in feature_sets:
        path = out / "logmel_baseline" / feature_set / f"logmel_baseline_{task}.json"
        baseline = read_step_output(path, f"logmel_baseline_{feature_set}_{task}", logs)
        scores[f"log-mel {feature_set}"] = scored(
            baseline["accuracy"], baseline["num_test_clips"], baseline["dataset_revision"]
        )
    if "single_view" in finetune:
        scores["fine-tune, unshifted view only"] = scored(
            finetune["single_view"]["mean"], finetune["num_test_clips"], finetune["dataset_revision"]
        )
    return scores


def pretraining_summary(out: Path) -> dict:
    """The corpus pre-training read (its start record) and its last logged losses."""
    path = step_output(out / "pretrain" / "metrics.jsonl", "pretrain", out / "logs")
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    start = next((record for record in records if record.get("event") == "start"), {})
    training = [record for record in records if "event" not in record and "loss" in record]
    last = training[-1] if training else {}
    losses = {name: last[name] for name in PRETRAINING_LOSS_TERMS if name in last}
    return {"corpus": start.get("dataset_revision"), "steps": last.get("step"), "final_losses": losses}


def step_kind(step: str) -> str:
    """The kind of a Makefile step: finetune_keyword -> finetune."""
    kind = next((kind for kind in STEP_KINDS if step.startswith(kind)), None)
    if kind is None:
        raise ValueError(f"unknown demo step {step!r}; the steps are of the kinds {list(STEP_KINDS)}.")
    return kind


def step_seconds(logs: Path) -> dict[str, list[int]]:
    """{step: [start, end]} (seconds since the epoch) of every step that ran, from the Makefile's .time files."""
    return {path.stem: [int(value) for value in path.read_text().split()] for path in sorted(logs.glob("*.time"))}


def build_report(out: Path, tasks: list[str], feature_sets: list[str], real_tasks: list[str] = ()) -> dict:
    unknown = [task for task in tasks if task not in EMBEDDED_TASKS]
    unknown += [task for task in real_tasks if task not in RECORDED_TASKS]
    if unknown:
        raise ValueError(
            f"unknown task(s) {unknown}; the embedded tasks are {sorted(EMBEDDED_TASKS)}, the real-recordings tasks "
            f"{sorted(RECORDED_TASKS)}."
        )
    manifest = read_step_output(out / "corpus.json", "corpus", out / "logs")
    built = corpus_name(manifest["seed"], manifest["clips_per_class"])
    expected = {task: built for task in tasks}
    if real_tasks:
        recordings = read_step_output(out / "recordings.json", "corpus_recordings", out / "logs")
        expected.update({task: recordings_name(recordings["seed"]) for task in real_tasks})
    scores = {task: task_scores(out, task, feature_sets) for task in [*tasks, *real_tasks]}
    pretraining = pretraining_summary(out)
    pipeline = read_step_output(out / "classify.json", "classify", out / "logs")
    read = {"pretrain": (pretraining["corpus"], built), "classify": (pipeline["dataset_revision"], built)}
    for task, measures in scores.items():
        read.update(
            {
                f"{measure}: {task}": (value["corpus"], expected[task])
                for measure, value in measures.items()
                if measure != "chance"
            }
        )
    times = step_seconds(out / "logs")
    return {
        "corpus": {
            "built": built,
            "seed": manifest["seed"],
            "clips_per_class": manifest["clips_per_class"],
            "recordings": sorted({expected[task] for task in real_tasks}),
        },
        "corpus_read_by_step": {step: corpus for step, (corpus, _) in read.items()},
        "steps_on_another_corpus": sorted(step for step, (corpus, wanted) in read.items() if corpus != wanted),
        "scores": scores,
        "pretraining": pretraining,
        "pipeline": pipeline,
        "figures": sorted(str(path) for path in (out / "figures").glob("*.png")),
        "step_seconds": {step: end - start for step, (start, end) in times.items()},
        "output_dir": str(out),
        "cpu_count": os.cpu_count(),
        "wall_seconds": max(end for _, end in times.values()) - min(start for start, _ in times.values())
        if times
        else None,
    }


def percent(value: float) -> str:
    return f"{100 * value:.1f} %"


def score_table(scores: dict) -> list[str]:
    lines = [
        "| task | measure | test accuracy | 95 % interval | test clips | corpus read |",
        "|---|---|---|---|---|---|",
    ]
    for task, measures in scores.items():
        for measure, value in measures.items():
            if measure != "chance":
                low, high = value["ci95"]
                lines.append(
                    f"| {task} | {measure} | {percent(value['accuracy'])} | {percent(low)} - {percent(high)} | "
                    f"{value['n']} | {value['corpus']} |"
                )
        lines.append(f"| {task} | chance | {percent(measures['chance'])} | | | |")
    return lines


def format_report(report: dict) -> str:
    corpus, pretraining, pipeline = report["corpus"], report["pretraining"], report["pipeline"]
    lines = [
        "# AaSP demo report",
        "",
        f"Corpus built: {corpus['built']} (seed {corpus['seed']}, {corpus['clips_per_class']} clips per class)"
        + (f"; real recordings: {', '.join(corpus['recordings'])}." if corpus.get("recordings") else "."),
    ]
    if report["steps_on_another_corpus"]:
        lines.append(f"WARNING: these steps read another corpus: {', '.join(report['steps_on_another_corpus'])}.")
    else:
        lines.append("Every step read the corpus of its task (each step's own output names the corpus it read).")
    losses = ", ".join(f"{name} {value:.3f}" for name, value in pretraining["final_losses"].items())
    lines += [
        "",
        "Test accuracy per task: the fine-tuned model as pipeline('audio-classification') runs it (mean logits of "
        "shifted views; trained on the train split, its epoch chosen on the validation split), the linear probe of "
        "the frozen encoder (weight decay chosen on validation), and the log-mel baselines (examples/"
        "logmel_baseline.py: `stats` = per-bin mean and std, `full` = stats + delta std + modulation spectrum; C "
        "chosen on validation). The test split is scored once and chooses nothing. 95 % Wilson intervals.",
        "",
        *score_table(report["scores"]),
        "",
        f"Pre-training ({pretraining['corpus']}): {pretraining['steps']} steps, final {losses}.",
        "",
    ]
    predictions = pipeline["predictions"]
    right = sum(p["true_label"] == p["predicted_label"] for p in predictions)
    lines.append(
        f"pipeline('audio-classification') on held-out {pipeline['task']} clips of {pipeline['dataset_revision']}: "
        f"{right}/{len(predictions)} right."
    )
    lines += [
        f"- {Path(p['file']).name}: {p['true_label']} -> {p['predicted_label']} ({p['score']:.2f})"
        for p in predictions
    ]
    lines += [
        "",
        f"Outputs in {report['output_dir']}: pretrain/final (the encoder), finetune/<task> (checkpoints with model "
        "cards), linear_eval, logmel_baseline, logs (one per step).",
        "Figures:",
        *[f"- {path}" for path in report["figures"]],
    ]
    if report["wall_seconds"] is not None:
        kinds: dict[str, int] = {}
        for step, seconds in report["step_seconds"].items():
            kinds[step_kind(step)] = kinds.get(step_kind(step), 0) + seconds
        kinds = dict(sorted(kinds.items(), key=lambda item: STEP_KINDS.index(item[0])))
        per_kind = ", ".join(f"{kind} {seconds} s" for kind, seconds in kinds.items())
        lines += [
            "",
            f"Wall time {report['wall_seconds']} s on {report['cpu_count']} CPU cores; per kind of step (overlapping "
            f"under -j2): {per_kind}.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    (args,) = parse_arguments((ReportArguments,), argv)
    out = Path(args.output_dir)
    report = build_report(out, args.tasks, args.feature_sets, args.real_tasks)
    text = format_report(report)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "report.md").write_text(text, encoding="utf-8")
    print(text, end="")
    return report


if __name__ == "__main__":
    run_main(main)
