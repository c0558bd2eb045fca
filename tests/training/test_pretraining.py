# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Tests of pre-training: `examples/pretrain.py` through its command line / `main(argv)`, and the package pieces
(`transformers_aasp.training.pretraining`, `.checkpointing`, `.distributed`) through their public API. The data
module is tested in tests/data/test_pretraining_data.py.

Runs use the smallest model (AaSPConfig.tiny with 2 layers, 2 mask clones), 160-frame crops and a few synthetic
wav files written to tmp_path. Runs that need their own process (2-process DDP, kills) use subprocesses; the others
call the script's `main(argv)` in-process.
"""

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from accelerate.data_loader import prepare_data_loader
from audio_files import write_bad_files, write_good_corpus
from example_scripts import example_path, load_example
from safetensors.torch import load_file

from aasp_corpora.synthetic import CORPUS_VERSION
from transformers_aasp import AaSPFeatureExtractor, AaSPModel
from transformers_aasp.data.pretraining import build_pretraining_dataloader
from transformers_aasp.data.sources import list_audio_files, load_audio_records
from transformers_aasp.training import pretraining
from transformers_aasp.training.checkpointing import CheckpointError
from transformers_aasp.training.pretraining import (
    LaunchError,
    TrainingDiverged,
    check_launch,
    model_config,
    parse_pretraining_options,
    sharded_pretraining_loader,
)


REPO = Path(__file__).resolve().parents[2]
SCRIPT = example_path("pretrain")
PYTHON = sys.executable
ACCELERATE = str(Path(sys.executable).with_name("accelerate"))
CROP = 160  # frames (1.6 s): 10 time patches, enough for 0.8 inverse-block masking and fast on CPU
TINY_OVERRIDES = json.dumps({"num_hidden_layers": 2, "num_target_layers": 2, "num_mask_clones": 2})
COMPARED_METRICS = ("loss", "masked_patch_loss", "global_loss", "contrastive_loss", "lr", "ema_decay")


run_pretrain = load_example("pretrain").main


# ------------------------------------------------------------------------------------------------------------------
# Fixtures and helpers
# ------------------------------------------------------------------------------------------------------------------


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


def run_script(*args: str, env: dict | None = None, timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, *args], env=env or subprocess_env(), capture_output=True, text=True, timeout=timeout
    )


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
                "model": {"model_overrides": {"num_mask_clones": 4}},
            }
        )
    )
    options = parse_pretraining_options(["--config", str(config), "--output_dir", str(tmp_path), "--max_steps", "7"])
    assert (options.data.dataset, options.data.crop_frames) == ("embedded", 320)
    assert (options.optimization.learning_rate, options.optimization.max_steps) == (2e-4, 7)
    assert options.model.model_overrides == {"num_mask_clones": 4}
    overridden = parse_pretraining_options(
        ["--config", str(config), "--output_dir", "x", "--model_overrides", '{"num_mask_clones": 2}']
    )
    assert overridden.model.model_overrides == {"num_mask_clones": 2}
    config.write_text(yaml.safe_dump({"optimization": {"learning_rte": 1e-3}}))
    with pytest.raises(ValueError, match="unknown option 'learning_rte' \\(in section 'optimization'\\)"):
        parse_pretraining_options(["--config", str(config)])
    with pytest.raises(ValueError, match="Missing required option\\(s\\): --dataset, --output_dir"):
        parse_pretraining_options(["--max_steps", "3"])
    config.write_text(yaml.safe_dump({"optimization": {"mixed_precision": "fp8"}}))
    with pytest.raises(ValueError, match="--mixed_precision must be one of \\['no', 'fp16', 'bf16'\\], got 'fp8'"):
        parse_pretraining_options(
            ["--config", str(config), "--dataset", "embedded", "--output_dir", "x", "--max_steps", "1"]
        )


def test_shipped_configs_and_the_demo_flags_parse():
    base = parse_pretraining_options(["--config", str(REPO / "configs/aasp_base.yaml"), "--output_dir", "unused"])
    assert base.model.model_config == "base" and base.model.model_overrides["num_mask_clones"] == 8
    assert (base.optimization.learning_rate, base.data.crop_frames) == (5e-4, 608)
    assert (base.optimization.mixed_precision, base.data.streaming) == ("bf16", False)
    assert model_config(base.model.model_config, base.model.model_overrides).hidden_size == 768
    tiny_yaml = str(REPO / "configs/aasp_tiny.yaml")
    tiny = parse_pretraining_options(["--config", tiny_yaml, "--output_dir", "unused"])
    assert tiny.data.dataset == "embedded" and tiny.optimization.max_steps <= 500
    assert model_config(tiny.model.model_config, tiny.model.model_overrides).hidden_size == 64
    # the demo's pre-training: its own config plus the corpus flags of demo/Makefile
    demo_yaml = str(REPO / "demo/configs/pretrain.yaml")
    corpus = ["--embedded_corpus_seed", "7", "--embedded_clips_per_class", "80"]
    demo = parse_pretraining_options(["--config", demo_yaml, "--output_dir", "unused", *corpus])
    assert (demo.data.crop_frames, demo.optimization.per_device_batch_size) == (304, 16)
    assert (demo.data.embedded_corpus_seed, demo.data.embedded_clips_per_class) == (7, 80)
    # the corpus build the run reads, as its start record in metrics.jsonl and its model card name it
    assert pretraining.dataset_description(demo.data).revision == f"{CORPUS_VERSION}-7-c80"
    assert demo.model.model_overrides == {"ema_anneal_steps": 300} and demo.logging.report_to == "none"
    assert demo.model.model_config == tiny.model.model_config and demo.optimization.max_steps == 300


def test_cpu_launcher_that_started_one_process_is_refused():
    class OneProcess:
        num_processes = 1

    env = {"MASTER_PORT": "29500", "MASTER_ADDR": "127.0.0.1", "ACCELERATE_USE_CPU": "True"}
    with pytest.raises(LaunchError, match="started a single process"):
        check_launch(OneProcess(), env)
    check_launch(OneProcess(), {**env, "WORLD_SIZE": "1"})  # torchrun with one process is fine
    check_launch(OneProcess(), {"ACCELERATE_USE_CPU": "True"})  # plain single-process launch
    # torchrun started two processes, but Accelerate fell back to one non-distributed process in each
    with pytest.raises(
        LaunchError, match=r"started 2 processes \(WORLD_SIZE=2\) but Accelerate set up a single"
    ) as error:
        check_launch(OneProcess(), {"WORLD_SIZE": "2", "MASTER_PORT": "29500"})
    assert "ACCELERATE_USE_CPU=true" in str(error.value) and "ddp.yaml" not in str(error.value)  # ddp.yaml fails too


@pytest.mark.parametrize("missing", ["./my_audio", "data/missing/audio"])
def test_a_mistyped_dataset_path_is_named_in_one_line_before_the_hub_is_asked(missing, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    with pytest.raises(FileNotFoundError, match=rf"--dataset {missing}: no such file or folder"):
        run_pretrain(
            ["--config", str(REPO / "configs" / "aasp_tiny.yaml"), "--dataset", missing, "--output_dir", "out"]
        )


# ------------------------------------------------------------------------------------------------------------------
# Several processes
# ------------------------------------------------------------------------------------------------------------------
def test_prepared_loader_gives_each_process_its_per_process_batches(corpus, feature_extractor):
    # What `accelerator.prepare` does on process r of 2 (split_batches=False, dispatch_batches=False), emulated in
    # one process: the global loader sharded by Accelerate must give the batches of a per-process sampler.
    records = load_audio_records(str(corpus))
    options = dict(batch_size=2, crop_frames=CROP, seed=3, num_workers=0)
    for rank in (0, 1):
        prepare = lambda loader, rank=rank: prepare_data_loader(  # noqa: E731
            loader,
            num_processes=2,
            process_index=rank,
            put_on_device=False,
            split_batches=False,
            dispatch_batches=False,
        )
        sharded = iter(
            sharded_pretraining_loader(
                records, feature_extractor, prepare=prepare, num_processes=2, start_batch=5, **options
            )
        )
        expected = iter(
            build_pretraining_dataloader(records, feature_extractor, rank=rank, world_size=2, start_batch=5, **options)
        )
        for _ in range(4):  # 4 batches x 2 processes x 2 clips: past the end of the 6-clip corpus (epoch change)
            got, want = next(sharded), next(expected)
            assert torch.equal(got["input_values"], want["input_values"])
            assert torch.equal(got["attention_mask"], want["attention_mask"])


CONTRASTIVE_WORKER = """
import json, sys
import torch
import torch.distributed as dist
from transformers_aasp.modeling_aasp import multi_positive_info_nce
from transformers_aasp.training.distributed import gather_across_processes

