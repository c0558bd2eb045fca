# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The task registry: which Hub dataset (and commit) each downstream task of the AaSP paper reads, and how.

Other packages add tasks through the entry point group `transformers_aasp.tasks` (a callable returning `TaskSpec`s);
the repository's locally built corpora (`corpora/`, `pip install -e corpora`) register theirs that way.

Every task is a `TaskSpec`: Hub dataset id and revision, audio/label columns, how labels are named, clip
length and protocol. Loading and casting live in `data.loading`, the split protocols in `data.protocols`. Where each
repository's schema was read is recorded in docs/tasks.md.
"""

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers.utils import logging

from ..audio import SAMPLING_RATE


if TYPE_CHECKING:
    from ..reporting.model_card import DataLicense


logger = logging.get_logger(__name__)

PROTOCOLS = ("folds", "splits", "speaker_split")

# `google/speech_commands` v0.02 ClassLabel order (ids 0-35, README `dataset_info` of that repository). Copies that
# keep this ClassLabel are read by name; plain integer ids are not assumed to follow it (see `spcv2` below).
SPEECH_COMMANDS_V2_LABEL_IDS = (
    *("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"),
    *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    *("bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow"),
    *("backward", "forward", "follow", "learn", "visual", "_silence_"),
)
SPEECH_COMMANDS_V2_WORDS = tuple(sorted(SPEECH_COMMANDS_V2_LABEL_IDS[:35]))  # the 35 words, alphabetical
# The 20 core words (10 commands and the 10 digits). The release's README: most speakers said each core word five
# times and each auxiliary word once, so core words are by far the most frequent labels of every official split.
SPEECH_COMMANDS_V2_CORE_WORDS = SPEECH_COMMANDS_V2_LABEL_IDS[:20]
SPEECH_COMMANDS_V2_OFFICIAL_ROWS = {"train": 84843, "validation": 9981, "test": 11005}
SPEECH_COMMANDS_12_CLASS_TEST_ROWS = 4890
CREMAD_EMOTIONS = {"ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
AUDIOSET_CLASS_INDEX = "audioset_class_labels_indices.csv"  # package data under data/resources/


@cache
def audioset_classes() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The official AudioSet class index (class_labels_indices.csv, ontology order): (527 MIDs, 527 display names)."""
    index = resources.files("transformers_aasp.data").joinpath("resources").joinpath(AUDIOSET_CLASS_INDEX)
    text = index.read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    if [int(row["index"]) for row in rows] != list(range(len(rows))):
        raise ValueError(f"{AUDIOSET_CLASS_INDEX}: the index column must run 0..{len(rows) - 1} in order.")
    return tuple(row["mid"] for row in rows), tuple(row["display_name"] for row in rows)


