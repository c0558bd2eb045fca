# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Fine-tuning: examples/finetune.py through its command line (`main(argv)`, one real subprocess), on tiny local
copies of every benchmark layout, and the recipe in `transformers_aasp.training.finetuning`."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import hub_layouts
import numpy as np
import pytest
import soundfile
import torch
import torch.nn.functional as F
import yaml
from datasets import Audio, load_dataset
from example_scripts import QUICK_FINETUNE_OPTIONS, example_path, load_example
from huggingface_hub import HfApi, metadata_load
from safetensors.torch import load_file
from transformers import AutoModelForAudioClassification, pipeline

import transformers_aasp  # noqa: F401
from aasp_corpora.synthetic import split_sizes
from transformers_aasp.data.tasks import get_task, task_names
from transformers_aasp.training.finetuning import (
    ClipTransform,
    layer_decay_groups,
    soft_target_loss,
)


REPO = Path(__file__).resolve().parents[2]
SCRIPT = example_path("finetune")


finetune = load_example("finetune")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    return hub_layouts.build_all(tmp_path_factory.mktemp("hub"))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return hub_layouts.save_tiny_aasp_checkpoint(tmp_path_factory.mktemp("aasp_tiny"))


def command(checkpoint, output_dir, *extra) -> list[str]:
    return [
        "--model_name_or_path",
        str(checkpoint),
        "--output_dir",
        str(output_dir),
        *QUICK_FINETUNE_OPTIONS,
        "--per_device_eval_batch_size",
        "16",
        *extra,
    ]


def esc50_fold(hub, fold: int) -> list[str]:
    """The options of one fold of the local ESC-50 copy."""
    return ["--task", "esc50", "--dataset_name", str(hub["esc50"]), "--fold", str(fold)]


def run(checkpoint, output_dir, *extra) -> dict:
    return finetune.main(command(checkpoint, output_dir, *extra))


def decoded(audio: dict) -> dict:
    array, rate = soundfile.read(io.BytesIO(audio["bytes"]), dtype="float32")
    return {"array": array, "sampling_rate": rate}


@pytest.mark.integration
@pytest.mark.parametrize("clip_seconds", ["0.5", "1.5"])
def test_saved_classifier_scores_what_was_reported(clip_seconds, hub, checkpoint, tmp_path):
    """The score in results.json and in the card is the saved model's score on the protocol's test split, also when
    the clips (0.5 s) are shorter than the clip length: they are not padded with silence, as in the pipeline."""
    summary = run(
        checkpoint,
        tmp_path,
        *esc50_fold(hub, 2),
        *("--clip_seconds", clip_seconds, "--max_steps", "3", "--learning_rate", "1e-2"),
    )
    classifier = pipeline("audio-classification", model=str(tmp_path))
    rows = load_dataset(str(hub["esc50"]), split="train").cast_column("audio", Audio(decode=False))
    test = [row for row in rows if row["fold"] == 2]
    assert summary["num_test_clips"] == len(test) == 3  # one clip per class in each of the 5 folds
    # The pipeline and the Trainer see the same whole 0.5 s clips: the same top-1 labels and the same probabilities,
    # so the Trainer's test loss is the pipeline's mean cross-entropy: measured 1e-7 apart (float32 rounding), and 3e-4
    # apart when the Trainer pads these clips with silence to 1.5 s.
    scores = [{s["label"]: s["score"] for s in classifier(decoded(row["audio"]), top_k=None)} for row in test]
    predictions = [max(score, key=score.get) for score in scores]
    accuracy = np.mean([p == row["category"] for p, row in zip(predictions, test, strict=True)])
    cross_entropy = np.mean([-np.log(score[row["category"]]) for score, row in zip(scores, test, strict=True)])
    test_metrics = json.loads((tmp_path / "test_results.json").read_text())  # save_metrics
    assert summary["mean"] == pytest.approx(accuracy) == test_metrics["test_accuracy"]
    assert test_metrics["test_loss"] == pytest.approx(cross_entropy, rel=1e-5)
    assert json.loads((tmp_path / "results.json").read_text())["mean"] == summary["mean"]


