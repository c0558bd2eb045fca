# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Model cards for AaSP checkpoints, rendered from the templates in `reporting/templates/` with `huggingface_hub`.

Two kinds of card:
    * `pretrained_card`: a self-supervised encoder (pipeline_tag `feature-extraction`), optionally with measured
      linear-evaluation results;
    * `finetuned_card`: a classifier (pipeline_tag `audio-classification`) with its measured test results and
      `base_model`.
Both write `library_name: transformers` and a `model-index` holding only numbers passed in by the caller (measured by
the script that trained the checkpoint): nothing is typed by hand.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData


TEMPLATE_DIR = Path(os.environ.get("AASP_MODEL_CARD_DIR", Path(__file__).resolve().parent / "templates"))
PRETRAINED_TEMPLATE = "pretrained.md"
FINETUNED_TEMPLATE = "finetuned.md"

PAPER_ARXIV_ID = "2512.03637"
CITATION = """@article{yamamoto2025aasp,
  title   = {AaSP: Aliasing-aware Self-Supervised Pre-Training for Audio Spectrogram Transformers},
  author  = {Yamamoto, Kohei and Okusa, Kosuke},
  journal = {arXiv preprint arXiv:2512.03637},
  year    = {2025}
}"""
COMMON_TAGS = ["audio", "aasp", "audio-spectrogram-transformer", "transformers_aasp"]

# Metric ids on the Hub and how they are shown.
METRIC_TYPES = {"accuracy": "accuracy", "mAP": "mean_average_precision"}
METRIC_DISPLAY_NAMES = {"accuracy": "Accuracy", "mAP": "mAP"}


@dataclass
class ReportedResult:
    """One measured score for the card table and the `model-index`.

    Attributes:
        dataset_id: Hub dataset id (or local path) the score was measured on.
        dataset_name: readable name, e.g. "ESC-50".
        metric: "accuracy" or "mAP" (fraction in [0, 1]).
        value: the measured value (a mean when several runs or folds were averaged).
        split: evaluation split, e.g. "test" or "5-fold CV".
        protocol: a few words on how it was measured, e.g. "fine-tuning" or "linear evaluation, 3 seeds".
        spread: optional 95 % interval half-width or standard deviation, shown as +- in the table.
        dataset_config: dataset config name passed to `load_dataset`, if any.
    """

    dataset_id: str
    dataset_name: str
    metric: str
    value: float
    split: str = "test"
    protocol: str = "fine-tuning"
    spread: float | None = None
    dataset_config: str | None = None

    def __post_init__(self):
        if self.metric not in METRIC_TYPES:
            raise ValueError(f"Unknown metric {self.metric!r}; expected one of {sorted(METRIC_TYPES)}.")

    @property
    def metric_name(self) -> str:
        return METRIC_DISPLAY_NAMES[self.metric]

    @property
    def display_value(self) -> str:
        text = f"{100 * self.value:.2f}"
        return text if self.spread is None else f"{text} ± {100 * self.spread:.2f}"

    def to_eval_result(self, task_type: str) -> EvalResult:
        return EvalResult(
            task_type=task_type,
            dataset_type=self.dataset_id,
            dataset_name=self.dataset_name,
            dataset_config=self.dataset_config,
            dataset_split=self.split,
            metric_type=METRIC_TYPES[self.metric],
            metric_name=f"{self.metric_name} ({self.protocol})",
            metric_value=round(float(self.value), 6),
        )


def _template(template_path: str | os.PathLike | None, default_name: str) -> Path:
    path = Path(template_path) if template_path is not None else TEMPLATE_DIR / default_name
    if not path.is_file():
        raise FileNotFoundError(
            f"Model card template {path} not found. Pass `template_path=` or set AASP_MODEL_CARD_DIR to the "
            "folder holding pretrained.md and finetuned.md."
        )
    return path


def _stringify(training_args: dict) -> dict[str, str]:
    return {str(key): str(value) for key, value in training_args.items() if value is not None}


def _model_index_name(model_name: str, results: list[ReportedResult]) -> str | None:
    return model_name if results else None


