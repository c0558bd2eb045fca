# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Fixtures shared by the data and training tests."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from audio_files import write_good_corpus

from transformers_aasp import AaSPFeatureExtractor


DATASETS_CACHE_KEY = pytest.StashKey[str]()


def pytest_configure(config):
    """A fresh `datasets` cache for the whole run (child processes inherit it through the environment).

    `datasets` keys the cache of a local data folder by the folder's name and options, not by its files' contents, so
    a fixture rebuilt with different data under the same name would otherwise be served from an earlier run's cache.
    """
    cache = tempfile.mkdtemp(prefix="aasp-test-datasets-cache-")
    config.stash[DATASETS_CACHE_KEY] = cache
    os.environ["HF_DATASETS_CACHE"] = cache
    try:
        import datasets.config
    except ImportError:  # the core-only environment of the packaging tests
        return
    datasets.config.HF_DATASETS_CACHE = Path(cache)


def pytest_unconfigure(config):
    shutil.rmtree(config.stash.get(DATASETS_CACHE_KEY, ""), ignore_errors=True)


@pytest.fixture
def corpus(tmp_path) -> Path:
    folder = tmp_path / "corpus"
    write_good_corpus(folder)
    return folder


@pytest.fixture
def feature_extractor():
    return AaSPFeatureExtractor()


@pytest.fixture
def fresh_accelerate_state():
    """In-process runs create an Accelerator each; its state is a process-wide singleton."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    yield
    AcceleratorState._reset_state(True)
    GradientState._reset_state()
