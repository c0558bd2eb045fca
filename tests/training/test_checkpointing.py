# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The training state a pre-training checkpoint stores: JSON only, and refused when altered."""

import json

import pytest

from transformers_aasp.training.checkpointing import TRAINING_STATE_FILE, CheckpointError, TrainingProgress


def test_training_state_round_trips_through_json(tmp_path):
    progress = TrainingProgress(step=12, updates=11, skipped_clips=3, scheduler={"last_epoch": 11, "_step_count": 12})
    progress.save(tmp_path)
    assert json.loads((tmp_path / TRAINING_STATE_FILE).read_text())["step"] == 12
    assert TrainingProgress.load(tmp_path) == progress


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "is not a readable JSON training state"),
        (json.dumps({"step": 3}), "does not hold a training state"),
        (json.dumps({"step": 3, "updates": 3, "extra": 1}), "does not hold a training state"),
        (json.dumps({"step": -1, "updates": 0}), "step must be non-negative integers"),
        (json.dumps({"step": "3", "updates": 2.5}), "step, updates must be non-negative integers"),
        (json.dumps({"step": True, "updates": 0}), "step must be non-negative integers"),
        (json.dumps({"step": 3, "updates": 3, "scheduler": [1, 2]}), "`scheduler` must be a mapping"),
    ],
)
def test_an_altered_training_state_is_refused_with_the_reason(tmp_path, content, message):
    (tmp_path / TRAINING_STATE_FILE).write_text(content)
    with pytest.raises(CheckpointError, match=message):
        TrainingProgress.load(tmp_path)
