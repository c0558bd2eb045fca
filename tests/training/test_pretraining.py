# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Tests of `accelerate launch examples/pretrain.py` (the data module is tested in tests/data/test_pretraining_data.py).

Runs use the smallest model (AaSPConfig.tiny with 2 layers, 2 mask clones), 160-frame crops and a few synthetic
wav files written to tmp_path. Runs that need their own process (the 2-process DDP run, the SIGKILL/resume test)
use subprocesses; the others call `pretrain.main` in-process.
"""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from audio_files import write_bad_files, write_good_corpus
from safetensors.torch import load_file

from transformers_aasp import AaSPFeatureExtractor, AaSPModel
from transformers_aasp.data.pretraining import (
    list_audio_files,
)


REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "examples" / "pretrain.py"
PYTHON = sys.executable
ACCELERATE = str(Path(sys.executable).with_name("accelerate"))
CROP = 160  # frames (1.6 s): 10 time patches, enough for 0.8 inverse-block masking and fast on CPU
TINY_OVERRIDES = json.dumps({"num_hidden_layers": 2, "num_target_layers": 2, "num_mask_clones": 2})


def load_pretrain_module():
    spec = importlib.util.spec_from_file_location("pretrain_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


pretrain = load_pretrain_module()


# ------------------------------------------------------------------------------------------------------------------
# Fixtures and helpers
# ------------------------------------------------------------------------------------------------------------------
@pytest.fixture
def corpus(tmp_path) -> Path:
    folder = tmp_path / "corpus"
    write_good_corpus(folder)
    return folder


@pytest.fixture
def feature_extractor():
    return AaSPFeatureExtractor()


@pytest.fixture
def fresh_accelerate_state():
    """In-process runs create an Accelerator each; its state is a process-wide singleton."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    yield
    AcceleratorState._reset_state(True)
    GradientState._reset_state()


def run_args(dataset: Path, output_dir: Path, max_steps: int, *extra: str) -> list[str]:
    return [
        "--dataset",
        str(dataset),
        "--output_dir",
        str(output_dir),
        "--model_config",
        "tiny",
        "--model_overrides",
        TINY_OVERRIDES,
        "--crop_frames",
        str(CROP),
        "--per_device_batch_size",
        "2",
        "--max_steps",
        str(max_steps),
        "--warmup_steps",
        "1",
        "--learning_rate",
        "1e-3",
        "--logging_steps",
        "1",
        "--num_workers",
        "0",
        "--report_to",
        "none",
        "--norm_stats_clips",
        "4",
        *extra,
    ]


def read_metrics(output_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (output_dir / "metrics.jsonl").read_text().splitlines()]


def losses_by_step(output_dir: Path) -> dict[int, dict]:
    """The last record logged for each step (a killed run may have logged steps that were redone)."""
    return {record["step"]: record for record in read_metrics(output_dir) if "event" not in record}


def checkpoint_at_step(output_dir: Path, step: int) -> Path:
    """The complete checkpoint written at `step` (folder numbers depend on where a run was interrupted)."""
    for folder in (output_dir / "checkpoints").glob("checkpoint_*"):
        state = folder / "training_state.json"
        if state.is_file() and json.loads(state.read_text())["step"] == step:
            return folder
    raise AssertionError(f"no checkpoint of step {step} in {output_dir}")


def subprocess_env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    env.pop("MASTER_PORT", None)
    return env


# ------------------------------------------------------------------------------------------------------------------
# Options
# ------------------------------------------------------------------------------------------------------------------
def test_yaml_config_with_command_line_overrides(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data": {"dataset": "embedded", "crop_frames": 320},
                "optimization": {"learning_rate": "2e-4", "max_steps": 50},
            }
        )
    )
    args = pretrain.parse_options(["--config", str(config), "--output_dir", str(tmp_path), "--max_steps", "7"])
    assert (args.dataset, args.crop_frames, args.learning_rate, args.max_steps) == ("embedded", 320, 2e-4, 7)
    config.write_text(yaml.safe_dump({"optimization": {"learning_rte": 1e-3}}))
    with pytest.raises(ValueError, match="unknown option 'learning_rte' \\(section 'optimization'\\)"):
        pretrain.parse_options(["--config", str(config)])
    with pytest.raises(ValueError, match="Missing required option\\(s\\): --dataset, --output_dir"):
        pretrain.parse_options(["--max_steps", "3"])


def test_shipped_configs():
    base = pretrain.parse_options(["--config", str(REPO / "configs/aasp_base.yaml"), "--output_dir", "unused"])
    assert base.model_config == "base" and base.model_overrides["num_mask_clones"] == 8
    assert (base.learning_rate, base.crop_frames, base.mixed_precision, base.streaming) == (5e-4, 608, "bf16", True)
    assert pretrain.model_config(base.model_config, base.model_overrides).hidden_size == 768
    tiny = pretrain.parse_options(["--config", str(REPO / "configs/aasp_tiny.yaml"), "--output_dir", "unused"])
    assert tiny.dataset == "embedded" and tiny.max_steps <= 500
    assert pretrain.model_config(tiny.model_config, tiny.model_overrides).hidden_size == 64


