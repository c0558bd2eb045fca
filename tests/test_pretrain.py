# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Tests of the pre-training data module and of `accelerate launch examples/pretrain.py`.

Runs use the smallest model (AaSPConfig.tiny with 2 layers, 2 mask clones), 160-frame crops and a few synthetic
wav files written to tmp_path. Runs that need their own process (the 2-process DDP run, the SIGKILL/resume test)
use subprocesses; the others call `pretrain.main` in-process.
"""

import importlib.util
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import yaml
from safetensors.torch import load_file

from transformers_aasp import AaSPFeatureExtractor, AaSPModel
from transformers_aasp.pretraining_data import (
    ClipDecodeError,
    ClipFeaturizer,
    CroppedClipDataset,
    StepBatchSampler,
    build_pretraining_dataloader,
    decode_audio,
    list_audio_files,
    load_audio_records,
    prepare_waveform,
)


REPO = Path(__file__).resolve().parents[1]
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
def tone(seconds: float, rate: int = 16000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    envelope = 1 + 0.5 * np.sin(2 * np.pi * rng.uniform(3, 20) * t)
    signal_ = 0.3 * np.sin(2 * np.pi * rng.uniform(200, 2000) * t) * envelope + 0.02 * rng.standard_normal(t.size)
    return signal_.astype(np.float32)


def write_good_corpus(folder: Path, count: int = 6) -> list[Path]:
    paths = []
    for index in range(count):
        path = folder / ("nested" if index % 2 else "") / f"clip{index}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, tone(1.0 + 0.4 * index, seed=index), 16000)
        paths.append(path)
    return paths


def write_bad_files(folder: Path) -> dict[str, Path]:
    """Files that must be skipped, and files that must be accepted (silent, 44.1 kHz stereo)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {name: folder / f"{name}.wav" for name in ("corrupt", "empty", "no_frames", "too_short", "nan")}
    files["corrupt"].write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk" + os.urandom(256))
    files["empty"].write_bytes(b"")
    soundfile.write(files["no_frames"], np.zeros(0, dtype=np.float32), 16000)
    soundfile.write(files["too_short"], tone(0.01), 16000)
    soundfile.write(files["nan"], np.full(16000, np.nan, dtype=np.float32), 16000, subtype="FLOAT")
    files["silent"] = folder / "silent.wav"
    soundfile.write(files["silent"], np.zeros(24000, dtype=np.float32), 16000)
    files["cd_rate"] = folder / "cd_rate.wav"
    soundfile.write(files["cd_rate"], np.stack([tone(2.0, 44100), tone(2.0, 44100, seed=1)], axis=1), 44100)
    return files


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
        "--dataset", str(dataset), "--output_dir", str(output_dir), "--model_config", "tiny",
        "--model_overrides", TINY_OVERRIDES, "--crop_frames", str(CROP), "--per_device_batch_size", "2",
        "--max_steps", str(max_steps), "--warmup_steps", "1", "--learning_rate", "1e-3", "--logging_steps", "1",
        "--num_workers", "0", "--report_to", "none", "--norm_stats_clips", "4", *extra,
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
# Data module
# ------------------------------------------------------------------------------------------------------------------
def test_crops_have_fixed_shape_and_short_clips_are_padded_with_mask(corpus, feature_extractor):
    featurizer = ClipFeaturizer(feature_extractor, crop_frames=CROP)
    long_clip = tone(3.0)
    values, mask = featurizer({"array": long_clip, "sampling_rate": 16000}, np.random.default_rng(0))
    assert values.shape == (CROP, 80) and mask.shape == (CROP,)
    assert int(mask.sum()) == CROP
    short_clip = tone(0.5)  # 8000 samples -> 1 + 8000 // 160 = 51 real frames
    values, mask = featurizer({"array": short_clip, "sampling_rate": 16000}, np.random.default_rng(0))
    assert values.shape == (CROP, 80)
    assert mask.tolist() == [1] * 51 + [0] * (CROP - 51)
    assert torch.all(values[51:] == 0)


def test_random_crop_is_a_pure_function_of_seed_and_position(corpus, feature_extractor):
    records = list_audio_files(corpus)
    dataset = CroppedClipDataset(records, ClipFeaturizer(feature_extractor, crop_frames=CROP), seed=3)
    first, again, other = dataset[(7, 5)], dataset[(7, 5)], dataset[(8, 5)]
    assert torch.equal(first["input_values"], again["input_values"])
    assert not torch.equal(first["input_values"], other["input_values"])  # clip 5 is 3 s: other crop offset