dist.init_process_group("gloo")
rank = dist.get_rank()
views = torch.nn.functional.normalize(torch.randn(8, 16, generator=torch.Generator().manual_seed(0)), dim=-1)
local = views[4 * rank : 4 * rank + 4].clone().requires_grad_(True)  # 2 clips x 2 mask clones per process
loss, accuracy = multi_positive_info_nce(local, torch.tensor([0, 0, 1, 1]), 0.1, gather_across_processes)
loss.backward()
torch.save({"loss": loss.detach(), "grad": local.grad}, sys.argv[1] + f"/rank{rank}.pt")
dist.destroy_process_group()
"""


@pytest.mark.integration
def test_cross_process_negatives_equal_one_process_on_the_concatenated_views(tmp_path):
    from transformers_aasp.modeling_aasp import multi_positive_info_nce

    worker = tmp_path / "worker.py"
    worker.write_text(CONTRASTIVE_WORKER)
    result = run_script(
        "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533", str(worker), str(tmp_path)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{rank}.pt") for rank in (0, 1)]
    # One process holding all 8 views: process 1's clip ids are offset by its 4 views, as the gathered loss does.
    views = torch.nn.functional.normalize(torch.randn(8, 16, generator=torch.Generator().manual_seed(0)), dim=-1)
    views.requires_grad_(True)
    loss, _ = multi_positive_info_nce(views, torch.tensor([0, 0, 1, 1, 4, 4, 5, 5]), 0.1)
    loss.backward()
    local_only, _ = multi_positive_info_nce(views[:4].detach(), torch.tensor([0, 0, 1, 1]), 0.1)
    # float32 sums over 8 logits in another order: 1e-6 relative
    mean_of_processes = (ranks[0]["loss"] + ranks[1]["loss"]) / 2
    torch.testing.assert_close(mean_of_processes, loss.detach(), rtol=1e-6, atol=1e-6)
    assert not torch.isclose(ranks[0]["loss"], local_only)  # process 0 really saw process 1's views as negatives
    # each process's gradient is that of the summed loss of both processes (= 2 x the one-process mean) on its views
    gathered_grad = torch.cat([ranks[0]["grad"], ranks[1]["grad"]])
    torch.testing.assert_close(gathered_grad, 2 * views.grad, rtol=1e-5, atol=1e-6)


@pytest.mark.integration
def test_two_process_cpu_ddp_run_exports_a_loadable_encoder(tmp_path, corpus):
    # `accelerate launch --cpu --num_processes 2` starts ONE process with accelerate 1.15 (its CPU launcher needs
    # mpirun); torchrun through --multi_gpu with ACCELERATE_USE_CPU=true gives real 2-process DDP over gloo.
    output = tmp_path / "ddp"
    command = [
        ACCELERATE,
        "launch",
        "--config_file",
        str(REPO / "configs/accelerate/ddp.yaml"),
        "--num_processes",
        "2",
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
    records = losses_by_step(output)
    assert sorted(records) == [1, 2, 3]
    # 2 processes x 2 clips x 2 clones = 8 views: the contrastive term of an untrained model is near log(7 others)
    # with cross-process negatives, near log(3) without (a 1-process run of this corpus logs about 1.4)
    assert records[1]["contrastive_loss"] > np.log(5)
    model, info = AaSPModel.from_pretrained(output / "final", output_loading_info=True)
    assert not info["missing_keys"]
    assert model.config.num_hidden_layers == 2
    fe = AaSPFeatureExtractor.from_pretrained(output / "final")
    assert fe.std != 1.0 and np.isfinite(fe.mean)  # computed corpus statistics, not the defaults
    assert yaml.safe_load((output / "pretrain_config.yaml").read_text())["optimization"]["max_steps"] == 3


# ------------------------------------------------------------------------------------------------------------------
# Kills and resume
# ------------------------------------------------------------------------------------------------------------------
KILL_STEPS = 8
KILL_COMMON = ("--checkpointing_steps", "2", "--num_workers", "1")

# A run whose checkpoint write is interrupted by SIGKILL at step $KILL_AT_STEP, through the public hook
# `CheckpointStore.before_commit` (every file written, the checkpoint not yet marked complete).
KILLING_DRIVER = """
import os, signal, sys
from transformers_aasp.training.pretraining import Pretrainer, parse_pretraining_options