@dataclass(frozen=True)
class TaskSpec:
    """How to load and split one task (`loader` tasks are built in code: the embedded and real-recordings corpora)."""

    name: str  # registry key (`--task`)
    display_name: str  # in reports and model cards
    dataset_id: str | None  # Hub dataset id or local path; None for a `loader` task
    dataset_config: str | None = None
    revision: str | None = None  # the pinned Hub commit (None: the default branch)
    # `{split: repo-relative glob(s)}` read with the `parquet` builder, for repositories whose `load_dataset(id)` is
    # unusable (e.g. they still hold a loading script, which datasets >= 4 refuses)
    data_files: dict[str, str | tuple[str, ...]] | None = None
    streaming: bool = False  # stream from the Hub (AudioSet-2M, 2.4 TB); a local copy is read normally
    audio_column: str = "audio"
    label_column: str = "label"
    label_names_column: str | None = None  # the readable name of each (integer) label
    integer_label_names: tuple[str, ...] | None = None  # names of plain-integer ids (neither ClassLabel nor text)
    # called with `{name: clips}` of the train split when `integer_label_names` named plain integer ids (an order
    # assumed, not read from the data); raises when the counts contradict that order
    integer_label_check: Callable[[dict[str, int]], None] | None = None
    multi_label: bool = False  # multi-label tagging (BCE loss, mAP) instead of single-label classification
    num_classes: int | None = None  # checked: a mismatch is logged, or raised with `strict_classes`
    clip_seconds: float = 10.0  # training / evaluation clip length (`audio.fit_clip`)
    protocol: str = "splits"  # "folds" (leave one fold out), "splits" (named) or "speaker_split" (disjoint 70/10/20)
    fold_column: str | None = None
    fold_values: tuple | None = None  # the fold column's distinct values, sorted (None: read when loading)
    train_split: str = "train"
    validation_split: str | None = "validation"  # when absent, a stratified fraction of train is held out
    test_split: str = "test"
    speaker_column: str | None = None
    class_balanced_sampling: bool = False  # sample training clips by inverse label frequency
    drop_labels: tuple[str, ...] = ()  # label values whose rows are removed (e.g. Speech Commands' `_silence_`)
    class_names: tuple[str, ...] | None = None  # the label values in id order (casting follows it when given)
    label_names: tuple[str, ...] | None = None  # readable names of `class_names` (e.g. AudioSet display names)
    strict_classes: bool = False  # raise (rather than warn) when the data's classes differ from `class_names`
    expected_rows: dict = field(default_factory=dict)  # official split sizes, checked unless verify_split_sizes=False
    add_columns: Callable | None = None  # `add_columns({derive_from: values})` -> columns added before casting
    derive_from: str | None = None
    loader: Callable | None = None  # builds the DatasetDict in code instead of `load_dataset`
    # for a `loader` task: the name of the corpus build it reads with the same keyword arguments (`seed`,
    # `clips_per_class`), recorded as the revision; and the licence its model cards state
    build_name: Callable[..., str] | None = None
    data_license: "DataLicense | None" = None
    protocol_description: str = ""  # one line for reports and model cards

    def __post_init__(self):
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"Unknown protocol {self.protocol!r}; expected one of {PROTOCOLS}.")
        if self.protocol == "folds" and not self.fold_column:
            raise ValueError(f"Task {self.name!r}: the 'folds' protocol needs `fold_column`.")
        if self.protocol == "speaker_split" and not self.speaker_column:
            raise ValueError(f"Task {self.name!r}: the 'speaker_split' protocol needs `speaker_column`.")
        if self.dataset_id is None and self.loader is None:
            raise ValueError(f"Task {self.name!r} needs a `dataset_id` or a `loader`.")
        if self.label_names is not None and len(self.label_names) != len(self.class_names or ()):
            raise ValueError(f"Task {self.name!r}: `label_names` must name each of `class_names`.")

    @property
    def folds(self) -> list:
        """The folds of a cross-validation protocol (the fold column's distinct values, sorted), or `[None]`."""
        if self.protocol != "folds":
            return [None]
        if self.fold_values is None:
            raise ValueError(f"{self.display_name}: the folds are read from the data; load the task first.")
        return list(self.fold_values)

    @property
    def num_folds(self) -> int | None:
        return len(self.fold_values) if self.protocol == "folds" and self.fold_values is not None else None

    @property
    def clip_samples(self) -> int:
        return round(self.clip_seconds * SAMPLING_RATE)


# Task-specific column derivations
def cremad_columns(batch: dict) -> dict:
    """Speaker and acted emotion from CREMA-D file names `<speaker>_<sentence>_<EMOTION>_<level>.wav`
    (e.g. `1001_DFA_ANG_XX.wav`: actor 1001, sentence DFA, anger, level unspecified)."""
    speakers, emotions = [], []
    for name in batch["file"]:
        parts = Path(name).stem.split("_")
        valid = len(parts) >= 3 and parts[2] in CREMAD_EMOTIONS
        speakers.append(parts[0] if valid else "")
        emotions.append(CREMAD_EMOTIONS[parts[2]] if valid else "")
    return {"speaker": speakers, "emotion": emotions}


