# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Failures caused by the user's files or environment end with one line and exit status 1, and never cost the last
complete checkpoint; checkpoints are durable and resume passes over unreadable ones.

The scripts run in child processes; a full disk and a read-only folder are injected in the child (a drive script
patches the failing call, then runs the script as `__main__`), since making them for real needs root mounts.
"""

import json
import os
import re
from pathlib import Path

import hub_layouts
import pytest
import torch
from audio_files import write_good_corpus
from reliability.runs import (
    complete_checkpoint_steps,
    error_line,
    metric_steps,
    pretrain_args,
    run,
    script,
)
from safetensors import safe_open
from safetensors.torch import load_file

from transformers_aasp.training.checkpointing import (
    TRAINING_STATE_FILE,
    CheckpointError,
    CheckpointStore,
    TrainingProgress,
)


# A checkpoint write whose FULL_AT_SAVE-th model file meets a full disk: part of the file is written, then the error
# safetensors raises on ENOSPC.
FULL_DISK_DRIVER = """
import os, runpy, sys
import accelerate.utils.other
from safetensors import SafetensorError

real_save = accelerate.utils.other.safe_save_file
saves = 0

def save_onto_a_full_disk(tensors, filename, metadata=None):
    global saves
    saves += 1
    if saves < int(os.environ["FULL_AT_SAVE"]):
        return real_save(tensors, filename, metadata=metadata)
    with open(filename, "wb") as stream:
        stream.write(bytes(1024))
    raise SafetensorError(
        'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })'
    )

accelerate.utils.other.safe_save_file = save_onto_a_full_disk
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""

