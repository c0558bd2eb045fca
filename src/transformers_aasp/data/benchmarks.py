# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Benchmark registry: the downstream tasks of the AaSP paper, loaded from the Hub (or a local copy) the same way.

Every benchmark is a `BenchmarkSpec`: Hub dataset id, audio/label columns, how labels are cast, clip length, metric and
protocol. `load_benchmark(name)` returns a `LoadedBenchmark` whose source splits all have the same columns:

    "audio": `datasets.Audio(sampling_rate=16000)`
    "label": `ClassLabel` (single-label) or `List(ClassLabel)` (multi-label; turned into multi-hot by `encode_targets`)
    "fold" / "speaker": kept where the protocol needs them

and `LoadedBenchmark.splits(fold)` applies the protocol (leave-one-fold-out, official splits or a speaker-disjoint
split) and returns train / validation / test. Loading always goes through `datasets.load_dataset(id_or_path, config)`
(or `load_from_disk` for a `save_to_disk` folder), so a local folder laid out like the Hub repo takes the same path.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from datasets import Audio, ClassLabel, DatasetDict, List, load_dataset, load_from_disk
from transformers.utils import logging

from ..audio import SAMPLING_RATE


logger = logging.get_logger(__name__)

PROTOCOLS = ("folds", "splits", "speaker_split")
SPEAKER_SPLIT_FRACTIONS = (0.7, 0.1, 0.2)  # train / validation / test, by speaker
SPEAKER_SPLIT_SEED = 0  # fixed: the split is part of the benchmark, not of a run

SPEECH_COMMANDS_V2_WORDS = (
    "backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward", "four", "go", "happy",
    "house", "learn", "left", "marvin", "nine", "no", "off", "on", "one", "right", "seven", "sheila", "six", "stop",
    "three", "tree", "two", "up", "visual", "wow", "yes", "zero",
)  # fmt: skip
SPEECH_COMMANDS_V2_OFFICIAL_ROWS = {"train": 84843, "validation": 9981, "test": 11005}
SPEECH_COMMANDS_12_CLASS_TEST_ROWS = 4890
CREMAD_EMOTIONS = {"ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
EMBEDDED_TASKS = ("instrument", "keyword", "modulation")


@dataclass(frozen=True)
class BenchmarkSpec:
    """How to load and split one benchmark.

    Attributes:
        name: registry key (`--benchmark`).
        display_name: name used in reports and model cards.
        dataset_id: Hub dataset id or local path; None for tasks built in code (`loader`).
        dataset_config: config name for `load_dataset`.
        audio_column / label_column: source column names.
        label_names_column: optional column with the readable name of each label (int labels, or MID lists).
        multi_label: multi-label tagging (BCE loss, mAP) instead of single-label classification.
        num_classes: expected number of classes (checked: a mismatch is logged, or raised with `strict_classes`).
        clip_seconds: training / evaluation clip length (random crop in training, crop from the start otherwise).
        protocol: "folds" (leave one fold out), "splits" (named splits) or "speaker_split" (speaker-disjoint 70/10/20).
        fold_column / num_folds: for "folds".
        train_split / validation_split / test_split: source split names for "splits" (validation may be absent:
            then a deterministic stratified fraction of train is held out).
        speaker_column: for "speaker_split".
        class_balanced_sampling: sample training clips with weights inversely proportional to label frequency.
        drop_labels: label values whose rows are removed before casting (e.g. Speech Commands' `_silence_`).
        class_names: the expected label names, in id order (casting uses this order when given).
        strict_classes: raise (rather than warn) when the data's classes differ from `class_names`.
        expected_rows: official split sizes, checked unless `verify_split_sizes=False` is passed when loading.
        add_columns / derive_from: `add_columns({derive_from: values})` returns derived columns (e.g. the speaker and
            emotion of CREMA-D file names), added before casting.
        loader: builds the DatasetDict in code (embedded corpus tasks) instead of `load_dataset`.
        metric: "accuracy" or "mAP".
        protocol_description: one line for reports and model cards.
    """

    name: str
    display_name: str
    dataset_id: str | None
    dataset_config: str | None = None
    audio_column: str = "audio"
    label_column: str = "label"
    label_names_column: str | None = None
    multi_label: bool = False
    num_classes: int | None = None
    clip_seconds: float = 10.0
    protocol: str = "splits"
    fold_column: str | None = None
    num_folds: int | None = None
    train_split: str = "train"
    validation_split: str | None = "validation"
    test_split: str = "test"
    speaker_column: str | None = None
    class_balanced_sampling: bool = False
    drop_labels: tuple[str, ...] = ()
    class_names: tuple[str, ...] | None = None
    strict_classes: bool = False
    expected_rows: dict = field(default_factory=dict)
    add_columns: Callable | None = None
    derive_from: str | None = None
    loader: Callable | None = None
    protocol_description: str = ""

    def __post_init__(self):
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"Unknown protocol {self.protocol!r}; expected one of {PROTOCOLS}.")
        if self.protocol == "folds" and not (self.fold_column and self.num_folds):
            raise ValueError(f"Benchmark {self.name!r}: the 'folds' protocol needs `fold_column` and `num_folds`.")
        if self.protocol == "speaker_split" and not self.speaker_column:
            raise ValueError(f"Benchmark {self.name!r}: the 'speaker_split' protocol needs `speaker_column`.")
        if self.dataset_id is None and self.loader is None:
            raise ValueError(f"Benchmark {self.name!r} needs a `dataset_id` or a `loader`.")

    @property
    def metric(self) -> str:
        return "mAP" if self.multi_label else "accuracy"

    @property
    def folds(self) -> list[int | None]:
        """The folds of a cross-validation protocol (1-based), or `[None]` for a single train/test run."""
        return list(range(1, self.num_folds + 1)) if self.protocol == "folds" else [None]

    @property
    def clip_samples(self) -> int:
        return int(round(self.clip_seconds * SAMPLING_RATE))


