# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Loading a task from the Hub (or a local copy laid out like it) and casting it to the common columns.

`load_task(name)` returns a `LoadedTask` whose source splits all have the columns "audio" (16 kHz `Audio`), "label"
(`ClassLabel`, or `List(ClassLabel)` when multi-label) and, where the protocol needs them, "fold" / "speaker". The
data is read by `datasets.load_dataset`, the `parquet` builder (`TaskSpec.data_files`) or `load_from_disk`.
`LoadedTask.splits(fold)` applies the protocol (`data.protocols`).

A custom `--dataset_name` may be a user's folder of audio files in one of the `USER_LAYOUTS`, read by `datasets`'
audiofolder; without a test split a stratified fraction of each class is held out as test (`hold_out_test`).
"""

import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
from datasets import (
    Audio,
    ClassLabel,
    DatasetDict,
    Features,
    IterableDataset,
    IterableDatasetDict,
    List,
    NamedSplit,
    Value,
    load_dataset,
    load_from_disk,
)
from transformers.utils import logging

from ..audio import ANALYSIS_WINDOW_SAMPLES, SAMPLING_RATE, read_header
from .protocols import SplitIndices, column_values, protocol_indices, require_named_splits, stratified_holdout
from .sources import AUDIO_EXTENSIONS, undecoded_audio
from .tasks import SPEECH_COMMANDS_12_CLASS_TEST_ROWS, TaskSpec, custom_task, get_task


logger = logging.get_logger(__name__)

USER_LAYOUTS = (
    "<folder>/<class>/*.wav; <folder>/train/<class>/*.wav + <folder>/test/<class>/*.wav (+ validation/); or "
    "<folder>/metadata.csv with columns file_name, a label and a `split` (train/validation/test) or fold column"
)
SPLIT_FOLDERS = ("train", "validation", "valid", "val", "dev", "test", "eval")
SPLIT_COLUMN = "split"  # a metadata.csv column naming each row's split
TEST_HOLDOUT_SEED = 0  # fixed: the held-out test clips are part of the data, not of a run
CLIP_LENGTH_PERCENTILE, MAX_CLIP_SECONDS = 95, 10.0  # a custom dataset's clip length, from its clips' durations


@dataclass
class LoadedTask:
    """A task's source splits, cast to the common columns, plus its protocol."""

    spec: TaskSpec  # with `fold_values` read from the data for custom fold datasets
    # source splits with columns "audio", "label" (+ "fold" / "speaker"); an `IterableDatasetDict` when streamed
    dataset: DatasetDict | IterableDatasetDict
    class_names: list[str]  # ClassLabel names (label ids index this list)
    label_names: list[str]  # readable names for `id2label` (`class_names` unless the task names them)
    source: str | None = None  # the Hub id or local path that was read
    # the Hub commit that was read (None for a local copy or an unpinned Hub id); for a `loader` task, the corpus
    # build (`TaskSpec.build_name`)
    revision: str | None = None

    @property
    def num_labels(self) -> int:
        return len(self.class_names)

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.label_names))

    @property
    def label2id(self) -> dict[str, int]:
        return {name: index for index, name in enumerate(self.label_names)}

    @property
    def folds(self) -> list:
        """The folds to run: the fold column's distinct values (sorted), or `[None]` for a single train/test run."""
        return self.spec.folds

    @property
    def streaming(self) -> bool:
        return isinstance(self.dataset, IterableDatasetDict)

    def split_indices(self, fold=None, validation_fraction: float = 0.1, seed: int = 0) -> SplitIndices:
        """Rows of each split as `{"train" | "validation" | "test": (source_split_name, row_indices)}`; "validation"
        is absent when the task has no validation split and `validation_fraction` is 0."""
        if self.streaming:
            raise ValueError(f"{self.spec.display_name} is streamed: it has no row indices; use `splits()`.")
        return protocol_indices(self.spec, self._indexed(), fold, validation_fraction, seed)

    def splits(self, fold=None, validation_fraction: float = 0.1, seed: int = 0) -> DatasetDict | IterableDatasetDict:
        """The train / validation / test datasets of one run (one fold for cross-validation protocols)."""
        if self.streaming:
            return self._streamed_splits(fold, validation_fraction)
        return DatasetDict(
            {
                split: self._indexed()[source].select(indices)
                for split, (source, indices) in self.split_indices(fold, validation_fraction, seed).items()
            }
        )

    def _indexed(self) -> DatasetDict:
        """The dataset of a task that is not streamed (the callers check `streaming` first)."""
        return cast(DatasetDict, self.dataset)

    def _streamed_splits(self, fold, validation_fraction: float) -> IterableDatasetDict:
        spec = self.spec
        streamed = cast(IterableDatasetDict, self.dataset)
        if spec.protocol != "splits" or fold is not None:
            raise ValueError(f"{spec.display_name}: a streamed task supports the named-splits protocol only.")
        require_named_splits(spec, streamed)
        splits: dict[str | NamedSplit, IterableDataset] = {
            "train": streamed[spec.train_split],
            "test": streamed[spec.test_split],
        }
        if spec.validation_split and spec.validation_split in streamed:
            splits["validation"] = streamed[spec.validation_split]
        elif validation_fraction > 0:
            logger.warning_once(
                f"{spec.display_name} is streamed: no stratified validation hold-out is taken from train "
                f"(validation_fraction={validation_fraction} ignored)."
            )
        return IterableDatasetDict(splits)

    def fingerprint(self) -> str:
        """Identifies the loaded data for caches: dataset id, revision, config, label names and each split's `datasets`
        fingerprint, which follows its content (data files' hashes; for local audio files, their modification
        times)."""
        splits = None if self.streaming else {name: split._fingerprint for name, split in self._indexed().items()}
        text = repr((self.spec.name, self.source, self.revision, self.spec.dataset_config, self.class_names, splits))
        return hashlib.sha1(text.encode()).hexdigest()[:12]


