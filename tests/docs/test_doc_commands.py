# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The shell commands of README.md and docs/*.md work as written.

Every line of every ```bash block (and every inline `pip install`) is a command this test knows: a Makefile target,
an install from the clone, or an
example script whose options must parse (flags, `--config` file, required options; the GPU recipes are checked this
way). The README's own commands also run, offline at tiny settings, as integration tests.
"""

import itertools
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
from example_scripts import QUICK_FINETUNE_OPTIONS
from hub_layouts import save_tiny_aasp_checkpoint

from transformers_aasp.data.shards import PrepareArguments
from transformers_aasp.evaluation.baseline import LogmelBaselineArguments
from transformers_aasp.evaluation.linear_probe import LinearProbeArguments
from transformers_aasp.training.arguments import ModelArguments, TaskDataArguments, parse_arguments
from transformers_aasp.training.finetuning import FineTuningDataArguments, FineTuningModelArguments, RecipeArguments
from transformers_aasp.training.pretraining import parse_pretraining_options


REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
README_MAX_BYTES = 8 * 1024
USER_DOCS_MAX_BYTES = 70 * 1024  # README + RESULTS + docs/: what a user reads


def parse_finetune(argv):
    from transformers import TrainingArguments

    return parse_arguments(
        (FineTuningModelArguments, FineTuningDataArguments, RecipeArguments, TrainingArguments), argv
    )


# The option dataclasses each example script parses (the first line of its `main`).
SCRIPT_PARSERS = {
    "examples/pretrain.py": parse_pretraining_options,
    "examples/finetune.py": parse_finetune,
    "examples/linear_eval.py": lambda argv: parse_arguments(
        (ModelArguments, TaskDataArguments, LinearProbeArguments), argv
    ),
    "examples/logmel_baseline.py": lambda argv: parse_arguments((TaskDataArguments, LogmelBaselineArguments), argv),
    "examples/prepare_pretraining_data.py": lambda argv: parse_arguments((PrepareArguments,), argv),
}


def shell_commands(document: Path) -> list[list[str]]:
    """The commands of the document's ```bash blocks, as argument lists (continuation lines joined, comments and
    leading VAR=value assignments dropped), and its inline `pip install ...` commands."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", document.read_text(), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
                words = words[1:]
            if words:
                commands.append(words)
    inline_installs = re.findall(r"`(pip install [^`]+)`", document.read_text())  # e.g. README's install table
    return commands + [shlex.split(install) for install in inline_installs]


def script_and_options(command: list[str]) -> tuple[str, list[str]] | None:
    """(examples/<script>.py, its options) of `python examples/...` or `accelerate launch [flags] examples/...`."""
    scripts = [index for index, word in enumerate(command) if word in SCRIPT_PARSERS]
    launcher = command[:2] == ["accelerate", "launch"] or command[0] in ("python", "python3")
    if not scripts or not launcher:
        return None
    return command[scripts[0]], command[scripts[0] + 1 :]


def makefile_targets() -> set[str]:
    return set(re.findall(r"^([\w-]+):", (REPO / "Makefile").read_text(), re.M))


def package_extras() -> set[str]:
    """The extras of pyproject.toml's [project.optional-dependencies] table (`name = [` lines)."""
    table = (REPO / "pyproject.toml").read_text().split("[project.optional-dependencies]")[1].split("\n[")[0]
    return set(re.findall(r"^(\w+) = \[", table, re.M))


DOC_COMMANDS = [
    pytest.param(command, id=f"{document.name}: {shlex.join(command)[:70]}")
    for document in DOCUMENTS
    for command in shell_commands(document)
]


def test_the_docs_have_commands():
    assert len(DOC_COMMANDS) >= 10


# Options naming what an earlier command writes or the user brings (a checkpoint, a data folder): the parse check
# runs where they exist as folders, since parsing already refuses a local path that does not exist.
INPUT_OPTIONS = ("--model_name_or_path", "--dataset", "--dataset_name")


def clone_with_inputs(root: Path, options: list[str]) -> Path:
    """`root` standing in for the clone (its configs/) with the folders that `options` name as inputs."""
    (root / "configs").symlink_to(REPO / "configs")
    for option, value in itertools.pairwise(options):  # (option, the word after it)
        if option == "--model_name_or_path":
            save_tiny_aasp_checkpoint(root / value)
        elif option in INPUT_OPTIONS and value != "embedded":
            (root / value).mkdir(parents=True, exist_ok=True)
    return root