# ----------------------------------------------------------------------------------------------------------------------
# Benchmark-specific column derivations


def cremad_columns(batch: dict) -> dict:
    """Speaker and acted emotion from CREMA-D file names `<speaker>_<sentence>_<EMOTION>_<level>.wav`."""
    speakers, emotions = [], []
    for name in batch["file"]:
        parts = Path(name).stem.split("_")
        valid = len(parts) >= 3 and parts[2] in CREMAD_EMOTIONS
        speakers.append(parts[0] if valid else "")
        emotions.append(CREMAD_EMOTIONS[parts[2]] if valid else "")
    return {"speaker": speakers, "emotion": emotions}


def _embedded_loader(task_name: str) -> Callable[..., DatasetDict]:
    def load(**kwargs) -> DatasetDict:
        from .corpus import load_embedded_task

        return load_embedded_task(task_name, **kwargs)

    return load


# ----------------------------------------------------------------------------------------------------------------------
# The registry

_AUDIOSET_COMMON = dict(
    dataset_id="agkphysics/AudioSet",
    label_column="labels",
    label_names_column="human_labels",
    multi_label=True,
    num_classes=527,
    clip_seconds=10.0,
    validation_split=None,
    test_split="test",
)

BENCHMARKS: dict[str, BenchmarkSpec] = {
    spec.name: spec
    for spec in [
        BenchmarkSpec(
            name="as20k",
            display_name="AudioSet-20K",
            dataset_config="balanced",
            protocol_description="train on balanced_train, test on eval; macro mAP over 527 classes",
            **_AUDIOSET_COMMON,
        ),
        BenchmarkSpec(
            name="as2m",
            display_name="AudioSet-2M",
            dataset_config="full",
            class_balanced_sampling=True,
            protocol_description="train on balanced+unbalanced with class-balanced sampling, test on eval; macro mAP",
            **_AUDIOSET_COMMON,
        ),
        BenchmarkSpec(
            name="esc50",
            display_name="ESC-50",
            dataset_id="ashraq/esc50",
            label_column="target",
            label_names_column="category",
            num_classes=50,
            clip_seconds=5.0,
            protocol="folds",
            fold_column="fold",
            num_folds=5,
            protocol_description="5-fold cross-validation on the predefined folds (leave one fold out)",
        ),
        BenchmarkSpec(
            name="us8k",
            display_name="UrbanSound8K",
            dataset_id="danavery/urbansound8K",
            label_column="classID",
            label_names_column="class",
            num_classes=10,
            clip_seconds=4.0,
            protocol="folds",
            fold_column="fold",
            num_folds=10,
            protocol_description="10-fold cross-validation on the predefined folds (never reshuffled)",
        ),
        BenchmarkSpec(
            name="spcv2",
            display_name="Speech Commands V2 (35 classes)",
            dataset_id="danjacobellis/speech_commands_v2",
            num_classes=35,
            clip_seconds=1.0,
            drop_labels=("_silence_", "_background_noise_"),
            class_names=SPEECH_COMMANDS_V2_WORDS,
            strict_classes=True,
            expected_rows=SPEECH_COMMANDS_V2_OFFICIAL_ROWS,
            protocol_description="official train / validation / test lists (35 words, 11,005 test clips)",
        ),
        BenchmarkSpec(
            name="nsynth",
            display_name="NSynth (instrument family)",
            dataset_id="jg583/NSynth",
            label_column="instrument_family",
            label_names_column="instrument_family_str",
            num_classes=11,
            clip_seconds=4.0,
            protocol_description="official train / validation / test splits; 11 instrument families",
        ),
        BenchmarkSpec(
            name="cremad",
            display_name="CREMA-D",
            dataset_id="AbstractTTS/CREMA-D",
            label_column="emotion",
            num_classes=6,
            clip_seconds=2.5,
            protocol="speaker_split",
            speaker_column="speaker",
            class_names=tuple(CREMAD_EMOTIONS.values()),
            strict_classes=True,
            add_columns=cremad_columns,
            derive_from="file",
            protocol_description="6 acted emotions; deterministic speaker-disjoint 70/10/20 split",
        ),
        *[
            BenchmarkSpec(
                name=task,
                display_name=f"embedded corpus: {task}",
                dataset_id=None,
                clip_seconds=4.0,
                loader=_embedded_loader(task),
                protocol_description=f"the project corpus's embedded `{task}` task, its own splits",
            )
            for task in EMBEDDED_TASKS
        ],
    ]
}