def load_task(
    task: str | TaskSpec,
    *,
    dataset_id: str | None = None,
    revision: str | None = None,
    streaming: bool | None = None,
    verify_split_sizes: bool = True,
    cache_dir: str | None = None,
    loader_kwargs: dict | None = None,
    test_fraction: float = 0.0,
) -> LoadedTask:
    """Load a registered task (or a custom spec) and cast it to the common columns.

    Args:
        task: registry name or a `TaskSpec` (see `custom_task`).
        dataset_id: load this Hub id or local path instead of the spec's (a copy with the same layout).
        revision: load this Hub commit / branch / tag instead of the spec's pinned revision.
        streaming: stream from the Hub; default: the spec's choice for a Hub id (AudioSet-2M), never for a local copy.
        verify_split_sizes: check the official split sizes the spec lists (Speech Commands V2). Turn off only for a
            deliberate subset; the class checks always run.
        cache_dir: passed to `datasets.load_dataset`.
        loader_kwargs: passed to the spec's `loader` (embedded corpus tasks: `cache_dir`, `clips_per_class`, `seed`).
        test_fraction: a named-splits dataset without its test split: this stratified fraction of each class of train
            is held out as test (0: refused, naming the splits found).
    """
    spec = get_task(task) if isinstance(task, str) else task
    if dataset_id is not None:
        spec = replace(spec, dataset_id=dataset_id)
    if revision is not None:
        spec = replace(spec, revision=revision)
    from_hub = spec.loader is None and spec.dataset_id is not None and not Path(spec.dataset_id).exists()
    streaming = (spec.streaming and from_hub) if streaming is None else streaming
    raw = _load_source(spec, from_hub, streaming, cache_dir, loader_kwargs or {})
    # each rebuilt dict keeps the kind of `raw` (map-style or streamed splits), which the stubs cannot express
    raw = type(raw)(cast(Any, {split: _audio_as_feature(spec, dataset) for split, dataset in raw.items()}))
    _require_columns(spec, raw)
    if test_fraction > 0 and spec.protocol == "splits" and isinstance(raw, DatasetDict):
        raw = split_by_column(raw) if len(raw) == 1 and SPLIT_COLUMN in next(iter(raw.values())).column_names else raw
        missing_test = spec.test_split not in raw and spec.train_split in raw
        raw = hold_out_test(spec, raw, test_fraction) if missing_test else raw
    if spec.protocol == "splits":
        require_named_splits(spec, raw)
    if spec.add_columns is not None:
        raw = type(raw)(cast(Any, {split: _add_derived_columns(spec, dataset) for split, dataset in raw.items()}))
    loaded = _cast_columns(spec, raw)
    loaded.source, loaded.revision = spec.dataset_id, spec.revision if from_hub else None
    if spec.build_name is not None and spec.dataset_id is None:
        options = loader_kwargs or {}
        loaded.revision = spec.build_name(
            **{key: options[key] for key in ("seed", "clips_per_class") if key in options}
        )
    _check_classes(loaded, verify_split_sizes)
    logger.info(
        f"Loaded {spec.display_name} ({loaded.source}, revision {loaded.revision}): {loaded.num_labels} classes."
    )
    return loaded