def speech_commands_id_order_check(counts: dict[str, int]) -> None:
    """Refuse Speech Commands integer label ids read in the wrong word order.

    Most speakers said each of the 20 core words five times and each of the 15 others once (the release's README): in
    v0.02 the core words average 3,873 clips against 1,892 (ratio 2.05, docs/tasks.md), and the train list, about
    80 % of the clips, keeps that skew. Ids read in another order (e.g. `google/speech_commands`'s instead of
    alphabetical, or shifted by one) put core and other words under each name and bring the ratio to about 1; below
    1.5 the ids are refused. `counts`: clips per word name in the train split, after naming the integer ids.
    """
    core = [counts.get(word, 0) for word in SPEECH_COMMANDS_V2_CORE_WORDS]
    others = [counts.get(word, 0) for word in SPEECH_COMMANDS_V2_WORDS if word not in SPEECH_COMMANDS_V2_CORE_WORDS]
    core_mean, others_mean = sum(core) / len(core), sum(others) / len(others)
    if core_mean <= 1.5 * others_mean:
        raise ValueError(
            "Speech Commands V2: the label column holds plain integer ids, read as the 35 words in alphabetical order "
            f"(0 = {SPEECH_COMMANDS_V2_WORDS[0]!r}, 34 = {SPEECH_COMMANDS_V2_WORDS[-1]!r}), but with that order the 20 "
            f"core words average {core_mean:.0f} training clips against {others_mean:.0f} for the 15 others; in the "
            "official data they are about twice as frequent. The ids follow another order: load a copy whose label "
            "column is a ClassLabel or the word itself."
        )


# The registry (Hub ids, revisions and schemas: docs/tasks.md)
def _audioset_common() -> dict:
    mids, display_names = audioset_classes()
    return dict(
        dataset_id="agkphysics/AudioSet",
        revision="cb06767e072e3bd3e4145834cbcb0837b9e0065a",
        label_column="labels",
        class_names=mids,
        label_names=display_names,
        multi_label=True,
        num_classes=527,
        validation_split=None,
    )


