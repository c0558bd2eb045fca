# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The downstream metrics: hand-computed average precision, accuracy, the Trainer hook, the fold summary and the
Wilson interval of an accuracy."""

import numpy as np
import pytest
from scipy import stats
from transformers import EvalPrediction

from transformers_aasp.reporting.metrics import (
    accuracy,
    average_precision_per_class,
    build_compute_metrics,
    mean_average_precision,
    metric_name,
    summarize_scores,
    wilson_interval,
)


# Two classes, four clips. Class 0: scores 0.9 0.8 0.7 0.6 with positives at ranks 1 and 3:
#   AP = 0.5 * (1/1) + 0.5 * (2/3) = 5/6.
# Class 1: scores 0.1 0.4 0.4 0.2, positives are the first 0.4 and the 0.2. The two tied 0.4 form one threshold
#   (precision 1/2 at recall 1/2), then 0.2 (precision 2/3 at recall 1): AP = 0.5 * 1/2 + 0.5 * 2/3 = 7/12.
SCORES = np.array([[0.9, 0.1], [0.8, 0.4], [0.7, 0.4], [0.6, 0.2]])
TARGETS = np.array([[1, 0], [0, 1], [1, 0], [0, 1]])


def test_average_precision_matches_the_hand_computed_values():
    np.testing.assert_allclose(average_precision_per_class(SCORES, TARGETS), [5 / 6, 7 / 12], rtol=0, atol=1e-15)
    assert mean_average_precision(SCORES, TARGETS) == pytest.approx((5 / 6 + 7 / 12) / 2, abs=1e-15)


def test_tied_scores_are_one_step_whatever_their_order():
    swapped = SCORES[[0, 2, 1, 3]], TARGETS[[0, 2, 1, 3]]  # the tied 0.4 clips in the other order
    assert mean_average_precision(*swapped) == pytest.approx(mean_average_precision(SCORES, TARGETS), abs=1e-15)


def test_accuracy_is_the_fraction_of_correct_predictions():
    assert accuracy([0, 1, 2, 2], [0, 1, 1, 2]) == 0.75
    with pytest.raises(ValueError, match=r"must be 1-D and of equal length"):
        accuracy([[0, 1]], [[0, 1]])


def test_compute_metrics_scores_trainer_predictions_with_the_tasks_metric():
    logits = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6]]))
    single = build_compute_metrics(multi_label=False)(
        EvalPrediction(predictions=logits, label_ids=np.array([0, 1, 1, 2]))
    )
    assert single == {metric_name(False): 0.75}
    multi = build_compute_metrics(multi_label=True)
    # Tuple predictions (logits first, as a model with extra outputs returns them) are accepted.
    prediction = EvalPrediction(predictions=(SCORES, np.zeros(4)), label_ids=TARGETS)
    assert multi(prediction) == {metric_name(True): pytest.approx((5 / 6 + 7 / 12) / 2, abs=1e-15)}


@pytest.mark.parametrize("scores", [[0.81, 0.84, 0.79, 0.9, 0.86], [0.5, 0.7]])
def test_summary_interval_is_scipys_student_t_interval(scores):
    summary = summarize_scores(scores)
    low, high = stats.t.interval(0.95, len(scores) - 1, loc=np.mean(scores), scale=stats.sem(scores))
    assert summary["mean"] == pytest.approx(np.mean(scores), abs=1e-15)
    assert summary["std"] == pytest.approx(np.std(scores, ddof=1), abs=1e-15)
    assert summary["ci95"] == pytest.approx((high - low) / 2, rel=1e-12)
    assert summary["n"] == len(scores)


def test_summary_of_one_score_has_no_spread():
    assert summarize_scores([0.9]) == {"mean": 0.9, "std": 0.0, "ci95": 0.0, "n": 1}
    with pytest.raises(ValueError, match="non-empty 1-D"):
        summarize_scores([])


def test_wilson_interval_matches_hand_computed_bounds():
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(1.959964**2 / (10 + 1.959964**2))  # not empty at p = 0
    low, high = wilson_interval(40, 50)
    assert low == pytest.approx(0.6696, abs=1e-4) and high == pytest.approx(0.8876, abs=1e-4)
    # 49 of 96 correct: centre (49 + z^2/2) / (96 + z^2) = 0.5100, half-width 0.0981 -> [41.2, 60.8] %.
    low, high = wilson_interval(49, 96)
    assert low == pytest.approx(0.4120, abs=1e-4) and high == pytest.approx(0.6080, abs=1e-4)
    with pytest.raises(ValueError, match="num_trials > 0"):
        wilson_interval(3, 0)
