# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Downstream metrics: accuracy and macro mean average precision (mAP) for multi-label tasks, with scikit-learn.

mAP is the macro mean of `sklearn.metrics.average_precision_score` over the classes that have at least one positive
in `targets`. A class with no positives has no defined recall; scikit-learn scores it 0, which would lower mAP merely
because a small evaluation split misses a class, so such classes are left out (and counted in a warning).
"""

import numpy as np
from sklearn.metrics import accuracy_score, average_precision_score
from transformers import EvalPrediction
from transformers.utils import logging


logger = logging.get_logger(__name__)

ACCURACY = "accuracy"
MEAN_AVERAGE_PRECISION = "mAP"


def _as_2d_scores(scores, name: str) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"`{name}` must have shape (num_clips, num_classes), got shape {scores.shape}.")
    return scores


def average_precision_per_class(scores, targets) -> np.ndarray:
    """(C,) float64 average precision of every class (`sklearn.metrics.average_precision_score`: tied scores form one
    step) from (N, C) real-valued scores (only their order matters) and (N, C) multi-hot targets; NaN for classes
    without a positive target."""
    scores = _as_2d_scores(scores, "scores")
    targets = _as_2d_scores(targets, "targets")
    if scores.shape != targets.shape:
        raise ValueError(f"`scores` {scores.shape} and `targets` {targets.shape} must have the same shape.")
    if not np.isin(targets, (0.0, 1.0)).all():
        raise ValueError("`targets` must be multi-hot (every value 0 or 1).")
    if not np.isfinite(scores).all():
        raise ValueError("`scores` contain NaN or infinite values.")
    return np.array(
        [
            average_precision_score(targets[:, c], scores[:, c]) if targets[:, c].any() else np.nan
            for c in range(scores.shape[1])
        ]
    )


def mean_average_precision(scores, targets) -> float:
    """Macro mAP in [0, 1] of (N, C) scores against (N, C) multi-hot targets, over the classes with a positive."""
    per_class = average_precision_per_class(scores, targets)
    scored = ~np.isnan(per_class)
    if not scored.any():
        raise ValueError("mAP is undefined: no class has a positive target.")
    if not scored.all():
        logger.warning(
            f"mAP: {int((~scored).sum())} of {per_class.size} classes have no positive target and are left out of "
            "the macro average."
        )
    return float(per_class[scored].mean())


def accuracy(predictions, references) -> float:
    """Fraction of correct predictions: (N,) predicted class ids against (N,) true class ids."""
    predictions, references = np.asarray(predictions), np.asarray(references)
    if predictions.shape != references.shape or predictions.ndim != 1:
        raise ValueError(
            f"`predictions` {predictions.shape} and `references` {references.shape} must be 1-D and of equal length."
        )
    return float(accuracy_score(references, predictions))


def score_logits(logits, labels, multi_label: bool) -> dict[str, float]:
    """The task metric of (N, C) logits against (N,) class ids, or (N, C) multi-hot labels when `multi_label`:
    `{"mAP": ...}` for multi-label tasks, `{"accuracy": ...}` otherwise."""
    logits = _as_2d_scores(logits, "logits")
    if multi_label:
        return {MEAN_AVERAGE_PRECISION: mean_average_precision(logits, labels)}
    return {ACCURACY: accuracy(logits.argmax(axis=-1), np.asarray(labels).astype(np.int64))}


def build_compute_metrics(multi_label: bool):
    """A `compute_metrics` callable for `transformers.Trainer`."""

    def compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        return score_logits(logits, prediction.label_ids, multi_label)

    return compute_metrics


def metric_name(multi_label: bool) -> str:
    """The metric of a task: "mAP" for multi-label tagging, "accuracy" otherwise (`score_logits` returns this key)."""
    return MEAN_AVERAGE_PRECISION if multi_label else ACCURACY


def summarize_scores(scores) -> dict[str, float]:
    """Mean, sample standard deviation and the half-width of a 95 % Student-t interval of repeated scores."""
    from scipy import stats

    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1 or scores.size == 0:
        raise ValueError("`scores` must be a non-empty 1-D sequence.")
    mean = float(scores.mean())
    if scores.size == 1:
        return {"mean": mean, "std": 0.0, "ci95": 0.0, "n": 1}
    std = float(scores.std(ddof=1))
    half_width = float(stats.t.ppf(0.975, scores.size - 1) * std / np.sqrt(scores.size))
    return {"mean": mean, "std": std, "ci95": half_width, "n": int(scores.size)}


# ---- The interval of an accuracy ------------------------------------------------------------------------------------

WILSON_Z_95 = 1.959963984540054  # the 97.5 % quantile of the standard normal distribution


def wilson_interval(num_correct: int, num_trials: int, z: float = WILSON_Z_95) -> tuple[float, float]:
    """Wilson score interval (95 % with the default z) of a proportion num_correct / num_trials.

    Unlike the normal approximation p +- z sqrt(p (1 - p) / n), it stays inside [0, 1] and is not empty at p = 0 or
    p = 1, which matters for test sets of tens to hundreds of clips.
    """
    if num_trials <= 0 or not 0 <= num_correct <= num_trials:
        raise ValueError(f"Need 0 <= num_correct <= num_trials and num_trials > 0, got {num_correct} / {num_trials}.")
    p = num_correct / num_trials
    denominator = 1.0 + z**2 / num_trials
    centre = (p + z**2 / (2 * num_trials)) / denominator
    half_width = z / denominator * np.sqrt(p * (1 - p) / num_trials + z**2 / (4 * num_trials**2))
    return max(0.0, float(centre - half_width)), min(1.0, float(centre + half_width))
