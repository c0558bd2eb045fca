# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Downstream metrics: accuracy and macro mean average precision (mAP) for multi-label tasks, with scikit-learn.

mAP convention (documented, and pinned by tests):
    * Per class, average precision is the step-wise area under the precision-recall curve,
      AP = sum_k (R_k - R_{k-1}) * P_k over the distinct score thresholds k (tied scores form one step). This is the
      definition of `sklearn.metrics.average_precision_score`.
    * The macro mean is taken over the classes that have at least one positive in `targets`. A class with no
      positives has no defined recall; scikit-learn scores it 0 (with a warning), which would lower mAP merely
      because a small evaluation split misses a class. We leave such classes out and report how many there were.
      When every class has a positive, the result equals `average_precision_score(targets, scores, average="macro")`.
"""

import numpy as np
from sklearn.metrics import accuracy_score
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
    """Average precision of every class.

    Args:
        scores: (N, C) real-valued scores (logits or probabilities; only their order matters).
        targets: (N, C) binary multi-hot targets.

    Returns:
        (C,) float64 array; NaN for classes without a positive target.
    """
    scores = _as_2d_scores(scores, "scores")
    targets = _as_2d_scores(targets, "targets")
    if scores.shape != targets.shape:
        raise ValueError(f"`scores` {scores.shape} and `targets` {targets.shape} must have the same shape.")
    if not np.isin(targets, (0.0, 1.0)).all():
        raise ValueError("`targets` must be multi-hot (every value 0 or 1).")
    if not np.isfinite(scores).all():
        raise ValueError("`scores` contain NaN or infinite values.")
    return np.array([_average_precision(scores[:, c], targets[:, c]) for c in range(scores.shape[1])])


def _average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
    """AP of one class; `scores` and `targets` are (N,)."""
    num_positives = targets.sum()
    if num_positives == 0:
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores, sorted_targets = scores[order], targets[order]
    true_positives = np.cumsum(sorted_targets)
    # The last index of every run of tied scores is one threshold of the precision-recall curve.
    threshold_ends = np.flatnonzero(np.r_[sorted_scores[1:] != sorted_scores[:-1], True])
    precision = true_positives[threshold_ends] / (threshold_ends + 1)
    recall = true_positives[threshold_ends] / num_positives
    recall_steps = np.diff(np.r_[0.0, recall])
    return float(np.sum(recall_steps * precision))


def mean_average_precision(scores, targets) -> float:
    """Macro mAP over the classes with at least one positive (see the module docstring).

    Args:
        scores: (N, C) scores. targets: (N, C) multi-hot.

    Returns:
        mAP in [0, 1].
    """
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
    """Fraction of correct predictions.

    Args:
        predictions: (N,) predicted class ids. references: (N,) true class ids.
    """
    predictions, references = np.asarray(predictions), np.asarray(references)
    if predictions.shape != references.shape or predictions.ndim != 1:
        raise ValueError(
            f"`predictions` {predictions.shape} and `references` {references.shape} must be 1-D and of equal length."
        )
    return float(accuracy_score(references, predictions))


def score_logits(logits, labels, multi_label: bool) -> dict[str, float]:
    """The benchmark metric for a batch of logits.

    Args:
        logits: (N, C). labels: (N,) class ids, or (N, C) multi-hot when `multi_label`.

    Returns:
        `{"mAP": ...}` for multi-label tasks, `{"accuracy": ...}` otherwise.
    """
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