def list_benchmarks() -> list[str]:
    return list(BENCHMARKS)


def get_benchmark(name: str) -> BenchmarkSpec:
    if name not in BENCHMARKS:
        raise ValueError(f"Unknown benchmark {name!r}. Known benchmarks: {', '.join(BENCHMARKS)}.")
    return BENCHMARKS[name]


def custom_benchmark(
    dataset_id: str,
    *,
    audio_column: str = "audio",
    label_column: str = "label",
    dataset_config: str | None = None,
    multi_label: bool = False,
    clip_seconds: float = 10.0,
    fold_column: str | None = None,
    train_split: str = "train",
    validation_split: str | None = "validation",
    test_split: str = "test",
) -> BenchmarkSpec:
    """A spec for any Hub id or local path, given its columns. With `fold_column`, the folds are its distinct values."""
    return BenchmarkSpec(
        name="custom",
        display_name=Path(dataset_id).name if Path(dataset_id).exists() else dataset_id,
        dataset_id=dataset_id,
        dataset_config=dataset_config,
        audio_column=audio_column,
        label_column=label_column,
        multi_label=multi_label,
        clip_seconds=clip_seconds,
        protocol="folds" if fold_column else "splits",
        fold_column=fold_column,
        num_folds=-1 if fold_column else None,  # resolved from the data
        train_split=train_split,
        validation_split=validation_split,
        test_split=test_split,
        protocol_description=f"leave-one-fold-out on `{fold_column}`" if fold_column else "the dataset's splits",
    )


# ----------------------------------------------------------------------------------------------------------------------
# Loading and casting


@dataclass
class LoadedBenchmark:
    """A benchmark's source splits, cast to the common columns, plus its protocol.

    Attributes:
        spec: the benchmark (with `num_folds` resolved from the data for custom fold datasets).
        dataset: source splits with columns "audio", "label" (+ "fold" / "speaker").
        class_names: ClassLabel names (label ids index this list).
        label_names: readable names for `id2label` (equal to `class_names` unless a names column exists).
    """

    spec: BenchmarkSpec
    dataset: DatasetDict
    class_names: list[str]
    label_names: list[str]

    @property
    def num_labels(self) -> int:
        return len(self.class_names)

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.label_names))

    @property
    def label2id(self) -> dict[str, int]:
        return {name: index for index, name in enumerate(self.label_names)}

    def split_indices(
        self, fold: int | None = None, validation_fraction: float = 0.1, seed: int = 0
    ) -> dict[str, tuple[str, np.ndarray]]:
        """Rows of each split as `{"train" | "validation" | "test": (source_split_name, row_indices)}`.

        "validation" is absent when the task has no validation split and `validation_fraction` is 0.
        """
        return _protocol_indices(self, fold, validation_fraction, seed)

    def splits(self, fold: int | None = None, validation_fraction: float = 0.1, seed: int = 0) -> DatasetDict:
        """The train / validation / test datasets of one run (one fold for cross-validation protocols)."""
        return DatasetDict(
            {
                split: self.dataset[source].select(indices)
                for split, (source, indices) in self.split_indices(fold, validation_fraction, seed).items()
            }
        )

    def fingerprint(self) -> str:
        """Identifies the loaded data (dataset id, config, split sizes, label names) for caches."""
        text = repr(
            (self.spec.name, self.spec.dataset_id, self.spec.dataset_config, self.class_names, self.dataset.num_rows)
        )
        return hashlib.sha1(text.encode()).hexdigest()[:12]


