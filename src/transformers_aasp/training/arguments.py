"""The one option system and the one logging set-up shared by every script.

`parse_arguments` reads option dataclasses with transformers' `HfArgumentParser` from the command line and an optional
`--config` YAML file (its section headings only group options; flags win). `ModelArguments` and `TaskDataArguments`
are the options the downstream scripts share.
"""

from __future__ import annotations

import logging as std_logging
import os
import sys
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

import datasets
import yaml
from safetensors import SafetensorError, safe_open
from tqdm import tqdm
from transformers import HfArgumentParser
from transformers.hf_argparser import DataClassType
from transformers.utils import logging

from ..data.loading import resolve_task
from ..data.tasks import task_names
from .locking import OutputDirInUse


logger = logging.get_logger(__name__)

CONFIG_FLAG = "--config"
LOG_FORMAT = "%(asctime)s - %(levelname)s - %(name)s - %(message)s"


def option(default: Any = MISSING, help: str = "", **metadata: Any) -> Any:
    """A dataclass field for `parse_arguments`: its default, its --help text and other argparse keywords (`choices`)."""
    return field(default=default, metadata={"help": help, **metadata})


class ConfigFileError(ValueError):
    """A `--config` YAML file that cannot be used: unreadable, not a mapping, or naming an unknown option."""


