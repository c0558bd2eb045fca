# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Split protocols and training-time sampling of the tasks.

* "folds": leave one fold out (the fold column's distinct values), a stratified validation hold-out of the rest;
* "splits": the source's named train / validation / test splits (validation held out of train when absent);
* "speaker_split": a fixed speaker-disjoint 70/10/20 split;
* `encode_targets` / `class_balanced_weights`: training targets and the AudioSet-2M sampling weights.

Each protocol returns row indices, `{"train" | "validation" | "test": (source_split_name, row_indices)}`, so the
loaded data is never copied.
"""

import numpy as np
from datasets import DatasetDict

from .tasks import TaskSpec


SPEAKER_SPLIT_FRACTIONS = (0.7, 0.1, 0.2)  # train / validation / test, by speaker
SPEAKER_SPLIT_SEED = 0  # fixed: the split is part of the task, not of a run

SplitIndices = dict[str, tuple[str, np.ndarray]]


def protocol_indices(
    spec: TaskSpec, dataset: DatasetDict, fold=None, validation_fraction: float = 0.1, seed: int = 0
) -> SplitIndices:
    """Rows of each split of one run of `spec`'s protocol on its cast `dataset` ("label", "fold", "speaker")."""
    if spec.protocol == "folds":
        return _fold_indices(spec, dataset, fold, validation_fraction, seed)
    if fold is not None:
        raise ValueError(f"{spec.display_name} has no folds (protocol {spec.protocol!r}); do not pass a fold.")
    if spec.protocol == "speaker_split":
        return _speaker_indices(spec, dataset)
    return _named_split_indices(spec, dataset, validation_fraction, seed)


def require_named_splits(spec: TaskSpec, available) -> None:
    """Raise, naming the available splits, when the train or test split of a "splits" protocol is missing."""
    for split in (spec.train_split, spec.test_split):
        if split not in available:
            raise ValueError(
                f"{spec.display_name}: split {split!r} not found; the data has {list(available)}. Choose the "
                "splits with --train_split / --test_split."
            )


def column_values(dataset, column: str) -> list:
    return dataset.select_columns([column]).to_dict()[column]


def _fold_indices(spec: TaskSpec, dataset: DatasetDict, fold, validation_fraction: float, seed: int):
    if fold not in spec.folds:
        raise ValueError(f"{spec.display_name}: fold must be one of {spec.folds}, got {fold!r}.")
    source = spec.train_split
    in_fold = np.array([value == fold for value in column_values(dataset[source], "fold")], dtype=bool)
    test, rest = np.flatnonzero(in_fold), np.flatnonzero(~in_fold)
    return _with_validation(dataset, source, rest, validation_fraction, seed) | {"test": (source, test)}


def _named_split_indices(spec: TaskSpec, dataset: DatasetDict, validation_fraction: float, seed: int):
    require_named_splits(spec, dataset)
    train = np.arange(dataset[spec.train_split].num_rows)
    indices = {"test": (spec.test_split, np.arange(dataset[spec.test_split].num_rows))}
    if spec.validation_split and spec.validation_split in dataset:
        validation = np.arange(dataset[spec.validation_split].num_rows)
        return {"train": (spec.train_split, train), "validation": (spec.validation_split, validation), **indices}
    return _with_validation(dataset, spec.train_split, train, validation_fraction, seed) | indices


def _speaker_indices(spec: TaskSpec, dataset: DatasetDict):
    """Speaker-disjoint 70/10/20 split of the first source split, fixed by `SPEAKER_SPLIT_SEED`."""
    source = spec.train_split
    speakers = np.asarray(column_values(dataset[source], "speaker"))
    unique = np.array(sorted(set(speakers.tolist())))
    order = np.random.default_rng(SPEAKER_SPLIT_SEED).permutation(unique)
    num_test = round(SPEAKER_SPLIT_FRACTIONS[2] * len(unique))
    num_validation = round(SPEAKER_SPLIT_FRACTIONS[1] * len(unique))
    if len(unique) < 3 or min(num_test, num_validation) == 0:
        raise ValueError(f"{spec.display_name}: a speaker-disjoint split needs more speakers than {len(unique)}.")
    groups = {
        "test": order[:num_test],
        "validation": order[num_test : num_test + num_validation],
        "train": order[num_test + num_validation :],
    }
    return {split: (source, np.flatnonzero(np.isin(speakers, members))) for split, members in groups.items()}


def _with_validation(dataset: DatasetDict, source: str, rows: np.ndarray, fraction: float, seed: int):
    """Train rows, plus a deterministic stratified hold-out of `fraction` of them as validation."""
    if fraction <= 0:
        return {"train": (source, rows)}
    if not 0 < fraction < 1:
        raise ValueError(f"validation_fraction must be in [0, 1), got {fraction}.")
    labels = column_values(dataset[source].select(rows), "label")
    held_out = stratified_holdout(labels, fraction, seed)
    mask = np.zeros(len(rows), dtype=bool)
    mask[held_out] = True
    return {"train": (source, rows[~mask]), "validation": (source, rows[mask])}


def stratified_holdout(labels: list, fraction: float, seed: int) -> np.ndarray:
    """Sorted positions into `labels` of a deterministic hold-out: `fraction` of every class with at least two clips
    (at least one each); multi-label rows are stratified by their first label."""
    keys = np.asarray([(row[0] if row else -1) if isinstance(row, list) else row for row in labels])
    rng = np.random.default_rng(seed)
    held_out = []
    for value in np.unique(keys):
        members = rng.permutation(np.flatnonzero(keys == value))
        if len(members) >= 2:
            held_out.extend(members[: max(1, round(fraction * len(members)))])
    return np.sort(np.asarray(held_out, dtype=np.int64))


def encode_targets(labels: list, num_labels: int, multi_label: bool) -> np.ndarray:
    """Labels of a batch as training targets: (B,) int64 class ids, or (B, num_labels) float32 multi-hot."""
    if not multi_label:
        return np.asarray(labels, dtype=np.int64)
    targets = np.zeros((len(labels), num_labels), dtype=np.float32)
    for row, ids in enumerate(labels):
        targets[row, ids] = 1.0
    return targets


def class_balanced_weights(labels: list, num_labels: int) -> np.ndarray:
    """(N,) float64 sampling weights, per clip the sum over its labels (a list of class ids, or one id) of
    1 / (label frequency), as used for AudioSet-2M."""
    rows = labels if isinstance(labels[0], list) else [[label] for label in labels]
    targets = encode_targets(rows, num_labels, True)
    frequency = targets.sum(axis=0)
    inverse = np.divide(1.0, frequency, out=np.zeros_like(frequency), where=frequency > 0)
    weights = targets @ inverse
    return np.where(weights > 0, weights, inverse[inverse > 0].min(initial=1.0)).astype(np.float64)