@pytest.mark.integration
def test_shift_views_score_the_model_as_the_pipeline_runs_it_and_report_the_unshifted_view(hub, checkpoint, tmp_path):
    """With --classifier_shift_views 4 the test split is scored on 4 averaged shifted views, and the saved checkpoint
    makes the pipeline average them too; results.json gives that score and the unshifted view's (`single_view`),
    each the pipeline's with the matching `shift_views`."""
    summary = run(
        checkpoint,
        tmp_path,
        *esc50_fold(hub, 2),
        *("--max_steps", "3", "--learning_rate", "1e-2", "--classifier_shift_views", "4"),
    )
    classifier = pipeline("audio-classification", model=str(tmp_path))
    assert classifier.model.config.classifier_shift_views == 4
    rows = load_dataset(str(hub["esc50"]), split="train").cast_column("audio", Audio(decode=False))
    test = [row for row in rows if row["fold"] == 2]

    def pipeline_cross_entropy(**call_arguments) -> float:
        scores = [
            {s["label"]: s["score"] for s in classifier(decoded(row["audio"]), top_k=None, **call_arguments)}
            for row in test
        ]
        return float(np.mean([-np.log(score[row["category"]]) for score, row in zip(scores, test, strict=True)]))

    averaged_metrics = json.loads((tmp_path / "test_results.json").read_text())
    unshifted_metrics = json.loads((tmp_path / "test_single_view_results.json").read_text())
    assert summary["mean"] == averaged_metrics["test_accuracy"]
    assert summary["single_view"]["mean"] == unshifted_metrics["test_single_view_accuracy"]
    averaged, unshifted = averaged_metrics["test_loss"], unshifted_metrics["test_single_view_loss"]
    assert averaged == pytest.approx(pipeline_cross_entropy(), rel=1e-5)
    assert unshifted == pytest.approx(pipeline_cross_entropy(shift_views=1), rel=1e-5)
    # the two scores are of different forwards: after 3 steps they differ by about 5e-5 to 1e-4 (with the order the
    # tests run in), far above the float32 noise of one forward (the rel=1e-5 equalities above)
    assert abs(averaged - unshifted) > 1e-6
    assert json.loads((tmp_path / "results.json").read_text())["single_view"] == summary["single_view"]
    card = (tmp_path / "README.md").read_text()
    assert "| classifier_shift_views | 4 |" in card
    assert "on the mean logits of 4 time-shifted views" in card
    assert f"the unshifted view alone scores {summary['single_view']['mean']:.4f}" in card


def test_classifier_shift_views_is_checked_and_refused_for_a_checkpoint_that_is_not_aasp(hub, checkpoint, tmp_path):
    for views in ("0", "17"):
        with pytest.raises(
            ValueError, match=rf"--classifier_shift_views must be an integer from 1 to .* \(16\), got {views}\."
        ):
            run(checkpoint, tmp_path, *esc50_fold(hub, 3), "--classifier_shift_views", views)
    ast = hub_layouts.save_tiny_ast_checkpoint(tmp_path / "ast")
    with pytest.raises(
        ValueError, match=r"--classifier_shift_views applies to AaSP checkpoints; .* is a 'audio-spectr"
    ):
        run(ast, tmp_path / "out", *esc50_fold(hub, 3), "--classifier_shift_views", "4")


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
# The weights' license follows the data's: CC BY-NC data (ESC-50, UrbanSound8K) -> non-commercial; AudioSet's audio
# stays under its YouTube uploaders' terms -> the data's terms; CC BY 4.0 / ODbL data -> Apache-2.0.
WEIGHTS_LICENSE = {
    "esc50": ("other", "non-commercial-training-data"),
    "us8k": ("other", "non-commercial-training-data"),
    "spcv2": ("apache-2.0", None),
    "nsynth": ("apache-2.0", None),
    "cremad": ("apache-2.0", None),
    "as20k": ("other", "training-data-terms"),
    "as2m": ("other", "training-data-terms"),
}