def resolve_task(
    task: str | None = None,
    dataset_name: str | None = None,
    *,
    audio_column: str = "audio",
    label_column: str = "label",
    dataset_config: str | None = None,
    revision: str | None = None,
    multi_label: bool = False,
    fold_column: str | None = None,
    train_split: str | None = None,
    validation_split: str | None = None,
    test_split: str | None = None,
    clip_seconds: float | None = None,
    test_fraction: float = 0.2,
    verify_split_sizes: bool = True,
    corpus_clips_per_class: int | None = None,
    corpus_seed: int = 0,
    streaming: bool | None = None,
) -> LoadedTask:
    """What the scripts' `--task` / `--dataset_name` options select, loaded.

    A registered `task` (optionally read from `dataset_name`, a copy with the same layout), or a custom
    `dataset_name` described by the column and split arguments. Split names given here override a registered
    task's too (None keeps its own); `revision` overrides its pinned Hub commit; `clip_seconds` its clip length;
    `corpus_clips_per_class` and `corpus_seed` choose the build of the embedded corpus that its tasks read. A custom
    dataset without a test split holds out `test_fraction` of each class as test; its clip length, unless given,
    comes from its clips' durations, and clips shorter than one analysis window are named in a warning.
    """
    if task is None and dataset_name is None:
        raise ValueError("Pass --task <name> or --dataset_name <hub id or path>.")
    split_names = {"train_split": train_split, "validation_split": validation_split, "test_split": test_split}
    # only the split names given: the others keep the spec's defaults (typed Any: `**` spreads over `custom_task`)
    split_names: dict[str, Any] = {key: value for key, value in split_names.items() if value is not None}
    if task is not None:
        spec = replace(get_task(task), **split_names)
    else:
        assert dataset_name is not None  # checked above: a task or a dataset name is given
        columns = {"audio_column": audio_column, "label_column": label_column, "fold_column": fold_column}
        spec = custom_task(
            dataset_name, dataset_config=dataset_config, multi_label=multi_label, **columns, **split_names
        )
    if clip_seconds is not None:
        spec = replace(spec, clip_seconds=clip_seconds)
    override = dataset_name if task is not None else None
    loader_kwargs = (
        {"clips_per_class": corpus_clips_per_class, "seed": corpus_seed} if spec.loader is not None else None
    )
    loaded = load_task(
        spec,
        dataset_id=override,
        revision=revision,
        streaming=streaming,
        verify_split_sizes=verify_split_sizes,
        loader_kwargs=loader_kwargs,
        test_fraction=test_fraction if task is None else 0.0,
    )
    if task is None and not loaded.streaming:
        check_user_splits(loaded)
        durations = clip_durations(loaded._indexed())
        warn_short_clips(durations)
        if clip_seconds is None and durations:
            loaded.spec = replace(loaded.spec, clip_seconds=clip_seconds_from_durations(list(durations.values())))
            logger.info(f"{loaded.spec.display_name}: clip length {loaded.spec.clip_seconds:g} s, from the data.")
    return loaded


# A user's own data
def check_audio_folder_layout(folder: Path) -> None:
    """Refuse a folder of loose audio files in none of the `USER_LAYOUTS`, naming what is wrong, before loading."""
    if (folder / "metadata.csv").is_file() or not _has_audio(folder):
        return
    splits = [path for path in folder.iterdir() if path.is_dir() and path.name.lower() in SPLIT_FOLDERS]
    problem = None if not splits or (folder / "train").is_dir() else "split folders but no train/"
    for parent in splits or [folder]:
        if _has_audio(parent, recursive=False):
            problem = f"audio files lie directly in {parent.name}/, not in class folders"
        elif len([path for path in parent.iterdir() if path.is_dir() and _has_audio(path)]) < (1 if splits else 2):
            problem = f"{parent.name}/ holds {'no' if splits else 'fewer than two'} class folders with audio files"
    if problem:
        raise ValueError(f"--dataset_name {folder}: {problem}. Expected layouts: {USER_LAYOUTS}.")


