# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The one option system (`--config` YAML + command line) and the scripts' error exit."""

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field

import pytest

from transformers_aasp.training.arguments import ConfigFileError, parse_arguments


@dataclass
class DataOptions:
    dataset: str = field(metadata={"help": "Required: no default."})
    crop_frames: int = 608


@dataclass
class OptimizationOptions:
    learning_rate: float = 1e-3
    model_overrides: dict | None = None


def write(path, text: str):
    path.write_text(textwrap.dedent(text))
    return path


def test_sections_group_options_and_the_command_line_wins(tmp_path):
    config = write(
        tmp_path / "run.yaml",
        """
        data:
          dataset: embedded
          crop_frames: 96
        optimization:
          learning_rate: 2.0e-3
          model_overrides: {num_hidden_layers: 2}
        """,
    )
    data, optimization = parse_arguments(
        (DataOptions, OptimizationOptions), ["--config", str(config), "--crop_frames", "32"]
    )
    assert data == DataOptions(dataset="embedded", crop_frames=32)  # the flag overrides the file
    assert optimization.learning_rate == 2e-3
    assert optimization.model_overrides == {"num_hidden_layers": 2}  # a mapping value is an option, not a section
    # a required option (no default) comes from the file, and the command line still wins over it
    data, _ = parse_arguments((DataOptions, OptimizationOptions), ["--config", str(config), "--dataset", "other"])
    assert data.dataset == "other"


def test_flat_files_and_config_equals_form_work(tmp_path):
    config = write(tmp_path / "flat.yaml", "dataset: folder\nlearning_rate: 0.5\n")
    data, optimization = parse_arguments((DataOptions, OptimizationOptions), [f"--config={config}"])
    assert (data.dataset, data.crop_frames, optimization.learning_rate) == ("folder", 608, 0.5)


def test_without_a_file_required_options_come_from_the_command_line():
    (data,) = parse_arguments((DataOptions,), ["--dataset", "x"])
    assert data == DataOptions(dataset="x")
    with pytest.raises(SystemExit):  # argparse: the required --dataset is missing
        parse_arguments((DataOptions,), [])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("data:\n  datset: embedded\n", r"unknown option 'datset' \(in section 'data'\)"),
        ("lerning_rate: 1.0\n", r"unknown option 'lerning_rate'"),
        ("data:\n  dataset: a\nmore:\n  dataset: b\n", r"option 'dataset' is set twice"),
        ("- a\n- b\n", r"expected a mapping of options, got list"),
    ],
)
def test_bad_config_files_name_the_problem(tmp_path, text, message):
    config = write(tmp_path / "bad.yaml", text)
    with pytest.raises(ConfigFileError, match=message):
        parse_arguments((DataOptions, OptimizationOptions), ["--config", str(config)])


def test_missing_config_file_and_missing_value(tmp_path):
    with pytest.raises(ConfigFileError, match=r"--config .*nowhere.yaml: no such file"):
        parse_arguments((DataOptions,), ["--config", str(tmp_path / "nowhere.yaml")])
    with pytest.raises(ConfigFileError, match="--config needs a YAML file path"):
        parse_arguments((DataOptions,), ["--dataset", "x", "--config"])


SCRIPT = textwrap.dedent(
    """
    from transformers_aasp.training.arguments import run_main

    def main():
        raise FileNotFoundError("--model_name_or_path ./nope: no such file or folder")

    run_main(main)
    """
)


@pytest.mark.integration
def test_scripts_end_with_the_message_and_status_1_on_a_user_error(tmp_path):
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=tmp_path, check=False)
    assert run.returncode == 1
    assert "FileNotFoundError: --model_name_or_path ./nope: no such file or folder" in run.stderr
    assert "Traceback" not in run.stderr
    debug = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        env={**os.environ, "AASP_TRACEBACK": "1"},
    )
    assert debug.returncode == 1 and "Traceback" in debug.stderr
