"""research.representation_rank: effective rank and class share of embeddings, on arrays whose answer is known."""

import numpy as np
import pytest

from research.representation_rank import between_class_share, spectrum_statistics


def test_embeddings_on_one_line_have_rank_one_and_two_equal_directions_rank_two():
    rng = np.random.default_rng(0)
    line = np.outer(rng.standard_normal(200), rng.standard_normal(16))
    assert spectrum_statistics(line)["effective_rank"] == pytest.approx(1.0, abs=1e-6)
    plane = np.zeros((4, 8))
    plane[:, :2] = [[1, 0], [-1, 0], [0, 1], [0, -1]]  # equal variance on two orthogonal directions
    statistics = spectrum_statistics(plane)
    assert statistics["effective_rank"] == pytest.approx(2.0) and statistics["first_direction_share"] == 0.5


def test_the_between_class_share_is_one_when_clips_sit_on_their_class_means_and_zero_when_the_means_agree():
    targets = np.array([0, 0, 1, 1])
    assert between_class_share(np.array([[1.0, 2.0], [1.0, 2.0], [-1.0, 0.0], [-1.0, 0.0]]), targets) == 1.0
    assert between_class_share(np.array([[1.0, 0.0], [-1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]]), targets) == 0.0
