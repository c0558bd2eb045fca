# Copyright 2026 The transformers-aasp authors. Licensed under the Apache License, Version 2.0.
"""The real-audio corpus built from Debian packages (`aasp_corpora.recordings`).

These tests read the installed recordings (scripts/setup_env.sh installs them); without them the build fails with the
apt-get command, and so do these tests.
"""

import hashlib
from collections import Counter
from pathlib import Path

import pytest
import soundfile

from aasp_corpora import recordings
from aasp_corpora.recordings import (
    MUSESCORE_SOUNDFONT,
    RECORDED_TASKS,
    build_recordings_corpus,
    load_recorded_task,
    read_recorded_metadata,
    recorded_pretraining_pool,
    soundfont_preset_samples,
)
from transformers_aasp.data.loading import resolve_task
from transformers_aasp.data.sources import load_audio_records


# each build renders and writes about 5,000 clips (30-90 s on 2 cores): the integration tier
pytestmark = pytest.mark.integration

SPLITS = ("train", "validation", "test")


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("recordings-cache")


@pytest.fixture(scope="module")
def built(cache_root) -> Path:
    return build_recordings_corpus(cache_root, seed=0)


def metadata(folder: Path, task: str) -> dict[str, list[dict]]:
    return {split: read_recorded_metadata(folder, task, split) for split in SPLITS}


def file_digests(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != "recordings.json"
    }


@pytest.mark.parametrize("task", sorted(RECORDED_TASKS))
def test_splits_share_no_source_and_no_recording(task, built):
    rows = metadata(built, task)
    for column in ("source", "recording"):
        values = {split: {row[column] for row in rows[split]} for split in SPLITS}
        assert not values["train"] & values["test"], column
        assert not values["train"] & values["validation"], column
        assert not values["validation"] & values["test"], column


def test_a_capped_pool_keeps_all_the_music_and_a_fixed_draw_of_the_speech(built, cache_root):
    full = recorded_pretraining_pool(cache_root, seed=0)
    capped = recorded_pretraining_pool(cache_root, seed=0, speech_clips=50)
    assert capped == built.with_name(f"{built.name}-pool-speech50")  # beside the corpus, which it leaves unchanged
    full_files = {path: digest for path, digest in file_digests(full).items() if path.endswith(".wav")}
    capped_files = {path: digest for path, digest in file_digests(capped).items() if path.endswith(".wav")}
    assert capped_files.items() <= full_files.items()  # same clips under the same names, nothing new
    speech = [path for path in capped_files if path.startswith("speech/")]
    assert len(speech) == 50
    assert {p for p in full_files if not p.startswith("speech/")} == {p for p in capped_files if p not in speech}
    assert len(load_audio_records(str(capped))) == len(capped_files)  # what examples/pretrain.py reads
    assert recorded_pretraining_pool(cache_root, seed=0, speech_clips=50) == capped  # reused, not redrawn
    recordings = {row["file_name"]: row["recording"] for row in read_recorded_metadata(full, "speech", "train")}
    languages = {recordings[Path(path).name].split("/")[0] for path in speech}  # "<language>/<prompt>"
    assert len(languages) == 5  # a draw over every voice, not the first files of one
    too_many = sum(p.startswith("speech/") for p in full_files) + 1
    with pytest.raises(ValueError, match=f"speech_clips={too_many} is outside"):
        recorded_pretraining_pool(cache_root, seed=0, speech_clips=too_many)


def test_instrument_test_presets_play_no_sample_of_a_training_preset(built):
    samples = soundfont_preset_samples(MUSESCORE_SOUNDFONT)
    rows = metadata(built, "instrument_real")
    played = {
        split: set().union(*(samples[int(row["recording"].split()[-1])] for row in rows[split])) for split in SPLITS
    }
    assert played["test"] and played["validation"]
    assert not played["train"] & played["test"]
    assert not played["train"] & played["validation"]


@pytest.mark.parametrize("task", sorted(RECORDED_TASKS))
def test_every_split_has_every_class_equally_often(task, built):
    names = RECORDED_TASKS[task].label_names
    for split, split_rows in metadata(built, task).items():
        counts = Counter(row["label"] for row in split_rows)
        assert set(counts) == set(names), split
        assert len(set(counts.values())) == 1, (split, counts)


@pytest.mark.parametrize("task", sorted(RECORDED_TASKS))
def test_sizes_and_clip_format(task, built):
    rows = metadata(built, task)
    assert len(rows["test"]) >= 300
    assert len(rows["validation"]) >= 100
    assert len(rows["train"]) > len(rows["test"])
    for split in SPLITS:
        for row in rows[split][:: max(1, len(rows[split]) // 40)]:
            info = soundfile.info(built / task / split / row["file_name"])
            assert (info.samplerate, info.channels) == (16000, 1)
            assert 16000 <= info.frames <= 64000
            assert info.frames == row["num_samples"]


def test_two_builds_with_the_same_seed_write_identical_files(built, tmp_path):
    again = build_recordings_corpus(tmp_path, seed=0)
    assert file_digests(again) == file_digests(built)


def test_pool_holds_the_train_clips_and_no_validation_or_test_recording(built, cache_root):
    pool = recorded_pretraining_pool(cache_root, seed=0)
    files = load_audio_records(str(pool))  # what examples/pretrain.py --dataset <pool> reads
    assert len(files) > sum(len(read_recorded_metadata(built, task, "train")) for task in RECORDED_TASKS)
    pool_digests = set(file_digests(pool).values())
    for task in RECORDED_TASKS:
        rows = metadata(built, task)
        train = {
            hashlib.sha256((built / task / "train" / r["file_name"]).read_bytes()).hexdigest() for r in rows["train"]
        }
        assert train <= pool_digests
        held_out_recordings = {row["recording"] for split in ("validation", "test") for row in rows[split]}
        for split in ("validation", "test"):
            for row in rows[split]:
                digest = hashlib.sha256((built / task / split / row["file_name"]).read_bytes()).hexdigest()
                assert digest not in pool_digests
        unlabelled = read_recorded_metadata(pool, "samples", "train")
        assert not held_out_recordings & {row["recording"] for row in unlabelled}


@pytest.mark.parametrize("task", sorted(RECORDED_TASKS))
def test_registered_task_loads_like_a_hub_dataset(task, built, cache_root, monkeypatch):
    monkeypatch.setenv("AASP_CORPUS_DIR", str(cache_root))
    loaded = resolve_task(task)
    assert loaded.num_labels == RECORDED_TASKS[task].num_classes
    for split in SPLITS:
        assert loaded.dataset[split].num_rows == len(read_recorded_metadata(built, task, split))
    first = loaded.dataset["test"][0]
    assert first["audio"]["sampling_rate"] == 16000
    assert loaded.revision == built.name == "recordings-r1-0"  # results name the build they read, not another corpus


def test_a_fixed_size_task_refuses_clips_per_class(built, cache_root):
    with pytest.raises(ValueError, match="fixed size"):
        load_recorded_task("sample_family", cache_root, clips_per_class=10)


def test_missing_package_names_it_and_the_apt_command(tmp_path, monkeypatch):
    monkeypatch.setattr(recordings, "SONIC_PI_SAMPLES_DIR", tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match=r"sonic-pi-samples.*apt-get install -y sonic-pi-samples"):
        build_recordings_corpus(tmp_path / "cache", seed=0)
    assert not (tmp_path / "cache").exists()