def _has_audio(folder: Path, recursive: bool = True) -> bool:
    paths = folder.rglob("*") if recursive else folder.iterdir()
    return any(path.is_file() and path.suffix.lower() in AUDIO_EXTENSIONS for path in paths)


def split_by_column(raw: DatasetDict) -> DatasetDict:
    """A single-split dataset with a `SPLIT_COLUMN` (a metadata.csv's) as one split per value of that column."""
    (table,) = raw.values()
    names = np.asarray([str(name) for name in column_values(table, SPLIT_COLUMN)])
    return DatasetDict({name: table.select(np.flatnonzero(names == name)) for name in dict.fromkeys(names)})


def hold_out_test(spec: TaskSpec, raw: DatasetDict, fraction: float) -> DatasetDict:
    """`raw` with a fixed stratified `fraction` of every class of its train split moved to a test split."""
    if not 0 < fraction < 1:
        raise ValueError(f"--train_test_split must be in (0, 1), got {fraction}.")
    train = raw[spec.train_split]
    held_out = np.zeros(train.num_rows, dtype=bool)
    held_out[stratified_holdout(column_values(train, spec.label_column), fraction, TEST_HOLDOUT_SEED)] = True
    logger.info(f"{spec.display_name}: no {spec.test_split!r} split; {int(held_out.sum())} clips held out as test.")
    test = {spec.test_split: train.select(np.flatnonzero(held_out))}
    return DatasetDict({**raw, spec.train_split: train.select(np.flatnonzero(~held_out)), **test})


def check_user_splits(loaded: LoadedTask) -> None:
    """Refuse a custom dataset with an empty split (a class of one clip leaves none to hold out)."""
    for name, split in loaded._indexed().items():
        if split.num_rows == 0:
            raise ValueError(f"{loaded.spec.display_name}: split {name!r} is empty. Expected layouts: {USER_LAYOUTS}.")


def clip_durations(dataset: DatasetDict) -> dict[str, float]:
    """{file name: duration in seconds} of every clip whose header can be read."""
    durations = {}
    for name, split in dataset.items():
        batches = cast(Iterator[dict], undecoded_audio(split).iter(batch_size=256))
        records = (record for batch in batches for record in batch["audio"])
        for index, record in enumerate(records):
            header = read_header(record)
            if header is not None:
                durations[record.get("path") or f"{name} row {index}"] = header.num_frames / header.sampling_rate
    return durations


def clip_seconds_from_durations(durations: list[float]) -> float:
    """A custom dataset's clip length: the `CLIP_LENGTH_PERCENTILE`th percentile of its clips' durations (a few long
    clips do not set it), to 10 ms, at most `MAX_CLIP_SECONDS`, at least one analysis window."""
    seconds = round(float(np.percentile(durations, CLIP_LENGTH_PERCENTILE)), 2)
    return min(MAX_CLIP_SECONDS, max(seconds, ANALYSIS_WINDOW_SAMPLES / SAMPLING_RATE))


def warn_short_clips(durations: dict[str, float]) -> None:
    """Name the clips shorter than one analysis window, which every script zero-pads to it (`audio.fit_clip`)."""
    short = sorted(name for name, seconds in durations.items() if seconds * SAMPLING_RATE < ANALYSIS_WINDOW_SAMPLES)
    if short:
        logger.warning(f"{len(short)} clip(s) under 25 ms are zero-padded to 25 ms: {', '.join(short[:10])}")


def check_split_sizes(spec: TaskSpec, num_rows: dict[str, int]) -> None:
    """Raise when a split's size (`num_rows`, `{split: rows}` after dropping rows outside the task) differs from the
    official size in `spec.expected_rows`."""
    for split, expected in spec.expected_rows.items():
        found = num_rows.get(split)
        if found == expected:
            continue
        hint = ""
        if split == "test" and found == SPEECH_COMMANDS_12_CLASS_TEST_ROWS:
            hint = " 4,890 clips is the 12-class v0.02 test archive (as in google/speech_commands), not the 35-class list."
        raise ValueError(
            f"{spec.display_name}: split {split!r} has {found} rows, the official protocol has {expected}.{hint} "
            "Pass verify_split_sizes=False (--no_verify_split_sizes) only for a deliberate subset."
        )