@pytest.mark.integration
@pytest.mark.parametrize("benchmark", list(REGISTRY_RUNS))
def test_every_hub_benchmark_fine_tunes_and_reports_its_metric(benchmark, hub, checkpoint, tmp_path):
    summary = run(
        checkpoint,
        tmp_path,
        "--task",
        benchmark,
        "--dataset_name",
        str(hub[benchmark]),
        *REGISTRY_RUNS[benchmark],
    )
    multi_label = benchmark.startswith("as")
    assert summary["metric"] == ("mAP" if multi_label else "accuracy") and summary["n"] == 1
    assert summary["num_test_clips"] == TEST_CLIPS[benchmark]  # the protocol's test split
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["mean"] == summary["mean"] and results["benchmark"] == benchmark
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["problem_type"] == ("multi_label_classification" if multi_label else "single_label_classification")
    meta = metadata_load(tmp_path / "README.md")
    reported = meta["model-index"][0]["results"][0]["metrics"][0]
    # The card holds the measured number (rounded to 6 decimals by the card writer).
    assert reported["value"] == pytest.approx(summary["mean"], abs=1e-6)
    # The registry's Hub id, not the local copy's path.
    assert meta["datasets"] == [get_task(benchmark).dataset_id]
    assert (meta["license"], meta.get("license_name")) == WEIGHTS_LICENSE[benchmark]


@pytest.mark.integration
def test_a_streamed_benchmark_fine_tunes_without_class_balanced_sampling(hub, checkpoint, tmp_path):
    # AudioSet-2M streams from the Hub; a local copy streams when asked, taking the same iterable path.
    summary = run(checkpoint, tmp_path, "--task", "as2m", "--dataset_name", str(hub["as2m"]), "--streaming", "true")
    assert summary["metric"] == "mAP" and summary["num_test_clips"] == TEST_CLIPS["as2m"]
    assert (tmp_path / "model.safetensors").is_file()


