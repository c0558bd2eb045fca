# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""research/validation_diagnostics.py run as a user runs it, on the modulation task of a 6-clips-per-class corpus:
an exported encoder and the teacher taken out of a pre-training checkpoint, scored on validation only."""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from aasp_corpora.synthetic import EMBEDDED_TASKS, split_sizes
from transformers_aasp import AaSPConfig, AaSPFeatureExtractor, AaSPForPreTraining


REPO_ROOT = Path(__file__).resolve().parents[2]
CLIPS_PER_CLASS = 6


def run_diagnostics(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "AASP_CORPUS_DIR": str(tmp_path / "corpus"), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "research.validation_diagnostics", "--tasks", "modulation"]
    command += ["--clips_per_class", str(CLIPS_PER_CLASS), "--probe_max_epochs", "5", *arguments]
    return subprocess.run(command, capture_output=True, text=True, env=environment, cwd=REPO_ROOT, timeout=600)


def write_run(tmp_path: Path) -> tuple[Path, Path]:
    """A snapshot of a random tiny student, and a checkpoint of its pre-training model whose teacher equals it."""
    torch.manual_seed(0)
    model = AaSPForPreTraining(AaSPConfig.tiny())  # the teacher starts as a copy of the student
    snapshot, checkpoint = tmp_path / "run" / "snapshot", tmp_path / "run" / "checkpoints" / "checkpoint_0"
    model.aasp.save_pretrained(snapshot)
    AaSPFeatureExtractor().save_pretrained(snapshot)
    checkpoint.mkdir(parents=True)
    save_file(
        {name: tensor.contiguous() for name, tensor in model.state_dict().items()}, checkpoint / "model.safetensors"
    )
    return snapshot, checkpoint


def test_a_checkpoints_teacher_is_probed_on_validation_like_the_same_exported_encoder(tmp_path):
    snapshot, checkpoint = write_run(tmp_path)
    output = tmp_path / "results" / "diagnostics"
    models = ["--model", f"init={snapshot}", "--model", f"teacher={checkpoint}:teacher"]
    result = run_diagnostics(
        tmp_path, *models, "--config_from", str(snapshot), "--compare", "teacher", "init", "--output", str(output)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads(output.with_suffix(".json").read_text())["tasks"]["modulation"]
    num_validation = EMBEDDED_TASKS["modulation"].num_classes * split_sizes(CLIPS_PER_CLASS)["validation"]
    assert [len(row["correct"]) for row in rows.values()] == [num_validation, num_validation]
    assert rows["teacher"]["correct"] == rows["init"]["correct"]  # the same weights, the same probe
    assert 0.0 <= rows["init"]["between_class_share"] <= 1.0
    table = output.with_suffix(".md").read_text()
    assert f"## modulation (validation, n = {num_validation})" in table
    assert "teacher - init: +0.0 points, McNemar p 1" in table


def test_a_checkpoint_without_the_asked_encoder_is_refused_with_its_counts(tmp_path):
    snapshot, checkpoint = write_run(tmp_path)
    state = {"unrelated.weight": torch.zeros(1)}
    save_file(state, checkpoint / "model.safetensors")
    result = run_diagnostics(
        tmp_path, "--model", f"teacher={checkpoint}:teacher", "--config_from", str(snapshot), "--output", "unused"
    )
    assert result.returncode != 0
    assert f"{checkpoint}:teacher: " in result.stderr and "missing and 0 unexpected encoder weights" in result.stderr
