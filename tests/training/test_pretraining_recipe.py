# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Pre-training at scale, on the CPU: the recipe in clips and fractions, the launch check of the EMA teacher's
precision, the loop's host syncs, and a resume on another number of processes that reads every clip once."""

import json
import math
import os
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
import torch
from example_scripts import load_example
from torch.utils._python_dispatch import TorchDispatchMode

from transformers_aasp import AaSPConfig, AaSPForPreTraining
from transformers_aasp.data.pretraining import StepBatchSampler
from transformers_aasp.data.sources import list_audio_files
from transformers_aasp.training.checkpointing import CheckpointError
from transformers_aasp.training.pretraining import (
    LaunchError,
    Pretrainer,
    build_accelerator,
    parse_pretraining_options,
    peak_learning_rate,
    resolve_run_length,
    teacher_ema,
)


REPO = Path(__file__).resolve().parents[2]
ACCELERATE = str(Path(sys.executable).with_name("accelerate"))
TINY = [
    "--model_config",
    "tiny",
    "--model_overrides",
    '{"num_hidden_layers": 2, "num_target_layers": 2, "num_mask_clones": 2}',
]
MODEL_FILES = ("modeling_aasp.py", "functional_aasp.py")
LOGGING_FUNCTIONS = {"log_step", "read_outcomes", "save_checkpoint"}

run_pretrain = load_example("pretrain").main


def recipe(*flags: str):
    return parse_pretraining_options(["--dataset", "embedded", "--output_dir", "unused", *flags])


def test_recipe_in_clips_rescales_steps_warmup_and_ema_anneal():
    flags = ("--max_clips", "48000", "--warmup_fraction", "0.1", "--ema_anneal_fraction", "0.25")
    one = recipe(*flags, "--per_device_batch_size", "12", "--gradient_accumulation_steps", "2")
    assert resolve_run_length(one.optimization, num_processes=2) == 250  # a quarter of 48000 / 48 steps
    assert (one.optimization.max_steps, one.optimization.warmup_steps) == (1000, 100)
    # the same recipe on 4 processes: twice the global batch, half the steps, warm-up and anneal
    four = recipe(*flags, "--per_device_batch_size", "12", "--gradient_accumulation_steps", "2")
    assert resolve_run_length(four.optimization, num_processes=4) == 125
    assert (four.optimization.max_steps, four.optimization.warmup_steps) == (500, 50)
    # a shorter run (fewer clips, or --max_steps) shortens them in proportion
    short = recipe("--max_steps", "40", "--warmup_fraction", "0.1", "--ema_anneal_fraction", "0.5")
    assert resolve_run_length(short.optimization, num_processes=1) == 20
    assert (short.optimization.max_steps, short.optimization.warmup_steps) == (40, 4)
    plain = recipe("--max_steps", "40", "--warmup_steps", "3")  # a recipe in steps is left as it is
    assert resolve_run_length(plain.optimization, num_processes=8) is None
    assert (plain.optimization.max_steps, plain.optimization.warmup_steps) == (40, 3)
    with pytest.raises(ValueError, match="Give --max_steps or --max_clips, not both"):
        recipe("--max_steps", "40", "--max_clips", "400")
    with pytest.raises(ValueError, match="Give --warmup_steps or --warmup_fraction, not both"):
        recipe("--max_steps", "40", "--warmup_steps", "3", "--warmup_fraction", "0.1")
    with pytest.raises(ValueError, match=r"--ema_anneal_fraction must lie in \[0, 1\], got 1.5"):
        recipe("--max_steps", "40", "--ema_anneal_fraction", "1.5")


def test_learning_rate_follows_the_global_batch_by_the_stated_rule():
    base = ("--max_steps", "1", "--learning_rate", "5e-4", "--lr_reference_batch", "48")
    batch = ("--per_device_batch_size", "96")
    assert peak_learning_rate(recipe(*base, *batch).optimization, 2) == 5e-4  # --lr_scaling none (the default)
    assert peak_learning_rate(recipe(*base, *batch, "--lr_scaling", "linear").optimization, 2) == pytest.approx(2e-3)
    assert peak_learning_rate(recipe(*base, *batch, "--lr_scaling", "sqrt").optimization, 2) == pytest.approx(1e-3)