@pytest.mark.integration
@pytest.mark.parametrize("task", ["instrument", "keyword", "modulation"])
def test_embedded_corpus_tasks_fine_tune(task, checkpoint, tmp_path_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("AASP_CORPUS_DIR", str(tmp_path_factory.getbasetemp() / "corpus"))
    summary = run(checkpoint, tmp_path, "--task", task, "--corpus_clips_per_class", "3")
    num_classes = len(json.loads((tmp_path / "config.json").read_text())["id2label"])
    assert summary["metric"] == "accuracy" and summary["num_test_clips"] == num_classes * split_sizes(3)["test"]
    assert summary["num_train_clips"] == [num_classes * split_sizes(3)["train"]]
    meta = metadata_load(tmp_path / "README.md")
    assert "datasets" not in meta  # built in code: no Hub id to cite
    assert meta["license"] == "other" and "embedded corpus" in (tmp_path / "README.md").read_text()


@pytest.mark.integration
def test_esc50_all_folds_gives_five_results_and_their_mean(hub, checkpoint, tmp_path):
    summary = run(checkpoint, tmp_path, "--task", "esc50", "--dataset_name", str(hub["esc50"]), "--all_folds")
    assert list(summary["folds"]) == ["1", "2", "3", "4", "5"] and summary["n"] == 5
    scores = list(summary["folds"].values())
    assert summary["mean"] == pytest.approx(np.mean(scores))
    assert summary["std"] == pytest.approx(np.std(scores, ddof=1))
    assert json.loads((tmp_path / "all_results.json").read_text())["folds"] == summary["folds"]
    for fold in range(1, 6):
        run_results = json.loads((tmp_path / f"fold_{fold}" / "results.json").read_text())
        assert run_results["fold"] == fold and run_results["test_score"] == summary["folds"][str(fold)]
    meta = metadata_load(tmp_path / "README.md")
    assert meta["model-index"][0]["results"][0]["dataset"]["split"] == "5-fold CV"


@pytest.mark.integration
def test_train_on_validation_adds_the_validation_clips_to_training(
    checkpoint, tmp_path_factory, tmp_path, monkeypatch
):
    monkeypatch.setenv("AASP_CORPUS_DIR", str(tmp_path_factory.getbasetemp() / "corpus"))
    summary = run(
        checkpoint, tmp_path, "--task", "modulation", "--corpus_clips_per_class", "3", "--train_on_validation"
    )
    sizes = split_sizes(3)
    assert summary["num_train_clips"] == [5 * (sizes["train"] + sizes["validation"])]  # 5 modulation classes
    assert summary["num_test_clips"] == 5 * sizes["test"]


def test_train_on_validation_refuses_to_evaluate_on_the_validation_split(checkpoint, tmp_path):
    with pytest.raises(ValueError, match="--train_on_validation trains on the validation split"):
        run(checkpoint, tmp_path, "--task", "modulation", "--train_on_validation", "--eval_strategy", "epoch")


def test_fold_benchmark_needs_a_fold(hub, checkpoint, tmp_path):
    with pytest.raises(ValueError, match="5-fold benchmark: pass --fold or --all_folds"):
        run(checkpoint, tmp_path, "--task", "esc50", "--dataset_name", str(hub["esc50"]))


@pytest.mark.integration
def test_undecodable_clips_are_skipped_and_counted(hub, checkpoint, tmp_path):
    # The corrupt clip of the us8k copy is in fold 1; training on folds != 2 over 3 steps of 8 sees every clip.
    summary = run(
        checkpoint,
        tmp_path,
        "--task",
        "us8k",
        "--dataset_name",
        str(hub["us8k"]),
        "--fold",
        "2",
        "--max_steps",
        "3",
        "--train_val_split",
        "0",
    )
    assert summary["skipped_clips"] == 1


@pytest.mark.integration
def test_recipe_options_train_only_what_is_not_frozen(hub, checkpoint, tmp_path):
    run(
        checkpoint,
        tmp_path,
        *esc50_fold(hub, 3),
        "--freeze_feature_encoder",
        "--mixup_alpha",
        "0.5",
        "--freq_mask_param",
        "8",
        "--time_mask_param",
        "8",
        "--layer_decay",
        "0.5",
        "--label_smoothing_factor",
        "0.1",
        "--learning_rate",
        "1e-2",
    )
    trained = load_file(tmp_path / "model.safetensors")
    initial = AutoModelForAudioClassification.from_pretrained(checkpoint, num_labels=3).state_dict()
    stem = "aasp.embeddings.patch_embeddings.projection.weight"
    torch.testing.assert_close(trained[stem], initial[stem], rtol=0, atol=0)
    layer_weight = next(n for n in trained if ".layers.1." in n and n.endswith("weight"))
    assert not torch.equal(trained[layer_weight], initial[layer_weight])
    card = (tmp_path / "README.md").read_text()
    assert "| layer_decay | 0.5 |" in card and "| freeze_feature_encoder | True |" in card


@pytest.mark.integration
def test_classifier_pooling_chooses_the_head_of_the_fine_tuned_model(hub, checkpoint, tmp_path):
    run(checkpoint, tmp_path, *esc50_fold(hub, 3), "--classifier_pooling", "attention")
    model = AutoModelForAudioClassification.from_pretrained(tmp_path)
    assert model.config.classifier_pooling == "attention"
    assert model.classifier.attention_pooling.score.weight.shape == (1, 64)
    assert "classifier.attention_pooling.score.weight" in load_file(tmp_path / "model.safetensors")


def test_classifier_pooling_is_checked_before_any_work(checkpoint, tmp_path):
    with pytest.raises(ValueError, match=r"--classifier_pooling 'max' is not one of cls, mean, .*attention"):
        run(checkpoint, tmp_path, "--task", "keyword", "--classifier_pooling", "max")


def test_classifier_pooling_is_refused_for_a_checkpoint_that_is_not_aasp(hub, tmp_path):
    ast = hub_layouts.save_tiny_ast_checkpoint(tmp_path / "ast")
    with pytest.raises(
        ValueError, match=r"--classifier_pooling applies to AaSP checkpoints; .* is a 'audio-spectrogram"
    ):
        run(ast, tmp_path / "out", *esc50_fold(hub, 3), "--classifier_pooling", "mean")


def test_layer_decay_groups_scale_learning_rates(checkpoint):
    model = AutoModelForAudioClassification.from_pretrained(checkpoint, num_labels=3)
    groups = layer_decay_groups(model, learning_rate=1.0, weight_decay=0.05, decay=0.5)
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    named = dict(model.named_parameters())
    # 2 layers: stem -> 0.5^3, layer 0 -> 0.5^2, layer 1 -> 0.5^1, head -> 1.
    assert lr_of[id(named["aasp.embeddings.cls_token"])] == 0.125
    assert lr_of[id(next(p for n, p in named.items() if ".layers.0." in n))] == 0.25
    assert lr_of[id(next(p for n, p in named.items() if ".layers.1." in n))] == 0.5
    assert lr_of[id(named["classifier.dense.weight"])] == 1.0
    bias_groups = [g for g in groups if any(p is named["classifier.dense.bias"] for p in g["params"])]
    assert [g["weight_decay"] for g in bias_groups] == [0.0]


def wav_bytes(waveform: np.ndarray) -> dict:
    buffer = io.BytesIO()
    soundfile.write(buffer, waveform, 16000, format="WAV", subtype="FLOAT")
    return {"bytes": buffer.getvalue(), "path": None}


def test_clips_are_cut_to_the_clip_length_and_short_ones_stay_short():
    short, long = np.full(8000, 0.25, np.float32), np.linspace(-1, 1, 40000, dtype=np.float32)
    transform = ClipTransform(24000, random_crop=False, seed=0)
    cut_short, cut_long = transform({"audio": [wav_bytes(short), wav_bytes(long)], "label": [0, 1]})["waveform"]
    np.testing.assert_array_equal(cut_long, long[:24000])  # the start of a longer clip
    np.testing.assert_array_equal(cut_short, short)  # left short: the batch's padding is masked instead


def test_a_clip_shorter_than_one_analysis_window_is_padded_to_it():
    # A 300-sample drum hit (under 25 ms) would stop the feature extractor: every script pads it to 400 samples.
    hit = np.full(300, 0.5, np.float32)
    (cut,) = ClipTransform(24000, random_crop=True, seed=0)({"audio": [wav_bytes(hit)], "label": [0]})["waveform"]
    np.testing.assert_array_equal(cut, np.concatenate([hit, np.zeros(100, np.float32)]))


def test_random_crops_depend_on_the_epoch_and_the_clip_not_on_earlier_draws():
    clips = [wav_bytes(np.linspace(-1, 1, 40000, dtype=np.float32) * (i + 1) / 4) for i in range(3)]
    transform = ClipTransform(8000, random_crop=True, seed=0)
    first = transform({"audio": clips, "label": [0, 1, 2]})["waveform"]
    again = transform({"audio": clips[2:], "label": [2]})["waveform"]  # a resumed run reads only the last clip
    np.testing.assert_array_equal(again[0], first[2])
    transform.epoch = 1
    next_epoch = transform({"audio": clips, "label": [0, 1, 2]})["waveform"]
    assert not all(np.array_equal(a, b) for a, b in zip(first, next_epoch, strict=True))


def test_soft_target_loss_matches_torch_losses():
    torch.manual_seed(0)
    logits, labels = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 0, 1])
    loss = soft_target_loss(logits, F.one_hot(labels, 4).float(), multi_label=False, smoothing=0.1)
    torch.testing.assert_close(loss, F.cross_entropy(logits, labels, label_smoothing=0.1))
    targets = (torch.rand(6, 4) > 0.5).float()
    loss = soft_target_loss(logits, targets, multi_label=True, smoothing=0.0)
    torch.testing.assert_close(loss, F.binary_cross_entropy_with_logits(logits, targets))


