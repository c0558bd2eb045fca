# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""One run per output folder (`training.locking.hold_output_dir`), and no process outliving a killed run.

Every run is a child process (the scripts as users start them); the process census uses psutil.
"""

import signal
import time
from pathlib import Path

import hub_layouts
import psutil
import pytest
from audio_files import write_audioset_like_flac, write_good_corpus
from reliability.runs import (
    complete_checkpoint_steps,
    error_line,
    metric_steps,
    pretrain_args,
    run,
    script,
    start,
)

from transformers_aasp.training.locking import LOCK_FILE


pytestmark = pytest.mark.integration

HOLDER = """
import sys, time
from transformers_aasp.training.locking import hold_output_dir
hold_output_dir(sys.argv[1])
print("held", flush=True)
time.sleep(600)
"""


def refusal_names(line: str, folder: Path, holder_pid: int) -> None:
    assert "OutputDirInUse" in line and str(folder.resolve()) in line, line
    assert f"pid {holder_pid} on " in line and "started " in line, line


def test_two_starts_on_one_folder_one_is_refused_and_the_other_run_is_intact(tmp_path):
    corpus, output = tmp_path / "corpus", tmp_path / "run"
    write_good_corpus(corpus)
    args = pretrain_args(corpus, output, 6, "--checkpointing_steps", "2", "--checkpoints_total_limit", "10")
    first, second = start(script("pretrain"), *args), start(script("pretrain"), *args)
    results = {process.pid: (process.wait(timeout=300), process.communicate()[1]) for process in (first, second)}
    codes = sorted(code for code, _ in results.values())
    assert codes == [0, 1], {pid: stderr[-2000:] for pid, (_, stderr) in results.items()}
    (winner,) = [pid for pid, (code, _) in results.items() if code == 0]
    (refused_stderr,) = [stderr for code, stderr in results.values() if code == 1]
    refusal_names(error_line(refused_stderr), output, winner)
    assert "examples/pretrain.py" in error_line(refused_stderr)
    # the run that went on is the only one in the folder: every step logged once, every checkpoint complete
    assert metric_steps(output) == [1, 2, 3, 4, 5, 6]
    assert complete_checkpoint_steps(output) == [2, 4, 6]
    assert not list((output / "checkpoints").glob("*.incomplete"))
    assert (output / "final" / "model.safetensors").is_file()


def test_every_script_is_refused_while_a_folder_is_held_and_a_killed_holder_blocks_nothing(tmp_path):
    corpus, folder = tmp_path / "corpus", tmp_path / "held"
    write_good_corpus(corpus)
    holder = start("-c", HOLDER, str(folder))
    try:
        assert holder.stdout.readline().strip() == "held"
        model = hub_layouts.save_tiny_aasp_checkpoint(tmp_path / "model")
        commands = {
            "prepare_pretraining_data": ["--dataset", str(corpus), "--output_dir", str(folder)],
            "pretrain": pretrain_args(corpus, folder, 1),
            "finetune": [
                *("--model_name_or_path", str(model), "--task", "esc50", "--output_dir", str(folder)),
                *("--use_cpu", "true", "--report_to", "none"),
            ],
        }
        for name, args in commands.items():
            refused = run(script(name), *args)
            assert refused.returncode == 1, (name, refused.stderr[-3000:])
            refusal_names(error_line(refused.stderr), folder, holder.pid)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (folder / LOCK_FILE).is_file()  # the dead holder's lock file stays; its lock went with it
    prepared = run(script("prepare_pretraining_data"), "--dataset", str(corpus), "--output_dir", str(folder))
    assert prepared.returncode == 0, prepared.stderr[-3000:]
    assert (folder / "prepare_summary.json").is_file()


def descendants(process: psutil.Process) -> list[psutil.Process]:
    try:
        return process.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def kill_and_census(process, ready, min_children: int, signal_number: int = signal.SIGKILL) -> list[str]:
    """Waits until `ready()` and `process` has `min_children` descendants, sends `signal_number` to `process` alone,
    and returns the command lines of its descendants still alive 15 s later (a generous bound: dying takes
    milliseconds)."""
    parent = psutil.Process(process.pid)
    deadline = time.monotonic() + 240
    children: list[psutil.Process] = []
    while len(children) < min_children or not ready():
        assert process.poll() is None, f"the run ended before it could be killed: {process.communicate()[1][-3000:]}"
        assert time.monotonic() < deadline, "the run never started its workers"
        time.sleep(0.02)
        children = [child for child in descendants(parent) if alive(child)]
    process.send_signal(signal_number)
    process.wait(timeout=60)
    survivors = children
    until = time.monotonic() + 15
    while survivors and time.monotonic() < until:
        time.sleep(0.1)
        survivors = [child for child in survivors if alive(child)]
    return [" ".join(child.cmdline()) for child in survivors if alive(child)]


def test_killing_a_preparation_leaves_no_map_worker_behind(tmp_path):
    corpus, output = tmp_path / "corpus", tmp_path / "shards"
    for index in range(40):  # 48 kHz 24-bit stereo: ~20 ms of decoding and resampling each
        write_audioset_like_flac(corpus / f"clip{index:02d}.flac", seconds=10.0, seed=index)
    process = start(
        script("prepare_pretraining_data"),
        *("--dataset", str(corpus), "--output_dir", str(output), "--num_proc", "2"),
        stdout=None,
        stderr=None,
    )
    # two map workers and the Manager of their queue
    survivors = kill_and_census(process, ready=lambda: True, min_children=3)
    assert not (output / "prepare_summary.json").exists(), "the preparation finished before the kill"
    assert survivors == []


@pytest.mark.parametrize("signal_number", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killing_pre_training_leaves_no_data_loader_worker_behind(tmp_path, signal_number):
    corpus, output = tmp_path / "corpus", tmp_path / "run"
    write_good_corpus(corpus)
    args = pretrain_args(corpus, output, 1000, "--num_workers", "2", "--checkpointing_steps", "1000")
    process = start(script("pretrain"), *args, stdout=None, stderr=None)
    metrics = output / "metrics.jsonl"
    started = lambda: metrics.is_file() and '"step": 1,' in metrics.read_text()  # noqa: E731
    assert kill_and_census(process, ready=started, min_children=2, signal_number=signal_number) == []
    assert process.returncode == -signal_number
