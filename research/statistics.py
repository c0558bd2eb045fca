# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Paired tests of the evidence scripts: two classifiers scored on the same test clips and seeds.

The accuracy of one classifier with its 95 % Wilson interval (`accuracy_with_interval`), the exact McNemar test of two
classifiers' per-clip correctness, the paired Student-t interval over seeds and the paired bootstrap over test clips.
"""

import numpy as np

from transformers_aasp.reporting.metrics import summarize_scores, wilson_interval


def _as_correctness(correct, name: str) -> np.ndarray:
    correct = np.asarray(correct)
    if correct.size == 0 or not np.isin(correct, (0, 1)).all():
        raise ValueError(f"`{name}` must be a non-empty array of per-clip correctness (True/False or 1/0).")
    return correct.astype(bool)


def accuracy_with_interval(correct) -> dict:
    """{"accuracy", "num_correct", "n", "ci95_low", "ci95_high"} (95 % Wilson interval) of (N,) per-clip
    correctness."""
    correct = _as_correctness(correct, "correct")
    if correct.ndim != 1:
        raise ValueError(f"`correct` must have shape (num_clips,), got {correct.shape}.")
    num_correct, n = int(correct.sum()), int(correct.size)
    low, high = wilson_interval(num_correct, n)
    return {"accuracy": num_correct / n, "num_correct": num_correct, "n": n, "ci95_low": low, "ci95_high": high}


def mcnemar_exact(correct_a, correct_b) -> dict:
    """Exact McNemar test of two classifiers from their (N,) per-clip correctness on the same clips, in order.

    Only the b clips that only A gets right and the c that only B gets right count: under equal accuracy each is a
    fair coin, so the two-sided p-value is the exact binomial one (1 without discordant clips).

    Returns:
        {"only_a_correct": b, "only_b_correct": c, "n": N, "p_value"}.
    """
    from scipy import stats

    correct_a, correct_b = _as_correctness(correct_a, "correct_a"), _as_correctness(correct_b, "correct_b")
    if correct_a.shape != correct_b.shape or correct_a.ndim != 1:
        raise ValueError(
            f"`correct_a` {correct_a.shape} and `correct_b` {correct_b.shape} must be 1-D and of equal length: "
            "the same clips, in the same order."
        )
    only_a, only_b = int((correct_a & ~correct_b).sum()), int((~correct_a & correct_b).sum())
    p_value = 1.0 if only_a + only_b == 0 else float(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue)
    return {"only_a_correct": only_a, "only_b_correct": only_b, "n": int(correct_a.size), "p_value": p_value}


def paired_difference(scores_a, scores_b) -> dict:
    """Mean of the paired differences a - b of (S,) scores, pair i sharing seed i, with a 95 % Student-t interval
    that covers the variation between seeds (`paired_bootstrap_difference` covers the sampling of the test clips).

    Returns:
        {"mean", "std", "ci95" (half-width), "ci95_low", "ci95_high", "n"} of a - b; with one pair, ci95 is 0.
    """
    scores_a, scores_b = np.asarray(scores_a, dtype=np.float64), np.asarray(scores_b, dtype=np.float64)
    if scores_a.shape != scores_b.shape or scores_a.ndim != 1:
        raise ValueError(
            f"`scores_a` {scores_a.shape} and `scores_b` {scores_b.shape} must be 1-D and of equal length (one pair "
            "per seed)."
        )
    summary = summarize_scores(scores_a - scores_b)
    return {**summary, "ci95_low": summary["mean"] - summary["ci95"], "ci95_high": summary["mean"] + summary["ci95"]}


def paired_bootstrap_difference(correct_a, correct_b, num_resamples: int = 10000, seed: int = 0) -> dict:
    """95 % percentile-bootstrap interval of the accuracy difference A - B (averaged over seeds), resampling test
    clips: `correct_a` / `correct_b` are (S, N) or (N,) per-clip correctness for S seeds on the same N clips, and
    every resample draws the same N clips with replacement for A, B and every seed.

    Returns:
        {"mean" (the observed difference), "ci95_low", "ci95_high", "num_resamples"}.
    """
    correct_a, correct_b = _as_correctness(correct_a, "correct_a"), _as_correctness(correct_b, "correct_b")
    if correct_a.shape != correct_b.shape or correct_a.ndim not in (1, 2):
        raise ValueError(
            f"`correct_a` {correct_a.shape} and `correct_b` {correct_b.shape} must both be (num_seeds, num_clips) or "
            "(num_clips,)."
        )
    per_clip = (correct_a.astype(np.float64) - correct_b).reshape(-1, correct_a.shape[-1]).mean(axis=0)  # (N,)
    rng = np.random.default_rng(seed)
    resampled = np.concatenate(
        [
            per_clip[rng.integers(0, per_clip.size, size=(min(1000, num_resamples - start), per_clip.size))].mean(1)
            for start in range(0, num_resamples, 1000)
        ]
    )
    low, high = np.percentile(resampled, [2.5, 97.5])
    return {
        "mean": float(per_clip.mean()),
        "ci95_low": float(low),
        "ci95_high": float(high),
        "num_resamples": num_resamples,
    }
