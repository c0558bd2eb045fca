# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The GPU dry run and the throughput benchmark run end to end on the CPU with the tiny config."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def run_module(module: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )


def test_gpu_dry_run_writes_every_section_on_the_cpu(tmp_path):
    out = tmp_path / "dry.json"
    completed = run_module(
        "bench.gpu_dry_run", "--device", "cpu", "--tiny", "--steps", "1", "--warmup", "1", "--skip", "compile",
        "--out", str(out),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-2000:]
    result = json.loads(out.read_text())
    for section in ("environment", "throughput", "synchronisations", "phases", "numerics", "log_mel"):
        assert "error" not in result[section] and "skipped" not in result[section], (section, result[section])
    assert result["compile"] == {"skipped": "--skip"}
    assert result["host_to_device"]["skipped"].startswith("no accelerator")
    assert result["environment"]["attn_implementation"] == "sdpa"
    assert set(result["throughput"]) == {"2", "4"}
    for row in result["throughput"].values():
        assert row["clips_per_s"] > 0 and row["flops_per_clip"] > 0
    assert result["synchronisations"]["census"]["syncs"] == 0
    assert result["synchronisations"]["census"]["aten_ops"] > 0
    assert set(result["phases"]) == {
        "teacher_and_masks", "student_aape", "student_encoder", "predictor", "losses", "backward",
        "clip_and_optimizer", "ema",
    }  # fmt: skip
    assert all(ms >= 0 for ms in result["phases"].values())
    for term in ("loss", "masked_patch_loss", "global_loss", "contrastive_loss"):
        assert result["numerics"][term]["relative_difference"] < 1e-2  # see test_modeling_pretraining_step
    fastest = max(row["clips_per_s"] for row in result["throughput"].values())
    assert result["projection"]["device_hours"] == pytest.approx(20_000_000 / fastest / 3600)


def test_throughput_benchmark_counts_the_synchronisations_each_call_path_makes(tmp_path):
    completed = run_module(
        "bench.pretrain_throughput", "--batch_size", "1", "--repeats", "1", "--warmup", "1", "--skip_projection",
        "--name", str(tmp_path / "throughput"),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-2000:]
    result = json.loads((tmp_path / "throughput.json").read_text())["throughput"]
    # shipped: the forward's two value checks and the loop's isfinite(loss) and float(grad_norm)
    assert result["shipped_loop"]["syncs_per_step"] == 4
    assert result["device_ready"]["syncs_per_step"] == 0
    assert result["device_ready"]["aten_ops_per_step"] < result["shipped_loop"]["aten_ops_per_step"]