def test_sampler_shards_processes_and_restarts_at_any_batch():
    ranks = [StepBatchSampler(10, 3, seed=1, rank=rank, world_size=2) for rank in range(2)]
    positions = [[position for position, _ in ranks[rank].batch(4)] for rank in range(2)]
    assert positions == [[24, 25, 26], [27, 28, 29]]
    fresh = iter(StepBatchSampler(10, 3, seed=1, rank=1, world_size=2))
    for _ in range(5):
        expected = next(fresh)
    assert next(iter(StepBatchSampler(10, 3, seed=1, rank=1, world_size=2, start_batch=4))) == expected
    first_epoch = [index for batch in range(5) for rank in range(2) for _, index in ranks[rank].batch(batch)][:10]
    assert sorted(first_epoch) == list(range(10))  # every clip once per epoch


def test_unusable_clips_raise_clear_errors_and_valid_odd_clips_are_accepted(tmp_path, feature_extractor):
    files = write_bad_files(tmp_path)
    featurizer = ClipFeaturizer(feature_extractor, crop_frames=CROP)
    expected = {
        "corrupt": "cannot decode", "empty": "cannot decode", "no_frames": "empty clip",
        "too_short": "too short: 160 samples < 1600", "nan": "NaN or Inf",
    }
    for name, message in expected.items():
        with pytest.raises(ClipDecodeError, match=message):
            featurizer.waveform(str(files[name]))
    silent = featurizer.waveform(str(files["silent"]))
    assert silent.shape == (24000,) and not silent.any()
    values, _ = featurizer(str(files["silent"]), np.random.default_rng(0))
    assert torch.isfinite(values).all()
    resampled = featurizer.waveform(str(files["cd_rate"]))
    assert resampled.shape == (32000,)  # 2 s at 44.1 kHz stereo -> 2 s mono at 16 kHz


def test_resampling_preserves_a_tone():
    rate = 44100
    waveform = np.sin(2 * np.pi * 1000 * np.arange(rate) / rate).astype(np.float32)[None]
    out = prepare_waveform(waveform, rate, 16000, min_samples=1)
    spectrum = np.abs(np.fft.rfft(out))
    assert out.shape == (16000,)
    assert np.argmax(spectrum) == 1000  # 1 Hz bins over 1 s


def test_bad_clips_are_replaced_counted_and_logged(tmp_path, feature_extractor, caplog):
    good = write_good_corpus(tmp_path / "good", count=2)
    bad = write_bad_files(tmp_path / "bad")
    records = [str(good[0]), str(bad["corrupt"]), str(bad["empty"]), str(good[1])]
    dataset = CroppedClipDataset(records, ClipFeaturizer(feature_extractor, crop_frames=CROP))
    with caplog.at_level("WARNING"):
        example = dataset[(0, 1)]
    assert example["num_skipped"] == 2  # corrupt and empty skipped, good[1] used instead
    assert "Skipping clip 1 (" in caplog.text and "corrupt.wav" in caplog.text and "Skipping clip 2 (" in caplog.text
    assert dataset[(0, 0)]["num_skipped"] == 0
    unreadable = CroppedClipDataset([str(bad["corrupt"]), str(bad["empty"])],
                                    ClipFeaturizer(feature_extractor, crop_frames=CROP))
    with pytest.raises(RuntimeError, match="2 consecutive clips starting at index 0 could not be decoded"):
        unreadable[(0, 0)]


def write_hub_like_parquet(folder: Path, clips: list[bytes]) -> Path:
    """A local folder laid out like a Hub parquet dataset (data/train-*.parquet, an Audio column + metadata)."""
    import datasets

    rows = {"video_id": [f"id{i}" for i in range(len(clips))],
            "audio": [{"bytes": data, "path": f"id{i}.wav"} for i, data in enumerate(clips)],
            "labels": [["/m/0"] for _ in clips]}
    dataset = datasets.Dataset.from_dict(rows).cast_column("audio", datasets.Audio())
    (folder / "data").mkdir(parents=True)
    dataset.to_parquet(str(folder / "data" / "train-00000-of-00001.parquet"))
    return folder


def wav_bytes(waveform: np.ndarray, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, waveform, rate, format="WAV")
    return buffer.getvalue()