def pretrained_card(
    *,
    model_name: str,
    pretraining_datasets: list[str],
    training_args: dict,
    metrics: dict | None = None,
    results: list[ReportedResult] | None = None,
    repo_id: str | None = None,
    license: str = "apache-2.0",
    template_path: str | os.PathLike | None = None,
) -> ModelCard:
    """Card of a pre-trained (self-supervised) AaSP encoder.

    Args:
        model_name: name shown as the title and in the `model-index`.
        pretraining_datasets: Hub dataset ids (or descriptions) used for pre-training; Hub ids go into `datasets:`.
        training_args: hyper-parameters shown in the "Training procedure" table.
        metrics: final pre-training metrics (e.g. `{"loss": 0.41}`), shown in their own table.
        results: measured downstream results (e.g. linear evaluation) for the table and the `model-index`.
        repo_id: Hub repo id used in the loading snippet (defaults to `model_name`).
    """
    if not pretraining_datasets:
        raise ValueError("`pretraining_datasets` must name at least one dataset.")
    results = list(results or [])
    card_data = ModelCardData(
        model_name=_model_index_name(model_name, results),
        library_name="transformers",
        pipeline_tag="feature-extraction",
        license=license,
        tags=[*COMMON_TAGS, "self-supervised-learning"],
        datasets=[name for name in pretraining_datasets if "/" in name] or None,
        metrics=sorted({METRIC_TYPES[r.metric] for r in results}) or None,
        eval_results=[r.to_eval_result("audio-classification") for r in results] or None,
    )
    return ModelCard.from_template(
        card_data,
        template_path=str(_template(template_path, PRETRAINED_TEMPLATE)),
        model_name=model_name,
        repo_id=repo_id or model_name,
        pretraining_datasets=pretraining_datasets,
        training_args=_stringify(training_args),
        training_metrics={str(k): v for k, v in (metrics or {}).items()},
        results=results,
        citation=CITATION,
    )


def finetuned_card(
    *,
    model_name: str,
    base_model: str | None,
    dataset_id: str,
    dataset_name: str,
    label_names: list[str],
    multi_label: bool,
    results: list[ReportedResult],
    training_args: dict,
    protocol: str,
    clip_seconds: float,
    dataset_config: str | None = None,
    fold_scores: dict | None = None,
    repo_id: str | None = None,
    license: str = "apache-2.0",
    template_path: str | os.PathLike | None = None,
) -> ModelCard:
    """Card of a fine-tuned AaSP classifier.

    Args:
        model_name: title and `model-index` name.
        base_model: the checkpoint that was fine-tuned (a Hub id goes into `base_model:`; a local path is omitted).
        dataset_id / dataset_name / dataset_config: the training data.
        label_names: class names in label-id order.
        multi_label: True for multi-label tagging (sigmoid outputs).
        results: measured results (at least one) for the table and `model-index`.
        training_args: hyper-parameters shown in the card.
        protocol: how train and test were split, e.g. "5-fold CV, fold 3 held out".
        clip_seconds: clip length used in training.
        fold_scores: optional `{fold: score}` of a cross-validation run.
    """
    if not results:
        raise ValueError("A fine-tuned card needs at least one measured result.")
    hub_base_model = base_model if base_model and not Path(base_model).exists() else None
    card_data = ModelCardData(
        model_name=model_name,
        library_name="transformers",
        pipeline_tag="audio-classification",
        license=license,
        tags=[*COMMON_TAGS, "multi-label" if multi_label else "single-label"],
        datasets=[dataset_id] if not Path(dataset_id).exists() else None,
        metrics=sorted({METRIC_TYPES[r.metric] for r in results}),
        base_model=hub_base_model,
        eval_results=[r.to_eval_result("audio-classification") for r in results],
    )
    return ModelCard.from_template(
        card_data,
        template_path=str(_template(template_path, FINETUNED_TEMPLATE)),
        model_name=model_name,
        repo_id=repo_id or model_name,
        base_model=hub_base_model,
        task_description=f"{'multi-label tagging' if multi_label else 'classification'} on {dataset_name}",
        problem_description="Multi-label tagging" if multi_label else "Single-label classification",
        num_labels=len(label_names),
        example_labels=", ".join(label_names[:3]),
        dataset_id=dataset_id,
        dataset_name=dataset_name,
        dataset_config=dataset_config,
        clip_seconds=clip_seconds,
        clip_seconds_int=max(1, round(clip_seconds)),
        protocol=protocol,
        training_args=_stringify(training_args),
        results=results,
        fold_scores=fold_scores,
        citation=CITATION,
    )