def test_cpu_launcher_that_started_one_process_is_refused():
    class OneProcess:
        num_processes = 1

    env = {"MASTER_PORT": "29500", "MASTER_ADDR": "127.0.0.1", "ACCELERATE_USE_CPU": "True"}
    with pytest.raises(pretrain.LaunchError, match="started a single process"):
        pretrain.check_launch(OneProcess(), env)
    pretrain.check_launch(OneProcess(), {**env, "WORLD_SIZE": "1"})  # torchrun with one process is fine
    pretrain.check_launch(OneProcess(), {"ACCELERATE_USE_CPU": "True"})  # plain single-process launch


# ------------------------------------------------------------------------------------------------------------------
# Runs
# ------------------------------------------------------------------------------------------------------------------
def test_two_process_cpu_ddp_run_exports_a_loadable_encoder(tmp_path, corpus):
    # `accelerate launch --cpu --num_processes 2` starts ONE process with accelerate 1.15 (its CPU launcher needs
    # mpirun); torchrun through --multi_gpu with ACCELERATE_USE_CPU=true gives real 2-process DDP over gloo.
    output = tmp_path / "ddp"
    command = [
        ACCELERATE,
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        "29517",
        str(SCRIPT),
        *run_args(corpus, output, 3, "--num_workers", "1", "--checkpointing_steps", "2"),
    ]
    result = subprocess.run(
        command, env={**subprocess_env(), "ACCELERATE_USE_CPU": "true"}, capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, result.stderr[-3000:]
    start = next(record for record in read_metrics(output) if record.get("event") == "start")
    assert start["num_processes"] == 2
    assert sorted(losses_by_step(output)) == [1, 2, 3]
    model, info = AaSPModel.from_pretrained(output / "final", output_loading_info=True)
    assert not info["missing_keys"]
    assert model.config.num_hidden_layers == 2
    fe = AaSPFeatureExtractor.from_pretrained(output / "final")
    assert fe.std != 1.0 and np.isfinite(fe.mean)  # computed corpus statistics, not the defaults
    assert yaml.safe_load((output / "pretrain_config.yaml").read_text())["optimization"]["max_steps"] == 3


def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path, corpus):
    steps = 16
    common = ("--checkpointing_steps", "4", "--checkpoints_total_limit", "10", "--num_workers", "1")
    reference, interrupted = tmp_path / "reference", tmp_path / "interrupted"
    run = subprocess.run(
        [PYTHON, str(SCRIPT), *run_args(corpus, reference, steps, *common)],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stderr[-3000:]

    process = subprocess.Popen(
        [PYTHON, str(SCRIPT), *run_args(corpus, interrupted, steps, *common)],
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 180
    metrics = interrupted / "metrics.jsonl"
    while time.time() < deadline and not (metrics.exists() and '"event": "checkpoint"' in metrics.read_text()):
        assert process.poll() is None, "the run ended before it could be killed"
        time.sleep(0.01)
    assert process.poll() is None, "the run finished before the kill; nothing was interrupted"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (interrupted / "final").exists()

    resumed = subprocess.run(
        [PYTHON, str(SCRIPT), *run_args(corpus, interrupted, steps, *common, "--resume_from_checkpoint", "latest")],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    start = [record for record in read_metrics(interrupted) if record.get("event") == "start"][-1]
    assert start["resumed_from"] is not None and start["step"] in (4, 8, 12)

    # Exact equality: one CPU thread per run, the same ops in the same order, data and masks seeded per step, and
    # model/optimizer/RNG states restored bit for bit, so nothing is left to differ (no tolerance needed).
    expected, actual = losses_by_step(reference), losses_by_step(interrupted)
    assert sorted(actual) == list(range(1, steps + 1))
    for step in range(1, steps + 1):
        for name in ("loss", "frame_loss", "global_loss", "contrastive_loss", "lr", "ema_decay"):
            assert actual[step][name] == expected[step][name], (step, name)
    final_reference = load_file(checkpoint_at_step(reference, steps) / "model.safetensors")
    final_resumed = load_file(checkpoint_at_step(interrupted, steps) / "model.safetensors")
    assert final_reference.keys() == final_resumed.keys()
    assert any(key.startswith("teacher.") for key in final_reference)
    for key in final_reference:
        assert torch.equal(final_reference[key], final_resumed[key]), key


def test_corrupt_empty_silent_and_resampled_files_train_to_the_end(tmp_path, corpus, fresh_accelerate_state, caplog):
    write_bad_files(corpus / "odd")
    assert len(list_audio_files(corpus)) == 13
    output = tmp_path / "odd_run"
    with caplog.at_level("WARNING"):  # 7 steps x 2 clips = 14 positions: the whole first epoch of 13 files
        pretrain.main(run_args(corpus, output, 7, "--checkpointing_steps", "7"))
    records = losses_by_step(output)
    assert sorted(records) == list(range(1, 8))
    assert all(np.isfinite(record["loss"]) for record in records.values())
    unusable = ("corrupt", "empty", "no_frames", "too_short", "nan")
    assert records[7]["skipped_clips"] >= len(unusable)  # every file starts one position of the first epoch
    for name in unusable:
        assert f"odd/{name}.wav" in caplog.text
    for name in ("silent", "cd_rate"):
        assert f"odd/{name}.wav" not in caplog.text
    assert (output / "final" / "model.safetensors").is_file()


def test_nan_loss_is_reported_skipped_and_never_checkpointed(tmp_path, corpus, fresh_accelerate_state, caplog):
    output = tmp_path / "nan_run"
    with caplog.at_level("ERROR"):
        pretrain.main(run_args(corpus, output, 3, "--checkpointing_steps", "1", "--debug_nan_steps", "2"))
    assert "Non-finite loss or gradient at step 2" in caplog.text
    events = [record for record in read_metrics(output) if record.get("event") == "nonfinite_step"]
    assert [event["step"] for event in events] == [2]
    records = losses_by_step(output)
    assert records[2]["loss"] == "nan" and records[3]["updates"] == 2 and records[3]["nonfinite_steps"] == 1
    after_step_1 = load_file(output / "checkpoints" / "checkpoint_0" / "model.safetensors")
    after_step_2 = load_file(output / "checkpoints" / "checkpoint_1" / "model.safetensors")
    for key, tensor in after_step_2.items():
        assert torch.isfinite(tensor).all(), key
        assert torch.equal(tensor, after_step_1[key]), key  # the bad step changed nothing (student nor teacher)


def test_consecutive_nan_steps_stop_the_run(tmp_path, corpus, fresh_accelerate_state):
    output = tmp_path / "diverged"
    with pytest.raises(pretrain.TrainingDiverged, match="2 consecutive steps \\(2 to 3\\) had a non-finite loss"):
        pretrain.main(
            run_args(
                corpus,
                output,
                5,
                "--debug_nan_steps",
                "2",
                "3",
                "--max_consecutive_bad_steps",
                "2",
                "--checkpointing_steps",
                "1",
            )
        )
    checkpoints = sorted((output / "checkpoints").glob("checkpoint_*"))
    assert len(checkpoints) == 2  # steps 1 and 2; step 3 raised before saving
    for checkpoint in checkpoints:
        assert all(torch.isfinite(t).all() for t in load_file(checkpoint / "model.safetensors").values())


def test_push_to_hub_uploads_encoder_feature_extractor_and_card(tmp_path, corpus, fresh_accelerate_state, monkeypatch):
    calls = []

    class RecordingHfApi:
        def create_repo(self, repo_id, **kwargs):
            calls.append(("create_repo", repo_id, kwargs))
            return type("RepoUrl", (), {"repo_id": repo_id})()

        def upload_folder(self, *, repo_id, folder_path, **kwargs):
            calls.append(
                ("upload_folder", repo_id, sorted(os.listdir(folder_path)), Path(folder_path, "README.md").read_text())
            )

    monkeypatch.setattr(pretrain, "HfApi", RecordingHfApi)
    output = tmp_path / "pushed"
    pretrain.main(
        run_args(
            corpus,
            output,
            2,
            "--checkpointing_steps",
            "2",
            "--push_to_hub",
            "--hub_model_id",
            "someone/aasp-test",
            "--hub_private_repo",
        )
    )
    assert [call[0] for call in calls] == ["create_repo", "upload_folder"]
    assert calls[0][1] == "someone/aasp-test" and calls[0][2] == {"private": True, "exist_ok": True}
    _, repo_id, files, card = calls[1]
    assert repo_id == "someone/aasp-test"
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md"} <= set(files)
    assert "pipeline_tag: feature-extraction" in card and "library_name: transformers" in card
    assert "someone/aasp-test" in card
    saved = json.loads((output / "final" / "preprocessor_config.json").read_text())
    computed = json.loads((output / "feature_extractor" / "preprocessor_config.json").read_text())
    assert (saved["mean"], saved["std"]) == (computed["mean"], computed["std"])


def test_existing_run_is_not_overwritten_silently(tmp_path, corpus, fresh_accelerate_state):
    output = tmp_path / "run"
    (output / "checkpoints" / "checkpoint_0").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="--resume_from_checkpoint latest"):
        pretrain.main(run_args(corpus, output, 1))