def load_benchmark(
    benchmark: str | BenchmarkSpec,
    *,
    dataset_id: str | None = None,
    verify_split_sizes: bool = True,
    cache_dir: str | None = None,
    loader_kwargs: dict | None = None,
) -> LoadedBenchmark:
    """Load a registered benchmark (or a custom spec) and cast it to the common columns.

    Args:
        benchmark: registry name or a `BenchmarkSpec` (see `custom_benchmark`).
        dataset_id: load this Hub id or local path instead of the spec's (a copy with the same layout).
        verify_split_sizes: check the official split sizes the spec lists (Speech Commands V2). Turn off only for a
            deliberate subset; the class checks always run.
        cache_dir: passed to `datasets.load_dataset`.
        loader_kwargs: passed to the spec's `loader` (embedded corpus tasks: `cache_dir`, `clips_per_class`, `seed`).
    """
    spec = get_benchmark(benchmark) if isinstance(benchmark, str) else benchmark
    if dataset_id is not None:
        spec = replace(spec, dataset_id=dataset_id)
    raw = _load_source(spec, cache_dir, loader_kwargs or {})
    _require_columns(spec, raw)
    if spec.add_columns is not None:
        raw = DatasetDict({split: _add_derived_columns(spec, dataset) for split, dataset in raw.items()})
    loaded = _cast_columns(spec, raw)
    _check_classes(loaded, verify_split_sizes)
    logger.info(f"Loaded {spec.display_name}: {loaded.dataset.num_rows} rows, {loaded.num_labels} classes.")
    return loaded


def resolve_benchmark(
    benchmark: str | None = None,
    dataset_name: str | None = None,
    *,
    audio_column: str = "audio",
    label_column: str = "label",
    dataset_config: str | None = None,
    multi_label: bool = False,
    fold_column: str | None = None,
    train_split: str = "train",
    validation_split: str | None = "validation",
    test_split: str = "test",
    clip_seconds: float | None = None,
    verify_split_sizes: bool = True,
    corpus_clips_per_class: int | None = None,
) -> LoadedBenchmark:
    """What the scripts' `--benchmark` / `--dataset_name` options select, loaded.

    A registered `benchmark` (optionally read from `dataset_name`, a copy with the same layout), or a custom
    `dataset_name` described by the column and split arguments. `clip_seconds` overrides the benchmark's clip length;
    `corpus_clips_per_class` sizes the embedded corpus tasks.
    """
    if benchmark is None and dataset_name is None:
        raise ValueError("Pass --benchmark <name> or --dataset_name <hub id or path>.")
    if benchmark is not None:
        spec = get_benchmark(benchmark)
    else:
        spec = custom_benchmark(
            dataset_name,
            audio_column=audio_column,
            label_column=label_column,
            dataset_config=dataset_config,
            multi_label=multi_label,
            fold_column=fold_column,
            train_split=train_split,
            validation_split=validation_split,
            test_split=test_split,
        )
    if clip_seconds is not None:
        spec = replace(spec, clip_seconds=clip_seconds)
    override = dataset_name if benchmark is not None else None
    loader_kwargs = {"clips_per_class": corpus_clips_per_class} if spec.loader is not None else None
    return load_benchmark(
        spec, dataset_id=override, verify_split_sizes=verify_split_sizes, loader_kwargs=loader_kwargs
    )


def _load_source(spec: BenchmarkSpec, cache_dir: str | None, loader_kwargs: dict) -> DatasetDict:
    if spec.loader is not None and spec.dataset_id is None:
        data = spec.loader(**loader_kwargs)
    elif _is_saved_to_disk(spec.dataset_id):
        data = load_from_disk(spec.dataset_id)
    else:
        data = load_dataset(spec.dataset_id, spec.dataset_config, cache_dir=cache_dir)
    if not isinstance(data, DatasetDict):
        data = DatasetDict({spec.train_split: data})
    return data


