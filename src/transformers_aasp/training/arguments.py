"""The one option system and the one logging set-up shared by every script.

Every script declares its options as dataclasses and parses them with `parse_arguments`, a thin layer over
transformers' `HfArgumentParser`: options come from the command line and, optionally, from a YAML file given with
`--config`. A YAML file may group options under section headings (``data:``, ``optimization:``, ...); the headings
only organise the file, the option names are the dataclass fields. Command-line flags override the file.
"""

from __future__ import annotations

import logging as std_logging
import sys
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml
from transformers import HfArgumentParser
from transformers.utils import logging


logger = logging.get_logger(__name__)

CONFIG_FLAG = "--config"
LOG_FORMAT = "%(asctime)s - %(levelname)s - %(name)s - %(message)s"


class ConfigFileError(ValueError):
    """A `--config` YAML file that cannot be used: unreadable, not a mapping, or naming an unknown option."""


def split_config_flag(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """Takes `--config PATH` (or `--config=PATH`) out of `argv`; returns (path or None, the other arguments)."""
    path, rest, items = None, [], list(argv)
    index = 0
    while index < len(items):
        item = items[index]
        if item == CONFIG_FLAG:
            if index + 1 >= len(items):
                raise ConfigFileError(f"{CONFIG_FLAG} needs a YAML file path.")
            path, index = items[index + 1], index + 2
            continue
        if item.startswith(CONFIG_FLAG + "="):
            path = item.split("=", 1)[1]
        else:
            rest.append(item)
        index += 1
    return path, rest


def flatten_sections(content: dict[str, Any], known: set[str], path: str) -> dict[str, Any]:
    """Flattens one level of section headings: ``{section: {name: value}}`` -> ``{name: value}``.

    A key that is a known option is taken as an option even when its value is a mapping (for example
    `model_overrides`). An unknown key, at either level, raises `ConfigFileError` naming it and the file.
    """
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


def option_names(dataclass_types: Sequence[type]) -> set[str]:
    """Every field name of the given argument dataclasses."""
    return {field.name for dataclass_type in dataclass_types for field in fields(dataclass_type)}


def parse_arguments(dataclass_types: Sequence[type], argv: Sequence[str] | None = None) -> tuple:
    """Parses `argv` (default `sys.argv[1:]`) into one instance of each dataclass in `dataclass_types`.

    `--config FILE.yaml` sets defaults from the file (see `flatten_sections`); flags on the command line win.
    Unknown command-line flags are an error, as with `HfArgumentParser`.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    config_path, rest = split_config_flag(argv)
    parser = HfArgumentParser(list(dataclass_types))
    parser.add_argument(CONFIG_FLAG, help="YAML file of options; command-line flags override it.")
    if config_path is not None:
        file_options = read_config_file(config_path, option_names(dataclass_types))
        parser.set_defaults(**file_options)
        required = [action for action in parser._actions if action.required and action.dest in file_options]
        for action in required:
            action.required = False
    parsed = parser.parse_args_into_dataclasses(args=rest, args_filename=None)
    return tuple(parsed[: len(dataclass_types)])  # drop the namespace holding --config


PACKAGE_LOGGER = "transformers_aasp"


def setup_logging(level: int | str = "info", is_main_process: bool = True) -> None:
    """The one logging set-up for scripts.

    Sets transformers', datasets' and this package's loggers (``transformers_aasp.*``, created with
    `transformers.utils.logging.get_logger(__name__)`) to `level` on the main process and to errors elsewhere, and
    gives this package's records the same timestamped format as transformers'. Call it once, at the top of `main`.
    """
    if isinstance(level, str):
        level = logging.log_levels.get(level.lower(), logging.INFO)
    level = level if is_main_process else logging.ERROR
    logging.set_verbosity(level)
    logging.enable_default_handler()
    logging.enable_explicit_format()
    package_logger = std_logging.getLogger(PACKAGE_LOGGER)
    package_logger.setLevel(level)
    package_logger.propagate = False
    if not any(getattr(handler, "is_aasp_handler", False) for handler in package_logger.handlers):
        handler = std_logging.StreamHandler(sys.stderr)
        handler.setFormatter(std_logging.Formatter(LOG_FORMAT))
        handler.is_aasp_handler = True
        package_logger.addHandler(handler)
    try:
        import datasets
    except ImportError:  # not every script needs datasets
        return
    datasets.utils.logging.set_verbosity(level)