def kill_mid_write(staging, progress):
    if progress.step == int(os.environ["KILL_AT_STEP"]):
        os.kill(os.getpid(), signal.SIGKILL)

options = parse_pretraining_options(sys.argv[1:])
pretrainer = Pretrainer.from_options(options)
pretrainer.checkpoints.before_commit = kill_mid_write
pretrainer.resume(options.checkpointing.resume_from_checkpoint)
pretrainer.train()
pretrainer.export()
pretrainer.end()
"""


@pytest.fixture(scope="module")
def kill_corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("kill_corpus")
    write_good_corpus(folder)
    return folder


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, kill_corpus) -> Path:
    output = tmp_path_factory.mktemp("reference") / "run"
    run = run_script(str(SCRIPT), *run_args(kill_corpus, output, KILL_STEPS, *KILL_COMMON))
    assert run.returncode == 0, run.stderr[-3000:]
    return output


def assert_same_run(actual_dir: Path, expected_dir: Path) -> None:
    # Exact equality: one CPU thread per run, the same ops in the same order, data and masks seeded per step, and
    # model/optimizer/RNG states restored bit for bit, so nothing is left to differ (no tolerance needed).
    expected, actual = losses_by_step(expected_dir), losses_by_step(actual_dir)
    assert sorted(actual) == list(range(1, KILL_STEPS + 1))
    for step in range(1, KILL_STEPS + 1):
        for name in COMPARED_METRICS:
            assert actual[step][name] == expected[step][name], (step, name)
    final_expected = load_file(checkpoint_at_step(expected_dir, KILL_STEPS) / "model.safetensors")
    final_actual = load_file(checkpoint_at_step(actual_dir, KILL_STEPS) / "model.safetensors")
    assert final_expected.keys() == final_actual.keys()
    assert any(key.startswith("teacher.") for key in final_expected)
    for key in final_expected:
        assert torch.equal(final_expected[key], final_actual[key]), key


@pytest.mark.integration
def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path, kill_corpus, uninterrupted):
    interrupted = tmp_path / "interrupted"
    common = (*KILL_COMMON, "--checkpoints_total_limit", "10")
    process = subprocess.Popen(
        [PYTHON, str(SCRIPT), *run_args(kill_corpus, interrupted, KILL_STEPS, *common)],
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

    resumed = run_script(
        str(SCRIPT), *run_args(kill_corpus, interrupted, KILL_STEPS, *common, "--resume_from_checkpoint", "latest")
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    start = [record for record in read_metrics(interrupted) if record.get("event") == "start"][-1]
    assert start["resumed_from"] is not None and start["step"] in (2, 4, 6)
    assert_same_run(interrupted, uninterrupted)


def complete_steps(output_dir: Path) -> list[int]:
    folders = (output_dir / "checkpoints").glob("checkpoint_*")
    return sorted(
        json.loads((f / "training_state.json").read_text())["step"]
        for f in folders
        if (f / "training_state.json").is_file()
    )


@pytest.mark.integration
@pytest.mark.parametrize("limit", [1, 2])
def test_kill_during_a_checkpoint_write_keeps_the_last_complete_one(tmp_path, kill_corpus, uninterrupted, limit):
    output = tmp_path / f"limit{limit}"
    driver = tmp_path / "killing_driver.py"
    driver.write_text(KILLING_DRIVER)
    common = (*KILL_COMMON, "--checkpoints_total_limit", str(limit), "--resume_from_checkpoint", "latest")
    # limit 1: one kill while writing step 4; limit 2: kills while writing steps 4 and then 6
    kills = (4,) if limit == 1 else (4, 6)
    for kill_at in kills:
        killed = run_script(
            str(driver),
            *run_args(kill_corpus, output, KILL_STEPS, *common),
            env={**subprocess_env(), "KILL_AT_STEP": str(kill_at)},
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
        # the interrupted write left a staging folder; the last complete checkpoints are intact
        assert [path.name for path in (output / "checkpoints").glob("*.incomplete")], "nothing was interrupted"
        assert complete_steps(output)[-1] == kill_at - 2 and len(complete_steps(output)) <= limit
    finished = run_script(str(SCRIPT), *run_args(kill_corpus, output, KILL_STEPS, *common))
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert complete_steps(output) == [KILL_STEPS - 2 * (limit - 1) + 2 * i for i in range(limit)][-limit:]
    assert not list((output / "checkpoints").glob("*.incomplete"))
    assert_same_run(output, uninterrupted)


@pytest.mark.integration
def test_leftover_incomplete_folders_never_block_a_fresh_start(tmp_path, corpus, fresh_accelerate_state):
    output = tmp_path / "run"
    (output / "checkpoints" / "checkpoint_0").mkdir(parents=True)  # an older version's interrupted write
    (output / "checkpoints" / "checkpoint_1.incomplete").mkdir()
    (output / "checkpoints" / "checkpoint_1.incomplete" / "model.safetensors").write_bytes(b"partial")
    run_pretrain(run_args(corpus, output, 2, "--checkpointing_steps", "1", "--resume_from_checkpoint", "latest"))
    names = sorted(path.name for path in (output / "checkpoints").iterdir())
    assert names == ["checkpoint_2", "checkpoint_3"]  # numbered past the leftovers, which were deleted
    assert complete_steps(output) == [1, 2]


# ------------------------------------------------------------------------------------------------------------------
# Untrusted checkpoint files
# ------------------------------------------------------------------------------------------------------------------
class MarkerPayload:
    """Unpickling this creates `path`: the stand-in for code planted in a checkpoint."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (os.makedirs, (self.path,))


