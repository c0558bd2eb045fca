# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""examples/finetune.py end to end on tiny local copies of every benchmark layout."""

import json
import sys
from pathlib import Path

import hub_layouts
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from huggingface_hub import metadata_load
from transformers import AutoModelForAudioClassification, pipeline

import transformers_aasp  # noqa: F401


sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
import finetune


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    return hub_layouts.build_all(tmp_path_factory.mktemp("hub"))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return hub_layouts.save_tiny_aasp_checkpoint(tmp_path_factory.mktemp("aasp_tiny"))


def run(checkpoint, output_dir, *extra) -> dict:
    args = [
        "--model_name_or_path", str(checkpoint), "--output_dir", str(output_dir), "--clip_seconds", "0.5",
        "--max_steps", "1", "--per_device_train_batch_size", "8", "--per_device_eval_batch_size", "16",
        "--save_strategy", "no", "--eval_strategy", "no", "--report_to", "none", "--disable_tqdm", "true",
        "--no_verify_split_sizes", "--use_cpu", "true", *extra,
    ]  # fmt: skip
    return finetune.main(args)


REGISTRY_RUNS = {
    "esc50": ["--fold", "1"],
    "us8k": ["--fold", "2"],
    "spcv2": [],
    "nsynth": [],
    "cremad": [],
    "as20k": [],
    "as2m": [],
}
TEST_CLIPS = {"esc50": 3, "us8k": 3, "spcv2": 35, "nsynth": 6, "cremad": 12, "as20k": 8, "as2m": 8}


@pytest.mark.parametrize("benchmark", list(REGISTRY_RUNS))
def test_every_hub_benchmark_fine_tunes_and_reports_its_metric(benchmark, hub, checkpoint, tmp_path, monkeypatch):
    test_results = []
    original = finetune.evaluate_test

    def recording_evaluate_test(*args):
        test_results.append(original(*args))
        return test_results[-1]

    monkeypatch.setattr(finetune, "evaluate_test", recording_evaluate_test)
    summary = run(checkpoint, tmp_path, "--benchmark", benchmark, "--dataset_name", str(hub[benchmark]),
                  *REGISTRY_RUNS[benchmark])  # fmt: skip
    multi_label = benchmark.startswith("as")
    assert summary["metric"] == ("mAP" if multi_label else "accuracy")
    assert 0.0 <= summary["mean"] <= 1.0 and summary["n"] == 1
    assert [r["num_clips"] for r in test_results] == [TEST_CLIPS[benchmark]]  # the protocol's test split
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["mean"] == summary["mean"]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["problem_type"] == ("multi_label_classification" if multi_label else "single_label_classification")
    meta = metadata_load(tmp_path / "README.md")
    reported = meta["model-index"][0]["results"][0]["metrics"][0]
    # The card holds the measured number (rounded to 6 decimals by the card writer).
    assert reported["value"] == pytest.approx(summary["mean"], abs=1e-6)
    assert meta["datasets"] == [finetune.get_benchmark(benchmark).dataset_id]