@pytest.mark.parametrize("command", DOC_COMMANDS)
def test_every_doc_command_is_runnable_as_written(command, monkeypatch, tmp_path):
    monkeypatch.chdir(REPO)
    if command[0] == "make":
        assert set(word for word in command[1:] if "=" not in word) <= makefile_targets()
        return
    if command[:2] == ["pip", "install"]:
        # the package is not on PyPI yet: installs come from the clone, with extras that exist, or its corpora plug-in
        spec = command[-1]
        if spec == "corpora":
            assert (REPO / "corpora" / "pyproject.toml").is_file()
            return
        assert re.fullmatch(r"\.(\[[\w,]+\])?", spec), (
            f"install from the clone (pip install -e '.[extra]'), got {spec}"
        )
        extras = set(re.findall(r"\w+", spec[1:]))
        assert extras <= package_extras()
        return
    assert not any(word.startswith(("<", ">")) for word in command), "a placeholder in <...> is a shell redirection"
    script = script_and_options(command)
    assert script is not None, f"a doc command this test does not know: {shlex.join(command)}"
    name, options = script
    assert "--output_dir" in options, f"{shlex.join(command)} has no --output_dir"
    monkeypatch.chdir(clone_with_inputs(tmp_path, options))  # the docs run commands from the clone's root
    SCRIPT_PARSERS[name](options)


def test_the_user_documentation_stays_small():
    readme = (REPO / "README.md").stat().st_size
    user_docs = readme + (REPO / "RESULTS.md").stat().st_size + sum(path.stat().st_size for path in DOCUMENTS[1:])
    assert readme <= README_MAX_BYTES and user_docs <= USER_DOCS_MAX_BYTES, (readme, user_docs)


# The folders the README's "Your own data" commands name: those commands run for real below.
OWN_DATA_FOLDERS = {"mydata", "myaudio"}
# Appended to a README command so that it runs in seconds on a CPU (later flags win over earlier ones).
TINY_RUN_OPTIONS = {
    "examples/pretrain.py": [
        *("--max_steps", "2", "--warmup_steps", "1", "--checkpointing_steps", "2", "--per_device_batch_size", "2"),
        *("--norm_stats_clips", "4", "--num_workers", "0", "--report_to", "none", "--crop_frames", "96"),
    ],
    "examples/finetune.py": QUICK_FINETUNE_OPTIONS,
}


def own_data_commands() -> list[tuple[str, list[str]]]:
    commands = [script_and_options(command) for command in shell_commands(REPO / "README.md")]
    return [command for command in commands if command and OWN_DATA_FOLDERS & set(command[1])]


def write_own_data(root: Path) -> None:
    """`myaudio/` (unlabelled, nested, 44.1 kHz) and `mydata/{train,test}/<class>/*.wav`, as a user has them."""
    rng = np.random.default_rng(0)
    for index in range(6):
        path = root / "myaudio" / ("session2" if index % 2 else "") / f"take{index}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, 0.1 * rng.standard_normal(44100), 44100)
    for split, count in (("train", 4), ("test", 2)):
        for label, frequency in (("clap", 300.0), ("hum", 120.0)):
            folder = root / "mydata" / split / label
            folder.mkdir(parents=True)
            for index in range(count):
                t = np.arange(12000) / 16000
                clip = 0.3 * np.sin(2 * np.pi * frequency * (1 + 0.05 * index) * t) + 0.01 * rng.standard_normal(12000)
                soundfile.write(folder / f"{label}{index}.wav", clip.astype(np.float32), 16000)


@pytest.mark.integration
def test_the_readme_own_data_commands_run_offline(tmp_path):
    commands = own_data_commands()
    assert {name for name, _ in commands} == {"examples/pretrain.py", "examples/finetune.py"}
    (tmp_path / "configs").symlink_to(REPO / "configs")
    (tmp_path / "examples").symlink_to(REPO / "examples")
    write_own_data(tmp_path)
    # stands in for the README's tiny pre-training on the embedded corpus (whose build takes minutes)
    save_tiny_aasp_checkpoint(tmp_path / "outputs" / "aasp-tiny" / "final")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    for name, options in commands:
        run = subprocess.run(
            [sys.executable, name, *options, *TINY_RUN_OPTIONS[name]],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert run.returncode == 0, f"{name} {shlex.join(options)}:\n{run.stderr[-3000:]}"

    outputs = {name: Path(options[options.index("--output_dir") + 1]) for name, options in commands}
    assert (tmp_path / outputs["examples/pretrain.py"] / "final" / "config.json").is_file()
    fine_tuned = tmp_path / outputs["examples/finetune.py"]
    assert {"model.safetensors", "results.json", "README.md", "modeling_aasp.py"} <= set(os.listdir(fine_tuned))
    for card in (fine_tuned / "README.md", tmp_path / outputs["examples/pretrain.py"] / "final" / "README.md"):
        assert str(tmp_path) not in card.read_text()
    from transformers import pipeline

    classifier = pipeline("audio-classification", model=str(fine_tuned))
    assert {entry["label"] for entry in classifier(np.zeros(16000, np.float32))} == {"clap", "hum"}