@pytest.fixture
def trained_checkpoint(tmp_path, corpus, fresh_accelerate_state) -> Path:
    output = tmp_path / "source"
    run_pretrain(run_args(corpus, output, 1, "--checkpointing_steps", "1"))
    return checkpoint_at_step(output, 1)


PLANTED = {
    # file -> how the payload is written
    "model.safetensors": "pickle",
    "optimizer.bin": "torch",
    "random_states_0.pkl": "torch",
    "training_state.json": "pickle",
    "custom_checkpoint_0.pkl": "torch",  # what older versions wrote for the scheduler (Accelerate unpickles it)
    "pytorch_model_fsdp_0/.metadata": "pickle",  # torch.distributed.checkpoint metadata (read with pickle.load)
}


@pytest.mark.integration
def test_planted_pickle_payloads_are_never_executed_on_resume(
    tmp_path, corpus, trained_checkpoint, fresh_accelerate_state
):
    marker = tmp_path / "payload_ran"
    payload = pickle.dumps(MarkerPayload(marker))
    pickle.loads(payload)  # the payload is real: plain unpickling runs it
    assert marker.is_dir()
    marker.rmdir()
    for name, writer in PLANTED.items():
        checkpoint = tmp_path / "planted" / name.replace("/", "_")
        shutil.copytree(trained_checkpoint, checkpoint)
        target = checkpoint / name
        target.parent.mkdir(exist_ok=True)
        if writer == "torch":
            torch.save(MarkerPayload(marker), target)
        else:
            target.write_bytes(payload)
        output = tmp_path / "resumed" / name.replace("/", "_")
        with pytest.raises(CheckpointError) as refusal:
            run_pretrain(run_args(corpus, output, 2, "--resume_from_checkpoint", str(checkpoint)))
        assert str(checkpoint) in str(refusal.value) or name in str(refusal.value), (name, str(refusal.value))
        assert not marker.exists(), f"resume executed the payload planted in {name}"
        from accelerate.state import AcceleratorState, GradientState

        AcceleratorState._reset_state(True)
        GradientState._reset_state()