@pytest.mark.parametrize("task", ["instrument", "keyword", "modulation"])
def test_embedded_corpus_tasks_fine_tune(task, checkpoint, tmp_path_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("AASP_CORPUS_DIR", str(tmp_path_factory.getbasetemp() / "corpus"))
    summary = run(checkpoint, tmp_path, "--benchmark", task, "--corpus_clips_per_class", "3")
    assert summary["metric"] == "accuracy" and 0.0 <= summary["mean"] <= 1.0


def test_esc50_all_folds_gives_five_results_and_their_mean(hub, checkpoint, tmp_path):
    summary = run(checkpoint, tmp_path, "--benchmark", "esc50", "--dataset_name", str(hub["esc50"]), "--all_folds")
    assert list(summary["folds"]) == ["1", "2", "3", "4", "5"]
    scores = list(summary["folds"].values())
    assert summary["mean"] == pytest.approx(np.mean(scores)) and summary["std"] == pytest.approx(
        np.std(scores, ddof=1)
    )
    assert json.loads((tmp_path / "all_results.json").read_text())["folds"] == summary["folds"]
    assert all((tmp_path / f"fold_{k}" / "results.json").is_file() for k in range(1, 6))
    meta = metadata_load(tmp_path / "README.md")
    assert meta["model-index"][0]["results"][0]["dataset"]["split"] == "5-fold CV"


def test_fold_benchmark_needs_a_fold(hub, checkpoint, tmp_path):
    with pytest.raises(ValueError, match="5-fold benchmark: pass --fold or --all_folds"):
        run(checkpoint, tmp_path, "--benchmark", "esc50", "--dataset_name", str(hub["esc50"]))


def test_undecodable_clips_are_skipped_and_counted(hub, checkpoint, tmp_path, monkeypatch):
    skipped = []
    original = finetune.run_fold

    def spy(*args, **kwargs):
        result = original(*args, **kwargs)
        skipped.append(result["skipped_clips"])
        return result

    monkeypatch.setattr(finetune, "run_fold", spy)
    # The corrupt clip of the us8k copy is in fold 1; training on folds != 2 over 3 steps of 8 sees every clip.
    run(checkpoint, tmp_path, "--benchmark", "us8k", "--dataset_name", str(hub["us8k"]), "--fold", "2",
        "--max_steps", "3", "--validation_fraction", "0")  # fmt: skip
    assert skipped == [1]


def test_recipe_options_train_only_what_is_not_frozen(hub, checkpoint, tmp_path, monkeypatch):
    models = []
    original = finetune.load_model
    monkeypatch.setattr(finetune, "load_model", lambda *a: models.append(original(*a)) or models[-1])
    run(checkpoint, tmp_path, "--benchmark", "esc50", "--dataset_name", str(hub["esc50"]), "--fold", "3",
        "--freeze_feature_encoder", "--mixup_alpha", "0.5", "--freq_mask_param", "8", "--time_mask_param", "8",
        "--layer_decay", "0.5", "--label_smoothing_factor", "0.1", "--learning_rate", "1e-2")  # fmt: skip
    trained = AutoModelForAudioClassification.from_pretrained(tmp_path)
    initial = AutoModelForAudioClassification.from_pretrained(checkpoint, num_labels=3)
    stem = "aasp.embeddings.patch_embeddings.projection.weight"
    torch.testing.assert_close(trained.state_dict()[stem], initial.state_dict()[stem], rtol=0, atol=0)
    layer_weight = next(n for n in trained.state_dict() if ".layers.1." in n and n.endswith("weight"))
    assert not torch.equal(trained.state_dict()[layer_weight], initial.state_dict()[layer_weight])
    assert not models[0].aasp.embeddings.patch_embeddings.projection.weight.requires_grad


def test_layer_decay_groups_scale_learning_rates(checkpoint):
    model = AutoModelForAudioClassification.from_pretrained(checkpoint, num_labels=3)
    groups = finetune.layer_decay_groups(model, learning_rate=1.0, weight_decay=0.05, decay=0.5)
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    named = dict(model.named_parameters())
    # 2 layers: stem -> 0.5^3, layer 0 -> 0.5^2, layer 1 -> 0.5^1, head -> 1.
    assert lr_of[id(named["aasp.embeddings.cls_token"])] == 0.125
    assert lr_of[id(next(p for n, p in named.items() if ".layers.0." in n))] == 0.25
    assert lr_of[id(next(p for n, p in named.items() if ".layers.1." in n))] == 0.5
    assert lr_of[id(named["classifier.dense.weight"])] == 1.0
    assert {g["weight_decay"] for g in groups if any(p is named["classifier.dense.bias"] for p in g["params"])} == {
        0.0
    }


def test_soft_target_loss_matches_torch_losses():
    torch.manual_seed(0)
    logits, labels = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 0, 1])
    loss = finetune.soft_target_loss(logits, F.one_hot(labels, 4).float(), multi_label=False, smoothing=0.1)
    torch.testing.assert_close(loss, F.cross_entropy(logits, labels, label_smoothing=0.1))
    targets = (torch.rand(6, 4) > 0.5).float()
    loss = finetune.soft_target_loss(logits, targets, multi_label=True, smoothing=0.0)
    torch.testing.assert_close(loss, F.binary_cross_entropy_with_logits(logits, targets))


def test_mixup_mixes_inputs_and_targets_with_one_weight():
    inputs = {"input_values": torch.arange(2.0).view(2, 1, 1).expand(2, 3, 2), "attention_mask": torch.ones(2, 3)}
    targets = torch.eye(2)
    mixed, mixed_targets = finetune.mix_batch(inputs, targets, alpha=1.0)
    weight = mixed_targets.max(dim=1).values  # each row keeps weight w of its own class (or 1 - w of the other)
    assert torch.allclose(mixed_targets.sum(dim=1), torch.ones(2))
    assert mixed["input_values"].shape == (2, 3, 2) and weight.min() >= 0.5


def test_push_to_hub_uploads_model_code_feature_extractor_and_card(hub, checkpoint, tmp_path, monkeypatch):
    calls = []

    class RecordingApi:
        def __init__(self, token=None):
            calls.append(("init", token))

        def create_repo(self, repo_id, exist_ok, private):
            calls.append(("create_repo", repo_id, exist_ok))

        def upload_folder(self, repo_id, folder_path, commit_message, ignore_patterns):
            calls.append(("upload_folder", repo_id, sorted(p.name for p in Path(folder_path).iterdir())))

    monkeypatch.setattr(finetune, "HfApi", RecordingApi)
    run(checkpoint, tmp_path, "--benchmark", "esc50", "--dataset_name", str(hub["esc50"]), "--fold", "1",
        "--push_to_hub", "--hub_model_id", "org/aasp-esc50-fold1")  # fmt: skip
    assert calls[1] == ("create_repo", "org/aasp-esc50-fold1", True)
    uploaded = calls[2][2]
    for name in ("config.json", "model.safetensors", "modeling_aasp.py", "configuration_aasp.py",
                 "feature_extraction_aasp.py", "preprocessor_config.json", "README.md", "results.json"):  # fmt: skip
        assert name in uploaded
    auto_map = json.loads((tmp_path / "config.json").read_text())["auto_map"]
    assert {"AutoModel", "AutoModelForAudioClassification"} <= set(auto_map)
    assert "AutoFeatureExtractor" in json.loads((tmp_path / "preprocessor_config.json").read_text())["auto_map"]
    assert 'model="org/aasp-esc50-fold1"' in (tmp_path / "README.md").read_text()
    # The published folder works as a pipeline on a numpy array, with the benchmark's label names.
    classifier = pipeline("audio-classification", model=str(tmp_path))
    predictions = classifier({"array": np.zeros(8000, dtype=np.float32), "sampling_rate": 16000}, top_k=None)
    assert sorted(p["label"] for p in predictions) == sorted(hub_layouts.ESC50_CATEGORIES)


def test_push_to_hub_with_all_folds_is_refused(checkpoint, tmp_path):
    with pytest.raises(ValueError, match="--push_to_hub publishes one model"):
        run(checkpoint, tmp_path, "--benchmark", "esc50", "--all_folds", "--push_to_hub")