def test_shipped_presets_state_one_recipe_for_one_and_eight_gpus():
    one = parse_pretraining_options(["--config", str(REPO / "configs/aasp_base.yaml"), "--output_dir", "unused"])
    eight = parse_pretraining_options(["--config", str(REPO / "configs/aasp_base_8gpu.yaml"), "--output_dir", "x"])
    assert one.data.streaming is False and eight.data.streaming is False  # prepared local shards, map-style
    for options, processes, steps, peak in ((one, 1, 100_000, 1e-3), (eight, 8, 25_000, 2e-3)):
        optim = options.optimization
        assert optim.max_clips == 19_200_000 and optim.contrastive_negatives == "process"
        assert peak_learning_rate(optim, processes) == pytest.approx(peak)
        anneal = resolve_run_length(optim, processes)
        assert (optim.max_steps, optim.warmup_steps, anneal) == (steps, round(steps * 0.13333), steps // 4)
    assert one.optimization.per_device_batch_size == 192 and eight.optimization.per_device_batch_size == 96


def test_a_teacher_cast_to_bf16_gets_fp32_masters_and_a_partitioned_one_stops_the_launch():
    model = AaSPForPreTraining(AaSPConfig.tiny()).to(torch.bfloat16)  # what DeepSpeed does in bf16
    ema = teacher_ema(model)
    assert not ema.shares_teacher and {master.dtype for master in ema.masters} == {torch.float32}
    first = next(model.teacher.parameters())
    first.data = first.data.new_empty(0)  # how a ZeRO-3 parameter looks outside its gather
    with pytest.raises(LaunchError, match="partitioned across processes \\(DeepSpeed ZeRO-3\\)"):
        teacher_ema(model)


class SyncCensus(TorchDispatchMode):
    """Records every host read of a tensor value (`.item()`, `bool()`, `float()`, `nonzero`, ...): on a GPU each one
    waits for the device. Each read is filed as the model's, the loop's logging/checkpointing, or the loop's other."""

    READS = frozenset({torch.ops.aten._local_scalar_dense.default, torch.ops.aten.nonzero.default})

    def __init__(self):
        super().__init__()
        self.reads = {"model": [], "logging": [], "loop": []}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in self.READS:
            frames = traceback.extract_stack()
            if any(frame.filename.endswith(MODEL_FILES) for frame in frames):
                self.reads["model"].append(frames[-2])
            elif any("torch/utils/data/" in frame.filename for frame in frames):
                pass  # the data loader's worker seed, drawn on the CPU once per loader
            elif any(frame.name in LOGGING_FUNCTIONS for frame in frames):
                self.reads["logging"].append(frames[-2])
            else:
                self.reads["loop"].append([f"{frame.filename}:{frame.lineno}" for frame in frames[-6:-1]])
        return func(*args, **(kwargs or {}))


@pytest.mark.integration
def test_the_loop_reads_the_device_only_at_logging_and_checkpoint_steps(tmp_path, corpus, fresh_accelerate_state):
    options = parse_pretraining_options(
        [
            *("--dataset", str(corpus), "--output_dir", str(tmp_path / "run"), *TINY, "--crop_frames", "160"),
            *("--per_device_batch_size", "2", "--max_steps", "4", "--logging_steps", "4", "--num_workers", "1"),
            *("--report_to", "none", "--norm_mean", "-2.0", "--norm_std", "2.0", "--debug_nan_steps", "2"),
        ]
    )
    pretrainer = Pretrainer.from_options(options)
    pretrainer.resume(None)
    with SyncCensus() as census:
        metrics = pretrainer.train()
    assert census.reads["loop"] == []  # 4 steps, one of them non-finite: no read outside logging/checkpointing
    assert census.reads["model"] == []  # noise drawn before the step, values checked in collate_clips
    assert census.reads["logging"]  # the census sees reads: the checkpoint's finiteness check makes some
    assert (metrics["step"], metrics["nonfinite_steps"], metrics["updates"]) == (4, 1, 3)
    assert torch.isfinite(torch.tensor(metrics["loss"]))


# A pre-training run that writes, per process, the corpus indices of the batches its loop trained on. The data
# loader reads the records in batch order in this process (0 workers) and may read a batch ahead, so the clips
# trained on are the first (batches x batch size) records read.
RECORDING_DRIVER = """
import json, sys
from pathlib import Path
from transformers_aasp.training.pretraining import Pretrainer, parse_pretraining_options

class RecordingCorpus:
    def __init__(self, records):
        self.records, self.read = records, []
    def __len__(self):
        return len(self.records)
    def __getitem__(self, index):
        self.read.append(int(index))
        return self.records[index]

class CountingPretrainer(Pretrainer):
    batches = 0
    def model_inputs(self, batch):
        self.batches += 1
        return super().model_inputs(batch)

options = parse_pretraining_options(sys.argv[1:])
pretrainer = CountingPretrainer.from_options(options)
pretrainer.records = corpus = RecordingCorpus(pretrainer.records)
pretrainer.resume(options.checkpointing.resume_from_checkpoint)
pretrainer.train()
rank, output = pretrainer.accelerator.process_index, Path(options.checkpointing.output_dir)
trained = corpus.read[: pretrainer.batches * options.optimization.per_device_batch_size]
(output / f"read_{pretrainer.progress.step}_{rank}.json").write_text(json.dumps(trained))
pretrainer.end()
"""


def run_driver(driver: Path, processes: int, port: int, *args: str) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", ACCELERATE_USE_CPU="true")
    env.pop("MASTER_PORT", None)
    if processes == 1:
        command = [sys.executable, str(driver), *args]
    else:
        config = str(REPO / "configs/accelerate/ddp.yaml")
        launch = ["launch", "--config_file", config, "--num_processes", str(processes), "--main_process_port"]
        command = [ACCELERATE, *launch, str(port), str(driver), *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.integration
@pytest.mark.parametrize(("before", "after"), [(2, 1), (1, 2)])
def test_resume_on_another_number_of_processes_reads_every_clip_once(tmp_path, corpus, before, after):
    # per-device batch 2, global batch 4 clips throughout: 2 processes x 1 micro-batch or 1 process x 2 micro-batches
    driver = tmp_path / "driver.py"
    driver.write_text(RECORDING_DRIVER)
    output = tmp_path / "run"
    common = [
        *("--dataset", str(corpus), "--output_dir", str(output), *TINY, "--crop_frames", "160"),
        *("--per_device_batch_size", "2", "--num_workers", "0", "--report_to", "none"),
        *("--norm_mean", "-2.0", "--norm_std", "2.0", "--checkpointing_steps", "2", "--logging_steps", "1"),
        *("--contrastive_negatives", "process"),
    ]
    accumulation = {1: ["--gradient_accumulation_steps", "2"], 2: []}
    run_driver(driver, before, 29531, *common, "--max_steps", "2", *accumulation[before])
    resumed = ["--max_steps", "5", "--resume_from_checkpoint", "latest", *accumulation[after]]
    run_driver(driver, after, 29532, *common, *resumed)

    read = [index for path in sorted(output.glob("read_*.json")) for index in json.loads(path.read_text())]
    # the first 20 positions of the global clip stream, read once each: every clip of the first epoch(s)
    num_clips = len(list_audio_files(corpus))
    expected = [index for _, index in StepBatchSampler(num_clips, 20).batch(0)]
    assert sorted(read) == sorted(expected)
    assert len({path.name.split("_")[1] for path in output.glob("read_*.json")}) == 2  # steps 2 and 5
    records = [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]
    assert [record["num_processes"] for record in records if record.get("event") == "start"] == [before, after]
    # negatives from the process's own 2 clips x 2 clones: the contrastive term stays near log(3 others), below the
    # log(7 others) of negatives gathered from 2 processes (test_pretraining.py's DDP run logs above log(5))
    two_process_steps = {2: (1, 2), 1: (3, 4, 5)}[before]
    losses = [r["contrastive_loss"] for r in records if "event" not in r and r["step"] in two_process_steps]
    assert len(losses) == len(two_process_steps) and max(losses) < math.log(5)


@pytest.mark.integration
def test_resume_with_another_global_batch_is_refused(tmp_path, corpus, fresh_accelerate_state):
    from accelerate.state import AcceleratorState, GradientState

    output = tmp_path / "run"
    common = [
        *("--dataset", str(corpus), "--output_dir", str(output), *TINY, "--crop_frames", "160", "--num_workers", "0"),
        *("--report_to", "none", "--norm_mean", "-2.0", "--norm_std", "2.0", "--max_steps", "4"),
    ]
    run_pretrain([*common, "--per_device_batch_size", "2", "--max_steps", "2"])
    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    options = parse_pretraining_options(
        [*common, "--per_device_batch_size", "4", "--resume_from_checkpoint", "latest"]
    )
    pretrainer = Pretrainer.from_options(options)
    with pytest.raises(CheckpointError, match="consumed 4 clips in 2 steps; this launch takes 4 clips per step"):
        pretrainer.resume("latest")


def test_sampler_state_in_clips_resumes_on_any_number_of_processes():
    whole = [pair for batch in range(6) for pair in StepBatchSampler(50, 2, seed=3).batch(batch)]
    first = [pair for rank in range(2) for pair in StepBatchSampler(50, 2, seed=3, rank=rank, world_size=2).batch(0)]
    rest = [pair for batch in range(4) for pair in StepBatchSampler(50, 2, seed=3, start_position=4).batch(batch)]
    assert first + rest == whole


@pytest.mark.parametrize(("flags", "backend"), [((), "NO"), (("--torch_compile",), "INDUCTOR")])
def test_torch_compile_switch_compiles_the_model_when_accelerate_prepares_it(
    tmp_path, fresh_accelerate_state, flags, backend
):
    options = parse_pretraining_options(
        ["--dataset", "embedded", "--output_dir", str(tmp_path), "--max_steps", "1", "--report_to", "none", *flags]
    )
    accelerator = build_accelerator(options)
    assert accelerator.state.dynamo_plugin.backend.name == backend
    assert accelerator.ddp_handler.gradient_as_bucket_view  # DDP reduces gradients in place, without a copy


def test_a_shorter_run_than_the_configs_warm_up_is_refused_pointing_at_the_fraction():
    tiny = ["--config", str(REPO / "configs/aasp_tiny.yaml"), "--output_dir", "unused"]
    with pytest.raises(ValueError, match=r"--warmup_steps must lie in \[0, max_steps=20\], got 30; --warmup_fraction"):
        parse_pretraining_options([*tiny, "--max_steps", "20"])
    options = parse_pretraining_options(
        [*tiny, "--max_steps", "20", "--warmup_steps", "0", "--warmup_fraction", "0.1"]
    )
    resolve_run_length(options.optimization, 1)
    assert options.optimization.warmup_steps == 2