def split_config_flag(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """Takes `--config PATH` (or `--config=PATH`) out of `argv`; returns (path or None, the other arguments)."""
    path, rest, items = None, [], iter(argv)
    for item in items:
        if item == CONFIG_FLAG:
            path = next(items, None)
            if path is None:
                raise ConfigFileError(f"{CONFIG_FLAG} needs a YAML file path.")
        elif item.startswith(CONFIG_FLAG + "="):
            path = item.split("=", 1)[1]
        else:
            rest.append(item)
    return path, rest


def flatten_sections(content: dict[str, Any], known: set[str], path: str) -> dict[str, Any]:
    """``{section: {name: value}}`` -> ``{name: value}``; a known option stays an option even when its value is a
    mapping (`model_overrides`). An unknown key, at either level, raises `ConfigFileError` naming it and the file."""
    options: dict[str, Any] = {}
    for key, value in content.items():
        if key in known:
            entries = {key: value}
        elif isinstance(value, dict):
            entries = value
        else:
            raise ConfigFileError(f"{path}: unknown option {key!r}.")
        for name, entry in entries.items():
            if name not in known:
                raise ConfigFileError(f"{path}: unknown option {name!r} (in section {key!r}).")
            if name in options:
                raise ConfigFileError(f"{path}: option {name!r} is set twice.")
            options[name] = entry
    return options


def read_config_file(path: str | Path, known: set[str]) -> dict[str, Any]:
    """Reads a `--config` YAML file into ``{option name: value}``; see `flatten_sections`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigFileError(f"{CONFIG_FLAG} {path}: no such file.")
    content = yaml.safe_load(path.read_text()) or {}
    if not isinstance(content, dict):
        raise ConfigFileError(f"{path}: expected a mapping of options, got {type(content).__name__}.")
    return flatten_sections(content, known, str(path))


def required_options_from_file(dataclass_types: Sequence[type], file_options: dict, argv: list[str]) -> list[str]:
    """Command-line flags for the required options (fields without a default) that the file sets and `argv` does
    not: argparse accepts a required option only from the command line, whatever its defaults say."""
    given = {item.split("=", 1)[0] for item in argv if item.startswith("--")}
    flags = []
    for dataclass_type in dataclass_types:
        for option in fields(dataclass_type):
            required = option.default is MISSING and option.default_factory is MISSING
            if required and option.name in file_options and f"--{option.name}" not in given:
                flags += [f"--{option.name}", str(file_options[option.name])]
    return flags


def parse_arguments(
    dataclass_types: Sequence[type], argv: Sequence[str] | None = None, defaults: dict[str, Any] | None = None
) -> tuple:
    """Parses `argv` (default `sys.argv[1:]`) into one instance of each dataclass in `dataclass_types`; `defaults`
    (a script's own, e.g. for `TrainingArguments`) and then `--config FILE.yaml` replace the dataclasses' defaults
    (see `flatten_sections`), flags win, unknown flags are an error."""
    argv = list(sys.argv[1:] if argv is None else argv)
    config_path, rest = split_config_flag(argv)
    parser = HfArgumentParser([DataClassType(dataclass_type) for dataclass_type in dataclass_types])
    parser.add_argument(CONFIG_FLAG, help="YAML file of options; command-line flags override it.")
    parser.set_defaults(**(defaults or {}))
    if config_path is not None:
        known = {option.name for dataclass_type in dataclass_types for option in fields(dataclass_type)}
        file_options = read_config_file(config_path, known)
        parser.set_defaults(**file_options)
        rest = [*required_options_from_file(dataclass_types, file_options, rest), *rest]
    parsed = parser.parse_args_into_dataclasses(args=rest, args_filename=None)
    return tuple(parsed[: len(dataclass_types)])  # drop the namespace holding --config


PACKAGE_LOGGER = "transformers_aasp"


class PackageLogHandler(std_logging.StreamHandler):
    """The handler `setup_logging` gives this package's logger (once, however often it is called)."""


def setup_logging(level: int | str = "info", is_main_process: bool = True) -> None:
    """Sets transformers', datasets' and this package's loggers to `level` on the main process (errors elsewhere),
    with transformers' timestamped format; call it at the top of a script's `main`."""
    if isinstance(level, str):
        level = logging.log_levels.get(level.lower(), std_logging.INFO)
    level = level if is_main_process else std_logging.ERROR
    logging.set_verbosity(level)
    logging.enable_default_handler()
    logging.enable_explicit_format()
    package_logger = std_logging.getLogger(PACKAGE_LOGGER)
    package_logger.setLevel(level)
    package_logger.propagate = False
    if not any(isinstance(handler, PackageLogHandler) for handler in package_logger.handlers):
        handler = PackageLogHandler(sys.stderr)
        handler.setFormatter(std_logging.Formatter(LOG_FORMAT))
        package_logger.addHandler(handler)
    datasets.utils.logging.set_verbosity(level)


def training_log_level(training_args) -> int:
    """The level `setup_logging` should use for a `TrainingArguments` run: its `--log_level`, INFO when "passive"."""
    if training_args.log_level == "passive":
        return std_logging.INFO
    return training_args.get_process_log_level()


# Options shared by the downstream scripts (finetune.py, linear_eval.py, logmel_baseline.py)
def looks_like_local_path(name_or_path: str) -> bool:
    """True when `name_or_path` cannot be a Hub repo id: it starts with '.', '~' or a separator, has more than one
    separator, or its parent folder exists here (for example `outputs/run`)."""
    if name_or_path.startswith((".", "~", os.sep)) or (os.altsep and os.altsep in name_or_path):
        return True
    if name_or_path.count("/") > 1 or (os.sep != "/" and os.sep in name_or_path):
        return True
    parent = Path(name_or_path).expanduser().parent
    return parent != Path(".") and parent.exists()


def check_checkpoint_path(name_or_path: str, option: str = "--model_name_or_path", model: bool = True) -> None:
    """Raise `FileNotFoundError` naming the path when it looks local but does not exist, or (a `model`) is a folder
    without a `config.json`, and `ValueError` naming an unreadable `*.safetensors` file in it; a Hub repo id is left
    to `from_pretrained` / `load_dataset`."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        if model and path.is_dir() and not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"{option} {name_or_path}: the folder exists but holds no config.json, so it is not a saved model "
                "(save one with `save_pretrained`, or point at the folder that holds config.json)."
            )
        for weights in sorted(path.glob("*.safetensors")) if path.is_dir() else []:
            try:  # reads the header and checks the file size, not the tensors
                with safe_open(str(weights), framework="pt"):
                    pass
            except (SafetensorError, OSError) as error:
                raise ValueError(
                    f"{option} {name_or_path}: {weights.name} is not a readable safetensors file ({error}); it is "
                    "empty, truncated or corrupt: save the model again or copy it anew."
                ) from None
        return
    if looks_like_local_path(name_or_path):
        raise FileNotFoundError(
            f"{option} {name_or_path}: no such file or folder ({path.resolve()} does not exist). It looks like a "
            "local path, so it was not looked up on the Hub; check the path, or give a Hub repo id such as "
            "'org/name'."
        )


@dataclass
class ModelArguments:
    """The checkpoint a downstream script starts from."""

    model_name_or_path: str = option(help="Checkpoint: a Hub repo id (org/name) or a local folder.")
    trust_remote_code: bool = option(False, "Run the checkpoint's own code (needed only without transformers_aasp).")

    def __post_init__(self):
        check_checkpoint_path(self.model_name_or_path)


@dataclass
class TaskDataArguments:
    """Which task (or dataset) a downstream script reads, and how; see `task_from_arguments`."""

    task: str | None = option(None, f"Registered task, one of: {', '.join(task_names())}.")
    dataset_name: str | None = option(
        None, "Hub id or local path: a copy of --task with the same layout, or a custom dataset."
    )
    dataset_config_name: str | None = option(None, "Config of a custom --dataset_name.")
    dataset_revision: str | None = option(
        None, "Hub commit, branch or tag to read (default: the task's pinned revision)."
    )
    streaming: bool | None = option(
        None, "Stream the data instead of downloading it (default: the task's choice, on for as2m)."
    )
    audio_column: str = option("audio", "Custom --dataset_name: audio column.")
    label_column: str = option("label", "Custom --dataset_name: label column.")
    multi_label: bool = option(False, "Custom --dataset_name: labels are lists.")
    fold_column: str | None = option(None, "Custom --dataset_name: leave-one-fold-out on this column's values.")
    train_split: str | None = option(None, "Training split (default: the task's; 'train' for a custom dataset).")
    validation_split: str | None = option(
        None, "Validation split (default: the task's; 'validation' for a custom dataset)."
    )
    test_split: str | None = option(None, "Test split (default: the task's; 'test' for a custom dataset).")
    fold: int | None = option(None, "Held-out fold of a cross-validation task.")
    train_val_split: float = option(0.1, "Without a validation split: stratified fraction of train held out.")
    train_test_split: float = option(
        0.2, "Custom --dataset_name without a test split: stratified fraction of each class held out as test."
    )
    clip_seconds: float | None = option(
        None, "Clip length (default: the task's; for a custom dataset, from its clips' durations)."
    )
    verify_split_sizes: bool = option(True, "Check official split sizes (SPCV2).")
    corpus_clips_per_class: int | None = option(
        None, "Embedded corpus tasks: clips per class to build (default: the corpus's)."
    )
    corpus_seed: int = option(0, "Embedded corpus tasks: the seed of the corpus build to read (built if needed).")
    dataset_license: str | None = option(
        None,
        "Custom --dataset_name: its license as a Hub license id (e.g. cc-by-4.0); the model card derives "
        "the weights' license from it (registered tasks: known).",
    )

    def __post_init__(self):
        if self.dataset_name is not None:
            check_checkpoint_path(self.dataset_name, "--dataset_name", model=False)


def task_from_arguments(data_args: TaskDataArguments):
    """The `LoadedTask` that `data_args` select (`resolve_task`)."""
    return resolve_task(
        data_args.task,
        data_args.dataset_name,
        audio_column=data_args.audio_column,
        label_column=data_args.label_column,
        dataset_config=data_args.dataset_config_name,
        revision=data_args.dataset_revision,
        streaming=data_args.streaming,
        multi_label=data_args.multi_label,
        fold_column=data_args.fold_column,
        train_split=data_args.train_split,
        validation_split=data_args.validation_split,
        test_split=data_args.test_split,
        clip_seconds=data_args.clip_seconds,
        test_fraction=data_args.train_test_split,
        verify_split_sizes=data_args.verify_split_sizes,
        corpus_clips_per_class=data_args.corpus_clips_per_class,
        corpus_seed=data_args.corpus_seed,
    )


# OSError: missing, unreadable or unwritable files and folders, a full disk
USER_ERRORS = (ValueError, OSError, ImportError, OutputDirInUse)
TRACEBACK_ENV = "AASP_TRACEBACK"


def run_main(main, *more_errors: type[BaseException]) -> None:
    """Runs a script's `main()`. An error caused by the user's options, files or environment (`USER_ERRORS` and
    `more_errors`) ends the process with its message on one line and exit status 1 instead of a traceback; set
    AASP_TRACEBACK=1 to see the traceback."""
    try:
        main()
    except (*USER_ERRORS, *more_errors) as error:
        if os.environ.get(TRACEBACK_ENV):
            raise
        for bar in list(getattr(tqdm, "_instances", ())):  # so that no progress bar is redrawn after the error
            bar.close()
        message = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
        logger.error(f"{type(error).__name__}: {message}")
        sys.exit(1)