# Every attempt to create or write a file or folder under READ_ONLY fails as on a read-only file system.
READ_ONLY_DRIVER = """
import errno, os, runpy, sys

read_only = os.path.realpath(os.environ["READ_ONLY"])
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

def writes(event, args):
    if event == "open":
        path, mode, flags = args
        by_mode = mode is not None and any(char in mode for char in "wax+")
        return not isinstance(path, int) and (by_mode or bool(flags & WRITE_FLAGS))
    if event == "os.mkdir":
        return not os.path.isdir(args[0])  # an existing folder: EEXIST, as on a read-only file system
    return event in ("os.rename", "os.remove", "os.rmdir", "shutil.rmtree")

def refuse_writes(event, args):
    if writes(event, args) and os.path.realpath(os.fsdecode(args[0])).startswith(read_only):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(args[0]))

sys.addaudithook(refuse_writes)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.integration
def test_a_full_disk_during_a_checkpoint_ends_in_one_line_and_the_run_resumes(tmp_path):
    corpus, output = tmp_path / "corpus", tmp_path / "run"
    write_good_corpus(corpus)
    driver = tmp_path / "full_disk_driver.py"
    driver.write_text(FULL_DISK_DRIVER)
    args = pretrain_args(corpus, output, 6, "--checkpointing_steps", "2", "--resume_from_checkpoint", "latest")
    full = run(str(driver), script("pretrain"), *args, FULL_AT_SAVE="2")  # the checkpoint of step 4
    assert full.returncode == 1, full.stderr[-3000:]
    line = error_line(full.stderr)
    assert "CheckpointError: Could not write the checkpoint" in line and "No space left on device" in line, line
    assert f"the last complete checkpoint, {output / 'checkpoints' / 'checkpoint_0'}, is intact" in line, line
    assert complete_checkpoint_steps(output) == [2]
    assert not list((output / "checkpoints").glob("*.incomplete"))  # the partial write was deleted
    with safe_open(str(output / "checkpoints" / "checkpoint_0" / "model.safetensors"), framework="pt"):
        pass
    resumed = run(script("pretrain"), *args)  # space freed: the same command goes on from step 2
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert metric_steps(output) == [1, 2, 3, 4, 5, 6]
    assert complete_checkpoint_steps(output) == [2, 4, 6]


@pytest.mark.integration
def test_a_read_only_output_dir_ends_in_one_line_naming_it(tmp_path):
    corpus, output = tmp_path / "corpus", tmp_path / "read_only"
    write_good_corpus(corpus)
    output.mkdir()
    driver = tmp_path / "read_only_driver.py"
    driver.write_text(READ_ONLY_DRIVER)
    refused = run(str(driver), script("pretrain"), *pretrain_args(corpus, output, 2), READ_ONLY=str(output))
    assert refused.returncode == 1, refused.stderr[-3000:]
    line = error_line(refused.stderr)
    assert f"--output_dir {output.resolve()} is not writable (Read-only file system)" in line, line
    assert list(output.iterdir()) == []


@pytest.mark.integration
@pytest.mark.parametrize("given_statistics", [True, False], ids=["norm_given", "norm_computed"])
def test_a_corpus_where_nothing_decodes_ends_in_one_line_with_the_count(tmp_path, given_statistics):
    corpus, output = tmp_path / "corpus", tmp_path / "run"
    corpus.mkdir()
    for index in range(5):
        (corpus / f"fake{index}.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk" + bytes(range(256)))
    extra = ("--norm_mean", "-4.0", "--norm_std", "4.0") if given_statistics else ()
    refused = run(script("pretrain"), *pretrain_args(corpus, output, 2, "--num_workers", "2", *extra))
    assert refused.returncode == 1, refused.stderr[-3000:]
    line = error_line(refused.stderr)
    assert f"ValueError: --dataset {corpus}: None of the 5 clip(s) could be decoded (the first: " in line, line
    assert "fake" in line and "0 clip(s) rejected" not in line, line


@pytest.mark.integration
def test_corrupt_weights_given_to_finetune_end_in_one_line_naming_the_file(tmp_path):
    model = hub_layouts.save_tiny_aasp_checkpoint(tmp_path / "model")
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # a copy cut short
    refused = run(
        script("finetune"),
        *("--model_name_or_path", str(model), "--task", "esc50", "--output_dir", str(tmp_path / "out")),
        *("--use_cpu", "true", "--report_to", "none"),
    )
    assert refused.returncode == 1, refused.stderr[-3000:]
    line = error_line(refused.stderr)
    assert f"--model_name_or_path {model}: model.safetensors is not a readable safetensors file" in line, line
    assert not (tmp_path / "out").exists()


# Checkpoints written and read by CheckpointStore, in-process, with a one-layer model
@pytest.fixture
def accelerator():
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    yield Accelerator(cpu=True)
    AcceleratorState._reset_state(True)
    GradientState._reset_state()


def prepared_linear(accelerator):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    return accelerator.prepare(model, torch.optim.AdamW(model.parameters(), lr=0.1))


def train_and_save(accelerator, store, model, optimizer, progress) -> Path:
    """One optimizer step, then a checkpoint of it."""
    model(torch.ones(2, 4)).sum().backward()
    optimizer.step()
    optimizer.zero_grad()
    progress.step += 1
    return store.save(accelerator, progress)


def test_every_checkpoint_file_is_fsynced_before_the_checkpoint_is_marked_complete(tmp_path, accelerator, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def recording_fsync(descriptor):
        synced.append(Path(os.readlink(f"/proc/self/fd/{descriptor}")).name)
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    store = CheckpointStore(tmp_path)
    final = train_and_save(accelerator, store, *prepared_linear(accelerator), TrainingProgress())
    files = {path.name for path in final.iterdir()}
    assert {"model.safetensors", "optimizer.bin", "random_states_0.pkl", TRAINING_STATE_FILE} <= files
    marked_complete = synced.index(TRAINING_STATE_FILE)
    assert files - {TRAINING_STATE_FILE} <= set(synced[:marked_complete])


@pytest.mark.parametrize(
    ("damaged", "damage"),
    [("model.safetensors", b""), ("optimizer.bin", b"PK\x03\x04 cut short"), ("model.safetensors", bytes(64))],
    ids=["empty_weights", "truncated_optimizer", "zeroed_weights"],
)
def test_resume_latest_falls_back_past_an_unreadable_checkpoint_naming_it(
    tmp_path, accelerator, caplog, damaged, damage
):
    store = CheckpointStore(tmp_path)
    model, optimizer = prepared_linear(accelerator)
    progress = TrainingProgress()
    older = train_and_save(accelerator, store, model, optimizer, progress)
    older_weights = load_file(older / "model.safetensors")
    newest = train_and_save(accelerator, store, model, optimizer, progress)
    (newest / damaged).write_bytes(damage)  # a power loss before the file reached the disk

    with caplog.at_level("WARNING"):
        found = store.find("latest")
    assert found == older
    assert re.search(
        rf"Skipping the checkpoint {re.escape(str(newest))}: {re.escape(damaged)} is unreadable", caplog.text
    )
    assert store.load(accelerator, found).step == 1
    assert torch.equal(model.weight.detach(), older_weights["weight"])

    # the next checkpoint sets the unreadable one aside, so rotation never keeps it in place of a readable one
    after = train_and_save(accelerator, store, model, optimizer, TrainingProgress(step=2))
    assert store.complete() == [older, after]
    assert (newest.parent / f"{newest.name}.unreadable" / damaged).read_bytes() == damage


def test_resume_latest_stops_when_no_complete_checkpoint_is_readable(tmp_path, accelerator):
    store = CheckpointStore(tmp_path)
    checkpoint = train_and_save(accelerator, store, *prepared_linear(accelerator), TrainingProgress())
    (checkpoint / "model.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"None of the 1 complete checkpoint\(s\) in .* is readable"):
        store.find("latest")
    assert json.loads((checkpoint / TRAINING_STATE_FILE).read_text())["step"] == 1  # nothing was deleted