@pytest.mark.integration
def test_max_start_shift_frames_trains_and_refuses_a_negative_count(hub, checkpoint, tmp_path):
    summary = run(checkpoint, tmp_path, *esc50_fold(hub, 3), "--max_steps", "2", "--max_start_shift_frames", "15")
    assert summary["n"] == 1 and np.isfinite(summary["mean"])
    assert "| max_start_shift_frames | 15 |" in (tmp_path / "README.md").read_text()
    with pytest.raises(ValueError, match=r"--max_start_shift_frames must be >= 0 \(0 disables it\), got -1\."):
        run(checkpoint, tmp_path / "bad", *esc50_fold(hub, 3), "--max_start_shift_frames", "-1")


# ----------------------------------------------------------------------------------------------------------------------
# The Trainer's conventions: steps, resuming, metrics and state, the Hub


@pytest.mark.integration
def test_do_train_then_do_eval_score_the_saved_model(hub, checkpoint, tmp_path):
    data = esc50_fold(hub, 4)
    trained = run(checkpoint, tmp_path / "train", *data, "--do_train")
    assert "mean" not in trained and trained["folds"] == {}  # the test split was not scored
    assert (tmp_path / "train" / "model.safetensors").is_file()
    assert (tmp_path / "train" / "trainer_state.json").is_file()  # Trainer.save_state
    assert json.loads((tmp_path / "train" / "train_results.json").read_text())["train_loss"] > 0
    assert "was not scored" in (tmp_path / "train" / "README.md").read_text()
    assert not (tmp_path / "train" / "test_results.json").exists()
    evaluated = run(tmp_path / "train", tmp_path / "eval", *data, "--do_eval")
    assert evaluated["n"] == 1 and evaluated["num_test_clips"] == 3
    assert not (tmp_path / "eval" / "model.safetensors").exists()  # nothing trained, nothing saved
    assert "mean" in json.loads((tmp_path / "eval" / "results.json").read_text())


