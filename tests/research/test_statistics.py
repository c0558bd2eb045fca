# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The paired tests of the evidence scripts: accuracy with its Wilson interval, exact McNemar, paired t and paired
bootstrap, against hand-computed values."""

import numpy as np
import pytest

from research.statistics import (
    accuracy_with_interval,
    mcnemar_exact,
    paired_bootstrap_difference,
    paired_difference,
)
from transformers_aasp.reporting.metrics import wilson_interval


def test_accuracy_with_interval_counts_the_correct_clips():
    result = accuracy_with_interval([1, 1, 0, 1, 1, 0, 1, 1, 1, 1] * 5)
    assert result["num_correct"] == 40 and result["n"] == 50 and result["accuracy"] == 0.8
    assert (result["ci95_low"], result["ci95_high"]) == wilson_interval(40, 50)
    with pytest.raises(ValueError, match="per-clip correctness"):
        accuracy_with_interval([0.5, 1.0])


@pytest.mark.parametrize(
    "only_a, only_b, p_value",
    [
        (3, 0, 0.25),  # 2 * 0.5^3
        (4, 0, 0.125),  # 2 * 0.5^4
        (5, 1, 0.21875),  # 2 * (C(6,0) + C(6,1)) / 2^6 = 2 * 7 / 64
        (2, 2, 1.0),  # balanced discordance: 2 * P(X <= 2), X ~ B(4, 1/2) = 2 * 11/16, capped at 1
        (0, 0, 1.0),  # no discordant clip
        (1, 9, 0.021484375),  # 2 * (1 + 10) / 1024
    ],
)
def test_exact_mcnemar_uses_only_the_discordant_clips(only_a, only_b, p_value):
    both, neither = 7, 3  # concordant clips change nothing
    correct_a = [1] * only_a + [0] * only_b + [1] * both + [0] * neither
    correct_b = [0] * only_a + [1] * only_b + [1] * both + [0] * neither
    result = mcnemar_exact(correct_a, correct_b)
    assert result["only_a_correct"] == only_a and result["only_b_correct"] == only_b
    assert result["n"] == only_a + only_b + both + neither
    assert result["p_value"] == pytest.approx(p_value, rel=1e-12)


def test_mcnemar_refuses_clips_that_do_not_pair():
    with pytest.raises(ValueError, match="same clips"):
        mcnemar_exact([1, 0, 1], [1, 0])


def test_paired_difference_has_a_student_t_interval_over_seeds():
    # Differences 0.02, 0.04, 0.06: mean 0.04, sample std 0.02, t(0.975, 2) = 4.302653 -> half-width 0.049683.
    result = paired_difference([0.52, 0.64, 0.76], [0.50, 0.60, 0.70])
    assert result["mean"] == pytest.approx(0.04, abs=1e-12) and result["std"] == pytest.approx(0.02, abs=1e-12)
    assert result["ci95"] == pytest.approx(4.302653 * 0.02 / np.sqrt(3), rel=1e-6)
    assert result["ci95_low"] == pytest.approx(0.04 - 0.049683, abs=1e-6) and result["n"] == 3
    with pytest.raises(ValueError, match="one pair per seed"):
        paired_difference([0.5, 0.6], [0.5])


def test_paired_bootstrap_interval_has_the_binomial_width_of_the_discordant_share():
    # A is right on 40 of 400 clips where B is wrong, and agrees with B elsewhere: the per-clip difference is 1 on a
    # share p = 0.1 of the clips, so the resampled mean has standard error sqrt(p (1 - p) / n) = 0.015 and the 95 %
    # interval is about 0.1 +- 1.96 * 0.015 = [0.0706, 0.1294]. 10000 resamples fix each bound to within ~0.002.
    rng = np.random.default_rng(1)
    correct_b = rng.random(400) < 0.6
    correct_a = correct_b.copy()
    flipped = rng.choice(np.flatnonzero(~correct_b), 40, replace=False)
    correct_a[flipped] = True
    result = paired_bootstrap_difference(correct_a, correct_b, num_resamples=10000, seed=0)
    assert result["mean"] == pytest.approx(0.1, abs=1e-12)
    assert result["ci95_low"] == pytest.approx(0.1 - 1.96 * 0.015, abs=0.004)
    assert result["ci95_high"] == pytest.approx(0.1 + 1.96 * 0.015, abs=0.004)


def test_paired_bootstrap_averages_the_difference_over_seeds():
    # Two seeds on 4 clips: differences per clip (1 + 0) / 2 = 0.5 on clip 0, 0 elsewhere -> mean 0.125.
    correct_a = np.array([[1, 1, 0, 0], [0, 1, 0, 0]])
    correct_b = np.array([[0, 1, 0, 0], [0, 1, 0, 0]])
    result = paired_bootstrap_difference(correct_a, correct_b, num_resamples=2000)
    assert result["mean"] == pytest.approx(0.125, abs=1e-12)
    assert 0.0 <= result["ci95_low"] <= 0.125 <= result["ci95_high"] <= 0.5
    identical = paired_bootstrap_difference(correct_b, correct_b, num_resamples=100)
    assert identical["ci95_low"] == identical["ci95_high"] == 0.0