@pytest.mark.integration
def test_unreadable_rng_state_stops_the_resume_unless_allowed(tmp_path, corpus, trained_checkpoint, caplog):
    (trained_checkpoint / "random_states_0.pkl").write_bytes(b"truncated")
    output = tmp_path / "resumed"
    with pytest.raises(
        CheckpointError, match=r"random_states_0\.pkl .*not be bit-identical.*--allow_rng_state_errors"
    ):
        run_pretrain(run_args(corpus, output, 2, "--resume_from_checkpoint", str(trained_checkpoint)))
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    with caplog.at_level("WARNING"):
        run_pretrain(
            run_args(
                corpus,
                output,
                2,
                "--resume_from_checkpoint",
                str(trained_checkpoint),
                "--allow_rng_state_errors",
                "--overwrite_output_dir",
            )
        )
    assert "will not be bit-identical" in caplog.text
    assert sorted(losses_by_step(output)) == [2]


# ------------------------------------------------------------------------------------------------------------------
# Single-process runs
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.integration
def test_features_on_device_give_the_worker_side_losses(tmp_path, corpus, fresh_accelerate_state):
    from accelerate.state import AcceleratorState, GradientState

    run_pretrain(run_args(corpus, tmp_path / "workers", 2, "--features_on_device", "false"))
    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    run_pretrain(run_args(corpus, tmp_path / "device", 2, "--features_on_device", "true"))
    workers, device = losses_by_step(tmp_path / "workers"), losses_by_step(tmp_path / "device")
    for step in (1, 2):
        # the batched STFT of the device path rounds differently from the per-clip one (float32): 1e-4 relative
        for name in ("loss", "masked_patch_loss", "contrastive_loss"):
            assert device[step][name] == pytest.approx(workers[step][name], rel=1e-4), (step, name)