# Reading the source
def _load_source(spec: TaskSpec, from_hub: bool, streaming: bool, cache_dir, loader_kwargs: dict):
    dataset_id = spec.dataset_id
    if dataset_id is None:
        assert spec.loader is not None  # `TaskSpec` requires a `dataset_id` or a `loader`
        data = spec.loader(**loader_kwargs)
    elif _is_saved_to_disk(dataset_id):
        data = load_from_disk(dataset_id)
    elif spec.data_files is not None:
        files = {split: data_file_urls(spec, patterns, from_hub) for split, patterns in spec.data_files.items()}
        data = load_dataset("parquet", data_files=files, cache_dir=cache_dir, streaming=streaming)
    else:
        if Path(dataset_id).is_dir():
            check_audio_folder_layout(Path(dataset_id))
        revision = spec.revision if from_hub else None
        try:
            # the stubs overload `streaming` on Literal[True] / Literal[False] only, not on a bool
            data = load_dataset(  # pyright: ignore[reportCallIssue]
                dataset_id,
                spec.dataset_config,
                revision=revision,
                cache_dir=cache_dir,
                streaming=streaming,  # pyright: ignore[reportArgumentType]
            )
        except ConnectionError as error:
            raise FileNotFoundError(
                f"{dataset_id}: no such local folder or file, and the Hub could not be reached to look it up ({error})."
            ) from error
    if isinstance(data, IterableDataset):
        return IterableDatasetDict({spec.train_split: data})
    return data if isinstance(data, (DatasetDict, IterableDatasetDict)) else DatasetDict({spec.train_split: data})


def data_file_urls(spec: TaskSpec, patterns, from_hub: bool) -> list[str]:
    """`data_files` patterns of the repository: `hf://` URLs at the pinned revision, or paths in a local copy."""
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    assert spec.dataset_id is not None, "a task without a dataset_id is built by its loader"
    if not from_hub:
        return [str(Path(spec.dataset_id) / pattern) for pattern in patterns]
    at_revision = f"@{spec.revision}" if spec.revision else ""
    return [f"hf://datasets/{spec.dataset_id}{at_revision}/{pattern}" for pattern in patterns]


def _is_saved_to_disk(path: str) -> bool:
    folder = Path(path)
    return folder.is_dir() and ((folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file())


def _audio_as_feature(spec: TaskSpec, dataset):
    """Parquet files written without `datasets` metadata hold audio as a {"bytes", "path"} struct: make it Audio."""
    feature = (dataset.features or {}).get(spec.audio_column)
    if isinstance(feature, dict) and set(feature) == {"bytes", "path"}:
        return dataset.cast_column(spec.audio_column, Audio())
    return dataset


def _require_columns(spec: TaskSpec, data) -> None:
    if spec.add_columns is not None:
        needed = [spec.audio_column, spec.derive_from]
    else:
        needed = [spec.audio_column, spec.label_column, spec.label_names_column, spec.fold_column, spec.speaker_column]
    for split, dataset in data.items():
        if dataset.features is None:  # a stream whose schema is only known once read
            continue
        missing = [c for c in needed if c and c not in dataset.column_names]
        if missing:
            raise ValueError(
                f"{spec.display_name} ({spec.dataset_id}), split {split!r}: missing column(s) {missing}. Available "
                f"columns: {dataset.column_names}. Pass --audio_column / --label_column for another layout."
            )
        if not isinstance(dataset.features[spec.audio_column], Audio):
            raise ValueError(
                f"Column {spec.audio_column!r} of split {split!r} is {dataset.features[spec.audio_column]}, not an "
                "Audio feature; choose the audio column with --audio_column."
            )


def _add_derived_columns(spec: TaskSpec, dataset):
    assert spec.add_columns is not None  # called only for a task that derives columns
    if isinstance(dataset, IterableDataset):
        return dataset.map(spec.add_columns, batched=True)
    if spec.derive_from is None:
        raise ValueError(f"{spec.display_name}: `add_columns` needs `derive_from`, the column it reads.")
    derived = spec.add_columns({spec.derive_from: column_values(dataset, spec.derive_from)})
    for name, values in derived.items():
        dataset = dataset.remove_columns([name]) if name in dataset.column_names else dataset
        dataset = dataset.add_column(name, values)
    return dataset


# Label names and casting
def _readable(values: list, feature, spec: TaskSpec) -> list:
    """Label values as python values: ClassLabel ids (or plain integer ids the spec names) turned into names."""
    if isinstance(feature, ClassLabel):
        return [feature.int2str(v) if v is not None and v >= 0 else None for v in values]
    if isinstance(feature, List) and isinstance(feature.feature, ClassLabel):
        return [[feature.feature.int2str(v) for v in row] for row in values]
    if spec.integer_label_names is not None and isinstance(feature, Value) and feature.dtype.startswith("int"):
        names = spec.integer_label_names
        return [names[v] if v is not None and 0 <= v < len(names) else None for v in values]
    return values


def _readable_values(spec: TaskSpec, dataset, column: str) -> list:
    return _readable(column_values(dataset, column), dataset.features[column], spec)


def _collect_class_names(spec: TaskSpec, data) -> tuple[list[str], list[str]]:
    """(ClassLabel names, readable names), in id order."""
    if spec.class_names is not None:
        names = list(spec.class_names)
    elif isinstance(data, IterableDatasetDict):
        raise ValueError(f"{spec.display_name}: a streamed task needs its `class_names` in the spec.")
    else:
        feature = data[next(iter(data))].features[spec.label_column]
        if isinstance(feature, ClassLabel):
            names = [n for n in feature.names if n not in spec.drop_labels]
        else:
            values = {v for split in data.values() for v in _flatten(_readable_values(spec, split, spec.label_column))}
            values.discard(None)
            names = sorted_values(values - set(spec.drop_labels))
    if spec.label_names is not None:
        readable = list(spec.label_names)
    elif spec.label_names_column and not isinstance(data, IterableDatasetDict):
        readable = _names_from_column(spec, data, names)
    else:
        readable = names
    return [str(n) for n in names], [str(n) for n in readable]


def _flatten(values: list) -> list:
    return [v for row in values for v in row] if values and isinstance(values[0], list) else values


def sorted_values(values) -> list:
    """Numbers first (numerically), then strings: the order of class names and fold values read from data."""
    return sorted(values, key=lambda v: (0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v)))


