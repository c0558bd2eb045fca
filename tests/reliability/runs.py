# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Tiny runs of the example scripts in child processes, for the fault-injection tests of tests/reliability."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from example_scripts import example_path


PYTHON = sys.executable
TINY_OVERRIDES = json.dumps({"num_hidden_layers": 2, "num_target_layers": 2, "num_mask_clones": 2})


def pretrain_args(dataset: Path, output_dir: Path, max_steps: int, *extra: str) -> list[str]:
    """examples/pretrain.py options of a CPU run of the 2-layer tiny model on 1.6 s crops (a step takes ~0.1 s)."""
    return [
        *("--dataset", str(dataset), "--output_dir", str(output_dir), "--max_steps", str(max_steps)),
        *("--model_config", "tiny", "--model_overrides", TINY_OVERRIDES, "--crop_frames", "160"),
        *("--per_device_batch_size", "2", "--warmup_steps", "1", "--logging_steps", "1", "--num_workers", "0"),
        *("--report_to", "none", "--norm_stats_clips", "4"),
        *extra,
    ]


def child_env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.pop("MASTER_PORT", None)
    env.pop("AASP_TRACEBACK", None)
    return env


def start(*args: str, **popen) -> subprocess.Popen:
    """`python *args` in a child process (stdout and stderr captured as text unless `popen` says otherwise)."""
    popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **popen}
    return subprocess.Popen([PYTHON, *args], env=child_env(), **popen)


def run(*args: str, timeout: int = 300, **env: str) -> subprocess.CompletedProcess:
    """`python *args` to its end, with `env` added to the environment."""
    return subprocess.run([PYTHON, *args], env={**child_env(), **env}, capture_output=True, text=True, timeout=timeout)


def script(name: str) -> str:
    return str(example_path(name))


def error_line(stderr: str) -> str:
    """The one line a script ends with on a user error; fails when it printed a traceback instead."""
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines, "the script failed silently"
    return lines[-1]


def metric_steps(output_dir: Path) -> list[int]:
    """The step of every metrics record in <output_dir>/metrics.jsonl, in file order (events left out)."""
    records = [json.loads(line) for line in (output_dir / "metrics.jsonl").read_text().splitlines()]
    return [record["step"] for record in records if "event" not in record]


def complete_checkpoint_steps(output_dir: Path) -> list[int]:
    """The steps of the complete checkpoints (`checkpoint_<i>` folders holding a training state), sorted."""
    folders = [path for path in (output_dir / "checkpoints").iterdir() if re.fullmatch(r"checkpoint_\d+", path.name)]
    states = [folder / "training_state.json" for folder in folders]
    return sorted(json.loads(state.read_text())["step"] for state in states if state.is_file())