def _builtin_tasks() -> list[TaskSpec]:
    return [
        TaskSpec(
            name="as20k",
            display_name="AudioSet-20K",
            dataset_config="balanced",
            protocol_description="train on balanced_train, test on eval; macro mAP over the 527 classes",
            **_audioset_common(),
        ),
        TaskSpec(
            name="as2m",
            display_name="AudioSet-2M",
            dataset_config="full",
            streaming=True,
            class_balanced_sampling=True,
            protocol_description="train on balanced+unbalanced with class-balanced sampling, test on eval; macro mAP",
            **_audioset_common(),
        ),
        TaskSpec(
            name="esc50",
            display_name="ESC-50",
            dataset_id="ashraq/esc50",
            revision="4005892498c64d7a9f4c09886414b065cb6bb61a",
            label_column="target",
            label_names_column="category",
            num_classes=50,
            clip_seconds=5.0,
            protocol="folds",
            fold_column="fold",
            fold_values=(1, 2, 3, 4, 5),
            protocol_description="5-fold cross-validation on the predefined folds (leave one fold out)",
        ),
        TaskSpec(
            name="us8k",
            display_name="UrbanSound8K",
            dataset_id="danavery/urbansound8K",
            revision="8aa9177a0c5a6949ee4ee4b7fcabb01dfd4ae466",
            label_column="classID",
            label_names_column="class",
            num_classes=10,
            clip_seconds=4.0,
            protocol="folds",
            fold_column="fold",
            fold_values=tuple(range(1, 11)),
            protocol_description="10-fold cross-validation on the predefined folds (never reshuffled)",
        ),
        TaskSpec(
            name="spcv2",
            display_name="Speech Commands V2 (35 classes)",
            dataset_id="danjacobellis/speech_commands_v2",
            # SPCV2_REVISION_UNREAD: only the short hash d244a57 of the head commit was readable (docs/tasks.md).
            revision=None,
            # The label type was not readable; a ClassLabel or text label is read by name. Plain integer ids are taken
            # in alphabetical word order (a user of this copy reports that order) and checked against the data.
            integer_label_names=SPEECH_COMMANDS_V2_WORDS,
            integer_label_check=speech_commands_id_order_check,
            num_classes=35,
            clip_seconds=1.0,
            drop_labels=("_silence_", "_background_noise_"),
            class_names=SPEECH_COMMANDS_V2_WORDS,
            strict_classes=True,
            expected_rows=SPEECH_COMMANDS_V2_OFFICIAL_ROWS,
            protocol_description="official train / validation / test lists (35 words, 11,005 test clips)",
        ),
        TaskSpec(
            name="nsynth",
            display_name="NSynth (instrument family)",
            dataset_id="jg583/NSynth",
            revision="4e6da52c92a2ef92d82ca378e3f151ed9503711e",
            data_files={split: f"data/{split}/*.parquet" for split in ("train", "validation", "test")},
            label_column="instrument_family",
            label_names_column="instrument_family_str",
            num_classes=11,
            clip_seconds=4.0,
            protocol_description="official train / validation / test splits; 11 instrument families",
        ),
        TaskSpec(
            name="cremad",
            display_name="CREMA-D",
            dataset_id="AbstractTTS/CREMA-D",
            revision="5a172780c79bbddb9b326a2c830447c550a216a4",
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
    ]


def load_plugin(entry_point) -> Callable[[], list]:
    """The callable of an installed plug-in's entry point; one that cannot be imported is skipped with a warning
    (returns a callable of no items), so a broken plug-in never stops the package's own tasks."""
    try:
        return entry_point.load()
    except ImportError as error:
        logger.warning(
            f"Skipping the transformers_aasp plug-in {entry_point.value!r}: it cannot be imported ({error})."
        )
        return list


@cache
def registered_tasks() -> dict[str, TaskSpec]:
    """Every task by name: the paper's Hub tasks, then those of installed plug-ins (entry points
    `transformers_aasp.tasks`), in that order. A plug-in may not reuse a name."""
    tasks = {spec.name: spec for spec in _builtin_tasks()}
    for plugin in entry_points(group="transformers_aasp.tasks"):
        for spec in load_plugin(plugin)():
            if spec.name in tasks:
                raise ValueError(f"Task {spec.name!r} of plug-in {plugin.value!r} is already registered.")
            tasks[spec.name] = spec
    return tasks


def task_names() -> list[str]:
    """The registered task names, in registry order (for `--task` help texts)."""
    return list(registered_tasks())


def get_task(name: str) -> TaskSpec:
    tasks = registered_tasks()
    if name not in tasks:
        raise ValueError(
            f"Unknown task {name!r}. Known tasks: {', '.join(tasks)}. (The embedded and real-recordings tasks come "
            "with the repository's corpora plug-in: pip install -e corpora.)"
        )
    return tasks[name]


def custom_task(dataset_id: str, *, fold_column: str | None = None, **fields: Any) -> TaskSpec:
    """A spec for any Hub id or local path, named after it; `fields` are the `TaskSpec` fields that describe it
    (audio_column, label_column, dataset_config, revision, multi_label, clip_seconds, the split names). With
    `fold_column`, the folds are its distinct values (sorted; numbers or strings), read when the task is loaded."""
    path = Path(dataset_id)
    display_name = (path.parent.resolve().name if path.is_file() else path.name) if path.exists() else dataset_id
    return TaskSpec(
        name=re.sub(r"[^A-Za-z0-9_.-]+", "_", display_name),  # output files carry the dataset's name
        display_name=display_name,
        dataset_id=dataset_id,
        protocol="folds" if fold_column else "splits",
        fold_column=fold_column,
        protocol_description=f"leave-one-fold-out on `{fold_column}`" if fold_column else "the dataset's splits",
        **fields,
    )