@pytest.mark.integration
def test_corrupt_empty_silent_and_resampled_files_train_to_the_end(tmp_path, corpus, fresh_accelerate_state, caplog):
    write_bad_files(corpus / "odd")
    assert len(list_audio_files(corpus)) == 13
    output = tmp_path / "odd_run"
    with caplog.at_level("WARNING"):  # 7 steps x 2 clips = 14 positions: the whole first epoch of 13 files
        run_pretrain(run_args(corpus, output, 7, "--checkpointing_steps", "7"))
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


@pytest.mark.integration
def test_nan_loss_is_reported_skipped_and_never_checkpointed(tmp_path, corpus, fresh_accelerate_state, caplog):
    output = tmp_path / "nan_run"
    with caplog.at_level("ERROR"):
        run_pretrain(run_args(corpus, output, 3, "--checkpointing_steps", "1", "--debug_nan_steps", "2"))
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


@pytest.mark.integration
def test_consecutive_nan_steps_stop_the_run(tmp_path, corpus, fresh_accelerate_state):
    output = tmp_path / "diverged"
    with pytest.raises(TrainingDiverged, match="2 consecutive steps \\(2 to 3\\) had a non-finite loss"):
        run_pretrain(
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


@pytest.mark.integration
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

    monkeypatch.setattr(pretraining, "HfApi", RecordingHfApi)
    output = tmp_path / "pushed"
    run_pretrain(
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
    assert "pipeline_tag:" not in card and "library_name: transformers" in card  # no audio feature-extraction pipeline
    assert "someone/aasp-test" in card
    saved = json.loads((output / "final" / "preprocessor_config.json").read_text())
    computed = json.loads((output / "feature_extractor" / "preprocessor_config.json").read_text())
    assert (saved["mean"], saved["std"]) == (computed["mean"], computed["std"])


@pytest.mark.integration
def test_existing_run_is_not_overwritten_silently(tmp_path, corpus, fresh_accelerate_state):
    output = tmp_path / "run"
    (output / "checkpoints" / "checkpoint_0").mkdir(parents=True)
    (output / "checkpoints" / "checkpoint_0" / "training_state.json").write_text('{"step": 1, "updates": 1}')
    with pytest.raises(FileExistsError, match="--resume_from_checkpoint latest"):
        run_pretrain(run_args(corpus, output, 1))