@pytest.mark.parametrize("streaming", [False, True])
def test_hub_layout_dataset_trains_with_skipped_corrupt_rows(tmp_path, feature_extractor, streaming):
    clips = [wav_bytes(tone(1.0, seed=i)) for i in range(3)] + [b"not audio at all"]
    folder = write_hub_like_parquet(tmp_path / "hub_like", clips)
    records = load_audio_records(str(folder), source_type="hub", split="train", streaming=streaming)
    loader = build_pretraining_dataloader(records, feature_extractor, batch_size=2, crop_frames=CROP, seed=0,
                                          shuffle_buffer_size=1)
    batches = [batch for _, batch in zip(range(4), loader)]  # 8 clips: two passes over the 3 good rows
    assert all(batch["input_values"].shape == (2, CROP, 80) for batch in batches)
    assert all(batch["attention_mask"][:, :101].all() and not batch["attention_mask"][:, 101:].any()
               for batch in batches)  # 1 s -> 101 frames
    assert sum(int(batch["num_skipped"]) for batch in batches) >= 1


def test_audiofolder_and_missing_column_errors(tmp_path, corpus):
    records = load_audio_records(str(corpus), source_type="audiofolder")
    assert len(records) == 6 and records.column_names == ["audio"]
    assert decode_audio(records[0]["audio"])[1] == 16000
    with pytest.raises(ValueError, match="no audio column 'sound'"):
        load_audio_records(str(corpus), source_type="audiofolder", audio_column="sound")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_audio_records(str(tmp_path / "missing"), source_type="folder")
    (tmp_path / "no_audio").mkdir()
    with pytest.raises(ValueError, match="No audio files"):
        load_audio_records(str(tmp_path / "no_audio"))


# ------------------------------------------------------------------------------------------------------------------
# Options
# ------------------------------------------------------------------------------------------------------------------
def test_yaml_config_with_command_line_overrides(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"data": {"dataset": "embedded", "crop_frames": 320},
                                      "optimization": {"learning_rate": "2e-4", "max_steps": 50}}))
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
    command = [ACCELERATE, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29517", str(SCRIPT),
               *run_args(corpus, output, 3, "--num_workers", "1", "--checkpointing_steps", "2")]
    result = subprocess.run(command, env={**subprocess_env(), "ACCELERATE_USE_CPU": "true"}, capture_output=True,
                            text=True, timeout=240)
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
    run = subprocess.run([PYTHON, str(SCRIPT), *run_args(corpus, reference, steps, *common)], env=subprocess_env(),
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]

    process = subprocess.Popen([PYTHON, str(SCRIPT), *run_args(corpus, interrupted, steps, *common)],
                               env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    metrics = interrupted / "metrics.jsonl"
    while time.time() < deadline and not (metrics.exists() and '"event": "checkpoint"' in metrics.read_text()):
        assert process.poll() is None, "the run ended before it could be killed"
        time.sleep(0.01)
    assert process.poll() is None, "the run finished before the kill; nothing was interrupted"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (interrupted / "final").exists()

    resumed = subprocess.run([PYTHON, str(SCRIPT), *run_args(corpus, interrupted, steps, *common,
                                                              "--resume_from_checkpoint", "latest")],
                             env=subprocess_env(), capture_output=True, text=True, timeout=240)
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
        pretrain.main(run_args(corpus, output, 5, "--debug_nan_steps", "2", "3", "--max_consecutive_bad_steps", "2",
                               "--checkpointing_steps", "1"))
    checkpoints = sorted((output / "checkpoints").glob("checkpoint_*"))
    assert len(checkpoints) == 2  # steps 1 and 2; step 3 raised before saving
    for checkpoint in checkpoints:
        assert all(torch.isfinite(t).all() for t in load_file(checkpoint / "model.safetensors").values())


def test_push_to_hub_uploads_encoder_feature_extractor_and_card(tmp_path, corpus, fresh_accelerate_state,
                                                                monkeypatch):
    calls = []

    class RecordingHfApi:
        def create_repo(self, repo_id, **kwargs):
            calls.append(("create_repo", repo_id, kwargs))
            return type("RepoUrl", (), {"repo_id": repo_id})()

        def upload_folder(self, *, repo_id, folder_path, **kwargs):
            calls.append(("upload_folder", repo_id, sorted(os.listdir(folder_path)),
                          Path(folder_path, "README.md").read_text()))

    monkeypatch.setattr(pretrain, "HfApi", RecordingHfApi)
    output = tmp_path / "pushed"
    pretrain.main(run_args(corpus, output, 2, "--checkpointing_steps", "2", "--push_to_hub",
                           "--hub_model_id", "someone/aasp-test", "--hub_private_repo"))
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
