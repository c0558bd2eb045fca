# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Where pre-training audio comes from: detect the kind of a source and open it without decoding any audio.

The kinds: ``"code"`` (a corpus built in code by a plug-in, e.g. ``"embedded"``: see `code_sources`), ``"folder"``
(audio files, searched recursively), ``"audiofolder"`` (the `datasets` layout), ``"hub"`` (a `datasets.load_dataset`
id or a local copy, optionally streamed) and ``"prepared"`` (16 kHz mono FLAC shards written by `data.shards`, the
fastest to train from; memory-mapped or streamed).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path

import datasets
from transformers.utils import logging

from .tasks import load_plugin


logger = logging.get_logger(__name__)

SOURCE_TYPES = ("auto", "code", "folder", "audiofolder", "hub", "prepared")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".au", ".opus", ".w64", ".caf")

# The prepared-folder layout: `<folder>/prepare_summary.json` and `<folder>/shard-00000-of-00042/shard_stats.json`.
SUMMARY_FILE = "prepare_summary.json"
SHARD_STATS_FILE = "shard_stats.json"
SHARD_PREFIX = "shard-"


@dataclass(frozen=True)
class CodeSource:
    """A pre-training corpus built in code by a plug-in, selected by `--dataset <name>`. `load` and `card_dataset`
    take `seed=..., clips_per_class=...` and return the `datasets.Dataset` (an `audio` column) and the
    `reporting.model_card.TrainingDataset` that model cards cite."""

    name: str
    load: Callable[..., datasets.Dataset]
    card_dataset: Callable[..., object]


@cache
def code_sources() -> dict[str, CodeSource]:
    """The corpora built in code, by name, from installed plug-ins (entry points `transformers_aasp.sources`, each a
    callable returning `CodeSource`s; the repository's `corpora/` adds ``"embedded"``)."""
    plugins = entry_points(group="transformers_aasp.sources")
    return {source.name: source for plugin in plugins for source in load_plugin(plugin)()}


def code_source(name: str) -> CodeSource:
    """The plug-in source `name`; a clear error when no installed plug-in provides it."""
    sources = code_sources()
    if name not in sources:
        known = ", ".join(sources) or "none installed"
        raise ValueError(
            f"No corpus named {name!r} is built in code (known: {known}); the embedded corpus comes with the "
            "repository's corpora plug-in (pip install -e corpora)."
        )
    return sources[name]