def _is_saved_to_disk(path: str) -> bool:
    folder = Path(path)
    return folder.is_dir() and ((folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file())


def _add_derived_columns(spec: BenchmarkSpec, dataset):
    derived = spec.add_columns({spec.derive_from: _column_values(dataset, spec.derive_from)})
    for name, values in derived.items():
        dataset = dataset.remove_columns([name]) if name in dataset.column_names else dataset
        dataset = dataset.add_column(name, values)
    return dataset


def _require_columns(spec: BenchmarkSpec, data: DatasetDict) -> None:
    if spec.add_columns is not None:
        needed = [spec.audio_column, spec.derive_from]
    else:
        needed = [spec.audio_column, spec.label_column, spec.label_names_column, spec.fold_column, spec.speaker_column]
    for split, dataset in data.items():
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


def _column_values(dataset, column: str) -> list:
    return dataset.select_columns([column]).to_dict()[column]


def _readable_values(dataset, column: str) -> list:
    """A label column as python values, ClassLabel ids turned into their names."""
    feature = dataset.features[column]
    values = _column_values(dataset, column)
    if isinstance(feature, ClassLabel):
        return [feature.int2str(v) if v is not None and v >= 0 else None for v in values]
    if isinstance(feature, List) and isinstance(feature.feature, ClassLabel):
        return [[feature.feature.int2str(v) for v in row] for row in values]
    return values


def _collect_class_names(spec: BenchmarkSpec, data: DatasetDict) -> tuple[list[str], list[str]]:
    """(ClassLabel names, readable names), in id order."""
    feature = data[next(iter(data))].features[spec.label_column]
    if spec.class_names is not None:
        names = list(spec.class_names)
    elif isinstance(feature, ClassLabel):
        names = [n for n in feature.names if n not in spec.drop_labels]
    else:
        values = {v for split in data.values() for v in _flatten(_readable_values(split, spec.label_column))}
        values.discard(None)
        names = _sorted_labels(values - set(spec.drop_labels))
    readable = _readable_names(spec, data, names) if spec.label_names_column else names
    return [str(n) for n in names], [str(n) for n in readable]


def _flatten(values: list) -> list:
    return [v for row in values for v in row] if values and isinstance(values[0], list) else values


def _sorted_labels(values: set) -> list:
    return sorted(values, key=lambda v: (0, v, "") if isinstance(v, (int, np.integer)) else (1, 0, str(v)))


def _readable_names(spec: BenchmarkSpec, data: DatasetDict, names: list) -> list[str]:
    pairs = {}
    for split in data.values():
        labels = _readable_values(split, spec.label_column)
        readable = _column_values(split, spec.label_names_column)
        for label, text in zip(_flatten(labels), _flatten(readable)):
            pairs.setdefault(label, text)
    return [pairs.get(name, str(name)) for name in names]


def _cast_columns(spec: BenchmarkSpec, data: DatasetDict) -> LoadedBenchmark:
    class_names, label_names = _collect_class_names(spec, data)
    index = {name: i for i, name in enumerate(class_names)}
    protocol_columns = {spec.fold_column: "fold", spec.speaker_column: "speaker"}
    protocol_columns.pop(None, None)
    cast = {}
    for split, dataset in data.items():
        label_ids, dropped = _encode_labels(_readable_values(dataset, spec.label_column), index, spec)
        keep = [spec.audio_column, *protocol_columns]
        dataset = dataset.select_columns(keep).rename_columns(
            {spec.audio_column: "audio", **{k: v for k, v in protocol_columns.items() if k != v}}
        )
        label_feature = List(ClassLabel(names=class_names)) if spec.multi_label else ClassLabel(names=class_names)
        dataset = dataset.add_column("label", label_ids, feature=label_feature)
        if dropped:
            logger.warning(f"{spec.display_name} {split}: dropped {dropped} rows whose label is outside the task.")
            dataset = dataset.filter(_has_label, input_columns="label")
        cast[split] = dataset.cast_column("audio", Audio(sampling_rate=SAMPLING_RATE))
    spec = _resolve_folds(spec, DatasetDict(cast))
    return LoadedBenchmark(spec=spec, dataset=DatasetDict(cast), class_names=class_names, label_names=label_names)


def _encode_labels(values: list, index: dict, spec: BenchmarkSpec) -> tuple[list, int]:
    """Label ids per row (-1, or an empty list, for rows to drop) and the number of dropped rows."""
    encoded, dropped = [], 0
    for value in values:
        if spec.multi_label:
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


def _resolve_folds(spec: BenchmarkSpec, data: DatasetDict) -> BenchmarkSpec:
    if spec.protocol != "folds":
        return spec
    folds = sorted({int(f) for f in _column_values(data[spec.train_split], "fold")})
    if spec.num_folds == -1:
        return replace(spec, num_folds=len(folds))
    if folds != list(range(1, spec.num_folds + 1)):
        raise ValueError(f"{spec.display_name}: expected folds 1..{spec.num_folds} in column 'fold', found {folds}.")
    return spec


def _check_classes(loaded: LoadedBenchmark, verify_split_sizes: bool) -> None:
    spec = loaded.spec
    if spec.num_classes is not None and loaded.num_labels != spec.num_classes:
        message = f"{spec.display_name}: expected {spec.num_classes} classes, the data has {loaded.num_labels}."
        if spec.strict_classes:
            raise ValueError(message)
        logger.warning(message)
    if spec.strict_classes and spec.protocol == "splits" and spec.test_split in loaded.dataset:
        _check_test_covers_classes(loaded)
    if verify_split_sizes:
        check_split_sizes(spec, {split: ds.num_rows for split, ds in loaded.dataset.items()})


def _check_test_covers_classes(loaded: LoadedBenchmark) -> None:
    spec = loaded.spec
    present = set(_column_values(loaded.dataset[spec.test_split], "label"))
    missing = [loaded.class_names[i] for i in range(loaded.num_labels) if i not in present]
    if missing:
        raise ValueError(
            f"{spec.display_name}: the {spec.test_split!r} split ({loaded.dataset[spec.test_split].num_rows} rows) "
            f"has no clip of {len(missing)} of the {loaded.num_labels} classes (e.g. {missing[:5]}). This is not the "
            "official test list; for Speech Commands V2 it is usually the 12-class keyword-spotting test archive. "
            "Use a copy whose test split is the official 35-class testing_list (11,005 clips)."
        )


def check_split_sizes(spec: BenchmarkSpec, num_rows: dict[str, int]) -> None:
    """Raise when a split's size differs from the official size in `spec.expected_rows`.

    Args:
        num_rows: `{split_name: number of rows}` after dropping rows outside the task.
    """
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


# ----------------------------------------------------------------------------------------------------------------------
# Protocols


def _protocol_indices(loaded: LoadedBenchmark, fold, validation_fraction: float, seed: int):
    spec = loaded.spec
    if spec.protocol == "folds":
        return _fold_indices(loaded, fold, validation_fraction, seed)
    if fold is not None:
        raise ValueError(f"{spec.display_name} has no folds (protocol {spec.protocol!r}); do not pass a fold.")
    if spec.protocol == "speaker_split":
        return _speaker_indices(loaded)
    return _named_split_indices(loaded, validation_fraction, seed)


def _fold_indices(loaded: LoadedBenchmark, fold, validation_fraction: float, seed: int):
    spec = loaded.spec
    if fold not in spec.folds:
        raise ValueError(f"{spec.display_name}: fold must be one of {spec.folds}, got {fold!r}.")
    source = spec.train_split
    folds = np.asarray(_column_values(loaded.dataset[source], "fold"), dtype=np.int64)
    test = np.flatnonzero(folds == fold)
    rest = np.flatnonzero(folds != fold)
    return _with_validation(loaded, source, rest, validation_fraction, seed) | {"test": (source, test)}


def _named_split_indices(loaded: LoadedBenchmark, validation_fraction: float, seed: int):
    spec = loaded.spec
    for split in (spec.train_split, spec.test_split):
        if split not in loaded.dataset:
            raise ValueError(
                f"{spec.display_name}: split {split!r} not found; the data has {list(loaded.dataset)}. Choose the "
                "splits with --train_split / --test_split."
            )
    train = np.arange(loaded.dataset[spec.train_split].num_rows)
    indices = {"test": (spec.test_split, np.arange(loaded.dataset[spec.test_split].num_rows))}
    if spec.validation_split and spec.validation_split in loaded.dataset:
        validation = np.arange(loaded.dataset[spec.validation_split].num_rows)
        return {"train": (spec.train_split, train), "validation": (spec.validation_split, validation), **indices}
    return _with_validation(loaded, spec.train_split, train, validation_fraction, seed) | indices


def _speaker_indices(loaded: LoadedBenchmark):
    """Speaker-disjoint 70/10/20 split of the first source split, fixed by `SPEAKER_SPLIT_SEED`."""
    source = loaded.spec.train_split
    speakers = np.asarray(_column_values(loaded.dataset[source], "speaker"))
    unique = np.array(sorted(set(speakers.tolist())))
    order = np.random.default_rng(SPEAKER_SPLIT_SEED).permutation(unique)
    num_test = int(round(SPEAKER_SPLIT_FRACTIONS[2] * len(unique)))
    num_validation = int(round(SPEAKER_SPLIT_FRACTIONS[1] * len(unique)))
    if len(unique) < 3 or min(num_test, num_validation) == 0:
        raise ValueError(
            f"{loaded.spec.display_name}: a speaker-disjoint split needs more speakers than {len(unique)}."
        )
    groups = {
        "test": order[:num_test],
        "validation": order[num_test : num_test + num_validation],
        "train": order[num_test + num_validation :],
    }
    return {split: (source, np.flatnonzero(np.isin(speakers, members))) for split, members in groups.items()}


def _with_validation(loaded: LoadedBenchmark, source: str, rows: np.ndarray, fraction: float, seed: int):
    """Train rows, plus a deterministic stratified hold-out of `fraction` of them as validation."""
    if fraction <= 0:
        return {"train": (source, rows)}
    if not 0 < fraction < 1:
        raise ValueError(f"validation_fraction must be in [0, 1), got {fraction}.")
    labels = _column_values(loaded.dataset[source].select(rows), "label")
    held_out = stratified_holdout(labels, fraction, seed)
    mask = np.zeros(len(rows), dtype=bool)
    mask[held_out] = True
    return {"train": (source, rows[~mask]), "validation": (source, rows[mask])}


def stratified_holdout(labels: list, fraction: float, seed: int) -> np.ndarray:
    """Positions of a deterministic hold-out: `fraction` of every class with at least two clips (at least one each).

    Multi-label rows are stratified by their first label. Returns sorted positions into `labels`.
    """
    keys = np.asarray([(row[0] if row else -1) if isinstance(row, list) else row for row in labels])
    rng = np.random.default_rng(seed)
    held_out = []
    for value in np.unique(keys):
        members = rng.permutation(np.flatnonzero(keys == value))
        if len(members) >= 2:
            held_out.extend(members[: max(1, int(round(fraction * len(members))))])
    return np.sort(np.asarray(held_out, dtype=np.int64))


# ----------------------------------------------------------------------------------------------------------------------
# Per-clip helpers shared by the fine-tuning and linear-evaluation scripts


def undecoded_audio(dataset):
    """The dataset with its "audio" column left encoded ({"bytes", "path"}), so `decode_waveform` can skip bad clips."""
    return dataset.cast_column("audio", Audio(sampling_rate=SAMPLING_RATE, decode=False))


def encode_targets(labels: list, num_labels: int, multi_label: bool) -> np.ndarray:
    """Labels of a batch as training targets: (B,) int64 class ids, or (B, num_labels) float32 multi-hot."""
    if not multi_label:
        return np.asarray(labels, dtype=np.int64)
    targets = np.zeros((len(labels), num_labels), dtype=np.float32)
    for row, ids in enumerate(labels):
        targets[row, ids] = 1.0
    return targets


def class_balanced_weights(labels: list, num_labels: int) -> np.ndarray:
    """Sampling weight per clip: the sum over its labels of 1 / (label frequency), as used for AudioSet-2M.

    Args:
        labels: per clip, a list of class ids (multi-label) or one class id.

    Returns:
        (N,) float64 weights.
    """
    targets = encode_targets(labels if isinstance(labels[0], list) else [[l] for l in labels], num_labels, True)
    frequency = targets.sum(axis=0)
    inverse = np.divide(1.0, frequency, out=np.zeros_like(frequency), where=frequency > 0)
    weights = targets @ inverse
    return np.where(weights > 0, weights, inverse[inverse > 0].min(initial=1.0)).astype(np.float64)