def _names_from_column(spec: TaskSpec, data: DatasetDict, names: list) -> list[str]:
    names_column = spec.label_names_column
    assert names_column is not None  # called only for a task with a readable-name column
    pairs = {}
    for split in data.values():
        labels = _readable_values(spec, split, spec.label_column)
        readable = column_values(split, names_column)
        for label, text in zip(_flatten(labels), _flatten(readable), strict=True):
            pairs.setdefault(label, text)
    return [pairs.get(name, str(name)) for name in names]


def _check_integer_label_order(spec: TaskSpec, data) -> None:
    """Run the spec's `integer_label_check` on the train split when its plain integer label ids were named by an
    assumed order (`integer_label_names`)."""
    if spec.integer_label_check is None or spec.integer_label_names is None or isinstance(data, IterableDatasetDict):
        return
    dataset = data.get(spec.train_split)
    if dataset is None:
        return
    feature = dataset.features[spec.label_column]
    if not (isinstance(feature, Value) and feature.dtype.startswith("int")):
        return
    names = _readable_values(spec, dataset, spec.label_column)
    spec.integer_label_check(dict(Counter(name for name in names if name is not None)))


def _cast_columns(spec: TaskSpec, data) -> LoadedTask:
    _check_integer_label_order(spec, data)
    class_names, label_names = _collect_class_names(spec, data)
    index = {name: i for i, name in enumerate(class_names)}
    label_feature = List(ClassLabel(names=class_names)) if spec.multi_label else ClassLabel(names=class_names)
    protocol_columns = {spec.fold_column: "fold", spec.speaker_column: "speaker"}
    protocol_columns.pop(None, None)
    renames = {k: v for k, v in {spec.audio_column: "audio", **protocol_columns}.items() if k != v}
    keep, cast = [spec.audio_column, *protocol_columns], {}
    for split, dataset in data.items():
        if isinstance(dataset, IterableDataset):
            dataset = _stream_labels(spec, dataset, index, label_feature, keep)
        else:
            dataset = _attach_labels(spec, split, dataset, index, label_feature, keep)
        dataset = dataset.rename_columns(renames) if renames else dataset
        cast[split] = dataset.cast_column("audio", Audio(sampling_rate=SAMPLING_RATE))
    data = type(data)(cast)
    spec = _resolve_folds(spec, data)
    return LoadedTask(spec=spec, dataset=data, class_names=class_names, label_names=label_names)


