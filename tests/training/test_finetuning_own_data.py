# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""examples/finetune.py on a user's own folder of labelled clips, and on re-runs into a used output folder: the
layouts it accepts (and refuses before any model loads), the held-out fractions, resume and overwrite, and resuming
only from complete checkpoints."""

import csv
import json
import logging
import re
import shutil
from pathlib import Path

import hub_layouts
import numpy as np
import pytest
import soundfile
import torch
from example_scripts import QUICK_FINETUNE_OPTIONS, load_example
from safetensors.torch import load_file

from transformers_aasp.training.finetuning import SETTINGS_FILE


finetune = load_example("finetune")
CLASSES = ("bell", "drum", "horn", "whistle")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return hub_layouts.save_tiny_aasp_checkpoint(tmp_path_factory.mktemp("aasp_tiny"))


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())

    @property
    def text(self) -> str:
        return "\n".join(self.messages)


@pytest.fixture
def warnings_logged():
    """The package's warnings (its logger does not propagate to pytest's handler once a script set it up)."""
    records, package_logger = Records(), logging.getLogger("transformers_aasp")
    package_logger.addHandler(records)
    yield records
    package_logger.removeHandler(records)


def write_clip(path: Path, class_index: int, seed: int, seconds: float = 0.5) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, hub_layouts.tone(class_index, seconds, 16000, seed), 16000)
    return path


def class_folders(root: Path, clips_per_class: int, seconds: float = 0.5, seed: int = 0) -> Path:
    """`root/<class>/<i>.wav` for the four CLASSES."""
    for class_index, name in enumerate(CLASSES):
        for i in range(clips_per_class):
            write_clip(root / name / f"{i}.wav", class_index, seed + 100 * class_index + i, seconds)
    return root


def options(checkpoint, output_dir, *extra) -> list[str]:
    quick = [option for option in QUICK_FINETUNE_OPTIONS if option != "--no_verify_split_sizes"]
    return ["--model_name_or_path", str(checkpoint), "--output_dir", str(output_dir), *quick, *extra]


def refuses_before_loading_a_model(monkeypatch):
    """Makes loading any classifier fail loudly, so that a test sees a refusal come before it."""

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded before the refusal")

    monkeypatch.setattr("transformers_aasp.training.finetuning.load_classifier", no_model)


# Layouts


@pytest.mark.integration
def test_a_folder_of_class_folders_fine_tunes_with_a_held_out_test_fraction(checkpoint, tmp_path):
    data = class_folders(tmp_path / "mydata", clips_per_class=10)
    out = tmp_path / "out"
    summary = finetune.main(options(checkpoint, out, "--dataset_name", str(data), "--train_test_split", "0.2"))
    assert summary["num_test_clips"] == 8  # 20 % of each class's 10 clips
    assert summary["num_train_clips"] == [28]  # of the other 32, --train_val_split 0.1 holds 1 per class out
    assert summary["benchmark"] == "mydata"  # outputs carry the dataset's name
    low, high = summary["wilson95"]
    assert low <= summary["mean"] <= high and 0 < high - low < 1
    card = (out / "README.md").read_text()
    assert "0.5 s" in card or "0.50 s" in card  # the clip length came from the clips, not the 10 s default


@pytest.mark.integration
def test_train_and_test_folders_with_class_folders_keep_their_split(checkpoint, tmp_path):
    for split, count in (("train", 4), ("test", 2)):
        class_folders(tmp_path / "data" / split, clips_per_class=count, seed=7 if split == "test" else 0)
    summary = finetune.main(options(checkpoint, tmp_path / "out", "--dataset_name", str(tmp_path / "data")))
    assert summary["num_test_clips"] == 8


@pytest.mark.integration
def test_a_metadata_csv_with_a_split_column_fine_tunes(checkpoint, tmp_path):
    rows = []
    for class_index, name in enumerate(CLASSES):
        for i in range(5):
            write_clip(tmp_path / "data" / "clips" / f"{name}{i}.wav", class_index, i)
            rows.append(
                {"file_name": f"clips/{name}{i}.wav", "category": name, "split": "test" if i == 4 else "train"}
            )
    with open(tmp_path / "data" / "metadata.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file_name", "category", "split"])
        writer.writeheader()
        writer.writerows(rows)
    data = ["--dataset_name", str(tmp_path / "data"), "--label_column", "category"]
    summary = finetune.main(options(checkpoint, tmp_path / "out", *data))
    assert summary["num_test_clips"] == 4  # the split column's test rows; 1 of each class's 4 train rows validates
    assert summary["num_train_clips"] == [12]


@pytest.mark.parametrize(
    ("layout", "problem"),
    [
        ("flat_splits", "audio files lie directly in train/, not in class folders"),
        ("flat", "audio files lie directly in data/, not in class folders"),
        ("one_class", "data/ holds fewer than two class folders with audio files"),
        ("test_only", "split folders but no train/"),
    ],
)
def test_a_mislaid_folder_is_refused_before_any_model_loads(layout, problem, checkpoint, tmp_path, monkeypatch):
    data = tmp_path / "data"
    if layout == "flat_splits":
        write_clip(data / "train" / "a.wav", 0, 0)
        write_clip(data / "test" / "b.wav", 1, 1)
    elif layout == "flat":
        write_clip(data / "a.wav", 0, 0)
    elif layout == "one_class":
        write_clip(data / "bell" / "a.wav", 0, 0)
    else:
        write_clip(data / "test" / "bell" / "a.wav", 0, 0)
    refuses_before_loading_a_model(monkeypatch)
    with pytest.raises(ValueError, match=rf"{problem}\. Expected layouts: <folder>/<class>/\*\.wav"):
        finetune.main(options(checkpoint, tmp_path / "out", "--dataset_name", str(data)))


def test_a_class_of_one_clip_leaves_an_empty_split_and_is_refused(checkpoint, tmp_path, monkeypatch):
    data = class_folders(tmp_path / "data", clips_per_class=1)
    refuses_before_loading_a_model(monkeypatch)
    with pytest.raises(ValueError, match=r"split 'test' is empty\. Expected layouts"):
        finetune.main(options(checkpoint, tmp_path / "out", "--dataset_name", str(data)))


@pytest.mark.parametrize("missing", ["./my_clips", "data/missing/clips"])
def test_a_mistyped_dataset_path_is_named_in_one_line(missing, checkpoint, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    with pytest.raises(FileNotFoundError, match=rf"--dataset_name {missing}: no such file or folder"):
        finetune.main(options(checkpoint, "out", "--dataset_name", missing))


def test_short_clips_are_named_and_padded_and_the_clip_length_comes_from_the_data(tmp_path, warnings_logged):
    from transformers_aasp.data.loading import resolve_task

    data = class_folders(tmp_path / "hits", clips_per_class=10, seconds=0.3)
    write_clip(data / "drum" / "tiny.wav", 1, 99, seconds=0.02)
    task = resolve_task(dataset_name=str(data))
    assert task.spec.clip_seconds == 0.3  # the 95th percentile of the durations
    assert "tiny.wav" in warnings_logged.text and "zero-padded" in warnings_logged.text
    assert task.spec.name == "hits"


# Re-runs into a used output folder


def quick_run(checkpoint, data, out, *extra):
    return finetune.main(
        options(checkpoint, out, "--dataset_name", str(data), "--save_strategy", "steps", "--save_steps", "1", *extra)
    )


@pytest.mark.integration
def test_a_used_output_folder_is_refused_unless_resumed_or_overwritten(checkpoint, tmp_path, monkeypatch):
    data = class_folders(tmp_path / "data", clips_per_class=4)
    out = tmp_path / "out"
    quick_run(checkpoint, data, out, "--max_steps", "2", "--learning_rate", "1e-3")
    first = load_file(out / "model.safetensors")
    with monkeypatch.context() as patch:
        refuses_before_loading_a_model(patch)
        with pytest.raises(
            FileExistsError, match=r"already holds a fine-tuning run .*--resume_from_checkpoint latest"
        ):
            quick_run(checkpoint, data, out, "--max_steps", "2", "--learning_rate", "1e-2")
    # Resuming with another learning rate would leave weights trained at 1e-3 under a card saying 1e-2: refused.
    with pytest.raises(ValueError, match=r"trained with learning_rate=0\.001, this command gives learning_rate=0\.01"):
        quick_run(
            checkpoint, data, out, "--max_steps", "2", "--learning_rate", "1e-2", "--resume_from_checkpoint", "latest"
        )
    # Resuming with the same settings and more steps continues the run; the card states what trained the weights.
    quick_run(checkpoint, data, out, "--max_steps", "3", "--learning_rate", "1e-3", "--resume_from_checkpoint", "last")
    assert (out / "checkpoint-3").is_dir()
    assert re.search(r"learning_rate\W+0\.001\W", (out / "README.md").read_text())
    # Overwriting starts over: the new learning rate trained the new weights, which the card states.
    quick_run(checkpoint, data, out, "--max_steps", "2", "--learning_rate", "1e-2", "--overwrite_output_dir")
    assert not (out / "checkpoint-3").exists()
    assert json.loads((out / SETTINGS_FILE).read_text())["learning_rate"] == 0.01
    assert re.search(r"learning_rate\W+0\.01\W", (out / "README.md").read_text())
    second = load_file(out / "model.safetensors")
    assert any(not torch.equal(first[key], second[key]) for key in first)


@pytest.mark.integration
def test_resume_skips_a_half_written_checkpoint_and_ends_with_the_uninterrupted_weights(
    checkpoint, tmp_path, warnings_logged
):
    data = class_folders(
        tmp_path / "data", clips_per_class=4, seconds=0.8
    )  # longer than --clip_seconds: randomly cropped
    recipe = ("--max_steps", "4", "--learning_rate", "1e-3", "--seed", "3")
    uninterrupted = tmp_path / "uninterrupted"
    quick_run(checkpoint, data, uninterrupted, *recipe)
    # A run killed while writing checkpoint-3: its weights cut short and no trainer_state.json (written last).
    interrupted = tmp_path / "interrupted"
    interrupted.mkdir()
    for name in ("checkpoint-1", "checkpoint-2", "checkpoint-3"):
        shutil.copytree(uninterrupted / name, interrupted / name)
    shutil.copy(uninterrupted / SETTINGS_FILE, interrupted / SETTINGS_FILE)
    weights = interrupted / "checkpoint-3" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    (interrupted / "checkpoint-3" / "trainer_state.json").unlink()
    quick_run(checkpoint, data, interrupted, *recipe, "--resume_from_checkpoint", "latest")
    assert f"Skipping {interrupted / 'checkpoint-3'}: an incomplete checkpoint" in warnings_logged.text
    expected, resumed = load_file(uninterrupted / "model.safetensors"), load_file(interrupted / "model.safetensors")
    # On CPU with the same seed a resumed run repeats the uninterrupted one operation for operation (the Trainer
    # restores the data order and the RNG states): the weights are equal to the bit.
    assert expected.keys() == resumed.keys() and all(torch.equal(expected[k], resumed[k]) for k in expected)


def test_an_incomplete_checkpoint_named_explicitly_is_refused(checkpoint, tmp_path):
    broken = tmp_path / "checkpoint-5"
    broken.mkdir()
    (broken / "trainer_state.json").write_text("{}")
    (broken / "model.safetensors").write_bytes(b"\x10\x00\x00")
    data = class_folders(tmp_path / "data", clips_per_class=4)
    with pytest.raises(
        ValueError,
        match=r"checkpoint-5: not a complete checkpoint \(ValueError: .*model.safetensors is not a readable",
    ):
        quick_run(checkpoint, data, tmp_path / "out", "--resume_from_checkpoint", str(broken))


def test_durations_set_the_clip_length_at_a_high_percentile_capped_at_ten_seconds():
    from transformers_aasp.data.loading import clip_seconds_from_durations

    assert clip_seconds_from_durations([1.0] * 96 + [30.0] * 4) == 1.0  # 4 % outliers
    assert clip_seconds_from_durations([30.0] * 10) == 10.0
    np.testing.assert_allclose(clip_seconds_from_durations([0.001]), 0.025)


def test_a_dataset_name_found_neither_here_nor_on_the_hub_is_one_line(checkpoint, tmp_path, monkeypatch):
    def unreachable(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'mydata' on the Hub")

    monkeypatch.setattr("transformers_aasp.data.loading.load_dataset", unreachable)
    with pytest.raises(FileNotFoundError, match=r"mydata: no such local folder or file, and the Hub could not be"):
        finetune.main(options(checkpoint, tmp_path / "out", "--dataset_name", "mydata"))