def test_do_eval_alone_refuses_a_checkpoint_without_a_trained_classifier(hub, checkpoint, tmp_path):
    with pytest.raises(ValueError, match=r"--do_eval without --do_train .* no trained classifier for ESC-50"):
        run(
            checkpoint,
            tmp_path,
            *esc50_fold(hub, 1),
            "--do_eval",
        )


@pytest.mark.integration
def test_training_resumes_only_when_asked(hub, checkpoint, tmp_path):
    data = esc50_fold(hub, 1)
    run(checkpoint, tmp_path, *data, "--max_steps", "2", "--save_strategy", "steps", "--save_steps", "1")
    assert {p.name for p in tmp_path.glob("checkpoint-*")} == {"checkpoint-1", "checkpoint-2"}
    saved = load_file(tmp_path / "checkpoint-2" / "model.safetensors")
    with pytest.raises(FileExistsError, match=r"already holds a fine-tuning run"):
        run(checkpoint, tmp_path, *data, "--max_steps", "2")
    # --resume_from_checkpoint latest resumes at step 2 of 2 and trains no further: the final weights are
    # checkpoint-2's.
    run(checkpoint, tmp_path, *data, "--max_steps", "2", "--resume_from_checkpoint", "latest")
    final = load_file(tmp_path / "model.safetensors")
    assert final.keys() == saved.keys() and all(torch.equal(final[k], saved[k]) for k in saved)
    # --resume_from_checkpoint names the checkpoint explicitly, here into another output folder.
    other_dir = tmp_path / "other"
    run(checkpoint, other_dir, *data, "--max_steps", "2", "--resume_from_checkpoint", str(tmp_path / "checkpoint-2"))
    other = load_file(tmp_path / "other" / "model.safetensors")
    assert all(torch.equal(other[k], saved[k]) for k in saved)
    with pytest.raises(FileNotFoundError, match=r"--resume_from_checkpoint .*checkpoint-9: no such folder"):
        run(checkpoint, tmp_path / "x", *data, "--resume_from_checkpoint", str(tmp_path / "checkpoint-9"))


class RecordingHub:
    """Stands in for the Hub's HTTP API (no network here): records what the Trainer creates and uploads."""

    def __init__(self, monkeypatch):
        self.calls = []
        hub = self

        def create_repo(api, repo_id, **kwargs):
            hub.calls.append(("create_repo", repo_id, kwargs.get("private")))
            from huggingface_hub import RepoUrl

            return RepoUrl(f"https://huggingface.co/{repo_id}")

        def upload_folder(api, *, repo_id, folder_path, **kwargs):
            folder = Path(folder_path)
            files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
            hub.calls.append(("upload_folder", repo_id, files, (folder / "README.md").read_text()))

        monkeypatch.setattr(HfApi, "create_repo", create_repo)
        monkeypatch.setattr(HfApi, "upload_folder", upload_folder)


