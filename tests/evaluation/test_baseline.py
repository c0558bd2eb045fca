# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The log-mel statistics baseline: feature shapes, padding invariance, the modulation spectrum, C chosen on
validation, and the script."""

import json

import numpy as np
import pytest
from example_scripts import load_example

from aasp_corpora.synthetic import EMBEDDED_TASKS, corpus_name, split_sizes
from transformers_aasp import AaSPFeatureExtractor
from transformers_aasp.evaluation.baseline import (
    choose_regularization,
    feature_dimension,
    logmel_features,
    modulation_bin_edges,
)


logmel_baseline = load_example("logmel_baseline")


NUM_MEL_BINS = 80
FRAME_RATE = 100.0
CLIPS_PER_CLASS = 6


def random_log_mel(num_frames: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((num_frames, NUM_MEL_BINS))


def test_feature_dimension_is_the_documented_one():
    assert feature_dimension("stats") == 2 * 80 == 160
    assert feature_dimension("full") == 3 * 80 + 16 * 12 == 432
    with pytest.raises(ValueError, match="Unknown feature_set 'mfcc'"):
        feature_dimension("mfcc")


@pytest.mark.parametrize("feature_set, dimension", [("stats", 160), ("full", 432)])
def test_features_have_shape_batch_by_dimension(feature_set, dimension):
    input_values = np.stack([random_log_mel(208, seed) for seed in range(3)])
    mask = np.ones((3, 208), dtype=np.int32)
    mask[1, 150:] = 0
    features = logmel_features(input_values, mask, feature_set)
    assert features.shape == (3, dimension) and features.dtype == np.float64
    assert np.isfinite(features).all()


def test_stats_are_per_bin_mean_and_std_over_valid_frames_only():
    frames = random_log_mel(120)
    input_values = np.concatenate([frames, np.full((40, NUM_MEL_BINS), 1e3)])[None]  # padding holds garbage
    mask = (np.arange(160) < 120)[None].astype(np.int32)
    features = logmel_features(input_values, mask, "stats")[0]
    np.testing.assert_allclose(features[:80], frames.mean(axis=0))
    np.testing.assert_allclose(features[80:], frames.std(axis=0))


def test_padding_in_the_input_does_not_change_the_features():
    # Features use only the frames that attention_mask marks valid, in float64 and per clip: the same valid frames
    # with any amount and value of padding give the same numbers (to float64 rounding).
    frames = random_log_mel(201)
    alone = logmel_features(frames[None], np.ones((1, 201)), "full")
    batch = np.full((2, 416, NUM_MEL_BINS), -7.0)
    batch[0] = random_log_mel(416, seed=1)
    batch[1, :201] = frames
    mask = np.zeros((2, 416))
    mask[0] = 1
    mask[1, :201] = 1
    padded = logmel_features(batch, mask, "full")[1]
    np.testing.assert_allclose(padded, alone[0], rtol=0, atol=1e-12)


def test_a_clip_alone_and_padded_in_a_batch_give_the_same_features_end_to_end():
    # Through the feature extractor: it reflect-pads every clip at its own ends, so a clip's log-mel frames do not
    # depend on the batch; they are float32, and batched FFT / matmul may round differently (~1e-6 of values of
    # order 10). Features are means, standard deviations and log band powers of those frames; the tolerance 1e-4
    # covers that rounding with margin while a feature that counted one padding frame would be off by far more.
    extractor = AaSPFeatureExtractor()
    rng = np.random.default_rng(0)
    time = np.arange(32000) / 16000
    short = (0.3 * np.sin(2 * np.pi * 440 * time) * (1 + 0.5 * np.sin(2 * np.pi * 12.5 * time))).astype(np.float32)
    short += 0.01 * rng.standard_normal(short.size).astype(np.float32)
    long = 0.1 * rng.standard_normal(64000).astype(np.float32)
    alone = extractor([short], sampling_rate=16000, return_tensors="np")
    batch = extractor([long, short], sampling_rate=16000, return_tensors="np")
    assert batch["attention_mask"][1].sum() == alone["attention_mask"][0].sum() < batch["attention_mask"].shape[1]
    features_alone = logmel_features(alone["input_values"], alone["attention_mask"], "full")[0]
    features_batch = logmel_features(batch["input_values"], batch["attention_mask"], "full")[1]
    np.testing.assert_allclose(features_batch, features_alone, rtol=0, atol=1e-4)


def test_modulation_bins_are_log_spaced_over_half_to_fifty_hz():
    edges = modulation_bin_edges()
    assert edges.shape == (13,)
    assert edges[0] == pytest.approx(0.5) and edges[-1] == pytest.approx(50.0)
    np.testing.assert_allclose(edges[1:] / edges[:-1], 100 ** (1 / 12))


@pytest.mark.parametrize("rate_hz, expected_bin", [(12.5, 8), (6.25, 6), (37.5, 11), (2.0, 3)])
def test_modulation_spectrum_peaks_in_the_bin_of_the_envelope_rate(rate_hz, expected_bin):
    edges = modulation_bin_edges()
    assert edges[expected_bin] <= rate_hz < edges[expected_bin + 1]
    num_frames = 300  # 3 s at 100 frames/s
    time = np.arange(num_frames) / FRAME_RATE
    envelope = 2.0 * np.sin(2 * np.pi * rate_hz * time)
    rng = np.random.default_rng(0)
    log_mel = envelope[:, None] + np.linspace(-3, 3, NUM_MEL_BINS) + 0.05 * rng.standard_normal((num_frames, 80))
    padded = np.concatenate([log_mel, np.zeros((20, NUM_MEL_BINS))])[None]
    mask = (np.arange(num_frames + 20) < num_frames)[None]
    features = logmel_features(padded, mask, "full", frame_rate=FRAME_RATE)[0]
    spectrum = features[3 * NUM_MEL_BINS :].reshape(16, 12)  # bands x modulation bins, band-major
    assert (spectrum.argmax(axis=1) == expected_bin).all()
    # The band variance (sine amplitude 2 -> 2) is almost all in that bin: log(2) against far less elsewhere.
    assert spectrum[:, expected_bin].min() > np.log(1.5)
    assert np.delete(spectrum, expected_bin, axis=1).max() < spectrum[:, expected_bin].min() - 2


def separable_clusters(num_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(3 * num_per_class, 8) features of three well-separated Gaussian clusters and their (N,) labels."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), num_per_class)
    centres = np.eye(3, 8) * 20.0
    return centres[labels] + rng.standard_normal((labels.size, 8)), labels


def test_c_is_chosen_on_validation_with_ties_going_to_the_strongest_regularisation():
    train, validation = separable_clusters(10, seed=0), separable_clusters(5, seed=1)
    chosen, scores = choose_regularization(train, validation, max_iter=2000, grid=[10.0, 0.1, 1.0, 0.01])
    # Every C separates the clusters (validation accuracy 1.0 for each): the tie goes to the smallest C.
    assert scores == {"0.01": 1.0, "0.1": 1.0, "1.0": 1.0, "10.0": 1.0}
    assert chosen == 0.01


def test_c_selection_scores_each_value_on_validation_only():
    train = separable_clusters(10, seed=0)
    features, labels = separable_clusters(5, seed=1)
    flipped = (features, (labels + 1) % 3)  # validation labels that no classifier fitted on train can predict
    _, scores = choose_regularization(train, flipped, max_iter=2000, grid=[0.1, 1.0])
    assert scores == {"0.1": 0.0, "1.0": 0.0}
    assert choose_regularization(train, flipped, max_iter=2000, grid=[3.0]) == (3.0, {})  # fixed: nothing chosen
    with pytest.raises(ValueError, match="Choosing C needs validation clips"):
        choose_regularization(train, (np.zeros((0, 8)), np.zeros(0)), max_iter=2000, grid=[0.1, 1.0])


@pytest.fixture
def tiny_corpus(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("AASP_CORPUS_DIR", str(tmp_path_factory.getbasetemp() / "baseline_corpus"))


@pytest.mark.integration
def test_script_reads_the_corpus_seed_it_is_given_and_records_it(tiny_corpus, tmp_path):
    argv = ["--task", "modulation", "--corpus_clips_per_class", str(CLIPS_PER_CLASS), "--corpus_seed", "7"]
    logmel_baseline.main([*argv, "--output_dir", str(tmp_path)])
    written = json.loads((tmp_path / "logmel_baseline_modulation.json").read_text())
    assert written["dataset_revision"] == corpus_name(seed=7, clips_per_class=CLIPS_PER_CLASS)


@pytest.mark.integration
@pytest.mark.parametrize("feature_set", ["stats", "full"])
def test_script_scores_an_embedded_task_and_writes_its_json(feature_set, tiny_corpus, tmp_path):
    task = "modulation"
    argv = [
        "--task",
        task,
        "--corpus_clips_per_class",
        str(CLIPS_PER_CLASS),
        "--feature_set",
        feature_set,
        "--output_dir",
        str(tmp_path),
    ]
    results = logmel_baseline.main(argv)
    written = json.loads((tmp_path / f"logmel_baseline_{task}.json").read_text())
    assert set(written) == {
        "benchmark",
        "display_name",
        "dataset",
        "dataset_revision",
        "protocol",
        "feature_extractor",
        "metric",
        "accuracy",
        "num_correct",
        "num_test_clips",
        "ci95_low",
        "ci95_high",
        "interval",
        "chance",
        "num_classes",
        "feature_set",
        "feature_dimension",
        "clip_seconds",
        "num_skipped_clips",
        "regularization_selection",
        "regularization_grid",
        "regularization",
        "test_correct",
        "runs",
    }
    num_classes = EMBEDDED_TASKS[task].num_classes
    assert written["num_test_clips"] == num_classes * split_sizes(CLIPS_PER_CLASS)["test"]
    assert written["dataset_revision"] == corpus_name(seed=0, clips_per_class=CLIPS_PER_CLASS)  # the corpus build read
    num_train = num_classes * (CLIPS_PER_CLASS - split_sizes(CLIPS_PER_CLASS)["test"])  # train + validation
    assert written["runs"][0]["num_train_clips"] == num_train
    assert written["accuracy"] == written["num_correct"] / written["num_test_clips"] == results["accuracy"]
    assert written["ci95_low"] <= written["accuracy"] <= written["ci95_high"]
    assert written["feature_set"] == feature_set and written["feature_dimension"] == feature_dimension(feature_set)
    assert written["chance"] == pytest.approx(1 / num_classes) and written["metric"] == "accuracy"
    assert "Wilson" in written["interval"] and written["num_skipped_clips"] == 0
    # C is chosen on validation from the default grid, then the test split is scored once with it.
    [run] = written["runs"]
    assert written["regularization_selection"] == "validation" and written["regularization_grid"] == [0.01, 0.1, 1, 10]
    assert set(run["validation_accuracy"]) == {"0.01", "0.1", "1.0", "10.0"}
    best = max(run["validation_accuracy"].values())
    assert run["regularization"] == min(
        c for c in written["regularization_grid"] if run["validation_accuracy"][str(float(c))] == best
    )
    assert written["regularization"] == [run["regularization"]]
    assert len(written["test_correct"]) == written["num_test_clips"]
    assert sum(written["test_correct"]) == written["num_correct"]


def test_script_with_a_fixed_c_chooses_nothing(tiny_corpus, tmp_path):
    argv = ["--task", "modulation", "--corpus_clips_per_class", str(CLIPS_PER_CLASS), "--feature_set", "stats"]
    results = logmel_baseline.main([*argv, "--regularization", "0.5", "--output_dir", str(tmp_path)])
    assert results["regularization_selection"] == "fixed" and results["regularization"] == [0.5]
    assert results["runs"][0]["validation_accuracy"] == {}
    assert results["regularization_grid"] == [0.5]


def test_script_refuses_a_multi_label_benchmark(tmp_path):
    with pytest.raises(ValueError, match=r"single-label classification only .* benchmark 'as20k' .* multi-label"):
        logmel_baseline.main(["--task", "as20k", "--output_dir", str(tmp_path)])
    assert not list(tmp_path.iterdir())
