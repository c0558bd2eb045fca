# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Opt-in: every registered task against the real Hub repository, at its pinned revision.

Run with Hub access: `AASP_TEST_HUB=1 python -m pytest tests/data/test_hub_live.py`. Reads only metadata (the
builder's features and split info) or, for repositories read with the `parquet` builder, the first streamed row.
"""

import os

import pytest
from datasets import Audio, load_dataset, load_dataset_builder

from transformers_aasp.data.loading import data_file_urls
from transformers_aasp.data.tasks import TaskSpec, registered_tasks


pytestmark = pytest.mark.skipif(
    os.environ.get("AASP_TEST_HUB") != "1", reason="reads the real Hub repositories; set AASP_TEST_HUB=1 to run"
)

HUB_TASKS = [spec for spec in registered_tasks().values() if spec.dataset_id is not None]


def needed_columns(spec: TaskSpec) -> set[str]:
    columns = {spec.audio_column, spec.derive_from} if spec.add_columns else {spec.audio_column, spec.label_column}
    return (columns | {spec.label_names_column, spec.fold_column}) - {None}


def split_names(spec: TaskSpec) -> set[str]:
    if spec.protocol != "splits":
        return {spec.train_split}
    return {spec.train_split, spec.test_split} | ({spec.validation_split} - {None})


@pytest.mark.parametrize("spec", HUB_TASKS, ids=[spec.name for spec in HUB_TASKS])
def test_registered_benchmark_matches_its_hub_repository(spec):
    if spec.data_files is not None:
        files = {split: data_file_urls(spec, patterns, from_hub=True) for split, patterns in spec.data_files.items()}
        streams = load_dataset("parquet", data_files=files, streaming=True)
        assert set(streams) >= split_names(spec)
        first = next(iter(streams[spec.train_split]))
        assert needed_columns(spec) <= set(first)
        return
    builder = load_dataset_builder(spec.dataset_id, spec.dataset_config, revision=spec.revision)
    features = builder.info.features
    assert needed_columns(spec) <= set(features), f"{spec.name}: columns {sorted(features)}"
    assert isinstance(features[spec.audio_column], Audio)
    if builder.info.splits:
        assert set(builder.info.splits) >= split_names(spec)
        for split, rows in spec.expected_rows.items():
            assert builder.info.splits[split].num_examples >= rows  # before dropping `_silence_` clips
