# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""Fixtures shared by the data and training tests."""

from pathlib import Path

import pytest
from audio_files import write_good_corpus

from transformers_aasp import AaSPFeatureExtractor


@pytest.fixture
def corpus(tmp_path) -> Path:
    folder = tmp_path / "corpus"
    write_good_corpus(folder)
    return folder


@pytest.fixture
def feature_extractor():
    return AaSPFeatureExtractor()