def list_audio_files(folder: str | os.PathLike) -> list[str]:
    """All audio files under `folder` (recursive, sorted, so the list is the same on every process)."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"Audio folder {str(root)!r} does not exist or is not a directory.")
    files = sorted(str(path) for path in root.rglob("*") if path.is_file() and path.suffix.lower() in AUDIO_EXTENSIONS)
    if not files:
        raise ValueError(f"No audio files ({', '.join(AUDIO_EXTENSIONS)}) found under {str(root)!r}.")
    return files


def is_prepared_folder(path: str | os.PathLike) -> bool:
    """True for a folder written by `data.shards.prepare_pretraining_shards`."""
    return (Path(path) / SUMMARY_FILE).is_file()


def prepared_shard_dirs(output_dir: str | os.PathLike) -> list[Path]:
    """Finished shards of a prepared folder, in order (unfinished `.tmp` folders are ignored)."""
    return sorted(
        path
        for path in Path(output_dir).glob(f"{SHARD_PREFIX}*")
        if path.is_dir() and not path.name.endswith(".tmp") and (path / SHARD_STATS_FILE).is_file()
    )


def load_prepared_shards(output_dir: str | os.PathLike, streaming: bool = False):
    """The prepared clips as one `datasets.Dataset` (memory-mapped, no copy) or, with `streaming=True`, an
    `IterableDataset` with one stream shard per prepared shard. Column `audio`: `Audio(sampling_rate=16000)`."""
    shard_dirs = prepared_shard_dirs(output_dir)
    if not shard_dirs:
        raise ValueError(f"Prepared folder {str(output_dir)!r} holds no finished shard; run the preparation again.")
    dataset = datasets.concatenate_datasets([load_shard(path) for path in shard_dirs])
    return dataset.to_iterable_dataset(num_shards=len(shard_dirs)) if streaming else dataset


def load_shard(path: Path) -> datasets.Dataset:
    """One finished shard of a prepared folder (a `save_to_disk` folder of one `datasets.Dataset`)."""
    shard = datasets.load_from_disk(str(path))
    if not isinstance(shard, datasets.Dataset):
        raise ValueError(f"{str(path)!r} holds a {type(shard).__name__}, not the one Dataset of a prepared shard.")
    return shard


def resolve_source_type(source: str, source_type: str = "auto") -> str:
    """`"auto"` means: the name of a plug-in corpus (e.g. `"embedded"`), else a prepared folder (it holds
    `prepare_summary.json`), else a local directory is a plain folder, else a dataset id."""
    if source_type not in SOURCE_TYPES:
        raise ValueError(f"data source_type must be one of {SOURCE_TYPES}, got {source_type!r}.")
    if source_type != "auto":
        return source_type
    if source in code_sources() or source == "embedded":  # "embedded" without its plug-in: say how to install it
        return "code"
    if is_prepared_folder(source):
        return "prepared"
    if Path(source).is_dir():
        return "folder"
    return "hub"


def undecoded_audio(dataset, audio_column: str = "audio"):
    """The dataset with its `audio_column` left encoded (items `{"bytes", "path"}`), so that clips are decoded later
    (`audio.decode_waveform`, in DataLoader workers) and a corrupt one costs a skipped clip instead of a crash.

    A column that is not an `Audio` feature (e.g. already undecoded) is left as it is."""
    feature = dataset.features[audio_column] if dataset.features is not None else None
    if isinstance(feature, datasets.Audio):
        dataset = dataset.cast_column(audio_column, datasets.Audio(sampling_rate=feature.sampling_rate, decode=False))
    return dataset


def load_audio_records(
    source: str,
    *,
    source_type: str = "auto",
    config_name: str | None = None,
    split: str = "train",
    streaming: bool = False,
    audio_column: str = "audio",
    embedded_clips_per_class: int | None = None,
    embedded_corpus_seed: int = 0,
):
    """Open a pre-training corpus without decoding any audio: a list of file paths (``"folder"``), a `datasets.Dataset`
    or, with ``streaming=True``, a `datasets.IterableDataset` holding only `audio_column`, left undecoded
    (`undecoded_audio`). `embedded_clips_per_class` and `embedded_corpus_seed` choose the build of a corpus built in
    code (`code_sources`, e.g. `source="embedded"`; None = its default size)."""
    kind = resolve_source_type(source, source_type)
    if kind == "folder":
        if streaming:
            logger.warning("streaming=True is ignored for a plain folder of audio files (it is read lazily anyway).")
        return list_audio_files(source)
    if kind == "code":
        dataset = code_source(source).load(seed=embedded_corpus_seed, clips_per_class=embedded_clips_per_class)
        if streaming:
            dataset = dataset.to_iterable_dataset()
    elif kind == "prepared":
        dataset = load_prepared_shards(source, streaming=streaming)
    elif kind == "audiofolder":
        if not Path(source).is_dir():
            raise FileNotFoundError(f"audiofolder data_dir {source!r} does not exist or is not a directory.")
        dataset = datasets.load_dataset("audiofolder", data_dir=source, split=split, streaming=streaming)
    else:
        dataset = datasets.load_dataset(source, config_name, split=split, streaming=streaming)
    return undecoded_audio(audio_column_only(dataset, audio_column, source), audio_column)


def audio_column_only(dataset, audio_column: str, source: str):
    """`dataset` reduced to its `audio_column`; a clear error when it has no such column."""
    columns = dataset.column_names
    if columns is None:
        return dataset
    if audio_column not in columns:
        raise ValueError(f"Dataset {source!r} has no audio column {audio_column!r}; its columns are {columns}.")
    return dataset.select_columns([audio_column])
