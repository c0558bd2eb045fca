# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Linear evaluation: examples/linear_eval.py through `main(argv)` scores AaSP and transformers' AST (embeddings
cached), and the probe of `transformers_aasp.evaluation.linear_probe`."""

import json
from pathlib import Path

import hub_layouts
import numpy as np
import pytest
import soundfile
import torch
from example_scripts import load_example
from safetensors.numpy import load_file, save_file
from transformers.modeling_outputs import BaseModelOutput

from transformers_aasp.evaluation.linear_probe import (
    WEIGHT_DECAY_GRID,
    LinearProbeArguments,
    pool_clip_embedding,
    predicted_correctly,
    score_split,
    select_weight_decay,
    train_linear_classifier,
)
from transformers_aasp.modeling_aasp import AaSPModelOutput
from transformers_aasp.reporting.metrics import wilson_interval


linear_eval = load_example("linear_eval")


@pytest.fixture(scope="module")
def esc50(tmp_path_factory):
    return hub_layouts.build_esc50(tmp_path_factory.mktemp("hub"))


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkpoints")
    return {
        "aasp": hub_layouts.save_tiny_aasp_checkpoint(root / "aasp"),
        "ast": hub_layouts.save_tiny_ast_checkpoint(root / "ast"),
    }


def command(checkpoint, esc50, tmp_path, *extra) -> list[str]:
    return [
        "--model_name_or_path",
        str(checkpoint),
        "--task",
        "esc50",
        "--dataset_name",
        str(esc50),
        "--clip_seconds",
        "0.5",
        "--embedding_cache_dir",
        str(tmp_path / "cache"),
        "--output_dir",
        str(tmp_path),
        "--num_seeds",
        "2",
        "--max_epochs",
        "8",
        "--patience",
        "3",
        "--device",
        "cpu",
        *extra,
    ]


@pytest.mark.integration
@pytest.mark.parametrize("model", ["aasp", "ast"])
def test_same_command_scores_aasp_and_ast(model, checkpoints, esc50, tmp_path):
    probe = ["--learning_rate", "1e-2", "--max_epochs", "100", "--patience", "20"]  # converges on 9 train clips
    results = linear_eval.main(command(checkpoints[model], esc50, tmp_path, *probe))
    assert results["n"] == 2 and len(results["per_seed"]) == 2
    assert set(results["per_fold"]) == {"1", "2", "3", "4", "5"}
    # A seed's score is the mean over the 5 folds; the report is the mean over seeds.
    per_seed = [np.mean([results["per_fold"][f][s] for f in "12345"]) for s in range(2)]
    np.testing.assert_allclose(results["per_seed"], per_seed)
    assert results["mean"] == pytest.approx(np.mean(per_seed))
    assert results["num_test_clips"] == 15  # each seed is scored on every fold's 3 test clips
    # Each fold's test split holds 3 clips (one per class), so every fold score is 0, 1/3, 2/3 or 1.
    fold_scores = np.array([results["per_fold"][f] for f in "12345"])
    np.testing.assert_allclose(fold_scores * 3, np.round(fold_scores * 3), atol=1e-9)
    # The copy's classes are tones at 220, 440 and 660 Hz (+ 1 % noise): even a frozen random encoder keeps them
    # apart, and a linear probe on its standardised embeddings finds them. Chance is 1/3; we require 2/3, which a
    # probe that had not learned (or mixed up folds or labels) cannot reach on 15 test clips x 2 seeds.
    assert results["mean"] >= 2 / 3
    # Every fold and seed reports the weight decay its validation split chose from the default grid.
    assert set(results["weight_decay"]) == set("12345")
    assert all(
        len(chosen) == 2 and set(chosen) <= set(WEIGHT_DECAY_GRID) for chosen in results["weight_decay"].values()
    )
    written = json.loads((tmp_path / f"linear_eval_esc50_{model}.json").read_text())
    assert written["mean"] == results["mean"] and written["metric"] == "accuracy"
    assert written["weight_decay_selection"] == "validation" and written["weight_decay_grid"] == list(
        WEIGHT_DECAY_GRID
    )
    [cached] = list((tmp_path / "cache").rglob("train.safetensors"))
    arrays = load_file(str(cached))
    width = {"aasp": 5 * 64, "ast": 32}[model]  # AaSP time columns are G_f * D = 5 * 64; AST tokens are D = 32
    assert arrays["embeddings"].shape == (15, width) and arrays["valid"].all()


@pytest.mark.integration
def test_embeddings_are_reused_from_the_cache(checkpoints, esc50, tmp_path):
    first = linear_eval.main(command(checkpoints["aasp"], esc50, tmp_path, "--num_seeds", "1"))
    [cached] = list((tmp_path / "cache").rglob("train.safetensors"))
    # Plant recognisable embeddings in the cache: a second run must use them, not recompute them.
    arrays = load_file(str(cached))
    targets = arrays["targets"]
    planted = np.zeros((targets.size, 3), dtype=np.float32)
    planted[np.arange(targets.size), targets] = 10.0  # one-hot of the label: a perfectly separable probe
    save_file({**arrays, "embeddings": planted}, str(cached))
    probe = ["--num_seeds", "1", "--learning_rate", "1e-2", "--max_epochs", "100", "--patience", "20"]
    second = linear_eval.main(command(checkpoints["aasp"], esc50, tmp_path, *probe))
    assert second["mean"] == 1.0  # only the planted (label-revealing) embeddings give a perfect score
    assert first["per_fold"].keys() == second["per_fold"].keys()


def test_a_fixed_weight_decay_is_used_everywhere(checkpoints, esc50, tmp_path):
    results = linear_eval.main(
        command(checkpoints["aasp"], esc50, tmp_path, "--num_seeds", "1", "--weight_decay", "0.01")
    )
    assert results["weight_decay"] == {fold: [0.01] for fold in "12345"}
    written = json.loads((tmp_path / "linear_eval_esc50_aasp.json").read_text())
    assert written["weight_decay_selection"] == "fixed" and written["weight_decay_grid"] == [0.01]


def test_a_missing_local_checkpoint_is_named(esc50, tmp_path):
    missing = str(tmp_path / "run" / "final")
    with pytest.raises(FileNotFoundError, match=rf"--model_name_or_path {missing}: no such file or folder"):
        linear_eval.main(command(missing, esc50, tmp_path))


def test_aasp_embedding_is_the_masked_mean_of_time_column_features():
    frames = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    outputs = AaSPModelOutput(time_column_features=frames, time_column_attention_mask=torch.tensor([[1, 1, 0]]))
    torch.testing.assert_close(pool_clip_embedding(outputs, None), torch.tensor([[2.0, 3.0]]))


def test_other_encoders_use_the_token_mean_of_the_chosen_layer():
    hidden = (torch.zeros(1, 2, 3), torch.ones(1, 2, 3) * torch.tensor([1.0, 2.0, 3.0]))
    outputs = BaseModelOutput(last_hidden_state=torch.full((1, 2, 3), 7.0), hidden_states=hidden)
    torch.testing.assert_close(pool_clip_embedding(outputs, None), torch.full((1, 3), 7.0))
    torch.testing.assert_close(pool_clip_embedding(outputs, 1), torch.tensor([[1.0, 2.0, 3.0]]))


def test_early_stopping_restores_the_best_validation_weights():
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((3, 8)) * 3
    labels = np.repeat(np.arange(3), 20)
    embeddings = (centers[labels] + rng.standard_normal((60, 8))).astype(np.float32)
    train = {"embeddings": embeddings[::2], "targets": labels[::2]}
    validation = {"embeddings": embeddings[1::2], "targets": labels[1::2]}
    scaler, layer, best = train_linear_classifier(
        train, validation, 3, False, seed=0, learning_rate=1e-2, max_epochs=200, patience=5
    )
    features = torch.from_numpy(scaler.transform(validation["embeddings"])).float()
    # The returned layer reproduces the best validation score exactly (its weights were restored)...
    assert score_split(layer, features, validation["targets"], multi_label=False) == best
    # ...and on well-separated clusters that score is perfect.
    assert best == 1.0


def clusters(seed: int):
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(0).standard_normal((3, 8)) * 3
    labels = np.repeat(np.arange(3), 20)
    return {"embeddings": (centers[labels] + rng.standard_normal((60, 8))).astype(np.float32), "targets": labels}


def test_weight_decay_is_chosen_on_validation_and_ties_keep_the_first_value():
    train, validation = clusters(1), clusters(2)
    probe = LinearProbeArguments(learning_rate=1e-2, max_epochs=100, patience=5, weight_decay_grid=[1e-3, 1e-8])
    scaler, layer, chosen, scores = select_weight_decay(train, validation, 3, False, seed=0, probe=probe)
    assert set(scores) == {"0.001", "1e-08"}
    # Well-separated clusters: both values score 1.0 on validation, and the first value of the grid is kept.
    assert scores == {"0.001": 1.0, "1e-08": 1.0} and chosen == 1e-3
    # The returned probe is the chosen one: its validation predictions are all correct.
    assert predicted_correctly(scaler, layer, validation).all()


def test_weight_decay_scores_come_from_validation_and_a_fixed_value_is_not_selected():
    train, validation = clusters(1), clusters(2)
    wrong = {**validation, "targets": (validation["targets"] + 1) % 3}  # no probe fitted on train gets these right
    probe = LinearProbeArguments(learning_rate=1e-2, max_epochs=30, patience=5, weight_decay_grid=[1e-3, 1e-8])
    _, _, _, scores = select_weight_decay(train, wrong, 3, False, seed=0, probe=probe)
    assert max(scores.values()) < 0.2
    fixed = LinearProbeArguments(learning_rate=1e-2, max_epochs=30, patience=5, weight_decay=0.05)
    assert select_weight_decay(train, validation, 3, False, seed=0, probe=fixed)[2:] == (0.05, {"0.05": 1.0})
    with pytest.raises(ValueError, match="weight_decay_grid is empty"):
        select_weight_decay(train, validation, 3, False, seed=0, probe=LinearProbeArguments(weight_decay_grid=[]))


def write_class_folders(root: Path, seconds: float, seed: int) -> Path:
    """root/<class>/<i>.wav: 3 classes of 5 tones."""
    for class_index, name in enumerate(("bell", "drum", "horn")):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(5):
            wave = hub_layouts.tone(class_index, seconds, 16000, seed + 10 * class_index + i)
            soundfile.write(root / name / f"{i}.wav", wave, 16000)
    return root


@pytest.mark.integration
def test_a_regenerated_folder_is_embedded_again_and_results_carry_its_name(checkpoints, tmp_path):
    data = write_class_folders(tmp_path / "hits", seconds=0.3, seed=0)
    options = [
        *("--model_name_or_path", str(checkpoints["aasp"]), "--dataset_name", str(data)),
        *("--embedding_cache_dir", str(tmp_path / "cache"), "--output_dir", str(tmp_path / "out")),
        *("--num_seeds", "1", "--max_epochs", "2", "--device", "cpu"),
    ]
    linear_eval.main(options)
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["linear_eval_hits_aasp.json"]
    write_class_folders(data, seconds=0.3, seed=1)  # the same file names, other clips
    linear_eval.main(options)
    # The cache is keyed by the data's content: the regenerated folder got a second set of embeddings.
    assert len(list((tmp_path / "cache").rglob("train.safetensors"))) == 2


@pytest.mark.integration
def test_a_single_run_reports_the_wilson_interval_of_its_test_clips(checkpoints, esc50, tmp_path):
    results = linear_eval.main(command(checkpoints["aasp"], esc50, tmp_path, "--num_seeds", "1", "--fold", "2"))
    correct = round(results["mean"] * results["num_test_clips"])  # one fold, one seed: the accuracy is a count
    low, high = results["wilson95"]
    assert (low, high) == wilson_interval(correct, results["num_test_clips"]) and low <= results["mean"] <= high