@pytest.mark.integration
def test_push_to_hub_goes_through_the_trainer_with_the_aasp_card(hub, checkpoint, tmp_path, monkeypatch):
    recorder = RecordingHub(monkeypatch)
    run(
        checkpoint,
        tmp_path,
        *esc50_fold(hub, 1),
        "--push_to_hub",
        "--hub_model_id",
        "org/aasp-esc50-fold1",
        "--hub_private_repo",
        "true",
    )
    [create, upload] = recorder.calls
    assert create == ("create_repo", "org/aasp-esc50-fold1", True)
    _, repo_id, files, card = upload
    assert repo_id == "org/aasp-esc50-fold1"
    for name in (
        "config.json",
        "model.safetensors",
        "modeling_aasp.py",
        "configuration_aasp.py",
        "feature_extraction_aasp.py",
        "preprocessor_config.json",
        "README.md",
        "results.json",
    ):
        assert name in files
    # The uploaded card is the AaSP card (measured result, data license), not the Trainer's draft.
    assert 'model="org/aasp-esc50-fold1"' in card and "non-commercial" in card
    assert metadata_load(tmp_path / "README.md")["license_name"] == "non-commercial-training-data"
    auto_map = json.loads((tmp_path / "config.json").read_text())["auto_map"]
    assert {"AutoModel", "AutoModelForAudioClassification"} <= set(auto_map)
    # The published folder works as a pipeline on a numpy array, with the benchmark's label names.
    classifier = pipeline("audio-classification", model=str(tmp_path))
    predictions = classifier({"array": np.zeros(8000, dtype=np.float32), "sampling_rate": 16000}, top_k=None)
    assert sorted(p["label"] for p in predictions) == sorted(hub_layouts.ESC50_CATEGORIES)


def test_push_to_hub_with_all_folds_is_refused(checkpoint, tmp_path):
    with pytest.raises(ValueError, match="--push_to_hub publishes one model"):
        run(checkpoint, tmp_path, "--task", "esc50", "--all_folds", "--push_to_hub")


# ----------------------------------------------------------------------------------------------------------------------
# Command line


def test_help_lists_the_registered_benchmarks(capsys):
    with pytest.raises(SystemExit) as exit_info:
        finetune.main(["--help"])
    assert exit_info.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert f"one of: {', '.join(task_names())}." in help_text
    assert "esc50" in task_names() and "as20k" in task_names()


@pytest.mark.parametrize("missing", ["outputs_that_do_not_exist/run/final", "./no_checkpoint_here"])
def test_a_missing_local_checkpoint_is_named(missing, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=rf"--model_name_or_path {missing}: no such file or folder .* local"):
        finetune.main(["--model_name_or_path", missing, "--task", "esc50", "--output_dir", "out"])


def test_a_local_folder_without_config_is_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"holds no config\.json"):
        finetune.main(["--model_name_or_path", str(tmp_path / "empty"), "--task", "esc50", "--output_dir", "o"])


@pytest.mark.integration
def test_the_script_logs_its_summary_at_the_default_level_and_reads_a_yaml_config(hub, checkpoint, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data": {"task": "esc50", "dataset_name": str(hub["esc50"]), "fold": 5, "clip_seconds": 0.5},
                "training": {
                    "max_steps": 1,
                    "per_device_train_batch_size": 8,
                    "report_to": "none",
                    "use_cpu": True,
                    "save_strategy": "no",
                },
            }
        )
    )
    process = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--config",
            str(config),
            "--model_name_or_path",
            str(checkpoint),
            "--output_dir",
            str(tmp_path / "out"),
            "--disable_tqdm",
            "true",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert process.returncode == 0, process.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "results.json").read_text())
    assert summary["folds"] == {"5": summary["mean"]}  # the fold came from the YAML file
    low, high = summary["wilson95"]  # one run: the binomial interval of its 3 test clips
    expected = f"ESC-50: accuracy = {summary['mean']:.4f} (95 % Wilson interval {low:.4f}-{high:.4f}, 3 test clips)"
    assert expected in process.stderr
