# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The example scripts, for tests that run them through their public `main(argv)` in-process."""

import importlib.util
from pathlib import Path
from types import ModuleType


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

# examples/finetune.py options of a one-step CPU run on 0.5 s clips, with no evaluation or saving during training
# (and no warm-up, which would spend that step at learning rate 0).
QUICK_FINETUNE_OPTIONS = [
    *("--clip_seconds", "0.5", "--max_steps", "1", "--warmup_steps", "0", "--per_device_train_batch_size", "8"),
    *("--save_strategy", "no", "--eval_strategy", "no", "--report_to", "none", "--disable_tqdm", "true"),
    *("--no_verify_split_sizes", "--use_cpu", "true"),
]


def example_path(name: str) -> Path:
    """examples/<name>.py"""
    return EXAMPLES / f"{name}.py"


def load_example(name: str) -> ModuleType:
    """Imports examples/<name>.py as a module (tests call only its `main`)."""
    spec = importlib.util.spec_from_file_location(f"{name}_script", example_path(name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