def _attach_labels(spec: TaskSpec, split: str, dataset, index: dict, label_feature, keep: list):
    """The label ids as a new column (the audio is not rewritten), rows outside the task removed."""
    label_ids, dropped = _encode_labels(_readable_values(spec, dataset, spec.label_column), index, spec.multi_label)
    dataset = dataset.select_columns(keep).add_column("label", label_ids, feature=label_feature)
    if dropped:
        logger.warning(f"{spec.display_name} {split}: dropped {dropped} rows whose label is outside the task.")
        dataset = dataset.filter(_has_label, input_columns="label")
    return dataset


def _stream_labels(spec: TaskSpec, dataset: IterableDataset, index: dict, label_feature, keep: list):
    """The same on a stream: labels encoded and rows outside the task skipped as they are read."""
    if dataset.features is None:
        raise ValueError(f"{spec.display_name}: the stream declares no features; cannot cast its columns.")
    source_feature = dataset.features[spec.label_column]
    features = Features({name: dataset.features[name] for name in keep} | {"label": label_feature})

    def encode(values):
        return {"label": _encode_labels(_readable(values, source_feature, spec), index, spec.multi_label)[0]}

    dataset = dataset.select_columns([*keep, spec.label_column])
    dataset = dataset.map(
        encode, batched=True, input_columns=spec.label_column, remove_columns=[spec.label_column], features=features
    )
    return dataset.filter(_has_label, input_columns="label")


def _encode_labels(values: list, index: dict, multi_label: bool) -> tuple[list, int]:
    """Label ids per row (-1, or an empty list, for rows to drop) and the number of dropped rows."""
    encoded, dropped = [], 0
    for value in values:
        if multi_label:
            ids = [index[str(v)] for v in value or [] if str(v) in index]
            dropped += not ids
            encoded.append(ids)
        else:
            key = str(value)
            dropped += key not in index
            encoded.append(index.get(key, -1))
    return encoded, dropped


def _has_label(label) -> bool:
    return bool(label) if isinstance(label, list) else label >= 0


def _resolve_folds(spec: TaskSpec, data) -> TaskSpec:
    """The folds are the fold column's distinct values, sorted; a registered task's must be its official ones."""
    if spec.protocol != "folds":
        return spec
    if isinstance(data, IterableDatasetDict):
        raise ValueError(f"{spec.display_name}: cross-validation folds cannot be read from a stream.")
    found = tuple(sorted_values(set(column_values(data[spec.train_split], "fold"))))
    if spec.fold_values is None:
        return replace(spec, fold_values=found)
    if found != tuple(spec.fold_values):
        raise ValueError(
            f"{spec.display_name}: expected folds {list(spec.fold_values)} in column {spec.fold_column!r}, found "
            f"{list(found)}."
        )
    return spec


def _check_classes(loaded: LoadedTask, verify_split_sizes: bool) -> None:
    spec = loaded.spec
    if spec.num_classes is not None and loaded.num_labels != spec.num_classes:
        message = f"{spec.display_name}: expected {spec.num_classes} classes, the data has {loaded.num_labels}."
        if spec.strict_classes:
            raise ValueError(message)
        logger.warning(message)
    if loaded.streaming:
        return
    if spec.strict_classes and spec.protocol == "splits" and spec.test_split in loaded.dataset:
        _check_test_covers_classes(loaded)
    if verify_split_sizes:
        check_split_sizes(spec, {str(split): ds.num_rows for split, ds in loaded._indexed().items()})


def _check_test_covers_classes(loaded: LoadedTask) -> None:
    spec = loaded.spec
    test = loaded._indexed()[spec.test_split]
    present = set(column_values(test, "label"))
    missing = [loaded.class_names[i] for i in range(loaded.num_labels) if i not in present]
    if missing:
        raise ValueError(
            f"{spec.display_name}: the {spec.test_split!r} split ({test.num_rows} rows) "
            f"has no clip of {len(missing)} of the {loaded.num_labels} classes (e.g. {missing[:5]}). This is not the "
            "official test list; for Speech Commands V2 it is usually the 12-class keyword-spotting test archive. "
            "Use a copy whose test split is the official 35-class testing_list (11,005 clips)."
        )
